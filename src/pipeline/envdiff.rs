//! `envdiff`: how two environments' resolved configurations differ — variables,
//! instances present in only one, attribute values. Secrets are compared by
//! a keyed hash and shown only as "same" or "differs". Generated secrets
//! come from each environment's state (opened, never written), so two
//! environments whose generated values differ say so; a secret not generated
//! yet is known only after apply.
//!
//! Invariant: no secret value leaves this module except as its comparison
//! result; the hashes are keyed with a key made for this comparison and
//! never shown, so they cannot be brute-forced from the output.

use super::{Checked, expand};
use crate::addr::{InstanceAddr, ModulePath};
use crate::diag::Diagnostics;
use crate::expand::{Expanded, Request};
use crate::host::Host;
use crate::lang::Value;
use crate::state::StateError;
use std::collections::{BTreeMap, BTreeSet};

/// One compared value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// Not present in this environment.
    Absent,
    /// A value that can be shown.
    Shown(String),
    /// A secret: only its hash is compared.
    Secret,
    /// Known only after apply.
    Unknown,
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// What is compared: `var.replicas`, `local_file.conf["api"]`, `local_file.conf["api"].path`.
    pub what: String,
    /// In environment A.
    pub a: Side,
    /// In environment B.
    pub b: Side,
    /// Whether they differ (for secrets: by hash).
    pub differs: bool,
}

/// The comparison of two environments.
#[derive(Debug, Clone, Default)]
pub struct EnvDiff {
    /// Environment A's name.
    pub a: String,
    /// Environment B's name.
    pub b: String,
    /// Every compared item, in address order; rows that are the same included
    /// (renderers may hide them).
    pub rows: Vec<Row>,
}

impl EnvDiff {
    /// Whether any row differs.
    pub fn differs(&self) -> bool {
        self.rows.iter().any(|r| r.differs)
    }
}

fn side(value: Option<&Value>) -> Side {
    match value {
        None => Side::Absent,
        // Unknown first: a secret not generated yet has no value to compare.
        Some(v) if v.contains_unknown() => Side::Unknown,
        Some(v) if v.contains_secret() => Side::Secret,
        Some(v) => Side::Shown(v.to_string()),
    }
}

/// The key of this comparison's hashes: random, made for it and dropped
/// with it.
struct HashKey([u8; 32]);

impl HashKey {
    fn new(host: &dyn Host) -> HashKey {
        let mut bytes = [0u8; 32];
        host.random_bytes(&mut bytes);
        HashKey(bytes)
    }

    /// The keyed SHA-256 of the value's JSON, secrets included: the key
    /// comes first, then the text, so equal values hash alike within one
    /// comparison and a hash says nothing without the key.
    fn digest(&self, value: &Value) -> [u8; 32] {
        use sha2::Digest as _;
        let text = value.to_json_revealed().to_string();
        sha2::Sha256::new()
            .chain_update(b"infra-envdiff\0")
            .chain_update(self.0)
            .chain_update(text.as_bytes())
            .finalize()
            .into()
    }
}

fn compare(key: &HashKey, what: String, a: Option<&Value>, b: Option<&Value>) -> Row {
    let differs = match (a, b) {
        (Some(x), Some(y)) if x.contains_unknown() || y.contains_unknown() => {
            x.contains_unknown() != y.contains_unknown()
        }
        (Some(x), Some(y)) => key.digest(x) != key.digest(y),
        (None, None) => false,
        _ => true,
    };
    Row {
        what,
        a: side(a),
        b: side(b),
        differs,
    }
}

/// Compares environments `a` and `b` of a checked stack.
pub fn envdiff(
    host: &dyn Host,
    checked: &Checked,
    a: &str,
    b: &str,
    vars: &[(String, String)],
) -> (Option<EnvDiff>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let mut expanded = Vec::new();
    for name in [a, b] {
        let known_secrets = match generated_secrets(host, checked, name) {
            Ok(secrets) => secrets,
            Err(error) => {
                diagnostics.push(error.to_diagnostic());
                expanded.push(None);
                continue;
            }
        };
        let request = Request {
            environment: Some(name.to_owned()),
            vars: vars.to_vec(),
            known_secrets,
            ..Default::default()
        };
        let (result, found) = expand(host, checked, &request);
        diagnostics.extend(found);
        expanded.push(result);
    }
    diagnostics.sort();
    let (Some(Some(left)), Some(Some(right))) = (expanded.first(), expanded.get(1)) else {
        return (None, diagnostics);
    };
    if diagnostics.has_errors() {
        return (None, diagnostics);
    }
    (Some(diff(&HashKey::new(host), left, right)), diagnostics)
}

/// The generated secrets environment `name`'s state holds, opened (none
/// when it has no state yet). Reads only: no lock, no key is created.
fn generated_secrets(
    host: &dyn Host,
    checked: &Checked,
    name: &str,
) -> Result<BTreeMap<(ModulePath, String), String>, StateError> {
    if !checked.config.environments.contains_key(name) {
        // Expanding reports the unknown environment.
        return Ok(BTreeMap::new());
    }
    let kind =
        super::state_url::backend_kind(host, &checked.config.stack).map_err(|diagnostic| {
            StateError::new(diagnostic.code, None, diagnostic.help.unwrap_or_default())
        })?;
    let backend = kind.open(host, &checked.dir, &checked.config.stack.name, name);
    let backend = backend.as_ref();
    // Read as every reading command does: an interrupted apply's journal
    // (which may hold generated secrets) folded in, nothing written.
    let reading = crate::state::Reading::open(backend)?;
    if !reading.exists() {
        return Ok(BTreeMap::new());
    }
    // With a state present, `key` opens the existing key or refuses; it
    // never creates one.
    let key = backend.key()?;
    let state = reading.open_with(host, backend, &key)?;
    super::apply::stored_secrets(state.as_ref(), &key)
}

fn diff(hash_key: &HashKey, a: &Expanded, b: &Expanded) -> EnvDiff {
    let mut rows = Vec::new();
    let names: BTreeSet<&String> = a.variables.keys().chain(b.variables.keys()).collect();
    for name in names {
        rows.push(compare(
            hash_key,
            format!("var.{name}"),
            a.variables.get(name),
            b.variables.get(name),
        ));
    }
    let secrets: BTreeSet<_> = a.secrets.keys().chain(b.secrets.keys()).collect();
    for key in secrets {
        let (module, name) = key;
        let what = if module.is_root() {
            format!("secret.{name}")
        } else {
            format!("{module}.secret.{name}")
        };
        let left = a.secrets.get(key).map(|s| &s.value);
        let right = b.secrets.get(key).map(|s| &s.value);
        rows.push(compare(hash_key, what, left, right));
    }
    let instances: BTreeSet<&InstanceAddr> = a.instances.keys().chain(b.instances.keys()).collect();
    for addr in instances {
        let left = a.instances.get(addr);
        let right = b.instances.get(addr);
        match (left, right) {
            (Some(x), Some(y)) => {
                let attributes: BTreeSet<&String> =
                    x.attributes.keys().chain(y.attributes.keys()).collect();
                for attribute in attributes {
                    rows.push(compare(
                        hash_key,
                        format!("{addr}.{attribute}"),
                        x.attributes.get(attribute),
                        y.attributes.get(attribute),
                    ));
                }
            }
            _ => {
                let present =
                    |i: Option<&crate::expand::Instance>| i.map(|_| Value::string("present"));
                let (l, r) = (present(left), present(right));
                rows.push(compare(hash_key, addr.to_string(), l.as_ref(), r.as_ref()));
            }
        }
    }
    let outputs: BTreeSet<&String> = a.outputs.keys().chain(b.outputs.keys()).collect();
    for name in outputs {
        let redact = |o: Option<&crate::expand::OutputValue>| {
            o.map(|o| {
                if o.sensitive {
                    o.value.clone().with_secret(true)
                } else {
                    o.value.clone()
                }
            })
        };
        let (l, r) = (redact(a.outputs.get(name)), redact(b.outputs.get(name)));
        rows.push(compare(
            hash_key,
            format!("output.{name}"),
            l.as_ref(),
            r.as_ref(),
        ));
    }
    EnvDiff {
        a: a.environment.name.clone(),
        b: b.environment.name.clone(),
        rows,
    }
}
