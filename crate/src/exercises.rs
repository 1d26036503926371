//! The one table of exercises. Each exercise is declared here once, by one
//! row: its name, its notebook, its judge and the learner's item (what the
//! starter cell defines and the check is given). Everything else follows
//! from the row:
//!
//! - the check a notebook calls, `check!(name, item)`: it runs the row's
//!   judge on the learner's item and prints the verdict (text for the
//!   learner, JSON for the tests: [`crate::exercise::report`]);
//! - the test that the reference solution, `src/solutions/<name>.rs`
//!   (exactly the text of a notebook cell), passes that judge;
//! - [`TABLE`], which the notebook tests, the course progress and the
//!   cross-check test below read.
//!
//! Adding an exercise: a judge in the chapter's module, one row here, the
//! solution file, and in the notebook a starter cell with metadata
//! `{"concurrency_lab": {"exercise": "<name>"}}` followed by the check cell.
//! The tests below fail if any of these disagree.

/// One exercise, as the rest of the course sees it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Exercise {
    /// `chNN_what`: the solution file's name and the check's first argument.
    pub name: &'static str,
    /// The notebook it belongs to, without `.ipynb` (`03-threads`).
    pub notebook: &'static str,
    /// What the learner writes and passes to the check (`JobQueue::new`).
    pub item: &'static str,
    /// The crate module whose judge checks it (`workqueue`).
    pub module: &'static str,
}

/// The exercise called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Exercise> {
    TABLE.iter().find(|e| e.name == name)
}

macro_rules! exercises {
    ($($(#[$only:meta])? $name:ident in $notebook:literal: $module:ident::$judge:ident($item:expr);)*) => {
        /// Every exercise of the course, in the order of the chapters.
        pub const TABLE: &[Exercise] = &[
            $(Exercise { name: stringify!($name), notebook: $notebook, item: stringify!($item), module: stringify!($module) },)*
        ];

        /// Each exercise's judge under the exercise's name: what `check!` calls.
        pub mod judges {
            $($(#[$only])? pub use crate::$module::$judge as $name;)*
        }

        /// The reference solutions, each checked by its exercise's judge.
        pub mod solutions {
            $(
                $(#[$only])?
                #[allow(dead_code, unused_imports)]
                pub mod $name {
                    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/solutions/", stringify!($name), ".rs"));

                    #[cfg(test)]
                    #[test]
                    fn passes_its_check() {
                        let verdict = crate::exercises::judges::$name($item);
                        assert!(verdict.passed(), "{verdict}");
                    }
                }
            )*
        }
    };
}

exercises! {
    ch00_split_work in "00-start-here": basics::judge_split_work(split_work);
    ch00_squares_on_threads in "00-start-here": basics::judge_squares_on_threads(squares_on_threads);
    ch01_is_prime in "01-introduction": primes::judge_is_prime(is_prime);
    ch01_parallel_primes in "01-introduction": primes::judge_parallel_primes(parallel_primes);
    ch02_predict_speedup in "02-amdahls-law": amdahl::judge_predict_speedup(predict_speedup);
    ch02_workers_needed in "02-amdahls-law": amdahl::judge_workers_needed(workers_needed);
    ch03_work_queue in "03-threads": workqueue::judge_work_queue(JobQueue::new);
    ch03_aging_queue in "03-threads": workqueue::judge_aging_queue(Aging::new);
    ch04_lease in "04-raii-guards": guards::judge_lease(lease);
    ch04_transaction in "04-raii-guards": guards::judge_transaction(begin);
    #[cfg(feature = "web")] ch05_deadline in "05-web-requests": web::judge_deadline(fetch_all);
    #[cfg(feature = "web")] ch05_retries in "05-web-requests": web::judge_retries(get_with_retries);
    ch06_reliable_pool in "06-processes": process::judge_reliable_pool(pool_run);
    ch06_poison_pill in "06-processes": process::judge_poison_pill((produce, consume));
    ch07_tree_reduce in "07-reduction-operators": reduction::judge_tree_reduce(tree_reduce);
    ch07_find_flaw in "07-reduction-operators": reduction::judge_find_flaw(find_flaw);
    // A chapter that needs a feature marks its rows `#[cfg(feature = "...")]`:
    // the table lists them always; their judges and solutions exist with the feature.
    #[cfg(feature = "image")] ch08_seamless_tiles in "08-image-processing": imaging::judge_seamless_tiles(threshold_tile);
    #[cfg(feature = "image")] ch08_parallel_tiles in "08-image-processing": imaging::judge_parallel_tiles(parallel_tiles);
    #[cfg(feature = "async")] ch09_count_primes in "09-asynchronous-programming": cooperative::judge_count_primes(count_primes);
    #[cfg(feature = "async")] ch09_first_prime in "09-asynchronous-programming": cooperative::judge_first_prime(first_prime);
    #[cfg(feature = "async")] ch10_countdowns in "10-async-in-practice": tasks::judge_countdowns(countdowns);
    #[cfg(feature = "async")] ch10_at_most_k in "10-async-in-practice": tasks::judge_at_most_k(at_most);
    #[cfg(feature = "async")] ch11_echo_server in "11-communication-channels": channels::judge_echo_server(serve);
    #[cfg(feature = "async")] ch11_pipeline in "11-communication-channels": channels::judge_pipeline(pipeline);
    ch12_philosophers in "12-deadlocks": deadlock::judge_philosophers(philosopher);
    ch12_find_cycle in "12-deadlocks": deadlock::judge_find_cycle(find_cycle);
    ch13_fair_rwlock in "13-starvation": starvation::judge_fair_rwlock(FairRw::new);
    ch13_ticket_lock in "13-starvation": starvation::judge_ticket_lock(FifoLock::new);
    ch14_bank_transfer in "14-race-conditions": race::judge_bank_transfer(transfer);
    ch14_breaking_schedule in "14-race-conditions": race::judge_breaking_schedule(breaking_schedule);
    ch15_fair_gil in "15-global-interpreter-lock": gil::judge_fair_gil(FairGil::new);
    ch15_two_jobs in "15-global-interpreter-lock": gil::judge_two_jobs(two_jobs);
    ch16_approximate_counter in "16-concurrent-data-structures": counters::judge_approximate_counter(Local::new);
    #[cfg(feature = "rcu")] ch16_rcu_update in "16-concurrent-data-structures": rcu::judge_rcu_update(add_node);
    ch17_relay_orderings in "17-memory-model-and-atomics": atomics::judge_relay_orderings(relay_orderings);
    ch17_atomic_max in "17-memory-model-and-atomics": atomics::judge_atomic_max(record_max);
    ch18_calculator in "18-server-from-scratch": calculator::judge_calculator(evaluate);
    #[cfg(feature = "server")] ch18_line_buffer in "18-server-from-scratch": server::judge_line_buffer(split_lines);
    #[cfg(feature = "testing")] ch19_max_instances in "19-testing-debugging-scheduling": scheduling::judge_max_instances(run_every);
    #[cfg(feature = "testing")] ch19_shuttle_test in "19-testing-debugging-scheduling": testing::judge_shuttle_test(tickets_test);
}

/// Checks the learner's solution of an exercise and prints the verdict:
/// `check!(ch03_work_queue, JobQueue::new);`. The first argument is the
/// exercise's name from [`TABLE`] (a misspelt name does not compile), the
/// second what the starter cell asked you to write.
#[macro_export]
macro_rules! check {
    ($name:ident, $item:expr) => {
        $crate::exercise::report(stringify!($name), &$crate::exercises::judges::$name($item))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
    }

    fn source(cell: &Value) -> String {
        match &cell["source"] {
            Value::String(s) => s.clone(),
            Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
            _ => String::new(),
        }
    }

    /// (notebook, exercise named by a starter cell, the next code cell's text)
    fn starters() -> Vec<(String, String, String)> {
        let mut found = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(root().join("notebooks")).unwrap().flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.extension().is_some_and(|x| x == "ipynb")) {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            let nb: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let code: Vec<&Value> = nb["cells"].as_array().unwrap().iter().filter(|c| c["cell_type"] == "code").collect();
            for (i, cell) in code.iter().enumerate() {
                if let Some(name) = cell["metadata"]["concurrency_lab"]["exercise"].as_str() {
                    let next = code.get(i + 1).map(|c| source(c)).unwrap_or_default();
                    found.push((stem.clone(), name.to_string(), next));
                }
            }
        }
        found
    }

    #[test]
    fn notebooks_the_table_and_the_solutions_agree() {
        let mut problems = Vec::new();
        let starters = starters();
        let mut seen = BTreeSet::new();
        for (notebook, name, next) in &starters {
            match find(name) {
                None => problems.push(format!("{notebook}: a starter cell names exercise `{name}`, which is not in the table (src/exercises.rs)")),
                Some(e) => {
                    if e.notebook != notebook {
                        problems.push(format!("{notebook}: exercise `{name}` belongs to {} in the table", e.notebook));
                    }
                    let call = format!("check!({name}, {})", e.item);
                    if !next.contains(&call) {
                        problems.push(format!("{notebook}: the cell after the starter of `{name}` should call `{call}`; it is: {next:?}"));
                    }
                }
            }
            if !seen.insert(name.clone()) {
                problems.push(format!("exercise `{name}` has more than one starter cell"));
            }
        }
        for e in TABLE {
            if !seen.contains(e.name) {
                problems.push(format!("exercise `{}` is in the table but no starter cell in notebooks/{}.ipynb names it", e.name, e.notebook));
            }
        }
        let files: BTreeSet<String> = std::fs::read_dir(root().join("crate/src/solutions"))
            .unwrap()
            .flatten()
            .filter_map(|f| f.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
            .collect();
        let names: BTreeSet<String> = TABLE.iter().map(|e| e.name.to_string()).collect();
        for extra in files.difference(&names) {
            problems.push(format!("src/solutions/{extra}.rs is not an exercise of the table"));
        }
        // (A table row without its file does not compile: include! fails.)
        assert!(problems.is_empty(), "the exercises disagree:\n  {}", problems.join("\n  "));
    }

    #[test]
    fn names_say_their_chapter() {
        for e in TABLE {
            let chapter = &e.notebook[..2];
            assert!(e.name.starts_with(&format!("ch{chapter}_")), "{} is in notebook {}", e.name, e.notebook);
        }
    }
}
