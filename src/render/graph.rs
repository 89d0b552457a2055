//! The dependency graph as a DOT or Mermaid document.
//!
//! Invariant: the output is deterministic (nodes and edges sorted) and valid
//! for `dot` and Mermaid (identifiers quoted or escaped).

use crate::graph::{Graph, Node};
use std::fmt::Write as _;

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
        Node::Resource(addr) if addr.is_service() => "box3d",
        Node::Resource(_) => "box",
        Node::ModuleCall(_) => "folder",
        Node::Output(..) => "cds",
    }
}

/// A DOT digraph: an edge `a -> b` means b depends on a.
pub fn dot(graph: &Graph) -> String {
    let mut out =
        String::from("digraph infra {\n  rankdir = \"LR\";\n  node [fontname = \"Helvetica\"];\n");
    for node in graph.nodes() {
        let name = node.to_string();
        let _ = writeln!(
            out,
            "  {} [shape = {}, label = {}];",
            dot_quote(&name),
            shape(node),
            dot_quote(&name)
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
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let ids: std::collections::BTreeMap<&Node, String> = graph
        .nodes()
        .enumerate()
        .map(|(i, n)| (n, format!("n{i}")))
        .collect();
    for (node, id) in &ids {
        let label = mermaid_label(&node.to_string());
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
