//! Language types (`string number bool list(T) set(T) map(T) object({...})
//! tuple([...]) any`) and the conversion of values to them, as variables,
//! environment `vars`, `--var` values and provider schemas require.
//!
//! Terminology: `ty` is a language type; provider resource kinds are
//! `resource_type` elsewhere.
//!
//! Invariant: conversion keeps secret and unknown marks; an error names the path
//! inside the value and the two types, never the value itself.

use super::number::Number;
use super::value::{Kind, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A language type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// Anything.
    Any,
    /// `string`.
    String,
    /// `number`.
    Number,
    /// `bool`.
    Bool,
    /// `list(T)`.
    List(Box<Type>),
    /// `set(T)`: a list without duplicates, sorted.
    Set(Box<Type>),
    /// `map(T)`.
    Map(Box<Type>),
    /// `object({...})`: attribute name → (type, optional).
    Object(BTreeMap<String, (Type, bool)>),
    /// `tuple([...])`.
    Tuple(Vec<Type>),
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Object(attrs) => {
                f.write_str("object({")?;
                for (i, (name, (ty, optional))) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if *optional {
                        write!(f, "{name} = optional({ty})")?;
                    } else {
                        write!(f, "{name} = {ty}")?;
                    }
                }
                f.write_str("})")
            }
            Type::Tuple(items) => {
                f.write_str("tuple([")?;
                for (i, ty) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{ty}")?;
                }
                f.write_str("])")
            }
        }
    }
}

/// Why a value does not fit a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMismatch {
    /// Where inside the value, e.g. `.ports[1]`; empty for the value itself.
    pub path: String,
    /// What was expected there.
    pub expected: String,
    /// What was found there (a kind name, never the value).
    pub found: String,
}

impl fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "expected {}, found {}", self.expected, self.found)
        } else {
            write!(
                f,
                "at {}: expected {}, found {}",
                self.path, self.expected, self.found
            )
        }
    }
}

fn mismatch(path: &At<'_>, expected: impl Into<String>, found: impl Into<String>) -> TypeMismatch {
    TypeMismatch {
        path: path.to_string(),
        expected: expected.into(),
        found: found.into(),
    }
}

/// Where in the value being converted: written out (`.a[0]["k"]`) only for
/// a mismatch, not built up for every element converted.
#[derive(Clone, Copy)]
enum At<'p> {
    /// The value itself.
    Root,
    /// An element of a list or tuple.
    Index(&'p At<'p>, usize),
    /// An entry of a map.
    Key(&'p At<'p>, &'p str),
    /// An attribute of an object.
    Attribute(&'p At<'p>, &'p str),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
            At::Key(parent, key) => write!(f, "{parent}[\"{key}\"]"),
            At::Attribute(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

/// The order of a set's elements, as Terraform shows sets: numbers by value,
/// strings lexically, anything else by its written form.
pub fn set_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.kind(), b.kind()) {
        (Kind::Number(x), Kind::Number(y)) => x.cmp(y),
        (Kind::String(x), Kind::String(y)) => x.cmp(y),
        _ => a.reveal().to_string().cmp(&b.reveal().to_string()),
    }
}

/// Converts `value` to `ty` as Terraform does for variables: numbers and bools
/// become strings, numeric strings become numbers, `"true"`/`"false"` become
/// bools, lists become sets and maps become objects. Unknown and null values
/// fit every type. Object values with attributes the type does not have are an
/// error (a typo should not be silently dropped).
pub fn convert(value: Value, ty: &Type) -> Result<Value, TypeMismatch> {
    convert_at(value, ty, &At::Root)
}

fn convert_at(value: Value, ty: &Type, path: &At<'_>) -> Result<Value, TypeMismatch> {
    let secret = value.is_secret();
    if value.is_unknown() || value.is_null() || matches!(ty, Type::Any) {
        return Ok(value);
    }
    let found = value.type_name();
    let converted = match (ty, value.into_kind()) {
        (Type::String, Kind::String(s)) => Value::string(s),
        (Type::String, Kind::Number(n)) => Value::string(n.to_string()),
        (Type::String, Kind::Bool(b)) => Value::string(b.to_string()),
        (Type::Number, Kind::Number(n)) => Value::new(Kind::Number(n)),
        (Type::Number, Kind::String(s)) => match Number::parse(s.trim()) {
            Some(n) => Value::new(Kind::Number(n)),
            None => return Err(mismatch(path, "number", "a string that is not a number")),
        },
        (Type::Bool, Kind::Bool(b)) => Value::bool(b),
        (Type::Bool, Kind::String(s)) if s == "true" || s == "false" => Value::bool(s == "true"),
        (Type::List(element) | Type::Set(element), Kind::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(convert_at(item, element, &At::Index(path, i))?);
            }
            if matches!(ty, Type::Set(_)) {
                out.sort_by(set_order);
                out.dedup();
            }
            Value::list(out)
        }
        (Type::Tuple(elements), Kind::List(items)) => {
            if elements.len() != items.len() {
                return Err(mismatch(
                    path,
                    format!("a tuple of {} elements", elements.len()),
                    format!("{} elements", items.len()),
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, element)) in items.into_iter().zip(elements).enumerate() {
                out.push(convert_at(item, element, &At::Index(path, i))?);
            }
            Value::list(out)
        }
        (Type::Map(element), Kind::Map(entries)) => {
            let mut out = crate::lang::Map::new();
            for (key, item) in entries {
                let converted = convert_at(item, element, &At::Key(path, &key))?;
                out.insert(key, converted);
            }
            Value::map(out)
        }
        (Type::Object(attributes), Kind::Map(mut entries)) => {
            let mut out = crate::lang::Map::new();
            for (name, (attribute_ty, optional)) in attributes {
                match entries.remove(name) {
                    Some(item) => {
                        out.insert(
                            name.clone(),
                            convert_at(item, attribute_ty, &At::Attribute(path, name))?,
                        );
                    }
                    None if *optional => {
                        out.insert(name.clone(), Value::NULL);
                    }
                    None => {
                        return Err(mismatch(
                            path,
                            format!("an object with attribute `{name}`"),
                            "an object without it",
                        ));
                    }
                }
            }
            if let Some(extra) = entries.keys().next() {
                return Err(mismatch(
                    &At::Attribute(path, extra),
                    "no such attribute (the type does not declare it)",
                    "an attribute",
                ));
            }
            Value::map(out)
        }
        (expected, _) => return Err(mismatch(path, expected.to_string(), found)),
    };
    Ok(converted.mark_secret_if(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_terraform() {
        assert_eq!(convert(Value::from(3), &Type::String), Ok(Value::from("3")));
        assert_eq!(convert(Value::from("4"), &Type::Number), Ok(Value::from(4)));
        assert!(convert(Value::from("x"), &Type::Number).is_err());
        let list = Value::list(vec![Value::from("b"), Value::from("a"), Value::from("b")]);
        assert_eq!(
            convert(list, &Type::Set(Box::new(Type::String))),
            Ok(Value::list(vec![Value::from("a"), Value::from("b")]))
        );
    }

    #[test]
    fn secret_marks_survive_conversion() {
        let secret = Value::from(5).with_secret(true);
        let converted = convert(secret, &Type::String);
        assert!(converted.is_ok_and(|v| v.is_secret()));
    }

    #[test]
    fn mismatch_names_the_path() {
        let mut entries = BTreeMap::new();
        entries.insert(
            "ports".to_owned(),
            Value::list(vec![Value::from(1), Value::from("x")]),
        );
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "ports".to_owned(),
            (Type::List(Box::new(Type::Number)), false),
        );
        let error = convert(Value::map(entries.into()), &Type::Object(attributes));
        assert_eq!(error.map_err(|e| e.path), Err(".ports[1]".to_owned()));
    }
}
