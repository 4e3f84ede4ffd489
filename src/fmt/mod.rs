//! `sprs fmt`: a file's text in, the same file in its one canonical form out.
//!
//! The layout comes from the AST ([`crate::syntax::parse`]): items one after another, records
//! and sweeps one entry per line with their `=` (or `in`) aligned, or on one line when they were
//! written on one line; expressions spaced one way, with parentheses only where precedence needs
//! them. Atoms keep their spelling (`400k`, `3e-3`, a string's escapes). Comments (line, block
//! and `///` doc comments) are not in the AST: [`comments`] finds them, and the printer puts each
//! one back before the node that followed it, or at the end of the line it ended. Blank lines
//! between items and between entries are kept, at most one.
//!
//! Formatting changes no meaning: the tests check, over every shipped file and over arbitrary
//! inputs, that the formatted text parses to the same AST, keeps every comment, and formats to
//! itself.

mod comments;
mod printer;

pub use comments::{comments, Comment};

use crate::syntax::{parse, SyntaxError};

/// Why a file is left as it is.
#[derive(Debug)]
pub enum Unformatted {
    /// It does not parse.
    Syntax(Vec<SyntaxError>),
    /// Its formatted text would not mean the same or would lose a comment. The printer guards
    /// against this; the check keeps a case it misses (such as `a ///x` over a line break,
    /// a division followed by a comment that reads like a doc comment) from changing a file.
    Unsafe,
}

/// `source` in canonical form, or why it is left as it is. The formatted text is parsed again
/// and compared with `source`: the same AST (spans aside) and the same comments, in order.
pub fn format(source: &str) -> Result<String, Unformatted> {
    let file = parse(source).map_err(Unformatted::Syntax)?;
    let formatted = printer::print(source, &file);
    let texts = |text: &str| comments(text).into_iter().map(|c| c.text).collect::<Vec<_>>();
    if meaning(&formatted) != Some(shape(&file)) || texts(&formatted) != texts(source) {
        return Err(Unformatted::Unsafe);
    }
    Ok(formatted)
}

/// The AST of `source` without its spans (its debug form with every span cut out): what
/// formatting must keep. `None` when it does not parse.
pub fn meaning(source: &str) -> Option<String> {
    parse(source).ok().map(|file| shape(&file))
}

/// The debug form of `file` with every span cut out.
fn shape(file: &crate::syntax::ast::File) -> String {
    let debug = format!("{file:?}");
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("Span { start: ") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = &rest[rest.find('}').map_or(rest.len(), |i| i + 1)..];
    }
    out.push_str(rest);
    out
}

/// What formatting changes, for `sprs fmt --check`: each changed stretch of lines, with its
/// line number in `old`, as `-` lines (the old text) then `+` lines (the new).
pub fn changes(old: &str, new: &str) -> String {
    let (old, new): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            (i, j) = (i + 1, j + 1);
            continue;
        }
        // A changed stretch ends where the next few lines agree again.
        let (start_i, start_j) = (i, j);
        let (end_i, end_j) = resync(&old, &new, i, j);
        out.push_str(&format!("@@ line {}\n", start_i + 1));
        old[start_i..end_i].iter().for_each(|line| out.push_str(&format!("-{line}\n")));
        new[start_j..end_j].iter().for_each(|line| out.push_str(&format!("+{line}\n")));
        (i, j) = (end_i, end_j);
    }
    out
}

/// The first pair of positions at or after `(i, j)` from which three lines (or the rest of both)
/// agree, trying the closest pairs first.
fn resync(old: &[&str], new: &[&str], i: usize, j: usize) -> (usize, usize) {
    let agree = |a: usize, b: usize| {
        let n = 3.min(old.len() - a).min(new.len() - b);
        (n > 0 || (a == old.len() && b == new.len())) && (0..n).all(|k| old[a + k] == new[b + k])
    };
    for distance in 1..=(old.len() - i + new.len() - j) {
        for a in i..=(i + distance).min(old.len()) {
            let b = j + distance - (a - i);
            if b <= new.len() && agree(a, b) {
                return (a, b);
            }
        }
    }
    (old.len(), new.len())
}

#[cfg(test)]
mod tests;
