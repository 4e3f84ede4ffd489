//! Syntax: source text in, [`ast::File`] out.
//!
//! The grammar lives in `grammar/sprs.pest`; [`parse`] runs it and lowers pest's pairs into the
//! owned, spanned AST of [`ast`]. No pest type leaves this module.

pub mod ast;
mod error;
mod expected;
mod expr;
mod parser;
pub mod source;
pub mod span;

pub use error::SyntaxError;
pub use parser::{parse, parse_override, LANGUAGE_VERSION, MAX_DEPTH};
pub use source::{sprs_files, FileId, Origin, SourceFile, SourceMap};
pub use span::{Ident, Loc, Span, Spanned};
