//! A trial's peak memory, estimated before it runs: `sprs plan` shows it and `sprs run` refuses a
//! trial that cannot fit in the machine's memory (docs/language.md, "What a file may touch").
//!
//! Training in 32-bit floats keeps the parameters, their gradients and AdamW's two moments (16
//! bytes a parameter), the masks of a pruned run (a byte and a float per prunable weight, and
//! while they are updated a copy of the weights and a 24-byte sort key for each), the
//! activations that backpropagation needs, and data held in memory (texts and generated corpora;
//! token files are mapped and read in place). Activations are counted per block as the tensors
//! the forward pass keeps for the backward pass of a batch of B sequences of T tokens, width d,
//! feed-forward size m and h heads: about 16 B T d (norms, projections, rotary positions,
//! residuals), 5 B T m (the feed-forward hidden layer and its activation) and 5 B h T^2 (attention
//! scores, their mask and softmax); the head adds 4 B T V (logits, log-softmax, loss). The
//! coefficients are upper bounds of what Burn keeps; `tests/security.rs` compares the estimate
//! with a measured peak.

use serde::Serialize;

use crate::config::{Source, TrialConfig};

/// Bytes of one parameter in training: its value, gradient and AdamW's two moments, as f32.
const PER_PARAM: u64 = 16;
/// Bytes of one prunable weight in a pruned run: its keep flag and mask float, and during a mask
/// update a copy of the weight and its sort key.
const PER_PRUNABLE: u64 = 33;
/// Floats kept per token of the batch, per block: for each unit of width, feed-forward size and
/// (per head) context.
const PER_WIDTH: u64 = 16;
const PER_MLP: u64 = 5;
const PER_SCORE: u64 = 5;
/// Floats kept per token for each unit of vocabulary.
const PER_VOCAB: u64 = 4;
/// The process itself: the program, Burn's runtime and thread stacks.
pub const BASE: u64 = 64 << 20;

/// A trial's estimated peak memory, in bytes, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// Parameters, gradients and optimizer state.
    pub model: u64,
    /// Bytes of the pruning masks.
    pub masks: u64,
    /// Bytes of the activations kept for the backward pass of one step.
    pub activations: u64,
    /// Tokens held in memory.
    pub data: u64,
    /// All of the above and [`BASE`].
    pub total: u64,
}

/// The estimate for a trial of `params` parameters (`prunable` of them pruned, if it prunes) on
/// `config`, with `data` bytes of tokens held in memory (saturating: a trial too large to count
/// is too large to run).
pub fn estimate(config: &TrialConfig, params: u64, prunable: u64, prunes: bool, data: u64) -> Memory {
    let model = params.saturating_mul(PER_PARAM);
    let masks = if prunes { prunable.saturating_mul(PER_PRUNABLE) } else { 0 };
    let m = &config.model;
    let tokens = config.batch.saturating_mul(config.data.context);
    let per_block = (PER_WIDTH * m.width)
        .saturating_add(PER_MLP.saturating_mul(m.mlp))
        .saturating_add(PER_SCORE.saturating_mul(m.heads).saturating_mul(config.data.context));
    let floats =
        tokens.saturating_mul(per_block.saturating_mul(m.depth).saturating_add(PER_VOCAB.saturating_mul(m.vocab)));
    let activations = floats.saturating_mul(4);
    let total = [model, masks, activations, data, BASE].iter().fold(0u64, |a, b| a.saturating_add(*b));
    Memory { model, masks, activations, data, total }
}

/// Bytes held in memory while a source of `tokens` tokens loads: the text read, its split
/// copies and the ids (4 bytes each); a token file is mapped and read in place.
pub fn data_bytes(source: &Source, tokens: u64) -> u64 {
    match source {
        Source::Tokens { .. } => 0,
        Source::Synthetic(_) => tokens.saturating_mul(8),
        Source::Text { .. } | Source::Bundled { .. } => tokens.saturating_mul(10),
    }
}

/// The machine's memory, in bytes, where the system tells it (`MemTotal` of `/proc/meminfo`).
pub fn machine() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The most memory this process has held so far (`VmHWM` of `/proc/self/status`), where the
/// system tells it.
pub fn process_peak() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
