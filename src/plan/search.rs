//! Searching a monotone predicate over whole numbers: by bisection, or outward from a good
//! guess.

/// The smallest `k` in `0..=max` at which `reaches` holds, or `max` if it holds nowhere, for a
/// predicate that is false up to some `k` and true from there on. It searches outward from
/// `guess` in doubling steps, then bisects: O(log distance) calls.
pub(super) fn first_from(guess: u64, max: u64, mut reaches: impl FnMut(u64) -> bool) -> u64 {
    let guess = guess.min(max);
    // The answer lies in lo..=hi, and `reaches(hi)` holds.
    let (mut lo, mut hi) = (0, guess);
    if reaches(guess) {
        let mut step = 1;
        while hi > 0 {
            let probe = hi.saturating_sub(step);
            if !reaches(probe) {
                lo = probe + 1;
                break;
            }
            hi = probe;
            step *= 2;
        }
    } else {
        let mut step = 1;
        lo = guess + 1;
        loop {
            if lo > max {
                return max;
            }
            let probe = guess.saturating_add(step).min(max);
            if reaches(probe) {
                hi = probe;
                break;
            }
            if probe == max {
                return max;
            }
            lo = probe + 1;
            step *= 2;
        }
    }
    bisect(lo, hi, reaches)
}

/// The smallest `k` in `lo..=hi` at which `reaches` holds, for a predicate that is false up to
/// some `k` and true from there on; `hi` when it holds nowhere below `hi` (whether or not it holds
/// at `hi`, which is never asked).
pub(super) fn bisect(mut lo: u64, mut hi: u64, mut reaches: impl FnMut(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outward_search_finds_the_first_point_that_reaches() {
        for max in [0u64, 1, 2, 7, 100] {
            for threshold in 0..=max + 2 {
                for guess in 0..=max + 1 {
                    let calls = std::cell::Cell::new(0);
                    let found = first_from(guess, max, |k| {
                        calls.set(calls.get() + 1);
                        k >= threshold
                    });
                    assert_eq!(found, threshold.min(max), "max {max}, threshold {threshold}, guess {guess}");
                    assert!(calls.get() <= 4 * (64 - max.leading_zeros() as usize) + 2, "{} calls", calls.get());
                }
            }
        }
    }
}
