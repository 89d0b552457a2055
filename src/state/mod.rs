//! Stored state: the model ([`State`]), its persisted form ([`StateFile`]),
//! the backends (`local` files, a shared `postgres` database, an `s3`
//! bucket) with their
//! history, the lock, the crash journal and the
//! sealing of secret values.
//!
//! Terminology: the *prior state* is what the last command left behind; a
//! *version* is one written [`StateFile`], numbered by its *serial*, and every
//! version of one state shares its *lineage*. A value is *sealed* when its
//! plaintext was replaced by an authenticated-encryption envelope.
//!
//! Invariant: no syntax, graph or provider types here; the machine is reached
//! only through [`Host`].
//! Invariant: a secret value never reaches a file in plaintext: attributes,
//! configuration snapshots and outputs are sealed before they are stored.
//! Invariant: a file that fails any check (JSON, format, checksum, serial,
//! lineage, key) is refused and never overwritten.

pub mod audit;
pub mod backend;
pub mod crypto;
pub mod delta;
pub mod file;
pub mod journal;
pub mod json;
pub mod local;
pub mod lock;
pub mod postgres;
mod remote;
pub mod retention;
pub mod s3;
pub mod session;

pub use audit::{ActionOutcome, AuditAction, AuditLog, AuditRecord, AuditResult, PrunedVersions};
pub use backend::{BACKENDS, Backend, JournalWriter};
pub use crypto::{Key, KeySource, PathStep, SealedValue};
pub use file::{FORMAT_VERSION, READABLE_FORMAT_VERSIONS, StateFile, VersionInfo};
pub use journal::{Journal, JournalRead};
pub use json::Json;
pub use local::LocalBackend;
pub use lock::{HeldLock, Lock, LockInfo};
pub use postgres::PostgresBackend;
pub use retention::Retention;
pub use s3::{S3Backend, S3Settings};
pub use session::{Finished, KeyUse, Reading, Writing};

use crate::addr::{InstanceAddr, InstanceKey, ProviderAddr, ResourceAddr};
use crate::diag::{Code, Diagnostic};
use crate::host::Host;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why state could not be read, written, locked or unsealed.
///
/// The message is the code's fixed phrase; the file and the details are in
/// `path` and `help`, never a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", code.message())]
pub struct StateError {
    /// The stable code (`infra::state::*`).
    pub code: Code,
    /// The file the problem is about.
    pub path: Option<PathBuf>,
    /// What happened and what to do.
    pub help: String,
    /// Who holds the lock, for [`Code::StateLocked`] and [`Code::StateLockMismatch`].
    pub holder: Option<Box<LockInfo>>,
}

impl StateError {
    /// An error about `path`.
    pub fn new(code: Code, path: Option<&Path>, help: impl Into<String>) -> Self {
        StateError {
            code,
            path: path.map(Path::to_path_buf),
            help: help.into(),
            holder: None,
        }
    }

    /// A failed read or write of `path` through the host.
    pub fn io(path: &Path, doing: &str, error: &crate::host::HostError) -> Self {
        StateError::new(
            Code::StateIo,
            Some(path),
            format!("{doing} {} failed: {error}", path.display()),
        )
    }

    /// The diagnostic users see.
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic::error_at_path(
            self.code,
            self.path.as_ref().map(|p| p.display().to_string()),
        )
        .with_help(self.help.clone())
    }
}

/// The state of one stack environment: every resource instance the engine
/// manages, and the outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Identifies this state across all its versions (a UUID v4 string).
    pub lineage: String,
    /// The serial of the version this was read from; 0 for a state never written.
    pub serial: u64,
    /// The resources, sorted by address.
    pub resources: Vec<ResourceState>,
    /// The outputs by name.
    pub outputs: BTreeMap<String, OutputState>,
    /// Calls that were started but whose result was never recorded (the
    /// process died mid-call); the next command that takes the lock resumes
    /// each before planning.
    pub pending: Vec<PendingCall>,
    /// Generated secret values, sealed, keyed `"<module path>secret.NAME"`.
    pub secrets: BTreeMap<String, SealedValue>,
}

/// Which mutating provider call was started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// `create` (the only kind journals written before 2026-12 hold).
    #[default]
    Create,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
}

impl CallKind {
    /// Whether it is a create (the default, left out when serialized).
    pub fn is_create(&self) -> bool {
        *self == CallKind::Create
    }

    /// Its name: `create`, `update`, `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Create => "create",
            CallKind::Update => "update",
            CallKind::Delete => "delete",
        }
    }
}

/// A create, update or delete that was started and not seen to finish: the
/// next command that takes the lock settles it through `Provider::resume`
/// before planning.
///
/// Every field after `planned` is new since journals and states held only
/// pending creates; they default, so those still read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingCall {
    /// The instance acted on.
    pub instance: InstanceAddr,
    /// Its resource type.
    pub resource_type: String,
    /// The provider configuration the call was made through.
    pub provider: ProviderAddr,
    /// The planned attributes the call was made with, secrets sealed (an
    /// empty map for a delete).
    pub planned: SealedValue,
    /// Which call.
    #[serde(default, skip_serializing_if = "CallKind::is_create")]
    pub call: CallKind,
    /// The object the call started from (update, delete), secrets sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<SealedValue>,
    /// The configuration to record with the object it settles to (create,
    /// update), secrets sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<SealedValue>,
    /// What the instance depends on, to record with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<ResourceAddr>,
    /// A delete of an object no longer at the address: the old object of a
    /// create-before-destroy replacement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deposed: bool,
    /// The last checkpoint the call wrote (provider-defined, no secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<serde_json::Value>,
}

impl PendingCall {
    /// A pending call with no prior, configuration or checkpoint.
    pub fn new(
        instance: InstanceAddr,
        resource_type: String,
        provider: ProviderAddr,
        planned: SealedValue,
        call: CallKind,
    ) -> PendingCall {
        PendingCall {
            instance,
            resource_type,
            provider,
            planned,
            call,
            prior: None,
            config: None,
            dependencies: Vec::new(),
            deposed: false,
            checkpoint: None,
        }
    }
}

/// One resource block and its instances.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceState {
    /// The resource's address.
    pub addr: ResourceAddr,
    /// The provider configuration that manages it (`ssh`, `ssh.staging`):
    /// the one it is read, changed and destroyed through, also once its
    /// block is gone. States of format version 1 hold the bare name, which
    /// is the default configuration.
    pub provider: ProviderAddr,
    /// The instances, sorted by key.
    #[serde(deserialize_with = "exact_vec")]
    pub instances: Vec<InstanceState>,
}

/// One instance: what the provider reported, what it depends on, and the
/// configuration it was applied from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceState {
    /// `None`, a `count` index or a `for_each` key.
    pub key: InstanceKey,
    /// The attributes after the last apply, secrets sealed; the sensitive
    /// paths are the `sensitive_paths` of this value.
    pub attributes: SealedValue,
    /// What the instance depended on when applied (for delete order once its
    /// block is gone from the configuration).
    #[serde(deserialize_with = "exact_vec")]
    pub dependencies: Vec<ResourceAddr>,
    /// The resolved configuration it was applied from, secrets sealed: enough
    /// to roll back without the old source.
    pub config: SealedValue,
}

/// One output value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputState {
    /// The value, secrets sealed.
    pub value: SealedValue,
    /// Whether the output was declared sensitive.
    pub sensitive: bool,
}

/// One completed action, as the apply stage journals it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
pub enum JournalRecord {
    /// The version the journal was started against: its first record, so
    /// that it is never folded onto another version. Journals written before
    /// this record existed lack it.
    Base {
        /// The state's lineage.
        lineage: String,
        /// The serial of the version the apply started from (0: none yet).
        serial: u64,
    },
    /// The version the records are about to be written into: appended
    /// durably just before that version is written, so that a journal left
    /// behind by a process killed between writing the version and removing
    /// the journal is known to be recorded already.
    Committed {
        /// The state's lineage.
        lineage: String,
        /// The serial of the version being written.
        serial: u64,
    },
    /// An instance was created, updated or read: its new state.
    Set {
        /// The resource.
        resource: ResourceAddr,
        /// Its provider configuration.
        provider: ProviderAddr,
        /// The instance's new state (secrets sealed).
        instance: InstanceState,
    },
    /// An instance was deleted.
    Remove {
        /// The instance.
        instance: InstanceAddr,
    },
    /// A create, update or delete is about to start (written durably before
    /// the provider call); the call's result (a `Set`, `Remove` or
    /// `Settled`) clears it. The same record as [`PendingCall`].
    Pending(PendingCall),
    /// A started call's checkpoint (written durably before the step it
    /// guards): the provider's JSON, in the clear (it holds no secret), so
    /// crash trials can find it by its `"step"`.
    Checkpoint {
        /// The instance the call acts on.
        instance: InstanceAddr,
        /// The provider's record.
        checkpoint: serde_json::Value,
    },
    /// A started call returned without an object to record (a failed update
    /// or delete, which the provider rolled back; the delete of a replaced
    /// object): its started record is cleared.
    Settled {
        /// The instance the call acted on.
        instance: InstanceAddr,
    },
    /// An instance moved to a new address (`moved` block); no provider call.
    Move {
        /// The old address.
        from: InstanceAddr,
        /// The new address.
        to: InstanceAddr,
    },
    /// A generated secret's value.
    Secret {
        /// `"<module path>secret.NAME"`.
        name: String,
        /// The value, sealed.
        value: SealedValue,
    },
}

impl State {
    /// An empty state with a fresh lineage, never written (serial 0).
    pub fn new(host: &dyn Host) -> State {
        State {
            lineage: new_uuid(host),
            serial: 0,
            resources: Vec::new(),
            outputs: BTreeMap::new(),
            pending: Vec::new(),
            secrets: BTreeMap::new(),
        }
    }

    /// The instance at `addr`, if any.
    pub fn instance(&self, addr: &InstanceAddr) -> Option<&InstanceState> {
        self.resources
            .iter()
            .find(|r| r.addr == addr.resource)?
            .instances
            .iter()
            .find(|i| i.key == addr.key)
    }

    /// Sets an instance's state, adding its resource if new; order is kept sorted.
    pub fn set_instance(
        &mut self,
        resource: &ResourceAddr,
        provider: &ProviderAddr,
        instance: InstanceState,
    ) {
        let index = match self.resources.binary_search_by(|r| r.addr.cmp(resource)) {
            Ok(index) => index,
            Err(index) => {
                self.resources.insert(
                    index,
                    ResourceState {
                        addr: resource.clone(),
                        provider: provider.clone(),
                        instances: Vec::new(),
                    },
                );
                index
            }
        };
        let Some(entry) = self.resources.get_mut(index) else {
            return;
        };
        provider.clone_into(&mut entry.provider);
        match entry
            .instances
            .binary_search_by(|i| i.key.cmp(&instance.key))
        {
            Ok(at) => {
                if let Some(slot) = entry.instances.get_mut(at) {
                    *slot = instance;
                }
            }
            Err(at) => entry.instances.insert(at, instance),
        }
    }

    /// Removes an instance, and its resource when it was the last one.
    /// Returns whether there was one.
    pub fn remove_instance(&mut self, addr: &InstanceAddr) -> bool {
        let Some(index) = self.resources.iter().position(|r| r.addr == addr.resource) else {
            return false;
        };
        let Some(entry) = self.resources.get_mut(index) else {
            return false;
        };
        let before = entry.instances.len();
        entry.instances.retain(|i| i.key != addr.key);
        let removed = entry.instances.len() != before;
        if entry.instances.is_empty() {
            self.resources.remove(index);
        }
        removed
    }

    /// Forgets an instance (`infra state rm`): removes it and the call an
    /// interrupted apply left pending on it, if any. A pending call left
    /// behind would be resumed by the next apply, which records the object
    /// it started from at the address again (and may then change or delete
    /// an object the user chose to stop managing). Returns the kind of the
    /// dropped call.
    pub fn forget_instance(&mut self, addr: &InstanceAddr) -> Option<CallKind> {
        self.remove_instance(addr);
        let dropped = self.pending_call(addr).map(|pending| pending.call);
        self.pending.retain(|pending| pending.instance != *addr);
        dropped
    }

    /// Folds one journalled action into the state (crash recovery).
    pub fn apply_record(&mut self, record: &JournalRecord) {
        match record {
            JournalRecord::Set {
                resource,
                provider,
                instance,
            } => {
                let addr = resource.instance(instance.key.clone());
                self.pending.retain(|pending| pending.instance != addr);
                self.set_instance(resource, provider, instance.clone());
            }
            JournalRecord::Remove { instance } => {
                self.pending.retain(|pending| pending.instance != *instance);
                self.remove_instance(instance);
            }
            JournalRecord::Pending(call) => {
                self.pending
                    .retain(|pending| pending.instance != call.instance);
                self.pending.push(call.clone());
            }
            JournalRecord::Checkpoint {
                instance,
                checkpoint,
            } => {
                if let Some(pending) = self.pending.iter_mut().find(|p| p.instance == *instance) {
                    pending.checkpoint = Some(checkpoint.clone());
                }
            }
            JournalRecord::Settled { instance } => {
                self.pending.retain(|pending| pending.instance != *instance);
            }
            JournalRecord::Move { from, to } => self.move_instance(from, to),
            JournalRecord::Secret { name, value } => {
                self.secrets.insert(name.clone(), value.clone());
            }
            JournalRecord::Base { .. } | JournalRecord::Committed { .. } => {}
        }
    }

    /// Moves an instance's state to a new address (nothing when there is none
    /// at `from`); an instance already at `to` is replaced.
    pub fn move_instance(&mut self, from: &InstanceAddr, to: &InstanceAddr) {
        let Some(resource) = self.resources.iter().find(|r| r.addr == from.resource) else {
            return;
        };
        let Some(mut instance) = resource
            .instances
            .iter()
            .find(|i| i.key == from.key)
            .cloned()
        else {
            return;
        };
        let provider = resource.provider.clone();
        self.remove_instance(from);
        instance.key = to.key.clone();
        self.set_instance(&to.resource, &provider, instance);
    }

    /// The pending call recorded for `addr`, if any.
    pub fn pending_call(&self, addr: &InstanceAddr) -> Option<&PendingCall> {
        self.pending
            .iter()
            .find(|pending| pending.instance == *addr)
    }

    /// How many instances the state holds.
    pub fn instance_count(&self) -> usize {
        self.resources.iter().map(|r| r.instances.len()).sum()
    }
}

/// A list read with exactly its length as its capacity. serde grows a list
/// as it reads it, so a list of one gets room for four; a state read from a
/// file is held for the whole command, and at 100,000 instances the room
/// nothing uses is tens of megabytes.
pub(crate) fn exact_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    let mut items = <Vec<T> as serde::Deserialize>::deserialize(deserializer)?;
    items.shrink_to_fit();
    Ok(items)
}

/// A random UUID v4 string from the host's randomness (lineages and lock ids).
pub fn new_uuid(host: &dyn Host) -> String {
    let mut bytes = [0u8; 16];
    host.random_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::hex::lower(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests;
