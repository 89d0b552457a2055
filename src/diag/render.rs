//! Rendering of diagnostics: human (miette's graphical report, with file:line:col,
//! a source excerpt and a caret) and JSON (for editors and CI).
//!
//! Invariant: rendering is pure; whether to use colour and how wide to wrap is
//! decided by the caller (`cli`) and passed in [`RenderOptions`].

use super::{Diagnostic, Diagnostics, Label, Severity, SourceMap};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use std::fmt;

/// How to render human diagnostics.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// ANSI colours (only on a TTY and never with `NO_COLOR`; the caller decides).
    pub colour: bool,
    /// Wrap width in columns.
    pub width: usize,
    /// Unicode box-drawing characters (off gives plain ASCII).
    pub unicode: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            colour: false,
            width: 100,
            unicode: true,
        }
    }
}

/// A diagnostic with its source attached, ready for miette.
struct Attached<'a> {
    diagnostic: &'a Diagnostic,
    /// The labels rendered with this report (all in one file).
    labels: Vec<&'a Label>,
    source: Option<NamedSource<String>>,
    related: Vec<Attached<'a>>,
    location: Option<String>,
}

impl fmt::Debug for Attached<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attached")
            .field("code", &self.diagnostic.code)
            .finish()
    }
}

impl fmt::Display for Attached<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) if self.source.is_none() => {
                write!(f, "{}: {}", self.diagnostic.code.message(), location)
            }
            _ => f.write_str(self.diagnostic.code.message()),
        }
    }
}

impl std::error::Error for Attached<'_> {}

impl miette::Diagnostic for Attached<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_deref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let primary = self.diagnostic.primary.as_ref();
        Some(Box::new(self.labels.iter().map(move |label| {
            let span = SourceSpan::new(label.span.start().into(), label.span.len());
            let text = (!label.text.is_empty()).then(|| label.text.clone());
            if primary.is_some_and(|p| std::ptr::eq(p, *label)) {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            }
        })))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

fn attach<'a>(diagnostic: &'a Diagnostic, map: &SourceMap) -> Attached<'a> {
    let Some(primary) = diagnostic.primary.as_ref() else {
        return Attached {
            diagnostic,
            labels: Vec::new(),
            source: None,
            related: Vec::new(),
            location: diagnostic.path.clone(),
        };
    };
    let file = primary.span.file;
    let mut labels = vec![primary];
    let mut related = Vec::new();
    for label in &diagnostic.secondary {
        if label.span.file == file {
            labels.push(label);
        } else if let Some(other) = map.get(label.span.file) {
            related.push(Attached {
                diagnostic,
                labels: vec![label],
                source: Some(NamedSource::new(other.name.clone(), other.text.clone())),
                related: Vec::new(),
                location: None,
            });
        }
    }
    let source = map
        .get(file)
        .map(|f| NamedSource::new(f.name.clone(), f.text.clone()));
    Attached {
        diagnostic,
        labels,
        source,
        related,
        location: None,
    }
}

/// Renders every diagnostic as miette's graphical report, one after the other.
pub fn render_human(diagnostics: &Diagnostics, map: &SourceMap, options: RenderOptions) -> String {
    let theme = match (options.unicode, options.colour) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, true) => GraphicalTheme::ascii(),
        (false, false) => GraphicalTheme::none(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false)
        .with_context_lines(1);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let attached = attach(diagnostic, map);
        if handler.render_report(&mut out, &attached).is_err() {
            out.push_str(&format!(
                "{}: {}\n",
                diagnostic.code,
                diagnostic.code.message()
            ));
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[derive(serde::Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    severity: Severity,
    message: &'static str,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    end: Option<JsonPosition>,
    label: Option<&'a str>,
    help: Option<&'a str>,
    related: Vec<JsonRelated<'a>>,
}

#[derive(serde::Serialize)]
struct JsonPosition {
    line: usize,
    column: usize,
}

#[derive(serde::Serialize)]
struct JsonRelated<'a> {
    file: Option<&'a str>,
    line: usize,
    column: usize,
    message: &'a str,
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    format_version: &'static str,
    valid: bool,
    error_count: usize,
    warning_count: usize,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

/// Renders the diagnostics as a JSON document: `format_version`, `valid`,
/// counts, and per diagnostic code, severity, file, line, column, end, message,
/// label, help and related locations.
pub fn render_json(diagnostics: &Diagnostics, map: &SourceMap) -> String {
    let items = diagnostics
        .iter()
        .map(|d| {
            let (file, start, end) = match &d.primary {
                Some(label) => match map.get(label.span.file) {
                    Some(f) => (
                        Some(f.name.as_str()),
                        Some(f.line_col(label.span.start())),
                        Some(f.line_col(label.span.end())),
                    ),
                    None => (None, None, None),
                },
                None => (d.path.as_deref(), None, None),
            };
            JsonDiagnostic {
                code: d.code.as_str(),
                severity: d.severity,
                message: d.code.message(),
                file,
                line: start.map(|p| p.line),
                column: start.map(|p| p.column),
                end: end.map(|p| JsonPosition {
                    line: p.line,
                    column: p.column,
                }),
                label: d.primary.as_ref().map(|l| l.text.as_str()),
                help: d.help.as_deref(),
                related: d
                    .secondary
                    .iter()
                    .filter_map(|l| {
                        let f = map.get(l.span.file)?;
                        let p = f.line_col(l.span.start());
                        Some(JsonRelated {
                            file: Some(f.name.as_str()),
                            line: p.line,
                            column: p.column,
                            message: l.text.as_str(),
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    let report = JsonReport {
        format_version: "1.0",
        valid: !diagnostics.has_errors(),
        error_count: diagnostics.error_count(),
        warning_count: diagnostics.warning_count(),
        diagnostics: items,
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|_| String::from("{}"))
}

/// The count line: "2 errors in 1 file", "1 error and 1 warning in 2 files".
pub fn summary_line(diagnostics: &Diagnostics) -> String {
    let errors = diagnostics.error_count();
    let warnings = diagnostics.warning_count();
    // Only real files count: a path-only diagnostic may name a folder or a
    // command-line option (`--env nope`).
    let mut files: Vec<_> = diagnostics
        .iter()
        .filter_map(|d| match (d.file(), &d.path) {
            (Some(file), _) => Some((Some(file), None)),
            (None, Some(path)) if d.code == super::Code::CliUnreadableFile => {
                Some((None, Some(path.clone())))
            }
            _ => None,
        })
        .collect();
    files.sort();
    files.dedup();
    let file_count = files.len();
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let what = match (errors, warnings) {
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{} and {}", plural(e, "error"), plural(w, "warning")),
    };
    if file_count == 0 {
        return what;
    }
    format!("{what} in {}", plural(file_count, "file"))
}
