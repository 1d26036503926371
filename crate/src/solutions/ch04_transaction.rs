use concurrency_lab::guards::{Store, StoreGuard, Transact};

/// Holds the store's lock for its whole life, and remembers how to undo
/// each change.
struct Transaction {
    guard: StoreGuard,
    /// Each change's key and its value before the change (`None`: the key
    /// did not exist), oldest first.
    undo: Vec<(String, Option<i64>)>,
}

fn begin(store: &Store) -> Transaction {
    Transaction { guard: store.lock(), undo: Vec::new() }
}

impl Transact for Transaction {
    fn get(&self, key: &str) -> Option<i64> {
        self.guard.get(key)
    }

    fn set(&mut self, key: &str, value: i64) {
        let before = self.guard.set(key, value);
        self.undo.push((key.to_string(), before));
    }

    fn commit(mut self) {
        self.undo.clear(); // nothing left to undo: the drop that follows keeps the changes
    }
}

impl Drop for Transaction {
    // Runs on every way out: after commit (with nothing to undo), at the end
    // of a scope, on `?` or `return`, during a panic.
    fn drop(&mut self) {
        // Newest first: a key changed twice ends at its value from before both.
        while let Some((key, before)) = self.undo.pop() {
            match before {
                Some(value) => self.guard.set(&key, value),
                None => self.guard.remove(&key),
            };
        }
    } // then the field `guard` is dropped: the lock is let go only after the undo
}
