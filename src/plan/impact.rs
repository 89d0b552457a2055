//! Impact analysis: the three questions a change request must answer, in
//! every plan. *Blast radius*: for each change to an existing object, the
//! instances downstream of it (that depend on it, directly or through others),
//! counted, the nearest few named. *Downtime risk*: each replace done
//! destroy-then-create on something others depend on, and every change in a
//! protected environment. *Rollback plan*: the state version this apply
//! supersedes, the command that returns to it, and what a rollback cannot
//! undo (data in deleted or replaced objects, generated secrets). And the
//! deletes and replaces a protected environment refuses to apply without
//! `--allow-destroy`: the plan shows them, apply stops on them.
//!
//! Terminology: *downstream* of an instance is every instance that depends on
//! it, transitively, in the configuration or, for instances that leave it, in
//! the prior state. Dependencies are recorded per resource block; a block
//! that names an instance by a literal key (`team["payments"]`) depends on
//! that instance only, any other reference on any instance of the resource
//! ([`crate::graph::keyed_dependencies`]). So the first step from a changed
//! instance follows only the blocks that may use it; past it, every instance
//! of a dependent block is downstream (they share the block's references).
//!
//! Invariant: a chain of single dependents is resolved in one pass from its
//! end (linear); a walk from a resource with several dependents is linear in
//! the graph and stops after [`WALK_LIMIT`] resources (the count is then a
//! lower bound, marked `at_least`); results are remembered per resource (and
//! per resource and dependents, for an instance only some dependents name).
//! So a 100k-instance stack stays fast.
//! Invariant: holds addresses, actions and counts only, never a value, so it
//! is stored in plan files in the clear.

use super::{Action, Change, PriorObject, PriorVersion};
use crate::addr::{InstanceAddr, InstanceKey, ModulePath, ResourceAddr};
use crate::config::SecretSource;
use crate::expand::Expanded;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How many downstream instances a [`Blast`] names.
pub const NAMED: usize = 5;

/// How many resources one downstream walk visits before it stops counting.
pub const WALK_LIMIT: usize = 2_000;

/// What a plan puts at risk.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    /// The changes to existing objects that reach other instances, in plan order.
    pub blast_radius: Vec<Blast>,
    /// What may cause downtime, in plan order.
    pub downtime: Vec<DowntimeRisk>,
    /// How to get back.
    pub rollback: RollbackPlan,
    /// The deletes and replaces that apply refuses, because the environment
    /// is protected and `--allow-destroy` was not given; in plan order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
}

/// A delete or replace that a protected environment refuses to apply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refused {
    /// The instance.
    pub addr: InstanceAddr,
    /// Its change (a delete or a replace).
    pub action: Action,
}

/// One change and what lies downstream of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blast {
    /// The changed instance.
    pub addr: InstanceAddr,
    /// Its change.
    pub action: Action,
    /// How many instances are downstream of it.
    pub downstream: usize,
    /// The walk stopped at 2,000 (`WALK_LIMIT`) resources: `downstream` is a lower bound.
    pub at_least: bool,
    /// The nearest of them (at most 5, `NAMED`).
    pub named: Vec<InstanceAddr>,
}

/// Why a change may cause downtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DowntimeReason {
    /// A replace deletes the object before its replacement exists, and other
    /// instances depend on it.
    DestroyBeforeCreate,
    /// The environment is protected: every change there is a risk.
    ProtectedEnvironment,
}

/// One change that may cause downtime.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DowntimeRisk {
    /// The instance.
    pub addr: InstanceAddr,
    /// Its change.
    pub action: Action,
    /// Why.
    pub reason: DowntimeReason,
    /// How many instances are downstream of it.
    pub dependents: usize,
}

impl DowntimeRisk {
    /// The risk in words (without the address).
    pub fn describe(&self, environment: &str) -> String {
        match self.reason {
            DowntimeReason::DestroyBeforeCreate => format!(
                "is destroyed before its replacement exists; {} downstream instance{} depend{} \
                 on it (set `create_before_destroy = true` to avoid the gap)",
                self.dependents,
                plural(self.dependents),
                if self.dependents == 1 { "s" } else { "" },
            ),
            DowntimeReason::ProtectedEnvironment => {
                format!("changes in protected environment `{environment}`")
            }
        }
    }
}

/// What a rollback cannot undo, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IrreversibleReason {
    /// The object is deleted: a rollback creates a new, empty one.
    Deleted,
    /// The object is replaced: the old one, and the data it holds, is gone.
    Replaced,
    /// A secret is generated by this apply; after a rollback, applying again
    /// generates a different value.
    SecretGenerated,
}

/// One thing a rollback cannot undo.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Irreversible {
    /// The instance address, or `secret.NAME` (module-prefixed).
    pub subject: String,
    /// Why.
    pub reason: IrreversibleReason,
}

impl Irreversible {
    /// The item in words.
    pub fn describe(&self) -> String {
        let subject = &self.subject;
        match self.reason {
            IrreversibleReason::Deleted => {
                format!("data held by `{subject}` is not restored by a rollback (it is deleted)")
            }
            IrreversibleReason::Replaced => format!(
                "data held by `{subject}` is not restored by a rollback (it is replaced by a new object)"
            ),
            IrreversibleReason::SecretGenerated => format!(
                "`{subject}` is generated by this apply; after a rollback, applying again generates \
                 a different value"
            ),
        }
    }
}

/// How to get back to the state before this apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackPlan {
    /// The serial of the state version this apply supersedes; `None` when
    /// there is no prior state.
    pub supersedes: Option<u64>,
    /// `infra rollback --env E --to SERIAL`, when there is something to roll back to.
    pub command: Option<String>,
    /// What a rollback could not undo.
    pub irreversible: Vec<Irreversible>,
}

impl RollbackPlan {
    /// The headline: the command, or why there is none.
    pub fn describe(&self) -> String {
        match (&self.command, self.supersedes) {
            (Some(command), Some(serial)) => {
                format!("`{command}` returns to state serial {serial}")
            }
            _ => String::from(
                "nothing to roll back to (no prior state); `infra destroy` removes what this creates",
            ),
        }
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The resource graph the analysis walks: resources by index, their
/// instances, who depends on each, and the edges that name instance keys.
struct ResourceGraph<'a> {
    index: BTreeMap<&'a ResourceAddr, usize>,
    instances: Vec<Vec<&'a InstanceAddr>>,
    dependents: Vec<Vec<usize>>,
    /// (dependency, dependent) → the only instances of the dependency the
    /// dependent names; an edge not here is on any instance.
    keyed: BTreeMap<(usize, usize), &'a BTreeSet<InstanceKey>>,
}

impl<'a> ResourceGraph<'a> {
    fn new(expanded: &'a Expanded, prior: &'a BTreeMap<InstanceAddr, PriorObject>) -> Self {
        let mut index: BTreeMap<&ResourceAddr, usize> = BTreeMap::new();
        let mut instances: Vec<Vec<&InstanceAddr>> = Vec::new();
        let mut dependencies: Vec<Vec<&ResourceAddr>> = Vec::new();
        let mut add = |addr: &'a InstanceAddr,
                       deps: &'a [ResourceAddr],
                       index: &mut BTreeMap<&'a ResourceAddr, usize>| {
            let next = index.len();
            let at = *index.entry(&addr.resource).or_insert(next);
            if at == instances.len() {
                instances.push(Vec::new());
                dependencies.push(deps.iter().collect());
            } else if let Some(known) = dependencies.get_mut(at) {
                // Instances of one configured resource share their
                // dependencies; prior-only instances may differ.
                for dep in deps {
                    if !known.contains(&dep) {
                        known.push(dep);
                    }
                }
            }
            if let Some(list) = instances.get_mut(at) {
                list.push(addr);
            }
        };
        let mut first_of_resource: Option<&ResourceAddr> = None;
        // Edges of prior-only instances are recorded per resource, on any instance.
        let mut unkeyed: BTreeSet<(&ResourceAddr, &ResourceAddr)> = BTreeSet::new();
        for (addr, instance) in &expanded.instances {
            // Shared per resource: only the first instance's list is read.
            let deps: &[ResourceAddr] = if first_of_resource == Some(&addr.resource) {
                &[]
            } else {
                &instance.dependencies
            };
            first_of_resource = Some(&addr.resource);
            add(addr, deps, &mut index);
        }
        for (addr, object) in prior {
            if !expanded.instances.contains_key(addr) {
                add(addr, &object.dependencies, &mut index);
                unkeyed.extend(object.dependencies.iter().map(|dep| (dep, &addr.resource)));
            }
        }
        let mut keyed = BTreeMap::new();
        for (dependent, dependencies) in expanded.keyed_dependencies.iter() {
            for (dependency, keys) in dependencies {
                if let (Some(&from), Some(&to)) = (index.get(dependency), index.get(dependent))
                    && !unkeyed.contains(&(dependency, dependent))
                {
                    keyed.insert((from, to), keys);
                }
            }
        }
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); instances.len()];
        for (at, deps) in dependencies.iter().enumerate() {
            for dep in deps {
                if let Some(&upstream) = index.get(*dep)
                    && upstream != at
                    && let Some(list) = dependents.get_mut(upstream)
                    && list.last() != Some(&at)
                {
                    list.push(at);
                }
            }
        }
        ResourceGraph {
            index,
            instances,
            dependents,
            keyed,
        }
    }

    /// The resources that depend on instance `key` of resource `at`: those
    /// whose block names it, or names no key (any instance).
    fn dependents_of_instance(&self, at: usize, key: &InstanceKey) -> Vec<usize> {
        self.dependents
            .get(at)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&dependent| {
                self.keyed
                    .get(&(at, dependent))
                    .is_none_or(|keys| keys.contains(key))
            })
            .collect()
    }

    /// Walks downstream of the resources `starts`, which depend on resource
    /// `origin` (and are downstream themselves), nearest first, as
    /// [`ResourceGraph::downstream`] does.
    fn downstream_from(
        &self,
        origin: usize,
        starts: &[usize],
        seen: &mut [usize],
        walk: usize,
    ) -> Downstream<'a> {
        let mut queue = VecDeque::new();
        let mut count = 0usize;
        let mut named = Vec::new();
        if let Some(slot) = seen.get_mut(origin) {
            *slot = walk;
        }
        for &start in starts {
            if seen.get(start).is_none_or(|&last| last == walk) {
                continue;
            }
            if let Some(slot) = seen.get_mut(start) {
                *slot = walk;
            }
            let list = self.instances.get(start).map_or(&[][..], Vec::as_slice);
            count += list.len();
            let room = NAMED.saturating_sub(named.len());
            named.extend(list.iter().take(room).copied());
            queue.push_back(start);
        }
        let walked = Walked {
            count,
            visited: starts.len(),
            named,
        };
        self.walk_queue(queue, walked, seen, walk, &mut 0)
    }

    /// Walks downstream of resource `start`, nearest first: the instance
    /// count, whether the walk stopped early, and the first [`NAMED`].
    /// `seen` holds, per resource, the walk that last saw it; `walk` is this
    /// walk's number (from 1), so no walk clears the whole list. `steps`
    /// counts the dependent links looked at.
    fn downstream(
        &self,
        start: usize,
        seen: &mut [usize],
        walk: usize,
        steps: &mut usize,
    ) -> Downstream<'a> {
        if let Some(slot) = seen.get_mut(start) {
            *slot = walk;
        }
        let walked = Walked {
            count: 0,
            visited: 0,
            named: Vec::new(),
        };
        self.walk_queue(VecDeque::from([start]), walked, seen, walk, steps)
    }

    /// The breadth-first part of [`ResourceGraph::downstream`] and
    /// [`ResourceGraph::downstream_from`]: walks on from the resources in
    /// `queue`, adding to what was `walked` before, until [`WALK_LIMIT`].
    fn walk_queue(
        &self,
        mut queue: VecDeque<usize>,
        walked: Walked<'a>,
        seen: &mut [usize],
        walk: usize,
        steps: &mut usize,
    ) -> Downstream<'a> {
        let Walked {
            mut count,
            mut visited,
            mut named,
        } = walked;
        let mut at_least = false;
        while let Some(resource) = queue.pop_front() {
            for &next in self.dependents.get(resource).into_iter().flatten() {
                *steps += 1;
                if seen.get(next).is_none_or(|&last| last == walk) {
                    continue;
                }
                if visited >= WALK_LIMIT {
                    at_least = true;
                    break;
                }
                if let Some(slot) = seen.get_mut(next) {
                    *slot = walk;
                }
                visited += 1;
                let list = self.instances.get(next).map_or(&[][..], Vec::as_slice);
                count += list.len();
                for addr in list {
                    if named.len() < NAMED {
                        named.push(*addr);
                    }
                }
                queue.push_back(next);
            }
            if at_least {
                break;
            }
        }
        (count, at_least, named)
    }
}

/// What lies downstream of one resource: the instance count, whether the
/// count is a lower bound, the nearest [`NAMED`] instances.
type Downstream<'a> = (usize, bool, Vec<&'a InstanceAddr>);

/// What a downstream walk has found so far: instances counted, resources
/// visited, and the first [`NAMED`] instances.
struct Walked<'a> {
    count: usize,
    visited: usize,
    named: Vec<&'a InstanceAddr>,
}

/// Downstream walks with their results remembered per resource.
struct Walker<'a> {
    memo: BTreeMap<usize, Downstream<'a>>,
    /// Walks from part of a resource's dependents (an instance that some
    /// dependents do not name), by resource and those dependents.
    partial: BTreeMap<(usize, Vec<usize>), Downstream<'a>>,
    seen: Vec<usize>,
    walks: usize,
    /// Links followed, walked or unwound: the work done, which tests compare
    /// across sizes to show it grows linearly.
    steps: usize,
}

impl<'a> Walker<'a> {
    /// Downstream of resource `at`. A resource with exactly one dependent
    /// resource `d` has exactly `d`'s instances plus `d`'s downstream (every
    /// path leaves through `d`, and the graph has no cycle through it), so
    /// chains are resolved from their end in one pass, not walked once per
    /// link; other resources are walked breadth-first.
    fn downstream(&mut self, graph: &ResourceGraph<'a>, at: usize) -> Downstream<'a> {
        if let Some(known) = self.memo.get(&at) {
            return known.clone();
        }
        // Follow single-dependent links to a resource that is known or branches.
        let mut chain = vec![at];
        let mut end = at;
        loop {
            if self.memo.contains_key(&end) {
                chain.pop();
                break;
            }
            match graph.dependents.get(end).map(Vec::as_slice) {
                // The length bound ends a (malformed) cycle of single links.
                Some([only]) if chain.len() <= graph.instances.len() => {
                    self.steps += 1;
                    end = *only;
                    chain.push(end);
                }
                _ => break,
            }
        }
        if !self.memo.contains_key(&end) {
            self.walks += 1;
            let result = graph.downstream(end, &mut self.seen, self.walks, &mut self.steps);
            self.memo.insert(end, result);
            chain.pop();
        }
        // Unwind: each link is its single dependent plus that one's downstream.
        let mut next = end;
        while let Some(link) = chain.pop() {
            self.steps += 1;
            let (count, at_least, named) = self.memo.get(&next).cloned().unwrap_or_default();
            let instances = graph.instances.get(next).map_or(&[][..], Vec::as_slice);
            let mut nearest: Vec<&InstanceAddr> = instances.iter().take(NAMED).copied().collect();
            nearest.extend(named.into_iter().take(NAMED - nearest.len()));
            self.memo
                .insert(link, (count + instances.len(), at_least, nearest));
            next = link;
        }
        self.memo.get(&at).cloned().unwrap_or_default()
    }
}

/// Analyses `changes` (in plan order) against the configuration's and the
/// prior state's dependencies. `allow_destroy` is `--allow-destroy`: without
/// it, a protected environment's deletes and replaces are refused.
pub fn analyze(
    expanded: &Expanded,
    prior: &BTreeMap<InstanceAddr, PriorObject>,
    changes: &[Change],
    prior_version: Option<&PriorVersion>,
    allow_destroy: bool,
) -> Impact {
    analyze_counting_steps(expanded, prior, changes, prior_version, allow_destroy).0
}

/// [`analyze`], plus the number of dependency links it followed (the work
/// done, for tests to compare across sizes).
pub(super) fn analyze_counting_steps(
    expanded: &Expanded,
    prior: &BTreeMap<InstanceAddr, PriorObject>,
    changes: &[Change],
    prior_version: Option<&PriorVersion>,
    allow_destroy: bool,
) -> (Impact, usize) {
    // The graph serves only changes to existing objects: a plan without
    // any (no changes, or only creates) does not build it.
    let touches_existing = |action: &Action| {
        matches!(
            action,
            Action::Update | Action::Replace { .. } | Action::Delete
        )
    };
    let graph = changes
        .iter()
        .any(|change| touches_existing(&change.action))
        .then(|| ResourceGraph::new(expanded, prior));
    let mut walker = Walker {
        memo: BTreeMap::new(),
        partial: BTreeMap::new(),
        seen: vec![0usize; graph.as_ref().map_or(0, |graph| graph.instances.len())],
        walks: 0,
        steps: 0,
    };
    let mut impact = Impact::default();
    let protected = expanded.environment.protected;
    for change in changes {
        let found = graph
            .as_ref()
            .filter(|_| touches_existing(&change.action))
            .and_then(|graph| Some((graph, *graph.index.get(&change.addr.resource)?)));
        let (downstream, at_least, named) = match found {
            Some((graph, at)) => {
                let dependents = graph.dependents_of_instance(at, &change.addr.key);
                if graph.dependents.get(at).map_or(0, Vec::len) == dependents.len() {
                    walker.downstream(graph, at)
                } else {
                    // Some dependents name other instances only: walk from the rest.
                    let key = (at, dependents);
                    match walker.partial.get(&key) {
                        Some(known) => known.clone(),
                        None => {
                            walker.walks += 1;
                            let result =
                                graph.downstream_from(at, &key.1, &mut walker.seen, walker.walks);
                            walker.partial.insert(key, result.clone());
                            result
                        }
                    }
                }
            }
            None => (0, false, Vec::new()),
        };
        let named: Vec<InstanceAddr> = named.into_iter().cloned().collect();
        if downstream > 0 {
            impact.blast_radius.push(Blast {
                addr: change.addr.clone(),
                action: change.action,
                downstream,
                at_least,
                named,
            });
        }
        let risk = |reason| DowntimeRisk {
            addr: change.addr.clone(),
            action: change.action,
            reason,
            dependents: downstream,
        };
        if change.action
            == (Action::Replace {
                create_before_destroy: false,
            })
            && downstream > 0
        {
            impact
                .downtime
                .push(risk(DowntimeReason::DestroyBeforeCreate));
        }
        if protected && !matches!(change.action, Action::NoOp | Action::Read) {
            impact
                .downtime
                .push(risk(DowntimeReason::ProtectedEnvironment));
        }
        let irreversible = match change.action {
            Action::Delete => Some(IrreversibleReason::Deleted),
            Action::Replace { .. } => Some(IrreversibleReason::Replaced),
            _ => None,
        };
        if let Some(reason) = irreversible {
            impact.rollback.irreversible.push(Irreversible {
                subject: change.addr.to_string(),
                reason,
            });
            if protected && !allow_destroy {
                impact.refused.push(Refused {
                    addr: change.addr.clone(),
                    action: change.action,
                });
            }
        }
    }
    for ((module, name), secret) in &expanded.secrets {
        if matches!(secret.source, SecretSource::Generate { .. }) && secret.value.is_unknown() {
            impact.rollback.irreversible.push(Irreversible {
                subject: secret_name(module, name),
                reason: IrreversibleReason::SecretGenerated,
            });
        }
    }
    if let Some(version) = prior_version {
        impact.rollback.supersedes = Some(version.serial);
        impact.rollback.command = Some(format!(
            "infra rollback --env {} --to {}",
            expanded.environment.name, version.serial
        ));
    }
    (impact, walker.steps)
}

fn secret_name(module: &ModulePath, name: &str) -> String {
    if module.is_root() {
        format!("secret.{name}")
    } else {
        format!("{module}.secret.{name}")
    }
}
