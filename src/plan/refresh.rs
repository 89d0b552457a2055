//! Refresh: read every prev-run object from its provider, concurrently, and
//! compare it with what the prior state recorded. The result is the refreshed
//! prior objects (deleted ones gone, changed ones as read) and the [`Drift`].
//!
//! Invariant: only `Provider::read` is called; the prior state is not changed.

use super::{AttributeDrift, Drift, DriftKind, run_bounded};
use crate::addr::{InstanceAddr, Mode, ProviderAddr, ResourceAddr};
use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use crate::lang::Value;
use crate::providers::provider::{same_ignoring_marks, seal_returned};
use crate::providers::retry::{RetryPolicy, Rng, retry_transient};
use crate::providers::{Attributes, ObjectState, ProviderError, ProviderSet};
use crate::state::{Key, State, StateError};
use std::collections::{BTreeMap, BTreeSet};

/// One object of the prior state, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorObject {
    /// Its resource type.
    pub resource_type: String,
    /// The provider that manages it.
    pub provider: ProviderAddr,
    /// The object (secrets marked).
    pub object: ObjectState,
    /// What it depended on when applied.
    pub dependencies: Vec<ResourceAddr>,
}

/// The prior objects after refresh, and what drifted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Every prior object still there, as read now (or as recorded when not refreshed).
    pub objects: BTreeMap<InstanceAddr, PriorObject>,
    /// What changed outside infra, in address order.
    pub drift: Vec<Drift>,
}

/// Opens every instance of `state` with `key`.
pub fn prior_objects(
    state: &State,
    key: &Key,
) -> Result<BTreeMap<InstanceAddr, PriorObject>, StateError> {
    let mut objects = Vec::with_capacity(instance_count(state));
    for resource in &state.resources {
        for instance in &resource.instances {
            let attributes = open_attributes(key, &instance.attributes)?;
            let id = attributes
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            objects.push((
                resource.addr.instance(instance.key.clone()),
                PriorObject {
                    resource_type: resource.addr.resource_type.clone(),
                    provider: resource.provider.clone(),
                    object: ObjectState { id, attributes },
                    dependencies: instance.dependencies.clone(),
                },
            ));
        }
    }
    // Collected at once, the map is built in bulk (sorted once, every node
    // full); inserting one by one splits nodes half full and searches the
    // tree for each of 100,000 addresses.
    Ok(objects.into_iter().collect())
}

/// How many instances `state` holds.
fn instance_count(state: &State) -> usize {
    state
        .resources
        .iter()
        .map(|resource| resource.instances.len())
        .sum()
}

/// Opens the attributes of every instance of `state` with `key`: what
/// [`prior_objects`] gives, without the rest of each object, for callers that
/// read only the attributes.
pub fn prior_attributes(
    state: &State,
    key: &Key,
) -> Result<BTreeMap<InstanceAddr, Attributes>, StateError> {
    let mut objects = Vec::with_capacity(instance_count(state));
    for resource in &state.resources {
        for instance in &resource.instances {
            objects.push((
                resource.addr.instance(instance.key.clone()),
                open_attributes(key, &instance.attributes)?,
            ));
        }
    }
    Ok(objects.into_iter().collect())
}

/// An instance's recorded attributes, opened (an empty map when they are not
/// an object).
fn open_attributes(
    key: &Key,
    sealed: &crate::state::SealedValue,
) -> Result<Attributes, StateError> {
    Ok(match key.open(sealed, None)?.into_kind() {
        crate::lang::Kind::Map(map) => map,
        _ => Attributes::default(),
    })
}

/// Reads the objects `selected` picks from their providers, at most
/// `parallelism` at once. Objects not picked, or whose read failed, are kept
/// as recorded (a failed read is an error diagnostic).
pub async fn refresh(
    prior: BTreeMap<InstanceAddr, PriorObject>,
    selected: impl Fn(&InstanceAddr) -> bool,
    providers: &ProviderSet,
    parallelism: usize,
) -> (Refreshed, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let mut reads = Vec::new();
    let mut addrs = Vec::new();
    for (addr, prior_object) in &prior {
        // Data sources are read again by the plan itself, not refreshed.
        if !selected(addr) || addr.resource.mode != Mode::Managed {
            continue;
        }
        let Some(provider) = providers
            .lookup(&prior_object.resource_type, &prior_object.provider)
            .cloned()
        else {
            diagnostics.push(missing_provider(addr, &prior_object.provider));
            continue;
        };
        let resource_type = prior_object.resource_type.clone();
        let object = prior_object.object.clone();
        // Jitter only has to differ between reads, not be unpredictable.
        let mut rng = Rng::new(0x5eed ^ (addrs.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        addrs.push(addr.clone());
        reads.push(async move {
            // A transient failure (a timeout, a 429, a 5xx) is retried as the
            // engine retries its calls, so a flaky remote is not reported
            // as an error.
            let read = || provider.read(&resource_type, &object);
            let (result, _retries) = retry_transient(&RetryPolicy::default(), &mut rng, read).await;
            // The prior object's marks decide what of the new reading is
            // secret, by the schema's rule (see `seal_returned`).
            result.map(|now| {
                now.map(|mut now| {
                    if let Some(schema) = provider.schema(&resource_type) {
                        now.attributes = seal_returned(schema, &object.attributes, now.attributes);
                    }
                    now
                })
            })
        });
    }
    let results = run_bounded(parallelism, reads).await;
    let mut objects = prior;
    let mut drift = Vec::new();
    for (addr, result) in addrs.into_iter().zip(results) {
        let Some(prior_object) = objects.get_mut(&addr) else {
            continue;
        };
        match result {
            None => diagnostics.push(provider_panicked(&addr, &prior_object.provider, "read")),
            Some(Err(error)) => diagnostics.push(provider_error(
                &addr,
                &prior_object.provider,
                "read",
                &error,
                None,
            )),
            Some(Ok(None)) => {
                drift.push(Drift {
                    addr: addr.clone(),
                    resource_type: prior_object.resource_type.clone(),
                    kind: DriftKind::Deleted,
                });
                objects.remove(&addr);
            }
            Some(Ok(Some(now))) => {
                let changed = attribute_drift(&prior_object.object.attributes, &now.attributes);
                if !changed.is_empty() {
                    drift.push(Drift {
                        addr: addr.clone(),
                        resource_type: prior_object.resource_type.clone(),
                        kind: DriftKind::Changed(changed),
                    });
                }
                prior_object.object = now;
            }
        }
    }
    (Refreshed { objects, drift }, diagnostics)
}

/// The attributes that differ (secret marks alone are no difference).
fn attribute_drift(before: &Attributes, after: &Attributes) -> Vec<AttributeDrift> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let old = before.get(name).unwrap_or(&Value::NULL);
            let new = after.get(name).unwrap_or(&Value::NULL);
            (!same_ignoring_marks(old, new)).then(|| AttributeDrift {
                name: name.clone(),
                before: old.clone(),
                after: new.clone(),
            })
        })
        .collect()
}

/// No live provider for an instance: for an aliased configuration, its
/// block is gone (an object recorded with it is only ever touched through
/// it); else the provider is not in this build.
pub(super) fn missing_provider(addr: &InstanceAddr, provider: &ProviderAddr) -> Diagnostic {
    Diagnostic::error_at_path(Code::PlanProviderError, Some(addr.to_string()))
        .with_help(missing_provider_help(addr, provider, "planned"))
}

/// The help for an instance without a live provider, which cannot be
/// `doing` (`planned`, `applied`).
pub fn missing_provider_help(addr: &InstanceAddr, provider: &ProviderAddr, doing: &str) -> String {
    match &provider.alias {
        Some(alias) => format!(
            "`{addr}` is managed through provider configuration `{provider}`, and there is no \
             `provider \"{name}\" {{ alias = \"{alias}\" ... }}` block in the root module: put \
             the block back (at least until `{addr}` is destroyed), or `infra state rm {addr}` \
             to forget the object without touching it",
            name = provider.name
        ),
        None => format!(
            "provider `{provider}` is not available in this build of infra, so `{addr}` cannot \
             be {doing}; use a provider that is implemented"
        ),
    }
}

/// A provider call that failed; pointed at the attribute's span when there is one.
pub(super) fn provider_error(
    addr: &InstanceAddr,
    provider: &ProviderAddr,
    doing: &str,
    error: &ProviderError,
    span: Option<Span>,
) -> Diagnostic {
    let help = format!(
        "provider `{provider}` failed to {doing} `{addr}`: {}",
        error.message
    );
    match span {
        Some(span) => Diagnostic::error(Code::PlanProviderError, span, "the provider refused this"),
        None => Diagnostic::error_at_path(Code::PlanProviderError, Some(addr.to_string())),
    }
    .with_help(help)
}

/// A provider call that panicked.
pub(super) fn provider_panicked(
    addr: &InstanceAddr,
    provider: &ProviderAddr,
    doing: &str,
) -> Diagnostic {
    Diagnostic::error_at_path(Code::PlanProviderError, Some(addr.to_string())).with_help(format!(
        "provider `{provider}` crashed while asked to {doing} `{addr}`; report this to the \
         provider's authors"
    ))
}
