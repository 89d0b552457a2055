//! [`Json`]: the JSON tree a [`SealedValue`](super::SealedValue) holds,
//! stored compactly.
//!
//! A state of 100,000 instances holds two JSON objects per instance (its
//! attributes and its configuration), each with a few keys. As
//! `serde_json::Value` every object is a `BTreeMap`, one node of eleven
//! slots (over 600 bytes) however few keys it has; here an object is a boxed
//! slice of exactly its entries and a string a boxed `str`, so the same state
//! takes a fraction of the memory and parses faster.
//!
//! Invariant: serializes to the same JSON as the `serde_json::Value` it
//! replaces: object keys sorted and unique (read objects are sorted, the last
//! of equal keys kept, as `serde_json` does), numbers as `serde_json::Number`,
//! so checksums computed over a state's serialization do not change.

use crate::lang::Value;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use std::fmt;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Json {
    /// `null`.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, exactly as read.
    Number(serde_json::Number),
    /// A string.
    String(Box<str>),
    /// An array.
    Array(Box<[Json]>),
    /// An object, keys sorted and unique.
    Object(Box<[(Box<str>, Json)]>),
}

impl Json {
    /// An object from entries in any order (the last of equal keys wins).
    pub fn object(mut entries: Vec<(Box<str>, Json)>) -> Json {
        crate::lang::map::sort_keep_last(&mut entries);
        Json::Object(entries.into_boxed_slice())
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries
                .binary_search_by(|(k, _)| (**k).cmp(key))
                .ok()
                .and_then(|at| entries.get(at))
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value`.
    pub fn to_serde(&self) -> serde_json::Value {
        match self {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(n) => serde_json::Value::Number(n.clone()),
            Json::String(s) => serde_json::Value::String(s.to_string()),
            Json::Array(items) => {
                serde_json::Value::Array(items.iter().map(Json::to_serde).collect())
            }
            Json::Object(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_serde()))
                    .collect(),
            ),
        }
    }

    /// A value of the language (numbers exact where integral), no secret marks.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::NULL,
            Json::Bool(b) => Value::bool(*b),
            Json::Number(n) => Value::from_json_number(n),
            Json::String(s) => Value::string(&**s),
            Json::Array(items) => Value::list(items.iter().map(Json::to_value).collect()),
            Json::Object(entries) => Value::map(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl From<&serde_json::Value> for Json {
    fn from(value: &serde_json::Value) -> Json {
        match value {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => Json::Number(n.clone()),
            serde_json::Value::String(s) => Json::String(s.as_str().into()),
            serde_json::Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            // serde_json's map is already sorted and unique.
            serde_json::Value::Object(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (Box::from(k.as_str()), Json::from(v)))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Json {
    /// Compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl serde::Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(&**key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        serde::Deserialize::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
        // As serde_json: a non-finite number is null.
        Ok(serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.into()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s.into_boxed_str()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(Box<str>, Json)> =
            Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            entries.push((key.into_boxed_str(), value));
        }
        Ok(Json::object(entries))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Json;

    #[test]
    fn round_trips_exactly_as_serde_json_does() {
        let text =
            r#"{"b":[1,-2,3.5,18446744073709551615,null,true],"a":{"z":"x","y":{}},"b":"last"}"#;
        let ours: Json = serde_json::from_str(text).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&theirs).unwrap()
        );
        assert_eq!(ours.to_serde(), theirs);
        assert_eq!(Json::from(&theirs), ours);
        assert_eq!(ours.get("b").and_then(Json::as_str), Some("last"));
        assert_eq!(
            serde_json::to_string_pretty(&ours).unwrap(),
            serde_json::to_string_pretty(&theirs).unwrap()
        );
    }

    #[test]
    fn converts_to_values_with_exact_integers() {
        let json: Json = serde_json::from_str(r#"{"n":9007199254740993,"f":0.5,"s":"t"}"#).unwrap();
        let value = json.to_value();
        assert_eq!(
            value.to_string(),
            r#"{ f = 0.5, n = 9007199254740993, s = "t" }"#
        );
    }
}
