//! First steps (start-here notebook): splitting work into pieces, and
//! getting answers back from threads.

use crate::exercise::{self, Verdict};
use std::ops::Range;
use std::thread::ThreadId;

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

/// Exercise "squares_on_threads": judges a function that computes `i * i`
/// for `i` in `0..n`, each on its own new thread, and returns each square
/// with the id of the thread that computed it, in order of `i`.
pub fn judge_squares_on_threads(f: fn(usize) -> Vec<(usize, ThreadId)>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let me = std::thread::current().id();
        for n in [0usize, 1, 5, 12] {
            let got = exercise::call(|| f(n)).map_err(|m| format!("squares_on_threads({n}) panicked: {m}"))?;
            let squares: Vec<usize> = got.iter().map(|p| p.0).collect();
            let want: Vec<usize> = (0..n).map(|i| i * i).collect();
            if squares != want {
                return Err(format!("squares_on_threads({n}) gave squares {squares:?}, expected {want:?}"));
            }
            if got.iter().any(|p| p.1 == me) {
                return Err(format!(
                    "squares_on_threads({n}): some squares were computed on the calling thread; spawn a new thread for each"
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
        Ok("squares in order, each computed on a thread of its own".into())
    })
}
