//! The low-level output buffer of the formatter: indentation written lazily at
//! the first text of a line, verbatim pieces (heredoc bodies, multi-line block
//! comments), and the source-based questions layout decisions ask (is there a
//! blank line between two offsets, does a span cover a line break).
//!
//! Invariant: no line the printer writes itself ends in whitespace; only
//! verbatim heredoc bodies may.

/// Two spaces per level.
const INDENT: &str = "  ";

/// The output being built, with the source the tree was parsed from.
pub(super) struct Printer<'s> {
    /// The text the tree was parsed from; spans index into it.
    pub(super) source: &'s str,
    /// What has been printed so far.
    out: String,
    /// The current indentation level.
    indent: usize,
    /// Whether the next text starts a line (its indentation is not written yet).
    at_line_start: bool,
    /// Whether a heredoc closing marker was just printed: whatever comes next
    /// must start on a new line, or the marker would not close the heredoc.
    after_heredoc: bool,
}

impl<'s> Printer<'s> {
    /// An empty printer at the start of a file.
    pub(super) fn new(source: &'s str) -> Self {
        Printer {
            source,
            out: String::new(),
            indent: 0,
            at_line_start: true,
            after_heredoc: false,
        }
    }

    /// An empty printer at the same indentation, positioned in the middle of a
    /// line, to render a piece that is measured before it is appended.
    pub(super) fn fork(&self) -> Printer<'s> {
        Printer {
            source: self.source,
            out: String::new(),
            indent: self.indent,
            at_line_start: false,
            after_heredoc: false,
        }
    }

    /// What was printed.
    pub(super) fn as_str(&self) -> &str {
        &self.out
    }

    /// Whether the printed text spans more than one line (or must be followed
    /// by a line break, as after a heredoc).
    pub(super) fn is_multiline(&self) -> bool {
        self.after_heredoc || self.out.contains('\n')
    }

    /// The finished text: line feeds only, exactly one newline at the end, or
    /// nothing at all for an empty file.
    pub(super) fn finish(self) -> String {
        let text = self.out.replace("\r\n", "\n");
        let trimmed = text.trim_end_matches('\n');
        if trimmed.is_empty() {
            String::new()
        } else {
            let mut finished = trimmed.to_owned();
            finished.push('\n');
            finished
        }
    }

    /// One level deeper.
    pub(super) fn indent(&mut self) {
        self.indent += 1;
    }

    /// One level shallower.
    pub(super) fn dedent(&mut self) {
        self.indent = self.indent.saturating_sub(1);
    }

    /// Writes pending line break and indentation before text.
    fn start_text(&mut self) {
        if self.after_heredoc {
            self.newline();
        }
        if self.at_line_start {
            for _ in 0..self.indent {
                self.out.push_str(INDENT);
            }
            self.at_line_start = false;
        }
    }

    /// Writes text that holds no line break. Right after a heredoc the text
    /// goes on the next line, without the space that would have separated it.
    pub(super) fn text(&mut self, text: &str) {
        let text = if self.after_heredoc {
            text.trim_start()
        } else {
            text
        };
        if text.is_empty() {
            return;
        }
        self.start_text();
        self.out.push_str(text);
    }

    /// Whether a heredoc closing marker ends the current line.
    pub(super) fn after_heredoc(&self) -> bool {
        self.after_heredoc
    }

    /// Writes text whose first line goes at the current position and whose
    /// other lines are kept exactly as given, minus trailing whitespace when
    /// `trim` (comments, type expressions) and carriage returns always. Used for
    /// block comments and for source kept verbatim.
    pub(super) fn verbatim_lines(&mut self, text: &str, trim: bool) {
        let mut lines = text.split('\n');
        if let Some(first) = lines.next() {
            let first = first.strip_suffix('\r').unwrap_or(first);
            self.text(if trim { first.trim_end() } else { first });
        }
        for line in lines {
            let line = line.strip_suffix('\r').unwrap_or(line);
            self.out.push('\n');
            self.out.push_str(if trim { line.trim_end() } else { line });
            self.at_line_start = false;
        }
    }

    /// Writes a heredoc: the opener, the body untouched, the closing line.
    pub(super) fn heredoc(&mut self, opener: &str, body: &str, closing_indent: &str, marker: &str) {
        self.text(opener);
        self.out.push('\n');
        let body = body.replace("\r\n", "\n");
        self.out.push_str(&body);
        if !body.is_empty() && !body.ends_with('\n') {
            self.out.push('\n');
        }
        self.out.push_str(closing_indent);
        self.out.push_str(marker);
        self.at_line_start = false;
        self.after_heredoc = true;
    }

    /// Ends the current line.
    pub(super) fn newline(&mut self) {
        self.out.push('\n');
        self.at_line_start = true;
        self.after_heredoc = false;
    }

    /// Ends the current line if something is on it.
    pub(super) fn ensure_line_start(&mut self) {
        if !self.at_line_start || self.after_heredoc {
            self.newline();
        }
    }

    /// Writes one empty line (called at the start of a line).
    pub(super) fn blank_line(&mut self) {
        self.ensure_line_start();
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// The source text of `start..end`, when those offsets are valid.
    pub(super) fn slice(&self, start: usize, end: usize) -> Option<&'s str> {
        self.source.get(start..end)
    }

    /// Whether the source has at least one empty line between `end` (the end
    /// of one thing) and `start` (the start of the next). `None` when the
    /// offsets do not fit the source, so the caller falls back to the counts
    /// the parser recorded.
    pub(super) fn blank_line_between(&self, end: usize, start: usize) -> Option<bool> {
        // A line comment's span may include its newline: step back over it so
        // the gap starts on the line the previous thing ends on.
        let end = if end > 0 && self.source.as_bytes().get(end - 1) == Some(&b'\n') {
            end - 1
        } else {
            end
        };
        let gap = self.source.get(end..start)?;
        let lines: Vec<&str> = gap.split('\n').collect();
        let inner = lines.len().saturating_sub(2);
        Some(
            lines
                .iter()
                .skip(1)
                .take(inner)
                .any(|line| line.trim().is_empty()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Printer;

    #[test]
    fn blank_line_between_counts_empty_lines_only() {
        let source = "a = 1\n\n# c\nb = 2\n";
        let printer = Printer::new(source);
        assert_eq!(printer.blank_line_between(5, 7), Some(true));
        assert_eq!(printer.blank_line_between(10, 11), Some(false));
        // A span that includes the comment's newline.
        assert_eq!(printer.blank_line_between(11, 11), Some(false));
        assert_eq!(printer.blank_line_between(20, 11), None);
    }

    #[test]
    fn indentation_is_lazy_so_blank_lines_have_no_spaces() {
        let mut printer = Printer::new("");
        printer.indent();
        printer.text("a");
        printer.newline();
        printer.blank_line();
        printer.text("b");
        assert_eq!(printer.finish(), "  a\n\n  b\n");
    }
}
