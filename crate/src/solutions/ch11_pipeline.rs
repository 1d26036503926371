use concurrency_lab::tokio::{self, sync::mpsc};

/// A stage that squares numbers, between two channels that hold at most `capacity` each.
fn pipeline(capacity: usize) -> (mpsc::Sender<u64>, mpsc::Receiver<u64>) {
    let (input, mut from_input) = mpsc::channel::<u64>(capacity);
    let (to_output, output) = mpsc::channel::<u64>(capacity);
    tokio::spawn(async move {
        while let Some(n) = from_input.recv().await { // None: every sender is gone
            if to_output.send(n * n).await.is_err() { // waits while the output is full
                break; // nobody reads any more: stop, which closes the input
            }
        }
    });
    (input, output)
}
