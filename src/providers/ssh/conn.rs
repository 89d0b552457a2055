//! The SSH connection layer: a process-wide pool of authenticated
//! connections, one per target, each with a semaphore that bounds how many
//! session channels run on it at once; and the remote operations every
//! resource (and remote services) is built from: run a command, write a
//! file atomically, make a folder, read a file, stat and hash many at once,
//! remove some, and open a TCP stream from the remote side.
//!
//! Terminology: a *target* is where and as whom to log in (host, port, user,
//! the pinned host key and the private key); a *session* is one channel of
//! a connection (an exec, an SFTP subsystem or a direct-tcpip stream).
//!
//! Choices: files are written and stat'd by SFTP (see `sftp`): a few
//! subsystem channels opened once per connection, every upload and stat
//! pipelined on them, so no remote process runs per file. Each `exec`
//! channel costs the server a login shell and whatever its rc files run
//! (on a server whose `.bashrc` starts pyenv, over 100 ms): one exec per
//! upload made 1,000 files take minutes. A server without SFTP, or a
//! relative path (SFTP would resolve it from the login's home, not from
//! the shell's folder), gets the exec way: `cat` to a temp name in the same
//! folder, size checked, then `mv`; hashes by one `stat` and one
//! `sha256sum` per batch. User and group names come from `getent`, asked
//! once per id and connection. Environment variables reach the remote
//! command on stdin (a shell `eval` of quoted assignments read with
//! `head -c`), never on its command line, which `ps` shows to every user.
//! The remote side needs a POSIX shell and GNU coreutils (`stat -c`,
//! `sha256sum`, `xargs -d`) and `getent`: any Linux server.
//!
//! Invariant: the host key is checked against the pinned one before any
//! credential is sent; no secret (private key, passphrase, environment
//! value, file content) is ever written into an error message or into a
//! remote command line.

use super::sftp::{self, Attrs};
use crate::providers::ProviderError;
use futures_util::future::join_all;
use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::{ChannelMsg, ChannelStream, Disconnect};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Where and as whom to log in.
#[derive(Clone)]
pub struct Target {
    /// The server's name or address.
    pub host: String,
    /// Its SSH port.
    pub port: u16,
    /// The remote user.
    pub user: String,
    /// The pinned host key.
    pub host_key: PublicKey,
    /// The (decrypted) private key to log in with.
    pub private_key: Arc<PrivateKey>,
    /// How long connecting and logging in may take.
    pub connect_timeout: Duration,
    /// At most this many sessions at once on the connection.
    pub max_sessions: usize,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// `user@host:port`, for messages.
    pub fn describe(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }

    /// The pool key: one connection per host, port and user (and keys, so
    /// two stacks pinning different keys never share a connection).
    fn key(&self) -> PoolKey {
        (
            self.host.clone(),
            self.port,
            self.user.clone(),
            fingerprint(&self.host_key),
            fingerprint(self.private_key.public_key()),
        )
    }
}

type PoolKey = (String, u16, String, String, String);

/// The SHA-256 fingerprint of a public key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// How many SSH connections this process has opened (for tests and the
/// benchmark: 50 uploads over one connection open one).
static OPENED: AtomicUsize = AtomicUsize::new(0);

/// The number of connections opened by this process so far.
pub fn connections_opened() -> usize {
    OPENED.load(Ordering::Relaxed)
}

/// The process-wide pool: live connections by target.
fn pool() -> &'static Mutex<HashMap<PoolKey, SshConn>> {
    static POOL: OnceLock<Mutex<HashMap<PoolKey, SshConn>>> = OnceLock::new();
    POOL.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The one connection-making lock per key, so concurrent first callers do
/// not each open a connection.
fn connecting(key: &PoolKey) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PoolKey, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut locks = match locks.lock() {
        Ok(locks) => locks,
        Err(poisoned) => poisoned.into_inner(),
    };
    locks.entry(key.clone()).or_default().clone()
}

fn cached(key: &PoolKey) -> Option<SshConn> {
    let pool = match pool().lock() {
        Ok(pool) => pool,
        Err(poisoned) => poisoned.into_inner(),
    };
    pool.get(key)
        .filter(|conn| !conn.handle.is_closed() && !*conn.closed.borrow())
        .cloned()
}

/// The shared connection to `target`: the pooled one while it is open, else
/// a new one (host key checked, logged in).
pub async fn connect(target: &Target) -> Result<SshConn, ProviderError> {
    let key = target.key();
    if let Some(conn) = cached(&key) {
        return Ok(conn);
    }
    let lock = connecting(&key);
    let _guard = lock.lock().await;
    if let Some(conn) = cached(&key) {
        return Ok(conn);
    }
    let conn = open(target).await?;
    let mut pool = match pool().lock() {
        Ok(pool) => pool,
        Err(poisoned) => poisoned.into_inner(),
    };
    pool.insert(key, conn.clone());
    Ok(conn)
}

/// Drops the pooled connection to `target` (after a failure that suggests
/// it is broken), so the next call opens a new one.
pub fn forget(target: &Target) {
    let mut pool = match pool().lock() {
        Ok(pool) => pool,
        Err(poisoned) => poisoned.into_inner(),
    };
    pool.remove(&target.key());
}

/// Checks the server's key against the pinned one and remembers what it
/// saw. It lives as long as the connection's session task: dropping it says
/// the connection is gone (see `SshConn::run`).
struct Pinned {
    pinned: PublicKey,
    seen: Arc<Mutex<Option<PublicKey>>>,
    closed: tokio::sync::watch::Sender<bool>,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = self.closed.send(true);
    }
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // A host certificate is judged by the key it certifies: the pin is a key.
        let key = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(certificate) => {
                PublicKey::from(certificate.public_key().clone())
            }
        };
        let matches = key.key_data() == self.pinned.key_data();
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(key);
        }
        Ok(matches)
    }
}

async fn open(target: &Target) -> Result<SshConn, ProviderError> {
    let seen = Arc::new(Mutex::new(None));
    let (closed_sender, closed) = tokio::sync::watch::channel(false);
    let handler = Pinned {
        pinned: target.host_key.clone(),
        seen: seen.clone(),
        closed: closed_sender,
    };
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(15)),
        nodelay: true,
        ..client::Config::default()
    });
    let where_to = target.describe();
    let login = async {
        let mut handle = client::connect(config, (target.host.as_str(), target.port), handler)
            .await
            .map_err(|error| connect_error(target, &seen, &error))?;
        // Ed25519 and ECDSA keys only (no `rsa` feature): no RSA hash to pick.
        let key = PrivateKeyWithHashAlg::new(target.private_key.clone(), None);
        let auth = handle
            .authenticate_publickey(target.user.clone(), key)
            .await
            .map_err(|error| {
                ProviderError::transient(format!("logging in to {where_to} failed: {error}"))
            })?;
        if !auth.success() {
            return Err(ProviderError::permanent(format!(
                "{where_to} refused the private key (public key {}): the key is not in the \
                 user's authorized_keys, or the user is wrong",
                fingerprint(target.private_key.public_key())
            ))
            .at(["private_key"])
            .code(crate::diag::Code::SshKeyRefused));
        }
        Ok(handle)
    };
    let handle = match tokio::time::timeout(target.connect_timeout, login).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(ProviderError::transient(format!(
                "connecting to {where_to} timed out after {}s (connect_timeout)",
                target.connect_timeout.as_secs_f64()
            ))
            .at(["connect_timeout"])
            .code(crate::diag::Code::SshConnectTimeout));
        }
    };
    OPENED.fetch_add(1, Ordering::Relaxed);
    Ok(SshConn {
        handle: Arc::new(handle),
        sessions: Arc::new(Semaphore::new(target.max_sessions.max(1))),
        target: Arc::new(target.clone()),
        closed,
        sftp: Arc::new(tokio::sync::OnceCell::new()),
        names: Arc::new(tokio::sync::Mutex::new(Names::default())),
    })
}

fn connect_error(
    target: &Target,
    seen: &Mutex<Option<PublicKey>>,
    error: &russh::Error,
) -> ProviderError {
    let where_to = target.describe();
    if matches!(error, russh::Error::UnknownKey) {
        let seen = seen.lock().ok().and_then(|seen| seen.clone());
        let seen = match seen {
            Some(key) => format!("{} {}", key.algorithm(), fingerprint(&key)),
            None => "no key".to_owned(),
        };
        return ProviderError::permanent(format!(
            "the host key of {}:{} is not the pinned one: the server offered {seen}, `host_key` \
             pins {} {}; if the server was reinstalled, check its new key out of band \
             (ssh-keyscan, the hosting console) and update `host_key`",
            target.host,
            target.port,
            target.host_key.algorithm(),
            fingerprint(&target.host_key)
        ))
        .at(["host_key"])
        .code(crate::diag::Code::SshHostKeyMismatch);
    }
    ProviderError::transient(format!("connecting to {where_to} failed: {error}"))
}

/// A command to run remotely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Arguments, quoted for the remote shell; the first is the program.
    Argv(Vec<String>),
    /// A script for `sh -c`.
    Script(String),
}

impl Command {
    /// The command as the remote shell reads it.
    fn shell(&self) -> String {
        match self {
            Command::Argv(argv) => {
                let quoted: Vec<String> = argv.iter().map(|arg| quote(arg)).collect();
                format!("exec {}", quoted.join(" "))
            }
            Command::Script(script) => format!("exec sh -c {}", quote(script)),
        }
    }
}

/// One remote command: what to run, its environment (values may be
/// secrets: they travel on stdin) and the bytes for its stdin.
#[derive(Debug, Clone, Default)]
pub struct Exec {
    /// The command; `None` runs nothing (used internally).
    pub command: Option<Command>,
    /// Environment variables, by name.
    pub env: BTreeMap<String, String>,
    /// The command's stdin.
    pub stdin: Vec<u8>,
}

/// What a remote command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The exit status; `None` when the command died without one (a signal).
    pub status: Option<u32>,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// The last `lines` lines of stderr, lossily decoded.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// The state of one remote file, as `hash_files` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// SHA-256 of the content, hex; `None` for something that is not a
    /// regular file (a folder).
    pub sha256: Option<String>,
    /// The mode, four octal digits (`0644`).
    pub mode: String,
    /// The owner's name.
    pub owner: String,
    /// The group's name.
    pub group: String,
    /// `regular file`, `directory`, … as `stat %F` says.
    pub kind: String,
}

/// Quotes a word for a POSIX shell.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// How many SFTP channels a connection opens: half its sessions, at most
/// four, none when only one session is allowed (exec needs one). An SFTP
/// server answers one request at a time and an fsync holds it for
/// milliseconds, while the disk syncs several files in about the time of
/// one: 1,000 uploads sync several times faster over four channels than
/// over one (docs/performance.md).
fn sftp_channels(max_sessions: usize) -> usize {
    match max_sessions {
        0 | 1 => 0,
        n => (n / 2).clamp(1, 4),
    }
}

/// User and group names by id, and ids by name, as `getent` gave them.
#[derive(Debug, Default)]
struct Names {
    users: HashMap<String, (u32, String)>,
    groups: HashMap<String, (u32, String)>,
}

/// A connection shared by every resource on one target.
#[derive(Clone)]
pub struct SshConn {
    handle: Arc<Handle<Pinned>>,
    sessions: Arc<Semaphore>,
    target: Arc<Target>,
    /// Turns true when the connection's session task ends.
    closed: tokio::sync::watch::Receiver<bool>,
    /// Its SFTP channels, once asked for; `None` when the server has no SFTP.
    sftp: Arc<tokio::sync::OnceCell<Option<Arc<sftp::Pool>>>>,
    /// Names of user and group ids (and the reverse), asked once each.
    names: Arc<tokio::sync::Mutex<Names>>,
}

impl std::fmt::Debug for SshConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConn")
            .field("target", &self.target.describe())
            .finish_non_exhaustive()
    }
}

impl SshConn {
    /// Runs a command and waits for it; a non-zero exit is an `Ok` output
    /// (callers decide), a broken connection a transient error.
    pub async fn exec(&self, exec: &Exec) -> Result<Output, ProviderError> {
        let _permit = self
            .sessions
            .acquire()
            .await
            .map_err(|_| ProviderError::transient("the SSH connection was closed"))?;
        let mut stdin = Vec::new();
        let mut line = String::new();
        if !exec.env.is_empty() {
            let mut assignments = String::new();
            for (name, value) in &exec.env {
                if !valid_env_name(name) {
                    return Err(ProviderError::permanent(format!(
                        "`{name}` is not a valid environment variable name"
                    ))
                    .at(["env", name.as_str()]));
                }
                assignments.push_str(&format!("export {name}={}\n", quote(value)));
            }
            line.push_str(&format!("eval \"$(head -c {})\" && ", assignments.len()));
            stdin.extend_from_slice(assignments.as_bytes());
        }
        stdin.extend_from_slice(&exec.stdin);
        match &exec.command {
            Some(command) => line.push_str(&command.shell()),
            None => line.push_str("true"),
        }
        let result = self.run(&line, &stdin).await;
        if result.is_err() && (self.handle.is_closed() || *self.closed.borrow()) {
            forget(&self.target);
        }
        result
    }

    /// Runs one exec channel to its end; a connection that drops meanwhile
    /// ends it with a transient error (a channel waiting for window space
    /// would otherwise wait forever).
    async fn run(&self, line: &str, stdin: &[u8]) -> Result<Output, ProviderError> {
        let mut closed = self.closed.clone();
        tokio::select! {
            result = self.run_channel(line, stdin) => result,
            _ = closed.wait_for(|closed| *closed) => Err(ProviderError::transient(format!(
                "the SSH connection to {} dropped while a command ran",
                self.target.describe()
            ))),
        }
    }

    async fn run_channel(&self, line: &str, stdin: &[u8]) -> Result<Output, ProviderError> {
        let broken = |error: russh::Error| {
            ProviderError::transient(format!(
                "the SSH session to {} failed: {error}",
                self.target.describe()
            ))
        };
        let mut channel = self.handle.channel_open_session().await.map_err(broken)?;
        channel.exec(true, line.as_bytes()).await.map_err(broken)?;
        if !stdin.is_empty() {
            channel.data(stdin).await.map_err(broken)?;
        }
        channel.eof().await.map_err(broken)?;
        let mut output = Output::default();
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => output.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    output.stderr.extend_from_slice(&data);
                }
                ChannelMsg::ExitStatus { exit_status } => output.status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        if output.status.is_none() && self.handle.is_closed() {
            return Err(ProviderError::transient(format!(
                "the SSH connection to {} dropped while a command ran",
                self.target.describe()
            )));
        }
        Ok(output)
    }

    /// Runs a fixed internal script with `stdin`, failing unless it exits 0.
    pub(crate) async fn script(
        &self,
        script: &str,
        stdin: Vec<u8>,
        doing: &str,
    ) -> Result<Output, ProviderError> {
        let output = self
            .exec(&Exec {
                command: Some(Command::Script(script.to_owned())),
                env: BTreeMap::new(),
                stdin,
            })
            .await?;
        if output.success() {
            return Ok(output);
        }
        Err(ProviderError::permanent(format!(
            "{doing} on {} failed (exit {}): {}",
            self.target.describe(),
            output
                .status
                .map_or("by signal".to_owned(), |s| s.to_string()),
            output.stderr_tail(5)
        )))
    }

    /// The connection's SFTP channels, opened on first use; `None` when the
    /// server has no SFTP subsystem (or `max_sessions` leaves no room).
    async fn sftp(&self) -> Result<Option<Arc<sftp::Pool>>, ProviderError> {
        let opening = self.sftp.get_or_try_init(|| async {
            let count = sftp_channels(self.target.max_sessions);
            // The login's own names, asked meanwhile: most files are its.
            let (opened, ()) = tokio::join!(
                join_all((0..count).map(|_| self.open_sftp_channel())),
                self.ask_own_names()
            );
            let mut channels = Vec::new();
            for channel in opened {
                match channel {
                    Ok(channel) => channels.push(channel),
                    Err(sftp::OpenError::Unsupported) => {}
                    Err(sftp::OpenError::Broken(error)) => return Err(error),
                }
            }
            Ok(sftp::Pool::new(channels).map(Arc::new))
        });
        let pool = self
            .unless_dropped("opening SFTP channels", opening)
            .await?;
        Ok(pool.clone())
    }

    async fn open_sftp_channel(&self) -> Result<sftp::Channel, sftp::OpenError> {
        let broken = |error: russh::Error| {
            sftp::OpenError::Broken(ProviderError::transient(format!(
                "opening an SFTP channel to {} failed: {error}",
                self.target.describe()
            )))
        };
        let slot = self.sessions.clone().acquire_owned().await.map_err(|_| {
            sftp::OpenError::Broken(ProviderError::transient("the SSH connection was closed"))
        })?;
        let mut channel = self.handle.channel_open_session().await.map_err(broken)?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(broken)?;
        loop {
            match channel.wait().await {
                Some(ChannelMsg::Success) => break,
                Some(ChannelMsg::Failure) => {
                    return Err(sftp::OpenError::Unsupported);
                }
                Some(ChannelMsg::Close) | None => {
                    return Err(if self.is_closed() {
                        broken(russh::Error::Disconnect)
                    } else {
                        sftp::OpenError::Unsupported
                    });
                }
                Some(_) => {}
            }
        }
        match sftp::Channel::start(channel.into_stream(), slot).await {
            Err(sftp::OpenError::Unsupported) if self.is_closed() => {
                Err(broken(russh::Error::Disconnect))
            }
            started => started,
        }
    }

    fn is_closed(&self) -> bool {
        self.handle.is_closed() || *self.closed.borrow()
    }

    /// Runs `work` unless the connection drops first: a request waiting
    /// for window space, or for an answer, would wait on until its timeout.
    async fn unless_dropped<T>(
        &self,
        doing: &str,
        work: impl std::future::Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let mut closed = self.closed.clone();
        tokio::select! {
            result = work => result,
            _ = closed.wait_for(|closed| *closed) => {
                forget(&self.target);
                Err(ProviderError::transient(format!(
                    "the SSH connection to {} dropped while {doing}",
                    self.target.describe()
                )))
            }
        }
    }

    /// An SFTP failure as a provider error. A broken session (the
    /// connection dropped, or the channel or the server stopped answering)
    /// takes the connection out of the pool, so the retry opens a new one
    /// with fresh channels; calls still running on it finish on their own.
    fn sftp_error(&self, failure: sftp::Failure, doing: &str) -> ProviderError {
        if self.is_closed() || matches!(failure, sftp::Failure::Broken(_)) {
            forget(&self.target);
        }
        failure.into_error(doing, &self.target.describe())
    }

    /// Writes `bytes` to `path` atomically: into a temp file in the same
    /// folder, complete and synced, given `mode` (and `owner`/`group` when
    /// set), then renamed over `path`. Returns what the server then holds.
    pub async fn write_file_atomic(
        &self,
        path: &str,
        bytes: &[u8],
        mode: &str,
        owner: Option<&str>,
        group: Option<&str>,
    ) -> Result<FileStat, ProviderError> {
        let pool = match self.sftp().await? {
            Some(pool) if path.starts_with('/') => pool,
            _ => {
                return self
                    .write_file_by_exec(path, bytes, mode, owner, group)
                    .await;
            }
        };
        let bits = u32::from_str_radix(mode, 8).map_err(|_| {
            ProviderError::permanent(format!("`mode` {mode:?} is not an octal mode")).at(["mode"])
        })?;
        let ids = self.ids(owner, group).await?;
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let temp = format!("{dir}/.{name}.infra-part");
        let doing = format!("writing {path}");
        let written = self
            .unless_dropped(&doing, async {
                pool.channel()
                    .write_atomic(path, &temp, bytes, bits, ids)
                    .await
                    .map_err(|failure| {
                        if failure.is_missing() {
                            ProviderError::permanent(format!(
                                "writing {path} failed: there is no folder {dir} on {} (create \
                                 it with an `ssh_directory` the file depends on)",
                                self.target.describe()
                            ))
                            .at(["path"])
                        } else {
                            self.sftp_error(failure, &doing)
                        }
                    })
            })
            .await?;
        if !written.renamed {
            // No `posix-rename@openssh.com`: rename(2) by `mv`, still atomic.
            let script = format!("exec mv -f -- {} {}", quote(&temp), quote(path));
            self.script(&script, Vec::new(), &doing).await?;
        }
        let mut stats = self
            .named(vec![(
                path.to_owned(),
                written.attrs,
                Some(sha256_hex(bytes)),
            )])
            .await?;
        stats.remove(path).ok_or_else(|| {
            ProviderError::transient(format!("{path} was written but is not on the server"))
        })
    }

    /// The user and group ids of `owner` and `group` (names or numbers).
    async fn ids(
        &self,
        owner: Option<&str>,
        group: Option<&str>,
    ) -> Result<(Option<u32>, Option<u32>), ProviderError> {
        if owner.is_none() && group.is_none() {
            return Ok((None, None));
        }
        let users: Vec<String> = owner.iter().map(|name| (*name).to_owned()).collect();
        let groups: Vec<String> = group.iter().map(|name| (*name).to_owned()).collect();
        let names = self.lookup(&users, &groups).await?;
        let find = |table: &HashMap<String, (u32, String)>, key: Option<&str>, what: &str| {
            key.map(|key| {
                table.get(key).map(|(id, _)| *id).ok_or_else(|| {
                    ProviderError::permanent(format!(
                        "there is no {what} {key:?} on {}",
                        self.target.describe()
                    ))
                    .at([if what == "user" { "owner" } else { "group" }])
                })
            })
            .transpose()
        };
        Ok((
            find(&names.0, owner, "user")?,
            find(&names.1, group, "group")?,
        ))
    }

    /// The entries for these user and group keys (ids or names), asking
    /// `getent` once for those not asked before. An id without a name is
    /// named by its number, as `ls -n` would.
    async fn lookup(
        &self,
        users: &[String],
        groups: &[String],
    ) -> Result<
        (
            HashMap<String, (u32, String)>,
            HashMap<String, (u32, String)>,
        ),
        ProviderError,
    > {
        let mut guard = self.names.lock().await;
        let names = &mut *guard;
        let unknown_users: Vec<&String> = users
            .iter()
            .filter(|key| !names.users.contains_key(*key))
            .collect();
        let unknown_groups: Vec<&String> = groups
            .iter()
            .filter(|key| !names.groups.contains_key(*key))
            .collect();
        if !unknown_users.is_empty() || !unknown_groups.is_empty() {
            let words = |keys: &[&String]| {
                let mut unique: Vec<String> = keys.iter().map(|key| quote(key)).collect();
                unique.sort();
                unique.dedup();
                unique.join(" ")
            };
            let mut script = String::new();
            if !unknown_users.is_empty() {
                script.push_str(&format!("getent passwd -- {}; ", words(&unknown_users)));
            }
            script.push_str("echo ==; ");
            if !unknown_groups.is_empty() {
                script.push_str(&format!("getent group -- {}; ", words(&unknown_groups)));
            }
            script.push_str("exit 0");
            let output = self
                .script(&script, Vec::new(), "looking up user and group names")
                .await?;
            let text = String::from_utf8_lossy(&output.stdout);
            let (passwd, group) = text.split_once("==\n").unwrap_or((&text, ""));
            for (lines, table) in [(passwd, &mut names.users), (group, &mut names.groups)] {
                for line in lines.lines() {
                    let mut fields = line.split(':');
                    let (Some(name), Some(_), Some(id)) =
                        (fields.next(), fields.next(), fields.next())
                    else {
                        continue;
                    };
                    let Ok(id) = id.parse::<u32>() else {
                        continue;
                    };
                    table.insert(name.to_owned(), (id, name.to_owned()));
                    table.insert(id.to_string(), (id, name.to_owned()));
                }
            }
            for (keys, table) in [
                (&unknown_users, &mut names.users),
                (&unknown_groups, &mut names.groups),
            ] {
                for key in keys.iter() {
                    if let Ok(id) = key.parse::<u32>() {
                        table
                            .entry((*key).clone())
                            .or_insert_with(|| (id, (*key).clone()));
                    }
                }
            }
        }
        let pick = |keys: &[String], table: &HashMap<String, (u32, String)>| {
            keys.iter()
                .filter_map(|key| table.get(key).map(|entry| (key.clone(), entry.clone())))
                .collect::<HashMap<_, _>>()
        };
        Ok((pick(users, &names.users), pick(groups, &names.groups)))
    }

    /// Notes the login's user and group ids and names (one `id` run), so
    /// naming the owner of the files it writes asks nothing more. Best
    /// effort: a failure here only means `lookup` asks later.
    async fn ask_own_names(&self) {
        let mut guard = self.names.lock().await;
        let Ok(output) = self
            .script(
                "id -u; id -un; id -g; id -gn",
                Vec::new(),
                "asking the login's ids",
            )
            .await
        else {
            return;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let names = &mut *guard;
        for (id, name, table) in [
            (lines.first(), lines.get(1), &mut names.users),
            (lines.get(2), lines.get(3), &mut names.groups),
        ] {
            if let (Some(id), Some(name)) = (id, name)
                && let Ok(number) = id.parse::<u32>()
            {
                table.insert((*id).to_owned(), (number, (*name).to_owned()));
                table.insert((*name).to_owned(), (number, (*name).to_owned()));
            }
        }
    }

    /// File stats from SFTP attributes: owner and group ids named.
    async fn named(
        &self,
        found: Vec<(String, Attrs, Option<String>)>,
    ) -> Result<HashMap<String, FileStat>, ProviderError> {
        let users: Vec<String> = found
            .iter()
            .map(|(_, attrs, _)| attrs.uid.to_string())
            .collect();
        let groups: Vec<String> = found
            .iter()
            .map(|(_, attrs, _)| attrs.gid.to_string())
            .collect();
        let (users, groups) = self.lookup(&users, &groups).await?;
        let name = |table: &HashMap<String, (u32, String)>, id: u32| {
            table
                .get(&id.to_string())
                .map_or_else(|| id.to_string(), |(_, name)| name.clone())
        };
        Ok(found
            .into_iter()
            .map(|(path, attrs, sha256)| {
                let stat = FileStat {
                    sha256,
                    mode: attrs.permissions(),
                    owner: name(&users, attrs.uid),
                    group: name(&groups, attrs.gid),
                    kind: attrs.kind().to_owned(),
                };
                (path, stat)
            })
            .collect())
    }

    /// The exec way of `write_file_atomic` (see the module docs).
    async fn write_file_by_exec(
        &self,
        path: &str,
        bytes: &[u8],
        mode: &str,
        owner: Option<&str>,
        group: Option<&str>,
    ) -> Result<FileStat, ProviderError> {
        let owner_group = match (owner, group) {
            (Some(owner), Some(group)) => format!("{owner}:{group}"),
            (Some(owner), None) => owner.to_owned(),
            (None, Some(group)) => format!(":{group}"),
            (None, None) => String::new(),
        };
        let chown = if owner_group.is_empty() {
            String::new()
        } else {
            format!(" && chown -- {} \"$t\"", quote(&owner_group))
        };
        // The temp name is made here, not with `dirname`/`basename`: every
        // process the script starts costs the server a fork and an exec.
        let (dir, name) = path.rsplit_once('/').unwrap_or((".", path));
        let temp = format!("{dir}/.{name}.infra-");
        let script = format!(
            "p={path}; t={temp}$$; \
             trap 'rm -f -- \"$t\"' EXIT HUP INT TERM; umask 077; \
             cat > \"$t\" && [ \"$(wc -c < \"$t\")\" -eq {size} ] \
             && chmod {mode} \"$t\"{chown} && mv -f -- \"$t\" \"$p\"",
            path = quote(path),
            temp = quote(&temp),
            size = bytes.len(),
            mode = quote(mode),
        );
        self.script(&script, bytes.to_vec(), &format!("writing {path}"))
            .await?;
        let stats = self.hash_files_by_exec(&[path.to_owned()]).await?;
        stats.get(path).cloned().ok_or_else(|| {
            ProviderError::transient(format!("{path} was written but is not on the server"))
        })
    }

    /// The content of `path`, `None` when there is no such file.
    pub async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, ProviderError> {
        let script = format!(
            "p={}; [ -e \"$p\" ] || exit 44; exec cat -- \"$p\"",
            quote(path)
        );
        let output = self
            .exec(&Exec {
                command: Some(Command::Script(script)),
                ..Exec::default()
            })
            .await?;
        match output.status {
            Some(0) => Ok(Some(output.stdout)),
            Some(44) => Ok(None),
            _ => Err(ProviderError::permanent(format!(
                "reading {path} on {} failed: {}",
                self.target.describe(),
                output.stderr_tail(5)
            ))),
        }
    }

    /// Stats and hashes many paths at once: a path that does not exist has
    /// no entry. By SFTP, every path's requests in flight together, files
    /// up to `sftp::HASH_LOCALLY_UP_TO` bytes read and hashed here and
    /// bigger ones by one remote `sha256sum` for them all.
    pub async fn hash_files(
        &self,
        paths: &[String],
    ) -> Result<HashMap<String, FileStat>, ProviderError> {
        let Some(pool) = self.sftp().await? else {
            return self.hash_files_by_exec(paths).await;
        };
        let relative: Vec<String> = paths
            .iter()
            .filter(|path| !path.starts_with('/'))
            .cloned()
            .collect();
        let asked = join_all(
            paths
                .iter()
                .filter(|path| path.starts_with('/'))
                .map(|path| {
                    let channel = pool.channel();
                    async move { (path, channel.stat_and_hash(path).await) }
                }),
        );
        let answers = self
            .unless_dropped("reading remote files", async { Ok(asked.await) })
            .await?;
        let mut found = Vec::new();
        let mut big = Vec::new();
        for (path, answer) in answers {
            match answer {
                Ok(Some(one)) => {
                    if one.hash_remotely {
                        big.push(path.clone());
                    }
                    found.push((path.clone(), one.attrs, one.sha256));
                }
                Ok(None) => {}
                Err(failure) => return Err(self.sftp_error(failure, &format!("reading {path}"))),
            }
        }
        let mut stats = self.named(found).await?;
        let mut remote = self.hash_files_by_exec(&big).await?;
        for path in &big {
            if let Some(stat) = stats.get_mut(path) {
                stat.sha256 = remote.get_mut(path).and_then(|stat| stat.sha256.take());
            }
        }
        stats.extend(self.hash_files_by_exec(&relative).await?);
        Ok(stats)
    }

    /// The exec way of `hash_files`: one round trip, a few processes.
    async fn hash_files_by_exec(
        &self,
        paths: &[String],
    ) -> Result<HashMap<String, FileStat>, ProviderError> {
        if paths.is_empty() {
            return Ok(HashMap::new());
        }
        let mut list = String::new();
        for path in paths {
            if path.contains('\n') || path.contains('\\') {
                return Err(ProviderError::permanent(format!(
                    "the remote path {path:?} holds a newline or a backslash, which is not supported"
                ))
                .at(["path"]));
            }
            list.push_str(path);
            list.push('\n');
        }
        // One `xargs` runs one `stat` and one `sha256sum` over every path
        // (more only past the argument limit): a few processes per batch.
        let script = "xargs -r -d '\\n' sh -c 'echo ==stat; stat -c \"%a %U %G %F|%n\" -- \"$@\" \
             2>/dev/null; echo ==sha; sha256sum -- \"$@\" 2>/dev/null; exit 0' sh";
        let output = self
            .script(script, list.into_bytes(), "hashing remote files")
            .await?;
        Ok(parse_hashes(&String::from_utf8_lossy(&output.stdout)))
    }

    /// Lists the regular files (and links) under a folder, recursively, as
    /// full paths; empty when it does not exist.
    pub async fn list_files(&self, dir: &str) -> Result<Vec<String>, ProviderError> {
        let script = format!(
            "d={}; [ -d \"$d\" ] || exit 0; find \"$d\" -mindepth 1 \\( -type f -o -type l \\) -print",
            quote(dir)
        );
        let output = self
            .script(&script, Vec::new(), &format!("listing {dir}"))
            .await?;
        let mut files: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        files.sort();
        Ok(files)
    }

    /// Makes a folder and those missing above it, gives it `mode` (and
    /// `owner`/`group` when set) and returns what the server then holds.
    pub async fn make_dir(
        &self,
        path: &str,
        mode: &str,
        owner: Option<&str>,
        group: Option<&str>,
    ) -> Result<FileStat, ProviderError> {
        let pool = match self.sftp().await? {
            Some(pool) if path.starts_with('/') => pool,
            _ => return self.make_dir_by_exec(path, mode, owner, group).await,
        };
        let bits = u32::from_str_radix(mode, 8).map_err(|_| {
            ProviderError::permanent(format!("`mode` {mode:?} is not an octal mode")).at(["mode"])
        })?;
        let ids = self.ids(owner, group).await?;
        let doing = format!("creating the folder {path}");
        let attrs = self
            .unless_dropped(&doing, async {
                pool.channel()
                    .make_dir(path, bits, ids)
                    .await
                    .map_err(|failure| self.sftp_error(failure, &doing))
            })
            .await?;
        let mut stats = self.named(vec![(path.to_owned(), attrs, None)]).await?;
        stats
            .remove(path)
            .ok_or_else(|| ProviderError::transient(format!("{path} was made but is not there")))
    }

    async fn make_dir_by_exec(
        &self,
        path: &str,
        mode: &str,
        owner: Option<&str>,
        group: Option<&str>,
    ) -> Result<FileStat, ProviderError> {
        let owner_group = match (owner, group) {
            (Some(owner), Some(group)) => Some(format!("{owner}:{group}")),
            (Some(owner), None) => Some(owner.to_owned()),
            (None, Some(group)) => Some(format!(":{group}")),
            (None, None) => None,
        };
        let mut script = format!(
            "mkdir -p -- {p} && chmod {m} {p}",
            p = quote(path),
            m = quote(mode)
        );
        if let Some(owner_group) = owner_group {
            script.push_str(&format!(
                " && chown -- {} {}",
                quote(&owner_group),
                quote(path)
            ));
        }
        self.script(&script, Vec::new(), &format!("creating the folder {path}"))
            .await?;
        let stats = self.hash_files_by_exec(&[path.to_owned()]).await?;
        stats
            .get(path)
            .cloned()
            .ok_or_else(|| ProviderError::transient(format!("{path} was made but is not there")))
    }

    /// Removes a file (or, with `recursive`, a folder and everything under
    /// it); gone already is fine.
    pub async fn remove(&self, path: &str, recursive: bool) -> Result<(), ProviderError> {
        if !recursive {
            return self.remove_many(&[path.to_owned()]).await;
        }
        let script = format!("rm -rf -- {}", quote(path));
        self.script(&script, Vec::new(), &format!("removing {path}"))
            .await
            .map(|_| ())
    }

    /// Removes many files at once; gone already is fine.
    pub async fn remove_many(&self, paths: &[String]) -> Result<(), ProviderError> {
        if paths.is_empty() {
            return Ok(());
        }
        if let Some(pool) = self.sftp().await?
            && paths.iter().all(|path| path.starts_with('/'))
        {
            let asked = join_all(paths.iter().map(|path| {
                let channel = pool.channel();
                async move { (path, channel.remove(path).await) }
            }));
            let removed = self
                .unless_dropped("removing files", async { Ok(asked.await) })
                .await?;
            for (path, result) in removed {
                result.map_err(|failure| self.sftp_error(failure, &format!("removing {path}")))?;
            }
            return Ok(());
        }
        let mut list = String::new();
        for path in paths {
            list.push_str(path);
            list.push('\n');
        }
        self.script(
            "xargs -r -d '\\n' rm -f --",
            list.into_bytes(),
            "removing files",
        )
        .await
        .map(|_| ())
    }

    /// A TCP stream to `host:port` opened by the server (`direct-tcpip`, as
    /// `ssh -L` does), so a check can reach what only the remote side sees.
    pub async fn direct_tcpip(
        &self,
        host: &str,
        port: u16,
    ) -> Result<ChannelStream<client::Msg>, ProviderError> {
        let channel = self
            .handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|error| {
                ProviderError::transient(format!(
                    "opening a TCP stream to {host}:{port} through {} failed: {error}",
                    self.target.describe()
                ))
            })?;
        Ok(channel.into_stream())
    }

    /// Closes the connection (tests use it to drop a connection mid-upload).
    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "closed", "en")
            .await;
        forget(&self.target);
    }
}

/// `export NAME=…` takes shell names only.
fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reads the output of the hashing script: sections of `stat` lines
/// (after `==stat`) and of `sha256sum` lines (after `==sha`), one pair per
/// `xargs` run.
fn parse_hashes(text: &str) -> HashMap<String, FileStat> {
    let mut stats: HashMap<String, FileStat> = HashMap::new();
    let mut hashes: Vec<(String, String)> = Vec::new();
    let mut in_stat = true;
    for line in text.lines() {
        match line {
            "==stat" => in_stat = true,
            "==sha" => in_stat = false,
            _ if in_stat => {
                let Some((fields, path)) = line.split_once('|') else {
                    continue;
                };
                let mut fields = fields.splitn(4, ' ');
                let (Some(mode), Some(owner), Some(group), Some(kind)) =
                    (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                stats.insert(
                    path.to_owned(),
                    FileStat {
                        sha256: None,
                        mode: format!("{mode:0>4}"),
                        owner: owner.to_owned(),
                        group: group.to_owned(),
                        kind: kind.to_owned(),
                    },
                );
            }
            _ => {
                if let Some((hash, path)) = line.split_once("  ") {
                    hashes.push((path.to_owned(), hash.to_owned()));
                }
            }
        }
    }
    for (path, hash) in hashes {
        if let Some(stat) = stats.get_mut(&path) {
            stat.sha256 = Some(hash);
        }
    }
    stats
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::lower(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(quote("/srv/site"), "/srv/site");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
    }

    #[test]
    fn hashes_are_parsed_per_path() {
        // Two `xargs` runs: the second file's stat comes after the first hashes.
        let text = "==stat\n644 deploy deploy regular file|/srv/a b\n755 root root directory|/srv\n\
                    ==sha\nabc  /srv/a b\n==stat\n600 deploy deploy regular file|/srv/c\n\
                    ==sha\ndef  /srv/c\n";
        let stats = parse_hashes(text);
        let file = stats.get("/srv/a b").cloned();
        assert_eq!(
            file.map(|stat| (stat.sha256, stat.mode)),
            Some((Some("abc".to_owned()), "0644".to_owned()))
        );
        assert_eq!(stats.get("/srv").and_then(|stat| stat.sha256.clone()), None);
        assert_eq!(
            stats.get("/srv/c").and_then(|stat| stat.sha256.clone()),
            Some("def".to_owned())
        );
    }
}
