//! The input document every policy sees (documented in `docs/policy.md`):
//! `input.plan` (the JSON plan of `docs/json-plan.md`, every secret as
//! `"(secret)"`), `input.config` (the configuration evaluated for the
//! environment), `input.environment` and `input.stack`.
//!
//! Invariant: no secret value is ever written into the document: the plan's
//! secrets are replaced where its `*_sensitive` masks say so, and the
//! configuration's values are converted by [`value_json`], which writes
//! `"(secret)"` for every value marked secret.

use crate::addr::Mode;
use crate::config::Config;
use crate::diag::SourceMap;
use crate::expand::Expanded;
use crate::lang::{Kind, Number, Value};
use crate::plan::Plan;
use serde_json::{Map, Value as Json, json};

/// What stands in for a secret value.
pub const SECRET: &str = "(secret)";

/// The whole input document, as the engine takes it. Its two large parts,
/// `plan` and `config`, are built and converted on two threads.
pub fn document(
    plan: &Plan,
    expanded: &Expanded,
    config: &Config,
    sources: &SourceMap,
) -> regorus::Value {
    let (plan_part, config_part) = std::thread::scope(|scope| {
        let plan_thread = std::thread::Builder::new()
            .name("infra-policy-input".into())
            .spawn_scoped(scope, || regorus::Value::from(plan_document(plan)));
        let config_part = regorus::Value::from(config_document(expanded, sources));
        let plan_part = match plan_thread {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: build it here.
            Err(_) => regorus::Value::from(plan_document(plan)),
        };
        (plan_part, config_part)
    });
    let rest = regorus::Value::from(json!({
        "environment": {
            "name": plan.environment.name,
            "protected": plan.environment.protected,
        },
        "stack": {
            "name": config.stack.name,
            "state": config.stack.state,
            "environments": config.environments.keys().collect::<Vec<_>>(),
        },
    }));
    let mut entries = std::collections::BTreeMap::new();
    entries.insert(regorus::Value::from("plan"), plan_part);
    entries.insert(regorus::Value::from("config"), config_part);
    for key in ["environment", "stack"] {
        entries.insert(regorus::Value::from(key), rest[key].clone());
    }
    regorus::Value::from(entries)
}

/// The JSON plan with `"(secret)"` wherever a `*_sensitive` mask is `true`.
pub fn plan_document(plan: &Plan) -> Json {
    let mut document = crate::render::plan::json_document(plan);
    if let Some(changes) = document
        .get_mut("resource_changes")
        .and_then(Json::as_array_mut)
    {
        for change in changes {
            mark_pair(change, "before", "before_sensitive");
            mark_pair(change, "after", "after_sensitive");
        }
    }
    if let Some(outputs) = document
        .get_mut("output_changes")
        .and_then(Json::as_object_mut)
    {
        for output in outputs.values_mut() {
            mark_pair(output, "before", "before_sensitive");
            mark_pair(output, "after", "after_sensitive");
        }
    }
    if let Some(drifts) = document
        .get_mut("resource_drift")
        .and_then(Json::as_array_mut)
    {
        for drift in drifts {
            if let Some(attributes) = drift.get_mut("attributes").and_then(Json::as_array_mut) {
                for attribute in attributes {
                    mark_pair(attribute, "before", "before_sensitive");
                    mark_pair(attribute, "after", "after_sensitive");
                }
            }
        }
    }
    document
}

/// Puts `"(secret)"` into `object[value]` where `object[mask]` is `true`.
fn mark_pair(object: &mut Json, value: &str, mask: &str) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    let mask = object.get(mask).cloned().unwrap_or(Json::Bool(false));
    if let Some(value) = object.get_mut(value) {
        mark(value, &mask);
    }
}

fn mark(value: &mut Json, mask: &Json) {
    match (value, mask) {
        (value, Json::Bool(true)) => *value = Json::String(SECRET.to_owned()),
        (Json::Array(items), Json::Array(masks)) => {
            for (item, mask) in items.iter_mut().zip(masks) {
                mark(item, mask);
            }
        }
        (Json::Object(entries), Json::Object(masks)) => {
            for (key, item) in entries.iter_mut() {
                if let Some(mask) = masks.get(key) {
                    mark(item, mask);
                }
            }
        }
        _ => {}
    }
}

/// `input.config`: variables, resources (configured attributes, file and
/// line), outputs and the names of the secrets.
fn config_document(expanded: &Expanded, sources: &SourceMap) -> Json {
    let resources: Vec<Json> = expanded
        .instances
        .values()
        .map(|instance| {
            let (file, line) = sources.get(instance.span.file).map_or_else(
                || (String::new(), 0),
                |source| {
                    (
                        source.name.clone(),
                        source.line_col(instance.span.start()).line,
                    )
                },
            );
            let addr = &instance.addr;
            json!({
                "address": addr.to_string(),
                "resource": addr.resource.to_string(),
                "mode": match addr.resource.mode {
                    Mode::Managed => "managed",
                    Mode::Data => "data",
                },
                "type": addr.resource.resource_type,
                "name": addr.resource.name,
                "module": addr.resource.module.to_string(),
                "provider": instance.provider.0,
                "attributes": map_json(&instance.configured()),
                "file": file,
                "line": line,
            })
        })
        .collect();
    let outputs: Map<String, Json> = expanded
        .outputs
        .iter()
        .map(|(name, output)| {
            let value = if output.sensitive {
                Json::String(SECRET.to_owned())
            } else {
                value_json(&output.value)
            };
            (
                name.clone(),
                json!({ "sensitive": output.sensitive, "value": value }),
            )
        })
        .collect();
    let secrets: Vec<String> = expanded
        .secrets
        .keys()
        .map(|(module, name)| crate::pipeline::secret_key(module, name))
        .collect();
    json!({
        "variables": map_json(&expanded.variables),
        "resources": resources,
        "outputs": outputs,
        "secrets": secrets,
    })
}

fn map_json(map: &crate::lang::Map) -> Json {
    Json::Object(
        map.iter()
            .map(|(key, value)| (key.clone(), value_json(value)))
            .collect(),
    )
}

/// A value as JSON: a secret (or anything holding one) is `"(secret)"`, an
/// unknown is `null`.
pub fn value_json(value: &Value) -> Json {
    if value.is_secret() {
        return Json::String(SECRET.to_owned());
    }
    match value.kind() {
        Kind::Null | Kind::Unknown => Json::Null,
        Kind::Bool(b) => Json::Bool(*b),
        Kind::Number(Number::Int(i)) => Json::from(*i),
        Kind::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number)
        }
        Kind::String(s) => Json::String(s.clone()),
        Kind::List(items) => Json::Array(items.iter().map(value_json).collect()),
        Kind::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), value_json(v)))
                .collect(),
        ),
    }
}
