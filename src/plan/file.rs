//! The persisted form of a plan ([`PlanFile`]) and the checks that keep a saved
//! plan honest: it is authenticated with the state key, so an edit is refused,
//! and it records the prior state's lineage and serial, the configuration
//! digest and the environment, so a plan made against another world is refused
//! as stale.
//!
//! Values are stored as [`SealedValue`]s (secret leaves sealed with the state
//! key) plus the paths of the values only known after apply.
//!
//! The authentication is the SHA-256 of the canonical body (the file's JSON
//! without `authentication`, keys sorted, no whitespace), sealed with the state
//! key: only a holder of the key can make an envelope that opens, and the
//! digest inside must match the body.
//!
//! Invariant: no secret value is written in plaintext; nothing is trusted
//! before the authentication checks out.

use super::{
    Action, AttributeDrift, Change, Drift, DriftKind, Impact, OutputChange, Plan, PriorVersion,
    Reason,
};
use crate::addr::{InstanceAddr, ProviderAddr};
use crate::diag::{Code, Diagnostic};
use crate::expand::EnvironmentInfo;
use crate::host::Host;
use crate::lang::{Kind, Value};
use crate::providers::{AttributePath, Attributes};
use crate::state::{Key, PathStep, SealedValue, StateError};
use sha2::{Digest, Sha256};

/// The plan-file format this build reads and writes. Version 2 names each
/// change's provider configuration (`ssh.staging`) where version 1 held the
/// provider's name, so an older infra refuses the file instead of applying
/// an aliased change through the default configuration (another host).
pub const FORMAT_VERSION: u32 = 2;

/// The SHA-256 (hex) of the configuration: every file's path and text (in
/// path order) and the `--var` values (in the order given, since later ones
/// win). Each part is length-prefixed, so no two inputs share a digest by
/// concatenation.
pub fn config_digest(files: &[(String, String)], variables: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    let mut part = |text: &str| {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    };
    part("files");
    for (path, text) in sorted {
        part(path);
        part(text);
    }
    part("variables");
    for (name, value) in variables {
        part(name);
        part(value);
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    crate::hex::lower(bytes)
}

/// A value as a plan file stores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredValue {
    /// The value, secret parts sealed, unknown parts `null`.
    pub value: SealedValue,
    /// The paths of the values known only after apply, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_paths: Vec<Vec<PathStep>>,
}

/// A [`Change`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeFile {
    /// The instance.
    pub addr: InstanceAddr,
    /// Its resource type.
    pub resource_type: String,
    /// Its provider configuration.
    pub provider: ProviderAddr,
    /// How.
    pub action: Action,
    /// The object before (a map).
    pub before: Option<StoredValue>,
    /// The object after (a map).
    pub after: StoredValue,
    /// The attributes that force a replace.
    pub replace_paths: Vec<AttributePath>,
    /// Why.
    pub reason: Option<Reason>,
    /// The provider id an `import` block adopts first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
    /// The prior address a `moved` block renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<InstanceAddr>,
    /// The steps of a deploy, as the provider named them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::providers::DeploySteps>,
}

/// A [`Drift`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftFile {
    /// The instance.
    pub addr: InstanceAddr,
    /// Its resource type.
    pub resource_type: String,
    /// `None` when deleted outside; otherwise the changed attributes.
    pub changed: Option<Vec<AttributeDriftFile>>,
}

/// An [`AttributeDrift`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDriftFile {
    /// The attribute.
    pub name: String,
    /// What state recorded.
    pub before: StoredValue,
    /// What the provider read.
    pub after: StoredValue,
}

/// An [`OutputChange`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputChangeFile {
    /// The output.
    pub name: String,
    /// How it changes.
    pub action: Action,
    /// Before.
    pub before: Option<StoredValue>,
    /// After.
    pub after: Option<StoredValue>,
    /// Declared sensitive.
    pub sensitive: bool,
}

/// A saved plan (`infra plan --out FILE`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The stack.
    pub stack: String,
    /// The environment's name.
    pub environment: String,
    /// Whether the environment is protected.
    pub protected: bool,
    /// The prior state's lineage and serial; `null` when the plan was made
    /// with no prior state.
    pub prior: Option<PriorVersion>,
    /// The configuration digest ([`config_digest`]).
    pub config_digest: String,
    /// The fingerprint of the key that sealed and authenticated it.
    pub key_id: String,
    /// The changes, in plan order.
    pub changes: Vec<ChangeFile>,
    /// The drift.
    pub drift: Vec<DriftFile>,
    /// The output changes.
    pub output_changes: Vec<OutputChangeFile>,
    /// The impact analysis (addresses and counts only, no values).
    #[serde(default)]
    pub impact: Impact,
    /// `--target` addresses the plan was limited to (empty: the whole stack).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The sealed digest of the rest of the file.
    pub authentication: SealedValue,
}

/// A sealing failure, which only a broken random source or cipher causes.
fn sealing_failed(error: &StateError) -> Diagnostic {
    Diagnostic::error_at_path(Code::Internal, None).with_help(error.help.clone())
}

fn tampered(help: impl Into<String>) -> Diagnostic {
    Diagnostic::error_at_path(Code::PlanTampered, None).with_help(help)
}

impl PlanFile {
    /// The persisted form of `plan`, sealed and authenticated with `key`.
    pub fn new(plan: &Plan, key: &Key, host: &dyn Host) -> Result<PlanFile, Diagnostic> {
        let store = |value: &Value| store_value(key, host, value).map_err(|e| sealing_failed(&e));
        let store_map = |attributes: &Attributes| store(&Value::map(attributes.clone()));
        let mut changes = Vec::with_capacity(plan.changes.len());
        for change in &plan.changes {
            changes.push(ChangeFile {
                addr: change.addr.clone(),
                resource_type: change.resource_type.clone(),
                provider: change.provider.clone(),
                action: change.action,
                before: change.before.as_ref().map(store_map).transpose()?,
                after: store_map(&change.after)?,
                replace_paths: change.replace_paths.clone(),
                reason: change.reason,
                import_id: change.import_id.clone(),
                moved_from: change.moved_from.as_deref().cloned(),
                deploy: change.deploy.as_deref().cloned(),
            });
        }
        let mut drift = Vec::with_capacity(plan.drift.len());
        for entry in &plan.drift {
            let changed = match &entry.kind {
                DriftKind::Deleted => None,
                DriftKind::Changed(attributes) => Some(
                    attributes
                        .iter()
                        .map(|attribute| {
                            Ok(AttributeDriftFile {
                                name: attribute.name.clone(),
                                before: store(&attribute.before)?,
                                after: store(&attribute.after)?,
                            })
                        })
                        .collect::<Result<Vec<_>, Diagnostic>>()?,
                ),
            };
            drift.push(DriftFile {
                addr: entry.addr.clone(),
                resource_type: entry.resource_type.clone(),
                changed,
            });
        }
        let mut output_changes = Vec::with_capacity(plan.output_changes.len());
        for output in &plan.output_changes {
            // A sensitive output is sealed whole, secret-marked or not.
            let seal = |value: &Value| store(&value.clone().mark_secret_if(output.sensitive));
            output_changes.push(OutputChangeFile {
                name: output.name.clone(),
                action: output.action,
                before: output.before.as_ref().map(seal).transpose()?,
                after: output.after.as_ref().map(seal).transpose()?,
                sensitive: output.sensitive,
            });
        }
        let mut file = PlanFile {
            format_version: FORMAT_VERSION,
            stack: plan.stack.clone(),
            environment: plan.environment.name.clone(),
            protected: plan.environment.protected,
            prior: plan.prior.clone(),
            config_digest: plan.config_digest.clone(),
            key_id: key.id(),
            changes,
            drift,
            output_changes,
            impact: plan.impact.clone(),
            targets: plan.targets.iter().map(ToString::to_string).collect(),
            authentication: SealedValue::default(),
        };
        let digest = Value::string(file.body_digest()).with_secret(true);
        file.authentication = key.seal(host, &digest).map_err(|e| sealing_failed(&e))?;
        Ok(file)
    }

    /// The SHA-256 (hex) of the canonical body.
    fn body_digest(&self) -> String {
        let mut json = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(object) = json.as_object_mut() {
            object.remove("authentication");
        }
        // `serde_json::Map` keeps keys sorted, so this is canonical.
        hex(&Sha256::digest(json.to_string().as_bytes()))
    }

    /// The bytes to write: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses a plan file and checks its format and authentication with `key`.
    pub fn parse(bytes: &[u8], key: &Key) -> Result<PlanFile, Diagnostic> {
        let invalid =
            |help: String| Diagnostic::error_at_path(Code::PlanInvalidFile, None).with_help(help);
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
            invalid(format!(
                "{error}; make the plan again with `infra plan --out`"
            ))
        })?;
        if let Some(version) = json
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            && version != u64::from(FORMAT_VERSION)
        {
            return Err(invalid(format!(
                "the plan file has format version {version}; this infra reads version \
                 {FORMAT_VERSION}: make the plan again with this infra"
            )));
        }
        let file: PlanFile = serde_json::from_value(json).map_err(|error| {
            invalid(format!(
                "{error}; make the plan again with `infra plan --out`"
            ))
        })?;
        if file.key_id != key.id() {
            return Err(tampered(
                "the plan was made with another state key; use the key it was made with \
                 (INFRA_STATE_KEY or .infra/key) or make the plan again",
            ));
        }
        let altered = || {
            tampered(
                "the plan file changed after it was written; make the plan again and apply it unedited",
            )
        };
        let sealed = key
            .open(&file.authentication, None)
            .map_err(|_| altered())?;
        if sealed.as_str() != Some(file.body_digest().as_str()) {
            return Err(altered());
        }
        Ok(file)
    }

    /// The plan it holds, secrets opened (and marked) with `key`.
    pub fn to_plan(&self, key: &Key) -> Result<Plan, Diagnostic> {
        let open = |stored: &StoredValue| {
            open_value(key, stored).map_err(|_| {
                tampered("a sealed value does not open with this key; make the plan again")
            })
        };
        let open_map =
            |stored: &StoredValue| open(stored).map(|v| v.as_map().cloned().unwrap_or_default());
        let mut changes = Vec::with_capacity(self.changes.len());
        for change in &self.changes {
            changes.push(Change {
                addr: change.addr.clone(),
                resource_type: change.resource_type.clone(),
                provider: change.provider.clone(),
                action: change.action,
                before: change.before.as_ref().map(open_map).transpose()?,
                after: open_map(&change.after)?,
                replace_paths: change.replace_paths.clone(),
                reason: change.reason,
                import_id: change.import_id.clone(),
                moved_from: change.moved_from.clone().map(Box::new),
                deploy: change.deploy.clone().map(Box::new),
            });
        }
        let mut drift = Vec::with_capacity(self.drift.len());
        for entry in &self.drift {
            let kind = match &entry.changed {
                None => DriftKind::Deleted,
                Some(attributes) => DriftKind::Changed(
                    attributes
                        .iter()
                        .map(|attribute| {
                            Ok(AttributeDrift {
                                name: attribute.name.clone(),
                                before: open(&attribute.before)?,
                                after: open(&attribute.after)?,
                            })
                        })
                        .collect::<Result<Vec<_>, Diagnostic>>()?,
                ),
            };
            drift.push(Drift {
                addr: entry.addr.clone(),
                resource_type: entry.resource_type.clone(),
                kind,
            });
        }
        let mut output_changes = Vec::with_capacity(self.output_changes.len());
        for output in &self.output_changes {
            output_changes.push(OutputChange {
                name: output.name.clone(),
                action: output.action,
                before: output.before.as_ref().map(open).transpose()?,
                after: output.after.as_ref().map(open).transpose()?,
                sensitive: output.sensitive,
            });
        }
        Ok(Plan {
            stack: self.stack.clone(),
            environment: EnvironmentInfo {
                name: self.environment.clone(),
                protected: self.protected,
            },
            prior: self.prior.clone(),
            changes,
            drift,
            output_changes,
            config_digest: self.config_digest.clone(),
            impact: self.impact.clone(),
            targets: self
                .targets
                .iter()
                .map(|text| {
                    text.parse().map_err(|_| {
                        tampered(format!(
                            "the plan file's target `{text}` is not an address; make the plan again"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            // Policies are checked again when a saved plan is applied.
            policy: None,
        })
    }

    /// Refuses the plan when the world moved since it was made: another stack
    /// or environment, a state that moved (lineage or serial), appeared or
    /// vanished, or a configuration that changed. `current` is the current
    /// state's lineage and serial, `None` when there is no state.
    pub fn check_fresh(
        &self,
        current: Option<(&str, u64)>,
        config_digest: &str,
        stack: &str,
        environment: &str,
    ) -> Result<(), Diagnostic> {
        if self.stack != stack || self.environment != environment {
            return Err(
                Diagnostic::error_at_path(Code::PlanWrongEnvironment, None).with_help(format!(
                    "the plan was made for stack `{}`, environment `{}`, not stack `{stack}`, \
                     environment `{environment}`; apply it with `--env {}` or make a plan for \
                     this environment",
                    self.stack, self.environment, self.environment
                )),
            );
        }
        let stale = |help: String| {
            Diagnostic::error_at_path(Code::PlanStaleState, None)
                .with_help(format!("{help}; make the plan again and review it"))
        };
        match (&self.prior, current) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(stale(
                    "the plan was made with no prior state, and a state exists now".to_owned(),
                ));
            }
            (Some(prior), None) => {
                return Err(stale(format!(
                    "the plan was made against state serial {}, and there is no state now",
                    prior.serial
                )));
            }
            (Some(prior), Some((lineage, _))) if prior.lineage != lineage => {
                return Err(stale(format!(
                    "the plan was made against state lineage {}, and the state now has lineage \
                     {lineage}",
                    prior.lineage
                )));
            }
            (Some(prior), Some((_, serial))) if prior.serial != serial => {
                return Err(stale(format!(
                    "the plan was made against state serial {}, and the state is at serial \
                     {serial} now",
                    prior.serial
                )));
            }
            (Some(_), Some(_)) => {}
        }
        if self.config_digest != config_digest {
            return Err(
                Diagnostic::error_at_path(Code::PlanStaleConfiguration, None).with_help(
                    "the configuration files or `--var` values differ from those the plan was made \
                 from; make the plan again and review it",
                ),
            );
        }
        Ok(())
    }
}

/// Seals `value` and records where its unknown parts are.
fn store_value(key: &Key, host: &dyn Host, value: &Value) -> Result<StoredValue, StateError> {
    let mut unknown_paths = Vec::new();
    collect_unknown(value, &mut Vec::new(), &mut unknown_paths);
    Ok(StoredValue {
        value: key.seal(host, value)?,
        unknown_paths,
    })
}

fn collect_unknown(value: &Value, path: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match value.kind() {
        Kind::Unknown => out.push(path.clone()),
        Kind::List(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(PathStep::Index(index as u64));
                collect_unknown(item, path, out);
                path.pop();
            }
        }
        Kind::Map(entries) => {
            for (name, item) in entries {
                path.push(PathStep::Key(name.clone()));
                collect_unknown(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Opens a stored value and puts its unknown parts back.
fn open_value(key: &Key, stored: &StoredValue) -> Result<Value, StateError> {
    let mut value = key.open(&stored.value, None)?;
    for path in &stored.unknown_paths {
        value = mark_unknown(value, path);
    }
    Ok(value)
}

/// `value` with the part at `path` made unknown (keeping secret marks).
fn mark_unknown(value: Value, path: &[PathStep]) -> Value {
    let secret = value.is_secret();
    let Some((first, rest)) = path.split_first() else {
        return Value::UNKNOWN.with_secret(secret);
    };
    match (value.into_kind(), first) {
        (Kind::List(mut items), PathStep::Index(index)) => {
            if let Some(item) = usize::try_from(*index)
                .ok()
                .and_then(|index| items.get_mut(index))
            {
                *item = mark_unknown(std::mem::replace(item, Value::NULL), rest);
            }
            Value::list(items).with_secret(secret)
        }
        (Kind::Map(mut entries), PathStep::Key(name)) => {
            if let Some(item) = entries.get_mut(name) {
                *item = mark_unknown(std::mem::replace(item, Value::NULL), rest);
            }
            Value::map(entries).with_secret(secret)
        }
        (kind, _) => Value::new(kind).with_secret(secret),
    }
}
