//! Trial-division primality: the CPU-bound workload of chapters 1 and 2.
//!
//! The inputs are the book's: the integers from 10^13 upwards. Each number is
//! checked on its own, so the work is *embarrassingly parallel*; a prime near
//! 10^13 needs about 1.6 million divisions, a composite usually only a few.

use crate::exercise::{self, Verdict};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Where the book's inputs start: 10^13.
pub const BOOK_START: u64 = 10_000_000_000_000;

/// The 16 primes among 10^13 .. 10^13 + 499, as offsets from 10^13.
pub const PRIMES_IN_FIRST_500: [u64; 16] =
    [37, 51, 99, 129, 183, 259, 267, 273, 279, 283, 313, 343, 391, 411, 433, 453];

/// `count` consecutive integers starting at 10^13 (500 in chapter 1, 1000 in chapter 2).
pub fn book_inputs(count: u64) -> Vec<u64> {
    (BOOK_START..BOOK_START + count).collect()
}

/// True if `n` is prime: tries 2, then odd divisors up to the square root.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// The smallest factor of `n` above 1 (`n` itself if prime); `None` below 2.
pub fn smallest_factor(n: u64) -> Option<u64> {
    if n < 2 {
        return None;
    }
    if n % 2 == 0 {
        return Some(2);
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return Some(d);
        }
        d += 2;
    }
    Some(n)
}

/// The primes among `numbers`, one after another, in input order.
pub fn find_sequential(numbers: &[u64]) -> Vec<u64> {
    numbers.iter().copied().filter(|&n| is_prime(n)).collect()
}

/// The primes among `numbers`, checked by `workers` threads.
///
/// Each thread takes the next unchecked number from a shared counter (an
/// atomic index), so a thread that drew a cheap composite simply takes the
/// next one: the load balances itself. Returns the primes in the order they
/// were *found*, which differs from run to run.
pub fn find_parallel(numbers: &[u64], workers: usize) -> Vec<u64> {
    let next = AtomicUsize::new(0);
    let found = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&n) = numbers.get(i) else { break };
                if is_prime(n) {
                    found.lock().unwrap_or_else(|e| e.into_inner()).push(n);
                }
            });
        }
    });
    found.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

/// Compares a learner's answer with the right one and says what differs:
/// which numbers are missing, which are extra, whether the order is wrong.
pub fn compare_sets(what: &str, got: &[u64], want: &[u64]) -> Result<(), String> {
    let got_sorted = sorted(got.to_vec());
    let missing: Vec<u64> = want.iter().copied().filter(|n| got_sorted.binary_search(n).is_err()).collect();
    let extra: Vec<u64> = got_sorted.iter().copied().filter(|n| !want.contains(n)).collect();
    let mut dedup = got_sorted.clone();
    dedup.dedup();
    let show = |v: &[u64]| {
        let shown: Vec<String> = v.iter().take(8).map(|n| n.to_string()).collect();
        let more = if v.len() > 8 { format!(" and {} more", v.len() - 8) } else { String::new() };
        format!("[{}]{more}", shown.join(", "))
    };
    match (missing.is_empty(), extra.is_empty()) {
        (false, false) => Err(format!("{what}: missing {}, and these are not prime: {}", show(&missing), show(&extra))),
        (false, true) => Err(format!("{what}: missing {} of {} primes: {}", missing.len(), want.len(), show(&missing))),
        (true, false) => Err(format!("{what}: these are not prime: {}", show(&extra))),
        (true, true) if dedup.len() != got.len() => {
            Err(format!("{what}: some primes appear more than once ({} results for {} primes)", got.len(), want.len()))
        }
        (true, true) if got != want => Err(format!(
            "{what}: the right primes, but not in ascending order (threads finish in any order: sort before returning)"
        )),
        _ => Ok(()),
    }
}

/// Exercise "is_prime": judges a learner's primality test.
pub fn judge_is_prime(f: fn(u64) -> bool) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        // A prime just below sqrt(10^13), squared: a composite whose only
        // factor is large, which catches loops that stop one step too early.
        let big_square = {
            let mut p = 3_162_277;
            while !is_prime(p) {
                p -= 2;
            }
            p * p
        };
        let mut cases: Vec<u64> = (0..2_000).collect();
        cases.extend([big_square, u32::MAX as u64, 4_294_967_311]);
        cases.extend(book_inputs(100));
        for &n in &cases {
            let got = exercise::call(|| f(n)).map_err(|msg| format!("is_prime({n}) panicked: {msg}"))?;
            let want = is_prime(n);
            if got != want {
                return Err(match smallest_factor(n) {
                    None => format!("is_prime({n}) returned true, but numbers below 2 are not prime"),
                    Some(d) if d == n => format!("is_prime({n}) returned false, but {n} is prime"),
                    Some(d) => format!("is_prime({n}) returned true, but {n} = {d} × {}", n / d),
                });
            }
        }
        Ok(format!("all {} test numbers classified correctly, including 0, 1, 2, squares of primes and 10^13 + 37", cases.len()))
    })
}

/// What the parallel-primes exercise asks for: `(numbers, workers, is_prime) -> primes`.
pub type ParallelPrimes = fn(&[u64], usize, &(dyn Fn(u64) -> bool + Sync)) -> Vec<u64>;

/// How long the first caller of a judge's `is_prime` waits for a second
/// thread to be checking a number too: a bound on a hang, not a timing test.
const MEETING_PATIENCE: Duration = Duration::from_secs(10);

/// The `is_prime` that [`judge_parallel_primes`] hands to the learner's
/// code. It is [`is_prime`], and it also finds out, deterministically,
/// whether the threads check numbers at the same time: every call waits
/// (at most [`MEETING_PATIENCE`]) until `want` calls are inside at once.
/// Threads that run at the same time meet at once, however slow the
/// machine; threads that run one after another (a sequential answer, or
/// each thread joined right after it was spawned) never do, and then the
/// waiting stops and the judge says so.
struct Meeting {
    want: usize,
    state: Mutex<Met>,
    changed: Condvar,
}

struct Met {
    inside: usize,
    most: usize,
    calls: usize,
    gave_up: bool,
}

impl Meeting {
    fn new(want: usize) -> Meeting {
        Meeting { want, state: Mutex::new(Met { inside: 0, most: 0, calls: 0, gave_up: false }), changed: Condvar::new() }
    }

    fn is_prime(&self, n: u64) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.calls += 1;
        st.inside += 1;
        st.most = st.most.max(st.inside);
        self.changed.notify_all();
        let (mut st, wait) = self
            .changed
            .wait_timeout_while(st, MEETING_PATIENCE, |st| st.most < self.want && !st.gave_up)
            .unwrap_or_else(|e| e.into_inner());
        if wait.timed_out() {
            st.gave_up = true;
            self.changed.notify_all();
        }
        st.inside -= 1;
        drop(st);
        is_prime(n)
    }

    /// (calls, most calls inside at once)
    fn seen(&self) -> (usize, usize) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.calls, st.most)
    }
}

/// Exercise "parallel_primes": judges a function that finds the primes among
/// `numbers` with `workers` threads, checking each number with the
/// `is_prime` it is given, and returns them in ascending order. That
/// `is_prime` notices whether two threads ever check numbers at the same
/// time ([`Meeting`]), so an answer that runs its "workers" one after
/// another fails, whatever the machine.
pub fn judge_parallel_primes(f: ParallelPrimes) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let book = book_inputs(500);
        let book_primes: Vec<u64> = PRIMES_IN_FIRST_500.iter().map(|k| BOOK_START + k).collect();
        let small: Vec<u64> = (0..100).collect();
        // 103 numbers on 4 workers: 25 each leaves 100, 101 and 102 over (101 is prime).
        let uneven: Vec<u64> = (0..103).collect();
        let cases: Vec<(String, Vec<u64>, usize, Vec<u64>)> = vec![
            ("0..100 with 3 workers".into(), small.clone(), 3, find_sequential(&small)),
            ("0..100 with 1 worker".into(), small.clone(), 1, find_sequential(&small)),
            ("0..103 with 4 workers (103 does not divide evenly)".into(), uneven.clone(), 4, find_sequential(&uneven)),
            ("[2, 3, 4] with 8 workers (more workers than numbers)".into(), vec![2, 3, 4], 8, vec![2, 3]),
            ("an empty list with 2 workers".into(), vec![], 2, vec![]),
            ("the book's 500 numbers with 4 workers".into(), book, 4, book_primes),
        ];
        for (what, input, workers, want) in &cases {
            // Two threads must meet wherever two can: 2 workers and 2 numbers.
            let together = if *workers >= 2 && input.len() >= 2 { 2 } else { 0 };
            let meeting = Meeting::new(together);
            let checker = |n: u64| meeting.is_prime(n);
            let got = exercise::call(|| f(input, *workers, &checker)).map_err(|msg| format!("{what}: your code panicked: {msg}"))?;
            let (calls, most) = meeting.seen();
            if !input.is_empty() && calls == 0 {
                return Err(format!("{what}: your code never called the `is_prime` it was given; check the numbers with it (it is primes::is_prime, and it tells the check whether your threads run at the same time)"));
            }
            if most < together {
                return Err(format!(
                    "{what}: your threads never checked numbers at the same time: at most {most} call of `is_prime` was running at once, \
                     though the first waited {} s for a second. Spawn all the workers first and keep their handles, then join them; \
                     joining each thread right after spawning it (or checking on one thread) runs them one after another.",
                    MEETING_PATIENCE.as_secs()
                ));
            }
            compare_sets(what, &got, want)?;
        }
        Ok("the right primes in ascending order for every input, including the book's 16 primes among 10^13 .. 10^13 + 499".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercise::Verdict;

    #[test]
    fn the_book_has_16_primes_in_the_first_500_and_34_in_the_first_1000() {
        let first_500 = find_sequential(&book_inputs(500));
        let want: Vec<u64> = PRIMES_IN_FIRST_500.iter().map(|k| BOOK_START + k).collect();
        assert_eq!(first_500, want);
        let first_1000 = find_sequential(&book_inputs(1000));
        assert_eq!(first_1000.len(), 34);
        assert_eq!(first_1000[0], BOOK_START + 37);
        assert_eq!(*first_1000.last().unwrap(), BOOK_START + 993);
    }

    #[test]
    fn parallel_finds_the_same_set() {
        let nums = book_inputs(200);
        assert_eq!(sorted(find_parallel(&nums, 3)), find_sequential(&nums));
        assert_eq!(find_parallel(&[], 2), Vec::<u64>::new());
    }

    #[test]
    fn small_cases() {
        let primes: Vec<u64> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(primes, vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert_eq!(smallest_factor(91), Some(7));
    }

    #[test]
    fn a_starter_reads_as_not_solved() {
        // Wrong answers: crate::wrong_answers.
        assert_eq!(judge_is_prime(|_| todo!()), Verdict::NotSolved);
    }
}
