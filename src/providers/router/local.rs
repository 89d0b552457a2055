//! A router on this machine: nginx started as its own daemon (it outlives
//! `infra`, like the services it fronts), with its configuration, pid file,
//! logs and buffers in the run directory the caller gives.
//!
//! Choices: a running router is recognised by its pid file *and* by the
//! process behind it being an nginx master started with this router's
//! configuration, so a stale pid file whose pid was reused does not count. A
//! new configuration is checked with `nginx -t` before it replaces the old
//! one, and put back if nginx does not take it. After `nginx -s reload`,
//! [`LocalRouter::ensure`] waits until the router answers the new generation
//! *and* every worker of the old configuration has stopped accepting
//! connections (nginx titles them "shutting down"); the old workers still
//! finishing requests are handed back as [`Applied::draining`].
//!
//! Invariant: only processes this router started are signalled (the master
//! whose command line names this router's configuration).

use super::access_log::{self, AccessRecord, ErrorRate, Traffic};
use super::config::{self, Layout};
use super::{RouterError, Routes, port};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Where nginx is looked for after the `PATH`: Debian puts it in `/usr/sbin`,
/// which a normal user's `PATH` often lacks.
pub const SBIN_FALLBACKS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"];

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(5);

/// The nginx binary a router runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nginx {
    /// Its path.
    pub path: PathBuf,
}

impl Nginx {
    /// Looks for `nginx` in the folders of `path_var` (the `PATH` variable's
    /// value), then in [`SBIN_FALLBACKS`].
    pub fn find(path_var: Option<&OsStr>) -> Result<Nginx, RouterError> {
        let mut folders: Vec<PathBuf> = path_var
            .map(|path| std::env::split_paths(path).collect())
            .unwrap_or_default();
        folders.extend(SBIN_FALLBACKS.iter().map(PathBuf::from));
        Self::find_in(&folders)
    }

    /// The nginx a user asked for (`INFRA_NGINX`'s value, `explicit`) when
    /// given, else [`Nginx::find`] on `path_var`.
    pub fn locate(
        explicit: Option<&OsStr>,
        path_var: Option<&OsStr>,
    ) -> Result<Nginx, RouterError> {
        match explicit {
            Some(path) if !path.is_empty() => Self::at(path),
            _ => Self::find(path_var),
        }
    }

    /// Looks for `nginx` in `folders` only.
    pub fn find_in(folders: &[PathBuf]) -> Result<Nginx, RouterError> {
        folders
            .iter()
            .map(|folder| folder.join("nginx"))
            .find(|candidate| is_executable(candidate))
            .map(|path| Nginx { path })
            .ok_or_else(|| RouterError::NginxMissing {
                searched: if folders.is_empty() {
                    "no folder".to_owned()
                } else {
                    folders
                        .iter()
                        .map(|folder| folder.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }

    /// The nginx at `path`, which must exist.
    pub fn at(path: impl Into<PathBuf>) -> Result<Nginx, RouterError> {
        let path = path.into();
        if is_executable(&path) {
            Ok(Nginx { path })
        } else {
            Err(RouterError::NginxMissing {
                searched: path.display().to_string(),
            })
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// What [`LocalRouter::ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The generation now serving.
    pub generation: u64,
    /// nginx was not running and was started.
    pub started: bool,
    /// The configuration changed (false: the routes were already these).
    pub changed: bool,
    /// Workers of the previous configuration still finishing their requests
    /// (they accept no new ones); [`LocalRouter::wait_drained`] waits for them.
    pub draining: Vec<u32>,
    /// From the call to the new configuration serving.
    pub took: Duration,
}

/// A router run by nginx on this machine, its files under one run directory.
#[derive(Debug, Clone)]
pub struct LocalRouter {
    layout: Layout,
    nginx: Nginx,
    worker_user: Option<String>,
    timeout: Duration,
}

impl LocalRouter {
    /// The router whose files live in `dir` (created if missing, made
    /// absolute), run by `nginx`. Workers run as the user running infra
    /// (nginx's default when started as root is `nobody`, who may not reach
    /// the run directory); waits are bounded by 30 seconds.
    pub fn new(dir: impl AsRef<Path>, nginx: Nginx) -> Result<Self, RouterError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|e| RouterError::io("cannot create the router directory", dir, &e))?;
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| RouterError::io("cannot resolve the router directory", dir, &e))?;
        Ok(LocalRouter {
            layout: Layout::new(dir),
            nginx,
            worker_user: is_root().then(|| "root".to_owned()),
            timeout: Duration::from_secs(30),
        })
    }

    /// The same router with another bound on each wait (start, reload, stop).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where its files are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The pid of its nginx master, when one is running with this router's
    /// configuration.
    pub fn running_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.layout.pid()).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        let config = self.layout.config();
        is_master_of(pid, &config).then_some(pid)
    }

    /// Whether its nginx is running.
    pub fn is_running(&self) -> bool {
        self.running_pid().is_some()
    }

    /// The generation and routes of its configuration file: what serves when
    /// [`LocalRouter::is_running`]. `None` before the first `ensure`.
    pub fn routes(&self) -> Option<(u64, Routes)> {
        let text = std::fs::read_to_string(self.layout.config()).ok()?;
        config::read_header(&text)
    }

    /// Makes the router serve `routes`: starts nginx when it is not running,
    /// otherwise rewrites its configuration and reloads it (no request is
    /// dropped). Returns once the new configuration serves and no old worker
    /// accepts connections; does nothing when it already serves these routes.
    pub async fn ensure(&self, routes: &Routes) -> Result<Applied, RouterError> {
        let began = Instant::now();
        let running = self.running_pid();
        let previous = self.routes();
        if let (Some(_), Some((generation, current))) = (running, &previous)
            && current == routes
        {
            return Ok(Applied {
                generation: *generation,
                started: false,
                changed: false,
                draining: Vec::new(),
                took: began.elapsed(),
            });
        }
        let generation = previous
            .as_ref()
            .map_or(1, |(generation, _)| generation + 1);
        let text = config::render(
            routes,
            &self.layout,
            generation,
            self.worker_user.as_deref(),
        )?;
        for folder in [self.layout.dir.clone(), self.layout.temp()] {
            std::fs::create_dir_all(&folder)
                .map_err(|e| RouterError::io("cannot create", &folder, &e))?;
        }
        let listen_moved = previous.as_ref().is_none_or(|(_, current)| {
            current.listen_host != routes.listen_host || current.listen_port != routes.listen_port
        });
        if running.is_none() || listen_moved {
            self.check_port_free(routes)?;
        }
        self.test_config(&text).await?;
        let old_text = std::fs::read_to_string(self.layout.config()).ok();
        let next = self.layout.next_config();
        std::fs::rename(&next, self.layout.config())
            .map_err(|e| RouterError::io("cannot replace", self.layout.config(), &e))?;
        let outcome = match running {
            None => self.start(routes, generation).await.map(|()| Vec::new()),
            Some(pid) => self.reload(pid, routes, generation).await,
        };
        match outcome {
            Ok(draining) => Ok(Applied {
                generation,
                started: running.is_none(),
                changed: true,
                draining,
                took: began.elapsed(),
            }),
            Err(error) => {
                // A running nginx kept its old configuration: put its file
                // back so the file keeps telling what serves.
                if running.is_some()
                    && let Some(old_text) = old_text
                {
                    let _ = std::fs::write(self.layout.config(), old_text);
                }
                Err(error)
            }
        }
    }

    /// Stops its nginx gracefully (`nginx -s quit`: requests in flight
    /// finish), forcefully once the timeout has passed. Stopping a router
    /// that is not running succeeds.
    pub async fn stop(&self) -> Result<(), RouterError> {
        let Some(pid) = self.running_pid() else {
            return Ok(());
        };
        let quit = self.nginx_command(&["-s", "quit"]);
        let _ = run(quit).await;
        if self.wait_stopped(pid, self.timeout).await {
            return Ok(());
        }
        for signal in ["TERM", "KILL"] {
            let mut kill = Command::new("kill");
            kill.args(["-s", signal, &pid.to_string()]);
            let _ = run(kill).await;
            if self.wait_stopped(pid, Duration::from_secs(5)).await {
                return Ok(());
            }
        }
        Err(RouterError::StopFailed {
            pid,
            reason: "it is still running after `nginx -s quit`, SIGTERM and SIGKILL".to_owned(),
        })
    }

    /// Waits until the workers `draining` (from [`Applied::draining`]) have
    /// exited, at most `within`; whether they all did.
    pub async fn wait_drained(&self, draining: &[u32], within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if draining.iter().all(|pid| !is_alive(*pid)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The access log's length: the offset a watch starts counting from.
    pub fn access_log_end(&self) -> u64 {
        std::fs::metadata(self.layout.access_log()).map_or(0, |meta| meta.len())
    }

    /// Requests and errors logged since byte `since` of the access log (from
    /// the start if the log is now shorter: it was rotated).
    pub fn error_rate(&self, since: u64, traffic: &Traffic) -> Result<ErrorRate, RouterError> {
        let (bytes, from) = self.read_access_log(since)?;
        Ok(access_log::error_rate(&bytes, from, traffic))
    }

    /// The requests logged since byte `since`, and the offset to read on from.
    pub fn access_records(&self, since: u64) -> Result<(Vec<AccessRecord>, u64), RouterError> {
        let (bytes, from) = self.read_access_log(since)?;
        let rate = access_log::error_rate(&bytes, from, &Traffic::All);
        let complete = usize::try_from(rate.next_offset - from).unwrap_or(bytes.len());
        let text = String::from_utf8_lossy(bytes.get(..complete).unwrap_or_default());
        let records = text.lines().filter_map(access_log::parse_line).collect();
        Ok((records, rate.next_offset))
    }

    fn read_access_log(&self, since: u64) -> Result<(Vec<u8>, u64), RouterError> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.layout.access_log();
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(RouterError::io("cannot read", path, &e)),
        };
        let len = file
            .metadata()
            .map_err(|e| RouterError::io("cannot read", &path, &e))?
            .len();
        let from = if since > len { 0 } else { since };
        file.seek(SeekFrom::Start(from))
            .map_err(|e| RouterError::io("cannot read", &path, &e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| RouterError::io("cannot read", &path, &e))?;
        Ok((bytes, from))
    }

    fn check_port_free(&self, routes: &Routes) -> Result<(), RouterError> {
        match std::net::TcpListener::bind((routes.listen_host.as_str(), routes.listen_port)) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(RouterError::PortInUse {
                port: routes.listen_port,
                holder: port::holder(routes.listen_port),
            }),
            // Another failure (no such address, no permission for a low
            // port) is nginx's to report, in its own words.
            _ => Ok(()),
        }
    }

    /// Writes `text` as the next configuration and has nginx check it.
    async fn test_config(&self, text: &str) -> Result<(), RouterError> {
        let next = self.layout.next_config();
        std::fs::write(&next, text).map_err(|e| RouterError::io("cannot write", &next, &e))?;
        let mut command = Command::new(&self.nginx.path);
        command
            .arg("-t")
            .arg("-q")
            .arg("-p")
            .arg(&self.layout.dir)
            .arg("-c")
            .arg(&next)
            .arg("-e")
            .arg(self.layout.error_log());
        let output = run(command).await?;
        if output.status.success() {
            Ok(())
        } else {
            Err(RouterError::ConfigRejected {
                config: next,
                output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    /// `nginx -p DIR -c CONFIG -e ERROR_LOG` plus `extra`.
    fn nginx_command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(&self.nginx.path);
        command
            .arg("-p")
            .arg(&self.layout.dir)
            .arg("-c")
            .arg(self.layout.config())
            .arg("-e")
            .arg(self.layout.error_log())
            .args(extra);
        command
    }

    async fn start(&self, routes: &Routes, generation: u64) -> Result<(), RouterError> {
        let _ = std::fs::remove_file(self.layout.pid());
        let output = run(self.nginx_command(&[])).await?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if said.contains("Address already in use") {
                return Err(RouterError::PortInUse {
                    port: routes.listen_port,
                    holder: port::holder(routes.listen_port),
                });
            }
            return Err(self.start_failed(format!("`nginx` exited with {}: {said}", output.status)));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            if self.running_pid().is_some() && self.serves(routes, generation).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.start_failed(format!(
                    "it did not answer generation {generation} on {} within {}s",
                    routes.listen_address(),
                    self.timeout.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn start_failed(&self, reason: String) -> RouterError {
        RouterError::StartFailed {
            reason,
            log: self.layout.error_log(),
            tail: tail(&self.layout.error_log(), 0),
        }
    }

    /// Reloads the master `pid`; returns the old workers still draining.
    async fn reload(
        &self,
        pid: u32,
        routes: &Routes,
        generation: u64,
    ) -> Result<Vec<u32>, RouterError> {
        let old_workers = children(pid);
        let log_from = std::fs::metadata(self.layout.error_log()).map_or(0, |meta| meta.len());
        let failed = |reason: String| RouterError::ReloadFailed {
            generation,
            reason,
            log: self.layout.error_log(),
            tail: tail(&self.layout.error_log(), log_from),
        };
        let output = run(self.nginx_command(&["-s", "reload"])).await?;
        if !output.status.success() {
            return Err(failed(format!(
                "`nginx -s reload` exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let accepting_old = old_workers.iter().any(|worker| accepts(*worker));
            if !accepting_old && self.serves(routes, generation).await {
                return Ok(old_workers
                    .into_iter()
                    .filter(|worker| is_alive(*worker))
                    .collect());
            }
            let news = tail(&self.layout.error_log(), log_from);
            if news.contains("[emerg]") {
                return Err(failed(
                    "nginx refused it and kept the previous one".to_owned(),
                ));
            }
            if self.running_pid() != Some(pid) {
                return Err(failed("nginx stopped".to_owned()));
            }
            if Instant::now() >= deadline {
                return Err(failed(format!(
                    "it did not answer the new generation within {}s",
                    self.timeout.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether the router answers generation `generation` at [`super::STATUS_PATH`].
    async fn serves(&self, routes: &Routes, generation: u64) -> bool {
        let host = routes.probe_host();
        let connect = async {
            tokio::net::TcpStream::connect((host, routes.listen_port))
                .await
                .ok()
        };
        config::probe_generation(connect, generation).await
    }

    async fn wait_stopped(&self, pid: u32, within: Duration) -> bool {
        let config = self.layout.config();
        let deadline = Instant::now() + within;
        loop {
            if !is_master_of(pid, &config) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Runs `command` off the async threads; its output.
async fn run(mut command: Command) -> Result<Output, RouterError> {
    let program = PathBuf::from(command.get_program());
    command.stdin(std::process::Stdio::null());
    match tokio::task::spawn_blocking(move || command.output()).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(RouterError::io("cannot run", program, &e)),
        Err(e) => Err(RouterError::Io {
            what: "cannot run",
            path: program,
            message: e.to_string(),
        }),
    }
}

/// The last lines of `path` written after byte `from`.
fn tail(path: &Path, from: u64) -> String {
    const LINES: usize = 10;
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(0).min(bytes.len());
    let text = String::from_utf8_lossy(bytes.get(start..).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let shown = lines
        .get(lines.len().saturating_sub(LINES)..)
        .unwrap_or_default();
    if shown.is_empty() {
        "(nothing)".to_owned()
    } else {
        shown.join("\n")
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// `/proc/PID/cmdline` as text, arguments joined by spaces; `None` when the
/// process is gone or a zombie.
fn command_line(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses.
    let state = stat.rsplit_once(") ")?.1.chars().next()?;
    if matches!(state, 'Z' | 'X') {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&cmdline).replace('\0', " "))
}

/// Whether `pid` is an nginx master started with `config`.
fn is_master_of(pid: u32, config: &Path) -> bool {
    command_line(pid).is_some_and(|line| {
        line.starts_with("nginx: master process") && line.contains(&*config.to_string_lossy())
    })
}

fn is_alive(pid: u32) -> bool {
    command_line(pid).is_some()
}

/// A worker that still takes new connections (alive and not titled
/// "shutting down").
fn accepts(pid: u32) -> bool {
    command_line(pid).is_some_and(|line| !line.contains("shutting down"))
}

/// The child processes of `pid` (nginx's workers and cache helpers).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|child| child.parse().ok())
        .collect()
}
