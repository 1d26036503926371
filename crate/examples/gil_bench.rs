//! Prints chapter 15's countdown numbers: Rust on 1 thread, 2 threads and 2
//! worker processes, Rust under the notebook's emulated GIL on 1 and 2
//! threads, and CPython (the `python3` found here) on 1 thread, 2 threads
//! and 2 processes, with the Rust-vs-CPython ratio on the same count.
//!
//! Run with the profile that matches evcxr's build:
//! `cargo run --profile evcxr --example gil_bench -p concurrency_lab [-- PY_SCALE]`
//! (PY_SCALE: the fraction of 50,000,000 that CPython counts, 0.2 unless given).

use concurrency_lab::gil::{Condvar, GlobalLock, SWITCH_INTERVAL};
use concurrency_lab::machine::machine;
use concurrency_lab::measure::{self, measure, Stats};
use concurrency_lab::process::Worker;
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BOOK_N: u64 = 50_000_000;

fn count_down(mut n: u64) {
    while n > 0 {
        n = std::hint::black_box(n - 1);
    }
}

/// The notebook's `SimpleGil`: (holder, waiting) behind a mutex.
struct SimpleGil {
    state: Mutex<(Option<usize>, usize)>,
    changed: Condvar,
}

impl GlobalLock for SimpleGil {
    fn acquire(&self, me: usize) {
        let mut s = self.state.lock().unwrap();
        s.1 += 1;
        s = self.changed.wait_while(s, |s| s.0.is_some()).unwrap();
        s.1 -= 1;
        s.0 = Some(me);
    }
    fn release(&self, _me: usize) {
        self.state.lock().unwrap().0 = None;
        self.changed.notify_one();
    }
    fn switch(&self, me: usize) {
        let waiting = self.state.lock().unwrap().1 > 0;
        if waiting {
            self.release(me);
            self.acquire(me);
        }
    }
}

fn under_the_gil(threads: usize, n: u64) {
    let gil = SimpleGil { state: Mutex::new((None, 0)), changed: Condvar::new() };
    std::thread::scope(|s| {
        for me in 0..threads {
            let gil = &gil;
            s.spawn(move || {
                gil.acquire(me);
                let (mut left, mut since) = (n / threads as u64, Instant::now());
                while left > 0 {
                    left = std::hint::black_box(left - 1);
                    if left % 4096 == 0 && since.elapsed() >= SWITCH_INTERVAL {
                        gil.switch(me);
                        since = Instant::now();
                    }
                }
                gil.release(me);
            });
        }
    });
}

fn on_two_processes(n: u64) -> Result<(), String> {
    let mut workers = [Worker::start()?, Worker::start()?];
    for w in &mut workers {
        w.send("count_down", json!({"from": n / 2}))?;
    }
    for w in &mut workers {
        w.recv(Duration::from_secs(120))?;
    }
    Ok(())
}

fn line(label: &str, s: &Stats, base: &Stats) {
    println!("{label:<34} {s}   {:.2}x the one-thread time", s.median / base.median);
}

fn main() -> Result<(), String> {
    let py_scale: f64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(0.2);
    println!("machine: {}", machine().footer());
    println!("Rust counts down from {BOOK_N}; medians of 7");
    let one = measure(1, 7, || count_down(BOOK_N));
    let two = measure(1, 7, || {
        std::thread::scope(|s| {
            s.spawn(|| count_down(BOOK_N / 2));
            s.spawn(|| count_down(BOOK_N / 2));
        })
    });
    on_two_processes(1000)?;
    let procs = measure(1, 7, || on_two_processes(BOOK_N).expect("the workers ran a moment ago"));
    let gil_one = measure(1, 7, || under_the_gil(1, BOOK_N));
    let gil_two = measure(1, 7, || under_the_gil(2, BOOK_N));
    line("Rust, 1 thread", &one, &one);
    line("Rust, 2 threads", &two, &one);
    line("Rust, 2 processes (start included)", &procs, &one);
    line("Rust, emulated GIL, 1 thread", &gil_one, &gil_one);
    line("Rust, emulated GIL, 2 threads", &gil_two, &gil_one);

    let py_n = (BOOK_N as f64 * py_scale) as u64;
    match concurrency_lab::cpython::find() {
        Err(why) => println!("{why}"),
        Ok(py) => {
            let run = py.countdown(py_n, 5, Duration::from_secs(600))?;
            println!("CPython {} (GIL on: {}) counts down from {py_n}; medians of 5", run.python, run.gil);
            let base = run.stats("1 thread").cloned().unwrap_or_else(|| Stats::from_samples(vec![]));
            for (name, s) in &run.times {
                line(&format!("CPython, {name}"), s, &base);
            }
            let rust_same = measure(1, 7, || count_down(py_n));
            println!(
                "same {py_n} on one thread: Rust {}, CPython {}: {:.0}x",
                measure::seconds(rust_same.median),
                measure::seconds(base.median),
                base.median / rust_same.median
            );
        }
    }
    Ok(())
}
