//! Planning: refresh the prior state against the providers (finding drift),
//! then diff the expanded configuration against it into a [`Plan`] of
//! [`Change`]s, each with an [`Action`]; and the persisted, authenticated form
//! of a plan ([`PlanFile`]).
//!
//! Terminology (as in `docs/glossary.md`): the *prev-run state* is the state
//! exactly as the last command left it; *refreshing* reads each of its objects
//! from its provider, giving the *prior state* the plan is computed from. A
//! difference between the two is *drift* (changed or deleted outside infra). A
//! *change* is what the plan proposes for one instance; its *action* says how
//! (create, update, replace, delete, read, or nothing). [`Request::prior`] is
//! the stored state as read, i.e. the prev-run state; the stored model keeps
//! the name `prior` that `state` uses for it.
//!
//! Invariant: reads only. The only provider calls are `read`,
//! `plan_change` and `import` (for `import` blocks whose instance is not in
//! state yet); no state is written, nothing is printed. `moved` blocks rename
//! prior instances before anything else, without a provider call.
//! Invariant: secret marks and unknown values survive every step; a plan file
//! holds secret values only sealed.
//! Invariant: whatever a provider returns (planned, read, imported) and every
//! prior object is marked by the schema's rule from the instance's
//! configuration (`providers::provider::seal_returned`), the rule the
//! expansion typed computed values with before any call.

mod adopt;
mod diff;
mod file;
mod impact;
mod policy;
mod refresh;

pub use diff::{Selection, diff};
pub use file::{
    AttributeDriftFile, ChangeFile, DriftFile, FORMAT_VERSION, OutputChangeFile, PlanFile,
    StoredValue, config_digest,
};
pub use impact::{
    Blast, DowntimeReason, DowntimeRisk, Impact, Irreversible, IrreversibleReason, Refused,
    RollbackPlan,
};
pub use policy::{Enforcement, PolicyChecked, PolicyResults, Violation};
use refresh::take_prior_objects;
pub use refresh::{
    PriorObject, Refreshed, missing_provider_help, prior_attributes, prior_objects, refresh,
};

use crate::addr::{InstanceAddr, ProviderAddr, Target};
use crate::diag::Diagnostics;
use crate::expand::{EnvironmentInfo, Expanded};
use crate::lang::Value;
use crate::providers::{AttributePath, Attributes, ProviderSet};
use crate::state::{Key, State};
use std::collections::BTreeMap;

/// How a change is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    /// Nothing to do: the object already matches the configuration.
    NoOp,
    /// A new object.
    Create,
    /// The object changes in place.
    Update,
    /// The object is deleted and created again, because an attribute that
    /// cannot change in place changes.
    Replace {
        /// The new object is created before the old one is deleted.
        create_before_destroy: bool,
    },
    /// The object is deleted.
    Delete,
    /// A data source is read.
    Read,
}

/// Why a change was planned, when the attributes alone do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The object was deleted outside infra, so it is created again.
    DeletedOutside,
    /// The instance is no longer in the configuration.
    NoLongerInConfiguration,
    /// `infra destroy` removes everything.
    DestroyRequested,
    /// Attributes that cannot change in place change (see [`Change::replace_paths`]).
    ReplaceForced,
    /// A resource named in `lifecycle { replace_triggered_by }` changes.
    ReplaceTriggered,
    /// `--replace ADDR` asked for it.
    ReplaceRequested,
}

impl Reason {
    /// The reason as plan output words it.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::DeletedOutside => "deleted outside infra",
            Reason::NoLongerInConfiguration => "no longer in configuration",
            Reason::DestroyRequested => "destroy requested",
            Reason::ReplaceForced => "an attribute that forces replacement changed",
            Reason::ReplaceTriggered => "replace_triggered_by: a resource it names changes",
            Reason::ReplaceRequested => "replacement requested with --replace",
        }
    }
}

/// What the plan proposes for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The instance.
    pub addr: InstanceAddr,
    /// Its provider resource type (`null_resource`).
    pub resource_type: String,
    /// The provider configuration that manages it (`ssh`, `ssh.staging`).
    pub provider: ProviderAddr,
    /// How.
    pub action: Action,
    /// The object before (the refreshed prior object), `None` for a create or read.
    pub before: Option<Attributes>,
    /// The object after: for a delete, empty; values known only after apply
    /// are unknown; secrets are marked.
    pub after: Attributes,
    /// For a replace, the attributes that force it.
    pub replace_paths: Vec<AttributePath>,
    /// Why, when the action alone does not say.
    pub reason: Option<Reason>,
    /// The plan adopts an existing object by this provider id first (an
    /// `import` block); the action is then computed against the imported
    /// object (no-op, update or replace).
    pub import_id: Option<String>,
    /// The prior instance at this address is now this one (a `moved` block):
    /// state is renamed, no provider call. Boxed: few changes have one, and
    /// a plan of 100,000 holds a change each.
    pub moved_from: Option<Box<InstanceAddr>>,
    /// The steps the change goes through, when the provider says it is more
    /// than one call ([`Provider::deploy_steps`](crate::providers::Provider::deploy_steps)).
    /// Boxed, as `moved_from` is.
    pub deploy: Option<Box<crate::providers::DeploySteps>>,
}

/// How one instance drifted: what the prior state recorded vs what the provider reads now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The instance.
    pub addr: InstanceAddr,
    /// Its resource type.
    pub resource_type: String,
    /// What changed.
    pub kind: DriftKind,
}

/// The kinds of drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftKind {
    /// Attributes changed outside infra.
    Changed(Vec<AttributeDrift>),
    /// The object was deleted outside infra.
    Deleted,
}

/// One attribute changed outside infra.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDrift {
    /// The attribute.
    pub name: String,
    /// What the prior state recorded.
    pub before: Value,
    /// What the provider reads now.
    pub after: Value,
}

/// How an output changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChange {
    /// The output's name.
    pub name: String,
    /// Create (new output), update, delete (gone from the configuration) or no-op.
    pub action: Action,
    /// The value the prior state holds.
    pub before: Option<Value>,
    /// The value after apply (may be unknown).
    pub after: Option<Value>,
    /// Declared `sensitive`.
    pub sensitive: bool,
}

/// The version of the prior state a plan was made against.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorVersion {
    /// The state's lineage.
    pub lineage: String,
    /// The version's serial.
    pub serial: u64,
}

/// The plan for one stack environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The stack's name.
    pub stack: String,
    /// The environment.
    pub environment: EnvironmentInfo,
    /// The prior state it was made against; `None` when there was none.
    pub prior: Option<PriorVersion>,
    /// Every change, no-ops included: creates, updates and replaces after what
    /// they depend on, then deletes in reverse dependency order.
    pub changes: Vec<Change>,
    /// What changed outside infra since the last apply.
    pub drift: Vec<Drift>,
    /// How the root module's outputs change, by name.
    pub output_changes: Vec<OutputChange>,
    /// SHA-256 (hex) of the configuration text and variables ([`config_digest`]).
    pub config_digest: String,
    /// What the plan puts at risk: blast radius, downtime, rollback.
    pub impact: Impact,
    /// `--target`: when not empty, the plan is partial: only these and what
    /// they depend on were planned (and no outputs).
    pub targets: Vec<Target>,
    /// What the policies said; `None` when no policy was checked (none
    /// configured, or a plan read back from a file before they ran).
    pub policy: Option<PolicyResults>,
}

/// What a plan does, counted like Terraform: a replace adds one and destroys one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Objects created (creates and replaces).
    pub add: usize,
    /// Objects changed in place.
    pub change: usize,
    /// Objects destroyed (deletes and replaces).
    pub destroy: usize,
    /// Data sources read.
    pub read: usize,
    /// Objects adopted by `import` blocks.
    pub import: usize,
    /// Instances renamed by `moved` blocks.
    pub moved: usize,
}

impl Summary {
    /// Whether the plan changes nothing. Data sources it reads do not count:
    /// a read changes no object (as in Terraform, where a plan of reads
    /// alone has no changes).
    pub fn is_empty(&self) -> bool {
        Summary { read: 0, ..*self } == Summary::default()
    }

    /// The counts of `changes` (a plan's, or the part of one that was applied).
    pub fn of<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Summary {
        let mut summary = Summary::default();
        for change in changes {
            match change.action {
                Action::NoOp => {}
                Action::Create => summary.add += 1,
                Action::Update => summary.change += 1,
                Action::Replace { .. } => {
                    summary.add += 1;
                    summary.destroy += 1;
                }
                Action::Delete => summary.destroy += 1,
                Action::Read => summary.read += 1,
            }
            if change.import_id.is_some() {
                summary.import += 1;
            }
            if change.moved_from.is_some() {
                summary.moved += 1;
            }
        }
        summary
    }
}

impl Plan {
    /// The counts of the summary line.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.changes)
    }

    /// Whether applying it would change anything (objects or outputs); reads
    /// of data sources alone are not changes.
    pub fn has_changes(&self) -> bool {
        !self.summary().is_empty()
            || self
                .output_changes
                .iter()
                .any(|change| change.action != Action::NoOp)
    }
}

/// What to plan.
#[derive(Debug)]
pub struct Request<'a> {
    /// The stack's name.
    pub stack: String,
    /// The configuration evaluated for the environment.
    pub expanded: &'a Expanded,
    /// The stored state as the last command left it (the prev-run state);
    /// `None` when there is none yet.
    pub prior: Option<&'a State>,
    /// The key that opens the prior state's sealed values.
    pub key: &'a Key,
    /// The live providers.
    pub providers: &'a ProviderSet,
    /// `--refresh`: read every prior object first.
    pub refresh: bool,
    /// `--target`: when not empty, only these and what they depend on.
    pub targets: Vec<Target>,
    /// `--replace`: these instances are replaced even when nothing forces it.
    pub replace: Vec<Target>,
    /// `--allow-destroy`: deletes and replaces are allowed in a protected environment.
    pub allow_destroy: bool,
    /// How many provider calls run at once (at least 1).
    pub parallelism: usize,
    /// The digest of the configuration text and variables ([`config_digest`]).
    pub config_digest: String,
}

/// Plans: opens the prior state, refreshes it (unless told not to) and diffs
/// the configuration against it. `None` when the prior state cannot be
/// opened; otherwise the plan, with errors (a forbidden destroy, a failed
/// provider call) in the diagnostics.
pub async fn plan(request: &Request<'_>) -> (Option<Plan>, Diagnostics) {
    let opened = request.prior.map(|state| prior_objects(state, request.key));
    plan_from(request, request.prior, opened).await
}

/// [`plan`] of the prior state `prior` (not `request.prior`), taken apart
/// rather than read: each instance's recorded attributes, configuration and
/// dependencies are moved out as its prior object is opened, so the state
/// and the prior objects are never held whole together (at 100,000
/// instances the state was 72 MB of a plan's peak). `prior` is left with its
/// addresses, outputs, lineage and serial; what else it held is gone.
pub async fn plan_taking_apart(
    request: &Request<'_>,
    mut prior: Option<&mut State>,
) -> (Option<Plan>, Diagnostics) {
    let opened = prior
        .as_deref_mut()
        .map(|state| take_prior_objects(state, request.key));
    plan_from(request, prior.map(|state| &*state), opened).await
}

/// [`plan`], the objects of `prior` already opened (`None` when there is
/// no prior state).
async fn plan_from(
    request: &Request<'_>,
    prior_state: Option<&State>,
    opened: Option<Result<BTreeMap<InstanceAddr, PriorObject>, crate::state::StateError>>,
) -> (Option<Plan>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let mut prior = match opened {
        Some(Ok(objects)) => objects,
        Some(Err(error)) => {
            diagnostics.push(error.to_diagnostic());
            return (None, diagnostics);
        }
        None => Default::default(),
    };
    let (moved, move_diagnostics) = adopt::apply_moves(&mut prior, &request.expanded.moved);
    diagnostics.extend(move_diagnostics);
    remark_prior(&mut prior, request);
    let selected = diff::selection(request.expanded, &prior, &request.targets);
    let mut refreshed = if request.refresh {
        let (refreshed, refresh_diagnostics) = refresh(
            prior,
            |addr| selected.contains(addr),
            request.providers,
            request.parallelism,
        )
        .await;
        diagnostics.extend(refresh_diagnostics);
        refreshed
    } else {
        Refreshed {
            objects: prior,
            drift: Vec::new(),
        }
    };
    let prior_outputs = match prior_state {
        Some(state) => match diff::open_outputs(state, request.key) {
            Ok(outputs) => outputs,
            Err(error) => {
                diagnostics.push(error.to_diagnostic());
                return (None, diagnostics);
            }
        },
        None => Default::default(),
    };
    let (imported, import_diagnostics) =
        adopt::import_objects(request, &refreshed.objects, &selected).await;
    diagnostics.extend(import_diagnostics);
    let mut import_ids = BTreeMap::new();
    for (addr, (id, object)) in imported {
        refreshed.objects.insert(addr.clone(), object);
        import_ids.insert(addr, id);
    }
    let (mut changes, diff_diagnostics) = diff(request, &mut refreshed, &selected).await;
    diagnostics.extend(diff_diagnostics);
    for change in &mut changes {
        change.import_id = import_ids.remove(&change.addr);
        change.moved_from = moved.get(&change.addr).cloned().map(Box::new);
    }
    let prior_version = prior_state.map(|state| PriorVersion {
        lineage: state.lineage.clone(),
        serial: state.serial,
    });
    let impact = impact::analyze(
        request.expanded,
        &refreshed.objects,
        &changes,
        prior_version.as_ref(),
        request.allow_destroy,
    );
    let output_changes = if request.targets.is_empty() {
        diff::output_changes(request.expanded, &prior_outputs)
    } else {
        Vec::new()
    };
    let plan = Plan {
        stack: request.stack.clone(),
        environment: request.expanded.environment.clone(),
        prior: prior_version,
        changes,
        drift: refreshed.drift,
        output_changes,
        config_digest: request.config_digest.clone(),
        impact,
        targets: request.targets.clone(),
        policy: None,
    };
    (Some(plan), diagnostics)
}

/// Marks each prior object by the schema's rule from its instance's
/// configuration (see `providers::provider::seal_returned`): an object recorded
/// before a value of it became secret — or by a version of infra that did not
/// seal computed values — is shown and saved as secret where the configuration
/// now types it so, never in plaintext in a plan.
fn remark_prior(prior: &mut BTreeMap<InstanceAddr, PriorObject>, request: &Request<'_>) {
    // Both maps are sorted by address: the instances are walked alongside
    // the prior objects instead of looked up one by one.
    let mut instances = request.expanded.instances.iter().peekable();
    for (addr, prior_object) in prior.iter_mut() {
        while instances
            .next_if(|(instance_addr, _)| *instance_addr < addr)
            .is_some()
        {}
        let Some((_, instance)) = instances.next_if(|(instance_addr, _)| *instance_addr == addr)
        else {
            continue;
        };
        let Some(provider) = request
            .providers
            .lookup(&prior_object.resource_type, &prior_object.provider)
            .cloned()
        else {
            continue;
        };
        if let Some(schema) = provider.schema(&prior_object.resource_type) {
            let attributes = std::mem::take(&mut prior_object.object.attributes);
            prior_object.object.attributes =
                crate::providers::provider::seal_returned(schema, &instance.attributes, attributes);
        }
    }
}

/// Runs futures with at most `parallelism` at once on the tokio runtime;
/// results in input order. A task that panicked gives `None`.
///
/// `futures` is drawn from only as tasks finish: an iterator that makes each
/// future when asked (with its copies of the object and configuration it
/// works on) holds `parallelism` of them at a time, not one per instance.
async fn run_bounded<T, F>(
    parallelism: usize,
    futures: impl IntoIterator<Item = F>,
) -> Vec<Option<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    // At most `parallelism` tasks exist at once: the next future is spawned
    // when one finishes, so a plan of 100k instances does not hold 100k
    // spawned tasks waiting for a permit.
    let mut waiting = futures.into_iter().enumerate();
    let mut tasks = tokio::task::JoinSet::new();
    // Room for as many results as there may be calls, at once.
    let (least, most) = waiting.size_hint();
    let mut results: Vec<Option<T>> = Vec::with_capacity(most.unwrap_or(least));
    let mut spawn_next = |tasks: &mut tokio::task::JoinSet<(usize, T)>,
                          results: &mut Vec<Option<T>>| {
        if let Some((index, future)) = waiting.next() {
            results.push(None);
            tasks.spawn(async move { (index, future.await) });
        }
    };
    for _ in 0..parallelism.max(1) {
        spawn_next(&mut tasks, &mut results);
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, value)) = joined
            && let Some(slot) = results.get_mut(index)
        {
            *slot = Some(value);
        }
        spawn_next(&mut tasks, &mut results);
    }
    results
}

#[cfg(test)]
mod tests;
