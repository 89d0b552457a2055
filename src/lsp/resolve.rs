//! What a reference under the cursor names, looked up in the checked model:
//! the same classification `check` makes (`var.`, `local.`, `secret.`,
//! `service.`, `module.`, `data.`, `env`, `each`, `count`, `self`, else a
//! resource type), resolved to the block that defines it.
//!
//! Invariant: lookups only; a name the model does not have resolves to
//! nothing (checking has reported it already).

use crate::addr::Mode;
use crate::config::{self, Config, Module, ModuleCall};
use crate::lang::refs::Traversal;
use crate::syntax::ast::Block;

/// What a reference names.
#[derive(Debug)]
pub(crate) enum Target<'a> {
    /// `var.NAME`.
    Variable(&'a config::Variable),
    /// `local.NAME`.
    Local(&'a config::Local),
    /// `secret.NAME`.
    Secret(&'a config::Secret),
    /// `TYPE.NAME`, `data.TYPE.NAME`, and an attribute of it when the cursor
    /// is past the name.
    Resource {
        /// The block.
        resource: &'a config::Resource,
        /// The attribute named after it.
        attribute: Option<String>,
    },
    /// `service.NAME`.
    Service(&'a config::Resource),
    /// `module.NAME`.
    ModuleCall(&'a ModuleCall),
    /// `module.NAME.OUTPUT`.
    ModuleOutput(&'a ModuleCall, &'a config::Output),
    /// `env` and its attributes: every environment block.
    Environments,
    /// `each`, `count` or `self`: the block they are about, and for `self.ATTR`
    /// or `each`/`count` the attribute that gives them (`for_each`, `count`).
    Enclosing {
        /// The top-level block around the reference.
        block: &'a Block,
        /// The attribute of that block.
        attribute: Option<String>,
    },
}

/// What step `step` of `traversal` names (0 for the root), written in the
/// root module, inside `ancestors`.
pub(crate) fn resolve<'a>(
    config: &'a Config,
    ancestors: &[&'a Block],
    traversal: &Traversal,
    step: usize,
) -> Option<Target<'a>> {
    let module = &config.root;
    let first = traversal.step(0);
    match traversal.root {
        "var" => module.variables.get(first?).map(Target::Variable),
        "local" => module.locals.get(first?).map(Target::Local),
        "secret" => module.secrets.get(first?).map(Target::Secret),
        "service" => module
            .resources
            .get(&(
                crate::addr::Mode::Managed,
                crate::addr::SERVICE_TYPE.to_owned(),
                first?.to_owned(),
            ))
            .map(|resource| Target::Service(resource.as_ref())),
        "module" => {
            let call = module.module_calls.get(first?)?;
            // `module.NAME["KEY"].OUTPUT`: the output comes after the key.
            let output_step = if traversal.key(1).is_some() { 2 } else { 1 };
            match traversal.step(output_step) {
                Some(output) if step > output_step => call
                    .module
                    .outputs
                    .get(output)
                    .map(|o| Target::ModuleOutput(call, o)),
                _ => Some(Target::ModuleCall(call)),
            }
        }
        "data" => resource(
            module,
            Mode::Data,
            first?,
            traversal.step(1)?,
            traversal,
            step,
            1,
        ),
        "env" => Some(Target::Environments),
        "each" | "count" | "self" => {
            let block = *ancestors.first()?;
            let attribute = match traversal.root {
                "each" => Some(String::from("for_each")),
                "count" => Some(String::from("count")),
                _ => traversal.step(0).filter(|_| step >= 1).map(str::to_owned),
            };
            Some(Target::Enclosing { block, attribute })
        }
        resource_type => resource(
            module,
            Mode::Managed,
            resource_type,
            first?,
            traversal,
            step,
            0,
        ),
    }
}

/// A resource target; `name_step` is the index in `traversal.steps` of its
/// name, and `step` the cursor's step (0 for the root, `i + 1` for step `i`).
fn resource<'a>(
    module: &'a Module,
    mode: Mode,
    resource_type: &str,
    name: &str,
    traversal: &Traversal,
    step: usize,
    name_step: usize,
) -> Option<Target<'a>> {
    let resource = module
        .resources
        .get(&(mode, resource_type.to_owned(), name.to_owned()))?;
    // Past the name, the first step that is an attribute name (not an index).
    let attribute = if step > name_step + 1 {
        (name_step + 1..traversal.steps.len())
            .find(|&i| traversal.keys.get(i).is_some_and(Option::is_none))
            .and_then(|i| traversal.step(i))
            .map(str::to_owned)
    } else {
        None
    };
    Some(Target::Resource {
        resource,
        attribute,
    })
}
