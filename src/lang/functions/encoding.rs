//! Encoding builtins: `urlencode`, `yamlencode`, `yamldecode`, `csvdecode`.
//!
//! `yamlencode` writes what Terraform writes: block style, every string and
//! key double-quoted, multi-line strings as literal blocks (`|-`).
//!
//! Invariant: decoders report the line and column of a problem, never the
//! text around it (the text may be a secret).

use super::{Call, invalid};
use crate::diag::Diagnostic;
use crate::lang::number::Number;
use crate::lang::value::{Kind, Value};
use std::fmt::Write as _;

/// The names this file answers for (checked against [`super::NAMES`]).
#[cfg(test)]
pub(super) const NAMES: &[&str] = &["csvdecode", "urlencode", "yamldecode", "yamlencode"];

pub(super) fn call(call: &Call<'_>) -> Option<Result<Value, Diagnostic>> {
    Some(match call.name {
        "urlencode" => call.string(0).map(|s| Value::string(urlencode(&s))),
        "yamlencode" => {
            let value = call.arg(0).0;
            let mut out = String::new();
            yaml_node(value, 0, &mut out);
            // A document that is a plain scalar ends with the `...` marker,
            // as Terraform's encoder writes it.
            if matches!(value.kind(), Kind::Null | Kind::Bool(_) | Kind::Number(_)) {
                out.push_str("...\n");
            }
            Ok(Value::string(out))
        }
        "yamldecode" => yamldecode(call),
        "csvdecode" => csvdecode(call),
        _ => return None,
    })
}

/// Go's `url.QueryEscape`: unreserved characters stay, a space becomes `+`,
/// every other byte is `%XX`.
fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

// ---- yamlencode ----------------------------------------------------------

fn is_empty_collection(value: &Value) -> bool {
    match value.kind() {
        Kind::List(items) => items.is_empty(),
        Kind::Map(entries) => entries.is_empty(),
        _ => false,
    }
}

/// A double-quoted YAML string.
fn yaml_quoted(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{0}' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether a string is written as a literal block: it has a line break and
/// nothing a block cannot hold (leading spaces, spaces before a break,
/// control characters).
fn yaml_as_block(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\t', '\n'])
        && !text.contains(" \n")
        && !text.contains("\t\n")
        && !text.ends_with([' ', '\t'])
        && !text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
}

/// A literal block for a string: the indicator, then each line at `indent`.
fn yaml_block(text: &str, indent: usize, out: &mut String) {
    let trailing = text.len() - text.trim_end_matches('\n').len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    out.push('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
        out.push('\n');
    }
}

/// A scalar or empty collection, followed by its line break.
fn yaml_scalar(value: &Value, indent: usize, out: &mut String) {
    match value.kind() {
        Kind::Null | Kind::Unknown => out.push_str("null"),
        Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Kind::Number(n) => out.push_str(&n.to_string()),
        Kind::String(s) if yaml_as_block(s) => return yaml_block(s, indent, out),
        Kind::String(s) => yaml_quoted(s, out),
        Kind::List(_) => out.push_str("[]"),
        Kind::Map(_) => out.push_str("{}"),
    }
    out.push('\n');
}

/// Writes a node whose first line starts where the cursor is; later lines
/// start at `indent`.
fn yaml_node(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value.kind() {
        Kind::Map(entries) if !entries.is_empty() => {
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(&pad);
                }
                yaml_quoted(key, out);
                out.push(':');
                match item.kind() {
                    Kind::Map(_) if !is_empty_collection(item) => {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent + 2));
                        yaml_node(item, indent + 2, out);
                    }
                    Kind::List(_) if !is_empty_collection(item) => {
                        out.push('\n');
                        out.push_str(&pad);
                        yaml_node(item, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        yaml_scalar(item, indent + 2, out);
                    }
                }
            }
        }
        Kind::List(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&pad);
                }
                out.push_str("- ");
                if is_empty_collection(item) || !matches!(item.kind(), Kind::List(_) | Kind::Map(_))
                {
                    yaml_scalar(item, indent + 2, out);
                } else {
                    yaml_node(item, indent + 2, out);
                }
            }
        }
        _ => yaml_scalar(value, indent + 2, out),
    }
}

// ---- yamldecode ----------------------------------------------------------

fn yamldecode(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let text = call.string(0)?;
    let parsed: yaml_serde::Value = yaml_serde::from_str(&text).map_err(|error| {
        let at = error
            .location()
            .map(|l| format!(" at line {} column {}", l.line(), l.column()))
            .unwrap_or_default();
        invalid(
            call.arg(0).1,
            "this is not valid YAML",
            format!("the YAML parser found a problem{at}; yamldecode reads one document"),
        )
    })?;
    Ok(from_yaml(&parsed, 0))
}

fn yaml_key(value: &yaml_serde::Value) -> String {
    match value {
        yaml_serde::Value::String(s) => s.clone(),
        yaml_serde::Value::Bool(b) => b.to_string(),
        yaml_serde::Value::Number(n) => n.to_string(),
        yaml_serde::Value::Null => String::from("null"),
        yaml_serde::Value::Tagged(tagged) => yaml_key(&tagged.value),
        _ => String::new(),
    }
}

fn from_yaml(value: &yaml_serde::Value, depth: usize) -> Value {
    if depth > 128 {
        return Value::NULL;
    }
    match value {
        yaml_serde::Value::Null => Value::NULL,
        yaml_serde::Value::Bool(b) => Value::bool(*b),
        yaml_serde::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::number(i),
            None => n
                .as_f64()
                .and_then(Number::from_f64)
                .map_or(Value::NULL, |n| Value::new(Kind::Number(n))),
        },
        yaml_serde::Value::String(s) => Value::string(s.clone()),
        yaml_serde::Value::Sequence(items) => {
            Value::list(items.iter().map(|v| from_yaml(v, depth + 1)).collect())
        }
        yaml_serde::Value::Mapping(entries) => Value::map(
            entries
                .iter()
                .map(|(k, v)| (yaml_key(k), from_yaml(v, depth + 1)))
                .collect(),
        ),
        yaml_serde::Value::Tagged(tagged) => {
            let inner = from_yaml(&tagged.value, depth + 1);
            if tagged.tag == "str" || tagged.tag == "tag:yaml.org,2002:str" {
                match inner.kind() {
                    Kind::Number(n) => return Value::string(n.to_string()),
                    Kind::Bool(b) => return Value::string(b.to_string()),
                    _ => {}
                }
            }
            inner
        }
    }
}

// ---- csvdecode -----------------------------------------------------------

fn csvdecode(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let text = call.string(0)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let bad = |error: &csv::Error| {
        let at = error
            .position()
            .map(|p| format!(" on line {}", p.line()))
            .unwrap_or_default();
        let what = match error.kind() {
            csv::ErrorKind::UnequalLengths { .. } => {
                "a row has a different number of fields than the header"
            }
            csv::ErrorKind::Utf8 { .. } => "the text is not UTF-8",
            _ => "the CSV is malformed",
        };
        invalid(
            call.arg(0).1,
            "this is not valid CSV",
            format!("{what}{at}; the first line names the columns"),
        )
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| bad(&e))?
        .iter()
        .map(str::to_owned)
        .collect();
    if headers.is_empty() {
        return Err(invalid(
            call.arg(0).1,
            "this CSV has no header line",
            "the first line names the columns",
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(&e))?;
        rows.push(Value::map(
            headers
                .iter()
                .zip(record.iter())
                .map(|(k, v)| (k.clone(), Value::string(v)))
                .collect(),
        ));
    }
    Ok(Value::list(rows))
}
