//! First steps (start-here notebook): splitting work into pieces, and
//! getting answers back from threads.

use crate::exercise::{self, Verdict};
use std::ops::Range;
use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// Exercise "split_work": judges a function that splits `0..len` into exactly
/// `workers` contiguous ranges, in order, whose sizes differ by at most one
/// (and returns no ranges when `workers` is 0).
pub fn judge_split_work(f: fn(usize, usize) -> Vec<Range<usize>>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let mut tried = 0;
        for len in [0usize, 1, 2, 7, 10, 100, 1001] {
            for workers in [0usize, 1, 2, 3, 4, 16] {
                tried += 1;
                let call = format!("split_work({len}, {workers})");
                let got = exercise::call(|| f(len, workers)).map_err(|m| format!("{call} panicked: {m}"))?;
                if got.len() != workers {
                    return Err(format!("{call} gave {} ranges, expected exactly {workers}", got.len()));
                }
                let mut expect_start = 0;
                for r in &got {
                    if r.start != expect_start {
                        return Err(format!(
                            "{call} = {got:?}: a range starts at {}, but the previous one ended at {expect_start} (gap or overlap)",
                            r.start
                        ));
                    }
                    if r.end < r.start {
                        return Err(format!("{call} = {got:?}: the range {r:?} runs backwards"));
                    }
                    expect_start = r.end;
                }
                if workers > 0 && expect_start != len {
                    return Err(format!("{call} = {got:?}: the ranges end at {expect_start}, not at {len}"));
                }
                let sizes: Vec<usize> = got.iter().map(|r| r.len()).collect();
                let (lo, hi) = (sizes.iter().min().copied().unwrap_or(0), sizes.iter().max().copied().unwrap_or(0));
                if hi - lo > 1 {
                    return Err(format!(
                        "{call} = {got:?}: sizes {sizes:?} differ by {}; spread the remainder so they differ by at most 1",
                        hi - lo
                    ));
                }
            }
        }
        Ok(format!("{tried} (len, workers) pairs split into balanced, gap-free ranges"))
    })
}

/// What the squares exercise asks for: `(n, square) -> [(square(i), thread id)]`.
pub type SquaresOnThreads = fn(usize, &(dyn Fn(usize) -> usize + Sync)) -> Vec<(usize, ThreadId)>;

/// How long `square(i)` waits for `square(i + 1)`: a bound on a hang, not a
/// timing test.
const SQUARE_PATIENCE: Duration = Duration::from_secs(10);

/// The `square` that [`judge_squares_on_threads`] hands to the learner's
/// code: it returns `i * i`, notes which thread asked, and returns only
/// after `square(i + 1)` has returned (waiting at most [`SQUARE_PATIENCE`]).
/// Threads that all run at the same time finish, last number first, on any
/// machine; threads that run one after another (each joined right after it
/// was spawned) cannot, and the waiting stops with a note of who waited for
/// whom. The reverse finishing order also catches results collected in the
/// order the threads finish.
struct Squarer {
    n: usize,
    state: Mutex<Squares>,
    changed: Condvar,
}

struct Squares {
    callers: Vec<Option<ThreadId>>,
    done: Vec<bool>,
    stalled: Option<String>,
}

impl Squarer {
    fn new(n: usize) -> Squarer {
        Squarer { n, state: Mutex::new(Squares { callers: vec![None; n], done: vec![false; n], stalled: None }), changed: Condvar::new() }
    }

    fn square(&self, i: usize) -> usize {
        if i >= self.n {
            return i * i; // the check of the squares reports it
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.callers[i].get_or_insert(std::thread::current().id());
        self.changed.notify_all(); // square(i + 1) may be waiting for square(i) to start
        // square(i) returns only once square(i + 1) has finished and square(i - 1)
        // has started: threads run in any order, but never one after another,
        // whichever order they are spawned and joined in.
        let next_pending = |st: &Squares| i + 1 < self.n && !st.done[i + 1];
        let previous_absent = |st: &Squares| i > 0 && st.callers[i - 1].is_none();
        let (mut st, wait) = self
            .changed
            .wait_timeout_while(st, SQUARE_PATIENCE, |st| (next_pending(st) || previous_absent(st)) && st.stalled.is_none())
            .unwrap_or_else(|e| e.into_inner());
        if wait.timed_out() {
            let patience = SQUARE_PATIENCE.as_secs();
            st.stalled = Some(if next_pending(&st) {
                let next = if st.callers[i + 1].is_none() { "had not even started" } else { "had started but not finished" };
                format!("square({i}) waited {patience} s for square({}) to finish, and square({}) {next}", i + 1, i + 1)
            } else {
                format!("square({i}) waited {patience} s for square({}) to start, and it never did", i - 1)
            });
        }
        st.done[i] = true;
        self.changed.notify_all();
        i * i
    }
}

/// Exercise "squares_on_threads": judges a function that computes
/// `square(i)` for `i` in `0..n`, each on its own new thread, all running
/// at the same time, and returns each square with the id of the thread that
/// computed it, in order of `i`. The `square` it is given is a [`Squarer`].
pub fn judge_squares_on_threads(f: SquaresOnThreads) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let me = std::thread::current().id();
        for n in [0usize, 1, 5, 12] {
            let squarer = Squarer::new(n);
            let square = |i: usize| squarer.square(i);
            let got = exercise::call(|| f(n, &square)).map_err(|m| format!("squares_on_threads({n}) panicked: {m}"))?;
            let st = squarer.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(stall) = &st.stalled {
                return Err(format!(
                    "squares_on_threads({n}): {stall}: the threads ran one after another, not at the same time. \
                     Spawn all of them first and keep their handles, then join them; joining each thread right after spawning it waits for it before the next one starts."
                ));
            }
            let squares: Vec<usize> = got.iter().map(|p| p.0).collect();
            let want: Vec<usize> = (0..n).map(|i| i * i).collect();
            if squares != want {
                let mut sorted = squares.clone();
                sorted.sort_unstable();
                let why = if sorted == want {
                    " (the check's square(i) makes thread i finish after thread i + 1: collect the results by joining the handles in order of i, not in the order the threads finish)"
                } else {
                    ""
                };
                return Err(format!("squares_on_threads({n}) gave squares {squares:?}, expected {want:?}{why}"));
            }
            if let Some(i) = (0..n).find(|&i| st.callers[i].is_none()) {
                return Err(format!("squares_on_threads({n}) never called square({i}): compute each square with the `square` you are given"));
            }
            if got.iter().any(|p| p.1 == me) {
                return Err(format!(
                    "squares_on_threads({n}): some squares were computed on the calling thread; spawn a new thread for each"
                ));
            }
            if let Some(i) = (0..n).find(|&i| st.callers[i] != Some(got[i].1)) {
                return Err(format!(
                    "squares_on_threads({n}): square({i}) was computed on one thread, but the pair for {i} names another; return the id of the thread that called square({i})"
                ));
            }
            let mut ids: Vec<String> = got.iter().map(|p| format!("{:?}", p.1)).collect();
            ids.sort();
            ids.dedup();
            if ids.len() != n {
                return Err(format!(
                    "squares_on_threads({n}): {n} squares came from only {} thread(s); give each number its own thread",
                    ids.len()
                ));
            }
        }
        Ok("squares in order, each computed on a thread of its own, all the threads running at the same time".into())
    })
}
