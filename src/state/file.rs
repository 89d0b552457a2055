//! The persisted form of a state version and its checks.
//!
//! A state file is pretty JSON of [`StateFile`]. Its `checksum` is the SHA-256
//! of the canonical body: the file's JSON with the `checksum` field removed,
//! keys sorted, no whitespace. Re-indenting the file keeps it valid; changing
//! any value does not.
//!
//! Invariant: parsing refuses anything it does not fully understand (unknown
//! fields, other format versions, a checksum that does not match) rather than
//! guessing, so a refused file is never rewritten from a guess.

use super::crypto::SealedValue;
use super::{OutputState, PendingCall, ResourceState, State, StateError};
use crate::diag::Code;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The state format this build writes.
///
/// Version 2 records each resource's provider configuration (`ssh.staging`)
/// where version 1 held the provider's name. An older `infra` refuses
/// version 2 ([`Code::StateUnsupportedVersion`]) instead of reading
/// `ssh.staging` as an unknown provider and falling back to the default
/// configuration (another host).
pub const FORMAT_VERSION: u32 = 2;

/// The state formats this build reads: version 1 has no aliased provider
/// configurations (every `provider` is a bare name, the default
/// configuration), so it reads as it is, checksum and all; the next version
/// written from it is [`FORMAT_VERSION`].
pub const READABLE_FORMAT_VERSIONS: std::ops::RangeInclusive<u32> = 1..=FORMAT_VERSION;

/// One written version of a state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The state's lineage.
    pub lineage: String,
    /// This version's serial: one more than the version before.
    pub serial: u64,
    /// Unix seconds when this version was written.
    pub written_at: u64,
    /// What wrote it, for `infra state history` (`apply: 2 created, 1 deleted`).
    pub summary: String,
    /// The fingerprint of the key that sealed its secrets ([`Key::id`](super::Key::id)).
    pub key_id: String,
    /// SHA-256 (hex) of the canonical body.
    pub checksum: String,
    /// The resources, sorted by address.
    #[serde(deserialize_with = "super::exact_vec")]
    pub resources: Vec<ResourceState>,
    /// The outputs by name.
    pub outputs: BTreeMap<String, OutputState>,
    /// Creates started but not seen to finish (see [`State::pending`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingCall>,
    /// Generated secret values, sealed (see [`State::secrets`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SealedValue>,
}

/// A line of `infra state history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version's serial.
    pub serial: u64,
    /// Unix seconds when it was written.
    pub written_at: u64,
    /// What wrote it.
    pub summary: String,
    /// How many instances it holds.
    pub instance_count: usize,
}

impl StateFile {
    /// The persisted form of `state` as version `serial`, checksum filled in.
    pub fn new(state: &State, serial: u64, written_at: u64, summary: &str, key_id: &str) -> Self {
        Self::lent(&mut state.clone(), serial, written_at, summary, key_id)
    }

    /// The in-memory state this version holds.
    pub fn to_state(&self) -> State {
        State {
            lineage: self.lineage.clone(),
            serial: self.serial,
            resources: self.resources.clone(),
            outputs: self.outputs.clone(),
            pending: self.pending.clone(),
            secrets: self.secrets.clone(),
        }
    }

    /// `state` as version `serial`, checksum filled in, made of the state's
    /// own contents (moved out of it, not copied): the writer hands them
    /// back with [`StateFile::give_back`] once the file is written.
    pub fn lent(
        state: &mut State,
        serial: u64,
        written_at: u64,
        summary: &str,
        key_id: &str,
    ) -> Self {
        let mut file = Self::taken(state, serial, written_at, summary, key_id, "");
        file.checksum = file.compute_checksum();
        file
    }

    /// `state`'s contents moved into version `serial`, with `checksum` as
    /// it is (the checksum does not cover its own field).
    fn taken(
        state: &mut State,
        serial: u64,
        written_at: u64,
        summary: &str,
        key_id: &str,
        checksum: &str,
    ) -> Self {
        StateFile {
            format_version: FORMAT_VERSION,
            lineage: state.lineage.clone(),
            serial,
            written_at,
            summary: summary.to_owned(),
            key_id: key_id.to_owned(),
            checksum: checksum.to_owned(),
            resources: std::mem::take(&mut state.resources),
            outputs: std::mem::take(&mut state.outputs),
            pending: std::mem::take(&mut state.pending),
            secrets: std::mem::take(&mut state.secrets),
        }
    }

    /// Moves the contents [`StateFile::lent`] took back into `state`.
    pub fn give_back(self, state: &mut State) {
        state.resources = self.resources;
        state.outputs = self.outputs;
        state.pending = self.pending;
        state.secrets = self.secrets;
    }

    /// The in-memory state this version holds, taken apart rather than
    /// copied (at 100,000 instances a copy is a second state in memory for
    /// as long as the file is kept).
    pub fn into_state(self) -> State {
        State {
            lineage: self.lineage,
            serial: self.serial,
            resources: self.resources,
            outputs: self.outputs,
            pending: self.pending,
            secrets: self.secrets,
        }
    }

    /// Its history line.
    pub fn info(&self) -> VersionInfo {
        VersionInfo {
            serial: self.serial,
            written_at: self.written_at,
            summary: self.summary.clone(),
            instance_count: self.resources.iter().map(|r| r.instances.len()).sum(),
        }
    }

    /// The SHA-256 (hex) of the canonical body: every field but the
    /// checksum, in declaration order, as compact JSON (maps are sorted), so
    /// it does not depend on the file's layout, only on what it says.
    pub fn compute_checksum(&self) -> String {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            format_version: u32,
            lineage: &'a str,
            serial: u64,
            written_at: u64,
            summary: &'a str,
            key_id: &'a str,
            resources: &'a [ResourceState],
            outputs: &'a BTreeMap<String, OutputState>,
            #[serde(skip_serializing_if = "<[PendingCall]>::is_empty")]
            pending: &'a [PendingCall],
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            secrets: &'a BTreeMap<String, SealedValue>,
        }
        /// Feeds serialized bytes straight into the hash.
        struct Hasher(Sha256);
        impl std::io::Write for Hasher {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.update(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let body = Body {
            format_version: self.format_version,
            lineage: &self.lineage,
            serial: self.serial,
            written_at: self.written_at,
            summary: &self.summary,
            key_id: &self.key_id,
            resources: &self.resources,
            outputs: &self.outputs,
            pending: &self.pending,
            secrets: &self.secrets,
        };
        let mut hasher = Hasher(Sha256::new());
        // Serializing plain data cannot fail; if it did, the checksum would
        // mismatch rather than pass.
        let _ = serde_json::to_writer(&mut hasher, &body);
        crate::hex::lower(&hasher.0.finalize())
    }

    /// The bytes written to disk: pretty JSON and a final newline.
    ///
    /// The buffer is sized by a first pass that only counts: at 100,000
    /// instances the file is 81 MB, and a buffer grown by doubling left its
    /// earlier sizes (up to 64 MB, and 128 MB reserved) resident beside it at
    /// the end of an apply, the peak of the command.
    pub fn to_bytes(&self) -> Vec<u8> {
        /// Counts the bytes written to it.
        struct Counter(usize);
        impl std::io::Write for Counter {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0 += bytes.len();
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut counter = Counter(0);
        let _ = serde_json::to_writer_pretty(&mut counter, self);
        let mut bytes = Vec::with_capacity(counter.0 + 1);
        // Serializing plain data cannot fail; if it did, the file would be
        // empty and refused when read, never taken for a state.
        if serde_json::to_writer_pretty(&mut bytes, self).is_err() {
            bytes.clear();
        }
        bytes.push(b'\n');
        bytes
    }

    /// `state` as version `serial` (as [`StateFile::lent`]) and the bytes
    /// to write (as [`StateFile::to_bytes`] makes them), for a file too big
    /// to serialize three times on one core: the body is hashed for the
    /// checksum on a second thread while this one serializes the file with
    /// a placeholder of the same length in its place, filled in once known;
    /// and the bytes are collected in parts rather than one buffer, which
    /// needs no pass to size it and is never copied to grow.
    pub fn lent_with_bytes(
        state: &mut State,
        serial: u64,
        written_at: u64,
        summary: &str,
        key_id: &str,
    ) -> (Self, FileBytes) {
        let mut file = Self::taken(
            state,
            serial,
            written_at,
            summary,
            key_id,
            CHECKSUM_PLACEHOLDER,
        );
        let (checksum, mut bytes) = std::thread::scope(|scope| {
            let hashed = scope.spawn(|| file.compute_checksum());
            let mut bytes = FileBytes::default();
            // Serializing plain data cannot fail; if it did, the file would
            // be refused when read, never taken for a state.
            if serde_json::to_writer_pretty(&mut bytes, &file).is_err() {
                bytes = FileBytes::default();
            }
            let _ = std::io::Write::write_all(&mut bytes, b"\n");
            // A panic hashing is a bug; the file is then made on this thread.
            (hashed.join().ok(), bytes)
        });
        file.checksum = checksum.unwrap_or_else(|| file.compute_checksum());
        if !bytes.fill_checksum(&file.checksum) {
            // The placeholder was not where the layout puts it (it cannot
            // be missed, as the fields before it are short): made again
            // the plain way rather than written with it.
            bytes = FileBytes::from(file.to_bytes());
        }
        (file, bytes)
    }

    /// Parses and checks a state file: JSON, format, version, checksum.
    /// `path` is only for the error.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<StateFile, StateError> {
        // The common case in one pass: the whole file straight into the
        // model. Anything wrong is diagnosed by the slower path below.
        if let Ok(file) = serde_json::from_slice::<StateFile>(bytes)
            && READABLE_FORMAT_VERSIONS.contains(&file.format_version)
        {
            return file.checked(path);
        }
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
            let what = if error.is_eof() {
                "the file ends early (truncated?)".to_owned()
            } else {
                format!("{error}")
            };
            StateError::new(
                Code::StateInvalidJson,
                Some(path),
                format!(
                    "{what}; the file was left as it is: restore it from the history folder \
                     beside it (`infra state history`)"
                ),
            )
        })?;
        // The version is checked before the full shape, so a newer format is
        // reported as such and not as unknown fields.
        let version = json
            .get("format_version")
            .and_then(serde_json::Value::as_u64);
        if let Some(version) = version
            && !u32::try_from(version).is_ok_and(|v| READABLE_FORMAT_VERSIONS.contains(&v))
        {
            return Err(StateError::new(
                Code::StateUnsupportedVersion,
                Some(path),
                format!(
                    "the file has format version {version}; this infra reads versions \
                     {} to {}: use a matching infra",
                    READABLE_FORMAT_VERSIONS.start(),
                    READABLE_FORMAT_VERSIONS.end()
                ),
            ));
        }
        let file: StateFile = serde_json::from_value(json).map_err(|error| {
            StateError::new(
                Code::StateInvalidFormat,
                Some(path),
                format!(
                    "{error}; hand edits are refused: restore the file from the history folder \
                     beside it"
                ),
            )
        })?;
        file.checked(path)
    }

    /// The file if its checksum matches its body.
    fn checked(self, path: &Path) -> Result<StateFile, StateError> {
        let actual = self.compute_checksum();
        if actual != self.checksum {
            return Err(StateError::new(
                Code::StateChecksumMismatch,
                Some(path),
                "the contents changed since infra wrote them (a hand edit or damage); the file \
                 was left as it is: restore it from the history folder beside it",
            ));
        }
        Ok(self)
    }

    /// Every sealed value in the file (attributes, configurations, outputs).
    pub fn sealed_values(&self) -> impl Iterator<Item = &SealedValue> {
        self.resources
            .iter()
            .flat_map(|r| r.instances.iter())
            .flat_map(|i| [&i.attributes, &i.config])
            .chain(self.outputs.values().map(|o| &o.value))
            .chain(
                self.pending
                    .iter()
                    .flat_map(|p| std::iter::once(&p.planned).chain(&p.prior).chain(&p.config)),
            )
            .chain(self.secrets.values())
    }
}

/// What [`StateFile::lent_with_bytes`] serializes in the `checksum` field
/// until the checksum is known: as long as a SHA-256 in hex.
const CHECKSUM_PLACEHOLDER: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes of a state file, in parts of 1 MiB (the
/// last one shorter), in order.
#[derive(Debug, Default)]
pub struct FileBytes {
    /// The parts filled.
    full: Vec<Vec<u8>>,
    /// The part being filled (its capacity is set when it is started).
    filling: Vec<u8>,
}

impl FileBytes {
    /// The size of each part but the last.
    const PART: usize = 1 << 20;

    /// The parts, in order.
    pub fn parts(&self) -> Vec<&[u8]> {
        self.full
            .iter()
            .chain(std::iter::once(&self.filling))
            .map(Vec::as_slice)
            .filter(|part| !part.is_empty())
            .collect()
    }

    /// All the bytes in one buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts().concat()
    }

    /// Replaces the placeholder the `checksum` field holds with `checksum`;
    /// `false` when the field is not where the layout puts it, within
    /// the first part.
    fn fill_checksum(&mut self, checksum: &str) -> bool {
        let field = format!("\n  \"checksum\": \"{CHECKSUM_PLACEHOLDER}\"");
        let first = match self.full.first_mut() {
            Some(first) => first,
            None => &mut self.filling,
        };
        if checksum.len() != CHECKSUM_PLACEHOLDER.len() {
            return false;
        }
        let Some(at) = first
            .windows(field.len())
            .position(|window| window == field.as_bytes())
        else {
            return false;
        };
        // `"checksum": "` comes first in the field; the value follows.
        let start = at + field.len() - CHECKSUM_PLACEHOLDER.len() - 1;
        match first.get_mut(start..start + checksum.len()) {
            Some(value) => {
                value.copy_from_slice(checksum.as_bytes());
                true
            }
            None => false,
        }
    }

    /// Appends `bytes` across parts: the slow path of the writer.
    #[cold]
    fn spill(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.filling.len() >= Self::PART {
                let full = std::mem::replace(&mut self.filling, Vec::with_capacity(Self::PART));
                self.full.push(full);
            } else if self.filling.capacity() < Self::PART {
                self.filling.reserve_exact(Self::PART - self.filling.len());
            }
            let room = Self::PART - self.filling.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.filling.extend_from_slice(now);
            bytes = later;
        }
    }
}

impl From<Vec<u8>> for FileBytes {
    fn from(bytes: Vec<u8>) -> Self {
        FileBytes {
            full: Vec::new(),
            filling: bytes,
        }
    }
}

impl std::io::Write for FileBytes {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // The serializer writes a few bytes at a time: within the part's
        // capacity this is a copy, as into a `Vec`.
        if bytes.len() <= self.filling.capacity() - self.filling.len() {
            self.filling.extend_from_slice(bytes);
        } else {
            self.spill(bytes);
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lineage and serial of a state file, read without the rest (which is
/// skipped, not built), to compare versions cheaply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct VersionHeader {
    /// The lineage.
    pub lineage: String,
    /// The serial.
    pub serial: u64,
}

impl VersionHeader {
    /// Reads the header of a state file; `path` is only for the error.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<VersionHeader, StateError> {
        serde_json::from_slice(bytes).map_err(|error| {
            StateError::new(
                Code::StateInvalidJson,
                Some(path),
                format!(
                    "{error}; the file was left as it is: restore it from the history folder \
                     beside it (`infra state history`)"
                ),
            )
        })
    }
}
