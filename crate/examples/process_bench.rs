//! Prints the chapter 6 measurements that the closing notes of issue 9
//! quote: what starting a worker process costs next to starting a thread,
//! and the speedup of a pool of worker processes on the prime lists.
//!
//! Run with the profile that matches evcxr's build:
//! `cargo run --profile evcxr --example process_bench -p concurrency_lab`

use concurrency_lab::machine::machine;
use concurrency_lab::measure::{self, Stats};
use concurrency_lab::primes;
use concurrency_lab::process::{self, Inbox, Msg, Worker};
use serde_json::json;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// The notebook's pool: a thread per worker, jobs from one inbox, one stop per consumer.
fn pool(workers: Vec<Worker>, numbers: &[u64]) -> usize {
    let inbox = Inbox::new();
    std::thread::scope(|s| {
        let consumers: Vec<_> = workers
            .into_iter()
            .map(|mut worker| {
                let inbox = &inbox;
                s.spawn(move || {
                    let mut primes = 0;
                    while let Msg::Job(n) = inbox.take() {
                        if worker.call("is_prime", json!({"n": n}), LIMIT).expect("an answer") == json!(true) {
                            primes += 1;
                        }
                    }
                    primes
                })
            })
            .collect();
        numbers.iter().for_each(|&n| inbox.put(Msg::Job(n)));
        (0..consumers.len()).for_each(|_| inbox.put(Msg::Stop));
        consumers.into_iter().map(|c| c.join().expect("a consumer")).sum()
    })
}

/// Medians of `samples` runs of the pool with `n` workers (started outside the timing).
fn pool_time(n: usize, numbers: &[u64], samples: usize, primes_expected: usize) -> Stats {
    let times = (0..samples)
        .map(|_| {
            let workers: Vec<Worker> = (0..n).map(|_| Worker::start().expect("a worker")).collect();
            let started = Instant::now();
            assert_eq!(pool(workers, numbers), primes_expected);
            started.elapsed().as_secs_f64()
        })
        .collect();
    Stats::from_samples(times)
}

fn main() {
    let m = machine();
    println!("machine: {}", m.footer());
    process::worker_binary().expect("the worker binary");

    let process_start = measure::measure(3, 41, || {
        let mut w = Worker::start().expect("a worker");
        w.call("echo", json!(1), LIMIT).expect("an answer");
        w.join_timeout(LIMIT).expect("an exit")
    });
    let thread_start = measure::measure(3, 41, || {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || tx.send(1).expect("a receiver"));
        let one = rx.recv().expect("an answer");
        t.join().expect("a thread");
        one
    });
    println!(
        "start, one answer, join: process {process_start}; thread {thread_start}: process/thread {:.0}x (medians)",
        process_start.median / thread_start.median
    );

    let cores = m.cores.max(2);
    for (label, numbers, primes_expected) in [
        ("the book's ten numbers", process::BOOK_NUMBERS.to_vec(), 5),
        ("chapter 1's 500 numbers from 10^13", primes::book_inputs(500), 16),
    ] {
        let one = pool_time(1, &numbers, 9, primes_expected);
        let many = pool_time(cores, &numbers, 9, primes_expected);
        println!("pool on {label}: 1 worker {one}; {cores} workers {many}: speedup {:.2}x (medians)", one.median / many.median);
    }
    assert!(process::children().is_empty(), "every worker reaped");
    println!("children left: 0");
}
