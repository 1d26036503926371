use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn countdowns(plan: Vec<(&'static str, u32, Duration)>) -> Vec<(&'static str, u32)> {
    let ticks = Arc::new(Mutex::new(Vec::new()));
    let mut running = Vec::new();
    for (name, n, every) in plan {
        let ticks = ticks.clone();
        running.push(tokio::spawn(async move {
            for left in (0..n).rev() {
                tokio::time::sleep(every).await; // the loop serves the others meanwhile
                ticks.lock().unwrap().push((name, left)); // recorded as it happens
            }
        }));
    }
    for countdown in running {
        countdown.await.unwrap();
    }
    let ticks = ticks.lock().unwrap().clone();
    ticks
}
