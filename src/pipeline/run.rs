//! The commands that talk to providers and state: `plan` here, and the
//! preparation they share — open the environment's state and key, expand the
//! configuration with the objects whose computed values are known, and
//! plan until the known objects agree with the plan.
//!
//! Terminology: a *known object* is one whose computed attributes (ids,
//! hashes) the expansion may use instead of unknowns: an object of the prior
//! state that the plan keeps (no-op or in-place update).
//!
//! Invariant: `plan` takes no lock and writes nothing but the plan file (and
//! the key, when a plan file needs one).

use super::{Checked, expand, missing_providers};
use crate::addr::{InstanceAddr, ProviderAddr, ResourceAddr};
use crate::config::Config;
use crate::diag::{Code, Diagnostic, Diagnostics, SourceMap};
use crate::expand::{Expanded, Request};
use crate::host::Host;
use crate::plan::{Action, Plan};
use crate::providers::ProviderSet;
use crate::state::{Key, State, StateError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `infra plan` asks for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// `--env`: the environment (default: the stack's `default_environment`).
    pub environment: Option<String>,
    /// `--var NAME=VALUE`.
    pub vars: Vec<(String, String)>,
    /// `--var-file FILE`, in order.
    pub var_files: Vec<PathBuf>,
    /// `--target`: when not empty, only these and what they depend on.
    pub targets: Vec<crate::addr::Target>,
    /// `--replace`: replace these instances even when nothing forces it.
    pub replace: Vec<crate::addr::Target>,
    /// `--refresh`: read every prior object from its provider first. The
    /// command line's default is true; [`PlanRequest::default`] leaves it
    /// false (no provider reads), for callers that want a plan from state.
    pub refresh: bool,
    /// `--out FILE`: also save the plan there (secrets sealed with the state key).
    pub out: Option<PathBuf>,
    /// `--allow-destroy`: deletes and replaces are allowed in a protected environment.
    pub allow_destroy: bool,
    /// `--parallelism`: how many provider calls (refresh reads, plan checks)
    /// run at once; the same bound as the apply's (default 64).
    pub parallelism: usize,
    /// `--policy`, `--policy-warn-only`, `--policy-timeout`.
    pub policy: crate::policy::Options,
}

impl Default for PlanRequest {
    fn default() -> Self {
        PlanRequest {
            environment: None,
            vars: Vec::new(),
            var_files: Vec::new(),
            targets: Vec::new(),
            replace: Vec::new(),
            refresh: false,
            out: None,
            allow_destroy: false,
            parallelism: crate::apply::Options::default().parallelism,
            policy: crate::policy::Options::default(),
        }
    }
}

/// How many times a plan is redone at most while the known objects shrink
/// (each round drops the objects the previous one replaces).
const MAX_PLAN_ROUNDS: usize = 8;

/// Plans the stack in `dir` for one environment: check → graph → read the
/// local state (no lock, nothing written; a missing state is an empty prior)
/// → expand → refresh and diff with the built-in providers. With
/// `request.out`, the plan is also saved there, sealed and authenticated with
/// the state key (created only then, when there is none yet). `None` when a
/// stage before the diff failed.
pub fn plan(
    host: Arc<dyn Host>,
    dir: &Path,
    request: PlanRequest,
) -> (Option<Plan>, SourceMap, Diagnostics) {
    // The state is read while the graph is built: neither needs the other.
    let (mut checked, opening) =
        super::check_beside(host.as_ref(), dir, &request.var_files, |config| {
            let mut diagnostics = Diagnostics::new();
            let opened = open(&host, config, dir, &request, false, &mut diagnostics);
            (opened, diagnostics)
        });
    let mut diagnostics = checked.diagnostics.clone();
    let mut result = None;
    let opened = opening.and_then(|(opened, open_diagnostics)| {
        diagnostics.extend(open_diagnostics);
        opened
    });
    let planned = match opened {
        Some(mut opened) if !diagnostics.has_errors() => plan_opened(
            &host,
            &checked,
            &mut opened,
            &request,
            PriorUse::TakeApart,
            &mut diagnostics,
        )
        .map(|planned| {
            // What is left of the state is not read again.
            drop_in_background(opened.prior.take());
            (planned, opened)
        }),
        _ => None,
    };
    // Taken, not copied, once the plan has read them (its digest): nothing
    // else reads the checked stack's copy.
    let mut sources = std::mem::take(&mut checked.sources);
    if let Some((mut planned, opened)) = planned {
        if !diagnostics.has_errors() {
            super::policy::check_plan(
                host.as_ref(),
                &checked,
                &request.policy,
                &mut planned.plan,
                &planned.expanded,
                &mut sources,
                &mut diagnostics,
            );
        }
        if let Some(out) = &request.out
            && !diagnostics.has_errors()
        {
            write_plan_file(
                host.as_ref(),
                out,
                &planned.plan,
                &opened.key,
                &mut diagnostics,
            );
        }
        result = Some(planned.plan);
        drop_in_background(planned.expanded);
    }
    drop_in_background(checked);
    diagnostics.sort();
    (result, sources, diagnostics)
}

/// An environment's state, opened.
pub(crate) struct Opened {
    /// The stack's name.
    pub stack: String,
    /// The environment's name.
    pub environment: String,
    /// The key that opens the sealed values.
    pub key: Key,
    /// The stored state, `None` when there is none yet. A plan that takes
    /// it apart (`PriorUse::TakeApart`) leaves only its addresses, outputs,
    /// lineage and serial here.
    pub prior: Option<State>,
    /// The live providers.
    pub providers: ProviderSet,
    /// The generated secrets the state holds, opened.
    pub known_secrets: BTreeMap<(crate::addr::ModulePath, String), String>,
    /// The command's one async runtime: every provider call of the command
    /// (configure, refresh, plan, apply, import) runs on it.
    pub runtime: Arc<tokio::runtime::Runtime>,
}

/// Selects the environment and opens its state and key. With `need_key`
/// (or a plan file to write, or a state to open) the key is created when
/// missing; otherwise a throwaway key serves, since nothing is sealed for
/// keeps.
pub(crate) fn open(
    host: &Arc<dyn Host>,
    config: &Config,
    dir: &Path,
    request: &PlanRequest,
    need_key: bool,
    diagnostics: &mut Diagnostics,
) -> Option<Opened> {
    let environment =
        match crate::expand::select_environment(config, request.environment.as_deref()) {
            Ok(environment) => environment.name,
            Err(diagnostic) => {
                diagnostics.push(diagnostic);
                return None;
            }
        };
    let stored = super::open_backend(host.as_ref(), config, dir, &environment, diagnostics)?;
    let backend = stored.as_ref();
    let push = |diagnostics: &mut Diagnostics, error: StateError| {
        diagnostics.push(error.to_diagnostic());
    };
    // The one way a command reads state: any journal of an interrupted
    // apply folded in memory (nothing written, no lock), and said so.
    let reading = match crate::state::Reading::open(backend) {
        Ok(reading) => reading,
        Err(error) => {
            push(diagnostics, error);
            return None;
        }
    };
    if let Some(warning) = reading.warning() {
        diagnostics.push(warning);
    }
    let key = if reading.exists() || request.out.is_some() || need_key {
        backend.key()
    } else {
        backend
            .load_key()
            .map(|key| key.unwrap_or_else(|| Key::generate(host.as_ref())))
    };
    let key = match key {
        Ok(key) => key,
        Err(error) => {
            push(diagnostics, error);
            return None;
        }
    };
    let prior = match reading.open_with(host.as_ref(), backend, &key) {
        Ok(prior) => prior,
        Err(error) => {
            push(diagnostics, error);
            return None;
        }
    };
    drop(stored);
    opened_with(host, config, dir, environment, key, prior, diagnostics)
}

/// What [`open`] gives for the environment whose state the writing command
/// holding `writing` opened under its lock (any journal folded in): the
/// state is taken from it, not read again.
pub(crate) fn opened_from_lock(
    host: &Arc<dyn Host>,
    checked: &Checked,
    environment: &str,
    writing: &mut crate::state::Writing<'_>,
    diagnostics: &mut Diagnostics,
) -> Option<Opened> {
    let key = match writing.key() {
        Ok(key) => key.clone(),
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            return None;
        }
    };
    let prior = writing.take_state();
    opened_with(
        host,
        &checked.config,
        &checked.dir,
        environment.to_owned(),
        key,
        prior,
        diagnostics,
    )
}

/// What [`open`] gives once the state of `environment` is opened (`prior`,
/// `None` when there is none, sealed with `key`): the generated secrets it
/// holds, the command's runtime and the providers.
pub(crate) fn opened_with(
    host: &Arc<dyn Host>,
    config: &Config,
    dir: &Path,
    environment: String,
    key: Key,
    prior: Option<State>,
    diagnostics: &mut Diagnostics,
) -> Option<Opened> {
    let known_secrets = match super::apply::stored_secrets(prior.as_ref(), &key) {
        Ok(secrets) => secrets,
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            return None;
        }
    };
    let runtime = Arc::new(runtime(diagnostics)?);
    let mut providers = ProviderSet::builtin(host.clone(), dir);
    // One instance per aliased root block; a provider that is not built in
    // has no instance, which the plan reports per resource.
    for (name, alias) in config.root.providers.keys() {
        if alias.is_some() {
            providers.add_configuration(&ProviderAddr::new(name.clone(), alias.clone()));
        }
    }
    Some(Opened {
        runtime,
        stack: config.stack.name.clone(),
        environment,
        key,
        prior,
        providers,
        known_secrets,
    })
}

/// What [`plan_opened`] may do with the opened state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PriorUse {
    /// Read it: the command goes on with it (an apply records its changes
    /// into it).
    Keep,
    /// Take it apart into the plan's prior objects, leaving its addresses,
    /// outputs, lineage and serial; a later round reads it again. For a
    /// command that only plans: the state and the objects opened from it
    /// are then not held whole together.
    TakeApart,
}

/// A plan and the expansion it was made from.
pub(crate) struct Planned {
    /// The plan.
    pub plan: Plan,
    /// The configuration as evaluated for it.
    pub expanded: Expanded,
}

/// Expands and plans until the known objects agree with the plan: the first
/// round takes every prior object's computed values as known; an object the
/// plan creates or replaces gets new computed values, so when something
/// depends on it, the round is redone without it. `prior_use` says whether
/// the opened state is only read or taken apart (and read again for a
/// later round).
pub(crate) fn plan_opened(
    host: &Arc<dyn Host>,
    checked: &Checked,
    opened: &mut Opened,
    request: &PlanRequest,
    prior_use: PriorUse,
    diagnostics: &mut Diagnostics,
) -> Option<Planned> {
    let runtime = opened.runtime.clone();
    let digest = config_digest(checked, &request.vars);
    // The known objects that an earlier round found the plan creates anew.
    let mut renewed_so_far: BTreeSet<InstanceAddr> = BTreeSet::new();
    let mut round = 0;
    loop {
        round += 1;
        if round > 1 && prior_use == PriorUse::TakeApart {
            opened.prior = read_again(host, checked, opened, diagnostics)?;
        }
        // Opened for each round and dropped once expanded: the plan does
        // not read them, and they were 37 MB of its peak at 100,000
        // resources. A second round (a replaced object that others read)
        // is rare, and opening them again costs less than keeping them.
        let mut known = known_from_prior(host.as_ref(), opened, diagnostics)?;
        known.retain(|addr, _| !renewed_so_far.contains(addr));
        let expand_request = Request {
            environment: request.environment.clone(),
            vars: request.vars.clone(),
            known_objects: Arc::new(known) as Arc<dyn crate::expand::KnownObjects>,
            known_secrets: opened.known_secrets.clone(),
            only: None,
        };
        let (expanded, expand_diagnostics) = expand(host.as_ref(), checked, &expand_request);
        drop(expand_request);
        let mut round_diagnostics = expand_diagnostics;
        let expanded = match expanded {
            Some(expanded) if !round_diagnostics.has_errors() => expanded,
            _ => {
                diagnostics.extend(round_diagnostics);
                return None;
            }
        };
        let missing = missing_providers(&expanded, &opened.providers);
        if !missing.is_empty() {
            diagnostics.extend(missing);
            return None;
        }
        let mut unknown = unknown_targets(
            checked,
            &expanded,
            opened.prior.as_ref(),
            &request.targets,
            "--target",
        );
        unknown.extend(unknown_targets(
            checked,
            &expanded,
            opened.prior.as_ref(),
            &request.replace,
            "--replace",
        ));
        if !unknown.is_empty() {
            diagnostics.extend(unknown);
            return None;
        }
        let refused = runtime.block_on(configure_providers(checked, &expanded, &opened.providers));
        if refused.has_errors() {
            diagnostics.extend(refused);
            return None;
        }
        // Read through the request, or handed over to be taken apart.
        let (kept, taken) = match prior_use {
            PriorUse::Keep => (opened.prior.as_ref(), None),
            PriorUse::TakeApart => (None, opened.prior.as_mut()),
        };
        let take_apart = prior_use == PriorUse::TakeApart;
        let plan_request = crate::plan::Request {
            stack: opened.stack.clone(),
            expanded: &expanded,
            prior: kept,
            key: &opened.key,
            providers: &opened.providers,
            refresh: request.refresh,
            targets: request.targets.clone(),
            replace: request.replace.clone(),
            allow_destroy: request.allow_destroy,
            parallelism: request.parallelism,
            config_digest: digest.clone(),
        };
        let (plan, plan_diagnostics) = if take_apart {
            runtime.block_on(crate::plan::plan_taking_apart(&plan_request, taken))
        } else {
            runtime.block_on(crate::plan::plan(&plan_request))
        };
        drop(plan_request);
        round_diagnostics.extend(plan_diagnostics);
        let plan = match plan {
            Some(plan) => plan,
            None => {
                diagnostics.extend(round_diagnostics);
                return None;
            }
        };
        let renewed =
            renewed_with_dependents(&plan, &expanded, opened.prior.as_ref(), &renewed_so_far);
        if renewed.is_empty() || round >= MAX_PLAN_ROUNDS {
            diagnostics.extend(round_diagnostics);
            return Some(Planned { plan, expanded });
        }
        renewed_so_far.extend(renewed);
    }
}

/// The state of `opened`'s environment read again, as [`open`] read it, for
/// a later round of a plan that took the first reading apart
/// ([`PriorUse::TakeApart`]). Its warning (a journal folded in) was given
/// with the first reading.
fn read_again(
    host: &Arc<dyn Host>,
    checked: &Checked,
    opened: &Opened,
    diagnostics: &mut Diagnostics,
) -> Option<Option<State>> {
    let stored = super::open_backend(
        host.as_ref(),
        &checked.config,
        &checked.dir,
        &opened.environment,
        diagnostics,
    )?;
    let backend = stored.as_ref();
    let read = crate::state::Reading::open(backend)
        .and_then(|reading| reading.open_with(host.as_ref(), backend, &opened.key));
    match read {
        Ok(prior) => Some(prior),
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            None
        }
    }
}

/// One error per `--target` address that matches nothing: no module or
/// resource block of the configuration, no instance it expands to, and no
/// instance of the prior state. Planning with it would silently plan nothing.
pub(crate) fn unknown_targets(
    checked: &Checked,
    expanded: &Expanded,
    prior: Option<&State>,
    targets: &[crate::addr::Target],
    flag: &str,
) -> Diagnostics {
    use crate::addr::Target;

    let mut diagnostics = Diagnostics::new();
    let in_prior = |target: &Target| {
        prior.is_some_and(|state| {
            state.resources.iter().any(|resource| {
                resource
                    .instances
                    .iter()
                    .any(|instance| target.contains(&resource.addr.instance(instance.key.clone())))
            })
        })
    };
    let in_config = |target: &Target| match target {
        Target::Module(path) => checked.config.module(path).is_some(),
        Target::Resource(resource) => checked.config.module(&resource.module).is_some_and(|m| {
            m.resources.contains_key(&(
                resource.mode,
                resource.resource_type.clone(),
                resource.name.clone(),
            ))
        }),
        Target::Instance(instance) => expanded.instances.contains_key(instance),
    };
    for target in targets {
        if in_config(target) || in_prior(target) {
            continue;
        }
        let mut known: BTreeSet<String> = expanded
            .instances
            .keys()
            .map(|addr| addr.resource.to_string())
            .chain(expanded.instances.keys().map(ToString::to_string))
            .collect();
        for module in checked.config.modules() {
            if !module.path.is_root() {
                known.insert(module.path.to_string());
            }
            for (mode, resource_type, name) in module.resources.keys() {
                let addr = ResourceAddr {
                    module: module.path.clone(),
                    mode: *mode,
                    resource_type: resource_type.clone(),
                    name: name.clone(),
                };
                known.insert(addr.to_string());
            }
        }
        if let Some(state) = prior {
            for resource in &state.resources {
                known.insert(resource.addr.to_string());
                for instance in &resource.instances {
                    known.insert(resource.addr.instance(instance.key.clone()).to_string());
                }
            }
        }
        let wanted = target.to_string();
        let mut help = match crate::diag::did_you_mean(&wanted, known.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`? "),
            None => String::new(),
        };
        help.push_str(&format!(
            "{flag} takes a resource (`local_file.conf`), an instance \
             (`local_file.conf[\"api\"]`) or a module (`module.net`) of the configuration or \
             the state; `infra graph` shows the resources"
        ));
        diagnostics.push(
            Diagnostic::error_at_path(Code::PlanUnknownTarget, Some(format!("{flag} {wanted}")))
                .with_help(help),
        );
    }
    diagnostics
}

/// Gives every live provider instance its root `provider` block's settings
/// (a default instance the block without alias, none when there is none; an
/// aliased instance its own block), before any other call. A refusal points
/// at the setting the provider names, else at the block.
pub(crate) async fn configure_providers(
    checked: &Checked,
    expanded: &Expanded,
    providers: &ProviderSet,
) -> Diagnostics {
    let mut diagnostics = Diagnostics::new();
    for (addr, provider) in providers.configurations() {
        let name = addr.to_string();
        let key = (addr.name.clone(), addr.alias.clone());
        let Some(config) = expanded.provider_configs.get(&key) else {
            continue;
        };
        if let Err(error) = provider.configure(config).await {
            let block = checked.config.root.providers.get(&key);
            let span = block.map(|block| {
                error
                    .attribute_path
                    .as_ref()
                    .and_then(|path| path.first())
                    .and_then(|setting| block.attributes.get(setting))
                    .map_or(block.span, |attribute| attribute.value.span)
            });
            let help = format!("provider `{name}` refused its settings: {}", error.message);
            diagnostics.push(
                match span {
                    Some(span) => Diagnostic::error(
                        Code::PlanProviderError,
                        span,
                        "the provider refused this",
                    ),
                    None => Diagnostic::error_at_path(Code::PlanProviderError, None),
                }
                .with_help(help),
            );
        }
    }
    diagnostics
}

/// Every prior object's computed attributes, opened: the known objects of a
/// first expansion (see the module docs).
pub(crate) fn known_from_prior(
    host: &dyn Host,
    opened: &Opened,
    diagnostics: &mut Diagnostics,
) -> Option<BTreeMap<InstanceAddr, crate::lang::Map>> {
    let Some(state) = &opened.prior else {
        return Some(BTreeMap::new());
    };
    // Only what an expansion reads, with the schemas it reads them by: the
    // plan opens the whole objects itself.
    let registry = crate::providers::Registry::for_host(host);
    match crate::plan::prior_attributes(state, &opened.key, &registry) {
        Ok(attributes) => Some(attributes),
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            None
        }
    }
}

/// The known objects (the instances of `prior`, less those `renewed_before`)
/// that the plan creates anew (replaced, or deleted outside) and that
/// something in the configuration depends on.
fn renewed_with_dependents(
    plan: &Plan,
    expanded: &Expanded,
    prior: Option<&State>,
    renewed_before: &BTreeSet<InstanceAddr>,
) -> Vec<InstanceAddr> {
    let Some(prior) = prior else {
        return Vec::new();
    };
    // Created or replaced, by resource; then kept if the prior state has them.
    let mut created: BTreeMap<&ResourceAddr, Vec<&InstanceAddr>> = BTreeMap::new();
    for change in &plan.changes {
        if matches!(change.action, Action::Create | Action::Replace { .. })
            && !renewed_before.contains(&change.addr)
        {
            created
                .entry(&change.addr.resource)
                .or_default()
                .push(&change.addr);
        }
    }
    if created.is_empty() {
        return Vec::new();
    }
    let renewed: Vec<&InstanceAddr> = prior
        .resources
        .iter()
        .filter_map(|resource| Some((resource, created.get(&resource.addr)?)))
        .flat_map(|(resource, addrs)| {
            let keys: BTreeSet<_> = resource.instances.iter().map(|i| &i.key).collect();
            addrs
                .iter()
                .copied()
                .filter(move |addr| keys.contains(&addr.key))
        })
        .collect();
    if renewed.is_empty() {
        return Vec::new();
    }
    let depended_on: BTreeSet<&ResourceAddr> = expanded
        .instances
        .values()
        .flat_map(|instance| instance.dependencies.iter())
        .collect();
    renewed
        .into_iter()
        .filter(|addr| depended_on.contains(&addr.resource))
        .cloned()
        .collect()
}

/// The digest of the configuration text and variables, with file names
/// relative to the stack folder, so it does not depend on the folder the
/// command ran from (`-C DIR` or a `cd`).
pub(crate) fn config_digest(checked: &Checked, vars: &[(String, String)]) -> String {
    let stack_prefix = crate::check::display_path(&checked.dir);
    let files: Vec<(String, String)> = checked
        .sources
        .iter()
        .map(|(_, file)| {
            let relative = Path::new(&file.name)
                .strip_prefix(&stack_prefix)
                .map_or_else(|_| file.name.clone(), |p| p.display().to_string());
            (relative, file.text.clone())
        })
        .collect();
    // The environment's INFRA_VAR_ values count, below the command line's.
    let variables: Vec<(String, String)> = checked.var_env.iter().chain(vars).cloned().collect();
    crate::plan::config_digest(&files, &variables)
}

/// A multi-threaded tokio runtime for provider calls: made once per command,
/// by [`open`], and found in [`Opened::runtime`].
fn runtime(diagnostics: &mut Diagnostics) -> Option<tokio::runtime::Runtime> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8);
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            diagnostics.push(
                Diagnostic::error_at_path(Code::Internal, None)
                    .with_help(format!("could not start the async runtime: {error}")),
            );
            None
        }
    }
}

/// Seals and writes a plan file.
fn write_plan_file(
    host: &dyn Host,
    out: &Path,
    plan: &Plan,
    key: &Key,
    diagnostics: &mut Diagnostics,
) {
    match crate::plan::PlanFile::new(plan, key, host) {
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

/// Frees a large value on another thread, so a command does not wait for
/// the allocator on its way out (dropping a 100k-instance expansion takes a
/// noticeable part of a plan).
pub(crate) fn drop_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("infra-drop".into())
        .spawn(move || drop(value));
    // No thread: drop it here.
    if let Err(error) = spawned {
        drop(error);
    }
}
