//! Servers built by hand (chapter 18): a handle that runs a server loop on a
//! thread of its own and stops it when dropped ([`Running`]), the framing of
//! lines in a stream of bytes ([`split_lines`], the reference answer of
//! exercise `ch18_line_buffer`, and its judge), and a load generator
//! ([`load`]) that keeps many clients talking to a server at once and
//! reports throughput, latency and every lost or wrong reply.
//!
//! Needs the feature `server` (mio and tokio).

use crate::exercise::{self, Verdict};
use serde::Serialize;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest line the chapter's servers accept, in bytes (without the
/// newline). A client that sends more without a newline gets an error
/// instead of making the server's buffer grow for ever.
pub const MAX_LINE: usize = 1024;

pub use crate::exercises::solutions::ch18_line_buffer::split_lines;

/// Set when a server should stop: its loop checks [`Stop::is_set`] after
/// every accept or wake-up.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Whether the server's handle has been dropped.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A server loop running on a thread of its own, on a listener bound to
/// `127.0.0.1:0`. Dropping the handle sets the [`Stop`] and wakes a loop
/// that waits in `accept` (by connecting to it once); a loop that is busy
/// with a client still connected is left to finish on its own (it then
/// serves nobody new).
pub struct Running {
    addr: SocketAddr,
    stop: Stop,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long dropping a [`Running`] waits for its loop to notice.
const STOP_WAIT: Duration = Duration::from_secs(5);

impl Running {
    /// Binds `127.0.0.1:0` (with room for 1024 waiting connections, like
    /// mio's and tokio's listeners) and runs `serve(listener, stop)` on a
    /// new thread. The listener is blocking; a loop that wants readiness
    /// events calls `set_nonblocking(true)` and hands it to mio.
    pub fn start<F>(serve: F) -> std::io::Result<Running>
    where
        F: FnOnce(TcpListener, Stop) + Send + 'static,
    {
        let listener = bind()?;
        let addr = listener.local_addr()?;
        let stop = Stop::default();
        let for_loop = stop.clone();
        let thread = std::thread::Builder::new().name(format!("server-{}", addr.port())).spawn(move || serve(listener, for_loop))?;
        Ok(Running { addr, stop, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.0.store(true, Ordering::Release);
        // A loop blocked in accept() wakes up, sees the stop, and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(thread) = self.thread.take() {
            let start = Instant::now();
            while !thread.is_finished() && start.elapsed() < STOP_WAIT {
                std::thread::sleep(Duration::from_millis(2));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                eprintln!("the server at {} is still serving a connected client; it accepts nobody new", self.addr);
            }
        }
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server at {}", self.addr)
    }
}

/// A blocking listener on `127.0.0.1:0` with a backlog of 1024 (std's own
/// `bind` asks for 128, and 1000 clients connecting at once would overflow it).
fn bind() -> std::io::Result<TcpListener> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let listener = mio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    // SAFETY: into_raw_fd hands over the only owner of a listening socket,
    // which the std listener now owns and closes.
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
    listener.set_nonblocking(false)?;
    Ok(listener)
}

// --- load -------------------------------------------------------------------------

/// One load run against one server.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    /// The server's name, as given.
    pub server: String,
    /// Clients connected at once.
    pub clients: usize,
    /// Requests sent in all (clients x requests each).
    pub requests: usize,
    /// Requests answered with the right value.
    pub answered: usize,
    /// Requests answered with anything else.
    pub wrong: usize,
    /// Requests never answered (refused, cut off, or not before the limit).
    pub lost: usize,
    /// From the first connect to the last reply.
    pub seconds: f64,
    /// Right answers per second.
    pub per_second: f64,
    /// Time from sending a request to its reply: median and 99th percentile.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The first thing that went wrong, if anything did.
    pub problem: Option<String>,
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<22} {:>5} clients: {:>9.0} replies/s, p50 {:>7.2} ms, p99 {:>8.2} ms, {} right, {} wrong, {} lost",
            self.server, self.clients, self.per_second, self.p50_ms, self.p99_ms, self.answered, self.wrong, self.lost
        )?;
        if let Some(p) = &self.problem {
            write!(f, " ({p})")?;
        }
        Ok(())
    }
}

/// What one client of [`load`] saw.
#[derive(Default)]
struct Seen {
    latencies: Vec<f64>,
    wrong: usize,
    problem: Option<String>,
}

/// One client: `requests` lines `c,i`, each answered before the next is
/// sent (the answer must be c + i), then `quit`.
async fn one_client(addr: SocketAddr, c: usize, requests: usize, pipelined: bool, deadline: tokio::time::Instant) -> Seen {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut seen = Seen::default();
    let stream = match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            seen.problem = Some(format!("a client could not connect: {e}"));
            return seen;
        }
        Err(_) => {
            seen.problem = Some("a client could not connect before the time limit".into());
            return seen;
        }
    };
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let mut writer = Some(writer);
    let batch_sent = Instant::now();
    if pipelined {
        // Everything at once, written by a task of its own while this one
        // reads: a client that wrote everything before reading could fill
        // both directions' buffers and wait for ever on a blocking server.
        let batch: String = (0..requests).map(|i| format!("{c},{i}\n")).chain(std::iter::once("quit\n".to_string())).collect();
        let mut w = writer.take().expect("the writer is still here");
        tokio::spawn(async move {
            let _ = w.write_all(batch.as_bytes()).await;
            w // kept open until the server has answered everything
        });
    }
    for i in 0..requests {
        let sent = if pipelined { batch_sent } else { Instant::now() };
        if let Some(w) = writer.as_mut() {
            if let Err(e) = w.write_all(format!("{c},{i}\n").as_bytes()).await {
                seen.problem = Some(format!("sending failed: {e}"));
                return seen;
            }
        }
        match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(line))) if line == (c + i).to_string() => seen.latencies.push(sent.elapsed().as_secs_f64()),
            Ok(Ok(Some(line))) => {
                seen.wrong += 1;
                seen.problem.get_or_insert(format!("asked {c},{i} and got {line:?}"));
            }
            Ok(Ok(None)) => {
                seen.problem = Some("the server closed a connection before answering".into());
                return seen;
            }
            Ok(Err(e)) => {
                seen.problem = Some(format!("reading failed: {e}"));
                return seen;
            }
            Err(_) => {
                seen.problem = Some("no answer before the time limit".into());
                return seen;
            }
        }
    }
    if let Some(mut w) = writer {
        let _ = w.write_all(b"quit\n").await;
    }
    let _ = tokio::time::timeout_at(deadline, lines.next_line()).await; // "bye"
    seen
}

/// Runs `clients` clients against the calculator server at `addr`, all
/// connected at once, each sending `requests` requests one after another
/// (`c,i`, whose sum is checked); everything stops at `limit`. The clients
/// run as tasks on one thread of their own, the same for every server.
pub fn load(server: &str, addr: SocketAddr, clients: usize, requests: usize, limit: Duration) -> Load {
    run_clients(server, addr, clients, requests, false, limit)
}

/// As [`load`], but each client sends all its requests in one go (a
/// *pipelined* client) and then reads the answers: the round trips no
/// longer set the pace, the server's own work per line does. A request's
/// latency is counted from the moment its client started sending.
pub fn load_pipelined(server: &str, addr: SocketAddr, clients: usize, requests: usize, limit: Duration) -> Load {
    run_clients(server, addr, clients, requests, true, limit)
}

fn run_clients(server: &str, addr: SocketAddr, clients: usize, requests: usize, pipelined: bool, limit: Duration) -> Load {
    let clients = clients.max(1);
    let mut problem = raise_open_files(2 * clients + 64).err();
    let start = Instant::now();
    let seen: Vec<Seen> = crate::tasks::on_one_thread(async move {
        // Every client connects at once: the storm of connects is part of the run.
        let deadline = tokio::time::Instant::now() + limit;
        let tasks: Vec<_> = (0..clients).map(|c| tokio::spawn(one_client(addr, c, requests, pipelined, deadline))).collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap_or_else(|e| Seen { problem: Some(format!("a client failed: {e}")), ..Seen::default() }));
        }
        seen
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = seen.iter().flat_map(|s| s.latencies.iter().copied()).collect();
    latencies.sort_by(f64::total_cmp);
    let answered = latencies.len();
    let wrong: usize = seen.iter().map(|s| s.wrong).sum();
    let total = clients * requests;
    if problem.is_none() {
        problem = seen.iter().find_map(|s| s.problem.clone());
    }
    let at = |q: f64| if latencies.is_empty() { f64::NAN } else { latencies[((latencies.len() - 1) as f64 * q).round() as usize] * 1e3 };
    Load {
        server: server.to_string(),
        clients,
        requests: total,
        answered,
        wrong,
        lost: total - answered - wrong,
        seconds,
        per_second: answered as f64 / seconds,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        problem,
    }
}

/// Raises this process's soft limit on open files to `needed` if it is
/// lower (up to the hard limit): both ends of every connection of a load
/// run live in this process when the server is a notebook's.
fn raise_open_files(needed: usize) -> Result<(), String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit struct that we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err("could not read the limit on open files".into());
    }
    let needed = needed as libc::rlim_t;
    if lim.rlim_cur >= needed {
        return Ok(());
    }
    lim.rlim_cur = needed.min(lim.rlim_max);
    // SAFETY: setrlimit reads one rlimit struct that we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 || lim.rlim_cur < needed {
        return Err(format!("this machine allows {} open files; some clients will fail", lim.rlim_cur));
    }
    Ok(())
}

// --- the judge of ch18_line_buffer --------------------------------------------------

type SplitLines = fn(&mut Vec<u8>, &[u8]) -> Result<Vec<String>, String>;

/// Feeds `reads` one after another to `split`, as one connection would,
/// and returns the lines each call gave (or the first error).
fn feed(split: SplitLines, reads: &[&[u8]]) -> Result<Vec<Vec<String>>, String> {
    let mut pending = Vec::new();
    let mut out = Vec::new();
    for (k, read) in reads.iter().enumerate() {
        let call = format!("read {} of {} ({:?})", k + 1, reads.len(), String::from_utf8_lossy(read));
        match exercise::call(|| split(&mut pending, read)) {
            Err(panic) => return Err(format!("{call}: split_lines panicked: {panic}")),
            Ok(Err(e)) => return Err(format!("{call}: split_lines returned Err({e:?})")),
            Ok(Ok(lines)) => out.push(lines),
        }
    }
    Ok(out)
}

/// The lines whose newline lies in each read: what each call must return.
fn expected(reads: &[&[u8]]) -> Vec<Vec<String>> {
    let mut pending = Vec::new();
    reads
        .iter()
        .map(|read| {
            let mut lines = Vec::new();
            for &b in *read {
                if b == b'\n' {
                    let mut line = std::mem::take(&mut pending);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    lines.push(String::from_utf8(line).expect("the judge's streams are text"));
                } else {
                    pending.push(b);
                }
            }
            lines
        })
        .collect()
}

fn describe(reads: &[&[u8]]) -> String {
    let shown: Vec<String> = reads.iter().map(|r| format!("{:?}", String::from_utf8_lossy(r))).collect();
    let text = shown.join(", ");
    if text.len() > 160 { format!("{} reads, {} bytes in all", reads.len(), reads.iter().map(|r| r.len()).sum::<usize>()) } else { format!("[{text}]") }
}

/// `reads` must give exactly the lines complete in each read.
fn must_split(split: SplitLines, reads: &[&[u8]], why: &str) -> Result<(), String> {
    let want = expected(reads);
    let got = feed(split, reads).map_err(|e| format!("the reads {} ({why}): {e}", describe(reads)))?;
    if got != want {
        let k = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(0);
        return Err(format!(
            "the reads {} ({why}): read {} gave the lines {:?}, want {:?} (each call returns the lines whose newline has arrived, \
             all of them, and keeps the rest)",
            describe(reads),
            k + 1,
            got[k],
            want[k]
        ));
    }
    Ok(())
}

/// `reads` must end in an error, without a panic.
fn must_refuse(split: SplitLines, reads: &[&[u8]], why: &str) -> Result<(), String> {
    let mut pending = Vec::new();
    for read in reads {
        match exercise::call(|| split(&mut pending, read)) {
            Err(panic) => return Err(format!("{} ({why}): split_lines panicked: {panic}", describe(reads))),
            Ok(Err(_)) => return Ok(()),
            Ok(Ok(_)) => {}
        }
    }
    Err(format!("the reads {} ({why}) were accepted; return an Err so the server can answer with an error and close", describe(reads)))
}

/// The judge of `ch18_line_buffer`: `split_lines(pending, incoming)` must
/// return every line completed by `incoming`, however the stream was cut
/// into reads (every cut of a test stream is tried), and refuse lines over
/// [`MAX_LINE`] bytes and lines that are not UTF-8.
pub fn judge_line_buffer(split: SplitLines) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        must_split(split, &[b"1,2\n"], "one line in one read")?;
        must_split(split, &[b"1,2\n3,4\nquit\n"], "three lines in one read: a client that does not wait for answers")?;
        must_split(split, &[b"1,", b"2\n"], "one line in two reads")?;
        // Every way the network could cut this stream into two or three reads.
        let stream = "ab\r\n\ncé,1\nxyz\n".as_bytes();
        let mut cuts = 0;
        for i in 1..stream.len() {
            for j in i..stream.len() {
                let reads: Vec<&[u8]> = if i == j { vec![&stream[..i], &stream[i..]] } else { vec![&stream[..i], &stream[i..j], &stream[j..]] };
                must_split(split, &reads, "the same stream cut in another place")?;
                cuts += 1;
            }
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        must_split(split, &bytes, "one byte per read")?;
        let many = "1,2\n".repeat(600);
        must_split(split, &[many.as_bytes()], "600 short lines in one read: 2400 bytes, but no line is long")?;
        let long_ok = format!("{}\n", "7".repeat(1000));
        must_split(split, &[long_ok.as_bytes()], "a line of 1000 bytes: allowed")?;
        let endless = "8".repeat(3000);
        must_refuse(split, &[endless.as_bytes(), endless.as_bytes()], "6000 bytes and no newline: a client that never ends its line")?;
        let too_long = format!("{}\n", "9".repeat(5000));
        must_refuse(split, &[too_long.as_bytes()], "a line of 5000 bytes")?;
        must_refuse(split, &[b"\xff\xfe\n"], "a line that is not UTF-8")?;
        Ok(format!(
            "lines in one read, pipelined, split across reads ({cuts} cuts of one stream, and one byte at a time, with \\r\\n and a \
             two-byte character), many lines at once, and every too-long or non-UTF-8 line refused without a panic"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(addr: SocketAddr, line: &str) -> String {
        let mut c = exercise::Client::connect(addr, Duration::from_secs(5)).unwrap();
        c.ask(line).unwrap()
    }

    /// A one-at-a-time calculator server, as the notebook writes it.
    fn one_at_a_time(listener: TcpListener, stop: Stop) {
        use std::io::{BufRead, BufReader, Write};
        for stream in listener.incoming() {
            if stop.is_set() {
                break;
            }
            let Ok(stream) = stream else { continue };
            let mut session = crate::calculator::Session::new();
            let mut writer = stream.try_clone().unwrap();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let reply = session.reply(&line);
                let _ = writer.write_all(reply.text().as_bytes());
                if reply == crate::calculator::Reply::Bye {
                    break;
                }
            }
        }
    }

    #[test]
    fn a_running_server_answers_and_stops_when_dropped() {
        let server = Running::start(one_at_a_time).unwrap();
        let addr = server.addr();
        assert_eq!(ask(addr, "1,2"), "3");
        drop(server);
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "still listening after the drop");
    }

    #[test]
    fn load_counts_every_reply() {
        let server = Running::start(one_at_a_time).unwrap();
        let run = load("one at a time", server.addr(), 5, 20, Duration::from_secs(30));
        assert_eq!((run.requests, run.answered, run.wrong, run.lost), (100, 100, 0, 0), "{run}");
        assert!(run.p50_ms <= run.p99_ms && run.per_second > 0.0, "{run}");
    }

    #[test]
    fn pipelined_load_counts_every_reply() {
        let server = Running::start(one_at_a_time).unwrap();
        // 5000 answers per client: more than a socket buffer holds, so a
        // client that did not read while writing would stall this server.
        let run = load_pipelined("one at a time", server.addr(), 3, 5000, Duration::from_secs(60));
        assert_eq!((run.requests, run.answered, run.wrong, run.lost), (15000, 15000, 0, 0), "{run}");
    }

    #[test]
    fn load_reports_lost_replies() {
        // A server that accepts and never answers: every request is lost
        // when the limit comes (the limit only ends the run).
        let server = Running::start(|listener: TcpListener, stop: Stop| {
            let mut keep = Vec::new();
            for s in listener.incoming() {
                if stop.is_set() {
                    break;
                }
                keep.extend(s.ok());
            }
        })
        .unwrap();
        let run = load("silent", server.addr(), 3, 4, Duration::from_millis(300));
        assert_eq!((run.answered, run.wrong, run.lost), (0, 0, 12), "{run}");
        assert!(run.problem.is_some(), "{run}");
    }

    #[test]
    fn split_lines_keeps_the_rest() {
        let mut pending = Vec::new();
        assert_eq!(split_lines(&mut pending, b"1,2\n3,").unwrap(), vec!["1,2"]);
        assert_eq!(pending, b"3,");
        assert_eq!(split_lines(&mut pending, b"4\r\n").unwrap(), vec!["3,4"]);
        assert!(pending.is_empty());
    }
}
