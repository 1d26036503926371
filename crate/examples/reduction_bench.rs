//! Prints chapter 7's numbers: the time to sum a million numbers against the
//! number of workers, for two hand-made reductions and for rayon's
//! `reduce` and `fold`. Medians of 11 runs after 2 warm-up runs.
//!
//! Run with the profile that matches evcxr's build:
//! `cargo run --profile evcxr --example reduction_bench -p concurrency_lab`

use concurrency_lab::machine::machine;
use concurrency_lab::measure::{self, Stats};
use concurrency_lab::rayon::prelude::*;
use concurrency_lab::rayon::ThreadPoolBuilder;
use std::thread;

/// A tree reduction in rounds: each round cuts the values into `workers`
/// runs of whole pairs, adds each pair on the run's thread, and keeps the
/// results in order; about log2(n) rounds, threads started in every round.
fn in_rounds(values: &[u64], workers: usize) -> Option<u64> {
    let mut level = values.to_vec();
    while level.len() > 1 {
        let run = level.len().div_ceil(2).div_ceil(workers) * 2;
        level = thread::scope(|s| {
            let handles: Vec<_> =
                level.chunks(run).map(|part| s.spawn(move || part.chunks(2).map(|p| p.iter().sum::<u64>()).collect::<Vec<_>>())).collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
    }
    level.pop()
}

/// Fold then combine, by hand: each worker adds a contiguous chunk in a
/// plain loop, then the few partial sums are added.
fn in_chunks(values: &[u64], workers: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let chunk = values.len().div_ceil(workers);
    thread::scope(|s| {
        let handles: Vec<_> = values.chunks(chunk).map(|part| s.spawn(move || part.iter().sum::<u64>())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).reduce(|a, b| a + b)
    })
}

fn main() {
    let m = machine();
    println!("machine: {}", m.footer());
    let n = 1_000_000u64;
    let values: Vec<u64> = (0..n).collect();
    let want = n * (n - 1) / 2;
    let sequential = measure::measure(2, 11, || values.iter().sum::<u64>());
    println!("sum of {n} numbers, one thread, plain loop: {}", measure::seconds(sequential.median));
    println!("{:>7}  {:>12} {:>12} {:>12} {:>12}", "workers", "rounds", "chunks", "rayon reduce", "rayon fold");
    let mut table: Vec<(usize, [Stats; 4])> = Vec::new();
    for workers in 1..=4 {
        let pool = ThreadPoolBuilder::new().num_threads(workers).build().expect("a rayon pool");
        let reduce = || pool.install(|| values.par_iter().copied().reduce(|| 0, |a, b| a + b));
        let fold = || pool.install(|| values.par_iter().fold(|| 0u64, |acc, &x| acc + x).reduce(|| 0, |a, b| a + b));
        assert_eq!((in_rounds(&values, workers), in_chunks(&values, workers), reduce(), fold()), (Some(want), Some(want), want, want));
        let stats = [
            measure::measure(2, 11, || in_rounds(&values, workers)),
            measure::measure(2, 11, || in_chunks(&values, workers)),
            measure::measure(2, 11, reduce),
            measure::measure(2, 11, fold),
        ];
        let cells: Vec<String> = stats.iter().map(|s| format!("{:>12}", measure::seconds(s.median))).collect();
        println!("{workers:>7}  {}", cells.join(" "));
        table.push((workers, stats));
    }
    let names = ["rounds", "chunks", "rayon reduce", "rayon fold"];
    for (i, name) in names.iter().enumerate() {
        let one = table[0].1[i].median;
        let speedups: Vec<String> = table.iter().map(|(w, s)| format!("{w}: {:.2}x", one / s[i].median)).collect();
        println!("speedup over 1 worker, {name:<12} {}", speedups.join(", "));
    }
    for (w, s) in &table {
        println!(
            "{w} worker(s): rayon reduce is {:.1}x faster than the hand-made rounds and {:.2}x the speed of the hand-made chunks",
            s[0].median / s[2].median,
            s[1].median / s[2].median
        );
    }
}
