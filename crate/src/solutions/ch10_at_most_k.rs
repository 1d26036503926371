async fn at_most(k: usize, jobs: Vec<concurrency_lab::tasks::Job>) -> Vec<u64> {
    let mut results = vec![0; jobs.len()];
    let mut in_flight = tokio::task::JoinSet::new();
    for (i, job) in jobs.into_iter().enumerate() {
        if in_flight.len() == k {
            // All slots taken: wait for whichever job finishes first.
            if let Some(Ok((j, value))) = in_flight.join_next().await {
                results[j] = value;
            }
        }
        in_flight.spawn(async move { (i, job.await) });
    }
    while let Some(Ok((j, value))) = in_flight.join_next().await {
        results[j] = value;
    }
    results
}
