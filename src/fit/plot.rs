//! SVG plots of fits (plotters): observed against predicted loss.

use std::path::Path;

use plotters::prelude::*;

use super::Fitted;

/// Writes observed against predicted loss, with the line of perfect prediction: trials in blue
/// (dense) and red (sparse), other points in blue, held-out points hollow, the points of
/// `predict` (not fitted) as triangles.
pub fn observed_vs_predicted(fitted: &Fitted, path: &Path) -> Result<(), String> {
    let predicted = fitted.predict.as_ref().map_or(&[][..], |p| &p.rows[..]);
    let values = fitted
        .predictions
        .iter()
        .flat_map(|p| [p.observed, p.predicted])
        .chain(predicted.iter().flat_map(|p| [p.observed, p.predicted]))
        .filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !(lo.is_finite() && hi.is_finite()) {
        return Err("no finite predictions to plot".into());
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let (lo, hi) = (lo - pad, hi + pad);
    // Drawn into a string and written atomically: processes sharing a results folder may write
    // the same plot at once.
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, (640, 560)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{}: L = {}", fitted.name, crate::escape::controls(&fitted.law)), ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(lo..hi, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("observed loss (nats/token)")
            .y_desc("predicted loss")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.4)))?;
        let trials = fitted.predictions.iter().any(|p| p.sparsity.is_some());
        let groups = [(if trials { "dense" } else { "points" }, BLUE, false), ("sparse", RED, true)];
        for (label, color, sparse) in groups {
            let points: Vec<_> =
                fitted.predictions.iter().filter(|p| p.sparsity.is_some_and(|s| s > 0.0) == sparse).collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(points.iter().map(|p| {
                    let style = if p.held_out { color.stroke_width(2) } else { color.mix(0.7).filled() };
                    Circle::new((p.observed, p.predicted), 4, style)
                }))?
                .label(label)
                .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
        }
        for (label, color, sparse) in [("predicted, dense", BLUE, false), ("predicted, sparse", RED, true)] {
            let points: Vec<_> = predicted.iter().filter(|p| p.sparsity.is_some_and(|s| s > 0.0) == sparse).collect();
            if points.is_empty() {
                continue;
            }
            let label = if trials || sparse { label } else { "predicted" };
            chart
                .draw_series(
                    points.iter().map(|p| TriangleMarker::new((p.observed, p.predicted), 6, color.stroke_width(2))),
                )?
                .label(label)
                .legend(move |(x, y)| TriangleMarker::new((x, y), 6, color.stroke_width(2)));
        }
        if fitted.predictions.iter().any(|p| p.held_out) {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label("held out (hollow)")
                .legend(|(x, y)| Circle::new((x, y), 4, BLACK.stroke_width(2)));
        }
        chart.configure_series_labels().border_style(BLACK.mix(0.3)).background_style(WHITE.mix(0.9)).draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("cannot draw `{}`: {e}", path.display()))?;
    drop(root);
    crate::fs::write_atomic(path, svg.as_bytes()).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}
