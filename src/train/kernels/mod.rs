//! Fused kernels for the hot element-wise chains of a step: attention's masked softmax,
//! cross-entropy over the vocabulary, SwiGLU's gated product, RMSNorm and rotary positions,
//! each with its backward pass, causal attention with rotary positions as one kernel
//! ([`attention`]), and the matrix product written in place ([`matmul`]).
//!
//! On the default backend (flex, with or without autodiff) each one is a Burn backend extension
//! ([`flex`]) that reads its inputs once and writes its output once, with a vectorised `exp`
//! ([`exp`]); Burn's composed ops make one pass and one allocation per elementary operation. The
//! other backends keep the composed ops (LibTorch has its own fused kernels). Both compute the
//! same function; they differ in the last bits where the order of a sum or the `exp` rounds
//! differently (the tests compare them, gradients included).

/// Defines `fn $name`, compiled for AVX-512, for AVX2 with FMA and for the target's baseline,
/// running the widest this CPU has ([`Isa::here`]). Every version gives the same bits (see
/// [`Isa`]). The body must keep its loops in itself: a closure that is not inlined is compiled
/// apart, without the wider instructions (a small one, an index or a term, is inlined).
macro_rules! widest {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                match $crate::train::kernels::Isa::here() {
                    // SAFETY: the CPU has the features the function is compiled for (`Isa::here`).
                    $crate::train::kernels::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::train::kernels::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::train::kernels::Isa::Baseline => {}
                }
            }
            body($($arg),*)
        }
    };
}

#[cfg(feature = "flex")]
mod attention;
mod exp;
#[cfg(feature = "flex")]
mod flex;
mod rows;

use burn::nn::attention::generate_autoregressive_mask;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{RmsNorm, RotaryEncoding};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Int, Tensor};

/// The widest vector instructions this CPU has, detected once: the kernels' loops are compiled
/// for each ([`exp`], [`attention`]) and run in the widest. Each version computes the same
/// operations in the same order (`a * b + c` is never contracted, and `mul_add` is one
/// instruction with FMA and computed exactly without), so each gives the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX-512 (x86-64-v4).
    Avx512,
    /// AVX2 with FMA (x86-64-v3).
    Avx2,
    /// Whatever the target's baseline is.
    Baseline,
}

impl Isa {
    /// This CPU's.
    pub(crate) fn here() -> Isa {
        static HERE: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *HERE.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    return Isa::Avx512;
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    return Isa::Avx2;
                }
            }
            Isa::Baseline
        })
    }
}

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

/// The matrix product of `[m, k]` by `[k, n]` f32 matrices: on flex, the product `burn-flex`
/// computes (the same call to `gemm`), written straight into its result, where `burn-flex` zeroes
/// a buffer and copies it (a tenth of a step at the toy sizes).
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    let path = Path::of(&lhs);
    matmul_by(path, lhs, rhs)
}

pub(crate) fn matmul_by(path: Path, lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    match path {
        #[cfg(feature = "flex")]
        Path::Fused if rhs.dtype() == burn::tensor::DType::F32 => flex::matmul(lhs, rhs),
        _ => lhs.matmul(rhs),
    }
}

/// A matrix product of `[.., m, k]` by `[.., k, n]`, in the arithmetic of the model's precision.
pub type Product<'a> = &'a dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>;

/// Causal multi-head self-attention from `[batch, seq, 3 * width]` rows `[q | k | v]` (each
/// `heads` heads of `width / heads` values) to `[batch, seq, width]`: q and k turned by `rope`
/// where there is one, each query's softmax of `q k^T / sqrt(head_dim)` over itself and the keys
/// before it, times v. The products are `product`'s; `f32_products` says that they are plain f32
/// products, which the one-kernel path computes itself (on flex, with rotary positions).
pub fn attention(
    qkv: Tensor<3>,
    heads: usize,
    rope: Option<&RotaryEncoding>,
    product: Product,
    f32_products: bool,
) -> Tensor<3> {
    let path = match (rope, f32_products) {
        (Some(_), true) => Path::of(&qkv),
        _ => Path::Composed,
    };
    attention_by(path, qkv, heads, rope, product)
}

pub(crate) fn attention_by(
    path: Path,
    qkv: Tensor<3>,
    heads: usize,
    rope: Option<&RotaryEncoding>,
    product: Product,
) -> Tensor<3> {
    match (path, rope) {
        #[cfg(feature = "flex")]
        (Path::Fused, Some(rope)) => flex::attention(qkv, rope.freq_complex.clone(), heads),
        (_, rope) => {
            let [batch, seq, three_width] = qkv.dims();
            let width = three_width / 3;
            let head_dim = width / heads;
            // [batch, seq, 3 * width] -> [batch, 3 * heads, seq, head_dim], then a third each.
            let qkv = qkv.reshape([batch, seq, 3 * heads, head_dim]).swap_dims(1, 2);
            let part = |i: usize| qkv.clone().narrow(1, i * heads, heads);
            let (mut q, mut k, v) = (part(0), part(1), part(2));
            if let Some(encoding) = rope {
                q = self::rope(encoding, q);
                k = self::rope(encoding, k);
            }
            // [batch, heads, seq, seq]
            let weights = causal_softmax(product(q, k.swap_dims(2, 3)), head_dim);
            product(weights, v).swap_dims(1, 2).reshape([batch, seq, width])
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests;
