//! Positions: byte offsets (what spans hold) to and from LSP positions (line
//! and UTF-16 column, what editors send), and edits applied to a document.
//!
//! Terminology: a *position* is LSP's zero-based line and column, the column
//! counted in UTF-16 code units; an *offset* is a byte offset into the text.
//!
//! Invariant: every conversion is total: a position past the end of a line or
//! of the text is clamped, never a panic, since clients send what they like.

use lsp_types::{Position, Range, TextDocumentContentChangeEvent};

/// The start offset of every line of one text, for conversions both ways.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// Byte offset of each line's first character; the first is 0.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`. Lines end at `\n` (a `\r` before it stays in the line,
    /// which is how LSP counts `\r\n` too).
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, byte)| *byte == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// The LSP position of byte `offset` in `text` (clamped to the text, and
    /// moved back to a character boundary).
    pub(crate) fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let line_start = self.starts.get(line).copied().unwrap_or(0);
        let column: usize = text
            .get(line_start..offset)
            .unwrap_or_default()
            .chars()
            .map(char::len_utf16)
            .sum();
        Position::new(to_u32(line), to_u32(column))
    }

    /// The LSP range of `start..end`.
    pub(crate) fn range(&self, text: &str, start: usize, end: usize) -> Range {
        Range::new(self.position(text, start), self.position(text, end))
    }

    /// The byte offset of an LSP position in `text`: a line past the end is
    /// the end of the text, a column past the end of its line is the line's end.
    pub(crate) fn offset(&self, text: &str, position: Position) -> usize {
        let Some(&line_start) = self.starts.get(position.line as usize) else {
            return text.len();
        };
        let line_end = self
            .starts
            .get(position.line as usize + 1)
            .map_or(text.len(), |next| next - 1);
        let line = text.get(line_start..line_end).unwrap_or_default();
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            if units >= position.character as usize {
                return line_start + i;
            }
            units += c.len_utf16();
        }
        line_start + line.len()
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Applies one `didChange` content change to `text`: a ranged change
/// replaces that range, one without a range replaces the whole text.
pub(crate) fn apply_change(text: &mut String, change: TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text,
        Some(range) => {
            let index = LineIndex::new(text);
            let start = index.offset(text, range.start);
            let end = index.offset(text, range.end).max(start);
            text.replace_range(start..end, &change.text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_units() {
        // "é" is 2 bytes and 1 unit; "😀" is 4 bytes and 2 units.
        let text = "a = \"é😀x\"\nb";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap_or_default();
        assert_eq!(index.position(text, x), Position::new(0, 8));
        assert_eq!(index.offset(text, Position::new(0, 8)), x);
        assert_eq!(index.position(text, text.len()), Position::new(1, 1));
    }

    #[test]
    fn positions_past_the_end_are_clamped() {
        let text = "ab\ncd";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(text, Position::new(0, 99)), 2);
        assert_eq!(index.offset(text, Position::new(9, 0)), text.len());
        // Inside a surrogate pair: the character's end; a byte inside a
        // character: the character's start.
        let emoji = "😀";
        assert_eq!(LineIndex::new(emoji).offset(emoji, Position::new(0, 1)), 4);
        assert_eq!(
            LineIndex::new(emoji).position(emoji, 2),
            Position::new(0, 0)
        );
    }

    #[test]
    fn ranged_changes_replace_their_range() {
        let mut text = String::from("ab\ncd");
        apply_change(
            &mut text,
            TextDocumentContentChangeEvent {
                range: Some(Range::new(Position::new(1, 0), Position::new(1, 1))),
                range_length: None,
                text: String::from("XY"),
            },
        );
        assert_eq!(text, "ab\nXYd");
    }
}
