//! Unit tests of the structural passes over trees built by hand, so they do not
//! depend on the parser; the corpus tests cover the same codes from source text.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::{Stack, check_structure};
use crate::diag::{Code, Diagnostic, FileId, Span};
use crate::syntax::ast::{
    Attribute, Block, Body, Expr, ExprKind, File, Ident, Item, StringLit, Template, TemplatePart,
    Trivia,
};
use std::cell::Cell;

/// Builds nodes with distinct, increasing spans in one file.
struct Tree {
    file: FileId,
    offset: Cell<usize>,
}

impl Tree {
    fn new(file: u32) -> Self {
        Tree {
            file: FileId(file),
            offset: Cell::new(0),
        }
    }

    fn span(&self, len: usize) -> Span {
        let start = self.offset.get();
        self.offset.set(start + len + 1);
        Span::new(self.file, start, start + len)
    }

    fn ident(&self, name: &str) -> Ident {
        Ident {
            name: name.to_owned(),
            span: self.span(name.len()),
        }
    }

    fn attr(&self, name: &str) -> Item {
        self.attr_value(name, ExprKind::Null)
    }

    fn attr_str(&self, name: &str, value: &str) -> Item {
        let span = self.span(value.len() + 2);
        let template = Template {
            parts: vec![TemplatePart::Literal {
                value: value.to_owned(),
                span,
            }],
            raw: format!("\"{value}\""),
            span,
        };
        self.attr_value(name, ExprKind::String(template))
    }

    fn attr_value(&self, name: &str, kind: ExprKind) -> Item {
        let name = self.ident(name);
        let value = Expr {
            kind,
            span: self.span(4),
        };
        Item::Attribute(Attribute {
            span: name.span.to(value.span),
            name,
            value,
            trivia: Trivia::default(),
        })
    }

    fn block(&self, kind: &str, labels: &[&str], items: Vec<Item>) -> Item {
        let kind = self.ident(kind);
        let labels: Vec<StringLit> = labels
            .iter()
            .map(|label| StringLit {
                value: (*label).to_owned(),
                raw: format!("\"{label}\""),
                span: self.span(label.len() + 2),
            })
            .collect();
        let close = self.span(1);
        let body = Body {
            items,
            dangling: Vec::new(),
            span: close,
        };
        Item::Block(Block {
            span: kind.span.to(close),
            kind,
            labels,
            body,
            trivia: Trivia::default(),
        })
    }

    fn file(&self, items: Vec<Item>) -> File {
        File {
            id: self.file,
            body: Body {
                items,
                dangling: Vec::new(),
                span: self.span(0),
            },
        }
    }
}

fn stack(files: Vec<File>) -> Stack {
    let mut stack = Stack::default();
    for file in &files {
        stack
            .sources
            .add(format!("f{}.infra", file.id.0), String::new());
    }
    stack.files = files;
    stack
}

/// The diagnostics as `code: label` lines, sorted.
fn run(files: Vec<File>) -> Vec<Diagnostic> {
    let mut diagnostics = check_structure(&stack(files).files);
    diagnostics.sort();
    for diagnostic in &diagnostics {
        assert!(diagnostic.help.is_some(), "{} has no help", diagnostic.code);
        assert!(
            diagnostic.primary.is_some(),
            "{} has no label",
            diagnostic.code
        );
    }
    diagnostics.into_vec()
}

fn summary(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d.code,
                d.primary.as_ref().map_or("", |l| l.text.as_str())
            )
        })
        .collect()
}

fn one(diagnostics: &[Diagnostic], code: Code) -> &Diagnostic {
    assert_eq!(diagnostics.len(), 1, "{:#?}", summary(diagnostics));
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic.code, code, "{:#?}", summary(diagnostics));
    diagnostic
}

#[test]
fn a_well_formed_stack_has_no_diagnostics() {
    let t = Tree::new(0);
    let file = t.file(vec![
        t.block(
            "stack",
            &["shop"],
            vec![t.attr("state"), t.attr("default_environment")],
        ),
        t.block(
            "variable",
            &["replicas"],
            vec![
                t.attr("type"),
                t.attr("default"),
                t.block(
                    "validate",
                    &[],
                    vec![t.attr("condition"), t.attr("message")],
                ),
                t.block(
                    "validate",
                    &[],
                    vec![t.attr("condition"), t.attr("message")],
                ),
            ],
        ),
        t.block(
            "environment",
            &["staging"],
            vec![t.attr("vars"), t.attr("protected")],
        ),
        t.block("secret", &["db"], vec![t.attr("generate")]),
        t.block("provider", &["postgres"], vec![t.attr("url")]),
        t.block(
            "provider",
            &["postgres"],
            vec![t.attr("url"), t.attr_str("alias", "b")],
        ),
        t.block(
            "resource",
            &["local_file", "a"],
            vec![
                t.attr("path"),
                t.block("lifecycle", &[], vec![t.attr("create_before_destroy")]),
                t.block("anything_from_a_schema", &[], vec![t.attr("x")]),
            ],
        ),
        t.block("data", &["http", "a"], vec![t.attr("url")]),
        t.block("service", &["api"], vec![t.attr("run"), t.attr("port")]),
        t.block("module", &["cache"], vec![t.attr("source"), t.attr("name")]),
        t.block("output", &["o"], vec![t.attr("value"), t.attr("sensitive")]),
        t.block("locals", &[], vec![t.attr("a")]),
        t.block("locals", &[], vec![t.attr("b")]),
        t.block("moved", &[], vec![t.attr("from"), t.attr("to")]),
        t.block("moved", &[], vec![t.attr("from"), t.attr("to")]),
        t.block(
            "import",
            &[],
            vec![t.attr("to"), t.attr("id"), t.attr("provider")],
        ),
    ]);
    assert_eq!(summary(&run(vec![file])), Vec::<String>::new());
}

#[test]
fn unknown_block_suggests_the_closest_kind() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![t.block("resourse", &["a", "b"], vec![])])]);
    let diagnostic = one(&diagnostics, Code::CheckUnknownBlock);
    assert_eq!(
        diagnostic.primary.as_ref().unwrap().text,
        "`resourse` is not a block type"
    );
    let help = diagnostic.help.as_deref().unwrap();
    assert!(help.starts_with("did you mean `resource`?"), "{help}");
    assert!(help.contains("stack, variable, environment"), "{help}");
}

#[test]
fn unknown_block_bodies_still_get_duplicate_attribute_checks() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![t.block(
        "zzz",
        &[],
        vec![t.attr("a"), t.attr("a")],
    )])]);
    let mut codes: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
    codes.sort();
    assert_eq!(
        codes,
        [Code::CheckUnknownBlock, Code::CheckDuplicateAttribute]
    );
}

#[test]
fn attribute_at_top_level_is_reported() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![t.attr("region")])]);
    let diagnostic = one(&diagnostics, Code::CheckAttributeAtTopLevel);
    assert!(
        diagnostic
            .help
            .as_deref()
            .unwrap()
            .contains("locals { region = ... }")
    );
}

#[test]
fn too_many_labels_points_at_the_extra_ones() {
    let t = Tree::new(0);
    let file = t.file(vec![t.block("variable", &["a", "b", "c"], vec![])]);
    let extra_start = match &file.body.items[0] {
        Item::Block(b) => b.labels[1].span.start,
        Item::Attribute(_) => unreachable!(),
    };
    let diagnostics = run(vec![file]);
    let diagnostic = one(&diagnostics, Code::CheckWrongLabelCount);
    let label = diagnostic.primary.as_ref().unwrap();
    assert_eq!(label.span.start, extra_start);
    assert_eq!(label.text, "`variable` takes 1 label; these are extra");
    assert_eq!(
        diagnostic.help.as_deref(),
        Some("write it as `variable \"NAME\" { ... }`")
    );
}

#[test]
fn too_few_labels_points_at_the_header() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![t.block(
        "resource",
        &["local_file"],
        vec![],
    )])]);
    let diagnostic = one(&diagnostics, Code::CheckWrongLabelCount);
    assert_eq!(
        diagnostic.primary.as_ref().unwrap().text,
        "`resource` takes 2 labels, found 1"
    );
    assert_eq!(
        diagnostic.help.as_deref(),
        Some("write it as `resource \"TYPE\" \"NAME\" { ... }`")
    );
}

#[test]
fn labels_on_label_less_kinds_are_extra() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![
        t.block("locals", &["x"], vec![]),
        t.block(
            "resource",
            &["t", "n"],
            vec![t.block("lifecycle", &["x"], vec![])],
        ),
    ])]);
    assert_eq!(
        summary(&diagnostics),
        [
            "infra::check::wrong_label_count: `locals` takes no labels; this one is extra",
            "infra::check::wrong_label_count: `lifecycle` takes no labels; this one is extra",
        ]
    );
}

#[test]
fn duplicate_block_in_one_file_has_a_first_defined_label() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![
        t.block("resource", &["local_file", "a"], vec![]),
        t.block("resource", &["local_file", "a"], vec![]),
        t.block("resource", &["local_file", "b"], vec![]),
    ])]);
    let diagnostic = one(&diagnostics, Code::CheckDuplicateBlock);
    assert_eq!(
        diagnostic.primary.as_ref().unwrap().text,
        "`resource \"local_file\" \"a\"` is defined again here"
    );
    assert_eq!(diagnostic.secondary.len(), 1);
    assert_eq!(diagnostic.secondary[0].text, "first defined here");
    assert!(diagnostic.secondary[0].span.start < diagnostic.primary.as_ref().unwrap().span.start);
}

#[test]
fn duplicate_block_across_files_points_back_to_the_first_file() {
    let a = Tree::new(0);
    let b = Tree::new(1);
    let diagnostics = run(vec![
        a.file(vec![a.block("variable", &["x"], vec![])]),
        b.file(vec![b.block("variable", &["x"], vec![])]),
    ]);
    let diagnostic = one(&diagnostics, Code::CheckDuplicateBlock);
    assert_eq!(diagnostic.file(), Some(FileId(1)));
    assert_eq!(diagnostic.secondary[0].span.file, FileId(0));
}

#[test]
fn same_name_in_different_kinds_is_not_a_duplicate() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![
        t.block("variable", &["x"], vec![]),
        t.block("secret", &["x"], vec![]),
        t.block("resource", &["x", "y"], vec![]),
        t.block("data", &["x", "y"], vec![]),
    ])]);
    assert_eq!(summary(&diagnostics), Vec::<String>::new());
}

#[test]
fn providers_are_duplicates_only_with_the_same_alias() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![
        t.block("provider", &["aws"], vec![]),
        t.block("provider", &["aws"], vec![t.attr_str("alias", "eu")]),
        t.block("provider", &["aws"], vec![t.attr_str("alias", "us")]),
        t.block("provider", &["aws"], vec![t.attr_str("alias", "eu")]),
    ])]);
    let diagnostic = one(&diagnostics, Code::CheckDuplicateBlock);
    assert!(diagnostic.help.as_deref().unwrap().contains("alias"));
}

#[test]
fn a_second_stack_block_is_a_duplicate_singleton() {
    let a = Tree::new(0);
    let b = Tree::new(1);
    let diagnostics = run(vec![
        a.file(vec![a.block("stack", &["one"], vec![])]),
        b.file(vec![b.block("stack", &["two"], vec![])]),
    ]);
    let diagnostic = one(&diagnostics, Code::CheckDuplicateSingleton);
    assert_eq!(diagnostic.file(), Some(FileId(1)));
    assert_eq!(diagnostic.secondary[0].text, "first defined here");
}

#[test]
fn locals_may_repeat_but_names_may_not() {
    let a = Tree::new(0);
    let b = Tree::new(1);
    let diagnostics = run(vec![
        a.file(vec![a.block(
            "locals",
            &[],
            vec![a.attr("x"), a.attr("y"), a.attr("y")],
        )]),
        b.file(vec![b.block("locals", &[], vec![b.attr("x"), b.attr("z")])]),
    ]);
    assert_eq!(
        summary(&diagnostics),
        [
            "infra::check::duplicate_attribute: local value `y` is set again here",
            "infra::check::duplicate_attribute: local value `x` is set again here",
        ]
    );
    assert_eq!(diagnostics[1].secondary[0].span.file, FileId(0));
}

#[test]
fn unknown_attribute_in_fixed_blocks_suggests_a_name() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![t.block(
        "variable",
        &["x"],
        vec![t.attr("defualt")],
    )])]);
    let diagnostic = one(&diagnostics, Code::CheckUnknownAttribute);
    assert_eq!(
        diagnostic.primary.as_ref().unwrap().text,
        "`defualt` is not an attribute of `variable`"
    );
    assert_eq!(
        diagnostic.help.as_deref(),
        Some(
            "did you mean `default`? `variable` takes: type, default, description, sensitive, nullable"
        )
    );
}

#[test]
fn every_fixed_shape_rejects_unknown_attributes() {
    let t = Tree::new(0);
    let kinds: &[(&str, &[&str], &[&str])] = &[
        ("stack", &["s"], &[]),
        ("environment", &["e"], &[]),
        ("secret", &["s"], &[]),
        ("output", &["o"], &["value"]),
        ("moved", &[], &["from", "to"]),
        ("import", &[], &["to", "id"]),
    ];
    let mut items = Vec::new();
    for (kind, labels, required) in kinds {
        let mut body: Vec<Item> = required.iter().map(|name| t.attr(name)).collect();
        body.push(t.attr("bogus"));
        items.push(t.block(kind, labels, body));
    }
    items.push(t.block(
        "resource",
        &["t", "n"],
        vec![t.block("lifecycle", &[], vec![t.attr("bogus")])],
    ));
    items.push(t.block(
        "variable",
        &["v"],
        vec![t.block(
            "validate",
            &[],
            vec![t.attr("condition"), t.attr("message"), t.attr("bogus")],
        )],
    ));
    let diagnostics = run(vec![t.file(items)]);
    assert_eq!(diagnostics.len(), 8, "{:#?}", summary(&diagnostics));
    assert!(
        diagnostics
            .iter()
            .all(|d| d.code == Code::CheckUnknownAttribute)
    );
}

#[test]
fn open_blocks_accept_any_attribute() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![
        t.block("resource", &["t", "n"], vec![t.attr("whatever")]),
        t.block("provider", &["p"], vec![t.attr("whatever")]),
        t.block("module", &["m"], vec![t.attr("whatever")]),
    ])]);
    assert_eq!(summary(&diagnostics), Vec::<String>::new());
}

#[test]
fn duplicate_attributes_are_reported_in_every_body() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![
        t.block("resource", &["t", "n"], vec![t.attr("a"), t.attr("a")]),
        t.block("environment", &["e"], vec![t.attr("vars"), t.attr("vars")]),
        t.block(
            "resource",
            &["t", "m"],
            vec![t.block("nested", &[], vec![t.attr("b"), t.attr("b")])],
        ),
    ])]);
    assert_eq!(
        summary(&diagnostics),
        [
            "infra::check::duplicate_attribute: `a` is set again here",
            "infra::check::duplicate_attribute: `vars` is set again here",
            "infra::check::duplicate_attribute: `b` is set again here",
        ]
    );
    assert!(diagnostics.iter().all(|d| d.secondary.len() == 1));
}

#[test]
fn nested_blocks_outside_their_shape_are_unexpected() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![
        t.block(
            "output",
            &["o"],
            vec![t.attr("value"), t.block("lifecycle", &[], vec![])],
        ),
        t.block("environment", &["e"], vec![t.block("vars", &[], vec![])]),
        t.block("variable", &["v"], vec![t.block("validation", &[], vec![])]),
        t.block("module", &["m"], vec![t.block("inputs", &[], vec![])]),
    ])]);
    let helps: Vec<String> = diagnostics
        .iter()
        .inspect(|d| assert_eq!(d.code, Code::CheckUnexpectedBlock))
        .map(|d| d.help.clone().unwrap())
        .collect();
    assert_eq!(
        helps,
        [
            "`output` takes no nested blocks",
            "`environment` takes no `vars` block; to set a map, write `vars = { ... }`",
            "did you mean `validate`? `variable` takes only: validate",
            "`module` takes no `inputs` block; to set a map, write `inputs = { ... }`",
        ]
    );
}

#[test]
fn a_second_lifecycle_block_is_a_duplicate() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![t.block(
        "resource",
        &["t", "n"],
        vec![
            t.block("lifecycle", &[], vec![]),
            t.block("lifecycle", &[], vec![]),
        ],
    )])]);
    let diagnostic = one(&diagnostics, Code::CheckDuplicateBlock);
    assert_eq!(diagnostic.secondary[0].text, "first defined here");
}

#[test]
fn missing_required_attributes_are_named() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![
        t.block("output", &["o"], vec![t.attr("description")]),
        t.block("moved", &[], vec![t.attr("from")]),
        t.block("import", &[], vec![]),
        t.block("variable", &["v"], vec![t.block("validate", &[], vec![])]),
        t.block("stack", &["s"], vec![]),
    ])]);
    assert_eq!(
        summary(&diagnostics),
        [
            "infra::check::missing_attribute: `value` is not set",
            "infra::check::missing_attribute: `to` is not set",
            "infra::check::missing_attribute: `to` and `id` are not set",
            "infra::check::missing_attribute: `condition` and `message` are not set",
        ]
    );
    assert_eq!(
        diagnostics[2].help.as_deref(),
        Some("add to = ..., id = ... inside this `import` block")
    );
}

#[test]
fn an_attribute_written_for_a_block_says_so() {
    let t = Tree::new(0);
    let diagnostics = run(vec![t.file(vec![t.block(
        "variable",
        &["v"],
        vec![t.attr("validate")],
    )])]);
    let diagnostic = one(&diagnostics, Code::CheckUnknownAttribute);
    assert_eq!(
        diagnostic.help.as_deref(),
        Some("`validate` is a block: write `validate { ... }` without `=`")
    );
}

/// The first block of `kind` with these labels in `files`, searched at the top.
fn parsed_block<'a>(files: &'a [File], kind: &str, labels: &[&str]) -> &'a Block {
    files
        .iter()
        .flat_map(|f| f.body.items.iter())
        .find_map(|item| match item {
            Item::Block(b)
                if b.kind.name == kind
                    && b.labels
                        .iter()
                        .map(|l| l.value.as_str())
                        .eq(labels.iter().copied()) =>
            {
                Some(b)
            }
            _ => None,
        })
        .expect("the block is in the parsed files")
}

/// Every attribute named `name` in `block`, in order.
fn parsed_attributes<'a>(block: &'a Block, name: &str) -> Vec<&'a Attribute> {
    block.attributes().filter(|a| a.name.name == name).collect()
}

/// `check` moves the expressions out of the syntax trees rather than copying
/// them: the model must hold exactly what was parsed, in the right places
/// (the first `count`, the last of a repeated attribute, as `Block::attribute`
/// and a map insert did before), and the trees are used up.
#[test]
fn the_model_holds_the_parsed_expressions_and_the_trees_are_used_up() {
    use crate::addr::Mode;
    use crate::host::MemoryHost;
    use std::path::Path;

    let main = r#"
variable "prefix" {
  type    = string
  default = "p"
  validate {
    condition = length(var.prefix) > 0
    message   = "prefix must not be empty"
  }
}

locals {
  ports = { a = 1, b = 2 }
}

provider "local" {
  alias = "other"
  root  = "/tmp/${var.prefix}"
}

resource "local_file" "per_port" {
  for_each = local.ports
  path     = "out/${each.key}"
  content  = <<EOT
PORT=${each.value}
EOT
  lifecycle { create_before_destroy = true }
}

resource "null_resource" "counted" {
  count    = 2
  count    = 3
  triggers = { first = "a" }
  triggers = { second = local_file.per_port["a"].path }
}

resource "unknown_thing" "x" {
  setting = 1
  nested { inner = var.prefix }
}

service "api" {
  run  = ["python3", "-m", "http.server", "${self.port}"]
  port = 8080
}

module "child" {
  source = "./child"
  name   = "n-${var.prefix}"
}

import {
  to = null_resource.counted[0]
  id = "id-${var.prefix}"
}

output "paths" {
  value = [for f in local_file.per_port : f.path]
}
"#;
    let child = r#"
variable "name" {
  type = string
}

output "greeting" {
  value = "hello ${var.name}"
}
"#;
    let host = MemoryHost::new()
        .with_file("s/main.infra", main)
        .with_file("s/child/main.infra", child);
    let (mut stack, load_diagnostics) = super::load(&host, Path::new("s"));
    assert!(!load_diagnostics.has_errors(), "{load_diagnostics:?}");
    let parsed = stack.files.clone();
    let (config, _) = super::check(&host, &mut stack);
    assert!(stack.files.is_empty(), "check uses the trees up");
    let root = &config.root;

    let variable = &root.variables["prefix"];
    let block = parsed_block(&parsed, "variable", &["prefix"]);
    assert_eq!(
        variable.default.as_ref(),
        Some(&parsed_attributes(block, "default")[0].value)
    );
    let validate = block.blocks().next().unwrap();
    assert_eq!(variable.validations.len(), 1);
    assert_eq!(
        variable.validations[0].condition,
        parsed_attributes(validate, "condition")[0].value
    );
    assert_eq!(
        variable.validations[0].message,
        parsed_attributes(validate, "message")[0].value
    );

    let locals = parsed_block(&parsed, "locals", &[]);
    assert_eq!(
        root.locals["ports"].expr,
        parsed_attributes(locals, "ports")[0].value
    );
    assert_eq!(root.locals["ports"].name, "ports");

    let provider = &root.providers[&(String::from("local"), Some(String::from("other")))];
    let block = parsed_block(&parsed, "provider", &["local"]);
    assert_eq!(provider.attributes.len(), 1, "alias is not an attribute");
    assert_eq!(
        &provider.attributes["root"],
        parsed_attributes(block, "root")[0]
    );

    let key = |mode, t: &str, n: &str| (mode, t.to_owned(), n.to_owned());
    let per_port = &root.resources[&key(Mode::Managed, "local_file", "per_port")];
    let block = parsed_block(&parsed, "resource", &["local_file", "per_port"]);
    assert_eq!(
        per_port.for_each.as_deref(),
        Some(&parsed_attributes(block, "for_each")[0].value)
    );
    assert!(per_port.count.is_none());
    for name in ["path", "content"] {
        assert_eq!(
            *per_port.attributes[name],
            *parsed_attributes(block, name)[0]
        );
    }
    assert_eq!(per_port.attributes.len(), 2);
    assert!(per_port.lifecycle.create_before_destroy);
    assert!(per_port.blocks.is_empty());

    let counted = &root.resources[&key(Mode::Managed, "null_resource", "counted")];
    let block = parsed_block(&parsed, "resource", &["null_resource", "counted"]);
    // The first `count` (as `Block::attribute` finds it), the last `triggers`
    // (a later entry replaced an earlier one).
    assert_eq!(
        counted.count.as_deref(),
        Some(&parsed_attributes(block, "count")[0].value)
    );
    assert_eq!(
        *counted.attributes["triggers"],
        *parsed_attributes(block, "triggers")[1]
    );

    let unknown = &root.resources[&key(Mode::Managed, "unknown_thing", "x")];
    let block = parsed_block(&parsed, "resource", &["unknown_thing", "x"]);
    assert_eq!(
        *unknown.attributes["setting"],
        *parsed_attributes(block, "setting")[0]
    );
    assert_eq!(unknown.blocks.len(), 1);
    assert_eq!(&unknown.blocks[0], block.blocks().next().unwrap());

    let service = &root.resources[&(
        crate::addr::Mode::Managed,
        "service".to_owned(),
        "api".to_owned(),
    )];
    let block = parsed_block(&parsed, "service", &["api"]);
    for name in ["run", "port"] {
        assert_eq!(
            &*service.attributes[name],
            parsed_attributes(block, name)[0]
        );
    }

    let call = &root.module_calls["child"];
    let block = parsed_block(&parsed, "module", &["child"]);
    assert_eq!(call.source, "./child");
    assert_eq!(&call.inputs["name"], parsed_attributes(block, "name")[0]);
    assert_eq!(call.inputs.len(), 1);
    // The child's file has another id in the stack, so its spans differ: the
    // value is the template, not the `null` left behind.
    let greeting = &call.module.outputs["greeting"].value;
    assert!(
        matches!(&greeting.kind, ExprKind::String(t) if t.parts.len() == 2),
        "{greeting:?}"
    );

    let block = parsed_block(&parsed, "import", &[]);
    assert_eq!(root.imports.len(), 1);
    assert_eq!(root.imports[0].id, parsed_attributes(block, "id")[0].value);

    let block = parsed_block(&parsed, "output", &["paths"]);
    assert_eq!(
        root.outputs["paths"].value,
        parsed_attributes(block, "value")[0].value
    );
}

/// `load` parses the files on several threads; the trees, the sources and the
/// diagnostics (a syntax error, a file that is not UTF-8) must come out as
/// when each file is read and parsed in turn.
#[test]
fn loading_on_several_threads_gives_what_loading_file_by_file_gives() {
    use crate::host::MemoryHost;
    use std::path::Path;

    let mut host = MemoryHost::new();
    for index in 0..12 {
        let text = match index {
            3 => "resource \"null_resource\" \"broken\" {\n  triggers = {\n}\n".to_owned(),
            _ => format!(
                "resource \"null_resource\" \"r{index}\" {{\n  triggers = {{ prev = \"{index}\" }}\n}}\n"
            ),
        };
        host = host.with_file(format!("s/f{index:02}.infra"), text);
    }
    host = host.with_file("s/f05b.infra", vec![b'x', 0xff, b'\n']);
    let (parallel, parallel_diagnostics) = super::load(&host, Path::new("s"));
    let (sequential, sequential_diagnostics) =
        super::load_parsed(&host, Path::new("s"), &mut crate::syntax::parse);
    assert_eq!(
        parallel.files.len(),
        12,
        "the file that is not UTF-8 is left out"
    );
    assert_eq!(
        format!("{:?}", parallel.files),
        format!("{:?}", sequential.files)
    );
    assert_eq!(
        format!("{parallel_diagnostics:?}"),
        format!("{sequential_diagnostics:?}")
    );
    assert!(parallel_diagnostics.has_errors());
    let names = |stack: &Stack| -> Vec<String> {
        stack
            .sources
            .iter()
            .map(|(_, file)| file.name.clone())
            .collect()
    };
    assert_eq!(names(&parallel), names(&sequential));
}

/// A module with more resource blocks than `model::PARALLEL_RESOURCES` is
/// lowered on two threads: every resource is in the model with its
/// references, and the problems (and the aliased providers, which become
/// problems later) come out in source order, as one pass gives them.
#[test]
fn a_large_module_is_lowered_on_two_threads_as_on_one() {
    use crate::addr::Mode;
    use crate::host::MemoryHost;
    use std::path::Path;

    const COUNT: usize = 2_400;
    let mut text = String::new();
    for index in 0..COUNT {
        let previous = index.saturating_sub(1);
        match index {
            // One of each problem in each half, out of key order (r1990 sorts
            // before r5 by name).
            5 | 1990 => text.push_str(&format!(
                "resource \"null_resource\" \"r{index}\" {{\n  trigers = {{ prev = null_resource.r{previous}.id }}\n}}\n"
            )),
            700 | 2300 => text.push_str(&format!(
                "resource \"null_resource\" \"r{index}\" {{\n  triggers = {{ prev = null_resource.missing{index}.id }}\n}}\n"
            )),
            900 | 2100 => text.push_str(&format!(
                "resource \"null_resource\" \"r{index}\" {{\n  provider = http.alias{index}\n  triggers = {{ prev = null_resource.r{previous}.id }}\n}}\n"
            )),
            0 => text.push_str(
                "resource \"null_resource\" \"r0\" {\n  triggers = { prev = \"start\" }\n}\n",
            ),
            _ => text.push_str(&format!(
                "resource \"null_resource\" \"r{index}\" {{\n  triggers = {{ prev = null_resource.r{previous}.id }}\n}}\n"
            )),
        }
    }
    let host = MemoryHost::new().with_file("s/main.infra", text);
    let (mut stack, load_diagnostics) = super::load(&host, Path::new("s"));
    assert!(!load_diagnostics.has_errors(), "{load_diagnostics:?}");
    let (config, diagnostics) = super::check(&host, &mut stack);

    assert_eq!(config.root.resources.len(), COUNT);
    for index in [0, 1, 1199, 1200, 1201, COUNT - 1] {
        let resource = config
            .root
            .resource(Mode::Managed, "null_resource", &format!("r{index}"))
            .unwrap();
        let expected = usize::from(index > 0);
        assert_eq!(resource.references.len(), expected, "r{index}");
    }
    let problems: Vec<(Code, String)> = diagnostics
        .iter()
        .map(|d| {
            let text = d.primary.as_ref().map_or("", |l| l.text.as_str());
            (d.code, text.to_owned())
        })
        .collect();
    let codes: Vec<Code> = problems.iter().map(|(code, _)| *code).collect();
    let texts: Vec<&str> = problems.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(
        codes,
        vec![
            Code::CheckUnknownAttribute,
            Code::CheckUnknownReference,
            Code::CheckUnknownAttribute,
            Code::CheckUnknownReference,
            Code::CheckUnknownProvider,
            Code::CheckUnknownProvider,
        ],
        "{texts:#?}"
    );
    for (position, expected) in [
        (0, "trigers"),
        (1, "missing700"),
        (2, "trigers"),
        (3, "missing2300"),
        (4, "alias900"),
        (5, "alias2100"),
    ] {
        assert!(texts[position].contains(expected), "{texts:#?}");
    }
    // The two unknown attributes are told apart by where they are.
    let at = |position: usize| {
        diagnostics
            .iter()
            .nth(position)
            .and_then(|d| d.primary.as_ref())
            .map(|l| l.span.start())
    };
    assert!(at(0) < at(2));
}
