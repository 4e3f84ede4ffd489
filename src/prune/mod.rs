//! Pruning schedules as pure math: the sparsity after each mask update, the sparsity in force at
//! any step, and how many weights a sparsity removes. The planner and the trainer both use these,
//! so a plan's N_avg is exactly what training measures.

use crate::config::{Curve, Scope};

/// A resolved pruning window: mask updates at `start`, `start + every`, ... up to `end`
/// inclusive (steps count from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first update's step.
    pub start: u64,
    /// The last update's step, inclusive.
    pub end: u64,
    /// Steps between updates.
    pub every: u64,
}

impl Window {
    /// The number of updates: `(end - start) / every + 1`.
    pub fn updates(self) -> u64 {
        (self.end - self.start) / self.every.max(1) + 1
    }
}

/// One mask update: at `step`, the sparsity becomes `sparsity` (for the forward pass of `step`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    /// The step the update happens after.
    pub step: u64,
    /// The sparsity the masks reach at it.
    pub sparsity: f64,
}

/// A schedule that prunes to `sparsity` over `window` along `curve`, evaluated update by update.
///
/// - `cubic`: Zhu & Gupta 2017 with TF-MOT's semantics: at update step t,
///   `s(t) = s_f * (1 - (1 - p)^3)` with `p = (t - start) / (end - start)` clipped to [0, 1]
///   (so the update at `start` removes nothing).
/// - `linear`: the same with power 1.
/// - `geometric`: the authors' code of Jin et al. 2025: with n updates, the kept fraction after
///   update k (k = 0..n-1) is `(1 - s_f)^((k + 1) / n)`, computed as `r^(k + 1)` with
///   `r = (1 - s_f)^(1 / n)`: the same fraction of the remaining weights goes at every update,
///   and the first update already prunes.
/// - `one_shot`: a single update at `start` to `s_f`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    curve: Curve,
    sparsity: f64,
    window: Window,
    /// The geometric curve's kept fraction per update, squared i times: `ratio^(2^i)`.
    squares: [f64; 64],
}

impl Schedule {
    /// The updates of `curve` from sparsity 0 to `sparsity` over `window`.
    pub fn new(curve: Curve, sparsity: f64, window: Window) -> Schedule {
        let mut squares = [0.0; 64];
        squares[0] = (1.0 - sparsity).powf(1.0 / window.updates() as f64);
        for i in 1..64 {
            squares[i] = squares[i - 1] * squares[i - 1];
        }
        Schedule { curve, sparsity, window, squares }
    }

    /// `ratio^n` by repeated squaring, multiplying the squares of the set bits of `n` from the
    /// lowest up: the same products in the same order as `f64::powi`'s exponentiation by
    /// squaring (`__powidf2`), which this replaced, so every sparsity is the same to the bit; with
    /// the squares kept, a schedule's long sums cost a few multiplications per update.
    fn ratio_pow(&self, n: u64) -> f64 {
        let mut product = 1.0;
        let mut bits = n;
        let mut i = 0;
        while bits != 0 {
            if bits & 1 == 1 {
                product *= self.squares[i];
            }
            bits >>= 1;
            i += 1;
        }
        product
    }

    /// The number of updates.
    pub fn len(&self) -> u64 {
        match (self.sparsity > 0.0, self.curve) {
            (false, _) => 0,
            (true, Curve::OneShot) => 1,
            (true, _) => self.window.updates(),
        }
    }

    /// Whether the schedule makes no update (a dense trial).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Update `k`: its step and the sparsity it sets.
    pub fn update(&self, k: u64) -> Update {
        let window = self.window;
        let step = window.start + k * window.every;
        let span = (window.end - window.start) as f64;
        let p = if span == 0.0 { 1.0 } else { ((step - window.start) as f64 / span).clamp(0.0, 1.0) };
        let sparsity = match self.curve {
            Curve::OneShot => self.sparsity,
            Curve::Cubic => self.sparsity * (1.0 - (1.0 - p).powi(3)),
            Curve::Linear => self.sparsity * p,
            Curve::Geometric => 1.0 - self.ratio_pow(k + 1),
        };
        Update { step, sparsity }
    }

    /// Every update, in order.
    pub fn updates(&self) -> Vec<Update> {
        (0..self.len()).map(|k| self.update(k)).collect()
    }
}

/// The updates of a schedule (see [`Schedule`]).
pub fn updates(curve: Curve, sparsity: f64, window: Window) -> Vec<Update> {
    Schedule::new(curve, sparsity, window).updates()
}

/// The sparsity in force at `step`: that of the last update at or before it (0 before the first).
pub fn sparsity_at(updates: &[Update], step: u64) -> f64 {
    let after = updates.partition_point(|u| u.step <= step);
    if after == 0 {
        0.0
    } else {
        updates[after - 1].sparsity
    }
}

/// How many of `size` weights a sparsity removes: `round(sparsity * size)`. Monotone in
/// `sparsity`, so masks computed from it never need to regrow.
pub fn pruned(sparsity: f64, size: u64) -> u64 {
    ((sparsity * size as f64).round() as u64).min(size)
}

/// Weights removed at `sparsity` from matrices of `sizes`: one count over all of them (`global`),
/// or one per matrix (`layerwise`). The planner's N_avg and the trainer's masks both use it.
pub fn pruned_in(sparsity: f64, scope: Scope, sizes: impl IntoIterator<Item = u64>) -> u64 {
    match scope {
        Scope::Global => pruned(sparsity, sizes.into_iter().sum()),
        Scope::Layerwise => sizes.into_iter().map(|size| pruned(sparsity, size)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TF-MOT's PolynomialDecay(0 -> 0.8, begin 250, end 750, power 3, frequency 100), as worked
    /// out in PAPER.md: updates at 250, 350, ..., 750.
    #[test]
    fn cubic_matches_tf_mot() {
        let updates = updates(Curve::Cubic, 0.8, Window { start: 250, end: 750, every: 100 });
        let steps: Vec<u64> = updates.iter().map(|u| u.step).collect();
        assert_eq!(steps, [250, 350, 450, 550, 650, 750]);
        let at = |step| sparsity_at(&updates, step);
        assert_eq!(at(249), 0.0);
        assert_eq!(at(250), 0.0);
        assert!((at(350) - 0.3904).abs() < 1e-12);
        assert!((at(450) - 0.6272).abs() < 1e-12);
        // The schedule's value at 500 is 0.7, but the mask in force is still the one of step 450.
        assert!((at(500) - 0.6272).abs() < 1e-12);
        assert!((at(750) - 0.8).abs() < 1e-12);
        assert!((at(10_000) - 0.8).abs() < 1e-12);
    }

    /// The schedule value at 300 (not an update step) is 0.2168 in PAPER.md; the formula at p = 0.1.
    #[test]
    fn cubic_formula_between_updates() {
        let p: f64 = 0.1;
        assert!((0.8 * (1.0 - (1.0 - p).powi(3)) - 0.2168).abs() < 1e-12);
    }

    #[test]
    fn geometric_removes_the_same_fraction_of_what_remains() {
        let (s, window) = (0.8, Window { start: 2500, end: 12_600, every: 100 });
        let updates = updates(Curve::Geometric, s, window);
        assert_eq!(updates.len(), 102);
        let kept: Vec<f64> = updates.iter().map(|u| 1.0 - u.sparsity).collect();
        let ratio = (1.0_f64 - s).powf(1.0 / 102.0);
        for (k, update) in updates.iter().enumerate() {
            assert_eq!(update.sparsity.to_bits(), (1.0 - ratio.powi(k as i32 + 1)).to_bits(), "update {k}");
        }
        assert!((kept[0] - ratio).abs() < 1e-12);
        for pair in kept.windows(2) {
            assert!((pair[1] / pair[0] - ratio).abs() < 1e-12);
        }
        assert!((updates.last().unwrap().sparsity - s).abs() < 1e-12);
    }

    #[test]
    fn linear_and_one_shot() {
        let linear = updates(Curve::Linear, 0.5, Window { start: 0, end: 400, every: 100 });
        let values: Vec<f64> = linear.iter().map(|u| u.sparsity).collect();
        assert_eq!(values, [0.0, 0.125, 0.25, 0.375, 0.5]);
        let once = updates(Curve::OneShot, 0.5, Window { start: 30, end: 900, every: 100 });
        assert_eq!(once, [Update { step: 30, sparsity: 0.5 }]);
        assert!(updates(Curve::Cubic, 0.0, Window { start: 0, end: 100, every: 10 }).is_empty());
    }

    #[test]
    fn pruned_counts_round_and_never_exceed_the_size() {
        assert_eq!(pruned(0.5, 7), 4);
        assert_eq!(pruned(0.0, 7), 0);
        assert_eq!(pruned(0.999_999, 7), 7);
        let mut last = 0;
        for i in 0..=1000 {
            let now = pruned(i as f64 / 1000.0, 12_345);
            assert!(now >= last);
            last = now;
        }
    }
}
