//! Runs a learner's code and says, in plain words, whether it is right.
//! Never a panic trace, never a hang. This module is the only place that
//! runs learner code; every judge goes through it:
//!
//! - [`run`] runs a check on its own thread with a time limit, so an endless
//!   loop or a deadlock is reported instead of freezing the notebook;
//! - a panic is caught and turned into a sentence; `todo!()` (how every
//!   starter cell ships) reads as "not solved yet", also when it fires on a
//!   thread the judge started ([`call`], [`joined`]);
//! - [`quietly`] runs code that may panic without printing the panic message;
//! - [`run_async`] (feature `async`) gives a check a runtime of its own, on
//!   its own thread, so it also works after a cell used `.await`;
//! - [`serve`] hands a learner's server a listener on `127.0.0.1:0` and lets
//!   the judge talk to it, every read and write bounded;
//! - [`with_workers`] gives a check real worker processes
//!   ([`crate::process::Worker`]) and kills them if the check runs out of time.
//!
//! Each exercise is declared once, in [`crate::exercises`]; its judge returns
//! a [`Verdict`] and the notebook's `check!` prints it with [`report`].
//! Judges take the learner's function as a plain `fn` pointer, not a generic
//! `F: Fn`: a generic judge would be compiled anew inside every check cell
//! (about 0.5 s more per check), a `fn` pointer version is compiled once, in
//! this crate.

use serde::Serialize;
use std::any::Any;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

/// How long a check waits for the learner's code unless it says otherwise.
/// Generous on purpose: Binder gives one core, and a busy machine can be
/// ten times slower than an idle one. It only stops hangs; no verdict
/// depends on how fast correct code is.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(30);

/// The MIME type of the verdict a check sends beside its text. The notebook
/// tests read this, not the wording, so rewording a message breaks nothing.
pub const VERDICT_MIME: &str = "application/vnd.concurrency-lab.verdict+json";

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

    /// One word for machines: `passed`, `not_solved`, `failed`, `panicked`
    /// or `timed_out`.
    pub fn status(&self) -> &'static str {
        match self {
            Verdict::Passed(_) => "passed",
            Verdict::NotSolved => "not_solved",
            Verdict::Failed(_) => "failed",
            Verdict::Panicked(_) => "panicked",
            Verdict::TimedOut(_) => "timed_out",
        }
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

/// What [`report`] sends as data: the exercise, the verdict's
/// [`status`](Verdict::status) and its text.
#[derive(Debug, Clone, Serialize)]
pub struct Report<'a> {
    pub exercise: &'a str,
    pub status: &'static str,
    pub message: String,
}

/// Prints a verdict under the exercise's name, the way a notebook shows it:
/// a display bundle of the text (what the learner reads) and the verdict as
/// JSON ([`VERDICT_MIME`], what the tests read). A pass is also recorded in
/// the learner's course progress ([`crate::progress`]). The `check!` macro
/// ends with this.
pub fn report(exercise: &str, verdict: &Verdict) {
    let text = format!("[{exercise}] {verdict}");
    let data = Report { exercise, status: verdict.status(), message: verdict.to_string() };
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".to_string());
    // evcxr turns a block between these markers into a display of that MIME
    // type (see EVCXR.md); outside a notebook they are plain lines.
    println!("EVCXR_BEGIN_CONTENT text/plain\n{text}\nEVCXR_END_CONTENT");
    println!("EVCXR_BEGIN_CONTENT {VERDICT_MIME}\n{json}\nEVCXR_END_CONTENT");
    if verdict.passed() {
        if let Err(note) = crate::progress::record(exercise) {
            println!("(your progress could not be saved: {note})");
        }
    }
}

// --- panics ------------------------------------------------------------------

/// How many silenced sections are running now (any thread).
static SILENCED: AtomicUsize = AtomicUsize::new(0);
static HOOK: OnceLock<()> = OnceLock::new();

/// Runs `f` with panic messages switched off, so a caught panic prints no
/// trace. Safe to nest and to run on several threads at once: the panic
/// hook is replaced once by one that stays quiet while any silenced section
/// runs, and otherwise hands over to the hook that was there before. (Putting
/// the old hook back afterwards, as is common, goes wrong when two sections
/// overlap: the later one restores the silent hook for good.)
fn silenced<T>(f: impl FnOnce() -> T) -> T {
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if SILENCED.load(Ordering::SeqCst) == 0 {
                previous(info)
            }
        }));
    });
    struct Section;
    impl Drop for Section {
        fn drop(&mut self) {
            SILENCED.fetch_sub(1, Ordering::SeqCst);
        }
    }
    SILENCED.fetch_add(1, Ordering::SeqCst);
    let _section = Section;
    f()
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

/// True if the panic came from a `todo!()`: the exercise is not written yet.
pub fn is_todo(payload: &(dyn Any + Send)) -> bool {
    panic_message(payload).starts_with("not yet implemented")
}

/// Turns a panic that came out of learner code on another thread (the `Err`
/// of `JoinHandle::join`, or a caught payload) into its message. A `todo!()`
/// is raised again instead, so the whole check reads "not solved yet".
pub fn joined(payload: Box<dyn Any + Send>) -> String {
    if is_todo(payload.as_ref()) {
        std::panic::resume_unwind(payload);
    }
    panic_message(payload.as_ref())
}

/// Calls `f` and catches a panic in it (silently), giving `Err(message)`.
/// Judges use it to call learner code many times inside one check. A
/// `todo!()` is passed on rather than caught (see [`joined`]).
pub fn call<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    silenced(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))).map_err(joined)
}

/// Runs `f`, catching a panic without printing its message (a notebook shows
/// what happened instead): `Err(message)` if it panicked. For demonstrations
/// (chapter 4's poisoned lock); judges use [`call`].
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    silenced(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)))
        .map_err(|payload| panic_message(payload.as_ref()))
}

// --- running a check -----------------------------------------------------------

/// Runs `test` on its own thread with a time limit and turns what happens
/// into a [`Verdict`]. `test` returns `Ok(what was checked)` or
/// `Err(what is wrong)`.
pub fn run<F>(limit: Duration, test: F) -> Verdict
where
    F: FnOnce() -> Result<String, String> + Send + 'static,
{
    silenced(|| {
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
            Ok(Err(payload)) if is_todo(payload.as_ref()) => Verdict::NotSolved,
            Ok(Err(payload)) => Verdict::Panicked(panic_message(payload.as_ref())),
            Err(mpsc::RecvTimeoutError::Timeout) => Verdict::TimedOut(limit),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Verdict::Failed("the check stopped without an answer".to_string())
            }
        }
    })
}

/// Like [`run`], for a check written as `async` code (chapters 9 to 11):
/// `test` builds the future, which runs on a fresh tokio runtime on the
/// check's own thread. The calling thread never owns a runtime, so this also
/// works in a notebook after a cell used `.await` (a runtime inside a
/// runtime panics). The time limit covers everything, also a future that
/// never wakes.
#[cfg(feature = "async")]
pub fn run_async<F, Fut>(limit: Duration, test: F) -> Verdict
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    run(limit, move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("could not start a tokio runtime for the check: {e}"))?;
        let outcome = runtime.block_on(test());
        // Do not wait for tasks the learner left running: they may never end.
        runtime.shutdown_background();
        outcome
    })
}

/// A check that drives worker processes (chapters 6, 7, 8 and 15): starts
/// `n` workers and hands them to `test`, which runs under [`run`]'s time
/// limit. Every call to a worker has its own bound too
/// ([`Worker::call`](crate::process::Worker::call)). If the limit passes, the
/// workers still alive are killed, so learner code blocked on a worker is
/// freed and no process outlives the check; otherwise they die when `test`
/// drops them.
pub fn with_workers<F>(limit: Duration, n: usize, test: F) -> Verdict
where
    F: FnOnce(Vec<crate::process::Worker>) -> Result<String, String> + Send + 'static,
{
    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        match crate::process::Worker::start() {
            Ok(w) => workers.push(w),
            Err(e) => return Verdict::Failed(format!("could not start a worker process for the check: {e}")),
        }
    }
    let pids: Vec<u32> = workers.iter().map(|w| w.pid()).collect();
    let verdict = run(limit, move || test(workers));
    if matches!(verdict, Verdict::TimedOut(_)) {
        for pid in pids {
            kill_if_our_child(pid);
        }
    }
    verdict
}

/// Sends SIGKILL to `pid` only if it is still a child of this process: a
/// worker already dropped was reaped, and its pid may belong to someone
/// else by now.
fn kill_if_our_child(pid: u32) {
    if crate::process::parent_of(pid) == Some(std::process::id()) {
        // SAFETY: kill(2) takes two integers and touches no memory of ours;
        // the pid is our own unreaped child, so it cannot have been reused.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
}

/// A connection from a judge to a learner's server, every wait bounded.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to `addr`, with `limit` on the connect and on every later
    /// read and write.
    pub fn connect(addr: std::net::SocketAddr, limit: Duration) -> Result<Client, String> {
        let stream = TcpStream::connect_timeout(&addr, limit)
            .map_err(|e| format!("could not connect to your server at {addr}: {e}"))?;
        stream.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
        stream.set_write_timeout(Some(limit)).map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        Ok(Client { reader: BufReader::new(stream), writer })
    }

    /// Sends `line` (a newline is added).
    pub fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.writer, "{line}").map_err(|e| format!("sending {line:?} to your server failed: {e}"))
    }

    /// The next line from the server, without its newline; an error that
    /// says so when the server closed the connection or stayed silent.
    pub fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err("your server closed the connection instead of answering".into()),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Err("your server did not answer in time".into())
            }
            Err(e) => Err(format!("reading from your server failed: {e}")),
        }
    }

    /// Sends `line` and reads one line back.
    pub fn ask(&mut self, line: &str) -> Result<String, String> {
        self.send(line)?;
        self.line()
    }
}

/// How long [`serve`] waits for a failed server's thread to say why.
const SERVER_REPORT: Duration = Duration::from_secs(2);

/// A check against a learner's server (chapters 11 and 18): binds a listener
/// on `127.0.0.1:0`, hands it to `server` on a thread of its own, and runs
/// `talk` with the address, all under [`run`]'s time limit. Every read and
/// write of a [`Client`] made with [`Client::connect`] has its own bound, so
/// a server that never answers is reported, not waited for. The listener's
/// thread is left behind if the server never returns; it serves nobody once
/// the check is over.
pub fn serve<S, T>(limit: Duration, server: S, talk: T) -> Verdict
where
    S: FnOnce(TcpListener) + Send + 'static,
    T: FnOnce(std::net::SocketAddr) -> Result<String, String> + Send + 'static,
{
    run(limit, move || {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("could not bind 127.0.0.1:0: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("learner-server".into())
            .spawn(move || {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server(listener)));
                let _ = tx.send(out);
            })
            .map_err(|e| format!("could not start your server's thread: {e}"))?;
        let result = talk(addr);
        // A server that panicked explains a failed conversation better than
        // the conversation does, and a todo!() means "not solved yet". Its
        // thread reports a moment after the panic closed the listener (which
        // is what made the conversation fail), so wait for it a little.
        if result.is_err() {
            if let Ok(Err(payload)) = rx.recv_timeout(SERVER_REPORT) {
                return Err(format!("your server panicked: {}", joined(payload)));
            }
        }
        result
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
    fn todo_on_a_judge_thread_still_reads_as_not_solved() {
        let v = run(DEFAULT_LIMIT, || {
            let h = std::thread::spawn(|| -> u32 { todo!() });
            let n = h.join().map_err(joined)?;
            Ok(format!("{n}"))
        });
        assert_eq!(v, Verdict::NotSolved);
        let v = run(DEFAULT_LIMIT, || call(|| -> u32 { todo!() }).map(|n| n.to_string()));
        assert_eq!(v, Verdict::NotSolved);
    }

    #[test]
    fn pass_fail_and_panic_are_told_apart() {
        assert!(run(DEFAULT_LIMIT, || Ok("fine".into())).passed());
        assert_eq!(run(DEFAULT_LIMIT, || Err("wrong".into())), Verdict::Failed("wrong".into()));
        let v = run(DEFAULT_LIMIT, || -> Result<String, String> { panic!("boom {}", 7) });
        assert_eq!(v, Verdict::Panicked("boom 7".into()));
        assert_eq!(v.status(), "panicked");
    }

    #[test]
    fn a_hang_is_reported_not_waited_for() {
        // A check that waits for something that never comes.
        let (_keep, never) = mpsc::channel::<()>();
        let v = run(Duration::from_millis(100), move || {
            let _ = never.recv();
            Ok("unreachable".into())
        });
        assert_eq!(v, Verdict::TimedOut(Duration::from_millis(100)));
        assert!(v.to_string().contains("did not finish"));
    }

    #[test]
    fn nested_and_overlapping_silences_keep_the_hook() {
        // Sections on several threads at once, nested: each one's panic is
        // caught, and none leaves the process silenced for good.
        let handles: Vec<_> = (0..4)
            .map(|i| std::thread::spawn(move || quietly(|| call(|| -> () { panic!("inner {i}") }).unwrap())))
            .collect();
        for h in handles {
            let outer = h.join().expect("quietly catches");
            assert!(outer.unwrap_err().contains("inner"));
        }
    }

    #[test]
    fn verdicts_carry_their_status_as_data() {
        let data = Report { exercise: "x", status: Verdict::NotSolved.status(), message: Verdict::NotSolved.to_string() };
        let json = serde_json::to_value(&data).unwrap();
        assert_eq!(json["status"], "not_solved");
        assert_eq!(json["exercise"], "x");
    }

    /// A line-echo server, as a learner might write it.
    fn echo(listener: TcpListener) {
        for stream in listener.incoming().flatten() {
            let mut w = stream.try_clone().unwrap();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if writeln!(w, "{line}").is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn serve_talks_to_a_learner_server() {
        let v = serve(DEFAULT_LIMIT, echo, |addr| {
            let mut c = Client::connect(addr, Duration::from_secs(10))?;
            let back = c.ask("hello")?;
            if back == "hello" {
                Ok("echoed".into())
            } else {
                Err(format!("got {back:?}"))
            }
        });
        assert!(v.passed(), "{v}");
    }

    #[test]
    fn a_silent_or_closing_server_is_reported() {
        // Accepts and then never answers: the client's bound reports it.
        let silent = |l: TcpListener| {
            let kept: Vec<_> = l.incoming().take(1).collect();
            let (_keep, never) = mpsc::channel::<()>();
            let _ = never.recv();
            drop(kept);
        };
        let v = serve(DEFAULT_LIMIT, silent, |addr| Client::connect(addr, Duration::from_millis(200))?.ask("hi"));
        assert_eq!(v, Verdict::Failed("your server did not answer in time".into()));
        // Accepts and closes at once.
        let closing = |l: TcpListener| {
            for s in l.incoming().flatten() {
                drop(s);
            }
        };
        let v = serve(DEFAULT_LIMIT, closing, |addr| Client::connect(addr, Duration::from_secs(10))?.ask("hi"));
        assert!(matches!(&v, Verdict::Failed(m) if m.contains("closed the connection") || m.contains("failed")), "{v}");
        // A server still todo!() is "not solved yet": its panic drops the
        // listener, so the conversation fails, and the panic explains why.
        let v = serve(DEFAULT_LIMIT, |_l: TcpListener| todo!(), |addr| Client::connect(addr, Duration::from_secs(10))?.ask("hi"));
        assert_eq!(v, Verdict::NotSolved);
    }

    #[test]
    fn worker_checks_are_bounded_and_leave_no_worker() {
        use serde_json::json;
        let v = with_workers(DEFAULT_LIMIT, 2, |mut ws| {
            let a = ws[0].call("is_prime", json!({"n": 101}), Duration::from_secs(20))?;
            let b = ws[1].call("is_prime", json!({"n": 323}), Duration::from_secs(20))?;
            Ok(format!("{a} {b}"))
        });
        assert_eq!(v, Verdict::Passed("true false".into()));
        // Learner code that waits on a worker for ever: the check times out
        // and the worker is killed, which frees the waiting thread.
        let (tx, rx) = mpsc::channel();
        let v = with_workers(Duration::from_millis(300), 1, move |mut ws| {
            let _ = tx.send(ws[0].pid());
            let _ = ws[0].call("sleep", json!({"ms": 600_000}), Duration::from_secs(3600));
            Ok("unreachable".into())
        });
        assert_eq!(v, Verdict::TimedOut(Duration::from_millis(300)));
        let pid = rx.recv().unwrap();
        // The killed worker is reaped by its Worker's drop on the check's
        // thread; wait for that, boundedly (a hang guard, not a verdict).
        let gone = (0..600).any(|_| {
            let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
            if alive {
                std::thread::sleep(Duration::from_millis(50));
            }
            !alive
        });
        assert!(gone, "worker {pid} outlived its check");
    }

    #[cfg(feature = "async")]
    #[test]
    fn async_checks_run_on_their_own_runtime() {
        let v = run_async(DEFAULT_LIMIT, || async {
            let h = tokio::spawn(async { 40 + 2 });
            let n = h.await.map_err(|e| e.to_string())?;
            Ok(format!("{n}"))
        });
        assert_eq!(v, Verdict::Passed("42".into()));
        let v = run_async(Duration::from_millis(200), || async {
            std::future::pending::<()>().await;
            Ok(String::new())
        });
        assert_eq!(v, Verdict::TimedOut(Duration::from_millis(200)));
        let v = run_async(DEFAULT_LIMIT, || async { todo!() });
        assert_eq!(v, Verdict::NotSolved);
    }
}
