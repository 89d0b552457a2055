//! Where the cursor is, for completion, read from the text before it: which
//! blocks it is inside, and whether it is where an attribute name, a block
//! label, a value or a string goes.
//!
//! Completion runs on text that is being typed, where the block around the
//! cursor rarely parses (the parser then leaves that block out of the tree),
//! so this reads only the text's nesting: brackets, strings, heredocs and
//! comments, and the words since the start of the current line. It decides
//! nothing about validity; `syntax` and `check` do that.
//!
//! Invariant: linear in the text before the cursor; never panics on any text.

/// A block header around the cursor: `resource "local_file" "x" {`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The keyword.
    pub kind: String,
    /// The labels written so far.
    pub labels: Vec<String>,
}

/// What goes at the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// The start of a line in a body: an attribute name or a nested block (or
    /// a top-level block when there is no block around).
    Body,
    /// Inside the string of label `index` of a block header being written.
    Label {
        /// The keyword.
        kind: String,
        /// Which label.
        index: usize,
    },
    /// Where a value goes: after `=`, inside brackets, or in `${}`.
    Value,
    /// Inside a string literal in a value, with the words before it on its
    /// line (`default_environment`, `env.name`, `==`).
    String {
        /// The words since the start of the statement.
        words: Vec<String>,
    },
    /// In a comment or after a header: nothing to offer.
    Nothing,
}

/// The cursor's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Context {
    /// The blocks around the cursor, outermost first.
    pub blocks: Vec<Header>,
    /// What goes there.
    pub place: Place,
    /// The word being typed, dots included (`var.rep`), and where it starts.
    pub word: String,
    /// The byte offset where the word starts.
    pub word_start: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Str(String),
    Equals,
    Other,
}

#[derive(Debug)]
enum FrameKind {
    /// A file or block body.
    Body(Option<Header>),
    /// `{ ... }` as a value.
    Object,
    /// `[ ... ]` or `( ... )`.
    Group,
    /// `${ ... }` in a string.
    Interpolation,
    /// A quoted string (its text so far) or a heredoc (its marker).
    Str {
        text: String,
        heredoc: Option<String>,
    },
}

#[derive(Debug)]
struct Frame {
    kind: FrameKind,
    /// The tokens since the statement started (a newline in a body or an
    /// object, a comma in an object or a group).
    tokens: Vec<Token>,
}

impl Frame {
    fn new(kind: FrameKind) -> Self {
        Frame {
            kind,
            tokens: Vec::new(),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// The context at byte `offset` of `text`.
pub(crate) fn at(text: &str, offset: usize) -> Context {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word_char(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let word = before.get(word_start..).unwrap_or_default().to_owned();
    let scanned = before.get(..word_start).unwrap_or_default();
    let (stack, in_comment) = scan(scanned);
    let blocks: Vec<Header> = stack
        .iter()
        .filter_map(|frame| match &frame.kind {
            FrameKind::Body(header) => header.clone(),
            _ => None,
        })
        .collect();
    let place = if in_comment {
        Place::Nothing
    } else {
        place(&stack)
    };
    Context {
        blocks,
        place,
        word,
        word_start,
    }
}

fn place(stack: &[Frame]) -> Place {
    let Some(top) = stack.last() else {
        return Place::Body;
    };
    match &top.kind {
        FrameKind::Body(_) => {
            if top.tokens.is_empty() {
                Place::Body
            } else if top.tokens.contains(&Token::Equals) {
                Place::Value
            } else {
                Place::Nothing
            }
        }
        FrameKind::Object => {
            if top.tokens.contains(&Token::Equals) {
                Place::Value
            } else {
                Place::Nothing
            }
        }
        FrameKind::Group | FrameKind::Interpolation => Place::Value,
        FrameKind::Str {
            heredoc: Some(_), ..
        } => Place::Nothing,
        FrameKind::Str { heredoc: None, .. } => {
            let Some(parent) = stack.len().checked_sub(2).and_then(|i| stack.get(i)) else {
                return Place::Nothing;
            };
            let header = match (&parent.kind, parent.tokens.first()) {
                (FrameKind::Body(_), Some(Token::Word(kind)))
                    if parent
                        .tokens
                        .iter()
                        .skip(1)
                        .all(|t| matches!(t, Token::Str(_))) =>
                {
                    Some(kind.clone())
                }
                _ => None,
            };
            match header {
                Some(kind) => Place::Label {
                    kind,
                    index: parent.tokens.len() - 1,
                },
                None => Place::String {
                    words: parent
                        .tokens
                        .iter()
                        .filter_map(|t| match t {
                            Token::Word(w) => Some(w.clone()),
                            Token::Equals => Some(String::from("=")),
                            _ => None,
                        })
                        .collect(),
                },
            }
        }
    }
}

/// Reads `text` to its end: the frames open there, and whether it ends in a
/// comment.
fn scan(text: &str) -> (Vec<Frame>, bool) {
    let mut stack: Vec<Frame> = vec![Frame::new(FrameKind::Body(None))];
    let mut chars = text.char_indices().peekable();
    let mut line_start = true;
    while let Some((i, c)) = chars.next() {
        let at_line_start = std::mem::replace(&mut line_start, c == '\n');
        let Some(top) = stack.last_mut() else {
            stack.push(Frame::new(FrameKind::Body(None)));
            continue;
        };
        match &mut top.kind {
            FrameKind::Str {
                text: so_far,
                heredoc: None,
            } => match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    let value = std::mem::take(so_far);
                    stack.pop();
                    if let Some(parent) = stack.last_mut() {
                        parent.tokens.push(Token::Str(value));
                    }
                }
                '$' if text.get(i + 1..).is_some_and(|rest| rest.starts_with('{')) => {
                    chars.next();
                    stack.push(Frame::new(FrameKind::Interpolation));
                }
                '$' if text.get(i + 1..).is_some_and(|rest| rest.starts_with("${")) => {
                    // `$${` is a literal `${`.
                    chars.next();
                    chars.next();
                }
                '\n' => {
                    // A string does not span lines; the parser reports it.
                    stack.pop();
                    end_line(&mut stack);
                }
                _ => so_far.push(c),
            },
            FrameKind::Str {
                heredoc: Some(marker),
                ..
            } => {
                if at_line_start {
                    let line = text.get(i..).unwrap_or_default();
                    let line = line.split('\n').next().unwrap_or_default();
                    if line.trim() == marker {
                        stack.pop();
                        // Skip the marker line.
                        while chars.next_if(|(_, c)| *c != '\n').is_some() {}
                        continue;
                    }
                }
                if c == '$' && text.get(i + 1..).is_some_and(|rest| rest.starts_with('{')) {
                    chars.next();
                    stack.push(Frame::new(FrameKind::Interpolation));
                }
            }
            _ => {
                let rest = text.get(i..).unwrap_or_default();
                match c {
                    '#' => {
                        if skip_line(&mut chars) {
                            return (stack, true);
                        }
                        line_start = true;
                        end_line(&mut stack);
                    }
                    '/' if rest.starts_with("//") => {
                        if skip_line(&mut chars) {
                            return (stack, true);
                        }
                        line_start = true;
                        end_line(&mut stack);
                    }
                    '/' if rest.starts_with("/*") => {
                        chars.next();
                        let mut closed = false;
                        while let Some((j, _)) = chars.next() {
                            if text.get(j..).is_some_and(|r| r.starts_with("*/")) {
                                chars.next();
                                closed = true;
                                break;
                            }
                        }
                        if !closed {
                            return (stack, true);
                        }
                    }
                    '"' => stack.push(Frame::new(FrameKind::Str {
                        text: String::new(),
                        heredoc: None,
                    })),
                    '<' if rest.starts_with("<<") => {
                        let marker_text = rest.trim_start_matches('<').trim_start_matches('-');
                        let marker: String = marker_text
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if marker.is_empty() {
                            top.tokens.push(Token::Other);
                            continue;
                        }
                        // The rest of the opening line belongs to the heredoc.
                        while chars.next_if(|(_, c)| *c != '\n').is_some() {}
                        if chars.next().is_none() {
                            top.tokens.push(Token::Other);
                            continue;
                        }
                        line_start = true;
                        stack.push(Frame::new(FrameKind::Str {
                            text: String::new(),
                            heredoc: Some(marker),
                        }));
                    }
                    '{' => {
                        let header = match (&top.kind, top.tokens.first()) {
                            (FrameKind::Body(_), Some(Token::Word(kind)))
                                if top
                                    .tokens
                                    .iter()
                                    .skip(1)
                                    .all(|t| matches!(t, Token::Str(_))) =>
                            {
                                Some(Header {
                                    kind: kind.clone(),
                                    labels: top
                                        .tokens
                                        .iter()
                                        .filter_map(|t| match t {
                                            Token::Str(s) => Some(s.clone()),
                                            _ => None,
                                        })
                                        .collect(),
                                })
                            }
                            _ => None,
                        };
                        match header {
                            Some(header) => {
                                top.tokens.clear();
                                stack.push(Frame::new(FrameKind::Body(Some(header))));
                            }
                            None => {
                                top.tokens.push(Token::Other);
                                stack.push(Frame::new(FrameKind::Object));
                            }
                        }
                    }
                    '}' => {
                        if stack.len() > 1 {
                            let closed = stack.pop();
                            if let Some(Frame {
                                kind: FrameKind::Body(_),
                                ..
                            }) = closed
                            {
                                end_line(&mut stack);
                            }
                        }
                    }
                    '[' | '(' => {
                        top.tokens.push(Token::Other);
                        stack.push(Frame::new(FrameKind::Group));
                    }
                    ']' | ')' => {
                        if matches!(top.kind, FrameKind::Group) {
                            stack.pop();
                        }
                    }
                    ',' => {
                        if matches!(top.kind, FrameKind::Object | FrameKind::Group) {
                            top.tokens.clear();
                        }
                    }
                    '\n' => end_line(&mut stack),
                    '=' => {
                        let compare = rest.starts_with("==")
                            || rest.starts_with("=>")
                            || matches!(top.tokens.last(), Some(Token::Other));
                        if rest.starts_with("==") || rest.starts_with("=>") {
                            chars.next();
                        }
                        top.tokens
                            .push(if compare { Token::Other } else { Token::Equals });
                    }
                    ':' if matches!(top.kind, FrameKind::Object) => {
                        top.tokens.push(Token::Equals);
                    }
                    c if is_word_char(c) => {
                        let mut word = String::from(c);
                        while let Some((_, next)) = chars.next_if(|(_, c)| is_word_char(*c)) {
                            word.push(next);
                        }
                        top.tokens.push(Token::Word(word));
                    }
                    c if c.is_whitespace() => {}
                    '!' | '<' | '>' => top.tokens.push(Token::Other),
                    _ => top.tokens.push(Token::Other),
                }
            }
        }
    }
    (stack, false)
}

/// Skips to the end of the line; whether the text ended first.
fn skip_line(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> bool {
    loop {
        match chars.next() {
            None => return true,
            Some((_, '\n')) => return false,
            Some(_) => {}
        }
    }
}

/// A line ends: a statement in a body or an object is over.
fn end_line(stack: &mut [Frame]) {
    if let Some(top) = stack.last_mut() {
        if matches!(top.kind, FrameKind::Body(_) | FrameKind::Object) {
            top.tokens.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(text_with_cursor: &str) -> Context {
        let offset = text_with_cursor.find('|').unwrap_or(text_with_cursor.len());
        let text = text_with_cursor.replacen('|', "", 1);
        at(&text, offset)
    }

    fn header(kind: &str, labels: &[&str]) -> Header {
        Header {
            kind: kind.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    #[test]
    fn top_level_is_a_body() {
        let c = context("stack \"x\" {}\n\nres|");
        assert_eq!(
            (c.blocks.len(), c.place, c.word.as_str()),
            (0, Place::Body, "res")
        );
    }

    #[test]
    fn a_resource_body_knows_its_header() {
        let c = context("resource \"local_file\" \"a\" {\n  pa|\n}");
        assert_eq!(c.blocks, vec![header("resource", &["local_file", "a"])]);
        assert_eq!(c.place, Place::Body);
        assert_eq!(c.word, "pa");
    }

    #[test]
    fn a_label_being_typed_is_a_label() {
        let c = context("resource \"loc|");
        assert_eq!(
            c.place,
            Place::Label {
                kind: String::from("resource"),
                index: 0
            }
        );
        assert_eq!(c.word, "loc");
    }

    #[test]
    fn values_are_after_equals_in_brackets_and_interpolations() {
        assert_eq!(
            context("resource \"a\" \"b\" {\n  x = var.r|").place,
            Place::Value
        );
        assert_eq!(context("locals {\n  x = [\n    lo|").place, Place::Value);
        assert_eq!(context("locals {\n  x = \"a-${va|").place, Place::Value);
        assert_eq!(
            context("locals {\n  x = { a = 1, b = se|").place,
            Place::Value
        );
        assert_eq!(context("locals {\n  x = <<EOT\n${e|").place, Place::Value);
        assert_eq!(
            context("locals {\n  x = var.a == 1 ? b|").place,
            Place::Value
        );
        assert_eq!(
            context("locals { x = 1 }\nlocals {\n  y = 2\n  |").place,
            Place::Body
        );
    }

    #[test]
    fn strings_comments_and_heredocs_are_skipped() {
        let c = context("# x = {\nlocals { # {\n  a = \"}{\" // }\n  b = <<EOT\n}\nEOT\n  |");
        assert_eq!(c.blocks, vec![header("locals", &[])]);
        assert_eq!(c.place, Place::Body);
        assert_eq!(context("locals {\n  # va|").place, Place::Nothing);
        assert_eq!(
            context("stack \"s\" {\n  default_environment = \"st|").place,
            Place::String {
                words: vec![String::from("default_environment"), String::from("=")]
            }
        );
    }
}
