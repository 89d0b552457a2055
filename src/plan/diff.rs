//! Diff: each expanded instance against its refreshed prior object, through the
//! provider's `plan_change`, into [`Change`]s; prior objects that left the
//! configuration become deletes. `lifecycle` is honoured here (`ignore_changes`,
//! `create_before_destroy`, `prevent_destroy`, `replace_triggered_by`), and so
//! is `--target`.
//!
//! Terminology: a resource *inherits* `create_before_destroy` when a resource
//! that sets it depends on it, directly or not (as in Terraform). A replace is
//! *triggered* when a resource named in its `replace_triggered_by` has a
//! create, update or replace in this plan.
//!
//! Invariant: only `Provider::plan_change` is called; unknown values stay
//! unknown and secret marks stay on.

use super::PriorObject;
use super::refresh::{missing_provider, provider_error, provider_panicked};

/// An object recorded with one provider configuration whose block now names
/// another (`provider = ssh.staging` became `ssh.prod`). Planning it through
/// the new one would update or keep an object the new one cannot see (on
/// another host), and deleting it through the new one would miss it: the
/// plan refuses, and says how to move it.
fn moved_between_configurations(
    addr: &InstanceAddr,
    instance: &Instance,
    recorded: &ProviderAddr,
    configured: &ProviderAddr,
) -> Diagnostic {
    Diagnostic::error(
        Code::PlanProviderError,
        instance.span,
        format!("`{addr}` was created through `{recorded}`, and this names `{configured}`"),
    )
    .with_help(format!(
        "infra does not move an object between provider configurations (another host, \
         another account): keep `provider = {recorded}`; or destroy it through `{recorded}` \
         first (remove the block, apply, then add it back with `{configured}`); or forget it \
         with `infra state rm {addr}` and `infra import` it through `{configured}`"
    ))
}
use super::{Action, Change, DriftKind, OutputChange, Reason, Refreshed, Request, run_bounded};
use crate::addr::{InstanceAddr, Mode, ProviderAddr, ResourceAddr, Target};
use crate::config::RefTarget;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::expand::{Expanded, Instance};
use crate::lang::Value;
use crate::providers::provider::{same_ignoring_marks, seal_returned};
use crate::providers::{Attributes, PlannedChange, Provider, ProviderError};
use crate::state::{State, StateError};
use std::collections::{BTreeMap, BTreeSet};

/// The instances a run looks at: all of them, or those the targets select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every instance: a run without targets. Nothing is copied (a stack of
    /// 100,000 instances would otherwise copy 200,000 addresses into a set
    /// only to find each of them there).
    All,
    /// Only these instances.
    Only(BTreeSet<InstanceAddr>),
}

impl Selection {
    /// Whether the run looks at `addr`.
    pub fn contains(&self, addr: &InstanceAddr) -> bool {
        match self {
            Selection::All => true,
            Selection::Only(selected) => selected.contains(addr),
        }
    }
}

/// The instances a run looks at: everything without targets; with targets,
/// the instances they name (in the configuration or the prior state) and,
/// transitively, the configured instances those depend on.
pub(super) fn selection(
    expanded: &Expanded,
    prior: &BTreeMap<InstanceAddr, PriorObject>,
    targets: &[Target],
) -> Selection {
    if targets.is_empty() {
        return Selection::All;
    }
    let targeted = |addr: &InstanceAddr| targets.iter().any(|target| target.contains(addr));
    let mut by_resource: BTreeMap<&ResourceAddr, Vec<&InstanceAddr>> = BTreeMap::new();
    for addr in expanded.instances.keys() {
        by_resource.entry(&addr.resource).or_default().push(addr);
    }
    let mut selected: BTreeSet<InstanceAddr> = prior
        .keys()
        .filter(|addr| targeted(addr))
        .cloned()
        .collect();
    let mut pending: Vec<&InstanceAddr> = expanded
        .instances
        .keys()
        .filter(|addr| targeted(addr))
        .collect();
    while let Some(addr) = pending.pop() {
        if !selected.insert(addr.clone()) {
            continue;
        }
        let Some(instance) = expanded.instances.get(addr) else {
            continue;
        };
        for dependency in instance.dependencies.iter() {
            for upstream in by_resource.get(dependency).into_iter().flatten() {
                if !selected.contains(*upstream) {
                    pending.push(upstream);
                }
            }
        }
    }
    Selection::Only(selected)
}

/// Orders `nodes` (instances and the resources each depends on, sorted by
/// address) so that each comes after what it depends on; ties and cycles
/// fall back to address order. Returns positions in `nodes`, so callers
/// reach what they keep beside each node without a search by address.
fn dependency_order(nodes: &[(&InstanceAddr, &[ResourceAddr])]) -> Vec<usize> {
    // Instances by position in address order: the ready set pops the
    // smallest position, which is the smallest address, so the order is the
    // same as ordering by address, without comparing addresses.
    let count = nodes.len();
    // The addresses are sorted, so a resource's instances are next to each
    // other: grouped in one pass and built in bulk, without a search per
    // instance.
    let mut groups: Vec<(&ResourceAddr, Vec<usize>)> = Vec::new();
    for (position, (addr, _)) in nodes.iter().enumerate() {
        match groups.last_mut() {
            Some((resource, positions)) if **resource == addr.resource => positions.push(position),
            _ => groups.push((&addr.resource, vec![position])),
        }
    }
    let by_resource: BTreeMap<&ResourceAddr, Vec<usize>> = groups.into_iter().collect();
    let mut waiting_on = vec![0usize; count];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut upstream: Vec<usize> = Vec::new();
    for (position, (addr, dependencies)) in nodes.iter().enumerate() {
        upstream.clear();
        upstream.extend(
            dependencies
                .iter()
                .filter(|dependency| **dependency != addr.resource)
                .flat_map(|dependency| by_resource.get(dependency).into_iter().flatten().copied()),
        );
        upstream.sort_unstable();
        upstream.dedup();
        if let Some(count) = waiting_on.get_mut(position) {
            *count = upstream.len();
        }
        for &up in &upstream {
            if let Some(list) = dependents.get_mut(up) {
                list.push(position);
            }
        }
    }
    let mut ready: BTreeSet<usize> = waiting_on
        .iter()
        .enumerate()
        .filter(|(_, count)| **count == 0)
        .map(|(position, _)| position)
        .collect();
    let mut placed = vec![false; count];
    let mut order = Vec::with_capacity(count);
    while let Some(position) = ready.pop_first() {
        if let Some(flag) = placed.get_mut(position) {
            order.push(position);
            *flag = true;
        }
        for &dependent in dependents.get(position).into_iter().flatten() {
            if let Some(count) = waiting_on.get_mut(dependent) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    ready.insert(dependent);
                }
            }
        }
    }
    // A cycle is reported by `graph`; its members still get planned.
    if order.len() < count {
        order.extend(
            placed
                .iter()
                .enumerate()
                .filter(|(_, placed)| !**placed)
                .map(|(position, _)| position),
        );
    }
    order
}

/// The proposed attributes with `ignore_changes` applied: ignored attributes
/// keep the prior object's values.
fn apply_ignore_changes(instance: &Instance, prior: &PriorObject) -> Attributes {
    let mut proposed = instance.attributes.clone();
    let ignored = &instance.lifecycle.ignore_changes;
    if ignored.is_empty() {
        return proposed;
    }
    let all = ignored.iter().any(|name| name == "all");
    let names: Vec<String> = if all {
        proposed.keys().cloned().collect()
    } else {
        ignored.clone()
    };
    for name in names {
        let prior_value = prior.object.attribute(&name).clone();
        proposed.insert(name, prior_value);
    }
    proposed
}

/// Diffs the selected instances into changes, in dependency order.
///
/// A change's `before` is moved out of `refreshed`'s object, not copied:
/// nothing reads a prior object's attributes after the diff (the impact
/// reads its dependencies), and copying them all was 19 MB of a no-op
/// plan's peak at 100,000 instances.
pub async fn diff(
    request: &Request<'_>,
    refreshed: &mut Refreshed,
    selected: &Selection,
) -> (Vec<Change>, Diagnostics) {
    let (mut changes, diagnostics) = diff_lent(request, refreshed, selected).await;
    for change in &mut changes {
        if let Some(before) = &mut change.before
            && let Some(object) = refreshed.objects.get_mut(&change.addr)
        {
            *before = std::mem::take(&mut object.object.attributes);
        }
    }
    (changes, diagnostics)
}

/// [`diff`], each change's `before` an empty map where it is the prior
/// object's attributes.
async fn diff_lent(
    request: &Request<'_>,
    refreshed: &Refreshed,
    selected: &Selection,
) -> (Vec<Change>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let expanded = request.expanded;
    let prior = &refreshed.objects;
    let deleted_outside: BTreeSet<&InstanceAddr> = refreshed
        .drift
        .iter()
        .filter(|drift| drift.kind == DriftKind::Deleted)
        .map(|drift| &drift.addr)
        .collect();

    // Each selected instance with its prior object, in address order: both
    // maps are sorted by address, so the prior objects are walked alongside
    // the instances instead of searched for (at 100k instances the lookups
    // by address were a tenth of a no-op plan).
    let mut prior_entries = prior.iter().peekable();
    let sorted: Vec<(&InstanceAddr, &Instance, Option<&PriorObject>)> = expanded
        .instances
        .iter()
        .filter(|(addr, _)| selected.contains(addr))
        .map(|(addr, instance)| {
            while prior_entries
                .next_if(|(prior_addr, _)| *prior_addr < addr)
                .is_some()
            {}
            let object = prior_entries
                .next_if(|(prior_addr, _)| *prior_addr == addr)
                .map(|(_, object)| object);
            (addr, instance, object)
        })
        .collect();
    let configured: Vec<(&InstanceAddr, &[ResourceAddr])> = sorted
        .iter()
        .map(|(addr, instance, _)| (*addr, &*instance.dependencies))
        .collect();
    // The same entries in dependency order, read by both loops below.
    let entries: Vec<(&InstanceAddr, &Instance, Option<&PriorObject>)> =
        dependency_order(&configured)
            .into_iter()
            .filter_map(|position| sorted.get(position).copied())
            .collect();
    drop(configured);
    drop(sorted);

    // Ask the providers for every managed instance's planned change. Each
    // call (with its copies of the configuration and the prior object) is
    // made when a slot frees up, not all up front.
    let mut called = Vec::new();
    let calls =
        entries
            .iter()
            .enumerate()
            .filter_map(|(index, &(addr, instance, prior_object))| {
                if addr.resource.mode == Mode::Data {
                    return None;
                }
                let configured = ProviderAddr::from_key(&instance.provider);
                let resource_type = addr.resource.resource_type.clone();
                let Some((provider_addr, provider)) = request
                    .providers
                    .resolve(&resource_type, &configured)
                    .map(|(at, provider)| (at, provider.clone()))
                else {
                    diagnostics.push(missing_provider(addr, &configured));
                    return None;
                };
                if let Some(prior_object) = prior_object
                    && prior_object.provider != provider_addr
                {
                    diagnostics.push(moved_between_configurations(
                        addr,
                        instance,
                        &prior_object.provider,
                        &provider_addr,
                    ));
                    return None;
                }
                let proposed = match prior_object {
                    Some(prior_object) => apply_ignore_changes(instance, prior_object),
                    None => instance.attributes.clone(),
                };
                let prior_state = prior_object.map(|p| p.object.clone());
                called.push((index, addr, provider_addr));
                Some(async move {
                    provider
                        .plan_change(&resource_type, prior_state.as_ref(), &proposed)
                        .await
                        .map(|change| sealed(provider.as_ref(), &resource_type, &proposed, change))
                })
            });
    let results = run_bounded(request.parallelism, calls).await;
    // The planned change of `entries[i]` is `planned[i]`.
    let mut planned: Vec<Option<(ProviderAddr, PlannedChange)>> =
        (0..entries.len()).map(|_| None).collect();
    for ((index, addr, provider_addr), result) in called.into_iter().zip(results) {
        match result {
            Some(Ok(change)) => {
                if let Some(slot) = planned.get_mut(index) {
                    *slot = Some((provider_addr, change));
                }
            }
            Some(Err(error)) => {
                let span = error_span(expanded.instances.get(addr), &error);
                diagnostics.push(provider_error(addr, &provider_addr, "plan", &error, span));
            }
            None => diagnostics.push(provider_panicked(addr, &provider_addr, "plan")),
        }
    }

    let inherits_create_before_destroy = create_before_destroy_upstream(expanded);
    // Resources with an instance created, updated or replaced so far (the
    // order puts a `replace_triggered_by` reference before its referrer).
    let mut changed_resources: BTreeSet<ResourceAddr> = BTreeSet::new();
    // Sized once: a change is some 470 bytes, and a list of 100,000 grown
    // by doubling held the old and the new buffer at once at the end of a
    // plan (31 and 62 MB at 100,000).
    let mut changes = Vec::with_capacity(entries.len());
    for (&(addr, instance, prior_object), planned) in entries.iter().zip(&mut planned) {
        if addr.resource.mode == Mode::Data {
            changes.push(Change {
                addr: addr.clone(),
                resource_type: addr.resource.resource_type.clone(),
                provider: ProviderAddr::from_key(&instance.provider),
                action: Action::Read,
                before: None,
                after: instance.attributes.clone(),
                replace_paths: Vec::new(),
                reason: None,
                import_id: None,
                moved_from: None,
                deploy: None,
            });
            continue;
        }
        let Some((provider_addr, mut planned_change)) = planned.take() else {
            continue;
        };
        let create_before_destroy = instance.lifecycle.create_before_destroy
            || inherits_create_before_destroy.contains(&addr.resource);
        let (mut action, mut reason) = match prior_object {
            None if deleted_outside.contains(addr) => {
                (Action::Create, Some(Reason::DeletedOutside))
            }
            None => (Action::Create, None),
            Some(_) if planned_change.replaces() => (
                Action::Replace {
                    create_before_destroy,
                },
                Some(Reason::ReplaceForced),
            ),
            Some(prior_object) => {
                let unchanged = planned_change.planned.iter().all(|(name, value)| {
                    same_ignoring_marks(prior_object.object.attribute(name), value)
                });
                (
                    if unchanged {
                        Action::NoOp
                    } else {
                        Action::Update
                    },
                    None,
                )
            }
        };
        let forced = if !matches!(action, Action::NoOp | Action::Update) {
            None
        } else if request.replace.iter().any(|target| target.contains(addr)) {
            Some(Reason::ReplaceRequested)
        } else if triggered(instance, &changed_resources) {
            Some(Reason::ReplaceTriggered)
        } else {
            None
        };
        if let Some(forced) = forced {
            // Replaced: planned as a new object, so computed values are unknown.
            let resource_type = &addr.resource.resource_type;
            let proposed = match prior_object {
                Some(prior_object) => apply_ignore_changes(instance, prior_object),
                None => instance.attributes.clone(),
            };
            if let Some(provider) = request
                .providers
                .lookup(resource_type, &provider_addr)
                .cloned()
            {
                match provider.plan_change(resource_type, None, &proposed).await {
                    Ok(fresh) => {
                        let fresh = sealed(provider.as_ref(), resource_type, &proposed, fresh);
                        planned_change.planned = fresh.planned;
                        planned_change.requires_replace = Vec::new();
                        action = Action::Replace {
                            create_before_destroy,
                        };
                        reason = Some(forced);
                    }
                    Err(error) => {
                        let span = error_span(Some(instance), &error);
                        diagnostics.push(provider_error(
                            addr,
                            &provider_addr,
                            "plan",
                            &error,
                            span,
                        ));
                    }
                }
            }
        }
        if matches!(
            action,
            Action::Create | Action::Update | Action::Replace { .. }
        ) {
            changed_resources.insert(addr.resource.clone());
        }
        if let Some(error) = destroy_refused(addr, Some(instance), action) {
            diagnostics.push(error);
        }
        // A change of several steps (a service deploy) names them for the plan.
        let deploy = match action {
            Action::Create | Action::Update | Action::Replace { .. } => request
                .providers
                .lookup(&addr.resource.resource_type, &provider_addr)
                .and_then(|provider| {
                    let prior = match action {
                        Action::Update => prior_object.map(|p| &p.object),
                        _ => None,
                    };
                    provider.deploy_steps(
                        &addr.resource.resource_type,
                        prior,
                        &planned_change.planned,
                    )
                }),
            _ => None,
        };
        changes.push(Change {
            addr: addr.clone(),
            resource_type: addr.resource.resource_type.clone(),
            provider: provider_addr,
            action,
            before: prior_object.map(|_| Attributes::new()),
            after: planned_change.planned,
            replace_paths: planned_change.requires_replace,
            reason,
            import_id: None,
            moved_from: None,
            deploy: deploy.map(Box::new),
        });
    }

    // Deletes: prior objects whose instance left the configuration, dependents first.
    // Both maps are sorted by address, so the configuration's addresses are
    // walked alongside the prior objects' instead of looked up.
    let mut configured_addrs = expanded.instances.keys().peekable();
    let removed: Vec<(&InstanceAddr, &PriorObject)> = prior
        .iter()
        .filter(|(addr, _)| {
            while configured_addrs
                .next_if(|configured| configured < addr)
                .is_some()
            {}
            let configured = configured_addrs.peek() == Some(addr);
            // A data source is only read, so one that left the configuration is just dropped.
            addr.resource.mode == Mode::Managed && selected.contains(addr) && !configured
        })
        .collect();
    let removed_nodes: Vec<(&InstanceAddr, &[ResourceAddr])> = removed
        .iter()
        .map(|(addr, object)| (*addr, object.dependencies.as_slice()))
        .collect();
    let mut delete_order = dependency_order(&removed_nodes);
    delete_order.reverse();
    changes.reserve_exact(delete_order.len());
    for position in delete_order {
        let Some(&(addr, object)) = removed.get(position) else {
            continue;
        };
        if let Some(error) = destroy_refused(addr, None, Action::Delete) {
            diagnostics.push(error);
        }
        changes.push(Change {
            addr: addr.clone(),
            resource_type: object.resource_type.clone(),
            provider: object.provider.clone(),
            action: Action::Delete,
            before: Some(Attributes::new()),
            after: Attributes::new(),
            replace_paths: Vec::new(),
            reason: Some(Reason::NoLongerInConfiguration),
            import_id: None,
            moved_from: None,
            deploy: None,
        });
    }
    (changes, diagnostics)
}

/// The span a provider error points at: the attribute's value, else the block.
/// A planned change with secret marks put back by the schema's rule, whatever
/// the provider marked (see [`seal_returned`]): a computed value derived from a
/// secret is planned, shown and saved as a secret.
fn sealed(
    provider: &dyn Provider,
    resource_type: &str,
    proposed: &Attributes,
    mut change: PlannedChange,
) -> PlannedChange {
    if let Some(schema) = provider.schema(resource_type) {
        change.planned = seal_returned(schema, proposed, change.planned);
    }
    change
}

fn error_span(instance: Option<&Instance>, error: &ProviderError) -> Option<crate::diag::Span> {
    let instance = instance?;
    error
        .attribute_path
        .as_ref()
        .and_then(|path| path.first())
        .and_then(|name| instance.attribute_spans.get(name))
        .copied()
        .or(Some(instance.span))
}

/// Whether a resource `instance` names in `replace_triggered_by` has changed
/// (`changed` holds the resources with a create, update or replace so far).
fn triggered(instance: &Instance, changed: &BTreeSet<ResourceAddr>) -> bool {
    instance
        .lifecycle
        .replace_triggered_by
        .iter()
        .any(|reference| match &reference.target {
            RefTarget::Resource(mode, resource_type, name) => changed.contains(&ResourceAddr {
                module: instance.addr.resource.module.clone(),
                mode: *mode,
                resource_type: resource_type.clone(),
                name: name.clone(),
            }),
            _ => false,
        })
}

/// The resources that inherit `create_before_destroy`, as in Terraform: those
/// that set it and everything they depend on, transitively (a resource
/// created before its old self is destroyed cannot wait for a dependency
/// that is destroyed first). One walk over the dependencies.
fn create_before_destroy_upstream(expanded: &Expanded) -> BTreeSet<ResourceAddr> {
    let mut pending: Vec<&ResourceAddr> = expanded
        .instances
        .iter()
        .filter(|(_, instance)| instance.lifecycle.create_before_destroy)
        .map(|(addr, _)| &addr.resource)
        .collect();
    // Most stacks have no `create_before_destroy` at all: then there is
    // nothing to inherit and no map of dependencies to build.
    if pending.is_empty() {
        return BTreeSet::new();
    }
    let mut dependencies: BTreeMap<&ResourceAddr, &[ResourceAddr]> = BTreeMap::new();
    for (addr, instance) in &expanded.instances {
        dependencies
            .entry(&addr.resource)
            .or_insert(&instance.dependencies);
    }
    let mut inherited = BTreeSet::new();
    while let Some(resource) = pending.pop() {
        if !inherited.insert(resource.clone()) {
            continue;
        }
        for dependency in dependencies.get(resource).copied().unwrap_or_default() {
            if !inherited.contains(dependency) {
                pending.push(dependency);
            }
        }
    }
    inherited
}

/// The error for a delete or replace that `prevent_destroy` forbids, if
/// any. A protected environment does not make the plan fail: the plan shows
/// what it would destroy, and apply refuses it ([`super::Impact::refused`]).
fn destroy_refused(
    addr: &InstanceAddr,
    instance: Option<&Instance>,
    action: Action,
) -> Option<Diagnostic> {
    let destroys = matches!(action, Action::Delete | Action::Replace { .. });
    if !destroys {
        return None;
    }
    let what = if action == Action::Delete {
        "delete"
    } else {
        "replace"
    };
    if let Some(instance) = instance
        && instance.lifecycle.prevent_destroy
    {
        return Some(
            Diagnostic::error(
                Code::PlanPreventDestroy,
                instance.span,
                format!("the plan would {what} `{addr}`"),
            )
            .with_help(
                "this resource has `lifecycle { prevent_destroy = true }`; change the \
                 configuration so it is not destroyed, or remove `prevent_destroy` first",
            ),
        );
    }
    None
}

/// The prior state's outputs, opened, with whether each was declared sensitive.
pub(super) fn open_outputs(
    state: &State,
    key: &crate::state::Key,
) -> Result<BTreeMap<String, (Value, bool)>, StateError> {
    state
        .outputs
        .iter()
        .map(|(name, output)| {
            let value = key.open(&output.value, None)?;
            Ok((name.clone(), (value, output.sensitive)))
        })
        .collect()
}

/// How the root module's outputs change.
pub(super) fn output_changes(
    expanded: &Expanded,
    prior: &BTreeMap<String, (Value, bool)>,
) -> Vec<OutputChange> {
    let mut changes: Vec<OutputChange> = expanded
        .outputs
        .iter()
        .map(|(name, output)| {
            let before = prior.get(name).map(|(value, _)| value.clone());
            let action = match &before {
                None => Action::Create,
                Some(before)
                    if !output.value.contains_unknown()
                        && same_ignoring_marks(before, &output.value) =>
                {
                    Action::NoOp
                }
                Some(_) => Action::Update,
            };
            OutputChange {
                name: name.clone(),
                action,
                before,
                after: Some(output.value.clone()),
                sensitive: output.sensitive,
            }
        })
        .collect();
    for (name, (value, sensitive)) in prior {
        if !expanded.outputs.contains_key(name) {
            changes.push(OutputChange {
                name: name.clone(),
                action: Action::Delete,
                before: Some(value.clone()),
                after: None,
                sensitive: *sensitive,
            });
        }
    }
    changes.sort_by(|a, b| a.name.cmp(&b.name));
    changes
}
