use concurrency_lab::image::GrayImage;

fn parallel_tiles(count: usize, workers: usize, process: &(dyn Fn(usize) -> GrayImage + Sync)) -> Vec<GrayImage> {
    // One shared counter: a free worker takes the next tile, so no tile
    // waits behind a slow one.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, GrayImage)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= count {
                            return mine;
                        }
                        mine.push((i, process(i)));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    // Back in tile order, whoever finished first.
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, img)| img).collect()
}
