//! The real machine.

use super::{CreateNew, DirEntry, FileMode, Host, HostError};
use std::io::Write;
use std::path::{Path, PathBuf};

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

    fn same_contents(&self, path: &Path, contents: &[u8]) -> Result<bool, HostError> {
        use std::io::Read;
        // The same refusals as `read`.
        let metadata = std::fs::metadata(path)?;
        if metadata.is_dir() {
            return Err(HostError::Other(String::from("is a directory")));
        }
        if !metadata.is_file() {
            return Err(HostError::Other(String::from("not a regular file")));
        }
        if metadata.len() != contents.len() as u64 {
            return Ok(false);
        }
        // Compared a piece at a time: a state file's newest history version
        // is as big as the state (81 MB at 100,000 instances), and reading
        // it whole held it beside the state's own bytes.
        let mut file = std::fs::File::open(path)?;
        let mut piece = vec![0u8; 1 << 20];
        let mut rest = contents;
        loop {
            let read = match file.read(&mut piece) {
                Ok(0) => return Ok(rest.is_empty()),
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error.into()),
            };
            let (Some(expected), Some(got)) = (rest.get(..read), piece.get(..read)) else {
                // Longer than `contents` (it grew since its size was read).
                return Ok(false);
            };
            if expected != got {
                return Ok(false);
            }
            rest = rest.get(read..).unwrap_or_default();
        }
    }

    fn write_atomic(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        write_atomic(path, contents, None)
    }

    fn write_atomic_all(&self, files: &[(&Path, &[&[u8]])]) -> Result<(), (usize, HostError)> {
        write_atomic_all(files)
    }

    fn write_atomic_with_mode(
        &self,
        path: &Path,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), HostError> {
        write_atomic(path, contents, Some(mode))
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
        // The operating system's CSPRNG (getrandom(2) on Linux). Keys, nonces
        // and lineages come from here, so there is no weaker fallback: a
        // machine without secure randomness cannot run infra safely, and the
        // process stops rather than seal secrets with a guessable nonce.
        if getrandom::fill(buffer).is_err() {
            std::process::abort();
        }
    }

    fn now_unix_millis(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn sleep(&self, duration: std::time::Duration) {
        std::thread::sleep(duration);
    }

    fn create_dir_all(&self, path: &Path) -> Result<(), HostError> {
        Ok(std::fs::create_dir_all(path)?)
    }

    fn remove_file(&self, path: &Path) -> Result<(), HostError> {
        std::fs::remove_file(path)?;
        sync_parent(path);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        std::fs::rename(from, to)?;
        sync_parent(to);
        Ok(())
    }

    fn append_durable(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        let existed = path.exists();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)?;
        file.write_all(contents)?;
        file.sync_data()?;
        if !existed {
            // A new file's folder entry must be durable too, or the file may
            // vanish in a crash with the data that was synced into it.
            sync_parent(path);
        }
        Ok(())
    }

    fn append(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        let file = std::fs::OpenOptions::new().append(true).open(path);
        match file {
            Ok(mut file) => Ok(file.write_all(contents)?),
            // A new file is made durable with its folder entry at once.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                self.append_durable(path, contents)
            }
            Err(error) => Err(error.into()),
        }
    }

    fn create_new(
        &self,
        path: &Path,
        contents: &[u8],
        mode: FileMode,
    ) -> Result<CreateNew, HostError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            if mode == FileMode::OwnerOnly {
                options.mode(0o600);
            }
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = match options.open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(CreateNew::AlreadyExists);
            }
            Err(error) => return Err(error.into()),
        };
        let written = file.write_all(contents).and_then(|()| file.sync_all());
        if let Err(error) = written {
            let _ = std::fs::remove_file(path);
            return Err(error.into());
        }
        sync_parent(path);
        Ok(CreateNew::Created)
    }

    fn remove_dir(&self, path: &Path) -> Result<(), HostError> {
        std::fs::remove_dir(path)?;
        sync_parent(path);
        Ok(())
    }

    fn permissions(&self, path: &Path) -> Result<Option<u32>, HostError> {
        let metadata = std::fs::metadata(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            Ok(Some(metadata.permissions().mode() & 0o7777))
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            Ok(None)
        }
    }

    fn set_permissions(&self, path: &Path, mode: u32) -> Result<(), HostError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))?;
        }
        #[cfg(not(unix))]
        {
            let _ = (path, mode);
        }
        Ok(())
    }

    fn pid(&self) -> u32 {
        std::process::id()
    }

    fn process_alive(&self, pid: u32) -> Option<bool> {
        // Linux only: /proc/PID/stat is gone for an exited process, and
        // says `Z` (zombie) or `X` (dead) for one not yet reaped.
        if !Path::new("/proc/self/stat").exists() {
            return None;
        }
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let state = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next());
                Some(!matches!(state, Some('Z' | 'X')))
            }
            Err(_) => Some(false),
        }
    }

    fn hostname(&self) -> String {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|file| {
                let name = std::fs::read_to_string(file).ok()?;
                let name = name.trim();
                (!name.is_empty()).then(|| name.to_owned())
            })
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|n| !n.is_empty()))
            .unwrap_or_else(|| String::from("unknown"))
    }

    fn username(&self) -> String {
        ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|n| !n.is_empty()))
            .unwrap_or_else(|| String::from("unknown"))
    }
}

/// Flushes a file's folder so a rename, creation or removal in it survives a
/// crash. Some file systems refuse to sync a folder; the change is made either way.
fn sync_parent(path: &Path) {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
}

/// Writes through a temp file in the same folder: create, set the mode (the
/// given one, else the replaced file's), write, fsync, rename, fsync the folder.
fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<(), HostError> {
    let temp = write_temp(path, &[contents], mode)?;
    Ok(put_in_place(&temp, path)?)
}

/// The temp file [`write_atomic`] writes `path` through, in the same folder.
fn temp_path(path: &Path) -> PathBuf {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_of(path).join(format!(".{file_name}.tmp.{}", std::process::id()))
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// The first half of [`write_atomic`]: `parts`, in order, written to the
/// temp file of `path` and flushed to disk. Returns the temp file; on an
/// error none is left.
fn write_temp(path: &Path, parts: &[&[u8]], mode: Option<u32>) -> std::io::Result<PathBuf> {
    let temp = temp_path(path);
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        match mode {
            Some(mode) => set_mode(&file, mode)?,
            None => {
                if let Ok(meta) = std::fs::metadata(path) {
                    file.set_permissions(meta.permissions())?;
                }
            }
        }
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(temp),
        Err(error) => {
            let _ = std::fs::remove_file(&temp);
            Err(error)
        }
    }
}

/// The second half of [`write_atomic`]: the temp file renamed over `path`,
/// then the folder flushed. On an error the temp file is removed.
fn put_in_place(temp: &Path, path: &Path) -> std::io::Result<()> {
    if let Err(error) = std::fs::rename(temp, path) {
        let _ = std::fs::remove_file(temp);
        return Err(error);
    }
    if let Ok(dir) = std::fs::File::open(parent_of(path)) {
        // Some file systems refuse to fsync a folder; the rename is done either way.
        let _ = dir.sync_all();
    }
    Ok(())
}

/// [`Host::write_atomic_all`]: the temp files written on a thread each (the
/// first on this one), then renamed in order.
fn write_atomic_all(files: &[(&Path, &[&[u8]])]) -> Result<(), (usize, HostError)> {
    let written: Vec<std::io::Result<PathBuf>> = std::thread::scope(|scope| {
        let others: Vec<_> = files
            .iter()
            .skip(1)
            .map(|(path, parts)| scope.spawn(move || write_temp(path, parts, None)))
            .collect();
        let first = files
            .first()
            .map(|(path, parts)| write_temp(path, parts, None));
        first
            .into_iter()
            .chain(others.into_iter().map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(std::io::Error::other(
                        "the thread writing the file panicked",
                    ))
                })
            }))
            .collect()
    });
    if let Some(failed) = written.iter().position(Result::is_err) {
        let mut error = None;
        for (index, temp) in written.into_iter().enumerate() {
            match temp {
                Ok(temp) => {
                    let _ = std::fs::remove_file(temp);
                }
                Err(e) if index == failed => error = Some(e),
                Err(_) => {}
            }
        }
        let error = error.map_or_else(|| HostError::Other("write failed".into()), HostError::from);
        return Err((failed, error));
    }
    let temps: Vec<PathBuf> = written.into_iter().flatten().collect();
    for (index, ((path, _), temp)) in files.iter().zip(&temps).enumerate() {
        if let Err(error) = put_in_place(temp, path) {
            for later in temps.iter().skip(index + 1) {
                let _ = std::fs::remove_file(later);
            }
            return Err((index, error.into()));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
