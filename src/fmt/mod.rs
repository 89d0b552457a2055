//! The canonical printer behind `infra fmt`: two-space indents, `=` aligned
//! within runs of single-line attributes, one blank line between top-level
//! blocks, normalised spacing in expressions. Comments are kept; heredoc
//! bodies are untouched.
//!
//! The layout, where `terraform fmt` is the model:
//! - Inside a body at most one blank line is kept where the source had any,
//!   none after `{` or before `}`; top-level blocks are separated by exactly
//!   one blank line. A file ends with one newline (an empty file stays empty);
//!   line ends are `\n`.
//! - `=` signs align within runs of consecutive attributes (and of object
//!   entries, and of object type fields); see `body.rs` for what breaks a run.
//!   Trailing comments follow their line after one space; they are not aligned.
//! - A block written on one line with a single attribute stays on one line
//!   (`lifecycle { prevent_destroy = true }`); an empty body prints as `{}`.
//! - Collections written over several lines stay so, one element per line:
//!   lists and argument lists with a trailing comma, objects without commas.
//!   A collection written on one line stays on one line unless a comment or a
//!   multi-line element inside it forces it open.
//! - A `for` expression written with a line break after its opening bracket
//!   prints as `for ... : ...` on its own line, `if` on the next; otherwise it
//!   stays on the opening bracket's line.
//! - Strings are printed from their source; `${}` interpolations are
//!   reprinted without inner padding. Numbers, parentheses, labels and `#` vs
//!   `//` comments are kept as written.
//!
//! Invariant: never depends on `check`; formatting a formatted file changes
//! nothing, and the output parses to the same tree.

mod body;
mod expr;
mod printer;
mod types;

use crate::diag::{Code, Diagnostic, Diagnostics, FileId, Span};
use crate::syntax::{self, ast};
use printer::Printer;

/// Prints a parsed file canonically. `source` is the text it was parsed from;
/// the spans of `file` index into it.
pub fn format(file: &ast::File, source: &str) -> String {
    let mut printer = Printer::new(source);
    printer.file_body(&file.body);
    printer.finish()
}

/// Parses and formats `text`. A file with syntax errors is never formatted:
/// the diagnostics come back instead. Output that would not parse again is a
/// bug in the formatter; it is reported as `infra::internal` rather than
/// returned, so a caller never writes a broken file.
pub fn format_source(file: FileId, text: &str) -> Result<String, Diagnostics> {
    let (tree, diagnostics) = syntax::parse(file, text);
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let formatted = format(&tree, text);
    let (_, reparsed) = syntax::parse(file, &formatted);
    if reparsed.has_errors() {
        let mut internal = Diagnostics::new();
        internal.push(
            Diagnostic::error(
                Code::Internal,
                Span::new(file, 0, 0),
                "the formatted text of this file does not parse",
            )
            .with_help(
                "the file was left unchanged; please report this file to the infra maintainers",
            ),
        );
        return Err(internal);
    }
    Ok(formatted)
}
