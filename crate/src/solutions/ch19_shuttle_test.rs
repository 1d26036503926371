use std::sync::Arc;
fn tickets_test(roll: Arc<dyn concurrency_lab::testing::Tickets>) {
    // Two takers on shuttle threads, so shuttle chooses how they interleave.
    let takers: Vec<_> = (0..2)
        .map(|_| {
            let roll = roll.clone();
            shuttle::thread::spawn(move || roll.take())
        })
        .collect();
    let mut tickets: Vec<u64> = takers.into_iter().map(|t| t.join().unwrap()).collect();
    // True in every order: the two tickets are 0 and 1, each handed out once.
    tickets.sort();
    assert_eq!(tickets, [0, 1], "the takers got tickets {tickets:?}");
}
