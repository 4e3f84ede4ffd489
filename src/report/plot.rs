//! The report's SVG plots (plotters), drawn into strings so that they are written atomically.

use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::seeds::Group;
use super::CurvePoint;

/// The colour of a final sparsity: dense in blue, sparser runs towards red.
fn sparsity_color(s: f64) -> RGBColor {
    if s <= 0.0 {
        return RGBColor(31, 119, 180);
    }
    let t = s.clamp(0.0, 1.0);
    RGBColor((120.0 + 135.0 * t) as u8, (150.0 * (1.0 - t)) as u8, (40.0 * (1.0 - t)) as u8)
}

/// A sparsity rounded to a percent: the groups of the plots.
fn group_of(s: f64) -> f64 {
    (s * 100.0).round() / 100.0
}

/// The sparsities of `values`, rounded to a percent, in increasing order.
fn sparsities(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = values.map(group_of).collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

fn sparsity_label(s: f64) -> String {
    if s <= 0.0 {
        "dense".into()
    } else {
        format!("sparsity {:.0}%", s * 100.0)
    }
}

/// A label at 1, 2 and 5 times a power of ten, none elsewhere: a log axis labels every tick,
/// which crowds the decades' upper ends.
fn log_label(x: &f64) -> String {
    let mantissa = x / 10f64.powf(x.log10().floor());
    if [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6) {
        crate::format::si(*x)
    } else {
        String::new()
    }
}

/// A range with a margin, on a log scale when `log`.
fn bounds(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    if log {
        (lo / 1.15, hi * 1.15)
    } else {
        let pad = ((hi - lo) * 0.06).max(1e-3);
        (lo - pad, hi + pad)
    }
}

/// A panel with a log x axis, its caption and its axes drawn.
type Panel<'a, DB> = ChartContext<'a, DB, Cartesian2d<LogCoord<f64>, RangedCoordf64>>;

fn panel<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
    (x_desc, y_desc): (&str, &str),
) -> Option<Panel<'a, DB>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), y_lo..y_hi)
        .ok()?;
    let _ = chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&log_label)
        .light_line_style(WHITE.mix(0.0))
        .draw();
    Some(chart)
}

/// The legend of a panel, in its upper right corner.
fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Panel<'a, DB>) {
    let _ = chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 11))
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .draw();
}

/// Held-out loss against tokens, one panel per final sparsity, one line per trial.
pub fn loss_curves(curves: &[(String, f64, Vec<CurvePoint>)]) -> String {
    let groups = sparsities(curves.iter().map(|c| c.1));
    let columns = groups.len().min(3);
    let rows = groups.len().div_ceil(columns.max(1));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (460 * columns as u32, 380 * rows as u32)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let x = bounds(curves.iter().flat_map(|c| c.2.iter().map(|p| p.0)), true);
        let y = bounds(curves.iter().flat_map(|c| c.2.iter().map(|p| p.1)), false);
        for (area, &group) in root.split_evenly((rows, columns)).iter().zip(&groups) {
            let members: Vec<_> = curves.iter().filter(|c| group_of(c.1) == group).collect();
            let axes = ("tokens", "held-out loss");
            let Some(mut chart) = panel(area, &sparsity_label(group), x, y, axes) else { continue };
            for (index, (label, _, points)) in members.iter().enumerate() {
                let color = Palette99::pick(index).to_rgba();
                if let Ok(series) = chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2))) {
                    series
                        .label(label.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
                }
            }
            legend(&mut chart);
        }
        let _ = root.present();
    }
    svg
}

/// A configuration in the size plot: N, N_avg, S, mean L, its budget in tokens per parameter,
/// and the lowest and highest L over its seeds.
type Point = (f64, f64, f64, f64, f64, (f64, f64));

/// Final loss against N and against N_avg, side by side on the same axes: coloured by sparsity,
/// circles for dense runs and triangles for sparse ones, larger for larger budgets (D / N); a
/// configuration with several seeds at its mean, with a bar over its seeds' range.
pub fn loss_vs_size(configurations: &[Group]) -> String {
    let points: Vec<Point> = configurations
        .iter()
        .map(|group| {
            let r = &group.runs[0].1.result;
            let ratio = (r.observables.d as f64 / r.observables.n.max(1) as f64 * 10.0).round() / 10.0;
            let losses = group.losses();
            let range = losses.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &l| (lo.min(l), hi.max(l)));
            (r.observables.n as f64, r.observables.n_avg, r.observables.s, group.mean(), ratio, range)
        })
        .collect();
    let groups = sparsities(points.iter().map(|p| p.2));
    let mut budgets: Vec<f64> = points.iter().map(|p| p.4).collect();
    budgets.sort_by(f64::total_cmp);
    budgets.dedup();
    // Sizes by rank: the smallest budget smallest; more than four budgets share the largest size.
    let size = |ratio: f64| 4 + 2 * budgets.iter().position(|b| *b == ratio).unwrap_or(0).min(3) as i32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 440)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let x = bounds(points.iter().flat_map(|p| [p.0, p.1]), true);
        let y = bounds(points.iter().flat_map(|p| [p.3, p.5 .0, p.5 .1]), false);
        let panels = [("N (dense size)", false), ("N_avg (average size over training)", true)];
        for (area, (axis, average)) in root.split_evenly((1, 2)).iter().zip(panels) {
            let x_of = |p: &Point| if average { p.1 } else { p.0 };
            let caption = format!("loss against {axis}");
            let Some(mut chart) = panel(area, &caption, x, y, (axis, "final held-out loss")) else { continue };
            for &group in &groups {
                let color = sparsity_color(group);
                let members = points.iter().filter(|p| group_of(p.2) == group);
                let spread = points.iter().filter(|p| group_of(p.2) == group && p.5 .0 < p.5 .1);
                let _ = chart.draw_series(
                    spread.map(|p| PathElement::new(vec![(x_of(p), p.5 .0), (x_of(p), p.5 .1)], color.stroke_width(1))),
                );
                let drawn = chart.draw_series(members.map(|p| marker(x_of(p), p.3, group, size(p.4), color)));
                if let Ok(series) = drawn {
                    series.label(sparsity_label(group)).legend(move |(x, y)| marker_at(x, y, group, 5, color));
                }
            }
            if budgets.len() > 1 {
                let grey = RGBColor(120, 120, 120);
                for &ratio in &budgets {
                    let r = size(ratio);
                    if let Ok(series) = chart.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>()) {
                        series
                            .label(format!("{ratio} tokens/param"))
                            .legend(move |(x, y)| Circle::new((x, y), r, grey.filled()));
                    }
                }
            }
            legend(&mut chart);
        }
        let _ = root.present();
    }
    svg
}

/// A filled circle for a dense run, a triangle for a sparse one, of radius `r`.
fn marker<DB: DrawingBackend>(x: f64, y: f64, s: f64, r: i32, color: RGBColor) -> DynElement<'static, DB, (f64, f64)> {
    if s <= 0.0 {
        Circle::new((x, y), r, color.filled()).into_dyn()
    } else {
        TriangleMarker::new((x, y), r + 1, color.filled()).into_dyn()
    }
}

fn marker_at<DB: DrawingBackend>(
    x: i32,
    y: i32,
    s: f64,
    r: i32,
    color: RGBColor,
) -> DynElement<'static, DB, (i32, i32)> {
    if s <= 0.0 {
        Circle::new((x, y), r, color.filled()).into_dyn()
    } else {
        TriangleMarker::new((x, y), r + 1, color.filled()).into_dyn()
    }
}
