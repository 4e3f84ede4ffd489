//! What the server knows of one version of an open file: `sprs check`'s diagnostics with their
//! quick fixes, the files the check read, and the plan (when the file has no errors) that inlay
//! hints and code lenses show. Made once per version, when the diagnostics are published or
//! when a request needs it first.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use lsp_types::{Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range, Uri};

use super::{path_of, Lines};
use crate::diagnostic::Renderer;
use crate::plan::Plan;
use crate::syntax::ast::ItemKind;

/// One version of an open file, checked and planned.
pub struct Analysis {
    /// The diagnostics in the file itself (an import's errors are reported where that file is
    /// opened), each with the edits that would resolve it and their titles.
    pub diagnostics: Vec<(Diagnostic, Vec<(String, lsp_types::TextEdit)>)>,
    /// The files on disk the check read or looked for besides the file itself.
    pub imports: HashSet<PathBuf>,
    /// The plan, when the file has no errors.
    pub plan: Option<Plan>,
    /// The fields each derived record gets from `self`, made when inlay hints first ask.
    late_bound: std::cell::OnceCell<Vec<crate::check::LateBound>>,
    /// How it was checked (the other open files' buffers included), for the late-bound fields.
    options: crate::check::Options,
}

impl Analysis {
    /// Checks and plans `text`, the buffer of `uri`, reading the files it imports from
    /// `buffers` (other open files, by real path) before the disk.
    pub fn new(uri: &Uri, text: &str, buffers: HashMap<PathBuf, String>) -> Analysis {
        let path = path_of(uri);
        let options = crate::check::Options { require_data: false, buffers, ..crate::check::Options::new(&path) };
        let output = crate::plan::plan_source_with(&path, text.to_string(), &options);
        let mut imports: HashSet<PathBuf> = output.sources.disk_paths().map(PathBuf::from).collect();
        for id in output.sources.ids() {
            let file = output.sources.get(id);
            if matches!(file.origin, crate::syntax::Origin::Disk(_)) {
                imports.extend(imports_of(file));
            }
        }
        imports.remove(&path.canonicalize().unwrap_or_else(|_| crate::check::load::normalize(&path)));
        let renderer = Renderer { sources: &output.sources, color: false, width: 100 };
        // The checker names the entry file by the path it was given.
        let name = path.display().to_string();
        let lines = Lines::new(text);
        let range = |span: [usize; 2]| Range::new(lines.position(span[0]), lines.position(span[1]));
        let diagnostics = output
            .diagnostics
            .iter()
            .filter(|diag| output.sources.get(diag.file).name == name)
            .map(|diag| {
                let json = renderer.json(diag);
                let at = range(json.span);
                let message = match &json.label {
                    Some(label) if !label.is_empty() => format!("{}: {label}", json.message),
                    _ => json.message.clone(),
                };
                let related = json.help.map(|help| {
                    vec![DiagnosticRelatedInformation {
                        location: Location { uri: uri.clone(), range: at },
                        message: help,
                    }]
                });
                let diagnostic = Diagnostic {
                    range: at,
                    severity: Some(if diag.is_error() {
                        DiagnosticSeverity::ERROR
                    } else {
                        DiagnosticSeverity::WARNING
                    }),
                    code: Some(NumberOrString::String(json.code)),
                    source: Some("sprs".into()),
                    message,
                    related_information: related,
                    ..Diagnostic::default()
                };
                let fixes = diag
                    .fixes
                    .iter()
                    .filter(|fix| fix.span[1] <= text.len())
                    .map(|fix| {
                        (fix.title.clone(), lsp_types::TextEdit { range: range(fix.span), new_text: fix.text.clone() })
                    })
                    .collect();
                (diagnostic, fixes)
            })
            .collect();
        Analysis { diagnostics, imports, plan: output.plan, late_bound: std::cell::OnceCell::new(), options }
    }

    /// The late-bound fields of the derived records of `text` (this version's text of `uri`),
    /// made once.
    pub fn late_bound(&self, uri: &Uri, text: &str) -> &[crate::check::LateBound] {
        self.late_bound.get_or_init(|| crate::check::late_bound(&path_of(uri), text.to_string(), &self.options))
    }
}

/// The paths a `use` of `file` names, resolved against its folder.
fn imports_of(file: &crate::syntax::SourceFile) -> Vec<PathBuf> {
    let Ok(ast) = crate::syntax::parse(&file.text) else { return Vec::new() };
    ast.items
        .iter()
        .filter_map(|item| match &item.kind {
            ItemKind::Use(usage) => match &usage.origin {
                crate::syntax::ast::UseOrigin::File { path, .. } => {
                    Some(crate::check::load::normalize(&file.dir().join(path)))
                }
                crate::syntax::ast::UseOrigin::Module { .. } => None,
            },
            _ => None,
        })
        .collect()
}
