//! Completion: block kinds at the top level, resource types in a header's
//! first label, attribute names in a body (from the provider schema for
//! resources and data sources, required ones first; from the block's shape
//! otherwise; the child's variables in a module call), and in a value the
//! reference roots, their members (`var.`, `local.`, `module.NAME.`,
//! `TYPE.NAME.` ...), the builtin functions with their signatures and the
//! environment names inside strings that compare or pick one.
//!
//! Names come from the last check of the stack; the cursor's context comes
//! from the current text (see `context`), so completion never waits for a
//! check.
//!
//! Invariant: no secret value is offered or shown; secrets are offered by
//! name only.

use super::analysis::Analysis;
use super::context::{self, Header, Place};
use super::functions::FunctionDoc;
use super::hover::META_ARGUMENTS;
use crate::addr::Mode;
use crate::check::shape::{self, Attributes, BlockShape};
use crate::config::Module;
use crate::providers::Registry;
use crate::providers::schema::Presence;
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionItemLabelDetails, Documentation,
    InsertTextFormat, MarkupContent, MarkupKind,
};
use std::collections::BTreeSet;

/// The roots a reference may start with, with what each is.
const ROOTS: &[(&str, &str)] = &[
    ("var", "an input variable: var.NAME"),
    ("local", "a local value: local.NAME"),
    ("secret", "a secret: secret.NAME"),
    ("env", "the environment: env.name, env.protected"),
    ("data", "a data source: data.TYPE.NAME"),
    ("module", "a module's outputs: module.NAME.OUTPUT"),
    ("service", "a service: service.NAME"),
    ("each", "the element of for_each: each.key, each.value"),
    ("count", "the instance of count: count.index"),
    ("self", "this block's own attributes: self.ATTR"),
];

/// What completion needs besides the text.
pub(crate) struct Sources<'a> {
    /// The stack's last check, if there was one.
    pub analysis: Option<&'a Analysis>,
    /// The resource types.
    pub registry: &'a Registry,
    /// The builtin functions.
    pub functions: &'a [FunctionDoc],
}

/// The completions at byte `offset` of `text`.
pub(crate) fn complete(sources: &Sources<'_>, text: &str, offset: usize) -> Vec<CompletionItem> {
    let context = context::at(text, offset);
    let module = sources.analysis.map(|a| &a.config.root);
    match &context.place {
        Place::Body => match context.blocks.last() {
            None => block_kinds(),
            Some(header) => attribute_names(sources, module, &context.blocks, header),
        },
        Place::Label { kind, index: 0 } if kind == "resource" => {
            types(sources.registry.resource_types())
        }
        Place::Label { kind, index: 0 } if kind == "data" => {
            types(sources.registry.data_source_types())
        }
        Place::Label { .. } | Place::Nothing => Vec::new(),
        Place::String { words } => {
            let picks_environment = words
                .iter()
                .any(|w| w == "default_environment" || w == "env.name");
            match sources.analysis {
                Some(analysis) if picks_environment => analysis
                    .config
                    .environments
                    .values()
                    .map(|e| item(&e.name, CompletionItemKind::ENUM_MEMBER, "environment"))
                    .collect(),
                _ => Vec::new(),
            }
        }
        Place::Value => match context.word.rsplit_once('.') {
            Some((path, _)) => members(sources, module, &context.blocks, path),
            None => value_starts(sources, module),
        },
    }
}

fn item(label: &str, kind: CompletionItemKind, detail: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_owned(),
        kind: Some(kind),
        detail: (!detail.is_empty()).then(|| detail.to_owned()),
        ..CompletionItem::default()
    }
}

fn markdown(text: String) -> Documentation {
    Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value: text,
    })
}

/// Every top-level block kind, as a snippet with its labels.
fn block_kinds() -> Vec<CompletionItem> {
    shape::TOP_LEVEL
        .iter()
        .map(|shape| {
            let mut snippet = String::from(shape.kind);
            for (i, label) in shape.labels.iter().enumerate() {
                snippet.push_str(&format!(" \"${{{}:{label}}}\"", i + 1));
            }
            snippet.push_str(" {\n\t$0\n}");
            CompletionItem {
                insert_text: Some(snippet),
                insert_text_format: Some(InsertTextFormat::SNIPPET),
                ..item(shape.kind, CompletionItemKind::KEYWORD, &shape.syntax())
            }
        })
        .collect()
}

fn types(names: impl Iterator<Item = &'static str>) -> Vec<CompletionItem> {
    names
        .map(|name| item(name, CompletionItemKind::CLASS, "resource type"))
        .collect()
}

/// The attribute names (and nested block kinds) the innermost block takes.
fn attribute_names(
    sources: &Sources<'_>,
    module: Option<&Module>,
    blocks: &[Header],
    header: &Header,
) -> Vec<CompletionItem> {
    let shape: Option<&BlockShape> = match blocks {
        [only] => shape::top_level(&only.kind),
        [.., parent, _] => {
            shape::top_level(&parent.kind).and_then(|parent| parent.nested(&header.kind))
        }
        [] => None,
    };
    let mut items = Vec::new();
    match header.kind.as_str() {
        "resource" | "data" if blocks.len() == 1 => {
            let schema = header
                .labels
                .first()
                .and_then(|t| match header.kind.as_str() {
                    "data" => sources.registry.data_source(t),
                    _ => sources.registry.resource(t),
                });
            if let Some(schema) = schema {
                for attribute in schema.attributes.iter().filter(|a| a.settable()) {
                    let required = attribute.presence == Presence::Required;
                    items.push(CompletionItem {
                        // Required attributes sort first.
                        sort_text: Some(format!(
                            "{}{}",
                            if required { 0 } else { 1 },
                            attribute.name
                        )),
                        label_details: Some(CompletionItemLabelDetails {
                            detail: None,
                            description: Some(if required {
                                String::from("required")
                            } else {
                                String::from("optional")
                            }),
                        }),
                        documentation: (!attribute.description.is_empty())
                            .then(|| markdown(attribute.description.to_owned())),
                        insert_text: Some(format!("{} = ", attribute.name)),
                        ..item(
                            attribute.name,
                            CompletionItemKind::FIELD,
                            &attribute.ty.to_string(),
                        )
                    });
                }
            }
            for (name, doc) in META_ARGUMENTS {
                items.push(CompletionItem {
                    sort_text: Some(format!("2{name}")),
                    documentation: Some(markdown((*doc).to_owned())),
                    ..item(name, CompletionItemKind::KEYWORD, "meta-argument")
                });
            }
        }
        "module" if blocks.len() == 1 => {
            items.push(item(
                "source",
                CompletionItemKind::FIELD,
                "where the module is: ./path or std/NAME",
            ));
            let child = header
                .labels
                .first()
                .and_then(|name| module?.module_calls.get(name));
            if let Some(call) = child {
                for variable in call.module.variables.values() {
                    let required = variable.default.is_none();
                    items.push(CompletionItem {
                        sort_text: Some(format!(
                            "{}{}",
                            if required { 0 } else { 1 },
                            variable.name
                        )),
                        documentation: variable.description.clone().map(markdown),
                        insert_text: Some(format!("{} = ", variable.name)),
                        ..item(
                            &variable.name,
                            CompletionItemKind::FIELD,
                            &variable.ty.to_string(),
                        )
                    });
                }
            }
        }
        _ => {}
    }
    if let Some(shape) = shape {
        if let Attributes::Fixed(names) = shape.attributes {
            for name in names {
                let required = shape.required.contains(name);
                items.push(CompletionItem {
                    sort_text: Some(format!("{}{name}", if required { 0 } else { 1 })),
                    insert_text: Some(format!("{name} = ")),
                    ..item(
                        name,
                        CompletionItemKind::FIELD,
                        if required { "required" } else { "" },
                    )
                });
            }
        }
        for nested in shape.blocks.known() {
            items.push(CompletionItem {
                insert_text: Some(format!("{} {{\n\t$0\n}}", nested.kind)),
                insert_text_format: Some(InsertTextFormat::SNIPPET),
                sort_text: Some(format!("3{}", nested.kind)),
                ..item(nested.kind, CompletionItemKind::KEYWORD, &nested.syntax())
            });
        }
    }
    items
}

/// What a value may start with: the reference roots, the resource types the
/// stack uses, the builtin functions and the literals.
fn value_starts(sources: &Sources<'_>, module: Option<&Module>) -> Vec<CompletionItem> {
    let mut items: Vec<CompletionItem> = ROOTS
        .iter()
        .map(|(name, detail)| item(name, CompletionItemKind::MODULE, detail))
        .collect();
    if let Some(module) = module {
        let used: BTreeSet<&str> = module
            .resources
            .keys()
            .filter(|(mode, _, _)| *mode == Mode::Managed)
            .map(|(_, resource_type, _)| resource_type.as_str())
            .collect();
        items.extend(
            used.into_iter()
                .map(|t| item(t, CompletionItemKind::CLASS, "resource type")),
        );
    }
    for function in sources.functions {
        items.push(CompletionItem {
            label_details: Some(CompletionItemLabelDetails {
                detail: Some(
                    function
                        .signature
                        .trim_start_matches(function.name)
                        .to_owned(),
                ),
                description: None,
            }),
            documentation: Some(markdown(function.documentation.clone())),
            insert_text: Some(format!("{}($0)", function.name)),
            insert_text_format: Some(InsertTextFormat::SNIPPET),
            ..item(
                function.name,
                CompletionItemKind::FUNCTION,
                &function.signature,
            )
        });
    }
    for literal in ["true", "false", "null"] {
        items.push(item(literal, CompletionItemKind::CONSTANT, ""));
    }
    items
}

/// The members after `path.` (`var`, `module.cache`, `local_file.conf`).
fn members(
    sources: &Sources<'_>,
    module: Option<&Module>,
    blocks: &[Header],
    path: &str,
) -> Vec<CompletionItem> {
    let steps: Vec<&str> = path.split('.').collect();
    let names = |names: Vec<(String, String)>, kind| -> Vec<CompletionItem> {
        names
            .into_iter()
            .map(|(name, detail)| item(&name, kind, &detail))
            .collect()
    };
    let fixed = |list: &[&str], kind| -> Vec<CompletionItem> {
        list.iter().map(|name| item(name, kind, "")).collect()
    };
    match steps.as_slice() {
        ["env"] => return fixed(&["name", "protected"], CompletionItemKind::PROPERTY),
        ["each"] => return fixed(&["key", "value"], CompletionItemKind::PROPERTY),
        ["count"] => return fixed(&["index"], CompletionItemKind::PROPERTY),
        ["self"] => {
            let top = blocks.first();
            let schema = top.and_then(|h| match h.kind.as_str() {
                "resource" => sources.registry.resource(h.labels.first()?),
                _ => None,
            });
            return schema.map_or_else(Vec::new, |s| {
                names(
                    s.attributes
                        .iter()
                        .map(|a| (a.name.to_owned(), a.ty.to_string()))
                        .collect(),
                    CompletionItemKind::FIELD,
                )
            });
        }
        _ => {}
    }
    let Some(module) = module else {
        return Vec::new();
    };
    let resource_attributes = |mode: Mode, resource_type: &str| {
        let schema = match mode {
            Mode::Managed => sources.registry.resource(resource_type),
            Mode::Data => sources.registry.data_source(resource_type),
        };
        schema.map_or_else(Vec::new, |s| {
            names(
                s.attributes
                    .iter()
                    .map(|a| (a.name.to_owned(), a.ty.to_string()))
                    .collect(),
                CompletionItemKind::FIELD,
            )
        })
    };
    let resource_names = |mode: Mode, resource_type: &str| {
        names(
            module
                .resources
                .keys()
                .filter(|(m, t, _)| *m == mode && t == resource_type)
                .map(|(_, t, n)| (n.clone(), t.clone()))
                .collect(),
            CompletionItemKind::VARIABLE,
        )
    };
    match steps.as_slice() {
        ["var"] => names(
            module
                .variables
                .values()
                .map(|v| (v.name.clone(), v.ty.to_string()))
                .collect(),
            CompletionItemKind::VARIABLE,
        ),
        ["local"] => names(
            module
                .locals
                .keys()
                .map(|n| (n.clone(), String::from("local")))
                .collect(),
            CompletionItemKind::VARIABLE,
        ),
        ["secret"] => names(
            module
                .secrets
                .keys()
                .map(|n| (n.clone(), String::from("(secret)")))
                .collect(),
            CompletionItemKind::VARIABLE,
        ),
        ["service"] => names(
            module
                .resources
                .values()
                .filter(|r| r.addr.is_service())
                .map(|r| (r.addr.name.clone(), String::from("service")))
                .collect(),
            CompletionItemKind::VARIABLE,
        ),
        ["module"] => names(
            module
                .module_calls
                .values()
                .map(|c| (c.name.clone(), c.source.clone()))
                .collect(),
            CompletionItemKind::MODULE,
        ),
        ["module", name] => module
            .module_calls
            .get(*name)
            .map_or_else(Vec::new, |call| {
                names(
                    call.module
                        .outputs
                        .keys()
                        .map(|n| (n.clone(), String::from("output")))
                        .collect(),
                    CompletionItemKind::PROPERTY,
                )
            }),
        ["data"] => {
            let used: BTreeSet<String> = module
                .resources
                .keys()
                .filter(|(m, _, _)| *m == Mode::Data)
                .map(|(_, t, _)| t.clone())
                .collect();
            names(
                used.into_iter()
                    .map(|t| (t, String::from("data source type")))
                    .collect(),
                CompletionItemKind::CLASS,
            )
        }
        ["data", resource_type] => resource_names(Mode::Data, resource_type),
        ["data", resource_type, _] => resource_attributes(Mode::Data, resource_type),
        [resource_type] => resource_names(Mode::Managed, resource_type),
        [resource_type, _] => resource_attributes(Mode::Managed, resource_type),
        _ => Vec::new(),
    }
}
