//! Hover: what the thing under the cursor is, in Markdown. A resource type
//! shows its schema (every attribute with its type and docs); an attribute
//! of a resource shows its own entry; a variable shows its type, default,
//! description and the value each environment gives it; a secret shows where
//! its value comes from; a function shows its signature and reference text;
//! a setting of the `stack` block says what it does.
//!
//! Invariant: no secret value is ever shown: a secret, and a variable marked
//! `sensitive`, show `(secret)` where a value would go.

use super::analysis::Analysis;
use super::functions::FunctionDoc;
use super::locate::{self, Found};
use super::resolve::{Target, resolve};
use crate::check::shape;
use crate::config::{self, SecretSource};
use crate::diag::Span;
use crate::providers::Registry;
use crate::providers::schema::{AttributeSchema, Presence, ResourceSchema};
use crate::syntax::ast::{Block, ExprKind};
use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind, Url};
use std::fmt::Write as _;

/// What hovering shows for a value that must stay hidden.
const HIDDEN: &str = "(secret)";

/// The documentation of the meta-arguments every resource takes.
pub(crate) const META_ARGUMENTS: &[(&str, &str)] = &[
    (
        "count",
        "How many instances to make: `count = 3` makes `[0]`, `[1]`, `[2]`; `count.index` is each one's index.",
    ),
    (
        "for_each",
        "One instance per element of a map or a set of strings; `each.key` and `each.value` name the element.",
    ),
    (
        "depends_on",
        "Resources this one waits for although it uses none of their attributes.",
    ),
    (
        "provider",
        "The provider configuration to use: `provider = aws.west` for a `provider` block with `alias = \"west\"`.",
    ),
    (
        "lifecycle",
        "How changes are made: `prevent_destroy`, `create_before_destroy`, `ignore_changes`, `replace_triggered_by`.",
    ),
];

/// The documentation of the `stack` block's own settings (the state
/// backend's connection settings are described in docs/state.md).
pub(crate) const STACK_SETTINGS: &[(&str, &str)] = &[
    (
        "state",
        "Where the state of each environment is kept: `\"local\"` (the default, under `.infra/`), `\"postgres\"` or `\"s3\"`.",
    ),
    (
        "default_environment",
        "The environment commands use when `--env` is not given.",
    ),
    (
        "policies",
        "The Rego policy folders every plan is checked against: `policies = [\"./policy\", \"std/policy/tagging\"]`.",
    ),
    (
        "history",
        "How many state versions each environment's history keeps: `history = { keep = 200 }`. After a write, older versions are pruned, except the one before the current version and the one the last apply, destroy or rollback started from (what a rollback needs). Without it every version is kept.",
    ),
];

/// The hover for `offset` in the document `uri`.
pub(crate) fn hover(
    analysis: &Analysis,
    registry: &Registry,
    functions: &[FunctionDoc],
    uri: &Url,
    offset: usize,
) -> Option<Hover> {
    let file = analysis.file(uri)?;
    let (text, span) = match locate::at(file, offset)? {
        Found::Kind { block } => {
            let shape = shape::top_level(&block.kind.name).or_else(|| {
                [&shape::LIFECYCLE, &shape::VALIDATE]
                    .into_iter()
                    .find(|s| s.kind == block.kind.name)
            })?;
            (
                format!("```infra\n{}\n```", shape.syntax()),
                block.kind.span,
            )
        }
        Found::Label { ancestors, index } => {
            let block = *ancestors.last()?;
            let label = block.labels.get(index)?;
            (label_doc(analysis, registry, block, index)?, label.span)
        }
        Found::AttributeName {
            ancestors,
            attribute,
        } => (
            attribute_name_doc(analysis, registry, &ancestors, &attribute.name.name)?,
            attribute.name.span,
        ),
        Found::Reference {
            ancestors,
            traversal,
            step,
            ..
        } => {
            let target = resolve(&analysis.config, &ancestors, &traversal, step)?;
            (
                target_doc(analysis, registry, &target, traversal.root)?,
                traversal.span_through(step),
            )
        }
        Found::Function { name } => {
            let doc = functions.iter().find(|f| f.name == name.name)?;
            (
                format!("```infra\n{}\n```\n\n{}", doc.signature, doc.documentation),
                name.span,
            )
        }
        Found::Value { .. } => return None,
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: Some(analysis.range(span)),
    })
}

/// The hover of a block's label: the resource type, or the thing it names.
fn label_doc(
    analysis: &Analysis,
    registry: &Registry,
    block: &Block,
    index: usize,
) -> Option<String> {
    let name = &block.labels.get(index)?.value;
    let module = &analysis.config.root;
    match (block.kind.name.as_str(), index) {
        ("resource" | "data", 0) => schema(registry, &block.kind.name, name).map(type_doc),
        ("variable", 0) => module
            .variables
            .get(name)
            .map(|v| variable_doc(analysis, v)),
        ("secret", 0) => module.secrets.get(name).map(secret_doc),
        ("environment", 0) => analysis.config.environments.get(name).map(|e| {
            let mut text = format!("**environment** `{}`", e.name);
            if e.protected {
                text.push_str(" (protected)");
            }
            if let Some(description) = &e.description {
                let _ = write!(text, "\n\n{description}");
            }
            text
        }),
        _ => None,
    }
}

/// The schema of a resource (`resource`) or data source (`data`) type.
fn schema<'r>(
    registry: &'r Registry,
    kind: &str,
    resource_type: &str,
) -> Option<&'r ResourceSchema> {
    match kind {
        "data" => registry.data_source(resource_type),
        _ => registry.resource(resource_type),
    }
}

/// The hover of an attribute's name: its schema entry in a resource, the
/// child's variable in a module call, else the meta-argument.
fn attribute_name_doc(
    analysis: &Analysis,
    registry: &Registry,
    ancestors: &[&Block],
    name: &str,
) -> Option<String> {
    let block = *ancestors.last()?;
    match block.kind.name.as_str() {
        "resource" | "data" => {
            if let Some((_, doc)) = META_ARGUMENTS.iter().find(|(meta, _)| *meta == name) {
                return Some(format!("**{name}** (meta-argument)\n\n{doc}"));
            }
            let resource_type = &block.labels.first()?.value;
            let schema = schema(registry, &block.kind.name, resource_type)?;
            schema.attribute(name).map(|a| attribute_doc(schema, a))
        }
        "stack" => STACK_SETTINGS
            .iter()
            .find(|(setting, _)| *setting == name)
            .map(|(setting, doc)| format!("**{setting}** (stack setting)\n\n{doc}")),
        "module" => {
            let call = analysis
                .config
                .root
                .module_calls
                .get(&block.labels.first()?.value)?;
            call.module
                .variables
                .get(name)
                .map(|v| variable_doc(analysis, v))
        }
        _ => None,
    }
}

/// The hover of what a reference names.
fn target_doc(
    analysis: &Analysis,
    registry: &Registry,
    target: &Target<'_>,
    root: &str,
) -> Option<String> {
    Some(match target {
        Target::Variable(variable) => variable_doc(analysis, variable),
        Target::Secret(secret) => secret_doc(secret),
        Target::Local(local) => format!(
            "**local** `{}`\n\n```infra\n{}\n```",
            local.name,
            source_text(analysis, local.expr.span)
        ),
        Target::Resource {
            resource,
            attribute,
        } => {
            let kind = if root == "data" { "data" } else { "resource" };
            let schema = schema(registry, kind, &resource.addr.resource_type)?;
            match attribute.as_deref().and_then(|name| schema.attribute(name)) {
                Some(attribute) => attribute_doc(schema, attribute),
                None => format!("`{}`\n\n{}", resource.addr, type_doc(schema)),
            }
        }
        Target::Service(service) => format!("**service** `{}`", service.addr.name),
        Target::ModuleCall(call) => format!("**module** `{}` from `{}`", call.name, call.source),
        Target::ModuleOutput(call, output) => {
            let mut text = format!("**output** `{}` of module `{}`", output.name, call.name);
            if output.sensitive {
                let _ = write!(text, " {HIDDEN}");
            }
            if let Some(description) = &output.description {
                let _ = write!(text, "\n\n{description}");
            }
            text
        }
        Target::Environments => {
            let names: Vec<String> = analysis
                .config
                .environments
                .keys()
                .map(|name| format!("`{name}`"))
                .collect();
            let mut text = String::from(
                "**env**: the environment being planned (`env.name`, `env.protected`)",
            );
            if !names.is_empty() {
                let _ = write!(text, "\n\nenvironments: {}", names.join(", "));
            }
            text
        }
        Target::Enclosing { block, attribute } => {
            let mut text = format!("`{root}` of `{}`", block.kind.name);
            for label in &block.labels {
                let _ = write!(text, " \"{}\"", label.value);
            }
            if let Some(attribute) = attribute.as_deref().and_then(|name| block.attribute(name)) {
                let _ = write!(
                    text,
                    "\n\n```infra\n{} = {}\n```",
                    attribute.name.name,
                    source_text(analysis, attribute.value.span)
                );
            }
            text
        }
    })
}

/// A resource type's schema: its description and every attribute, required
/// first.
fn type_doc(schema: &ResourceSchema) -> String {
    let mut text = format!(
        "**{}** (provider `{}`)\n\n{}\n\n| attribute | type | |\n|---|---|---|\n",
        schema.resource_type, schema.provider, schema.description
    );
    let mut attributes: Vec<&AttributeSchema> = schema.attributes.iter().collect();
    attributes.sort_by_key(|a| a.presence != Presence::Required);
    for attribute in attributes {
        let _ = writeln!(
            text,
            "| `{}` | `{}` | {} |",
            attribute.name,
            attribute.ty,
            presence(attribute)
        );
    }
    text
}

/// One attribute's schema entry.
fn attribute_doc(schema: &ResourceSchema, attribute: &AttributeSchema) -> String {
    let mut text = format!(
        "`{}.{}`: `{}`, {}",
        schema.resource_type,
        attribute.name,
        attribute.ty,
        presence(attribute)
    );
    if attribute.force_new {
        text.push_str(", forces replacement");
    }
    if attribute.sensitive {
        text.push_str(", sensitive");
    }
    if !attribute.description.is_empty() {
        let _ = write!(text, "\n\n{}", attribute.description);
    }
    text
}

fn presence(attribute: &AttributeSchema) -> &'static str {
    match attribute.presence {
        Presence::Required => "required",
        Presence::Optional => "optional",
        Presence::Computed => "computed",
        Presence::OptionalComputed => "optional, computed when unset",
    }
}

/// A variable: type, default, description, and each environment's value.
fn variable_doc(analysis: &Analysis, variable: &config::Variable) -> String {
    let mut text = format!("**variable** `{}`: `{}`", variable.name, variable.ty);
    if variable.sensitive {
        let _ = write!(text, " {HIDDEN}");
    }
    let shown = |span: Span| {
        if variable.sensitive {
            String::from(HIDDEN)
        } else {
            format!("`{}`", one_line(&source_text(analysis, span)))
        }
    };
    match &variable.default {
        Some(default) => {
            let _ = write!(text, "\n\ndefault: {}", shown(default.span));
        }
        None => text.push_str("\n\nno default: every environment must set it"),
    }
    if let Some(description) = &variable.description {
        let _ = write!(text, "\n\n{description}");
    }
    let mut rows = String::new();
    for environment in analysis.config.environments.values() {
        let value = environment.vars.as_ref().and_then(|vars| match &vars.kind {
            ExprKind::Object(entries) => entries
                .values()
                .find(|entry| entry.key.literal() == Some(variable.name.as_str()))
                .map(|entry| entry.value.span),
            _ => None,
        });
        if let Some(span) = value {
            let _ = writeln!(rows, "| `{}` | {} |", environment.name, shown(span));
        }
    }
    if !rows.is_empty() {
        let _ = write!(text, "\n\n| environment | value |\n|---|---|\n{rows}");
    }
    text
}

/// A secret: where its value comes from, never the value.
fn secret_doc(secret: &config::Secret) -> String {
    let source = match &secret.source {
        SecretSource::Generate { length, .. } => {
            format!("generated once, {length} characters, kept encrypted in state")
        }
        SecretSource::Env(name) => format!("read from the environment variable `{name}`"),
        SecretSource::File(path) => format!("read from the file `{path}`"),
    };
    let mut text = format!("**secret** `{}` {HIDDEN}\n\n{source}", secret.name);
    if let Some(description) = &secret.description {
        let _ = write!(text, "\n\n{description}");
    }
    text
}

/// The source text of a span.
fn source_text(analysis: &Analysis, span: Span) -> String {
    analysis
        .text(span.file)
        .get(span.start()..span.end())
        .unwrap_or_default()
        .to_owned()
}

/// Text on one line, shortened when long (a hover is not the place for a
/// whole heredoc).
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 80 {
        let short: String = line.chars().take(77).collect();
        format!("{short}...")
    } else {
        line
    }
}
