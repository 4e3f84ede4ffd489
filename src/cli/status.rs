//! `sprs status FILE`: where each trial of the file stands in its results folder, and the Slurm
//! jobs submitted for it ([`sprs::launch::status`]).

use sprs::diagnostic::Format;
use sprs::launch::status::{status, State};

use super::{CliError, Results};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    results: Results,
    /// A table (`human`) or `{"trials": [...], "counts": {..}, "jobs": [..]}` (`json`).
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

impl Args {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        let options = sprs::check::Options { require_data: false, ..self.results.study.options()? };
        let super::Planned { plan, .. } = super::planned(&self.results.study.file, &options, Format::Short, color)?;
        let store = self.results.store()?;
        show(&status(&plan, &store, true), &store, self.format);
        Ok(())
    }
}

/// Prints the report as a table, or as JSON.
fn show(report: &sprs::launch::status::Report, store: &sprs::store::Store, format: Format) {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
        return;
    }
    let c = report.counts;
    println!(
        "{}: {} trial{}: {} done, {} running, {} failed, {} pending",
        sprs::escape::path(&store.root),
        report.trials.len(),
        if report.trials.len() == 1 { "" } else { "s" },
        c.done,
        c.running,
        c.failed,
        c.pending
    );
    let width = report.trials.iter().map(|t| t.name.chars().count()).max().unwrap_or(0);
    for trial in &report.trials {
        let name = sprs::escape::line(&trial.name);
        let detail = match trial.state {
            State::Done => format!("L {:.4}", trial.l.unwrap_or(f64::NAN)),
            State::Failed => sprs::escape::line(trial.error.as_deref().unwrap_or_default()),
            State::Running => {
                let mut detail = format!("step {}/{}", trial.step.unwrap_or(0), trial.steps);
                if let (Some(rate), Some(eta)) = (trial.tokens_per_second, trial.eta_seconds) {
                    detail.push_str(&format!("  {rate:.0} tokens/s  eta {}", duration(eta)));
                }
                if let Some(holder) = &trial.holder {
                    detail.push_str(&format!("  {}", sprs::escape::line(holder)));
                }
                detail
            }
            State::Pending => match trial.step {
                Some(step) => format!("{step}/{} steps on disk", trial.steps),
                None => String::new(),
            },
        };
        let state = match trial.state {
            State::Done => "done",
            State::Running => "running",
            State::Failed => "failed",
            State::Pending => "pending",
        };
        let line = format!("  {state:<8} {name:<width$}  {detail}");
        println!("{}", line.trim_end());
    }
    for job in &report.jobs {
        let record = &job.record;
        let shown = sprs::escape::line(&record.job);
        println!("slurm job {shown} ({} worker{}):", record.workers, if record.workers == 1 { "" } else { "s" });
        match &job.tasks {
            Some(tasks) => {
                for task in tasks {
                    let restarts = match task.restarts {
                        0 => String::new(),
                        n => format!(", requeued {n}x"),
                    };
                    let node = task.node.as_deref().map(|n| format!(" on {n}")).unwrap_or_default();
                    let line = format!("  {} {}{node}{restarts}", task.task, task.state);
                    println!("{}", sprs::escape::line(&line));
                }
            }
            None => println!("  (unknown to scontrol: finished and forgotten, or no Slurm here)"),
        }
    }
}

/// `1h02m`, `3m05s`, `12s`.
fn duration(seconds: f64) -> String {
    let s = seconds.round().max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
