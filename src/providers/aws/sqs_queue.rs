//! `aws_sqs_queue`: an SQS queue, its timeouts, its dead-letter queue
//! (redrive policy) and its tags, over SQS's JSON protocol.
//!
//! Choices: the id is the queue's URL; reads look the queue up by name
//! (`GetQueueUrl`), so a queue deleted outside reads as gone. A FIFO queue's
//! name ends in `.fifo` and a standard one's does not (checked offline);
//! `fifo` and `name` cannot change in place. The redrive policy names the
//! dead-letter queue by ARN, usually another queue's `arn`, so the
//! dead-letter queue is made first.
//!
//! Invariant: a queue's attributes are read back after every change, so
//! what state records is what SQS holds.

use super::api::{Api, Service};
use super::{Kind, TAGS_RULE, default_to, flag, get, tag_changes, tags, tags_value, text, whole};
use crate::lang::{Number, Type, Value};
use crate::providers::provider::{Attributes, ObjectState, ProviderError, conform_to_schema};
use crate::providers::schema::{ResourceSchema, ValueRule, attribute};
use async_trait::async_trait;
use serde_json::json;
use std::collections::BTreeMap;

/// The type name.
pub const TYPE: &str = "aws_sqs_queue";

/// Seconds a received message stays hidden, unless set.
pub const DEFAULT_VISIBILITY_TIMEOUT: i64 = 30;

/// Seconds a message is kept, unless set (four days).
pub const DEFAULT_MESSAGE_RETENTION: i64 = 345_600;

fn name_problem(value: &Value, attributes: &Attributes) -> Option<String> {
    let name = value.as_str()?;
    let fifo = attributes.get("fifo").and_then(Value::as_bool);
    let base = name.strip_suffix(".fifo");
    let length = name.chars().count();
    if length == 0 || length > 80 {
        return Some(format!(
            "this queue name is {length} characters long; SQS takes 1 to 80"
        ));
    }
    if base
        .unwrap_or(name)
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Some(
            "this queue name has a character other than letters, digits, `-` and `_`".into(),
        );
    }
    // An unknown `fifo` is checked at plan, when it is known.
    if fifo.is_none() && attributes.get("fifo").is_some_and(Value::contains_unknown) {
        return None;
    }
    match (fifo.unwrap_or(false), base.is_some()) {
        (true, false) => Some("a FIFO queue's name must end in `.fifo`".into()),
        (false, true) => Some("this queue name ends in `.fifo`, but `fifo` is not true".into()),
        _ => None,
    }
}

fn range_problem(value: &Value, low: i64, high: i64, what: &str) -> Option<String> {
    let number = value.as_number()?;
    match number.as_i64() {
        Some(n) if (low..=high).contains(&n) => None,
        _ => Some(format!("{what} is out of range")),
    }
}

fn visibility_problem(value: &Value, _: &Attributes) -> Option<String> {
    range_problem(value, 0, 43_200, "this visibility timeout")
}

fn retention_problem(value: &Value, _: &Attributes) -> Option<String> {
    range_problem(value, 60, 1_209_600, "this message retention")
}

fn redrive_problem(value: &Value, _: &Attributes) -> Option<String> {
    let policy = value.as_map()?;
    let count = policy.get("max_receive_count")?;
    if count.contains_unknown() {
        return None;
    }
    range_problem(count, 1, 1000, "`max_receive_count`")
}

/// The schema of `aws_sqs_queue`.
pub fn schema() -> ResourceSchema {
    let redrive = Type::Object(BTreeMap::from([
        ("dead_letter_arn".to_owned(), (Type::String, false)),
        ("max_receive_count".to_owned(), (Type::Number, false)),
    ]));
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "An SQS queue, standard or FIFO, with an optional dead-letter queue.",
        attributes: vec![
            attribute("name", Type::String)
                .required()
                .force_new()
                .rule(ValueRule {
                    rule: "a queue name is 1 to 80 letters, digits, `-` and `_`; a FIFO queue's \
                           name ends in `.fifo` (counted in the 80) and only a FIFO queue's does",
                    check: name_problem,
                })
                .describe("The queue's name; a change makes a new queue."),
            attribute("fifo", Type::Bool).force_new().describe(
                "A FIFO queue (exactly-once, ordered); default false. Cannot change in place.",
            ),
            attribute("visibility_timeout", Type::Number)
                .rule(ValueRule {
                    rule: "`visibility_timeout` is 0 to 43200 seconds (12 hours)",
                    check: visibility_problem,
                })
                .describe(
                    "Seconds a received message stays hidden from other consumers; default 30.",
                ),
            attribute("message_retention", Type::Number)
                .rule(ValueRule {
                    rule: "`message_retention` is 60 to 1209600 seconds (14 days)",
                    check: retention_problem,
                })
                .describe("Seconds SQS keeps a message; default 345600 (4 days)."),
            attribute("redrive_policy", redrive)
                .rule(ValueRule {
                    rule: "`max_receive_count` is 1 to 1000 receives",
                    check: redrive_problem,
                })
                .describe(
                    "`{ dead_letter_arn, max_receive_count }`: where a message goes after that \
                     many receives without a delete.",
                ),
            attribute("tags", Type::Map(Box::new(Type::String)))
                .rule(TAGS_RULE)
                .describe("Tags, key to value."),
            attribute("url", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The queue's URL, which producers and consumers use."),
            attribute("arn", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The queue's ARN (for another queue's redrive policy)."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The queue's URL."),
        ],
    }
}

/// The SQS attributes a configuration sets.
fn sqs_attributes(
    planned: &Attributes,
) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
    let mut out = serde_json::Map::new();
    out.insert(
        "VisibilityTimeout".into(),
        json!(whole(planned, "visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT)?.to_string()),
    );
    out.insert(
        "MessageRetentionPeriod".into(),
        json!(whole(planned, "message_retention", DEFAULT_MESSAGE_RETENTION)?.to_string()),
    );
    out.insert("RedrivePolicy".into(), json!(redrive_json(planned)?));
    Ok(out)
}

/// The redrive policy as SQS's JSON text; empty for none (which removes it).
fn redrive_json(planned: &Attributes) -> Result<String, ProviderError> {
    let policy = get(planned, "redrive_policy");
    let Some(map) = policy.as_map() else {
        return Ok(String::new());
    };
    let arn = map
        .get("dead_letter_arn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ProviderError::permanent("`redrive_policy.dead_letter_arn` must be a queue ARN")
                .at(["redrive_policy", "dead_letter_arn"])
        })?;
    let count = map
        .get("max_receive_count")
        .and_then(Value::as_number)
        .and_then(Number::as_i64)
        .ok_or_else(|| {
            ProviderError::permanent("`redrive_policy.max_receive_count` must be a whole number")
                .at(["redrive_policy", "max_receive_count"])
        })?;
    Ok(json!({ "deadLetterTargetArn": arn, "maxReceiveCount": count }).to_string())
}

fn redrive_value(text: Option<&str>) -> Value {
    let Some(policy) = text
        .filter(|t| !t.is_empty())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    else {
        return Value::NULL;
    };
    let arn = policy
        .get("deadLetterTargetArn")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let count = match policy.get("maxReceiveCount") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Value::map(
        [
            ("dead_letter_arn".to_owned(), Value::string(arn)),
            (
                "max_receive_count".to_owned(),
                count.map_or(Value::NULL, Value::number),
            ),
        ]
        .into_iter()
        .collect(),
    )
}

fn number_attribute(attributes: &serde_json::Value, name: &str) -> Value {
    attributes
        .get(name)
        .and_then(serde_json::Value::as_str)
        .and_then(|t| t.parse::<i64>().ok())
        .map_or(Value::NULL, Value::number)
}

/// The queue's URL, or `None` when there is no queue of this name.
async fn queue_url(api: &Api, name: &str) -> Result<Option<String>, ProviderError> {
    match api
        .json(Service::Sqs, "GetQueueUrl", json!({ "QueueName": name }))
        .await
    {
        Ok(answer) => Ok(answer
            .get("QueueUrl")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)),
        Err(failure) if gone(&failure) => Ok(None),
        Err(failure) => Err(failure.error(&format!("could not find SQS queue `{name}`"))),
    }
}

fn gone(failure: &super::api::Failure) -> bool {
    failure.is("QueueDoesNotExist") || failure.is("NonExistentQueue")
}

/// What SQS says about the queue named `name`.
async fn read_queue(api: &Api, name: &str) -> Result<Option<ObjectState>, ProviderError> {
    let Some(url) = queue_url(api, name).await? else {
        return Ok(None);
    };
    let doing = format!("could not read SQS queue `{name}`");
    let attributes = match api
        .json(
            Service::Sqs,
            "GetQueueAttributes",
            json!({ "QueueUrl": url, "AttributeNames": ["All"] }),
        )
        .await
    {
        Ok(answer) => answer
            .get("Attributes")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
        Err(failure) if gone(&failure) => return Ok(None),
        Err(failure) => return Err(failure.error(&doing)),
    };
    let tags: Vec<(String, String)> = match api
        .json(Service::Sqs, "ListQueueTags", json!({ "QueueUrl": url }))
        .await
    {
        Ok(answer) => answer
            .get("Tags")
            .and_then(serde_json::Value::as_object)
            .map(|tags| {
                tags.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        Err(failure) if gone(&failure) => return Ok(None),
        Err(failure) => return Err(failure.error(&doing)),
    };
    let text_of = |key: &str| {
        attributes
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let mut values = Attributes::default();
    values.insert("name".into(), Value::string(name));
    values.insert(
        "fifo".into(),
        Value::bool(text_of("FifoQueue").as_deref() == Some("true")),
    );
    values.insert(
        "visibility_timeout".into(),
        number_attribute(&attributes, "VisibilityTimeout"),
    );
    values.insert(
        "message_retention".into(),
        number_attribute(&attributes, "MessageRetentionPeriod"),
    );
    values.insert(
        "redrive_policy".into(),
        redrive_value(text_of("RedrivePolicy").as_deref()),
    );
    values.insert("tags".into(), tags_value(tags));
    values.insert("url".into(), Value::string(url.clone()));
    values.insert(
        "arn".into(),
        text_of("QueueArn").map_or(Value::NULL, Value::string),
    );
    values.insert("id".into(), Value::string(url.clone()));
    Ok(Some(ObjectState {
        id: url,
        attributes: conform_to_schema(&schema(), &values),
    }))
}

/// The queue.
pub struct Queue;

#[async_trait]
impl Kind for Queue {
    fn normalize(&self, proposed: &mut Attributes) -> Result<(), ProviderError> {
        default_to(proposed, "fifo", Value::bool(false));
        default_to(
            proposed,
            "visibility_timeout",
            Value::number(DEFAULT_VISIBILITY_TIMEOUT),
        );
        default_to(
            proposed,
            "message_retention",
            Value::number(DEFAULT_MESSAGE_RETENTION),
        );
        default_to(proposed, "tags", tags_value(Vec::new()));
        Ok(())
    }

    async fn create(&self, api: &Api, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let name = text(planned, "name")?;
        let mut attributes = sqs_attributes(planned)?;
        if attributes
            .get("RedrivePolicy")
            .and_then(serde_json::Value::as_str)
            .is_some_and(str::is_empty)
        {
            attributes.remove("RedrivePolicy");
        }
        if flag(planned, "fifo", false) {
            attributes.insert("FifoQueue".into(), json!("true"));
        }
        let mut body = json!({ "QueueName": name, "Attributes": attributes });
        let pairs = tags(planned);
        if !pairs.is_empty() {
            body["tags"] = json!(pairs.into_iter().collect::<BTreeMap<_, _>>());
        }
        api.json(Service::Sqs, "CreateQueue", body)
            .await
            .map_err(|failure| {
                let at = if failure.is("QueueAlreadyExists") || failure.is("QueueNameExists") {
                    "name"
                } else if failure.message.contains("RedrivePolicy") {
                    "redrive_policy"
                } else {
                    "name"
                };
                failure
                    .error(&format!("could not create SQS queue `{name}`"))
                    .at([at])
            })?;
        read_queue(&api.patient(), &name).await?.ok_or_else(|| {
            ProviderError::transient(format!(
                "SQS queue `{name}` was created but cannot be read back yet"
            ))
        })
    }

    async fn read(
        &self,
        api: &Api,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let name = text(prior, "name")?;
        read_queue(api, &name).await
    }

    async fn update(
        &self,
        api: &Api,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let name = text(planned, "name")?;
        let url = queue_url(api, &name)
            .await?
            .ok_or_else(|| ProviderError::not_found(format!("SQS queue `{name}` disappeared")))?;
        let doing = format!("could not change SQS queue `{name}`");
        let before = sqs_attributes(prior)?;
        let after = sqs_attributes(planned)?;
        let changed: serde_json::Map<String, serde_json::Value> = after
            .into_iter()
            .filter(|(key, value)| before.get(key) != Some(value))
            .collect();
        if !changed.is_empty() {
            let at = if changed.contains_key("RedrivePolicy") {
                "redrive_policy"
            } else if changed.contains_key("VisibilityTimeout") {
                "visibility_timeout"
            } else {
                "message_retention"
            };
            api.json(
                Service::Sqs,
                "SetQueueAttributes",
                json!({ "QueueUrl": url, "Attributes": changed }),
            )
            .await
            .map_err(|failure| failure.error(&doing).at([at]))?;
        }
        let (set, removed) = tag_changes(&tags(prior), &tags(planned));
        if !removed.is_empty() {
            api.json(
                Service::Sqs,
                "UntagQueue",
                json!({ "QueueUrl": url, "TagKeys": removed }),
            )
            .await
            .map_err(|failure| failure.error(&doing).at(["tags"]))?;
        }
        if !set.is_empty() {
            api.json(
                Service::Sqs,
                "TagQueue",
                json!({ "QueueUrl": url, "Tags": set.into_iter().collect::<BTreeMap<_, _>>() }),
            )
            .await
            .map_err(|failure| failure.error(&doing).at(["tags"]))?;
        }
        read_queue(api, &name)
            .await?
            .ok_or_else(|| ProviderError::not_found(format!("SQS queue `{name}` disappeared")))
    }

    async fn delete(&self, api: &Api, prior: &Attributes) -> Result<(), ProviderError> {
        let name = text(prior, "name")?;
        let Some(url) = queue_url(api, &name).await? else {
            return Ok(());
        };
        match api
            .json(Service::Sqs, "DeleteQueue", json!({ "QueueUrl": url }))
            .await
        {
            Ok(_) => Ok(()),
            Err(failure) if gone(&failure) => Ok(()),
            Err(failure) => Err(failure.error(&format!("could not delete SQS queue `{name}`"))),
        }
    }

    fn import_attributes(&self, _api: &Api, id: &str) -> Result<Attributes, ProviderError> {
        // A queue URL ends in the name; a bare name is taken as is.
        let name = id.trim_end_matches('/').rsplit('/').next().unwrap_or(id);
        if name.is_empty() {
            return Err(ProviderError::permanent(
                "the id is a queue's name or URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
            ));
        }
        let mut attributes = Attributes::default();
        attributes.insert("name".into(), Value::string(name));
        Ok(attributes)
    }
}
