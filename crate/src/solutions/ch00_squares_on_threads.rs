fn squares_on_threads(n: usize, square: &(dyn Fn(usize) -> usize + Sync)) -> Vec<(usize, std::thread::ThreadId)> {
    std::thread::scope(|s| {
        // Spawn them all first: the threads run at the same time.
        let handles: Vec<_> = (0..n)
            .map(|i| s.spawn(move || (square(i), std::thread::current().id())))
            .collect();
        // Joining in spawn order gives the results in order of `i`.
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
