//! The kinds of record and their fields (docs/language.md, "Kinds and their fields"; docs/reference.md): each field's type, unit, range,
//! default and documentation. Defaults are sprs expressions, evaluated like any field (so they
//! may refer to prelude names such as `dense` or `adamw`).

use std::fmt;

use super::units::Unit;

/// A kind of record: the five item kinds, fits, and the nested records fields take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `data NAME { .. }`.
    Data,
    /// `model NAME { .. }`.
    Model,
    /// `schedule NAME { .. }`.
    Schedule,
    /// `optimizer NAME { .. }`.
    Optimizer,
    /// `train NAME { .. }`.
    Train,
    /// `fit NAME { .. }`.
    Fit,
    /// The `eval` record of a train.
    Eval,
    /// The `bpe { .. }` tokenizer of a data record.
    Bpe,
    /// The `synthetic { .. }` source of a data record.
    Synthetic,
}

impl Kind {
    /// The kind's name as the language writes it: `model`, `bpe`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Data => "data",
            Kind::Model => "model",
            Kind::Schedule => "schedule",
            Kind::Optimizer => "optimizer",
            Kind::Train => "train",
            Kind::Fit => "fit",
            Kind::Eval => "eval",
            Kind::Bpe => "bpe",
            Kind::Synthetic => "synthetic",
        }
    }

    /// "a model", "an eval record".
    pub fn article(self) -> String {
        match self {
            Kind::Eval => "an eval record".into(),
            Kind::Data => "a data record".into(),
            Kind::Optimizer => "an optimizer".into(),
            Kind::Bpe => "a `bpe` tokenizer".into(),
            Kind::Synthetic => "a `synthetic` source".into(),
            other => format!("a {}", other.name()),
        }
    }

    /// The kind's fields, in declaration order (the order of a trial's canonical configuration).
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Kind::Data => DATA,
            Kind::Model => MODEL,
            Kind::Schedule => SCHEDULE,
            Kind::Optimizer => OPTIMIZER,
            Kind::Train => TRAIN,
            Kind::Fit => FIT,
            Kind::Eval => EVAL,
            Kind::Bpe => BPE,
            Kind::Synthetic => SYNTHETIC,
        }
    }

    /// The kind an item keyword introduces: `data`, `model`, `schedule`, `optimizer`, `train`
    /// or `fit`.
    pub fn of_keyword(word: &str) -> Option<Kind> {
        match word {
            "data" => Some(Kind::Data),
            "model" => Some(Kind::Model),
            "schedule" => Some(Kind::Schedule),
            "optimizer" => Some(Kind::Optimizer),
            "train" => Some(Kind::Train),
            "fit" => Some(Kind::Fit),
            _ => None,
        }
    }

    /// The field called `name`, if the kind has one.
    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().iter().find(|f| f.name == name)
    }
}

/// One end of an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// The end is allowed.
    Closed(f64),
    /// The end is excluded.
    Open(f64),
}

/// The interval a number must lie in: `[0, 1)` is `Bounds::new(Closed(0.0), Open(1.0))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// The lower end.
    pub min: Bound,
    /// The upper end (may be `f64::INFINITY`, shown as `inf`).
    pub max: Bound,
}

impl Bounds {
    /// `[min, max]`.
    pub const fn closed(min: f64, max: f64) -> Bounds {
        Bounds { min: Bound::Closed(min), max: Bound::Closed(max) }
    }

    /// Any two ends.
    pub const fn new(min: Bound, max: Bound) -> Bounds {
        Bounds { min, max }
    }

    /// `[0, 1)`: a fraction that cannot be all of something (a sparsity, a held-out share).
    pub const PROPER_FRACTION: Bounds = Bounds::new(Bound::Closed(0.0), Bound::Open(1.0));

    /// `[0, 1]`.
    pub const FRACTION: Bounds = Bounds::closed(0.0, 1.0);

    /// Whether `n` lies in the interval (`NaN` does not).
    pub fn contains(self, n: f64) -> bool {
        let above_min = match self.min {
            Bound::Closed(min) => n >= min,
            Bound::Open(min) => n > min,
        };
        let below_max = match self.max {
            Bound::Closed(max) => n <= max,
            Bound::Open(max) => n < max,
        };
        above_min && below_max
    }
}

/// `[0, 1)`, `(0, 10]`, `[0, inf)`.
impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |x: f64| if x.is_infinite() { "inf".to_string() } else { crate::format::number(x) };
        let (open, min) = match self.min {
            Bound::Closed(min) => ('[', min),
            Bound::Open(min) => ('(', min),
        };
        let (close, max) = match self.max {
            Bound::Closed(max) => (']', max),
            Bound::Open(max) => (')', max),
        };
        write!(f, "{open}{}, {}{close}", end(min), end(max))
    }
}

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    /// A whole number in `[min, max]`, plain or in `unit` (if `unit` is not `NONE`).
    Count {
        /// The smallest allowed value.
        min: f64,
        /// The largest allowed value.
        max: f64,
        /// The unit it may be written in besides plain.
        unit: Unit,
    },
    /// A plain real number in the interval.
    Real(Bounds),
    /// A plain fraction in the interval (within `[0, 1]`); written `25%` or `0.25`.
    Fraction(Bounds),
    /// One of these words.
    Word(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// A nested record of this kind.
    Record(Kind),
    /// A list of words.
    Words(&'static [&'static str]),
    /// `text(..)`, `tokens(..)`, `bundled(..)` or `synthetic { .. }`.
    Source,
    /// `bytes`, `bpe { .. }` or `file(..)`.
    Tokenizer,
    /// A schedule boundary: a fraction (`of steps` by default, or `of compute`/`of tokens`), or
    /// an absolute number of steps or tokens.
    Point,
    /// An interval: a number of steps, or a fraction of training.
    Interval,
    /// `X tokens`, `X steps`, `X flops` or `R tokens/param`.
    Budget,
    /// Two numbers in `[0, 1)`: `(0.9, 0.95)`.
    Betas,
    /// The data of a fit: sweeps, trains or `csv(..)`, each optionally `where COND`.
    FitOn,
    /// An expression over observables and free parameters, kept unevaluated.
    Law,
    /// A record naming each free parameter with its start grid.
    Params,
    /// `huber(delta)` or `mse`.
    Loss,
    /// `largest(OBS, k)` or `smallest(OBS, k)`.
    Holdout,
}

/// What a field holds when a record does not set it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldDefault {
    /// The field must be set.
    Required,
    /// Unset means absent; a later phase fills it in (as `model.vocab` from the tokenizer).
    Absent,
    /// An sprs expression.
    Expr(&'static str),
}

/// One field of a record kind: its name, type, default and documentation.
#[derive(Debug)]
pub struct FieldSpec {
    /// The field's name.
    pub name: &'static str,
    /// What values it takes.
    pub ty: Ty,
    /// What it holds when a record does not set it.
    pub default: FieldDefault,
    /// What it means, as `sprs explain` and docs/reference.md show it.
    pub doc: &'static str,
}

const fn field(name: &'static str, ty: Ty, default: FieldDefault, doc: &'static str) -> FieldSpec {
    FieldSpec { name, ty, default, doc }
}

const fn count(min: f64, max: f64) -> Ty {
    Ty::Count { min, max, unit: Unit::NONE }
}

const MAX_COUNT: f64 = 9_007_199_254_740_992.0; // 2^53: every whole number up to it is exact

use FieldDefault::{Absent, Expr, Required};

/// The words of `model.arch`.
pub const ARCHS: &[&str] = &["llama", "gpt"];
/// The words of `schedule.method`.
pub const METHODS: &[&str] = &["none", "magnitude", "random"];
/// The words of `schedule.curve`.
pub const CURVES: &[&str] = &["cubic", "geometric", "linear", "one_shot"];
/// The words of `schedule.scope`.
pub const SCOPES: &[&str] = &["global", "layerwise"];
/// The words of `schedule.targets`.
pub const TARGETS: &[&str] = &["attention", "mlp", "head"];
/// The words of `optimizer.decay`.
pub const DECAYS: &[&str] = &["cosine", "linear", "constant"];
/// The words of `train.count`.
pub const COUNTS: &[&str] = &["linear", "non_embedding", "total"];
/// The words of `train.precision`.
pub const PRECISIONS: &[&str] = &["f32", "tf32", "bf16"];
/// The tokenizers written as a word.
pub const TOKENIZER_WORDS: &[&str] = &["bytes"];
/// The fit losses written as a word.
pub const LOSS_WORDS: &[&str] = &["mse"];
/// The element types of a token file.
pub const DTYPES: &[&str] = &["u16", "u32"];

static DATA: &[FieldSpec] = &[
    field("source", Ty::Source, Required, "where the text or tokens come from: `text(path or [paths])`, `tokens(path, dtype = u16)`, `bundled(name)` or `synthetic { .. }`"),
    field("tokenizer", Ty::Tokenizer, Expr("bytes"), "`bytes`, `bpe { vocab = 4096 }` trained on the training split, or `file(\"tokenizer.json\")`"),
    field("context", Ty::Count { min: 1.0, max: 1_048_576.0, unit: Unit::TOKENS }, Expr("128"), "tokens per training sequence"),
    field("holdout", Ty::Fraction(Bounds::PROPER_FRACTION), Expr("1%"), "fraction of the source held out for evaluation (ignored when `valid` is set)"),
    field("valid", Ty::Source, Absent, "a separate evaluation source, instead of a held-out fraction"),
];

static MODEL: &[FieldSpec] = &[
    field(
        "arch",
        Ty::Word(ARCHS),
        Expr("llama"),
        "`llama` (RMSNorm, SwiGLU, rotary positions) or `gpt` (LayerNorm, GELU, learned positions)",
    ),
    field("width", count(1.0, 1_048_576.0), Required, "model dimension"),
    field("depth", count(1.0, 4096.0), Required, "number of transformer blocks"),
    field("heads", count(1.0, 65_536.0), Required, "attention heads; must divide `width`"),
    field("mlp", count(1.0, 16_777_216.0), Required, "hidden size of each block's feed-forward layer"),
    field("vocab", count(2.0, crate::config::MAX_VOCAB as f64), Absent, "vocabulary size (default: the tokenizer's)"),
    field(
        "context",
        Ty::Count { min: 1.0, max: 1_048_576.0, unit: Unit::TOKENS },
        Absent,
        "maximum sequence length (default: the data's)",
    ),
    field("tie_embeddings", Ty::Bool, Expr("false"), "share the input embedding with the output head"),
];

static SCHEDULE: &[FieldSpec] = &[
    field("method", Ty::Word(METHODS), Expr("magnitude"), "`none`, `magnitude` (smallest weights first) or `random`"),
    field("sparsity", Ty::Fraction(Bounds::PROPER_FRACTION), Expr("0%"), "final fraction of prunable weights that are zero, in [0, 1)"),
    field("start", Ty::Point, Expr("0%"), "first pruning update: a fraction `of steps` (default), `of compute` or `of tokens`, or a number of steps or tokens"),
    field("end", Ty::Point, Expr("100%"), "last pruning update, inclusive; same forms as `start`"),
    field("every", Ty::Interval, Expr("100 steps"), "interval between mask updates: steps, or a fraction of training"),
    field("curve", Ty::Word(CURVES), Expr("cubic"), "`cubic` (Zhu & Gupta 2017), `geometric` (the same fraction of the remaining weights at every update), `linear` or `one_shot`"),
    field("scope", Ty::Word(SCOPES), Expr("global"), "`global`: one threshold across all prunable weights; `layerwise`: one per matrix"),
    field("targets", Ty::Words(TARGETS), Expr("[attention, mlp, head]"), "prunable weight groups: `attention`, `mlp`, `head` (the output head, when untied); embeddings, norms and biases never"),
];

static OPTIMIZER: &[FieldSpec] = &[
    field("lr", Ty::Real(Bounds::new(Bound::Open(0.0), Bound::Closed(10.0))), Expr("3e-4"), "peak learning rate"),
    field("betas", Ty::Betas, Expr("(0.9, 0.95)"), "Adam's moment decay rates"),
    field("eps", Ty::Real(Bounds::new(Bound::Open(0.0), Bound::Open(1.0))), Expr("1e-8"), "Adam's epsilon"),
    field(
        "weight_decay",
        Ty::Real(Bounds::closed(0.0, 10.0)),
        Expr("0.1"),
        "decoupled weight decay (not applied to norms, biases and embeddings)",
    ),
    field(
        "grad_clip",
        Ty::Real(Bounds::new(Bound::Closed(0.0), Bound::Open(f64::INFINITY))),
        Expr("1.0"),
        "clip the global gradient norm to this; 0 turns clipping off",
    ),
    field("warmup", Ty::Interval, Expr("1%"), "linear warmup: steps, or a fraction of training"),
    field(
        "decay",
        Ty::Word(DECAYS),
        Expr("cosine"),
        "learning-rate decay after warmup: `cosine`, `linear` or `constant`",
    ),
    field("min_lr", Ty::Fraction(Bounds::FRACTION), Expr("10%"), "final learning rate, as a fraction of `lr`"),
];

static TRAIN: &[FieldSpec] = &[
    field("data", Ty::Record(Kind::Data), Required, "the data to train and evaluate on"),
    field("model", Ty::Record(Kind::Model), Required, "the model"),
    field("prune", Ty::Record(Kind::Schedule), Expr("dense"), "the pruning schedule"),
    field("optimizer", Ty::Record(Kind::Optimizer), Expr("adamw"), "the optimizer"),
    field("batch", Ty::Count { min: 1.0, max: 16_777_216.0, unit: Unit::SEQUENCES }, Expr("32"), "sequences per optimizer step"),
    field("budget", Ty::Budget, Required, "`X tokens`, `X steps`, `X flops` (sparse-aware), or `R tokens/param`"),
    field("seed", count(0.0, MAX_COUNT), Expr("0"), "seed for initialisation, data order and random pruning"),
    field("eval", Ty::Record(Kind::Eval), Expr("{}"), "when and on how much held-out data to evaluate"),
    field("count", Ty::Word(COUNTS), Expr("linear"), "which parameters the observables count: `linear` (the prunable matrices, as in the paper), `non_embedding` or `total`"),
    field("precision", Ty::Word(PRECISIONS), Expr("f32"), "the matrix products' arithmetic: `f32`, `tf32` (CUDA only) or `bf16` (weights, optimizer state, norms, softmax and loss stay f32)"),
];

static EVAL: &[FieldSpec] = &[
    field("every", Ty::Interval, Expr("10%"), "evaluation interval: steps, or a fraction of training"),
    field(
        "tokens",
        Ty::Count { min: 1.0, max: MAX_COUNT, unit: Unit::TOKENS },
        Expr("256k"),
        "held-out tokens per evaluation",
    ),
];

static BPE: &[FieldSpec] =
    &[field("vocab", count(257.0, 1_048_576.0), Expr("4096"), "vocabulary size, including the 256 byte tokens")];

static SYNTHETIC: &[FieldSpec] = &[
    field("vocab", count(2.0, 65_536.0), Expr("256"), "number of distinct tokens"),
    field("order", count(1.0, 8.0), Expr("1"), "Markov order: how many previous tokens determine the next"),
    field(
        "branching",
        count(1.0, 65_536.0),
        Expr("4"),
        "successors of each context, chosen uniformly: the entropy rate is ln(branching) nats/token",
    ),
    field(
        "tokens",
        Ty::Count { min: 1.0, max: MAX_COUNT, unit: Unit::TOKENS },
        Expr("1M"),
        "length of the generated corpus",
    ),
    field("seed", count(0.0, MAX_COUNT), Expr("0"), "seed of the generated language"),
];

static FIT: &[FieldSpec] = &[
    field("on", Ty::FitOn, Required, "the data: a sweep or train name, a list of them, or `csv(path, columns = {..})`, each optionally `where COND`"),
    field("predict", Ty::FitOn, Absent, "points the fitted law is evaluated on but not fitted to, as for `on` (a law fitted on dense runs, predicting pruned ones)"),
    field("law", Ty::Law, Required, "an expression over observables and free parameters"),
    field("params", Ty::Params, Required, "each free parameter with its start grid: a list, or `{ log = [..] }` for a positive parameter fitted in log space"),
    field("loss", Ty::Loss, Expr("huber(1e-3)"), "`huber(delta)` on log residuals, or `mse`"),
    field("holdout", Ty::Holdout, Absent, "points kept out of the fit to test extrapolation: `largest(C, 3)` or `smallest(N, 2)`"),
    field("bootstrap", count(0.0, 1_000_000.0), Expr("100"), "resamples for confidence intervals; 0 turns them off"),
    field("seed", count(0.0, MAX_COUNT), Expr("0"), "seed of the bootstrap"),
];

/// Whether `name` is an observable a law or condition may use (`N`, `D`, `L`, ...).
pub fn is_observable(name: &str) -> bool {
    crate::observables::Observable::parse(name).is_some()
}

/// Walks a dotted path from a kind, returning the type of the last segment, or the index of the
/// first segment that does not exist.
pub fn path_type(kind: Kind, path: &[&str]) -> Result<Ty, usize> {
    let mut kind = kind;
    for (i, segment) in path.iter().enumerate() {
        let spec = kind.field(segment).ok_or(i)?;
        if i + 1 == path.len() {
            return Ok(spec.ty);
        }
        match spec.ty {
            Ty::Record(inner) => kind = inner,
            Ty::Source if path.get(i + 1).is_some() => kind = Kind::Synthetic,
            Ty::Tokenizer if path.get(i + 1).is_some() => kind = Kind::Bpe,
            _ => return Err(i + 1),
        }
    }
    Err(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_through_nested_records() {
        assert_eq!(path_type(Kind::Train, &["model", "width"]), Ok(count(1.0, 1_048_576.0)));
        assert_eq!(path_type(Kind::Train, &["model", "widht"]), Err(1));
        assert_eq!(path_type(Kind::Train, &["batch", "x"]), Err(1));
        assert!(matches!(path_type(Kind::Train, &["eval", "every"]), Ok(Ty::Interval)));
    }

    #[test]
    fn bounds_include_closed_ends_and_exclude_open_ones() {
        let proper = Bounds::PROPER_FRACTION;
        assert!(proper.contains(0.0) && proper.contains(0.999) && !proper.contains(1.0) && !proper.contains(-0.0001));
        let lr = Bounds::new(Bound::Open(0.0), Bound::Closed(10.0));
        assert!(!lr.contains(0.0) && lr.contains(1e-12) && lr.contains(10.0) && !lr.contains(10.000001));
        assert!(!Bounds::FRACTION.contains(f64::NAN));
        assert_eq!(proper.to_string(), "[0, 1)");
        assert_eq!(lr.to_string(), "(0, 10]");
        assert_eq!(Bounds::new(Bound::Closed(0.0), Bound::Open(f64::INFINITY)).to_string(), "[0, inf)");
    }
}
