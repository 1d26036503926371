fn tree_reduce<T: Send>(values: Vec<T>, workers: usize, op: &(dyn Fn(T, T) -> T + Sync)) -> Option<T> {
    let workers = workers.max(1);
    let mut level = values;
    while level.len() > 1 {
        // Neighbours in pairs, in order: (v0, v1), (v2, v3), ...; an odd last value goes alone.
        let mut pairs: Vec<(T, Option<T>)> = Vec::with_capacity(level.len().div_ceil(2));
        let mut items = level.into_iter();
        while let Some(a) = items.next() {
            pairs.push((a, items.next()));
        }
        // Each worker gets a run of neighbouring pairs, so its results belong together.
        let per_worker = pairs.len().div_ceil(workers);
        let mut runs: Vec<Vec<(T, Option<T>)>> = Vec::new();
        while !pairs.is_empty() {
            let rest = pairs.split_off(per_worker.min(pairs.len()));
            runs.push(std::mem::replace(&mut pairs, rest));
        }
        level = std::thread::scope(|s| {
            let handles: Vec<_> = runs
                .into_iter()
                .map(|run| s.spawn(move || run.into_iter().map(|(a, b)| match b { Some(b) => op(a, b), None => a }).collect::<Vec<T>>()))
                .collect();
            // Joined in the order they were spawned, whatever order they finish in: positions are kept.
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
    }
    level.pop() // None for an empty list, the value itself for one value
}
