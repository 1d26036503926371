//! The numbers of chapters 5 and 11, against the course's own servers on
//! 127.0.0.1, as medians:
//!
//! - the book's six status codes (130 ms each) one after another, one thread
//!   per URL (ureq), and as async requests (reqwest, `join`): the concurrent
//!   ones against the slowest single request (target: within 1.3x);
//! - five 20 KB pages downloaded and saved one after another and at once
//!   (the book: 1.47 s and 0.72 s);
//! - a tokio echo server (a task per connection, as in exercise 11.1) under
//!   100 concurrent clients, each sending lines one at a time and waiting
//!   for every answer: lines per second, and the median and 99th percentile
//!   of the time to an answer.
//!
//! `cargo run --profile evcxr --example web_bench -p concurrency_lab --features web`
//! (opt-level 2 with debug assertions, as the notebooks build).

use concurrency_lab::channels::Server;
use concurrency_lab::machine::machine;
use concurrency_lab::measure;
use concurrency_lab::tasks::on_workers;
use concurrency_lab::web::{self, WebServer};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const SAMPLES: usize = 7;

fn status(url: &str) -> u16 {
    web::agent(Duration::from_secs(10)).get(url).call().map(|r| r.status().as_u16()).unwrap_or(0)
}

fn requests() {
    let server = WebServer::start().expect("a server");
    let urls = server.book_urls();
    // Each URL alone; the slowest of them is what a concurrent batch cannot beat.
    let alone: Vec<_> = urls.iter().map(|u| measure::measure(1, SAMPLES, || status(u))).collect();
    let single = alone[0].clone();
    let slowest_single = alone.iter().max_by(|a, b| a.median.total_cmp(&b.median)).cloned().expect("six URLs");
    let sequential = measure::measure(1, SAMPLES, || urls.iter().map(|u| status(u)).collect::<Vec<_>>());
    let threaded = measure::measure(1, SAMPLES, || {
        let handles: Vec<_> = urls.iter().cloned().map(|u| std::thread::spawn(move || status(&u))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect::<Vec<_>>()
    });
    let client = reqwest::Client::new();
    let asynchronous = measure::measure(1, SAMPLES, || {
        let (client, urls) = (client.clone(), urls.clone());
        on_workers(2, async move {
            let tasks: Vec<_> = urls
                .into_iter()
                .map(|u| {
                    let client = client.clone();
                    tokio::spawn(async move { client.get(&u).send().await.map(|r| r.status().as_u16()).unwrap_or(0) })
                })
                .collect();
            let mut codes = Vec::new();
            for t in tasks {
                codes.push(t.await.unwrap_or(0));
            }
            codes
        })
    });
    println!("the book's six codes, 130 ms each (the book, against httpstat.us: 0.82 s in order, 0.14 s threaded)");
    println!("  one request                 {single}");
    println!("  slowest of the six, alone   {slowest_single}");
    println!("  one after another           {sequential}");
    println!("  one thread per URL (ureq)   {threaded}");
    println!("  async tasks (reqwest)       {asynchronous}");
    for (name, s) in [("threads", &threaded), ("async", &asynchronous)] {
        println!(
            "  {name}: {:.2}x the slowest single request, {:.1}x faster than one after another",
            s.median / slowest_single.median,
            sequential.median / s.median
        );
    }
}

fn downloads() {
    let server = WebServer::start().expect("a server");
    let folder = std::env::temp_dir().join("concurrency-lab-web-bench");
    std::fs::create_dir_all(&folder).expect("a folder");
    let pages: Vec<(String, std::path::PathBuf)> =
        (1..=5).map(|n| (server.url(&format!("/page/{n}")), folder.join(format!("page-{n}.html")))).collect();
    async fn download(client: reqwest::Client, url: String, path: std::path::PathBuf) -> usize {
        let page = client.get(&url).send().await.expect("a page").text().await.expect("a body");
        tokio::fs::write(&path, &page).await.expect("saved");
        page.len()
    }
    let client = reqwest::Client::new();
    let one_by_one = measure::measure(1, SAMPLES, || {
        let (client, pages) = (client.clone(), pages.clone());
        on_workers(2, async move {
            let mut total = 0;
            for (u, p) in pages {
                total += download(client.clone(), u, p).await;
            }
            total
        })
    });
    let at_once = measure::measure(1, SAMPLES, || {
        let (client, pages) = (client.clone(), pages.clone());
        on_workers(2, async move {
            let tasks: Vec<_> = pages.into_iter().map(|(u, p)| tokio::spawn(download(client.clone(), u, p))).collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.expect("a download");
            }
            total
        })
    });
    println!("five 20 KB pages, downloaded and saved (the book: 1.47 s one after another, 0.72 s at once)");
    println!("  one after another           {one_by_one}");
    println!("  at once                     {at_once}");
    println!("  {:.1}x faster at once", one_by_one.median / at_once.median);
}

async fn echo(stream: TcpStream) {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if writer.write_all(format!("echo: {line}\n").as_bytes()).await.is_err() {
            break;
        }
    }
}

fn echo_server() {
    const CLIENTS: usize = 100;
    const LINES: usize = 200;
    let server = Server::start(|listener: TcpListener| async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(echo(stream));
        }
    })
    .expect("a server");
    let addr = server.addr();
    let (latencies, wall, wrong) = on_workers(2, async move {
        let clock = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                tokio::spawn(async move {
                    let stream = TcpStream::connect(addr).await.expect("connected");
                    let (reader, mut writer) = stream.into_split();
                    let mut lines = BufReader::new(reader).lines();
                    let (mut times, mut wrong) = (Vec::with_capacity(LINES), 0);
                    for i in 0..LINES {
                        let t = Instant::now();
                        writer.write_all(format!("{c}-{i}\n").as_bytes()).await.expect("sent");
                        let reply = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await;
                        match reply {
                            Ok(Ok(Some(line))) if line == format!("echo: {c}-{i}") => {}
                            _ => wrong += 1,
                        }
                        times.push(t.elapsed().as_secs_f64());
                    }
                    (times, wrong)
                })
            })
            .collect();
        let (mut all, mut wrong) = (Vec::new(), 0);
        for c in clients {
            let (times, w) = c.await.expect("a client");
            all.extend(times);
            wrong += w;
        }
        (all, clock.elapsed().as_secs_f64(), wrong)
    });
    let mut sorted = latencies.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    println!("echo server (a tokio task per connection) and {CLIENTS} clients at once, {LINES} lines each, one at a time");
    println!(
        "  {} lines in {wall:.2} s: {:.0} lines/s; time to an answer: median {}, p99 {}; wrong or lost answers: {wrong}",
        latencies.len(),
        latencies.len() as f64 / wall,
        measure::seconds(pct(0.5)),
        measure::seconds(pct(0.99))
    );
}

fn main() {
    println!("machine: {}", machine());
    requests();
    downloads();
    echo_server();
}
