//! The `local` provider: `local_file` and `local_directory`, files and folders
//! on this machine, reached only through the [`Host`].
//!
//! Terminology: an object's *path* is what the configuration says (relative
//! to the stack folder, or absolute); it is also the object's id. Its *full
//! path* is the path joined to the stack folder. A file's *content* comes from
//! exactly one of `content` (text), `sensitive_content` (text that is never
//! shown) and `content_base64` (bytes).
//!
//! Choices: changing a file's content or permissions rewrites it in place
//! (atomically: temp file, fsync, rename), so dependants are not replaced;
//! changing its path replaces it. `sha256` and `size` follow from the content,
//! so a plan knows them. A new file is written `0644` unless `permissions`
//! says otherwise, whatever the umask, so a plan knows its mode too; one whose
//! content is secret is written `0600`, and its `sha256` and `size` are secret
//! too. Creating a folder that already exists adopts it (like `mkdir -p`).
//!
//! Invariant: never overwrites or removes what it does not manage: creating a
//! file where one exists is refused (import it instead), and deleting a folder
//! that is not empty is refused. Error messages name paths and attributes,
//! never content.

use super::operation::Operation;
use super::provider::{
    Attributes, ObjectState, PlannedChange, Provider, ProviderError, conform_to_schema,
    plan_from_schema, validate_against_schema,
};
use super::schema::{ResourceSchema, attribute};
use crate::host::{Host, HostError};
use crate::lang::{Type, Value};
use async_trait::async_trait;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The provider's name.
pub const NAME: &str = "local";

/// The `local_file` type name.
pub const LOCAL_FILE: &str = "local_file";

/// The `local_directory` type name.
pub const LOCAL_DIRECTORY: &str = "local_directory";

/// The attributes that can hold a file's content; exactly one is set.
const CONTENT_ATTRIBUTES: [&str; 3] = ["content", "sensitive_content", "content_base64"];

/// The mode of a file whose content is secret, when none is configured.
const SECRET_FILE_MODE: u32 = 0o600;
/// The mode of a new file whose content is not secret, when `permissions` is unset.
const DEFAULT_FILE_MODE: u32 = 0o644;

/// The schema of `local_file`.
pub fn file_schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: LOCAL_FILE,
        provider: NAME,
        description: "A file on the local filesystem.",
        attributes: vec![
            attribute("path", Type::String)
                .required()
                .force_new()
                .describe("Where the file is, relative to the stack folder; a change replaces it."),
            attribute("content", Type::String)
                .describe("The text to write (one of content, sensitive_content, content_base64)."),
            attribute("sensitive_content", Type::String)
                .sensitive()
                .describe("Text to write that is never shown."),
            attribute("content_base64", Type::String).describe("Bytes to write, base64-encoded."),
            attribute("permissions", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe(
                    "Octal file mode, four digits, e.g. \"0644\"; the file's current mode when unset.",
                ),
            attribute("sha256", Type::String)
                .computed_only()
                .derived_from(CONTENTS)
                .describe("SHA-256 of the content, in hex."),
            attribute("size", Type::Number)
                .computed_only()
                .derived_from(CONTENTS)
                .describe("Size in bytes."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["path"])
                .describe("The path."),
        ],
    }
}

/// The attributes a file's bytes come from.
const CONTENTS: &[&str] = &["content", "sensitive_content", "content_base64"];

/// The schema of `local_directory`.
pub fn directory_schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: LOCAL_DIRECTORY,
        provider: NAME,
        description: "A folder on the local filesystem.",
        attributes: vec![
            attribute("path", Type::String)
                .required()
                .force_new()
                .describe(
                    "Where the folder is, relative to the stack folder; a change replaces it.",
                ),
            attribute("permissions", Type::String)
                .optional_computed()
                .derived_from(&[])
                .describe(
                    "Octal mode, four digits, e.g. \"0755\"; the folder's current mode when unset.",
                ),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["path"])
                .describe("The path."),
        ],
    }
}

/// The `local` provider, rooted at a stack folder.
pub struct LocalProvider {
    host: Arc<dyn Host>,
    base_dir: PathBuf,
    schemas: Vec<ResourceSchema>,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

/// Which attribute holds a file's content, and whether it is secret: how a
/// file read back is reported, so it compares equal to what was configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    source: Source,
    secret: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Text,
    Sensitive,
    Base64,
}

impl Source {
    fn attribute(self) -> &'static str {
        match self {
            Source::Text => "content",
            Source::Sensitive => "sensitive_content",
            Source::Base64 => "content_base64",
        }
    }

    fn from_attribute(name: &str) -> Source {
        match name {
            "sensitive_content" => Source::Sensitive,
            "content_base64" => Source::Base64,
            _ => Source::Text,
        }
    }
}

/// A file's content as configured.
struct Content {
    shape: Shape,
    bytes: Vec<u8>,
}

/// The content the attributes configure: `Ok(None)` while it is unknown.
fn content_of(attributes: &Attributes) -> Result<Option<Content>, ProviderError> {
    let set: Vec<(&str, &Value)> = CONTENT_ATTRIBUTES
        .iter()
        .filter_map(|name| {
            attributes
                .get(*name)
                .filter(|value| !value.is_null())
                .map(|value| (*name, value))
        })
        .collect();
    let (name, value) = match set.as_slice() {
        [] => {
            return Err(ProviderError::permanent(
                "one of `content`, `sensitive_content` or `content_base64` must be set",
            )
            .at(["content"]));
        }
        [one] => *one,
        [first, second, ..] => {
            return Err(ProviderError::permanent(format!(
                "only one of `content`, `sensitive_content` and `content_base64` may be set, \
                 but `{}` and `{}` both are",
                first.0, second.0
            ))
            .at([second.0]));
        }
    };
    if value.contains_unknown() {
        return Ok(None);
    }
    let Some(text) = value.as_str() else {
        return Err(ProviderError::permanent(format!("`{name}` must be a string")).at([name]));
    };
    let source = Source::from_attribute(name);
    let bytes = match source {
        Source::Base64 => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| {
                ProviderError::permanent("`content_base64` is not valid base64").at([name])
            })?,
        Source::Text | Source::Sensitive => text.as_bytes().to_vec(),
    };
    Ok(Some(Content {
        shape: Shape {
            source,
            secret: source == Source::Sensitive || value.contains_secret(),
        },
        bytes,
    }))
}

/// How a recorded object's content is reported: from whichever content
/// attribute it has, plain text when it has none (an import).
fn shape_of(attributes: &Attributes) -> Shape {
    CONTENT_ATTRIBUTES
        .iter()
        .find_map(|name| {
            attributes
                .get(*name)
                .filter(|value| !value.is_null())
                .map(|value| Shape {
                    source: Source::from_attribute(name),
                    secret: *name == "sensitive_content" || value.contains_secret(),
                })
        })
        .unwrap_or(Shape {
            source: Source::Text,
            secret: false,
        })
}

/// The `path` attribute: `Ok(None)` while unknown, an error when missing,
/// empty or not a string.
fn path_of(attributes: &Attributes) -> Result<Option<&str>, ProviderError> {
    match attributes.get("path") {
        Some(value) if value.is_unknown() => Ok(None),
        Some(value) => match value.as_str() {
            Some("") => Err(ProviderError::permanent("`path` must not be empty").at(["path"])),
            Some(path) => Ok(Some(path)),
            None if value.is_null() => {
                Err(ProviderError::permanent("`path` is required").at(["path"]))
            }
            None => Err(ProviderError::permanent("`path` must be a string").at(["path"])),
        },
        None => Err(ProviderError::permanent("`path` is required").at(["path"])),
    }
}

/// A known path, or an error for one still unknown when the change is made.
fn known_path(attributes: &Attributes) -> Result<&str, ProviderError> {
    path_of(attributes)?.ok_or_else(|| {
        ProviderError::permanent("`path` is still unknown when the change is made").at(["path"])
    })
}

/// Four octal digits (`"0644"`) as mode bits.
fn parse_mode(text: &str) -> Option<u32> {
    let octal = text.len() == 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    if octal {
        u32::from_str_radix(text, 8).ok()
    } else {
        None
    }
}

/// The configured mode: `Ok(None)` when unset or unknown.
fn mode_of(attributes: &Attributes) -> Result<Option<u32>, ProviderError> {
    match attributes.get("permissions") {
        None => Ok(None),
        Some(value) if value.is_null() || value.is_unknown() => Ok(None),
        Some(value) => value
            .as_str()
            .and_then(parse_mode)
            .map(Some)
            .ok_or_else(|| {
                ProviderError::permanent(
                    "`permissions` must be four octal digits, like \"0644\" or \"0755\"",
                )
                .at(["permissions"])
            }),
    }
}

fn format_mode(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::lower(&Sha256::digest(bytes))
}

fn size_value(bytes: &[u8]) -> Value {
    Value::number(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
}

/// A host error on `path`, as a provider error at `["path"]`. Host errors
/// carry the system's words about the path, never file content.
fn host_error(what: &str, path: &str, error: &HostError) -> ProviderError {
    ProviderError::permanent(format!("could not {what} `{path}`: {error}")).at(["path"])
}

impl LocalProvider {
    /// A provider whose relative paths are relative to `base_dir` (the stack folder).
    pub fn new(host: Arc<dyn Host>, base_dir: PathBuf) -> Self {
        LocalProvider {
            host,
            base_dir,
            schemas: vec![file_schema(), directory_schema()],
        }
    }

    fn full_path(&self, path: &str) -> PathBuf {
        self.base_dir.join(path)
    }

    fn check_type(&self, resource_type: &str) -> Result<&ResourceSchema, ProviderError> {
        self.schema(resource_type)
            .ok_or_else(|| ProviderError::unknown_resource_type(NAME, resource_type))
    }

    /// The checks beyond the schema, shared by `validate` and `plan_change`.
    fn check_values(resource_type: &str, config: &Attributes) -> Vec<ProviderError> {
        let mut errors = Vec::new();
        if let Err(error) = path_of(config) {
            errors.push(error);
        }
        if let Err(error) = mode_of(config) {
            errors.push(error);
        }
        if resource_type == LOCAL_FILE {
            if let Err(error) = content_of(config) {
                errors.push(error);
            }
        }
        errors
    }

    /// The current mode as an attribute value, `fallback` where the system has none.
    fn mode_value(
        &self,
        full: &Path,
        path: &str,
        fallback: &Value,
    ) -> Result<Value, ProviderError> {
        match self.host.permissions(full) {
            Ok(Some(mode)) => Ok(Value::string(format_mode(mode))),
            Ok(None) => Ok(fallback.clone()),
            Err(error) => Err(host_error("read the permissions of", path, &error)),
        }
    }

    /// The file at `path` as it is now, reported in `shape`; `None` when it is gone.
    fn observe_file(
        &self,
        path: &str,
        shape: Shape,
        fallback_mode: &Value,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let full = self.full_path(path);
        if self.host.is_dir(&full) {
            return Err(
                ProviderError::permanent(format!("`{path}` is a folder, not a file")).at(["path"]),
            );
        }
        let bytes = match self.host.read(&full) {
            Ok(bytes) => bytes,
            Err(HostError::NotFound) => return Ok(None),
            Err(error) => return Err(host_error("read", path, &error)),
        };
        let permissions = self.mode_value(&full, path, fallback_mode)?;
        let mut values = Attributes::new();
        let (name, value) = match (shape.source, String::from_utf8(bytes.clone())) {
            (Source::Text | Source::Sensitive, Ok(text)) => {
                (shape.source.attribute(), Value::string(text))
            }
            (_, _) => (
                "content_base64",
                Value::string(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            ),
        };
        values.insert(name.to_owned(), value.mark_secret_if(shape.secret));
        values.insert(
            "sha256".to_owned(),
            Value::string(sha256_hex(&bytes)).mark_secret_if(shape.secret),
        );
        values.insert(
            "size".to_owned(),
            size_value(&bytes).mark_secret_if(shape.secret),
        );
        values.insert("path".to_owned(), Value::string(path));
        values.insert("permissions".to_owned(), permissions);
        values.insert("id".to_owned(), Value::string(path));
        let attributes = conform_to_schema(&file_schema(), &values);
        Ok(Some(ObjectState {
            id: path.to_owned(),
            attributes,
        }))
    }

    /// The folder at `path` as it is now; `None` when there is none.
    fn observe_dir(
        &self,
        path: &str,
        fallback_mode: &Value,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let full = self.full_path(path);
        if !self.host.is_dir(&full) {
            return Ok(None);
        }
        let mut values = Attributes::new();
        values.insert("path".to_owned(), Value::string(path));
        values.insert(
            "permissions".to_owned(),
            self.mode_value(&full, path, fallback_mode)?,
        );
        values.insert("id".to_owned(), Value::string(path));
        Ok(Some(ObjectState {
            id: path.to_owned(),
            attributes: conform_to_schema(&directory_schema(), &values),
        }))
    }

    /// Makes the folder that will hold `full`.
    fn create_parent(&self, full: &Path, path: &str) -> Result<(), ProviderError> {
        match full.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => self
                .host
                .create_dir_all(parent)
                .map_err(|error| host_error("create the folder of", path, &error)),
            None => Ok(()),
        }
    }

    /// Writes a file's content atomically, with the planned mode when there is one.
    fn write_file(
        &self,
        path: &str,
        content: &Content,
        mode: Option<u32>,
    ) -> Result<(), ProviderError> {
        let full = self.full_path(path);
        let written = match mode {
            Some(mode) => self
                .host
                .write_atomic_with_mode(&full, &content.bytes, mode),
            None => self.host.write_atomic(&full, &content.bytes),
        };
        written.map_err(|error| host_error("write", path, &error))
    }

    /// The content of planned attributes, which must be known by now.
    fn known_content(planned: &Attributes) -> Result<Content, ProviderError> {
        content_of(planned)?.ok_or_else(|| {
            let name = CONTENT_ATTRIBUTES
                .iter()
                .find(|name| planned.get(**name).is_some_and(Value::contains_unknown))
                .copied()
                .unwrap_or("content");
            ProviderError::permanent(format!("`{name}` is still unknown when the change is made"))
                .at([name])
        })
    }

    async fn create_file(&self, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let path = known_path(planned)?;
        let content = Self::known_content(planned)?;
        let mode = mode_of(planned)?.unwrap_or(if content.shape.secret {
            SECRET_FILE_MODE
        } else {
            DEFAULT_FILE_MODE
        });
        let full = self.full_path(path);
        if self.host.is_dir(&full) {
            return Err(ProviderError::permanent(format!(
                "`{path}` is a folder; a file cannot be created there"
            ))
            .at(["path"]));
        }
        match self.host.read(&full) {
            Err(HostError::NotFound) => {}
            Ok(_) => {
                return Err(ProviderError::permanent(format!(
                    "a file already exists at `{path}`, and infra does not overwrite files it \
                     does not manage; bring it under management with \
                     `infra import <address> {path}`, or remove it"
                ))
                .at(["path"]));
            }
            Err(error) => return Err(host_error("check", path, &error)),
        }
        self.create_parent(&full, path)?;
        self.write_file(path, &content, Some(mode))?;
        let fallback = planned.get("permissions").cloned().unwrap_or(Value::NULL);
        self.observe_file(path, content.shape, &fallback)?
            .ok_or_else(|| ProviderError::transient(format!("`{path}` vanished after writing")))
    }

    async fn update_file(
        &self,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let path = known_path(planned)?;
        let prior_path = prior.attribute("path").as_str().unwrap_or(&prior.id);
        if prior_path != path {
            return Err(ProviderError::permanent(
                "`path` cannot change in place (this is a bug in infra: it replaces)",
            )
            .at(["path"]));
        }
        let content = Self::known_content(planned)?;
        let full = self.full_path(path);
        match self.host.read(&full) {
            Ok(_) => {}
            Err(HostError::NotFound) => {
                return Err(ProviderError::not_found(format!(
                    "`{path}` was deleted outside infra"
                )));
            }
            Err(error) => return Err(host_error("read", path, &error)),
        }
        let mode = mode_of(planned)?;
        self.write_file(path, &content, mode)?;
        let fallback = planned.get("permissions").cloned().unwrap_or(Value::NULL);
        self.observe_file(path, content.shape, &fallback)?
            .ok_or_else(|| ProviderError::transient(format!("`{path}` vanished after writing")))
    }

    async fn delete_file(&self, prior: &ObjectState) -> Result<(), ProviderError> {
        let path = prior.attribute("path").as_str().unwrap_or(&prior.id);
        let full = self.full_path(path);
        if self.host.is_dir(&full) {
            return Err(ProviderError::permanent(format!(
                "`{path}` is a folder now, not the file infra made; it is left in place"
            ))
            .at(["path"]));
        }
        match self.host.remove_file(&full) {
            Ok(()) | Err(HostError::NotFound) => Ok(()),
            Err(error) => Err(host_error("remove", path, &error)),
        }
    }

    async fn create_dir(&self, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let path = known_path(planned)?;
        let full = self.full_path(path);
        if !self.host.is_dir(&full) && self.host.read(&full).is_ok() {
            return Err(ProviderError::permanent(format!(
                "a file exists at `{path}`; a folder cannot be created there"
            ))
            .at(["path"]));
        }
        self.host
            .create_dir_all(&full)
            .map_err(|error| host_error("create", path, &error))?;
        if let Some(mode) = mode_of(planned)? {
            self.host
                .set_permissions(&full, mode)
                .map_err(|error| host_error("set the permissions of", path, &error))?;
        }
        let fallback = planned.get("permissions").cloned().unwrap_or(Value::NULL);
        self.observe_dir(path, &fallback)?
            .ok_or_else(|| ProviderError::transient(format!("`{path}` vanished after creating")))
    }

    async fn update_dir(
        &self,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let path = known_path(planned)?;
        let full = self.full_path(path);
        if !self.host.is_dir(&full) {
            return Err(ProviderError::not_found(format!(
                "`{path}` was deleted outside infra"
            )));
        }
        if let Some(mode) = mode_of(planned)? {
            self.host
                .set_permissions(&full, mode)
                .map_err(|error| host_error("set the permissions of", path, &error))?;
        }
        let fallback = planned
            .get("permissions")
            .cloned()
            .unwrap_or_else(|| prior.attribute("permissions").clone());
        self.observe_dir(path, &fallback)?
            .ok_or_else(|| ProviderError::not_found(format!("`{path}` was deleted outside infra")))
    }

    async fn delete_dir(&self, prior: &ObjectState) -> Result<(), ProviderError> {
        let path = prior.attribute("path").as_str().unwrap_or(&prior.id);
        let full = self.full_path(path);
        if !self.host.is_dir(&full) {
            return Ok(());
        }
        let entries = self
            .host
            .list_dir(&full)
            .map_err(|error| host_error("list", path, &error))?;
        if !entries.is_empty() {
            return Err(ProviderError::permanent(format!(
                "folder `{path}` is not empty ({} entries); infra removes only empty folders, \
                 so files it does not manage are kept: empty it, or stop managing it with \
                 `infra state rm`",
                entries.len()
            ))
            .at(["path"]));
        }
        match self.host.remove_dir(&full) {
            Ok(()) | Err(HostError::NotFound) => Ok(()),
            Err(error) => Err(host_error("remove", path, &error)),
        }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    fn validate(&self, resource_type: &str, config: &Attributes) -> Vec<ProviderError> {
        let schema = match self.check_type(resource_type) {
            Ok(schema) => schema,
            Err(error) => return vec![error],
        };
        let mut errors = validate_against_schema(schema, config);
        if errors.is_empty() {
            errors = Self::check_values(resource_type, config);
        }
        errors
    }

    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        let schema = self.check_type(resource_type)?;
        if let Some(error) = Self::check_values(resource_type, proposed)
            .into_iter()
            .next()
        {
            return Err(error);
        }
        let mut change = plan_from_schema(schema, prior, proposed);
        if let Some(path) = path_of(proposed)? {
            change.planned.insert("id".to_owned(), Value::string(path));
        }
        if resource_type == LOCAL_FILE {
            let (sha256, size, secret) = match content_of(proposed)? {
                Some(content) => (
                    Value::string(sha256_hex(&content.bytes)),
                    size_value(&content.bytes),
                    content.shape.secret,
                ),
                // Unknown still, but its secret mark is known already.
                None => (Value::UNKNOWN, Value::UNKNOWN, shape_of(proposed).secret),
            };
            change
                .planned
                .insert("sha256".to_owned(), sha256.mark_secret_if(secret));
            change
                .planned
                .insert("size".to_owned(), size.mark_secret_if(secret));
            let unset = proposed
                .get("permissions")
                .is_none_or(|value| value.is_null() || value.is_unknown());
            let new_file = prior.is_none() || change.replaces();
            if unset && new_file {
                let mode = if secret {
                    SECRET_FILE_MODE
                } else {
                    DEFAULT_FILE_MODE
                };
                change
                    .planned
                    .insert("permissions".to_owned(), Value::string(format_mode(mode)));
            }
        }
        Ok(change)
    }

    async fn create(
        &self,
        _op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        match self.check_type(resource_type)?.resource_type {
            LOCAL_FILE => self.create_file(planned).await,
            _ => self.create_dir(planned).await,
        }
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let path = prior.attribute("path").as_str().unwrap_or(&prior.id);
        let fallback = prior.attribute("permissions");
        match self.check_type(resource_type)?.resource_type {
            LOCAL_FILE => self.observe_file(path, shape_of(&prior.attributes), fallback),
            _ => self.observe_dir(path, fallback),
        }
    }

    async fn update(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        match self.check_type(resource_type)?.resource_type {
            LOCAL_FILE => self.update_file(prior, planned).await,
            _ => self.update_dir(prior, planned).await,
        }
    }

    async fn delete(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        match self.check_type(resource_type)?.resource_type {
            LOCAL_FILE => self.delete_file(prior).await,
            _ => self.delete_dir(prior).await,
        }
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        let kind = self.check_type(resource_type)?.resource_type;
        if id.is_empty() {
            return Err(ProviderError::permanent(
                "the id to import is the path, and it is empty",
            ));
        }
        let found = match kind {
            LOCAL_FILE => {
                let shape = Shape {
                    source: Source::Text,
                    secret: false,
                };
                self.observe_file(id, shape, &Value::NULL)?
            }
            _ => self.observe_dir(id, &Value::NULL)?,
        };
        found.ok_or_else(|| {
            let what = if kind == LOCAL_FILE { "file" } else { "folder" };
            ProviderError::not_found(format!("there is no {what} at `{id}`"))
        })
    }

    async fn find(
        &self,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let kind = self.check_type(resource_type)?.resource_type;
        let Some(path) = path_of(planned)? else {
            return Ok(None);
        };
        let fallback = planned.get("permissions").cloned().unwrap_or(Value::NULL);
        if kind != LOCAL_FILE {
            return self.observe_dir(path, &fallback);
        }
        let Some(content) = content_of(planned)? else {
            return Ok(None);
        };
        if self.host.is_dir(&self.full_path(path)) {
            return Ok(None);
        }
        let found = self.observe_file(path, content.shape, &fallback)?;
        let want = sha256_hex(&content.bytes);
        Ok(found.filter(|object| object.attribute("sha256").as_str() == Some(want.as_str())))
    }
}

#[cfg(test)]
mod tests;
