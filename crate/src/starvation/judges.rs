//! The judges of chapter 13's exercises: a fair readers-writers lock and a
//! ticket lock.

use super::{run, ReadWrite, Workload, GRACE};
use crate::exercise::{self, Verdict};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Exercise "fair_rwlock": judges a learner's readers-writers lock: no
/// writer ever overlaps anyone, and under the chapter's workload neither
/// readers nor writers starve.
pub fn judge_fair_rwlock<T: ReadWrite + Send + 'static>(make: fn() -> T) -> Verdict {
    judge_fair_rwlock_dyn(Box::new(move || Arc::new(make()) as Arc<dyn ReadWrite + Send>))
}

/// At least this many operations per thread in the judged run, and no wait longer than the limit.
const FAIR_MIN_OPS: usize = 3;
const FAIR_MAX_WAIT: f64 = 0.25;

fn judge_fair_rwlock_dyn(make: Box<dyn Fn() -> Arc<dyn ReadWrite + Send> + Send>) -> Verdict {
    exercise::run(Duration::from_secs(30), move || {
        let lock = exercise::call(&*make).map_err(|m| format!("creating your lock panicked: {m}"))?;
        // One thread first: does it run the closures at all?
        let mut ran = 0;
        exercise::call(|| {
            lock.read(&mut || ran += 1);
            lock.write(&mut || ran += 10);
            lock.read(&mut || ran += 100);
        })
        .map_err(|m| format!("on one thread, read/write panicked: {m}"))?;
        if ran != 111 {
            return Err(format!("on one thread, read, write, read should each run their closure once (got a total of {ran}, expected 111)"));
        }
        readers_share(make())?;
        no_reader_overtakes_a_waiting_writer(make())?;
        let mut shapes = Vec::new();
        for (label, work) in [
            ("readers whose reads overlap, writers who come back quickly", Workload::book(Duration::from_millis(600))),
            (
                "many short writes",
                Workload { write_for: Duration::from_millis(3), writer_pause: Duration::ZERO, ..Workload::book(Duration::from_millis(400)) },
            ),
        ] {
            let report = run("your lock", make(), work);
            if report.violations > 0 {
                return Err(format!("{label}: a writer was not alone {} time(s): writers must exclude readers and other writers.\n{report}", report.violations));
            }
            if !report.stuck.is_empty() {
                return Err(format!(
                    "{label}: {} still blocked {} s after the end, when nobody else wanted the lock: a deadlock, or a wake-up that never comes (notify_all?).\n{report}",
                    report.stuck.join(", "),
                    GRACE.as_secs()
                ));
            }
            if let Some(t) = report.threads.iter().find(|t| t.ops < FAIR_MIN_OPS || t.longest_wait > FAIR_MAX_WAIT) {
                return Err(format!(
                    "{label}: {} {} starved: {} operation(s) in {:.1} s, longest wait {}. Neither side may be able to keep the other out.\n{report}",
                    if t.writer { "writer" } else { "reader" },
                    t.name,
                    t.ops,
                    work.run_for.as_secs_f64(),
                    crate::measure::seconds(t.longest_wait)
                ));
            }
            let (r, w) = report.totals();
            let (lr, lw) = report.longest_waits();
            shapes.push(format!("{label}: {r} reads, {w} writes, longest wait {} (reader) / {} (writer)", crate::measure::seconds(lr), crate::measure::seconds(lw)));
        }
        Ok(format!("writers always alone, and nobody starved. {}", shapes.join("; ")))
    })
}

/// How many readers [`readers_share`] sends in at once, and how long the
/// first one inside waits for the others (a bound on a hang, not a timing
/// test: readers that may share meet at once, whatever the machine's speed).
const SHARING_READERS: usize = 3;
const SHARING_PATIENCE: Duration = Duration::from_secs(10);

/// Readers must share: `SHARING_READERS` threads call `read` at once, with
/// no writer anywhere, and each read waits inside until all of them are
/// inside together. A lock that lets one reader in at a time (a mutex in
/// disguise, however fair) never gets them together: after the patience
/// runs out, the readers give up waiting for each other and the judge says
/// how many were ever inside at once. Deterministic: the verdict depends on
/// whether the readers *can* meet, not on how fast they do.
fn readers_share(lock: Arc<dyn ReadWrite + Send>) -> Result<(), String> {
    struct Room {
        inside: usize,
        most: usize,
        gave_up: bool,
    }
    let room = Arc::new((Mutex::new(Room { inside: 0, most: 0, gave_up: false }), std::sync::Condvar::new()));
    let (tx, rx) = mpsc::channel();
    for _ in 0..SHARING_READERS {
        let (lock, room, tx) = (lock.clone(), room.clone(), tx.clone());
        std::thread::spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                lock.read(&mut || {
                    let (state, changed) = &*room;
                    let mut r = state.lock().unwrap_or_else(|e| e.into_inner());
                    r.inside += 1;
                    r.most = r.most.max(r.inside);
                    changed.notify_all();
                    let (mut r, wait) = changed
                        .wait_timeout_while(r, SHARING_PATIENCE, |r| r.most < SHARING_READERS && !r.gave_up)
                        .unwrap_or_else(|e| e.into_inner());
                    if wait.timed_out() {
                        r.gave_up = true;
                        changed.notify_all();
                    }
                    r.inside -= 1;
                })
            }));
            let _ = tx.send(out.map_err(|p| exercise::panic_message(p.as_ref())));
        });
    }
    drop(tx);
    for _ in 0..SHARING_READERS {
        match rx.recv_timeout(SHARING_PATIENCE + GRACE) {
            Ok(Ok(())) => {}
            Ok(Err(m)) => return Err(format!("{SHARING_READERS} readers calling read() at once: one panicked: {m}")),
            Err(_) => {
                return Err(format!(
                    "{SHARING_READERS} readers called read() at once, with no writer anywhere, and not all of them got through within {} s: a deadlock among readers?",
                    (SHARING_PATIENCE + GRACE).as_secs()
                ))
            }
        }
    }
    let most = room.0.lock().unwrap_or_else(|e| e.into_inner()).most;
    if most < SHARING_READERS {
        return Err(format!(
            "{SHARING_READERS} readers called read() at once, with no writer anywhere, and each waited inside until the others were in too; \
             but they were never more than {most} inside at a time (they waited {} s for each other). Readers must share the resource: \
             a lock that lets one reader in at a time is a mutex, however fair, not a readers-writers lock.",
            SHARING_PATIENCE.as_secs()
        ));
    }
    Ok(())
}

/// How long [`no_reader_overtakes_a_waiting_writer`] looks for a thread
/// asleep in the lock before it goes on without that part of the check (a
/// lock that spins never sleeps).
const FALL_ASLEEP: Duration = Duration::from_secs(5);

/// Waits until thread `tid` is seen asleep twice, 10 ms apart, or `done()`;
/// true if asleep. Gives up after [`FALL_ASLEEP`].
fn seen_asleep(tid: i64, done: &dyn Fn() -> bool) -> bool {
    use crate::workqueue::thread_state;
    let deadline = std::time::Instant::now() + FALL_ASLEEP;
    while std::time::Instant::now() < deadline && !done() {
        if thread_state(tid) == Some('S') {
            std::thread::sleep(Duration::from_millis(10));
            if thread_state(tid) == Some('S') && !done() {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Readers first, without luck: reader R1 is inside (held there by the
/// check), writer W asks and is seen asleep in `write`, then reader R2
/// asks. A lock under which nobody starves must not let R2 in while W
/// waits: readers arriving one after another would keep W out for ever.
/// (Under the ticket line of the reference, R2 queues behind W; under a
/// turnstile, W holds the turnstile that R2 must pass.) Then R1 leaves,
/// and everyone must get through. Parts that need a thread seen asleep are
/// skipped for a lock whose waiting threads spin.
fn no_reader_overtakes_a_waiting_writer(lock: Arc<dyn ReadWrite + Send>) -> Result<(), String> {
    use std::sync::atomic::AtomicBool;
    let schedule = "reader R1 inside, writer W then waiting (seen asleep in write()), then reader R2 asking";
    let release_r1 = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let r1_in = Arc::new(AtomicBool::new(false));
    let w_in = Arc::new(AtomicBool::new(false));
    let r2_in = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    let (tids_tx, tids_rx) = mpsc::channel();
    let start = |name: &'static str, writer: bool, body: Box<dyn FnMut() + Send>| {
        let (lock, tx, tids_tx) = (lock.clone(), tx.clone(), tids_tx.clone());
        std::thread::spawn(move || {
            let _ = tids_tx.send(crate::workqueue::kernel_tid());
            let mut body = body;
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if writer {
                    lock.write(&mut *body)
                } else {
                    lock.read(&mut *body)
                }
            }));
            let _ = tx.send(out.map_err(|p| format!("{name} panicked: {}", exercise::panic_message(p.as_ref()))));
        });
    };
    {
        let (release, r1_in) = (release_r1.clone(), r1_in.clone());
        start(
            "reader R1",
            false,
            Box::new(move || {
                r1_in.store(true, Ordering::SeqCst);
                let (state, changed) = &*release;
                let mut go = state.lock().unwrap_or_else(|e| e.into_inner());
                let deadline = std::time::Instant::now() + SHARING_PATIENCE;
                while !*go && std::time::Instant::now() < deadline {
                    go = changed.wait_timeout(go, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
                }
            }),
        );
    }
    let _r1 = tids_rx.recv_timeout(SHARING_PATIENCE).map_err(|_| "reader R1 did not start".to_string())?;
    let deadline = std::time::Instant::now() + SHARING_PATIENCE;
    while !r1_in.load(Ordering::SeqCst) {
        if std::time::Instant::now() > deadline {
            return Err(format!("a reader alone did not get into read() within {} s", SHARING_PATIENCE.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let let_r1_go = || {
        *release_r1.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        release_r1.1.notify_all();
    };
    {
        let w_in = w_in.clone();
        start("writer W", true, Box::new(move || w_in.store(true, Ordering::SeqCst)));
    }
    let w = tids_rx.recv_timeout(SHARING_PATIENCE).map_err(|_| "writer W did not start".to_string())?;
    if w_in.load(Ordering::SeqCst) {
        let_r1_go();
        return Err("reader R1 held inside read(), then writer W asking: W got into write() while R1 was inside: writers must be alone".into());
    }
    let w_waits = seen_asleep(w, &|| w_in.load(Ordering::SeqCst));
    if w_in.load(Ordering::SeqCst) {
        let_r1_go();
        return Err("reader R1 held inside read(), then writer W asking: W got into write() while R1 was inside: writers must be alone".into());
    }
    if w_waits {
        {
            let r2_in = r2_in.clone();
            start("reader R2", false, Box::new(move || r2_in.store(true, Ordering::SeqCst)));
        }
        let r2 = tids_rx.recv_timeout(SHARING_PATIENCE).map_err(|_| "reader R2 did not start".to_string())?;
        seen_asleep(r2, &|| r2_in.load(Ordering::SeqCst));
        if r2_in.load(Ordering::SeqCst) && !w_in.load(Ordering::SeqCst) {
            let_r1_go();
            return Err(format!(
                "{schedule}: R2 got in at once, joining R1, while W went on waiting. Readers who keep arriving would keep W out for ever \
                 (readers first starves writers): once a writer waits, new readers must wait behind it."
            ));
        }
    }
    let_r1_go();
    drop(tx);
    let until = std::time::Instant::now() + SHARING_PATIENCE + GRACE;
    while let Ok(out) = rx.recv_timeout(until.saturating_duration_since(std::time::Instant::now())) {
        out.map_err(|m| format!("{m} ({schedule})"))?;
    }
    if !(w_in.load(Ordering::SeqCst) && (!w_waits || r2_in.load(Ordering::SeqCst))) {
        return Err(format!("{schedule}, then R1 left: not everyone got through within {} s (a deadlock, or a wake-up that never comes?)", (SHARING_PATIENCE + GRACE).as_secs()));
    }
    Ok(())
}

/// A lock that serves threads strictly in the order they asked.
pub trait TicketLock: Sync {
    /// Takes a ticket, waits until it is served, and returns the ticket number.
    fn lock(&self) -> u64;
    /// Lets the next ticket in.
    fn unlock(&self);
}

/// Exercise "ticket_lock": judges a learner's ticket lock: mutual exclusion,
/// tickets served in exactly the order they were drawn, nobody starved.
pub fn judge_ticket_lock<T: TicketLock + Send + 'static>(make: fn() -> T) -> Verdict {
    judge_ticket_lock_dyn(Box::new(move || Arc::new(make()) as Arc<dyn TicketLock + Send>))
}

fn judge_ticket_lock_dyn(make: Box<dyn Fn() -> Arc<dyn TicketLock + Send> + Send>) -> Verdict {
    exercise::run(Duration::from_secs(60), move || {
        let lock = exercise::call(&*make).map_err(|m| format!("creating your lock panicked: {m}"))?;
        // One thread, three lock/unlock pairs; on a thread of its own, since
        // a lock that is never handed on would make it wait for ever.
        let (tx, rx) = mpsc::channel();
        let alone = lock.clone();
        std::thread::spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                (0..3)
                    .map(|_| {
                        let t = alone.lock();
                        alone.unlock();
                        t
                    })
                    .collect::<Vec<u64>>()
            }));
            let _ = tx.send(out);
        });
        let first = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(tickets)) => tickets,
            Ok(Err(payload)) => return Err(format!("on one thread, lock/unlock panicked: {}", exercise::joined(payload))),
            Err(_) => {
                return Err("on one thread, the second lock() after an unlock() never returned: does unlock() let the next ticket in? \
                    (A thread may still be spinning in the background: restart the kernel if the machine feels slow.)"
                    .into())
            }
        };
        if first != [0, 1, 2] {
            return Err(format!("on one thread, three lock/unlock pairs returned tickets {first:?}; expected [0, 1, 2]"));
        }
        for round in 1..=5u64 {
            let lock = make();
            let inside = Arc::new(AtomicUsize::new(0));
            let order = Arc::new(Mutex::new(Vec::new()));
            let overlaps = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = mpsc::channel();
            let threads = 4;
            let each = 150;
            for t in 0..threads {
                let (lock, inside, order, overlaps, tx) = (lock.clone(), inside.clone(), order.clone(), overlaps.clone(), tx.clone());
                let mut rng = crate::workload::Rng::new(round * 10 + t);
                std::thread::spawn(move || {
                    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        for _ in 0..each {
                            let ticket = lock.lock();
                            if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                                overlaps.fetch_add(1, Ordering::SeqCst);
                            }
                            order.lock().unwrap_or_else(|e| e.into_inner()).push((ticket, t));
                            crate::workload::jitter(&mut rng);
                            inside.fetch_sub(1, Ordering::SeqCst);
                            lock.unlock();
                            crate::workload::jitter(&mut rng);
                        }
                    }));
                    let _ = tx.send(out.map_err(|p| exercise::panic_message(p.as_ref())));
                });
            }
            drop(tx);
            for _ in 0..threads {
                match rx.recv_timeout(Duration::from_secs(20)) {
                    Ok(Ok(())) => {}
                    Ok(Err(m)) => return Err(format!("round {round}: a thread panicked: {m}")),
                    Err(_) => {
                        return Err(format!(
                            "round {round}: {threads} threads doing {each} lock/unlock pairs each did not finish within 20 s: does unlock() let the next ticket in?"
                        ))
                    }
                }
            }
            let n = overlaps.load(Ordering::SeqCst);
            if n > 0 {
                return Err(format!("round {round}: two threads were inside the lock at once ({n} time(s))"));
            }
            let order = order.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(k) = (1..order.len()).find(|&k| order[k].0 != order[k - 1].0 + 1) {
                return Err(format!(
                    "round {round}: ticket {} (thread {}) got in right after ticket {} (thread {}): tickets must be served one by one, in the order they were drawn",
                    order[k].0, order[k].1, order[k - 1].0, order[k - 1].1
                ));
            }
        }
        Ok("mutual exclusion, and in 5 rounds of 4 threads × 150 lock/unlock pairs every ticket was served in the order it was drawn".into())
    })
}
