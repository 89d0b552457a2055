//! Instance-level dependencies: which instances of a resource another
//! resource's block names. A reference with a literal index
//! (`http_resource.team["payments"].id`, `web[0]`) names one instance; any
//! other (`http_resource.team`, a splat, a computed index, `depends_on`)
//! depends on every instance.
//!
//! Invariant: read from the references alone (no evaluation), so the answer
//! is the same for every environment; a dependency reached by any reference
//! that names no key is on any instance (never narrower than the graph's
//! resource edges).

use crate::addr::{InstanceKey, ResourceAddr};
use crate::config::{Config, RefTarget};
use std::collections::{BTreeMap, BTreeSet};

/// Per dependent resource, the dependencies it names only by key, with those
/// keys. A dependency of the graph that is not listed is on any instance.
pub type KeyedDependencies = BTreeMap<ResourceAddr, BTreeMap<ResourceAddr, BTreeSet<InstanceKey>>>;

/// The instance keys a literal index may stand for: `["0"]` and `[0]` both
/// name `count` instance 0 (the evaluator converts one to the other), so
/// both spellings are kept and a lookup by either matches.
fn spellings(key: &InstanceKey) -> Vec<InstanceKey> {
    match key {
        InstanceKey::Int(index) => vec![key.clone(), InstanceKey::String(index.to_string())],
        InstanceKey::String(text) => match text.parse::<i64>() {
            Ok(index) => vec![key.clone(), InstanceKey::Int(index)],
            Err(_) => vec![key.clone()],
        },
        InstanceKey::None => vec![key.clone()],
    }
}

/// The keyed dependencies of every resource block of `config`.
pub fn keyed_dependencies(config: &Config) -> KeyedDependencies {
    let mut keyed = KeyedDependencies::new();
    for module in config.modules() {
        for resource in module.resources.values() {
            // `None`: some reference names no key (any instance).
            let mut named: BTreeMap<ResourceAddr, Option<BTreeSet<InstanceKey>>> = BTreeMap::new();
            for reference in &resource.references {
                let RefTarget::Resource(mode, resource_type, name) = &reference.target else {
                    continue;
                };
                let dependency = ResourceAddr {
                    module: module.path.clone(),
                    mode: *mode,
                    resource_type: resource_type.clone(),
                    name: name.clone(),
                };
                let keys = named
                    .entry(dependency)
                    .or_insert_with(|| Some(BTreeSet::new()));
                match (keys, &reference.key) {
                    (Some(keys), Some(key)) => keys.extend(spellings(key)),
                    (keys, _) => *keys = None,
                }
            }
            let only_keyed: BTreeMap<ResourceAddr, BTreeSet<InstanceKey>> = named
                .into_iter()
                .filter_map(|(dependency, keys)| Some((dependency, keys?)))
                .filter(|(dependency, _)| *dependency != resource.addr)
                .collect();
            if !only_keyed.is_empty() {
                keyed.insert(resource.addr.clone(), only_keyed);
            }
        }
    }
    keyed
}
