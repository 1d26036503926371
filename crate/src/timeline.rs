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
    /// Ready to run but off the core: the OS gave the core to another thread
    /// (see [`Timeline::record_cpu`]).
    Ready,
}

impl State {
    /// Every state, in legend order.
    pub const ALL: [State; 5] = [State::Running, State::Holding, State::Waiting, State::Sleeping, State::Ready];

    fn color(self) -> (u8, u8, u8) {
        match self {
            State::Running => (44, 160, 44),
            State::Holding => (31, 119, 180),
            State::Waiting => (214, 39, 40),
            State::Sleeping => (190, 190, 190),
            State::Ready => (255, 187, 120),
        }
    }

    /// Half the bar height: waits are drawn thinner so overlaps stay readable.
    fn height(self) -> f64 {
        match self {
            State::Running | State::Holding => 0.35,
            State::Waiting | State::Sleeping | State::Ready => 0.2,
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
            State::Ready => "ready, but no core free",
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

    /// Runs CPU work in small slices (`slice` does one and returns `false`
    /// when there is no more) and records when the thread really had a core.
    ///
    /// A thread that wants to compute is not always computing: with more
    /// such threads than cores, the OS hands out the cores in turns, and a
    /// [`record`](Self::record) span would show it "running" all along.
    /// Here each slice's wall time is compared with the CPU time the thread
    /// got in it ([`measure::thread_cpu_time`](crate::measure::thread_cpu_time)):
    /// the CPU time is drawn as running, the rest of the slice as
    /// [`State::Ready`]. Within one slice the order is a guess (running
    /// first), so keep slices well under the OS's time slice (a few
    /// milliseconds on Linux); neighbouring spans of one state are merged.
    /// Returns the thread's (wall seconds, CPU seconds) over all slices.
    pub fn record_cpu(&self, thread: &str, mut slice: impl FnMut() -> bool) -> (f64, f64) {
        let mut spans: Vec<(State, f64, f64)> = Vec::new();
        let mut add = |state: State, start: f64, end: f64| match spans.last_mut() {
            Some((s, _, e)) if *s == state && start - *e < 1e-4 => *e = end,
            _ if end - start >= 1e-5 => spans.push((state, start, end)),
            _ => {}
        };
        let (wall0, cpu0) = (self.now(), crate::measure::thread_cpu_time());
        let (mut wall, mut cpu) = (wall0, cpu0);
        loop {
            let more = slice();
            let (wall_now, cpu_now) = (self.now(), crate::measure::thread_cpu_time());
            let on_core = (cpu_now - cpu).clamp(0.0, wall_now - wall);
            add(State::Running, wall, wall + on_core);
            add(State::Ready, wall + on_core, wall_now);
            (wall, cpu) = (wall_now, cpu_now);
            if !more {
                break;
            }
        }
        for (state, start, end) in spans {
            self.push(thread, state, start, end);
        }
        (wall - wall0, cpu - cpu0)
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

    #[test]
    fn cpu_time_is_recorded_as_running_and_sleep_is_not() {
        let tl = Timeline::new();
        let mut left = 3;
        let (wall, cpu) = tl.record_cpu("t", || {
            // A sleep inside a slice is off the core: it must not count as running.
            std::thread::sleep(Duration::from_millis(20));
            left -= 1;
            left > 0
        });
        assert!(wall >= 0.059, "wall {wall}");
        assert!(cpu < wall / 2.0, "cpu {cpu} of wall {wall}");
        assert!(tl.total("t", State::Ready) >= 0.059 - tl.total("t", State::Running));
        assert!(tl.total("t", State::Running) <= cpu + 1e-6);
    }
}
