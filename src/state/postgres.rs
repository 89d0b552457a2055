//! The `postgres` backend: a team's shared state in a PostgreSQL database
//! (`stack { state = "postgres", state_url = env_var("INFRA_STATE_PG") }`).
//!
//! ```text
//! infra.schema_version   the tables' version; the backend creates and migrates them itself
//! infra.versions         every version ever written: (stack, environment, serial) →
//!                        lineage, checksum, written_at and the state document, sealed
//! infra.heads            per stack environment: the lineage and serial of the current version
//! infra.journal          completed actions not yet in a version, one row per group commit
//! infra.audit            one audit record per writing command
//! infra.locks            who holds each stack environment's lock (for whoever waits)
//! infra.replaced         a current version that failed its checks, kept aside by a restore
//! ```
//!
//! The current version is the newest row of `infra.versions`; `infra.heads`
//! names it too, so a row deleted or added by hand is noticed. The document
//! is the same JSON a local state file holds: its checksum covers it, and its
//! secrets are sealed with the key that stays on the machine (`INFRA_STATE_KEY`
//! or `.infra/key` beside the stack): the database never sees plaintext.
//!
//! The lock is a session-level `pg_advisory_lock` held on a connection of its
//! own for the whole command, with the holder's details in `infra.locks`. When
//! the holder's process dies its connection drops and the server releases the
//! lock; the next command sees the row left behind and says it took over. A
//! version is written, and a journal row appended, only while the lock row
//! still names this command's lock: a lock broken by `infra force-unlock`
//! fences its old holder out.
//!
//! TLS follows libpq's `sslmode` and `sslrootcert` parameters of the state
//! URL (default `prefer`; see [`crate::postgres_tls`]); a relative
//! `sslrootcert` is read from the stack folder.
//!
//! Terminology: the *state URL* is the `postgres://` connection URL; it may
//! hold a password, so messages show only `postgres://HOST:PORT/DB`.
//!
//! Invariant: the state URL, and so its password, is never in a message.
//! Invariant: a version and its head are written in one transaction; reading
//! takes no lock and writes nothing (except creating the tables).
//! Invariant: a row that fails a check (checksum, columns against document,
//! head) is refused and never overwritten; a restore keeps it aside.

use super::audit::{AuditLog, AuditRecord};
use super::backend::JournalWriter;
use super::crypto::Key;
use super::file::{StateFile, VersionInfo};
use super::journal::JournalRead;
use super::lock::{HeldLock, LockInfo};
use super::{JournalRecord, State, StateError, new_uuid};
use crate::diag::Code;
use crate::host::Host;
use crate::postgres_tls::{self, RootCerts, SslMode, Tls};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::{Client, Config};

/// The tables' version this build writes; a database at a newer one is refused.
pub const SCHEMA_VERSION: i32 = 1;

/// The first key of every advisory lock infra takes (`'infr'`); the second is
/// a hash of the stack and environment.
const LOCK_NAMESPACE: i32 = 0x696e_6672;

/// The advisory lock that serialises creating and migrating the tables.
const MIGRATION_LOCK: i32 = 0;

/// How often a waiting command asks for the lock again.
const POLL: Duration = Duration::from_millis(200);

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The migrations, in order: migration `n` brings the tables to version `n`.
const MIGRATIONS: &[&str] = &[
    // 1: the first tables.
    "CREATE TABLE infra.versions (
        stack text NOT NULL,
        environment text NOT NULL,
        serial bigint NOT NULL,
        lineage text NOT NULL,
        checksum text NOT NULL,
        written_at bigint NOT NULL,
        document text NOT NULL,
        PRIMARY KEY (stack, environment, serial)
    );
    CREATE TABLE infra.heads (
        stack text NOT NULL,
        environment text NOT NULL,
        lineage text NOT NULL,
        serial bigint NOT NULL,
        PRIMARY KEY (stack, environment)
    );
    CREATE TABLE infra.journal (
        stack text NOT NULL,
        environment text NOT NULL,
        seq bigserial NOT NULL,
        records text NOT NULL,
        PRIMARY KEY (stack, environment, seq)
    );
    CREATE TABLE infra.audit (
        stack text NOT NULL,
        environment text NOT NULL,
        seq bigserial NOT NULL,
        record text NOT NULL,
        PRIMARY KEY (stack, environment, seq)
    );
    CREATE TABLE infra.locks (
        stack text NOT NULL,
        environment text NOT NULL,
        id text NOT NULL,
        user_name text NOT NULL,
        host_name text NOT NULL,
        pid bigint NOT NULL,
        operation text NOT NULL,
        created_at bigint NOT NULL,
        session_pid integer NOT NULL,
        PRIMARY KEY (stack, environment)
    );
    CREATE TABLE infra.replaced (
        stack text NOT NULL,
        environment text NOT NULL,
        serial bigint NOT NULL,
        replaced_at bigint NOT NULL,
        document text NOT NULL
    );",
];

/// Runs `future` to completion on the remote backends' runtime.
fn block_on<F>(future: F) -> Result<F::Output, StateError>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    super::remote::block_on("postgres", future)
}

/// A parsed state URL and how messages show it.
#[derive(Clone)]
struct Target {
    config: Config,
    /// `sslmode` and `sslrootcert`.
    tls: Tls,
    /// `postgres://HOST:PORT/DB`: no user, no password.
    shown: String,
}

impl Target {
    /// Reads the state URL; `read_file` reads its `sslrootcert`.
    fn parse(
        url: &str,
        read_file: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    ) -> Result<Target, StateError> {
        let split = postgres_tls::split_url(url);
        let mut config: Config = split.url.parse().map_err(|_| {
            StateError::new(
                Code::StateBackendConfig,
                None,
                "the postgres state URL cannot be read as a connection URL; write it as \
                 postgres://USER:PASSWORD@HOST:PORT/DATABASE (the URL is not shown, since it may \
                 hold a password)",
            )
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => String::from("localhost"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres");
        let shown = format!("postgres://{host}:{port}/{database}");
        let config_error = |message: String| {
            StateError::new(
                Code::StateBackendConfig,
                Some(Path::new(&shown)),
                format!("the state URL's TLS parameters cannot be used: {message}"),
            )
        };
        let mode = match &split.sslmode {
            None => SslMode::default(),
            Some(mode) => SslMode::parse(mode).map_err(config_error)?,
        };
        let roots = match split.sslrootcert.as_deref() {
            None | Some("") => None,
            Some(postgres_tls::SYSTEM_ROOTS) => Some(RootCerts::System),
            Some(path) => Some(RootCerts::Pem(read_file(path).map_err(|error| {
                config_error(format!("could not read `sslrootcert` {error}"))
            })?)),
        };
        let tls = Tls::new(mode, roots).map_err(config_error)?;
        Ok(Target { config, tls, shown })
    }

    /// Opens a connection, its driver spawned on [`runtime`]. Refused
    /// credentials and a failed TLS handshake have codes of their own: the
    /// server is there, and trying again will not help.
    fn connect(&self) -> Result<Client, StateError> {
        let config = self.config.clone();
        let tls = self.tls.clone();
        let connected = block_on(async move { tls.connect(&config).await })?;
        connected.map_err(|error| {
            let mode = self.tls.mode();
            let sqlstate = error.code().map(|code| code.code());
            let (code, advice) = if let Some(hint) = postgres_tls::failure_hint(&error, mode) {
                (Code::StateBackendTls, hint)
            } else if matches!(sqlstate, Some("28P01" | "28000")) {
                (
                    Code::StateBackendDenied,
                    String::from(
                        "check the state URL's user and password (the URL is not shown, since \
                         it holds the password); nothing was read or written",
                    ),
                )
            } else {
                (
                    Code::StateBackendUnreachable,
                    String::from(
                        "check that the server runs and that the state URL's user, password \
                         and database are right",
                    ),
                )
            };
            StateError::new(
                code,
                Some(Path::new(&self.shown)),
                format!(
                    "could not connect to the state database at {} (sslmode `{}`): {}; {advice}",
                    self.shown,
                    mode.as_str(),
                    describe(&error)
                ),
            )
        })
    }
}

/// A server error as a sentence: its message (never the URL, which the
/// driver does not put in errors), else the driver's own text.
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// How a version write ended, short of a failed statement.
enum Written {
    /// The version and its head are committed.
    Done,
    /// The head moved from the serial the state was read at (to this one).
    Moved(Option<i64>),
    /// The lock row no longer names this command's lock.
    LockBroken,
}

/// How a prune transaction ended.
enum Pruned {
    /// These versions were deleted (none, when there is no head yet).
    Done(Vec<u64>),
    /// The lock row no longer names this command's lock.
    LockBroken,
}

/// The row of `infra.heads`: the current version's lineage and serial.
type Head = (String, i64);

/// One row of `infra.versions`.
struct Row {
    serial: i64,
    lineage: String,
    checksum: String,
    document: String,
}

/// State for one stack environment, kept in a PostgreSQL database.
pub struct PostgresBackend<'h> {
    host: &'h dyn Host,
    stack_dir: &'h Path,
    stack: &'h str,
    environment: &'h str,
    target: Result<Target, StateError>,
    /// The connection for reads and writes, opened (and the tables created)
    /// on first use.
    client: Mutex<Option<Arc<Client>>>,
    /// The id of the lock this backend took, which journal rows are written under.
    lock_id: Mutex<Option<String>>,
}

impl std::fmt::Debug for PostgresBackend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("at", &self.location())
            .field("stack", &self.stack)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl<'h> PostgresBackend<'h> {
    /// The backend for `environment` of the stack named `stack`, at the
    /// database `url`; the key stays in `stack_dir` (or `INFRA_STATE_KEY`).
    /// Nothing is connected until the first call.
    pub fn new(
        host: &'h dyn Host,
        stack_dir: &'h Path,
        stack: &'h str,
        environment: &'h str,
        url: &str,
    ) -> Self {
        PostgresBackend {
            host,
            stack_dir,
            stack,
            environment,
            target: Target::parse(url, &|path| {
                let full = if Path::new(path).is_absolute() {
                    PathBuf::from(path)
                } else {
                    stack_dir.join(path)
                };
                host.read(&full)
                    .map_err(|error| format!("{}: {error}", full.display()))
            }),
            client: Mutex::new(None),
            lock_id: Mutex::new(None),
        }
    }

    /// `postgres://HOST:PORT/DB`, as messages show the database.
    fn location(&self) -> &str {
        match &self.target {
            Ok(target) => &target.shown,
            Err(_) => "postgres://(unusable state URL)",
        }
    }

    /// Where `table`'s rows for this stack environment are, as messages show it.
    fn table_path(&self, table: &str) -> PathBuf {
        PathBuf::from(format!(
            "{}/infra.{table}/{}/{}",
            self.location(),
            self.stack,
            self.environment
        ))
    }

    fn target(&self) -> Result<&Target, StateError> {
        self.target.as_ref().map_err(Clone::clone)
    }

    /// The shared connection, opened on first use (creating or migrating
    /// the tables then).
    fn client(&self) -> Result<Arc<Client>, StateError> {
        let mut slot = self.client.lock().map_err(|_| poisoned())?;
        if let Some(client) = slot.as_ref() {
            return Ok(Arc::clone(client));
        }
        let target = self.target()?;
        let mut client = target.connect()?;
        migrate(&mut client, &target.shown)?;
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// A failed statement, as an error about `table`.
    fn sql_error(&self, table: &str, doing: &str, error: &tokio_postgres::Error) -> StateError {
        let path = self.table_path(table);
        let code = if error.is_closed() || error.as_db_error().is_none() {
            Code::StateBackendUnreachable
        } else {
            Code::StateIo
        };
        StateError::new(
            code,
            Some(&path),
            format!("{doing} {} failed: {}", path.display(), describe(error)),
        )
    }

    /// Runs `query` with `params` on the shared connection and returns its rows.
    fn query(
        &self,
        table: &str,
        doing: &str,
        query: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StateError> {
        let client = self.client()?;
        block_on(client.query(query, params))?.map_err(|e| self.sql_error(table, doing, &e))
    }

    /// The two advisory-lock keys of this stack environment.
    fn lock_keys(&self) -> (i32, i32) {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{}\u{0}{}", self.stack, self.environment));
        let bytes = [digest[0], digest[1], digest[2], digest[3]];
        (LOCK_NAMESPACE, i32::from_be_bytes(bytes) & i32::MAX)
    }

    /// The newest row of `infra.versions` and the head, unchecked.
    fn newest(&self) -> Result<(Option<Row>, Option<Head>), StateError> {
        let rows = self.query(
            "versions",
            "reading",
            "SELECT serial, lineage, checksum, document FROM infra.versions \
             WHERE stack = $1 AND environment = $2 ORDER BY serial DESC LIMIT 1",
            &[&self.stack, &self.environment],
        )?;
        let newest = rows.first().map(row);
        let heads = self.query(
            "heads",
            "reading",
            "SELECT lineage, serial FROM infra.heads WHERE stack = $1 AND environment = $2",
            &[&self.stack, &self.environment],
        )?;
        let head = heads.first().map(|r| (r.get::<_, String>(0), r.get(1)));
        Ok((newest, head))
    }

    /// The document of `row`, checked: its JSON and checksum, and that the
    /// row's columns say what the document says.
    fn check_row(&self, row: &Row) -> Result<StateFile, StateError> {
        let path = self.table_path("versions");
        let file = StateFile::parse(row.document.as_bytes(), &path).map_err(|mut error| {
            error.help = format!(
                "version {} in {} was changed since infra wrote it (an edit by hand or \
                 damage) and is refused; {}",
                row.serial,
                path.display(),
                self.restore_help(row.serial)
            );
            error
        })?;
        if i64::try_from(file.serial).ok() != Some(row.serial)
            || file.lineage != row.lineage
            || file.checksum != row.checksum
        {
            return Err(StateError::new(
                Code::StateChecksumMismatch,
                Some(&path),
                format!(
                    "the row of version {} in {} was altered by hand: its serial, lineage or \
                     checksum columns disagree with its document; {}",
                    row.serial,
                    path.display(),
                    self.restore_help(row.serial)
                ),
            ));
        }
        Ok(file)
    }

    /// The way out of a refused version `serial`.
    fn restore_help(&self, serial: i64) -> String {
        if serial > 1 {
            format!(
                "`infra state restore {} --env {}` writes the version before it back (the \
                 refused row is kept aside in infra.replaced)",
                serial - 1,
                self.environment
            )
        } else {
            String::from("put the row back as infra wrote it")
        }
    }

    /// The current version, checked against its head; `None` if never written.
    pub fn read(&self) -> Result<Option<StateFile>, StateError> {
        let (newest, head) = self.newest()?;
        let path = self.table_path("versions");
        match (newest, head) {
            (None, None) => Ok(None),
            (None, Some((_, serial))) => Err(StateError::new(
                Code::StateMissingCurrent,
                Some(&path),
                format!(
                    "infra.heads says version {serial} is current, but infra.versions holds no \
                     version of this stack environment: the rows were deleted. Nothing was \
                     planned from an empty state; put the rows back from a backup"
                ),
            )),
            (Some(row), None) => Err(StateError::new(
                Code::StateChecksumMismatch,
                Some(&path),
                format!(
                    "infra.versions holds version {} of this stack environment but infra.heads \
                     has no row for it: the tables were altered by hand; put the head row back \
                     (lineage {}, serial {})",
                    row.serial, row.lineage, row.serial
                ),
            )),
            (Some(row), Some((lineage, serial))) => {
                if row.serial < serial {
                    return Err(StateError::new(
                        Code::StateMissingCurrent,
                        Some(&path),
                        format!(
                            "infra.heads says version {serial} is current, but the newest row \
                             of infra.versions is version {}: newer rows were deleted. Nothing \
                             was planned from an older state; put the rows back from a backup, \
                             or `infra state restore {} --env {}` to go on from that version",
                            row.serial, row.serial, self.environment
                        ),
                    ));
                }
                let file = self.check_row(&row)?;
                if row.serial != serial || lineage != file.lineage {
                    return Err(StateError::new(
                        Code::StateChecksumMismatch,
                        Some(&path),
                        format!(
                            "the newest row of infra.versions (version {}, lineage {}) is not the \
                             one infra.heads names (version {serial}, lineage {lineage}): a row \
                             was added by hand; {}",
                            row.serial,
                            file.lineage,
                            self.restore_help(row.serial)
                        ),
                    ));
                }
                Ok(Some(file))
            }
        }
    }

    /// Version `serial`, checked.
    pub fn version(&self, serial: u64) -> Result<StateFile, StateError> {
        let wanted = i64::try_from(serial).unwrap_or(i64::MAX);
        let rows = self.query(
            "versions",
            "reading",
            "SELECT serial, lineage, checksum, document FROM infra.versions \
             WHERE stack = $1 AND environment = $2 AND serial = $3",
            &[&self.stack, &self.environment, &wanted],
        )?;
        match rows.first().map(row) {
            Some(found) => self.check_row(&found),
            None => Err(StateError::new(
                Code::StateNoSuchVersion,
                Some(&self.table_path("versions")),
                format!("there is no version {serial}; `infra state history` lists the versions"),
            )),
        }
    }

    /// Every version, oldest first.
    pub fn history(&self) -> Result<Vec<VersionInfo>, StateError> {
        let rows = self.query(
            "versions",
            "reading",
            "SELECT serial, lineage, checksum, document FROM infra.versions \
             WHERE stack = $1 AND environment = $2 ORDER BY serial",
            &[&self.stack, &self.environment],
        )?;
        rows.iter()
            .map(|r| self.check_row(&row(r)).map(|file| file.info()))
            .collect()
    }

    /// The key: `INFRA_STATE_KEY` or the key file beside the stack; a new
    /// key file only when the database holds no state of this stack.
    pub fn key(&self) -> Result<Key, StateError> {
        let key_path = self.key_path();
        if let Some(key) = Key::load(self.host, &key_path)? {
            return Ok(key);
        }
        let rows = self.query(
            "versions",
            "reading",
            "SELECT environment FROM infra.versions WHERE stack = $1 \
             UNION SELECT environment FROM infra.journal WHERE stack = $1 LIMIT 1",
            &[&self.stack],
        )?;
        if let Some(found) = rows.first() {
            let environment: String = found.get(0);
            return Err(StateError::new(
                Code::StateMissingKey,
                Some(&key_path),
                format!(
                    "the state database ({}) holds state of stack {} (environment {environment}), \
                     sealed with a key, but neither {} nor {} is here; set {} (in CI, from a \
                     secret) or restore the key file. A new key is made only for a stack \
                     without state",
                    self.location(),
                    self.stack,
                    super::crypto::KEY_ENV,
                    key_path.display(),
                    super::crypto::KEY_ENV
                ),
            ));
        }
        Key::load_or_create(self.host, &key_path)
    }

    /// The key file used when `INFRA_STATE_KEY` is not set: beside the stack,
    /// as with the local backend, never in the database.
    pub fn key_path(&self) -> PathBuf {
        self.stack_dir.join(".infra").join("key")
    }

    /// Inserts `file` as a version and points the head at it, in one
    /// transaction that first checks that the head is still at `expected` (a
    /// compare-and-swap) and that `lock` still holds the lock. A current row
    /// that failed its checks (`replace`) is moved to `infra.replaced` in the
    /// same transaction.
    fn insert_version(
        &self,
        lock: &dyn HeldLock,
        file: &StateFile,
        expected: Option<i64>,
        replace: Option<i64>,
    ) -> Result<(), StateError> {
        let path = self.table_path("versions");
        if lock.location() != self.table_path("locks") {
            return Err(StateError::new(
                Code::Internal,
                Some(&path),
                "state written under another state's lock; this is a bug",
            ));
        }
        let client = self.client()?;
        let serial = i64::try_from(file.serial).unwrap_or(i64::MAX);
        let written_at = i64::try_from(file.written_at).unwrap_or(i64::MAX);
        let now = i64::try_from(self.host.now_unix_seconds()).unwrap_or(i64::MAX);
        let document = String::from_utf8_lossy(&file.to_bytes()).into_owned();
        let (stack, environment) = (self.stack, self.environment);
        let id = lock.info().id.clone();
        let (first, second) = self.lock_keys();
        let (first, second) = (i64::from(first), i64::from(second));
        let lineage = file.lineage.clone();
        let checksum = file.checksum.clone();
        let outcome = block_on(async {
            // The shared client is behind an Arc; a transaction needs it
            // mutably, so BEGIN and COMMIT are sent by hand.
            let steps = async {
                let stored = begin_at_head(&client, stack, environment).await?;
                if stored != expected {
                    return Ok(Written::Moved(stored));
                }
                if !still_held(&client, stack, environment, &id, (first, second)).await? {
                    return Ok(Written::LockBroken);
                }
                if let Some(bad) = replace {
                    client
                        .execute(
                            "INSERT INTO infra.replaced \
                             SELECT stack, environment, serial, $4, document FROM infra.versions \
                             WHERE stack = $1 AND environment = $2 AND serial = $3",
                            &[&stack, &environment, &bad, &now],
                        )
                        .await?;
                    client
                        .execute(
                            "DELETE FROM infra.versions \
                             WHERE stack = $1 AND environment = $2 AND serial = $3",
                            &[&stack, &environment, &bad],
                        )
                        .await?;
                }
                client
                    .execute(
                        "INSERT INTO infra.versions (stack, environment, serial, lineage, \
                         checksum, written_at, document) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[
                            &stack,
                            &environment,
                            &serial,
                            &lineage,
                            &checksum,
                            &written_at,
                            &document,
                        ],
                    )
                    .await?;
                client
                    .execute(
                        "INSERT INTO infra.heads (stack, environment, lineage, serial) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (stack, environment) \
                         DO UPDATE SET lineage = EXCLUDED.lineage, serial = EXCLUDED.serial",
                        &[&stack, &environment, &lineage, &serial],
                    )
                    .await?;
                client.batch_execute("COMMIT").await?;
                Ok::<_, tokio_postgres::Error>(Written::Done)
            };
            let outcome = steps.await;
            if !matches!(outcome, Ok(Written::Done)) {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            outcome
        })?;
        match outcome {
            Ok(Written::Done) => Ok(()),
            Ok(Written::LockBroken) => Err(lock_broken(&self.table_path("locks"), &id)),
            Ok(Written::Moved(stored)) => Err(StateError::new(
                Code::StateSerialBackwards,
                Some(&path),
                format!(
                    "the state was read at version {}, but version {} is stored now: another \
                     command wrote in between; run the command again",
                    expected.unwrap_or(0),
                    stored.unwrap_or(0)
                ),
            )),
            Err(error) => Err(self.sql_error("versions", "writing", &error)),
        }
    }

    /// Writes `state` as the next version: a compare-and-swap on the serial
    /// it was read at, under the lock.
    pub fn write(
        &self,
        lock: &dyn HeldLock,
        state: &mut State,
        key: &Key,
        summary: &str,
    ) -> Result<StateFile, StateError> {
        let path = self.table_path("versions");
        let current = self.read()?;
        if let Some(current) = &current {
            if current.lineage != state.lineage {
                return Err(super::local::foreign(
                    &path,
                    &state.lineage,
                    &current.lineage,
                ));
            }
            super::local::check_key(current, key, &path)?;
        }
        let stored = current.as_ref().map_or(0, |c| c.serial);
        if state.serial != stored {
            return Err(StateError::new(
                Code::StateSerialBackwards,
                Some(&path),
                format!(
                    "the state being written was read at serial {}, but serial {stored} is \
                     stored: another command wrote in between; run the command again",
                    state.serial
                ),
            ));
        }
        let file = StateFile::new(
            state,
            stored + 1,
            self.host.now_unix_seconds(),
            summary,
            &key.id(),
        );
        let expected = current
            .as_ref()
            .map(|c| i64::try_from(c.serial).unwrap_or(i64::MAX));
        self.insert_version(lock, &file, expected, None)?;
        state.serial = file.serial;
        Ok(file)
    }

    /// Writes version `serial` back as the next version, also over a
    /// current version that fails its checks (kept in `infra.replaced`).
    pub fn restore(
        &self,
        lock: &dyn HeldLock,
        serial: u64,
        key: &Key,
        summary: &str,
    ) -> Result<(State, Option<PathBuf>), StateError> {
        let version = self.version(serial)?;
        let path = self.table_path("versions");
        super::local::check_key(&version, key, &path)?;
        let (newest, head) = self.newest()?;
        if let Some((lineage, _)) = &head
            && *lineage != version.lineage
        {
            return Err(super::local::foreign(&path, &version.lineage, lineage));
        }
        let newest_serial = newest.as_ref().map_or(0, |r| r.serial);
        let head_serial = head.as_ref().map(|(_, s)| *s);
        let replace = match self.read() {
            Ok(_) => None,
            Err(_) => newest
                .as_ref()
                .map(|r| r.serial)
                .filter(|s| Some(*s) != i64::try_from(serial).ok()),
        };
        let next = u64::try_from(newest_serial.max(head_serial.unwrap_or(0)) + 1).unwrap_or(1);
        let mut state = version.to_state();
        let file = StateFile::new(
            &state,
            next,
            self.host.now_unix_seconds(),
            summary,
            &key.id(),
        );
        self.insert_version(lock, &file, head_serial, replace)?;
        state.serial = next;
        let replaced = replace.map(|bad| {
            PathBuf::from(format!(
                "{}/infra.replaced/{}/{}/{bad}",
                self.location(),
                self.stack,
                self.environment
            ))
        });
        Ok((state, replaced))
    }

    /// Deletes the versions older than `oldest_kept` (never the one the
    /// head names) in one transaction that first checks that `lock` still
    /// holds the lock; returns their serials, ascending. All or none are
    /// deleted, so a crash leaves the history as it was or pruned.
    pub fn prune(&self, lock: &dyn HeldLock, oldest_kept: u64) -> Result<Vec<u64>, StateError> {
        let path = self.table_path("versions");
        if lock.location() != self.table_path("locks") {
            return Err(StateError::new(
                Code::Internal,
                Some(&path),
                "history pruned under another state's lock; this is a bug",
            ));
        }
        let client = self.client()?;
        let oldest_kept = i64::try_from(oldest_kept).unwrap_or(i64::MAX);
        let (stack, environment) = (self.stack, self.environment);
        let id = lock.info().id.clone();
        let (first, second) = self.lock_keys();
        let (first, second) = (i64::from(first), i64::from(second));
        let outcome = block_on(async {
            let steps = async {
                let Some(head) = begin_at_head(&client, stack, environment).await? else {
                    return Ok(Pruned::Done(Vec::new()));
                };
                if !still_held(&client, stack, environment, &id, (first, second)).await? {
                    return Ok(Pruned::LockBroken);
                }
                let below = oldest_kept.min(head);
                let rows = client
                    .query(
                        "DELETE FROM infra.versions \
                         WHERE stack = $1 AND environment = $2 AND serial < $3 RETURNING serial",
                        &[&stack, &environment, &below],
                    )
                    .await?;
                client.batch_execute("COMMIT").await?;
                let mut removed: Vec<u64> = rows
                    .iter()
                    .filter_map(|r| u64::try_from(r.get::<_, i64>(0)).ok())
                    .collect();
                removed.sort_unstable();
                Ok::<_, tokio_postgres::Error>(Pruned::Done(removed))
            };
            let outcome = steps.await;
            if !matches!(outcome, Ok(Pruned::Done(_))) {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            outcome
        })?;
        match outcome {
            Ok(Pruned::Done(removed)) => Ok(removed),
            Ok(Pruned::LockBroken) => Err(lock_broken(&self.table_path("locks"), &id)),
            Err(error) => Err(self.sql_error("versions", "pruning", &error)),
        }
    }

    /// The holder recorded in `infra.locks`, if any.
    fn holder_row(&self) -> Result<Option<LockInfo>, StateError> {
        let rows = self.query(
            "locks",
            "reading",
            "SELECT id, user_name, host_name, pid, operation, created_at FROM infra.locks \
             WHERE stack = $1 AND environment = $2",
            &[&self.stack, &self.environment],
        )?;
        Ok(rows.first().map(lock_info))
    }

    /// The server process of the session that holds the advisory lock, if any.
    fn holding_session(&self) -> Result<Option<i32>, StateError> {
        let (first, second) = self.lock_keys();
        let rows = self.query(
            "locks",
            "reading",
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 \
             AND classid::bigint = $1 AND objid::bigint = $2",
            &[&i64::from(first), &i64::from(second)],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// Takes the lock, waiting up to `timeout` and telling `on_wait` the
    /// holder once.
    pub fn lock(
        &self,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<PgLock, StateError> {
        // The tables exist before the lock's own connection uses them.
        self.client()?;
        let target = self.target()?;
        let path = self.table_path("locks");
        let session = target.connect()?;
        let (first, second) = self.lock_keys();
        let info = LockInfo {
            id: new_uuid(self.host),
            user: self.host.username(),
            host: self.host.hostname(),
            pid: self.host.pid(),
            operation: operation.to_owned(),
            created_at: self.host.now_unix_seconds(),
        };
        let started = self.host.now_unix_millis();
        let timeout_millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let mut told = false;
        loop {
            let taken = block_on(
                session.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&first, &second]),
            )?
            .map_err(|e| self.sql_error("locks", "taking the lock in", &e))?;
            if taken.get::<_, bool>(0) {
                break;
            }
            let holder = self.holder_row()?;
            let waited = self.host.now_unix_millis().saturating_sub(started);
            if waited >= timeout_millis {
                return Err(super::lock::locked_error(
                    &path,
                    holder,
                    timeout,
                    self.host.now_unix_seconds(),
                ));
            }
            if !told {
                on_wait(holder.as_ref());
                told = true;
            }
            let remaining = Duration::from_millis(timeout_millis - waited);
            self.host.sleep(POLL.min(remaining));
        }
        // A row left behind is a holder whose session ended without
        // releasing (a killed process): the server freed its lock.
        let stale = self.holder_row()?;
        let pid = i64::from(info.pid);
        let created_at = i64::try_from(info.created_at).unwrap_or(i64::MAX);
        block_on(session.execute(
            "INSERT INTO infra.locks (stack, environment, id, user_name, host_name, pid, \
             operation, created_at, session_pid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, pg_backend_pid()) \
             ON CONFLICT (stack, environment) DO UPDATE SET id = EXCLUDED.id, \
             user_name = EXCLUDED.user_name, host_name = EXCLUDED.host_name, pid = EXCLUDED.pid, \
             operation = EXCLUDED.operation, created_at = EXCLUDED.created_at, \
             session_pid = EXCLUDED.session_pid",
            &[
                &self.stack,
                &self.environment,
                &info.id,
                &info.user,
                &info.host,
                &pid,
                &info.operation,
                &created_at,
            ],
        ))?
        .map_err(|e| self.sql_error("locks", "recording the lock holder in", &e))?;
        if let Ok(mut slot) = self.lock_id.lock() {
            *slot = Some(info.id.clone());
        }
        Ok(PgLock {
            session: Some(session),
            path,
            stack: self.stack.to_owned(),
            environment: self.environment.to_owned(),
            keys: (first, second),
            info,
            stale,
        })
    }

    /// Whether a session holds the advisory lock now.
    pub fn is_locked(&self) -> Result<bool, StateError> {
        Ok(self.holding_session()?.is_some())
    }

    /// Who holds the lock, as its row says; `None` when nobody does.
    pub fn lock_holder(&self) -> Option<LockInfo> {
        self.holder_row().ok().flatten()
    }

    /// Breaks the lock whose id is `id`: ends the holder's session if it is
    /// still connected (a hung or unreachable process; its next write is
    /// refused), and removes its row.
    pub fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let path = self.table_path("locks");
        let holder = match self.holder_row()? {
            Some(holder) => holder,
            None => {
                let help = if self.is_locked()? {
                    "the lock is held by a session that left no holder row (an infra that is \
                     still starting); try again in a moment"
                } else {
                    "the state is not locked; there is nothing to unlock"
                };
                return Err(StateError::new(Code::StateLockMismatch, Some(&path), help));
            }
        };
        if holder.id != id {
            let mut error = StateError::new(
                Code::StateLockMismatch,
                Some(&path),
                format!(
                    "the lock is {}; pass that id if its process is gone",
                    holder.describe(self.host.now_unix_seconds())
                ),
            );
            error.holder = Some(Box::new(holder));
            return Err(error);
        }
        if let Some(session) = self.holding_session()? {
            let ended = self.query(
                "locks",
                "ending the lock holder's session for",
                "SELECT pg_terminate_backend($1)",
                &[&session],
            )?;
            if !ended.first().is_some_and(|r| r.get::<_, bool>(0)) {
                return Err(StateError::new(
                    Code::StateIo,
                    Some(&path),
                    "the holder's database session could not be ended; the state URL's user \
                     needs to be the same role, a superuser or a member of pg_signal_backend",
                ));
            }
        }
        self.query(
            "locks",
            "removing the lock from",
            "DELETE FROM infra.locks WHERE stack = $1 AND environment = $2 AND id = $3",
            &[&self.stack, &self.environment, &id],
        )?;
        Ok(holder)
    }

    /// The journal's records, in the order they were committed.
    pub fn read_journal(&self) -> Result<JournalRead<JournalRecord>, StateError> {
        let rows = self.query(
            "journal",
            "reading",
            "SELECT seq, records FROM infra.journal WHERE stack = $1 AND environment = $2 \
             ORDER BY seq",
            &[&self.stack, &self.environment],
        )?;
        let mut records = Vec::new();
        for found in &rows {
            let seq: i64 = found.get(0);
            let text: String = found.get(1);
            let group: Vec<JournalRecord> = serde_json::from_str(&text).map_err(|error| {
                StateError::new(
                    Code::StateCorruptedJournal,
                    Some(&self.table_path("journal")),
                    format!(
                        "journal row {seq} cannot be read ({error}): it was altered by hand or \
                         damaged. Nothing was changed; put the row back, or delete this stack \
                         environment's journal rows and run `infra refresh`"
                    ),
                )
            })?;
            records.extend(group);
        }
        Ok(JournalRead {
            records,
            torn_tail: false,
        })
    }

    /// Removes the journal once its records are in a written version.
    pub fn clear_journal(&self) -> Result<(), StateError> {
        self.query(
            "journal",
            "clearing",
            "DELETE FROM infra.journal WHERE stack = $1 AND environment = $2",
            &[&self.stack, &self.environment],
        )
        .map(drop)
    }

    /// Appends an audit record.
    pub fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError> {
        let text = serde_json::to_string(record).map_err(|error| {
            StateError::new(
                Code::Internal,
                Some(&self.table_path("audit")),
                error.to_string(),
            )
        })?;
        self.query(
            "audit",
            "appending to",
            "INSERT INTO infra.audit (stack, environment, record) VALUES ($1, $2, $3)",
            &[&self.stack, &self.environment, &text],
        )
        .map(drop)
    }

    /// The audit records, oldest first; unreadable rows are skipped and
    /// counted by their place.
    pub fn audit(&self) -> Result<AuditLog, StateError> {
        let rows = self.query(
            "audit",
            "reading",
            "SELECT record FROM infra.audit WHERE stack = $1 AND environment = $2 ORDER BY seq",
            &[&self.stack, &self.environment],
        )?;
        let mut log = AuditLog::default();
        for (index, found) in rows.iter().enumerate() {
            let text: String = found.get(0);
            match serde_json::from_str(&text) {
                Ok(record) => log.records.push(record),
                Err(_) => log.skipped_lines.push(index + 1),
            }
        }
        Ok(log)
    }
}

const HELD_QUERY: &str = "SELECT 1 FROM infra.locks l WHERE l.stack = $1 AND l.environment = $2 \
     AND l.id = $3 AND EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' \
     AND p.granted AND p.objsubid = 2 AND p.classid::bigint = $4 AND p.objid::bigint = $5 \
     AND p.pid = l.session_pid)";

/// The first steps of a transaction that changes an environment's
/// versions: BEGIN, then its head row locked (`FOR UPDATE`), so that two
/// such transactions on one environment take turns. The head's serial,
/// `None` when there is none yet.
async fn begin_at_head(
    client: &Client,
    stack: &str,
    environment: &str,
) -> Result<Option<i64>, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let head = client
        .query(
            "SELECT serial FROM infra.heads WHERE stack = $1 AND environment = $2 FOR UPDATE",
            &[&stack, &environment],
        )
        .await?;
    Ok(head.first().map(|r| r.get::<_, i64>(0)))
}

/// Whether the lock `id` (with its advisory lock `keys`) still holds the
/// environment, checked inside the transaction ([`HELD_QUERY`]).
async fn still_held(
    client: &Client,
    stack: &str,
    environment: &str,
    id: &str,
    keys: (i64, i64),
) -> Result<bool, tokio_postgres::Error> {
    let (first, second) = keys;
    let held = client
        .query(HELD_QUERY, &[&stack, &environment, &id, &first, &second])
        .await?;
    Ok(!held.is_empty())
}

fn row(found: &tokio_postgres::Row) -> Row {
    Row {
        serial: found.get(0),
        lineage: found.get(1),
        checksum: found.get(2),
        document: found.get(3),
    }
}

fn lock_info(found: &tokio_postgres::Row) -> LockInfo {
    LockInfo {
        id: found.get(0),
        user: found.get(1),
        host: found.get(2),
        pid: u32::try_from(found.get::<_, i64>(3)).unwrap_or(0),
        operation: found.get(4),
        created_at: u64::try_from(found.get::<_, i64>(5)).unwrap_or(0),
    }
}

fn poisoned() -> StateError {
    StateError::new(
        Code::Internal,
        None,
        "the postgres state connection was poisoned by a panic; this is a bug",
    )
}

fn lock_broken(path: &Path, id: &str) -> StateError {
    StateError::new(
        Code::StateLockMismatch,
        Some(path),
        format!(
            "this command's state lock ({id}) was broken while it ran (`infra force-unlock`, or \
             its database session ended): nothing more was written. What it finished is in the \
             journal, which the next command records"
        ),
    )
}

/// Creates the tables, or migrates them to [`SCHEMA_VERSION`], under an
/// advisory lock so that two first commands do not race.
fn migrate(client: &mut Client, shown: &str) -> Result<(), StateError> {
    let fail = |error: tokio_postgres::Error| {
        StateError::new(
            Code::StateIo,
            Some(Path::new(shown)),
            format!(
                "creating the state tables in {shown} failed: {}; the state URL's user needs \
                 to be allowed to create a schema (or an `infra` schema it owns must exist)",
                describe(&error)
            ),
        )
    };
    let version = block_on(async {
        let transaction = client.transaction().await?;
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&LOCK_NAMESPACE, &MIGRATION_LOCK],
            )
            .await?;
        transaction
            .batch_execute(
                "CREATE SCHEMA IF NOT EXISTS infra;
                 CREATE TABLE IF NOT EXISTS infra.schema_version (
                     version integer NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 );",
            )
            .await?;
        let row = transaction
            .query_one(
                "SELECT coalesce(max(version), 0) FROM infra.schema_version",
                &[],
            )
            .await?;
        let found: i32 = row.get(0);
        if found > SCHEMA_VERSION {
            transaction.rollback().await?;
            return Ok(Err(found));
        }
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            let to = i32::try_from(index + 1).unwrap_or(i32::MAX);
            if to > found {
                transaction.batch_execute(migration).await?;
                transaction
                    .execute(
                        "INSERT INTO infra.schema_version (version) VALUES ($1)",
                        &[&to],
                    )
                    .await?;
            }
        }
        transaction.commit().await?;
        Ok::<_, tokio_postgres::Error>(Ok(found))
    })?
    .map_err(fail)?;
    match version {
        Ok(_) => Ok(()),
        Err(newer) => Err(StateError::new(
            Code::StateUnsupportedVersion,
            Some(Path::new(shown)),
            format!(
                "the state tables in {shown} are at version {newer}; this infra knows up to \
                 version {SCHEMA_VERSION}: use a newer infra"
            ),
        )),
    }
}

/// A held postgres lock: a session of its own holding the advisory lock.
/// Dropping it releases the lock and removes the holder row.
pub struct PgLock {
    session: Option<Client>,
    path: PathBuf,
    stack: String,
    environment: String,
    keys: (i32, i32),
    info: LockInfo,
    stale: Option<LockInfo>,
}

impl std::fmt::Debug for PgLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLock")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl PgLock {
    fn release_now(&mut self) -> Result<(), StateError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let (first, second) = self.keys;
        let (stack, environment, id) = (&self.stack, &self.environment, &self.info.id);
        let released = block_on(async {
            session
                .execute(
                    "DELETE FROM infra.locks WHERE stack = $1 AND environment = $2 AND id = $3",
                    &[stack, environment, id],
                )
                .await?;
            session
                .execute("SELECT pg_advisory_unlock($1, $2)", &[&first, &second])
                .await
        })?;
        // Closing the session releases the advisory lock in any case; a
        // failure here (the session was ended by force-unlock) is reported.
        drop(session);
        released.map(drop).map_err(|error| {
            StateError::new(
                Code::StateIo,
                Some(&self.path),
                format!(
                    "releasing the state lock in {} failed: {}; the server frees it when the \
                     connection closes",
                    self.path.display(),
                    describe(&error)
                ),
            )
        })
    }
}

impl HeldLock for PgLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn location(&self) -> &Path {
        &self.path
    }

    fn replaced_stale(&self) -> Option<&LockInfo> {
        self.stale.as_ref()
    }

    fn release(mut self: Box<Self>) -> Result<(), StateError> {
        self.release_now()
    }
}

impl Drop for PgLock {
    fn drop(&mut self) {
        let _ = self.release_now();
    }
}

/// Appends journal rows, each a group commit, while this backend's lock is held.
struct PgJournal<'b, 'h> {
    backend: &'b PostgresBackend<'h>,
    header: Option<JournalRecord>,
}

impl JournalWriter for PgJournal<'_, '_> {
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        let backend = self.backend;
        let mut group: Vec<&JournalRecord> = Vec::with_capacity(records.len() + 1);
        if let Some(header) = &self.header {
            group.push(header);
        }
        group.extend(records);
        let text = serde_json::to_string(&group).map_err(|error| {
            StateError::new(
                Code::Internal,
                Some(&backend.table_path("journal")),
                error.to_string(),
            )
        })?;
        let id = backend
            .lock_id
            .lock()
            .map_err(|_| poisoned())?
            .clone()
            .unwrap_or_default();
        let inserted = backend.query(
            "journal",
            "appending to",
            "INSERT INTO infra.journal (stack, environment, records) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM infra.locks \
             WHERE stack = $1 AND environment = $2 AND id = $4) RETURNING seq",
            &[&backend.stack, &backend.environment, &text, &id],
        )?;
        if inserted.is_empty() {
            return Err(lock_broken(&backend.table_path("locks"), &id));
        }
        self.header = None;
        Ok(())
    }
}

impl super::backend::Backend for PostgresBackend<'_> {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn environment(&self) -> &str {
        self.environment
    }

    fn state_path(&self) -> PathBuf {
        self.table_path("versions")
    }

    fn journal_path(&self) -> PathBuf {
        self.table_path("journal")
    }

    fn lock_path(&self) -> PathBuf {
        self.table_path("locks")
    }

    fn audit_path(&self) -> PathBuf {
        self.table_path("audit")
    }

    fn key_path(&self) -> PathBuf {
        PostgresBackend::key_path(self)
    }

    fn read(&self) -> Result<Option<StateFile>, StateError> {
        PostgresBackend::read(self)
    }

    fn open_state(&self, file: StateFile, key: &Key) -> Result<State, StateError> {
        super::local::check_key(&file, key, &self.table_path("versions"))?;
        Ok(file.into_state())
    }

    fn version(&self, serial: u64) -> Result<StateFile, StateError> {
        PostgresBackend::version(self, serial)
            .map_err(|error| super::retention::explain_missing(self, serial, error))
    }

    fn history(&self) -> Result<Vec<VersionInfo>, StateError> {
        PostgresBackend::history(self)
    }

    fn write(
        &self,
        lock: &dyn HeldLock,
        state: &mut State,
        key: &Key,
        summary: &str,
    ) -> Result<u64, StateError> {
        PostgresBackend::write(self, lock, state, key, summary).map(|file| file.serial)
    }

    fn restore(
        &self,
        lock: &dyn HeldLock,
        serial: u64,
        key: &Key,
        summary: &str,
    ) -> Result<(State, Option<PathBuf>), StateError> {
        PostgresBackend::restore(self, lock, serial, key, summary)
            .map_err(|error| super::retention::explain_missing(self, serial, error))
    }

    fn key(&self) -> Result<Key, StateError> {
        PostgresBackend::key(self)
    }

    fn load_key(&self) -> Result<Option<Key>, StateError> {
        Key::load(self.host, &PostgresBackend::key_path(self))
    }

    fn lock(
        &self,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<Box<dyn HeldLock + '_>, StateError> {
        Ok(Box::new(PostgresBackend::lock(
            self, operation, timeout, on_wait,
        )?))
    }

    fn is_locked(&self) -> Result<bool, StateError> {
        PostgresBackend::is_locked(self)
    }

    fn lock_holder(&self) -> Option<LockInfo> {
        PostgresBackend::lock_holder(self)
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        PostgresBackend::force_unlock(self, id)
    }

    fn journal_writer(
        &self,
        header: Option<&JournalRecord>,
    ) -> Result<Box<dyn JournalWriter + '_>, StateError> {
        Ok(Box::new(PgJournal {
            backend: self,
            header: header.cloned(),
        }))
    }

    fn read_journal(&self) -> Result<JournalRead<JournalRecord>, StateError> {
        PostgresBackend::read_journal(self)
    }

    fn clear_journal(&self) -> Result<(), StateError> {
        PostgresBackend::clear_journal(self)
    }

    fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError> {
        PostgresBackend::append_audit(self, record)
    }

    fn audit(&self) -> Result<AuditLog, StateError> {
        PostgresBackend::audit(self)
    }

    fn prune(&self, lock: &dyn HeldLock, oldest_kept: u64) -> Result<Vec<u64>, StateError> {
        PostgresBackend::prune(self, lock, oldest_kept)
    }
}
