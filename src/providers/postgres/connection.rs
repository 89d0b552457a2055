//! Connections for the `postgres` provider: the provider block's settings,
//! a small pool of connections per database (opened on first use, replaced
//! when lost), and the mapping of errors to [`ProviderError`]s: SQLSTATE to
//! transient or permanent, every message naming the server (`host:port`)
//! and passed through a redactor.
//!
//! TLS follows libpq's `sslmode` (default `prefer`) and `sslrootcert`, from
//! the block or the `url`'s parameters (see [`crate::postgres_tls`]).
//!
//! Invariant: no message carries the password or the `url` (both redacted,
//! and never formatted in); a mode of `require` or stricter never connects
//! in the clear, and a verifying mode never connects unverified.

use super::batch::Batcher;
use super::{database::DatabaseRow, role::RoleRow};
use crate::lang::Value;
use crate::postgres_tls::{self, RootCerts, SslMode, Tls};
use crate::providers::http::client::Redactor;
use crate::providers::{Attributes, ProviderError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Row, types::ToSql};

/// The settings a `provider "postgres"` block may have.
pub const SETTINGS: [&str; 10] = [
    "url",
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "max_connections",
];

/// Connections per database when `max_connections` is unset.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

/// Seconds a connection attempt may take when `connect_timeout` is unset.
pub const DEFAULT_CONNECT_TIMEOUT: u64 = 10;

/// Where and how to connect.
#[derive(Clone)]
pub struct Settings {
    /// Everything but the database name, which each connection sets.
    config: tokio_postgres::Config,
    /// `sslmode` and `sslrootcert`, ready to connect with.
    tls: Tls,
    /// The database objects live in when they say none.
    pub dbname: String,
    /// `host:port`, for messages.
    pub endpoint: String,
    /// The user connected as, for messages.
    pub user: String,
    /// Connections per database.
    pub max_connections: usize,
    /// The password and the URL, hidden in every message.
    pub redactor: Redactor,
}

impl Default for Settings {
    fn default() -> Self {
        // Unreachable in practice: the empty block parses.
        Settings::from_block(&Attributes::default(), &|_| Err(String::new())).unwrap_or_else(|_| {
            Settings {
                config: tokio_postgres::Config::new(),
                tls: Tls::disabled(),
                dbname: "postgres".into(),
                endpoint: "localhost:5432".into(),
                user: "postgres".into(),
                max_connections: DEFAULT_MAX_CONNECTIONS,
                redactor: Redactor::default(),
            }
        })
    }
}

fn setting_text(config: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match config.get(name) {
        None => Ok(None),
        Some(value) if value.is_null() => Ok(None),
        Some(value) => match value.as_str() {
            Some(text) => Ok(Some(text.to_owned())),
            None => match value.as_number().and_then(|n| n.as_i64()) {
                Some(number) => Ok(Some(number.to_string())),
                None => Err(ProviderError::permanent(format!(
                    "`{name}` must be a string, not a {}",
                    value.type_name()
                ))
                .at([name])),
            },
        },
    }
}

fn setting_number(
    config: &Attributes,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, ProviderError> {
    match setting_text(config, name)? {
        None => Ok(None),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(number) if range.contains(&number) => Ok(Some(number)),
            _ => Err(ProviderError::permanent(format!(
                "`{name}` must be a whole number from {} to {}",
                range.start(),
                range.end()
            ))
            .at([name])),
        },
    }
}

impl Settings {
    /// Reads a `provider "postgres"` block: `url`, then the separate
    /// settings on top of it. Defaults: `localhost`, `5432`, user and
    /// database `postgres`, `sslmode` `prefer`. `read_file` reads the
    /// `sslrootcert` file (a path as written; the caller resolves it).
    pub fn from_block(
        block: &Attributes,
        read_file: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    ) -> Result<Settings, ProviderError> {
        for name in block.keys() {
            if !SETTINGS.contains(&name.as_str()) {
                return Err(ProviderError::permanent(format!(
                    "provider `postgres` has no setting `{name}` (it has {})",
                    SETTINGS.join(", ")
                ))
                .at([name.as_str()]));
            }
        }
        let mut redactor = Redactor::default();
        for value in block.values() {
            redactor.add_secrets_in(value);
        }
        let mut url_tls = postgres_tls::SplitUrl::default();
        let mut config = match setting_text(block, "url")? {
            None => tokio_postgres::Config::new(),
            Some(url) => {
                redactor.add(&url);
                url_tls = postgres_tls::split_url(&url);
                let parsed = url_tls.url.parse::<tokio_postgres::Config>().map_err(|_| {
                    // The parser's message may quote the URL: not shown.
                    ProviderError::permanent(
                        "`url` is not a PostgreSQL connection URL \
                         (postgres://USER:PASSWORD@HOST:PORT/DBNAME?sslmode=disable)",
                    )
                    .at(["url"])
                })?;
                if let Some(password) = parsed.get_password() {
                    redactor.add(&String::from_utf8_lossy(password));
                }
                parsed
            }
        };
        // The client keeps a list of hosts and ports (for failover), so a
        // `host` beside a `url` would add a second one, not replace it.
        if block.contains_key("url") {
            for name in ["host", "port"] {
                if block.get(name).is_some_and(|v| !v.is_null()) {
                    return Err(ProviderError::permanent(format!(
                        "`{name}` and `url` are two ways to say where the server is: put the \
                         host and port in `url`, or leave `url` out"
                    ))
                    .at([name]));
                }
            }
        }
        if let Some(host) = setting_text(block, "host")? {
            config.host(&host);
        }
        if let Some(port) = setting_number(block, "port", 1..=65535)? {
            config.port(u16::try_from(port).unwrap_or(5432));
        }
        if let Some(user) = setting_text(block, "user")? {
            config.user(&user);
        }
        if let Some(password) = setting_text(block, "password")? {
            redactor.add(&password);
            config.password(password);
        }
        if let Some(dbname) = setting_text(block, "dbname")? {
            config.dbname(&dbname);
        }
        let tls = tls_of(block, &url_tls, read_file)?;
        let timeout = setting_number(block, "connect_timeout", 1..=3600)?
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        config.connect_timeout(Duration::from_secs(timeout));
        let max_connections = setting_number(block, "max_connections", 1..=100)?
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            config.user("postgres");
        }
        config.application_name("infra");
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let endpoint = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let dbname = config.get_dbname().unwrap_or("postgres").to_owned();
        let user = config.get_user().unwrap_or("postgres").to_owned();
        Ok(Settings {
            config,
            tls,
            dbname,
            endpoint,
            user,
            max_connections,
            redactor,
        })
    }
}

/// `sslmode` and `sslrootcert`: the block's own settings, else the `url`'s
/// parameters; an error points at whichever said it.
fn tls_of(
    block: &Attributes,
    url: &postgres_tls::SplitUrl,
    read_file: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Tls, ProviderError> {
    let (mode_at, mode) = match setting_text(block, "sslmode")? {
        Some(mode) => ("sslmode", Some(mode)),
        None => ("url", url.sslmode.clone()),
    };
    let mode = match mode {
        None => SslMode::default(),
        Some(mode) => SslMode::parse(&mode)
            .map_err(|message| ProviderError::permanent(message).at([mode_at]))?,
    };
    let (root_at, root) = match setting_text(block, "sslrootcert")? {
        Some(root) => ("sslrootcert", Some(root)),
        None => ("url", url.sslrootcert.clone()),
    };
    let roots = match root.as_deref() {
        None | Some("") => None,
        Some(postgres_tls::SYSTEM_ROOTS) => Some(RootCerts::System),
        Some(path) => Some(RootCerts::Pem(read_file(path).map_err(|error| {
            ProviderError::permanent(format!("could not read `sslrootcert` {path}: {error}"))
                .at([root_at])
        })?)),
    };
    let at = if roots.is_some() && root_at == "sslrootcert" {
        "sslrootcert"
    } else {
        mode_at
    };
    Tls::new(mode, roots).map_err(|message| ProviderError::permanent(message).at([at]))
}

/// A failed statement or connection: the provider error, and the
/// server's SQLSTATE when it sent one (for the kinds to tell "already
/// exists" or "no such database" apart).
#[derive(Debug, Clone)]
pub struct Failure {
    /// The SQLSTATE, as `42710`.
    pub sqlstate: Option<String>,
    /// The error, message redacted.
    pub error: ProviderError,
}

impl Failure {
    /// Whether the server said `code`.
    pub fn is(&self, code: &str) -> bool {
        self.sqlstate.as_deref() == Some(code)
    }

    /// The error pointed at an attribute.
    pub fn at(self, attribute: &str) -> ProviderError {
        self.error.at([attribute])
    }
}

impl From<Failure> for ProviderError {
    fn from(failure: Failure) -> Self {
        failure.error
    }
}

/// The connections to one database.
struct Slots {
    slots: Vec<tokio::sync::Mutex<Option<Arc<Client>>>>,
    next: AtomicUsize,
}

/// A configured provider's connections and batched reads.
pub struct Pg {
    /// The provider block's settings.
    pub settings: Settings,
    databases: Mutex<HashMap<String, Arc<Slots>>>,
    /// Batched reads of `pg_roles`.
    pub roles: Batcher<String, RoleRow>,
    /// Batched reads of `pg_database`.
    pub database_rows: Batcher<String, DatabaseRow>,
    /// Whether `pg_authid` (the password verifiers) can be read: 0 not
    /// known yet, 1 yes, 2 no.
    authid: AtomicU8,
}

impl Pg {
    /// No connections yet.
    pub fn new(settings: Settings) -> Pg {
        Pg {
            settings,
            databases: Mutex::new(HashMap::new()),
            roles: Batcher::default(),
            database_rows: Batcher::default(),
            authid: AtomicU8::new(0),
        }
    }

    /// Whether `pg_authid` is readable, when known.
    pub fn authid_readable(&self) -> Option<bool> {
        match self.authid.load(Ordering::Relaxed) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    /// Records whether `pg_authid` is readable.
    pub fn set_authid_readable(&self, readable: bool) {
        self.authid
            .store(if readable { 1 } else { 2 }, Ordering::Relaxed);
    }

    fn slots(&self, db: &str) -> Arc<Slots> {
        let mut databases = match self.databases.lock() {
            Ok(databases) => databases,
            Err(poisoned) => poisoned.into_inner(),
        };
        databases
            .entry(db.to_owned())
            .or_insert_with(|| {
                Arc::new(Slots {
                    slots: (0..self.settings.max_connections.max(1))
                        .map(|_| tokio::sync::Mutex::new(None))
                        .collect(),
                    next: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// Closes this provider's connections to `db` (before it is dropped or
    /// renamed, which the server refuses while anyone is connected).
    pub fn forget(&self, db: &str) {
        let mut databases = match self.databases.lock() {
            Ok(databases) => databases,
            Err(poisoned) => poisoned.into_inner(),
        };
        databases.remove(db);
    }

    /// A connection to `db`, opened if none is open in its turn.
    pub async fn client(&self, db: &str, redactor: &Redactor) -> Result<Arc<Client>, Failure> {
        let slots = self.slots(db);
        let count = slots.slots.len().max(1);
        let turn = slots.next.fetch_add(1, Ordering::Relaxed) % count;
        let Some(slot) = slots.slots.get(turn) else {
            return Err(Failure {
                sqlstate: None,
                error: ProviderError::permanent("no connection slot (this is a bug)"),
            });
        };
        let mut slot = slot.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(client.clone());
        }
        let mut config = self.settings.config.clone();
        config.dbname(db);
        // The connection's driver ends when the client is dropped or the
        // server goes away; the next call sees `is_closed` and opens anew.
        let client = self
            .settings
            .tls
            .connect(&config)
            .await
            .map_err(|error| self.connect_error(db, &error, redactor))?;
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The redactor for a call whose attributes are `attributes`: the
    /// provider's secrets and every secret value among them.
    pub fn redactor_for(&self, attributes: &Attributes) -> Redactor {
        let mut redactor = self.settings.redactor.clone();
        for value in attributes.values() {
            redactor.add_secrets_in(value);
        }
        redactor
    }

    /// Runs statements (one simple query: they commit together, and alone
    /// one may be `CREATE DATABASE`) on `db`.
    pub async fn execute(
        &self,
        db: &str,
        sql: &str,
        redactor: &Redactor,
        doing: &str,
    ) -> Result<(), Failure> {
        let client = self.client(db, redactor).await?;
        client
            .batch_execute(sql)
            .await
            .map_err(|error| self.error(&error, redactor, doing))
    }

    /// Runs a query with parameters on `db`.
    pub async fn query(
        &self,
        db: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        redactor: &Redactor,
        doing: &str,
    ) -> Result<Vec<Row>, Failure> {
        let client = self.client(db, redactor).await?;
        client
            .query(sql, params)
            .await
            .map_err(|error| self.error(&error, redactor, doing))
    }

    /// A failed connection attempt: names the server, the database and the
    /// user; a database that does not exist is not found.
    fn connect_error(
        &self,
        db: &str,
        error: &tokio_postgres::Error,
        redactor: &Redactor,
    ) -> Failure {
        let reason = redactor.redact(&describe(error));
        let mode = self.settings.tls.mode();
        let tls_hint = postgres_tls::failure_hint(error, mode);
        let mut message = format!(
            "could not connect to PostgreSQL at {} (database `{}`, user `{}`, sslmode `{}`): \
             {reason}",
            self.settings.endpoint,
            redactor.redact(db),
            redactor.redact(&self.settings.user),
            mode.as_str(),
        );
        if let Some(hint) = &tls_hint {
            message.push_str(&format!("; {hint}"));
        }
        let sqlstate = error.code().map(|code| code.code().to_owned());
        let error = match sqlstate.as_deref() {
            // A certificate that does not verify will not on a retry either.
            None if tls_hint.is_some() => ProviderError::permanent(message),
            Some("3D000") => ProviderError::not_found(message),
            Some(code) if transient_sqlstate(code) => ProviderError::transient(message),
            Some(_) => ProviderError::permanent(message),
            // Refused, reset, timed out: the server may be starting.
            None => ProviderError::transient(message),
        };
        Failure { sqlstate, error }
    }

    /// A failed statement, as a provider error that says what was being done.
    pub fn error(
        &self,
        error: &tokio_postgres::Error,
        redactor: &Redactor,
        doing: &str,
    ) -> Failure {
        let message = redactor.redact(&format!(
            "{doing} on PostgreSQL at {}: {}",
            self.settings.endpoint,
            describe(error)
        ));
        let sqlstate = error.code().map(|code| code.code().to_owned());
        let server_message = error
            .as_db_error()
            .map(|db| db.message())
            .unwrap_or_default();
        let error = match sqlstate.as_deref() {
            Some(code) if transient_sqlstate(code) => ProviderError::transient(message),
            Some(code) if concurrent_catalog_update(code, server_message) => {
                ProviderError::transient(message)
            }
            Some(_) => ProviderError::permanent(message),
            // A lost connection, or a row that did not decode (a bug
            // more likely than the server's): retrying costs little.
            None if error.is_closed() => ProviderError::transient(message),
            None => ProviderError::permanent(message),
        };
        Failure { sqlstate, error }
    }
}

/// The server's message and SQLSTATE (with its detail and hint), or the
/// client's own error.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text.push_str(&format!(": {cause_text}"));
                }
                source = cause.source();
            }
            text
        }
    }
}

/// Whether an error with this SQLSTATE may pass if the call is made again:
/// connection failures (class 08), serialization failures and deadlocks,
/// too many connections or out of memory, a lock not available, a query
/// cancelled, and a server shutting down or starting up (57P01-57P03).
pub fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "40001"
                | "40P01"
                | "53000"
                | "53200"
                | "53300"
                | "55P03"
                | "57014"
                | "57P01"
                | "57P02"
                | "57P03"
        )
}

/// Whether the server lost a race on a catalog row: two sessions changing
/// the same object's ACL at once (two grants on one schema, applied in
/// parallel) make the second fail with an internal error that succeeds
/// when tried again.
pub fn concurrent_catalog_update(code: &str, message: &str) -> bool {
    code == "XX000" && message.contains("tuple concurrently updated")
}

/// The text of a value that may be secret, or `(secret)` when it is.
pub fn shown(value: &Value) -> String {
    match (value.is_secret(), value.as_str()) {
        (true, _) => "(secret)".to_owned(),
        (false, Some(text)) => text.to_owned(),
        (false, None) => value.type_name().to_owned(),
    }
}
