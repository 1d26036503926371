//! # concurrency_lab
//!
//! The support crate of the Concurrency Lab notebooks. The code that *is* a
//! lesson stays in the notebooks; this crate holds the plumbing they share
//! (timing, charts, exercise checks) and the workloads of each chapter.
//!
//! | module | what it holds | chapters |
//! | --- | --- | --- |
//! | [`machine`] | cores, build profile, compiler | all |
//! | [`measure`] | warm-up, samples, median and spread, progress lines, saving results | all |
//! | [`chart`] | every chart, one look, shown inline (also in untrusted notebooks) | all |
//! | [`exercise`] | the one runner of learner code: time limits, silent panics, `todo!()`, verdicts; async and server checks | all |
//! | [`exercises`] | the one table of exercises: `check!`, the judges by exercise name, the reference solutions | all |
//! | [`progress`] | which exercises you have passed, per chapter (`progress()`) | all |
//! | [`workload`] | seeded random numbers, random pauses, a CPU burner of known size | 01, 02, 14 |
//! | [`timeline`] | who runs, waits or holds a lock, over time | 01, 03, 10, 14 |
//! | [`cpython`] | the course's own Python programs run in the real `python3`, their timings brought back as data | 01, 02, 15, 16, 17, 18 |
//! | [`compiler`] | the real compiler run on a program that must not compile, its refusal shown as output | 03, 15, 16 |
//! | [`basics`] | splitting work, results from threads | 00 |
//! | [`primes`] | trial-division primality, sequential and parallel | 00, 01, 02, 03, 06, 10, 19 |
//! | [`sequential`] | an inherently sequential big-integer iteration | 01 |
//! | [`amdahl`] | Amdahl's law, speedup curves, fitting the serial fraction | 00, 02 |
//! | [`workqueue`] | work queues and priority queues (with aging) shared by a pool of threads | 03 |
//! | [`contention`] | what a lock costs: uncontended and contended increments, std vs parking_lot vs atomic | 03 |
//! | [`guards`] | guards that release on every exit path: a lowered descriptor limit, a manual lock, a pool, a store for transactions | 04 |
//! | [`web`] | a local HTTP server standing in for httpstat.us: statuses, delays, pages, flaky and held URLs, its own count of requests in flight (feature `web`) | 05, 11 |
//! | [`channels`] | a TCP server on a thread and a runtime of its own that stops when its handle drops, the checks of an echo server (real sockets) and of a pipeline of bounded channels (feature `async`) | 11, 18 |
//! | [`process`] | worker processes: a Rust worker binary spoken to in JSON lines, killed when its handle drops; the inbox of a pool | 06, 07, 15 |
//! | [`reduction`] | reductions: rounds of a tree reduction, values that remember their combining tree, flaws of an operator (grouping, order) | 07 |
//! | [`imaging`] | a scene drawn in code, grayscale, global and adaptive thresholds, tiles as files processed by workers | 08 |
//! | [`picture`] | images shown inline side by side, also in untrusted notebooks (both need the feature `image`) | 08 |
//! | [`cooperative`] | cooperative tasks on one thread: the book's three primality checks, time to each answer, a checker that reports how far its checks got (feature `async`) | 09 |
//! | [`tasks`] | tokio tasks: the book's countdowns logged and charted, a one-thread event loop usable after `.await`, deadline order, at most k in flight (feature `async`) | 10, 11, 19 |
//! | [`deadlock`] | locks that report a deadlock (the wait-for cycle) instead of hanging; dining philosophers | 12, 19 |
//! | [`starvation`] | readers-writers policies measured for starvation; a first-come-first-served semaphore; fair locks | 13 |
//! | [`explore`] | a schedule explorer: model programs whose interleavings are chosen, searched and replayed (used through `race`) | none directly |
//! | [`race`] | race conditions in explored models: a counter that loses updates, a bank whose transfers race | 14 |
//! | [`gil`] | a global interpreter lock, emulated: the trait a notebook's GIL implements, CPython's switch interval, the fair-GIL check | 15 |
//! | [`atomics`] | counters that lose updates or not, litmus tests run on the hardware beside a model of the memory model that explores every execution, the relay and atomic-maximum judges | 17 |
//! | [`calculator`] | the calculator protocol (sum and product of comma-separated integers, an error line for every malformed line), fuzzed by a property test | 18 |
//! | [`server`] | a server loop on a thread of its own that stops when dropped, lines framed from a stream of reads, a load generator reporting throughput, latency and lost replies (feature `server`) | 18 |
//! | [`counters`] | counters shared by many threads: one lock, atomic, sharded and approximate, timed for 1..N workers; the approximate counter's lag against its threshold; the approximate-counter judge | 16 |
//! | [`rcu`] | read-copy-update: the book's network map with a primary node, a published version for the RCU-update judge (feature `rcu`) | 16 |
//! | [`schedules`] | real code (written with shuttle's `sync` and `thread`) run under many schedules; a failing one found, printed and replayed | 14, 19 |
//! | [`scheduling`] | a tokio-cron-scheduler in the background, a record of ticks and overlapping runs, the max-instances judge on a paused clock (feature `testing`) | 19 |
//! | [`testing`] | the book's Fibonacci test suite and a test runner on N threads, a `tracing` log captured into a buffer, ThreadSanitizer on a small program, the shuttle-test judge (feature `testing`) | 19 |
//!
//! Topics with heavy dependencies are cargo features, so a chapter loads only
//! what it uses: `async` (tokio), `web` (an HTTP server and clients), `image`,
//! `server` (mio), `rcu` (arc-swap), `schedules` (shuttle), `testing` (a
//! scheduler, tracing, shuttle). See the README, "Dependencies".
//!
//! In a notebook: `use concurrency_lab::prelude::*;`.

// Lets solution files say `concurrency_lab::...` both in a notebook cell and
// inside this crate, so one text serves as both.
extern crate self as concurrency_lab;

pub mod amdahl;
pub mod atomics;
pub mod basics;
pub mod calculator;
#[cfg(feature = "async")]
pub mod channels;
pub mod chart;
pub mod compiler;
pub mod cpython;
pub mod contention;
#[cfg(feature = "async")]
pub mod cooperative;
pub mod counters;
pub mod deadlock;
pub mod exercise;
pub mod exercises;
pub mod explore;
pub mod gil;
pub mod guards;
#[cfg(feature = "image")]
pub mod imaging;
pub mod machine;
#[cfg(feature = "image")]
pub mod picture;
pub mod measure;
pub mod primes;
pub mod process;
pub mod progress;
pub mod race;
#[cfg(feature = "rcu")]
pub mod rcu;
pub mod reduction;
#[cfg(feature = "schedules")]
pub mod schedules;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "testing")]
pub mod scheduling;
pub mod sequential;
pub mod starvation;
#[cfg(feature = "async")]
pub mod tasks;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timeline;
#[cfg(feature = "web")]
pub mod web;
pub mod workload;
pub mod workqueue;
#[cfg(test)]
mod wrong_answers;

// The notebooks cannot `use` our dependencies unless we re-export them.
#[cfg(feature = "rcu")]
pub use arc_swap;
#[cfg(feature = "web")]
pub use axum;
#[cfg(feature = "image")]
pub use image;
#[cfg(feature = "image")]
pub use imageproc;
#[cfg(feature = "server")]
pub use mio;
#[cfg(feature = "web")]
pub use reqwest;
#[cfg(feature = "schedules")]
pub use shuttle;
#[cfg(feature = "async")]
pub use tokio;
#[cfg(feature = "testing")]
pub use tokio_cron_scheduler;
#[cfg(feature = "testing")]
pub use tracing;
#[cfg(feature = "testing")]
pub use tracing_subscriber;
#[cfg(feature = "web")]
pub use ureq;
pub use crossbeam;
pub use num_bigint;
pub use parking_lot;
pub use rayon;
pub use serde;
pub use serde_json;

/// Everything a chapter notebook usually needs, in one `use`.
pub mod prelude {
    pub use crate::amdahl::{self, SpeedupCurve};
    pub use crate::atomics::{self, Orderings};
    pub use crate::basics;
    pub use crate::calculator::{self, Mode, Reply, Session};
    #[cfg(feature = "async")]
    pub use crate::channels::{self, Server};
    pub use crate::chart::{self, Chart, Series};
    pub use crate::compiler;
    pub use crate::cpython;
    pub use crate::contention;
    pub use crate::counters::{self, Global, LocalCount, Variant};
    #[cfg(feature = "async")]
    pub use crate::cooperative::{self, Answer, Checker};
    pub use crate::deadlock::{self, Board, Lock, Stuck};
    pub use crate::check;
    pub use crate::exercise;
    pub use crate::gil::{self, GlobalLock};
    pub use crate::guards;
    #[cfg(feature = "image")]
    pub use crate::imaging::{self, Reads, Tile};
    #[cfg(feature = "image")]
    pub use crate::picture::{self, Picture};
    #[cfg(feature = "image")]
    pub use image::{GrayImage, RgbImage};
    pub use crate::machine::{machine, Machine};
    pub use crate::measure::{self, measure, save_json, time, Stats};
    pub use crate::primes;
    pub use crate::process::{self, Inbox, Msg, Worker};
    pub use crate::progress::progress;
    pub use crate::race;
    #[cfg(feature = "rcu")]
    pub use crate::rcu::{self, Network, Published};
    #[cfg(feature = "rcu")]
    pub use arc_swap::ArcSwap;
    pub use crate::reduction::{self, Flaw, Piece};
    #[cfg(feature = "schedules")]
    pub use crate::schedules;
    #[cfg(feature = "testing")]
    pub use crate::scheduling;
    pub use crate::sequential;
    #[cfg(feature = "server")]
    pub use crate::server::{self, Running};
    pub use crate::starvation::{self, ReadWrite, Semaphore, TicketLock};
    #[cfg(feature = "async")]
    pub use crate::tasks::{self, Log};
    #[cfg(feature = "testing")]
    pub use crate::testing;
    pub use crate::timeline::{State, Timeline};
    pub use crate::workload;
    #[cfg(feature = "web")]
    pub use crate::ureq;
    #[cfg(feature = "web")]
    pub use crate::web::{self, WebServer};
    pub use crate::workqueue::{self, AgingQueue, WorkQueue};
    pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub use std::sync::{Arc, Mutex};
    pub use std::thread;
    pub use std::time::{Duration, Instant};
}
