//! A fit as text for a terminal: in one line, or as a table with its intervals, errors and the
//! compute-optimal allocation.

use super::Fitted;
use crate::format::measured;

/// A fit in one line: its parameters and errors.
pub fn summary(fitted: &Fitted) -> String {
    let params: Vec<String> = fitted.params.iter().map(|p| format!("{} {}", p.name, measured(p.value))).collect();
    let mut line = format!("fit {}: {}; in-sample MAE {:.4}", fitted.name, params.join(", "), fitted.in_sample.mae);
    if let Some(holdout) = &fitted.holdout {
        line.push_str(&format!(", held-out MAE {:.4}", holdout.mae));
    }
    if let Some(predict) = &fitted.predict {
        line.push_str(&format!(", predicted MAE {:.4} ({} points)", predict.errors.mae, predict.errors.points));
    }
    line
}

/// A fit as text: its parameters with their intervals, its errors and the compute-optimal
/// allocation.
pub fn table(fitted: &Fitted) -> String {
    let mut out = format!("fit {}: L = {}\n", fitted.name, fitted.law);
    out.push_str(&format!(
        "  {} points, best of {} L-BFGS starts, objective {:.7} ({})\n",
        fitted.points, fitted.starts, fitted.objective, fitted.loss
    ));
    let interval = if fitted.bootstrap > 0 {
        format!("{:.0}% interval ({} resamples)", fitted.interval * 100.0, fitted.bootstrap)
    } else {
        "interval (no bootstrap)".to_string()
    };
    let width = fitted.params.iter().map(|p| p.name.len()).max().unwrap_or(0).max(5);
    out.push_str(&format!("  {:<width$}  {:>12}  {interval}\n", "param", "value"));
    for p in &fitted.params {
        out.push_str(&format!(
            "  {:<width$}  {:>12}  [{}, {}]\n",
            p.name,
            measured(p.value),
            measured(p.lo),
            measured(p.hi)
        ));
    }
    let errors = |e: &super::Errors| format!("MAE {:.4}, RMSE of log L {:.4}", e.mae, e.rmse_log);
    out.push_str(&format!("  in sample ({} points): {}\n", fitted.in_sample.points, errors(&fitted.in_sample)));
    if let Some(holdout) = &fitted.holdout {
        out.push_str(&format!("  held out ({} points): {}\n", holdout.points, errors(holdout)));
    }
    if let Some(predict) = &fitted.predict {
        out.push_str(&format!(
            "  predicted ({} points, not fitted): {}\n",
            predict.errors.points,
            errors(&predict.errors)
        ));
        if !predict.counts_missing.is_empty() {
            out.push_str(&format!(
                "    {} not compared: the predicted points do not all have {}\n",
                predict.counts_missing.join(" and "),
                if predict.counts_missing.len() == 1 { "it" } else { "them" }
            ));
        }
        for count in &predict.counts {
            let written = if count.written { " (as written)" } else { "" };
            out.push_str(&format!(
                "    with {:<7} {}, mean error {:+.4}{written}\n",
                count.count,
                errors(&count.errors),
                count.bias
            ));
            for level in &count.by_sparsity {
                out.push_str(&format!(
                    "      S {:>3.0}% ({} points): MAE {:.4}, mean error {:+.4}\n",
                    level.sparsity * 100.0,
                    level.errors.points,
                    level.errors.mae,
                    level.bias
                ));
            }
        }
    }
    for o in &fitted.compute_optimal {
        out.push_str(&format!(
            "  compute-optimal at C = {:.2e}: N = {}, D = {} ({:.1} tokens/param), L = {:.4} ({})\n",
            o.c,
            crate::format::si(o.n),
            crate::format::si(o.d),
            o.d / o.n,
            o.l,
            o.method
        ));
    }
    out
}
