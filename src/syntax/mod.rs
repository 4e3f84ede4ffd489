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
pub mod visit;

pub use error::SyntaxError;
pub use parser::{parse, parse_override, LANGUAGE_VERSION, MAX_DEPTH};
pub use source::{sprs_files, FileId, Origin, SourceFile, SourceMap};
pub use span::{Ident, Loc, Span, Spanned};

/// The base units, plural and singular, in the order of a unit's exponents: the one table of
/// unit words, which the checker's units, its suggestions and the editor's completion read.
pub const UNITS: [(&str, &str); 5] =
    [("tokens", "token"), ("params", "param"), ("flops", "flop"), ("steps", "step"), ("sequences", "sequence")];

/// Every word the grammar's `unit_word` rule admits: the base units, and `FLOPs` and `FLOP` (a
/// test keeps this list and the grammar's equal).
pub const UNIT_WORDS: [&str; 12] =
    ["tokens", "token", "params", "param", "flops", "flop", "FLOPs", "FLOP", "steps", "step", "sequences", "sequence"];

/// The words the grammar's `keyword` rule reserves: no name may be one (a test keeps this list
/// and the grammar's equal).
pub const KEYWORDS: [&str; 20] = [
    "sprs",
    "use",
    "let",
    "data",
    "model",
    "schedule",
    "optimizer",
    "train",
    "sweep",
    "fit",
    "in",
    "where",
    "of",
    "self",
    "true",
    "false",
    "as",
    "and",
    "or",
    "not",
];

#[cfg(test)]
mod tests {
    /// The grammar's `keyword` rule reserves exactly [`super::KEYWORDS`].
    #[test]
    fn the_keywords_are_the_grammars() {
        let grammar = include_str!("../../grammar/sprs.pest");
        let rule = grammar.split("\nkeyword = @{").nth(1).and_then(|r| r.split("~ !ident_char").next()).unwrap();
        let words: Vec<&str> = rule.split('"').skip(1).step_by(2).collect();
        assert_eq!(words, super::KEYWORDS);
    }

    /// The grammar's `unit_word` rule admits exactly [`super::UNIT_WORDS`], and every base unit
    /// of [`super::UNITS`] is among them in both forms.
    #[test]
    fn the_unit_words_are_the_grammars() {
        let grammar = include_str!("../../grammar/sprs.pest");
        let rule = grammar.split("unit_word = @{").nth(1).and_then(|r| r.split('}').next()).unwrap();
        let rule = rule.split("~ !ident_char").next().unwrap();
        let words: Vec<&str> = rule.split('"').skip(1).step_by(2).collect();
        assert_eq!(words, super::UNIT_WORDS);
        for (plural, singular) in super::UNITS {
            assert!(super::UNIT_WORDS.contains(&plural) && super::UNIT_WORDS.contains(&singular), "{plural}");
        }
    }
}
