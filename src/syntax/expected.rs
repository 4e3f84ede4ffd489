//! Syntax error messages: what pest expected at the failure, in words, and help for common slips.

use pest::error::InputLocation;

use super::error::SyntaxError;
use super::parser::Rule;
use super::span::Span;

pub(super) fn unexpected(source: &str, error: &pest::error::Error<Rule>) -> SyntaxError {
    let pos = match error.location {
        InputLocation::Pos(pos) => pos,
        InputLocation::Span((start, _)) => start,
    };
    let mut words: Vec<String> = Vec::new();
    fn push(words: &mut Vec<String>, word: String) {
        if !words.contains(&word) {
            words.push(word);
        }
    }
    let mut operator = false;
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            // `ParsingToken` is not exported; its Display is the literal (ranges print `a..b`).
            let text = token.to_string();
            if text == "BUILTIN_RULE" || (text.chars().count() == 4 && text.contains("..")) {
                continue;
            }
            match text.as_str() {
                "+" | "-" | "*" | "/" | "^" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "and" | "or" | "where" | "of" => {
                    operator = true
                }
                // Continuations of a number or a name, and units: the help covers units.
                "%" | "k" | "M" | "B" | "G" | "T" | "e" | "E" | "_" => {}
                unit if super::UNIT_WORDS.contains(&unit) => {}
                "\"" | "[" | "true" | "false" | "self" | "not" => push(&mut words, "an expression".into()),
                "//" | "/*" | "///" | " " | "\t" | "\r" | "\n" | "\u{feff}" | "*/" => {}
                "use" | "let" | "data" | "model" | "schedule" | "optimizer" | "train" | "sweep" | "fit" => {
                    push(&mut words, "an item".into())
                }
                other => push(&mut words, format!("`{other}`")),
            }
        }
    }
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            if let Some(word) = rule_words(*rule) {
                push(&mut words, word.into());
            }
        }
    }
    if operator {
        push(&mut words, "an operator".into());
    }
    if words.is_empty() {
        push(&mut words, "valid syntax".into());
    }
    let expected = match words.len() {
        1 => words.remove(0),
        2 => format!("{} or {}", words[0], words[1]),
        _ => {
            let last = words.pop().unwrap_or_default();
            format!("one of {}, or {last}", words.join(", "))
        }
    };
    let (found, span) = token_at(source, pos);
    let help = help_for(source, pos);
    SyntaxError::Unexpected { expected, found, span: span.into(), help }
}

/// Words for the rules pest reports as expected.
fn rule_words(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::expr
        | Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::add_expr
        | Rule::mul_expr
        | Rule::neg_expr
        | Rule::pow_expr
        | Rule::postfix
        | Rule::primary
        | Rule::quantity
        | Rule::number
        | Rule::unit_list
        | Rule::string
        | Rule::paren
        | Rule::record
        | Rule::name => "an expression",
        Rule::ident | Rule::ident_raw | Rule::field_name | Rule::path | Rule::use_name => "a name",
        Rule::version => "a version number such as `0.1`",
        Rule::item | Rule::kind_item | Rule::kind => "an item",
        _ => return None,
    })
}

/// The token starting at `pos`, described for a message, and its span.
pub(super) fn token_at(source: &str, pos: usize) -> (String, Span) {
    let rest = &source[pos.min(source.len())..];
    let Some(first) = rest.chars().next() else {
        // Point just after the last token: a label past the final newline would not be shown.
        let end = content_end(source);
        return ("end of file".into(), Span::new(end, end));
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    let text = &rest[..len];
    let found = match first {
        '\n' | '\r' => "end of line".to_string(),
        _ => format!("`{text}`"),
    };
    (found, Span::new(pos, pos + len))
}

/// Help for the common slips that the expected-token list alone explains badly.
fn help_for(source: &str, pos: usize) -> Option<String> {
    let before = source[..pos.min(source.len())].trim_end_matches([' ', '\t']);
    let rest = &source[pos.min(source.len())..];
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let after_number = before.chars().last().is_some_and(|c| c.is_ascii_digit() || c == '%');
    if after_number && !word.is_empty() && !word.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!(
            "`{word}` is not a unit; the units are `tokens`, `params`, `flops`, `steps` and `sequences`, and one `/` forms a ratio such as `tokens/param`"
        ));
    }
    if rest.starts_with("/*") || (before.ends_with('/') && rest.starts_with('*')) {
        return Some("this block comment is never closed with `*/`".into());
    }
    let first_on_line = before.ends_with('\n');
    let previous_line_ends_in_number =
        before.trim_end().ends_with(|c: char| c.is_ascii_digit() || c == '%' || c == ']');
    if first_on_line && previous_line_ends_in_number && super::UNIT_WORDS.contains(&word.as_str()) {
        return Some(format!("a unit must be on the same line as its number: `20 {word}`"));
    }
    if super::KEYWORDS.contains(&word.as_str()) {
        return Some(format!("`{word}` is a keyword; choose another name"));
    }
    if rest.starts_with("std::") {
        return Some("bring a standard library name into scope with `use std::...` at the top of the file".into());
    }
    None
}

/// The end of the last byte of `text` that is not whitespace or a comment.
pub(super) fn content_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut i, mut last) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                last = i;
            }
            _ => {
                i += 1;
                last = i;
            }
        }
    }
    last
}
