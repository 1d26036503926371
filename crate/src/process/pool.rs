//! A pool of worker processes (chapter 6): the inbox its consumers take
//! jobs from, and the checks of the chapter's two exercises.
//!
//! The pool itself is written in the notebook, because it is the lesson:
//! one thread of ours per worker process takes the next job, hands it down
//! the worker's pipe and waits for the answer. What lives here is the
//! shared [`Inbox`] those threads take [`Msg`]s from (a queue behind a
//! lock, that also knows who is waiting in it, so a check can tell a
//! consumer stuck for ever from one still busy), and the judges.

use crate::exercise::{self, Verdict};
use crate::process::Worker;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A message in an [`Inbox`]: a number to check, or the poison pill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Msg {
    /// Check whether this number is prime.
    Job(u64),
    /// No more jobs for the consumer that takes this: stop.
    Stop,
}

/// The queue a pool's consumers take their jobs from, shared by reference
/// between threads: first in, first out, any number of producers and
/// consumers. [`Inbox::take`] waits while it is empty, like Python's
/// `Queue.get()`.
#[derive(Debug, Default)]
pub struct Inbox {
    state: Mutex<InboxState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct InboxState {
    messages: VecDeque<Msg>,
    /// Consumers waiting in `take` right now (for checks and reports).
    taking: usize,
    /// Consumers that have returned (counted by the check that runs them).
    finished: usize,
    /// Set by a check that found consumers stuck for ever: `take` on an
    /// empty inbox then panics, which ends the stuck consumer's thread.
    abandoned: bool,
}

impl Inbox {
    pub fn new() -> Inbox {
        Inbox::default()
    }

    fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `msg` at the back and wakes the consumers waiting in `take`.
    pub fn put(&self, msg: Msg) {
        self.lock().messages.push_back(msg);
        self.changed.notify_all();
    }

    /// Takes the message at the front, waiting (for ever) while the inbox is empty.
    pub fn take(&self) -> Msg {
        let mut st = self.lock();
        st.taking += 1;
        self.changed.notify_all(); // a check may be waiting to see us here
        loop {
            if let Some(msg) = st.messages.pop_front() {
                st.taking -= 1;
                return msg;
            }
            if st.abandoned {
                st.taking -= 1;
                drop(st);
                panic!("the check gave up on this consumer: it waited in take() on an empty inbox that nobody would ever fill");
            }
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Like [`Inbox::take`], but waits at most `limit`: `None` if nothing
    /// came. For demonstrations that must not hang.
    pub fn take_timeout(&self, limit: Duration) -> Option<Msg> {
        let deadline = Instant::now() + limit;
        let mut st = self.lock();
        st.taking += 1;
        let msg = loop {
            if let Some(msg) = st.messages.pop_front() {
                break Some(msg);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            st = self.changed.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        };
        st.taking -= 1;
        msg
    }

    /// True if no message is waiting *at this moment*. Another thread may
    /// put or take one right after: the answer can be out of date before
    /// the caller acts on it.
    pub fn is_empty(&self) -> bool {
        self.lock().messages.is_empty()
    }

    /// How many messages are waiting at this moment.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// What is left in the inbox, oldest first.
    pub fn left(&self) -> Vec<Msg> {
        self.lock().messages.iter().copied().collect()
    }

    /// A check's consumer has returned.
    fn finish(&self) {
        self.lock().finished += 1;
        self.changed.notify_all();
    }

    /// Waits until `ready` holds for the state, at most `limit` (only a
    /// hang guard): the state then, as (waiting in take, finished, messages).
    fn wait_until(&self, limit: Duration, ready: impl Fn(&InboxState) -> bool) -> (usize, usize, usize) {
        let (st, _) = self.changed.wait_timeout_while(self.lock(), limit, |st| !ready(st)).unwrap_or_else(|e| e.into_inner());
        (st.taking, st.finished, st.messages.len())
    }

    /// Frees consumers stuck in `take` (their `take` panics).
    fn abandon(&self) {
        self.lock().abandoned = true;
        self.changed.notify_all();
    }
}

// --- exercise 1: a pool that never loses a job ---------------------------------

/// What the learner writes in exercise 1: run every `(job, args)` on the
/// workers, side by side, and give the answers in job order.
pub type PoolRun = fn(Vec<Worker>, Vec<(String, Value)>) -> Result<Vec<Value>, String>;

/// The ten numbers of the book's process examples, and which are prime.
pub const BOOK_NUMBERS: [u64; 10] = [2, 36, 101, 193, 323, 513, 1327, 100000, 9999999, 433785907];

/// A fresh, empty folder for one check (tokens of `crash_once`, `meet` files).
fn scratch(what: &str) -> Result<PathBuf, String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("lab-{what}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("could not make the folder {}: {e}", dir.display()))?;
    Ok(dir)
}

fn is_prime_job(n: u64) -> (String, Value) {
    ("is_prime".to_string(), json!({"n": n}))
}

/// A job that kills the first worker to take it (mid-job, exit code 70)
/// and answers `is_prime(n)` on any later one.
fn crash_once_job(dir: &std::path::Path, n: u64) -> (String, Value) {
    let token = dir.join(format!("crash-{n}"));
    ("crash_once".to_string(), json!({"token": token, "job": "is_prime", "args": {"n": n}}))
}

/// How the check names job `i` in a message.
fn describe_job(i: usize, (job, args): &(String, Value)) -> String {
    match job.as_str() {
        "crash_once" => format!("job {i} (is_prime {}, whose first worker dies mid-job)", args["args"]["n"]),
        "is_prime" => format!("job {i} (is_prime {})", args["n"]),
        _ => format!("job {i} (`{job}` {args})"),
    }
}

/// One scenario of exercise 1: run `f` on `workers` fresh workers and give
/// what it returned (a hang is stopped by [`exercise::with_workers`]).
fn run_pool(f: PoolRun, workers: usize, jobs: Vec<(String, Value)>) -> Result<Result<Vec<Value>, String>, String> {
    let (tx, rx) = mpsc::channel();
    let verdict = exercise::with_workers(Duration::from_secs(20), workers, move |ws| {
        let out = exercise::call(|| f(ws, jobs)).map_err(|panic| format!("your pool panicked: {panic}"))?;
        let _ = tx.send(out);
        Ok(String::new())
    });
    outcome(verdict, rx.try_recv())
}

/// Compares a pool's answers with the right ones, naming the first job that differs.
fn compare_answers(what: &str, jobs: &[(String, Value)], got: &[Value], want: &[Value]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: your pool returned {} answers for {} jobs", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            let order = if want.contains(g) && g != &Value::Null { " (answers must come in the order of the jobs, not the order they finish)" } else { "" };
            return Err(format!("{what}: the answer to {} is {g}, but it should be {w}{order}", describe_job(i, &jobs[i])));
        }
    }
    Ok(())
}

/// Exercise "reliable_pool": judges a pool of worker processes that runs
/// every job once and gives the answers in job order, hands the job of a
/// worker that dies mid-job to another worker, uses its workers side by
/// side, and returns an error (not a hang) once every worker is dead.
///
/// Deaths are deterministic: a `crash_once` job kills the first worker that
/// takes it, at a job the check chooses. Side by side is seen through `meet`
/// jobs, which answer only when two workers are inside one at the same time.
pub fn judge_reliable_pool(f: PoolRun) -> Verdict {
    // Build the worker program first (a minute or more when cold, on a busy
    // machine longer): that is not the learner's time.
    if let Err(e) = crate::process::worker_binary() {
        return Verdict::Failed(format!("could not build the worker program for the check: {e}"));
    }
    exercise::run(Duration::from_secs(120), move || {
        let want: Vec<Value> = BOOK_NUMBERS.iter().map(|&n| json!(crate::primes::is_prime(n))).collect();

        // 1. Nobody dies.
        let jobs: Vec<_> = BOOK_NUMBERS.iter().map(|&n| is_prime_job(n)).collect();
        let what = "the ten numbers on 3 workers, nobody dying";
        match run_pool(f, 3, jobs.clone()).map_err(|e| format!("{what}: {e}"))? {
            Ok(got) => compare_answers(what, &jobs, &got, &want)?,
            Err(e) => return Err(format!("{what}: your pool returned Err({e:?})")),
        }

        // 2. Two workers die mid-job: the first job, and one in the middle.
        let dir = scratch("crash")?;
        let jobs: Vec<_> = BOOK_NUMBERS
            .iter()
            .enumerate()
            .map(|(i, &n)| if i == 0 || i == 6 { crash_once_job(&dir, n) } else { is_prime_job(n) })
            .collect();
        let what = "the ten numbers on 3 workers, where the first worker to take job 0 and the first to take job 6 die mid-job";
        match run_pool(f, 3, jobs.clone()).map_err(|e| format!("{what}: {e}"))? {
            Ok(got) => compare_answers(what, &jobs, &got, &want)?,
            Err(e) => {
                return Err(format!(
                    "{what}: your pool returned Err({e:?}), but a worker was still alive to take the dead worker's job: give it to another worker"
                ))
            }
        }
        let _ = std::fs::remove_dir_all(&dir);

        // 3. Side by side: two `meet` jobs, then two numbers, on 2 workers.
        let dir = scratch("meet")?;
        let meet = ("meet".to_string(), json!({"dir": dir, "n": 2, "limit_ms": 10_000}));
        let jobs = vec![meet.clone(), meet, is_prime_job(101), is_prime_job(323)];
        let what = "two `meet` jobs and two numbers on 2 workers";
        match run_pool(f, 2, jobs.clone()).map_err(|e| format!("{what}: {e}"))? {
            Ok(got) => compare_answers(what, &jobs, &got, &[json!(2), json!(2), json!(true), json!(false)])?,
            Err(e) if e.contains("workers were inside a `meet` job") => {
                return Err(format!(
                    "{what}: your pool never had two workers busy at the same time: each `meet` job waited 10 s for a second worker to join it ({e}). \
                     Give each worker its own thread, so that all of them work at once."
                ))
            }
            Err(e) => return Err(format!("{what}: your pool returned Err({e:?})")),
        }
        let _ = std::fs::remove_dir_all(&dir);

        // 4. Every worker dies: `exit` kills whoever takes it.
        let jobs = vec![is_prime_job(2), ("exit".to_string(), json!({"code": 3})), is_prime_job(101)];
        let what = "[is_prime 2, exit, is_prime 101] on 2 workers, where `exit` kills every worker that takes it";
        if let Ok(got) = run_pool(f, 2, jobs).map_err(|e| format!("{what}: {e}"))? {
            return Err(format!(
                "{what}: your pool returned Ok({got:?}), but the `exit` job can never be answered: once every worker is dead, return an Err that says which jobs were left"
            ));
        }
        Ok("every answer right and in job order on 3 workers; two workers side by side (meet); two workers killed mid-job and their jobs done by others; an error, not a hang, when every worker died".into())
    })
}

// --- exercise 2: shutting a pool down with poison pills ------------------------

/// What the learner writes in exercise 2: the producer (several may run at
/// once; `producing` starts at their number) and the consumer.
pub type PoisonPill = (fn(&Inbox, &[u64], usize, &AtomicUsize), fn(&Inbox, &mut Worker) -> Vec<(u64, bool)>);

/// What one run of exercise 2 gave: each consumer's jobs and its worker's
/// count of jobs sent, and what was left in the inbox.
struct Run {
    done: Vec<(Vec<(u64, bool)>, u64)>,
    left: Vec<Msg>,
}

/// A learner's `todo!()` seen on a thread of the check: passed on as one,
/// so the whole check reads "not solved yet".
fn pass_on_todo(panic: &str) {
    if panic.starts_with("not yet implemented") {
        panic!("not yet implemented");
    }
}

/// What a check run under [`exercise::with_workers`] gave, or the message of
/// the verdict that stopped it (a `todo!()` is passed on).
fn outcome<T>(verdict: Verdict, got: Result<T, mpsc::TryRecvError>) -> Result<T, String> {
    match (verdict, got) {
        (Verdict::Passed(_), Ok(value)) => Ok(value),
        (Verdict::Passed(_), Err(_)) => Err("the check lost what your code returned".into()),
        (Verdict::NotSolved, _) => panic!("not yet implemented"),
        (Verdict::Failed(why) | Verdict::Panicked(why), _) => Err(why),
        (Verdict::TimedOut(limit), _) => Err(format!(
            "your code did not finish within {} s: is a thread waiting for something that never comes (a job, a stop, a dead worker)?",
            limit.as_secs()
        )),
    }
}

/// Runs `consumers` consumers (each with its own worker) and the producers
/// (one per part of the jobs), and reports what happened.
/// `consumers_first`: the producers start only when every consumer waits
/// in `take` (or has returned). `one_by_one`: each producer starts only
/// when the previous one has returned and the consumers are idle again.
fn run_pill(
    (produce, consume): PoisonPill,
    parts: &[Vec<u64>],
    consumers: usize,
    consumers_first: bool,
    one_by_one: bool,
) -> Result<Run, String> {
    let (tx, rx) = mpsc::channel();
    let parts = parts.to_vec();
    let verdict = exercise::with_workers(Duration::from_secs(20), consumers, move |workers| {
        let inbox = Arc::new(Inbox::new());
        let producing = AtomicUsize::new(parts.len());
        let limit = Duration::from_secs(15);
        // Nothing to take, and every consumer waits in take or has returned.
        let idle = |st: &InboxState| st.messages.is_empty() && st.taking + st.finished == consumers;
        let handles: Vec<_> = workers
            .into_iter()
            .map(|mut worker| {
                let inbox = Arc::clone(&inbox);
                std::thread::spawn(move || {
                    let out = exercise::quietly(|| consume(&inbox, &mut worker));
                    inbox.finish();
                    (out, worker.jobs_sent())
                })
            })
            .collect();
        if consumers_first {
            inbox.wait_until(limit, idle);
        }
        let produced: Vec<Result<(), String>> = std::thread::scope(|s| {
            let mut results = Vec::new();
            let mut running = Vec::new();
            for part in &parts {
                let (inbox, producing) = (&inbox, &producing);
                let producer = s.spawn(move || exercise::quietly(|| produce(inbox, part, consumers, producing)));
                if one_by_one {
                    results.push(producer.join().unwrap_or_else(|_| Err("the producer's thread failed".into())));
                    inbox.wait_until(limit, idle);
                } else {
                    running.push(producer);
                }
            }
            results.extend(running.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("the producer's thread failed".into()))));
            results
        });
        // Done when every consumer returned, or when the ones that did not all
        // wait in take on an empty inbox that no producer will fill again.
        let (stuck, finished, _) = inbox.wait_until(limit, |st| st.finished == consumers || (idle(st) && st.taking > 0));
        let failed_producer = produced.into_iter().find_map(Result::err);
        if finished < consumers {
            inbox.abandon();
        }
        let joined: Vec<_> = handles.into_iter().map(|h| h.join().map_err(|_| "a consumer's thread failed".to_string())).collect();
        if let Some(panic) = failed_producer {
            pass_on_todo(&panic);
            return Err(format!("your produce panicked: {panic}"));
        }
        if finished < consumers && stuck > 0 {
            return Err(format!(
                "{stuck} of {consumers} consumer(s) were still waiting in take() after every producer had returned and the inbox was empty: \
                 nobody would ever wake them. Every consumer needs its own stop"
            ));
        }
        let mut done = Vec::new();
        for result in joined {
            let (out, sent) = result?;
            let out = out.map_err(|panic| {
                pass_on_todo(&panic);
                format!("your consume panicked: {panic}")
            })?;
            done.push((out, sent));
        }
        let _ = tx.send(Run { done, left: inbox.left() });
        Ok(String::new())
    });
    outcome(verdict, rx.try_recv())
}

/// Checks one run: every job done exactly once, by a worker, rightly, and nothing left over.
fn check_run(what: &str, parts: &[Vec<u64>], run: &Run) -> Result<(), String> {
    let jobs_left: Vec<u64> = run.left.iter().filter_map(|m| if let Msg::Job(n) = m { Some(*n) } else { None }).collect();
    if !jobs_left.is_empty() {
        return Err(format!(
            "{what}: {} job(s) were never done, still in the inbox at the end: {jobs_left:?}; every consumer had already stopped (a consumer must stop only on its stop, and a stop must come after every job)",
            jobs_left.len()
        ));
    }
    let mut seen: Vec<u64> = Vec::new();
    for (i, (done, sent)) in run.done.iter().enumerate() {
        if (*sent as usize) < done.len() {
            return Err(format!(
                "{what}: consumer {} reported {} job(s) but sent {sent} to its worker process: run each job on the worker (`is_prime`), not in the consumer's thread",
                i + 1,
                done.len()
            ));
        }
        for &(n, prime) in done {
            if prime != crate::primes::is_prime(n) {
                return Err(format!("{what}: consumer {} said is_prime({n}) is {prime}", i + 1));
            }
            seen.push(n);
        }
    }
    seen.sort_unstable();
    let mut want: Vec<u64> = parts.concat();
    want.sort_unstable();
    if seen != want {
        let missing: Vec<u64> = want.iter().filter(|n| !seen.contains(n)).copied().collect();
        return Err(format!("{what}: the consumers did {} job(s) of {}; never done: {missing:?}", seen.len(), want.len()));
    }
    Ok(())
}

/// Exercise "poison_pill": judges a producer and a consumer of a pool that
/// shuts down with one stop message per consumer, sent after the last job
/// of the last producer. The schedules that break the usual mistakes are
/// made to happen, not waited for: consumers that look at an empty inbox
/// before any job is put; two producers one after the other, with the
/// consumers idle in between; and then everything at once, many times.
pub fn judge_poison_pill(pair: PoisonPill) -> Verdict {
    // Build the worker program first (a minute or more when cold, on a busy
    // machine longer): that is not the learner's time.
    if let Err(e) = crate::process::worker_binary() {
        return Verdict::Failed(format!("could not build the worker program for the check: {e}"));
    }
    exercise::run(Duration::from_secs(120), move || {
        let ten = vec![BOOK_NUMBERS.to_vec()];
        let what = "3 consumers waiting in take() before 1 producer puts the ten numbers";
        check_run(what, &ten, &run_pill(pair, &ten, 3, true, false).map_err(|e| format!("{what}: {e}"))?)?;
        let ten = &ten[0];

        let parts = vec![ten[..5].to_vec(), ten[5..].to_vec()];
        let what = "2 producers of 5 numbers each, the second starting once the first has returned and the 3 consumers are idle";
        check_run(what, &parts, &run_pill(pair, &parts, 3, true, true).map_err(|e| format!("{what}: {e}"))?)?;

        for round in 1..=10 {
            let parts: Vec<Vec<u64>> = (0..3).map(|p| (0..12).map(|k| 1000 * round + 100 * p + k).collect()).collect();
            let what = format!("round {round}: 3 producers of 12 numbers and 4 consumers, all started at once");
            check_run(&what, &parts, &run_pill(pair, &parts, 4, false, false).map_err(|e| format!("{what}: {e}"))?)?;
        }
        Ok("every job done once by a worker process, and every consumer stopped: consumers started before the producer, producers one after another, and 10 rounds of 3 producers with 4 consumers at once".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_first_in_first_out_and_bounded_take_returns() {
        let inbox = Inbox::new();
        assert!(inbox.is_empty());
        inbox.put(Msg::Job(1));
        inbox.put(Msg::Stop);
        assert_eq!((inbox.len(), inbox.take(), inbox.take()), (2, Msg::Job(1), Msg::Stop));
        assert_eq!(inbox.take_timeout(Duration::from_millis(10)), None);
        let shared = Arc::new(Inbox::new());
        let waiter = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || shared.take())
        };
        shared.wait_until(Duration::from_secs(30), |st| st.taking == 1);
        shared.put(Msg::Job(7));
        assert_eq!(waiter.join().unwrap(), Msg::Job(7));
    }
}
