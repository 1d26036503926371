//! Dropping a `Worker` leaves no process behind: no orphan, no zombie.
//!
//! This file is its own test program, so the only child processes it has are
//! the workers this test starts (the other tests, which run in parallel
//! threads of one process, start workers of their own).

use concurrency_lab::process::Worker;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

/// How many processes have this process as their parent (zombies included:
/// a killed child that was never waited for still has an entry).
fn children() -> usize {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { panic!("this test needs Linux's /proc") };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        // The fields after the name, which is in parentheses: state, then parent pid.
        .filter(|stat| stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)) == Some(me.as_str()))
        .count()
}

#[test]
fn process_workers_leave_no_child_processes_after_drop() {
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
