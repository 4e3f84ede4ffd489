//! The fused kernels' arithmetic on plain `f32` slices, forward and backward, row by row.
//!
//! Each function reads its inputs once and writes its output once, where the composed Burn ops
//! make a pass (and an allocation) per elementary operation. Rows are split over rayon's pool in
//! fixed chunks, so that every sum is taken in the same order whatever the number of threads: a
//! run is deterministic on one machine.

use rayon::prelude::*;

use super::exp::exp_inline;

/// Elements per parallel task: below this, a thread costs more than it saves.
const TASK: usize = 16 * 1024;

/// Rows of `width` per parallel task.
fn rows_per_task(width: usize) -> usize {
    (TASK / width.max(1)).max(1)
}

/// Rows summed side by side: the kernels sum this many rows at once, so that one row's
/// additions (each waiting on the one before it, to keep the sum's order) overlap another's.
const SIDE_BY_SIDE: usize = 4;

/// For each of `R` rows `r`, the sum of `term(r, j)` over `j` in `0..n` in order, starting from
/// `from`: the value of summing the rows one by one (`Iterator::sum` starts from `-0.0`).
#[inline(always)]
fn sums<const R: usize>(from: f32, n: usize, term: impl Fn(usize, usize) -> f32) -> [f32; R] {
    let mut sums = [from; R];
    for j in 0..n {
        for (r, sum) in sums.iter_mut().enumerate() {
            *sum += term(r, j);
        }
    }
    sums
}

/// The largest of `xs` ignoring NaN (minus infinity if none): the fold of `f32::max` from minus
/// infinity, taken sixteen lanes at a time and the lanes then by halves. Only the sign of a zero
/// maximum can depend on the order, and the kernels' results do not: they subtract the maximum,
/// and `x - 0.0` and `x + 0.0` differ only for `x` a zero, whose exponential is 1 either way.
#[inline(always)]
pub(super) fn max_of(xs: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(x);
        }
    }
    for (m, &x) in lanes.iter_mut().zip(rest) {
        *m = m.max(x);
    }
    // The lanes' maximum by halves: four vector steps rather than a chain of sixteen.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            lanes[k] = lanes[k].max(lanes[k + width]);
        }
    }
    lanes[0]
}

/// The starts of the blocks of `size` rows that `rows` rows hold whole, each with `true`, then
/// each row left, with `false`. (An iterator, not a function taking the work as a closure: a
/// closure is compiled apart, without the vector instructions of the function it is written in.)
pub(super) fn blocks(rows: usize, size: usize) -> impl Iterator<Item = (usize, bool)> {
    let whole = rows / size * size;
    (0..whole).step_by(size).map(|start| (start, true)).chain((whole..rows).map(|start| (start, false)))
}

/// Softmax of `scale * scores` over the last axis of `[.., seq, seq]` attention scores, where
/// query `q` (the row's index within its `[seq, seq]` block) sees keys `0..=q` only; the keys
/// after it get weight 0.
pub fn causal_softmax(scores: &[f32], seq: usize, scale: f32) -> Vec<f32> {
    let mut out = vec![0.0; scores.len()];
    let chunk = rows_per_task(seq) * seq;
    out.par_chunks_mut(chunk).zip(scores.par_chunks(chunk)).enumerate().for_each(|(task, (out, scores))| {
        causal_softmax_rows(out, scores, seq, scale, task * rows_per_task(seq));
    });
    out
}

widest! {
    /// [`causal_softmax`] on whole rows, the first of them query `first` (modulo `seq`).
    fn causal_softmax_rows(out: &mut [f32], scores: &[f32], seq: usize, scale: f32, first: usize) {
        for (r, (out, row)) in out.chunks_mut(seq).zip(scores.chunks(seq)).enumerate() {
            let seen = (first + r) % seq + 1;
            softmax_row(&mut out[..seen], &row[..seen], scale);
        }
    }
}

/// One row of [`causal_softmax`]: `out` from the scores a query sees.
#[inline(always)]
fn softmax_row(out: &mut [f32], row: &[f32], scale: f32) {
    let max = max_of(row) * scale;
    for (o, &x) in out.iter_mut().zip(row) {
        *o = x * scale - max;
    }
    exp_inline(out);
    let inv = 1.0 / out.iter().sum::<f32>();
    for o in out.iter_mut() {
        *o *= inv;
    }
}

/// The gradient of [`causal_softmax`] with respect to its scores, from its output `weights` and
/// the gradient `grad` of its output: `scale * w * (g - sum(g * w))` along each row.
pub fn causal_softmax_backward(weights: &[f32], grad: &[f32], seq: usize, scale: f32) -> Vec<f32> {
    let mut out = vec![0.0; weights.len()];
    let chunk = rows_per_task(seq) * seq;
    out.par_chunks_mut(chunk).zip(weights.par_chunks(chunk).zip(grad.par_chunks(chunk))).enumerate().for_each(
        |(task, (out, (weights, grad)))| {
            causal_softmax_backward_rows(out, weights, grad, seq, scale, task * rows_per_task(seq));
        },
    );
    out
}

widest! {
    /// [`causal_softmax_backward`] on whole rows, the first of them query `first` (modulo `seq`).
    fn causal_softmax_backward_rows(out: &mut [f32], weights: &[f32], grad: &[f32], seq: usize, scale: f32, first: usize) {
        let rows = out.chunks_mut(seq).zip(weights.chunks(seq).zip(grad.chunks(seq)));
        for (r, (out, (w, g))) in rows.enumerate() {
            let seen = (first + r) % seq + 1;
            softmax_backward_row(&mut out[..seen], &w[..seen], &g[..seen], scale);
        }
    }
}

/// One row of [`causal_softmax_backward`], over the keys its query sees.
#[inline(always)]
pub(super) fn softmax_backward_row(out: &mut [f32], w: &[f32], g: &[f32], scale: f32) {
    let dot: f32 = w.iter().zip(g).map(|(w, g)| w * g).sum();
    for ((o, &w), &g) in out.iter_mut().zip(w).zip(g) {
        *o = scale * w * (g - dot);
    }
}

/// Mean cross-entropy of `[rows, vocab]` logits against one target class per row, in nats, and
/// each row's log-sum-exp (kept for the backward pass).
pub fn cross_entropy(logits: &[f32], vocab: usize, targets: &[usize]) -> (f32, Vec<f32>) {
    let per_task = rows_per_task(vocab);
    let parts: Vec<(f64, Vec<f32>)> = logits
        .par_chunks(per_task * vocab)
        .zip(targets.par_chunks(per_task))
        .map(|(logits, targets)| {
            let mut lse = vec![0.0; targets.len()];
            let loss = cross_entropy_rows(logits, vocab, targets, &mut lse);
            (loss, lse)
        })
        .collect();
    let total: f64 = parts.iter().map(|(loss, _)| loss).sum();
    let lse = parts.into_iter().flat_map(|(_, lse)| lse).collect();
    ((total / targets.len().max(1) as f64) as f32, lse)
}

widest! {
    /// [`cross_entropy`] on whole rows: their summed loss, and their log-sum-exps in `lse`.
    fn cross_entropy_rows(logits: &[f32], vocab: usize, targets: &[usize], lse: &mut [f32]) -> f64 {
        let mut shifted = vec![0.0; SIDE_BY_SIDE * vocab];
        let mut loss = 0.0f64;
        for (first, whole) in blocks(targets.len(), SIDE_BY_SIDE) {
            let (logits, targets, lse) = (&logits[first * vocab..], &targets[first..], &mut lse[first..]);
            match whole {
                true => cross_entropy_block::<SIDE_BY_SIDE>(logits, vocab, targets, lse, &mut shifted, &mut loss),
                false => cross_entropy_block::<1>(logits, vocab, targets, lse, &mut shifted, &mut loss),
            }
        }
        loss
    }
}

/// [`cross_entropy`] on the first `R` rows, in order: their losses added to `loss`, their
/// log-sum-exps in `lse`, with `shifted` room for `R` rows.
#[inline(always)]
fn cross_entropy_block<const R: usize>(
    logits: &[f32],
    vocab: usize,
    targets: &[usize],
    lse: &mut [f32],
    shifted: &mut [f32],
    loss: &mut f64,
) {
    let (logits, shifted) = (&logits[..R * vocab], &mut shifted[..R * vocab]);
    let mut maxes = [0.0f32; R];
    for ((max, row), shifted) in maxes.iter_mut().zip(logits.chunks_exact(vocab)).zip(shifted.chunks_exact_mut(vocab)) {
        *max = max_of(row);
        for (s, &x) in shifted.iter_mut().zip(row) {
            *s = x - *max;
        }
    }
    exp_inline(shifted);
    let exp_sums = sums::<R>(-0.0, vocab, |r, j| shifted[r * vocab + j]);
    for r in 0..R {
        let row_lse = maxes[r] + exp_sums[r].ln();
        *loss += f64::from(row_lse - logits[r * vocab + targets[r]]);
        lse[r] = row_lse;
    }
}

/// The gradient of [`cross_entropy`] with respect to its logits, scaled by `grad` (the gradient
/// of the mean loss): `grad / rows * (softmax(logits) - onehot(target))`.
pub fn cross_entropy_backward(logits: &[f32], vocab: usize, targets: &[usize], lse: &[f32], grad: f32) -> Vec<f32> {
    let mut out = vec![0.0; logits.len()];
    let per_task = rows_per_task(vocab);
    let scale = grad / targets.len().max(1) as f32;
    out.par_chunks_mut(per_task * vocab)
        .zip(logits.par_chunks(per_task * vocab))
        .zip(targets.par_chunks(per_task).zip(lse.par_chunks(per_task)))
        .for_each(|((out, logits), (targets, lse))| {
            cross_entropy_backward_rows(out, logits, vocab, targets, lse, scale)
        });
    out
}

widest! {
    /// [`cross_entropy_backward`] on whole rows.
    fn cross_entropy_backward_rows(out: &mut [f32], logits: &[f32], vocab: usize, targets: &[usize], lse: &[f32], scale: f32) {
        let rows = out.chunks_mut(vocab).zip(logits.chunks(vocab));
        for ((out, row), (&target, &lse)) in rows.zip(targets.iter().zip(lse)) {
            for (o, &x) in out.iter_mut().zip(row) {
                *o = x - lse;
            }
            exp_inline(out);
            for o in out.iter_mut() {
                *o *= scale;
            }
            out[target] -= scale;
        }
    }
}

/// SwiGLU's gated product of rows `[gate | up]` of `2 * mlp` values: rows of `mlp` values
/// `silu(gate) * up`.
pub fn swiglu(gate_up: &[f32], mlp: usize) -> Vec<f32> {
    let rows = rows_per_task(2 * mlp);
    let mut out = vec![0.0; gate_up.len() / 2];
    out.par_chunks_mut(rows * mlp)
        .zip(gate_up.par_chunks(rows * 2 * mlp))
        .for_each(|(out, input)| swiglu_rows(out, input, mlp));
    out
}

widest! {
    /// [`swiglu`] on whole rows.
    fn swiglu_rows(out: &mut [f32], input: &[f32], mlp: usize) {
        for (out, row) in out.chunks_mut(mlp).zip(input.chunks(2 * mlp)) {
            let (gate, up) = row.split_at(mlp);
            // e^-gate, the sigmoid's building block: sigmoid(x) = 1 / (1 + e^-x).
            for (o, g) in out.iter_mut().zip(gate) {
                *o = -g;
            }
            exp_inline(out);
            for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
                *o = g / (1.0 + *o) * u;
            }
        }
    }
}

/// The gradient of [`swiglu`] with respect to its rows `[gate | up]`, from the gradient of its
/// output.
pub fn swiglu_backward(gate_up: &[f32], mlp: usize, grad: &[f32]) -> Vec<f32> {
    let rows = rows_per_task(2 * mlp);
    let mut d = vec![0.0; gate_up.len()];
    d.par_chunks_mut(rows * 2 * mlp)
        .zip(gate_up.par_chunks(rows * 2 * mlp).zip(grad.par_chunks(rows * mlp)))
        .for_each(|(d, (input, grad))| swiglu_backward_rows(d, input, grad, mlp));
    d
}

widest! {
    /// [`swiglu_backward`] on whole rows.
    fn swiglu_backward_rows(d: &mut [f32], input: &[f32], grad: &[f32], mlp: usize) {
        for ((d, row), dy) in d.chunks_mut(2 * mlp).zip(input.chunks(2 * mlp)).zip(grad.chunks(mlp)) {
            let ((gate, up), (d_gate, d_up)) = (row.split_at(mlp), d.split_at_mut(mlp));
            for (o, g) in d_gate.iter_mut().zip(gate) {
                *o = -g;
            }
            exp_inline(d_gate);
            let inputs = gate.iter().zip(up).zip(dy);
            for ((d_gate, d_up), ((&g, &u), &dy)) in d_gate.iter_mut().zip(d_up.iter_mut()).zip(inputs) {
                let s = 1.0 / (1.0 + *d_gate);
                *d_up = dy * g * s;
                // d silu(g) / dg = s + g s (1 - s)
                *d_gate = dy * u * s * (1.0 + g * (1.0 - s));
            }
        }
    }
}

/// `1 / sqrt(mean(x^2) + eps)` of a row of `width` values whose squares sum to `squares`.
#[inline(always)]
fn inv_rms(squares: f32, width: usize, eps: f32) -> f32 {
    1.0 / (squares / width as f32 + eps).sqrt()
}

/// For each of `R` rows of `width` in `x`, the sum of its squares, in order.
#[inline(always)]
fn squares<const R: usize>(x: &[f32], width: usize) -> [f32; R] {
    let rows: [&[f32]; R] = std::array::from_fn(|r| &x[r * width..][..width]);
    sums::<R>(-0.0, width, |r, j| rows[r][j] * rows[r][j])
}

/// RMSNorm of each row of width `gamma.len()`: `x / sqrt(mean(x^2) + eps) * gamma`.
pub fn rms_norm(x: &[f32], gamma: &[f32], eps: f32) -> Vec<f32> {
    let width = gamma.len();
    let mut out = vec![0.0; x.len()];
    let chunk = rows_per_task(width) * width;
    out.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).for_each(|(out, x)| rms_norm_rows(out, x, gamma, eps));
    out
}

widest! {
    /// [`rms_norm`] on whole rows.
    fn rms_norm_rows(out: &mut [f32], x: &[f32], gamma: &[f32], eps: f32) {
        let width = gamma.len();
        for (first, whole) in blocks(x.len() / width.max(1), SIDE_BY_SIDE) {
            match whole {
                true => rms_norm_block::<SIDE_BY_SIDE>(&mut out[first * width..], &x[first * width..], gamma, eps),
                false => rms_norm_block::<1>(&mut out[first * width..], &x[first * width..], gamma, eps),
            }
        }
    }
}

/// [`rms_norm`] on the first `R` rows.
#[inline(always)]
fn rms_norm_block<const R: usize>(out: &mut [f32], x: &[f32], gamma: &[f32], eps: f32) {
    let width = gamma.len();
    let squares = squares::<R>(x, width);
    for ((out, row), squares) in out.chunks_exact_mut(width).zip(x.chunks_exact(width)).zip(squares) {
        let inv = inv_rms(squares, width, eps);
        for ((o, &x), &g) in out.iter_mut().zip(row).zip(gamma) {
            *o = x * inv * g;
        }
    }
}

/// The gradients of [`rms_norm`] with respect to `x` and `gamma`, from the gradient of its output.
/// With `n = x / rms` and `h = grad * gamma`: `dx = (h - n * mean(h * n)) / rms`, and `dgamma` is
/// the sum over rows of `grad * n`.
pub fn rms_norm_backward(x: &[f32], gamma: &[f32], eps: f32, grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let width = gamma.len();
    let mut dx = vec![0.0; x.len()];
    let chunk = rows_per_task(width) * width;
    let partial: Vec<Vec<f32>> = dx
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk).zip(grad.par_chunks(chunk)))
        .map(|(dx, (x, grad))| {
            let mut d_gamma = vec![0.0; width];
            rms_norm_backward_rows(dx, x, gamma, eps, grad, &mut d_gamma);
            d_gamma
        })
        .collect();
    let mut d_gamma = vec![0.0; width];
    for part in partial {
        d_gamma.iter_mut().zip(part).for_each(|(d, p)| *d += p);
    }
    (dx, d_gamma)
}

widest! {
    /// [`rms_norm_backward`] on whole rows, adding their part of `gamma`'s gradient to `d_gamma`.
    fn rms_norm_backward_rows(dx: &mut [f32], x: &[f32], gamma: &[f32], eps: f32, grad: &[f32], d_gamma: &mut [f32]) {
        let width = gamma.len();
        for (first, whole) in blocks(x.len() / width.max(1), SIDE_BY_SIDE) {
            let at = first * width;
            match whole {
                true => rms_norm_backward_block::<SIDE_BY_SIDE>(&mut dx[at..], &x[at..], gamma, eps, &grad[at..], d_gamma),
                false => rms_norm_backward_block::<1>(&mut dx[at..], &x[at..], gamma, eps, &grad[at..], d_gamma),
            }
        }
    }
}

/// [`rms_norm_backward`] on the first `R` rows, in order.
#[inline(always)]
fn rms_norm_backward_block<const R: usize>(
    dx: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    eps: f32,
    grad: &[f32],
    d_gamma: &mut [f32],
) {
    let width = gamma.len();
    let invs = squares::<R>(x, width).map(|squares| inv_rms(squares, width, eps));
    let (rows, dys): ([&[f32]; R], [&[f32]; R]) =
        (std::array::from_fn(|r| &x[r * width..][..width]), std::array::from_fn(|r| &grad[r * width..][..width]));
    let mean_hn =
        sums::<R>(0.0, width, |r, i| dys[r][i] * gamma[i] * (rows[r][i] * invs[r])).map(|sum| sum / width as f32);
    for (r, dx) in dx.chunks_exact_mut(width).take(R).enumerate() {
        let (row, dy, inv, mean_hn) = (rows[r], dys[r], invs[r], mean_hn[r]);
        for ((d, &dy), &x) in d_gamma.iter_mut().zip(dy).zip(row) {
            *d += dy * (x * inv);
        }
        for (((dx, &dy), &g), &x) in dx.iter_mut().zip(dy).zip(gamma).zip(row) {
            *dx = (dy * g - x * inv * mean_hn) * inv;
        }
    }
}

/// Rotary positions on `[.., seq, head_dim]` rows: each pair `(x[2i], x[2i+1])` at position `p`
/// is turned by the angle in `freqs[p, 2i..2i+2, ..]` (Burn's `RotaryEncoding` table of shape
/// `[context, head_dim, 2]`, cos and sin for each of the pair's two outputs):
/// `y[2i] = x[2i] a - x[2i+1] b`, `y[2i+1] = x[2i+1] c + x[2i] d` with `(a, b) = freqs[p, 2i]`,
/// `(c, d) = freqs[p, 2i+1]`. `inverse` applies the transposed map, the gradient with respect to
/// `x` of the forward one.
///
/// Every output is one product with its own input plus one with its pair's, `y[j] = x[j] s[j] +
/// x[j ^ 1] t[j]`, so the factors are laid out per position first ([`rope_factors`]) and each row
/// is two passes that vectorise. A negated factor gives the negated product exactly, so this is
/// the formula above to the bit.
pub fn rope(x: &[f32], freqs: &[f32], seq: usize, head_dim: usize, inverse: bool) -> Vec<f32> {
    let (own, pair) = rope_factors(freqs, seq, head_dim, inverse);
    let mut out = vec![0.0; x.len()];
    let block = seq * head_dim;
    let chunk = (TASK / block.max(1)).max(1) * block;
    out.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(out, x)| rope_rows(out, x, &own, &pair, seq, head_dim));
    out
}

widest! {
    /// [`rope`] on whole `[seq, head_dim]` blocks.
    fn rope_rows(out: &mut [f32], x: &[f32], own: &[f32], pair: &[f32], seq: usize, head_dim: usize) {
        for (r, (out, x)) in out.chunks_mut(head_dim).zip(x.chunks(head_dim)).enumerate() {
            let at = (r % seq) * head_dim;
            rope_row(out, x, &own[at..at + head_dim], &pair[at..at + head_dim]);
        }
    }
}

/// One row of [`rope`] at the position whose factors are `own` and `pair`.
#[inline(always)]
pub(super) fn rope_row(out: &mut [f32], x: &[f32], own: &[f32], pair: &[f32]) {
    // The pair's input first: `out[j] = x[j ^ 1]`.
    for (o, x) in out.chunks_exact_mut(2).zip(x.chunks_exact(2)) {
        o[0] = x[1];
        o[1] = x[0];
    }
    for (((o, &x), &s), &t) in out.iter_mut().zip(x).zip(own).zip(pair) {
        *o = x * s + *o * t;
    }
}

/// The factors of [`rope`] for each position and output `j`: `s[j]` multiplies `x[j]`, `t[j]`
/// multiplies `x[j ^ 1]`, both `[seq, head_dim]`.
pub(super) fn rope_factors(freqs: &[f32], seq: usize, head_dim: usize, inverse: bool) -> (Vec<f32>, Vec<f32>) {
    let mut own = Vec::with_capacity(seq * head_dim);
    let mut pair = Vec::with_capacity(seq * head_dim);
    for position in 0..seq {
        let table = &freqs[position * head_dim * 2..][..head_dim * 2];
        for i in 0..head_dim / 2 {
            let [a, b, c, d] = [table[4 * i], table[4 * i + 1], table[4 * i + 2], table[4 * i + 3]];
            own.extend([a, c]);
            // Forward: y[2i] = x[2i] a - x[2i+1] b, y[2i+1] = x[2i+1] c + x[2i] d.
            // Inverse: y[2i] = x[2i] a + x[2i+1] d, y[2i+1] = x[2i+1] c - x[2i] b.
            pair.extend(if inverse { [d, -b] } else { [-b, d] });
        }
    }
    (own, pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`rope`] as the formula reads, pair by pair.
    fn rope_by_pairs(x: &[f32], freqs: &[f32], seq: usize, head_dim: usize, inverse: bool) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for (r, (out, x)) in out.chunks_mut(head_dim).zip(x.chunks(head_dim)).enumerate() {
            let table = &freqs[(r % seq) * head_dim * 2..][..head_dim * 2];
            for i in 0..head_dim / 2 {
                let (even, odd) = (x[2 * i], x[2 * i + 1]);
                let [a, b, c, d] = [table[4 * i], table[4 * i + 1], table[4 * i + 2], table[4 * i + 3]];
                if inverse {
                    out[2 * i] = even * a + odd * d;
                    out[2 * i + 1] = odd * c - even * b;
                } else {
                    out[2 * i] = even * a - odd * b;
                    out[2 * i + 1] = odd * c + even * d;
                }
            }
        }
        out
    }

    /// The two-pass kernel gives the formula's bits, both ways, on values of every sign and size.
    #[test]
    fn rope_is_the_formula_to_the_bit() {
        let (seq, head_dim) = (13, 16);
        let mut drawn = 0;
        let mut next = || {
            drawn += 1;
            (crate::data::hash::stream(7, drawn) >> 40) as f32 / (1u64 << 24) as f32 * 8.0 - 4.0
        };
        let freqs: Vec<f32> = (0..20 * head_dim * 2).map(|_| next()).collect();
        let x: Vec<f32> = (0..3 * seq * head_dim).map(|_| next() * 1e3f32.powf(next() / 4.0)).collect();
        for inverse in [false, true] {
            let fast = rope(&x, &freqs, seq, head_dim, inverse);
            let formula = rope_by_pairs(&x, &freqs, seq, head_dim, inverse);
            assert!(fast.iter().zip(&formula).all(|(a, b)| a.to_bits() == b.to_bits()), "inverse: {inverse}");
        }
    }
}
