//! The fully resolved configuration of a trial: plain serde data with every default filled in.
//! Its canonical JSON (fields in declaration order) is what a trial id hashes.

use serde::{Deserialize, Serialize};

/// What a fraction is a fraction of: `25% of compute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Steps,
    Tokens,
    Compute,
}

impl Basis {
    pub fn word(word: &str) -> Option<Basis> {
        match word {
            "steps" => Some(Basis::Steps),
            "tokens" => Some(Basis::Tokens),
            "compute" => Some(Basis::Compute),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialConfig {
    pub data: DataConfig,
    pub model: ModelConfig,
    pub prune: ScheduleConfig,
    pub optimizer: OptimizerConfig,
    /// Sequences per optimizer step.
    pub batch: u64,
    pub budget: Budget,
    pub seed: u64,
    pub eval: EvalConfig,
    pub count: Count,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub source: Source,
    pub tokenizer: Tokenizer,
    /// Tokens per sequence.
    pub context: u64,
    /// Fraction held out for evaluation (unused when `valid` is set).
    pub holdout: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<Source>,
}

/// Paths are relative to the directory of the file that was checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Text { paths: Vec<String> },
    Tokens { path: String, dtype: Dtype },
    Bundled { name: String },
    Synthetic(SyntheticConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    U16,
    U32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticConfig {
    pub vocab: u64,
    pub order: u64,
    pub branching: u64,
    pub tokens: u64,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    Bytes,
    Bpe { vocab: u64 },
    File { path: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub width: u64,
    pub depth: u64,
    pub heads: u64,
    pub mlp: u64,
    pub vocab: u64,
    pub context: u64,
    pub tie_embeddings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    Llama,
    Gpt,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    pub method: Method,
    pub sparsity: f64,
    pub start: Point,
    pub end: Point,
    pub every: Interval,
    pub curve: Curve,
    pub scope: Scope,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    None,
    Magnitude,
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Curve {
    Cubic,
    Geometric,
    Linear,
    OneShot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Global,
    Layerwise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Attention,
    Mlp,
    Head,
}

/// A point in training: a fraction of steps, tokens or compute, or an absolute count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Point {
    Fraction { value: f64, of: Basis },
    Steps(u64),
    Tokens(u64),
}

/// A length of training: a number of steps, or a fraction of training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Steps(u64),
    Fraction(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub lr: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub warmup: Interval,
    pub decay: Decay,
    pub min_lr: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    Cosine,
    Linear,
    Constant,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    Tokens(f64),
    Steps(u64),
    Flops(f64),
    TokensPerParam(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    pub every: Interval,
    pub tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Count {
    Linear,
    NonEmbedding,
    Total,
}
