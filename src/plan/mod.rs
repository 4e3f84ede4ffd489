//! Planning: checked trials in, a [`Plan`] out: for every trial, its parameter counts, steps,
//! tokens, pruning updates, N_avg and compute, before any training. Plain data, no Burn.

mod error;
pub mod memory;
mod search;
pub(crate) mod shape;
mod solve;

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

pub use error::PlanError;
pub use memory::Memory;
pub use shape::{tensors, Counts, Matrix, Part, Shape, TensorSpec};
pub use solve::Problem;

use crate::access::Access;
use crate::check::{check_file, check_source, CheckOutput, Checked, Options, SourceMap, Trial};
use crate::config::{Dtype, Source, Tokenizer, TrialConfig};
use crate::data::split::BLOCK;
use crate::diagnostic::Diag;
use crate::observables::{training_flops, Observables};
use crate::prune;
use crate::syntax::Loc;

/// The most mask updates the trials of one plan may make in all: a plan holds each of them (and
/// `plan --format json` prints them), so a file cannot make it exhaust memory.
pub const MAX_PLAN_UPDATES: u64 = 20_000_000;

/// Every trial of a file, planned.
#[derive(Debug, Serialize)]
pub struct Plan {
    /// One plan per trial, in file order.
    pub trials: Vec<PlannedTrial>,
}

/// One trial with what it will do and cost (the keys of `plan --format json`, docs/language.md, "Exit codes and output formats").
#[derive(Debug, Clone, Serialize)]
pub struct PlannedTrial {
    /// The trial's id.
    pub id: String,
    /// The trial's name.
    pub name: String,
    /// The sweep it comes from, if any.
    pub sweep: Option<String>,
    /// The trial's configuration.
    pub config: TrialConfig,
    /// Every observable but the loss, as planned.
    #[serde(flatten)]
    pub observables: Observables,
    /// Optimizer steps.
    pub steps: u64,
    /// Tokens per step: batch x context.
    pub tokens_per_step: u64,
    /// All three parameter counts, whichever `count` selects for N.
    pub params: Counts,
    /// The pruning schedule in steps.
    pub prune: PrunePlan,
    /// Estimated peak memory of training it.
    pub memory: Memory,
    /// Bytes of its weights on disk once it has finished (`model.safetensors`).
    #[serde(rename = "weights_bytes")]
    pub weights: u64,
}

/// The resolved pruning schedule. Steps count from 0; an update at step t takes effect for the
/// forward pass of step t.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    /// The first pruning update, if the trial prunes.
    pub start_step: Option<u64>,
    /// The last pruning update, if the trial prunes.
    pub end_step: Option<u64>,
    /// The steps between updates, if the trial prunes.
    pub every: Option<u64>,
    /// `[step, sparsity after the update]`
    pub updates: Vec<(u64, f64)>,
}

/// A checked and planned file.
pub struct PlanOutput {
    /// The files read.
    pub sources: SourceMap,
    /// Errors and warnings of checking and planning.
    pub diagnostics: Vec<Diag>,
    /// Present when there were no errors.
    pub plan: Option<Plan>,
    /// What the check found, when it found no error.
    pub checked: Option<Checked>,
    /// What the file may read (see [`crate::access`]).
    pub access: Access,
}

/// Checks and plans the file at `path`. Fails only if the file cannot be read.
pub fn plan_file(path: &Path) -> std::io::Result<PlanOutput> {
    Ok(finish(check_file(path)?, None))
}

/// Checks and plans the file at `path` with `options` (see [`crate::check::check_file_with`]).
pub fn plan_file_with(path: &Path, options: &Options) -> std::io::Result<PlanOutput> {
    Ok(finish(crate::check::check_file_with(path, options)?, options.limits.memory))
}

/// Checks and plans `text` as the file at `path`, with `options`.
pub fn plan_source_with(path: &Path, text: String, options: &Options) -> PlanOutput {
    finish(crate::check::check_source_with(path, text, options), options.limits.memory)
}

/// Checks and plans `text` as the file at `path`.
pub fn plan_source(path: &Path, text: String) -> PlanOutput {
    finish(check_source(path, text), None)
}

fn finish(output: CheckOutput, memory: Option<u64>) -> PlanOutput {
    let CheckOutput { sources, mut diagnostics, checked, access } = output;
    let plan = checked.as_ref().map(|checked| {
        let (plan, plan_diagnostics) = plan(checked, &access, memory);
        diagnostics.extend(plan_diagnostics);
        plan
    });
    // A file with errors has no plan, though it was planned (missing data files are errors for
    // `check` and `run`, and everything else is still reported).
    let plan = plan.filter(|_| !diagnostics.iter().any(Diag::is_error));
    diagnostics.sort_by_key(Diag::position);
    PlanOutput { sources, diagnostics, plan, checked, access }
}

/// Plans every trial; data paths are read (for their sizes) through `access`. With `memory`
/// (the machine's, as `sprs run` gives it), a trial whose estimated peak needs more is an error.
pub fn plan(checked: &Checked, access: &Access, memory: Option<u64>) -> (Plan, Vec<Diag>) {
    let mut trials = Vec::with_capacity(checked.trials.len());
    let mut diagnostics = Vec::new();
    let mut updates = 0u64;
    let mut stretches = Stretches::new();
    // Trials are independent: plan them in parallel, a few per thread at a time (so that a plan
    // that would hold too many updates stops early), then report in order.
    for group in checked.trials.chunks(rayon::current_num_threads().max(1) * 4) {
        let planned: Vec<Result<PlannedTrial, Problem>> = group
            .par_iter()
            .map(|trial| {
                let data = &trial.config.data;
                // Bytes of text (or tokens generated) whatever the tokenizer: what loading holds.
                let held = |source: &Source| {
                    source_tokens(source, &Tokenizer::Bytes, access).map_or(0, |n| memory::data_bytes(source, n))
                };
                plan_trial(trial, held(&data.source).saturating_add(data.valid.as_ref().map_or(0, held)))
            })
            .collect();
        for (trial, planned) in group.iter().zip(planned) {
            match planned {
                Ok(planned) => {
                    updates += planned.prune.updates.len() as u64;
                    if updates > MAX_PLAN_UPDATES {
                        let what = format!(
                            "the schedules of the trials up to this one make more than {MAX_PLAN_UPDATES} mask updates in all"
                        );
                        let (at, error) = error(trial, Problem::TooLarge { what });
                        diagnostics.push(Diag::new(at.file, error));
                        return (Plan { trials }, diagnostics);
                    }
                    if let Some(available) = memory.filter(|m| planned.memory.total > *m) {
                        let error = PlanError::OutOfMemory {
                            trial: trial.name.clone(),
                            needs: crate::format::bytes(planned.memory.total),
                            available: crate::format::bytes(available),
                            span: trial.sites.model.span.into(),
                        };
                        diagnostics.push(Diag::new(trial.sites.model.file, error));
                    }
                    if trial.config.eval.tokens < trial.config.data.context {
                        let error = PlanError::EvalBelowOneWindow {
                            trial: trial.name.clone(),
                            tokens: trial.config.eval.tokens,
                            context: trial.config.data.context,
                            span: trial.sites.eval.span.into(),
                        };
                        diagnostics.push(Diag::new(trial.sites.eval.file, error));
                    }
                    if let Some(error) = too_small(trial, access, &mut stretches) {
                        diagnostics.push(Diag::new(trial.sites.data.file, error));
                    } else if let Some(warning) = epochs(trial, &planned, access) {
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
    }
    (Plan { trials }, diagnostics)
}

/// Plans one trial, whose data holds `data` bytes in memory while it trains.
pub fn plan_trial(trial: &Trial, data: u64) -> Result<PlannedTrial, Problem> {
    let config = &trial.config;
    let shape = Shape::of(&config.model);
    let resolved = solve::Trial::new(config, &shape);
    let solution = resolved.solve()?;
    let updates = solution.updates();
    let final_sparsity = prune::sparsity_at(&updates, solution.steps - 1);
    let pruned = resolved.pruned(final_sparsity);
    let tps = resolved.tokens_per_step;
    let d = solution.steps.checked_mul(tps).ok_or_else(|| Problem::TooLarge {
        what: format!("{} steps of {tps} tokens are more tokens than a 64-bit count holds", solution.steps),
    })?;
    let n = resolved.counted;
    Ok(PlannedTrial {
        id: trial.id.clone(),
        name: trial.name.clone(),
        sweep: trial.sweep.clone(),
        config: config.clone(),
        observables: Observables {
            n,
            n_final: n - pruned,
            n_avg: solution.param_steps as f64 / solution.steps as f64,
            s: if resolved.prunable_total == 0 { 0.0 } else { pruned as f64 / resolved.prunable_total as f64 },
            d,
            c: training_flops(solution.param_steps as f64, tps as f64),
            c_dense: training_flops(n as f64, d as f64),
        },
        steps: solution.steps,
        tokens_per_step: tps,
        params: shape.counts(),
        memory: memory::estimate(config, shape.counts().total, resolved.prunable_total, pruned > 0, data),
        weights: crate::store::weights::file_bytes(&trial.id, &config.model),
        prune: PrunePlan {
            start_step: solution.window.map(|w| w.start),
            end_step: solution.window.map(|w| w.end),
            every: solution.window.map(|w| w.every),
            updates: updates.iter().map(|u| (u.step, u.sparsity)).collect(),
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

/// The tokens of a source where that is cheap to know: bytes of text (on disk or bundled) under
/// the `bytes` tokenizer, pre-tokenized files, generated data.
fn source_tokens(source: &Source, tokenizer: &Tokenizer, access: &Access) -> Option<u64> {
    let size =
        |path: &String| access.config_path(path).ok().and_then(|p| std::fs::metadata(p.path).ok()).map(|m| m.len());
    match (source, tokenizer) {
        (Source::Text { paths }, Tokenizer::Bytes) => paths.iter().map(size).sum::<Option<u64>>(),
        (Source::Bundled { name }, Tokenizer::Bytes) => Some(crate::data::corpus::find(name)?.bytes),
        (Source::Tokens { path, dtype }, _) => Some(size(path)? / if *dtype == Dtype::U16 { 2 } else { 4 }),
        (Source::Synthetic(synthetic), _) => Some(synthetic.tokens),
        _ => None,
    }
}

/// The longest training and held-out stretches of a stream of `len` tokens split with
/// `holdout` (as [`crate::data::tokens`] splits it), cached by both: a sweep asks for the same
/// split many times. `None` for a stream too long to lay out.
type Stretches = std::collections::HashMap<(u64, u64), (u64, u64)>;

fn longest_stretches(len: u64, holdout: f64, cache: &mut Stretches) -> Option<(u64, u64)> {
    // Past a million blocks the split is costly to lay out (and such data holds many windows of
    // any context but the largest): not checked.
    if len / BLOCK as u64 > 1_000_000 {
        return None;
    }
    Some(*cache.entry((len, holdout.to_bits())).or_insert_with(|| {
        let (mut train, mut held) = (0, 0);
        for (range, is_held) in crate::data::tokens::runs(len as usize, holdout) {
            let longest = if is_held { &mut held } else { &mut train };
            *longest = (*longest).max(range.len() as u64);
        }
        (train, held)
    }))
}

/// An error when a trial's data is known to be too small to train or evaluate on: no stretch
/// of the training or held-out split holds one window of `context + 1` tokens (the run would
/// fail at its start).
fn too_small(trial: &Trial, access: &Access, cache: &mut Stretches) -> Option<PlanError> {
    let data = &trial.config.data;
    let window = data.context + 1;
    let source = source_tokens(&data.source, &data.tokenizer, access);
    let (train, held) = match &data.valid {
        Some(valid) => (source, source_tokens(valid, &data.tokenizer, access)),
        None => match source {
            Some(len) => match longest_stretches(len, data.holdout, cache) {
                Some((train, held)) => (Some(train), Some(held)),
                None => (None, None),
            },
            None => (None, None),
        },
    };
    let (split, longest) = match (train, held) {
        (Some(train), _) if train < window => ("training", train),
        (_, Some(held)) if held < window => ("held-out", held),
        _ => return None,
    };
    Some(PlanError::DataTooSmall {
        trial: trial.name.clone(),
        split,
        longest,
        window,
        span: trial.sites.data.span.into(),
    })
}

/// A warning when a trial needs more tokens than its data's training split, where that size is
/// cheap to know (see [`source_tokens`]).
fn epochs(trial: &Trial, planned: &PlannedTrial, access: &Access) -> Option<PlanError> {
    let data = &trial.config.data;
    let tokens = source_tokens(&data.source, &data.tokenizer, access)?;
    let available = if data.valid.is_some() { tokens } else { (tokens as f64 * (1.0 - data.holdout)) as u64 };
    (planned.observables.d > available).then(|| PlanError::MoreThanOneEpoch {
        trial: trial.name.clone(),
        tokens: crate::format::si(planned.observables.d as f64),
        available: crate::format::si(available as f64),
        epochs: planned.observables.d as f64 / available.max(1) as f64,
        span: trial.sites.budget.span.into(),
    })
}
