//! Pictures in a notebook: images shown inline, side by side, so "before"
//! and "after" can be compared. Like a [`crate::chart::Chart`], a
//! [`Picture`] shows itself as an `<img>` whose source is a data URI (here a
//! PNG), which JupyterLab keeps when a saved notebook is opened untrusted,
//! with a line of text as the fallback for plain-text viewers.
//!
//! Every picture of the course goes through [`show`].

use base64::Engine;
use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat, Rgb, RgbImage};
use std::io::Cursor;

/// The width each panel is scaled down to (pictures stay small in the
/// saved notebook; the work is done on the full-size images).
pub const PANEL_WIDTH: u32 = 240;
const GAP: u32 = 6;

/// One image to show, colour or grey.
#[derive(Clone, Copy)]
pub enum Panel<'a> {
    Rgb(&'a RgbImage),
    Gray(&'a GrayImage),
}

impl<'a> From<&'a RgbImage> for Panel<'a> {
    fn from(image: &'a RgbImage) -> Self {
        Panel::Rgb(image)
    }
}

impl<'a> From<&'a GrayImage> for Panel<'a> {
    fn from(image: &'a GrayImage) -> Self {
        Panel::Gray(image)
    }
}

impl Panel<'_> {
    fn dimensions(&self) -> (u32, u32) {
        match self {
            Panel::Rgb(i) => i.dimensions(),
            Panel::Gray(i) => i.dimensions(),
        }
    }

    fn to_rgb(self) -> RgbImage {
        match self {
            Panel::Rgb(i) => i.clone(),
            Panel::Gray(i) => RgbImage::from_fn(i.width(), i.height(), |x, y| {
                let v = i.get_pixel(x, y)[0];
                Rgb([v, v, v])
            }),
        }
    }
}

/// A finished picture: a PNG and the captions of its panels.
#[derive(Debug, Clone)]
pub struct Picture {
    title: String,
    captions: Vec<String>,
    png: Vec<u8>,
}

/// Shows `panels` side by side, each scaled to [`PANEL_WIDTH`] pixels wide,
/// under `title`, each captioned by its name. An image with no pixels is an
/// error, not a panic.
pub fn show(title: &str, panels: &[(&str, Panel)]) -> Result<Picture, String> {
    if panels.is_empty() {
        return Err(format!("picture '{title}': nothing to show (no panels)"));
    }
    let mut scaled = Vec::new();
    for (name, panel) in panels {
        let (w, h) = panel.dimensions();
        if w == 0 || h == 0 {
            return Err(format!("picture '{title}': panel '{name}' is {w} x {h} pixels: an image of size zero cannot be shown"));
        }
        let height = ((h as u64 * PANEL_WIDTH as u64) / w as u64).max(1) as u32;
        scaled.push(imageops::resize(&panel.to_rgb(), PANEL_WIDTH, height, FilterType::Triangle));
    }
    let width = scaled.len() as u32 * (PANEL_WIDTH + GAP) - GAP;
    let height = scaled.iter().map(|p| p.height()).max().unwrap_or(1);
    let mut canvas = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    for (i, p) in scaled.iter().enumerate() {
        imageops::replace(&mut canvas, p, i as i64 * (PANEL_WIDTH + GAP) as i64, 0);
    }
    let mut png = Vec::new();
    let written = if panels.iter().all(|(_, p)| matches!(p, Panel::Gray(_))) {
        // One byte a pixel instead of three: a third of the size.
        image::DynamicImage::ImageRgb8(canvas).to_luma8().write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
    } else {
        canvas.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
    };
    written.map_err(|e| format!("picture '{title}': {e}"))?;
    Ok(Picture { title: title.to_string(), captions: panels.iter().map(|(n, _)| n.to_string()).collect(), png })
}

impl Picture {
    /// The picture's PNG bytes.
    pub fn png(&self) -> &[u8] {
        &self.png
    }

    /// An `<img>` carrying the PNG as a data URI, the captions below it.
    pub fn html(&self) -> String {
        let data = base64::engine::general_purpose::STANDARD.encode(&self.png);
        let captions: Vec<String> = self.captions.iter().map(|c| escape(c)).collect();
        format!(
            "<div><b>{}</b><br/><img alt=\"{}\" src=\"data:image/png;base64,{data}\"/><br/>left to right: {}</div>",
            escape(&self.title),
            escape(&self.title),
            captions.join(" | ")
        )
    }

    /// evcxr calls this when a cell's value is a `Picture`.
    pub fn evcxr_display(&self) {
        // Like a chart: the <img> (kept untrusted), a line of text as fallback;
        // not the PNG a second time, which would double the saved notebook.
        println!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.html());
        println!("EVCXR_BEGIN_CONTENT text/plain\n[picture] {}: {}\nEVCXR_END_CONTENT", self.title, self.captions.join(" | "));
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_is_a_png_inside_an_img_tag_and_stays_small() {
        let rgb = RgbImage::from_fn(640, 480, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let gray = GrayImage::from_fn(640, 480, |x, _| image::Luma([(x % 256) as u8]));
        let p = show("Before & after", &[("scene", (&rgb).into()), ("grey", (&gray).into())]).unwrap();
        assert!(p.png().starts_with(b"\x89PNG"));
        assert!(p.html().contains("src=\"data:image/png;base64,"));
        assert!(p.html().contains("Before &amp; after"));
        assert!(p.png().len() < 150_000, "{} bytes", p.png().len());
    }

    #[test]
    fn an_image_of_size_zero_is_an_error() {
        let empty = GrayImage::new(0, 0);
        let err = show("t", &[("empty", (&empty).into())]).unwrap_err();
        assert!(err.contains("size zero"), "{err}");
        assert!(show("t", &[]).is_err());
    }
}
