//! Work queues shared by a pool of threads (chapter 3), and the judges of
//! the two queue exercises (a work queue, and a priority queue with aging).
//!
//! A work queue is the meeting point of producers (who `push` jobs) and
//! consumers (worker threads that `pop` them). What makes one *correct* is
//! not visible in a single-threaded test: `pop` must wait while the queue is
//! empty but still open (a consumer that gives up early leaves jobs behind),
//! `close` must wake every waiting consumer (or they wait forever), and no
//! job may be lost or handed out twice under any interleaving. So the judges
//! here run the learner's queue many times, with several producers and
//! consumers and a different pattern of pauses each round, and print the
//! round that broke it.

use crate::exercise::{self, Verdict};
use crate::workload::{jitter, Rng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, LockResult, MutexGuard};
use std::time::Duration;

/// A first-in first-out queue of jobs that several threads share.
pub trait WorkQueue: Send + Sync + 'static {
    /// Adds a job at the back and wakes one waiting consumer.
    fn push(&self, job: u64);
    /// Takes the job at the front. While the queue is empty and still open,
    /// waits; once it is closed *and* empty, returns `None`.
    fn pop(&self) -> Option<u64>;
    /// Says that no more jobs will come: wakes every waiting consumer.
    fn close(&self);
}

/// A priority queue where waiting raises a job's priority, so that a job of
/// low priority cannot wait for ever behind a stream of urgent ones.
///
/// The rule: at each `pop`, a waiting job's *effective priority* is its
/// `priority` plus the number of pops (that returned a job) since it was
/// pushed. `pop` returns the job of highest effective priority; among equal
/// effective priorities, the one pushed first. Same waiting and closing
/// rules as [`WorkQueue`].
pub trait AgingQueue: Send + Sync + 'static {
    /// Adds a job; a larger `priority` is more urgent.
    fn push(&self, priority: u32, job: u64);
    /// Takes the job of highest effective priority; waits while empty and
    /// open; `None` once closed and empty.
    fn pop(&self) -> Option<u64>;
    /// No more jobs will come: wakes every waiting consumer.
    fn close(&self);
}

/// A condition variable: std's [`std::sync::Condvar`], with the same
/// methods, and one addition for the queue checks. A check can ask one of
/// its own consumer threads to stop just before its next `wait`, still
/// holding the queue's lock, until the check has called `close()` on
/// another thread. A `close` that takes the queue's lock (as it must, to
/// set the closed flag that `pop` looks at) then waits for that lock, and
/// the consumer is woken as usual. A `close` that sets a flag outside the
/// lock and notifies at once finds nobody waiting yet: the consumer sleeps
/// through it, the *lost wake-up*, which otherwise happens only when
/// `close` lands in a window of a few instructions. Outside a check it is
/// exactly std's condition variable.
#[derive(Debug, Default)]
pub struct Condvar(std::sync::Condvar);

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Condvar {
        Condvar(std::sync::Condvar::new())
    }

    /// Releases the lock, sleeps until notified, takes the lock again
    /// ([`std::sync::Condvar::wait`]).
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        hold::before_wait();
        self.0.wait(guard)
    }

    /// Waits while `condition` holds ([`std::sync::Condvar::wait_while`]).
    pub fn wait_while<'a, T, F: FnMut(&mut T) -> bool>(&self, mut guard: MutexGuard<'a, T>, mut condition: F) -> LockResult<MutexGuard<'a, T>> {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Self::wait), for at most `limit`
    /// ([`std::sync::Condvar::wait_timeout`]).
    pub fn wait_timeout<'a, T>(&self, guard: MutexGuard<'a, T>, limit: Duration) -> LockResult<(MutexGuard<'a, T>, std::sync::WaitTimeoutResult)> {
        hold::before_wait();
        self.0.wait_timeout(guard, limit)
    }

    /// Wakes one waiting thread.
    pub fn notify_one(&self) {
        self.0.notify_one();
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// The stop before a `wait` that a check asks of one of its threads.
mod hold {
    use std::cell::RefCell;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    /// How long a held consumer waits for the check's go: a bound on a hang.
    const PATIENCE: Duration = Duration::from_secs(10);

    #[derive(Default)]
    pub(super) struct Hold {
        state: Mutex<(bool, bool)>, // (arrived, go)
        changed: Condvar,
    }

    thread_local! {
        static HERE: RefCell<Option<Arc<Hold>>> = const { RefCell::new(None) };
    }

    impl Hold {
        /// Stops this thread before its next `wait` (once).
        pub(super) fn arm(self: &Arc<Self>) {
            HERE.with(|h| *h.borrow_mut() = Some(self.clone()));
        }

        /// Whether the armed thread has reached its `wait`.
        pub(super) fn arrived(&self) -> bool {
            self.state.lock().unwrap_or_else(|e| e.into_inner()).0
        }

        /// Lets the armed thread go on into its `wait`.
        pub(super) fn go(&self) {
            self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
            self.changed.notify_all();
        }
    }

    pub(super) fn before_wait() {
        let Some(hold) = HERE.with(|h| h.borrow_mut().take()) else { return };
        let mut st = hold.state.lock().unwrap_or_else(|e| e.into_inner());
        st.0 = true;
        hold.changed.notify_all();
        let _released = hold.changed.wait_timeout_while(st, PATIENCE, |st| !st.1).unwrap_or_else(|e| e.into_inner());
    }
}

/// The factors of `n` (1 and `n` included), in ascending order: the "job"
/// of the book's work-queue example.
pub fn factors(n: u64) -> Vec<u64> {
    let mut small = Vec::new();
    let mut large = Vec::new();
    let mut d = 1;
    while d * d <= n {
        if n % d == 0 {
            small.push(d);
            if d != n / d {
                large.push(n / d);
            }
        }
        d += 1;
    }
    small.extend(large.into_iter().rev());
    small
}

/// One round of the stress test: who took part and what went wrong.
struct Round {
    producers: usize,
    consumers: usize,
    jobs_each: usize,
    seed: u64,
}

impl Round {
    fn describe(&self) -> String {
        format!(
            "round with {} producer(s) pushing {} jobs each and {} consumer(s), pauses from seed {}",
            self.producers, self.jobs_each, self.consumers, self.seed
        )
    }
}

/// What a consumer thread reports back.
enum Consumed {
    Jobs { jobs: Vec<u64>, none_while_open: bool },
    Panicked(Box<dyn std::any::Any + Send>),
}

/// How long consumers may take to finish after `close()`.
const AFTER_CLOSE: Duration = Duration::from_secs(10);

/// Makes a fresh queue for one round; the judges wrap the learner's
/// constructor in this, so the stress test below is compiled once, here,
/// and not again inside every notebook check cell.
type Make<'a> = &'a dyn Fn() -> Arc<dyn WorkQueue>;

/// Runs producers and consumers on a queue made by `make` and checks that
/// every job comes out exactly once and every consumer stops after `close`.
fn stress(make: Make, rounds: u64) -> Result<usize, String> {
    let mut total = 0;
    for seed in 1..=rounds {
        let mut rng = Rng::new(seed);
        let round = Round {
            producers: 1 + rng.below(3) as usize,
            consumers: 1 + rng.below(4) as usize,
            jobs_each: 1 + rng.below(40) as usize,
            seed,
        };
        let queue = exercise::call(make).map_err(|m| format!("creating the queue panicked: {m}"))?;
        let closed = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        for c in 0..round.consumers {
            let (queue, closed, tx) = (queue.clone(), closed.clone(), tx.clone());
            let mut rng = Rng::new(seed * 1000 + c as u64);
            std::thread::spawn(move || {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut jobs = Vec::new();
                    loop {
                        jitter(&mut rng);
                        match queue.pop() {
                            Some(job) => jobs.push(job),
                            None => return Consumed::Jobs { jobs, none_while_open: !closed.load(Ordering::SeqCst) },
                        }
                    }
                }));
                let _ = tx.send(out.unwrap_or_else(Consumed::Panicked));
            });
        }
        drop(tx);
        let producers: Vec<_> = (0..round.producers)
            .map(|p| {
                let queue = queue.clone();
                let mut rng = Rng::new(seed * 1000 + 500 + p as u64);
                let jobs_each = round.jobs_each;
                std::thread::spawn(move || {
                    for k in 0..jobs_each {
                        jitter(&mut rng);
                        queue.push((p * 1000 + k) as u64);
                    }
                })
            })
            .collect();
        for h in producers {
            if let Err(payload) = h.join() {
                return Err(format!("push() panicked: {} ({})", exercise::joined(payload), round.describe()));
            }
        }
        closed.store(true, Ordering::SeqCst);
        exercise::call(|| queue.close()).map_err(|m| format!("close() panicked: {m} ({})", round.describe()))?;
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + AFTER_CLOSE;
        for finished in 0..round.consumers {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(Consumed::Jobs { jobs, none_while_open }) => {
                    if none_while_open {
                        return Err(format!(
                            "pop() returned None while the queue was still open (the producers were still pushing), so that consumer stopped early \
                             and any job pushed after it would have been left behind. pop() must *wait* while the queue is empty and open. ({})",
                            round.describe()
                        ));
                    }
                    got.extend(jobs);
                }
                Ok(Consumed::Panicked(payload)) => {
                    return Err(format!("pop() panicked: {} ({})", exercise::joined(payload), round.describe()));
                }
                Err(_) => {
                    return Err(format!(
                        "{} of {} consumer(s) were still blocked in pop() {} s after close(). Does close() wake *every* waiting consumer \
                         (notify_all), and does pop() return None once the queue is closed and empty? ({})",
                        round.consumers - finished,
                        round.consumers,
                        AFTER_CLOSE.as_secs(),
                        round.describe()
                    ));
                }
            }
        }
        let mut counts: HashMap<u64, usize> = HashMap::new();
        for job in &got {
            *counts.entry(*job).or_default() += 1;
        }
        let want: Vec<u64> =
            (0..round.producers).flat_map(|p| (0..round.jobs_each).map(move |k| (p * 1000 + k) as u64)).collect();
        let lost: Vec<u64> = want.iter().copied().filter(|j| !counts.contains_key(j)).collect();
        let twice: Vec<u64> = counts.iter().filter(|(_, &n)| n > 1).map(|(j, _)| *j).collect();
        let unknown: Vec<u64> = counts.keys().copied().filter(|j| !want.contains(j)).collect();
        if !lost.is_empty() {
            return Err(format!(
                "{} of {} jobs never came out of the queue, e.g. job {} ({})",
                lost.len(),
                want.len(),
                lost[0],
                round.describe()
            ));
        }
        if !twice.is_empty() {
            return Err(format!("job {} came out more than once ({})", twice[0], round.describe()));
        }
        if !unknown.is_empty() {
            return Err(format!("job {} came out but was never pushed ({})", unknown[0], round.describe()));
        }
        total += want.len();
    }
    Ok(total)
}

/// How many consumers [`waiting_consumers`] sends into `pop` on an empty queue.
const WAITERS: usize = 3;
/// How long [`waiting_consumers`] looks for its consumers asleep before it
/// closes the queue anyway (a queue whose `pop` spins never sleeps).
const FALL_ASLEEP: Duration = Duration::from_secs(5);

/// The scheduling state of thread `tid` of this process (`'S'`: asleep,
/// `'R'`: running or ready), from `/proc`; `None` where there is no `/proc`.
pub(crate) fn thread_state(tid: i64) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// This thread's id in the kernel's eyes (for [`thread_state`]).
pub(crate) fn kernel_tid() -> i64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid(2) takes no arguments, touches no memory and cannot fail.
        i64::from(unsafe { libc::gettid() })
    }
    #[cfg(not(target_os = "linux"))]
    {
        -1
    }
}

/// The waiting rules, checked without luck: [`WAITERS`] consumers call
/// `pop` on an empty, open queue, and the judge waits until it sees every
/// one of them asleep (twice, 10 ms apart: so they are in the condition
/// variable's wait, not passing through a lock). Only then does it call
/// `close`, and every one of them must come back with `None`. A `pop` that
/// returns while the queue is open and empty, or a `close` that wakes one
/// consumer or none, fails here every time, whatever the machine's speed:
/// the stress rounds would catch them only when the timing happens to
/// leave two consumers waiting at once.
fn waiting_consumers(make: Make) -> Result<(), String> {
    let schedule = format!("{WAITERS} consumers calling pop() on an empty, open queue, then close() once all of them were seen asleep in pop()");
    let queue = exercise::call(make).map_err(|m| format!("creating the queue panicked: {m}"))?;
    let closed = Arc::new(AtomicBool::new(false));
    let (tids_tx, tids_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    for _ in 0..WAITERS {
        let (queue, closed, tids_tx, tx) = (queue.clone(), closed.clone(), tids_tx.clone(), tx.clone());
        std::thread::spawn(move || {
            let _ = tids_tx.send(kernel_tid());
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| queue.pop()));
            let _ = tx.send(out.map(|job| (job, closed.load(Ordering::SeqCst))));
        });
    }
    drop(tx);
    let tids: Vec<i64> = (0..WAITERS).filter_map(|_| tids_rx.recv_timeout(AFTER_CLOSE).ok()).collect();
    let early = |got: Result<(Option<u64>, bool), Box<dyn std::any::Any + Send>>| -> String {
        match got {
            Err(payload) => format!("pop() panicked: {} ({schedule})", exercise::joined(payload)),
            Ok((None, _)) => format!(
                "pop() returned None while the queue was still open (empty, but nobody had called close()): pop() must *wait* while the queue is empty and open ({schedule})"
            ),
            Ok((Some(job), _)) => format!("pop() returned job {job} from a queue nobody had pushed anything into ({schedule})"),
        }
    };
    let deadline = std::time::Instant::now() + FALL_ASLEEP;
    let asleep = || tids.len() == WAITERS && tids.iter().all(|&t| thread_state(t) == Some('S'));
    while std::time::Instant::now() < deadline {
        if let Ok(got) = rx.try_recv() {
            return Err(early(got));
        }
        if asleep() {
            std::thread::sleep(Duration::from_millis(10));
            if asleep() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if let Ok(got) = rx.try_recv() {
        return Err(early(got));
    }
    closed.store(true, Ordering::SeqCst);
    exercise::call(|| queue.close()).map_err(|m| format!("close() panicked: {m} ({schedule})"))?;
    let until = std::time::Instant::now() + AFTER_CLOSE;
    for back in 0..WAITERS {
        match rx.recv_timeout(until.saturating_duration_since(std::time::Instant::now())) {
            Ok(Ok((None, _))) => {}
            Ok(Ok((Some(job), _))) => return Err(format!("pop() returned job {job} from a queue nobody had pushed anything into ({schedule})")),
            Ok(Err(payload)) => return Err(format!("pop() panicked: {} ({schedule})", exercise::joined(payload))),
            Err(_) => {
                return Err(format!(
                    "{} of {WAITERS} consumer(s) were still blocked in pop() {} s after close(): close() must wake *every* waiting consumer \
                     (notify_all: notify_one wakes only one), and pop() must return None once the queue is closed and empty ({schedule})",
                    WAITERS - back,
                    AFTER_CLOSE.as_secs()
                ))
            }
        }
    }
    Ok(())
}

/// What the judge does on another thread while a consumer is stopped just
/// before its `wait`.
#[derive(Clone, Copy)]
enum Wake {
    /// `close()`: the consumer must come back with `None`.
    Close,
    /// `push(job)`: the consumer must come back with that job.
    Push(u64),
}

impl Wake {
    fn name(self) -> &'static str {
        match self {
            Wake::Close => "close()",
            Wake::Push(_) => "push()",
        }
    }
}

/// The lost wake-up, made to happen: a consumer finds the queue empty and
/// open and is about to `wait` (in [`Condvar::wait`], still holding the
/// queue's lock) when `close()`, or a `push`, runs on another thread. The
/// consumer stays there until that call has either returned or is seen
/// asleep (waiting for the lock, as a right `close` or `push` does); then it
/// goes on into its `wait`, and must come back with `None` (after `close`)
/// or the job (after `push`). Skipped when `pop` waits some other way (a
/// std `Condvar`, spinning): the consumer is then seen asleep, or still
/// running after a bound, without reaching ours.
fn while_a_consumer_is_about_to_wait(make: Make, wake: Wake) -> Result<(), String> {
    let call = wake.name();
    let schedule = format!(
        "one consumer found the queue empty and open and was about to wait (holding the queue's lock) when {} ran on another thread",
        match wake {
            Wake::Close => "close()".to_string(),
            Wake::Push(job) => format!("a push of job {job}"),
        }
    );
    let queue = exercise::call(make).map_err(|m| format!("creating the queue panicked: {m}"))?;
    let act = {
        let queue = queue.clone();
        move || match wake {
            Wake::Close => queue.close(),
            Wake::Push(job) => queue.push(job),
        }
    };
    let hold = Arc::new(hold::Hold::default());
    let (tid_tx, tid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    {
        let (queue, hold) = (queue.clone(), hold.clone());
        std::thread::spawn(move || {
            hold.arm();
            let _ = tid_tx.send(kernel_tid());
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| queue.pop()));
            let _ = tx.send(out);
        });
    }
    let consumer = tid_rx.recv_timeout(AFTER_CLOSE).unwrap_or(-1);
    let deadline = std::time::Instant::now() + FALL_ASLEEP;
    loop {
        if hold.arrived() {
            break;
        }
        if let Ok(out) = rx.try_recv() {
            return match out {
                Err(payload) => Err(format!("pop() panicked: {}", exercise::joined(payload))),
                Ok(got) => Err(format!("pop() on an empty, open queue returned {got:?} without waiting: pop() must *wait* while the queue is empty and open")),
            };
        }
        if std::time::Instant::now() > deadline || thread_state(consumer) == Some('S') && !hold.arrived() {
            // Waits some other way: this check cannot stop it; act to let it go.
            hold.go();
            exercise::call(act).map_err(|m| format!("{call} panicked: {m}"))?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (actor_tx, actor_rx) = mpsc::channel();
    let (acted_tx, acted_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = actor_tx.send(kernel_tid());
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(act));
        let _ = acted_tx.send(out);
    });
    let actor = actor_rx.recv_timeout(AFTER_CLOSE).unwrap_or(-1);
    let deadline = std::time::Instant::now() + AFTER_CLOSE;
    let mut acted = None;
    while std::time::Instant::now() < deadline {
        if let Ok(out) = acted_rx.try_recv() {
            acted = Some(out);
            break;
        }
        if thread_state(actor) == Some('S') {
            std::thread::sleep(Duration::from_millis(10));
            if thread_state(actor) == Some('S') {
                break; // waiting for the queue's lock, as it should
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    hold.go();
    if let Some(Err(payload)) = acted {
        return Err(format!("{call} panicked: {} ({schedule})", exercise::joined(payload)));
    }
    match (rx.recv_timeout(AFTER_CLOSE), wake) {
        (Ok(Ok(None)), Wake::Close) => Ok(()),
        (Ok(Ok(Some(j))), Wake::Push(job)) if j == job => Ok(()),
        (Ok(Ok(got)), _) => Err(format!("pop() returned {got:?} ({schedule})")),
        (Ok(Err(payload)), _) => Err(format!("pop() panicked: {} ({schedule})", exercise::joined(payload))),
        (Err(_), Wake::Close) => Err(format!(
            "{schedule}: close() {} without waiting for that lock, its notify_all() found nobody waiting yet, and the consumer then slept \
             through it: still blocked in pop() {} s after close(). A lost wake-up: keep the closed flag behind the same Mutex as the jobs, \
             and set it while holding that lock, so close() cannot slip in between pop()'s look at the flag and its wait.",
            if acted.is_some() { "returned" } else { "ran" },
            AFTER_CLOSE.as_secs()
        )),
        (Err(_), Wake::Push(job)) => Err(format!(
            "{schedule}: the consumer then went into its wait and slept through the push: still blocked in pop() {} s later, with job {job} \
             in the queue. A lost wake-up: push() must notify *after* the job is in the queue (a notify that comes first, while the consumer \
             is still on its way into wait, wakes nobody).",
            AFTER_CLOSE.as_secs()
        )),
    }
}

/// The checks every blocking queue of this chapter must pass, whatever
/// order it hands jobs out in; the success message's list of what was
/// checked.
fn blocking_rules(make: Make) -> Result<String, String> {
    waiting_consumers(make)?;
    while_a_consumer_is_about_to_wait(make, Wake::Close)?;
    while_a_consumer_is_about_to_wait(make, Wake::Push(42))?;
    let jobs = stress(make, ROUNDS)?;
    Ok(format!(
        "{WAITERS} consumers waiting on an empty queue all woken by close(); no wake-up lost when close() or push() comes just before a consumer's wait; \
         {ROUNDS} rounds with up to 3 producers and 4 consumers ({jobs} jobs): every job came out exactly once and every consumer stopped after close()"
    ))
}

/// How many rounds each judge runs.
const ROUNDS: u64 = 150;

/// Exercise "work_queue": judges a learner's [`WorkQueue`]; `make` builds an
/// empty, open queue.
pub fn judge_work_queue<Q: WorkQueue>(make: fn() -> Q) -> Verdict {
    judge_work_queue_dyn(Box::new(move || Arc::new(make()) as Arc<dyn WorkQueue>))
}

fn judge_work_queue_dyn(make: Box<dyn Fn() -> Arc<dyn WorkQueue> + Send>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        // First in, first out, on one thread.
        let q = exercise::call(&*make).map_err(|m| format!("creating the queue panicked: {m}"))?;
        exercise::call(|| {
            for j in [7, 8, 9] {
                q.push(j);
            }
            q.close();
        })
        .map_err(|m| format!("push() or close() panicked: {m}"))?;
        let order: Vec<Option<u64>> = (0..4).map(|_| exercise::call(|| q.pop())).collect::<Result<_, _>>().map_err(|m| format!("pop() panicked: {m}"))?;
        if order != [Some(7), Some(8), Some(9), None] {
            return Err(format!(
                "on one thread, push 7, 8, 9, close, then pop four times gave {order:?}; expected [Some(7), Some(8), Some(9), None] (first in, first out, then None)"
            ));
        }
        let rules = blocking_rules(&*make)?;
        Ok(format!("first in, first out; {rules}"))
    })
}

// --- the aging queue ---------------------------------------------------------

/// The aging rule, written out literally (every waiting job's effective
/// priority computed at every pop): what the judge compares a learner's
/// [`AgingQueue`] with. Slow on purpose; it is the definition, not a
/// solution.
#[derive(Default)]
struct Rule {
    waiting: Vec<Waiter>,
    pops: u64,
    pushes: u64,
}

#[derive(Clone, Copy)]
struct Waiter {
    job: u64,
    priority: u32,
    /// How many pops had returned a job when this one was pushed.
    pops_before: u64,
    /// 0 for the first push, 1 for the next, ...
    order: u64,
}

impl Rule {
    fn push(&mut self, priority: u32, job: u64) {
        self.waiting.push(Waiter { job, priority, pops_before: self.pops, order: self.pushes });
        self.pushes += 1;
    }

    fn waited(&self, w: &Waiter) -> u64 {
        self.pops - w.pops_before
    }

    fn effective(&self, w: &Waiter) -> u64 {
        u64::from(w.priority) + self.waited(w)
    }

    /// The waiting jobs, the one that comes out next first.
    fn ranked(&self) -> Vec<Waiter> {
        let mut ranked = self.waiting.clone();
        ranked.sort_by_key(|w| (std::cmp::Reverse(self.effective(w)), w.order));
        ranked
    }

    fn pop(&mut self) -> Option<Waiter> {
        let next = *self.ranked().first()?;
        self.waiting.retain(|w| w.job != next.job);
        self.pops += 1;
        Some(next)
    }

    /// The queue's content as the learner should picture it before a pop.
    fn describe(&self) -> String {
        let ranked = self.ranked();
        let shown: Vec<String> = ranked
            .iter()
            .take(6)
            .map(|w| {
                let waited = self.waited(w);
                format!(
                    "job {} (priority {} + {waited} pop{} waited = {})",
                    w.job,
                    w.priority,
                    if waited == 1 { "" } else { "s" },
                    self.effective(w)
                )
            })
            .collect();
        let more = if ranked.len() > 6 { format!(" and {} more", ranked.len() - 6) } else { String::new() };
        let tie = match ranked.as_slice() {
            [a, b, ..] if self.effective(a) == self.effective(b) => {
                format!(" Jobs {} and {} tie at {}: the one pushed first, job {}, wins.", a.job, b.job, self.effective(a), a.job)
            }
            _ => String::new(),
        };
        format!("the queue held {}{more}.{tie}", shown.join(", "))
    }
}

/// One step of a single-threaded script.
#[derive(Clone, Copy)]
enum Step {
    Push(u32, u64),
    Pop,
}

/// The hand-made script: each pop tells a different mistake apart (most
/// urgent first; aging overtakes a higher priority; a tie goes to the job
/// pushed first).
const SCRIPT: [Step; 12] = [
    Step::Push(2, 10),
    Step::Push(5, 11),
    Step::Push(1, 12),
    Step::Pop,
    Step::Push(4, 13),
    Step::Pop,
    Step::Pop,
    Step::Push(2, 14),
    Step::Pop,
    Step::Push(3, 15),
    Step::Pop,
    Step::Pop,
];

/// A random script: pushes of priority 0 to 7 and pops, never popping an
/// empty queue (that would wait, on one thread, for ever).
fn random_script(seed: u64, steps: usize) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    let (mut held, mut job) = (0, 100 * seed);
    (0..steps)
        .map(|_| {
            if held > 0 && rng.below(5) < 2 {
                held -= 1;
                Step::Pop
            } else {
                held += 1;
                job += 1;
                Step::Push(rng.below(8) as u32, job)
            }
        })
        .collect()
}

/// Runs `script` on one thread, then closes the queue and pops it empty,
/// comparing every pop with [`Rule`].
fn follows_the_rule(make: &dyn Fn() -> Arc<dyn AgingQueue>, what: &str, script: &[Step]) -> Result<(), String> {
    let q = exercise::call(make).map_err(|m| format!("creating the queue panicked: {m}"))?;
    let mut rule = Rule::default();
    let check_pop = |q: &Arc<dyn AgingQueue>, rule: &mut Rule, closed: bool| -> Result<(), String> {
        let n = rule.pops + 1;
        let before = rule.describe();
        let want = rule.pop();
        let got = exercise::call(|| q.pop()).map_err(|m| format!("{what}: pop {n} panicked: {m}"))?;
        let when = if closed { " (after close())" } else { "" };
        match (got, want) {
            (g, w) if g == w.map(|w| w.job) => Ok(()),
            (Some(g), Some(w)) => Err(format!(
                "{what}: pop {n}{when} returned job {g}, but by the aging rule job {} comes out: {before}{}",
                w.job,
                if rule.waiting.iter().any(|x| x.job == g) { String::new() } else { format!(" (Job {g} was not in the queue at all.)") }
            )),
            (None, Some(w)) => Err(format!("{what}: pop {n}{when} returned None, but job {} should come out: {before}", w.job)),
            (Some(g), None) => Err(format!("{what}: after close(), with every job already out, pop returned job {g} instead of None")),
            (None, None) => unreachable!("handled by the first arm"),
        }
    };
    for &step in script {
        match step {
            Step::Push(priority, job) => {
                exercise::call(|| q.push(priority, job)).map_err(|m| format!("{what}: push({priority}, {job}) panicked: {m}"))?;
                rule.push(priority, job);
            }
            Step::Pop => check_pop(&q, &mut rule, false)?,
        }
    }
    exercise::call(|| q.close()).map_err(|m| format!("{what}: close() panicked: {m}"))?;
    while !rule.waiting.is_empty() {
        check_pop(&q, &mut rule, true)?;
    }
    check_pop(&q, &mut rule, true)
}

/// The starvation check's stream: one low job, then an urgent job pushed
/// before every pop.
const LOW_JOB: u64 = 1;
const URGENT: u32 = 50;
const STREAM: u64 = 1000;

/// A low job under a steady stream of urgent ones must come out within
/// `URGENT + 1` pops (exactly then, by the rule). Returns the pop it came
/// out at.
fn does_not_starve(make: &dyn Fn() -> Arc<dyn AgingQueue>) -> Result<u64, String> {
    let q = exercise::call(make).map_err(|m| format!("creating the queue panicked: {m}"))?;
    let story = format!(
        "job {LOW_JOB} (priority 0) was pushed first, then a job of priority {URGENT} before every pop (jobs 1001, 1002, ...)"
    );
    let rule = format!(
        "By the aging rule it comes out at pop {}: by then it has waited {URGENT} pops, so its effective priority 0 + {URGENT} equals the newest job's {URGENT} + 0, \
         and a tie goes to the job pushed first.",
        URGENT + 1
    );
    exercise::call(|| q.push(0, LOW_JOB)).map_err(|m| format!("push(0, {LOW_JOB}) panicked: {m}"))?;
    for n in 1..=STREAM {
        exercise::call(|| q.push(URGENT, 1000 + n)).map_err(|m| format!("{story}: push({URGENT}, {}) panicked: {m}", 1000 + n))?;
        match exercise::call(|| q.pop()).map_err(|m| format!("{story}: pop {n} panicked: {m}"))? {
            Some(LOW_JOB) if n <= u64::from(URGENT) + 1 => return Ok(n),
            Some(LOW_JOB) => {
                return Err(format!(
                    "{story}: job {LOW_JOB} came out only at pop {n}, after waiting {} pops. {rule}",
                    n - 1
                ))
            }
            Some(_) => {}
            None => return Err(format!("{story}: pop {n} returned None from an open queue holding jobs")),
        }
    }
    Err(format!(
        "{story}: after {STREAM} pops, job {LOW_JOB} had waited {STREAM} pops and was still in the queue. It starves: as long as urgent jobs keep coming, \
         it never gets out. {rule}"
    ))
}

/// How many random scripts the judge runs, and their length.
const SCRIPTS: u64 = 30;
const SCRIPT_STEPS: usize = 40;

/// Exercise "aging_queue": judges a learner's [`AgingQueue`]; `make` builds
/// an empty, open queue.
pub fn judge_aging_queue<Q: AgingQueue>(make: fn() -> Q) -> Verdict {
    judge_aging_queue_dyn(Box::new(move || Arc::new(make()) as Arc<dyn AgingQueue>))
}

/// Lets the blocking checks drive an aging queue: the priority comes from
/// the job number, so there are ties as well as overtaking.
struct AsWorkQueue(Arc<dyn AgingQueue>);

impl WorkQueue for AsWorkQueue {
    fn push(&self, job: u64) {
        self.0.push((job % 7) as u32, job);
    }
    fn pop(&self) -> Option<u64> {
        self.0.pop()
    }
    fn close(&self) {
        self.0.close();
    }
}

fn judge_aging_queue_dyn(make: Box<dyn Fn() -> Arc<dyn AgingQueue> + Send>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let steps: Vec<String> = SCRIPT
            .iter()
            .map(|s| match s {
                Step::Push(p, j) => format!("push({p}, {j})"),
                Step::Pop => "pop".into(),
            })
            .collect();
        let out_at = does_not_starve(&*make)?;
        follows_the_rule(&*make, &format!("on one thread, {}, close(), pop until None", steps.join(", ")), &SCRIPT)?;
        for seed in 1..=SCRIPTS {
            follows_the_rule(&*make, &format!("random script {seed} of {SCRIPTS} ({SCRIPT_STEPS} pushes and pops on one thread)"), &random_script(seed, SCRIPT_STEPS))?;
        }
        let as_work = || Arc::new(AsWorkQueue(make())) as Arc<dyn WorkQueue>;
        let rules = blocking_rules(&as_work)?;
        Ok(format!(
            "the aging rule on {} scripts; a priority-0 job came out at pop {out_at} under a stream of priority-{URGENT} jobs; {rules}",
            SCRIPTS + 1
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_of_the_books_jobs() {
        assert_eq!(factors(1), vec![1]);
        assert_eq!(factors(10), vec![1, 2, 5, 10]);
        assert_eq!(factors(4), vec![1, 2, 4]);
        assert_eq!(factors(3), vec![1, 3]);
    }

    // Wrong queues: crate::wrong_answers.

    #[test]
    fn starters_read_as_not_solved() {
        struct Todo;
        impl WorkQueue for Todo {
            fn push(&self, _: u64) {
                todo!()
            }
            fn pop(&self) -> Option<u64> {
                todo!()
            }
            fn close(&self) {
                todo!()
            }
        }
        assert_eq!(judge_work_queue(|| -> Todo { todo!() }), Verdict::NotSolved);
        assert_eq!(judge_work_queue(|| Todo), Verdict::NotSolved);
    }
}
