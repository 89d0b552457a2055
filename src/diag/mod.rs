//! Diagnostics: source files and spans, the accumulated list of problems a stage
//! found, the registry of stable codes, and the glue that renders them through
//! miette (human) or serde (JSON).
//!
//! Terminology: a *diagnostic* is one problem found in user input, with a stable
//! *code* such as `infra::parse::unexpected_token`. A *span* is a byte range in one
//! file of the [`SourceMap`].
//!
//! Invariant: this module uses no other module of the crate.
//! Invariant: stages only create diagnostics with spans; sources are attached here,
//! at render time, after sorting.

mod code;
mod escape;
mod render;
mod source;

pub use code::Code;
pub use escape::escape_controls;
pub use render::{RenderOptions, render_human, render_json, summary_line};
pub use source::{FileId, LineCol, SourceFile, SourceMap, Span};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stops the command: exit code 1.
    Error,
    /// Worth reading; the command goes on.
    Warning,
}

/// A label pointing at a span, with a short text shown next to the caret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where the label points.
    pub span: Span,
    /// What is said there (may name user things; never a secret value).
    pub text: String,
}

/// One problem in user input.
///
/// The message is the fixed phrase of the [`Code`]; names and values go into
/// labels and the help line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", code.message())]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// The primary label: the most specific span at fault. `None` only for
    /// problems that have no location (an empty folder, say).
    pub primary: Option<Label>,
    /// Secondary labels ("defined here"). Labels in another file than the
    /// primary one are rendered as related diagnostics.
    pub secondary: Vec<Label>,
    /// What to do about it.
    pub help: Option<String>,
    /// A file path the problem is about when there is no span (unreadable file).
    pub path: Option<String>,
}

impl Diagnostic {
    /// A new error with the given code, pointing at `span` with `label`.
    pub fn error(code: Code, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            primary: Some(Label {
                span,
                text: label.into(),
            }),
            secondary: Vec::new(),
            help: None,
            path: None,
        }
    }

    /// A new error without a location, about a path (or about nothing).
    pub fn error_at_path(code: Code, path: Option<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            primary: None,
            secondary: Vec::new(),
            help: None,
            path,
        }
    }

    /// Turns this into a warning.
    #[must_use]
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Sets the help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    #[must_use]
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// The file this diagnostic is about, if any.
    pub fn file(&self) -> Option<FileId> {
        self.primary.as_ref().map(|label| label.span.file)
    }

    fn sort_key(&self) -> (u32, u32, u32, &'static str) {
        match &self.primary {
            Some(label) => (
                label.span.file.0,
                label.span.start,
                label.span.end,
                self.code.as_str(),
            ),
            None => (u32::MAX, 0, 0, self.code.as_str()),
        }
    }
}

/// The problems a stage found. Stages accumulate into this and never stop at the
/// first user error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Moves every diagnostic of `other` into this list.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// How many errors there are.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// How many warnings there are.
    pub fn warning_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many diagnostics there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The diagnostics, in insertion order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Sorts by file, position and code, and drops exact duplicates, so output is
    /// deterministic whatever order the stages found things in.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.items.dedup();
    }

    /// The diagnostics as a vector.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<T: IntoIterator<Item = Diagnostic>>(iter: T) -> Self {
        Diagnostics {
            items: iter.into_iter().collect(),
        }
    }
}

/// Finds the candidate closest to `name` for a "did you mean" help line.
///
/// Distance is optimal string alignment: two swapped neighbours (`prdo` for
/// `prod`, `prot` for `port`), the most common typo, cost one edit, not two.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = strsim::osa_distance(name, candidate);
        let limit = (name.len().max(candidate.len()) / 3).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}
