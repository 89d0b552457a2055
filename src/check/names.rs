//! Name resolution: every traversal an expression makes is classified into a
//! [`Reference`] to a variable, local, secret, resource, data source, service,
//! module output, or one of `env`, `each`, `count`, `self`; anything else is
//! `infra::check::unknown_reference` with a "did you mean".
//!
//! Invariant: the tables are built once per module (maps), so each lookup is
//! O(log n) and a stack of 100k resources resolves in linear time.

use crate::addr::Mode;
use crate::config::{RefTarget, Reference};
use crate::diag::{Code, Diagnostic, Diagnostics, Span, did_you_mean};
use crate::lang::refs::{Traversal, traversals};
use crate::syntax::ast::Expr;
use std::collections::{BTreeMap, BTreeSet};

/// The names a module defines.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub variables: BTreeSet<String>,
    pub locals: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
    pub services: BTreeSet<String>,
    /// Managed resources: type → names.
    pub resources: BTreeMap<String, NameSet>,
    /// Data sources: type → names.
    pub data: BTreeMap<String, NameSet>,
    /// Module calls: name → the child's output names.
    pub modules: BTreeMap<String, BTreeSet<String>>,
    /// The module calls with `for_each` or `count`: name → which of the two.
    /// A reference names one of their instances by key before the output.
    pub module_expansions: BTreeMap<String, &'static str>,
}

/// The names of one resource type's blocks: hashed, since a large module
/// declares tens of thousands and a sorted set compares names at every level
/// on each insert. Nothing depends on its order: suggestions sort the names
/// first ([`sorted`]).
pub(crate) type NameSet =
    hashbrown::HashSet<String, std::hash::BuildHasherDefault<crate::graph::hash::FastHasher>>;

/// `names` in order, for a suggestion that does not depend on how a set
/// keeps them.
fn sorted(names: &NameSet) -> Vec<&str> {
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted
}

/// Where an expression sits, which decides whether `each`, `count` and `self` exist.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context {
    pub for_each: bool,
    pub count: bool,
    pub self_allowed: bool,
}

/// The root names that are not resource types.
const ROOTS: &[&str] = &[
    "var", "local", "secret", "env", "data", "module", "service", "each", "count", "self",
];

/// Attributes of `env`.
pub(crate) const ENV_ATTRIBUTES: &[&str] = &["name", "protected"];

fn unknown(span: Span, label: String, help: String) -> Diagnostic {
    Diagnostic::error(Code::CheckUnknownReference, span, label).with_help(help)
}

fn suggest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    prefix: &str,
    otherwise: &str,
) -> String {
    match did_you_mean(name, candidates) {
        Some(s) => format!("did you mean `{prefix}{s}`?"),
        None => otherwise.to_owned(),
    }
}

impl Names {
    /// Resolves every traversal in `expr`, appending references and diagnostics.
    pub fn resolve(
        &self,
        expr: &Expr,
        context: Context,
        references: &mut Vec<Reference>,
        diagnostics: &mut Diagnostics,
    ) {
        for traversal in traversals(expr) {
            match self.classify(&traversal, context) {
                Ok(Some(reference)) => references.push(reference),
                Ok(None) => {}
                Err(d) => diagnostics.push(d),
            }
        }
    }

    fn need_step<'t>(
        &self,
        t: &'t Traversal,
        i: usize,
        what: &str,
        example: &str,
    ) -> Result<&'t str, Diagnostic> {
        t.step(i).ok_or_else(|| {
            unknown(
                t.span_through(i),
                format!("`{}` needs {what} after it", path_text(t, i)),
                format!("write it like `{example}`"),
            )
        })
    }

    fn classify(&self, t: &Traversal, context: Context) -> Result<Option<Reference>, Diagnostic> {
        let simple = |target: RefTarget, steps: usize| {
            Ok(Some(Reference {
                target,
                span: t.span_through(steps),
                key: None,
            }))
        };
        // A resource reference with the instance key its next step names.
        let resource = |target: RefTarget, steps: usize| {
            Ok(Some(Reference {
                target,
                span: t.span_through(steps),
                key: t.key(steps).cloned(),
            }))
        };
        match t.root {
            "var" => {
                let name = self.need_step(t, 0, "a variable name", "var.NAME")?;
                if !self.variables.contains(name) {
                    return Err(unknown(
                        t.span_through(1),
                        format!("no variable `{name}`"),
                        suggest(
                            name,
                            self.variables.iter().map(String::as_str),
                            "var.",
                            "declare it with `variable \"NAME\" { ... }`",
                        ),
                    ));
                }
                simple(RefTarget::Variable(name.to_owned()), 1)
            }
            "local" => {
                let name = self.need_step(t, 0, "a local name", "local.NAME")?;
                if !self.locals.contains(name) {
                    return Err(unknown(
                        t.span_through(1),
                        format!("no local `{name}`"),
                        suggest(
                            name,
                            self.locals.iter().map(String::as_str),
                            "local.",
                            "define it in a `locals { ... }` block",
                        ),
                    ));
                }
                simple(RefTarget::Local(name.to_owned()), 1)
            }
            "secret" => {
                let name = self.need_step(t, 0, "a secret name", "secret.NAME")?;
                if !self.secrets.contains(name) {
                    return Err(unknown(
                        t.span_through(1),
                        format!("no secret `{name}`"),
                        suggest(
                            name,
                            self.secrets.iter().map(String::as_str),
                            "secret.",
                            "declare it with `secret \"NAME\" { ... }`",
                        ),
                    ));
                }
                simple(RefTarget::Secret(name.to_owned()), 1)
            }
            "service" => {
                let name = self.need_step(t, 0, "a service name", "service.NAME.port")?;
                if !self.services.contains(name) {
                    return Err(unknown(
                        t.span_through(1),
                        format!("no service `{name}`"),
                        suggest(
                            name,
                            self.services.iter().map(String::as_str),
                            "service.",
                            "declare it with `service \"NAME\" { ... }`",
                        ),
                    ));
                }
                simple(
                    RefTarget::Resource(
                        Mode::Managed,
                        crate::addr::SERVICE_TYPE.to_owned(),
                        name.to_owned(),
                    ),
                    1,
                )
            }
            "env" => {
                let name = self.need_step(t, 0, "an attribute", "env.name")?;
                if !ENV_ATTRIBUTES.contains(&name) {
                    return Err(unknown(
                        t.span_through(1),
                        format!("the environment has no attribute `{name}`"),
                        suggest(
                            name,
                            ENV_ATTRIBUTES.iter().copied(),
                            "env.",
                            "the environment has `env.name` and `env.protected`",
                        ),
                    ));
                }
                simple(RefTarget::Environment, 1)
            }
            "each" => {
                if !context.for_each {
                    return Err(Diagnostic::error(
                        Code::CheckEachWithoutForEach,
                        t.root_span,
                        "`each` is only set in a block with `for_each`",
                    )
                    .with_help("add `for_each = ...` to this block, or use a concrete value"));
                }
                let name = self.need_step(t, 0, "`.key` or `.value`", "each.key")?;
                if name != "key" && name != "value" {
                    return Err(unknown(
                        t.span_through(1),
                        format!("`each` has no attribute `{name}`"),
                        String::from("`each` has `each.key` and `each.value`"),
                    ));
                }
                simple(RefTarget::Each, 1)
            }
            "count" => {
                if !context.count {
                    return Err(Diagnostic::error(
                        Code::CheckCountWithoutCount,
                        t.root_span,
                        "`count` is only set in a block with `count`",
                    )
                    .with_help("add `count = N` to this block, or use a concrete value"));
                }
                let name = self.need_step(t, 0, "`.index`", "count.index")?;
                if name != "index" {
                    return Err(unknown(
                        t.span_through(1),
                        format!("`count` has no attribute `{name}`"),
                        String::from("`count` has `count.index`"),
                    ));
                }
                simple(RefTarget::Count, 1)
            }
            "self" => {
                if !context.self_allowed {
                    return Err(Diagnostic::error(
                        Code::CheckSelfOutsideBlock,
                        t.root_span,
                        "`self` is not defined here",
                    )
                    .with_help("`self` refers to the resource or service block it is written in"));
                }
                simple(RefTarget::SelfRef, 0)
            }
            "data" => {
                let resource_type = self.need_step(t, 0, "a data source type", "data.TYPE.NAME")?;
                let Some(names) = self.data.get(resource_type) else {
                    return Err(unknown(
                        t.span_through(1),
                        format!("no data source of type `{resource_type}`"),
                        suggest(
                            resource_type,
                            self.data.keys().map(String::as_str),
                            "data.",
                            "declare it with `data \"TYPE\" \"NAME\" { ... }`",
                        ),
                    ));
                };
                let name = self.need_step(t, 1, "a data source name", "data.TYPE.NAME")?;
                if !names.contains(name) {
                    return Err(unknown(
                        t.span_through(2),
                        format!("no data source `{resource_type}.{name}`"),
                        suggest(
                            name,
                            sorted(names),
                            &format!("data.{resource_type}."),
                            "declare it with `data \"TYPE\" \"NAME\" { ... }`",
                        ),
                    ));
                }
                resource(
                    RefTarget::Resource(Mode::Data, resource_type.to_owned(), name.to_owned()),
                    2,
                )
            }
            "module" => {
                let name = self.need_step(t, 0, "a module name", "module.NAME.OUTPUT")?;
                let Some(outputs) = self.modules.get(name) else {
                    return Err(unknown(
                        t.span_through(1),
                        format!("no module `{name}`"),
                        suggest(
                            name,
                            self.modules.keys().map(String::as_str),
                            "module.",
                            "declare it with `module \"NAME\" { source = ... }`",
                        ),
                    ));
                };
                // The step where the output name is: after the instance key
                // when the call expands.
                let output_step = match (self.module_expansions.get(name), t.key(1)) {
                    (None, None) => 1,
                    (Some(_), Some(_)) => 2,
                    (None, Some(key)) => {
                        return Err(unknown(
                            t.span_through(2),
                            format!("module `{name}` has one instance, not one per key"),
                            format!(
                                "`module.{name}` has no `count` or `for_each`; leave out `{key}`, as in `module.{name}.OUTPUT`"
                            ),
                        ));
                    }
                    (Some(meta), None) => match t.step(1) {
                        None => return simple(RefTarget::ModuleOutput(name.to_owned(), None), 1),
                        Some(output) => {
                            let example = if *meta == "count" { "[0]" } else { "[\"KEY\"]" };
                            return Err(unknown(
                                t.span_through(2),
                                format!(
                                    "module `{name}` has one instance per {}",
                                    if *meta == "count" { "index" } else { "key" }
                                ),
                                format!(
                                    "`module.{name}` has `{meta}`, so it is a {} of instances: name one, as in `module.{name}{example}.{output}`, or use them all, as in `[for m in module.{name} : m.{output}]`",
                                    if *meta == "count" { "list" } else { "map" }
                                ),
                            ));
                        }
                    },
                };
                match t.step(output_step) {
                    None => simple(RefTarget::ModuleOutput(name.to_owned(), None), output_step),
                    Some(output) if outputs.contains(output) => simple(
                        RefTarget::ModuleOutput(name.to_owned(), Some(output.to_owned())),
                        output_step + 1,
                    ),
                    Some(output) => Err(unknown(
                        t.span_through(output_step + 1),
                        format!("module `{name}` has no output `{output}`"),
                        suggest(
                            output,
                            outputs.iter().map(String::as_str),
                            &format!("module.{name}."),
                            &format!(
                                "its outputs are: {}",
                                if outputs.is_empty() {
                                    String::from("none")
                                } else {
                                    outputs.iter().cloned().collect::<Vec<_>>().join(", ")
                                }
                            ),
                        ),
                    )),
                }
            }
            resource_type => {
                let Some(names) = self.resources.get(resource_type) else {
                    let candidates = ROOTS
                        .iter()
                        .copied()
                        .chain(self.resources.keys().map(String::as_str));
                    let help = suggest(
                        resource_type,
                        candidates,
                        "",
                        "references start with var, local, secret, env, data, module, service, each, count, self or a resource type declared in this module",
                    );
                    return Err(unknown(
                        t.root_span,
                        format!("`{resource_type}` is not defined"),
                        help,
                    ));
                };
                let name =
                    self.need_step(t, 0, "a resource name", &format!("{resource_type}.NAME"))?;
                if !names.contains(name) {
                    return Err(unknown(
                        t.span_through(1),
                        format!("no resource `{resource_type}.{name}`"),
                        suggest(
                            name,
                            sorted(names),
                            &format!("{resource_type}."),
                            "declare it with `resource \"TYPE\" \"NAME\" { ... }`",
                        ),
                    ));
                }
                resource(
                    RefTarget::Resource(Mode::Managed, resource_type.to_owned(), name.to_owned()),
                    1,
                )
            }
        }
    }
}

fn path_text(t: &Traversal, steps: usize) -> String {
    let mut text = t.root.to_owned();
    for (name, _) in t.steps.iter().take(steps) {
        text.push('.');
        text.push_str(name);
    }
    text
}
