//! The decoders, built in Burn from a trial's [`ModelConfig`], matrix for matrix as
//! [`crate::plan::Shape`] counts them: a test checks that both agree on every parameter.
//!
//! Shapes in comments: `[batch, seq]` token ids, `[batch, seq, width]` activations,
//! `[batch, heads, seq, head_dim]` attention tensors.

use burn::module::{Module, Param};
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig,
    RotaryEncoding, RotaryEncodingConfig,
};
use burn::tensor::activation::gelu;
use burn::tensor::{DType, Device, Int, Tensor};

use super::kernels;
use crate::config::{Arch, ModelConfig, Precision, Target, NORM_EPS, ROPE_THETA};

/// A layer whose values [`Decoder::from_tensors`] replaces: Burn draws lazily, so nothing is
/// drawn here.
fn linear(d_in: u64, d_out: u64, bias: bool, device: &Device) -> Linear {
    LinearConfig::new(d_in as usize, d_out as usize).with_bias(bias).with_initializer(Initializer::Zeros).init(device)
}

/// `a @ b` in `precision`: for `bf16`, the inputs rounded to bf16, the product's sums in f32 and
/// its values rounded to bf16, then used in f32 (as `torch.autocast` does for a product).
fn product<const D: usize>(precision: Precision, a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    match precision {
        Precision::Bf16 => a.cast(DType::BF16).matmul(b.cast(DType::BF16)).cast(DType::F32),
        Precision::F32 | Precision::Tf32 => a.matmul(b),
    }
}

/// [`product`] of two matrices, on flex in f32 by [`kernels::matmul`].
fn matrix_product(precision: Precision, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    match precision {
        Precision::F32 | Precision::Tf32 => kernels::matmul(a, b),
        Precision::Bf16 => product(precision, a, b),
    }
}

/// `x @ weight + bias`, `[batch, seq, d_in]` to `[batch, seq, d_out]`, as one `[batch * seq, d_in]`
/// product: a product per sequence would pack the weight once per sequence, and its gradient
/// would be a sum of per-sequence products.
fn project(precision: Precision, x: Tensor<3>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<3> {
    let [batch, seq, d_in] = x.dims();
    let d_out = weight.dims()[1];
    let mut out = matrix_product(precision, x.reshape([batch * seq, d_in]), weight);
    if let Some(bias) = bias {
        out = out + bias.unsqueeze();
    }
    out.reshape([batch, seq, d_out])
}

/// [`project`] by `linear`'s weight and bias.
fn apply(precision: Precision, linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    project(precision, x, linear.weight.val(), linear.bias.as_ref().map(|b| b.val()))
}

/// RMSNorm (`llama`) or LayerNorm with bias (`gpt`).
#[derive(Module, Debug)]
pub enum Norm {
    /// RMSNorm (llama).
    Rms(RmsNorm),
    /// LayerNorm (gpt).
    Layer(LayerNorm),
}

impl Norm {
    fn new(arch: Arch, width: u64, device: &Device) -> Norm {
        match arch {
            Arch::Llama => Norm::Rms(RmsNormConfig::new(width as usize).with_epsilon(NORM_EPS).init(device)),
            Arch::Gpt => Norm::Layer(LayerNormConfig::new(width as usize).with_epsilon(NORM_EPS).init(device)),
        }
    }

    /// `[batch, seq, width]` to the same.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Norm::Rms(norm) => kernels::rms_norm(norm, x),
            Norm::Layer(norm) => norm.forward(x),
        }
    }
}

/// Causal multi-head self-attention; rotary positions for `llama`.
#[derive(Module, Debug)]
pub struct Attention {
    /// The query projection.
    pub q: Linear,
    /// The key projection.
    pub k: Linear,
    /// The value projection.
    pub v: Linear,
    /// The output projection.
    pub o: Linear,
    rope: Option<RotaryEncoding>,
    heads: usize,
}

impl Attention {
    fn new(config: &ModelConfig, device: &Device) -> Attention {
        let (d, bias) = (config.width, config.arch == Arch::Gpt);
        let head_dim = (config.width / config.heads) as usize;
        let rope = (config.arch == Arch::Llama).then(|| {
            RotaryEncodingConfig::new(config.context as usize, head_dim).with_theta(ROPE_THETA as f32).init(device)
        });
        Attention {
            q: linear(d, d, bias, device),
            k: linear(d, d, bias, device),
            v: linear(d, d, bias, device),
            o: linear(d, d, bias, device),
            rope,
            heads: config.heads as usize,
        }
    }

    /// `[batch, seq, width]` to the same.
    fn forward(&self, precision: Precision, x: Tensor<3>) -> Tensor<3> {
        // One product over [width, 3 * width] for q, k and v: x is read once.
        let weight = Tensor::cat(vec![self.q.weight.val(), self.k.weight.val(), self.v.weight.val()], 1);
        let bias = match (&self.q.bias, &self.k.bias, &self.v.bias) {
            (Some(q), Some(k), Some(v)) => Some(Tensor::cat(vec![q.val(), k.val(), v.val()], 0)),
            _ => None,
        };
        let qkv = project(precision, x, weight, bias);
        let products = |a, b| product(precision, a, b);
        let out = kernels::attention(qkv, self.heads, self.rope.as_ref(), &products, precision == Precision::F32);
        apply(precision, &self.o, out)
    }
}

/// The feed-forward layer: SwiGLU (`llama`) or GELU (`gpt`).
#[derive(Module, Debug)]
pub struct Mlp {
    /// SwiGLU's gate; absent for GELU.
    pub gate: Option<Linear>,
    /// SwiGLU's `up`, or GELU's `fc`.
    pub up: Linear,
    /// SwiGLU's `down`, or GELU's `proj`.
    pub down: Linear,
}

impl Mlp {
    fn new(config: &ModelConfig, device: &Device) -> Mlp {
        let (d, m, bias) = (config.width, config.mlp, config.arch == Arch::Gpt);
        Mlp {
            gate: (config.arch == Arch::Llama).then(|| linear(d, m, false, device)),
            up: linear(d, m, bias, device),
            down: linear(m, d, bias, device),
        }
    }

    /// `[batch, seq, width]` to the same.
    fn forward(&self, precision: Precision, x: Tensor<3>) -> Tensor<3> {
        let hidden = match &self.gate {
            // One product over [width, 2 * mlp] for the gate and up: x is read once.
            Some(gate) => {
                let weight = Tensor::cat(vec![gate.weight.val(), self.up.weight.val()], 1);
                kernels::swiglu(project(precision, x, weight, None))
            }
            None => gelu(apply(precision, &self.up, x)),
        };
        apply(precision, &self.down, hidden)
    }
}

/// A pre-norm transformer block.
#[derive(Module, Debug)]
pub struct Block {
    /// The norm before attention.
    pub norm_1: Norm,
    /// Causal self-attention.
    pub attention: Attention,
    /// The norm before the feed-forward layer.
    pub norm_2: Norm,
    /// The feed-forward layer.
    pub mlp: Mlp,
}

/// A decoder-only language model.
#[derive(Module, Debug)]
pub struct Decoder {
    /// The token embedding (and the head, when tied).
    pub embedding: Embedding,
    /// Learned positions (`gpt`).
    pub positions: Option<Embedding>,
    /// The transformer blocks.
    pub blocks: Vec<Block>,
    /// The final norm.
    pub norm: Norm,
    /// The untied output head; when tied, the embedding matrix is used.
    pub head: Option<Linear>,
    /// The arithmetic of the matrix products.
    #[module(skip)]
    precision: Precision,
}

impl Decoder {
    /// The model of a trial of `seed`, initialised on the host ([`super::init`]): the same
    /// values on every backend.
    pub fn new(config: &ModelConfig, seed: u64, device: &Device) -> Decoder {
        // Invariant: the initial tensors are the model's by construction.
        Decoder::from_tensors(config, super::init::initial_tensors(config, seed), device)
            .expect("the initial tensors fit the model")
    }

    /// The same model computing its matrix products in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Decoder {
        self.precision = precision;
        self
    }

    /// The model's layers, with values that [`Decoder::from_tensors`] replaces.
    pub(super) fn lazy(config: &ModelConfig, device: &Device) -> Decoder {
        let embed = |rows: u64| {
            EmbeddingConfig::new(rows as usize, config.width as usize).with_initializer(Initializer::Zeros).init(device)
        };
        Decoder {
            embedding: embed(config.vocab),
            positions: (config.arch == Arch::Gpt).then(|| embed(config.context)),
            blocks: (0..config.depth)
                .map(|_| Block {
                    norm_1: Norm::new(config.arch, config.width, device),
                    attention: Attention::new(config, device),
                    norm_2: Norm::new(config.arch, config.width, device),
                    mlp: Mlp::new(config, device),
                })
                .collect(),
            norm: Norm::new(config.arch, config.width, device),
            head: (!config.tie_embeddings).then(|| linear(config.width, config.vocab, false, device)),
            precision: Precision::F32,
        }
    }

    /// Every weight matrix with its group, in the planner's order ([`crate::plan::Shape`]): per
    /// block q, k, v, o, then the feed-forward matrices, then an untied head.
    fn matrix_params(&self) -> Vec<(Target, &Param<Tensor<2>>)> {
        let mut out = Vec::new();
        for block in &self.blocks {
            let a = &block.attention;
            out.extend([&a.q, &a.k, &a.v, &a.o].map(|l| (Target::Attention, &l.weight)));
            out.extend(block.mlp.gate.iter().map(|l| (Target::Mlp, &l.weight)));
            out.extend([&block.mlp.up, &block.mlp.down].map(|l| (Target::Mlp, &l.weight)));
        }
        out.extend(self.head.iter().map(|l| (Target::Head, &l.weight)));
        out
    }

    /// Every weight matrix (the parameters that take weight decay).
    pub fn matrices(&self) -> Vec<&Param<Tensor<2>>> {
        self.matrix_params().into_iter().map(|(_, p)| p).collect()
    }

    /// The matrices of the `targets` groups, in the planner's order.
    pub fn prunable(&self, targets: &[Target]) -> Vec<&Param<Tensor<2>>> {
        self.matrix_params().into_iter().filter(|(g, _)| targets.contains(g)).map(|(_, p)| p).collect()
    }

    /// Replaces each prunable matrix `i` (in [`Decoder::prunable`]'s order) by `f(i, matrix)`.
    pub fn map_prunable(
        mut self,
        targets: &[Target],
        mut f: impl FnMut(usize, Param<Tensor<2>>) -> Param<Tensor<2>>,
    ) -> Self {
        let mut index = 0;
        let mut apply = |group: Target, linear: &mut Linear| {
            if targets.contains(&group) {
                linear.weight = f(index, linear.weight.clone());
                index += 1;
            }
        };
        for block in &mut self.blocks {
            let a = &mut block.attention;
            for linear in [&mut a.q, &mut a.k, &mut a.v, &mut a.o] {
                apply(Target::Attention, linear);
            }
            if let Some(gate) = &mut block.mlp.gate {
                apply(Target::Mlp, gate);
            }
            apply(Target::Mlp, &mut block.mlp.up);
            apply(Target::Mlp, &mut block.mlp.down);
        }
        if let Some(head) = &mut self.head {
            apply(Target::Head, head);
        }
        self
    }

    /// `[batch, seq]` token ids to `[batch, seq, vocab]` logits.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = tokens.dims();
        let mut x = self.embedding.forward(tokens.clone());
        if let Some(positions) = &self.positions {
            let ids = Tensor::<1, Int>::arange(0..seq as i64, &tokens.device()).reshape([1, seq]).expand([batch, seq]);
            x = x + positions.forward(ids);
        }
        for block in &self.blocks {
            x = x.clone() + block.attention.forward(self.precision, block.norm_1.forward(x));
            x = x.clone() + block.mlp.forward(self.precision, block.norm_2.forward(x));
        }
        let x = self.norm.forward(x);
        match &self.head {
            Some(head) => apply(self.precision, head, x),
            None => {
                // Tied: logits = x @ embedding^T, as [batch * seq, width] x [width, vocab] (one
                // matrix product, rather than the embedding expanded over the batch).
                let [_, _, width] = x.dims();
                let vocab = self.embedding.weight.dims()[0];
                let embedding = self.embedding.weight.val().transpose();
                let logits = matrix_product(self.precision, x.reshape([batch * seq, width]), embedding);
                logits.reshape([batch, seq, vocab])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Shape;

    fn config(arch: Arch, width: u64, depth: u64, heads: u64, mlp: u64, tie: bool) -> ModelConfig {
        ModelConfig { arch, width, depth, heads, mlp, vocab: 256, context: 32, tie_embeddings: tie }
    }

    /// Burn's parameter count equals the planner's for several shapes of both architectures.
    #[test]
    fn parameter_counts_match_the_planner() {
        let device = crate::train::backend::cpu();
        for config in [
            config(Arch::Llama, 32, 2, 2, 128, false),
            config(Arch::Llama, 48, 3, 3, 96, true),
            config(Arch::Gpt, 32, 2, 4, 128, true),
            config(Arch::Gpt, 24, 1, 2, 40, false),
        ] {
            let model = Decoder::new(&config, 1, &device);
            assert_eq!(model.num_params() as u64, Shape::of(&config).counts().total, "{config:?}");
        }
    }

    /// The prunable matrices are the planner's, in its order and sizes.
    #[test]
    fn prunable_matrices_follow_the_planner() {
        let device = crate::train::backend::cpu();
        let all = [Target::Attention, Target::Mlp, Target::Head];
        for config in [config(Arch::Llama, 32, 2, 2, 128, false), config(Arch::Gpt, 24, 2, 2, 40, false)] {
            let model = Decoder::new(&config, 1, &device);
            let sizes: Vec<u64> = model.prunable(&all).iter().map(|w| w.val().shape().num_elements() as u64).collect();
            let planned: Vec<u64> = Shape::of(&config).prunable(&all).map(|m| m.size()).collect();
            assert_eq!(sizes, planned);
            let mlp: usize = model.prunable(&[Target::Mlp]).len();
            assert_eq!(mlp, Shape::of(&config).prunable(&[Target::Mlp]).count());
        }
    }

    /// `x` rounded to the nearest bf16 (ties to even), as an f32.
    fn bf16(x: f32) -> f32 {
        let bits = x.to_bits();
        f32::from_bits((bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff_0000)
    }

    /// A bf16 product is the f32 product of bf16-rounded inputs, rounded to bf16: every value
    /// has a bf16's 8 bits of mantissa, and is at most one bf16 step from the product computed
    /// here on the host.
    #[test]
    fn bf16_products_round_inputs_and_outputs() {
        let device = crate::train::backend::cpu();
        let (m, k, n) = (5, 37, 3);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1000) as f32 / 997.0 - 0.5) * 3.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 1000) as f32 / 991.0 - 0.5) * 1.7).collect();
        let tensor = |values: &[f32], shape: [usize; 2]| {
            Tensor::<2>::from_data(burn::tensor::TensorData::new(values.to_vec(), shape), &device)
        };
        let got =
            product(Precision::Bf16, tensor(&a, [m, k]), tensor(&b, [k, n])).into_data().try_to_vec::<f32>().unwrap();
        let f32s =
            product(Precision::F32, tensor(&a, [m, k]), tensor(&b, [k, n])).into_data().try_to_vec::<f32>().unwrap();
        for i in 0..m {
            for j in 0..n {
                let sum: f32 = (0..k).map(|l| bf16(a[i * k + l]) * bf16(b[l * n + j])).sum();
                let (got, want) = (got[i * n + j], bf16(sum));
                assert_eq!(got.to_bits() & 0xffff, 0, "{got} is not a bf16");
                let step = f32::from_bits(want.abs().to_bits() & 0x7f80_0000) / 128.0;
                assert!((got - want).abs() <= step, "{got} against {want}");
            }
        }
        assert_ne!(got, f32s, "the f32 product is not rounded");
    }

    #[test]
    fn forward_gives_logits_over_the_vocabulary() {
        let device = crate::train::backend::cpu();
        for arch in [Arch::Llama, Arch::Gpt] {
            let model = Decoder::new(&config(arch, 32, 2, 2, 64, arch == Arch::Gpt), 1, &device);
            let tokens = Tensor::<2, Int>::from_ints([[1, 2, 3, 4], [5, 6, 7, 8]], &device);
            assert_eq!(model.forward(tokens).dims(), [2, 4, 256]);
        }
    }
}
