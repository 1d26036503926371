//! Cooperative tasks on one thread (chapter 9): long checks that hand the
//! thread back to the event loop now and then, so short ones get their
//! answer without waiting for the long one to finish.
//!
//! The notebook writes the cooperative primality check itself (the lesson);
//! this module holds what surrounds it: the book's numbers, the answers as
//! data and their chart, a [`Checker`] whose checks tell a judge how far
//! they got and whether they were stopped, and the two exercises' judges.
//! Every judge runs the learner's code on a tokio `current_thread` runtime,
//! one thread like Python's asyncio loop, where the order in which tasks
//! get turns is fixed by the code, not by the OS: the verdicts count turns
//! and divisions, never time.

use crate::chart::{self, Bar, Chart, Group};
use crate::exercise::{self, Verdict};
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The book's three numbers, in the book's order: a prime that needs about
/// 49 million trial divisions, then two that need 10 thousand and 6.
pub const BOOK_NUMBERS: [u64; 3] = [9_637_529_763_296_797, 427_920_331, 157];

/// How many odd divisors trial division tries for a prime `n`: 3, 5, 7, ...
/// up to the square root.
pub fn divisions(n: u64) -> u64 {
    (n.isqrt().saturating_sub(1)) / 2
}

/// One answer of a run: which number, whether it is prime, and when the
/// answer came (seconds since the run started).
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub number: u64,
    pub prime: bool,
    pub at: f64,
}

/// Time to each answer, one group per number, one bar per way of running
/// the checks (`runs`: a name and its answers).
pub fn answers_chart(title: &str, runs: &[(&str, &[Answer])]) -> Chart {
    let mut numbers: Vec<u64> = Vec::new();
    for a in runs.iter().flat_map(|(_, answers)| answers.iter()) {
        if !numbers.contains(&a.number) {
            numbers.push(a.number);
        }
    }
    let groups: Vec<Group> = numbers
        .iter()
        .map(|n| {
            let bars = runs
                .iter()
                .filter_map(|(name, answers)| answers.iter().find(|a| a.number == *n).map(|a| Bar::new(name, a.at)))
                .collect();
            Group::new(&n.to_string(), bars)
        })
        .collect();
    chart::bars(title, "seconds until the answer", &groups)
}

// --- a checker the judges can watch --------------------------------------------

/// What became of one check a [`Checker`] handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CheckState {
    /// Polled at least once, not finished.
    Running,
    /// Finished with this answer.
    Answered(bool),
    /// Dropped before it had an answer (cancelled).
    Dropped,
}

#[derive(Debug, Clone, Serialize)]
struct Record {
    number: u64,
    divisions: u64,
    state: CheckState,
}

/// Hands out cooperative primality checks (trial division that yields to
/// the event loop every `every` divisions) and keeps a record of each: how
/// many divisions it did, and whether it answered, is still running or was
/// dropped. Cloning is cheap; every clone shares the record.
#[derive(Clone)]
pub struct Checker {
    every: u64,
    records: Arc<Mutex<Vec<Record>>>,
}

impl Checker {
    /// A checker whose checks yield every `every` divisions (at least 1).
    pub fn new(every: u64) -> Checker {
        Checker { every: every.max(1), records: Arc::new(Mutex::new(Vec::new())) }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Vec<Record>> {
        // A panic elsewhere does not spoil the record itself.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A check of `n`, as a future: nothing happens until it is polled
    /// (awaited or spawned). It owns what it needs, so it can be spawned.
    pub fn is_prime(&self, n: u64) -> impl Future<Output = bool> + Send + 'static {
        let me = self.clone();
        async move {
            let id = {
                let mut records = me.records();
                records.push(Record { number: n, divisions: 0, state: CheckState::Running });
                records.len() - 1
            };
            // Marks the check as dropped unless it answered first.
            struct Watch {
                checker: Checker,
                id: usize,
            }
            impl Drop for Watch {
                fn drop(&mut self) {
                    let mut records = self.checker.records();
                    if records[self.id].state == CheckState::Running {
                        records[self.id].state = CheckState::Dropped;
                    }
                }
            }
            let _watch = Watch { checker: me.clone(), id };
            let answer = 'check: {
                if n < 2 {
                    break 'check false;
                }
                if n % 2 == 0 {
                    break 'check n == 2;
                }
                let (mut d, mut since_yield) = (3u64, 0u64);
                while d * d <= n {
                    if n % d == 0 {
                        break 'check false;
                    }
                    d += 2;
                    since_yield += 1;
                    if since_yield == me.every {
                        me.records()[id].divisions += since_yield;
                        since_yield = 0;
                        tokio::task::yield_now().await;
                    }
                }
                true
            };
            let mut records = me.records();
            records[id].state = CheckState::Answered(answer);
            answer
        }
    }

    /// The state of the check of `n` (the first one, if several), or `None`
    /// if no check of `n` was ever polled.
    pub fn state(&self, n: u64) -> Option<CheckState> {
        self.records().iter().find(|r| r.number == n).map(|r| r.state)
    }

    /// Divisions done so far by all checks together (counted at each yield).
    pub fn divisions_done(&self) -> u64 {
        self.records().iter().map(|r| r.divisions).sum()
    }
}

/// A tokio runtime of one thread: the event loop of the chapter.
fn one_thread() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start a tokio runtime for the check: {e}"))
}

// --- exercise: counting primes cooperatively -----------------------------------------

/// Exercise "count primes": judges `count_primes(below, every)`, which must
/// count the primes below `below` and yield to the event loop after every
/// `every` numbers it examined. The counts must be right, and while it
/// counts, a probe task on the same one-thread loop must get a turn about
/// once per `every` numbers. The probe counts its turns while the count
/// runs: a count that never awaits anything that yields gives it none, on
/// any machine.
pub fn judge_count_primes<F, Fut>(f: F) -> Verdict
where
    F: Fn(u64, u64) -> Fut + Send + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let rt = one_thread()?;
        rt.block_on(async move {
            let cases: [(u64, u64); 9] = [(0, 0), (1, 0), (2, 0), (3, 1), (10, 4), (100, 25), (7_919, 999), (7_920, 1_000), (100_000, 9_592)];
            for (below, want) in cases {
                let got = tokio::spawn(f(below, 1_000)).await.map_err(|e| match e.try_into_panic() {
                    Ok(payload) => format!("count_primes({below}, 1000) panicked: {}", exercise::joined(payload)),
                    Err(e) => format!("count_primes({below}, 1000) did not finish: {e}"),
                })?;
                if got != want {
                    return Err(format!("count_primes({below}, 1000) returned {got}, expected {want} (primes below {below}, not counting {below} itself; 0 and 1 are not prime)"));
                }
            }
            let below = TURNS_BELOW;
            let mut report = Vec::new();
            for every in [1_000u64, 10_000] {
                let turns = probe_turns(below, f(below, every)).await?;
                let expected = below / every;
                let what = format!("while count_primes({below}, {every}) ran, a probe task on the same one-thread loop got {turns} turn(s)");
                if turns == 0 {
                    return Err(format!(
                        "{what}: your count did not give the loop back while it worked. Only an .await on something that is not ready (tokio::task::yield_now()) lets other tasks run; std::thread::yield_now() gives the core to other OS threads, not to this loop's tasks"
                    ));
                }
                if turns * 2 < expected {
                    return Err(format!("{what}, about {expected} expected: yield after every {every} numbers, all through the count"));
                }
                if turns > 4 * expected + 4 {
                    return Err(format!("{what}, about {expected} expected: each yield costs a trip through the loop; yield once per {every} numbers, not more often"));
                }
                report.push(format!("{turns} turns with every = {every}"));
            }
            Ok(format!("{} counts right, and while the primes below {below} were counted a task beside it got its turns ({})", cases.len() + 1, report.join(", ")))
        })
    })
}

/// The count the probe runs beside (its answer is known: 25,997 primes).
const TURNS_BELOW: u64 = 300_000;
const TURNS_COUNT: u64 = 25_997;

/// Runs `count` (of the primes below `below`) as a task beside a probe
/// task on the current (one-thread) runtime and counts the probe's turns
/// while the count runs.
async fn probe_turns<Fut>(below: u64, count: Fut) -> Result<u64, String>
where
    Fut: Future<Output = u64> + Send + 'static,
{
    let started = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let turns = Arc::new(AtomicU64::new(0));
    let probe = {
        let (started, done, turns) = (started.clone(), done.clone(), turns.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                if started.load(Ordering::SeqCst) {
                    turns.fetch_add(1, Ordering::SeqCst);
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let checked = {
        let (started, done) = (started.clone(), done.clone());
        tokio::spawn(async move {
            started.store(true, Ordering::SeqCst);
            let answer = count.await;
            done.store(true, Ordering::SeqCst);
            answer
        })
    };
    let answer = checked.await;
    done.store(true, Ordering::SeqCst);
    let _ = probe.await;
    match answer {
        Ok(n) if n == TURNS_COUNT => Ok(turns.load(Ordering::SeqCst)),
        Ok(n) => Err(format!("count_primes({below}, ..) returned {n}, expected {TURNS_COUNT}")),
        Err(e) => Err(match e.try_into_panic() {
            Ok(payload) => format!("count_primes({below}, ..) panicked: {}", exercise::joined(payload)),
            Err(e) => format!("count_primes({below}, ..) did not finish: {e}"),
        }),
    }
}

// --- exercise: the first prime to answer -------------------------------------------

/// How many divisions the judge's checks do between yields.
pub const FIRST_PRIME_EVERY: u64 = 10_000;

/// Exercise "first prime": judges `first_prime(candidates, checker)`, which
/// must start a check of every candidate at once (as tasks on the one-thread
/// loop, each `checker.is_prime(n)`), return the first candidate whose check
/// answers "prime" (the first to answer, not the first in the list; `None`
/// if none is prime), and stop the checks still running. The checks yield
/// every [`FIRST_PRIME_EVERY`] divisions, so on one thread the order in
/// which they answer follows from their sizes alone: the judge knows it.
pub fn judge_first_prime<F, Fut>(f: F) -> Verdict
where
    F: Fn(Vec<u64>, Checker) -> Fut + Send + 'static,
    Fut: Future<Output = Option<u64>> + Send + 'static,
{
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let big = crate::primes::BOOK_START + 37; // prime, about 1.6 million divisions
        let cases: Vec<(Vec<u64>, Option<u64>)> = vec![
            (vec![big, 1_000_000_007, 91, 157], Some(157)),
            (vec![91, 1_000_000_007, 25], Some(1_000_000_007)),
            (vec![big, 1_000_000_007], Some(1_000_000_007)),
            (vec![4, 1_000_001, 9], None),
            (vec![157], Some(157)),
            (vec![], None),
        ];
        for (candidates, want) in cases {
            let what = format!("first_prime({candidates:?})");
            let rt = one_thread()?;
            let checker = Checker::new(FIRST_PRIME_EVERY);
            let task = f(candidates.clone(), checker.clone());
            let got = rt.block_on(async {
                let got = tokio::spawn(task).await.map_err(|e| match e.try_into_panic() {
                    Ok(payload) => format!("{what} panicked: {}", exercise::joined(payload)),
                    Err(e) => format!("{what} did not finish: {e}"),
                })?;
                // Give the loop turns to carry out cancellations (an aborted
                // task is dropped at its next turn), and any check left
                // running the chance to show it.
                for _ in 0..16 {
                    tokio::task::yield_now().await;
                }
                Ok::<_, String>(got)
            })?;
            // Read before the runtime is dropped (which drops every task left).
            let states: Vec<(u64, Option<CheckState>)> = candidates.iter().map(|&n| (n, checker.state(n))).collect();
            drop(rt);
            if got != want {
                let first_in_list = candidates.iter().copied().find(|&n| crate::primes::is_prime(n));
                return Err(if got.is_some() && got == first_in_list {
                    format!(
                        "{what} returned {got:?}, the first prime in the list, but the check of {want:?} answered first: take the answers in the order they come"
                    )
                } else if got.is_some_and(|n| !crate::primes::is_prime(n)) {
                    format!("{what} returned {got:?}, which is not prime: an answer \"not prime\" is no reason to stop")
                } else {
                    format!("{what} returned {got:?}, expected {want:?}")
                });
            }
            if let Some((n, _)) = states.iter().find(|(_, s)| s.is_none()) {
                return Err(format!(
                    "{what}: the check of {n} was never started (its future never polled); start a check of every candidate at once, as tasks, so that each gets turns"
                ));
            }
            if let Some((n, _)) = states.iter().find(|(_, s)| *s == Some(CheckState::Running)) {
                return Err(format!(
                    "{what} returned {got:?}, but the check of {n} was still running 16 turns later: stop the checks you no longer need (abort their tasks, or drop the JoinSet that holds them)"
                ));
            }
        }
        Ok("the first prime to answer came back each time (also when the list puts a slow one first), and the other checks were stopped".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_counts_answers_and_drops() {
        let rt = one_thread().unwrap();
        let c = Checker::new(100);
        assert!(rt.block_on(c.is_prime(1_000_000_007)));
        assert_eq!(c.state(1_000_000_007), Some(CheckState::Answered(true)));
        assert!(c.divisions_done() >= 15_000);
        assert!(!rt.block_on(c.is_prime(91)));
        let h = rt.spawn(c.is_prime(crate::primes::BOOK_START + 37));
        rt.block_on(async {
            tokio::task::yield_now().await;
            h.abort();
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        });
        assert_eq!(c.state(crate::primes::BOOK_START + 37), Some(CheckState::Dropped));
        assert_eq!(c.state(12), None);
    }

    #[test]
    fn divisions_counts_odd_divisors() {
        assert_eq!(divisions(157), 5); // 3, 5, 7, 9, 11 (12 * 12 > 157)
        assert_eq!(divisions(9_637_529_763_296_797), 49_085_460);
    }
}
