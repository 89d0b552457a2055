//! `drift` and `refresh`: read every managed instance of an environment's
//! state through its provider and compare it with what the state recorded.
//! `drift` only reports; `refresh` accepts what it found as a new state
//! version, with an audit record.
//!
//! Terminology: *drift* is a difference between the recorded state and what
//! the provider reads now: attributes changed outside infra, or the object
//! deleted outside infra. Data sources are never compared (they are read
//! again by every plan). A *writer* is a command that holds the state lock
//! (`apply`, `destroy`, `refresh`, `state rm`, …).
//!
//! Waiting for a writer (`drift`): `drift` takes no lock. While a live
//! process holds the lock, the state on disk is about to change (an apply
//! writes its new version when it ends), so `drift` polls until the lock is
//! released, up to `--lock-timeout` (default 60s), then reads the state
//! version that is current at that moment; the timeout is an error
//! (`infra::state::locked`). A lock left by a process that is gone (same
//! machine, pid not running) is not waited for: `drift` reads the state as
//! last written with the dead process's journal folded in, in memory (as
//! every reading command does), so its completed actions are not drift.
//!
//! Invariant: `drift` writes nothing (no state, no key, no lock, no journal).
//! `refresh` writes only under the lock, and only when something drifted.
//! Secret values never leave sealed state in plaintext: an attribute that is
//! secret on either side of a drift is secret on both.

use super::apply::expand_with_prior;
use super::run::{Opened, PlanRequest, drop_in_background, open, opened_from_lock};
use crate::addr::{InstanceAddr, Mode};
use crate::diag::{Code, Diagnostic, Diagnostics, SourceMap};
use crate::host::Host;
use crate::lang::Value;
use crate::plan::{Drift, DriftKind, PriorObject, PriorVersion, Refreshed, prior_objects, refresh};
use crate::state::audit::{ActionOutcome, AuditAction, AuditRecord};
use crate::state::{Backend, Key, KeyUse, LockInfo, PrunedVersions, State, StateError, Writing};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often `drift` looks at a held lock again.
const POLL: Duration = Duration::from_millis(200);

/// The default `--lock-timeout` of `drift`.
pub const DRIFT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// What `infra drift` and `infra refresh` ask for.
#[derive(Debug, Clone)]
pub struct DriftRequest {
    /// `--env`: the environment (default: the stack's `default_environment`).
    pub environment: Option<String>,
    /// `--var NAME=VALUE`: for the `provider` blocks' settings.
    pub vars: Vec<(String, String)>,
    /// `--var-file FILE`, in order.
    pub var_files: Vec<std::path::PathBuf>,
    /// How many provider reads run at once (as `apply --parallelism`).
    pub parallelism: usize,
    /// `drift`: how long to wait for a writer; `refresh`: for the lock.
    pub lock_timeout: Duration,
}

impl Default for DriftRequest {
    fn default() -> Self {
        DriftRequest {
            environment: None,
            vars: Vec::new(),
            var_files: Vec::new(),
            parallelism: 64,
            lock_timeout: DRIFT_LOCK_TIMEOUT,
        }
    }
}

/// How `drift` and `refresh` talk to the user while they run.
pub trait DriftUi {
    /// A line of information (a recovered journal, a lock left behind).
    fn note(&mut self, text: &str);
    /// Another command holds the lock; called once, when waiting starts.
    fn waiting_for_lock(&mut self, holder: Option<&LockInfo>);
    /// `refresh` only: shows what would be accepted and says whether to go on.
    fn confirm(&mut self, report: &DriftReport) -> Result<bool, Diagnostic>;
}

/// What was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftReport {
    /// The stack's name.
    pub stack: String,
    /// The environment.
    pub environment: String,
    /// The state version compared against; `None` when there is no state.
    pub prior: Option<PriorVersion>,
    /// How many managed instances were read.
    pub checked: usize,
    /// How many data sources the state holds (not compared).
    pub data_sources: usize,
    /// What changed outside infra, in address order.
    pub drift: Vec<Drift>,
}

impl DriftReport {
    /// Whether reality matches the state.
    pub fn in_sync(&self) -> bool {
        self.drift.is_empty()
    }

    /// How many instances changed outside infra.
    pub fn changed(&self) -> usize {
        self.drift
            .iter()
            .filter(|d| matches!(d.kind, DriftKind::Changed(_)))
            .count()
    }

    /// How many instances were deleted outside infra.
    pub fn deleted(&self) -> usize {
        self.drift
            .iter()
            .filter(|d| d.kind == DriftKind::Deleted)
            .count()
    }
}

/// How `refresh` ended.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// Nothing drifted; the state was not written.
    NoDrift(DriftReport),
    /// The user said no; nothing was written.
    Declined(DriftReport),
    /// The drift was accepted as state version `serial`.
    Accepted {
        /// What was accepted.
        report: DriftReport,
        /// The new state version.
        serial: u64,
        /// The history versions the retention setting pruned after it.
        pruned: Option<PrunedVersions>,
    },
}

/// `infra drift`: reads every managed instance of the environment's state and
/// compares it with the state. Takes no lock and writes nothing; waits for a
/// live writer first (see the module docs). `None` when it failed before
/// comparing; a failed read is an error diagnostic beside a partial report.
pub fn drift(
    host: Arc<dyn Host>,
    dir: &Path,
    request: &DriftRequest,
    ui: &mut dyn DriftUi,
) -> (Option<DriftReport>, SourceMap, Diagnostics) {
    super::checked_run(
        host,
        dir,
        &request.var_files,
        |host, checked, diagnostics| run_drift(host, checked, request, ui, diagnostics),
    )
}

fn run_drift(
    host: &Arc<dyn Host>,
    checked: &super::Checked,
    request: &DriftRequest,
    ui: &mut dyn DriftUi,
    diagnostics: &mut Diagnostics,
) -> Option<DriftReport> {
    let environment = select(checked, request, diagnostics)?;
    let backend = super::checked_backend(host.as_ref(), checked, &environment, diagnostics)?;
    if let Err(error) = wait_for_writer(host.as_ref(), backend.as_ref(), request.lock_timeout, ui) {
        diagnostics.push(error.to_diagnostic());
        return None;
    }
    let opened = open_reading(host, checked, request, diagnostics)?;
    let (_, report, _) =
        read_and_compare(host, checked, request, opened, &environment, diagnostics)?;
    Some(report)
}

/// The state as a reading command opens it (no lock; any journal folded in
/// memory), with the providers.
fn open_reading(
    host: &Arc<dyn Host>,
    checked: &super::Checked,
    request: &DriftRequest,
    diagnostics: &mut Diagnostics,
) -> Option<Opened> {
    open(
        host,
        &checked.config,
        &checked.dir,
        &plan_request(request),
        false,
        diagnostics,
    )
}

/// With the state and the providers `opened`, configures the providers
/// from the `provider` blocks (as a plan does), and reads every object to
/// compare it with the state: what `drift` and `refresh` share.
fn read_and_compare(
    host: &Arc<dyn Host>,
    checked: &super::Checked,
    request: &DriftRequest,
    opened: Opened,
    environment: &str,
    diagnostics: &mut Diagnostics,
) -> Option<(Opened, DriftReport, Refreshed)> {
    let plan_request = plan_request(request);
    let configured = expand_with_prior(host, checked, &opened, &plan_request.vars, diagnostics)?;
    drop_in_background(configured);
    let (report, refreshed) = compare(&opened, environment, request.parallelism, diagnostics)?;
    Some((opened, report, refreshed))
}

/// The environment's name, or an error diagnostic.
fn select(
    checked: &super::Checked,
    request: &DriftRequest,
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    match crate::expand::select_environment(&checked.config, request.environment.as_deref()) {
        Ok(environment) => Some(environment.name),
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            None
        }
    }
}

fn plan_request(request: &DriftRequest) -> PlanRequest {
    PlanRequest {
        environment: request.environment.clone(),
        vars: request.vars.clone(),
        refresh: true,
        parallelism: request.parallelism,
        ..PlanRequest::default()
    }
}

/// Waits while a live process holds the state lock, up to `timeout`.
fn wait_for_writer(
    host: &dyn Host,
    backend: &dyn Backend,
    timeout: Duration,
    ui: &mut dyn DriftUi,
) -> Result<(), StateError> {
    let path = backend.lock_path();
    let started = host.now_unix_millis();
    let timeout_millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let mut told = false;
    loop {
        if !backend.is_locked()? {
            return Ok(());
        }
        let holder = backend.lock_holder();
        if let Some(gone) = holder.as_ref().filter(|h| holder_is_gone(host, h)) {
            ui.note(&format!(
                "the state lock was left by a process that is gone ({}); comparing with the \
                 state as last written and what its journal holds",
                gone.describe(host.now_unix_seconds())
            ));
            return Ok(());
        }
        let waited = host.now_unix_millis().saturating_sub(started);
        if waited >= timeout_millis {
            let who = holder.as_ref().map_or_else(
                || String::from("held by a process whose lock file cannot be read"),
                |holder| holder.describe(host.now_unix_seconds()),
            );
            return Err(StateError::new(
                Code::StateLocked,
                Some(&path),
                format!(
                    "{who}; drift waited {}s for that command to finish writing the state; pass \
                     a longer --lock-timeout, or if that process is gone run `infra \
                     force-unlock LOCK_ID`",
                    timeout.as_secs()
                ),
            ));
        }
        if !told {
            ui.waiting_for_lock(holder.as_ref());
            told = true;
        }
        let remaining = Duration::from_millis(timeout_millis - waited);
        host.sleep(POLL.min(remaining));
    }
}

/// Whether the lock's holder is a process on this machine that is no longer
/// running (as `Lock::acquire` decides before taking over a lock).
fn holder_is_gone(host: &dyn Host, holder: &LockInfo) -> bool {
    holder.host == host.hostname()
        && holder.pid != host.pid()
        && host.process_alive(holder.pid) == Some(false)
}

/// Reads every managed instance of the opened state and compares, on the
/// command's runtime. Returns the report and the refreshed objects; `None`
/// (with diagnostics) when a read failed or the state could not be opened.
fn compare(
    opened: &Opened,
    environment: &str,
    parallelism: usize,
    diagnostics: &mut Diagnostics,
) -> Option<(DriftReport, Refreshed)> {
    let (stack, prior, key, providers, runtime) = (
        opened.stack.as_str(),
        opened.prior.as_ref(),
        &opened.key,
        &opened.providers,
        &opened.runtime,
    );
    let objects = match prior {
        Some(state) => match prior_objects(state, key) {
            Ok(objects) => objects,
            Err(error) => {
                diagnostics.push(error.to_diagnostic());
                return None;
            }
        },
        None => BTreeMap::new(),
    };
    let managed = objects
        .keys()
        .filter(|addr| addr.resource.mode == Mode::Managed)
        .count();
    let data_sources = objects.len() - managed;
    // Which attributes were secret, before the reads replace them.
    let secret: BTreeMap<InstanceAddr, BTreeSet<String>> = objects
        .iter()
        .map(|(addr, prior)| {
            let names = prior
                .object
                .attributes
                .iter()
                .filter(|(_, value)| value.contains_secret())
                .map(|(name, _)| name.clone())
                .collect();
            (addr.clone(), names)
        })
        .collect();
    let (mut refreshed, read_diagnostics) =
        runtime.block_on(refresh(objects, |_| true, providers, parallelism.max(1)));
    let failed = read_diagnostics.has_errors();
    diagnostics.extend(read_diagnostics);
    if failed {
        return None;
    }
    keep_secret_marks(&mut refreshed, &secret);
    let report = DriftReport {
        stack: stack.to_owned(),
        environment: environment.to_owned(),
        prior: prior.map(|state| PriorVersion {
            lineage: state.lineage.clone(),
            serial: state.serial,
        }),
        checked: managed,
        data_sources,
        drift: refreshed.drift.clone(),
    };
    Some((report, refreshed))
}

/// An attribute secret on either side of a drift is secret on both, and a
/// refreshed attribute that was secret in state stays secret, whatever the
/// provider marked: a value that was sealed is never shown or stored in
/// plaintext because it changed.
fn keep_secret_marks(refreshed: &mut Refreshed, secret: &BTreeMap<InstanceAddr, BTreeSet<String>>) {
    for drift in &mut refreshed.drift {
        if let DriftKind::Changed(attributes) = &mut drift.kind {
            for attribute in attributes {
                if attribute.before.contains_secret() || attribute.after.contains_secret() {
                    attribute.before = attribute.before.clone().with_secret(true);
                    attribute.after = attribute.after.clone().with_secret(true);
                }
            }
        }
    }
    for (addr, object) in &mut refreshed.objects {
        let Some(names) = secret.get(addr) else {
            continue;
        };
        for (name, value) in &mut object.object.attributes {
            if names.contains(name) && !value.contains_secret() {
                *value = value.clone().with_secret(true);
            }
        }
    }
}

/// `infra refresh`: takes the lock (folding an interrupted apply's journal
/// into a version of its own first),
/// reads everything, and when something drifted (and the user agrees)
/// writes the refreshed objects as a new state version — deleted-outside
/// instances removed — with an audit record (command `refresh`, one action
/// per drifted instance).
pub fn refresh_state(
    host: Arc<dyn Host>,
    dir: &Path,
    request: &DriftRequest,
    ui: &mut dyn DriftUi,
) -> (Option<RefreshOutcome>, SourceMap, Diagnostics) {
    super::checked_run(
        host,
        dir,
        &request.var_files,
        |host, checked, diagnostics| run_refresh(host, checked, request, ui, diagnostics),
    )
}

fn run_refresh(
    host: &Arc<dyn Host>,
    checked: &super::Checked,
    request: &DriftRequest,
    ui: &mut dyn DriftUi,
    diagnostics: &mut Diagnostics,
) -> Option<RefreshOutcome> {
    let environment = select(checked, request, diagnostics)?;
    let backend = super::checked_backend(host.as_ref(), checked, &environment, diagnostics)?;
    let fail = |diagnostics: &mut Diagnostics, error: StateError| {
        diagnostics.push(error.to_diagnostic());
    };
    let writing = Writing::open(
        host.as_ref(),
        backend.as_ref(),
        "refresh",
        request.lock_timeout,
        &mut |holder| ui.waiting_for_lock(holder),
        KeyUse::Existing,
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
    // The state as the lock opened it (any journal folded in), not read a
    // second time; without one there is nothing to read.
    let opened = if writing.state().is_some() {
        opened_from_lock(host, checked, &environment, &mut writing, diagnostics)?
    } else {
        open_reading(host, checked, request, diagnostics)?
    };
    let (opened, report, refreshed) =
        read_and_compare(host, checked, request, opened, &environment, diagnostics)?;
    let Some(prior) = opened.prior.clone().filter(|_| !report.in_sync()) else {
        drop(writing);
        return Some(RefreshOutcome::NoDrift(report));
    };
    match ui.confirm(&report) {
        Ok(true) => {}
        Ok(false) => return Some(RefreshOutcome::Declined(report)),
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    }
    let mut audit = AuditRecord::start(host.as_ref(), "refresh", &environment);
    let mut state = match refreshed_state(host.as_ref(), prior, &refreshed, &opened.key) {
        Ok(state) => state,
        Err(error) => {
            fail(diagnostics, error);
            return None;
        }
    };
    let summary = format!(
        "refresh: {} changed, {} deleted outside",
        report.changed(),
        report.deleted()
    );
    let serial = match writing.write(&mut state, &summary) {
        Ok(serial) => serial,
        Err(error) => {
            fail(diagnostics, error);
            return None;
        }
    };
    audit.serial = Some(serial);
    audit.actions = report
        .drift
        .iter()
        .map(|drift| AuditAction {
            address: drift.addr.to_string(),
            action: match drift.kind {
                DriftKind::Changed(_) => "read",
                DriftKind::Deleted => "remove",
            }
            .to_owned(),
            outcome: ActionOutcome::Succeeded,
            duration_ms: 0,
            error: None,
            phases: Vec::new(),
        })
        .collect();
    let finished = writing.finish(Some(audit));
    if let Some(error) = &finished.prune_failed {
        diagnostics.push(super::prune_warning(error));
    }
    for error in finished.problems {
        fail(diagnostics, error);
    }
    Some(RefreshOutcome::Accepted {
        report,
        serial,
        pruned: finished.pruned,
    })
}

/// `prior` with each drifted instance as read now (attributes sealed again)
/// and each instance deleted outside removed. Dependencies and the recorded
/// configuration are kept.
fn refreshed_state(
    host: &dyn Host,
    mut state: State,
    refreshed: &Refreshed,
    key: &Key,
) -> Result<State, StateError> {
    for drift in &refreshed.drift {
        match &drift.kind {
            DriftKind::Deleted => {
                state.remove_instance(&drift.addr);
            }
            DriftKind::Changed(_) => {
                let Some(PriorObject {
                    provider, object, ..
                }) = refreshed.objects.get(&drift.addr)
                else {
                    continue;
                };
                let Some(mut instance) = state.instance(&drift.addr).cloned() else {
                    continue;
                };
                instance.attributes = key.seal(host, &Value::map(object.attributes.clone()))?;
                state.set_instance(&drift.addr.resource, provider, instance);
            }
        }
    }
    Ok(state)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::addr::{InstanceKey, ProviderAddr, ResourceAddr};
    use crate::plan::AttributeDrift;
    use crate::providers::ObjectState;

    #[test]
    fn a_secret_stays_secret_when_the_provider_reads_it_back_plain() {
        let addr = ResourceAddr::managed("test_resource", "a").instance(InstanceKey::None);
        let plain = Value::string("typed-by-hand");
        let mut refreshed = Refreshed {
            objects: BTreeMap::from([(
                addr.clone(),
                PriorObject {
                    resource_type: "test_resource".to_owned(),
                    provider: ProviderAddr::named("test"),
                    object: ObjectState {
                        id: "1".to_owned(),
                        attributes: crate::lang::Map::from([
                            ("token".to_owned(), plain.clone()),
                            ("name".to_owned(), Value::string("a")),
                        ]),
                    },
                    dependencies: Vec::new(),
                },
            )]),
            drift: vec![Drift {
                addr: addr.clone(),
                resource_type: "test_resource".to_owned(),
                kind: DriftKind::Changed(vec![AttributeDrift {
                    name: "token".to_owned(),
                    before: Value::string("old").with_secret(true),
                    after: plain,
                }]),
            }],
        };
        let secret = BTreeMap::from([(addr.clone(), BTreeSet::from(["token".to_owned()]))]);
        keep_secret_marks(&mut refreshed, &secret);
        let object = &refreshed.objects[&addr].object;
        assert!(object.attributes["token"].is_secret());
        assert!(!object.attributes["name"].contains_secret());
        let DriftKind::Changed(attributes) = &refreshed.drift[0].kind else {
            panic!("changed");
        };
        assert!(attributes[0].after.is_secret());
        assert_eq!(attributes[0].after.to_string(), "(secret)");
    }
}
