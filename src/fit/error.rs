//! Fit diagnostics (`E06xx`, `W0006`, `W0008`): data that cannot be fitted, pointing at the part of the
//! fit that names it.

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

/// Data that cannot be fitted, found when a fit runs (codes E06xx, W0006, W0008).
///
/// Each variant is documented by its `#[error]` message, its code and its help, which
/// docs/errors.md lists; its fields are what the message shows.
#[allow(missing_docs)]
#[derive(Debug, Clone, Error, Diagnostic)]
pub enum FitError {
    #[error("cannot read `{path}`: {error}")]
    #[diagnostic(code(sprs::E0601))]
    CsvUnreadable {
        path: String,
        error: String,
        #[label("this file")]
        span: SourceSpan,
    },

    #[error("`{path}` has no column `{column}`")]
    #[diagnostic(code(sprs::E0602))]
    MissingColumn {
        path: String,
        column: String,
        #[label("no such column")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("row {row} of `{path}` has {value} in column `{column}`, not a number")]
    #[diagnostic(code(sprs::E0603), help("fix the row, or leave it out with `where`"))]
    NotANumber {
        path: String,
        row: usize,
        column: String,
        value: String,
        #[label("read from here")]
        span: SourceSpan,
    },

    #[error("`{fit}` has {points} points to fit {params} parameters")]
    #[diagnostic(code(sprs::E0604))]
    TooFewPoints {
        fit: String,
        points: usize,
        params: usize,
        #[label("needs more points than parameters")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("the loss of {point} is {value}; a law is fitted to the logarithm of a positive loss")]
    #[diagnostic(code(sprs::E0605), help("leave such points out with `where L > 0`"))]
    NonPositiveLoss {
        point: String,
        value: f64,
        #[label("from here")]
        span: SourceSpan,
    },

    #[error("cannot evaluate {what} for {point}: {error}")]
    #[diagnostic(code(sprs::E0606))]
    Evaluation {
        what: String,
        point: String,
        error: String,
        #[label("here")]
        span: SourceSpan,
    },

    #[error("no start of `{fit}` reached a finite objective")]
    #[diagnostic(
        code(sprs::E0607),
        help("the law is not positive and finite near any start; check the law, or widen the start grid in `params`")
    )]
    NoFiniteStart {
        fit: String,
        #[label("every start failed")]
        span: SourceSpan,
    },

    #[error("{point} is both fitted (`on`) and predicted (`predict`) by `{fit}`")]
    #[diagnostic(
        code(sprs::E0608),
        help("a prediction is tested on points the law was not fitted to: leave them out of one side with `where`, as in `on = grid where S == 0, predict = grid where S > 0`")
    )]
    PredictedAndFitted {
        fit: String,
        point: String,
        #[label("also in `on`")]
        span: SourceSpan,
    },

    #[error("no point of `predict` is left for `{fit}` to predict")]
    #[diagnostic(code(sprs::E0609), help("its `where` leaves every point out; loosen the condition"))]
    NothingToPredict {
        fit: String,
        #[label("selects no point")]
        span: SourceSpan,
    },

    #[error("the trials of `{fit}` trained on different backends: {list}")]
    #[diagnostic(
        code(sprs::W0008),
        severity(Warning),
        help("a trial starts from the same weights on every backend, but backends round differently and training carries it further; to compare like with like, train them on one backend")
    )]
    MixedBackends {
        fit: String,
        list: String,
        #[label("fitted to points from several backends")]
        span: SourceSpan,
    },

    #[error("{missing} of the {total} trials of `{item}` have no result yet; `{fit}` uses the {found} that do")]
    #[diagnostic(code(sprs::W0006), severity(Warning), help("run them with `sprs run`"))]
    MissingResults {
        fit: String,
        item: String,
        missing: usize,
        total: usize,
        found: usize,
        #[label("not all trained")]
        span: SourceSpan,
    },
}
