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
            "the worker has no job called `{job}` (it knows: echo, pid, sleep, is_prime, count_down, sum, exit)"
        )),
    }
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
        let pid = run("pid", &json!(null)).unwrap();
        assert_eq!(pid["pid"], json!(std::process::id()));
    }

    #[test]
    fn bad_arguments_are_explained() {
        assert!(run("is_prime", &json!({"n": -3})).unwrap_err().contains("needs `n`, a whole number"));
        assert!(run("sleep", &json!({})).unwrap_err().contains("needs `ms`"));
        assert!(run("sum", &json!({"values": "1,2"})).unwrap_err().contains("a list of whole numbers"));
        assert!(run("sum", &json!({"values": [i64::MAX, 1]})).unwrap_err().contains("does not fit"));
    }
}
