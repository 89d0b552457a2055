//! The names an expression uses: every *traversal* (`var.x`, `aws_s3_bucket.b.arn`,
//! `data.http.x.body`, `each.key`) whose root is not bound by an enclosing `for`
//! expression, with the static attribute names that follow the root.
//!
//! Invariant: purely syntactic; classification into variables, resources and so
//! on is `check`'s job.

use crate::diag::Span;
use crate::syntax::ast::{Expr, ExprKind, Ident, ObjectKey, TemplatePart};

/// A root name and the static attribute names after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traversal<'e> {
    /// The root name (`var`).
    pub root: &'e str,
    /// The root's span.
    pub root_span: Span,
    /// Static attribute names (and literal string/number indices) after the
    /// root, each with the span of the traversal up to and including it.
    pub steps: Vec<(&'e str, Span)>,
    /// For each step, the instance key it names when it is a literal index
    /// (`["a"]`, `[0]`); `None` for an attribute name.
    pub keys: Vec<Option<crate::addr::InstanceKey>>,
}

impl<'e> Traversal<'e> {
    /// The span of the root and its first `n` steps.
    pub fn span_through(&self, n: usize) -> Span {
        match n.checked_sub(1).and_then(|i| self.steps.get(i)) {
            Some((_, span)) => *span,
            None => self.root_span,
        }
    }

    /// The name of step `i`.
    pub fn step(&self, i: usize) -> Option<&'e str> {
        self.steps.get(i).map(|(name, _)| *name)
    }

    /// The instance key step `i` names, when it is a literal index.
    pub fn key(&self, i: usize) -> Option<&crate::addr::InstanceKey> {
        self.keys.get(i).and_then(Option::as_ref)
    }
}

/// Collects the traversals in `expr`, in source order.
pub fn traversals(expr: &Expr) -> Vec<Traversal<'_>> {
    let mut out = Vec::new();
    let mut bound = Vec::new();
    walk(
        expr,
        &mut bound,
        &mut |root, chain| out.push(traversal_of(root, chain)),
        0,
    );
    out
}

/// Whether `expr` has a traversal whose root is `name` (`self.x`), the same as
/// `traversals(expr).iter().any(|t| t.root == name)` without building them.
pub fn uses_root(expr: &Expr, name: &str) -> bool {
    let mut found = false;
    let mut bound = Vec::new();
    walk(
        expr,
        &mut bound,
        &mut |root, _| found |= root.name == name,
        0,
    );
    found
}

/// What [`walk`] hands each traversal to: its root and the postfix chain after
/// it, outermost last.
type Out<'e, 'o> = dyn FnMut(&'e Ident, &[&'e Expr]) + 'o;

const MAX_DEPTH: usize = 256;

fn walk<'e>(expr: &'e Expr, bound: &mut Vec<&'e str>, out: &mut Out<'e, '_>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let depth = depth + 1;
    match &expr.kind {
        ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) | ExprKind::Type(_) => {}
        ExprKind::String(template) => walk_parts(&template.parts, bound, out, depth),
        ExprKind::Heredoc(heredoc) => walk_parts(&heredoc.parts, bound, out, depth),
        ExprKind::List(items) => {
            for item in items.values() {
                walk(item, bound, out, depth);
            }
        }
        ExprKind::Object(entries) => {
            for entry in entries.values() {
                match &entry.key {
                    ObjectKey::Ident(_) => {}
                    ObjectKey::String(t) => walk_parts(&t.parts, bound, out, depth),
                    ObjectKey::Expr(e) => walk(e, bound, out, depth),
                }
                walk(&entry.value, bound, out, depth);
            }
        }
        ExprKind::Variable(_)
        | ExprKind::GetAttr { .. }
        | ExprKind::Index { .. }
        | ExprKind::Splat { .. } => {
            traversal(expr, bound, out, depth);
        }
        ExprKind::Call { args, .. } => {
            for arg in args.values() {
                walk(arg, bound, out, depth);
            }
        }
        ExprKind::Unary { operand, .. } => walk(operand, bound, out, depth),
        ExprKind::Binary { left, right, .. } => {
            walk(left, bound, out, depth);
            walk(right, bound, out, depth);
        }
        ExprKind::Conditional {
            condition,
            then,
            otherwise,
        } => {
            walk(condition, bound, out, depth);
            walk(then, bound, out, depth);
            walk(otherwise, bound, out, depth);
        }
        ExprKind::ForList(f) => {
            walk(&f.collection, bound, out, depth);
            let before = bound.len();
            bound.extend(f.key_var.iter().map(|k| k.name.as_str()));
            bound.push(&f.value_var.name);
            walk(&f.body, bound, out, depth);
            if let Some(c) = &f.condition {
                walk(c, bound, out, depth);
            }
            bound.truncate(before);
        }
        ExprKind::ForObject(f) => {
            walk(&f.collection, bound, out, depth);
            let before = bound.len();
            bound.extend(f.key_var.iter().map(|k| k.name.as_str()));
            bound.push(&f.value_var.name);
            walk(&f.key, bound, out, depth);
            walk(&f.value, bound, out, depth);
            if let Some(c) = &f.condition {
                walk(c, bound, out, depth);
            }
            bound.truncate(before);
        }
        ExprKind::Paren(inner) => walk(inner, bound, out, depth),
    }
}

fn walk_parts<'e>(
    parts: &'e [TemplatePart],
    bound: &mut Vec<&'e str>,
    out: &mut Out<'e, '_>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for part in parts {
        match part {
            TemplatePart::Literal { .. } => {}
            TemplatePart::Interpolation { expr, .. } => walk(expr, bound, out, depth),
            TemplatePart::If {
                condition,
                then,
                otherwise,
                ..
            } => {
                walk(condition, bound, out, depth);
                walk_parts(then, bound, out, depth + 1);
                walk_parts(otherwise, bound, out, depth + 1);
            }
            TemplatePart::For {
                key_var,
                value_var,
                collection,
                body,
                ..
            } => {
                walk(collection, bound, out, depth);
                let before = bound.len();
                bound.extend(key_var.iter().map(|k| k.name.as_str()));
                bound.push(&value_var.name);
                walk_parts(body, bound, out, depth + 1);
                bound.truncate(before);
            }
        }
    }
}

fn traversal<'e>(expr: &'e Expr, bound: &mut Vec<&'e str>, out: &mut Out<'e, '_>, depth: usize) {
    // Unwind the postfix chain down to its root.
    let mut chain = Vec::new();
    let mut current = expr;
    while let ExprKind::GetAttr { target, .. }
    | ExprKind::Index { target, .. }
    | ExprKind::Splat { target } = &current.kind
    {
        chain.push(current);
        current = target;
    }
    chain.reverse();
    // Dynamic index expressions are expressions of their own.
    for link in &chain {
        if let ExprKind::Index { index, .. } = &link.kind {
            walk(index, bound, out, depth);
        }
    }
    let ExprKind::Variable(root) = &current.kind else {
        walk(current, bound, out, depth);
        return;
    };
    if bound.iter().any(|b| *b == root.name) {
        return;
    }
    out(root, &chain);
}

/// The traversal from a root and its postfix chain.
fn traversal_of<'e>(root: &'e Ident, chain: &[&'e Expr]) -> Traversal<'e> {
    use crate::addr::InstanceKey;
    let mut steps = Vec::new();
    let mut keys = Vec::new();
    for link in chain {
        match &link.kind {
            ExprKind::GetAttr { name, .. } => {
                steps.push((name.name.as_str(), link.span));
                keys.push(None);
            }
            ExprKind::Index { index, .. } => match &index.kind {
                ExprKind::String(t) => match t.as_literal() {
                    Some(s) => {
                        steps.push((s, link.span));
                        keys.push(Some(InstanceKey::String(s.to_owned())));
                    }
                    None => break,
                },
                ExprKind::Number(n) => {
                    steps.push((n.as_str(), link.span));
                    keys.push(n.parse::<i64>().ok().map(InstanceKey::Int));
                }
                _ => break,
            },
            _ => break,
        }
    }
    Traversal {
        root: &root.name,
        root_span: root.span,
        steps,
        keys,
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::diag::FileId;
    use crate::syntax::{self, ast};

    fn expr(text: &str) -> Expr {
        let (file, diagnostics) = syntax::parse(FileId(0), &format!("x = {text}\n"));
        assert!(diagnostics.is_empty(), "{text}: {diagnostics:?}");
        match file.body.items.first() {
            Some(ast::Item::Attribute(attribute)) => attribute.value.clone(),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn uses_root_agrees_with_traversals() {
        for text in [
            "self.path",
            "\"${self.path}-x\"",
            "[for self in var.list : self]",
            "{ for k, v in self.m : k => v }",
            "var.x[self.i]",
            "upper(self.a) == \"B\" ? 1 : 2",
            "var.self",
            "local.a.b[0]",
            "(self)",
        ] {
            let e = expr(text);
            let expected = traversals(&e).iter().any(|t| t.root == "self");
            assert_eq!(uses_root(&e, "self"), expected, "{text}");
        }
        assert!(uses_root(&expr("self.path"), "self"));
        assert!(!uses_root(&expr("[for self in var.list : self]"), "self"));
        assert!(!uses_root(&expr("var.self"), "self"));
    }
}
