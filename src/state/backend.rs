//! The storage a state lives in, behind one trait: [`Backend`]. The stack
//! names it (`stack { state = "local" }`) and [`Kind::open`] opens it; commands
//! reach it only through [`super::Reading`] and [`super::Writing`].
//!
//! Terminology: the *current version* is the newest written [`StateFile`];
//! *history* holds every version but those the retention setting pruned;
//! the *journal* holds completed actions not yet in a version; the *audit
//! log* one record per writing command.
//!
//! Invariant: nothing above `state` names a backend type; a new backend is
//! one more arm of [`Kind`] and one more name in [`BACKENDS`], and no
//! command changes.

use super::audit::{AuditLog, AuditRecord};
use super::crypto::Key;
use super::file::{StateFile, VersionInfo};
use super::journal::JournalRead;
use super::local::LocalBackend;
use super::lock::{HeldLock, LockInfo};
use super::postgres::PostgresBackend;
use super::s3::{S3Backend, S3Settings};
use super::{JournalRecord, State, StateError};
use crate::diag::Code;
use crate::host::Host;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The backends this build has, by the name `stack { state = … }` gives.
pub const BACKENDS: &[&str] = &["local", "postgres", "s3"];

/// Appends journal records durably (one call, one write: a group commit).
pub trait JournalWriter: Send {
    /// Appends `records`, all or none, and returns once they are durable.
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), StateError>;

    /// Appends `records`, all or none, without waiting for them to be
    /// durable: they must survive this process at once, and reach the disk
    /// with the next [`JournalWriter::append`] at the latest. Only records
    /// of calls that change nothing outside come here (see
    /// `Provider::effect_free`). The default waits, as `append` does.
    fn append_unsynced(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.append(records)
    }
}

impl<J: JournalWriter + ?Sized> JournalWriter for Box<J> {
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        (**self).append(records)
    }

    fn append_unsynced(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        (**self).append_unsynced(records)
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

    /// Checks that `key` sealed `file` (read with [`Backend::read`]) and opens
    /// it, taking it apart rather than copying it.
    fn open_state(&self, file: StateFile, key: &Key) -> Result<State, StateError>;

    /// Version `serial` from the history, checked.
    fn version(&self, serial: u64) -> Result<StateFile, StateError>;

    /// Every version in the history, oldest first.
    fn history(&self) -> Result<Vec<VersionInfo>, StateError>;

    /// Writes `state` as the next version: a compare-and-swap on the serial
    /// it was read at (`state.serial`), updated to the new serial, which is
    /// returned.
    fn write(
        &self,
        lock: &dyn HeldLock,
        state: &mut State,
        key: &Key,
        summary: &str,
    ) -> Result<u64, StateError>;

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

    /// The newest readable audit record for which `wanted` holds, if any.
    /// A backend that can read its records newest first stops at the first
    /// one that matches.
    fn last_audit(
        &self,
        wanted: &dyn Fn(&AuditRecord) -> bool,
    ) -> Result<Option<AuditRecord>, StateError> {
        Ok(self.audit()?.records.into_iter().rev().find(|r| wanted(r)))
    }

    /// Removes every history version older than `oldest_kept`, under the
    /// lock, and returns their serials, ascending. Versions go oldest first
    /// and nothing kept depends on one removed, so a crash part way leaves
    /// a shorter history that still reads. The current version is never
    /// removed: an `oldest_kept` above it keeps it.
    fn prune(&self, lock: &dyn HeldLock, oldest_kept: u64) -> Result<Vec<u64>, StateError>;
}

/// A backend this build has, by name (`stack { state = … }`), with what it
/// needs to be opened.
#[derive(Clone, PartialEq, Eq)]
pub enum Kind {
    /// Files beside the stack ([`LocalBackend`]).
    Local,
    /// A PostgreSQL database ([`PostgresBackend`]) at this state URL.
    Postgres(String),
    /// An S3 bucket ([`S3Backend`]).
    S3(S3Settings),
}

impl std::fmt::Debug for Kind {
    // The state URL may hold a password: it is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Local => f.write_str("Local"),
            Kind::Postgres(_) => f.write_str("Postgres(..)"),
            Kind::S3(settings) => f.debug_tuple("S3").field(settings).finish(),
        }
    }
}

/// Where a `postgres://` state URL comes from, for the error when there is none.
pub const STATE_URL_HELP: &str = "give the database as `stack { state = \"postgres\", \
     state_url = env_var(\"INFRA_STATE_PG\") }`, with `--state-url URL`, or with the \
     INFRA_STATE_URL environment variable";

impl Kind {
    /// The backend called `name`, with the state URL `url` when it needs
    /// one; a name this build lacks is refused with the list of those it has.
    pub fn from_name(name: &str, url: Option<&str>) -> Result<Kind, StateError> {
        match (name, url) {
            ("local", _) => Ok(Kind::Local),
            // The bucket and the rest are the stack's `state_*` attributes,
            // which the pipeline evaluates into [`Kind::S3`]; without them
            // the backend says what is missing when it is first used.
            ("s3", _) => Ok(Kind::S3(S3Settings::default())),
            ("postgres", Some(url)) => Ok(Kind::Postgres(url.to_owned())),
            ("postgres", None) => Err(StateError::new(
                Code::StateBackendConfig,
                None,
                format!("the `postgres` state backend needs the database's URL; {STATE_URL_HELP}"),
            )),
            (other, _) => Err(StateError::new(
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

    /// The backend a state URL given on the command line names by its
    /// scheme (`postgres://`, `postgresql://`, `s3://BUCKET/PREFIX`).
    pub fn from_url(url: &str) -> Result<Kind, StateError> {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("postgres" | "postgresql") => Ok(Kind::Postgres(url.to_owned())),
            Some("s3") => S3Settings::from_url(url).map(Kind::S3),
            _ => Err(StateError::new(
                Code::StateBackendConfig,
                None,
                "a state URL must start with postgres:// or s3:// (the backends with a URL); \
                 the URL is not shown, since it may hold a password",
            )),
        }
    }

    /// The backend for `environment` of the stack named `stack` in `stack_dir`.
    pub fn open<'h>(
        &self,
        host: &'h dyn Host,
        stack_dir: &'h Path,
        stack: &'h str,
        environment: &'h str,
    ) -> Box<dyn Backend + 'h> {
        match self {
            Kind::Local => Box::new(LocalBackend::new(host, stack_dir, stack, environment)),
            Kind::Postgres(url) => Box::new(PostgresBackend::new(
                host,
                stack_dir,
                stack,
                environment,
                url,
            )),
            Kind::S3(settings) => Box::new(S3Backend::new(
                host,
                stack_dir,
                stack,
                environment,
                settings.clone(),
            )),
        }
    }
}
