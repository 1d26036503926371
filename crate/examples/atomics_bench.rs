//! Prints the numbers chapter 17 quotes: the outcome counts of the three
//! litmus tests under each ordering on this machine (beside what the memory
//! model allows), and the counter variants (load-then-store, fetch_add,
//! Mutex<Vec>::push) timed against workers, medians of 5 runs.
//!
//! `cargo run --profile evcxr --example atomics_bench -p concurrency_lab`

use concurrency_lab::atomics::{self, classic, Increment};
use concurrency_lab::machine::machine;
use concurrency_lab::measure::Stats;

fn main() {
    let m = machine();
    println!("machine: {}", m.footer());
    println!("\n-- litmus tests: 100,000 runs per ordering (at most 1.5 s each) --");
    for (name, regs, weak, t0, t1) in classic::ALL {
        match atomics::litmus(name, &regs, &weak, t0, t1, 100_000) {
            Ok(r) => println!("{r}\n"),
            Err(e) => println!("{name}: {e}\n"),
        }
    }
    let per_thread = 1_000_000u64;
    println!("-- counters: each worker adds 1 {per_thread} times; median of 5 runs --");
    println!("{:<18} {:>8} {:>12} {:>14} {:>12}", "increment", "workers", "median ms", "ns per add", "lost (median)");
    for inc in Increment::ALL {
        for workers in 1..=m.cores.max(4) {
            let runs: Vec<_> = (0..5).map(|_| atomics::count(inc, workers, per_thread)).collect();
            let time = Stats::from_samples(runs.iter().map(|r| r.seconds).collect());
            let mut lost: Vec<u64> = runs.iter().map(|r| r.lost()).collect();
            lost.sort();
            let adds = (workers as u64 * per_thread) as f64;
            println!(
                "{:<18} {:>8} {:>12.2} {:>14.1} {:>12}",
                inc.name(),
                workers,
                time.median * 1e3,
                time.median * 1e9 / adds,
                lost[lost.len() / 2]
            );
        }
    }
}
