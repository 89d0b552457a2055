//! Rendering of diagnostics: human (miette's graphical report, with file:line:col,
//! a source excerpt and a caret) and JSON (for editors and CI).
//!
//! Invariant: rendering is pure; whether to use colour and how wide to wrap is
//! decided by the caller (`cli`) and passed in [`RenderOptions`].
//! Invariant: no control character of a file, label, help line or path reaches
//! the human report raw: each is escaped ([`super::escape_controls`]), so a
//! crafted file cannot rewrite the terminal, and a lone CR cannot make the
//! excerpt's line numbers disagree with the `file:line:col` header (lines are
//! then ended by LF and CRLF only, as [`super::SourceFile`] counts them).

use super::escape::{Escape, escape_controls, escape_with_offsets, shown_offset};
use super::{Diagnostic, Diagnostics, Label, Severity, SourceMap};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    NamedSource, SourceCode, SourceSpan, SpanContents,
};
use std::fmt;
use std::sync::Arc;

/// A file's text with where each line starts, shared by every diagnostic in
/// it: miette reads a span by scanning the text from its start, so a file
/// with many diagnostics cost its length once per diagnostic (quadratic);
/// here each read starts a few lines before the span.
///
/// Invariant: lines are counted as miette counts them (`\n`, `\r\n` and a
/// lone `\r` each end one), so the excerpt and its line numbers are exactly
/// what miette would show from the whole text.
///
/// The text is the shown text (control characters escaped); `escapes` says
/// where each escape is, to move spans in and columns back out.
#[derive(Debug, Clone)]
struct Indexed {
    text: Arc<str>,
    line_starts: Arc<[usize]>,
    escapes: Arc<[Escape]>,
}

impl Indexed {
    /// The shown form of a file's text.
    fn shown(original: &str) -> Indexed {
        let (text, escapes) = escape_with_offsets(original);
        let mut indexed = Indexed::new(&text);
        indexed.escapes = escapes.into();
        indexed
    }

    /// A span of the original text, moved into the shown text.
    fn shown_span(&self, span: super::Span) -> SourceSpan {
        let start = shown_offset(&self.escapes, span.start());
        let end = shown_offset(&self.escapes, span.end());
        SourceSpan::new(start.into(), end.saturating_sub(start))
    }

    /// How many bytes the escapes in `from..to` (shown offsets) add.
    fn grown_between(&self, from: usize, to: usize) -> usize {
        self.escapes
            .iter()
            .filter(|e| e.shown >= from && e.shown < to)
            .map(|e| e.len - e.original_len)
            .sum()
    }

    fn new(text: &str) -> Indexed {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            if byte == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                at += 1;
            }
            if matches!(byte, b'\r' | b'\n') {
                line_starts.push(at + 1);
            }
            at += 1;
        }
        Indexed {
            text: Arc::from(text),
            line_starts: line_starts.into(),
            escapes: Arc::from(Vec::new()),
        }
    }
}

impl SourceCode for Indexed {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        // The line holding the span's start, and a start some lines before
        // it (more than the context asks for; miette keeps only the last).
        let line = self
            .line_starts
            .partition_point(|start| *start <= span.offset())
            .saturating_sub(1);
        let base_line = line.saturating_sub(context_lines_before + 1);
        let base = self.line_starts.get(base_line).copied().unwrap_or(0);
        let rest = self.text.as_bytes().get(base..).unwrap_or_default();
        let shifted = SourceSpan::new((span.offset() - base).into(), span.len());
        let contents = rest.read_span(&shifted, context_lines_before, context_lines_after)?;
        let data: &'a [u8] = contents.data();
        // The span's own column (what the `file:line:col` header shows) is
        // that of the original text: escapes earlier on its line are taken
        // out. Context reads start at a line start, where nothing is.
        let mut column = contents.column();
        if context_lines_before == 0 && context_lines_after == 0 {
            let line_start = self.line_starts.get(line).copied().unwrap_or(0);
            column = column.saturating_sub(self.grown_between(line_start, span.offset()));
        }
        Ok(Box::new(MietteSpanContents::new(
            data,
            SourceSpan::new(
                (contents.span().offset() + base).into(),
                contents.span().len(),
            ),
            contents.line() + base_line,
            column,
            contents.line_count() + base_line,
        )))
    }
}

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
    source: Option<NamedSource<Indexed>>,
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
                write!(
                    f,
                    "{}: {}",
                    self.diagnostic.code.message(),
                    escape_controls(location)
                )
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
            .map(|h| Box::new(escape_controls(h)) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let source = self.source.as_ref()?.inner();
        let primary = self.diagnostic.primary.as_ref();
        Some(Box::new(self.labels.iter().map(move |label| {
            let span = source.shown_span(label.span);
            let text = (!label.text.is_empty()).then(|| escape_controls(&label.text).into_owned());
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

/// The indexed text of each file, made on first use.
struct Sources<'m> {
    map: &'m SourceMap,
    indexed: Vec<Option<Indexed>>,
}

impl Sources<'_> {
    fn named(&mut self, file: super::FileId) -> Option<NamedSource<Indexed>> {
        let source = self.map.get(file)?;
        let at = file.0 as usize;
        if self.indexed.len() <= at {
            self.indexed.resize(at + 1, None);
        }
        let slot = self.indexed.get_mut(at)?;
        let indexed = slot
            .get_or_insert_with(|| Indexed::shown(&source.text))
            .clone();
        Some(NamedSource::new(&*escape_controls(&source.name), indexed))
    }
}

fn attach<'a>(diagnostic: &'a Diagnostic, sources: &mut Sources<'_>) -> Attached<'a> {
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
        } else if let Some(other) = sources.named(label.span.file) {
            related.push(Attached {
                diagnostic,
                labels: vec![label],
                source: Some(other),
                related: Vec::new(),
                location: None,
            });
        }
    }
    let source = sources.named(file);
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
    // Lines wrap at spaces only, never inside a word or at its hyphens, so a
    // lock id, a path or an address can be copied whole from the terminal.
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false)
        .with_context_lines(1)
        .with_break_words(false)
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation);
    let mut out = String::new();
    let mut sources = Sources {
        map,
        indexed: Vec::new(),
    };
    for diagnostic in diagnostics {
        let attached = attach(diagnostic, &mut sources);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod indexed_tests {
    use super::Indexed;
    use miette::{SourceCode, SourceSpan};

    /// Every span of every length up to 6, with several context sizes, reads
    /// exactly as miette reads it from the whole text: same excerpt, span,
    /// line, column and line count (`\n`, `\r\n` and lone `\r` mixed).
    #[test]
    fn reads_every_span_as_miette_does_from_the_whole_text() {
        let text = "a = 1\nbb = \"two\"\r\n\r\nccc\rdd = [\n  1,\n]\n\nlast";
        let indexed = Indexed::new(text);
        for (before, after) in [(0, 0), (1, 1), (2, 3), (5, 0)] {
            for offset in 0..=text.len() {
                for len in 0..6 {
                    let span = SourceSpan::new(offset.into(), len);
                    let theirs = text.as_bytes().read_span(&span, before, after);
                    let ours = indexed.read_span(&span, before, after);
                    match (theirs, ours) {
                        (Ok(theirs), Ok(ours)) => {
                            let at = format!("offset {offset} len {len} context {before}/{after}");
                            assert_eq!(theirs.data(), ours.data(), "{at}");
                            assert_eq!(theirs.span(), ours.span(), "{at}");
                            assert_eq!(theirs.line(), ours.line(), "{at}");
                            assert_eq!(theirs.column(), ours.column(), "{at}");
                            assert_eq!(theirs.line_count(), ours.line_count(), "{at}");
                        }
                        (Err(_), Err(_)) => {}
                        (theirs, ours) => panic!(
                            "offset {offset} len {len}: miette {:?}, indexed {:?}",
                            theirs.is_ok(),
                            ours.is_ok()
                        ),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod terminal_safety_tests {
    use super::{RenderOptions, render_human};
    use crate::diag::{Code, Diagnostic, Diagnostics, SourceMap, Span};

    fn render(text: &str, start: usize, end: usize, label: &str, help: &str) -> String {
        let mut map = SourceMap::new();
        let file = map.add("main.infra", text);
        let diagnostic = Diagnostic::error(
            Code::ParseUnexpectedToken,
            Span::new(file, start, end),
            label,
        )
        .with_help(help);
        let diagnostics: Diagnostics = std::iter::once(diagnostic).collect();
        let options = RenderOptions {
            colour: false,
            width: 200,
            unicode: false,
        };
        render_human(&diagnostics, &map, options)
    }

    #[test]
    fn control_characters_in_sources_labels_and_help_are_shown_escaped() {
        let text = "a = \"\u{1b}]0;pwned\u{7}\"\nb\u{1b}[2J = 1\n";
        let at = text.find("= 1").unwrap();
        let shown = render(text, at, at + 1, "here \u{1b}[31m", "fix \u{7} it");
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown:?}"
        );
        assert!(shown.contains("a = \"\\u{1b}]0;pwned\\u{7}\""), "{shown}");
        assert!(shown.contains("b\\u{1b}[2J = 1"), "{shown}");
        assert!(shown.contains("here \\u{1b}[31m"), "{shown}");
        assert!(shown.contains("fix \\u{7} it"), "{shown}");
        // The header gives the column in the file, not in the shown line;
        // the caret sits under the `=` in the shown line.
        assert!(shown.contains("[main.infra:2:7]"), "{shown}");
        let source_line = shown.lines().find(|l| l.contains("[2J = 1")).unwrap();
        let caret_line = shown
            .lines()
            .skip_while(|l| !l.contains("[2J = 1"))
            .nth(1)
            .unwrap();
        assert_eq!(
            source_line.find('='),
            caret_line.rfind('|'),
            "{source_line}\n{caret_line}"
        );
    }

    #[test]
    fn a_lone_carriage_return_does_not_split_the_excerpt_from_the_header() {
        let text = "x = 1 # note\ry = 2\nbad here\n";
        let at = text.find("bad").unwrap();
        let shown = render(text, at, at + 3, "this", "help");
        // Line 2, as the language and the JSON output count it.
        assert!(shown.contains("[main.infra:2:1]"), "{shown}");
        let numbered = shown
            .lines()
            .find(|l| l.contains("bad here"))
            .unwrap()
            .trim_start();
        assert!(numbered.starts_with("2 "), "{shown}");
        assert!(shown.contains("x = 1 # note\\u{d}y = 2"), "{shown}");
    }
}
