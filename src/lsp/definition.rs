//! Go to definition: from a reference to the block that defines it (across
//! the stack's files, and into a child module for `module.NAME.OUTPUT`), from
//! a module call's input to the child's variable, and from a module call's
//! `source` to the child module's first file.
//!
//! Invariant: answers only with places on disk; stdlib modules, which live
//! in the binary, have none.

use super::analysis::Analysis;
use super::locate::{self, Found};
use super::resolve::{Target, resolve};
use crate::config::Module;
use crate::diag::Span;
use lsp_types::{Location, Url};

/// The definitions of what is at `offset` in the document `uri`.
pub(crate) fn definition(analysis: &Analysis, uri: &Url, offset: usize) -> Vec<Location> {
    let Some(file) = analysis.file(uri) else {
        return Vec::new();
    };
    let spans = match locate::at(file, offset) {
        Some(Found::Reference {
            ancestors,
            traversal,
            step,
            ..
        }) => match resolve(&analysis.config, &ancestors, &traversal, step) {
            Some(target) => target_spans(analysis, &target),
            None => Vec::new(),
        },
        Some(Found::AttributeName {
            ancestors,
            attribute,
        }) => module_call(analysis, &ancestors)
            .and_then(|child| child.variables.get(&attribute.name.name))
            .map(|variable| vec![variable.span])
            .unwrap_or_default(),
        Some(Found::Value {
            ancestors,
            attribute,
        }) if attribute.name.name == "source" => module_call(analysis, &ancestors)
            .and_then(first_file_span)
            .map(|span| vec![span])
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    spans
        .into_iter()
        .filter_map(|span| analysis.location(span))
        .collect()
}

/// Where a target is defined.
pub(crate) fn target_spans(analysis: &Analysis, target: &Target<'_>) -> Vec<Span> {
    match target {
        Target::Variable(variable) => vec![variable.span],
        Target::Local(local) => vec![local.span],
        Target::Secret(secret) => vec![secret.span],
        Target::Service(service) => vec![service.span],
        Target::ModuleCall(call) => vec![call.span],
        Target::ModuleOutput(_, output) => vec![output.span],
        Target::Resource {
            resource,
            attribute,
        } => vec![
            attribute
                .as_deref()
                .and_then(|name| resource.attributes.get(name))
                .map_or(resource.span, |a| a.span),
        ],
        Target::Environments => analysis
            .config
            .environments
            .values()
            .map(|environment| environment.span)
            .collect(),
        Target::Enclosing { block, attribute } => vec![
            attribute
                .as_deref()
                .and_then(|name| block.attribute(name))
                .map_or(block.header_span(), |a| a.span),
        ],
    }
}

/// The child module of the `module` block that is the innermost ancestor.
fn module_call<'a>(
    analysis: &'a Analysis,
    ancestors: &[&crate::syntax::ast::Block],
) -> Option<&'a Module> {
    let block = ancestors.last().filter(|b| b.kind.name == "module")?;
    let name = &block.labels.first()?.value;
    analysis
        .config
        .root
        .module_calls
        .get(name)
        .map(|call| call.module.as_ref())
}

/// The start of the first file of a module (by file id: load order, which is
/// file-name order), found from the blocks it defines.
fn first_file_span(module: &Module) -> Option<Span> {
    let spans = module
        .variables
        .values()
        .map(|v| v.span)
        .chain(module.locals.values().map(|l| l.span))
        .chain(module.secrets.values().map(|s| s.span))
        .chain(module.resources.values().map(|r| r.span))
        .chain(module.module_calls.values().map(|c| c.span))
        .chain(module.outputs.values().map(|o| o.span));
    let file = spans.map(|span| span.file).min()?;
    Some(Span::new(file, 0, 0))
}
