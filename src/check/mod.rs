//! Checking: a `.sprs` file in, [`Checked`] trials and fits out.
//!
//! [`check_file`] loads the file and everything it imports (other files relative to it, and the
//! embedded standard library), resolves names, evaluates records with late-bound `self`, checks
//! types, units and ranges against the kinds' schemas, expands sweeps into trials with stable ids,
//! and validates fits. It collects every diagnostic rather than stopping at the first.

mod arith;
pub(crate) mod builtins;
mod coerce;
mod error;
mod eval;
mod explain;
mod fit;
mod items;
pub mod law;
pub(crate) mod load;
pub(crate) mod observables;
mod records;
pub mod reference;
pub mod schema;
mod shown;
pub mod stdlib;
mod sweep;
mod typeck;
pub(crate) mod units;
pub(crate) mod value;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

pub use crate::syntax::{sprs_files, FileId, Origin, SourceFile, SourceMap};
pub use error::CheckError;
pub use explain::{explain, explain_source, late_bound, Explanation, LateBound};
pub use fit::{Column, ColumnSource, FitSource, FitSpec, Holdout, Loss, Param};
pub use reference::reference;
pub use sweep::{config_digest, Sites, Trial};

use crate::access::Access;
use crate::diagnostic::{Diag, Fix};
use crate::syntax::ast::{self, ItemKind};
use crate::syntax::Loc;
use crate::syntax::Span;
use value::{Cached, Found};

/// How a file is checked: `--set` overrides, what it may read, and the limits on what it may
/// make the tools build.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--set PATH=VALUE` overrides, as written: each applies to every trial, after the file's
    /// own fields and sweep axes, and is checked like a field written in the file (its names
    /// resolve in the file's scope).
    pub set: Vec<String>,
    /// What the file may read.
    pub access: Access,
    /// The bounds on what the file may make sprs compute or allocate.
    pub limits: Limits,
    /// Whether a data file that does not exist is an error (E0209: `check`, `run`, `fit`), or
    /// the file is planned without it, with one warning (W0007: `plan`, to size a study before
    /// its data is downloaded).
    pub require_data: bool,
    /// Texts to use instead of the disk's for files the file imports, by real path: an
    /// editor's unsaved buffers. An import must still be a file the file may read.
    pub buffers: HashMap<std::path::PathBuf, String>,
}

impl Options {
    /// The defaults for the file at `path`: its discovered root, nothing else readable, default
    /// limits, no overrides.
    pub fn new(path: &Path) -> Options {
        Options {
            set: Vec::new(),
            access: Access::for_entry(path),
            limits: Limits::default(),
            require_data: true,
            buffers: HashMap::new(),
        }
    }
}

/// Limits a user may raise on the command line (the others are fixed; see `docs/security.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Trials per file (`--max-trials`).
    pub trials: u64,
    /// Starts of one fit's grid: the product of its parameters' start counts (`--max-fit-starts`).
    pub fit_starts: u64,
    /// The memory a trial may need, in bytes: `sprs run` sets the machine's (unless `--force`);
    /// checking and planning alone set none.
    pub memory: Option<u64>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { trials: 100_000, fit_starts: 100_000, memory: None }
    }
}

/// A data file a file names that is not here.
#[derive(Debug, Clone)]
pub struct Missing {
    /// Where it is named.
    pub at: Loc,
    /// As written.
    pub path: String,
    /// Where it was looked for.
    pub looked: std::path::PathBuf,
}

/// The outcome of checking one file.
pub struct CheckOutput {
    /// The files read: the checked file, its imports and the stdlib modules used.
    pub sources: SourceMap,
    /// Errors and warnings, in the order found.
    pub diagnostics: Vec<Diag>,
    /// Present when there were no errors (warnings allowed) but, possibly, the E0209 of data files
    /// that are not here: it is everything that can be known without them. [`crate::plan`] plans
    /// it, and has no plan if there are errors.
    pub checked: Option<Checked>,
    /// What the file may read: the run and the fits read its data through it.
    pub access: Access,
}

impl CheckOutput {
    /// Whether any diagnostic is an error (warnings are not).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diag::is_error)
    }
}

/// What a file means once checked: its trials and fits.
#[derive(Debug)]
pub struct Checked {
    /// Every trial of every sweep and train, in file order.
    pub trials: Vec<Trial>,
    /// Every fit with data (templates excluded).
    pub fits: Vec<FitSpec>,
}

/// Checks the file at `path` with the default [`Options`]. Fails only if the file cannot be read.
pub fn check_file(path: &Path) -> std::io::Result<CheckOutput> {
    check_file_with(path, &Options::new(path))
}

/// Checks `text` as if it were the file at `path` (imports and data paths resolve from there).
pub fn check_source(path: &Path, text: String) -> CheckOutput {
    check_source_with(path, text, &Options::new(path))
}

/// Checks the file at `path` with `options`. Fails only if the file cannot be read (see
/// [`crate::access::read_source`]).
pub fn check_file_with(path: &Path, options: &Options) -> std::io::Result<CheckOutput> {
    Ok(check_source_with(path, crate::access::read_source(path)?, options))
}

/// [`check_source`] with `options`.
pub fn check_source_with(path: &Path, text: String, options: &Options) -> CheckOutput {
    let mut checker = Checker {
        access: options.access.clone(),
        limits: options.limits,
        buffers: options.buffers.clone(),
        ..Checker::default()
    };
    let entry = checker.load_entry(path, text);
    if let Some(entry) = entry {
        for text in &options.set {
            checker.load_override(entry, text);
        }
    }
    finish(checker, entry, options.require_data)
}

/// Checks a stdlib module on its own, as the tests do for every module.
pub fn check_std(module: &str) -> Option<CheckOutput> {
    stdlib::module(module)?;
    let mut checker = Checker::default();
    let entry = checker.load_std(module);
    Some(finish(checker, entry, true))
}

fn finish(mut checker: Checker, entry: Option<FileId>, require_data: bool) -> CheckOutput {
    let checked = entry.filter(|f| !checker.modules[f].broken).map(|file| checker.check_entry(file));
    let mut diagnostics = std::mem::take(&mut checker.diags);
    let has_errors = diagnostics.iter().any(Diag::is_error);
    let missing = std::mem::take(&mut checker.missing);
    if require_data {
        for m in missing {
            let help = Some(format!(
                "paths are relative to the file that names them; looked for `{}`",
                crate::access::shown(&m.looked)
            ));
            diagnostics
                .push(Diag::new(m.at.file, CheckError::FileNotFound { path: m.path, span: m.at.span.into(), help }));
        }
    } else if let Some(first) = missing.first() {
        let mut files: Vec<String> = Vec::new();
        for m in &missing {
            let file = format!("`{}`", m.path);
            if !files.contains(&file) {
                files.push(file);
            }
        }
        let (count, files) = (files.len(), files.join(", "));
        let warning = CheckError::PlannedWithoutData { count, files, span: first.at.span.into() };
        diagnostics.push(Diag::new(first.at.file, warning));
    }
    diagnostics.sort_by_key(Diag::position);
    CheckOutput {
        sources: checker.sources,
        diagnostics,
        checked: if has_errors { None } else { checked },
        access: checker.access,
    }
}

/// The most unknown names that get a did-you-mean from the names in scope.
const MAX_SUGGESTIONS: usize = 100;

/// What a name in a file's scope refers to.
#[derive(Debug, Clone)]
enum Binding {
    /// The item at this index of the file.
    Item(usize),
    /// `use ORIGIN::name`: `file` is `None` if the origin could not be loaded.
    Import { file: Option<FileId>, name: String },
}

/// One loaded, parsed file and its names.
struct Module {
    ast: Rc<ast::File>,
    names: HashMap<String, Binding>,
    /// The file did not parse: lookups into it fail without further errors.
    broken: bool,
}

/// What a name resolves to after following imports.
#[derive(Debug, Clone)]
enum Target {
    Item(FileId, usize),
    Builtin(builtins::Builtin),
    Word(String),
    /// Defined in a file that did not parse.
    Broken,
}

/// The state of one check.
#[derive(Default)]
struct Checker {
    /// What the files may read.
    access: Access,
    /// Unsaved texts of imported files ([`Options::buffers`]).
    buffers: HashMap<std::path::PathBuf, String>,
    limits: Limits,
    /// Trials made so far, against `limits.trials`.
    trials_counted: u64,
    /// Unknown names given a did-you-mean so far.
    suggested: usize,
    /// Data files named that are not here.
    missing: Vec<Missing>,
    sources: SourceMap,
    modules: HashMap<FileId, Module>,
    diags: Vec<Diag>,
    seen: HashSet<(FileId, String, usize, usize)>,
    /// Item evaluation state, for caching and cycle detection.
    items: HashMap<(FileId, usize), Cached>,
    /// Items being evaluated, innermost last, for cycle messages.
    item_stack: Vec<(FileId, usize)>,
    /// Fields being evaluated, innermost last: (record, field, the reference that asked).
    field_stack: Vec<(*const value::Obj, String, Loc)>,
    /// Names looked up in each file, for unused-item warnings.
    used: HashSet<(FileId, String)>,
    /// Where to report an error that points into the stdlib or the schema defaults while a
    /// trial is checked: the user's sweep entry that produced the trial.
    anchor: Option<Loc>,
    /// The directory of the checked file: trial paths are stored relative to it.
    entry_dir: std::path::PathBuf,
    defaults: Option<FileId>,
    /// Each schema default, parsed once.
    default_defs: HashMap<(schema::Kind, &'static str), value::Def>,
    /// `--set` overrides, applied to every trial.
    set: Vec<records::Entry>,
    /// Each `--set` source and the file whose names it sees.
    borrowed_scope: HashMap<FileId, FileId>,
}

impl Checker {
    /// Reports a diagnostic once; an error located in the stdlib or the defaults is moved to the
    /// current anchor, since the user cannot act on a location they did not write.
    fn emit(&mut self, at: Loc, make: impl FnOnce(miette::SourceSpan) -> CheckError) {
        self.emit_fixed(at, Vec::new(), make);
    }

    /// [`emit`](Self::emit) with edits that would resolve it, in `at`'s file; they are dropped
    /// when the diagnostic is moved to the anchor.
    fn emit_fixed(&mut self, written: Loc, fixes: Vec<Fix>, make: impl FnOnce(miette::SourceSpan) -> CheckError) {
        let at = self.user_loc(written);
        let error = make(at.span.into());
        let mut diag = Diag::new(at.file, error);
        if at == written {
            diag.fixes = fixes;
        }
        // One mistake, one diagnostic: a value checked again through another path (a base
        // train's field, checked for the train and for each sweep built on it) is reported
        // once, at the value, whatever path its message names.
        let key = (at.file, diag.code(), at.span.start, at.span.end);
        if self.seen.insert(key) {
            self.diags.push(diag);
        }
    }

    /// Reports "expected X, found Y" at `at` and gives up on the value, as typst's
    /// `CastInfo::error(&found)` does: every type mismatch in the checker reads the same.
    fn mismatch<T>(
        &mut self,
        at: Loc,
        expected: impl Into<String>,
        found: &(impl Found + ?Sized),
        help: impl Into<Help>,
    ) -> Option<T> {
        let (expected, found) = (expected.into(), found.found());
        let Help { text: help, fixes } = help.into();
        self.emit_fixed(at, fixes, |span| CheckError::WrongType { expected, found, span, help });
        None
    }

    fn user_loc(&self, at: Loc) -> Loc {
        match self.anchor {
            Some(anchor) if !self.sources.get(at.file).is_user() => anchor,
            _ => at,
        }
    }

    fn module(&self, file: FileId) -> &Module {
        &self.modules[&file]
    }

    /// The file whose names are visible in `file`: itself, or for a `--set` override the file it
    /// applies to.
    fn scope(&self, file: FileId) -> FileId {
        self.borrowed_scope.get(&file).copied().unwrap_or(file)
    }

    /// Resolves `name` as seen from `file`, following imports, then the prelude.
    fn resolve(&mut self, file: FileId, name: &str) -> Option<Target> {
        let mut file = self.scope(file);
        let mut name = name.to_string();
        // Imports can re-export imports; a chain longer than this is a cycle.
        for _ in 0..64 {
            match self.modules.get(&file).and_then(|m| m.names.get(&name)).cloned() {
                Some(Binding::Item(index)) => return Some(Target::Item(file, index)),
                Some(Binding::Import { file: Some(target), name: target_name }) => {
                    // A name the target does not define was reported where it was imported.
                    if !self.modules.get(&target).is_some_and(|m| m.names.contains_key(&target_name)) {
                        return Some(Target::Broken);
                    }
                    file = target;
                    name = target_name;
                }
                Some(Binding::Import { file: None, .. }) => return Some(Target::Broken),
                None if self.modules.get(&file).is_some_and(|m| m.broken) => return Some(Target::Broken),
                None => return self.prelude(&name),
            }
        }
        None
    }

    /// The names every file has without `use`.
    fn prelude(&mut self, name: &str) -> Option<Target> {
        if let Some(builtin) = builtins::Builtin::get(name) {
            return Some(Target::Builtin(builtin));
        }
        if let Some((module, item)) = stdlib::PRELUDE.iter().find(|(_, item)| *item == name) {
            let file = self.load_std(module)?;
            return self.resolve(file, item);
        }
        builtins::is_word(name).then(|| Target::Word(name.to_string()))
    }

    /// Every name visible from `file`, for did-you-mean suggestions (none once the checker has
    /// made [`MAX_SUGGESTIONS`]).
    fn names_in_scope(&mut self, file: FileId) -> Vec<String> {
        if self.suggested >= MAX_SUGGESTIONS {
            return Vec::new();
        }
        let mut names: Vec<String> = self.module(self.scope(file)).names.keys().cloned().collect();
        names.extend(builtins::Builtin::ALL.iter().map(|b| b.name().to_string()));
        names.extend(stdlib::PRELUDE.iter().map(|(_, n)| n.to_string()));
        names
    }
}

impl Checker {
    /// [`did_you_mean`] among candidates that may be many (the items of a file, the fields of a
    /// record): after [`MAX_SUGGESTIONS`] of them, none, since each compares `name` with every
    /// candidate and a generated file with thousands of mistakes would take quadratic time.
    fn suggest<'a>(&mut self, name: &str, at: Span, candidates: impl IntoIterator<Item = &'a str>) -> Help {
        self.suggested += 1;
        if self.suggested > MAX_SUGGESTIONS {
            return Help::default();
        }
        Help::did_you_mean(name, at, candidates, || None)
    }

    /// The edit that adds `use std::MODULE::NAME` to `file`; none for a `--set` value, which
    /// sees a file's names but is written elsewhere.
    fn add_use(&self, file: FileId, module: &str, name: &str) -> Option<Fix> {
        if self.scope(file) != file || !self.modules.contains_key(&file) {
            return None;
        }
        let line = format!("use std::{module}::{name}");
        Some(Fix::insert(self.use_insertion(file), format!("{line}\n"), format!("add `{line}`")))
    }

    /// Where a new `use` line goes in `file`: after its last `use`, else after its `sprs`
    /// header, else at the top.
    fn use_insertion(&self, file: FileId) -> usize {
        let module = self.module(file);
        let last_use = module.ast.items.iter().rev().find(|i| matches!(i.kind, ItemKind::Use(_))).map(|i| i.span.end);
        let after = last_use.or(module.ast.version.as_ref().map(|v| v.span.end));
        let text = &self.sources.get(file).text;
        after.map_or(0, |at| text[at..].find('\n').map_or(text.len(), |i| at + i + 1))
    }
}

/// "did you mean `X`?" with the closest candidate to `name`, if any is close enough to be a
/// likely typo.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The closest candidate to `name`, if any is close enough to be a likely typo.
pub(crate) fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A help line and the edits that do what it says.
#[derive(Debug, Default)]
pub(crate) struct Help {
    /// The help line.
    pub text: Option<String>,
    /// The edits.
    pub fixes: Vec<Fix>,
}

impl From<Option<String>> for Help {
    fn from(text: Option<String>) -> Help {
        Help { text, fixes: Vec::new() }
    }
}

impl Help {
    /// "did you mean `X`?" for the candidate closest to the name written at `at`, with the
    /// edit that puts it in its place; else `otherwise`.
    pub(crate) fn did_you_mean<'a>(
        name: &str,
        at: crate::syntax::Span,
        candidates: impl IntoIterator<Item = &'a str>,
        otherwise: impl FnOnce() -> Option<String>,
    ) -> Help {
        match closest(name, candidates) {
            Some(best) => Help { text: Some(format!("did you mean `{best}`?")), fixes: vec![Fix::replace(at, best)] },
            None => Help { text: otherwise(), fixes: Vec::new() },
        }
    }
}
