//! Causal self-attention with rotary positions as one kernel, forward and backward, on plain
//! `f32` slices: from the `[batch, seq, 3 * width]` rows `[q | k | v]` of the fused projection to
//! the `[batch, seq, width]` rows the output projection reads.
//!
//! The composed path (rotary kernel, a batched product, the causal softmax kernel, a batched
//! product, each with the copies between Burn's layouts and an autodiff node) makes a pass and an
//! allocation per op. This one works a batch element at a time, head by head, on the layout it is
//! given. Every sum is taken in the order the composed path's products take it: the matrix
//! product sums `k` from 0 upwards with one fused multiply-add per term (`f32::mul_add`, what
//! `gemm` computes while a product's inner dimension fits one of its blocks, as at the head
//! dimensions and contexts of the toy studies), and a term of a masked weight is an exact zero.
//! The rotation and the softmax's gradient are the row functions of [`super::rows`]; the softmax
//! computes what `rows`' does, with the sums of four rows side by side and the exponentials over
//! whole vectors. The tests check the two paths against each other: to the bit at a context of 64
//! and head dimension 16, within a tolerance elsewhere.

use rayon::prelude::*;

use super::exp::exp_inline;
use super::rows::{blocks, max_of, rope_factors, rope_row, softmax_backward_row};

/// The sizes of an attention: `[batch, seq, 3 * heads * head_dim]` in, `[batch, seq, heads *
/// head_dim]` out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    /// Sequences.
    pub batch: usize,
    /// Positions in each.
    pub seq: usize,
    /// Attention heads.
    pub heads: usize,
    /// Values per head.
    pub head_dim: usize,
}

impl Heads {
    fn width(self) -> usize {
        self.heads * self.head_dim
    }

    /// Values of one batch element's `[q | k | v]` rows.
    fn qkv_len(self) -> usize {
        self.seq * 3 * self.width()
    }

    /// Values of one batch element's rotated q and k, head by head: `[heads, 2, seq,
    /// padded(head_dim)]`.
    fn qk_len(self) -> usize {
        self.heads * 2 * self.seq * padded(self.head_dim)
    }

    /// Values of one batch element's attention weights: `[heads, seq, seq]`.
    fn weights_len(self) -> usize {
        self.heads * self.seq * self.seq
    }

    fn scale(self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// What the backward pass needs of the forward pass.
#[derive(Debug, Clone)]
pub struct Saved {
    /// q and k after rotation, `[batch, heads, 2, seq, head_dim]` with each row padded with zeros
    /// to a multiple of 16 values.
    pub qk: Vec<f32>,
    /// The attention weights, `[batch, heads, seq, seq]`, zero after each query's position.
    pub weights: Vec<f32>,
}

/// The attention of `qkv` (`[batch, seq, 3 * width]`) with rotary positions from `freqs` (Burn's
/// `RotaryEncoding` table, see [`super::rows::rope`]): `[batch, seq, width]`, and what its
/// backward pass needs.
pub fn forward(qkv: &[f32], freqs: &[f32], shape: Heads) -> (Vec<f32>, Saved) {
    let (own, pair) = rope_factors(freqs, shape.seq, shape.head_dim, false);
    let mut out = vec![0.0; shape.batch * shape.seq * shape.width()];
    let mut qk = vec![0.0; shape.batch * shape.qk_len()];
    let mut weights = vec![0.0; shape.batch * shape.weights_len()];
    out.par_chunks_mut(shape.seq * shape.width())
        .zip(qk.par_chunks_mut(shape.qk_len()).zip(weights.par_chunks_mut(shape.weights_len())))
        .zip(qkv.par_chunks(shape.qkv_len()))
        .for_each(|((out, (qk, weights)), qkv)| {
            forward_batch(&Batch { shape, own: &own, pair: &pair }, qkv, out, qk, weights);
        });
    (out, Saved { qk, weights })
}

/// The gradient with respect to `qkv` of [`forward`], from the gradient `grad` of its output.
pub fn backward(qkv: &[f32], freqs: &[f32], saved: &Saved, grad: &[f32], shape: Heads) -> Vec<f32> {
    let (own, pair) = rope_factors(freqs, shape.seq, shape.head_dim, true);
    let mut d_qkv = vec![0.0; qkv.len()];
    d_qkv
        .par_chunks_mut(shape.qkv_len())
        .zip(qkv.par_chunks(shape.qkv_len()))
        .zip(saved.qk.par_chunks(shape.qk_len()).zip(saved.weights.par_chunks(shape.weights_len())))
        .zip(grad.par_chunks(shape.seq * shape.width()))
        .for_each(|(((d_qkv, qkv), (qk, weights)), grad)| {
            backward_batch(&Batch { shape, own: &own, pair: &pair }, qkv, qk, weights, grad, d_qkv);
        });
    d_qkv
}

widest! {
    /// [`Batch::forward`], compiled for the widest instructions this CPU has.
    fn forward_batch(batch: &Batch, qkv: &[f32], out: &mut [f32], qk: &mut [f32], weights: &mut [f32]) {
        batch.forward(qkv, out, qk, weights)
    }
}

widest! {
    /// [`Batch::backward`], compiled for the widest instructions this CPU has.
    fn backward_batch(batch: &Batch, qkv: &[f32], qk: &[f32], weights: &[f32], grad: &[f32], d_qkv: &mut [f32]) {
        batch.backward(qkv, qk, weights, grad, d_qkv)
    }
}

/// Lanes of the vector loops: a head's values and a row's keys are padded to a multiple of it
/// with zeros, and each sum is kept in a `[f32; LANES]` that the compiler holds in registers.
const LANES: usize = 16;

fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// One batch element's work, with the rotation's factors for each position.
struct Batch<'a> {
    shape: Heads,
    own: &'a [f32],
    pair: &'a [f32],
}

impl Batch<'_> {
    /// `head`'s part of `part` (0: q, 1: k, 2: v) at position `i`, in `[q | k | v]` rows.
    #[inline(always)]
    fn at(&self, part: usize, head: usize, i: usize) -> std::ops::Range<usize> {
        let (width, dim) = (self.shape.width(), self.shape.head_dim);
        let start = i * 3 * width + part * width + head * dim;
        start..start + dim
    }

    /// `head`'s q or k (`part` 0 or 1), rotated, or its v (`part` 2), as `[seq, padded(head_dim)]`
    /// rows in `into`.
    #[inline(always)]
    fn gather(&self, rows: &[f32], part: usize, head: usize, into: &mut [f32]) {
        let dim = self.shape.head_dim;
        for (i, out) in into.chunks_mut(padded(dim)).enumerate() {
            let (out, row) = (&mut out[..dim], &rows[self.at(part, head, i)]);
            match part {
                2 => out.copy_from_slice(row),
                _ => rope_row(out, row, &self.own[i * dim..][..dim], &self.pair[i * dim..][..dim]),
            }
        }
    }

    #[inline(always)]
    fn forward(&self, qkv: &[f32], out: &mut [f32], qk: &mut [f32], weights: &mut [f32]) {
        let Heads { seq, head_dim: dim, .. } = self.shape;
        let (dim_pad, seq_pad) = (padded(dim), padded(seq));
        let mut k_t = vec![0.0f32; dim * seq_pad];
        let mut v = vec![0.0f32; seq * dim_pad];
        let mut scores = vec![0.0f32; ROWS * seq_pad];
        for head in 0..self.shape.heads {
            let (q, k) = qk[head * 2 * seq * dim_pad..][..2 * seq * dim_pad].split_at_mut(seq * dim_pad);
            self.gather(qkv, 0, head, q);
            self.gather(qkv, 1, head, k);
            self.gather(qkv, 2, head, &mut v);
            transpose(k, seq, dim_pad, dim, seq_pad, &mut k_t);
            let weights = &mut weights[head * seq * seq..][..seq * seq];
            for (i0, whole) in blocks(seq, ROWS) {
                match whole {
                    true => self.forward_rows::<ROWS>(i0, head, q, &k_t, &v, &mut scores, weights, out),
                    false => self.forward_rows::<1>(i0, head, q, &k_t, &v, &mut scores, weights, out),
                }
            }
        }
    }

    /// Queries `i0..i0 + R` of `head`: their scores (q_i . k_j for the keys j <= i each sees, and
    /// past them to a chunk's end, unread), their weights, and their outputs, the weighted sums
    /// of the values (a key after a query has weight exactly 0, a term that changes no sum).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn forward_rows<const R: usize>(
        &self,
        i0: usize,
        head: usize,
        q: &[f32],
        k_t: &[f32],
        v: &[f32],
        scores: &mut [f32],
        weights: &mut [f32],
        out: &mut [f32],
    ) {
        let Heads { seq, head_dim: dim, .. } = self.shape;
        let (width, dim_pad, seq_pad) = (self.shape.width(), padded(dim), padded(seq));
        let last = i0 + R - 1;
        for j0 in (0..=last).step_by(LANES) {
            let block = weighted_block::<R>(|r, x| q[(i0 + r) * dim_pad + x], k_t, seq_pad, j0, 0, dim);
            for (r, sums) in block.iter().enumerate() {
                scores[r * seq_pad + j0..][..LANES].copy_from_slice(sums);
            }
        }
        // The softmax of each row over the keys its query sees, as `rows::softmax_row` computes
        // it, over whole chunks of lanes: the scores past the row's end become minus infinity
        // (their exponentials, unread, are 0). The rows' maxima first, each one's wait apart
        // from the exponentials; the rows' sums side by side.
        let scale = self.shape.scale();
        let span = (last + 1).next_multiple_of(LANES);
        let maxes: [f32; R] = std::array::from_fn(|r| {
            let row = &mut scores[r * seq_pad..][..span];
            row[i0 + r + 1..].fill(f32::NEG_INFINITY);
            max_of(row) * scale
        });
        for (r, max) in maxes.into_iter().enumerate() {
            let row = &mut scores[r * seq_pad..][..span];
            for x in row.iter_mut() {
                *x = *x * scale - max;
            }
            exp_inline(row);
        }
        let sums = row_sums::<R>(scores, seq_pad, i0 + 1);
        for (r, sum) in sums.into_iter().enumerate() {
            let i = i0 + r;
            let inv = 1.0 / sum;
            for (w, &e) in weights[i * seq..][..=i].iter_mut().zip(&scores[r * seq_pad..][..=i]) {
                *w = e * inv;
            }
        }
        let weights = &*weights;
        for c in (0..dim).step_by(LANES) {
            let block = weighted_block::<R>(|r, j| weights[(i0 + r) * seq + j], v, dim_pad, c, 0, last + 1);
            let lanes = LANES.min(dim - c);
            for (r, sums) in block.iter().enumerate() {
                out[(i0 + r) * width + head * dim + c..][..lanes].copy_from_slice(&sums[..lanes]);
            }
        }
    }

    #[inline(always)]
    fn backward(&self, qkv: &[f32], qk: &[f32], weights: &[f32], grad: &[f32], d_qkv: &mut [f32]) {
        let Heads { seq, head_dim: dim, .. } = self.shape;
        let (width, dim_pad, seq_pad) = (self.shape.width(), padded(dim), padded(seq));
        let mut v = vec![0.0f32; seq * dim_pad];
        let mut v_t = vec![0.0f32; dim * seq_pad];
        let mut d_out = vec![0.0f32; seq * dim_pad];
        let mut d_weights = vec![0.0f32; ROWS * seq_pad];
        // The scores' gradient, `[seq, seq]`, zero after each query's position.
        let mut d_scores = vec![0.0f32; seq * seq];
        let mut d_rows = vec![0.0f32; ROWS * 3 * dim_pad];
        for head in 0..self.shape.heads {
            let (q, k) = qk[head * 2 * seq * dim_pad..][..2 * seq * dim_pad].split_at(seq * dim_pad);
            let weights = &weights[head * seq * seq..][..seq * seq];
            self.gather(qkv, 2, head, &mut v);
            transpose(&v, seq, dim_pad, dim, seq_pad, &mut v_t);
            for (i, row) in d_out.chunks_mut(dim_pad).enumerate() {
                row[..dim].copy_from_slice(&grad[i * width + head * dim..][..dim]);
            }
            let part = Part { head, q, k, d_out: &d_out, weights };
            for (i0, whole) in blocks(seq, ROWS) {
                match whole {
                    true => {
                        self.backward_rows::<ROWS>(i0, &part, &v_t, &mut d_weights, &mut d_scores, &mut d_rows, d_qkv)
                    }
                    false => {
                        self.backward_rows::<1>(i0, &part, &v_t, &mut d_weights, &mut d_scores, &mut d_rows, d_qkv)
                    }
                }
            }
            for (j0, whole) in blocks(seq, ROWS) {
                match whole {
                    true => self.backward_keys::<ROWS>(j0, &part, &d_scores, &mut d_rows, d_qkv),
                    false => self.backward_keys::<1>(j0, &part, &d_scores, &mut d_rows, d_qkv),
                }
            }
        }
    }

    /// Queries `i0..i0 + R` of a head: their weights' gradient (d_out_i . v_j), their scores'
    /// gradient (kept in `d_scores` for the keys), and q's gradient from it.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn backward_rows<const R: usize>(
        &self,
        i0: usize,
        part: &Part,
        v_t: &[f32],
        d_weights: &mut [f32],
        d_scores: &mut [f32],
        d_rows: &mut [f32],
        d_qkv: &mut [f32],
    ) {
        let Heads { seq, head_dim: dim, .. } = self.shape;
        let (dim_pad, seq_pad) = (padded(dim), padded(seq));
        let last = i0 + R - 1;
        for j0 in (0..=last).step_by(LANES) {
            let block = weighted_block::<R>(|r, x| part.d_out[(i0 + r) * dim_pad + x], v_t, seq_pad, j0, 0, dim);
            for (r, sums) in block.iter().enumerate() {
                d_weights[r * seq_pad + j0..][..LANES].copy_from_slice(sums);
            }
        }
        for r in 0..R {
            let i = i0 + r;
            let (row, weights) = (&mut d_scores[i * seq..][..=i], &part.weights[i * seq..][..=i]);
            softmax_backward_row(row, weights, &d_weights[r * seq_pad..][..=i], self.shape.scale());
        }
        // q_i's gradient: the keys it sees, weighted by its scores' gradient.
        let d_scores = &*d_scores;
        for c in (0..dim_pad).step_by(LANES) {
            let block = weighted_block::<R>(|r, j| d_scores[(i0 + r) * seq + j], part.k, dim_pad, c, 0, last + 1);
            for (r, sums) in block.iter().enumerate() {
                d_rows[r * dim_pad + c..][..LANES].copy_from_slice(sums);
            }
        }
        for r in 0..R {
            self.unrotate(i0 + r, &d_rows[r * dim_pad..][..dim], &mut d_qkv[self.at(0, part.head, i0 + r)]);
        }
    }

    /// Keys `j0..j0 + R` of a head: k's gradient (the queries that see each, i >= j, weighted by
    /// their scores' gradient) and v's (the outputs' gradients of those queries, by their weights).
    #[inline(always)]
    fn backward_keys<const R: usize>(
        &self,
        j0: usize,
        part: &Part,
        d_scores: &[f32],
        d_rows: &mut [f32],
        d_qkv: &mut [f32],
    ) {
        let Heads { seq, head_dim: dim, .. } = self.shape;
        let dim_pad = padded(dim);
        for c in (0..dim_pad).step_by(LANES) {
            let d_k = weighted_block::<R>(|r, i| d_scores[i * seq + j0 + r], part.q, dim_pad, c, j0, seq);
            let d_v = weighted_block::<R>(|r, i| part.weights[i * seq + j0 + r], part.d_out, dim_pad, c, j0, seq);
            for r in 0..R {
                d_rows[r * dim_pad + c..][..LANES].copy_from_slice(&d_k[r]);
                d_rows[(R + r) * dim_pad + c..][..LANES].copy_from_slice(&d_v[r]);
            }
        }
        for r in 0..R {
            let j = j0 + r;
            self.unrotate(j, &d_rows[r * dim_pad..][..dim], &mut d_qkv[self.at(1, part.head, j)]);
            d_qkv[self.at(2, part.head, j)].copy_from_slice(&d_rows[(R + r) * dim_pad..][..dim]);
        }
    }

    /// The gradient before the rotation at position `i`, of the gradient `d` after it.
    #[inline(always)]
    fn unrotate(&self, i: usize, d: &[f32], into: &mut [f32]) {
        let dim = self.shape.head_dim;
        rope_row(into, d, &self.own[i * dim..][..dim], &self.pair[i * dim..][..dim]);
    }
}

/// Rows of queries, blocked together: the loops below hold a block's sums in registers and read
/// each key's or value's values once for all of them.
const ROWS: usize = 4;

/// What a head's backward pass reads: its rotated q and k, the gradient of its output and its
/// weights, rows padded to [`padded`]`(head_dim)`.
struct Part<'a> {
    head: usize,
    q: &'a [f32],
    k: &'a [f32],
    d_out: &'a [f32],
    weights: &'a [f32],
}

/// For each of `R` weightings `w(r, ..)`: the sum of `w(r, j) m_j` over the rows `j` of `m` from
/// `from` to `to` in order (rows of `stride`), for the `LANES` values from `c`, one fused
/// multiply-add a term. With `m` a matrix transposed, the rows' sums are dot products: `a_r . b_j`
/// for the `LANES` columns `j` from `c` of `b`, with `w(r, x)` the values of the rows `a_r`.
#[inline(always)]
fn weighted_block<const R: usize>(
    w: impl Fn(usize, usize) -> f32,
    m: &[f32],
    stride: usize,
    c: usize,
    from: usize,
    to: usize,
) -> [[f32; LANES]; R] {
    let mut acc = [[0.0f32; LANES]; R];
    for j in from..to {
        let row: &[f32; LANES] = m[j * stride + c..][..LANES].try_into().expect("a padded row");
        for (r, acc) in acc.iter_mut().enumerate() {
            let w = w(r, j);
            for (acc, &m) in acc.iter_mut().zip(row) {
                *acc = w.mul_add(m, *acc);
            }
        }
    }
    acc
}

/// The sums of the first `first + r` values of each row `r` of `R` rows of `stride` in `rows`,
/// each summed in order from its first value (from `-0.0`, as `Iterator::sum`): the values of
/// summing the rows one by one, computed side by side so that one row's additions need not wait
/// for another's.
#[inline(always)]
fn row_sums<const R: usize>(rows: &[f32], stride: usize, first: usize) -> [f32; R] {
    let rows: [&[f32]; R] = std::array::from_fn(|r| &rows[r * stride..][..first + r]);
    let mut sums = [-0.0f32; R];
    for j in 0..first {
        for (sum, row) in sums.iter_mut().zip(rows) {
            *sum += row[j];
        }
    }
    for (sum, row) in sums.iter_mut().zip(rows) {
        for &value in &row[first..] {
            *sum += value;
        }
    }
    sums
}

/// `into` (`[cols, into_stride]`) has the first `cols` values of each of the `rows` rows of `m`
/// (rows of `stride`), transposed.
#[inline(always)]
fn transpose(m: &[f32], rows: usize, stride: usize, cols: usize, into_stride: usize, into: &mut [f32]) {
    for (r, row) in m.chunks(stride).enumerate().take(rows) {
        for (c, &value) in row[..cols].iter().enumerate() {
            into[c * into_stride + r] = value;
        }
    }
}
