//! An in-memory host for tests: files in a map, a fixed clock, seeded randomness.

use super::{CreateNew, DirEntry, FileMode, Host, HostError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A host whose files, environment and clock are set by the test.
#[derive(Debug, Default)]
pub struct MemoryHost {
    files: Mutex<BTreeMap<PathBuf, Vec<u8>>>,
    env: BTreeMap<String, String>,
    now: u64,
    /// Time spent in [`Host::sleep`], added to the clock.
    slept_millis: AtomicU64,
    seed: Mutex<u64>,
    /// Files created with [`FileMode::OwnerOnly`].
    owner_only: Mutex<std::collections::BTreeSet<PathBuf>>,
}

impl MemoryHost {
    /// An empty host at time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    #[must_use]
    pub fn with_file(self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        if let Ok(mut files) = self.files.lock() {
            files.insert(path.into(), contents.into());
        }
        self
    }

    /// Sets an environment variable.
    #[must_use]
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn with_now(mut self, now: u64) -> Self {
        self.now = now;
        self
    }

    /// Whether a file was created readable by its owner only (`0600`).
    pub fn is_owner_only(&self, path: &Path) -> bool {
        self.owner_only
            .lock()
            .map(|set| set.contains(path))
            .unwrap_or(false)
    }

    /// Every file path, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files
            .lock()
            .map(|files| files.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Replaces a file's contents (a test editing a file behind the program's back).
    pub fn set_file(&self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        if let Ok(mut files) = self.files.lock() {
            files.insert(path.into(), contents.into());
        }
    }

    /// A file's contents, if present.
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        self.files.lock().ok()?.get(path).cloned()
    }
}

impl Host for MemoryHost {
    fn read(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        let files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        files.get(path).cloned().ok_or(HostError::NotFound)
    }

    fn write_atomic(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        files.insert(path.to_path_buf(), contents.to_vec());
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<DirEntry>, HostError> {
        let files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        if files.contains_key(path) {
            return Err(HostError::NotADirectory);
        }
        let mut entries: Vec<DirEntry> = Vec::new();
        for file in files.keys() {
            if let Ok(rest) = file.strip_prefix(path) {
                let mut components = rest.components();
                if let Some(first) = components.next() {
                    let is_file = components.next().is_none();
                    let entry = DirEntry {
                        path: path.join(first),
                        is_file,
                    };
                    if !entries.contains(&entry) {
                        entries.push(entry);
                    }
                }
            }
        }
        // `entries` is empty exactly when no file lies under `path`; asking
        // `is_dir` here would lock the map a second time and deadlock.
        if entries.is_empty() {
            return Err(HostError::NotFound);
        }
        entries.sort();
        Ok(entries)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.files
            .lock()
            .map(|files| files.keys().any(|f| f != path && f.starts_with(path)))
            .unwrap_or(false)
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    fn now_unix_seconds(&self) -> u64 {
        self.now + self.slept_millis.load(Ordering::SeqCst) / 1000
    }

    fn now_unix_millis(&self) -> u64 {
        self.now
            .saturating_mul(1000)
            .saturating_add(self.slept_millis.load(Ordering::SeqCst))
    }

    fn sleep(&self, duration: std::time::Duration) {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.slept_millis.fetch_add(millis.max(1), Ordering::SeqCst);
        std::thread::yield_now();
    }

    fn create_dir_all(&self, _path: &Path) -> Result<(), HostError> {
        // Folders exist implicitly, as prefixes of file paths.
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> Result<(), HostError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        if let Ok(mut owner_only) = self.owner_only.lock() {
            owner_only.remove(path);
        }
        files.remove(path).map(|_| ()).ok_or(HostError::NotFound)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        let contents = files.remove(from).ok_or(HostError::NotFound)?;
        files.insert(to.to_path_buf(), contents);
        Ok(())
    }

    fn append_durable(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        files
            .entry(path.to_path_buf())
            .or_default()
            .extend_from_slice(contents);
        Ok(())
    }

    fn create_new(
        &self,
        path: &Path,
        contents: &[u8],
        mode: FileMode,
    ) -> Result<CreateNew, HostError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        if files.contains_key(path) {
            return Ok(CreateNew::AlreadyExists);
        }
        files.insert(path.to_path_buf(), contents.to_vec());
        if mode == FileMode::OwnerOnly {
            if let Ok(mut owner_only) = self.owner_only.lock() {
                owner_only.insert(path.to_path_buf());
            }
        }
        Ok(CreateNew::Created)
    }

    fn pid(&self) -> u32 {
        4242
    }

    fn hostname(&self) -> String {
        String::from("memory-host")
    }

    fn username(&self) -> String {
        String::from("tester")
    }

    fn random_bytes(&self, buffer: &mut [u8]) {
        if let Ok(mut seed) = self.seed.lock() {
            for byte in buffer.iter_mut() {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *byte = (*seed >> 33) as u8;
            }
        }
    }
}
