//! Prints the numbers chapter 16 quotes: the counter variants (one lock with
//! the work under it, atomic, sharded, approximate) timed against workers,
//! medians of 5 runs, for two amounts of work per increment; and the
//! approximate counter's lag against its threshold S.
//!
//! `cargo run --profile evcxr --example counters_bench -p concurrency_lab`

use concurrency_lab::counters::{self, Variant};
use concurrency_lab::machine::machine;

fn main() {
    let m = machine();
    println!("machine: {}", m.footer());
    let per_worker = 200_000u64;
    let variants = [Variant::OneLock, Variant::Atomic, Variant::Sharded, Variant::Approximate(1024)];
    for rounds in [0u32, 50] {
        println!("\n-- each worker adds 1 {per_worker} times, {rounds} rounds of work per increment; median of 5 runs --");
        println!("{:<22} {:>8} {:>12} {:>14} {:>16}", "variant", "workers", "median ms", "ns per add", "vs 1 worker");
        for v in variants {
            let mut first = None;
            for workers in 1..=m.cores.max(4) {
                let s = counters::scale(v, workers, per_worker, rounds, 5);
                assert_eq!(s.counted, workers as u64 * per_worker, "{s}");
                let base = *first.get_or_insert(s.time.median);
                println!(
                    "{:<22} {:>8} {:>12.2} {:>14.1} {:>15.2}x",
                    v.to_string(),
                    workers,
                    s.time.median * 1e3,
                    s.time.median * 1e9 / (workers as u64 * per_worker) as f64,
                    s.time.median / base
                );
            }
        }
    }
    println!("\n-- approximate counter, 4 workers x 200,000, lag behind the true count --");
    for s in [1, 4, 16, 64, 256, 1024] {
        println!("{}", counters::lag(s, 4, 200_000, 20));
    }
}
