//! The state lock: [`HeldLock`], the hold any backend's lock gives, and the
//! `local` backend's lock file created atomically (`create_new`), holding
//! who took it and why, removed when the [`Lock`] is dropped.
//!
//! Invariant: only commands that write state lock it; a lock is removed only
//! by its holder (on drop) or by `force_unlock` with its exact id.

use super::{StateError, new_uuid};
use crate::diag::Code;
use crate::host::{CreateNew, FileMode, Host, HostError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a waiting command looks at the lock again.
const POLL: Duration = Duration::from_millis(200);

/// What the lock file records about its holder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockInfo {
    /// The lock's id, for `force-unlock`.
    pub id: String,
    /// The user who took it.
    pub user: String,
    /// The machine it was taken on.
    pub host: String,
    /// The process that holds it.
    pub pid: u32,
    /// The command (`apply`, `destroy`, …).
    pub operation: String,
    /// Unix seconds when it was taken.
    pub created_at: u64,
}

impl LockInfo {
    /// One line for whoever waits, `now` being the current Unix time:
    /// `held by ana@ci-3 (pid 812) for apply since 2026-12-06 05:04:51 UTC
    /// (12 s ago), lock id …`. The id comes last, whole, so it can be
    /// copied into `infra force-unlock`.
    pub fn describe(&self, now: u64) -> String {
        format!(
            "held by {}@{} (pid {}) for {} since {} ({} ago), lock id {}",
            self.user,
            self.host,
            self.pid,
            self.operation,
            crate::host::format_utc(self.created_at),
            crate::host::format_age(now.saturating_sub(self.created_at)),
            self.id
        )
    }
}

/// A held state lock, whatever the backend keeps it in: the local lock file
/// ([`Lock`]) or a PostgreSQL advisory lock on a session of its own
/// ([`super::postgres::PgLock`]). Dropping it releases it; commands hold it
/// as a `Box<dyn HeldLock>` and never name the backend's type.
pub trait HeldLock: std::fmt::Debug + Send + Sync {
    /// Who holds it (this process).
    fn info(&self) -> &LockInfo;

    /// Where the lock is, as messages show it; a backend checks that a lock
    /// handed to its `write` is its own by this.
    fn location(&self) -> &Path;

    /// The lock this one replaced because its holder had died (a `kill -9`,
    /// a crash), to tell the user.
    fn replaced_stale(&self) -> Option<&LockInfo>;

    /// Releases the lock now, reporting a failure that drop would swallow.
    fn release(self: Box<Self>) -> Result<(), StateError>;
}

/// A held lock; dropping it releases it.
pub struct Lock<'h> {
    host: &'h dyn Host,
    path: PathBuf,
    info: LockInfo,
    released: bool,
    stale: Option<LockInfo>,
}

impl std::fmt::Debug for Lock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("released", &self.released)
            .finish_non_exhaustive()
    }
}

impl<'h> Lock<'h> {
    /// Takes the lock at `path` for `operation`. When it is held, waits up to
    /// `timeout` (polling), calling `on_wait` once with the holder; a zero
    /// timeout fails at once. The error names the holder.
    pub fn acquire(
        host: &'h dyn Host,
        path: &Path,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<Lock<'h>, StateError> {
        if let Some(parent) = path.parent() {
            host.create_dir_all(parent)
                .map_err(|e| StateError::io(parent, "creating", &e))?;
        }
        let info = LockInfo {
            id: new_uuid(host),
            user: host.username(),
            host: host.hostname(),
            pid: host.pid(),
            operation: operation.to_owned(),
            created_at: host.now_unix_seconds(),
        };
        let bytes = serde_json::to_vec_pretty(&info).unwrap_or_default();
        let started = host.now_unix_millis();
        let timeout_millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let mut told = false;
        let mut stale = None;
        loop {
            match host.create_new(path, &bytes, FileMode::Default) {
                Ok(CreateNew::Created) => {
                    return Ok(Lock {
                        host,
                        path: path.to_path_buf(),
                        info,
                        released: false,
                        stale,
                    });
                }
                Ok(CreateNew::AlreadyExists) => {}
                Err(error) => return Err(StateError::io(path, "creating the lock", &error)),
            }
            let holder = read_holder(host, path);
            if let Some(dead) = holder.as_ref().filter(|h| is_stale(host, h)) {
                // Its process is gone (killed, crashed): nobody will release
                // it. Remove it only if it is still that same lock.
                if read_holder(host, path).is_some_and(|again| again.id == dead.id) {
                    match host.remove_file(path) {
                        Ok(()) | Err(HostError::NotFound) => {}
                        Err(error) => {
                            return Err(StateError::io(path, "removing a stale lock", &error));
                        }
                    }
                    stale = Some(dead.clone());
                    continue;
                }
            }
            let waited = host.now_unix_millis().saturating_sub(started);
            if waited >= timeout_millis {
                return Err(locked_error(path, holder, timeout, host.now_unix_seconds()));
            }
            if !told {
                on_wait(holder.as_ref());
                told = true;
            }
            let remaining = Duration::from_millis(timeout_millis - waited);
            host.sleep(POLL.min(remaining));
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who holds it (this process).
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock this one replaced because its process had died (a `kill -9`,
    /// a crash), to tell the user.
    pub fn replaced_stale(&self) -> Option<&LockInfo> {
        self.stale.as_ref()
    }

    /// Releases the lock now, reporting a failure that drop would swallow.
    pub fn release(mut self) -> Result<(), StateError> {
        self.released = true;
        release(self.host, &self.path, &self.info.id)
    }
}

impl HeldLock for Lock<'_> {
    fn info(&self) -> &LockInfo {
        Lock::info(self)
    }

    fn location(&self) -> &Path {
        Lock::path(self)
    }

    fn replaced_stale(&self) -> Option<&LockInfo> {
        Lock::replaced_stale(self)
    }

    fn release(self: Box<Self>) -> Result<(), StateError> {
        Lock::release(*self)
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = release(self.host, &self.path, &self.info.id);
        }
    }
}

/// Whether `holder` was taken by a process on this machine that is no
/// longer running.
fn is_stale(host: &dyn Host, holder: &LockInfo) -> bool {
    holder.host == host.hostname()
        && holder.pid != host.pid()
        && host.process_alive(holder.pid) == Some(false)
}

/// Removes the lock file if it is still ours (a force-unlock may have
/// replaced it with someone else's).
fn release(host: &dyn Host, path: &Path, id: &str) -> Result<(), StateError> {
    match read_holder(host, path) {
        Some(holder) if holder.id == id => host
            .remove_file(path)
            .or_else(|e| match e {
                HostError::NotFound => Ok(()),
                other => Err(other),
            })
            .map_err(|e| StateError::io(path, "removing the lock", &e)),
        _ => Ok(()),
    }
}

/// The holder recorded in the lock file; `None` if it is gone, being written
/// or unreadable.
pub fn read_holder(host: &dyn Host, path: &Path) -> Option<LockInfo> {
    let bytes = host.read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub(super) fn locked_error(
    path: &Path,
    holder: Option<LockInfo>,
    timeout: Duration,
    now: u64,
) -> StateError {
    let who = holder.as_ref().map_or_else(
        || String::from("held by a process whose lock file cannot be read"),
        |holder| holder.describe(now),
    );
    let waited = if timeout.is_zero() {
        String::from("pass --lock-timeout 30s to wait for it")
    } else {
        format!("waited {}s", timeout.as_secs())
    };
    let mut error = StateError::new(
        Code::StateLocked,
        Some(path),
        format!("{who}; {waited}; if that process is gone, run `infra force-unlock LOCK_ID`"),
    );
    error.holder = holder.map(Box::new);
    error
}

/// Breaks the lock at `path` if its id is `id` (a stale lock left by a
/// killed process). Returns the holder it removed.
pub fn force_unlock(host: &dyn Host, path: &Path, id: &str) -> Result<LockInfo, StateError> {
    let holder = match host.read(path) {
        Ok(bytes) => serde_json::from_slice::<LockInfo>(&bytes).ok(),
        Err(HostError::NotFound) => {
            return Err(StateError::new(
                Code::StateLockMismatch,
                Some(path),
                "the state is not locked; there is nothing to unlock",
            ));
        }
        Err(error) => return Err(StateError::io(path, "reading the lock", &error)),
    };
    match holder {
        Some(holder) if holder.id == id => {
            host.remove_file(path)
                .map_err(|e| StateError::io(path, "removing the lock", &e))?;
            Ok(holder)
        }
        Some(holder) => {
            let mut error = StateError::new(
                Code::StateLockMismatch,
                Some(path),
                format!(
                    "the lock is {}; pass that id if its process is gone",
                    holder.describe(host.now_unix_seconds())
                ),
            );
            error.holder = Some(Box::new(holder));
            Err(error)
        }
        None => Err(StateError::new(
            Code::StateLockMismatch,
            Some(path),
            "the lock file cannot be read, so its id cannot be matched; if no command is \
             running, delete the file",
        )),
    }
}
