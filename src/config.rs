//! The fully resolved configuration of a trial: plain serde data with every default filled in.
//! Its canonical JSON (fields in declaration order) is what a trial id hashes.

use serde::{Deserialize, Serialize};

/// What a fraction is a fraction of: `25% of compute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// A fraction of the run's optimizer steps.
    Steps,
    /// A fraction of the run's training tokens.
    Tokens,
    /// A fraction of the run's training compute (sparse-aware FLOPs).
    Compute,
}

impl Basis {
    /// The basis a word names: `steps`, `tokens` or `compute`.
    pub fn word(word: &str) -> Option<Basis> {
        match word {
            "steps" => Some(Basis::Steps),
            "tokens" => Some(Basis::Tokens),
            "compute" => Some(Basis::Compute),
            _ => None,
        }
    }
}

/// A trial: the data, the model, the pruning schedule, the optimizer and the budget it trains with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialConfig {
    /// The data to train and evaluate on.
    pub data: DataConfig,
    /// The model.
    pub model: ModelConfig,
    /// The pruning schedule.
    pub prune: ScheduleConfig,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Sequences per optimizer step.
    pub batch: u64,
    /// `X tokens`, `X steps`, `X flops` (sparse-aware), or `R tokens/param`.
    pub budget: Budget,
    /// Seed for initialisation, data order and random pruning.
    pub seed: u64,
    /// When and on how much held-out data to evaluate.
    pub eval: EvalConfig,
    /// Which parameters the observables count: `linear` (the prunable matrices, as in the paper), `non_embedding` or `total`.
    pub count: Count,
    /// The arithmetic of the matrix products: `f32`, `tf32` (CUDA) or `bf16`.
    pub precision: Precision,
}

/// `data NAME { .. }`: the data a trial trains and evaluates on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    /// Where the text or tokens come from: `text(path or [paths])`, `tokens(path, dtype = u16)`, `bundled(name)` or `synthetic { .. }`.
    pub source: Source,
    /// `bytes`, `bpe { vocab = 4096 }` trained on the training split, or `file("tokenizer.json")`.
    pub tokenizer: Tokenizer,
    /// Tokens per sequence.
    pub context: u64,
    /// Fraction held out for evaluation (unused when `valid` is set).
    pub holdout: f64,
    /// A separate evaluation source, instead of a held-out fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<Source>,
}

/// Paths are relative to the directory of the file that was checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `text(paths)`: text files, tokenized by the data's tokenizer.
    Text {
        /// Text files, decoded as UTF-8.
        paths: Vec<String>,
    },
    /// `tokens(path, dtype = u16)`: ids already tokenized.
    Tokens {
        /// A flat little-endian file of token ids.
        path: String,
        /// The type of each id.
        dtype: Dtype,
    },
    /// `bundled(name)`: a corpus that ships with sprs.
    Bundled {
        /// A corpus that ships with sprs, such as `shakespeare`.
        name: String,
    },
    /// A generated Markov language.
    Synthetic(SyntheticConfig),
}

/// The type of each id in a token file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    /// Two bytes per id.
    U16,
    /// Four bytes per id.
    U32,
}

/// `synthetic { .. }`: a language generated from a seed, with a known entropy rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticConfig {
    /// Number of distinct tokens.
    pub vocab: u64,
    /// Markov order: how many previous tokens determine the next.
    pub order: u64,
    /// Successors of each context, chosen uniformly: the entropy rate is ln(branching) nats/token.
    pub branching: u64,
    /// Length of the generated corpus.
    pub tokens: u64,
    /// Seed of the generated language.
    pub seed: u64,
}

/// How text becomes token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// One token per byte (vocabulary 256).
    Bytes,
    /// `bpe { vocab = .. }`: byte-pair encoding trained on the training split.
    Bpe {
        /// The vocabulary, the 256 byte tokens included.
        vocab: u64,
    },
    /// `file("tokenizer.json")`: a Hugging Face tokenizer.
    File {
        /// A Hugging Face `tokenizer.json`.
        path: String,
    },
}

/// `model NAME { .. }`: a decoder-only transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `llama` (RMSNorm, SwiGLU, rotary positions) or `gpt` (LayerNorm, GELU, learned positions).
    pub arch: Arch,
    /// Model dimension.
    pub width: u64,
    /// Number of transformer blocks.
    pub depth: u64,
    /// Attention heads; must divide `width`.
    pub heads: u64,
    /// Hidden size of each block's feed-forward layer.
    pub mlp: u64,
    /// Vocabulary size (default: the tokenizer's).
    pub vocab: u64,
    /// Maximum sequence length (default: the data's).
    pub context: u64,
    /// Share the input embedding with the output head.
    pub tie_embeddings: bool,
}

/// The largest vocabulary a model may have.
pub const MAX_VOCAB: u64 = 16_777_216;

/// The epsilon of every norm of both architectures (RMSNorm and LayerNorm), as in LLaMA and GPT-2.
pub const NORM_EPS: f64 = 1e-5;
/// The base of the rotary position frequencies (`llama`): pair `i` of a head of `d` dimensions
/// turns by `position / ROPE_THETA^(2i / d)`.
pub const ROPE_THETA: f64 = 10_000.0;

/// The transformer family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// RMSNorm, SwiGLU, rotary positions.
    Llama,
    /// LayerNorm, GELU, learned positions.
    Gpt,
}

/// `schedule NAME { .. }`: how the prunable weights are masked during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// `none`, `magnitude` (smallest weights first) or `random`.
    pub method: Method,
    /// Final fraction of prunable weights that are zero, in [0, 1).
    pub sparsity: f64,
    /// First pruning update: a fraction `of steps` (default), `of compute` or `of tokens`, or a number of steps or tokens.
    pub start: Point,
    /// Last pruning update, inclusive; same forms as `start`.
    pub end: Point,
    /// Interval between mask updates: steps, or a fraction of training.
    pub every: Interval,
    /// `cubic` (Zhu & Gupta 2017), `geometric` (the same fraction of the remaining weights at every update), `linear` or `one_shot`.
    pub curve: Curve,
    /// `global`: one threshold across all prunable weights; `layerwise`: one per matrix.
    pub scope: Scope,
    /// Prunable weight groups: `attention`, `mlp`, `head` (the output head, when untied); embeddings, norms and biases never.
    pub targets: Vec<Target>,
}

/// Which weights are pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// No pruning: a dense trial.
    None,
    /// The smallest weights by magnitude.
    Magnitude,
    /// Weights chosen at random (seeded by the trial).
    Random,
}

/// How sparsity grows from `start` to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Curve {
    /// Zhu & Gupta's cubic: fast at first, slow near the end.
    Cubic,
    /// The same fraction of the remaining weights at every update.
    Geometric,
    /// The same fraction of all weights at every update.
    Linear,
    /// All at once, at `end`.
    OneShot,
}

/// Where a pruning threshold applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One threshold across all prunable weights.
    Global,
    /// One threshold per matrix.
    Layerwise,
}

/// A group of prunable weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The q, k, v and o projections.
    Attention,
    /// The feed-forward matrices.
    Mlp,
    /// The output head, when it is not tied to the embedding.
    Head,
}

/// A point in training: a fraction of steps, tokens or compute, or an absolute count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Point {
    /// A fraction of the run, measured in steps, tokens or compute.
    Fraction {
        /// The fraction, in [0, 1].
        value: f64,
        /// What it is a fraction of.
        of: Basis,
    },
    /// After this many optimizer steps.
    Steps(u64),
    /// After this many training tokens.
    Tokens(u64),
}

/// A length of training: a number of steps, or a fraction of training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// This many optimizer steps.
    Steps(u64),
    /// This fraction of the run's steps.
    Fraction(f64),
}

/// `optimizer NAME { .. }`: AdamW with warmup and decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Adam's moment decay rates.
    pub betas: [f64; 2],
    /// Adam's epsilon.
    pub eps: f64,
    /// Decoupled weight decay (not applied to norms, biases and embeddings).
    pub weight_decay: f64,
    /// Clip the global gradient norm to this; 0 turns clipping off.
    pub grad_clip: f64,
    /// Linear warmup: steps, or a fraction of training.
    pub warmup: Interval,
    /// Learning-rate decay after warmup: `cosine`, `linear` or `constant`.
    pub decay: Decay,
    /// Final learning rate, as a fraction of `lr`.
    pub min_lr: f64,
}

/// How the learning rate falls after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// Half a cosine down to `min_lr`.
    Cosine,
    /// A straight line down to `min_lr`.
    Linear,
    /// No decay.
    Constant,
}

/// How long a trial trains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// This many training tokens.
    Tokens(f64),
    /// This many optimizer steps.
    Steps(u64),
    /// This much training compute, sparse-aware.
    Flops(f64),
    /// This many tokens per counted parameter (N).
    TokensPerParam(f64),
}

/// A train's `eval { .. }`: when and on how much held-out data to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Evaluation interval: steps, or a fraction of training.
    pub every: Interval,
    /// Held-out tokens per evaluation.
    pub tokens: u64,
}

/// The arithmetic of a trial's matrix products. Weights, AdamW's state, norms, softmax and the
/// loss are `f32` in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// `f32` products.
    F32,
    /// TensorFloat-32 products (inputs rounded to 10 bits of mantissa, `f32` sums): CUDA only.
    Tf32,
    /// Products of `bf16` inputs with `f32` sums, rounded to `bf16`, then used in `f32`.
    Bf16,
}

/// Which parameters the observables N, N_final and N_avg count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Count {
    /// The prunable matrices, as in the paper.
    Linear,
    /// Every parameter except the embeddings.
    NonEmbedding,
    /// Every parameter.
    Total,
}
