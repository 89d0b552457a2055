//! Lowering pest pairs of one chunk into [`ast`](super::ast) nodes.
//!
//! Functions are named after the grammar rules they lower. Expressions arrive
//! flat (`operand (infix operand)*`) and the precedences are applied here.
//!
//! Invariant: no pest type leaves this file's functions; spans are byte offsets
//! in the whole file (the chunk's offset is added); never panics on any pair
//! shape (unexpected shapes lower to `null` rather than crashing).

use super::ast::{
    Attribute, BinaryOp, Block, Body, Collection, Element, Expr, ExprKind, ForList, ForObject,
    Heredoc, Ident, Item, ObjectEntry, ObjectKey, StringLit, Template, TemplatePart, Trivia,
    TypeExpr, TypeExprKind, UnaryOp,
};
use super::comments::{CommentPool, attach};
use super::grammar::Rule;
use crate::diag::{Code, Diagnostic, Diagnostics, FileId, Span};
use pest::iterators::{Pair, Pairs};

/// The deepest expression tree lowering builds. Long flat operator chains and
/// nested conditionals are not counted by the scanner's bracket nesting, and a
/// tree this deep is past anything people write while still being safe for
/// the recursive passes after parsing.
const MAX_EXPR_DEPTH: u32 = 256;

/// The deepest recursion of `expr` lowering: the scanner's bracket limit plus
/// headroom for conditionals nested in `? ... :`.
const MAX_EXPR_RECURSION: u32 = 2 * super::MAX_NESTING as u32;

/// Lowers one chunk.
pub(crate) struct Lowerer<'a> {
    pub file: FileId,
    pub text: &'a str,
    pub offset: usize,
    pub comments: &'a mut CommentPool,
    pub diagnostics: &'a mut Diagnostics,
    pub too_deep_reported: bool,
    /// How many `expr` calls are active, to bound recursion.
    pub depth: u32,
}

/// An expression with the depth of its tree.
type Deep = (Expr, u32);

enum Op {
    Binary(BinaryOp, Span),
    Conditional(Deep),
}

impl Op {
    /// Binding strength; the conditional is loosest and right-associative.
    fn precedence(&self) -> u8 {
        match self {
            Op::Binary(op, _) => op.precedence(),
            Op::Conditional(_) => 0,
        }
    }
}

fn binary_op(text: &str) -> BinaryOp {
    match text {
        "||" => BinaryOp::Or,
        "&&" => BinaryOp::And,
        "==" => BinaryOp::Eq,
        "!=" => BinaryOp::NotEq,
        "<=" => BinaryOp::LessEq,
        ">=" => BinaryOp::GreaterEq,
        "<" => BinaryOp::Less,
        ">" => BinaryOp::Greater,
        "+" => BinaryOp::Add,
        "-" => BinaryOp::Sub,
        "*" => BinaryOp::Mul,
        "/" => BinaryOp::Div,
        _ => BinaryOp::Rem,
    }
}

impl Lowerer<'_> {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    fn at(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, self.offset + start, self.offset + end)
    }

    fn null(span: Span) -> Deep {
        (
            Expr {
                kind: ExprKind::Null,
                span,
            },
            1,
        )
    }

    /// Builds a node one level above its deepest child, or `null` with a
    /// diagnostic when the tree gets too deep.
    fn node(&mut self, kind: ExprKind, span: Span, child_depth: u32) -> Deep {
        let depth = child_depth.saturating_add(1);
        if depth > MAX_EXPR_DEPTH {
            if !self.too_deep_reported {
                self.too_deep_reported = true;
                self.diagnostics.push(
                    Diagnostic::error(Code::ParseNestingTooDeep, span, "this expression nests too deeply")
                        .with_help(format!(
                            "an expression may nest at most {MAX_EXPR_DEPTH} operators deep; split it into locals"
                        )),
                );
            }
            return Self::null(span);
        }
        (Expr { kind, span }, depth)
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_owned(),
            span: self.span(pair),
        }
    }

    // ---- bodies ---------------------------------------------------------------

    /// `chunk`: the items, without comments attached (the file body does that).
    /// The pairs may cover several of the scanner's chunks (a batch); `starts`
    /// are their start offsets, so that "too deep" is reported once per chunk
    /// as when each is parsed alone.
    pub(crate) fn chunk(&mut self, pairs: Pairs<'_, Rule>, starts: &[usize]) -> Vec<Item> {
        let mut items = Vec::new();
        let mut next_chunk = 1;
        for pair in pairs {
            if pair.as_rule() == Rule::chunk {
                let inner = pair.into_inner();
                items.reserve_exact(inner.len());
                for inner in inner {
                    let start = self.offset + inner.as_span().start();
                    while starts.get(next_chunk).is_some_and(|&s| s <= start) {
                        next_chunk += 1;
                        self.too_deep_reported = false;
                    }
                    if let Some(item) = self.item(inner) {
                        items.push(item);
                    }
                }
            }
        }
        items
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
        match pair.as_rule() {
            Rule::attribute => Some(Item::Attribute(self.attribute(pair))),
            Rule::type_attribute => Some(Item::Attribute(self.type_attribute(pair))),
            Rule::block => Some(Item::Block(self.block(pair))),
            _ => None,
        }
    }

    fn attribute(&mut self, pair: Pair<'_, Rule>) -> Attribute {
        let span = self.span(&pair);
        let mut name = Ident {
            name: String::new(),
            span: Span::new(self.file, span.start(), span.start()),
        };
        let mut value = None;
        for inner in pair.into_inner() {
            match inner.as_rule() {
                Rule::ident => name = self.ident(&inner),
                Rule::expr => value = Some(self.expr(inner).0),
                _ => {}
            }
        }
        let value = value.unwrap_or(Expr {
            kind: ExprKind::Null,
            span: Span::new(self.file, span.end(), span.end()),
        });
        Attribute {
            span: name.span.to(value.span),
            name,
            value,
            trivia: Trivia::default(),
        }
    }

    fn type_attribute(&mut self, pair: Pair<'_, Rule>) -> Attribute {
        let start = pair.as_span().start();
        let name = Ident {
            name: "type".to_owned(),
            span: self.at(start, start + 4),
        };
        let mut value = Expr {
            kind: ExprKind::Null,
            span: name.span,
        };
        for inner in pair.into_inner() {
            if inner.as_rule() == Rule::type_expr {
                let ty = self.type_expr(inner);
                value = Expr {
                    span: ty.span,
                    kind: ExprKind::Type(ty),
                };
            }
        }
        Attribute {
            span: name.span.to(value.span),
            name,
            value,
            trivia: Trivia::default(),
        }
    }

    fn block(&mut self, pair: Pair<'_, Rule>) -> Block {
        let span = self.span(&pair);
        let mut kind = Ident {
            name: String::new(),
            span: Span::new(self.file, span.start(), span.start()),
        };
        let inner = pair.into_inner();
        // Kind, labels, body: the labels are the rest.
        let mut labels = Vec::with_capacity(inner.len().saturating_sub(2));
        let mut body = Body {
            items: Vec::new(),
            dangling: Vec::new(),
            span,
        };
        for inner in inner {
            match inner.as_rule() {
                Rule::ident => kind = self.ident(&inner),
                Rule::string => labels.push(self.block_label(inner)),
                Rule::block_body => body = self.block_body(inner),
                _ => {}
            }
        }
        Block {
            kind,
            labels,
            body,
            trivia: Trivia::default(),
            span,
        }
    }

    fn block_label(&mut self, pair: Pair<'_, Rule>) -> StringLit {
        // A plain label (no escape, no interpolation, as nearly all are) is
        // its text: no template is built for it only to be taken apart.
        let mut inner = pair.clone().into_inner();
        let plain = match (inner.next(), inner.next()) {
            (None, _) => Some(""),
            (Some(text), None) if text.as_rule() == Rule::string_text => Some(text.as_str()),
            _ => None,
        };
        if let Some(value) = plain {
            return StringLit {
                value: value.to_owned(),
                raw: pair.as_str().to_owned(),
                span: self.span(&pair),
            };
        }
        let template = self.string(pair).0;
        let value = match template.as_literal() {
            Some(value) => value.to_owned(),
            None => {
                let at = template
                    .parts
                    .iter()
                    .find_map(|p| match p {
                        TemplatePart::Interpolation { span, .. }
                        | TemplatePart::If { span, .. }
                        | TemplatePart::For { span, .. } => Some(*span),
                        TemplatePart::Literal { .. } => None,
                    })
                    .unwrap_or(template.span);
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::ParseUnexpectedToken,
                        at,
                        "a block label cannot interpolate",
                    )
                    .with_help("block labels are plain strings; use `$${` for a literal `${`"),
                );
                template
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        TemplatePart::Literal { value, .. } => Some(value.as_str()),
                        _ => None,
                    })
                    .collect()
            }
        };
        StringLit {
            value,
            raw: template.raw,
            span: template.span,
        }
    }

    fn block_body(&mut self, pair: Pair<'_, Rule>) -> Body {
        let span = self.span(&pair);
        let inner = pair.into_inner();
        let mut items = Vec::with_capacity(inner.len());
        for inner in inner {
            if let Some(item) = self.item(inner) {
                items.push(item);
            }
        }
        let dangling = attach(
            self.comments,
            self.text,
            &mut items,
            span.start() + 1,
            span.end().saturating_sub(1),
        );
        Body {
            items,
            dangling,
            span,
        }
    }

    // ---- expressions ------------------------------------------------------------

    /// `expr`: a flat chain, folded by precedence (shunting-yard).
    pub(crate) fn expr(&mut self, pair: Pair<'_, Rule>) -> Deep {
        let span = self.span(&pair);
        // Brackets are bounded by the scanner, but conditionals nest inside
        // `? ... :` without brackets.
        if self.depth >= MAX_EXPR_RECURSION {
            return self.node(ExprKind::Null, span, MAX_EXPR_DEPTH);
        }
        self.depth += 1;
        let result = self.expr_chain(pair, span);
        self.depth -= 1;
        result
    }

    fn expr_chain(&mut self, pair: Pair<'_, Rule>, span: Span) -> Deep {
        let mut operands: Vec<Deep> = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        let mut prefixes: Vec<(UnaryOp, Span)> = Vec::new();
        let mut current: Option<Deep> = None;
        for inner in pair.into_inner() {
            match inner.as_rule() {
                Rule::prefix_op => {
                    let op = if inner.as_str() == "!" {
                        UnaryOp::Not
                    } else {
                        UnaryOp::Negate
                    };
                    prefixes.push((op, self.span(&inner)));
                }
                Rule::get_attr | Rule::splat | Rule::index => {
                    if let Some(target) = current.take() {
                        current = Some(self.postfix(inner, target));
                    }
                }
                Rule::binary_op | Rule::conditional_op => {
                    if let Some(operand) = current.take() {
                        let operand = self.apply_prefixes(&mut prefixes, operand);
                        operands.push(operand);
                    }
                    let op = if inner.as_rule() == Rule::binary_op {
                        Op::Binary(binary_op(inner.as_str()), self.span(&inner))
                    } else {
                        let then = inner.into_inner().next().map(|e| self.expr(e));
                        Op::Conditional(then.unwrap_or_else(|| Self::null(span)))
                    };
                    // Left-associative binaries reduce on equal precedence;
                    // the right-associative conditional does not.
                    while let Some(top) = ops.last() {
                        let reduce = top.precedence() > op.precedence()
                            || (top.precedence() == op.precedence()
                                && matches!(op, Op::Binary(..)));
                        if !reduce {
                            break;
                        }
                        self.reduce(&mut operands, &mut ops);
                    }
                    ops.push(op);
                }
                _ => {
                    if let Some(operand) = current.take() {
                        let operand = self.apply_prefixes(&mut prefixes, operand);
                        operands.push(operand);
                    }
                    current = Some(self.primary(inner));
                }
            }
        }
        if let Some(operand) = current.take() {
            let operand = self.apply_prefixes(&mut prefixes, operand);
            // The common case, a lone operand: nothing to fold.
            if ops.is_empty() && operands.is_empty() {
                return operand;
            }
            operands.push(operand);
        }
        while !ops.is_empty() {
            self.reduce(&mut operands, &mut ops);
        }
        operands.pop().unwrap_or_else(|| Self::null(span))
    }

    fn reduce(&mut self, operands: &mut Vec<Deep>, ops: &mut Vec<Op>) {
        let (Some(op), Some(right)) = (ops.pop(), operands.pop()) else {
            return;
        };
        let Some(left) = operands.pop() else {
            operands.push(right);
            return;
        };
        let span = left.0.span.to(right.0.span);
        let result = match op {
            Op::Binary(op, op_span) => {
                let depth = left.1.max(right.1);
                self.node(
                    ExprKind::Binary {
                        op,
                        op_span,
                        left: Box::new(left.0),
                        right: Box::new(right.0),
                    },
                    span,
                    depth,
                )
            }
            Op::Conditional(then) => {
                let depth = left.1.max(right.1).max(then.1);
                self.node(
                    ExprKind::Conditional {
                        condition: Box::new(left.0),
                        then: Box::new(then.0),
                        otherwise: Box::new(right.0),
                    },
                    span,
                    depth,
                )
            }
        };
        operands.push(result);
    }

    /// Applies the prefix operators that precede an operand, innermost last.
    fn apply_prefixes(&mut self, prefixes: &mut Vec<(UnaryOp, Span)>, operand: Deep) -> Deep {
        let mut operand = operand;
        while let Some((op, op_span)) = prefixes.pop() {
            let span = op_span.to(operand.0.span);
            let depth = operand.1;
            operand = self.node(
                ExprKind::Unary {
                    op,
                    op_span,
                    operand: Box::new(operand.0),
                },
                span,
                depth,
            );
        }
        operand
    }

    /// Applies one postfix (`get_attr`, `splat` or `index`) to `target`.
    fn postfix(&mut self, pair: Pair<'_, Rule>, target: Deep) -> Deep {
        let inner_span = self.span(&pair);
        let (target, depth) = target;
        let span = target.span.to(inner_span);
        match pair.as_rule() {
            Rule::get_attr => {
                let name = pair.into_inner().next().map_or(
                    Ident {
                        name: String::new(),
                        span: inner_span,
                    },
                    |n| self.ident(&n),
                );
                self.node(
                    ExprKind::GetAttr {
                        target: Box::new(target),
                        name,
                    },
                    span,
                    depth,
                )
            }
            Rule::index => {
                let index = pair
                    .into_inner()
                    .next()
                    .map(|e| self.expr(e))
                    .unwrap_or_else(|| Self::null(inner_span));
                self.node(
                    ExprKind::Index {
                        target: Box::new(target),
                        index: Box::new(index.0),
                    },
                    span,
                    depth.max(index.1),
                )
            }
            _ => self.node(
                ExprKind::Splat {
                    target: Box::new(target),
                },
                span,
                depth,
            ),
        }
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> Deep {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::number => {
                self.check_number(pair.as_str(), span);
                (
                    Expr {
                        kind: ExprKind::Number(pair.as_str().to_owned()),
                        span,
                    },
                    1,
                )
            }
            Rule::bool_lit => (
                Expr {
                    kind: ExprKind::Bool(pair.as_str() == "true"),
                    span,
                },
                1,
            ),
            Rule::null_lit => Self::null(span),
            Rule::ident => (
                Expr {
                    kind: ExprKind::Variable(self.ident(&pair)),
                    span,
                },
                1,
            ),
            Rule::string => {
                let (template, depth) = self.string(pair);
                self.node(ExprKind::String(template), span, depth)
            }
            Rule::heredoc => {
                let (heredoc, depth) = self.heredoc(pair);
                self.node(ExprKind::Heredoc(heredoc), span, depth)
            }
            Rule::paren => {
                let inner = pair
                    .into_inner()
                    .next()
                    .map(|e| self.expr(e))
                    .unwrap_or_else(|| Self::null(span));
                self.node(ExprKind::Paren(Box::new(inner.0)), span, inner.1)
            }
            Rule::list => {
                let (collection, depth) = self.list(pair);
                self.node(ExprKind::List(collection), span, depth)
            }
            Rule::object => {
                let (collection, depth) = self.object(pair);
                self.node(ExprKind::Object(collection), span, depth)
            }
            Rule::call => self.call(pair),
            Rule::for_list => self.for_list(pair),
            Rule::for_object => self.for_object(pair),
            _ => Self::null(span),
        }
    }

    fn check_number(&mut self, text: &str, span: Span) {
        let problem = if text.ends_with(['e', 'E', '+', '-']) {
            Some("the exponent has no digits")
        } else if text.parse::<f64>().map_or(true, |n| !n.is_finite()) {
            Some("this number is too large")
        } else {
            None
        };
        if let Some(label) = problem {
            self.diagnostics.push(
                Diagnostic::error(Code::ParseInvalidNumber, span, label)
                    .with_help("numbers are written like `42`, `3.14` or `1e6`"),
            );
        }
    }

    /// Elements of a list or call with the comments between them.
    fn elements(&mut self, pairs: Vec<Pair<'_, Rule>>) -> (Vec<Element<Expr>>, u32) {
        let mut items = Vec::with_capacity(pairs.len());
        let mut depth = 0;
        for pair in pairs {
            let (value, d) = self.expr(pair);
            depth = depth.max(d);
            items.push(Element {
                value,
                trivia: Trivia::default(),
            });
        }
        (items, depth)
    }

    fn collection<T>(
        &mut self,
        items: Vec<Element<T>>,
        open: usize,
        close: usize,
        trailing_comma: bool,
    ) -> Collection<T>
    where
        Element<T>: super::comments::HasTrivia,
    {
        let mut items = items;
        let dangling = attach(self.comments, self.text, &mut items, open + 1, close);
        let multiline = self.text.get(open..close).is_some_and(|t| t.contains('\n'));
        Collection {
            items,
            dangling,
            multiline,
            trailing_comma,
        }
    }

    fn list(&mut self, pair: Pair<'_, Rule>) -> (Collection<Expr>, u32) {
        let span = self.span(&pair);
        let inner = pair.into_inner();
        let mut exprs = Vec::with_capacity(inner.len());
        let mut trailing_comma = false;
        for inner in inner {
            match inner.as_rule() {
                Rule::expr => exprs.push(inner),
                Rule::comma => trailing_comma = true,
                _ => {}
            }
        }
        let (items, depth) = self.elements(exprs);
        let collection = self.collection(
            items,
            span.start(),
            span.end().saturating_sub(1),
            trailing_comma,
        );
        (collection, depth)
    }

    fn object(&mut self, pair: Pair<'_, Rule>) -> (Collection<ObjectEntry>, u32) {
        let span = self.span(&pair);
        let inner = pair.into_inner();
        // Exact room: the tree lives long and most objects are small.
        let entries = inner
            .clone()
            .filter(|p| p.as_rule() == Rule::object_entry)
            .count();
        let mut items = Vec::with_capacity(entries);
        let mut depth = 0;
        let mut trailing_comma = false;
        for inner in inner {
            match inner.as_rule() {
                Rule::object_entry => {
                    trailing_comma = false;
                    let (entry, d) = self.object_entry(inner);
                    depth = depth.max(d);
                    items.push(Element {
                        value: entry,
                        trivia: Trivia::default(),
                    });
                }
                Rule::comma => trailing_comma = true,
                _ => {}
            }
        }
        let collection = self.collection(
            items,
            span.start(),
            span.end().saturating_sub(1),
            trailing_comma,
        );
        (collection, depth)
    }

    fn object_entry(&mut self, pair: Pair<'_, Rule>) -> (ObjectEntry, u32) {
        let span = self.span(&pair);
        let mut key = None;
        let mut value = None;
        for inner in pair.into_inner() {
            match inner.as_rule() {
                Rule::ident => key = Some((ObjectKey::Ident(self.ident(&inner)), 1)),
                Rule::string => {
                    let (t, d) = self.string(inner);
                    key = Some((ObjectKey::String(t), d));
                }
                Rule::paren => {
                    let (e, d) = self.primary(inner);
                    key = Some((ObjectKey::Expr(Box::new(e)), d));
                }
                Rule::expr => value = Some(self.expr(inner)),
                _ => {}
            }
        }
        let (key, key_depth) = key.unwrap_or_else(|| {
            (
                ObjectKey::Ident(Ident {
                    name: String::new(),
                    span,
                }),
                1,
            )
        });
        let (value, value_depth) = value.unwrap_or_else(|| Self::null(span));
        let entry = ObjectEntry {
            span: key.span().to(value.span),
            key,
            value,
        };
        (entry, key_depth.max(value_depth))
    }

    fn call(&mut self, pair: Pair<'_, Rule>) -> Deep {
        let span = self.span(&pair);
        let mut name = Ident {
            name: String::new(),
            span,
        };
        let inner = pair.into_inner();
        let mut args = Vec::with_capacity(inner.len());
        let mut expand_last = false;
        let mut trailing_comma = false;
        for inner in inner {
            match inner.as_rule() {
                Rule::call_name => name = self.ident(&inner),
                Rule::expr => args.push(inner),
                Rule::ellipsis => expand_last = true,
                Rule::comma => trailing_comma = true,
                _ => {}
            }
        }
        let (items, depth) = self.elements(args);
        let collection = self.collection(
            items,
            name.span.end(),
            span.end().saturating_sub(1),
            trailing_comma,
        );
        self.node(
            ExprKind::Call {
                name,
                args: collection,
                expand_last,
            },
            span,
            depth,
        )
    }

    /// The parts shared by both `for` forms: variables, then the expressions in
    /// order, then grouping and condition.
    #[allow(clippy::type_complexity)]
    fn for_parts(&mut self, pair: Pair<'_, Rule>) -> (Vec<Ident>, Vec<Deep>, bool, Option<Deep>) {
        let mut vars = Vec::new();
        let mut exprs = Vec::new();
        let mut grouping = false;
        let mut condition = None;
        for inner in pair.into_inner() {
            match inner.as_rule() {
                Rule::ident => vars.push(self.ident(&inner)),
                Rule::expr => exprs.push(self.expr(inner)),
                Rule::ellipsis => grouping = true,
                Rule::for_cond => {
                    condition = inner
                        .into_inner()
                        .find(|e| e.as_rule() == Rule::expr)
                        .map(|e| self.expr(e));
                }
                _ => {}
            }
        }
        (vars, exprs, grouping, condition)
    }

    fn for_vars(vars: Vec<Ident>, span: Span) -> (Option<Ident>, Ident) {
        let mut vars = vars.into_iter();
        let first = vars.next().unwrap_or(Ident {
            name: String::new(),
            span,
        });
        match vars.next() {
            Some(second) => (Some(first), second),
            None => (None, first),
        }
    }

    fn for_list(&mut self, pair: Pair<'_, Rule>) -> Deep {
        let span = self.span(&pair);
        let (vars, exprs, _, condition) = self.for_parts(pair);
        let (key_var, value_var) = Self::for_vars(vars, span);
        let mut exprs = exprs.into_iter();
        let collection = exprs.next().unwrap_or_else(|| Self::null(span));
        let body = exprs.next().unwrap_or_else(|| Self::null(span));
        let depth = collection
            .1
            .max(body.1)
            .max(condition.as_ref().map_or(0, |c| c.1));
        self.node(
            ExprKind::ForList(Box::new(ForList {
                key_var,
                value_var,
                collection: collection.0,
                body: body.0,
                condition: condition.map(|c| c.0),
            })),
            span,
            depth,
        )
    }

    fn for_object(&mut self, pair: Pair<'_, Rule>) -> Deep {
        let span = self.span(&pair);
        let (vars, exprs, grouping, condition) = self.for_parts(pair);
        let (key_var, value_var) = Self::for_vars(vars, span);
        let mut exprs = exprs.into_iter();
        let collection = exprs.next().unwrap_or_else(|| Self::null(span));
        let key = exprs.next().unwrap_or_else(|| Self::null(span));
        let value = exprs.next().unwrap_or_else(|| Self::null(span));
        let depth = collection
            .1
            .max(key.1)
            .max(value.1)
            .max(condition.as_ref().map_or(0, |c| c.1));
        self.node(
            ExprKind::ForObject(Box::new(ForObject {
                key_var,
                value_var,
                collection: collection.0,
                key: key.0,
                value: value.0,
                grouping,
                condition: condition.map(|c| c.0),
            })),
            span,
            depth,
        )
    }

    // ---- strings and heredocs ----------------------------------------------------

    /// `string`: a quoted template.
    pub(crate) fn string(&mut self, pair: Pair<'_, Rule>) -> (Template, u32) {
        let span = self.span(&pair);
        let raw = pair.as_str().to_owned();
        let inner = pair.into_inner();
        let mut parts = TemplateBuilder::with_capacity(inner.len());
        let mut depth = 0;
        for inner in inner {
            let inner_span = self.span(&inner);
            match inner.as_rule() {
                Rule::string_text => parts.text(inner.as_str(), inner_span),
                Rule::escaped_dollar => parts.text("${", inner_span),
                Rule::escaped_percent => parts.text("%{", inner_span),
                Rule::escape => {
                    let decoded = self.escape(inner.as_str(), inner_span);
                    parts.text(&decoded, inner_span);
                }
                rule => {
                    if let Some(piece) = self.template_piece(rule, inner, inner_span, &mut depth) {
                        parts.piece(piece);
                    }
                }
            }
        }
        let (parts, problems) = parts.finish();
        for problem in problems {
            self.diagnostics.push(problem);
        }
        (Template { parts, raw, span }, depth)
    }

    /// An interpolation or a directive inside a template; `None` for text.
    fn template_piece(
        &mut self,
        rule: Rule,
        pair: Pair<'_, Rule>,
        span: Span,
        depth: &mut u32,
    ) -> Option<Piece> {
        let kind = match rule {
            Rule::interpolation => DirectiveKind::Interpolation,
            Rule::directive_if => DirectiveKind::If,
            Rule::directive_else => DirectiveKind::Else,
            Rule::directive_endif => DirectiveKind::EndIf,
            Rule::directive_for => DirectiveKind::For,
            Rule::directive_endfor => DirectiveKind::EndFor,
            _ => return None,
        };
        let mut strip_left = false;
        let mut strip_right = false;
        let mut expr = None;
        let mut names = Vec::new();
        for inner in pair.into_inner() {
            match inner.as_rule() {
                Rule::strip_left => strip_left = true,
                Rule::strip_right => strip_right = true,
                Rule::ident => names.push(self.ident(&inner)),
                Rule::expr => {
                    let lowered = self.expr(inner);
                    *depth = (*depth).max(lowered.1);
                    expr = Some(lowered.0);
                }
                _ => {}
            }
        }
        let expr = expr.unwrap_or_else(|| Self::null(span).0);
        let value_var = names.pop();
        let key_var = names.pop();
        Some(Piece::Token(Token {
            kind: match (kind, value_var) {
                (DirectiveKind::Interpolation, _) => TokenKind::Interpolation(expr),
                (DirectiveKind::If, _) => TokenKind::If(expr),
                (DirectiveKind::Else, _) => TokenKind::Else,
                (DirectiveKind::EndIf, _) => TokenKind::EndIf,
                (DirectiveKind::For, Some(value_var)) => TokenKind::For(key_var, value_var, expr),
                (DirectiveKind::For, None) => TokenKind::Interpolation(expr),
                (DirectiveKind::EndFor, _) => TokenKind::EndFor,
            },
            span,
            strip_left,
            strip_right,
        }))
    }

    /// Decodes one backslash escape, reporting unknown ones.
    fn escape(&mut self, text: &str, span: Span) -> String {
        let decoded = match text {
            "\\n" => Some('\n'),
            "\\t" => Some('\t'),
            "\\r" => Some('\r'),
            "\\\"" => Some('"'),
            "\\\\" => Some('\\'),
            _ => text
                .strip_prefix("\\u")
                .or_else(|| text.strip_prefix("\\U"))
                .filter(|hex| hex.len() == 4 || hex.len() == 8)
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => c.to_string(),
            None => {
                let label = if text.len() <= 1 {
                    "a `\\` must be followed by an escape character".to_owned()
                } else {
                    format!("`{text}` is not an escape the language knows")
                };
                self.diagnostics.push(
                    Diagnostic::error(Code::ParseInvalidEscape, span, label).with_help(
                        "the escapes are \\n \\t \\r \\\" \\\\ \\uXXXX and \\UXXXXXXXX; write `\\\\` for a backslash",
                    ),
                );
                text.to_owned()
            }
        }
    }

    fn heredoc(&mut self, pair: Pair<'_, Rule>) -> (Heredoc, u32) {
        let mut indented = false;
        let mut marker = String::new();
        let mut raw_body = String::new();
        let mut closing_indent = String::new();
        let mut body = Vec::new();
        let mut depth = 0;
        for inner in pair.into_inner() {
            match inner.as_rule() {
                Rule::heredoc_indent_flag => indented = true,
                Rule::heredoc_marker => marker = inner.as_str().to_owned(),
                Rule::heredoc_closing_indent => closing_indent = inner.as_str().to_owned(),
                Rule::heredoc_body => {
                    raw_body = inner.as_str().to_owned();
                    for part in inner.into_inner() {
                        let span = self.span(&part);
                        let piece = match part.as_rule() {
                            Rule::heredoc_text | Rule::heredoc_newline => {
                                Piece::Text(part.as_str().to_owned(), span)
                            }
                            Rule::escaped_dollar => Piece::Text("${".to_owned(), span),
                            Rule::escaped_percent => Piece::Text("%{".to_owned(), span),
                            rule => match self.template_piece(rule, part, span, &mut depth) {
                                Some(piece) => piece,
                                None => continue,
                            },
                        };
                        body.push(piece);
                    }
                }
                _ => {}
            }
        }
        let mut pieces = heredoc_tokens(body.into_iter());
        apply_strip_markers(&mut pieces);
        if indented {
            strip_common_indent(&mut pieces);
        }
        let mut parts = TemplateBuilder::default();
        for piece in pieces {
            parts.piece(piece);
        }
        let (parts, problems) = parts.finish();
        for problem in problems {
            self.diagnostics.push(problem);
        }
        (
            Heredoc {
                marker,
                indented,
                parts,
                raw_body,
                closing_indent,
            },
            depth,
        )
    }

    // ---- types ----------------------------------------------------------------

    fn type_expr(&mut self, pair: Pair<'_, Rule>) -> TypeExpr {
        let span = self.span(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return TypeExpr {
                kind: TypeExprKind::Any,
                span,
            };
        };
        let rule = inner.as_rule();
        let kind = match rule {
            Rule::type_primitive => match inner.as_str() {
                "string" => TypeExprKind::String,
                "number" => TypeExprKind::Number,
                "bool" => TypeExprKind::Bool,
                _ => TypeExprKind::Any,
            },
            Rule::type_list | Rule::type_set | Rule::type_map | Rule::type_optional => {
                let element = inner.into_inner().next().map_or(
                    TypeExpr {
                        kind: TypeExprKind::Any,
                        span,
                    },
                    |t| self.type_expr(t),
                );
                let element = Box::new(element);
                match rule {
                    Rule::type_list => TypeExprKind::List(element),
                    Rule::type_set => TypeExprKind::Set(element),
                    Rule::type_map => TypeExprKind::Map(element),
                    _ => TypeExprKind::Optional(element),
                }
            }
            Rule::type_tuple => {
                TypeExprKind::Tuple(inner.into_inner().map(|t| self.type_expr(t)).collect())
            }
            Rule::type_object => {
                let mut fields = Vec::new();
                for field in inner.into_inner() {
                    let mut name = None;
                    let mut ty = None;
                    for part in field.into_inner() {
                        match part.as_rule() {
                            Rule::ident => name = Some(self.ident(&part)),
                            Rule::type_expr => ty = Some(self.type_expr(part)),
                            _ => {}
                        }
                    }
                    if let (Some(name), Some(ty)) = (name, ty) {
                        fields.push((name, ty));
                    }
                }
                TypeExprKind::Object(fields)
            }
            _ => TypeExprKind::Any,
        };
        TypeExpr { kind, span }
    }
}

/// A piece of a template before strip markers are applied and directives
/// are paired (in a heredoc, also before indentation is stripped).
enum Piece {
    Text(String, Span),
    Token(Token),
}

/// What rule a template piece came from.
#[derive(Clone, Copy)]
enum DirectiveKind {
    Interpolation,
    If,
    Else,
    EndIf,
    For,
    EndFor,
}

/// An interpolation or a directive, with its strip markers.
struct Token {
    kind: TokenKind,
    span: Span,
    strip_left: bool,
    strip_right: bool,
}

enum TokenKind {
    Interpolation(Expr),
    If(Expr),
    Else,
    EndIf,
    For(Option<Ident>, Ident, Expr),
    EndFor,
}

/// A heredoc's pieces as HCL's template tokens: the literal text of a line
/// up to and including its line break is one piece, and text never spans
/// two lines. The strip markers and the `<<-` indentation work on these, as
/// in Terraform.
fn heredoc_tokens(pieces: impl Iterator<Item = Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    for piece in pieces {
        match (out.last_mut(), piece) {
            (Some(Piece::Text(text, span)), Piece::Text(more, more_span))
                if !text.ends_with('\n') =>
            {
                text.push_str(&more);
                *span = span.to(more_span);
            }
            (_, piece) => out.push(piece),
        }
    }
    out
}

/// Applies `~` strip markers as HCL does: a marker trims the whitespace of
/// the one literal piece right beside it (which may leave it empty), and
/// the markers are then cleared so the builder does not strip again.
fn apply_strip_markers(pieces: &mut [Piece]) {
    for i in 0..pieces.len() {
        let (left, right) = match pieces.get_mut(i) {
            Some(Piece::Token(token)) => {
                let flags = (token.strip_left, token.strip_right);
                token.strip_left = false;
                token.strip_right = false;
                flags
            }
            _ => continue,
        };
        if left {
            if let Some(Piece::Text(text, _)) = i.checked_sub(1).and_then(|j| pieces.get_mut(j)) {
                text.truncate(text.trim_end().len());
            }
        }
        if right {
            if let Some(Piece::Text(text, _)) = pieces.get_mut(i + 1) {
                let start = text.len() - text.trim_start().len();
                text.drain(..start);
            }
        }
    }
}

/// `<<-`: removes the smallest indentation of the lines from every line,
/// as HCL computes it: a line that is only whitespace and a line break does
/// not count, a line that starts with an interpolation or directive (or
/// with literal text a strip marker emptied) counts as not indented.
fn strip_common_indent(pieces: &mut [Piece]) {
    let mut common = usize::MAX;
    let mut adjust = Vec::new();
    let mut line_start = true;
    for (i, piece) in pieces.iter().enumerate() {
        if line_start {
            line_start = false;
            let width = match piece {
                Piece::Text(text, _) => {
                    if text.trim_start().is_empty() && text.ends_with('\n') {
                        usize::MAX
                    } else {
                        adjust.push(i);
                        text.chars()
                            .take_while(|c| c.is_whitespace() && *c != '\n')
                            .count()
                    }
                }
                Piece::Token(_) => 0,
            };
            common = common.min(width);
        }
        if let Piece::Text(text, _) = piece {
            line_start = text.ends_with('\n');
        }
    }
    if common == 0 || common == usize::MAX {
        return;
    }
    for i in adjust {
        if let Some(Piece::Text(text, span)) = pieces.get_mut(i) {
            let width = text
                .chars()
                .take_while(|c| c.is_whitespace() && *c != '\n')
                .count()
                .min(common);
            let bytes: usize = text.chars().take(width).map(char::len_utf8).sum();
            text.drain(..bytes);
            span.start = span.start.saturating_add(u32::try_from(bytes).unwrap_or(0));
        }
    }
}

/// Collects template parts, merging adjacent literal text, applying `~`
/// strip markers and pairing directives into [`TemplatePart::If`] and
/// [`TemplatePart::For`].
#[derive(Default)]
struct TemplateBuilder {
    parts: Vec<TemplatePart>,
    /// The directives still open, innermost last, each with the parts that
    /// were being collected outside it.
    open: Vec<Open>,
    /// A `~}` asked for the whitespace at the start of the next text.
    strip_next: bool,
    /// Directives opened past [`MAX_DIRECTIVE_NESTING`] (reported once,
    /// then skipped with their closers).
    ignored_opens: usize,
    problems: Vec<Diagnostic>,
}

/// How deep `%{ if }` and `%{ for }` may nest in one template.
const MAX_DIRECTIVE_NESTING: usize = 64;

/// An open `if` or `for` directive.
struct Open {
    kind: OpenKind,
    span: Span,
    outer: Vec<TemplatePart>,
}

enum OpenKind {
    If {
        condition: Expr,
        /// The `then` parts once `%{ else }` was seen.
        then: Option<Vec<TemplatePart>>,
    },
    For {
        key_var: Option<Ident>,
        value_var: Ident,
        collection: Expr,
    },
}

impl TemplateBuilder {
    /// Room for `parts` parts at most (adjacent literals merge, so often fewer).
    fn with_capacity(parts: usize) -> Self {
        TemplateBuilder {
            parts: Vec::with_capacity(parts),
            ..TemplateBuilder::default()
        }
    }

    fn text(&mut self, text: &str, span: Span) {
        let text = if self.strip_next {
            let kept = text.trim_start();
            if kept.is_empty() {
                return;
            }
            self.strip_next = false;
            kept
        } else {
            text
        };
        if text.is_empty() {
            return;
        }
        if let Some(TemplatePart::Literal { value, span: last }) = self.parts.last_mut() {
            value.push_str(text);
            *last = last.to(span);
            return;
        }
        self.parts.push(TemplatePart::Literal {
            value: text.to_owned(),
            span,
        });
    }

    fn piece(&mut self, piece: Piece) {
        match piece {
            Piece::Text(text, span) => self.text(&text, span),
            Piece::Token(token) => self.token(token),
        }
    }

    fn token(&mut self, token: Token) {
        match token.kind {
            TokenKind::If(_) | TokenKind::For(..) if self.open.len() >= MAX_DIRECTIVE_NESTING => {
                if self.ignored_opens == 0 {
                    self.problems.push(
                        Diagnostic::error(
                            Code::ParseNestingTooDeep,
                            token.span,
                            "template directives nest too deeply here",
                        )
                        .with_help(format!(
                            "directives may nest at most {MAX_DIRECTIVE_NESTING} levels; split the template"
                        )),
                    );
                }
                self.ignored_opens += 1;
                return;
            }
            TokenKind::EndIf | TokenKind::EndFor if self.ignored_opens > 0 => {
                self.ignored_opens -= 1;
                return;
            }
            _ => {}
        }
        if token.strip_left {
            if let Some(TemplatePart::Literal { value, .. }) = self.parts.last_mut() {
                value.truncate(value.trim_end().len());
                if value.is_empty() {
                    self.parts.pop();
                }
            }
        }
        self.strip_next = token.strip_right;
        let span = token.span;
        match token.kind {
            TokenKind::Interpolation(expr) => {
                self.parts.push(TemplatePart::Interpolation { expr, span });
            }
            TokenKind::If(condition) => self.open.push(Open {
                kind: OpenKind::If {
                    condition,
                    then: None,
                },
                span,
                outer: std::mem::take(&mut self.parts),
            }),
            TokenKind::For(key_var, value_var, collection) => self.open.push(Open {
                kind: OpenKind::For {
                    key_var,
                    value_var,
                    collection,
                },
                span,
                outer: std::mem::take(&mut self.parts),
            }),
            TokenKind::Else => match self.open.last_mut() {
                Some(Open {
                    kind:
                        OpenKind::If {
                            then: then @ None, ..
                        },
                    ..
                }) => *then = Some(std::mem::take(&mut self.parts)),
                _ => self.unbalanced(
                    span,
                    "this `%{ else }` has no `%{ if }` to belong to",
                    "an `else` goes between `%{ if cond }` and `%{ endif }`, once",
                ),
            },
            TokenKind::EndIf => match self.open.pop() {
                Some(Open {
                    kind: OpenKind::If { condition, then },
                    span: opened,
                    outer,
                }) => {
                    let inner = std::mem::replace(&mut self.parts, outer);
                    let (then, otherwise) = match then {
                        Some(then) => (then, inner),
                        None => (inner, Vec::new()),
                    };
                    self.parts.push(TemplatePart::If {
                        condition,
                        then,
                        otherwise,
                        span: opened.to(span),
                    });
                }
                other => self.mismatched(other, span, "`%{ endif }`"),
            },
            TokenKind::EndFor => match self.open.pop() {
                Some(Open {
                    kind:
                        OpenKind::For {
                            key_var,
                            value_var,
                            collection,
                        },
                    span: opened,
                    outer,
                }) => {
                    let body = std::mem::replace(&mut self.parts, outer);
                    self.parts.push(TemplatePart::For {
                        key_var,
                        value_var,
                        collection,
                        body,
                        span: opened.to(span),
                    });
                }
                other => self.mismatched(other, span, "`%{ endfor }`"),
            },
        }
    }

    /// A closing directive that does not close the innermost open one.
    fn mismatched(&mut self, open: Option<Open>, span: Span, closer: &str) {
        match open {
            Some(open) => {
                // Put it back: the closer is the stray one.
                let expected = match open.kind {
                    OpenKind::If { .. } => "`%{ endif }`",
                    OpenKind::For { .. } => "`%{ endfor }`",
                };
                self.open.push(open);
                self.unbalanced(
                    span,
                    &format!("this {closer} closes nothing open here"),
                    &format!("the innermost open directive ends with {expected}"),
                );
            }
            None => self.unbalanced(
                span,
                &format!("this {closer} has no opening directive"),
                "directives pair up: `%{ if }`…`%{ endif }`, `%{ for }`…`%{ endfor }`; write `%%{` for a literal `%{`",
            ),
        }
    }

    fn unbalanced(&mut self, span: Span, label: &str, help: &str) {
        self.problems
            .push(Diagnostic::error(Code::ParseUnbalancedDirective, span, label).with_help(help));
    }

    fn finish(mut self) -> (Vec<TemplatePart>, Vec<Diagnostic>) {
        // Unclosed directives: report each, keep what they held as text so
        // that nothing else is reported about it.
        while let Some(open) = self.open.pop() {
            let closer = match open.kind {
                OpenKind::If { .. } => "`%{ endif }`",
                OpenKind::For { .. } => "`%{ endfor }`",
            };
            self.unbalanced(
                open.span,
                &format!("this directive is never closed with {closer}"),
                &format!("end it with {closer} before the end of the string"),
            );
            let inner = std::mem::replace(&mut self.parts, open.outer);
            if let OpenKind::If {
                then: Some(then), ..
            } = open.kind
            {
                self.parts.extend(then);
            }
            self.parts.extend(inner);
        }
        // Merged literals leave spare room that would live as long as the tree.
        if self.parts.capacity() > self.parts.len() {
            self.parts.shrink_to_fit();
        }
        (self.parts, self.problems)
    }
}
