//! `lab-worker`: the worker process of the Concurrency Lab notebooks.
//!
//! A notebook cell cannot become a process of its own, so the notebooks start
//! this small program instead (see `concurrency_lab::process`) and talk to it
//! through its standard input and output, one JSON object per line:
//!
//! ```text
//! request:  {"id": 7, "job": "is_prime", "args": {"n": 101}}
//! reply:    {"id": 7, "ok": true}
//!      or:  {"id": 7, "error": "a sentence saying what went wrong"}
//! ```
//!
//! It answers requests one at a time, in the order they came, and flushes
//! after every reply (a pipe is block-buffered: without the flush the parent
//! would wait for an answer sitting in our buffer). A line it cannot read
//! gets an error reply (`"id": null` when even the id is unreadable), never a
//! crash. It ends when its input ends: the parent closed the pipe, or died.

use concurrency_lab::process::jobs;
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::time::Duration;

fn main() {
    exit_when_orphaned();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let reply = answer(&line);
        // A write fails only when the parent is gone: nobody to answer to.
        if writeln!(stdout, "{reply}").and_then(|()| stdout.flush()).is_err() {
            break;
        }
    }
}

/// The reply line for one request line.
fn answer(line: &str) -> Value {
    let request: Value = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(e) => return json!({"id": null, "error": format!("the worker got a line that is not JSON ({e}): {line}")}),
    };
    let id = request.get("id").and_then(Value::as_u64);
    let (Some(id), Some(job)) = (id, request.get("job").and_then(Value::as_str)) else {
        return json!({"id": id, "error": format!(
            "a request needs an `id` (a whole number) and a `job` (a name), like {{\"id\": 1, \"job\": \"echo\", \"args\": {{}}}}; got {line}")});
    };
    let args = request.get("args").unwrap_or(&Value::Null);
    if job == "exit" {
        // Ends this process at once, without a reply: how the tests play a
        // worker that dies mid-job. It lives here, not in `jobs::run`, which a
        // notebook may call in its own process (it would end the kernel).
        let code = args.get("code").and_then(Value::as_i64).unwrap_or(0);
        std::process::exit(code as i32);
    }
    if job == "crash_once" {
        // The first worker to take this job dies in the middle of it (exit
        // code 70), as if it crashed; any later worker runs the inner job.
        // A file, `token`, created atomically, remembers that someone died:
        // how a check kills a pool's worker mid-job at a chosen job.
        let (Some(token), Some(inner)) = (args.get("token").and_then(Value::as_str), args.get("job").and_then(Value::as_str)) else {
            return json!({"id": id, "error": format!(
                "job `crash_once` needs `token` (a file path) and `job` (the job to run when it does not crash), like {{\"token\": \"/tmp/t\", \"job\": \"echo\", \"args\": 1}}; it got {args}")});
        };
        match std::fs::OpenOptions::new().write(true).create_new(true).open(token) {
            Ok(_) => std::process::exit(70),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return answer(&json!({"id": id, "job": inner, "args": args.get("args").unwrap_or(&Value::Null)}).to_string())
            }
            Err(e) => return json!({"id": id, "error": format!("job `crash_once` could not create its token {token}: {e}")}),
        }
    }
    // A job that panics (a bug in a new job, an overflow) becomes an error
    // reply, so one bad job does not take the whole worker down.
    match std::panic::catch_unwind(|| jobs::run(job, args)) {
        Ok(Ok(value)) => json!({"id": id, "ok": value}),
        Ok(Err(why)) => json!({"id": id, "error": why}),
        Err(payload) => json!({"id": id, "error": format!(
            "job `{job}` panicked: {}", concurrency_lab::exercise::panic_message(payload.as_ref()))}),
    }
}

/// Exits as soon as this process's parent is gone. Normally the parent's
/// `Worker` kills us when it drops, and a dead parent closes our input, which
/// also ends us, but only once the job in hand is done. When the notebook's
/// kernel is interrupted, it is killed without running any `Drop`, and a
/// worker in the middle of a 60 s job would outlive its cell by a minute.
/// A thread that checks ten times a second whether our parent changed (an
/// orphan is adopted by another process) ends us within 0.1 s instead.
fn exit_when_orphaned() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(1);
        }
    });
}
