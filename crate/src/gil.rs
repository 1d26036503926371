//! A global interpreter lock, emulated (chapter 15): one lock that a thread
//! must hold to run, offered to the other threads at every switch interval,
//! the way CPython's GIL is.
//!
//! The notebook writes the emulation itself (that is the lesson); this
//! module holds what it plugs into: the [`GlobalLock`] trait, CPython's
//! [`SWITCH_INTERVAL`], a [`Condvar`] that the exercise's check can slow
//! down, and the judges of the chapter's two exercises: a GIL that is fair
//! ([`judge_fair_gil`]) and a prediction of what two workers gain under each
//! runtime ([`judge_two_jobs`]).

use crate::exercise::{self, Verdict};
use crate::workqueue::{kernel_tid, thread_state};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, LockResult, MutexGuard};
use std::time::{Duration, Instant};

/// CPython's default switch interval (`sys.getswitchinterval()`, 5 ms): how
/// long a thread runs before it is asked to hand the GIL to a waiting one.
pub const SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// A global lock that threads, numbered `0, 1, 2, ...`, must hold to run.
pub trait GlobalLock: Send + Sync + 'static {
    /// Blocks until thread `me` holds the lock.
    fn acquire(&self, me: usize);
    /// Thread `me`, the holder, lets go of the lock.
    fn release(&self, me: usize);
    /// Called by the holder `me` when its switch interval is up. If another
    /// thread is waiting for the lock, that thread must have held it before
    /// `me` holds it again; if nobody waits, it returns at once. Either way
    /// it returns with `me` holding the lock.
    fn switch(&self, me: usize);
}

/// A condition variable: std's [`std::sync::Condvar`], with the same
/// methods. Outside a check it is exactly std's. Inside the fair-GIL check,
/// the wake-ups sent by a thread that is handing the lock over are delivered
/// late, once the check has seen that thread asleep: as on a busy machine,
/// where a woken thread may not run for a while. A hand-over that relies on
/// the woken thread being quicker than the one that woke it then fails every
/// time, instead of once in a while. (A late wake-up may reach a thread that
/// started waiting after it was sent: a spurious wake-up, which a `wait`
/// loop must tolerate anyway.)
#[derive(Debug, Default)]
pub struct Condvar {
    inner: Arc<std::sync::Condvar>,
}

impl Condvar {
    /// A new condition variable.
    pub fn new() -> Condvar {
        Condvar::default()
    }

    /// Releases the lock, sleeps until notified, takes the lock again
    /// ([`std::sync::Condvar::wait`]).
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.inner.wait(guard)
    }

    /// Waits while `condition` holds ([`std::sync::Condvar::wait_while`]).
    pub fn wait_while<'a, T, F: FnMut(&mut T) -> bool>(&self, mut guard: MutexGuard<'a, T>, mut condition: F) -> LockResult<MutexGuard<'a, T>> {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Wakes one waiting thread.
    pub fn notify_one(&self) {
        if !late::hold_back(&self.inner) {
            self.inner.notify_one();
        }
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        if !late::hold_back(&self.inner) {
            self.inner.notify_all();
        }
    }
}

/// Wake-ups held back by the check, and delivered when it says so.
mod late {
    use std::cell::RefCell;
    use std::sync::{Arc, Condvar, Mutex};

    #[derive(Default)]
    pub(super) struct Late {
        /// (holding back now, the condition variables owed a wake-up)
        state: Mutex<(bool, Vec<Arc<Condvar>>)>,
    }

    thread_local! {
        static HERE: RefCell<Option<Arc<Late>>> = const { RefCell::new(None) };
    }

    impl Late {
        /// Makes this thread's notifications go through `self`.
        pub(super) fn arm(self: &Arc<Self>) {
            HERE.with(|h| *h.borrow_mut() = Some(self.clone()));
        }

        /// From now on, hold back the armed threads' notifications.
        pub(super) fn hold(&self) {
            self.state.lock().unwrap_or_else(|e| e.into_inner()).0 = true;
        }

        /// Stops holding back and delivers what was held (as `notify_all`).
        /// Returns how many notifications were held.
        pub(super) fn deliver(&self) -> usize {
            let owed = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.0 = false;
                std::mem::take(&mut st.1)
            };
            for cv in &owed {
                cv.notify_all();
            }
            owed.len()
        }
    }

    /// True if this notification was held back (to be delivered later).
    pub(super) fn hold_back(cv: &Arc<Condvar>) -> bool {
        let Some(late) = HERE.with(|h| h.borrow().clone()) else { return false };
        let mut st = late.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.0 {
            st.1.push(cv.clone());
        }
        st.0
    }
}

// --- Exercise: a fair GIL ------------------------------------------------------

/// How long the check waits for a thread to fall asleep or to move on: a
/// bound on a hang, never a timing test (right code gets there at once).
const PATIENCE: Duration = Duration::from_secs(5);

/// What the check's threads report, in order, on one channel.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// Thread `n` got the lock from `acquire`.
    In(usize),
    /// Thread `n`'s `switch` returned.
    Back(usize),
    /// Thread `n` finished its script.
    Done(usize),
    /// Thread `n`'s code panicked.
    Panicked(usize, String),
}

/// Exercise "fair_gil": judges a learner's global lock. One thread alone
/// must be able to switch and re-acquire; a second thread must not get in
/// while the first holds it; a thread that calls `switch` while another
/// waits must let that one run first, and get the lock back afterwards,
/// also when every wake-up it sends arrives late (the check holds them back
/// until it has seen the sender asleep); three threads switching busily
/// must never be inside together.
pub fn judge_fair_gil<G: GlobalLock>(make: fn() -> G) -> Verdict {
    judge_fair_gil_dyn(Box::new(move || Arc::new(make()) as Arc<dyn GlobalLock>))
}

type MakeGil = Box<dyn Fn() -> Arc<dyn GlobalLock> + Send>;

fn judge_fair_gil_dyn(make: MakeGil) -> Verdict {
    exercise::run(Duration::from_secs(60), move || {
        let fresh = || exercise::call(&*make).map_err(|m| format!("creating your lock panicked: {m}"));
        alone(fresh()?)?;
        let turns = hand_over_and_back(fresh()?)?;
        let steps = busy_threads(fresh()?)?;
        Ok(format!(
            "alone, switch returns at once; with a thread waiting, switch hands the lock over and gets it back ({turns}), \
             also with every wake-up delivered late; {steps}"
        ))
    })
}

/// Runs `script` on a thread of its own that reports to `events`; returns
/// the thread's kernel id (to see it asleep). `late` holds back its wake-ups.
fn spawn_script(
    me: usize,
    events: &Sender<Event>,
    late: &Arc<late::Late>,
    script: impl FnOnce() + Send + 'static,
) -> Result<i64, String> {
    let (events, late) = (events.clone(), late.clone());
    let (tid_tx, tid_rx) = mpsc::channel();
    std::thread::spawn(move || {
        late.arm();
        let _ = tid_tx.send(kernel_tid());
        let event = match exercise::call(script) {
            Ok(()) => Event::Done(me),
            Err(m) => Event::Panicked(me, m),
        };
        let _ = events.send(event);
    });
    tid_rx.recv_timeout(PATIENCE).map_err(|_| format!("thread {me} of the check did not start"))
}

/// The next event, or a sentence saying what did not happen.
fn next(events: &Receiver<Event>, waiting_for: &str) -> Result<Event, String> {
    match events.recv_timeout(PATIENCE) {
        Ok(Event::Panicked(n, m)) => Err(format!("thread {n} panicked in your lock: {m}")),
        Ok(event) => Ok(event),
        Err(RecvTimeoutError::Timeout) => Err(format!("{waiting_for} (nothing moved for {} s: the threads are stuck)", PATIENCE.as_secs())),
        Err(RecvTimeoutError::Disconnected) => Err("the check's threads stopped without a word".to_string()),
    }
}

/// Waits until thread `tid` is seen asleep (twice, 10 ms apart, with no
/// event in between) and gives `None`, or gives the event that came first.
/// `Err` if neither happens within [`PATIENCE`].
fn asleep_or_event(tid: i64, events: &Receiver<Event>) -> Result<Option<Event>, String> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(Event::Panicked(n, m)) => return Err(format!("thread {n} panicked in your lock: {m}")),
            Ok(event) => return Ok(Some(event)),
            Err(_) => {}
        }
        if thread_state(tid) == Some('S') {
            std::thread::sleep(Duration::from_millis(10));
            if thread_state(tid) == Some('S') {
                // Sent before it went to sleep, if at all: look once more.
                if let Ok(event) = events.try_recv() {
                    return match event {
                        Event::Panicked(n, m) => Err(format!("thread {n} panicked in your lock: {m}")),
                        event => Ok(Some(event)),
                    };
                }
                return Ok(None);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(SPINS.to_string())
}

/// What [`asleep_or_event`] says when the thread neither slept nor reported.
const SPINS: &str = "spins";

/// Waits until thread `tid` is seen asleep, as a thread must be that waits
/// for the lock. An event that comes first is a failure: `early` words it
/// (`None`: an unexpected event). `context` says what the check had set up.
fn falls_asleep(tid: i64, events: &Receiver<Event>, context: &str, early: impl Fn(&Event) -> Option<String>) -> Result<(), String> {
    match asleep_or_event(tid, events) {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(format!("{context}: {}", early(&e).unwrap_or_else(|| format!("unexpected {e:?}")))),
        Err(e) if e == SPINS => Err(format!(
            "{context}: the thread was neither seen asleep nor done within {} s. A thread waiting for the GIL must sleep \
             in the Condvar's wait, not spin (a spinning thread burns the core the holder needs)",
            PATIENCE.as_secs()
        )),
        Err(e) => Err(e),
    }
}

/// One thread alone: switching with nobody waiting must return at once, and
/// a released lock must be free to take again.
fn alone(gil: Arc<dyn GlobalLock>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(exercise::call(|| {
            gil.acquire(0);
            gil.switch(0);
            gil.switch(0);
            gil.release(0);
            gil.acquire(0);
            gil.release(0);
        }));
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(m)) => Err(format!("thread 0 alone (acquire, switch, switch, release, acquire, release) panicked: {m}")),
        Err(_) => Err(format!(
            "thread 0 alone (acquire, switch, switch, release, acquire, release) did not finish within {} s: \
             with nobody else waiting, switch must return at once, and a released lock must be free to take again",
            PATIENCE.as_secs()
        )),
    }
}

/// The hand-over, without luck. Thread 0 holds the lock; thread 1 asks and
/// is seen asleep in `acquire`. Thread 0 calls `switch` with its wake-ups
/// held back: it must not come back before thread 1 has had the lock (a
/// right `switch` goes to sleep, and then the check delivers the wake-ups).
/// Then thread 1 calls `switch`, its wake-ups held back too: thread 0 is
/// waiting for its turn back, so thread 1 must not come back first either.
/// Finally thread 0 releases, and thread 1 must get the lock back.
fn hand_over_and_back(gil: Arc<dyn GlobalLock>) -> Result<String, String> {
    let late = Arc::new(late::Late::default());
    let (events, rx) = mpsc::channel();
    let (go0, wait0) = mpsc::channel::<()>();
    let (go1, wait1) = mpsc::channel::<()>();
    // Each thread: acquire, report, wait for the check's go, switch, report,
    // (thread 0 only: wait for another go), release.
    let script = |me: usize, go: Receiver<()>, second_go: bool| {
        let (gil, events) = (gil.clone(), events.clone());
        move || {
            gil.acquire(me);
            let _ = events.send(Event::In(me));
            let _ = go.recv();
            gil.switch(me);
            let _ = events.send(Event::Back(me));
            if second_go {
                let _ = go.recv();
            }
            gil.release(me);
        }
    };
    let tid0 = spawn_script(0, &events, &late, script(0, wait0, true))?;
    if next(&rx, "thread 0's acquire of a free lock never returned")? != Event::In(0) {
        return Err("thread 0 did not get the free lock first".into());
    }
    let tid1 = spawn_script(1, &events, &late, script(1, wait1, false))?;
    falls_asleep(tid1, &rx, "thread 1 asked for the lock while thread 0 held it", |e| {
        (*e == Event::In(1)).then(|| "thread 1's acquire returned while thread 0 held the lock: the lock must keep everyone else out".to_string())
    })?;

    // Thread 0's switch interval is up, with thread 1 waiting.
    let schedule0 = "thread 1 was asleep in acquire when thread 0 called switch (and thread 0's wake-ups were delivered late, as on a busy machine)";
    late.hold();
    let _ = go0.send(());
    falls_asleep(tid0, &rx, schedule0, |e| {
        (*e == Event::Back(0)).then(|| {
            "thread 0's switch returned holding the lock again before thread 1 ever had it. Offering the lock is not enough: \
             whoever grabs first wins, and that is usually the thread that just let go, so thread 1 may never run"
                .to_string()
        })
    })?;
    late.deliver();
    match next(&rx, &format!("{schedule0}: thread 1 never got the lock (did switch wake the waiting thread?)"))? {
        Event::In(1) => {}
        Event::Back(0) => return Err(format!("{schedule0}: thread 0's switch returned before thread 1 had the lock")),
        e => return Err(format!("{schedule0}: unexpected {e:?}")),
    }
    // Thread 1 runs; thread 0 must stay out until thread 1 lets go.
    falls_asleep(tid0, &rx, schedule0, |e| {
        (*e == Event::Back(0)).then(|| "thread 0's switch returned while thread 1 held the lock: both would run at once".to_string())
    })?;

    // Now thread 1's interval is up, with thread 0 waiting for its turn back.
    let schedule1 = format!(
        "{schedule0}; then thread 1 had the lock and called switch, while thread 0 waited in its switch for its turn back (wake-ups again delivered late)"
    );
    late.hold();
    let _ = go1.send(());
    falls_asleep(tid1, &rx, &schedule1, |e| match e {
        Event::Back(1) => Some(
            "thread 1's switch returned holding the lock again, and thread 0 never got it back. \
             A thread waiting in switch wants the lock just as much as one waiting in acquire"
                .to_string(),
        ),
        Event::Back(0) => Some("thread 0 came back while thread 1 was still inside its switch".to_string()),
        _ => None,
    })?;
    late.deliver();
    match next(&rx, &format!("{schedule1}: thread 0 never got the lock back"))? {
        Event::Back(0) => {}
        e => return Err(format!("{schedule1}: expected thread 0 back from its switch, got {e:?}")),
    }
    // The wake-up that let thread 0 back in may have woken thread 1 too (it
    // finds the lock taken and waits again, but on a busy machine it may not
    // have looked yet). Wait until it sleeps again, so that from here on only
    // thread 0's release can wake it.
    falls_asleep(tid1, &rx, &schedule1, |e| {
        (*e == Event::Back(1)).then(|| "thread 1's switch returned while thread 0 held the lock: both would run at once".to_string())
    })?;
    // Thread 0 lets go for good: thread 1, waiting in its switch, must get it.
    let _ = go0.send(());
    let mut seen = Vec::new();
    while !(seen.contains(&Event::Done(0)) && seen.contains(&Event::Back(1)) && seen.contains(&Event::Done(1))) {
        seen.push(next(&rx, "after thread 0 released the lock, thread 1 (waiting in switch) did not get it back: does release wake the waiting threads?")?);
    }
    Ok("0, 1, 0, 1".to_string())
}

/// Three threads, each switching after every step of its work; the check
/// counts who is inside, and nobody else may be while one is.
fn busy_threads(gil: Arc<dyn GlobalLock>) -> Result<String, String> {
    const THREADS: usize = 3;
    const STEPS: usize = 300;
    let inside = Arc::new(AtomicUsize::new(0));
    let crowded = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for me in 0..THREADS {
        let (gil, inside, crowded, tx) = (gil.clone(), inside.clone(), crowded.clone(), tx.clone());
        std::thread::spawn(move || {
            let out = exercise::call(|| {
                let enter = || {
                    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                        crowded.fetch_add(1, Ordering::SeqCst);
                    }
                };
                let leave = || inside.fetch_sub(1, Ordering::SeqCst);
                gil.acquire(me);
                enter();
                for step in 0..STEPS {
                    std::hint::black_box((0..200u64).sum::<u64>() + step as u64);
                    leave();
                    gil.switch(me);
                    enter();
                }
                leave();
                gil.release(me);
            });
            let _ = tx.send(out);
        });
    }
    drop(tx);
    for _ in 0..THREADS {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => {}
            Ok(Err(m)) => return Err(format!("{THREADS} threads switching after every step: one panicked: {m}")),
            Err(_) => return Err(format!("{THREADS} threads, each doing {STEPS} steps and calling switch after every step, did not all finish within 20 s: a deadlock or a lost wake-up")),
        }
    }
    match crowded.load(Ordering::SeqCst) {
        0 => Ok(format!("{THREADS} threads switching after each of {STEPS} steps were never inside together")),
        n => Err(format!("{THREADS} threads switching after each of {STEPS} steps: {n} time(s) a thread came in while another was inside")),
    }
}

// --- Exercise: what two workers gain -------------------------------------------

/// Where two workers run (exercise "two_jobs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Runtime {
    /// Two Rust threads.
    RustThreads,
    /// Two CPython threads, with the GIL (every CPython before 3.13, and the default build after).
    CPythonThreads,
    /// Two CPython worker processes (each its own interpreter and its own GIL).
    CPythonProcesses,
    /// Two threads of a free-threaded CPython (3.13t, 3.14t: no GIL).
    FreeThreaded,
}

impl Runtime {
    /// Every runtime, for the check's cases.
    pub const ALL: [Runtime; 4] = [Runtime::RustThreads, Runtime::CPythonThreads, Runtime::CPythonProcesses, Runtime::FreeThreaded];
}

/// One job, in seconds, in this order: computing in the program's own
/// language (in CPython: Python code, which needs the GIL), then computing
/// inside a C library that releases the GIL while it works (hashing a large
/// buffer, say; in Rust it is just more computing), then waiting for I/O
/// (uses no core, and CPython releases the GIL while it waits).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Job {
    pub compute: f64,
    pub native: f64,
    pub wait: f64,
}

/// Exercise "two_jobs": judges `predict(runtime, cores, job)`, the seconds
/// from the start until both of two identical jobs are done, one per worker,
/// both started at once on a machine with `cores` idle cores (start-up costs
/// ignored, scheduling ideal). Checked against the model on chosen cases,
/// then on 200 seeded random ones.
pub fn judge_two_jobs(predict: fn(Runtime, usize, Job) -> f64) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let mut cases = Vec::new();
        for runtime in Runtime::ALL {
            for cores in [2, 1, 4] {
                for (compute, native, wait) in [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 1.0), (1.0, 2.0, 0.5)] {
                    cases.push((runtime, cores, Job { compute, native, wait }));
                }
            }
        }
        let mut random = crate::workload::Rng::new(15);
        for _ in 0..200 {
            let runtime = Runtime::ALL[random.below(4) as usize];
            let cores = 1 + random.below(8) as usize;
            let mut part = || (random.below(40) as f64) / 8.0;
            cases.push((runtime, cores, Job { compute: part(), native: part(), wait: part() }));
        }
        for (runtime, cores, job) in cases {
            let want = two_jobs_model(runtime, cores, job);
            let got = exercise::call(|| predict(runtime, cores, job))
                .map_err(|m| format!("two_jobs({runtime:?}, {cores}, {job:?}) panicked: {m}"))?;
            // Written so that a NaN answer fails too.
            let close = (got - want).abs() <= 1e-9 * want.max(1.0);
            if !close {
                return Err(format!(
                    "two_jobs({runtime:?}, {cores} core(s), {job:?}) returned {got}, expected {want} \
                     (one worker doing both jobs would take {})",
                    2.0 * (job.compute + job.native + job.wait)
                ));
            }
        }
        Ok("right for every runtime on 1, 2 and 4 cores, with computing, GIL-free native code and waiting, and on 200 random cases".to_string())
    })
}

/// The model behind [`judge_two_jobs`]. With one core, all computing (both
/// jobs' `compute` and `native`) takes turns on it, and the last job to
/// finish computing then waits. With two cores or more, the parts that can
/// overlap do, except `compute` under the GIL: CPython threads run Python
/// code one at a time, so the second job's `compute` starts after the
/// first's, and its native part and wait follow.
fn two_jobs_model(runtime: Runtime, cores: usize, job: Job) -> f64 {
    // How many of the two jobs' parts can run at the same moment.
    let at_once = cores.min(2) as f64;
    let python_at_once = if runtime == Runtime::CPythonThreads { 1.0 } else { at_once };
    2.0 * job.compute / python_at_once + 2.0 * job.native / at_once + job.wait
}
