//! The catalogue of plausible wrong answers: for every exercise of
//! [`crate::exercises::TABLE`], answers a learner might write to get the
//! green tick without the idea, each named for its mistake. Every one must
//! be rejected by its exercise's judge (failed, panicked or timed out; never
//! passed, and never "not solved", which would mean the judge did not even
//! run it). Where a message fragment is given, the judge's message must
//! contain it, so messages keep naming the input or the schedule that broke
//! the answer.
//!
//! One table, one macro: each entry becomes a test named
//! `wrong_answers::<exercise>::<mistake>`, and
//! `every_exercise_has_three_wrong_answers` keeps the table complete.
//! Answers marked "schedule-dependent" are right on one thread, or right
//! under most interleavings, and wrong under some; their judges make the
//! losing interleaving happen (threads that must meet inside something the
//! judge hands out, consumers seen asleep before `close`, a consumer
//! stopped just before its `wait` while `close` runs, explored schedules)
//! instead of waiting for luck.

use crate::deadlock::Table;
use crate::exercise::Verdict;
use crate::gil::{GlobalLock, Job, Runtime};
use crate::guards::{Pool, Store, StoreGuard, Transact};
use crate::process::{Inbox, Msg, Worker};
use serde_json::{json, Value};
use std::sync::atomic::AtomicUsize;
use std::time::Duration;
use crate::race::Bank;
use crate::starvation::{ReadWrite, Semaphore, TicketLock};
use crate::workqueue::{AgingQueue, WorkQueue};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;

/// Asserts that `verdict` rejects a wrong answer, with every fragment in
/// its message. (The complaint is also printed: while another test runs a
/// judge, the crate's silenced panic hook swallows panic messages.)
fn rejected(mistake: &str, verdict: &Verdict, fragments: &[&str]) {
    // What the learner would read (shown with `-- --nocapture`).
    eprintln!("{mistake}: {verdict}");
    let message = match verdict {
        Verdict::Failed(m) | Verdict::Panicked(m) => m.clone(),
        Verdict::TimedOut(_) => verdict.to_string(),
        Verdict::Passed(_) => complain(format!("the wrong answer `{mistake}` passed its judge: {verdict}")),
        Verdict::NotSolved => complain(format!("the wrong answer `{mistake}` read as not solved: the judge did not run it")),
    };
    for fragment in fragments {
        if !message.contains(fragment) {
            complain(format!("`{mistake}` was rejected, but the message does not say {fragment:?}: {verdict}"));
        }
    }
}

fn complain(why: String) -> ! {
    eprintln!("{why}");
    panic!("{why}");
}

macro_rules! wrong_answers {
    ($($(#[$only:meta])? $exercise:ident { $($mistake:ident => $answer:expr $(, says $fragment:literal)*;)+ })+) => {
        $(
            $(#[$only])?
            mod $exercise {
                $(
                    #[test]
                    fn $mistake() {
                        // In the body, so the answer's name finds the answer, not this test.
                        #[allow(unused_imports)]
                        use super::*;
                        let verdict = crate::exercises::judges::$exercise($answer);
                        super::rejected(stringify!($mistake), &verdict, &[$($fragment),*]);
                    }
                )+
            }
        )+

        /// (exercise, its wrong answers)
        const CATALOGUE: &[(&str, &[&str])] = &[$((stringify!($exercise), &[$(stringify!($mistake)),+]),)+];
    };
}

wrong_answers! {
    ch00_split_work {
        remainder_on_the_last_worker => remainder_on_the_last_worker, says "differ by 2";
        divides_by_zero_workers => |len, w| (0..w).map(|i| i * len / w..(i + 1) * len / w).chain(std::iter::once(len / w..len / w)).take(w.max(1)).collect(), says "split_work(0, 0) panicked";
        skips_empty_ranges => |len, w| split_evenly(len, w).into_iter().filter(|r| !r.is_empty()).collect(), says "expected exactly";
        ranges_overlap_by_one => |len, w| split_evenly(len, w).into_iter().map(|r| r.start..(r.end + 1).min(len)).collect(), says "gap or overlap";
    }
    ch00_squares_on_threads {
        computes_on_the_calling_thread => |n, square: Square| (0..n).map(|i| (square(i), std::thread::current().id())).collect(), says "calling thread";
        one_thread_for_all => one_thread_for_all, says "square(0) waited", says "had not even started";
        forgets_the_last_number => |n, square: Square| squares_on_own_threads(n.saturating_sub(1), square), says "squares_on_threads(1) gave squares []";
        squares_without_the_square_given => |n, _: Square| squares_on_own_threads(n, &|i| i * i), says "never called square(0)";
        reports_another_threads_id => reports_another_threads_id, says "names another";
        // Schedule-dependent: threads that exist, but one at a time.
        joins_each_thread_at_once => joins_each_thread_at_once_squares, says "squares_on_threads(5): square(0) waited", says "one after another";
        // Schedule-dependent: one thread at a time, in the order that never blocks a "wait for the next" rule.
        joins_in_reverse_order => joins_in_reverse_order, says "squares_on_threads(5): square(4) waited", says "to start";
        // Schedule-dependent: right whenever the threads happen to finish in spawn order.
        collects_in_finish_order => collects_in_finish_order, says "squares_on_threads(5) gave squares", says "not in the order the threads finish";
    }
    ch01_is_prime {
        one_is_prime => |n| n == 1 || crate::primes::is_prime(n), says "is_prime(1) returned true, but numbers below 2 are not prime";
        stops_before_the_square_root => stops_before_the_square_root, says "is_prime(4) returned true, but 4 = 2 × 2";
        two_is_not_prime => |n| n >= 2 && n % 2 != 0 && crate::primes::is_prime(n), says "is_prime(2) returned false";
        small_divisors_only => |n: u64| n >= 2 && (2..n.min(1_000)).all(|d| n % d != 0), says "returned true, but";
    }
    ch01_parallel_primes {
        forgets_two => forgets_two, says "missing 1 of 25 primes: [2]";
        skips_multiples_of_two_and_three => skips_multiples_of_two_and_three, says "not prime";
        forgets_to_sort => forgets_to_sort, says "ascending";
        drops_the_remainder => drops_the_remainder, says "0..103 with 4 workers", says "[101]";
        runs_sequentially => |nums: &[u64], _, is_prime: &(dyn Fn(u64) -> bool + Sync)| nums.iter().copied().filter(|&n| is_prime(n)).collect(), says "0..100 with 3 workers", says "never checked numbers at the same time";
        // Schedule-dependent: threads that exist, but one at a time.
        joins_each_thread_at_once => joins_each_thread_at_once, says "0..100 with 3 workers", says "never checked numbers at the same time";
        ignores_the_is_prime_given => |nums: &[u64], w, _: &(dyn Fn(u64) -> bool + Sync)| crate::primes::find_parallel(nums, w), says "never called";
    }
    ch02_predict_speedup {
        extrapolates_the_speedup_linearly => |t1, tk, k, n| Ok(t1 / tk * n as f64 / k as f64), says "predict_speedup(8, 4.5, 2, 1) returned 0.8889";
        b_from_the_target_count => |t1, tk, _k, n| {
            let b = (n as f64 * tk / t1 - 1.0) / (n as f64 - 1.0);
            Ok(1.0 / (b + (1.0 - b) / n as f64))
        }, says "predict_speedup(8, 4, 2, 1) returned NaN";
        clamps_instead_of_refusing => |t1, tk, k, n| {
            if k < 2 || n == 0 || !(t1 > 0.0 && tk > 0.0 && t1.is_finite() && tk.is_finite()) {
                return Err("bad input".into());
            }
            let b = ((k as f64 * tk / t1 - 1.0) / (k as f64 - 1.0)).clamp(0.0, 1.0);
            Ok(1.0 / (b + (1.0 - b) / n as f64))
        }, says "predict_speedup(8, 10, 2, 4) returned Ok(1)", says "B would be above 1";
        no_check_for_one_worker => |t1, tk, k, n| {
            let b = (k as f64 * tk / t1 - 1.0) / (k as f64 - 1.0);
            if !(0.0..=1.0).contains(&b) { return Err("out of range".into()) }
            Ok(1.0 / (b + (1.0 - b) / n as f64))
        }, says "predict_speedup(8, 4, 0, 4)", says "zero workers";
    }
    ch02_workers_needed {
        rounds_down => |b, target| {
            if target <= 1.0 { return Some(1) }
            let room = 1.0 / target - b;
            (room > 0.0).then(|| ((1.0 - b) / room) as usize)
        }, says "workers_needed(0.05, 10) returned Some(18)";
        never_says_never => |b: f64, target: f64| Some(((1.0 - b) / (1.0 / target - b)).ceil().max(1.0) as usize), says "workers_needed(0.05, 20) returned Some(", says "no number of workers";
        strictly_more_than_the_target => |b, target| (1..100_000usize).find(|&n| 1.0 / (b + (1.0 - b) / n as f64) > target), says "workers_needed(0.5, 1.6) returned Some(5)";
        // Right for every reachable target; counts forever on the others.
        searches_forever => |b, target| (1usize..).find(|&n| 1.0 / (b + (1.0 - b) / n as f64) >= target), says "did not finish within 10 s";
    }
    ch03_work_queue {
        pop_gives_up_when_empty => Impatient::new, says "returned None while the queue was still open", says "empty, open queue";
        close_wakes_nobody => Sleepy::new, says "3 of 3 consumer(s) were still blocked in pop()", says "seen asleep";
        pops_the_newest_first => Lifo::new, says "first in, first out";
        // Schedule-dependent: wrong only when two consumers wait at close() (the judge makes them).
        close_wakes_only_one => WakesOne::new, says "2 of 3 consumer(s) were still blocked in pop()", says "seen asleep";
        // Schedule-dependent: wrong only when close() lands between pop()'s look at the flag
        // and its wait (the judge stops a consumer there).
        closed_flag_outside_the_mutex => FlagOutside::new, says "about to wait", says "lost wake-up";
        // Schedule-dependent: wrong only when a push comes just before a consumer's wait.
        notifies_before_pushing => Aged::<NOTIFY_FIRST>::default, says "a push of job 42", says "lost wake-up";
    }
    ch03_aging_queue {
        // The three below starve the low job, or hold it too long, under the stream of urgent jobs.
        never_ages => Aged::<NEVER_AGES>::default, says "job 1 had waited 1000 pops and was still in the queue", says "starves";
        ages_by_pops_before_the_push => Aged::<POPS_BEFORE_THE_PUSH>::default, says "still in the queue", says "starves";
        ties_go_to_the_newest => Aged::<TIES_NEWEST>::default, says "came out only at pop 52, after waiting 51 pops", says "tie goes to the job pushed first";
        ages_on_every_push => Aged::<AGES_ON_PUSH>::default, says "pop 2 returned job 10, but by the aging rule job 13 comes out";
        ignores_priorities => Aged::<FIFO>::default, says "pop 1 returned job 10, but by the aging rule job 11 comes out";
        least_urgent_first => Aged::<LEAST_URGENT>::default, says "pop 1 returned job 12";
        subtracts_in_unsigned => Aged::<UNSIGNED>::default, says "push(2, 14) panicked: attempt to subtract with overflow";
        pop_gives_up_when_empty => Aged::<GIVES_UP>::default, says "returned None while the queue was still open", says "empty, open queue";
        close_wakes_nobody => Aged::<SILENT_CLOSE>::default, says "3 of 3 consumer(s) were still blocked in pop()", says "seen asleep";
        // Schedule-dependent: wrong only when close() lands between pop()'s look at the flag
        // and its wait (the judge stops a consumer there).
        closed_flag_outside_the_mutex => Aged::<FLAG_OUTSIDE>::default, says "about to wait", says "lost wake-up";
        // Schedule-dependent: wrong only when the push comes while a consumer is between its
        // look at the empty queue and its wait (the judge stops a consumer there).
        notifies_before_pushing => Aged::<NOTIFY_FIRST>::default, says "a push of job 42", says "lost wake-up";
    }
    ch04_lease {
        never_gives_back => leaky, says "not given back";
        gives_back_twice => twice, says "twice";
        gives_back_at_once => at_once, says "instead of 2";
        gives_back_slot_zero => slot_zero, says "twice";
        // Schedule-dependent: right unless another thread takes the slot between the look and the take.
        checks_available_then_takes => checks_available_then_takes, says "two threads asking at once", says "unwrap";
        unwraps_take => unwraps_take, says "a fourth lease from a pool of 3 (all slots held) panicked";
    }
    ch04_transaction {
        commit_does_not_disarm => |s: &Store| undo_log(s, Slip::CommitKeepsTheUndo), says "commit (30 moved", says "alice is 100 (expected 70)";
        never_rolls_back => |s: &Store| undo_log(s, Slip::NeverUndoes), says "`?` (30 taken", says "alice is 70 (expected 100)";
        rolls_back_only_when_panicking => |s: &Store| undo_log(s, Slip::UndoesOnlyWhilePanicking), says "`?` (30 taken", says "alice is 70 (expected 100)";
        undoes_oldest_first => |s: &Store| undo_log(s, Slip::UndoesOldestFirst), says "a key changed twice", says "alice is 70 (expected 100)";
        remembers_only_the_last_change => |s: &Store| LastChangeOnly { guard: s.lock(), last: None }, says "early return", says "alice is -20 (expected 100)";
        absent_key_undone_as_zero => |s: &Store| AbsentAsZero { guard: s.lock(), undo: Vec::new() }, says "and a new key", says "carol is 0 (expected no carol";
        commit_forgets_the_guard => |s: &Store| undo_log(s, Slip::ForgetsItselfOnCommit), says "commit (30 moved", says "still locked";
        // Schedule-dependent, these three: right whenever no other thread reads between two
        // steps (the judge's reader gets in wherever the lock is free).
        locks_for_each_change => |s: &Store| StepLocked::<false> { store: s.clone(), undo: Vec::new() }, says "another thread read the store between two of the transaction's changes", says "alice = 70, bob = 50";
        lets_the_begin_guard_go => lets_the_begin_guard_go, says "half a transaction";
        locks_inside_each_method => |s: &Store| StepLocked::<true> { store: s.clone(), undo: Vec::new() }, says "half a transaction", says "alice = 70, bob = 50";
        // Schedule-dependent: right unless another thread writes between the transaction's
        // first read and its commit (the judge's depositor comes in right after that read).
        locks_only_at_commit => |s: &Store| Deferred { store: s.clone(), pending: BTreeMap::new() }, says "another thread deposits", says "alice is 70 (expected 75)";
    }
    ch06_reliable_pool {
        drops_the_job_of_a_dead_worker => flawed_pool::<POOL_DROPS_THE_JOB>, says "die mid-job", says "is null";
        gives_up_when_one_worker_dies => flawed_pool::<POOL_GIVES_UP>, says "returned Err", says "still alive";
        one_worker_at_a_time => one_worker_at_a_time, says "never had two workers busy at the same time";
        waits_for_answers_that_never_come => flawed_pool::<POOL_WAITS_FOR_EVER>, says "`exit` kills every worker", says "did not finish within";
        returns_ok_with_holes => flawed_pool::<POOL_OK_WITH_HOLES>, says "`exit` job can never be answered";
        // Schedule-dependent: right when a worker dies with one job in flight;
        // the check kills one (at job 0) that has a second job (job 1) on its way.
        two_jobs_in_flight => two_jobs_in_flight, says "die mid-job", says "is null";
    }
    ch06_poison_pill {
        // Schedule-dependent: right whenever the jobs are in before a consumer
        // looks; the check lets the consumers look first.
        checks_empty_then_exits => (produce_once, checks_empty_then_exits), says "before 1 producer", says "never done";
        // Schedule-dependent: right with one producer, or when the producers
        // finish together; the check runs the second after the first is done.
        every_producer_sends_stops => (every_producer_sends_stops, consume_until_stop), says "the second starting once the first has returned", says "still in the inbox at the end: [513, 1327, 100000, 9999999, 433785907]";
        one_stop_for_all => (one_stop_for_all, consume_until_stop), says "2 of 3 consumer(s) were still waiting in take()";
        stops_before_jobs => (stops_before_jobs, consume_until_stop), says "never done";
        ignores_the_stop => (produce_once, ignores_the_stop), says "3 of 3 consumer(s) were still waiting in take()";
        computes_in_the_consumer => (produce_once, computes_in_the_consumer), says "not in the consumer's thread";
    }
    ch07_tree_reduce {
        folds_on_one_thread => ch07::folds_on_one_thread, says "4 values on 2 workers", says "not combined on several threads at the same time";
        joins_each_thread_at_once => ch07::joins_each_thread_at_once, says "4 values on 2 workers", says "not combined on several threads at the same time";
        drops_the_odd_one_out => ch07::drops_the_odd_one_out, says "3 values on 2 workers", says "\"ab\", want \"abc\"";
        panics_on_an_empty_list => ch07::panics_on_an_empty_list, says "0 values on 2 workers: your code panicked";
        folds_each_workers_chunk => ch07::folds_each_workers_chunk, says "7 values on 2 workers", says "4 levels deep", says "only 3 rounds";
        // Schedule-dependent: right whenever the pairs of a round happen to finish in
        // order; the judge holds the first pair back until another has finished.
        collects_in_finish_order => ch07::collects_in_finish_order, says "4 values on 2 workers", says "\"cdab\", want \"abcd\"", says "finish order";
    }
    ch07_find_flaw {
        compares_with_a_tolerance => ch07::compares_with_a_tolerance, says "floating-point addition over the samples [0.1, 0.2, 0.3]: you found no flaw", says "0.6000000000000001";
        never_repeats_a_sample => ch07::never_repeats_a_sample, says "power over the samples [2, 1]: you reported NotCommutative(2.0, 1.0)", says "(2 ∘ 1) ∘ 2 = 4 while 2 ∘ (1 ∘ 2) = 2";
        tries_neighbouring_samples_only => ch07::tries_neighbouring_samples_only, says "power over the samples [2, 1]";
        checks_associativity_only => ch07::checks_associativity_only, says "keep the left one over the samples [1, 2, 3]: you found no flaw", says "1 ∘ 2 = 1 while 2 ∘ 1 = 2";
        checks_commutativity_first => ch07::checks_commutativity_first, says "subtraction", says "NotCommutative(8.0, 3.0)", says "grouping matters too";
        swaps_b_and_c_on_one_side => ch07::swaps_b_and_c_on_one_side, says "power over the samples [2, 1]: you reported NotAssociative(2.0, 2.0, 1.0)", says "do not break the law";
    }
    // Rows of a chapter that needs a feature carry its `#[cfg]`, as in the exercise table.
    #[cfg(feature = "image")] ch08_seamless_tiles {
        no_halo => tile_answers::no_halo, says "the block around that pixel reaches";
        halo_one_pixel_short => tile_answers::halo_one_pixel_short, says "still inside the image";
        keeps_the_halo => tile_answers::keeps_the_halo, says "cut the halo off again";
        pads_with_black => tile_answers::pads_with_black, says "past the image's edge";
    }
    #[cfg(feature = "image")] ch08_parallel_tiles {
        one_at_a_time => tile_answers::one_at_a_time, says "400 tiles on 2 workers, tile 0 slow", says "had still not started";
        // Schedule-dependent: fine while tiles cost the same; the check makes tile 0 slow,
        // and the rest of worker 0's block waits behind it.
        fixed_blocks => tile_answers::fixed_blocks, says "400 tiles on 2 workers, tile 0 slow", says "tiles [1, 2, 3, 4, 5, 6, ... 199 in all] had still not started";
        // Schedule-dependent: right whenever tiles finish in order; the slow tile makes them not.
        finish_order => tile_answers::finish_order, says "results must come back in tile order";
        drops_the_remainder => tile_answers::drops_the_remainder, says "10 tiles on 3 workers: tiles [9] were never processed";
    }
    #[cfg(feature = "async")] ch09_count_primes {
        // Schedule-dependent, the first three: right on an idle loop; the judge puts a probe task beside the count.
        never_yields => async_answers::never_yields, says "got 0 turn(s)", says "did not give the loop back";
        yields_the_thread_not_the_task => async_answers::yields_the_thread_not_the_task, says "got 0 turn(s)";
        yields_once_at_the_start => async_answers::yields_once_at_the_start, says "got 0 turn(s)", says "while it worked";
        ignores_every => async_answers::ignores_every, says "count_primes(300000, 1000) ran", says "about 300 expected";
        counts_up_to_and_including => async_answers::counts_up_to_and_including, says "count_primes(2, 1000) returned 1, expected 0";
        one_is_prime => async_answers::one_is_prime, says "count_primes(2, 1000) returned 1, expected 0", says "0 and 1 are not prime";
    }
    #[cfg(feature = "async")] ch09_first_prime {
        checks_in_list_order => async_answers::checks_in_list_order, says "the first prime in the list";
        // Schedule-dependent: concurrent checks, right whenever the list is in the order they finish.
        awaits_the_tasks_in_list_order => async_answers::awaits_the_tasks_in_list_order, says "the first prime in the list";
        stops_at_the_first_answer => async_answers::stops_at_the_first_answer, says "returned Some(91), which is not prime";
        // Schedule-dependent: right answer; the judge looks at the loop after it returned.
        leaves_the_others_running => async_answers::leaves_the_others_running, says "was still running 16 turns later";
        smallest_first_one_by_one => async_answers::smallest_first_one_by_one, says "was never started";
    }
    #[cfg(feature = "async")] ch10_countdowns {
        one_after_another => async_answers::one_after_another, says "they ran one after another";
        blocking_sleep => async_answers::blocking_sleep, says "std::thread::sleep";
        sorted_by_name => async_answers::sorted_by_name, says "came before";
        // Schedule-dependent: right whenever the countdowns' ticks do not interleave; the judge's plans make them.
        grouped_by_countdown => async_answers::grouped_by_countdown, says "\"A 0\" (due at 300 ms) came before \"B 2\" (due at 80 ms)";
    }
    #[cfg(feature = "async")] ch10_at_most_k {
        one_at_a_time => async_answers::one_at_a_time, says "job 1 started at 100 ms on tokio's clock, but a slot was free from 0 ms";
        all_at_once => async_answers::all_at_once, says "5 jobs were running at once, but k = 2";
        // Schedule-dependent: right while the jobs of a batch take equal times; the judge makes job 0 slow.
        in_batches_of_k => async_answers::in_batches_of_k, says "job 2 started at 100 ms on tokio's clock, but a slot was free from 10 ms";
        // Schedule-dependent: right whenever the jobs finish in their order; the judge makes them not.
        results_in_finish_order => async_answers::results_in_finish_order, says "not in the jobs' order";
    }
    #[cfg(feature = "web")] ch05_deadline {
        waits_for_every_thread => web_answers::waits_for_every_thread, says "had not returned 15 s after its deadline", says "/hold/a";
        one_url_at_a_time => web_answers::one_url_at_a_time, says "the server saw only 1 of the 5 requests arrive", says "one at a time";
        // Schedule-dependent: right whenever the answers come back in the URLs' order;
        // the check's server holds URLs 1 and 3 until the function returns, so
        // arrival order never matches (whatever the order among the others).
        collects_in_finish_order => web_answers::collects_in_finish_order, says "in the wrong places", says "finish order";
        drops_error_statuses => web_answers::drops_error_statuses, says "URL 1 (/gate/five?n=5&rank=3&status=404)", says "an error status is an answer too";
    }
    #[cfg(feature = "web")] ch05_retries {
        retries_without_pausing => web_answers::retries_without_pausing, says "must be at least 300ms";
        pauses_the_same_each_time => web_answers::pauses_the_same_each_time, says "attempt 3 came", says "at least 600ms";
        retries_client_errors => web_answers::retries_client_errors, says "answers 404", says "asking again gets the same answer";
        one_attempt_too_few => web_answers::one_attempt_too_few, says "answers 502 to the first 3 requests", says "too few";
        returns_the_last_status => web_answers::returns_the_last_status, says "every attempt failed, and you returned Ok(503)";
    }
    #[cfg(feature = "async")] ch11_echo_server {
        // Schedule-dependent: right whenever clients come one after another;
        // the check keeps client A connected, half-way through a line, while B talks.
        one_client_at_a_time => channel_answers::one_client_at_a_time, says "got no answer within", says "one client at a time";
        no_bye_on_quit => channel_answers::no_bye_on_quit, says "A sent \"quit\": your server closed client A's connection instead of answering";
        stays_open_after_quit => channel_answers::stays_open_after_quit, says "was still open";
        echoes_what_each_read_returns => channel_answers::echoes_what_each_read_returns, says "want \"echo: ";
    }
    #[cfg(feature = "async")] ch11_pipeline {
        plenty_of_room => channel_answers::plenty_of_room, says "no backpressure";
        // Schedule-dependent: its order is right only while the runtime runs tasks
        // in the order they were spawned; its backpressure is gone in every run.
        a_task_per_number => channel_answers::a_task_per_number, says "no backpressure";
        ignores_the_capacity => channel_answers::ignores_the_capacity, says "accepted only 3 numbers";
        ignores_a_closed_output => channel_answers::ignores_a_closed_output, says "the stage should stop";
    }
    ch12_philosophers {
        // Schedule-dependent: deadlocks only when all reach for their right fork at once.
        left_then_right => left_then_right, says "deadlock: ", says "everyone's first fork in hand before anyone reached for a second";
        eats_with_one_fork => one_fork, says "without holding fork";
        puts_the_left_fork_down_before_eating => puts_left_down, says "without holding fork";
        skips_a_meal => skips_a_meal, says "expected 3";
    }
    ch12_find_cycle {
        always_none => |_| None, says "returned None";
        pairs_only => pairs_only, says "threads [1, 2, 3] wait for each other";
        misses_self_waits => misses_self_waits, says "[Some(0)]";
        returns_the_whole_path => returns_the_whole_path, says "not a cycle";
    }
    ch13_fair_rwlock {
        // Schedule-dependent: writers starve only while the readers' reads overlap
        // (the judge makes a reader arrive while a writer waits).
        readers_first => ReadersFirst::new, says "R2 got in at once", says "seen asleep";
        no_exclusion => || Free, says "reader R1 held inside read(), then writer W asking", says "writers must be alone";
        readers_never_share => || FairMutex(Semaphore::new(1)), says "never more than 1 inside at a time";
        // Schedule-dependent: readers starve only while a writer is always waiting.
        writers_first => WritersFirst::default, says "reader", says "starved";
    }
    ch13_ticket_lock {
        // Schedule-dependent: the order in which threads grab the flag is the scheduler's.
        barging => || Barging { next: AtomicU64::new(0), taken: AtomicBool::new(false) }, says "in the order they were drawn";
        unlock_forgets_the_next => || Forgetful { next: AtomicU64::new(0), serving: AtomicU64::new(0) }, says "never returned";
        returns_the_next_ticket => || NextTicket { next: AtomicU64::new(0), serving: AtomicU64::new(0) }, says "expected [0, 1, 2]";
        // Schedule-dependent: right on one thread, and whenever nobody else is inside.
        tickets_but_no_waiting => || NoWaiting(AtomicU64::new(0)), says "inside the lock at once";
    }
    ch14_bank_transfer {
        // Schedule-dependent, all of them: right on one thread.
        no_locks => racy_transfer, says "replay_bank";
        from_then_to => from_then_to, says "deadlock";
        a_lock_the_explorer_cannot_see => std_mutex, says "did not reach its next step";
        checks_then_locks => checks_then_locks, says "overdrawn", says "replay_bank";
        locks_only_the_lower_account => locks_only_the_lower_account, says "replay_bank";
        locks_only_from => locks_only_from, says "replay_bank";
    }
    ch14_breaking_schedule {
        one_transfer_then_the_other => || vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 1], says "nothing went wrong";
        lists_only_the_decisive_step => || vec![1], says "lists 1 step(s)";
        more_switches_than_needed => || vec![0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], says "with 3 switches", says "can be done with 2";
        // Schedule-dependent by construction: every step alternates.
        alternates_every_step => || [0, 1].repeat(8), says "cannot run";
        names_a_third_thread => || vec![2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1], says "only two threads";
    }
    ch15_fair_gil {
        // Schedule-dependent: right whenever the woken thread is quicker than the one that woke it.
        offers_but_grabs_it_back => || WrongGil::new(GilMistake::OffersButGrabsItBack), says "before thread 1 ever had it";
        // Schedule-dependent: wrong only while a thread waits in switch for its turn back.
        counts_only_threads_in_acquire => || WrongGil::new(GilMistake::CountsOnlyAcquire), says "thread 0 never got it back";
        no_exclusion => || WrongGil::new(GilMistake::NoExclusion), says "returned while thread 0 held the lock";
        switch_always_waits => || WrongGil::new(GilMistake::SwitchAlwaysWaits), says "with nobody else waiting";
        switch_wakes_nobody => || WrongGil::new(GilMistake::SwitchWakesNobody), says "thread 1 never got the lock";
        release_wakes_nobody => || WrongGil::new(GilMistake::ReleaseWakesNobody), says "the threads are stuck";
    }
    ch15_two_jobs {
        gil_serialises_native_code_too => |r, c, j: Job| two_jobs_gil_covers(r, c, j, true, false), says "CPythonThreads, 2 core(s)";
        gil_held_while_waiting => |r, c, j: Job| two_jobs_gil_covers(r, c, j, false, true), says "CPythonThreads, 2 core(s)";
        ignores_the_cores => |r, _c, j: Job| two_jobs_gil_covers(r, 2, j, false, false), says "1 core(s)";
        free_threaded_keeps_the_gil => |r, c, j: Job| two_jobs_gil_covers(if r == Runtime::FreeThreaded { Runtime::CPythonThreads } else { r }, c, j, false, false), says "FreeThreaded";
        processes_share_one_gil => |r, c, j: Job| two_jobs_gil_covers(if r == Runtime::CPythonProcesses { Runtime::CPythonThreads } else { r }, c, j, false, false), says "CPythonProcesses";
    }
    ch16_approximate_counter {
        // Schedule-dependent: right on one thread; the explorer puts two flushes between each other's load and store.
        flush_loads_then_stores => |g, s| WrongLocal::new(g, s, LocalMistake::LoadThenStore), says "explored schedule", says "lost";
        never_flushes_before_the_end => |g, s| WrongLocal::new(g, s, LocalMistake::NeverFlushesEarly), says "may lag by at most workers x S = 15";
        flushes_every_increment => |g, s| WrongLocal::new(g, s, LocalMistake::FlushesEveryIncrement), says "written";
        keeps_the_count_after_flushing => |g, s| WrongLocal::new(g, s, LocalMistake::KeepsTheCount), says "more than was counted";
        flush_forgets_the_remainder => |g, s| WrongLocal::new(g, s, LocalMistake::FlushForgetsTheRemainder), says "then every worker's flush()", says "not 100";
    }
    #[cfg(feature = "rcu")]
    ch16_rcu_update {
        // Schedule-dependent, the first three: right on one thread; the explorer lets the other writer publish in between.
        load_copy_store => rcu_wrong::load_copy_store, says "explored schedule", says "lost";
        one_try_then_gives_up => rcu_wrong::one_try_then_gives_up, says "explored schedule";
        retries_with_the_first_copy => rcu_wrong::retries_with_the_first_copy, says "explored schedule";
        retries_with_a_stale_version => rcu_wrong::retries_with_a_stale_version, says "endless loop";
        publishes_only_the_new_node => rcu_wrong::publishes_only_the_new_node, says "on one thread", says "should publish";
    }
    ch17_relay_orderings {
        // Schedule-dependent, the first four: right in every run on x86; the
        // judge explores every execution the memory model allows.
        all_relaxed => || relay(Relaxed, Relaxed, Relaxed, Relaxed), says "T2 saw go = 1 and still read data = 0", says "broken at `ready`";
        middle_does_not_acquire => || relay(Release, Relaxed, Release, Acquire), says "`ready` (T0's Release store read by T1's Relaxed load does not synchronise)";
        consumer_does_not_acquire => || relay(Release, Acquire, Release, Relaxed), says "broken at `go`";
        middle_does_not_release => || relay(Release, Acquire, Relaxed, Acquire), says "broken at `go`";
        seqcst_everywhere => || relay(SeqCst, SeqCst, SeqCst, SeqCst), says "not the weakest", says "raise_ready could be Release";
        acquire_on_the_store => || relay(Acquire, Acquire, Release, Acquire), says "raise_ready is a store", says "acquire store";
        acqrel_everywhere => || relay(AcqRel, AcqRel, AcqRel, AcqRel), says "acquire-release store";
    }
    ch17_atomic_max {
        // Schedule-dependent: right on one thread; the explorer interleaves the steps.
        load_then_store => |best: &SteppedU64, v| if best.load() < v { best.store(v) }, says "replay_max";
        one_try_then_gives_up => |best: &SteppedU64, v| { let c = best.load(); if c < v { let _ = best.compare_exchange(c, v); } }, says "replay_max";
        retries_without_comparing_again => retries_without_comparing_again, says "the maximum of 0 and [5, 7] is 7", says "replay_max";
        retries_with_a_stale_value => retries_with_a_stale_value, says "endless loop";
        stores_even_when_smaller => |best: &SteppedU64, v| loop { let c = best.load(); if best.compare_exchange(c, v).is_ok() { return } }, says "on one thread, from 4, record_max(3)";
    }
    ch18_calculator {
        plain_arithmetic => calculator_answers::plain_arithmetic, says "evaluate(\"9223372036854775807,1\", Mode::Sum) panicked";
        empty_fields_are_skipped => calculator_answers::empty_fields_are_skipped, says "evaluate(\",\", Mode::Sum) returned Ok(0)";
        no_room_around_numbers => calculator_answers::no_room_around_numbers, says "evaluate(\" 4 , 9 \", Mode::Sum) returned Err";
        the_parsers_own_message => calculator_answers::the_parsers_own_message, says "does not name the bad field";
        empty_line_is_zero => calculator_answers::empty_line_is_zero, says "evaluate(\"\", Mode::Sum) returned Ok(0)";
    }
    #[cfg(feature = "server")] ch18_line_buffer {
        each_read_is_a_line => line_answers::each_read_is_a_line, says "three lines in one read";
        first_line_only => line_answers::first_line_only, says "three lines in one read";
        drops_the_unfinished_rest => line_answers::drops_the_unfinished_rest, says "one line in two reads";
        // Schedule-dependent: right whenever no read ends inside a character;
        // the judge cuts the stream at every place, also inside "é".
        text_per_read => line_answers::text_per_read, says "the same stream cut in another place";
        no_limit => line_answers::no_limit, says "no newline";
        limits_the_read_not_the_line => line_answers::limits_the_read_not_the_line, says "600 short lines";
    }
    #[cfg(feature = "testing")]
    ch19_max_instances {
        // Schedule-dependent: right whenever each run begins before the next
        // tick; the judge holds the runner up so that three ticks come at once.
        counts_once_the_run_begins => ch19::counts_once_the_run_begins, says "held up from 250 ms to 950 ms", says "should have been skipped, but it ran";
        queues_the_tick => ch19::queues_the_tick, says "skipped, not queued";
        awaits_each_run => ch19::awaits_each_run, says "later, at 700 ms";
        lets_one_too_many_in => ch19::lets_one_too_many_in, says "tick 2 came at 600 ms while 1 run(s) were in flight";
        first_tick_at_once => ch19::first_tick_at_once, says "started at 0 ms, before its tick (300 ms)";
        returns_without_waiting => ch19::returns_without_waiting, says "were not finished";
    }
    #[cfg(feature = "testing")]
    ch19_shuttle_test {
        takes_on_one_thread => ch19::takes_on_one_thread, says "passed against the LosingRoll in all 1000 schedules";
        // Schedule-dependent: right whenever the spawned taker goes first.
        expects_the_spawned_thread_first => ch19::expects_the_spawned_thread_first, says "failed against the correct Roll", says "in every interleaving";
        // Schedule-dependent: right whenever both takers finish before the check.
        checks_before_joining => ch19::checks_before_joining, says "failed against the correct Roll";
        never_asserts => ch19::never_asserts, says "cannot catch its bug";
        takes_one_ticket => ch19::takes_one_ticket, says "took 1 ticket(s) per run";
    }
}

use crate::counters::{Global, LocalCount};

#[derive(Clone, Copy)]
enum LocalMistake {
    LoadThenStore,
    NeverFlushesEarly,
    FlushesEveryIncrement,
    KeepsTheCount,
    FlushForgetsTheRemainder,
}

/// An approximate counter's local part, with one mistake.
struct WrongLocal {
    global: Arc<Global>,
    threshold: u64,
    count: u64,
    flushed: u64,
    mistake: LocalMistake,
}

impl WrongLocal {
    fn new(global: Arc<Global>, threshold: u64, mistake: LocalMistake) -> WrongLocal {
        WrongLocal { global, threshold, count: 0, flushed: 0, mistake }
    }

    fn publish(&mut self) {
        match self.mistake {
            LocalMistake::LoadThenStore => {
                let g = self.global.load();
                self.global.store(g + self.count);
            }
            LocalMistake::KeepsTheCount => {
                // Adds the whole local count again each time.
                self.global.fetch_add(self.count);
                self.flushed = self.count;
                return;
            }
            _ => {
                self.global.fetch_add(self.count);
            }
        }
        self.count = 0;
    }
}

impl LocalCount for WrongLocal {
    fn increment(&mut self) {
        self.count += 1;
        match self.mistake {
            LocalMistake::NeverFlushesEarly => {}
            LocalMistake::FlushesEveryIncrement => self.publish(),
            LocalMistake::KeepsTheCount => {
                if self.count - self.flushed >= self.threshold {
                    self.publish();
                }
            }
            _ => {
                if self.count >= self.threshold {
                    self.publish();
                }
            }
        }
    }

    fn flush(&mut self) {
        match self.mistake {
            LocalMistake::FlushForgetsTheRemainder => {}
            LocalMistake::KeepsTheCount if self.count > self.flushed => self.publish(),
            LocalMistake::KeepsTheCount => {}
            _ if self.count > 0 => self.publish(),
            _ => {}
        }
    }
}

#[cfg(feature = "rcu")]
mod rcu_wrong {
    use crate::rcu::{Network, Published};
    use std::sync::Arc;

    fn with(current: &Network, name: &str, address: &str) -> Arc<Network> {
        let mut copy = current.clone();
        copy.nodes.insert(name.to_string(), address.to_string());
        Arc::new(copy)
    }

    /// Copies and publishes, whatever was published in between.
    pub fn load_copy_store(net: &Published<Network>, name: &str, address: &str) {
        let current = net.load();
        net.store(with(&current, name, address));
    }

    /// Compare-and-swap once, and never looks at whether it worked.
    pub fn one_try_then_gives_up(net: &Published<Network>, name: &str, address: &str) {
        let current = net.load();
        net.compare_and_swap(&current, with(&current, name, address));
    }

    /// Retries, but with the copy made from the first version it read.
    pub fn retries_with_the_first_copy(net: &Published<Network>, name: &str, address: &str) {
        let mut current = net.load();
        let copy = with(&current, name, address);
        loop {
            let found = net.compare_and_swap(&current, copy.clone());
            if Arc::ptr_eq(&found, &current) {
                return;
            }
            current = found;
        }
    }

    /// Retries against the version it read first: once another writer has
    /// published, that swap can never succeed.
    pub fn retries_with_a_stale_version(net: &Published<Network>, name: &str, address: &str) {
        let current = net.load();
        while !Arc::ptr_eq(&net.compare_and_swap(&current, with(&current, name, address)), &current) {}
    }

    /// Publishes a network of the new node alone.
    pub fn publishes_only_the_new_node(net: &Published<Network>, name: &str, address: &str) {
        let mut fresh = Network { primary: name.to_string(), nodes: Default::default() };
        fresh.nodes.insert(name.to_string(), address.to_string());
        let current = net.load();
        net.compare_and_swap(&current, Arc::new(fresh));
    }
}
use crate::atomics::{Relay, SteppedU64};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

fn relay(raise_ready: Ordering, see_ready: Ordering, raise_go: Ordering, see_go: Ordering) -> Relay {
    Relay { raise_ready, see_ready, raise_go, see_go }
}

/// Checks once, then retries the exchange until it succeeds, without
/// asking whether the value it now sees is already bigger.
fn retries_without_comparing_again(best: &SteppedU64, value: u64) {
    let mut current = best.load();
    if current >= value {
        return;
    }
    while let Err(now) = best.compare_exchange(current, value) {
        current = now;
    }
}

/// Retries with the value it read first: once another thread has changed
/// it, the exchange can never succeed.
fn retries_with_a_stale_value(best: &SteppedU64, value: u64) {
    let current = best.load();
    while current < value && best.compare_exchange(current, value).is_err() {}
}

#[test]
fn every_exercise_has_three_wrong_answers() {
    let thin: Vec<String> = crate::exercises::TABLE
        .iter()
        .filter_map(|e| {
            let n = CATALOGUE.iter().find(|(name, _)| *name == e.name).map_or(0, |(_, wrong)| wrong.len());
            (n < 3).then(|| format!("{} has {n}", e.name))
        })
        .collect();
    if !thin.is_empty() {
        complain(format!("every exercise needs at least 3 wrong answers in the catalogue: {}", thin.join(", ")));
    }
}

// --- ch00 ----------------------------------------------------------------------

/// Right: balanced ranges (the building block of some wrong answers).
fn split_evenly(len: usize, w: usize) -> Vec<Range<usize>> {
    if w == 0 {
        return vec![];
    }
    (0..w).map(|i| i * len / w..(i + 1) * len / w).collect()
}

fn remainder_on_the_last_worker(len: usize, w: usize) -> Vec<Range<usize>> {
    if w == 0 {
        return vec![];
    }
    let size = len / w;
    (0..w).map(|i| i * size..if i == w - 1 { len } else { (i + 1) * size }).collect()
}

type Square<'a> = &'a (dyn Fn(usize) -> usize + Sync);

/// Right (the building block of some wrong answers).
fn squares_on_own_threads(n: usize, square: Square) -> Vec<(usize, ThreadId)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || (square(i), std::thread::current().id()))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn one_thread_for_all(n: usize, square: Square) -> Vec<(usize, ThreadId)> {
    std::thread::scope(|s| s.spawn(move || (0..n).map(|i| (square(i), std::thread::current().id())).collect()).join().unwrap())
}

/// Squares on the calling thread, and spawns threads only for their ids.
fn reports_another_threads_id(n: usize, square: Square) -> Vec<(usize, ThreadId)> {
    (0..n).map(|i| (square(i), std::thread::spawn(|| std::thread::current().id()).join().unwrap())).collect()
}

fn joins_each_thread_at_once_squares(n: usize, square: Square) -> Vec<(usize, ThreadId)> {
    std::thread::scope(|s| (0..n).map(|i| s.spawn(move || (square(i), std::thread::current().id())).join().unwrap()).collect())
}

fn joins_in_reverse_order(n: usize, square: Square) -> Vec<(usize, ThreadId)> {
    let mut pairs: Vec<(usize, ThreadId)> = std::thread::scope(|s| {
        (0..n).rev().map(|i| s.spawn(move || (square(i), std::thread::current().id())).join().unwrap()).collect()
    });
    pairs.reverse();
    pairs
}

fn collects_in_finish_order(n: usize, square: Square) -> Vec<(usize, ThreadId)> {
    let done = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for i in 0..n {
            let done = &done;
            s.spawn(move || {
                let pair = (square(i), std::thread::current().id());
                done.lock().unwrap().push(pair);
            });
        }
    });
    done.into_inner().unwrap()
}

// --- ch01 ----------------------------------------------------------------------

fn stops_before_the_square_root(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    (2..n).take_while(|d| d * d < n).all(|d| n % d != 0)
}

type IsPrime<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// Right, on threads that run at the same time, given what to keep.
fn on_workers(numbers: &[u64], workers: usize, keep: &(dyn Fn(u64) -> bool + Sync)) -> Vec<u64> {
    let chunk = numbers.len().div_ceil(workers.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            numbers.chunks(chunk).map(|part| s.spawn(move || part.iter().copied().filter(|&n| keep(n)).collect::<Vec<u64>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

fn forgets_two(numbers: &[u64], workers: usize, is_prime: IsPrime) -> Vec<u64> {
    sorted(on_workers(numbers, workers, &|n| n % 2 == 1 && is_prime(n)))
}

fn skips_multiples_of_two_and_three(numbers: &[u64], workers: usize, is_prime: IsPrime) -> Vec<u64> {
    // Calls is_prime (so the threads meet), then trusts a shortcut instead.
    sorted(on_workers(numbers, workers, &|n| is_prime(n) || (n > 2 && n % 2 == 1 && n % 3 != 0)))
}

fn forgets_to_sort(numbers: &[u64], workers: usize, is_prime: IsPrime) -> Vec<u64> {
    let mut p = sorted(on_workers(numbers, workers, is_prime));
    p.reverse(); // as if the last chunk's thread had finished first
    p
}

/// Chunks of `len / workers` (rounded down): the last few numbers are never checked.
fn drops_the_remainder(numbers: &[u64], workers: usize, is_prime: IsPrime) -> Vec<u64> {
    let size = (numbers.len() / workers.max(1)).max(1);
    let primes: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.max(1))
            .filter_map(|w| numbers.get(w * size..(w + 1) * size))
            .map(|part| s.spawn(move || part.iter().copied().filter(|&n| is_prime(n)).collect::<Vec<u64>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    sorted(primes)
}

/// A thread per chunk, but each joined right after it was spawned.
fn joins_each_thread_at_once(numbers: &[u64], workers: usize, is_prime: IsPrime) -> Vec<u64> {
    let chunk = numbers.len().div_ceil(workers.max(1)).max(1);
    let primes = std::thread::scope(|s| {
        numbers
            .chunks(chunk)
            .flat_map(|part| s.spawn(move || part.iter().copied().filter(|&n| is_prime(n)).collect::<Vec<u64>>()).join().unwrap())
            .collect()
    });
    sorted(primes)
}

// --- ch03 ----------------------------------------------------------------------

/// Wrong: pop gives up as soon as the queue is empty.
struct Impatient(Mutex<VecDeque<u64>>);
impl Impatient {
    fn new() -> Impatient {
        Impatient(Mutex::new(VecDeque::new()))
    }
}
impl WorkQueue for Impatient {
    fn push(&self, job: u64) {
        self.0.lock().unwrap().push_back(job);
    }
    fn pop(&self) -> Option<u64> {
        self.0.lock().unwrap().pop_front()
    }
    fn close(&self) {}
}

/// A queue that waits properly; `close` wakes `wake_on_close` of the
/// waiting consumers (0: nobody, 1: one, 2: all), and `pop` takes from the
/// front or, if `newest_first`, the back.
struct Waiting<const WAKE_ON_CLOSE: u8, const NEWEST_FIRST: bool>(Mutex<(VecDeque<u64>, bool)>, Condvar);
/// Wrong: close() wakes nobody.
type Sleepy = Waiting<0, false>;
/// Wrong, schedule-dependent: close() wakes only one consumer.
type WakesOne = Waiting<1, false>;
/// Wrong: a stack, not a queue.
type Lifo = Waiting<2, true>;
impl<const W: u8, const N: bool> Waiting<W, N> {
    fn new() -> Self {
        Waiting(Mutex::new((VecDeque::new(), false)), Condvar::new())
    }
}
impl<const W: u8, const N: bool> WorkQueue for Waiting<W, N> {
    fn push(&self, job: u64) {
        self.0.lock().unwrap().0.push_back(job);
        self.1.notify_one();
    }
    fn pop(&self) -> Option<u64> {
        let mut s = self.0.lock().unwrap();
        loop {
            if let Some(j) = if N { s.0.pop_back() } else { s.0.pop_front() } {
                return Some(j);
            }
            if s.1 {
                return None;
            }
            s = self.1.wait(s).unwrap();
        }
    }
    fn close(&self) {
        self.0.lock().unwrap().1 = true;
        match W {
            0 => {} // missing: notify_all()
            1 => self.1.notify_one(),
            _ => self.1.notify_all(),
        }
    }
}

/// Wrong: the closed flag is an atomic beside the mutex, and close() sets
/// it and notifies without taking the lock ("an atomic needs no lock").
struct FlagOutside {
    jobs: Mutex<VecDeque<u64>>,
    closed: AtomicBool,
    changed: crate::workqueue::Condvar,
}
impl FlagOutside {
    fn new() -> FlagOutside {
        FlagOutside { jobs: Mutex::new(VecDeque::new()), closed: AtomicBool::new(false), changed: crate::workqueue::Condvar::new() }
    }
}
impl WorkQueue for FlagOutside {
    fn push(&self, job: u64) {
        self.jobs.lock().unwrap().push_back(job);
        self.changed.notify_one();
    }
    fn pop(&self) -> Option<u64> {
        let mut jobs = self.jobs.lock().unwrap();
        loop {
            if let Some(j) = jobs.pop_front() {
                return Some(j);
            }
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            jobs = self.changed.wait(jobs).unwrap();
        }
    }
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }
}

// The aging queue's wrong answers share one body: a heap keyed at push
// time (it hands out the largest key; ties by push number), waiting and
// closing done right, except for the one mistake each is named for.

/// The priority alone: a plain priority queue.
const NEVER_AGES: u8 = 1;
/// Priority *plus* the pops so far, fixed at push time.
const POPS_BEFORE_THE_PUSH: u8 = 2;
/// Ages by pushes since, not pops since (priority minus pushes so far).
const AGES_ON_PUSH: u8 = 3;
/// The same key for everyone: first in, first out.
const FIFO: u8 = 4;
/// Minus the priority: the least urgent first.
const LEAST_URGENT: u8 = 5;
/// The right key, but ties go to the job pushed last.
const TIES_NEWEST: u8 = 6;
/// The right key in unsigned arithmetic, which overflows once the pops
/// outnumber a priority.
const UNSIGNED: u8 = 7;
/// pop gives up as soon as the queue is empty.
const GIVES_UP: u8 = 8;
/// close() wakes nobody.
const SILENT_CLOSE: u8 = 9;
/// Schedule-dependent: the closed flag is an atomic beside the mutex, set
/// without the lock ("an atomic needs no lock").
const FLAG_OUTSIDE: u8 = 10;
/// Schedule-dependent: push() notifies first ("a job is on its way") and
/// then takes the lock to add the job.
const NOTIFY_FIRST: u8 = 11;

#[derive(Default)]
struct Aged<const MISTAKE: u8> {
    state: Mutex<AgedState>,
    changed: crate::workqueue::Condvar,
    /// Used only with `FLAG_OUTSIDE`.
    closed_outside: AtomicBool,
}

#[derive(Default)]
struct AgedState {
    /// (key, tie-break, job)
    jobs: BinaryHeap<(i64, i64, u64)>,
    closed: bool,
    pops: u64,
    pushes: u64,
}

impl<const M: u8> AgingQueue for Aged<M> {
    fn push(&self, priority: u32, job: u64) {
        if M == NOTIFY_FIRST {
            self.changed.notify_one();
        }
        let mut s = self.state.lock().unwrap();
        let (p, pops, pushes) = (i64::from(priority), s.pops as i64, s.pushes as i64);
        let key = match M {
            NEVER_AGES => p,
            POPS_BEFORE_THE_PUSH => p + pops,
            AGES_ON_PUSH => p - pushes,
            FIFO => 0,
            LEAST_URGENT => -p,
            UNSIGNED => (u64::from(priority) - s.pops) as i64,
            _ => p - pops, // the rule's key, as in the reference solution
        };
        let tie = if M == TIES_NEWEST { pushes } else { -pushes };
        s.pushes += 1;
        s.jobs.push((key, tie, job));
        drop(s);
        if M != NOTIFY_FIRST {
            self.changed.notify_one();
        }
    }
    fn pop(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some((_, _, job)) = s.jobs.pop() {
                s.pops += 1;
                return Some(job);
            }
            let closed = if M == FLAG_OUTSIDE { self.closed_outside.load(Ordering::SeqCst) } else { s.closed };
            if closed || M == GIVES_UP {
                return None;
            }
            s = self.changed.wait(s).unwrap();
        }
    }
    fn close(&self) {
        if M == FLAG_OUTSIDE {
            self.closed_outside.store(true, Ordering::SeqCst);
        } else {
            self.state.lock().unwrap().closed = true;
        }
        if M != SILENT_CLOSE {
            self.changed.notify_all();
        }
    }
}

/// The same bodies as work queues (every job priority 0, which makes the
/// rule first in, first out), for the work queue's judge.
impl<const M: u8> WorkQueue for Aged<M> {
    fn push(&self, job: u64) {
        AgingQueue::push(self, 0, job);
    }
    fn pop(&self) -> Option<u64> {
        AgingQueue::pop(self)
    }
    fn close(&self) {
        AgingQueue::close(self);
    }
}

// --- ch04 ----------------------------------------------------------------------

/// Wrong: takes a slot and never gives it back.
struct Leaky(#[allow(dead_code)] usize);
fn leaky(pool: &Arc<Pool>) -> Option<Leaky> {
    pool.take().map(Leaky)
}

/// Wrong: gives the slot back twice (once by hand, once in Drop).
struct Twice(Arc<Pool>, usize);
impl Drop for Twice {
    fn drop(&mut self) {
        self.0.give_back(self.1);
        self.0.give_back(self.1);
    }
}
fn twice(pool: &Arc<Pool>) -> Option<Twice> {
    pool.take().map(|s| Twice(pool.clone(), s))
}

/// Wrong: takes a slot and gives it straight back; the "lease" holds nothing.
struct Receipt;
fn at_once(pool: &Arc<Pool>) -> Option<Receipt> {
    let slot = pool.take()?;
    pool.give_back(slot);
    Some(Receipt)
}

/// Wrong: remembers the first slot's number, not the slot it took.
struct SlotZero(Arc<Pool>);
impl Drop for SlotZero {
    fn drop(&mut self) {
        self.0.give_back(0);
    }
}
fn slot_zero(pool: &Arc<Pool>) -> Option<SlotZero> {
    pool.take().map(|_| SlotZero(pool.clone()))
}

/// Looks before it takes, and trusts what it saw.
fn checks_available_then_takes(pool: &Arc<Pool>) -> Option<Lease> {
    if pool.available() == 0 {
        return None;
    }
    let slot = pool.take().unwrap(); // "there is one: I just checked"
    Some(Lease(pool.clone(), slot))
}

/// "The pool always has a slot for me."
fn unwraps_take(pool: &Arc<Pool>) -> Option<Lease> {
    Some(Lease(pool.clone(), pool.take().unwrap()))
}

/// A right lease guard, for answers whose mistake lies elsewhere.
struct Lease(Arc<Pool>, usize);
impl Drop for Lease {
    fn drop(&mut self) {
        self.0.give_back(self.1);
    }
}

/// An undo log with one slip in it (or none: `Slip::None` is right).
#[derive(Clone, Copy, PartialEq)]
enum Slip {
    /// `commit(self) {}`: the drop that follows undoes everything anyway.
    CommitKeepsTheUndo,
    /// No rollback at all: a Drop that only unlocks.
    NeverUndoes,
    /// "Roll back when something went wrong", read as `thread::panicking()`:
    /// `?` and `return` are not panics.
    UndoesOnlyWhilePanicking,
    /// Replays the undo log front to back.
    UndoesOldestFirst,
    /// `commit` does `mem::forget(self)`, so Drop is skipped: and with it
    /// the guard's unlock.
    ForgetsItselfOnCommit,
}
struct UndoLog {
    guard: StoreGuard,
    undo: Vec<(String, Option<i64>)>,
    slip: Slip,
}
fn undo_log(store: &Store, slip: Slip) -> UndoLog {
    UndoLog { guard: store.lock(), undo: Vec::new(), slip }
}
impl Transact for UndoLog {
    fn get(&self, key: &str) -> Option<i64> {
        self.guard.get(key)
    }
    fn set(&mut self, key: &str, value: i64) {
        let before = self.guard.set(key, value);
        self.undo.push((key.to_string(), before));
    }
    fn commit(mut self) {
        match self.slip {
            Slip::CommitKeepsTheUndo => {}
            Slip::ForgetsItselfOnCommit => std::mem::forget(self),
            _ => self.undo.clear(),
        }
    }
}
impl Drop for UndoLog {
    fn drop(&mut self) {
        let undo = std::mem::take(&mut self.undo);
        let ordered: Vec<_> = match self.slip {
            Slip::NeverUndoes => return,
            Slip::UndoesOnlyWhilePanicking if !std::thread::panicking() => return,
            Slip::UndoesOldestFirst => undo,
            _ => undo.into_iter().rev().collect(),
        };
        for (key, before) in ordered {
            put_back(&mut self.guard, &key, before);
        }
    }
}

/// Remembers one change: the last.
struct LastChangeOnly {
    guard: StoreGuard,
    last: Option<(String, Option<i64>)>,
}
impl Transact for LastChangeOnly {
    fn get(&self, key: &str) -> Option<i64> {
        self.guard.get(key)
    }
    fn set(&mut self, key: &str, value: i64) {
        let before = self.guard.set(key, value);
        self.last = Some((key.to_string(), before));
    }
    fn commit(mut self) {
        self.last = None;
    }
}
impl Drop for LastChangeOnly {
    fn drop(&mut self) {
        if let Some((key, before)) = self.last.take() {
            put_back(&mut self.guard, &key, before);
        }
    }
}

/// Remembers `get(key).unwrap_or(0)` before each change, so a key that did
/// not exist comes back as 0 instead of going away.
struct AbsentAsZero {
    guard: StoreGuard,
    undo: Vec<(String, i64)>,
}
impl Transact for AbsentAsZero {
    fn get(&self, key: &str) -> Option<i64> {
        self.guard.get(key)
    }
    fn set(&mut self, key: &str, value: i64) {
        self.undo.push((key.to_string(), self.guard.get(key).unwrap_or(0)));
        self.guard.set(key, value);
    }
    fn commit(mut self) {
        self.undo.clear();
    }
}
impl Drop for AbsentAsZero {
    fn drop(&mut self) {
        while let Some((key, v)) = self.undo.pop() {
            self.guard.set(&key, v);
        }
    }
}

/// Right undo, but the lock is held for one step at a time: with
/// `GUARDED`, each method takes a guard for its own step and lets go when it
/// returns; without, it calls `store.set` (locked for that one change).
struct StepLocked<const GUARDED: bool> {
    store: Store,
    undo: Vec<(String, Option<i64>)>,
}
impl<const GUARDED: bool> Transact for StepLocked<GUARDED> {
    fn get(&self, key: &str) -> Option<i64> {
        if GUARDED {
            self.store.lock().get(key)
        } else {
            self.store.get(key)
        }
    }
    fn set(&mut self, key: &str, value: i64) {
        let before = if GUARDED { self.store.lock().set(key, value) } else { self.store.set(key, value) };
        self.undo.push((key.to_string(), before));
    }
    fn commit(mut self) {
        self.undo.clear();
    }
}
impl<const GUARDED: bool> Drop for StepLocked<GUARDED> {
    fn drop(&mut self) {
        while let Some((key, before)) = self.undo.pop() {
            match (GUARDED, before) {
                (true, _) => put_back(&mut self.store.lock(), &key, before),
                (false, Some(v)) => drop(self.store.set(&key, v)),
                (false, None) => drop(self.store.remove(&key)),
            }
        }
    }
}

/// Gives `key` its value from `before` a change (`None`: it did not exist).
fn put_back(guard: &mut StoreGuard, key: &str, before: Option<i64>) {
    match before {
        Some(v) => guard.set(key, v),
        None => guard.remove(key),
    };
}

/// Keeps its changes aside and writes them all at commit, under the lock
/// ("nobody can see half of it"; and an uncommitted transaction needs no
/// undo). But what it read before commit may be stale by then: another
/// thread's change in between is overwritten.
struct Deferred {
    store: Store,
    pending: BTreeMap<String, i64>,
}
impl Transact for Deferred {
    fn get(&self, key: &str) -> Option<i64> {
        self.pending.get(key).copied().or_else(|| self.store.get(key))
    }
    fn set(&mut self, key: &str, value: i64) {
        self.pending.insert(key.to_string(), value);
    }
    fn commit(mut self) {
        let mut guard = self.store.lock();
        for (key, value) in std::mem::take(&mut self.pending) {
            guard.set(&key, value);
        }
    }
}

/// Takes the lock in `begin`, "so the transaction is protected", but `let _
/// = ` drops the guard on the spot; every change then goes through
/// `store.set`.
fn lets_the_begin_guard_go(store: &Store) -> StepLocked<false> {
    let _ = store.lock();
    StepLocked { store: store.clone(), undo: Vec::new() }
}

// --- ch11 ----------------------------------------------------------------------

#[cfg(feature = "async")]
mod channel_answers {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    /// Right for one client: lines echoed, "quit" answered with "bye", then closed.
    async fn handle(stream: TcpStream, bye: bool, close: bool) -> std::io::Result<()> {
        let (reader, mut writer) = stream.into_split();
        let mut lines = BufReader::new(reader).lines();
        while let Some(line) = lines.next_line().await? {
            if line == "quit" {
                if bye {
                    writer.write_all(b"bye\n").await?;
                }
                if close {
                    break;
                }
                continue;
            }
            writer.write_all(format!("echo: {line}\n").as_bytes()).await?;
        }
        Ok(())
    }

    pub async fn one_client_at_a_time(listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = handle(stream, true, true).await;
        }
    }

    pub async fn no_bye_on_quit(listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream, false, true));
        }
    }

    pub async fn stays_open_after_quit(listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream, true, false));
        }
    }

    /// Echoes whatever one read returns, as if it were one line.
    pub async fn echoes_what_each_read_returns(listener: TcpListener) {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    if text.trim_end() == "quit" {
                        let _ = stream.write_all(b"bye\n").await;
                        break;
                    }
                    if stream.write_all(format!("echo: {text}").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }

    fn squaring(capacity_in: usize, capacity_out: usize, stop_when_unread: bool) -> (mpsc::Sender<u64>, mpsc::Receiver<u64>) {
        let (input, mut from_input) = mpsc::channel::<u64>(capacity_in);
        let (to_output, output) = mpsc::channel::<u64>(capacity_out);
        tokio::spawn(async move {
            while let Some(n) = from_input.recv().await {
                if to_output.send(n * n).await.is_err() && stop_when_unread {
                    break;
                }
            }
        });
        (input, output)
    }

    pub fn plenty_of_room(capacity: usize) -> (mpsc::Sender<u64>, mpsc::Receiver<u64>) {
        squaring(capacity, 1_000_000, true)
    }

    pub fn ignores_the_capacity(_capacity: usize) -> (mpsc::Sender<u64>, mpsc::Receiver<u64>) {
        squaring(1, 1, true)
    }

    pub fn ignores_a_closed_output(capacity: usize) -> (mpsc::Sender<u64>, mpsc::Receiver<u64>) {
        squaring(capacity, capacity, false)
    }

    /// Hands each number to a task of its own, so the stage never waits.
    pub fn a_task_per_number(capacity: usize) -> (mpsc::Sender<u64>, mpsc::Receiver<u64>) {
        let (input, mut from_input) = mpsc::channel::<u64>(capacity);
        let (to_output, output) = mpsc::channel::<u64>(capacity);
        tokio::spawn(async move {
            while let Some(n) = from_input.recv().await {
                let to_output = to_output.clone();
                tokio::spawn(async move {
                    let _ = to_output.send(n * n).await;
                });
            }
        });
        (input, output)
    }
}

// --- ch12 ----------------------------------------------------------------------

fn left_then_right(me: usize, table: &Table, meals: usize) {
    for _ in 0..meals {
        let _l = table.take(me, me);
        let _r = table.take(me, (me + 1) % table.seats());
        table.eat(me);
    }
}

fn one_fork(me: usize, table: &Table, meals: usize) {
    for _ in 0..meals {
        let _l = table.take(me, me);
        table.eat(me);
    }
}

/// Takes the forks in rank order (no deadlock), but `let _ = ` drops the
/// first guard at once.
fn puts_left_down(me: usize, table: &Table, meals: usize) {
    let (l, r) = (me, (me + 1) % table.seats());
    for _ in 0..meals {
        let _ = table.take(me, l.min(r));
        let _second = table.take(me, l.max(r));
        table.eat(me);
    }
}

fn skips_a_meal(me: usize, table: &Table, meals: usize) {
    let (l, r) = (me, (me + 1) % table.seats());
    for _ in 1..meals {
        let _first = table.take(me, l.min(r));
        let _second = table.take(me, l.max(r));
        table.eat(me);
    }
}

/// Only looks for pairs waiting for each other.
fn pairs_only(w: &[Option<usize>]) -> Option<Vec<usize>> {
    (0..w.len()).find_map(|i| match w[i] {
        Some(j) if w.get(j) == Some(&Some(i)) => Some(if i == j { vec![i] } else { vec![i, j] }),
        _ => None,
    })
}

/// Walks the chains, but "a thread waiting for itself is not a deadlock".
fn misses_self_waits(w: &[Option<usize>]) -> Option<Vec<usize>> {
    let cleaned: Vec<Option<usize>> = w.iter().enumerate().map(|(i, &t)| t.filter(|&t| t != i)).collect();
    walk(&cleaned, false)
}

/// Returns the whole walk from the start, tail included, not just the ring.
fn returns_the_whole_path(w: &[Option<usize>]) -> Option<Vec<usize>> {
    walk(w, true)
}

fn walk(w: &[Option<usize>], with_tail: bool) -> Option<Vec<usize>> {
    for start in 0..w.len() {
        let mut path: Vec<usize> = Vec::new();
        let mut t = start;
        loop {
            if let Some(pos) = path.iter().position(|&p| p == t) {
                return Some(if with_tail { path } else { path[pos..].to_vec() });
            }
            path.push(t);
            match w[t] {
                Some(next) if next < w.len() => t = next,
                _ => break,
            }
        }
    }
    None
}

// --- ch13 ----------------------------------------------------------------------

/// Readers first: the first reader in locks the resource, the last out frees it.
pub(crate) struct ReadersFirst {
    readers: Mutex<usize>,
    resource: Semaphore,
}
impl ReadersFirst {
    pub(crate) fn new() -> ReadersFirst {
        ReadersFirst { readers: Mutex::new(0), resource: Semaphore::new(1) }
    }
}
impl ReadWrite for ReadersFirst {
    fn read(&self, read: &mut dyn FnMut()) {
        {
            let mut n = self.readers.lock().unwrap();
            *n += 1;
            if *n == 1 {
                self.resource.acquire();
            }
        }
        read();
        let mut n = self.readers.lock().unwrap();
        *n -= 1;
        if *n == 0 {
            self.resource.release();
        }
    }
    fn write(&self, write: &mut dyn FnMut()) {
        self.resource.acquire();
        write();
        self.resource.release();
    }
}

/// No exclusion at all.
struct Free;
impl ReadWrite for Free {
    fn read(&self, read: &mut dyn FnMut()) {
        read()
    }
    fn write(&self, write: &mut dyn FnMut()) {
        write()
    }
}

/// Writers first, the usual "fix" of readers first: a reader waits while any
/// writer waits, so two writers taking turns keep every reader out.
#[derive(Default)]
struct WritersFirst {
    state: Mutex<WritersFirstState>,
    changed: Condvar,
}
#[derive(Default)]
struct WritersFirstState {
    readers: usize,
    writing: bool,
    writers_waiting: usize,
}
impl ReadWrite for WritersFirst {
    fn read(&self, read: &mut dyn FnMut()) {
        let mut s = self.state.lock().unwrap();
        while s.writing || s.writers_waiting > 0 {
            s = self.changed.wait(s).unwrap();
        }
        s.readers += 1;
        drop(s);
        read();
        self.state.lock().unwrap().readers -= 1;
        self.changed.notify_all();
    }
    fn write(&self, write: &mut dyn FnMut()) {
        let mut s = self.state.lock().unwrap();
        s.writers_waiting += 1;
        while s.writing || s.readers > 0 {
            s = self.changed.wait(s).unwrap();
        }
        s.writers_waiting -= 1;
        s.writing = true;
        drop(s);
        write();
        self.state.lock().unwrap().writing = false;
        self.changed.notify_all();
    }
}

/// Wrong: one first-come-first-served semaphore for readers and writers
/// alike. Nobody starves, and writers are alone; but so is every reader.
struct FairMutex(Semaphore);
impl ReadWrite for FairMutex {
    fn read(&self, read: &mut dyn FnMut()) {
        self.0.acquire();
        read();
        self.0.release();
    }
    fn write(&self, write: &mut dyn FnMut()) {
        self.0.acquire();
        write();
        self.0.release();
    }
}

/// Draws a ticket but then just grabs a flag: not first come, first served.
struct Barging {
    next: AtomicU64,
    taken: AtomicBool,
}
impl TicketLock for Barging {
    fn lock(&self) -> u64 {
        let t = self.next.fetch_add(1, Ordering::SeqCst);
        while self.taken.swap(true, Ordering::SeqCst) {
            std::thread::yield_now();
        }
        t
    }
    fn unlock(&self) {
        self.taken.store(false, Ordering::SeqCst);
    }
}

/// Unlock forgets to let the next one in.
struct Forgetful {
    next: AtomicU64,
    serving: AtomicU64,
}
impl TicketLock for Forgetful {
    fn lock(&self) -> u64 {
        let t = self.next.fetch_add(1, Ordering::SeqCst);
        while self.serving.load(Ordering::SeqCst) != t {
            std::thread::yield_now();
        }
        t
    }
    fn unlock(&self) {}
}

/// Hands out tickets, and that is all: nobody ever waits.
struct NoWaiting(AtomicU64);
impl TicketLock for NoWaiting {
    fn lock(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
    fn unlock(&self) {}
}

/// Right waiting, but returns the counter after drawing, not the ticket drawn.
struct NextTicket {
    next: AtomicU64,
    serving: AtomicU64,
}
impl TicketLock for NextTicket {
    fn lock(&self) -> u64 {
        let t = self.next.fetch_add(1, Ordering::SeqCst);
        while self.serving.load(Ordering::SeqCst) != t {
            std::thread::yield_now();
        }
        self.next.load(Ordering::SeqCst)
    }
    fn unlock(&self) {
        self.serving.fetch_add(1, Ordering::SeqCst);
    }
}

// --- ch14 ----------------------------------------------------------------------

pub(crate) fn racy_transfer(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
    let have = bank.balance(from);
    if have < amount {
        return false;
    }
    bank.set_balance(from, have - amount);
    bank.set_balance(to, bank.balance(to) + amount);
    true
}

fn from_then_to(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
    let _a = bank.lock(from);
    let _b = bank.lock(to);
    racy_transfer(bank, from, to, amount)
}

fn std_mutex(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
    static M: Mutex<()> = Mutex::new(());
    let _g = M.lock().unwrap_or_else(|e| e.into_inner());
    racy_transfer(bank, from, to, amount)
}

/// Locks one account of the two: with the opening transfers all touching
/// account 0, the lower one, this looked like enough.
fn locks_only_the_lower_account(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
    let _only = bank.lock(from.min(to));
    racy_transfer(bank, from, to, amount)
}

/// Locks the account the money leaves, "because that is the one checked".
fn locks_only_from(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
    let _only = bank.lock(from);
    racy_transfer(bank, from, to, amount)
}

/// Checks the balance under both locks, lets go, then moves the money
/// under both locks again: the check is stale by then.
fn checks_then_locks(bank: &Bank, from: usize, to: usize, amount: i64) -> bool {
    let have = {
        let _a = bank.lock(from.min(to));
        let _b = bank.lock(from.max(to));
        bank.balance(from)
    };
    if have < amount {
        return false;
    }
    let _a = bank.lock(from.min(to));
    let _b = bank.lock(from.max(to));
    let have = bank.balance(from);
    bank.set_balance(from, have - amount);
    bank.set_balance(to, bank.balance(to) + amount);
    true
}

// --- ch05 ----------------------------------------------------------------------

#[cfg(feature = "web")]
mod web_answers {
    use crate::ureq;
    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, Instant};

    fn status(url: &str, limit: Duration) -> Option<u16> {
        crate::web::agent(limit).get(url).call().ok().map(|r| r.status().as_u16())
    }

    /// Right, except that it waits for every thread, however long.
    pub fn waits_for_every_thread(urls: &[String], _deadline: Duration) -> Vec<Option<u16>> {
        let handles: Vec<_> = urls.iter().cloned().map(|u| thread::spawn(move || status(&u, Duration::from_secs(60)))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or(None)).collect()
    }

    /// Keeps the deadline, but asks one URL after the other.
    pub fn one_url_at_a_time(urls: &[String], deadline: Duration) -> Vec<Option<u16>> {
        let until = Instant::now() + deadline;
        urls.iter()
            .map(|u| {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() { None } else { status(u, left) }
            })
            .collect()
    }

    /// Concurrent and on time, but each answer goes to the next free place.
    pub fn collects_in_finish_order(urls: &[String], deadline: Duration) -> Vec<Option<u16>> {
        let until = Instant::now() + deadline;
        let (tx, rx) = mpsc::channel();
        for u in urls {
            let (tx, u) = (tx.clone(), u.clone());
            thread::spawn(move || {
                let _ = tx.send(status(&u, deadline));
            });
        }
        let mut results = Vec::new();
        while results.len() < urls.len() {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(s) => results.push(s),
                Err(_) => break,
            }
        }
        results.resize(urls.len(), None);
        results
    }

    /// Right, but with ureq's default agent: a 4xx or 5xx comes back as an error.
    pub fn drops_error_statuses(urls: &[String], deadline: Duration) -> Vec<Option<u16>> {
        let until = Instant::now() + deadline;
        let (tx, rx) = mpsc::channel();
        for (i, u) in urls.iter().cloned().enumerate() {
            let tx = tx.clone();
            thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(deadline)).build().into();
                let _ = tx.send((i, agent.get(&u).call().ok().map(|r| r.status().as_u16())));
            });
        }
        let mut results = vec![None; urls.len()];
        for _ in 0..urls.len() {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok((i, s)) => results[i] = s,
                Err(_) => break,
            }
        }
        results
    }

    /// The shape of every retry answer below: `pause_before(k)` is the pause
    /// before attempt k + 1, `tries` how many attempts it makes, `retry`
    /// which statuses it asks again for, `give_up` what it returns at the end.
    fn retrying(url: &str, tries: u32, pause_before: impl Fn(u32) -> Duration, retry: impl Fn(u16) -> bool, give_up: impl Fn(Option<u16>) -> Result<u16, String>) -> Result<u16, String> {
        let mut last = None;
        for k in 1..=tries {
            match crate::web::agent(Duration::from_secs(10)).get(url).call() {
                Ok(r) if !retry(r.status().as_u16()) => return Ok(r.status().as_u16()),
                Ok(r) => last = Some(r.status().as_u16()),
                Err(_) => last = None,
            }
            if k < tries {
                thread::sleep(pause_before(k));
            }
        }
        give_up(last)
    }

    fn err(last: Option<u16>) -> Result<u16, String> {
        Err(format!("gave up; the last attempt got {last:?}"))
    }

    pub fn retries_without_pausing(url: &str, attempts: u32, _pause: Duration) -> Result<u16, String> {
        retrying(url, attempts, |_| Duration::ZERO, |s| s >= 500, err)
    }

    pub fn pauses_the_same_each_time(url: &str, attempts: u32, pause: Duration) -> Result<u16, String> {
        retrying(url, attempts, |_| pause, |s| s >= 500, err)
    }

    pub fn retries_client_errors(url: &str, attempts: u32, pause: Duration) -> Result<u16, String> {
        retrying(url, attempts, |k| pause * 2u32.pow(k - 1), |s| s >= 400, err)
    }

    pub fn one_attempt_too_few(url: &str, attempts: u32, pause: Duration) -> Result<u16, String> {
        retrying(url, attempts.saturating_sub(1).max(1), |k| pause * 2u32.pow(k - 1), |s| s >= 500, err)
    }

    pub fn returns_the_last_status(url: &str, attempts: u32, pause: Duration) -> Result<u16, String> {
        retrying(url, attempts, |k| pause * 2u32.pow(k - 1), |s| s >= 500, |last| last.ok_or_else(|| "no answer".to_string()))
    }
}

// --- ch08 ----------------------------------------------------------------------

#[cfg(feature = "image")]
mod tile_answers {
    use crate::imaging::{self, Tile, BLOCK, C};
    use image::{imageops, GrayImage};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Right except for the halo's radius `r` (and whether it stops at the image's edge).
    fn with_halo(image: &GrayImage, tile: Tile, r: u32, keep: bool) -> GrayImage {
        let (x0, y0) = (tile.x.saturating_sub(r), tile.y.saturating_sub(r));
        let x1 = (tile.x + tile.width + r).min(image.width());
        let y1 = (tile.y + tile.height + r).min(image.height());
        let grown = imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image();
        let done = imaging::adaptive_mean(&grown, BLOCK, C).expect("not empty");
        if keep {
            return done;
        }
        imageops::crop_imm(&done, tile.x - x0, tile.y - y0, tile.width, tile.height).to_image()
    }

    pub fn no_halo(image: &GrayImage, tile: Tile) -> GrayImage {
        with_halo(image, tile, 0, false)
    }

    pub fn halo_one_pixel_short(image: &GrayImage, tile: Tile) -> GrayImage {
        with_halo(image, tile, BLOCK / 2 - 1, false)
    }

    pub fn keeps_the_halo(image: &GrayImage, tile: Tile) -> GrayImage {
        with_halo(image, tile, BLOCK / 2, true)
    }

    /// A halo on every side, black where it falls outside the image.
    pub fn pads_with_black(image: &GrayImage, tile: Tile) -> GrayImage {
        let r = BLOCK / 2;
        let padded = GrayImage::from_fn(tile.width + 2 * r, tile.height + 2 * r, |x, y| {
            let (ix, iy) = ((tile.x + x) as i64 - r as i64, (tile.y + y) as i64 - r as i64);
            if ix < 0 || iy < 0 || ix >= image.width() as i64 || iy >= image.height() as i64 {
                image::Luma([0])
            } else {
                *image.get_pixel(ix as u32, iy as u32)
            }
        });
        let done = imaging::adaptive_mean(&padded, BLOCK, C).expect("not empty");
        imageops::crop_imm(&done, r, r, tile.width, tile.height).to_image()
    }

    type Process<'a> = &'a (dyn Fn(usize) -> GrayImage + Sync);

    pub fn one_at_a_time(count: usize, _workers: usize, process: Process) -> Vec<GrayImage> {
        (0..count).map(process).collect()
    }

    /// A block of tiles per worker, `size` tiles each.
    fn blocks(count: usize, workers: usize, size: usize, process: Process) -> Vec<GrayImage> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers.max(1))
                .map(|w| s.spawn(move || (w * size..((w + 1) * size).min(count)).map(process).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        })
    }

    pub fn fixed_blocks(count: usize, workers: usize, process: Process) -> Vec<GrayImage> {
        blocks(count, workers, count.div_ceil(workers.max(1)).max(1), process)
    }

    pub fn drops_the_remainder(count: usize, workers: usize, process: Process) -> Vec<GrayImage> {
        blocks(count, workers, count / workers.max(1), process)
    }

    /// A shared counter, but results kept in the order they finish.
    pub fn finish_order(count: usize, workers: usize, process: Process) -> Vec<GrayImage> {
        let next = AtomicUsize::new(0);
        let done = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..workers.max(1) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    let out = process(i);
                    done.lock().unwrap().push(out);
                });
            }
        });
        done.into_inner().unwrap()
    }
}

// --- ch06 ----------------------------------------------------------------------

const POOL_DROPS_THE_JOB: u8 = 0;
const POOL_GIVES_UP: u8 = 1;
const POOL_WAITS_FOR_EVER: u8 = 2;
const POOL_OK_WITH_HOLES: u8 = 3;

/// The reference pool's shape (a thread per worker, a shared list of job
/// indices), with one mistake in what happens after a failed call:
/// POOL_DROPS_THE_JOB lets the dead worker's job go with it; POOL_GIVES_UP turns any
/// failure into the pool's error; POOL_OK_WITH_HOLES puts the job back and
/// stops the thread, but returns Ok with a null where no worker was left;
/// POOL_WAITS_FOR_EVER does the same, but collects the answers from a channel
/// until it has one per job, holding a sender itself: once every worker is
/// dead, it waits for an answer nobody will send.
fn flawed_pool<const M: u8>(workers: Vec<Worker>, jobs: Vec<(String, Value)>) -> Result<Vec<Value>, String> {
    let todo = Mutex::new((0..jobs.len()).collect::<VecDeque<usize>>());
    let answers = Mutex::new(vec![Value::Null; jobs.len()]);
    let error = Mutex::new(None);
    let in_flight = Mutex::new(0usize);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Value)>();
    std::thread::scope(|s| {
        for mut worker in workers {
            let (todo, answers, error, jobs, in_flight, tx) = (&todo, &answers, &error, &jobs, &in_flight, tx.clone());
            s.spawn(move || loop {
                let Some(i) = todo.lock().unwrap().pop_front() else {
                    if *in_flight.lock().unwrap() == 0 {
                        return;
                    }
                    std::thread::yield_now();
                    continue;
                };
                *in_flight.lock().unwrap() += 1;
                let answer = worker.call(&jobs[i].0, jobs[i].1.clone(), Duration::from_secs(60));
                match answer {
                    Ok(v) if M == POOL_WAITS_FOR_EVER => tx.send((i, v)).unwrap(),
                    Ok(v) => answers.lock().unwrap()[i] = v,
                    Err(e) => match M {
                        POOL_DROPS_THE_JOB => {
                            *in_flight.lock().unwrap() -= 1;
                            return;
                        }
                        POOL_GIVES_UP => {
                            *error.lock().unwrap() = Some(e);
                            *in_flight.lock().unwrap() -= 1;
                            return;
                        }
                        _ => {
                            todo.lock().unwrap().push_front(i);
                            *in_flight.lock().unwrap() -= 1;
                            return;
                        }
                    },
                }
                *in_flight.lock().unwrap() -= 1;
            });
        }
        if M == POOL_WAITS_FOR_EVER {
            for _ in 0..jobs.len() {
                let (i, v) = rx.recv().unwrap(); // `tx` is still ours: this never fails, it waits
                answers.lock().unwrap()[i] = v;
            }
        }
    });
    match error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(answers.into_inner().unwrap()),
    }
}

/// Right answers, in order, one worker after another: the others idle.
fn one_worker_at_a_time(mut workers: Vec<Worker>, jobs: Vec<(String, Value)>) -> Result<Vec<Value>, String> {
    let mut answers = Vec::new();
    for (job, args) in jobs {
        loop {
            let Some(worker) = workers.first_mut() else { return Err("every worker died".into()) };
            match worker.call(&job, args.clone(), Duration::from_secs(60)) {
                Ok(v) => break answers.push(v),
                Err(_) if !worker.alive() => drop(workers.remove(0)),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(answers)
}

/// Keeps two jobs on the way to each worker (to hide the round trip), but
/// when the worker dies, puts back only the job whose answer it was
/// waiting for: the other one, already in the dead worker's pipe, is lost.
fn two_jobs_in_flight(workers: Vec<Worker>, jobs: Vec<(String, Value)>) -> Result<Vec<Value>, String> {
    let todo = Mutex::new((0..jobs.len()).collect::<VecDeque<usize>>());
    let answers = Mutex::new(vec![Value::Null; jobs.len()]);
    std::thread::scope(|s| {
        for mut worker in workers {
            let (todo, answers, jobs) = (&todo, &answers, &jobs);
            s.spawn(move || loop {
                let batch: Vec<usize> = {
                    let mut t = todo.lock().unwrap();
                    (0..2).filter_map(|_| t.pop_front()).collect()
                };
                if batch.is_empty() {
                    return;
                }
                for &i in &batch {
                    let _ = worker.send(&jobs[i].0, jobs[i].1.clone());
                }
                for &i in &batch {
                    match worker.recv(Duration::from_secs(60)) {
                        Ok(v) => answers.lock().unwrap()[i] = v,
                        Err(_) => {
                            todo.lock().unwrap().push_back(i);
                            return;
                        }
                    }
                }
            });
        }
    });
    Ok(answers.into_inner().unwrap())
}

fn produce_once(inbox: &Inbox, jobs: &[u64], consumers: usize, producing: &AtomicUsize) {
    for &n in jobs {
        inbox.put(Msg::Job(n));
    }
    if producing.fetch_sub(1, Ordering::SeqCst) == 1 {
        (0..consumers).for_each(|_| inbox.put(Msg::Stop));
    }
}

fn is_prime_on(worker: &mut Worker, n: u64) -> bool {
    worker.call("is_prime", json!({"n": n}), Duration::from_secs(30)) == Ok(json!(true))
}

fn consume_until_stop(inbox: &Inbox, worker: &mut Worker) -> Vec<(u64, bool)> {
    let mut done = Vec::new();
    while let Msg::Job(n) = inbox.take() {
        done.push((n, is_prime_on(worker, n)));
    }
    done
}

/// The book's loop: "while the queue is not empty, take a job".
fn checks_empty_then_exits(inbox: &Inbox, worker: &mut Worker) -> Vec<(u64, bool)> {
    let mut done = Vec::new();
    while !inbox.is_empty() {
        match inbox.take() {
            Msg::Job(n) => done.push((n, is_prime_on(worker, n))),
            Msg::Stop => break,
        }
    }
    done
}

/// Each producer stops every consumer after its own jobs.
fn every_producer_sends_stops(inbox: &Inbox, jobs: &[u64], consumers: usize, _producing: &AtomicUsize) {
    jobs.iter().for_each(|&n| inbox.put(Msg::Job(n)));
    (0..consumers).for_each(|_| inbox.put(Msg::Stop));
}

/// One stop, "the consumers will all see it".
fn one_stop_for_all(inbox: &Inbox, jobs: &[u64], _consumers: usize, producing: &AtomicUsize) {
    jobs.iter().for_each(|&n| inbox.put(Msg::Job(n)));
    if producing.fetch_sub(1, Ordering::SeqCst) == 1 {
        inbox.put(Msg::Stop);
    }
}

/// Announces the end first, "so the consumers know how many jobs come".
fn stops_before_jobs(inbox: &Inbox, jobs: &[u64], consumers: usize, producing: &AtomicUsize) {
    if producing.fetch_sub(1, Ordering::SeqCst) == 1 {
        (0..consumers).for_each(|_| inbox.put(Msg::Stop));
    }
    jobs.iter().for_each(|&n| inbox.put(Msg::Job(n)));
}

/// Skips anything that is not a job, and so waits again after its stop.
fn ignores_the_stop(inbox: &Inbox, worker: &mut Worker) -> Vec<(u64, bool)> {
    let mut done = Vec::new();
    loop {
        if let Msg::Job(n) = inbox.take() {
            done.push((n, is_prime_on(worker, n)));
        }
    }
}

/// Right answers, computed in the consumer's own thread: the worker idles.
fn computes_in_the_consumer(inbox: &Inbox, _worker: &mut Worker) -> Vec<(u64, bool)> {
    let mut done = Vec::new();
    while let Msg::Job(n) = inbox.take() {
        done.push((n, crate::primes::is_prime(n)));
    }
    done
}

// --- ch07 ----------------------------------------------------------------------

mod ch07 {
    use crate::reduction::{Flaw, Piece};
    use std::collections::VecDeque;
    use std::sync::Mutex;

    type Op<'a> = &'a (dyn Fn(Piece, Piece) -> Piece + Sync);
    /// A pair of neighbours, or an odd last value alone.
    type Pair = (Piece, Option<Piece>);

    pub fn folds_on_one_thread(values: Vec<Piece>, _workers: usize, op: Op) -> Option<Piece> {
        values.into_iter().reduce(op)
    }

    /// Neighbours in pairs: (v0, v1), (v2, v3), ... and an odd last value alone.
    fn pairs(level: Vec<Piece>) -> Vec<Pair> {
        let mut items = level.into_iter();
        std::iter::from_fn(|| Some((items.next()?, items.next()))).collect()
    }

    fn combine(op: Op, (a, b): Pair) -> Piece {
        match b {
            Some(b) => op(a, b),
            None => a,
        }
    }

    /// A thread per pair, each joined right after it was spawned: one at a time.
    pub fn joins_each_thread_at_once(values: Vec<Piece>, _workers: usize, op: Op) -> Option<Piece> {
        let mut level = values;
        while level.len() > 1 {
            level = pairs(level)
                .into_iter()
                .map(|pair| std::thread::scope(|s| s.spawn(move || combine(op, pair)).join().unwrap()))
                .collect();
        }
        level.pop()
    }

    /// The reference's rounds, with `chunks_exact`-style pairing: an odd value is dropped.
    pub fn drops_the_odd_one_out(values: Vec<Piece>, workers: usize, op: Op) -> Option<Piece> {
        rounds(values, workers, op, |level| pairs(level).into_iter().filter(|(_, b)| b.is_some()).collect(), |mut level| level.pop())
    }

    /// Right, but the last line takes the first element without asking whether there is one.
    pub fn panics_on_an_empty_list(values: Vec<Piece>, workers: usize, op: Op) -> Option<Piece> {
        rounds(values, workers, op, pairs, |mut level| Some(level.remove(0)))
    }

    /// Rounds of pairs on `workers` threads, each thread a run of neighbouring
    /// pairs, results joined in spawn order; `pair_up` and `finish` vary.
    fn rounds(
        values: Vec<Piece>,
        workers: usize,
        op: Op,
        pair_up: fn(Vec<Piece>) -> Vec<Pair>,
        finish: fn(Vec<Piece>) -> Option<Piece>,
    ) -> Option<Piece> {
        let mut level = values;
        while level.len() > 1 {
            let mut runs: Vec<Vec<Pair>> = Vec::new();
            let all = pair_up(level);
            let per = all.len().div_ceil(workers.max(1)).max(1);
            for pair in all {
                match runs.last_mut() {
                    Some(run) if run.len() < per => run.push(pair),
                    _ => runs.push(vec![pair]),
                }
            }
            level = std::thread::scope(|s| {
                let handles: Vec<_> =
                    runs.into_iter().map(|run| s.spawn(move || run.into_iter().map(|p| combine(op, p)).collect::<Vec<_>>())).collect();
                handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
            });
        }
        finish(level)
    }

    /// Each worker folds its own chunk left to right, then the chunks' results
    /// are folded: parallel, in order, but a deep chain instead of a tree.
    pub fn folds_each_workers_chunk(values: Vec<Piece>, workers: usize, op: Op) -> Option<Piece> {
        let per = values.len().div_ceil(workers.max(1)).max(1);
        let mut chunks: Vec<Vec<Piece>> = Vec::new();
        for v in values {
            match chunks.last_mut() {
                Some(c) if c.len() < per => c.push(v),
                _ => chunks.push(vec![v]),
            }
        }
        let partial: Vec<Piece> = std::thread::scope(|s| {
            let handles: Vec<_> = chunks.into_iter().map(|c| s.spawn(move || c.into_iter().reduce(op))).collect();
            handles.into_iter().filter_map(|h| h.join().unwrap()).collect()
        });
        partial.into_iter().reduce(op)
    }

    /// The book's design: workers take pairs from a shared queue and send each
    /// result down a channel; the next round is what came out, in arrival order.
    pub fn collects_in_finish_order(values: Vec<Piece>, workers: usize, op: Op) -> Option<Piece> {
        let mut level = values;
        while level.len() > 1 {
            let queue = Mutex::new(pairs(level).into_iter().collect::<VecDeque<_>>());
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::scope(|s| {
                for _ in 0..workers.max(1) {
                    let (queue, tx) = (&queue, tx.clone());
                    s.spawn(move || loop {
                        let Some(pair) = queue.lock().unwrap().pop_front() else { break };
                        tx.send(combine(op, pair)).unwrap();
                    });
                }
            });
            drop(tx);
            level = rx.into_iter().collect();
        }
        level.pop()
    }

    type FlawOp<'a> = &'a dyn Fn(f64, f64) -> f64;

    fn first_pair_that(samples: &[f64], differs: impl Fn(f64, f64) -> bool) -> Option<Flaw> {
        samples.iter().flat_map(|&a| samples.iter().map(move |&b| (a, b))).find(|&(a, b)| differs(a, b)).map(|(a, b)| Flaw::NotCommutative(a, b))
    }

    fn first_triple_that(samples: &[f64], differs: impl Fn(f64, f64, f64) -> bool) -> Option<Flaw> {
        for &a in samples {
            for &b in samples {
                for &c in samples {
                    if differs(a, b, c) {
                        return Some(Flaw::NotAssociative(a, b, c));
                    }
                }
            }
        }
        None
    }

    pub fn compares_with_a_tolerance(op: FlawOp, samples: &[f64]) -> Option<Flaw> {
        let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
        first_triple_that(samples, |a, b, c| !close(op(op(a, b), c), op(a, op(b, c))))
            .or_else(|| first_pair_that(samples, |a, b| !close(op(a, b), op(b, a))))
    }

    /// Only triples of three different positions, in increasing order.
    pub fn never_repeats_a_sample(op: FlawOp, samples: &[f64]) -> Option<Flaw> {
        let n = samples.len();
        for i in 0..n {
            for j in i + 1..n {
                for k in j + 1..n {
                    let (a, b, c) = (samples[i], samples[j], samples[k]);
                    if op(op(a, b), c) != op(a, op(b, c)) {
                        return Some(Flaw::NotAssociative(a, b, c));
                    }
                }
            }
        }
        first_pair_that(samples, |a, b| op(a, b) != op(b, a))
    }

    pub fn tries_neighbouring_samples_only(op: FlawOp, samples: &[f64]) -> Option<Flaw> {
        let grouping = samples.windows(3).find(|w| op(op(w[0], w[1]), w[2]) != op(w[0], op(w[1], w[2])));
        let order = || samples.windows(2).find(|w| op(w[0], w[1]) != op(w[1], w[0])).map(|w| Flaw::NotCommutative(w[0], w[1]));
        grouping.map(|w| Flaw::NotAssociative(w[0], w[1], w[2])).or_else(order)
    }

    pub fn checks_associativity_only(op: FlawOp, samples: &[f64]) -> Option<Flaw> {
        first_triple_that(samples, |a, b, c| op(op(a, b), c) != op(a, op(b, c)))
    }

    pub fn checks_commutativity_first(op: FlawOp, samples: &[f64]) -> Option<Flaw> {
        first_pair_that(samples, |a, b| op(a, b) != op(b, a))
            .or_else(|| first_triple_that(samples, |a, b, c| op(op(a, b), c) != op(a, op(b, c))))
    }

    /// A slip on the right-hand side: `c` and `b` swapped inside the parentheses.
    pub fn swaps_b_and_c_on_one_side(op: FlawOp, samples: &[f64]) -> Option<Flaw> {
        first_triple_that(samples, |a, b, c| op(op(a, b), c) != op(a, op(c, b)))
            .or_else(|| first_pair_that(samples, |a, b| op(a, b) != op(b, a)))
    }
}

// --- ch15 ----------------------------------------------------------------------

/// The mistakes a global lock can make, one [`WrongGil`] each.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum GilMistake {
    /// switch = release, then acquire: the lock is offered, and usually taken back at once.
    OffersButGrabsItBack,
    /// Forced switching, but a thread waiting in switch is not counted as waiting.
    CountsOnlyAcquire,
    /// acquire never waits.
    NoExclusion,
    /// switch waits for another thread to take the lock even when nobody waits.
    SwitchAlwaysWaits,
    /// switch lets go and waits for its turn, without waking anyone.
    SwitchWakesNobody,
    /// release lets go without waking anyone.
    ReleaseWakesNobody,
}

/// The reference solution's lock, with one mistake.
pub(crate) struct WrongGil {
    state: Mutex<(Option<usize>, usize, u64)>, // (holder, waiting, taken)
    changed: crate::gil::Condvar,
    mistake: GilMistake,
}

impl WrongGil {
    pub(crate) fn new(mistake: GilMistake) -> WrongGil {
        WrongGil { state: Mutex::new((None, 0, 0)), changed: crate::gil::Condvar::new(), mistake }
    }
}

impl GlobalLock for WrongGil {
    fn acquire(&self, me: usize) {
        let mut t = self.state.lock().unwrap();
        t.1 += 1;
        if self.mistake != GilMistake::NoExclusion {
            t = self.changed.wait_while(t, |t| t.0.is_some()).unwrap();
        }
        t.1 -= 1;
        t.0 = Some(me);
        t.2 += 1;
    }
    fn release(&self, _me: usize) {
        self.state.lock().unwrap().0 = None;
        if self.mistake != GilMistake::ReleaseWakesNobody {
            self.changed.notify_all();
        }
    }
    fn switch(&self, me: usize) {
        if self.mistake == GilMistake::OffersButGrabsItBack {
            if self.state.lock().unwrap().1 > 0 {
                self.release(me);
                self.acquire(me);
            }
            return;
        }
        let mut t = self.state.lock().unwrap();
        if t.1 == 0 && self.mistake != GilMistake::SwitchAlwaysWaits {
            return;
        }
        let mine = t.2;
        t.0 = None;
        if self.mistake != GilMistake::CountsOnlyAcquire {
            t.1 += 1;
        }
        if self.mistake != GilMistake::SwitchWakesNobody {
            self.changed.notify_all();
        }
        t = self.changed.wait_while(t, |t| t.2 == mine || t.0.is_some()).unwrap();
        if self.mistake != GilMistake::CountsOnlyAcquire {
            t.1 -= 1;
        }
        t.0 = Some(me);
        t.2 += 1;
    }
}

/// A prediction for two jobs that puts the GIL over the native part
/// (`native_too`) or over the wait (`waiting_too`) as well as over Python code.
fn two_jobs_gil_covers(runtime: Runtime, cores: usize, job: Job, native_too: bool, waiting_too: bool) -> f64 {
    let gil = runtime == Runtime::CPythonThreads;
    let (mut serial, mut parallel) = (0.0, 0.0);
    for (part, under_gil, computing) in [(job.compute, true, true), (job.native, native_too, true), (job.wait, waiting_too, false)] {
        if (gil && under_gil) || (cores < 2 && computing) {
            serial += 2.0 * part;
        } else {
            parallel += part;
        }
    }
    serial + parallel
}

// --- ch09, ch10 ------------------------------------------------------------------

#[cfg(feature = "async")]
mod async_answers {
    use crate::cooperative::Checker;
    use crate::tasks::Job;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Counts the primes in `numbers`, calling `pause(numbers examined)` after each.
    async fn count<P, Fut>(numbers: std::ops::Range<u64>, one_is_prime: bool, mut pause: P) -> u64
    where
        P: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut found = 0;
        for (i, n) in numbers.enumerate() {
            if crate::primes::is_prime(n) || (one_is_prime && n == 1) {
                found += 1;
            }
            pause(i as u64 + 1).await;
        }
        found
    }

    pub async fn never_yields(below: u64, _every: u64) -> u64 {
        count(0..below, false, |_| async {}).await
    }

    pub async fn yields_the_thread_not_the_task(below: u64, every: u64) -> u64 {
        count(0..below, false, |done| async move {
            if done % every == 0 {
                std::thread::yield_now();
            }
        })
        .await
    }

    pub async fn yields_once_at_the_start(below: u64, _every: u64) -> u64 {
        tokio::task::yield_now().await;
        count(0..below, false, |_| async {}).await
    }

    pub async fn ignores_every(below: u64, _every: u64) -> u64 {
        count(0..below, false, |done| async move {
            if done % 100_000 == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
    }

    pub async fn counts_up_to_and_including(below: u64, every: u64) -> u64 {
        count(0..below + 1, false, |done| async move {
            if done % every == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
    }

    pub async fn one_is_prime(below: u64, every: u64) -> u64 {
        count(0..below, true, |done| async move {
            if done % every == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
    }

    pub async fn checks_in_list_order(candidates: Vec<u64>, checker: Checker) -> Option<u64> {
        for n in candidates {
            if checker.is_prime(n).await {
                return Some(n);
            }
        }
        None
    }

    pub async fn awaits_the_tasks_in_list_order(candidates: Vec<u64>, checker: Checker) -> Option<u64> {
        let tasks: Vec<_> = candidates.iter().map(|&n| (n, tokio::spawn(checker.is_prime(n)))).collect();
        for (n, task) in tasks {
            if task.await.unwrap_or(false) {
                return Some(n);
            }
        }
        None
    }

    pub async fn stops_at_the_first_answer(candidates: Vec<u64>, checker: Checker) -> Option<u64> {
        let mut set = tokio::task::JoinSet::new();
        for n in candidates {
            let check = checker.is_prime(n);
            set.spawn(async move { (n, check.await) });
        }
        match set.join_next().await {
            Some(Ok((n, _))) => Some(n),
            _ => None,
        }
    }

    pub async fn leaves_the_others_running(candidates: Vec<u64>, checker: Checker) -> Option<u64> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for n in candidates {
            let (tx, check) = (tx.clone(), checker.is_prime(n));
            tokio::spawn(async move {
                let _ = tx.send((n, check.await));
            });
        }
        drop(tx);
        while let Some((n, prime)) = rx.recv().await {
            if prime {
                return Some(n);
            }
        }
        None
    }

    pub async fn smallest_first_one_by_one(mut candidates: Vec<u64>, checker: Checker) -> Option<u64> {
        candidates.sort();
        checks_in_list_order(candidates, checker).await
    }

    type Ticks = Vec<(&'static str, u32)>;

    async fn one(name: &'static str, n: u32, every: Duration) -> Ticks {
        let mut ticks = Vec::new();
        for left in (0..n).rev() {
            tokio::time::sleep(every).await;
            ticks.push((name, left));
        }
        ticks
    }

    pub async fn one_after_another(plan: Vec<(&'static str, u32, Duration)>) -> Ticks {
        let mut ticks = Vec::new();
        for (name, n, every) in plan {
            ticks.extend(one(name, n, every).await);
        }
        ticks
    }

    pub async fn blocking_sleep(plan: Vec<(&'static str, u32, Duration)>) -> Ticks {
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = plan
            .into_iter()
            .map(|(name, n, every)| {
                let ticks = ticks.clone();
                tokio::spawn(async move {
                    for left in (0..n).rev() {
                        std::thread::sleep(every);
                        ticks.lock().unwrap().push((name, left));
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        let out = ticks.lock().unwrap().clone();
        out
    }

    /// Concurrent and right, then `reorder`ed.
    async fn concurrent(plan: Vec<(&'static str, u32, Duration)>) -> Vec<Ticks> {
        let tasks: Vec<_> = plan.into_iter().map(|(name, n, every)| tokio::spawn(one(name, n, every))).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or_default());
        }
        out
    }

    pub async fn sorted_by_name(plan: Vec<(&'static str, u32, Duration)>) -> Ticks {
        let mut ticks: Ticks = concurrent(plan).await.concat();
        ticks.sort_by_key(|&(name, left)| (name, std::cmp::Reverse(left)));
        ticks
    }

    pub async fn grouped_by_countdown(plan: Vec<(&'static str, u32, Duration)>) -> Ticks {
        concurrent(plan).await.concat()
    }

    pub async fn one_at_a_time(_k: usize, jobs: Vec<Job>) -> Vec<u64> {
        let mut out = Vec::new();
        for job in jobs {
            out.push(job.await);
        }
        out
    }

    pub async fn all_at_once(_k: usize, jobs: Vec<Job>) -> Vec<u64> {
        let tasks: Vec<_> = jobs.into_iter().map(tokio::spawn).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or(0));
        }
        out
    }

    pub async fn in_batches_of_k(k: usize, jobs: Vec<Job>) -> Vec<u64> {
        let mut out = Vec::new();
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let batch: Vec<_> = jobs.by_ref().take(k).map(tokio::spawn).collect();
            for t in batch {
                out.push(t.await.unwrap_or(0));
            }
        }
        out
    }

    pub async fn results_in_finish_order(k: usize, jobs: Vec<Job>) -> Vec<u64> {
        let mut out = Vec::new();
        let mut in_flight = tokio::task::JoinSet::new();
        for job in jobs {
            if in_flight.len() == k {
                if let Some(Ok(v)) = in_flight.join_next().await {
                    out.push(v);
                }
            }
            in_flight.spawn(job);
        }
        while let Some(Ok(v)) = in_flight.join_next().await {
            out.push(v);
        }
        out
    }
}

mod calculator_answers {
    use crate::calculator::Mode;

    fn fields(line: &str) -> impl Iterator<Item = (usize, &str)> {
        line.split(',').enumerate().map(|(i, f)| (i + 1, f.trim()))
    }

    fn parse(place: usize, text: &str) -> Result<i64, String> {
        text.parse().map_err(|_| format!("field {place} ({text:?}) is not a number"))
    }

    fn combine(mode: Mode, numbers: impl Iterator<Item = i64>) -> i64 {
        match mode {
            Mode::Sum => numbers.sum(),
            Mode::Product => numbers.product(),
        }
    }

    fn checked(mode: Mode, numbers: &[i64]) -> Result<i64, String> {
        numbers
            .iter()
            .try_fold(if mode == Mode::Sum { 0i64 } else { 1 }, |t, &n| if mode == Mode::Sum { t.checked_add(n) } else { t.checked_mul(n) })
            .ok_or_else(|| "overflow".to_string())
    }

    pub fn plain_arithmetic(line: &str, mode: Mode) -> Result<i64, String> {
        if line.trim().is_empty() {
            return Err("empty line".into());
        }
        let numbers = fields(line).map(|(i, t)| parse(i, t)).collect::<Result<Vec<i64>, String>>()?;
        Ok(combine(mode, numbers.into_iter()))
    }

    pub fn empty_fields_are_skipped(line: &str, mode: Mode) -> Result<i64, String> {
        if line.trim().is_empty() {
            return Err("empty line".into());
        }
        let numbers = fields(line).filter(|(_, t)| !t.is_empty()).map(|(i, t)| parse(i, t)).collect::<Result<Vec<i64>, String>>()?;
        checked(mode, &numbers)
    }

    pub fn no_room_around_numbers(line: &str, mode: Mode) -> Result<i64, String> {
        if line.is_empty() {
            return Err("empty line".into());
        }
        let numbers = line.split(',').enumerate().map(|(i, t)| parse(i + 1, t)).collect::<Result<Vec<i64>, String>>()?;
        checked(mode, &numbers)
    }

    pub fn the_parsers_own_message(line: &str, mode: Mode) -> Result<i64, String> {
        if line.trim().is_empty() {
            return Err("empty line".into());
        }
        let numbers = fields(line).map(|(_, t)| t.parse::<i64>().map_err(|e| e.to_string())).collect::<Result<Vec<i64>, String>>()?;
        checked(mode, &numbers)
    }

    pub fn empty_line_is_zero(line: &str, mode: Mode) -> Result<i64, String> {
        if line.trim().is_empty() {
            return Ok(0);
        }
        crate::calculator::evaluate(line, mode)
    }
}

#[cfg(feature = "server")]
mod line_answers {
    use crate::server::MAX_LINE;

    pub fn each_read_is_a_line(_pending: &mut Vec<u8>, incoming: &[u8]) -> Result<Vec<String>, String> {
        let text = String::from_utf8_lossy(incoming);
        Ok(vec![text.trim_end_matches(['\r', '\n']).to_string()])
    }

    pub fn first_line_only(pending: &mut Vec<u8>, incoming: &[u8]) -> Result<Vec<String>, String> {
        pending.extend_from_slice(incoming);
        if pending.len() > MAX_LINE {
            return Err("too long".into());
        }
        match pending.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line: Vec<u8> = pending.drain(..=end).collect();
                Ok(vec![String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string()])
            }
            None => Ok(vec![]),
        }
    }

    pub fn drops_the_unfinished_rest(_pending: &mut Vec<u8>, incoming: &[u8]) -> Result<Vec<String>, String> {
        let text = std::str::from_utf8(incoming).map_err(|_| "not UTF-8".to_string())?;
        if text.len() > MAX_LINE && !text.contains('\n') {
            return Err("too long".into());
        }
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        complete.lines().map(|l| if l.len() > MAX_LINE { Err("too long".to_string()) } else { Ok(l.to_string()) }).collect()
    }

    pub fn text_per_read(pending: &mut Vec<u8>, incoming: &[u8]) -> Result<Vec<String>, String> {
        let text = std::str::from_utf8(incoming).map_err(|_| "a read that is not UTF-8".to_string())?;
        pending.extend_from_slice(text.as_bytes());
        crate::server::split_lines(pending, &[])
    }

    pub fn no_limit(pending: &mut Vec<u8>, incoming: &[u8]) -> Result<Vec<String>, String> {
        pending.extend_from_slice(incoming);
        let mut lines = Vec::new();
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            lines.push(String::from_utf8(line).map_err(|_| "not UTF-8".to_string())?);
        }
        Ok(lines)
    }

    pub fn limits_the_read_not_the_line(pending: &mut Vec<u8>, incoming: &[u8]) -> Result<Vec<String>, String> {
        if pending.len() + incoming.len() > MAX_LINE {
            return Err("too much at once".into());
        }
        no_limit(pending, incoming)
    }
}

// --- ch19 ----------------------------------------------------------------------

#[cfg(feature = "testing")]
mod ch19 {
    use crate::scheduling::Task;
    use crate::testing::Tickets;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::{interval, interval_at, Instant};

    /// Counts a run inside the spawned task, when it begins: the next tick
    /// usually comes later, so the count is usually up to date by then.
    pub async fn counts_once_the_run_begins(period: Duration, ticks: usize, max: usize, job: Task) -> Vec<bool> {
        let mut clock = interval_at(Instant::now() + period, period);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut runs = Vec::new();
        let mut ran = Vec::new();
        for tick in 1..=ticks {
            clock.tick().await;
            if in_flight.load(Ordering::SeqCst) < max {
                let (job, in_flight) = (job.clone(), in_flight.clone());
                runs.push(tokio::spawn(async move {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    job(tick).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                }));
                ran.push(true);
            } else {
                ran.push(false);
            }
        }
        for r in runs {
            let _ = r.await;
        }
        ran
    }

    /// A semaphore of max permits: a tick that finds none free waits for one.
    pub async fn queues_the_tick(period: Duration, ticks: usize, max: usize, job: Task) -> Vec<bool> {
        let mut clock = interval_at(Instant::now() + period, period);
        let permits = Arc::new(tokio::sync::Semaphore::new(max));
        let mut runs = Vec::new();
        for tick in 1..=ticks {
            clock.tick().await;
            let (job, permits) = (job.clone(), permits.clone());
            runs.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                job(tick).await;
            }));
        }
        for r in runs {
            let _ = r.await;
        }
        vec![true; ticks]
    }

    /// Runs each tick's job inline: never two at once, and the ticks wait.
    pub async fn awaits_each_run(period: Duration, ticks: usize, _max: usize, job: Task) -> Vec<bool> {
        let mut clock = interval_at(Instant::now() + period, period);
        for tick in 1..=ticks {
            clock.tick().await;
            job(tick).await;
        }
        vec![true; ticks]
    }

    /// `<=` where `<` belongs.
    pub async fn lets_one_too_many_in(period: Duration, ticks: usize, max: usize, job: Task) -> Vec<bool> {
        let mut clock = interval_at(Instant::now() + period, period);
        let mut runs = tokio::task::JoinSet::new();
        let mut ran = Vec::new();
        for tick in 1..=ticks {
            clock.tick().await;
            while runs.try_join_next().is_some() {}
            ran.push(runs.len() <= max);
            if runs.len() <= max {
                runs.spawn(job(tick));
            }
        }
        while runs.join_next().await.is_some() {}
        ran
    }

    /// tokio's interval(): its first tick is at once.
    pub async fn first_tick_at_once(period: Duration, ticks: usize, max: usize, job: Task) -> Vec<bool> {
        let mut clock = interval(period);
        let mut runs = tokio::task::JoinSet::new();
        let mut ran = Vec::new();
        for tick in 1..=ticks {
            clock.tick().await;
            while runs.try_join_next().is_some() {}
            ran.push(runs.len() < max);
            if runs.len() < max {
                runs.spawn(job(tick));
            }
        }
        while runs.join_next().await.is_some() {}
        ran
    }

    /// Right, but returns after the last tick with runs still going.
    pub async fn returns_without_waiting(period: Duration, ticks: usize, max: usize, job: Task) -> Vec<bool> {
        let mut clock = interval_at(Instant::now() + period, period);
        let mut runs = tokio::task::JoinSet::new();
        let mut ran = Vec::new();
        for tick in 1..=ticks {
            clock.tick().await;
            while runs.try_join_next().is_some() {}
            ran.push(runs.len() < max);
            if runs.len() < max {
                runs.spawn(job(tick));
            }
        }
        runs.detach_all();
        ran
    }

    pub fn takes_on_one_thread(roll: Arc<dyn Tickets>) {
        let (a, b) = (roll.take(), roll.take());
        assert_ne!(a, b);
    }

    pub fn expects_the_spawned_thread_first(roll: Arc<dyn Tickets>) {
        let other = {
            let roll = roll.clone();
            shuttle::thread::spawn(move || roll.take())
        };
        let mine = roll.take();
        let theirs = other.join().unwrap();
        assert_eq!((theirs, mine), (0, 1), "the spawned taker should get ticket 0");
    }

    pub fn checks_before_joining(roll: Arc<dyn Tickets>) {
        let got = Arc::new(shuttle::sync::Mutex::new(Vec::new()));
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let (roll, got) = (roll.clone(), got.clone());
                shuttle::thread::spawn(move || got.lock().unwrap().push(roll.take()))
            })
            .collect();
        let mut seen = got.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, [0, 1], "tickets handed out");
        for t in takers {
            t.join().unwrap();
        }
    }

    pub fn never_asserts(roll: Arc<dyn Tickets>) {
        let other = {
            let roll = roll.clone();
            shuttle::thread::spawn(move || roll.take())
        };
        let _ = roll.take();
        let _ = other.join();
    }

    pub fn takes_one_ticket(roll: Arc<dyn Tickets>) {
        let t = shuttle::thread::spawn(move || roll.take());
        assert_eq!(t.join().unwrap(), 0);
    }
}
