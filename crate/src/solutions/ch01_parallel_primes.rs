fn parallel_primes(numbers: &[u64], workers: usize, is_prime: &(dyn Fn(u64) -> bool + Sync)) -> Vec<u64> {
    let workers = workers.max(1);
    // Contiguous chunks, one per worker (rounded up so nothing is left over).
    let chunk = numbers.len().div_ceil(workers).max(1);
    let mut primes: Vec<u64> = std::thread::scope(|s| {
        // Spawn every worker first, then join: they run at the same time.
        let handles: Vec<_> = numbers
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().copied().filter(|&n| is_prime(n)).collect::<Vec<u64>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    primes.sort_unstable();
    primes
}
