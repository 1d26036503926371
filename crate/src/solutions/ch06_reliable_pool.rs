use concurrency_lab::process::Worker;
use concurrency_lab::serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Everything the pool's threads share, behind one lock.
struct Board {
    todo: VecDeque<usize>,          // jobs nobody has taken (indices into `jobs`)
    answers: Vec<Option<Value>>,    // by job index
    in_flight: usize,               // jobs a worker is doing right now
    error: Option<String>,          // an error reply from a live worker
}

fn pool_run(workers: Vec<Worker>, jobs: Vec<(String, Value)>) -> Result<Vec<Value>, String> {
    let board = Mutex::new(Board { todo: (0..jobs.len()).collect(), answers: vec![None; jobs.len()], in_flight: 0, error: None });
    let changed = Condvar::new();
    std::thread::scope(|s| {
        for mut worker in workers {
            let (board, changed, jobs) = (&board, &changed, &jobs);
            s.spawn(move || loop {
                let i = {
                    let mut b = board.lock().unwrap();
                    loop {
                        if b.error.is_some() {
                            return;
                        }
                        if let Some(i) = b.todo.pop_front() {
                            b.in_flight += 1;
                            break i;
                        }
                        if b.in_flight == 0 {
                            return; // nothing waiting and nothing that could come back: done
                        }
                        b = changed.wait(b).unwrap(); // a job in flight may come back
                    }
                };
                let (job, args) = &jobs[i];
                let answer = worker.call(job, args.clone(), Duration::from_secs(60));
                let mut b = board.lock().unwrap();
                b.in_flight -= 1;
                match answer {
                    Ok(value) => b.answers[i] = Some(value),
                    Err(_) if !worker.alive() => {
                        b.todo.push_front(i); // its job goes back for another worker
                        changed.notify_all();
                        return; // and this dead worker takes no more
                    }
                    Err(e) => b.error = Some(e),
                }
                changed.notify_all();
            });
        }
    });
    let board = board.into_inner().unwrap();
    if let Some(e) = board.error {
        return Err(e);
    }
    if !board.todo.is_empty() {
        return Err(format!("every worker died; jobs never answered: {:?}", board.todo));
    }
    Ok(board.answers.into_iter().map(|a| a.unwrap_or(Value::Null)).collect())
}
