//! Prints the numbers the closing note of the chapters 3/4/12/13/14 issue
//! quotes: what a lock costs on this machine, and what recording a thread
//! timeline adds to a measured experiment.
//!
//! Run with the profile that matches evcxr's build:
//! `cargo run --profile evcxr --example lock_costs -p concurrency_lab`

use concurrency_lab::contention::{self, Kind};
use concurrency_lab::machine::machine;
use concurrency_lab::measure;
use concurrency_lab::timeline::{State, Timeline};
use std::time::Duration;

/// Four threads each do `units` pieces of work of about `each`; with a
/// timeline, every piece is recorded as a span.
fn experiment(units: usize, each: u64, tl: Option<&Timeline>) {
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                let name = format!("worker {t}");
                for _ in 0..units {
                    match tl {
                        Some(tl) => {
                            tl.record(&name, State::Running, || concurrency_lab::workload::busy(each));
                        }
                        None => {
                            concurrency_lab::workload::busy(each);
                        }
                    }
                }
            });
        }
    });
}

fn main() {
    let m = machine();
    println!("machine: {}", m.footer());
    let cores = m.cores;
    println!("\n-- lock costs (barrier start, 300 ms per point, padded counter) --");
    for r in contention::sweep(cores.max(4), Duration::from_millis(300)) {
        println!("{r}");
    }
    println!("\n-- with work inside the lock (2000 rounds) --");
    for kind in Kind::ALL {
        for t in [1, cores, cores * 2] {
            println!("{}", contention::run(kind, t, Duration::from_millis(300), 2000));
        }
    }

    println!("\n-- timeline overhead --");
    let tl = Timeline::new();
    let n = 100_000;
    let one = measure::measure(1, 5, || {
        for _ in 0..n {
            tl.record("main", State::Running, || ());
        }
    });
    println!("one span, one thread: {:.0} ns", one.median * 1e9 / n as f64);
    // Pieces of ~0.1 ms and ~1 ms: a span each.
    for (units, each_ms) in [(2000usize, 0.1f64), (200, 1.0)] {
        let each = concurrency_lab::workload::units_for(Duration::from_secs_f64(each_ms / 1e3));
        let plain = measure::measure(1, 7, || experiment(units, each, None));
        let recorded = measure::measure(1, 7, || {
            let tl = Timeline::new();
            experiment(units, each, Some(&tl));
        });
        println!(
            "4 threads x {units} pieces of {each_ms} ms: {} plain, {} recorded: overhead {:+.2}%",
            measure::seconds(plain.median),
            measure::seconds(recorded.median),
            100.0 * (recorded.median / plain.median - 1.0)
        );
    }
}
