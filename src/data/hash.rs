//! SplitMix64: the fast, well-mixed, seedable hash behind every deterministic choice of sprs
//! (held-out blocks, the generated language, batches, random pruning); and how digests are
//! written.

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finalizer.
pub fn splitmix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `a` combined with `b`.
pub fn mix(a: u64, b: u64) -> u64 {
    splitmix(a ^ b.wrapping_mul(GOLDEN))
}

/// Output `i` (from 0) of the SplitMix64 generator started at `start`: its state after `i + 1`
/// increments, finalized. Counter-based, so a stream can be drawn in parallel chunks.
pub fn stream(start: u64, i: u64) -> u64 {
    splitmix(start.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// The `i`-th output of SplitMix64 seeded at zero.
pub fn nth(i: u64) -> u64 {
    splitmix(i.wrapping_add(GOLDEN))
}

/// Bytes (a digest, or its first bytes) in lowercase hex: trial ids, tokenizer cache keys, the
/// SHA-256 of corpora and manifests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
