//! Parser tests: `parses_to`-style checks on tricky rules, comments,
//! recovery, nesting and no-panic smoke tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::ast::*;
use super::parse;
use crate::diag::{Code, FileId};

/// An S-expression of an expression, for compact assertions.
fn sexpr(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Null => "null".into(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Number(n) => n.clone(),
        ExprKind::String(t) => template(&t.parts),
        ExprKind::Heredoc(h) => format!("(heredoc {})", template(&h.parts)),
        ExprKind::List(c) => format!("[{}]", c.values().map(sexpr).collect::<Vec<_>>().join(" ")),
        ExprKind::Object(c) => format!(
            "{{{}}}",
            c.values()
                .map(|e| format!("{}={}", key(&e.key), sexpr(&e.value)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ExprKind::Variable(i) => i.name.clone(),
        ExprKind::GetAttr { target, name } => format!("(. {} {})", sexpr(target), name.name),
        ExprKind::Index { target, index } => format!("([] {} {})", sexpr(target), sexpr(index)),
        ExprKind::Splat { target } => format!("([*] {})", sexpr(target)),
        ExprKind::Call {
            name,
            args,
            expand_last,
        } => format!(
            "({}{}{})",
            name.name,
            args.values()
                .map(|a| format!(" {}", sexpr(a)))
                .collect::<String>(),
            if *expand_last { " ..." } else { "" }
        ),
        ExprKind::Unary { op, operand, .. } => format!("({} {})", op.symbol(), sexpr(operand)),
        ExprKind::Binary {
            op, left, right, ..
        } => {
            format!("({} {} {})", op.symbol(), sexpr(left), sexpr(right))
        }
        ExprKind::Conditional {
            condition,
            then,
            otherwise,
        } => format!(
            "(? {} {} {})",
            sexpr(condition),
            sexpr(then),
            sexpr(otherwise)
        ),
        ExprKind::ForList(f) => format!(
            "(for-list {}{} {} {}{})",
            f.key_var
                .as_ref()
                .map(|k| format!("{} ", k.name))
                .unwrap_or_default(),
            f.value_var.name,
            sexpr(&f.collection),
            sexpr(&f.body),
            f.condition
                .as_ref()
                .map(|c| format!(" if {}", sexpr(c)))
                .unwrap_or_default()
        ),
        ExprKind::ForObject(f) => format!(
            "(for-object {}{} {} {} {}{}{})",
            f.key_var
                .as_ref()
                .map(|k| format!("{} ", k.name))
                .unwrap_or_default(),
            f.value_var.name,
            sexpr(&f.collection),
            sexpr(&f.key),
            sexpr(&f.value),
            if f.grouping { "..." } else { "" },
            f.condition
                .as_ref()
                .map(|c| format!(" if {}", sexpr(c)))
                .unwrap_or_default()
        ),
        ExprKind::Paren(e) => format!("(paren {})", sexpr(e)),
        ExprKind::Type(t) => format!("(type {})", ty(t)),
    }
}

fn key(k: &ObjectKey) -> String {
    match k {
        ObjectKey::Ident(i) => i.name.clone(),
        ObjectKey::String(t) => template(&t.parts),
        ObjectKey::Expr(e) => sexpr(e),
    }
}

fn template(parts: &[TemplatePart]) -> String {
    let inner: Vec<String> = parts
        .iter()
        .map(|p| match p {
            TemplatePart::Literal { value, .. } => format!("{value:?}"),
            TemplatePart::Interpolation { expr, .. } => format!("${{{}}}", sexpr(expr)),
            TemplatePart::If {
                condition,
                then,
                otherwise,
                ..
            } => format!(
                "(if {} {} {})",
                sexpr(condition),
                template(then),
                template(otherwise)
            ),
            TemplatePart::For {
                key_var,
                value_var,
                collection,
                body,
                ..
            } => format!(
                "(for {}{} {} {})",
                key_var
                    .as_ref()
                    .map(|k| format!("{},", k.name))
                    .unwrap_or_default(),
                value_var.name,
                sexpr(collection),
                template(body)
            ),
        })
        .collect();
    format!("(str {})", inner.join(" "))
}

fn ty(t: &TypeExpr) -> String {
    match &t.kind {
        TypeExprKind::String => "string".into(),
        TypeExprKind::Number => "number".into(),
        TypeExprKind::Bool => "bool".into(),
        TypeExprKind::Any => "any".into(),
        TypeExprKind::List(e) => format!("list({})", ty(e)),
        TypeExprKind::Set(e) => format!("set({})", ty(e)),
        TypeExprKind::Map(e) => format!("map({})", ty(e)),
        TypeExprKind::Optional(e) => format!("optional({})", ty(e)),
        TypeExprKind::Tuple(es) => {
            format!("tuple({})", es.iter().map(ty).collect::<Vec<_>>().join(","))
        }
        TypeExprKind::Object(fs) => format!(
            "object({})",
            fs.iter()
                .map(|(n, t)| format!("{}={}", n.name, ty(t)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn parse_ok(text: &str) -> File {
    let (file, diagnostics) = parse(FileId(0), text);
    assert!(
        diagnostics.is_empty(),
        "unexpected diagnostics for {text:?}: {diagnostics:#?}"
    );
    file
}

/// The value of the single attribute `a = <text>`.
fn value(text: &str) -> String {
    let source = format!("a = {text}\n");
    let file = parse_ok(&source);
    match file.body.items.first() {
        Some(Item::Attribute(a)) => sexpr(&a.value),
        other => panic!("expected an attribute, got {other:?}"),
    }
}

macro_rules! parses_to {
    ($($name:ident: $input:expr => $expected:expr;)*) => {
        $(
            #[test]
            fn $name() {
                assert_eq!(value($input), $expected);
            }
        )*
    };
}

parses_to! {
    precedence_mul_over_add: "1 + 2 * 3" => "(+ 1 (* 2 3))";
    precedence_left_assoc: "a - b - c" => "(- (- a b) c)";
    precedence_comparison_and_logic: "a < 1 || b >= 2 && c != d" => "(|| (< a 1) (&& (>= b 2) (!= c d)))";
    conditional_right_assoc: "a ? b : c ? d : e" => "(? a b (? c d e))";
    conditional_nested_middle: "a ? b ? c : d : e" => "(? a (? b c d) e)";
    conditional_loosest: "a || b ? c + 1 : d" => "(? (|| a b) (+ c 1) d)";
    unary_binds_looser_than_postfix: "-a.b[0]" => "(- ([] (. a b) 0))";
    not_binds_tighter_than_and: "!a && b" => "(&& (! a) b)";
    double_unary: "!!a" => "(! (! a))";
    modulo_and_division: "a % b / c" => "(/ (% a b) c)";
    splat: "aws_instance.web[*].id" => "(. ([*] (. aws_instance web)) id)";
    legacy_numeric_attr: "a.0.b" => "(. (. a 0) b)";
    call_args: "f(a, b,)" => "(f a b)";
    call_expand: "concat(xs...)" => "(concat xs ...)";
    nested_call: "lookup(m, \"k\", null)" => "(lookup m (str \"k\") null)";
    numbers: "[1, 2.5, 1e3, 6.02E+23]" => "[1 2.5 1e3 6.02E+23]";
    literals: "[true, false, null]" => "[true false null]";
    for_list: "[for x in xs : f(x) if c]" => "(for-list x xs (f x) if c)";
    for_list_two_vars: "[for i, x in xs : x]" => "(for-list i x xs x)";
    for_object: "{for k, v in m : k => v}" => "(for-object k v m k v)";
    for_object_grouping: "{for k, v in m : v.g => v... if v.on}" => "(for-object k v m (. v g) v... if (. v on))";
    object_keys: "{ a = 1, \"b c\" = 2, (var.k) = 3, d: 4 }" => "{a=1 (str \"b c\")=2 (paren (. var k))=3 d=4}";
    object_newlines: "{\n  a = 1\n  b = 2\n}" => "{a=1 b=2}";
    list_of_objects: "[{a = 1}, {}]" => "[{a=1} {}]";
    interpolation: "\"shop_${env.name}\"" => "(str \"shop_\" ${(. env name)})";
    nested_quotes_in_interpolation: "\"${lookup(m, \"k\")}!\"" => "(str ${(lookup m (str \"k\"))} \"!\")";
    dollar_escape: "\"$${literal} ${x}\"" => "(str \"${literal} \" ${x})";
    escapes: r#""a\n\t\"\\\u00e9\U0001F600""# => "(str \"a\\n\\t\\\"\\\\é😀\")";
    lone_dollar: "\"cost: $5\"" => "(str \"cost: $5\")";
    paren: "(a + b) * c" => "(* (paren (+ a b)) c)";
    directive_if: "\"%{ if c }a%{ else }b%{ endif }\"" => "(str (if c (str \"a\") (str \"b\")))";
    directive_if_without_else: "\"x%{ if c }a%{ endif }y\"" => "(str \"x\" (if c (str \"a\") (str )) \"y\")";
    directive_for: "\"%{ for k, v in m }${k}%{ endfor }\"" => "(str (for k,v m (str ${k})))";
    directive_strip: "\"a %{~ for x in xs ~} ${x} %{~ endfor ~} b\"" => "(str \"a\" (for x xs (str ${x})) \"b\")";
    interpolation_strip: "\"a ${~ x ~} b\"" => "(str \"a\" ${x} \"b\")";
    percent_escape: "\"%%{ if } 5%\"" => "(str \"%{ if } 5%\")";
    string_ops_not_types: "string" => "string";
}

#[test]
fn type_expressions() {
    let file = parse_ok(concat!(
        "variable \"x\" {\n",
        "  type = object({ a = string, b = optional(list(number)), c = map(any), d = tuple([bool, set(string)]) })\n",
        "}\n",
        "resource \"aws_x\" \"y\" {\n",
        "  type = \"String\"\n",
        "}\n",
        "variable \"z\" {\n",
        "  type = string\n",
        "  default = 1\n",
        "}\n",
    ));
    let values: Vec<String> = file
        .body
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Block(b) => b.attribute("type").map(|a| sexpr(&a.value)),
            Item::Attribute(_) => None,
        })
        .collect();
    assert_eq!(
        values,
        vec![
            "(type object(a=string,b=optional(list(number)),c=map(any),d=tuple(bool,set(string))))",
            "(str \"String\")",
            "(type string)",
        ]
    );
}

#[test]
fn call_needs_paren_right_after_name() {
    let (_, diagnostics) = parse(FileId(0), "a = x\n(y)\n");
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(
        diagnostics.iter().next().unwrap().code,
        Code::ParseUnexpectedToken
    );
}

#[test]
fn blocks_and_bodies() {
    let file = parse_ok(concat!(
        "resource \"local_file\" \"x\" {\n",
        "  lifecycle { create_before_destroy = true }\n",
        "  path = \"a\", mode = 1\n",
        "}\n",
        "moved { from = a.b, to = c.d }\n",
        "locals {}\n",
    ));
    let blocks: Vec<&Block> = file
        .body
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Block(b) => Some(b),
            Item::Attribute(_) => None,
        })
        .collect();
    assert_eq!(blocks.len(), 3);
    let first = blocks[0];
    assert_eq!(first.kind.name, "resource");
    assert_eq!(
        first
            .labels
            .iter()
            .map(|l| l.value.as_str())
            .collect::<Vec<_>>(),
        ["local_file", "x"]
    );
    assert_eq!(first.blocks().count(), 1);
    assert_eq!(first.attributes().count(), 2);
    assert_eq!(blocks[1].attributes().count(), 2);
    assert_eq!(blocks[2].body.items.len(), 0);
}

#[test]
fn spans_are_exact() {
    let text = "# c\nresource \"a\" \"b\" {\n  x = [1, 2]\n}\n";
    let file = parse_ok(text);
    let Item::Block(block) = &file.body.items[0] else {
        panic!()
    };
    assert_eq!(
        block.span.slice(text),
        "resource \"a\" \"b\" {\n  x = [1, 2]\n}"
    );
    assert_eq!(block.labels[1].span.slice(text), "\"b\"");
    assert_eq!(block.body.span.slice(text), "{\n  x = [1, 2]\n}");
    let attr = block.attribute("x").unwrap();
    assert_eq!(attr.span.slice(text), "x = [1, 2]");
    assert_eq!(attr.value.span.slice(text), "[1, 2]");
    let ExprKind::List(list) = &attr.value.kind else {
        panic!()
    };
    assert!(!list.multiline);
    assert!(!list.trailing_comma);
    assert_eq!(list.items[1].value.span.slice(text), "2");
}

#[test]
fn collection_flags() {
    let file = parse_ok("a = [\n  1,\n  2,\n]\nb = { x = 1, }\n");
    let Item::Attribute(a) = &file.body.items[0] else {
        panic!()
    };
    let ExprKind::List(list) = &a.value.kind else {
        panic!()
    };
    assert!(list.multiline && list.trailing_comma);
    let Item::Attribute(b) = &file.body.items[1] else {
        panic!()
    };
    let ExprKind::Object(object) = &b.value.kind else {
        panic!()
    };
    assert!(!object.multiline && object.trailing_comma);
}

#[test]
fn heredoc_plain_with_decoy_marker() {
    let text = "a = <<EOT\nhello ${name}\n  EOTX is not the end\nEOT is not either\nEOT\nb = 1\n";
    let file = parse_ok(text);
    let Item::Attribute(a) = &file.body.items[0] else {
        panic!()
    };
    let ExprKind::Heredoc(h) = &a.value.kind else {
        panic!()
    };
    assert_eq!(h.marker, "EOT");
    assert!(!h.indented);
    assert_eq!(
        h.raw_body,
        "hello ${name}\n  EOTX is not the end\nEOT is not either\n"
    );
    assert_eq!(
        template(&h.parts),
        "(str \"hello \" ${name} \"\\n  EOTX is not the end\\nEOT is not either\\n\")"
    );
    assert_eq!(
        a.value.span.slice(text),
        "<<EOT\nhello ${name}\n  EOTX is not the end\nEOT is not either\nEOT"
    );
    assert_eq!(file.body.items.len(), 2);
}

#[test]
fn heredoc_indented_strips_common_indent() {
    let text = "x {\n  a = <<-EOT\n    one\n      two ${v}\n\n    three\n    EOT\n}\n";
    let file = parse_ok(text);
    let Item::Block(b) = &file.body.items[0] else {
        panic!()
    };
    let a = b.attribute("a").unwrap();
    let ExprKind::Heredoc(h) = &a.value.kind else {
        panic!()
    };
    assert!(h.indented);
    assert_eq!(h.closing_indent, "    ");
    assert_eq!(h.raw_body, "    one\n      two ${v}\n\n    three\n");
    assert_eq!(
        template(&h.parts),
        "(str \"one\\n  two \" ${v} \"\\n\\nthree\\n\")"
    );
}

#[test]
fn heredoc_empty_body() {
    let file = parse_ok("a = <<EOT\nEOT\nb = <<-X\n  X\n");
    let Item::Attribute(a) = &file.body.items[0] else {
        panic!()
    };
    let ExprKind::Heredoc(h) = &a.value.kind else {
        panic!()
    };
    assert_eq!(h.raw_body, "");
    assert!(h.parts.is_empty());
    assert_eq!(file.body.items.len(), 2);
}

#[test]
fn heredoc_inside_call() {
    let file = parse_ok("a = jsonencode(<<EOT\n{\"a\": 1}\nEOT\n)\n");
    let Item::Attribute(a) = &file.body.items[0] else {
        panic!()
    };
    assert_eq!(
        sexpr(&a.value),
        "(jsonencode (heredoc (str \"{\\\"a\\\": 1}\\n\")))"
    );
}

const COMMENTS_EVERYWHERE: &str = r#"# file header

// about the stack
stack "shop" { # after the header
  # leading of state
  state = "local" # trailing of state
  /* block comment */ other = 1
  list = [
    # leading of 1
    1, # trailing of 1
    2,
    # dangling in list
  ]
  obj = {
    a = 1 // trailing of a

    # leading of b
    b = 2
    # dangling in object
  }
  sum = 1 + /* inside an expression */ 2
  call = f(
    a, # trailing of arg a
    b
  )
  nested "x" /* between header and brace */ {
    # dangling in nested body
  }
  # dangling in stack
}

/* before the last block */
locals {
  x = "${a # in an interpolation
  }"
}
# dangling at the end of the file
"#;

fn all_comments(file: &File) -> Vec<String> {
    fn trivia(t: &Trivia, out: &mut Vec<String>) {
        out.extend(t.leading.iter().map(|c| c.text.clone()));
        out.extend(t.trailing.iter().map(|c| c.text.clone()));
    }
    fn body(b: &Body, out: &mut Vec<String>) {
        for item in &b.items {
            trivia(item.trivia(), out);
            match item {
                Item::Attribute(a) => expr(&a.value, out),
                Item::Block(b) => body(&b.body, out),
            }
        }
        out.extend(b.dangling.iter().map(|c| c.text.clone()));
    }
    fn collection<T>(
        c: &Collection<T>,
        out: &mut Vec<String>,
        each: impl Fn(&T, &mut Vec<String>),
    ) {
        for e in &c.items {
            trivia(&e.trivia, out);
            each(&e.value, out);
        }
        out.extend(c.dangling.iter().map(|c| c.text.clone()));
    }
    fn expr(e: &Expr, out: &mut Vec<String>) {
        match &e.kind {
            ExprKind::List(c) => collection(c, out, expr),
            ExprKind::Object(c) => collection(c, out, |entry, out| expr(&entry.value, out)),
            ExprKind::Call { args, .. } => collection(args, out, expr),
            _ => {}
        }
    }
    let mut out = Vec::new();
    body(&file.body, &mut out);
    out
}

#[test]
fn every_comment_lands_exactly_once() {
    let file = parse_ok(COMMENTS_EVERYWHERE);
    let mut found = all_comments(&file);
    found.sort();
    let mut expected: Vec<String> = COMMENTS_EVERYWHERE
        .lines()
        .filter_map(|line| {
            let start = line
                .find("# ")
                .or_else(|| line.find("//"))
                .or_else(|| line.find("/*"))?;
            let rest = &line[start..];
            Some(match rest.find("*/") {
                Some(end) if rest.starts_with("/*") => rest[..end + 2].to_owned(),
                _ => rest.to_owned(),
            })
        })
        .collect();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn comment_positions() {
    let file = parse_ok(COMMENTS_EVERYWHERE);
    assert_eq!(file.body.dangling.len(), 1);
    assert_eq!(
        file.body.dangling[0].text,
        "# dangling at the end of the file"
    );
    let Item::Block(stack) = &file.body.items[0] else {
        panic!()
    };
    let leading: Vec<&str> = stack
        .trivia
        .leading
        .iter()
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(leading, ["# file header", "// about the stack"]);
    assert_eq!(stack.trivia.leading[1].blank_lines_before, 1);
    let state = stack.attribute("state").unwrap();
    // A comment after `{` on the header line has no better home than the first item.
    let state_leading: Vec<&str> = state
        .trivia
        .leading
        .iter()
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(state_leading, ["# after the header", "# leading of state"]);
    assert_eq!(
        state.trivia.trailing.as_ref().unwrap().text,
        "# trailing of state"
    );
    let other = stack.attribute("other").unwrap();
    assert_eq!(other.trivia.leading[0].text, "/* block comment */");
    let ExprKind::List(list) = &stack.attribute("list").unwrap().value.kind else {
        panic!()
    };
    assert_eq!(list.items[0].trivia.leading[0].text, "# leading of 1");
    assert_eq!(
        list.items[0].trivia.trailing.as_ref().unwrap().text,
        "# trailing of 1"
    );
    assert_eq!(list.dangling[0].text, "# dangling in list");
    let ExprKind::Object(obj) = &stack.attribute("obj").unwrap().value.kind else {
        panic!()
    };
    assert_eq!(obj.items[1].trivia.blank_lines_before, 1);
    assert_eq!(obj.items[1].trivia.leading[0].text, "# leading of b");
    let sum = stack.attribute("sum").unwrap();
    assert_eq!(sum.trivia.leading[0].text, "/* inside an expression */");
    assert_eq!(stack.body.dangling[0].text, "# dangling in stack");
    let Item::Block(locals) = &file.body.items[1] else {
        panic!()
    };
    assert_eq!(locals.trivia.blank_lines_before, 1);
}

fn codes(text: &str) -> Vec<Code> {
    let (_, diagnostics) = parse(FileId(0), text);
    diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn two_broken_blocks_two_diagnostics_good_block_kept() {
    let text = "resource \"a\" \"b\" {\n  x 1\n}\n\nresource \"c\" \"d\" {\n  y = 2\n}\n\nresource \"e\" \"f\" {\n  z = = 3\n}\n";
    let (file, diagnostics) = parse(FileId(0), text);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    assert!(
        diagnostics
            .iter()
            .all(|d| d.code == Code::ParseUnexpectedToken)
    );
    assert_eq!(file.body.items.len(), 1);
    let Item::Block(good) = &file.body.items[0] else {
        panic!()
    };
    assert_eq!(good.labels[1].value, "d");
    let first = diagnostics.iter().next().unwrap();
    let label = first.primary.as_ref().unwrap();
    assert_eq!(label.span.slice(text), "1");
    assert!(label.text.contains("`=`"), "{}", label.text);
}

#[test]
fn unclosed_brace_does_not_swallow_next_block() {
    let text = "resource \"a\" \"b\" {\n  x = 1\n\nresource \"c\" \"d\" {\n  y = 2\n}\n";
    let (file, diagnostics) = parse(FileId(0), text);
    assert_eq!(
        diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
        [Code::ParseUnbalancedDelimiter]
    );
    assert_eq!(
        diagnostics
            .iter()
            .next()
            .unwrap()
            .primary
            .as_ref()
            .unwrap()
            .span
            .start,
        17
    );
    assert_eq!(file.body.items.len(), 1);
}

#[test]
fn lexical_errors() {
    assert_eq!(codes("a = \"abc\nb = 1\n"), [Code::ParseUnterminatedString]);
    assert_eq!(
        codes("a = \"${var.x\"\n"),
        [Code::ParseUnterminatedInterpolation]
    );
    assert_eq!(
        codes("a = 1 /* never closed\n"),
        [Code::ParseUnterminatedComment]
    );
    assert_eq!(codes("a = <<EOT\nbody\n"), [Code::ParseUnterminatedHeredoc]);
    assert_eq!(codes("a = [1, 2)\n"), [Code::ParseUnbalancedDelimiter]);
    assert_eq!(codes("}\nx {}\n"), [Code::ParseUnbalancedDelimiter]);
    assert_eq!(codes("a = \"\\q\"\n"), [Code::ParseInvalidEscape]);
    assert_eq!(codes("a = 1e\n"), [Code::ParseInvalidNumber]);
    assert_eq!(codes("a = 1e999\n"), [Code::ParseInvalidNumber]);
    assert_eq!(codes("x \"${y}\" {}\n"), [Code::ParseUnexpectedToken]);
}

#[test]
fn unbalanced_directives_are_one_error_each() {
    let unbalanced = [Code::ParseUnbalancedDirective];
    assert_eq!(codes("a = \"%{ endif }\"\n"), unbalanced);
    assert_eq!(codes("a = \"%{ else }\"\n"), unbalanced);
    assert_eq!(codes("a = \"%{ if c }x\"\n"), unbalanced);
    assert_eq!(
        codes("a = \"%{ for x in y }x%{ endif }%{ endfor }\"\n"),
        unbalanced
    );
    assert_eq!(
        codes("a = \"%{ if c }%{ else }%{ else }%{ endif }\"\n"),
        unbalanced
    );
    assert_eq!(codes("a = <<EOT\n%{ for x in y }\nEOT\n"), unbalanced);
    // A quote inside a directive's expression does not end the string.
    assert!(codes("a = \"%{ if x == \"}\" }y%{ endif }\"\n").is_empty());
    let deep = format!(
        "a = \"{}{}\"\n",
        "%{ if c }".repeat(1000),
        "%{ endif }".repeat(1000)
    );
    assert_eq!(codes(&deep), [Code::ParseNestingTooDeep]);
}

#[test]
fn deep_nesting_is_one_clean_error() {
    let text = format!("a = {}", "[".repeat(10_000));
    assert_eq!(codes(&text), [Code::ParseNestingTooDeep]);
    let closed = format!("a = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(codes(&closed), [Code::ParseNestingTooDeep]);
    let ok = format!("a = {}1{}\n", "[".repeat(MAX), "]".repeat(MAX));
    assert!(codes(&ok).is_empty());
}

const MAX: usize = super::MAX_NESTING;

#[test]
fn long_operator_chains_are_bounded() {
    let text = format!(
        "a = {}1\nb = 1{}\n",
        "!".repeat(5_000),
        " + 1".repeat(5_000)
    );
    let found = codes(&text);
    assert!(
        found.iter().all(|c| *c == Code::ParseNestingTooDeep),
        "{found:?}"
    );
    assert!(!found.is_empty());
}

#[test]
fn crlf_and_byte_order_mark() {
    let text =
        "\u{feff}# c\r\nx \"a\" {\r\n  a = 1 # t\r\n  b = <<-EOT\r\n    hi\r\n    EOT\r\n}\r\n";
    let file = parse_ok(text);
    let Item::Block(x) = &file.body.items[0] else {
        panic!()
    };
    assert_eq!(x.trivia.leading[0].text, "# c");
    assert_eq!(
        x.attribute("a")
            .unwrap()
            .trivia
            .trailing
            .as_ref()
            .unwrap()
            .text,
        "# t"
    );
    let ExprKind::Heredoc(h) = &x.attribute("b").unwrap().value.kind else {
        panic!()
    };
    assert_eq!(template(&h.parts), "(str \"hi\\r\\n\")");
}

#[test]
fn nested_conditionals_are_bounded() {
    let text = format!("a = {}y{}\n", "x ? ".repeat(3_000), " : z".repeat(3_000));
    let found = codes(&text);
    assert_eq!(found, [Code::ParseNestingTooDeep]);
}

#[test]
fn no_panic_on_nasty_inputs() {
    let inputs = [
        "",
        "\u{feff}",
        "{",
        "}",
        "\"",
        "<<",
        "<<EOT",
        "<<EOT\n",
        "a = <<-\n",
        "a = \"${",
        "a = \"${\"${\"",
        "/*",
        "#",
        "a = [}",
        "a = f(",
        "a =",
        "a",
        "x \"",
        "é = 1 ü { ∀ }",
        "a = \"\\u12\"",
        "a = \"\\",
        "a = \"\\\n\"",
        "a = 1.2.3.4",
        "a = x[*",
        "a = {for}",
        "a = [for x in : ]",
        "type = object({",
        "\r\n\r\n a = 1\r\n",
        "\0\0\0",
    ];
    for input in inputs {
        let _ = parse(FileId(0), input);
    }
    // Every prefix of a realistic file.
    let text = COMMENTS_EVERYWHERE;
    for end in 0..text.len() {
        if let Some(prefix) = text.get(..end) {
            let _ = parse(FileId(0), prefix);
        }
    }
    // Pseudo-random bytes, deterministic.
    let mut state: u32 = 12345;
    let alphabet = b"ab =\"{}[]()$<-#/*\\\n.,?:!+0123456789EOT";
    for _ in 0..300 {
        let mut s = String::new();
        for _ in 0..64 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            s.push(alphabet[(state >> 16) as usize % alphabet.len()] as char);
        }
        let _ = parse(FileId(0), &s);
    }
}

/// The label and help of the first diagnostic.
fn first_label(text: &str) -> (String, String, String) {
    let (_, diagnostics) = parse(FileId(0), text);
    let first = diagnostics.iter().next().expect("a diagnostic");
    let label = first.primary.as_ref().expect("a primary label");
    (
        label.span.slice(text).to_owned(),
        label.text.clone(),
        first.help.clone().unwrap_or_default(),
    )
}

#[test]
fn labels_say_what_was_expected_and_found() {
    let (at, label, help) = first_label("resource \"a\" \"b\" {\n  x 1\n}\n");
    assert_eq!(
        (at.as_str(), label.as_str()),
        ("1", "expected `=`, `{` or a string, found `1`")
    );
    assert!(help.contains("name = value"));
    let (at, _, help) = first_label("a = x\n(y)\n");
    assert_eq!(at, "(");
    assert!(help.contains("no space before `(`"), "{help}");
    let (at, label, _) = first_label("a = 1 +\n");
    assert_eq!(
        (at.as_str(), label.as_str()),
        ("", "expected an expression, found the end of the file")
    );
    let (at, label, _) = first_label("= \"oops\"\n");
    assert_eq!(
        (at.as_str(), label.as_str()),
        ("=", "expected an attribute or a block, found `=`")
    );
    let (at, label, _) = first_label("a = [1, 2)\n");
    assert_eq!(
        (at.as_str(), label.as_str()),
        (")", "expected `]`, found `)`")
    );
}

/// A large file parsed on several threads (cut at top-level blocks, each
/// run with its own comments) gives the same tree and the same diagnostics,
/// in the same order, as one thread: comments attached and dangling, a
/// heredoc, a broken block in one run, and runs cut anywhere.
#[test]
fn a_file_parsed_on_several_threads_is_the_file_parsed_on_one() {
    let mut text = String::from("# leading comment\n\n");
    for i in 0..400 {
        text.push_str(&format!(
            "# resource {i}\nresource \"null_resource\" \"r{i}\" {{\n  triggers = {{ prev = \"x{i}\" }} // trailing\n  note = <<EOT\n  line {i}\n  EOT\n}}\n\n"
        ));
        if i == 250 {
            text.push_str("resource \"null_resource\" \"broken\" {\n  triggers = { a = }\n}\n\n");
        }
        if i % 50 == 0 {
            text.push_str("/* a comment between blocks */\n\nlocals {\n  n = 1 + 2\n}\n\n");
        }
    }
    text.push_str("# trailing comment\n");
    let file = FileId(0);
    let one = super::parse_on(file, &text, 1);
    assert!(one.1.has_errors(), "the broken block is reported");
    assert!(
        one.0.body.items.len() > 400,
        "{} items",
        one.0.body.items.len()
    );
    assert_eq!(
        one.1
            .iter()
            .filter(|d| d.severity == crate::diag::Severity::Error)
            .count(),
        1,
        "{:?}",
        one.1
    );
    for threads in [2, 3, 7] {
        let many = super::parse_on(file, &text, threads);
        assert_eq!(many.0, one.0, "{threads} threads: tree");
        assert_eq!(
            many.1.into_vec(),
            one.1.clone().into_vec(),
            "{threads} threads: diagnostics"
        );
    }
}
