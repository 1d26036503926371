//! Tasks on tokio's executor (chapter 10): the book's three countdowns, a
//! log that turns their ticks into printed lines, data and a timeline, a
//! one-thread event loop that also works after a notebook cell used
//! `.await`, and the judges of the chapter's exercises.
//!
//! The judges run the learner's code on a `current_thread` runtime whose
//! clock is paused (`tokio::time::pause`, as mini-redis tests do): a sleep
//! of tokio's finishes the moment nothing else can run, at exactly its
//! deadline. Orders and elapsed times are then facts of the schedule, the
//! same on every machine; no verdict depends on how fast the machine is.

use crate::chart::Chart;
use crate::exercise::{self, Verdict};
use crate::timeline::{SpanGuard, State, Timeline};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The book's countdowns: name, how many ticks, seconds between ticks.
pub const BOOK_COUNTDOWNS: [(&str, u32, f64); 3] = [("A", 3, 1.0), ("B", 3, 0.8), ("C", 3, 0.5)];

/// The order in which the book's countdowns ticked when run as tasks, with
/// the book's seconds. A's first tick and C's second are both due at 1 s;
/// the book printed A's first, because C's second sleep began only when its
/// first had ended, a moment after 0.5 s.
pub const BOOK_ORDER: [(&str, f64); 9] =
    [("C", 0.5), ("B", 0.8), ("A", 1.0), ("C", 1.0), ("C", 1.5), ("B", 1.6), ("A", 2.0), ("B", 2.4), ("A", 3.0)];

/// One tick of a countdown: who, how many ticks it has left, and when
/// (seconds since the log began).
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub name: String,
    pub left: u32,
    pub at: f64,
}

/// Where countdowns report: each tick is printed (with the time at the
/// book's scale beside it) and kept, and spans of waiting go to a
/// [`Timeline`]. Cloning is cheap; clones share the record, so each task
/// takes its own.
#[derive(Clone)]
pub struct Log {
    timeline: Timeline,
    ticks: Arc<Mutex<Vec<Tick>>>,
    scale: f64,
    quiet: bool,
}

impl Log {
    /// A log whose time 0 is now. `scale` is how the run's delays relate to
    /// the book's (0.5: half the book's seconds); printed times are also
    /// given at the book's scale.
    pub fn new(scale: f64) -> Log {
        Log { timeline: Timeline::new(), ticks: Arc::new(Mutex::new(Vec::new())), scale, quiet: false }
    }

    /// Like [`Log::new`], but prints nothing (for benchmarks).
    pub fn quiet(scale: f64) -> Log {
        Log { quiet: true, ..Log::new(scale) }
    }

    /// Starts a span of `name` in `state` on the timeline; it ends when the
    /// guard is dropped (it may be held across an `.await`).
    pub fn span(&self, name: &str, state: State) -> SpanGuard<'_> {
        self.timeline.enter(name, state)
    }

    /// Records (and prints) that countdown `name` ticked, with `left` ticks
    /// to go. On the timeline the tick is a thin mark of running: the
    /// moment the task had the thread.
    pub fn tick(&self, name: &str, left: u32) {
        let at = self.timeline.now();
        self.timeline.push(name, State::Running, at, at);
        if !self.quiet {
            println!("{at:6.3} s (book scale {:5.2} s)  {name}: {left} left", at / self.scale);
        }
        self.ticks.lock().unwrap_or_else(|e| e.into_inner()).push(Tick { name: name.to_string(), left, at });
    }

    /// The ticks so far, in the order they were recorded.
    pub fn ticks(&self) -> Vec<Tick> {
        self.ticks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Seconds since the log began.
    pub fn seconds(&self) -> f64 {
        self.timeline.now()
    }

    /// The ticks' names in order, with their times at the book's scale:
    /// `C .50, B .80, ...`.
    pub fn order(&self) -> String {
        self.ticks().iter().map(|t| format!("{} {:.2}", t.name, t.at / self.scale)).collect::<Vec<_>>().join(", ")
    }

    /// Compares the order of the ticks with the book's ([`BOOK_ORDER`]):
    /// `Ok` with a summary if the names come in the book's order, `Err`
    /// saying where they part otherwise.
    pub fn compare_with_book(&self) -> Result<String, String> {
        let ours: Vec<String> = self.ticks().iter().map(|t| t.name.clone()).collect();
        let book: Vec<String> = BOOK_ORDER.iter().map(|(n, _)| n.to_string()).collect();
        let book_text = BOOK_ORDER.iter().map(|(n, s)| format!("{n} {s}")).collect::<Vec<_>>().join(", ");
        if ours == book {
            return Ok(format!("the same order as the book's ({book_text})"));
        }
        let at = ours.iter().zip(&book).position(|(a, b)| a != b).unwrap_or(ours.len().min(book.len()));
        Err(format!("a different order from the book's ({book_text}): tick {} was {:?}, the book's {:?}", at + 1, ours.get(at), book.get(at)))
    }

    /// The timeline of the run, one row per countdown.
    pub fn chart(&self, title: &str) -> Chart {
        self.timeline.chart(title)
    }
}

/// Runs `fut` on a fresh one-thread tokio runtime (an event loop like
/// asyncio's) on a thread of its own, and returns its output. A notebook
/// can call this also after a cell used `.await`, when the cell itself runs
/// inside evcxr's runtime (and building a runtime there would panic). A
/// panic in `fut` is raised again here.
pub fn on_one_thread<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    on_own_thread(tokio::runtime::Builder::new_current_thread(), fut)
}

/// Like [`on_one_thread`], on a fresh multi-thread runtime with `workers`
/// worker threads. (A notebook cannot use evcxr's own runtime for this:
/// with evcxr 0.22, a task that a later cell spawns there is never run,
/// because each cell links its own copy of tokio.)
pub fn on_workers<T: Send + 'static>(workers: usize, fut: impl Future<Output = T> + Send + 'static) -> T {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers.max(1));
    on_own_thread(builder, fut)
}

fn on_own_thread<T: Send + 'static>(mut builder: tokio::runtime::Builder, fut: impl Future<Output = T> + Send + 'static) -> T {
    let worker = std::thread::Builder::new().name("event-loop".into()).spawn(move || {
        let rt = builder.enable_all().build().expect("could not start a tokio runtime");
        let out = rt.block_on(fut);
        // Do not wait for tasks left running (a blocked one may never end).
        rt.shutdown_background();
        out
    });
    match worker.expect("could not start a thread for the event loop").join() {
        Ok(out) => out,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// A one-thread runtime whose clock is paused: sleeps end as soon as
/// nothing else can run, exactly at their deadlines.
fn paused() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("could not start a tokio runtime for the check: {e}"))
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

// --- exercise: countdowns at once --------------------------------------------------

/// A countdown plan: (name, ticks, time between ticks).
pub type Plan = Vec<(&'static str, u32, Duration)>;

/// Exercise "countdowns": judges `countdowns(plan)`, which must run every
/// countdown of the plan at once (each waits its delay before each tick,
/// with tokio's sleep) and return the ticks `(name, left)` in the order they
/// happened. On the judge's paused clock the whole run must take as long as
/// the longest countdown, and the ticks must come in the order of their
/// deadlines (ticks due at the same instant in either order).
pub fn judge_countdowns<F, Fut>(f: F) -> Verdict
where
    F: Fn(Plan) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<(&'static str, u32)>>,
{
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let d = Duration::from_millis;
        let plans: Vec<Plan> = vec![
            vec![("A", 3, d(100)), ("B", 3, d(80)), ("C", 3, d(50))],
            vec![("x", 4, d(30)), ("y", 2, d(70)), ("z", 3, d(50))],
            vec![("solo", 2, d(10))],
            vec![("none", 0, d(10)), ("one", 1, d(20))],
            vec![],
        ];
        for plan in plans {
            let what = format!(
                "countdowns([{}])",
                plan.iter().map(|(n, k, e)| format!("{n}: {k} x {}", ms(*e))).collect::<Vec<_>>().join(", ")
            );
            let rt = paused()?;
            let (got, took) = exercise::call(|| {
                rt.block_on(async {
                    let start = tokio::time::Instant::now();
                    let got = f(plan.clone()).await;
                    (got, start.elapsed())
                })
            })
            .map_err(|msg| format!("{what} panicked: {msg}"))?;
            judge_one_plan(&what, &plan, &got, took)?;
        }
        Ok("every plan ran all its countdowns at once (as long as the longest one, on tokio's clock) and its ticks came in deadline order".into())
    })
}

fn judge_one_plan(what: &str, plan: &Plan, got: &[(&'static str, u32)], took: Duration) -> Result<(), String> {
    // Every tick with its deadline, in deadline order.
    let mut due: Vec<(Duration, &'static str, u32)> = Vec::new();
    for &(name, n, every) in plan {
        for k in 1..=n {
            due.push((every * k, name, n - k));
        }
    }
    due.sort();
    let longest = plan.iter().map(|&(_, n, every)| every * n).max().unwrap_or_default();
    let sum: Duration = plan.iter().map(|&(_, n, every)| every * n).sum();
    let shown = |ticks: &[(&str, u32)]| {
        let mut s: Vec<String> = ticks.iter().take(10).map(|(n, l)| format!("{n} {l}")).collect();
        if ticks.len() > 10 {
            s.push(format!("... {} in all", ticks.len()));
        }
        format!("[{}]", s.join(", "))
    };
    if took < longest {
        return Err(format!(
            "{what} took {} on tokio's clock, less than the longest countdown ({}): the countdowns did not wait with tokio::time::sleep. A blocking sleep (std::thread::sleep) stops the whole event loop and tokio's clock never sees it",
            ms(took),
            ms(longest)
        ));
    }
    if took > longest {
        let how = if took >= sum && sum > longest { ", the sum of all the countdowns: they ran one after another" } else { "" };
        return Err(format!("{what} took {} on tokio's clock, but the longest countdown takes {}{how}; run them all at once", ms(took), ms(longest)));
    }
    let mut want: Vec<(&str, u32)> = due.iter().map(|&(_, n, l)| (n, l)).collect();
    let mut have = got.to_vec();
    want.sort();
    have.sort();
    if have != want {
        return Err(format!("{what} returned the ticks {}, expected these: {}", shown(got), shown(&due.iter().map(|&(_, n, l)| (n, l)).collect::<Vec<_>>())));
    }
    let deadline = |t: &(&str, u32)| due.iter().find(|&&(_, n, l)| (n, l) == *t).map(|d| d.0).unwrap_or_default();
    for pair in got.windows(2) {
        let (a, b) = (deadline(&pair[0]), deadline(&pair[1]));
        if b < a {
            return Err(format!(
                "{what} returned {}: \"{} {}\" (due at {}) came before \"{} {}\" (due at {}); record each tick when it happens, so they come in the order of their deadlines",
                shown(got),
                pair[0].0,
                pair[0].1,
                ms(a),
                pair[1].0,
                pair[1].1,
                ms(b)
            ));
        }
    }
    Ok(())
}

// --- exercise: at most k at once ---------------------------------------------------

/// A job of the "at most k" exercise: a future that gives a number.
pub type Job = Pin<Box<dyn Future<Output = u64> + Send + 'static>>;

#[derive(Default)]
struct Jobs {
    running: usize,
    most: usize,
    starts: Vec<Option<Duration>>,
}

/// A job that records when it first runs and how many run with it, then
/// sleeps `length` on tokio's clock and gives `value`.
fn watched_job(i: usize, length: Duration, value: u64, jobs: Arc<Mutex<Jobs>>, origin: tokio::time::Instant) -> Job {
    Box::pin(async move {
        struct Leave(Arc<Mutex<Jobs>>);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).running -= 1;
            }
        }
        {
            let mut j = jobs.lock().unwrap_or_else(|e| e.into_inner());
            j.running += 1;
            j.most = j.most.max(j.running);
            j.starts[i] = Some(origin.elapsed());
        }
        let _leave = Leave(jobs);
        tokio::time::sleep(length).await;
        value
    })
}

/// When each job starts if each starts as soon as one of `k` slots is free.
fn greedy_starts(k: usize, lengths: &[Duration]) -> Vec<Duration> {
    let mut free = vec![Duration::ZERO; k.max(1)];
    lengths
        .iter()
        .map(|&len| {
            let slot = (0..free.len()).min_by_key(|&s| free[s]).unwrap_or(0);
            let start = free[slot];
            free[slot] = start + len;
            start
        })
        .collect()
}

/// Exercise "at most k": judges `at_most(k, jobs)`, which must run the jobs
/// with never more than `k` in flight, start the next job as soon as any
/// one finishes, and return the results in the jobs' order. On the paused
/// clock each job's start time is known exactly: the judge compares it
/// with the start it would have with `k` slots each taken as soon as free.
pub fn judge_at_most_k<F, Fut>(f: F) -> Verdict
where
    F: Fn(usize, Vec<Job>) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<u64>>,
{
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let cases: Vec<(usize, Vec<u64>)> = vec![
            (2, vec![100, 10, 10, 10, 10]),
            (3, vec![30, 50, 10, 40, 20, 10, 60]),
            (1, vec![20, 10, 30]),
            (4, vec![10, 20]),
            (2, vec![]),
        ];
        for (k, lengths_ms) in cases {
            let lengths: Vec<Duration> = lengths_ms.iter().map(|&m| Duration::from_millis(m)).collect();
            let what = format!("at_most({k}, jobs of {lengths_ms:?} ms)");
            let values: Vec<u64> = (0..lengths.len() as u64).map(|i| 100 + i * 11).collect();
            let jobs = Arc::new(Mutex::new(Jobs { starts: vec![None; lengths.len()], ..Jobs::default() }));
            let rt = paused()?;
            let got = exercise::call(|| {
                rt.block_on(async {
                    let origin = tokio::time::Instant::now();
                    let list: Vec<Job> =
                        (0..lengths.len()).map(|i| watched_job(i, lengths[i], values[i], jobs.clone(), origin)).collect();
                    f(k, list).await
                })
            })
            .map_err(|msg| format!("{what} panicked: {msg}"))?;
            drop(rt);
            let seen = jobs.lock().unwrap_or_else(|e| e.into_inner());
            if seen.most > k {
                return Err(format!("{what}: {} jobs were running at once, but k = {k}", seen.most));
            }
            if let Some(i) = seen.starts.iter().position(|s| s.is_none()) {
                return Err(format!("{what}: job {i} was never started (never awaited or spawned)"));
            }
            if got != values {
                let mut sorted = got.clone();
                sorted.sort();
                return Err(if sorted == values {
                    format!("{what} returned {got:?}, the right results but not in the jobs' order {values:?}: the results came in the order the jobs finished; put each at its job's index")
                } else {
                    format!("{what} returned {got:?}, expected {values:?} (one result per job, in the jobs' order)")
                });
            }
            let best = greedy_starts(k, &lengths);
            for (i, (start, want)) in seen.starts.iter().zip(&best).enumerate() {
                let start = start.unwrap_or_default();
                if start > *want {
                    return Err(format!(
                        "{what}: job {i} started at {} on tokio's clock, but a slot was free from {}: start the next job as soon as any running one finishes (not when a whole batch has)",
                        ms(start),
                        ms(*want)
                    ));
                }
                if start < *want {
                    return Err(format!("{what}: job {i} started at {}, before a slot was free ({}); start the jobs in their order", ms(start), ms(*want)));
                }
            }
        }
        Ok("never more than k jobs in flight, each started the moment a slot was free, results in the jobs' order".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_starts_fill_the_first_free_slot() {
        let d = Duration::from_millis;
        assert_eq!(greedy_starts(2, &[d(100), d(10), d(10), d(10)]), vec![d(0), d(0), d(10), d(20)]);
        assert_eq!(greedy_starts(1, &[d(5), d(5)]), vec![d(0), d(5)]);
    }

    #[test]
    fn the_event_loop_runs_on_its_own_thread_also_inside_a_runtime() {
        // As in a notebook after a cell used `.await`: we are inside a runtime.
        let outer = tokio::runtime::Runtime::new().unwrap();
        let n = outer.block_on(async { on_one_thread(async { tokio::spawn(async { 6 * 7 }).await.unwrap() }) });
        assert_eq!(n, 42);
        let workers = outer.block_on(async { on_workers(2, async { tokio::runtime::Handle::current().metrics().num_workers() }) });
        assert_eq!(workers, 2);
    }

    #[test]
    fn the_log_compares_with_the_book() {
        let log = Log::quiet(1.0);
        for (name, _) in BOOK_ORDER {
            log.tick(name, 0);
        }
        assert!(log.compare_with_book().is_ok());
        log.tick("A", 0);
        assert!(log.compare_with_book().is_err());
    }
}
