//! The report of a run: `runs/<stem>/report.md` and its SVG plots in `runs/<stem>/report/`:
//! the trials, their loss curves, the fits, loss against N and against N_avg, and the Journey
//! law against the same law over N and over N_final. Written from what is on disk (the rows of
//! `results.csv`, each trial's `metrics.jsonl`) and the fits just made. Plain Rust: no Burn.

mod plot;

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use crate::escape::{markdown_code, markdown_text};
use crate::fit::compare::Comparison;
use crate::fit::{Errors, Fitted};
use crate::plan::{si, Plan};
use crate::store::{write_atomic, Row, Status, Store};

/// One point of a loss curve: tokens seen, and the held-out loss there.
pub type CurvePoint = (f64, f64);

/// Writes the report and its plots; returns the path of `report.md`.
pub fn write(
    store: &Store,
    plan: &Plan,
    rows: &[Row],
    fitted: &[Fitted],
    comparisons: &[Comparison],
) -> io::Result<PathBuf> {
    let dir = store.folder("report")?;
    let ids: std::collections::HashSet<&str> = plan.trials.iter().map(|t| t.id.as_str()).collect();
    // This file's trials only: the folder may hold results of an earlier version of the file.
    let rows: Vec<&Row> = rows.iter().filter(|r| ids.contains(&r.result.id.as_str())).collect();
    let ok: Vec<&Row> = rows.iter().copied().filter(|r| r.result.status == Status::Ok).collect();
    let stem = store.root.file_name().map_or_else(|| "sprs".into(), |s| s.to_string_lossy().into_owned());

    let mut md = format!("# {}\n\n", markdown_text(&stem));
    let failed = rows.len() - ok.len();
    let _ = writeln!(
        md,
        "{} trials, {} finished, {failed} failed. Every observable of every trial: [results.csv](results.csv).\n",
        rows.len(),
        ok.len()
    );
    md.push_str(&trial_table(&rows, store));

    let curves: Vec<(String, f64, Vec<CurvePoint>)> =
        ok.iter().map(|r| (curve_label(r), r.result.s, curve(store, r))).collect();
    if curves.iter().any(|(_, _, c)| !c.is_empty()) {
        write_atomic(&dir.join("loss_curves.svg"), plot::loss_curves(&curves).as_bytes())?;
        md.push_str("\n## Loss curves\n\nHeld-out loss during training, one panel per final sparsity.\n\n");
        md.push_str("![loss curves](report/loss_curves.svg)\n");
    }
    if !ok.is_empty() {
        write_atomic(&dir.join("loss_vs_size.svg"), plot::loss_vs_size(&ok).as_bytes())?;
        md.push_str("\n## Loss against parameter count\n\n");
        md.push_str(
            "Final held-out loss against the dense size N and against the average size over training \
             N_avg. Where N_avg is the right count, sparse runs fall on the dense runs' curve in the \
             second panel.\n\n",
        );
        md.push_str("![loss against N and N_avg](report/loss_vs_size.svg)\n");
    }
    if !fitted.is_empty() {
        md.push_str("\n## Fits\n");
        for fit in fitted {
            md.push_str(&fit_section(fit));
        }
    }
    for comparison in comparisons {
        md.push_str(&comparison_section(comparison));
    }
    let path = store.root.join("report.md");
    write_atomic(&path, md.as_bytes())?;
    Ok(path)
}

/// Trials as a Markdown table; the last column is the speed of the process that last trained
/// each (its `speed.json`, with its MFU on a GPU), the one column that differs between reruns.
fn trial_table(rows: &[&Row], store: &Store) -> String {
    let mut md = String::from("| trial | N | N_avg | S | D | C | L | tokens/s |\n|---|--:|--:|--:|--:|--:|--:|--:|\n");
    for row in rows {
        let r = &row.result;
        let loss = match (r.status, r.l) {
            (Status::Ok, Some(l)) => format!("{l:.4}"),
            _ => format!("failed: {}", markdown_text(r.error.as_deref().unwrap_or(""))),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0}% | {} | {:.2e} | {loss} | {} |",
            markdown_code(&row.name),
            si(r.n as f64),
            si(r.n_avg),
            r.s * 100.0,
            si(r.d as f64),
            r.c,
            store.speed(&r.id).map_or_else(String::new, |speed| match speed.mfu {
                Some(mfu) => format!("{} ({:.0}% MFU)", si(speed.tokens_per_second), mfu * 100.0),
                None => si(speed.tokens_per_second),
            })
        );
    }
    md
}

/// The held-out losses of a trial's `metrics.jsonl`, against tokens seen.
fn curve(store: &Store, row: &Row) -> Vec<CurvePoint> {
    let tokens_per_step = row.tokens_per_step.unwrap_or(1.0);
    let path = store.trial_dir(&row.result.id).join("metrics.jsonl");
    let Ok(lines) = crate::store::files::lines(&path) else { return Vec::new() };
    lines
        .map_while(Result::ok)
        .filter_map(|line| {
            let line: serde_json::Value = serde_json::from_str(&line).ok()?;
            let step = line["step"].as_f64()?;
            Some(((step + 1.0) * tokens_per_step, line.get("eval_loss")?.as_f64()?))
        })
        .collect()
}

fn curve_label(row: &Row) -> String {
    format!("N {}, D {}", si(row.result.n as f64), si(row.result.d as f64))
}

fn fit_section(fit: &Fitted) -> String {
    let mut md = format!("\n### `{}`: L = {}\n\n", fit.name, markdown_code(&fit.law));
    let _ = writeln!(
        md,
        "{} points, best of {} L-BFGS starts, objective {:.6} ({}). Plot: [observed against predicted](fits/{}.svg).\n",
        fit.points, fit.starts, fit.objective, fit.loss, fit.name
    );
    let interval = if fit.bootstrap > 0 {
        format!("{:.0}% interval ({} resamples)", fit.interval * 100.0, fit.bootstrap)
    } else {
        "interval (no bootstrap)".into()
    };
    let _ = writeln!(md, "| parameter | value | {interval} |\n|---|--:|--:|");
    for p in &fit.params {
        let _ = writeln!(md, "| {} | {} | [{}, {}] |", p.name, num(p.value), num(p.lo), num(p.hi));
    }
    let _ = writeln!(md, "\nIn sample: {}.", errors(&fit.in_sample));
    if let Some(holdout) = &fit.holdout {
        let _ = writeln!(md, "Held out: {}.", errors(holdout));
    }
    for o in &fit.compute_optimal {
        let _ = writeln!(
            md,
            "Compute-optimal at C = {:.2e}: N = {}, D = {} ({:.1} tokens/param), L = {:.4}.",
            o.c,
            si(o.n),
            si(o.d),
            o.d / o.n,
            o.l
        );
    }
    md
}

fn comparison_section(comparison: &Comparison) -> String {
    let mut md = format!(
        "\n## Which parameter count? `{}` over N_avg, N and N_final\n\n\
         The same law fitted to the same runs with each count in place of N_avg (same held-out \
         points). Lower is better.\n\n",
        comparison.fit
    );
    md.push_str(
        "| count | objective | in-sample MAE | in-sample RMSE of log L | held-out MAE | held-out RMSE of log L |\n\
         |---|--:|--:|--:|--:|--:|\n",
    );
    for (count, fit) in &comparison.variants {
        let (mae, rmse) = fit
            .holdout
            .as_ref()
            .map_or(("-".into(), "-".into()), |h| (format!("{:.4}", h.mae), format!("{:.4}", h.rmse_log)));
        let _ = writeln!(
            md,
            "| {count} | {:.6} | {:.4} | {:.4} | {mae} | {rmse} |",
            fit.objective, fit.in_sample.mae, fit.in_sample.rmse_log
        );
    }
    md
}

fn errors(e: &Errors) -> String {
    format!("{} points, MAE {:.4}, RMSE of log L {:.4}", e.points, e.mae, e.rmse_log)
}

/// Four significant digits, in scientific notation outside [1e-3, 1e6).
pub fn num(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        format!("{x:.3e}")
    } else {
        let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.digits$}")
    }
}
