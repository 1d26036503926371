async fn count_primes(below: u64, every: u64) -> u64 {
    fn is_prime(n: u64) -> bool {
        if n < 2 {
            return false;
        }
        if n % 2 == 0 {
            return n == 2;
        }
        let mut d = 3;
        while d * d <= n {
            if n % d == 0 {
                return false;
            }
            d += 2;
        }
        true
    }

    let mut count = 0;
    for n in 0..below {
        if is_prime(n) {
            count += 1;
        }
        if (n + 1) % every == 0 {
            // Not ready the first time it is polled: the loop runs the
            // other tasks, then comes back here.
            tokio::task::yield_now().await;
        }
    }
    count
}
