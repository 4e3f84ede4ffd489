//! Syntax diagnostics (`E00xx`).

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

/// An error found while reading the text of a file.
///
/// Each variant is documented by its `#[error]` message, its code and its help, which
/// docs/errors.md lists; its fields are what the message shows.
#[allow(missing_docs)]
#[derive(Debug, Clone, Error, Diagnostic)]
pub enum SyntaxError {
    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(sprs::E0001))]
    Unexpected {
        expected: String,
        found: String,
        #[label("unexpected {found}")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("number `{text}` is too large")]
    #[diagnostic(code(sprs::E0002), help("numbers must be finite 64-bit floats (at most about 1.8e308)"))]
    NumberTooLarge {
        text: String,
        #[label("too large")]
        span: SourceSpan,
    },

    #[error("invalid escape `{text}` in string")]
    #[diagnostic(
        code(sprs::E0003),
        help("the escapes are `\\\"`, `\\\\`, `\\n`, `\\t` and `\\u{{..}}` with 1 to 6 hex digits")
    )]
    BadEscape {
        text: String,
        #[label("invalid escape")]
        span: SourceSpan,
    },

    #[error("expected `,` or a newline between {what}")]
    #[diagnostic(code(sprs::E0004), help("put a comma between them, or write each on its own line"))]
    MissingSeparator {
        what: &'static str,
        #[label("expected `,` or a newline before this")]
        span: SourceSpan,
    },

    #[error("expression nests more than {max} levels deep")]
    #[diagnostic(code(sprs::E0006), help("split it into named `let` constants"))]
    TooDeep {
        max: usize,
        #[label("too deep")]
        span: SourceSpan,
    },

    #[error("unsupported language version `{found}`")]
    #[diagnostic(
        code(sprs::E0005),
        help("this sprs reads language version {supported}; write `sprs {supported}` or remove the header")
    )]
    UnsupportedVersion {
        found: String,
        supported: &'static str,
        #[label("not supported")]
        span: SourceSpan,
    },
}
