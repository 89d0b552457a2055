//! `aws_ssm_parameter`: a Systems Manager Parameter Store parameter, its
//! type, value, description and tags.
//!
//! Choices: the id is the parameter's name. A `SecureString` parameter's
//! value is a secret wherever it appears (plan, state, output), whether or
//! not the configuration marked it. `overwrite` says what a create does
//! when a parameter of that name already exists: refuse (the default, so
//! infra never takes over a value it did not set by accident) or take it
//! over; updates of a parameter infra manages always overwrite. Every
//! change makes a new `version`.
//!
//! Invariant: the value appears in no message.

use super::api::{Api, Service};
use super::{
    Kind, TAGS_RULE, default_to, flag, get, optional_text, tag_changes, tags, tags_value, text,
};
use crate::lang::{Type, Value};
use crate::providers::provider::{
    Attributes, ObjectState, PlannedChange, ProviderError, conform_to_schema, same_ignoring_marks,
};
use crate::providers::schema::{ResourceSchema, ValueRule, attribute};
use async_trait::async_trait;
use serde_json::json;

/// The type name.
pub const TYPE: &str = "aws_ssm_parameter";

/// The parameter types.
pub const TYPES: [&str; 3] = ["String", "StringList", "SecureString"];

fn name_problem(value: &Value, _: &Attributes) -> Option<String> {
    let name = value.as_str()?;
    let length = name.chars().count();
    if length == 0 || length > 1011 {
        return Some(format!(
            "this parameter name is {length} characters long; SSM takes 1 to 1011"
        ));
    }
    if name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(c)))
    {
        return Some(
            "this parameter name has a character other than letters, digits and `_.-/`".into(),
        );
    }
    if name.contains('/') && !name.starts_with('/') {
        return Some("this parameter name has a `/` but does not start with one".into());
    }
    if name.split('/').filter(|part| !part.is_empty()).count() > 15 {
        return Some("this parameter name is more than 15 levels deep".into());
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Some("this parameter name starts with `aws` or `ssm`, which AWS keeps".into());
    }
    None
}

fn type_problem(value: &Value, _: &Attributes) -> Option<String> {
    let ty = value.as_str()?;
    (!TYPES.contains(&ty)).then(|| "this is not a parameter type".to_owned())
}

/// The schema of `aws_ssm_parameter`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "An SSM Parameter Store parameter (String, StringList or SecureString).",
        attributes: vec![
            attribute("name", Type::String)
                .required()
                .force_new()
                .rule(ValueRule {
                    rule: "a parameter name is 1 to 1011 letters, digits and `_.-/`; a name with \
                           `/` starts with `/` and has at most 15 levels; it does not start with \
                           `aws` or `ssm`",
                    check: name_problem,
                })
                .describe("The parameter's name (`/app/prod/replicas`); a change makes a new one."),
            attribute("type", Type::String)
                .rule(ValueRule {
                    rule: "`type` is \"String\", \"StringList\" or \"SecureString\"",
                    check: type_problem,
                })
                .describe("\"String\" (default), \"StringList\" (comma-separated) or \"SecureString\" (encrypted; its value is a secret)."),
            attribute("value", Type::String)
                .required()
                .describe("The value; a secret when the type is SecureString."),
            attribute("description", Type::String).describe("What the parameter is for."),
            attribute("overwrite", Type::Bool).describe(
                "Whether creating it may take over a parameter of the same name that exists \
                 already; default false (the create fails instead).",
            ),
            attribute("tags", Type::Map(Box::new(Type::String)))
                .rule(TAGS_RULE)
                .describe("Tags, key to value."),
            attribute("version", Type::Number)
                .computed_only()
                .derived_from(&[])
                .describe("The parameter's version; every change adds one."),
            attribute("arn", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The parameter's ARN."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["name"])
                .describe("The parameter's name."),
        ],
    }
}

fn gone(failure: &super::api::Failure) -> bool {
    failure.is("ParameterNotFound")
}

fn secure(attributes: &Attributes) -> bool {
    get(attributes, "type").as_str() == Some("SecureString")
}

/// What SSM says about the parameter `name`.
async fn read_parameter(
    api: &Api,
    name: &str,
    prior: &Attributes,
) -> Result<Option<ObjectState>, ProviderError> {
    let doing = format!("could not read SSM parameter `{name}`");
    let answer = match api
        .json(
            Service::Ssm,
            "GetParameter",
            json!({ "Name": name, "WithDecryption": true }),
        )
        .await
    {
        Ok(answer) => answer,
        Err(failure) if gone(&failure) => return Ok(None),
        Err(failure) => return Err(failure.error(&doing)),
    };
    let parameter = answer.get("Parameter").cloned().unwrap_or_default();
    let field = |key: &str| {
        parameter
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let ty = field("Type").unwrap_or_else(|| "String".to_owned());
    let description = match api
        .json(
            Service::Ssm,
            "DescribeParameters",
            json!({ "ParameterFilters": [{ "Key": "Name", "Option": "Equals", "Values": [name] }] }),
        )
        .await
    {
        Ok(answer) => answer
            .get("Parameters")
            .and_then(serde_json::Value::as_array)
            .and_then(|list| list.first())
            .and_then(|p| p.get("Description"))
            .and_then(serde_json::Value::as_str)
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        Err(failure) => return Err(failure.error(&doing)),
    };
    let tags: Vec<(String, String)> = match api
        .json(
            Service::Ssm,
            "ListTagsForResource",
            json!({ "ResourceType": "Parameter", "ResourceId": name }),
        )
        .await
    {
        Ok(answer) => answer
            .get("TagList")
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
            .unwrap_or_default(),
        Err(failure) if gone(&failure) || failure.is("InvalidResourceId") => return Ok(None),
        Err(failure) => return Err(failure.error(&doing)),
    };
    let value = field("Value").map_or(Value::NULL, Value::string);
    let mut values = Attributes::default();
    values.insert("name".into(), Value::string(name));
    values.insert("value".into(), value.mark_secret_if(ty == "SecureString"));
    values.insert("type".into(), Value::string(ty));
    values.insert(
        "description".into(),
        description.map_or(Value::NULL, Value::string),
    );
    values.insert(
        "overwrite".into(),
        Value::bool(flag(prior, "overwrite", false)),
    );
    values.insert("tags".into(), tags_value(tags));
    values.insert(
        "version".into(),
        parameter
            .get("Version")
            .and_then(serde_json::Value::as_i64)
            .map_or(Value::NULL, Value::number),
    );
    values.insert(
        "arn".into(),
        field("ARN").map_or(Value::NULL, Value::string),
    );
    values.insert("id".into(), Value::string(name));
    Ok(Some(ObjectState {
        id: name.to_owned(),
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

/// Puts the value (and type and description); `overwrite` as SSM's flag.
async fn put(
    api: &Api,
    planned: &Attributes,
    overwrite: bool,
    with_tags: bool,
) -> Result<(), super::api::Failure> {
    let name = text(planned, "name").unwrap_or_default();
    let mut body = json!({
        "Name": name,
        "Value": optional_text(planned, "value").ok().flatten().unwrap_or_default(),
        "Type": optional_text(planned, "type").ok().flatten().unwrap_or_else(|| "String".into()),
        "Overwrite": overwrite,
    });
    if let Some(description) = optional_text(planned, "description").ok().flatten() {
        body["Description"] = json!(description);
    }
    let pairs = tags(planned);
    if with_tags && !pairs.is_empty() {
        body["Tags"] = tag_list(&pairs);
    }
    api.json(Service::Ssm, "PutParameter", body)
        .await
        .map(|_| ())
}

async fn change_tags(
    api: &Api,
    name: &str,
    before: &[(String, String)],
    after: &[(String, String)],
    doing: &str,
) -> Result<(), ProviderError> {
    let (set, removed) = tag_changes(before, after);
    if !removed.is_empty() {
        api.json(
            Service::Ssm,
            "RemoveTagsFromResource",
            json!({ "ResourceType": "Parameter", "ResourceId": name, "TagKeys": removed }),
        )
        .await
        .map_err(|failure| failure.error(doing).at(["tags"]))?;
    }
    if !set.is_empty() {
        api.json(
            Service::Ssm,
            "AddTagsToResource",
            json!({ "ResourceType": "Parameter", "ResourceId": name, "Tags": tag_list(&set) }),
        )
        .await
        .map_err(|failure| failure.error(doing).at(["tags"]))?;
    }
    Ok(())
}

/// The parameter.
pub struct Parameter;

#[async_trait]
impl Kind for Parameter {
    fn normalize(&self, proposed: &mut Attributes) -> Result<(), ProviderError> {
        default_to(proposed, "type", Value::string("String"));
        default_to(proposed, "overwrite", Value::bool(false));
        default_to(proposed, "tags", tags_value(Vec::new()));
        Ok(())
    }

    fn adjust(&self, prior: Option<&ObjectState>, change: &mut PlannedChange) {
        if secure(&change.planned) {
            let value = get(&change.planned, "value").clone().with_secret(true);
            change.planned.insert("value".into(), value);
        }
        let put_again = prior.is_none_or(|prior| {
            ["value", "type", "description"]
                .iter()
                .any(|name| !same_ignoring_marks(prior.attribute(name), get(&change.planned, name)))
        });
        if put_again {
            change.planned.insert("version".into(), Value::UNKNOWN);
        }
        if let Some(name) = get(&change.planned, "name").as_str() {
            let id = Value::string(name.to_owned());
            change.planned.insert("id".into(), id);
        }
    }

    async fn create(&self, api: &Api, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let name = text(planned, "name")?;
        let overwrite = flag(planned, "overwrite", false);
        // SSM refuses tags together with `Overwrite`: they follow apart.
        put(api, planned, overwrite, !overwrite)
            .await
            .map_err(|failure| {
                let exists = failure.is("ParameterAlreadyExists");
                let error = failure.error(&format!("could not create SSM parameter `{name}`"));
                if exists {
                    ProviderError::permanent(format!(
                        "{}; set `overwrite = true` to take it over, or import it: `infra \
                         import ADDR {name}`",
                        error.message
                    ))
                    .at(["name"])
                } else {
                    let at = if error.message.contains("Type") {
                        "type"
                    } else {
                        "value"
                    };
                    error.at([at])
                }
            })?;
        // The parameter exists now: what follows must not make the engine
        // repeat the create.
        let api = &api.patient();
        if overwrite {
            change_tags(
                api,
                &name,
                &[],
                &tags(planned),
                &format!("could not tag SSM parameter `{name}`"),
            )
            .await?;
        }
        read_parameter(api, &name, planned).await?.ok_or_else(|| {
            ProviderError::transient(format!(
                "SSM parameter `{name}` was created but cannot be read back yet"
            ))
        })
    }

    async fn read(
        &self,
        api: &Api,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let name = text(prior, "name")?;
        read_parameter(api, &name, prior).await
    }

    async fn update(
        &self,
        api: &Api,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let name = text(planned, "name")?;
        let doing = format!("could not change SSM parameter `{name}`");
        let put_again = ["value", "type", "description"]
            .iter()
            .any(|attribute| !same_ignoring_marks(get(prior, attribute), get(planned, attribute)));
        if put_again {
            put(api, planned, true, false)
                .await
                .map_err(|failure| failure.error(&doing).at(["value"]))?;
        }
        change_tags(api, &name, &tags(prior), &tags(planned), &doing).await?;
        read_parameter(api, &name, planned)
            .await?
            .ok_or_else(|| ProviderError::not_found(format!("SSM parameter `{name}` disappeared")))
    }

    async fn delete(&self, api: &Api, prior: &Attributes) -> Result<(), ProviderError> {
        let name = text(prior, "name")?;
        match api
            .json(Service::Ssm, "DeleteParameter", json!({ "Name": name }))
            .await
        {
            Ok(_) => Ok(()),
            Err(failure) if gone(&failure) => Ok(()),
            Err(failure) => Err(failure.error(&format!("could not delete SSM parameter `{name}`"))),
        }
    }

    fn import_attributes(&self, _api: &Api, id: &str) -> Result<Attributes, ProviderError> {
        let mut attributes = Attributes::default();
        attributes.insert("name".into(), Value::string(id));
        Ok(attributes)
    }
}
