//! The driver: checks every item of the entry file, expands its trials, checks its fits, and
//! warns about what it defines or imports but never uses.

use std::collections::HashSet;

use super::records::record_kind;
use super::value::{Loc, V};
use super::{CheckError, Checked, Checker};
use crate::diagnostic::Fix;
use crate::syntax::ast::{self, ItemKind, RecordKind};
use crate::syntax::{FileId, Span};

impl Checker {
    pub(super) fn check_entry(&mut self, file: FileId) -> Checked {
        let ast = self.module(file).ast.clone();
        let stdlib = !self.sources.get(file).is_user();
        // A sweep's base and a fit that other fits derive from are templates, not runs.
        let sweep_bases: HashSet<&str> = ast
            .items
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Sweep(s) => Some(s.base.node.as_str()),
                _ => None,
            })
            .collect();
        let fit_bases: HashSet<&str> = ast
            .items
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Fit(f) => f.base.as_ref().map(|b| b.node.as_str()),
                _ => None,
            })
            .collect();
        let mut trials = Vec::new();
        let mut fits = Vec::new();
        let mut templates: HashSet<String> = HashSet::new();
        for (index, item) in ast.items.iter().enumerate() {
            let at = Loc { file, span: item.span };
            match &item.kind {
                ItemKind::Use(_) => {}
                ItemKind::Let { .. } => {
                    self.item(file, index, at);
                }
                ItemKind::Record { kind, name, .. } => {
                    let Some(value) = self.item(file, index, at) else { continue };
                    let V::Record(obj) = &value.v else { continue };
                    let is_trial = *kind == RecordKind::Train && !sweep_bases.contains(name.node.as_str());
                    if is_trial {
                        let at = Loc { file, span: name.span };
                        if let Some(trial) = self.train_trial(obj, &name.node, at) {
                            trials.push((at, trial));
                        }
                    } else {
                        let kind = record_kind(*kind);
                        if let Some(checked) = self.coerce_record(obj, kind, &name.node, true) {
                            self.validate_item(obj, kind, &name.node, checked);
                        }
                    }
                }
                ItemKind::Sweep(sweep) => {
                    let expanded = self.expand_sweep(file, sweep);
                    let at = Loc { file, span: sweep.name.span };
                    trials.extend(expanded.into_iter().map(|t| (at, t)));
                }
                ItemKind::Fit(fit) => {
                    let Some(value) = self.item(file, index, at) else { continue };
                    let V::Record(obj) = &value.v else { continue };
                    let name_at = Loc { file, span: fit.name.span };
                    let Some(spec) = self.check_fit(obj, &fit.name.node, name_at) else { continue };
                    // A fit without data, or one that others derive from, is a template.
                    if spec.sources.is_empty() || stdlib || fit_bases.contains(fit.name.node.as_str()) {
                        templates.insert(fit.name.node.clone());
                    } else {
                        fits.push(spec);
                    }
                }
            }
        }
        let trials = self.dedup(trials);
        // Errors can hide uses (an item referenced only from a broken expression), so unused
        // items are reported only for files that check cleanly otherwise. A file with no trials
        // and no fits to run is a library: its items are there for others to import.
        let library = trials.is_empty() && fits.is_empty();
        if !stdlib && !self.diags.iter().any(crate::diagnostic::Diag::is_error) {
            self.warn_unused(file, library, &templates);
        }
        Checked { trials, fits }
    }

    /// Warns about the imports of `file` that nothing uses and, unless it is a library, its items
    /// (records, constants and fit templates) that nothing uses.
    fn warn_unused(&mut self, file: FileId, library: bool, templates: &HashSet<String>) {
        let ast = self.module(file).ast.clone();
        for item in &ast.items {
            match &item.kind {
                ItemKind::Use(use_item) => {
                    for (i, name) in use_item.names.iter().enumerate() {
                        let local = name.local();
                        if !self.used.contains(&(file, local.node.clone())) && !local.node.starts_with('_') {
                            let at = Loc { file, span: local.span };
                            let text = &self.sources.get(file).text;
                            let remove = match (&use_item.names[..], i) {
                                ([_], _) => whole_lines(text, item.span),
                                // From this name to the next, or from the one before to this.
                                (names, i) if i + 1 < names.len() => {
                                    Span::new(name.span().start, names[i + 1].span().start)
                                }
                                (names, i) => Span::new(names[i - 1].span().end, name.span().end),
                            };
                            let fix = Fix::delete(remove, format!("remove the import of `{}`", local.node));
                            self.emit_fixed(at, vec![fix], |span| CheckError::UnusedImport {
                                name: local.node.clone(),
                                span,
                            });
                        }
                    }
                }
                _ if library => {}
                ItemKind::Let { name, .. } | ItemKind::Record { name, .. } | ItemKind::Fit(ast::Fit { name, .. }) => {
                    let kind = match &item.kind {
                        ItemKind::Record { kind: RecordKind::Train, .. } => continue,
                        ItemKind::Record { kind, .. } => record_kind(*kind).name(),
                        ItemKind::Fit(_) if templates.contains(&name.node) => "fit template",
                        ItemKind::Fit(_) => continue,
                        _ => "constant",
                    };
                    if !self.used.contains(&(file, name.node.clone())) && !name.node.starts_with('_') {
                        let at = Loc { file, span: name.span };
                        let lines = with_docs(
                            &self.sources.get(file).text,
                            whole_lines(&self.sources.get(file).text, item.span),
                        );
                        let fixes = vec![
                            Fix::delete(lines, format!("remove the unused {kind} `{}`", name.node)),
                            Fix {
                                title: format!("rename to `_{}` to keep it", name.node),
                                span: [name.span.start, name.span.end],
                                text: format!("_{}", name.node),
                            },
                        ];
                        self.emit_fixed(at, fixes, |span| CheckError::UnusedItem {
                            kind,
                            name: name.node.clone(),
                            span,
                        });
                    }
                }
                ItemKind::Sweep(_) => {}
            }
        }
    }
}

/// `span` widened to the whole lines it touches, the line break after it included.
fn whole_lines(text: &str, span: Span) -> Span {
    let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[span.end..].find('\n').map_or(text.len(), |i| span.end + i + 1);
    Span::new(start, end)
}

/// `lines` (whole lines) with the `///` lines right above them.
fn with_docs(text: &str, lines: Span) -> Span {
    let mut start = lines.start;
    while start > 0 {
        let above = text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        if !text[above..start].trim_start().starts_with("///") {
            break;
        }
        start = above;
    }
    Span::new(start, lines.end)
}
