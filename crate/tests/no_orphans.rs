//! Dropping a `Worker` leaves no process behind: no orphan, no zombie.
//!
//! This file is its own test program, so the only child processes it has are
//! the workers this test starts (the other tests, which run in parallel
//! threads of one process, start workers of their own).

use concurrency_lab::exercise::Verdict;
use concurrency_lab::process::{self, Inbox, Msg, Worker};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How many processes have this process as their parent (zombies included:
/// a killed child that was never waited for still has an entry).
fn children() -> usize {
    process::children().len()
}

/// The tests of this file count children, so they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn process_workers_leave_no_child_processes_after_drop() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let bound = Duration::from_secs(30); // only stops a hang
    let start = || Worker::spawn(Command::new(env!("CARGO_BIN_EXE_lab-worker"))).unwrap();
    let before = children();

    let mut idle = start();
    assert_eq!(idle.call("echo", json!(1), bound), Ok(json!(1)));
    let mut busy = start();
    busy.send("sleep", json!({"ms": 60_000})).unwrap();
    let mut exited = start();
    assert!(exited.call("exit", json!({"code": 0}), bound).is_err());
    // The one that exited was reaped when its exit was reported, so two are left.
    assert_eq!(children(), before + 2);

    drop(idle);
    drop(busy);
    drop(exited);
    assert_eq!(children(), before);
}

#[test]
fn process_workers_are_reaped_when_their_owner_panics_mid_experiment() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = children();
    // A cell that fails half-way, with busy workers in hand (also inside a pool's threads).
    let failed = std::panic::catch_unwind(|| {
        let mut kept = Worker::start().unwrap();
        kept.send("sleep", json!({"ms": 60_000})).unwrap();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut w = Worker::start().unwrap();
                    w.send("sleep", json!({"ms": 60_000})).unwrap();
                    panic!("a consumer fails mid-job");
                });
            }
        });
        drop(kept);
    });
    assert!(failed.is_err());
    assert_eq!(children(), before, "no worker outlived the failed experiment");
}

#[test]
fn process_chapter_6_checks_leave_no_child_processes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = children();
    // A pool that panics with jobs on their way, and one that gives up when a worker dies.
    fn panics(mut ws: Vec<Worker>, _: Vec<(String, Value)>) -> Result<Vec<Value>, String> {
        ws[0].send("sleep", json!({"ms": 60_000}))?;
        panic!("the pool fails");
    }
    fn gives_up(mut ws: Vec<Worker>, jobs: Vec<(String, Value)>) -> Result<Vec<Value>, String> {
        jobs.into_iter().map(|(job, args)| ws[0].call(&job, args, Duration::from_secs(30))).collect()
    }
    assert!(matches!(process::judge_reliable_pool(panics), Verdict::Failed(_) | Verdict::Panicked(_)));
    assert!(!process::judge_reliable_pool(gives_up).passed());
    // Consumers left stuck in take() (one stop for three) are freed and their workers reaped.
    fn one_stop(inbox: &Inbox, jobs: &[u64], _: usize, producing: &AtomicUsize) {
        jobs.iter().for_each(|&n| inbox.put(Msg::Job(n)));
        if producing.fetch_sub(1, Ordering::SeqCst) == 1 {
            inbox.put(Msg::Stop);
        }
    }
    fn consume(inbox: &Inbox, worker: &mut Worker) -> Vec<(u64, bool)> {
        let mut done = Vec::new();
        while let Msg::Job(n) = inbox.take() {
            done.push((n, worker.call("is_prime", json!({"n": n}), Duration::from_secs(30)) == Ok(json!(true))));
        }
        done
    }
    let verdict = process::judge_poison_pill((one_stop, consume));
    assert!(matches!(&verdict, Verdict::Failed(m) if m.contains("still waiting in take()")), "{verdict}");
    assert_eq!(children(), before, "every worker of the checks was reaped");
}
