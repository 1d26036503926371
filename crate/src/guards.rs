//! Resources that must be given back, and the guards that give them back
//! (chapter 4: Rust's answer to Python's `with`).
//!
//! A *guard* is a value whose `Drop` releases something: a file closes its
//! descriptor, a `MutexGuard` unlocks, [`FdLimit`] below restores the
//! process's descriptor limit. Drop runs on every way out of a scope (the
//! end, `return`, `?`, `break`, a panic unwinding), so the release cannot be
//! forgotten on the one path nobody tested.
//!
//! This module holds the chapter's plumbing: lowering the descriptor limit
//! for an experiment, a lock with a manual `unlock` (the thing guards
//! replace), a pool for the lease exercise, and running code with its panic
//! message kept quiet.

use crate::exercise::{self, Verdict};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// While this value lives, the process may open at most `soft` files at a
/// time (its `RLIMIT_NOFILE` soft limit); dropping it restores the old limit.
/// Being a guard itself, it restores the limit even when the code using it
/// fails or panics.
#[cfg(unix)]
pub struct FdLimit {
    previous: libc::rlimit,
}

#[cfg(unix)]
impl FdLimit {
    /// Lowers the soft limit on open descriptors to `soft` (at most the hard limit).
    pub fn lower(soft: u64) -> Result<FdLimit, String> {
        let mut previous = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // Safety: getrlimit only writes into the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut previous) } != 0 {
            return Err(format!("cannot read the descriptor limit: {}", std::io::Error::last_os_error()));
        }
        let lowered = libc::rlimit { rlim_cur: (soft as libc::rlim_t).min(previous.rlim_max), rlim_max: previous.rlim_max };
        // Safety: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) } != 0 {
            return Err(format!("cannot lower the descriptor limit: {}", std::io::Error::last_os_error()));
        }
        Ok(FdLimit { previous })
    }

    /// The soft limit now in force.
    pub fn current() -> u64 {
        let mut now = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // Safety: getrlimit only writes into the struct we pass.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) };
        now.rlim_cur
    }
}

#[cfg(unix)]
impl Drop for FdLimit {
    fn drop(&mut self) {
        // Safety: setrlimit only reads the struct we pass; the old limit was valid.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.previous) };
    }
}

/// How many descriptors this process has open now (Linux: entries of
/// `/proc/self/fd`; `None` elsewhere).
pub fn open_descriptors() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count().saturating_sub(1)) // minus the one read_dir used
}

/// A lock with a separate `unlock()`, like Python's `Lock.acquire()` and
/// `Lock.release()`: nothing ties the unlock to the lock, so an early
/// return between them leaves it locked for ever. (Rust's own locks hand
/// out guards instead; this one exists to show what they prevent.)
#[derive(Default)]
pub struct ManualLock {
    locked: Mutex<bool>,
    changed: Condvar,
}

impl ManualLock {
    pub fn new() -> ManualLock {
        ManualLock::default()
    }

    /// Waits until the lock is free, then takes it.
    pub fn lock(&self) {
        let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        while *locked {
            locked = self.changed.wait(locked).unwrap_or_else(|e| e.into_inner());
        }
        *locked = true;
    }

    /// Tries to take the lock for at most `patience`; true if it got it.
    pub fn try_lock_for(&self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        while *locked {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            locked = self.changed.wait_timeout(locked, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        *locked = true;
        true
    }

    /// Releases the lock (whoever calls it).
    pub fn unlock(&self) {
        *self.locked.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.changed.notify_one();
    }

    /// Whether someone holds it now.
    pub fn is_locked(&self) -> bool {
        *self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pool of numbered slots (think database connections) for the lease
/// exercise. It counts what is checked out and notices a slot given back
/// twice or one that was never taken.
pub struct Pool {
    free: Mutex<Vec<usize>>,
    size: usize,
    mistakes: Mutex<Vec<String>>,
    taken_total: AtomicUsize,
    /// Set by the lease judge for one phase: callers of `available` meet
    /// there (see [`Pool::meet_in_available`]).
    meeting: Mutex<Meeting>,
    met: Condvar,
}

/// Callers of [`Pool::available`] waiting for each other.
#[derive(Default)]
struct Meeting {
    want: usize,
    inside: usize,
    gave_up: bool,
}

/// How long a caller of `available` waits for the others in a meeting: a
/// bound on a hang, not a timing test.
const MEETING_PATIENCE: Duration = Duration::from_secs(10);

impl Pool {
    /// A pool of `size` free slots, numbered 0 to size - 1.
    pub fn new(size: usize) -> Arc<Pool> {
        Arc::new(Pool {
            free: Mutex::new((0..size).rev().collect()),
            size,
            mistakes: Mutex::new(Vec::new()),
            taken_total: AtomicUsize::new(0),
            meeting: Mutex::new(Meeting::default()),
            met: Condvar::new(),
        })
    }

    /// Checks a slot out, or `None` if all are in use.
    pub fn take(&self) -> Option<usize> {
        let slot = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if slot.is_some() {
            self.taken_total.fetch_add(1, Ordering::SeqCst);
        }
        slot
    }

    /// Returns a slot to the pool.
    pub fn give_back(&self, slot: usize) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if slot >= self.size {
            self.mistakes.lock().unwrap_or_else(|e| e.into_inner()).push(format!("slot {slot} was given back, but the pool has only slots 0 to {}", self.size - 1));
        } else if free.contains(&slot) {
            self.mistakes.lock().unwrap_or_else(|e| e.into_inner()).push(format!("slot {slot} was given back twice"));
        } else {
            free.push(slot);
        }
    }

    /// Slots free now. (By the time you act on the answer, another thread
    /// may have changed it.)
    pub fn available(&self) -> usize {
        let free = self.free.lock().unwrap_or_else(|e| e.into_inner()).len();
        // In the judge's meeting, the answer is held back until `want`
        // callers have all read it: what "at the same moment" means.
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        if m.want > 0 {
            m.inside += 1;
            self.met.notify_all();
            let (mut m, wait) =
                self.met.wait_timeout_while(m, MEETING_PATIENCE, |m| m.inside < m.want && !m.gave_up).unwrap_or_else(|e| e.into_inner());
            if wait.timed_out() {
                m.gave_up = true;
                self.met.notify_all();
            }
        }
        free
    }

    /// From now on, `available` answers only when `want` threads have
    /// called it (or after a bound): a check-then-act on `available` and
    /// `take` then loses its race every time, not once in a million.
    fn meet_in_available(&self, want: usize) {
        *self.meeting.lock().unwrap_or_else(|e| e.into_inner()) = Meeting { want, ..Meeting::default() };
    }

    /// Slots in the pool.
    pub fn size(&self) -> usize {
        self.size
    }

    fn first_mistake(&self) -> Option<String> {
        self.mistakes.lock().unwrap_or_else(|e| e.into_inner()).first().cloned()
    }
}

/// Exercise "lease": judges `lease(pool)`, which checks out a slot and
/// returns a guard that gives it back when dropped (or `None` if the pool is
/// empty). `L` is the learner's guard type.
pub fn judge_lease<L: Send + 'static>(lease: fn(&Arc<Pool>) -> Option<L>) -> Verdict {
    judge_lease_dyn(Box::new(move |pool| lease(pool).map(|l| Box::new(l) as Box<dyn Send>)))
}

type LeaseFn = Box<dyn Fn(&Arc<Pool>) -> Option<Box<dyn Send>> + Send + Sync>;

fn judge_lease_dyn(lease: LeaseFn) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let lease = Arc::new(lease);
        let pool = Pool::new(3);
        let settle = |what: &str| -> Result<(), String> {
            if let Some(m) = pool.first_mistake() {
                return Err(format!("{what}: {m}"));
            }
            match pool.available() {
                3 => Ok(()),
                n => Err(format!("{what}: afterwards only {n} of 3 slots are free; the lease was not given back on this path")),
            }
        };
        // 1. The plain path.
        {
            let held = exercise::call(|| lease(&pool)).map_err(|m| format!("lease() panicked: {m}"))?;
            if held.is_none() {
                return Err("lease() on a pool with 3 free slots returned None".into());
            }
            if pool.available() != 2 {
                return Err(format!("while one lease is held, {} slots are free instead of 2: lease() must take a slot from the pool", pool.available()));
            }
        }
        settle("dropping a lease at the end of its scope")?;
        // 2. An empty pool.
        {
            let all: Vec<_> = (0..3).map(|_| lease(&pool)).collect();
            if all.iter().any(|l| l.is_none()) {
                return Err("three leases in a row from a pool of 3: one of them was None".into());
            }
            let fourth = exercise::call(|| lease(&pool).is_some())
                .map_err(|m| format!("a fourth lease from a pool of 3 (all slots held) panicked: {m}; return None when pool.take() gives None"))?;
            if fourth {
                return Err("a fourth lease from a pool of 3 was Some: return None when pool.take() gives None".into());
            }
        }
        settle("dropping three leases taken together")?;
        // 3. An early return with `?`.
        let early = |fail: bool| -> Result<(), String> {
            let _held = lease(&pool).ok_or("no slot")?;
            if fail {
                Err("the query failed")?;
            }
            Ok(())
        };
        let _ = early(true);
        settle("an early return with `?` while holding a lease")?;
        // 4. A panic while holding it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = lease(&pool);
            panic!("the connection broke");
        }));
        settle("a panic while holding a lease")?;
        // 5. Two threads ask at once for the last free slot. A lease that
        // looks at pool.available() before it takes must cope with the
        // slot going to the other thread in between: here it always does.
        let last = Pool::new(1);
        last.meet_in_available(2);
        // Each holds what it got until both have their answer.
        let both_answered = std::sync::Barrier::new(2);
        let both: Vec<Result<bool, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (lease, last, both_answered) = (lease.clone(), last.clone(), &both_answered);
                    s.spawn(move || {
                        // (Caught here and explained after the barrier, so a
                        // panic cannot leave the other thread waiting there.)
                        let held = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (*lease)(&last)));
                        both_answered.wait();
                        held.map(|l| l.is_some()).map_err(exercise::joined)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| Err(exercise::joined(p)))).collect()
        });
        let what = "two threads asking at once for the one free slot of a pool of 1 (both saw pool.available() == 1 before either took it)";
        let got: Vec<bool> = both.into_iter().collect::<Result<_, _>>().map_err(|m| format!("{what}: lease() panicked: {m}"))?;
        if got.iter().filter(|&&g| g).count() != 1 {
            return Err(format!("{what}: {} of the two got a lease; exactly one should, and the other None", got.iter().filter(|&&g| g).count()));
        }
        if let Some(m) = last.first_mistake() {
            return Err(format!("{what}: {m}"));
        }
        // The meeting is over: the judge's own look must not wait for a
        // second caller (a lease that never calls `available` left it at 0).
        last.meet_in_available(0);
        if last.available() != 1 {
            return Err(format!("{what}: afterwards the slot was not free again"));
        }
        // 6. Leases moved to other threads and dropped there.
        std::thread::scope(|s| {
            for _ in 0..3 {
                let held = lease(&pool);
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    drop(held);
                });
            }
        });
        settle("leases dropped on other threads")?;
        // 7. Many threads, many leases.
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (lease, pool) = (lease.clone(), pool.clone());
                s.spawn(move || {
                    for _ in 0..200 {
                        let _maybe = (*lease)(&pool);
                    }
                });
            }
        });
        settle("4 threads taking 200 leases each")?;
        Ok("the slot comes back at the end of a scope, on `?`, on a panic, from other threads, and never twice; two threads racing for the last slot get one lease between them".into())
    })
}

/// Exercise "defer": judges `defer(action)`, which returns a guard that
/// runs `action` exactly once, when the guard is dropped. `D` is the
/// learner's guard type.
pub fn judge_defer<D: 'static>(defer: fn(Box<dyn FnOnce() + Send>) -> D) -> Verdict {
    judge_defer_dyn(Box::new(move |action| Box::new(defer(action)) as Box<dyn std::any::Any>))
}

type DeferFn = Box<dyn Fn(Box<dyn FnOnce() + Send>) -> Box<dyn std::any::Any> + Send>;

fn judge_defer_dyn(defer: DeferFn) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let runs = Arc::new(AtomicUsize::new(0));
        let counting = || {
            let runs = runs.clone();
            Box::new(move || {
                runs.fetch_add(1, Ordering::SeqCst);
            }) as Box<dyn FnOnce() + Send>
        };
        let expect = |what: &str, want: usize| -> Result<(), String> {
            let got = runs.swap(0, Ordering::SeqCst);
            if got == want {
                Ok(())
            } else {
                Err(format!("{what}: the action ran {got} time(s), expected {want}"))
            }
        };
        {
            let guard = exercise::call(|| defer(counting())).map_err(|m| format!("defer() panicked: {m}"))?;
            expect("right after defer(), before the guard is dropped", 0)?;
            drop(guard);
        }
        expect("after the guard was dropped", 1)?;
        let early = |fail: bool| -> Result<(), String> {
            let _cleanup = defer(counting());
            if fail {
                Err("something failed")?;
            }
            Ok(())
        };
        let _ = early(true);
        expect("after an early return with `?`", 1)?;
        let _ = early(false);
        expect("after a normal return", 1)?;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _cleanup = defer(counting());
            panic!("boom");
        }));
        expect("after a panic", 1)?;
        {
            let _first = defer(counting());
            let _second = defer(counting());
        }
        expect("after two guards went out of scope", 2)?;
        Ok("the action runs exactly once, when the guard is dropped: at the end of a scope, on `?`, and on a panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_limit_comes_back_even_after_a_panic() {
        let before = FdLimit::current();
        let out = exercise::quietly(|| {
            let _limit = FdLimit::lower(512).unwrap();
            assert_eq!(FdLimit::current(), 512.min(before));
            panic!("fails while the limit is low");
        });
        assert!(out.is_err());
        assert_eq!(FdLimit::current(), before);
    }

    #[test]
    fn manual_lock_stays_locked_after_an_early_return() {
        let lock = ManualLock::new();
        let f = |fail: bool| -> Result<(), String> {
            lock.lock();
            if fail {
                return Err("failed".into());
            }
            lock.unlock();
            Ok(())
        };
        assert!(f(false).is_ok());
        assert!(!lock.is_locked());
        assert!(f(true).is_err());
        assert!(!lock.try_lock_for(Duration::from_millis(20)));
    }

    /// Right.
    struct Lease(Arc<Pool>, usize);
    impl Drop for Lease {
        fn drop(&mut self) {
            self.0.give_back(self.1);
        }
    }
    fn right(pool: &Arc<Pool>) -> Option<Lease> {
        pool.take().map(|s| Lease(pool.clone(), s))
    }

    #[test]
    fn lease_judge() {
        // Wrong leases: crate::wrong_answers.
        assert!(judge_lease(right).passed());
    }

    struct Now;

    #[test]
    fn defer_judge() {
        // Wrong guards: crate::wrong_answers.
        assert_eq!(judge_defer(|_| -> Now { todo!() }), Verdict::NotSolved);
    }
}
