//! How to start, recognise, stop and probe a process on a machine: the
//! [`Machine`] trait the deploy strategies use, and [`LocalMachine`], this
//! machine. (The `ssh` provider runs the same strategies on a remote host by
//! implementing [`Machine`] over SSH.)
//!
//! A process is started detached, in its own session (`setsid`), with its
//! stdout and stderr appended to logs and a pidfile beside them, in the
//! service's run folder; it outlives `infra`. It is known by its pid *and*
//! its start time (field 22 of `/proc/PID/stat`), so a pid the kernel gave
//! to another process since is not mistaken for it.
//!
//! Invariant: secrets reach a process only through its environment, never
//! its arguments; they are never written to its pidfile or to an error.
//! The child does not inherit `infra`'s environment (which may hold
//! `INFRA_STATE_KEY` or cloud credentials): only `PATH`, `HOME`, `LANG`,
//! `LC_ALL`, `TMPDIR` and `USER`, then the service's `env`, then `PORT` and
//! `INFRA_SERVICE_SLOT` (its run folder and slot: [`started_in`]); an
//! `exec` health check gets the first six only. That environment is read
//! through the [`Host`], never `std::env`.

use super::front::{LocalFront, Router};
use super::spec::{Check, SmokeSpec};
use crate::host::Host;
use crate::providers::ProviderError;
use async_trait::async_trait;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One process to start.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Its name in the run folder (`blue-0`): the pidfile is `SLOT.pid`, the
    /// logs `SLOT.stdout.log` and `SLOT.stderr.log`.
    pub slot: String,
    /// The argv.
    pub argv: Vec<String>,
    /// The environment on top of the basic one.
    pub env: Vec<(String, String)>,
    /// The working folder.
    pub workdir: PathBuf,
    /// The run folder.
    pub run_dir: PathBuf,
    /// The port it will listen on, checked free before the start.
    pub port: Option<u16>,
}

/// A started process, as state records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Running {
    /// Its slot.
    pub slot: String,
    /// Its pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/PID/stat`).
    pub start_time: u64,
    /// The port it listens on.
    pub port: Option<u16>,
}

/// A machine processes run on: everything the deploy strategies and the
/// provider ask of one, so the same strategies run services here
/// ([`LocalMachine`]) and on a remote host (the `ssh` provider's machine).
///
/// Paths (`run_dir`, `workdir`) are the machine's own.
#[async_trait]
pub trait Machine: Send + Sync {
    /// Starts a process detached; fails with the reason (a missing command,
    /// a port in use, a process that exits at once with its last log lines).
    async fn start(&self, launch: &Launch) -> Result<Running, ProviderError>;
    /// Whether this very process is alive (same pid, same start time, not a zombie).
    async fn alive(&self, process: &Running) -> bool;
    /// Stops it (SIGTERM to its session, SIGKILL after `grace`); a process
    /// that is gone already, or whose pid is another process's now, is left alone.
    async fn stop(&self, process: &Running, grace: Duration);
    /// One try of a health check, bounded by `timeout`, from the machine's
    /// side (`127.0.0.1` is the machine's loopback).
    async fn probe(&self, check: &Check, timeout: Duration) -> Result<(), String>;
    /// The smoke test, from the machine's side.
    async fn smoke(&self, smoke: &SmokeSpec, timeout: Duration) -> Result<(), String>;
    /// The last `lines` lines of a slot's logs (stderr, then stdout).
    async fn log_tail(&self, run_dir: &Path, slot: &str, lines: usize) -> String;
    /// A port nothing listens on now.
    async fn free_port(&self) -> Result<u16, ProviderError>;
    /// Whether a loopback TCP port is free now.
    async fn port_free(&self, port: u16) -> bool;
    /// The processes the pidfiles in a run folder name (alive or not).
    async fn pidfiles(&self, run_dir: &Path) -> Vec<Running>;
    /// The live processes whose environment names a slot of `run_dir`:
    /// those started by an `infra` killed before it (or the process) wrote
    /// the pidfile. None where the machine cannot tell.
    async fn started_in(&self, _run_dir: &Path) -> Vec<Running> {
        Vec::new()
    }
    /// The router (nginx) whose files live in `dir` on this machine.
    async fn router(&self, dir: &Path) -> Result<Box<dyn Router>, ProviderError>;
    /// Whether `run` names files on the machine `infra` runs on (so their
    /// content is part of the version); false for a remote machine.
    fn files_are_local(&self) -> bool {
        true
    }
}

/// This machine. The environment (`PATH` and the variables children get)
/// comes through its host.
pub struct LocalMachine {
    host: std::sync::Arc<dyn Host>,
}

impl std::fmt::Debug for LocalMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalMachine").finish_non_exhaustive()
    }
}

impl LocalMachine {
    /// This machine, its environment read through `host`.
    pub fn new(host: std::sync::Arc<dyn Host>) -> Self {
        LocalMachine { host }
    }
}

/// Field 22 (start time) and field 3 (state) of `/proc/PID/stat`.
pub fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Field 22 (start time) and field 3 (state) of the text of a
/// `/proc/PID/stat` file (read here or on a remote host).
pub fn parse_stat(text: &str) -> Option<(char, u64)> {
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether the process with this pid and start time is alive.
pub fn is_alive(pid: u32, start_time: u64) -> bool {
    proc_stat(pid).is_some_and(|(state, start)| start == start_time && !matches!(state, 'Z' | 'X'))
}

/// The pid and command name of the process listening on a TCP port, where
/// `/proc` says (the same user's processes, or all as root).
pub fn port_holder(port: u16) -> Option<(u32, String)> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let listening = *state == "0A";
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if listening && local_port == Some(port) {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.as_os_str() == i.as_str())
            {
                let name = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|c| c.trim().to_owned())
                    .unwrap_or_default();
                return Some((pid, name));
            }
        }
    }
    None
}

/// Where [`Machine::free_port`] looks on a machine (this one, or a server
/// over SSH), as (first port, how many): below its ephemeral range
/// (`ephemeral`, the first and last port of `net.ipv4.ip_local_port_range`),
/// where the kernel never takes the source port of an outgoing connection. A port found free there stays free until
/// the process binds it; inside the range, any connection the server opens
/// meanwhile (a health probe, nginx to an upstream, the apps' own clients)
/// may take it, and the process then fails to start. Ports 20000-49999 when
/// the range is unknown or leaves fewer than 1,000 ports from 10000 below it.
pub(crate) fn port_window(ephemeral: Option<(u32, u32)>) -> (u32, u32) {
    const LOWEST: u32 = 10_000;
    const ENOUGH: u32 = 1_000;
    const WIDEST: u32 = 20_000;
    match ephemeral {
        Some((low, high)) if low <= high && (LOWEST + ENOUGH..=65_536).contains(&low) => {
            let first = low.saturating_sub(WIDEST).max(LOWEST);
            (first, low - first)
        }
        _ => (20_000, 30_000),
    }
}

/// The ports [`Machine::free_port`] tries, in order: the window of
/// [`port_window`], from a start that differs each call (the clock and the
/// process id), so that two deploys at once rarely try the same ports.
pub(crate) fn port_candidates(ephemeral: Option<(u32, u32)>) -> impl Iterator<Item = u16> {
    let (first, count) = port_window(ephemeral);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    (0..count).filter_map(move |i| u16::try_from(first + seed.wrapping_add(i) % count).ok())
}

/// A free loopback port of this machine, below its ephemeral range (see
/// [`port_window`]; `bind(0)` would give one inside it, which any outgoing
/// connection may take before the process binds it). Starts somewhere
/// different each call and never hands a port out twice in one run, so two
/// slots started together do not get the same one.
fn local_free_port() -> Result<u16, ProviderError> {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(str::parse::<u32>);
            Some((bounds.next()?.ok()?, bounds.next()?.ok()?))
        });
    for port in port_candidates(ephemeral) {
        let fresh = match HANDED_OUT.lock() {
            Ok(mut handed) => handed.insert(port),
            Err(poisoned) => poisoned.into_inner().insert(port),
        };
        if fresh && port_is_free(port) {
            return Ok(port);
        }
    }
    Err(ProviderError::permanent(
        "no free port on 127.0.0.1 below the ephemeral range",
    ))
}

/// Whether a TCP port on loopback can be bound now.
fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The program's path: as given when it has a `/` (relative to `workdir`),
/// else the first match in the folders of `path_var` (`PATH`'s value).
fn find_program(program: &str, workdir: &Path, path_var: Option<&str>) -> Option<PathBuf> {
    if program.contains('/') {
        let path = workdir.join(program);
        return path.is_file().then_some(path);
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The `sh -c` script every service process starts as: `$1` is its
/// pidfile, `$2` its port (or empty), the rest the program and its
/// arguments. It writes `pid start_time [port]` (the start time from
/// `/proc/$$/stat`, as [`proc_stat`] reads it) and then `exec`s the program,
/// which keeps the pid and the start time. Arguments are passed as
/// arguments, never pasted into the script. Recording is best effort: when
/// it cannot, it says why in the log and runs the program all the same
/// (`infra` writes the same line once the spawn returns).
pub const RECORD_THEN_EXEC: &str = r#"pidfile=$1 port=$2
shift 2
start=
if read -r stat < "/proc/$$/stat"; then
  rest=${stat##*) }
  field() { [ $# -ge 20 ] && start=${20}; }
  field $rest
fi
if [ -n "$start" ]; then
  if [ -n "$port" ]; then line="$$ $start $port"; else line="$$ $start"; fi
  printf '%s\n' "$line" > "$pidfile" || echo "infra-launch: cannot write $pidfile" >&2
else
  echo "infra-launch: cannot read /proc/$$/stat; infra records the pid" >&2
fi
exec "$@"
"#;

/// The environment every child gets from `infra`'s own.
const PASSED_THROUGH: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"];

fn tail(path: &Path, lines: usize) -> Vec<String> {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

fn signal(pid: u32, signal: &str) {
    // The negative pid names the process group, which `setsid` made the
    // process's own: its children go too. The process itself is named as
    // well, in case it left its group. One `kill` for both: `kill` goes on
    // to the next target when one is gone.
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pid}"), &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// How often a wait for a process to exit, or a port to be free, looks again.
const POLL: Duration = Duration::from_millis(5);

#[async_trait]
impl Machine for LocalMachine {
    async fn start(&self, launch: &Launch) -> Result<Running, ProviderError> {
        let program = launch.argv.first().cloned().unwrap_or_default();
        let path_var = self.host.env_var("PATH");
        let Some(program_path) = find_program(&program, &launch.workdir, path_var.as_deref())
        else {
            return Err(ProviderError::permanent(format!(
                "the command `{program}` was not found (looked in {})",
                if program.contains('/') {
                    launch.workdir.display().to_string()
                } else {
                    String::from("PATH")
                }
            ))
            .at(["run"]));
        };
        // A port a process just stopped on may take a moment to be free.
        if let Some(port) = launch.port {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while !port_is_free(port) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(POLL).await;
            }
        }
        if let Some(port) = launch.port
            && !port_is_free(port)
        {
            let holder = match port_holder(port) {
                Some((pid, name)) => format!("held by pid {pid} ({name})"),
                None => String::from("held by a process infra cannot see"),
            };
            return Err(
                ProviderError::permanent(format!("port {port} is in use, {holder}")).at(["port"]),
            );
        }
        std::fs::create_dir_all(&launch.run_dir).map_err(|e| {
            ProviderError::permanent(format!("cannot create {}: {e}", launch.run_dir.display()))
        })?;
        let log = |stream: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(launch.run_dir.join(format!("{}.{stream}.log", launch.slot)))
                .map_err(|e| ProviderError::permanent(format!("cannot open the {stream} log: {e}")))
        };
        let (stdout, stderr) = (log("stdout")?, log("stderr")?);
        let pidfile = launch.run_dir.join(format!("{}.pid", launch.slot));
        let shell = find_program("sh", Path::new("/"), path_var.as_deref())
            .unwrap_or_else(|| PathBuf::from("/bin/sh"));
        let setsid = find_program("setsid", Path::new("/"), path_var.as_deref());
        let mut command = match &setsid {
            Some(setsid) => {
                let mut command = Command::new(setsid);
                command.arg(&shell);
                command
            }
            None => {
                let mut command = Command::new(&shell);
                std::os::unix::process::CommandExt::process_group(&mut command, 0);
                command
            }
        };
        // The child writes its own pidfile before it becomes the program
        // (`exec` keeps the pid and the start time), so a crash of `infra`
        // right after the spawn leaves no process that no pidfile names.
        command
            .args(["-c", RECORD_THEN_EXEC, "infra-launch"])
            .arg(&pidfile)
            .arg(launch.port.map(|p| p.to_string()).unwrap_or_default())
            .arg(&program_path)
            .args(launch.argv.iter().skip(1))
            .current_dir(&launch.workdir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        command.envs(self.passed_through());
        for (name, value) in &launch.env {
            command.env(name, value);
        }
        if let Some(port) = launch.port {
            command.env("PORT", port.to_string());
        }
        command.env(SLOT_VAR, slot_dir(&launch.run_dir).join(&launch.slot));
        let mut child = command.spawn().map_err(|e| {
            ProviderError::permanent(format!("cannot start `{program}`: {e}")).at(["run"])
        })?;
        let pid = child.id();
        let stat = proc_stat(pid);
        // Reaps the child when it exits while `infra` runs (no zombie).
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        let Some((_, start_time)) = stat else {
            return Err(self.exited_at_once(launch, &program));
        };
        let running = Running {
            slot: launch.slot.clone(),
            pid,
            start_time,
            port: launch.port,
        };
        // The same line the child wrote, in case it could not (it then exits
        // with the reason in its log, and the health check reports it).
        let written = std::fs::File::create(&pidfile).and_then(|mut f| match launch.port {
            Some(port) => writeln!(f, "{pid} {start_time} {port}"),
            None => writeln!(f, "{pid} {start_time}"),
        });
        if let Err(e) = written {
            self.stop(&running, Duration::from_secs(1)).await;
            return Err(ProviderError::permanent(format!(
                "cannot write {}: {e}",
                pidfile.display()
            )));
        }
        Ok(running)
    }

    async fn alive(&self, process: &Running) -> bool {
        is_alive(process.pid, process.start_time)
    }

    async fn stop(&self, process: &Running, grace: Duration) {
        if !is_alive(process.pid, process.start_time) {
            return;
        }
        signal(process.pid, "-TERM");
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if !is_alive(process.pid, process.start_time) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        if is_alive(process.pid, process.start_time) {
            signal(process.pid, "-KILL");
        }
    }

    async fn probe(&self, check: &Check, timeout: Duration) -> Result<(), String> {
        super::probe::probe(check, timeout, &self.passed_through()).await
    }

    async fn smoke(&self, smoke: &SmokeSpec, timeout: Duration) -> Result<(), String> {
        super::probe::smoke(smoke, timeout).await
    }

    async fn log_tail(&self, run_dir: &Path, slot: &str, lines: usize) -> String {
        local_log_tail(run_dir, slot, lines)
    }

    async fn free_port(&self) -> Result<u16, ProviderError> {
        local_free_port()
    }

    async fn port_free(&self, port: u16) -> bool {
        port_is_free(port)
    }

    async fn pidfiles(&self, run_dir: &Path) -> Vec<Running> {
        pidfiles(run_dir)
    }

    async fn started_in(&self, run_dir: &Path) -> Vec<Running> {
        started_in(run_dir)
    }

    async fn router(&self, dir: &Path) -> Result<Box<dyn Router>, ProviderError> {
        Ok(Box::new(LocalFront::open(self.host.as_ref(), dir)?))
    }
}

/// The last `lines` lines of a slot's logs in a local run folder.
fn local_log_tail(run_dir: &Path, slot: &str, lines: usize) -> String {
    let mut out = Vec::new();
    for stream in ["stderr", "stdout"] {
        let found = tail(&run_dir.join(format!("{slot}.{stream}.log")), lines);
        if !found.is_empty() {
            out.push(format!("{stream}:"));
            out.extend(found.into_iter().map(|l| format!("  {l}")));
        }
    }
    if out.is_empty() {
        String::from("(its logs are empty)")
    } else {
        out.join("\n")
    }
}

impl LocalMachine {
    /// The variables of `infra`'s environment every child (and `exec`
    /// health check) gets.
    fn passed_through(&self) -> Vec<(String, String)> {
        PASSED_THROUGH
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), self.host.env_var(name)?)))
            .collect()
    }

    fn exited_at_once(&self, launch: &Launch, program: &str) -> ProviderError {
        ProviderError::permanent(format!(
            "`{program}` exited as soon as it started; the end of its logs ({}):\n{}",
            launch.run_dir.display(),
            local_log_tail(&launch.run_dir, &launch.slot, 10)
        ))
        .at(["run"])
    }
}

/// The variable every process gets naming its run folder and slot
/// (`RUN_DIR/SLOT`), so that one started by an `infra` that was killed before
/// it wrote the pidfile is found again ([`started_in`]).
pub const SLOT_VAR: &str = "INFRA_SERVICE_SLOT";

/// The run folder as [`SLOT_VAR`] names it: its canonical absolute path, so
/// that two stacks whose run folders have the same relative path (`infra`
/// runs with the stack folder `.`) never name each other's processes.
fn slot_dir(run_dir: &Path) -> PathBuf {
    std::fs::canonicalize(run_dir)
        .or_else(|_| std::path::absolute(run_dir))
        .unwrap_or_else(|_| run_dir.to_path_buf())
}

/// The live processes whose environment names a slot of `run_dir` (the
/// same user's, as `/proc` shows them), with their `PORT`.
pub fn started_in(run_dir: &Path) -> Vec<Running> {
    let prefix = format!("{SLOT_VAR}={}/", slot_dir(run_dir).display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<Running> = entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let environ = String::from_utf8_lossy(&environ);
            let slot = environ
                .split('\0')
                .find_map(|entry| entry.strip_prefix(prefix.as_str()))?
                .to_owned();
            let port = environ
                .split('\0')
                .find_map(|entry| entry.strip_prefix("PORT="))
                .and_then(|port| port.parse().ok());
            let (state, start_time) = proc_stat(pid)?;
            (!matches!(state, 'Z' | 'X')).then_some(Running {
                slot,
                pid,
                start_time,
                port,
            })
        })
        .collect();
    found.sort_by(|a, b| a.slot.cmp(&b.slot).then(a.pid.cmp(&b.pid)));
    found
}

/// The processes the pidfiles in a run folder name (alive or not).
pub fn pidfiles(run_dir: &Path) -> Vec<Running> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    let mut found: Vec<Running> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            let slot = name.strip_suffix(".pid")?.to_owned();
            let text = std::fs::read_to_string(entry.path()).ok()?;
            let mut parts = text.split_whitespace();
            Some(Running {
                slot,
                pid: parts.next()?.parse().ok()?,
                start_time: parts.next()?.parse().ok()?,
                port: parts.next().and_then(|p| p.parse().ok()),
            })
        })
        .collect();
    found.sort_by(|a, b| a.slot.cmp(&b.slot));
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::host::{RealHost, WithEnvVar};
    use std::sync::Arc;

    /// Free ports come from below this machine's ephemeral range, where no
    /// outgoing connection can take them before the process binds them, and
    /// never the same one twice.
    #[test]
    fn local_free_ports_are_below_the_ephemeral_range_and_never_repeat() {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let low: u32 = range.split_whitespace().next().unwrap().parse().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let port = local_free_port().unwrap();
            assert!(
                u32::from(port) < low,
                "{port} is in the ephemeral range from {low}"
            );
            assert!(port_is_free(port), "{port} is taken");
            assert!(seen.insert(port), "{port} was handed out twice");
        }
    }

    /// A folder of its own under the system's temporary folder.
    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("infra-machine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The launch script writes the pidfile before the program runs: the
    /// program itself reads the line naming its own pid and start time, so
    /// a crash of `infra` right after the spawn cannot leave it unrecorded.
    #[test]
    fn the_child_records_its_own_pid_and_start_time_before_the_program_runs() {
        let dir = std::env::temp_dir().join(format!("infra-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("blue-0.pid");
        for (port, expect_port) in [("8080", Some(8080)), ("", None)] {
            let _ = std::fs::remove_file(&pidfile);
            let output = Command::new("sh")
                .args(["-c", RECORD_THEN_EXEC, "infra-launch"])
                .arg(&pidfile)
                .arg(port)
                .args(["/bin/sh", "-c", r#"cat "$0"; echo "$$""#])
                .arg(&pidfile)
                .output()
                .unwrap();
            let text = String::from_utf8(output.stdout).unwrap();
            let mut lines = text.lines();
            let recorded = lines.next().unwrap_or_default().to_owned();
            let own_pid: u32 = lines.next().unwrap().parse().unwrap();
            let found = pidfiles(&dir);
            assert_eq!(found.len(), 1, "{recorded}");
            assert_eq!(found[0].pid, own_pid, "{recorded}");
            assert_eq!(found[0].port, expect_port, "{recorded}");
            assert!(found[0].start_time > 0, "{recorded}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_program_and_the_childs_path_come_from_the_hosts_environment() {
        let dir = temp("path");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let program = bin.join("infra-test-only-here");
        let check_program = bin.join("infra-test-check-here");
        for (file, text) in [
            (&program, "#!/bin/sh\nexec /bin/sleep 30\n"),
            (&check_program, "#!/bin/sh\nexit 0\n"),
        ] {
            std::fs::write(file, text).unwrap();
            let mut permissions = std::fs::metadata(file).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
            std::fs::set_permissions(file, permissions).unwrap();
        }
        let path = format!("{}:/usr/bin:/bin", bin.display());
        let host = Arc::new(WithEnvVar::new(Arc::new(RealHost), "PATH", path.clone()));
        let machine = LocalMachine::new(host);
        let launch = Launch {
            slot: String::from("blue-0"),
            argv: vec![String::from("infra-test-only-here")],
            env: Vec::new(),
            workdir: dir.clone(),
            run_dir: dir.join("run"),
            port: None,
        };
        let running = machine.start(&launch).await.unwrap();
        // The launch script writes the pidfile before it becomes the program:
        // once the program runs, no late write can bring the pidfile back.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read(format!("/proc/{}/cmdline", running.pid))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("sleep"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the program never ran"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Found by its environment without its pidfile (as after a crash
        // between the start and the pidfile).
        std::fs::remove_file(dir.join("run/blue-0.pid")).unwrap();
        assert!(pidfiles(&dir.join("run")).is_empty());
        let found = started_in(&dir.join("run"));
        assert!(
            found
                .iter()
                .any(|p| p.pid == running.pid && p.slot == "blue-0"),
            "{found:?}"
        );
        let environ = std::fs::read(format!("/proc/{}/environ", running.pid)).unwrap();
        machine.stop(&running, Duration::from_secs(1)).await;
        let environ = String::from_utf8_lossy(&environ).into_owned();
        assert!(
            environ
                .split('\0')
                .any(|entry| entry == format!("PATH={path}")),
            "{environ}"
        );
        // An `exec` check looks for its program on the same PATH.
        let check = Check::Exec(vec![String::from("infra-test-check-here")]);
        machine.probe(&check, Duration::from_secs(5)).await.unwrap();
        let check = Check::Exec(vec![String::from("infra-test-check-not-here")]);
        let error = machine
            .probe(&check, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(error.contains("not found on PATH"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
