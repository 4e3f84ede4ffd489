//! The comments of a source file, found by a small lexer (strings and nested block comments are
//! understood, so `"//"` in a string is not a comment). The grammar skips comments; the
//! formatter puts each one back where it was, by its position between the nodes of the AST.

use crate::syntax::Span;

/// A comment as written: `// ...`, `/// ...` (a doc comment) or `/* ... */`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Its text, with the trailing whitespace of a line comment removed.
    pub text: String,
    /// Where it is.
    pub span: Span,
    /// Whether it runs to the end of its line (a `//` or `///` comment).
    pub line: bool,
}

/// Every comment of `source`, in order.
pub fn comments(source: &str) -> Vec<Comment> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = string_end(bytes, i),
            // `a ///x` is `a / //x`: after an operand on its line, `///` is a division and a
            // comment (a doc comment stands first on its line, or after a separator).
            b'/' if source[i..].starts_with("///") && !source[i..].starts_with("////") && after_operand(source, i) => {
                i += 1
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = source[i..].find('\n').map_or(source.len(), |n| i + n);
                out.push(Comment { text: source[i..end].trim_end().to_string(), span: Span::new(i, end), line: true });
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = block_end(bytes, i);
                out.push(Comment { text: source[i..end].to_string(), span: Span::new(i, end), line: false });
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// Whether the last character before `at` on its line ends an operand.
fn after_operand(source: &str, at: usize) -> bool {
    let line = &source[source[..at].rfind('\n').map_or(0, |n| n + 1)..at];
    line.trim_end().chars().next_back().is_some_and(|c| c.is_alphanumeric() || "_)]}\"%".contains(c))
}

/// One past the closing quote of the string opening at `start` (the grammar's strings end at a
/// newline at the latest; a source that parses has its quote).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// One past the `*/` that closes the block comment opening at `start`, counting nested ones.
fn block_end(bytes: &[u8], start: usize) -> usize {
    let (mut depth, mut i) = (0usize, start);
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_line_doc_and_nested_block_comments_but_not_strings() {
        let source = "/// doc\nlet a = \"// no\" // yes\n/* a /* b */ c */ let b = 1\n";
        let found: Vec<(String, bool)> = comments(source).into_iter().map(|c| (c.text, c.line)).collect();
        assert_eq!(
            found,
            [("/// doc".to_string(), true), ("// yes".to_string(), true), ("/* a /* b */ c */".to_string(), false)]
        );
    }
}
