fn breaking_schedule() -> Vec<usize> {
    // T1 checks first (lock, read 100: enough for 60) and lets go of the lock.
    // T0 then runs its whole transfer: check 100 >= 70, move 70 (account 0: 30).
    // T1's check is stale: it moves its 60 anyway and leaves account 0 at -30.
    // Two switches: T1 -> T0 -> T1. With fewer, one transfer runs whole
    // before the other, and the second check sees the first withdrawal.
    let mut schedule = vec![1, 1];
    schedule.extend([0; 8]);
    schedule.extend([1; 6]);
    schedule
}
