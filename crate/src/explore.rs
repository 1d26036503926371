//! A schedule explorer: model programs whose interleavings are chosen,
//! searched and replayed (chapter 14, and chapter 19's testing tools).
//!
//! A race condition depends on the order in which threads' steps interleave,
//! and a normal test run sees only the few orders the OS happens to pick.
//! A *schedule explorer* takes that choice away from the OS: the threads of
//! a small model program run one at a time, and before each step on shared
//! data (a read, a write, taking a lock) the explorer decides which thread
//! goes next. Trying many schedules finds the rare bad one; the list of
//! choices (the *schedule*) replays it exactly. Tools such as shuttle and
//! loom do this for real Rust programs; this module is a small version that
//! prints every step, so the interleaving can be read.
//!
//! The models built on it (a counter and a bank) are in [`crate::race`].

use crate::exercise;
use crate::workload::Rng;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Status {
    /// Not yet at its first step (threads start freely, then stop there).
    Starting,
    /// Stopped before its next step, ready to take it.
    Ready,
    /// Waiting for model lock number `.0`.
    Blocked(usize),
    Done,
}

/// How the next thread is chosen.
pub(crate) enum Plan {
    Random(Rng),
    Replay(Vec<usize>),
}

pub(crate) struct State {
    pub(crate) ids: Vec<ThreadId>,
    pub(crate) status: Vec<Status>,
    pub(crate) turn: Option<usize>,
    pub(crate) plan: Plan,
    pub(crate) picks: Vec<usize>,
    pub(crate) log: Vec<String>,
    pub(crate) holders: Vec<Option<usize>>,
    /// What each model lock protects, for messages.
    pub(crate) lock_names: Vec<String>,
    pub(crate) failure: Option<String>,
    pub(crate) abort: bool,
}

/// The scheduler of one model run: it lets exactly one thread run at a time.
pub struct Sched {
    state: Mutex<State>,
    changed: Condvar,
    threads: usize,
}

/// The payload of the panic that pulls a thread out of an aborted run.
pub(crate) struct Aborted;

/// Longest a thread may run between two steps before the run is abandoned.
const STALL: Duration = Duration::from_secs(10);
/// Most steps in one run (an endless loop is a failure, not a hang).
const MAX_STEPS: usize = 5_000;

impl Sched {
    pub(crate) fn new(threads: usize, locks: usize, plan: Plan) -> Arc<Sched> {
        Arc::new(Sched {
            state: Mutex::new(State {
                ids: Vec::new(),
                status: vec![Status::Starting; threads],
                turn: None,
                plan,
                picks: Vec::new(),
                log: Vec::new(),
                holders: vec![None; locks],
                lock_names: (0..locks).map(|i| format!("lock {i}")).collect(),
                failure: None,
                abort: false,
            }),
            changed: Condvar::new(),
            threads,
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn me(st: &State) -> usize {
        let id = std::thread::current().id();
        st.ids.iter().position(|&t| t == id).expect("a model object was used outside its model run")
    }

    pub(crate) fn fail(&self, st: &mut State, why: String) {
        st.failure.get_or_insert(why);
        st.abort = true;
        self.changed.notify_all();
    }

    /// Chooses the next thread among the ready ones.
    pub(crate) fn pick(&self, st: &mut State) {
        let ready: Vec<usize> = (0..self.threads).filter(|&t| st.status[t] == Status::Ready).collect();
        if ready.is_empty() {
            st.turn = None;
            if st.status.iter().any(|s| matches!(s, Status::Blocked(_))) {
                let stuck: Vec<String> = (0..self.threads)
                    .filter_map(|t| match st.status[t] {
                        Status::Blocked(l) => Some(format!(
                            "T{t} waits for {} (held by T{})",
                            st.lock_names[l],
                            st.holders[l].map_or("?".into(), |h| h.to_string())
                        )),
                        _ => None,
                    })
                    .collect();
                self.fail(st, format!("deadlock: {}", stuck.join(", ")));
            }
            self.changed.notify_all();
            return;
        }
        if st.picks.len() >= MAX_STEPS {
            self.fail(st, format!("more than {MAX_STEPS} steps: is there an endless loop?"));
            return;
        }
        let step = st.picks.len();
        let next = match &mut st.plan {
            Plan::Random(rng) => ready[rng.below(ready.len() as u64) as usize],
            Plan::Replay(plan) => match plan.get(step) {
                Some(&t) if ready.contains(&t) => t,
                Some(&t) => {
                    let why = format!(
                        "the schedule says T{t} takes step {}, but T{t} cannot run then (ready: {})",
                        step + 1,
                        ready.iter().map(|r| format!("T{r}")).collect::<Vec<_>>().join(", ")
                    );
                    self.fail(st, why);
                    return;
                }
                None => ready[0], // past the end of the schedule: the lowest ready thread
            },
        };
        st.picks.push(next);
        st.turn = Some(next);
        self.changed.notify_all();
    }

    /// Waits until it is `me`'s turn (or the run is aborted).
    pub(crate) fn wait_turn<'a>(&'a self, mut st: MutexGuard<'a, State>, me: usize) -> MutexGuard<'a, State> {
        let mut since = Instant::now();
        let mut last = st.picks.len();
        loop {
            if st.abort {
                drop(st);
                std::panic::panic_any(Aborted);
            }
            if st.turn == Some(me) {
                return st;
            }
            let (next, _) = self.changed.wait_timeout(st, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner());
            st = next;
            if st.picks.len() != last {
                last = st.picks.len();
                since = Instant::now();
            } else if since.elapsed() > STALL && !st.abort {
                let who = st.turn.map_or("no thread".to_string(), |t| format!("T{t}"));
                let why = format!(
                    "{who} did not reach its next step within {} s: is it blocked on something the explorer cannot see (a std Mutex, a sleep, a channel)? Use the model's own lock.",
                    STALL.as_secs()
                );
                self.fail(&mut st, why);
            }
        }
    }

    /// Marks `me` as stopped in `status`, gives up the turn if it had it,
    /// and lets the scheduler choose once every thread has stopped somewhere.
    pub(crate) fn stop(&self, st: &mut State, me: usize, status: Status) {
        st.status[me] = status;
        if st.turn == Some(me) {
            st.turn = None;
        }
        if st.turn.is_none() && !st.status.contains(&Status::Starting) {
            self.pick(st);
        }
    }

    /// The start of a step: stop, let the scheduler choose, go on when chosen.
    /// Returns the caller's thread number and the state, locked, for the step.
    /// So a schedule lists, step by step, which thread takes it.
    pub(crate) fn step(&self) -> (usize, MutexGuard<'_, State>) {
        let mut st = self.state();
        let me = Self::me(&st);
        self.stop(&mut st, me, Status::Ready);
        let st = self.wait_turn(st, me);
        (me, st)
    }

    /// Does `act` as one step of `sched`'s schedule (waiting for this
    /// thread's turn first) and logs what it did; without a scheduler
    /// (a plain run) just does it.
    pub(crate) fn logged<R>(sched: Option<&Sched>, act: impl FnOnce() -> R, say: impl FnOnce(&R) -> String) -> R {
        match sched {
            Some(sched) => {
                let (me, mut st) = sched.step();
                let r = act();
                st.log.push(format!("T{me} {}", say(&r)));
                r
            }
            None => act(),
        }
    }

    pub(crate) fn lock(&self, id: usize, what: &str) {
        loop {
            let (me, mut st) = self.step();
            st.lock_names[id] = what.to_string();
            match st.holders[id] {
                None => {
                    st.holders[id] = Some(me);
                    st.log.push(format!("T{me} locks {what}"));
                    return;
                }
                Some(h) => {
                    st.log.push(format!("T{me} wants {what}, held by T{h}: waits"));
                    self.stop(&mut st, me, Status::Blocked(id));
                    // Made ready again by the unlock; then try again from the top.
                    drop(self.wait_turn(st, me));
                }
            }
        }
    }

    pub(crate) fn unlock(&self, id: usize, what: &str) {
        let mut st = self.state();
        let me = Self::me(&st);
        st.holders[id] = None;
        if !st.abort {
            st.log.push(format!("T{me} unlocks {what}"));
        }
        for s in st.status.iter_mut() {
            if *s == Status::Blocked(id) {
                *s = Status::Ready;
            }
        }
    }
}

/// The outcome of one model run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    /// Which thread took each step: replay it with the same list.
    pub schedule: Vec<usize>,
    /// Every step, in order ("T0 reads the counter: 0").
    pub steps: Vec<String>,
    /// `Err(what went wrong)` if the invariant broke, it deadlocked, or it stalled.
    pub outcome: Result<String, String>,
}

impl Run {
    /// The schedule as text, e.g. `[0, 1, 1, 0]`.
    pub fn schedule_text(&self) -> String {
        format!("{:?}", self.schedule)
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "  {:>2}. {s}", i + 1)?;
        }
        match &self.outcome {
            Ok(what) => write!(f, "  result: {what}"),
            Err(why) => write!(f, "  result: {why}"),
        }?;
        write!(f, "\n  schedule: {}", self.schedule_text())
    }
}

/// Runs `body(thread, &shared)` on `threads` threads under `plan`, then
/// `check(&shared)`.
pub(crate) fn run_model<S: Sync>(
    threads: usize,
    plan: Plan,
    make: &dyn Fn(Arc<Sched>) -> S,
    body: &(dyn Fn(usize, &S) + Sync),
    check: &dyn Fn(&S) -> Result<String, String>,
    locks: usize,
) -> Run {
    let sched = Sched::new(threads, locks, plan);
    let shared = make(sched.clone());
    let mut learner_panic: Option<Box<dyn std::any::Any + Send>> = None;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (sched, shared) = (&sched, &shared);
                let h = s.spawn(move || {
                    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        // Wait until every thread is registered, then run
                        // freely up to the first step.
                        let mut st = sched.state();
                        while st.ids.len() < sched.threads {
                            st = sched.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                        }
                        drop(st);
                        body(t, shared);
                        let mut st = sched.state();
                        sched.stop(&mut st, t, Status::Done);
                    }));
                    if let Err(payload) = &out {
                        if !payload.is::<Aborted>() {
                            // Stop the others now: they may be waiting for this thread.
                            let msg = exercise::panic_message(payload.as_ref());
                            let mut st = sched.state();
                            if !exercise::is_todo(payload.as_ref()) {
                                st.log.push(format!("T{t} panicked: {msg}"));
                            }
                            sched.fail(&mut st, format!("T{t} panicked: {msg}"));
                        }
                    }
                    out
                });
                (t, h)
            })
            .collect();
        {
            let mut st = sched.state();
            st.ids = handles.iter().map(|(_, h)| h.thread().id()).collect();
            sched.changed.notify_all();
        }
        for (_, h) in handles {
            if let Ok(Err(payload)) = h.join() {
                if exercise::is_todo(payload.as_ref()) {
                    learner_panic.get_or_insert(payload);
                }
            }
        }
    });
    if let Some(payload) = learner_panic {
        std::panic::resume_unwind(payload);
    }
    let st = sched.state();
    let (schedule, steps, failure) = (st.picks.clone(), st.log.clone(), st.failure.clone());
    drop(st);
    let outcome = match failure {
        Some(why) => Err(why),
        None => check(&shared),
    };
    Run { schedule, steps, outcome }
}

/// What a search over many schedules found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Search {
    /// Schedules tried.
    pub tried: usize,
    /// Distinct interleavings among them.
    pub distinct: usize,
    /// The first failing run, if any.
    pub failure: Option<Run>,
}

impl fmt::Display for Search {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "no failure in {} random schedules ({} distinct interleaving(s))", self.tried, self.distinct),
            Some(run) => write!(
                f,
                "failure found after {} schedule(s) ({} distinct interleaving(s) tried); the interleaving that broke it:\n{run}",
                self.tried, self.distinct
            ),
        }
    }
}

/// Runs `run_one` under `schedules` random schedules (seeds 1, 2, ...) and
/// stops at the first failure.
pub(crate) fn search(schedules: usize, run_one: &dyn Fn(Plan) -> Run) -> Search {
    let mut seen = HashSet::new();
    for seed in 1..=schedules {
        let run = run_one(Plan::Random(Rng::new(seed as u64)));
        seen.insert(run.schedule.clone());
        if run.outcome.is_err() {
            return Search { tried: seed, distinct: seen.len(), failure: Some(run) };
        }
    }
    Search { tried: schedules, distinct: seen.len(), failure: None }
}

