//! Semantic tokens: every name of a file by what it is, so that a colour theme tells a schedule
//! from a model, a field from an observable and a unit from a name. Keywords, numbers, strings
//! and comments are left to the editor's grammar.

use std::collections::HashMap;
use std::path::Path;

use lsp_types::{
    SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens, SemanticTokensDelta, SemanticTokensEdit,
    SemanticTokensLegend,
};

use super::Lines;
use crate::access::Access;
use crate::check::builtins::{is_word, Builtin};
use crate::observables::Observable;
use crate::syntax::ast::{File, ItemKind, RecordKind, UseOrigin};
use crate::syntax::visit::{names, Role};

/// The token types, in the legend's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Namespace,
    Data,
    Model,
    Schedule,
    Optimizer,
    Train,
    Sweep,
    Fit,
    Let,
    Field,
    Observable,
    Builtin,
    Parameter,
    Unit,
}

const TYPES: [SemanticTokenType; 14] = [
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::STRUCT,
    SemanticTokenType::CLASS,
    SemanticTokenType::ENUM,
    SemanticTokenType::INTERFACE,
    SemanticTokenType::TYPE,
    SemanticTokenType::TYPE_PARAMETER,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::MACRO,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::DECORATOR,
];

/// Modifier bits, in the legend's order.
const DECLARATION: u32 = 1;
const DEFAULT_LIBRARY: u32 = 2;
const READONLY: u32 = 4;

/// The legend the server announces.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: vec![
            SemanticTokenModifier::DECLARATION,
            SemanticTokenModifier::DEFAULT_LIBRARY,
            SemanticTokenModifier::READONLY,
        ],
    }
}

fn item_kind(kind: &ItemKind) -> Option<Kind> {
    Some(match kind {
        ItemKind::Use(_) => return None,
        ItemKind::Let { .. } => Kind::Let,
        ItemKind::Record { kind, .. } => match kind {
            RecordKind::Data => Kind::Data,
            RecordKind::Model => Kind::Model,
            RecordKind::Schedule => Kind::Schedule,
            RecordKind::Optimizer => Kind::Optimizer,
            RecordKind::Train => Kind::Train,
        },
        ItemKind::Sweep(_) => Kind::Sweep,
        ItemKind::Fit(_) => Kind::Fit,
    })
}

/// The kinds of the items of a file, by name.
fn kinds(file: &File) -> HashMap<String, Kind> {
    file.items.iter().filter_map(|i| Some((i.name()?.node.clone(), item_kind(&i.kind)?))).collect()
}

/// The kinds of the items of a module's text, if it parses.
fn kinds_in(text: Option<&str>) -> HashMap<String, Kind> {
    text.and_then(|t| crate::syntax::parse(t).ok()).map(|f| kinds(&f)).unwrap_or_default()
}

/// The kinds of the items a `use` imports from: a stdlib module, or a project file of the file
/// in `dir`, read as the checker reads it (`access`).
fn imported_kinds(origin: &UseOrigin, dir: &Path, access: &Access) -> HashMap<String, Kind> {
    match origin {
        UseOrigin::Module { segments, .. } => kinds_in(segments.last().and_then(|m| crate::check::stdlib::module(m))),
        UseOrigin::File { path, .. } => {
            let text = access.read(&dir.join(path), crate::access::MAX_SOURCE_BYTES).ok();
            kinds_in(text.and_then(|(bytes, _)| String::from_utf8(bytes).ok()).as_deref())
        }
    }
}

/// The semantic tokens of `text`, the buffer of the file at `path`, as LSP's relative
/// five-number encoding.
pub fn tokens(path: &Path, text: &str) -> Vec<SemanticToken> {
    let Ok(file) = crate::syntax::parse(text) else { return Vec::new() };
    let dir = path.parent().unwrap_or(Path::new("."));
    let access = Access::for_entry(path);
    let mut scope: HashMap<String, (Kind, u32)> =
        kinds(&file).into_iter().map(|(name, kind)| (name, (kind, 0))).collect();
    let mut imported: HashMap<String, Kind> = HashMap::new();
    for item in &file.items {
        let ItemKind::Use(usage) = &item.kind else { continue };
        let from = imported_kinds(&usage.origin, dir, &access);
        let library = if matches!(usage.origin, UseOrigin::Module { .. }) { DEFAULT_LIBRARY } else { 0 };
        for name in &usage.names {
            if let Some(kind) = from.get(&name.name.node) {
                imported.insert(name.name.node.clone(), *kind);
                scope.insert(name.local().node.clone(), (*kind, library));
            }
        }
    }
    for (module, name) in crate::check::stdlib::PRELUDE {
        if !scope.contains_key(*name) {
            let kind = kinds_in(crate::check::stdlib::module(module)).get(*name).copied();
            if let Some(kind) = kind {
                scope.insert(name.to_string(), (kind, DEFAULT_LIBRARY));
            }
        }
    }
    let params: Vec<String> = file
        .items
        .iter()
        .filter_map(|item| match &item.kind {
            ItemKind::Fit(fit) => Some(fit),
            _ => None,
        })
        .flat_map(|fit| fit.body.fields.iter().filter(|f| f.path.dotted() == "params"))
        .flat_map(|field| match &field.value.kind {
            crate::syntax::ast::ExprKind::Record(record) => record.fields.iter().map(|f| f.path.dotted()).collect(),
            _ => Vec::new(),
        })
        .collect();
    let lines = Lines::new(text);
    let mut out = Vec::new();
    let (mut line, mut start) = (0u32, 0u32);
    for name in names(&file) {
        // A name's span must hold the name (a module path's segments are found by position).
        if text.get(name.span.start..name.span.end) != Some(name.text) {
            continue;
        }
        let reference = |name: &str| -> Option<(Kind, u32)> {
            if let Some(found) = scope.get(name) {
                return Some(*found);
            }
            if Builtin::get(name).is_some() {
                return Some((Kind::Builtin, DEFAULT_LIBRARY));
            }
            (is_word(name) || Observable::parse(name).is_some()).then_some((Kind::Observable, READONLY))
        };
        let token = match name.role {
            Role::Definition(item) => item_kind(&item.kind).map(|k| (k, DECLARATION)),
            Role::Imported(_) => imported.get(name.text).map(|k| (*k, 0)),
            Role::Alias => scope.get(name.text).map(|(k, m)| (*k, m | DECLARATION)),
            Role::Module => Some((Kind::Namespace, 0)),
            Role::Reference => reference(name.text),
            Role::Field => Some((Kind::Field, 0)),
            Role::Unit => Some((Kind::Unit, 0)),
            Role::LawName if params.iter().any(|p| p == name.text) => Some((Kind::Parameter, 0)),
            Role::LawName if Observable::parse(name.text).is_some() || is_word(name.text) => {
                Some((Kind::Observable, READONLY))
            }
            Role::LawName => Some((Kind::Field, 0)),
        };
        let Some((kind, modifiers)) = token else { continue };
        let at = lines.position(name.span.start);
        let delta_line = at.line - line;
        let delta_start = if delta_line == 0 { at.character - start } else { at.character };
        out.push(SemanticToken {
            delta_line,
            delta_start,
            // Names are ASCII: bytes are UTF-16 units.
            length: name.text.len() as u32,
            token_type: kind as u32,
            token_modifiers_bitset: modifiers,
        });
        (line, start) = (at.line, at.character);
    }
    out
}

/// The edit from `old` to `new` tokens: the part between their common prefix and suffix.
pub fn delta(old: &[SemanticToken], new: &[SemanticToken], result_id: String) -> SemanticTokensDelta {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..].iter().rev().zip(new[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let edits = if prefix == old.len() && prefix == new.len() {
        Vec::new()
    } else {
        vec![SemanticTokensEdit {
            // Counted in numbers: five per token.
            start: 5 * prefix as u32,
            delete_count: 5 * (old.len() - prefix - suffix) as u32,
            data: Some(new[prefix..new.len() - suffix].to_vec()),
        }]
    };
    SemanticTokensDelta { result_id: Some(result_id), edits }
}

/// Full tokens with their id.
pub fn full(data: Vec<SemanticToken>, result_id: String) -> SemanticTokens {
    SemanticTokens { result_id: Some(result_id), data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str) -> Vec<(String, SemanticTokenType, u32)> {
        let (mut line, mut start) = (0, 0);
        let lines: Vec<&str> = text.lines().collect();
        tokens(Path::new("t.sprs"), text)
            .iter()
            .map(|t| {
                line += t.delta_line;
                start = if t.delta_line == 0 { start + t.delta_start } else { t.delta_start };
                let word = lines[line as usize][start as usize..(start + t.length) as usize].to_string();
                (word, TYPES[t.token_type as usize].clone(), t.token_modifiers_bitset)
            })
            .collect()
    }

    #[test]
    fn names_are_told_apart_by_what_they_are() {
        let text = "sprs 0.1\nuse std::models::{llama}\nschedule s = journey\nmodel m = llama { width = 64 }\n\
                    train t { model = m, budget = 20 tokens/param, prune = s, optimizer = adamw }\n\
                    fit f { law = E + A / N_avg^alpha, params = { E = [1], A = [1], alpha = [1] }, on = t }\n";
        let found = decoded(text);
        let of =
            |word: &str| found.iter().filter(|(w, ..)| w == word).map(|(_, t, m)| (t.clone(), *m)).collect::<Vec<_>>();
        assert_eq!(of("std"), [(SemanticTokenType::NAMESPACE, 0)]);
        assert_eq!(of("s"), [(SemanticTokenType::ENUM, DECLARATION), (SemanticTokenType::ENUM, 0)]);
        assert_eq!(of("m"), [(SemanticTokenType::CLASS, DECLARATION), (SemanticTokenType::CLASS, 0)]);
        // `llama` imported from the stdlib, then used.
        assert_eq!(of("llama"), [(SemanticTokenType::CLASS, 0), (SemanticTokenType::CLASS, DEFAULT_LIBRARY)]);
        assert_eq!(of("adamw"), [(SemanticTokenType::INTERFACE, DEFAULT_LIBRARY)]);
        assert_eq!(of("tokens"), [(SemanticTokenType::DECORATOR, 0)]);
        assert_eq!(of("width"), [(SemanticTokenType::PROPERTY, 0)]);
        assert_eq!(of("N_avg"), [(SemanticTokenType::ENUM_MEMBER, READONLY)]);
        assert_eq!(of("alpha")[0], (SemanticTokenType::PARAMETER, 0));
        assert_eq!(of("t"), [(SemanticTokenType::TYPE, DECLARATION), (SemanticTokenType::TYPE, 0)]);
        assert_eq!(of("f"), [(SemanticTokenType::FUNCTION, DECLARATION)]);
    }

    #[test]
    fn a_delta_replaces_only_what_changed() {
        let token = |n: u32| SemanticToken {
            delta_line: n,
            delta_start: 0,
            length: 1,
            token_type: 0,
            token_modifiers_bitset: 0,
        };
        let old = [token(1), token(2), token(3), token(4)];
        let new = [token(1), token(9), token(8), token(4)];
        let delta = delta(&old, &new, "2".into());
        assert_eq!(delta.edits.len(), 1);
        assert_eq!((delta.edits[0].start, delta.edits[0].delete_count), (5, 10));
        assert_eq!(delta.edits[0].data.as_deref(), Some(&new[1..3]));
        let mut applied = old.to_vec();
        applied.splice(1..3, new[1..3].iter().cloned());
        assert_eq!(applied, new);
    }
}
