//! Channels between programs and inside one (chapter 11): a server on a
//! thread and a runtime of its own that stops when its handle drops (the
//! notebook's own async code runs on [`crate::tasks::on_workers`]), and the judges of a TCP echo server, checked over real
//! sockets on 127.0.0.1, and of a pipeline of bounded channels, whose
//! backpressure is counted.
//!
//! Needs the feature `async` (tokio).

use crate::exercise::{self, Verdict};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long a check waits for one reply, or for the end of a connection.
/// It only stops a hang: no verdict depends on how fast right code is.
pub const REPLY_LIMIT: Duration = Duration::from_secs(5);

/// A server on `127.0.0.1:0`, running `serve(listener)` on a thread and a
/// tokio runtime of its own until the handle is dropped: then it stops at
/// once (connections still open are cut off) and its port is free again.
/// Running a notebook cell again replaces the old server instead of
/// leaving it to serve into later cells.
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start<F, Fut>(serve: F) -> std::io::Result<Server>
    where
        F: FnOnce(TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(format!("server-{}", addr.port())).spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => tokio::select! {
                        _ = serve(listener) => {}
                        _ = stopped => {}
                    },
                    Err(e) => eprintln!("the server at {addr} could not start: {e}"),
                }
            });
            // Connections still being served are cut off: their tasks are dropped.
            runtime.shutdown_timeout(Duration::from_millis(500));
        })?;
        Ok(Server { addr, stop: Some(stop), thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server at {}", self.addr)
    }
}

// --- the echo server's check -------------------------------------------------------

/// One client of the check, with every wait bounded by [`REPLY_LIMIT`].
struct Client {
    name: &'static str,
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr, name: &'static str) -> Result<Client, String> {
        let stream = tokio::time::timeout(REPLY_LIMIT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("client {name} could not connect within {REPLY_LIMIT:?}"))?
            .map_err(|e| format!("client {name} could not connect: {e}"))?;
        let (reader, writer) = stream.into_split();
        Ok(Client { name, lines: BufReader::new(reader).lines(), writer })
    }

    async fn send(&mut self, text: &str) -> Result<(), String> {
        self.writer.write_all(text.as_bytes()).await.map_err(|e| format!("client {} could not send {text:?}: {e}", self.name))
    }

    /// The next line from the server; `context` says what was going on.
    async fn line(&mut self, context: &str) -> Result<String, String> {
        let name = self.name;
        match tokio::time::timeout(REPLY_LIMIT, self.lines.next_line()).await {
            Err(_) => Err(format!("{context}: client {name} got no answer within {REPLY_LIMIT:?}")),
            Ok(Err(e)) => Err(format!("{context}: client {name} could not read: {e}")),
            Ok(Ok(None)) => Err(format!("{context}: your server closed client {name}'s connection instead of answering")),
            Ok(Ok(Some(line))) => Ok(line),
        }
    }

    async fn expect(&mut self, want: &str, context: &str) -> Result<(), String> {
        let got = self.line(context).await?;
        if got == want {
            Ok(())
        } else {
            Err(format!("{context}: client {} got {got:?}, want {want:?}", self.name))
        }
    }

    /// The server must close the connection (the client reads its end).
    async fn expect_closed(&mut self, context: &str) -> Result<(), String> {
        let name = self.name;
        match tokio::time::timeout(REPLY_LIMIT, self.lines.next_line()).await {
            Err(_) => Err(format!("{context}: client {name}'s connection was still open {REPLY_LIMIT:?} later: close it")),
            Ok(Ok(Some(line))) => Err(format!("{context}: client {name} got {line:?}, want the connection closed")),
            Ok(Ok(None)) | Ok(Err(_)) => Ok(()),
        }
    }
}

/// The conversation of [`judge_echo_server`].
async fn talk(addr: SocketAddr) -> Result<String, String> {
    // A stays connected with half a line while B talks: one client at a
    // time would leave B waiting for ever.
    let mut a = Client::connect(addr, "A").await?;
    a.send("hel").await?;
    let mut b = Client::connect(addr, "B").await?;
    b.send("hi\n").await?;
    b.expect("echo: hi", "B sent \"hi\" while A was connected and had sent half a line (\"hel\"); \
                          a server that serves one client at a time never gets to B: give each connection a task of its own")
        .await?;
    a.send("lo\n").await?;
    a.expect("echo: hello", "A finished its line: \"hel\", then \"lo\\n\" in a second write").await?;
    a.send("\n").await?;
    a.expect("echo: ", "A sent an empty line").await?;
    a.send("quit\n").await?;
    a.expect("bye", "A sent \"quit\"").await?;
    a.expect_closed("A sent \"quit\" and got \"bye\"").await?;

    // Several lines in one write: each line is answered on its own, and
    // nothing after "quit".
    let mut c = Client::connect(addr, "C").await?;
    c.send("a\nb\nquit\nc\n").await?;
    let context = "C sent \"a\\nb\\nquit\\nc\\n\" in one write (read lines, not whatever one read returns)";
    c.expect("echo: a", context).await?;
    c.expect("echo: b", context).await?;
    c.expect("bye", context).await?;
    c.expect_closed(context).await?;

    // A client that stops sending (closes its half) without "quit".
    b.writer.shutdown().await.map_err(|e| format!("client B could not close its side: {e}"))?;
    b.expect_closed("B closed its side of the connection without \"quit\" (reading gives 0 bytes: end of input)").await?;

    // Many at once.
    let mut clients = Vec::new();
    for k in 0..20 {
        clients.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, "one of 20").await?;
            for i in 0..3 {
                c.send(&format!("{k}-{i}\n")).await?;
                c.expect(&format!("echo: {k}-{i}"), &format!("20 clients at once; client {k} sent \"{k}-{i}\"")).await?;
            }
            c.send("quit\n").await?;
            c.expect("bye", "20 clients at once").await?;
            c.expect_closed("20 clients at once").await
        }));
    }
    for c in clients {
        c.await.map_err(|e| format!("a client of the check failed: {e}"))??;
    }
    let mut d = Client::connect(addr, "D").await?;
    d.send("still there?\n").await?;
    d.expect("echo: still there?", "after all that, a new client").await?;
    Ok("clients served at the same time (one with half a line), lines answered one by one also when they arrive \
        together, \"quit\" answered with \"bye\" and the connection closed, a client's end of input closing its \
        connection, 20 clients at once, and still accepting afterwards"
        .to_string())
}

/// The judge of `ch11_echo_server`: `serve(listener)` accepts clients for
/// ever and answers each line `line` with `echo: line`; `quit` gets `bye`
/// and the connection is closed; a client that closes its side gets its
/// connection closed too. The check talks to it over real sockets.
pub fn judge_echo_server<F, Fut>(serve: F) -> Verdict
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    exercise::run_async(Duration::from_secs(60), move || async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("could not bind 127.0.0.1:0: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut server = tokio::spawn(serve(listener));
        let ended = tokio::select! {
            outcome = talk(addr) => match outcome {
                Ok(what) => return Ok(what),
                // A server that panicked explains a failed conversation better than
                // the conversation does (its task reports a moment after the panic
                // closed the listener, which is what made the conversation fail).
                Err(why) => match tokio::time::timeout(Duration::from_secs(1), &mut server).await {
                    Ok(ended) => ended,
                    Err(_) => return Err(why),
                },
            },
            ended = &mut server => ended,
        };
        match ended {
            // `joined` raises a todo!() again: the check reads "not solved yet".
            Err(e) if e.is_panic() => Err(format!("your server panicked: {}", exercise::joined(e.into_panic()))),
            _ => Err("your server returned while the check's clients were still talking to it: keep accepting connections".to_string()),
        }
    })
}

// --- the pipeline's check ----------------------------------------------------------

/// Sends numbers without reading the output until the pipeline stops
/// accepting them: on a one-thread runtime, a `Full` that persists while
/// every other task had its turns (`yield_now`) means no task can move.
/// Returns how many were accepted (at most `most`).
async fn fill(tx: &mpsc::Sender<u64>, most: u64) -> Result<u64, String> {
    let (mut accepted, mut full_turns) = (0, 0);
    while accepted < most && full_turns < 100 {
        match tx.try_send(accepted) {
            Ok(()) => {
                accepted += 1;
                full_turns = 0;
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                full_turns += 1;
                tokio::task::yield_now().await;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(format!("the input closed after {accepted} numbers, while the output was still there to be read"));
            }
        }
    }
    Ok(accepted)
}

async fn recv(rx: &mut mpsc::Receiver<u64>, context: &str) -> Result<Option<u64>, String> {
    tokio::time::timeout(REPLY_LIMIT, rx.recv())
        .await
        .map_err(|_| format!("{context}: no number and no end of the output within {REPLY_LIMIT:?}"))
}

/// The judge of `ch11_pipeline`: `pipeline(capacity)` returns the input
/// of a stage that squares each number and the output it sends them to,
/// both channels bounded by `capacity`. The stage ends when its input is
/// closed (then the output ends after the last number) or when nobody reads
/// the output any more (then the input closes, and senders see an error).
///
/// It runs on a tokio runtime with one thread, so "nobody can move any
/// more" can be seen for sure: backpressure is counted, not timed.
pub fn judge_pipeline(pipeline: fn(usize) -> (mpsc::Sender<u64>, mpsc::Receiver<u64>)) -> Verdict {
    exercise::run(Duration::from_secs(60), move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("could not start a tokio runtime for the check: {e}"))?;
        let outcome = runtime.block_on(async move {
            // Squares, in order, and the end of the output after the end of the input.
            let (tx, mut rx) = exercise::call(|| pipeline(4)).map_err(|m| format!("pipeline(4) panicked: {m}"))?;
            let producer = tokio::spawn(async move {
                for n in 1..=50u64 {
                    if tx.send(n).await.is_err() {
                        return Err(format!("the pipeline refused {n}: its input closed while the output was being read"));
                    }
                }
                Ok(()) // `tx` dropped here: the input is closed
            });
            let mut got = Vec::new();
            let context = "1 to 50 sent into pipeline(4), then the input closed, while the output was read";
            while let Some(x) = recv(&mut rx, context).await? {
                got.push(x);
                if got.len() > 50 {
                    break;
                }
            }
            producer.await.map_err(|e| format!("the check's producer failed: {e}"))??;
            let want: Vec<u64> = (1..=50u64).map(|n| n * n).collect();
            if got != want {
                return Err(format!("{context}: the output was {got:?}, want the squares in order: {want:?}"));
            }

            // Backpressure: nobody reads the output.
            let capacity = 8;
            let (tx, mut rx) = exercise::call(|| pipeline(capacity)).map_err(|m| format!("pipeline(8) panicked: {m}"))?;
            let accepted = fill(&tx, 1000).await?;
            let most = 2 * capacity as u64 + 1;
            if accepted > most {
                return Err(format!(
                    "pipeline(8) accepted {accepted} numbers while nobody read its output: no backpressure. With both channels \
                     bounded by 8, at most {most} fit (8 waiting in each channel, 1 in the stage's hands); then `send` must wait"
                ));
            }
            if accepted < capacity as u64 {
                return Err(format!("pipeline(8) accepted only {accepted} numbers before it was full: its input channel holds fewer than 8"));
            }
            drop(tx);
            let mut rest = Vec::new();
            while let Some(x) = recv(&mut rx, "after the input was closed, the numbers still inside").await? {
                rest.push(x);
            }
            let want: Vec<u64> = (0..accepted).map(|n| n * n).collect();
            if rest != want {
                return Err(format!("pipeline(8) accepted 0 to {}, and then gave {rest:?}: want {want:?}", accepted - 1));
            }

            // Nobody reads: the stage must stop, and the input close.
            let (tx, rx) = exercise::call(|| pipeline(2)).map_err(|m| format!("pipeline(2) panicked: {m}"))?;
            drop(rx);
            let accepted = fill(&tx, 1000).await;
            match accepted {
                Err(_) => {}
                Ok(n) => {
                    return Err(format!(
                        "pipeline(2) with its output dropped (nobody will ever read it) still accepted {n} numbers and \
                         kept its input open: when `send` on the output fails, the stage should stop"
                    ))
                }
            }
            Ok(format!(
                "squares in order, the output ended after the input, at most {most} numbers accepted by pipeline(8) when nobody \
                 read (backpressure), everything inside delivered after the input closed, and the stage stopped when its output \
                 was dropped"
            ))
        });
        runtime.shutdown_background();
        outcome
    })
}
