//! The syntax tree of one `.infra` file.
//!
//! Every node carries a [`Span`]. Comments are attached to the items they sit
//! next to (leading lines above, a trailing comment on the same line, dangling
//! comments before a closing brace or bracket) so the formatter keeps them.
//!
//! Terminology: a *body* is the inside of a file or of `{ ... }` after a block
//! header; it holds *items*, each an *attribute* (`name = expr`) or a nested
//! *block* (`kind "label" { ... }`). An *object* is the `{ key = value }`
//! expression, which is a value, not a body.
//!
//! Invariant: no pest type appears here; nodes hold no names resolved and no
//! evaluated values.

use crate::diag::{FileId, Span};

/// An identifier with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The text of the identifier.
    pub name: String,
    /// Where it is.
    pub span: Span,
}

/// One comment, with its delimiters, exactly as written (`# x`, `// x`, `/* x */`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The raw text, delimiters included, without the trailing newline.
    pub text: String,
    /// Where it is.
    pub span: Span,
    /// Blank lines before this comment in the source (capped at 1 by the formatter).
    pub blank_lines_before: u32,
}

/// Comments attached to an item, a list element or an object entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trivia {
    /// Whole-line comments directly above.
    pub leading: Vec<Comment>,
    /// A comment after the node on the same line (boxed: most nodes have
    /// none, and every attribute and element holds a `Trivia`).
    pub trailing: Option<Box<Comment>>,
    /// Blank lines between the previous item (or the opening brace) and this one,
    /// leading comments included in the count's position.
    pub blank_lines_before: u32,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Which file.
    pub id: FileId,
    /// The top-level items (blocks; attributes at top level are kept so that
    /// `check` can report them).
    pub body: Body,
}

/// The inside of a file or of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// The items in source order.
    pub items: Vec<Item>,
    /// Comments after the last item (before `}` or the end of the file).
    pub dangling: Vec<Comment>,
    /// Where the body is, braces included for a block body.
    pub span: Span,
}

/// One entry of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `name = expr`.
    Attribute(Attribute),
    /// `kind "label"... { body }`.
    Block(Block),
}

impl Item {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            Item::Attribute(a) => a.span,
            Item::Block(b) => b.span,
        }
    }

    /// The comments attached to the item.
    pub fn trivia(&self) -> &Trivia {
        match self {
            Item::Attribute(a) => &a.trivia,
            Item::Block(b) => &b.trivia,
        }
    }
}

/// `name = expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// The attribute name.
    pub name: Ident,
    /// The value.
    pub value: Expr,
    /// Comments around it.
    pub trivia: Trivia,
    /// From the name to the end of the value.
    pub span: Span,
}

/// `kind "label"... { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The block kind (`resource`, `lifecycle`, ...).
    pub kind: Ident,
    /// The string labels, 0 or more (the checker enforces the count per kind).
    pub labels: Vec<StringLit>,
    /// The body, braces included in its span.
    pub body: Body,
    /// Comments around it.
    pub trivia: Trivia,
    /// From the kind to the closing brace.
    pub span: Span,
}

impl Block {
    /// The span of the header: kind and labels.
    pub fn header_span(&self) -> Span {
        match self.labels.last() {
            Some(label) => self.kind.span.to(label.span),
            None => self.kind.span,
        }
    }

    /// The attributes of the body.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.body.items.iter().filter_map(|item| match item {
            Item::Attribute(a) => Some(a),
            Item::Block(_) => None,
        })
    }

    /// The nested blocks of the body.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.body.items.iter().filter_map(|item| match item {
            Item::Block(b) => Some(b),
            Item::Attribute(_) => None,
        })
    }

    /// The first attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes().find(|a| a.name.name == name)
    }
}

/// A string literal without interpolation (block labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringLit {
    /// The decoded value.
    pub value: String,
    /// The raw source text, quotes included.
    pub raw: String,
    /// Where it is, quotes included.
    pub span: Span,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What kind of expression.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number literal, kept as written (`lang` parses it exactly).
    Number(String),
    /// A quoted string, possibly with `${}` interpolations.
    String(Template),
    /// A heredoc `<<EOT` / `<<-EOT`.
    Heredoc(Heredoc),
    /// `[a, b, c]`.
    List(Collection<Expr>),
    /// `{ key = value, "k" = v }`.
    Object(Collection<ObjectEntry>),
    /// A bare name at the root of a reference or alone: `var`, `each`, `aws_s3_bucket`.
    Variable(Ident),
    /// `expr.name` (also `expr.0`, the legacy numeric attribute form).
    GetAttr {
        /// The object.
        target: Box<Expr>,
        /// The attribute name.
        name: Ident,
    },
    /// `expr[index]`.
    Index {
        /// The collection.
        target: Box<Expr>,
        /// The key or index.
        index: Box<Expr>,
    },
    /// `expr[*]`: the full splat; attribute accesses after it apply to each element.
    Splat {
        /// The collection.
        target: Box<Expr>,
    },
    /// `name(args...)`, with `...` expanding the last argument when `expand_last`.
    Call {
        /// The function name.
        name: Ident,
        /// The arguments.
        args: Collection<Expr>,
        /// Whether the last argument ends with `...`.
        expand_last: bool,
    },
    /// `!x`, `-x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Where the operator is.
        op_span: Span,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Where the operator is.
        op_span: Span,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `cond ? a : b`.
    Conditional {
        /// The condition.
        condition: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value when false.
        otherwise: Box<Expr>,
    },
    /// `[for k, v in coll : value if cond]`.
    ForList(Box<ForList>),
    /// `{for k, v in coll : key => value... if cond}`.
    ForObject(Box<ForObject>),
    /// `(expr)`, kept so the formatter can print what was written.
    Paren(Box<Expr>),
    /// A type expression: `string`, `list(string)`, `object({ a = number })`.
    /// Produced only for the value of an attribute named `type`, when it parses
    /// as a type; otherwise that value is an ordinary expression.
    Type(TypeExpr),
}

/// A bracketed, separated sequence (list elements, object entries, call
/// arguments), with the comments inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection<T> {
    /// The elements with their comments.
    pub items: Vec<Element<T>>,
    /// Comments after the last element, before the closer.
    pub dangling: Vec<Comment>,
    /// Whether the source wrote it over several lines (the formatter keeps a
    /// multi-line collection multi-line).
    pub multiline: bool,
    /// Whether the source had a comma after the last element.
    pub trailing_comma: bool,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Collection {
            items: Vec::new(),
            dangling: Vec::new(),
            multiline: false,
            trailing_comma: false,
        }
    }
}

impl<T> Collection<T> {
    /// The elements without their comments.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|e| &e.value)
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One element of a [`Collection`] with its comments.
#[derive(Debug, Clone, PartialEq)]
pub struct Element<T> {
    /// The element.
    pub value: T,
    /// Comments around it.
    pub trivia: Trivia,
}

/// `key = value` (or `key: value`) in an object expression.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEntry {
    /// The key.
    pub key: ObjectKey,
    /// The value.
    pub value: Expr,
    /// From key to value.
    pub span: Span,
}

/// The key of an object entry.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectKey {
    /// A bare identifier: `name = ...`.
    Ident(Ident),
    /// A quoted string: `"name" = ...` (may interpolate).
    String(Template),
    /// A parenthesised expression: `(var.key) = ...`.
    Expr(Box<Expr>),
}

impl ObjectKey {
    /// The span of the key.
    pub fn span(&self) -> Span {
        match self {
            ObjectKey::Ident(i) => i.span,
            ObjectKey::String(t) => t.span,
            ObjectKey::Expr(e) => e.span,
        }
    }

    /// The key as a literal name, when it is an identifier or a string without
    /// interpolation.
    pub fn literal(&self) -> Option<&str> {
        match self {
            ObjectKey::Ident(i) => Some(&i.name),
            ObjectKey::String(t) => t.as_literal(),
            ObjectKey::Expr(_) => None,
        }
    }
}

/// A quoted string: literal parts and interpolations.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The parts in order.
    pub parts: Vec<TemplatePart>,
    /// The raw source, quotes included.
    pub raw: String,
    /// Where it is, quotes included.
    pub span: Span,
}

impl Template {
    /// The value when the template is a single literal (or empty).
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [TemplatePart::Literal { value, .. }] => Some(value),
            _ => None,
        }
    }
}

/// A part of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    /// Literal text.
    Literal {
        /// The decoded text (escapes resolved, `$${` turned into `${`).
        value: String,
        /// Where it is.
        span: Span,
    },
    /// `${ expr }`.
    Interpolation {
        /// The expression.
        expr: Expr,
        /// From `${` to `}`.
        span: Span,
    },
    /// `%{ if condition }then%{ else }otherwise%{ endif }` (the `else` part
    /// is optional). `~` strip markers are already applied to the
    /// neighbouring literals.
    If {
        /// The condition.
        condition: Expr,
        /// The parts shown when the condition is true.
        then: Vec<TemplatePart>,
        /// The parts shown when it is false (empty without `%{ else }`).
        otherwise: Vec<TemplatePart>,
        /// From the `%{` of the `if` to the `}` of the `endif`.
        span: Span,
    },
    /// `%{ for value in collection }body%{ endfor }`, or `%{ for key, value
    /// in collection }`.
    For {
        /// The key (index) name, when two names are given.
        key_var: Option<Ident>,
        /// The element name.
        value_var: Ident,
        /// What is iterated over.
        collection: Expr,
        /// The parts repeated for each element.
        body: Vec<TemplatePart>,
        /// From the `%{` of the `for` to the `}` of the `endfor`.
        span: Span,
    },
}

/// A heredoc string.
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    /// The marker word (`EOT`).
    pub marker: String,
    /// `<<-`: common leading whitespace of the body lines is removed.
    pub indented: bool,
    /// The body parsed as a template (indentation already stripped for `<<-`).
    pub parts: Vec<TemplatePart>,
    /// The raw body exactly as in the source, from after the opening line's
    /// newline to before the closing marker line's indentation; the formatter
    /// prints it untouched.
    pub raw_body: String,
    /// The indentation written before the closing marker.
    pub closing_indent: String,
}

/// `!` or `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `!`.
    Not,
    /// `-`.
    Negate,
}

/// Binary operators, from loosest to tightest: `||`, `&&`, `== !=`,
/// `< <= > >=`, `+ -`, `* / %`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `||`.
    Or,
    /// `&&`.
    And,
    /// `==`.
    Eq,
    /// `!=`.
    NotEq,
    /// `<`.
    Less,
    /// `<=`.
    LessEq,
    /// `>`.
    Greater,
    /// `>=`.
    GreaterEq,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::Less => "<",
            BinaryOp::LessEq => "<=",
            BinaryOp::Greater => ">",
            BinaryOp::GreaterEq => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::NotEq => 3,
            BinaryOp::Less | BinaryOp::LessEq | BinaryOp::Greater | BinaryOp::GreaterEq => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        }
    }
}

impl UnaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Not => "!",
            UnaryOp::Negate => "-",
        }
    }
}

/// `[for key, value in collection : body if condition]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForList {
    /// The key (or index) variable, when two are named.
    pub key_var: Option<Ident>,
    /// The value variable.
    pub value_var: Ident,
    /// What is iterated.
    pub collection: Expr,
    /// The element produced.
    pub body: Expr,
    /// The filter.
    pub condition: Option<Expr>,
}

/// `{for key, value in collection : k => v... if condition}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForObject {
    /// The key variable, when two are named.
    pub key_var: Option<Ident>,
    /// The value variable.
    pub value_var: Ident,
    /// What is iterated.
    pub collection: Expr,
    /// The key produced.
    pub key: Expr,
    /// The value produced.
    pub value: Expr,
    /// `...` after the value: group values with the same key into lists.
    pub grouping: bool,
    /// The filter.
    pub condition: Option<Expr>,
}

/// A type expression.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    /// What type.
    pub kind: TypeExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of type expression.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExprKind {
    /// `string`.
    String,
    /// `number`.
    Number,
    /// `bool`.
    Bool,
    /// `any`.
    Any,
    /// `list(T)`.
    List(Box<TypeExpr>),
    /// `set(T)`.
    Set(Box<TypeExpr>),
    /// `map(T)`.
    Map(Box<TypeExpr>),
    /// `object({ name = T, ... })`.
    Object(Vec<(Ident, TypeExpr)>),
    /// `tuple([T, ...])`.
    Tuple(Vec<TypeExpr>),
    /// `optional(T)` (only inside `object`).
    Optional(Box<TypeExpr>),
}
