//! Addresses of things in a stack, as users write them: `local_file.conf`,
//! `local_file.conf["api"]`, `module.cache.null_resource.x[0]`,
//! `module.site["blog"].local_file.index`, `data.http.status`. `Display`
//! prints user syntax; `FromStr` parses it (for `--target`, `state mv`,
//! `moved` and `import` blocks).
//!
//! Terminology: a *module path* names a module call at each step; a step of
//! a call with `count` or `for_each` carries the *instance key* of one module
//! instance (`module.site["blog"]`). The configuration's modules have paths
//! without keys (see [`ModulePath::config_path`]); the instances a plan or
//! state holds have keys wherever their module calls expand.
//!
//! Invariant: a leaf module; parsing never panics on any input.

use std::fmt;
use std::str::FromStr;

/// One step of a [`ModulePath`]: a module call's name and, when the call has
/// `count` or `for_each`, the key of one of its instances.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleStep {
    /// The module call's name (the `module "NAME"` label).
    pub name: String,
    /// Which instance of the call; [`InstanceKey::None`] for a call without
    /// `count` or `for_each`, and in configuration paths.
    pub key: InstanceKey,
}

impl ModuleStep {
    /// A step without an instance key.
    pub fn named(name: &str) -> Self {
        ModuleStep {
            name: name.to_owned(),
            key: InstanceKey::None,
        }
    }
}

impl fmt::Display for ModuleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.key)
    }
}

/// A step is stored as its text (`cache`, `site["blog"]`, `web[0]`), so a
/// state written before module instances existed reads unchanged.
impl serde::Serialize for ModuleStep {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ModuleStep {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let segments = segments(&text).map_err(|e| serde::de::Error::custom(e.0))?;
        match segments.as_slice() {
            [(name, key)] => Ok(ModuleStep {
                name: name.clone(),
                key: key.clone().unwrap_or(InstanceKey::None),
            }),
            _ => Err(serde::de::Error::custom(format!(
                "`{text}` is not a module step (NAME or NAME[KEY])"
            ))),
        }
    }
}

/// The path of module calls from the root: `module.a.module.b["k"]` is the
/// steps `a` and `b["k"]`.
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
pub struct ModulePath(pub Vec<ModuleStep>);

impl ModulePath {
    /// The root module.
    pub fn root() -> Self {
        ModulePath(Vec::new())
    }

    /// A path of calls without instance keys: `["a", "b"]` is `module.a.module.b`.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        ModulePath(
            names
                .iter()
                .map(|n| ModuleStep::named(n.as_ref()))
                .collect(),
        )
    }

    /// Whether this is the root module.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path of a child module call (no instance key).
    #[must_use]
    pub fn child(&self, name: &str) -> ModulePath {
        self.child_instance(name, InstanceKey::None)
    }

    /// The path of one instance of a child module call.
    #[must_use]
    pub fn child_instance(&self, name: &str, key: InstanceKey) -> ModulePath {
        let mut path = self.0.clone();
        path.push(ModuleStep {
            name: name.to_owned(),
            key,
        });
        ModulePath(path)
    }

    /// The calling module's path and the last step (`None` for the root).
    pub fn split_last(&self) -> Option<(ModulePath, &ModuleStep)> {
        let (last, parent) = self.0.split_last()?;
        Some((ModulePath(parent.to_vec()), last))
    }

    /// The same path without instance keys: the module in the configuration
    /// that this module instance is an instance of.
    #[must_use]
    pub fn config_path(&self) -> ModulePath {
        ModulePath(
            self.0
                .iter()
                .map(|step| ModuleStep::named(&step.name))
                .collect(),
        )
    }

    /// Where this path goes when the module at `from` moves to `to` (a
    /// `moved` block or `infra state mv`); `None` when it is not under
    /// `from`. A path under `from` keeps its steps below it. When both name
    /// a whole module call (no key on their last step), every instance of
    /// the call moves and keeps its key: `module.a["x"]` goes to
    /// `module.b["x"]`.
    pub fn moved(&self, from: &ModulePath, to: &ModulePath) -> Option<ModulePath> {
        let rest = match self.0.strip_prefix(from.0.as_slice()) {
            Some(rest) => rest,
            None => {
                let (from_last, from_parent) = from.0.split_last()?;
                let (to_last, _) = to.0.split_last()?;
                let at = self.0.get(from_parent.len())?;
                let whole_call = from_last.key == InstanceKey::None
                    && to_last.key == InstanceKey::None
                    && self.0.starts_with(from_parent)
                    && at.name == from_last.name;
                if !whole_call {
                    return None;
                }
                let mut path = to.0.clone();
                if let Some(last) = path.last_mut() {
                    last.key = at.key.clone();
                }
                path.extend(self.0.iter().skip(from.0.len()).cloned());
                return Some(ModulePath(path));
            }
        };
        let mut path = to.0.clone();
        path.extend(rest.iter().cloned());
        Some(ModulePath(path))
    }

    /// Whether `prefix` is this path or one of its ancestors. A step of
    /// `prefix` without a key matches every instance of that call, as a
    /// target names a whole module call: `module.a` contains
    /// `module.a["x"].module.b`.
    pub fn within(&self, prefix: &ModulePath) -> bool {
        prefix.0.len() <= self.0.len()
            && prefix
                .0
                .iter()
                .zip(&self.0)
                .all(|(p, s)| p.name == s.name && (p.key == InstanceKey::None || p.key == s.key))
    }
}

impl fmt::Display for ModulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "module.{step}")?;
        }
        Ok(())
    }
}

impl FromStr for ModulePath {
    type Err = AddrError;

    /// Parses `module.a.module.b["k"]`; the empty string is the root module.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Ok(ModulePath::root());
        }
        match text.parse::<Target>()? {
            Target::Module(path) => Ok(path),
            _ => Err(AddrError(format!("`{text}` is not a module path"))),
        }
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

/// A [`ResourceAddr`] made of borrowed parts, to look one up in a
/// hashbrown map keyed by addresses (the graph's `FastTable`) without
/// building (and allocating) it:
/// it hashes exactly as the address with the same parts (the derived `Hash`
/// of both hashes the same fields in the same order, a `String` as its
/// `str`) and is equivalent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceAddrRef<'a> {
    /// The module it is in.
    pub module: &'a ModulePath,
    /// Managed or data.
    pub mode: Mode,
    /// The provider resource type.
    pub resource_type: &'a str,
    /// The name label.
    pub name: &'a str,
}

impl hashbrown::Equivalent<ResourceAddr> for ResourceAddrRef<'_> {
    fn equivalent(&self, key: &ResourceAddr) -> bool {
        self.mode == key.mode
            && self.name == key.name
            && self.resource_type == key.resource_type
            && *self.module == key.module
    }
}

impl ResourceAddr {
    /// This address, borrowed (see [`ResourceAddrRef`]).
    pub fn borrowed(&self) -> ResourceAddrRef<'_> {
        ResourceAddrRef {
            module: &self.module,
            mode: self.mode,
            resource_type: &self.resource_type,
            name: &self.name,
        }
    }
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

    /// Whether `other` is this resource or, where this address leaves a
    /// module call's key out, the same resource in any instance of that call.
    pub fn contains(&self, other: &ResourceAddr) -> bool {
        self.mode == other.mode
            && self.resource_type == other.resource_type
            && self.name == other.name
            && self.module.0.len() == other.module.0.len()
            && other.module.within(&self.module)
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

/// A provider configuration: a root `provider "NAME"` block, told apart
/// from the others of its provider by its `alias` (`ssh`, `ssh.staging`).
/// Resources name it with `provider = NAME.ALIAS`; state records it per
/// resource, so an object is always read, changed and destroyed through the
/// configuration it was created with.
///
/// Stored as its text (`ssh`, `ssh.staging`): a state written before aliases
/// holds the provider's bare name, which reads as the block without alias.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProviderAddr {
    /// The provider's name (`ssh`).
    pub name: String,
    /// The block's `alias`; `None` for the block without one (the default).
    pub alias: Option<String>,
}

impl ProviderAddr {
    /// The configuration `name` with `alias`.
    pub fn new(name: impl Into<String>, alias: Option<String>) -> Self {
        ProviderAddr {
            name: name.into(),
            alias,
        }
    }

    /// The default configuration of `name`: its block without `alias`.
    pub fn named(name: impl Into<String>) -> Self {
        Self::new(name, None)
    }

    /// The configuration a `(name, alias)` key of the configuration names.
    pub fn from_key(key: &(String, Option<String>)) -> Self {
        Self::new(key.0.clone(), key.1.clone())
    }

    /// Whether it is the default configuration (no alias).
    pub fn is_default(&self) -> bool {
        self.alias.is_none()
    }
}

impl fmt::Display for ProviderAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.alias {
            Some(alias) => write!(f, "{}.{alias}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl FromStr for ProviderAddr {
    type Err = AddrError;

    /// `NAME` or `NAME.ALIAS`: the name an identifier, the alias any
    /// non-empty text (the first `.` ends the name, so every alias a block
    /// can hold reads back as written).
    fn from_str(text: &str) -> Result<Self, AddrError> {
        let is_identifier = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        let (name, alias) = match text.split_once('.') {
            Some((name, alias)) => (name, Some(alias)),
            None => (text, None),
        };
        if !is_identifier(name) || alias.is_some_and(str::is_empty) {
            return Err(AddrError(format!(
                "`{text}` is not a provider configuration (NAME or NAME.ALIAS)"
            )));
        }
        Ok(ProviderAddr::new(name, alias.map(str::to_owned)))
    }
}

impl serde::Serialize for ProviderAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ProviderAddr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|e: AddrError| serde::de::Error::custom(e.0))
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
            Target::Module(path) => instance.resource.module.within(path),
            Target::Resource(resource) => resource.contains(&instance.resource),
            Target::Instance(addr) => {
                addr.key == instance.key && addr.resource.contains(&instance.resource)
            }
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

/// Splits `module.a["x.y"].b.c[0]` into its dotted names, each with the key
/// written right after it, respecting quotes.
fn segments(text: &str) -> Result<Vec<(String, Option<InstanceKey>)>, AddrError> {
    let bad = |why: &str| AddrError(format!("`{text}` is not an address: {why}"));
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        if !is_name(name) {
            return Err(bad("each part must be a name like `local_file` or `conf`"));
        }
        let (key, after) = match after.strip_prefix('[') {
            Some(inner) => {
                let (key, after) = instance_key(inner).ok_or_else(|| {
                    bad("an index is a whole number or a quoted key, and ends with `]`")
                })?;
                (Some(key), after)
            }
            None => (None, after),
        };
        out.push((name.to_owned(), key));
        if after.is_empty() {
            return Ok(out);
        }
        rest = after
            .strip_prefix('.')
            .ok_or_else(|| bad("after an index comes `.` or nothing"))?;
    }
}

/// Reads `"key"]` or `3]` (the text after `[`): the key and what follows `]`.
fn instance_key(inner: &str) -> Option<(InstanceKey, &str)> {
    if let Some(quoted) = inner.strip_prefix('"') {
        // The closing quote is the first one not escaped by a backslash.
        let mut escaped = false;
        let close = quoted.char_indices().find_map(|(i, c)| {
            let found = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            found.then_some(i)
        })?;
        let literal = inner.get(..close + 2)?;
        let value: String = serde_json::from_str(literal).ok()?;
        let after = quoted.get(close + 1..)?.strip_prefix(']')?;
        Some((InstanceKey::String(value), after))
    } else {
        let (number, after) = inner.split_once(']')?;
        Some((InstanceKey::Int(number.trim().parse().ok()?), after))
    }
}

impl FromStr for Target {
    type Err = AddrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let parts = segments(text)?;
        let shape = || {
            AddrError(format!(
                "`{text}` is not an address: write TYPE.NAME, TYPE.NAME[KEY], data.TYPE.NAME or module.NAME..."
            ))
        };
        let mut module = Vec::new();
        let mut rest = parts.as_slice();
        while let [(first, None), (name, key), tail @ ..] = rest {
            if first != "module" {
                break;
            }
            module.push(ModuleStep {
                name: name.clone(),
                key: key.clone().unwrap_or(InstanceKey::None),
            });
            rest = tail;
        }
        let module = ModulePath(module);
        let (mode, rest) = match rest {
            [(first, None), tail @ ..] if first == "data" => (Mode::Data, tail),
            _ => (Mode::Managed, rest),
        };
        match rest {
            [] if !module.is_root() && mode == Mode::Managed => Ok(Target::Module(module)),
            [(resource_type, None), (name, key)] => {
                let resource = ResourceAddr {
                    module,
                    mode,
                    resource_type: resource_type.clone(),
                    name: name.clone(),
                };
                Ok(match key {
                    None => Target::Resource(resource),
                    Some(key) => Target::Instance(resource.instance(key.clone())),
                })
            }
            _ => Err(shape()),
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
            "module.site[\"blog\"].local_file.index",
            "module.site[\"a.b]\"].module.web[0].null_resource.x[\"k\"]",
            "module.site[\"blog\"]",
            "module.web[2]",
        ] {
            let target: Target = text.parse().unwrap();
            assert_eq!(target.to_string(), text);
        }
    }

    #[test]
    fn bad_addresses_are_errors_not_panics() {
        for text in [
            "",
            ".",
            "a",
            "a.b.c",
            "a.b[",
            "a.b[x]",
            "a.b[\"x]",
            "1a.b",
            "module",
            "a.b[0]x",
            "[0]",
            "module[0].x",
            "local_file[0].x",
            "module.a[\"x\"",
            "module.a[\"x\"]y.b.c",
            "module.a[x].b.c",
            "data[0].a.b",
        ] {
            assert!(text.parse::<Target>().is_err(), "{text}");
        }
    }

    #[test]
    fn a_target_without_a_module_key_names_every_instance_of_the_call() {
        let instance: InstanceAddr = "module.site[\"blog\"].local_file.index".parse().unwrap();
        for (target, selects) in [
            ("module.site", true),
            ("module.site[\"blog\"]", true),
            ("module.site[\"shop\"]", false),
            ("module.site.local_file.index", true),
            ("module.site[\"blog\"].local_file.index", true),
            ("module.site[\"shop\"].local_file.index", false),
            ("local_file.index", false),
            ("module.other", false),
        ] {
            let parsed: Target = target.parse().unwrap();
            assert_eq!(parsed.contains(&instance), selects, "{target}");
        }
    }

    #[test]
    fn provider_configurations_are_stored_as_their_text_and_a_bare_name_is_the_default() {
        let aliased: ProviderAddr = "ssh.staging".parse().unwrap();
        assert_eq!(
            aliased,
            ProviderAddr::new("ssh", Some("staging".to_owned()))
        );
        let json = serde_json::to_string(&aliased).unwrap();
        assert_eq!(json, r#""ssh.staging""#);
        assert_eq!(
            serde_json::from_str::<ProviderAddr>(&json).unwrap(),
            aliased
        );
        // What states written before aliases hold.
        let old: ProviderAddr = serde_json::from_str(r#""ssh""#).unwrap();
        assert_eq!(old, ProviderAddr::named("ssh"));
        assert!(old.is_default() && !aliased.is_default());
        assert_eq!(old.to_string(), "ssh");
        let odd: ProviderAddr = "aws.eu.west".parse().unwrap();
        assert_eq!(odd.alias.as_deref(), Some("eu.west"));
        assert_eq!(odd.to_string(), "aws.eu.west");
        for text in ["", ".", "ssh.", ".x", "1ssh", "ssh[0].a", "a b"] {
            assert!(text.parse::<ProviderAddr>().is_err(), "{text:?}");
            assert!(
                serde_json::from_str::<ProviderAddr>(&format!("{text:?}")).is_err(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn module_steps_are_stored_as_their_text() {
        let path: ModulePath = "module.site[\"blog\"].module.web[0].module.plain"
            .parse()
            .unwrap();
        let json = serde_json::to_string(&path).unwrap();
        assert_eq!(json, r#"["site[\"blog\"]","web[0]","plain"]"#);
        let back: ModulePath = serde_json::from_str(&json).unwrap();
        assert_eq!(back, path);
        assert_eq!(
            path.config_path().to_string(),
            "module.site.module.web.module.plain"
        );
        let old: ModulePath = serde_json::from_str(r#"["cache"]"#).unwrap();
        assert_eq!(old, ModulePath::from_names(&["cache"]));
    }
}
