//! The `local` backend: state files beside the stack.
//!
//! ```text
//! <stack>/.infra/key                                  the state key (0600), unless INFRA_STATE_KEY
//! <stack>/.infra/state/<stack>/<env>.json             the current version
//! <stack>/.infra/state/<stack>/<env>.history/<serial>.json   a version, whole (the newest)
//! <stack>/.infra/state/<stack>/<env>.history/<serial>.delta.json   an older version, as the
//!                                                     changes from the one after it
//! <stack>/.infra/state/<stack>/<env>.history/audit.jsonl   one audit record per line
//! <stack>/.infra/state/<stack>/<env>.lock             the lock, while a command writes
//! <stack>/.infra/state/<stack>/<env>.journal          completed actions not yet in state
//! ```
//!
//! Invariant: a version is written atomically (temp file, fsync, rename,
//! folder fsync) and only after the current file passed every check; a
//! refused file is left byte for byte as it was.
//! Invariant: reading takes no lock and writes nothing.
//! Invariant: every version in the history can be rebuilt: it is whole, or
//! a delta ([`super::delta`]) whose base is in the history too. A version
//! becomes a delta only once the version after it is whole in the history:
//! the delta is written first, then the new version (the current file and
//! its copy in the history, written at once on two threads and put in place
//! in that order, neither if either write fails), and only then is the older
//! whole copy removed.

use super::crypto::Key;
use super::delta::{DeltaHeader, VersionDelta};
use super::file::{StateFile, VersionInfo};
use super::journal::Journal;
use super::lock::{self, HeldLock, Lock, LockInfo};
use super::{State, StateError};
use crate::diag::Code;
use crate::host::{Host, HostError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// State for one stack environment, stored in files beside the stack.
#[derive(Clone, Copy)]
pub struct LocalBackend<'h> {
    host: &'h dyn Host,
    stack_dir: &'h Path,
    stack: &'h str,
    environment: &'h str,
}

impl std::fmt::Debug for LocalBackend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("stack_dir", &self.stack_dir)
            .field("stack", &self.stack)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl<'h> LocalBackend<'h> {
    /// The backend for `environment` of the stack named `stack` in `stack_dir`.
    pub fn new(
        host: &'h dyn Host,
        stack_dir: &'h Path,
        stack: &'h str,
        environment: &'h str,
    ) -> Self {
        LocalBackend {
            host,
            stack_dir,
            stack,
            environment,
        }
    }

    /// The environment this backend stores.
    pub fn environment(&self) -> &'h str {
        self.environment
    }

    fn state_dir(&self) -> PathBuf {
        self.stack_dir.join(".infra").join("state").join(self.stack)
    }

    /// The current version's file.
    pub fn state_path(&self) -> PathBuf {
        self.state_dir().join(format!("{}.json", self.environment))
    }

    /// The folder holding every version.
    pub fn history_dir(&self) -> PathBuf {
        self.state_dir()
            .join(format!("{}.history", self.environment))
    }

    /// The lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.state_dir().join(format!("{}.lock", self.environment))
    }

    /// The crash journal.
    pub fn journal_path(&self) -> PathBuf {
        self.state_dir()
            .join(format!("{}.journal", self.environment))
    }

    /// The key file used when `INFRA_STATE_KEY` is not set.
    pub fn key_path(&self) -> PathBuf {
        self.stack_dir.join(".infra").join("key")
    }

    fn version_path(&self, serial: u64) -> PathBuf {
        self.history_dir().join(format!("{serial:020}.json"))
    }

    fn delta_path(&self, serial: u64) -> PathBuf {
        self.history_dir().join(format!("{serial:020}.delta.json"))
    }

    /// The current version, checked (JSON, format, checksum) and compared with
    /// the newest history version (lineage, serial); `None` if never written.
    ///
    /// A missing current file is refused when the history holds versions: the
    /// state was deleted, not never written, and planning from nothing would
    /// propose to create everything again. A file that fails a check is
    /// refused with the way out, `infra state restore`.
    pub fn read(&self) -> Result<Option<StateFile>, StateError> {
        Ok(self.read_current()?.map(|(file, _)| file))
    }

    /// [`LocalBackend::read`], and whether the current file is byte for
    /// byte the newest whole version in the history.
    fn read_current(&self) -> Result<Option<(StateFile, bool)>, StateError> {
        let path = self.state_path();
        let bytes = match self.host.read(&path) {
            Ok(bytes) => bytes,
            Err(HostError::NotFound) => {
                return match self.version_serials()?.last() {
                    Some(&newest) => Err(self.missing_current(newest)),
                    None => Ok(None),
                };
            }
            Err(error) => return Err(StateError::io(&path, "reading", &error)),
        };
        let checked = StateFile::parse(&bytes, &path).and_then(|file| {
            self.check_history(&file, &bytes, &path)
                .map(|in_history| (file, in_history))
        });
        checked
            .map(Some)
            .map_err(|error| self.with_restore_help(error))
    }

    /// The command that writes history version `serial` back.
    fn restore_command(&self, serial: u64) -> String {
        format!("infra state restore {serial} --env {}", self.environment)
    }

    fn missing_current(&self, newest: u64) -> StateError {
        StateError::new(
            Code::StateMissingCurrent,
            Some(&self.state_path()),
            format!(
                "the current state file is gone, but its history holds versions up to {newest} \
                 ({}); `{}` writes version {newest} back (`infra state history` lists the \
                 others). Nothing was planned from an empty state",
                self.history_dir().display(),
                self.restore_command(newest)
            ),
        )
    }

    /// Adds the way out to a refusal of the current file when the history
    /// holds a version to restore.
    fn with_restore_help(&self, mut error: StateError) -> StateError {
        let about_current = error.path.as_deref() == Some(self.state_path().as_path());
        let corrupt = matches!(
            error.code,
            Code::StateInvalidJson
                | Code::StateInvalidFormat
                | Code::StateChecksumMismatch
                | Code::StateSerialBackwards
                | Code::StateForeignLineage
        );
        if about_current
            && corrupt
            && let Ok(serials) = self.version_serials()
            && let Some(&newest) = serials.last()
        {
            error.help.push_str(&format!(
                "; `{}` writes the newest history version back as the current state",
                self.restore_command(newest)
            ));
        }
        error
    }

    /// Compares the current version with the newest history version
    /// (lineage, serial). In the usual case the two files are the same bytes
    /// and nothing is parsed; otherwise only their lineage and serial are.
    /// Returns whether the two are the same bytes.
    fn check_history(
        &self,
        file: &StateFile,
        bytes: &[u8],
        path: &Path,
    ) -> Result<bool, StateError> {
        let Some((serial, stored)) = self.stored_versions()?.pop_last() else {
            return Ok(false);
        };
        let newest_path = self.stored_path(serial, stored);
        // Compared without reading the version whole: at 100,000 instances
        // it is 81 MB, read beside the state's own bytes, on the path of
        // every plan.
        if stored == Stored::Whole {
            match self.host.same_contents(&newest_path, bytes) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(error) => return Err(StateError::io(&newest_path, "reading", &error)),
            }
        }
        let newest_bytes = match self.host.read(&newest_path) {
            Ok(newest) => newest,
            Err(error) => return Err(StateError::io(&newest_path, "reading", &error)),
        };
        let newest = super::file::VersionHeader::parse(&newest_bytes, &newest_path)?;
        check_against_history(file, &newest.lineage, newest.serial, path).map(|()| false)
    }

    /// Checks a file read with [`LocalBackend::read`] against `key` and opens
    /// it as the state model (without reading it again).
    pub fn open_state(&self, file: StateFile, key: &Key) -> Result<State, StateError> {
        check_key(&file, key, &self.state_path())?;
        Ok(file.into_state())
    }

    /// The key for this state: `INFRA_STATE_KEY`, the key file, or a new key
    /// file when there is no state yet. A state without its key is refused.
    pub fn key(&self) -> Result<Key, StateError> {
        let key_path = self.key_path();
        if let Some(key) = Key::load(self.host, &key_path)? {
            return Ok(key);
        }
        if let Some(found) = self.any_state()? {
            return Err(StateError::new(
                Code::StateMissingKey,
                Some(&key_path),
                format!(
                    "state is stored in this folder ({}), sealed with a key, but neither {} nor \
                     {} is there; restore the key file from your backup or set {}. A new key \
                     is made only for a folder without state: another key would seal this \
                     environment so that the others cannot be read with the same key",
                    found.display(),
                    super::crypto::KEY_ENV,
                    key_path.display(),
                    super::crypto::KEY_ENV
                ),
            ));
        }
        Key::load_or_create(self.host, &key_path)
    }

    /// The first state file (current or history version, of any stack or
    /// environment) stored beside the key, if any.
    fn any_state(&self) -> Result<Option<PathBuf>, StateError> {
        let root = self.stack_dir.join(".infra").join("state");
        let mut pending = vec![root];
        while let Some(dir) = pending.pop() {
            let mut entries = match self.host.list_dir(&dir) {
                Ok(entries) => entries,
                Err(HostError::NotFound) => continue,
                Err(error) => return Err(StateError::io(&dir, "listing", &error)),
            };
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            for entry in entries {
                if !entry.is_file {
                    pending.push(entry.path);
                } else if entry.path.extension().is_some_and(|e| e == "json") {
                    return Ok(Some(entry.path));
                }
            }
        }
        Ok(None)
    }

    /// The current state, checked as [`LocalBackend::read`] does and against
    /// `key`; `None` if never written.
    pub fn read_state(&self, key: &Key) -> Result<Option<State>, StateError> {
        let Some(file) = self.read()? else {
            return Ok(None);
        };
        self.open_state(file, key).map(Some)
    }

    /// Writes `state` as the next version (serial + 1), keeping the older ones
    /// in the history folder. `state.serial` must be the serial it was read
    /// at (0 for a new state); it is updated to the new serial. Returns the
    /// version as written, read back ([`LocalBackend::write_version`] does
    /// the same without reading it back).
    pub fn write(
        &self,
        lock: &dyn HeldLock,
        state: &mut State,
        key: &Key,
        summary: &str,
    ) -> Result<StateFile, StateError> {
        let serial = self.write_version(lock, state, key, summary)?;
        self.version(serial)
    }

    /// [`LocalBackend::write`], returning the new serial.
    pub fn write_version(
        &self,
        lock: &dyn HeldLock,
        state: &mut State,
        key: &Key,
        summary: &str,
    ) -> Result<u64, StateError> {
        let path = self.state_path();
        if lock.location() != self.lock_path() {
            return Err(StateError::new(
                Code::Internal,
                Some(&path),
                "state written under another state's lock",
            ));
        }
        let history_dir = self.history_dir();
        self.host
            .create_dir_all(&history_dir)
            .map_err(|e| StateError::io(&history_dir, "creating", &e))?;
        let mut current = self.read_current()?;
        let reference = match &current {
            Some((current, _)) => Some(current.lineage.clone()),
            None => self.newest_header()?.map(|header| header.lineage),
        };
        if let Some(reference) = reference
            && reference != state.lineage
        {
            return Err(foreign(&path, &state.lineage, &reference));
        }
        if let Some((current, _)) = &current {
            check_key(current, key, &path)?;
        }
        let stored = current.as_ref().map_or(0, |(c, _)| c.serial);
        if state.serial != stored {
            return Err(StateError::new(
                Code::StateSerialBackwards,
                Some(&path),
                format!(
                    "the state being written was read at serial {}, but serial {stored} is \
                     stored: another command wrote in between; run the command again",
                    state.serial
                ),
            ));
        }
        // A crash between the two writes below can leave the current version
        // out of the history; put it back before moving on.
        if let Some((current, in_history)) = &mut current
            && !self.stored_versions()?.contains_key(&current.serial)
        {
            let kept = self.version_path(current.serial);
            self.host
                .write_atomic(&kept, &current.to_bytes())
                .map_err(|e| StateError::io(&kept, "writing", &e))?;
            *in_history = true;
        }
        // The current version becomes a delta only when the history holds
        // exactly it, whole; otherwise it stays as it is.
        let previous = current
            .filter(|(_, in_history)| *in_history)
            .map(|(file, _)| file);
        self.write_next(state, stored + 1, key, summary, previous)
    }

    /// Writes `state` as version `serial`: the current file, then its copy
    /// in the history folder. The callers have checked everything.
    /// `previous`, when given, is version `serial - 1` as the history holds
    /// it whole: it is rewritten as the changes from the new version (before
    /// anything else is written), and its whole copy removed at the end.
    ///
    /// The version is made of the state's own contents, lent and given back
    /// whatever happens, not of a copy: at 100,000 instances a copy is some
    /// hundred megabytes at the peak of an apply.
    fn write_next(
        &self,
        state: &mut State,
        serial: u64,
        key: &Key,
        summary: &str,
        previous: Option<StateFile>,
    ) -> Result<u64, StateError> {
        let (file, bytes) = StateFile::lent_with_bytes(
            state,
            serial,
            self.host.now_unix_seconds(),
            summary,
            &key.id(),
        );
        let written = self.write_file(&file, &bytes, previous);
        file.give_back(state);
        written?;
        state.serial = serial;
        Ok(serial)
    }

    /// The writes of [`LocalBackend::write_next`]: the delta that replaces
    /// `previous`, then the current file and its copy in the history, both
    /// written at once and put in place in that order (neither is, if
    /// either write fails).
    fn write_file(
        &self,
        file: &StateFile,
        bytes: &super::file::FileBytes,
        previous: Option<StateFile>,
    ) -> Result<(), StateError> {
        let path = self.state_path();
        let serial = file.serial;
        let mut replaced = None;
        if let Some(previous) = previous
            && let Some(delta) = VersionDelta::compute(file, &previous)
        {
            let delta_path = self.delta_path(previous.serial);
            self.host
                .write_atomic(&delta_path, &delta.to_bytes())
                .map_err(|e| StateError::io(&delta_path, "writing", &e))?;
            replaced = Some(self.version_path(previous.serial));
        }
        let version = self.version_path(serial);
        let parts = bytes.parts();
        self.host
            .write_atomic_all(&[(&path, &parts), (&version, &parts)])
            .map_err(|(index, e)| {
                let failed = if index == 0 { &path } else { &version };
                StateError::io(failed, "writing", &e)
            })?;
        // The delta and the new whole version are durable: the older whole
        // copy is no longer needed. Should removing it fail, it stays and is
        // read instead of its delta; the version is written either way.
        if let Some(replaced) = replaced {
            let _ = self.host.remove_file(&replaced);
        }
        Ok(())
    }

    /// Writes history version `serial` back as the next version (`infra
    /// state restore`). Unlike [`LocalBackend::write`], the current file may
    /// be missing or fail its checks: this is the way out of both. A current
    /// file that cannot be read is kept in the history folder as
    /// `replaced-<serial>.json` (ignored as a version), never just dropped.
    /// Returns the restored state (at its new serial) and where a replaced
    /// file was kept.
    pub fn restore(
        &self,
        lock: &dyn HeldLock,
        serial: u64,
        key: &Key,
        summary: &str,
    ) -> Result<(State, Option<PathBuf>), StateError> {
        let path = self.state_path();
        if lock.location() != self.lock_path() {
            return Err(StateError::new(
                Code::Internal,
                Some(&path),
                "state restored under another state's lock",
            ));
        }
        let version = self.version(serial)?;
        let version_path = self.version_path(serial);
        check_key(&version, key, &version_path)?;
        if let Some(newest) = self.newest_header()?
            && newest.lineage != version.lineage
        {
            return Err(foreign(&version_path, &version.lineage, &newest.lineage));
        }
        let newest = self.version_serials()?.last().copied().unwrap_or(serial);
        let mut next = newest + 1;
        let mut replaced = None;
        match self.host.read(&path) {
            Err(HostError::NotFound) => {}
            Err(error) => return Err(StateError::io(&path, "reading", &error)),
            Ok(bytes) => match StateFile::parse(&bytes, &path) {
                // A good current file of this lineage that the history lacks
                // (a crash between the two writes) is kept as its version.
                Ok(current) if current.lineage == version.lineage && current.serial >= newest => {
                    next = current.serial + 1;
                    let kept = self.version_path(current.serial);
                    if matches!(self.host.read(&kept), Err(HostError::NotFound)) {
                        self.host
                            .write_atomic(&kept, &bytes)
                            .map_err(|e| StateError::io(&kept, "writing", &e))?;
                    }
                }
                _ => {
                    let kept = self.history_dir().join(format!("replaced-{next:020}.json"));
                    self.host
                        .write_atomic(&kept, &bytes)
                        .map_err(|e| StateError::io(&kept, "writing", &e))?;
                    replaced = Some(kept);
                }
            },
        }
        let mut state = version.to_state();
        self.write_next(&mut state, next, key, summary, None)?;
        Ok((state, replaced))
    }

    /// Every version in the history folder, oldest first. Whole versions
    /// are read and checked; a delta's line comes from its header, and its
    /// base's checksum is checked against the version after it, so a broken
    /// chain is found here without rebuilding every version.
    pub fn history(&self) -> Result<Vec<VersionInfo>, StateError> {
        let stored = self.stored_versions()?;
        let mut versions: Vec<VersionInfo> = Vec::with_capacity(stored.len());
        // Newest first: each delta is checked against the version after it.
        let mut after: Option<(u64, String)> = None;
        for (&serial, &how) in stored.iter().rev() {
            let (info, checksum) = match how {
                Stored::Whole => {
                    let file = self.whole_version(serial)?;
                    (file.info(), file.checksum)
                }
                Stored::Delta => {
                    let path = self.delta_path(serial);
                    let bytes = self
                        .host
                        .read(&path)
                        .map_err(|error| StateError::io(&path, "reading", &error))?;
                    let header = DeltaHeader::parse(&bytes, &path)?;
                    let linked = after.as_ref().is_some_and(|(next, checksum)| {
                        *next == header.base_serial && *checksum == header.base_checksum
                    });
                    if header.serial != serial || !linked {
                        return Err(broken_chain(&path, serial));
                    }
                    (header.info(), header.checksum)
                }
            };
            after = Some((serial, checksum));
            versions.push(info);
        }
        versions.reverse();
        Ok(versions)
    }

    /// Version `serial` from the history folder, checked: read whole, or
    /// rebuilt from the newer versions through its delta and theirs.
    pub fn version(&self, serial: u64) -> Result<StateFile, StateError> {
        let stored = self.stored_versions()?;
        if stored.get(&serial) != Some(&Stored::Delta) {
            return self.whole_version(serial);
        }
        let mut deltas = Vec::new();
        let mut next = serial;
        let base = loop {
            match stored.get(&next) {
                Some(Stored::Whole) => break self.whole_version(next)?,
                Some(Stored::Delta) => {
                    let path = self.delta_path(next);
                    let bytes = self
                        .host
                        .read(&path)
                        .map_err(|error| StateError::io(&path, "reading", &error))?;
                    let delta = VersionDelta::parse(&bytes, &path)?;
                    if delta.serial != next || delta.base_serial != next + 1 {
                        return Err(broken_chain(&path, next));
                    }
                    deltas.push((delta, path));
                    next += 1;
                }
                None => return Err(broken_chain(&self.delta_path(next - 1), next - 1)),
            }
        };
        let mut file = base;
        let wanted = self.delta_path(serial);
        for (delta, path) in deltas.into_iter().rev() {
            file = delta.apply_unverified(file, &path)?;
        }
        super::delta::verify(&file, &wanted)?;
        Ok(file)
    }

    /// Version `serial` from its whole copy in the history folder, checked.
    fn whole_version(&self, serial: u64) -> Result<StateFile, StateError> {
        let path = self.version_path(serial);
        let bytes = match self.host.read(&path) {
            Ok(bytes) => bytes,
            Err(HostError::NotFound) => {
                return Err(StateError::new(
                    Code::StateNoSuchVersion,
                    Some(&path),
                    format!(
                        "there is no version {serial}; `infra state history` lists the versions"
                    ),
                ));
            }
            Err(error) => return Err(StateError::io(&path, "reading", &error)),
        };
        let file = StateFile::parse(&bytes, &path)?;
        if file.serial != serial {
            return Err(StateError::new(
                Code::StateSerialBackwards,
                Some(&path),
                format!(
                    "the file is named for version {serial} but holds version {}",
                    file.serial
                ),
            ));
        }
        Ok(file)
    }

    /// Removes the history versions older than `oldest_kept` (never the
    /// newest), oldest first, and returns their serials. Each removal is
    /// durable before the next (the folder is synced), so a crash part way
    /// leaves the oldest ones removed and the rest whole: an older version is
    /// the changes from the one after it, and nothing newer needs an older
    /// one.
    pub fn prune(&self, lock: &dyn HeldLock, oldest_kept: u64) -> Result<Vec<u64>, StateError> {
        let dir = self.history_dir();
        if lock.location() != self.lock_path() {
            return Err(StateError::new(
                Code::Internal,
                Some(&dir),
                "history pruned under another state's lock; this is a bug",
            ));
        }
        let stored = self.stored_versions()?;
        let Some(&newest) = stored.keys().last() else {
            return Ok(Vec::new());
        };
        let limit = oldest_kept.min(newest);
        let mut removed = Vec::new();
        for &serial in stored.range(..limit).map(|(serial, _)| serial) {
            for path in [self.delta_path(serial), self.version_path(serial)] {
                match self.host.remove_file(&path) {
                    Ok(()) | Err(HostError::NotFound) => {}
                    Err(error) => return Err(StateError::io(&path, "removing", &error)),
                }
            }
            removed.push(serial);
        }
        Ok(removed)
    }

    /// Takes the lock for a writing command (see [`Lock::acquire`]).
    pub fn lock(
        &self,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<Lock<'h>, StateError> {
        Lock::acquire(self.host, &self.lock_path(), operation, timeout, on_wait)
    }

    /// Who holds the lock now, if anyone.
    pub fn lock_holder(&self) -> Option<LockInfo> {
        lock::read_holder(self.host, &self.lock_path())
    }

    /// Breaks a stale lock whose id is `id`.
    pub fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        lock::force_unlock(self.host, &self.lock_path(), id)
    }

    /// The audit log, in the history folder.
    pub fn audit_path(&self) -> PathBuf {
        self.history_dir().join(super::audit::AUDIT_FILE)
    }

    /// Appends an audit record durably (see [`super::audit::append`]).
    pub fn append_audit(&self, record: &super::AuditRecord) -> Result<(), StateError> {
        super::audit::append(self.host, &self.audit_path(), record)
    }

    /// The audit records, oldest first; unreadable lines are skipped and
    /// listed in [`super::AuditLog::skipped_lines`], never fatal.
    pub fn audit(&self) -> Result<super::AuditLog, StateError> {
        super::audit::read(self.host, &self.audit_path())
    }

    /// The crash journal.
    pub fn journal(&self) -> Journal<'h> {
        Journal::new(self.host, &self.journal_path())
    }

    /// The serials in the history folder, ascending.
    fn version_serials(&self) -> Result<Vec<u64>, StateError> {
        Ok(self.stored_versions()?.into_keys().collect())
    }

    /// The versions in the history folder and how each is stored (whole
    /// when both forms are there, as after a crash before the whole copy was
    /// removed). Other files (a temp file of an interrupted write) are
    /// ignored.
    fn stored_versions(&self) -> Result<BTreeMap<u64, Stored>, StateError> {
        let dir = self.history_dir();
        let entries = match self.host.list_dir(&dir) {
            Ok(entries) => entries,
            Err(HostError::NotFound) => return Ok(BTreeMap::new()),
            Err(error) => return Err(StateError::io(&dir, "listing", &error)),
        };
        let mut versions = BTreeMap::new();
        for entry in entries.iter().filter(|entry| entry.is_file) {
            let Some(stem) = entry
                .path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".json"))
            else {
                continue;
            };
            if let Ok(serial) = stem.parse::<u64>() {
                versions.insert(serial, Stored::Whole);
            } else if let Some(Ok(serial)) = stem.strip_suffix(".delta").map(str::parse::<u64>) {
                versions.entry(serial).or_insert(Stored::Delta);
            }
        }
        Ok(versions)
    }

    fn stored_path(&self, serial: u64, stored: Stored) -> PathBuf {
        match stored {
            Stored::Whole => self.version_path(serial),
            Stored::Delta => self.delta_path(serial),
        }
    }

    fn newest_header(&self) -> Result<Option<super::file::VersionHeader>, StateError> {
        let Some((serial, stored)) = self.stored_versions()?.pop_last() else {
            return Ok(None);
        };
        let path = self.stored_path(serial, stored);
        let bytes = self
            .host
            .read(&path)
            .map_err(|error| StateError::io(&path, "reading", &error))?;
        super::file::VersionHeader::parse(&bytes, &path).map(Some)
    }
}

/// How a history version is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// `<serial>.json`: the version as it was written.
    Whole,
    /// `<serial>.delta.json`: the changes from the version after it.
    Delta,
}

fn broken_chain(path: &Path, serial: u64) -> StateError {
    StateError::new(
        Code::StateNoSuchVersion,
        Some(path),
        format!(
            "version {serial} is stored as the changes from the version after it, which the \
             history does not hold as it was (removed or replaced); version {serial} cannot be \
             rebuilt. The newer versions are not affected"
        ),
    )
}

fn check_against_history(
    file: &StateFile,
    newest_lineage: &str,
    newest_serial: u64,
    path: &Path,
) -> Result<(), StateError> {
    if file.lineage != newest_lineage {
        return Err(foreign(path, &file.lineage, newest_lineage));
    }
    if file.serial < newest_serial {
        return Err(StateError::new(
            Code::StateSerialBackwards,
            Some(path),
            format!(
                "the file holds serial {}, but version {} was already written; an older copy was \
                 put in its place. Restore the newest version from the history folder",
                file.serial, newest_serial
            ),
        ));
    }
    Ok(())
}

pub(super) fn foreign(path: &Path, found: &str, expected: &str) -> StateError {
    StateError::new(
        Code::StateForeignLineage,
        Some(path),
        format!(
            "the file has lineage {found}, but this state's history has lineage {expected}: it \
             is another stack's or environment's state. Put the right file back; it was not \
             overwritten"
        ),
    )
}

pub(super) fn check_key(file: &StateFile, key: &Key, path: &Path) -> Result<(), StateError> {
    if file.key_id == key.id() {
        return Ok(());
    }
    Err(StateError::new(
        Code::StateWrongKey,
        Some(path),
        format!(
            "the state was sealed with key {}, but the key found is {} (from {}); use the key \
             this state was written with",
            file.key_id,
            key.id(),
            match key.source() {
                super::crypto::KeySource::Env => super::crypto::KEY_ENV.to_owned(),
                super::crypto::KeySource::File(p) | super::crypto::KeySource::Created(p) =>
                    p.display().to_string(),
            }
        ),
    ))
}

impl super::backend::JournalWriter for Journal<'_> {
    fn append(&mut self, records: &[super::JournalRecord]) -> Result<(), StateError> {
        self.append_all(records)
    }

    fn append_unsynced(&mut self, records: &[super::JournalRecord]) -> Result<(), StateError> {
        self.append_all_unsynced(records)
    }
}

impl super::backend::Backend for LocalBackend<'_> {
    fn name(&self) -> &'static str {
        "local"
    }

    fn environment(&self) -> &str {
        self.environment
    }

    fn state_path(&self) -> PathBuf {
        LocalBackend::state_path(self)
    }

    fn journal_path(&self) -> PathBuf {
        LocalBackend::journal_path(self)
    }

    fn audit_path(&self) -> PathBuf {
        LocalBackend::audit_path(self)
    }

    fn lock_path(&self) -> PathBuf {
        LocalBackend::lock_path(self)
    }

    fn key_path(&self) -> PathBuf {
        LocalBackend::key_path(self)
    }

    fn read(&self) -> Result<Option<StateFile>, StateError> {
        LocalBackend::read(self)
    }

    fn open_state(&self, file: StateFile, key: &Key) -> Result<State, StateError> {
        LocalBackend::open_state(self, file, key)
    }

    fn version(&self, serial: u64) -> Result<StateFile, StateError> {
        LocalBackend::version(self, serial)
            .map_err(|error| super::retention::explain_missing(self, serial, error))
    }

    fn history(&self) -> Result<Vec<VersionInfo>, StateError> {
        LocalBackend::history(self)
    }

    fn write(
        &self,
        lock: &dyn HeldLock,
        state: &mut State,
        key: &Key,
        summary: &str,
    ) -> Result<u64, StateError> {
        LocalBackend::write_version(self, lock, state, key, summary)
    }

    fn restore(
        &self,
        lock: &dyn HeldLock,
        serial: u64,
        key: &Key,
        summary: &str,
    ) -> Result<(State, Option<PathBuf>), StateError> {
        LocalBackend::restore(self, lock, serial, key, summary)
            .map_err(|error| super::retention::explain_missing(self, serial, error))
    }

    fn key(&self) -> Result<Key, StateError> {
        LocalBackend::key(self)
    }

    fn load_key(&self) -> Result<Option<Key>, StateError> {
        Key::load(self.host, &LocalBackend::key_path(self))
    }

    fn lock(
        &self,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<Box<dyn HeldLock + '_>, StateError> {
        Ok(Box::new(LocalBackend::lock(
            self, operation, timeout, on_wait,
        )?))
    }

    fn is_locked(&self) -> Result<bool, StateError> {
        let path = LocalBackend::lock_path(self);
        match self.host.read(&path) {
            Ok(_) => Ok(true),
            Err(HostError::NotFound) => Ok(false),
            Err(error) => Err(StateError::io(&path, "reading the lock", &error)),
        }
    }

    fn lock_holder(&self) -> Option<LockInfo> {
        LocalBackend::lock_holder(self)
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        LocalBackend::force_unlock(self, id)
    }

    fn journal_writer(
        &self,
        header: Option<&super::JournalRecord>,
    ) -> Result<Box<dyn super::backend::JournalWriter + '_>, StateError> {
        let journal = LocalBackend::journal(self);
        Ok(Box::new(match header {
            Some(header) => journal.with_header(header)?,
            None => journal,
        }))
    }

    fn read_journal(&self) -> Result<super::JournalRead<super::JournalRecord>, StateError> {
        LocalBackend::journal(self).read()
    }

    fn clear_journal(&self) -> Result<(), StateError> {
        LocalBackend::journal(self).clear()
    }

    fn append_audit(&self, record: &super::AuditRecord) -> Result<(), StateError> {
        LocalBackend::append_audit(self, record)
    }

    fn audit(&self) -> Result<super::AuditLog, StateError> {
        LocalBackend::audit(self)
    }

    fn prune(&self, lock: &dyn HeldLock, oldest_kept: u64) -> Result<Vec<u64>, StateError> {
        LocalBackend::prune(self, lock, oldest_kept)
    }
}
