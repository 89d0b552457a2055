//! Adoption: `moved` blocks rename prior instances (state only, no provider
//! call), and `import` blocks read existing objects by id so the diff treats
//! them as prior objects.
//!
//! Terminology: a *move* maps a prior address (`from`) to a configured one
//! (`to`): an instance, a whole resource (every instance, keys kept) or a
//! module (everything under it). Moves *chain*: `a → b` then `b → c` takes an
//! instance at `a` to `c`. An *import* adopts the object with a provider id
//! into an instance that has no prior object.
//!
//! Invariant: moves never call a provider; imports only call
//! `Provider::import`, and only for instances not already in state.
//! Invariant: a move whose destination is already taken (both exist in state,
//! or two instances move to one address) is refused with
//! `infra::plan::moved_conflict`, and nothing is moved for it.

use super::refresh::{provider_error, provider_panicked};
use super::{PriorObject, Request, run_bounded};
use crate::addr::{InstanceAddr, InstanceKey, Target};
use crate::config::Moved;
use crate::diag::{Code, Diagnostic, Diagnostics};
use std::collections::{BTreeMap, BTreeSet};

/// Where one move block takes `addr`, if it applies to it.
fn moved_to(block: &Moved, addr: &InstanceAddr) -> Option<InstanceAddr> {
    match (&block.from, &block.to) {
        (Target::Instance(from), to) if from == addr => match to {
            Target::Instance(to) => Some(to.clone()),
            Target::Resource(to) => Some(to.instance(InstanceKey::None)),
            Target::Module(_) => None,
        },
        (Target::Resource(from), Target::Resource(to)) if &addr.resource == from => {
            Some(to.instance(addr.key.clone()))
        }
        (Target::Resource(from), Target::Instance(to))
            if &addr.resource == from && addr.key == InstanceKey::None =>
        {
            Some(to.clone())
        }
        (Target::Module(from), Target::Module(to)) => {
            let mut resource = addr.resource.clone();
            resource.module = addr.resource.module.moved(from, to)?;
            Some(resource.instance(addr.key.clone()))
        }
        _ => None,
    }
}

/// Follows the chain of moves from `addr`: the final address and the first
/// block that applied, or `None` when no block moves it. Each block applies
/// at most once, so a cycle ends.
fn follow<'a>(moved: &'a [Moved], addr: &InstanceAddr) -> Option<(InstanceAddr, &'a Moved)> {
    let mut current = addr.clone();
    let mut first = None;
    let mut used = vec![false; moved.len()];
    loop {
        let next = moved
            .iter()
            .enumerate()
            .filter(|(index, _)| !used.get(*index).copied().unwrap_or(true))
            .find_map(|(index, block)| moved_to(block, &current).map(|to| (index, block, to)));
        let Some((index, block, to)) = next else {
            break;
        };
        if let Some(slot) = used.get_mut(index) {
            *slot = true;
        }
        first.get_or_insert(block);
        current = to;
    }
    match first {
        Some(block) if current != *addr => Some((current, block)),
        _ => None,
    }
}

/// Applies the `moved` blocks to the prior objects: each moved object is
/// re-keyed at its new address. Returns new address → old address.
pub(super) fn apply_moves(
    prior: &mut BTreeMap<InstanceAddr, PriorObject>,
    moved: &[Moved],
) -> (BTreeMap<InstanceAddr, InstanceAddr>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let mut renamed = BTreeMap::new();
    if moved.is_empty() {
        return (renamed, diagnostics);
    }
    let plans: Vec<(InstanceAddr, InstanceAddr, &Moved)> = prior
        .keys()
        .filter_map(|addr| follow(moved, addr).map(|(to, block)| (addr.clone(), to, block)))
        .collect();
    let moving: BTreeSet<&InstanceAddr> = plans.iter().map(|(from, _, _)| from).collect();
    let mut taken: BTreeSet<InstanceAddr> = BTreeSet::new();
    let mut accepted = Vec::new();
    for (from, to, block) in &plans {
        let occupied = prior.contains_key(to) && !moving.contains(to);
        if occupied || taken.contains(to) {
            let why = if occupied {
                format!("`{to}` is already in state, and `{from}` would move onto it")
            } else {
                format!("more than one instance would move to `{to}` (one of them is `{from}`)")
            };
            diagnostics.push(
                Diagnostic::error(
                    Code::PlanMovedConflict,
                    block.span,
                    format!("this move of `{from}` conflicts"),
                )
                .with_help(format!(
                    "{why}; remove the `moved` block, or move or remove one of the two objects \
                     with `infra state mv` / `infra state rm` first"
                )),
            );
            continue;
        }
        taken.insert(to.clone());
        accepted.push((from.clone(), to.clone()));
    }
    let mut objects = Vec::with_capacity(accepted.len());
    for (from, to) in accepted {
        if let Some(object) = prior.remove(&from) {
            objects.push((from, to, object));
        }
    }
    for (from, to, object) in objects {
        prior.insert(to.clone(), object);
        renamed.insert(to, from);
    }
    (renamed, diagnostics)
}

/// Reads the objects of the `import` blocks whose instance is selected, in the
/// configuration, and not already in state (then the import is a no-op).
/// Returns them as prior objects, with the id each was imported by.
pub(super) async fn import_objects(
    request: &Request<'_>,
    prior: &BTreeMap<InstanceAddr, PriorObject>,
    selected: &super::diff::Selection,
) -> (BTreeMap<InstanceAddr, (String, PriorObject)>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let expanded = request.expanded;
    let mut calls = Vec::new();
    let mut called = Vec::new();
    let mut seen = BTreeSet::new();
    for import in &expanded.imports {
        let addr = &import.to;
        let Some(instance) = expanded.instances.get(addr) else {
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckInvalidAddress,
                    import.span,
                    format!("`{addr}` is not an instance in this environment"),
                )
                .with_help(
                    "import into an instance the configuration declares here (check the \
                     `count` or `for_each` key)",
                ),
            );
            continue;
        };
        if prior.contains_key(addr) || !selected.contains(addr) || !seen.insert(addr.clone()) {
            continue;
        }
        let resource_type = addr.resource.resource_type.clone();
        let configured = crate::addr::ProviderAddr::from_key(&instance.provider);
        let Some((provider_addr, provider)) = request
            .providers
            .resolve(&resource_type, &configured)
            .map(|(at, provider)| (at, provider.clone()))
        else {
            diagnostics.push(super::refresh::missing_provider(addr, &configured));
            continue;
        };
        let id = import.id.clone();
        let configuration = instance.attributes.clone();
        called.push((addr, provider_addr, import));
        // Sealed by the schema's rule from the configuration, as an apply would.
        calls.push(async move {
            provider
                .import(&resource_type, &id)
                .await
                .map(|mut object| {
                    if let Some(schema) = provider.schema(&resource_type) {
                        object.attributes = crate::providers::provider::seal_returned(
                            schema,
                            &configuration,
                            object.attributes,
                        );
                    }
                    object
                })
        });
    }
    let results = run_bounded(request.parallelism, calls).await;
    let mut imported = BTreeMap::new();
    for ((addr, provider_addr, import), result) in called.into_iter().zip(results) {
        match result {
            Some(Ok(object)) => {
                let dependencies = expanded
                    .instances
                    .get(addr)
                    .map(|instance| instance.dependencies.to_vec())
                    .unwrap_or_default();
                imported.insert(
                    addr.clone(),
                    (
                        import.id.clone(),
                        PriorObject {
                            resource_type: addr.resource.resource_type.clone(),
                            provider: provider_addr.clone(),
                            object,
                            dependencies,
                        },
                    ),
                );
            }
            Some(Err(error)) => diagnostics.push(provider_error(
                addr,
                &provider_addr,
                &format!("import (id `{}`)", import.id),
                &error,
                Some(import.span),
            )),
            None => diagnostics.push(provider_panicked(addr, &provider_addr, "import")),
        }
    }
    (imported, diagnostics)
}
