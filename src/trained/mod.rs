//! Finished trials out of sprs: a trial's model as a Hugging Face folder that transformers loads
//! ([`export`]), the loss of a text under it ([`score`]) and samples from it ([`generate`]).
//!
//! A trial is named as `sprs run --only` names it (its name, or its id); it must have finished
//! with its weights kept (`model.safetensors`, see [`crate::store::weights`]). Its text goes
//! through the tokenizer its data used ([`crate::data::tokens::coder`]).

mod error;
mod hf;
mod score;

pub use error::TrainedError;
pub use hf::{export, Exported};
pub use score::{generate, read_text, score, Generation, Sampling, Scored, MAX_TEXT_BYTES};

use std::path::Path;

use crate::access::Access;
use crate::data::text::Coder;
use crate::plan::{Plan, PlannedTrial};
use crate::store::{weights, Status, Store, TrialResult};

/// The trials of `plan` that `names` name (each a trial's name or id), in the order given.
pub fn find<'p>(plan: &'p Plan, names: &[String]) -> Result<Vec<&'p PlannedTrial>, TrainedError> {
    names
        .iter()
        .map(|name| {
            plan.trials.iter().find(|t| &t.name == name || &t.id == name).ok_or_else(|| TrainedError::UnknownTrial {
                name: name.clone(),
                help: crate::check::did_you_mean(name, plan.trials.iter().map(|t| t.name.as_str()))
                    .unwrap_or_else(|| "`sprs plan FILE` lists the trials, with their names and ids".into()),
            })
        })
        .collect()
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
    let path = store.weights(&trial.id);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(TrainedError::NoWeights { trial: trial.name.clone(), path: path.display().to_string() });
    }
    weights::read(&path, &trial.id, &trial.config.model)
        .map_err(|reason| TrainedError::BadWeights { trial: trial.name.clone(), reason })
}

/// The tokenizer of a trial's text, or why it has none; a `bpe` tokenizer comes from the results
/// folder's `tokenizers/` (where its trials left it).
pub fn coder(store: &Store, access: &Access, trial: &PlannedTrial) -> Result<Coder, TrainedError> {
    let no = |reason: String, help: Option<&str>| TrainedError::NoTokenizer {
        trial: trial.name.clone(),
        reason,
        help: help.map(str::to_string),
    };
    let cache = store.root.join("tokenizers");
    match crate::data::tokens::coder(&trial.config.data, access, Some(&cache)) {
        Ok(Some(coder)) => Ok(coder),
        Ok(None) => Err(no("its data is generated token ids, with no text".into(), None)),
        Err(reason) => Err(no(
            reason,
            Some("a token file's tokenizer is kept beside it by `sprs tokenize` (`FILE.tokenizer.json`); put it there"),
        )),
    }
}

/// The trial's folder for messages: relative to where sprs runs.
fn shown(path: &Path) -> String {
    crate::escape::controls(&path.display().to_string()).into_owned()
}
