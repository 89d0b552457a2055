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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use crate::host::MemoryHost;
    use std::path::Path;

    const STACK: &str = r#"stack "keys" {}

resource "null_resource" "team" {
  for_each = { platform = 1, payments = 2 }
}

resource "null_resource" "web" {
  count = 2
}

resource "null_resource" "billing" {
  inputs = [null_resource.team["payments"].id, null_resource.web[0].id, null_resource.web["1"].id]
}

resource "null_resource" "report" {
  inputs = [for team in null_resource.team : team.id]
}

resource "null_resource" "mixed" {
  inputs     = null_resource.team["payments"].id
  depends_on = [null_resource.team]
}
"#;

    #[test]
    fn only_references_that_all_name_a_key_are_keyed() {
        let host = MemoryHost::new().with_file("/stack/main.infra", STACK);
        let checked = crate::pipeline::check(&host, Path::new("/stack"));
        assert!(
            !checked.diagnostics.has_errors(),
            "{:?}",
            checked.diagnostics
        );
        let keyed = super::keyed_dependencies(&checked.config);
        let shown: Vec<String> = keyed
            .iter()
            .flat_map(|(dependent, dependencies)| {
                dependencies.iter().map(move |(dependency, keys)| {
                    let keys: Vec<String> = keys.iter().map(|key| format!("{key:?}")).collect();
                    format!("{dependent} → {dependency}: {}", keys.join(" "))
                })
            })
            .collect();
        // `report` (a for over the whole resource) and `mixed` (`depends_on`
        // names no key) use any instance; `[0]` and `["1"]` both match either spelling.
        assert_eq!(
            shown,
            [
                "null_resource.billing → null_resource.team: String(\"payments\")",
                "null_resource.billing → null_resource.web: Int(0) Int(1) String(\"0\") String(\"1\")",
            ]
        );
    }
}
