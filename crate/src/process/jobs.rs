//! The jobs a worker process knows, by name. The worker binary
//! (`src/bin/lab-worker.rs`) reads a request, calls [`run`] and writes back
//! what it returns; a chapter that needs a new job adds one match arm here.
//!
//! Arguments and results are JSON values because that is what travels down
//! the pipe: a process shares no memory with its parent, so everything it is
//! given and everything it answers is copied, as text.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Runs the job called `job` with its arguments and gives its result, or a
/// sentence saying why it could not. Never panics on bad arguments.
///
/// ```
/// use concurrency_lab::process::jobs;
/// use serde_json::json;
/// assert_eq!(jobs::run("is_prime", &json!({"n": 101})), Ok(json!(true)));
/// assert!(jobs::run("fly", &json!({})).unwrap_err().contains("no job called `fly`"));
/// ```
pub fn run(job: &str, args: &Value) -> Result<Value, String> {
    match job {
        // Gives back what it was sent: the round trip and nothing else.
        "echo" => Ok(args.clone()),
        // Who am I, and who started me? (A worker's parent is the notebook.)
        "pid" => Ok(json!({"pid": std::process::id(), "parent": std::os::unix::process::parent_id()})),
        // A worker that is busy and does not answer for a while.
        "sleep" => {
            let ms = whole_number(job, args, "ms")?;
            std::thread::sleep(Duration::from_millis(ms));
            Ok(json!(ms))
        }
        "is_prime" => Ok(json!(crate::primes::is_prime(whole_number(job, args, "n")?))),
        // Chapter 6: is `n` prime, its smallest factor, and how much work it
        // took to find out (trial divisions), so a pool's work can be counted.
        "classify" => {
            let n = whole_number(job, args, "n")?;
            let (factor, divisions) = trial_division(n);
            Ok(json!({"n": n, "prime": factor == Some(n), "factor": factor, "divisions": divisions}))
        }
        // Waits until `n` workers are inside a `meet` job on the same folder
        // at once (each leaves a file named by its pid there), at most
        // `limit_ms`: how a check sees that a pool really uses its workers
        // side by side. The bound only stops a hang.
        "meet" => {
            let dir = args.get("dir").and_then(Value::as_str).ok_or_else(|| {
                format!("job `meet` needs `dir`, a folder, like {{\"dir\": \"/tmp/meet\", \"n\": 2}}; it got {args}")
            })?;
            let (want, limit) = (whole_number(job, args, "n")?, args.get("limit_ms").and_then(Value::as_u64).unwrap_or(10_000));
            let me = std::path::Path::new(dir).join(std::process::id().to_string());
            std::fs::write(&me, b"").map_err(|e| format!("job `meet` could not write {}: {e}", me.display()))?;
            let deadline = Instant::now() + Duration::from_millis(limit);
            loop {
                let here = std::fs::read_dir(dir).map(|d| d.count() as u64).unwrap_or(0);
                if here >= want {
                    return Ok(json!(here));
                }
                if Instant::now() >= deadline {
                    return Err(format!("job `meet`: only {here} of {want} workers were inside a `meet` job at the same time (waited {limit} ms)"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Chapter 15's countdown: pure CPU work, answered with the seconds it took.
        "count_down" => {
            let started = Instant::now();
            let mut n = whole_number(job, args, "from")?;
            while n > 0 {
                // black_box: without it the compiler would skip the loop.
                n = std::hint::black_box(n - 1);
            }
            Ok(json!(started.elapsed().as_secs_f64()))
        }
        "sum" => {
            let values: Vec<i64> = args
                .get("values")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .ok_or_else(|| format!("job `sum` needs `values`, a list of whole numbers, like {{\"values\": [1, 2, 3]}}; it got {args}"))?;
            let total = values.iter().try_fold(0i64, |total, v| total.checked_add(*v));
            total.map(|t| json!(t)).ok_or_else(|| "job `sum`: the total does not fit in an i64".to_string())
        }
        _ => Err(format!(
            "the worker has no job called `{job}` (it knows: echo, pid, sleep, is_prime, classify, meet, count_down, sum, exit, crash_once)"
        )),
    }
}

/// The smallest factor of `n` (`n` itself if prime, `None` below 2) and the
/// number of trial divisions it took: 2, then odd divisors up to the square
/// root, the same steps as [`crate::primes::is_prime`].
pub fn trial_division(n: u64) -> (Option<u64>, u64) {
    if n < 2 {
        return (None, 0);
    }
    if n % 2 == 0 {
        return (Some(2), 1);
    }
    let (mut d, mut divisions) = (3, 1);
    while d * d <= n {
        divisions += 1;
        if n % d == 0 {
            return (Some(d), divisions);
        }
        d += 2;
    }
    (Some(n), divisions)
}

/// The argument `name` of `job` as a whole number `>= 0`, or a sentence that
/// shows what the job expects.
fn whole_number(job: &str, args: &Value, name: &str) -> Result<u64, String> {
    args.get(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("job `{job}` needs `{name}`, a whole number >= 0, like {{\"{name}\": 10}}; it got {args}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_answer_in_process() {
        assert_eq!(run("echo", &json!({"a": [1, 2]})), Ok(json!({"a": [1, 2]})));
        assert_eq!(run("is_prime", &json!({"n": 100})), Ok(json!(false)));
        assert_eq!(run("sum", &json!({"values": [1, -2, 40]})), Ok(json!(39)));
        assert_eq!(run("sleep", &json!({"ms": 1})), Ok(json!(1)));
        assert!(run("count_down", &json!({"from": 1000})).unwrap().as_f64().unwrap() >= 0.0);
        assert_eq!(run("classify", &json!({"n": 323})), Ok(json!({"n": 323, "prime": false, "factor": 17, "divisions": 9})));
        assert_eq!(run("classify", &json!({"n": 2})), Ok(json!({"n": 2, "prime": true, "factor": 2, "divisions": 1})));
        assert_eq!(run("classify", &json!({"n": 1})), Ok(json!({"n": 1, "prime": false, "factor": null, "divisions": 0})));
        let pid = run("pid", &json!(null)).unwrap();
        assert_eq!(pid["pid"], json!(std::process::id()));
    }

    #[test]
    fn bad_arguments_are_explained() {
        assert!(run("is_prime", &json!({"n": -3})).unwrap_err().contains("needs `n`, a whole number"));
        assert!(run("sleep", &json!({})).unwrap_err().contains("needs `ms`"));
        assert!(run("meet", &json!({"n": 2})).unwrap_err().contains("needs `dir`"));
        assert!(run("sum", &json!({"values": "1,2"})).unwrap_err().contains("a list of whole numbers"));
        assert!(run("sum", &json!({"values": [i64::MAX, 1]})).unwrap_err().contains("does not fit"));
    }
}
