//! Who holds a TCP port: the listening sockets in `/proc/net/tcp` and
//! `/proc/net/tcp6`, and the process that has one of them open among
//! `/proc/*/fd`. Linux only; elsewhere (or without permission to look at
//! another user's processes) the holder is simply unknown.
//!
//! [`listening_inodes`] and [`describe`] are pure (text of `/proc` files in,
//! answers out), so a remote host's `/proc` text can be read the same way.

use std::path::Path;

/// The socket inodes listening on `port`, from the text of `/proc/net/tcp`
/// or `/proc/net/tcp6`.
pub fn listening_inodes(proc_net_tcp: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    proc_net_tcp
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?;
            let (_, port_hex) = local.rsplit_once(':')?;
            let local_port = u16::from_str_radix(port_hex, 16).ok()?;
            (local_port == port && *state == LISTEN)
                .then(|| inode.parse().ok())
                .flatten()
        })
        .collect()
}

/// `pid 123 (python3 -m http.server 8080)` from a pid and the text of its
/// `/proc/PID/cmdline` (NUL-separated), cut to a readable length.
pub fn describe(pid: u32, cmdline: &[u8]) -> String {
    const MOST: usize = 80;
    let command: String = String::from_utf8_lossy(cmdline)
        .split('\0')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if command.is_empty() {
        return format!("pid {pid}");
    }
    let mut shown: String = command.chars().take(MOST).collect();
    if shown.len() < command.len() {
        shown.push('…');
    }
    format!("pid {pid} ({shown})")
}

/// The process listening on `port` on this machine, described for a
/// message; `None` when `/proc` does not tell (another OS, another user's
/// process, or nothing listens).
pub fn holder(port: u16) -> Option<String> {
    holder_under(Path::new("/proc"), port)
}

/// [`holder`] with `/proc` at `proc_root`.
pub fn holder_under(proc_root: &Path, port: u16) -> Option<String> {
    let mut inodes = Vec::new();
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(proc_root.join(table)) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    for entry in std::fs::read_dir(proc_root).ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if wanted
                .iter()
                .any(|socket| target.as_os_str() == socket.as_str())
            {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                return Some(describe(pid, &cmdline));
            }
        }
    }
    None
}
