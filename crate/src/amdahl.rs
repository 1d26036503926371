//! Amdahl's law, measured speedup curves, and fitting a serial fraction.
//!
//! If a fraction `B` of a program's work is serial and the rest divides
//! perfectly among `N` workers, the time on `N` workers is
//! `T(N) = T(1) · (B + (1 − B) / N)` and the speedup is
//! `S(N) = T(1) / T(N) = 1 / (B + (1 − B) / N)`, never more than `1 / B`.

use crate::chart::{self, Chart, Series, SpeedupPoint};
use crate::exercise::{self, Verdict};
use crate::machine::{machine, Machine};
use crate::measure::{self, Progress, Stats};
use serde::Serialize;
use std::fmt;

/// Amdahl's speedup for serial fraction `b` on `n` workers.
pub fn speedup(b: f64, n: f64) -> f64 {
    1.0 / (b + (1.0 - b) / n)
}

/// What Amdahl's law says about unlimited workers for serial fraction `b`,
/// in words. Below B = 0.005 the ceiling (over 200x) is far beyond anything
/// a small machine can show, and within measurement noise of "none".
pub fn ceiling(b: f64) -> String {
    if b < 0.005 {
        "no serial part measurable at this scale, so no ceiling in sight".to_string()
    } else {
        format!("at most {:.1}x however many workers are added", 1.0 / b)
    }
}

/// How many different worker counts a fit of `B` needs (see
/// [`fit_serial_fraction`]).
pub const MIN_FIT_COUNTS: usize = 3;

/// Fits the serial fraction `B` to measured `(workers, seconds)` pairs.
///
/// Amdahl's time model `T(N) = a + c / N` is a straight line in `1/N`, with
/// `a = T(1)·B` (the serial part) and `c = T(1)·(1 − B)`. A least-squares line
/// through the points gives `a` and `c`, and `B = a / (a + c)`, clamped to
/// `[0, 1]`.
///
/// Needs at least [`MIN_FIT_COUNTS`] different worker counts, otherwise
/// `None`: a line through two points always fits them exactly, so a "fit"
/// from two counts could not show whether the law describes the program at
/// all, and its ceiling would be a guess dressed up as a measurement.
pub fn fit_serial_fraction(points: &[(usize, f64)]) -> Option<f64> {
    let mut counts: Vec<usize> = points.iter().map(|&(n, _)| n).collect();
    counts.sort_unstable();
    counts.dedup();
    if counts.len() < MIN_FIT_COUNTS {
        return None;
    }
    let xs: Vec<f64> = points.iter().map(|&(n, _)| 1.0 / n as f64).collect();
    let ys: Vec<f64> = points.iter().map(|&(_, t)| t).collect();
    let k = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / k;
    let my = ys.iter().sum::<f64>() / k;
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let c = sxy / sxx;
    let a = my - c * mx;
    if a + c <= 0.0 {
        return None;
    }
    Some((a / (a + c)).clamp(0.0, 1.0))
}

/// A measured speedup curve: times for each worker count, the speedups, and
/// the serial fraction that best explains them.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedupCurve {
    /// What was measured.
    pub label: String,
    /// Timings per worker count (the first entry is the 1-worker baseline).
    pub times: Vec<(usize, Stats)>,
    /// Speedup over the 1-worker median: median, and the spread of the samples.
    pub points: Vec<SpeedupPoint>,
    /// The serial fraction fitted from the worker counts up to the number of
    /// cores (beyond that, workers share cores and Amdahl's model no longer applies).
    pub fitted_serial_fraction: Option<f64>,
    /// Where it was measured.
    pub machine: Machine,
}

/// Times `work(n)` for each worker count in `workers` (which should start at
/// 1) and builds the speedup curve. Prints one progress line per count.
pub fn measure_speedup<T>(
    label: &str,
    workers: impl IntoIterator<Item = usize>,
    warmup: usize,
    samples: usize,
    mut work: impl FnMut(usize) -> T,
) -> SpeedupCurve {
    // A thin generic shim: the real work is in a non-generic function, which
    // is compiled once in this crate instead of again in every notebook cell.
    let workers: Vec<usize> = workers.into_iter().collect();
    measure_speedup_dyn(label, &workers, warmup, samples, &mut |n| {
        std::hint::black_box(work(n));
    })
}

fn measure_speedup_dyn(
    label: &str,
    workers: &[usize],
    warmup: usize,
    samples: usize,
    work: &mut dyn FnMut(usize),
) -> SpeedupCurve {
    let mut progress = Progress::new(label, workers.len());
    let mut times = Vec::new();
    for &n in workers {
        let stats = measure::measure(warmup, samples, || work(n));
        progress.step(&format!("{n} worker{}: {}", if n == 1 { "" } else { "s" }, stats));
        times.push((n, stats));
    }
    SpeedupCurve::from_times(label, times)
}

impl SpeedupCurve {
    /// Builds a curve from timings; the entry with 1 worker is the baseline
    /// (the first entry if there is none).
    pub fn from_times(label: &str, times: Vec<(usize, Stats)>) -> SpeedupCurve {
        let machine = machine();
        let base = times.iter().find(|(n, _)| *n == 1).or(times.first()).map(|(_, s)| s.median).unwrap_or(0.0);
        let points = times
            .iter()
            .map(|(n, s)| SpeedupPoint {
                workers: *n,
                median: ratio(base, s.median),
                min: ratio(base, s.max),
                max: ratio(base, s.min),
            })
            .collect();
        let within_cores: Vec<(usize, f64)> =
            times.iter().filter(|(n, _)| *n <= machine.cores).map(|(n, s)| (*n, s.median)).collect();
        SpeedupCurve {
            label: label.to_string(),
            fitted_serial_fraction: fit_serial_fraction(&within_cores),
            times,
            points,
            machine,
        }
    }

    /// The measured speedup (median) at `workers`, if measured.
    pub fn speedup_at(&self, workers: usize) -> Option<f64> {
        self.points.iter().find(|p| p.workers == workers).map(|p| p.median)
    }

    /// The best measured speedup and the worker count that gave it.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.points.iter().map(|p| (p.workers, p.median)).max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The chart: measured points, the ideal line and, when there was enough
    /// to fit, the fitted Amdahl curve. The fitted curve stops at the core
    /// count: past it the law's one-processor-per-worker premise fails, and a
    /// prediction drawn beside points that cannot reach it would mislead.
    pub fn chart(&self) -> Chart {
        let cores = self.machine.cores as f64;
        let models: Vec<Series> = self
            .fitted_serial_fraction
            .map(|b| curve(&format!("Amdahl, fitted B = {b:.3} (up to {cores} cores)"), b, cores))
            .into_iter()
            .collect();
        self.chart_with(&models)
    }

    /// The chart with a dashed Amdahl curve for a serial fraction known in
    /// advance (an experiment built to have it), plus the fitted one if any.
    pub fn chart_against(&self, true_b: f64) -> Chart {
        let n_max = chart::speedup_width(&self.points);
        let mut models = vec![curve(&format!("Amdahl, true B = {true_b:.3}"), true_b, n_max)];
        if let Some(b) = self.fitted_serial_fraction {
            models.push(curve(&format!("Amdahl, fitted B = {b:.3}"), b, n_max));
        }
        self.chart_with(&models)
    }

    /// The chart with the given model curves (dashed), e.g. a prediction.
    pub fn chart_with(&self, models: &[Series]) -> Chart {
        chart::speedup(&self.label, &self.points, models)
    }
}

/// Amdahl's law for serial fraction `b` as a dashed chart curve over
/// `1..=n_max` workers.
pub fn curve(label: &str, b: f64, n_max: f64) -> Series {
    let steps = 60;
    let points = (0..=steps).map(|k| 1.0 + (n_max - 1.0) * k as f64 / steps as f64).map(|n| (n, speedup(b, n))).collect();
    Series::dashed(label, points)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

impl fmt::Display for SpeedupCurve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.label)?;
        writeln!(f, "{:>8} {:>12} {:>9} {:>14}", "workers", "median", "speedup", "Amdahl (fit)")?;
        let cores = self.machine.cores;
        for ((n, s), p) in self.times.iter().zip(&self.points) {
            let model = match self.fitted_serial_fraction {
                Some(_) if *n > cores => "(past cores)".to_string(),
                Some(b) => format!("{:.2}x", speedup(b, *n as f64)),
                None => "-".to_string(),
            };
            writeln!(f, "{:>8} {:>12} {:>8.2}x {:>14}", n, measure::seconds(s.median), p.median, model)?;
        }
        match self.fitted_serial_fraction {
            Some(b) => write!(f, "fitted serial fraction B = {b:.3}: {}", ceiling(b)),
            None => write!(
                f,
                "no fit: fitting B needs timings at {MIN_FIT_COUNTS} or more worker counts within the cores, and \
                 {} measured here fit within {cores} core{} (a line through fewer points fits them exactly, \
                 whatever the program does)",
                self.times.iter().filter(|(n, _)| *n <= cores).count(),
                if cores == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Exercise "predict_speedup": from the time on one worker `t1` and on `k`
/// workers `tk`, predict the speedup on `n` workers with Amdahl's law, or
/// refuse (`Err`) when the inputs are not measurements the law can explain.
pub fn judge_predict_speedup(f: fn(f64, f64, usize, usize) -> Result<f64, String>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let ask = |t1: f64, tk: f64, k: usize, n: usize| {
            exercise::call(|| f(t1, tk, k, n)).map_err(|m| format!("predict_speedup({t1}, {tk}, {k}, {n}) panicked: {m}"))
        };
        // Times shaped exactly like the law, with B from "all parallel" to "all serial".
        let t1 = 8.0;
        for b in [0.0, 0.125, 0.25, 0.5, 0.75, 1.0] {
            for k in [2usize, 4, 3] {
                let tk = t1 * (b + (1.0 - b) / k as f64);
                for n in [1usize, 2, 3, 4, 8, 64] {
                    let want = speedup(b, n as f64);
                    match ask(t1, tk, k, n)? {
                        Ok(got) if (got - want).abs() <= 1e-9 * want => {}
                        Ok(got) => {
                            return Err(format!(
                                "predict_speedup({t1}, {tk}, {k}, {n}) returned {got:.4}, expected {want:.4}: \
                                 these two timings come from serial fraction B = {b}, and Amdahl's law with that B \
                                 gives {want:.4} on {n} workers"
                            ))
                        }
                        Err(why) => {
                            return Err(format!(
                                "predict_speedup({t1}, {tk}, {k}, {n}) refused ({why}), but these timings come from \
                                 B = {b} and the law can predict {want:.4}"
                            ))
                        }
                    }
                }
            }
        }
        for (t1, tk, k, n, why) in [
            (8.0, 4.0, 1, 4, "one timing on one worker cannot tell serial from parallel work"),
            (8.0, 4.0, 0, 4, "zero workers is not a measurement"),
            (8.0, 4.0, 2, 0, "there is no speedup on zero workers"),
            (0.0, 4.0, 2, 4, "a time of zero is not a measurement"),
            (8.0, -1.0, 2, 4, "a negative time is not a measurement"),
            (f64::NAN, 4.0, 2, 4, "NaN is not a measurement"),
            (8.0, f64::INFINITY, 2, 4, "an infinite time is not a measurement"),
            (8.0, 10.0, 2, 4, "2 workers were slower than 1: B would be above 1, overheads the law leaves out"),
            (8.0, 3.0, 2, 4, "2 workers were more than 2x faster: B would be below 0, superlinear speedup the law cannot give"),
        ] {
            if let Ok(got) = ask(t1, tk, k, n)? {
                return Err(format!("predict_speedup({t1}, {tk}, {k}, {n}) returned Ok({got}), expected an Err: {why}"));
            }
        }
        Ok("predicts Amdahl's speedup from two timings for B from 0 to 1 and any worker counts, and refuses \
            timings the law cannot explain (too few workers, impossible times, slower or faster than the law allows)"
            .into())
    })
}

/// Exercise "workers_needed": the fewest workers that reach a target
/// speedup with serial fraction `b`, or `None` when no number of workers can.
pub fn judge_workers_needed(f: fn(f64, f64) -> Option<usize>) -> Verdict {
    // A learner's search that never ends on an unreachable target is the
    // mistake to name, not something to wait 30 s for.
    exercise::run(std::time::Duration::from_secs(10), move || {
        // (B, target, whether the answer lands exactly on a whole number in
        // binary floating point too, so that "at least" and "more than" differ)
        let cases = [
            (0.5, 1.6, true),     // 4 workers give exactly 1.6x: a strict > overshoots
            (0.25, 2.0, true),    // 3 workers give exactly 2x
            (0.05, 10.0, false),  // the book's "at most 20x" curve: 19 workers give 10x
            (0.05, 20.0, false),  // the ceiling itself: never
            (0.05, 19.0, false),  // close to the ceiling: 361 workers
            (0.05, 25.0, false),  // beyond it
            (0.1, 1.0, true),     // no speedup asked: one worker
            (0.1, 0.5, true),     // "slower" asked: one worker already does it
            (0.0, 7.5, true),     // no serial part: 8 workers
            (0.0, 1e6, true),     // no serial part: no ceiling either
            (1.0, 1.5, true),     // all serial: never
            (1.0, 1.0, true),     // all serial, no speedup asked
            (0.3, 3.0, false),
            (0.001, 500.0, false),
            (0.25, 3.99, false),
        ];
        for (b, target, exact) in cases {
            let got = exercise::call(|| f(b, target)).map_err(|m| format!("workers_needed({b}, {target}) panicked: {m}"))?;
            let want = fewest_workers(b, target);
            let fine = match (got, want) {
                // Where the exact answer is a whole number that floating point
                // cannot hit exactly, one more is also fine: the one fewer misses
                // the target only by rounding in the last digits.
                (Some(n), Some(_)) => {
                    let slack = if exact { 1.0 } else { 1.0 + 1e-9 };
                    reaches(b, n, target) && (n == 1 || speedup(b, (n - 1) as f64) < target * slack)
                }
                (None, None) => true,
                _ => false,
            };
            if !fine {
                let said = match got {
                    Some(n) => format!("Some({n}) (speedup {:.4}x)", speedup(b, n as f64)),
                    None => "None".to_string(),
                };
                let right = match want {
                    Some(n) => format!(
                        "Some({n}): {n} workers give {:.4}x{}",
                        speedup(b, n as f64),
                        if n > 1 { format!(", {} give only {:.4}x", n - 1, speedup(b, (n - 1) as f64)) } else { String::new() }
                    ),
                    None => format!("None: with B = {b} no number of workers gets past {}", ceiling_x(b)),
                };
                return Err(format!("workers_needed({b}, {target}) returned {said}, expected {right}"));
            }
        }
        Ok(format!("the fewest workers for {} targets, and None for the ones beyond 1 / B", cases.len()))
    })
}

/// Whether `n` workers reach `target` (with a hair of tolerance, so that a
/// closed-form answer is not failed for a rounding error in the last bit).
fn reaches(b: f64, n: usize, target: f64) -> bool {
    speedup(b, n as f64) >= target * (1.0 - 1e-9)
}

/// The judge's own answer, by search: doubling, then bisection.
fn fewest_workers(b: f64, target: f64) -> Option<usize> {
    if target <= 1.0 {
        return Some(1);
    }
    if b > 0.0 && target >= 1.0 / b * (1.0 - 1e-12) {
        return None;
    }
    let mut hi = 1usize;
    while !reaches(b, hi, target) {
        hi *= 2;
    }
    let mut lo = hi / 2; // does not reach (or is 0)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(b, mid, target) { hi = mid } else { lo = mid }
    }
    Some(hi)
}

fn ceiling_x(b: f64) -> String {
    if b > 0.0 { format!("{:.4}x (1 / B)", 1.0 / b) } else { "any speedup".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_books_worked_examples() {
        assert!((speedup(0.6, 4.0) - 1.4286).abs() < 1e-4);
        assert!((speedup(0.2, 2.0) - 1.6667).abs() < 1e-4);
        assert!((speedup(0.05, 1e12) - 20.0).abs() < 1e-6);
    }

    #[test]
    fn fit_recovers_b_from_exact_amdahl_times() {
        for b in [0.0, 0.1, 0.37, 0.9] {
            let pts: Vec<(usize, f64)> = (1..=8).map(|n| (n, 3.0 * (b + (1.0 - b) / n as f64))).collect();
            assert!((fit_serial_fraction(&pts).unwrap() - b).abs() < 1e-9);
        }
        assert_eq!(fit_serial_fraction(&[(1, 1.0)]), None);
        assert_eq!(fit_serial_fraction(&[(2, 1.0), (2, 1.0)]), None);
    }

    #[test]
    fn curve_uses_the_one_worker_time_as_baseline() {
        let times = vec![(1, Stats::from_samples(vec![2.0, 2.2])), (2, Stats::from_samples(vec![1.0, 1.1]))];
        let c = SpeedupCurve::from_times("t", times);
        assert!((c.speedup_at(2).unwrap() - 2.1 / 1.05).abs() < 1e-9);
        assert!(c.to_string().contains("speedup"));
    }

    #[test]
    fn two_worker_counts_are_not_a_fit() {
        let exact = |b: f64, n: usize| (n, 3.0 * (b + (1.0 - b) / n as f64));
        assert_eq!(fit_serial_fraction(&[exact(0.2, 1), exact(0.2, 2)]), None);
        assert_eq!(fit_serial_fraction(&[exact(0.2, 1), exact(0.2, 2), exact(0.2, 2)]), None);
        assert!(fit_serial_fraction(&[exact(0.2, 1), exact(0.2, 2), exact(0.2, 3)]).is_some());
    }

    #[test]
    fn fewest_workers_by_search() {
        assert_eq!(fewest_workers(0.5, 1.6), Some(4));
        assert_eq!(fewest_workers(0.05, 10.0), Some(19));
        assert_eq!(fewest_workers(0.05, 20.0), None);
        assert_eq!(fewest_workers(0.0, 7.5), Some(8));
        assert_eq!(fewest_workers(1.0, 1.0), Some(1));
    }
}
