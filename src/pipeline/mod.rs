//! The stages run in order for one command: load → check → graph → expand.
//! Each command's library entry point lives here, so a `cli` command builds a
//! request, calls one function and renders what comes back.
//!
//! Invariant: no printing; the machine only through `host`. Later stages run
//! only when the earlier ones found no errors, so one mistake is reported once.
//! Invariant: state is opened only through `state::Reading` (reading
//! commands, via `run::open`) and `state::Writing` (writing commands), never
//! by a backend type; a command's provider calls run on the one runtime in
//! `run::Opened`.

mod apply;
mod drift;
pub mod envdiff;
mod import;
mod policy;
mod resume;
mod run;
pub mod state_url;
#[cfg(test)]
mod tests;

pub use apply::{ApplyRequest, ApplyUi, Mode, Outcome, apply, secret_key};
pub use drift::{
    DRIFT_LOCK_TIMEOUT, DriftReport, DriftRequest, DriftUi, RefreshOutcome, drift, refresh_state,
};
pub use import::{ImportRequest, Imported, import};
pub use policy::policy_test;
pub use run::{PlanRequest, plan};

use crate::addr::ProviderAddr;
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
    /// The `INFRA_VAR_<name>` environment variables set for declared root
    /// variables, by environment variable name: they are part of the
    /// configuration a saved plan is checked against.
    pub var_env: Vec<(String, String)>,
}

/// Loads and checks the stack in `dir` and builds its graph.
pub fn check(host: &dyn Host, dir: &Path) -> Checked {
    check_with(host, dir, &[])
}

/// [`check()`] with the `--var-file` files `var_files` read after the stack's
/// own variable files (`*.auto.vars`, `environments/ENV.vars`).
pub fn check_with(host: &dyn Host, dir: &Path, var_files: &[std::path::PathBuf]) -> Checked {
    check_then(host, dir, var_files, None::<fn(&Config)>).0
}

/// [`check_with()`], and `beside` run on a thread of its own while the
/// graph is built, once checking found no error: the commands that read the
/// state read it there, since neither needs the other. `None` when `beside`
/// did not run, or when building the graph found an error: what `beside`
/// made (and reported) is dropped then, though what it wrote stays (the
/// only such write is the key `plan --out` creates when there is none).
pub(crate) fn check_beside<R: Send>(
    host: &dyn Host,
    dir: &Path,
    var_files: &[std::path::PathBuf],
    beside: impl FnOnce(&Config) -> R + Send,
) -> (Checked, Option<R>) {
    check_then(host, dir, var_files, Some(beside))
}

fn check_then<R: Send>(
    host: &dyn Host,
    dir: &Path,
    var_files: &[std::path::PathBuf],
    beside: Option<impl FnOnce(&Config) -> R + Send>,
) -> (Checked, Option<R>) {
    let (mut stack, mut diagnostics): (Stack, Diagnostics) = check::load_with(host, dir, var_files);
    // Checking uses the syntax trees up (their expressions move into the
    // model), so they add nothing to the peak past this point.
    let (config, check_diagnostics) = check::check(host, &mut stack);
    diagnostics.extend(check_diagnostics);
    let (graph, beside) = if diagnostics.has_errors() {
        (Graph::default(), None)
    } else {
        let ((graph, graph_diagnostics), beside) = match beside {
            Some(beside) => std::thread::scope(|scope| {
                let side = scope.spawn(|| beside(&config));
                let built = graph::build(&config);
                let made = side
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (built, Some(made))
            }),
            None => (graph::build(&config), None),
        };
        let beside = beside.filter(|_| !graph_diagnostics.has_errors());
        diagnostics.extend(graph_diagnostics);
        (graph, beside)
    };
    diagnostics.sort();
    let var_env = config
        .root
        .variables
        .keys()
        .filter_map(|name| {
            let env_name = format!("{}{name}", crate::expand::VAR_ENV_PREFIX);
            host.env_var(&env_name).map(|value| (env_name, value))
        })
        .collect();
    let checked = Checked {
        sources: stack.sources,
        config,
        graph,
        diagnostics,
        dir: dir.to_path_buf(),
        var_env,
    };
    (checked, beside)
}

/// Checks the stack in `dir`, then, when checking found no error, runs the
/// command on it; the command's result, the sources (for rendering) and
/// every diagnostic, sorted. For the commands that need a clean check first.
pub(crate) fn checked_run<T>(
    host: std::sync::Arc<dyn Host>,
    dir: &Path,
    var_files: &[std::path::PathBuf],
    run: impl FnOnce(&std::sync::Arc<dyn Host>, &Checked, &mut Diagnostics) -> Option<T>,
) -> (Option<T>, SourceMap, Diagnostics) {
    let checked = check_with(host.as_ref(), dir, var_files);
    let mut diagnostics = checked.diagnostics.clone();
    let result = if diagnostics.has_errors() {
        None
    } else {
        run(&host, &checked, &mut diagnostics)
    };
    diagnostics.sort();
    (result, checked.sources, diagnostics)
}

/// Expands a checked stack for one environment (`request.environment`, or the
/// default). `None` when checking had failed.
pub fn expand(
    host: &dyn Host,
    checked: &Checked,
    request: &Request,
) -> (Option<Expanded>, Diagnostics) {
    expand_with(host, checked, request, &Registry::for_host(host))
}

/// [`expand()`] with the provider schemas given (made once by a caller that
/// expands many times, as the apply's resolver does).
pub fn expand_with(
    host: &dyn Host,
    checked: &Checked,
    request: &Request,
    registry: &Registry,
) -> (Option<Expanded>, Diagnostics) {
    if checked.diagnostics.has_errors() {
        return (None, Diagnostics::new());
    }
    let (expanded, mut diagnostics) = expand::expand(
        &checked.config,
        &checked.graph,
        request,
        host,
        &checked.dir,
        registry,
    );
    diagnostics.sort();
    (expanded, diagnostics)
}

/// The state backend of the stack `config` in `dir` (`stack { state = … }`)
/// for `environment`; a backend this build lacks is reported in
/// `diagnostics`.
pub(crate) fn open_backend<'h>(
    host: &'h dyn Host,
    config: &'h Config,
    dir: &'h Path,
    environment: &'h str,
    diagnostics: &mut Diagnostics,
) -> Option<Box<dyn crate::state::Backend + 'h>> {
    match state_url::backend_kind(host, &config.stack) {
        Ok(kind) => Some(kind.open(host, dir, &config.stack.name, environment)),
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            None
        }
    }
}

/// [`open_backend`] of the checked stack `checked`.
pub(crate) fn checked_backend<'h>(
    host: &'h dyn Host,
    checked: &'h Checked,
    environment: &'h str,
    diagnostics: &mut Diagnostics,
) -> Option<Box<dyn crate::state::Backend + 'h>> {
    open_backend(
        host,
        &checked.config,
        &checked.dir,
        environment,
        diagnostics,
    )
}

/// The state history's retention setting of `checked`'s stack
/// (`stack { history = { keep = N } }`); `None` keeps every version.
pub(crate) fn retention(checked: &Checked) -> Option<crate::state::Retention> {
    checked
        .config
        .stack
        .history
        .map(|history| crate::state::Retention { keep: history.keep })
}

/// The warning for a prune that failed after the command's version was
/// written: nothing is lost, and the next write prunes again.
pub(crate) fn prune_warning(error: &crate::state::StateError) -> crate::diag::Diagnostic {
    let mut diagnostic = error.to_diagnostic().warning();
    let help = diagnostic.help.take().unwrap_or_default();
    diagnostic.help = Some(format!(
        "{help}; the state was written, and the history is whole (the oldest versions were \
         removed, or none were): the next command that writes prunes it again"
    ));
    diagnostic
}

/// What `infra validate` asks for.
#[derive(Debug, Clone, Default)]
pub struct ValidateRequest {
    /// `--env`: check only this environment. Without it, every environment is
    /// checked (a stack without environments is checked once).
    pub environment: Option<String>,
    /// `--var NAME=VALUE`.
    pub vars: Vec<(String, String)>,
    /// `--var-file FILE`, in order.
    pub var_files: Vec<std::path::PathBuf>,
    /// `--policy DIR`: these folders' policies are parsed too (as are the
    /// stack's `policies`).
    pub policy: crate::policy::Options,
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
    let checked = check_with(host, dir, &request.var_files);
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
    let mut sources = checked.sources;
    if !diagnostics.has_errors() {
        diagnostics.extend(policy::check_syntax(
            host,
            &checked.config,
            dir,
            &request.policy,
            &mut sources,
        ));
    }
    // Freeing the model and the graph is a tenth of a validate's time at
    // 100,000 resources, and nothing reads them again: a thread of its own
    // frees them while the diagnostics are rendered (or the process ends).
    run::drop_in_background((checked.config, checked.graph));
    diagnostics.sort();
    Validated {
        sources,
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
            ..Default::default()
        };
        // Only the problems are wanted: no instances are made.
        let registry = Registry::for_host(host);
        let (environment, mut diagnostics) = expand::validate(
            &checked.config,
            &checked.graph,
            &expand_request,
            host,
            &checked.dir,
            &registry,
        );
        diagnostics.sort();
        (environment.map(|e| e.name), diagnostics)
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
        let configured = ProviderAddr::from_key(&instance.provider);
        let live = providers.lookup(resource_type, &configured).is_some();
        if live || !seen.insert(resource.clone()) {
            continue;
        }
        if configured.alias.is_some()
            && providers
                .lookup(resource_type, &ProviderAddr::named(name))
                .is_some()
        {
            // The provider is built in but this configuration has no
            // instance. `check` reports a `provider = NAME.ALIAS` without
            // its root block first, so this is a safety net: never plan it
            // through the default configuration instead.
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckUnknownProvider,
                    instance.span,
                    format!("`{resource}` needs provider configuration `{configured}`"),
                )
                .with_help(format!(
                    "declare it in the root module: `provider \"{name}\" {{ alias = \"{}\" ... }}`",
                    configured.alias.as_deref().unwrap_or_default()
                )),
            );
            continue;
        }
        // The list comes from the live set, so it cannot go stale.
        let live_names: Vec<&str> = providers.names().collect();
        let help = format!(
            "provider `{name}` is not implemented in this build of infra yet; the providers \
             that can plan are: {}",
            live_names.join(", ")
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
