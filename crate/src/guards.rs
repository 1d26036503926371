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
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
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

/// A small shared store of named balances, for the transaction exercise: a
/// map behind a lock of its own, and a log of everything done to it.
///
/// There are two ways to change it. [`Store::set`] and [`Store::remove`] take the store's lock
/// for that one change and let go. [`Store::lock`] hands out a
/// [`StoreGuard`], which holds the lock until it is dropped: every change
/// made through the guard happens while no other thread can read or write.
/// (The lock is built on a `Mutex` and a `Condvar`, like [`ManualLock`], so
/// that the exercise's judge can see who is waiting for it.)
///
/// ```
/// use concurrency_lab::guards::Store;
/// let store = Store::new(&[("alice", 100), ("bob", 50)]);
/// {
///     let mut guard = store.lock();
///     let was = guard.set("alice", 70);
///     assert_eq!(was, Some(100));
/// } // unlocked here
/// assert_eq!(store.get("alice"), Some(70));
/// assert_eq!(store.log(), ["locked", "alice: 100 -> 70", "unlocked"]);
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    state: Mutex<StoreState>,
    changed: Condvar,
}

#[derive(Default)]
struct StoreState {
    data: BTreeMap<String, i64>,
    /// The thread whose [`StoreGuard`] is alive, if any.
    holder: Option<ThreadId>,
    /// Threads waiting for the lock to be free.
    waiting: usize,
    log: Vec<String>,
    /// How many changes were made so far.
    version: u64,
    /// Only in the transaction judge: its reader, see [`Watched`].
    watch: Option<Watch>,
}

/// The judge's other thread, between the store and the thread that runs
/// it: a reader, or (with `deposit`) a writer that comes once.
#[derive(Default)]
struct Watch {
    /// The other thread was asked to come in and has not yet.
    asked: bool,
    /// The judge is done (or the deposit made): nobody is asked any more.
    stop: bool,
    /// Instead of reading, add this much to this key, once.
    deposit: Option<(String, i64)>,
    /// The other thread is waiting for the lock to be free.
    waiting_for_lock: bool,
    /// Everything the reader saw, in order.
    seen: Vec<BTreeMap<String, i64>>,
    /// [`StoreState::version`] when the reader last read: it is not asked
    /// again until something changed.
    read_at: Option<u64>,
}

impl StoreState {
    /// Sets (`Some`) or removes (`None`) `key`, logs it, returns the value before.
    fn change(&mut self, key: &str, new: Option<i64>, note: &str) -> Option<i64> {
        let before = match new {
            Some(v) => self.data.insert(key.to_string(), v),
            None => self.data.remove(key),
        };
        self.version += 1;
        let line = match (new, before) {
            (Some(v), b) => format!("{key}: {} -> {v}{note}", b.map_or("absent".to_string(), |b| b.to_string())),
            (None, Some(b)) => format!("{key} removed (was {b}){note}"),
            (None, None) => format!("{key} removed (was absent){note}"),
        };
        self.log.push(line);
        before
    }

    fn watch(&self) -> Option<&Watch> {
        self.watch.as_ref().filter(|w| !w.stop)
    }
}

/// Balances as a learner reads them: `alice = 70, bob = 80`.
fn show(balances: &BTreeMap<String, i64>) -> String {
    if balances.is_empty() {
        return "nothing".into();
    }
    balances.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
}

/// How long the judge's writer and reader wait for each other: a bound on
/// a hang, not a timing test.
const READER_PATIENCE: Duration = Duration::from_secs(10);

impl Store {
    /// A store holding these balances.
    pub fn new(balances: &[(&str, i64)]) -> Store {
        let data = balances.iter().map(|&(k, v)| (k.to_string(), v)).collect();
        Store { inner: Arc::new(StoreInner { state: Mutex::new(StoreState { data, ..StoreState::default() }), changed: Condvar::new() }) }
    }

    fn state(&self) -> MutexGuard<'_, StoreState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waiting for a lock that this very thread holds would wait for ever:
    /// say so instead.
    fn not_held_by_me(st: &StoreState, what: &str) {
        if st.holder == Some(std::thread::current().id()) {
            panic!("{what} was called while this thread holds the store's lock (its StoreGuard is alive), so it would wait for ever: go through the guard instead");
        }
    }

    /// Waits until no guard holds the lock.
    fn wait_until_free<'a>(&'a self, mut st: MutexGuard<'a, StoreState>) -> MutexGuard<'a, StoreState> {
        if st.holder.is_some() {
            st.waiting += 1;
            self.inner.changed.notify_all(); // the judge's writer may be waiting to see a waiter
            st = self.inner.changed.wait_while(st, |s| s.holder.is_some()).unwrap_or_else(|e| e.into_inner());
            st.waiting -= 1;
        }
        st
    }

    /// Takes the store's lock (waiting while another guard holds it). Until
    /// the guard is dropped, other threads' `lock`, `get`, `set` and
    /// `snapshot` wait.
    pub fn lock(&self) -> StoreGuard {
        let st = self.state();
        Self::not_held_by_me(&st, "store.lock()");
        let mut st = self.wait_until_free(st);
        st.holder = Some(std::thread::current().id());
        st.log.push("locked".into());
        StoreGuard { store: self.clone(), _not_send: PhantomData }
    }

    /// The balance of `key`, if it exists (waits while a guard holds the lock).
    pub fn get(&self, key: &str) -> Option<i64> {
        let st = self.state();
        Self::not_held_by_me(&st, "store.get()");
        let st = self.wait_until_free(st);
        let value = st.data.get(key).copied();
        drop(self.hand_off(st));
        value
    }

    /// Sets `key` to `value`, creating it if needed, and returns the value
    /// it had. Takes the lock for this one change only.
    pub fn set(&self, key: &str, value: i64) -> Option<i64> {
        let st = self.state();
        Self::not_held_by_me(&st, "store.set()");
        let st = self.hand_off(st);
        self.wait_until_free(st).change(key, Some(value), " (store.set: locked for this one change)")
    }

    /// Removes `key` and returns the value it had. Takes the lock for this
    /// one change only.
    pub fn remove(&self, key: &str) -> Option<i64> {
        let st = self.state();
        Self::not_held_by_me(&st, "store.remove()");
        let st = self.hand_off(st);
        self.wait_until_free(st).change(key, None, " (store.remove: locked for this one change)")
    }

    /// A copy of every balance (waits while a guard holds the lock).
    pub fn snapshot(&self) -> BTreeMap<String, i64> {
        let st = self.state();
        Self::not_held_by_me(&st, "store.snapshot()");
        let st = self.wait_until_free(st);
        let all = st.data.clone();
        drop(self.hand_off(st));
        all
    }

    /// Whether a guard holds the lock now.
    pub fn is_locked(&self) -> bool {
        self.state().holder.is_some()
    }

    /// What happened to the store so far, one line per event.
    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// Where the judge's other thread comes in: before every change and
    /// after every read, it is asked in (unless nothing changed since it
    /// last read), and the caller waits until it has been (the lock was
    /// free) or is seen waiting for the lock (a guard holds it). A guard
    /// that is dropped while it waits lets it in before anyone can lock
    /// again. So if the lock is ever free between two steps of one
    /// transaction, the other thread gets in there, every run, not once in
    /// a million.
    fn hand_off<'a>(&'a self, mut st: MutexGuard<'a, StoreState>) -> MutexGuard<'a, StoreState> {
        let version = st.version;
        if let Some(w) = st.watch.as_mut().filter(|w| !w.asked && !w.stop && w.read_at != Some(version)) {
            w.asked = true;
            self.inner.changed.notify_all();
            st = self
                .inner
                .changed
                .wait_timeout_while(st, READER_PATIENCE, |s| s.watch().is_some_and(|w| w.asked) && s.waiting == 0)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        st
    }

    /// The judge's other thread: each time it is asked, it waits until the
    /// lock is free and reads everything, as another thread of the program
    /// would; or, with a deposit to make, makes it (a read and a write) and
    /// stops.
    fn read_when_asked(&self) {
        let changed = &self.inner.changed;
        let mut st = self.state();
        loop {
            st = changed.wait_while(st, |s| s.watch().is_some_and(|w| !w.asked)).unwrap_or_else(|e| e.into_inner());
            if st.watch().is_none() {
                return;
            }
            if st.holder.is_some() {
                st.waiting += 1;
                st.log.push("another thread waits for the lock".into());
                if let Some(w) = st.watch.as_mut() {
                    w.waiting_for_lock = true;
                }
                changed.notify_all();
                st = changed.wait_while(st, |s| s.holder.is_some() && s.watch().is_some()).unwrap_or_else(|e| e.into_inner());
                st.waiting -= 1;
                if let Some(w) = st.watch.as_mut() {
                    w.waiting_for_lock = false;
                }
                if st.watch().is_none() {
                    return;
                }
            }
            if let Some((key, amount)) = st.watch.as_mut().and_then(|w| w.deposit.take()) {
                let had = st.data.get(&key).copied().unwrap_or(0);
                st.change(&key, Some(had + amount), &format!(" (another thread deposits {amount})"));
                if let Some(w) = st.watch.as_mut() {
                    w.asked = false;
                    w.stop = true;
                }
                changed.notify_all();
                return;
            }
            let seen = st.data.clone();
            st.log.push(format!("another thread reads {}", show(&seen)));
            let version = st.version;
            if let Some(w) = st.watch.as_mut() {
                w.seen.push(seen);
                w.read_at = Some(version);
                w.asked = false;
            }
            changed.notify_all();
        }
    }
}

/// The store's lock, held: reads and changes through it happen while no
/// other thread can look. Dropping it unlocks. Like `MutexGuard`, it is not
/// `Send`: the thread that locked is the one that unlocks.
pub struct StoreGuard {
    store: Store,
    _not_send: PhantomData<*const ()>,
}

impl StoreGuard {
    /// The balance of `key`, if it exists.
    pub fn get(&self, key: &str) -> Option<i64> {
        let st = self.store.state();
        let value = st.data.get(key).copied();
        drop(self.store.hand_off(st));
        value
    }

    /// Sets `key` to `value`, creating it if needed; returns the value it
    /// had (`None`: it did not exist).
    pub fn set(&mut self, key: &str, value: i64) -> Option<i64> {
        let st = self.store.state();
        self.store.hand_off(st).change(key, Some(value), "")
    }

    /// Removes `key`; returns the value it had.
    pub fn remove(&mut self, key: &str) -> Option<i64> {
        let st = self.store.state();
        self.store.hand_off(st).change(key, None, "")
    }

    /// A copy of every balance.
    pub fn snapshot(&self) -> BTreeMap<String, i64> {
        let st = self.store.state();
        let all = st.data.clone();
        drop(self.store.hand_off(st));
        all
    }
}

impl Drop for StoreGuard {
    fn drop(&mut self) {
        let mut st = self.store.state();
        st.holder = None;
        st.log.push("unlocked".into());
        self.store.inner.changed.notify_all();
        // In the judge: the other thread waiting for the lock gets in now,
        // before this thread can take the lock again (see `Store::hand_off`).
        if st.watch().is_some_and(|w| w.waiting_for_lock) {
            let _ = self.store.inner.changed.wait_timeout_while(st, READER_PATIENCE, |s| s.watch().is_some_and(|w| w.asked));
        }
    }
}

/// What the transaction exercise's `Transaction` offers; the judge works
/// the learner's type through it.
pub trait Transact {
    /// The balance of `key` as this transaction sees it (its own changes included).
    fn get(&self, key: &str) -> Option<i64>;
    /// Sets `key` to `value` (creating it if needed) as part of the transaction.
    fn set(&mut self, key: &str, value: i64);
    /// Ends the transaction and keeps its changes.
    fn commit(self);
}

/// [`Transact`] behind a `Box`, so the judge is compiled once, here, and
/// not again for every learner's type.
trait BoxedTransact {
    fn get(&self, key: &str) -> Option<i64>;
    fn set(&mut self, key: &str, value: i64);
    fn commit(self: Box<Self>);
}

impl<T: Transact> BoxedTransact for T {
    fn get(&self, key: &str) -> Option<i64> {
        Transact::get(self, key)
    }
    fn set(&mut self, key: &str, value: i64) {
        Transact::set(self, key, value)
    }
    fn commit(self: Box<Self>) {
        Transact::commit(*self)
    }
}

type Tx = Box<dyn BoxedTransact>;
type BeginFn = Box<dyn Fn(&Store) -> Tx + Send>;

/// A store with the judge's other thread attached (see
/// [`Store::hand_off`]); dropping it stops that thread.
struct Watched {
    store: Store,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watched {
    /// A store with `balances`, and a thread that reads it at every hand-off
    /// or, given `deposit`, deposits once, at the first.
    fn new(balances: &[(&str, i64)], deposit: Option<(&str, i64)>) -> Result<Watched, String> {
        let store = Store::new(balances);
        store.state().watch = Some(Watch { deposit: deposit.map(|(k, v)| (k.to_string(), v)), ..Watch::default() });
        let theirs = store.clone();
        let reader = std::thread::Builder::new()
            .name("reader".into())
            .spawn(move || theirs.read_when_asked())
            .map_err(|e| format!("could not start the check's other thread: {e}"))?;
        Ok(Watched { store, reader: Some(reader) })
    }

    /// Waits (bounded) until the other thread has done what it was asked to.
    fn settle(&self) {
        let st = self.store.state();
        let _ = self.store.inner.changed.wait_timeout_while(st, READER_PATIENCE, |s| s.watch().is_some_and(|w| w.asked));
    }

    /// What the store holds now, read without a hand-off.
    fn holds(&self) -> BTreeMap<String, i64> {
        self.store.state().data.clone()
    }

    fn seen(&self) -> Vec<BTreeMap<String, i64>> {
        self.store.state().watch.as_ref().map(|w| w.seen.clone()).unwrap_or_default()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(w) = self.store.state().watch.as_mut() {
            w.stop = true;
        }
        self.store.inner.changed.notify_all();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Every transaction of the judge starts from these balances.
const OPENING: &[(&str, i64)] = &[("alice", 100), ("bob", 50)];

fn balances(list: &[(&str, i64)]) -> BTreeMap<String, i64> {
    list.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

/// What differs between the store `found` and what was `expected`.
fn differences(found: &BTreeMap<String, i64>, expected: &BTreeMap<String, i64>) -> String {
    let keys: std::collections::BTreeSet<&String> = found.keys().chain(expected.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        match (found.get(k), expected.get(k)) {
            (Some(f), Some(e)) if f != e => out.push(format!("{k} is {f} (expected {e})")),
            (Some(f), None) => out.push(format!("{k} is {f} (expected no {k}: it did not exist at begin)")),
            (None, Some(e)) => out.push(format!("{k} is missing (expected {e})")),
            _ => {}
        }
    }
    out.join(", ")
}

/// Moves `amount` from `from` to `to` inside a transaction, one change at
/// a time, the way a program would: read, write, read, write. Stops with an
/// error, before its second change, if `to` does not exist.
fn move_money(tx: &mut dyn BoxedTransact, from: &str, to: &str, amount: i64) -> Result<(), String> {
    let have = tx.get(from).ok_or(format!("there is no account {from}"))?;
    tx.set(from, have - amount);
    let got = tx.get(to).ok_or(format!("there is no account {to}"))?;
    tx.set(to, got + amount);
    Ok(())
}

/// Runs one way through a transaction (`path`, as the learner will read it)
/// on a fresh store with the other thread attached (reading, or making
/// `deposit`), then checks: the lock is free, the store holds `expect`, and
/// the reader never saw anything but the opening balances or `expect`.
fn one_path(
    path: &str,
    deposit: Option<(&str, i64)>,
    expect: &[(&str, i64)],
    because: &str,
    body: impl FnOnce(&Store) -> Result<(), String>,
) -> Result<(), String> {
    let watched = Watched::new(OPENING, deposit)?;
    let store = &watched.store;
    exercise::call(|| body(store)).map_err(|m| format!("{path}: your code panicked: {m}"))?.map_err(|e| format!("{path}: {e}"))?;
    let log = || store.log().join("; ");
    if store.is_locked() {
        return Err(format!(
            "{path}: afterwards the store is still locked, so no other thread could ever use it again \
             (a guard that is never dropped, for instance one inside a value passed to std::mem::forget, never unlocks). What happened: {}",
            log()
        ));
    }
    watched.settle();
    let found = watched.holds();
    let expected = balances(expect);
    if found != expected {
        return Err(format!("{path}: afterwards {}; {because}. What happened: {}", differences(&found, &expected), log()));
    }
    let opening = balances(OPENING);
    if let Some(half) = watched.seen().into_iter().find(|s| *s != opening && *s != expected) {
        return Err(format!(
            "{path}: another thread read the store between two of the transaction's changes and saw {}: half a transaction \
             (at begin {}, at the end {}). The store's lock was free between those changes. What happened: {}",
            show(&half),
            show(&opening),
            show(&expected),
            log()
        ));
    }
    Ok(())
}

/// Exercise "transaction": judges `begin(store)`, which returns a
/// `Transaction` ([`Transact`]) whose changes stay if it is committed and
/// are undone on every other way out: `?`, an early return, the end of a
/// scope, a panic. While it is open, no other thread may see its changes
/// half done: the judge's reader thread tries to read before each change
/// (see [`Store::hand_off`]). `T` is the learner's transaction type.
pub fn judge_transaction<T: Transact + 'static>(begin: fn(&Store) -> T) -> Verdict {
    judge_transaction_dyn(Box::new(move |store| Box::new(begin(store)) as Tx))
}

fn judge_transaction_dyn(begin: BeginFn) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let kept = "after commit the changes must stay";
        let undone = "the transaction was not committed, so everything must be as at begin";
        let transfer = |store: &Store| {
            let mut tx = begin(store);
            move_money(&mut *tx, "alice", "bob", 30).map_err(|e| format!("{e}, said your transaction's get(), but the store has alice = 100, bob = 50"))?;
            tx.commit();
            Ok(())
        };
        one_path("commit (30 moved from alice to bob, then commit)", None, &[("alice", 70), ("bob", 80)], kept, transfer)?;
        one_path(
            "commit while another thread deposits (30 moved from alice to bob, then commit; right after the transaction first read the store, \
             another thread set out to deposit 5 into alice)",
            Some(("alice", 5)),
            &[("alice", 75), ("bob", 80)],
            "the deposit must not be lost: while the transaction runs, the other thread must wait for it",
            transfer,
        )?;
        // Pays `amount` from alice to `to` and commits, unless `to` does
        // not exist (`?`) or alice ends up below zero (`return`).
        let pay = |store: &Store, to: &str, amount: i64| -> Result<(), String> {
            let mut tx = begin(store);
            move_money(&mut *tx, "alice", to, amount)?;
            if tx.get("alice").unwrap_or(0) < 0 {
                return Err("alice would be overdrawn".into());
            }
            tx.commit();
            Ok(())
        };
        one_path(
            "`?` (30 taken from alice for dave, who has no account: `tx.get(\"dave\").ok_or(..)?` returned early, no commit)",
            None,
            OPENING,
            undone,
            |store| {
                let _ = pay(store, "dave", 30);
                Ok(())
            },
        )?;
        one_path(
            "early return (120 moved from alice to bob, then alice found below zero: `return Err(..)`, no commit)",
            None,
            OPENING,
            undone,
            |store| {
                let _ = pay(store, "bob", 120);
                Ok(())
            },
        )?;
        one_path("end of scope (30 moved from alice to bob, and the transaction dropped without commit)", None, OPENING, undone, |store| {
            let mut tx = begin(store);
            let _ = move_money(&mut *tx, "alice", "bob", 30);
            Ok(())
        })?;
        one_path(
            "a key changed twice and a new key (alice set to 70 then 40, carol created with 10, dropped without commit)",
            None,
            OPENING,
            undone,
            |store| {
                let mut tx = begin(store);
                tx.set("alice", 70);
                tx.set("alice", 40);
                tx.set("carol", 10);
                Ok(())
            },
        )?;
        one_path("commit of a new key (carol created with 10 taken from alice, then commit)", None, &[("alice", 90), ("bob", 50), ("carol", 10)], kept, |store| {
            let mut tx = begin(store);
            tx.set("carol", 10);
            tx.set("alice", 90);
            tx.commit();
            Ok(())
        })?;
        const BROKE: &str = "the card reader failed";
        one_path("a panic (30 moved from alice to bob, then a panic before commit)", None, OPENING, undone, |store| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut tx = begin(store);
                let _ = move_money(&mut *tx, "alice", "bob", 30);
                panic!("{BROKE}");
            }));
            match outcome {
                Err(p) if exercise::panic_message(p.as_ref()) == BROKE => Ok(()),
                Err(p) => std::panic::resume_unwind(p), // the learner's own panic
                Ok(()) => Ok(()),
            }
        })?;
        Ok("commit keeps the changes; without it they are undone on every way out (`?`, an early return, the end of a scope, a panic), \
            also for a key changed twice and a key that did not exist; and another thread that tried to read or write during a transaction \
            waited for its end every time"
            .into())
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

    /// Right, the other way: a snapshot at begin, put back on drop.
    struct Snapshot {
        guard: StoreGuard,
        at_begin: Option<BTreeMap<String, i64>>,
    }
    fn begin_snapshot(store: &Store) -> Snapshot {
        let guard = store.lock();
        let at_begin = Some(guard.snapshot());
        Snapshot { guard, at_begin }
    }
    impl Transact for Snapshot {
        fn get(&self, key: &str) -> Option<i64> {
            self.guard.get(key)
        }
        fn set(&mut self, key: &str, value: i64) {
            self.guard.set(key, value);
        }
        fn commit(mut self) {
            self.at_begin = None;
        }
    }
    impl Drop for Snapshot {
        fn drop(&mut self) {
            if let Some(at_begin) = self.at_begin.take() {
                for key in self.guard.snapshot().keys().filter(|k| !at_begin.contains_key(*k)) {
                    self.guard.remove(key);
                }
                for (key, value) in at_begin {
                    self.guard.set(&key, value);
                }
            }
        }
    }

    #[test]
    fn transaction_judge() {
        // The reference (an undo log) is checked in crate::exercises, wrong
        // transactions in crate::wrong_answers.
        assert!(judge_transaction(begin_snapshot).passed(), "{}", judge_transaction(begin_snapshot));
        assert_eq!(judge_transaction(|_| -> Starter { todo!() }), Verdict::NotSolved);
        assert_eq!(judge_transaction(|_| Starter), Verdict::NotSolved);
    }

    /// The starter cell's transaction.
    struct Starter;
    impl Transact for Starter {
        fn get(&self, _: &str) -> Option<i64> {
            todo!()
        }
        fn set(&mut self, _: &str, _: i64) {
            todo!()
        }
        fn commit(self) {
            todo!()
        }
    }

    #[test]
    fn store_guard_holds_the_lock_and_logs() {
        let store = Store::new(&[("alice", 100)]);
        let mut guard = store.lock();
        assert!(store.is_locked());
        assert_eq!(guard.set("carol", 5), None);
        assert_eq!(guard.remove("carol"), Some(5));
        // Waiting for our own lock would hang: it panics with a reason instead.
        let again = exercise::quietly(|| store.set("alice", 1));
        assert!(again.unwrap_err().contains("would wait for ever"));
        drop(guard);
        assert!(!store.is_locked());
        assert_eq!(store.set("alice", 90), Some(100));
        assert_eq!(
            store.log(),
            ["locked", "carol: absent -> 5", "carol removed (was 5)", "unlocked", "alice: 100 -> 90 (store.set: locked for this one change)"]
        );
    }
}
