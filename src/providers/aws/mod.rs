//! The `aws` provider: S3 buckets, SQS queues, Secrets Manager secrets and
//! SSM parameters, over the signed client in [`crate::aws`] (SigV4,
//! credentials, endpoints, AWS error codes).
//!
//! Terminology: a *kind* is one resource type's code (`s3_bucket`,
//! `sqs_queue`, `secretsmanager_secret`, `ssm_parameter`); the provider only
//! dispatches to it. A *failure* is an AWS error answer (its code, such as
//! `NoSuchBucket` or `ThrottlingException`, kept in every message).
//!
//! Choices: a read asks the service for everything the schema holds, so a
//! change made outside infra is drift on the attribute it touched. Values a
//! service does not hold (a bucket's `force_destroy`, a parameter's
//! `overwrite`) are kept from the prior object. A secret's value is never
//! read into a message or compared in the open: state holds it sealed with
//! its SHA-256 (`value_hash`, sealed too), and a read compares hashes (see
//! `secretsmanager_secret`). Throttling, `RequestLimitExceeded`, `SlowDown`,
//! 5xx answers, timeouts and dropped connections are transient, so the
//! engine retries them; everything else is permanent.
//!
//! Invariant: no credential and no secret-marked value appears in an error
//! message; messages name the object and the AWS error code.

mod api;
mod s3_bucket;
mod secretsmanager_secret;
mod sqs_queue;
mod ssm_parameter;
#[cfg(test)]
mod tests;

use super::operation::Operation;
use super::provider::{
    Attributes, ObjectState, PlannedChange, Provider, ProviderError, conform_to_schema,
    plan_from_schema,
};
use super::schema::ResourceSchema;
use crate::host::Host;
use crate::lang::Value;
use api::Api;
use async_trait::async_trait;
use std::sync::{Arc, RwLock};

pub use s3_bucket::{bucket_name_problem, schema as s3_bucket_schema};
pub use secretsmanager_secret::schema as secretsmanager_secret_schema;
pub use sqs_queue::schema as sqs_queue_schema;
pub use ssm_parameter::schema as ssm_parameter_schema;

/// The provider's name.
pub const NAME: &str = "aws";

/// The settings a `provider "aws"` block may have.
pub const SETTINGS: [&str; 5] = [
    "access_key",
    "secret_key",
    "session_token",
    "region",
    "endpoint",
];

/// Every resource type's schema.
pub fn schemas() -> Vec<ResourceSchema> {
    vec![
        s3_bucket::schema(),
        sqs_queue::schema(),
        secretsmanager_secret::schema(),
        ssm_parameter::schema(),
    ]
}

/// One resource type's operations, given the configured client.
#[async_trait]
trait Kind: Send + Sync {
    /// Fills defaults and puts configured values in the service's form
    /// (unknown values left alone), so a plan compares like with like.
    fn normalize(&self, proposed: &mut Attributes) -> Result<(), ProviderError>;

    /// Adjusts the schema-driven plan: computed values the change makes unknown.
    fn adjust(&self, prior: Option<&ObjectState>, change: &mut PlannedChange) {
        let _ = (prior, change);
    }

    /// Creates the object; returns it as read back.
    async fn create(&self, api: &Api, planned: &Attributes) -> Result<ObjectState, ProviderError>;

    /// The object as the service says now; `prior` gives its identity and
    /// what the service does not hold.
    async fn read(
        &self,
        api: &Api,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError>;

    /// Changes the object in place; returns it as read back.
    async fn update(
        &self,
        api: &Api,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError>;

    /// Deletes the object; gone already is fine.
    async fn delete(&self, api: &Api, prior: &Attributes) -> Result<(), ProviderError>;

    /// The identifying attributes an import id stands for.
    fn import_attributes(&self, api: &Api, id: &str) -> Result<Attributes, ProviderError>;
}

/// The `aws` provider.
pub struct AwsProvider {
    schemas: Vec<ResourceSchema>,
    host: Arc<dyn Host>,
    /// The client `configure` made; `None` until then (the first call
    /// without a provider block makes one from the environment).
    api: RwLock<Option<Arc<Api>>>,
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider").finish_non_exhaustive()
    }
}

impl AwsProvider {
    /// A provider that reads its credentials' fallbacks (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`) from `host`.
    pub fn new(host: Arc<dyn Host>) -> Self {
        AwsProvider {
            schemas: schemas(),
            host,
            api: RwLock::new(None),
        }
    }

    fn api(&self) -> Result<Arc<Api>, ProviderError> {
        let current = match self.api.read() {
            Ok(api) => api.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(api) = current {
            return Ok(api);
        }
        let api = Arc::new(Api::from_block(&Attributes::default(), self.host.clone())?);
        self.set_api(api.clone());
        Ok(api)
    }

    fn set_api(&self, api: Arc<Api>) {
        match self.api.write() {
            Ok(mut slot) => *slot = Some(api),
            Err(poisoned) => *poisoned.into_inner() = Some(api),
        }
    }

    fn kind(
        &self,
        resource_type: &str,
    ) -> Result<(&ResourceSchema, &'static dyn Kind), ProviderError> {
        let kind: &'static dyn Kind = match resource_type {
            s3_bucket::TYPE => &s3_bucket::Bucket,
            sqs_queue::TYPE => &sqs_queue::Queue,
            secretsmanager_secret::TYPE => &secretsmanager_secret::Secret,
            ssm_parameter::TYPE => &ssm_parameter::Parameter,
            _ => return Err(ProviderError::unknown_resource_type(NAME, resource_type)),
        };
        let schema = self
            .schema(resource_type)
            .ok_or_else(|| ProviderError::unknown_resource_type(NAME, resource_type))?;
        Ok((schema, kind))
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    async fn configure(&self, config: &Attributes) -> Result<(), ProviderError> {
        for name in config.keys() {
            if !SETTINGS.contains(&name.as_str()) {
                return Err(ProviderError::permanent(format!(
                    "provider `aws` has no setting `{name}` (it has {})",
                    SETTINGS.join(", ")
                ))
                .at([name.as_str()]));
            }
        }
        let api = Api::from_block(config, self.host.clone())?;
        self.set_api(Arc::new(api));
        Ok(())
    }

    fn validate(&self, resource_type: &str, config: &Attributes) -> Vec<ProviderError> {
        let Some(schema) = self.schema(resource_type) else {
            return vec![ProviderError::unknown_resource_type(NAME, resource_type)];
        };
        let mut errors = super::provider::validate_against_schema(schema, config);
        errors.extend(rule_errors(schema, config));
        errors
    }

    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        let (schema, kind) = self.kind(resource_type)?;
        if let Some(error) = rule_errors(schema, proposed).into_iter().next() {
            return Err(error);
        }
        let mut proposed = proposed.clone();
        kind.normalize(&mut proposed)?;
        let mut change = plan_from_schema(schema, prior, &proposed);
        kind.adjust(prior, &mut change);
        Ok(change)
    }

    async fn create(
        &self,
        _op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        let api = self.api()?;
        kind.create(&api, planned)
            .await
            .map_err(|error| redacted(error, planned))
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        let api = self.api()?;
        kind.read(&api, &prior.attributes)
            .await
            .map_err(|error| redacted(error, &prior.attributes))
    }

    async fn update(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        let api = self.api()?;
        let exists = kind
            .read(&api, &prior.attributes)
            .await
            .map_err(|error| redacted(error, &prior.attributes))?;
        if exists.is_none() {
            return Err(ProviderError::not_found(format!(
                "`{}` no longer exists in {}",
                prior.id,
                api.place()
            )));
        }
        kind.update(&api, &prior.attributes, planned)
            .await
            .map_err(|error| redacted(redacted(error, planned), &prior.attributes))
    }

    async fn delete(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        let api = self.api()?;
        kind.delete(&api, &prior.attributes)
            .await
            .map_err(|error| redacted(error, &prior.attributes))
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        let (schema, kind) = self.kind(resource_type)?;
        let api = self.api()?;
        let identity = kind.import_attributes(&api, id)?;
        let mut prior = conform_to_schema(schema, &identity);
        kind.normalize(&mut prior)?;
        match kind.read(&api, &prior).await? {
            Some(object) => Ok(object),
            None => Err(ProviderError::not_found(format!(
                "there is no {resource_type} `{id}` in {}",
                api.place()
            ))),
        }
    }

    async fn find(
        &self,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let (_, kind) = self.kind(resource_type)?;
        // Every kind reads by name when the id is not known yet (a secret's
        // ARN is made by its create), so an interrupted create is found.
        let api = self.api()?;
        kind.read(&api, planned)
            .await
            .map_err(|error| redacted(error, planned))
    }
}

/// The error with every secret of `attributes` hidden: secret-marked values
/// and `value` (a secret's, or a parameter's, which AWS quotes in some
/// validation messages).
fn redacted(mut error: ProviderError, attributes: &Attributes) -> ProviderError {
    let mut redactor = super::http::client::Redactor::default();
    for (name, value) in attributes {
        redactor.add_secrets_in(value);
        if name == "value" {
            redactor.add_secrets_in(&value.clone().with_secret(true));
        }
    }
    error.message = redactor.redact(&error.message);
    error
}

/// The offline rules of the schema's attributes, as provider errors.
fn rule_errors(schema: &ResourceSchema, config: &Attributes) -> Vec<ProviderError> {
    let mut errors = Vec::new();
    for attribute in &schema.attributes {
        let (Some(rule), Some(value)) = (attribute.rule, config.get(attribute.name)) else {
            continue;
        };
        if let Some(problem) = rule.broken_by(value, config) {
            errors.push(
                ProviderError::permanent(format!("{problem}; {}", rule.rule)).at([attribute.name]),
            );
        }
    }
    errors
}

/// The attribute's value, `null` when absent.
fn get<'a>(attributes: &'a Attributes, name: &str) -> &'a Value {
    attributes.get(name).unwrap_or(&Value::NULL)
}

/// A required string attribute (plaintext, marks ignored).
fn text(attributes: &Attributes, name: &str) -> Result<String, ProviderError> {
    optional_text(attributes, name)?
        .ok_or_else(|| ProviderError::permanent(format!("`{name}` is required")).at([name]))
}

/// An optional string attribute.
fn optional_text(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    let value = get(attributes, name);
    if value.is_null() || value.is_unknown() {
        return Ok(None);
    }
    value
        .as_str()
        .map(|text| Some(text.to_owned()))
        .ok_or_else(|| {
            ProviderError::permanent(format!(
                "`{name}` must be a string, not a {}",
                value.type_name()
            ))
            .at([name])
        })
}

/// A boolean attribute, `default` when unset.
fn flag(attributes: &Attributes, name: &str, default: bool) -> bool {
    get(attributes, name).as_bool().unwrap_or(default)
}

/// A whole-number attribute, `default` when unset.
fn whole(attributes: &Attributes, name: &str, default: i64) -> Result<i64, ProviderError> {
    let value = get(attributes, name);
    if value.is_null() || value.is_unknown() {
        return Ok(default);
    }
    value.as_number().and_then(|n| n.as_i64()).ok_or_else(|| {
        ProviderError::permanent(format!("`{name}` must be a whole number")).at([name])
    })
}

/// Sets `name` to `value` when it is unset (null or absent).
fn default_to(attributes: &mut Attributes, name: &str, value: Value) {
    if get(attributes, name).is_null() {
        attributes.insert(name.to_owned(), value);
    }
}

/// The `tags` attribute as pairs (plaintext), sorted by key.
fn tags(attributes: &Attributes) -> Vec<(String, String)> {
    get(attributes, "tags")
        .as_map()
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| value.as_str().map(|v| (key.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Tags as a value.
fn tags_value(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::map(
        pairs
            .into_iter()
            .map(|(key, value)| (key, Value::string(value)))
            .collect(),
    )
}

/// What changes between two tag sets: the pairs to set and the keys to remove.
fn tag_changes(
    before: &[(String, String)],
    after: &[(String, String)],
) -> (Vec<(String, String)>, Vec<String>) {
    let set = after
        .iter()
        .filter(|pair| !before.contains(pair))
        .cloned()
        .collect();
    let removed = before
        .iter()
        .filter(|(key, _)| !after.iter().any(|(k, _)| k == key))
        .map(|(key, _)| key.clone())
        .collect();
    (set, removed)
}

/// Checks tags offline: at most 50, keys 1–128 characters, values up to 256
/// (the limits S3, SQS, Secrets Manager and SSM share).
fn tags_problem(value: &Value, _attributes: &Attributes) -> Option<String> {
    let map = value.as_map()?;
    if map.len() > 50 {
        return Some(format!("{} tags are too many", map.len()));
    }
    for (key, value) in map.iter() {
        let length = key.chars().count();
        if length == 0 || length > 128 {
            return Some("a tag key is empty or longer than 128 characters".to_owned());
        }
        if key.starts_with("aws:") {
            return Some("a tag key starts with `aws:`, which AWS keeps for itself".to_owned());
        }
        if value.as_str().is_some_and(|v| v.chars().count() > 256) {
            return Some("a tag value is longer than 256 characters".to_owned());
        }
    }
    None
}

/// The rule for `tags` on every resource type.
const TAGS_RULE: super::schema::ValueRule = super::schema::ValueRule {
    rule: "at most 50 tags; keys of 1 to 128 characters, not starting with `aws:`; values of at \
           most 256 characters",
    check: tags_problem,
};
