//! A data source as a token stream with its split: what the trainer reads. Plain Rust.

use super::hash::mix;
use std::path::Path;

use super::{corpus, split, synthetic};
use crate::check::config::{DataConfig, Dtype, Source, Tokenizer};

/// The tokens of a data source, split into training and held-out ranges.
pub struct Tokens {
    pub tokens: Vec<u32>,
    pub train: Vec<std::ops::Range<usize>>,
    pub holdout: Vec<std::ops::Range<usize>>,
}

impl Tokens {
    /// Loads a source; `base` is the directory that config paths are relative to.
    pub fn load(data: &DataConfig, base: &Path) -> Result<Tokens, String> {
        let stream = read(&data.source, &data.tokenizer, base)?;
        let (tokens, train, holdout) = match &data.valid {
            Some(valid) => {
                let mut tokens = stream;
                let train = std::iter::once(0..tokens.len()).collect();
                let valid = read(valid, &data.tokenizer, base)?;
                let holdout = std::iter::once(tokens.len()..tokens.len() + valid.len()).collect();
                tokens.extend(valid);
                (tokens, train, holdout)
            }
            None => {
                let blocks = split::blocks(stream.len(), data.holdout);
                let pick = |held: bool| blocks.iter().filter(|(_, h)| *h == held).map(|(r, _)| r.clone()).collect();
                let (train, holdout) = (pick(false), pick(true));
                (stream, train, holdout)
            }
        };
        Ok(Tokens { tokens, train, holdout })
    }
}

fn read(source: &Source, tokenizer: &Tokenizer, base: &Path) -> Result<Vec<u32>, String> {
    let bytes = |text: &[u8]| -> Result<Vec<u32>, String> {
        match tokenizer {
            Tokenizer::Bytes => Ok(text.iter().map(|&b| u32::from(b)).collect()),
            other => Err(format!("the {other:?} tokenizer is not available yet; use `tokenizer = bytes`")),
        }
    };
    match source {
        Source::Bundled { name } => {
            bytes(corpus::find(name).ok_or_else(|| format!("no bundled corpus `{name}`"))?.text()?)
        }
        Source::Text { paths } => {
            let mut all = Vec::new();
            for path in paths {
                let text = std::fs::read(base.join(path)).map_err(|e| format!("cannot read `{path}`: {e}"))?;
                all.extend(bytes(&text)?);
            }
            Ok(all)
        }
        Source::Tokens { path, dtype } => {
            let raw = std::fs::read(base.join(path)).map_err(|e| format!("cannot read `{path}`: {e}"))?;
            Ok(match dtype {
                Dtype::U16 => raw.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).collect(),
                Dtype::U32 => raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            })
        }
        Source::Synthetic(config) => Ok(synthetic::generate(config)),
    }
}

/// Seeded sampling of training windows of `context + 1` tokens (inputs and shifted targets).
pub struct Sampler {
    /// Start offsets at which a whole window fits inside one training range.
    starts: Vec<(usize, usize)>,
    total: u64,
    window: usize,
}

impl Sampler {
    pub fn new(tokens: &Tokens, context: usize) -> Result<Sampler, String> {
        let window = context + 1;
        let starts: Vec<(usize, usize)> =
            tokens.train.iter().filter(|r| r.len() >= window).map(|r| (r.start, r.len() - window + 1)).collect();
        let total = starts.iter().map(|(_, n)| *n as u64).sum();
        if total == 0 {
            return Err(format!(
                "the training split has no window of {window} tokens; lower `context` or use more data"
            ));
        }
        Ok(Sampler { starts, total, window })
    }

    /// The window starts of one batch at `step`: a function of `(seed, step)` alone, so a resumed
    /// run sees exactly the batches an uninterrupted one does.
    pub fn batch(&self, seed: u64, step: u64, batch: usize) -> Vec<usize> {
        (0..batch as u64)
            .map(|i| {
                let mut pick = mix(mix(seed, step), i) % self.total;
                for &(start, count) in &self.starts {
                    if pick < count as u64 {
                        return start + pick as usize;
                    }
                    pick -= count as u64;
                }
                unreachable!("pick < total")
            })
            .collect()
    }

    pub fn window(&self) -> usize {
        self.window
    }
}

/// The fixed evaluation windows: consecutive, non-overlapping windows over the held-out ranges,
/// at most `tokens` tokens in all. The same for every trial on this data.
pub fn eval_windows(tokens: &Tokens, context: usize, budget: u64) -> Vec<usize> {
    let window = context + 1;
    let mut out = Vec::new();
    for range in &tokens.holdout {
        let mut start = range.start;
        while start + window <= range.end && ((out.len() + 1) * context) as u64 <= budget {
            out.push(start);
            start += window;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::config::SyntheticConfig;

    fn markov(tokens: u64) -> DataConfig {
        DataConfig {
            source: Source::Synthetic(SyntheticConfig { vocab: 64, order: 1, branching: 4, tokens, seed: 3 }),
            tokenizer: Tokenizer::Bytes,
            context: 16,
            holdout: 0.1,
            valid: None,
        }
    }

    #[test]
    fn batches_are_a_function_of_seed_and_step_and_stay_in_the_training_split() {
        let tokens = Tokens::load(&markov(100_000), Path::new(".")).unwrap();
        let sampler = Sampler::new(&tokens, 16).unwrap();
        assert_eq!(sampler.batch(1, 5, 8), sampler.batch(1, 5, 8));
        assert_ne!(sampler.batch(1, 5, 8), sampler.batch(1, 6, 8));
        assert_ne!(sampler.batch(1, 5, 8), sampler.batch(2, 5, 8));
        for start in sampler.batch(9, 0, 256) {
            assert!(tokens.train.iter().any(|r| r.start <= start && start + 17 <= r.end));
        }
    }

    #[test]
    fn evaluation_windows_are_fixed_held_out_and_bounded() {
        let tokens = Tokens::load(&markov(100_000), Path::new(".")).unwrap();
        let windows = eval_windows(&tokens, 16, 1000);
        assert_eq!(windows.len(), 1000 / 16);
        for start in &windows {
            assert!(tokens.holdout.iter().any(|r| r.start <= *start && start + 17 <= r.end));
        }
    }

    #[test]
    fn bundled_shakespeare_loads_as_bytes() {
        let data = DataConfig {
            source: Source::Bundled { name: "shakespeare".into() },
            tokenizer: Tokenizer::Bytes,
            context: 64,
            holdout: 0.01,
            valid: None,
        };
        let tokens = Tokens::load(&data, Path::new(".")).unwrap();
        assert_eq!(tokens.tokens.len() as u64, corpus::SHAKESPEARE.bytes);
        let held: usize = tokens.holdout.iter().map(|r| r.len()).sum();
        assert!((held as f64 / tokens.tokens.len() as f64 - 0.01).abs() < 0.002);
    }
}
