//! Exact parameter counts of the two architectures, matrix by matrix.
//!
//! - `llama`: token embedding; per block q, k, v, o (width x width), SwiGLU gate and up
//!   (mlp x width) and down (width x mlp), two RMSNorm weights; a final RMSNorm; an untied head
//!   (vocab x width) unless `tie_embeddings`. No biases, no position embedding (rotary).
//! - `gpt`: token and learned position embeddings; per block q, k, v, o with biases, fc
//!   (mlp x width) and proj (width x mlp) with biases, two LayerNorms (weight and bias); a final
//!   LayerNorm; the head tied to the embedding unless `tie_embeddings = false` (then untied, no bias).
//!
//! `linear` counts the weight matrices of the blocks plus an untied head (the prunable kind of
//! parameter, as the paper counts N); `non_embedding` is the total less the token and position
//! embeddings; `total` is everything.

use serde::Serialize;

use crate::config::{Arch, Count, ModelConfig, Target};

/// One weight matrix: `rows x cols` (out x in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    /// The matrix's name, such as `blocks.0.attention.q`.
    pub name: String,
    /// The weight group it belongs to, for `targets`.
    pub group: Target,
    /// Output features.
    pub rows: u64,
    /// Input features.
    pub cols: u64,
}

impl Matrix {
    /// The number of weights.
    pub fn size(&self) -> u64 {
        self.rows * self.cols
    }
}

/// Every parameter of a model, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shape {
    /// The weight matrices of the blocks, then the untied head if there is one.
    pub matrices: Vec<Matrix>,
    /// Embedding weights (and the untied head is counted in the matrices).
    pub embedding: u64,
    /// Learned position embeddings (gpt).
    pub positions: u64,
    /// Norm weights.
    pub norms: u64,
    /// Bias vectors (gpt).
    pub biases: u64,
}

/// The parameter counts of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// The prunable matrices: the paper's N.
    pub linear: u64,
    /// Every parameter except the embeddings.
    pub non_embedding: u64,
    /// Every parameter.
    pub total: u64,
}

impl Shape {
    /// The shapes of a model's parameters.
    pub fn of(model: &ModelConfig) -> Shape {
        let (d, m, v) = (model.width, model.mlp, model.vocab);
        let mut matrices = Vec::new();
        let mut norms = 0;
        let mut biases = 0;
        for block in 0..model.depth {
            for name in ["q", "k", "v", "o"] {
                matrices.push(Matrix {
                    name: format!("blocks.{block}.attention.{name}"),
                    group: Target::Attention,
                    rows: d,
                    cols: d,
                });
            }
            match model.arch {
                Arch::Llama => {
                    for (name, rows, cols) in [("gate", m, d), ("up", m, d), ("down", d, m)] {
                        matrices.push(Matrix {
                            name: format!("blocks.{block}.mlp.{name}"),
                            group: Target::Mlp,
                            rows,
                            cols,
                        });
                    }
                    norms += 2 * d;
                }
                Arch::Gpt => {
                    for (name, rows, cols) in [("fc", m, d), ("proj", d, m)] {
                        matrices.push(Matrix {
                            name: format!("blocks.{block}.mlp.{name}"),
                            group: Target::Mlp,
                            rows,
                            cols,
                        });
                    }
                    // q, k, v, o biases; fc and proj biases; two LayerNorm biases.
                    biases += 4 * d + m + d + 2 * d;
                    norms += 2 * d;
                }
            }
        }
        norms += d;
        let positions = match model.arch {
            Arch::Llama => 0,
            Arch::Gpt => {
                biases += d;
                model.context * d
            }
        };
        if !model.tie_embeddings {
            matrices.push(Matrix { name: "head".into(), group: Target::Head, rows: v, cols: d });
        }
        Shape { matrices, embedding: v * d, positions, norms, biases }
    }

    /// The model's parameter counts.
    pub fn counts(&self) -> Counts {
        let linear: u64 = self.matrices.iter().map(Matrix::size).sum();
        let total = linear + self.embedding + self.positions + self.norms + self.biases;
        Counts { linear, non_embedding: total - self.embedding - self.positions, total }
    }

    /// The parameters a trial's observables count.
    pub fn counted(&self, count: Count) -> u64 {
        let counts = self.counts();
        match count {
            Count::Linear => counts.linear,
            Count::NonEmbedding => counts.non_embedding,
            Count::Total => counts.total,
        }
    }

    /// The matrices a schedule may prune.
    pub fn prunable<'a>(&'a self, targets: &'a [Target]) -> impl Iterator<Item = &'a Matrix> + 'a {
        self.matrices.iter().filter(move |m| targets.contains(&m.group))
    }
}

/// Where a tensor sits in the model: [`tensors`] lists them in the order `model.safetensors` holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The token embedding, `[vocab, width]`.
    Embedding,
    /// Learned positions (`gpt`), `[context, width]`.
    Positions,
    /// A block's norm before attention.
    Norm1,
    /// A block's query projection.
    Q,
    /// A block's key projection.
    K,
    /// A block's value projection.
    V,
    /// A block's output projection.
    O,
    /// A block's norm before the feed-forward layer.
    Norm2,
    /// SwiGLU's gate (`llama`).
    Gate,
    /// SwiGLU's up projection (`llama`).
    Up,
    /// SwiGLU's down projection (`llama`).
    Down,
    /// The GELU layer's first projection (`gpt`).
    Fc,
    /// The GELU layer's second projection (`gpt`).
    Proj,
    /// The final norm.
    Norm,
    /// The untied output head.
    Head,
}

/// One tensor of a model: where it sits, whether it is a bias (or a LayerNorm's shift), and its
/// shape as sprs keeps it. A linear layer's weight is `[in, out]` (Burn's layout, the transpose of
/// PyTorch's `nn.Linear`), the head `[width, vocab]`; embeddings `[rows, width]`; norms and
/// biases `[size]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The block, for a tensor inside one.
    pub block: Option<u64>,
    /// Where in the block or the model.
    pub part: Part,
    /// A bias (a LayerNorm's shift), rather than a weight (a norm's scale).
    pub bias: bool,
    /// The dimensions.
    pub shape: Vec<u64>,
}

impl TensorSpec {
    /// The tensor's name: the [`Matrix`] name of a weight matrix with `.weight` or `.bias`
    /// appended (`blocks.0.attention.q.weight`), and `embedding.weight`, `positions.weight`,
    /// `blocks.0.norm_1.weight`, `norm.bias` and so on.
    pub fn name(&self) -> String {
        let module = match self.part {
            Part::Embedding => "embedding",
            Part::Positions => "positions",
            Part::Norm1 => "norm_1",
            Part::Q => "attention.q",
            Part::K => "attention.k",
            Part::V => "attention.v",
            Part::O => "attention.o",
            Part::Norm2 => "norm_2",
            Part::Gate => "mlp.gate",
            Part::Up => "mlp.up",
            Part::Down => "mlp.down",
            Part::Fc => "mlp.fc",
            Part::Proj => "mlp.proj",
            Part::Norm => "norm",
            Part::Head => "head",
        };
        let kind = if self.bias { "bias" } else { "weight" };
        match self.block {
            Some(block) => format!("blocks.{block}.{module}.{kind}"),
            None => format!("{module}.{kind}"),
        }
    }

    /// The number of values.
    pub fn size(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// Every tensor of a model, in a fixed order: the token embedding and the learned positions; per
/// block its first norm, q, k, v, o, its second norm and the feed-forward matrices (each weight
/// followed by its bias, for `gpt`); the final norm; an untied head. Their sizes add up to
/// [`Counts::total`] (tested).
pub fn tensors(model: &ModelConfig) -> Vec<TensorSpec> {
    let (d, m, gpt) = (model.width, model.mlp, model.arch == Arch::Gpt);
    let mut out = Vec::new();
    let mut push = |block: Option<u64>, part: Part, shape: Vec<u64>, bias: Option<u64>| {
        out.push(TensorSpec { block, part, bias: false, shape });
        if let Some(size) = bias {
            out.push(TensorSpec { block, part, bias: true, shape: vec![size] });
        }
    };
    push(None, Part::Embedding, vec![model.vocab, d], None);
    if gpt {
        push(None, Part::Positions, vec![model.context, d], None);
    }
    // Norms: RMSNorm has a scale only, LayerNorm a scale and a shift; linear layers have biases
    // in `gpt` only.
    let shift = gpt.then_some(d);
    for b in (0..model.depth).map(Some) {
        push(b, Part::Norm1, vec![d], shift);
        for part in [Part::Q, Part::K, Part::V, Part::O] {
            push(b, part, vec![d, d], shift);
        }
        push(b, Part::Norm2, vec![d], shift);
        if gpt {
            push(b, Part::Fc, vec![d, m], Some(m));
            push(b, Part::Proj, vec![m, d], Some(d));
        } else {
            push(b, Part::Gate, vec![d, m], None);
            push(b, Part::Up, vec![d, m], None);
            push(b, Part::Down, vec![m, d], None);
        }
    }
    push(None, Part::Norm, vec![d], shift);
    if !model.tie_embeddings {
        push(None, Part::Head, vec![d, model.vocab], None);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(arch: Arch, width: u64, depth: u64, mlp: u64, vocab: u64, context: u64, tie: bool) -> ModelConfig {
        ModelConfig { arch, width, depth, heads: 1, mlp, vocab, context, tie_embeddings: tie }
    }

    /// The paper's 162M model: 137,822,208 linear and about 162.4M total parameters.
    #[test]
    fn llama_162m() {
        let counts = Shape::of(&model(Arch::Llama, 768, 12, 3072, 32000, 1024, false)).counts();
        assert_eq!(counts.linear, 137_822_208);
        // By hand: linear + embedding 32000 * 768 + norms 12 * 2 * 768 + 768.
        assert_eq!(counts.total, 137_822_208 + 24_576_000 + 19_200);
        assert_eq!((counts.total as f64 / 1e6 * 10.0).round() / 10.0, 162.4);
        assert_eq!(counts.non_embedding, counts.total - 24_576_000);
    }

    #[test]
    fn llama_1b_linear() {
        let counts = Shape::of(&model(Arch::Llama, 2048, 16, 8192, 32000, 2048, false)).counts();
        assert_eq!(counts.linear, 1_139_277_824);
    }

    /// GPT-2 small has 124,439,808 parameters (tied head), 85,056,000 of them non-embedding.
    #[test]
    fn gpt2_small() {
        let counts = Shape::of(&model(Arch::Gpt, 768, 12, 3072, 50257, 1024, true)).counts();
        assert_eq!(counts.total, 124_439_808);
        assert_eq!(counts.non_embedding, 85_056_000);
        assert_eq!(counts.linear, 12 * (4 * 768 * 768 + 2 * 768 * 3072));
    }

    #[test]
    fn hand_counted_small_shapes() {
        // llama, width 8, 1 block, mlp 16, vocab 10, untied: 4*64 + 3*128 = 640 in the block,
        // head 80, embedding 80, norms 2*8 + 8 = 24.
        let small = Shape::of(&model(Arch::Llama, 8, 1, 16, 10, 4, false));
        assert_eq!(small.counts(), Counts { linear: 720, non_embedding: 744, total: 824 });
        // Tied: no head matrix.
        let tied = Shape::of(&model(Arch::Llama, 8, 1, 16, 10, 4, true));
        assert_eq!(tied.counts(), Counts { linear: 640, non_embedding: 664, total: 744 });
        // gpt, width 4, 2 blocks, mlp 8, vocab 5, context 3, untied: per block 4*16 + 2*32 = 128
        // weights, biases 4*4 + 8 + 4 + 2*4 = 36, norms 8; head 20; embedding 20; positions 12;
        // final LayerNorm 4 + 4.
        let gpt = Shape::of(&model(Arch::Gpt, 4, 2, 8, 5, 3, false));
        let linear = 2 * 128 + 20;
        let total = linear + 20 + 12 + 2 * (36 + 8) + 8;
        assert_eq!(gpt.counts(), Counts { linear, non_embedding: total - 20 - 12, total });
    }

    /// The tensors of the weights file hold every counted parameter once, and each weight matrix
    /// under its matrix's name with its shape transposed.
    #[test]
    fn tensors_cover_every_parameter() {
        for config in [
            model(Arch::Llama, 8, 2, 16, 10, 4, false),
            model(Arch::Llama, 8, 1, 16, 10, 4, true),
            model(Arch::Gpt, 4, 2, 8, 5, 3, false),
            model(Arch::Gpt, 4, 3, 8, 5, 3, true),
        ] {
            let shape = Shape::of(&config);
            let tensors = tensors(&config);
            assert_eq!(tensors.iter().map(TensorSpec::size).sum::<u64>(), shape.counts().total, "{config:?}");
            let mut names: Vec<String> = tensors.iter().map(TensorSpec::name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), tensors.len(), "names are unique");
            for matrix in &shape.matrices {
                let weight = tensors.iter().find(|t| t.name() == format!("{}.weight", matrix.name)).unwrap();
                assert_eq!(weight.shape, [matrix.cols, matrix.rows], "{}", matrix.name);
            }
        }
    }

    #[test]
    fn prunable_follows_targets() {
        let shape = Shape::of(&model(Arch::Llama, 8, 2, 16, 10, 4, false));
        let mlp_only: u64 = shape.prunable(&[Target::Mlp]).map(Matrix::size).sum();
        assert_eq!(mlp_only, 2 * 3 * 128);
        let all: u64 = shape.prunable(&[Target::Attention, Target::Mlp, Target::Head]).map(Matrix::size).sum();
        assert_eq!(all, shape.counts().linear);
    }
}
