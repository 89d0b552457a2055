//! Control characters made visible before text reaches a terminal.
//!
//! A source file, a provider's error message or a value read from a remote
//! API may hold control characters: ESC starts a sequence that recolours,
//! moves the cursor, clears the screen or sets the window title; BEL rings; a
//! lone CR returns to the start of the line and hides what came before it.
//! Printed raw, a crafted `.infra` file or API response could rewrite what
//! the user sees. Every such character is shown as an escape instead.
//!
//! Terminology: *shown text* is the text after escaping.
//!
//! Invariant: tab, LF and the CR of a CRLF pair are kept (they lay text out
//! and move nothing back); every other C0 control is written `\u{1b}`-style;
//! DEL and C1 controls are written `\u007f`-style, which is also a valid JSON
//! escape of the same character, so a JSON document (in which serde never
//! leaves a C0 control raw) stays valid and means the same after escaping.

use std::borrow::Cow;

/// One escaped character: where it was in the original text, where its
/// escape starts in the shown text, and how long the escape is (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Escape {
    /// Byte offset of the character in the original text.
    pub original: usize,
    /// Byte offset of its escape in the shown text.
    pub shown: usize,
    /// The escape's length in bytes (ASCII, hence also in characters).
    pub len: usize,
    /// The character's length in bytes in the original text.
    pub original_len: usize,
}

/// Whether `c` (followed by `next`) must not reach a terminal raw.
fn needs_escape(c: char, next: Option<char>) -> bool {
    match c {
        '\t' | '\n' => false,
        '\r' => next != Some('\n'),
        _ => c.is_control(),
    }
}

fn write_escape(out: &mut String, c: char) {
    let code = u32::from(c);
    if code < 0x20 {
        out.push_str(&format!("\\u{{{code:x}}}"));
    } else {
        out.push_str(&format!("\\u{code:04x}"));
    }
}

/// `text` with its control characters escaped (see the module docs);
/// borrowed when there are none, which is the usual case.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape_with_offsets(text).0
}

/// [`escape_controls`], with where each escape is, so spans into `text` can
/// be moved into the shown text.
pub(crate) fn escape_with_offsets(text: &str) -> (Cow<'_, str>, Vec<Escape>) {
    let mut chars = text.char_indices().peekable();
    let first = loop {
        match chars.next() {
            None => return (Cow::Borrowed(text), Vec::new()),
            Some((at, c)) if needs_escape(c, chars.peek().map(|(_, n)| *n)) => break at,
            Some(_) => {}
        }
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(text.get(..first).unwrap_or_default());
    let mut escapes = Vec::new();
    let mut rest = text.get(first..).unwrap_or_default().chars().peekable();
    let mut original = first;
    while let Some(c) = rest.next() {
        if needs_escape(c, rest.peek().copied()) {
            let shown = out.len();
            write_escape(&mut out, c);
            escapes.push(Escape {
                original,
                shown,
                len: out.len() - shown,
                original_len: c.len_utf8(),
            });
        } else {
            out.push(c);
        }
        original += c.len_utf8();
    }
    (Cow::Owned(out), escapes)
}

/// Moves a byte offset of the original text into the shown text.
pub(crate) fn shown_offset(escapes: &[Escape], offset: usize) -> usize {
    let before = escapes.partition_point(|e| e.original < offset);
    let grown: usize = escapes
        .iter()
        .take(before)
        .map(|e| e.len - e.original_len)
        .sum();
    offset + grown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_layout_is_kept() {
        assert_eq!(
            escape_controls("plain\ttext\r\nnext\n"),
            "plain\ttext\r\nnext\n"
        );
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\u{1b}]0;title\u{7}b"),
            "a\\u{1b}]0;title\\u{7}b"
        );
        assert_eq!(escape_controls("one\rtwo"), "one\\u{d}two");
        assert_eq!(escape_controls("x\u{9b}2J\u{7f}"), "x\\u009b2J\\u007f");
    }

    #[test]
    fn a_json_document_stays_valid_and_means_the_same() {
        let value = serde_json::json!({ "s": "a\u{1b}b\u{9b}c\u{7f}" });
        let text = serde_json::to_string(&value).unwrap_or_default();
        let shown = escape_controls(&text);
        assert!(!shown.chars().any(char::is_control));
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap_or_default();
        assert_eq!(back, value);
    }

    #[test]
    fn offsets_move_past_each_escape() {
        let text = "a\u{1b}bé\u{9b}c";
        let (shown, escapes) = escape_with_offsets(text);
        for (offset, c) in text.char_indices() {
            if c.is_control() {
                continue;
            }
            let at = shown_offset(&escapes, offset);
            assert_eq!(shown.get(at..).and_then(|s| s.chars().next()), Some(c));
        }
        assert_eq!(shown_offset(&escapes, text.len()), shown.len());
    }
}
