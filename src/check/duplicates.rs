//! Pass 2, duplicates across the whole stack: two top-level blocks of the same
//! kind and labels (in any files), a second `stack` block, two `provider` blocks
//! with the same name and `alias`, and a local value named twice across `locals`
//! blocks.
//!
//! Invariant: "first" means first in file-name order, then source order; the
//! primary label is always on the later one.
//! Invariant: blocks with the wrong number of labels are skipped here: the
//! structure pass already reported them.

use super::shape::{self, Attributes, Occurrence};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::graph::hash::FastMap;
use crate::syntax::ast;
use crate::syntax::ast::{Attribute, Block, ExprKind, Item};
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

/// What makes a top-level block distinct from the others of its kind: its
/// kind, the values of its labels (borrowed from the block, not collected)
/// and a provider's `alias`.
#[derive(Debug, Clone, Copy)]
struct BlockKey<'a> {
    kind: &'a str,
    labels: &'a [ast::StringLit],
    /// The `alias` of a provider block (`None` when not set).
    alias: Option<&'a str>,
}

impl BlockKey<'_> {
    fn label_values(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(|label| label.value.as_str())
    }
}

impl PartialEq for BlockKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.alias == other.alias
            && self.labels.len() == other.labels.len()
            && self.label_values().eq(other.label_values())
    }
}

impl Eq for BlockKey<'_> {}

impl std::hash::Hash for BlockKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.labels.len().hash(state);
        for value in self.label_values() {
            value.hash(state);
        }
        self.alias.hash(state);
    }
}

/// Checks the top-level blocks of every file against each other.
pub(super) fn check(files: &[ast::File], diagnostics: &mut Diagnostics) {
    // Only looked up, never iterated: a hash map (one lookup per block).
    let count = files.iter().map(|file| file.body.items.len()).sum();
    let mut blocks: FastMap<BlockKey<'_>, &Block> =
        FastMap::with_capacity_and_hasher(count, Default::default());
    let mut singletons: BTreeMap<&str, &Block> = BTreeMap::new();
    let mut names: BTreeMap<&str, &Attribute> = BTreeMap::new();
    for file in files {
        for item in &file.body.items {
            let Item::Block(block) = item else { continue };
            let Some(shape) = shape::top_level(&block.kind.name) else {
                continue;
            };
            if block.labels.len() != shape.labels.len() {
                continue;
            }
            if shape.attributes == Attributes::Names {
                check_names(block, &mut names, diagnostics);
            }
            let alias = match shape.occurrence {
                Occurrence::Repeatable => continue,
                Occurrence::Singleton => {
                    match singletons.get(shape.kind) {
                        Some(first) => diagnostics.push(duplicate_singleton(block, first)),
                        None => {
                            singletons.insert(shape.kind, block);
                        }
                    }
                    continue;
                }
                Occurrence::Unique => None,
                Occurrence::UniqueByAlias => match alias(block) {
                    Ok(alias) => alias,
                    // An alias that is not a plain string cannot be compared
                    // here; the expression checks report it.
                    Err(()) => continue,
                },
            };
            let key = BlockKey {
                kind: shape.kind,
                labels: &block.labels,
                alias,
            };
            match blocks.entry(key) {
                Entry::Occupied(first) => diagnostics.push(duplicate_block(
                    block,
                    first.get(),
                    shape.occurrence == Occurrence::UniqueByAlias,
                )),
                Entry::Vacant(slot) => {
                    slot.insert(block);
                }
            }
        }
    }
}

/// A local value set in an earlier `locals` block, or earlier in this one.
fn check_names<'a>(
    block: &'a Block,
    names: &mut BTreeMap<&'a str, &'a Attribute>,
    diagnostics: &mut Diagnostics,
) {
    for attribute in block.attributes() {
        let name = attribute.name.name.as_str();
        match names.get(name) {
            Some(first) => diagnostics.push(
                Diagnostic::error(
                    Code::CheckDuplicateAttribute,
                    attribute.name.span,
                    format!("local value `{name}` is set again here"),
                )
                .with_label(first.name.span, "first set here")
                .with_help(format!(
                    "each local value is set once across all `locals` blocks: rename or remove one `{name}`"
                )),
            ),
            None => {
                names.insert(name, attribute);
            }
        }
    }
}

/// The provider's alias: `Ok(None)` when not set, `Err` when it is not a
/// plain string.
fn alias(block: &Block) -> Result<Option<&str>, ()> {
    let Some(attribute) = block.attribute("alias") else {
        return Ok(None);
    };
    match &attribute.value.kind {
        ExprKind::String(template) => template.as_literal().map(Some).ok_or(()),
        _ => Err(()),
    }
}

/// The header as written: `resource "aws_s3_bucket" "logs"`.
fn header(block: &Block) -> String {
    let mut text = block.kind.name.clone();
    for label in &block.labels {
        text.push(' ');
        text.push_str(&label.raw);
    }
    text
}

fn duplicate_block(block: &Block, first: &Block, is_provider: bool) -> Diagnostic {
    let header = header(block);
    let help = if is_provider {
        String::from(
            "a provider may be configured more than once only with different `alias = \"...\"` values",
        )
    } else {
        String::from("names must be unique in a stack: rename or remove one of the two")
    };
    Diagnostic::error(
        Code::CheckDuplicateBlock,
        block.header_span(),
        format!("`{header}` is defined again here"),
    )
    .with_label(first.header_span(), "first defined here")
    .with_help(help)
}

fn duplicate_singleton(block: &Block, first: &Block) -> Diagnostic {
    let kind = &block.kind.name;
    Diagnostic::error(
        Code::CheckDuplicateSingleton,
        block.header_span(),
        format!("a second `{kind}` block"),
    )
    .with_label(first.header_span(), "first defined here")
    .with_help(format!(
        "a stack has one `{kind}` block: merge the two into one"
    ))
}
