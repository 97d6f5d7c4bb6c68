//! Draws the timeline of a run as a PNG.

use crate::load::Window;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::time::Duration;

/// One line of a chart.
pub struct Series<'a> {
    pub label: &'a str,
    pub windows: &'a [Window],
    pub color: RGBColor,
}

type Draw = Result<(), Box<dyn std::error::Error>>;

/// Throughput per window (top) and p99 latency per window (bottom), with
/// the update moments as vertical lines.
pub fn timeline(
    path: &Path,
    width: Duration,
    throughput: &[Series],
    latency: &[Series],
    updates: &[Duration],
) -> Draw {
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
    let per_s = |w: &Window| w.done as f64 / width.as_secs_f64();
    let ms = |w: &Window| w.p99.as_secs_f64() * 1e3;
    chart(
        &top,
        "throughput per 10 ms window at saturation (requests/s)",
        width,
        throughput,
        updates,
        per_s,
    )?;
    chart(
        &bottom,
        "p99 latency per 10 ms window at a fixed offered rate (ms)",
        width,
        latency,
        updates,
        ms,
    )?;
    root.present()?;
    Ok(())
}

/// One chart of `value` per window for each series; orange lines mark updates.
fn chart(
    area: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    width: Duration,
    series: &[Series],
    updates: &[Duration],
    value: impl Fn(&Window) -> f64,
) -> Draw {
    let secs = |i: usize| i as f64 * width.as_secs_f64();
    let end = secs(series.iter().map(|s| s.windows.len()).max().unwrap_or(1));
    let top = series
        .iter()
        .flat_map(|s| s.windows.iter())
        .map(&value)
        .fold(0.1, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{title}; orange lines: live updates"),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .disable_x_mesh()
        .light_line_style(WHITE)
        .draw()?;
    for u in updates {
        let x = u.as_secs_f64();
        chart.draw_series(LineSeries::new(
            [(x, 0.0), (x, top)],
            RGBColor(255, 170, 60),
        ))?;
    }
    for s in series {
        let pts = s
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| (secs(i), value(w)));
        let color = s.color;
        chart
            .draw_series(LineSeries::new(pts, color))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
