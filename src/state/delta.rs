//! History versions stored as changes: a *delta* holds what turns the
//! version after it back into it, so history grows with each change, not
//! with the size of the state.
//!
//! Terminology: a delta for version `s` has the *base* `s + 1`; applying it
//! to the base's [`StateFile`] rebuilds version `s` exactly (the same
//! checksum). Changes are kept per instance: a changed instance is stored
//! whole, an unchanged one not at all.
//!
//! Invariant: a delta is computed only from lists sorted the way a state
//! file keeps them (resources by address, instances by key); otherwise
//! there is no delta and the version is kept whole.
//! Invariant: a rebuilt version is returned only when its checksum is the
//! one the delta recorded; a delta is applied only to the base it names
//! (serial and checksum).

use super::crypto::SealedValue;
use super::file::{StateFile, VersionInfo};
use super::{InstanceState, OutputState, PendingCall, ResourceState, StateError};
use crate::addr::{InstanceKey, ProviderAddr, ResourceAddr};
use crate::diag::Code;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

/// The delta format this build reads and writes.
pub const DELTA_FORMAT: u32 = 1;

/// One history version stored as the changes from the version after it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionDelta {
    /// [`DELTA_FORMAT`] when written.
    pub delta_format: u32,
    /// The rebuilt version's state format ([`super::FORMAT_VERSION`]).
    pub format_version: u32,
    /// The state's lineage.
    pub lineage: String,
    /// The serial of the version this delta rebuilds.
    pub serial: u64,
    /// When that version was written.
    pub written_at: u64,
    /// What wrote it.
    pub summary: String,
    /// The key that sealed it.
    pub key_id: String,
    /// The rebuilt version's checksum (see [`StateFile::compute_checksum`]).
    pub checksum: String,
    /// How many instances the rebuilt version holds (for `infra state history`).
    pub instance_count: usize,
    /// The version the delta applies to (`serial + 1`).
    pub base_serial: u64,
    /// That version's checksum.
    pub base_checksum: String,
    /// The resources that differ, sorted by address.
    pub resources: Vec<ResourceChange>,
    /// The outputs, when they differ from the base's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<BTreeMap<String, OutputState>>,
    /// The pending creates, when they differ from the base's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<PendingCall>>,
    /// The generated secrets, when they differ from the base's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<BTreeMap<String, SealedValue>>,
}

/// How one resource differs from the base.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "change")]
pub enum ResourceChange {
    /// The resource is not in the rebuilt version.
    Removed {
        /// Its address.
        addr: ResourceAddr,
    },
    /// The resource is in the rebuilt version: the base's instances (none if
    /// the base lacks it), without `removed`, with `put` added or replacing.
    Changed {
        /// Its address.
        addr: ResourceAddr,
        /// Its provider in the rebuilt version.
        provider: ProviderAddr,
        /// Instances added or replaced, sorted by key.
        put: Vec<InstanceState>,
        /// Keys of the base's instances that are gone, sorted.
        removed: Vec<InstanceKey>,
    },
}

impl ResourceChange {
    fn addr(&self) -> &ResourceAddr {
        match self {
            ResourceChange::Removed { addr } | ResourceChange::Changed { addr, .. } => addr,
        }
    }
}

/// The lines of `infra state history` a delta answers without rebuilding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct DeltaHeader {
    /// The lineage.
    pub lineage: String,
    /// The serial of the version it rebuilds.
    pub serial: u64,
    /// When that version was written.
    pub written_at: u64,
    /// What wrote it.
    pub summary: String,
    /// The rebuilt version's checksum.
    pub checksum: String,
    /// How many instances it holds.
    pub instance_count: usize,
    /// The version it applies to.
    pub base_serial: u64,
    /// That version's checksum.
    pub base_checksum: String,
}

impl DeltaHeader {
    /// Reads a delta's header (the changes are skipped, not built).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<DeltaHeader, StateError> {
        serde_json::from_slice(bytes).map_err(|error| invalid(path, &error))
    }

    /// Its history line.
    pub fn info(&self) -> VersionInfo {
        VersionInfo {
            serial: self.serial,
            written_at: self.written_at,
            summary: self.summary.clone(),
            instance_count: self.instance_count,
        }
    }
}

fn invalid(path: &Path, error: &dyn std::fmt::Display) -> StateError {
    StateError::new(
        Code::StateInvalidFormat,
        Some(path),
        format!(
            "{error}; this history version is stored as the changes from the next one and \
             cannot be read: restore an older or newer version"
        ),
    )
}

fn sorted_by<T, K: Ord>(items: &[T], key: impl Fn(&T) -> &K) -> bool {
    items.windows(2).all(|pair| match pair {
        [a, b] => key(a) < key(b),
        _ => true,
    })
}

impl VersionDelta {
    /// The delta that rebuilds `target` from `base` (the version written
    /// right after it), or `None` when the two cannot be compared that way
    /// (lists not sorted, another lineage, serials not consecutive).
    pub fn compute(base: &StateFile, target: &StateFile) -> Option<VersionDelta> {
        if base.lineage != target.lineage || target.serial.checked_add(1) != Some(base.serial) {
            return None;
        }
        let sorted = |file: &StateFile| {
            sorted_by(&file.resources, |r| &r.addr)
                && file
                    .resources
                    .iter()
                    .all(|r| sorted_by(&r.instances, |i| &i.key))
        };
        if !sorted(base) || !sorted(target) {
            return None;
        }
        let mut resources = Vec::new();
        let mut old = base.resources.iter().peekable();
        let mut new = target.resources.iter().peekable();
        loop {
            let order = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(o), Some(n)) => o.addr.cmp(&n.addr),
            };
            match order {
                Ordering::Less => {
                    if let Some(gone) = old.next() {
                        resources.push(ResourceChange::Removed {
                            addr: gone.addr.clone(),
                        });
                    }
                }
                Ordering::Greater => {
                    if let Some(added) = new.next() {
                        resources.push(ResourceChange::Changed {
                            addr: added.addr.clone(),
                            provider: added.provider.clone(),
                            put: added.instances.clone(),
                            removed: Vec::new(),
                        });
                    }
                }
                Ordering::Equal => {
                    if let (Some(o), Some(n)) = (old.next(), new.next())
                        && o != n
                    {
                        resources.push(instance_changes(o, n));
                    }
                }
            }
        }
        Some(VersionDelta {
            delta_format: DELTA_FORMAT,
            format_version: target.format_version,
            lineage: target.lineage.clone(),
            serial: target.serial,
            written_at: target.written_at,
            summary: target.summary.clone(),
            key_id: target.key_id.clone(),
            checksum: target.checksum.clone(),
            instance_count: target.info().instance_count,
            base_serial: base.serial,
            base_checksum: base.checksum.clone(),
            resources,
            outputs: (base.outputs != target.outputs).then(|| target.outputs.clone()),
            pending: (base.pending != target.pending).then(|| target.pending.clone()),
            secrets: (base.secrets != target.secrets).then(|| target.secrets.clone()),
        })
    }

    /// The bytes written to disk: compact JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses a delta file; `path` is only for the error.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<VersionDelta, StateError> {
        let delta: VersionDelta =
            serde_json::from_slice(bytes).map_err(|error| invalid(path, &error))?;
        if delta.delta_format != DELTA_FORMAT {
            return Err(StateError::new(
                Code::StateUnsupportedVersion,
                Some(path),
                format!(
                    "the history version has delta format {}; this infra reads format \
                     {DELTA_FORMAT}: use a matching infra",
                    delta.delta_format
                ),
            ));
        }
        Ok(delta)
    }

    /// Rebuilds the version from `base` (which it uses up), checked against
    /// the base it names and the checksum it recorded. `path` is only for
    /// the error.
    pub fn apply(self, base: StateFile, path: &Path) -> Result<StateFile, StateError> {
        let file = self.apply_unverified(base, path)?;
        verify(&file, path)?;
        Ok(file)
    }

    /// [`VersionDelta::apply`] without computing the checksum at the end:
    /// for a version rebuilt through several deltas, only the last one is
    /// verified (its checksum covers everything the others changed).
    pub fn apply_unverified(self, base: StateFile, path: &Path) -> Result<StateFile, StateError> {
        if base.serial != self.base_serial
            || base.checksum != self.base_checksum
            || base.lineage != self.lineage
        {
            return Err(StateError::new(
                Code::StateChecksumMismatch,
                Some(path),
                format!(
                    "this history version is stored as the changes from version {}, but that \
                     version is not the one it was made from (damaged or replaced); the \
                     version cannot be rebuilt",
                    self.base_serial
                ),
            ));
        }
        if !sorted_by(&self.resources, ResourceChange::addr) {
            return Err(invalid(path, &"the changes are not sorted by address"));
        }
        let mut resources = Vec::with_capacity(base.resources.len());
        let mut old = base.resources.into_iter().peekable();
        let mut changes = self.resources.into_iter().peekable();
        loop {
            let order = match (old.peek(), changes.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(o), Some(c)) => o.addr.cmp(c.addr()),
            };
            match order {
                Ordering::Less => resources.extend(old.next()),
                Ordering::Greater => match changes.next() {
                    Some(ResourceChange::Changed {
                        addr,
                        provider,
                        put,
                        removed: _,
                    }) => resources.push(ResourceState {
                        addr,
                        provider,
                        instances: put,
                    }),
                    Some(ResourceChange::Removed { .. }) | None => {}
                },
                Ordering::Equal => {
                    let (Some(resource), Some(change)) = (old.next(), changes.next()) else {
                        break;
                    };
                    if let ResourceChange::Changed {
                        addr,
                        provider,
                        put,
                        removed,
                    } = change
                    {
                        resources.push(ResourceState {
                            addr,
                            provider,
                            instances: merge_instances(resource.instances, put, &removed),
                        });
                    }
                }
            }
        }
        Ok(StateFile {
            format_version: self.format_version,
            lineage: self.lineage,
            serial: self.serial,
            written_at: self.written_at,
            summary: self.summary,
            key_id: self.key_id,
            checksum: self.checksum,
            resources,
            outputs: self.outputs.unwrap_or(base.outputs),
            pending: self.pending.unwrap_or(base.pending),
            secrets: self.secrets.unwrap_or(base.secrets),
        })
    }
}

/// Checks a rebuilt version against the checksum its delta recorded.
pub fn verify(file: &StateFile, path: &Path) -> Result<(), StateError> {
    if file.compute_checksum() == file.checksum {
        return Ok(());
    }
    Err(StateError::new(
        Code::StateChecksumMismatch,
        Some(path),
        "this history version, rebuilt from the changes stored for it, does not match the \
         checksum recorded when it was written (a hand edit or damage); the version cannot be \
         used",
    ))
}

/// The changes that turn `base`'s instances into `target`'s (same address).
fn instance_changes(base: &ResourceState, target: &ResourceState) -> ResourceChange {
    let mut put = Vec::new();
    let mut removed = Vec::new();
    let mut old = base.instances.iter().peekable();
    let mut new = target.instances.iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => o.key.cmp(&n.key),
        };
        match order {
            Ordering::Less => removed.extend(old.next().map(|gone| gone.key.clone())),
            Ordering::Greater => put.extend(new.next().cloned()),
            Ordering::Equal => {
                if let (Some(o), Some(n)) = (old.next(), new.next())
                    && o != n
                {
                    put.push(n.clone());
                }
            }
        }
    }
    ResourceChange::Changed {
        addr: target.addr.clone(),
        provider: target.provider.clone(),
        put,
        removed,
    }
}

/// `base` without the `removed` keys, with `put` added or replacing, sorted
/// by key (both inputs are sorted).
fn merge_instances(
    base: Vec<InstanceState>,
    put: Vec<InstanceState>,
    removed: &[InstanceKey],
) -> Vec<InstanceState> {
    let mut merged = Vec::with_capacity(base.len() + put.len());
    let mut old = base
        .into_iter()
        .filter(|instance| removed.binary_search(&instance.key).is_err())
        .peekable();
    let mut new = put.into_iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => o.key.cmp(&n.key),
        };
        match order {
            Ordering::Less => merged.extend(old.next()),
            Ordering::Greater => merged.extend(new.next()),
            Ordering::Equal => {
                old.next();
                merged.extend(new.next());
            }
        }
    }
    merged
}
