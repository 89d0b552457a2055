//! The dependency graph as a DOT or Mermaid document.
//!
//! The graph has one node per block; a module call with `count` or
//! `for_each` says so in its label, and, when the stack was expanded for an
//! environment, lists the module instances it made (`module.site["blog"]`).
//!
//! Invariant: the output is deterministic (nodes and edges sorted) and valid
//! for `dot` and Mermaid (identifiers quoted or escaped).

use crate::addr::ModulePath;
use crate::config::Config;
use crate::graph::{Graph, Node};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Labels that replace a node's name in the drawing (the node's identity
/// stays its name).
pub type Labels = BTreeMap<Node, String>;

/// The labels of the module calls that expand: `module.site (for_each)`,
/// then one line per instance when `instances` (configuration path → module
/// instances, from an expansion) has them.
pub fn module_labels(
    config: &Config,
    instances: Option<&BTreeMap<ModulePath, Vec<ModulePath>>>,
) -> Labels {
    let mut labels = Labels::new();
    for module in config.modules() {
        for call in module.module_calls.values() {
            let meta = if call.for_each.is_some() {
                "for_each"
            } else if call.count.is_some() {
                "count"
            } else {
                continue;
            };
            let path = module.path.child(&call.name);
            let mut label = format!("{path} ({meta})");
            if let Some(made) = instances.and_then(|all| all.get(&path)) {
                if made.is_empty() {
                    label.push_str("\nno instances");
                }
                for instance in made {
                    let _ = write!(label, "\n{instance}");
                }
            }
            labels.insert(Node::ModuleCall(path), label);
        }
    }
    labels
}

fn dot_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn shape(node: &Node) -> &'static str {
    match node {
        Node::Variable(..) => "ellipse",
        Node::Local(..) => "note",
        Node::Secret(..) => "octagon",
        Node::Provider(..) => "component",
        Node::Resource(_) => "box",
        Node::Service(..) => "box3d",
        Node::ModuleCall(_) => "folder",
        Node::Output(..) => "cds",
    }
}

/// A DOT digraph: an edge `a -> b` means b depends on a.
pub fn dot(graph: &Graph, labels: &Labels) -> String {
    let mut out =
        String::from("digraph infra {\n  rankdir = \"LR\";\n  node [fontname = \"Helvetica\"];\n");
    for node in graph.nodes() {
        let name = node.to_string();
        let label = labels.get(node).unwrap_or(&name);
        let _ = writeln!(
            out,
            "  {} [shape = {}, label = {}];",
            dot_quote(&name),
            shape(node),
            dot_quote(label)
        );
    }
    for (from, to) in graph.edges() {
        let _ = writeln!(
            out,
            "  {} -> {};",
            dot_quote(&from.to_string()),
            dot_quote(&to.to_string())
        );
    }
    out.push_str("}\n");
    out
}

fn mermaid_label(text: &str) -> String {
    // Mermaid labels in quotes may not contain a double quote; use its entity.
    text.replace('"', "#quot;")
}

/// A Mermaid flowchart: an edge `a --> b` means b depends on a.
pub fn mermaid(graph: &Graph, labels: &Labels) -> String {
    let mut out = String::from("flowchart LR\n");
    let ids: std::collections::BTreeMap<&Node, String> = graph
        .nodes()
        .enumerate()
        .map(|(i, n)| (n, format!("n{i}")))
        .collect();
    for (node, id) in &ids {
        let name = node.to_string();
        let label = mermaid_label(labels.get(*node).unwrap_or(&name)).replace('\n', "<br>");
        let (open, close) = match node {
            Node::Variable(..) | Node::Output(..) => ("([\"", "\"])"),
            Node::Secret(..) => ("{{\"", "\"}}"),
            Node::ModuleCall(_) => ("[[\"", "\"]]"),
            Node::Local(..) => ("(\"", "\")"),
            _ => ("[\"", "\"]"),
        };
        let _ = writeln!(out, "  {id}{open}{label}{close}");
    }
    for (from, to) in graph.edges() {
        if let (Some(a), Some(b)) = (ids.get(from), ids.get(to)) {
            let _ = writeln!(out, "  {a} --> {b}");
        }
    }
    out
}
