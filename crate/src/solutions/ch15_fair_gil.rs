use std::sync::Mutex;
// std's Condvar, with a hook for the check (see above)
use concurrency_lab::gil::{Condvar, GlobalLock};

struct FairGil {
    state: Mutex<Turns>,
    changed: Condvar,
}

/// Everything the lock protects.
struct Turns {
    holder: Option<usize>,
    /// Threads that want the lock: in acquire, or in switch waiting for their turn back.
    waiting: usize,
    /// How often the lock has been taken: a switching thread waits until this moves.
    taken: u64,
}

impl FairGil {
    fn new() -> FairGil {
        FairGil { state: Mutex::new(Turns { holder: None, waiting: 0, taken: 0 }), changed: Condvar::new() }
    }
}

impl GlobalLock for FairGil {
    fn acquire(&self, me: usize) {
        let mut t = self.state.lock().unwrap();
        t.waiting += 1;
        t = self.changed.wait_while(t, |t| t.holder.is_some()).unwrap();
        t.waiting -= 1;
        t.holder = Some(me);
        t.taken += 1;
    }

    fn release(&self, _me: usize) {
        self.state.lock().unwrap().holder = None;
        self.changed.notify_all();
    }

    fn switch(&self, me: usize) {
        let mut t = self.state.lock().unwrap();
        if t.waiting == 0 {
            return; // nobody else wants it: keep running
        }
        let mine = t.taken;
        t.holder = None;
        t.waiting += 1; // from now on we wait for it too
        self.changed.notify_all();
        // Forced switching: wait until another thread has taken the lock, and then until it is free.
        t = self.changed.wait_while(t, |t| t.taken == mine || t.holder.is_some()).unwrap();
        t.waiting -= 1;
        t.holder = Some(me);
        t.taken += 1;
    }
}
