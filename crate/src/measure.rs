//! Timing done properly: warm up, take several samples, report the median and
//! the spread (min to max). One run of anything is noise on a shared machine.

use serde::Serialize;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A summary of repeated timings, in seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    /// The middle sample: robust against the odd slow run.
    pub median: f64,
    /// The fastest sample.
    pub min: f64,
    /// The slowest sample.
    pub max: f64,
    /// Every sample, in the order taken (kept so a histogram can show them).
    pub samples: Vec<f64>,
}

impl Stats {
    /// Summarises samples (seconds). An empty slice gives all zeros.
    pub fn from_samples(samples: Vec<f64>) -> Stats {
        if samples.is_empty() {
            return Stats { median: 0.0, min: 0.0, max: 0.0, samples };
        }
        let mut sorted = samples.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        Stats { median, min: sorted[0], max: sorted[n - 1], samples }
    }

    /// Spread relative to the median: (max - min) / median.
    pub fn relative_spread(&self) -> f64 {
        if self.median > 0.0 { (self.max - self.min) / self.median } else { 0.0 }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "median {} (min {}, max {}, {} samples)",
            seconds(self.median),
            seconds(self.min),
            seconds(self.max),
            self.samples.len()
        )
    }
}

/// Formats seconds with a unit that suits the size: `1.23 s`, `45.6 ms`, `789 µs`.
pub fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.1} µs", s * 1e6)
    } else {
        format!("{:.0} ns", s * 1e9)
    }
}

/// Runs `f` once and returns its result with the time it took.
pub fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// CPU time the calling thread has used so far, in seconds: the time it
/// really spent on a core, unlike wall-clock time, which also counts the
/// turns it waited while other threads had the cores.
pub fn thread_cpu_time() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec, and CLOCK_THREAD_CPUTIME_ID
    // is a clock every Linux and macOS kernel has, so the call only writes `t`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Runs `f` `warmup` times untimed, then `samples` times timed.
///
/// The warm-up runs fill caches and spin up thread pools so that the first
/// sample is not an outlier. The result of `f` goes through
/// [`std::hint::black_box`] so the compiler cannot skip the work.
pub fn measure<T>(warmup: usize, samples: usize, mut f: impl FnMut() -> T) -> Stats {
    // Generic shim over a non-generic body (compiled once, not in every cell).
    measure_dyn(warmup, samples, &mut || {
        std::hint::black_box(f());
    })
}

fn measure_dyn(warmup: usize, samples: usize, f: &mut dyn FnMut()) -> Stats {
    for _ in 0..warmup {
        f();
    }
    let taken = (0..samples.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    Stats::from_samples(taken)
}

/// Prints one line per step of a long experiment, so the learner sees it move.
///
/// ```
/// let mut p = concurrency_lab::measure::Progress::new("speedup", 3);
/// p.step("1 worker");
/// p.step("2 workers");
/// p.step("3 workers");
/// ```
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    start: Instant,
    quiet: bool,
}

impl Progress {
    /// A progress reporter for `total` steps.
    pub fn new(label: &str, total: usize) -> Progress {
        Progress { label: label.to_string(), total, done: 0, start: Instant::now(), quiet: false }
    }

    /// A reporter that prints nothing (for tests and benchmarks).
    pub fn quiet(label: &str, total: usize) -> Progress {
        Progress { quiet: true, ..Progress::new(label, total) }
    }

    /// Marks one step done and prints `[label 2/5, 1.3 s] what`.
    pub fn step(&mut self, what: &str) {
        self.done += 1;
        if !self.quiet {
            println!(
                "[{} {}/{}, {:.1} s] {}",
                self.label,
                self.done,
                self.total,
                self.start.elapsed().as_secs_f64(),
                what
            );
        }
    }
}

/// Saves any result as pretty JSON, creating the folder if needed.
///
/// Every experiment result in this crate derives `Serialize`, so what a cell
/// prints and charts can also be kept and compared later.
pub fn save_json<T: Serialize>(value: &T, path: impl AsRef<Path>) -> Result<(), String> {
    let path = path.as_ref();
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    let text = serde_json::to_string_pretty(value).map_err(|e| format!("cannot encode result: {e}"))?;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(Stats::from_samples(vec![3.0, 1.0, 2.0]).median, 2.0);
        assert_eq!(Stats::from_samples(vec![4.0, 1.0, 2.0, 3.0]).median, 2.5);
        let s = Stats::from_samples(vec![5.0, 1.0, 9.0]);
        assert_eq!((s.min, s.max), (1.0, 9.0));
        assert_eq!(s.samples, vec![5.0, 1.0, 9.0]);
    }

    #[test]
    fn measure_takes_the_requested_samples() {
        let mut calls = 0;
        let s = measure(2, 5, || calls += 1);
        assert_eq!(calls, 7);
        assert_eq!(s.samples.len(), 5);
        assert!(s.min <= s.median && s.median <= s.max);
    }

    #[test]
    fn seconds_picks_a_unit() {
        assert_eq!(seconds(2.345), "2.35 s");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(seconds(0.0000456), "45.6 µs");
    }

    #[test]
    fn save_json_round_trips() {
        let dir = std::env::temp_dir().join(format!("lab-json-{}", std::process::id()));
        let path = dir.join("stats.json");
        save_json(&Stats::from_samples(vec![1.0, 2.0]), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"median\": 1.5"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
