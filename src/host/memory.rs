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
    /// Folders made with [`Host::create_dir_all`] (others exist implicitly,
    /// as prefixes of file paths).
    dirs: Mutex<std::collections::BTreeSet<PathBuf>>,
    /// Permission bits set with [`Host::set_permissions`]; files default to
    /// `0644` and folders to `0755`.
    modes: Mutex<BTreeMap<PathBuf, u32>>,
    /// How many times each file was read ([`MemoryHost::reads_of`]).
    reads: Mutex<BTreeMap<PathBuf, usize>>,
    /// Files whose writes fail ([`MemoryHost::fail_writes_to`]).
    failing_writes: Mutex<std::collections::BTreeSet<PathBuf>>,
}

/// The mode a file has until one is set.
const DEFAULT_FILE_MODE: u32 = 0o644;
/// The mode a folder has until one is set.
const DEFAULT_DIR_MODE: u32 = 0o755;

fn poisoned() -> HostError {
    HostError::Other("poisoned".into())
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

    /// How many times `path` was read through [`Host::read`].
    pub fn reads_of(&self, path: &Path) -> usize {
        self.reads
            .lock()
            .map_or(0, |reads| reads.get(path).copied().unwrap_or(0))
    }

    /// Makes every later [`Host::write_atomic`] (and
    /// [`Host::write_atomic_all`]) of `path` fail, as a full disk would,
    /// leaving the file as it was.
    pub fn fail_writes_to(&self, path: impl Into<PathBuf>) {
        if let Ok(mut failing) = self.failing_writes.lock() {
            failing.insert(path.into());
        }
    }

    /// The error a write of `path` meets, if it was told to fail.
    fn write_fault(&self, path: &Path) -> Result<(), HostError> {
        let failing = self.failing_writes.lock().map_err(|_| poisoned())?;
        if failing.contains(path) {
            return Err(HostError::Other(
                "no space left on device (injected)".into(),
            ));
        }
        Ok(())
    }

    /// A file's contents, if present.
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        self.files.lock().ok()?.get(path).cloned()
    }

    /// Whether a folder is there: made explicitly, or holding a file.
    fn dir_exists(
        files: &BTreeMap<PathBuf, Vec<u8>>,
        dirs: &std::collections::BTreeSet<PathBuf>,
        path: &Path,
    ) -> bool {
        dirs.contains(path) || files.keys().any(|f| f != path && f.starts_with(path))
    }
}

impl Host for MemoryHost {
    fn read(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        if let Ok(mut reads) = self.reads.lock() {
            *reads.entry(path.to_path_buf()).or_default() += 1;
        }
        let files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        files.get(path).cloned().ok_or(HostError::NotFound)
    }

    fn write_atomic(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        self.write_fault(path)?;
        let mut files = self
            .files
            .lock()
            .map_err(|_| HostError::Other("poisoned".into()))?;
        files.insert(path.to_path_buf(), contents.to_vec());
        Ok(())
    }

    fn write_atomic_all(&self, files: &[(&Path, &[&[u8]])]) -> Result<(), (usize, HostError)> {
        // All or none, as on the real host: every write is tried before any
        // file is put in place.
        for (index, (path, _)) in files.iter().enumerate() {
            self.write_fault(path).map_err(|error| (index, error))?;
        }
        let mut stored = self.files.lock().map_err(|_| (0, poisoned()))?;
        for (path, parts) in files {
            stored.insert(path.to_path_buf(), parts.concat());
        }
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
        let dirs = self.dirs.lock().map_err(|_| poisoned())?;
        for dir in dirs.iter() {
            if let Ok(rest) = dir.strip_prefix(path) {
                if let Some(first) = rest.components().next() {
                    let entry = DirEntry {
                        path: path.join(first),
                        is_file: false,
                    };
                    if !entries.contains(&entry) {
                        entries.push(entry);
                    }
                }
            }
        }
        // `entries` is empty exactly when no file or folder lies under `path`;
        // asking `is_dir` here would lock the map a second time and deadlock.
        if entries.is_empty() && !dirs.contains(path) {
            return Err(HostError::NotFound);
        }
        entries.sort();
        Ok(entries)
    }

    fn is_dir(&self, path: &Path) -> bool {
        let (Ok(files), Ok(dirs)) = (self.files.lock(), self.dirs.lock()) else {
            return false;
        };
        Self::dir_exists(&files, &dirs, path)
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

    fn create_dir_all(&self, path: &Path) -> Result<(), HostError> {
        let files = self.files.lock().map_err(|_| poisoned())?;
        if path
            .ancestors()
            .any(|ancestor| files.contains_key(ancestor))
        {
            return Err(HostError::NotADirectory);
        }
        let mut dirs = self.dirs.lock().map_err(|_| poisoned())?;
        for ancestor in path.ancestors().filter(|a| !a.as_os_str().is_empty()) {
            dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn remove_dir(&self, path: &Path) -> Result<(), HostError> {
        let files = self.files.lock().map_err(|_| poisoned())?;
        let mut dirs = self.dirs.lock().map_err(|_| poisoned())?;
        if files.contains_key(path) {
            return Err(HostError::NotADirectory);
        }
        let not_empty = files.keys().any(|f| f.starts_with(path))
            || dirs.iter().any(|d| d != path && d.starts_with(path));
        if not_empty {
            return Err(HostError::Other("directory not empty".into()));
        }
        if !dirs.remove(path) {
            return Err(HostError::NotFound);
        }
        if let Ok(mut modes) = self.modes.lock() {
            modes.remove(path);
        }
        Ok(())
    }

    fn permissions(&self, path: &Path) -> Result<Option<u32>, HostError> {
        let files = self.files.lock().map_err(|_| poisoned())?;
        let dirs = self.dirs.lock().map_err(|_| poisoned())?;
        let default = if files.contains_key(path) {
            DEFAULT_FILE_MODE
        } else if Self::dir_exists(&files, &dirs, path) {
            DEFAULT_DIR_MODE
        } else {
            return Err(HostError::NotFound);
        };
        let modes = self.modes.lock().map_err(|_| poisoned())?;
        Ok(Some(modes.get(path).copied().unwrap_or(default)))
    }

    fn set_permissions(&self, path: &Path, mode: u32) -> Result<(), HostError> {
        let files = self.files.lock().map_err(|_| poisoned())?;
        let dirs = self.dirs.lock().map_err(|_| poisoned())?;
        if !files.contains_key(path) && !Self::dir_exists(&files, &dirs, path) {
            return Err(HostError::NotFound);
        }
        let mut modes = self.modes.lock().map_err(|_| poisoned())?;
        modes.insert(path.to_path_buf(), mode & 0o7777);
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
        if let Ok(mut modes) = self.modes.lock() {
            modes.remove(path);
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
        if let Ok(mut modes) = self.modes.lock() {
            match modes.remove(from) {
                Some(mode) => modes.insert(to.to_path_buf(), mode),
                None => modes.remove(to),
            };
        }
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
