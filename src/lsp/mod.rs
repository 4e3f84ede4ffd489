//! `sprs lsp`: a language server over standard input and output.
//!
//! Built on `lsp-server` (rust-analyzer's: a synchronous loop over JSON-RPC messages, no async
//! runtime) and `lsp-types`. Every answer comes from the library the command line uses: the
//! diagnostics and quick fixes of `sprs check` (the checker and the planner, with the file's
//! imports read from disk and the stdlib), the plan of `sprs plan` (inlay hints and code lenses:
//! [`hints`]), the schema's field documentation of `sprs explain` and `docs/reference.md`,
//! `sprs explain` (hover on a name shows its resolved record), and `sprs fmt`. Completion offers
//! the fields of the record around the cursor, a field's enum words and the names in scope that
//! fit it, the stdlib after `use std::` and units after a number ([`complete`]); go to
//! definition finds an item of the file, of an imported file or of the stdlib ([`locate`]);
//! references and rename follow an item into the project's files that import it ([`rename`]);
//! semantic tokens tell items by kind, fields, units and observables apart ([`tokens`]).
//!
//! Each version of an open file is analysed once ([`analysis::Analysis`]): when its diagnostics
//! are published, or when a request needs it first. Diagnostics are debounced: a file is checked
//! once no change to it has come for [`DEBOUNCE`]. Imports are read as `sprs check` reads them
//! (inside the project), from the editor's buffer when the imported file is open, else from
//! disk: when a file an open file imports is edited, saved, or changes on disk
//! (`didChangeWatchedFiles`, registered with a client that can watch), the open file is checked
//! again.

pub mod analysis;
mod complete;
pub mod hints;
mod position;
mod rename;
mod signature;
pub mod tokens;
pub mod transport;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use lsp_server::{Connection, ExtractError, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, CodeLensRequest, Completion, DocumentHighlightRequest, DocumentSymbolRequest,
    FoldingRangeRequest, Formatting, GotoDefinition, HoverRequest, InlayHintRequest, PrepareRenameRequest, References,
    Rename, SemanticTokensFullDeltaRequest, SemanticTokensFullRequest, SignatureHelpRequest, WorkspaceSymbolRequest,
};
use lsp_types::{
    CodeActionKind, CodeActionOrCommand, CodeActionProviderCapability, CodeLensOptions, CompletionOptions,
    CompletionResponse, DocumentHighlight, DocumentHighlightKind, DocumentSymbol, DocumentSymbolResponse, FoldingRange,
    FoldingRangeProviderCapability, GotoDefinitionResponse, Hover, HoverContents, HoverProviderCapability,
    InitializeParams, Location, MarkupContent, MarkupKind, OneOf, PrepareRenameResponse, PublishDiagnosticsParams,
    Range, RenameOptions, SemanticTokensFullOptions, SemanticTokensOptions, SemanticTokensResult,
    SemanticTokensServerCapabilities, ServerCapabilities, SignatureHelpOptions, SymbolKind, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions, TextEdit, Uri, WorkspaceEdit,
    WorkspaceSymbolResponse,
};

use crate::syntax::ast::ItemKind;
use analysis::Analysis;
pub use position::{offset, position, Lines};

/// How long a file must go unchanged before it is checked again.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Serves one client on standard input and output until it exits.
pub fn serve_stdio() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The transport's threads are not joined: the reader waits on standard input, which a client
    // may keep open after `exit`. Every response was written before `exit` could arrive.
    let (connection, ending) = transport::stdio();
    let served = serve(&connection);
    if let Some(Some(dir)) = STDLIB_DIR.get() {
        let _ = std::fs::remove_dir_all(dir.path());
    }
    served?;
    let broken = ending.lock().unwrap_or_else(|e| e.into_inner()).take();
    match broken {
        Some(reason) => Err(format!("its input is broken: {reason}").into()),
        None => Ok(()),
    }
}

/// What the server can do, as it tells the client.
fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
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
            trigger_characters: Some(vec![":".to_string(), ".".to_string()]),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(lsp_types::CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..lsp_types::CodeActionOptions::default()
        })),
        references_provider: Some(OneOf::Left(true)),
        document_highlight_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        inlay_hint_provider: Some(OneOf::Left(true)),
        code_lens_provider: Some(CodeLensOptions { resolve_provider: Some(false) }),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: tokens::legend(),
                full: Some(SemanticTokensFullOptions::Delta { delta: Some(true) }),
                range: None,
                work_done_progress_options: Default::default(),
            },
        )),
        signature_help_provider: Some(SignatureHelpOptions {
            trigger_characters: Some(vec!["(".to_string(), ",".to_string()]),
            ..SignatureHelpOptions::default()
        }),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// The server's loop on `connection`: the handshake, then messages until `exit`.
pub fn serve(connection: &Connection) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let params = connection.initialize(serde_json::to_value(capabilities())?)?;
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
    #[allow(deprecated)] // `root_uri` is what the clients this server is tested with send.
    let root = params.root_uri.as_ref().map(path_of);
    let mut server =
        Server { documents: HashMap::new(), dirty: HashSet::new(), changed: Instant::now(), revision: 0, root };
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
                let Some(analysis) = server.analysis(&uri) else { continue };
                let diagnostics = analysis.diagnostics.iter().map(|(d, _)| d.clone()).collect();
                let params = PublishDiagnosticsParams { uri, diagnostics, version: None };
                let notification = Notification::new(PublishDiagnostics::METHOD.to_string(), params);
                connection.sender.send(Message::Notification(notification))?;
            }
        }
    }
}

/// An open file.
pub struct Document {
    /// Its text, as the client has it.
    pub text: String,
    /// Which change made this text: a number the server counts up on every change.
    revision: u64,
    /// The analysis of this text, once made.
    analysis: Option<Rc<Analysis>>,
    /// The semantic tokens last sent, with their result id, for a delta.
    tokens: Option<(String, Vec<lsp_types::SemanticToken>)>,
}

struct Server {
    /// The open files.
    documents: HashMap<Uri, Document>,
    /// Files changed since their diagnostics were last published.
    dirty: HashSet<Uri>,
    /// When the last change came.
    changed: Instant,
    /// The count of changes so far.
    revision: u64,
    /// The workspace's folder, if the client named one.
    root: Option<PathBuf>,
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
            self.dirty.remove(&params.text_document.uri);
        }
    }

    /// The file at `path` changed (on disk: saved, created, changed or deleted; or in the
    /// editor): the open files whose check read or looked for it are checked again.
    fn on_disk(&mut self, path: &std::path::Path) {
        let path = path.canonicalize().unwrap_or_else(|_| crate::check::load::normalize(path));
        let mut stale = Vec::new();
        for (uri, doc) in &mut self.documents {
            if doc.analysis.as_ref().is_some_and(|a| a.imports.contains(&path)) {
                doc.analysis = None;
                stale.push(uri.clone());
            }
        }
        if !stale.is_empty() {
            self.dirty.extend(stale);
            self.changed = Instant::now();
        }
    }

    fn change(&mut self, uri: Uri, text: String) {
        // The open files that import this one read its buffer: check them again too.
        self.on_disk(&path_of(&uri));
        self.revision += 1;
        let tokens = self.documents.remove(&uri).and_then(|d| d.tokens);
        self.documents.insert(uri.clone(), Document { text, revision: self.revision, analysis: None, tokens });
        self.dirty.insert(uri);
        self.changed = Instant::now();
    }

    /// The analysis of the open file `uri`'s current text, made now if not yet, with the other
    /// open files' buffers in place of their files on disk.
    fn analysis(&mut self, uri: &Uri) -> Option<Rc<Analysis>> {
        if let Some(done) = self.documents.get(uri)?.analysis.clone() {
            return Some(done);
        }
        let buffers: HashMap<PathBuf, String> = self
            .documents
            .iter()
            .filter(|(other, _)| *other != uri)
            .filter_map(|(other, doc)| Some((path_of(other).canonicalize().ok()?, doc.text.clone())))
            .collect();
        let doc = self.documents.get_mut(uri)?;
        let analysis = Rc::new(Analysis::new(uri, &doc.text, buffers));
        doc.analysis = Some(analysis.clone());
        Some(analysis)
    }

    fn text(&self, uri: &Uri) -> Option<&str> {
        self.documents.get(uri).map(|d| d.text.as_str())
    }

    // A rename's edits are keyed by `Uri`, as lsp-types has them (see `rename::rename`).
    #[allow(clippy::mutable_key_type)]
    fn request(&mut self, request: Request) -> Response {
        Dispatch { server: self, request: Some(request), response: None }
            .on::<HoverRequest>(|s, p| {
                let at = p.text_document_position_params;
                Ok(s.text(&at.text_document.uri).and_then(|text| hover(&at.text_document.uri, text, at.position)))
            })
            .on::<Completion>(|s, p| {
                let at = p.text_document_position;
                let items = s.text(&at.text_document.uri).map(|text| complete::at(text, offset(text, at.position)));
                Ok(items.map(CompletionResponse::Array))
            })
            .on::<GotoDefinition>(|s, p| {
                let at = p.text_document_position_params;
                let uri = at.text_document.uri;
                Ok(s.text(&uri).and_then(|text| locate(&uri, text, at.position)).map(GotoDefinitionResponse::Scalar))
            })
            .on::<Formatting>(|s, p| Ok(s.text(&p.text_document.uri).and_then(formatting)))
            .on::<DocumentSymbolRequest>(|s, p| {
                Ok(s.text(&p.text_document.uri).map(|text| DocumentSymbolResponse::Nested(symbols(text))))
            })
            .on::<CodeActionRequest>(|s, p| {
                let uri = p.text_document.uri;
                Ok(s.analysis(&uri).map(|analysis| code_actions(&uri, &analysis, p.range)))
            })
            .on::<References>(|s, p| {
                let at = p.text_document_position;
                let uri = at.text_document.uri;
                let Some(text) = s.text(&uri) else { return Ok(None) };
                let sites = rename::references(&uri, text, at.position, &rename::Buffers::new(&s.documents));
                let wanted = |site: &rename::Site| p.context.include_declaration || !site.definition;
                Ok(sites.map(|sites| {
                    sites
                        .into_iter()
                        .filter(wanted)
                        .map(|s| Location { uri: s.uri, range: s.range })
                        .collect::<Vec<_>>()
                }))
            })
            .on::<DocumentHighlightRequest>(|s, p| {
                let at = p.text_document_position_params;
                let uri = at.text_document.uri;
                let Some(text) = s.text(&uri) else { return Ok(None) };
                let sites = rename::references(&uri, text, at.position, &rename::Buffers::new(&s.documents));
                Ok(sites.map(|sites| {
                    sites
                        .into_iter()
                        .filter(|site| site.uri == uri)
                        .map(|site| DocumentHighlight {
                            range: site.range,
                            kind: Some(if site.definition {
                                DocumentHighlightKind::WRITE
                            } else {
                                DocumentHighlightKind::READ
                            }),
                        })
                        .collect::<Vec<_>>()
                }))
            })
            .on::<PrepareRenameRequest>(|s, p| {
                let Some(text) = s.text(&p.text_document.uri) else { return Ok(None) };
                rename::prepare(&p.text_document.uri, text, p.position).map(|r| Some(PrepareRenameResponse::Range(r)))
            })
            .on::<Rename>(|s, p| {
                let at = p.text_document_position;
                let Some(text) = s.text(&at.text_document.uri) else { return Ok(None) };
                let buffers = rename::Buffers::new(&s.documents);
                let changes = rename::rename(&at.text_document.uri, text, at.position, &p.new_name, &buffers)?;
                Ok(Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() }))
            })
            .on::<InlayHintRequest>(|s, p| {
                let uri = p.text_document.uri;
                let Some(analysis) = s.analysis(&uri) else { return Ok(None) };
                let text = s.text(&uri).unwrap_or_default();
                Ok(Some(hints::inlay_hints(&uri, text, &analysis, p.range)))
            })
            .on::<CodeLensRequest>(|s, p| {
                let uri = p.text_document.uri;
                let Some(analysis) = s.analysis(&uri) else { return Ok(None) };
                let text = s.text(&uri).unwrap_or_default();
                Ok(Some(hints::code_lenses(&uri, text, analysis.plan.as_ref())))
            })
            .on::<SemanticTokensFullRequest>(|s, p| {
                let Some(doc) = s.documents.get_mut(&p.text_document.uri) else { return Ok(None) };
                let data = tokens::tokens(&path_of(&p.text_document.uri), &doc.text);
                let id = doc.revision.to_string();
                doc.tokens = Some((id.clone(), data.clone()));
                Ok(Some(SemanticTokensResult::Tokens(tokens::full(data, id))))
            })
            .on::<SemanticTokensFullDeltaRequest>(|s, p| {
                let Some(doc) = s.documents.get_mut(&p.text_document.uri) else { return Ok(None) };
                let data = tokens::tokens(&path_of(&p.text_document.uri), &doc.text);
                let id = doc.revision.to_string();
                let previous = doc.tokens.replace((id.clone(), data.clone()));
                Ok(Some(match previous {
                    Some((old_id, old)) if old_id == p.previous_result_id => {
                        lsp_types::SemanticTokensFullDeltaResult::TokensDelta(tokens::delta(&old, &data, id))
                    }
                    _ => lsp_types::SemanticTokensFullDeltaResult::Tokens(tokens::full(data, id)),
                }))
            })
            .on::<SignatureHelpRequest>(|s, p| {
                let at = p.text_document_position_params;
                Ok(s.text(&at.text_document.uri).and_then(|text| signature::at(text, offset(text, at.position))))
            })
            .on::<FoldingRangeRequest>(|s, p| Ok(s.text(&p.text_document.uri).map(folding_ranges)))
            .on::<WorkspaceSymbolRequest>(|s, p| Ok(Some(WorkspaceSymbolResponse::Flat(s.workspace_symbols(&p.query)))))
            .finish()
    }

    /// The items of the project's files (the workspace folder's, or those of the open files'
    /// projects) whose names contain `query`, ignoring case.
    #[allow(deprecated)] // `SymbolInformation::deprecated` must still be given.
    fn workspace_symbols(&self, query: &str) -> Vec<lsp_types::SymbolInformation> {
        // A file in each folder asked about stands for its project; each project is walked once.
        let mut entries: Vec<PathBuf> = self.root.iter().map(|r| r.join("workspace.sprs")).collect();
        entries.extend(self.documents.keys().map(path_of));
        let mut projects: Vec<crate::access::Access> =
            entries.iter().map(|e| crate::access::Access::for_entry(e)).collect();
        projects.sort_by(|a, b| a.root().cmp(b.root()));
        projects.dedup_by(|a, b| a.root() == b.root());
        let query = query.to_lowercase();
        let buffers = rename::Buffers::new(&self.documents);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for access in &projects {
            for path in rename::project_files(access) {
                if !seen.insert(path.canonicalize().unwrap_or(path.clone())) {
                    continue;
                }
                let (Some(text), Some(uri)) = (buffers.text(&path, access), buffers.uri(&path)) else { continue };
                for symbol in symbols(&text).into_iter().filter(|s| s.name.to_lowercase().contains(&query)) {
                    out.push(lsp_types::SymbolInformation {
                        name: symbol.name,
                        kind: symbol.kind,
                        tags: None,
                        deprecated: None,
                        location: Location { uri: uri.clone(), range: symbol.selection_range },
                        container_name: symbol.detail,
                    });
                }
            }
        }
        out
    }
}

/// Answers a request with the first handler whose method it is, or with "method not found".
struct Dispatch<'s> {
    server: &'s mut Server,
    request: Option<Request>,
    response: Option<Response>,
}

impl Dispatch<'_> {
    /// Handles the request if it is an `R`; an `Err` is answered as a failed request with its
    /// message (a refused rename).
    fn on<R: lsp_types::request::Request>(
        mut self,
        handle: impl FnOnce(&mut Server, R::Params) -> Result<R::Result, String>,
    ) -> Self {
        let Some(request) = self.request.take() else { return self };
        match cast_request::<R>(request) {
            Ok((id, params)) => {
                self.response = Some(match handle(self.server, params) {
                    Ok(result) => respond(id, result),
                    Err(message) => Response::new_err(id, lsp_server::ErrorCode::RequestFailed as i32, message),
                });
            }
            Err(request) => self.request = Some(request),
        }
        self
    }

    fn finish(self) -> Response {
        match (self.response, self.request) {
            (Some(response), _) => response,
            (None, Some(request)) => Response::new_err(
                request.id,
                lsp_server::ErrorCode::MethodNotFound as i32,
                format!("unknown method `{}`", request.method),
            ),
            (None, None) => {
                Response::new_err(RequestId::from(0), lsp_server::ErrorCode::InternalError as i32, String::new())
            }
        }
    }
}

/// The quick fixes of the diagnostics that touch `range`: each fix of each, as an edit of the
/// file.
pub fn code_actions(uri: &Uri, analysis: &Analysis, range: Range) -> Vec<CodeActionOrCommand> {
    let touches = |r: &Range| r.start <= range.end && range.start <= r.end;
    analysis
        .diagnostics
        .iter()
        .filter(|(diagnostic, _)| touches(&diagnostic.range))
        .flat_map(|(diagnostic, fixes)| {
            fixes.iter().enumerate().map(move |(i, (title, edit))| {
                CodeActionOrCommand::CodeAction(lsp_types::CodeAction {
                    title: title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(HashMap::from([(uri.clone(), vec![edit.clone()])])),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: Some(i == 0),
                    ..lsp_types::CodeAction::default()
                })
            })
        })
        .collect()
}

/// The items and records of the file (multi-line ones), and its runs of comment lines, for
/// folding.
pub fn folding_ranges(text: &str) -> Vec<FoldingRange> {
    let Ok(file) = crate::syntax::parse(text) else { return Vec::new() };
    let lines = Lines::new(text);
    let mut out = Vec::new();
    let mut fold = |start: usize, end: usize, kind: Option<lsp_types::FoldingRangeKind>| {
        let (start, end) = (lines.position(start).line, lines.position(end).line);
        if end > start {
            out.push(FoldingRange {
                start_line: start,
                end_line: end,
                kind,
                start_character: None,
                end_character: None,
                collapsed_text: None,
            });
        }
    };
    for item in &file.items {
        fold(item.span.start, item.span.end, None);
    }
    // Runs of `//` or `///` lines.
    let mut run: Option<(usize, usize)> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("//") {
            run = Some((run.map_or(at, |(s, _)| s), at + line.trim_end().len()));
        } else if let Some((s, e)) = run.take() {
            fold(s, e, Some(lsp_types::FoldingRangeKind::Comment));
        }
        at += line.len();
    }
    if let Some((s, e)) = run {
        fold(s, e, Some(lsp_types::FoldingRangeKind::Comment));
    }
    out.sort_by_key(|r| (r.start_line, r.end_line));
    out
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
pub fn diagnostics(uri: &Uri, text: &str) -> Vec<lsp_types::Diagnostic> {
    Analysis::new(uri, text, HashMap::new()).diagnostics.into_iter().map(|(d, _)| d).collect()
}

/// The `file://` URI of `path`, made absolute, with the bytes a URI cannot hold escaped.
pub fn uri_of(path: &std::path::Path) -> Option<Uri> {
    let path = path.canonicalize().unwrap_or_else(|_| crate::check::load::normalize(path));
    let mut encoded = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'.' | b'_' | b'~' => encoded.push(byte as char),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded.parse().ok()
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
    Some(Location { uri: uri_of(&target)?, range })
}

/// The stdlib folder, once made. A static is never dropped, so the server removes it when it
/// ends ([`serve_stdio`]).
static STDLIB_DIR: std::sync::OnceLock<Option<tempfile::TempDir>> = std::sync::OnceLock::new();

/// The folder the stdlib modules are written to for editors to open: a fresh folder of this
/// process in the system's temporary folder, private (mode 0700), under a random name made with
/// `O_EXCL`, so that no one can have planted a link there beforehand.
pub fn stdlib_dir() -> Option<&'static std::path::Path> {
    STDLIB_DIR
        .get_or_init(|| {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request the server answers, at positions all over the shipped files, their
    /// truncations and a file of odd characters: no panic, whatever the text (a file being typed
    /// is mostly broken).
    #[test]
    #[allow(clippy::mutable_key_type)] // Open files by `Uri`, as the server keeps them.
    fn no_request_panics_anywhere_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut texts: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/experiments"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect();
        texts.push("use std::{ é }\ntrain t { budget = 20 tokens/ , x = grid(1, \"ü\", \nfit f { law = E + é".into());
        let cut: Vec<String> = texts
            .iter()
            .flat_map(|t| (1..3).map(move |k| t[..t.floor_char_boundary(t.len() * k / 3)].to_string()))
            .collect();
        texts.extend(cut);
        let uri = uri_of(&dir.path().join("fuzz.sprs")).unwrap();
        let documents = HashMap::new();
        let buffers = rename::Buffers::new(&documents);
        for text in &texts {
            let analysis = Analysis::new(&uri, text, HashMap::new());
            let lines = Lines::new(text);
            let whole = Range::new(lines.position(0), lines.position(text.len()));
            hints::inlay_hints(&uri, text, &analysis, whole);
            hints::code_lenses(&uri, text, analysis.plan.as_ref());
            code_actions(&uri, &analysis, whole);
            tokens::tokens(&path_of(&uri), text);
            folding_ranges(text);
            symbols(text);
            formatting(text);
            let step = (text.len() / 25).max(1);
            for offset in (0..=text.len()).step_by(step).filter(|o| text.is_char_boundary(*o)) {
                let at = lines.position(offset);
                complete::at(text, offset);
                signature::at(text, offset);
                hover(&uri, text, at);
                locate(&uri, text, at);
                rename::references(&uri, text, at, &buffers);
                let _ = rename::prepare(&uri, text, at);
                let _ = rename::rename(&uri, text, at, "renamed", &buffers);
            }
        }
    }
}
