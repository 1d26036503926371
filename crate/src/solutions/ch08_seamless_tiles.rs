use concurrency_lab::image::{self, GrayImage};
use concurrency_lab::imaging::{self, Tile};

fn threshold_tile(image: &GrayImage, tile: Tile) -> GrayImage {
    // The halo: every pixel's block reaches BLOCK / 2 pixels each way.
    let r = imaging::BLOCK / 2;
    // Grow the tile by the halo, but never past the image's edges (there the
    // whole-image threshold also has fewer neighbours).
    let x0 = tile.x.saturating_sub(r);
    let y0 = tile.y.saturating_sub(r);
    let x1 = (tile.x + tile.width + r).min(image.width());
    let y1 = (tile.y + tile.height + r).min(image.height());
    let grown = image::imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image();
    let done = imaging::adaptive_mean(&grown, imaging::BLOCK, imaging::C).expect("a tile is never empty");
    // Cut the halo off again: only the tile's own pixels are right.
    image::imageops::crop_imm(&done, tile.x - x0, tile.y - y0, tile.width, tile.height).to_image()
}
