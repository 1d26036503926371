//! What a lock costs, measured the way parking_lot's own benchmark does it:
//! the threads start together behind a barrier, run for a fixed time, the
//! shared counter sits alone on its cache line (padded, so no unrelated data
//! slows it down), and every thread's count is kept, because the spread
//! between the busiest and the idlest thread shows unfairness.
//!
//! Chapter 3 ("what a lock costs") writes the competing threads' loop in the
//! notebook, where it can be read, and takes the plumbing from here: the
//! start line and clock ([`StartLine`]), the padding ([`Padded`]), the
//! result ([`Contention`]) and its chart. [`run`] is the same experiment in
//! one call, with a knob for work inside the lock (the `lock_costs` example).

use crate::chart::{self, Chart, Series};
use serde::Serialize;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Keeps a value on a cache line of its own (128 bytes covers the adjacent-
/// line prefetch of current x86 parts), so that threads hammering it do not
/// also slow down whatever would otherwise share its line. Derefs to the value.
#[repr(align(128))]
#[derive(Default)]
pub struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The start line and the clock of one measurement. Each competing thread
/// calls [`wait_for_start`](Self::wait_for_start), then works while
/// [`running`](Self::running); the thread that started them calls
/// [`time`](Self::time), which lets them all go at once and stops them after
/// the duration; after joining them, [`result`](Self::result) turns their
/// counts into a [`Contention`].
pub struct StartLine {
    barrier: Barrier,
    /// Read by every thread on every round: alone on its line, so the
    /// threads' polling does not slow down the counter.
    stop: Padded<AtomicBool>,
    duration: Duration,
    started: Mutex<Option<Instant>>,
}

impl StartLine {
    /// A start line for `threads` competing threads and one timer.
    pub fn new(threads: usize, duration: Duration) -> StartLine {
        StartLine { barrier: Barrier::new(threads + 1), stop: Padded(AtomicBool::new(false)), duration, started: Mutex::new(None) }
    }

    /// Waits until every competing thread (and the timer) is ready.
    pub fn wait_for_start(&self) {
        self.barrier.wait();
    }

    /// Whether the time is not up yet.
    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// The timer's part: lets the threads go, waits the duration, stops them.
    pub fn time(&self) {
        self.barrier.wait();
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        std::thread::sleep(self.duration);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The measurement, from each thread's count (call it after joining
    /// them: the time runs until then).
    pub fn result(&self, kind: Kind, per_thread: Vec<u64>) -> Contention {
        let started = self.started.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(Instant::now);
        Contention { kind, threads: per_thread.len(), seconds: started.elapsed().as_secs_f64(), per_thread }
    }
}

/// How the shared counter is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// `std::sync::Mutex<u64>`, `*lock() += 1`.
    StdMutex,
    /// `parking_lot::Mutex<u64>`, `*lock() += 1`.
    ParkingLot,
    /// `AtomicU64::fetch_add(1)`: no lock, one indivisible instruction.
    Atomic,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::StdMutex, Kind::ParkingLot, Kind::Atomic];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::StdMutex => "std Mutex",
            Kind::ParkingLot => "parking_lot Mutex",
            Kind::Atomic => "atomic fetch_add",
        })
    }
}

/// One measurement: `threads` threads incrementing one counter for `seconds`.
#[derive(Debug, Clone, Serialize)]
pub struct Contention {
    pub kind: Kind,
    pub threads: usize,
    pub seconds: f64,
    /// Increments done by each thread.
    pub per_thread: Vec<u64>,
}

impl Contention {
    /// All increments.
    pub fn total(&self) -> u64 {
        self.per_thread.iter().sum()
    }

    /// Wall-clock nanoseconds per increment, over all threads together.
    pub fn ns_per_op(&self) -> f64 {
        self.seconds * 1e9 / self.total().max(1) as f64
    }

    /// The idlest thread's count over the busiest one's (1 = perfectly even).
    pub fn evenness(&self) -> f64 {
        let max = self.per_thread.iter().copied().max().unwrap_or(0).max(1) as f64;
        self.per_thread.iter().copied().min().unwrap_or(0) as f64 / max
    }
}

impl fmt::Display for Contention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<18} {} thread(s): {:>7.1} ns per increment, {:>6.1} M increments/s, idlest/busiest thread {:.2}",
            self.kind.to_string(),
            self.threads,
            self.ns_per_op(),
            self.total() as f64 / self.seconds / 1e6,
            self.evenness()
        )
    }
}

/// Runs the benchmark once, in one call: `threads` threads increment one
/// counter, protected as `kind` says, for `duration`. `work_inside` spins
/// that many rounds of busy work while holding the lock (0: just the
/// increment).
pub fn run(kind: Kind, threads: usize, duration: Duration, work_inside: u32) -> Contention {
    let threads = threads.max(1);
    let std_mutex = Padded(Mutex::new(0u64));
    let pl_mutex = Padded(parking_lot::Mutex::new(0u64));
    let atomic = Padded(AtomicU64::new(0));
    let start = StartLine::new(threads, duration);
    let busy = |rounds: u32| {
        let mut x = 1u64;
        for _ in 0..rounds {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        x
    };
    let per_thread = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = 0u64;
                    start.wait_for_start();
                    while start.running() {
                        match kind {
                            Kind::StdMutex => {
                                let mut g = std_mutex.lock().unwrap_or_else(|e| e.into_inner());
                                std::hint::black_box(busy(work_inside));
                                *g += 1;
                            }
                            Kind::ParkingLot => {
                                let mut g = pl_mutex.lock();
                                std::hint::black_box(busy(work_inside));
                                *g += 1;
                            }
                            Kind::Atomic => {
                                busy(work_inside);
                                atomic.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        mine += 1;
                    }
                    mine
                })
            })
            .collect();
        start.time();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    start.result(kind, per_thread)
}

/// Every kind for 1 to `max_threads` threads.
pub fn sweep(max_threads: usize, duration: Duration) -> Vec<Contention> {
    Kind::ALL.iter().flat_map(|&k| (1..=max_threads.max(1)).map(move |t| run(k, t, duration, 0))).collect()
}

/// Nanoseconds per increment against threads, one line per kind.
pub fn chart(results: &[Contention]) -> Chart {
    let series: Vec<Series> = Kind::ALL
        .iter()
        .map(|&k| {
            let pts = results.iter().filter(|r| r.kind == k).map(|r| (r.threads as f64, r.ns_per_op())).collect();
            Series::line_points(&k.to_string(), pts)
        })
        .collect();
    chart::lines("What one increment of a shared counter costs", "threads", "ns per increment (all threads together)", &series, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_counts_and_keeps_per_thread_numbers() {
        for kind in Kind::ALL {
            let r = run(kind, 2, Duration::from_millis(30), 0);
            assert_eq!(r.per_thread.len(), 2);
            assert!(r.total() > 0, "{r}");
            assert!(r.ns_per_op() > 0.0);
        }
    }
}
