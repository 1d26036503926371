fn split_work(len: usize, workers: usize) -> Vec<std::ops::Range<usize>> {
    if workers == 0 {
        return Vec::new();
    }
    let (size, extra) = (len / workers, len % workers);
    let mut start = 0;
    (0..workers)
        .map(|i| {
            // The first `extra` workers take one more item each.
            let end = start + size + usize::from(i < extra);
            let range = start..end;
            start = end;
            range
        })
        .collect()
}
