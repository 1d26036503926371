fn workers_needed(b: f64, target: f64) -> Option<usize> {
    if target <= 1.0 {
        return Some(1); // one worker already gives a speedup of 1
    }
    // S(N) ≥ target  ⇔  B + (1 − B)/N ≤ 1/target  ⇔  N ≥ (1 − B) / (1/target − B),
    // which only has an answer while 1/target − B is above zero: target below 1/B.
    let room = 1.0 / target - b;
    if room <= 0.0 {
        return None;
    }
    Some(((1.0 - b) / room).ceil().max(1.0) as usize)
}
