//! The one path by which every command opens a stack environment's state,
//! and the one by which every writing command locks and writes it.
//!
//! Terminology: *folding* a journal applies its records, in order, to the
//! version it was started against. A *reading* command (`plan`, `drift`,
//! `output`, `state list|show|history|pull`, `envdiff`) folds in memory
//! ([`Reading`]); a *writing* command (`apply`, `destroy`, `refresh`,
//! `import`, `rollback`, `state rm|mv|push|restore`) folds durably before
//! its own work ([`Writing`]). The journal's *base* is the version it names
//! in its first record ([`JournalRecord::Base`]).
//!
//! Invariant: [`Reading`] takes no lock and writes nothing.
//! Invariant: [`Writing::open`] is the only place that locks a state and
//! folds a journal into a new version; [`Writing::write`] the only place
//! that writes one for a command's own work.
//! Invariant: a journal is folded only onto the version it names: when the
//! state's lineage or serial moved, the command is refused and the journal
//! is kept, never dropped.
//! Invariant: [`Writing::finish`] is the only place that prunes the history:
//! under the lock, only after the command wrote a version, and recorded in
//! the command's audit record.

use super::audit::{ActionOutcome, AuditAction, AuditRecord, PrunedVersions};
use super::backend::{Backend, JournalWriter};
use super::crypto::Key;
use super::file::StateFile;
use super::lock::{HeldLock, LockInfo};
use super::retention::{self, Retention};
use super::{JournalRecord, State, StateError, new_uuid};
use crate::diag::{Code, Diagnostic};
use crate::host::Host;
use std::path::PathBuf;
use std::time::Duration;

/// What the journal held, checked against the current version.
#[derive(Debug, Clone, Default)]
struct Unrecorded {
    /// The actions, without the base record.
    records: Vec<JournalRecord>,
    /// The lineage the journal was started against, if it says.
    lineage: Option<String>,
    /// Whether a torn last record (a crash mid-append) was left out.
    torn_tail: bool,
    /// Whether there is a journal file at all.
    present: bool,
}

impl Unrecorded {
    /// Reads the journal and checks its base against `current` (see the
    /// module invariants).
    fn read(backend: &dyn Backend, current: Option<&StateFile>) -> Result<Self, StateError> {
        let read = backend.read_journal()?;
        let present = !read.records.is_empty() || read.torn_tail;
        let mut records = read.records;
        // The records were written into the current version already: the
        // process died between writing it and removing the journal.
        if let Some(JournalRecord::Committed { lineage, serial }) = records.last() {
            if current.is_some_and(|file| file.lineage == *lineage && file.serial == *serial) {
                return Ok(Unrecorded {
                    records: Vec::new(),
                    lineage: None,
                    torn_tail: false,
                    present,
                });
            }
            records.pop();
        }
        let mut lineage = None;
        if let Some(JournalRecord::Base {
            lineage: base_lineage,
            serial,
        }) = records.first()
        {
            check_base(backend, current, base_lineage, *serial)?;
            lineage = Some(base_lineage.clone());
            records.remove(0);
        }
        Ok(Unrecorded {
            records,
            lineage,
            torn_tail: read.torn_tail,
            present,
        })
    }

    /// `stored` with every record folded in (a journal of a first apply
    /// gives a state of its own, at serial 0).
    fn fold(&self, host: &dyn Host, stored: Option<State>) -> Option<State> {
        if self.records.is_empty() {
            return stored;
        }
        let mut state = stored.unwrap_or_else(|| {
            let mut state = State::new(host);
            state.lineage = self.lineage.clone().unwrap_or_else(|| new_uuid(host));
            state
        });
        for record in &self.records {
            state.apply_record(record);
        }
        Some(state)
    }

    /// How many completed actions the journal holds (a pending create is a
    /// start, not an action).
    fn completed(&self) -> usize {
        self.records
            .iter()
            .filter(|record| {
                !matches!(
                    record,
                    JournalRecord::Pending(_)
                        | JournalRecord::Checkpoint { .. }
                        | JournalRecord::Settled { .. }
                )
            })
            .count()
    }

    /// The sentence about what was folded, when anything was.
    fn describe(&self, backend: &dyn Backend) -> Option<String> {
        let torn = format!(
            "the journal's last record was cut off mid-write (a crash) and is ignored ({})",
            backend.journal_path().display()
        );
        if self.records.is_empty() {
            return self.torn_tail.then_some(torn);
        }
        let count = self.completed();
        let started = self
            .records
            .iter()
            .filter(|record| matches!(record, JournalRecord::Pending(_)))
            .count();
        let mut text = format!(
            "an interrupted apply left {count} action{} not yet recorded; they are included here",
            if count == 1 { "" } else { "s" }
        );
        if started > 0 {
            text.push_str(&format!(
                " ({started} provider call{} started without a known result: the next apply \
                 resumes {} before planning)",
                if started == 1 { " was" } else { "s were" },
                if started == 1 { "it" } else { "them" }
            ));
        }
        if self.torn_tail {
            text.push_str("; ");
            text.push_str(&torn);
        }
        Some(text)
    }
}

/// Refuses a journal started against another version than `current`.
fn check_base(
    backend: &dyn Backend,
    current: Option<&StateFile>,
    lineage: &str,
    serial: u64,
) -> Result<(), StateError> {
    let path = backend.journal_path();
    let (current_lineage, current_serial) = match current {
        Some(file) => (Some(file.lineage.as_str()), file.serial),
        None => (None, 0),
    };
    if let Some(current_lineage) = current_lineage
        && current_lineage != lineage
    {
        return Err(StateError::new(
            Code::StateJournalForeignLineage,
            Some(&path),
            format!(
                "the journal was written against a state of lineage {lineage}, but this state \
                 has lineage {current_lineage}: it belongs to another stack's or environment's \
                 state, or this state was replaced by another one. Nothing was changed and the \
                 journal was kept; put the right state back, or move the journal aside and run \
                 `infra refresh`"
            ),
        ));
    }
    if serial != current_serial {
        return Err(StateError::new(
            Code::StateJournalStale,
            Some(&path),
            format!(
                "the journal holds the actions of an interrupted apply that started from version \
                 {serial}, but the state is now at version {current_serial} (a state file copied \
                 back by hand, pushed, or written by an older infra): folding it onto another \
                 version could lose or repeat changes. Nothing was changed and the journal was \
                 kept. Move the journal aside and run `infra refresh` to bring the state in line \
                 with the real objects (then `infra import` anything the journal shows was \
                 created)"
            ),
        ));
    }
    Ok(())
}

/// A reading command's view of the state: the current version with any
/// journal of an interrupted apply folded in, in memory.
#[derive(Debug)]
pub struct Reading {
    /// The current version as stored, `None` when never written.
    pub file: Option<StateFile>,
    unrecorded: Unrecorded,
    note: Option<String>,
}

impl Reading {
    /// Reads the current version and the journal. Takes no lock, writes nothing.
    pub fn open(backend: &dyn Backend) -> Result<Reading, StateError> {
        let file = backend.read()?;
        let unrecorded = Unrecorded::read(backend, file.as_ref())?;
        let note = unrecorded.describe(backend);
        Ok(Reading {
            file,
            unrecorded,
            note,
        })
    }

    /// Whether there is any state: a written version or journalled actions.
    pub fn exists(&self) -> bool {
        self.file.is_some() || !self.unrecorded.records.is_empty()
    }

    /// The state with the journal folded in, without checking a key (for
    /// listing addresses); `None` when there is none.
    pub fn state(&self, host: &dyn Host) -> Option<State> {
        self.unrecorded
            .fold(host, self.file.as_ref().map(StateFile::to_state))
    }

    /// The state with the journal folded in, after checking that `key`
    /// sealed it; `None` when there is none. The stored version is taken
    /// apart into the state, not copied.
    pub fn open_with(
        self,
        host: &dyn Host,
        backend: &dyn Backend,
        key: &Key,
    ) -> Result<Option<State>, StateError> {
        let stored = match self.file {
            Some(file) => Some(backend.open_state(file, key)?),
            None => None,
        };
        Ok(self.unrecorded.fold(host, stored))
    }

    /// The warning to show when a journal was folded in (or a torn record
    /// ignored); the command says so rather than show it as drift.
    pub fn warning(&self) -> Option<Diagnostic> {
        let note = self.note.as_ref()?;
        Some(
            Diagnostic::error_at_path(Code::StateUnrecordedActions, None)
                .warning()
                .with_help(format!(
                    "{note}. The next writing command (`infra apply`, `infra refresh`, …) \
                     records them"
                )),
        )
    }
}

/// Whether a writing command creates the state key when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Create it when missing (`apply`, `destroy`, `rollback`, `import`).
    Create,
    /// Never create one: load it when present (a state needs it).
    Existing,
}

/// A writing command's hold on the state: the lock, the key and the current
/// version, with any journal already folded in durably.
pub struct Writing<'h> {
    host: &'h dyn Host,
    backend: &'h dyn Backend,
    lock: Box<dyn HeldLock + 'h>,
    key: Option<Key>,
    state: Option<State>,
    notes: Vec<String>,
    /// Whether this command started a journal ([`Writing::journal`]).
    journaled: bool,
    /// The history's retention setting, applied by [`Writing::finish`].
    retention: Option<Retention>,
    /// The newest version this command wrote (a folded journal, its own
    /// work, a restore), if any.
    written: Option<u64>,
}

/// What [`Writing::finish`] did besides releasing the lock.
#[derive(Debug, Default)]
pub struct Finished {
    /// The history versions the retention setting pruned, if any (recorded
    /// in the command's audit record too).
    pub pruned: Option<PrunedVersions>,
    /// Why pruning failed, if it did: the command's version is written and
    /// the history is whole, as long as before or shorter. A warning.
    pub prune_failed: Option<StateError>,
    /// Problems appending the audit record or releasing the lock.
    pub problems: Vec<StateError>,
}

impl std::fmt::Debug for Writing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writing")
            .field("backend", &self.backend)
            .field("lock", &self.lock)
            .field("notes", &self.notes)
            .finish_non_exhaustive()
    }
}

impl<'h> Writing<'h> {
    /// Takes the lock for `operation` (waiting up to `timeout`), opens the
    /// key, and folds any journal into a new version of its own (with a
    /// history entry and an audit record) before the command does its work.
    pub fn open(
        host: &'h dyn Host,
        backend: &'h dyn Backend,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
        key_use: KeyUse,
    ) -> Result<Writing<'h>, StateError> {
        Writing::open_inner(host, backend, operation, timeout, on_wait, key_use, false)
    }

    /// As [`Writing::open`] for `infra state restore`: a current file that
    /// cannot be read is the reason to restore, so it is not refused, and
    /// then no journal is folded (it is kept for after the restore).
    pub fn open_to_restore(
        host: &'h dyn Host,
        backend: &'h dyn Backend,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<Writing<'h>, StateError> {
        Writing::open_inner(
            host,
            backend,
            "state restore",
            timeout,
            on_wait,
            KeyUse::Existing,
            true,
        )
    }

    fn open_inner(
        host: &'h dyn Host,
        backend: &'h dyn Backend,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
        key_use: KeyUse,
        restoring: bool,
    ) -> Result<Writing<'h>, StateError> {
        let lock = backend.lock(operation, timeout, on_wait)?;
        let mut notes = Vec::new();
        if let Some(stale) = lock.replaced_stale() {
            notes.push(format!(
                "took over the state lock left by a process that is gone ({}); the journal \
                 keeps what it finished",
                stale.describe(host.now_unix_seconds())
            ));
        }
        let file = match backend.read() {
            Ok(file) => file,
            Err(_) if restoring => {
                let key = backend.key()?;
                if backend
                    .read_journal()
                    .is_ok_and(|read| !read.records.is_empty())
                {
                    notes.push(format!(
                        "the journal of an interrupted apply was kept ({}); it was started \
                         from a version that cannot be read, so it is not folded",
                        backend.journal_path().display()
                    ));
                }
                return Ok(Writing {
                    host,
                    backend,
                    lock,
                    key: Some(key),
                    state: None,
                    notes,
                    journaled: false,
                    retention: None,
                    written: None,
                });
            }
            Err(error) => return Err(error),
        };
        let unrecorded = Unrecorded::read(backend, file.as_ref())?;
        let has_state = file.is_some() || !unrecorded.records.is_empty();
        let key = if key_use == KeyUse::Create || has_state || restoring {
            let existed = host.read(&backend.key_path()).is_ok()
                || host.env_var(super::crypto::KEY_ENV).is_some();
            let key = backend.key()?;
            if !existed {
                notes.push(format!(
                    "created the state key {}: back it up (a password manager, a CI secret); \
                     without it the secrets in state cannot be opened",
                    backend.key_path().display()
                ));
            }
            Some(key)
        } else {
            backend.load_key()?
        };
        let stored = match (file, &key) {
            (Some(file), Some(key)) => Some(backend.open_state(file, key)?),
            _ => None,
        };
        let mut writing = Writing {
            host,
            backend,
            lock,
            key,
            state: stored,
            notes,
            journaled: false,
            retention: None,
            written: None,
        };
        writing.fold(&unrecorded, operation)?;
        Ok(writing)
    }

    /// Folds the journal durably: a version of its own, its audit record,
    /// then the journal is removed.
    fn fold(&mut self, unrecorded: &Unrecorded, operation: &str) -> Result<(), StateError> {
        if !unrecorded.present {
            return Ok(());
        }
        if unrecorded.records.is_empty() {
            if let Some(note) = unrecorded.describe(self.backend) {
                self.notes.push(note);
            }
            return self.backend.clear_journal();
        }
        let Some(mut state) = unrecorded.fold(self.host, self.state.take()) else {
            return Err(StateError::new(
                Code::Internal,
                Some(&self.backend.journal_path()),
                "journalled actions folded into no state; this is a bug",
            ));
        };
        let count = unrecorded.completed();
        let mut audit = AuditRecord::start(self.host, "recover", self.backend.environment());
        let summary = format!("recovered {count} actions from an interrupted apply");
        let key = self.key()?.clone();
        self.commit_journal(&state)?;
        self.backend
            .write(self.lock.as_ref(), &mut state, &key, &summary)?;
        self.backend.clear_journal()?;
        self.written = Some(state.serial);
        audit.serial = Some(state.serial);
        audit.actions = vec![AuditAction {
            address: format!("{count} journalled actions"),
            action: "recover".to_owned(),
            outcome: ActionOutcome::Succeeded,
            duration_ms: 0,
            error: None,
            phases: Vec::new(),
        }];
        audit.finish(self.host);
        self.backend.append_audit(&audit)?;
        let mut note = format!("{summary} (before {operation}; version {})", state.serial);
        if unrecorded.torn_tail {
            note.push_str("; the journal's last record was cut off mid-write and is ignored");
        }
        self.notes.push(note);
        self.state = Some(state);
        Ok(())
    }

    /// Applies the history's retention setting (`stack { history = { keep
    /// = N } }`) when the command finishes; without it every version is kept.
    pub fn with_retention(mut self, retention: Option<Retention>) -> Self {
        self.retention = retention;
        self
    }

    /// What the user should be told: a stale lock taken over, a new key, a
    /// recovered journal.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The current version as opened (after any fold), `None` when there is
    /// none yet, or once [`Writing::write`] wrote the next one.
    pub fn state(&self) -> Option<&State> {
        self.state.as_ref()
    }

    /// The current version as opened, taken for the command to work on: it
    /// is not read a second time, and no copy is kept ([`Writing::state`]
    /// is `None` after).
    pub fn take_state(&mut self) -> Option<State> {
        self.state.take()
    }

    /// The state's key; an error when there is none (a first `state push`
    /// without the key its file was sealed with).
    pub fn key(&self) -> Result<&Key, StateError> {
        self.key.as_ref().ok_or_else(|| {
            StateError::new(
                Code::StateMissingKey,
                Some(&self.backend.key_path()),
                format!(
                    "there is no state key yet; put the key the state was sealed with in {} or \
                     set {}",
                    self.backend.key_path().display(),
                    super::crypto::KEY_ENV
                ),
            )
        })
    }

    /// The backend, for history reads.
    pub fn backend(&self) -> &'h dyn Backend {
        self.backend
    }

    /// The journal an apply records into, started against `state` (the
    /// version it applies to).
    pub fn journal(&mut self, state: &State) -> Result<Box<dyn JournalWriter + 'h>, StateError> {
        self.journaled = true;
        self.backend.journal_writer(Some(&JournalRecord::Base {
            lineage: state.lineage.clone(),
            serial: state.serial,
        }))
    }

    /// Writes `state` as the next version (compare-and-swap on the serial it
    /// was read at) and removes the journal it supersedes. Returns the new
    /// serial. The caller holds the version written: [`Writing::state`] is
    /// then `None` (a copy kept here would be a second state in memory, at
    /// 100,000 instances some hundred megabytes).
    pub fn write(&mut self, state: &mut State, summary: &str) -> Result<u64, StateError> {
        let key = self.key()?.clone();
        if self.journaled {
            self.commit_journal(state)?;
        }
        let serial = self
            .backend
            .write(self.lock.as_ref(), state, &key, summary)?;
        self.written = Some(serial);
        self.backend.clear_journal()?;
        self.state = None;
        Ok(serial)
    }

    /// Marks the journal as about to be written into the version after
    /// `state` (see [`JournalRecord::Committed`]).
    fn commit_journal(&self, state: &State) -> Result<(), StateError> {
        self.backend
            .journal_writer(None)?
            .append(&[JournalRecord::Committed {
                lineage: state.lineage.clone(),
                serial: state.serial + 1,
            }])
    }

    /// Writes history version `serial` back as the next version (see
    /// [`Backend::restore`]).
    pub fn restore(
        &mut self,
        serial: u64,
        summary: &str,
    ) -> Result<(State, Option<PathBuf>), StateError> {
        let key = self.key()?.clone();
        let restored = self
            .backend
            .restore(self.lock.as_ref(), serial, &key, summary)?;
        self.written = Some(restored.0.serial);
        Ok(restored)
    }

    /// Prunes the history under the retention setting when the command
    /// wrote a version (see [`retention`]), appends the command's audit
    /// record (with what was pruned) and releases the lock. Every problem is
    /// returned; none stops the others. Without an audit record nothing is
    /// pruned: a prune is always recorded.
    pub fn finish(self, audit: Option<AuditRecord>) -> Finished {
        let mut finished = Finished::default();
        if let Some(mut audit) = audit {
            if let (Some(retention), Some(current)) = (self.retention, self.written) {
                match retention::prune(self.backend, self.lock.as_ref(), retention, current, &audit)
                {
                    Ok(pruned) => finished.pruned = pruned,
                    Err(error) => finished.prune_failed = Some(error),
                }
                audit.pruned = finished.pruned;
            }
            audit.finish(self.host);
            if let Err(error) = self.backend.append_audit(&audit) {
                finished.problems.push(error);
            }
        }
        if let Err(error) = self.lock.release() {
            finished.problems.push(error);
        }
        finished
    }
}
