//! The sole door to the machine: files, environment variables, the clock and
//! randomness. Library stages receive a `&dyn Host`; tests use [`MemoryHost`].
//!
//! Invariant: no other library module touches `std::fs`, `std::env` or the clock.

mod memory;
mod overlay;
mod real;

pub use memory::MemoryHost;
pub use overlay::WithEnvVar;
pub use real::RealHost;

use std::path::{Path, PathBuf};

/// What can go wrong reading or writing through the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Nothing at that path.
    #[error("not found")]
    NotFound,
    /// The path exists but is not what was asked for (a file where a folder was expected).
    #[error("not a directory")]
    NotADirectory,
    /// Any other failure, with the system's words.
    #[error("{0}")]
    Other(String),
}

impl From<std::io::Error> for HostError {
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::NotFound => HostError::NotFound,
            std::io::ErrorKind::NotADirectory => HostError::NotADirectory,
            _ => HostError::Other(error.to_string()),
        }
    }
}

/// One entry of a folder listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirEntry {
    /// The full path.
    pub path: PathBuf,
    /// Whether it is a regular file (symlinks followed).
    pub is_file: bool,
}

/// The permissions a newly created file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// The system default (umask applies).
    Default,
    /// Readable and writable by the owner only (`0600`), for key files.
    OwnerOnly,
}

/// What [`Host::create_new`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateNew {
    /// The file did not exist and now holds the contents.
    Created,
    /// Something already exists at the path; nothing was written.
    AlreadyExists,
}

fn unsupported(what: &str) -> HostError {
    HostError::Other(format!("{what} is not supported by this host"))
}

/// Files, environment, clock and randomness.
///
/// The methods with default bodies were added for the state module; the
/// defaults refuse, so hosts written before them keep compiling.
pub trait Host: Send + Sync {
    /// Reads a whole file as bytes.
    fn read(&self, path: &Path) -> Result<Vec<u8>, HostError>;
    /// Whether the file at `path` holds exactly `contents`; fails where
    /// [`Host::read`] would. The default reads the file whole; the real host
    /// compares it piece by piece, so a large file is never held twice.
    fn same_contents(&self, path: &Path, contents: &[u8]) -> Result<bool, HostError> {
        Ok(self.read(path)? == contents)
    }
    /// Writes a whole file atomically (temp file, fsync, rename).
    fn write_atomic(&self, path: &Path, contents: &[u8]) -> Result<(), HostError>;
    /// Writes each of `files` as [`Host::write_atomic`] does (its contents
    /// given as parts, written in order), all or none: every file's
    /// contents are written and flushed to disk first (at once, where the
    /// host can), and only once all were is any file put in place, in the
    /// order given. So a failed write leaves every file as it was, and a
    /// crash while they are put in place leaves the first ones replaced,
    /// never a later one without an earlier one. The error names the file
    /// that failed by its index.
    ///
    /// The default writes one after another, each with [`Host::write_atomic`]:
    /// the order holds, the all-or-none only for the first file.
    fn write_atomic_all(&self, files: &[(&Path, &[&[u8]])]) -> Result<(), (usize, HostError)> {
        for (index, (path, parts)) in files.iter().enumerate() {
            self.write_atomic(path, &parts.concat())
                .map_err(|error| (index, error))?;
        }
        Ok(())
    }
    /// Lists a folder, sorted by path.
    fn list_dir(&self, path: &Path) -> Result<Vec<DirEntry>, HostError>;
    /// Whether the path is a folder.
    fn is_dir(&self, path: &Path) -> bool;
    /// The canonical form of a path (symlinks and `..` resolved) when it
    /// exists, else the path as given.
    fn canonical(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    /// An environment variable.
    fn env_var(&self, name: &str) -> Option<String>;
    /// Seconds since the Unix epoch.
    fn now_unix_seconds(&self) -> u64;
    /// Fills `buffer` with random bytes from the operating system.
    fn random_bytes(&self, buffer: &mut [u8]);

    /// Milliseconds since the Unix epoch.
    fn now_unix_millis(&self) -> u64 {
        self.now_unix_seconds().saturating_mul(1000)
    }
    /// Waits for `duration` (a lock poll). In-memory hosts advance their clock instead.
    fn sleep(&self, duration: std::time::Duration) {
        let _ = duration;
    }
    /// Creates a folder and its parents; succeeds when it already exists.
    fn create_dir_all(&self, path: &Path) -> Result<(), HostError> {
        let _ = path;
        Err(unsupported("creating folders"))
    }
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> Result<(), HostError> {
        let _ = path;
        Err(unsupported("removing files"))
    }
    /// Renames a file, replacing the target, and makes the rename durable.
    fn rename(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        let _ = (from, to);
        Err(unsupported("renaming files"))
    }
    /// Appends to a file (creating it), then flushes the data to disk before
    /// returning, so an append that returned survives a crash.
    fn append_durable(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        let _ = (path, contents);
        Err(unsupported("appending to files"))
    }
    /// Appends to a file without waiting for the disk: the data survives the
    /// process, and reaches the disk with the file's next
    /// [`Host::append_durable`] (which flushes everything written before it)
    /// or a crash of the machine may lose it. A file this creates is made
    /// durable at once, folder entry included, so that a later durable
    /// append cannot be lost with a file the folder never recorded. The
    /// default waits, as `append_durable` does.
    fn append(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        self.append_durable(path, contents)
    }
    /// Creates a file only if nothing exists at `path` (one atomic step, safe
    /// between processes), writes `contents` and flushes them to disk.
    fn create_new(
        &self,
        path: &Path,
        contents: &[u8],
        mode: FileMode,
    ) -> Result<CreateNew, HostError> {
        let _ = (path, contents, mode);
        Err(unsupported("exclusive file creation"))
    }
    /// Removes an empty folder (a folder with entries is an error).
    fn remove_dir(&self, path: &Path) -> Result<(), HostError> {
        let _ = path;
        Err(unsupported("removing folders"))
    }
    /// The permission bits (`mode & 0o7777`) of a file or folder, following
    /// symlinks; `Ok(None)` on systems without Unix modes.
    fn permissions(&self, path: &Path) -> Result<Option<u32>, HostError> {
        let _ = path;
        Err(unsupported("reading permissions"))
    }
    /// Sets the permission bits of a file or folder; does nothing on systems
    /// without Unix modes.
    fn set_permissions(&self, path: &Path, mode: u32) -> Result<(), HostError> {
        let _ = (path, mode);
        Err(unsupported("setting permissions"))
    }
    /// Like [`Host::write_atomic`], but the file has the permission bits `mode`
    /// before any of `contents` is written, so a secret is never readable by
    /// others, even for a moment.
    fn write_atomic_with_mode(
        &self,
        path: &Path,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), HostError> {
        self.write_atomic(path, contents)?;
        self.set_permissions(path, mode)
    }
    /// This process's id.
    fn pid(&self) -> u32 {
        0
    }
    /// Whether the process `pid` on this machine is still running: `None`
    /// when the host cannot tell (the lock then never counts as stale).
    fn process_alive(&self, pid: u32) -> Option<bool> {
        let _ = pid;
        None
    }
    /// The machine's name, or `unknown`.
    fn hostname(&self) -> String {
        String::from("unknown")
    }
    /// The user running the process, or `unknown`.
    fn username(&self) -> String {
        String::from("unknown")
    }
}

#[cfg(test)]
mod tests;

/// `2026-11-25 18:56:10 UTC` from Unix seconds.
pub fn format_utc(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .map_or_else(
            || format!("unix time {seconds}"),
            |at| at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

/// A short age: `12 s`, `4 min`, `3 h 5 min`, `2 d 4 h`.
pub fn format_age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3_600 => format!("{} min", seconds / 60),
        3_600..86_400 => format!("{} h {} min", seconds / 3_600, seconds % 3_600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3_600),
    }
}
