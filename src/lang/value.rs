//! Values of the language, each carrying two marks that travel through every
//! operator, template, `for` expression and builtin:
//!
//! - **unknown**: the value will only exist after apply ("known after apply");
//! - **secret**: the value is, or was computed from, a secret.
//!
//! Terminology: a value is *sensitive* when it or anything inside it is secret
//! ([`Value::contains_secret`]); *secret* alone means the mark on this node.
//!
//! Invariant: `Display` and `Debug` never print the contents of a secret value:
//! they print `(secret)`. Only [`Value::reveal`] and the typed accessors hand out
//! the plaintext, for providers and for sealing into state.

use super::number::Number;
use std::fmt;

/// A map or object value's entries, in key order.
pub type Map = super::map::VecMap<String, Value>;

/// The kinds of value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// A list (also what tuples and sets are at run time).
    List(Vec<Value>),
    /// A map or object, keys sorted.
    Map(Map),
    /// Known only after apply.
    Unknown,
}

/// A value with its secret mark.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Value {
    kind: Kind,
    secret: bool,
}

impl Value {
    /// `null`.
    pub const NULL: Value = Value {
        kind: Kind::Null,
        secret: false,
    };

    /// An unknown value ("known after apply").
    pub const UNKNOWN: Value = Value {
        kind: Kind::Unknown,
        secret: false,
    };

    /// A value of the given kind, not secret.
    pub fn new(kind: Kind) -> Value {
        Value {
            kind,
            secret: false,
        }
    }

    /// A string value.
    pub fn string(text: impl Into<String>) -> Value {
        Value::new(Kind::String(text.into()))
    }

    /// A number value.
    pub fn number(number: impl Into<Number>) -> Value {
        Value::new(Kind::Number(number.into()))
    }

    /// A boolean value.
    pub fn bool(flag: bool) -> Value {
        Value::new(Kind::Bool(flag))
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::new(Kind::List(items))
    }

    /// A map value.
    pub fn map(entries: Map) -> Value {
        Value::new(Kind::Map(entries))
    }

    /// The kind.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// Takes the kind out, dropping the secret mark (callers must re-mark).
    pub fn into_kind(self) -> Kind {
        self.kind
    }

    /// Whether this node carries the secret mark.
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    /// Whether this value or anything inside it is secret.
    pub fn contains_secret(&self) -> bool {
        self.secret
            || match &self.kind {
                Kind::List(items) => items.iter().any(Value::contains_secret),
                Kind::Map(entries) => entries.values().any(Value::contains_secret),
                _ => false,
            }
    }

    /// Whether this value is unknown (only this node).
    pub fn is_unknown(&self) -> bool {
        matches!(self.kind, Kind::Unknown)
    }

    /// Whether this value or anything inside it is unknown.
    pub fn contains_unknown(&self) -> bool {
        match &self.kind {
            Kind::Unknown => true,
            Kind::List(items) => items.iter().any(Value::contains_unknown),
            Kind::Map(entries) => entries.values().any(Value::contains_unknown),
            _ => false,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// Marks (or unmarks) this node as secret.
    #[must_use]
    pub fn with_secret(mut self, secret: bool) -> Value {
        self.secret = secret;
        self
    }

    /// Marks this node secret when `secret` is true, keeping an existing mark.
    #[must_use]
    pub fn mark_secret_if(mut self, secret: bool) -> Value {
        self.secret |= secret;
        self
    }

    /// Removes every secret mark, deep, and says whether there was one. Used where
    /// a value must be inspected structurally (then re-marked as a whole).
    pub fn unmark_deep(self) -> (Value, bool) {
        let mut found = self.secret;
        let kind = match self.kind {
            Kind::List(items) => Kind::List(
                items
                    .into_iter()
                    .map(|v| {
                        let (v, s) = v.unmark_deep();
                        found |= s;
                        v
                    })
                    .collect(),
            ),
            Kind::Map(entries) => Kind::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let (v, s) = v.unmark_deep();
                        found |= s;
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        };
        (
            Value {
                kind,
                secret: false,
            },
            found,
        )
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number inside, if this is a number.
    pub fn as_number(&self) -> Option<Number> {
        match &self.kind {
            Kind::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean inside, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            Kind::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match &self.kind {
            Kind::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The name of this value's kind, for error messages ("string", "list"...).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "bool",
            Kind::Number(_) => "number",
            Kind::String(_) => "string",
            Kind::List(_) => "list",
            Kind::Map(_) => "map",
            Kind::Unknown => "unknown",
        }
    }

    /// The plaintext rendering, secrets included. Only for providers, hashing
    /// and sealing; never for anything shown to a person.
    pub fn reveal(&self) -> Revealed<'_> {
        Revealed(self)
    }

    /// The value as JSON with secrets revealed (for providers and `jsonencode`).
    /// Unknown values become `null`; callers check [`Value::contains_unknown`] first.
    pub fn to_json_revealed(&self) -> serde_json::Value {
        match &self.kind {
            Kind::Null | Kind::Unknown => serde_json::Value::Null,
            Kind::Bool(b) => serde_json::Value::Bool(*b),
            Kind::Number(Number::Int(i)) => serde_json::Value::from(*i),
            Kind::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Kind::String(s) => serde_json::Value::String(s.clone()),
            Kind::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json_revealed).collect())
            }
            Kind::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json_revealed()))
                    .collect(),
            ),
        }
    }

    /// A JSON number: exact where integral, `null` where not representable.
    pub fn from_json_number(n: &serde_json::Number) -> Value {
        match n.as_i64() {
            Some(i) => Value::number(Number::Int(i)),
            None => n
                .as_f64()
                .and_then(Number::from_f64)
                .map_or(Value::NULL, |n| Value::new(Kind::Number(n))),
        }
    }

    /// A value from JSON (numbers exact where integral).
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::NULL,
            serde_json::Value::Bool(b) => Value::bool(*b),
            serde_json::Value::Number(n) => Value::from_json_number(n),
            serde_json::Value::String(s) => Value::string(s.clone()),
            serde_json::Value::Array(items) => {
                Value::list(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(entries) => Value::map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::string(text)
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::string(text)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::bool(flag)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::number(number)
    }
}

/// Writes a value in the language's own syntax, with secrets as `(secret)` and
/// unknowns as `(known after apply)`.
fn write_value(f: &mut fmt::Formatter<'_>, value: &Value, reveal: bool) -> fmt::Result {
    if value.secret && !reveal {
        return f.write_str("(secret)");
    }
    match &value.kind {
        Kind::Null => f.write_str("null"),
        Kind::Bool(b) => write!(f, "{b}"),
        Kind::Number(n) => write!(f, "{n}"),
        Kind::String(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
        Kind::Unknown => f.write_str("(known after apply)"),
        Kind::List(items) => {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_value(f, item, reveal)?;
            }
            f.write_str("]")
        }
        Kind::Map(entries) => {
            if entries.is_empty() {
                return f.write_str("{}");
            }
            f.write_str("{ ")?;
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                if is_identifier(key) {
                    f.write_str(key)?;
                } else {
                    write!(f, "{}", serde_json::Value::String(key.clone()))?;
                }
                f.write_str(" = ")?;
                write_value(f, item, reveal)?;
            }
            f.write_str(" }")
        }
    }
}

/// Whether `text` can be written as a bare identifier: ASCII letters, digits
/// and `_`, not starting with a digit, as `grammar/infra.pest` defines `ident`
/// (a `-` is not part of a name: `a-b` is a subtraction).
pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self, false)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self, false)
    }
}

/// A value displayed with its secrets (see [`Value::reveal`]).
pub struct Revealed<'a>(&'a Value);

impl fmt::Display for Revealed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self.0, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_a_name_is_displayed_quoted() {
        let map = Value::map(Map::from([
            (String::from("plain_key"), Value::number(1)),
            (String::from("content-type"), Value::number(2)),
            (String::from("3"), Value::number(3)),
        ]));
        assert_eq!(
            map.to_string(),
            r#"{ "3" = 3, "content-type" = 2, plain_key = 1 }"#
        );
    }

    #[test]
    fn secrets_never_display() {
        let secret = Value::string("hunter2").with_secret(true);
        let list = Value::list(vec![Value::from("a"), secret.clone()]);
        assert_eq!(secret.to_string(), "(secret)");
        assert_eq!(format!("{secret:?}"), "(secret)");
        assert_eq!(list.to_string(), "[\"a\", (secret)]");
        assert!(list.contains_secret());
        assert!(!list.is_secret());
        assert_eq!(secret.reveal().to_string(), "\"hunter2\"");
    }
}
