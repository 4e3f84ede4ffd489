//! A finished trial's model, rebuilt from its weights on any backend, for `sprs score` and
//! `sprs generate`: the logits of a sequence, and the loss of each token of a text read in
//! consecutive windows.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::model::Decoder;
use crate::config::ModelConfig;
use crate::store::weights;

/// Logits computed at once, at most: windows are batched up to this many values.
const BATCH_LOGITS: usize = 1 << 26;

/// A trained model, ready to predict.
pub struct Model {
    decoder: Decoder,
    device: Device,
    vocab: usize,
    context: usize,
}

impl Model {
    /// The model of `config` with `tensors` (as [`crate::store::weights::read`] gives them), on `device`.
    pub fn new(config: &ModelConfig, tensors: Vec<weights::Tensor>, device: &Device) -> Result<Model, String> {
        Ok(Model {
            decoder: Decoder::from_tensors(config, tensors, device)?,
            device: device.clone(),
            vocab: config.vocab as usize,
            context: config.context as usize,
        })
    }

    /// The logits after each of `ids` (at most the model's context of them, each below its
    /// vocabulary), `[ids.len(), vocab]` row-major.
    pub fn logits(&self, ids: &[u32]) -> Result<Vec<f32>, String> {
        self.check(ids)?;
        let inputs = self.ids(ids, [1, ids.len()]);
        let logits = self.decoder.forward(inputs);
        logits.into_data().try_to_vec::<f32>().map_err(|e| format!("cannot read the logits: {e:?}"))
    }

    /// The loss, in nats, of each of `ids` as the model predicts it from the tokens before it in
    /// its window: `ids` cut into consecutive windows of `window` tokens (the last may be
    /// shorter). The first token of each window is predicted by nothing (`None`).
    pub fn token_losses(&self, ids: &[u32], window: usize) -> Result<Vec<Option<f64>>, String> {
        let mut out = vec![None; ids.len()];
        self.each_loss(ids, window, |i, loss| out[i] = Some(loss))?;
        Ok(out)
    }

    /// [`Model::token_losses`] given one at a time to `each`, with the token's index, in order:
    /// nothing the size of the text is kept.
    pub fn each_loss(&self, ids: &[u32], window: usize, mut each: impl FnMut(usize, f64)) -> Result<(), String> {
        // A window of `window` tokens feeds the model all of them but the last.
        if window == 0 || window - 1 > self.context {
            return Err(format!("windows of {window} tokens, where the model takes at most {} + 1", self.context));
        }
        self.check_vocab(ids)?;
        // A window of one token predicts nothing.
        if window < 2 {
            return Ok(());
        }
        let full = ids.len() / window;
        let per_batch = (BATCH_LOGITS / (window * self.vocab).max(1)).clamp(1, 64);
        let mut start = 0;
        while start < full {
            let count = per_batch.min(full - start);
            let losses = self.losses(&ids[start * window..(start + count) * window], window)?;
            for (w, chunk) in losses.chunks(window - 1).enumerate() {
                let first = (start + w) * window;
                chunk.iter().enumerate().for_each(|(i, &loss)| each(first + 1 + i, loss));
            }
            start += count;
        }
        let rest = &ids[full * window..];
        if rest.len() > 1 {
            let first = full * window;
            self.losses(rest, rest.len())?.into_iter().enumerate().for_each(|(i, loss)| each(first + 1 + i, loss));
        }
        Ok(())
    }

    /// The losses of tokens 1.. of each window of `window` tokens in `windows`.
    fn losses(&self, windows: &[u32], window: usize) -> Result<Vec<f64>, String> {
        let count = windows.len() / window;
        let (inputs, targets): (Vec<u32>, Vec<u32>) =
            windows.chunks(window).flat_map(|w| w[..window - 1].iter().copied().zip(w[1..].iter().copied())).unzip();
        let rows = count * (window - 1);
        let logits = self.decoder.forward(self.ids(&inputs, [count, window - 1]));
        let targets = Tensor::<1, Int>::from_data(
            TensorData::new(targets.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(), [rows]),
            &self.device,
        );
        let chosen = log_softmax(logits.reshape([rows, self.vocab]), 1).gather(1, targets.reshape([rows, 1]));
        let values = chosen.into_data().try_to_vec::<f32>().map_err(|e| format!("cannot read the losses: {e:?}"))?;
        Ok(values.into_iter().map(|v| -f64::from(v)).collect())
    }

    fn ids<const D: usize>(&self, ids: &[u32], shape: [usize; D]) -> Tensor<D, Int> {
        let ids: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
        Tensor::<D, Int>::from_data(TensorData::new(ids, shape), &self.device)
    }

    fn check(&self, ids: &[u32]) -> Result<(), String> {
        if ids.is_empty() || ids.len() > self.context {
            return Err(format!("{} ids, where the model takes 1 to {}", ids.len(), self.context));
        }
        self.check_vocab(ids)
    }

    fn check_vocab(&self, ids: &[u32]) -> Result<(), String> {
        match ids.iter().find(|&&id| id as usize >= self.vocab) {
            Some(id) => Err(format!("id {id} is outside the model's vocabulary of {}", self.vocab)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Arch;

    fn model() -> (ModelConfig, Model) {
        let config = ModelConfig {
            arch: Arch::Llama,
            width: 16,
            depth: 1,
            heads: 2,
            mlp: 32,
            vocab: 11,
            context: 6,
            tie_embeddings: false,
        };
        let device = crate::train::backend::cpu();
        let tensors = Decoder::new(&config, 3, &device).tensors(&config).unwrap();
        let model = Model::new(&config, tensors, &device).unwrap();
        (config, model)
    }

    /// Each token's loss is minus its log-softmax in the logits of its window, computed here
    /// in f64 from [`Model::logits`]; windows restart the context.
    #[test]
    fn token_losses_are_the_windows_log_probabilities() {
        let (config, model) = model();
        let ids: Vec<u32> = (0..14).map(|i| (i * 7 % 11) as u32).collect();
        let window = config.context as usize;
        let losses = model.token_losses(&ids, window).unwrap();
        assert_eq!(losses.len(), ids.len());
        for (w, chunk) in ids.chunks(window).enumerate() {
            let logits = model.logits(chunk).unwrap();
            for i in 0..chunk.len() {
                let at = w * window + i;
                if i == 0 {
                    assert_eq!(losses[at], None);
                    continue;
                }
                let row: Vec<f64> = logits[(i - 1) * 11..i * 11].iter().map(|&l| f64::from(l)).collect();
                let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = max + row.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
                let expected = lse - row[chunk[i] as usize];
                assert!((losses[at].unwrap() - expected).abs() < 1e-5, "{at}: {:?} {expected}", losses[at]);
            }
        }
        // The last window holds two tokens: one prediction.
        assert_eq!(losses.iter().filter(|l| l.is_some()).count(), 2 * 5 + 1);
    }

    #[test]
    fn ids_outside_the_vocabulary_or_context_are_refused() {
        let (_, model) = model();
        assert!(model.logits(&[1, 11]).is_err());
        assert!(model.logits(&[1; 7]).is_err());
        assert!(model.token_losses(&[1, 2, 30], 6).is_err());
        // Windows of the context and one more token (as the training evaluates) fit; longer do not.
        assert!(model.token_losses(&[1; 14], 7).is_ok());
        assert!(model.token_losses(&[1; 14], 8).is_err());
        // Windows of one token predict nothing, however long the text.
        assert_eq!(model.token_losses(&[1; 14], 1).unwrap(), vec![None; 14]);
    }
}
