//! The lexical pre-scanner: one pass over the text before pest runs.
//!
//! It understands strings, `${}` nesting, heredocs and comments, and
//! - collects every comment with its span (pest skips them silently);
//! - splits the file into top-level chunks that are parsed separately, so one
//!   broken block does not hide the errors of the next;
//! - enforces [`MAX_NESTING`](super::MAX_NESTING) before pest can recurse;
//! - reports unterminated strings, comments, heredocs and interpolations and
//!   unbalanced delimiters with precise spans. A chunk with such a problem is
//!   marked bad and not given to pest, which would only restate it.
//!
//! Invariant: never panics and never indexes out of range on any input; it
//! only slices the text at ASCII bytes, which are always char boundaries.

use super::MAX_NESTING;
use super::ast::Comment;
use crate::diag::{Code, Diagnostic, Diagnostics, FileId, Span};

/// A top-level range of the file, parsed by pest on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// The scanner already reported a problem inside; pest must not run.
    pub bad: bool,
}

/// What the scanner found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Every comment, in source order.
    pub comments: Vec<Comment>,
    /// The chunks, in source order, not overlapping.
    pub chunks: Vec<Chunk>,
    /// Lexical problems.
    pub diagnostics: Diagnostics,
}

/// One open construct.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// `{`, `[` or `(` in code.
    Open { opener: u8, pos: usize },
    /// `${` inside a string or heredoc; its `}` returns to the text.
    Interpolation { pos: usize },
    /// Inside a quoted string that starts at `pos`.
    Str { pos: usize },
    /// Inside a heredoc body; `header` is `<<MARKER`.
    Heredoc {
        header: (usize, usize),
        marker: (usize, usize),
        line_start: bool,
    },
}

impl Frame {
    fn counts_for_nesting(self) -> bool {
        matches!(self, Frame::Open { .. } | Frame::Interpolation { .. })
    }
}

fn closer_for(opener: u8) -> u8 {
    match opener {
        b'{' => b'}',
        b'[' => b']',
        _ => b')',
    }
}

fn is_ident_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

fn is_ident_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Blank lines in the whitespace run that ends at `pos`.
pub(crate) fn blank_lines_before(text: &str, pos: usize) -> u32 {
    let bytes = text.as_bytes();
    let mut newlines = 0u32;
    let mut at = pos.min(bytes.len());
    while at > 0 {
        match bytes.get(at - 1) {
            Some(b'\n') => newlines += 1,
            Some(b' ' | b'\t' | b'\r') => {}
            _ => break,
        }
        at -= 1;
    }
    // At the start of the file there is no line above to separate from.
    if at == 0 {
        return 0;
    }
    newlines.saturating_sub(1)
}

struct Scanner<'a> {
    file: FileId,
    text: &'a str,
    bytes: &'a [u8],
    stack: Vec<Frame>,
    nesting: usize,
    scan: Scan,
    /// Where the current chunk starts.
    chunk_start: usize,
    /// Positions of reported problems in the current chunk.
    bad_marks: Vec<usize>,
    /// Whether nesting too deep was reported in the current chunk.
    nesting_reported: bool,
    /// A `}` brought the depth back to 0 here; a cut happens if the next token
    /// starts an item.
    pending_cut: Option<usize>,
    /// Lines at column 0 that look like a block header while depth > 0.
    candidates: Vec<usize>,
    /// Conditionals whose `?` has no `:` yet, per stack level: the middle of a
    /// conditional is a nested expression for pest, so it counts as nesting.
    questions: Vec<usize>,
}

/// Scans `text`; see the module documentation.
pub(crate) fn scan(file: FileId, text: &str) -> Scan {
    let mut scanner = Scanner {
        file,
        text,
        bytes: text.as_bytes(),
        stack: Vec::new(),
        nesting: 0,
        scan: Scan::default(),
        chunk_start: 0,
        bad_marks: Vec::new(),
        nesting_reported: false,
        pending_cut: None,
        candidates: Vec::new(),
        questions: Vec::new(),
    };
    // A byte-order mark is not part of any chunk.
    if text.starts_with('\u{feff}') {
        scanner.chunk_start = '\u{feff}'.len_utf8();
    }
    scanner.run();
    scanner.finish();
    scanner.scan
}

impl Scanner<'_> {
    fn byte(&self, at: usize) -> u8 {
        self.bytes.get(at).copied().unwrap_or(0)
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end.min(self.bytes.len()))
    }

    fn report(&mut self, mark: usize, diagnostic: Diagnostic) {
        self.bad_marks.push(mark);
        self.scan.diagnostics.push(diagnostic);
    }

    /// End of the line that contains `at` (before `\r\n` or `\n`).
    fn line_end(&self, at: usize) -> usize {
        let mut end = at;
        while end < self.bytes.len() && self.byte(end) != b'\n' {
            end += 1;
        }
        if end > at && self.byte(end - 1) == b'\r' {
            end -= 1;
        }
        end
    }

    fn close_chunk(&mut self, end: usize) {
        let start = self.chunk_start;
        if end > start {
            let bad = self.bad_marks.iter().any(|&m| m >= start && m < end);
            self.scan.chunks.push(Chunk { start, end, bad });
        }
        self.bad_marks.retain(|&m| m >= end);
        self.chunk_start = end;
        self.nesting_reported = false;
        // A `?` left open by a broken chunk must not count against the next one.
        self.questions.clear();
        self.nesting = self.stack.iter().filter(|f| f.counts_for_nesting()).count();
        self.candidates.clear();
    }

    fn push(&mut self, frame: Frame, pos: usize) {
        self.stack.push(frame);
        if frame.counts_for_nesting() {
            self.nesting += 1;
            if self.nesting > MAX_NESTING && !self.nesting_reported {
                self.nesting_reported = true;
                let d = Diagnostic::error(
                    Code::ParseNestingTooDeep,
                    self.span(pos, pos + if matches!(frame, Frame::Interpolation { .. }) { 2 } else { 1 }),
                    format!("this opens level {} of nesting", self.nesting),
                )
                .with_help(format!(
                    "brackets, braces, parentheses and interpolations may nest at most {MAX_NESTING} deep; split the value into locals"
                ));
                self.report(pos, d);
            }
        }
    }

    fn pop(&mut self) -> Option<Frame> {
        let frame = self.stack.pop()?;
        self.drop_questions_above(self.stack.len());
        if frame.counts_for_nesting() {
            self.nesting = self.nesting.saturating_sub(1);
        }
        Some(frame)
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.bytes.len() {
            i = match self.stack.last().copied() {
                Some(Frame::Str { .. }) => self.in_string(i),
                Some(Frame::Heredoc {
                    marker, line_start, ..
                }) => self.in_heredoc(i, marker, line_start),
                _ => self.in_code(i),
            };
        }
    }

    /// One step in a quoted string; returns the next position.
    fn in_string(&mut self, i: usize) -> usize {
        match self.byte(i) {
            b'"' => {
                self.pop();
                i + 1
            }
            b'\\' if self.byte(i + 1) != b'\n' && i + 1 < self.bytes.len() => i + 2,
            b'$' | b'%' if self.byte(i + 1) == self.byte(i) && self.byte(i + 2) == b'{' => i + 3,
            // A `%{` directive holds code up to its `}`, like `${`.
            b'$' | b'%' if self.byte(i + 1) == b'{' => {
                self.push(Frame::Interpolation { pos: i }, i);
                i + 2
            }
            b'\n' => {
                self.unterminated_string(i);
                i
            }
            _ => i + 1,
        }
    }

    /// The label of an interpolation (`${`) or directive (`%{`) at `pos`
    /// that is never closed.
    fn unclosed_label(&self, pos: usize) -> &'static str {
        if self.byte(pos) == b'%' {
            "this `%{` has no closing `}`"
        } else {
            "this `${` has no closing `}`"
        }
    }

    /// A quoted string reached the end of its line (at `i`).
    fn unterminated_string(&mut self, i: usize) {
        let Some(Frame::Str { pos }) = self.pop() else {
            return;
        };
        let len = self.stack.len();
        // `"${var.x"`: the quote meant to close the string opened a nested one.
        if let (Some(Frame::Interpolation { pos: interp }), Some(Frame::Str { .. })) = (
            self.stack.get(len.wrapping_sub(1)).copied(),
            self.stack.get(len.wrapping_sub(2)).copied(),
        ) {
            self.pop();
            self.pop();
            let d = Diagnostic::error(
                Code::ParseUnterminatedInterpolation,
                self.span(interp, interp + 2),
                self.unclosed_label(interp),
            )
            .with_help("close the interpolation with `}` before the string's closing quote");
            self.report(interp, d);
            return;
        }
        let end = self.line_end(pos).max(pos + 1).min(i.max(pos + 1));
        let d = Diagnostic::error(Code::ParseUnterminatedString, self.span(pos, end), "this string has no closing `\"`")
            .with_help("close the string with `\"` on the same line; for text over several lines use a heredoc (`<<EOT`)");
        self.report(pos, d);
    }

    /// One step in a heredoc body.
    fn in_heredoc(&mut self, i: usize, marker: (usize, usize), line_start: bool) -> usize {
        if line_start {
            if let Some(end) = self.closing_marker_at(i, marker) {
                self.pop();
                return end;
            }
            if let Some(Frame::Heredoc { line_start, .. }) = self.stack.last_mut() {
                *line_start = false;
            }
        }
        match self.byte(i) {
            b'\n' => {
                if let Some(Frame::Heredoc { line_start, .. }) = self.stack.last_mut() {
                    *line_start = true;
                }
                i + 1
            }
            b'$' | b'%' if self.byte(i + 1) == self.byte(i) && self.byte(i + 2) == b'{' => i + 3,
            // A `%{` directive holds code up to its `}`, like `${`.
            b'$' | b'%' if self.byte(i + 1) == b'{' => {
                self.push(Frame::Interpolation { pos: i }, i);
                i + 2
            }
            _ => i + 1,
        }
    }

    /// If the line at `i` is the closing marker, the position after the marker.
    fn closing_marker_at(&self, i: usize, marker: (usize, usize)) -> Option<usize> {
        let mut at = i;
        while matches!(self.byte(at), b' ' | b'\t') {
            at += 1;
        }
        let word = self.text.get(marker.0..marker.1)?;
        let end = at + word.len();
        if self.text.get(at..end)? != word {
            return None;
        }
        let mut after = end;
        while matches!(self.byte(after), b' ' | b'\t' | b'\r') {
            after += 1;
        }
        (after >= self.bytes.len() || self.byte(after) == b'\n').then_some(end)
    }

    /// `<<EOT` or `<<-EOT` then the end of the line at `i`: the marker range and
    /// the start of the body.
    fn heredoc_header(&self, i: usize) -> Option<((usize, usize), usize)> {
        let mut at = i + 2;
        if self.byte(at) == b'-' {
            at += 1;
        }
        if !is_ident_start(self.byte(at)) {
            return None;
        }
        let start = at;
        while is_ident_char(self.byte(at)) {
            at += 1;
        }
        let end = at;
        while matches!(self.byte(at), b' ' | b'\t' | b'\r') {
            at += 1;
        }
        (self.byte(at) == b'\n').then_some(((start, end), at + 1))
    }

    /// One step in code; returns the next position.
    fn in_code(&mut self, i: usize) -> usize {
        let byte = self.byte(i);
        if matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
            return i + 1;
        }
        if self.stack.is_empty() {
            if let Some(cut) = self.pending_cut {
                let is_comment =
                    byte == b'#' || (byte == b'/' && matches!(self.byte(i + 1), b'/' | b'*'));
                if !is_comment {
                    self.pending_cut = None;
                    if is_ident_start(byte) {
                        self.close_chunk(cut);
                    }
                }
            }
        } else if is_ident_start(byte)
            && (i == 0 || self.byte(i - 1) == b'\n')
            && self.stack.iter().all(|f| matches!(f, Frame::Open { .. }))
            && self.looks_like_block_header(i)
        {
            self.candidates.push(i);
        }
        match byte {
            b'#' => self.line_comment(i),
            b'/' if self.byte(i + 1) == b'/' => self.line_comment(i),
            b'/' if self.byte(i + 1) == b'*' => self.block_comment(i),
            b'"' => {
                self.stack.push(Frame::Str { pos: i });
                i + 1
            }
            b'<' if self.byte(i + 1) == b'<' => match self.heredoc_header(i) {
                Some((marker, body)) => {
                    self.stack.push(Frame::Heredoc {
                        header: (i, marker.1),
                        marker,
                        line_start: true,
                    });
                    body
                }
                None => i + 2,
            },
            b'{' | b'[' | b'(' => {
                self.push(
                    Frame::Open {
                        opener: byte,
                        pos: i,
                    },
                    i,
                );
                i + 1
            }
            b'}' | b']' | b')' => self.closer(i, byte),
            b'?' => {
                self.question(i);
                i + 1
            }
            b':' => {
                self.colon();
                i + 1
            }
            _ => i + 1,
        }
    }

    /// Open conditionals at the current level, created on first use.
    fn questions_here(&mut self) -> Option<&mut usize> {
        let level = self.stack.len();
        if self.questions.len() <= level {
            self.questions.resize(level + 1, 0);
        }
        self.questions.get_mut(level)
    }

    /// Forgets the open conditionals of levels above `level` (their frame closed).
    fn drop_questions_above(&mut self, level: usize) {
        let dropped: usize = self.questions.iter().skip(level + 1).sum();
        self.questions.truncate(level + 1);
        self.nesting = self.nesting.saturating_sub(dropped);
    }

    /// `?` opens a conditional's middle part; `:` at the same level closes it.
    fn question(&mut self, i: usize) {
        if let Some(open) = self.questions_here() {
            *open += 1;
        }
        self.nesting += 1;
        if self.nesting > MAX_NESTING && !self.nesting_reported {
            self.nesting_reported = true;
            let d = Diagnostic::error(
                Code::ParseNestingTooDeep,
                self.span(i, i + 1),
                format!("this opens level {} of nesting", self.nesting),
            )
            .with_help(format!(
                "brackets, braces, parentheses, interpolations and conditionals may nest at most {MAX_NESTING} deep; split the value into locals"
            ));
            self.report(i, d);
        }
    }

    fn colon(&mut self) {
        if let Some(open) = self.questions_here()
            && *open > 0
        {
            *open -= 1;
            self.nesting = self.nesting.saturating_sub(1);
        }
    }

    /// `ident` then spaces then `"` or `{`.
    fn looks_like_block_header(&self, i: usize) -> bool {
        let mut at = i;
        while is_ident_char(self.byte(at)) {
            at += 1;
        }
        if !matches!(self.byte(at), b' ' | b'\t') {
            return false;
        }
        while matches!(self.byte(at), b' ' | b'\t') {
            at += 1;
        }
        matches!(self.byte(at), b'"' | b'{')
    }

    fn line_comment(&mut self, i: usize) -> usize {
        let end = self.line_end(i).max(i + 1);
        self.comment(i, end);
        end
    }

    fn block_comment(&mut self, i: usize) -> usize {
        match self.text.get(i + 2..).and_then(|rest| rest.find("*/")) {
            Some(found) => {
                let end = i + 2 + found + 2;
                self.comment(i, end);
                end
            }
            None => {
                let d = Diagnostic::error(
                    Code::ParseUnterminatedComment,
                    self.span(i, i + 2),
                    "this `/*` is never closed",
                )
                .with_help("close the comment with `*/`");
                self.report(i, d);
                self.bytes.len()
            }
        }
    }

    fn comment(&mut self, start: usize, end: usize) {
        let text = self.text.get(start..end).unwrap_or("").to_owned();
        self.scan.comments.push(Comment {
            text,
            span: self.span(start, end),
            blank_lines_before: blank_lines_before(self.text, start),
        });
    }

    fn closer(&mut self, i: usize, closer: u8) -> usize {
        match self.stack.last().copied() {
            Some(Frame::Interpolation { .. }) if closer == b'}' => {
                self.pop();
                return i + 1;
            }
            Some(Frame::Open { opener, .. }) if closer_for(opener) == closer => {
                self.pop();
                if self.stack.is_empty() && closer == b'}' {
                    self.pending_cut = Some(i + 1);
                }
                return i + 1;
            }
            _ => {}
        }
        // A mismatch: find the opener this closer matches, above the nearest
        // string or interpolation.
        let mut found = None;
        for (index, frame) in self.stack.iter().enumerate().rev() {
            match *frame {
                Frame::Open { opener, .. } if closer_for(opener) == closer => {
                    found = Some(index);
                    break;
                }
                Frame::Open { .. } => {}
                _ => break,
            }
        }
        match found {
            Some(index) => {
                // The innermost unclosed opener above the match is the likely culprit.
                if let Some(&Frame::Open { opener, pos }) = self.stack.get(index + 1) {
                    let d = Diagnostic::error(
                        Code::ParseUnbalancedDelimiter,
                        self.span(pos, pos + 1),
                        format!(
                            "this `{}` has no matching `{}`",
                            opener as char,
                            closer_for(opener) as char
                        ),
                    )
                    .with_label(
                        self.span(i, i + 1),
                        format!("`{}` found here first", closer as char),
                    )
                    .with_help(format!(
                        "add `{}` before this point",
                        closer_for(opener) as char
                    ));
                    self.report(pos, d);
                }
                while self.stack.len() > index {
                    self.pop();
                }
                if self.stack.is_empty() && closer == b'}' {
                    self.pending_cut = Some(i + 1);
                }
            }
            None => {
                let d = match self.stack.last().copied() {
                    Some(Frame::Open { opener, pos }) => Diagnostic::error(
                        Code::ParseUnbalancedDelimiter,
                        self.span(i, i + 1),
                        format!(
                            "expected `{}`, found `{}`",
                            closer_for(opener) as char,
                            closer as char
                        ),
                    )
                    .with_label(
                        self.span(pos, pos + 1),
                        format!("the `{}` opened here", opener as char),
                    )
                    .with_help(format!(
                        "close the `{}` with `{}`",
                        opener as char,
                        closer_for(opener) as char
                    )),
                    _ => Diagnostic::error(
                        Code::ParseUnbalancedDelimiter,
                        self.span(i, i + 1),
                        format!("this `{}` closes nothing", closer as char),
                    )
                    .with_help("remove it, or add the opening delimiter it was meant to close"),
                };
                if self.stack.is_empty() {
                    // Keep the stray closer out of every chunk.
                    self.pending_cut = None;
                    self.close_chunk(i);
                    self.chunk_start = i + 1;
                    self.scan.diagnostics.push(d);
                } else {
                    self.report(i, d);
                }
            }
        }
        i + 1
    }

    /// Reports what is still open at the end of the file and closes the chunks.
    fn finish(&mut self) {
        let len = self.bytes.len();
        if self.stack.is_empty() {
            self.close_chunk(len);
            return;
        }
        // An unclosed brace swallowed the rest of the file: cut at lines that
        // look like block headers at column 0.
        let mut cuts: Vec<usize> = self
            .candidates
            .iter()
            .copied()
            .filter(|&c| c > self.chunk_start)
            .collect();
        cuts.push(len);
        // Report the innermost open construct of each piece, once per piece.
        let frames: Vec<Frame> = self.stack.iter().rev().copied().collect();
        let piece_of = |pos: usize| cuts.iter().position(|&c| pos < c);
        let mut reported: Vec<usize> = Vec::new();
        let mut starts = vec![self.chunk_start];
        starts.extend(cuts.iter().copied());
        for (piece, (&start, &end)) in starts.iter().zip(cuts.iter()).enumerate() {
            if self.bad_marks.iter().any(|&m| m >= start && m < end) {
                reported.push(piece);
            }
        }
        for frame in frames {
            let (pos, diagnostic) = match frame {
                Frame::Open { opener, pos } => (
                    pos,
                    Diagnostic::error(
                        Code::ParseUnbalancedDelimiter,
                        self.span(pos, pos + 1),
                        format!("this `{}` is never closed", opener as char),
                    )
                    .with_help(format!("add the matching `{}`", closer_for(opener) as char)),
                ),
                Frame::Interpolation { pos } => (
                    pos,
                    Diagnostic::error(
                        Code::ParseUnterminatedInterpolation,
                        self.span(pos, pos + 2),
                        self.unclosed_label(pos),
                    )
                    .with_help("close the interpolation with `}`"),
                ),
                Frame::Str { pos } => (
                    pos,
                    Diagnostic::error(
                        Code::ParseUnterminatedString,
                        self.span(pos, self.line_end(pos).max(pos + 1)),
                        "this string has no closing `\"`",
                    )
                    .with_help("close the string with `\"` on the same line"),
                ),
                Frame::Heredoc { header, marker, .. } => {
                    let word = self.text.get(marker.0..marker.1).unwrap_or("");
                    (
                        header.0,
                        Diagnostic::error(
                            Code::ParseUnterminatedHeredoc,
                            self.span(header.0, header.1),
                            format!("no line `{word}` closes this heredoc"),
                        )
                        .with_help(format!(
                            "end the heredoc with a line that holds only `{word}`"
                        )),
                    )
                }
            };
            let Some(piece) = piece_of(pos) else { continue };
            if reported.contains(&piece) {
                continue;
            }
            reported.push(piece);
            self.report(pos, diagnostic);
        }
        for cut in cuts {
            let start = self.chunk_start;
            let bad = self.bad_marks.iter().any(|&m| m >= start && m < cut);
            if cut > start {
                self.scan.chunks.push(Chunk {
                    start,
                    end: cut,
                    bad,
                });
            }
            self.chunk_start = cut;
        }
    }
}
