//! Reductions: many values folded into one with a binary operator (chapter 7).
//!
//! A reduction can run in parallel only when its operator is *associative*
//! (`(a ∘ b) ∘ c == a ∘ (b ∘ c)`): then the values can be combined in
//! pairs, round after round, like the matches of a knockout tournament, and
//! `n` values need only `⌈log2 n⌉` rounds. If the pairs are also allowed to
//! come back in any order (results collected as workers finish), the operator
//! must be *commutative* too (`a ∘ b == b ∘ a`).
//!
//! The reductions themselves are written out in the notebook; this module
//! holds what the notebook and the checks share: [`rounds_needed`], the
//! [`Piece`]s that the tree-reduction check combines (they remember how deep
//! their combining tree is), the [`Flaw`] a property checker reports, and the
//! two judges.

use crate::exercise::{self, Verdict};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// The rounds a pairwise (tree) reduction of `n` values takes: `⌈log2 n⌉`,
/// and 0 for zero or one value (nothing to combine).
///
/// ```
/// use concurrency_lab::reduction::rounds_needed;
/// assert_eq!([0, 1, 2, 3, 6, 8, 20].map(rounds_needed), [0, 0, 1, 2, 3, 3, 5]);
/// ```
pub fn rounds_needed(n: usize) -> usize {
    if n <= 1 { 0 } else { (usize::BITS - (n - 1).leading_zeros()) as usize }
}

// --- exercise 1: a tree reduction that keeps the order -------------------------

/// A value for the tree-reduction check: a piece of text, and the depth of
/// the combining tree that made it (0 for a value as it was given). It is
/// neither `Copy` nor `Clone`: a reduction moves each value into exactly one
/// combination, as it would a big buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Piece {
    text: String,
    depth: usize,
}

impl Piece {
    /// The text: the input's labels, joined in the order they were combined.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many rounds of combining made this piece (0: an input value).
    pub fn depth(&self) -> usize {
        self.depth
    }
}

/// The inputs of the tree-reduction check: `n` pieces labelled `a`, `b`, ...
/// `z`, then `A` ... `Z` (at most 52).
fn pieces(n: usize) -> Vec<Piece> {
    let labels = ('a'..='z').chain('A'..='Z');
    labels.take(n).map(|c| Piece { text: c.to_string(), depth: 0 }).collect()
}

/// How long the first combination of a round waits for another thread to
/// be done with its result: a bound on a hang, not a timing test.
const PATIENCE: Duration = Duration::from_secs(10);

/// The operator that [`judge_tree_reduce`] hands out: it joins the texts
/// (associative, not commutative: `"ab"` and `"ba"` differ) and counts the
/// depth. When `held` is set, it also makes one schedule happen on purpose:
/// the first combination to start waits (at most [`PATIENCE`]) until
/// another thread is *done with* a result of its own, which the operator
/// sees when that thread either starts its next combination or ends (a
/// thread-local guard notices the end). Either way the other thread's
/// result has been handed over (returned, sent, stored) before the held one
/// is even computed: results collected in finish order come out swapped in
/// every run. A reduction that runs the pairs one after another never gets
/// past the first (it waits, gives up, and the judge says why).
struct Join {
    held: bool,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<Joined>,
    changed: Condvar,
}

#[derive(Default)]
struct Joined {
    calls: usize,
    /// The first call has started (and is, or was, held back).
    holding: bool,
    /// Threads that called the operator and got a result back.
    returned: HashSet<ThreadId>,
    /// Threads that called the operator at least once (each has a guard
    /// that reports its end).
    watched: HashSet<ThreadId>,
    /// Another thread is done with a result: it started another call, or ended.
    handed_over: bool,
    gave_up: bool,
    /// When it gave up, no other thread had combined a pair at all.
    alone: bool,
}

/// Lives in a thread-local of every thread that called a [`Join`]; dropped
/// when the thread ends.
struct Ending(Arc<Shared>, ThreadId);

impl Drop for Ending {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.returned.contains(&self.1) {
            st.handed_over = true;
        }
        drop(st);
        self.0.changed.notify_all();
    }
}

thread_local! {
    static ENDINGS: std::cell::RefCell<Vec<Ending>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Join {
    fn new(held: bool) -> Join {
        Join { held, shared: Arc::new(Shared { state: Mutex::default(), changed: Condvar::new() }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Joined> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn combine(&self, a: Piece, b: Piece) -> Piece {
        let me = std::thread::current().id();
        let mut st = self.state();
        st.calls += 1;
        if st.returned.contains(&me) {
            st.handed_over = true; // its earlier result is behind it
            self.shared.changed.notify_all();
        }
        if st.watched.insert(me) {
            // (try_with: during the thread's own exit there is nothing to watch)
            let _ = ENDINGS.try_with(|e| e.borrow_mut().push(Ending(Arc::clone(&self.shared), me)));
        }
        if self.held && !st.holding {
            st.holding = true;
            let (back, wait) = self
                .shared
                .changed
                .wait_timeout_while(st, PATIENCE, |st| !st.handed_over)
                .unwrap_or_else(|e| e.into_inner());
            st = back;
            if wait.timed_out() {
                st.gave_up = true;
                st.alone = st.returned.is_empty();
            }
        }
        drop(st);
        let joined = Piece { text: a.text + &b.text, depth: a.depth.max(b.depth) + 1 };
        self.state().returned.insert(me);
        joined
    }
}

/// What the tree-reduction exercise asks for: `(values, workers, op) -> the reduction`.
pub type TreeReduce = fn(Vec<Piece>, usize, &(dyn Fn(Piece, Piece) -> Piece + Sync)) -> Option<Piece>;

/// Exercise "tree reduction that keeps the order": judges a function that
/// reduces `values` with `op` on `workers` threads, in rounds: each round
/// combines neighbours pairwise (an odd last value moves up as it is), so
/// `n` values take [`rounds_needed`]`(n)` rounds. The operator joins texts,
/// so it is associative but not commutative: the answer must keep the
/// values in their order. With two or more workers and two or more pairs,
/// the first combination of the first round is held back until another
/// thread is done with a result of its own ([`Join`]): results collected in
/// finish order come out swapped in every run, and one thread doing all the
/// work waits in vain.
pub fn judge_tree_reduce(f: TreeReduce) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT * 2, move || {
        let cases = [(0, 2), (1, 3), (2, 2), (3, 2), (4, 2), (5, 3), (7, 2), (8, 4), (16, 3), (19, 4), (33, 8), (20, 1), (6, 40)];
        for (n, workers) in cases {
            let what = format!("{n} value{} on {workers} worker{}", if n == 1 { "" } else { "s" }, if workers == 1 { "" } else { "s" });
            let held = workers >= 2 && n >= 4;
            let join = Join::new(held);
            let op = |a: Piece, b: Piece| join.combine(a, b);
            let got = exercise::call(|| f(pieces(n), workers, &op)).map_err(|msg| format!("{what}: your code panicked: {msg}"))?;
            let want: String = pieces(n).into_iter().map(|p| p.text).collect();
            let st = join.state();
            if st.gave_up && st.alone {
                return Err(format!(
                    "{what}: the check held back the first combination of the first round until another thread had combined a pair, and none did within {} s: \
                     the pairs of a round were not combined on several threads at the same time. Spawn the round's threads first, then join them.",
                    PATIENCE.as_secs()
                ));
            }
            if st.gave_up {
                return Err(format!(
                    "{what}: the check held back the first combination of the first round until another thread was done with its result \
                     (it sees that when the thread starts its next pair, or ends), and within {} s none was, though other pairs were combined. \
                     Give each thread of a round its own run of pairs and let it end (thread::scope); a pool whose threads stay alive keeps the check waiting.",
                    PATIENCE.as_secs()
                ));
            }
            let calls = st.calls;
            drop(st);
            let got = match (got, n) {
                (None, 0) => continue,
                (Some(p), 0) => return Err(format!("{what}: there is nothing to reduce, so the answer is None; you returned a value ({:?})", p.text)),
                (None, _) => return Err(format!("{what}: you returned None; the answer is {want:?}")),
                (Some(p), _) => p,
            };
            if got.text != want {
                let hint = if got.text.len() == want.len() && sorted(&got.text) == sorted(&want) {
                    " Every value is there, in another order: the operator is associative but not commutative, so each result must keep the position of its pair \
                     (the check made the first pair of the first round finish after another one: results collected in finish order come out swapped)."
                } else if got.text.len() < want.len() {
                    " Some values are missing (an odd one out left behind?)."
                } else {
                    ""
                };
                return Err(format!("{what}: the answer is {:?}, want {want:?}.{hint}", got.text));
            }
            if calls != n - 1 {
                return Err(format!("{what}: the operator was called {calls} times; {n} values need exactly {} combinations", n - 1));
            }
            let rounds = rounds_needed(n);
            if got.depth != rounds {
                return Err(format!(
                    "{what}: the right answer, but its combining tree is {} levels deep; in rounds of pairs, {n} values need only {rounds} rounds \
                     (each round halves the values, rounding up)",
                    got.depth
                ));
            }
        }
        Ok("every size from 0 to 33 values, on 1 to 40 workers, in the fewest rounds, the pairs of a round combined at the same time, and the order kept \
            although the first pair of each reduction finished last"
            .into())
    })
}

fn sorted(text: &str) -> Vec<char> {
    let mut chars: Vec<char> = text.chars().collect();
    chars.sort_unstable();
    chars
}

// --- exercise 2: a property checker ------------------------------------------

/// Why an operator is unfit for a parallel reduction: the values that show it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Flaw {
    /// `(a ∘ b) ∘ c != a ∘ (b ∘ c)`: the grouping changes the result.
    NotAssociative(f64, f64, f64),
    /// `a ∘ b != b ∘ a`: the order changes the result.
    NotCommutative(f64, f64),
}

/// What the property-checker exercise asks for: `(op, samples) -> the flaw found, if any`.
pub type FindFlaw = fn(&dyn Fn(f64, f64) -> f64, &[f64]) -> Option<Flaw>;

/// One operator the checker is tried on.
struct Trial {
    name: &'static str,
    op: fn(f64, f64) -> f64,
    samples: &'static [f64],
}

/// The operators the property checker is tried on, with samples among which
/// a counterexample exists whenever the law fails.
const TRIALS: &[Trial] = &[
    Trial { name: "addition of whole numbers", op: |a, b| a + b, samples: &[1.0, 4.0, 8.0, 3.0, 2.0, 5.0] },
    Trial { name: "multiplication of whole numbers", op: |a, b| a * b, samples: &[1.0, 4.0, 8.0, -3.0, 0.0, 5.0] },
    Trial { name: "max", op: f64::max, samples: &[3.0, -1.0, 7.5, 2.0] },
    // 0 or 255 at most: saturation does not break associativity when every value is >= 0.
    Trial { name: "unsigned 8-bit saturating addition", op: |a, b| (a + b).min(255.0), samples: &[200.0, 100.0, 0.0, 55.0] },
    Trial { name: "subtraction", op: |a, b| a - b, samples: &[8.0, 3.0, 2.0] },
    Trial { name: "power", op: f64::powf, samples: &[2.0, 1.0] },
    Trial { name: "the average of two", op: |a, b| (a + b) / 2.0, samples: &[0.0, 4.0] },
    // Needs a value twice: (100 + 100) + -100 saturates to 127 first.
    Trial { name: "signed 8-bit saturating addition", op: |a, b| (a + b).clamp(-128.0, 127.0), samples: &[100.0, -100.0] },
    // Off by one unit in the last place: only an exact comparison sees it.
    Trial { name: "floating-point addition", op: |a, b| a + b, samples: &[0.1, 0.2, 0.3] },
    Trial { name: "keep the left one", op: |a, _| a, samples: &[1.0, 2.0, 3.0] },
    Trial { name: "keep the larger, ties to the left by sign", op: |a, b| if a.abs() >= b.abs() { a } else { b }, samples: &[2.0, -2.0, 1.0] },
];

/// The flaw a careful checker finds for `trial`: a grouping counterexample
/// first, else an order counterexample, else none.
fn reference_flaw(op: &dyn Fn(f64, f64) -> f64, samples: &[f64]) -> Option<Flaw> {
    let n = samples.len();
    let triples = (0..n * n * n).map(|i| (samples[i / (n * n)], samples[i / n % n], samples[i % n]));
    let pairs = (0..n * n).map(|i| (samples[i / n], samples[i % n]));
    let grouping = triples.map(|(a, b, c)| Flaw::NotAssociative(a, b, c)).find(|f| breaks(op, *f));
    grouping.or_else(|| pairs.map(|(a, b)| Flaw::NotCommutative(a, b)).find(|f| breaks(op, *f)))
}

/// `[1.0, 2.5]` written as `[1, 2.5]`.
fn list(samples: &[f64]) -> String {
    let items: Vec<String> = samples.iter().map(|s| format!("{s}")).collect();
    format!("[{}]", items.join(", "))
}

/// The sentence that shows a flaw with its values.
fn show(op: &dyn Fn(f64, f64) -> f64, flaw: Flaw) -> String {
    match flaw {
        Flaw::NotAssociative(a, b, c) => format!(
            "({a} ∘ {b}) ∘ {c} = {} while {a} ∘ ({b} ∘ {c}) = {}",
            op(op(a, b), c),
            op(a, op(b, c))
        ),
        Flaw::NotCommutative(a, b) => format!("{a} ∘ {b} = {} while {b} ∘ {a} = {}", op(a, b), op(b, a)),
    }
}

/// Exercise "catch a bad operator": judges a property checker that, given an
/// operator and sample values, names values that break associativity (first)
/// or, if there are none, commutativity, and returns `None` for an operator
/// with both laws on those samples. It is tried on eleven operators,
/// including subtle ones (floating-point addition, saturating additions,
/// signed and unsigned); every flaw it names must come from the samples and
/// really break the law it names.
pub fn judge_find_flaw(f: FindFlaw) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        for trial in TRIALS {
            let op = trial.op;
            let op: &dyn Fn(f64, f64) -> f64 = &op;
            let what = format!("{} over the samples {}", trial.name, list(trial.samples));
            let got = exercise::call(|| f(op, trial.samples)).map_err(|msg| format!("{what}: your code panicked: {msg}"))?;
            let want = reference_flaw(op, trial.samples);
            let from_samples = |v: f64| trial.samples.iter().any(|s| s.to_bits() == v.to_bits());
            match (got, want) {
                (None, None) => {}
                (None, Some(flaw)) => {
                    return Err(format!("{what}: you found no flaw, but {}", show(op, flaw)));
                }
                (Some(flaw), None) => {
                    return Err(format!("{what}: this operator is associative and commutative on these samples, but you reported {flaw:?}: {}", show(op, flaw)));
                }
                (Some(got), Some(want)) => {
                    let values = match got {
                        Flaw::NotAssociative(a, b, c) => vec![a, b, c],
                        Flaw::NotCommutative(a, b) => vec![a, b],
                    };
                    if let Some(v) = values.iter().find(|v| !from_samples(**v)) {
                        return Err(format!("{what}: you reported {got:?}, but {v} is not one of the samples"));
                    }
                    if !breaks(op, got) {
                        return Err(format!("{what}: you reported {got:?}, but those values do not break the law: {}", show(op, got)));
                    }
                    if matches!(want, Flaw::NotAssociative(..)) && matches!(got, Flaw::NotCommutative(..)) {
                        return Err(format!(
                            "{what}: you reported {got:?}, which is true, but the grouping matters too, and a tree reduction needs associativity first: {}",
                            show(op, want)
                        ));
                    }
                }
            }
        }
        Ok(format!(
            "{} operators judged right, including floating-point addition and both saturating additions, every flaw named by values that show it",
            TRIALS.len()
        ))
    })
}

/// True if `flaw`'s values really break its law under `op`.
fn breaks(op: &dyn Fn(f64, f64) -> f64, flaw: Flaw) -> bool {
    match flaw {
        Flaw::NotAssociative(a, b, c) => op(op(a, b), c) != op(a, op(b, c)),
        Flaw::NotCommutative(a, b) => op(a, b) != op(b, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_the_ceiling_of_log2() {
        for n in 2..2000usize {
            let mut k = n;
            let mut rounds = 0;
            while k > 1 {
                k = k.div_ceil(2);
                rounds += 1;
            }
            assert_eq!(rounds_needed(n), rounds, "n = {n}");
        }
    }

    #[test]
    fn every_trial_has_the_flaw_it_is_meant_to_have() {
        let flaws: Vec<(&str, Option<Flaw>)> = TRIALS.iter().map(|t| (t.name, reference_flaw(&t.op, t.samples))).collect();
        let kind = |f: &Option<Flaw>| match f {
            None => "none",
            Some(Flaw::NotAssociative(..)) => "grouping",
            Some(Flaw::NotCommutative(..)) => "order",
        };
        let got: Vec<(&str, &str)> = flaws.iter().map(|(n, f)| (*n, kind(f))).collect();
        assert_eq!(
            got,
            [
                ("addition of whole numbers", "none"),
                ("multiplication of whole numbers", "none"),
                ("max", "none"),
                ("unsigned 8-bit saturating addition", "none"),
                ("subtraction", "grouping"),
                ("power", "grouping"),
                ("the average of two", "grouping"),
                ("signed 8-bit saturating addition", "grouping"),
                ("floating-point addition", "grouping"),
                ("keep the left one", "order"),
                ("keep the larger, ties to the left by sign", "order"),
            ]
        );
        assert_eq!((0.1 + 0.2) + 0.3, 0.6000000000000001);
        assert_eq!(0.1 + (0.2 + 0.3), 0.6);
    }

    #[test]
    fn a_starter_reads_as_not_solved() {
        assert_eq!(judge_find_flaw(|_, _| todo!()), Verdict::NotSolved);
        assert_eq!(judge_tree_reduce(|_, _, _| todo!()), Verdict::NotSolved);
    }
}
