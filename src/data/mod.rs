//! Training data as token streams, plain Rust: the bundled corpora, the synthetic language, and
//! the deterministic split of a stream into training and held-out blocks.

pub mod bpe;
pub mod corpus;
pub mod hash;
pub mod split;
pub mod synthetic;
pub mod tokens;
