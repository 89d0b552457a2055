//! Lowering one module's syntax trees into a [`config::Module`]: blocks become
//! typed entries, provider schemas are checked (unknown types and attributes,
//! required and computed attributes), secret sources and variable types are
//! read, `moved`/`import` addresses parsed, and every expression's references
//! resolved through [`Names`].
//!
//! Invariant: assumes the structural passes ran; a block they rejected is
//! skipped quietly here, so one mistake is reported once. Expressions are
//! moved out of the trees into the module, never cloned (a 100k-resource
//! stack would otherwise hold both at once); each block is lowered once.

use super::names::{Context, Names};
use crate::addr::{InstanceAddr, InstanceKey, Mode, ModulePath, ResourceAddr, Target};
use crate::config::{
    Config, Environment, Import, Lifecycle, Local, Module, ModuleCall, ModuleSource, Moved, Output,
    ProviderConfig, Reference, Resource, Secret, SecretSource, StackSettings, Validation, Variable,
};
use crate::diag::{Code, Diagnostic, Diagnostics, Span, did_you_mean};
use crate::lang::Type;
use crate::providers::{Presence, Registry};
use crate::syntax::ast::{self, Attribute, Block, Expr, ExprKind, TypeExpr, TypeExprKind};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The literal string an expression is, if it is one.
pub(crate) fn literal_string(expr: &Expr) -> Option<&str> {
    match &expr.kind {
        ExprKind::String(template) => template.as_literal(),
        _ => None,
    }
}

/// The literal bool an expression is, if it is one.
pub(crate) fn literal_bool(expr: &Expr) -> Option<bool> {
    match &expr.kind {
        ExprKind::Bool(b) => Some(*b),
        _ => None,
    }
}

fn expected_literal(expr: &Expr, what: &str, example: &str) -> Diagnostic {
    Diagnostic::error(
        Code::CheckExpectedLiteral,
        expr.span,
        format!("{what} must be written literally"),
    )
    .with_help(format!(
        "write it like {example}; it is read before anything is evaluated"
    ))
}

fn string_attr(
    block: &Block,
    name: &str,
    diagnostics: &mut Diagnostics,
    example: &str,
) -> Option<String> {
    let attribute = block.attribute(name)?;
    match literal_string(&attribute.value) {
        Some(s) => Some(s.to_owned()),
        None => {
            diagnostics.push(expected_literal(
                &attribute.value,
                &format!("`{name}`"),
                example,
            ));
            None
        }
    }
}

fn bool_attr(block: &Block, name: &str, diagnostics: &mut Diagnostics) -> bool {
    let Some(attribute) = block.attribute(name) else {
        return false;
    };
    match literal_bool(&attribute.value) {
        Some(b) => b,
        None => {
            diagnostics.push(expected_literal(
                &attribute.value,
                &format!("`{name}`"),
                &format!("`{name} = true`"),
            ));
            false
        }
    }
}

fn label(block: &Block, i: usize) -> Option<&str> {
    block.labels.get(i).map(|l| l.value.as_str())
}

/// Converts a type expression to a language type.
pub(crate) fn lower_type(ty: &TypeExpr) -> Type {
    match &ty.kind {
        TypeExprKind::String => Type::String,
        TypeExprKind::Number => Type::Number,
        TypeExprKind::Bool => Type::Bool,
        TypeExprKind::Any => Type::Any,
        TypeExprKind::List(t) => Type::List(Box::new(lower_type(t))),
        TypeExprKind::Set(t) => Type::Set(Box::new(lower_type(t))),
        TypeExprKind::Map(t) => Type::Map(Box::new(lower_type(t))),
        TypeExprKind::Optional(t) => lower_type(t),
        TypeExprKind::Tuple(items) => Type::Tuple(items.iter().map(lower_type).collect()),
        TypeExprKind::Object(fields) => Type::Object(
            fields
                .iter()
                .map(|(name, t)| {
                    let optional = matches!(t.kind, TypeExprKind::Optional(_));
                    (name.name.clone(), (lower_type(t), optional))
                })
                .collect(),
        ),
    }
}

/// A child module to load for a `module` block.
pub(crate) trait ChildLoader {
    /// Loads and lowers the module `source` called from `parent` as `name`.
    fn load_child(
        &mut self,
        parent: &Module,
        name: &str,
        source: &str,
        source_span: Span,
    ) -> Option<Module>;
}

/// Lowers the root module's `stack` and `environment` blocks.
/// `policies = ["./policy", "std/policy/tagging"]`: a literal list of
/// literal strings.
fn lower_policies(value: &Expr, diagnostics: &mut Diagnostics) -> Vec<(String, Span)> {
    let example = "`policies = [\"./policy\", \"std/policy/tagging\"]`";
    let ExprKind::List(items) = &value.kind else {
        diagnostics.push(expected_literal(value, "`policies`", example));
        return Vec::new();
    };
    let mut policies = Vec::new();
    for element in &items.items {
        let item = &element.value;
        match literal_string(item) {
            Some(path) => policies.push((path.to_owned(), item.span)),
            None => diagnostics.push(expected_literal(item, "each of `policies`", example)),
        }
    }
    policies
}

pub(crate) fn lower_stack(
    files: &[&ast::File],
    default_name: &str,
    diagnostics: &mut Diagnostics,
) -> (StackSettings, BTreeMap<String, Environment>) {
    let mut stack = StackSettings {
        name: default_name.to_owned(),
        state: String::from("local"),
        ..StackSettings::default()
    };
    let mut environments = BTreeMap::new();
    for block in files.iter().flat_map(|f| blocks(f)) {
        match block.kind.name.as_str() {
            "stack" if stack.span.is_none() => {
                stack.span = Some(block.span);
                if let Some(name) = label(block, 0) {
                    stack.name = name.to_owned();
                }
                if let Some(state) = string_attr(block, "state", diagnostics, "`state = \"local\"`")
                {
                    const BACKENDS: &[&str] = &["local", "postgres", "s3"];
                    if BACKENDS.contains(&state.as_str()) {
                        stack.state = state;
                    } else if let Some(attribute) = block.attribute("state") {
                        let help = match did_you_mean(&state, BACKENDS.iter().copied()) {
                            Some(s) => format!(
                                "did you mean \"{s}\"? the backends are local, postgres and s3"
                            ),
                            None => String::from("the backends are local, postgres and s3"),
                        };
                        diagnostics.push(
                            Diagnostic::error(
                                Code::CheckExpectedLiteral,
                                attribute.value.span,
                                format!("no state backend \"{state}\""),
                            )
                            .with_help(help),
                        );
                    }
                }
                if let Some(attribute) = block.attribute("default_environment") {
                    match literal_string(&attribute.value) {
                        Some(name) => {
                            stack.default_environment =
                                Some((name.to_owned(), attribute.value.span))
                        }
                        None => diagnostics.push(expected_literal(
                            &attribute.value,
                            "`default_environment`",
                            "`default_environment = \"dev\"`",
                        )),
                    }
                }
                if let Some(attribute) = block.attribute("policies") {
                    stack.policies = lower_policies(&attribute.value, diagnostics);
                }
                if let Some(attribute) = block.attribute("history") {
                    stack.history = super::history::lower_history(&attribute.value, diagnostics);
                }
                for attribute in block.attributes() {
                    if !matches!(
                        attribute.name.name.as_str(),
                        "state" | "default_environment" | "policies" | "history"
                    ) {
                        stack
                            .backend
                            .insert(attribute.name.name.clone(), attribute.value.clone());
                    }
                }
            }
            "environment" => {
                let Some(name) = label(block, 0) else {
                    continue;
                };
                if environments.contains_key(name) {
                    continue;
                }
                let description =
                    string_attr(block, "description", diagnostics, "`description = \"...\"`");
                environments.insert(
                    name.to_owned(),
                    Environment {
                        name: name.to_owned(),
                        vars: block.attribute("vars").map(|a| a.value.clone()),
                        protected: bool_attr(block, "protected", diagnostics),
                        description,
                        span: block.span,
                    },
                );
            }
            _ => {}
        }
    }
    if let Some((name, span)) = &stack.default_environment
        && !environments.contains_key(name)
    {
        let names: Vec<&str> = environments.keys().map(String::as_str).collect();
        let help = if names.is_empty() {
            String::from(
                "this stack declares no environments; add an `environment \"NAME\" { ... }` block or remove `default_environment`",
            )
        } else {
            let mut help = match did_you_mean(name, names.iter().copied()) {
                Some(s) => format!("did you mean \"{s}\"? "),
                None => String::new(),
            };
            help.push_str(&format!("the environments are {}", names.join(", ")));
            help
        };
        diagnostics.push(
            Diagnostic::error(
                Code::CheckUnknownEnvironment,
                *span,
                format!("no environment \"{name}\""),
            )
            .with_help(help),
        );
    }
    (stack, environments)
}

fn blocks(file: &ast::File) -> impl Iterator<Item = &Block> {
    file.body.items.iter().filter_map(|item| match item {
        ast::Item::Block(b) => Some(b),
        ast::Item::Attribute(_) => None,
    })
}

/// Where a top-level block is: its file's and its item's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    file: usize,
    item: usize,
}

/// The block at `at`, if there is one.
fn block_at(files: &[ast::File], at: At) -> Option<&Block> {
    match files.get(at.file)?.body.items.get(at.item)? {
        ast::Item::Block(block) => Some(block),
        ast::Item::Attribute(_) => None,
    }
}

/// Moves the block at `at` out of the tree, leaving an empty block with the
/// same spans in its place (each block is lowered once, so nothing is cloned).
fn take_block(files: &mut [ast::File], at: At) -> Option<Block> {
    match files.get_mut(at.file)?.body.items.get_mut(at.item)? {
        ast::Item::Block(block) => Some(take(block)),
        ast::Item::Attribute(_) => None,
    }
}

/// The entries of two lists sorted by key, in key order.
fn merge_sorted(first: Vec<LoweredResource>, second: Vec<LoweredResource>) -> Vec<LoweredResource> {
    let mut merged = Vec::with_capacity(first.len() + second.len());
    let mut first = first.into_iter().peekable();
    let mut second = second.into_iter().peekable();
    loop {
        let take_first = match (first.peek(), second.peek()) {
            (Some(a), Some(b)) => a.0 <= b.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return merged,
        };
        let next = if take_first {
            first.next()
        } else {
            second.next()
        };
        merged.extend(next);
    }
}

/// Moves `block` out, leaving an empty block with the same spans.
fn take(block: &mut Block) -> Block {
    let empty = Block {
        kind: empty_ident(block.kind.span),
        labels: Vec::new(),
        body: ast::Body {
            items: Vec::new(),
            dangling: Vec::new(),
            span: block.body.span,
        },
        trivia: ast::Trivia::default(),
        span: block.span,
    };
    std::mem::replace(block, empty)
}

/// The blocks at `positions` (in tree order, as pass 1 records them), each
/// with what was recorded beside it, borrowed mutably in one walk of the
/// tree.
fn blocks_at<T>(files: &mut [ast::File], positions: Vec<(T, At)>) -> Vec<(T, &mut Block)> {
    let mut out = Vec::with_capacity(positions.len());
    let mut positions = positions.into_iter().peekable();
    for (file_index, file) in files.iter_mut().enumerate() {
        for (item_index, item) in file.body.items.iter_mut().enumerate() {
            let at = At {
                file: file_index,
                item: item_index,
            };
            let Some((_, next)) = positions.peek() else {
                return out;
            };
            if *next != at {
                continue;
            }
            if let (Some((tag, _)), ast::Item::Block(block)) = (positions.next(), item) {
                out.push((tag, block));
            }
        }
    }
    out
}

/// How many resource blocks a module has before [`lower_resources`] lowers
/// them on two threads.
const PARALLEL_RESOURCES: usize = 2_000;

/// A lowered resource block: its key in [`Module::resources`] and the
/// resource.
type LoweredResource = ((Mode, String, String), Box<Resource>);

/// What [`lower_resources`] gives: the resources in key order, their
/// `provider = NAME.ALIAS` (see [`Module::aliased_providers`]) and the
/// problems found, both in block order.
type LoweredResources = (
    Vec<LoweredResource>,
    Vec<(String, String, Span)>,
    Diagnostics,
);

/// Lowers the resource blocks `blocks` of the module at `path` (moved out of
/// the tree), reporting problems in the order a single pass does. A block needs
/// only the names and the registry, both read-only, so with many blocks the
/// second half is lowered on a second thread: a module's resources are
/// most of a large stack's checking, which otherwise runs on one core.
fn lower_resources(
    path: &ModulePath,
    blocks: Vec<(Mode, &mut Block)>,
    names: &Names,
    registry: &Registry,
) -> LoweredResources {
    let lower = |blocks: &mut [(Mode, &mut Block)]| {
        let mut diagnostics = Diagnostics::new();
        let mut aliased = Vec::new();
        let mut lowered: Vec<LoweredResource> = blocks
            .iter_mut()
            .filter_map(|(mode, block)| {
                let block = take(block);
                let provider_span = block.attribute("provider").map(|a| a.value.span);
                let resource =
                    lower_resource(path, *mode, block, names, registry, &mut diagnostics)?;
                aliased.extend(aliased_provider(&resource, provider_span));
                let key = (
                    resource.addr.mode,
                    resource.addr.resource_type.clone(),
                    resource.addr.name.clone(),
                );
                Some((key, Box::new(resource)))
            })
            .collect();
        // In key order, so that the module's map is built in one pass
        // (inserting one by one compares names at every level of the tree:
        // most of checking a large module, on one core); sorted here, on
        // this thread.
        lowered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        (lowered, aliased, diagnostics)
    };
    let mut blocks = blocks;
    let two = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) >= 2;
    if !two || blocks.len() < PARALLEL_RESOURCES {
        return lower(&mut blocks);
    }
    let middle = blocks.len() / 2;
    let (first, second) = blocks.split_at_mut(middle);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| lower(second));
        let (first, mut aliased, mut diagnostics) = lower(first);
        // A panic there is a bug like any other: raised here as it would be
        // on one thread.
        let (second, second_aliased, second_diagnostics) = other
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        aliased.extend(second_aliased);
        diagnostics.extend(second_diagnostics);
        (merge_sorted(first, second), aliased, diagnostics)
    })
}

fn empty_ident(span: Span) -> ast::Ident {
    ast::Ident {
        name: String::new(),
        span,
    }
}

/// Moves an expression out, leaving `null` with the same span.
fn take_expr(expr: &mut Expr) -> Expr {
    let span = expr.span;
    std::mem::replace(
        expr,
        Expr {
            kind: ExprKind::Null,
            span,
        },
    )
}

/// Moves the value of the first attribute named `name` out of `block`.
fn take_value(block: &mut Block, name: &str) -> Option<Expr> {
    block.body.items.iter_mut().find_map(|item| match item {
        ast::Item::Attribute(a) if a.name.name == name => Some(take_expr(&mut a.value)),
        _ => None,
    })
}

/// Lowers one module's files into a [`Module`], loading its children through
/// `loader`. Expressions are moved out of `files` into the module, not copied:
/// afterwards the trees hold only empty blocks and `null`s where the lowered
/// parts were (the `stack` and `environment` blocks are left as they are).
pub(crate) fn lower_module(
    files: &mut [ast::File],
    path: ModulePath,
    source: ModuleSource,
    registry: &Registry,
    loader: &mut dyn ChildLoader,
    diagnostics: &mut Diagnostics,
) -> Module {
    let mut module = Module::new(path, source);
    let mut names = Names::default();
    // Pass 1: declarations (names), children loaded so their outputs are known.
    // Blocks are remembered by position, so pass 2 can move their parts out.
    let mut resource_blocks: Vec<(Mode, At)> = Vec::new();
    let mut service_blocks = Vec::new();
    let mut output_blocks = Vec::new();
    let mut variable_blocks = Vec::new();
    // A `locals` block's position and the attribute's position in its body.
    let mut local_attributes: Vec<(At, usize)> = Vec::new();
    let mut provider_blocks = Vec::new();
    let mut module_blocks = Vec::new();
    let mut moved_blocks = Vec::new();
    let mut import_blocks = Vec::new();
    {
        let mut output_names: HashSet<&str> = HashSet::new();
        let mut module_names: HashSet<&str> = HashSet::new();
        for (file_index, file) in files.iter().enumerate() {
            for (item_index, item) in file.body.items.iter().enumerate() {
                let ast::Item::Block(block) = item else {
                    continue;
                };
                let at = At {
                    file: file_index,
                    item: item_index,
                };
                match block.kind.name.as_str() {
                    "variable" => {
                        if let Some(name) = label(block, 0)
                            && block.labels.len() == 1
                            && names.variables.insert(name.to_owned())
                        {
                            variable_blocks.push(at);
                        }
                    }
                    "locals" => {
                        for (index, item) in block.body.items.iter().enumerate() {
                            if let ast::Item::Attribute(attribute) = item
                                && names.locals.insert(attribute.name.name.clone())
                            {
                                local_attributes.push((at, index));
                            }
                        }
                    }
                    "secret" => {
                        if let Some(name) = label(block, 0)
                            && block.labels.len() == 1
                            && !names.secrets.contains(name)
                        {
                            names.secrets.insert(name.to_owned());
                            lower_secret(block, name, &mut module, diagnostics);
                        }
                    }
                    "resource" | "data" => {
                        let (Some(resource_type), Some(name), 2) =
                            (label(block, 0), label(block, 1), block.labels.len())
                        else {
                            continue;
                        };
                        if block.kind.name == "resource"
                            && resource_type == crate::addr::SERVICE_TYPE
                        {
                            let span = block.labels.first().map_or(block.kind.span, |l| l.span);
                            diagnostics.push(
                                Diagnostic::error(
                                    Code::CheckUnknownResourceType,
                                    span,
                                    "no resource type \"service\"",
                                )
                                .with_help(format!(
                                    "declare a service with its own block: `service \"{name}\" {{ ... }}`"
                                )),
                            );
                            continue;
                        }
                        let (mode, table) = if block.kind.name == "data" {
                            (Mode::Data, &mut names.data)
                        } else {
                            (Mode::Managed, &mut names.resources)
                        };
                        if table
                            .entry(resource_type.to_owned())
                            .or_default()
                            .insert(name.to_owned())
                        {
                            resource_blocks.push((mode, at));
                        }
                    }
                    "service" => {
                        if let Some(name) = label(block, 0)
                            && block.labels.len() == 1
                            && names.services.insert(name.to_owned())
                        {
                            service_blocks.push(at);
                        }
                    }
                    "output" => {
                        if let Some(name) = label(block, 0)
                            && block.labels.len() == 1
                            && !module.outputs.contains_key(name)
                            && output_names.insert(name)
                        {
                            output_blocks.push(at);
                        }
                    }
                    "provider" => provider_blocks.push(at),
                    "module" => {
                        if let Some(name) = label(block, 0)
                            && block.labels.len() == 1
                            && module_names.insert(name)
                        {
                            module_blocks.push(at);
                        }
                    }
                    "moved" => moved_blocks.push(at),
                    "import" => import_blocks.push(at),
                    _ => {}
                }
            }
        }
    }
    // Children first: their outputs are names in this module.
    let mut children: BTreeMap<String, (Module, Block, String, Span)> = BTreeMap::new();
    for at in module_blocks {
        let Some(block) = take_block(files, at) else {
            continue;
        };
        let Some(name) = label(&block, 0).map(str::to_owned) else {
            continue;
        };
        let Some(source_attribute) = block.attribute("source") else {
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckMissingAttribute,
                    block.header_span(),
                    format!("module `{name}` has no `source`"),
                )
                .with_help("add `source = \"./path\"` or `source = \"std/NAME\"`"),
            );
            continue;
        };
        let Some(source_text) = literal_string(&source_attribute.value) else {
            diagnostics.push(expected_literal(
                &source_attribute.value,
                "`source`",
                "`source = \"./modules/x\"`",
            ));
            continue;
        };
        let source_text = source_text.to_owned();
        let source_span = source_attribute.value.span;
        for meta in ["for_each", "count"] {
            if block.attribute(meta).is_some() {
                names.module_expansions.entry(name.clone()).or_insert(meta);
            }
        }
        if let Some(child) = loader.load_child(&module, &name, &source_text, source_span) {
            names.modules.insert(
                name.clone(),
                child.outputs.keys().cloned().collect::<BTreeSet<_>>(),
            );
            children.insert(name, (child, block, source_text, source_span));
        } else {
            // Reported by the loader; keep the name so references do not pile up errors.
            names.modules.insert(name, BTreeSet::new());
        }
    }
    // Pass 2: bodies, with names resolved. Each block is moved out of the
    // tree, lowered, and what the model does not keep is dropped right away.
    let plain = Context::default();
    for at in variable_blocks {
        let Some(mut block) = take_block(files, at) else {
            continue;
        };
        if let Some(variable) = lower_variable(&mut block, &names, diagnostics) {
            module.variables.insert(variable.name.clone(), variable);
        }
    }
    for (at, index) in local_attributes {
        let Some(ast::Item::Attribute(attribute)) = files
            .get_mut(at.file)
            .and_then(|f| f.body.items.get_mut(at.item))
            .and_then(|item| match item {
                ast::Item::Block(block) => block.body.items.get_mut(index),
                ast::Item::Attribute(_) => None,
            })
        else {
            continue;
        };
        let mut references = Vec::new();
        names.resolve(&attribute.value, plain, &mut references, diagnostics);
        module.locals.insert(
            attribute.name.name.clone(),
            Local {
                name: std::mem::take(&mut attribute.name.name),
                expr: take_expr(&mut attribute.value),
                references,
                span: attribute.span,
            },
        );
    }
    for at in provider_blocks {
        let Some(mut block) = take_block(files, at) else {
            continue;
        };
        let Some(name) = label(&block, 0).map(str::to_owned) else {
            continue;
        };
        let alias = string_attr(&block, "alias", diagnostics, "`alias = \"replica\"`");
        let key = (name.clone(), alias.clone());
        if module.providers.contains_key(&key) {
            continue;
        }
        if !registry.provider_names().contains(&name.as_str()) {
            let help = match did_you_mean(&name, registry.provider_names()) {
                Some(s) => format!(
                    "did you mean \"{s}\"? the built-in providers are {}",
                    registry.provider_names().join(", ")
                ),
                None => format!(
                    "the built-in providers are {}",
                    registry.provider_names().join(", ")
                ),
            };
            if let Some(first) = block.labels.first() {
                diagnostics.push(
                    Diagnostic::error(
                        Code::CheckUnknownProvider,
                        first.span,
                        format!("no provider \"{name}\""),
                    )
                    .with_help(help),
                );
            }
        }
        let mut references = Vec::new();
        let mut attributes = BTreeMap::new();
        for item in std::mem::take(&mut block.body.items) {
            let ast::Item::Attribute(attribute) = item else {
                continue;
            };
            if attribute.name.name == "alias" {
                continue;
            }
            names.resolve(&attribute.value, plain, &mut references, diagnostics);
            attributes.insert(attribute.name.name.clone(), attribute);
        }
        module.providers.insert(
            key,
            ProviderConfig {
                name,
                alias,
                attributes,
                references,
                span: block.span,
            },
        );
    }
    let (resources, aliased, resource_diagnostics) = lower_resources(
        &module.path,
        blocks_at(files, resource_blocks),
        &names,
        registry,
    );
    diagnostics.extend(resource_diagnostics);
    module.aliased_providers.extend(aliased);
    // Built from sorted entries in one pass (pass 1 let each key in once).
    let built: BTreeMap<(Mode, String, String), Box<Resource>> = resources.into_iter().collect();
    if module.resources.is_empty() {
        module.resources = built;
    } else {
        module.resources.extend(built);
    }
    for at in service_blocks {
        let Some(block) = take_block(files, at) else {
            continue;
        };
        let provider_span = block.attribute("provider").map(|a| a.value.span);
        if let Some(resource) = lower_service(&module.path, block, &names, registry, diagnostics) {
            note_aliased_provider(&mut module, &resource, provider_span);
            module.resources.insert(
                (
                    Mode::Managed,
                    resource.addr.resource_type.clone(),
                    resource.addr.name.clone(),
                ),
                Box::new(resource),
            );
        }
    }
    for at in output_blocks {
        let Some(mut block) = take_block(files, at) else {
            continue;
        };
        let Some(name) = label(&block, 0).map(str::to_owned) else {
            continue;
        };
        let Some(value) = block.attribute("value") else {
            continue;
        };
        let mut references = Vec::new();
        names.resolve(&value.value, plain, &mut references, diagnostics);
        if let Some(depends) = block.attribute("depends_on") {
            lower_depends_on(&depends.value, &names, &mut references, diagnostics);
        }
        let description = string_attr(
            &block,
            "description",
            diagnostics,
            "`description = \"...\"`",
        );
        let sensitive = bool_attr(&block, "sensitive", diagnostics);
        let Some(value) = take_value(&mut block, "value") else {
            continue;
        };
        module.outputs.insert(
            name.clone(),
            Output {
                name,
                value,
                sensitive,
                description,
                references,
                span: block.span,
            },
        );
    }
    for (name, (child, mut block, source, source_span)) in children {
        let mut references = Vec::new();
        let mut depends_on = Vec::new();
        let mut inputs = BTreeMap::new();
        let mut count = None;
        let mut for_each = None;
        if let (Some(c), Some(_)) = (block.attribute("count"), block.attribute("for_each")) {
            diagnostics.push(
                Diagnostic::error(Code::CheckCountAndForEach, c.name.span, "this block has both `count` and `for_each`")
                    .with_help("use `count` for N identical module instances or `for_each` for one per key, not both"),
            );
        }
        // The inputs of a call that expands see its `each` or `count`.
        let input_context = Context {
            for_each: block.attribute("for_each").is_some(),
            count: block.attribute("count").is_some(),
            self_allowed: false,
        };
        for item in std::mem::take(&mut block.body.items) {
            let ast::Item::Attribute(mut attribute) = item else {
                continue;
            };
            match attribute.name.name.as_str() {
                "source" => {}
                "depends_on" => {
                    lower_depends_on(&attribute.value, &names, &mut depends_on, diagnostics)
                }
                "count" | "for_each" => {
                    // The keys decide which module instances exist, so they are
                    // evaluated before anything in the module: references only.
                    names.resolve(&attribute.value, plain, &mut references, diagnostics);
                    let slot = if attribute.name.name == "count" {
                        &mut count
                    } else {
                        &mut for_each
                    };
                    if slot.is_none() {
                        *slot = Some(Box::new(take_expr(&mut attribute.value)));
                    }
                }
                input => {
                    names.resolve(
                        &attribute.value,
                        input_context,
                        &mut references,
                        diagnostics,
                    );
                    if child.variables.contains_key(input) {
                        inputs.insert(input.to_owned(), attribute);
                    } else {
                        let help =
                            match did_you_mean(input, child.variables.keys().map(String::as_str)) {
                                Some(s) => format!(
                                    "did you mean `{s}`? the module's inputs are its variables"
                                ),
                                None => format!(
                                    "the module's inputs are its variables: {}",
                                    if child.variables.is_empty() {
                                        String::from("it has none")
                                    } else {
                                        child
                                            .variables
                                            .keys()
                                            .cloned()
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    }
                                ),
                            };
                        diagnostics.push(
                            Diagnostic::error(
                                Code::CheckUnknownAttribute,
                                attribute.name.span,
                                format!("module `{name}` has no input `{input}`"),
                            )
                            .with_help(help),
                        );
                    }
                }
            }
        }
        for variable in child.variables.values() {
            if variable.default.is_none() && !inputs.contains_key(&variable.name) {
                diagnostics.push(
                    Diagnostic::error(
                        Code::CheckMissingAttribute,
                        block.header_span(),
                        format!("input `{}` is not set", variable.name),
                    )
                    .with_label(variable.span, "declared here without a default")
                    .with_help(format!("add `{} = ...` to the module block", variable.name)),
                );
            }
        }
        module.module_calls.insert(
            name.clone(),
            ModuleCall {
                name,
                source,
                source_span,
                inputs,
                count,
                for_each,
                depends_on,
                references,
                module: Box::new(child),
                span: block.span,
            },
        );
    }
    for at in moved_blocks {
        let Some(block) = block_at(files, at) else {
            continue;
        };
        let from = block
            .attribute("from")
            .and_then(|a| address(&a.value, diagnostics));
        let to = block
            .attribute("to")
            .and_then(|a| address(&a.value, diagnostics));
        if let (Some(from), Some(to)) = (from, to) {
            if let Some(attribute) = block.attribute("to") {
                check_address_exists(&to, &module, attribute.value.span, diagnostics);
            }
            module.moved.push(Moved {
                from,
                to,
                span: block.span,
            });
        }
    }
    for at in import_blocks {
        let Some(mut block) = take_block(files, at) else {
            continue;
        };
        let (Some(to_attribute), Some(id)) = (block.attribute("to"), block.attribute("id")) else {
            continue;
        };
        let Some(target) = address(&to_attribute.value, diagnostics) else {
            continue;
        };
        let to = match target {
            Target::Instance(i) => i,
            Target::Resource(r) => InstanceAddr {
                resource: r,
                key: InstanceKey::None,
            },
            Target::Module(_) => {
                diagnostics.push(
                    Diagnostic::error(Code::CheckInvalidAddress, to_attribute.value.span, "this names a module, not a resource instance")
                        .with_help("import into a resource like `local_file.conf` or `local_file.conf[\"api\"]`"),
                );
                continue;
            }
        };
        check_address_exists(
            &Target::Instance(to.clone()),
            &module,
            to_attribute.value.span,
            diagnostics,
        );
        let mut references = Vec::new();
        names.resolve(&id.value, plain, &mut references, diagnostics);
        let Some(id) = take_value(&mut block, "id") else {
            continue;
        };
        module.imports.push(Import {
            to,
            id,
            span: block.span,
        });
    }
    module
}

/// The address an expression spells (`local_file.conf["x"]`, or the same as a string).
fn address(expr: &Expr, diagnostics: &mut Diagnostics) -> Option<Target> {
    let text = match &expr.kind {
        ExprKind::String(t) => t.as_literal().map(str::to_owned),
        _ => expression_address_text(expr),
    };
    let Some(text) = text else {
        diagnostics.push(
            Diagnostic::error(Code::CheckInvalidAddress, expr.span, "this is not an address")
                .with_help("write an address like `local_file.conf`, `local_file.conf[\"api\"]` or `module.cache`"),
        );
        return None;
    };
    match text.parse::<Target>() {
        Ok(target) => Some(target),
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckInvalidAddress,
                    expr.span,
                    "this is not a well-formed address",
                )
                .with_help(e.0),
            );
            None
        }
    }
}

/// Spells a bare traversal expression (`a.b["k"][0]`) as address text.
fn expression_address_text(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Variable(ident) => Some(ident.name.clone()),
        ExprKind::GetAttr { target, name } => Some(format!(
            "{}.{}",
            expression_address_text(target)?,
            name.name
        )),
        ExprKind::Index { target, index } => {
            let key = match &index.kind {
                ExprKind::String(t) => {
                    serde_json::Value::String(t.as_literal()?.to_owned()).to_string()
                }
                ExprKind::Number(n) => n.clone(),
                _ => return None,
            };
            Some(format!("{}[{key}]", expression_address_text(target)?))
        }
        _ => None,
    }
}

fn check_address_exists(
    target: &Target,
    module: &Module,
    span: Span,
    diagnostics: &mut Diagnostics,
) {
    // A module instance key must fit how the call expands.
    let first_step = match target {
        Target::Module(path) => path.0.first(),
        Target::Resource(r) => r.module.0.first(),
        Target::Instance(i) => i.resource.module.0.first(),
    };
    if let Some(step) = first_step
        && let Some(call) = module.module_calls.get(&step.name)
    {
        let name = &step.name;
        let problem = match (&step.key, &call.count, &call.for_each) {
            (InstanceKey::None, _, _) => None,
            (key, None, None) => Some((
                format!("module `{name}` has no `count` or `for_each`"),
                format!("leave out `{key}`: its one instance is `module.{name}`"),
            )),
            (InstanceKey::String(_), Some(_), _) => Some((
                format!("module `{name}` has `count`: its instances have numbers"),
                format!("write `module.{name}[0]`, `module.{name}[1]`, ..."),
            )),
            (InstanceKey::Int(_), None, Some(_)) => Some((
                format!("module `{name}` has `for_each`: its instances have keys"),
                format!("write `module.{name}[\"KEY\"]`, with a key of its `for_each`"),
            )),
            _ => None,
        };
        if let Some((label, help)) = problem {
            diagnostics
                .push(Diagnostic::error(Code::CheckInvalidAddress, span, label).with_help(help));
            return;
        }
    }
    let resource = match target {
        Target::Module(path) => {
            let exists = path
                .0
                .first()
                .is_some_and(|name| module.module_calls.contains_key(&name.name));
            if !exists {
                diagnostics.push(
                    Diagnostic::error(
                        Code::CheckInvalidAddress,
                        span,
                        format!("`{target}` is not in the configuration"),
                    )
                    .with_help("point it at a module block this stack declares"),
                );
            }
            return;
        }
        Target::Resource(r) => r,
        Target::Instance(i) => &i.resource,
    };
    if !resource.module.is_root() {
        // Addresses inside child modules are checked against the child when it is loaded.
        return;
    }
    let key = (
        resource.mode,
        resource.resource_type.clone(),
        resource.name.clone(),
    );
    if !module.resources.contains_key(&key) {
        let candidates: Vec<String> = module
            .resources
            .values()
            .map(|r| r.addr.to_string())
            .collect();
        let help = match did_you_mean(&resource.to_string(), candidates.iter().map(String::as_str))
        {
            Some(s) => format!("did you mean `{s}`?"),
            None => String::from("the address must name a resource declared in this configuration"),
        };
        diagnostics.push(
            Diagnostic::error(
                Code::CheckInvalidAddress,
                span,
                format!("`{target}` is not in the configuration"),
            )
            .with_help(help),
        );
    }
}

fn lower_secret(block: &Block, name: &str, module: &mut Module, diagnostics: &mut Diagnostics) {
    let sources: Vec<&Attribute> = ["generate", "env", "file"]
        .iter()
        .filter_map(|k| block.attribute(k))
        .collect();
    let description = string_attr(block, "description", diagnostics, "`description = \"...\"`");
    let source = match sources.as_slice() {
        [one] => match one.name.name.as_str() {
            "env" => match literal_string(&one.value) {
                Some(var) => SecretSource::Env(var.to_owned()),
                None => {
                    diagnostics.push(expected_literal(
                        &one.value,
                        "`env`",
                        "`env = \"STRIPE_KEY\"`",
                    ));
                    return;
                }
            },
            "file" => match literal_string(&one.value) {
                Some(path) => SecretSource::File(path.to_owned()),
                None => {
                    diagnostics.push(expected_literal(
                        &one.value,
                        "`file`",
                        "`file = \"secrets/key.txt\"`",
                    ));
                    return;
                }
            },
            _ => match generate(&one.value, diagnostics) {
                Some(source) => source,
                None => return,
            },
        },
        [] => {
            diagnostics.push(
                Diagnostic::error(Code::CheckInvalidSecretSource, block.header_span(), format!("secret `{name}` has no source"))
                    .with_help("give it one of `generate = { length = 32 }`, `env = \"VAR\"` or `file = \"path\"`"),
            );
            return;
        }
        [_, second, ..] => {
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckInvalidSecretSource,
                    second.name.span,
                    "a secret has one source",
                )
                .with_help("keep one of `generate`, `env` and `file`"),
            );
            return;
        }
    };
    module.secrets.insert(
        name.to_owned(),
        Secret {
            name: name.to_owned(),
            source,
            description,
            span: block.header_span(),
        },
    );
}

fn generate(expr: &Expr, diagnostics: &mut Diagnostics) -> Option<SecretSource> {
    let bad = |span: Span, label: &str| {
        Diagnostic::error(Code::CheckInvalidSecretSource, span, label.to_owned())
            .with_help("write `generate = { length = 32 }` (8 to 4096 characters), optionally with `special = true`")
    };
    let ExprKind::Object(entries) = &expr.kind else {
        diagnostics.push(bad(expr.span, "`generate` is an object"));
        return None;
    };
    let mut length = 32u32;
    let mut special = false;
    for entry in entries.values() {
        match entry.key.literal() {
            Some("length") => match &entry.value.kind {
                ExprKind::Number(n) => match n.parse::<u32>() {
                    Ok(n) if (8..=4096).contains(&n) => length = n,
                    _ => {
                        diagnostics.push(bad(
                            entry.value.span,
                            "the length must be a whole number from 8 to 4096",
                        ));
                        return None;
                    }
                },
                _ => {
                    diagnostics.push(bad(
                        entry.value.span,
                        "the length must be written as a number",
                    ));
                    return None;
                }
            },
            Some("special") => match literal_bool(&entry.value) {
                Some(b) => special = b,
                None => {
                    diagnostics.push(bad(entry.value.span, "`special` must be true or false"));
                    return None;
                }
            },
            _ => {
                diagnostics.push(bad(
                    entry.key.span(),
                    "`generate` takes `length` and `special`",
                ));
                return None;
            }
        }
    }
    Some(SecretSource::Generate { length, special })
}

fn lower_variable(
    block: &mut Block,
    names: &Names,
    diagnostics: &mut Diagnostics,
) -> Option<Variable> {
    let name = label(block, 0)?.to_owned();
    let (ty, ty_span) = match block.attribute("type") {
        None => (Type::Any, None),
        Some(attribute) => match &attribute.value.kind {
            ExprKind::Type(ty) => (lower_type(ty), Some(attribute.value.span)),
            _ => {
                diagnostics.push(
                    Diagnostic::error(Code::CheckInvalidType, attribute.value.span, "this is not a type")
                        .with_help("types are string, number, bool, any, list(T), set(T), map(T), tuple([...]) and object({ name = T })"),
                );
                (Type::Any, None)
            }
        },
    };
    let mut validations = Vec::new();
    for item in &mut block.body.items {
        let ast::Item::Block(nested) = item else {
            continue;
        };
        if nested.kind.name != "validate" {
            continue;
        }
        let (Some(condition), Some(message)) =
            (nested.attribute("condition"), nested.attribute("message"))
        else {
            continue;
        };
        let mut references = Vec::new();
        names.resolve(
            &condition.value,
            Context::default(),
            &mut references,
            diagnostics,
        );
        names.resolve(
            &message.value,
            Context::default(),
            &mut references,
            diagnostics,
        );
        let (Some(condition), Some(message)) = (
            take_value(nested, "condition"),
            take_value(nested, "message"),
        ) else {
            continue;
        };
        validations.push(Validation {
            condition,
            message,
            references,
            span: nested.span,
        });
    }
    let description = string_attr(block, "description", diagnostics, "`description = \"...\"`");
    let default = take_value(block, "default");
    if let Some(default) = &default {
        // A default is a constant: no references allowed.
        let mut references = Vec::new();
        let mut local = Diagnostics::new();
        names.resolve(default, Context::default(), &mut references, &mut local);
        if let Some(first) = references.first() {
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckExpectedLiteral,
                    first.span,
                    "a variable's default cannot refer to anything",
                )
                .with_help("use a constant here; compute derived values in `locals`"),
            );
        } else {
            diagnostics.extend(local);
        }
    }
    Some(Variable {
        name,
        ty,
        ty_span,
        default,
        description,
        sensitive: bool_attr(block, "sensitive", diagnostics),
        nullable: block.attribute("nullable").is_none()
            || bool_attr(block, "nullable", diagnostics),
        validations,
        span: block.header_span(),
    })
}

fn lower_depends_on(
    expr: &Expr,
    names: &Names,
    references: &mut Vec<Reference>,
    diagnostics: &mut Diagnostics,
) {
    let ExprKind::List(items) = &expr.kind else {
        diagnostics.push(
            Diagnostic::error(
                Code::CheckInvalidAddress,
                expr.span,
                "`depends_on` is a list of references",
            )
            .with_help("write `depends_on = [local_file.conf, module.cache]`"),
        );
        return;
    };
    for item in items.values() {
        if expression_address_text(item).is_none() {
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckInvalidAddress,
                    item.span,
                    "this is not a reference",
                )
                .with_help(
                    "list resources, data sources, services or modules, like `local_file.conf`",
                ),
            );
            continue;
        }
        names.resolve(item, Context::default(), references, diagnostics);
    }
}

/// Notes a resource's `provider = NAME.ALIAS` for
/// [`undeclared_provider_aliases`].
fn note_aliased_provider(module: &mut Module, resource: &Resource, provider_span: Option<Span>) {
    module
        .aliased_providers
        .extend(aliased_provider(resource, provider_span));
}

/// A resource's `provider = NAME.ALIAS`, as [`Module::aliased_providers`]
/// keeps it.
fn aliased_provider(
    resource: &Resource,
    provider_span: Option<Span>,
) -> Option<(String, String, Span)> {
    let alias = resource.provider.1.as_ref()?;
    Some((
        resource.provider.0.clone(),
        alias.clone(),
        provider_span.unwrap_or(resource.type_span),
    ))
}

/// One error per `provider = NAME.ALIAS`, in any module, that no root
/// `provider "NAME" { alias = "ALIAS" }` block declares: the plan would have
/// no configuration to reach it through (an aliased configuration never
/// falls back to the default one).
pub(crate) fn undeclared_provider_aliases(config: &Config, diagnostics: &mut Diagnostics) {
    let declared = &config.root.providers;
    for module in config.modules() {
        for (name, alias, span) in &module.aliased_providers {
            if declared.contains_key(&(name.clone(), Some(alias.clone()))) {
                continue;
            }
            let aliases: Vec<&str> = declared
                .keys()
                .filter(|(declared_name, _)| declared_name == name)
                .filter_map(|(_, alias)| alias.as_deref())
                .collect();
            let mut help = match did_you_mean(alias, aliases.iter().copied()) {
                Some(near) => format!("did you mean `{name}.{near}`? "),
                None => String::new(),
            };
            help.push_str(&if aliases.is_empty() {
                format!(
                    "declare it in the root module: `provider \"{name}\" {{ alias = \"{alias}\" ... }}`"
                )
            } else {
                format!(
                    "the declared aliases are {}; aliased provider blocks live in the root module",
                    aliases.join(", ")
                )
            });
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckUnknownProvider,
                    *span,
                    format!("no provider `{name}` with alias `{alias}`"),
                )
                .with_help(help),
            );
        }
    }
}

fn provider_ref(expr: &Expr) -> Option<(String, Option<String>)> {
    let text = match &expr.kind {
        ExprKind::String(t) => t.as_literal()?.to_owned(),
        _ => expression_address_text(expr)?,
    };
    let mut parts = text.splitn(2, '.');
    let name = parts.next().filter(|n| !n.is_empty())?.to_owned();
    let alias = parts.next().map(str::to_owned);
    if alias
        .as_deref()
        .is_some_and(|a| a.is_empty() || a.contains('.'))
    {
        return None;
    }
    Some((name, alias))
}

/// `service "NAME" { ... }`: lowered as the managed resource
/// `service.NAME` of the `process` provider's `service` type (another
/// provider with `provider = ...`), so plan, apply, state and drift treat it
/// like any resource.
fn lower_service(
    path: &ModulePath,
    mut block: Block,
    names: &Names,
    registry: &Registry,
    diagnostics: &mut Diagnostics,
) -> Option<Resource> {
    let type_label = ast::StringLit {
        value: crate::addr::SERVICE_TYPE.to_owned(),
        raw: format!("\"{}\"", crate::addr::SERVICE_TYPE),
        span: block.kind.span,
    };
    block.labels.insert(0, type_label);
    lower_resource(path, Mode::Managed, block, names, registry, diagnostics)
}

fn lower_resource(
    path: &ModulePath,
    mode: Mode,
    mut block: Block,
    names: &Names,
    registry: &Registry,
    diagnostics: &mut Diagnostics,
) -> Option<Resource> {
    let resource_type = label(&block, 0)?.to_owned();
    let name = label(&block, 1)?.to_owned();
    let (resource_type, name) = (resource_type.as_str(), name.as_str());
    let type_span = block.labels.first().map_or(block.kind.span, |l| l.span);
    let schema = match mode {
        Mode::Managed => registry.resource(resource_type),
        Mode::Data => registry.data_source(resource_type),
    };
    let default_provider = schema.map_or_else(
        || {
            resource_type
                .split('_')
                .next()
                .unwrap_or(resource_type)
                .to_owned()
        },
        |s| s.provider.to_owned(),
    );
    if schema.is_none() {
        // `service` is a resource type inside, but is written as its own
        // block (`service "NAME" { ... }`), never `resource "service"`.
        let candidates: Vec<&str> = match mode {
            Mode::Managed => registry
                .resource_types()
                .filter(|t| *t != crate::addr::SERVICE_TYPE)
                .collect(),
            Mode::Data => registry.data_source_types().collect(),
        };
        let kind = if mode == Mode::Data {
            "data source"
        } else {
            "resource"
        };
        let help = match did_you_mean(resource_type, candidates.iter().copied()) {
            Some(s) => format!("did you mean \"{s}\"?"),
            None if candidates.is_empty() => format!("no built-in provider has {kind} types yet"),
            None if mode == Mode::Managed => format!(
                "the {kind} types are {}; a service is declared with its own block: \
                 `service \"NAME\" {{ ... }}`",
                candidates.join(", ")
            ),
            None => format!("the {kind} types are {}", candidates.join(", ")),
        };
        diagnostics.push(
            Diagnostic::error(
                Code::CheckUnknownResourceType,
                type_span,
                format!("no {kind} type \"{resource_type}\""),
            )
            .with_help(help),
        );
    }
    // Moved out of the block in the loop below (the first of each, like
    // `Block::attribute`).
    let mut count = None;
    let mut for_each = None;
    if let (Some(c), Some(_)) = (block.attribute("count"), block.attribute("for_each")) {
        diagnostics.push(
            Diagnostic::error(Code::CheckCountAndForEach, c.name.span, "this block has both `count` and `for_each`")
                .with_help("use `count` for N identical instances or `for_each` for one instance per key, not both"),
        );
    }
    let context = Context {
        for_each: block.attribute("for_each").is_some(),
        count: block.attribute("count").is_some(),
        self_allowed: true,
    };
    let meta_context = Context::default();
    let mut references = Vec::new();
    let mut depends_on = Vec::new();
    let mut attributes = crate::lang::VecMap::new();
    let mut provider = (default_provider, None);
    // Nested blocks are lowered after the attributes, as they come.
    let mut nested_blocks = Vec::new();
    for item in std::mem::take(&mut block.body.items) {
        let mut attribute = match item {
            ast::Item::Attribute(attribute) => attribute,
            ast::Item::Block(nested) => {
                nested_blocks.push(nested);
                continue;
            }
        };
        match attribute.name.name.as_str() {
            "count" | "for_each" => {
                names.resolve(&attribute.value, meta_context, &mut references, diagnostics);
                let slot = if attribute.name.name == "count" {
                    &mut count
                } else {
                    &mut for_each
                };
                if slot.is_none() {
                    *slot = Some(Box::new(take_expr(&mut attribute.value)));
                }
            }
            "depends_on" => lower_depends_on(&attribute.value, names, &mut depends_on, diagnostics),
            "provider" => match provider_ref(&attribute.value) {
                Some(p) => provider = p,
                None => diagnostics.push(
                    Diagnostic::error(
                        Code::CheckInvalidAddress,
                        attribute.value.span,
                        "this is not a provider reference",
                    )
                    .with_help("write `provider = postgres.replica` (NAME.ALIAS)"),
                ),
            },
            attribute_name => {
                names.resolve(&attribute.value, context, &mut references, diagnostics);
                if let Some(schema) = schema {
                    match schema.attribute(attribute_name) {
                        None => {
                            let settable: Vec<&str> = schema
                                .attributes
                                .iter()
                                .filter(|a| a.settable())
                                .map(|a| a.name)
                                .collect();
                            let help = match did_you_mean(attribute_name, settable.iter().copied())
                            {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!("`{resource_type}` has {}", settable.join(", ")),
                            };
                            diagnostics.push(
                                Diagnostic::error(
                                    Code::CheckUnknownAttribute,
                                    attribute.name.span,
                                    format!(
                                        "`{resource_type}` has no attribute `{attribute_name}`"
                                    ),
                                )
                                .with_help(help),
                            );
                        }
                        Some(a) if a.presence == Presence::Computed => {
                            diagnostics.push(
                                Diagnostic::error(Code::CheckComputedAttribute, attribute.name.span, format!("`{attribute_name}` is set by the provider"))
                                    .with_help(format!("remove it; read it after apply as `{resource_type}.{name}.{attribute_name}`")),
                            );
                        }
                        Some(_) => {}
                    }
                }
                attributes.insert(attribute_name.to_owned(), Box::new(attribute));
            }
        }
    }
    if let Some(schema) = schema {
        for required in schema
            .attributes
            .iter()
            .filter(|a| a.presence == Presence::Required)
        {
            if !attributes.contains_key(required.name) {
                diagnostics.push(
                    Diagnostic::error(
                        Code::CheckMissingAttribute,
                        block.header_span(),
                        format!("`{}` is required", required.name),
                    )
                    .with_help(format!(
                        "add `{} = ...`: {}",
                        required.name, required.description
                    )),
                );
            }
        }
    }
    let mut lifecycle = Lifecycle::default();
    let mut blocks = Vec::new();
    for nested in nested_blocks {
        if nested.kind.name == "lifecycle" {
            lifecycle.prevent_destroy = bool_attr(&nested, "prevent_destroy", diagnostics);
            lifecycle.create_before_destroy =
                bool_attr(&nested, "create_before_destroy", diagnostics);
            if let Some(ignore) = nested.attribute("ignore_changes") {
                lifecycle.ignore_changes = ignore_changes(&ignore.value, diagnostics);
            }
            if let Some(replace) = nested.attribute("replace_triggered_by") {
                lower_depends_on(
                    &replace.value,
                    names,
                    &mut lifecycle.replace_triggered_by,
                    diagnostics,
                );
            }
        } else {
            if schema.is_some() {
                diagnostics.push(
                    Diagnostic::error(
                        Code::CheckUnexpectedBlock,
                        nested.kind.span,
                        format!("`{resource_type}` has no `{}` block", nested.kind.name),
                    )
                    .with_help("set it as an attribute (`name = { ... }`) if the schema has one"),
                );
            }
            blocks.push(nested);
        }
    }
    references.extend(depends_on.iter().cloned());
    references.extend(lifecycle.replace_triggered_by.iter().cloned());
    // Most resources make one or two references; a pushed-to `Vec` keeps room
    // for four (288 bytes), and the model keeps every resource alive. So
    // does the map of attributes.
    references.shrink_to_fit();
    attributes.shrink_to_fit();
    Some(Resource {
        addr: ResourceAddr {
            module: path.clone(),
            mode,
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
        },
        provider,
        count,
        for_each,
        depends_on,
        lifecycle,
        attributes,
        blocks,
        references,
        type_span,
        span: block.span,
    })
}

fn ignore_changes(expr: &Expr, diagnostics: &mut Diagnostics) -> Vec<String> {
    match &expr.kind {
        ExprKind::Variable(ident) if ident.name == "all" => vec![String::from("all")],
        ExprKind::String(t) if t.as_literal() == Some("all") => vec![String::from("all")],
        ExprKind::List(items) => items
            .values()
            .filter_map(|item| match &item.kind {
                ExprKind::Variable(ident) => Some(ident.name.clone()),
                ExprKind::String(t) => t.as_literal().map(str::to_owned),
                _ => {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::CheckExpectedLiteral,
                            item.span,
                            "this is not an attribute name",
                        )
                        .with_help("list attribute names, like `ignore_changes = [content]`"),
                    );
                    None
                }
            })
            .collect(),
        _ => {
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckExpectedLiteral,
                    expr.span,
                    "`ignore_changes` is a list of attribute names or `all`",
                )
                .with_help("write `ignore_changes = [content]`"),
            );
            Vec::new()
        }
    }
}
