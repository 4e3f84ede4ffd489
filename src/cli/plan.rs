//! `sprs plan FILE`: the trials as a table, or `--format json`.

use sprs::diagnostic::Format;
use sprs::format::si;
use sprs::observables::Observable;
use sprs::plan::PlannedTrial;

use super::{CliError, Study};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    study: Study,
    /// A table (`human`) or `{"trials": [...]}` (`json`).
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

impl Args {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        // A study is planned before its data is downloaded: missing data files are a warning.
        let options = sprs::check::Options { require_data: false, ..self.study.options()? };
        let super::Planned { plan, diagnostics, .. } = super::planned(&self.study.file, &options, self.format, color)?;
        match self.format {
            Format::Json => {
                // Invariant: a plan is plain data whose serialization cannot fail.
                let mut json = serde_json::to_value(&plan).expect("a plan serializes");
                json["diagnostics"] = serde_json::json!(diagnostics);
                println!("{}", serde_json::to_string_pretty(&json).expect("a plan serializes"));
            }
            Format::Human | Format::Short => {
                print!("{}", table(&plan.trials));
                let weights: u64 = plan.trials.iter().map(|t| t.weights).sum();
                println!(
                    "weights kept on disk: {} for {} trial{} (`sprs run --no-weights` keeps none)",
                    sprs::format::bytes(weights),
                    plan.trials.len(),
                    super::plural(plan.trials.len())
                );
            }
        }
        Ok(())
    }
}

/// One row per trial: id, name, N, N_avg, D, steps, C, estimated peak memory, the weights' size
/// on disk and the pruning breakpoints.
fn table(trials: &[PlannedTrial]) -> String {
    let (n, n_avg, d, c) = (Observable::N.name(), Observable::NAvg.name(), Observable::D.name(), Observable::C.name());
    let header = ["id", "name", n, n_avg, d, "steps", c, "memory", "weights", "pruning"];
    let rows: Vec<[String; 10]> = trials
        .iter()
        .map(|t| {
            [
                t.id.clone(),
                t.name.clone(),
                si(t.observables.n as f64),
                si(t.observables.n_avg),
                si(t.observables.d as f64),
                t.steps.to_string(),
                format!("{:.2e}", t.observables.c),
                sprs::format::bytes(t.memory.total),
                sprs::format::bytes(t.weights),
                pruning(t),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            // Names and the pruning column read left to right; numbers line up on the right.
            let left = matches!(i, 0 | 1 | 9);
            let pad = " ".repeat(width - cell.chars().count());
            out.push_str(&if left { format!("{cell}{pad}") } else { format!("{pad}{cell}") });
            out.push_str("  ");
        }
        format!("{}\n", out.trim_end())
    };
    let mut out = line(&header.map(String::from));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

fn pruning(trial: &PlannedTrial) -> String {
    match (trial.prune.start_step, trial.prune.end_step, trial.prune.every) {
        (Some(start), Some(end), Some(every)) => format!(
            "{:.0}% at steps {start}..={end}, every {every} ({} updates)",
            trial.observables.s * 100.0,
            trial.prune.updates.len()
        ),
        _ => "dense".into(),
    }
}
