//! Addresses of things in a stack, as users write them: `local_file.conf`,
//! `local_file.conf["api"]`, `module.cache.null_resource.x[0]`,
//! `data.http.status`. `Display` prints user syntax; `FromStr` parses it (for
//! `--target`, `state mv`, `moved` and `import` blocks).
//!
//! Invariant: a leaf module; parsing never panics on any input.

use std::fmt;
use std::str::FromStr;

/// The path of module calls from the root: `module.a.module.b` is `["a", "b"]`.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct ModulePath(pub Vec<String>);

impl ModulePath {
    /// The root module.
    pub fn root() -> Self {
        ModulePath(Vec::new())
    }

    /// Whether this is the root module.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path of a child module call.
    #[must_use]
    pub fn child(&self, name: &str) -> ModulePath {
        let mut path = self.0.clone();
        path.push(name.to_owned());
        ModulePath(path)
    }
}

impl fmt::Display for ModulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "module.{name}")?;
        }
        Ok(())
    }
}

/// Managed resources (`resource`) or data sources (`data`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `resource "T" "N"`.
    Managed,
    /// `data "T" "N"`.
    Data,
}

/// A resource block's address: `module.m.data.http.x`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ResourceAddr {
    /// The module it is in.
    pub module: ModulePath,
    /// Managed or data.
    pub mode: Mode,
    /// The provider resource type (`local_file`).
    pub resource_type: String,
    /// The name label.
    pub name: String,
}

/// The resource type a `service "NAME"` block is lowered to: its address is
/// `service.NAME`, as users write it.
pub const SERVICE_TYPE: &str = "service";

impl ResourceAddr {
    /// Whether this is a `service` block (`service.NAME`).
    pub fn is_service(&self) -> bool {
        self.mode == Mode::Managed && self.resource_type == SERVICE_TYPE
    }

    /// A managed resource in the root module.
    pub fn managed(resource_type: &str, name: &str) -> Self {
        ResourceAddr {
            module: ModulePath::root(),
            mode: Mode::Managed,
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The address of one instance of this resource.
    pub fn instance(&self, key: InstanceKey) -> InstanceAddr {
        InstanceAddr {
            resource: self.clone(),
            key,
        }
    }
}

impl fmt::Display for ResourceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.module.is_root() {
            write!(f, "{}.", self.module)?;
        }
        if self.mode == Mode::Data {
            f.write_str("data.")?;
        }
        write!(f, "{}.{}", self.resource_type, self.name)
    }
}

/// Which instance of a resource: none (no `count`/`for_each`), an index or a key.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(untagged)]
pub enum InstanceKey {
    /// The resource has no `count` or `for_each`.
    None,
    /// `count.index`.
    Int(i64),
    /// `each.key`.
    String(String),
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceKey::None => Ok(()),
            InstanceKey::Int(i) => write!(f, "[{i}]"),
            InstanceKey::String(s) => write!(f, "[{}]", serde_json::Value::String(s.clone())),
        }
    }
}

/// One instance: `local_file.conf["api"]`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct InstanceAddr {
    /// The resource.
    pub resource: ResourceAddr,
    /// The key.
    pub key: InstanceKey,
}

impl fmt::Display for InstanceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.resource, self.key)
    }
}

/// Why an address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddrError(pub String);

/// A parsed address: a whole resource (no key written) or one instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// A module and everything in it: `module.cache`.
    Module(ModulePath),
    /// A resource and all its instances: `local_file.conf`.
    Resource(ResourceAddr),
    /// One instance: `local_file.conf["api"]`.
    Instance(InstanceAddr),
}

impl Target {
    /// Whether `instance` is selected by this target.
    pub fn contains(&self, instance: &InstanceAddr) -> bool {
        match self {
            Target::Module(path) => instance.resource.module.0.starts_with(&path.0),
            Target::Resource(resource) => &instance.resource == resource,
            Target::Instance(addr) => addr == instance,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Module(path) => write!(f, "{path}"),
            Target::Resource(resource) => write!(f, "{resource}"),
            Target::Instance(instance) => write!(f, "{instance}"),
        }
    }
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Splits `a.b["x.y"][0]` into dotted names and a trailing key, respecting quotes.
fn split_address(text: &str) -> Result<(Vec<String>, Option<InstanceKey>), AddrError> {
    let bad = |why: &str| AddrError(format!("`{text}` is not an address: {why}"));
    let (path, key) = match text.find('[') {
        Some(open) => {
            let (path, rest) = text.split_at(open);
            let inner = rest
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .ok_or_else(|| bad("an index must end with `]` and nothing may follow it"))?;
            let key = if let Some(quoted) = inner.strip_prefix('"') {
                let json = format!("\"{quoted}");
                let value: String = serde_json::from_str(&json)
                    .map_err(|_| bad("the key is not a valid quoted string"))?;
                InstanceKey::String(value)
            } else {
                InstanceKey::Int(
                    inner
                        .trim()
                        .parse()
                        .map_err(|_| bad("an index is a whole number or a quoted key"))?,
                )
            };
            (path, Some(key))
        }
        None => (text, None),
    };
    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    if parts.iter().any(|p| !is_name(p)) {
        return Err(bad("each part must be a name like `local_file` or `conf`"));
    }
    Ok((parts, key))
}

impl FromStr for Target {
    type Err = AddrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (parts, key) = split_address(text)?;
        let mut module = Vec::new();
        let mut rest = parts.as_slice();
        while let [first, name, tail @ ..] = rest {
            if first != "module" {
                break;
            }
            module.push(name.clone());
            rest = tail;
        }
        let module = ModulePath(module);
        let (mode, rest) = match rest {
            [first, tail @ ..] if first == "data" => (Mode::Data, tail),
            _ => (Mode::Managed, rest),
        };
        match (rest, key) {
            ([], None) if !module.is_root() && mode == Mode::Managed => Ok(Target::Module(module)),
            ([resource_type, name], key) => {
                let resource = ResourceAddr {
                    module,
                    mode,
                    resource_type: resource_type.clone(),
                    name: name.clone(),
                };
                Ok(match key {
                    None => Target::Resource(resource),
                    Some(key) => Target::Instance(resource.instance(key)),
                })
            }
            _ => Err(AddrError(format!(
                "`{text}` is not an address: write TYPE.NAME, TYPE.NAME[KEY], data.TYPE.NAME or module.NAME..."
            ))),
        }
    }
}

impl FromStr for InstanceAddr {
    type Err = AddrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<Target>()? {
            Target::Instance(instance) => Ok(instance),
            Target::Resource(resource) => Ok(resource.instance(InstanceKey::None)),
            Target::Module(_) => Err(AddrError(format!(
                "`{text}` names a module, not a resource instance"
            ))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for text in [
            "local_file.conf",
            "local_file.conf[\"api\"]",
            "null_resource.x[3]",
            "data.http.status",
            "module.cache.local_file.conf[\"a.b\"]",
            "module.a.module.b.data.x.y",
            "module.cache",
        ] {
            let target: Target = text.parse().unwrap();
            assert_eq!(target.to_string(), text);
        }
    }

    #[test]
    fn bad_addresses_are_errors_not_panics() {
        for text in [
            "", ".", "a", "a.b.c", "a.b[", "a.b[x]", "a.b[\"x]", "1a.b", "module", "a.b[0]x", "[0]",
        ] {
            assert!(text.parse::<Target>().is_err(), "{text}");
        }
    }
}
