//! History retention: which versions `stack { history = { keep = N } }`
//! lets a writing command prune, and the refusal of a pruned version.
//!
//! Terminology: a *deploy* is a command that carries out a plan through the
//! engine and that `infra rollback` undoes: `apply`, `destroy`, `rollback`.
//! The version a deploy *started from* is the one before the version it
//! wrote.
//!
//! The rule: after a write, the history keeps
//!
//! 1. the newest `keep` versions;
//! 2. the version before the current one (so `keep = 1` still leaves a
//!    way back);
//! 3. the version the last deploy started from, which undoes it (`infra
//!    rollback` without `--to` goes back to it), even when
//!    later state surgery (`refresh`, `import`, `state rm`, …) pushed it out
//!    of the newest `keep`;
//!
//! and everything newer than the oldest of these: the kept versions are
//! always the newest ones, without gaps, so every one that stays can be
//! rebuilt (an older version is stored as its changes from the next one).
//! Only the last deploy pins a version: the audit log names a version for
//! every command ever run, and keeping all of them would keep everything.
//! Audit records are never pruned; a record keeps naming the version it
//! wrote after that version is gone, and a record that pruned says which
//! versions ([`PrunedVersions`]).
//!
//! Invariant: the current version is never pruned, and versions are removed
//! oldest first, so a crash part way leaves a shorter history that reads.

use super::StateError;
use super::audit::{AuditRecord, PrunedVersions};
use super::backend::Backend;
use super::lock::HeldLock;
use crate::diag::Code;

/// `stack { history = { keep = N } }`: how many versions a state's history
/// keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest versions kept, at least 1.
    pub keep: u64,
}

/// The commands a rollback undoes (see the module's terminology).
const DEPLOYS: &[&str] = &["apply", "destroy", "rollback"];

/// Whether `record` is a deploy that wrote a version.
fn is_deploy(record: &AuditRecord) -> bool {
    record.serial.is_some() && DEPLOYS.contains(&record.command.as_str())
}

/// The oldest serial the history keeps when `current` is the current
/// version, under `keep`, when the last deploy wrote `last_deploy` (see the
/// module's rule). Every version older than it may be pruned.
pub fn oldest_kept(current: u64, keep: u64, last_deploy: Option<u64>) -> u64 {
    let newest_keep = current.saturating_sub(keep.max(1) - 1);
    let previous = current.saturating_sub(1);
    // A first apply (version 1) started from no version: undoing it
    // destroys, and needs none.
    let deploy_start = last_deploy
        .filter(|serial| (2..=current).contains(serial))
        .map_or(u64::MAX, |serial| serial - 1);
    newest_keep.min(previous).min(deploy_start).max(1)
}

/// The version the last deploy started from, which `infra rollback`
/// without `--to` returns to: `None` when no audit record names a deploy
/// that wrote a version after another one (a first apply started from none).
pub fn last_deploy_start(backend: &dyn Backend) -> Result<Option<u64>, StateError> {
    Ok(backend
        .last_audit(&is_deploy)?
        .and_then(|record| record.serial)
        .filter(|serial| *serial >= 2)
        .map(|serial| serial - 1))
}

/// Prunes the history of `backend` after a write made `current` the
/// current version, under `retention`. `record` is the writing command's
/// own audit record, not yet appended (it may be the last deploy). Returns
/// what was removed, `None` when nothing was.
pub fn prune(
    backend: &dyn Backend,
    lock: &dyn HeldLock,
    retention: Retention,
    current: u64,
    record: &AuditRecord,
) -> Result<Option<PrunedVersions>, StateError> {
    let last_deploy = if is_deploy(record) {
        record.serial
    } else {
        backend
            .last_audit(&is_deploy)?
            .and_then(|found| found.serial)
    };
    let oldest = oldest_kept(current, retention.keep, last_deploy);
    if oldest <= 1 {
        return Ok(None);
    }
    let removed = backend.prune(lock, oldest)?;
    Ok(match (removed.first(), removed.last()) {
        (Some(&first), Some(&last)) => Some(PrunedVersions {
            first,
            last,
            keep: retention.keep,
        }),
        _ => None,
    })
}

/// `error`, from asking `backend` for version `serial`, told as a version
/// the retention setting pruned when an audit record says it pruned it.
pub fn explain_missing(backend: &dyn Backend, serial: u64, error: StateError) -> StateError {
    if error.code != Code::StateNoSuchVersion {
        return error;
    }
    let covers = |record: &AuditRecord| record.pruned.is_some_and(|p| p.covers(serial));
    let Ok(Some(record)) = backend.last_audit(&covers) else {
        return error;
    };
    let Some(pruned) = record.pruned else {
        return error;
    };
    let when = match record.serial {
        Some(written) => format!(" after it wrote version {written}"),
        None => String::new(),
    };
    StateError::new(
        Code::StateVersionPruned,
        error.path.as_deref(),
        format!(
            "version {serial} was pruned from the history by the retention setting \
             (stack.history.keep = {}): `{}` removed {}{when}. `infra state history` lists the \
             versions kept",
            pruned.keep,
            record.command,
            pruned.range()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::oldest_kept;

    #[test]
    fn the_newest_keep_versions_are_kept() {
        assert_eq!(oldest_kept(250, 200, Some(250)), 51);
        assert_eq!(oldest_kept(10, 3, Some(10)), 8);
    }

    #[test]
    fn nothing_is_pruned_while_the_history_is_shorter_than_keep() {
        assert_eq!(oldest_kept(5, 200, Some(5)), 1);
        assert_eq!(oldest_kept(1, 1, Some(1)), 1);
    }

    #[test]
    fn keep_one_still_keeps_the_version_a_rollback_goes_back_to() {
        assert_eq!(oldest_kept(10, 1, Some(10)), 9);
        assert_eq!(oldest_kept(10, 1, None), 9);
    }

    #[test]
    fn the_version_the_last_deploy_started_from_is_kept_past_the_window() {
        // An apply wrote 10; refreshes and surgery wrote 11 to 20.
        assert_eq!(oldest_kept(20, 3, Some(10)), 9);
        // Within the window it changes nothing.
        assert_eq!(oldest_kept(20, 3, Some(19)), 18);
        assert_eq!(oldest_kept(20, 5, Some(19)), 16);
    }

    #[test]
    fn a_deploy_record_naming_a_version_not_written_here_pins_nothing() {
        assert_eq!(oldest_kept(20, 3, Some(40)), 18);
        // A first apply started from no version.
        assert_eq!(oldest_kept(20, 3, Some(1)), 18);
    }
}
