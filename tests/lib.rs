//! The integration tests, as one binary (each `tests/*.rs` is a module): the library is linked
//! once. `common` holds what they share: the program's runner and a wait with a deadline.
//!
//! One module or one test: `cargo test --test integration ui::` or `-- --exact run::name`.

mod common;

mod check;
mod cli;
mod docs;
mod fit;
mod fmt;
mod fuzz;
mod lsp;
mod plan;
mod run;
mod security;
mod slurm;
mod tokenize;
mod train;
mod trained;
mod ui;
