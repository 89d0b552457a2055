//! The checked model of a stack: what `check` produced from the syntax trees,
//! with names resolved and expressions still unevaluated (they are evaluated per
//! environment by `expand`).
//!
//! Terminology: a *module* is a folder of `.infra` files; the *root module* is
//! the stack folder. A *module call* is a `module "name" { source = ... }` block
//! that instantiates a child module. A *reference* is a name an expression uses
//! (`var.x`, `local_file.conf`), classified by what it refers to.
//!
//! Invariant: data only. Maps are `BTreeMap` so iteration order is deterministic.

use crate::addr::{InstanceAddr, Mode, ModulePath, ResourceAddr, Target};
use crate::diag::Span;
use crate::lang::Type;
use crate::syntax::ast::{Attribute, Block, Expr};
use std::collections::BTreeMap;

/// A checked stack.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `stack` block's settings.
    pub stack: StackSettings,
    /// The environments by name.
    pub environments: BTreeMap<String, Environment>,
    /// The root module (with its children inside its module calls).
    pub root: Module,
    /// The variable files, in precedence order (later wins): `*.auto.vars`
    /// by name, then each `environments/ENV.vars`, then `--var-file` in order.
    pub var_files: Vec<VarFile>,
}

/// A file of `name = value` lines giving root variables values.
#[derive(Debug, Clone)]
pub struct VarFile {
    /// Where it comes from, which decides when it applies.
    pub source: VarFileSource,
    /// The values, in file order: the name, its span, the expression.
    pub values: Vec<(String, Span, Expr)>,
}

/// Where a [`VarFile`] comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarFileSource {
    /// `*.auto.vars` in the stack folder: every environment.
    Auto,
    /// `environments/NAME.vars`: only environment NAME.
    Environment(String),
    /// `--var-file FILE`: every environment, above the others.
    CommandLine,
}

impl VarFile {
    /// Whether it gives values in `environment`.
    pub fn applies_to(&self, environment: &str) -> bool {
        match &self.source {
            VarFileSource::Environment(name) => name == environment,
            VarFileSource::Auto | VarFileSource::CommandLine => true,
        }
    }
}

impl Config {
    /// Every module, the root first, then children depth-first in name order.
    pub fn modules(&self) -> Vec<&Module> {
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(module) = stack.pop() {
            out.push(module);
            for call in module.module_calls.values().rev() {
                stack.push(&call.module);
            }
        }
        out
    }

    /// The module at `path` (the keys of module instances are ignored: every
    /// instance of a module call has the same configuration).
    pub fn module(&self, path: &ModulePath) -> Option<&Module> {
        let mut module = &self.root;
        for step in &path.0 {
            module = &module.module_calls.get(&step.name)?.module;
        }
        Some(module)
    }
}

/// The `stack "name" { ... }` settings.
#[derive(Debug, Clone, Default)]
pub struct StackSettings {
    /// The stack's name (the folder name when there is no `stack` block).
    pub name: String,
    /// The state backend: `local`, `postgres` or `s3`.
    pub state: String,
    /// Backend settings other than `state` (`url`, `bucket`...), unevaluated.
    pub backend: BTreeMap<String, Expr>,
    /// The environment used when `--env` is not given.
    pub default_environment: Option<(String, Span)>,
    /// `policies = ["./policy", "std/policy/tagging"]`: the policy folders
    /// checked against every plan, each with its list element.
    pub policies: Vec<(String, Span)>,
    /// `history = { keep = 200 }`: how many versions the state history
    /// keeps; `None` keeps every version.
    pub history: Option<HistorySettings>,
    /// The block, when there is one.
    pub span: Option<Span>,
}

/// `stack { history = { keep = N } }`: the retention of the state history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySettings {
    /// The number of newest versions kept (at least 1); older ones are
    /// pruned after a write, except those a rollback still needs.
    pub keep: u64,
    /// The `history` attribute's value.
    pub span: Span,
}

/// An `environment "name" { ... }` block.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Its name.
    pub name: String,
    /// `vars = { ... }`: variable values for this environment.
    pub vars: Option<Expr>,
    /// `protected = true`: destroy and replace need `--allow-destroy`.
    pub protected: bool,
    /// `description`.
    pub description: Option<String>,
    /// The block.
    pub span: Span,
}

/// Where a module's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// The stack folder itself.
    Root,
    /// `./path` relative to the calling module's folder (the resolved folder).
    Local(std::path::PathBuf),
    /// `std/NAME`, embedded in the binary.
    Std(String),
}

/// A module: the blocks of one folder.
#[derive(Debug, Clone)]
pub struct Module {
    /// Where it sits in the tree of module calls.
    pub path: ModulePath,
    /// Where its files come from.
    pub source: ModuleSource,
    /// `variable` blocks.
    pub variables: BTreeMap<String, Variable>,
    /// `locals` entries.
    pub locals: BTreeMap<String, Local>,
    /// `secret` blocks.
    pub secrets: BTreeMap<String, Secret>,
    /// `provider` blocks by (name, alias).
    pub providers: BTreeMap<(String, Option<String>), ProviderConfig>,
    /// `resource` and `data` blocks, and `service` blocks (as the managed
    /// resource type `service`).
    pub resources: BTreeMap<(Mode, String, String), Box<Resource>>,
    /// `module` blocks.
    pub module_calls: BTreeMap<String, ModuleCall>,
    /// `output` blocks.
    pub outputs: BTreeMap<String, Output>,
    /// `moved` blocks.
    pub moved: Vec<Moved>,
    /// `import` blocks.
    pub imports: Vec<Import>,
    /// Every `provider = NAME.ALIAS` of its resources, data sources and
    /// services: (name, alias, the value's span). An aliased configuration
    /// is a root `provider` block, so these are checked once every module is
    /// loaded.
    pub aliased_providers: Vec<(String, String, Span)>,
}

impl Module {
    /// The resource block `mode TYPE NAME` of this module.
    pub fn resource(&self, mode: Mode, resource_type: &str, name: &str) -> Option<&Resource> {
        let key = (mode, resource_type.to_owned(), name.to_owned());
        self.resources.get(&key).map(|r| &**r)
    }

    /// An empty module at `path`.
    pub fn new(path: ModulePath, source: ModuleSource) -> Self {
        Module {
            path,
            source,
            variables: BTreeMap::new(),
            locals: BTreeMap::new(),
            secrets: BTreeMap::new(),
            providers: BTreeMap::new(),
            resources: BTreeMap::new(),
            module_calls: BTreeMap::new(),
            outputs: BTreeMap::new(),
            moved: Vec::new(),
            imports: Vec::new(),
            aliased_providers: Vec::new(),
        }
    }
}

/// A name an expression uses, classified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefTarget {
    /// `var.NAME`.
    Variable(String),
    /// `local.NAME`.
    Local(String),
    /// `secret.NAME`.
    Secret(String),
    /// `env.name` and other environment attributes.
    Environment,
    /// `TYPE.NAME` or `data.TYPE.NAME`.
    Resource(Mode, String, String),
    /// `module.NAME.OUTPUT` (output `None` for the whole module object).
    ModuleOutput(String, Option<String>),
    /// `each.key` / `each.value`.
    Each,
    /// `count.index`.
    Count,
    /// `self.ATTR`.
    SelfRef,
}

/// One reference with where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// What it refers to.
    pub target: RefTarget,
    /// The reference text's span (`var.replicas`).
    pub span: Span,
    /// For a resource or data source reference, the instance it names by a
    /// literal index right after the name (`team["payments"]`, `web[0]`);
    /// `None` when it names no instance (the whole resource, a splat, a
    /// computed index): it then depends on any instance.
    pub key: Option<crate::addr::InstanceKey>,
}

/// A `variable` block.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its type (`any` when not given).
    pub ty: Type,
    /// The `type` expression, when given.
    pub ty_span: Option<Span>,
    /// `default`.
    pub default: Option<Expr>,
    /// `description`.
    pub description: Option<String>,
    /// `sensitive = true`: the value is a secret.
    pub sensitive: bool,
    /// `nullable` (true unless `nullable = false`): whether null is a value.
    /// When false, a null given for the variable counts as not given.
    pub nullable: bool,
    /// `validate { condition, message }` blocks.
    pub validations: Vec<Validation>,
    /// The block's header (`variable "NAME"`), where problems with it point.
    pub span: Span,
}

/// A `validate` block.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Must be true.
    pub condition: Expr,
    /// Shown when it is not.
    pub message: Expr,
    /// References the condition and message make.
    pub references: Vec<Reference>,
    /// The block.
    pub span: Span,
}

/// One `locals` entry.
#[derive(Debug, Clone)]
pub struct Local {
    /// Its name.
    pub name: String,
    /// Its expression.
    pub expr: Expr,
    /// References it makes.
    pub references: Vec<Reference>,
    /// The attribute.
    pub span: Span,
}

/// A `secret` block.
#[derive(Debug, Clone)]
pub struct Secret {
    /// Its name.
    pub name: String,
    /// Where its value comes from.
    pub source: SecretSource,
    /// `description`.
    pub description: Option<String>,
    /// The block's header (`variable "NAME"`), where problems with it point.
    pub span: Span,
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `generate = { length = N, special = bool }`: created once at apply.
    Generate {
        /// How many characters.
        length: u32,
        /// Whether punctuation is used.
        special: bool,
    },
    /// `env = "VAR"`: read from the process environment at plan time.
    Env(String),
    /// `file = "path"`: read from a file at plan time (relative to the module folder).
    File(String),
}

/// A `provider` block.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The provider name (`postgres`).
    pub name: String,
    /// `alias`.
    pub alias: Option<String>,
    /// Its other attributes, unevaluated.
    pub attributes: BTreeMap<String, Attribute>,
    /// References they make.
    pub references: Vec<Reference>,
    /// The block.
    pub span: Span,
}

/// `lifecycle { ... }`.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// `prevent_destroy`.
    pub prevent_destroy: bool,
    /// `create_before_destroy`.
    pub create_before_destroy: bool,
    /// `ignore_changes`: attribute names (or `["all"]`).
    pub ignore_changes: Vec<String>,
    /// `replace_triggered_by`: references.
    pub replace_triggered_by: Vec<Reference>,
}

/// A `resource` or `data` block.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Its address (module, mode, type, name).
    pub addr: ResourceAddr,
    /// The provider configuration it uses: (name, alias).
    pub provider: (String, Option<String>),
    /// `count` (boxed, like `for_each`: most resources have neither, and a
    /// 100k-resource model keeps every `Resource` in memory).
    pub count: Option<Box<Expr>>,
    /// `for_each`.
    pub for_each: Option<Box<Expr>>,
    /// `depends_on`.
    pub depends_on: Vec<Reference>,
    /// `lifecycle`.
    pub lifecycle: Lifecycle,
    /// Provider attributes, unevaluated, by name: a sorted vector (a
    /// resource sets a few, and a `BTreeMap` node has room for eleven),
    /// each boxed so that the vector holds a name and a pointer.
    pub attributes: crate::lang::VecMap<String, Box<Attribute>>,
    /// Nested blocks other than `lifecycle`.
    pub blocks: Vec<Block>,
    /// Every reference the block makes (attributes, count, for_each, depends_on).
    pub references: Vec<Reference>,
    /// The type label.
    pub type_span: Span,
    /// The block.
    pub span: Span,
}

/// A `module` block and the module it instantiates.
#[derive(Debug, Clone)]
pub struct ModuleCall {
    /// Its name.
    pub name: String,
    /// `source` as written.
    pub source: String,
    /// The `source` value's span.
    pub source_span: Span,
    /// Inputs: the child's variables.
    pub inputs: BTreeMap<String, Attribute>,
    /// `count`: one module instance per index (`module.NAME[0]`).
    pub count: Option<Box<Expr>>,
    /// `for_each`: one module instance per key (`module.NAME["KEY"]`).
    pub for_each: Option<Box<Expr>>,
    /// `depends_on`.
    pub depends_on: Vec<Reference>,
    /// Every reference the inputs make.
    pub references: Vec<Reference>,
    /// The child module.
    pub module: Box<Module>,
    /// The block.
    pub span: Span,
}

/// An `output` block.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its name.
    pub name: String,
    /// `value`.
    pub value: Expr,
    /// `sensitive = true`.
    pub sensitive: bool,
    /// `description`.
    pub description: Option<String>,
    /// References the value and `depends_on` make.
    pub references: Vec<Reference>,
    /// The block.
    pub span: Span,
}

/// A `moved { from = A, to = B }` block.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The old address.
    pub from: Target,
    /// The new address.
    pub to: Target,
    /// The block.
    pub span: Span,
}

/// An `import { to = ADDR, id = "..." }` block.
#[derive(Debug, Clone)]
pub struct Import {
    /// The instance to adopt the object into.
    pub to: InstanceAddr,
    /// The provider's id of the existing object.
    pub id: Expr,
    /// The block.
    pub span: Span,
}
