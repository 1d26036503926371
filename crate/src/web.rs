//! A web of our own for chapters 5 and 11: a real HTTP server on
//! `127.0.0.1:0` (axum, on its own thread and tokio runtime), standing in for
//! the public test sites the book calls, and the judges of chapter 5.
//!
//! [`WebServer::start`] answers
//! - `GET /{status}`: that status, the body `"{status} {reason phrase}"`,
//!   after the server's latency (130 ms unless started
//!   [`WebServer::with_latency`]); `?sleep=ms` sets the delay instead, up
//!   to a minute (like httpstat.us);
//! - `GET /page/{n}`: page `n`, about 20 KB of HTML, after the latency;
//! - `GET /flaky/{key}?fail=k&status=s`: `s` (503 unless given) to the first
//!   `k` requests for `key`, then 200;
//! - `GET /gate/{key}?n=n&rank=r&status=s`: held until all `n` requests of
//!   the gate `key` have arrived and those of lower rank have been
//!   answered, then `s` (200 unless given): the server decides the order
//!   of the answers, so a check need not hope for an order;
//! - `GET /hold/{key}`: held until [`WebServer::release`]`(key)`, then 200;
//! - anything else: 404 with a line that says why.
//!
//! It counts what a well-mannered client cares about: requests in flight
//! now, the most at once ([`WebServer::peak_in_flight`]) and requests
//! answered. No request waits longer than a minute. It is a
//! [`Server`](crate::channels::Server): its own thread and runtime, its own
//! port (re-running a cell never meets `AddrInUse`), stopped at once when
//! the handle drops (requests still waiting are cut off).

use crate::channels::Server;
use crate::exercise::{self, Verdict};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The delay of every `/{status}` and `/page/{n}` answer unless started
/// otherwise: six requests one after another then take about 0.8 s, the
/// book's sequential time against httpstat.us.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(130);

/// The longest any request is held (`?sleep`, gates, holds).
pub const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// The status codes the book pings.
pub const BOOK_CODES: [u16; 6] = [200, 400, 404, 408, 500, 524];

/// About how many bytes a `/page/{n}` has.
pub const PAGE_BYTES: usize = 20_000;

/// A running server. Dropping it stops the server.
pub struct WebServer {
    server: Server,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    latency: Duration,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    answered: AtomicUsize,
    // Everything a held request waits on changes under this lock, and
    // `changed` wakes the waiters to look again.
    waits: Mutex<Waits>,
    changed: Notify,
}

#[derive(Default)]
struct Waits {
    flaky: HashMap<String, usize>,
    gates: HashMap<String, Gate>,
    released: HashSet<String>,
    arrivals: Vec<(String, Instant)>,
}

#[derive(Default)]
struct Gate {
    arrived: usize,
    answered: HashSet<usize>,
}

/// Counts a request in flight for as long as it lives (also when the
/// client hangs up and the handler is dropped).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(shared: &Arc<Shared>) -> InFlight {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WebServer {
    /// Starts a server with the default latency (130 ms).
    pub fn start() -> std::io::Result<WebServer> {
        WebServer::with_latency(DEFAULT_LATENCY)
    }

    /// Starts a server whose `/{status}` and `/page/{n}` answers wait `latency`.
    pub fn with_latency(latency: Duration) -> std::io::Result<WebServer> {
        let shared = Arc::new(Shared { latency, ..Shared::default() });
        let app = router(shared.clone());
        let server = Server::start(move |listener| async move {
            let _ = axum::serve(listener, app).await;
        })?;
        Ok(WebServer { server, shared })
    }

    /// `http://127.0.0.1:{port}`
    pub fn base(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The full URL of `path` on this server: `server.url("/404")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }

    /// The URLs of the book's six status codes, in the book's order.
    pub fn book_urls(&self) -> Vec<String> {
        BOOK_CODES.iter().map(|c| self.url(&format!("/{c}"))).collect()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests in flight at once since the start or the last
    /// [`reset_peak`](Self::reset_peak).
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Starts counting the peak afresh (from the requests in flight now).
    pub fn reset_peak(&self) {
        self.shared.peak.store(self.in_flight(), Ordering::SeqCst);
    }

    /// Requests answered so far (any status).
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Lets every request held at `/hold/{key}` (now or later) be answered.
    pub fn release(&self, key: &str) {
        self.shared.waits.lock().unwrap_or_else(|e| e.into_inner()).released.insert(key.to_string());
        self.shared.changed.notify_waiters();
    }

    /// When each request for a path under `/flaky/{key}` or `/gate/{key}`
    /// arrived, in arrival order.
    pub fn arrivals(&self, key: &str) -> Vec<Instant> {
        let waits = self.shared.waits.lock().unwrap_or_else(|e| e.into_inner());
        waits.arrivals.iter().filter(|(k, _)| k == key).map(|(_, t)| *t).collect()
    }
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebServer at {} ({} in flight, {} answered)", self.base(), self.in_flight(), self.answered())
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{status}", get(status))
        .route("/page/{n}", get(page))
        .route("/flaky/{key}", get(flaky))
        .route("/gate/{key}", get(gate))
        .route("/hold/{key}", get(hold))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 Not Found: this server answers /{status}, /page/{n}, /flaky/{key}, /gate/{key} and /hold/{key}\n") })
        .with_state(shared)
}

type Params = Query<HashMap<String, String>>;

/// A request the server refuses: the status and why.
type Refusal = (u16, String);

fn refused((code, why): Refusal) -> Response {
    answer(code, &why)
}

/// A query parameter as a number, or a 400 that says what is wrong.
fn number<T: std::str::FromStr>(params: &HashMap<String, String>, name: &str, default: T) -> Result<T, Refusal> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| (400, format!("?{name}={v} is not a number"))),
    }
}

fn status_code(code: u16) -> Result<StatusCode, Refusal> {
    match StatusCode::from_u16(code) {
        Ok(s) if (200..=599).contains(&code) => Ok(s),
        _ => Err((400, format!("{code} is not a status code this server sends (200 to 599)"))),
    }
}

/// The answer with this status, its reason phrase, and `note` if any.
fn answer(code: u16, note: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Unknown");
    let body = if note.is_empty() { format!("{code} {reason}\n") } else { format!("{code} {reason}: {note}\n") };
    (status, body).into_response()
}

fn answered(shared: &Shared, response: Response) -> Response {
    shared.answered.fetch_add(1, Ordering::SeqCst);
    response
}

async fn status(State(shared): State<Arc<Shared>>, Path(code): Path<String>, Query(params): Params) -> Response {
    let _counted = InFlight::new(&shared);
    let response = async {
        let code: u16 = code.parse().map_err(|_| (404, format!("/{code} is not a status code")))?;
        status_code(code)?;
        let sleep = match params.get("sleep") {
            None => shared.latency,
            Some(_) => Duration::from_millis(number(&params, "sleep", 0u64)?).min(LONGEST_WAIT),
        };
        tokio::time::sleep(sleep).await;
        Ok::<_, Refusal>(answer(code, ""))
    }
    .await;
    answered(&shared, response.unwrap_or_else(refused))
}

/// Page `n`: about [`PAGE_BYTES`] of HTML, the same every time.
pub fn page_text(n: u32) -> String {
    let mut html = format!("<!doctype html>\n<html><head><title>Page {n}</title></head><body>\n<h1>Page {n}</h1>\n");
    let mut line = 0;
    while html.len() < PAGE_BYTES {
        line += 1;
        html.push_str(&format!("<p>Page {n}, paragraph {line}: a line of text served by the course's own server, to be downloaded and saved.</p>\n"));
    }
    html.push_str("</body></html>\n");
    html
}

async fn page(State(shared): State<Arc<Shared>>, Path(n): Path<String>) -> Response {
    let _counted = InFlight::new(&shared);
    let response = match n.parse::<u32>() {
        Ok(n) => {
            tokio::time::sleep(shared.latency).await;
            ([("content-type", "text/html; charset=utf-8")], page_text(n)).into_response()
        }
        Err(_) => answer(404, &format!("/page/{n}: pages are numbered")),
    };
    answered(&shared, response)
}

async fn flaky(State(shared): State<Arc<Shared>>, Path(key): Path<String>, Query(params): Params) -> Response {
    let _counted = InFlight::new(&shared);
    let response = (|| {
        let fail: usize = number(&params, "fail", 0)?;
        let code: u16 = number(&params, "status", 503)?;
        status_code(code)?;
        let mut waits = shared.waits.lock().unwrap_or_else(|e| e.into_inner());
        waits.arrivals.push((key.clone(), Instant::now()));
        let seen = waits.flaky.entry(key.clone()).or_default();
        *seen += 1;
        Ok::<_, Refusal>(if *seen <= fail { answer(code, &format!("attempt {seen} of {key}")) } else { answer(200, &format!("attempt {seen} of {key}")) })
    })();
    answered(&shared, response.unwrap_or_else(refused))
}

/// Waits until `ready` says yes (looked at under the lock after every
/// change), or [`LONGEST_WAIT`]; true if ready.
async fn wait_until(shared: &Shared, ready: impl Fn(&mut Waits) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + LONGEST_WAIT;
    loop {
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable(); // registered before looking: no change is missed
        if ready(&mut shared.waits.lock().unwrap_or_else(|e| e.into_inner())) {
            return true;
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return false;
        }
    }
}

async fn gate(State(shared): State<Arc<Shared>>, Path(key): Path<String>, Query(params): Params) -> Response {
    let _counted = InFlight::new(&shared);
    let response = async {
        let n: usize = number(&params, "n", 1)?;
        let rank: usize = number(&params, "rank", 0)?;
        let code: u16 = number(&params, "status", 200)?;
        status_code(code)?;
        {
            let mut waits = shared.waits.lock().unwrap_or_else(|e| e.into_inner());
            waits.arrivals.push((key.clone(), Instant::now()));
            waits.gates.entry(key.clone()).or_default().arrived += 1;
        }
        shared.changed.notify_waiters();
        let opened = wait_until(&shared, |w| {
            let g = w.gates.entry(key.clone()).or_default();
            g.arrived >= n && (0..rank).all(|r| g.answered.contains(&r))
        })
        .await;
        if !opened {
            return Err((504, format!("gate {key} gave up after {LONGEST_WAIT:?}")));
        }
        shared.waits.lock().unwrap_or_else(|e| e.into_inner()).gates.entry(key.clone()).or_default().answered.insert(rank);
        shared.changed.notify_waiters();
        Ok::<_, Refusal>(answer(code, &format!("rank {rank} of gate {key}")))
    }
    .await;
    answered(&shared, response.unwrap_or_else(refused))
}

async fn hold(State(shared): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    let _counted = InFlight::new(&shared);
    let response = if wait_until(&shared, |w| w.released.contains(&key)).await {
        answer(200, &format!("{key} released"))
    } else {
        answer(504, &format!("{key} was never released"))
    };
    answered(&shared, response)
}

// --- exercises -------------------------------------------------------------------

/// An agent that returns every status as an answer (ureq's default turns
/// 4xx and 5xx into errors) and gives up after `limit`: what the judges use
/// to see the server as a learner's code does.
pub fn agent(limit: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(limit)).build().into()
}

/// A URL on 127.0.0.1 where nothing listens: a refused connection. Port 1
/// (a privileged port no test or notebook listens on), not a port freed a
/// moment ago, which a test running beside this one could take.
fn refused_url() -> Result<String, String> {
    Ok("http://127.0.0.1:1/200".to_string())
}

fn url_names(urls: &[String]) -> Vec<String> {
    urls.iter().map(|u| u.split_once("127.0.0.1:").map(|(_, rest)| rest.split_once('/').map_or(rest, |p| p.1)).unwrap_or(u).to_string()).map(|p| format!("/{p}")).collect()
}

/// Runs `fetch_all(urls, deadline)` on a thread of its own and waits for it
/// until `grace` after the deadline: `Ok(None)` if it had not returned by then.
fn fetch_bounded(
    fetch_all: fn(&[String], Duration) -> Vec<Option<u16>>,
    urls: &[String],
    deadline: Duration,
    grace: Duration,
) -> Result<Option<Vec<Option<u16>>>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = urls.to_vec();
    std::thread::Builder::new()
        .name("fetch_all".into())
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fetch_all(&owned, deadline))));
        })
        .map_err(|e| format!("could not start a thread for fetch_all: {e}"))?;
    match rx.recv_timeout(deadline + grace) {
        Ok(Ok(got)) => Ok(Some(got)),
        // `joined` raises a `todo!()` again here, so the check reads "not solved yet".
        Ok(Err(panic)) => Err(format!("fetch_all({} URLs, {deadline:?}) panicked: {}", urls.len(), exercise::joined(panic))),
        Err(_) => Ok(None),
    }
}

/// Compares what `fetch_all` returned with what it should have, URL by URL.
fn compare(case: &str, urls: &[String], got: &[Option<u16>], want: &[Option<u16>]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{case}: {} URLs, and you returned {} results: {got:?}; want one per URL, in the URLs' order: {want:?}", urls.len(), got.len()));
    }
    let answers = |v: &[Option<u16>]| {
        let mut a: Vec<u16> = v.iter().flatten().copied().collect();
        a.sort_unstable();
        a
    };
    if got != want && answers(got) == answers(want) {
        return Err(format!(
            "{case}: you returned {got:?}, want {want:?}: the right answers, in the wrong places. \
             Collected in the order they arrived (finish order)? Each answer belongs at its URL's index"
        ));
    }
    let names = url_names(urls);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            let said = match w {
                Some(code) if *code >= 400 => format!("the server answered {code} (an error status is an answer too)"),
                Some(code) => format!("the server answered {code}"),
                None => "the server had not answered it by the deadline".to_string(),
            };
            return Err(format!("{case}: URL {i} ({}): you gave {g:?} and {said}: want {w:?}. All you returned: {got:?}; want {want:?}", names[i]));
        }
    }
    Ok(())
}

/// The judge of `ch05_deadline`: `fetch_all(urls, deadline)` requests every
/// URL at the same time and returns, by the deadline, one result per URL in
/// the URLs' order: `Some(status)` for a URL answered in time (whatever the
/// status), `None` for one that was not (or failed).
///
/// The server decides the order of the answers: five requests to a gate are
/// answered only once all five have arrived (the last URL first), so
/// requests sent one at a time stall. Two URLs are held until `fetch_all`
/// has returned, so waiting for every request never returns (stopped 15 s
/// after the deadline), and answers put in the order they arrived land in
/// the wrong places whatever the order among the others: the held URLs'
/// places are not at the end.
pub fn judge_deadline(fetch_all: fn(&[String], Duration) -> Vec<Option<u16>>) -> Verdict {
    exercise::run(Duration::from_secs(120), move || {
        let grace = Duration::from_secs(15);
        let server = WebServer::with_latency(Duration::from_millis(20)).map_err(|e| format!("could not start the test server: {e}"))?;

        let none = fetch_bounded(fetch_all, &[], Duration::from_secs(1), grace)?
            .ok_or("fetch_all(no URLs, 1 s) had not returned 15 s after its deadline")?;
        compare("no URLs", &[], &none, &[])?;

        // Five requests that only the server's order can answer.
        let statuses = [200, 404, 503, 418, 201];
        let urls: Vec<String> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| server.url(&format!("/gate/five?n=5&rank={}&status={s}", statuses.len() - 1 - i)))
            .collect();
        let want: Vec<Option<u16>> = statuses.iter().map(|&s| Some(s)).collect();
        let deadline = Duration::from_secs(10);
        let case = "five URLs that the server answers once all five have arrived, the last URL first (deadline 10 s)";
        let got = fetch_bounded(fetch_all, &urls, deadline, grace)?;
        let arrived = server.arrivals("five").len();
        let got = match got {
            Some(got) if arrived == 5 => got,
            _ => {
                let returned = got.map_or("had not returned 15 s after the deadline".to_string(), |g| format!("returned {g:?}"));
                return Err(format!(
                    "{case}: fetch_all {returned}, and the server saw only {arrived} of the 5 requests arrive: \
                     were they sent one at a time? Each URL needs a thread of its own, all started before you wait for any"
                ));
            }
        };
        compare(case, &urls, &got, &want)?;

        // Two URLs that never answer while fetch_all runs.
        let urls = vec![server.url("/200"), server.url("/hold/a"), server.url("/404"), server.url("/hold/b"), server.url("/500")];
        // Long enough that three 20 ms answers arrive in time on a very busy
        // machine: a right answer must not depend on the machine's speed.
        let deadline = Duration::from_secs(3);
        let case = "five URLs, two of which do not answer before the deadline (3 s)";
        let got = fetch_bounded(fetch_all, &urls, deadline, grace)?;
        server.release("a");
        server.release("b");
        let got = got.ok_or_else(|| {
            format!(
                "{case}: fetch_all had not returned 15 s after its deadline: it waits for /hold/a and /hold/b, \
                 which answer only after your function has returned. Stop waiting at the deadline and report them as None"
            )
        })?;
        compare(case, &urls, &got, &[Some(200), None, Some(404), None, Some(500)])?;

        let urls = vec![refused_url()?, server.url("/200")];
        let got = fetch_bounded(fetch_all, &urls, Duration::from_secs(5), grace)?
            .ok_or("a refused connection and /200 (deadline 5 s): fetch_all had not returned 15 s after its deadline")?;
        compare("a URL where nothing listens (connection refused) and /200 (deadline 5 s)", &urls, &got, &[None, Some(200)])?;
        Ok("all requests at once, results in the URLs' order whatever order the answers came in, \
            every status an answer, the stragglers reported as None at the deadline, a refused connection as None"
            .to_string())
    })
}

/// The judge of `ch05_retries`: `get_with_retries(url, attempts, pause)`
/// returns `Ok(status)` as soon as an answer is not a server error (below
/// 500, 4xx included: asking again will not fix a bad request), retries a
/// server error (5xx) or a failed connection after `pause`, then twice that,
/// and so on, at most `attempts` requests in all, and after the last failed
/// attempt returns `Err` naming what went wrong.
///
/// The server counts the attempts and notes when each arrived: a pause is
/// checked only from below (a sleep is never shorter than asked), so a busy
/// machine cannot fail a right answer.
pub fn judge_retries(get_with_retries: fn(&str, u32, Duration) -> Result<u16, String>) -> Verdict {
    exercise::run(Duration::from_secs(60), move || {
        let server = WebServer::with_latency(Duration::ZERO).map_err(|e| format!("could not start the test server: {e}"))?;
        let pause = Duration::from_millis(300);
        // (key, failures first, status of a failure, attempts allowed, what must come back)
        let cases = [
            ("not-found", 9, 404u16, 3u32, Ok::<u16, ()>(404)),
            ("twice", 2, 503, 4, Ok(200)),
            ("thrice", 3, 502, 4, Ok(200)),
            ("always", 9, 503, 3, Err(())),
        ];
        for (key, fail, status, attempts, want) in cases {
            let url = server.url(&format!("/flaky/{key}?fail={fail}&status={status}"));
            let case = format!("a URL that answers {status} to the first {fail} requests, then 200 ({attempts} attempts, pause {pause:?})");
            let got = exercise::call(|| get_with_retries(&url, attempts, pause)).map_err(|m| format!("{case}: your code panicked: {m}"))?;
            let arrivals = server.arrivals(key);
            let expected_requests = match want {
                Ok(_) => (fail + 1).min(if status < 500 { 1 } else { attempts as usize }),
                Err(_) => attempts as usize,
            };
            if arrivals.len() != expected_requests {
                let why = if status < 500 {
                    format!("a {status} is the client's mistake: asking again gets the same answer. Retry only server errors (5xx) and failed connections")
                } else if arrivals.len() < expected_requests {
                    "too few: each failed attempt counts, and the last allowed one is made too".to_string()
                } else {
                    format!("too many: at most {attempts} requests in all, the first one included")
                };
                return Err(format!("{case}: the server saw {} request(s), want {expected_requests}: {why}", arrivals.len()));
            }
            match (&got, want) {
                (Ok(code), Ok(w)) if *code == w => {}
                (Err(message), Err(())) if message.contains(&status.to_string()) => {}
                (Err(message), Err(())) => {
                    return Err(format!("{case}: you returned Err({message:?}); say what the last attempt got ({status}) in the error"));
                }
                (got, Err(())) => {
                    return Err(format!("{case}: every attempt failed, and you returned {got:?}: want Err(...) saying {status}"));
                }
                (got, Ok(w)) => return Err(format!("{case}: you returned {got:?}, want Ok({w})")),
            }
            let mut wanted = pause;
            for (i, pair) in arrivals.windows(2).enumerate() {
                let gap = pair[1].duration_since(pair[0]);
                if gap < wanted {
                    return Err(format!(
                        "{case}: attempt {} came {gap:.0?} after attempt {}; the pause before it must be at least {wanted:?} \
                         (pauses {pause:?}, then twice the one before: {})",
                        i + 2,
                        i + 1,
                        (0..arrivals.len() - 1).map(|k| format!("{:?}", pause * 2u32.pow(k as u32))).collect::<Vec<_>>().join(", ")
                    ));
                }
                wanted *= 2;
            }
        }
        let url = refused_url()?;
        let case = "a URL where nothing listens (connection refused), 2 attempts, pause 50 ms";
        match exercise::call(|| get_with_retries(&url, 2, Duration::from_millis(50))).map_err(|m| format!("{case}: your code panicked: {m}"))? {
            Err(_) => {}
            Ok(code) => return Err(format!("{case}: you returned Ok({code}), but no answer ever came: want Err(...)")),
        }
        Ok("stops at the first answer that is not a server error (a 404 is not retried), retries 5xx and refused \
            connections with pauses that double, makes every attempt allowed and no more, and names the last failure"
            .to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (yielding) until `ready`; a test that never gets there fails instead of hanging.
    fn wait_until(ready: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !ready() {
            assert!(std::time::Instant::now() < deadline, "still waiting after 30 s");
            std::thread::yield_now();
        }
    }

    fn get(url: &str) -> (u16, String) {
        let mut reply = agent(Duration::from_secs(10)).get(url).call().expect("an answer");
        (reply.status().as_u16(), reply.body_mut().read_to_string().expect("a body"))
    }

    #[test]
    fn answers_statuses_and_refuses_bad_requests_with_a_reason() {
        let server = WebServer::with_latency(Duration::ZERO).unwrap();
        assert_eq!(get(&server.url("/418")), (418, "418 I'm a teapot\n".to_string()));
        assert_eq!(get(&server.url("/524")).0, 524);
        let (code, body) = get(&server.url("/99"));
        assert_eq!(code, 400);
        assert!(body.contains("99 is not a status code"), "{body}");
        let (code, body) = get(&server.url("/200?sleep=soon"));
        assert_eq!(code, 400);
        assert!(body.contains("?sleep=soon is not a number"), "{body}");
        assert_eq!(get(&server.url("/teapot")).0, 404);
        assert_eq!(get(&server.url("/no/such/path")).0, 404);
        assert!(server.answered() >= 5);
    }

    #[test]
    fn pages_are_about_twenty_kilobytes_and_the_same_each_time() {
        let server = WebServer::with_latency(Duration::ZERO).unwrap();
        let (code, body) = get(&server.url("/page/3"));
        assert_eq!(code, 200);
        assert_eq!(body, page_text(3));
        assert!((PAGE_BYTES..PAGE_BYTES + 500).contains(&body.len()), "{}", body.len());
    }

    #[test]
    fn counts_requests_in_flight_and_releases_held_ones() {
        let server = WebServer::with_latency(Duration::ZERO).unwrap();
        let url = server.url("/hold/k");
        let waiters: Vec<_> = (0..3).map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url).0)
        }).collect();
        wait_until(|| server.in_flight() == 3);
        server.release("k");
        assert!(waiters.into_iter().all(|w| w.join().unwrap() == 200));
        assert_eq!(server.peak_in_flight(), 3);
        wait_until(|| server.in_flight() == 0);
        server.reset_peak();
        assert_eq!(server.peak_in_flight(), 0);
    }

    #[test]
    fn dropping_the_server_stops_it_even_with_a_request_held() {
        let server = WebServer::with_latency(Duration::ZERO).unwrap();
        let url = server.url("/hold/never");
        let waiter = std::thread::spawn(move || agent(Duration::from_secs(30)).get(&url).call().map(|r| r.status().as_u16()));
        wait_until(|| server.in_flight() == 1);
        let addr = server.addr();
        drop(server);
        assert!(waiter.join().unwrap().is_err(), "the held request is cut off, not answered");
        assert!(std::net::TcpStream::connect(addr).is_err(), "nothing listens after the drop");
    }

    #[test]
    fn a_flaky_url_fails_the_first_requests_then_answers() {
        let server = WebServer::with_latency(Duration::ZERO).unwrap();
        let url = server.url("/flaky/f?fail=2&status=502");
        let codes: Vec<u16> = (0..4).map(|_| get(&url).0).collect();
        assert_eq!(codes, [502, 502, 200, 200]);
        assert_eq!(server.arrivals("f").len(), 4);
    }
}
