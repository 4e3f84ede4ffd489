//! Signature help: inside a builtin's call (`grid(0, 2, |`), its parameters, the one being
//! written, and what it gives.

use lsp_types::{Documentation, ParameterInformation, ParameterLabel, SignatureHelp, SignatureInformation};

use crate::check::builtins::Builtin;

/// How far back from the cursor the call's opening parenthesis is looked for.
const REACH: usize = 4096;

/// The builtin whose call the byte `offset` of `text` is inside, and the argument it is at.
fn call_at(text: &str, offset: usize) -> Option<(Builtin, usize)> {
    let mut start = offset.saturating_sub(REACH);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let before = &text[start..offset];
    let (mut depth, mut commas) = (0usize, 0usize);
    let mut in_string = false;
    for (i, c) in before.char_indices().rev() {
        if in_string {
            in_string = c != '"';
            continue;
        }
        match c {
            '"' => in_string = true,
            ')' | ']' | '}' => depth += 1,
            '[' | '{' if depth > 0 => depth -= 1,
            '(' if depth > 0 => depth -= 1,
            '[' | '{' => return None,
            '(' => {
                let name_end = before[..i].trim_end().len();
                let name_start =
                    before[..name_end].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |j| j + 1);
                return Builtin::get(&before[name_start..name_end]).map(|b| (b, commas));
            }
            ',' if depth == 0 => commas += 1,
            '\n' if before[..i].trim_end().is_empty() => return None,
            _ => {}
        }
    }
    None
}

/// The signature of the builtin call around byte `offset`, if any.
pub fn at(text: &str, offset: usize) -> Option<SignatureHelp> {
    let (builtin, argument) = call_at(text, offset)?;
    let (params, doc) = builtin.signature();
    let label = format!("{}({})", builtin.name(), params.join(", "));
    let parameters = params
        .iter()
        .map(|p| ParameterInformation { label: ParameterLabel::Simple(p.to_string()), documentation: None })
        .collect();
    // `min(x, ..)` and `max(x, ..)`: every argument after the first is the `..`.
    let active = argument.min(params.len().saturating_sub(1)) as u32;
    Some(SignatureHelp {
        signatures: vec![SignatureInformation {
            label,
            documentation: Some(Documentation::String(doc.to_string())),
            parameters: Some(parameters),
            active_parameter: Some(active),
        }],
        active_signature: Some(0),
        active_parameter: Some(active),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_and_argument_around_the_cursor_are_found() {
        let text = "let xs = grid(0, min(2, 3), ";
        assert_eq!(call_at(text, text.len()), Some((Builtin::Grid, 2)));
        assert_eq!(call_at(text, "let xs = grid(0, min(2, ".len()), Some((Builtin::Min, 1)));
        assert_eq!(call_at("source = text(\"a, (b\", ", 22), Some((Builtin::Text, 1)));
        assert_eq!(call_at("x = [1, 2", 9), None);
        assert_eq!(call_at("x = foo(1, ", 11), None);
        let help = at(text, text.len()).unwrap();
        assert_eq!(help.signatures[0].label, "grid(from, to, step)");
        assert_eq!(help.active_parameter, Some(2));
    }
}
