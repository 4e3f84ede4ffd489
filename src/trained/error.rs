//! Why a finished trial cannot be exported, scored or sampled (codes E09xx).

use miette::Diagnostic;
use thiserror::Error;

/// An error of `sprs export`, `sprs score` or `sprs generate`. Nothing is written when one is
/// found before writing starts.
#[derive(Debug, Error, Diagnostic)]
pub enum TrainedError {
    /// No trial of the file has that name or id.
    #[error("no trial of the file is named `{name}`")]
    #[diagnostic(code(sprs::E0901))]
    UnknownTrial {
        /// What was asked for.
        name: String,
        /// A near name, or where to find the names.
        #[help]
        help: String,
    },
    /// The trial has no result, or failed.
    #[error("trial `{trial}` {state}")]
    #[diagnostic(
        code(sprs::E0902),
        help("train it (again, if it failed): `sprs run FILE --only NAME`, with the same `--out` and `--set` as here")
    )]
    NotFinished {
        /// The trial's name.
        trial: String,
        /// `has no result yet`, or `failed: why`.
        state: String,
    },
    /// The trial finished without keeping its weights.
    #[error("trial `{trial}` has no weights: `{path}` is missing")]
    #[diagnostic(
        code(sprs::E0903),
        help(
            "it was trained with `--no-weights`, or the file was removed: remove the trial's folder and run it again without `--no-weights`"
        )
    )]
    NoWeights {
        /// The trial's name.
        trial: String,
        /// The weights file.
        path: String,
    },
    /// The weights file cannot be used.
    #[error("the weights of trial `{trial}` cannot be used: {reason}")]
    #[diagnostic(
        code(sprs::E0904),
        help("the file is damaged or is not this trial's: remove the trial's folder and run it again")
    )]
    BadWeights {
        /// The trial's name.
        trial: String,
        /// Why.
        reason: String,
    },
    /// The trial's text tokenizer is not available: data without text, or a token file without its tokenizer.
    #[error("trial `{trial}` has no text tokenizer: {reason}")]
    #[diagnostic(code(sprs::E0905))]
    NoTokenizer {
        /// The trial's name.
        trial: String,
        /// Why.
        reason: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },
    /// The text (or prompt) cannot be used.
    #[error("{what}: {reason}")]
    #[diagnostic(code(sprs::E0906))]
    Text {
        /// The text file, or `the prompt`.
        what: String,
        /// Why.
        reason: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },
    /// An output file cannot be written.
    #[error("cannot write `{path}`: {error}")]
    #[diagnostic(code(sprs::E0907), help("the folder given to `--to` must be writable, with room for the weights"))]
    Output {
        /// The file or folder.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The model cannot be run on the backend asked for.
    #[error("the model cannot be run: {reason}")]
    #[diagnostic(code(sprs::E0908), help("try the default backend on the CPU (`--backend flex --device cpu`)"))]
    Model {
        /// Why.
        reason: String,
    },
}
