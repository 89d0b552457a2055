//! Expansion: the checked configuration evaluated for one environment, in
//! dependency order. Variables get their values (`--var` over the environment's
//! `vars` over defaults) and are type-checked and validated; secrets are read
//! (or left unknown until apply when generated); `count` and `for_each` expand
//! resources into instances; every attribute is evaluated and checked against
//! the provider schema; a computed attribute is secret when an input it
//! derives from is (the schema says which), so that is known before any
//! provider call; outputs are evaluated and a secret reaching one that is
//! not `sensitive` is refused with the path it took.
//!
//! Terminology: an *instance* is one expansion of a resource block
//! (`local_file.conf["api"]`); its *configuration* is the evaluated attributes.
//!
//! Invariant: reads the machine only through `host` (env vars, secret files);
//! never prints; never calls providers.

mod scope;

use crate::addr::{InstanceAddr, InstanceKey, Mode, ModulePath, ResourceAddr};
use crate::config::{Config, Lifecycle, Module, ModuleSource, SecretSource};
use crate::diag::{Code, Diagnostic, Diagnostics, Span, did_you_mean};
use crate::graph::{Graph, Node};
use crate::host::Host;
use crate::lang::{self, Kind, Type, Value};
use crate::providers::Registry;
use crate::syntax::ast::{Attribute, Expr};
use scope::{Binding, Functions, ModuleScope, Values};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to expand.
#[derive(Debug, Clone)]
pub struct Request {
    /// `--env`; `None` uses `default_environment`.
    pub environment: Option<String>,
    /// `--var NAME=VALUE`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// Values of generated secrets already created (from state), by module and name.
    pub known_secrets: BTreeMap<(ModulePath, String), String>,
    /// Objects whose computed attributes are known: the prior state's objects
    /// that the plan keeps, or those an apply has made so far. A computed
    /// attribute the configuration does not set takes its value from here
    /// instead of being unknown.
    pub known_objects: Arc<dyn KnownObjects>,
    /// When set, only these resources are evaluated into instances; every
    /// other resource takes its value from `known_objects` (unknown when not
    /// there). An apply uses it to evaluate just the changes that wait on
    /// values it has learnt, not the whole stack each time.
    pub only: Option<Arc<Only>>,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            environment: None,
            vars: Vec::new(),
            known_secrets: BTreeMap::new(),
            known_objects: Arc::new(BTreeMap::<InstanceAddr, crate::lang::Map>::new()),
            only: None,
        }
    }
}

/// A partial expansion (see [`Request::only`]): the nodes evaluated are these
/// resources, the outputs when asked for, and what they depend on, up to the
/// resources outside the set, whose values come from the known objects. So
/// the cost follows what is asked for, not the size of the stack: an apply
/// of a chain of N resources evaluates each link once, not the chain N times.
#[derive(Debug, Clone, Default)]
pub struct Only {
    /// The resources evaluated into instances.
    pub resources: std::collections::BTreeSet<ResourceAddr>,
    /// Whether the root module's outputs are evaluated too.
    pub outputs: bool,
}

/// Where an expansion finds the objects whose computed attributes are known
/// (see [`Request::known_objects`]): a map of attributes (a plan's prior
/// objects) or of provider objects (what an apply has made so far), shared
/// rather than copied into each expansion.
pub trait KnownObjects: Send + Sync + std::fmt::Debug {
    /// The known attributes of one instance.
    fn attributes(&self, addr: &InstanceAddr) -> Option<&crate::lang::Map>;
    /// Every known instance of `resource`, in address order.
    fn instances_of<'a>(
        &'a self,
        resource: &ResourceAddr,
    ) -> Vec<(&'a InstanceAddr, &'a crate::lang::Map)>;
}

impl KnownObjects for BTreeMap<InstanceAddr, crate::lang::Map> {
    fn attributes(&self, addr: &InstanceAddr) -> Option<&crate::lang::Map> {
        self.get(addr)
    }

    fn instances_of<'a>(
        &'a self,
        resource: &ResourceAddr,
    ) -> Vec<(&'a InstanceAddr, &'a crate::lang::Map)> {
        self.range(resource.instance(InstanceKey::None)..)
            .take_while(|(instance, _)| instance.resource == *resource)
            .collect()
    }
}

impl KnownObjects for BTreeMap<InstanceAddr, crate::providers::ObjectState> {
    fn attributes(&self, addr: &InstanceAddr) -> Option<&crate::lang::Map> {
        self.get(addr).map(|object| &object.attributes)
    }

    fn instances_of<'a>(
        &'a self,
        resource: &ResourceAddr,
    ) -> Vec<(&'a InstanceAddr, &'a crate::lang::Map)> {
        self.range(resource.instance(InstanceKey::None)..)
            .take_while(|(instance, _)| instance.resource == *resource)
            .map(|(instance, object)| (instance, &object.attributes))
            .collect()
    }
}

/// The selected environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentInfo {
    /// Its name (`default` for a stack without environments).
    pub name: String,
    /// `protected = true`.
    pub protected: bool,
}

/// One expanded instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Its address.
    pub addr: InstanceAddr,
    /// The provider configuration (name, alias).
    pub provider: (String, Option<String>),
    /// The evaluated attributes (configured ones, converted to the schema's
    /// types; computed ones unknown). Secrets are marked.
    pub attributes: crate::lang::Map,
    /// The span of each configured attribute's value, to point provider errors at.
    /// The same for every instance of a resource, so shared.
    pub attribute_spans: Arc<crate::lang::VecMap<String, Span>>,
    /// The resources this instance's block depends on (shared by the
    /// resource's instances).
    pub dependencies: Arc<[ResourceAddr]>,
    /// `lifecycle`.
    pub lifecycle: Lifecycle,
    /// The block.
    pub span: Span,
}

impl Instance {
    /// The attributes the configuration sets (those with a span): the
    /// proposed configuration a provider plans from, without the computed
    /// placeholders.
    pub fn configured(&self) -> crate::lang::Map {
        self.attributes
            .iter()
            .filter(|(name, _)| self.attribute_spans.contains_key(*name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// [`Instance::configured`], taking the values out of the instance
    /// instead of copying them.
    pub fn into_configured(self) -> crate::lang::Map {
        let spans = self.attribute_spans;
        self.attributes
            .into_iter()
            .filter(|(name, _)| spans.contains_key(name))
            .collect()
    }

    /// Whether a configured attribute is still unknown (it waits on values
    /// known only after apply).
    pub fn configured_unknown(&self) -> bool {
        self.attributes.iter().any(|(name, value)| {
            self.attribute_spans.contains_key(name) && value.contains_unknown()
        })
    }
}

/// An evaluated output.
#[derive(Debug, Clone)]
pub struct OutputValue {
    /// The value (secrets marked).
    pub value: Value,
    /// `sensitive = true`.
    pub sensitive: bool,
}

/// A secret's value for this run.
#[derive(Debug, Clone)]
pub struct SecretValue {
    /// The value: known when read from env/file or already generated; unknown
    /// when it will be generated at apply. Always marked secret.
    pub value: Value,
    /// Where it comes from.
    pub source: SecretSource,
}

/// The stack evaluated for one environment.
#[derive(Debug, Clone)]
pub struct Expanded {
    /// The environment.
    pub environment: EnvironmentInfo,
    /// The root module's variables.
    pub variables: crate::lang::Map,
    /// Every secret, by module and name.
    pub secrets: BTreeMap<(ModulePath, String), SecretValue>,
    /// Every instance, in address order.
    pub instances: BTreeMap<InstanceAddr, Instance>,
    /// The root module's outputs.
    pub outputs: BTreeMap<String, OutputValue>,
    /// Every module's `moved` blocks, addresses made absolute, in module order.
    pub moved: Vec<crate::config::Moved>,
    /// Every module's `import` blocks, the ids evaluated.
    pub imports: Vec<ImportTarget>,
    /// The root module's `provider` blocks' evaluated settings, by (name,
    /// alias): what `Provider::configure` gets.
    pub provider_configs: BTreeMap<(String, Option<String>), crate::lang::Map>,
    /// The dependencies each resource names only by instance key (see
    /// [`crate::graph::keyed_dependencies`]); any other is on any instance.
    pub keyed_dependencies: Arc<crate::graph::KeyedDependencies>,
    /// The instances of each child module, by its configuration path
    /// (`module.site` → `module.site["blog"]`, `module.site["shop"]`).
    pub module_instances: BTreeMap<ModulePath, Vec<ModulePath>>,
}

/// An `import` block, evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTarget {
    /// The instance to adopt the object into (absolute).
    pub to: InstanceAddr,
    /// The provider's id of the existing object.
    pub id: String,
    /// The block.
    pub span: Span,
}

/// Picks the environment from `--env`, then `default_environment`, then the
/// only one when the stack declares exactly one.
pub fn select_environment(
    config: &Config,
    requested: Option<&str>,
) -> Result<EnvironmentInfo, Diagnostic> {
    if config.environments.is_empty() {
        if let Some(name) = requested {
            return Err(Diagnostic::error_at_path(Code::CheckUnknownEnvironment, Some(format!("environment \"{name}\"")))
                .with_help("this stack declares no environments; add `environment \"NAME\" { ... }` blocks or drop `--env`"));
        }
        return Ok(EnvironmentInfo {
            name: String::from("default"),
            protected: false,
        });
    }
    let names: Vec<&str> = config.environments.keys().map(String::as_str).collect();
    let (name, span) = match (requested, &config.stack.default_environment) {
        (Some(name), _) => (name.to_owned(), None),
        (None, Some((name, span))) => (name.clone(), Some(*span)),
        // With one environment there is nothing to choose.
        (None, None) if names.len() == 1 => (names.concat(), None),
        (None, None) => {
            return Err(Diagnostic::error_at_path(Code::CheckEnvironmentRequired, None).with_help(format!(
                "choose one with `--env NAME` (the environments are {}), or set `default_environment` in the `stack` block",
                names.join(", ")
            )));
        }
    };
    match config.environments.get(&name) {
        Some(environment) => Ok(EnvironmentInfo {
            name,
            protected: environment.protected,
        }),
        None => {
            let mut help = match did_you_mean(&name, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            help.push_str(&format!("the environments are {}", names.join(", ")));
            Err(match span {
                Some(span) => Diagnostic::error(
                    Code::CheckUnknownEnvironment,
                    span,
                    format!("no environment \"{name}\""),
                )
                .with_help(help),
                None => Diagnostic::error_at_path(
                    Code::CheckUnknownEnvironment,
                    Some(format!("environment \"{name}\"")),
                )
                .with_help(help),
            })
        }
    }
}

/// Evaluates the stack for one environment.
pub fn expand(
    config: &Config,
    graph: &Graph,
    request: &Request,
    host: &dyn Host,
    root_dir: &Path,
    registry: &Registry,
) -> (Option<Expanded>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let environment = match select_environment(config, request.environment.as_deref()) {
        Ok(e) => e,
        Err(d) => {
            diagnostics.push(d);
            return (None, diagnostics);
        }
    };
    let context = Context {
        config,
        graph,
        request,
        host,
        root_dir,
        registry,
    };
    let mut expander = walk(context, &environment, true);
    expander.distribute();
    let mut outputs = BTreeMap::new();
    for (name, output) in &config.root.outputs {
        if let Some(value) = expander
            .values
            .outputs
            .get(&(ModulePath::root(), name.clone()))
        {
            outputs.insert(
                name.clone(),
                OutputValue {
                    value: value.clone(),
                    sensitive: output.sensitive,
                },
            );
        }
    }
    let variables = config
        .root
        .variables
        .keys()
        .filter_map(|name| {
            expander
                .values
                .variables
                .get(&(ModulePath::root(), name.clone()))
                .map(|v| (name.clone(), v.clone()))
        })
        .collect();
    let (moved, imports) = expander.moves_and_imports(false);
    diagnostics.extend(expander.diagnostics);
    let module_instances = expander
        .module_instances
        .into_iter()
        .map(|(path, instances)| (path, instances.into_iter().map(|(i, _)| i).collect()))
        .collect();
    let expanded = Expanded {
        environment,
        variables,
        secrets: expander.secrets,
        instances: expander.instances,
        outputs,
        moved,
        imports,
        provider_configs: expander.provider_configs,
        // A partial expansion (`only`: the apply's resolver, once per link of
        // a chain) is read for its instances and outputs alone; the keyed
        // dependencies walk every resource, which per call made a chain's
        // apply quadratic.
        keyed_dependencies: Arc::new(match request.only {
            Some(_) => crate::graph::KeyedDependencies::new(),
            None => crate::graph::keyed_dependencies(config),
        }),
        module_instances,
    };
    (Some(expanded), diagnostics)
}

/// Evaluates the stack for one environment for its problems only, as `infra
/// validate` needs: the same walk and the same diagnostics as [`expand`], but
/// no instances are made, so it takes less time and memory. Returns the
/// environment evaluated (`None` when none could be selected).
pub fn validate(
    config: &Config,
    graph: &Graph,
    request: &Request,
    host: &dyn Host,
    root_dir: &Path,
    registry: &Registry,
) -> (Option<EnvironmentInfo>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let environment = match select_environment(config, request.environment.as_deref()) {
        Ok(e) => e,
        Err(d) => {
            diagnostics.push(d);
            return (None, diagnostics);
        }
    };
    let context = Context {
        config,
        graph,
        request,
        host,
        root_dir,
        registry,
    };
    let mut expander = walk(context, &environment, false);
    // The import ids too, so that `validate` refuses a secret id as `plan`
    // does. Ids that read resources, data sources or services are left to
    // `plan`: without instances, their values are not kept.
    let _ = expander.moves_and_imports(true);
    diagnostics.extend(expander.diagnostics);
    (Some(environment), diagnostics)
}

/// What a walk reads.
struct Context<'a> {
    config: &'a Config,
    graph: &'a Graph,
    request: &'a Request,
    host: &'a dyn Host,
    root_dir: &'a Path,
    registry: &'a Registry,
}

/// Evaluates every node in dependency order; `make_instances` false skips
/// making the instances (only the values references read are kept).
fn walk<'a>(
    context: Context<'a>,
    environment: &EnvironmentInfo,
    make_instances: bool,
) -> Expander<'a> {
    let Context {
        config,
        graph,
        request,
        host,
        root_dir,
        registry,
    } = context;
    let mut expander = Expander {
        config,
        graph,
        request,
        host,
        root_dir,
        registry,
        values: Values::new(environment),
        environment_vars: BTreeMap::new(),
        file_vars: BTreeMap::new(),
        diagnostics: Diagnostics::new(),
        instances: BTreeMap::new(),
        make_instances,
        pending: Vec::new(),
        groups: Vec::new(),
        secrets: BTreeMap::new(),
        provider_configs: BTreeMap::new(),
        at: ModulePath::root(),
        at_binding: Binding::default(),
        module_instances: BTreeMap::new(),
        failed_calls: std::collections::BTreeSet::new(),
        // Only for a walk of the whole graph: a walk of a few nodes (an
        // apply's resolves, one per link of a deep chain) must cost what
        // those nodes cost, not the stack's size; it finds blocks by name.
        blocks: if make_instances && request.only.is_some() {
            Vec::new()
        } else {
            resource_blocks(config, graph)
        },
        block: None,
        only: request.only.as_ref().map(|only| {
            Arc::new(
                only.resources
                    .iter()
                    .map(|addr| ResourceAddr {
                        module: addr.module.config_path(),
                        ..addr.clone()
                    })
                    .collect(),
            )
        }),
    };
    expander.environment_vars(&environment.name);
    expander.file_vars(&environment.name);
    expander
        .diagnostics
        .extend(unknown_cli_vars(config, request));
    if make_instances {
        match &request.only {
            None => {
                for (position, node) in graph.order_indexed() {
                    expander.node_at(position, node);
                }
            }
            Some(only) => {
                // Shared, not copied: the walk below reads it as the expander does.
                let resources = expander.only.clone().unwrap_or_default();
                let mut roots: Vec<usize> = resources
                    .iter()
                    .filter_map(|addr| graph.position(&Node::Resource(addr.clone())))
                    .collect();
                if only.outputs {
                    roots.extend(config.root.outputs.keys().filter_map(|name| {
                        graph.position(&Node::Output(ModulePath::root(), name.clone()))
                    }));
                }
                let leaf = |node: &Node| match node {
                    Node::Resource(addr) => !resources.contains(addr),
                    _ => false,
                };
                for (position, node) in graph.upstream_in_order(roots, leaf) {
                    expander.node_at(position, node);
                }
            }
        }
        return expander;
    }
    // Without instances to fill, a resource's value is only read by the nodes
    // that depend on it (every reference to a resource names it, and each is
    // an edge): it is dropped as soon as the last of them is evaluated, so a
    // walk holds only the values still to be read.
    let mut readers: Vec<usize> = (0..graph.len())
        .map(|position| graph.dependent_count_at(position))
        .collect();
    for (position, node) in graph.order_indexed() {
        expander.node_at(position, node);
        if readers.get(position) == Some(&0)
            && let Node::Resource(addr) = node
        {
            expander.drop_resource(addr);
        }
        for (dependency_position, dependency) in graph.dependencies_at(position) {
            if let Node::Resource(addr) = dependency
                && let Some(count) = readers.get_mut(dependency_position)
            {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    expander.drop_resource(addr);
                }
            }
        }
    }
    expander
}

/// Each resource block of `config` by the position of its node in `graph`
/// (see [`Graph::order_indexed`]): the walk finds the block of the node it is
/// at by position, where a module's map would compare names at every level.
fn resource_blocks<'a>(
    config: &'a Config,
    graph: &Graph,
) -> Vec<Option<&'a crate::config::Resource>> {
    let mut blocks = vec![None; graph.len()];
    for module in config.modules() {
        for resource in module.resources.values() {
            if let Some(slot) = graph
                .resource_position(resource.addr.borrowed())
                .and_then(|position| blocks.get_mut(position))
            {
                *slot = Some(&**resource);
            }
        }
    }
    blocks
}

/// The resource block `addr` names in `module`: `block` (the block of the
/// node being evaluated, found by position) when it is that one.
fn resource_block<'r>(
    block: Option<&'r crate::config::Resource>,
    module: &'r Module,
    addr: &ResourceAddr,
) -> Option<&'r crate::config::Resource> {
    match block {
        Some(block)
            if block.addr.name == addr.name
                && block.addr.resource_type == addr.resource_type
                && block.addr.mode == addr.mode
                && block.addr.module == module.path =>
        {
            Some(block)
        }
        _ => module.resource(addr.mode, &addr.resource_type, &addr.name),
    }
}

struct Expander<'a> {
    config: &'a Config,
    graph: &'a Graph,
    request: &'a Request,
    host: &'a dyn Host,
    root_dir: &'a Path,
    registry: &'a Registry,
    values: Values,
    /// The selected environment's `vars`, evaluated, with each entry's span.
    environment_vars: BTreeMap<String, (Value, Span)>,
    /// The values the variable files give in the selected environment
    /// (later files win), evaluated, with each line's span.
    file_vars: BTreeMap<String, (Value, Span)>,
    diagnostics: Diagnostics,
    instances: BTreeMap<InstanceAddr, Instance>,
    /// Whether to make instances (false for [`validate`]).
    make_instances: bool,
    /// The instances made during the walk, in walk order, without their
    /// attributes (those live in `values.resources` until `distribute`).
    pending: Vec<Instance>,
    /// Each resource that made instances and where they are in `pending`.
    groups: Vec<(ResourceAddr, std::ops::Range<usize>)>,
    secrets: BTreeMap<(ModulePath, String), SecretValue>,
    provider_configs: BTreeMap<(String, Option<String>), crate::lang::Map>,
    /// Each resource block by its node's position (see [`resource_blocks`]).
    blocks: Vec<Option<&'a crate::config::Resource>>,
    /// The block of the node being evaluated, when it is a resource's.
    block: Option<&'a crate::config::Resource>,
    /// The module instance being evaluated (see [`Expander::node`]).
    at: ModulePath,
    /// The `each` or `count` of the module call that made `at`.
    at_binding: Binding,
    /// Each module's instances, by configuration path (see
    /// [`Expander::module_instances`]).
    module_instances: BTreeMap<ModulePath, Vec<(ModulePath, Binding)>>,
    /// The module calls (calling instance, name) whose `count` or
    /// `for_each` could not be known: their value is unknown.
    failed_calls: std::collections::BTreeSet<(ModulePath, String)>,
    /// [`Request::only`]'s resources, by configuration address (every
    /// instance of a module call that expands is evaluated).
    only: Option<Arc<std::collections::BTreeSet<ResourceAddr>>>,
}

impl Expander<'_> {
    /// Every module's `moved` blocks with absolute addresses, and its `import`
    /// blocks with absolute addresses and their ids evaluated (a string known
    /// at plan time).
    ///
    /// `validating` only checks that import ids are not secret, and skips the
    /// ids that read a resource, data source or service, whose values a
    /// validating walk does not keep.
    fn moves_and_imports(
        &mut self,
        validating: bool,
    ) -> (Vec<crate::config::Moved>, Vec<ImportTarget>) {
        use crate::addr::Target;
        let config = self.config;
        let absolute = |module: &ModulePath, resource: &ResourceAddr| {
            let mut resource = resource.clone();
            let mut path = module.0.clone();
            path.extend(resource.module.0.iter().cloned());
            resource.module = ModulePath(path);
            resource
        };
        let absolute_target = |module: &ModulePath, target: &Target| match target {
            Target::Module(path) => {
                let mut full = module.0.clone();
                full.extend(path.0.iter().cloned());
                Target::Module(ModulePath(full))
            }
            Target::Resource(resource) => Target::Resource(absolute(module, resource)),
            Target::Instance(instance) => Target::Instance(InstanceAddr {
                resource: absolute(module, &instance.resource),
                key: instance.key.clone(),
            }),
        };
        let mut moved = Vec::new();
        let mut imports = Vec::new();
        for module in config.modules() {
            // A module's blocks apply to each of its instances, with that
            // instance's path in front.
            let instances: Vec<(ModulePath, Binding)> =
                if module.moved.is_empty() && module.imports.is_empty() {
                    Vec::new()
                } else {
                    self.module_instances(&module.path)
                };
            for (instance, _) in instances {
                self.at = instance;
                self.moves_and_imports_of(
                    module,
                    validating,
                    &absolute,
                    &absolute_target,
                    &mut moved,
                    &mut imports,
                );
            }
            self.at = ModulePath::root();
        }
        (moved, imports)
    }

    /// The `moved` and `import` blocks of `module` for the module instance
    /// at `self.at` (see [`Expander::moves_and_imports`]).
    fn moves_and_imports_of(
        &mut self,
        module: &Module,
        validating: bool,
        absolute: &dyn Fn(&ModulePath, &ResourceAddr) -> ResourceAddr,
        absolute_target: &dyn Fn(&ModulePath, &crate::addr::Target) -> crate::addr::Target,
        moved: &mut Vec<crate::config::Moved>,
        imports: &mut Vec<ImportTarget>,
    ) {
        {
            let path = self.at.clone();
            for block in &module.moved {
                moved.push(crate::config::Moved {
                    from: absolute_target(&path, &block.from),
                    to: absolute_target(&path, &block.to),
                    span: block.span,
                });
            }
            for block in &module.imports {
                let reads_instances = || {
                    crate::lang::refs::traversals(&block.id)
                        .iter()
                        .any(|t| !matches!(t.root, "var" | "local" | "secret" | "env" | "module"))
                };
                if validating && reads_instances() {
                    continue;
                }
                let Some(value) = self.eval(module, &block.id, &Binding::default()) else {
                    continue;
                };
                // Validating, an unknown id may come from an error reported
                // already (a variable without a value): only a secret is refused.
                if validating && !value.contains_secret() {
                    continue;
                }
                let plain = !value.contains_unknown() && !value.contains_secret();
                let Some(id) = value.as_str().filter(|_| plain) else {
                    self.diagnostics.push(
                        Diagnostic::error(
                            Code::CheckTypeMismatch,
                            block.id.span,
                            String::from("an import id must be a string, known at plan time and not secret"),
                        )
                        .with_help("an import `id` is the provider's id of the existing object, like `id = \"db-1\"`"),
                    );
                    continue;
                };
                imports.push(ImportTarget {
                    to: InstanceAddr {
                        resource: absolute(&path, &block.to.resource),
                        key: block.to.key.clone(),
                    },
                    id: id.to_owned(),
                    span: block.span,
                });
            }
        }
    }

    /// Forgets the values of resource `addr` (a configuration address) in
    /// every instance of its module.
    fn drop_resource(&mut self, addr: &ResourceAddr) {
        if addr.module.is_root() {
            self.values.resources.remove(addr);
            return;
        }
        for (instance, _) in self
            .module_instances
            .get(&addr.module)
            .into_iter()
            .flatten()
        {
            self.values.resources.remove(&crate::addr::ResourceAddrRef {
                module: instance,
                ..addr.borrowed()
            });
        }
    }

    fn module_dir(&self, module: &Module) -> Option<PathBuf> {
        module_dir(self.root_dir, module).map(Path::to_path_buf)
    }

    /// Evaluates `expr`, written in `module`, in the module instance being
    /// evaluated (`self.at`).
    fn eval(&mut self, module: &Module, expr: &Expr, binding: &Binding) -> Option<Value> {
        let at = std::mem::take(&mut self.at);
        let value = self.eval_in(module, &at, expr, binding);
        self.at = at;
        value
    }

    /// Evaluates `expr`, written in `module`, in its instance at `path`.
    fn eval_in(
        &mut self,
        module: &Module,
        path: &ModulePath,
        expr: &Expr,
        binding: &Binding,
    ) -> Option<Value> {
        let functions = Functions {
            host: self.host,
            dir: module_dir(self.root_dir, module),
        };
        let scope = ModuleScope {
            values: &self.values,
            module: path,
            binding,
        };
        match lang::eval(expr, &scope, &functions) {
            Ok(value) => Some(value),
            Err(d) => {
                self.diagnostics.push(d);
                None
            }
        }
    }

    fn environment_vars(&mut self, name: &str) {
        let Some(environment) = self.config.environments.get(name) else {
            return;
        };
        let Some(vars) = &environment.vars else {
            return;
        };
        let root = &self.config.root;
        // `vars` is evaluated with no names: it may call functions but not refer to anything.
        let Some(value) = self.eval(root, vars, &Binding::default()) else {
            return;
        };
        let Some(entries) = value.as_map() else {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::CheckTypeMismatch,
                    vars.span,
                    format!("this is a {}, not an object", value.type_name()),
                )
                .with_help("write `vars = { name = value, ... }`"),
            );
            return;
        };
        let spans = entry_spans(vars);
        for (key, item) in entries {
            let span = spans.get(key).copied().unwrap_or(vars.span);
            if !root.variables.contains_key(key) {
                let help = match did_you_mean(key, root.variables.keys().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => String::from(
                        "each key of `vars` must be a variable declared with `variable \"NAME\" { ... }`",
                    ),
                };
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::CheckUnknownReference,
                        span,
                        format!("no variable `{key}` to set"),
                    )
                    .with_help(help),
                );
                continue;
            }
            self.environment_vars
                .insert(key.clone(), (item.clone(), span));
        }
    }

    /// Evaluates the variable files that apply to environment `name`, in
    /// precedence order; each value is evaluated with no names (it may call
    /// functions but not refer to anything), like `vars`.
    fn file_vars(&mut self, name: &str) {
        let root = &self.config.root;
        for file in &self.config.var_files {
            if !file.applies_to(name) {
                continue;
            }
            for (variable, span, expr) in &file.values {
                if let Some(value) = self.eval(root, expr, &Binding::default()) {
                    self.file_vars.insert(variable.clone(), (value, *span));
                }
            }
        }
    }

    /// [`Expander::node`] for the node at `position` in the graph.
    fn node_at(&mut self, position: usize, node: &Node) {
        self.block = self.blocks.get(position).copied().flatten();
        self.node(node);
        self.block = None;
    }

    /// Evaluates `node` once in each instance of its module.
    fn node(&mut self, node: &Node) {
        let Some(module) = self.config.module(node.module()) else {
            return;
        };
        if let Node::ModuleCall(path) = node {
            self.module_call(path);
            return;
        }
        if node.module().is_root() {
            self.node_in(module, node);
            return;
        }
        for (instance, binding) in self.module_instances(node.module()) {
            self.at = instance;
            self.at_binding = binding;
            self.node_in(module, node);
        }
        self.at = ModulePath::root();
        self.at_binding = Binding::default();
        // `module.M.OUT` depends on the child's output node only, not on the
        // whole call, so it may be evaluated before the call node: publish
        // the call's value again as soon as one of its outputs is known in
        // every instance.
        if let Node::Output(path, _) = node {
            self.module_call(path);
        }
    }

    /// The instances of the module at configuration path `path`, each with
    /// the `each` or `count` its call's arguments see: one for a call without
    /// `count` or `for_each`, one per key or index otherwise, for each
    /// instance of the calling module. Worked out once per module, when the
    /// first of its nodes is evaluated (the graph puts the call's `count` or
    /// `for_each` before every node of the module).
    fn module_instances(&mut self, path: &ModulePath) -> Vec<(ModulePath, Binding)> {
        if path.is_root() {
            return vec![(ModulePath::root(), Binding::default())];
        }
        if let Some(found) = self.module_instances.get(path) {
            return found.clone();
        }
        let config = self.config;
        let found = match path.split_last() {
            Some((parent_path, step)) => {
                let call = config
                    .module(&parent_path)
                    .and_then(|parent| Some((parent, parent.module_calls.get(&step.name)?)));
                let mut found = Vec::new();
                if let Some((parent, call)) = call {
                    for (parent_instance, _) in self.module_instances(&parent_path) {
                        let at = std::mem::replace(&mut self.at, parent_instance.clone());
                        let keys = self.expansion_keys(
                            parent,
                            call.count.as_deref(),
                            call.for_each.as_deref(),
                        );
                        self.at = at;
                        match keys {
                            Some(keys) => found.extend(keys.into_iter().map(|(key, binding)| {
                                (parent_instance.child_instance(&step.name, key), binding)
                            })),
                            None => {
                                self.failed_calls
                                    .insert((parent_instance.clone(), step.name.clone()));
                                self.values
                                    .modules
                                    .insert((parent_instance, step.name.clone()), Value::UNKNOWN);
                            }
                        }
                    }
                }
                found
            }
            None => Vec::new(),
        };
        self.module_instances.insert(path.clone(), found.clone());
        found
    }

    /// The value of `module.NAME` in the calling module instance `parent`
    /// for the call at configuration path `path`: an object of the outputs
    /// (unknown until evaluated), a list of them for `count`, a map by key
    /// for `for_each`.
    fn call_value(&mut self, path: &ModulePath, parent: &ModulePath) -> Option<Value> {
        let (_, step) = path.split_last()?;
        if self
            .failed_calls
            .contains(&(parent.clone(), step.name.clone()))
        {
            return Some(Value::UNKNOWN);
        }
        let config = self.config;
        let child = config.module(path)?;
        let call = config
            .module(&path.split_last()?.0)?
            .module_calls
            .get(&step.name)?;
        let object = |values: &Values, instance: &ModulePath| -> Value {
            Value::map(
                child
                    .outputs
                    .keys()
                    .map(|o| {
                        let value = values
                            .outputs
                            .get(&(instance.clone(), o.clone()))
                            .cloned()
                            .unwrap_or(Value::UNKNOWN);
                        (o.clone(), value)
                    })
                    .collect(),
            )
        };
        let instances = self.module_instances(path);
        let mine = instances.iter().filter_map(|(instance, _)| {
            let (instance_parent, instance_step) = instance.split_last()?;
            (instance_parent == *parent).then(|| (instance, instance_step.key.clone()))
        });
        Some(if call.for_each.is_some() {
            Value::map(
                mine.filter_map(|(instance, key)| match key {
                    InstanceKey::String(k) => Some((k, object(&self.values, instance))),
                    _ => None,
                })
                .collect(),
            )
        } else if call.count.is_some() {
            Value::list(
                mine.map(|(instance, _)| object(&self.values, instance))
                    .collect(),
            )
        } else {
            let single = mine
                .map(|(instance, _)| object(&self.values, instance))
                .next();
            single.unwrap_or(Value::UNKNOWN)
        })
    }

    /// A module call node: `module.NAME` gets its value in each instance of
    /// the calling module.
    fn module_call(&mut self, path: &ModulePath) {
        let Some((parent_path, step)) = path.split_last() else {
            return;
        };
        for (parent, _) in self.module_instances(&parent_path) {
            if let Some(value) = self.call_value(path, &parent) {
                self.values
                    .modules
                    .insert((parent, step.name.clone()), value);
            }
        }
    }

    /// Evaluates `node` in the module instance at `self.at`.
    fn node_in(&mut self, module: &Module, node: &Node) {
        match node {
            Node::Variable(_, name) => self.variable(module, name),
            Node::Local(_, name) => {
                if let Some(local) = module.locals.get(name) {
                    let value = self
                        .eval(module, &local.expr, &Binding::default())
                        .unwrap_or(Value::UNKNOWN);
                    self.values
                        .locals
                        .insert((self.at.clone(), name.clone()), value);
                }
            }
            Node::Secret(_, name) => self.secret(module, name),
            Node::Provider(_, name, alias) => {
                if let Some(provider) = module.providers.get(&(name.clone(), alias.clone())) {
                    let mut settings = crate::lang::Map::new();
                    for (key, attribute) in &provider.attributes {
                        let value = self.eval(module, &attribute.value, &Binding::default());
                        settings.insert(key.clone(), value.unwrap_or(Value::UNKNOWN));
                    }
                    if module.path.is_root() {
                        self.provider_configs
                            .insert((name.clone(), alias.clone()), settings);
                    }
                }
            }
            Node::Resource(addr) => {
                let instance_addr = ResourceAddr {
                    module: self.at.clone(),
                    ..addr.clone()
                };
                match &self.only {
                    Some(only) if !only.contains(addr) => {
                        self.known_resource(module, &instance_addr);
                    }
                    _ => self.resource(module, node, &instance_addr),
                }
            }
            Node::ModuleCall(path) => self.module_call(path),
            Node::Output(_, name) => self.output(module, node, name),
        }
    }

    fn variable(&mut self, module: &Module, name: &str) {
        let Some(variable) = module.variables.get(name) else {
            return;
        };
        let path = self.at.clone();
        // Where the value comes from, most specific first.
        let mut source_span = None;
        let mut from_cli = None;
        let env_name = format!("{VAR_ENV_PREFIX}{name}");
        let raw = if path.is_root() {
            if let Some((_, text)) = self.request.vars.iter().rev().find(|(k, _)| k == name) {
                from_cli = Some(String::from("--var"));
                Some(cli_value(text, &variable.ty))
            } else if let Some(text) = self.host.env_var(&env_name) {
                from_cli = Some(env_name.clone());
                Some(cli_value(&text, &variable.ty))
            } else if let Some((value, span)) = self.file_vars.get(name) {
                source_span = Some(*span);
                Some(value.clone())
            } else if let Some((value, span)) = self.environment_vars.get(name) {
                source_span = Some(*span);
                Some(value.clone())
            } else {
                None
            }
        } else {
            // A child module's variable takes the module call's input,
            // evaluated in the calling module instance, with the `each` or
            // `count` of this instance.
            let (parent_path, call_name) = match path.split_last() {
                Some((parent_path, step)) => (parent_path, step.name.clone()),
                None => (ModulePath::root(), String::new()),
            };
            let parent = self.config.module(&parent_path);
            let input = parent
                .and_then(|p| p.module_calls.get(&call_name))
                .and_then(|c| c.inputs.get(name));
            match (parent, input) {
                (Some(parent), Some(input)) => {
                    source_span = Some(input.value.span);
                    let binding = self.at_binding.clone();
                    Some(
                        self.eval_in(parent, &parent_path, &input.value, &binding)
                            .unwrap_or(Value::UNKNOWN),
                    )
                }
                _ => None,
            }
        };
        // `nullable = false`: a null given counts as not given, so the
        // default applies.
        let raw = match raw {
            Some(v) if !variable.nullable && v.is_null() => {
                source_span = None;
                from_cli = None;
                None
            }
            other => other,
        };
        let raw = match raw {
            Some(v) => Some(v),
            None => match &variable.default {
                Some(default) => {
                    source_span = Some(default.span);
                    Some(
                        self.eval(module, default, &Binding::default())
                            .unwrap_or(Value::UNKNOWN),
                    )
                }
                None => None,
            },
        };
        let Some(raw) = raw else {
            self.diagnostics.push(
                Diagnostic::error(Code::CheckMissingVariableValue, variable.span, format!("`{name}` has no value"))
                    .with_help(format!(
                        "give it a `default`, set it in the environment's `vars`, or pass `--var {name}=VALUE`"
                    )),
            );
            self.values.variables.insert(
                (path, name.to_owned()),
                Value::UNKNOWN.mark_secret_if(variable.sensitive),
            );
            return;
        };
        if !variable.nullable
            && raw.is_null()
            && let Some(span) = source_span
        {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::CheckInvalidVariableValue,
                    span,
                    "this is null, and the variable is not nullable",
                )
                .with_help(format!(
                    "give `{name}` a default that is not null, or remove `nullable = false`"
                )),
            );
        }
        let value = match lang::convert(raw, &variable.ty) {
            Ok(v) => v.mark_secret_if(variable.sensitive),
            Err(mismatch) => {
                let label = format!("this does not fit `{}`: {mismatch}", variable.ty);
                let diagnostic = match (source_span, &from_cli) {
                    (Some(span), _) => {
                        Diagnostic::error(Code::CheckInvalidVariableValue, span, label)
                    }
                    (None, _) => Diagnostic::error(
                        Code::CheckInvalidVariableValue,
                        variable.ty_span.unwrap_or(variable.span),
                        format!(
                            "the {} value does not fit `{}`: {mismatch}",
                            from_cli.as_deref().unwrap_or("--var"),
                            variable.ty
                        ),
                    ),
                };
                let diagnostic = match variable.ty_span {
                    Some(ty_span) if source_span.is_some() => {
                        diagnostic.with_label(ty_span, "the type is declared here")
                    }
                    _ => diagnostic,
                };
                self.diagnostics.push(
                    diagnostic.with_help(format!("give `{name}` a value of type {}", variable.ty)),
                );
                Value::UNKNOWN.mark_secret_if(variable.sensitive)
            }
        };
        self.values
            .variables
            .insert((path.clone(), name.to_owned()), value.clone());
        for validation in &variable.validations {
            let Some(condition) = self.eval(module, &validation.condition, &Binding::default())
            else {
                continue;
            };
            if condition.is_unknown() {
                continue;
            }
            match condition.as_bool() {
                Some(true) => {}
                Some(false) => {
                    let message = self
                        .eval(module, &validation.message, &Binding::default())
                        .map(|m| match m.as_str() {
                            Some(s) if !m.is_secret() => s.to_owned(),
                            _ => m.to_string(),
                        })
                        .unwrap_or_default();
                    let shown = if value.contains_secret() {
                        String::from("(secret)")
                    } else {
                        value.to_string()
                    };
                    let where_from = match &from_cli {
                        Some(flag) => format!(" (from {flag})"),
                        None => String::new(),
                    };
                    let span = source_span.unwrap_or(validation.condition.span);
                    let mut diagnostic = Diagnostic::error(
                        Code::CheckValidationFailed,
                        span,
                        format!("{message} — `{name}` is {shown}{where_from}"),
                    );
                    if source_span.is_some() {
                        diagnostic = diagnostic
                            .with_label(validation.condition.span, "this condition is false");
                    }
                    self.diagnostics.push(diagnostic.with_help(format!(
                        "change the value of `{name}` so that the condition holds"
                    )));
                }
                None => self.diagnostics.push(
                    Diagnostic::error(
                        Code::CheckTypeMismatch,
                        validation.condition.span,
                        format!("this is a {}, not a bool", condition.type_name()),
                    )
                    .with_help("a validation condition must be true or false"),
                ),
            }
        }
    }

    fn secret(&mut self, module: &Module, name: &str) {
        let Some(secret) = module.secrets.get(name) else {
            return;
        };
        let key = (self.at.clone(), name.to_owned());
        let value = match &secret.source {
            SecretSource::Generate { .. } => match self.request.known_secrets.get(&key) {
                Some(known) => Value::string(known.clone()),
                None => Value::UNKNOWN,
            },
            SecretSource::Env(var) => match self.host.env_var(var) {
                Some(v) => Value::string(v),
                None => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            Code::CheckSecretSourceMissing,
                            secret.span,
                            format!("the environment variable `{var}` is not set"),
                        )
                        .with_help(format!(
                            "export {var} before running infra (its value is never shown)"
                        )),
                    );
                    Value::UNKNOWN
                }
            },
            SecretSource::File(file) => {
                let path = self.module_dir(module).map(|d| d.join(file));
                match path.map(|p| self.host.read(&p)) {
                    Some(Ok(bytes)) => match String::from_utf8(bytes) {
                        Ok(text) => Value::string(text.trim_end_matches(['\n', '\r']).to_owned()),
                        Err(_) => {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    Code::CheckSecretSourceMissing,
                                    secret.span,
                                    format!("`{file}` is not UTF-8 text"),
                                )
                                .with_help("store the secret as text, or base64-encode it"),
                            );
                            Value::UNKNOWN
                        }
                    },
                    Some(Err(error)) => {
                        self.diagnostics.push(
                            Diagnostic::error(
                                Code::CheckSecretSourceMissing,
                                secret.span,
                                format!("cannot read `{file}`"),
                            )
                            .with_help(format!(
                                "{error}; the path is relative to the module's folder"
                            )),
                        );
                        Value::UNKNOWN
                    }
                    None => {
                        self.diagnostics.push(
                            Diagnostic::error(
                                Code::CheckSecretSourceMissing,
                                secret.span,
                                "a stdlib module cannot read files",
                            )
                            .with_help("pass the secret into the module as an input instead"),
                        );
                        Value::UNKNOWN
                    }
                }
            }
        };
        let value = value.with_secret(true);
        self.values.secrets.insert(key.clone(), value.clone());
        self.secrets.insert(
            key,
            SecretValue {
                value,
                source: secret.source.clone(),
            },
        );
    }

    /// The instance keys `count` or `for_each` (evaluated in `module`, in
    /// the instance at `self.at`) make, each with its binding; `None` after
    /// reporting why they cannot be known.
    fn expansion_keys(
        &mut self,
        module: &Module,
        count: Option<&Expr>,
        for_each: Option<&Expr>,
    ) -> Option<Vec<(InstanceKey, Binding)>> {
        if let Some(count_expr) = count {
            let value = self.eval(module, count_expr, &Binding::default())?;
            if value.contains_secret() {
                self.diagnostics.push(
                    Diagnostic::error(Code::CheckSecretInMetaArgument, count_expr.span, "this count is derived from a secret")
                        .with_help("the number of instances is shown in every plan, so it cannot depend on a secret"),
                );
                return None;
            }
            if value.is_unknown() {
                self.diagnostics
                    .push(unknown_expansion(count_expr.span, "count"));
                return None;
            }
            let count = match value.as_number().and_then(|n| n.as_i64()) {
                Some(n) if n >= 0 => n,
                _ => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            Code::CheckInvalidExpansion,
                            count_expr.span,
                            format!(
                                "this is {}, not a whole number of zero or more",
                                describe(&value)
                            ),
                        )
                        .with_help("`count` is how many instances to make"),
                    );
                    return None;
                }
            };
            return Some(
                (0..count)
                    .map(|i| {
                        (
                            InstanceKey::Int(i),
                            Binding {
                                count: Some(i),
                                ..Binding::default()
                            },
                        )
                    })
                    .collect(),
            );
        }
        let Some(for_each_expr) = for_each else {
            return Some(vec![(InstanceKey::None, Binding::default())]);
        };
        let value = self.eval(module, for_each_expr, &Binding::default())?;
        // Secret first, as for `count`: keys derived from a secret are refused
        // whether or not they are known yet, since knowing them later would
        // not make them public.
        let keys_secret = value.is_secret()
            || value
                .as_list()
                .is_some_and(|items| items.iter().any(Value::contains_secret));
        if keys_secret {
            self.diagnostics.push(
                Diagnostic::error(Code::CheckSecretInMetaArgument, for_each_expr.span, "the keys of this for_each are derived from a secret")
                    .with_help("instance keys appear in addresses and plans; key by something public and keep the secret in `each.value`"),
            );
            return None;
        }
        if value.is_unknown() {
            self.diagnostics
                .push(unknown_expansion(for_each_expr.span, "for_each"));
            return None;
        }
        match value.kind() {
            Kind::Map(entries) => Some(
                entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            InstanceKey::String(k.clone()),
                            Binding {
                                each: Some((Value::string(k.clone()), v.clone())),
                                ..Binding::default()
                            },
                        )
                    })
                    .collect(),
            ),
            Kind::List(items) => {
                let mut keys = Vec::new();
                for item in items {
                    if item.is_unknown() {
                        self.diagnostics
                            .push(unknown_expansion(for_each_expr.span, "for_each"));
                        return None;
                    }
                    match item.as_str() {
                        Some(s) => keys.push(s.to_owned()),
                        None => {
                            self.diagnostics.push(
                                Diagnostic::error(Code::CheckInvalidExpansion, for_each_expr.span, format!("this list holds a {}", item.type_name()))
                                    .with_help("`for_each` takes a map, or a list of strings (one instance per distinct string)"),
                            );
                            return None;
                        }
                    }
                }
                keys.sort();
                keys.dedup();
                Some(
                    keys.into_iter()
                        .map(|k| {
                            (
                                InstanceKey::String(k.clone()),
                                Binding {
                                    each: Some((Value::string(k.clone()), Value::string(k))),
                                    ..Binding::default()
                                },
                            )
                        })
                        .collect(),
                )
            }
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::CheckInvalidExpansion,
                        for_each_expr.span,
                        format!(
                            "this is {}, not a map or a set of strings",
                            describe(&value)
                        ),
                    )
                    .with_help(
                        "`for_each` makes one instance per key of a map or per string of a set",
                    ),
                );
                None
            }
        }
    }

    /// Reports every configured value that breaks its attribute's offline
    /// rule ([`crate::providers::schema::ValueRule`]), at the value.
    fn check_rules(
        &mut self,
        schema: &crate::providers::ResourceSchema,
        ordered: &[(&String, &Attribute, bool)],
        attributes: &crate::lang::Map,
    ) {
        for &(name, attribute, _) in ordered {
            let Some(attribute_schema) = schema.attribute(name) else {
                continue;
            };
            let Some(rule) = attribute_schema.rule else {
                continue;
            };
            let Some(value) = attributes.get(name.as_str()) else {
                continue;
            };
            if let Some(problem) = rule.broken_by(value, attributes) {
                self.diagnostics.push(
                    Diagnostic::error(Code::CheckAttributeValue, attribute.value.span, problem)
                        .with_help(format!(
                            "`{name}` of `{}`: {}",
                            schema.resource_type, rule.rule
                        )),
                );
            }
        }
    }

    fn resource(&mut self, module: &Module, node: &Node, addr: &ResourceAddr) {
        let Some(resource) = resource_block(self.block, module, addr) else {
            return;
        };
        let schema = match addr.mode {
            Mode::Managed => self.registry.resource(&addr.resource_type),
            Mode::Data => self.registry.data_source(&addr.resource_type),
        };
        let Some(keys) = self.expansion_keys(
            module,
            resource.count.as_deref(),
            resource.for_each.as_deref(),
        ) else {
            self.values.resources.insert(addr.clone(), Value::UNKNOWN);
            return;
        };
        // What the instances share (not needed when none are made).
        let dependencies: Arc<[ResourceAddr]> = if self.make_instances {
            // A block's resource dependencies are in its own module: in the
            // same module instance as this one.
            self.graph
                .dependencies(node)
                .into_iter()
                .filter_map(|n| match n {
                    Node::Resource(r) => Some(ResourceAddr {
                        module: addr.module.clone(),
                        ..r.clone()
                    }),
                    _ => None,
                })
                .collect()
        } else {
            Arc::from(Vec::new())
        };
        let mut list = Vec::new();
        let mut map = crate::lang::Map::new();
        // Attributes that do not use `self` first, then the rest with `self`
        // bound. Which is which depends only on the expressions, so it is
        // worked out once per resource, not once per instance; and only when
        // the block reads `self` at all (checking records every `self.ATTR`
        // among the block's references), since walking each expression for
        // it is a fifth of a validate's expansion.
        let reads_self = resource
            .references
            .iter()
            .any(|r| r.target == crate::config::RefTarget::SelfRef);
        let (plain, with_self): (Vec<_>, Vec<_>) = resource
            .attributes
            .iter()
            .partition(|(_, a)| !reads_self || !uses_self(&a.value));
        let ordered: Vec<(&String, &Attribute, bool)> = plain
            .into_iter()
            .map(|(n, a)| (n, &**a, false))
            .chain(with_self.into_iter().map(|(n, a)| (n, &**a, true)))
            .collect();
        let spans: Arc<crate::lang::VecMap<String, Span>> = Arc::new(if self.make_instances {
            let mut spans: crate::lang::VecMap<String, Span> = ordered
                .iter()
                .map(|(name, attribute, _)| ((*name).clone(), attribute.value.span))
                .collect();
            // A service's run folder is set by the engine, not written, but it
            // is configuration all the same: the block's span keeps it in
            // `Instance::configured`, which an apply re-resolves from.
            if addr.is_service() {
                spans.insert(String::from("run_dir"), resource.span);
            }
            spans
        } else {
            crate::lang::VecMap::new()
        });
        let first = self.pending.len();
        for (instance_key, binding) in keys {
            let instance_addr = addr.instance(instance_key);
            let known = self.request.known_objects.attributes(&instance_addr);
            let mut attributes = crate::lang::Map::new();
            for &(name, attribute, needs_self) in &ordered {
                // Only an attribute that reads `self` needs a snapshot of the
                // attributes evaluated so far.
                let value = if needs_self {
                    let binding = Binding {
                        self_value: Some(Value::map(attributes.clone())),
                        ..binding.clone()
                    };
                    self.eval(module, &attribute.value, &binding)
                } else {
                    self.eval(module, &attribute.value, &binding)
                };
                let value = value.unwrap_or(Value::UNKNOWN);
                let value = match schema.and_then(|s| s.attribute(name)) {
                    Some(attribute_schema) => match lang::convert(value, &attribute_schema.ty) {
                        Ok(v) => v.mark_secret_if(attribute_schema.sensitive),
                        Err(mismatch) => {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    Code::CheckAttributeType,
                                    attribute.value.span,
                                    format!(
                                        "this does not fit `{}`: {mismatch}",
                                        attribute_schema.ty
                                    ),
                                )
                                .with_help(format!(
                                    "`{}` of `{}` is {}",
                                    name, addr.resource_type, attribute_schema.ty
                                )),
                            );
                            Value::UNKNOWN
                        }
                    },
                    None => value,
                };
                attributes.insert(name.clone(), value);
            }
            if addr.is_service() {
                self.service_settings(resource, &instance_addr, &mut attributes);
            }
            if let Some(schema) = schema {
                self.check_rules(schema, &ordered, &attributes);
            }
            if let Some(schema) = schema {
                // Whether a computed value is secret is known now, from the
                // inputs it is derived from (the schema says which), so every
                // secret rule holds before any provider call; an apply seals
                // what the provider returns by the same rule.
                // (Sensitive attributes are marked already, so an instance
                // without a secret input derives none: skip the lookups.)
                let any_secret = attributes.values().any(Value::contains_secret);
                // Worked out before any is inserted (each reads the inputs);
                // without a secret input there is nothing to work out.
                let derived: Vec<bool> = if any_secret {
                    schema
                        .attributes
                        .iter()
                        .map(|a| schema.derived_secret(a.name, &attributes))
                        .collect()
                } else {
                    Vec::new()
                };
                for (position, attribute_schema) in schema.attributes.iter().enumerate() {
                    let derived = derived.get(position).copied().unwrap_or(false);
                    if !attributes.contains_key(attribute_schema.name) {
                        let (value, secret) = if attribute_schema.computed() {
                            let value = known
                                .and_then(|object| object.get(attribute_schema.name))
                                .cloned()
                                .unwrap_or(Value::UNKNOWN);
                            (value, derived)
                        } else {
                            (Value::NULL, false)
                        };
                        attributes.insert(
                            attribute_schema.name.to_owned(),
                            value.mark_secret_if(attribute_schema.sensitive || secret),
                        );
                    }
                }
            }
            // The attributes live in the resource's value (what references read)
            // until the walk ends; `distribute` then moves them into the instances,
            // so a stack's values are held once, not twice.
            let object = Value::map(attributes);
            match &instance_addr.key {
                InstanceKey::None => {
                    list.push(object);
                }
                InstanceKey::Int(_) => list.push(object),
                InstanceKey::String(k) => {
                    map.insert(k.clone(), object);
                }
            }
            if !self.make_instances {
                continue;
            }
            self.pending.push(Instance {
                addr: instance_addr,
                provider: resource.provider.clone(),
                attributes: crate::lang::Map::new(),
                attribute_spans: Arc::clone(&spans),
                dependencies: Arc::clone(&dependencies),
                lifecycle: resource.lifecycle.clone(),
                span: resource.span,
            });
        }
        if self.pending.len() > first {
            self.groups.push((addr.clone(), first..self.pending.len()));
        }
        let value = if resource.for_each.is_some() {
            Value::map(map)
        } else if resource.count.is_some() {
            Value::list(list)
        } else {
            list.pop().unwrap_or(Value::UNKNOWN)
        };
        self.values.resources.insert(addr.clone(), value);
    }

    /// A service instance: its run folder (`run_dir`), and the `process`
    /// provider's offline checks of its settings, reported at the setting.
    fn service_settings(
        &mut self,
        resource: &crate::config::Resource,
        addr: &InstanceAddr,
        attributes: &mut crate::lang::Map,
    ) {
        let environment = self
            .values
            .env
            .as_map()
            .and_then(|env| env.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let run_dir =
            crate::providers::process::run_dir(&self.config.stack.name, &environment, addr);
        attributes.insert(String::from("run_dir"), Value::string(run_dir));
        for error in crate::providers::process::validate_config(attributes) {
            let path = error.attribute_path.clone().unwrap_or_default();
            let span = setting_span(resource, &path);
            self.diagnostics.push(
                Diagnostic::error(
                    Code::CheckInvalidServiceSetting,
                    span,
                    "this setting is not valid",
                )
                .with_help(error.message),
            );
        }
    }

    /// A resource that is not evaluated (see [`Request::only`]): its value is
    /// made of the known objects of its instances, shaped like an evaluated
    /// one (an object, a list for `count`, a map for `for_each`).
    fn known_resource(&mut self, module: &Module, addr: &ResourceAddr) {
        let Some(resource) = resource_block(self.block, module, addr) else {
            return;
        };
        let known = self.request.known_objects.instances_of(addr);
        let mut list = Vec::new();
        let mut map = crate::lang::Map::new();
        let mut single = None;
        for (instance, attributes) in known {
            let object = Value::map(attributes.clone());
            match &instance.key {
                InstanceKey::None => single = Some(object),
                InstanceKey::Int(_) => list.push(object),
                InstanceKey::String(k) => {
                    map.insert(k.clone(), object);
                }
            }
        }
        let value = if resource.for_each.is_some() {
            Value::map(map)
        } else if resource.count.is_some() {
            Value::list(list)
        } else {
            single.unwrap_or(Value::UNKNOWN)
        };
        self.values.resources.insert(addr.clone(), value);
    }

    /// Moves each instance's attributes out of its resource's value into the
    /// instance, once nothing reads the values any more, and files the
    /// instances by address. Each resource's instances are found by position
    /// (`groups`), not looked up one by one.
    fn distribute(&mut self) {
        let mut resources = std::mem::take(&mut self.values.resources);
        let mut pending = std::mem::take(&mut self.pending);
        let groups = std::mem::take(&mut self.groups);
        for (addr, range) in &groups {
            if let (Some(value), Some(group)) =
                (resources.remove(addr), pending.get_mut(range.clone()))
            {
                distribute_one(value, group);
            }
        }
        drop(resources);
        // Filed by address: the resources sorted (one entry each, not one per
        // instance), each one's instances already in key order.
        let mut order: Vec<usize> = (0..groups.len()).collect();
        order.sort_unstable_by(|a, b| {
            let addr = |i: &usize| groups.get(*i).map(|(addr, _)| addr);
            addr(a).cmp(&addr(b))
        });
        let mut slots: Vec<Option<Instance>> = pending.into_iter().map(Some).collect();
        let mut sorted = Vec::with_capacity(slots.len());
        for i in order {
            let Some((_, range)) = groups.get(i) else {
                continue;
            };
            for slot in slots.get_mut(range.clone()).into_iter().flatten() {
                if let Some(instance) = slot.take() {
                    sorted.push((instance.addr.clone(), instance));
                }
            }
        }
        self.instances = sorted.into_iter().collect();
    }

    fn output(&mut self, module: &Module, node: &Node, name: &str) {
        let Some(output) = module.outputs.get(name) else {
            return;
        };
        let value = self
            .eval(module, &output.value, &Binding::default())
            .unwrap_or(Value::UNKNOWN);
        if value.contains_secret() && !output.sensitive {
            let path = secret_path(self.config, self.graph, node);
            let value_span = output.value.span;
            self.diagnostics.push(
                Diagnostic::error(Code::CheckSecretInOutput, value_span, "this value is derived from a secret")
                    .with_label(output.span, "this output is not marked sensitive")
                    .with_help(format!(
                        "the secret reaches it through {path}; add `sensitive = true` to the output so it is shown as (sensitive), or output something not derived from the secret"
                    )),
            );
        }
        self.values
            .outputs
            .insert((self.at.clone(), name.to_owned()), value);
    }
}

/// The span of the setting at `path` in a resource block: the value of the
/// attribute, or of the key inside an object written out (`deploy = {
/// strategy = ... }`), else the closest enclosing one.
fn setting_span(resource: &crate::config::Resource, path: &[String]) -> Span {
    let Some((first, rest)) = path.split_first() else {
        return resource.span;
    };
    let Some(attribute) = resource.attributes.get(first) else {
        return resource.span;
    };
    let mut expr = &attribute.value;
    for key in rest {
        let crate::syntax::ast::ExprKind::Object(entries) = &expr.kind else {
            break;
        };
        match entries
            .items
            .iter()
            .find(|entry| entry.value.key.literal() == Some(key.as_str()))
        {
            Some(entry) => expr = &entry.value.value,
            None => break,
        }
    }
    expr.span
}

/// Whether `expr` reads `self` (an attribute of the resource or service it is in).
fn uses_self(expr: &Expr) -> bool {
    lang::refs::uses_root(expr, "self")
}

/// Gives each of one resource's instances (`group`) its attributes from the
/// resource's value: a list for `count`, a map by key for `for_each`, the
/// object itself for a single instance.
fn distribute_one(value: Value, group: &mut [Instance]) {
    let attributes_of = |v: Value| match v.into_kind() {
        Kind::Map(attributes) => attributes,
        _ => crate::lang::Map::new(),
    };
    group.sort_by(|a, b| a.addr.key.cmp(&b.addr.key));
    let find = |group: &mut [Instance], key: &InstanceKey| -> Option<usize> {
        group.binary_search_by(|i| i.addr.key.cmp(key)).ok()
    };
    match value.into_kind() {
        Kind::List(items) => {
            let counted = find(group, &InstanceKey::Int(0)).is_some();
            for (i, item) in items.into_iter().enumerate() {
                let key = if counted {
                    InstanceKey::Int(i64::try_from(i).unwrap_or(i64::MAX))
                } else {
                    InstanceKey::None
                };
                if let Some(at) = find(group, &key)
                    && let Some(instance) = group.get_mut(at)
                {
                    instance.attributes = attributes_of(item);
                }
            }
        }
        Kind::Map(entries) => {
            if let Some(at) = find(group, &InstanceKey::None) {
                if let Some(instance) = group.get_mut(at) {
                    instance.attributes = entries;
                }
            } else {
                for (key, item) in entries {
                    if let Some(at) = find(group, &InstanceKey::String(key))
                        && let Some(instance) = group.get_mut(at)
                    {
                        instance.attributes = attributes_of(item);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The folder a module's files are in (`None` for a stdlib module).
fn module_dir<'a>(root_dir: &'a Path, module: &'a Module) -> Option<&'a Path> {
    match &module.source {
        ModuleSource::Root => Some(root_dir),
        ModuleSource::Local(dir) => Some(dir),
        ModuleSource::Std(_) => None,
    }
}

fn describe(value: &Value) -> String {
    if value.contains_secret() {
        return String::from("a secret");
    }
    match value.kind() {
        Kind::Number(_) | Kind::Bool(_) | Kind::Null => value.to_string(),
        _ => format!("a {}", value.type_name()),
    }
}

fn unknown_expansion(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(Code::CheckUnknownExpansion, span, format!("this {what} depends on values known only after apply"))
        .with_help(format!(
            "{what} decides which instances exist, so it must be known when planning: derive it from variables, locals or literal values, or apply the resources it depends on first with `infra apply --target`"
        ))
}

/// The prefix of the environment variables that set root variables:
/// `INFRA_VAR_replicas=3` sets `var.replicas` (above the variable files and
/// below `--var`).
pub const VAR_ENV_PREFIX: &str = "INFRA_VAR_";

/// One error per `--var NAME=VALUE` whose name the root module does not
/// declare: a value that nothing reads is a typo, not a setting.
fn unknown_cli_vars(config: &Config, request: &Request) -> Diagnostics {
    let mut diagnostics = Diagnostics::new();
    let declared = &config.root.variables;
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in &request.vars {
        if declared.contains_key(name) || !seen.insert(name.as_str()) {
            continue;
        }
        let mut help = match did_you_mean(name, declared.keys().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`? "),
            None => String::new(),
        };
        if declared.is_empty() {
            help.push_str("the stack declares no variables; remove this --var");
        } else {
            let names: Vec<&str> = declared.keys().map(String::as_str).collect();
            help.push_str(&format!(
                "--var sets a variable declared with `variable \"NAME\" {{ ... }}`; this stack declares: {}",
                names.join(", ")
            ));
        }
        diagnostics.push(
            Diagnostic::error_at_path(Code::CheckUnknownVariable, Some(format!("--var {name}")))
                .with_help(help),
        );
    }
    diagnostics
}

/// A `--var` value for a variable of type `ty`: strings are taken as they are;
/// other types are read as JSON (`--var 'ports=[80,443]'`), falling back to the
/// string, which conversion then checks.
fn cli_value(text: &str, ty: &Type) -> Value {
    match ty {
        Type::String => Value::string(text),
        _ => serde_json::from_str::<serde_json::Value>(text)
            .map_or_else(|_| Value::string(text), |json| Value::from_json(&json)),
    }
}

/// Maps each literal key of an object expression to the span of its value.
fn entry_spans(expr: &Expr) -> BTreeMap<String, Span> {
    let mut out = BTreeMap::new();
    if let crate::syntax::ast::ExprKind::Object(entries) = &expr.kind {
        for entry in entries.values() {
            if let Some(key) = entry.key.literal() {
                out.insert(key.to_owned(), entry.value.span);
            }
        }
    }
    out
}

/// The chain of references from a secret to `node`: `secret.db_password → local.url → output.db_url`.
fn secret_path(config: &Config, graph: &Graph, node: &Node) -> String {
    let is_source = |n: &Node| match n {
        Node::Secret(..) => true,
        Node::Variable(m, v) => config
            .module(m)
            .and_then(|m| m.variables.get(v))
            .is_some_and(|v| v.sensitive),
        _ => false,
    };
    // Breadth-first search upstream, remembering how each node was reached.
    let mut previous: BTreeMap<Node, Node> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([node.clone()]);
    let mut found = None;
    while let Some(current) = queue.pop_front() {
        if is_source(&current) {
            found = Some(current);
            break;
        }
        for dependency in graph.dependencies(&current) {
            if !previous.contains_key(dependency) && dependency != node {
                previous.insert(dependency.clone(), current.clone());
                queue.push_back(dependency.clone());
            }
        }
    }
    let Some(mut current) = found else {
        return format!("a sensitive provider attribute used by {node}");
    };
    let mut chain = vec![current.to_string()];
    while let Some(next) = previous.get(&current) {
        chain.push(next.to_string());
        current = next.clone();
    }
    chain.join(" → ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::host::MemoryHost;

    /// A stack with every kind of expansion and problems only evaluation finds.
    const STACK: &str = r#"
stack "t" {
  default_environment = "dev"
}
variable "n" {
  type    = number
  default = 2
  validate {
    condition = var.n < 3
    message   = "n is too big"
  }
}
environment "dev" {
  vars = { n = 2 }
}
environment "prod" {
  vars = { n = 5 }
}
secret "token" {
  env = "TOKEN"
}
locals {
  ports = { api = 8080, worker = 8081 }
}
resource "null_resource" "single" {
  triggers = { a = "x" }
}
resource "null_resource" "counted" {
  count    = var.n
  triggers = { i = "${count.index}", after = null_resource.single.id }
}
resource "local_file" "each" {
  for_each = local.ports
  path     = "out/${each.key}"
  content  = "${each.value} ${self.path}"
}
resource "local_file" "bad" {
  path    = "x"
  content = [1, 2]
}
output "leak" {
  value = secret.token
}
"#;

    #[test]
    fn validate_finds_what_expand_finds_and_instances_get_their_attributes() {
        let host = MemoryHost::new()
            .with_file("/stack/main.infra", STACK)
            .with_env("TOKEN", "hunter2");
        let checked = crate::pipeline::check(&host, Path::new("/stack"));
        assert!(
            !checked.diagnostics.has_errors(),
            "{:?}",
            checked.diagnostics
        );
        let registry = Registry::builtin();
        for environment in ["dev", "prod"] {
            let request = Request {
                environment: Some(environment.to_owned()),
                ..Request::default()
            };
            let args = (&checked.config, &checked.graph, &request);
            let (expanded, mut expand_diagnostics) =
                expand(args.0, args.1, args.2, &host, &checked.dir, &registry);
            let (info, mut validate_diagnostics) =
                validate(args.0, args.1, args.2, &host, &checked.dir, &registry);
            expand_diagnostics.sort();
            validate_diagnostics.sort();
            assert_eq!(
                format!("{expand_diagnostics:?}"),
                format!("{validate_diagnostics:?}"),
                "{environment}"
            );
            assert!(expand_diagnostics.has_errors(), "{environment}");
            let expanded = expanded.expect("expanded");
            assert_eq!(info.map(|i| i.name), Some(environment.to_owned()));
            let names: Vec<String> = expanded.instances.keys().map(ToString::to_string).collect();
            let count = if environment == "dev" { 2 } else { 5 };
            assert_eq!(names.len(), 1 + count + 2 + 1, "{environment}: {names:?}");
            for (addr, instance) in &expanded.instances {
                assert_eq!(&instance.addr, addr);
                assert!(
                    instance.attributes.contains_key("id"),
                    "{addr} has no attributes: {:?}",
                    instance.attributes
                );
            }
            let api = expanded
                .instances
                .values()
                .find(|i| i.addr.to_string() == "local_file.each[\"api\"]")
                .expect("each[api]");
            assert_eq!(
                api.attributes.get("content").and_then(Value::as_str),
                Some("8080 out/api")
            );
            let counted = expanded
                .instances
                .values()
                .find(|i| i.addr.to_string() == "null_resource.counted[1]")
                .expect("counted[1]");
            assert_eq!(
                counted
                    .attributes
                    .get("triggers")
                    .and_then(|t| t.as_map())
                    .and_then(|t| t.get("i"))
                    .and_then(Value::as_str),
                Some("1")
            );
        }
    }

    /// A partial expansion (an apply's resolve) evaluates the resources asked
    /// for and what they depend on, up to known resources, and nothing else:
    /// the broken resource and the leaking output are not evaluated, so they
    /// raise nothing, and the known resource's id reaches its dependents.
    #[test]
    fn a_partial_expansion_evaluates_only_what_the_wanted_resources_depend_on() {
        let host = MemoryHost::new()
            .with_file("/stack/main.infra", STACK)
            .with_env("TOKEN", "hunter2");
        let checked = crate::pipeline::check(&host, Path::new("/stack"));
        let single: crate::addr::InstanceAddr = "null_resource.single".parse().expect("address");
        let known: BTreeMap<InstanceAddr, crate::lang::Map> = BTreeMap::from([(
            single.clone(),
            crate::lang::Map::from_iter([("id".to_owned(), Value::string("id-of-single"))]),
        )]);
        let counted = &"null_resource.counted[0]"
            .parse::<InstanceAddr>()
            .expect("address")
            .resource;
        let request = Request {
            environment: Some("dev".to_owned()),
            known_objects: Arc::new(known),
            only: Some(Arc::new(Only {
                resources: [counted.clone()].into_iter().collect(),
                outputs: false,
            })),
            ..Request::default()
        };
        let registry = Registry::builtin();
        let (expanded, diagnostics) = expand(
            &checked.config,
            &checked.graph,
            &request,
            &host,
            &checked.dir,
            &registry,
        );
        assert!(!diagnostics.has_errors(), "{diagnostics:?}");
        let expanded = expanded.expect("expanded");
        let names: Vec<String> = expanded.instances.keys().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["null_resource.counted[0]", "null_resource.counted[1]"]
        );
        assert!(expanded.outputs.is_empty(), "{:?}", expanded.outputs);
        for instance in expanded.instances.values() {
            assert_eq!(
                instance
                    .attributes
                    .get("triggers")
                    .and_then(|t| t.as_map())
                    .and_then(|t| t.get("after"))
                    .and_then(Value::as_str),
                Some("id-of-single")
            );
        }

        // With the outputs asked for, the output is evaluated (and its
        // problem found), still without the broken resource.
        let request = Request {
            only: Some(Arc::new(Only {
                resources: std::collections::BTreeSet::new(),
                outputs: true,
            })),
            ..request
        };
        let (expanded, diagnostics) = expand(
            &checked.config,
            &checked.graph,
            &request,
            &host,
            &checked.dir,
            &registry,
        );
        let expanded = expanded.expect("expanded");
        assert!(expanded.instances.is_empty());
        assert!(
            expanded.outputs.contains_key("leak"),
            "{:?}",
            expanded.outputs
        );
        let text = format!("{diagnostics:?}");
        assert!(
            !text.contains("content"),
            "the broken resource was evaluated: {text}"
        );
    }
}
