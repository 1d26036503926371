async fn first_prime(candidates: Vec<u64>, checker: concurrency_lab::cooperative::Checker) -> Option<u64> {
    // One task per candidate, all started before we wait for any answer.
    let mut checks = tokio::task::JoinSet::new();
    for n in candidates {
        let check = checker.is_prime(n);
        checks.spawn(async move { (n, check.await) });
    }
    // Answers come in the order the checks finish, not the list's order.
    while let Some(answer) = checks.join_next().await {
        if let Ok((n, true)) = answer {
            return Some(n); // `checks` is dropped here: the others are aborted
        }
    }
    None
}
