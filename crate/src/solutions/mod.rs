//! Reference solutions of the exercises.
//!
//! Each file here is exactly the text of a notebook cell: the notebook test
//! harness pastes it in place of the exercise's starter cell (the starter's
//! metadata names the file), and the tests below check it with the same
//! judge the notebook's `check_*` call uses. One text, both places.
//!
//! Look here only after trying: the notebooks' hints come first.

macro_rules! solution {
    ($file:ident, $judge:path, $solution:expr) => {
        pub mod $file {
            #![allow(dead_code)]
            include!(concat!(stringify!($file), ".rs"));
            #[cfg(test)]
            #[test]
            fn passes_its_check() {
                let verdict = $judge($solution);
                assert!(verdict.passed(), "{verdict}");
            }
        }
    };
}

solution!(ch00_split_work, crate::basics::judge_split_work, split_work);
solution!(ch00_squares_on_threads, crate::basics::judge_squares_on_threads, squares_on_threads);
solution!(ch01_is_prime, crate::primes::judge_is_prime, is_prime);
solution!(ch01_parallel_primes, crate::primes::judge_parallel_primes, parallel_primes);
solution!(ch02_amdahl_speedup, crate::amdahl::judge_amdahl_speedup, amdahl_speedup);
solution!(ch02_serial_fraction, crate::amdahl::judge_serial_fraction, serial_fraction);
solution!(ch03_work_queue, crate::workqueue::judge_work_queue, JobQueue::new);
solution!(ch03_priority_queue, crate::workqueue::judge_priority_queue, UrgentFirst::new);
solution!(ch12_philosophers, crate::deadlock::judge_philosophers, philosopher);
solution!(ch12_find_cycle, crate::deadlock::judge_find_cycle, find_cycle);
solution!(ch14_bank_transfer, crate::race::judge_bank_transfer, transfer);
solution!(ch14_losing_schedule, crate::race::judge_losing_schedule, losing_schedule);
solution!(ch13_fair_rwlock, crate::starvation::judge_fair_rwlock, FairRw::new);
solution!(ch13_ticket_lock, crate::starvation::judge_ticket_lock, FifoLock::new);
solution!(ch04_lease, crate::guards::judge_lease, lease);
solution!(ch04_defer, crate::guards::judge_defer, defer);
