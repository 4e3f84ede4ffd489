//! The report of a run: `runs/<stem>/report.md` and its SVG plots in `runs/<stem>/report/`:
//! the trials, the spread between seeds and schedules compared seed by seed ([`seeds`]), their
//! loss curves, the fits (with the seed noise beside their errors, and their predictions), loss
//! against N and against N_avg, and the Journey law against the same law over N and over N_final. Written from what is on disk (the rows of
//! `results.csv`, each trial's `metrics.jsonl`) and the fits just made. Plain Rust: no Burn.

mod plot;
pub mod seeds;

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use crate::escape::{markdown_code, markdown_text};
use crate::fit::compare::Comparison;
use crate::fit::{Errors, Fitted};
use crate::format::{measured, si};
use crate::fs::write_atomic;
use crate::plan::Plan;
use crate::store::{Row, Status, Store};

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
    md.push_str(&platforms(&rows));
    md.push_str(&trial_table(&rows, store));
    let groups = seeds::groups(&ok);
    md.push_str(&seed_section(&groups));

    let curves: Vec<(String, f64, Vec<CurvePoint>)> =
        ok.iter().map(|r| (curve_label(r), r.result.observables.s, curve(store, r))).collect();
    if curves.iter().any(|(_, _, c)| !c.is_empty()) {
        write_atomic(&dir.join("loss_curves.svg"), plot::loss_curves(&curves).as_bytes())?;
        md.push_str("\n## Loss curves\n\nHeld-out loss during training, one panel per final sparsity.\n\n");
        md.push_str("![loss curves](report/loss_curves.svg)\n");
    }
    if !ok.is_empty() {
        write_atomic(&dir.join("loss_vs_size.svg"), plot::loss_vs_size(&groups).as_bytes())?;
        md.push_str("\n## Loss against parameter count\n\n");
        md.push_str(
            "Final held-out loss against the dense size N and against the average size over training \
             N_avg. Where N_avg is the right count, sparse runs fall on the dense runs' curve in the \
             second panel. A configuration trained with several seeds is drawn at its mean loss, \
             with a bar from its lowest to its highest.\n\n",
        );
        md.push_str("![loss against N and N_avg](report/loss_vs_size.svg)\n");
    }
    if !fitted.is_empty() {
        md.push_str("\n## Fits\n");
        for fit in fitted {
            md.push_str(&fit_section(fit, &groups));
        }
    }
    for comparison in comparisons {
        md.push_str(&comparison_section(comparison, &groups));
    }
    let path = store.root.join("report.md");
    write_atomic(&path, md.as_bytes())?;
    Ok(path)
}

/// A warning when the trials ran on more than one backend (or kind of device): backends round
/// differently, so the differences between such trials are not only their configurations'.
fn platforms(rows: &[&Row]) -> String {
    let counts = crate::store::platforms(rows.iter().filter_map(|r| r.result.platform()));
    if counts.len() < 2 {
        return String::new();
    }
    // Platforms are words sprs writes (see `TrialResult::trained_on`): nothing to escape.
    let list: Vec<String> = counts.iter().map(|(platform, n)| format!("{n} on {platform}")).collect();
    format!(
        "**These trials ran on different backends** ({}). A trial starts from the same weights and \
         reads the same batches on every backend, but the backends round differently and training \
         can carry that further: differences between these trials are partly the backends'.\n\n",
        list.join(", ")
    )
}

/// Trials as a Markdown table: where each trained, and last the speed of the process that last
/// trained it (its `speed.json`, with its MFU on a GPU), the one column that differs between reruns.
fn trial_table(rows: &[&Row], store: &Store) -> String {
    let mut md = String::from(
        "| trial | N | N_avg | S | D | C | L | ran on | tokens/s |\n|---|--:|--:|--:|--:|--:|--:|---|--:|\n",
    );
    for row in rows {
        let r = &row.result;
        let loss = match (r.status, r.l) {
            (Status::Ok, Some(l)) => format!("{l:.4}"),
            _ => format!("failed: {}", markdown_text(r.error.as_deref().unwrap_or(""))),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0}% | {} | {:.2e} | {loss} | {} | {} |",
            markdown_code(&row.name),
            si(r.observables.n as f64),
            si(r.observables.n_avg),
            r.observables.s * 100.0,
            si(r.observables.d as f64),
            r.observables.c,
            r.trained_on().map_or_else(String::new, |(backend, device)| format!("{backend}, {device}")),
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
    let Ok(lines) = crate::fs::lines(&path) else { return Vec::new() };
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
    format!("N {}, D {}", si(row.result.observables.n as f64), si(row.result.observables.d as f64))
}

/// Configurations trained with more than one seed: their mean loss and its spread; then
/// schedules compared seed by seed with the best of their family.
fn seed_section(groups: &[seeds::Group]) -> String {
    let repeated: Vec<&seeds::Group> = groups.iter().filter(|g| g.runs.len() >= 2).collect();
    if repeated.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## Seeds\n\nConfigurations trained with more than one seed (a seed fixes the initial weights \
         and the order of the batches): the mean of the final loss, its standard deviation between \
         seeds, and its mean absolute deviation from the mean.\n\n\
         | configuration | seeds | mean L | sd | mean abs. dev. |\n|---|---|--:|--:|--:|\n",
    );
    for group in &repeated {
        let seed_list: Vec<String> = group.runs.iter().map(|(seed, _)| seed.to_string()).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {:.4} | {:.4} | {:.4} |",
            markdown_code(&group.label()),
            seed_list.join(", "),
            group.mean(),
            group.spread().unwrap_or(0.0),
            group.mad().unwrap_or(0.0)
        );
    }
    if let Some(noise) = seeds::noise(groups, |_| true) {
        let _ = writeln!(md, "\nSeed noise floor: {}.", noise_text(&noise));
    }
    let families = seeds::paired(groups);
    if !families.is_empty() {
        md.push_str(
            "\n## Schedules compared seed by seed\n\nConfigurations that differ only in when their \
             schedule prunes (start, end, interval, curve), each against the best of them (lowest \
             mean loss): the difference of final loss on the same seed, its mean and standard \
             deviation over the seeds both have. Two schedules trained on one seed share their \
             initial weights and batches, and the noise they share cancels in the difference: \
             compare its standard deviation with the losses' own in the table above.\n",
        );
        for family in &families {
            let _ = writeln!(
                md,
                "\nAgainst {} ({} schedules):\n\n\
                 | configuration | seeds | mean L | difference from the best | sd of the difference |\n|---|---|--:|--:|--:|",
                markdown_code(&family[0].group.label()),
                family.len()
            );
            for paired in family {
                let seed_list: Vec<String> = paired.group.runs.iter().map(|(seed, _)| seed.to_string()).collect();
                let (difference, sd) = if paired.differences.is_empty() {
                    ("best".to_string(), String::new())
                } else {
                    (
                        format!("{:+.4}", paired.mean()),
                        paired.spread().map_or_else(String::new, |sd| format!("{sd:.4}")),
                    )
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.4} | {difference} | {sd} |",
                    markdown_code(&paired.group.label()),
                    seed_list.join(", "),
                    paired.group.mean()
                );
            }
        }
    }
    md
}

fn noise_text(noise: &seeds::Noise) -> String {
    format!(
        "mean absolute deviation of L between seeds {:.4} ({} configurations, {} trials)",
        noise.mad, noise.configurations, noise.runs
    )
}

fn fit_section(fit: &Fitted, groups: &[seeds::Group]) -> String {
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
        let _ = writeln!(md, "| {} | {} | [{}, {}] |", p.name, measured(p.value), measured(p.lo), measured(p.hi));
    }
    let _ = writeln!(md, "\nIn sample: {}.", errors(&fit.in_sample));
    if let Some(holdout) = &fit.holdout {
        let _ = writeln!(md, "Held out: {}.", errors(holdout));
    }
    let fitted_noise = seeds::noise(groups, |g| fit.predictions.iter().any(|p| g.has(&p.id)));
    match fitted_noise {
        Some(noise) => {
            let _ = writeln!(md, "Seed noise of these points: {}.", noise_text(&noise));
        }
        None => md.push_str("Seed noise of these points: not measured (each was trained with one seed).\n"),
    }
    if let Some(predict) = &fit.predict {
        let _ = writeln!(md, "\n**Predicted** (points the law was not fitted to): {}.", errors(&predict.errors));
        if let Some(noise) = seeds::noise(groups, |g| predict.rows.iter().any(|r| g.has(&r.id))) {
            let _ = writeln!(md, "Seed noise of the predicted points: {}.", noise_text(&noise));
        }
        if let Some(first) = predict.counts.first() {
            md.push_str(
                "\nThe same law and fitted parameters with each parameter count in the law's place, on \
                 the predicted points (lower is better). The mean error is predicted minus observed \
                 loss: below zero, the count makes a run look better than it is.\n\n\
                 | count | MAE | RMSE of log L | mean error |",
            );
            for level in &first.by_sparsity {
                let _ = write!(md, " S {0:.0}%: MAE | S {0:.0}%: mean error |", level.sparsity * 100.0);
            }
            md.push_str("\n|---|--:|--:|--:|");
            md.push_str(&"--:|--:|".repeat(first.by_sparsity.len()));
            md.push('\n');
            for count in &predict.counts {
                let written = if count.written { " (as written)" } else { "" };
                let _ = write!(
                    md,
                    "| {}{written} | {:.4} | {:.4} | {:+.4} |",
                    count.count, count.errors.mae, count.errors.rmse_log, count.bias
                );
                for level in &count.by_sparsity {
                    let _ = write!(md, " {:.4} | {:+.4} |", level.errors.mae, level.bias);
                }
                md.push('\n');
            }
            // A table runs on to the next blank line.
            md.push('\n');
        }
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

fn comparison_section(comparison: &Comparison, groups: &[seeds::Group]) -> String {
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
    if let Some((_, fit)) = comparison.variants.first() {
        if let Some(noise) = seeds::noise(groups, |g| fit.predictions.iter().any(|p| g.has(&p.id))) {
            let _ = writeln!(
                md,
                "\nA difference of MAE below the seed noise of these points is not a finding: {}.",
                noise_text(&noise)
            );
        }
    }
    md
}

fn errors(e: &Errors) -> String {
    format!("{} points, MAE {:.4}, RMSE of log L {:.4}", e.points, e.mae, e.rmse_log)
}

#[cfg(test)]
mod tests {
    use super::seeds::tests::{row, two_schedules};
    use super::*;

    #[test]
    fn the_seed_section_shows_each_configuration_s_spread_and_the_paired_differences() {
        let mut rows = two_schedules();
        rows.push(row("c", 1, 0.5, 0.8, 3.0));
        let refs: Vec<&Row> = rows.iter().collect();
        let md = seed_section(&seeds::groups(&refs));
        assert!(md.contains("| `a` | 1, 2, 3 | 2.2000 | 0.2000 | 0.1333 |"), "{md}");
        assert!(md.contains("| `b` | 1, 2, 3 | 2.3000 |"), "{md}");
        assert!(!md.contains("| `c` |"), "one seed is not a spread: {md}");
        // Seed noise over a and b: (0.4 / 3 + (0.2 + 0.02 + 0.18) / 3) / 2.
        assert!(
            md.contains(
                "Seed noise floor: mean absolute deviation of L between seeds 0.1333 (2 configurations, 6 trials)"
            ),
            "{md}"
        );
        assert!(md.contains("| `a` | 1, 2, 3 | 2.2000 | best |  |"), "{md}");
        assert!(md.contains("| `b` | 1, 2, 3 | 2.3000 | +0.1000 | 0.0200 |"), "{md}");
        assert!(seed_section(&seeds::groups(&refs[6..])).is_empty(), "no section without repeated seeds");
    }
}
