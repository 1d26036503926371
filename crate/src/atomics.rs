//! Atomics and the memory model (chapter 17): counters that lose updates or
//! not, litmus tests run on this machine's hardware beside what the Rust
//! (C++) memory model allows, and the judges of the chapter's exercises.
//!
//! - A *litmus test* is a tiny program of two threads, a few loads and
//!   stores, run many times; what matters is which combinations of values
//!   the loads return (the *outcomes*). The notebook writes the two threads
//!   (they are the lesson); [`litmus`] runs them here on real threads that
//!   meet at a spin barrier before every run ([`SpinBarrier`]: a blocking
//!   barrier wakes one thread microseconds after the other, and the
//!   interesting outcomes need both threads inside the test at once).
//! - The same thread code also runs under a small *model* of the memory
//!   model ([`explore_model`]): every interleaving, and for every load every
//!   store the model lets it read, is tried. That gives what the model
//!   allows, which is more than any one machine shows: x86 keeps stores in
//!   order and loads in order, so some outcomes the model allows never
//!   appear there, and appear on ARM.
//! - [`Atom`] is the `u32` atomic both run on: a plain `AtomicU32` on
//!   hardware, a location of the model under exploration.
//! - The exercises: [`judge_relay_orderings`] (the weakest correct orderings
//!   of a relay of flags, judged by exploring the model, not by x86 luck)
//!   and [`judge_atomic_max`] (a compare-exchange loop on a [`SteppedU64`],
//!   whose operations the schedule explorer of [`crate::explore`]
//!   interleaves, so the lost update is made to happen).
//!
//! The model is small on purpose: each thread has a *view* (for each
//! location, the oldest store it may still read); a load may read any store
//! of that location from its view on (coherence: never one older than what
//! the thread has already seen or written); a Release (or SeqCst) store
//! carries its thread's view along, and an Acquire (or SeqCst) load that
//! reads it takes that view on (this is "synchronises with"); a SeqCst load
//! reads at least the latest SeqCst store of its location (SeqCst accesses
//! keep one total order). Stores take their place in a location's history in
//! the order they run. It finds every outcome of the chapter's tests that
//! the C++ model allows, except those that need a load to read a store that
//! has not run yet (load buffering), which it does not model.

use crate::chart::{self, Chart};
use crate::exercise::{self, Verdict};
use crate::explore::{run_model, search, Plan, Run, Sched, Search};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

// --- counters ------------------------------------------------------------------

/// A way of adding 1 to a shared count from many threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Increment {
    /// `let v = n.load(Relaxed); n.store(v + 1, Relaxed)`: two atomic steps,
    /// with room for another thread's update between them.
    LoadThenStore,
    /// `n.fetch_add(1, Relaxed)`: one indivisible read-modify-write.
    FetchAdd,
    /// `list.lock().unwrap().push(i)`: the whole change under a lock; the
    /// count is the list's length.
    MutexPush,
}

impl Increment {
    pub const ALL: [Increment; 3] = [Increment::LoadThenStore, Increment::FetchAdd, Increment::MutexPush];

    pub fn name(self) -> &'static str {
        match self {
            Increment::LoadThenStore => "load, then store",
            Increment::FetchAdd => "fetch_add",
            Increment::MutexPush => "Mutex<Vec>::push",
        }
    }
}

/// One run of a counter experiment.
#[derive(Debug, Clone, Serialize)]
pub struct Counted {
    pub increment: Increment,
    pub threads: usize,
    /// What the count should be: threads x increments per thread.
    pub expected: u64,
    /// What it was.
    pub got: u64,
    pub seconds: f64,
}

impl Counted {
    /// Updates lost (0 when exact).
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.got)
    }
}

/// `threads` threads each add 1 `per_thread` times, the way `increment`
/// says, starting together behind a barrier. (Chapter 17 writes these loops
/// in the notebook; this is the same experiment for `atomics_bench`.)
pub fn count(increment: Increment, threads: usize, per_thread: u64) -> Counted {
    let threads = threads.max(1);
    let n = AtomicU64::new(0);
    let list = Mutex::new(Vec::new());
    let start = std::sync::Barrier::new(threads);
    // Each thread's start (after the barrier) and end: the time is from the
    // first start to the last end, whoever happened to be scheduled when.
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (n, list, start) = (&n, &list, &start);
                s.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    for i in 0..per_thread {
                        match increment {
                            Increment::LoadThenStore => {
                                let v = n.load(Ordering::Relaxed);
                                n.store(v + 1, Ordering::Relaxed);
                            }
                            Increment::FetchAdd => {
                                n.fetch_add(1, Ordering::Relaxed);
                            }
                            Increment::MutexPush => list.lock().unwrap_or_else(|e| e.into_inner()).push(i),
                        }
                    }
                    (began, Instant::now())
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let first = spans.iter().map(|s| s.0).min();
    let last = spans.iter().map(|s| s.1).max();
    let seconds = match (first, last) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let got = match increment {
        Increment::MutexPush => list.into_inner().unwrap_or_else(|e| e.into_inner()).len() as u64,
        _ => n.into_inner(),
    };
    Counted { increment, threads, expected: threads as u64 * per_thread, got, seconds }
}

/// The book's `n += 1` in the real CPython: final counts of `runs` runs of
/// `threads` threads each adding 1 `per_thread` times.
#[derive(Debug, Clone, Serialize)]
pub struct PyIncrements {
    pub python: String,
    pub threads: usize,
    pub per_thread: u64,
    pub finals: Vec<u64>,
}

impl PyIncrements {
    /// Updates lost in each run.
    pub fn lost(&self) -> Vec<u64> {
        let expected = self.threads as u64 * self.per_thread;
        self.finals.iter().map(|f| expected.saturating_sub(*f)).collect()
    }
}

/// Runs the course's `increment.py` (`n += 1` on threads) in `python`.
pub fn python_increments(python: &crate::cpython::Python, threads: usize, per_thread: u64, runs: usize) -> Result<PyIncrements, String> {
    let v = python.run(
        "increment.py",
        &serde_json::json!({"threads": threads, "per_thread": per_thread, "runs": runs}),
        Duration::from_secs(60),
    )?;
    let finals = v["finals"].as_array().map(|a| a.iter().filter_map(|x| x.as_u64()).collect()).ok_or_else(|| format!("increment.py gave no counts: {v}"))?;
    Ok(PyIncrements { python: python.version.clone(), threads, per_thread, finals })
}

// --- orderings -----------------------------------------------------------------

/// The three strengths a litmus test is run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Orderings {
    /// Every access `Relaxed`: atomic, in one order per location, nothing more.
    Relaxed,
    /// Stores `Release`, loads `Acquire`.
    AcquireRelease,
    /// Every access `SeqCst`.
    SeqCst,
}

impl Orderings {
    pub const ALL: [Orderings; 3] = [Orderings::Relaxed, Orderings::AcquireRelease, Orderings::SeqCst];

    /// The ordering for a store.
    pub fn store(self) -> Ordering {
        match self {
            Orderings::Relaxed => Ordering::Relaxed,
            Orderings::AcquireRelease => Ordering::Release,
            Orderings::SeqCst => Ordering::SeqCst,
        }
    }

    /// The ordering for a load.
    pub fn load(self) -> Ordering {
        match self {
            Orderings::Relaxed => Ordering::Relaxed,
            Orderings::AcquireRelease => Ordering::Acquire,
            Orderings::SeqCst => Ordering::SeqCst,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Orderings::Relaxed => "Relaxed",
            Orderings::AcquireRelease => "Acquire/Release",
            Orderings::SeqCst => "SeqCst",
        }
    }
}

impl fmt::Display for Orderings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn releases(o: Ordering) -> bool {
    matches!(o, Ordering::Release | Ordering::AcqRel | Ordering::SeqCst)
}

fn acquires(o: Ordering) -> bool {
    matches!(o, Ordering::Acquire | Ordering::AcqRel | Ordering::SeqCst)
}

/// Why std would panic on a load with ordering `o`, if it would.
fn bad_load(o: Ordering) -> Option<&'static str> {
    match o {
        Ordering::Release => Some("there is no such thing as a release load"),
        Ordering::AcqRel => Some("there is no such thing as an acquire-release load"),
        _ => None,
    }
}

/// Why std would panic on a store with ordering `o`, if it would.
fn bad_store(o: Ordering) -> Option<&'static str> {
    match o {
        Ordering::Acquire => Some("there is no such thing as an acquire store"),
        Ordering::AcqRel => Some("there is no such thing as an acquire-release store"),
        _ => None,
    }
}

// --- the atomic both worlds run on -------------------------------------------------

/// A `u32` atomic with `load` and `store`, like `AtomicU32`: on hardware it
/// is one (litmus runs), under [`explore_model`] it is a location of the
/// model, whose every access is a step the explorer chooses. Each sits on
/// a cache line of its own, so a litmus test's two locations do not share one.
#[repr(align(64))]
pub struct Atom {
    value: AtomicU32,
    model: Option<(Arc<Explorer>, usize)>,
}

impl Atom {
    /// A plain atomic holding `v`.
    pub fn new(v: u32) -> Atom {
        Atom { value: AtomicU32::new(v), model: None }
    }

    /// Reads the value (`AtomicU32::load`).
    pub fn load(&self, order: Ordering) -> u32 {
        match &self.model {
            None => self.value.load(order),
            Some((ex, loc)) => ex.load(*loc, order),
        }
    }

    /// Writes `v` (`AtomicU32::store`).
    pub fn store(&self, v: u32, order: Ordering) {
        match &self.model {
            None => self.value.store(v, order),
            Some((ex, loc)) => ex.store(*loc, v, order),
        }
    }
}

/// The two shared locations of a litmus test, both 0 at the start.
pub struct Memory {
    pub x: Atom,
    pub y: Atom,
}

/// One thread of a litmus test: what it reads, in order.
pub type Thread = fn(&Memory, Orderings) -> Vec<u32>;

// --- the spin barrier ----------------------------------------------------------

/// A barrier that spins instead of sleeping, so the threads leave it within
/// nanoseconds of each other (a blocking barrier wakes the waiting thread
/// microseconds after the last one arrives: by then the other has finished
/// its few instructions, and the threads never really overlap). After a few
/// thousand spins it yields, so a descheduled partner on a busy machine costs
/// time, not a hang.
pub struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    pub fn new(threads: usize) -> SpinBarrier {
        SpinBarrier { threads: threads.max(1), arrived: AtomicUsize::new(0), generation: AtomicUsize::new(0) }
    }

    /// Waits until all `threads` have called `wait` in this round.
    pub fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < 5_000 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

// --- litmus tests on hardware ------------------------------------------------------

/// Counts of each outcome of one litmus test under one [`Orderings`].
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    pub orderings: Orderings,
    /// Runs made (fewer than asked if the time limit came first).
    pub runs: usize,
    /// outcome (the values read, thread 0's first) -> runs that gave it.
    pub counts: BTreeMap<Vec<u32>, usize>,
    /// The outcomes the model allows under these orderings.
    pub allowed: Vec<Vec<u32>>,
}

impl Observed {
    /// Runs that gave `outcome`.
    pub fn seen(&self, outcome: &[u32]) -> usize {
        self.counts.get(outcome).copied().unwrap_or(0)
    }

    /// Whether the model allows `outcome`.
    pub fn allows(&self, outcome: &[u32]) -> bool {
        self.allowed.iter().any(|o| o == outcome)
    }
}

/// A litmus test run on this machine under each ordering, beside the model.
#[derive(Debug, Clone, Serialize)]
pub struct Litmus {
    pub name: String,
    /// The names of the values read, in outcome order (`r0`, `r1`).
    pub registers: Vec<String>,
    /// The outcome that sequential consistency forbids (the "weak" one).
    pub weak: Vec<u32>,
    pub results: Vec<Observed>,
}

impl Litmus {
    /// Every outcome seen or allowed, in order.
    pub fn outcomes(&self) -> Vec<Vec<u32>> {
        let mut all: Vec<Vec<u32>> =
            self.results.iter().flat_map(|r| r.counts.keys().cloned().chain(r.allowed.iter().cloned())).collect();
        all.push(self.weak.clone());
        all.sort();
        all.dedup();
        all
    }

    /// `r0=0 r1=1`
    pub fn label(&self, outcome: &[u32]) -> String {
        self.registers.iter().zip(outcome).map(|(r, v)| format!("{r}={v}")).collect::<Vec<_>>().join(" ")
    }

    /// The result under `o`.
    pub fn under(&self, o: Orderings) -> Option<&Observed> {
        self.results.iter().find(|r| r.orderings == o)
    }

    /// Bars: for each outcome, how often each ordering gave it.
    pub fn chart(&self) -> Chart {
        let groups: Vec<chart::Group> = self
            .outcomes()
            .iter()
            .map(|o| {
                let mut label = self.label(o);
                if *o == self.weak {
                    label.push_str(" (weak)");
                }
                chart::Group::new(&label, self.results.iter().map(|r| chart::Bar::new(r.orderings.name(), r.seen(o) as f64)).collect())
            })
            .collect();
        let runs = self.results.iter().map(|r| r.runs).min().unwrap_or(0);
        chart::bars(&format!("{}: outcomes in {runs}+ runs per ordering", self.name), "runs", &groups)
    }
}

impl fmt::Display for Litmus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} (runs per ordering: {})", self.name, self.results.iter().map(|r| r.runs.to_string()).collect::<Vec<_>>().join(" / "))?;
        write!(f, "{:<22}", "outcome")?;
        for r in &self.results {
            write!(f, "{:>26}", r.orderings.name())?;
        }
        writeln!(f)?;
        for o in self.outcomes() {
            let mut label = self.label(&o);
            if o == self.weak {
                label.push_str(" (weak)");
            }
            write!(f, "{label:<22}")?;
            for r in &self.results {
                let verdict = if r.allows(&o) { "allowed" } else { "forbidden" };
                write!(f, "{:>26}", format!("{} ({verdict})", r.seen(&o)))?;
            }
            writeln!(f)?;
        }
        write!(f, "(count seen on this machine; in brackets what the memory model says)")
    }
}

/// How long one ordering of a litmus test may run at most.
const LITMUS_TIME: Duration = Duration::from_millis(1500);

/// Runs `t0` and `t1` against each other `runs` times under each of the
/// three [`Orderings`] (at most 1.5 s each), counts the outcomes, and
/// explores the model for what it allows. `registers` names the values
/// the two threads return, in order; `weak` is the outcome that
/// sequential consistency forbids.
pub fn litmus(name: &str, registers: &[&str], weak: &[u32], t0: Thread, t1: Thread, runs: usize) -> Result<Litmus, String> {
    let mut results = Vec::new();
    for o in Orderings::ALL {
        let (runs_made, counts) = run_on_hardware(t0, t1, o, runs)?;
        let allowed = allowed(t0, t1, o)?;
        results.push(Observed { orderings: o, runs: runs_made, counts, allowed });
    }
    Ok(Litmus { name: name.to_string(), registers: registers.iter().map(|r| r.to_string()).collect(), weak: weak.to_vec(), results })
}

/// The outcomes the model allows for `t0` against `t1` under `o`.
pub fn allowed(t0: Thread, t1: Thread, o: Orderings) -> Result<Vec<Vec<u32>>, String> {
    let execs = explore_litmus(t0, t1, o)?;
    let mut outs: Vec<Vec<u32>> = execs.into_iter().map(|e| e.outcome).collect();
    outs.sort();
    outs.dedup();
    Ok(outs)
}

/// Every execution of the model of `t0` against `t1` under `o`.
pub fn explore_litmus(t0: Thread, t1: Thread, o: Orderings) -> Result<Vec<Execution>, String> {
    explore_model(&["x", "y"], &|mut atoms| {
        let y = atoms.pop().unwrap_or_else(|| Atom::new(0));
        let x = atoms.pop().unwrap_or_else(|| Atom::new(0));
        Memory { x, y }
    }, &[&move |m: &Memory| t0(m, o), &move |m: &Memory| t1(m, o)])
}

/// The two threads on two real threads, meeting at a spin barrier before
/// every run; each run has fresh locations (no reset between runs). A panic
/// in either thread ends the runs (the other is not left waiting) and comes
/// back as `Err`.
fn run_on_hardware(t0: Thread, t1: Thread, o: Orderings, runs: usize) -> Result<(usize, BTreeMap<Vec<u32>, usize>), String> {
    let memories: Vec<Memory> = (0..runs).map(|_| Memory { x: Atom::new(0), y: Atom::new(0) }).collect();
    let barrier = SpinBarrier::new(2);
    // The first run not to make: lowered by the time limit or a panic,
    // always before a meeting, and read after it, so both threads agree.
    let last = AtomicUsize::new(runs);
    let deadline = Instant::now() + LITMUS_TIME;
    let panicked = Mutex::new(None);
    let side = |me: usize, body: Thread| {
        let (memories, barrier, last, panicked) = (&memories, &barrier, &last, &panicked);
        move || {
            let mut out = Vec::with_capacity(runs);
            let mut rng: u64 = 0x9E37_79B9_7F4A_7C15 ^ (me as u64 + 1);
            for (i, m) in memories.iter().enumerate() {
                if me == 0 && i % 256 == 0 && Instant::now() > deadline {
                    last.fetch_min(i, Ordering::Relaxed);
                }
                // Both locations into this core's cache before the start: the
                // test's loads then answer at once, while a store must first
                // take the line from the other core (the window that lets
                // store buffering show).
                std::hint::black_box(m.x.value.load(Ordering::Relaxed) + m.y.value.load(Ordering::Relaxed));
                barrier.wait();
                if i >= last.load(Ordering::Relaxed) {
                    break;
                }
                // A random head start of 0 to 255 loop turns (a few ns
                // each) on either side: the thread that leaves the barrier
                // first is usually ahead by a cache miss, and this lets the
                // other one be first too, and sometimes both at once.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let mut delay = rng % 256;
                while std::hint::black_box(delay) > 0 {
                    delay -= 1;
                }
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(m, o))) {
                    Ok(r) => out.push(r),
                    Err(payload) => {
                        last.fetch_min(i + 1, Ordering::Relaxed);
                        let msg = exercise::panic_message(payload.as_ref());
                        panicked.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(format!("thread {me} panicked: {msg}"));
                    }
                }
            }
            out
        }
    };
    let (a, b) = std::thread::scope(|s| {
        let h0 = s.spawn(side(0, t0));
        let h1 = s.spawn(side(1, t1));
        (h0.join().unwrap_or_default(), h1.join().unwrap_or_default())
    });
    if let Some(why) = panicked.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(why);
    }
    let mut counts = BTreeMap::new();
    for (r0, r1) in a.into_iter().zip(b) {
        let outcome: Vec<u32> = r0.into_iter().chain(r1).collect();
        *counts.entry(outcome).or_insert(0) += 1;
    }
    Ok((counts.values().sum(), counts))
}

/// The chapter's three litmus tests, as the notebook writes them (the
/// benchmark and the tests run these copies): store buffering, message
/// passing and one variable written by both threads (coherence).
pub mod classic {
    use super::{Memory, Orderings, Thread};
    use std::sync::atomic::Ordering;

    /// Store buffering, thread 0: write x, read y.
    pub fn sb0(m: &Memory, o: Orderings) -> Vec<u32> {
        m.x.store(1, o.store());
        let r0 = m.y.load(o.load());
        vec![r0]
    }
    /// Store buffering, thread 1: write y, read x.
    pub fn sb1(m: &Memory, o: Orderings) -> Vec<u32> {
        m.y.store(1, o.store());
        let r1 = m.x.load(o.load());
        vec![r1]
    }
    /// Message passing, thread 0: the data (x), then the flag (y).
    pub fn mp0(m: &Memory, o: Orderings) -> Vec<u32> {
        m.x.store(1, Ordering::Relaxed);
        m.y.store(1, o.store());
        vec![]
    }
    /// Message passing, thread 1: the flag, then the data.
    pub fn mp1(m: &Memory, o: Orderings) -> Vec<u32> {
        let flag = m.y.load(o.load());
        let data = m.x.load(Ordering::Relaxed);
        vec![flag, data]
    }
    /// One variable, thread 0: write 1 to x, read x.
    pub fn co0(m: &Memory, o: Orderings) -> Vec<u32> {
        m.x.store(1, o.store());
        let r0 = m.x.load(o.load());
        vec![r0]
    }
    /// One variable, thread 1: write 2 to x, read x.
    pub fn co1(m: &Memory, o: Orderings) -> Vec<u32> {
        m.x.store(2, o.store());
        let r1 = m.x.load(o.load());
        vec![r1]
    }

    /// (name, register names, the weak outcome, thread 0, thread 1)
    pub type Test = (&'static str, [&'static str; 2], [u32; 2], Thread, Thread);

    /// The three tests.
    pub const ALL: [Test; 3] = [
        ("store buffering", ["r0", "r1"], [0, 0], sb0, sb1),
        ("message passing", ["flag", "data"], [1, 0], mp0, mp1),
        ("one variable", ["r0", "r1"], [2, 1], co0, co1),
    ];
}

// --- the model explorer ------------------------------------------------------------

/// One execution of a model program.
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    /// What the threads returned, thread 0's values first.
    pub outcome: Vec<u32>,
    /// Each thread's values.
    pub per_thread: Vec<Vec<u32>>,
    /// Every access, in the order the explorer ran them.
    pub steps: Vec<String>,
}

impl fmt::Display for Execution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "  {:>2}. {s}", i + 1)?;
        }
        write!(f, "  outcome: {:?}", self.outcome)
    }
}

/// One store in a location's history.
#[derive(Clone)]
struct Message {
    value: u32,
    /// The storing thread's view, for a Release or SeqCst store.
    view: Option<Vec<usize>>,
    /// Who stored it (None: the initial value).
    by: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Status {
    Starting,
    Running,
    Waiting,
    Done,
}

struct State {
    ids: Vec<ThreadId>,
    status: Vec<Status>,
    turn: Option<usize>,
    /// Choices to replay, then 0s.
    prefix: Vec<usize>,
    /// Choices made: (chosen, how many there were).
    made: Vec<(usize, usize)>,
    names: Vec<String>,
    history: Vec<Vec<Message>>,
    /// views[thread][location]: the oldest store it may read there.
    views: Vec<Vec<usize>>,
    /// The latest SeqCst store of each location.
    sc: Vec<usize>,
    log: Vec<String>,
    failure: Option<String>,
}

/// Runs the threads of one model execution one access at a time.
pub struct Explorer {
    state: Mutex<State>,
    changed: Condvar,
}

/// The payload that pulls a thread out of an abandoned execution.
struct Abandoned;

/// Longest a thread may run between two accesses before the execution is abandoned.
const STALL: Duration = Duration::from_secs(10);
/// Most executions explored for one program.
const MAX_EXECUTIONS: usize = 20_000;

impl Explorer {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn me(st: &State) -> usize {
        let id = std::thread::current().id();
        st.ids.iter().position(|&t| t == id).expect("a model Atom was used outside its exploration")
    }

    fn choose(st: &mut State, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let i = st.made.len();
        let c = st.prefix.get(i).copied().unwrap_or(0).min(n - 1);
        st.made.push((c, n));
        c
    }

    /// If no thread is running, lets the explorer choose who goes next.
    fn pick(&self, st: &mut State) {
        if st.turn.is_some() || st.status.iter().any(|s| matches!(s, Status::Starting | Status::Running)) {
            return;
        }
        let waiting: Vec<usize> = (0..st.status.len()).filter(|&t| st.status[t] == Status::Waiting).collect();
        if !waiting.is_empty() {
            let c = Self::choose(st, waiting.len());
            st.turn = Some(waiting[c]);
        }
        self.changed.notify_all();
    }

    /// Stops the calling thread before an access until it is chosen, then
    /// runs `access` on the model's state.
    fn access<T>(&self, access: impl FnOnce(&mut State, usize) -> T) -> T {
        let mut st = self.state();
        let me = Self::me(&st);
        st.status[me] = Status::Waiting;
        self.pick(&mut st);
        let mut since = Instant::now();
        while st.turn != Some(me) {
            if st.failure.is_some() {
                drop(st);
                std::panic::panic_any(Abandoned);
            }
            st = self.changed.wait_timeout(st, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
            if since.elapsed() > STALL && st.failure.is_none() {
                st.failure = Some(format!("a thread did not reach its next access within {} s", STALL.as_secs()));
                self.changed.notify_all();
            }
            if st.turn.is_some() {
                since = Instant::now();
            }
        }
        st.turn = None;
        st.status[me] = Status::Running;
        access(&mut st, me)
    }

    fn load(&self, loc: usize, order: Ordering) -> u32 {
        if let Some(why) = bad_load(order) {
            panic!("{why}");
        }
        self.access(|st, me| {
            let mut from = st.views[me][loc];
            if order == Ordering::SeqCst {
                from = from.max(st.sc[loc]);
            }
            let choices = st.history[loc].len() - from;
            let at = from + Self::choose(st, choices);
            let msg = st.history[loc][at].clone();
            st.views[me][loc] = st.views[me][loc].max(at);
            let mut note = match msg.by {
                None => "the initial value".to_string(),
                Some(t) if t == me => "its own store".to_string(),
                Some(t) => format!("T{t}'s store"),
            };
            if acquires(order) {
                if let Some(view) = &msg.view {
                    for (mine, theirs) in st.views[me].iter_mut().zip(view) {
                        *mine = (*mine).max(*theirs);
                    }
                    note.push_str(", and synchronises with it");
                }
            }
            if choices > 1 {
                note.push_str(&format!("; it could also read {}", others(&st.history[loc][from..], at - from)));
            }
            let line = format!("T{me} loads {} = {} ({order:?}): reads {note}", st.names[loc], msg.value);
            st.log.push(line);
            msg.value
        })
    }

    fn store(&self, loc: usize, value: u32, order: Ordering) {
        if let Some(why) = bad_store(order) {
            panic!("{why}");
        }
        self.access(|st, me| {
            let at = st.history[loc].len();
            st.views[me][loc] = at;
            let view = releases(order).then(|| st.views[me].clone());
            st.history[loc].push(Message { value, view, by: Some(me) });
            if order == Ordering::SeqCst {
                st.sc[loc] = at;
            }
            let line = format!("T{me} stores {} = {value} ({order:?})", st.names[loc]);
            st.log.push(line);
        })
    }
}

/// The values a load could have read instead of the one it read.
fn others(visible: &[Message], chosen: usize) -> String {
    let mut values: Vec<String> = visible.iter().enumerate().filter(|(i, _)| *i != chosen).map(|(_, m)| m.value.to_string()).collect();
    values.dedup();
    values.join(" or ")
}

/// One thread of a model program: what it reads, in order.
pub type ModelThread<M> = dyn Fn(&M) -> Vec<u32> + Sync;

/// Explores every execution of a model program: one thread per entry of
/// `threads`, sharing the memory `make` builds from one [`Atom`] per name
/// in `locations` (all 0 at the start). Every order of the threads'
/// accesses, and for every load every store the model lets it read, is
/// tried once. `Err` if a thread panicked or stalled.
pub fn explore_model<M: Sync>(
    locations: &[&str],
    make: &dyn Fn(Vec<Atom>) -> M,
    threads: &[&ModelThread<M>],
) -> Result<Vec<Execution>, String> {
    let mut executions = Vec::new();
    let mut prefix = Vec::new();
    loop {
        let (exec, made) = explore_once(locations, make, threads, prefix)?;
        executions.push(exec);
        // The next execution: change the last choice that has an untried option.
        let mut made = made;
        loop {
            match made.pop() {
                None => return Ok(executions),
                Some((c, n)) if c + 1 < n => {
                    prefix = made.iter().map(|m| m.0).chain([c + 1]).collect();
                    break;
                }
                Some(_) => {}
            }
        }
        if executions.len() >= MAX_EXECUTIONS {
            return Err(format!("more than {MAX_EXECUTIONS} executions: the program is too big for this explorer"));
        }
    }
}

type Choices = Vec<(usize, usize)>;

fn explore_once<M: Sync>(
    locations: &[&str],
    make: &dyn Fn(Vec<Atom>) -> M,
    threads: &[&ModelThread<M>],
    prefix: Vec<usize>,
) -> Result<(Execution, Choices), String> {
    let n = threads.len();
    let ex = Arc::new(Explorer {
        state: Mutex::new(State {
            ids: Vec::new(),
            status: vec![Status::Starting; n],
            turn: None,
            prefix,
            made: Vec::new(),
            names: locations.iter().map(|s| s.to_string()).collect(),
            history: vec![vec![Message { value: 0, view: None, by: None }]; locations.len()],
            views: vec![vec![0; locations.len()]; n],
            sc: vec![0; locations.len()],
            log: Vec::new(),
            failure: None,
        }),
        changed: Condvar::new(),
    });
    let memory = make((0..locations.len()).map(|loc| Atom { value: AtomicU32::new(0), model: Some((ex.clone(), loc)) }).collect());
    let mut per_thread = vec![Vec::new(); n];
    std::thread::scope(|s| {
        let handles: Vec<_> = threads
            .iter()
            .enumerate()
            .map(|(t, body)| {
                let (ex, memory) = (&ex, &memory);
                s.spawn(move || {
                    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let mut st = ex.state();
                        while st.ids.len() < n {
                            st = ex.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                        }
                        st.status[t] = Status::Running;
                        drop(st);
                        body(memory)
                    }));
                    let mut st = ex.state();
                    st.status[t] = Status::Done;
                    if let Err(payload) = &out {
                        if !payload.is::<Abandoned>() {
                            let msg = exercise::panic_message(payload.as_ref());
                            st.failure.get_or_insert(format!("T{t} panicked: {msg}"));
                        }
                    }
                    ex.pick(&mut st);
                    ex.changed.notify_all();
                    out.unwrap_or_default()
                })
            })
            .collect();
        {
            let mut st = ex.state();
            st.ids = handles.iter().map(|h| h.thread().id()).collect();
            ex.changed.notify_all();
        }
        for (t, h) in handles.into_iter().enumerate() {
            per_thread[t] = h.join().unwrap_or_default();
        }
    });
    let st = ex.state();
    if let Some(why) = &st.failure {
        return Err(why.clone());
    }
    let outcome = per_thread.iter().flatten().copied().collect();
    Ok((Execution { outcome, per_thread, steps: st.log.clone() }, st.made.clone()))
}

// --- exercise: the weakest orderings of a relay ------------------------------------

/// The orderings of the relay (exercise `ch17_relay_orderings`): T0 writes
/// `data` (Relaxed) and raises `ready`; T1, seeing `ready`, raises `go`;
/// T2, seeing `go`, reads `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relay {
    /// T0's store of `ready = 1`.
    pub raise_ready: Ordering,
    /// T1's load of `ready`.
    pub see_ready: Ordering,
    /// T1's store of `go = 1`.
    pub raise_go: Ordering,
    /// T2's load of `go`.
    pub see_go: Ordering,
}

/// The relay's three locations.
pub struct RelayMemory {
    pub data: Atom,
    pub ready: Atom,
    pub go: Atom,
}

/// T0: the data, then the flag.
pub fn relay_producer(m: &RelayMemory, o: Relay) -> Vec<u32> {
    m.data.store(42, Ordering::Relaxed);
    m.ready.store(1, o.raise_ready);
    vec![]
}

/// T1: passes the news on.
pub fn relay_middle(m: &RelayMemory, o: Relay) -> Vec<u32> {
    if m.ready.load(o.see_ready) == 1 {
        m.go.store(1, o.raise_go);
    }
    vec![]
}

/// T2: reads the data once it sees `go` (returns it; nothing if not yet).
pub fn relay_consumer(m: &RelayMemory, o: Relay) -> Vec<u32> {
    if m.go.load(o.see_go) == 1 {
        vec![m.data.load(Ordering::Relaxed)]
    } else {
        vec![]
    }
}

/// Every execution of the relay under `o`.
pub fn explore_relay(o: Relay) -> Result<Vec<Execution>, String> {
    explore_model(
        &["data", "ready", "go"],
        &|mut atoms| {
            let go = atoms.pop().unwrap_or_else(|| Atom::new(0));
            let ready = atoms.pop().unwrap_or_else(|| Atom::new(0));
            let data = atoms.pop().unwrap_or_else(|| Atom::new(0));
            RelayMemory { data, ready, go }
        },
        &[&move |m: &RelayMemory| relay_producer(m, o), &move |m: &RelayMemory| relay_middle(m, o), &move |m: &RelayMemory| relay_consumer(m, o)],
    )
}

/// The first execution of the relay under `o` in which T2 sees `go` and
/// then reads stale data; how many executions there were.
fn relay_breaks(o: Relay) -> Result<(Option<Execution>, usize), String> {
    let all = explore_relay(o)?;
    let n = all.len();
    Ok((all.into_iter().find(|e| e.per_thread[2].first().is_some_and(|&d| d != 42)), n))
}

fn fields(o: Relay) -> [(&'static str, bool, Ordering); 4] {
    // (name, is a store, ordering)
    [("raise_ready", true, o.raise_ready), ("see_ready", false, o.see_ready), ("raise_go", true, o.raise_go), ("see_go", false, o.see_go)]
}

fn with_field(mut o: Relay, i: usize, v: Ordering) -> Relay {
    match i {
        0 => o.raise_ready = v,
        1 => o.see_ready = v,
        2 => o.raise_go = v,
        _ => o.see_go = v,
    }
    o
}

/// The orderings one step weaker than `o` for a store or a load.
fn weaker(store: bool, o: Ordering) -> Option<Ordering> {
    match (store, o) {
        (_, Ordering::SeqCst) => Some(if store { Ordering::Release } else { Ordering::Acquire }),
        (true, Ordering::Release) | (false, Ordering::Acquire) => Some(Ordering::Relaxed),
        _ => None,
    }
}

/// Exercise "relay_orderings": judges the four orderings of the relay,
/// by exploring every execution of the model (not by running it on x86,
/// which would pass almost anything). Right means: in no execution does T2
/// see `go = 1` and then read `data` other than 42; weakest means: making
/// any one of the four weaker (SeqCst to Release/Acquire, those to Relaxed)
/// lets some execution read stale data.
pub fn judge_relay_orderings(f: fn() -> Relay) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let o = exercise::call(f).map_err(|m| format!("relay_orderings() panicked: {m}"))?;
        for (name, store, ord) in fields(o) {
            let bad = if store { bad_store(ord) } else { bad_load(ord) };
            if let Some(why) = bad {
                let kind = if store { "a store" } else { "a load" };
                return Err(format!("{name} is {kind}, and {kind} cannot be {ord:?}: std panics with \"{why}\""));
            }
        }
        let (broken, n) = relay_breaks(o)?;
        if let Some(exec) = broken {
            let links: Vec<String> = [("ready", o.raise_ready, o.see_ready, "T0", "T1"), ("go", o.raise_go, o.see_go, "T1", "T2")]
                .iter()
                .filter(|(_, s, l, _, _)| !(releases(*s) && acquires(*l)))
                .map(|(flag, s, l, a, b)| format!("`{flag}` ({a}'s {s:?} store read by {b}'s {l:?} load does not synchronise)"))
                .collect();
            return Err(format!(
                "{o:?}: T2 saw go = 1 and still read data = {}, in this execution (one of {n} the model allows):\n{exec}\n\
                 The chain from T0's write of data to T2's read is broken at {}. (On x86 this never shows: there, every \
                 store releases and every load acquires.)",
                exec.per_thread[2][0],
                links.join(" and ")
            ));
        }
        for (i, (name, store, ord)) in fields(o).into_iter().enumerate() {
            if let Some(w) = weaker(store, ord) {
                if relay_breaks(with_field(o, i, w))?.0.is_none() {
                    return Err(format!(
                        "{o:?} is correct (in all {n} executions of the model, T2 read 42 whenever it saw go), but not the weakest: \
                         {name} could be {w:?}, and the model still finds no execution that reads stale data"
                    ));
                }
            }
        }
        Ok(format!(
            "correct in all {n} executions of the model, and each ordering is needed: making any one of them weaker lets T2 read stale data"
        ))
    })
}

// --- exercise: an atomic maximum --------------------------------------------------

/// A shared `u64` whose every operation is one step of the schedule
/// explorer ([`crate::explore`]): the judge of `ch17_atomic_max` chooses the
/// order in which threads' operations happen. It has `load`, `store` and
/// `compare_exchange`, nothing else (no `fetch_max`).
pub struct SteppedU64 {
    sched: Arc<Sched>,
    value: AtomicU64,
}

impl SteppedU64 {
    /// Reads the value (one step).
    pub fn load(&self) -> u64 {
        let (me, mut st) = self.sched.step();
        let v = self.value.load(Ordering::SeqCst);
        st.log.push(format!("T{me} loads {v}"));
        v
    }

    /// Writes `v` (one step).
    pub fn store(&self, v: u64) {
        let (me, mut st) = self.sched.step();
        self.value.store(v, Ordering::SeqCst);
        st.log.push(format!("T{me} stores {v}"));
    }

    /// If the value is `current`, replaces it with `new` and returns
    /// `Ok(current)`; otherwise changes nothing and returns `Err(actual
    /// value)`. One indivisible step, like `AtomicU64::compare_exchange`.
    pub fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64> {
        let (me, mut st) = self.sched.step();
        let r = self.value.compare_exchange(current, new, Ordering::SeqCst, Ordering::SeqCst);
        match r {
            Ok(_) => st.log.push(format!("T{me} compare_exchange({current}, {new}): it was {current}, now {new}")),
            Err(actual) => st.log.push(format!("T{me} compare_exchange({current}, {new}): fails, it is {actual}")),
        }
        r
    }
}

/// Runs `record(best, value)` on one thread per entry of `values`, from
/// `start`, under `plan`; the run fails unless the end value is the maximum.
fn max_model(start: u64, values: &[u64], plan: Plan, record: fn(&SteppedU64, u64)) -> Run {
    let want = values.iter().copied().fold(start, u64::max);
    run_model(
        values.len(),
        plan,
        &|sched| SteppedU64 { sched, value: AtomicU64::new(start) },
        &|t, best: &SteppedU64| record(best, values[t]),
        &|best: &SteppedU64| {
            let v = best.value.load(Ordering::SeqCst);
            if v == want {
                Ok(format!("the maximum is {v}, as it should be"))
            } else {
                Err(format!("the value ends as {v}, but the maximum of {start} and {values:?} is {want}"))
            }
        },
        0,
    )
}

/// Explores `schedules` random schedules (seeds 1, 2, ...) of
/// `record_max` run by one thread per value, from `start`.
pub fn search_max(start: u64, values: &[u64], record: fn(&SteppedU64, u64), schedules: usize) -> Search {
    search(schedules, &|plan| max_model(start, values, plan, record))
}

/// Replays one schedule of `record_max` exactly and shows every step.
pub fn replay_max(start: u64, values: &[u64], record: fn(&SteppedU64, u64), schedule: &[usize]) -> Run {
    max_model(start, values, Plan::Replay(schedule.to_vec()), record)
}

/// A run as text, its middle left out when it is long (an endless loop).
pub(crate) fn brief(run: &Run) -> String {
    if run.steps.len() <= 40 {
        return run.to_string();
    }
    let mut lines: Vec<String> = run.steps.iter().take(25).enumerate().map(|(i, s)| format!("  {:>2}. {s}", i + 1)).collect();
    lines.push(format!("  ... {} more steps ...", run.steps.len() - 30));
    let n = run.steps.len();
    lines.extend(run.steps.iter().enumerate().skip(n - 5).map(|(i, s)| format!("  {:>2}. {s}", i + 1)));
    let result = match &run.outcome {
        Ok(what) | Err(what) => what,
    };
    lines.push(format!("  result: {result}"));
    lines.join("\n")
}

/// Exercise "atomic_max": judges `record_max(best, value)`, which must
/// leave `best` at the larger of its value and `value`, also when threads
/// race. First alone (from 4: record 3, then 9, then 9, then 0), then two
/// and three threads under explored schedules.
pub fn judge_atomic_max(record: fn(&SteppedU64, u64)) -> Verdict {
    exercise::run(Duration::from_secs(60), move || {
        // One thread, one value after another.
        let mut at = 4;
        for v in [3, 9, 9, 0] {
            let run = replay_max(at, &[v], record, &[]);
            let want = at.max(v);
            if let Err(why) = &run.outcome {
                return Err(format!("on one thread, from {at}, record_max({v}): {why}. What happened:\n{run}"));
            }
            at = want;
        }
        for (start, values, schedules) in [(0u64, vec![5u64, 7], 200), (4, vec![9, 5], 200), (4, vec![5, 9, 7], 600)] {
            let found = search_max(start, &values, record, schedules);
            if let Some(run) = &found.failure {
                let replay = if run.schedule.len() <= 40 {
                    format!("\nReplay it with atomics::replay_max({start}, &{values:?}, record_max, &{})", run.schedule_text())
                } else {
                    String::new()
                };
                return Err(format!(
                    "from {start}, {} threads record {values:?}: failure found after {} schedule(s); the interleaving that broke it:\n{}{replay}",
                    values.len(),
                    found.tried,
                    brief(run)
                ));
            }
        }
        Ok("right on one thread, and the maximum survived every explored schedule of 2 and 3 racing threads (200, 200 and 600 schedules)".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::classic::*;

    #[test]
    fn the_model_allows_what_the_memory_model_allows() {
        let all = |v: &[[u32; 2]]| v.iter().map(|a| a.to_vec()).collect::<Vec<_>>();
        // Store buffering: (0, 0) only without SeqCst.
        assert_eq!(allowed(sb0, sb1, Orderings::Relaxed).unwrap(), all(&[[0, 0], [0, 1], [1, 0], [1, 1]]));
        assert_eq!(allowed(sb0, sb1, Orderings::AcquireRelease).unwrap(), all(&[[0, 0], [0, 1], [1, 0], [1, 1]]));
        assert_eq!(allowed(sb0, sb1, Orderings::SeqCst).unwrap(), all(&[[0, 1], [1, 0], [1, 1]]));
        // Message passing: flag 1, data 0 only under Relaxed.
        assert_eq!(allowed(mp0, mp1, Orderings::Relaxed).unwrap(), all(&[[0, 0], [0, 1], [1, 0], [1, 1]]));
        assert_eq!(allowed(mp0, mp1, Orderings::AcquireRelease).unwrap(), all(&[[0, 0], [0, 1], [1, 1]]));
        assert_eq!(allowed(mp0, mp1, Orderings::SeqCst).unwrap(), all(&[[0, 0], [0, 1], [1, 1]]));
        // One location: never (2, 1), whatever the ordering.
        for o in Orderings::ALL {
            assert_eq!(allowed(co0, co1, o).unwrap(), all(&[[1, 1], [1, 2], [2, 2]]), "{o}");
        }
    }

    #[test]
    fn the_hardware_runs_count_every_run_and_never_show_a_forbidden_outcome() {
        let r = litmus("message passing", &["flag", "data"], &[1, 0], mp0, mp1, 2_000).unwrap();
        for o in &r.results {
            assert_eq!(o.counts.values().sum::<usize>(), o.runs);
            assert!(o.runs > 0);
            // A forbidden outcome seen would be a bug in the runner (or the CPU).
            for outcome in o.counts.keys() {
                assert!(o.allows(outcome), "{o:?}");
            }
        }
        assert!(r.to_string().contains("flag=1 data=0 (weak)"));
        assert!(r.chart().svg().contains("<svg"));
    }

    #[test]
    fn an_explored_load_names_what_else_it_could_read() {
        let execs = explore_litmus(mp0, mp1, Orderings::Relaxed).unwrap();
        let weak = execs.iter().find(|e| e.outcome == [1, 0]).unwrap();
        assert!(weak.to_string().contains("T1 loads x = 0 (Relaxed): reads the initial value; it could also read 1"), "{weak}");
        let sync = explore_litmus(mp0, mp1, Orderings::AcquireRelease).unwrap();
        assert!(sync.iter().any(|e| e.steps.iter().any(|s| s.contains("synchronises with it"))));
    }

    #[test]
    fn a_panicking_thread_is_reported() {
        fn boom(_: &Memory, _: Orderings) -> Vec<u32> {
            panic!("boom")
        }
        let err = exercise::quietly(|| allowed(sb0, boom, Orderings::Relaxed)).unwrap().unwrap_err();
        assert!(err.contains("T1 panicked: boom"), "{err}");
        let err = exercise::quietly(|| allowed(sb0, |m, _| { m.x.store(1, Ordering::Acquire); vec![] }, Orderings::Relaxed)).unwrap().unwrap_err();
        assert!(err.contains("acquire store"), "{err}");
    }

    #[test]
    fn counters() {
        for inc in Increment::ALL {
            let c = count(inc, 2, 1000);
            assert_eq!(c.expected, 2000);
            if inc != Increment::LoadThenStore {
                assert_eq!(c.got, 2000, "{inc:?}");
            }
            assert!(c.got <= 2000);
        }
    }

    #[test]
    fn the_racy_max_is_caught_and_replays() {
        fn racy(best: &SteppedU64, v: u64) {
            if best.load() < v {
                best.store(v);
            }
        }
        let found = search_max(4, &[9, 5], racy, 200);
        let run = found.failure.expect("a lost maximum");
        let again = replay_max(4, &[9, 5], racy, &run.schedule);
        assert_eq!(again.steps, run.steps);
    }

    #[test]
    fn judges_say_not_solved_for_todo() {
        assert_eq!(judge_relay_orderings(|| todo!()), Verdict::NotSolved);
        assert_eq!(judge_atomic_max(|_, _| todo!()), Verdict::NotSolved);
    }
}
