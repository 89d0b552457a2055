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
use crate::providers::{Attributes, ObjectState, ProviderError, ProviderSet, Registry};
use crate::state::{Key, State, StateError};
use std::collections::BTreeMap;

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
            objects.push(prior_object(
                (&resource.addr, &resource.provider),
                &instance.key,
                attributes,
                instance.dependencies.clone(),
            ));
        }
    }
    // Collected at once, the map is built in bulk (sorted once, every node
    // full); inserting one by one splits nodes half full and searches the
    // tree for each of 100,000 addresses.
    Ok(objects.into_iter().collect())
}

/// [`prior_objects`], each object's parts moved out of `state` rather than
/// copied: its recorded attributes are opened and dropped, its dependencies
/// moved, and its recorded configuration (which a plan does not read)
/// dropped. What is left of `state` are its addresses, instance keys,
/// outputs, lineage and serial.
pub(super) fn take_prior_objects(
    state: &mut State,
    key: &Key,
) -> Result<BTreeMap<InstanceAddr, PriorObject>, StateError> {
    let mut objects = Vec::with_capacity(instance_count(state));
    for resource in &mut state.resources {
        for instance in &mut resource.instances {
            let attributes = open_attributes(key, &instance.attributes)?;
            // Freed as each object is made, so what the objects allocate
            // takes the room of what they replace.
            instance.attributes = crate::state::SealedValue::default();
            instance.config = crate::state::SealedValue::default();
            let dependencies = std::mem::take(&mut instance.dependencies);
            let owner = (&resource.addr, &resource.provider);
            objects.push(prior_object(owner, &instance.key, attributes, dependencies));
        }
    }
    Ok(objects.into_iter().collect())
}

/// The prior object of instance `key` of the resource `owner` (its
/// address and provider), with its opened `attributes` and its
/// `dependencies`, by its address.
fn prior_object(
    owner: (&ResourceAddr, &ProviderAddr),
    key: &crate::addr::InstanceKey,
    attributes: Attributes,
    dependencies: Vec<ResourceAddr>,
) -> (InstanceAddr, PriorObject) {
    let (addr, provider) = owner;
    let id = attributes
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    (
        addr.instance(key.clone()),
        PriorObject {
            resource_type: addr.resource_type.clone(),
            provider: provider.clone(),
            object: ObjectState { id, attributes },
            dependencies,
        },
    )
}

/// How many instances `state` holds.
fn instance_count(state: &State) -> usize {
    state
        .resources
        .iter()
        .map(|resource| resource.instances.len())
        .sum()
}

/// Opens, for every instance of `state`, what an expansion reads of it as a
/// known object (see `expand::Request::known_objects`): the attributes its
/// schema in `registry` computes. The configuration sets the others, so an
/// expansion never reads them, and at 100,000 instances opening them all
/// held a second copy of every object's inputs for the whole plan. An
/// instance of a type `registry` does not know keeps every attribute.
pub fn prior_attributes(
    state: &State,
    key: &Key,
    registry: &Registry,
) -> Result<BTreeMap<InstanceAddr, Attributes>, StateError> {
    let mut objects = Vec::with_capacity(instance_count(state));
    for resource in &state.resources {
        let resource_type = &resource.addr.resource_type;
        let schema = match resource.addr.mode {
            Mode::Managed => registry.resource(resource_type),
            Mode::Data => registry.data_source(resource_type),
        };
        let computed: Option<Vec<&str>> = schema.map(|schema| {
            schema
                .attributes
                .iter()
                .filter(|attribute| attribute.computed())
                .map(|attribute| attribute.name)
                .collect()
        });
        for instance in &resource.instances {
            let attributes = match &computed {
                Some(names) => open_named(key, &instance.attributes, names)?,
                None => open_attributes(key, &instance.attributes)?,
            };
            objects.push((resource.addr.instance(instance.key.clone()), attributes));
        }
    }
    Ok(objects.into_iter().collect())
}

/// The attributes `names` of an instance's recorded attributes, opened. When
/// nothing in them is sealed, only those attributes are converted; otherwise
/// the whole value is opened (a sealed part may lie anywhere) and the rest
/// dropped.
fn open_named(
    key: &Key,
    sealed: &crate::state::SealedValue,
    names: &[&str],
) -> Result<Attributes, StateError> {
    if sealed.sensitive_paths.is_empty()
        && let crate::state::Json::Object(entries) = &sealed.json
    {
        return Ok(entries
            .iter()
            .filter(|(name, _)| names.contains(&&**name))
            .map(|(name, json)| (name.to_string(), json.to_value()))
            .collect());
    }
    let mut attributes = open_attributes(key, sealed)?;
    attributes.retain(|name, _| names.contains(&name.as_str()));
    Ok(attributes)
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
    let mut addrs = Vec::with_capacity(prior.len());
    // Each read (with its copy of the object) is made when a slot frees up,
    // not all up front.
    let reads = prior.iter().filter_map(|(addr, prior_object)| {
        // Data sources are read again by the plan itself, not refreshed.
        if !selected(addr) || addr.resource.mode != Mode::Managed {
            return None;
        }
        let Some(provider) = providers
            .lookup(&prior_object.resource_type, &prior_object.provider)
            .cloned()
        else {
            diagnostics.push(missing_provider(addr, &prior_object.provider));
            return None;
        };
        // Nothing of an effect-free object exists outside the state, so
        // reading it would only give back what was recorded.
        if provider.effect_free(&prior_object.resource_type) {
            return None;
        }
        let resource_type = prior_object.resource_type.clone();
        let object = prior_object.object.clone();
        // Jitter only has to differ between reads, not be unpredictable.
        let mut rng = Rng::new(0x5eed ^ (addrs.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        addrs.push(addr.clone());
        Some(async move {
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
        })
    });
    let results = run_bounded(parallelism, reads).await;
    let mut objects = prior;
    let mut drift = Vec::new();
    let mut deleted = Vec::new();
    // `addrs` are in address order, some of the objects' own: each object is
    // found by walking the map alongside, not by a search.
    let mut entries = objects.iter_mut();
    for (addr, result) in addrs.into_iter().zip(results) {
        let Some((_, prior_object)) = entries.by_ref().find(|(at, _)| **at == addr) else {
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
                deleted.push(addr);
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
    for addr in &deleted {
        objects.remove(addr);
    }
    (Refreshed { objects, drift }, diagnostics)
}

/// The attributes that differ (secret marks alone are no difference), by name.
pub(super) fn attribute_drift(before: &Attributes, after: &Attributes) -> Vec<AttributeDrift> {
    // Both maps are sorted by name: walked side by side, an attribute that
    // only one has is `null` in the other.
    let mut drift = Vec::new();
    let mut old_entries = before.iter().peekable();
    let mut new_entries = after.iter().peekable();
    loop {
        let (name, old, new) = match (old_entries.peek(), new_entries.peek()) {
            (None, None) => break,
            (Some((old_name, _)), Some((new_name, _))) if old_name == new_name => {
                match (old_entries.next(), new_entries.next()) {
                    (Some((name, old)), Some((_, new))) => (name, old, new),
                    _ => break,
                }
            }
            (Some((old_name, _)), new_name)
                if new_name.is_none_or(|(new_name, _)| old_name < new_name) =>
            {
                match old_entries.next() {
                    Some((name, old)) => (name, old, &Value::NULL),
                    None => break,
                }
            }
            _ => match new_entries.next() {
                Some((name, new)) => (name, &Value::NULL, new),
                None => break,
            },
        };
        if !same_ignoring_marks(old, new) {
            drift.push(AttributeDrift {
                name: name.clone(),
                before: old.clone(),
                after: new.clone(),
            });
        }
    }
    drift
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
