//! Evaluation of expressions to [`Value`]s, with the unknown and secret marks
//! propagating through every operator, template, `for` expression and call.
//!
//! Names are resolved through a [`Scope`] the caller provides (`check` knows
//! what `var`, `local`, `aws_s3_bucket` mean; this module does not). Names bound
//! by `for` expressions are handled here.
//!
//! Invariant: an error carries the span of the sub-expression at fault and never
//! a secret value; evaluation has no side effects besides what builtins read
//! through the host.

use super::functions::{self, FunctionContext};
use super::number::Number;
use super::value::{Kind, Value};
use crate::diag::{Code, Diagnostic, Span, did_you_mean};
use crate::syntax::ast::{self, BinaryOp, Expr, ExprKind, ObjectKey, TemplatePart, UnaryOp};
use std::collections::BTreeMap;

/// Resolves root names (`var`, `local`, `each`, `aws_s3_bucket`...) to values.
pub trait Scope {
    /// The value a root name stands for, or an error pointing at `span`.
    fn root(&self, name: &str, span: Span) -> Result<Value, Diagnostic>;

    /// The value of `name.attr` directly, when the scope can give it without
    /// building the whole root object (`var.x`, `local.y`). `None` falls back to
    /// [`Scope::root`] and an attribute lookup.
    fn root_attr(&self, name: &str, attr: &ast::Ident) -> Option<Result<Value, Diagnostic>> {
        let _ = (name, attr);
        None
    }

    /// Like [`Scope::root_attr`], but lends the value instead of copying it,
    /// so `aws_s3_bucket.b.arn` copies the `arn` and not the whole bucket.
    /// `None` falls back to [`Scope::root_attr`].
    fn root_attr_ref(&self, name: &str, attr: &ast::Ident) -> Option<Result<&Value, Diagnostic>> {
        let _ = (name, attr);
        None
    }
}

/// The result of evaluating: a value or the diagnostic of the first problem.
pub type EvalResult = Result<Value, Diagnostic>;

/// How deep `for` expressions and templates may nest at evaluation time.
const MAX_DEPTH: usize = 128;

/// Evaluates an expression.
pub fn eval(expr: &Expr, scope: &dyn Scope, functions: &dyn FunctionContext) -> EvalResult {
    let mut evaluator = Evaluator {
        scope,
        functions,
        bound: Vec::new(),
        depth: 0,
        filter_secret: false,
        touched_secret: false,
        catching: 0,
    };
    evaluator.expr(expr)
}

struct Evaluator<'a> {
    scope: &'a dyn Scope,
    functions: &'a dyn FunctionContext,
    /// Names bound by enclosing `for` expressions, innermost last.
    bound: Vec<(String, Value)>,
    depth: usize,
    /// Whether an `if` filter of the innermost `for` expression was secret:
    /// which elements are kept then depends on a secret.
    filter_secret: bool,
    /// Whether a secret value was read (through a name) since this was last
    /// cleared: `try` and `can` mark their result secret then, since which
    /// argument failed may depend on the secret.
    touched_secret: bool,
    /// How many `try` or `can` calls enclose the expression being evaluated.
    catching: usize,
}

/// One step of a postfix chain (`.a`, `[i]`, `[*]`).
enum Step<'e> {
    Attr(&'e ast::Ident),
    Index(&'e Expr),
    Splat(Span),
}

fn error(code: Code, span: Span, label: impl Into<String>, help: impl Into<String>) -> Diagnostic {
    Diagnostic::error(code, span, label).with_help(help)
}

impl Evaluator<'_> {
    fn expr(&mut self, expr: &Expr) -> EvalResult {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(error(
                Code::CheckEvaluationTooDeep,
                expr.span,
                "evaluation nests too deeply here",
                format!(
                    "expressions may nest at most {MAX_DEPTH} levels (each operator in a chain is one level); split this one into locals"
                ),
            ));
        }
        let result = self.expr_inner(expr);
        self.depth -= 1;
        result
    }

    fn expr_inner(&mut self, expr: &Expr) -> EvalResult {
        match &expr.kind {
            ExprKind::Null => Ok(Value::NULL),
            ExprKind::Bool(b) => Ok(Value::bool(*b)),
            ExprKind::Number(text) => Number::parse(text)
                .map(|n| Value::new(Kind::Number(n)))
                .ok_or_else(|| {
                    error(
                        Code::ParseInvalidNumber,
                        expr.span,
                        "this number cannot be represented",
                        "numbers are 64-bit integers or finite floating-point values",
                    )
                }),
            ExprKind::String(template) => self.template(&template.parts),
            ExprKind::Heredoc(heredoc) => self.template(&heredoc.parts),
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items.values() {
                    out.push(self.expr(item)?);
                }
                Ok(Value::list(out))
            }
            ExprKind::Object(entries) => {
                let mut out = crate::lang::Map::new();
                let mut secret_key = false;
                for entry in entries.values() {
                    let key = self.object_key(&entry.key)?;
                    if key.is_unknown() {
                        return Ok(Value::UNKNOWN.mark_secret_if(key.is_secret()));
                    }
                    secret_key |= key.is_secret();
                    let name = key.as_str().map(str::to_owned).unwrap_or_default();
                    let value = self.expr(&entry.value)?;
                    if out.insert(name, value).is_some() {
                        return Err(error(
                            Code::CheckDuplicateKey,
                            entry.key.span(),
                            "this key is set twice",
                            "each key of an object may appear once",
                        ));
                    }
                }
                Ok(Value::map(out).mark_secret_if(secret_key))
            }
            ExprKind::Variable(_)
            | ExprKind::GetAttr { .. }
            | ExprKind::Index { .. }
            | ExprKind::Splat { .. } => {
                let value = self.traversal(expr)?;
                // Inside `try` or `can`, note whether a secret was read
                // (only there: the walk is deep).
                if self.catching > 0 {
                    self.touched_secret |= value.contains_secret();
                }
                Ok(value)
            }
            ExprKind::Call {
                name,
                args,
                expand_last,
            } => self.call(expr, name, args, *expand_last),
            ExprKind::Unary { op, operand, .. } => {
                let value = self.expr(operand)?;
                unary(*op, value, operand.span)
            }
            ExprKind::Binary {
                op, left, right, ..
            } => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                binary(*op, l, left.span, r, right.span)
            }
            ExprKind::Conditional {
                condition,
                then,
                otherwise,
            } => {
                let cond = self.expr(condition)?;
                let secret = cond.is_secret();
                if cond.is_unknown() {
                    // Evaluate both sides for their errors; the result is unknown.
                    let a = self.expr(then)?;
                    let b = self.expr(otherwise)?;
                    return Ok(
                        Value::UNKNOWN.mark_secret_if(secret || a.is_secret() || b.is_secret())
                    );
                }
                let flag = expect_bool(&cond, condition.span, "the condition")?;
                let chosen = if flag {
                    self.expr(then)?
                } else {
                    self.expr(otherwise)?
                };
                Ok(chosen.mark_secret_if(secret))
            }
            ExprKind::ForList(for_list) => self.for_list(for_list),
            ExprKind::ForObject(for_object) => self.for_object(for_object),
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Type(_) => Err(error(
                Code::CheckTypeMismatch,
                expr.span,
                "a type is not a value",
                "types are only allowed as the `type` of a variable",
            )),
        }
    }

    fn object_key(&mut self, key: &ObjectKey) -> EvalResult {
        match key {
            ObjectKey::Ident(ident) => Ok(Value::string(ident.name.clone())),
            ObjectKey::String(template) => self.template(&template.parts),
            ObjectKey::Expr(expr) => {
                let value = self.expr(expr)?;
                to_key(value, expr.span)
            }
        }
    }

    fn template(&mut self, parts: &[TemplatePart]) -> EvalResult {
        if let [TemplatePart::Literal { value, .. }] = parts {
            return Ok(Value::string(value.clone()));
        }
        let mut out = TemplateOut::default();
        self.template_into(parts, &mut out)?;
        if out.unknown {
            return Ok(Value::UNKNOWN.mark_secret_if(out.secret));
        }
        Ok(Value::string(out.text).mark_secret_if(out.secret))
    }

    /// Renders template parts into `out`; directives recurse.
    fn template_into(
        &mut self,
        parts: &[TemplatePart],
        out: &mut TemplateOut,
    ) -> Result<(), Diagnostic> {
        for part in parts {
            match part {
                TemplatePart::Literal { value, .. } => out.text.push_str(value),
                TemplatePart::Interpolation { expr, .. } => {
                    let value = self.expr(expr)?;
                    out.secret |= value.is_secret();
                    if value.is_unknown() {
                        out.unknown = true;
                        continue;
                    }
                    match value.kind() {
                        Kind::String(s) => out.text.push_str(s),
                        Kind::Number(n) => out.text.push_str(&n.to_string()),
                        Kind::Bool(b) => out.text.push_str(if *b { "true" } else { "false" }),
                        Kind::Null => {
                            return Err(error(
                                Code::CheckTypeMismatch,
                                expr.span,
                                "this is null",
                                "null cannot be interpolated into a string; use a conditional or `coalesce`-style default",
                            ));
                        }
                        Kind::List(_) | Kind::Map(_) => {
                            return Err(error(
                                Code::CheckTypeMismatch,
                                expr.span,
                                format!("this is a {}, not a string", value.type_name()),
                                "only strings, numbers and bools can be interpolated; use `join` or `jsonencode`",
                            ));
                        }
                        Kind::Unknown => out.unknown = true,
                    }
                }
                TemplatePart::If {
                    condition,
                    then,
                    otherwise,
                    ..
                } => {
                    let value = self.expr(condition)?;
                    // Which branch is shown tells something about a secret.
                    out.secret |= value.is_secret();
                    if value.is_unknown() {
                        // Both branches for their errors; the text is unknown.
                        out.unknown = true;
                        self.template_into(then, out)?;
                        self.template_into(otherwise, out)?;
                        continue;
                    }
                    let flag = expect_bool(&value, condition.span, "the condition of `%{ if }`")?;
                    self.template_into(if flag { then } else { otherwise }, out)?;
                }
                TemplatePart::For {
                    key_var,
                    value_var,
                    collection,
                    body,
                    ..
                } => {
                    self.depth += 1;
                    let result =
                        self.template_for(key_var.as_ref(), value_var, collection, body, out);
                    self.depth -= 1;
                    result?;
                }
            }
            if out.text.len() > MAX_TEMPLATE_BYTES {
                return Err(error(
                    Code::CheckInvalidArgument,
                    part_span(part),
                    "this template renders to more than 16 MiB",
                    "a template this large is almost certainly a runaway `%{ for }`; build the text from smaller pieces",
                ));
            }
        }
        Ok(())
    }

    /// `%{ for }`: the body once per element, with the names bound.
    fn template_for(
        &mut self,
        key_var: Option<&ast::Ident>,
        value_var: &ast::Ident,
        collection: &Expr,
        body: &[TemplatePart],
        out: &mut TemplateOut,
    ) -> Result<(), Diagnostic> {
        if self.depth > MAX_DEPTH {
            return Err(error(
                Code::CheckEvaluationTooDeep,
                collection.span,
                "evaluation nests too deeply here",
                format!("templates may nest at most {MAX_DEPTH} levels"),
            ));
        }
        let value = self.expr(collection)?;
        out.secret |= value.is_secret();
        let Some(pairs) = self.bind_iteration(&value, collection.span)? else {
            out.unknown = true;
            return Ok(());
        };
        for (key, element) in pairs {
            self.with_bindings(key_var, value_var, key, element, |this| {
                this.template_into(body, out)
            })?;
        }
        Ok(())
    }

    fn lookup_bound(&self, name: &str) -> Option<Value> {
        self.bound
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn traversal(&mut self, expr: &Expr) -> EvalResult {
        // Flatten `root.a[0][*].b` into a root and its steps.
        let mut steps = Vec::new();
        let mut current = expr;
        loop {
            match &current.kind {
                ExprKind::GetAttr { target, name } => {
                    steps.push(Step::Attr(name));
                    current = target;
                }
                ExprKind::Index { target, index } => {
                    steps.push(Step::Index(index));
                    current = target;
                }
                ExprKind::Splat { target } => {
                    steps.push(Step::Splat(current.span));
                    current = target;
                }
                _ => break,
            }
        }
        steps.reverse();
        let mut skip = 0;
        let root = match &current.kind {
            ExprKind::Variable(ident) => match self.lookup_bound(&ident.name) {
                Some(value) => value,
                None => {
                    let lent = match steps.first() {
                        Some(Step::Attr(attr)) => self.scope.root_attr_ref(&ident.name, attr),
                        _ => None,
                    };
                    let direct = match (&lent, steps.first()) {
                        (None, Some(Step::Attr(attr))) => self.scope.root_attr(&ident.name, attr),
                        _ => None,
                    };
                    match (lent, direct) {
                        (Some(lent), _) => {
                            let (value, taken) = follow_attrs(lent?, steps.get(1..).unwrap_or(&[]));
                            skip = 1 + taken;
                            value
                        }
                        (None, Some(result)) => {
                            skip = 1;
                            result?
                        }
                        (None, None) => self.scope.root(&ident.name, ident.span)?,
                    }
                }
            },
            _ => self.expr(current)?,
        };

        // The span of what was taken so far: the root and the attribute steps skipped.
        let span = match skip.checked_sub(1).and_then(|i| steps.get(i)) {
            Some(Step::Attr(attr)) => current.span.to(attr.span),
            _ => current.span,
        };
        self.apply_steps(root, steps.get(skip..).unwrap_or(&[]), span)
    }

    fn apply_steps(&mut self, mut value: Value, steps: &[Step<'_>], mut span: Span) -> EvalResult {
        for (i, step) in steps.iter().enumerate() {
            // A step on a secret may fail, and `try` would tell.
            if self.catching > 0 && value.is_secret() {
                self.touched_secret = true;
            }
            match step {
                Step::Attr(name) => {
                    value = get_attr(value, name, span)?;
                    span = span.to(name.span);
                }
                Step::Index(index_expr) => {
                    let index = self.expr(index_expr)?;
                    value = index_value(value, span, index, index_expr.span)?;
                    span = span.to(index_expr.span);
                }
                Step::Splat(splat_span) => {
                    let secret = value.is_secret();
                    if value.is_unknown() {
                        return Ok(Value::UNKNOWN.mark_secret_if(secret));
                    }
                    let rest = steps.get(i + 1..).unwrap_or(&[]);
                    let elements = match value.into_kind() {
                        Kind::Null => Vec::new(),
                        Kind::List(items) => items,
                        other => vec![Value::new(other)],
                    };
                    let mut out = Vec::with_capacity(elements.len());
                    for element in elements {
                        out.push(self.apply_steps(element, rest, *splat_span)?);
                    }
                    return Ok(Value::list(out).mark_secret_if(secret));
                }
            }
        }
        Ok(value)
    }

    fn call(
        &mut self,
        expr: &Expr,
        name: &ast::Ident,
        args: &ast::Collection<Expr>,
        expand_last: bool,
    ) -> EvalResult {
        if !expand_last && matches!(name.name.as_str(), "try" | "can") {
            return self.try_or_can(expr, name, args);
        }
        let mut values = Vec::with_capacity(args.len());
        let count = args.len();
        for (i, arg) in args.values().enumerate() {
            let value = self.expr(arg)?;
            if expand_last && i + 1 == count {
                let secret = value.is_secret();
                if value.is_unknown() {
                    return Ok(Value::UNKNOWN.mark_secret_if(secret));
                }
                match value.into_kind() {
                    Kind::List(items) => {
                        for item in items {
                            values.push((item.mark_secret_if(secret), arg.span));
                        }
                    }
                    other => {
                        return Err(error(
                            Code::CheckTypeMismatch,
                            arg.span,
                            format!("this is a {}, not a list", Value::new(other).type_name()),
                            "`...` expands a list into separate arguments",
                        ));
                    }
                }
            } else {
                values.push((value, arg.span));
            }
        }
        functions::call(name, values, expr.span, self.functions)
    }

    /// `try(a, b, ...)`: the first argument that evaluates without an error;
    /// `can(a)`: whether `a` does. The arguments are evaluated here, one at a
    /// time, so that an error is caught rather than reported.
    fn try_or_can(
        &mut self,
        expr: &Expr,
        name: &ast::Ident,
        args: &ast::Collection<Expr>,
    ) -> EvalResult {
        let is_try = name.name == "try";
        let (min, max) = if is_try { (1, usize::MAX) } else { (1, 1) };
        if args.len() < min || args.len() > max {
            let shape = if is_try {
                "try(a, b, ...)"
            } else {
                "can(expression)"
            };
            let expected = if is_try {
                "1 or more arguments"
            } else {
                "1 argument"
            };
            return Err(error(
                Code::CheckWrongArgumentCount,
                expr.span,
                format!("`{}` takes {expected}, {} given", name.name, args.len()),
                format!("call it as `{shape}`"),
            ));
        }
        let outer = std::mem::take(&mut self.touched_secret);
        let mut secret = false;
        let mut last_error = None;
        for arg in args.values() {
            let bound = self.bound.len();
            let depth = self.depth;
            let filter = self.filter_secret;
            self.catching += 1;
            let result = self.expr(arg);
            self.catching -= 1;
            // A failed evaluation may stop half-way; put the state back.
            self.bound.truncate(bound);
            self.depth = depth;
            self.filter_secret = filter;
            secret |= std::mem::take(&mut self.touched_secret);
            match result {
                Ok(value) if is_try => {
                    self.touched_secret = outer || secret;
                    return Ok(value.mark_secret_if(secret));
                }
                Ok(value) => {
                    self.touched_secret = outer || secret;
                    let answer = if value.contains_unknown() {
                        Value::UNKNOWN
                    } else {
                        Value::bool(true)
                    };
                    return Ok(answer.mark_secret_if(secret || value.contains_secret()));
                }
                Err(diagnostic) => last_error = Some(diagnostic),
            }
        }
        self.touched_secret = outer || secret;
        if is_try {
            let detail = match last_error {
                Some(last) if !secret => format!(
                    "the last one failed with: {}",
                    last.primary
                        .as_ref()
                        .map_or("an error", |l| l.text.as_str())
                ),
                _ => String::from("add a last argument that cannot fail, as a default"),
            };
            return Err(error(
                Code::CheckInvalidArgument,
                expr.span,
                "no argument of `try` could be evaluated",
                detail,
            ));
        }
        Ok(Value::bool(false).mark_secret_if(secret))
    }

    fn bind_iteration(
        &mut self,
        collection: &Value,
        span: Span,
    ) -> Result<Option<Vec<(Value, Value)>>, Diagnostic> {
        let secret = collection.is_secret();
        match collection.kind() {
            Kind::Unknown => Ok(None),
            Kind::List(items) => Ok(Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        (
                            Value::number(i64::try_from(i).unwrap_or(i64::MAX))
                                .mark_secret_if(secret),
                            v.clone().mark_secret_if(secret),
                        )
                    })
                    .collect(),
            )),
            Kind::Map(entries) => Ok(Some(
                entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            Value::string(k.clone()).mark_secret_if(secret),
                            v.clone().mark_secret_if(secret),
                        )
                    })
                    .collect(),
            )),
            _ => Err(error(
                Code::CheckTypeMismatch,
                span,
                format!("this is a {}, not a list or map", collection.type_name()),
                "a `for` expression iterates over a list, set or map",
            )),
        }
    }

    fn with_bindings<T>(
        &mut self,
        key_var: Option<&ast::Ident>,
        value_var: &ast::Ident,
        key: Value,
        value: Value,
        body: impl FnOnce(&mut Self) -> Result<T, Diagnostic>,
    ) -> Result<T, Diagnostic> {
        let before = self.bound.len();
        if let Some(key_var) = key_var {
            self.bound.push((key_var.name.clone(), key));
        }
        self.bound.push((value_var.name.clone(), value));
        let result = body(self);
        self.bound.truncate(before);
        result
    }

    fn filter(&mut self, condition: Option<&Expr>) -> Result<Option<bool>, Diagnostic> {
        let Some(condition) = condition else {
            return Ok(Some(true));
        };
        let value = self.expr(condition)?;
        self.filter_secret |= value.is_secret();
        if value.is_unknown() {
            return Ok(None);
        }
        expect_bool(&value, condition.span, "the `if` filter").map(Some)
    }

    fn for_list(&mut self, for_list: &ast::ForList) -> EvalResult {
        let collection = self.expr(&for_list.collection)?;
        let secret = collection.is_secret();
        let Some(pairs) = self.bind_iteration(&collection, for_list.collection.span)? else {
            return Ok(Value::UNKNOWN.mark_secret_if(secret));
        };
        let outer_filter = std::mem::take(&mut self.filter_secret);
        let mut out = Vec::with_capacity(pairs.len());
        let mut unknown = false;
        for (key, value) in pairs {
            let produced = self.with_bindings(
                for_list.key_var.as_ref(),
                &for_list.value_var,
                key,
                value,
                |this| match this.filter(for_list.condition.as_ref())? {
                    Some(false) => Ok(None),
                    None => Ok(Some(None)),
                    Some(true) => this.expr(&for_list.body).map(|v| Some(Some(v))),
                },
            )?;
            match produced {
                None => {}
                Some(None) => unknown = true,
                Some(Some(v)) => out.push(v),
            }
        }
        let secret = secret || std::mem::replace(&mut self.filter_secret, outer_filter);
        if unknown {
            return Ok(Value::UNKNOWN.mark_secret_if(secret));
        }
        Ok(Value::list(out).mark_secret_if(secret))
    }

    fn for_object(&mut self, for_object: &ast::ForObject) -> EvalResult {
        let collection = self.expr(&for_object.collection)?;
        let secret = collection.is_secret();
        let Some(pairs) = self.bind_iteration(&collection, for_object.collection.span)? else {
            return Ok(Value::UNKNOWN.mark_secret_if(secret));
        };
        let outer_filter = std::mem::take(&mut self.filter_secret);
        // Entries in iteration order, sorted once at the end (inserting each
        // into a sorted map would shift the tail: quadratic for big maps).
        let mut entries: Vec<(String, Value)> = Vec::new();
        let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut unknown = false;
        let mut secret_key = false;
        for (key, value) in pairs {
            let produced = self.with_bindings(
                for_object.key_var.as_ref(),
                &for_object.value_var,
                key,
                value,
                |this| match this.filter(for_object.condition.as_ref())? {
                    Some(false) => Ok(None),
                    None => Ok(Some(None)),
                    Some(true) => {
                        let k = this.expr(&for_object.key)?;
                        let k = to_key(k, for_object.key.span)?;
                        let v = this.expr(&for_object.value)?;
                        Ok(Some(Some((k, v))))
                    }
                },
            )?;
            match produced {
                None => {}
                Some(None) => unknown = true,
                Some(Some((k, v))) => {
                    // An unknown key derived from a secret still makes the
                    // keys secret.
                    secret_key |= k.is_secret();
                    if k.is_unknown() {
                        unknown = true;
                        continue;
                    }
                    let name = k.as_str().map(str::to_owned).unwrap_or_default();
                    if for_object.grouping {
                        groups.entry(name).or_default().push(v);
                    } else {
                        entries.push((name, v));
                    }
                }
            }
        }
        let secret = secret || std::mem::replace(&mut self.filter_secret, outer_filter);
        if unknown {
            return Ok(Value::UNKNOWN.mark_secret_if(secret || secret_key));
        }
        let out: crate::lang::Map = if for_object.grouping {
            groups
                .into_iter()
                .map(|(k, v)| (k, Value::list(v)))
                .collect()
        } else {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            if entries
                .windows(2)
                .any(|w| matches!(w, [a, b] if a.0 == b.0))
            {
                return Err(error(
                    Code::CheckDuplicateKey,
                    for_object.key.span,
                    "this key expression produced the same key twice",
                    "make the keys unique, or add `...` after the value to group values by key",
                ));
            }
            entries.into_iter().collect()
        };
        Ok(Value::map(out).mark_secret_if(secret || secret_key))
    }
}

/// The text a template renders so far, and its marks.
#[derive(Default)]
struct TemplateOut {
    text: String,
    secret: bool,
    unknown: bool,
}

/// The most a template may render to.
const MAX_TEMPLATE_BYTES: usize = 16 * 1024 * 1024;

fn part_span(part: &TemplatePart) -> Span {
    match part {
        TemplatePart::Literal { span, .. }
        | TemplatePart::Interpolation { span, .. }
        | TemplatePart::If { span, .. }
        | TemplatePart::For { span, .. } => *span,
    }
}

fn to_key(value: Value, span: Span) -> EvalResult {
    let secret = value.is_secret();
    match value.kind() {
        Kind::String(_) | Kind::Unknown => Ok(value),
        Kind::Number(n) => Ok(Value::string(n.to_string()).mark_secret_if(secret)),
        Kind::Bool(b) => Ok(Value::string(b.to_string()).mark_secret_if(secret)),
        _ => Err(error(
            Code::CheckTypeMismatch,
            span,
            format!("this is a {}, not a string", value.type_name()),
            "object keys are strings",
        )),
    }
}

fn expect_bool(value: &Value, span: Span, what: &str) -> Result<bool, Diagnostic> {
    match value.kind() {
        Kind::Bool(b) => Ok(*b),
        Kind::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(error(
            Code::CheckTypeMismatch,
            span,
            format!("this is a {}, not a bool", value.type_name()),
            format!("{what} must be true or false"),
        )),
    }
}

/// Follows the leading attribute steps of `steps` from a lent value as far as
/// each is a key of an object, and copies only where it stops. Returns the value
/// (marked secret when anything on the way was) and how many steps it took;
/// anything else (a missing key, a list, an unknown) is left to
/// [`Evaluator::apply_steps`], which gives the same result and diagnostics.
fn follow_attrs(mut current: &Value, steps: &[Step<'_>]) -> (Value, usize) {
    let mut secret = false;
    let mut taken = 0;
    for step in steps {
        let Step::Attr(name) = step else {
            break;
        };
        if current.is_unknown() {
            break;
        }
        let Some(found) = current.as_map().and_then(|entries| entries.get(&name.name)) else {
            break;
        };
        secret |= current.is_secret();
        current = found;
        taken += 1;
    }
    (current.clone().mark_secret_if(secret), taken)
}

fn get_attr(value: Value, name: &ast::Ident, target_span: Span) -> EvalResult {
    let secret = value.is_secret();
    if value.is_unknown() {
        return Ok(value);
    }
    match value.kind() {
        Kind::Map(entries) => match entries.get(&name.name) {
            Some(found) => Ok(found.clone().mark_secret_if(secret)),
            None => {
                let keys: Vec<&str> = entries.keys().map(String::as_str).collect();
                let help = if secret {
                    String::from(SECRET_KEYS_HIDDEN)
                } else {
                    let mut help = match did_you_mean(&name.name, keys.iter().copied()) {
                        Some(suggestion) => format!("did you mean `{suggestion}`? "),
                        None => String::new(),
                    };
                    help.push_str(&available(&keys));
                    help
                };
                Err(error(
                    Code::CheckMissingKey,
                    name.span,
                    format!("no attribute `{}` here", name.name),
                    help,
                ))
            }
        },
        Kind::List(items) => match name.name.parse::<usize>() {
            Ok(i) => items
                .get(i)
                .cloned()
                .map(|v| v.mark_secret_if(secret))
                .ok_or_else(|| out_of_range(name.span, i, items.len(), false)),
            Err(_) => Err(error(
                Code::CheckTypeMismatch,
                name.span,
                "this is an attribute of a list",
                "use `[*]` to take the attribute of every element, or an index like `[0]`",
            )),
        },
        Kind::Null => Err(error(
            Code::CheckTypeMismatch,
            target_span,
            "this is null",
            format!("null has no attribute `{}`", name.name),
        )),
        _ => Err(error(
            Code::CheckTypeMismatch,
            target_span,
            format!("this is a {}, which has no attributes", value.type_name()),
            "attributes are read from objects and maps",
        )),
    }
}

/// The help of a missing key in a secret map: its keys are part of the secret.
const SECRET_KEYS_HIDDEN: &str = "the map is secret, so its keys are not listed";

fn available(keys: &[&str]) -> String {
    if keys.is_empty() {
        return String::from("it is empty");
    }
    let shown: Vec<String> = keys.iter().take(10).map(|k| format!("`{k}`")).collect();
    let more = if keys.len() > 10 {
        format!(" and {} more", keys.len() - 10)
    } else {
        String::new()
    };
    format!("the keys are {}{more}", shown.join(", "))
}

fn out_of_range(span: Span, index: usize, len: usize, secret_index: bool) -> Diagnostic {
    let help = if len == 0 {
        String::from("the list is empty")
    } else {
        format!(
            "the list has {len} elements, so indices run from 0 to {}",
            len - 1
        )
    };
    let label = if secret_index {
        String::from("this index (a secret) is out of range")
    } else {
        format!("index {index} is out of range")
    };
    error(Code::CheckIndexOutOfRange, span, label, help)
}

fn index_value(value: Value, target_span: Span, index: Value, index_span: Span) -> EvalResult {
    let secret = value.is_secret() || index.is_secret();
    if value.is_unknown() || index.is_unknown() {
        return Ok(Value::UNKNOWN.mark_secret_if(secret));
    }
    match value.kind() {
        Kind::List(items) => {
            let number = match index.kind() {
                Kind::Number(n) => *n,
                Kind::String(s) => Number::parse(s).ok_or_else(|| {
                    error(
                        Code::CheckTypeMismatch,
                        index_span,
                        "this is a string, not a number",
                        "lists are indexed by numbers",
                    )
                })?,
                _ => {
                    return Err(error(
                        Code::CheckTypeMismatch,
                        index_span,
                        format!("this is a {}, not a number", index.type_name()),
                        "lists are indexed by whole numbers",
                    ));
                }
            };
            let Some(i) = number.as_i64().and_then(|i| usize::try_from(i).ok()) else {
                return Err(error(
                    Code::CheckIndexOutOfRange,
                    index_span,
                    "this is not a whole number of zero or more",
                    "lists are indexed from 0",
                ));
            };
            items
                .get(i)
                .cloned()
                .map(|v| v.mark_secret_if(secret))
                .ok_or_else(|| out_of_range(index_span, i, items.len(), index.is_secret()))
        }
        Kind::Map(entries) => {
            let key = match index.kind() {
                Kind::String(s) => s.clone(),
                Kind::Number(n) => n.to_string(),
                Kind::Bool(b) => b.to_string(),
                _ => {
                    return Err(error(
                        Code::CheckTypeMismatch,
                        index_span,
                        format!("this is a {}, not a string", index.type_name()),
                        "maps are indexed by string keys",
                    ));
                }
            };
            match entries.get(&key) {
                Some(found) => Ok(found.clone().mark_secret_if(secret)),
                None => {
                    let keys: Vec<&str> = entries.keys().map(String::as_str).collect();
                    let help = if value.is_secret() {
                        String::from(SECRET_KEYS_HIDDEN)
                    } else {
                        let mut help = match did_you_mean(&key, keys.iter().copied()) {
                            Some(suggestion) if !index.is_secret() => {
                                format!("did you mean \"{suggestion}\"? ")
                            }
                            _ => String::new(),
                        };
                        help.push_str(&available(&keys));
                        help
                    };
                    let label = if index.is_secret() {
                        String::from("this key (a secret) is not in the map")
                    } else {
                        format!("the key \"{key}\" is not in the map")
                    };
                    Err(error(Code::CheckMissingKey, index_span, label, help))
                }
            }
        }
        Kind::Null => Err(error(
            Code::CheckTypeMismatch,
            target_span,
            "this is null",
            "null cannot be indexed",
        )),
        _ => Err(error(
            Code::CheckTypeMismatch,
            target_span,
            format!("this is a {}, which cannot be indexed", value.type_name()),
            "only lists and maps can be indexed",
        )),
    }
}

fn unary(op: UnaryOp, value: Value, span: Span) -> EvalResult {
    let secret = value.is_secret();
    if value.is_unknown() {
        return Ok(value);
    }
    match op {
        UnaryOp::Not => expect_bool(&value, span, "the operand of `!`")
            .map(|b| Value::bool(!b).mark_secret_if(secret)),
        UnaryOp::Negate => {
            let n = expect_number(&value, span, "`-`")?;
            n.checked_neg()
                .map(|n| Value::new(Kind::Number(n)).mark_secret_if(secret))
                .ok_or_else(|| overflow(span))
        }
    }
}

fn expect_number(value: &Value, span: Span, what: &str) -> Result<Number, Diagnostic> {
    match value.kind() {
        Kind::Number(n) => Ok(*n),
        Kind::String(s) => Number::parse(s.trim()).ok_or_else(|| {
            error(
                Code::CheckTypeMismatch,
                span,
                "this is a string that is not a number",
                format!("{what} works on numbers"),
            )
        }),
        _ => Err(error(
            Code::CheckTypeMismatch,
            span,
            format!("this is a {}, not a number", value.type_name()),
            format!("{what} works on numbers"),
        )),
    }
}

fn overflow(span: Span) -> Diagnostic {
    error(
        Code::CheckTypeMismatch,
        span,
        "the result is not a finite number",
        "numbers must stay finite",
    )
}

fn binary(
    op: BinaryOp,
    left: Value,
    left_span: Span,
    right: Value,
    right_span: Span,
) -> EvalResult {
    let secret = left.is_secret() || right.is_secret();
    // `false && x` and `true || x` are known whatever x is.
    match (op, left.as_bool(), right.as_bool()) {
        (BinaryOp::And, Some(false), _) | (BinaryOp::And, _, Some(false)) => {
            return Ok(Value::bool(false).mark_secret_if(secret));
        }
        (BinaryOp::Or, Some(true), _) | (BinaryOp::Or, _, Some(true)) => {
            return Ok(Value::bool(true).mark_secret_if(secret));
        }
        _ => {}
    }
    if left.is_unknown() || right.is_unknown() {
        return Ok(Value::UNKNOWN.mark_secret_if(secret));
    }
    let symbol = op.symbol();
    let value = match op {
        BinaryOp::Eq | BinaryOp::NotEq => {
            let (l, _) = left.unmark_deep();
            let (r, _) = right.unmark_deep();
            let equal = if let (Some(a), Some(b)) = (l.as_number(), r.as_number()) {
                a == b
            } else {
                l == r
            };
            Value::bool(equal == (op == BinaryOp::Eq))
        }
        BinaryOp::And | BinaryOp::Or => {
            let l = expect_bool(&left, left_span, &format!("each side of `{symbol}`"))?;
            let r = expect_bool(&right, right_span, &format!("each side of `{symbol}`"))?;
            Value::bool(if op == BinaryOp::And { l && r } else { l || r })
        }
        BinaryOp::Less | BinaryOp::LessEq | BinaryOp::Greater | BinaryOp::GreaterEq => {
            let what = format!("`{symbol}`");
            let l = expect_number(&left, left_span, &what)?;
            let r = expect_number(&right, right_span, &what)?;
            Value::bool(match op {
                BinaryOp::Less => l < r,
                BinaryOp::LessEq => l <= r,
                BinaryOp::Greater => l > r,
                _ => l >= r,
            })
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
            let what = format!("`{symbol}`");
            let l = expect_number(&left, left_span, &what)?;
            let r = expect_number(&right, right_span, &what)?;
            let result = match op {
                BinaryOp::Add => l.checked_add(r),
                BinaryOp::Sub => l.checked_sub(r),
                BinaryOp::Mul => l.checked_mul(r),
                BinaryOp::Div | BinaryOp::Rem => {
                    if r.as_f64() == 0.0 {
                        return Err(error(
                            Code::CheckDivisionByZero,
                            right_span,
                            "this is zero",
                            "guard the division with a conditional, e.g. `b == 0 ? 0 : a / b`",
                        ));
                    }
                    if op == BinaryOp::Div {
                        l.checked_div(r)
                    } else {
                        l.checked_rem(r)
                    }
                }
                _ => None,
            };
            Value::new(Kind::Number(
                result.ok_or_else(|| overflow(left_span.to(right_span)))?,
            ))
        }
    };
    Ok(value.mark_secret_if(secret))
}
