//! Testing and debugging concurrent code (chapter 19): the book's Fibonacci
//! test suite and a small test runner that runs a suite on one or many
//! threads, a `tracing` log captured into a buffer (so a cell can print
//! it), ThreadSanitizer run on a small program when a nightly compiler is
//! there, and the judge of the "shuttle test" exercise.

use crate::exercise::{self, Verdict};
use num_bigint::BigUint;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

// --- the book's test suite ---------------------------------------------------------

/// The last ten digits of fib(500,000), the book's check.
pub const FIB_500K_MOD_1E10: u64 = 9_780_453_125;

/// fib(n) mod `m` by fast doubling: fib(2k) = fib(k) (2 fib(k+1) − fib(k)),
/// fib(2k+1) = fib(k)² + fib(k+1)². About 2 log2(n) steps, so it is
/// instant; the test suite uses [`fib`] instead, which does the work.
pub fn fib_mod(n: u64, m: u64) -> u64 {
    let m = m as u128;
    // (fib(k), fib(k+1)) for k = the bits of n read so far
    let (mut a, mut b) = (0u128, 1u128 % m);
    for bit in (0..64).rev().map(|i| (n >> i) & 1) {
        let c = a * ((2 * b + m - a) % m) % m; // fib(2k)
        let d = (a * a + b * b) % m; // fib(2k+1)
        (a, b) = if bit == 0 { (c, d) } else { (d, (c + d) % m) };
    }
    a as u64
}

/// fib(n) in full, by n big-integer additions, as the book's tests compute
/// it: fib(500,000) has 104,494 digits and takes a noticeable time.
pub fn fib(n: u64) -> BigUint {
    let (mut a, mut b) = (BigUint::from(0u32), BigUint::from(1u32));
    for _ in 0..n {
        let next = &a + &b;
        a = std::mem::replace(&mut b, next);
    }
    a
}

/// The last ten digits of `x`.
pub fn last_ten_digits(x: &BigUint) -> u64 {
    let r = x % BigUint::from(10_000_000_000u64);
    r.iter_u64_digits().next().unwrap_or(0)
}

// --- a test runner ------------------------------------------------------------------

/// A test: a name and a function that panics when the test fails.
pub type Test = (&'static str, fn());

/// What one test did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    /// `None` when it passed; the panic message when it failed.
    pub failure: Option<String>,
    pub seconds: f64,
    /// The thread that ran it (`runner-0`, `runner-1`, ...).
    pub thread: String,
}

/// Runs `tests` on `threads` threads (named `runner-0`, ...), each taking
/// the next test not yet taken, as `cargo test --test-threads=N` does. A
/// test that panics is reported as failed and the others still run. The
/// outcomes come back in the suite's order, with the wall time of the whole
/// run.
pub fn run_tests(tests: &[Test], threads: usize) -> (Vec<Outcome>, f64) {
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; tests.len()]);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads.max(1) {
            let (next, outcomes) = (&next, &outcomes);
            let _ = std::thread::Builder::new().name(format!("runner-{t}")).spawn_scoped(s, move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(name, test)) = tests.get(i) else { break };
                let began = Instant::now();
                let failure = exercise::quietly(test).err();
                let outcome = Outcome {
                    name: name.to_string(),
                    failure,
                    seconds: began.elapsed().as_secs_f64(),
                    thread: format!("runner-{t}"),
                };
                outcomes.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(outcome);
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    (outcomes.into_iter().flatten().collect(), wall)
}

/// One line per test, `ok` or `FAILED` with the reason, like cargo test.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut lines: Vec<String> = outcomes
        .iter()
        .map(|o| match &o.failure {
            None => format!("test {} ... ok ({:.2} s on {})", o.name, o.seconds, o.thread),
            Some(why) => format!("test {} ... FAILED ({:.2} s on {}): {why}", o.name, o.seconds, o.thread),
        })
        .collect();
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    lines.push(format!("{} passed; {failed} failed", outcomes.len() - failed));
    lines.join("\n")
}

// --- a log captured into a buffer -----------------------------------------------------

/// A `tracing` log whose lines go into a buffer instead of the terminal:
/// each line names the thread that wrote it and the spans it was in
/// (`runner-1 transfer{from=0 to=1}: ...`). A subscriber is installed per
/// thread: wrap the code of each thread with [`Capture::traced`] (or call
/// [`Capture::scope`] on the current one).
#[derive(Clone)]
pub struct Capture {
    buffer: Arc<Mutex<Vec<u8>>>,
    dispatch: tracing::Dispatch,
    origin: Instant,
}

struct Sink(Arc<Mutex<Vec<u8>>>);

/// Log times as seconds since the log was made, to the tenth of a millisecond.
struct Since(Instant);

impl tracing_subscriber::fmt::time::FormatTime for Since {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{:8.4} s", self.0.elapsed().as_secs_f64())
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Default for Capture {
    fn default() -> Self {
        Capture::new()
    }
}

impl Capture {
    /// An empty log: every level from TRACE up, thread names on, no colours.
    pub fn new() -> Capture {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Sink(buffer.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_thread_names(true)
            .with_target(false)
            .with_timer(Since(Instant::now()))
            .with_max_level(tracing::Level::TRACE)
            .finish();
        Capture { buffer, dispatch: tracing::Dispatch::new(subscriber), origin: Instant::now() }
    }

    /// Runs `f` on this thread with this log as its subscriber.
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// `f`, wrapped so that it logs here on whatever thread runs it: give
    /// the result to `thread::spawn` (or `Builder::spawn`).
    pub fn traced<T>(&self, f: impl FnOnce() -> T + Send) -> impl FnOnce() -> T + Send {
        let dispatch = self.dispatch.clone();
        move || tracing::dispatcher::with_default(&dispatch, f)
    }

    /// The log so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Seconds since the log was made.
    pub fn seconds(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }
}

// --- ThreadSanitizer -------------------------------------------------------------------

/// The command that builds a program with ThreadSanitizer (a nightly
/// compiler flag). `-Cunsafe-allow-abi-mismatch=sanitizer` accepts a
/// standard library that was not itself built with the sanitizer; the full
/// recipe rebuilds it (`cargo +nightly run -Zbuild-std --target ...`).
pub const TSAN_COMMAND: &str = "rustc +nightly -Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer -O main.rs";

/// What ThreadSanitizer said about a run.
#[derive(Debug, Clone, Serialize)]
pub struct Sanitized {
    /// The number of `WARNING: ThreadSanitizer: ...` reports.
    pub warnings: usize,
    /// The report's key lines: the warning, the two accesses, the location, the summary.
    pub key_lines: Vec<String>,
    /// What the program printed on stdout.
    pub stdout: String,
}

/// Builds `program` (a whole file with `fn main`) with ThreadSanitizer
/// using `rustup`'s nightly compiler and runs it. `Err` says why it could
/// not (no nightly compiler here, say): then nothing was run.
pub fn thread_sanitizer(program: &str) -> Result<Sanitized, String> {
    use std::process::Command;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("lab-tsan-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("could not make {}: {e}", dir.display()))?;
    let outcome = (|| {
        std::fs::write(dir.join("main.rs"), program).map_err(|e| format!("could not write the program: {e}"))?;
        let built = Command::new("rustc")
            .current_dir(&dir)
            .env("RUSTUP_AUTO_INSTALL", "0") // never a download from inside a cell
            .args(["+nightly", "-Zsanitizer=thread", "-Cunsafe-allow-abi-mismatch=sanitizer", "-O", "--edition", "2021", "main.rs", "-o", "main"])
            .output()
            .map_err(|e| format!("could not run rustc: {e}"))?;
        if !built.status.success() {
            let said = String::from_utf8_lossy(&built.stderr);
            let first = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            return Err(format!("no ThreadSanitizer build here (a nightly compiler is needed): rustc said: {first}"));
        }
        let ran = Command::new(dir.join("main"))
            .env("TSAN_OPTIONS", "halt_on_error=0 exitcode=0")
            .output()
            .map_err(|e| format!("could not run the sanitized program: {e}"))?;
        let report = String::from_utf8_lossy(&ran.stderr);
        let keep = ["WARNING: ThreadSanitizer", "  Write of", "  Read of", "  Previous write", "  Previous read", "  Location is", "SUMMARY:"];
        let key_lines: Vec<String> = report
            .lines()
            .filter(|l| keep.iter().any(|k| l.starts_with(k)))
            .map(|l| l.split(" (BuildId").next().unwrap_or(l).to_string())
            .collect();
        Ok(Sanitized {
            warnings: report.matches("WARNING: ThreadSanitizer").count(),
            key_lines,
            stdout: String::from_utf8_lossy(&ran.stdout).into_owned(),
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// The version of Miri, if `cargo +nightly miri` is installed here;
/// otherwise why not. Runs nothing else.
pub fn miri_version() -> Result<String, String> {
    let out = std::process::Command::new("cargo")
        .env("RUSTUP_AUTO_INSTALL", "0")
        .args(["+nightly", "miri", "--version"])
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let said = String::from_utf8_lossy(&out.stderr);
        Err(said.lines().find(|l| !l.trim().is_empty()).unwrap_or("cargo miri is not installed").trim().to_string())
    }
}

// --- exercise: a shuttle test ------------------------------------------------------------

/// A roll of numbered tickets: each `take` must hand out a number that no
/// other `take` got, 0, 1, 2, ... in some order.
pub trait Tickets: Send + Sync {
    fn take(&self) -> u64;
}

/// The buggy roll of the exercise: it reads the next number under the
/// lock, lets the lock go, and takes it again to write the number back plus
/// one. Two takers that both read before either writes get the same ticket.
pub struct LosingRoll {
    next: shuttle::sync::Mutex<u64>,
}

impl LosingRoll {
    pub fn new() -> LosingRoll {
        LosingRoll { next: shuttle::sync::Mutex::new(0) }
    }
}

impl Default for LosingRoll {
    fn default() -> Self {
        LosingRoll::new()
    }
}

impl Tickets for LosingRoll {
    fn take(&self) -> u64 {
        let mine = *self.next.lock().unwrap_or_else(|e| e.into_inner());
        *self.next.lock().unwrap_or_else(|e| e.into_inner()) = mine + 1; // the lock was let go in between
        mine
    }
}

/// The fixed roll: read and write under one hold of the lock.
pub struct Roll {
    next: shuttle::sync::Mutex<u64>,
}

impl Roll {
    pub fn new() -> Roll {
        Roll { next: shuttle::sync::Mutex::new(0) }
    }
}

impl Default for Roll {
    fn default() -> Self {
        Roll::new()
    }
}

impl Tickets for Roll {
    fn take(&self) -> u64 {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let mine = *next;
        *next += 1;
        mine
    }
}

/// Counts the takes of a roll, to tell a test that never takes a ticket.
struct Counted<T> {
    roll: T,
    takes: Arc<AtomicUsize>,
}

impl<T: Tickets> Tickets for Counted<T> {
    fn take(&self) -> u64 {
        self.takes.fetch_add(1, Ordering::SeqCst);
        self.roll.take()
    }
}

/// How many schedules the judge tries on each roll.
pub const SCHEDULES: usize = 1000;

/// Exercise "shuttle test": judges `tickets_test(roll)`, a test body that
/// shuttle runs (threads from `shuttle::thread`) against a roll of tickets.
/// It must fail (panic) under some schedule against [`LosingRoll`], and
/// pass under every schedule tried against [`Roll`]. The schedules come
/// from a fixed seed: the same verdict on every run and machine.
pub fn judge_shuttle_test(test: fn(Arc<dyn Tickets>)) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let takes = Arc::new(AtomicUsize::new(0));
        let counting = takes.clone();
        let fixed = crate::schedules::search(SCHEDULES, 19, move || {
            test(Arc::new(Counted { roll: Roll::new(), takes: counting.clone() }))
        });
        if let Some(found) = fixed.found {
            if found.failure.starts_with("not yet implemented") {
                std::panic::resume_unwind(Box::new(found.failure));
            }
            return Err(format!(
                "your test failed against the correct Roll, in schedule {} of {SCHEDULES} (shuttle's schedule {}): {}. A test must hold in every interleaving of a correct program: assert what is true whatever the order (which numbers were handed out), not one particular order",
                found.run, found.schedule, found.failure
            ));
        }
        let per_run = takes.load(Ordering::SeqCst) as f64 / fixed.runs.max(1) as f64;
        if per_run < 2.0 {
            return Err(format!(
                "your test took {per_run:.0} ticket(s) per run: a lost update needs at least two takers, on two threads (shuttle::thread::spawn)"
            ));
        }
        let buggy = crate::schedules::search(SCHEDULES, 19, move || test(Arc::new(LosingRoll::new())));
        match buggy.found {
            None => Err(format!(
                "your test passed against the LosingRoll in all {} schedules shuttle tried, so it cannot catch its bug: two takers that both read the counter before either writes it back get the same ticket. Take tickets on two threads at once and check that no number was handed out twice",
                buggy.runs
            )),
            Some(found) => Ok(format!(
                "your test passed against the correct Roll in {} schedules and caught the LosingRoll in schedule {} (\"{}\")",
                fixed.runs, found.run, found.failure
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_books_number() {
        assert_eq!(fib_mod(500_000, 10_000_000_000), FIB_500K_MOD_1E10);
        assert_eq!(fib_mod(10, 1000), 55);
        assert_eq!(fib_mod(0, 7), 0);
        assert_eq!(last_ten_digits(&fib(90)), 2880067194370816120 % 10_000_000_000);
        assert_eq!(last_ten_digits(&fib(20_000)), fib_mod(20_000, 10_000_000_000));
    }

    #[test]
    fn the_sanitizer_sees_the_race_where_it_can_run() {
        let racy = "static mut C: u64 = 0; fn main() { let t = std::thread::spawn(|| unsafe { C += 1 }); unsafe { C += 1 }; t.join().unwrap(); }";
        let safe = "static C: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0); fn main() { let t = std::thread::spawn(|| { C.fetch_add(1, std::sync::atomic::Ordering::SeqCst); }); C.fetch_add(1, std::sync::atomic::Ordering::SeqCst); t.join().unwrap(); }";
        // Without a nightly compiler both are Err (nothing run); with one, the
        // race is reported and the atomic version is clean.
        match (thread_sanitizer(racy), thread_sanitizer(safe)) {
            (Ok(r), Ok(s)) => {
                assert!(r.warnings >= 1 && r.key_lines.iter().any(|l| l.contains("data race")), "{r:?}");
                assert_eq!(s.warnings, 0, "{s:?}");
            }
            (Err(a), Err(b)) => assert!(a.contains("not") || a.contains("could"), "{a} / {b}"),
            other => panic!("one built and one did not: {other:?}"),
        }
    }

    fn passes() {}
    fn fails() {
        panic!("expected 3, got 4");
    }

    #[test]
    fn the_runner_keeps_order_and_survives_a_failure() {
        let tests: [Test; 4] = [("a", passes), ("b", fails), ("c", passes), ("d", passes)];
        for threads in [1, 3] {
            let (out, _) = run_tests(&tests, threads);
            let names: Vec<&str> = out.iter().map(|o| o.name.as_str()).collect();
            assert_eq!(names, ["a", "b", "c", "d"]);
            assert_eq!(out[1].failure.as_deref(), Some("expected 3, got 4"));
            assert!(out.iter().enumerate().all(|(i, o)| (i == 1) == o.failure.is_some()));
            assert!(summary(&out).ends_with("3 passed; 1 failed"));
        }
    }

    #[test]
    fn the_log_names_threads_and_spans() {
        let log = Capture::new();
        let t = std::thread::Builder::new()
            .name("worker-7".into())
            .spawn(log.traced(|| {
                let _span = tracing::info_span!("transfer", from = 1).entered();
                tracing::info!("moved 5");
            }))
            .unwrap();
        t.join().unwrap();
        log.scope(|| tracing::warn!("done"));
        let text = log.text();
        assert!(text.contains("worker-7") && text.contains("transfer{from=1}: moved 5"), "{text}");
        assert!(text.contains("WARN") && text.contains("done"), "{text}");
    }

    fn takes_two(roll: Arc<dyn Tickets>) {
        let other = {
            let roll = roll.clone();
            shuttle::thread::spawn(move || roll.take())
        };
        let mine = roll.take();
        let theirs = other.join().unwrap();
        assert_ne!(mine, theirs, "two takers got ticket {mine}");
    }

    #[test]
    fn a_real_test_catches_the_losing_roll() {
        let v = judge_shuttle_test(takes_two);
        assert!(v.passed(), "{v}");
    }

    #[test]
    fn a_todo_test_is_not_solved() {
        fn not_yet(_roll: Arc<dyn Tickets>) {
            todo!()
        }
        assert_eq!(judge_shuttle_test(not_yet), Verdict::NotSolved);
    }
}
