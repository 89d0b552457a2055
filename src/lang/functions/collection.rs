//! Collection builtins: `element`, `index`, `slice`, `reverse`, `compact`,
//! `chunklist`, the set functions, `alltrue`, `anytrue`, `one`, `transpose`,
//! `coalescelist`, `matchkeys`.
//!
//! Terminology: sets are lists at run time; a set result is sorted as
//! Terraform orders sets (numbers by value, strings lexically) and holds
//! each element once.
//!
//! Invariant: indices come from numbers checked to be whole and in range;
//! no input indexes out of bounds.

use super::{Call, invalid, values_equal};
use crate::diag::Diagnostic;
use crate::lang::types::set_order;
use crate::lang::value::{Kind, Value};

/// The names this file answers for (checked against [`super::NAMES`]).
#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    "alltrue",
    "anytrue",
    "chunklist",
    "coalescelist",
    "compact",
    "element",
    "index",
    "matchkeys",
    "one",
    "reverse",
    "setintersection",
    "setproduct",
    "setsubtract",
    "setunion",
    "slice",
    "transpose",
];

/// The names that only move elements (their marks stay on each element).
pub(super) const STRUCTURAL: &[&str] =
    &["chunklist", "element", "reverse", "slice", "coalescelist"];

pub(super) fn call(call: &Call<'_>) -> Option<Result<Value, Diagnostic>> {
    Some(match call.name {
        "element" => element(call),
        "index" => index(call),
        "slice" => slice(call),
        "reverse" => call
            .list(0)
            .map(|items| Value::list(items.iter().rev().cloned().collect())),
        "compact" => call.list(0).map(|items| {
            Value::list(
                items
                    .iter()
                    .filter(|v| !v.is_null() && v.as_str() != Some(""))
                    .cloned()
                    .collect(),
            )
        }),
        "chunklist" => chunklist(call),
        "setunion" | "setintersection" | "setsubtract" => set_operation(call),
        "setproduct" => setproduct(call),
        "alltrue" | "anytrue" => all_any(call),
        "one" => one(call),
        "transpose" => transpose(call),
        "coalescelist" => coalescelist(call),
        "matchkeys" => matchkeys(call),
        _ => return None,
    })
}

/// Sorts and removes repeats, as a set does.
fn as_set(mut items: Vec<Value>) -> Vec<Value> {
    items.sort_by(set_order);
    items.dedup_by(|a, b| values_equal(a, b));
    items
}

fn element(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let items = call.list(0)?;
    let index = call.integer(1)?;
    if items.is_empty() {
        return Err(invalid(
            call.arg(0).1,
            "this list is empty",
            "element needs a list with at least one element",
        ));
    }
    let index = usize::try_from(index).map_err(|_| {
        invalid(
            call.arg(1).1,
            "this index is negative",
            "element takes an index of zero or more (it wraps around the list)",
        )
    })?;
    Ok(items
        .get(index % items.len())
        .cloned()
        .unwrap_or(Value::NULL))
}

fn index(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let items = call.list(0)?;
    let (needle, _) = call.arg(1);
    match items.iter().position(|v| values_equal(v, needle)) {
        Some(i) => Ok(Value::number(i64::try_from(i).unwrap_or(i64::MAX))),
        None => Err(invalid(
            call.arg(1).1,
            "this value is not in the list",
            "guard with `contains(list, value)` first",
        )),
    }
}

fn slice(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let items = call.list(0)?;
    let start = call.integer(1)?;
    let end = call.integer(2)?;
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    if start < 0 || start > len {
        return Err(invalid(
            call.arg(1).1,
            format!("the start index is outside 0 to {len}"),
            "slice takes a start from 0 to the list's length",
        ));
    }
    if end < start || end > len {
        return Err(invalid(
            call.arg(2).1,
            format!("the end index is outside {start} to {len}"),
            "slice takes an end from the start to the list's length (the end is excluded)",
        ));
    }
    let start = usize::try_from(start).unwrap_or(0);
    let end = usize::try_from(end).unwrap_or(0);
    Ok(Value::list(items.get(start..end).unwrap_or(&[]).to_vec()))
}

fn chunklist(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let items = call.list(0)?;
    let size = call.integer(1)?;
    let size = usize::try_from(size).map_err(|_| {
        invalid(
            call.arg(1).1,
            "this size is negative",
            "chunklist takes a chunk size of zero (one chunk) or more",
        )
    })?;
    if size == 0 {
        return Ok(Value::list(vec![Value::list(items.to_vec())]));
    }
    Ok(Value::list(
        items
            .chunks(size)
            .map(|chunk| Value::list(chunk.to_vec()))
            .collect(),
    ))
}

fn set_operation(call: &Call<'_>) -> Result<Value, Diagnostic> {
    if call.args.is_empty() {
        return Err(invalid(
            call.span,
            "there are no sets",
            format!("`{}` takes one or more sets", call.name),
        ));
    }
    let mut result = as_set(call.list(0)?.to_vec());
    for i in 1..call.args.len() {
        let other = call.list(i)?;
        let in_other = |v: &Value| other.iter().any(|o| values_equal(o, v));
        match call.name {
            "setunion" => result.extend(other.iter().cloned()),
            "setintersection" => result.retain(in_other),
            _ => result.retain(|v| !in_other(v)),
        }
    }
    Ok(Value::list(as_set(result)))
}

fn setproduct(call: &Call<'_>) -> Result<Value, Diagnostic> {
    if call.args.len() < 2 {
        return Err(invalid(
            call.span,
            "there are fewer than two sets",
            "setproduct takes two or more lists or sets",
        ));
    }
    let mut product: Vec<Vec<Value>> = vec![Vec::new()];
    for i in 0..call.args.len() {
        let items = call.list(i)?;
        let mut next = Vec::with_capacity(product.len().saturating_mul(items.len()));
        for prefix in &product {
            for item in items {
                if next.len() >= 1024 * 1024 {
                    return Err(invalid(
                        call.span,
                        "this product is too large",
                        "setproduct is limited to 1,048,576 combinations",
                    ));
                }
                let mut combination = prefix.clone();
                combination.push(item.clone());
                next.push(combination);
            }
        }
        product = next;
    }
    Ok(Value::list(product.into_iter().map(Value::list).collect()))
}

fn all_any(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let items = call.list(0)?;
    let mut flags = Vec::with_capacity(items.len());
    for item in items {
        let flag = match item.kind() {
            Kind::Bool(b) => *b,
            Kind::String(s) if s == "true" || s == "false" => s == "true",
            Kind::Null if call.name == "anytrue" => false,
            _ => {
                return Err(invalid(
                    call.arg(0).1,
                    format!("this list holds a {}", item.type_name()),
                    format!("`{}` takes a list of bools", call.name),
                ));
            }
        };
        flags.push(flag);
    }
    Ok(Value::bool(if call.name == "alltrue" {
        flags.iter().all(|f| *f)
    } else {
        flags.iter().any(|f| *f)
    }))
}

fn one(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let items = call.list(0)?;
    match items {
        [] => Ok(Value::NULL),
        [only] => Ok(only.clone()),
        _ => Err(invalid(
            call.arg(0).1,
            format!("this list has {} elements", items.len()),
            "one takes a list of zero or one element",
        )),
    }
}

fn transpose(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let map = call.map(0)?;
    let mut out: std::collections::BTreeMap<String, Vec<Value>> = std::collections::BTreeMap::new();
    for (key, value) in map.iter() {
        let Some(items) = value.as_list() else {
            return Err(invalid(
                call.arg(0).1,
                format!("the value of a key is a {}", value.type_name()),
                "transpose takes a map of lists of strings",
            ));
        };
        for item in items {
            let name = match item.kind() {
                Kind::String(s) => s.clone(),
                Kind::Number(n) => n.to_string(),
                Kind::Bool(b) => b.to_string(),
                _ => {
                    return Err(invalid(
                        call.arg(0).1,
                        format!("a list in this map holds a {}", item.type_name()),
                        "transpose takes a map of lists of strings",
                    ));
                }
            };
            out.entry(name)
                .or_default()
                .push(Value::string(key.clone()));
        }
    }
    Ok(Value::map(
        out.into_iter().map(|(k, v)| (k, Value::list(v))).collect(),
    ))
}

fn coalescelist(call: &Call<'_>) -> Result<Value, Diagnostic> {
    for i in 0..call.args.len() {
        let items = call.list(i)?;
        if !items.is_empty() {
            return Ok(call.arg(i).0.clone());
        }
    }
    Err(invalid(
        call.span,
        "every list is empty",
        "give a last list that is never empty, as a default",
    ))
}

fn matchkeys(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let values = call.list(0)?;
    let keys = call.list(1)?;
    let search = call.list(2)?;
    if values.len() != keys.len() {
        return Err(invalid(
            call.span,
            format!("{} values but {} keys", values.len(), keys.len()),
            "matchkeys needs values and keys of the same length",
        ));
    }
    Ok(Value::list(
        values
            .iter()
            .zip(keys)
            .filter(|(_, key)| search.iter().any(|s| values_equal(s, key)))
            .map(|(value, _)| value.clone())
            .collect(),
    ))
}
