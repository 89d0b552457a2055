//! `aws_secretsmanager_secret`: a Secrets Manager secret, its description,
//! its tags and its current value.
//!
//! Choices: the id is the secret's ARN. The value is write-only: infra
//! sends it, state keeps it sealed with `value_hash` (its SHA-256, sealed
//! too), and a read fetches the current value only to hash it: the same
//! hash reads as the recorded value, any other as [`CHANGED_OUTSIDE`], so
//! a value set outside infra is drift on `value` without the value being
//! shown or kept. A secret scheduled for deletion reads as gone. Deletes
//! are immediate unless `recovery_window_days` says otherwise, so the name
//! can be used again at once.
//!
//! Invariant: the value never appears in a message, and only its hash is
//! computed from what the service returns.

use super::api::{Api, Service};
use super::{
    Kind, TAGS_RULE, default_to, get, optional_text, tag_changes, tags, tags_value, text, whole,
};
use crate::lang::{Type, Value};
use crate::providers::provider::{
    Attributes, ObjectState, PlannedChange, ProviderError, conform_to_schema, same_ignoring_marks,
};
use crate::providers::schema::{ResourceSchema, ValueRule, attribute};
use async_trait::async_trait;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The type name.
pub const TYPE: &str = "aws_secretsmanager_secret";

/// What a value set outside infra reads as (secret): its hash is not the
/// recorded one, and it is never read back into state.
pub const CHANGED_OUTSIDE: &str = "(changed outside infra)";

fn name_problem(value: &Value, _: &Attributes) -> Option<String> {
    let name = value.as_str()?;
    let length = name.chars().count();
    if length == 0 || length > 512 {
        return Some(format!(
            "this secret name is {length} characters long; Secrets Manager takes 1 to 512"
        ));
    }
    if name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)))
    {
        return Some("this secret name has a character Secrets Manager does not take".into());
    }
    None
}

fn recovery_problem(value: &Value, _: &Attributes) -> Option<String> {
    match value.as_number()?.as_i64() {
        Some(0 | 7..=30) => None,
        _ => Some("this recovery window is neither 0 nor 7 to 30 days".into()),
    }
}

/// The schema of `aws_secretsmanager_secret`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "A Secrets Manager secret; its value is write-only and kept sealed.",
        attributes: vec![
            attribute("name", Type::String)
                .required()
                .force_new()
                .rule(ValueRule {
                    rule: "a secret name is 1 to 512 letters, digits and `/_+=.@-`",
                    check: name_problem,
                })
                .describe("The secret's name (`prod/api/key`); a change makes a new secret."),
            attribute("description", Type::String).describe("What the secret is for."),
            attribute("value", Type::String).sensitive().describe(
                "The secret's value (a secret): sent, never read back; state keeps it sealed \
                     and a change made outside shows as drift.",
            ),
            attribute("recovery_window_days", Type::Number)
                .rule(ValueRule {
                    rule: "`recovery_window_days` is 0 (delete at once) or 7 to 30",
                    check: recovery_problem,
                })
                .describe(
                    "Days a deleted secret can still be restored; 0 (default) deletes it at once.",
                ),
            attribute("tags", Type::Map(Box::new(Type::String)))
                .rule(TAGS_RULE)
                .describe("Tags, key to value."),
            attribute("value_hash", Type::String)
                .computed_only()
                .sensitive()
                .derived_from(&["value"])
                .describe("The SHA-256 of the value infra last set (secret)."),
            attribute("arn", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The secret's ARN."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The secret's ARN."),
        ],
    }
}

/// The hex SHA-256 of a value.
fn hash(value: &str) -> String {
    crate::hex::lower(&Sha256::digest(value.as_bytes()))
}

/// The secret's id for calls: its ARN when known, else its name.
fn secret_id(attributes: &Attributes) -> Result<String, ProviderError> {
    match get(attributes, "arn").as_str() {
        Some(arn) if !arn.is_empty() => Ok(arn.to_owned()),
        _ => text(attributes, "name"),
    }
}

fn gone(failure: &super::api::Failure) -> bool {
    failure.is("ResourceNotFoundException")
}

/// The value and hash a read reports (see the module docs): `remote` is
/// the hash of the value Secrets Manager holds now, if any.
fn read_value(prior: &Attributes, remote: Option<String>) -> (Value, Value) {
    let prior_value = get(prior, "value");
    let Some(remote) = remote else {
        return (Value::NULL, Value::NULL);
    };
    let remote_hash = Value::string(remote.clone()).with_secret(true);
    let Some(plain) = prior_value.as_str() else {
        // Not managed by infra (imported, or no value configured).
        return (Value::NULL, remote_hash);
    };
    let expected = match get(prior, "value_hash").as_str() {
        Some(recorded) => recorded.to_owned(),
        None => hash(plain),
    };
    if expected == remote && plain != CHANGED_OUTSIDE {
        (prior_value.clone().with_secret(true), remote_hash)
    } else {
        (
            Value::string(CHANGED_OUTSIDE).with_secret(true),
            remote_hash,
        )
    }
}

/// What Secrets Manager says about the secret `id` (name or ARN).
async fn read_secret(
    api: &Api,
    id: &str,
    prior: &Attributes,
) -> Result<Option<ObjectState>, ProviderError> {
    let doing = format!("could not read Secrets Manager secret `{id}`");
    let described = match api
        .json(
            Service::SecretsManager,
            "DescribeSecret",
            json!({ "SecretId": id }),
        )
        .await
    {
        Ok(answer) => answer,
        Err(failure) if gone(&failure) => return Ok(None),
        Err(failure) => return Err(failure.error(&doing)),
    };
    if described.get("DeletedDate").is_some_and(|d| !d.is_null()) {
        return Ok(None);
    }
    let field = |name: &str| {
        described
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let arn = field("ARN").unwrap_or_else(|| id.to_owned());
    let remote = match api
        .json(
            Service::SecretsManager,
            "GetSecretValue",
            json!({ "SecretId": arn }),
        )
        .await
    {
        Ok(answer) => answer
            .get("SecretString")
            .and_then(serde_json::Value::as_str)
            .map(hash),
        // No value yet (a secret made without one).
        Err(failure) if gone(&failure) => None,
        Err(failure) => return Err(failure.error(&doing)),
    };
    let (value, value_hash) = read_value(prior, remote);
    let tags: Vec<(String, String)> = described
        .get("Tags")
        .and_then(serde_json::Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|tag| {
                    Some((
                        tag.get("Key")?.as_str()?.to_owned(),
                        tag.get("Value")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut values = Attributes::default();
    values.insert(
        "name".into(),
        Value::string(field("Name").unwrap_or_else(|| id.to_owned())),
    );
    values.insert(
        "description".into(),
        field("Description")
            .filter(|d| !d.is_empty())
            .map_or(Value::NULL, Value::string),
    );
    values.insert("value".into(), value);
    values.insert(
        "recovery_window_days".into(),
        Value::number(whole(prior, "recovery_window_days", 0)?),
    );
    values.insert("tags".into(), tags_value(tags));
    values.insert("value_hash".into(), value_hash);
    values.insert("arn".into(), Value::string(arn.clone()));
    values.insert("id".into(), Value::string(arn.clone()));
    Ok(Some(ObjectState {
        id: arn,
        attributes: conform_to_schema(&schema(), &values),
    }))
}

fn tag_list(pairs: &[(String, String)]) -> serde_json::Value {
    json!(
        pairs
            .iter()
            .map(|(key, value)| json!({ "Key": key, "Value": value }))
            .collect::<Vec<_>>()
    )
}

/// The secret.
pub struct Secret;

#[async_trait]
impl Kind for Secret {
    fn normalize(&self, proposed: &mut Attributes) -> Result<(), ProviderError> {
        default_to(proposed, "recovery_window_days", Value::number(0));
        default_to(proposed, "tags", tags_value(Vec::new()));
        Ok(())
    }

    fn adjust(&self, prior: Option<&ObjectState>, change: &mut PlannedChange) {
        let value = get(&change.planned, "value").clone();
        let new_value = prior.is_none_or(|p| !same_ignoring_marks(p.attribute("value"), &value));
        if new_value || change.replaces() {
            let planned_hash = match value.as_str() {
                Some(plain) => Value::string(hash(plain)),
                None if value.is_unknown() => Value::UNKNOWN,
                // No value configured: whatever the service holds stays.
                None => prior
                    .map(|p| p.attribute("value_hash").clone())
                    .filter(|_| !change.replaces())
                    .unwrap_or(Value::NULL),
            };
            change
                .planned
                .insert("value_hash".into(), planned_hash.with_secret(true));
        }
    }

    async fn create(&self, api: &Api, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let name = text(planned, "name")?;
        let mut body = json!({ "Name": name, "ClientRequestToken": api.request_token() });
        if let Some(description) = optional_text(planned, "description")? {
            body["Description"] = json!(description);
        }
        if let Some(value) = optional_text(planned, "value")? {
            body["SecretString"] = json!(value);
        }
        let pairs = tags(planned);
        if !pairs.is_empty() {
            body["Tags"] = tag_list(&pairs);
        }
        let created = api
            .json(Service::SecretsManager, "CreateSecret", body)
            .await
            .map_err(|failure| {
                let exists = failure.is("ResourceExistsException");
                let scheduled = failure.message.contains("scheduled for deletion");
                let error =
                    failure.error(&format!("could not create Secrets Manager secret `{name}`"));
                let hint = if exists {
                    "; to manage the existing secret, import it: `infra import ADDR <name or ARN>`"
                } else if scheduled {
                    "; restore it (`aws secretsmanager restore-secret`) and import it, or wait \
                     until its recovery window ends"
                } else {
                    ""
                };
                ProviderError {
                    message: format!("{}{hint}", error.message),
                    ..error
                }
                .at(["name"])
            })?;
        let arn = created
            .get("ARN")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| name.clone(), str::to_owned);
        read_secret(&api.patient(), &arn, planned)
            .await?
            .ok_or_else(|| {
                ProviderError::transient(format!(
                    "Secrets Manager secret `{name}` was created but cannot be read back yet"
                ))
            })
    }

    async fn read(
        &self,
        api: &Api,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        read_secret(api, &secret_id(prior)?, prior).await
    }

    async fn update(
        &self,
        api: &Api,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let id = secret_id(prior)?;
        let name = text(planned, "name")?;
        let doing = format!("could not change Secrets Manager secret `{name}`");
        let description = optional_text(planned, "description")?;
        if optional_text(prior, "description")? != description {
            api.json(
                Service::SecretsManager,
                "UpdateSecret",
                json!({
                    "SecretId": id,
                    "Description": description.unwrap_or_default(),
                    "ClientRequestToken": api.request_token(),
                }),
            )
            .await
            .map_err(|failure| failure.error(&doing).at(["description"]))?;
        }
        let value = get(planned, "value");
        if !same_ignoring_marks(get(prior, "value"), value) {
            if let Some(plain) = value.as_str() {
                api.json(
                    Service::SecretsManager,
                    "PutSecretValue",
                    json!({
                        "SecretId": id,
                        "SecretString": plain,
                        "ClientRequestToken": api.request_token(),
                    }),
                )
                .await
                .map_err(|failure| failure.error(&doing).at(["value"]))?;
            }
        }
        let (set, removed) = tag_changes(&tags(prior), &tags(planned));
        if !removed.is_empty() {
            api.json(
                Service::SecretsManager,
                "UntagResource",
                json!({ "SecretId": id, "TagKeys": removed }),
            )
            .await
            .map_err(|failure| failure.error(&doing).at(["tags"]))?;
        }
        if !set.is_empty() {
            api.json(
                Service::SecretsManager,
                "TagResource",
                json!({ "SecretId": id, "Tags": tag_list(&set) }),
            )
            .await
            .map_err(|failure| failure.error(&doing).at(["tags"]))?;
        }
        // The value just sent is the one to compare with.
        let mut known = planned.clone();
        known.insert("value_hash".into(), Value::NULL);
        read_secret(api, &id, &known).await?.ok_or_else(|| {
            ProviderError::not_found(format!("Secrets Manager secret `{name}` disappeared"))
        })
    }

    async fn delete(&self, api: &Api, prior: &Attributes) -> Result<(), ProviderError> {
        let id = secret_id(prior)?;
        let days = whole(prior, "recovery_window_days", 0)?;
        let body = if days == 0 {
            json!({ "SecretId": id, "ForceDeleteWithoutRecovery": true })
        } else {
            json!({ "SecretId": id, "RecoveryWindowInDays": days })
        };
        match api
            .json(Service::SecretsManager, "DeleteSecret", body)
            .await
        {
            Ok(_) => Ok(()),
            Err(failure) if gone(&failure) => Ok(()),
            // Already scheduled for deletion: as good as gone.
            Err(failure) if failure.message.contains("scheduled for deletion") => Ok(()),
            Err(failure) => Err(failure.error(&format!(
                "could not delete Secrets Manager secret `{}`",
                get(prior, "name").as_str().unwrap_or(&id)
            ))),
        }
    }

    fn import_attributes(&self, _api: &Api, id: &str) -> Result<Attributes, ProviderError> {
        let mut attributes = Attributes::default();
        if id.starts_with("arn:") {
            attributes.insert("arn".into(), Value::string(id));
            // The name is read back from the service.
            attributes.insert("name".into(), Value::string(id));
        } else {
            attributes.insert("name".into(), Value::string(id));
        }
        Ok(attributes)
    }
}

/// What the offline tests reach inside.
#[cfg(test)]
pub mod tests_support {
    use super::Attributes;
    use crate::lang::Value;

    /// The hex SHA-256 of a value.
    pub fn hash(value: &str) -> String {
        super::hash(value)
    }

    /// The value and hash a read reports.
    pub fn read_value(prior: &Attributes, remote: Option<String>) -> (Value, Value) {
        super::read_value(prior, remote)
    }
}
