fn find_cycle(waits_for: &[Option<usize>]) -> Option<Vec<usize>> {
    for start in 0..waits_for.len() {
        // Walk the chain of waits from `start`; every thread waits for at most
        // one other, so the walk either stops at a running thread or loops.
        let mut path: Vec<usize> = Vec::new();
        let mut t = start;
        loop {
            if let Some(pos) = path.iter().position(|&p| p == t) {
                return Some(path[pos..].to_vec()); // back at a thread already on the path
            }
            path.push(t);
            match waits_for[t] {
                Some(next) => t = next,
                None => break, // this chain ends at a thread that is not waiting
            }
        }
    }
    None
}
