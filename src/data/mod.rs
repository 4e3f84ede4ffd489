//! Training data as token streams, plain Rust: the bundled corpora, the synthetic language, the
//! deterministic split of a stream into training and held-out blocks, and `sprs tokenize`, which
//! turns corpus files into token files.

pub mod bpe;
pub(crate) mod corpus;
pub(crate) mod hash;
mod parquet;
pub(crate) mod split;
pub mod synthetic;
pub mod text;
pub mod tokenize;
pub mod tokens;
