fn squares_on_threads(n: usize) -> Vec<(usize, std::thread::ThreadId)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| s.spawn(move || (i * i, std::thread::current().id())))
            .collect();
        // Joining in spawn order gives the results in order of `i`.
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
