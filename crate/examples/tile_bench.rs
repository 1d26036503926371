//! Prints chapter 8's measurements that the closing notes of issue 9 quote:
//! the speedup of processing the scene's 20 x 20 = 400 tiles (each a PNG
//! "file": read = decode, then grayscale and the adaptive Gaussian
//! threshold) with 1..N workers, reading the files in the main thread vs in
//! the workers.
//!
//! Run with the profile that matches evcxr's build:
//! `cargo run --profile evcxr --example tile_bench -p concurrency_lab --features image`

use concurrency_lab::imaging::{self, Reads, GRID};
use concurrency_lab::machine::machine;

fn main() -> Result<(), String> {
    let (w, h) = (1600, 1200);
    let scene = imaging::scene(w, h)?;
    let files = imaging::tile_files(&scene, GRID)?;
    let workers: Vec<usize> = (1..=4).collect();
    println!("{}", machine().footer());
    println!("scene {w} x {h}, {} tiles as PNG files, median of 7 runs each", files.len());
    for reads in [Reads::InMain, Reads::InWorkers] {
        let runs = imaging::time_tiles(&files, &workers, reads, 7)?;
        let one = runs[0].seconds;
        for r in &runs {
            println!("{reads:?}: {} worker(s) {:.3} s  speedup {:.2}x", r.workers, r.seconds, one / r.seconds);
        }
    }
    Ok(())
}
