//! Completion of field names inside a record, on text that may not parse (it is being typed).
//!
//! The record around the cursor is found by its unclosed `{`; its kind from what stands before
//! the brace: an item keyword (`train t {`), a sweep (`sweep s = base {`: a train's fields), a
//! base record (`llama {`: the kind of `llama`, an item of the file or of the stdlib), or a field
//! whose type is a record (`eval = {`, within a record of a known kind).

use lsp_types::{CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind};

use crate::check::schema::{Kind, Ty};

/// The fields of the record around byte `offset` of `text`, as completion items.
pub fn fields(text: &str, offset: usize) -> Vec<CompletionItem> {
    let Some(kind) = open_brace(text, offset).and_then(|brace| kind_at(text, brace, 0)) else { return Vec::new() };
    kind.fields()
        .iter()
        .map(|field| CompletionItem {
            label: field.name.to_string(),
            kind: Some(CompletionItemKind::FIELD),
            documentation: crate::check::reference::field_doc(field.name)
                .map(|doc| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: doc })),
            ..CompletionItem::default()
        })
        .collect()
}

/// The `{` of the innermost record still open at `offset` (comments and strings skipped).
fn open_brace(text: &str, offset: usize) -> Option<usize> {
    let comments = crate::fmt::comments(text);
    let mut depth = 0usize;
    let mut in_string = false;
    for (i, c) in text[..offset.min(text.len())].char_indices().rev() {
        if comments.iter().any(|comment| comment.span.start <= i && i < comment.span.end) {
            continue;
        }
        match c {
            '"' => in_string = !in_string,
            '}' if !in_string => depth += 1,
            '{' if !in_string && depth == 0 => return Some(i),
            '{' if !in_string => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The word that ends at `end` (after blanks), and where it starts.
fn word_before(text: &str, end: usize) -> (&str, usize) {
    let trimmed = text[..end].trim_end();
    let start = trimmed.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    (&trimmed[start..], start)
}

/// The kind of the record whose `{` is at `brace`.
fn kind_at(text: &str, brace: usize, depth: usize) -> Option<Kind> {
    if depth > 32 {
        return None;
    }
    let before = text[..brace].trim_end();
    if before.ends_with('=') {
        // `field = {`: the field's record type in the enclosing record.
        let (field, _) = word_before(text, before.len() - 1);
        let outer = kind_at(text, open_brace(text, brace)?, depth + 1)?;
        return match outer.field(field)?.ty {
            Ty::Record(kind) => Some(kind),
            _ => None,
        };
    }
    let (word, start) = word_before(text, brace);
    if let Some(kind) = Kind::of_keyword(word_before(text, start).0) {
        return Some(kind);
    }
    // `sweep s = base {` takes a train's fields; `fit f = law {` a fit's.
    let head = text[..start].trim_end();
    if let Some(eq) = head.strip_suffix('=').map(str::len) {
        let (_, name_start) = word_before(text, eq);
        match word_before(text, name_start).0 {
            "sweep" => return Some(Kind::Train),
            "fit" => return Some(Kind::Fit),
            _ => {}
        }
    }
    kind_of_name(text, word)
}

/// The kind of the item called `name`: in the file if it parses and has it, else in the stdlib.
fn kind_of_name(text: &str, name: &str) -> Option<Kind> {
    use crate::syntax::ast::ItemKind;
    if let Ok(file) = crate::syntax::parse(text) {
        if let Some(item) = file.items.iter().find(|item| item.name().is_some_and(|n| n.node == name)) {
            return match &item.kind {
                ItemKind::Record { kind, .. } => Kind::of_keyword(kind.keyword()),
                ItemKind::Fit(_) => Some(Kind::Fit),
                _ => None,
            };
        }
    }
    let explanation = crate::check::explain(name, None).ok()?;
    let definition = explanation.text.lines().find(|line| !line.trim_start().starts_with("//"))?;
    Kind::of_keyword(definition.split_whitespace().next()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<String> {
        let at = text.find('|').expect("a cursor");
        let text = text.replacen('|', "", 1);
        fields(&text, at).into_iter().map(|item| item.label).collect()
    }

    #[test]
    fn the_kind_comes_from_what_stands_before_the_brace() {
        let model = labels("use std::models::llama\ntrain t { model = llama { | } }");
        assert!(model.iter().any(|l| l == "width") && model.iter().any(|l| l == "heads"), "{model:?}");
        let train = labels("train t {\n    batch = 16\n    |\n");
        assert!(train.iter().any(|l| l == "budget"), "{train:?}");
        let eval = labels("train t { eval = { | } }");
        assert!(eval.iter().any(|l| l == "every"), "{eval:?}");
        let sweep = labels("sweep s = base {\n  |\n}");
        assert!(sweep.iter().any(|l| l == "seed"), "{sweep:?}");
        let schedule = labels("train t { prune = journey { sp| } }");
        assert!(schedule.iter().any(|l| l == "sparsity"), "{schedule:?}");
        assert!(labels("let a = 1 |").is_empty());
    }
}
