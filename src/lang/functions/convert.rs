//! Conversion builtins (`tonumber`, `tostring`, `tobool`, `tolist`, `toset`,
//! `tomap`) and `coalesce`, as Terraform has them: `null` converts to `null`,
//! and a value that does not fit is an error naming the two types.
//!
//! Invariant: an error names kinds and paths, never the value.

use super::{Call, invalid};
use crate::diag::Diagnostic;
use crate::lang::types::{Type, convert};
use crate::lang::value::{Kind, Value};

/// The names this file answers for (checked against [`super::NAMES`]).
#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    "coalesce", "tobool", "tolist", "tomap", "tonumber", "toset", "tostring",
];

pub(super) fn call(call: &Call<'_>) -> Option<Result<Value, Diagnostic>> {
    let ty = match call.name {
        "tonumber" => Type::Number,
        "tostring" => Type::String,
        "tobool" => Type::Bool,
        "tolist" => Type::List(Box::new(Type::Any)),
        "toset" => Type::Set(Box::new(Type::Any)),
        "tomap" => Type::Map(Box::new(Type::Any)),
        "coalesce" => return Some(coalesce(call)),
        _ => return None,
    };
    let (value, span) = call.arg(0);
    let value = value.clone();
    // A collection of mixed element kinds is unified first, as Terraform
    // does: all strings when any element is a string.
    let value = match (&ty, value.kind()) {
        (Type::List(_) | Type::Set(_) | Type::Map(_), Kind::List(_) | Kind::Map(_)) => unify(value),
        _ => value,
    };
    Some(convert(value, &ty).map_err(|mismatch| {
        invalid(
            span,
            format!("this does not convert: {mismatch}"),
            format!("`{}` takes a value that fits `{ty}`", call.name),
        )
    }))
}

/// When the elements of a collection are strings, numbers and bools mixed,
/// makes them all strings (Terraform's type unification).
fn unify(value: Value) -> Value {
    let secret = value.is_secret();
    let elements: Vec<&Value> = match value.kind() {
        Kind::List(items) => items.iter().collect(),
        Kind::Map(entries) => entries.values().collect(),
        _ => return value,
    };
    let has_string = elements.iter().any(|v| matches!(v.kind(), Kind::String(_)));
    let all_primitive = elements.iter().all(|v| {
        matches!(
            v.kind(),
            Kind::String(_) | Kind::Number(_) | Kind::Bool(_) | Kind::Null | Kind::Unknown
        )
    });
    if !has_string || !all_primitive {
        return value;
    }
    let stringify = |v: Value| -> Value {
        let secret = v.is_secret();
        let out = match v.kind() {
            Kind::Number(n) => Value::string(n.to_string()),
            Kind::Bool(b) => Value::string(b.to_string()),
            _ => return v,
        };
        out.mark_secret_if(secret)
    };
    let out = match value.into_kind() {
        Kind::List(items) => Value::list(items.into_iter().map(stringify).collect()),
        Kind::Map(entries) => Value::map(
            entries
                .into_iter()
                .map(|(k, v)| (k, stringify(v)))
                .collect(),
        ),
        other => Value::new(other),
    };
    out.mark_secret_if(secret)
}

/// The first argument that is neither null nor an empty string.
fn coalesce(call: &Call<'_>) -> Result<Value, Diagnostic> {
    for (value, _) in &call.args {
        match value.kind() {
            Kind::Null => {}
            Kind::String(s) if s.is_empty() => {}
            _ => return Ok(value.clone()),
        }
    }
    Err(invalid(
        call.span,
        "every argument is null or an empty string",
        "give a last argument that is always set, as a default",
    ))
}
