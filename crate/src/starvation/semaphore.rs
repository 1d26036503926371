//! A first-come-first-served counting semaphore: the building block of the
//! readers-writers policies.

use std::sync::{Condvar, Mutex};

/// A counting semaphore that serves waiters in arrival order (first come,
/// first served). Unlike a mutex guard, a permit can be released by a
/// different thread than the one that acquired it, which the classic
/// readers-writers solutions need (the last reader out releases the
/// resource that the first reader in acquired).
pub struct Semaphore {
    state: Mutex<Tickets>,
    changed: Condvar,
}

struct Tickets {
    permits: usize,
    next_ticket: u64,
    serving: u64,
}

impl Semaphore {
    /// A semaphore with `permits` permits (1 makes it a lock).
    pub fn new(permits: usize) -> Semaphore {
        Semaphore { state: Mutex::new(Tickets { permits, next_ticket: 0, serving: 0 }), changed: Condvar::new() }
    }

    /// Takes a permit, waiting (in arrival order) until one is free.
    pub fn acquire(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mine = st.next_ticket;
        st.next_ticket += 1;
        while st.serving != mine || st.permits == 0 {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.permits -= 1;
        st.serving += 1;
        self.changed.notify_all();
    }

    /// How many threads are waiting in [`acquire`](Self::acquire) now.
    pub fn waiting(&self) -> usize {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.next_ticket - st.serving) as usize
    }

    /// Gives a permit back (any thread may).
    pub fn release(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).permits += 1;
        self.changed.notify_all();
    }
}
