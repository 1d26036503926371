//! What a lock costs, measured the way parking_lot's own benchmark does it:
//! the threads start together behind a barrier, run for a fixed time, the
//! shared counter sits alone on its cache line (padded, so no unrelated data
//! slows it down), and every thread's count is kept, because the spread
//! between the busiest and the idlest thread shows unfairness.
//!
//! Used in chapter 3 ("what a lock costs") and by the `lock_costs` example.

use crate::chart::{self, Chart, Series};
use serde::Serialize;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Keeps a value on a cache line of its own (128 bytes covers the adjacent-
/// line prefetch of current x86 parts).
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

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

/// Runs the benchmark once. `work_inside` spins that many rounds of busy
/// work while holding the lock (0: just the increment).
pub fn run(kind: Kind, threads: usize, duration: Duration, work_inside: u32) -> Contention {
    let threads = threads.max(1);
    let std_mutex = Padded(Mutex::new(0u64));
    let pl_mutex = Padded(parking_lot::Mutex::new(0u64));
    let atomic = Padded(AtomicU64::new(0));
    let stop = Padded(AtomicBool::new(false));
    let start = Barrier::new(threads + 1);
    let busy = |rounds: u32| {
        let mut x = 1u64;
        for _ in 0..rounds {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        x
    };
    let (per_thread, seconds) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (std_mutex, pl_mutex, atomic, stop, start) = (&std_mutex, &pl_mutex, &atomic, &stop, &start);
                s.spawn(move || {
                    let mut mine = 0u64;
                    start.wait();
                    while !stop.0.load(Ordering::Relaxed) {
                        match kind {
                            Kind::StdMutex => {
                                let mut g = std_mutex.0.lock().unwrap_or_else(|e| e.into_inner());
                                std::hint::black_box(busy(work_inside));
                                *g += 1;
                            }
                            Kind::ParkingLot => {
                                let mut g = pl_mutex.0.lock();
                                std::hint::black_box(busy(work_inside));
                                *g += 1;
                            }
                            Kind::Atomic => {
                                busy(work_inside);
                                atomic.0.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        mine += 1;
                    }
                    mine
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        std::thread::sleep(duration);
        stop.0.store(true, Ordering::Relaxed);
        let per: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap_or(0)).collect();
        (per, t0.elapsed().as_secs_f64())
    });
    Contention { kind, threads, seconds, per_thread }
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
