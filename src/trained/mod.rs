//! Finished trials out of sprs: a trial's model as a Hugging Face folder that transformers loads
//! ([`export`]), the loss of a text under it ([`score`]) and samples from it ([`generate`]).
//!
//! A trial is named as `sprs run --only` names it (its name, or its id); it must have finished
//! with its weights kept (`model.safetensors`, see [`crate::store::weights`]). Its text goes
//! through the tokenizer it trained with, which its weights name ([`coder`]).

mod error;
mod hf;
mod score;

pub use error::TrainedError;
pub use hf::{export, Exported};
pub use score::{generate, read_text, score, Generation, Sampling, Scored, MAX_GENERATED, MAX_TEXT_BYTES};

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::access::MAX_TOKENIZER_BYTES;
use crate::data::hash::hex;
use crate::data::text::Coder;
use crate::plan::{Plan, PlannedTrial};
use crate::store::{weights, Status, Store, TrialResult};

/// The trials of `plan` that `names` name (each a trial's name or id), in the order given, each
/// once.
pub fn find<'p>(plan: &'p Plan, names: &[String]) -> Result<Vec<&'p PlannedTrial>, TrainedError> {
    let mut found: Vec<&PlannedTrial> = Vec::new();
    for name in names {
        // A name first: a trial may be named like another's id.
        let by_name = plan.trials.iter().find(|t| &t.name == name);
        let trial = by_name.or_else(|| plan.trials.iter().find(|t| &t.id == name)).ok_or_else(|| {
            TrainedError::UnknownTrial {
                name: name.clone(),
                help: crate::check::did_you_mean(name, plan.trials.iter().map(|t| t.name.as_str()))
                    .unwrap_or_else(|| "`sprs plan FILE` lists the trials, with their names and ids".into()),
            }
        })?;
        if !found.iter().any(|t| t.id == trial.id) {
            found.push(trial);
        }
    }
    Ok(found)
}

/// The result of a trial that trained to the end, or why it has none.
pub fn finished(store: &Store, trial: &PlannedTrial) -> Result<TrialResult, TrainedError> {
    let not = |state: String| TrainedError::NotFinished { trial: trial.name.clone(), state };
    match store.result(&trial.id) {
        Some(result) if result.status == Status::Ok => Ok(result),
        Some(result) => {
            let error = result.error.unwrap_or_default();
            Err(not(format!("failed: {}", crate::escape::controls(&error))))
        }
        None => Err(not("has no result yet".into())),
    }
}

/// The final weights of a finished trial.
pub fn weights(store: &Store, trial: &PlannedTrial) -> Result<Vec<weights::Tensor>, TrainedError> {
    let bad = |reason: String| TrainedError::BadWeights { trial: trial.name.clone(), reason };
    open_weights(store, trial)?.tensors().map_err(bad)
}

/// A finished trial's weights file, opened and checked (see [`weights::open`]).
fn open_weights(store: &Store, trial: &PlannedTrial) -> Result<weights::Opened, TrainedError> {
    let path = store.weights(&trial.id);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(TrainedError::NoWeights { trial: trial.name.clone(), path: path.display().to_string() });
    }
    weights::open(&path, &trial.id, &trial.config.model)
        .map_err(|reason| TrainedError::BadWeights { trial: trial.name.clone(), reason })
}

/// The tokenizer a finished trial's text went through, as its weights name it: `bytes`, the
/// `tokenizer.json` it kept (checked against the hash the weights record, so that it is the one
/// the trial trained with whatever became of its data since), or `None` for data without text.
pub fn coder(store: &Store, trial: &PlannedTrial) -> Result<Option<Coder>, TrainedError> {
    let opened = open_weights(store, trial)?;
    let no = |reason: String, help: Option<&str>| TrainedError::NoTokenizer {
        trial: trial.name.clone(),
        reason,
        help: help.map(str::to_string),
    };
    let named = opened.metadata.get("tokenizer").map(String::as_str).unwrap_or_default();
    if let Some(sha256) = named.strip_prefix("sha256:") {
        let path = store.tokenizer(&trial.id);
        let retrain = Some("remove the trial's folder and run it again");
        let bytes = crate::fs::read(&path, MAX_TOKENIZER_BYTES)
            .map_err(|e| no(format!("its `tokenizer.json` cannot be read: {e}"), retrain))?;
        if hex(&Sha256::digest(&bytes)) != sha256 {
            return Err(no("the `tokenizer.json` in its folder is not the one it trained with".into(), retrain));
        }
        let tokenizer = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|e| no(format!("its `tokenizer.json` cannot be loaded: {e}"), retrain))?;
        return Ok(Some(Coder::Hf(Box::new(tokenizer))));
    }
    match named {
        "bytes" => Ok(Some(Coder::Bytes)),
        "none" => Ok(None),
        other => Err(no(
            crate::escape::controls(other.strip_prefix("unavailable: ").unwrap_or(other)).into_owned(),
            Some("`sprs tokenize` keeps a token file's tokenizer beside it (`FILE.tokenizer.json`); with it there, train the trial again"),
        )),
    }
}

/// The tokenizer of a finished trial whose text is needed: an error for data without text.
fn text_coder(store: &Store, trial: &PlannedTrial) -> Result<Coder, TrainedError> {
    coder(store, trial)?.ok_or_else(|| TrainedError::NoTokenizer {
        trial: trial.name.clone(),
        reason: "its data is generated token ids, with no text".into(),
        help: None,
    })
}

/// The trial's folder for messages: relative to where sprs runs.
fn shown(path: &Path) -> String {
    crate::escape::controls(&path.display().to_string()).into_owned()
}
