//! The sole door to the machine: files, environment variables, the clock and
//! randomness. Library stages receive a `&dyn Host`; tests use [`MemoryHost`].
//!
//! Invariant: no other library module touches `std::fs`, `std::env` or the clock.

mod memory;
mod real;

pub use memory::MemoryHost;
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

/// Files, environment, clock and randomness.
pub trait Host: Send + Sync {
    /// Reads a whole file as bytes.
    fn read(&self, path: &Path) -> Result<Vec<u8>, HostError>;
    /// Writes a whole file atomically (temp file, fsync, rename).
    fn write_atomic(&self, path: &Path, contents: &[u8]) -> Result<(), HostError>;
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
}
