//! `sprs lsp`: a language server over standard input and output.
//!
//! Built on `lsp-server` (rust-analyzer's: a synchronous loop over JSON-RPC messages, no async
//! runtime) and `lsp-types`. Every answer comes from the library the command line uses: the
//! diagnostics of `sprs check` (the checker and the planner, with the file's imports read from
//! disk and the stdlib), the schema's field documentation of `sprs explain` and
//! `docs/reference.md`, `sprs explain` (hover on a name shows its resolved record), and `sprs
//! fmt`. Completion offers the fields of the record around the cursor, a field's enum words and
//! the names in scope that fit it, the stdlib after `use std::` and units after a number
//! ([`complete`]); go to definition finds an item of the file, of an imported file or of the
//! stdlib ([`locate`]). Diagnostics are debounced: a file is checked once no
//! change to it has come for [`DEBOUNCE`]. Imports are read from disk, as `sprs check` reads
//! them: when a file an open file imports is saved, or changes on disk (`didChangeWatchedFiles`,
//! registered with a client that can watch), the open file is checked again.

mod complete;
mod position;
pub mod transport;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lsp_server::{Connection, ExtractError, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest};
use lsp_types::{
    CompletionOptions, CompletionResponse, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity,
    DocumentSymbol, DocumentSymbolResponse, GotoDefinitionResponse, Hover, HoverContents, HoverProviderCapability,
    InitializeParams, Location, MarkupContent, MarkupKind, NumberOrString, OneOf, PublishDiagnosticsParams, Range,
    ServerCapabilities, SymbolKind, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TextEdit, Uri,
};

use crate::diagnostic::Renderer;
use crate::syntax::ast::ItemKind;
pub use position::{offset, position, Lines};

/// How long a file must go unchanged before it is checked again.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Serves one client on standard input and output until it exits.
pub fn serve_stdio() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The transport's threads are not joined: the reader waits on standard input, which a client
    // may keep open after `exit`. Every response was written before `exit` could arrive.
    let (connection, ending) = transport::stdio();
    serve(&connection)?;
    let broken = ending.lock().unwrap_or_else(|e| e.into_inner()).take();
    match broken {
        Some(reason) => Err(format!("its input is broken: {reason}").into()),
        None => Ok(()),
    }
}

/// The server's loop on `connection`: the handshake, then messages until `exit`.
pub fn serve(connection: &Connection) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::FULL),
            save: Some(TextDocumentSyncSaveOptions::Supported(true)),
            ..TextDocumentSyncOptions::default()
        })),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![":".to_string()]),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    };
    let params = connection.initialize(serde_json::to_value(capabilities)?)?;
    let params: InitializeParams = serde_json::from_value(params)?;
    let watches = params
        .capabilities
        .workspace
        .and_then(|w| w.did_change_watched_files)
        .and_then(|w| w.dynamic_registration)
        .unwrap_or(false);
    if watches {
        connection.sender.send(Message::Request(watch_request()))?;
    }
    let mut server =
        Server { documents: HashMap::new(), imports: HashMap::new(), dirty: HashSet::new(), changed: Instant::now() };
    loop {
        let wait = if server.dirty.is_empty() { Duration::from_secs(3600) } else { DEBOUNCE };
        match connection.receiver.recv_timeout(wait) {
            Ok(Message::Request(request)) => {
                if connection.handle_shutdown(&request)? {
                    return Ok(());
                }
                let response = server.request(request);
                connection.sender.send(Message::Response(response))?;
            }
            Ok(Message::Notification(notification)) => server.notification(notification),
            Ok(Message::Response(_)) => {}
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
        }
        if !server.dirty.is_empty() && server.changed.elapsed() >= DEBOUNCE {
            for uri in std::mem::take(&mut server.dirty) {
                let Some(text) = server.documents.get(&uri) else { continue };
                let (diagnostics, imports) = check(&uri, text);
                server.imports.insert(uri.clone(), imports);
                let params = PublishDiagnosticsParams { uri, diagnostics, version: None };
                let notification = Notification::new(PublishDiagnostics::METHOD.to_string(), params);
                connection.sender.send(Message::Notification(notification))?;
            }
        }
    }
}

struct Server {
    /// The open files' texts, as the client has them.
    documents: HashMap<Uri, String>,
    /// The files on disk each open file's last check read or looked for (its imports, theirs,
    /// and those that were missing): a change to one of them re-checks it.
    imports: HashMap<Uri, HashSet<PathBuf>>,
    /// Files changed since their diagnostics were last published.
    dirty: HashSet<Uri>,
    /// When the last change came.
    changed: Instant,
}

impl Server {
    fn notification(&mut self, notification: Notification) {
        let notification = match cast_notification::<DidOpenTextDocument>(notification) {
            Ok(params) => return self.change(params.text_document.uri, params.text_document.text),
            Err(n) => n,
        };
        let notification = match cast_notification::<DidChangeTextDocument>(notification) {
            // Full synchronisation: the last change holds the whole text.
            Ok(params) => {
                if let Some(change) = params.content_changes.into_iter().last() {
                    self.change(params.text_document.uri, change.text);
                }
                return;
            }
            Err(n) => n,
        };
        let notification = match cast_notification::<DidSaveTextDocument>(notification) {
            Ok(params) => return self.on_disk(&path_of(&params.text_document.uri)),
            Err(n) => n,
        };
        let notification = match cast_notification::<DidChangeWatchedFiles>(notification) {
            Ok(params) => {
                for change in params.changes {
                    self.on_disk(&path_of(&change.uri));
                }
                return;
            }
            Err(n) => n,
        };
        if let Ok(params) = cast_notification::<DidCloseTextDocument>(notification) {
            self.documents.remove(&params.text_document.uri);
            self.imports.remove(&params.text_document.uri);
            self.dirty.remove(&params.text_document.uri);
        }
    }

    /// The file at `path` changed on disk (saved, created, changed or deleted): the open files
    /// whose check read or looked for it are checked again.
    fn on_disk(&mut self, path: &std::path::Path) {
        let path = path.canonicalize().unwrap_or_else(|_| crate::check::load::normalize(path));
        let stale: Vec<Uri> =
            self.imports.iter().filter(|(_, imports)| imports.contains(&path)).map(|(uri, _)| uri.clone()).collect();
        if !stale.is_empty() {
            self.dirty.extend(stale);
            self.changed = Instant::now();
        }
    }

    fn change(&mut self, uri: Uri, text: String) {
        self.documents.insert(uri.clone(), text);
        self.dirty.insert(uri);
        self.changed = Instant::now();
    }

    fn request(&mut self, request: Request) -> Response {
        let id = request.id.clone();
        let request = match cast_request::<HoverRequest>(request) {
            Ok((id, params)) => {
                let at = params.text_document_position_params;
                let hover = self
                    .documents
                    .get(&at.text_document.uri)
                    .and_then(|text| hover(&at.text_document.uri, text, at.position));
                return respond(id, hover);
            }
            Err(r) => r,
        };
        let request = match cast_request::<Completion>(request) {
            Ok((id, params)) => {
                let at = params.text_document_position;
                let items =
                    self.documents.get(&at.text_document.uri).map(|text| complete::at(text, offset(text, at.position)));
                return respond(id, items.map(CompletionResponse::Array));
            }
            Err(r) => r,
        };
        let request = match cast_request::<GotoDefinition>(request) {
            Ok((id, params)) => {
                let at = params.text_document_position_params;
                let uri = at.text_document.uri;
                let location = self.documents.get(&uri).and_then(|text| locate(&uri, text, at.position));
                return respond(id, location.map(GotoDefinitionResponse::Scalar));
            }
            Err(r) => r,
        };
        let request = match cast_request::<Formatting>(request) {
            Ok((id, params)) => {
                let edits = self.documents.get(&params.text_document.uri).and_then(|text| formatting(text));
                return respond(id, edits);
            }
            Err(r) => r,
        };
        match cast_request::<DocumentSymbolRequest>(request) {
            Ok((id, params)) => {
                let symbols = self.documents.get(&params.text_document.uri).map(|text| symbols(text));
                respond(id, symbols.map(DocumentSymbolResponse::Nested))
            }
            Err(r) => Response::new_err(
                id,
                lsp_server::ErrorCode::MethodNotFound as i32,
                format!("unknown method `{}`", r.method),
            ),
        }
    }
}

fn respond<T: serde::Serialize>(id: RequestId, result: T) -> Response {
    Response::new_ok(id, serde_json::to_value(result).unwrap_or(serde_json::Value::Null))
}

fn cast_request<R: lsp_types::request::Request>(request: Request) -> Result<(RequestId, R::Params), Request> {
    match request.extract(R::METHOD) {
        Ok(pair) => Ok(pair),
        Err(ExtractError::MethodMismatch(request)) => Err(request),
        // Malformed parameters: answered as an unknown method rather than crashing the server.
        Err(ExtractError::JsonError { method, .. }) => Err(Request::new(0.into(), method, serde_json::Value::Null)),
    }
}

fn cast_notification<N: lsp_types::notification::Notification>(
    notification: Notification,
) -> Result<N::Params, Notification> {
    match notification.extract(N::METHOD) {
        Ok(params) => Ok(params),
        Err(ExtractError::MethodMismatch(notification)) => Err(notification),
        Err(ExtractError::JsonError { method, .. }) => Err(Notification::new(method, serde_json::Value::Null)),
    }
}

/// The file's path on disk, for its imports and data paths (a buffer not on disk checks as if
/// it were in the working directory).
fn path_of(uri: &Uri) -> PathBuf {
    let text = uri.as_str();
    text.strip_prefix("file://")
        .map(|path| PathBuf::from(percent_decode(path)))
        .unwrap_or_else(|| PathBuf::from("untitled.sprs"))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, ..) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request that asks the client to tell the server when a `.sprs` file changes on disk.
fn watch_request() -> Request {
    let registration = lsp_types::Registration {
        id: "sprs-files".into(),
        method: DidChangeWatchedFiles::METHOD.into(),
        register_options: serde_json::to_value(lsp_types::DidChangeWatchedFilesRegistrationOptions {
            watchers: vec![lsp_types::FileSystemWatcher {
                glob_pattern: lsp_types::GlobPattern::String("**/*.sprs".into()),
                kind: None,
            }],
        })
        .ok(),
    };
    let params = lsp_types::RegistrationParams { registrations: vec![registration] };
    Request::new(
        RequestId::from("sprs-watch".to_string()),
        <lsp_types::request::RegisterCapability as lsp_types::request::Request>::METHOD.into(),
        params,
    )
}

/// `sprs check`'s diagnostics of `text`, those in the file itself (an import's errors are
/// reported where that file is opened).
pub fn diagnostics(uri: &Uri, text: &str) -> Vec<Diagnostic> {
    check(uri, text).0
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

/// [`diagnostics`], and the files on disk the check read or looked for besides the file itself.
fn check(uri: &Uri, text: &str) -> (Vec<Diagnostic>, HashSet<PathBuf>) {
    let path = path_of(uri);
    let options = crate::check::Options { require_data: false, ..crate::check::Options::new(&path) };
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
    let diagnostics = output
        .diagnostics
        .iter()
        .filter(|diag| output.sources.get(diag.file).name == name)
        .map(|diag| {
            let json = renderer.json(diag);
            let range = Range::new(lines.position(json.span[0]), lines.position(json.span[1]));
            let message = match &json.label {
                Some(label) if !label.is_empty() => format!("{}: {label}", json.message),
                _ => json.message.clone(),
            };
            let related = json.help.map(|help| {
                vec![DiagnosticRelatedInformation { location: Location { uri: uri.clone(), range }, message: help }]
            });
            Diagnostic {
                range,
                severity: Some(if diag.is_error() { DiagnosticSeverity::ERROR } else { DiagnosticSeverity::WARNING }),
                code: Some(NumberOrString::String(json.code)),
                source: Some("sprs".into()),
                message,
                related_information: related,
                ..Diagnostic::default()
            }
        })
        .collect();
    (diagnostics, imports)
}

/// The word under `at`, and where it is.
fn word_at(text: &str, at: lsp_types::Position) -> (&str, usize, usize) {
    let offset = offset(text, at);
    let is_word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    // Word characters are ASCII, so these byte counts stop at character boundaries.
    let start = offset - text[..offset].bytes().rev().take_while(is_word).count();
    let end = offset + text[offset..].bytes().take_while(is_word).count();
    (&text[start..end], start, end)
}

/// Where the item named by the word under `at` is defined in the file (when it parses).
pub fn definition(text: &str, at: lsp_types::Position) -> Option<Range> {
    let (word, ..) = word_at(text, at);
    item_range(text, word)
}

/// The range of the name of the item called `name` in `text`, if it parses and has one.
fn item_range(text: &str, name: &str) -> Option<Range> {
    name_range(text, &crate::syntax::parse(text).ok()?, name)
}

/// The range of the name of the item called `name` in `file`, parsed from `text`.
fn name_range(text: &str, file: &crate::syntax::ast::File, name: &str) -> Option<Range> {
    let found = file.items.iter().filter_map(|item| item.name()).find(|n| n.node == name)?;
    Some(Range::new(position(text, found.span.start), position(text, found.span.end)))
}

/// Where the name under `at` is defined: in the file, else in the file or stdlib module a `use`
/// brings it from (a stdlib module is written to [`stdlib_dir`] for the editor to open), else in
/// the prelude's modules.
pub fn locate(uri: &Uri, text: &str, at: lsp_types::Position) -> Option<Location> {
    use crate::syntax::ast::UseOrigin;
    let (word, ..) = word_at(text, at);
    let file = crate::syntax::parse(text).ok()?;
    if let Some(range) = name_range(text, &file, word) {
        return Some(Location { uri: uri.clone(), range });
    }
    let imported = file.items.iter().find_map(|item| match &item.kind {
        ItemKind::Use(usage) => usage
            .names
            .iter()
            .find(|n| n.local().node == word || n.name.node == word)
            .map(|n| (usage.origin.clone(), n.name.node.clone())),
        _ => None,
    });
    let (target, name) = match imported {
        // An imported file is read as the checker reads it: inside the project only.
        Some((UseOrigin::File { path, .. }, name)) => {
            let access = crate::access::Access::for_entry(&path_of(uri));
            let (_, place) = access.read(&access.base().join(path), crate::access::MAX_SOURCE_BYTES).ok()?;
            (place.path, name)
        }
        Some((UseOrigin::Module { segments, .. }, name)) => (stdlib_file(segments.last()?)?, name),
        None => {
            let (module, _) = crate::check::stdlib::PRELUDE.iter().find(|(_, item)| *item == word)?;
            (stdlib_file(module)?, word.to_string())
        }
    };
    let target_text = std::fs::read_to_string(&target).ok()?;
    let range = item_range(&target_text, &name)?;
    let target = target.canonicalize().unwrap_or(target);
    Some(Location { uri: format!("file://{}", target.display()).parse().ok()?, range })
}

/// The folder the stdlib modules are written to for editors to open: a fresh folder of this
/// process in the system's temporary folder, private (mode 0700), under a random name made with
/// `O_EXCL`, so that no one can have planted a link there beforehand.
pub fn stdlib_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<tempfile::TempDir>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let mut builder = tempfile::Builder::new();
        builder.prefix("sprs-stdlib-");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        builder.tempdir().ok()
    })
    .as_ref()
    .map(|d| d.path())
}

/// The stdlib module `std::NAME` as a file on disk (written once, rewritten if it differs).
fn stdlib_file(module: &str) -> Option<PathBuf> {
    let text = crate::check::stdlib::module(module)?;
    let path = stdlib_dir()?.join(format!("{module}.sprs"));
    if crate::fs::read_to_string(&path, crate::access::MAX_SOURCE_BYTES).ok().as_deref() != Some(text) {
        crate::fs::write_atomic(&path, text.as_bytes()).ok()?;
    }
    Some(path)
}

/// What the word under `at` is: a field's documentation from the schema (where the word stands
/// as a field: before `=` or after a `.`), or a name's resolved record as `sprs explain` prints it
/// (checked with the buffer's text, so an edit not yet saved shows).
pub fn hover(uri: &Uri, text: &str, at: lsp_types::Position) -> Option<Hover> {
    let (word, start, end) = word_at(text, at);
    if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let after = text[end..].trim_start();
    let is_field = (after.starts_with('=') && !after.starts_with("==")) || text[..start].ends_with('.');
    let field = || crate::check::reference::field_doc(word);
    let name = || {
        let path = path_of(uri);
        let options = crate::check::Options { require_data: false, ..crate::check::Options::new(&path) };
        let explanation = crate::check::explain_source(word, Some((&path, text.to_string(), &options))).ok()?;
        Some(format!("```sprs\n{}```\n\nfrom `{}`", explanation.text, explanation.home))
    };
    let value = if is_field { field().or_else(name) } else { name().or_else(field) }?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }),
        range: Some(Range::new(position(text, start), position(text, end))),
    })
}

/// `sprs fmt`'s text as one edit over the whole file; none when it is already formatted or does
/// not parse.
pub fn formatting(text: &str) -> Option<Vec<TextEdit>> {
    let formatted = crate::fmt::format(text).ok()?;
    (formatted != text).then(|| {
        vec![TextEdit { range: Range::new(position(text, 0), position(text, text.len())), new_text: formatted }]
    })
}

/// The file's items, for an outline.
#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be given.
pub fn symbols(text: &str) -> Vec<DocumentSymbol> {
    let Ok(file) = crate::syntax::parse(text) else { return Vec::new() };
    let lines = Lines::new(text);
    file.items
        .iter()
        .filter_map(|item| {
            let name = item.name()?;
            let (kind, detail) = match &item.kind {
                ItemKind::Let { .. } => (SymbolKind::CONSTANT, "let"),
                ItemKind::Record { kind, .. } => (SymbolKind::STRUCT, kind.keyword()),
                ItemKind::Sweep(_) => (SymbolKind::ARRAY, "sweep"),
                ItemKind::Fit(_) => (SymbolKind::FUNCTION, "fit"),
                ItemKind::Use(_) => return None,
            };
            let range = Range::new(lines.position(item.span.start), lines.position(item.span.end));
            let selection = Range::new(lines.position(name.span.start), lines.position(name.span.end));
            Some(DocumentSymbol {
                name: name.node.clone(),
                detail: Some(detail.to_string()),
                kind,
                tags: None,
                deprecated: None,
                range,
                selection_range: selection,
                children: None,
            })
        })
        .collect()
}
