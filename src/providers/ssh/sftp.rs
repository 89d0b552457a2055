//! SFTP on the shared connection: a few `sftp` subsystem channels opened once
//! per connection and shared by every upload and stat, their requests
//! pipelined (many files in flight on one channel, the writes of one file
//! too), so a site of 1,000 files costs no remote process per file.
//!
//! Terminology: a *channel* here is one SFTP session (one `sftp-server`, or
//! sshd's `internal-sftp`); a *handle* is an open remote file of it.
//!
//! Choices: a file is written to a temp name in its folder (`.NAME.infra-part`,
//! the same name on every try, so a retry after a dropped connection takes
//! over what the cut try left), opened exclusively after removing what was
//! there (so a planted link is never followed), mode `0600` while written,
//! then given its mode (and owner), fsync'd (`fsync@openssh.com`, when the
//! server has it) and renamed over the target with `posix-rename@openssh.com`
//! (atomic; the plain SFTP rename refuses an existing target, so without the
//! extension the rename is a remote `mv -f`). A read hashes the content of
//! files up to [`HASH_LOCALLY_UP_TO`] bytes as it arrives; bigger ones are
//! hashed remotely by the caller (`sha256sum`), which costs one process, not
//! the transfer.
//!
//! Invariant: at most [`HANDLES_PER_CHANNEL`] handles are open per channel:
//! russh-sftp keeps handles as UTF-8 strings, and OpenSSH's handle numbers
//! from 128 to 255 are single bytes that are not UTF-8 (they would be
//! mangled). A failed write never renames: the target is replaced only by a
//! complete, synced temp file.

use crate::providers::ProviderError;
use futures_util::future::join_all;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::{Config, RawSftpSession};
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Files whose content is read and hashed here; bigger ones are hashed on
/// the server (reading them would cost their transfer).
pub const HASH_LOCALLY_UP_TO: u64 = 128 * 1024;

/// Open handles per channel (see the invariant).
const HANDLES_PER_CHANNEL: usize = 64;

/// Bytes per write or read request (what every SFTP server takes).
const CHUNK: usize = 32 * 1024;

/// Write requests in flight per channel, across files: enough to keep a
/// link busy, few enough that a request is answered within the timeout.
const WRITES_IN_FLIGHT: usize = 64;

/// How long one request may wait for its answer.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// `S_IFMT` and the file types in it.
const TYPE_MASK: u32 = 0o170_000;
const REGULAR: u32 = 0o100_000;
const DIRECTORY: u32 = 0o040_000;
const SYMLINK: u32 = 0o120_000;

/// What went wrong with an SFTP request.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with this status (and message).
    Status(StatusCode, String),
    /// The session or the connection broke, or the server stopped answering.
    Broken(String),
}

impl Failure {
    fn is(&self, code: StatusCode) -> bool {
        matches!(self, Failure::Status(status, _) if *status == code)
    }

    /// Whether the server said there is no such file (or folder).
    pub fn is_missing(&self) -> bool {
        self.is(StatusCode::NoSuchFile)
    }

    /// As a provider error about `doing`, transient when the session broke.
    pub fn into_error(self, doing: &str, target: &str) -> ProviderError {
        match self {
            Failure::Status(code, message) => ProviderError::permanent(format!(
                "{doing} on {target} failed: {}",
                if message.is_empty() {
                    code.to_string()
                } else {
                    message
                }
            )),
            Failure::Broken(reason) => ProviderError::transient(format!(
                "{doing} on {target} failed: the SFTP session broke ({reason})"
            )),
        }
    }
}

/// What an `lstat` or a `stat` answered: the attributes, `None` when there
/// is no such file, or the failure.
fn found(answer: Result<russh_sftp::protocol::Attrs, SftpError>) -> Result<Option<Attrs>, Failure> {
    match answer {
        Ok(attrs) => Ok(Some(Attrs::from_sftp(&attrs.attrs))),
        Err(error) => {
            let failure = Failure::from(error);
            if failure.is(StatusCode::NoSuchFile) {
                Ok(None)
            } else {
                Err(failure)
            }
        }
    }
}

impl From<SftpError> for Failure {
    fn from(error: SftpError) -> Self {
        match error {
            SftpError::Status(status) => Failure::Status(status.status_code, status.error_message),
            other => Failure::Broken(other.to_string()),
        }
    }
}

/// The attributes of a remote path, as `lstat` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// The owner's id.
    pub uid: u32,
    /// The group's id.
    pub gid: u32,
    /// The size in bytes.
    pub size: u64,
}

impl Attrs {
    fn from_sftp(attributes: &FileAttributes) -> Attrs {
        Attrs {
            mode: attributes.permissions.unwrap_or(0),
            uid: attributes.uid.unwrap_or(0),
            gid: attributes.gid.unwrap_or(0),
            size: attributes.size.unwrap_or(0),
        }
    }

    /// Whether it is a regular file.
    pub fn is_regular(&self) -> bool {
        self.mode & TYPE_MASK == REGULAR
    }

    /// Whether it is a folder.
    pub fn is_directory(&self) -> bool {
        self.mode & TYPE_MASK == DIRECTORY
    }

    /// Whether it is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode & TYPE_MASK == SYMLINK
    }

    /// The permission bits as four octal digits (`0644`).
    pub fn permissions(&self) -> String {
        format!("{:04o}", self.mode & 0o7777)
    }

    /// The type as `stat -c %F` names it.
    pub fn kind(&self) -> &'static str {
        match self.mode & TYPE_MASK {
            REGULAR if self.size == 0 => "regular empty file",
            REGULAR => "regular file",
            DIRECTORY => "directory",
            SYMLINK => "symbolic link",
            0o010_000 => "fifo",
            0o140_000 => "socket",
            0o020_000 => "character special file",
            0o060_000 => "block special file",
            _ => "weird file",
        }
    }
}

/// What `stat_and_hash` found at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The path's own attributes (of a link, the link's).
    pub attrs: Attrs,
    /// The SHA-256 of the content (hex), when read here.
    pub sha256: Option<String>,
    /// A regular file (or a link to one) too big to hash here.
    pub hash_remotely: bool,
}

/// One SFTP channel.
pub struct Channel {
    session: RawSftpSession,
    posix_rename: bool,
    fsync: bool,
    handles: Semaphore,
    writes: Semaphore,
    /// The connection's session slot this channel holds while it lives.
    _slot: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("posix_rename", &self.posix_rename)
            .field("fsync", &self.fsync)
            .finish_non_exhaustive()
    }
}

/// Why a channel could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The server has no SFTP subsystem (or refused it).
    Unsupported,
    /// The connection failed meanwhile.
    Broken(ProviderError),
}

impl Channel {
    /// Starts SFTP on a channel the server accepted the subsystem on.
    pub async fn start(
        stream: russh::ChannelStream<russh::client::Msg>,
        slot: OwnedSemaphorePermit,
    ) -> Result<Channel, OpenError> {
        let config = Config {
            request_timeout_secs: REQUEST_TIMEOUT_SECS,
            ..Config::default()
        };
        let session = RawSftpSession::new_with_config(stream, config);
        let version = session.init().await.map_err(|_| OpenError::Unsupported)?;
        let has = |name: &str| version.extensions.contains_key(name);
        Ok(Channel {
            posix_rename: has("posix-rename@openssh.com"),
            fsync: has("fsync@openssh.com"),
            session,
            handles: Semaphore::new(HANDLES_PER_CHANNEL),
            writes: Semaphore::new(WRITES_IN_FLIGHT),
            _slot: slot,
        })
    }

    /// The attributes of `path` itself (a link is not followed); `None`
    /// when there is nothing there.
    pub async fn lstat(&self, path: &str) -> Result<Option<Attrs>, Failure> {
        found(self.session.lstat(path).await)
    }

    /// The attributes of what `path` leads to (links followed).
    async fn stat(&self, path: &str) -> Result<Option<Attrs>, Failure> {
        found(self.session.stat(path).await)
    }

    /// The path's attributes and, for a regular file (or a link to one) of
    /// at most [`HASH_LOCALLY_UP_TO`] bytes, the SHA-256 of its content;
    /// `None` when there is nothing there.
    pub async fn stat_and_hash(&self, path: &str) -> Result<Option<Found>, Failure> {
        let Some(attrs) = self.lstat(path).await? else {
            return Ok(None);
        };
        let content = if attrs.is_symlink() {
            self.stat(path).await?
        } else {
            Some(attrs)
        };
        let Some(content) = content.filter(Attrs::is_regular) else {
            // A folder, a dangling link, a device: nothing to hash.
            return Ok(Some(Found {
                attrs,
                sha256: None,
                hash_remotely: false,
            }));
        };
        if content.size > HASH_LOCALLY_UP_TO {
            return Ok(Some(Found {
                attrs,
                sha256: None,
                hash_remotely: true,
            }));
        }
        let sha256 = match self.read_hash(path, content.size).await {
            Ok(sha256) => Some(sha256),
            // Gone between the stat and the open: as good as never there.
            Err(failure) if failure.is(StatusCode::NoSuchFile) => return Ok(None),
            Err(failure) => return Err(failure),
        };
        Ok(Some(Found {
            attrs,
            sha256,
            hash_remotely: false,
        }))
    }

    /// Reads a whole file (about `size` bytes: the reads for that much go
    /// out at once) and returns its SHA-256, hex.
    async fn read_hash(&self, path: &str, size: u64) -> Result<String, Failure> {
        let _handle_slot = self
            .handles
            .acquire()
            .await
            .map_err(|_| Failure::Broken("the SFTP channel closed".to_owned()))?;
        let handle = self
            .session
            .open(path, OpenFlags::READ, FileAttributes::default())
            .await?
            .handle;
        let read = async {
            let mut hasher = Sha256::new();
            // One request past the size, so an unchanged file ends in this round.
            let chunks = usize::try_from(size).unwrap_or(usize::MAX) / CHUNK + 1;
            let reads = (0..chunks).map(|index| {
                self.session
                    .read(handle.as_str(), (index * CHUNK) as u64, CHUNK as u32)
            });
            let mut offset = 0u64;
            let mut at_end = false;
            for answer in join_all(reads).await {
                match answer {
                    Ok(data) if !at_end => {
                        offset += data.data.len() as u64;
                        at_end = data.data.len() < CHUNK;
                        hasher.update(&data.data);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        let failure = Failure::from(error);
                        if !failure.is(StatusCode::Eof) {
                            return Err(failure);
                        }
                        at_end = true;
                    }
                }
            }
            // The file grew since the stat: read on to its end.
            while !at_end {
                match self
                    .session
                    .read(handle.as_str(), offset, CHUNK as u32)
                    .await
                {
                    Ok(data) if !data.data.is_empty() => {
                        offset += data.data.len() as u64;
                        hasher.update(&data.data);
                    }
                    Ok(_) => at_end = true,
                    Err(error) => {
                        let failure = Failure::from(error);
                        if !failure.is(StatusCode::Eof) {
                            return Err(failure);
                        }
                        at_end = true;
                    }
                }
            }
            Ok(hex(&hasher.finalize()))
        };
        let result = read.await;
        let _ = self.session.close(handle.as_str()).await;
        result
    }

    /// Writes `bytes` to `temp` (made afresh, mode 0600), gives it `mode`
    /// and the ids, syncs it, and renames it over `path`; returns the
    /// attributes it ended with. On failure the temp file is removed (when
    /// the connection still lets us) and `path` is untouched.
    pub async fn write_atomic(
        &self,
        path: &str,
        temp: &str,
        bytes: &[u8],
        mode: u32,
        ids: (Option<u32>, Option<u32>),
    ) -> Result<WriteOutcome, Failure> {
        let _handle_slot = self
            .handles
            .acquire()
            .await
            .map_err(|_| Failure::Broken("the SFTP channel closed".to_owned()))?;
        let private = FileAttributes {
            permissions: Some(0o600),
            ..FileAttributes::default()
        };
        let exclusive = OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE;
        // Remove a leftover (or a planted link) and create anew, in one round
        // trip: OpenSSH answers requests in order. Should a server reorder
        // them, the exclusive open fails and is tried again after the remove.
        let (_, opened) = tokio::join!(
            self.session.remove(temp),
            self.session.open(temp, exclusive, private.clone())
        );
        let handle = match opened {
            Ok(handle) => handle.handle,
            Err(_) => {
                let _ = self.session.remove(temp).await;
                self.session.open(temp, exclusive, private).await?.handle
            }
        };
        let written = self.fill(&handle, bytes, mode, ids).await;
        let attrs = match written {
            Ok(attrs) => attrs,
            Err(failure) => {
                let _ = tokio::join!(
                    self.session.close(handle.as_str()),
                    self.session.remove(temp)
                );
                return Err(failure);
            }
        };
        if attrs.size != bytes.len() as u64 {
            let _ = tokio::join!(
                self.session.close(handle.as_str()),
                self.session.remove(temp)
            );
            return Err(Failure::Broken(format!(
                "the temp file holds {} bytes, not {}",
                attrs.size,
                bytes.len()
            )));
        }
        if !self.posix_rename {
            self.session.close(handle.as_str()).await?;
            return Ok(WriteOutcome {
                attrs,
                renamed: false,
            });
        }
        let (closed, renamed) = tokio::join!(
            self.session.close(handle.as_str()),
            self.posix_rename(temp, path)
        );
        if let Err(failure) = renamed {
            let _ = self.session.remove(temp).await;
            return Err(failure);
        }
        closed?;
        Ok(WriteOutcome {
            attrs,
            renamed: true,
        })
    }

    /// The writes (pipelined), the mode and ids, the sync and the final
    /// attributes of an open temp file.
    async fn fill(
        &self,
        handle: &str,
        bytes: &[u8],
        mode: u32,
        ids: (Option<u32>, Option<u32>),
    ) -> Result<Attrs, Failure> {
        let writes = bytes
            .chunks(CHUNK)
            .enumerate()
            .map(|(index, chunk)| async move {
                let _slot = self
                    .writes
                    .acquire()
                    .await
                    .map_err(|_| Failure::Broken("the SFTP channel closed".to_owned()))?;
                self.session
                    .write(handle, (index * CHUNK) as u64, chunk.to_vec())
                    .await
                    .map(|_| ())
                    .map_err(Failure::from)
            });
        for written in join_all(writes).await {
            written?;
        }
        let mut wanted = FileAttributes {
            permissions: Some(mode & 0o7777),
            ..FileAttributes::default()
        };
        if ids != (None, None) {
            // SFTP sets both ids at once: keep the one not asked for.
            let current = Attrs::from_sftp(&self.session.fstat(handle).await?.attrs);
            wanted.uid = Some(ids.0.unwrap_or(current.uid));
            wanted.gid = Some(ids.1.unwrap_or(current.gid));
        }
        let (set, synced, attrs) = tokio::join!(
            self.session.fsetstat(handle, wanted),
            async {
                if self.fsync {
                    self.session.fsync(handle).await.map(|_| ())
                } else {
                    Ok(())
                }
            },
            self.session.fstat(handle)
        );
        set?;
        synced?;
        Ok(Attrs::from_sftp(&attrs?.attrs))
    }

    /// `posix-rename@openssh.com`: rename(2), replacing `to` atomically.
    async fn posix_rename(&self, from: &str, to: &str) -> Result<(), Failure> {
        let mut data = Vec::with_capacity(from.len() + to.len() + 8);
        for text in [from, to] {
            data.extend_from_slice(&(text.len() as u32).to_be_bytes());
            data.extend_from_slice(text.as_bytes());
        }
        match self
            .session
            .extended("posix-rename@openssh.com", data)
            .await?
        {
            russh_sftp::protocol::Packet::Status(status)
                if status.status_code == StatusCode::Ok =>
            {
                Ok(())
            }
            russh_sftp::protocol::Packet::Status(status) => {
                Err(Failure::Status(status.status_code, status.error_message))
            }
            _ => Err(Failure::Broken(
                "the server answered a rename with something else than a status".to_owned(),
            )),
        }
    }

    /// Removes a file; gone already is fine.
    pub async fn remove(&self, path: &str) -> Result<(), Failure> {
        match self.session.remove(path).await {
            Ok(_) => Ok(()),
            Err(error) => {
                let failure = Failure::from(error);
                if failure.is(StatusCode::NoSuchFile) {
                    Ok(())
                } else {
                    Err(failure)
                }
            }
        }
    }

    /// Makes a folder and the missing ones above it (`mkdir -p`), gives it
    /// `mode` and the ids, and returns its attributes.
    pub async fn make_dir(
        &self,
        path: &str,
        mode: u32,
        ids: (Option<u32>, Option<u32>),
    ) -> Result<Attrs, Failure> {
        let mut missing = Vec::new();
        let mut at = path.trim_end_matches('/');
        // Walk up to the first folder that exists.
        loop {
            match self.lstat(at).await? {
                Some(attrs) if attrs.is_directory() => break,
                Some(attrs)
                    if attrs.is_symlink()
                        && self.stat(at).await?.is_some_and(|a| a.is_directory()) =>
                {
                    break;
                }
                Some(attrs) => {
                    return Err(Failure::Status(
                        StatusCode::Failure,
                        format!("{at} is a {}, not a folder", attrs.kind()),
                    ));
                }
                None => {
                    missing.push(at.to_owned());
                    match at.rsplit_once('/') {
                        Some((parent, _)) if !parent.is_empty() => at = parent,
                        _ => break,
                    }
                }
            }
        }
        for folder in missing.iter().rev() {
            let made = self
                .session
                .mkdir(folder.as_str(), FileAttributes::default())
                .await;
            if let Err(error) = made {
                // Made meanwhile by a sibling's upload: fine if it is a folder.
                let failure = Failure::from(error);
                if !self.lstat(folder).await?.is_some_and(|a| a.is_directory()) {
                    return Err(failure);
                }
            }
        }
        let mut wanted = FileAttributes {
            permissions: Some(mode & 0o7777),
            ..FileAttributes::default()
        };
        if ids != (None, None) {
            let current = self.lstat(path).await?.unwrap_or(Attrs {
                mode: 0,
                uid: 0,
                gid: 0,
                size: 0,
            });
            wanted.uid = Some(ids.0.unwrap_or(current.uid));
            wanted.gid = Some(ids.1.unwrap_or(current.gid));
        }
        self.session.setstat(path, wanted).await?;
        self.lstat(path).await?.ok_or_else(|| {
            Failure::Status(StatusCode::NoSuchFile, format!("{path} vanished once made"))
        })
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy)]
pub struct WriteOutcome {
    /// The temp file's attributes once complete (mode and ids set).
    pub attrs: Attrs,
    /// Whether it is in place; `false` when the server has no
    /// `posix-rename@openssh.com` and the caller must move it.
    pub renamed: bool,
}

/// Several channels, used in turn.
#[derive(Debug)]
pub struct Pool {
    first: Arc<Channel>,
    others: Vec<Arc<Channel>>,
    next: AtomicUsize,
}

impl Pool {
    /// A pool of the given channels; `None` when there is none.
    pub fn new(channels: Vec<Channel>) -> Option<Pool> {
        let mut channels = channels.into_iter().map(Arc::new);
        let first = channels.next()?;
        Some(Pool {
            first,
            others: channels.collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// The next channel in turn.
    pub fn channel(&self) -> Arc<Channel> {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % (self.others.len() + 1);
        match at.checked_sub(1).and_then(|at| self.others.get(at)) {
            Some(channel) => channel.clone(),
            None => self.first.clone(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    crate::hex::lower(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_name_their_type_and_mode_as_stat_does() {
        let file = Attrs {
            mode: 0o100_640,
            uid: 1,
            gid: 2,
            size: 3,
        };
        assert_eq!(
            (file.kind(), file.permissions()),
            ("regular file", "0640".to_owned())
        );
        assert!(file.is_regular());
        let empty = Attrs { size: 0, ..file };
        assert_eq!(empty.kind(), "regular empty file");
        let folder = Attrs {
            mode: 0o042_755,
            ..file
        };
        assert_eq!(
            (folder.kind(), folder.permissions()),
            ("directory", "2755".to_owned())
        );
        assert!(folder.is_directory());
    }
}
