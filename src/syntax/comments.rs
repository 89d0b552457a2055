//! Attaching comments to the tree by position.
//!
//! The scanner collects every comment; lowering takes them out of a
//! [`CommentPool`] container by container, innermost first, so each comment
//! lands in exactly one place: `leading` (whole-line comments above a node),
//! `trailing` (after it on the same line), `dangling` (after the last node
//! before the closer), or — for a comment inside a node that no inner
//! container took (`a = 1 + /* x */ 2`, or between a block header and `{`) —
//! appended to that node's `leading` so it is not lost.
//!
//! Invariant: a comment is handed out at most once.

use super::ast::Expr;
use super::ast::{Comment, Element, Item, ObjectEntry, Trivia};
use super::scan::blank_lines_before;
use crate::diag::Span;

/// The comments not yet attached, in source order.
#[derive(Debug, Default)]
pub(crate) struct CommentPool {
    comments: Vec<Option<Comment>>,
    /// Start offsets, for binary search even after slots were emptied.
    starts: Vec<usize>,
    left: usize,
}

impl CommentPool {
    /// A pool over the scanner's comments (already in source order).
    pub(crate) fn new(comments: Vec<Comment>) -> Self {
        let left = comments.len();
        CommentPool {
            starts: comments.iter().map(|c| c.span.start()).collect(),
            comments: comments.into_iter().map(Some).collect(),
            left,
        }
    }

    /// The comments nobody took, in order.
    pub(crate) fn into_remaining(self) -> Vec<Comment> {
        self.comments.into_iter().flatten().collect()
    }

    /// Takes every remaining comment that starts in `start..end`, in order.
    pub(crate) fn take(&mut self, start: usize, end: usize) -> Vec<Comment> {
        if self.left == 0 || start >= end {
            return Vec::new();
        }
        let first = self.starts.partition_point(|&s| s < start);
        let mut taken = Vec::new();
        for slot in self.comments.iter_mut().skip(first) {
            match slot {
                Some(c) if c.span.start() >= end => break,
                Some(_) => {
                    if let Some(c) = slot.take() {
                        taken.push(c);
                    }
                }
                None => {}
            }
        }
        self.left -= taken.len();
        taken
    }
}

/// A node that carries [`Trivia`].
pub(crate) trait HasTrivia {
    fn node_span(&self) -> Span;
    fn trivia_mut(&mut self) -> &mut Trivia;
}

impl HasTrivia for Item {
    fn node_span(&self) -> Span {
        self.span()
    }
    fn trivia_mut(&mut self) -> &mut Trivia {
        match self {
            Item::Attribute(a) => &mut a.trivia,
            Item::Block(b) => &mut b.trivia,
        }
    }
}

impl HasTrivia for Element<Expr> {
    fn node_span(&self) -> Span {
        self.value.span
    }
    fn trivia_mut(&mut self) -> &mut Trivia {
        &mut self.trivia
    }
}

impl HasTrivia for Element<ObjectEntry> {
    fn node_span(&self) -> Span {
        self.value.span
    }
    fn trivia_mut(&mut self) -> &mut Trivia {
        &mut self.trivia
    }
}

fn same_line(text: &str, from: usize, to: usize) -> bool {
    text.get(from..to)
        .is_some_and(|between| !between.contains('\n'))
}

/// Attaches the comments in `inner_start..inner_end` (the inside of a body or
/// collection whose children are already lowered) and returns the dangling ones.
pub(crate) fn attach<T: HasTrivia>(
    pool: &mut CommentPool,
    text: &str,
    children: &mut [T],
    inner_start: usize,
    inner_end: usize,
) -> Vec<Comment> {
    let mut cursor = inner_start;
    let mut previous: Option<usize> = None;
    for index in 0..children.len() {
        let Some(span) = children.get(index).map(HasTrivia::node_span) else {
            break;
        };
        let mut leading = Vec::new();
        for comment in pool.take(cursor, span.start()) {
            place_after(children, previous, text, comment, &mut leading);
        }
        let strays = pool.take(span.start(), span.end());
        if let Some(child) = children.get_mut(index) {
            let first = leading.first().map_or(span.start(), |c| c.span.start());
            let trivia = child.trivia_mut();
            trivia.blank_lines_before = blank_lines_before(text, first);
            trivia.leading.extend(leading);
            trivia.leading.extend(strays);
        }
        cursor = span.end();
        previous = Some(index);
    }
    let mut dangling = Vec::new();
    for comment in pool.take(cursor, inner_end) {
        place_after(children, previous, text, comment, &mut dangling);
    }
    dangling
}

/// Places a comment that follows child `previous`: the first comment on the
/// same line as that child's end becomes its trailing comment; every other one
/// goes to `pending` (the next child's leading comments, or the dangling ones).
fn place_after<T: HasTrivia>(
    children: &mut [T],
    previous: Option<usize>,
    text: &str,
    comment: Comment,
    pending: &mut Vec<Comment>,
) {
    let Some(child) = previous.and_then(|p| children.get_mut(p)) else {
        pending.push(comment);
        return;
    };
    let end = child.node_span().end();
    let trivia = child.trivia_mut();
    if pending.is_empty() && trivia.trailing.is_none() && same_line(text, end, comment.span.start())
    {
        trivia.trailing = Some(Box::new(comment));
    } else {
        pending.push(comment);
    }
}
