//! `aws_s3_bucket`: an S3 bucket, its versioning and its tags.
//!
//! Choices: the id is the bucket's name. Versioning is `true` (Enabled) or
//! `false`; S3 cannot turn it off once on, so `false` after `true`
//! suspends it, and a read of a suspended bucket says `false`. A bucket
//! that still holds objects is not deleted unless `force_destroy` is set,
//! and then every object version and delete marker goes first.
//! `force_destroy` lives only in state.
//!
//! Invariant: the name is checked offline (`validate`) against S3's rules,
//! so a name S3 would refuse never reaches it.

use super::api::{Api, Method};
use super::{Kind, TAGS_RULE, default_to, flag, get, tag_changes, tags, tags_value, text};
use crate::aws::xml;
use crate::lang::{Type, Value};
use crate::providers::provider::{Attributes, ObjectState, ProviderError, conform_to_schema};
use crate::providers::schema::{ResourceSchema, ValueRule, attribute};
use async_trait::async_trait;

/// The type name.
pub const TYPE: &str = "aws_s3_bucket";

/// The rule a bucket name keeps, as the help line says it.
pub const BUCKET_NAME_RULE: &str = "a bucket name is 3 to 63 lower-case letters, digits, dots and \
    hyphens; it begins and ends with a letter or digit, has no two dots in a row, is not an IP \
    address, does not start with `xn--`, `sthree-` or `amzn-s3-demo-`, and does not end with \
    `-s3alias`, `--ol-s3`, `.mrap`, `--x-s3` or `--table-s3`";

/// What is wrong with a bucket name, in words that do not repeat it; `None`
/// for a good one.
pub fn bucket_name_problem(name: &str) -> Option<String> {
    let length = name.chars().count();
    if !(3..=63).contains(&length) {
        return Some(format!(
            "this bucket name is {length} characters long; S3 takes 3 to 63"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        let what = if bad.is_ascii_uppercase() {
            "an upper-case letter".to_owned()
        } else if bad == '_' {
            "an underscore".to_owned()
        } else {
            format!("the character `{}`", bad.escape_default())
        };
        return Some(format!("this bucket name has {what}"));
    }
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alphanumeric(name.chars().next()) || !alphanumeric(name.chars().last()) {
        return Some("this bucket name does not begin and end with a letter or digit".to_owned());
    }
    if name.contains("..") {
        return Some("this bucket name has two dots in a row".to_owned());
    }
    if name.split('.').count() == 4 && name.split('.').all(|part| part.parse::<u8>().is_ok()) {
        return Some("this bucket name is written as an IP address".to_owned());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Some(format!("this bucket name starts with `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Some(format!("this bucket name ends with `{suffix}`"));
        }
    }
    None
}

fn bucket_rule(value: &Value, _attributes: &Attributes) -> Option<String> {
    value.as_str().and_then(bucket_name_problem)
}

/// The schema of `aws_s3_bucket`.
pub fn schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: TYPE,
        provider: super::NAME,
        description: "An S3 bucket with its versioning and tags.",
        attributes: vec![
            attribute("bucket", Type::String)
                .required()
                .force_new()
                .rule(ValueRule {
                    rule: BUCKET_NAME_RULE,
                    check: bucket_rule,
                })
                .describe("The bucket's name, unique across S3; a change makes a new bucket."),
            attribute("versioning", Type::Bool).describe(
                "Whether S3 keeps every version of an object; default false (false after \
                 true suspends it).",
            ),
            attribute("tags", Type::Map(Box::new(Type::String)))
                .rule(TAGS_RULE)
                .describe("Tags, key to value."),
            attribute("force_destroy", Type::Bool).describe(
                "Whether a delete first removes every object and version in it; default false, \
                 when deleting a bucket that holds objects fails.",
            ),
            attribute("arn", Type::String)
                .computed_only()
                .derived_from(&["bucket"])
                .describe("The bucket's ARN."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["bucket"])
                .describe("The bucket's name."),
        ],
    }
}

/// What S3 says about one bucket, or `None` when it does not exist.
async fn read_bucket(
    api: &Api,
    bucket: &str,
    prior: &Attributes,
) -> Result<Option<ObjectState>, ProviderError> {
    let doing = format!("could not read S3 bucket `{bucket}`");
    match api.s3(Method::Head, bucket, None, &[], None).await {
        Ok(_) => {}
        Err(failure) if failure.status == Some(404) || failure.is("NoSuchBucket") => {
            return Ok(None);
        }
        Err(failure) => return Err(failure.error(&doing)),
    }
    let versioning = match api
        .s3(Method::Get, bucket, None, &[("versioning", "")], None)
        .await
    {
        Ok(answer) => xml::text(&answer.body, "Status").as_deref() == Some("Enabled"),
        Err(failure) if failure.is("NoSuchBucket") => return Ok(None),
        Err(failure) => return Err(failure.error(&doing)),
    };
    let tags = match api
        .s3(Method::Get, bucket, None, &[("tagging", "")], None)
        .await
    {
        Ok(answer) => xml::elements(&answer.body, "Tag")
            .into_iter()
            .filter_map(|tag| Some((xml::text(tag, "Key")?, xml::text(tag, "Value")?)))
            .collect(),
        Err(failure) if failure.is("NoSuchTagSet") => Vec::new(),
        Err(failure) if failure.is("NoSuchBucket") => return Ok(None),
        Err(failure) => return Err(failure.error(&doing)),
    };
    let mut values = Attributes::default();
    values.insert("bucket".into(), Value::string(bucket));
    values.insert("versioning".into(), Value::bool(versioning));
    values.insert("tags".into(), tags_value(tags));
    values.insert(
        "force_destroy".into(),
        Value::bool(flag(prior, "force_destroy", false)),
    );
    values.insert(
        "arn".into(),
        Value::string(format!("arn:aws:s3:::{bucket}")),
    );
    values.insert("id".into(), Value::string(bucket));
    Ok(Some(ObjectState {
        id: bucket.to_owned(),
        attributes: conform_to_schema(&schema(), &values),
    }))
}

async fn put_versioning(api: &Api, bucket: &str, on: bool) -> Result<(), ProviderError> {
    let status = if on { "Enabled" } else { "Suspended" };
    let body = format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Status>{status}</Status></VersioningConfiguration>"
    );
    api.s3(
        Method::Put,
        bucket,
        None,
        &[("versioning", "")],
        Some((body.into_bytes(), "application/xml")),
    )
    .await
    .map(|_| ())
    .map_err(|failure| {
        failure
            .error(&format!("could not set versioning of S3 bucket `{bucket}`"))
            .at(["versioning"])
    })
}

async fn put_tags(
    api: &Api,
    bucket: &str,
    pairs: &[(String, String)],
) -> Result<(), ProviderError> {
    let doing = format!("could not tag S3 bucket `{bucket}`");
    let result = if pairs.is_empty() {
        api.s3(Method::Delete, bucket, None, &[("tagging", "")], None)
            .await
    } else {
        let tags: String = pairs
            .iter()
            .map(|(key, value)| {
                format!(
                    "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                    xml::escape(key),
                    xml::escape(value)
                )
            })
            .collect();
        let body = format!(
            "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>{tags}</TagSet>\
             </Tagging>"
        );
        api.s3(
            Method::Put,
            bucket,
            None,
            &[("tagging", "")],
            Some((body.into_bytes(), "application/xml")),
        )
        .await
    };
    result
        .map(|_| ())
        .map_err(|failure| failure.error(&doing).at(["tags"]))
}

/// One page of the bucket's object versions and delete markers:
/// `(key, version id)` pairs and whether more follow.
async fn list_versions(
    api: &Api,
    bucket: &str,
) -> Result<Vec<(String, String)>, super::api::Failure> {
    let answer = api
        .s3(
            Method::Get,
            bucket,
            None,
            &[("versions", ""), ("max-keys", "1000")],
            None,
        )
        .await?;
    let mut found = Vec::new();
    for element in ["Version", "DeleteMarker"] {
        for entry in xml::elements(&answer.body, element) {
            if let Some(key) = xml::text(entry, "Key") {
                let version = xml::text(entry, "VersionId").unwrap_or_else(|| "null".to_owned());
                found.push((key, version));
            }
        }
    }
    Ok(found)
}

/// The bucket.
pub struct Bucket;

#[async_trait]
impl Kind for Bucket {
    fn normalize(&self, proposed: &mut Attributes) -> Result<(), ProviderError> {
        default_to(proposed, "versioning", Value::bool(false));
        default_to(proposed, "force_destroy", Value::bool(false));
        default_to(proposed, "tags", tags_value(Vec::new()));
        Ok(())
    }

    fn adjust(&self, prior: Option<&ObjectState>, change: &mut crate::providers::PlannedChange) {
        let _ = prior;
        if let Some(bucket) = get(&change.planned, "bucket").as_str().map(str::to_owned) {
            let arn = Value::string(format!("arn:aws:s3:::{bucket}"));
            change.planned.insert("arn".into(), arn);
            change.planned.insert("id".into(), Value::string(bucket));
        }
    }

    async fn create(&self, api: &Api, planned: &Attributes) -> Result<ObjectState, ProviderError> {
        let bucket = text(planned, "bucket")?;
        let body = (api.region() != "us-east-1").then(|| {
            let configuration = format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                xml::escape(api.region())
            );
            (configuration.into_bytes(), "application/xml")
        });
        api.s3(Method::Put, &bucket, None, &[], body)
            .await
            .map_err(|failure| {
                let taken =
                    failure.is("BucketAlreadyOwnedByYou") || failure.is("BucketAlreadyExists");
                let error = failure.error(&format!("could not create S3 bucket `{bucket}`"));
                if taken {
                    ProviderError::permanent(format!(
                        "{}; to manage a bucket you own, import it: `infra import ADDR {bucket}`",
                        error.message
                    ))
                    .at(["bucket"])
                } else {
                    error.at(["bucket"])
                }
            })?;
        // The bucket exists now: what follows must not make the engine
        // repeat the create.
        let api = &api.patient();
        if flag(planned, "versioning", false) {
            put_versioning(api, &bucket, true).await?;
        }
        let pairs = tags(planned);
        if !pairs.is_empty() {
            put_tags(api, &bucket, &pairs).await?;
        }
        read_bucket(api, &bucket, planned).await?.ok_or_else(|| {
            ProviderError::transient(format!(
                "S3 bucket `{bucket}` was created but cannot be read back yet"
            ))
        })
    }

    async fn read(
        &self,
        api: &Api,
        prior: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let bucket = text(prior, "bucket")?;
        read_bucket(api, &bucket, prior).await
    }

    async fn update(
        &self,
        api: &Api,
        prior: &Attributes,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let bucket = text(planned, "bucket")?;
        let versioning = flag(planned, "versioning", false);
        if flag(prior, "versioning", false) != versioning {
            put_versioning(api, &bucket, versioning).await?;
        }
        let (before, after) = (tags(prior), tags(planned));
        let (set, removed) = tag_changes(&before, &after);
        if !set.is_empty() || !removed.is_empty() {
            put_tags(api, &bucket, &after).await?;
        }
        read_bucket(api, &bucket, planned)
            .await?
            .ok_or_else(|| ProviderError::not_found(format!("S3 bucket `{bucket}` disappeared")))
    }

    async fn delete(&self, api: &Api, prior: &Attributes) -> Result<(), ProviderError> {
        let bucket = text(prior, "bucket")?;
        let doing = format!("could not delete S3 bucket `{bucket}`");
        let gone = |failure: &super::api::Failure| {
            failure.is("NoSuchBucket") || failure.status == Some(404)
        };
        loop {
            let versions = match list_versions(api, &bucket).await {
                Ok(versions) => versions,
                Err(failure) if gone(&failure) => return Ok(()),
                Err(failure) => return Err(failure.error(&doing)),
            };
            if versions.is_empty() {
                break;
            }
            if !flag(prior, "force_destroy", false) {
                let more = if versions.len() >= 1000 {
                    " or more"
                } else {
                    ""
                };
                return Err(ProviderError::permanent(format!(
                    "{doing}: BucketNotEmpty: it still holds {}{more} object versions; empty it \
                     first, or set `force_destroy = true` and apply before destroying, so that \
                     infra deletes every object and version in it",
                    versions.len()
                ))
                .at(["force_destroy"]));
            }
            for (key, version) in versions {
                match api
                    .s3(
                        Method::Delete,
                        &bucket,
                        Some(&key),
                        &[("versionId", version.as_str())],
                        None,
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(failure) if failure.is("NoSuchKey") || failure.is("NoSuchVersion") => {}
                    Err(failure) => return Err(failure.error(&doing)),
                }
            }
        }
        match api.s3(Method::Delete, &bucket, None, &[], None).await {
            Ok(_) => Ok(()),
            Err(failure) if gone(&failure) => Ok(()),
            Err(failure) if failure.is("BucketNotEmpty") => Err(ProviderError::transient(format!(
                "{doing}: BucketNotEmpty: objects were written while it was being emptied"
            ))),
            Err(failure) => Err(failure.error(&doing)),
        }
    }

    fn import_attributes(&self, _api: &Api, id: &str) -> Result<Attributes, ProviderError> {
        if let Some(problem) = bucket_name_problem(id) {
            return Err(ProviderError::permanent(format!(
                "the id is a bucket name, and {problem}"
            )));
        }
        let mut attributes = Attributes::default();
        attributes.insert("bucket".into(), Value::string(id));
        Ok(attributes)
    }
}
