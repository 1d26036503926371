//! Locks that can tell on a deadlock instead of hanging (chapter 12).
//!
//! A [`Board`] keeps, for one experiment, who holds which [`Lock`] and who
//! waits for which. Those two facts make the *wait-for graph*: thread T
//! points at thread U when T waits for a lock that U holds. A cycle in that
//! graph is a deadlock: everyone on it waits for the next one, forever.
//!
//! A waiting thread does not block for good: it tries the lock in short
//! slices (parking_lot's `try_lock_for`), and between slices looks at the
//! board. When it finds itself on a cycle, the board records the deadlock
//! and every thread on the cycle gives up with [`Stuck`], releasing what it
//! holds. So a deadlock demo ends in milliseconds with a report, and the
//! kernel never hangs.
//!
//! The board's bookkeeping never reports a cycle that is not there: a lock
//! is marked as held only *after* it was really taken and unmarked *before*
//! it is really released.

use crate::exercise::{self, Verdict};
use crate::timeline::{SpanGuard, State, Timeline};
use crate::workload::{jitter, Rng};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A deadlock that was found: the threads on the cycle, each with the lock
/// it holds that the previous one wants, and the lock it waits for.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Deadlock {
    /// When the cycle closed, in seconds after the board was made.
    pub at: f64,
    /// When it was declared a deadlock: the cycle must stay closed for the
    /// board's confirmation time first.
    pub detected: f64,
    /// `(thread, lock it holds, lock it waits for)`, in cycle order.
    pub cycle: Vec<(String, String, String)>,
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.cycle.iter().map(|(t, held, wanted)| format!("{t} holds `{held}` and waits for `{wanted}`")).collect();
        let mut ring: Vec<&str> = self.cycle.iter().map(|c| c.0.as_str()).collect();
        if let Some(first) = ring.first().copied() {
            ring.push(first);
        }
        write!(
            f,
            "deadlock: {}. The wait-for cycle {} closed at {:.2} s (declared at {:.2} s, after it stayed closed)",
            parts.join("; "),
            ring.join(" → "),
            self.at,
            self.detected
        )
    }
}

/// Why a [`Lock::acquire`] gave up.
#[derive(Debug, Clone, PartialEq)]
pub enum Stuck {
    /// The thread was on a wait-for cycle.
    Deadlock(Deadlock),
    /// The lock stayed taken longer than the board's patience.
    TimedOut { who: String, lock: String, after: Duration },
}

impl fmt::Display for Stuck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stuck::Deadlock(d) => d.fmt(f),
            Stuck::TimedOut { who, lock, after } => {
                write!(f, "{who} gave up waiting for `{lock}` after {:.2} s", after.as_secs_f64())
            }
        }
    }
}

#[derive(Default)]
struct Book {
    /// lock name -> thread holding it
    held_by: HashMap<String, String>,
    /// thread -> lock it waits for
    waits_for: HashMap<String, String>,
    deadlock: Option<Deadlock>,
    /// A cycle seen but not yet confirmed: its threads and when it was first seen.
    suspect: Option<(Vec<String>, f64)>,
}

impl Book {
    /// The cycle through `me` in the wait-for graph, if there is one.
    fn cycle_through(&self, me: &str) -> Option<Vec<(String, String, String)>> {
        let mut path = Vec::new();
        let mut t = me.to_string();
        loop {
            let wanted = self.waits_for.get(&t)?;
            let holder = self.held_by.get(wanted)?;
            path.push((t.clone(), wanted.clone()));
            if holder == me {
                break;
            }
            if path.iter().any(|(seen, _)| seen == holder) || path.len() > self.waits_for.len() {
                return None; // a cycle that does not pass through me: its own members will report it
            }
            t = holder.clone();
        }
        // Each thread holds the lock that the previous one on the ring wants.
        let n = path.len();
        let mut cycle: Vec<(String, String, String)> =
            (0..n).map(|i| (path[i].0.clone(), path[(i + n - 1) % n].1.clone(), path[i].1.clone())).collect();
        // Start the ring at the first name, so the same cycle reads the same way.
        let first = (0..n).min_by(|&i, &j| cycle[i].0.cmp(&cycle[j].0)).unwrap_or(0);
        cycle.rotate_left(first);
        Some(cycle)
    }
}

/// The record of one experiment's locks. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Board {
    book: Arc<Mutex<Book>>,
    timeline: Timeline,
    patience: Duration,
    confirm: Duration,
}

impl Board {
    /// A board whose locks wait at most `patience` before giving up, even
    /// without a deadlock (a thread that holds a lock for too long).
    pub fn new(patience: Duration) -> Board {
        Board { book: Arc::default(), timeline: Timeline::new(), patience, confirm: Duration::from_millis(100) }
    }

    /// How long a cycle must stay closed before it is declared a deadlock
    /// (100 ms unless set). Real detectors also look only now and then.
    pub fn confirm_after(mut self, confirm: Duration) -> Board {
        self.confirm = confirm;
        self
    }

    /// A new lock recorded on this board.
    pub fn lock(&self, name: &str) -> Lock {
        Lock { name: name.to_string(), inner: Mutex::new(()), board: self.clone() }
    }

    /// The timeline of waits and holds (red: waiting, blue: holding).
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The first deadlock found on this board, if any.
    pub fn deadlock(&self) -> Option<Deadlock> {
        self.book.lock().deadlock.clone()
    }
}

/// A mutual-exclusion lock that records itself on a [`Board`].
pub struct Lock {
    name: String,
    inner: Mutex<()>,
    board: Board,
}

/// How long one attempt waits before the thread looks at the board again.
const SLICE: Duration = Duration::from_millis(2);

impl Lock {
    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the lock for thread `who`, waiting as long as needed, unless a
    /// deadlock through `who` appears or the board's patience runs out.
    /// The wait shows red on the timeline, the hold blue until the returned
    /// guard is dropped.
    pub fn acquire(&self, who: &str) -> Result<Held<'_>, Stuck> {
        let start = Instant::now();
        let waiting = self.board.timeline.enter(who, State::Waiting);
        self.board.book.lock().waits_for.insert(who.to_string(), self.name.clone());
        loop {
            if let Some(guard) = self.inner.try_lock_for(SLICE) {
                // Really taken first, then marked as held.
                let mut book = self.board.book.lock();
                book.waits_for.remove(who);
                if let Some(d) = book.deadlock.as_ref().filter(|d| d.cycle.iter().any(|c| c.0 == who)) {
                    // Freed only because a partner on the cycle gave up: everyone
                    // on a detected cycle gives up, so the outcome is the same every run.
                    return Err(Stuck::Deadlock(d.clone()));
                }
                book.held_by.insert(self.name.clone(), who.to_string());
                drop(book);
                drop(waiting);
                let holding = self.board.timeline.enter(who, State::Holding);
                return Ok(Held { lock: self, _guard: guard, _holding: holding });
            }
            let mut book = self.board.book.lock();
            let verdict = if let Some(d) = &book.deadlock {
                d.cycle.iter().any(|c| c.0 == who).then(|| Stuck::Deadlock(d.clone()))
            } else if let Some(cycle) = book.cycle_through(who) {
                let now = self.board.timeline.now();
                let members: Vec<String> = cycle.iter().map(|c| c.0.clone()).collect();
                match &book.suspect {
                    Some((seen, since)) if *seen == members => {
                        if now - since >= self.board.confirm.as_secs_f64() {
                            let d = Deadlock { at: *since, detected: now, cycle };
                            book.deadlock = Some(d.clone());
                            Some(Stuck::Deadlock(d))
                        } else {
                            None
                        }
                    }
                    _ => {
                        book.suspect = Some((members, now));
                        None
                    }
                }
            } else if start.elapsed() >= self.board.patience {
                Some(Stuck::TimedOut { who: who.to_string(), lock: self.name.clone(), after: start.elapsed() })
            } else {
                None
            };
            if let Some(stuck) = verdict {
                book.waits_for.remove(who);
                return Err(stuck);
            }
        }
    }

    /// Who holds the lock now, according to the board.
    pub fn holder(&self) -> Option<String> {
        self.board.book.lock().held_by.get(&self.name).cloned()
    }
}

/// A held [`Lock`]; dropping it releases the lock.
pub struct Held<'a> {
    lock: &'a Lock,
    _guard: parking_lot::MutexGuard<'a, ()>,
    _holding: SpanGuard<'a>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Unmarked first; the real unlock happens when `_guard` drops, after this.
        self.lock.board.book.lock().held_by.remove(&self.lock.name);
    }
}

/// The payload of the panic that [`Table::take`] uses to pull a
/// philosopher out of a deadlock (the judge catches it).
struct Aborted;

/// A round table of forks for the dining-philosophers exercise: fork `i`
/// lies between philosopher `i` and philosopher `i + 1` (mod seats).
pub struct Table {
    board: Board,
    forks: Vec<Lock>,
    meals: Vec<AtomicUsize>,
    rng: Mutex<Rng>,
    /// The first rule broken (eating without both forks), if any.
    broken: Mutex<Option<String>>,
    /// For a judged dinner: who has picked up a first fork. While set,
    /// everyone's first fork is held until every philosopher holds one or
    /// waits for one (see [`Table::take`]).
    first_forks: Option<Mutex<Vec<bool>>>,
}

/// How long a philosopher holding a first fork waits for the others to
/// pick up theirs: a bound on a hang (a philosopher who takes no fork at
/// all), not a timing test.
const FIRST_FORKS_PATIENCE: Duration = Duration::from_secs(10);

impl Table {
    /// A table with `seats` philosophers and forks; `seed` picks the pauses.
    pub fn new(seats: usize, seed: u64) -> Table {
        let board = Board::new(Duration::from_secs(3)).confirm_after(Duration::from_millis(20));
        let forks = (0..seats).map(|i| board.lock(&format!("fork {i}"))).collect();
        Table {
            board,
            forks,
            meals: (0..seats).map(|_| AtomicUsize::new(0)).collect(),
            rng: Mutex::new(Rng::new(seed)),
            broken: Mutex::new(None),
            first_forks: None,
        }
    }

    /// A table where each philosopher, having picked up a first fork, waits
    /// until every philosopher holds a fork or waits for one before going
    /// on: the moment at which "everyone takes the left fork first" closes
    /// its ring, made to happen instead of hoped for. Philosophers who take
    /// forks in a safe order are held only until that moment, which always
    /// comes.
    fn with_first_forks_together(seats: usize, seed: u64) -> Table {
        Table { first_forks: Some(Mutex::new(vec![false; seats])), ..Table::new(seats, seed) }
    }

    /// Holds philosopher `me`, who has just picked up a first fork, until
    /// every philosopher holds a fork or waits for one.
    fn first_forks_together(&self, me: usize) {
        let Some(first) = &self.first_forks else { return };
        {
            let mut held = first.lock();
            if held[me] {
                return; // not this philosopher's first fork
            }
            held[me] = true;
        }
        let deadline = Instant::now() + FIRST_FORKS_PATIENCE;
        while Instant::now() < deadline {
            let held = first.lock().clone();
            let book = self.board.book.lock();
            if (0..held.len()).all(|k| held[k] || book.waits_for.contains_key(&format!("philosopher {k}"))) {
                return;
            }
            drop(book);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// How many philosophers (and forks) there are.
    pub fn seats(&self) -> usize {
        self.forks.len()
    }

    /// A random pause (from the table's seed), to vary the interleaving.
    fn pause(&self) {
        let draw = self.rng.lock().next_u64();
        jitter(&mut Rng::new(draw));
    }

    /// Philosopher `me` picks up fork `fork`, waiting while a neighbour has
    /// it. Drop the returned guard to put the fork down.
    pub fn take(&self, me: usize, fork: usize) -> Held<'_> {
        self.pause();
        let Some(lock) = self.forks.get(fork) else {
            panic!("there is no fork {fork}: forks are numbered 0 to {}", self.seats() - 1);
        };
        match lock.acquire(&format!("philosopher {me}")) {
            Ok(held) => {
                self.first_forks_together(me);
                self.pause();
                held
            }
            Err(_) => std::panic::panic_any(Aborted),
        }
    }

    /// Philosopher `me` eats: only allowed with both neighbouring forks,
    /// `me` and `me + 1` (mod seats), in hand.
    pub fn eat(&self, me: usize) {
        let n = self.seats();
        let who = format!("philosopher {me}");
        for f in [me % n, (me + 1) % n] {
            if self.forks[f].holder().as_deref() != Some(who.as_str()) {
                self.broken.lock().get_or_insert_with(|| format!("{who} ate without holding fork {f}"));
            }
        }
        if let Some(m) = self.meals.get(me) {
            m.fetch_add(1, Ordering::SeqCst);
        }
        self.pause();
    }

    /// Meals eaten so far, per philosopher.
    pub fn meals(&self) -> Vec<usize> {
        self.meals.iter().map(|m| m.load(Ordering::SeqCst)).collect()
    }

    /// The board, for its deadlock record and timeline.
    pub fn board(&self) -> &Board {
        &self.board
    }
}

/// One run of a philosopher function at a table: five threads, `meals`
/// meals each. `Ok(())` or what went wrong.
fn dinner(f: fn(usize, &Table, usize), seats: usize, meals: usize, seed: u64, together: bool) -> Result<(), String> {
    let table = if together { Table::with_first_forks_together(seats, seed) } else { Table::new(seats, seed) };
    let mut failure = None;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..seats)
            .map(|me| {
                let table = &table;
                s.spawn(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(me, table, meals))))
            })
            .collect();
        for h in handles {
            if let Ok(Err(payload)) = h.join() {
                if payload.is::<Aborted>() {
                    continue;
                }
                let msg = exercise::joined(payload);
                failure.get_or_insert(format!("a philosopher panicked: {msg}"));
            }
        }
    });
    let schedule = format!(
        "{seats} philosophers, {meals} meals each, pauses from seed {seed}{}",
        if together { ", everyone's first fork in hand before anyone reached for a second" } else { "" }
    );
    if let Some(d) = table.board.deadlock() {
        return Err(format!("{d} ({schedule})"));
    }
    if let Some(msg) = failure {
        return Err(format!("{msg} ({schedule})"));
    }
    if let Some(rule) = table.broken.lock().clone() {
        return Err(format!("{rule} ({schedule})"));
    }
    let eaten = table.meals();
    if let Some((who, n)) = eaten.iter().enumerate().find(|(_, &n)| n != meals) {
        return Err(format!("philosopher {who} ate {n} time(s), expected {meals}; meals per philosopher: {eaten:?} ({schedule})"));
    }
    Ok(())
}

/// Exercise "philosophers": judges `f(me, table, meals)`, the life of
/// philosopher `me`: eat `meals` times, each time holding both forks.
pub fn judge_philosophers(f: fn(usize, &Table, usize)) -> Verdict {
    exercise::run(Duration::from_secs(60), move || {
        let mut runs = 0;
        // The first dinner makes the dangerous moment happen: every
        // philosopher holds a first fork before anyone reaches for a second.
        dinner(f, 5, 3, 0, true)?;
        runs += 1;
        for seed in 1..=40 {
            let seats = [5, 5, 2, 3, 7][seed as usize % 5];
            dinner(f, seats, 3, seed, false)?;
            runs += 1;
        }
        Ok(format!(
            "{runs} dinners (2 to 7 philosophers, 3 meals each, a different pattern of pauses each time, the first with everyone's first fork in hand at once): no deadlock, everyone ate every meal with both forks"
        ))
    })
}

/// Follows `waits_for` from `start`; the cycle reached, if any, as a
/// canonical list (rotated to start at its smallest thread).
fn cycle_from(waits_for: &[Option<usize>], start: usize) -> Option<Vec<usize>> {
    let mut seen_at = vec![usize::MAX; waits_for.len()];
    let mut order = Vec::new();
    let mut t = start;
    loop {
        if seen_at[t] != usize::MAX {
            let mut ring = order[seen_at[t]..].to_vec();
            let low = (0..ring.len()).min_by_key(|&i| ring[i]).unwrap_or(0);
            ring.rotate_left(low);
            return Some(ring);
        }
        seen_at[t] = order.len();
        order.push(t);
        t = match waits_for[t] {
            Some(next) if next < waits_for.len() => next,
            _ => return None,
        };
    }
}

/// All the distinct cycles of a wait-for list.
fn all_cycles(waits_for: &[Option<usize>]) -> Vec<Vec<usize>> {
    let mut found: Vec<Vec<usize>> = (0..waits_for.len()).filter_map(|t| cycle_from(waits_for, t)).collect();
    found.sort();
    found.dedup();
    found
}

/// Exercise "find_cycle": judges `f(waits_for)`, which must return a cycle
/// of the wait-for graph (thread `i` waits for thread `waits_for[i]`), or
/// `None` when there is none.
pub fn judge_find_cycle(f: fn(&[Option<usize>]) -> Option<Vec<usize>>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let mut cases: Vec<Vec<Option<usize>>> = vec![
            vec![],
            vec![None],
            vec![Some(0)],
            vec![Some(1), Some(0)],
            vec![Some(1), Some(2), None],
            vec![Some(1), Some(2), Some(3), Some(1)],
            vec![None, Some(0), Some(1), Some(2), Some(3)],
            vec![Some(4), Some(0), Some(1), Some(2), Some(3)],
        ];
        let mut rng = Rng::new(12);
        for _ in 0..300 {
            let n = 1 + rng.below(9) as usize;
            cases.push((0..n).map(|_| if rng.below(4) == 0 { None } else { Some(rng.below(n as u64) as usize) }).collect());
        }
        for w in &cases {
            let got = exercise::call(|| f(w)).map_err(|m| format!("find_cycle({w:?}) panicked: {m}"))?;
            let cycles = all_cycles(w);
            match got {
                None if cycles.is_empty() => {}
                None => {
                    return Err(format!("find_cycle({w:?}) returned None, but threads {:?} wait for each other in a ring", cycles[0]))
                }
                Some(c) if cycles.is_empty() => {
                    return Err(format!("find_cycle({w:?}) returned Some({c:?}), but this graph has no cycle"))
                }
                Some(c) => {
                    let valid = !c.is_empty()
                        && c.iter().all(|&t| t < w.len())
                        && (0..c.len()).all(|i| w[c[i]] == Some(c[(i + 1) % c.len()]));
                    if !valid {
                        return Err(format!(
                            "find_cycle({w:?}) returned Some({c:?}), which is not a cycle: each thread in the list must wait for the next, and the last for the first (e.g. {:?})",
                            cycles[0]
                        ));
                    }
                }
            }
        }
        Ok(format!("{} wait-for graphs: every cycle found (including a thread waiting for itself), no cycle invented", cases.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_locks_in_opposite_orders_are_reported_not_hung() {
        let board = Board::new(Duration::from_secs(5));
        let (a, b) = (board.lock("a"), board.lock("b"));
        // Each thread takes its first lock, then both meet at the barrier:
        // from there on the cycle is certain, whatever the scheduler does.
        let both_hold_one = std::sync::Barrier::new(2);
        let results: Vec<Result<(), Stuck>> = std::thread::scope(|s| {
            let one = s.spawn(|| {
                let _a = a.acquire("A")?;
                both_hold_one.wait();
                let _b = b.acquire("A")?;
                Ok(())
            });
            let two = s.spawn(|| {
                let _b = b.acquire("B")?;
                both_hold_one.wait();
                let _a = a.acquire("B")?;
                Ok(())
            });
            vec![one.join().unwrap(), two.join().unwrap()]
        });
        let d = board.deadlock().expect("a deadlock");
        assert_eq!(d.cycle.len(), 2);
        let text = d.to_string();
        assert!(text.contains("A holds `a` and waits for `b`") && text.contains("B holds `b` and waits for `a`"), "{text}");
        assert!(results.iter().all(|r| matches!(r, Err(Stuck::Deadlock(_)))));
    }

    #[test]
    fn same_order_never_deadlocks() {
        let board = Board::new(Duration::from_secs(5));
        let (a, b) = (board.lock("a"), board.lock("b"));
        std::thread::scope(|s| {
            for who in ["A", "B", "C"] {
                let (a, b) = (&a, &b);
                s.spawn(move || {
                    for _ in 0..20 {
                        let _a = a.acquire(who).unwrap();
                        let _b = b.acquire(who).unwrap();
                    }
                });
            }
        });
        assert!(board.deadlock().is_none());
    }

    fn ranked(me: usize, table: &Table, meals: usize) {
        let (l, r) = (me, (me + 1) % table.seats());
        for _ in 0..meals {
            let _first = table.take(me, l.min(r));
            let _second = table.take(me, l.max(r));
            table.eat(me);
        }
    }

    #[test]
    fn philosophers_judge() {
        // Wrong philosophers: crate::wrong_answers.
        assert!(judge_philosophers(ranked).passed());
        assert_eq!(judge_philosophers(|_, _, _| todo!()), Verdict::NotSolved);
    }

    #[test]
    fn find_cycle_judge() {
        // Wrong searches: crate::wrong_answers.
        assert!(judge_find_cycle(|w| all_cycles(w).into_iter().next()).passed());
    }
}
