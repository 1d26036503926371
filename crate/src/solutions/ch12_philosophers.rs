fn philosopher(me: usize, table: &concurrency_lab::deadlock::Table, meals: usize) {
    let left = me;
    let right = (me + 1) % table.seats();
    // Resource ranking: always pick up the lower-numbered fork first. The
    // last philosopher, whose right fork is fork 0, reaches for it first, so
    // the ring of "everyone holds the left fork" can never close.
    let (first, second) = if left < right { (left, right) } else { (right, left) };
    for _ in 0..meals {
        let _first = table.take(me, first);
        let _second = table.take(me, second);
        table.eat(me);
    } // both forks are put down when the guards drop, at the end of each meal
}
