//! Training with Burn: the only module that uses it. Everything it needs arrives as plain data
//! from the plan.

pub mod backend;
pub mod checkpoint;
pub mod infer;
pub mod init;
pub mod kernels;
pub(crate) mod masks;
pub mod model;
pub mod peaks;
pub mod run;
pub mod trainer;
pub mod weights;
