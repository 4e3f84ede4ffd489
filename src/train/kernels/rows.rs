//! The fused kernels' arithmetic on plain `f32` slices, forward and backward, row by row.
//!
//! Each function reads its inputs once and writes its output once, where the composed Burn ops
//! make a pass (and an allocation) per elementary operation. Rows are split over rayon's pool in
//! fixed chunks, so that every sum is taken in the same order whatever the number of threads: a
//! run is deterministic on one machine.

use rayon::prelude::*;

use super::exp::exp_in_place;

/// Elements per parallel task: below this, a thread costs more than it saves.
const TASK: usize = 16 * 1024;

/// Rows of `width` per parallel task.
fn rows_per_task(width: usize) -> usize {
    (TASK / width.max(1)).max(1)
}

/// Softmax of `scale * scores` over the last axis of `[.., seq, seq]` attention scores, where
/// query `q` (the row's index within its `[seq, seq]` block) sees keys `0..=q` only; the keys
/// after it get weight 0.
pub fn causal_softmax(scores: &[f32], seq: usize, scale: f32) -> Vec<f32> {
    let mut out = vec![0.0; scores.len()];
    let chunk = rows_per_task(seq) * seq;
    out.par_chunks_mut(chunk).zip(scores.par_chunks(chunk)).enumerate().for_each(|(task, (out, scores))| {
        let first = task * rows_per_task(seq);
        for (r, (out, row)) in out.chunks_mut(seq).zip(scores.chunks(seq)).enumerate() {
            let seen = (first + r) % seq + 1;
            softmax_row(&mut out[..seen], &row[..seen], scale);
        }
    });
    out
}

/// One row of [`causal_softmax`]: `out` from the scores a query sees.
#[inline(always)]
pub(super) fn softmax_row(out: &mut [f32], row: &[f32], scale: f32) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) * scale;
    for (o, &x) in out.iter_mut().zip(row) {
        *o = x * scale - max;
    }
    exp_in_place(out);
    let inv = 1.0 / out.iter().sum::<f32>();
    out.iter_mut().for_each(|o| *o *= inv);
}

/// The gradient of [`causal_softmax`] with respect to its scores, from its output `weights` and
/// the gradient `grad` of its output: `scale * w * (g - sum(g * w))` along each row.
pub fn causal_softmax_backward(weights: &[f32], grad: &[f32], seq: usize, scale: f32) -> Vec<f32> {
    let mut out = vec![0.0; weights.len()];
    let chunk = rows_per_task(seq) * seq;
    out.par_chunks_mut(chunk).zip(weights.par_chunks(chunk).zip(grad.par_chunks(chunk))).enumerate().for_each(
        |(task, (out, (weights, grad)))| {
            let first = task * rows_per_task(seq);
            let rows = out.chunks_mut(seq).zip(weights.chunks(seq).zip(grad.chunks(seq)));
            for (r, (out, (w, g))) in rows.enumerate() {
                let seen = (first + r) % seq + 1;
                softmax_backward_row(&mut out[..seen], &w[..seen], &g[..seen], scale);
            }
        },
    );
    out
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
            let mut shifted = vec![0.0; vocab];
            let mut loss = 0.0f64;
            let mut lse = Vec::with_capacity(targets.len());
            for (row, &target) in logits.chunks(vocab).zip(targets) {
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                for (s, &x) in shifted.iter_mut().zip(row) {
                    *s = x - max;
                }
                exp_in_place(&mut shifted);
                let row_lse = max + shifted.iter().sum::<f32>().ln();
                loss += f64::from(row_lse - row[target]);
                lse.push(row_lse);
            }
            (loss, lse)
        })
        .collect();
    let total: f64 = parts.iter().map(|(loss, _)| loss).sum();
    let lse = parts.into_iter().flat_map(|(_, lse)| lse).collect();
    ((total / targets.len().max(1) as f64) as f32, lse)
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
            let rows = out.chunks_mut(vocab).zip(logits.chunks(vocab));
            for ((out, row), (&target, &lse)) in rows.zip(targets.iter().zip(lse)) {
                for (o, &x) in out.iter_mut().zip(row) {
                    *o = x - lse;
                }
                exp_in_place(out);
                out.iter_mut().for_each(|o| *o *= scale);
                out[target] -= scale;
            }
        });
    out
}

/// SwiGLU's gated product of rows `[gate | up]` of `2 * mlp` values: rows of `mlp` values
/// `silu(gate) * up`.
pub fn swiglu(gate_up: &[f32], mlp: usize) -> Vec<f32> {
    let rows = rows_per_task(2 * mlp);
    let mut out = vec![0.0; gate_up.len() / 2];
    out.par_chunks_mut(rows * mlp).zip(gate_up.par_chunks(rows * 2 * mlp)).for_each(|(out, input)| {
        for (out, row) in out.chunks_mut(mlp).zip(input.chunks(2 * mlp)) {
            let (gate, up) = row.split_at(mlp);
            // e^-gate, the sigmoid's building block: sigmoid(x) = 1 / (1 + e^-x).
            out.iter_mut().zip(gate).for_each(|(o, g)| *o = -g);
            exp_in_place(out);
            for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
                *o = g / (1.0 + *o) * u;
            }
        }
    });
    out
}

/// The gradient of [`swiglu`] with respect to its rows `[gate | up]`, from the gradient of its
/// output.
pub fn swiglu_backward(gate_up: &[f32], mlp: usize, grad: &[f32]) -> Vec<f32> {
    let rows = rows_per_task(2 * mlp);
    let mut d = vec![0.0; gate_up.len()];
    d.par_chunks_mut(rows * 2 * mlp).zip(gate_up.par_chunks(rows * 2 * mlp).zip(grad.par_chunks(rows * mlp))).for_each(
        |(d, (input, grad))| {
            for ((d, row), dy) in d.chunks_mut(2 * mlp).zip(input.chunks(2 * mlp)).zip(grad.chunks(mlp)) {
                let ((gate, up), (d_gate, d_up)) = (row.split_at(mlp), d.split_at_mut(mlp));
                d_gate.iter_mut().zip(gate).for_each(|(o, g)| *o = -g);
                exp_in_place(d_gate);
                for i in 0..mlp {
                    let (g, u, dy) = (gate[i], up[i], dy[i]);
                    let s = 1.0 / (1.0 + d_gate[i]);
                    d_up[i] = dy * g * s;
                    // d silu(g) / dg = s + g s (1 - s)
                    d_gate[i] = dy * u * s * (1.0 + g * (1.0 - s));
                }
            }
        },
    );
    d
}

/// `1 / sqrt(mean(x^2) + eps)` of one row.
fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let mean_square = row.iter().map(|x| x * x).sum::<f32>() / row.len() as f32;
    1.0 / (mean_square + eps).sqrt()
}

/// RMSNorm of each row of width `gamma.len()`: `x / sqrt(mean(x^2) + eps) * gamma`.
pub fn rms_norm(x: &[f32], gamma: &[f32], eps: f32) -> Vec<f32> {
    let width = gamma.len();
    let mut out = vec![0.0; x.len()];
    let chunk = rows_per_task(width) * width;
    out.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).for_each(|(out, x)| {
        for (out, row) in out.chunks_mut(width).zip(x.chunks(width)) {
            let inv = inv_rms(row, eps);
            for ((o, &x), &g) in out.iter_mut().zip(row).zip(gamma) {
                *o = x * inv * g;
            }
        }
    });
    out
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
            let rows = dx.chunks_mut(width).zip(x.chunks(width).zip(grad.chunks(width)));
            for (dx, (row, dy)) in rows {
                let inv = inv_rms(row, eps);
                let mut mean_hn = 0.0;
                for i in 0..width {
                    let n = row[i] * inv;
                    d_gamma[i] += dy[i] * n;
                    mean_hn += dy[i] * gamma[i] * n;
                }
                mean_hn /= width as f32;
                for i in 0..width {
                    dx[i] = (dy[i] * gamma[i] - row[i] * inv * mean_hn) * inv;
                }
            }
            d_gamma
        })
        .collect();
    let mut d_gamma = vec![0.0; width];
    for part in partial {
        d_gamma.iter_mut().zip(part).for_each(|(d, p)| *d += p);
    }
    (dx, d_gamma)
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
    out.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).for_each(|(out, x)| {
        for (r, (out, x)) in out.chunks_mut(head_dim).zip(x.chunks(head_dim)).enumerate() {
            let at = (r % seq) * head_dim;
            rope_row(out, x, &own[at..at + head_dim], &pair[at..at + head_dim]);
        }
    });
    out
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
