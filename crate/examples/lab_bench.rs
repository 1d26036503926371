//! Prints the chapter 1-2 measurements that the closing notes of the
//! platform issue quote: the prime search's speedup against the cores, and
//! the serial fraction fitted from the simulation against the true one.
//!
//! Run with the profile that matches evcxr's build:
//! `cargo run --profile evcxr --example lab_bench -p concurrency_lab`

use concurrency_lab::amdahl::SpeedupCurve;
use concurrency_lab::workload;
use concurrency_lab::machine::machine;
use concurrency_lab::measure::{self, Stats};
use concurrency_lab::primes;
use std::time::Duration;

/// The same workload as the chapter 2 notebook: a fraction `b` of the work on
/// one thread, the rest split evenly over `workers` threads.
fn workload(b: f64, workers: usize, total_units: u64) {
    let serial = (b * total_units as f64) as u64;
    workload::busy(serial);
    let each = (total_units - serial) / workers as u64;
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(move || workload::busy(each));
        }
    });
}

fn curve(label: &str, workers: usize, mut f: impl FnMut(usize)) -> SpeedupCurve {
    let times = (1..=workers).map(|n| (n, measure::measure(1, 7, || f(n)))).collect::<Vec<(usize, Stats)>>();
    SpeedupCurve::from_times(label, times)
}

fn main() {
    let m = machine();
    println!("machine: {}", m.footer());
    let cores = m.cores;

    for count in [500, 1000] {
        let numbers = primes::book_inputs(count);
        let c = curve("primes", cores, |n| {
            primes::find_parallel(&numbers, n);
        });
        println!(
            "prime search, {count} numbers from 10^13: 1 thread {}, {cores} threads {}, speedup {:.2}x on {cores} cores",
            measure::seconds(c.times[0].1.median),
            measure::seconds(c.times[cores - 1].1.median),
            c.speedup_at(cores).unwrap_or(1.0)
        );
    }

    if cores < 2 {
        println!("one core: the serial-fraction fit needs at least two");
        return;
    }
    let units = workload::units_for(Duration::from_millis(200));
    for b in [0.0, 0.1, 0.3, 0.5, 0.9] {
        let errors: Vec<f64> = (0..5)
            .map(|_| {
                let c = curve("sim", cores, |n| workload(b, n, units));
                c.fitted_serial_fraction.unwrap_or(f64::NAN) - b
            })
            .collect();
        let abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
        let s = Stats::from_samples(abs);
        println!(
            "simulation, true B = {b:.1}: |fitted - true| median {:.3}, max {:.3} over {} fits (signed: {:?})",
            s.median,
            s.max,
            errors.len(),
            errors.iter().map(|e| format!("{e:+.3}")).collect::<Vec<_>>()
        );
    }
}
