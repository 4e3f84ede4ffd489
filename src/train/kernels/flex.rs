//! The fused kernels as a Burn backend extension for flex: forward on `Flex`, and on
//! `Autodiff<Flex>` the same forward recorded with a hand-written backward pass ([`rows`] has the
//! arithmetic of both).

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, Backend, DType, Dispatch, Flex};
use burn::tensor::{Int, Shape, Tensor, TensorData};

use super::attention::{self, Heads, Saved};
use super::rows;

/// The fused operations, on flex and on flex under autodiff.
#[backend_extension(Flex, Autodiff)]
pub trait Kernels: Backend {
    /// See [`super::causal_softmax`]; `scale` multiplies the scores.
    fn causal_softmax(scores: FloatTensor<Self>, scale: f32) -> FloatTensor<Self>;
    /// See [`super::cross_entropy`].
    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;
    /// See [`super::swiglu`].
    fn swiglu(gate_up: FloatTensor<Self>) -> FloatTensor<Self>;
    /// See [`super::rms_norm`].
    fn rms_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, eps: f32) -> FloatTensor<Self>;
    /// See [`super::rope`]; `freqs` is `RotaryEncoding::freq_complex`.
    fn rope(x: FloatTensor<Self>, freqs: FloatTensor<Self>) -> FloatTensor<Self>;
    /// See [`super::attention`]: `[batch, seq, 3 * width]` rows `[q | k | v]` of `heads` heads,
    /// rotated by `freqs`, to `[batch, seq, width]`.
    fn attention(qkv: FloatTensor<Self>, freqs: FloatTensor<Self>, heads: usize) -> FloatTensor<Self>;
    /// See [`super::matmul`]: `[m, k]` by `[k, n]`.
    fn matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;
}

pub(super) fn causal_softmax(scores: Tensor<4>, scale: f32) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as Kernels>::causal_softmax(scores.into_dispatch(), scale))
}

pub(super) fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as Kernels>::cross_entropy(logits.into_dispatch(), targets.into_dispatch()))
}

pub(super) fn swiglu(gate_up: Tensor<3>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as Kernels>::swiglu(gate_up.into_dispatch()))
}

pub(super) fn rms_norm(x: Tensor<3>, gamma: Tensor<1>, eps: f32) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as Kernels>::rms_norm(x.into_dispatch(), gamma.into_dispatch(), eps))
}

pub(super) fn rope(x: Tensor<4>, freqs: Tensor<3>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as Kernels>::rope(x.into_dispatch(), freqs.into_dispatch()))
}

pub(super) fn attention(qkv: Tensor<3>, freqs: Tensor<3>, heads: usize) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as Kernels>::attention(qkv.into_dispatch(), freqs.into_dispatch(), heads))
}

pub(super) fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as Kernels>::matmul(lhs.into_dispatch(), rhs.into_dispatch()))
}

/// The tensor in row-major order from offset 0: itself when it already is (a view after a
/// `swap_dims` is not), else a contiguous copy.
fn contiguous(tensor: FlexTensor) -> FlexTensor {
    assert_eq!(tensor.dtype(), DType::F32, "the fused kernels take f32 tensors");
    if tensor.as_slice::<f32>().is_some() {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// The values of a tensor that [`contiguous`] returned.
fn values(tensor: &FlexTensor) -> &[f32] {
    tensor.as_slice::<f32>().expect("a contiguous f32 tensor")
}

fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn dims(tensor: &FlexTensor) -> Vec<usize> {
    tensor.layout().shape().to_vec()
}

/// Target ids as indices below `vocab`.
fn indices(targets: &FlexTensor, vocab: usize) -> Vec<usize> {
    let data = targets.clone().into_data();
    let ids: Vec<i64> = match targets.dtype() {
        DType::I64 => data.try_to_vec::<i64>().expect("i64 ids"),
        DType::I32 => data.try_to_vec::<i32>().expect("i32 ids").into_iter().map(i64::from).collect(),
        other => panic!("cross-entropy targets must be integer ids, found {other:?}"),
    };
    ids.into_iter()
        .map(|id| usize::try_from(id).ok().filter(|&id| id < vocab).expect("target ids are below the vocabulary"))
        .collect()
}

/// `[.., 2 * mlp]` rows of `[gate | up]`: `mlp`, and the shape of the gated product.
fn halved(gate_up: &FlexTensor) -> (usize, Shape) {
    let mut dims = dims(gate_up);
    let last = dims.last_mut().expect("swiglu's input has a last axis");
    assert_eq!(*last % 2, 0, "swiglu's input is [gate | up], of even width");
    *last /= 2;
    (*last, Shape::from(dims))
}

/// `[.., seq, seq]` scores: the rows and `seq`.
fn square_tail(scores: &FlexTensor) -> usize {
    let dims = dims(scores);
    let seq = dims[dims.len() - 1];
    assert_eq!(dims[dims.len() - 2], seq, "causal attention scores are square over the sequence");
    seq
}

/// The sizes of an attention over contiguous `[batch, seq, 3 * width]` rows, with the rotary
/// table `freqs` checked to cover them.
fn heads_of(qkv: &FlexTensor, freqs: &FlexTensor, heads: usize) -> Heads {
    let (shape, table) = (dims(qkv), dims(freqs));
    let [batch, seq, three_width] = shape[..] else { panic!("attention takes [batch, seq, 3 * width] rows") };
    assert!(
        heads > 0 && three_width % (3 * heads) == 0,
        "{three_width} values do not split into q, k, v of {heads} heads"
    );
    let head_dim = three_width / 3 / heads;
    assert!(table[0] >= seq && table[1] == head_dim && table[2] == 2, "a rotary table for this sequence");
    Heads { batch, seq, heads, head_dim }
}

/// The attention of contiguous `[q | k | v]` rows, what its backward pass needs, and its sizes.
fn attention_parts(qkv: &FlexTensor, freqs: &FlexTensor, heads: usize) -> (FlexTensor, Saved, Heads) {
    let shape = heads_of(qkv, freqs, heads);
    let (out, saved) = attention::forward(values(qkv), values(freqs), shape);
    (tensor(out, Shape::new([shape.batch, shape.seq, shape.heads * shape.head_dim])), saved, shape)
}

/// Products at least this large (`m * n * k`) split over threads, as `burn-flex` splits them.
const PARALLEL_PRODUCT: usize = 192 * 192 * 192;

/// `lhs @ rhs`, `[m, k]` by `[k, n]` f32 matrices of any strides (a transposed view included),
/// by the call to `gemm` that `burn-flex` makes, with the same arguments, so with the same sums in
/// the same order. `burn-flex` has `gemm` write into a zeroed buffer that it then copies (to align
/// it); here `gemm` writes straight into the buffer of the result.
fn matmul_2d(lhs: &FlexTensor, rhs: &FlexTensor) -> FlexTensor {
    let (m, n) = (dims(lhs)[0], dims(rhs)[1]);
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    product_into(lhs, rhs, &mut out.spare_capacity_mut()[..m * n]);
    // SAFETY: `product_into` wrote all `m * n` values.
    unsafe { out.set_len(m * n) };
    tensor(out, Shape::new([m, n]))
}

/// Writes `lhs @ rhs` into `out`, all `m * n` values, row by row (see [`matmul_2d`]).
pub(super) fn product_into(lhs: &FlexTensor, rhs: &FlexTensor, out: &mut [std::mem::MaybeUninit<f32>]) {
    let (&[m, k], &[k_rhs, n]) = (&dims(lhs)[..], &dims(rhs)[..]) else { panic!("a product of two matrices") };
    assert_eq!(k, k_rhs, "a product of [m, k] by [k, n] matrices");
    assert_eq!(out.len(), m * n, "room for the [m, n] product");
    let [lhs_rs, lhs_cs] = lhs.layout().strides() else { unreachable!("a matrix has two strides") };
    let [rhs_rs, rhs_cs] = rhs.layout().strides() else { unreachable!("a matrix has two strides") };
    let lhs_values = &lhs.storage::<f32>()[lhs.layout().start_offset()..];
    let rhs_values = &rhs.storage::<f32>()[rhs.layout().start_offset()..];
    let parallelism = match m.saturating_mul(n).saturating_mul(k) >= PARALLEL_PRODUCT {
        true => gemm::Parallelism::Rayon(0),
        false => gemm::Parallelism::None,
    };
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: `lhs` and `rhs` are valid tensors, so their strided `[m, k]` and `[k, n]` values lie
    // in their buffers from their offsets, and `out` holds `m * n` values, which `gemm` lays out
    // row by row (column stride 1, row stride `n`). With `read_dst` false, `gemm` writes each of
    // them without reading it (an inner dimension of 0 included, as zeros); the test
    // `matmul_writes_every_value_and_is_burns_to_the_bit` runs it on values of NaN.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            false,
            lhs_values.as_ptr(),
            *lhs_cs,
            *lhs_rs,
            rhs_values.as_ptr(),
            *rhs_cs,
            *rhs_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The mean loss, each row's log-sum-exp and the targets, of contiguous logits.
fn cross_entropy_parts(logits: &FlexTensor, targets: &FlexTensor) -> (f32, Vec<f32>, Vec<usize>) {
    let vocab = *dims(logits).last().expect("[rows, vocab] logits");
    let targets = indices(targets, vocab);
    let (loss, lse) = rows::cross_entropy(values(logits), vocab, &targets);
    (loss, lse, targets)
}

impl Kernels for Flex {
    fn causal_softmax(scores: FlexTensor, scale: f32) -> FlexTensor {
        let seq = square_tail(&scores);
        let scores = contiguous(scores);
        tensor(rows::causal_softmax(values(&scores), seq, scale), scores.layout().shape().clone())
    }

    fn cross_entropy(logits: FlexTensor, targets: FlexTensor) -> FlexTensor {
        let (loss, _, _) = cross_entropy_parts(&contiguous(logits), &targets);
        tensor(vec![loss], Shape::new([1]))
    }

    fn swiglu(gate_up: FlexTensor) -> FlexTensor {
        let gate_up = contiguous(gate_up);
        let (mlp, shape) = halved(&gate_up);
        tensor(rows::swiglu(values(&gate_up), mlp), shape)
    }

    fn rms_norm(x: FlexTensor, gamma: FlexTensor, eps: f32) -> FlexTensor {
        assert_eq!(dims(&x).last(), dims(&gamma).last(), "rms_norm's gamma spans the last axis");
        let (x, gamma) = (contiguous(x), contiguous(gamma));
        tensor(rows::rms_norm(values(&x), values(&gamma), eps), x.layout().shape().clone())
    }

    fn rope(x: FlexTensor, freqs: FlexTensor) -> FlexTensor {
        let (shape, table) = (dims(&x), dims(&freqs));
        let (seq, head_dim) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        assert!(table[0] >= seq && table[1] == head_dim && table[2] == 2, "a rotary table for this sequence");
        let (x, freqs) = (contiguous(x), contiguous(freqs));
        tensor(rows::rope(values(&x), values(&freqs), seq, head_dim, false), x.layout().shape().clone())
    }

    fn attention(qkv: FlexTensor, freqs: FlexTensor, heads: usize) -> FlexTensor {
        let (qkv, freqs) = (contiguous(qkv), contiguous(freqs));
        attention_parts(&qkv, &freqs, heads).0
    }

    fn matmul(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
        matmul_2d(&lhs, &rhs)
    }
}

/// The scores' gradient from the softmax's output.
#[derive(Debug)]
struct CausalSoftmaxBackward;

impl Backward<Flex, 1> for CausalSoftmaxBackward {
    type State = (FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (weights, scale) = ops.state;
        if let [Some(parent)] = ops.parents {
            let (seq, grad) = (square_tail(&weights), contiguous(grad));
            let d = rows::causal_softmax_backward(values(&weights), values(&grad), seq, scale);
            grads.register::<Flex>(parent.id, tensor(d, weights.layout().shape().clone()));
        }
    }
}

/// The logits' gradient from the logits and their log-sum-exps.
#[derive(Debug)]
struct CrossEntropyBackward;

impl Backward<Flex, 1> for CrossEntropyBackward {
    type State = (FlexTensor, Vec<f32>, Vec<usize>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = values(&contiguous(grads.consume::<Flex>(&ops.node)))[0];
        let (logits, lse, targets) = ops.state;
        if let [Some(parent)] = ops.parents {
            let vocab = *dims(&logits).last().expect("[rows, vocab] logits");
            let d = rows::cross_entropy_backward(values(&logits), vocab, &targets, &lse, grad);
            grads.register::<Flex>(parent.id, tensor(d, logits.layout().shape().clone()));
        }
    }
}

/// The gradient of `[gate | up]` from the input.
#[derive(Debug)]
struct SwigluBackward;

impl Backward<Flex, 1> for SwigluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let gate_up = ops.state;
        if let [Some(parent)] = ops.parents {
            let (mlp, _) = halved(&gate_up);
            let d = rows::swiglu_backward(values(&gate_up), mlp, values(&grad));
            grads.register::<Flex>(parent.id, tensor(d, gate_up.layout().shape().clone()));
        }
    }
}

/// The input's and gamma's gradients from both.
#[derive(Debug)]
struct RmsNormBackward;

impl Backward<Flex, 2> for RmsNormBackward {
    type State = (FlexTensor, FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, gamma, eps) = ops.state;
        let (dx, d_gamma) = rows::rms_norm_backward(values(&x), values(&gamma), eps, values(&grad));
        let [x_node, gamma_node] = ops.parents;
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, tensor(dx, x.layout().shape().clone()));
        }
        if let Some(node) = gamma_node {
            grads.register::<Flex>(node.id, tensor(d_gamma, gamma.layout().shape().clone()));
        }
    }
}

/// The input's gradient: the rotation transposed. The table is a constant.
#[derive(Debug)]
struct RopeBackward;

impl Backward<Flex, 1> for RopeBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let freqs = ops.state;
        if let [Some(parent)] = ops.parents {
            let shape = dims(&grad);
            let (seq, head_dim) = (shape[shape.len() - 2], shape[shape.len() - 1]);
            let d = rows::rope(values(&grad), values(&freqs), seq, head_dim, true);
            grads.register::<Flex>(parent.id, tensor(d, grad.layout().shape().clone()));
        }
    }
}

/// The `[q | k | v]` rows' gradient from the rows, the rotary table and what the forward pass
/// kept.
#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    type State = (FlexTensor, FlexTensor, Saved, Heads);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (qkv, freqs, saved, shape) = ops.state;
        if let [Some(parent)] = ops.parents {
            let d = attention::backward(values(&qkv), values(&freqs), &saved, values(&grad), shape);
            grads.register::<Flex>(parent.id, tensor(d, qkv.layout().shape().clone()));
        }
    }
}

/// The factors' gradients, as Burn's product takes them: `grad @ rhs^T` for `lhs`, `lhs^T @ grad`
/// for `rhs`, the transposes as views.
#[derive(Debug)]
struct MatmulBackward;

impl Backward<Flex, 2> for MatmulBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (lhs, rhs) = ops.state;
        let [lhs_node, rhs_node] = ops.parents;
        if let Some(node) = lhs_node {
            grads.register::<Flex>(node.id, matmul_2d(&grad, &rhs.transpose(0, 1)));
        }
        if let Some(node) = rhs_node {
            grads.register::<Flex>(node.id, matmul_2d(&lhs.transpose(0, 1), &grad));
        }
    }
}

impl<C: CheckpointStrategy> Kernels for Autodiff<Flex, C> {
    fn causal_softmax(scores: FloatTensor<Self>, scale: f32) -> FloatTensor<Self> {
        match CausalSoftmaxBackward.prepare::<C>([scores.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let weights = Flex::causal_softmax(scores.into_primitive(), scale);
                prep.finish((weights.clone(), scale), weights)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::causal_softmax(scores.into_primitive(), scale)),
        }
    }

    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        match CrossEntropyBackward.prepare::<C>([logits.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let logits = contiguous(logits.into_primitive());
                let (loss, lse, targets) = cross_entropy_parts(&logits, &targets);
                prep.finish((logits, lse, targets), tensor(vec![loss], Shape::new([1])))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::cross_entropy(logits.into_primitive(), targets)),
        }
    }

    fn swiglu(gate_up: FloatTensor<Self>) -> FloatTensor<Self> {
        match SwigluBackward.prepare::<C>([gate_up.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let gate_up = contiguous(gate_up.into_primitive());
                let out = Flex::swiglu(gate_up.clone());
                prep.finish(gate_up, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::swiglu(gate_up.into_primitive())),
        }
    }

    fn rms_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, eps: f32) -> FloatTensor<Self> {
        match RmsNormBackward.prepare::<C>([x.node(), gamma.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, gamma) = (contiguous(x.into_primitive()), contiguous(gamma.into_primitive()));
                let out = Flex::rms_norm(x.clone(), gamma.clone(), eps);
                prep.finish((x, gamma, eps), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::rms_norm(x.into_primitive(), gamma.into_primitive(), eps)),
        }
    }

    fn rope(x: FloatTensor<Self>, freqs: FloatTensor<Self>) -> FloatTensor<Self> {
        let freqs = contiguous(freqs.into_primitive());
        match RopeBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = Flex::rope(x.into_primitive(), freqs.clone());
                prep.finish(freqs, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::rope(x.into_primitive(), freqs)),
        }
    }

    fn attention(qkv: FloatTensor<Self>, freqs: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
        let freqs = contiguous(freqs.into_primitive());
        match AttentionBackward.prepare::<C>([qkv.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let qkv = contiguous(qkv.into_primitive());
                let (out, saved, shape) = attention_parts(&qkv, &freqs, heads);
                prep.finish((qkv, freqs, saved, shape), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::attention(qkv.into_primitive(), freqs, heads)),
        }
    }

    fn matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        match MatmulBackward.prepare::<C>([lhs.node(), rhs.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (lhs, rhs) = (lhs.into_primitive(), rhs.into_primitive());
                let out = matmul_2d(&lhs, &rhs);
                prep.finish((lhs, rhs), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(matmul_2d(&lhs.into_primitive(), &rhs.into_primitive())),
        }
    }
}
