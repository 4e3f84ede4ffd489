//! Pruning masks. At each planned update, exactly `prune::pruned(s, P)` weights are pruned
//! (per matrix under `layerwise`): the weights already pruned, then the smallest in magnitude
//! (or a seeded random choice for `random`). Masks only grow, so pruned weights never return,
//! and the count is the one the planner used for N_avg.

use crate::config::{Method, Scope};
use crate::data::hash::mix;
use crate::prune;

/// The keep-masks of the prunable matrices, in the planner's matrix order.
#[derive(Debug, Clone, PartialEq)]
pub struct Masks {
    /// `true` where a weight is kept.
    pub keep: Vec<Vec<bool>>,
}

impl Masks {
    /// Nothing pruned.
    pub fn dense(sizes: &[usize]) -> Masks {
        Masks { keep: sizes.iter().map(|&n| vec![true; n]).collect() }
    }

    /// Pruned weights in all.
    pub fn pruned(&self) -> u64 {
        self.keep.iter().map(|m| m.iter().filter(|k| !**k).count() as u64).sum()
    }

    /// Raises the sparsity to `sparsity`, given the current weights of each matrix.
    pub fn update(&mut self, weights: &[Vec<f32>], sparsity: f64, scope: Scope, method: Method, seed: u64) {
        match scope {
            Scope::Global => {
                let total: usize = self.keep.iter().map(Vec::len).sum();
                // Never fewer than already pruned: masks only grow.
                let target = (prune::pruned(sparsity, total as u64) as usize).max(self.pruned() as usize);
                // (matrix, index) of every weight, the already pruned first, then by score.
                let mut order: Vec<(bool, f32, usize, usize)> = Vec::with_capacity(total);
                for (m, (keep, w)) in self.keep.iter().zip(weights).enumerate() {
                    for (i, (&kept, &value)) in keep.iter().zip(w).enumerate() {
                        order.push((kept, score(method, value, seed, m, i), m, i));
                    }
                }
                select(&mut order, target);
                for &(_, _, m, i) in &order[..target] {
                    self.keep[m][i] = false;
                }
            }
            Scope::Layerwise => {
                for (m, (keep, w)) in self.keep.iter_mut().zip(weights).enumerate() {
                    let already = keep.iter().filter(|k| !**k).count();
                    let target = (prune::pruned(sparsity, keep.len() as u64) as usize).max(already);
                    let mut order: Vec<(bool, f32, usize, usize)> = keep
                        .iter()
                        .zip(w)
                        .enumerate()
                        .map(|(i, (&kept, &value))| (kept, score(method, value, seed, m, i), m, i))
                        .collect();
                    select(&mut order, target);
                    for &(_, _, _, i) in &order[..target] {
                        keep[i] = false;
                    }
                }
            }
        }
    }
}

/// What ranks a weight for pruning: its magnitude, or a seeded pseudo-random number.
fn score(method: Method, value: f32, seed: u64, matrix: usize, index: usize) -> f32 {
    match method {
        Method::Random => (mix(mix(seed, matrix as u64), index as u64) >> 40) as f32,
        _ => value.abs(),
    }
}

/// Puts the `k` weights to prune first: already pruned, then the lowest score, ties by position.
fn select(order: &mut [(bool, f32, usize, usize)], k: usize) {
    let key = |a: &(bool, f32, usize, usize), b: &(bool, f32, usize, usize)| {
        a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then((a.2, a.3).cmp(&(b.2, b.3)))
    };
    if k > 0 && k < order.len() {
        order.select_nth_unstable_by(k - 1, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_pruning_takes_the_smallest_magnitudes_across_matrices() {
        let mut masks = Masks::dense(&[4, 4]);
        let weights = vec![vec![0.1, -5.0, 0.3, 2.0], vec![-0.2, 4.0, 0.05, 1.0]];
        masks.update(&weights, 0.5, Scope::Global, Method::Magnitude, 0);
        assert_eq!(masks.keep, vec![vec![false, true, false, true], vec![false, true, false, true]]);
        assert_eq!(masks.pruned(), 4);
    }

    #[test]
    fn masks_never_regrow() {
        let mut masks = Masks::dense(&[6]);
        masks.update(&[vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], 1.0 / 3.0, Scope::Global, Method::Magnitude, 0);
        assert_eq!(masks.keep[0], [false, false, true, true, true, true]);
        // The pruned weights are zero now; a weight that shrank below them is pruned next,
        // and the already pruned stay pruned.
        masks.update(&[vec![0.0, 0.0, 0.01, 4.0, 5.0, 6.0]], 0.5, Scope::Global, Method::Magnitude, 0);
        assert_eq!(masks.keep[0], [false, false, false, true, true, true]);
    }

    #[test]
    fn layerwise_prunes_each_matrix_to_the_count_the_planner_uses() {
        let mut masks = Masks::dense(&[7, 3]);
        let weights = vec![vec![1.0; 7], vec![1.0; 3]];
        masks.update(&weights, 0.5, Scope::Layerwise, Method::Magnitude, 0);
        let pruned: Vec<usize> = masks.keep.iter().map(|m| m.iter().filter(|k| !**k).count()).collect();
        assert_eq!(pruned, [prune::pruned(0.5, 7) as usize, prune::pruned(0.5, 3) as usize]);
    }

    #[test]
    fn random_pruning_is_seeded() {
        let weights = vec![vec![1.0; 100]];
        let run = |seed| {
            let mut masks = Masks::dense(&[100]);
            masks.update(&weights, 0.3, Scope::Global, Method::Random, seed);
            masks
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        assert_eq!(run(1).pruned(), 30);
    }
}
