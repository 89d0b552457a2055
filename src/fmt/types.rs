//! Type expressions: `list(string)`, `object({ a = number, b = optional(string) })`.
//!
//! An `object({...})` written over several lines stays over several lines,
//! one field per line with `=` aligned. A comment written inside a type is
//! attached by the parser to the attribute (as a leading comment), so it is
//! printed above the attribute.
//!
//! Invariant: prints exactly what the tree holds; the grammar of types has no
//! text the tree leaves out.

use super::body::{RunEntry, alignment_widths, width_of};
use super::printer::Printer;
use crate::diag::Span;
use crate::syntax::ast::{Ident, TypeExpr, TypeExprKind};

impl Printer<'_> {
    /// The value of a `type` attribute.
    pub(super) fn type_value(&mut self, ty: &TypeExpr) {
        self.type_expr(ty);
    }

    /// Whether the value of a `type` attribute prints on one line.
    pub(super) fn type_value_is_flat(&self, ty: &TypeExpr) -> bool {
        self.type_is_flat(ty)
    }

    /// Whether a type prints on one line.
    fn type_is_flat(&self, ty: &TypeExpr) -> bool {
        match &ty.kind {
            TypeExprKind::String
            | TypeExprKind::Number
            | TypeExprKind::Bool
            | TypeExprKind::Any => true,
            TypeExprKind::List(inner)
            | TypeExprKind::Set(inner)
            | TypeExprKind::Map(inner)
            | TypeExprKind::Optional(inner) => self.type_is_flat(inner),
            TypeExprKind::Tuple(items) => items.iter().all(|item| self.type_is_flat(item)),
            TypeExprKind::Object(fields) => !self.object_type_is_multiline(fields, ty.span),
        }
    }

    /// Whether an object type was written over several lines.
    fn object_type_is_multiline(&self, fields: &[(Ident, TypeExpr)], span: Span) -> bool {
        if fields.is_empty() {
            return false;
        }
        match self.slice(span.start(), span.end()) {
            Some(written) => written.contains('\n'),
            None => fields.iter().any(|(_, ty)| !self.type_is_flat(ty)),
        }
    }

    /// Prints a type expression.
    fn type_expr(&mut self, ty: &TypeExpr) {
        let wrapper = |name: &'static str, inner: &TypeExpr, printer: &mut Self| {
            printer.text(name);
            printer.text("(");
            printer.type_expr(inner);
            printer.text(")");
        };
        match &ty.kind {
            TypeExprKind::String => self.text("string"),
            TypeExprKind::Number => self.text("number"),
            TypeExprKind::Bool => self.text("bool"),
            TypeExprKind::Any => self.text("any"),
            TypeExprKind::List(inner) => wrapper("list", inner, self),
            TypeExprKind::Set(inner) => wrapper("set", inner, self),
            TypeExprKind::Map(inner) => wrapper("map", inner, self),
            TypeExprKind::Optional(inner) => wrapper("optional", inner, self),
            TypeExprKind::Tuple(items) => {
                self.text("tuple([");
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.text(", ");
                    }
                    self.type_expr(item);
                }
                self.text("])");
            }
            TypeExprKind::Object(fields) => self.object_type(fields, ty.span),
        }
    }

    /// `object({ a = number })`, or one field per line with `=` aligned.
    fn object_type(&mut self, fields: &[(Ident, TypeExpr)], span: Span) {
        if fields.is_empty() {
            self.text("object({})");
            return;
        }
        if !self.object_type_is_multiline(fields, span) {
            self.text("object({ ");
            for (index, (name, ty)) in fields.iter().enumerate() {
                if index > 0 {
                    self.text(", ");
                }
                self.text(&name.name);
                self.text(" = ");
                self.type_expr(ty);
            }
            self.text(" })");
            return;
        }
        let entries: Vec<RunEntry> = fields
            .iter()
            .map(|(name, ty)| RunEntry {
                name_width: self.type_is_flat(ty).then(|| width_of(&name.name)),
                starts_group: false,
                ends_run: false,
            })
            .collect();
        let widths = alignment_widths(&entries);
        self.text("object({");
        self.newline();
        self.indent();
        for (index, (name, ty)) in fields.iter().enumerate() {
            let width = widths.get(index).copied().unwrap_or(0);
            self.text(&format!("{:width$} = ", name.name));
            self.type_expr(ty);
            self.newline();
        }
        self.dedent();
        self.text("})");
    }
}
