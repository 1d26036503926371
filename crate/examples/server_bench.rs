//! Chapter 18's servers under load: a one-at-a-time blocking server, a
//! thread per client, a readiness loop with mio, tokio, and the CPython
//! `select` server, each against 1, 10, 100 and 1000 clients at once
//! (every client sends its requests one after another and checks each
//! reply), then 100 pipelined clients (each sends all its requests at once). Prints throughput and latency (medians of 3 runs) and the
//! ratio of each server's throughput to the Python server's.
//!
//!     cargo run --profile evcxr --example server_bench -p concurrency_lab --all-features [-- total]
//!
//! The servers are the notebook's, as written there.

use concurrency_lab::calculator::{Reply, Session};
use concurrency_lab::channels::Server;
use concurrency_lab::mio::net::TcpListener as MioListener;
use concurrency_lab::mio::{Events, Interest, Poll, Token};
use concurrency_lab::server::{self, split_lines, Load, Running, Stop};
use concurrency_lab::tokio;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

fn serve_client(stream: TcpStream) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut session = Session::new();
    for line in BufReader::new(stream).lines() {
        let reply = session.reply(&line?);
        writer.write_all(reply.text().as_bytes())?;
        if reply == Reply::Bye {
            break;
        }
    }
    Ok(())
}

fn one_at_a_time(listener: TcpListener, stop: Stop) {
    for stream in listener.incoming() {
        if stop.is_set() {
            break;
        }
        if let Ok(stream) = stream {
            let _ = serve_client(stream);
        }
    }
}

fn thread_per_client(listener: TcpListener, stop: Stop) {
    for stream in listener.incoming() {
        if stop.is_set() {
            break;
        }
        if let Ok(stream) = stream {
            std::thread::spawn(move || serve_client(stream));
        }
    }
}

struct Conn {
    stream: concurrency_lab::mio::net::TcpStream,
    pending: Vec<u8>,
    outbox: Vec<u8>,
    session: Session,
    closing: bool,
}

fn serve_ready(conn: &mut Conn) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    while !conn.closing {
        match conn.stream.read(&mut buf) {
            Ok(0) => conn.closing = true,
            Ok(n) => match split_lines(&mut conn.pending, &buf[..n]) {
                Ok(lines) => {
                    for line in lines {
                        let reply = conn.session.reply(&line);
                        conn.outbox.extend_from_slice(reply.text().as_bytes());
                        if reply == Reply::Bye {
                            conn.closing = true;
                            break;
                        }
                    }
                }
                Err(why) => {
                    conn.outbox.extend_from_slice(format!("error: {why}\n").as_bytes());
                    conn.closing = true;
                }
            },
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    while !conn.outbox.is_empty() {
        match conn.stream.write(&conn.outbox) {
            Ok(n) => {
                conn.outbox.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

const LISTENER: Token = Token(0);

fn readiness_loop(listener: TcpListener, stop: Stop) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = MioListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next = 1;
    while !stop.is_set() {
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let token = Token(next);
                    next += 1;
                    poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
                    conns.insert(token, Conn { stream, pending: Vec::new(), outbox: Vec::new(), session: Session::new(), closing: false });
                }
            } else if let Some(conn) = conns.get_mut(&event.token()) {
                let failed = serve_ready(conn).is_err();
                if failed || (conn.closing && conn.outbox.is_empty()) {
                    if let Some(mut gone) = conns.remove(&event.token()) {
                        let _ = poll.registry().deregister(&mut gone.stream);
                    }
                }
            }
        }
    }
    Ok(())
}

async fn serve_tokio(listener: tokio::net::TcpListener) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let (reader, mut writer) = stream.into_split();
            let mut lines = tokio::io::BufReader::new(reader).lines();
            let mut session = Session::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = session.reply(&line);
                if writer.write_all(reply.text().as_bytes()).await.is_err() || reply == Reply::Bye {
                    break;
                }
            }
        });
    }
}

fn median(mut runs: Vec<Load>) -> Load {
    runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    runs.swap_remove(runs.len() / 2)
}

fn main() {
    let total: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let py = concurrency_lab::cpython::find();
    println!("{} cores; {total} requests per run, medians of 3 runs", concurrency_lab::machine::machine().cores);
    // (clients, pipelined): clients that wait for each answer, then 100
    // pipelined clients (all requests sent at once: the server's own work sets the pace).
    let levels = [(1, false), (10, false), (100, false), (1000, false), (100, true)];
    let mut python_rate = HashMap::new();
    let kinds = ["python select", "one at a time", "thread per client", "mio readiness loop", "tokio"];
    for kind in kinds {
        for &(clients, pipelined) in &levels {
            let requests = (total / clients).max(5);
            let runs: Vec<Load> = (0..3)
                .filter_map(|_| {
                    // A fresh server each run; each handle stops its server when dropped.
                    let (addr, _keep): (SocketAddr, Box<dyn std::any::Any>) = match kind {
                        "python select" => {
                            let s = py.as_ref().ok()?.select_server().ok()?;
                            (s.addr(), Box::new(s))
                        }
                        "one at a time" => {
                            let s = Running::start(one_at_a_time).ok()?;
                            (s.addr(), Box::new(s))
                        }
                        "thread per client" => {
                            let s = Running::start(thread_per_client).ok()?;
                            (s.addr(), Box::new(s))
                        }
                        "mio readiness loop" => {
                            let s = Running::start(|l, stop| {
                                if let Err(e) = readiness_loop(l, stop) {
                                    eprintln!("the readiness loop stopped: {e}");
                                }
                            })
                            .ok()?;
                            (s.addr(), Box::new(s))
                        }
                        _ => {
                            let s = Server::start(serve_tokio).ok()?;
                            (s.addr(), Box::new(s))
                        }
                    };
                    let limit = Duration::from_secs(60);
                    Some(if pipelined {
                        server::load_pipelined(kind, addr, clients, requests, limit)
                    } else {
                        server::load(kind, addr, clients, requests, limit)
                    })
                })
                .collect();
            if runs.is_empty() {
                println!("{kind}: could not start");
                continue;
            }
            let run = median(runs);
            if kind == "python select" {
                python_rate.insert((clients, pipelined), run.per_second);
            }
            let ratio = python_rate.get(&(clients, pipelined)).map(|p| format!("  {:.1}x Python", run.per_second / p)).unwrap_or_default();
            println!("{}{run}{ratio}", if pipelined { "pipelined " } else { "" });
        }
    }
}
