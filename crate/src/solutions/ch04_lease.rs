use std::sync::Arc;
use concurrency_lab::guards::Pool;

/// A checked-out slot. Owning an `Arc` to the pool lets the lease live as
/// long as it likes, on any thread, and still find its way home.
struct Lease {
    pool: Arc<Pool>,
    slot: usize,
}

fn lease(pool: &Arc<Pool>) -> Option<Lease> {
    let slot = pool.take()?; // None when the pool is empty
    Some(Lease { pool: pool.clone(), slot })
}

impl Drop for Lease {
    // Runs exactly once, on every way out of the scope that owns the lease.
    fn drop(&mut self) {
        self.pool.give_back(self.slot);
    }
}
