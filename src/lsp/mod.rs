//! The language server behind `infra lsp`: diagnostics as you type, hover,
//! go to definition, completion, formatting and the document outline, over
//! the same `syntax` and `check` code as the command line.
//!
//! Terminology: a *stack* here is the folder of the document being edited;
//! all its `.infra` files are checked together, each open document's text
//! read instead of its file's (see `analysis`). A stack is *dirty* when a
//! document of it changed since it was last checked.
//!
//! How a change flows: `didOpen`/`didChange` update the document and mark its
//! stack dirty; the debounce time (10 ms unless
//! `initializationOptions.debounceMs` says otherwise) after the first change
//! not yet checked, every dirty stack is checked once, whatever number of
//! changes came meanwhile, and the diagnostics of each of its files are
//! published with the document's version. Only the changed files are parsed
//! again; the others' trees are kept. Hover, definition and the outline
//! check a dirty stack first, so they answer about the text the editor
//! shows; completion does not wait: it reads the cursor's context from the
//! current text and the names from the last check.
//!
//! Invariant: the server never writes a file and never shows a secret value.
//! Invariant: no message makes it stop except `exit` or the end of the input;
//! a bug while answering one request becomes an `InternalError` response.
//! Invariant: no printing: messages go to the writer the caller gives.

mod analysis;
mod completion;
mod context;
mod definition;
mod diagnostics;
mod functions;
mod hover;
mod locate;
mod resolve;
mod symbols;
mod text;

use crate::diag::FileId;
use crate::host::Host;
use crate::providers::Registry;
use analysis::{Analysis, Document, Overlay, ParseCache};
use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CompletionOptions, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentFormattingParams, DocumentSymbolParams,
    DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse, HoverParams,
    HoverProviderCapability, InitializeParams, InitializeResult, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, ServerCapabilities, ServerInfo, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TextEdit, Url,
};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long after a change its stack is checked (the changes that come
/// meanwhile are checked together), unless the client's
/// `initializationOptions.debounceMs` says otherwise.
const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(10);

/// `ServerNotInitialized` (LSP's own code, not JSON-RPC's).
const SERVER_NOT_INITIALIZED: i32 = -32002;

/// How the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `exit` after `shutdown`: the client closed the session properly.
    Exit,
    /// `exit` without `shutdown` first (LSP asks for exit code 1).
    ExitWithoutShutdown,
    /// The input ended without `exit`.
    Disconnected,
    /// A message could not be written (the client is gone).
    WriteFailed,
}

/// Serves one client: reads messages from `incoming` until `exit` or its
/// end, writes responses and notifications to `out`. Files are read through
/// `host`.
pub fn serve(host: &dyn Host, incoming: &Receiver<Message>, out: &mut dyn Write) -> Ended {
    let mut server = Server {
        host,
        out,
        registry: Registry::for_host(host),
        functions: functions::all(),
        documents: HashMap::new(),
        other_documents: HashMap::new(),
        stacks: HashMap::new(),
        dirty: BTreeSet::new(),
        deadline: None,
        debounce: DEFAULT_DEBOUNCE,
        initialized: false,
        shutdown: false,
        write_failed: false,
    };
    server.run(incoming)
}

/// A checked stack, the files whose diagnostics were last published, and
/// its files' trees.
struct StackState {
    analysis: Analysis,
    published: BTreeSet<Url>,
    cache: ParseCache,
}

struct Server<'a> {
    host: &'a dyn Host,
    out: &'a mut dyn Write,
    registry: Registry,
    functions: Vec<functions::FunctionDoc>,
    /// Open documents on disk, by path.
    documents: HashMap<PathBuf, Document>,
    /// Open documents that are not files (`untitled:`): formatted and
    /// outlined, never checked.
    other_documents: HashMap<Url, Document>,
    /// The last check of each stack with an open document, by folder.
    stacks: HashMap<PathBuf, StackState>,
    dirty: BTreeSet<PathBuf>,
    /// When the dirty stacks are checked, unless a message comes first.
    deadline: Option<Instant>,
    debounce: Duration,
    initialized: bool,
    shutdown: bool,
    write_failed: bool,
}

/// Why a request got no result.
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure {
            code: code as i32,
            message: message.into(),
        }
    }
}

type Answer = Result<serde_json::Value, Failure>;

fn params<P: serde::de::DeserializeOwned>(request: &Request) -> Result<P, Failure> {
    serde_json::from_value(request.params.clone())
        .map_err(|error| Failure::new(ErrorCode::InvalidParams, error.to_string()))
}

fn json(value: impl serde::Serialize) -> Answer {
    serde_json::to_value(value)
        .map_err(|error| Failure::new(ErrorCode::InternalError, error.to_string()))
}

/// The folder (stack) of a document, for file URIs.
fn file_path(uri: &Url) -> Option<PathBuf> {
    if uri.scheme() != "file" {
        return None;
    }
    uri.to_file_path().ok()
}

impl Server<'_> {
    fn run(&mut self, incoming: &Receiver<Message>) -> Ended {
        loop {
            if self.write_failed {
                return Ended::WriteFailed;
            }
            // The deadline is a scheduling timeout, not data: the host's
            // clock (for what is recorded) is not needed here.
            let message = match self.deadline {
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    match incoming.recv_timeout(wait) {
                        Ok(message) => message,
                        Err(RecvTimeoutError::Timeout) => {
                            self.check_dirty();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return Ended::Disconnected,
                    }
                }
                None => match incoming.recv() {
                    Ok(message) => message,
                    Err(_) => return Ended::Disconnected,
                },
            };
            match message {
                Message::Request(request) => self.request(request),
                Message::Notification(notification) if notification.method == "exit" => {
                    return if self.shutdown {
                        Ended::Exit
                    } else {
                        Ended::ExitWithoutShutdown
                    };
                }
                Message::Notification(notification) => {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.notification(notification);
                    }));
                    // A bug handling a notification loses that notification
                    // only; the documents stay as they were.
                    let _ = outcome;
                }
                // The server sends no requests, so there is nothing to match.
                Message::Response(_) => {}
            }
        }
    }

    fn send(&mut self, message: Message) {
        if message.write(&mut self.out).is_err() {
            self.write_failed = true;
        }
    }

    fn request(&mut self, request: Request) {
        let id = request.id.clone();
        let answer = if !self.initialized && request.method != "initialize" {
            Err(Failure {
                code: SERVER_NOT_INITIALIZED,
                message: String::from("the server is not initialized yet"),
            })
        } else if self.shutdown {
            Err(Failure::new(
                ErrorCode::InvalidRequest,
                "the server is shutting down",
            ))
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.answer(&request)))
                .unwrap_or_else(|_| {
                    Err(Failure::new(
                        ErrorCode::InternalError,
                        format!("infra lsp failed on {}: this is a bug", request.method),
                    ))
                })
        };
        self.respond(id, answer);
    }

    fn respond(&mut self, id: RequestId, answer: Answer) {
        let response = match answer {
            Ok(result) => Response::new_ok(id, result),
            Err(failure) => Response::new_err(id, failure.code, failure.message),
        };
        self.send(Message::Response(response));
    }

    fn answer(&mut self, request: &Request) -> Answer {
        match request.method.as_str() {
            "initialize" => self.initialize(params(request)?),
            "shutdown" => {
                self.shutdown = true;
                Ok(serde_json::Value::Null)
            }
            "textDocument/hover" => {
                let params: HoverParams = params(request)?;
                let position = params.text_document_position_params;
                self.check_stack_of(&position);
                let Some((analysis, offset)) = self.checked_at(&position) else {
                    return Ok(serde_json::Value::Null);
                };
                json(hover::hover(
                    analysis,
                    &self.registry,
                    &self.functions,
                    &position.text_document.uri,
                    offset,
                ))
            }
            "textDocument/definition" => {
                let params: GotoDefinitionParams = params(request)?;
                let position = params.text_document_position_params;
                self.check_stack_of(&position);
                let Some((analysis, offset)) = self.checked_at(&position) else {
                    return Ok(serde_json::Value::Null);
                };
                let locations =
                    definition::definition(analysis, &position.text_document.uri, offset);
                json(GotoDefinitionResponse::Array(locations))
            }
            "textDocument/completion" => {
                let params: lsp_types::CompletionParams = params(request)?;
                let position = params.text_document_position;
                let uri = &position.text_document.uri;
                let Some(document) = self.document(uri) else {
                    return Ok(serde_json::Value::Null);
                };
                let text = &document.text;
                let offset = text::LineIndex::new(text).offset(text, position.position);
                let analysis = file_path(uri)
                    .and_then(|path| self.stacks.get(path.parent()?))
                    .map(|stack| &stack.analysis);
                let sources = completion::Sources {
                    analysis,
                    registry: &self.registry,
                    functions: &self.functions,
                };
                json(completion::complete(&sources, text, offset))
            }
            "textDocument/formatting" => {
                let params: DocumentFormattingParams = params(request)?;
                let Some(document) = self.document(&params.text_document.uri) else {
                    return Ok(serde_json::Value::Null);
                };
                json(format(&document.text))
            }
            "textDocument/documentSymbol" => {
                let params: DocumentSymbolParams = params(request)?;
                let Some(document) = self.document(&params.text_document.uri) else {
                    return Ok(serde_json::Value::Null);
                };
                let text = &document.text;
                let (file, _) = crate::syntax::parse(FileId(0), text);
                let index = text::LineIndex::new(text);
                json(DocumentSymbolResponse::Nested(symbols::symbols(
                    &file.body, text, &index,
                )))
            }
            method => Err(Failure::new(
                ErrorCode::MethodNotFound,
                format!("infra lsp does not handle {method}"),
            )),
        }
    }

    fn initialize(&mut self, params: InitializeParams) -> Answer {
        if let Some(ms) = params
            .initialization_options
            .as_ref()
            .and_then(|options| options.get("debounceMs"))
            .and_then(serde_json::Value::as_u64)
        {
            self.debounce = Duration::from_millis(ms.min(60_000));
        }
        self.initialized = true;
        json(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(PositionEncodingKind::UTF16),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![String::from("."), String::from("\"")]),
                    ..CompletionOptions::default()
                }),
                document_formatting_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: String::from("infra"),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
        })
    }

    fn document(&self, uri: &Url) -> Option<&Document> {
        match file_path(uri) {
            Some(path) => self.documents.get(&path),
            None => self.other_documents.get(uri),
        }
    }

    /// Checks the stack of a position's document if it is dirty or was never
    /// checked.
    fn check_stack_of(&mut self, position: &TextDocumentPositionParams) {
        let dir = file_path(&position.text_document.uri)
            .and_then(|path| Some(path.parent()?.to_path_buf()));
        if let Some(dir) = dir {
            if self.dirty.contains(&dir) || !self.stacks.contains_key(&dir) {
                self.check(&dir);
            }
        }
    }

    /// The last check of a position's stack, and the position's byte offset.
    fn checked_at(&self, position: &TextDocumentPositionParams) -> Option<(&Analysis, usize)> {
        let path = file_path(&position.text_document.uri)?;
        let dir = path.parent()?;
        let text = &self.documents.get(&path)?.text;
        let offset = text::LineIndex::new(text).offset(text, position.position);
        Some((&self.stacks.get(dir)?.analysis, offset))
    }

    fn notification(&mut self, notification: Notification) {
        match notification.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(params) =
                    notification.extract::<DidOpenTextDocumentParams>("textDocument/didOpen")
                else {
                    return;
                };
                let document = Document {
                    text: params.text_document.text,
                    version: params.text_document.version,
                };
                let uri = params.text_document.uri;
                match file_path(&uri) {
                    Some(path) => {
                        self.documents.insert(path.clone(), document);
                        self.mark_dirty(&path);
                    }
                    None => {
                        self.other_documents.insert(uri, document);
                    }
                }
            }
            "textDocument/didChange" => {
                let Ok(params) =
                    notification.extract::<DidChangeTextDocumentParams>("textDocument/didChange")
                else {
                    return;
                };
                let uri = params.text_document.uri;
                let path = file_path(&uri);
                let document = match &path {
                    Some(path) => self.documents.get_mut(path),
                    None => self.other_documents.get_mut(&uri),
                };
                let Some(document) = document else {
                    return;
                };
                for change in params.content_changes {
                    text::apply_change(&mut document.text, change);
                }
                document.version = params.text_document.version;
                if let Some(path) = path {
                    self.mark_dirty(&path);
                }
            }
            "textDocument/didSave" => {
                if let Some(path) = notification
                    .params
                    .pointer("/textDocument/uri")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|uri| Url::parse(uri).ok())
                    .and_then(|uri| file_path(&uri))
                {
                    self.mark_dirty(&path);
                }
            }
            "textDocument/didClose" => {
                let Ok(params) =
                    notification.extract::<DidCloseTextDocumentParams>("textDocument/didClose")
                else {
                    return;
                };
                let uri = params.text_document.uri;
                let Some(path) = file_path(&uri) else {
                    self.other_documents.remove(&uri);
                    return;
                };
                self.documents.remove(&path);
                let Some(dir) = path.parent().map(Path::to_path_buf) else {
                    return;
                };
                if self
                    .documents
                    .keys()
                    .any(|open| open.parent() == Some(&dir))
                {
                    self.mark_dirty(&path);
                } else {
                    // Nothing of this stack is open any more: forget it and
                    // clear what was shown.
                    self.dirty.remove(&dir);
                    if let Some(stack) = self.stacks.remove(&dir) {
                        for uri in stack.published {
                            self.publish(uri, Vec::new(), None);
                        }
                    }
                }
            }
            "workspace/didChangeWatchedFiles" => {
                let dirs: Vec<PathBuf> = self.stacks.keys().cloned().collect();
                for dir in dirs {
                    self.dirty.insert(dir);
                }
                self.deadline
                    .get_or_insert_with(|| Instant::now() + self.debounce);
            }
            // `initialized`, `$/cancelRequest` (answers are immediate) and
            // anything else: nothing to do.
            _ => {}
        }
    }

    fn mark_dirty(&mut self, path: &Path) {
        if let Some(dir) = path.parent() {
            self.dirty.insert(dir.to_path_buf());
            // Throttled, not postponed by each keystroke: a long burst of
            // typing still gets diagnostics every debounce interval.
            self.deadline
                .get_or_insert_with(|| Instant::now() + self.debounce);
        }
    }

    fn check_dirty(&mut self) {
        self.deadline = None;
        let dirs = std::mem::take(&mut self.dirty);
        for dir in dirs {
            self.check(&dir);
        }
    }

    /// Checks the stack in `dir` and publishes its diagnostics.
    fn check(&mut self, dir: &Path) {
        self.dirty.remove(dir);
        let overlay = Overlay {
            base: self.host,
            documents: &self.documents,
        };
        let registry = &self.registry;
        let (before, mut cache) = self
            .stacks
            .remove(dir)
            .map(|stack| (stack.published, stack.cache))
            .unwrap_or_default();
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Analysis::new(&overlay, dir, registry, &mut cache)
        }));
        let Ok(analysis) = checked else {
            self.publish_bug(dir);
            return;
        };
        let by_file = diagnostics::by_file(&analysis);
        let mut published = BTreeSet::new();
        for (uri, diagnostics) in by_file {
            let version = file_path(&uri)
                .and_then(|path| self.documents.get(&path))
                .map(|document| document.version);
            published.insert(uri.clone());
            self.publish(uri, diagnostics, version);
        }
        for gone in before.difference(&published) {
            self.publish(gone.clone(), Vec::new(), None);
        }
        self.stacks.insert(
            dir.to_path_buf(),
            StackState {
                analysis,
                published,
                cache,
            },
        );
    }

    /// Checking the stack in `dir` failed on a bug: each open document of it
    /// says so, rather than keeping diagnostics that no longer hold.
    fn publish_bug(&mut self, dir: &Path) {
        let open: Vec<(Url, i32)> = self
            .documents
            .iter()
            .filter(|(path, _)| path.parent() == Some(dir))
            .filter_map(|(path, document)| {
                Some((Url::from_file_path(path).ok()?, document.version))
            })
            .collect();
        for (uri, version) in open {
            let diagnostic = lsp_types::Diagnostic {
                severity: Some(lsp_types::DiagnosticSeverity::ERROR),
                code: Some(lsp_types::NumberOrString::String(
                    crate::diag::Code::Internal.as_str().to_owned(),
                )),
                source: Some(String::from("infra")),
                message: format!(
                    "{}: checking this stack failed\nhelp: this is a bug; please report the file to the infra maintainers",
                    crate::diag::Code::Internal.message()
                ),
                ..lsp_types::Diagnostic::default()
            };
            self.publish(uri, vec![diagnostic], Some(version));
        }
    }

    fn publish(&mut self, uri: Url, diagnostics: Vec<lsp_types::Diagnostic>, version: Option<i32>) {
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        self.send(Message::Notification(Notification::new(
            String::from("textDocument/publishDiagnostics"),
            params,
        )));
    }
}

/// The edits that format `text` as `infra fmt` would: one edit replacing the
/// whole text, none when it is formatted already, and `None` when it has
/// syntax errors (the diagnostics say which).
fn format(text: &str) -> Option<Vec<TextEdit>> {
    let formatted = crate::fmt::format_source(FileId(0), text).ok()?;
    if formatted == text {
        return Some(Vec::new());
    }
    let index = text::LineIndex::new(text);
    Some(vec![TextEdit {
        range: index.range(text, 0, text.len()),
        new_text: formatted,
    }])
}
