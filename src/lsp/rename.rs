//! References, highlights and rename of named items (`data`, `model`, `schedule`, `optimizer`,
//! `train`, `sweep`, `fit`, `let`), across the file that defines one and the project's files
//! that import it (`use "lib.sprs"::{name}`; an alias keeps its name, and only the imported
//! name in the `use` changes). Open files are read from the editor's buffers, the others from
//! disk, inside the project only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::{Range, TextEdit, Uri};

use crate::access::Access;

use super::{path_of, uri_of, Lines};
use crate::syntax::ast::{File, ItemKind, UseOrigin};
use crate::syntax::visit::{names, Role};
use crate::syntax::Span;

/// The most project files searched for importers.
const MAX_FILES: usize = 2_000;

/// The most folder entries looked at while searching a project for its files.
const MAX_ENTRIES: usize = 50_000;

/// The `.sprs` files under the project root of `access` (its repository, or its folder),
/// without following links, skipping hidden folders and build and results folders (`target`,
/// `runs`, `node_modules`); at most [`MAX_FILES`], looking at most at [`MAX_ENTRIES`] entries.
pub(super) fn project_files(access: &Access) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![access.root().to_path_buf()];
    let mut seen = 0;
    'walk: while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES || files.len() >= MAX_FILES {
                break 'walk;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() && !name.starts_with('.') && !["target", "runs", "node_modules"].contains(&&*name) {
                stack.push(entry.path());
            } else if kind.is_file() && name.ends_with(".sprs") {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

/// What a name under the cursor stands for.
enum Target {
    /// An item of a project file, by the name that file gives it.
    Item { file: PathBuf, name: String },
    /// A name bound in this file only: an alias, or an item of the stdlib or the prelude.
    Local { name: String, renamable: bool },
}

/// Where one name is written, and whether it is the definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// The file.
    pub uri: Uri,
    /// The name's range.
    pub range: Range,
    /// Whether it defines the name (an item's name or an alias).
    pub definition: bool,
}

/// The open files' texts, by path, read before the disk.
pub struct Buffers<'a> {
    /// The open files' URIs and texts, by real path.
    open: HashMap<PathBuf, (&'a Uri, &'a str)>,
}

impl<'a> Buffers<'a> {
    /// The open files of `documents` (keyed by `Uri`, as the server keeps them).
    #[allow(clippy::mutable_key_type)]
    pub fn new(documents: &'a HashMap<Uri, super::Document>) -> Buffers<'a> {
        Buffers {
            open: documents.iter().map(|(uri, doc)| (canonical(&path_of(uri)), (uri, doc.text.as_str()))).collect(),
        }
    }

    /// The URI the client knows the file at `path` by: an open file's own, else its `file://`.
    pub fn uri(&self, path: &Path) -> Option<Uri> {
        self.open.get(&canonical(path)).map(|(uri, _)| (*uri).clone()).or_else(|| uri_of(path))
    }

    /// The text of the file at `path`: the editor's buffer if it is open, else the disk's, read
    /// as the checker reads an import (inside the project of `access`, no link out of it).
    pub fn text(&self, path: &Path, access: &Access) -> Option<String> {
        if let Some((_, text)) = self.open.get(&canonical(path)) {
            return Some(text.to_string());
        }
        let (bytes, _) = access.read(path, crate::access::MAX_SOURCE_BYTES).ok()?;
        String::from_utf8(bytes).ok()
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| crate::check::load::normalize(path))
}

/// The word at byte `offset`, if it is a name that can stand for an item, and its span.
fn name_at(file: &File, offset: usize) -> Option<(String, Span, bool)> {
    names(file).into_iter().find(|n| n.span.start <= offset && offset <= n.span.end).and_then(|n| match n.role {
        Role::Definition(_) | Role::Alias | Role::Reference => Some((n.text.to_string(), n.span, false)),
        Role::Imported(_) => Some((n.text.to_string(), n.span, true)),
        _ => None,
    })
}

/// What the name at `offset` of `path`'s text `file` stands for.
fn target(path: &Path, file: &File, offset: usize) -> Option<(Target, Span)> {
    let (word, span, imported) = name_at(file, offset)?;
    if !imported && file.items.iter().filter_map(|i| i.name()).any(|n| n.node == word) {
        return Some((Target::Item { file: path.to_path_buf(), name: word }, span));
    }
    for item in &file.items {
        let ItemKind::Use(usage) = &item.kind else { continue };
        for name in &usage.names {
            let (is_alias, is_name) = (name.alias.as_ref().is_some_and(|a| a.node == word), name.name.node == word);
            let here = name.name.span.start <= offset && offset <= name.name.span.end;
            if is_alias && !imported {
                return Some((Target::Local { name: word, renamable: true }, span));
            }
            if is_name && (imported && here || !imported && name.alias.is_none()) {
                return Some(match &usage.origin {
                    UseOrigin::File { path: written, .. } => {
                        let dir = path.parent().unwrap_or(Path::new("."));
                        (Target::Item { file: crate::check::load::normalize(&dir.join(written)), name: word }, span)
                    }
                    UseOrigin::Module { .. } => (Target::Local { name: word, renamable: false }, span),
                });
            }
        }
    }
    Some((Target::Local { name: word, renamable: false }, span))
}

/// The spans in `file` where `name` is written as an item, import or reference, and whether
/// each defines it. `imports_from`: only the imports of `name` from that file count (and the
/// references only if one of them has no alias); `None`: the file's own item or alias.
fn sites_in(file: &File, dir: &Path, name: &str, imports_from: Option<&Path>) -> Vec<(Span, bool)> {
    let mut out = Vec::new();
    let mut referenced = imports_from.is_none();
    for n in names(file).into_iter().filter(|n| n.text == name) {
        match (n.role, imports_from) {
            (Role::Definition(_) | Role::Alias, None) => out.push((n.span, true)),
            (Role::Imported(UseOrigin::File { path, .. }), Some(from))
                if canonical(&crate::check::load::normalize(&dir.join(path))) == canonical(from) =>
            {
                out.push((n.span, false));
                let unaliased = file.items.iter().any(|item| match &item.kind {
                    ItemKind::Use(usage) => usage.names.iter().any(|u| u.name.span == n.span && u.alias.is_none()),
                    _ => false,
                });
                referenced |= unaliased;
            }
            (Role::Reference, _) => out.push((n.span, false)),
            _ => {}
        }
    }
    if !referenced {
        out.retain(|(span, _)| !file_references(file, name).contains(span));
    }
    out
}

fn file_references(file: &File, name: &str) -> Vec<Span> {
    names(file).into_iter().filter(|n| n.text == name && n.role == Role::Reference).map(|n| n.span).collect()
}

/// Every place the name at `at` in the buffer `text` of `uri` is written, in this file and, for
/// an item of a project file, in that file and the project's files that import it.
pub fn references(uri: &Uri, text: &str, at: lsp_types::Position, buffers: &Buffers) -> Option<Vec<Site>> {
    Some(search(uri, text, at, buffers)?.1)
}

/// The range of the name at `at` if it can be renamed, else why not.
pub fn prepare(uri: &Uri, text: &str, at: lsp_types::Position) -> Result<Range, String> {
    let file = crate::syntax::parse(text).map_err(|_| "the file does not parse".to_string())?;
    let offset = super::offset(text, at);
    let (target, span) = target(&path_of(uri), &file, offset).ok_or("not a name of an item")?;
    if let Target::Local { renamable: false, name } = target {
        return Err(format!("`{name}` comes from the standard library and cannot be renamed here"));
    }
    let lines = Lines::new(text);
    Ok(Range::new(lines.position(span.start), lines.position(span.end)))
}

/// The edits that rename the name at `at` to `new_name` everywhere it is written, by file; an
/// error says why not (not an item, a stdlib item, an invalid name, or one already in scope).
// lsp-types keys a workspace edit by `Uri`, whose interior mutability (a lazily parsed
// authority) leaves its hash alone.
#[allow(clippy::mutable_key_type)]
pub fn rename(
    uri: &Uri,
    text: &str,
    at: lsp_types::Position,
    new_name: &str,
    buffers: &Buffers,
) -> Result<HashMap<Uri, Vec<TextEdit>>, String> {
    prepare(uri, text, at)?;
    if !is_identifier(new_name) {
        return Err(format!(
            "`{new_name}` is not a name: a name is a letter or `_`, then letters, digits or `_`, and not a keyword"
        ));
    }
    let (_, sites) = search(uri, text, at, buffers)
        .ok_or("the file that defines it cannot be read inside the project, or does not parse")?;
    let mut edits: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for site in sites {
        edits.entry(site.uri).or_default().push(TextEdit { range: site.range, new_text: new_name.to_string() });
    }
    let access = Access::for_entry(&path_of(uri));
    for uri in edits.keys() {
        let Some(text) = buffers.text(&path_of(uri), &access) else { continue };
        if in_scope(&text, new_name) {
            let file = path_of(uri);
            let shown = file.file_name().map_or_else(|| file.display().to_string(), |f| f.to_string_lossy().into());
            return Err(format!("`{new_name}` is already a name in `{shown}`"));
        }
    }
    Ok(edits)
}

/// Whether `name` is a name of `text`'s file (an item or an import) or of every file (a
/// builtin or a prelude item).
fn in_scope(text: &str, name: &str) -> bool {
    let defined = crate::syntax::parse(text).is_ok_and(|file| {
        file.items.iter().any(|item| match &item.kind {
            ItemKind::Use(usage) => usage.names.iter().any(|n| n.local().node == name),
            _ => item.name().is_some_and(|n| n.node == name),
        })
    });
    defined
        || crate::check::builtins::Builtin::get(name).is_some()
        || crate::check::stdlib::PRELUDE.iter().any(|(_, item)| *item == name)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !crate::syntax::KEYWORDS.contains(&name)
}

fn search(uri: &Uri, text: &str, at: lsp_types::Position, buffers: &Buffers) -> Option<(Target, Vec<Site>)> {
    let file = crate::syntax::parse(text).ok()?;
    let path = path_of(uri);
    let (target, _) = target(&path, &file, super::offset(text, at))?;
    let mut sites = Vec::new();
    fn add(sites: &mut Vec<Site>, uri: &Uri, text: &str, spans: Vec<(Span, bool)>) {
        let lines = Lines::new(text);
        sites.extend(spans.into_iter().map(|(span, definition)| Site {
            uri: uri.clone(),
            range: Range::new(lines.position(span.start), lines.position(span.end)),
            definition,
        }));
    }
    match &target {
        Target::Local { name, .. } => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut spans = sites_in(&file, dir, name, None);
            // An import from the stdlib: its `use` entry is where the name is brought in.
            for n in names(&file) {
                if n.text == name && matches!(n.role, Role::Imported(UseOrigin::Module { .. })) {
                    spans.push((n.span, true));
                }
            }
            spans.sort_by_key(|(s, _)| s.start);
            add(&mut sites, uri, text, spans);
        }
        Target::Item { file: home, name } => {
            // The item's file and its importers are read inside this file's project only.
            let access = Access::for_entry(&path);
            let home_uri = buffers.uri(home)?;
            let home_text = buffers.text(home, &access)?;
            let home_file = crate::syntax::parse(&home_text).ok()?;
            let dir = home.parent().unwrap_or(Path::new("."));
            add(&mut sites, &home_uri, &home_text, sites_in(&home_file, dir, name, None));
            for other in project_files(&access) {
                if canonical(&other) == canonical(home) {
                    continue;
                }
                let Some(other_text) = buffers.text(&other, &access) else { continue };
                let Ok(other_file) = crate::syntax::parse(&other_text) else { continue };
                let dir = other.parent().unwrap_or(Path::new("."));
                let spans = sites_in(&other_file, dir, name, Some(home));
                if !spans.is_empty() {
                    let Some(other_uri) = buffers.uri(&other) else { continue };
                    add(&mut sites, &other_uri, &other_text, spans);
                }
            }
            // The file asked about, if the project search did not reach it (a buffer not yet
            // saved under the project).
            if !sites.iter().any(|s| s.uri == *uri) && canonical(&path) != canonical(home) {
                let dir = path.parent().unwrap_or(Path::new("."));
                let spans = sites_in(&file, dir, name, Some(home));
                add(&mut sites, uri, text, spans);
            }
        }
    }
    Some((target, sites))
}
