//! `--plot FILE.png`: the latency percentile curves of the measured backends, one line each,
//! the percentile on a "nines" axis (0 = the smallest latency, 1 = p90, 2 = p99, 3 = p99.9)
//! and the latency on a log axis, so that a 100× gap and the tail both show.

use std::path::Path;

use anyhow::{Context, ensure};
use plotters::prelude::*;
use riskpipe::latency::Latencies;

/// Points per curve: enough for a smooth line at any size the plot is drawn.
const CURVE_POINTS: usize = 400;

/// Size of the picture in pixels.
const SIZE: (u32, u32) = (1200, 720);

/// Line colours of the curves, in order (blue, vermilion, green: told apart in colour-blind
/// vision too).
const COLOURS: [RGBColor; 3] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
];

/// One backend's curve.
pub struct Curve<'a> {
    /// Legend text: the backend and what its latency covers.
    pub label: String,
    /// Its latencies.
    pub latencies: &'a Latencies,
}

/// Refuses a plot destination that cannot be written, before anything is measured: not a
/// `.png` name, or a folder that does not exist.
pub fn check_destination(path: &Path) -> anyhow::Result<()> {
    let png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    ensure!(
        png,
        "--plot {}: the plot is a PNG picture; give a file name ending in .png",
        path.display()
    );
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = parent {
        ensure!(
            folder.is_dir(),
            "--plot {}: the folder {} does not exist",
            path.display(),
            folder.display()
        );
    }
    Ok(())
}

/// The percentile a nines value stands for, as the axis writes it: 0 → "0%", 1 → "90%",
/// 2 → "99%", 3 → "99.9%".
fn percentile_label(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    let decimals = (nines.ceil() as i64 - 2).max(0) as usize;
    format!("{percent:.decimals$}%")
}

/// A latency axis label: its unit chosen as [`riskpipe::latency::human_ns`] does, no trailing zeros ("10 ms",
/// "2.5 µs").
fn axis_ns(ns: f64) -> String {
    let (value, unit) = match ns {
        n if n < 1e3 => (n, "ns"),
        n if n < 1e6 => (n / 1e3, "µs"),
        n if n < 1e9 => (n / 1e6, "ms"),
        n => (n / 1e9, "s"),
    };
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// Draws `curves` under `title` into the PNG file `path`.
pub fn draw_latency_curves(path: &Path, title: &str, curves: &[Curve<'_>]) -> anyhow::Result<()> {
    check_destination(path)?;
    draw(path, title, curves).with_context(|| {
        format!(
            "cannot draw the plot {} (its text needs a TrueType font found through fontconfig, \
             such as Debian's fonts-dejavu-core)",
            path.display()
        )
    })
}

fn draw(path: &Path, title: &str, curves: &[Curve<'_>]) -> anyhow::Result<()> {
    let lines: Vec<(&str, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|c| {
            let points = c
                .latencies
                .curve(CURVE_POINTS)
                .into_iter()
                // A log axis has no 0: a latency below 1 ns is drawn at 1 ns.
                .map(|(nines, ns)| (nines, (ns as f64).max(1.0)))
                .collect();
            (c.label.as_str(), points)
        })
        .collect();
    let all = || lines.iter().flat_map(|(_, points)| points.iter());
    ensure!(all().next().is_some(), "there is no latency to draw");
    // The axis ends just past the highest percentile the samples resolve.
    let resolved = all().map(|p| p.0).fold(0.0, f64::max).max(1.0);
    let top_nines = resolved + 0.05;
    let lowest = all().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let highest = all().map(|p| p.1).fold(0.0, f64::max);
    // A decade of room below and above, on whole decades, so the curves sit inside the frame.
    let y_from = 10f64.powf(lowest.log10().floor());
    let y_to = 10f64.powf((highest * 1.5).log10().ceil());

    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(24)
        .x_label_area_size(56)
        .y_label_area_size(96)
        .build_cartesian_2d(0f64..top_nines, (y_from..y_to).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(resolved.floor() as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| axis_ns(*y))
        .x_desc("percentile of updates (log scale of 1 - p)")
        .y_desc("tick-to-flag latency (log scale)")
        .label_style(("sans-serif", 18))
        .axis_desc_style(("sans-serif", 20))
        .draw()?;
    // The percentiles the reports give, as guides.
    for (nines, name) in [(2f64.log10(), "p50"), (2.0, "p99"), (3.0, "p99.9")] {
        if nines < top_nines {
            chart.draw_series(LineSeries::new(
                [(nines, y_from), (nines, y_to)],
                ShapeStyle::from(&BLACK.mix(0.35)).stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(Text::new(
                name,
                (nines + 0.02, y_from * 1.15),
                ("sans-serif", 16).into_font().color(&BLACK.mix(0.8)),
            )))?;
        }
    }
    for (k, (label, points)) in lines.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(3),
            ))?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3))
            });
        let max = *points.last().expect("a curve has points");
        chart.draw_series(std::iter::once(Circle::new(max, 5, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 18))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nines_axis_reads_as_percentiles() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
    }

    #[test]
    fn latency_ticks_carry_no_trailing_zeros() {
        assert_eq!(axis_ns(1.0), "1 ns");
        assert_eq!(axis_ns(100.0), "100 ns");
        assert_eq!(axis_ns(2_500.0), "2.5 µs");
        assert_eq!(axis_ns(10_000_000.0), "10 ms");
        assert_eq!(axis_ns(3e9), "3 s");
    }

    #[test]
    fn destinations_are_checked_before_measuring() {
        assert!(check_destination(Path::new("latency.png")).is_ok());
        assert!(check_destination(Path::new("LATENCY.PNG")).is_ok());
        let no_png = check_destination(Path::new("latency.svg")).unwrap_err();
        assert!(no_png.to_string().contains(".png"), "{no_png}");
        let missing = check_destination(Path::new("/no/such/folder/latency.png")).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
    }
}
