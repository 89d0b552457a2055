//! The `s3` backend: a team's shared state in an S3 bucket (`stack { state =
//! "s3", state_bucket = "acme-infra", state_key_prefix = "infra" }`), on AWS
//! or any S3-compatible endpoint (moto, MinIO, LocalStack).
//!
//! ```text
//! PREFIX/STACK/ENV/versions/<serial, 20 digits>.json   every version kept (never overwritten; the oldest pruned under a retention setting)
//! PREFIX/STACK/ENV/head.json                           the lineage and serial of the current version
//! PREFIX/STACK/ENV/lock.json                           the lock and its holder, while a command writes
//! PREFIX/STACK/ENV/journal/<seq, 20 digits>.json       completed actions not yet in a version, one object per group commit
//! PREFIX/STACK/ENV/audit/<millis>-<uuid>.json          one audit record per writing command
//! PREFIX/STACK/ENV/replaced/<serial>-<time>.json       a current version that failed its checks, kept aside by a restore
//! ```
//!
//! Every object that must not be overwritten is written with `If-None-Match:
//! *` (S3 conditional writes): the lock object, so two commands cannot both
//! take it (as Terraform 1.11's `use_lockfile`); each version, so a version
//! write is a compare-and-swap on the serial; each journal object. The
//! current version is the newest object under `versions/`; its write is the
//! commit point, and `head.json` follows it so that deleted versions are
//! noticed. The documents are the same JSON a local state file holds: the
//! checksum covers them, and secrets are sealed with the key that stays on
//! the machine (`INFRA_STATE_KEY` or `.infra/key` beside the stack): the
//! bucket never sees plaintext.
//!
//! A lock whose holder died (a `kill -9`) stays in the bucket: the next
//! command on the same machine sees that the process is gone and takes it
//! over; from another machine `infra force-unlock ID` breaks it. A version,
//! and a journal object, is written only while the lock object still names
//! this command's lock, so a lock broken by `force-unlock` fences its old
//! holder out.
//!
//! Terminology: the *base* is `PREFIX/STACK/ENV/`; messages show objects as
//! `s3://BUCKET/KEY`.
//!
//! Invariant: the secret key and session token are in no message (the AWS
//! client redacts them) and in no object.
//! Invariant: a version object is never overwritten; reading takes no lock
//! and writes nothing.
//! Invariant: an object that fails a check (checksum, serial against its
//! name, head) is refused; a restore keeps it aside under `replaced/`.

use super::audit::{AuditLog, AuditRecord};
use super::backend::JournalWriter;
use super::crypto::Key;
use super::file::{StateFile, VersionInfo};
use super::journal::JournalRead;
use super::lock::{HeldLock, LockInfo};
use super::{JournalRecord, State, StateError, new_uuid};
use crate::aws::{self, AwsError, Client, Credentials};
use crate::diag::Code;
use crate::host::Host;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How often a waiting command asks for the lock again.
const POLL: Duration = Duration::from_millis(200);

/// How many times a transient failure (throttling, 5xx, timeout) is tried.
const ATTEMPTS: u32 = 4;

/// The region when neither the stack nor `AWS_REGION`/`AWS_DEFAULT_REGION` names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The environment variables that give an S3 endpoint when the stack does
/// not (the AWS SDKs' names).
pub const ENDPOINT_ENV: &[&str] = &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"];

/// Where an `s3` state lives and how to reach it: the stack's `state_*`
/// attributes, or an `s3://BUCKET/PREFIX` state URL.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket (it must exist; infra does not create it).
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// The region; else `AWS_REGION`, `AWS_DEFAULT_REGION`, [`DEFAULT_REGION`].
    pub region: Option<String>,
    /// A custom endpoint; else `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, AWS.
    pub endpoint: Option<String>,
    /// The access key id; else `AWS_ACCESS_KEY_ID`.
    pub access_key: Option<String>,
    /// The secret access key; else `AWS_SECRET_ACCESS_KEY`.
    pub secret_key: Option<String>,
    /// The session token; else `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    // The secret key and the session token are never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// The settings an `s3://BUCKET/PREFIX` state URL gives; the rest comes
    /// from the environment.
    pub fn from_url(url: &str) -> Result<S3Settings, StateError> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StateError::new(
                Code::StateBackendConfig,
                None,
                "an s3 state URL names its bucket: s3://BUCKET or s3://BUCKET/PREFIX",
            ));
        }
        Ok(S3Settings {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            ..S3Settings::default()
        })
    }
}

/// Runs `future` to completion on the remote backends' runtime.
fn block_on<F>(future: F) -> Result<F::Output, StateError>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    super::remote::block_on("s3", future)
}

/// What `head.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Head {
    lineage: String,
    serial: u64,
}

/// The bucket and client, shared by the backend and its lock.
#[derive(Clone, Debug)]
struct Store {
    client: Client,
    bucket: String,
}

impl Store {
    fn shown(&self, key: &str) -> PathBuf {
        PathBuf::from(format!("s3://{}/{key}", self.bucket))
    }

    /// Runs one call, trying a transient failure again a few times.
    fn call<T, F, Fut>(&self, host: &dyn Host, make: F) -> Result<Result<T, AwsError>, StateError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>> + Send,
        T: Send,
    {
        let mut attempt = 1;
        loop {
            let outcome = block_on(make())?;
            match outcome {
                Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                    let wait = error
                        .retry_after
                        .unwrap_or(Duration::from_millis(100 << attempt))
                        .min(Duration::from_secs(5));
                    host.sleep(wait);
                    attempt += 1;
                }
                other => return Ok(other),
            }
        }
    }

    fn get(&self, host: &dyn Host, key: &str, doing: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.call(host, || {
            aws::s3::get_object(&self.client, &self.bucket, key)
        })?
        .map_err(|e| self.error(key, doing, &e))
    }

    /// Writes `key`; with `only_if_absent`, `Ok(false)` when it exists.
    fn put(
        &self,
        host: &dyn Host,
        key: &str,
        body: &[u8],
        only_if_absent: bool,
        doing: &str,
    ) -> Result<bool, StateError> {
        let outcome = self.call(host, || {
            aws::s3::put_object(
                &self.client,
                &self.bucket,
                key,
                body.to_vec(),
                only_if_absent,
            )
        })?;
        match outcome {
            Ok(_) => Ok(true),
            Err(e)
                if only_if_absent && (e.status == Some(412) || e.code == "PreconditionFailed") =>
            {
                // A retried write whose first try went through finds its own bytes.
                Ok(self.get(host, key, doing)?.as_deref() == Some(body))
            }
            Err(e) => Err(self.error(key, doing, &e)),
        }
    }

    fn delete(&self, host: &dyn Host, key: &str, doing: &str) -> Result<(), StateError> {
        self.call(host, || {
            aws::s3::delete_object(&self.client, &self.bucket, key)
        })?
        .map_err(|e| self.error(key, doing, &e))
    }

    /// The keys under `prefix`, in order.
    fn list(&self, host: &dyn Host, prefix: &str) -> Result<Vec<String>, StateError> {
        self.call(host, || {
            aws::s3::list_objects(&self.client, &self.bucket, prefix)
        })?
        .map(|objects| objects.into_iter().map(|o| o.key).collect())
        .map_err(|e| self.error(prefix, "listing", &e))
    }

    /// A failed call on `key`, as a state error with the AWS code.
    fn error(&self, key: &str, doing: &str, error: &AwsError) -> StateError {
        let path = self.shown(key);
        let shown = path.display();
        if error.is_auth() {
            StateError::new(
                Code::StateBackendDenied,
                Some(&path),
                format!(
                    "{doing} {shown} was refused: {error}. Check the credentials \
                     (`state_access_key`/`state_secret_key`, or AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY) and that they may read and write the bucket"
                ),
            )
        } else if error.code == "NoSuchBucket" {
            StateError::new(
                Code::StateBackendConfig,
                Some(&path),
                format!(
                    "the state bucket `{}` does not exist ({error}); create it first (infra \
                     does not create the bucket its state lives in), or fix `state_bucket`",
                    self.bucket
                ),
            )
        } else if error.is_transient() {
            StateError::new(
                Code::StateBackendUnreachable,
                Some(&path),
                format!(
                    "{doing} {shown} failed after {ATTEMPTS} tries: {error}; check that the S3 \
                     endpoint is up and reachable, then run the command again"
                ),
            )
        } else {
            StateError::new(
                Code::StateIo,
                Some(&path),
                format!("{doing} {shown} failed: {error}"),
            )
        }
    }
}

/// State for one stack environment, kept in an S3 bucket.
pub struct S3Backend<'h> {
    host: &'h dyn Host,
    stack_dir: &'h Path,
    stack: &'h str,
    environment: &'h str,
    settings: S3Settings,
    /// `PREFIX/STACK/ENV/`.
    base: String,
    /// The client, made on first use.
    store: Mutex<Option<Store>>,
    /// The id of the lock this backend took, which journal objects are written under.
    lock_id: Mutex<Option<String>>,
    /// The next journal object's number, once known.
    journal_seq: Mutex<Option<u64>>,
}

impl std::fmt::Debug for S3Backend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("settings", &self.settings)
            .field("stack", &self.stack)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl<'h> S3Backend<'h> {
    /// The backend for `environment` of the stack named `stack`, in the
    /// bucket `settings` names; the key stays in `stack_dir` (or
    /// `INFRA_STATE_KEY`). Nothing is called until the first use.
    pub fn new(
        host: &'h dyn Host,
        stack_dir: &'h Path,
        stack: &'h str,
        environment: &'h str,
        settings: S3Settings,
    ) -> Self {
        let mut base = settings.prefix.trim_matches('/').to_owned();
        if !base.is_empty() {
            base.push('/');
        }
        base.push_str(&format!("{stack}/{environment}/"));
        S3Backend {
            host,
            stack_dir,
            stack,
            environment,
            settings,
            base,
            store: Mutex::new(None),
            lock_id: Mutex::new(None),
            journal_seq: Mutex::new(None),
        }
    }

    fn object_key(&self, name: &str) -> String {
        format!("{}{name}", self.base)
    }

    fn version_key(&self, serial: u64) -> String {
        self.object_key(&format!("versions/{serial:020}.json"))
    }

    fn shown(&self, name: &str) -> PathBuf {
        PathBuf::from(format!(
            "s3://{}/{}",
            self.settings.bucket,
            self.object_key(name)
        ))
    }

    /// The client, made on first use from the settings and the environment.
    fn store(&self) -> Result<Store, StateError> {
        let mut slot = self.store.lock().map_err(|_| poisoned())?;
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let config_error =
            |help: String| StateError::new(Code::StateBackendConfig, Some(&self.shown("")), help);
        if self.settings.bucket.is_empty() {
            return Err(config_error(String::from(
                "the `s3` state backend needs a bucket: `stack { state = \"s3\", state_bucket = \
                 \"BUCKET\" }` or --state-url s3://BUCKET/PREFIX",
            )));
        }
        let env = |name: &str| self.host.env_var(name);
        let credentials = Credentials::resolve(
            self.settings.access_key.as_deref(),
            self.settings.secret_key.as_deref(),
            self.settings.session_token.as_deref(),
            &env,
        )
        .map_err(|missing| config_error(format!("the s3 state backend has {}", missing.0)))?;
        let region = self
            .settings
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| aws::region_from_env(&env))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let endpoint = self
            .settings
            .endpoint
            .clone()
            .filter(|e| !e.is_empty())
            .or_else(|| {
                ENDPOINT_ENV
                    .iter()
                    .find_map(|n| env(n).filter(|v| !v.is_empty()))
            });
        let client =
            Client::new(aws::Config::new(region, endpoint, credentials)).map_err(|error| {
                config_error(format!(
                    "the s3 state backend cannot be used: {}",
                    error.message
                ))
            })?;
        let store = Store {
            client,
            bucket: self.settings.bucket.clone(),
        };
        *slot = Some(store.clone());
        Ok(store)
    }

    /// The serials under `versions/`, oldest first.
    fn serials(&self, store: &Store) -> Result<Vec<u64>, StateError> {
        let prefix = self.object_key("versions/");
        let mut serials: Vec<u64> = store
            .list(self.host, &prefix)?
            .iter()
            .filter_map(|key| {
                key.strip_prefix(&prefix)?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()
            })
            .collect();
        serials.sort_unstable();
        Ok(serials)
    }

    fn head(&self, store: &Store) -> Result<Option<Head>, StateError> {
        let key = self.object_key("head.json");
        match store.get(self.host, &key, "reading")? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| {
                StateError::new(
                    Code::StateChecksumMismatch,
                    Some(&store.shown(&key)),
                    format!(
                        "{} cannot be read: it was altered by hand or damaged; {}",
                        store.shown(&key).display(),
                        self.restore_help(None)
                    ),
                )
            }),
        }
    }

    /// The way out of a refused version `serial` (or the newest).
    fn restore_help(&self, serial: Option<u64>) -> String {
        match serial {
            Some(serial) if serial > 1 => format!(
                "`infra state restore {} --env {}` writes the version before it back (the \
                 refused object is kept aside under replaced/)",
                serial - 1,
                self.environment
            ),
            Some(_) => String::from("put the object back as infra wrote it"),
            None => format!(
                "`infra state history --env {}` lists the versions and `infra state restore \
                 SERIAL --env {}` writes one back",
                self.environment, self.environment
            ),
        }
    }

    /// Version `serial`, checked: JSON, checksum, and the serial its name says.
    fn checked_version(&self, store: &Store, serial: u64) -> Result<Option<StateFile>, StateError> {
        let key = self.version_key(serial);
        let path = store.shown(&key);
        let Some(bytes) = store.get(self.host, &key, "reading")? else {
            return Ok(None);
        };
        let file = StateFile::parse(&bytes, &path).map_err(|mut error| {
            error.help = format!(
                "version {serial} ({}) was changed since infra wrote it (an edit by hand or \
                 damage) and is refused: {}; {}",
                path.display(),
                error.help,
                self.restore_help(Some(serial))
            );
            error
        })?;
        if file.serial != serial {
            return Err(StateError::new(
                Code::StateChecksumMismatch,
                Some(&path),
                format!(
                    "{} holds version {}, not the version {serial} its name says: it was \
                     copied or renamed by hand; {}",
                    path.display(),
                    file.serial,
                    self.restore_help(Some(serial))
                ),
            ));
        }
        Ok(Some(file))
    }

    /// The current version, checked against the head; `None` if never written.
    pub fn read(&self) -> Result<Option<StateFile>, StateError> {
        let store = self.store()?;
        let serials = self.serials(&store)?;
        let head = self.head(&store)?;
        let path = self.shown("versions/");
        let Some(&newest) = serials.last() else {
            return match head {
                None => Ok(None),
                Some(head) => Err(StateError::new(
                    Code::StateMissingCurrent,
                    Some(&path),
                    format!(
                        "head.json says version {} is current, but {} holds no version: the \
                         objects were deleted. Nothing was planned from an empty state; put \
                         them back from the bucket's versioning or a backup",
                        head.serial,
                        path.display()
                    ),
                )),
            };
        };
        if let Some(head) = &head
            && newest < head.serial
        {
            return Err(StateError::new(
                Code::StateMissingCurrent,
                Some(&path),
                format!(
                    "head.json says version {} is current, but the newest object under {} is \
                     version {newest}: newer versions were deleted. Nothing was planned from an \
                     older state; put them back, or `infra state restore {newest} --env {}` to \
                     go on from that version",
                    head.serial,
                    path.display(),
                    self.environment
                ),
            ));
        }
        let Some(file) = self.checked_version(&store, newest)? else {
            return Err(StateError::new(
                Code::StateMissingCurrent,
                Some(&self.shown(&format!("versions/{newest:020}.json"))),
                "the newest version was deleted while it was being read; run the command again",
            ));
        };
        if let Some(head) = &head
            && head.lineage != file.lineage
        {
            return Err(StateError::new(
                Code::StateChecksumMismatch,
                Some(&path),
                format!(
                    "the newest version (version {newest}, lineage {}) is not of the lineage \
                     head.json names ({}): an object was added by hand; {}",
                    file.lineage,
                    head.lineage,
                    self.restore_help(Some(newest))
                ),
            ));
        }
        Ok(Some(file))
    }

    /// Version `serial`, checked.
    pub fn version(&self, serial: u64) -> Result<StateFile, StateError> {
        let store = self.store()?;
        self.checked_version(&store, serial)?.ok_or_else(|| {
            StateError::new(
                Code::StateNoSuchVersion,
                Some(&self.shown("versions/")),
                format!("there is no version {serial}; `infra state history` lists the versions"),
            )
        })
    }

    /// Every version, oldest first.
    pub fn history(&self) -> Result<Vec<VersionInfo>, StateError> {
        let store = self.store()?;
        let mut versions = Vec::new();
        for serial in self.serials(&store)? {
            if let Some(file) = self.checked_version(&store, serial)? {
                versions.push(file.info());
            }
        }
        Ok(versions)
    }

    /// The key: `INFRA_STATE_KEY` or the key file beside the stack; a new
    /// key file only when the bucket holds no state of this stack.
    pub fn key(&self) -> Result<Key, StateError> {
        let key_path = self.key_path();
        if let Some(key) = Key::load(self.host, &key_path)? {
            return Ok(key);
        }
        let store = self.store()?;
        let mut stack_prefix = self.settings.prefix.trim_matches('/').to_owned();
        if !stack_prefix.is_empty() {
            stack_prefix.push('/');
        }
        stack_prefix.push_str(&format!("{}/", self.stack));
        // Versions and journal objects are state; a lock (this command's
        // own, taken before the key is read) or an audit record is not.
        let found = store
            .list(self.host, &stack_prefix)?
            .into_iter()
            .find(|key| key.contains("/versions/") || key.contains("/journal/"));
        if let Some(found) = found {
            return Err(StateError::new(
                Code::StateMissingKey,
                Some(&key_path),
                format!(
                    "the state bucket holds state of stack {} ({}), sealed with a key, but \
                     neither {} nor {} is here; set {} (in CI, from a secret) or restore the \
                     key file. A new key is made only for a stack without state",
                    self.stack,
                    store.shown(&found).display(),
                    super::crypto::KEY_ENV,
                    key_path.display(),
                    super::crypto::KEY_ENV
                ),
            ));
        }
        Key::load_or_create(self.host, &key_path)
    }

    /// The key file used when `INFRA_STATE_KEY` is not set: beside the
    /// stack, as with the local backend, never in the bucket.
    pub fn key_path(&self) -> PathBuf {
        self.stack_dir.join(".infra").join("key")
    }

    /// Refuses to go on unless the lock object still names `id`.
    fn check_lock(&self, store: &Store, id: &str) -> Result<(), StateError> {
        let key = self.object_key("lock.json");
        let holder = store
            .get(self.host, &key, "reading the lock")?
            .and_then(|bytes| serde_json::from_slice::<LockInfo>(&bytes).ok());
        if holder.is_some_and(|h| h.id == id) {
            Ok(())
        } else {
            Err(lock_broken(&store.shown(&key), id))
        }
    }

    /// Writes `file` as its version (only if no such version exists: the
    /// compare-and-swap), then the head, while `lock` still holds the lock.
    fn put_version(
        &self,
        store: &Store,
        lock: &dyn HeldLock,
        file: &StateFile,
    ) -> Result<(), StateError> {
        if lock.location() != self.shown("lock.json") {
            return Err(StateError::new(
                Code::Internal,
                Some(&self.shown("versions/")),
                "state written under another state's lock; this is a bug",
            ));
        }
        self.check_lock(store, &lock.info().id)?;
        let key = self.version_key(file.serial);
        if !store.put(self.host, &key, &file.to_bytes(), true, "writing")? {
            return Err(StateError::new(
                Code::StateSerialBackwards,
                Some(&store.shown(&key)),
                format!(
                    "version {} was written by another command in between; run the command again",
                    file.serial
                ),
            ));
        }
        let head = Head {
            lineage: file.lineage.clone(),
            serial: file.serial,
        };
        let bytes = serde_json::to_vec(&head).unwrap_or_default();
        store.put(
            self.host,
            &self.object_key("head.json"),
            &bytes,
            false,
            "writing",
        )?;
        Ok(())
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
        let store = self.store()?;
        let path = self.shown("versions/");
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
        self.put_version(&store, lock, &file)?;
        state.serial = file.serial;
        Ok(file)
    }

    /// Writes version `serial` back as the next version, also over a
    /// current version that fails its checks (kept under `replaced/`).
    pub fn restore(
        &self,
        lock: &dyn HeldLock,
        serial: u64,
        key: &Key,
        summary: &str,
    ) -> Result<(State, Option<PathBuf>), StateError> {
        let store = self.store()?;
        let version = self.version(serial)?;
        let path = self.shown("versions/");
        super::local::check_key(&version, key, &path)?;
        let head = self.head(&store)?;
        if let Some(head) = &head
            && head.lineage != version.lineage
        {
            return Err(super::local::foreign(
                &path,
                &version.lineage,
                &head.lineage,
            ));
        }
        let newest = self.serials(&store)?.last().copied().unwrap_or(0);
        let next = newest.max(head.as_ref().map_or(0, |h| h.serial)) + 1;
        let mut replaced = None;
        let refused = matches!(
            self.read(),
            Err(StateError {
                code: Code::StateInvalidJson
                    | Code::StateInvalidFormat
                    | Code::StateUnsupportedVersion
                    | Code::StateChecksumMismatch,
                ..
            })
        );
        if refused && newest != serial && newest > 0 {
            // The refused newest version is kept aside, then removed, so
            // that the history reads again.
            let bad = self.version_key(newest);
            if let Some(bytes) = store.get(self.host, &bad, "reading")? {
                let kept = self.object_key(&format!(
                    "replaced/{newest:020}-{}.json",
                    self.host.now_unix_seconds()
                ));
                store.put(self.host, &kept, &bytes, false, "writing")?;
                store.delete(self.host, &bad, "removing")?;
                replaced = Some(store.shown(&kept));
            }
        }
        let mut state = version.to_state();
        let file = StateFile::new(
            &state,
            next,
            self.host.now_unix_seconds(),
            summary,
            &key.id(),
        );
        self.put_version(&store, lock, &file)?;
        state.serial = next;
        Ok((state, replaced))
    }

    /// The holder the lock object names, if any (`Err` when it cannot be read).
    fn holder(&self, store: &Store) -> Result<Option<Result<LockInfo, ()>>, StateError> {
        let key = self.object_key("lock.json");
        Ok(store
            .get(self.host, &key, "reading the lock")?
            .map(|bytes| serde_json::from_slice::<LockInfo>(&bytes).map_err(drop)))
    }

    /// Takes the lock (`If-None-Match: *` on the lock object), waiting up
    /// to `timeout` and telling `on_wait` the holder once.
    pub fn lock(
        &self,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<S3Lock, StateError> {
        let store = self.store()?;
        let key = self.object_key("lock.json");
        let path = store.shown(&key);
        let info = LockInfo {
            id: new_uuid(self.host),
            user: self.host.username(),
            host: self.host.hostname(),
            pid: self.host.pid(),
            operation: operation.to_owned(),
            created_at: self.host.now_unix_seconds(),
        };
        let bytes = serde_json::to_vec_pretty(&info).unwrap_or_default();
        let started = self.host.now_unix_millis();
        let timeout_millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let mut told = false;
        let mut stale = None;
        loop {
            if store.put(self.host, &key, &bytes, true, "taking the lock in")? {
                // S3 makes the conditional write atomic; an emulator that
                // checks and then writes (moto) can let two writers through
                // at the same instant. The one whose lock object is there
                // when read back holds it.
                let holder = self.holder(&store)?.and_then(Result::ok);
                if holder.as_ref().is_some_and(|h| h.id == info.id) {
                    break;
                }
                continue;
            }
            let holder = self.holder(&store)?.and_then(Result::ok);
            if let Some(dead) = holder.as_ref().filter(|h| self.is_stale(h)) {
                // Its process is gone (killed, crashed): nobody will release
                // it. Remove it only if it is still that same lock.
                if self
                    .holder(&store)?
                    .and_then(Result::ok)
                    .is_some_and(|again| again.id == dead.id)
                {
                    store.delete(self.host, &key, "removing a stale lock from")?;
                    stale = Some(dead.clone());
                    continue;
                }
            }
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
        if let Ok(mut slot) = self.lock_id.lock() {
            *slot = Some(info.id.clone());
        }
        Ok(S3Lock {
            store,
            key,
            path,
            info,
            stale,
            released: false,
        })
    }

    /// Whether `holder` was taken by a process on this machine that is no
    /// longer running.
    fn is_stale(&self, holder: &LockInfo) -> bool {
        holder.host == self.host.hostname()
            && holder.pid != self.host.pid()
            && self.host.process_alive(holder.pid) == Some(false)
    }

    /// Whether the lock object exists.
    pub fn is_locked(&self) -> Result<bool, StateError> {
        let store = self.store()?;
        Ok(self.holder(&store)?.is_some())
    }

    /// Who holds the lock, as its object says; `None` when nobody does.
    pub fn lock_holder(&self) -> Option<LockInfo> {
        let store = self.store().ok()?;
        self.holder(&store).ok().flatten().and_then(Result::ok)
    }

    /// Breaks the lock whose id is `id` (its holder's next write is refused).
    pub fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let store = self.store()?;
        let key = self.object_key("lock.json");
        let path = store.shown(&key);
        match self.holder(&store)? {
            None => Err(StateError::new(
                Code::StateLockMismatch,
                Some(&path),
                "the state is not locked; there is nothing to unlock",
            )),
            Some(Err(())) => Err(StateError::new(
                Code::StateLockMismatch,
                Some(&path),
                format!(
                    "the lock object cannot be read, so its id cannot be matched; if no command \
                     is running, delete {}",
                    path.display()
                ),
            )),
            Some(Ok(holder)) if holder.id == id => {
                store.delete(self.host, &key, "removing the lock from")?;
                Ok(holder)
            }
            Some(Ok(holder)) => {
                let mut error = StateError::new(
                    Code::StateLockMismatch,
                    Some(&path),
                    format!(
                        "the lock is {}; pass that id if its process is gone",
                        holder.describe(self.host.now_unix_seconds())
                    ),
                );
                error.holder = Some(Box::new(holder));
                Err(error)
            }
        }
    }

    /// The journal objects' numbers, in order.
    fn journal_seqs(&self, store: &Store) -> Result<Vec<(u64, String)>, StateError> {
        let prefix = self.object_key("journal/");
        let mut found: Vec<(u64, String)> = store
            .list(self.host, &prefix)?
            .into_iter()
            .filter_map(|key| {
                let seq = key
                    .strip_prefix(&prefix)?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()?;
                Some((seq, key))
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// The journal's records, in the order they were committed.
    pub fn read_journal(&self) -> Result<JournalRead<JournalRecord>, StateError> {
        let store = self.store()?;
        let mut records = Vec::new();
        for (seq, key) in self.journal_seqs(&store)? {
            let Some(bytes) = store.get(self.host, &key, "reading")? else {
                continue;
            };
            let group: Vec<JournalRecord> = serde_json::from_slice(&bytes).map_err(|error| {
                StateError::new(
                    Code::StateCorruptedJournal,
                    Some(&store.shown(&key)),
                    format!(
                        "journal object {seq} cannot be read ({error}): it was altered by hand \
                         or damaged. Nothing was changed; put it back, or delete this stack \
                         environment's journal/ objects and run `infra refresh`"
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
        let store = self.store()?;
        for (_, key) in self.journal_seqs(&store)? {
            store.delete(self.host, &key, "clearing")?;
        }
        Ok(())
    }

    /// Appends an audit record (one object).
    pub fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError> {
        let store = self.store()?;
        let bytes = serde_json::to_vec(record).map_err(|error| {
            StateError::new(
                Code::Internal,
                Some(&self.shown("audit/")),
                error.to_string(),
            )
        })?;
        let key = self.object_key(&format!(
            "audit/{:020}-{}.json",
            self.host.now_unix_millis(),
            new_uuid(self.host)
        ));
        store
            .put(self.host, &key, &bytes, true, "appending to")
            .map(drop)
    }

    /// The newest readable audit record for which `wanted` holds: the
    /// objects are named by time, so they are read newest first, and only
    /// until one matches (a log of thousands of records is not read whole
    /// after every write).
    pub fn last_audit(
        &self,
        wanted: &dyn Fn(&AuditRecord) -> bool,
    ) -> Result<Option<AuditRecord>, StateError> {
        let store = self.store()?;
        for key in store
            .list(self.host, &self.object_key("audit/"))?
            .iter()
            .rev()
        {
            let record: Option<AuditRecord> = store
                .get(self.host, key, "reading")?
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            if let Some(record) = record.filter(|record| wanted(record)) {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Deletes the version objects older than `oldest_kept` (never the
    /// newest), oldest first, while `lock` still holds the lock; returns
    /// their serials. Every version is a whole object, so a crash part way
    /// leaves a shorter history that reads.
    pub fn prune(&self, lock: &dyn HeldLock, oldest_kept: u64) -> Result<Vec<u64>, StateError> {
        if lock.location() != self.shown("lock.json") {
            return Err(StateError::new(
                Code::Internal,
                Some(&self.shown("versions/")),
                "history pruned under another state's lock; this is a bug",
            ));
        }
        let store = self.store()?;
        self.check_lock(&store, &lock.info().id)?;
        let serials = self.serials(&store)?;
        let Some(&newest) = serials.last() else {
            return Ok(Vec::new());
        };
        let limit = oldest_kept.min(newest);
        let mut removed = Vec::new();
        for serial in serials.into_iter().filter(|serial| *serial < limit) {
            store.delete(self.host, &self.version_key(serial), "removing")?;
            removed.push(serial);
        }
        Ok(removed)
    }

    /// The audit records, oldest first; unreadable objects are skipped and
    /// counted by their place.
    pub fn audit(&self) -> Result<AuditLog, StateError> {
        let store = self.store()?;
        let mut log = AuditLog::default();
        for (index, key) in store
            .list(self.host, &self.object_key("audit/"))?
            .iter()
            .enumerate()
        {
            let record = store
                .get(self.host, key, "reading")?
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            match record {
                Some(record) => log.records.push(record),
                None => log.skipped_lines.push(index + 1),
            }
        }
        Ok(log)
    }
}

fn poisoned() -> StateError {
    StateError::new(
        Code::Internal,
        None,
        "the s3 state client was poisoned by a panic; this is a bug",
    )
}

fn lock_broken(path: &Path, id: &str) -> StateError {
    StateError::new(
        Code::StateLockMismatch,
        Some(path),
        format!(
            "this command's state lock ({id}) was broken while it ran (`infra force-unlock`): \
             nothing more was written. What it finished is in the journal, which the next \
             command records"
        ),
    )
}

/// A held lock: the lock object; deleted (if still ours) when released or dropped.
pub struct S3Lock {
    store: Store,
    key: String,
    path: PathBuf,
    info: LockInfo,
    stale: Option<LockInfo>,
    released: bool,
}

impl std::fmt::Debug for S3Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Lock")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl S3Lock {
    fn release_now(&mut self) -> Result<(), StateError> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        let (client, bucket, key) = (&self.store.client, &self.store.bucket, &self.key);
        let released = block_on(async {
            let current = aws::s3::get_object(client, bucket, key).await?;
            let ours = current
                .and_then(|bytes| serde_json::from_slice::<LockInfo>(&bytes).ok())
                .is_some_and(|holder| holder.id == self.info.id);
            if ours {
                aws::s3::delete_object(client, bucket, key).await?;
            }
            Ok::<(), AwsError>(())
        })?;
        released.map_err(|error| self.store.error(key, "releasing the lock in", &error))
    }
}

impl HeldLock for S3Lock {
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

impl Drop for S3Lock {
    fn drop(&mut self) {
        let _ = self.release_now();
    }
}

/// Appends journal objects, each a group commit, while this backend's lock is held.
struct S3Journal<'b, 'h> {
    backend: &'b S3Backend<'h>,
    header: Option<JournalRecord>,
}

impl JournalWriter for S3Journal<'_, '_> {
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        let backend = self.backend;
        let store = backend.store()?;
        let mut group: Vec<&JournalRecord> = Vec::with_capacity(records.len() + 1);
        if let Some(header) = &self.header {
            group.push(header);
        }
        group.extend(records);
        let bytes = serde_json::to_vec(&group).map_err(|error| {
            StateError::new(
                Code::Internal,
                Some(&backend.shown("journal/")),
                error.to_string(),
            )
        })?;
        let id = backend
            .lock_id
            .lock()
            .map_err(|_| poisoned())?
            .clone()
            .unwrap_or_default();
        backend.check_lock(&store, &id)?;
        let mut next = backend.journal_seq.lock().map_err(|_| poisoned())?;
        let mut seq = match *next {
            Some(seq) => seq,
            None => backend
                .journal_seqs(&store)?
                .last()
                .map_or(1, |(seq, _)| seq + 1),
        };
        loop {
            let key = backend.object_key(&format!("journal/{seq:020}.json"));
            if store.put(backend.host, &key, &bytes, true, "appending to")? {
                break;
            }
            seq += 1;
        }
        *next = Some(seq + 1);
        self.header = None;
        Ok(())
    }
}

impl super::backend::Backend for S3Backend<'_> {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn environment(&self) -> &str {
        self.environment
    }

    fn state_path(&self) -> PathBuf {
        self.shown("versions/")
    }

    fn journal_path(&self) -> PathBuf {
        self.shown("journal/")
    }

    fn lock_path(&self) -> PathBuf {
        self.shown("lock.json")
    }

    fn audit_path(&self) -> PathBuf {
        self.shown("audit/")
    }

    fn key_path(&self) -> PathBuf {
        S3Backend::key_path(self)
    }

    fn read(&self) -> Result<Option<StateFile>, StateError> {
        S3Backend::read(self)
    }

    fn open_state(&self, file: StateFile, key: &Key) -> Result<State, StateError> {
        super::local::check_key(&file, key, &self.shown("versions/"))?;
        Ok(file.into_state())
    }

    fn version(&self, serial: u64) -> Result<StateFile, StateError> {
        S3Backend::version(self, serial)
            .map_err(|error| super::retention::explain_missing(self, serial, error))
    }

    fn history(&self) -> Result<Vec<VersionInfo>, StateError> {
        S3Backend::history(self)
    }

    fn write(
        &self,
        lock: &dyn HeldLock,
        state: &mut State,
        key: &Key,
        summary: &str,
    ) -> Result<u64, StateError> {
        S3Backend::write(self, lock, state, key, summary).map(|file| file.serial)
    }

    fn restore(
        &self,
        lock: &dyn HeldLock,
        serial: u64,
        key: &Key,
        summary: &str,
    ) -> Result<(State, Option<PathBuf>), StateError> {
        S3Backend::restore(self, lock, serial, key, summary)
            .map_err(|error| super::retention::explain_missing(self, serial, error))
    }

    fn key(&self) -> Result<Key, StateError> {
        S3Backend::key(self)
    }

    fn load_key(&self) -> Result<Option<Key>, StateError> {
        Key::load(self.host, &S3Backend::key_path(self))
    }

    fn lock(
        &self,
        operation: &str,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockInfo>),
    ) -> Result<Box<dyn HeldLock + '_>, StateError> {
        Ok(Box::new(S3Backend::lock(
            self, operation, timeout, on_wait,
        )?))
    }

    fn is_locked(&self) -> Result<bool, StateError> {
        S3Backend::is_locked(self)
    }

    fn lock_holder(&self) -> Option<LockInfo> {
        S3Backend::lock_holder(self)
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        S3Backend::force_unlock(self, id)
    }

    fn journal_writer(
        &self,
        header: Option<&JournalRecord>,
    ) -> Result<Box<dyn JournalWriter + '_>, StateError> {
        Ok(Box::new(S3Journal {
            backend: self,
            header: header.cloned(),
        }))
    }

    fn read_journal(&self) -> Result<JournalRead<JournalRecord>, StateError> {
        S3Backend::read_journal(self)
    }

    fn clear_journal(&self) -> Result<(), StateError> {
        S3Backend::clear_journal(self)
    }

    fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError> {
        S3Backend::append_audit(self, record)
    }

    fn audit(&self) -> Result<AuditLog, StateError> {
        S3Backend::audit(self)
    }

    fn last_audit(
        &self,
        wanted: &dyn Fn(&AuditRecord) -> bool,
    ) -> Result<Option<AuditRecord>, StateError> {
        S3Backend::last_audit(self, wanted)
    }

    fn prune(&self, lock: &dyn HeldLock, oldest_kept: u64) -> Result<Vec<u64>, StateError> {
        S3Backend::prune(self, lock, oldest_kept)
    }
}
