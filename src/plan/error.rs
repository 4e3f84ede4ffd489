//! Plan diagnostics (`E03xx` and `W0005`): budgets and schedules that do not fit the step grid.
//! Each points at the sweep value or train that produced the trial.

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

/// A mistake found while planning a trial: shapes, schedules, budgets and memory (codes E03xx,
/// E0401, W0005).
///
/// Each variant is documented by its `#[error]` message, its code and its help, which
/// docs/errors.md lists; its fields are what the message shows.
#[allow(missing_docs)]
#[derive(Debug, Clone, Error, Diagnostic)]
pub enum PlanError {
    #[error("the budget of `{trial}` ({budget}) does not pay for one step ({step})")]
    #[diagnostic(code(sprs::E0304), help("raise the budget, or lower `batch` or `data.context`"))]
    BudgetBelowOneStep {
        trial: String,
        budget: String,
        step: String,
        #[label("less than one step")]
        span: SourceSpan,
    },

    #[error("in `{trial}`, updates every {every} steps do not fit in the pruning window from step {start} to {end}")]
    #[diagnostic(code(sprs::E0305), help("make `every` shorter than the window, or the window longer"))]
    IntervalLongerThanWindow {
        trial: String,
        every: u64,
        start: u64,
        end: u64,
        #[label("no update after the first")]
        span: SourceSpan,
    },

    #[error(
        "in `{trial}`, no mask update lands on the pruning end (step {end}), so the final sparsity is never reached"
    )]
    #[diagnostic(code(sprs::E0306))]
    EndOffGrid {
        trial: String,
        end: u64,
        #[label("updates run every {every} steps from step {start}")]
        span: SourceSpan,
        every: u64,
        start: u64,
        #[help]
        help: String,
    },

    #[error("in `{trial}`, layerwise sparsity removes every weight of `{matrix}` ({size} weights)")]
    #[diagnostic(
        code(sprs::E0307),
        help("lower the sparsity, use `scope = global`, or leave this group out of `targets`")
    )]
    EmptiesMatrix {
        trial: String,
        matrix: String,
        size: u64,
        #[label("empties a layer")]
        span: SourceSpan,
    },

    #[error("in `{trial}`, {what}")]
    #[diagnostic(code(sprs::E0308), help("move the boundary inside the run, or raise the budget"))]
    Unreachable {
        trial: String,
        what: String,
        #[label("cannot be met")]
        span: SourceSpan,
    },

    #[error("in `{trial}`, pruning ends at step {end}, before it starts at step {start}")]
    #[diagnostic(code(sprs::E0309), help("`end` must resolve to a step at or after `start`"))]
    EndsBeforeStart {
        trial: String,
        start: u64,
        end: u64,
        #[label("ends before it starts")]
        span: SourceSpan,
    },

    #[error("in `{trial}`, {what}")]
    #[diagnostic(
        code(sprs::E0310),
        help("plans are limited to 10^9 steps and 10^6 mask updates; lower the budget or raise `every`")
    )]
    TooLarge {
        trial: String,
        what: String,
        #[label("too large")]
        span: SourceSpan,
    },

    #[error("`{trial}` trains on {tokens} tokens, {epochs:.1} times the {available} training tokens of its data")]
    #[diagnostic(
        code(sprs::W0005),
        severity(Warning),
        help("the same tokens will be seen more than once; a bigger corpus or a smaller budget avoids repeating data")
    )]
    MoreThanOneEpoch {
        trial: String,
        tokens: String,
        available: String,
        epochs: f64,
        #[label("more than one epoch")]
        span: SourceSpan,
    },

    #[error(
        "in `{trial}`, no stretch of the {split} split holds a window of {window} tokens (the longest has {longest})"
    )]
    #[diagnostic(
        code(sprs::E0311),
        help("the data is split into held-out and training stretches of 4096-token blocks; use more data, a smaller `context`, or a larger `holdout`")
    )]
    DataTooSmall {
        trial: String,
        split: &'static str,
        longest: u64,
        window: u64,
        #[label("too little data for one window")]
        span: SourceSpan,
    },

    #[error("in `{trial}`, an evaluation of {tokens} tokens holds no window of `context` = {context} tokens")]
    #[diagnostic(
        code(sprs::E0312),
        help("the held-out loss L is measured on whole windows of `context` tokens: raise `eval.tokens` to {context} or more")
    )]
    EvalBelowOneWindow {
        trial: String,
        tokens: u64,
        context: u64,
        #[label("nothing would be evaluated")]
        span: SourceSpan,
    },

    #[error("`{trial}` needs about {needs} of memory to train, more than the {available} of this machine")]
    #[diagnostic(
        code(sprs::E0401),
        help("`sprs plan` shows each trial's estimate; use a smaller batch, context or model, or run with `--force` to try anyway")
    )]
    OutOfMemory {
        trial: String,
        needs: String,
        available: String,
        #[label("too large for this machine")]
        span: SourceSpan,
    },
}
