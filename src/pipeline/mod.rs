//! The stages run in order for one command: load → check → graph → expand.
//! Each command's library entry point lives here, so a `cli` command builds a
//! request, calls one function and renders what comes back.
//!
//! Invariant: no printing; the machine only through `host`. Later stages run
//! only when the earlier ones found no errors, so one mistake is reported once.

pub mod envdiff;

use crate::check::{self, Stack};
use crate::config::Config;
use crate::diag::{Diagnostics, SourceMap};
use crate::expand::{self, Expanded, Request};
use crate::graph::{self, Graph};
use crate::host::Host;
use crate::providers::{ProviderSet, Registry};
use std::path::Path;

/// A stack loaded, checked and graphed.
pub struct Checked {
    /// Every file read, for rendering diagnostics.
    pub sources: SourceMap,
    /// The checked model (built even when there are errors, as far as it goes).
    pub config: Config,
    /// The dependency graph (empty when checking failed).
    pub graph: Graph,
    /// Everything found so far, sorted.
    pub diagnostics: Diagnostics,
    /// The stack folder.
    pub dir: std::path::PathBuf,
}

/// Loads and checks the stack in `dir` and builds its graph.
pub fn check(host: &dyn Host, dir: &Path) -> Checked {
    let (mut stack, mut diagnostics): (Stack, Diagnostics) = check::load(host, dir);
    let (config, check_diagnostics) = check::check(host, &mut stack);
    // The syntax trees are not needed past checking; free them before the
    // graph and the expansions are built, so they do not add to the peak.
    drop(std::mem::take(&mut stack.files));
    diagnostics.extend(check_diagnostics);
    let graph = if diagnostics.has_errors() {
        Graph::default()
    } else {
        let (graph, graph_diagnostics) = graph::build(&config);
        diagnostics.extend(graph_diagnostics);
        graph
    };
    diagnostics.sort();
    Checked {
        sources: stack.sources,
        config,
        graph,
        diagnostics,
        dir: dir.to_path_buf(),
    }
}

/// Expands a checked stack for one environment (`request.environment`, or the
/// default). `None` when checking had failed.
pub fn expand(
    host: &dyn Host,
    checked: &Checked,
    request: &Request,
) -> (Option<Expanded>, Diagnostics) {
    if checked.diagnostics.has_errors() {
        return (None, Diagnostics::new());
    }
    let registry = Registry::for_host(host);
    let (expanded, mut diagnostics) = expand::expand(
        &checked.config,
        &checked.graph,
        request,
        host,
        &checked.dir,
        &registry,
    );
    diagnostics.sort();
    (expanded, diagnostics)
}

/// What `infra validate` asks for.
#[derive(Debug, Clone, Default)]
pub struct ValidateRequest {
    /// `--env`: check only this environment. Without it, every environment is
    /// checked (a stack without environments is checked once).
    pub environment: Option<String>,
    /// `--var NAME=VALUE`.
    pub vars: Vec<(String, String)>,
}

/// The result of `infra validate`.
pub struct Validated {
    /// Every file read.
    pub sources: SourceMap,
    /// Every problem, sorted, duplicates across environments removed.
    pub diagnostics: Diagnostics,
    /// The environments that were evaluated.
    pub environments: Vec<String>,
}

/// Parses and checks the stack, then evaluates it for the requested
/// environment, or for every environment when none is requested.
pub fn validate(host: &dyn Host, dir: &Path, request: &ValidateRequest) -> Validated {
    let checked = check(host, dir);
    let mut diagnostics = checked.diagnostics.clone();
    let mut environments = Vec::new();
    if !diagnostics.has_errors() {
        let names: Vec<Option<String>> =
            match (&request.environment, checked.config.environments.is_empty()) {
                (Some(name), _) => vec![Some(name.clone())],
                (None, true) => vec![None],
                (None, false) => checked
                    .config
                    .environments
                    .keys()
                    .cloned()
                    .map(Some)
                    .collect(),
            };
        for (name, expand_diagnostics) in expand_all(host, &checked, request, names) {
            if let Some(name) = name {
                environments.push(name);
            }
            diagnostics.extend(expand_diagnostics);
        }
    }
    diagnostics.sort();
    Validated {
        sources: checked.sources,
        diagnostics,
        environments,
    }
}

/// Expands `checked` for each of `names`, returning per environment (in the
/// order given) the name of the environment that was evaluated and the
/// problems found. Environments are independent, so with two or more they
/// are expanded on up to `available_parallelism` threads.
fn expand_all(
    host: &dyn Host,
    checked: &Checked,
    request: &ValidateRequest,
    names: Vec<Option<String>>,
) -> Vec<(Option<String>, Diagnostics)> {
    let one = |name: Option<String>| {
        let expand_request = Request {
            environment: name,
            vars: request.vars.clone(),
            known_secrets: Default::default(),
        };
        let (expanded, diagnostics) = expand(host, checked, &expand_request);
        (expanded.map(|e| e.environment.name), diagnostics)
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(names.len());
    if workers < 2 {
        return names.into_iter().map(one).collect();
    }
    // Each worker takes the next environment until none are left.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, (Option<String>, Diagnostics))> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(name) = names.get(i) else {
                            break;
                        };
                        done.push((i, one(name.clone())));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// What `infra plan` asks for.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// `--env`: the environment (default: the stack's `default_environment`).
    pub environment: Option<String>,
    /// `--var NAME=VALUE`.
    pub vars: Vec<(String, String)>,
    /// `--target`: when not empty, only these and what they depend on.
    pub targets: Vec<crate::addr::Target>,
    /// `--refresh` (default true): read every prior object from its provider first.
    pub refresh: bool,
    /// `--out FILE`: also save the plan there (secrets sealed with the state key).
    pub out: Option<std::path::PathBuf>,
}

/// How many provider calls a plan makes at once.
const PLAN_PARALLELISM: usize = 10;

/// Plans the stack in `dir` for one environment: check → graph → expand →
/// read the local state (no lock, nothing written; a missing state is an
/// empty prior) → refresh and diff with the built-in providers. With
/// `request.out`, the plan is also saved there, sealed and authenticated with
/// the state key (created only then, when there is none yet). `None` when a
/// stage before the diff failed.
pub fn plan(
    host: std::sync::Arc<dyn Host>,
    dir: &Path,
    request: PlanRequest,
) -> (Option<crate::plan::Plan>, SourceMap, Diagnostics) {
    let checked = check(host.as_ref(), dir);
    let mut diagnostics = checked.diagnostics.clone();
    let expand_request = Request {
        environment: request.environment.clone(),
        vars: request.vars.clone(),
        known_secrets: Default::default(),
    };
    let (expanded, expand_diagnostics) = expand(host.as_ref(), &checked, &expand_request);
    diagnostics.extend(expand_diagnostics);
    let plan = match expanded {
        Some(expanded) if !diagnostics.has_errors() => {
            plan_expanded(&host, &checked, &expanded, &request, &mut diagnostics)
        }
        _ => None,
    };
    diagnostics.sort();
    (plan, checked.sources, diagnostics)
}

/// The part of [`plan`] after expansion: providers, state, key, the plan and
/// the plan file.
fn plan_expanded(
    host: &std::sync::Arc<dyn Host>,
    checked: &Checked,
    expanded: &Expanded,
    request: &PlanRequest,
    diagnostics: &mut Diagnostics,
) -> Option<crate::plan::Plan> {
    use crate::diag::{Code, Diagnostic};
    use crate::state::{Key, LocalBackend};

    let providers = ProviderSet::builtin(host.clone(), &checked.dir);
    let missing = missing_providers(expanded, &providers);
    if !missing.is_empty() {
        diagnostics.extend(missing);
        return None;
    }

    let stack = checked.config.stack.name.clone();
    let environment = expanded.environment.name.clone();
    let backend = LocalBackend::new(host.as_ref(), &checked.dir, &stack, &environment);
    let state_error = |diagnostics: &mut Diagnostics, error: crate::state::StateError| {
        diagnostics.push(error.to_diagnostic());
    };
    let stored = match backend.read() {
        Ok(stored) => stored,
        Err(error) => {
            state_error(diagnostics, error);
            return None;
        }
    };
    // The key is created only when a plan file is written (it must open
    // later); without one, a throwaway key serves, since nothing is sealed
    // for keeps.
    let key = if stored.is_some() || request.out.is_some() {
        backend.key()
    } else {
        Key::load(host.as_ref(), &backend.key_path())
            .map(|key| key.unwrap_or_else(|| Key::generate(host.as_ref())))
    };
    let key = match key {
        Ok(key) => key,
        Err(error) => {
            state_error(diagnostics, error);
            return None;
        }
    };
    let prior = match stored {
        Some(_) => match backend.read_state(&key) {
            Ok(prior) => prior,
            Err(error) => {
                state_error(diagnostics, error);
                return None;
            }
        },
        None => None,
    };

    // Names relative to the stack folder, so the digest does not depend on the
    // folder the command ran from (`-C DIR` or a `cd`).
    let stack_prefix = crate::check::display_path(&checked.dir);
    let files: Vec<(String, String)> = checked
        .sources
        .iter()
        .map(|(_, file)| {
            let relative = std::path::Path::new(&file.name)
                .strip_prefix(&stack_prefix)
                .map_or_else(|_| file.name.clone(), |p| p.display().to_string());
            (relative, file.text.clone())
        })
        .collect();
    let plan_request = crate::plan::Request {
        stack,
        expanded,
        prior: prior.as_ref(),
        key: &key,
        providers: &providers,
        refresh: request.refresh,
        targets: request.targets.clone(),
        allow_destroy: false,
        parallelism: PLAN_PARALLELISM,
        config_digest: crate::plan::config_digest(&files, &request.vars),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            PLAN_PARALLELISM
                .min(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)),
        )
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            diagnostics.push(
                Diagnostic::error_at_path(Code::Internal, None)
                    .with_help(format!("could not start the async runtime: {error}")),
            );
            return None;
        }
    };
    let (plan, plan_diagnostics) = runtime.block_on(crate::plan::plan(&plan_request));
    diagnostics.extend(plan_diagnostics);
    let plan = plan?;

    if let Some(out) = &request.out
        && !diagnostics.has_errors()
    {
        match crate::plan::PlanFile::new(&plan, &key, host.as_ref()) {
            Ok(file) => {
                if let Err(error) = host.write_atomic(out, &file.to_bytes()) {
                    diagnostics.push(
                        Diagnostic::error_at_path(
                            Code::CliUnwritableFile,
                            Some(out.display().to_string()),
                        )
                        .with_help(format!("could not write the plan file: {error}")),
                    );
                }
            }
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    Some(plan)
}

/// One error per resource whose provider has no live implementation in
/// `providers`, pointed at the resource block.
fn missing_providers(expanded: &Expanded, providers: &ProviderSet) -> Diagnostics {
    use crate::diag::{Code, Diagnostic};

    let mut diagnostics = Diagnostics::new();
    let mut seen = std::collections::BTreeSet::new();
    for instance in expanded.instances.values() {
        let resource = &instance.addr.resource;
        let resource_type = resource.resource_type.as_str();
        let name = instance.provider.0.as_str();
        let live = providers
            .get(name)
            .is_some_and(|provider| provider.schema(resource_type).is_some())
            || providers.for_resource_type(resource_type).is_some();
        if live || !seen.insert(resource.clone()) {
            continue;
        }
        let help = format!(
            "provider `{name}` is not implemented in this build of infra yet; plan works \
             for null and local resources today"
        );
        diagnostics.push(
            Diagnostic::error(
                Code::PlanProviderError,
                instance.span,
                format!("`{resource}` needs provider `{name}`, which cannot plan yet"),
            )
            .with_help(help),
        );
    }
    diagnostics
}
