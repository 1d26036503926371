use std::time::Duration;
async fn run_every(period: Duration, ticks: usize, max_instances: usize, job: concurrency_lab::scheduling::Task) -> Vec<bool> {
    // Tick i is due at i × period (interval() alone would tick at once, at 0).
    let mut clock = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut runs = tokio::task::JoinSet::new();
    let mut ran = Vec::with_capacity(ticks);
    for tick in 1..=ticks {
        clock.tick().await;
        while runs.try_join_next().is_some() {} // forget the runs that have ended
        // Counted the moment the run is spawned, before the next tick looks:
        // after a hold-up, several ticks come one right after the other.
        if runs.len() < max_instances {
            runs.spawn(job(tick));
            ran.push(true);
        } else {
            ran.push(false); // skipped, not queued
        }
    }
    while runs.join_next().await.is_some() {} // every run ends before we return
    ran
}
