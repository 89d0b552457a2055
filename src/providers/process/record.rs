//! What a deployed service is, as state records it and as a deploy reads it
//! back: its version, its active colour and its processes (pid, start time,
//! port), kept in the computed attributes of the `service` object.
//!
//! Invariant: holds no secret; the processes' environment is not recorded here.

use super::machine::Running;
use crate::lang::Value;
use crate::providers::{Attributes, ObjectState};

/// The deployed processes of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployed {
    /// The version (see [`super::spec::version`]).
    pub version: String,
    /// `blue` or `green`: the colour in front.
    pub colour: String,
    /// Its processes, in slot order.
    pub processes: Vec<Running>,
}

/// The other colour.
pub fn other_colour(colour: &str) -> &'static str {
    if colour == "blue" { "green" } else { "blue" }
}

impl Deployed {
    /// Reads the record from a prior object (empty when it has none).
    pub fn from_object(object: &ObjectState) -> Deployed {
        let text = |name: &str| {
            object
                .attribute(name)
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let processes = object
            .attribute("processes")
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                let map = p.as_map()?;
                let number = |name: &str| map.get(name).and_then(Value::as_number);
                Some(Running {
                    slot: map.get("slot")?.as_str()?.to_owned(),
                    pid: u32::try_from(number("pid")?.as_i64()?).ok()?,
                    start_time: u64::try_from(number("start_time")?.as_i64()?).ok()?,
                    port: number("port")
                        .and_then(|n| n.as_i64())
                        .and_then(|p| u16::try_from(p).ok()),
                })
            })
            .collect();
        Deployed {
            version: text("version"),
            colour: text("colour"),
            processes,
        }
    }

    /// The processes as the `processes` attribute.
    pub fn processes_value(&self) -> Value {
        Value::list(
            self.processes
                .iter()
                .map(|p| {
                    let mut map = crate::lang::Map::new();
                    map.insert(String::from("slot"), Value::string(p.slot.clone()));
                    map.insert(String::from("pid"), Value::number(i64::from(p.pid)));
                    map.insert(
                        String::from("start_time"),
                        Value::number(i64::try_from(p.start_time).unwrap_or(i64::MAX)),
                    );
                    map.insert(
                        String::from("port"),
                        p.port
                            .map_or(Value::NULL, |port| Value::number(i64::from(port))),
                    );
                    Value::map(map)
                })
                .collect(),
        )
    }

    /// Writes the record into a service object's attributes.
    pub fn write_into(&self, attributes: &mut Attributes, status: &str) {
        attributes.insert(String::from("version"), Value::string(self.version.clone()));
        attributes.insert(String::from("colour"), Value::string(self.colour.clone()));
        attributes.insert(String::from("processes"), self.processes_value());
        attributes.insert(String::from("status"), Value::string(status));
    }
}
