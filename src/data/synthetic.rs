//! A generated language with a known entropy rate, for tests and calibration.
//!
//! Each context (the previous `order` tokens) has `branching` distinct successors, chosen by a
//! seeded hash; the next token is uniform among them. The entropy rate is therefore exactly
//! ln(branching) nats per token: the loss a perfect model reaches on it.

use super::hash::mix;
use crate::config::SyntheticConfig;

/// The entropy rate of the language, in nats per token.
pub fn entropy(config: &SyntheticConfig) -> f64 {
    (config.branching as f64).ln()
}

/// The most hash draws per token a generated language may need on average
/// ([`draws_per_token`]); `sprs check` refuses one that needs more. Generating a corpus takes
/// time in proportion (a few nanoseconds a draw), and memory in proportion to its tokens, which
/// `sprs run` checks against the machine before it starts.
pub const MAX_DRAWS_PER_TOKEN: f64 = 256.0;

/// The expected number of hash draws to generate one token of `config`: its successor is the
/// c-th distinct value of a stream of uniform draws over the vocabulary, with c uniform below
/// `branching`, which takes `sum_{j<=c} V / (V - j)` draws. Averaged over c, that is
/// `(1/b) sum_{j<b} (b - j) V / (V - j)`: about (b + 1) / 2 when the branching is small, and V
/// when it equals the vocabulary.
pub fn draws_per_token(config: &SyntheticConfig) -> f64 {
    let (v, b) = (config.vocab as f64, config.branching.min(config.vocab));
    (0..b).map(|j| (b - j) as f64 * v / (v - j as f64)).sum::<f64>() / b as f64
}

/// The corpus of `config.tokens` tokens.
pub fn generate(config: &SyntheticConfig) -> Vec<u32> {
    let order = config.order as usize;
    let mut tokens: Vec<u32> =
        (0..order as u64).map(|i| (mix(config.seed, u64::MAX - i) % config.vocab) as u32).collect();
    let mut state = mix(config.seed, 0x5eed);
    let mut seen = Seen::new(config.vocab as usize);
    while (tokens.len() as u64) < config.tokens {
        let context = &tokens[tokens.len() - order..];
        state = mix(state, tokens.len() as u64);
        let choice = state % config.branching;
        tokens.push(successor(config, context, choice, &mut seen));
    }
    tokens.truncate(config.tokens as usize);
    tokens
}

/// The `choice`-th of the distinct successors of `context`.
fn successor(config: &SyntheticConfig, context: &[u32], choice: u64, seen: &mut Seen) -> u32 {
    let key = context.iter().fold(config.seed, |h, &t| mix(h, t as u64));
    seen.clear();
    let mut distinct = 0;
    let mut draw = 0;
    // Draw successors in a fixed order, skipping repeats, until the chosen one is reached.
    loop {
        let candidate = (mix(key, draw) % config.vocab) as u32;
        draw += 1;
        if seen.insert(candidate) {
            if distinct == choice {
                return candidate;
            }
            distinct += 1;
        }
    }
}

/// A set of token ids that clears in constant time: each id holds the generation it was last
/// inserted in.
struct Seen {
    stamps: Vec<u32>,
    generation: u32,
}

impl Seen {
    fn new(vocab: usize) -> Seen {
        Seen { stamps: vec![0; vocab], generation: 0 }
    }

    fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamps.fill(0);
            self.generation = 1;
        }
    }

    /// Inserts `id`; `false` if it was there already.
    fn insert(&mut self, id: u32) -> bool {
        let stamp = &mut self.stamps[id as usize];
        let new = *stamp != self.generation;
        *stamp = self.generation;
        new
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn config(order: u64, branching: u64) -> SyntheticConfig {
        SyntheticConfig { vocab: 64, order, branching, tokens: 200_000, seed: 7 }
    }

    /// The generator as first written (a linear scan for repeats): the corpus must not change,
    /// since a trial's id does not know how its data was generated.
    fn reference(config: &SyntheticConfig) -> Vec<u32> {
        let order = config.order as usize;
        let mut tokens: Vec<u32> =
            (0..order as u64).map(|i| (mix(config.seed, u64::MAX - i) % config.vocab) as u32).collect();
        let mut state = mix(config.seed, 0x5eed);
        while (tokens.len() as u64) < config.tokens {
            let context = &tokens[tokens.len() - order..];
            state = mix(state, tokens.len() as u64);
            let choice = state % config.branching;
            let key = context.iter().fold(config.seed, |h, &t| mix(h, t as u64));
            let mut seen: Vec<u32> = Vec::new();
            let mut draw = 0;
            let next = loop {
                let candidate = (mix(key, draw) % config.vocab) as u32;
                draw += 1;
                if !seen.contains(&candidate) {
                    if seen.len() as u64 == choice {
                        break candidate;
                    }
                    seen.push(candidate);
                }
            };
            tokens.push(next);
        }
        tokens.truncate(config.tokens as usize);
        tokens
    }

    #[test]
    fn generates_what_the_first_generator_did() {
        for (vocab, order, branching) in [(64, 1, 4), (64, 2, 3), (256, 1, 256), (7, 3, 7), (2, 1, 1)] {
            let config = SyntheticConfig { vocab, order, branching, tokens: 5_000, seed: 11 };
            assert_eq!(generate(&config), reference(&config), "{config:?}");
        }
    }

    /// Counts the draws the generator makes and compares them with the expectation.
    #[test]
    fn the_expected_draws_match_a_count() {
        for (vocab, branching) in [(64u64, 4u64), (64, 64), (1000, 500)] {
            let config = SyntheticConfig { vocab, order: 1, branching, tokens: 20_000, seed: 3 };
            let tokens = generate(&config);
            let mut draws = 0u64;
            let mut state = mix(config.seed, 0x5eed);
            for i in 1..tokens.len() {
                state = mix(state, i as u64);
                let choice = state % branching;
                let key = mix(config.seed, tokens[i - 1] as u64);
                let mut seen = std::collections::HashSet::new();
                let mut draw = 0;
                while seen.len() as u64 <= choice {
                    seen.insert(mix(key, draw) % vocab);
                    draw += 1;
                }
                draws += draw;
            }
            let expected = draws_per_token(&config) * (tokens.len() - 1) as f64;
            assert!((draws as f64 / expected - 1.0).abs() < 0.05, "{vocab}, {branching}: {draws} vs {expected}");
        }
    }

    #[test]
    fn is_deterministic_and_seeded() {
        let a = generate(&config(1, 4));
        assert_eq!(a, generate(&config(1, 4)));
        assert_ne!(a, generate(&SyntheticConfig { seed: 8, ..config(1, 4) }));
        assert_eq!(a.len(), 200_000);
        assert!(a.iter().all(|&t| t < 64));
    }

    /// Every context is followed by at most `branching` distinct tokens, about equally often, so
    /// the conditional entropy estimated from a sample approaches ln(branching). The plug-in
    /// estimate is biased low by about (m - 1) / 2n per context of n samples and m outcomes;
    /// the Miller-Madow correction adds that back.
    #[test]
    fn has_the_stated_entropy_rate() {
        for (order, branching) in [(1, 4), (2, 3)] {
            let config = config(order, branching);
            let tokens = generate(&config);
            let mut next: HashMap<&[u32], HashMap<u32, u64>> = HashMap::new();
            for window in tokens.windows(order as usize + 1) {
                let (context, token) = window.split_at(order as usize);
                *next.entry(context).or_default().entry(token[0]).or_default() += 1;
            }
            let total: u64 = next.values().flat_map(|m| m.values()).sum();
            let mut entropy_sum = 0.0;
            for counts in next.values() {
                assert!(counts.len() as u64 <= branching);
                let n: u64 = counts.values().sum();
                let weight = n as f64 / total as f64;
                for &c in counts.values() {
                    let p = c as f64 / n as f64;
                    entropy_sum -= weight * p * p.ln();
                }
                entropy_sum += weight * (counts.len() as f64 - 1.0) / (2.0 * n as f64);
            }
            let distinct: HashSet<&[u32]> = next.keys().copied().collect();
            assert!(!distinct.is_empty());
            assert!(
                (entropy_sum - entropy(&config)).abs() < 0.01,
                "order {order}: {entropy_sum} vs {}",
                entropy(&config)
            );
        }
    }
}
