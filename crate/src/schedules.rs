//! Real code under a schedule explorer: [shuttle](https://docs.rs/shuttle).
//!
//! Code written against `shuttle::sync` and `shuttle::thread` (drop-in
//! replacements for `std::sync` and `std::thread`) runs on shuttle's own
//! scheduler, which picks the interleaving at every lock, spawn and join.
//! [`search`] runs such a test under many random schedules and, when one
//! fails, hands back the failing schedule as a string; [`replay`] runs the
//! test again under exactly that schedule.
//!
//! Shuttle reports a failure on stderr (and through a panic), which would
//! land in a notebook as an alarming red block. Here the report is captured
//! instead: the schedule is read from the file shuttle writes, and the
//! failure comes back as data.

use crate::exercise;
use serde::Serialize;
use shuttle::scheduler::{RandomScheduler, ReplayScheduler};
use shuttle::{Config, FailurePersistence, Runner};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A failing schedule found by [`search`].
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// Which run failed, counting from 1.
    pub run: usize,
    /// The schedule, as shuttle encodes it: give it to [`replay`].
    pub schedule: String,
    /// What failed: the panic message of the test (an `assert!`, say).
    pub failure: String,
}

/// The outcome of [`search`]: how many schedules were run, and the first
/// failing one, if any.
#[derive(Debug, Clone, Serialize)]
pub struct Search {
    pub runs: usize,
    pub found: Option<Found>,
}

/// Shuttle runs swap the process's panic hook and stderr for their
/// duration: two at once (tests, or a judge on two threads) would restore
/// each other's, so they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `test` under up to `runs` random schedules (from `seed`, so the
/// search itself is repeatable) and stops at the first that fails.
pub fn search(runs: usize, seed: u64, test: impl Fn() + Send + Sync + 'static) -> Search {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = {
        let count = count.clone();
        move || {
            count.fetch_add(1, Ordering::SeqCst);
            test()
        }
    };
    // A directory of its own per search: searches running at the same time
    // (tests, or a judge's two searches on two threads) must not delete each
    // other's schedule file.
    static SEARCHES: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "concurrency-lab-shuttle-{}-{}",
        std::process::id(),
        SEARCHES.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = std::fs::create_dir_all(&dir).map_err(|e| e.to_string()).and_then(|()| {
        let mut config = Config::new();
        config.failure_persistence = FailurePersistence::File(Some(dir.clone()));
        let runner = Runner::new(RandomScheduler::new_from_seed(seed, runs), config);
        quiet(|| keeping_our_panic_hook(|| exercise::quietly(|| runner.run(counted))))
    });
    let runs_done = count.load(Ordering::SeqCst);
    let found = match outcome {
        Ok(Ok(_)) => None,
        Ok(Err(failure)) => {
            let schedule = std::fs::read_to_string(dir.join("schedule000.txt")).unwrap_or_default().trim().to_string();
            Some(Found { run: runs_done, schedule, failure })
        }
        Err(why) => Some(Found { run: runs_done, schedule: String::new(), failure: format!("could not run shuttle: {why}") }),
    };
    let _ = std::fs::remove_dir_all(&dir);
    Search { runs: runs_done, found }
}

/// Runs `test` once under `schedule` (from [`Found::schedule`]):
/// `Err(failure)` if it fails again, as a deterministic replay should.
pub fn replay(schedule: &str, test: impl Fn() + Send + Sync + 'static) -> Result<(), String> {
    if schedule.is_empty() {
        return Err("no schedule to replay".to_string());
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let schedule = schedule.to_string();
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::None;
    quiet(|| {
        keeping_our_panic_hook(|| {
            exercise::quietly(move || {
                let runner = Runner::new(ReplayScheduler::new_from_encoded(&schedule), config);
                runner.run(test);
            })
        })
    })
    .and_then(|inner| inner)
}

/// Runs `f` (a shuttle run) and puts the process's panic hook back as it
/// was. On its first run shuttle installs a panic hook of its own, for good,
/// that reports every later panic as a failed shuttle task ("Task failed,
/// serializing schedule" on stderr), also the panics of exercise checks in
/// later cells. Shuttle does not need it (a failure is persisted where it
/// is detected), so here it wraps a hook that does nothing and is removed
/// again afterwards.
fn keeping_our_panic_hook<T>(f: impl FnOnce() -> T) -> T {
    let _ = exercise::quietly(|| ()); // the crate's own hook is in place first
    let ours = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    drop(std::panic::take_hook()); // shuttle's, if it installed one
    std::panic::set_hook(ours);
    out
}

/// Runs `f` with this process's stderr sent to a temporary file (deleted
/// unread), so that shuttle's own report ("test panicked in task ...") does
/// not reach the notebook; the caller reports the failure as data instead.
/// What other threads print meanwhile goes there too: keep `f` short.
fn quiet<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let file = tempfile()?;
    // SAFETY: dup only duplicates a descriptor this process owns (2, stderr).
    let saved = unsafe { libc::dup(2) };
    if saved < 0 {
        return Err("could not duplicate stderr".into());
    }
    // SAFETY: both descriptors are open: `file` lives until the end of this
    // function, and 2 is stderr; dup2 makes 2 point at the file.
    unsafe { libc::dup2(file.as_raw_fd(), 2) };
    let out = f();
    // SAFETY: `saved` is the duplicate made above and still open; dup2 puts
    // stderr back, then the duplicate is closed exactly once.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    Ok(out)
}

fn tempfile() -> Result<std::fs::File, String> {
    let path = std::env::temp_dir().join(format!("concurrency-lab-stderr-{}-{:?}", std::process::id(), std::thread::current().id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&path); // the open file lives on until dropped
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuttle::sync::{Arc, Mutex};
    use shuttle::thread;

    /// Two withdrawals whose check and act are locked separately.
    fn racy_withdrawals() {
        let account = Arc::new(Mutex::new(100i64));
        let handles: Vec<_> = [70, 60]
            .map(|amount| {
                let account = account.clone();
                thread::spawn(move || {
                    let enough = *account.lock().unwrap() >= amount;
                    if enough {
                        *account.lock().unwrap() -= amount;
                    }
                })
            })
            .into_iter()
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(*account.lock().unwrap() >= 0, "overdrawn");
    }

    fn safe_withdrawals() {
        let account = Arc::new(Mutex::new(100i64));
        let handles: Vec<_> = [70, 60]
            .map(|amount| {
                let account = account.clone();
                thread::spawn(move || {
                    let mut balance = account.lock().unwrap();
                    if *balance >= amount {
                        *balance -= amount;
                    }
                })
            })
            .into_iter()
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(*account.lock().unwrap() >= 0, "overdrawn");
    }

    #[test]
    fn finds_the_race_and_replays_it() {
        let s = search(1000, 7, racy_withdrawals);
        let found = s.found.expect("shuttle finds the check-then-act race");
        assert!(found.failure.contains("overdrawn"), "{found:?}");
        assert!(!found.schedule.is_empty());
        assert_eq!(found.run, s.runs);
        let again = replay(&found.schedule, racy_withdrawals);
        assert!(again.unwrap_err().contains("overdrawn"));
    }

    #[test]
    fn a_correct_version_survives_every_run() {
        let s = search(300, 7, safe_withdrawals);
        assert!(s.found.is_none(), "{:?}", s.found);
        assert_eq!(s.runs, 300);
    }
}
