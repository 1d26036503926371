fn losing_schedule() -> Vec<usize> {
    // Every thread reads 0 before any thread writes; then each writes 0 + 1.
    vec![0, 1, 2, 0, 1, 2]
}
