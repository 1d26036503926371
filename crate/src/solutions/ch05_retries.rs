use concurrency_lab::ureq;
use std::thread;
use std::time::Duration;

/// At most `attempts` requests: stops at the first answer that is not a
/// server error, and waits `pause`, then twice as long each time, before
/// trying again after a 5xx or a failed connection.
fn get_with_retries(url: &str, attempts: u32, pause: Duration) -> Result<u16, String> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(10))).build().into();
    let mut wait = pause;
    let mut last = String::from("no attempt was made");
    for attempt in 1..=attempts {
        match agent.get(url).call() {
            Ok(reply) if reply.status().as_u16() < 500 => return Ok(reply.status().as_u16()),
            Ok(reply) => last = format!("attempt {attempt} got {}", reply.status().as_u16()),
            Err(e) => last = format!("attempt {attempt} failed: {e}"),
        }
        if attempt < attempts {
            thread::sleep(wait); // no pause after the last attempt
            wait *= 2;
        }
    }
    Err(format!("gave up after {attempts} attempt(s); {last}"))
}
