//! Diagnostics of every phase, each tied to the file it points into, and their renderings:
//! miette's graphical report, one short line, or JSON (docs/language.md, "Exit codes and output formats"). Text that comes from
//! a file (names, paths, the source itself) reaches a terminal with its control characters
//! escaped, and the graphical report shows an [`excerpt::Excerpt`] of the file, not the file.

mod excerpt;

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, Severity};
use serde::Serialize;

use crate::escape;
use crate::syntax::{FileId, SourceMap};

/// One diagnostic and the file its labels point into.
#[derive(Debug)]
pub struct Diag {
    /// The file the error's spans point into.
    pub file: FileId,
    /// The error, with its code, message, labels and help.
    pub error: Box<dyn Diagnostic + Send + Sync>,
    /// Edits of `file` that would resolve it, each on its own (an editor's quick fixes).
    pub fixes: Vec<Fix>,
}

/// An edit that resolves a diagnostic: the bytes of `span` replaced by `text` (an empty span
/// inserts, an empty text deletes), in the diagnostic's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// What the edit does, in words, as an editor lists it.
    pub title: String,
    /// The bytes replaced.
    pub span: [usize; 2],
    /// What takes their place.
    pub text: String,
}

impl Fix {
    /// Replaces `span` with `text`.
    pub fn replace(span: crate::syntax::Span, text: &str) -> Fix {
        Fix { title: format!("replace with `{text}`"), span: [span.start, span.end], text: text.to_string() }
    }

    /// Removes `span`, described as `title`.
    pub fn delete(span: crate::syntax::Span, title: String) -> Fix {
        Fix { title, span: [span.start, span.end], text: String::new() }
    }

    /// Inserts `text` at byte `at`, described as `title`.
    pub fn insert(at: usize, text: String, title: String) -> Fix {
        Fix { title, span: [at, at], text }
    }
}

impl Diag {
    /// A diagnostic of `error` in `file`.
    pub fn new(file: FileId, error: impl Diagnostic + Send + Sync + 'static) -> Self {
        Self { file, error: Box::new(error), fixes: Vec::new() }
    }

    /// Whether it is an error (its code starts with `E`) rather than a warning.
    pub fn is_error(&self) -> bool {
        !matches!(self.error.severity(), Some(Severity::Warning | Severity::Advice))
    }

    /// `sprs::E0201` without the `sprs::` prefix.
    pub fn code(&self) -> String {
        let code = self.error.code().map(|c| c.to_string()).unwrap_or_default();
        code.trim_start_matches("sprs::").to_string()
    }

    fn primary(&self) -> Option<LabeledSpan> {
        let mut labels: Vec<LabeledSpan> = self.error.labels()?.collect();
        let primary = labels.iter().position(LabeledSpan::primary).unwrap_or(0);
        (!labels.is_empty()).then(|| labels.swap_remove(primary))
    }

    /// Sort key: file, then position.
    pub fn position(&self) -> (FileId, usize) {
        (self.file, self.primary().map_or(0, |l| l.offset()))
    }
}

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// miette's graphical report
    Human,
    /// `file:line:col: error[E0201]: message`
    Short,
    /// `{"diagnostics": [...]}`
    Json,
}

/// Renders diagnostics with their sources.
pub struct Renderer<'a> {
    /// The files the diagnostics point into.
    pub sources: &'a SourceMap,
    /// Whether to use ANSI colours.
    pub color: bool,
    /// The terminal width to wrap to.
    pub width: usize,
}

impl Renderer<'_> {
    /// The graphical report, as rustc-like text.
    pub fn human(&self, diag: &Diag) -> String {
        let file = self.sources.get(diag.file);
        let labels = diag.error.labels().map(Iterator::collect).unwrap_or_default();
        let (source, labels) = excerpt::Excerpt::new(file, labels);
        let with_source = WithSource { inner: diag.error.as_ref(), source, labels };
        let theme = if self.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(self.width).with_links(false);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &with_source);
        out
    }

    /// `file:line:col: error[E0201]: message`
    pub fn short(&self, diag: &Diag) -> String {
        let file = self.sources.get(diag.file);
        let (line, col) = diag.primary().map_or((1, 1), |l| file.line_col(l.offset()));
        let severity = if diag.is_error() { "error" } else { "warning" };
        let message = diag.error.to_string();
        format!("{}:{line}:{col}: {severity}[{}]: {}", escape::line(&file.name), diag.code(), escape::line(&message))
    }

    /// The diagnostic as `--format json` prints it.
    pub fn json(&self, diag: &Diag) -> JsonDiagnostic {
        let file = self.sources.get(diag.file);
        let primary = diag.primary();
        let (start, end) = primary.as_ref().map_or((0, 0), |l| (l.offset(), l.offset() + l.len()));
        let (line, column) = file.line_col(start);
        JsonDiagnostic {
            severity: if diag.is_error() { "error" } else { "warning" },
            code: diag.code(),
            message: diag.error.to_string(),
            file: file.name.clone(),
            line,
            column,
            span: [start, end],
            help: diag.error.help().map(|h| h.to_string()),
            label: primary.and_then(|l| l.label().map(str::to_string)),
            fixes: diag.fixes.clone(),
        }
    }
}

/// One diagnostic in `check --format json`.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    /// `error` or `warning`.
    pub severity: &'static str,
    /// The code, such as `E0301`.
    pub code: String,
    /// The message.
    pub message: String,
    /// The file's name, as the user named it.
    pub file: String,
    /// The line of the primary label, from 1.
    pub line: usize,
    /// The column of the primary label, from 1, in characters.
    pub column: usize,
    /// The byte span of the primary label.
    pub span: [usize; 2],
    /// The help line, if any.
    pub help: Option<String>,
    /// The primary label's text, if any.
    pub label: Option<String>,
    /// Edits that would resolve it, each on its own (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
}

/// A diagnostic with its excerpt attached, as miette's renderer wants it, its labels moved into
/// the excerpt, and its text escaped for a terminal.
struct WithSource<'a> {
    inner: &'a (dyn Diagnostic + Send + Sync),
    source: excerpt::Excerpt,
    labels: Vec<LabeledSpan>,
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape::controls(&self.inner.to_string()))
    }
}

impl std::error::Error for WithSource<'_> {}

impl Diagnostic for WithSource<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<Severity> {
        self.inner.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help = self.inner.help()?.to_string();
        Some(Box::new(escape::controls(&help).into_owned()))
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
}
