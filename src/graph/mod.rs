//! The dependency graph of a checked stack (petgraph): one node per variable,
//! local, secret, provider configuration, resource, data source, service,
//! module call and output; an edge from each thing to what uses it.
//!
//! Terminology: an edge `a → b` means *b depends on a* (a comes first).
//!
//! Invariant: no providers, no state; the order is deterministic (ties broken by
//! node order); a cycle is `infra::graph::cycle` naming every member.

pub(crate) mod hash;
mod keys;

pub use keys::{KeyedDependencies, keyed_dependencies};

use crate::addr::{Mode, ModulePath, ResourceAddr};
use crate::config::{Config, Module, RefTarget, Reference};
use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeSet, BinaryHeap};
use std::fmt;

/// A thing in the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    /// `var.NAME` in a module.
    Variable(ModulePath, String),
    /// `local.NAME`.
    Local(ModulePath, String),
    /// `secret.NAME`.
    Secret(ModulePath, String),
    /// `provider "NAME"` with an optional alias.
    Provider(ModulePath, String, Option<String>),
    /// A resource or data source (all its instances).
    Resource(ResourceAddr),
    /// `module.NAME`: complete when everything in the child module is.
    ModuleCall(ModulePath),
    /// `output.NAME`.
    Output(ModulePath, String),
}

/// A [`Node`] made of borrowed parts: the graph finds a node by it without
/// building one. A node is always hashed through this form
/// ([`Node::borrowed`]), so the two hash alike by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NodeRef<'a> {
    Variable(&'a ModulePath, &'a str),
    Local(&'a ModulePath, &'a str),
    Secret(&'a ModulePath, &'a str),
    Provider(&'a ModulePath, &'a str, Option<&'a str>),
    Resource(crate::addr::ResourceAddrRef<'a>),
    ModuleCall(&'a ModulePath),
    Output(&'a ModulePath, &'a str),
}

impl Node {
    /// This node, borrowed (see [`NodeRef`]).
    fn borrowed(&self) -> NodeRef<'_> {
        match self {
            Node::Variable(m, n) => NodeRef::Variable(m, n),
            Node::Local(m, n) => NodeRef::Local(m, n),
            Node::Secret(m, n) => NodeRef::Secret(m, n),
            Node::Provider(m, n, a) => NodeRef::Provider(m, n, a.as_deref()),
            Node::Resource(addr) => NodeRef::Resource(addr.borrowed()),
            Node::ModuleCall(m) => NodeRef::ModuleCall(m),
            Node::Output(m, n) => NodeRef::Output(m, n),
        }
    }

    /// The module the node belongs to.
    pub fn module(&self) -> &ModulePath {
        match self {
            Node::Variable(m, _)
            | Node::Local(m, _)
            | Node::Secret(m, _)
            | Node::Provider(m, _, _)
            | Node::ModuleCall(m)
            | Node::Output(m, _) => m,
            Node::Resource(addr) => &addr.module,
        }
    }

    /// A short kind name for renderers ("resource", "variable"...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Node::Variable(..) => "variable",
            Node::Local(..) => "local",
            Node::Secret(..) => "secret",
            Node::Provider(..) => "provider",
            Node::Resource(addr) if addr.mode == Mode::Data => "data",
            Node::Resource(addr) if addr.is_service() => "service",
            Node::Resource(_) => "resource",
            Node::ModuleCall(_) => "module",
            Node::Output(..) => "output",
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = |f: &mut fmt::Formatter<'_>, m: &ModulePath| {
            if m.is_root() {
                Ok(())
            } else {
                write!(f, "{m}.")
            }
        };
        match self {
            Node::Variable(m, n) => {
                prefix(f, m)?;
                write!(f, "var.{n}")
            }
            Node::Local(m, n) => {
                prefix(f, m)?;
                write!(f, "local.{n}")
            }
            Node::Secret(m, n) => {
                prefix(f, m)?;
                write!(f, "secret.{n}")
            }
            Node::Provider(m, n, alias) => {
                prefix(f, m)?;
                match alias {
                    Some(a) => write!(f, "provider.{n}.{a}"),
                    None => write!(f, "provider.{n}"),
                }
            }
            Node::Resource(addr) => write!(f, "{addr}"),
            Node::ModuleCall(path) => write!(f, "{path}"),
            Node::Output(m, n) => {
                prefix(f, m)?;
                write!(f, "output.{n}")
            }
        }
    }
}

/// The dependency graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    graph: DiGraph<Node, Span>,
    /// Every node's index, found by the hash of the node the graph holds
    /// (a map keyed by nodes would hold each a second time).
    index: hashbrown::HashTable<NodeIndex>,
    /// The span of each node, by node index.
    spans: Vec<Span>,
    /// Every node index, in node order (see [`Graph::sort_nodes`]).
    sorted: Vec<NodeIndex>,
    /// The position of each node in `sorted`, by node index.
    rank: Vec<usize>,
    order: Vec<NodeIndex>,
    /// The position of each node in `order`, by node index.
    order_rank: Vec<usize>,
    /// Every edge, for constant-time duplicate checks (petgraph's `find_edge`
    /// scans a node's edges, which is quadratic for a variable used everywhere).
    edge_set: std::collections::HashSet<
        (NodeIndex, NodeIndex),
        std::hash::BuildHasherDefault<hash::FastHasher>,
    >,
}

impl Graph {
    /// How many nodes.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The nodes in dependency order (dependencies first), ties broken by node order.
    /// Empty when the graph has a cycle.
    pub fn order(&self) -> impl Iterator<Item = &Node> {
        self.order.iter().filter_map(|i| self.graph.node_weight(*i))
    }

    /// The nodes in dependency order like [`Graph::order`], each with its
    /// position among the graph's nodes (below [`Graph::len`]), for walks that
    /// keep per-node state in a `Vec`.
    pub fn order_indexed(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.order
            .iter()
            .filter_map(|i| Some((i.index(), self.graph.node_weight(*i)?)))
    }

    /// What the node at `position` (see [`Graph::order_indexed`]) depends on
    /// directly, with their positions, in no particular order.
    pub fn dependencies_at(&self, position: usize) -> impl Iterator<Item = (usize, &Node)> {
        self.graph
            .neighbors_directed(NodeIndex::new(position), petgraph::Direction::Incoming)
            .filter_map(|i| Some((i.index(), self.graph.node_weight(i)?)))
    }

    /// The position of `node` (see [`Graph::order_indexed`]).
    pub fn position(&self, node: &Node) -> Option<usize> {
        self.find(node).map(NodeIndex::index)
    }

    /// [`Graph::position`] of the resource node `addr` (a configuration
    /// address), found without building the node.
    pub fn resource_position(&self, addr: crate::addr::ResourceAddrRef<'_>) -> Option<usize> {
        self.find_ref(NodeRef::Resource(addr)).map(NodeIndex::index)
    }

    /// The nodes at `roots` and everything they depend on, directly or not,
    /// in dependency order like [`Graph::order_indexed`]; a node for which
    /// `leaf` is true is included but what it depends on is not followed
    /// (unless something else reaches it). The cost grows with the nodes
    /// returned and their edges, not with the graph, so a walk over a few
    /// nodes of a large graph stays small. Empty when the graph has a cycle.
    pub fn upstream_in_order(
        &self,
        roots: impl IntoIterator<Item = usize>,
        leaf: impl Fn(&Node) -> bool,
    ) -> Vec<(usize, &Node)> {
        if self.order.is_empty() {
            return Vec::new();
        }
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<usize> = Vec::new();
        for root in roots {
            if root < self.graph.node_count() && seen.insert(root) {
                todo.push(root);
            }
        }
        while let Some(position) = todo.pop() {
            let index = NodeIndex::new(position);
            if self.graph.node_weight(index).is_none_or(&leaf) {
                continue;
            }
            for next in self
                .graph
                .neighbors_directed(index, petgraph::Direction::Incoming)
            {
                if seen.insert(next.index()) {
                    todo.push(next.index());
                }
            }
        }
        let mut positions: Vec<usize> = seen.into_iter().collect();
        positions.sort_unstable_by_key(|position| {
            self.order_rank
                .get(*position)
                .copied()
                .unwrap_or(usize::MAX)
        });
        positions
            .into_iter()
            .filter_map(|position| {
                Some((position, self.graph.node_weight(NodeIndex::new(position))?))
            })
            .collect()
    }

    /// How many nodes depend directly on the node at `position`.
    pub fn dependent_count_at(&self, position: usize) -> usize {
        // No parallel edges (`add_edge` keeps one per pair), so this is
        // `dependents(node).len()`.
        self.graph
            .neighbors_directed(NodeIndex::new(position), petgraph::Direction::Outgoing)
            .count()
    }

    /// Every node, sorted.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.sorted
            .iter()
            .filter_map(|i| self.graph.node_weight(*i))
    }

    /// Every edge as (dependency, dependent), sorted.
    pub fn edges(&self) -> Vec<(&Node, &Node)> {
        let mut edges: Vec<(&Node, &Node)> = self
            .graph
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                Some((self.graph.node_weight(a)?, self.graph.node_weight(b)?))
            })
            .collect();
        edges.sort();
        edges.dedup();
        edges
    }

    /// What `node` depends on directly.
    pub fn dependencies(&self, node: &Node) -> Vec<&Node> {
        self.neighbours(node, petgraph::Direction::Incoming)
    }

    /// What depends on `node` directly.
    pub fn dependents(&self, node: &Node) -> Vec<&Node> {
        self.neighbours(node, petgraph::Direction::Outgoing)
    }

    fn neighbours(&self, node: &Node, direction: petgraph::Direction) -> Vec<&Node> {
        let Some(index) = self.find(node) else {
            return Vec::new();
        };
        let mut out: Vec<&Node> = self
            .graph
            .neighbors_directed(index, direction)
            .filter_map(|i| self.graph.node_weight(i))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Everything that depends on `node`, directly or not (its blast radius).
    pub fn downstream(&self, node: &Node) -> Vec<&Node> {
        self.reach(node, petgraph::Direction::Outgoing)
    }

    /// Everything `node` depends on, directly or not.
    pub fn upstream(&self, node: &Node) -> Vec<&Node> {
        self.reach(node, petgraph::Direction::Incoming)
    }

    fn reach(&self, node: &Node, direction: petgraph::Direction) -> Vec<&Node> {
        let Some(start) = self.find(node) else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(current) = todo.pop() {
            for next in self.graph.neighbors_directed(current, direction) {
                if seen.insert(next) {
                    todo.push(next);
                }
            }
        }
        let mut out: Vec<&Node> = seen
            .into_iter()
            .filter_map(|i| self.graph.node_weight(i))
            .collect();
        out.sort();
        out
    }

    /// The span of the block that defines `node`.
    pub fn span(&self, node: &Node) -> Option<Span> {
        self.find(node)
            .and_then(|i| self.spans.get(i.index()))
            .copied()
    }

    /// Whether the node exists.
    pub fn contains(&self, node: &Node) -> bool {
        self.find(node).is_some()
    }

    /// The hash the index files a node under: always of its borrowed form,
    /// so that [`Graph::find_ref`] finds it without an owned node.
    fn hash(node: NodeRef<'_>) -> u64 {
        use std::hash::BuildHasher;
        std::hash::BuildHasherDefault::<hash::FastHasher>::default().hash_one(node)
    }

    /// The index of `node`, if the graph has it.
    fn find(&self, node: &Node) -> Option<NodeIndex> {
        self.find_ref(node.borrowed())
    }

    /// The index of the node `node` borrows from, if the graph has it.
    fn find_ref(&self, node: NodeRef<'_>) -> Option<NodeIndex> {
        let graph = &self.graph;
        self.index
            .find(Self::hash(node), |&i| {
                graph.node_weight(i).map(Node::borrowed) == Some(node)
            })
            .copied()
    }

    fn add_node(&mut self, node: Node, span: Span) -> NodeIndex {
        let hash = Self::hash(node.borrowed());
        let graph = &mut self.graph;
        match self.index.entry(
            hash,
            |&i| graph.node_weight(i) == Some(&node),
            |&i| graph.node_weight(i).map_or(0, |n| Self::hash(n.borrowed())),
        ) {
            hashbrown::hash_table::Entry::Occupied(entry) => *entry.get(),
            hashbrown::hash_table::Entry::Vacant(entry) => {
                let index = graph.add_node(node);
                entry.insert(index);
                self.spans.push(span);
                index
            }
        }
    }

    /// Sorts the node indices by node, once every node is in.
    fn sort_nodes(&mut self) {
        let graph = &self.graph;
        let mut sorted: Vec<NodeIndex> = graph.node_indices().collect();
        sorted.sort_unstable_by(|a, b| graph.node_weight(*a).cmp(&graph.node_weight(*b)));
        let mut rank = vec![0; sorted.len()];
        for (position, index) in sorted.iter().enumerate() {
            if let Some(r) = rank.get_mut(index.index()) {
                *r = position;
            }
        }
        self.sorted = sorted;
        self.rank = rank;
    }

    fn add_edge(&mut self, dependency: &Node, dependent: &Node, span: Span) {
        if let (Some(a), Some(b)) = (self.find(dependency), self.find(dependent)) {
            self.add_edge_at(a, b, span);
        }
    }

    /// Adds the edge from `a` to `b` unless there is one.
    fn add_edge_at(&mut self, a: NodeIndex, b: NodeIndex, span: Span) {
        if self.edge_set.insert((a, b)) {
            self.graph.add_edge(a, b, span);
        }
    }

    /// Links the nodes `references` (made in `module`) stand for to
    /// `dependent`: each as [`reference_nodes`] gives them, found by borrowed
    /// parts where the reference names them (no node is built for those).
    fn link(&mut self, module: &Module, references: &[Reference], dependent: NodeIndex) {
        let path = &module.path;
        for reference in references {
            let found = match &reference.target {
                RefTarget::Variable(n) => self.find_ref(NodeRef::Variable(path, n)),
                RefTarget::Local(n) => self.find_ref(NodeRef::Local(path, n)),
                RefTarget::Secret(n) => self.find_ref(NodeRef::Secret(path, n)),
                RefTarget::Resource(mode, t, n) => {
                    self.find_ref(NodeRef::Resource(crate::addr::ResourceAddrRef {
                        module: path,
                        mode: *mode,
                        resource_type: t,
                        name: n,
                    }))
                }
                _ => {
                    for dependency in reference_nodes(module, reference) {
                        if let Some(a) = self.find(&dependency) {
                            self.add_edge_at(a, dependent, reference.span);
                        }
                    }
                    continue;
                }
            };
            if let Some(a) = found {
                self.add_edge_at(a, dependent, reference.span);
            }
        }
    }
}

/// Which node a reference made in `module` stands for (none for `each`,
/// `count`, `self`, `env`).
pub fn reference_nodes(module: &Module, reference: &Reference) -> Vec<Node> {
    let path = &module.path;
    match &reference.target {
        RefTarget::Variable(n) => vec![Node::Variable(path.clone(), n.clone())],
        RefTarget::Local(n) => vec![Node::Local(path.clone(), n.clone())],
        RefTarget::Secret(n) => vec![Node::Secret(path.clone(), n.clone())],
        RefTarget::Resource(mode, t, n) => vec![Node::Resource(ResourceAddr {
            module: path.clone(),
            mode: *mode,
            resource_type: t.clone(),
            name: n.clone(),
        })],
        RefTarget::ModuleOutput(m, Some(output)) => {
            vec![Node::Output(path.child(m), output.clone())]
        }
        RefTarget::ModuleOutput(m, None) => vec![Node::ModuleCall(path.child(m))],
        RefTarget::Environment | RefTarget::Each | RefTarget::Count | RefTarget::SelfRef => {
            Vec::new()
        }
    }
}

fn provider_node(
    config: &Config,
    module: &Module,
    provider: &(String, Option<String>),
) -> Option<Node> {
    // A module uses its own provider block, else the nearest ancestor's.
    let mut path = module.path.clone();
    loop {
        let found = config
            .module(&path)
            .is_some_and(|m| m.providers.contains_key(provider));
        if found {
            return Some(Node::Provider(path, provider.0.clone(), provider.1.clone()));
        }
        path = path.split_last()?.0;
    }
}

/// How many nodes [`module_nodes`] gives for `module`.
fn module_node_count(module: &Module) -> usize {
    module.variables.len()
        + module.locals.len()
        + module.secrets.len()
        + module.providers.len()
        + module.resources.len()
        + module.module_calls.len()
        + module.outputs.len()
}

/// The nodes a module holds (not its children's), each with its block's span.
fn module_nodes(module: &Module) -> Vec<(Node, Span)> {
    let path = &module.path;
    let mut nodes = Vec::with_capacity(module_node_count(module));
    for v in module.variables.values() {
        nodes.push((Node::Variable(path.clone(), v.name.clone()), v.span));
    }
    for l in module.locals.values() {
        nodes.push((Node::Local(path.clone(), l.name.clone()), l.span));
    }
    for s in module.secrets.values() {
        nodes.push((Node::Secret(path.clone(), s.name.clone()), s.span));
    }
    for p in module.providers.values() {
        nodes.push((
            Node::Provider(path.clone(), p.name.clone(), p.alias.clone()),
            p.span,
        ));
    }
    for r in module.resources.values() {
        nodes.push((Node::Resource(r.addr.clone()), r.span));
    }
    for call in module.module_calls.values() {
        nodes.push((Node::ModuleCall(path.child(&call.name)), call.span));
    }
    for o in module.outputs.values() {
        nodes.push((Node::Output(path.clone(), o.name.clone()), o.span));
    }
    nodes
}

/// Builds the graph of a checked stack. Cycles are reported, one diagnostic per
/// cycle, each member labelled.
pub fn build(config: &Config) -> (Graph, Diagnostics) {
    let mut graph = Graph::default();
    let modules = config.modules();
    // Exact room: the graph lives as long as the model.
    let count = modules.iter().map(|m| module_node_count(m)).sum();
    graph.graph.reserve_exact_nodes(count);
    graph.index = hashbrown::HashTable::with_capacity(count);
    graph.spans.reserve_exact(count);
    // Nodes first, so edges can find them.
    for module in &modules {
        for (node, span) in module_nodes(module) {
            graph.add_node(node, span);
        }
    }
    graph.sort_nodes();
    for module in &modules {
        let path = &module.path;
        let link = |graph: &mut Graph, references: &[Reference], dependent: &Node| {
            if let Some(index) = graph.find(dependent) {
                graph.link(module, references, index);
            }
        };
        for v in module.variables.values() {
            let node = Node::Variable(path.clone(), v.name.clone());
            for validation in &v.validations {
                // A validation may read other variables; `var.self` reads are not edges.
                let others: Vec<Reference> = validation
                    .references
                    .iter()
                    .filter(|r| r.target != RefTarget::Variable(v.name.clone()))
                    .cloned()
                    .collect();
                link(&mut graph, &others, &node);
            }
        }
        for l in module.locals.values() {
            link(
                &mut graph,
                &l.references,
                &Node::Local(path.clone(), l.name.clone()),
            );
        }
        for p in module.providers.values() {
            link(
                &mut graph,
                &p.references,
                &Node::Provider(path.clone(), p.name.clone(), p.alias.clone()),
            );
        }
        for r in module.resources.values() {
            let Some(index) = graph.find_ref(NodeRef::Resource(r.addr.borrowed())) else {
                continue;
            };
            graph.link(module, &r.references, index);
            if let Some(provider) = provider_node(config, module, &r.provider)
                && let Some(a) = graph.find(&provider)
            {
                graph.add_edge_at(a, index, r.type_span);
            }
        }
        for o in module.outputs.values() {
            link(
                &mut graph,
                &o.references,
                &Node::Output(path.clone(), o.name.clone()),
            );
        }
        for call in module.module_calls.values() {
            let child = &call.module;
            let call_node = Node::ModuleCall(path.child(&call.name));
            // The child's variables take the call's inputs.
            for (name, input) in &call.inputs {
                let variable = Node::Variable(child.path.clone(), name.clone());
                let input_refs: Vec<Reference> = call
                    .references
                    .iter()
                    .filter(|r| {
                        input.value.span.start <= r.span.start && r.span.end <= input.value.span.end
                    })
                    .cloned()
                    .collect();
                link(&mut graph, &input_refs, &variable);
                link(&mut graph, &call.depends_on, &variable);
            }
            // `count` and `for_each` decide which instances of the child
            // exist, so they come before everything in it (and in its own
            // children), as Terraform's "module expansion" does.
            let meta_refs: Vec<Reference> = call
                .references
                .iter()
                .filter(|r| {
                    [&call.count, &call.for_each]
                        .into_iter()
                        .flatten()
                        .any(|e| e.span.start <= r.span.start && r.span.end <= e.span.end)
                })
                .cloned()
                .collect();
            if !meta_refs.is_empty() {
                let mut subtree = vec![&**child];
                while let Some(inner) = subtree.pop() {
                    for (node, _) in module_nodes(inner) {
                        link(&mut graph, &meta_refs, &node);
                    }
                    subtree.extend(inner.module_calls.values().map(|c| &*c.module));
                }
                link(&mut graph, &meta_refs, &call_node);
            }
            // The call is complete when everything inside the child is.
            for r in child.resources.values() {
                graph.add_edge(&Node::Resource(r.addr.clone()), &call_node, call.span);
            }
            for o in child.outputs.values() {
                graph.add_edge(
                    &Node::Output(child.path.clone(), o.name.clone()),
                    &call_node,
                    call.span,
                );
            }
            for grandchild in child.module_calls.keys() {
                graph.add_edge(
                    &Node::ModuleCall(child.path.child(grandchild)),
                    &call_node,
                    call.span,
                );
            }
        }
    }
    let mut diagnostics = Diagnostics::new();
    // Kahn's order reaches every node exactly when there is no cycle (a node
    // on a cycle, or after one, never runs out of dependencies): the search
    // for the cycles themselves runs only when there is one to report.
    let order = deterministic_order(&graph);
    if order.len() < graph.graph.node_count() {
        report_cycles(&graph, &mut diagnostics);
    }
    if !diagnostics.has_errors() {
        graph.order = order;
        let mut order_rank = vec![usize::MAX; graph.graph.node_count()];
        for (rank, index) in graph.order.iter().enumerate() {
            if let Some(slot) = order_rank.get_mut(index.index()) {
                *slot = rank;
            }
        }
        graph.order_rank = order_rank;
    }
    (graph, diagnostics)
}

/// Kahn's algorithm with a min-heap on the node, so the order is the same on
/// every run and does not depend on insertion order.
fn deterministic_order(graph: &Graph) -> Vec<NodeIndex> {
    let g = &graph.graph;
    let mut indegree: Vec<usize> = vec![0; g.node_count()];
    for edge in g.edge_indices() {
        if let Some((_, b)) = g.edge_endpoints(edge)
            && let Some(d) = indegree.get_mut(b.index())
        {
            *d += 1;
        }
    }
    // Ties are broken by node order: by each node's rank in it, which is the
    // same order and compares as an integer.
    let rank = |index: NodeIndex| graph.rank.get(index.index()).copied().unwrap_or(usize::MAX);
    let mut ready: BinaryHeap<std::cmp::Reverse<(usize, NodeIndex)>> = BinaryHeap::new();
    for index in g.node_indices() {
        if indegree.get(index.index()) == Some(&0) {
            ready.push(std::cmp::Reverse((rank(index), index)));
        }
    }
    let mut order = Vec::with_capacity(g.node_count());
    while let Some(std::cmp::Reverse((_, index))) = ready.pop() {
        order.push(index);
        for next in g.neighbors_directed(index, petgraph::Direction::Outgoing) {
            if let Some(d) = indegree.get_mut(next.index()) {
                *d = d.saturating_sub(1);
                if *d == 0 {
                    ready.push(std::cmp::Reverse((rank(next), next)));
                }
            }
        }
    }
    order
}

fn report_cycles(graph: &Graph, diagnostics: &mut Diagnostics) {
    let g = &graph.graph;
    for component in petgraph::algo::tarjan_scc(g) {
        let is_cycle = match component.as_slice() {
            [single] => g.find_edge(*single, *single).is_some(),
            members => members.len() > 1,
        };
        if !is_cycle {
            continue;
        }
        // Walk the cycle from its smallest member so the message is stable.
        let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
        let Some(&start) = component.iter().min_by_key(|i| g.node_weight(**i)) else {
            continue;
        };
        let mut path = vec![start];
        let mut current = start;
        let mut visited = BTreeSet::from([start]);
        loop {
            // Follow the values as they flow (outgoing: what uses current), the
            // way `→` reads in the secret-path help: `local.a → local.b` means
            // `local.b` uses `local.a`.
            let next = g
                .neighbors_directed(current, petgraph::Direction::Outgoing)
                .filter(|n| members.contains(n))
                .min_by_key(|n| (!visited.contains(n) || *n == start, g.node_weight(*n)));
            match next {
                Some(n) if n == start || visited.contains(&n) => break,
                Some(n) => {
                    visited.insert(n);
                    path.push(n);
                    current = n;
                }
                None => break,
            }
        }
        let names: Vec<String> = path
            .iter()
            .filter_map(|i| g.node_weight(*i).map(ToString::to_string))
            .collect();
        let Some(first_name) = names.first() else {
            continue;
        };
        let Some(&first_span) = graph.spans.get(start.index()) else {
            continue;
        };
        let mut chain = names.join(" → ");
        chain.push_str(" → ");
        chain.push_str(first_name);
        let mut diagnostic = Diagnostic::error(
            Code::GraphCycle,
            first_span,
            format!("{first_name} is part of a dependency cycle"),
        )
        .with_help(format!(
            "the cycle is {chain}; break it by removing one of these references or by moving a value into a variable or local that does not depend on the others"
        ));
        for (position, index) in path.iter().enumerate().skip(1) {
            if let (Some(span), Some(name)) = (graph.spans.get(index.index()), names.get(position))
            {
                diagnostic = diagnostic.with_label(*span, format!("{name} is in the cycle"));
            }
        }
        diagnostics.push(diagnostic);
    }
}
