//! The apply order: a DAG of the plan's actions, built in time linear in the
//! changes and their dependency edges.
//!
//! Terminology: each change has a *forward* action (create, update, read,
//! no-op, or the create half of a replace) and/or a *delete* action (a delete,
//! or the delete half of a replace). "`z` depends on `x`" when `z`'s resource
//! block references `x`'s resource (from the configuration, or for instances
//! gone from it, from the dependencies the prior state recorded), and names
//! `x`'s key or no key at all: a block that names only `team["payments"]`
//! does not depend on `team["platform"]` ([`Expanded::keyed_dependencies`]).
//!
//! Invariant: for `z` depending on `x`: forward(z) after forward(x);
//! delete(x) after delete(z); and when `x`'s old object outlives its
//! dependents' updates (a plain delete, or a `create_before_destroy`
//! replace), delete(x) after forward(z). A replace is delete → create, or
//! create → delete under `create_before_destroy`.

use crate::addr::{InstanceAddr, ResourceAddr};
use crate::expand::{Expanded, Instance};
use crate::plan::{Action, Change};
use std::collections::{BTreeMap, HashMap};

/// Which half of a change a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Create, update, read, no-op, or the create of a replace.
    Forward,
    /// Delete, or the delete of a replace.
    Delete,
}

/// One action.
#[derive(Debug, Clone)]
pub(super) struct Node {
    /// The change's index in the plan.
    pub change: usize,
    /// Which half.
    pub phase: Phase,
    /// How many actions must finish before this one starts.
    pub waiting: usize,
    /// The actions waiting on this one.
    pub dependents: Vec<usize>,
}

/// The nodes, and for each change its forward and delete node.
#[derive(Debug, Clone, Default)]
pub(super) struct Order {
    pub nodes: Vec<Node>,
    pub forward: Vec<Option<usize>>,
    pub delete: Vec<Option<usize>>,
}

fn phases(action: Action) -> (bool, bool) {
    match action {
        Action::NoOp | Action::Create | Action::Update | Action::Read => (true, false),
        Action::Delete => (false, true),
        Action::Replace { .. } => (true, true),
    }
}

impl Order {
    fn edge(&mut self, before: Option<usize>, after: Option<usize>) {
        let (Some(before), Some(after)) = (before, after) else {
            return;
        };
        if before == after {
            return;
        }
        if let Some(node) = self.nodes.get_mut(before) {
            node.dependents.push(after);
        }
        if let Some(node) = self.nodes.get_mut(after) {
            node.waiting += 1;
        }
    }

    /// Builds the order of `changes`: `instances` (by change, as found in
    /// `expanded`) gives the dependencies of configured instances,
    /// `recorded` those the prior state kept.
    pub fn build(
        changes: &[Change],
        expanded: &Expanded,
        instances: &[Option<&Instance>],
        recorded: &BTreeMap<InstanceAddr, Vec<ResourceAddr>>,
    ) -> Order {
        let mut order = Order {
            nodes: Vec::with_capacity(changes.len() + changes.len() / 4),
            forward: Vec::with_capacity(changes.len()),
            delete: Vec::with_capacity(changes.len()),
        };
        let mut by_resource: HashMap<&ResourceAddr, Vec<usize>> = HashMap::new();
        for (index, change) in changes.iter().enumerate() {
            let (forward, delete) = phases(change.action);
            let mut make = |phase| {
                order.nodes.push(Node {
                    change: index,
                    phase,
                    waiting: 0,
                    dependents: Vec::new(),
                });
                order.nodes.len() - 1
            };
            let forward_node = forward.then(|| make(Phase::Forward));
            let delete_node = delete.then(|| make(Phase::Delete));
            order.forward.push(forward_node);
            order.delete.push(delete_node);
            by_resource
                .entry(&change.addr.resource)
                .or_default()
                .push(index);
        }
        for (index, change) in changes.iter().enumerate() {
            // The two halves of a replace.
            if let Action::Replace {
                create_before_destroy,
            } = change.action
            {
                let (forward, delete) = (at(&order.forward, index), at(&order.delete, index));
                if create_before_destroy {
                    order.edge(forward, delete);
                } else {
                    order.edge(delete, forward);
                }
            }
            let (dependencies, keyed): (&[ResourceAddr], _) =
                match instances.get(index).copied().flatten() {
                    Some(instance) => (
                        &instance.dependencies,
                        expanded.keyed_dependencies.get(&change.addr.resource),
                    ),
                    None => (recorded.get(&change.addr).map_or(&[], Vec::as_slice), None),
                };
            for dependency in dependencies {
                let Some(upstream) = by_resource.get(dependency) else {
                    continue;
                };
                // The keys the block names, when it names the resource only by key.
                let keys = keyed.and_then(|keyed| keyed.get(dependency));
                for &x in upstream {
                    if x == index {
                        continue;
                    }
                    if let (Some(keys), Some(upstream_change)) = (keys, changes.get(x))
                        && !keys.contains(&upstream_change.addr.key)
                    {
                        continue;
                    }
                    let z = index;
                    order.edge(at(&order.forward, x), at(&order.forward, z));
                    order.edge(at(&order.delete, z), at(&order.delete, x));
                    let old_outlives = match changes.get(x).map(|c| c.action) {
                        Some(Action::Delete) => true,
                        Some(Action::Replace {
                            create_before_destroy,
                        }) => create_before_destroy,
                        _ => false,
                    };
                    if old_outlives {
                        order.edge(at(&order.forward, z), at(&order.delete, x));
                    }
                }
            }
        }
        order
    }
}

/// The node at `index` of a per-change table.
fn at(table: &[Option<usize>], index: usize) -> Option<usize> {
    table.get(index).copied().flatten()
}
