//! Draws the timeline of a run as a PNG.

use crate::load::Window;
use plotters::prelude::*;
use std::path::Path;
use std::time::Duration;

/// One line of a chart.
pub struct Series<'a> {
    pub label: &'a str,
    pub windows: &'a [Window],
    pub color: RGBColor,
}

/// Throughput per window (top) and p99 latency per window (bottom), with
/// the update moments as vertical lines.
pub fn timeline(
    path: &Path,
    width: Duration,
    throughput: &[Series],
    latency: &[Series],
    updates: &[Duration],
) -> Result<(), Box<dyn std::error::Error>> {
    let font = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").map_err(|e| {
        format!("cannot read the DejaVu font (apt-get install fonts-dejavu-core): {e}")
    })?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "cannot load the DejaVu font")?;
    let root = BitMapBackend::new(path, (1400, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(450);
    let secs = |i: usize| i as f64 * width.as_secs_f64();
    let n = throughput
        .iter()
        .chain(latency)
        .map(|s| s.windows.len())
        .max()
        .unwrap_or(1);
    let end = secs(n);

    let max_rps = throughput
        .iter()
        .flat_map(|s| s.windows.iter())
        .map(|w| w.done as f64 / width.as_secs_f64())
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "throughput per 10 ms window at saturation (requests/s); orange lines: live updates",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..end, 0.0..max_rps * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .disable_x_mesh()
        .light_line_style(WHITE)
        .draw()?;
    for u in updates {
        let x = u.as_secs_f64();
        chart.draw_series(LineSeries::new(
            [(x, 0.0), (x, max_rps * 1.1)],
            RGBColor(255, 170, 60),
        ))?;
    }
    for s in throughput {
        let pts = s
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| (secs(i), w.done as f64 / width.as_secs_f64()));
        chart
            .draw_series(LineSeries::new(pts, s.color))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], s.color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let max_ms = latency
        .iter()
        .flat_map(|s| s.windows.iter())
        .map(|w| w.p99.as_secs_f64() * 1e3)
        .fold(0.1, f64::max);
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "p99 latency per 10 ms window at a fixed offered rate (ms); orange lines: live updates",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..end, 0.0..max_ms * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .disable_x_mesh()
        .light_line_style(WHITE)
        .draw()?;
    for u in updates {
        let x = u.as_secs_f64();
        chart.draw_series(LineSeries::new(
            [(x, 0.0), (x, max_ms * 1.1)],
            RGBColor(255, 170, 60),
        ))?;
    }
    for s in latency {
        let pts = s
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| (secs(i), w.p99.as_secs_f64() * 1e3));
        chart
            .draw_series(LineSeries::new(pts, s.color))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], s.color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
