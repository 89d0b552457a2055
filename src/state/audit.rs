//! The audit log: one record per command that changed (or tried to change) a
//! state, appended beside its versions as `<env>.history/audit.jsonl`.
//!
//! Terminology: an *audit record* says who ran which command, when, against
//! which environment and plan, what each action did and how the whole ended.
//!
//! Invariant: the log is append-only; every append is durable before it
//! returns. A record never holds a plaintext secret: callers pass error texts
//! already redacted, and nothing here reads values.
//! Invariant: reading never fails on a damaged line (a crash mid-append tears
//! at most the last one): damaged lines are skipped and counted, so the
//! caller can warn.

use super::StateError;
use crate::host::{Host, HostError};
use std::path::Path;

/// The audit log's file name inside the history folder.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// What one action ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// It was carried out.
    Succeeded,
    /// It was tried and failed.
    Failed,
    /// It was not tried (a dependency failed, or the run stopped).
    Skipped,
}

/// How a whole command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// Every action succeeded.
    Succeeded,
    /// Some actions succeeded and some failed or were skipped.
    Partial,
    /// Nothing succeeded.
    Failed,
}

/// One action of an audited command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditAction {
    /// The instance acted on (`local_file.x`, `module.m.null_resource.y[0]`).
    pub address: String,
    /// What was done: `create`, `update`, `delete`, `replace`, `read`,
    /// `import`, `remove`, `move`, ….
    pub action: String,
    /// How it ended.
    pub outcome: ActionOutcome,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed, already redacted by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The phases its provider calls named ("health 2/3"), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<AuditPhase>,
}

/// One phase of an audited action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditPhase {
    /// Unix milliseconds when the call named it.
    pub at_ms: u64,
    /// The provider's text (never a secret).
    pub phase: String,
}

/// One audited command run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// `apply`, `destroy`, `refresh`, `rollback`, `import`, `state-rm`,
    /// `state-mv`, `state-push`, ….
    pub command: String,
    /// The user who ran it.
    pub user: String,
    /// The machine it ran on.
    pub host: String,
    /// Unix milliseconds when it started.
    pub started_at: u64,
    /// Unix milliseconds when it finished.
    pub finished_at: u64,
    /// The environment.
    pub environment: String,
    /// The digest of the plan it carried out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// The state serial it wrote; `None` when nothing was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    /// Each action, in the order they finished.
    #[serde(default)]
    pub actions: Vec<AuditAction>,
    /// How it ended.
    pub result: AuditResult,
    /// The history versions the retention setting removed after it wrote
    /// (`stack { history = { keep = N } }`); absent when none were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned: Option<PrunedVersions>,
}

/// The history versions one command's write pruned: `first` to `last`, the
/// oldest ones, under the retention setting `keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrunedVersions {
    /// The oldest serial removed.
    pub first: u64,
    /// The newest serial removed.
    pub last: u64,
    /// `stack.history.keep` when they were removed.
    pub keep: u64,
}

impl PrunedVersions {
    /// Whether `serial` is one of them.
    pub fn covers(&self, serial: u64) -> bool {
        (self.first..=self.last).contains(&serial)
    }

    /// `versions 1–37` (`version 5` for one).
    pub fn range(&self) -> String {
        if self.first == self.last {
            format!("version {}", self.first)
        } else {
            format!("versions {}\u{2013}{}", self.first, self.last)
        }
    }

    /// The line a command prints after pruning: `Pruned history: versions
    /// 1–37 removed (stack.history.keep = 200).`
    pub fn describe(&self) -> String {
        format!(
            "Pruned history: {} removed (stack.history.keep = {}).",
            self.range(),
            self.keep
        )
    }
}

impl AuditRecord {
    /// A record for `command` on `environment`, started now by this host's
    /// user; fill in the actions, then call [`AuditRecord::finish`].
    pub fn start(host: &dyn Host, command: &str, environment: &str) -> AuditRecord {
        let now = host.now_unix_millis();
        AuditRecord {
            command: command.to_owned(),
            user: host.username(),
            host: host.hostname(),
            started_at: now,
            finished_at: now,
            environment: environment.to_owned(),
            plan_digest: None,
            serial: None,
            actions: Vec::new(),
            result: AuditResult::Succeeded,
            pruned: None,
        }
    }

    /// Stamps the finish time and derives the result from the actions: all
    /// succeeded (or none at all) is `succeeded`, none succeeded is
    /// `failed`, otherwise `partial`.
    pub fn finish(&mut self, host: &dyn Host) {
        self.finished_at = host.now_unix_millis().max(self.started_at);
        let succeeded = self
            .actions
            .iter()
            .filter(|a| a.outcome == ActionOutcome::Succeeded)
            .count();
        self.result = if succeeded == self.actions.len() {
            AuditResult::Succeeded
        } else if succeeded == 0 {
            AuditResult::Failed
        } else {
            AuditResult::Partial
        };
    }

    /// How many actions ended as `outcome`.
    pub fn count(&self, outcome: ActionOutcome) -> usize {
        self.actions.iter().filter(|a| a.outcome == outcome).count()
    }
}

/// The records read back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditLog {
    /// The readable records, oldest first.
    pub records: Vec<AuditRecord>,
    /// The 1-based numbers of the lines that could not be read (a torn last
    /// line after a crash, or damage), for a warning.
    pub skipped_lines: Vec<usize>,
}

/// Appends `record` to the log at `path` (creating it and its folder) and
/// returns once it is on disk. A torn last line is closed first, so the new
/// record starts on a line of its own.
pub fn append(host: &dyn Host, path: &Path, record: &AuditRecord) -> Result<(), StateError> {
    if let Some(parent) = path.parent() {
        host.create_dir_all(parent)
            .map_err(|e| StateError::io(parent, "creating", &e))?;
    }
    let json = serde_json::to_string(record).map_err(|error| {
        StateError::new(crate::diag::Code::Internal, Some(path), format!("{error}"))
    })?;
    let mut line = String::new();
    match host.read(path) {
        Ok(bytes) if !bytes.is_empty() && !bytes.ends_with(b"\n") => line.push('\n'),
        Ok(_) | Err(HostError::NotFound) => {}
        Err(error) => return Err(StateError::io(path, "reading the audit log", &error)),
    }
    line.push_str(&json);
    line.push('\n');
    host.append_durable(path, line.as_bytes())
        .map_err(|e| StateError::io(path, "appending to the audit log", &e))
}

/// Reads the log at `path`; an absent log has no records. Lines that are
/// not records are skipped and listed, never fatal.
pub fn read(host: &dyn Host, path: &Path) -> Result<AuditLog, StateError> {
    let bytes = match host.read(path) {
        Ok(bytes) => bytes,
        Err(HostError::NotFound) => return Ok(AuditLog::default()),
        Err(error) => return Err(StateError::io(path, "reading the audit log", &error)),
    };
    let mut log = AuditLog::default();
    for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<AuditRecord>(line) {
            Ok(record) => log.records.push(record),
            Err(_) => log.skipped_lines.push(index + 1),
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    #![expect(
        clippy::unwrap_used,
        reason = "a test fails loudly on the first surprise"
    )]

    use super::*;
    use crate::host::MemoryHost;
    use crate::state::LocalBackend;

    fn record(host: &dyn Host, command: &str, outcomes: &[ActionOutcome]) -> AuditRecord {
        let mut record = AuditRecord::start(host, command, "dev");
        for (n, outcome) in outcomes.iter().enumerate() {
            record.actions.push(AuditAction {
                address: format!("null_resource.n{n}"),
                action: String::from("create"),
                outcome: *outcome,
                duration_ms: 3,
                error: (*outcome == ActionOutcome::Failed).then(|| String::from("boom")),
                phases: Vec::new(),
            });
        }
        record.finish(host);
        record
    }

    #[test]
    fn the_result_follows_the_actions() {
        let host = MemoryHost::new();
        use ActionOutcome::{Failed, Skipped, Succeeded};
        assert_eq!(record(&host, "apply", &[]).result, AuditResult::Succeeded);
        assert_eq!(
            record(&host, "apply", &[Succeeded, Succeeded]).result,
            AuditResult::Succeeded
        );
        assert_eq!(
            record(&host, "apply", &[Succeeded, Failed, Skipped]).result,
            AuditResult::Partial
        );
        assert_eq!(
            record(&host, "apply", &[Failed, Skipped]).result,
            AuditResult::Failed
        );
    }

    #[test]
    fn records_append_and_read_back_in_order() {
        let host = MemoryHost::new();
        let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
        assert_eq!(backend.audit().unwrap(), AuditLog::default());
        let first = record(&host, "apply", &[ActionOutcome::Succeeded]);
        let mut second = record(&host, "destroy", &[ActionOutcome::Failed]);
        second.plan_digest = Some(String::from("abc"));
        second.serial = Some(4);
        backend.append_audit(&first).unwrap();
        backend.append_audit(&second).unwrap();
        let log = backend.audit().unwrap();
        assert_eq!(log.records, vec![first, second]);
        assert!(log.skipped_lines.is_empty());
        assert_eq!(
            backend.audit_path(),
            Path::new("/s/.infra/state/shop/dev.history/audit.jsonl")
        );
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_next_record_starts_clean() {
        let host = MemoryHost::new();
        let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
        let first = record(&host, "apply", &[ActionOutcome::Succeeded]);
        backend.append_audit(&first).unwrap();
        // A crash mid-append: half a record, no newline.
        let mut bytes = host.file(&backend.audit_path()).unwrap();
        bytes.extend_from_slice(b"{\"command\":\"app");
        host.set_file(backend.audit_path(), bytes);
        let log = backend.audit().unwrap();
        assert_eq!(log.records, vec![first.clone()]);
        assert_eq!(log.skipped_lines, vec![2]);

        let second = record(&host, "state-rm", &[ActionOutcome::Succeeded]);
        backend.append_audit(&second).unwrap();
        let log = backend.audit().unwrap();
        assert_eq!(log.records, vec![first, second]);
        assert_eq!(log.skipped_lines, vec![2]);
    }

    #[test]
    fn the_audit_log_is_not_taken_for_a_version() {
        let host = MemoryHost::new();
        let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
        backend
            .append_audit(&record(&host, "apply", &[ActionOutcome::Succeeded]))
            .unwrap();
        assert!(backend.history().unwrap().is_empty());
        assert_eq!(backend.read().unwrap(), None);
    }
}
