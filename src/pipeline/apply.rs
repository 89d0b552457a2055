//! `apply`, `destroy` and `rollback`: lock the environment's state (which
//! folds an interrupted apply's journal first, see [`crate::state::Writing`]), plan (or load a saved plan), refuse
//! a protected environment's deletes and replaces without `--allow-destroy`, ask,
//! create the generated secrets, run the engine, write the new state version
//! and its audit record, release the lock.
//!
//! Terminology: a *rollback target* is an earlier version of the state from
//! the history; rolling back plans the way from the current objects to the
//! configurations recorded in that version.
//!
//! Invariant: no printing; everything the user sees goes through
//! [`ApplyUi`]. Every success the engine reports is written to state before
//! the lock is released; a failure to write leaves the journal in place for
//! the next command to recover.

use super::run::{
    Opened, PlanRequest, Planned, PriorUse, config_digest, opened_from_lock, plan_opened,
};
use super::{Checked, expand};
use crate::addr::{InstanceAddr, ModulePath};
use crate::apply::{self, Event, Options, Outcome as ActionOutcome, Report, Resolved, Resolver};
use crate::config::SecretSource;
use crate::diag::{Code, Diagnostic, Diagnostics, SourceMap};
use crate::expand::{Expanded, Request};
use crate::host::Host;
use crate::lang::Value;
use crate::plan::{Plan, PlanFile};
use crate::providers::ObjectState;
use crate::state::audit::{ActionOutcome as AuditOutcome, AuditAction, AuditPhase, AuditRecord};
use crate::state::{Backend, Key, KeyUse, LockInfo, PrunedVersions, State, StateError, Writing};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Make the configuration real (`infra apply`).
    Apply {
        /// A saved plan to apply exactly, instead of planning now.
        plan_file: Option<PathBuf>,
    },
    /// Delete everything the state holds (`infra destroy`).
    Destroy,
    /// Go back to an earlier version (`infra rollback`); `None` is the
    /// version before the last apply.
    Rollback {
        /// The serial to go back to.
        to: Option<u64>,
    },
}

impl Mode {
    fn command(&self) -> &'static str {
        match self {
            Mode::Apply { .. } => "apply",
            Mode::Destroy => "destroy",
            Mode::Rollback { .. } => "rollback",
        }
    }
}

/// What `infra apply`, `destroy` and `rollback` ask for.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// The environment, variables, targets and refresh, as for a plan.
    pub plan: PlanRequest,
    /// Apply, destroy or roll back.
    pub mode: Mode,
    /// Parallelism and retries.
    pub options: Options,
    /// How long to wait for another command's lock (0: fail at once).
    pub lock_timeout: Duration,
}

/// How the command talks to the user while it runs.
pub trait ApplyUi {
    /// A line of information (a recovered journal, a new key).
    fn note(&mut self, text: &str);
    /// Another command holds the lock; called while waiting.
    fn waiting_for_lock(&mut self, holder: Option<&LockInfo>);
    /// Shows the plan and says whether to go on.
    fn confirm(&mut self, plan: &Plan, sources: &SourceMap) -> Result<bool, Diagnostic>;
    /// Progress of the engine.
    fn event(&mut self, event: &Event);
    /// Whether the user asked to stop (a first Ctrl-C, SIGTERM or SIGHUP);
    /// polled before and while the engine runs.
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// How the command ended.
#[derive(Debug)]
pub enum Outcome {
    /// The plan changed nothing.
    NoChanges(Box<Plan>),
    /// The plan deletes or replaces objects in a protected environment
    /// without `--allow-destroy`: nothing was done; the plan is shown with
    /// the refusal (one error that lists them).
    Refused(Box<Plan>),
    /// The user said no.
    Declined,
    /// The engine ran: what it did, and the serial of the state it wrote.
    Applied {
        /// The engine's report.
        report: Box<Report>,
        /// What succeeded, counted as the plan counted it (imports, adds,
        /// changes, destroys).
        done: crate::plan::Summary,
        /// The skipped instances whose block uses the failed instance's
        /// resource without naming a key (any instance of it), so it waited
        /// on the failed one; the others named it by key, or wait through
        /// another skipped instance.
        any_instance: std::collections::BTreeSet<InstanceAddr>,
        /// The new state version.
        serial: Option<u64>,
        /// The history versions the retention setting pruned after it.
        pruned: Option<PrunedVersions>,
        /// The outputs written, opened (secrets still marked), with whether
        /// each is declared sensitive; empty when none were written.
        outputs: Vec<(String, crate::lang::Value, bool)>,
    },
}

/// Runs `apply`, `destroy` or `rollback` for the stack in `dir`.
pub fn apply(
    host: Arc<dyn Host>,
    dir: &Path,
    request: ApplyRequest,
    ui: &mut dyn ApplyUi,
) -> (Option<Outcome>, SourceMap, Diagnostics) {
    let checked = Arc::new(super::check_with(
        host.as_ref(),
        dir,
        &request.plan.var_files,
    ));
    let mut diagnostics = checked.diagnostics.clone();
    let mut sources = checked.sources.clone();
    let outcome = if diagnostics.has_errors() {
        None
    } else {
        run(
            &host,
            &checked,
            &request,
            ui,
            &mut sources,
            &mut diagnostics,
        )
    };
    diagnostics.sort();
    (outcome, sources, diagnostics)
}

fn run(
    host: &Arc<dyn Host>,
    checked: &Arc<Checked>,
    request: &ApplyRequest,
    ui: &mut dyn ApplyUi,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
) -> Option<Outcome> {
    let environment = match crate::expand::select_environment(
        &checked.config,
        request.plan.environment.as_deref(),
    ) {
        Ok(environment) => environment.name,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    };
    let fail = |diagnostics: &mut Diagnostics, error: StateError| {
        diagnostics.push(error.to_diagnostic());
    };
    let backend = super::checked_backend(host.as_ref(), checked, &environment, diagnostics)?;
    let writing = Writing::open(
        host.as_ref(),
        backend.as_ref(),
        request.mode.command(),
        request.lock_timeout,
        &mut |holder| ui.waiting_for_lock(holder),
        KeyUse::Create,
    );
    let mut writing = match writing {
        Ok(writing) => writing.with_retention(super::retention(checked)),
        Err(error) => {
            fail(diagnostics, error);
            return None;
        }
    };
    for note in writing.notes() {
        ui.note(note);
    }
    let key = match writing.key() {
        Ok(key) => key.clone(),
        Err(error) => {
            fail(diagnostics, error);
            return None;
        }
    };
    let mut opened = opened_from_lock(host, checked, &environment, &mut writing, diagnostics)?;
    // Calls an interrupted apply left pending are settled before planning,
    // and recorded as a version of their own.
    let settled =
        super::resume::resume_pending(host, checked, &opened, &request.plan, diagnostics)?;
    // A saved plan made before the resume stays fresh when the resume
    // changed no object (it only cleared started records): it was made
    // from the same objects.
    let mut fresh_as = None;
    if let (Some(settled), Some(prior), Mode::Apply { plan_file: Some(_) }) =
        (&settled, &opened.prior, &request.mode)
        && settled.state.resources == prior.resources
    {
        fresh_as = Some(prior.serial);
    }
    if let Some(settled) = settled {
        let mut state = settled.state;
        let count = settled.actions.len();
        let summary = format!(
            "resumed {count} interrupted call{}",
            if count == 1 { "" } else { "s" }
        );
        let serial = match writing.write(&mut state, &summary) {
            Ok(serial) => serial,
            Err(error) => {
                fail(diagnostics, error);
                return None;
            }
        };
        let mut audit = AuditRecord::start(host.as_ref(), "resume", &environment);
        audit.serial = Some(serial);
        audit.actions = settled.actions;
        audit.finish(host.as_ref());
        if let Err(error) = writing.backend().append_audit(&audit) {
            fail(diagnostics, error);
            return None;
        }
        for note in &settled.notes {
            ui.note(note);
        }
        opened.prior = Some(state);
    }
    let planned = match &request.mode {
        Mode::Apply { plan_file: None } => plan_opened(
            host,
            checked,
            &mut opened,
            &request.plan,
            PriorUse::Keep,
            diagnostics,
        )?,
        Mode::Apply {
            plan_file: Some(path),
        } => saved_plan(
            host,
            checked,
            &opened,
            &request.plan,
            path,
            fresh_as,
            diagnostics,
        )?,
        Mode::Destroy => destroy_plan(host, checked, &opened, &request.plan, diagnostics)?,
        Mode::Rollback { to } => rollback_plan(
            host,
            writing.backend(),
            checked,
            &opened,
            &request.plan,
            *to,
            diagnostics,
        )?,
    };
    if diagnostics.has_errors() {
        return None;
    }
    let Planned { mut plan, expanded } = planned;
    // Policies see the plan before anything changes; a denial (or a policy
    // that cannot be evaluated) refuses it here, lock released, nothing done.
    super::policy::check_plan(
        host.as_ref(),
        checked,
        &request.plan.policy,
        &mut plan,
        &expanded,
        sources,
        diagnostics,
    );
    if diagnostics.has_errors() {
        drop(writing);
        return None;
    }
    if plan
        .policy
        .as_ref()
        .is_some_and(crate::plan::PolicyResults::blocks)
    {
        diagnostics.push(policy_refusal(&plan));
        drop(writing);
        return Some(Outcome::Refused(Box::new(plan)));
    }
    if !request.plan.allow_destroy && !plan.impact.refused.is_empty() {
        diagnostics.push(protected_refusal(&plan));
        drop(writing);
        return Some(Outcome::Refused(Box::new(plan)));
    }
    if !plan.has_changes() {
        drop(writing);
        return Some(Outcome::NoChanges(Box::new(plan)));
    }
    match ui.confirm(&plan, sources) {
        Ok(true) => {}
        Ok(false) => return Some(Outcome::Declined),
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    }

    let mut audit = AuditRecord::start(host.as_ref(), request.mode.command(), &environment);
    audit.plan_digest = Some(plan.config_digest.clone());
    // The engine starts from the prior state itself: nothing reads it here
    // any more (a copy at 100,000 instances is a second state in memory).
    let state = opened
        .prior
        .take()
        .unwrap_or_else(|| State::new(host.as_ref()));
    let (known_secrets, generated) = match generate_secrets(host.as_ref(), &expanded, &opened, &key)
    {
        Ok(secrets) => secrets,
        Err(error) => {
            fail(diagnostics, error);
            return None;
        }
    };
    let resolver: Arc<dyn Resolver> = Arc::new(ExpandResolver {
        host: host.clone(),
        checked: checked.clone(),
        environment: request.plan.environment.clone(),
        vars: request.plan.vars.clone(),
        known_secrets,
        destroy: matches!(request.mode, Mode::Destroy),
        rollback: matches!(request.mode, Mode::Rollback { .. }).then(|| expanded.clone()),
        registry: crate::providers::Registry::for_host(host.as_ref()),
    });
    let mut journal = match writing.journal(&state) {
        Ok(journal) => journal,
        Err(error) => {
            fail(diagnostics, error);
            return None;
        }
    };
    let mut report = opened.runtime.block_on(run_engine(
        apply::Request {
            plan: &plan,
            expanded: &expanded,
            providers: &opened.providers,
            key: &key,
            host: host.as_ref(),
            options: request.options.clone(),
            resolver,
            generated_secrets: generated,
            events: None,
            cancel: tokio::sync::watch::channel(false).1,
        },
        state,
        &mut journal,
        ui,
    ));
    diagnostics.extend(report.all_diagnostics());
    let summary = summary_line(&request.mode, &report);
    drop(journal);
    // Written from the report, not from a copy (at 100,000 instances a copy
    // is a second state in memory); the report then holds the new version.
    let serial = match writing.write(&mut report.state, &summary) {
        Ok(serial) => Some(serial),
        Err(error) => {
            fail(diagnostics, error);
            None
        }
    };
    audit.serial = serial;
    audit.actions = audit_actions(&report);
    let finished = writing.finish(Some(audit));
    if let Some(error) = &finished.prune_failed {
        diagnostics.push(super::prune_warning(error));
    }
    for error in finished.problems {
        fail(diagnostics, error);
    }
    let succeeded: std::collections::BTreeSet<&InstanceAddr> = report
        .results
        .iter()
        .filter(|result| matches!(result.outcome, ActionOutcome::Succeeded))
        .map(|result| &result.addr)
        .collect();
    let done = crate::plan::Summary::of(
        plan.changes
            .iter()
            .filter(|change| succeeded.contains(&change.addr)),
    );
    let any_instance = waits_on_any_instance(&report, &expanded);
    let outputs = if report.outputs_written {
        report
            .state
            .outputs
            .iter()
            .filter_map(|(name, output)| {
                let value = key.open(&output.value, None).ok()?;
                Some((name.clone(), value, output.sensitive))
            })
            .collect()
    } else {
        Vec::new()
    };
    Some(Outcome::Applied {
        report: Box::new(report),
        done,
        any_instance,
        serial,
        pruned: finished.pruned,
        outputs,
    })
}

/// The state's key for a generated secret: `secret.NAME`, or
/// `module.a.secret.NAME` inside a module.
pub fn secret_key(module: &ModulePath, name: &str) -> String {
    if module.is_root() {
        format!("secret.{name}")
    } else {
        format!("{module}.secret.{name}")
    }
}

/// The generated secrets already in state, by module and name (plaintext, in
/// memory only).
pub(crate) fn stored_secrets(
    state: Option<&State>,
    key: &Key,
) -> Result<BTreeMap<(ModulePath, String), String>, StateError> {
    let mut known = BTreeMap::new();
    let Some(state) = state else {
        return Ok(known);
    };
    for (stored, sealed) in &state.secrets {
        let Some((module, name)) = parse_secret_key(stored) else {
            continue;
        };
        let value = key.open(sealed, None)?;
        if let Some(text) = value.unmark_deep().0.as_str() {
            known.insert((module, name), text.to_owned());
        }
    }
    Ok(known)
}

/// The module and name in a key written by [`secret_key`].
fn parse_secret_key(key: &str) -> Option<(ModulePath, String)> {
    let (modules, name) = match key.strip_prefix("secret.") {
        Some(name) => ("", name),
        None => key.rsplit_once(".secret.")?,
    };
    Some((modules.parse::<ModulePath>().ok()?, name.to_owned()))
}

/// Creates the generated secrets the state does not have yet. Returns every
/// generated secret's value for the expansions of this apply, and the new
/// ones keyed for the state (the engine records them, sealed, before
/// anything uses them).
#[allow(clippy::type_complexity)]
fn generate_secrets(
    host: &dyn Host,
    expanded: &Expanded,
    opened: &Opened,
    key: &Key,
) -> Result<
    (
        BTreeMap<(ModulePath, String), String>,
        BTreeMap<String, Value>,
    ),
    StateError,
> {
    let mut known = opened.known_secrets.clone();
    let _ = key;
    let mut generated = BTreeMap::new();
    for ((module, name), secret) in &expanded.secrets {
        let SecretSource::Generate { length, special } = secret.source else {
            continue;
        };
        if known.contains_key(&(module.clone(), name.clone())) {
            continue;
        }
        let value = random_secret(host, length, special);
        generated.insert(
            secret_key(module, name),
            Value::string(value.clone()).mark_secret_if(true),
        );
        known.insert((module.clone(), name.clone()), value);
    }
    Ok((known, generated))
}

/// A random string of `length` characters from the host's randomness:
/// letters and digits, and punctuation when `special`.
fn random_secret(host: &dyn Host, length: u32, special: bool) -> String {
    const PLAIN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const PUNCTUATION: &[u8] = b"!#%&*+-=?@^_~";
    let alphabet: Vec<u8> = if special {
        PLAIN.iter().chain(PUNCTUATION).copied().collect()
    } else {
        PLAIN.to_vec()
    };
    let count = u32::try_from(alphabet.len()).unwrap_or(1);
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % count);
    let mut out = String::with_capacity(length as usize);
    let mut buffer = [0u8; 64];
    while out.len() < length as usize {
        host.random_bytes(&mut buffer);
        for &byte in &buffer {
            if out.len() >= length as usize {
                break;
            }
            if u32::from(byte) < limit
                && let Some(&c) = alphabet.get((u32::from(byte) % count) as usize)
            {
                out.push(char::from(c));
            }
        }
    }
    out
}

/// Re-evaluates the configuration with the objects applied so far.
struct ExpandResolver {
    host: Arc<dyn Host>,
    checked: Arc<Checked>,
    environment: Option<String>,
    vars: Vec<(String, String)>,
    known_secrets: BTreeMap<(ModulePath, String), String>,
    /// A destroy keeps nothing: no instances, no outputs.
    destroy: bool,
    /// A rollback's configuration comes from the state history, not the source.
    rollback: Option<Expanded>,
    /// The provider schemas, made once for every resolve.
    registry: crate::providers::Registry,
}

impl Resolver for ExpandResolver {
    fn resolve(
        &self,
        applied: &Arc<BTreeMap<InstanceAddr, ObjectState>>,
        wanted: &std::collections::BTreeSet<InstanceAddr>,
    ) -> Result<Resolved, Diagnostics> {
        if self.destroy {
            return Ok(Resolved {
                instances: BTreeMap::new(),
                outputs: BTreeMap::new(),
            });
        }
        if let Some(expanded) = &self.rollback {
            return Ok(Resolved {
                instances: expanded
                    .instances
                    .iter()
                    .map(|(addr, instance)| (addr.clone(), instance.configured()))
                    .collect(),
                outputs: expanded
                    .outputs
                    .iter()
                    .map(|(name, output)| (name.clone(), (output.value.clone(), output.sensitive)))
                    .collect(),
            });
        }
        // The objects are shared, not copied, and only what the wanted
        // instances (or, at the end, the outputs) depend on is evaluated.
        let request = Request {
            environment: self.environment.clone(),
            vars: self.vars.clone(),
            known_secrets: self.known_secrets.clone(),
            known_objects: Arc::clone(applied) as Arc<dyn crate::expand::KnownObjects>,
            only: Some(Arc::new(crate::expand::Only {
                resources: wanted.iter().map(|addr| addr.resource.clone()).collect(),
                outputs: wanted.is_empty(),
            })),
        };
        let (expanded, diagnostics) =
            super::expand_with(self.host.as_ref(), &self.checked, &request, &self.registry);
        match expanded {
            Some(expanded) if !diagnostics.has_errors() => Ok(Resolved {
                instances: expanded
                    .instances
                    .into_iter()
                    .map(|(addr, instance)| (addr, instance.into_configured()))
                    .collect(),
                outputs: expanded
                    .outputs
                    .into_iter()
                    .map(|(name, output)| (name, (output.value, output.sensitive)))
                    .collect(),
            }),
            _ => Err(diagnostics),
        }
    }
}

/// Runs the engine, passing its events to the UI and a stop request on.
async fn run_engine(
    mut request: apply::Request<'_>,
    state: State,
    journal: &mut dyn apply::Recorder,
    ui: &mut dyn ApplyUi,
) -> Report {
    let (events, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    // A stop asked for before the engine starts (a signal while planning)
    // starts nothing.
    let (stop, cancel) = tokio::sync::watch::channel(ui.stop_requested());
    request.events = Some(events);
    request.cancel = cancel;
    let engine = apply::apply(request, state, journal);
    tokio::pin!(engine);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            report = &mut engine => {
                while let Ok(event) = receiver.try_recv() {
                    ui.event(&event);
                }
                return report;
            }
            Some(event) = receiver.recv() => ui.event(&event),
            _ = tick.tick() => {
                if ui.stop_requested() {
                    let _ = stop.send(true);
                }
            }
        }
    }
}

/// Loads a saved plan and checks that it still applies.
fn saved_plan(
    host: &Arc<dyn Host>,
    checked: &Checked,
    opened: &Opened,
    request: &PlanRequest,
    path: &Path,
    fresh_as: Option<u64>,
    diagnostics: &mut Diagnostics,
) -> Option<Planned> {
    let bytes = match host.read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            diagnostics.push(
                Diagnostic::error_at_path(
                    Code::CliUnreadableFile,
                    Some(path.display().to_string()),
                )
                .with_help(format!("could not read the plan file: {error}")),
            );
            return None;
        }
    };
    let file = match PlanFile::parse(&bytes, &opened.key) {
        Ok(file) => file,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    };
    // `fresh_as`: the serial before a resume that changed no object.
    let current = opened
        .prior
        .as_ref()
        .map(|state| (state.lineage.as_str(), fresh_as.unwrap_or(state.serial)));
    let digest = config_digest(checked, &file_vars(&file, request));
    if let Err(diagnostic) = file.check_fresh(current, &digest, &opened.stack, &opened.environment)
    {
        diagnostics.push(diagnostic);
        return None;
    }
    let plan = match file.to_plan(&opened.key) {
        Ok(plan) => plan,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    };
    // The expansion gives the dependencies and what the unknowns resolve from.
    let expanded = expand_with_prior(
        host,
        checked,
        opened,
        &file_vars(&file, request),
        diagnostics,
    )?;
    Some(Planned { plan, expanded })
}

/// The variables to check a saved plan against: the command line's, which
/// must be the ones the plan was made with (the digest covers them).
fn file_vars(_file: &PlanFile, request: &PlanRequest) -> Vec<(String, String)> {
    request.vars.clone()
}

/// One expansion with every prior object known, and the providers configured
/// from it: for the commands that call providers without the plan's rounds
/// (`destroy`, a saved plan, `drift`, `refresh`, `rollback`).
pub(crate) fn expand_with_prior(
    host: &Arc<dyn Host>,
    checked: &Checked,
    opened: &Opened,
    vars: &[(String, String)],
    diagnostics: &mut Diagnostics,
) -> Option<Expanded> {
    let known = super::run::known_from_prior(host.as_ref(), opened, diagnostics)?;
    let request = Request {
        environment: Some(opened.environment.clone())
            .filter(|_| !checked.config.environments.is_empty()),
        vars: vars.to_vec(),
        known_objects: Arc::new(known),
        known_secrets: opened.known_secrets.clone(),
        only: None,
    };
    let (expanded, expand_diagnostics) = expand(host.as_ref(), checked, &request);
    let failed = expand_diagnostics.has_errors();
    diagnostics.extend(expand_diagnostics);
    let expanded = expanded.filter(|_| !failed)?;
    let refused = opened.runtime.block_on(super::run::configure_providers(
        checked,
        &expanded,
        &opened.providers,
    ));
    let failed = refused.has_errors();
    diagnostics.extend(refused);
    (!failed).then_some(expanded)
}

/// The plan that deletes everything in state: the configuration's
/// dependencies, with no instances and no outputs.
fn destroy_plan(
    host: &Arc<dyn Host>,
    checked: &Checked,
    opened: &Opened,
    request: &PlanRequest,
    diagnostics: &mut Diagnostics,
) -> Option<Planned> {
    let mut expanded = expand_with_prior(host, checked, opened, &request.vars, diagnostics)?;
    expanded.instances.clear();
    expanded.outputs.clear();
    let mut plan = plan_with(checked, opened, request, &expanded, diagnostics)?;
    // Every delete is there because the user asked for it, not because the
    // configuration lost the instance.
    for change in &mut plan.changes {
        if change.reason == Some(crate::plan::Reason::NoLongerInConfiguration) {
            change.reason = Some(crate::plan::Reason::DestroyRequested);
        }
    }
    Some(Planned { plan, expanded })
}

/// Plans once against `expanded`.
fn plan_with(
    checked: &Checked,
    opened: &Opened,
    request: &PlanRequest,
    expanded: &Expanded,
    diagnostics: &mut Diagnostics,
) -> Option<Plan> {
    let prior = opened.prior.as_ref();
    let mut unknown =
        super::run::unknown_targets(checked, expanded, prior, &request.targets, "--target");
    unknown.extend(super::run::unknown_targets(
        checked,
        expanded,
        prior,
        &request.replace,
        "--replace",
    ));
    if !unknown.is_empty() {
        diagnostics.extend(unknown);
        return None;
    }
    let plan_request = crate::plan::Request {
        stack: opened.stack.clone(),
        expanded,
        prior: opened.prior.as_ref(),
        key: &opened.key,
        providers: &opened.providers,
        refresh: request.refresh,
        targets: request.targets.clone(),
        replace: request.replace.clone(),
        allow_destroy: request.allow_destroy,
        parallelism: request.parallelism,
        config_digest: config_digest(checked, &request.vars),
    };
    let (plan, plan_diagnostics) = opened.runtime.block_on(crate::plan::plan(&plan_request));
    diagnostics.extend(plan_diagnostics);
    plan
}

/// The plan back to version `to` (default: the version before the current
/// one): the configurations recorded in that version become the desired
/// objects.
fn rollback_plan(
    host: &Arc<dyn Host>,
    backend: &dyn Backend,
    checked: &Checked,
    opened: &Opened,
    request: &PlanRequest,
    to: Option<u64>,
    diagnostics: &mut Diagnostics,
) -> Option<Planned> {
    let Some(current) = &opened.prior else {
        diagnostics.push(
            Diagnostic::error_at_path(Code::StateNoSuchVersion, None)
                .with_help("there is no state yet, so nothing to roll back"),
        );
        return None;
    };
    let target = match to {
        Some(serial) => serial,
        None => match previous_apply(backend, current.serial) {
            Some(serial) => serial,
            None => {
                diagnostics.push(
                    Diagnostic::error_at_path(Code::StateNoSuchVersion, None).with_help(format!(
                        "version {} is the first one; there is nothing before it to roll back to",
                        current.serial
                    )),
                );
                return None;
            }
        },
    };
    if target >= current.serial {
        diagnostics.push(
            Diagnostic::error_at_path(Code::StateNoSuchVersion, None).with_help(format!(
                "version {target} is not older than the current version {}; `infra state history` lists the versions",
                current.serial
            )),
        );
        return None;
    }
    let version = match backend.version(target) {
        Ok(file) => file.to_state(),
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            return None;
        }
    };
    let expanded = match rollback_expanded(checked, &version, &opened.key, &opened.environment) {
        Ok(expanded) => expanded,
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            return None;
        }
    };
    let request = PlanRequest {
        targets: Vec::new(),
        ..request.clone()
    };
    // The providers take their settings from today's `provider` blocks (the
    // recorded version keeps objects' configurations, not the providers').
    let configured = expand_with_prior(host, checked, opened, &request.vars, diagnostics)?;
    super::run::drop_in_background(configured);
    let plan = plan_with(checked, opened, &request, &expanded, diagnostics)?;
    Some(Planned { plan, expanded })
}

/// The serial before the current one (the state the last command replaced).
/// What `infra rollback` without `--to` returns to: the version the last
/// deploy (`apply`, `destroy`, `rollback`) started from, so that a
/// `refresh`, `import` or `state` command since does not become what is
/// undone; without such a record, the version before the current one.
fn previous_apply(backend: &dyn Backend, current: u64) -> Option<u64> {
    let versions: Vec<u64> = backend
        .history()
        .ok()?
        .iter()
        .map(|version| version.serial)
        .filter(|serial| *serial < current)
        .collect();
    let deploy_start = crate::state::retention::last_deploy_start(backend)
        .ok()
        .flatten()
        .filter(|serial| versions.contains(serial));
    deploy_start.or_else(|| versions.iter().copied().max())
}

/// An expansion built from a state version's recorded configurations and
/// outputs (a rollback restores the outputs of the version it returns to).
fn rollback_expanded(
    checked: &Checked,
    version: &State,
    key: &Key,
    environment: &str,
) -> Result<Expanded, StateError> {
    let mut instances = BTreeMap::new();
    for resource in &version.resources {
        let dependencies: Arc<[crate::addr::ResourceAddr]> = Arc::from(
            resource
                .instances
                .first()
                .map(|i| i.dependencies.clone())
                .unwrap_or_default(),
        );
        for instance in &resource.instances {
            let config = key.open(&instance.config, None)?;
            let attributes = config.as_map().cloned().unwrap_or_default();
            // Every recorded attribute counts as configured.
            let spans: crate::lang::VecMap<String, crate::diag::Span> = attributes
                .keys()
                .map(|name| (name.clone(), crate::diag::Span::default()))
                .collect();
            let addr = resource.addr.instance(instance.key.clone());
            instances.insert(
                addr.clone(),
                crate::expand::Instance {
                    addr,
                    provider: (
                        resource.provider.name.clone(),
                        resource.provider.alias.clone(),
                    ),
                    attributes,
                    attribute_spans: Arc::new(spans),
                    dependencies: dependencies.clone(),
                    lifecycle: Default::default(),
                    span: crate::diag::Span::default(),
                },
            );
        }
    }
    let mut outputs = BTreeMap::new();
    for (name, output) in &version.outputs {
        outputs.insert(
            name.clone(),
            crate::expand::OutputValue {
                value: key.open(&output.value, None)?,
                sensitive: output.sensitive,
            },
        );
    }
    let protected = checked
        .config
        .environments
        .get(environment)
        .is_some_and(|e| e.protected);
    Ok(Expanded {
        environment: crate::expand::EnvironmentInfo {
            name: environment.to_owned(),
            protected,
        },
        variables: crate::lang::Map::new(),
        secrets: BTreeMap::new(),
        instances,
        outputs,
        moved: Vec::new(),
        imports: Vec::new(),
        provider_configs: BTreeMap::new(),
        keyed_dependencies: Default::default(),
        module_instances: Default::default(),
    })
}

/// The skipped instances whose block uses the failed instance's resource
/// directly and without a key (see [`Outcome::Applied`]).
fn waits_on_any_instance(
    report: &Report,
    expanded: &Expanded,
) -> std::collections::BTreeSet<InstanceAddr> {
    report
        .results
        .iter()
        .filter_map(|result| match &result.outcome {
            ActionOutcome::Skipped { because } => Some((&result.addr, because)),
            _ => None,
        })
        .filter(|(addr, because)| {
            because.key != crate::addr::InstanceKey::None
                && expanded.instances.get(*addr).is_some_and(|instance| {
                    instance.dependencies.contains(&because.resource)
                        && !expanded
                            .keyed_dependencies
                            .get(&addr.resource)
                            .is_some_and(|keyed| keyed.contains_key(&because.resource))
                })
        })
        .map(|(addr, _)| addr.clone())
        .collect()
}

/// The one error for every delete and replace a protected environment
/// refuses, naming them.
/// The error of an apply that a policy denied: how many denials, and how to
/// see them or roll a new policy out.
fn policy_refusal(plan: &Plan) -> Diagnostic {
    let denials = plan
        .policy
        .as_ref()
        .map_or(0, |results| results.denials().count());
    Diagnostic::error_at_path(Code::PolicyDenied, None).with_help(format!(
        "{denials} policy denial{} (listed in the plan's Policy section); nothing was changed. \
         Fix the configuration, or pass `--policy-warn-only` to report denials without blocking",
        if denials == 1 { "" } else { "s" }
    ))
}

fn protected_refusal(plan: &Plan) -> Diagnostic {
    const LISTED: usize = 10;
    let refused = &plan.impact.refused;
    let mut list: Vec<String> = refused
        .iter()
        .take(LISTED)
        .map(|item| {
            let what = if item.action == crate::plan::Action::Delete {
                "delete"
            } else {
                "replace"
            };
            format!("`{}` ({what})", item.addr)
        })
        .collect();
    if refused.len() > LISTED {
        list.push(format!("and {} more", refused.len() - LISTED));
    }
    Diagnostic::error_at_path(Code::PlanProtectedEnvironment, None).with_help(format!(
        "environment `{}` is protected; the plan would destroy or replace {} object{}: {}. \
         Review the plan and pass `--allow-destroy` if this is intended",
        plan.environment.name,
        refused.len(),
        if refused.len() == 1 { "" } else { "s" },
        list.join(", ")
    ))
}

/// The summary a new state version is listed with.
fn summary_line(mode: &Mode, report: &Report) -> String {
    let ok = report.count(|o| matches!(o, ActionOutcome::Succeeded));
    let failed = report.count(|o| matches!(o, ActionOutcome::Failed(_)));
    let skipped = report.results.len() - ok - failed;
    format!(
        "{}: {ok} succeeded, {failed} failed, {skipped} not done{}",
        mode.command(),
        if report.cancelled {
            " (interrupted)"
        } else {
            ""
        }
    )
}

/// The audit's view of each action: what, how it ended, how long, why
/// (provider messages never hold secret values).
fn audit_actions(report: &Report) -> Vec<AuditAction> {
    report
        .results
        .iter()
        .map(|result| {
            let (outcome, error) = match &result.outcome {
                ActionOutcome::Succeeded => (AuditOutcome::Succeeded, None),
                ActionOutcome::Failed(diagnostic) => {
                    (AuditOutcome::Failed, Some(failure_text(diagnostic)))
                }
                ActionOutcome::Skipped { because } => {
                    (AuditOutcome::Skipped, Some(format!("{because} failed")))
                }
                ActionOutcome::NotStarted => {
                    (AuditOutcome::Skipped, Some("not started".to_owned()))
                }
            };
            AuditAction {
                address: result.addr.to_string(),
                action: result.action.as_str().to_owned(),
                outcome,
                duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
                error,
                phases: result
                    .phases
                    .iter()
                    .map(|(at_ms, phase)| AuditPhase {
                        at_ms: *at_ms,
                        phase: phase.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A failed action's diagnostic in one line for the audit: the code, what
/// was said at the span, and the help (none of which holds a secret value).
fn failure_text(diagnostic: &Diagnostic) -> String {
    let mut text = diagnostic.code.as_str().to_owned();
    if let Some(label) = &diagnostic.primary {
        text.push_str(": ");
        text.push_str(&label.text);
    }
    if let Some(help) = &diagnostic.help {
        text.push_str(" (");
        text.push_str(help);
        text.push(')');
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    /// A generated secret in a module instance is stored under its module
    /// key and read back to the same instance, so the next plan reuses it.
    #[test]
    fn secret_keys_round_trip_through_module_instances() {
        for path in [
            "",
            "module.cache",
            "module.site[\"blog\"]",
            "module.site[\"a.secret.b\"].module.replica[2]",
        ] {
            let module: ModulePath = path.parse().unwrap();
            let key = secret_key(&module, "token");
            assert_eq!(
                parse_secret_key(&key),
                Some((module.clone(), String::from("token"))),
                "{key}"
            );
        }
    }
}
