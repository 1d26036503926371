//! Prints the number chapter 19 quotes: the book's four-test Fibonacci
//! suite (each test computes fib(500,000) in full and checks its last ten
//! digits, 9780453125) run on 1 thread and on 4, medians of 5 runs, and the
//! speedup. The book: 8.81 s sequential, 4.36 s with 4 workers.
//!
//! `cargo run --profile evcxr --example testing_bench -p concurrency_lab --features testing`

use concurrency_lab::machine::machine;
use concurrency_lab::measure::Stats;
use concurrency_lab::testing::{self, Test, FIB_500K_MOD_1E10};

fn fib_test() {
    assert_eq!(testing::last_ten_digits(&testing::fib(500_000)), FIB_500K_MOD_1E10);
}

fn main() {
    println!("machine: {}", machine().footer());
    println!("fib(500,000) mod 10^10 by fast doubling: {}", testing::fib_mod(500_000, 10_000_000_000));
    let suite: [Test; 4] = [("fib_1", fib_test), ("fib_2", fib_test), ("fib_3", fib_test), ("fib_4", fib_test)];
    let mut medians = Vec::new();
    for threads in [1, 2, 4] {
        let mut walls = Vec::new();
        for _ in 0..5 {
            let (outcomes, wall) = testing::run_tests(&suite, threads);
            assert!(outcomes.iter().all(|o| o.failure.is_none()), "{}", testing::summary(&outcomes));
            walls.push(wall);
        }
        let s = Stats::from_samples(walls);
        println!("{threads} thread(s): median {:.3} s (min {:.3}, max {:.3}) over 5 runs", s.median, s.min, s.max);
        medians.push(s.median);
    }
    println!("speedup with 2 threads: {:.2}x; with 4 threads: {:.2}x (the book, 4 workers: {:.2}x)", medians[0] / medians[1], medians[0] / medians[2], 8.81 / 4.36);
}
