//! Image processing, and why it parallelises: a scene drawn in code, the
//! book's grayscale and thresholds (global, adaptive mean, adaptive
//! Gaussian), an image cut into a grid of tiles, the tiles stored as PNG
//! "files" and processed by a pool of workers that read them either in the
//! main thread or themselves. Chapter 8's two exercises are judged here.
//!
//! Errors a learner can cause (an image of size zero, a grid finer than the
//! image, an even block) come back as `Err` with a message, never a panic.

use crate::exercise::{self, Verdict};
use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use imageproc::contrast::{adaptive_threshold, threshold, ThresholdType};
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The book's global threshold: brighter than this is white.
pub const GLOBAL: u8 = 127;
/// The book's adaptive block: each pixel is compared with its 11 x 11 neighbourhood.
pub const BLOCK: u32 = 11;
/// The book's constant C: the neighbourhood's mean less C is the threshold.
pub const C: i32 = 2;
/// The book's grid: 20 x 20 = 400 tiles.
pub const GRID: u32 = 20;

fn nonempty(what: &str, w: u32, h: u32) -> Result<(), String> {
    if w == 0 || h == 0 {
        Err(format!("{what} is {w} x {h} pixels: an image of size zero has no pixels to process"))
    } else {
        Ok(())
    }
}

/// A cheap, repeatable pseudo-random value in 0..256 for pixel (x, y).
fn grain(x: u32, y: u32) -> u32 {
    let mut h = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    ((h >> 40) & 0xFF) as u32
}

/// A landscape drawn in code: a sky that darkens upwards, a sun, hills,
/// a town of lit windows and film grain, with shadows (uneven light is what
/// adaptive thresholds are for). The same size always gives the same image.
pub fn scene(width: u32, height: u32) -> Result<RgbImage, String> {
    nonempty("the scene", width, height)?;
    let (w, h) = (width as f64, height as f64);
    let hills: Vec<f64> = (0..width)
        .map(|x| {
            let t = x as f64 / w;
            h * (0.55 + 0.08 * (t * 9.0).sin() + 0.05 * (t * 23.0 + 1.0).sin())
        })
        .collect();
    Ok(RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f64 / w, y as f64 / h);
        let noise = grain(x, y) as f64 / 255.0 * 40.0 - 20.0;
        let light = 0.45 + 0.55 * fx; // brighter to the right: uneven lighting
        let (r, g, b) = if (fx - 0.78).powi(2) + ((fy - 0.2) * h / w).powi(2) < 0.004 {
            (255.0, 230.0, 120.0)
        } else if (y as f64) < hills[x as usize] {
            (70.0 + 120.0 * fy, 120.0 + 100.0 * fy, 230.0)
        } else if fx > 0.15 && fx < 0.6 && fy > 0.62 {
            // the town: blocks of wall with lit windows
            let window = (x / 9) % 2 == 0 && (y / 12) % 2 == 0 && grain(x / 9, y / 12) > 90;
            if window {
                (250.0, 220.0, 140.0)
            } else {
                (90.0, 80.0, 85.0)
            }
        } else {
            let stripe = ((fx * 60.0 + fy * 25.0).sin() * 25.0).round();
            (60.0 + stripe, 140.0 + stripe, 60.0)
        };
        let px = |v: f64| (v * light + noise).clamp(0.0, 255.0) as u8;
        Rgb([px(r), px(g), px(b)])
    }))
}

/// The book's grayscale: 0.299 R + 0.587 G + 0.114 B, rounded.
pub fn grayscale(image: &RgbImage) -> Result<GrayImage, String> {
    nonempty("the image", image.width(), image.height())?;
    Ok(GrayImage::from_fn(image.width(), image.height(), |x, y| {
        let [r, g, b] = image.get_pixel(x, y).0;
        Luma([(0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64).round() as u8])
    }))
}

/// Global threshold: white where a pixel is brighter than `level`, else black.
pub fn global_threshold(gray: &GrayImage, level: u8) -> Result<GrayImage, String> {
    nonempty("the image", gray.width(), gray.height())?;
    Ok(threshold(gray, level, ThresholdType::Binary))
}

fn odd_block(block: u32) -> Result<(), String> {
    if block < 3 || block % 2 == 0 {
        Err(format!("block = {block}: the block must be odd and at least 3 (a square centred on the pixel)"))
    } else {
        Ok(())
    }
}

/// Adaptive mean threshold (imageproc's `adaptive_threshold`): white where a
/// pixel is at least the mean of its `block` x `block` neighbourhood less
/// `c`. Near the image's edge the neighbourhood is cut to the pixels inside.
pub fn adaptive_mean(gray: &GrayImage, block: u32, c: i32) -> Result<GrayImage, String> {
    nonempty("the image", gray.width(), gray.height())?;
    odd_block(block)?;
    Ok(adaptive_threshold(gray, block / 2, c))
}

/// The Gaussian's sigma for a block, by the rule OpenCV uses
/// (0.3 ((block - 1) / 2 - 1) + 0.8: 2.0 for the book's 11).
pub fn gaussian_sigma(block: u32) -> f32 {
    0.3 * ((block as f32 - 1.0) * 0.5 - 1.0) + 0.8
}

/// Adaptive Gaussian threshold: like [`adaptive_mean`] but the neighbours
/// are weighted by a Gaussian (near ones count more). imageproc has no such
/// function, so: a Gaussian blur (imageproc), then compare each pixel with
/// its blurred value less `c`.
pub fn adaptive_gaussian(gray: &GrayImage, block: u32, c: i32) -> Result<GrayImage, String> {
    nonempty("the image", gray.width(), gray.height())?;
    odd_block(block)?;
    let blurred = imageproc::filter::gaussian_blur_f32(gray, gaussian_sigma(block));
    Ok(GrayImage::from_fn(gray.width(), gray.height(), |x, y| {
        let (p, m) = (gray.get_pixel(x, y)[0] as i32, blurred.get_pixel(x, y)[0] as i32);
        Luma([if p > m - c { 255 } else { 0 }])
    }))
}

/// The fraction of white pixels (how much a threshold kept).
pub fn white_fraction(image: &GrayImage) -> f64 {
    let n = image.pixels().count().max(1);
    image.pixels().filter(|p| p[0] > 127).count() as f64 / n as f64
}

/// One tile of a grid: its number (row by row), where it starts and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tile {
    pub index: usize,
    pub column: u32,
    pub row: u32,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tile {} (column {}, row {}: x {}..{}, y {}..{})",
            self.index,
            self.column,
            self.row,
            self.x,
            self.x + self.width,
            self.y,
            self.y + self.height
        )
    }
}

/// Cuts a `width` x `height` image into `grid` x `grid` tiles, row by row;
/// sizes differ by at most one pixel when the grid does not divide evenly.
pub fn tiles(width: u32, height: u32, grid: u32) -> Result<Vec<Tile>, String> {
    nonempty("the image", width, height)?;
    if grid == 0 || grid > width || grid > height {
        return Err(format!("a {grid} x {grid} grid does not fit a {width} x {height} image (every tile needs a pixel)"));
    }
    let cut = |i: u32, n: u32| (i as u64 * n as u64 / grid as u64) as u32;
    let mut out = Vec::new();
    for row in 0..grid {
        for column in 0..grid {
            let (x, y) = (cut(column, width), cut(row, height));
            let (width, height) = (cut(column + 1, width) - x, cut(row + 1, height) - y);
            out.push(Tile { index: out.len(), column, row, x, y, width, height });
        }
    }
    Ok(out)
}

/// The part of `image` under `tile`.
pub fn crop<P: image::Pixel + 'static>(image: &image::ImageBuffer<P, Vec<P::Subpixel>>, tile: Tile) -> image::ImageBuffer<P, Vec<P::Subpixel>> {
    image::imageops::crop_imm(image, tile.x, tile.y, tile.width, tile.height).to_image()
}

/// Puts processed tiles back into one image.
pub fn assemble(width: u32, height: u32, parts: &[(Tile, GrayImage)]) -> GrayImage {
    let mut out = GrayImage::new(width, height);
    for (tile, part) in parts {
        image::imageops::replace(&mut out, part, tile.x as i64, tile.y as i64);
    }
    out
}

// --- tiles as files, processed by workers -------------------------------------

/// Each tile of `image` as a PNG in memory: the "files" the workers read.
pub fn tile_files(image: &RgbImage, grid: u32) -> Result<Vec<Vec<u8>>, String> {
    tiles(image.width(), image.height(), grid)?
        .into_iter()
        .map(|t| {
            let mut png = Vec::new();
            crop(image, t).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).map_err(|e| format!("{t}: {e}"))?;
            Ok(png)
        })
        .collect()
}

/// Reads one "file": decodes a PNG into a colour image.
pub fn read(file: &[u8]) -> Result<RgbImage, String> {
    let image = image::load_from_memory_with_format(file, ImageFormat::Png).map_err(|e| format!("not a readable PNG: {e}"))?;
    Ok(image.to_rgb8())
}

/// What each tile goes through: grayscale, then the adaptive Gaussian
/// threshold with the book's block and C.
pub fn process_tile(tile: &RgbImage) -> Result<GrayImage, String> {
    adaptive_gaussian(&grayscale(tile)?, BLOCK, C)
}

/// Where the files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Reads {
    /// The main thread reads every file, then the workers process.
    InMain,
    /// Each worker reads the files it takes.
    InWorkers,
}

/// Reads and processes `files` with `workers` threads that each take the
/// next tile from a shared counter; results in tile order.
pub fn process_files(files: &[Vec<u8>], workers: usize, reads: Reads) -> Result<Vec<GrayImage>, String> {
    let workers = workers.max(1);
    let decoded: Vec<RgbImage> = match reads {
        Reads::InMain => files.iter().map(|f| read(f)).collect::<Result<_, _>>()?,
        Reads::InWorkers => Vec::new(),
    };
    let next = AtomicUsize::new(0);
    let results: Vec<Vec<(usize, Result<GrayImage, String>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= files.len() {
                            return done;
                        }
                        let out = match reads {
                            Reads::InMain => process_tile(&decoded[i]),
                            Reads::InWorkers => read(&files[i]).and_then(|t| process_tile(&t)),
                        };
                        done.push((i, out));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut slots: Vec<Option<GrayImage>> = vec![None; files.len()];
    for (i, out) in results.into_iter().flatten() {
        slots[i] = Some(out.map_err(|e| format!("tile {i}: {e}"))?);
    }
    slots.into_iter().enumerate().map(|(i, s)| s.ok_or(format!("tile {i} was not processed"))).collect()
}

/// One timed run of [`process_files`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct TileRun {
    pub workers: usize,
    pub reads: Reads,
    /// The median of the samples, and their spread.
    pub seconds: f64,
    pub min: f64,
    pub max: f64,
}

/// Speedups against the first run of `runs` (one worker): the median
/// speedup and its spread (from the slowest and fastest sample).
pub fn speedups(runs: &[TileRun]) -> Vec<crate::chart::SpeedupPoint> {
    let one = runs.first().map_or(1.0, |r| r.seconds);
    runs.iter()
        .map(|r| crate::chart::SpeedupPoint { workers: r.workers, median: one / r.seconds, min: one / r.max, max: one / r.min })
        .collect()
}

/// Times [`process_files`] for each worker count in `workers`, `samples`
/// times each, keeping the median.
pub fn time_tiles(files: &[Vec<u8>], workers: &[usize], reads: Reads, samples: usize) -> Result<Vec<TileRun>, String> {
    let mut out = Vec::new();
    for &w in workers {
        let mut times = Vec::new();
        for _ in 0..samples.max(1) {
            let start = Instant::now();
            process_files(files, w, reads)?;
            times.push(start.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        out.push(TileRun { workers: w, reads, seconds: times[times.len() / 2], min: times[0], max: times[times.len() - 1] });
    }
    Ok(out)
}

// --- exercise: seamless tiles -------------------------------------------------

/// Exercise "seamless_tiles": the adaptive mean threshold of one tile, equal
/// pixel for pixel to that part of the whole image's threshold.
pub type ThresholdTile = fn(&GrayImage, Tile) -> GrayImage;

/// Test images for the tile judge: (what, image, grid).
fn tile_cases() -> Vec<(String, GrayImage, u32)> {
    let noise = GrayImage::from_fn(101, 67, |x, y| Luma([grain(x, y) as u8]));
    let ramp = GrayImage::from_fn(64, 48, |x, y| Luma([((x * 3 + y * 2) % 256) as u8 ^ ((grain(x, y) & 7) as u8)]));
    let scene = scene(240, 180).and_then(|s| grayscale(&s)).unwrap_or_else(|_| GrayImage::new(1, 1));
    vec![
        ("a 101 x 67 noise image in a 4 x 4 grid (tiles of uneven sizes)".into(), noise, 4),
        ("the 240 x 180 scene in the book's 20 x 20 grid (tiles of 12 x 9, smaller than the block)".into(), scene, GRID),
        ("a 64 x 48 ramp in a 3 x 3 grid".into(), ramp, 3),
    ]
}

/// Judges an answer to "seamless_tiles": every tile of every test image,
/// put back together, must equal the whole image's adaptive mean threshold
/// (block 11, C = 2); the message names the first pixel that differs and
/// its tile.
pub fn judge_seamless_tiles(f: ThresholdTile) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        for (what, image, grid) in tile_cases() {
            let whole = adaptive_mean(&image, BLOCK, C)?;
            for tile in tiles(image.width(), image.height(), grid)? {
                let got = exercise::call(|| f(&image, tile)).map_err(|m| format!("{what}, {tile}: your code panicked: {m}"))?;
                if got.dimensions() != (tile.width, tile.height) {
                    return Err(format!(
                        "{what}, {tile}: you returned a {} x {} image for a {} x {} tile (cut the halo off again before returning)",
                        got.width(),
                        got.height(),
                        tile.width,
                        tile.height
                    ));
                }
                for (x, y, p) in got.enumerate_pixels() {
                    let want = whole.get_pixel(tile.x + x, tile.y + y)[0];
                    if p[0] != want {
                        return Err(format!(
                            "{what}: pixel ({}, {}) of the image, in {tile}, is {} but the whole image's threshold gives {want}: \
                             the block around that pixel reaches {} outside the tile",
                            tile.x + x,
                            tile.y + y,
                            p[0],
                            describe_reach(tile, x, y, image.dimensions())
                        ));
                    }
                }
            }
        }
        Ok("every tile of three images (noise, the scene in a 20 x 20 grid, a ramp) equals the whole image's adaptive threshold, pixel for pixel".into())
    })
}

/// Which way the 11 x 11 block around (x, y) of a tile leaves the tile
/// (and whether it stays inside the image there).
fn describe_reach(tile: Tile, x: u32, y: u32, (w, h): (u32, u32)) -> String {
    let r = BLOCK / 2;
    let mut sides = Vec::new();
    let mut side = |out: bool, name: &str, inside: bool| {
        if out {
            sides.push(format!("{name} ({})", if inside { "still inside the image" } else { "past the image's edge" }));
        }
    };
    side(x < r, "to the left", tile.x + x >= r);
    side(x + r >= tile.width, "to the right", tile.x + x + r < w);
    side(y < r, "upwards", tile.y + y >= r);
    side(y + r >= tile.height, "downwards", tile.y + y + r < h);
    if sides.is_empty() {
        "nowhere".into()
    } else {
        sides.join(", ")
    }
}

// --- exercise: parallel tiles -------------------------------------------------

/// Exercise "parallel_tiles": process tiles `0..count` with `workers`
/// threads, calling `process(i)` once for each tile; results in tile order.
pub type ParallelTiles = fn(usize, usize, &(dyn Fn(usize) -> GrayImage + Sync)) -> Vec<GrayImage>;

/// How long a slow tile waits for the other tiles before the judge gives up.
pub const SLOW_TILE_PATIENCE: Duration = Duration::from_secs(2);

/// The judge's tile function: notes each call, and makes one tile "slow":
/// it finishes only after every other tile has (or after the patience).
struct Desk {
    count: usize,
    slow: Option<usize>,
    state: Mutex<Seen>,
    changed: Condvar,
}

#[derive(Default)]
struct Seen {
    calls: Vec<usize>,
    done: usize,
    stuck_behind: Option<Vec<usize>>,
}

impl Desk {
    fn new(count: usize, slow: Option<usize>) -> Desk {
        Desk { count, slow, state: Mutex::new(Seen { calls: vec![0; count], ..Seen::default() }), changed: Condvar::new() }
    }

    /// A 2 x 1 image whose pixels spell the tile's number.
    fn process(&self, i: usize) -> GrayImage {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = st.calls.get_mut(i) {
            *c += 1;
        }
        if Some(i) == self.slow {
            let others = self.count - 1;
            let (s, wait) = self
                .changed
                .wait_timeout_while(st, SLOW_TILE_PATIENCE, |s| s.done < others)
                .unwrap_or_else(|e| e.into_inner());
            st = s;
            if wait.timed_out() {
                let missing: Vec<usize> = (0..self.count).filter(|&j| j != i && st.calls[j] == 0).collect();
                st.stuck_behind = Some(missing);
            }
        } else {
            st.done += 1;
            self.changed.notify_all();
        }
        GrayImage::from_raw(2, 1, vec![(i % 256) as u8, (i / 256) as u8]).unwrap_or_default()
    }
}

fn tile_number(img: &GrayImage) -> Option<usize> {
    (img.dimensions() == (2, 1)).then(|| img.get_pixel(0, 0)[0] as usize + 256 * img.get_pixel(1, 0)[0] as usize)
}

fn short(list: &[usize]) -> String {
    if list.len() <= 8 {
        format!("{list:?}")
    } else {
        format!("[{}, ... {} in all]", list[..6].iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "), list.len())
    }
}

/// Judges an answer to "parallel_tiles". One tile of each case is slow: it
/// finishes only after all the others, so an answer that gives each worker
/// a fixed block of tiles (the rest of the slow tile's block waits behind
/// it), runs one worker at a time, or collects results in the order they
/// finish, fails whatever the machine.
pub fn judge_parallel_tiles(f: ParallelTiles) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let cases: Vec<(String, usize, usize, Option<usize>)> = vec![
            ("10 tiles on 3 workers".into(), 10, 3, None),
            ("the book's 400 tiles on 2 workers, tile 0 slow".into(), 400, 2, Some(0)),
            ("10 tiles on 3 workers, tile 4 slow".into(), 10, 3, Some(4)),
            ("3 tiles on 8 workers (more workers than tiles), tile 2 slow".into(), 3, 8, Some(2)),
            ("7 tiles on 1 worker".into(), 7, 1, None),
            ("no tiles on 2 workers".into(), 0, 2, None),
        ];
        for (what, count, workers, slow) in cases {
            let desk = Desk::new(count, slow);
            let process = |i: usize| desk.process(i);
            let got = exercise::call(|| f(count, workers, &process)).map_err(|m| format!("{what}: your code panicked: {m}"))?;
            let st = desk.state.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some(s), Some(stuck)) = (slow, &st.stuck_behind) {
                return Err(format!(
                    "{what}: tile {s} took long (it finished only once every other tile had), but after {} s tiles {} had still not started: \
                     they waited behind the slow tile instead of going to the other worker(s). A fixed block of tiles per worker, or one \
                     worker at a time, stalls behind a slow tile; let each worker take the next tile when it is free.",
                    SLOW_TILE_PATIENCE.as_secs(),
                    short(stuck)
                ));
            }
            let never: Vec<usize> = (0..count).filter(|&i| st.calls[i] == 0).collect();
            if !never.is_empty() {
                return Err(format!("{what}: tiles {} were never processed", short(&never)));
            }
            let twice: Vec<usize> = (0..count).filter(|&i| st.calls[i] > 1).collect();
            if !twice.is_empty() {
                return Err(format!("{what}: tiles {} were processed more than once", short(&twice)));
            }
            if got.len() != count {
                return Err(format!("{what}: you returned {} results for {count} tiles", got.len()));
            }
            for (pos, img) in got.iter().enumerate() {
                if tile_number(img) != Some(pos) {
                    let held = tile_number(img).map_or("something else".to_string(), |n| format!("tile {n}"));
                    return Err(format!(
                        "{what}: position {pos} of your result holds {held}'s result: results must come back in tile order, not in the order the workers finished"
                    ));
                }
            }
        }
        Ok("every tile processed exactly once, results in tile order, and no tile waited behind a slow one, for 0 to 400 tiles on 1 to 8 workers".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_zero_and_bad_grids_are_errors_not_panics() {
        assert!(scene(0, 10).unwrap_err().contains("size zero"));
        let empty = RgbImage::new(0, 0);
        assert!(grayscale(&empty).unwrap_err().contains("size zero"));
        let g = GrayImage::new(0, 5);
        assert!(global_threshold(&g, 127).is_err());
        assert!(adaptive_mean(&g, 11, 2).unwrap_err().contains("size zero"));
        assert!(adaptive_gaussian(&g, 11, 2).is_err());
        assert!(tiles(0, 0, 20).unwrap_err().contains("size zero"));
        assert!(tiles(10, 10, 20).unwrap_err().contains("does not fit"));
        assert!(adaptive_mean(&GrayImage::new(4, 4), 10, 2).unwrap_err().contains("odd"));
        assert!(tile_files(&empty, 20).is_err());
        assert!(read(b"not a png").is_err());
    }

    #[test]
    fn grayscale_uses_the_books_weights() {
        let img = RgbImage::from_pixel(1, 1, Rgb([200, 100, 50]));
        // 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 59.8 + 58.7 + 5.7 = 124.2
        assert_eq!(grayscale(&img).unwrap().get_pixel(0, 0)[0], 124);
    }

    #[test]
    fn tiles_cover_the_image_exactly_once() {
        let ts = tiles(101, 67, 20).unwrap();
        assert_eq!(ts.len(), 400);
        let area: u32 = ts.iter().map(|t| t.width * t.height).sum();
        assert_eq!(area, 101 * 67);
        assert_eq!(ts[399].x + ts[399].width, 101);
    }

    #[test]
    fn workers_give_the_same_tiles_wherever_the_files_are_read() {
        let img = scene(200, 160).unwrap();
        let files = tile_files(&img, 4).unwrap();
        let one = process_files(&files, 1, Reads::InMain).unwrap();
        let three = process_files(&files, 3, Reads::InWorkers).unwrap();
        assert_eq!(one, three);
        assert_eq!(one.len(), 16);
    }
}
