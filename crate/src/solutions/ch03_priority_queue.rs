use std::collections::BinaryHeap;
use std::sync::Mutex;
use concurrency_lab::workqueue::Condvar;
use concurrency_lab::workqueue::PriorityQueue;

/// A max-heap of (priority, job) and the closed flag, behind one lock.
struct UrgentFirst {
    state: Mutex<(BinaryHeap<(u32, u64)>, bool)>,
    changed: Condvar,
}

impl UrgentFirst {
    fn new() -> UrgentFirst {
        UrgentFirst { state: Mutex::new((BinaryHeap::new(), false)), changed: Condvar::new() }
    }
}

impl PriorityQueue for UrgentFirst {
    fn push(&self, priority: u32, job: u64) {
        self.state.lock().unwrap().0.push((priority, job));
        self.changed.notify_one();
    }

    fn pop(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap();
        loop {
            // The heap hands out the largest (priority, job) pair first.
            if let Some((_, job)) = state.0.pop() {
                return Some(job);
            }
            if state.1 {
                return None;
            }
            state = self.changed.wait(state).unwrap();
        }
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}
