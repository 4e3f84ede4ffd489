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
use burn::tensor::{Device, Int, Tensor};

use super::kernels;
use crate::config::{Arch, ModelConfig, Target, NORM_EPS, ROPE_THETA};

/// Standard deviation of the normal initialisation of every matrix and embedding (GPT-2's).
const INIT_STD: f64 = 0.02;

fn linear(d_in: u64, d_out: u64, bias: bool, std: f64, device: &Device) -> Linear {
    LinearConfig::new(d_in as usize, d_out as usize)
        .with_bias(bias)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device)
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
    fn new(config: &ModelConfig, out_std: f64, device: &Device) -> Attention {
        let (d, bias) = (config.width, config.arch == Arch::Gpt);
        let head_dim = (config.width / config.heads) as usize;
        let rope = (config.arch == Arch::Llama).then(|| {
            RotaryEncodingConfig::new(config.context as usize, head_dim).with_theta(ROPE_THETA as f32).init(device)
        });
        Attention {
            q: linear(d, d, bias, INIT_STD, device),
            k: linear(d, d, bias, INIT_STD, device),
            v: linear(d, d, bias, INIT_STD, device),
            o: linear(d, d, bias, out_std, device),
            rope,
            heads: config.heads as usize,
        }
    }

    /// `[batch, seq, width]` to the same.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, seq, width] = x.dims();
        let head_dim = width / self.heads;
        // [batch, seq, width] -> [batch, heads, seq, head_dim]
        let split = |t: Tensor<3>| t.reshape([batch, seq, self.heads, head_dim]).swap_dims(1, 2);
        let (mut q, mut k) = (split(self.q.forward(x.clone())), split(self.k.forward(x.clone())));
        let v = split(self.v.forward(x));
        if let Some(rope) = &self.rope {
            q = kernels::rope(rope, q);
            k = kernels::rope(rope, k);
        }
        // [batch, heads, seq, seq]
        let weights = kernels::causal_softmax(q.matmul(k.swap_dims(2, 3)), head_dim);
        let out = weights.matmul(v).swap_dims(1, 2).reshape([batch, seq, width]);
        self.o.forward(out)
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
    fn new(config: &ModelConfig, out_std: f64, device: &Device) -> Mlp {
        let (d, m, bias) = (config.width, config.mlp, config.arch == Arch::Gpt);
        Mlp {
            gate: (config.arch == Arch::Llama).then(|| linear(d, m, false, INIT_STD, device)),
            up: linear(d, m, bias, INIT_STD, device),
            down: linear(m, d, bias, out_std, device),
        }
    }

    /// `[batch, seq, width]` to the same.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = match &self.gate {
            Some(gate) => kernels::swiglu(gate.forward(x.clone()), self.up.forward(x)),
            None => gelu(self.up.forward(x)),
        };
        self.down.forward(hidden)
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
}

impl Decoder {
    /// A freshly initialised model: weights normal with std 0.02, the projections into the
    /// residual stream scaled by 1 / sqrt(2 * depth) as in GPT-2, norms at one.
    /// Every weight is drawn here, in a fixed order, rather than lazily at first use (Burn's
    /// default), so that the draws happen while the caller holds the backend's seed.
    pub fn new(config: &ModelConfig, device: &Device) -> Decoder {
        let model = Decoder::lazy(config, device);
        struct Materialize;
        impl burn::module::ModuleVisitor for Materialize {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let _ = param.val();
            }
        }
        model.visit(&mut Materialize);
        model
    }

    pub(super) fn lazy(config: &ModelConfig, device: &Device) -> Decoder {
        let out_std = INIT_STD / (2.0 * config.depth as f64).sqrt();
        let embed = |rows: u64| {
            EmbeddingConfig::new(rows as usize, config.width as usize)
                .with_initializer(Initializer::Normal { mean: 0.0, std: INIT_STD })
                .init(device)
        };
        Decoder {
            embedding: embed(config.vocab),
            positions: (config.arch == Arch::Gpt).then(|| embed(config.context)),
            blocks: (0..config.depth)
                .map(|_| Block {
                    norm_1: Norm::new(config.arch, config.width, device),
                    attention: Attention::new(config, out_std, device),
                    norm_2: Norm::new(config.arch, config.width, device),
                    mlp: Mlp::new(config, out_std, device),
                })
                .collect(),
            norm: Norm::new(config.arch, config.width, device),
            head: (!config.tie_embeddings).then(|| linear(config.width, config.vocab, false, INIT_STD, device)),
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
            x = x.clone() + block.attention.forward(block.norm_1.forward(x));
            x = x.clone() + block.mlp.forward(block.norm_2.forward(x));
        }
        let x = self.norm.forward(x);
        match &self.head {
            Some(head) => head.forward(x),
            None => {
                // Tied: logits = x @ embedding^T, as [batch * seq, width] x [width, vocab] (one
                // matrix product, rather than the embedding expanded over the batch).
                let [_, _, width] = x.dims();
                let vocab = self.embedding.weight.dims()[0];
                let logits = x.reshape([batch * seq, width]).matmul(self.embedding.weight.val().transpose());
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
            let model = Decoder::new(&config, &device);
            assert_eq!(model.num_params() as u64, Shape::of(&config).counts().total, "{config:?}");
        }
    }

    /// The prunable matrices are the planner's, in its order and sizes.
    #[test]
    fn prunable_matrices_follow_the_planner() {
        let device = crate::train::backend::cpu();
        let all = [Target::Attention, Target::Mlp, Target::Head];
        for config in [config(Arch::Llama, 32, 2, 2, 128, false), config(Arch::Gpt, 24, 2, 2, 40, false)] {
            let model = Decoder::new(&config, &device);
            let sizes: Vec<u64> = model.prunable(&all).iter().map(|w| w.val().shape().num_elements() as u64).collect();
            let planned: Vec<u64> = Shape::of(&config).prunable(&all).map(|m| m.size()).collect();
            assert_eq!(sizes, planned);
            let mlp: usize = model.prunable(&[Target::Mlp]).len();
            assert_eq!(mlp, Shape::of(&config).prunable(&[Target::Mlp]).count());
        }
    }

    #[test]
    fn forward_gives_logits_over_the_vocabulary() {
        let device = crate::train::backend::cpu();
        for arch in [Arch::Llama, Arch::Gpt] {
            let model = Decoder::new(&config(arch, 32, 2, 2, 64, arch == Arch::Gpt), &device);
            let tokens = Tensor::<2, Int>::from_ints([[1, 2, 3, 4], [5, 6, 7, 8]], &device);
            assert_eq!(model.forward(tokens).dims(), [2, 4, 256]);
        }
    }
}
