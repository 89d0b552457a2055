//! Encryption at rest: the state key and the sealing of secret values.
//!
//! A secret leaf of a [`Value`] is stored as `{"sealed": "<base64>"}`, the
//! base64 of a random 24-byte nonce followed by the XChaCha20-Poly1305
//! ciphertext of the leaf's JSON. The paths of the sealed leaves are kept next
//! to the JSON ([`SealedValue::sensitive_paths`]), so opening never guesses
//! which maps are envelopes and a user map that happens to look like one is
//! left alone.
//!
//! The key is 32 bytes: `INFRA_STATE_KEY` (base64) if set, else the key file
//! `.infra/key`, created `0600` on first use.
//!
//! Invariant: no plaintext of a secret leaves this module except through
//! [`Key::open`], and `Debug` of a [`Key`] never shows the key.
//! Invariant: the cipher comes from RustCrypto; nothing here is hand-rolled.

use super::StateError;
use super::json::Json;
use crate::diag::Code;
use crate::host::{CreateNew, FileMode, Host, HostError};
use crate::lang::{Kind, Value};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The environment variable holding the key (base64 of 32 bytes).
pub const KEY_ENV: &str = "INFRA_STATE_KEY";

/// Bound into every envelope, so a ciphertext made for something else fails.
const ASSOCIATED_DATA: &[u8] = b"infra-state-seal-v1";

const NONCE_LEN: usize = 24;

/// What users are told when a key file is created.
pub const KEY_BACKUP_NOTE: &str = "a new state key was created; back it up: without it the \
     secrets in this state cannot be read (or set INFRA_STATE_KEY in CI)";

/// Where the key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `INFRA_STATE_KEY` environment variable.
    Env,
    /// An existing key file.
    File(PathBuf),
    /// A key file created just now; tell the user to back it up ([`KEY_BACKUP_NOTE`]).
    Created(PathBuf),
}

/// The 32-byte state key.
#[derive(Clone)]
pub struct Key {
    bytes: [u8; 32],
    source: KeySource,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// One step of a path into a value: a map key or a list index.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(untagged)]
pub enum PathStep {
    /// A list index.
    Index(u64),
    /// A map key.
    Key(String),
}

/// A [`PathStep`] borrowed from the value being sealed.
#[derive(Debug, Clone, Copy)]
enum StepRef<'v> {
    Index(u64),
    Key(&'v str),
}

impl StepRef<'_> {
    fn owned(self) -> PathStep {
        match self {
            StepRef::Index(index) => PathStep::Index(index),
            StepRef::Key(key) => PathStep::Key(key.to_owned()),
        }
    }
}

/// A value as stored: JSON with every secret leaf sealed, plus where those are.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedValue {
    /// The JSON, secret parts replaced by `{"sealed": …}` envelopes.
    pub json: super::json::Json,
    /// The paths of the envelopes, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_paths: Vec<Vec<PathStep>>,
}

impl Key {
    /// A key from raw bytes (tests, or a key fetched by a later backend).
    pub fn from_bytes(bytes: [u8; 32], source: KeySource) -> Key {
        Key { bytes, source }
    }

    /// A fresh random key, not stored anywhere.
    pub fn generate(host: &dyn Host) -> Key {
        let mut bytes = [0u8; 32];
        host.random_bytes(&mut bytes);
        Key {
            bytes,
            source: KeySource::Env,
        }
    }

    /// Where the key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// A short public fingerprint (16 hex digits of a hash of the key), stored
    /// in state so a wrong key is caught before anything is unsealed.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"infra-state-key-id\0")
            .chain_update(self.bytes)
            .finalize();
        crate::hex::lower(&digest[..8])
    }

    /// The key from `INFRA_STATE_KEY`, else from `key_file`; `None` when neither is there.
    pub fn load(host: &dyn Host, key_file: &Path) -> Result<Option<Key>, StateError> {
        if let Some(text) = host.env_var(KEY_ENV) {
            let bytes = decode_key(&text).ok_or_else(|| {
                StateError::new(
                    Code::StateInvalidKey,
                    None,
                    format!("{KEY_ENV} must be the base64 of exactly 32 bytes"),
                )
            })?;
            return Ok(Some(Key::from_bytes(bytes, KeySource::Env)));
        }
        match host.read(key_file) {
            Ok(contents) => {
                let bytes = std::str::from_utf8(&contents)
                    .ok()
                    .and_then(decode_key)
                    .ok_or_else(|| {
                        StateError::new(
                            Code::StateInvalidKey,
                            Some(key_file),
                            "the key file must hold the base64 of exactly 32 bytes; restore it \
                             from your backup",
                        )
                    })?;
                Ok(Some(Key::from_bytes(
                    bytes,
                    KeySource::File(key_file.to_path_buf()),
                )))
            }
            Err(HostError::NotFound) => Ok(None),
            Err(error) => Err(StateError::io(key_file, "reading the key file", &error)),
        }
    }

    /// The key as [`Key::load`] finds it, else a new key written to `key_file`
    /// with mode `0600` (its source is then [`KeySource::Created`]).
    pub fn load_or_create(host: &dyn Host, key_file: &Path) -> Result<Key, StateError> {
        if let Some(key) = Key::load(host, key_file)? {
            return Ok(key);
        }
        let mut bytes = [0u8; 32];
        host.random_bytes(&mut bytes);
        if let Some(parent) = key_file.parent() {
            host.create_dir_all(parent)
                .map_err(|e| StateError::io(parent, "creating", &e))?;
        }
        let text = format!("{}\n", BASE64.encode(bytes));
        match host.create_new(key_file, text.as_bytes(), FileMode::OwnerOnly) {
            Ok(CreateNew::Created) => Ok(Key::from_bytes(
                bytes,
                KeySource::Created(key_file.to_path_buf()),
            )),
            // Another process created it between our read and our create: use theirs.
            Ok(CreateNew::AlreadyExists) => Key::load(host, key_file)?.ok_or_else(|| {
                StateError::new(
                    Code::StateMissingKey,
                    Some(key_file),
                    "the key file vanished while it was being created; run the command again",
                )
            }),
            Err(error) => Err(StateError::io(key_file, "creating the key file", &error)),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }

    /// Seals every secret part of `value`. Unknown values are stored as `null`
    /// (state holds applied values only).
    pub fn seal(&self, host: &dyn Host, value: &Value) -> Result<SealedValue, StateError> {
        let mut paths = Vec::new();
        let mut path = Vec::new();
        let json = self.seal_node(host, value, &mut path, &mut paths)?;
        paths.sort();
        Ok(SealedValue {
            json,
            sensitive_paths: paths,
        })
    }

    /// [`Key::seal`] of `Value::map(entries)`, without making that value
    /// (a copy of the entries) first.
    pub fn seal_map(
        &self,
        host: &dyn Host,
        entries: &crate::lang::Map,
    ) -> Result<SealedValue, StateError> {
        let mut paths = Vec::new();
        let mut path = Vec::new();
        let json = self.seal_entries(host, entries, &mut path, &mut paths)?;
        paths.sort();
        Ok(SealedValue {
            json,
            sensitive_paths: paths,
        })
    }

    /// `path` borrows its keys from the value: a path is copied only when a
    /// secret is found at it, not at every map entry.
    fn seal_node<'v>(
        &self,
        host: &dyn Host,
        value: &'v Value,
        path: &mut Vec<StepRef<'v>>,
        paths: &mut Vec<Vec<PathStep>>,
    ) -> Result<Json, StateError> {
        if value.is_secret() {
            paths.push(path.iter().copied().map(StepRef::owned).collect());
            return self.seal_bytes(host, value.to_json_revealed().to_string().as_bytes());
        }
        Ok(match value.kind() {
            Kind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    path.push(StepRef::Index(index as u64));
                    out.push(self.seal_node(host, item, path, paths)?);
                    path.pop();
                }
                Json::Array(out.into_boxed_slice())
            }
            Kind::Map(entries) => self.seal_entries(host, entries, path, paths)?,
            // Leaves straight into the stored form (a string is copied
            // once, not through a `serde_json::Value` first).
            Kind::Null | Kind::Unknown => Json::Null,
            Kind::Bool(flag) => Json::Bool(*flag),
            Kind::String(text) => Json::String(text.as_str().into()),
            Kind::Number(_) => Json::from(&value.to_json_revealed()),
        })
    }

    /// A map's entries sealed into a JSON object (see [`Key::seal_node`]).
    fn seal_entries<'v>(
        &self,
        host: &dyn Host,
        entries: &'v crate::lang::Map,
        path: &mut Vec<StepRef<'v>>,
        paths: &mut Vec<Vec<PathStep>>,
    ) -> Result<Json, StateError> {
        // A map's keys are sorted and unique already.
        let mut out = Vec::with_capacity(entries.len());
        for (name, item) in entries {
            path.push(StepRef::Key(name));
            out.push((
                Box::from(name.as_str()),
                self.seal_node(host, item, path, paths)?,
            ));
            path.pop();
        }
        Ok(Json::Object(out.into_boxed_slice()))
    }

    /// One envelope around `plaintext`.
    fn seal_bytes(&self, host: &dyn Host, plaintext: &[u8]) -> Result<Json, StateError> {
        let mut nonce = [0u8; NONCE_LEN];
        host.random_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| StateError::new(Code::Internal, None, "sealing a secret value failed"))?;
        let mut framed = nonce.to_vec();
        framed.extend_from_slice(&ciphertext);
        Ok(Json::Object(Box::new([(
            Box::from("sealed"),
            Json::String(BASE64.encode(framed).into_boxed_str()),
        )])))
    }

    /// The value with every sealed part opened and marked secret again.
    /// `path` names the file it came from, for the error.
    pub fn open(&self, sealed: &SealedValue, file: Option<&Path>) -> Result<Value, StateError> {
        let paths: BTreeSet<&[PathStep]> =
            sealed.sensitive_paths.iter().map(Vec::as_slice).collect();
        let mut path = Vec::new();
        self.open_node(&sealed.json, &mut path, &paths, file)
    }

    fn open_node(
        &self,
        json: &Json,
        path: &mut Vec<PathStep>,
        paths: &BTreeSet<&[PathStep]>,
        file: Option<&Path>,
    ) -> Result<Value, StateError> {
        if paths.contains(path.as_slice()) {
            let plaintext = self.open_envelope(json, path, file)?;
            let inner: serde_json::Value = serde_json::from_slice(&plaintext).map_err(|_| {
                StateError::new(
                    Code::StateInvalidFormat,
                    file,
                    format!("the sealed value at {} is not JSON", describe_path(path)),
                )
            })?;
            return Ok(Value::from_json(&inner).with_secret(true));
        }
        // Only descend where a sealed leaf may lie; elsewhere plain conversion is enough.
        let below = paths
            .iter()
            .any(|p| p.len() > path.len() && p.starts_with(path));
        if !below {
            return Ok(json.to_value());
        }
        match json {
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    path.push(PathStep::Index(index as u64));
                    out.push(self.open_node(item, path, paths, file)?);
                    path.pop();
                }
                Ok(Value::list(out))
            }
            Json::Object(entries) => {
                let mut out = crate::lang::Map::new();
                for (name, item) in entries {
                    path.push(PathStep::Key(name.to_string()));
                    out.insert(name.to_string(), self.open_node(item, path, paths, file)?);
                    path.pop();
                }
                Ok(Value::map(out))
            }
            _ => Err(StateError::new(
                Code::StateInvalidFormat,
                file,
                format!(
                    "a sensitive path goes through {}, which is not a list or map",
                    describe_path(path)
                ),
            )),
        }
    }

    fn open_envelope(
        &self,
        json: &Json,
        path: &[PathStep],
        file: Option<&Path>,
    ) -> Result<Vec<u8>, StateError> {
        let not_envelope = || {
            StateError::new(
                Code::StateInvalidFormat,
                file,
                format!(
                    "the sensitive value at {} is not a sealed envelope; restore the file from \
                     its history",
                    describe_path(path)
                ),
            )
        };
        let framed = Some(json)
            .filter(|json| matches!(json, Json::Object(entries) if entries.len() == 1))
            .and_then(|object| object.get("sealed"))
            .and_then(Json::as_str)
            .and_then(|text| BASE64.decode(text).ok())
            .ok_or_else(not_envelope)?;
        let (nonce, ciphertext) = framed
            .split_at_checked(NONCE_LEN)
            .ok_or_else(not_envelope)?;
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| {
                StateError::new(
                    Code::StateWrongKey,
                    file,
                    format!(
                        "the value at {} does not open with this key (or was altered); use the \
                         key this state was written with ({KEY_ENV} or .infra/key)",
                        describe_path(path)
                    ),
                )
            })
    }
}

/// A path as users write it: `tags["x"][0]`, or `(the whole value)`.
pub fn describe_path(path: &[PathStep]) -> String {
    if path.is_empty() {
        return String::from("(the whole value)");
    }
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Index(index) => out.push_str(&format!("[{index}]")),
            PathStep::Key(key) if crate::lang::value::is_identifier(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            PathStep::Key(key) => {
                out.push_str(&format!("[{}]", serde_json::Value::String(key.clone())));
            }
        }
    }
    out
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    let bytes = BASE64.decode(text.trim()).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}
