//! A remote host as a [`Machine`] for the `process` provider's deploy
//! strategies: `service` blocks with `provider = ssh` run there with the same
//! recreate, rolling, blue-green and canary deploys, watch window, rollback
//! and resume as on this machine (see `docs/providers/ssh.md`).
//!
//! A process is started by one remote script: it checks the program, makes
//! the run folder, and starts the `process` provider's own launch script
//! ([`RECORD_THEN_EXEC`]) under `setsid`, detached, its output appended to
//! the slot's logs; the child writes its pidfile (pid and start time from
//! `/proc/PID/stat`) before it becomes the program, exactly as on this
//! machine. The script waits for that pidfile and prints it.
//!
//! Choices: health checks and smoke tests run *from the remote side* over
//! `direct-tcpip` channels of the shared connection (what `ssh -L` uses):
//! `127.0.0.1` in a check is the server's loopback, nothing needs to be
//! installed on the server (no curl), no process is started per probe, and a
//! probe costs one channel open, not a login. `exec` checks run on the
//! server with `timeout`. A port is free when the server refuses a
//! `direct-tcpip` connection to it; free ports are looked for below the
//! server's ephemeral range (see `port_window`).
//!
//! Invariant: the service's environment (which may hold secrets) reaches
//! the remote process through the command's stdin only (see
//! [`SshConn::exec`]); the remote command lines hold paths, ports, slots and
//! `run`, never an `env` value.

use super::conn::{self, Command, Exec, SshConn, Target};
use super::router::RemoteRouter;
use crate::providers::ProviderError;
use crate::providers::process::front::Router;
use crate::providers::process::machine::{Launch, Machine, RECORD_THEN_EXEC, Running, parse_stat};
use crate::providers::process::spec::{Check, SmokeSpec};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The remote start script: `$1` the launch script, `$2` the run folder, `$3`
/// the workdir, `$4` the slot, `$5` the port (or empty), then the argv.
/// Exit 45: no such program; 46: no run folder; 47: no workdir; 48: no
/// pidfile appeared (the launch failed at once).
const START: &str = r#"launch=$1 run=$2 workdir=$3 slot=$4 port=$5
shift 5
mkdir -p -- "$run" || exit 46
cd -- "$workdir" 2>/dev/null || exit 47
case $1 in
  */*) [ -x "$1" ] || exit 45 ;;
  *) command -v "$1" >/dev/null 2>&1 || exit 45 ;;
esac
pidfile=$run/$slot.pid
rm -f -- "$pidfile"
[ -n "$port" ] && export PORT="$port"
if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=; fi
$detach sh -c "$launch" infra-launch "$pidfile" "$port" "$@" </dev/null >>"$run/$slot.stdout.log" 2>>"$run/$slot.stderr.log" &
i=0
while [ ! -s "$pidfile" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done
cat -- "$pidfile" 2>/dev/null || exit 48
"#;

/// The remote stop script: `$1` pid, `$2` start time, `$3` grace in
/// hundredths of a second. Only the process with that pid *and* start time
/// is signalled (its process group first: `setsid` made it its own).
const STOP: &str = r#"pid=$1 start=$2 grace=$3
alive() {
  s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  r=${s##*) }
  set -- $r
  case $1 in Z|X) return 1 ;; esac
  shift 19
  [ "$1" = "$start" ]
}
alive || exit 0
kill -TERM -- "-$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null
i=0
while alive && [ $i -lt "$grace" ]; do sleep 0.01; i=$((i+1)); done
if alive; then kill -KILL -- "-$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; fi
exit 0
"#;

/// The largest response a check reads.
const MAX_ANSWER: usize = 64 * 1024;

/// A remote host reached over the shared SSH connection.
pub struct SshMachine {
    target: Target,
    /// The `nginx` setting: the binary on the server, when given.
    nginx: Option<String>,
    /// Ports handed out by [`Machine::free_port`] in this run, so two
    /// processes started one after the other do not get the same one.
    handed_out: Mutex<BTreeSet<u16>>,
}

impl std::fmt::Debug for SshMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshMachine")
            .field("target", &self.target.describe())
            .finish_non_exhaustive()
    }
}

impl SshMachine {
    /// The host of `target`; `nginx` is the router's binary on it (found on
    /// the server's `PATH` or in its sbin folders when `None`).
    pub fn new(target: Target, nginx: Option<String>) -> Self {
        SshMachine {
            target,
            nginx,
            handed_out: Mutex::new(BTreeSet::new()),
        }
    }

    async fn conn(&self) -> Result<SshConn, ProviderError> {
        conn::connect(&self.target).await
    }

    /// Runs `argv` on the server (no environment); its output.
    async fn run(&self, argv: Vec<String>) -> Result<conn::Output, ProviderError> {
        self.conn()
            .await?
            .exec(&Exec {
                command: Some(Command::Argv(argv)),
                ..Exec::default()
            })
            .await
    }

    /// Runs `script` with `args` (`$1`…) on the server.
    async fn script(&self, script: &str, args: &[String]) -> Result<conn::Output, ProviderError> {
        let mut argv = vec![
            String::from("sh"),
            String::from("-c"),
            script.to_owned(),
            String::from("infra"),
        ];
        argv.extend(args.iter().cloned());
        self.run(argv).await
    }

    /// The remote home folder: where the run folders are (`$HOME/.infra/run/…`)
    /// and what a relative `workdir` is relative to.
    pub async fn home(&self) -> Result<String, ProviderError> {
        let output = self.script("printf '%s' \"$HOME\"", &[]).await?;
        let home = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.success() || !home.starts_with('/') {
            return Err(ProviderError::permanent(format!(
                "cannot find the home folder of {} (it has no absolute $HOME)",
                self.target.describe()
            )));
        }
        Ok(home)
    }

    fn path(path: &Path) -> String {
        path.to_string_lossy().into_owned()
    }

    /// The `/proc/net/tcp*` ports the server uses now.
    /// The TCP ports in use on the server (any state), and its ephemeral
    /// range (`net.ipv4.ip_local_port_range`), when it can be read.
    async fn used_ports(&self) -> (BTreeSet<u16>, Option<(u32, u32)>) {
        let Ok(output) = self
            .script(
                "echo \"range $(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)\"; \
                 cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; exit 0",
                &[],
            )
            .await
        else {
            return (BTreeSet::new(), None);
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let ephemeral = lines.next().and_then(|line| {
            let mut numbers = line
                .strip_prefix("range")?
                .split_whitespace()
                .map(|n| n.parse::<u32>().ok());
            Some((numbers.next()??, numbers.next()??))
        });
        // The tables' header lines have no hex port: they are skipped.
        let used = lines
            .filter_map(|line| {
                let local = line.split_whitespace().nth(1)?;
                u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
            })
            .collect();
        (used, ephemeral)
    }
}

/// `http://HOST[:PORT]/PATH` split; only plain HTTP (a check on the server's
/// loopback needs no TLS).
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "{url}: a check on a remote host takes an http:// URL (it runs from the server's side)"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (
            host.trim_start_matches('[').trim_end_matches(']'),
            port.parse::<u16>()
                .map_err(|_| format!("{url}: `{port}` is not a port"))?,
        ),
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok((host.to_owned(), port, path.to_owned()))
}

impl SshMachine {
    /// A GET of `url` from the server's side: its status and body.
    async fn get(&self, url: &str, timeout: Duration) -> Result<(u16, String), String> {
        let (host, port, path) = split_url(url)?;
        let request = async {
            let conn = self.conn().await.map_err(|e| e.message)?;
            let mut stream = conn
                .direct_tcpip(&host, port)
                .await
                .map_err(|_| format!("GET {url}: the server could not connect to {host}:{port}"))?;
            let head = format!(
                "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\nUser-Agent: infra\r\n\r\n"
            );
            stream
                .write_all(head.as_bytes())
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let mut answer = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                match stream.read(&mut chunk).await {
                    Ok(0) => break,
                    Ok(n) => {
                        answer.extend_from_slice(chunk.get(..n).unwrap_or_default());
                        if answer.len() > MAX_ANSWER {
                            break;
                        }
                    }
                    Err(e) if answer.is_empty() => return Err(format!("GET {url}: {e}")),
                    Err(_) => break,
                }
            }
            let text = String::from_utf8_lossy(&answer).into_owned();
            let status = text
                .lines()
                .next()
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|code| code.parse::<u16>().ok())
                .ok_or_else(|| format!("GET {url}: no HTTP answer"))?;
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, body)| body.to_owned())
                .unwrap_or_default();
            Ok((status, body))
        };
        match tokio::time::timeout(timeout, request).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("GET {url}: no answer within {timeout:?}")),
        }
    }
}

#[async_trait]
impl Machine for SshMachine {
    async fn start(&self, launch: &Launch) -> Result<Running, ProviderError> {
        let program = launch.argv.first().cloned().unwrap_or_default();
        if let Some(port) = launch.port {
            // A port a process just stopped on may take a moment to be free.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while !self.port_free(port).await {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ProviderError::permanent(format!(
                        "port {port} is in use on {}",
                        self.target.describe()
                    ))
                    .at(["port"]));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let mut argv = vec![
            String::from("sh"),
            String::from("-c"),
            START.to_owned(),
            String::from("infra-start"),
            RECORD_THEN_EXEC.to_owned(),
            Self::path(&launch.run_dir),
            Self::path(&launch.workdir),
            launch.slot.clone(),
            launch.port.map(|p| p.to_string()).unwrap_or_default(),
        ];
        argv.extend(launch.argv.iter().cloned());
        let env: BTreeMap<String, String> = launch.env.iter().cloned().collect();
        let output = self
            .conn()
            .await?
            .exec(&Exec {
                command: Some(Command::Argv(argv)),
                env,
                stdin: Vec::new(),
            })
            .await?;
        let on = self.target.describe();
        match output.status {
            Some(0) => {}
            Some(45) => {
                return Err(ProviderError::permanent(format!(
                    "the command `{program}` was not found on {on} (looked in {})",
                    if program.contains('/') {
                        Self::path(&launch.workdir)
                    } else {
                        String::from("the remote PATH")
                    }
                ))
                .at(["run"])
                .code(crate::diag::Code::SshCommandNotFound));
            }
            Some(46) => {
                return Err(ProviderError::permanent(format!(
                    "cannot create the run folder {} on {on}",
                    launch.run_dir.display()
                )));
            }
            Some(47) => {
                return Err(ProviderError::permanent(format!(
                    "the workdir {} does not exist on {on}",
                    launch.workdir.display()
                ))
                .at(["workdir"]));
            }
            _ => {
                return Err(ProviderError::permanent(format!(
                    "`{program}` exited as soon as it started on {on}; the end of its logs ({}):\n{}",
                    launch.run_dir.display(),
                    self.log_tail(&launch.run_dir, &launch.slot, 10).await
                ))
                .at(["run"]));
            }
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut parts = text.split_whitespace();
        let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
        let start_time = parts.next().and_then(|s| s.parse::<u64>().ok());
        match (pid, start_time) {
            (Some(pid), Some(start_time)) => Ok(Running {
                slot: launch.slot.clone(),
                pid,
                start_time,
                port: launch.port,
            }),
            _ => Err(ProviderError::permanent(format!(
                "the pidfile of {} on {on} is not `PID START_TIME`",
                launch.slot
            ))),
        }
    }

    async fn alive(&self, process: &Running) -> bool {
        let Ok(output) = self
            .run(vec![
                String::from("cat"),
                format!("/proc/{}/stat", process.pid),
            ])
            .await
        else {
            // Unreachable is not dead: a read during an outage reports the
            // error elsewhere; a deploy treats it as alive and probes.
            return true;
        };
        output.success()
            && parse_stat(&String::from_utf8_lossy(&output.stdout)).is_some_and(|(state, start)| {
                start == process.start_time && !matches!(state, 'Z' | 'X')
            })
    }

    async fn stop(&self, process: &Running, grace: Duration) {
        let hundredths = (grace.as_millis() / 10).max(1).to_string();
        let _ = self
            .script(
                STOP,
                &[
                    process.pid.to_string(),
                    process.start_time.to_string(),
                    hundredths,
                ],
            )
            .await;
    }

    async fn probe(&self, check: &Check, timeout: Duration) -> Result<(), String> {
        match check {
            Check::Http(url) => {
                let (status, _) = self.get(url, timeout).await?;
                if (200..400).contains(&status) {
                    Ok(())
                } else {
                    Err(format!("GET {url} answered {status}"))
                }
            }
            Check::Tcp(address) => {
                let (host, port) = address
                    .rsplit_once(':')
                    .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
                    .ok_or_else(|| format!("`{address}` is not HOST:PORT"))?;
                let open = async {
                    let conn = self.conn().await.map_err(|e| e.message)?;
                    conn.direct_tcpip(host, port)
                        .await
                        .map(drop)
                        .map_err(|_| format!("connect {address}: refused on the server"))
                };
                match tokio::time::timeout(timeout, open).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("connect {address}: no answer within {timeout:?}")),
                }
            }
            Check::Exec(argv) => {
                let shown = argv.first().cloned().unwrap_or_default();
                let mut command = vec![
                    String::from("timeout"),
                    format!("{:.3}", timeout.as_secs_f64()),
                ];
                command.extend(argv.iter().cloned());
                match self.run(command).await {
                    Ok(output) if output.success() => Ok(()),
                    Ok(output) if output.status == Some(124) => {
                        Err(format!("`{shown}`: did not finish within {timeout:?}"))
                    }
                    Ok(output) => Err(format!(
                        "`{shown}`: exited with {}",
                        output
                            .status
                            .map_or_else(|| String::from("a signal"), |s| s.to_string())
                    )),
                    Err(error) => Err(format!("`{shown}`: {}", error.message)),
                }
            }
        }
    }

    async fn smoke(&self, smoke: &SmokeSpec, timeout: Duration) -> Result<(), String> {
        let (status, body) = self.get(&smoke.http, timeout).await?;
        crate::providers::process::probe::smoke_answer(smoke, status, &body)
    }

    async fn log_tail(&self, run_dir: &Path, slot: &str, lines: usize) -> String {
        let script = r#"for s in stderr stdout; do
  f=$1/$2.$s.log
  if [ -s "$f" ]; then echo "$s:"; tail -n "$3" -- "$f" | sed 's/^/  /'; fi
done
exit 0"#;
        match self
            .script(
                script,
                &[Self::path(run_dir), slot.to_owned(), lines.to_string()],
            )
            .await
        {
            Ok(output) if !output.stdout.is_empty() => String::from_utf8_lossy(&output.stdout)
                .trim_end()
                .to_owned(),
            Ok(_) => String::from("(its logs are empty)"),
            Err(error) => format!("(its logs could not be read: {})", error.message),
        }
    }

    async fn free_port(&self) -> Result<u16, ProviderError> {
        let (used, ephemeral) = self.used_ports().await;
        for port in crate::providers::process::machine::port_candidates(ephemeral) {
            let fresh = {
                let mut handed = match self.handed_out.lock() {
                    Ok(handed) => handed,
                    Err(poisoned) => poisoned.into_inner(),
                };
                !used.contains(&port) && handed.insert(port)
            };
            if fresh && self.port_free(port).await {
                return Ok(port);
            }
        }
        Err(ProviderError::permanent(format!(
            "no free port on {}",
            self.target.describe()
        )))
    }

    async fn port_free(&self, port: u16) -> bool {
        let Ok(conn) = self.conn().await else {
            return false;
        };
        let open = conn.direct_tcpip("127.0.0.1", port);
        !matches!(
            tokio::time::timeout(Duration::from_secs(5), open).await,
            Ok(Ok(_)) | Err(_)
        )
    }

    async fn pidfiles(&self, run_dir: &Path) -> Vec<Running> {
        let script = r#"for f in "$1"/*.pid; do
  [ -f "$f" ] || continue
  n=${f##*/}
  printf '%s %s\n' "${n%.pid}" "$(cat -- "$f")"
done
exit 0"#;
        let Ok(output) = self.script(script, &[Self::path(run_dir)]).await else {
            return Vec::new();
        };
        let mut found: Vec<Running> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                Some(Running {
                    slot: parts.next()?.to_owned(),
                    pid: parts.next()?.parse().ok()?,
                    start_time: parts.next()?.parse().ok()?,
                    port: parts.next().and_then(|p| p.parse().ok()),
                })
            })
            .collect();
        found.sort_by(|a, b| a.slot.cmp(&b.slot));
        found
    }

    async fn router(&self, dir: &Path) -> Result<Box<dyn Router>, ProviderError> {
        let router = RemoteRouter::open(self.target.clone(), dir, self.nginx.as_deref()).await?;
        Ok(Box::new(router))
    }

    fn files_are_local(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::providers::process::machine::port_window;

    #[test]
    fn free_ports_are_looked_for_below_the_servers_ephemeral_range() {
        // Linux's default range: 32768-60999.
        assert_eq!(port_window(Some((32_768, 60_999))), (12_768, 20_000));
        let (first, count) = port_window(Some((32_768, 60_999)));
        assert!(first + count - 1 < 32_768);
        assert_eq!(port_window(Some((15_000, 65_000))), (10_000, 5_000));
        // Too little room below, unknown, or nonsense: the old window.
        for range in [
            Some((10_500, 65_000)),
            Some((1_024, 65_535)),
            None,
            Some((40_000, 30_000)),
        ] {
            assert_eq!(port_window(range), (20_000, 30_000), "{range:?}");
        }
    }

    #[test]
    fn check_urls_are_split_into_host_port_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/health").unwrap(),
            ("127.0.0.1".into(), 8080, "/health".into())
        );
        assert_eq!(
            split_url("http://localhost").unwrap(),
            ("localhost".into(), 80, "/".into())
        );
        assert_eq!(
            split_url("http://[::1]:81/x?y=1").unwrap(),
            ("::1".into(), 81, "/x?y=1".into())
        );
        assert!(split_url("https://example.com/").is_err());
        assert!(split_url("http://host:notaport/").is_err());
    }
}
