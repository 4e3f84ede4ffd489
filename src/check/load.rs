//! Loading files: the entry file, files it imports by path, and stdlib modules; and building
//! each file's scope (items and imports), with duplicate, missing-import and cycle errors.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use super::schema::{FieldDefault, Kind};
use super::value::Loc;
use super::{did_you_mean, stdlib, Binding, CheckError, Checker, Help, Module};
use crate::access::{shown, Denied};
use crate::diagnostic::Diag;
use crate::syntax::ast::{self, ItemKind, UseOrigin};
use crate::syntax::{self, Span};
use crate::syntax::{FileId, Origin};

impl Checker {
    pub(super) fn load_entry(&mut self, path: &Path, text: String) -> Option<FileId> {
        self.entry_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        // The real path, so that an import of the entry file by another path is recognised.
        let origin = Origin::Disk(path.canonicalize().unwrap_or_else(|_| normalize(path)));
        Some(self.load(origin, path.display().to_string(), text, &mut Vec::new()))
    }

    /// Reads one `--set PATH=VALUE` as a source of its own (so that its diagnostics show it)
    /// that sees the names of the entry file (see [`Checker::scope`]).
    pub(super) fn load_override(&mut self, entry: FileId, text: &str) {
        let id = self.sources.add(Origin::CommandLine, "--set".into(), text.to_string());
        let empty = Rc::new(ast::File { version: None, items: Vec::new() });
        self.modules.insert(id, Module { ast: empty, names: HashMap::new(), broken: false });
        self.borrowed_scope.insert(id, entry);
        match syntax::parse_override(text) {
            Ok(field) => self.set.push(super::records::Entry {
                path: field.path.segments,
                def: super::value::Def::Expr { expr: Rc::new(field.value), file: id },
                file: id,
            }),
            Err(errors) => self.diags.extend(errors.into_iter().map(|e| Diag::new(id, e))),
        }
    }

    pub(super) fn load_std(&mut self, module: &str) -> Option<FileId> {
        let origin = Origin::Std(module.to_string());
        if let Some(id) = self.sources.find(&origin) {
            return Some(id);
        }
        let text = stdlib::module(module)?;
        Some(self.load(origin, format!("std::{module}"), text.to_string(), &mut Vec::new()))
    }

    /// The file holding the schema defaults, and the item index of each default.
    pub(super) fn defaults(&mut self) -> FileId {
        if let Some(id) = self.defaults {
            return id;
        }
        let mut text = String::from("// the defaults of each kind's fields (src/check/schema.rs)\n");
        for kind in [
            Kind::Data,
            Kind::Model,
            Kind::Schedule,
            Kind::Optimizer,
            Kind::Train,
            Kind::Fit,
            Kind::Eval,
            Kind::Bpe,
            Kind::Synthetic,
        ] {
            for spec in kind.fields() {
                if let FieldDefault::Expr(expr) = spec.default {
                    text.push_str(&format!("let {}__{} = {expr}\n", kind.name(), spec.name));
                }
            }
        }
        let id = self.load(Origin::Defaults, "<defaults>".into(), text, &mut Vec::new());
        self.defaults = Some(id);
        id
    }

    fn load(&mut self, origin: Origin, name: String, text: String, stack: &mut Vec<FileId>) -> FileId {
        let id = self.sources.add(origin, name, text);
        let text = self.sources.get(id).text.clone();
        let ast = match syntax::parse(&text) {
            Ok(ast) => Rc::new(ast),
            Err(errors) => {
                self.diags.extend(errors.into_iter().map(|e| Diag::new(id, e)));
                // A file that does not parse has no names; lookups into it fail silently rather
                // than cascading into unknown-name errors.
                self.modules.insert(
                    id,
                    Module {
                        ast: Rc::new(ast::File { version: None, items: Vec::new() }),
                        names: HashMap::new(),
                        broken: true,
                    },
                );
                return id;
            }
        };
        self.modules.insert(id, Module { ast: ast.clone(), names: HashMap::new(), broken: false });
        stack.push(id);
        let mut names: HashMap<String, (Binding, Span)> = HashMap::new();
        for (index, item) in ast.items.iter().enumerate() {
            match &item.kind {
                ItemKind::Use(use_item) => {
                    let target = self.load_origin(id, &use_item.origin, stack);
                    for use_name in &use_item.names {
                        if let Some(target) = target {
                            self.check_imported_name(id, target, &use_item.origin, &use_name.name);
                        }
                        let local = use_name.local();
                        let binding = Binding::Import { file: target, name: use_name.name.node.clone() };
                        self.bind(id, &mut names, local.node.clone(), binding, local.span);
                    }
                }
                _ => {
                    // Invariant: every item but `use` has a name.
                    let name = item.name().expect("non-use items are named");
                    self.bind(id, &mut names, name.node.clone(), Binding::Item(index), name.span);
                }
            }
        }
        stack.pop();
        let module = self.modules.get_mut(&id).expect("module inserted above");
        module.names = names.into_iter().map(|(k, (b, _))| (k, b)).collect();
        id
    }

    fn bind(
        &mut self,
        file: FileId,
        names: &mut HashMap<String, (Binding, Span)>,
        name: String,
        binding: Binding,
        span: Span,
    ) {
        if let Some((_, first)) = names.get(&name) {
            let first = *first;
            self.emit(Loc { file, span }, |span| CheckError::Duplicate {
                name: name.clone(),
                span,
                first: first.into(),
            });
            return;
        }
        names.insert(name, (binding, span));
    }

    /// Loads what a `use` points at; `None` (with an error) if it cannot be found or is a cycle.
    fn load_origin(&mut self, from: FileId, origin: &UseOrigin, stack: &mut Vec<FileId>) -> Option<FileId> {
        let at = Loc { file: from, span: origin.span() };
        match origin {
            UseOrigin::Module { segments, .. } => {
                let found = match segments.as_slice() {
                    [std, module] if std == "std" => self.load_std(module),
                    _ => None,
                };
                if found.is_none() {
                    let written = segments.join("::");
                    let candidates: Vec<String> = stdlib::MODULES.iter().map(|(m, _)| format!("std::{m}")).collect();
                    let help = did_you_mean(&written, candidates.iter().map(String::as_str)).or_else(|| {
                        Some(format!(
                            "the standard library modules are {}",
                            candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                        ))
                    });
                    self.emit(at, |span| CheckError::ImportNotFound {
                        what: format!("module `{written}`"),
                        span,
                        help,
                    });
                }
                found
            }
            UseOrigin::File { path, .. } => {
                let written = self.sources.get(from).dir().join(path);
                let place = match self.access.locate(&written) {
                    Ok(place) => place,
                    Err(Denied::NotFound) => {
                        let help = Some(format!(
                            "paths in `use` are relative to the importing file; looked for `{}`",
                            shown(&normalize(&written))
                        ));
                        self.emit(at, |span| CheckError::ImportNotFound { what: format!("file `{path}`"), span, help });
                        return None;
                    }
                    Err(denied) => {
                        self.refuse(at, path, &written, denied, true);
                        return None;
                    }
                };
                if place.path.extension().is_none_or(|e| e != "sprs") {
                    let help = Some(
                        "`use` imports `.sprs` files; name data files in `text(..)`, `tokens(..)` or `csv(..)`".into(),
                    );
                    self.emit(at, |span| CheckError::UseRefused {
                        path: path.clone(),
                        reason: "it is not a `.sprs` file".into(),
                        span,
                        help,
                    });
                    return None;
                }
                let origin = Origin::Disk(place.path.clone());
                if let Some(existing) = self.sources.find(&origin) {
                    if let Some(pos) = stack.iter().position(|f| *f == existing) {
                        let mut chain: Vec<String> =
                            stack[pos..].iter().map(|f| format!("`{}`", self.sources.get(*f).name)).collect();
                        chain.push(format!("`{}`", self.sources.get(existing).name));
                        let chain = chain.join(" imports ");
                        self.emit(at, |span| CheckError::ImportCycle { chain, span });
                        return None;
                    }
                    return Some(existing);
                }
                // Each import of a chain is loaded inside the one before it: bound the chain as
                // reference chains are bounded.
                if stack.len() >= super::records::MAX_CHAIN {
                    self.emit(at, |span| CheckError::TooDeep { max: super::records::MAX_CHAIN, span });
                    return None;
                }
                let buffer =
                    self.buffers.get(&place.path).filter(|t| t.len() as u64 <= crate::access::MAX_SOURCE_BYTES);
                let buffer = buffer.cloned().map(Ok);
                match buffer.unwrap_or_else(|| crate::access::read_source(&place.path)) {
                    Ok(text) => Some(self.load(origin, shown(&place.path), text, stack)),
                    Err(error) => {
                        self.emit(at, |span| CheckError::UseRefused {
                            path: path.clone(),
                            reason: error.to_string(),
                            span,
                            help: None,
                        });
                        None
                    }
                }
            }
        }
    }

    /// The diagnostic for a path the file may not read (`import`: named by `use`).
    pub(super) fn refuse(&mut self, at: Loc, path: &str, written: &Path, denied: Denied, import: bool) {
        match denied {
            Denied::Outside { root } => {
                let help = format!(
                    "files are read only inside the project root `{root}` (the nearest folder above the checked file with `.git`, or `--root`); allow another folder with `--allow-read DIR` or `SPRS_ALLOW_READ`"
                );
                self.emit(at, |span| CheckError::OutsideProject { path: path.to_string(), span, help });
            }
            Denied::NotFound => {
                let help = Some(format!(
                    "paths are relative to the file that names them; looked for `{}`",
                    shown(&normalize(written))
                ));
                self.emit(at, |span| CheckError::FileNotFound { path: path.to_string(), span, help });
            }
            other if import => {
                let reason = other.to_string();
                self.emit(at, |span| CheckError::UseRefused { path: path.to_string(), reason, span, help: None })
            }
            other => {
                let reason = other.to_string();
                self.emit(at, |span| CheckError::Unreadable { path: path.to_string(), reason, span })
            }
        }
    }

    fn check_imported_name(&mut self, from: FileId, target: FileId, origin: &UseOrigin, name: &syntax::Ident) {
        let module = &self.modules[&target];
        if module.broken || matches!(module.names.get(&name.node), Some(Binding::Item(_))) {
            return;
        }
        let ast = module.ast.clone();
        let Help { text: help, fixes } =
            self.suggest(&name.node, name.span, ast.items.iter().filter_map(|i| i.name()).map(|n| n.node.as_str()));
        let module_name = match origin {
            UseOrigin::Module { segments, .. } => segments.join("::"),
            UseOrigin::File { path, .. } => format!("\"{path}\""),
        };
        let at = Loc { file: from, span: name.span };
        self.emit_fixed(at, fixes, |span| CheckError::NotInModule {
            name: name.node.clone(),
            module: module_name,
            span,
            help,
        });
    }
}

/// Removes `.` and `a/..` components without touching the file system.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if out.components().next_back().is_some_and(|c| matches!(c, Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
