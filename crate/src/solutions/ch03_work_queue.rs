use std::collections::VecDeque;
use std::sync::Mutex;
use concurrency_lab::workqueue::Condvar;
use concurrency_lab::workqueue::WorkQueue;

/// The jobs and whether the queue is closed, behind one lock, so a consumer
/// sees both at the same moment.
struct JobQueue {
    state: Mutex<(VecDeque<u64>, bool)>,
    /// Signalled when a job arrives or the queue closes.
    changed: Condvar,
}

impl JobQueue {
    fn new() -> JobQueue {
        JobQueue { state: Mutex::new((VecDeque::new(), false)), changed: Condvar::new() }
    }
}

impl WorkQueue for JobQueue {
    fn push(&self, job: u64) {
        self.state.lock().unwrap().0.push_back(job);
        self.changed.notify_one();
    }

    fn pop(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(job) = state.0.pop_front() {
                return Some(job);
            }
            if state.1 {
                return None; // closed and empty
            }
            // Releases the lock while asleep, takes it back on waking.
            state = self.changed.wait(state).unwrap();
        }
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all(); // every waiting consumer must see it
    }
}
