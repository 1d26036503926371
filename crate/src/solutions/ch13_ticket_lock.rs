use std::sync::atomic::{AtomicU64, Ordering};
use concurrency_lab::starvation::TicketLock;

/// Like the ticket machine at a counter: draw a number, wait until it is
/// called. The numbers are called in order, so nobody waits for ever.
struct FifoLock {
    next: AtomicU64,
    serving: AtomicU64,
}

impl FifoLock {
    fn new() -> FifoLock {
        FifoLock { next: AtomicU64::new(0), serving: AtomicU64::new(0) }
    }
}

impl TicketLock for FifoLock {
    fn lock(&self) -> u64 {
        let mine = self.next.fetch_add(1, Ordering::Relaxed); // draw a number
        while self.serving.load(Ordering::Acquire) != mine {
            std::thread::yield_now(); // not our turn: let another thread run
        }
        mine
    }

    fn unlock(&self) {
        self.serving.fetch_add(1, Ordering::Release); // call the next number
    }
}
