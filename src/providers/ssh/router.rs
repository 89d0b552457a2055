//! A service's router on a remote host: the server's own nginx (installed by
//! the user, as `nginx-light`), run as its own daemon with its files under
//! the service's remote run folder (`router/`), driven over the shared SSH
//! connection. The configuration is the one [`crate::providers::router`]
//! renders for a local router (same text, same access log format, same
//! status path), so the watch window reads the same numbers.
//!
//! Choices: a new configuration is uploaded as `nginx.next.conf`, checked
//! with `nginx -t`, then renamed over `nginx.conf` and loaded by `nginx -s
//! reload` (or a start) in one remote script, which also waits until every
//! worker of the old configuration has stopped taking connections; the new
//! generation is then confirmed at [`crate::providers::router::STATUS_PATH`] over a `direct-tcpip`
//! channel from the server's side, and the old workers are waited for
//! (drained) by one more script.
//!
//! Invariant: only the nginx master whose command line names this router's
//! configuration is signalled; a configuration nginx refuses never replaces
//! the running one.

use super::conn::{self, Command, Exec, SshConn, Target};
use crate::providers::ProviderError;
use crate::providers::process::front::{DRAIN, Routed, Router};
use crate::providers::router::config::{self, Layout};
use crate::providers::router::{ErrorRate, Routes, Traffic, access_log};
use async_trait::async_trait;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a start or a reload may take to serve.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Finds nginx on the server: `$1` when given, else on `PATH`, else in the
/// sbin folders Debian and source builds use. Prints its path; exit 1 when
/// there is none.
const LOCATE: &str = r#"if [ -n "$1" ]; then [ -x "$1" ] && { echo "$1"; exit 0; }; exit 1; fi
p=$(command -v nginx 2>/dev/null) && { echo "$p"; exit 0; }
for d in /usr/sbin /usr/local/sbin /usr/local/nginx/sbin; do
  [ -x "$d/nginx" ] && { echo "$d/nginx"; exit 0; }
done
exit 1"#;

/// Shell functions the scripts below share: `$conf` must be set. `master`
/// prints the pid of the nginx master running `$conf`, when there is one.
const MASTER: &str = r#"master() {
  p=$(cat "$dir/nginx.pid" 2>/dev/null) || return 1
  c=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) || return 1
  case $c in "nginx: master process"*"$conf"*) echo "$p" ;; *) return 1 ;; esac
}
"#;

/// Checks, installs and loads the next configuration: `$1` nginx, `$2` the
/// router folder. Exit 10: `nginx -t` refused it (its words on stderr); 11: the port is in
/// use; 12: the start failed; 13: the reload failed. Prints `started` or
/// `reloaded` and then the pids of old workers still running.
const LOAD: &str = r#"nginx=$1 dir=$2
conf=$dir/nginx.conf next=$dir/nginx.next.conf
mkdir -p -- "$dir/temp" || exit 12
"$nginx" -t -q -p "$dir" -c "$next" -e "$dir/error.log" || exit 10
pid=$(master)
old=
if [ -n "$pid" ]; then old=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null); fi
mv -f -- "$next" "$conf" || exit 12
if [ -z "$pid" ]; then
  rm -f -- "$dir/nginx.pid"
  out=$("$nginx" -p "$dir" -c "$conf" -e "$dir/error.log" 2>&1) || {
    case $out in *"Address already in use"*) exit 11 ;; esac
    echo "$out" >&2; exit 12; }
  echo started
  exit 0
fi
"$nginx" -p "$dir" -c "$conf" -e "$dir/error.log" -s reload || exit 13
i=0
while [ $i -lt 3000 ]; do
  accepting=
  for w in $old; do
    c=$(tr '\0' ' ' < "/proc/$w/cmdline" 2>/dev/null) || continue
    case $c in *"shutting down"*) ;; *) accepting=1 ;; esac
  done
  [ -z "$accepting" ] && break
  sleep 0.01; i=$((i+1))
done
echo reloaded
for w in $old; do [ -e "/proc/$w" ] && echo "$w"; done
exit 0"#;

/// The remote router of one service.
pub struct RemoteRouter {
    target: Target,
    layout: Layout,
    nginx: String,
    worker_user: Option<String>,
}

impl std::fmt::Debug for RemoteRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRouter")
            .field("target", &self.target.describe())
            .field("dir", &self.layout.dir)
            .finish_non_exhaustive()
    }
}

/// The error for a server without nginx.
pub fn nginx_missing(on: &str, looked: &str) -> ProviderError {
    ProviderError::permanent(format!(
        "nginx is not installed on {on} (looked {looked}); the router of a service with \
         `router = {{ listen = PORT }}` runs the server's nginx: install it there with \
         `sudo apt-get install nginx-light` (Debian/Ubuntu) or `sudo dnf install nginx`, or set \
         the provider's `nginx` to its path"
    ))
    .at(["router"])
    .code(crate::diag::Code::SshNginxMissing)
}

impl RemoteRouter {
    /// The router whose files live in `dir` on the server; `nginx` is the
    /// binary's path there, found when `None`.
    pub async fn open(
        target: Target,
        dir: &Path,
        nginx: Option<&str>,
    ) -> Result<RemoteRouter, ProviderError> {
        let conn = conn::connect(&target).await?;
        let output = script(&conn, LOCATE, &[nginx.unwrap_or_default().to_owned()]).await?;
        let found = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.success() || found.is_empty() {
            let looked = match nginx {
                Some(path) => format!("at {path}, the provider's `nginx`"),
                None => {
                    String::from("on PATH, in /usr/sbin, /usr/local/sbin and /usr/local/nginx/sbin")
                }
            };
            return Err(nginx_missing(&target.describe(), &looked));
        }
        let root = target.user == "root";
        Ok(RemoteRouter {
            target,
            layout: Layout::new(dir),
            nginx: found,
            worker_user: root.then(|| String::from("root")),
        })
    }

    fn dir(&self) -> String {
        self.layout.dir.to_string_lossy().into_owned()
    }

    async fn conn(&self) -> Result<SshConn, ProviderError> {
        conn::connect(&self.target).await
    }

    /// The generation and routes of the configuration on the server, and
    /// whether its nginx runs.
    async fn current(&self) -> Result<(Option<(u64, Routes)>, bool), ProviderError> {
        let conn = self.conn().await?;
        let text = format!(
            "dir=$1 conf=$1/nginx.conf\n{MASTER}if master >/dev/null; then echo running; else echo stopped; fi\ncat -- \"$conf\" 2>/dev/null; exit 0"
        );
        let output = script(&conn, &text, &[self.dir()]).await?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (state, config_text) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        Ok((config::read_header(config_text), state == "running"))
    }

    /// Whether the router answers `generation` at [`crate::providers::router::STATUS_PATH`], asked
    /// from the server's side.
    async fn serves(&self, routes: &Routes, generation: u64) -> bool {
        let Ok(conn) = self.conn().await else {
            return false;
        };
        let host = routes.probe_host();
        let connect = async { conn.direct_tcpip(host, routes.listen_port).await.ok() };
        config::probe_generation(connect, generation).await
    }

    /// The last lines of the error log.
    async fn error_tail(&self) -> String {
        let Ok(conn) = self.conn().await else {
            return String::new();
        };
        let path = self.layout.error_log().to_string_lossy().into_owned();
        match script(&conn, "tail -n 10 -- \"$1\" 2>/dev/null; exit 0", &[path]).await {
            Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            Err(_) => String::new(),
        }
    }

    fn failed(&self, what: &str, detail: &str) -> ProviderError {
        ProviderError::permanent(format!(
            "the router's nginx on {} {what}; its error log {} ends with:\n{detail}",
            self.target.describe(),
            self.layout.error_log().display()
        ))
    }
}

/// Runs `text` with `args` on `conn`.
async fn script(
    conn: &SshConn,
    text: &str,
    args: &[String],
) -> Result<conn::Output, ProviderError> {
    let mut argv = vec![
        String::from("sh"),
        String::from("-c"),
        text.to_owned(),
        String::from("infra"),
    ];
    argv.extend(args.iter().cloned());
    conn.exec(&Exec {
        command: Some(Command::Argv(argv)),
        ..Exec::default()
    })
    .await
}

#[async_trait]
impl Router for RemoteRouter {
    async fn ensure(&self, routes: &Routes) -> Result<Routed, ProviderError> {
        let began = Instant::now();
        let (previous, running) = self.current().await?;
        if let (true, Some((_, current))) = (running, &previous)
            && current == routes
        {
            return Ok(Routed {
                reload: began.elapsed(),
                drain: Duration::ZERO,
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
        )
        .map_err(ProviderError::from)?;
        let listen_moved = previous.as_ref().is_none_or(|(_, current)| {
            current.listen_host != routes.listen_host || current.listen_port != routes.listen_port
        });
        let conn = self.conn().await?;
        let next = self.layout.next_config().to_string_lossy().into_owned();
        conn.script(
            &format!("mkdir -p -- {}", conn::quote(&self.dir())),
            Vec::new(),
            "creating the router folder",
        )
        .await?;
        conn.write_file_atomic(&next, text.as_bytes(), "0644", None, None)
            .await?;
        if (!running || listen_moved) && self.serves_anything(routes).await {
            return Err(ProviderError::permanent(format!(
                "port {} is already in use on {}; stop what listens there or choose another \
                 `router.listen` port",
                routes.listen_port,
                self.target.describe()
            ))
            .at(["router", "listen"]));
        }
        let output = script(
            &conn,
            &format!("{MASTER}{LOAD}"),
            &[self.nginx.clone(), self.dir()],
        )
        .await?;
        let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        match output.status {
            Some(0) => {}
            Some(10) => {
                return Err(ProviderError::permanent(format!(
                    "nginx on {} refused the router configuration {next}: {said}",
                    self.target.describe()
                )));
            }
            Some(11) => {
                return Err(ProviderError::permanent(format!(
                    "port {} is already in use on {}; stop what listens there or choose another \
                     `router.listen` port",
                    routes.listen_port,
                    self.target.describe()
                ))
                .at(["router", "listen"]));
            }
            Some(12) => {
                let tail = self.error_tail().await;
                return Err(self.failed(&format!("did not start: {said}"), &tail));
            }
            _ => {
                let tail = self.error_tail().await;
                return Err(self.failed(
                    &format!(
                        "did not take its new configuration (generation {generation}): {said}"
                    ),
                    &tail,
                ));
            }
        }
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let draining: Vec<String> = stdout
            .lines()
            .skip(1)
            .filter(|line| !line.trim().is_empty())
            .map(str::to_owned)
            .collect();
        let deadline = Instant::now() + TIMEOUT;
        while !self.serves(routes, generation).await {
            if Instant::now() >= deadline {
                let tail = self.error_tail().await;
                return Err(self.failed(
                    &format!(
                        "did not answer generation {generation} on port {} within {}s",
                        routes.listen_port,
                        TIMEOUT.as_secs()
                    ),
                    &tail,
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = began.elapsed();
        let drain_began = Instant::now();
        if !draining.is_empty() {
            // Old workers finish the requests they hold; wait for them.
            let mut args = vec![(DRAIN.as_millis() / 10).to_string()];
            args.extend(draining);
            let _ = script(
                &conn,
                r#"limit=$1; shift; i=0
while [ $i -lt "$limit" ]; do
  left=; for w in "$@"; do [ -e "/proc/$w" ] && left=1; done
  [ -z "$left" ] && exit 0
  sleep 0.01; i=$((i+1))
done
exit 0"#,
                &args,
            )
            .await;
        }
        Ok(Routed {
            reload: took,
            drain: drain_began.elapsed(),
        })
    }

    async fn log_end(&self) -> u64 {
        let Ok(conn) = self.conn().await else {
            return 0;
        };
        let path = self.layout.access_log().to_string_lossy().into_owned();
        match script(&conn, "wc -c < \"$1\" 2>/dev/null || echo 0", &[path]).await {
            Ok(output) => String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse()
                .unwrap_or(0),
            Err(_) => 0,
        }
    }

    async fn error_rate(&self, since: u64, traffic: &Traffic) -> Result<ErrorRate, ProviderError> {
        let conn = self.conn().await?;
        let path = self.layout.access_log().to_string_lossy().into_owned();
        // The first line says where the bytes start: 0 when the log is now
        // shorter than `since` (it was rotated).
        let output = script(
            &conn,
            r#"f=$1 since=$2
[ -f "$f" ] || { echo 0; exit 0; }
size=$(wc -c < "$f")
if [ "$size" -lt "$since" ]; then echo 0; cat -- "$f"; else echo "$since"; tail -c +"$((since + 1))" -- "$f"; fi"#,
            &[path, since.to_string()],
        )
        .await?;
        let (first, rest) = match output.stdout.iter().position(|b| *b == b'\n') {
            Some(at) => (
                output.stdout.get(..at).unwrap_or_default(),
                output.stdout.get(at + 1..).unwrap_or_default(),
            ),
            None => (output.stdout.as_slice(), &[][..]),
        };
        let from = String::from_utf8_lossy(first).trim().parse().unwrap_or(0);
        Ok(access_log::error_rate(rest, from, traffic))
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        let conn = self.conn().await?;
        let text = format!(
            r#"nginx=$1 dir=$2 conf=$2/nginx.conf
{MASTER}pid=$(master) || exit 0
"$nginx" -p "$dir" -c "$conf" -e "$dir/error.log" -s quit 2>/dev/null
for signal in none TERM KILL; do
  [ "$signal" = none ] || kill -s "$signal" "$pid" 2>/dev/null
  i=0
  while [ $i -lt 1000 ]; do master >/dev/null || exit 0; sleep 0.01; i=$((i+1)); done
done
exit 1"#
        );
        let output = script(&conn, &text, &[self.nginx.clone(), self.dir()]).await?;
        if output.success() {
            Ok(())
        } else {
            Err(ProviderError::permanent(format!(
                "the router's nginx on {} did not stop after `nginx -s quit`, SIGTERM and SIGKILL",
                self.target.describe()
            )))
        }
    }
}

impl RemoteRouter {
    /// Whether something answers on the listen port now (before a start:
    /// the port is taken by another program).
    async fn serves_anything(&self, routes: &Routes) -> bool {
        let Ok(conn) = self.conn().await else {
            return false;
        };
        matches!(
            tokio::time::timeout(
                Duration::from_secs(5),
                conn.direct_tcpip("127.0.0.1", routes.listen_port)
            )
            .await,
            Ok(Ok(_))
        )
    }
}
