//! Our diagnostics as LSP diagnostics, grouped by the file they are in: the
//! primary label gives the range, the code goes in `code`, the fixed phrase,
//! the label's text and the help line make the message, and secondary labels
//! ("defined here", other cycle members) become related information, in
//! whatever file they are.
//!
//! Invariant: nothing is added to what the CLI would print; a diagnostic's
//! words are the same in the editor and the terminal.

use super::analysis::Analysis;
use crate::diag::{self, Severity};
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, NumberOrString, Url,
};
use std::collections::BTreeMap;

/// The LSP diagnostics of a checked stack, by the URI of the file each is in.
/// Every file of the stack on disk has an entry, empty when it is clean, so
/// publishing them clears what was shown before. Diagnostics about no file
/// (an empty folder) or about a file that is not on disk (a stdlib module)
/// are shown at the start of the stack's first file.
pub(crate) fn by_file(analysis: &Analysis) -> BTreeMap<Url, Vec<Diagnostic>> {
    let mut out: BTreeMap<Url, Vec<Diagnostic>> = BTreeMap::new();
    for (_, uri) in analysis.uris() {
        out.entry(uri.clone()).or_default();
    }
    let first = analysis.uris().next().map(|(_, uri)| uri.clone());
    for diagnostic in &analysis.diagnostics {
        let located = diagnostic.primary.as_ref().and_then(|label| {
            Some((
                analysis.uri(label.span.file)?.clone(),
                analysis.range(label.span),
            ))
        });
        let (uri, range) = match (located, &first) {
            (Some(located), _) => located,
            (None, Some(first)) => (first.clone(), lsp_types::Range::default()),
            (None, None) => continue,
        };
        out.entry(uri)
            .or_default()
            .push(convert(analysis, diagnostic, range));
    }
    out
}

/// One diagnostic, placed at `range`.
fn convert(
    analysis: &Analysis,
    diagnostic: &diag::Diagnostic,
    range: lsp_types::Range,
) -> Diagnostic {
    let mut message = String::from(diagnostic.code.message());
    if let Some(label) = &diagnostic.primary {
        if !label.text.is_empty() {
            message.push_str(": ");
            message.push_str(&label.text);
        }
    }
    if let Some(path) = &diagnostic.path {
        message.push_str(&format!(" ({path})"));
    }
    if let Some(help) = &diagnostic.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = diagnostic
        .secondary
        .iter()
        .filter_map(|label| {
            Some(DiagnosticRelatedInformation {
                location: analysis.location(label.span)?,
                message: label.text.clone(),
            })
        })
        .collect();
    Diagnostic {
        range,
        severity: Some(match diagnostic.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(diagnostic.code.as_str().to_owned())),
        code_description: None,
        source: Some(String::from("infra")),
        message: diag::escape_controls(&message).into_owned(),
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}
