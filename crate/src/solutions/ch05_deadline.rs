use concurrency_lab::ureq;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Requests every URL at once. Returns when all have answered or at the
/// deadline, whichever comes first: one result per URL, in the URLs' order,
/// `Some(status)` if it answered in time, `None` if not (or if it failed).
fn fetch_all(urls: &[String], deadline: Duration) -> Vec<Option<u16>> {
    let until = Instant::now() + deadline;
    let (tx, rx) = mpsc::channel();
    for (i, url) in urls.iter().enumerate() {
        let (tx, url) = (tx.clone(), url.clone());
        thread::spawn(move || {
            // Every status is an answer; and a straggler gives up at the deadline too.
            let agent: ureq::Agent =
                ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(deadline)).build().into();
            let status = agent.get(&url).call().ok().map(|reply| reply.status().as_u16());
            let _ = tx.send((i, status)); // after the deadline nobody listens: fine
        });
    }
    drop(tx); // only the threads hold senders now
    let mut results = vec![None; urls.len()];
    for _ in 0..urls.len() {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok((i, status)) => results[i] = status, // the index says where it goes
            Err(_) => break,                        // the deadline has passed
        }
    }
    results
}
