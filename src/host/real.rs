//! The real machine.

use super::{DirEntry, Host, HostError};
use std::io::Write;
use std::path::Path;

/// The host backed by the operating system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealHost;

impl Host for RealHost {
    fn read(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        // Only regular files are read: a folder cannot be, and a fifo or a
        // device would block or never end.
        let metadata = std::fs::metadata(path)?;
        if metadata.is_dir() {
            return Err(HostError::Other(String::from("is a directory")));
        }
        if !metadata.is_file() {
            return Err(HostError::Other(String::from("not a regular file")));
        }
        Ok(std::fs::read(path)?)
    }

    fn write_atomic(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = parent.join(format!(".{file_name}.tmp.{}", std::process::id()));
        let result = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temp)?;
            if let Ok(meta) = std::fs::metadata(path) {
                file.set_permissions(meta.permissions())?;
            }
            file.write_all(contents)?;
            file.sync_all()?;
            std::fs::rename(&temp, path)?;
            if let Ok(dir) = std::fs::File::open(parent) {
                // Some file systems refuse to fsync a folder; the rename is done either way.
                let _ = dir.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        Ok(result?)
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<DirEntry>, HostError> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let path = entry.path();
            let is_file = path.is_file();
            entries.push(DirEntry { path, is_file });
        }
        entries.sort();
        Ok(entries)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn canonical(&self, path: &Path) -> std::path::PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn now_unix_seconds(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn random_bytes(&self, buffer: &mut [u8]) {
        // /dev/urandom is always there on the systems we support; fall back to
        // a time-seeded mix only if it is not, which is never used for secrets
        // (those come with the state issue through a CSPRNG crate).
        if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
            use std::io::Read;
            if file.read_exact(buffer).is_ok() {
                return;
            }
        }
        let mut seed = self.now_unix_seconds() ^ u64::from(std::process::id());
        for byte in buffer.iter_mut() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *byte = (seed >> 33) as u8;
        }
    }
}
