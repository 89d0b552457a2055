//! The input document every policy sees (documented in `docs/policy.md`):
//! `input.plan` (the JSON plan of `docs/json-plan.md`, every secret as
//! `"(secret)"`), `input.config` (the configuration evaluated for the
//! environment), `input.environment` and `input.stack`.
//!
//! Invariant: no secret value is ever written into the document: the plan's
//! secrets are replaced where its `*_sensitive` masks say so, and the
//! configuration's values are converted by `value` (below), which writes
//! `"(secret)"` for every value marked secret.

use crate::addr::Mode;
use crate::config::Config;
use crate::diag::SourceMap;
use crate::expand::Expanded;
use crate::lang::{Kind, Number, Value};
use crate::plan::Plan;
use regorus::Value as Rego;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// What stands in for a secret value.
pub const SECRET: &str = "(secret)";

/// The whole input document, as the engine takes it. Its two large parts,
/// `plan` and `config`, are built on two threads, each straight into the
/// engine's values (no serde round trip: converting a `serde_json::Value`
/// with regorus's `From` deserializes it through serde, which cost as much
/// as building it).
pub fn document(plan: &Plan, expanded: &Expanded, config: &Config, sources: &SourceMap) -> Rego {
    let (plan_part, config_part) = std::thread::scope(|scope| {
        let plan_thread = std::thread::Builder::new()
            .name("infra-policy-input".into())
            .spawn_scoped(scope, || from_json(plan_document(plan)));
        let config_part = config_document(expanded, sources);
        let plan_part = match plan_thread {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: build it here.
            Err(_) => from_json(plan_document(plan)),
        };
        (plan_part, config_part)
    });
    let environment = object([
        ("name", Rego::from(plan.environment.name.as_str())),
        ("protected", Rego::Bool(plan.environment.protected)),
    ]);
    let stack = object([
        ("name", Rego::from(config.stack.name.as_str())),
        ("state", Rego::from(config.stack.state.as_str())),
        (
            "environments",
            Rego::from(
                config
                    .environments
                    .keys()
                    .map(|name| Rego::from(name.as_str()))
                    .collect::<Vec<_>>(),
            ),
        ),
    ]);
    object([
        ("plan", plan_part),
        ("config", config_part),
        ("environment", environment),
        ("stack", stack),
    ])
}

/// An object of string keys.
fn object<const N: usize>(entries: [(&str, Rego); N]) -> Rego {
    Rego::from(
        entries
            .into_iter()
            .map(|(key, value)| (Rego::from(key), value))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// A JSON value as the engine's value, as regorus's `From<serde_json::Value>`
/// makes it (a non-negative integer as `u64`, a negative one as `i64`, any
/// other number as `f64`), without going through serde.
pub fn from_json(json: Json) -> Rego {
    match json {
        Json::Null => Rego::Null,
        Json::Bool(b) => Rego::Bool(b),
        Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Rego::from(u),
            (None, Some(i), _) => Rego::from(i),
            (None, None, Some(f)) if f.is_finite() => Rego::from(f),
            _ => Rego::Null,
        },
        Json::String(s) => Rego::from(s),
        Json::Array(items) => Rego::from(items.into_iter().map(from_json).collect::<Vec<_>>()),
        Json::Object(entries) => Rego::from(
            entries
                .into_iter()
                .map(|(key, value)| (Rego::from(key), from_json(value)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
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
fn config_document(expanded: &Expanded, sources: &SourceMap) -> Rego {
    let resources: Vec<Rego> = expanded
        .instances
        .values()
        .map(|instance| {
            let (file, line) = sources.get(instance.span.file).map_or_else(
                || (Rego::from(""), 0),
                |source| {
                    (
                        Rego::from(source.name.as_str()),
                        source.line_col(instance.span.start()).line,
                    )
                },
            );
            let addr = &instance.addr;
            object([
                ("address", Rego::from(addr.to_string())),
                ("resource", Rego::from(addr.resource.to_string())),
                (
                    "mode",
                    Rego::from(match addr.resource.mode {
                        Mode::Managed => "managed",
                        Mode::Data => "data",
                    }),
                ),
                ("type", Rego::from(addr.resource.resource_type.as_str())),
                ("name", Rego::from(addr.resource.name.as_str())),
                ("module", Rego::from(addr.resource.module.to_string())),
                // `ssh.staging` for an aliased block, as `input.plan` names it.
                (
                    "provider",
                    Rego::from(crate::addr::ProviderAddr::from_key(&instance.provider).to_string()),
                ),
                ("attributes", map_value(&instance.configured())),
                ("file", file),
                ("line", Rego::from(line)),
            ])
        })
        .collect();
    let outputs: BTreeMap<Rego, Rego> = expanded
        .outputs
        .iter()
        .map(|(name, output)| {
            let value = if output.sensitive {
                Rego::from(SECRET)
            } else {
                value(&output.value)
            };
            (
                Rego::from(name.as_str()),
                object([
                    ("sensitive", Rego::Bool(output.sensitive)),
                    ("value", value),
                ]),
            )
        })
        .collect();
    let secrets: Vec<Rego> = expanded
        .secrets
        .keys()
        .map(|(module, name)| Rego::from(crate::pipeline::secret_key(module, name)))
        .collect();
    object([
        ("variables", map_value(&expanded.variables)),
        ("resources", Rego::from(resources)),
        ("outputs", Rego::from(outputs)),
        ("secrets", Rego::from(secrets)),
    ])
}

fn map_value(map: &crate::lang::Map) -> Rego {
    Rego::from(
        map.iter()
            .map(|(key, item)| (Rego::from(key.as_str()), value(item)))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// A value as the engine's value: a secret (or anything holding one) is
/// `"(secret)"`, an unknown is `null`; numbers as [`from_json`] makes them.
fn value(value: &Value) -> Rego {
    if value.is_secret() {
        return Rego::from(SECRET);
    }
    match value.kind() {
        Kind::Null | Kind::Unknown => Rego::Null,
        Kind::Bool(b) => Rego::Bool(*b),
        Kind::Number(Number::Int(i)) => match u64::try_from(*i) {
            Ok(u) => Rego::from(u),
            Err(_) => Rego::from(*i),
        },
        Kind::Number(Number::Float(f)) if f.is_finite() => Rego::from(*f),
        Kind::Number(Number::Float(_)) => Rego::Null,
        Kind::String(s) => Rego::from(s.as_str()),
        Kind::List(items) => Rego::from(items.iter().map(self::value).collect::<Vec<_>>()),
        Kind::Map(entries) => Rego::from(
            entries
                .iter()
                .map(|(key, item)| (Rego::from(key.as_str()), self::value(item)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}
