//! Training data as token streams, plain Rust: the bundled corpora, the synthetic language, and
//! the deterministic split of a stream into training and held-out blocks.

pub(crate) mod bpe;
pub(crate) mod corpus;
pub(crate) mod hash;
pub(crate) mod split;
pub mod synthetic;
pub mod tokens;
