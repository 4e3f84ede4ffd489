//! Planning: checked trials in, a [`Plan`] out: for every trial, its parameter counts, steps,
//! tokens, pruning updates, N_avg and compute, before any training. Plain data, no Burn.

mod error;
pub mod shape;
mod solve;

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

pub use error::PlanError;
pub use shape::{Counts, Matrix, Shape};
pub use solve::Problem;

use crate::check::config::{Dtype, Source, Tokenizer, TrialConfig};
use crate::check::value::Loc;
use crate::check::{check_file, check_source, CheckOutput, Checked, SourceMap, Trial};
use crate::diagnostic::Diag;
use crate::prune;

/// Every trial of a file, planned.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub trials: Vec<PlannedTrial>,
}

/// One trial with what it will do and cost (the keys of `plan --format json`, SPEC section 7).
#[derive(Debug, Clone, Serialize)]
pub struct PlannedTrial {
    pub id: String,
    pub name: String,
    pub sweep: Option<String>,
    pub config: TrialConfig,
    /// Counted parameters at initialisation.
    #[serde(rename = "N")]
    pub n: u64,
    /// Mean over steps of the counted non-zero parameters.
    #[serde(rename = "N_avg")]
    pub n_avg: f64,
    /// Counted non-zero parameters at the end.
    #[serde(rename = "N_final")]
    pub n_final: u64,
    /// Final sparsity of the prunable weights.
    #[serde(rename = "S")]
    pub s: f64,
    /// Training tokens.
    #[serde(rename = "D")]
    pub d: u64,
    pub steps: u64,
    pub tokens_per_step: u64,
    /// 6 * sum over steps of non-zero counted parameters * tokens per step.
    #[serde(rename = "C")]
    pub c: f64,
    /// 6 * N * D.
    #[serde(rename = "C_dense")]
    pub c_dense: f64,
    /// All three parameter counts, whichever `count` selects for N.
    pub params: Counts,
    pub prune: PrunePlan,
}

/// The resolved pruning schedule. Steps count from 0; an update at step t takes effect for the
/// forward pass of step t.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub start_step: Option<u64>,
    pub end_step: Option<u64>,
    pub every: Option<u64>,
    /// `[step, sparsity after the update]`
    pub updates: Vec<(u64, f64)>,
}

/// A checked and planned file.
pub struct PlanOutput {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diag>,
    /// Present when there were no errors.
    pub plan: Option<Plan>,
    pub checked: Option<Checked>,
}

/// Checks and plans the file at `path`. Fails only if the file cannot be read.
pub fn plan_file(path: &Path) -> std::io::Result<PlanOutput> {
    Ok(finish(path, check_file(path)?))
}

/// Checks and plans the file at `path` with `--set` overrides (see [`crate::check::check_file_with`]).
pub fn plan_file_with(path: &Path, set: &[String]) -> std::io::Result<PlanOutput> {
    Ok(finish(path, crate::check::check_file_with(path, set)?))
}

/// Checks and plans `text` as the file at `path`, with `--set` overrides.
pub fn plan_source_with(path: &Path, text: String, set: &[String]) -> PlanOutput {
    finish(path, crate::check::check_source_with(path, text, set))
}

/// Checks and plans `text` as the file at `path`.
pub fn plan_source(path: &Path, text: String) -> PlanOutput {
    finish(path, check_source(path, text))
}

fn finish(path: &Path, output: CheckOutput) -> PlanOutput {
    let CheckOutput { sources, mut diagnostics, checked } = output;
    let plan = checked.as_ref().and_then(|checked| {
        let base = path.parent().unwrap_or(Path::new(""));
        let (plan, plan_diagnostics) = plan(checked, base);
        let ok = !plan_diagnostics.iter().any(Diag::is_error);
        diagnostics.extend(plan_diagnostics);
        ok.then_some(plan)
    });
    diagnostics.sort_by_key(Diag::position);
    PlanOutput { sources, diagnostics, plan, checked }
}

/// Plans every trial; `base` is the directory that trial paths are relative to.
pub fn plan(checked: &Checked, base: &Path) -> (Plan, Vec<Diag>) {
    // Trials are independent: plan them in parallel, then report in order.
    let planned: Vec<Result<PlannedTrial, Problem>> = checked.trials.par_iter().map(plan_trial).collect();
    let mut trials = Vec::with_capacity(checked.trials.len());
    let mut diagnostics = Vec::new();
    for (trial, planned) in checked.trials.iter().zip(planned) {
        match planned {
            Ok(planned) => {
                if let Some(warning) = epochs(trial, &planned, base) {
                    diagnostics.push(Diag::new(trial.sites.budget.file, warning));
                }
                trials.push(planned);
            }
            Err(problem) => {
                let (at, error) = error(trial, problem);
                diagnostics.push(Diag::new(at.file, error));
            }
        }
    }
    (Plan { trials }, diagnostics)
}

/// Plans one trial.
pub fn plan_trial(trial: &Trial) -> Result<PlannedTrial, Problem> {
    let config = &trial.config;
    let shape = Shape::of(&config.model);
    let resolved = solve::Trial::new(config, &shape);
    let solution = resolved.solve()?;
    let final_sparsity = prune::sparsity_at(&solution.updates, solution.steps - 1);
    let pruned = resolved.pruned(final_sparsity);
    let tps = resolved.tokens_per_step;
    let d = solution.steps * tps;
    let n = resolved.counted;
    Ok(PlannedTrial {
        id: trial.id.clone(),
        name: trial.name.clone(),
        sweep: trial.sweep.clone(),
        config: config.clone(),
        n,
        n_avg: solution.param_steps as f64 / solution.steps as f64,
        n_final: n - pruned,
        s: if resolved.prunable_total == 0 { 0.0 } else { pruned as f64 / resolved.prunable_total as f64 },
        d,
        steps: solution.steps,
        tokens_per_step: tps,
        c: 6.0 * tps as f64 * solution.param_steps as f64,
        c_dense: 6.0 * n as f64 * d as f64,
        params: shape.counts(),
        prune: PrunePlan {
            start_step: solution.window.map(|w| w.start),
            end_step: solution.window.map(|w| w.end),
            every: solution.window.map(|w| w.every),
            updates: solution.updates.iter().map(|u| (u.step, u.sparsity)).collect(),
        },
    })
}

/// The diagnostic for a problem, at the field that causes it.
fn error(trial: &Trial, problem: Problem) -> (Loc, PlanError) {
    let sites = &trial.sites;
    let name = trial.name.clone();
    match problem {
        Problem::BudgetBelowOneStep { budget, step } => {
            (sites.budget, PlanError::BudgetBelowOneStep { trial: name, budget, step, span: sites.budget.span.into() })
        }
        Problem::IntervalLongerThanWindow { every, start, end } => {
            let span = sites.every.span.into();
            (sites.every, PlanError::IntervalLongerThanWindow { trial: name, every, start, end, span })
        }
        Problem::EndOffGrid { start, end, every } => {
            let below = start + (end - start) / every * every;
            let help = format!(
                "a cubic or linear curve reaches its final sparsity only with an update at `end`; end at step {below} or {}, or use a fraction such as `end = 75%`, which lands on an update",
                below + every
            );
            (sites.end, PlanError::EndOffGrid { trial: name, end, span: sites.end.span.into(), every, start, help })
        }
        Problem::EmptiesMatrix { matrix, size } => {
            (sites.sparsity, PlanError::EmptiesMatrix { trial: name, matrix, size, span: sites.sparsity.span.into() })
        }
        Problem::Unreachable { what, at_end } => {
            let at = if at_end { sites.end } else { sites.start };
            (at, PlanError::Unreachable { trial: name, what, span: at.span.into() })
        }
        Problem::TooLarge { what } => {
            (sites.budget, PlanError::TooLarge { trial: name, what, span: sites.budget.span.into() })
        }
        Problem::EndsBeforeStart { start, end } => {
            (sites.end, PlanError::EndsBeforeStart { trial: name, start, end, span: sites.end.span.into() })
        }
    }
}

/// A count for people: `1.73M`, `950k`, `12`.
pub fn si(value: f64) -> String {
    let (scaled, suffix) = match value.abs() {
        v if v >= 1e12 => (value / 1e12, "T"),
        v if v >= 1e9 => (value / 1e9, "B"),
        v if v >= 1e6 => (value / 1e6, "M"),
        v if v >= 1e3 => (value / 1e3, "k"),
        _ => return format!("{value:.0}"),
    };
    let digits = format!("{scaled:.3}");
    format!("{}{suffix}", digits.trim_end_matches('0').trim_end_matches('.'))
}

/// A warning when a trial needs more tokens than its data's training split, where that size is
/// cheap to know: bytes of text (on disk or bundled) under the `bytes` tokenizer, pre-tokenized
/// files, generated data.
fn epochs(trial: &Trial, planned: &PlannedTrial, base: &Path) -> Option<PlanError> {
    let data = &trial.config.data;
    let size = |path: &String| std::fs::metadata(base.join(path)).map(|m| m.len()).ok();
    let tokens = match (&data.source, &data.tokenizer) {
        (Source::Text { paths }, Tokenizer::Bytes) => paths.iter().map(size).sum::<Option<u64>>()?,
        (Source::Bundled { name }, Tokenizer::Bytes) => crate::data::corpus::find(name)?.bytes,
        (Source::Tokens { path, dtype }, _) => size(path)? / if *dtype == Dtype::U16 { 2 } else { 4 },
        (Source::Synthetic(synthetic), _) => synthetic.tokens,
        _ => return None,
    };
    let available = if data.valid.is_some() { tokens } else { (tokens as f64 * (1.0 - data.holdout)) as u64 };
    (planned.d > available).then(|| PlanError::MoreThanOneEpoch {
        trial: trial.name.clone(),
        tokens: si(planned.d as f64),
        available: si(available as f64),
        epochs: planned.d as f64 / available.max(1) as f64,
        span: trial.sites.budget.span.into(),
    })
}
