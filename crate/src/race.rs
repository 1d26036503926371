//! Finding race conditions by exploring schedules (chapter 14).
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
//! The model's shared objects ([`Counter`], [`Bank`]) carry the scheduler
//! with them and find the calling thread by its `ThreadId`, so learner code
//! written in one notebook cell and checked in another shares no hidden
//! global state.

use crate::exercise::{self, Verdict};
use crate::workload::Rng;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    /// Not yet at its first step (threads start freely, then stop there).
    Starting,
    /// Stopped before its next step, ready to take it.
    Ready,
    /// Waiting for model lock number `.0`.
    Blocked(usize),
    Done,
}

/// How the next thread is chosen.
enum Plan {
    Random(Rng),
    Replay(Vec<usize>),
}

struct State {
    ids: Vec<ThreadId>,
    status: Vec<Status>,
    turn: Option<usize>,
    plan: Plan,
    picks: Vec<usize>,
    log: Vec<String>,
    holders: Vec<Option<usize>>,
    /// What each model lock protects, for messages.
    lock_names: Vec<String>,
    failure: Option<String>,
    abort: bool,
}

/// The scheduler of one model run: it lets exactly one thread run at a time.
pub struct Sched {
    state: Mutex<State>,
    changed: Condvar,
    threads: usize,
}

/// The payload of the panic that pulls a thread out of an aborted run.
struct Aborted;

/// Longest a thread may run between two steps before the run is abandoned.
const STALL: Duration = Duration::from_secs(2);
/// Most steps in one run (an endless loop is a failure, not a hang).
const MAX_STEPS: usize = 5_000;

impl Sched {
    fn new(threads: usize, locks: usize, plan: Plan) -> Arc<Sched> {
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

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn me(st: &State) -> usize {
        let id = std::thread::current().id();
        st.ids.iter().position(|&t| t == id).expect("a model object was used outside its model run")
    }

    fn fail(&self, st: &mut State, why: String) {
        st.failure.get_or_insert(why);
        st.abort = true;
        self.changed.notify_all();
    }

    /// Chooses the next thread among the ready ones.
    fn pick(&self, st: &mut State) {
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
    fn wait_turn<'a>(&'a self, mut st: MutexGuard<'a, State>, me: usize) -> MutexGuard<'a, State> {
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
    fn stop(&self, st: &mut State, me: usize, status: Status) {
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
    fn step(&self) -> (usize, MutexGuard<'_, State>) {
        let mut st = self.state();
        let me = Self::me(&st);
        self.stop(&mut st, me, Status::Ready);
        let st = self.wait_turn(st, me);
        (me, st)
    }

    fn lock(&self, id: usize, what: &str) {
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

    fn unlock(&self, id: usize, what: &str) {
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
fn run_model<S: Sync>(
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
fn search(schedules: usize, run_one: &dyn Fn(Plan) -> Run) -> Search {
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

/// A shared counter in the model: every `load`, `store` and `lock` is a step
/// the explorer interleaves.
pub struct Counter {
    sched: Arc<Sched>,
    value: AtomicI64,
}

impl Counter {
    /// Reads the counter (one step).
    pub fn load(&self) -> i64 {
        let (me, mut st) = self.sched.step();
        let v = self.value.load(Ordering::SeqCst);
        st.log.push(format!("T{me} reads the counter: {v}"));
        v
    }

    /// Writes the counter (one step).
    pub fn store(&self, v: i64) {
        let (me, mut st) = self.sched.step();
        self.value.store(v, Ordering::SeqCst);
        st.log.push(format!("T{me} writes the counter: {v}"));
    }

    /// Takes the counter's lock (one step, or a wait); released when the
    /// guard drops.
    pub fn lock(&self) -> ModelGuard<'_> {
        self.sched.lock(0, "the counter's lock");
        ModelGuard { sched: &self.sched, id: 0, what: "the counter's lock".into() }
    }
}

/// A held model lock.
pub struct ModelGuard<'a> {
    sched: &'a Sched,
    id: usize,
    what: String,
}

impl Drop for ModelGuard<'_> {
    fn drop(&mut self) {
        self.sched.unlock(self.id, &self.what);
    }
}

/// The counter's invariant: every thread's +1 is in it.
fn counter_check(threads: usize, c: &Counter) -> Result<String, String> {
    let v = c.value.load(Ordering::SeqCst);
    if v == threads as i64 {
        Ok(format!("the counter is {v}, as it should be"))
    } else {
        Err(format!("the counter is {v}, but {threads} threads each added 1: {} update(s) lost", threads as i64 - v))
    }
}

fn counter_model(threads: usize, plan: Plan, increment: fn(&Counter)) -> Run {
    run_model(
        threads,
        plan,
        &|sched| Counter { sched, value: AtomicI64::new(0) },
        &|_, c: &Counter| increment(c),
        &|c: &Counter| counter_check(threads, c),
        1,
    )
}

/// Runs `increment` once on each of `threads` threads under `schedules`
/// random schedules, and reports the first that loses an update.
pub fn search_counter(threads: usize, increment: fn(&Counter), schedules: usize) -> Search {
    search(schedules, &|plan| counter_model(threads, plan, increment))
}

/// Replays one schedule of the counter program exactly.
pub fn replay_counter(threads: usize, increment: fn(&Counter), schedule: &[usize]) -> Run {
    counter_model(threads, Plan::Replay(schedule.to_vec()), increment)
}

/// A bank in the model: accounts whose reads and writes are steps, and a
/// lock per account.
pub struct Bank {
    sched: Arc<Sched>,
    balances: Vec<AtomicI64>,
}

impl Bank {
    /// How many accounts there are.
    pub fn accounts(&self) -> usize {
        self.balances.len()
    }

    /// Reads the balance of `account` (one step).
    pub fn balance(&self, account: usize) -> i64 {
        let (me, mut st) = self.sched.step();
        let v = self.balances[account].load(Ordering::SeqCst);
        st.log.push(format!("T{me} reads account {account}: {v}"));
        v
    }

    /// Sets the balance of `account` (one step).
    pub fn set_balance(&self, account: usize, value: i64) {
        let (me, mut st) = self.sched.step();
        self.balances[account].store(value, Ordering::SeqCst);
        st.log.push(format!("T{me} sets account {account} to {value}"));
    }

    /// Takes the lock of `account` (one step, or a wait); released when the
    /// guard drops. Not re-entrant: locking an account twice deadlocks.
    pub fn lock(&self, account: usize) -> ModelGuard<'_> {
        let what = format!("account {account}");
        self.sched.lock(account, &what);
        ModelGuard { sched: &self.sched, id: account, what }
    }

    fn snapshot(&self) -> Vec<i64> {
        self.balances.iter().map(|b| b.load(Ordering::SeqCst)).collect()
    }
}

/// The transfers each judged run makes: (from, to, amount), one per thread.
pub const TRANSFERS: [(usize, usize, i64); 3] = [(0, 1, 70), (1, 0, 40), (0, 2, 60)];
/// The opening balances of the judged bank.
pub const OPENING: [i64; 3] = [100, 50, 0];

fn bank_model(plan: Plan, transfer: fn(&Bank, usize, usize, i64) -> bool) -> Run {
    run_model(
        TRANSFERS.len(),
        plan,
        &|sched| Bank { sched, balances: OPENING.iter().map(|&b| AtomicI64::new(b)).collect() },
        &|t, bank: &Bank| {
            let (from, to, amount) = TRANSFERS[t];
            transfer(bank, from, to, amount);
        },
        &|bank: &Bank| {
            let end = bank.snapshot();
            let (before, after): (i64, i64) = (OPENING.iter().sum(), end.iter().sum());
            if after != before {
                Err(format!("money {}: the accounts held {before} in total and now hold {after} ({end:?})", if after > before { "appeared" } else { "vanished" }))
            } else if let Some(i) = end.iter().position(|&b| b < 0) {
                Err(format!("account {i} is overdrawn: {end:?}"))
            } else {
                Ok(format!("balances {end:?}, total {after}"))
            }
        },
        OPENING.len(),
    )
}

/// Explores `schedules` random schedules of three concurrent transfers.
pub fn search_bank(transfer: fn(&Bank, usize, usize, i64) -> bool, schedules: usize) -> Search {
    search(schedules, &|plan| bank_model(plan, transfer))
}

/// How many schedules the bank judge explores.
const BANK_SCHEDULES: usize = 1500;

/// Exercise "bank_transfer": judges `transfer(bank, from, to, amount)`,
/// which moves `amount` if `from` has enough (returning true) and otherwise
/// changes nothing (returning false).
pub fn judge_bank_transfer(transfer: fn(&Bank, usize, usize, i64) -> bool) -> Verdict {
    exercise::run(Duration::from_secs(60), move || {
        // One thread: does it do the right thing at all?
        let single = |from, to, amount| {
            let result = Mutex::new(None);
            let run = run_model(
                1,
                Plan::Random(Rng::new(1)),
                &|sched| Bank { sched, balances: OPENING.iter().map(|&b| AtomicI64::new(b)).collect() },
                &|_, bank: &Bank| {
                    let ok = transfer(bank, from, to, amount);
                    *result.lock().unwrap_or_else(|e| e.into_inner()) = Some((ok, bank.snapshot()));
                },
                &|_| Ok(String::new()),
                OPENING.len(),
            );
            (result.into_inner().unwrap_or_else(|e| e.into_inner()), run)
        };
        for (from, to, amount) in [(0, 1, 30), (1, 2, 80), (0, 2, 100)] {
            let (result, run) = single(from, to, amount);
            let Some((ok, end)) = result else {
                return Err(format!("transfer({from} -> {to}, {amount}) on one thread did not finish: {}", run.outcome.err().unwrap_or_default()));
            };
            let mut want = OPENING.to_vec();
            let enough = want[from] >= amount;
            if enough {
                want[from] -= amount;
                want[to] += amount;
            }
            if ok != enough || end != want {
                return Err(format!(
                    "on one thread, from balances {OPENING:?}, transfer({from} -> {to}, {amount}) returned {ok} and left {end:?}; expected {enough} and {want:?}"
                ));
            }
        }
        let found = search_bank(transfer, BANK_SCHEDULES);
        match &found.failure {
            Some(run) => Err(format!(
                "three transfers at once, {:?}, from balances {OPENING:?}: {}; replay it with race::replay_bank(transfer, &{})",
                TRANSFERS,
                found,
                run.schedule_text()
            )),
            None => Ok(format!(
                "right on one thread, and three concurrent transfers stayed correct in {} random schedules ({} distinct interleavings): no money created or lost, no overdraft, no deadlock",
                found.tried, found.distinct
            )),
        }
    })
}

/// Replays one schedule of the three judged transfers and shows every step.
pub fn replay_bank(transfer: fn(&Bank, usize, usize, i64) -> bool, schedule: &[usize]) -> Run {
    bank_model(Plan::Replay(schedule.to_vec()), transfer)
}

/// The racy increment of the chapter: a read, then a write.
pub fn racy_increment(c: &Counter) {
    let v = c.load();
    c.store(v + 1);
}

/// Exercise "losing_schedule": judges a schedule in which three threads
/// running [`racy_increment`] leave the counter at 1.
pub fn judge_losing_schedule(f: fn() -> Vec<usize>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let schedule = exercise::call(f).map_err(|m| format!("losing_schedule() panicked: {m}"))?;
        if schedule.iter().any(|&t| t > 2) {
            return Err(format!("{schedule:?} names a thread above 2: the threads are 0, 1 and 2"));
        }
        let run = replay_counter(3, racy_increment, &schedule);
        let value = run.steps.iter().rev().find_map(|s| s.split("writes the counter: ").nth(1)).unwrap_or("0");
        match &run.outcome {
            Err(why) if why.contains("2 update(s) lost") => {
                Ok(format!("with schedule {schedule:?} all three threads read 0 before anyone wrote: the counter ends at 1"))
            }
            Err(why) if why.contains("cannot run") => Err(format!("{why}. What happened:\n{run}")),
            _ => Err(format!("with schedule {schedule:?} the counter ends at {value}, not 1. What happened:\n{run}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked_increment(c: &Counter) {
        let _g = c.lock();
        let v = c.load();
        c.store(v + 1);
    }

    #[test]
    fn the_racy_counter_loses_updates_and_replays_exactly() {
        let found = search_counter(2, racy_increment, 200);
        let run = found.failure.expect("a lost update");
        assert!(run.outcome.as_ref().unwrap_err().contains("1 update(s) lost"));
        let again = replay_counter(2, racy_increment, &run.schedule);
        assert_eq!(again.steps, run.steps);
        assert_eq!(again.schedule, run.schedule);
        let good = replay_counter(2, racy_increment, &[0, 0, 1, 1]);
        assert!(good.outcome.is_ok(), "{good}");
    }

    #[test]
    fn the_locked_counter_never_does() {
        let found = search_counter(3, locked_increment, 300);
        assert!(found.failure.is_none(), "{found}");
        assert!(found.distinct > 1);
    }

    fn racy_transfer(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
        let have = bank.balance(from);
        if have < amount {
            return false;
        }
        bank.set_balance(from, have - amount);
        bank.set_balance(to, bank.balance(to) + amount);
        true
    }

    fn from_then_to(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
        let _a = bank.lock(from);
        let _b = bank.lock(to);
        racy_transfer(bank, from, to, amount)
    }

    fn ordered(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
        let _a = bank.lock(from.min(to));
        let _b = bank.lock(from.max(to));
        racy_transfer(bank, from, to, amount)
    }

    fn std_mutex(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
        static M: Mutex<()> = Mutex::new(());
        let _g = M.lock().unwrap_or_else(|e| e.into_inner());
        racy_transfer(bank, from, to, amount)
    }

    #[test]
    fn bank_judge() {
        let v = judge_bank_transfer(racy_transfer);
        assert!(matches!(&v, Verdict::Failed(m) if m.contains("replay_bank")), "{v}");
        let v = judge_bank_transfer(from_then_to);
        assert!(matches!(&v, Verdict::Failed(m) if m.contains("deadlock")), "{v}");
        assert!(judge_bank_transfer(ordered).passed());
        assert_eq!(judge_bank_transfer(|_, _, _, _| todo!()), Verdict::NotSolved);
    }

    #[test]
    fn a_lock_the_explorer_cannot_see_is_reported() {
        let v = judge_bank_transfer(std_mutex);
        assert!(matches!(&v, Verdict::Failed(m) if m.contains("did not reach its next step")), "{v}");
    }

    #[test]
    fn losing_schedule_judge() {
        assert!(judge_losing_schedule(|| vec![0, 1, 2, 0, 1, 2]).passed());
        let v = judge_losing_schedule(|| vec![0, 0, 1, 1, 2, 2]);
        assert!(matches!(&v, Verdict::Failed(m) if m.contains("ends at 3")), "{v}");
        let v = judge_losing_schedule(|| vec![0, 1, 0, 2, 1, 2]);
        assert!(matches!(&v, Verdict::Failed(m) if m.contains("ends at 2")), "{v}");
        assert_eq!(judge_losing_schedule(|| todo!()), Verdict::NotSolved);
    }
}
