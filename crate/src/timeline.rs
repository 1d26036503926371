//! Records what each thread does over time (runs, waits, holds a lock,
//! sleeps) and draws it as a timeline chart.
//!
//! ```
//! use concurrency_lab::timeline::{State, Timeline};
//! let tl = Timeline::new();
//! std::thread::scope(|s| {
//!     for name in ["A", "B"] {
//!         let tl = &tl;
//!         s.spawn(move || {
//!             let _running = tl.enter(name, State::Running); // recorded when dropped
//!             std::hint::black_box((0..1000).sum::<u64>());
//!         });
//!     }
//! });
//! assert_eq!(tl.spans().len(), 2);
//! ```

use crate::chart::{self, Band, Chart, Segment};
use serde::Serialize;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What a thread is doing during a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum State {
    /// On a core, doing work.
    Running,
    /// Running while holding a lock: others who want it must wait.
    Holding,
    /// Blocked: waiting for a lock, a channel or another thread.
    Waiting,
    /// Off the core by choice: sleeping, or waiting on I/O (disk, network).
    Sleeping,
}

impl State {
    /// Every state, in legend order.
    pub const ALL: [State; 4] = [State::Running, State::Holding, State::Waiting, State::Sleeping];

    fn color(self) -> (u8, u8, u8) {
        match self {
            State::Running => (44, 160, 44),
            State::Holding => (31, 119, 180),
            State::Waiting => (214, 39, 40),
            State::Sleeping => (190, 190, 190),
        }
    }

    /// Half the bar height: waits are drawn thinner so overlaps stay readable.
    fn height(self) -> f64 {
        match self {
            State::Running | State::Holding => 0.35,
            State::Waiting | State::Sleeping => 0.2,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Running => "running",
            State::Holding => "holding the lock",
            State::Waiting => "waiting (blocked)",
            State::Sleeping => "sleeping / I/O",
        })
    }
}

/// One span of a timeline: `thread` was in `state` from `start` to `end`
/// (seconds since the timeline began).
#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub thread: String,
    pub state: State,
    pub start: f64,
    pub end: f64,
}

/// A shared recorder of spans. Cloning it is cheap and every clone writes to
/// the same record, so each thread can take its own copy.
#[derive(Clone)]
pub struct Timeline {
    origin: Instant,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl Timeline {
    /// A new, empty timeline; time 0 is now.
    pub fn new() -> Timeline {
        Timeline { origin: Instant::now(), spans: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Seconds since the timeline began.
    pub fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    /// Starts a span; it is recorded when the returned guard is dropped, so
    /// the span ends exactly where the guard's scope ends.
    pub fn enter(&self, thread: &str, state: State) -> SpanGuard<'_> {
        SpanGuard { timeline: self, thread: thread.to_string(), state, start: self.now() }
    }

    /// Runs `f` inside a span and returns its result.
    pub fn record<T>(&self, thread: &str, state: State, f: impl FnOnce() -> T) -> T {
        let _span = self.enter(thread, state);
        f()
    }

    /// Adds a finished span directly (times in seconds since the start).
    pub fn push(&self, thread: &str, state: State, start: f64, end: f64) {
        let span = Span { thread: thread.to_string(), state, start, end };
        // A poisoned lock only means another thread panicked mid-push; the
        // record itself is still fine to use.
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).push(span);
    }

    /// A copy of the spans recorded so far, in the order they ended.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Thread names in the order they first started something; threads that
    /// started within the same millisecond are ordered by name ("task 1"
    /// before "task 2"), so rows do not shuffle from run to run.
    pub fn threads(&self) -> Vec<String> {
        let mut first: Vec<(u64, String)> = Vec::new();
        for s in self.spans() {
            let ms = (s.start * 1e3) as u64;
            match first.iter_mut().find(|(_, name)| *name == s.thread) {
                Some(entry) => entry.0 = entry.0.min(ms),
                None => first.push((ms, s.thread)),
            }
        }
        first.sort();
        first.into_iter().map(|(_, name)| name).collect()
    }

    /// Total seconds `thread` spent in `state`.
    pub fn total(&self, thread: &str, state: State) -> f64 {
        self.spans().iter().filter(|s| s.thread == thread && s.state == state).map(|s| s.end - s.start).sum()
    }

    /// The timeline as a chart: one row per thread.
    pub fn chart(&self, title: &str) -> Chart {
        let bands: Vec<Band> =
            State::ALL.iter().map(|s| Band { label: s.to_string(), color: s.color(), half_height: s.height() }).collect();
        let segments: Vec<Segment> = self
            .spans()
            .into_iter()
            .map(|s| Segment { row: s.thread, band: State::ALL.iter().position(|&x| x == s.state).unwrap_or(0), start: s.start, end: s.end })
            .collect();
        chart::timeline(title, &self.threads(), &bands, &segments)
    }
}

/// Records its span when dropped. See [`Timeline::enter`].
pub struct SpanGuard<'a> {
    timeline: &'a Timeline,
    thread: String,
    state: State,
    start: f64,
}

impl Drop for SpanGuard<'_> {
    fn drop(&mut self) {
        let end = self.timeline.now();
        self.timeline.push(&self.thread, self.state, self.start, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn spans_cover_the_guarded_scope() {
        let tl = Timeline::new();
        {
            let _g = tl.enter("main", State::Sleeping);
            std::thread::sleep(Duration::from_millis(20));
        }
        tl.record("main", State::Running, || ());
        let spans = tl.spans();
        assert_eq!(spans.len(), 2);
        assert!(spans[0].end - spans[0].start >= 0.019);
        assert!(tl.total("main", State::Sleeping) >= 0.019);
        assert_eq!(tl.threads(), vec!["main".to_string()]);
    }
}
