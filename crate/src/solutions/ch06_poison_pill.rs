use concurrency_lab::process::{Inbox, Msg, Worker};
use concurrency_lab::serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn produce(inbox: &Inbox, jobs: &[u64], consumers: usize, producing: &AtomicUsize) {
    for &n in jobs {
        inbox.put(Msg::Job(n));
    }
    // fetch_sub returns the count before: 1 means this was the last producer.
    if producing.fetch_sub(1, Ordering::SeqCst) == 1 {
        for _ in 0..consumers {
            inbox.put(Msg::Stop); // one stop per consumer, after every job
        }
    }
}

fn consume(inbox: &Inbox, worker: &mut Worker) -> Vec<(u64, bool)> {
    let mut done = Vec::new();
    loop {
        match inbox.take() {
            Msg::Job(n) => {
                let answer = worker.call("is_prime", json!({"n": n}), Duration::from_secs(30));
                done.push((n, answer == Ok(json!(true))));
            }
            Msg::Stop => return done,
        }
    }
}
