//! Parsing the text of a template file (`templatefile`) into template parts:
//! literal text with `${ expr }` interpolations, `%{ if }` and `%{ for }`
//! directives with `~` strip markers, and `$${` / `%%{` escapes, exactly the
//! rules of a heredoc body (no backslash escapes), as Terraform reads a
//! template file.
//!
//! The text is parsed as the body of a heredoc inside a one-attribute wrapper
//! file, so the grammar and the lowering stay the single definition of what a
//! template is; every span (in the parts and in the diagnostics) is then moved
//! back so that it is a byte offset into the template text itself.
//!
//! Invariant: no pest type leaves this file; no input makes it panic; every
//! span returned lies inside `0..=text.len()` of `file`.

use super::ast::{self, Collection, Comment, Expr, ExprKind, ObjectKey, TemplatePart, Trivia};
use crate::diag::{Diagnostics, FileId, Span};

/// The attribute name of the wrapper file (never shown: spans are moved into
/// the template text and clamped).
const WRAPPER_ATTRIBUTE: &str = "template";

/// Parses a whole template file. Always returns the parts that could be read;
/// problems are in the diagnostics, with spans into `text`.
pub fn parse_template(file: FileId, text: &str) -> (Vec<TemplatePart>, Diagnostics) {
    let marker = unique_marker(text);
    // Heredoc bodies are whole lines; a final line without a newline gets one
    // here, which is taken off the parts again below.
    let added_newline = !text.is_empty() && !text.ends_with('\n');
    let prefix = format!("{WRAPPER_ATTRIBUTE} = <<{marker}\n");
    let mut wrapped = String::with_capacity(prefix.len() + text.len() + marker.len() + 2);
    wrapped.push_str(&prefix);
    wrapped.push_str(text);
    if added_newline {
        wrapped.push('\n');
    }
    wrapped.push_str(&marker);
    wrapped.push('\n');

    let (parsed, wrapped_diagnostics) = super::parse(file, &wrapped);
    let shift = Shift {
        by: u32::try_from(prefix.len()).unwrap_or(u32::MAX),
        limit: u32::try_from(text.len()).unwrap_or(u32::MAX),
    };
    let mut diagnostics = Diagnostics::new();
    for mut diagnostic in wrapped_diagnostics.into_vec() {
        if let Some(label) = diagnostic.primary.as_mut() {
            shift.span(&mut label.span);
        }
        for label in &mut diagnostic.secondary {
            shift.span(&mut label.span);
        }
        diagnostics.push(diagnostic);
    }

    let mut parts = parsed
        .body
        .items
        .into_iter()
        .find_map(|item| match item {
            ast::Item::Attribute(attribute) => match attribute.value.kind {
                ExprKind::Heredoc(heredoc) => Some(heredoc.parts),
                _ => None,
            },
            ast::Item::Block(_) => None,
        })
        .unwrap_or_default();
    for part in &mut parts {
        shift.part(part);
    }
    if added_newline {
        let emptied = match parts.last_mut() {
            Some(TemplatePart::Literal { value, .. }) => {
                if value.ends_with('\n') {
                    value.pop();
                }
                value.is_empty()
            }
            _ => false,
        };
        if emptied {
            parts.pop();
        }
    }
    (parts, diagnostics)
}

/// A closing marker that occurs nowhere in `text`, so no line of the template
/// can end the heredoc early.
fn unique_marker(text: &str) -> String {
    let mut marker = String::from("INFRA_TEMPLATE_END");
    let mut n = 0u64;
    while text.contains(&marker) {
        n += 1;
        marker = format!("INFRA_TEMPLATE_END_{n}");
    }
    marker
}

/// Moves spans from the wrapper file back into the template text.
struct Shift {
    by: u32,
    limit: u32,
}

impl Shift {
    fn span(&self, span: &mut Span) {
        span.start = span.start.saturating_sub(self.by).min(self.limit);
        span.end = span
            .end
            .saturating_sub(self.by)
            .min(self.limit)
            .max(span.start);
    }

    fn part(&self, part: &mut TemplatePart) {
        match part {
            TemplatePart::Literal { span, .. } => self.span(span),
            TemplatePart::Interpolation { expr, span } => {
                self.span(span);
                self.expr(expr);
            }
            TemplatePart::If {
                condition,
                then,
                otherwise,
                span,
            } => {
                self.span(span);
                self.expr(condition);
                self.parts(then);
                self.parts(otherwise);
            }
            TemplatePart::For {
                key_var,
                value_var,
                collection,
                body,
                span,
            } => {
                self.span(span);
                if let Some(key_var) = key_var.as_mut() {
                    self.ident(key_var);
                }
                self.ident(value_var);
                self.expr(collection);
                self.parts(body);
            }
        }
    }

    fn parts(&self, parts: &mut [TemplatePart]) {
        for part in parts {
            self.part(part);
        }
    }

    fn ident(&self, ident: &mut ast::Ident) {
        self.span(&mut ident.span);
    }

    fn comment(&self, comment: &mut Comment) {
        self.span(&mut comment.span);
    }

    fn trivia(&self, trivia: &mut Trivia) {
        for comment in &mut trivia.leading {
            self.comment(comment);
        }
        if let Some(comment) = trivia.trailing.as_mut() {
            self.comment(comment);
        }
    }

    fn collection<T>(&self, collection: &mut Collection<T>, each: impl Fn(&Self, &mut T)) {
        for element in &mut collection.items {
            self.trivia(&mut element.trivia);
            each(self, &mut element.value);
        }
        for comment in &mut collection.dangling {
            self.comment(comment);
        }
    }

    fn expr(&self, expr: &mut Expr) {
        self.span(&mut expr.span);
        match &mut expr.kind {
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) => {}
            ExprKind::String(template) => {
                self.span(&mut template.span);
                self.parts(&mut template.parts);
            }
            ExprKind::Heredoc(heredoc) => self.parts(&mut heredoc.parts),
            ExprKind::List(items) => self.collection(items, Self::expr),
            ExprKind::Object(entries) => self.collection(entries, |this, entry| {
                this.span(&mut entry.span);
                match &mut entry.key {
                    ObjectKey::Ident(ident) => this.ident(ident),
                    ObjectKey::String(template) => {
                        this.span(&mut template.span);
                        this.parts(&mut template.parts);
                    }
                    ObjectKey::Expr(key) => this.expr(key),
                }
                this.expr(&mut entry.value);
            }),
            ExprKind::Variable(ident) => self.ident(ident),
            ExprKind::GetAttr { target, name } => {
                self.expr(target);
                self.ident(name);
            }
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.expr(index);
            }
            ExprKind::Splat { target } => self.expr(target),
            ExprKind::Call { name, args, .. } => {
                self.ident(name);
                self.collection(args, Self::expr);
            }
            ExprKind::Unary {
                op_span, operand, ..
            } => {
                self.span(op_span);
                self.expr(operand);
            }
            ExprKind::Binary {
                op_span,
                left,
                right,
                ..
            } => {
                self.span(op_span);
                self.expr(left);
                self.expr(right);
            }
            ExprKind::Conditional {
                condition,
                then,
                otherwise,
            } => {
                self.expr(condition);
                self.expr(then);
                self.expr(otherwise);
            }
            ExprKind::ForList(for_list) => {
                if let Some(key_var) = for_list.key_var.as_mut() {
                    self.ident(key_var);
                }
                self.ident(&mut for_list.value_var);
                self.expr(&mut for_list.collection);
                self.expr(&mut for_list.body);
                if let Some(condition) = for_list.condition.as_mut() {
                    self.expr(condition);
                }
            }
            ExprKind::ForObject(for_object) => {
                if let Some(key_var) = for_object.key_var.as_mut() {
                    self.ident(key_var);
                }
                self.ident(&mut for_object.value_var);
                self.expr(&mut for_object.collection);
                self.expr(&mut for_object.key);
                self.expr(&mut for_object.value);
                if let Some(condition) = for_object.condition.as_mut() {
                    self.expr(condition);
                }
            }
            ExprKind::Paren(inner) => self.expr(inner),
            // Type expressions only appear as the value of a `type` attribute,
            // never inside an interpolation.
            ExprKind::Type(ty) => self.span(&mut ty.span),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::parse_template;
    use crate::diag::FileId;
    use crate::syntax::ast::{ExprKind, TemplatePart};

    fn literal(part: &TemplatePart) -> Option<&str> {
        match part {
            TemplatePart::Literal { value, .. } => Some(value),
            _ => None,
        }
    }

    #[test]
    fn spans_point_into_the_template_text() {
        let text = "host=${name}\nport=${port + 1}";
        let (parts, diagnostics) = parse_template(FileId(3), text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(parts.len(), 4);
        assert_eq!(literal(&parts[0]), Some("host="));
        assert_eq!(literal(&parts[2]), Some("\nport="));
        let TemplatePart::Interpolation { expr, span } = &parts[1] else {
            panic!("not an interpolation")
        };
        assert_eq!(span.slice(text), "${name}");
        assert_eq!(expr.span.slice(text), "name");
        assert_eq!(expr.span.file, FileId(3));
        let TemplatePart::Interpolation { expr, .. } = &parts[3] else {
            panic!("not an interpolation")
        };
        assert_eq!(expr.span.slice(text), "port + 1");
        let ExprKind::Binary { right, .. } = &expr.kind else {
            panic!("not binary")
        };
        assert_eq!(right.span.slice(text), "1");
    }

    #[test]
    fn escapes_newlines_and_marker_like_lines_are_text() {
        let text = "a $${b} \\n c\nINFRA_TEMPLATE_END\n# not a comment\n";
        let (parts, diagnostics) = parse_template(FileId(0), text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(parts.len(), 1);
        assert_eq!(
            literal(&parts[0]),
            Some("a ${b} \\n c\nINFRA_TEMPLATE_END\n# not a comment\n")
        );
    }

    #[test]
    fn empty_text_has_no_parts() {
        let (parts, diagnostics) = parse_template(FileId(0), "");
        assert!(parts.is_empty());
        assert!(diagnostics.is_empty());
    }

    #[test]
    fn syntax_errors_point_into_the_template() {
        let text = "line one\nvalue = ${1 + }\n";
        let (_, diagnostics) = parse_template(FileId(0), text);
        assert!(diagnostics.has_errors());
        for diagnostic in diagnostics.iter() {
            let span = diagnostic.primary.as_ref().unwrap().span;
            assert!(span.end() <= text.len(), "{diagnostic:?}");
            assert!(span.start() >= "line one\n".len(), "{diagnostic:?}");
        }
    }
}
