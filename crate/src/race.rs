//! Race conditions in models whose schedules are explored (chapter 14): a
//! shared counter that loses updates and a bank whose transfers race, with
//! the judges of the chapter's exercises. The explorer that runs them is
//! [`crate::explore`].
//!
//! The model's shared objects ([`Counter`], [`Bank`]) carry the scheduler
//! with them and find the calling thread by its `ThreadId`, so learner code
//! written in one notebook cell and checked in another shares no hidden
//! global state.

use crate::exercise::{self, Verdict};
use crate::explore::{run_model, search, Plan, Run, Sched, Search};
use crate::workload::Rng;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// The first balance set below zero, as it happened: an overdraft that
    /// a later deposit covers up is still an overdraft.
    overdraft: Mutex<Option<String>>,
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
        if value < 0 {
            let at = st.log.len();
            self.overdraft
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(|| format!("account {account} was overdrawn: T{me} set it to {value} (step {at})"));
        }
    }

    /// A bank with the given opening balances.
    fn with(sched: Arc<Sched>, opening: &[i64]) -> Bank {
        Bank { sched, balances: opening.iter().map(|&b| AtomicI64::new(b)).collect(), overdraft: Mutex::new(None) }
    }

    /// A bank with the judged opening balances.
    fn opening(sched: Arc<Sched>) -> Bank {
        Bank::with(sched, &OPENING)
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
/// Two in opposite directions (a deadlock, if locks are taken from-then-to),
/// two that both draw on account 0 (an overdraft, if the check is stale),
/// and pairs of accounts that overlap in different places, so that no one
/// account is touched by every transfer: locking only one account of each
/// transfer (only `from`, only `to`, only the lower or only the higher)
/// leaves two transfers on the same account unprotected from each other.
pub const TRANSFERS: [(usize, usize, i64); 4] = [(0, 1, 70), (1, 0, 40), (0, 2, 60), (3, 2, 20)];
/// The opening balances of the judged bank.
pub const OPENING: [i64; 4] = [100, 50, 0, 30];

fn bank_model(plan: Plan, transfer: fn(&Bank, usize, usize, i64) -> bool) -> Run {
    transfers_model(&TRANSFERS, &OPENING, plan, transfer)
}

/// Runs one thread per transfer, from `opening`, and checks that no money
/// appeared or vanished and that no account was ever overdrawn.
fn transfers_model(
    transfers: &[(usize, usize, i64)],
    opening: &[i64],
    plan: Plan,
    transfer: fn(&Bank, usize, usize, i64) -> bool,
) -> Run {
    run_model(
        transfers.len(),
        plan,
        &|sched| Bank::with(sched, opening),
        &|t, bank: &Bank| {
            let (from, to, amount) = transfers[t];
            transfer(bank, from, to, amount);
        },
        &|bank: &Bank| {
            let end = bank.snapshot();
            let (before, after): (i64, i64) = (opening.iter().sum(), end.iter().sum());
            if let Some(overdraft) = bank.overdraft.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                Err(format!("{overdraft}; the balances end as {end:?}"))
            } else if after != before {
                Err(format!("money {}: the accounts held {before} in total and now hold {after} ({end:?})", if after > before { "appeared" } else { "vanished" }))
            } else if let Some(i) = end.iter().position(|&b| b < 0) {
                Err(format!("account {i} is overdrawn: {end:?}"))
            } else {
                Ok(format!("balances {end:?}, total {after}"))
            }
        },
        opening.len(),
    )
}

/// Explores `schedules` random schedules of the four concurrent [`TRANSFERS`].
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
                &Bank::opening,
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
                "four transfers at once, {:?}, from balances {OPENING:?}: {}; replay it with race::replay_bank(transfer, &{})",
                TRANSFERS,
                found,
                run.schedule_text()
            )),
            None => Ok(format!(
                "right on one thread, and four concurrent transfers stayed correct in {} random schedules ({} distinct interleavings): no money created or lost, no overdraft, no deadlock",
                found.tried, found.distinct
            )),
        }
    })
}

/// Replays one schedule of the four judged transfers and shows every step.
pub fn replay_bank(transfer: fn(&Bank, usize, usize, i64) -> bool, schedule: &[usize]) -> Run {
    bank_model(Plan::Replay(schedule.to_vec()), transfer)
}

/// The racy increment of the chapter: a read, then a write.
pub fn racy_increment(c: &Counter) {
    let v = c.load();
    c.store(v + 1);
}

/// A transfer that looks careful: the check holds the lock of `from`, and
/// the move holds both locks (lower account first, so no deadlock). Money is
/// never created or lost. But the lock is let go between the check and the
/// move, and the balance that is moved from may no longer be the one checked.
pub fn check_then_transfer(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
    let enough = {
        let _check = bank.lock(from);
        bank.balance(from) >= amount
    }; // the lock of `from` is released here...
    if !enough {
        return false;
    }
    let _first = bank.lock(from.min(to));
    let _second = bank.lock(from.max(to));
    let have = bank.balance(from); // ...so this may be less than what was checked
    bank.set_balance(from, have - amount);
    let there = bank.balance(to);
    bank.set_balance(to, there + amount);
    true
}

/// The two transfers of the breaking-schedule exercise: T0 moves 70 and T1
/// moves 60 out of account 0, which holds 100: one of them must be refused.
pub const TWO_TRANSFERS: [(usize, usize, i64); 2] = [(0, 1, 70), (0, 2, 60)];
/// The opening balances of the breaking-schedule exercise.
pub const TWO_OPENING: [i64; 3] = [100, 0, 0];

/// Replays one schedule of [`TWO_TRANSFERS`] running
/// [`check_then_transfer`], from [`TWO_OPENING`], and shows every step.
/// Past the end of the schedule, the lowest-numbered thread that can run
/// takes each step.
pub fn replay_two(schedule: &[usize]) -> Run {
    transfers_model(&TWO_TRANSFERS, &TWO_OPENING, Plan::Replay(schedule.to_vec()), check_then_transfer)
}

/// How many times a schedule passes the turn from one thread to another.
pub fn switches(schedule: &[usize]) -> usize {
    schedule.windows(2).filter(|w| w[0] != w[1]).count()
}

/// The fewest switches of a breaking schedule of [`check_then_transfer`]:
/// with one switch or none, one transfer runs entirely before the other,
/// and then the second one's check sees the first one's withdrawal.
const FEWEST_SWITCHES: usize = 2;

/// Exercise "breaking_schedule": judges a complete schedule of
/// [`TWO_TRANSFERS`] running [`check_then_transfer`] that overdraws
/// account 0 with the fewest possible switches between the threads.
pub fn judge_breaking_schedule(f: fn() -> Vec<usize>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let schedule = exercise::call(f).map_err(|m| format!("breaking_schedule() panicked: {m}"))?;
        if let Some(&t) = schedule.iter().find(|&&t| t > 1) {
            return Err(format!("{schedule:?} names T{t}, but there are only two threads: T0 (70 to account 1) and T1 (60 to account 2)"));
        }
        let run = replay_two(&schedule);
        if let Err(why) = &run.outcome {
            if why.contains("cannot run") {
                return Err(format!("{why}. What happened:\n{run}"));
            }
        }
        if run.schedule.len() > schedule.len() {
            // Show only the steps the learner's schedule chose, not the completion.
            let shown: Vec<String> =
                run.steps.iter().filter(|s| s.starts_with('T')).take(schedule.len()).cloned().collect();
            return Err(format!(
                "{schedule:?} lists {} step(s), but the two transfers take {} in this run: list every step, so that \
                 the schedule alone decides the outcome. Your steps:\n  {}",
                schedule.len(),
                run.schedule.len(),
                shown.join("\n  ")
            ));
        }
        match &run.outcome {
            Ok(what) => Err(format!("with {schedule:?} nothing went wrong ({what}). What happened:\n{run}")),
            Err(why) if switches(&schedule) > FEWEST_SWITCHES => Err(format!(
                "{schedule:?} breaks it ({why}), with {} switches between the threads; it can be done with {FEWEST_SWITCHES}: \
                 which of your switches does the bug not need?",
                switches(&schedule)
            )),
            Err(why) => Ok(format!(
                "{schedule:?} breaks it with {FEWEST_SWITCHES} switches, the fewest possible: {why}. T1 checked the \
                 balance before T0 took its 70, and moved its 60 after"
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_schedule_with_fewer_than_two_switches_breaks_the_careful_transfer() {
        // With at most one switch, one transfer runs whole before the other,
        // and the second one's check fails: 8 steps, then 2.
        for first in [0, 1] {
            let sequential: Vec<usize> = [first; 8].into_iter().chain([1 - first; 2]).collect();
            let run = replay_two(&sequential);
            assert!(run.outcome.is_ok(), "{run}");
            assert_eq!(run.schedule, sequential, "{run}");
        }
        let best = replay_two(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
        assert!(best.outcome.as_ref().unwrap_err().contains("overdrawn"), "{best}");
        assert_eq!(switches(&best.schedule), FEWEST_SWITCHES);
    }

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

    // The catalogue's unlocked transfer: read, check, write, write.
    use crate::wrong_answers::racy_transfer;

    fn ordered(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
        let _a = bank.lock(from.min(to));
        let _b = bank.lock(from.max(to));
        racy_transfer(bank, from, to, amount)
    }

    #[test]
    fn bank_judge() {
        // Wrong transfers: crate::wrong_answers.
        assert!(judge_bank_transfer(ordered).passed());
        assert_eq!(judge_bank_transfer(|_, _, _, _| todo!()), Verdict::NotSolved);
    }

    #[test]
    fn breaking_schedule_judge() {
        // The reference passes: exercises::solutions; wrong schedules: crate::wrong_answers.
        assert_eq!(judge_breaking_schedule(|| todo!()), Verdict::NotSolved);
    }
}
