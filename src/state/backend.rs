//! The storage a state lives in, behind one trait: [`Backend`]. The stack
//! names it (`stack { state = "local" }`) and [`open`] picks it; commands
//! reach it only through [`super::Reading`] and [`super::Writing`].
//!
//! Terminology: the *current version* is the newest written [`StateFile`];
//! *history* holds every version; the *journal* holds completed actions not
//! yet in a version; the *audit log* one record per writing command.
//!
//! Invariant: nothing above `state` names a backend type; a new backend is
//! one more arm in [`open`] and one more name in [`BACKENDS`], and no
//! command changes.

use super::audit::{AuditLog, AuditRecord};
use super::crypto::Key;
use super::file::{StateFile, VersionInfo};
use super::journal::JournalRead;
use super::local::LocalBackend;
use super::lock::{HeldLock, LockInfo};
use super::{JournalRecord, State, StateError};
use crate::diag::Code;
use crate::host::Host;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The backends this build has, by the name `stack { state = … }` gives.
pub const BACKENDS: &[&str] = &["local"];

/// Appends journal records durably (one call, one write: a group commit).
pub trait JournalWriter: Send {
    /// Appends `records`, all or none, and returns once they are durable.
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), StateError>;
}

impl<J: JournalWriter + ?Sized> JournalWriter for Box<J> {
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        (**self).append(records)
    }
}

/// Where one stack environment's state is stored: its versions, history,
/// lock, journal, audit log and key.
pub trait Backend: std::fmt::Debug {
    /// The backend's name, as `stack { state = … }` gives it.
    fn name(&self) -> &'static str;

    /// The environment it stores.
    fn environment(&self) -> &str;

    /// Where the current version is, as messages show it.
    fn state_path(&self) -> PathBuf;

    /// Where the journal is, as messages show it.
    fn journal_path(&self) -> PathBuf;

    /// Where the lock is, as messages show it.
    fn lock_path(&self) -> PathBuf;

    /// Where the audit log is, as messages show it.
    fn audit_path(&self) -> PathBuf;

    /// Where the key is kept when `INFRA_STATE_KEY` is not set.
    fn key_path(&self) -> PathBuf;

    /// The current version, checked; `None` if never written.
    fn read(&self) -> Result<Option<StateFile>, StateError>;

    /// Checks that `key` sealed `file` (read with [`Backend::read`]) and opens it.
    fn open_state(&self, file: &StateFile, key: &Key) -> Result<State, StateError>;

    /// Version `serial` from the history, checked.
    fn version(&self, serial: u64) -> Result<StateFile, StateError>;

    /// Every version in the history, oldest first.
    fn history(&self) -> Result<Vec<VersionInfo>, StateError>;

    /// Writes `state` as the next version: a compare-and-swap on the serial
    /// it was read at (`state.serial`), updated to the new serial.
    fn write(
        &self,
        lock: &dyn HeldLock,
        state: &mut State,
        key: &Key,
        summary: &str,
    ) -> Result<StateFile, StateError>;

    /// Writes history version `serial` back as the next version, even over
    /// a current version that fails its checks (kept aside, never dropped).
    fn restore(
        &self,
        lock: &dyn HeldLock,
        serial: u64,
        key: &Key,
        summary: &str,
    ) -> Result<(State, Option<PathBuf>), StateError>;

    /// The state's key, created when there is no state yet.
    fn key(&self) -> Result<Key, StateError>;

    /// The state's key if there is one; never creates it.
    fn load_key(&self) -> Result<Option<Key>, StateError>;

    /// Takes the lock for a writing command, waiting up to `timeout`.
    fn lock(
        &self,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<Box<dyn HeldLock + '_>, StateError>;

    /// Whether a lock is held now (by a live process or not).
    fn is_locked(&self) -> Result<bool, StateError>;

    /// Who holds the lock, if anyone.
    fn lock_holder(&self) -> Option<LockInfo>;

    /// Breaks a lock whose id is `id`.
    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError>;

    /// A writer for the journal, writing `header` ahead of its first record.
    fn journal_writer(
        &self,
        header: Option<&JournalRecord>,
    ) -> Result<Box<dyn JournalWriter + '_>, StateError>;

    /// The journal's complete records; a torn last one is left out and said.
    fn read_journal(&self) -> Result<JournalRead<JournalRecord>, StateError>;

    /// Removes the journal once its records are in a written version.
    fn clear_journal(&self) -> Result<(), StateError>;

    /// Appends an audit record durably.
    fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError>;

    /// The audit records, oldest first.
    fn audit(&self) -> Result<AuditLog, StateError>;
}

/// A backend this build has, by name (`stack { state = … }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Files beside the stack ([`LocalBackend`]).
    Local,
}

impl Kind {
    /// The backend called `name`; a name this build lacks is refused with
    /// the list of those it has.
    pub fn from_name(name: &str) -> Result<Kind, StateError> {
        match name {
            "local" => Ok(Kind::Local),
            other => Err(StateError::new(
                Code::StateUnknownBackend,
                None,
                format!(
                    "the stack asks for the `{other}` state backend (`stack {{ state = \"{other}\" \
                     }}`), which this build of infra does not have; the backends are: {}",
                    BACKENDS.join(", ")
                ),
            )),
        }
    }

    /// The backend for `environment` of the stack named `stack` in `stack_dir`.
    pub fn open<'h>(
        self,
        host: &'h dyn Host,
        stack_dir: &'h Path,
        stack: &'h str,
        environment: &'h str,
    ) -> Box<dyn Backend + 'h> {
        match self {
            Kind::Local => Box::new(LocalBackend::new(host, stack_dir, stack, environment)),
        }
    }
}

/// The backend called `name` (`stack { state = … }`) for `environment` of
/// the stack named `stack` in `stack_dir` (see [`Kind::from_name`]).
pub fn open<'h>(
    name: &str,
    host: &'h dyn Host,
    stack_dir: &'h Path,
    stack: &'h str,
    environment: &'h str,
) -> Result<Box<dyn Backend + 'h>, StateError> {
    Ok(Kind::from_name(name)?.open(host, stack_dir, stack, environment))
}
