//! The `ssh` provider: files, folders and commands on a server reached over
//! SSH (a VPS with no cloud API), through one shared connection per target
//! (see `conn`, and `sftp` for its file transfers).
//!
//! Terminology: the *target* is the provider block's host, port and user;
//! a *managed* file is one an `ssh_file` of this run has planned, read,
//! created or imported (an `ssh_directory` with `purge` removes the others).
//!
//! Choices: `ssh_file` reads compare the SHA-256 of the remote file with the
//! one of the configured content, batched: reads waiting at the same time
//! go out together on the connection's SFTP channels (a small file's content
//! is read and hashed here, a big one's hashed by one remote `sha256sum` for
//! the batch), so a no-op plan of 1,000 files starts no remote process per
//! file. Uploads are SFTP writes to a temp name, renamed into place. A file's
//! content may be a secret: its hash is then secret too. `ssh_command` runs
//! `create` once, `update` when its inputs change (else `create` again),
//! `destroy` on delete, and `read` (when given) on every refresh, whose
//! output is kept as `output`: a different output is drift.
//!
//! Invariant: no secret (content, environment value, private key,
//! passphrase) reaches a remote command line, an error message or a log; a
//! remote command's stderr is shown redacted of every secret it could hold.

pub mod conn;
pub mod machine;
mod resources;
pub mod router;
mod sftp;

use super::batch::Batcher;
use super::operation::{DeploySteps, Operation, Resumed};
use super::process::{self, ProcessProvider};
use super::provider::{Attributes, ObjectState, PlannedChange, Provider, ProviderError};
use super::schema::ResourceSchema;
use crate::host::Host;
use crate::lang::Value;
use async_trait::async_trait;
use conn::{FileStat, SshConn, Target};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The provider's name.
pub const NAME: &str = "ssh";

/// Every resource type's schema.
pub fn schemas() -> Vec<ResourceSchema> {
    vec![
        resources::file_schema(),
        resources::directory_schema(),
        resources::command_schema(),
    ]
}

/// The provider block's settings, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    target: Target,
    /// Secret strings to redact from remote stderr: the key and passphrase.
    redact: Vec<String>,
    /// The `nginx` setting: the router's nginx on the server.
    nginx: Option<String>,
    /// The remote home folder, once asked (services' run folders are in it).
    home: Arc<tokio::sync::OnceCell<String>>,
}

impl Settings {
    /// Reads the provider block: `host`, `port`, `user`, `private_key`,
    /// `private_key_passphrase`, `host_key`, `connect_timeout`, `max_sessions`,
    /// `nginx`.
    fn from_block(config: &Attributes) -> Result<Settings, ProviderError> {
        let text = |name: &str| -> Result<Option<String>, ProviderError> {
            let value = config.get(name).unwrap_or(&Value::NULL);
            if value.is_null() {
                return Ok(None);
            }
            value
                .as_str()
                .map(|text| Some(text.to_owned()))
                .ok_or_else(|| {
                    ProviderError::permanent(format!("`{name}` must be a string")).at([name])
                })
        };
        let number = |name: &str, default: f64| -> Result<f64, ProviderError> {
            let value = config.get(name).unwrap_or(&Value::NULL);
            if value.is_null() {
                return Ok(default);
            }
            value
                .as_number()
                .map(|number| number.as_f64())
                .filter(|number| *number > 0.0)
                .ok_or_else(|| {
                    ProviderError::permanent(format!("`{name}` must be a positive number"))
                        .at([name])
                })
        };
        let required = |name: &str| -> Result<String, ProviderError> {
            text(name)?
                .ok_or_else(|| ProviderError::permanent(format!("`{name}` is required")).at([name]))
        };
        let host = required("host")?;
        let user = required("user")?;
        let port = number("port", 22.0)?;
        if port.fract() != 0.0 || port > 65535.0 {
            return Err(ProviderError::permanent("`port` must be a port number").at(["port"]));
        }
        let host_key = parse_host_key(&required("host_key")?)?;
        let passphrase = text("private_key_passphrase")?;
        let pem = required("private_key")?;
        let private_key =
            russh::keys::decode_secret_key(&pem, passphrase.as_deref()).map_err(|error| {
                // The decoder's message names formats and ciphers, never key bytes.
                let reason = match error {
                    russh::keys::Error::KeyIsEncrypted => {
                        "it is encrypted: set `private_key_passphrase`".to_owned()
                    }
                    other => format!("{other}"),
                };
                ProviderError::permanent(format!(
                    "`private_key` is not a usable OpenSSH private key: {reason}"
                ))
                .at(["private_key"])
            })?;
        let connect_timeout = Duration::from_secs_f64(number("connect_timeout", 10.0)?);
        let max_sessions = number("max_sessions", 8.0)?;
        let nginx = text("nginx")?;
        if let Some(path) = &nginx
            && !path.starts_with('/')
        {
            return Err(ProviderError::permanent(
                "`nginx` must be an absolute path on the server (`/usr/sbin/nginx`)",
            )
            .at(["nginx"]));
        }
        let mut redact = vec![pem];
        redact.extend(passphrase);
        Ok(Settings {
            target: Target {
                host,
                port: port as u16,
                user,
                host_key,
                private_key: Arc::new(private_key),
                connect_timeout,
                max_sessions: max_sessions as usize,
            },
            redact,
            nginx,
            home: Arc::new(tokio::sync::OnceCell::new()),
        })
    }
}

/// Reads a pinned host key: an OpenSSH public key line (`ssh-ed25519 AAAA…`,
/// a comment allowed), as `ssh-keyscan` or `/etc/ssh/ssh_host_*.pub` give it.
pub(crate) fn parse_host_key(line: &str) -> Result<russh::keys::PublicKey, ProviderError> {
    let line = line.trim();
    // A known_hosts line starts with the host name: take the key from it.
    let key_part = match line
        .split_whitespace()
        .position(|word| word.contains("ssh-") || word.starts_with("ecdsa-"))
    {
        Some(0) | None => line.to_owned(),
        Some(at) => line
            .split_whitespace()
            .skip(at)
            .collect::<Vec<_>>()
            .join(" "),
    };
    russh::keys::PublicKey::from_openssh(&key_part).map_err(|_| {
        ProviderError::permanent(
            "`host_key` is not an SSH public key: write the server's key line, like \
             \"ssh-ed25519 AAAAC3Nza…\" (from `ssh-keyscan -t ed25519 HOST` or the server's \
             /etc/ssh/ssh_host_ed25519_key.pub)",
        )
        .at(["host_key"])
    })
}

/// The `ssh` provider.
pub struct SshProvider {
    /// Reads `ssh_file` sources.
    host: Arc<dyn Host>,
    /// The stack folder, which a relative `source` is under.
    base_dir: PathBuf,
    schemas: Vec<ResourceSchema>,
    settings: RwLock<Option<Arc<Settings>>>,
    /// Paths of the `ssh_file`s this run manages (see the module docs).
    managed: Mutex<BTreeSet<String>>,
    /// Ids of `ssh_command`s whose `read` output changed (see `plan_command`).
    drifted: Mutex<BTreeSet<String>>,
    /// `ssh_file` reads waiting for the next hashing round trip.
    hashes: Batcher<String, FileStat>,
}

impl std::fmt::Debug for SshProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshProvider").finish_non_exhaustive()
    }
}

impl SshProvider {
    /// An unconfigured provider; `source` paths are relative to `base_dir`.
    pub fn new(host: Arc<dyn Host>, base_dir: PathBuf) -> Self {
        // `service` blocks with `provider = ssh` too; the registry keeps the
        // `process` provider as the type's default (see `builtin`).
        let mut all = schemas();
        all.push(process::schema());
        SshProvider {
            host,
            base_dir,
            schemas: all,
            settings: RwLock::new(None),
            managed: Mutex::new(BTreeSet::new()),
            drifted: Mutex::new(BTreeSet::new()),
            hashes: Batcher::default(),
        }
    }

    fn settings(&self) -> Result<Arc<Settings>, ProviderError> {
        let slot = match self.settings.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        slot.ok_or_else(|| {
            ProviderError::permanent(
                "the `ssh` provider has no settings: add a `provider \"ssh\" { host, user, \
                 private_key, host_key }` block, or name an aliased one with \
                 `provider = ssh.ALIAS`",
            )
        })
    }

    /// The shared connection to the configured target.
    async fn conn(&self) -> Result<(SshConn, Arc<Settings>), ProviderError> {
        let settings = self.settings()?;
        let conn = conn::connect(&settings.target).await?;
        Ok((conn, settings))
    }

    fn managed(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        match self.managed.lock() {
            Ok(managed) => managed,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn drifted(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        match self.drifted.lock() {
            Ok(drifted) => drifted,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Notes a path as managed by an `ssh_file`.
    fn manage(&self, path: &str) {
        self.managed().insert(path.to_owned());
    }

    /// The stat of one remote path, batched with the other reads waiting.
    async fn stat(&self, path: &str) -> Result<Option<FileStat>, ProviderError> {
        let (conn, _) = self.conn().await?;
        self.hashes
            .load(path.to_owned(), |paths| {
                let conn = conn.clone();
                async move {
                    let stats = conn.hash_files(&paths).await?;
                    Ok(stats.into_iter().collect())
                }
            })
            .await
    }

    /// Reads a local `source` file.
    fn read_source(&self, source: &str) -> Result<Vec<u8>, ProviderError> {
        let full = if Path::new(source).is_absolute() {
            PathBuf::from(source)
        } else {
            self.base_dir.join(source)
        };
        self.host.read(&full).map_err(|error| {
            ProviderError::permanent(format!("could not read {} ({error})", full.display()))
                .at(["source"])
        })
    }

    fn check_type(&self, resource_type: &str) -> Result<(), ProviderError> {
        match resource_type {
            resources::SSH_FILE | resources::SSH_DIRECTORY | resources::SSH_COMMAND => Ok(()),
            _ => Err(ProviderError::unknown_resource_type(NAME, resource_type)),
        }
    }

    /// The `process` provider's services run on the configured host: its
    /// deploy strategies, checkpoints and resume over a [`machine::SshMachine`].
    /// With `located`, run folders and workdirs are under the remote home
    /// (asked once per configuration); without, paths stay relative (enough
    /// to plan, which touches no file).
    async fn services(&self, located: bool) -> Result<ProcessProvider, ProviderError> {
        let settings = self.settings()?;
        let machine = Arc::new(machine::SshMachine::new(
            settings.target.clone(),
            settings.nginx.clone(),
        ));
        let base_dir = if located {
            let home = settings
                .home
                .get_or_try_init(|| machine.home())
                .await?
                .clone();
            PathBuf::from(home)
        } else {
            PathBuf::from(".")
        };
        Ok(ProcessProvider::with_machine(base_dir, machine))
    }
}

#[async_trait]
impl Provider for SshProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    async fn configure(&self, config: &Attributes) -> Result<(), ProviderError> {
        let settings = Arc::new(Settings::from_block(config)?);
        match self.settings.write() {
            Ok(mut slot) => *slot = Some(settings),
            Err(poisoned) => *poisoned.into_inner() = Some(settings),
        }
        Ok(())
    }

    fn validate(&self, resource_type: &str, config: &Attributes) -> Vec<ProviderError> {
        match self.schema(resource_type) {
            Some(schema) => {
                let mut errors = super::provider::validate_against_schema(schema, config);
                if resource_type == process::SERVICE {
                    errors.extend(process::validate_config(config));
                }
                errors
            }
            None => vec![ProviderError::unknown_resource_type(NAME, resource_type)],
        }
    }

    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        if resource_type == process::SERVICE {
            return self
                .services(false)
                .await?
                .plan_change(resource_type, prior, proposed)
                .await;
        }
        self.check_type(resource_type)?;
        match resource_type {
            resources::SSH_FILE => resources::plan_file(self, prior, proposed),
            resources::SSH_DIRECTORY => Ok(resources::plan_directory(prior, proposed)),
            _ => Ok(resources::plan_command(self, prior, proposed)),
        }
    }

    async fn create(
        &self,
        op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        if resource_type == process::SERVICE {
            return self
                .services(true)
                .await?
                .create(op, resource_type, planned)
                .await;
        }
        self.check_type(resource_type)?;
        match resource_type {
            resources::SSH_FILE => resources::write_file(self, planned).await,
            resources::SSH_DIRECTORY => resources::write_directory(self, planned).await,
            _ => resources::run_command(self, None, planned).await,
        }
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        if resource_type == process::SERVICE {
            return self.services(true).await?.read(resource_type, prior).await;
        }
        self.check_type(resource_type)?;
        match resource_type {
            resources::SSH_FILE => resources::read_file(self, &prior.attributes).await,
            resources::SSH_DIRECTORY => resources::read_directory(self, &prior.attributes).await,
            _ => resources::read_command(self, prior).await,
        }
    }

    async fn update(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        if resource_type == process::SERVICE {
            return self
                .services(true)
                .await?
                .update(op, resource_type, prior, planned)
                .await;
        }
        self.check_type(resource_type)?;
        match resource_type {
            resources::SSH_FILE => resources::write_file(self, planned).await,
            resources::SSH_DIRECTORY => resources::write_directory(self, planned).await,
            _ => resources::run_command(self, Some(prior), planned).await,
        }
    }

    async fn delete(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        if resource_type == process::SERVICE {
            return self
                .services(true)
                .await?
                .delete(op, resource_type, prior)
                .await;
        }
        self.check_type(resource_type)?;
        match resource_type {
            resources::SSH_FILE => resources::delete_file(self, &prior.attributes).await,
            resources::SSH_DIRECTORY => resources::delete_directory(self, &prior.attributes).await,
            _ => resources::destroy_command(self, prior).await,
        }
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        if resource_type == process::SERVICE {
            return self.services(false).await?.import(resource_type, id).await;
        }
        self.check_type(resource_type)?;
        resources::import(self, resource_type, id).await
    }

    async fn resume(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: Option<&ObjectState>,
        planned: &Attributes,
        checkpoint: Option<&serde_json::Value>,
    ) -> Result<Resumed, ProviderError> {
        if resource_type == process::SERVICE {
            return self
                .services(true)
                .await?
                .resume(op, resource_type, prior, planned, checkpoint)
                .await;
        }
        super::provider::resume_by_default(self, op, resource_type, prior, planned, checkpoint)
            .await
    }

    fn deploy_steps(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        planned: &Attributes,
    ) -> Option<DeploySteps> {
        if resource_type != process::SERVICE {
            return None;
        }
        let machine = Arc::new(process::machine::LocalMachine::new(self.host.clone()));
        ProcessProvider::with_machine(PathBuf::from("."), machine).deploy_steps(
            resource_type,
            prior,
            planned,
        )
    }
}
