use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use concurrency_lab::workqueue::Condvar;
use concurrency_lab::workqueue::AgingQueue;

struct Aging {
    state: Mutex<QueueState>,
    changed: Condvar,
}

/// Everything the lock protects: the jobs, the closed flag and the counters
/// that the aging rule needs, so a consumer sees them all at one moment.
struct QueueState {
    /// (key, Reverse(push number), job). At any pop, a job's effective
    /// priority is its priority plus (pops now - pops when it was pushed),
    /// which is its key plus pops now. "Pops now" is the same for every
    /// waiting job, so ordering by key is ordering by effective priority,
    /// and the heap never needs re-sorting.
    jobs: BinaryHeap<(i64, Reverse<u64>, u64)>,
    closed: bool,
    /// Pops that returned a job so far.
    pops: u64,
    /// Pushes so far: the tie-break (pushed first comes out first).
    pushes: u64,
}

impl Aging {
    fn new() -> Aging {
        let state = QueueState { jobs: BinaryHeap::new(), closed: false, pops: 0, pushes: 0 };
        Aging { state: Mutex::new(state), changed: Condvar::new() }
    }
}

impl AgingQueue for Aging {
    fn push(&self, priority: u32, job: u64) {
        let mut s = self.state.lock().unwrap();
        let key = i64::from(priority) - s.pops as i64; // may be negative
        let order = Reverse(s.pushes);
        s.pushes += 1;
        s.jobs.push((key, order, job));
        drop(s);
        self.changed.notify_one(); // after the job is in: a waiting consumer finds it
    }

    fn pop(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some((_, _, job)) = s.jobs.pop() {
                s.pops += 1;
                return Some(job);
            }
            if s.closed {
                return None;
            }
            s = self.changed.wait(s).unwrap();
        }
    }

    fn close(&self) {
        self.state.lock().unwrap().closed = true;
        self.changed.notify_all();
    }
}
