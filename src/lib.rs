//! sprs: a language and toolchain for sparse and dense pre-training studies.
//!
//! The phases run in one direction: [`syntax`] turns text into an AST, [`check`] resolves names,
//! evaluates records, checks types and units, and expands sweeps into trials; [`plan`] counts
//! each trial's parameters, steps and compute; [`train`] (the only phase that uses Burn) trains
//! them into the [`store`] (results, final weights, TensorBoard events); [`fit`] fits scaling
//! laws to the results and [`report`] writes them up; [`trained`] takes finished trials out of
//! sprs (a Hugging Face export, the loss of a text, samples).
//! Beneath them, [`fs`] opens and replaces files without following links and [`format`] shows
//! numbers to people, for every phase.
//! [`access`] decides what a file may read, for every phase that reads; [`sweep`] runs a plan's
//! trials side by side and concludes with the fits and the report; [`launch`] hands them to Slurm
//! and tells where a results folder stands.

#![warn(missing_docs)]
pub mod access;
pub mod check;
pub mod config;
pub mod data;
pub mod diagnostic;
pub mod escape;
pub mod fit;
pub mod fmt;
pub mod format;
pub mod fs;
pub mod launch;
pub mod lsp;
pub mod observables;
pub mod plan;
pub mod prune;
pub mod report;
pub mod store;
pub mod sweep;
pub mod syntax;
pub mod train;
pub mod trained;
