//! sprs: a language and toolchain for sparse and dense pre-training studies.
//!
//! The phases run in one direction: [`syntax`] turns text into an AST, [`check`] resolves names,
//! evaluates records, checks types and units, and expands sweeps into trials.

pub mod check;
pub mod data;
pub mod diagnostic;
pub mod fit;
pub mod plan;
pub mod prune;
pub mod store;
pub mod syntax;
pub mod train;
