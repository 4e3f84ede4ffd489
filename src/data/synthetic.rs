//! A generated language with a known entropy rate, for tests and calibration.
//!
//! Each context (the previous `order` tokens) has `branching` distinct successors, chosen by a
//! seeded hash; the next token is uniform among them. The entropy rate is therefore exactly
//! ln(branching) nats per token: the loss a perfect model reaches on it.

use super::hash::mix;
use crate::check::config::SyntheticConfig;

/// The entropy rate of the language, in nats per token.
pub fn entropy(config: &SyntheticConfig) -> f64 {
    (config.branching as f64).ln()
}

/// The corpus of `config.tokens` tokens.
pub fn generate(config: &SyntheticConfig) -> Vec<u32> {
    let order = config.order as usize;
    let mut tokens: Vec<u32> =
        (0..order as u64).map(|i| (mix(config.seed, u64::MAX - i) % config.vocab) as u32).collect();
    let mut state = mix(config.seed, 0x5eed);
    while (tokens.len() as u64) < config.tokens {
        let context = &tokens[tokens.len() - order..];
        state = mix(state, tokens.len() as u64);
        let choice = state % config.branching;
        tokens.push(successor(config, context, choice));
    }
    tokens.truncate(config.tokens as usize);
    tokens
}

/// The `choice`-th of the distinct successors of `context`.
fn successor(config: &SyntheticConfig, context: &[u32], choice: u64) -> u32 {
    let key = context.iter().fold(config.seed, |h, &t| mix(h, t as u64));
    let mut seen: Vec<u32> = Vec::with_capacity(config.branching as usize);
    let mut draw = 0;
    // Draw successors in a fixed order, skipping repeats, until the chosen one is reached.
    loop {
        let candidate = (mix(key, draw) % config.vocab) as u32;
        draw += 1;
        if !seen.contains(&candidate) {
            if seen.len() as u64 == choice {
                return candidate;
            }
            seen.push(candidate);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn config(order: u64, branching: u64) -> SyntheticConfig {
        SyntheticConfig { vocab: 64, order, branching, tokens: 200_000, seed: 7 }
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
