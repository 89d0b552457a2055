//! Bodies, blocks and attributes, the comments around them, and the layout
//! shared with multi-line collections: one entry per line, blank lines kept
//! (at most one), and `=` aligned within runs.
//!
//! Terminology: a *run* is a maximal sequence of consecutive entries whose
//! `=` signs line up. As in `terraform fmt`, a run is broken by a blank line,
//! a comment line, a nested block and an entry whose value opens a multi-line
//! bracket (that entry is not aligned at all); an entry whose value is a
//! heredoc is aligned and ends its run, because its body lines follow.
//!
//! Invariant: every comment attached to the tree is printed exactly once.

use super::printer::Printer;
use crate::diag::Span;
use crate::syntax::ast::{Attribute, Block, Body, Comment, ExprKind, Item, Trivia};

/// What the alignment pass needs to know about one entry.
pub(super) struct RunEntry {
    /// The width of the name before `=`, or `None` when the entry is not
    /// aligned (a block, or a value that opens a multi-line bracket).
    pub(super) name_width: Option<usize>,
    /// Whether a blank line or a comment line comes right before the entry.
    pub(super) starts_group: bool,
    /// Whether the entry's value is a heredoc, whose body ends the run.
    pub(super) ends_run: bool,
}

/// The column width each entry's name is padded to (0: no padding).
pub(super) fn alignment_widths(entries: &[RunEntry]) -> Vec<usize> {
    let mut widths = vec![0; entries.len()];
    let mut run: Vec<usize> = Vec::new();
    let close = |run: &mut Vec<usize>, widths: &mut Vec<usize>| {
        let width = run
            .iter()
            .filter_map(|&i| entries.get(i).and_then(|e| e.name_width))
            .max()
            .unwrap_or(0);
        for &i in run.iter() {
            if let Some(slot) = widths.get_mut(i) {
                *slot = width;
            }
        }
        run.clear();
    };
    for (i, entry) in entries.iter().enumerate() {
        match entry.name_width {
            None => close(&mut run, &mut widths),
            Some(_) => {
                if entry.starts_group {
                    close(&mut run, &mut widths);
                }
                run.push(i);
                if entry.ends_run {
                    close(&mut run, &mut widths);
                }
            }
        }
    }
    close(&mut run, &mut widths);
    widths
}

/// Where a thing with comments ends: after its trailing comment, if any.
pub(super) fn end_with_trailing(trivia: &Trivia, span: Span) -> usize {
    match &trivia.trailing {
        Some(comment) => comment.span.end().max(span.end()),
        None => span.end(),
    }
}

/// Whether any comment is attached.
pub(super) fn has_comments(trivia: &Trivia) -> bool {
    !trivia.leading.is_empty() || trivia.trailing.is_some()
}

/// The width of a name as shown (characters, not bytes).
pub(super) fn width_of(text: &str) -> usize {
    text.chars().count()
}

impl Printer<'_> {
    /// Prints a whole file's top-level items and its final comments.
    pub(super) fn file_body(&mut self, body: &Body) {
        self.body_items(body, true);
    }

    /// Whether a blank line separates the previous entry (ending at
    /// `previous_end`) from this one (its leading comments included).
    pub(super) fn blank_before(
        &self,
        previous_end: Option<usize>,
        trivia: &Trivia,
        span: Span,
    ) -> bool {
        let Some(previous_end) = previous_end else {
            return false;
        };
        let (start, recorded) = match trivia.leading.first() {
            Some(first) => (
                first.span.start(),
                first.blank_lines_before.max(trivia.blank_lines_before),
            ),
            None => (span.start(), trivia.blank_lines_before),
        };
        self.blank_line_between(previous_end, start)
            .unwrap_or(recorded > 0)
    }

    /// Whether an entry starts a new alignment run: a blank line or a comment
    /// line comes right before it.
    pub(super) fn starts_group(
        &self,
        previous_end: Option<usize>,
        trivia: &Trivia,
        span: Span,
    ) -> bool {
        !trivia.leading.is_empty() || self.blank_before(previous_end, trivia, span)
    }

    /// Prints entries one per line: blank lines kept (at most one, never
    /// after the opener), leading comments above, the entry, its trailing
    /// comment, then the dangling comments. `force_blank(previous, next)`
    /// adds a blank line the source may not have had.
    pub(super) fn entry_lines<T>(
        &mut self,
        entries: &[T],
        parts: impl Fn(&T) -> (&Trivia, Span),
        force_blank: impl Fn(&T, &T) -> bool,
        mut print: impl FnMut(&mut Self, usize, &T),
        dangling: &[Comment],
    ) {
        let mut previous: Option<(&T, usize)> = None;
        for (index, entry) in entries.iter().enumerate() {
            let (trivia, span) = parts(entry);
            if let Some((previous_entry, previous_end)) = previous {
                if force_blank(previous_entry, entry)
                    || self.blank_before(Some(previous_end), trivia, span)
                {
                    self.blank_line();
                }
            }
            self.leading_comments(&trivia.leading, span.start());
            print(self, index, entry);
            self.trailing_comment(trivia.trailing.as_deref());
            self.newline();
            previous = Some((entry, end_with_trailing(trivia, span)));
        }
        self.dangling_comments(dangling, previous.map(|(_, end)| end));
    }

    /// Comments on their own lines above an entry starting at `entry_start`.
    fn leading_comments(&mut self, comments: &[Comment], entry_start: usize) {
        if let Some(end) = self.comment_lines(comments, None) {
            if self.blank_line_between(end, entry_start).unwrap_or(false) {
                self.blank_line();
            }
        }
    }

    /// Comments before a closer (or the end of the file), each on its own line.
    pub(super) fn dangling_comments(&mut self, comments: &[Comment], previous_end: Option<usize>) {
        self.comment_lines(comments, previous_end);
    }

    /// Prints each comment on its own line, keeping a blank line where the
    /// source had one after `previous_end`; returns where the last one ended.
    fn comment_lines(
        &mut self,
        comments: &[Comment],
        mut previous_end: Option<usize>,
    ) -> Option<usize> {
        let mut last_end = None;
        for comment in comments {
            if let Some(end) = previous_end {
                let blank = self
                    .blank_line_between(end, comment.span.start())
                    .unwrap_or(comment.blank_lines_before > 0);
                if blank {
                    self.blank_line();
                }
            }
            self.comment(comment);
            self.newline();
            previous_end = Some(comment.span.end());
            last_end = previous_end;
        }
        last_end
    }

    /// A comment after an entry on the same line, one space away.
    pub(super) fn trailing_comment(&mut self, comment: Option<&Comment>) {
        if let Some(comment) = comment {
            self.text(" ");
            self.comment(comment);
        }
    }

    /// One comment as written; a multi-line block comment keeps its lines.
    pub(super) fn comment(&mut self, comment: &Comment) {
        self.verbatim_lines(comment.text.trim_end(), true);
    }

    /// The items of a body, one per line.
    fn body_items(&mut self, body: &Body, top_level: bool) {
        let entries: Vec<RunEntry> = {
            let mut previous_end = None;
            body.items
                .iter()
                .map(|item| {
                    let trivia = item.trivia();
                    let starts_group = self.starts_group(previous_end, trivia, item.span());
                    previous_end = Some(end_with_trailing(trivia, item.span()));
                    match item {
                        Item::Attribute(attribute) => {
                            self.attribute_run_entry(attribute, starts_group)
                        }
                        Item::Block(_) => RunEntry {
                            name_width: None,
                            starts_group,
                            ends_run: true,
                        },
                    }
                })
                .collect()
        };
        let widths = alignment_widths(&entries);
        self.entry_lines(
            &body.items,
            |item| (item.trivia(), item.span()),
            |previous, next| {
                top_level && (matches!(previous, Item::Block(_)) || matches!(next, Item::Block(_)))
            },
            |printer, index, item| match item {
                Item::Attribute(attribute) => {
                    printer.attribute(attribute, widths.get(index).copied().unwrap_or(0));
                }
                Item::Block(block) => printer.block(block),
            },
            &body.dangling,
        );
    }

    /// How an attribute takes part in alignment.
    fn attribute_run_entry(&self, attribute: &Attribute, starts_group: bool) -> RunEntry {
        let is_heredoc = matches!(attribute.value.kind, ExprKind::Heredoc(_));
        let aligned = is_heredoc || self.is_flat(&attribute.value);
        RunEntry {
            name_width: aligned.then(|| width_of(&attribute.name.name)),
            starts_group,
            ends_run: is_heredoc,
        }
    }

    /// `name = value`, the name padded to `width`.
    fn attribute(&mut self, attribute: &Attribute, width: usize) {
        self.text(&format!("{:width$} = ", attribute.name.name));
        self.expr(&attribute.value);
    }

    /// `kind "label" { ... }`.
    fn block(&mut self, block: &Block) {
        self.text(&block.kind.name);
        for label in &block.labels {
            self.text(" ");
            if label.raw.is_empty() {
                self.text(&format!("\"{}\"", label.value));
            } else {
                self.text(&label.raw);
            }
        }
        self.text(" ");
        let body = &block.body;
        if body.items.is_empty() && body.dangling.is_empty() {
            self.text("{}");
        } else if let Some(attribute) = self.single_line_block(body) {
            self.text("{ ");
            self.attribute(attribute, 0);
            self.text(" }");
        } else {
            self.text("{");
            self.newline();
            self.indent();
            self.body_items(body, false);
            self.dedent();
            self.text("}");
        }
    }

    /// The one attribute of a block written on one line in the source
    /// (`lifecycle { prevent_destroy = true }`), which stays on one line.
    fn single_line_block<'b>(&self, body: &'b Body) -> Option<&'b Attribute> {
        if !body.dangling.is_empty() {
            return None;
        }
        let [Item::Attribute(attribute)] = body.items.as_slice() else {
            return None;
        };
        if has_comments(&attribute.trivia) || !self.is_flat(&attribute.value) {
            return None;
        }
        let source = self.slice(body.span.start(), body.span.end())?;
        (!source.contains('\n')).then_some(attribute)
    }
}

#[cfg(test)]
mod tests {
    use super::{RunEntry, alignment_widths};

    fn entry(width: Option<usize>, starts_group: bool, ends_run: bool) -> RunEntry {
        RunEntry {
            name_width: width,
            starts_group,
            ends_run,
        }
    }

    #[test]
    fn runs_break_at_groups_unaligned_entries_and_after_heredocs() {
        let entries = [
            entry(Some(1), false, false),
            entry(Some(4), false, false),
            entry(None, false, false),
            entry(Some(2), false, false),
            entry(Some(6), true, false),
            entry(Some(3), false, true),
            entry(Some(5), false, false),
        ];
        assert_eq!(alignment_widths(&entries), vec![4, 4, 0, 2, 6, 6, 5]);
    }
}
