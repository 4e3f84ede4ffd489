//! Completion on text that may not parse (it is being typed). What is offered depends on what
//! stands before the cursor:
//!
//! - `use std::` → the stdlib's modules; `use std::MODULE::` → that module's items;
//! - a number and a space (`2e9 |`) → unit words;
//! - `FIELD = |` inside a record (or an item in a list `FIELD = [a, |`) → the field's enum words
//!   (`magnitude`, `global`, `true`), and the names in scope whose kind fits the field (a model
//!   for `model =`, a sweep or train for a fit's `on =`);
//! - in a fit's `law = ..` or after `where` → the observables (and in a law the functions it
//!   may call);
//! - after `PATH.` (`model.` on a sweep axis or in a condition) → the fields of the record at
//!   that path of a train;
//! - anywhere else inside a record → its fields, with their docs.
//!
//! The record around the cursor is found by its unclosed `{`; its kind from what stands before
//! the brace: an item keyword (`train t {`), a sweep (`sweep s = base {`: a train's fields), a
//! base record (`llama {`: the kind of `llama`, an item of the file or of the stdlib), or a field
//! whose type is a record (`eval = {`, within a record of a known kind). Names in scope are read
//! from the text line by line (`KEYWORD NAME` and `use` lines), so they are offered while the file
//! does not parse.

use lsp_types::{CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind};

use crate::check::builtins::Builtin;
use crate::check::schema::{Kind, Ty};
use crate::check::stdlib;

/// What can be completed at byte `offset` of `text`.
pub fn at(text: &str, offset: usize) -> Vec<CompletionItem> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = offset - text[..offset].chars().rev().take_while(|&c| is_ident(c)).map(char::len_utf8).sum::<usize>();
    let line = &text[text[..start].rfind('\n').map_or(0, |i| i + 1)..start];
    if let Some(path) = line.trim_start().strip_prefix("use std::") {
        return imports(path.trim_end());
    }
    let before = text[..start].trim_end();
    if let Some(path) = before.strip_suffix('.').filter(|_| text[before.len()..start].is_empty()) {
        return path_fields(text, path);
    }
    if let Some(in_law) = over_observables(line) {
        return observables(in_law);
    }
    // Units follow their number on the same line.
    let gap = &text[before.len()..start];
    if !gap.is_empty() && !gap.contains('\n') && ends_with_number(before) {
        return crate::syntax::UNITS.iter().map(|(unit, _)| item(unit, CompletionItemKind::UNIT, None)).collect();
    }
    if let Some(field_end) = value_of(before) {
        let (field, _) = word_before(text, field_end);
        let ty = open_brace(text, field_end)
            .and_then(|brace| kind_at(text, brace, 0))
            .and_then(|kind| kind.field(field))
            .map(|spec| &spec.ty);
        return values(text, ty);
    }
    // A field name starts a line, or follows a record's `{` or a `,` between its fields.
    if gap.contains('\n') || before.is_empty() || before.ends_with(['{', ',']) {
        return fields(text, offset);
    }
    Vec::new()
}

/// After `PATH.`: the fields of the record at `PATH` in a train (a sweep's axes and a
/// condition's config paths are paths of a train), or in the record around the cursor.
fn path_fields(text: &str, path: &str) -> Vec<CompletionItem> {
    let start = path.len() - path.bytes().rev().take_while(|&b| is_ident(b as char) || b == b'.').count();
    let segments: Vec<&str> = path[start..].split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Vec::new();
    }
    let around = open_brace(text, start).and_then(|brace| kind_at(text, brace, 0));
    let kind =
        [around, Some(Kind::Train)].into_iter().flatten().find_map(|kind| {
            match crate::check::schema::path_type(kind, &segments) {
                Ok(Ty::Record(inner)) => Some(inner),
                _ => None,
            }
        });
    kind.map(field_items).unwrap_or_default()
}

/// Whether the line before the cursor is inside an expression over observables: `Some(true)` in
/// a fit's law (`law = E + A / |`), `Some(false)` after `where`; a name must be expected there
/// (after an arithmetic operator, `(`, `,`, `law =`, `where`, `and` or `or`; not after a
/// comparison, whose other side is a value).
fn over_observables(line: &str) -> Option<bool> {
    let trimmed = line.trim_end();
    let comparison = ["==", "!=", "<=", ">=", "<", ">"].iter().any(|op| trimmed.ends_with(op));
    let expects_name = trimmed.ends_with(['+', '-', '*', '/', '^', '(', ',', '='])
        || [" where", " and", " or"].iter().any(|w| trimmed.ends_with(w));
    if comparison || !expects_name {
        return None;
    }
    let law = line.trim_start().strip_prefix("law").is_some_and(|rest| rest.trim_start().starts_with('='));
    if law {
        return Some(true);
    }
    line.contains(" where ").then_some(false)
}

/// The observables, and in a law the functions a law may call.
fn observables(in_law: bool) -> Vec<CompletionItem> {
    let mut items: Vec<CompletionItem> = crate::observables::Observable::ALL
        .iter()
        .map(|o| item(o.name(), CompletionItemKind::CONSTANT, Some(o.doc().to_string())))
        .collect();
    if in_law {
        items.extend(
            ["exp", "log", "sqrt", "min", "max"]
                .iter()
                .map(|f| item(f, CompletionItemKind::FUNCTION, Some("builtin".into()))),
        );
    }
    items
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<String>) -> CompletionItem {
    CompletionItem { label: label.to_string(), kind: Some(kind), detail, ..CompletionItem::default() }
}

/// After `use std::`: the modules, or after `use std::MODULE::` (or inside its `{ }`) the
/// module's items.
fn imports(path: &str) -> Vec<CompletionItem> {
    match path.split_once("::") {
        None => stdlib::MODULES
            .iter()
            .map(|(module, _)| item(module, CompletionItemKind::MODULE, Some(format!("std::{module}"))))
            .collect(),
        Some((module, _)) => stdlib::module(module)
            .map(|source| {
                declarations(source)
                    .into_iter()
                    .map(|(name, keyword)| item(name, item_kind(keyword), Some(format!("{keyword} in std::{module}"))))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Whether `text` ends with a number literal (`20`, `2e9`, `1_000`, `0.5`), not a name's digits.
fn ends_with_number(text: &str) -> bool {
    // ASCII only, so the count stops at a character boundary.
    let token_start = text.len() - text.bytes().rev().take_while(|&b| is_ident(b as char) || b == b'.').count();
    text[token_start..].starts_with(|c: char| c.is_ascii_digit())
}

/// If the cursor stands where a field's value goes (`FIELD = |`, `FIELD = [a, |`), the end of
/// the field's name.
fn value_of(before: &str) -> Option<usize> {
    let mut before = before;
    if before.ends_with(['[', ',']) {
        // An element of a list: the list's `[` must be open and follow `FIELD =`.
        let mut depth = 0usize;
        let open = before.char_indices().rev().find_map(|(i, c)| match c {
            ']' => {
                depth += 1;
                None
            }
            '[' if depth == 0 => Some(i),
            '[' => {
                depth -= 1;
                None
            }
            '{' | '}' | '\n' => Some(usize::MAX),
            _ => None,
        })?;
        before = before.get(..open)?.trim_end();
    }
    let rest = before.strip_suffix('=')?;
    (!rest.ends_with(['=', '<', '>', '!'])).then_some(rest.len())
}

/// The values offered for a field of type `ty` (`None`: a `let`, or a field of unknown kind).
fn values(text: &str, ty: Option<&Ty>) -> Vec<CompletionItem> {
    let words: &[&str] = match ty {
        Some(Ty::Word(words) | Ty::Words(words)) => words,
        Some(Ty::Bool) => &["true", "false"],
        _ => &[],
    };
    let mut items: Vec<CompletionItem> =
        words.iter().map(|word| item(word, CompletionItemKind::ENUM_MEMBER, None)).collect();
    // Which declarations fit: a record of the field's kind, sweeps and trains for a fit's data,
    // lets wherever a number or an expression goes.
    let fits = |keyword: &str| match ty {
        Some(Ty::Record(kind)) => Kind::of_keyword(keyword) == Some(*kind),
        Some(Ty::FitOn) => matches!(keyword, "sweep" | "train"),
        Some(Ty::Word(_) | Ty::Words(_) | Ty::Bool) => false,
        Some(Ty::Source | Ty::Tokenizer) => false,
        _ => keyword == "let",
    };
    items.extend(
        in_scope(text)
            .into_iter()
            .filter(|(_, keyword)| fits(keyword))
            .map(|(name, keyword)| item(&name, item_kind(keyword), Some(keyword.to_string()))),
    );
    let builtins: &[Builtin] = match ty {
        Some(Ty::Source) => &[Builtin::Text, Builtin::Tokens, Builtin::Bundled, Builtin::Synthetic],
        Some(Ty::Tokenizer) => &[Builtin::Bpe, Builtin::File],
        Some(Ty::FitOn) => &[Builtin::Csv],
        _ => &[],
    };
    items.extend(builtins.iter().map(|b| item(b.name(), CompletionItemKind::FUNCTION, Some("builtin".into()))));
    if matches!(ty, Some(Ty::Tokenizer)) {
        items.push(item("bytes", CompletionItemKind::ENUM_MEMBER, None));
    }
    items
}

fn item_kind(keyword: &str) -> CompletionItemKind {
    match keyword {
        "let" => CompletionItemKind::CONSTANT,
        "fit" => CompletionItemKind::FUNCTION,
        _ => CompletionItemKind::STRUCT,
    }
}

/// The items a source declares at the start of a line: (name, keyword).
fn declarations(source: &str) -> Vec<(&str, &str)> {
    source
        .lines()
        .filter_map(|line| {
            let mut words = line.split(|c: char| c.is_whitespace() || c == '{' || c == '=').filter(|w| !w.is_empty());
            let keyword = words.next()?;
            let is_item =
                matches!(keyword, "data" | "model" | "schedule" | "optimizer" | "train" | "fit" | "let" | "sweep");
            let name = words.next()?;
            (is_item && !line.starts_with(char::is_whitespace) && name.chars().all(is_ident)).then_some((name, keyword))
        })
        .collect()
}

/// The names visible in `text`: its declarations, what its `use std::..` lines import (with the
/// kind the stdlib gives them), and the prelude's stdlib items. (name, keyword)
fn in_scope(text: &str) -> Vec<(String, &'static str)> {
    fn keyword_of(keyword: &str) -> &'static str {
        ["data", "model", "schedule", "optimizer", "train", "fit", "let", "sweep"]
            .into_iter()
            .find(|k| *k == keyword)
            .unwrap_or("let")
    }
    let mut names: Vec<(String, &'static str)> =
        declarations(text).into_iter().map(|(name, keyword)| (name.to_string(), keyword_of(keyword))).collect();
    let std_keyword = |module: &str, name: &str| {
        stdlib::module(module)
            .and_then(|source| declarations(source).into_iter().find(|(n, _)| *n == name))
            .map(|(_, keyword)| keyword_of(keyword))
    };
    let mut rest = text;
    while let Some(at) = rest.find("use std::") {
        let path = &rest[at + "use std::".len()..];
        let line_end = path.find('\n').unwrap_or(path.len());
        // A `{ .. }` list may span lines.
        let end = match path[..line_end].find('{') {
            Some(_) => path.find('}').unwrap_or(path.len()),
            None => line_end,
        };
        rest = &path[end..];
        let Some((module, list)) = path[..end].split_once("::") else { continue };
        let list: String = list.lines().map(|line| line.split("//").next().unwrap_or_default()).collect();
        for entry in list.trim_start_matches([' ', '{']).split(',') {
            let mut words = entry.split_whitespace();
            let Some(name) = words.next() else { continue };
            let alias = match (words.next(), words.next()) {
                (Some("as"), Some(alias)) => alias,
                _ => name,
            };
            if let Some(keyword) = std_keyword(module, name) {
                names.push((alias.to_string(), keyword));
            }
        }
    }
    for (module, name) in stdlib::PRELUDE {
        if let Some(keyword) = std_keyword(module, name) {
            names.push((name.to_string(), keyword));
        }
    }
    names.sort();
    names.dedup_by(|a, b| a.0 == b.0);
    names
}

/// The fields of the record around byte `offset` of `text`, as completion items.
fn fields(text: &str, offset: usize) -> Vec<CompletionItem> {
    let Some(kind) = open_brace(text, offset).and_then(|brace| kind_at(text, brace, 0)) else { return Vec::new() };
    field_items(kind)
}

/// A kind's fields, with their docs.
fn field_items(kind: Kind) -> Vec<CompletionItem> {
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
    let start = trimmed.len() - trimmed.bytes().rev().take_while(|&b| is_ident(b as char)).count();
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
    use super::at;

    fn labels(text: &str) -> Vec<String> {
        let cursor = text.find('|').expect("a cursor");
        let text = text.replacen('|', "", 1);
        at(&text, cursor).into_iter().map(|item| item.label).collect()
    }

    #[test]
    fn observables_in_laws_and_conditions_and_fields_after_a_path() {
        let law = labels("fit f {\n    law = E + A / |\n}\n");
        assert!(law.contains(&"N_avg".to_string()) && law.contains(&"exp".to_string()), "{law:?}");
        let condition = labels("fit f {\n    on = grid where |\n}\n");
        assert!(condition.contains(&"S".to_string()) && !condition.contains(&"exp".to_string()), "{condition:?}");
        let axis = labels("sweep s = base {\n    model.|\n}\n");
        assert!(axis.contains(&"width".to_string()) && !axis.contains(&"batch".to_string()), "{axis:?}");
        let nested = labels("sweep s = base {\n    optimizer.|\n}\n");
        assert!(nested.contains(&"lr".to_string()), "{nested:?}");
        // Not an expression over observables: a field's value is completed as before.
        assert!(!labels("train t {\n    prune = |\n}\n").contains(&"N_avg".to_string()));
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
        assert!(labels("let a = x |").is_empty());
    }

    #[test]
    fn use_std_offers_modules_then_their_items() {
        let modules = labels("use std::|");
        assert_eq!(modules, ["models", "schedules", "optimizers", "data", "laws"]);
        let models = labels("use std::models::|");
        assert!(models.iter().any(|l| l == "llama"), "{models:?}");
        let schedules = labels("use std::schedules::{dense, jo|");
        assert!(schedules.iter().any(|l| l == "journey") && !schedules.iter().any(|l| l == "llama"), "{schedules:?}");
    }

    #[test]
    fn text_beyond_ascii_is_stepped_over_by_character() {
        for text in ["é2e9 |", "é|", "train é { x = é|", "use std::é|", "train t { model = é |"] {
            labels(text);
        }
        assert_eq!(labels("/* é */ budget = 2e9 |").len(), 5);
    }

    #[test]
    fn a_number_is_followed_by_units() {
        let units = labels("train t { budget = 2e9 |");
        assert_eq!(units, ["tokens", "params", "flops", "steps", "sequences"]);
        assert!(labels("train t { budget = 2e9|").is_empty());
        // A name with digits is not a number.
        assert!(!labels("train t { model = m2 |").iter().any(|l| l == "tokens"));
    }

    #[test]
    fn a_value_offers_the_field_s_words_and_the_names_of_its_kind() {
        let text = concat!(
            "use std::models::llama\n",
            "use std::schedules::{\n    journey,\n    gmp as g,\n}\n",
            "model small = llama { width = 64 }\n",
            "let steps = 100\n",
            "schedule mine { sparsity = 50% }\n",
            "train t {\n    model = |\n}\n",
        );
        let models = labels(text);
        assert!(models.contains(&"small".to_string()) && models.contains(&"llama".to_string()), "{models:?}");
        assert!(!models.iter().any(|l| l == "mine" || l == "steps" || l == "t"), "{models:?}");
        let schedules = labels(&text.replace("model = |", "prune = |"));
        for name in ["mine", "journey", "dense", "g"] {
            assert!(schedules.iter().any(|l| l == name), "{name} in {schedules:?}");
        }
        let methods = labels("train t { prune = journey { method = | } }");
        assert!(methods.iter().any(|l| l == "magnitude"), "{methods:?}");
        let scope = labels("train t { prune = journey { scope = gl| } }");
        assert!(scope.iter().any(|l| l == "global"), "{scope:?}");
        let fit = labels(
            "sweep grid = t { model.width in [32, 64] }
fit f = chinchilla { on = | }",
        );
        assert!(fit.iter().any(|l| l == "grid") && fit.iter().any(|l| l == "csv"), "{fit:?}");
        // Comparisons are not assignments.
        assert!(labels("fit f = chinchilla { on = grid where S == | }").is_empty());
    }
}
