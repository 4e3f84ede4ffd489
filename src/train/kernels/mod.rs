//! Fused kernels for the hot element-wise chains of a step: attention's masked softmax,
//! cross-entropy over the vocabulary, SwiGLU's gated product, RMSNorm and rotary positions,
//! each with its backward pass.
//!
//! On the default backend (flex, with or without autodiff) each one is a Burn backend extension
//! ([`flex`]) that reads its inputs once and writes its output once, with a vectorised `exp`
//! ([`exp`]); Burn's composed ops make one pass and one allocation per elementary operation. The
//! other backends keep the composed ops (LibTorch has its own fused kernels). Both compute the
//! same function; they differ in the last bits where the order of a sum or the `exp` rounds
//! differently (the tests compare them, gradients included).

mod exp;
#[cfg(feature = "flex")]
mod flex;
mod rows;

use burn::nn::attention::generate_autoregressive_mask;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{RmsNorm, RotaryEncoding};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Int, Tensor};

/// Which implementation an op takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// The fused kernel (flex only).
    Fused,
    /// Burn's composed ops (every backend).
    Composed,
}

impl Path {
    /// The fused kernel where the tensor lives on flex (with or without autodiff) in `f32`.
    #[cfg_attr(not(feature = "flex"), allow(unused_variables))]
    fn of<const D: usize>(tensor: &Tensor<D>) -> Path {
        #[cfg(feature = "flex")]
        {
            use burn::backend::DispatchDevice;
            let device = tensor.device();
            let on_flex = match device.as_dispatch() {
                DispatchDevice::Flex(_) => true,
                DispatchDevice::Autodiff(inner) => matches!(**inner, DispatchDevice::Flex(_)),
                #[allow(unreachable_patterns)]
                _ => false,
            };
            if on_flex && tensor.dtype() == burn::tensor::DType::F32 {
                return Path::Fused;
            }
        }
        Path::Composed
    }
}

/// Attention weights from raw scores `q k^T`, `[batch, heads, seq, seq]` to the same: the
/// softmax over keys of the scores divided by `sqrt(head_dim)`, each query seeing itself and
/// the keys before it.
pub fn causal_softmax(scores: Tensor<4>, head_dim: usize) -> Tensor<4> {
    let path = Path::of(&scores);
    causal_softmax_by(path, scores, head_dim)
}

pub(crate) fn causal_softmax_by(path: Path, scores: Tensor<4>, head_dim: usize) -> Tensor<4> {
    match path {
        #[cfg(feature = "flex")]
        Path::Fused => flex::causal_softmax(scores, 1.0 / (head_dim as f32).sqrt()),
        _ => {
            let [batch, heads, seq, _] = scores.dims();
            let mask = generate_autoregressive_mask(batch, seq, &scores.device())
                .unsqueeze_dim::<4>(1)
                .expand([batch, heads, seq, seq]);
            let scores = scores.div_scalar((head_dim as f64).sqrt());
            softmax(scores.mask_fill(mask, f32::NEG_INFINITY), 3)
        }
    }
}

/// Mean cross-entropy, in nats, of `[rows, vocab]` logits against `[rows]` target ids: `[1]`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let path = Path::of(&logits);
    cross_entropy_by(path, logits, targets)
}

pub(crate) fn cross_entropy_by(path: Path, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    match path {
        #[cfg(feature = "flex")]
        Path::Fused => flex::cross_entropy(logits, targets),
        _ => CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, targets),
    }
}

/// SwiGLU's gated product `silu(gate) * up` from `[batch, seq, 2 * mlp]`, the gate's and up's
/// projections side by side (one matrix product makes both): `[batch, seq, mlp]`.
pub fn swiglu(gate_up: Tensor<3>) -> Tensor<3> {
    let path = Path::of(&gate_up);
    swiglu_by(path, gate_up)
}

pub(crate) fn swiglu_by(path: Path, gate_up: Tensor<3>) -> Tensor<3> {
    match path {
        #[cfg(feature = "flex")]
        Path::Fused => flex::swiglu(gate_up),
        _ => {
            let mlp = gate_up.dims()[2] / 2;
            silu(gate_up.clone().narrow(2, 0, mlp)) * gate_up.narrow(2, mlp, mlp)
        }
    }
}

/// `norm` applied to `[batch, seq, width]`.
pub fn rms_norm(norm: &RmsNorm, x: Tensor<3>) -> Tensor<3> {
    let path = Path::of(&x);
    rms_norm_by(path, norm, x)
}

pub(crate) fn rms_norm_by(path: Path, norm: &RmsNorm, x: Tensor<3>) -> Tensor<3> {
    match path {
        #[cfg(feature = "flex")]
        Path::Fused => flex::rms_norm(x, norm.gamma.val(), norm.epsilon as f32),
        _ => norm.forward(x),
    }
}

/// `rope` applied to `[batch, heads, seq, head_dim]` from position 0.
pub fn rope(rope: &RotaryEncoding, x: Tensor<4>) -> Tensor<4> {
    let path = Path::of(&x);
    rope_by(path, rope, x)
}

pub(crate) fn rope_by(path: Path, rope: &RotaryEncoding, x: Tensor<4>) -> Tensor<4> {
    match path {
        #[cfg(feature = "flex")]
        Path::Fused => flex::rope(x, rope.freq_complex.clone()),
        _ => rope.forward(x),
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests;
