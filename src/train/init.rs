//! A trial's initial weights, drawn on the host from the trial's seed alone, so that every backend
//! (flex, ndarray, LibTorch on a CPU or a GPU) starts a trial from the same bits.
//!
//! Each tensor of [`crate::plan::tensors`] has its own stream, keyed by the seed and the tensor's
//! name, so that adding a layer or a bias leaves every other tensor's values as they were:
//!
//! - the stream of tensor `name` is SplitMix64 started at `mix(seed, key)`, where `key` is the
//!   first 8 bytes (big-endian) of the SHA-256 of `name` (`blocks.0.attention.q.weight`);
//! - values `2j` and `2j + 1` are the Box-Muller pair of the stream's outputs `2j` and `2j + 1`,
//!   `u1 = (a >> 11 + 1) / 2^53` and `u2 = (b >> 11) / 2^53`: `r cos(2 pi u2)` and `r sin(2 pi u2)`
//!   with `r = sqrt(-2 ln u1)`, in `f64`, times the tensor's standard deviation, rounded to `f32`;
//! - the standard deviation is 0.02 (GPT-2's) for the embeddings and every weight matrix, and
//!   `0.02 / sqrt(2 * depth)` for the matrices that write into the residual stream (attention's
//!   `o`, the feed-forward `down` or `proj`); norms' scales are one, biases and norms' shifts zero.

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::ModelConfig;
use crate::data::hash::{mix, stream};
use crate::plan::{tensors, Part, TensorSpec};
use crate::store::weights::Tensor;

/// Standard deviation of the embeddings and of the weight matrices that read the residual stream.
pub const INIT_STD: f64 = 0.02;

/// Values drawn per parallel task: the draws are counter-based, so the split does not matter.
const TASK: usize = 64 * 1024;

/// Every tensor of a freshly initialised model of `config` for a trial of `seed`, in
/// [`crate::plan::tensors`]'s order and names.
pub fn initial_tensors(config: &ModelConfig, seed: u64) -> Vec<Tensor> {
    tensors(config)
        .iter()
        .map(|spec| {
            let shape: Vec<usize> = spec.shape.iter().map(|&d| d as usize).collect();
            let len = shape.iter().product();
            let values = match init(spec, config) {
                Init::Normal(std) => normal(seed, &spec.name(), len, std),
                Init::Constant(value) => vec![value; len],
            };
            Tensor { name: spec.name(), shape, values }
        })
        .collect()
}

/// How one tensor starts.
enum Init {
    Normal(f64),
    Constant(f32),
}

fn init(spec: &TensorSpec, config: &ModelConfig) -> Init {
    let norm = matches!(spec.part, Part::Norm | Part::Norm1 | Part::Norm2);
    match (spec.bias, spec.part) {
        (true, _) => Init::Constant(0.0),
        (false, _) if norm => Init::Constant(1.0),
        (false, Part::O | Part::Down | Part::Proj) => Init::Normal(INIT_STD / (2.0 * config.depth as f64).sqrt()),
        (false, _) => Init::Normal(INIT_STD),
    }
}

/// `len` values of the stream of `name` for `seed`, normal with mean 0 and deviation `std`.
pub fn normal(seed: u64, name: &str, len: usize, std: f64) -> Vec<f32> {
    let digest = Sha256::digest(name.as_bytes());
    let key = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"));
    let start = mix(seed, key);
    let output = |i: u64| stream(start, i);
    let mut values = vec![0.0f32; len];
    values.par_chunks_mut(TASK).enumerate().for_each(|(task, chunk)| {
        let first = (task * TASK) as u64;
        for (j, pair) in chunk.chunks_mut(2).enumerate() {
            let i = first + 2 * j as u64;
            let u1 = ((output(i) >> 11) + 1) as f64 / (1u64 << 53) as f64;
            let u2 = (output(i + 1) >> 11) as f64 / (1u64 << 53) as f64;
            let r = (-2.0 * u1.ln()).sqrt();
            let angle = 2.0 * std::f64::consts::PI * u2;
            pair[0] = (std * r * angle.cos()) as f32;
            if let Some(second) = pair.get_mut(1) {
                *second = (std * r * angle.sin()) as f32;
            }
        }
    });
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Arch;

    fn config(arch: Arch, depth: u64) -> ModelConfig {
        ModelConfig { arch, width: 32, depth, heads: 2, mlp: 64, vocab: 256, context: 16, tie_embeddings: false }
    }

    /// The first values of one stream, from an independent implementation of the rule in the
    /// module's documentation (Python's `hashlib` and `math`, written from that text):
    /// `python3 scripts/reference_init.py --seed 1 --name blocks.0.attention.q.weight --std 0.02`.
    #[test]
    fn the_stream_is_the_documented_one() {
        let values = normal(1, "blocks.0.attention.q.weight", 5, 0.02);
        let bits: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, REFERENCE, "{values:?}");
    }

    /// The script's values as f32 bits (`struct.pack("<f", v)`).
    const REFERENCE: [u32; 5] = [0xbbcd_22d5, 0xbcb3_2d51, 0xbcbc_9cb5, 0x3c23_c8cd, 0x3c27_3000];

    /// A layer more leaves the other tensors' values as they were; another seed changes them.
    #[test]
    fn each_tensor_has_its_own_stream() {
        let (two, three) = (initial_tensors(&config(Arch::Llama, 2), 7), initial_tensors(&config(Arch::Llama, 3), 7));
        let q = |tensors: &[Tensor]| {
            tensors.iter().find(|t| t.name == "blocks.1.attention.q.weight").unwrap().values.clone()
        };
        assert_eq!(q(&two), q(&three));
        assert_ne!(q(&two), q(&initial_tensors(&config(Arch::Llama, 2), 8)));
    }

    /// Mean, deviation, and the scaled residual projections, norms and biases.
    #[test]
    fn the_tensors_have_their_distributions() {
        let depth = 2;
        for tensor in initial_tensors(&config(Arch::Gpt, depth), 3) {
            let n = tensor.values.len() as f64;
            let mean = tensor.values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let sd = (tensor.values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n).sqrt();
            let name = &tensor.name;
            if name.ends_with(".bias") {
                assert!(tensor.values.iter().all(|&v| v == 0.0), "{name}");
            } else if name.contains("norm") {
                assert!(tensor.values.iter().all(|&v| v == 1.0), "{name}");
            } else {
                let std = if name.contains(".o.") || name.contains(".proj.") { 0.02 / 2.0 } else { 0.02 };
                // Over at least 512 values: the sample deviation is within 10% of the deviation.
                assert!((sd / std - 1.0).abs() < 0.1, "{name}: sd {sd} against {std}");
                assert!(mean.abs() < 4.0 * std / n.sqrt(), "{name}: mean {mean}");
            }
        }
    }
}
