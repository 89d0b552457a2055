//! What is under the cursor in a syntax tree: a block's kind or label, an
//! attribute's name, a step of a reference, or a function's name. Hover and
//! go to definition start here.
//!
//! Terminology: the *ancestors* of a node are the blocks around it, the
//! top-level block first.
//!
//! Invariant: read-only over the tree; recursion is bounded by the parser's
//! nesting limit.

use crate::lang::refs::{Traversal, traversals};
use crate::syntax::ast::{self, Block, Body, Expr, ExprKind, Ident, Item, ObjectKey, TemplatePart};

/// What the cursor is on.
#[derive(Debug)]
pub(crate) enum Found<'a> {
    /// The keyword of a block (`resource`).
    Kind {
        /// The block.
        block: &'a Block,
    },
    /// A label of a block.
    Label {
        /// The blocks around the cursor, the one with the label last.
        ancestors: Vec<&'a Block>,
        /// Which label (0 for the first).
        index: usize,
    },
    /// The name of an attribute.
    AttributeName {
        /// The blocks around the attribute, innermost last.
        ancestors: Vec<&'a Block>,
        /// The attribute.
        attribute: &'a ast::Attribute,
    },
    /// A step of a reference (`var.x`, `aws_s3_bucket.b.arn`).
    Reference {
        /// The blocks around the expression, innermost last.
        ancestors: Vec<&'a Block>,
        /// The whole reference.
        traversal: Traversal<'a>,
        /// The step under the cursor: 0 for the root, `i + 1` for step `i`.
        step: usize,
    },
    /// The name in a function call.
    Function {
        /// The name.
        name: &'a Ident,
    },
    /// Elsewhere in an attribute's value.
    Value {
        /// The blocks around the expression, innermost last.
        ancestors: Vec<&'a Block>,
        /// The attribute whose value it is.
        attribute: &'a ast::Attribute,
    },
}

fn contains(span: crate::diag::Span, offset: usize) -> bool {
    span.start() <= offset && offset <= span.end()
}

/// What is at byte `offset` of `file`.
pub(crate) fn at(file: &ast::File, offset: usize) -> Option<Found<'_>> {
    in_body(&file.body, offset, Vec::new())
}

fn in_body<'a>(body: &'a Body, offset: usize, ancestors: Vec<&'a Block>) -> Option<Found<'a>> {
    let item = body
        .items
        .iter()
        .find(|item| contains(item.span(), offset))?;
    match item {
        Item::Block(block) => {
            let mut ancestors = ancestors;
            if contains(block.kind.span, offset) {
                return Some(Found::Kind { block });
            }
            ancestors.push(block);
            if let Some(index) = block.labels.iter().position(|l| contains(l.span, offset)) {
                return Some(Found::Label { ancestors, index });
            }
            in_body(&block.body, offset, ancestors)
        }
        Item::Attribute(attribute) => {
            if contains(attribute.name.span, offset) {
                return Some(Found::AttributeName {
                    ancestors,
                    attribute,
                });
            }
            if let Some(name) = call_at(&attribute.value, offset) {
                return Some(Found::Function { name });
            }
            for traversal in traversals(&attribute.value) {
                if let Some(step) = step_at(&traversal, offset) {
                    return Some(Found::Reference {
                        ancestors,
                        traversal,
                        step,
                    });
                }
            }
            Some(Found::Value {
                ancestors,
                attribute,
            })
        }
    }
}

/// Which step of `traversal` holds `offset`: 0 for the root, `i + 1` for step `i`.
fn step_at(traversal: &Traversal, offset: usize) -> Option<usize> {
    let last = traversal.span_through(traversal.steps.len());
    if offset < traversal.root_span.start() || offset > last.end() {
        return None;
    }
    if offset <= traversal.root_span.end() {
        return Some(0);
    }
    traversal
        .steps
        .iter()
        .position(|(_, span)| offset <= span.end())
        .map(|i| i + 1)
}

/// The function name at `offset` in `expr`, if a call's name is there.
fn call_at(expr: &Expr, offset: usize) -> Option<&Ident> {
    let mut found = None;
    visit(expr, &mut |e| {
        if let ExprKind::Call { name, .. } = &e.kind {
            if contains(name.span, offset) {
                found = Some(name);
            }
        }
    });
    found
}

/// Calls `f` on `expr` and every expression inside it.
pub(crate) fn visit<'a>(expr: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    f(expr);
    let parts = |parts: &'a [TemplatePart], f: &mut dyn FnMut(&'a Expr)| {
        for part in parts {
            if let TemplatePart::Interpolation { expr, .. } = part {
                visit(expr, f);
            }
        }
    };
    match &expr.kind {
        ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Number(_)
        | ExprKind::Type(_)
        | ExprKind::Variable(_) => {}
        ExprKind::String(template) => parts(&template.parts, f),
        ExprKind::Heredoc(heredoc) => parts(&heredoc.parts, f),
        ExprKind::List(items) => items.values().for_each(|e| visit(e, f)),
        ExprKind::Object(entries) => {
            for entry in entries.values() {
                match &entry.key {
                    ObjectKey::Ident(_) => {}
                    ObjectKey::String(t) => parts(&t.parts, f),
                    ObjectKey::Expr(e) => visit(e, f),
                }
                visit(&entry.value, f);
            }
        }
        ExprKind::GetAttr { target, .. } | ExprKind::Splat { target } => visit(target, f),
        ExprKind::Index { target, index } => {
            visit(target, f);
            visit(index, f);
        }
        ExprKind::Call { args, .. } => args.values().for_each(|e| visit(e, f)),
        ExprKind::Unary { operand, .. } => visit(operand, f),
        ExprKind::Binary { left, right, .. } => {
            visit(left, f);
            visit(right, f);
        }
        ExprKind::Conditional {
            condition,
            then,
            otherwise,
        } => {
            visit(condition, f);
            visit(then, f);
            visit(otherwise, f);
        }
        ExprKind::ForList(for_list) => {
            visit(&for_list.collection, f);
            visit(&for_list.body, f);
            if let Some(c) = &for_list.condition {
                visit(c, f);
            }
        }
        ExprKind::ForObject(for_object) => {
            visit(&for_object.collection, f);
            visit(&for_object.key, f);
            visit(&for_object.value, f);
            if let Some(c) = &for_object.condition {
                visit(c, f);
            }
        }
        ExprKind::Paren(inner) => visit(inner, f),
    }
}
