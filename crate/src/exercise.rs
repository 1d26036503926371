//! Runs a learner's exercise code and says, in plain words, whether it is
//! right. Never a panic trace, never a hang:
//!
//! - the code runs on its own thread with a time limit, so an endless loop or
//!   a deadlock is reported instead of freezing the notebook;
//! - a panic is caught and turned into a sentence; `todo!()` (how every
//!   starter cell ships) reads as "not solved yet".
//!
//! Each chapter module has, per exercise, a `judge_*` function returning a
//! [`Verdict`] (the tests use it) and a `check_*` function that prints it
//! (the notebooks use it). Both take the learner's function as a plain `fn`
//! pointer, not a generic `F: Fn`: a generic judge would be compiled anew
//! inside every check cell (about 0.5 s more per check), a `fn` pointer
//! version is compiled once, in this crate.

use std::any::Any;
use std::fmt;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

/// How long a check waits for the learner's code unless it says otherwise.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(20);

/// The outcome of checking one exercise.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Correct; the text says what was checked.
    Passed(String),
    /// The starter's `todo!()` is still there.
    NotSolved,
    /// Wrong; the text says what is wrong.
    Failed(String),
    /// The code panicked; the text is the panic message.
    Panicked(String),
    /// The code did not finish within the limit.
    TimedOut(Duration),
}

impl Verdict {
    /// True only for [`Verdict::Passed`].
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed(_))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Passed(what) => write!(f, "✅ PASSED: {what}"),
            Verdict::NotSolved => write!(
                f,
                "⬜ NOT SOLVED YET: the starter cell still has todo!(). Write your code there, run that cell, then run this check again."
            ),
            Verdict::Failed(why) => write!(f, "❌ FAILED: {why}"),
            Verdict::Panicked(msg) => write!(f, "❌ FAILED: your code panicked: {msg}"),
            Verdict::TimedOut(limit) => write!(
                f,
                "❌ FAILED: your code did not finish within {} s. Is there an endless loop, or a thread waiting for something that never comes (a deadlock)? \
                 Its thread may still be running in the background; restart the kernel if the machine feels slow.",
                limit.as_secs_f64()
            ),
        }
    }
}

/// Serialises silenced sections, so two checks running at once cannot
/// restore each other's panic hook in the wrong order.
static HOOK: Mutex<()> = Mutex::new(());

/// Runs `f` with the default panic message switched off, so a caught panic
/// prints no trace. The previous hook is put back afterwards.
fn with_silent_panics<T>(f: impl FnOnce() -> T) -> T {
    let _one_at_a_time = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(previous);
    out
}

/// The text of a panic payload (`panic!("...")` gives `&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

/// Runs `test` on its own thread with a time limit and turns what happens
/// into a [`Verdict`]. `test` returns `Ok(what was checked)` or
/// `Err(what is wrong)`.
pub fn run<F>(limit: Duration, test: F) -> Verdict
where
    F: FnOnce() -> Result<String, String> + Send + 'static,
{
    with_silent_panics(|| {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new().name("exercise-check".into()).spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(test));
            let _ = tx.send(outcome);
        });
        if let Err(e) = spawned {
            return Verdict::Failed(format!("could not start a thread to run your code: {e}"));
        }
        match rx.recv_timeout(limit) {
            Ok(Ok(Ok(what))) => Verdict::Passed(what),
            Ok(Ok(Err(why))) => Verdict::Failed(why),
            Ok(Err(payload)) => {
                let msg = panic_message(payload.as_ref());
                if msg.starts_with("not yet implemented") {
                    Verdict::NotSolved
                } else {
                    Verdict::Panicked(msg)
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Verdict::TimedOut(limit),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Verdict::Failed("the check stopped without an answer".to_string())
            }
        }
    })
}

/// Prints a verdict under the exercise's name; what `check_*` functions end with.
pub fn report(exercise: &str, verdict: &Verdict) {
    println!("[{exercise}] {verdict}");
}

/// Calls `f` and catches a panic in it (silently), giving `Err(message)`.
/// Checkers use it to call learner code many times inside one test.
/// A `todo!()` is passed on rather than caught, so the whole check still
/// reads as "not solved yet".
pub fn call<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let msg = panic_message(payload.as_ref());
        if msg.starts_with("not yet implemented") {
            std::panic::resume_unwind(payload);
        }
        msg
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todo_reads_as_not_solved() {
        let v = run(DEFAULT_LIMIT, || -> Result<String, String> { todo!("your code here") });
        assert_eq!(v, Verdict::NotSolved);
        assert!(v.to_string().contains("NOT SOLVED YET"));
    }

    #[test]
    fn pass_fail_and_panic_are_told_apart() {
        assert!(run(DEFAULT_LIMIT, || Ok("fine".into())).passed());
        assert_eq!(run(DEFAULT_LIMIT, || Err("wrong".into())), Verdict::Failed("wrong".into()));
        let v = run(DEFAULT_LIMIT, || -> Result<String, String> { panic!("boom {}", 7) });
        assert_eq!(v, Verdict::Panicked("boom 7".into()));
    }

    #[test]
    fn a_hang_is_reported_not_waited_for() {
        let v = run(Duration::from_millis(100), || loop {
            std::thread::sleep(Duration::from_millis(10));
        });
        assert_eq!(v, Verdict::TimedOut(Duration::from_millis(100)));
        assert!(v.to_string().contains("did not finish"));
    }
}
