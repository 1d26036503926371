fn record_max(best: &concurrency_lab::atomics::SteppedU64, value: u64) {
    let mut current = best.load();
    // Write only if `value` is still bigger than what is there; if another
    // thread changed it in between, compare again with what it holds now.
    while current < value {
        match best.compare_exchange(current, value) {
            Ok(_) => return,
            Err(now) => current = now,
        }
    }
}
