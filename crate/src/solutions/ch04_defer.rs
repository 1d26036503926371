/// Runs its action when dropped. The action sits in an `Option` because a
/// `FnOnce` is consumed by calling it, and `drop` only gets `&mut self`:
/// `take()` moves it out and leaves `None` behind.
struct Defer {
    action: Option<Box<dyn FnOnce() + Send>>,
}

fn defer(action: Box<dyn FnOnce() + Send>) -> Defer {
    Defer { action: Some(action) }
}

impl Drop for Defer {
    fn drop(&mut self) {
        if let Some(action) = self.action.take() {
            action();
        }
    }
}
