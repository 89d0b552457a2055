//! The outline of one document: its blocks, nested blocks inside them, and
//! the attributes of each block, from the file's syntax tree.
//!
//! Invariant: reads the document alone (parsed as `infra fmt` parses it);
//! blocks that do not parse are left out, as the parser leaves them out.

use super::text::LineIndex;
use crate::syntax::ast::{Block, Body, Item};
use lsp_types::{DocumentSymbol, SymbolKind};

/// The outline of a file's body.
pub(crate) fn symbols(body: &Body, text: &str, index: &LineIndex) -> Vec<DocumentSymbol> {
    body.items
        .iter()
        .map(|item| match item {
            Item::Block(block) => block_symbol(block, text, index),
            Item::Attribute(attribute) => symbol(
                attribute.name.name.clone(),
                None,
                SymbolKind::PROPERTY,
                index.range(text, attribute.span.start(), attribute.span.end()),
                index.range(text, attribute.name.span.start(), attribute.name.span.end()),
                None,
            ),
        })
        .collect()
}

fn block_symbol(block: &Block, text: &str, index: &LineIndex) -> DocumentSymbol {
    let labels: Vec<&str> = block.labels.iter().map(|l| l.value.as_str()).collect();
    // `resource "local_file" "conf"` shows as `local_file.conf`, the way it
    // is referenced; other blocks show their label.
    let (name, detail) = match block.kind.name.as_str() {
        "resource" | "data" if labels.len() == 2 => {
            let prefix = if block.kind.name == "data" {
                "data."
            } else {
                ""
            };
            (
                format!("{prefix}{}", labels.join(".")),
                Some(block.kind.name.clone()),
            )
        }
        _ if labels.is_empty() => (block.kind.name.clone(), None),
        _ => (labels.join(" "), Some(block.kind.name.clone())),
    };
    let kind = match block.kind.name.as_str() {
        "stack" => SymbolKind::PACKAGE,
        "variable" => SymbolKind::VARIABLE,
        "environment" => SymbolKind::ENUM_MEMBER,
        "secret" => SymbolKind::KEY,
        "provider" => SymbolKind::INTERFACE,
        "resource" | "data" => SymbolKind::OBJECT,
        "service" => SymbolKind::EVENT,
        "module" => SymbolKind::MODULE,
        "output" => SymbolKind::PROPERTY,
        "locals" => SymbolKind::NAMESPACE,
        _ => SymbolKind::STRUCT,
    };
    let selection = block.header_span();
    symbol(
        name,
        detail,
        kind,
        index.range(text, block.span.start(), block.span.end()),
        index.range(text, selection.start(), selection.end()),
        Some(symbols(&block.body, text, index)),
    )
}

#[expect(
    deprecated,
    reason = "DocumentSymbol's `deprecated` field must be given; `tags` replaces it"
)]
fn symbol(
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    range: lsp_types::Range,
    selection_range: lsp_types::Range,
    children: Option<Vec<DocumentSymbol>>,
) -> DocumentSymbol {
    DocumentSymbol {
        // Editors refuse empty names.
        name: if name.is_empty() {
            String::from("\"\"")
        } else {
            name
        },
        detail,
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range,
        children,
    }
}
