//! A host that is another host with one environment variable set: how a
//! command-line option that stands for a variable (`--state-url`, for
//! `INFRA_STATE_URL`) reaches library code, which reads the environment only
//! through the host.
//!
//! Invariant: everything but that one variable is the inner host's.

use super::{CreateNew, DirEntry, FileMode, Host, HostError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `inner` with the variable `name` set to `value`.
pub struct WithEnvVar {
    inner: Arc<dyn Host>,
    name: String,
    value: String,
}

impl WithEnvVar {
    /// `inner`, with `name` reading as `value`.
    pub fn new(inner: Arc<dyn Host>, name: &str, value: String) -> Self {
        WithEnvVar {
            inner,
            name: name.to_owned(),
            value,
        }
    }
}

impl Host for WithEnvVar {
    fn read(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        self.inner.read(path)
    }
    fn same_contents(&self, path: &Path, contents: &[u8]) -> Result<bool, HostError> {
        self.inner.same_contents(path, contents)
    }
    fn write_atomic(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        self.inner.write_atomic(path, contents)
    }
    fn write_atomic_all(&self, files: &[(&Path, &[&[u8]])]) -> Result<(), (usize, HostError)> {
        self.inner.write_atomic_all(files)
    }
    fn list_dir(&self, path: &Path) -> Result<Vec<DirEntry>, HostError> {
        self.inner.list_dir(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.inner.is_dir(path)
    }
    fn canonical(&self, path: &Path) -> PathBuf {
        self.inner.canonical(path)
    }
    fn env_var(&self, name: &str) -> Option<String> {
        if name == self.name {
            return Some(self.value.clone());
        }
        self.inner.env_var(name)
    }
    fn now_unix_seconds(&self) -> u64 {
        self.inner.now_unix_seconds()
    }
    fn random_bytes(&self, buffer: &mut [u8]) {
        self.inner.random_bytes(buffer);
    }
    fn now_unix_millis(&self) -> u64 {
        self.inner.now_unix_millis()
    }
    fn sleep(&self, duration: std::time::Duration) {
        self.inner.sleep(duration);
    }
    fn create_dir_all(&self, path: &Path) -> Result<(), HostError> {
        self.inner.create_dir_all(path)
    }
    fn remove_file(&self, path: &Path) -> Result<(), HostError> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        self.inner.rename(from, to)
    }
    fn append_durable(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        self.inner.append_durable(path, contents)
    }
    fn append(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        self.inner.append(path, contents)
    }
    fn create_new(
        &self,
        path: &Path,
        contents: &[u8],
        mode: FileMode,
    ) -> Result<CreateNew, HostError> {
        self.inner.create_new(path, contents, mode)
    }
    fn remove_dir(&self, path: &Path) -> Result<(), HostError> {
        self.inner.remove_dir(path)
    }
    fn permissions(&self, path: &Path) -> Result<Option<u32>, HostError> {
        self.inner.permissions(path)
    }
    fn set_permissions(&self, path: &Path, mode: u32) -> Result<(), HostError> {
        self.inner.set_permissions(path, mode)
    }
    fn write_atomic_with_mode(
        &self,
        path: &Path,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), HostError> {
        self.inner.write_atomic_with_mode(path, contents, mode)
    }
    fn pid(&self) -> u32 {
        self.inner.pid()
    }
    fn process_alive(&self, pid: u32) -> Option<bool> {
        self.inner.process_alive(pid)
    }
    fn hostname(&self) -> String {
        self.inner.hostname()
    }
    fn username(&self) -> String {
        self.inner.username()
    }
}
