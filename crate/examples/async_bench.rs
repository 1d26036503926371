//! The numbers of chapters 9 and 10, at the book's full scale, as medians:
//!
//! - the three countdowns (A 3 x 1 s, B 3 x 0.8 s, C 3 x 0.5 s) run one
//!   after another, as tasks, and as tasks that block the thread with
//!   `std::thread::sleep` (on one thread, and on a 2-worker runtime), against
//!   the book's 6.9 / 3.0 / 6.9 s;
//! - CPU-bound checks in async tasks against spawn_blocking and rayon
//!   (the book: 5.60 s sequential, 7.89 s async, 5.26 s with processes);
//! - the book's three primality checks in order and as cooperative tasks:
//!   time to each answer.
//!
//! `cargo run --profile evcxr --example async_bench -p concurrency_lab --features async`
//! (the `evcxr` profile builds like the notebooks: opt-level 2 with debug
//! assertions). About a minute and a half.

use concurrency_lab::cooperative::BOOK_NUMBERS;
use concurrency_lab::measure::{self, Stats};
use concurrency_lab::primes::is_prime;
use concurrency_lab::tasks::{on_one_thread, BOOK_COUNTDOWNS};
use concurrency_lab::machine::machine;
use concurrency_lab::rayon::prelude::*;
use std::time::{Duration, Instant};

const SAMPLES: usize = 3;

async fn countdown(n: u32, every: Duration) {
    for _ in 0..n {
        tokio::time::sleep(every).await;
    }
}

async fn countdown_blocking(n: u32, every: Duration) {
    for _ in 0..n {
        std::thread::sleep(every);
    }
}

fn plan() -> Vec<(u32, Duration)> {
    BOOK_COUNTDOWNS.iter().map(|&(_, n, s)| (n, Duration::from_secs_f64(s))).collect()
}

fn timed(f: impl Fn()) -> Stats {
    measure::measure(0, SAMPLES, f)
}

fn line(what: &str, s: &Stats, book: Option<f64>) {
    let book = book.map(|b| format!("   (the book: {b:.2} s)")).unwrap_or_default();
    println!("  {what:<44} {s}{book}");
}

/// The CPU-bound job of chapter 10: chapter 9's big prime, checked `CPU_JOBS` times.
const CPU_PRIME: u64 = BOOK_NUMBERS[0];
const CPU_JOBS: usize = 4;

async fn cooperative_is_prime(x: u64, every: u64) -> bool {
    if x < 2 {
        return false;
    }
    if x % 2 == 0 {
        return x == 2;
    }
    let (mut d, mut since_yield) = (3u64, 0u64);
    while d * d <= x {
        if x % d == 0 {
            return false;
        }
        d += 2;
        since_yield += 1;
        if since_yield == every {
            since_yield = 0;
            tokio::task::yield_now().await;
        }
    }
    true
}

/// Seconds from the start to each answer, in BOOK_NUMBERS' order.
fn answers_sequential() -> Vec<f64> {
    let start = Instant::now();
    BOOK_NUMBERS.iter().map(|&n| {
        std::hint::black_box(is_prime(n));
        start.elapsed().as_secs_f64()
    }).collect()
}

fn answers_cooperative() -> Vec<f64> {
    on_one_thread(async {
        let start = Instant::now();
        let tasks: Vec<_> = BOOK_NUMBERS
            .iter()
            .map(|&n| tokio::spawn(async move {
                std::hint::black_box(cooperative_is_prime(n, 100_000).await);
                start.elapsed().as_secs_f64()
            }))
            .collect();
        let mut at = Vec::new();
        for t in tasks {
            at.push(t.await.expect("a check panicked"));
        }
        at
    })
}

fn main() {
    let m = machine();
    println!("async_bench: {m}");
    println!("(medians of {SAMPLES} runs; built like the notebooks, opt-level 2 with debug assertions)\n");

    println!("Countdowns A 3 x 1 s, B 3 x 0.8 s, C 3 x 0.5 s (chapter 10)");
    let seq = timed(|| {
        on_one_thread(async {
            for (n, every) in plan() {
                countdown(n, every).await;
            }
        })
    });
    let tasks = timed(|| {
        on_one_thread(async {
            let running: Vec<_> = plan().into_iter().map(|(n, e)| tokio::spawn(countdown(n, e))).collect();
            for t in running {
                t.await.expect("countdown");
            }
        })
    });
    let blocking = timed(|| {
        on_one_thread(async {
            let running: Vec<_> = plan().into_iter().map(|(n, e)| tokio::spawn(countdown_blocking(n, e))).collect();
            for t in running {
                t.await.expect("countdown");
            }
        })
    });
    let rt2 = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let blocking2 = timed(|| {
        rt2.block_on(async {
            let running: Vec<_> = plan().into_iter().map(|(n, e)| tokio::spawn(countdown_blocking(n, e))).collect();
            for t in running {
                t.await.expect("countdown");
            }
        })
    });
    line("one after another", &seq, Some(6.9));
    line("as tasks on one thread", &tasks, Some(3.0));
    line("tasks with std::thread::sleep, one thread", &blocking, Some(6.9));
    line("tasks with std::thread::sleep, 2 workers", &blocking2, None);
    println!(
        "  tasks are {:.2}x faster than one after another (the book: {:.2}x); blocking sleep takes {:.2}x the tasks' time on one thread, {:.2}x on 2 workers\n",
        seq.median / tasks.median,
        6.9 / 3.0,
        blocking.median / tasks.median,
        blocking2.median / tasks.median
    );

    println!("CPU-bound: {CPU_JOBS} checks of the prime {CPU_PRIME} (chapter 10)");
    let cpu_seq = timed(|| {
        for _ in 0..CPU_JOBS {
            std::hint::black_box(is_prime(std::hint::black_box(CPU_PRIME)));
        }
    });
    let cpu_async = timed(|| {
        on_one_thread(async {
            let running: Vec<_> = (0..CPU_JOBS).map(|_| tokio::spawn(async { is_prime(std::hint::black_box(CPU_PRIME)) })).collect();
            for t in running {
                std::hint::black_box(t.await.expect("check"));
            }
        })
    });
    let cpu_blocking = timed(|| {
        on_one_thread(async {
            let running: Vec<_> =
                (0..CPU_JOBS).map(|_| tokio::task::spawn_blocking(|| is_prime(std::hint::black_box(CPU_PRIME)))).collect();
            for t in running {
                std::hint::black_box(t.await.expect("check"));
            }
        })
    });
    let cpu_rayon = timed(|| {
        let found: usize = (0..CPU_JOBS).into_par_iter().filter(|_| is_prime(std::hint::black_box(CPU_PRIME))).count();
        std::hint::black_box(found);
    });
    line("one after another", &cpu_seq, Some(5.60));
    line("async tasks on one thread", &cpu_async, Some(7.89));
    line("spawn_blocking", &cpu_blocking, None);
    line("rayon", &cpu_rayon, Some(5.26));
    println!(
        "  async / sequential {:.2}x (the book: {:.2}x); speedup over sequential: spawn_blocking {:.2}x, rayon {:.2}x on {} cores\n",
        cpu_async.median / cpu_seq.median,
        7.89 / 5.60,
        cpu_seq.median / cpu_blocking.median,
        cpu_seq.median / cpu_rayon.median,
        m.cores
    );

    println!("The book's three checks {BOOK_NUMBERS:?} (chapter 9): seconds to each answer");
    let runs = |f: fn() -> Vec<f64>| -> Vec<Stats> {
        let samples: Vec<Vec<f64>> = (0..SAMPLES).map(|_| f()).collect();
        (0..BOOK_NUMBERS.len()).map(|i| Stats::from_samples(samples.iter().map(|s| s[i]).collect())).collect()
    };
    let seq = runs(answers_sequential);
    let coop = runs(answers_cooperative);
    for (i, n) in BOOK_NUMBERS.iter().enumerate() {
        println!("  {n:>18}: in order {}   cooperative {}", measure::seconds(seq[i].median), measure::seconds(coop[i].median));
    }
    println!(
        "  157 answered {:.0}x sooner as a cooperative task; the last answer took {:.2}x as long as in order",
        seq[2].median / coop[2].median,
        coop[0].median / seq[0].median
    );
}
