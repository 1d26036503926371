use std::sync::Arc;
use concurrency_lab::counters::{Global, LocalCount};

/// One worker's share of an approximate counter: it counts on its own and
/// touches the shared global count only once every `threshold` increments.
struct Local {
    global: Arc<Global>,
    threshold: u64,
    count: u64,
}

impl Local {
    fn new(global: Arc<Global>, threshold: u64) -> Local {
        Local { global, threshold, count: 0 }
    }
}

impl LocalCount for Local {
    fn increment(&mut self) {
        self.count += 1;
        if self.count >= self.threshold {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.count > 0 {
            // One indivisible add: another worker's flush cannot slip in
            // between a read and a write of the global count.
            self.global.fetch_add(self.count);
            self.count = 0;
        }
    }
}
