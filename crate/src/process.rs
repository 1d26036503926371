//! Worker processes: a separate program that the notebook starts, gives jobs
//! to and waits for, the way Python's `multiprocessing` does (chapters 6, 7,
//! 8 and 15).
//!
//! A notebook cell cannot become a process of its own, so the crate ships a
//! small worker program, `lab-worker` (`src/bin/lab-worker.rs`), and
//! [`Worker::start`] runs it. Parent and worker share no memory: they talk
//! through pipes, one JSON object per line. The parent writes a request to
//! the worker's standard input, the worker writes a reply to its standard
//! output:
//!
//! ```text
//! {"id": 7, "job": "is_prime", "args": {"n": 101}}     parent -> worker
//! {"id": 7, "ok": true}                                 worker -> parent
//! ```
//!
//! Everything here is bounded, so a notebook never hangs on a worker: a
//! worker that dies mid-job, sends garbage or never answers comes back as an
//! `Err` with a sentence saying which, within the limit you gave. And a
//! [`Worker`] is a guard: dropping it kills its process and collects its exit
//! status, so no worker outlives the cell that owned it.
//!
//! ```no_run
//! use concurrency_lab::process::Worker;
//! use serde_json::json;
//! use std::time::Duration;
//!
//! let mut worker = Worker::start()?;
//! let answer = worker.call("is_prime", json!({"n": 101}), Duration::from_secs(5))?;
//! assert_eq!(answer, json!(true));
//! # Ok::<(), String>(())
//! ```

pub mod jobs;
pub mod pool;

pub use pool::{judge_poison_pill, judge_reliable_pool, Inbox, Msg, PoisonPill, PoolRun, BOOK_NUMBERS};

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A running worker process and the pipes to it. Dropping it kills the process.
#[derive(Debug)]
pub struct Worker {
    child: Child,
    /// The worker's standard input, where requests go. `None` once
    /// [`Worker::join_timeout`] closed it: a worker ends when its input ends.
    input: Option<ChildStdin>,
    /// The worker's output, line by line. A thread of our own reads the pipe
    /// and forwards each line here, so that waiting for a reply is a
    /// `recv_timeout` with a limit: a read on the pipe itself could block
    /// for ever if the worker never answered.
    replies: Receiver<String>,
    /// What the worker printed on stderr (its last few thousand bytes), to
    /// explain its death. Captured, never passed through: in a notebook,
    /// anything on stderr looks like a failure.
    stderr: Arc<Mutex<String>>,
    /// The id of the next request. Ids tell a reply to the current job from
    /// the late reply to a job that was given up after its limit.
    next_id: u64,
    /// Jobs sent and not yet answered, oldest first: (id, job name). The
    /// worker answers in order, so the next reply belongs to the front one.
    waiting: VecDeque<(u64, String)>,
}

impl Worker {
    /// Starts a `lab-worker` process (building it first if needed, see
    /// [`worker_binary`]).
    pub fn start() -> Result<Worker, String> {
        Worker::spawn(Command::new(worker_binary()?))
    }

    /// Starts `command` as a worker, with all three of its standard streams
    /// piped to us. [`Worker::start`] uses it with `lab-worker`; the tests use
    /// it to play workers that misbehave.
    pub fn spawn(mut command: Command) -> Result<Worker, String> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start the worker program {program}: {e}"))?;
        let (stdout, stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
        let (lines, replies) = mpsc::channel();
        let worker = Worker {
            input: child.stdin.take(),
            child,
            replies,
            stderr: Arc::default(),
            next_id: 1,
            waiting: VecDeque::new(),
        };
        // From here on an early return drops `worker`, which kills the process.
        let pid = worker.pid();
        forward_lines(format!("worker-{pid}-stdout"), stdout, move |line| lines.send(line).is_ok())?;
        let stderr_text = Arc::clone(&worker.stderr);
        forward_lines(format!("worker-{pid}-stderr"), stderr, move |line| {
            let mut text = stderr_text.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(&line);
            text.push('\n');
            if text.len() > 4000 {
                let mut cut = text.len() - 3000;
                while !text.is_char_boundary(cut) {
                    cut += 1;
                }
                text.replace_range(..cut, "...");
            }
            true
        })?;
        Ok(worker)
    }

    /// The worker's process id (what `ps` and `/proc` know it by).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many jobs have been sent to this worker so far.
    pub fn jobs_sent(&self) -> u64 {
        self.next_id - 1
    }

    /// Gives the worker `job` and waits at most `limit` for its answer:
    /// [`Worker::send`] then [`Worker::recv`].
    pub fn call(&mut self, job: &str, args: Value, limit: Duration) -> Result<Value, String> {
        if !self.waiting.is_empty() {
            return Err(format!(
                "worker {} still owes {} answer(s) to jobs sent earlier: collect them with recv before using call",
                self.pid(),
                self.waiting.len()
            ));
        }
        self.send(job, args)?;
        self.recv(limit)
    }

    /// Sends `job` without waiting for the answer, so that several jobs can
    /// be on their way at once (collect the answers with [`Worker::recv`]).
    /// It blocks only when the pipe is full: about 64 KiB of requests that
    /// the worker has not read yet.
    pub fn send(&mut self, job: &str, args: Value) -> Result<(), String> {
        let id = self.next_id;
        self.next_id += 1;
        let line = format!("{}\n", json!({"id": id, "job": job, "args": args}));
        let Some(input) = self.input.as_mut() else {
            return Err(format!("worker {}: its input was closed by join_timeout, it takes no more jobs", self.pid()));
        };
        if input.write_all(line.as_bytes()).is_err() {
            // Writing fails when nobody reads the other end: the worker is gone.
            return Err(self.gone(job));
        }
        self.waiting.push_back((id, job.to_string()));
        Ok(())
    }

    /// Waits at most `limit` for the answer to the oldest job sent and not
    /// yet answered. Whatever happens, that job is then settled: after a
    /// timeout its late reply is recognised by its id and skipped.
    pub fn recv(&mut self, limit: Duration) -> Result<Value, String> {
        let pid = self.pid();
        let Some((id, job)) = self.waiting.pop_front() else {
            return Err(format!("worker {pid}: no job was sent, so there is no answer to wait for"));
        };
        let deadline = Instant::now() + limit;
        loop {
            let line = match self.replies.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("worker {pid} did not answer `{job}` within {} ms", limit.as_millis()))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Its output closed: the worker exited. No answer will come for
                    // any job still waiting either.
                    self.waiting.clear();
                    return Err(self.gone(&job));
                }
            };
            let reply: Value = serde_json::from_str(&line)
                .map_err(|_| format!("worker {pid} sent a line that is not JSON: {line}"))?;
            match reply.get("id").and_then(Value::as_u64) {
                Some(older) if older < id => continue, // the late answer to a job given up on
                Some(same) if same == id => {}
                _ => return Err(format!("worker {pid} sent a reply that is not for job `{job}` (id {id}): {line}")),
            }
            return match (reply.get("ok"), reply.get("error")) {
                (Some(value), None) => Ok(value.clone()),
                (None, Some(why)) => Err(format!("worker {pid}: {}", why.as_str().unwrap_or("an error without a message"))),
                _ => Err(format!("worker {pid} sent a reply with neither `ok` nor `error`: {line}")),
            };
        }
    }

    /// Kills the worker at once (SIGKILL), mid-job or not, and collects its
    /// exit status. Dropping the `Worker` does the same.
    pub fn kill(&mut self) -> Result<ExitStatus, String> {
        self.waiting.clear();
        let _ = self.child.kill(); // fails only if it has already exited: fine
        self.child.wait().map_err(|e| format!("could not collect worker {}'s exit status: {e}", self.pid()))
    }

    /// True while the worker's process is running; false once it has
    /// exited (it is then reaped, so no zombie is left). A pool asks this
    /// after a failed call: an error reply comes from a live worker, a death
    /// leaves a dead one, which takes no more jobs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends one line exactly as given (a newline is added) and gives back
    /// the worker's reply line exactly as it came, waiting at most `limit`:
    /// the wire itself, for showing the protocol and what the worker says
    /// about a malformed request. Use [`Worker::call`] for real work.
    pub fn exchange_line(&mut self, line: &str, limit: Duration) -> Result<String, String> {
        let pid = self.pid();
        if !self.waiting.is_empty() {
            return Err(format!("worker {pid} still owes answers to jobs sent earlier: collect them with recv first"));
        }
        let Some(input) = self.input.as_mut() else {
            return Err(format!("worker {pid}: its input was closed by join_timeout, it takes no more lines"));
        };
        if input.write_all(format!("{line}\n").as_bytes()).is_err() {
            return Err(self.gone("(a raw line)"));
        }
        match self.replies.recv_timeout(limit) {
            Ok(reply) => Ok(reply),
            Err(RecvTimeoutError::Timeout) => Err(format!("worker {pid} did not answer the line within {} ms", limit.as_millis())),
            Err(RecvTimeoutError::Disconnected) => Err(self.gone("(a raw line)")),
        }
    }

    /// Asks the worker to stop (SIGTERM, what `kill PID` sends and what
    /// Python's `terminate()` sends) and waits at most `limit` for it to
    /// exit; a worker that ignores the request is then killed (SIGKILL).
    /// Either way it is reaped, and its exit status comes back.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        self.waiting.clear();
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) takes two integers and touches no memory of ours;
            // the pid is our child, not yet reaped (try_wait just said so), so
            // it cannot belong to another process.
            unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        }
        match self.wait_for_exit(limit) {
            Some(status) => Ok(status),
            None => self.kill(),
        }
    }

    /// Closes the worker's input, which asks it to finish (it ends when its
    /// input ends, after the jobs already sent), and waits at most `limit`
    /// for it to exit. Like joining a thread, with a bound.
    pub fn join_timeout(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        self.input = None;
        self.wait_for_exit(limit).ok_or_else(|| {
            format!("worker {} did not exit within {} ms of its input being closed: still busy?", self.pid(), limit.as_millis())
        })
    }

    /// Its exit status once it has exited, checking every 2 ms for at most `limit`.
    /// (`Child::wait` has no time limit, so we poll `try_wait` instead.)
    fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The sentence for a worker that went away before answering `job`: how
    /// it ended and what it printed on stderr.
    fn gone(&mut self, job: &str) -> String {
        // Its output closes as it exits; the exit itself follows within moments.
        let how = match self.wait_for_exit(Duration::from_secs(5)) {
            Some(status) => format!("exited ({})", describe_exit(status)),
            None => "closed its output".to_string(),
        };
        let mut text = format!("worker {} {how} before answering job `{job}`", self.pid());
        let stderr = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if !stderr.trim().is_empty() {
            text += &format!("; it printed: {}", stderr.trim());
        }
        text
    }
}

impl Drop for Worker {
    /// Kills the process and waits for it: `wait` removes its entry from the
    /// process table, so it does not linger as a zombie either.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a process ended, in words: "exit code 0", "killed by signal 9".
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The parent of process `pid`, from `/proc/PID/stat`; `None` when no such
/// process exists (any more). A zombie (exited, not yet reaped) still has one.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and brackets):
    // state, then the parent's pid.
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// The processes whose parent is this one, running or zombie, in pid order.
/// Zero after a cell means no worker outlived it: every one was reaped.
pub fn children() -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(me))
        .collect();
    pids.sort_unstable();
    pids
}

/// Reads `from` line by line on a thread named `name`, handing each line to
/// `each` until the stream ends or `each` returns false.
fn forward_lines(
    name: String,
    from: impl Read + Send + 'static,
    mut each: impl FnMut(String) -> bool + Send + 'static,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                if !each(line) {
                    break;
                }
            }
        })
        .map(drop)
        .map_err(|e| format!("could not start a thread to read the worker's output: {e}"))
}

/// The path of the `lab-worker` program, building it first if needed.
///
/// Under evcxr, a notebook's code is compiled inside evcxr's own build,
/// which builds our library but not our binaries. So on first use in a
/// process this runs `cargo build` for `lab-worker` (profile `evcxr`, into
/// `target/worker/` of this workspace). Cargo returns in well under a second
/// when the binary is up to date, and rebuilds it when the crate changed.
/// It prints one progress line first when there is no binary yet, or when
/// the crate's source changed since it was built (a build takes a while).
///
/// The environment variable `CONCURRENCY_LAB_WORKER`, when set, names the
/// program to use instead, and nothing is built.
pub fn worker_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CONCURRENCY_LAB_WORKER") {
        let path = PathBuf::from(path);
        return match path.is_file() {
            true => Ok(path),
            false => Err(format!("CONCURRENCY_LAB_WORKER names {}, which is not a file", path.display())),
        };
    }
    // A Mutex rather than a OnceLock: callers at the same time wait for one
    // build, and a build that failed is tried again on the next call.
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.as_ref() {
        return Ok(path.clone());
    }
    let path = build_worker()?;
    *built = Some(path.clone());
    Ok(path)
}

/// Runs cargo to build `lab-worker`; see [`worker_binary`].
fn build_worker() -> Result<PathBuf, String> {
    // Where this crate's source is, fixed when the crate was compiled.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = crate_dir.join("Cargo.toml");
    let target = crate_dir.join("..").join("target").join("worker");
    let binary = target.join("evcxr").join(format!("lab-worker{}", std::env::consts::EXE_SUFFIX));
    match binary.metadata().and_then(|m| m.modified()) {
        Err(_) => println!("building the worker binary (once; about a minute)..."),
        Ok(built) if changed_since(&crate_dir.join("src"), built) || changed_since(&manifest, built) => {
            println!("rebuilding the worker binary (the crate changed; up to a minute)...")
        }
        Ok(_) => {} // up to date: cargo will only check, in a fraction of a second
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--quiet", "--profile", "evcxr", "--bin", "lab-worker", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run cargo ({}) to build the worker binary: {e}", cargo.to_string_lossy()))?;
    if !output.status.success() {
        return Err(format!(
            "cargo could not build the worker binary ({}):\n{}",
            describe_exit(output.status),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    match binary.is_file() {
        true => Ok(binary),
        false => Err(format!("cargo built the worker, but {} is not there", binary.display())),
    }
}

/// True if the file `path`, or any file under the folder `path`, was
/// modified after `time`. Only decides whether to print a progress line:
/// cargo itself decides what to rebuild.
fn changed_since(path: &Path, time: SystemTime) -> bool {
    let Ok(meta) = path.metadata() else { return false };
    if meta.is_dir() {
        let Ok(entries) = path.read_dir() else { return false };
        entries.flatten().any(|entry| changed_since(&entry.path(), time))
    } else {
        meta.modified().is_ok_and(|modified| modified > time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only stops a broken test from hanging; no verdict depends on it.
    const BOUND: Duration = Duration::from_secs(30);

    fn worker() -> Worker {
        Worker::start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A worker played by a shell script, to misbehave in a chosen way.
    fn shell_worker(script: &str) -> Worker {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        Worker::spawn(command).unwrap()
    }

    #[test]
    fn process_every_job_round_trips() {
        let mut w = worker();
        assert_eq!(w.call("echo", json!({"a": [1, "two"]}), BOUND), Ok(json!({"a": [1, "two"]})));
        assert_eq!(w.call("sleep", json!({"ms": 1}), BOUND), Ok(json!(1)));
        assert_eq!(w.call("is_prime", json!({"n": 101}), BOUND), Ok(json!(true)));
        assert_eq!(w.call("is_prime", json!({"n": 1001}), BOUND), Ok(json!(false)));
        assert!(w.call("count_down", json!({"from": 1000}), BOUND).unwrap().as_f64().unwrap() >= 0.0);
        assert_eq!(w.call("sum", json!({"values": [1, 2, 3]}), BOUND), Ok(json!(6)));
        let err = w.call("fly", json!({}), BOUND).unwrap_err();
        assert!(err.contains("no job called `fly`"), "{err}");
        let err = w.call("is_prime", json!({"n": "seven"}), BOUND).unwrap_err();
        assert!(err.contains("needs `n`"), "{err}");
        assert_eq!(w.call("echo", json!(null), BOUND), Ok(json!(null)), "still serving after errors");
    }

    #[test]
    fn process_worker_is_our_child() {
        let mut w = worker();
        let me = w.call("pid", json!({}), BOUND).unwrap();
        assert_eq!(me, json!({"pid": w.pid(), "parent": std::process::id()}));
    }

    #[test]
    fn process_pipelined_answers_come_in_order() {
        let mut w = worker();
        for n in [2, 4, 7, 9, 11] {
            w.send("is_prime", json!({"n": n})).unwrap();
        }
        let answers: Vec<Value> = (0..5).map(|_| w.recv(BOUND).unwrap()).collect();
        assert_eq!(answers, [true, false, true, false, true].map(|b| json!(b)));
        w.send("echo", json!(1)).unwrap();
        assert!(w.call("echo", json!(2), BOUND).unwrap_err().contains("collect them with recv"));
        assert!(w.recv(BOUND).is_ok() && w.recv(BOUND).unwrap_err().contains("no job was sent"));
    }

    #[test]
    fn process_malformed_lines_get_error_replies_and_the_worker_keeps_serving() {
        let mut w = worker();
        let raw = |w: &mut Worker, line: &str| -> Value {
            w.input.as_mut().unwrap().write_all(format!("{line}\n").as_bytes()).unwrap();
            serde_json::from_str(&w.replies.recv_timeout(BOUND).unwrap()).unwrap()
        };
        let reply = raw(&mut w, "this is not json");
        assert_eq!(reply["id"], Value::Null);
        assert!(reply["error"].as_str().unwrap().contains("not JSON"), "{reply}");
        let reply = raw(&mut w, r#"{"id": 5, "args": {}}"#);
        assert_eq!(reply["id"], json!(5));
        assert!(reply["error"].as_str().unwrap().contains("needs an `id`"), "{reply}");
        assert_eq!(w.call("echo", json!("still here"), BOUND), Ok(json!("still here")));
    }

    #[test]
    fn process_exit_mid_job_is_reported_not_waited_for() {
        let mut w = worker();
        let pid = w.pid();
        let err = w.call("exit", json!({"code": 3}), BOUND).unwrap_err();
        assert_eq!(err, format!("worker {pid} exited (exit code 3) before answering job `exit`"));
        assert!(w.call("echo", json!(1), BOUND).unwrap_err().contains("before answering job `echo`"));
    }

    #[test]
    fn process_killed_mid_job_is_reported() {
        let mut w = worker();
        let pid = w.pid();
        w.send("sleep", json!({"ms": 60_000})).unwrap();
        // Killed from outside, as `kill -9` in a terminal would.
        // Safety: kill only sends a signal; the pid is our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
        let err = w.recv(BOUND).unwrap_err();
        assert_eq!(err, format!("worker {pid} exited (killed by signal 9) before answering job `sleep`"));
    }

    #[test]
    fn process_silent_worker_times_out() {
        let mut w = worker();
        let err = w.call("sleep", json!({"ms": 60_000}), Duration::from_millis(100)).unwrap_err();
        assert_eq!(err, format!("worker {} did not answer `sleep` within 100 ms", w.pid()));
    }

    #[test]
    fn process_late_reply_is_not_taken_for_the_next_one() {
        let mut w = worker();
        // 300 ms of sleep cannot be answered within 1 ms: this always times out.
        assert!(w.call("sleep", json!({"ms": 300}), Duration::from_millis(1)).is_err());
        assert_eq!(w.call("echo", json!("mine"), BOUND), Ok(json!("mine")));
    }

    #[test]
    fn process_garbage_from_a_worker_is_reported() {
        let mut w = shell_worker("read line; echo hello");
        assert_eq!(w.call("echo", json!(1), BOUND).unwrap_err(), format!("worker {} sent a line that is not JSON: hello", w.pid()));
        let mut w = shell_worker(r#"read line; echo '{"id": 1, "answer": 2}'"#);
        assert!(w.call("echo", json!(1), BOUND).unwrap_err().contains("neither `ok` nor `error`"));
        let mut w = shell_worker("read line; echo oops >&2; exit 4");
        let err = w.call("echo", json!(1), BOUND).unwrap_err();
        assert!(err.starts_with(&format!("worker {} exited (exit code 4) before answering job `echo`", w.pid())), "{err}");
    }

    #[test]
    fn process_join_and_kill_give_the_exit_status() {
        let mut w = worker();
        w.send("echo", json!(1)).unwrap();
        assert_eq!(w.join_timeout(BOUND).map(describe_exit), Ok("exit code 0".to_string()));
        assert_eq!(w.recv(BOUND), Ok(json!(1)), "jobs sent before the input closed are still answered");
        assert!(w.send("echo", json!(2)).unwrap_err().contains("takes no more jobs"));

        let mut busy = worker();
        busy.send("sleep", json!({"ms": 60_000})).unwrap();
        assert!(busy.join_timeout(Duration::from_millis(50)).unwrap_err().contains("did not exit within 50 ms"));
        assert_eq!(busy.kill().map(describe_exit), Ok("killed by signal 9".to_string()));
    }

    #[test]
    fn process_dropping_a_worker_ends_its_process() {
        let mut w = worker();
        w.send("sleep", json!({"ms": 60_000})).unwrap();
        let pid = w.pid();
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        drop(w);
        // Killed and reaped: no process of that pid is our child any more (not
        // even a zombie). (The pid could in principle be reused at once by an
        // unrelated process, which would not be our child.)
        assert_ne!(parent_of(pid), Some(std::process::id()));
        assert!(!children().contains(&pid));
    }

    #[test]
    fn process_terminate_alive_and_children() {
        let mut w = worker();
        let pid = w.pid();
        assert!(w.alive() && children().contains(&pid) && parent_of(pid) == Some(std::process::id()));
        w.send("sleep", json!({"ms": 60_000})).unwrap();
        assert_eq!(w.terminate(BOUND).map(describe_exit), Ok("killed by signal 15".to_string()));
        assert!(!w.alive() && !children().contains(&pid), "terminated and reaped");
        // A worker that ignores SIGTERM is killed after the limit.
        // (Its answer comes after the trap is set; an ignored signal stays
        // ignored across exec.)
        let mut stubborn = shell_worker(r#"trap '' TERM; read line; echo '{"id": 1, "ok": 1}'; exec sleep 60"#);
        assert_eq!(stubborn.call("echo", json!(1), BOUND), Ok(json!(1)));
        assert_eq!(stubborn.terminate(Duration::from_millis(100)).map(describe_exit), Ok("killed by signal 9".to_string()));
    }

    #[test]
    fn process_raw_lines_show_the_wire() {
        let mut w = worker();
        let reply = w.exchange_line(r#"{"id": 1, "job": "is_prime", "args": {"n": 101}}"#, BOUND).unwrap();
        assert_eq!(reply, r#"{"id":1,"ok":true}"#);
        let reply = w.exchange_line("{not json", BOUND).unwrap();
        assert!(reply.contains(r#""id":null"#) && reply.contains("not JSON"), "{reply}");
        assert_eq!(w.call("echo", json!(3), BOUND), Ok(json!(3)), "ids still line up after raw lines");
    }

    #[test]
    fn process_crash_once_dies_for_the_first_taker_only() {
        let dir = std::env::temp_dir().join(format!("lab-crash-once-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        let job = json!({"token": token, "job": "is_prime", "args": {"n": 1327}});
        let (mut first, mut second) = (worker(), worker());
        let err = first.call("crash_once", job.clone(), BOUND).unwrap_err();
        assert!(err.contains("exited (exit code 70) before answering job `crash_once`"), "{err}");
        assert!(!first.alive());
        assert_eq!(second.call("crash_once", job, BOUND), Ok(json!(true)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn process_worker_binary_is_built_once_per_process() {
        let path = worker_binary().unwrap();
        assert!(path.is_file() && path.ends_with("lab-worker"), "{}", path.display());
        assert_eq!(worker_binary(), Ok(path));
    }

    #[test]
    fn process_a_missing_program_is_explained() {
        let err = Worker::spawn(Command::new("/no/such/worker")).unwrap_err();
        assert!(err.starts_with("could not start the worker program /no/such/worker"), "{err}");
    }
}
