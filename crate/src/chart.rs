//! Every chart of the course, drawn by one module so they all look alike:
//! a title, axes with units, a legend, the ideal beside the measured, min-max
//! spread as error bars, and a footer naming the machine and build profile.
//!
//! Charts are SVG (small, sharp, no fonts needed here: the browser renders the
//! text). A [`Chart`] shows itself in a notebook as an `<img>` whose source is
//! the base64-encoded SVG: JupyterLab keeps that when a saved notebook is
//! opened *untrusted* (after a clone, on GitHub, on Binder), whereas it strips
//! SVG written inline into HTML.

use crate::machine::machine;
use base64::Engine;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::error::Error;
use std::path::Path;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 420;
const FOOTER: u32 = 22;

/// Colours, in the order series take them. The first is "measured".
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
/// The colour of ideal lines (linear speedup, perfect scaling).
const IDEAL: RGBColor = RGBColor(150, 150, 150);

/// The colour of the `i`-th series.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A finished chart: an SVG document and its title.
#[derive(Debug, Clone)]
pub struct Chart {
    title: String,
    svg: String,
}

impl Chart {
    /// The chart's title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The SVG document.
    pub fn svg(&self) -> &str {
        &self.svg
    }

    /// An `<img>` tag carrying the SVG as a data URI: what the notebook shows.
    pub fn html(&self) -> String {
        let data = base64::engine::general_purpose::STANDARD.encode(self.svg.as_bytes());
        format!("<img alt=\"{}\" src=\"data:image/svg+xml;base64,{data}\"/>", escape(&self.title))
    }

    /// Writes the SVG to a file (open it in any browser).
    pub fn save_svg(&self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, &self.svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// evcxr calls this when a cell's value is a `Chart`: it sends the chart
    /// as HTML, with a one-line text fallback for plain-text viewers.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.html());
        println!("EVCXR_BEGIN_CONTENT text/plain\n[chart] {}\nEVCXR_END_CONTENT", self.title);
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn Error>>;

/// Draws a chart of the standard size: `body` gets the area above the footer.
/// A drawing error becomes a chart that says so, never a panic.
fn render(title: &str, body: impl FnOnce(&Area) -> Drawn) -> Chart {
    let mut svg = String::new();
    let result = (|| -> Drawn {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let (main, footer) = root.split_vertically(HEIGHT - FOOTER);
        footer.draw_text(
            &machine().footer(),
            &("sans-serif", 12).into_font().color(&RGBColor(110, 110, 110)),
            (10, 4),
        )?;
        body(&main)?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = result {
        svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"60\"><text x=\"10\" y=\"30\">chart '{}' could not be drawn: {}</text></svg>",
            escape(title),
            escape(&e.to_string())
        );
    }
    Chart { title: title.to_string(), svg }
}

/// The one chart frame every chart starts from: title, margins, and room
/// for axis labels (`y_labels` pixels: wider for thread names).
fn frame<'a, 'b>(area: &'a Area<'b>, title: &str, y_labels: u32) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder.caption(title, ("sans-serif", 20)).margin(12).x_label_area_size(40).y_label_area_size(y_labels);
    builder
}

/// The plot's height in pixels, roughly: the chart less its title, footer,
/// margins and x-axis labels.
const PLOT_PX: f64 = (HEIGHT - FOOTER) as f64 - 100.0;

/// The top of a y axis that keeps the band the legend needs (`entries`
/// lines, drawn in an upper corner) empty above `data_top`, so that the
/// legend never covers data.
fn with_legend_room(data_top: f64, entries: usize) -> f64 {
    let fraction = ((entries.max(1) as f64 * 19.0 + 28.0) / PLOT_PX).min(0.6);
    data_top / (1.0 - fraction)
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// A solid line.
    Line,
    /// A dashed line (models and predictions).
    Dashed,
    /// Dots only (measurements).
    Points,
    /// A solid line with dots.
    LinePoints,
}

/// One named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

impl Series {
    pub fn line(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points, style: Style::Line }
    }
    pub fn dashed(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points, style: Style::Dashed }
    }
    pub fn points(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points, style: Style::Points }
    }
    pub fn line_points(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points, style: Style::LinePoints }
    }
}

fn range_of(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

/// Draws one series on a chart with the given colour.
fn draw_series<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: &Series,
    c: RGBColor,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let pts = s.points.clone();
    let legend_line = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2));
    match s.style {
        Style::Line => {
            chart.draw_series(LineSeries::new(pts, c.stroke_width(2)))?.label(s.name.clone()).legend(legend_line);
        }
        Style::Dashed => {
            chart
                .draw_series(DashedLineSeries::new(pts, 6, 4, c.stroke_width(2)))?
                .label(s.name.clone())
                .legend(legend_line);
        }
        Style::Points => {
            chart
                .draw_series(pts.into_iter().map(move |p| Circle::new(p, 4, c.filled())))?
                .label(s.name.clone())
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
        }
        Style::LinePoints => {
            chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
            chart
                .draw_series(pts.into_iter().map(move |p| Circle::new(p, 4, c.filled())))?
                .label(s.name.clone())
                .legend(legend_line);
        }
    }
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, DB, CT>, pos: SeriesLabelPosition) -> Drawn
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// Line chart of several series. With `log_x`, the x axis is logarithmic
/// (use it for worker counts from 1 to 1000).
pub fn lines(title: &str, x_desc: &str, y_desc: &str, series: &[Series], log_x: bool) -> Chart {
    let (x0, x1) = range_of(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (_, y1) = range_of(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let y_max = with_legend_room(if y1 > 0.0 { y1 * 1.02 } else { 1.0 }, series.len());
    render(title, |area| {
        let mut builder = frame(area, title, 56);
        if log_x {
            let mut chart = builder.build_cartesian_2d((x0.max(1e-9)..x1).log_scale(), 0.0..y_max)?;
            chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
            for (i, s) in series.iter().enumerate() {
                draw_series(&mut chart, s, color(i))?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        } else {
            let mut chart = builder.build_cartesian_2d(x0..x1.max(x0 + 1e-9), 0.0..y_max)?;
            chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
            for (i, s) in series.iter().enumerate() {
                draw_series(&mut chart, s, color(i))?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        }
    })
}

/// Line chart with both axes logarithmic: for values that span orders of
/// magnitude, such as latencies from 0.1 ms to 2 s against 1 to 1000
/// clients. Points at zero or below are left out.
pub fn log_log(title: &str, x_desc: &str, y_desc: &str, series: &[Series]) -> Chart {
    let positive: Vec<Series> = series
        .iter()
        .map(|s| Series { points: s.points.iter().copied().filter(|p| p.0 > 0.0 && p.1 > 0.0).collect(), ..s.clone() })
        .collect();
    let (x0, x1) = range_of(positive.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = range_of(positive.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let (y0, y1) = (y0.max(1e-9) / 1.5, y1.max(y0.max(1e-9) * 10.0) * 1.5);
    // Room for the legend at the top, measured in decades.
    let fraction = with_legend_room(1.0, positive.len()) - 1.0;
    let y_top = y1 * (y1 / y0).powf(fraction);
    render(title, |area| {
        let mut builder = frame(area, title, 56);
        let mut chart = builder.build_cartesian_2d((x0.max(1e-9)..x1.max(x0 * 1.01)).log_scale(), (y0..y_top).log_scale())?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
        for (i, s) in positive.iter().enumerate() {
            draw_series(&mut chart, s, color(i))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// One measured point of a speedup chart: the median and its spread.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SpeedupPoint {
    pub workers: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// How many workers wide a speedup chart of `points` is: at least 4, so that
/// on a 2-core machine a model curve still shows where it is heading. Curves
/// given to [`speedup`] should reach this far.
pub fn speedup_width(points: &[SpeedupPoint]) -> f64 {
    points.iter().map(|p| p.workers).max().unwrap_or(1).max(4) as f64
}

/// Speedup against workers: measured medians with min-max bars, the linear
/// ideal, and model curves (dashed; e.g. Amdahl's law for a serial fraction,
/// computed by the caller over `1..=speedup_width(points)`).
pub fn speedup(title: &str, points: &[SpeedupPoint], models: &[Series]) -> Chart {
    let n_max = speedup_width(points);
    let y_top = with_legend_room(points.iter().map(|p| p.max).fold(n_max, f64::max) * 1.02, models.len() + 2);
    render(title, |area| {
        let mut chart = frame(area, title, 56).build_cartesian_2d(0.5..n_max + 0.5, 0.0..y_top)?;
        chart
            .configure_mesh()
            .x_desc("workers (threads)")
            .y_desc("speedup (× one worker)")
            .x_labels(n_max as usize + 2)
            .x_label_formatter(&|x| if x.fract().abs() < 1e-9 { format!("{x:.0}") } else { String::new() })
            .draw()?;
        draw_series(&mut chart, &Series::line("ideal (linear)", vec![(1.0, 1.0), (n_max, n_max)]), IDEAL)?;
        for (i, model) in models.iter().enumerate() {
            draw_series(&mut chart, model, color(i + 1))?;
        }
        let measured = color(0);
        chart.draw_series(
            points.iter().map(|p| ErrorBar::new_vertical(p.workers as f64, p.min, p.median, p.max, measured.stroke_width(2), 10)),
        )?;
        let pts = points.iter().map(|p| (p.workers as f64, p.median)).collect();
        draw_series(&mut chart, &Series::line_points("measured (median, min-max bars)", pts), measured)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// One bar: a value with its spread (set `min == max == value` for none).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Bar {
    /// Which series (colour and legend entry) the bar belongs to.
    pub series: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
}

impl Bar {
    pub fn new(series: &str, value: f64) -> Bar {
        Bar { series: series.into(), value, min: value, max: value }
    }
    /// A bar for a timing: the median, with min-max error bars.
    pub fn stats(series: &str, s: &crate::measure::Stats) -> Bar {
        Bar { series: series.into(), value: s.median, min: s.min, max: s.max }
    }
}

/// A labelled group of bars drawn side by side.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Group {
    pub label: String,
    pub bars: Vec<Bar>,
}

impl Group {
    pub fn new(label: &str, bars: Vec<Bar>) -> Group {
        Group { label: label.into(), bars }
    }
}

/// Grouped bar chart with error bars; bars of the same series share a colour.
pub fn bars(title: &str, y_desc: &str, groups: &[Group]) -> Chart {
    let mut names: Vec<String> = Vec::new();
    for b in groups.iter().flat_map(|g| &g.bars) {
        if !names.contains(&b.series) {
            names.push(b.series.clone());
        }
    }
    let y_top = with_legend_room(groups.iter().flat_map(|g| &g.bars).map(|b| b.max.max(b.value)).fold(0.0, f64::max).max(1e-12) * 1.02, names.len());
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    render(title, |area| {
        let n = groups.len().max(1) as f64;
        let mut chart = frame(area, title, 56).build_cartesian_2d(-0.5..n - 0.5, 0.0..y_top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(y_desc)
            .x_labels(groups.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 { labels.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
            })
            .draw()?;
        for (si, name) in names.iter().enumerate() {
            let c = color(si);
            let mut rects = Vec::new();
            let mut errs = Vec::new();
            for (gi, g) in groups.iter().enumerate() {
                let k = g.bars.len().max(1) as f64;
                let width = 0.8 / k;
                for (bi, b) in g.bars.iter().enumerate().filter(|(_, b)| &b.series == name) {
                    let x0 = gi as f64 - 0.4 + bi as f64 * width;
                    rects.push(Rectangle::new([(x0 + 0.02, 0.0), (x0 + width - 0.02, b.value)], c.filled()));
                    if b.max > b.min {
                        errs.push(ErrorBar::new_vertical(x0 + width / 2.0, b.min, b.value, b.max, BLACK.stroke_width(1), 8));
                    }
                }
            }
            chart
                .draw_series(rects)?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
            chart.draw_series(errs)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Histogram of `values` in `bins` equal-width bins.
pub fn histogram(title: &str, x_desc: &str, values: &[f64], bins: usize) -> Chart {
    let bins = bins.max(1);
    let (lo, hi) = range_of(values.iter().copied());
    let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let mut counts = vec![0usize; bins];
    for v in values.iter().filter(|v| v.is_finite()) {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let y_top = with_legend_room(counts.iter().copied().max().unwrap_or(1) as f64, 1);
    render(title, |area| {
        let mut chart = frame(area, title, 56).build_cartesian_2d(lo..lo + width * bins as f64, 0.0..y_top.max(1.0))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc("count")
            .y_label_formatter(&|y| if y.fract() == 0.0 { format!("{y:.0}") } else { String::new() })
            .draw()?;
        let c = color(0);
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &n)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, n as f64)], c.mix(0.8).filled())
            }))?
            .label(format!("{} values", values.len()))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// A kind of timeline bar: its legend label, colour and half-height (a
/// thinner bar for waiting keeps overlaps readable).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Band {
    pub label: String,
    pub color: (u8, u8, u8),
    pub half_height: f64,
}

/// One bar of a timeline: row `row` in band `band` (an index into the bands)
/// from `start` to `end` (seconds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Segment {
    pub row: String,
    pub band: usize,
    pub start: f64,
    pub end: f64,
}

/// A timeline: one row per name in `rows` (the first at the top), bars
/// coloured by band, time across. The right fifth is left free for the legend.
pub fn timeline(title: &str, rows: &[String], bands: &[Band], segments: &[Segment]) -> Chart {
    let t_end = segments.iter().map(|s| s.end).fold(0.0, f64::max).max(1e-6);
    let n_rows = rows.len().max(1);
    let names: Vec<String> = rows.to_vec();
    render(title, |area| {
        // Empty rows above the threads make the legend's band (see `with_legend_room`).
        let used = bands.iter().enumerate().filter(|(b, _)| segments.iter().any(|s| s.band == *b)).count();
        let top = with_legend_room(n_rows as f64, used) - 0.5;
        let mut chart = frame(area, title, 90).build_cartesian_2d(0.0..t_end * 1.02, -0.5..top)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("time (s)")
            .y_labels(n_rows * 2 + 1)
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n_rows {
                    names.get(n_rows - 1 - i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()?;
        for (b, band) in bands.iter().enumerate() {
            let c = RGBColor(band.color.0, band.color.1, band.color.2);
            let h = band.half_height;
            let bars: Vec<_> = segments
                .iter()
                .filter(|s| s.band == b)
                .filter_map(|s| {
                    let row = (n_rows - 1 - rows.iter().position(|t| t == &s.row)?) as f64;
                    Some(Rectangle::new([(s.start, row - h), (s.end.max(s.start + t_end * 0.002), row + h)], c.filled()))
                })
                .collect();
            if bars.is_empty() {
                continue;
            }
            chart
                .draw_series(bars)?
                .label(band.label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(chart: &Chart) -> String {
        let html = chart.html();
        let b64 = html.split("base64,").nth(1).unwrap().split('"').next().unwrap();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
    }

    #[test]
    fn charts_are_svg_inside_an_img_tag() {
        let c = lines("Two lines", "x", "y", &[Series::line("a", vec![(0.0, 1.0), (1.0, 2.0)])], false);
        assert!(c.html().starts_with("<img alt=\"Two lines\" src=\"data:image/svg+xml;base64,"));
        let svg = decoded(&c);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("Two lines"));
        assert!(svg.contains("cores"), "footer with the machine is missing");
    }

    #[test]
    fn every_kind_of_chart_draws_without_error_and_stays_small() {
        let pts = [
            SpeedupPoint { workers: 1, median: 1.0, min: 1.0, max: 1.0 },
            SpeedupPoint { workers: 2, median: 1.9, min: 1.8, max: 1.95 },
        ];
        let charts = [
            speedup("s", &pts, &[Series::dashed("a model", vec![(1.0, 1.0), (4.0, 3.0)])]),
            bars("b", "seconds", &[Group::new("g", vec![Bar::new("x", 1.0), Bar { series: "y".into(), value: 2.0, min: 1.5, max: 2.5 }])]),
            histogram("h", "seconds", &[1.0, 1.1, 1.2, 2.0], 5),
            timeline(
                "t",
                &["a".into(), "b".into()],
                &[
                    Band { label: "busy".into(), color: (0, 160, 0), half_height: 0.35 },
                    Band { label: "idle".into(), color: (200, 0, 0), half_height: 0.2 },
                ],
                &[
                    Segment { row: "a".into(), band: 0, start: 0.0, end: 1.0 },
                    Segment { row: "b".into(), band: 1, start: 0.0, end: 1.0 },
                ],
            ),
            lines("l", "N", "S", &[Series::dashed("d", vec![(1.0, 1.0), (1000.0, 2.0)])], true),
            log_log("ll", "N", "ms", &[Series::line_points("p", vec![(1.0, 0.2), (10.0, 0.0), (1000.0, 1745.0)])]),
        ];
        for c in &charts {
            let svg = decoded(c);
            assert!(!svg.contains("could not be drawn"), "{}: {svg}", c.title());
            assert!(svg.len() < 100_000, "{} is {} bytes", c.title(), svg.len());
        }
    }

    #[test]
    fn empty_data_still_gives_a_chart() {
        let c = speedup("nothing", &[], &[]);
        assert!(decoded(&c).starts_with("<svg"));
        let h = histogram("nothing", "x", &[], 10);
        assert!(decoded(&h).starts_with("<svg"));
        let l = log_log("nothing", "x", "y", &[Series::line("only zeros", vec![(0.0, 0.0)])]);
        assert!(!decoded(&l).contains("could not be drawn"));
    }
}
