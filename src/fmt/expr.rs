//! Expressions: normalised spacing, collections on one line or one element
//! per line, strings from their source with interpolations reprinted,
//! heredocs untouched, `for` expressions.
//!
//! Terminology: an expression is *flat* when it prints on one line. A
//! collection prints on one line only when the source wrote it on one line,
//! no comment is attached inside it and every element is flat; otherwise it
//! prints one element per line. [`Printer::is_flat`] answers without printing,
//! and must agree with what [`Printer::expr`] prints.
//!
//! Invariant: parentheses, numbers, string literal text and heredoc bodies are
//! printed as written.

use super::body::{RunEntry, alignment_widths, end_with_trailing, has_comments, width_of};
use super::printer::Printer;
use crate::diag::Span;
use crate::syntax::ast::{
    Collection, Expr, ExprKind, ForList, ForObject, Heredoc, Ident, ObjectEntry, ObjectKey,
    Template, TemplatePart,
};

/// A piece of a quoted string.
enum Piece<'t> {
    /// Literal text exactly as written, escapes included.
    Literal(&'t str),
    /// The expression of a `${}`, and its `~` strip markers (left, right).
    Interpolation(&'t Expr, bool, bool),
}

impl Printer<'_> {
    /// Prints an expression at the current position.
    pub(super) fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Null => self.text("null"),
            ExprKind::Bool(value) => self.text(if *value { "true" } else { "false" }),
            ExprKind::Number(text) => self.text(text),
            ExprKind::String(template) => self.template(template),
            ExprKind::Heredoc(heredoc) => self.heredoc_expr(heredoc),
            ExprKind::List(collection) => self.list(collection),
            ExprKind::Object(collection) => self.object(collection),
            ExprKind::Variable(ident) => self.text(&ident.name),
            ExprKind::GetAttr { target, name } => {
                self.expr(target);
                self.text(".");
                self.text(&name.name);
            }
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.text("[");
                self.expr(index);
                self.text("]");
            }
            ExprKind::Splat { target } => {
                self.expr(target);
                self.text("[*]");
            }
            ExprKind::Call {
                name,
                args,
                expand_last,
            } => self.call(name, args, *expand_last),
            ExprKind::Unary { op, operand, .. } => {
                self.text(op.symbol());
                self.expr(operand);
            }
            ExprKind::Binary {
                op, left, right, ..
            } => {
                self.expr(left);
                self.text(" ");
                self.text(op.symbol());
                self.text(" ");
                self.expr(right);
            }
            ExprKind::Conditional {
                condition,
                then,
                otherwise,
            } => {
                self.expr(condition);
                self.text(" ? ");
                self.expr(then);
                self.text(" : ");
                self.expr(otherwise);
            }
            ExprKind::ForList(for_list) => self.for_list(for_list, expr.span),
            ExprKind::ForObject(for_object) => self.for_object(for_object, expr.span),
            ExprKind::Paren(inner) => {
                self.text("(");
                self.expr(inner);
                self.text(")");
            }
            ExprKind::Type(ty) => self.type_value(ty),
        }
    }

    /// Whether the expression prints on one line.
    pub(super) fn is_flat(&self, expr: &Expr) -> bool {
        match &expr.kind {
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) | ExprKind::Variable(_) => {
                true
            }
            ExprKind::String(template) => self.template_is_flat(template),
            ExprKind::Heredoc(_) => false,
            ExprKind::List(collection) => !self.list_is_multiline(collection),
            ExprKind::Object(collection) => !self.object_is_multiline(collection),
            ExprKind::Call { args, .. } => !self.list_is_multiline(args),
            ExprKind::GetAttr { target, .. } | ExprKind::Splat { target } => self.is_flat(target),
            ExprKind::Index { target, index } => self.is_flat(target) && self.is_flat(index),
            ExprKind::Unary { operand, .. } => self.is_flat(operand),
            ExprKind::Binary { left, right, .. } => self.is_flat(left) && self.is_flat(right),
            ExprKind::Conditional {
                condition,
                then,
                otherwise,
            } => self.is_flat(condition) && self.is_flat(then) && self.is_flat(otherwise),
            ExprKind::ForList(for_list) => {
                !self.for_is_broken(expr.span)
                    && self.is_flat(&for_list.collection)
                    && self.is_flat(&for_list.body)
                    && for_list.condition.as_ref().is_none_or(|c| self.is_flat(c))
            }
            ExprKind::ForObject(for_object) => {
                !self.for_is_broken(expr.span)
                    && self.is_flat(&for_object.collection)
                    && self.is_flat(&for_object.key)
                    && self.is_flat(&for_object.value)
                    && for_object
                        .condition
                        .as_ref()
                        .is_none_or(|c| self.is_flat(c))
            }
            ExprKind::Paren(inner) => self.is_flat(inner),
            ExprKind::Type(ty) => self.type_value_is_flat(ty),
        }
    }

    /// Whether a collection prints one element per line.
    fn collection_is_multiline<T>(
        &self,
        collection: &Collection<T>,
        flat: impl Fn(&T) -> bool,
    ) -> bool {
        if collection.items.is_empty() && collection.dangling.is_empty() {
            return false;
        }
        collection.multiline
            || !collection.dangling.is_empty()
            || collection
                .items
                .iter()
                .any(|element| has_comments(&element.trivia) || !flat(&element.value))
    }

    /// Whether a list (or argument list) prints one element per line.
    fn list_is_multiline(&self, collection: &Collection<Expr>) -> bool {
        self.collection_is_multiline(collection, |element| self.is_flat(element))
    }

    /// Whether an object prints one entry per line.
    fn object_is_multiline(&self, collection: &Collection<ObjectEntry>) -> bool {
        self.collection_is_multiline(collection, |entry| {
            self.key_is_flat(&entry.key) && self.is_flat(&entry.value)
        })
    }

    /// Whether an object key prints on one line.
    fn key_is_flat(&self, key: &ObjectKey) -> bool {
        match key {
            ObjectKey::Ident(_) => true,
            ObjectKey::String(template) => self.template_is_flat(template),
            ObjectKey::Expr(expr) => self.is_flat(expr),
        }
    }

    /// `[a, b]` or one element per line with a trailing comma.
    fn list(&mut self, collection: &Collection<Expr>) {
        self.sequence(collection, "[", "]", false);
    }

    /// `name(a, b)` or one argument per line with a trailing comma (none
    /// after an expanded `...` argument).
    fn call(&mut self, name: &Ident, args: &Collection<Expr>, expand_last: bool) {
        self.text(&name.name);
        self.sequence(args, "(", ")", expand_last);
    }

    /// The shared layout of lists and argument lists.
    fn sequence(
        &mut self,
        collection: &Collection<Expr>,
        open: &str,
        close: &str,
        expand_last: bool,
    ) {
        if collection.items.is_empty() && collection.dangling.is_empty() {
            self.text(open);
            self.text(close);
            return;
        }
        let count = collection.items.len();
        self.text(open);
        if !self.list_is_multiline(collection) {
            for (index, element) in collection.items.iter().enumerate() {
                if index > 0 {
                    self.text(", ");
                }
                self.expr(&element.value);
            }
            if expand_last {
                self.text("...");
            }
            self.text(close);
            return;
        }
        self.newline();
        self.indent();
        self.entry_lines(
            &collection.items,
            |element| (&element.trivia, element.value.span),
            |_, _| false,
            |printer, index, element| {
                printer.expr(&element.value);
                let last = index + 1 == count;
                if last && expand_last {
                    printer.text("...");
                } else if !(last && printer.after_heredoc()) {
                    // A comma after a final heredoc would sit alone on a line;
                    // it is optional there, so it is left out.
                    printer.text(",");
                }
            },
            &collection.dangling,
        );
        self.dedent();
        self.text(close);
    }

    /// `{ a = 1, b = 2 }` or one entry per line, `=` aligned, no commas.
    fn object(&mut self, collection: &Collection<ObjectEntry>) {
        if collection.items.is_empty() && collection.dangling.is_empty() {
            self.text("{}");
            return;
        }
        if !self.object_is_multiline(collection) {
            self.text("{ ");
            for (index, element) in collection.items.iter().enumerate() {
                if index > 0 {
                    self.text(", ");
                }
                self.object_key(&element.value.key);
                self.text(" = ");
                self.expr(&element.value.value);
            }
            self.text(" }");
            return;
        }
        let mut keys = Vec::with_capacity(collection.items.len());
        let mut entries = Vec::with_capacity(collection.items.len());
        let mut previous_end = None;
        for element in &collection.items {
            let entry = &element.value;
            let mut key = self.fork();
            key.object_key(&entry.key);
            let is_heredoc = matches!(entry.value.kind, ExprKind::Heredoc(_));
            let aligned = !key.is_multiline() && (is_heredoc || self.is_flat(&entry.value));
            entries.push(RunEntry {
                name_width: aligned.then(|| width_of(key.as_str())),
                starts_group: self.starts_group(previous_end, &element.trivia, entry.span),
                ends_run: is_heredoc,
            });
            previous_end = Some(end_with_trailing(&element.trivia, entry.span));
            keys.push(key.as_str().to_owned());
        }
        let widths = alignment_widths(&entries);
        self.text("{");
        self.newline();
        self.indent();
        self.entry_lines(
            &collection.items,
            |element| (&element.trivia, element.value.span),
            |_, _| false,
            |printer, index, element| {
                let width = widths.get(index).copied().unwrap_or(0);
                match keys.get(index) {
                    Some(key) if !key.contains('\n') => printer.text(&format!("{key:width$} = ")),
                    _ => {
                        printer.object_key(&element.value.key);
                        printer.text(" = ");
                    }
                }
                printer.expr(&element.value.value);
            },
            &collection.dangling,
        );
        self.dedent();
        self.text("}");
    }

    /// An object key: a name, a string, or a parenthesised expression.
    fn object_key(&mut self, key: &ObjectKey) {
        match key {
            ObjectKey::Ident(ident) => self.text(&ident.name),
            ObjectKey::String(template) => self.template(template),
            ObjectKey::Expr(expr) if matches!(expr.kind, ExprKind::Paren(_)) => self.expr(expr),
            ObjectKey::Expr(expr) => {
                self.text("(");
                self.expr(expr);
                self.text(")");
            }
        }
    }

    /// A heredoc: opener, body as written, closing marker as written.
    fn heredoc_expr(&mut self, heredoc: &Heredoc) {
        let opener = format!(
            "<<{}{}",
            if heredoc.indented { "-" } else { "" },
            heredoc.marker
        );
        self.heredoc(
            &opener,
            &heredoc.raw_body,
            &heredoc.closing_indent,
            &heredoc.marker,
        );
    }

    /// A quoted string: literal parts from the source, each interpolation
    /// reprinted as `${expr}` without inner padding (`${~ expr ~}` with strip
    /// markers). Directives (`%{ if }`, `%{ for }`) and what they hold are
    /// literal text here: printed as written. An interpolation may span
    /// lines when its expression does (a multi-line collection, a heredoc).
    fn template(&mut self, template: &Template) {
        match self.template_pieces(template) {
            Some(pieces) => {
                for piece in pieces {
                    match piece {
                        Piece::Literal(text) => self.verbatim_lines(text, false),
                        Piece::Interpolation(expr, strip_left, strip_right) => {
                            self.text(if strip_left { "${~ " } else { "${" });
                            self.expr(expr);
                            self.text(if strip_right { " ~}" } else { "}" });
                        }
                    }
                }
            }
            None => self.verbatim_lines(&template.raw, false),
        }
    }

    /// The pieces of a quoted string, literal text sliced from its raw
    /// source. `None` when the spans do not line up with the raw text (the raw
    /// text is then printed as it is).
    fn template_pieces<'t>(&self, template: &'t Template) -> Option<Vec<Piece<'t>>> {
        let base = template.span.start();
        let raw = template.raw.as_str();
        let mut pieces = Vec::with_capacity(template.parts.len() * 2 + 1);
        let mut cursor = 0;
        for part in &template.parts {
            let TemplatePart::Interpolation { expr, span } = part else {
                continue;
            };
            let start = span.start().checked_sub(base)?;
            let end = span.end().checked_sub(base)?;
            pieces.push(Piece::Literal(raw.get(cursor..start)?));
            let written = raw.get(start..end)?;
            let strip_left = written.starts_with("${~");
            let strip_right = written
                .strip_suffix('}')
                .is_some_and(|inner| inner.trim_end().ends_with('~'));
            pieces.push(Piece::Interpolation(expr, strip_left, strip_right));
            cursor = end;
        }
        pieces.push(Piece::Literal(raw.get(cursor..)?));
        Some(pieces)
    }

    /// Whether a quoted string prints on one line.
    fn template_is_flat(&self, template: &Template) -> bool {
        match self.template_pieces(template) {
            Some(pieces) => pieces.iter().all(|piece| match piece {
                Piece::Literal(text) => !text.contains('\n'),
                Piece::Interpolation(expr, ..) => self.is_flat(expr),
            }),
            None => !template.raw.contains('\n'),
        }
    }

    /// Whether a `for` expression was written with a line break right after
    /// its opening bracket; it is then printed over several lines.
    fn for_is_broken(&self, span: Span) -> bool {
        self.slice(span.start().saturating_add(1), span.end())
            .is_some_and(|rest| rest.trim_start_matches([' ', '\t', '\r']).starts_with('\n'))
    }

    /// `for k, v in collection : `.
    fn for_intro(&mut self, key_var: Option<&Ident>, value_var: &Ident, collection: &Expr) {
        self.text("for ");
        if let Some(key_var) = key_var {
            self.text(&key_var.name);
            self.text(", ");
        }
        self.text(&value_var.name);
        self.text(" in ");
        self.expr(collection);
        self.text(" : ");
    }

    /// `if condition`, on its own line when the expression is broken.
    fn for_condition(&mut self, condition: Option<&Expr>, broken: bool) {
        if let Some(condition) = condition {
            if broken {
                self.newline();
            } else {
                self.text(" ");
            }
            self.text("if ");
            self.expr(condition);
        }
    }

    /// `[for x in xs : body if condition]`.
    fn for_list(&mut self, for_list: &ForList, span: Span) {
        let broken = self.for_is_broken(span);
        self.text("[");
        if broken {
            self.newline();
            self.indent();
        }
        self.for_intro(
            for_list.key_var.as_ref(),
            &for_list.value_var,
            &for_list.collection,
        );
        self.expr(&for_list.body);
        self.for_condition(for_list.condition.as_ref(), broken);
        if broken {
            self.newline();
            self.dedent();
        }
        self.text("]");
    }

    /// `{ for k, v in m : key => value... if condition }`.
    fn for_object(&mut self, for_object: &ForObject, span: Span) {
        let broken = self.for_is_broken(span);
        self.text("{");
        if broken {
            self.newline();
            self.indent();
        } else {
            self.text(" ");
        }
        self.for_intro(
            for_object.key_var.as_ref(),
            &for_object.value_var,
            &for_object.collection,
        );
        self.expr(&for_object.key);
        self.text(" => ");
        self.expr(&for_object.value);
        if for_object.grouping {
            self.text("...");
        }
        self.for_condition(for_object.condition.as_ref(), broken);
        if broken {
            self.newline();
            self.dedent();
        } else {
            self.text(" ");
        }
        self.text("}");
    }
}
