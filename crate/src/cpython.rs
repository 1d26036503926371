//! Real CPython beside Rust: runs the course's own Python programs (in
//! `crate/python/`, written for this course) in the `python3` found on this
//! machine, as a child process, and brings their timings back as data.
//!
//! Each program reads one JSON object on stdin and prints one JSON object on
//! its last line of stdout. It runs in a process group of its own, so a
//! time-out kills it together with any worker processes it started; and a
//! watchdog inside it ends the group if this process goes away (a cell
//! interrupted), so no Python process outlives the experiment.
//!
//! Where no `python3` is found, [`find`] says so and the notebook carries on.

use crate::measure::Stats;
use serde::Serialize;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The programs, by file name. `common.py` is shared by the others.
const PROGRAMS: &[(&str, &str)] = &[
    ("common.py", include_str!("../python/common.py")),
    ("primes.py", include_str!("../python/primes.py")),
    ("countdown.py", include_str!("../python/countdown.py")),
    ("refcount.py", include_str!("../python/refcount.py")),
    ("increment.py", include_str!("../python/increment.py")),
    ("select_server.py", include_str!("../python/select_server.py")),
    ("structures.py", include_str!("../python/structures.py")),
];

/// A `python3` that can run the experiments.
#[derive(Debug, Clone, Serialize)]
pub struct Python {
    /// The program run (`python3`, or `$CONCURRENCY_LAB_PYTHON`).
    pub program: String,
    /// Its version, e.g. `3.11.7`.
    pub version: String,
}

/// Finds `python3` (or the interpreter named by `CONCURRENCY_LAB_PYTHON`):
/// `Err` with a sentence to print when there is none.
pub fn find() -> Result<Python, String> {
    let program = std::env::var("CONCURRENCY_LAB_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = Command::new(&program)
        .args(["-c", "import sys; print(sys.version.split()[0])"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("no Python found here (`{program}`: {e}); the CPython comparisons are skipped"))?;
    if !out.status.success() {
        return Err(format!("`{program}` did not run ({}); the CPython comparisons are skipped", out.status));
    }
    Ok(Python { program, version: String::from_utf8_lossy(&out.stdout).trim().to_string() })
}

impl Python {
    /// Runs the course program `name` (e.g. `"primes.py"`) with `input` on
    /// stdin, and returns the JSON object on the last line of its stdout.
    /// Stops it, and every process it started, after `limit`.
    pub fn run(&self, name: &str, input: &Value, limit: Duration) -> Result<Value, String> {
        if !PROGRAMS.iter().any(|(n, _)| *n == name) {
            return Err(format!("there is no course program called {name}"));
        }
        let mut child = self.start(name, Stdio::piped())?;
        let group = child.id() as i32;
        let mut stdin = child.stdin.take();
        let written = stdin.as_mut().map(|s| s.write_all(input.to_string().as_bytes()));
        drop(stdin); // end of input
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let out_reader = std::thread::spawn(move || read_all(stdout.as_mut()));
        let err_reader = std::thread::spawn(move || read_all(stderr.as_mut()));
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if start.elapsed() >= limit => {
                    // SAFETY: kill(2) with a negative pid signals the process
                    // group we created for this child; no memory is involved.
                    unsafe { libc::kill(-group, libc::SIGKILL) };
                    let _ = child.wait();
                    break Err(format!("{name} did not finish within {} s and was stopped", limit.as_secs_f64()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    // SAFETY: as above.
                    unsafe { libc::kill(-group, libc::SIGKILL) };
                    let _ = child.wait();
                    break Err(format!("lost track of {name}: {e}"));
                }
            }
        };
        let out = out_reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        let status = status?;
        if let Some(Err(e)) = written {
            return Err(format!("could not send {name} its input: {e}; it said: {}", err.trim()));
        }
        if !status.success() {
            return Err(format!("{name} failed ({status}): {}", last_lines(&err, 5)));
        }
        let last = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        serde_json::from_str(last).map_err(|e| format!("{name} printed no JSON result ({e}): {:?}", last_lines(&out, 3)))
    }

    /// Writes the course programs out and starts `name` with piped stdin
    /// and stdout, in a process group of its own (so that stopping it stops
    /// any workers it started too).
    fn start(&self, name: &str, stderr: Stdio) -> Result<std::process::Child, String> {
        let dir = std::env::temp_dir().join(format!("concurrency-lab-python-{}", std::process::id()));
        write_programs(&dir).map_err(|e| format!("could not write the Python programs to {}: {e}", dir.display()))?;
        Command::new(&self.program)
            .arg(dir.join(name))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", self.program))
    }

    /// The primes among `numbers` found by CPython, timed once per entry of
    /// `workers` (0: no pool, one process; n: a pool of n processes).
    pub fn primes(&self, numbers: &[u64], workers: &[usize], samples: usize, limit: Duration) -> Result<PyPrimes, String> {
        let v = self.run("primes.py", &json!({"numbers": numbers, "workers": workers, "samples": samples.max(1)}), limit)?;
        let found = v["found"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
        let mut times = Vec::new();
        for run in v["runs"].as_array().into_iter().flatten() {
            let workers = run["workers"].as_u64().ok_or("primes.py: a run without its worker count")? as usize;
            let seconds = run["seconds"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
            times.push((workers, Stats::from_samples(seconds)));
        }
        Ok(PyPrimes { python: self.version.clone(), found, times })
    }

    /// Chapter 15's countdown from `n` in CPython, timed `samples` times in
    /// each configuration: "1 thread", "2 threads" (each counting `n / 2`)
    /// and "2 processes" (each counting `n / 2`, their start-up included).
    pub fn countdown(&self, n: u64, samples: usize, limit: Duration) -> Result<PyCountdown, String> {
        let v = self.run("countdown.py", &json!({"n": n, "samples": samples.max(1)}), limit)?;
        let mut times = Vec::new();
        for run in v["runs"].as_array().into_iter().flatten() {
            let name = run["configuration"].as_str().ok_or("countdown.py: a run without its configuration")?;
            let seconds = run["seconds"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
            times.push((name.to_string(), Stats::from_samples(seconds)));
        }
        Ok(PyCountdown {
            python: self.version.clone(),
            gil: v["gil"].as_bool().unwrap_or(true),
            switch_interval: v["switch_interval"].as_f64().unwrap_or(f64::NAN),
            n,
            times,
        })
    }

    /// Starts chapter 18's calculator server in CPython (one thread, one
    /// `select.select` over every socket) on 127.0.0.1 and returns once it
    /// listens. It stops when the handle is dropped.
    pub fn select_server(&self) -> Result<PyServer, String> {
        let name = "select_server.py";
        let mut child = self.start(name, Stdio::inherit())?;
        let mut server = PyServer { addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)), stdin: child.stdin.take(), child };
        if let Some(stdin) = server.stdin.as_mut() {
            stdin.write_all(b"{}\n").and_then(|_| stdin.flush()).map_err(|e| format!("could not start {name}: {e}"))?;
        }
        // Its first line says where it listens; wait for it with a bound.
        let stdout = server.child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).map_err(|_| format!("{name} did not say where it listens within 20 s"))?;
        let port = serde_json::from_str::<Value>(&line).ok().and_then(|v| v["port"].as_u64()).ok_or_else(|| format!("{name} did not start: {line:?}"))?;
        server.addr.set_port(port as u16);
        Ok(server)
    }

    /// CPython's reference counts of one fresh list (`sys.getrefcount`, less
    /// the one its own argument adds): with one name, after a second name,
    /// after a list holds it too, and after those two are deleted.
    pub fn refcounts(&self, limit: Duration) -> Result<Vec<u64>, String> {
        let v = self.run("refcount.py", &json!({}), limit)?;
        v["counts"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).ok_or_else(|| format!("refcount.py gave no counts: {v}"))
    }
}

/// A CPython server process; dropping the handle stops it (its stdin
/// closes, which ends its loop; it is killed if it has not gone in 2 s).
pub struct PyServer {
    addr: std::net::SocketAddr,
    stdin: Option<std::process::ChildStdin>,
    child: std::process::Child,
}

impl PyServer {
    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: kill(2) on the process group we created for this child.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for PyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CPython select server at {}", self.addr)
    }
}

/// CPython's countdown: how long each configuration took.
#[derive(Debug, Clone, Serialize)]
pub struct PyCountdown {
    /// The CPython version that ran it.
    pub python: String,
    /// Whether its GIL was on (`sys._is_gil_enabled()`; true before 3.13,
    /// where there is no other build).
    pub gil: bool,
    /// `sys.getswitchinterval()`: how long a thread runs before it is asked
    /// to hand the GIL over (seconds).
    pub switch_interval: f64,
    /// The number counted down from, in total, in every configuration.
    pub n: u64,
    /// (configuration, timings): "1 thread", "2 threads", "2 processes".
    pub times: Vec<(String, Stats)>,
}

impl PyCountdown {
    /// The timings of `configuration`, if measured.
    pub fn stats(&self, configuration: &str) -> Option<&Stats> {
        self.times.iter().find(|(name, _)| name == configuration).map(|(_, s)| s)
    }
}

/// CPython's prime search: what it found and how long each setting took.
#[derive(Debug, Clone, Serialize)]
pub struct PyPrimes {
    /// The CPython version that ran it.
    pub python: String,
    /// The primes found by the last run.
    pub found: Vec<u64>,
    /// (worker processes, timings); 0 workers means no pool at all.
    pub times: Vec<(usize, Stats)>,
}

impl PyPrimes {
    /// The median time with `workers` worker processes, if measured.
    pub fn median(&self, workers: usize) -> Option<f64> {
        self.times.iter().find(|(n, _)| *n == workers).map(|(_, s)| s.median)
    }
}

fn write_programs(dir: &PathBuf) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in PROGRAMS {
        let path = dir.join(name);
        // Rewritten only when different, so concurrent runs do not race on it.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            let tmp = dir.join(format!("{name}.{:?}.tmp", std::thread::current().id()));
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)?;
        }
    }
    Ok(())
}

fn read_all(from: Option<&mut impl Read>) -> String {
    let mut s = String::new();
    if let Some(r) = from {
        let _ = r.read_to_string(&mut s);
    }
    s
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests share one directory of programs and count its processes:
    /// one at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn cpython_finds_the_same_primes() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(py) = find() else {
            eprintln!("no python3 here: skipped");
            return;
        };
        let numbers: Vec<u64> = (0..200).collect();
        let got = py.primes(&numbers, &[0, 2], 1, Duration::from_secs(60)).unwrap();
        let want: Vec<u64> = numbers.iter().copied().filter(|&n| crate::primes::is_prime(n)).collect();
        assert_eq!(got.found, want);
        assert_eq!(got.times.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![0, 2]);
        assert!(got.median(2).is_some());
    }

    #[test]
    fn cpython_counts_down_in_every_configuration() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(py) = find() else { return };
        let run = py.countdown(20_000, 2, Duration::from_secs(60)).unwrap();
        assert_eq!(run.n, 20_000);
        for name in ["1 thread", "2 threads", "2 processes"] {
            assert_eq!(run.stats(name).map(|s| s.samples.len()), Some(2), "{name}");
        }
        assert!(run.switch_interval > 0.0 && run.switch_interval < 1.0, "{}", run.switch_interval);
        assert_eq!(py.refcounts(Duration::from_secs(30)).unwrap(), vec![1, 2, 3, 1]);
    }

    #[test]
    fn the_select_server_answers_and_stops_when_dropped() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(py) = find() else { return };
        let server = py.select_server().unwrap();
        let mut c = crate::exercise::Client::connect(server.addr(), Duration::from_secs(10)).unwrap();
        let said: Vec<String> = ["1,2", "4,9", "product", "0,-3", "5,-9,10", "1,,2", "quit"].iter().map(|l| c.ask(l).unwrap()).collect();
        assert_eq!(said, ["3", "13", "mode: product", "0", "-450", "error: field 2 is empty", "bye"]);
        drop(server);
        assert_eq!(running_course_programs(), 0, "the server outlived its handle");
    }

    #[test]
    fn errors_are_sentences_not_panics() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(py) = find() else { return };
        let e = py.run("nonsense.py", &json!({}), Duration::from_secs(5)).unwrap_err();
        assert!(e.contains("no course program"), "{e}");
        let e = py.run("primes.py", &json!({"numbers": "not a list"}), Duration::from_secs(20)).unwrap_err();
        assert!(e.contains("primes.py failed"), "{e}");
        let missing = Python { program: "/nonexistent/python3".into(), version: String::new() };
        assert!(missing.run("primes.py", &json!({}), Duration::from_secs(5)).unwrap_err().contains("could not start"));
    }

    #[test]
    fn a_time_out_stops_the_pool_workers_too() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(py) = find() else { return };
        // Large primes near 10^15 keep a pool of 2 busy far beyond the limit.
        let numbers: Vec<u64> = (1_000_000_000_000_000..1_000_000_000_000_400).collect();
        let e = py.primes(&numbers, &[2], 1, Duration::from_millis(1500)).unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        // SIGKILL is delivered at once, but a killed process may take a moment
        // to go; the bound only stops a hang, it decides nothing.
        let deadline = Instant::now() + Duration::from_secs(20);
        while running_course_programs() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(running_course_programs(), 0, "a Python process outlived the time-out");
    }

    /// Live processes running a course program from this process's directory.
    fn running_course_programs() -> usize {
        let dir = format!("concurrency-lab-python-{}", std::process::id());
        std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| std::fs::read(e.path().join("cmdline")).map(|c| String::from_utf8_lossy(&c).contains(&dir)).unwrap_or(false))
                    .count()
            })
            .unwrap_or(0)
    }
}
