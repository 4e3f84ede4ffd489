//! `sprs score` and `sprs generate`: a finished trial's model on a text, and samples from it.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use super::{coder, finished, shown, text_coder, weights, TrainedError};
use crate::data::hash::mix;
use crate::plan::PlannedTrial;
use crate::store::Store;
use crate::train::backend::Device;
use crate::train::infer::Model;

/// The largest text `sprs score` reads: a Hugging Face tokenizer holds about 250 bytes of memory
/// per byte of text while it encodes a text whole (1 GiB for this), and a longer text's loss is
/// the mean of its parts', weighted by their tokens.
pub const MAX_TEXT_BYTES: u64 = 4 << 20;

/// The most tokens `sprs generate` makes in one sample.
pub const MAX_GENERATED: usize = 100_000;

/// The loss of a text under a trial's model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// Tokens predicted: every token but the first of each window.
    pub tokens: u64,
    /// Their mean loss, in nats per token.
    pub loss: f64,
    /// Their summed loss in bits, over the bytes of text they stand for.
    pub bits_per_byte: f64,
    /// Each token's id and loss (`None` for the first of a window), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_token: Option<PerToken>,
}

/// Each token of a scored text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerToken {
    /// The ids of the text.
    pub ids: Vec<u32>,
    /// The loss of each, in nats; `None` where a window starts.
    pub losses: Vec<Option<f64>>,
}

/// How `sprs generate` samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Tokens to generate.
    pub tokens: usize,
    /// Logits are divided by it; 0 takes the most likely token.
    pub temperature: f64,
    /// Only the most likely this many tokens are drawn from; 0: all.
    pub top_k: usize,
    /// The same seed, prompt and model give the same sample.
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Sampling {
        Sampling { tokens: 200, temperature: 0.8, top_k: 50, seed: 0 }
    }
}

/// A sample from a trial's model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    /// The trial's name.
    pub trial: String,
    /// The prompt's ids, then the generated ones.
    pub ids: Vec<u32>,
    /// How many of `ids` are the prompt's.
    pub prompt_tokens: usize,
    /// The prompt's text.
    pub prompt: String,
    /// The generated text (ids as numbers, for data without text).
    pub text: String,
}

/// The text of `path` for `sprs score`: a regular file (a link is followed: the path is the
/// user's own) of at most [`MAX_TEXT_BYTES`].
pub fn read_text(path: &Path) -> Result<Vec<u8>, TrainedError> {
    let error = |reason: String| TrainedError::Text { what: shown(path), reason, help: None };
    // Non-blocking, so that a FIFO is refused rather than waited on.
    let file = {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        options.open(path).map_err(|e| error(e.to_string()))?
    };
    if !file.metadata().map_err(|e| error(e.to_string()))?.is_file() {
        return Err(error("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_TEXT_BYTES + 1).read_to_end(&mut bytes).map_err(|e| error(e.to_string()))?;
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return Err(TrainedError::Text {
            what: shown(path),
            reason: format!("it has more than {} MiB", MAX_TEXT_BYTES >> 20),
            help: Some("score it in parts: its loss is the mean of theirs, weighted by their tokens".into()),
        });
    }
    Ok(bytes)
}

/// The mean next-token loss of `text` under `trial`'s model on `device`, tokenized as its data
/// was: the ids in consecutive windows of the trial's context (the last may be shorter), each
/// token but the first of its window predicted from those before it in the window. With
/// `per_token`, every token's id and loss too.
pub fn score(
    trial: &PlannedTrial,
    store: &Store,
    text: &[u8],
    device: &Device,
    per_token: bool,
) -> Result<Scored, TrainedError> {
    finished(store, trial)?;
    let coder = text_coder(store, trial)?;
    let text_error = |reason: String| TrainedError::Text { what: "the text".into(), reason, help: None };
    let (ids, spans) = coder.encode_spans(text).map_err(text_error)?;
    within_vocabulary(trial, &ids).map_err(text_error)?;
    let window = trial.config.model.context as usize;
    let model = model(store, trial, device)?;
    let mut losses = per_token.then(|| vec![None; ids.len()]);
    let (mut nats, mut tokens, mut bytes) = (0.0, 0u64, 0u64);
    model
        .each_loss(&ids, window, |i, loss| {
            nats += loss;
            tokens += 1;
            bytes += u64::from(spans[i]);
            if let Some(losses) = &mut losses {
                losses[i] = Some(loss);
            }
        })
        .map_err(|reason| TrainedError::Model { reason })?;
    if tokens == 0 {
        return Err(TrainedError::Text {
            what: "the text".into(),
            reason: format!("it has {} token{}: nothing to predict", ids.len(), if ids.len() == 1 { "" } else { "s" }),
            help: Some("a window's first token is predicted by nothing: give a longer text".into()),
        });
    }
    Ok(Scored {
        tokens,
        loss: nats / tokens as f64,
        bits_per_byte: nats / std::f64::consts::LN_2 / bytes.max(1) as f64,
        per_token: losses.map(|losses| PerToken { ids, losses }),
    })
}

/// A sample of `sampling.tokens` tokens from `trial`'s model on `device`, after `prompt` (for
/// data of generated ids, ids written as numbers; by default a line end, or id 0), the same for
/// the same seed. The model sees the last context's worth of tokens.
pub fn generate(
    trial: &PlannedTrial,
    store: &Store,
    prompt: Option<&str>,
    sampling: Sampling,
    device: &Device,
) -> Result<Generation, TrainedError> {
    if !(sampling.temperature.is_finite() && sampling.temperature >= 0.0) || sampling.tokens > MAX_GENERATED {
        return Err(TrainedError::Text {
            what: "the sampling".into(),
            reason: format!("a temperature of {} and {} tokens", sampling.temperature, sampling.tokens),
            help: Some(format!("the temperature is a number from 0, and at most {MAX_GENERATED} tokens are generated")),
        });
    }
    finished(store, trial)?;
    let coder = coder(store, trial)?;
    let prompt_error = |reason: String| TrainedError::Text { what: "the prompt".into(), reason, help: None };
    let prompt_text = prompt.unwrap_or(if coder.is_some() { "\n" } else { "0" });
    let mut ids = match &coder {
        Some(coder) => coder.encode(prompt_text.as_bytes()).map_err(prompt_error)?,
        None => prompt_text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u32>()
                    .map_err(|_| prompt_error(format!("`{s}` is not a token id; this trial's data has no text")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if ids.is_empty() {
        return Err(prompt_error("it has no token".into()));
    }
    within_vocabulary(trial, &ids).map_err(prompt_error)?;
    let prompt_tokens = ids.len();
    let model = model(store, trial, device)?;
    let context = trial.config.model.context as usize;
    let vocab = trial.config.model.vocab as usize;
    for i in 0..sampling.tokens {
        let seen = &ids[ids.len().saturating_sub(context)..];
        let logits = model.logits(seen).map_err(|reason| TrainedError::Model { reason })?;
        let last = &logits[(seen.len() - 1) * vocab..seen.len() * vocab];
        ids.push(sample(last, sampling, mix(sampling.seed, i as u64)));
    }
    let text = |ids: &[u32]| match &coder {
        Some(coder) => coder.decode(ids).map_err(|reason| TrainedError::Model { reason }),
        None => Ok(ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")),
    };
    let mut sample = text(&ids[prompt_tokens..])?;
    if coder.is_none() && !sample.is_empty() {
        // Ids as numbers: a space after the prompt's, so that the two read apart.
        sample.insert(0, ' ');
    }
    Ok(Generation { trial: trial.name.clone(), prompt: text(&ids[..prompt_tokens])?, text: sample, ids, prompt_tokens })
}

/// Whether every id is one the trial's model knows.
fn within_vocabulary(trial: &PlannedTrial, ids: &[u32]) -> Result<(), String> {
    let vocab = trial.config.model.vocab;
    match ids.iter().find(|&&id| u64::from(id) >= vocab) {
        Some(id) => Err(format!("it has the token id {id}, outside the model's vocabulary of {vocab}")),
        None => Ok(()),
    }
}

/// A finished trial's model on `device`, from its weights.
fn model(store: &Store, trial: &PlannedTrial, device: &Device) -> Result<Model, TrainedError> {
    Model::new(&trial.config.model, weights(store, trial)?, device).map_err(|reason| TrainedError::Model { reason })
}

/// The token that `random` (a uniform 64-bit draw) picks from `logits`: the most likely at
/// temperature 0; else one of the `top_k` most likely (ties to the lower id), by the softmax of
/// the logits over the temperature.
fn sample(logits: &[f32], sampling: Sampling, random: u64) -> u32 {
    let mut ranked: Vec<(usize, f64)> = logits.iter().map(|&l| f64::from(l)).enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if sampling.temperature <= 0.0 {
        return ranked[0].0 as u32;
    }
    if sampling.top_k > 0 {
        ranked.truncate(sampling.top_k);
    }
    let max = ranked[0].1;
    let weights: Vec<f64> = ranked.iter().map(|(_, l)| ((l - max) / sampling.temperature).exp()).collect();
    // 53 random bits, uniform in [0, 1).
    let mut target = (random >> 11) as f64 / (1u64 << 53) as f64 * weights.iter().sum::<f64>();
    for ((id, _), weight) in ranked.iter().zip(&weights) {
        if target < *weight {
            return *id as u32;
        }
        target -= weight;
    }
    ranked[ranked.len() - 1].0 as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_temperature_and_top_k() {
        let logits = [0.0f32, 2.0, 1.0, 2.0];
        let greedy = Sampling { temperature: 0.0, ..Sampling::default() };
        // Ties go to the lower id.
        assert_eq!(sample(&logits, greedy, 0), 1);
        let top_one = Sampling { top_k: 1, ..Sampling::default() };
        assert!((0..100).all(|i| sample(&logits, top_one, mix(9, i)) == 1));
        // With all four allowed, the draws follow the softmax of the logits at temperature 1.
        let all = Sampling { top_k: 0, temperature: 1.0, ..Sampling::default() };
        let mut counts = [0usize; 4];
        for i in 0..40_000 {
            counts[sample(&logits, all, mix(1, i)) as usize] += 1;
        }
        let z: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
        for (id, &count) in counts.iter().enumerate() {
            let p = f64::from(logits[id]).exp() / z;
            assert!((count as f64 / 40_000.0 - p).abs() < 0.01, "{id}: {count} against {p}");
        }
    }
}
