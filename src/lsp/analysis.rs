//! One stack checked the way `infra validate` checks it (`check::load`,
//! `check::check`, then `graph::build` when that is clean), with the open
//! documents' text read instead of the disk's, and the syntax trees kept for
//! the features that look up what is under the cursor.
//!
//! Terminology: a *document* is a file the editor has open; its text may
//! differ from the disk's. The *overlay* is the host that reads documents
//! first and the disk otherwise.
//!
//! Invariant: nothing is written; the overlay refuses writes.

use super::text::LineIndex;
use crate::check;
use crate::config::Config;
use crate::diag::{Diagnostics, FileId, SourceMap};
use crate::graph;
use crate::host::{DirEntry, Host, HostError};
use crate::providers::Registry;
use crate::syntax::{self, ast};
use lsp_types::Url;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An open document.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// The editor's text.
    pub text: String,
    /// The editor's version of it (sent back with its diagnostics).
    pub version: i32,
}

/// The host a stack is checked through: open documents override the files
/// on disk, and a document not yet saved is listed in its folder.
pub(crate) struct Overlay<'a> {
    /// The machine.
    pub base: &'a dyn Host,
    /// The open documents by path.
    pub documents: &'a HashMap<PathBuf, Document>,
}

impl Host for Overlay<'_> {
    fn read(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        match self.documents.get(path) {
            Some(document) => Ok(document.text.as_bytes().to_vec()),
            None => self.base.read(path),
        }
    }

    fn write_atomic(&self, _path: &Path, _contents: &[u8]) -> Result<(), HostError> {
        Err(HostError::Other(String::from(
            "the language server writes no files",
        )))
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<DirEntry>, HostError> {
        let mut entries = match self.base.list_dir(path) {
            Ok(entries) => entries,
            Err(HostError::NotFound) => Vec::new(),
            Err(error) => return Err(error),
        };
        for open in self.documents.keys() {
            if open.parent() == Some(path) && !entries.iter().any(|e| &e.path == open) {
                entries.push(DirEntry {
                    path: open.clone(),
                    is_file: true,
                });
            }
        }
        if entries.is_empty() && !self.base.is_dir(path) {
            return Err(HostError::NotFound);
        }
        entries.sort();
        Ok(entries)
    }

    fn is_dir(&self, path: &Path) -> bool {
        !self.documents.contains_key(path) && self.base.is_dir(path)
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        self.base.canonical(path)
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.base.env_var(name)
    }

    fn now_unix_seconds(&self) -> u64 {
        self.base.now_unix_seconds()
    }

    fn random_bytes(&self, buffer: &mut [u8]) {
        self.base.random_bytes(buffer);
    }
}

/// The syntax trees of a stack's files as last parsed, by file id with the
/// text they came from: a file whose text did not change is not parsed
/// again (an edit changes one file of the stack).
#[derive(Default)]
pub(crate) struct ParseCache {
    files: HashMap<FileId, (String, ast::File, Diagnostics)>,
}

impl ParseCache {
    /// The tree of `text` as file `id`: the kept one when the text is the
    /// same, else a new parse (which is kept).
    fn parse(&mut self, id: FileId, text: &str) -> (ast::File, Diagnostics) {
        if let Some((kept_text, file, diagnostics)) = self.files.get(&id) {
            if kept_text == text {
                return (file.clone(), diagnostics.clone());
            }
        }
        let (file, diagnostics) = syntax::parse(id, text);
        self.files
            .insert(id, (text.to_owned(), file.clone(), diagnostics.clone()));
        (file, diagnostics)
    }

    /// Forgets the files past the first `count` (files that went away).
    fn keep(&mut self, count: usize) {
        self.files.retain(|id, _| (id.0 as usize) < count);
    }
}

/// A checked stack.
pub(crate) struct Analysis {
    /// Every file read, child modules' included.
    pub sources: SourceMap,
    /// The root module's syntax trees, as parsed (checking uses up a copy).
    pub files: Vec<ast::File>,
    /// The checked model, as far as checking got.
    pub config: Config,
    /// Everything found, sorted.
    pub diagnostics: Diagnostics,
    /// Each file's URI, by file id; `None` for files that are not on disk
    /// (stdlib modules).
    uris: Vec<Option<Url>>,
    /// Each file's line index, by file id.
    lines: Vec<LineIndex>,
}

impl Analysis {
    /// Loads and checks the stack in `dir` through `host`, parsing only the
    /// files `cache` does not have.
    pub(crate) fn new(
        host: &dyn Host,
        dir: &Path,
        registry: &Registry,
        cache: &mut ParseCache,
    ) -> Analysis {
        let (mut stack, mut diagnostics) =
            check::load_parsed(host, dir, &mut |id, text| cache.parse(id, text));
        cache.keep(stack.sources.len());
        let files = stack.files.clone();
        let (config, check_diagnostics) = check::check_with_registry(host, &mut stack, registry);
        diagnostics.extend(check_diagnostics);
        if !diagnostics.has_errors() {
            // Cycles are found by the graph; it is cheap once checking is clean.
            let (_, graph_diagnostics) = graph::build(&config);
            diagnostics.extend(graph_diagnostics);
        }
        diagnostics.sort();
        let sources = stack.sources;
        let mut uris = Vec::with_capacity(sources.len());
        let mut lines = Vec::with_capacity(sources.len());
        for (_, file) in sources.iter() {
            let path = Path::new(&file.name);
            uris.push(if path.is_absolute() {
                Url::from_file_path(path).ok()
            } else {
                None
            });
            lines.push(LineIndex::new(&file.text));
        }
        Analysis {
            sources,
            files,
            config,
            diagnostics,
            uris,
            lines,
        }
    }

    /// The URI of a file, when it is on disk.
    pub(crate) fn uri(&self, file: FileId) -> Option<&Url> {
        self.uris.get(file.0 as usize).and_then(Option::as_ref)
    }

    /// Every file on disk, with its id, in load order.
    pub(crate) fn uris(&self) -> impl Iterator<Item = (FileId, &Url)> {
        self.uris
            .iter()
            .enumerate()
            .filter_map(|(i, uri)| Some((FileId(u32::try_from(i).ok()?), uri.as_ref()?)))
    }

    /// The text of a file.
    pub(crate) fn text(&self, file: FileId) -> &str {
        self.sources.get(file).map_or("", |f| f.text.as_str())
    }

    /// The LSP range of a span.
    pub(crate) fn range(&self, span: crate::diag::Span) -> lsp_types::Range {
        let text = self.text(span.file);
        match self.lines.get(span.file.0 as usize) {
            Some(index) => index.range(text, span.start(), span.end()),
            None => lsp_types::Range::default(),
        }
    }

    /// The location of a span, when its file is on disk.
    pub(crate) fn location(&self, span: crate::diag::Span) -> Option<lsp_types::Location> {
        Some(lsp_types::Location::new(
            self.uri(span.file)?.clone(),
            self.range(span),
        ))
    }

    /// The root module's syntax tree of the file at `uri`.
    pub(crate) fn file(&self, uri: &Url) -> Option<&ast::File> {
        self.files
            .iter()
            .find(|file| self.uri(file.id) == Some(uri))
    }
}
