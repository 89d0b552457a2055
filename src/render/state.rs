//! The recorded state of one environment as `infra show` prints it: every
//! resource instance with its attributes, then the outputs, for a terminal,
//! as one JSON document, or as markdown.
//!
//! Invariant: secrets and sensitive outputs are `(secret)` / `(sensitive)`
//! in the human and markdown forms and `null` (with a `sensitive_values`
//! mask) in JSON; no plaintext of a secret is ever produced here.

use super::plan::{redacted, sensitive_mask};
use crate::addr::{InstanceAddr, Mode, ResourceAddr};
use crate::lang::Value;
use std::fmt::Write as _;

/// One opened instance of the state.
#[derive(Debug, Clone)]
pub struct ShownInstance {
    /// Its resource.
    pub resource: ResourceAddr,
    /// Its address.
    pub address: InstanceAddr,
    /// The provider configuration: its local name, `.ALIAS` added for an
    /// aliased block (`ssh.staging`).
    pub provider: String,
    /// The attributes, opened (secrets still marked).
    pub attributes: Value,
    /// What it depended on when applied.
    pub dependencies: Vec<ResourceAddr>,
}

/// One opened output.
#[derive(Debug, Clone)]
pub struct ShownOutput {
    /// Its name.
    pub name: String,
    /// Whether it was declared `sensitive`.
    pub sensitive: bool,
    /// The value, opened (secrets still marked).
    pub value: Value,
}

/// The state of one environment, opened for display.
#[derive(Debug, Clone)]
pub struct ShownState {
    /// The stack.
    pub stack: String,
    /// The environment.
    pub environment: String,
    /// The version's serial.
    pub serial: u64,
    /// The state's lineage.
    pub lineage: String,
    /// Every instance, sorted by address.
    pub instances: Vec<ShownInstance>,
    /// Every output, by name.
    pub outputs: Vec<ShownOutput>,
}

fn output_text(output: &ShownOutput) -> String {
    if output.sensitive {
        String::from("(sensitive)")
    } else {
        output.value.to_string()
    }
}

/// For a terminal: a header, each instance's attributes, the outputs.
pub fn human(state: &ShownState) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "State of stack \"{}\", environment \"{}\": version {}, {} instance{}",
        state.stack,
        state.environment,
        state.serial,
        state.instances.len(),
        if state.instances.len() == 1 { "" } else { "s" }
    );
    for instance in &state.instances {
        out.push('\n');
        out.push_str(&instance_block(instance));
    }
    if !state.outputs.is_empty() {
        out.push_str("\nOutputs:\n");
        let width = state
            .outputs
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(0);
        for output in &state.outputs {
            let _ = writeln!(out, "  {:<width$} = {}", output.name, output_text(output));
        }
    }
    out
}

/// One instance as `infra show` and `infra state show` print it: a
/// `# ADDRESS` heading, the provider, the attributes aligned, what it
/// depended on.
pub fn instance_block(instance: &ShownInstance) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}", instance.address);
    let _ = writeln!(out, "provider = {:?}", instance.provider);
    match instance.attributes.as_map() {
        Some(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0);
            for (name, value) in map {
                let _ = writeln!(out, "{name:<width$} = {value}");
            }
        }
        None => {
            let _ = writeln!(out, "attributes = {}", instance.attributes);
        }
    }
    if !instance.dependencies.is_empty() {
        let names: Vec<String> = instance
            .dependencies
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(out, "depends on: {}", names.join(", "));
    }
    out
}

/// One JSON document: `{format_version, stack, environment, serial,
/// lineage, resources: [...], outputs: {...}}` (docs/json-state.md).
pub fn json(state: &ShownState) -> String {
    let resources: Vec<serde_json::Value> = state
        .instances
        .iter()
        .map(|instance| {
            let mut entry = serde_json::json!({
                "address": instance.address.to_string(),
                "mode": match instance.resource.mode {
                    Mode::Managed => "managed",
                    Mode::Data => "data",
                },
                "type": instance.resource.resource_type,
                "name": instance.resource.name,
                "provider": instance.provider,
                "values": redacted(&instance.attributes),
                "sensitive_values": sensitive_mask(&instance.attributes),
                "depends_on": instance
                    .dependencies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            });
            if !instance.resource.module.is_root()
                && let Some(object) = entry.as_object_mut()
            {
                object.insert(
                    "module".into(),
                    serde_json::Value::String(instance.resource.module.to_string()),
                );
            }
            entry
        })
        .collect();
    let outputs: serde_json::Map<String, serde_json::Value> = state
        .outputs
        .iter()
        .map(|output| {
            let mut entry = serde_json::Map::new();
            entry.insert(
                "sensitive".into(),
                serde_json::Value::Bool(output.sensitive),
            );
            if !output.sensitive {
                entry.insert("value".into(), redacted(&output.value));
            }
            (output.name.clone(), serde_json::Value::Object(entry))
        })
        .collect();
    let document = serde_json::json!({
        "format_version": 1,
        "stack": state.stack,
        "environment": state.environment,
        "serial": state.serial,
        "lineage": state.lineage,
        "resources": resources,
        "outputs": outputs,
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

/// Markdown for an issue or a wiki page: a table of instances and one of outputs.
pub fn markdown(state: &ShownState) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## infra state: <code>{}</code> (stack <code>{}</code>, version {})\n",
        escape(&state.environment),
        escape(&state.stack),
        state.serial
    );
    if state.instances.is_empty() {
        out.push_str("No resources are recorded.\n");
    } else {
        out.push_str("| address | provider | attributes |\n|---|---|---|\n");
        for instance in &state.instances {
            let count = instance.attributes.as_map().map_or(0, |map| map.len());
            let _ = writeln!(
                out,
                "| <code>{}</code> | {} | {} |",
                escape(&instance.address.to_string()),
                escape(&instance.provider),
                count
            );
        }
    }
    if !state.outputs.is_empty() {
        out.push_str("\n| output | value |\n|---|---|\n");
        for output in &state.outputs {
            let _ = writeln!(
                out,
                "| <code>{}</code> | <code>{}</code> |",
                escape(&output.name),
                escape(&output_text(output))
            );
        }
    }
    out
}

/// Escapes text for a markdown table cell inside `<code>`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "&#124;")
        .replace('\n', " ")
}
