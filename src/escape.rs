//! Text from a file, shown safely: on a terminal (control characters escaped, so a name cannot
//! move the cursor, recolour the screen or hide a line) and in Markdown (so a name cannot open an
//! HTML tag, break a table or end a code span).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character but a newline and a tab written as a `\u{..}` escape.
pub fn controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` on one line of a terminal: as [`controls`] shows it, with line ends and tabs escaped
/// too, so that a name, a host or a job id from a file cannot start a line of its own.
pub fn line(text: &str) -> String {
    controls(text).replace('\n', "\\n").replace('\t', "\\t")
}

/// A path for a terminal, on one line (a file name may hold any character).
pub fn path(path: &std::path::Path) -> String {
    line(&path.display().to_string())
}

/// Characters a terminal may act on: C0 and C1 controls (but newline and tab), and the
/// bidirectional overrides and isolates that reorder what is shown.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` as a Markdown code span that a table cell can hold: control characters escaped, a
/// backtick fence longer than any run of backticks inside, and `|` escaped (GitHub's tables split
/// cells on `|` even inside code).
pub fn markdown_code(text: &str) -> String {
    let text = controls(text).replace('\n', "\\n");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('|', "\\|"))
}

/// `text` as plain Markdown text: control characters escaped, newlines as spaces, HTML's `<`,
/// `>` and `&` as entities, and Markdown's punctuation behind a backslash.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in controls(text).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '(' | ')' | '{' | '}' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped() {
        assert_eq!(controls("plain [x=1]"), "plain [x=1]");
        assert_eq!(controls("a\u{1b}[31mred\u{7}"), "a\\u{1b}[31mred\\u{7}");
        assert_eq!(controls("c1 \u{9b}2J"), "c1 \\u{9b}2J");
        assert_eq!(controls("back\rwards"), "back\\u{d}wards");
        assert_eq!(controls("\u{202e}evil"), "\\u{202e}evil");
        assert_eq!(controls("two\nlines\tok"), "two\nlines\tok");
    }

    #[test]
    fn markdown_code_spans_cannot_be_broken_out_of() {
        assert_eq!(markdown_code("grid[w=1]"), "`grid[w=1]`");
        assert_eq!(markdown_code("a`b"), "``a`b``");
        assert_eq!(markdown_code("`x"), "`` `x ``");
        assert_eq!(markdown_code("a|b"), "`a\\|b`");
        assert_eq!(markdown_code("<script>"), "`<script>`");
        assert_eq!(markdown_code("x\ny"), "`x\\ny`");
    }

    #[test]
    fn markdown_text_is_inert() {
        assert_eq!(markdown_text("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert\\(1\\)&gt;");
        assert_eq!(markdown_text("a | b *c*"), "a \\| b \\*c\\*");
        assert_eq!(markdown_text("[link](http://x)"), "\\[link\\]\\(http://x\\)");
    }
}
