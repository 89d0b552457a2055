//! Pass 1, structure: each block against the shape of its kind, one block at a
//! time. Unknown top-level kinds and attributes written outside any block; label
//! counts; unknown, duplicate and missing attributes; nested blocks that are not
//! allowed or appear twice.
//!
//! Invariant: looks at one block (and its nested blocks) at a time; problems
//! between blocks (duplicates across files) belong to the `duplicates` pass.

use super::shape::{self, Attributes, BlockShape, NestedBlocks, Occurrence};
use crate::diag::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::ast;
use crate::syntax::ast::{Attribute, Block, Body, Item};
use std::collections::BTreeMap;

/// Checks every top-level item of every file.
pub(super) fn check(files: &[ast::File], diagnostics: &mut Diagnostics) {
    for file in files {
        for item in &file.body.items {
            match item {
                Item::Attribute(attribute) => diagnostics.push(attribute_at_top_level(attribute)),
                Item::Block(block) => match shape::top_level(&block.kind.name) {
                    Some(shape) => check_block(block, shape, diagnostics),
                    None => {
                        diagnostics.push(unknown_block(block));
                        check_unshaped_body(&block.body, diagnostics);
                    }
                },
            }
        }
    }
}

/// Checks a block whose kind has a known shape, and its nested blocks.
fn check_block(block: &Block, shape: &BlockShape, diagnostics: &mut Diagnostics) {
    check_labels(block, shape, diagnostics);
    check_label_names(block, shape, diagnostics);
    match shape.attributes {
        Attributes::Fixed(allowed) => {
            check_duplicate_attributes(&block.body, diagnostics);
            for attribute in block.attributes() {
                if !allowed.contains(&attribute.name.name.as_str()) {
                    diagnostics.push(unknown_attribute(attribute, shape, allowed));
                }
            }
        }
        Attributes::Open => check_duplicate_attributes(&block.body, diagnostics),
        // Names are checked across every block of the kind by the duplicates pass.
        Attributes::Names => {}
    }
    check_required(block, shape, diagnostics);
    let mut seen: BTreeMap<&str, &Block> = BTreeMap::new();
    for nested in block.blocks() {
        let kind = nested.kind.name.as_str();
        match shape.nested(kind) {
            Some(nested_shape) => {
                check_block(nested, nested_shape, diagnostics);
                if nested_shape.occurrence != Occurrence::Repeatable {
                    match seen.get(kind) {
                        Some(first) => {
                            diagnostics.push(duplicate_nested_block(nested, first, shape))
                        }
                        None => {
                            seen.insert(kind, nested);
                        }
                    }
                }
            }
            None => {
                if let NestedBlocks::Fixed(_) = shape.blocks {
                    diagnostics.push(unexpected_block(nested, shape));
                }
                check_unshaped_body(&nested.body, diagnostics);
            }
        }
    }
}

/// Checks a body whose shape is not known (an unknown kind, or a nested block
/// left to provider schemas): only that no attribute is set twice.
fn check_unshaped_body(body: &Body, diagnostics: &mut Diagnostics) {
    check_duplicate_attributes(body, diagnostics);
    for item in &body.items {
        if let Item::Block(block) = item {
            check_unshaped_body(&block.body, diagnostics);
        }
    }
}

fn check_labels(block: &Block, shape: &BlockShape, diagnostics: &mut Diagnostics) {
    let expected = shape.labels.len();
    let found = block.labels.len();
    if found == expected {
        return;
    }
    let kind = shape.kind;
    let takes = match expected {
        0 => String::from("no labels"),
        1 => String::from("1 label"),
        n => format!("{n} labels"),
    };
    let diagnostic = match (block.labels.get(expected), block.labels.last()) {
        (Some(first_extra), Some(last)) => {
            let text = if found - expected == 1 {
                format!("`{kind}` takes {takes}; this one is extra")
            } else {
                format!("`{kind}` takes {takes}; these are extra")
            };
            Diagnostic::error(
                Code::CheckWrongLabelCount,
                first_extra.span.to(last.span),
                text,
            )
        }
        _ => Diagnostic::error(
            Code::CheckWrongLabelCount,
            block.header_span(),
            format!("`{kind}` takes {takes}, found {found}"),
        ),
    };
    diagnostics.push(diagnostic.with_help(format!("write it as `{}`", shape.syntax())));
}

/// Labels that become part of a reference (`var.NAME`, `TYPE.NAME`) must be
/// names, or nothing could refer to the block; stack and environment names
/// name the state's folders and files, so they may not hold `/` or `..`.
fn check_label_names(block: &Block, shape: &BlockShape, diagnostics: &mut Diagnostics) {
    let kind = shape.kind;
    for (label, placeholder) in block.labels.iter().zip(shape.labels) {
        let name = label.value.as_str();
        let problem = match (kind, *placeholder) {
            ("stack" | "environment", _) if !is_state_name(name) => Some((
                format!("`{name}` cannot name the {kind}'s state files"),
                format!(
                    "{kind} names are letters, digits, `_` and `-`, not starting with `-`, like \"staging-eu\""
                ),
            )),
            ("stack" | "environment" | "provider", _) | (_, "TYPE") => None,
            _ if !is_name(name) => Some((
                format!("`{name}` is not a name, so nothing could refer to this {kind}"),
                format!(
                    "a name is letters, digits and `_`, not starting with a digit (a `-` would read as a subtraction), like \"{}\"",
                    suggested_name(name)
                ),
            )),
            _ => None,
        };
        if let Some((text, help)) = problem {
            diagnostics
                .push(Diagnostic::error(Code::CheckInvalidName, label.span, text).with_help(help));
        }
    }
}

/// Letters, digits and `_`, not starting with a digit: the grammar's `ident`.
fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Letters, digits, `_` and `-`, not starting with `-` (which would read as a
/// command-line flag).
fn is_state_name(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `text` with every character that cannot be in a name made `_`.
fn suggested_name(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

fn check_duplicate_attributes(body: &Body, diagnostics: &mut Diagnostics) {
    let mut seen: BTreeMap<&str, &Attribute> = BTreeMap::new();
    for item in &body.items {
        if let Item::Attribute(attribute) = item {
            match seen.get(attribute.name.name.as_str()) {
                Some(first) => diagnostics.push(duplicate_attribute(attribute, first)),
                None => {
                    seen.insert(&attribute.name.name, attribute);
                }
            }
        }
    }
}

fn check_required(block: &Block, shape: &BlockShape, diagnostics: &mut Diagnostics) {
    let missing: Vec<&str> = shape
        .required
        .iter()
        .copied()
        .filter(|name| block.attribute(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let names = quoted_list(&missing);
    let verb = if missing.len() == 1 { "is" } else { "are" };
    let example = missing
        .iter()
        .map(|name| format!("{name} = ..."))
        .collect::<Vec<_>>()
        .join(", ");
    diagnostics.push(
        Diagnostic::error(
            Code::CheckMissingAttribute,
            block.header_span(),
            format!("{names} {verb} not set"),
        )
        .with_help(format!("add {example} inside this `{}` block", shape.kind)),
    );
}

/// `a`, `` `a` and `b` ``, `` `a`, `b` and `c` ``.
fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

fn attribute_at_top_level(attribute: &Attribute) -> Diagnostic {
    let name = &attribute.name.name;
    Diagnostic::error(
        Code::CheckAttributeAtTopLevel,
        attribute.name.span,
        format!("`{name}` is set outside any block"),
    )
    .with_help(format!(
        "attributes belong inside a block; to name a value, write `locals {{ {name} = ... }}`"
    ))
}

fn unknown_block(block: &Block) -> Diagnostic {
    let kind = &block.kind.name;
    let kinds = shape::TOP_LEVEL.iter().map(|shape| shape.kind);
    let help = match did_you_mean(kind, kinds) {
        Some(suggestion) => format!(
            "did you mean `{suggestion}`? top-level blocks are: {}",
            shape::top_level_list()
        ),
        None => format!("top-level blocks are: {}", shape::top_level_list()),
    };
    Diagnostic::error(
        Code::CheckUnknownBlock,
        block.kind.span,
        format!("`{kind}` is not a block type"),
    )
    .with_help(help)
}

fn unknown_attribute(
    attribute: &Attribute,
    shape: &BlockShape,
    allowed: &[&'static str],
) -> Diagnostic {
    let name = attribute.name.name.as_str();
    let kind = shape.kind;
    let list = allowed.join(", ");
    let help = if shape.nested(name).is_some() {
        format!("`{name}` is a block: write `{name} {{ ... }}` without `=`")
    } else {
        match did_you_mean(name, allowed.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`? `{kind}` takes: {list}"),
            None => format!("`{kind}` takes: {list}"),
        }
    };
    Diagnostic::error(
        Code::CheckUnknownAttribute,
        attribute.name.span,
        format!("`{name}` is not an attribute of `{kind}`"),
    )
    .with_help(help)
}

fn unexpected_block(nested: &Block, shape: &BlockShape) -> Diagnostic {
    let name = nested.kind.name.as_str();
    let kind = shape.kind;
    let allowed: Vec<&str> = shape.blocks.known().iter().map(|s| s.kind).collect();
    let is_attribute = match shape.attributes {
        Attributes::Fixed(names) => names.contains(&name),
        Attributes::Open => allowed.is_empty(),
        Attributes::Names => false,
    };
    let help = if is_attribute {
        format!("`{kind}` takes no `{name}` block; to set a map, write `{name} = {{ ... }}`")
    } else if allowed.is_empty() {
        format!("`{kind}` takes no nested blocks")
    } else {
        let list = allowed.join(", ");
        match did_you_mean(name, allowed.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`? `{kind}` takes only: {list}"),
            None => format!("`{kind}` takes only nested blocks: {list}"),
        }
    };
    Diagnostic::error(
        Code::CheckUnexpectedBlock,
        nested.kind.span,
        format!("`{name}` blocks are not allowed in `{kind}`"),
    )
    .with_help(help)
}

fn duplicate_attribute(attribute: &Attribute, first: &Attribute) -> Diagnostic {
    let name = &attribute.name.name;
    Diagnostic::error(
        Code::CheckDuplicateAttribute,
        attribute.name.span,
        format!("`{name}` is set again here"),
    )
    .with_label(first.name.span, "first set here")
    .with_help(format!("set `{name}` once: remove one of the two"))
}

fn duplicate_nested_block(nested: &Block, first: &Block, parent: &BlockShape) -> Diagnostic {
    let kind = &nested.kind.name;
    Diagnostic::error(
        Code::CheckDuplicateBlock,
        nested.header_span(),
        format!("a second `{kind}` block"),
    )
    .with_label(first.header_span(), "first defined here")
    .with_help(format!(
        "a `{}` block takes one `{kind}` block: merge the two",
        parent.kind
    ))
}
