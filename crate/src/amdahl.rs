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

/// Fits the serial fraction `B` to measured `(workers, seconds)` pairs.
///
/// Amdahl's time model `T(N) = a + c / N` is a straight line in `1/N`, with
/// `a = T(1)·B` (the serial part) and `c = T(1)·(1 − B)`. A least-squares line
/// through the points gives `a` and `c`, and `B = a / (a + c)`, clamped to
/// `[0, 1]`. Needs at least two different worker counts; otherwise `None`.
pub fn fit_serial_fraction(points: &[(usize, f64)]) -> Option<f64> {
    let xs: Vec<f64> = points.iter().map(|&(n, _)| 1.0 / n as f64).collect();
    let ys: Vec<f64> = points.iter().map(|&(_, t)| t).collect();
    let k = xs.len() as f64;
    if xs.len() < 2 {
        return None;
    }
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

    /// The chart: measured points, the ideal line and the fitted Amdahl curve.
    pub fn chart(&self) -> Chart {
        let n_max = chart::speedup_width(&self.points);
        let models: Vec<Series> =
            self.fitted_serial_fraction.map(|b| curve(&format!("Amdahl, fitted B = {b:.3}"), b, n_max)).into_iter().collect();
        chart::speedup(&self.label, &self.points, &models)
    }

    /// The chart with a second Amdahl curve for the true serial fraction,
    /// for experiments where it is known.
    pub fn chart_against(&self, true_b: f64) -> Chart {
        let n_max = chart::speedup_width(&self.points);
        let mut models = vec![curve(&format!("Amdahl, true B = {true_b:.3}"), true_b, n_max)];
        if let Some(b) = self.fitted_serial_fraction {
            models.push(curve(&format!("Amdahl, fitted B = {b:.3}"), b, n_max));
        }
        chart::speedup(&self.label, &self.points, &models)
    }
}

/// Amdahl's law for serial fraction `b` as a dashed chart curve over
/// `1..=n_max` workers.
fn curve(label: &str, b: f64, n_max: f64) -> Series {
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
        for ((n, s), p) in self.times.iter().zip(&self.points) {
            let model = self.fitted_serial_fraction.map(|b| format!("{:.2}x", speedup(b, *n as f64))).unwrap_or_else(|| "-".into());
            writeln!(f, "{:>8} {:>12} {:>8.2}x {:>14}", n, measure::seconds(s.median), p.median, model)?;
        }
        match self.fitted_serial_fraction {
            Some(b) => write!(f, "fitted serial fraction B = {b:.3}: {}", ceiling(b)),
            None if self.machine.cores < 2 => write!(f, "fitted serial fraction: needs at least two cores (this machine has one)"),
            None => write!(f, "fitted serial fraction: needs at least two worker counts up to {} cores", self.machine.cores),
        }
    }
}

/// Exercise "amdahl_speedup": judges a learner's implementation of the law.
pub fn judge_amdahl_speedup(f: fn(f64, f64) -> f64) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let bs = [0.0, 0.05, 0.1, 0.25, 0.5, 0.6, 0.9, 1.0];
        let ns = [1.0, 2.0, 4.0, 8.0, 1000.0];
        for b in bs {
            for n in ns {
                let got = exercise::call(|| f(b, n)).map_err(|m| format!("amdahl_speedup({b}, {n}) panicked: {m}"))?;
                let want = speedup(b, n);
                let close = (got - want).abs() <= 1e-9 * want; // false for NaN, too
                if !close {
                    return Err(format!(
                        "amdahl_speedup({b}, {n}) returned {got:.4}, expected {want:.4} (= 1 / ({b} + (1 - {b}) / {n}))"
                    ));
                }
            }
        }
        Ok(format!("{} combinations of B and N match 1 / (B + (1 - B) / N); e.g. B = 0.6, N = 4 gives {:.2}", bs.len() * ns.len(), speedup(0.6, 4.0)))
    })
}

/// Exercise "serial_fraction": judges a function that estimates B from the
/// time on one worker `t1` and on `n` workers `tn`, and returns `None` when
/// the inputs cannot give an answer.
pub fn judge_serial_fraction(f: fn(f64, f64, usize) -> Option<f64>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        for b in [0.0, 0.1, 0.3, 0.75, 1.0] {
            for n in [2usize, 3, 4, 16] {
                let t1 = 8.0;
                let tn = t1 * (b + (1.0 - b) / n as f64);
                let got = exercise::call(|| f(t1, tn, n)).map_err(|m| format!("serial_fraction({t1}, {tn:.3}, {n}) panicked: {m}"))?;
                match got {
                    Some(g) if (g - b).abs() < 1e-9 => {}
                    Some(g) => {
                        return Err(format!(
                            "serial_fraction({t1}, {tn:.3}, {n}) returned {g:.4}, but these times come from B = {b} \
                             (rearrange T(N) = T(1)·(B + (1 − B)/N) for B)"
                        ))
                    }
                    None => return Err(format!("serial_fraction({t1}, {tn:.3}, {n}) returned None, but B = {b} can be computed")),
                }
            }
        }
        for (t1, tn, n, why) in [
            (8.0, 4.0, 1, "one worker says nothing about parallel speedup"),
            (8.0, 4.0, 0, "zero workers is not a measurement"),
            (0.0, 4.0, 2, "a time of zero is not a measurement"),
            (8.0, -1.0, 2, "a negative time is not a measurement"),
        ] {
            let got = exercise::call(|| f(t1, tn, n)).map_err(|m| format!("serial_fraction({t1}, {tn}, {n}) panicked: {m}"))?;
            if let Some(g) = got {
                return Err(format!("serial_fraction({t1}, {tn}, {n}) returned Some({g}), expected None: {why}"));
            }
        }
        Ok("recovers B exactly from Amdahl-shaped times, and returns None for inputs that cannot give an answer".into())
    })
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
    fn the_law_passes_its_own_judge() {
        // Wrong formulas: crate::wrong_answers.
        assert!(judge_amdahl_speedup(speedup).passed());
    }
}
