async fn is_prime_yielding(n: u64, every: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    let mut since_yield = 0;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
        since_yield += 1;
        if since_yield == every {
            since_yield = 0;
            // Not ready yet: the loop runs the other tasks, then comes back here.
            tokio::task::yield_now().await;
        }
    }
    true
}
