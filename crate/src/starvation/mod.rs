//! Readers and writers, measured for starvation (chapter 13).
//!
//! A *policy* decides who gets a shared resource next when readers (who may
//! share it) and writers (who need it alone) compete. Any policy that always
//! favours one side can make the other wait for ever: *starvation*. Here the
//! policies implement [`ReadWrite`]; [`run`] drives one with 3 readers and 2
//! writers for a fixed time and counts, per thread, the operations done and
//! the longest wait, while checking that no writer ever overlapped anyone.
//!
//! Starved threads are not stopped by force: when the time is up, every
//! thread stops *starting* new operations, the competition ends, and the
//! starved ones get through once (that last operation is not counted). A
//! policy that deadlocks is reported after a grace period instead.

use crate::chart::{self, Chart};
use crate::timeline::{State, Timeline};
use serde::Serialize;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};


mod judges;
mod semaphore;
pub use judges::{judge_fair_rwlock, judge_ticket_lock, TicketLock};
pub use semaphore::Semaphore;

/// Something that lets readers share and writers be alone.
pub trait ReadWrite: Sync {
    /// Runs `read` as a reader: other readers may run at the same time, no writer may.
    fn read(&self, read: &mut dyn FnMut());
    /// Runs `write` alone: no reader and no other writer at the same time.
    fn write(&self, write: &mut dyn FnMut());
}

impl ReadWrite for std::sync::RwLock<()> {
    fn read(&self, read: &mut dyn FnMut()) {
        let _shared = self.read().unwrap_or_else(|e| e.into_inner());
        read();
    }
    fn write(&self, write: &mut dyn FnMut()) {
        let _alone = self.write().unwrap_or_else(|e| e.into_inner());
        write();
    }
}

impl ReadWrite for parking_lot::RwLock<()> {
    fn read(&self, read: &mut dyn FnMut()) {
        let _shared = parking_lot::RwLock::read(self);
        read();
    }
    fn write(&self, write: &mut dyn FnMut()) {
        let _alone = parking_lot::RwLock::write(self);
        write();
    }
}

/// How the threads behave: how long each operation holds the resource and
/// how long each thread pauses between operations.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Workload {
    pub readers: usize,
    pub writers: usize,
    /// How long a read takes.
    pub read_for: Duration,
    /// Pause of a reader between reads.
    pub reader_pause: Duration,
    /// How long a write takes.
    pub write_for: Duration,
    /// Pause of a writer between writes.
    pub writer_pause: Duration,
    /// How long the experiment runs.
    pub run_for: Duration,
}

impl Workload {
    /// The chapter's workload: 3 readers whose 30 ms reads overlap (they
    /// start 10 ms apart and come straight back), 2 writers writing 10 ms
    /// with 2 ms pauses, for `run_for`.
    pub fn book(run_for: Duration) -> Workload {
        Workload {
            readers: 3,
            writers: 2,
            read_for: Duration::from_millis(30),
            reader_pause: Duration::ZERO,
            write_for: Duration::from_millis(10),
            writer_pause: Duration::from_millis(2),
            run_for,
        }
    }
}

/// One thread's record.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadStats {
    pub name: String,
    pub writer: bool,
    /// Operations completed before the end.
    pub ops: usize,
    /// Longest time from asking to getting in, in seconds (a wait still
    /// going at the end counts up to the end).
    pub longest_wait: f64,
    /// Time spent waiting, in seconds.
    pub total_wait: f64,
}

/// The result of one run.
#[derive(Clone, Serialize)]
pub struct Report {
    pub policy: String,
    pub threads: Vec<ThreadStats>,
    /// Times a writer overlapped a reader or another writer.
    pub violations: usize,
    /// Threads that had not finished a grace period after the end (a deadlock).
    pub stuck: Vec<String>,
    #[serde(skip)]
    pub timeline: Timeline,
}

impl Report {
    /// Operations by readers and by writers.
    pub fn totals(&self) -> (usize, usize) {
        let r = self.threads.iter().filter(|t| !t.writer).map(|t| t.ops).sum();
        let w = self.threads.iter().filter(|t| t.writer).map(|t| t.ops).sum();
        (r, w)
    }

    /// The longest wait of a reader and of a writer, in seconds.
    pub fn longest_waits(&self) -> (f64, f64) {
        let of = |writer: bool| self.threads.iter().filter(|t| t.writer == writer).map(|t| t.longest_wait).fold(0.0, f64::max);
        (of(false), of(true))
    }

    /// The timeline of waits (red) and reads or writes (blue).
    pub fn chart(&self) -> Chart {
        self.timeline.chart(&format!("{}: who waits, who holds the resource", self.policy))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:", self.policy)?;
        for t in &self.threads {
            writeln!(
                f,
                "  {:<3} {:>4} {:<6}  longest wait {:>7}",
                t.name,
                t.ops,
                if t.writer { "writes" } else { "reads" },
                crate::measure::seconds(t.longest_wait)
            )?;
        }
        let (r, w) = self.totals();
        write!(f, "  total: {r} reads, {w} writes")?;
        if self.violations > 0 {
            write!(f, "; {} time(s) a writer was not alone!", self.violations)?;
        }
        if !self.stuck.is_empty() {
            write!(f, "; still blocked after the end: {}", self.stuck.join(", "))?;
        }
        Ok(())
    }
}

/// How long threads may take to finish after the end before they count as stuck.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// Runs `policy` under `work`; see the module documentation.
pub fn run(policy_name: &str, policy: Arc<dyn ReadWrite + Send>, work: Workload) -> Report {
    let timeline = Timeline::new();
    let readers_in = Arc::new(AtomicI64::new(0));
    let writers_in = Arc::new(AtomicI64::new(0));
    let violations = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(String::from("the first page")));
    let started = Instant::now();
    let end = started + work.run_for;
    let (tx, rx) = mpsc::channel();
    let names: Vec<(String, bool)> = (0..work.readers)
        .map(|i| (format!("R{i}"), false))
        .chain((0..work.writers).map(|i| (format!("W{i}"), true)))
        .collect();
    for (k, (name, writer)) in names.iter().cloned().enumerate() {
        let (policy, tl, readers_in, writers_in, violations, stop, shared, tx) = (
            policy.clone(),
            timeline.clone(),
            readers_in.clone(),
            writers_in.clone(),
            violations.clone(),
            stop.clone(),
            shared.clone(),
            tx.clone(),
        );
        // Readers start 10 ms apart so their reads overlap; writers a little later.
        let offset = if writer { Duration::from_millis(5 + 5 * (k - work.readers) as u64) } else { Duration::from_millis(10 * k as u64) };
        std::thread::spawn(move || {
            let mut stats = ThreadStats { name: name.clone(), writer, ops: 0, longest_wait: 0.0, total_wait: 0.0 };
            // The staggered start shows grey, and every row begins at 0 (rows then sort by name).
            std::thread::sleep(offset);
            tl.push(&name, State::Sleeping, 0.0, tl.now());
            while !stop.load(Ordering::SeqCst) && Instant::now() < end {
                let asked = tl.now();
                let mut got_in = 0.0;
                let mut body = || {
                    got_in = tl.now();
                    if writer {
                        let others = writers_in.fetch_add(1, Ordering::SeqCst);
                        if others > 0 || readers_in.load(Ordering::SeqCst) > 0 {
                            violations.fetch_add(1, Ordering::SeqCst);
                        }
                        std::thread::sleep(work.write_for);
                        let mut page = shared.lock().unwrap_or_else(|e| e.into_inner());
                        page.clear();
                        page.push_str(&format!("page written by {name} at {got_in:.3} s"));
                        writers_in.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        readers_in.fetch_add(1, Ordering::SeqCst);
                        if writers_in.load(Ordering::SeqCst) > 0 {
                            violations.fetch_add(1, Ordering::SeqCst);
                        }
                        std::hint::black_box(shared.lock().unwrap_or_else(|e| e.into_inner()).len());
                        std::thread::sleep(work.read_for);
                        readers_in.fetch_sub(1, Ordering::SeqCst);
                    }
                };
                if writer {
                    policy.write(&mut body);
                } else {
                    policy.read(&mut body);
                }
                let done = tl.now();
                let within = done <= work.run_for.as_secs_f64();
                tl.push(&name, State::Waiting, asked, got_in);
                tl.push(&name, State::Holding, got_in, done);
                let waited = (got_in.min(work.run_for.as_secs_f64()) - asked).max(0.0);
                stats.longest_wait = stats.longest_wait.max(waited);
                stats.total_wait += waited;
                if within {
                    stats.ops += 1;
                }
                std::thread::sleep(if writer { work.writer_pause } else { work.reader_pause });
            }
            let _ = tx.send(stats);
        });
    }
    drop(tx);
    std::thread::sleep(work.run_for);
    stop.store(true, Ordering::SeqCst);
    let mut threads = Vec::new();
    let deadline = Instant::now() + GRACE;
    while threads.len() < names.len() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(stats) => threads.push(stats),
            Err(_) => break,
        }
    }
    let stuck: Vec<String> = names.iter().map(|n| n.0.clone()).filter(|n| !threads.iter().any(|t| &t.name == n)).collect();
    threads.sort_by_key(|t| names.iter().position(|n| n.0 == t.name));
    // A thread that never got in: its wait lasted the whole run.
    for n in &stuck {
        threads.push(ThreadStats { name: n.clone(), writer: n.starts_with('W'), ops: 0, longest_wait: work.run_for.as_secs_f64(), total_wait: work.run_for.as_secs_f64() });
    }
    Report { policy: policy_name.to_string(), threads, violations: violations.load(Ordering::SeqCst), stuck, timeline }
}

/// Operations per thread, one bar per report.
pub fn chart_ops(title: &str, reports: &[Report]) -> Chart {
    per_thread(title, "operations done", reports, |t| t.ops as f64)
}

/// Longest wait per thread (ms), one bar per report.
pub fn chart_longest_wait(title: &str, reports: &[Report]) -> Chart {
    per_thread(title, "longest wait (ms)", reports, |t| t.longest_wait * 1e3)
}

fn per_thread(title: &str, y_desc: &str, reports: &[Report], value: impl Fn(&ThreadStats) -> f64) -> Chart {
    let names: Vec<String> = reports.first().map(|r| r.threads.iter().map(|t| t.name.clone()).collect()).unwrap_or_default();
    let groups: Vec<chart::Group> = names
        .iter()
        .map(|n| {
            let bars = reports
                .iter()
                .map(|r| chart::Bar::new(&r.policy, r.threads.iter().find(|t| &t.name == n).map(&value).unwrap_or(0.0)))
                .collect();
            chart::Group::new(n, bars)
        })
        .collect();
    chart::bars(title, y_desc, &groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_first_keeps_writers_alone() {
        // Whether the writers starve in a given run depends on the machine's
        // load (a busy machine leaves gaps between the readers), so the test
        // asserts only what must always hold (a writer is always alone); the notebook shows the starving,
        // and the fair-lock judge forces it (crate::wrong_answers).
        let r = run("readers first", Arc::new(crate::wrong_answers::ReadersFirst::new()), Workload::book(Duration::from_millis(500)));
        assert_eq!(r.violations, 0, "{r}");
    }

    #[test]
    fn std_and_parking_lot_locks_are_safe() {
        for (name, lock) in [
            ("std", Arc::new(std::sync::RwLock::new(())) as Arc<dyn ReadWrite + Send>),
            ("parking_lot", Arc::new(parking_lot::RwLock::new(()))),
        ] {
            let r = run(name, lock, Workload::book(Duration::from_millis(300)));
            assert_eq!(r.violations, 0, "{r}");
            assert!(r.stuck.is_empty());
        }
    }

    #[test]
    fn semaphore_is_first_come_first_served() {
        let s = Arc::new(Semaphore::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (s2, order) = (s.clone(), order.clone());
                let h = std::thread::spawn(move || {
                    s2.acquire();
                    order.lock().unwrap().push(i);
                });
                // Arrive in order 0, 1, 2, 3: the next thread starts only
                // once this one is queued.
                while s.waiting() < i + 1 {
                    std::thread::yield_now();
                }
                h
            })
            .collect();
        // One permit at a time, each taken (and recorded) before the next is
        // released: whoever got it was first in line.
        for k in 0..4 {
            s.release();
            while order.lock().unwrap().len() < k + 1 {
                std::thread::yield_now();
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }
}
