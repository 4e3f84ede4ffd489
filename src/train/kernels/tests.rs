//! The fused kernels against Burn's composed ops on the same flex device: values and gradients.

use burn::module::Param;
use burn::nn::{RmsNormConfig, RotaryEncodingConfig};
use burn::tensor::{Device, Distribution, Int, Tensor};

use super::*;

fn device() -> Device {
    crate::train::backend::cpu().autodiff()
}

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    device.seed(7);
    Tensor::random(shape, Distribution::Normal(0.0, 2.0), device)
}

fn assert_close<const D: usize>(what: &str, fused: Tensor<D>, composed: Tensor<D>, tolerance: f32) {
    assert_eq!(fused.dims(), composed.dims(), "{what}: shapes");
    let (a, b) = (fused.into_data().try_to_vec::<f32>().unwrap(), composed.into_data().try_to_vec::<f32>().unwrap());
    let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    let worst = a.iter().zip(&b).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst <= tolerance * scale, "{what}: worst difference {worst} against values up to {scale}");
}

/// Runs `f` on both paths from the same inputs, with an arbitrary weighting of the output as
/// the loss, and compares the outputs and the gradients of every input.
fn check<const D: usize, const O: usize>(
    what: &str,
    inputs: Vec<Tensor<D>>,
    f: impl Fn(Path, Vec<Tensor<D>>) -> Tensor<O>,
) {
    let run = |path| {
        let inputs: Vec<Tensor<D>> = inputs.iter().map(|t| t.clone().detach().require_grad()).collect();
        let out = f(path, inputs.clone());
        let weights = random::<O>(out.dims(), &out.device());
        let grads = (out.clone() * weights).sum().backward();
        let grads: Vec<Tensor<D>> = inputs.iter().map(|t| t.grad(&grads).expect("a gradient")).collect();
        (out, grads)
    };
    let (fused, fused_grads) = run(Path::Fused);
    let (composed, composed_grads) = run(Path::Composed);
    assert_close(what, fused, composed, 1e-5);
    for (i, (a, b)) in fused_grads.into_iter().zip(composed_grads).enumerate() {
        assert_close(&format!("{what}: gradient of input {i}"), a, b, 1e-5);
    }
}

#[test]
fn the_tensors_on_flex_take_the_fused_path() {
    let x = random([2, 3], &device());
    assert_eq!(Path::of(&x), Path::Fused);
    assert_eq!(Path::of(&x.inner()), Path::Fused);
}

#[test]
fn causal_softmax_matches_the_masked_softmax() {
    let device = device();
    check("causal softmax", vec![random([2, 3, 7, 7], &device)], |path, x| causal_softmax_by(path, x[0].clone(), 16));
    // Rows over several parallel tasks, whose boundaries fall inside a [seq, seq] block.
    check("causal softmax", vec![random([3, 4, 100, 100], &device)], |path, x| {
        causal_softmax_by(path, x[0].clone(), 16)
    });
}

#[test]
fn swiglu_matches_silu_times_up() {
    let device = device();
    check("swiglu", vec![random([2, 300, 66], &device)], |path, x| swiglu_by(path, x[0].clone()));
    // Rows over several parallel tasks.
    check("swiglu", vec![random([4, 100, 256], &device)], |path, x| swiglu_by(path, x[0].clone()));
}

#[test]
fn rope_matches_burns_rotary_encoding() {
    let device = device();
    let encoding = RotaryEncodingConfig::new(16, 8).init(&device);
    check("rope", vec![random([2, 3, 11, 8], &device)], |path, x| rope_by(path, &encoding, x[0].clone()));
    let encoding = RotaryEncodingConfig::new(64, 32).init(&device);
    check("rope", vec![random([4, 4, 64, 32], &device)], |path, x| rope_by(path, &encoding, x[0].clone()));
}

#[test]
fn rms_norm_matches_burns_and_trains_its_gain() {
    let device = device();
    let mut norm = RmsNormConfig::new(24).init(&device);
    // A gain away from one, so that its gradient and its use both show.
    norm.gamma = Param::from_tensor(random([24], &device).require_grad());
    check("rms norm", vec![random([10, 200, 24], &device)], |path, x| rms_norm_by(path, &norm, x[0].clone()));
    let gain = |path| {
        let out = rms_norm_by(path, &norm, random([3, 4, 24], &device));
        let grads = (out.clone() * out).sum().backward();
        norm.gamma.val().grad(&grads).expect("gamma's gradient")
    };
    assert_close("rms norm: gradient of gamma", gain(Path::Fused), gain(Path::Composed), 1e-5);
}

#[test]
fn cross_entropy_matches_burns_loss_and_its_gradient() {
    let device = device();
    let targets = Tensor::<1, Int>::from_ints([3, 0, 9, 9, 1, 4], &device);
    check("cross-entropy", vec![random([6, 10], &device)], |path, x| {
        cross_entropy_by(path, x[0].clone(), targets.clone())
    });
    let targets = Tensor::<1, Int>::from_ints(&*(0..4000).map(|i| (i * 7) % 10).collect::<Vec<i32>>(), &device);
    check("cross-entropy", vec![random([4000, 10], &device)], |path, x| {
        cross_entropy_by(path, x[0].clone(), targets.clone())
    });
}

/// Without autodiff (evaluation) the forward passes are the same.
#[test]
fn the_forward_passes_hold_without_autodiff() {
    let device = crate::train::backend::cpu();
    let x = random([2, 2, 5, 5], &device);
    assert_close(
        "causal softmax",
        causal_softmax_by(Path::Fused, x.clone(), 4),
        causal_softmax_by(Path::Composed, x, 4),
        1e-6,
    );
    let logits = random([4, 6], &device);
    let targets = Tensor::<1, Int>::from_ints([5, 0, 2, 1], &device);
    assert_close(
        "cross-entropy",
        cross_entropy_by(Path::Fused, logits.clone(), targets.clone()),
        cross_entropy_by(Path::Composed, logits, targets),
        1e-6,
    );
}

/// Attention as one kernel against the composed path it replaces (the rotary and softmax kernels
/// between Burn's batched products), values and gradients: to the bit at the shapes of the toy
/// studies (contexts up to 64, heads of 16 values), where each product's inner dimension fits one
/// of gemm's blocks and both sum in the same order; within 1e-5 of each other at other shapes.
#[test]
fn attention_in_one_kernel_is_the_composed_path() {
    let device = device();
    let products: Product = &|a, b| a.matmul(b);
    for (batch, seq, heads, head_dim, to_the_bit) in [
        (3, 64, 4, 16, true),
        (2, 64, 3, 16, true),
        (2, 16, 2, 16, false),
        (2, 11, 2, 8, false),
        (2, 100, 3, 10, false),
    ] {
        let encoding = RotaryEncodingConfig::new(seq, head_dim).init(&device);
        let qkv = random([batch, seq, 3 * heads * head_dim], &device);
        let weights = random([batch, seq, heads * head_dim], &device);
        let run = |path| {
            let qkv = qkv.clone().detach().require_grad();
            let out = attention_by(path, qkv.clone(), heads, Some(&encoding), products);
            let grads = (out.clone() * weights.clone()).sum().backward();
            let grad = qkv.grad(&grads).expect("a gradient");
            (out.into_data().try_to_vec::<f32>().unwrap(), grad.into_data().try_to_vec::<f32>().unwrap())
        };
        let what = format!("attention [{batch}, {seq}, {heads} x {head_dim}]");
        let ((out, grad), (composed_out, composed_grad)) = (run(Path::Fused), run(Path::Composed));
        if to_the_bit {
            let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same(&out, &composed_out), "{what}: outputs");
            // A gradient of exactly zero may differ in its sign: the composed path adds the zero
            // gradients of the other two parts to each.
            let same_or_zero = |a: &[f32], b: &[f32]| {
                a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits() || *a == 0.0 && *b == 0.0)
            };
            assert!(same_or_zero(&grad, &composed_grad), "{what}: gradients");
        } else {
            let close = |a: &[f32], b: &[f32], part: &str| {
                let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let worst = a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst <= 1e-5 * scale, "{what}: {part} differ by {worst}, values up to {scale}");
            };
            close(&out, &composed_out, "outputs");
            close(&grad, &composed_grad, "gradients");
        }
        assert_eq!(out.len(), batch * seq * heads * head_dim);
    }
}

/// Without autodiff, and for the model: the one-kernel path is taken for f32 products with rotary
/// positions on flex, and only then.
#[test]
fn attention_takes_one_kernel_only_for_f32_rotary_attention() {
    let device = crate::train::backend::cpu();
    let encoding = RotaryEncodingConfig::new(8, 4).init(&device);
    let qkv = random([1, 8, 24], &device);
    let products: Product = &|a, b| a.matmul(b);
    let fused = attention_by(Path::Fused, qkv.clone(), 2, Some(&encoding), products);
    assert_eq!(fused.dims(), [1, 8, 8]);
    assert_close("attention", fused, attention_by(Path::Composed, qkv.clone(), 2, Some(&encoding), products), 1e-6);
    // The choice itself: a product in another arithmetic, or no rotation (gpt), is composed.
    let counting = std::cell::Cell::new(0);
    let counted: Product = &|a, b| {
        counting.set(counting.get() + 1);
        a.matmul(b)
    };
    attention(qkv.clone(), 2, Some(&encoding), counted, true);
    assert_eq!(counting.get(), 0, "f32 rotary attention is one kernel");
    attention(qkv.clone(), 2, Some(&encoding), counted, false);
    assert_eq!(counting.get(), 2, "another precision's products");
    attention(qkv, 2, None, counted, true);
    assert_eq!(counting.get(), 4, "no rotary positions");
}

/// The product written in place is `burn-flex`'s product to the bit, forward and backward, at
/// the shapes that take `gemm`'s different paths (a vector, a small output, a long inner dimension
/// split in blocks, threads), on transposed views too; and it writes every value of its output
/// (run on a buffer of NaN, none is left).
#[test]
fn matmul_writes_every_value_and_is_burns_to_the_bit() {
    let device = device();
    let shapes =
        [[1, 7, 5], [6, 1, 3], [5, 4, 1], [3, 0, 4], [9, 13, 11], [64, 64, 192], [40, 1100, 30], [200, 210, 220]];
    for [m, k, n] in shapes {
        for transposed in [false, true] {
            let lhs = random([m, k], &device);
            let rhs = match transposed {
                false => random([k, n], &device),
                true => random([n, k], &device).transpose(),
            };
            let what = format!("[{m}, {k}] x [{k}, {n}]{}", if transposed { ", transposed" } else { "" });
            let run = |path| {
                let (lhs, rhs) = (lhs.clone().detach().require_grad(), rhs.clone().detach().require_grad());
                let out = matmul_by(path, lhs.clone(), rhs.clone());
                let weights = random::<2>(out.dims(), &device);
                let grads = (out.clone() * weights).sum().backward();
                let bits = |t: Tensor<2>| {
                    t.into_data().try_to_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                };
                let (d_lhs, d_rhs) = (lhs.grad(&grads).expect("a gradient"), rhs.grad(&grads).expect("a gradient"));
                (bits(out), bits(Tensor::from_inner(d_lhs)), bits(Tensor::from_inner(d_rhs)))
            };
            assert_eq!(run(Path::Fused), run(Path::Composed), "{what}");

            let flex = |t: &Tensor<2>| burn::backend::flex::FlexTensor::from_data(t.to_data());
            let (lhs, rhs) = match transposed {
                false => (flex(&lhs), flex(&rhs)),
                true => (flex(&lhs), flex(&rhs.clone().transpose()).transpose(0, 1)),
            };
            let mut out = vec![std::mem::MaybeUninit::new(f32::NAN); m * n];
            flex::product_into(&lhs, &rhs, &mut out);
            // SAFETY: every value was initialised (to NaN, then by the product).
            let out: Vec<f32> = out.into_iter().map(|x| unsafe { x.assume_init() }).collect();
            assert!(out.iter().all(|x| x.is_finite()), "{what}: a value left unwritten");
        }
    }
}
