//! The deterministic train/holdout split of a token stream.
//!
//! The stream is cut into blocks of [`BLOCK`] tokens and each block is held out or not by a hash
//! of its index alone: the split depends only on the data source and `holdout`, never on a
//! trial's seed, so every trial of a sweep is evaluated on the same tokens, and held-out blocks
//! come from all over the corpus rather than its end.

use std::ops::Range;

use super::hash::nth;

/// Tokens per split block.
pub const BLOCK: usize = 4096;

/// The ranges of a stream of `len` tokens that are held out (`true`) or trained on (`false`),
/// as the blocks they consist of.
pub fn blocks(len: usize, holdout: f64) -> Vec<(Range<usize>, bool)> {
    let count = len.div_ceil(BLOCK);
    // Hold out the `round(holdout * count)` blocks of smallest hash, at least one when asked.
    let mut order: Vec<(u64, usize)> = (0..count).map(|i| (nth(i as u64), i)).collect();
    order.sort_unstable();
    let held = ((holdout * count as f64).round() as usize)
        .max(usize::from(holdout > 0.0 && count > 1))
        .min(count.saturating_sub(1));
    let mut is_held = vec![false; count];
    for &(_, i) in &order[..held] {
        is_held[i] = true;
    }
    (0..count).map(|i| (i * BLOCK..((i + 1) * BLOCK).min(len), is_held[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_out_the_asked_share_spread_over_the_stream() {
        let len = 1_000 * BLOCK + 17;
        let blocks = blocks(len, 0.02);
        assert_eq!(blocks.len(), 1_001);
        assert_eq!(blocks.iter().map(|(r, _)| r.len()).sum::<usize>(), len);
        let held: Vec<usize> = blocks.iter().enumerate().filter(|(_, (_, h))| *h).map(|(i, _)| i).collect();
        assert_eq!(held.len(), 20);
        // Spread: some held-out blocks in each half of the stream.
        assert!(held.iter().any(|&i| i < 500) && held.iter().any(|&i| i >= 500));
        // Independent of anything but the length and the fraction.
        assert_eq!(super::blocks(len, 0.02), blocks);
    }

    #[test]
    fn always_keeps_data_on_both_sides() {
        assert_eq!(blocks(10, 0.5), vec![(0..10, false)]);
        assert!(blocks(3 * BLOCK, 0.01).iter().any(|(_, h)| *h));
        assert!(blocks(3 * BLOCK, 0.99).iter().any(|(_, h)| !*h));
        assert!(blocks(3 * BLOCK, 0.0).iter().all(|(_, h)| !*h));
    }
}
