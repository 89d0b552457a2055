//! The few S3 object operations both the `aws` provider and the `s3` state
//! backend need, over [`Client`]: buckets made and checked, objects put
//! (optionally only if absent), read, listed and deleted.

use super::client::{Client, Method, OCTET_STREAM, Request};
use super::error::AwsError;
use super::xml;

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// The size in bytes.
    pub size: u64,
    /// The entity tag, quotes removed.
    pub etag: String,
}

/// A written object's entity tag, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The entity tag.
    pub etag: Option<String>,
}

/// Makes `bucket` in the client's region (`CreateBucket`; outside
/// `us-east-1` with a `LocationConstraint`). A bucket this account already
/// owns is not an error.
pub async fn create_bucket(client: &Client, bucket: &str) -> Result<(), AwsError> {
    let mut request = Request::s3(Method::Put, bucket, None);
    if client.region() != "us-east-1" {
        let body = format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            xml::escape(client.region())
        );
        request = request.with_body(body.into_bytes(), "application/xml");
    }
    match client.send(&request).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == "BucketAlreadyOwnedByYou" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether `bucket` exists and is reachable with these credentials
/// (`HeadBucket`); `Ok(false)` when it does not exist.
pub async fn bucket_exists(client: &Client, bucket: &str) -> Result<bool, AwsError> {
    match client.send(&Request::s3(Method::Head, bucket, None)).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `body` to `bucket`/`key`. With `only_if_absent` the write carries
/// `If-None-Match: *` and fails with `PreconditionFailed` (HTTP 412) when
/// the object exists.
pub async fn put_object(
    client: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    only_if_absent: bool,
) -> Result<Written, AwsError> {
    let mut request = Request::s3(Method::Put, bucket, Some(key)).with_body(body, OCTET_STREAM);
    if only_if_absent {
        request = request.with_header("If-None-Match", "*");
    }
    let response = client.send(&request).await?;
    Ok(Written {
        etag: response
            .header("etag")
            .map(|e| e.trim_matches('"').to_owned()),
    })
}

/// The body of `bucket`/`key`, or `None` when there is no such object.
pub async fn get_object(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, AwsError> {
    match client
        .send(&Request::s3(Method::Get, bucket, Some(key)))
        .await
    {
        Ok(response) => Ok(Some(response.body)),
        Err(e) if e.code == "NoSuchKey" || (e.status == Some(404) && e.code != "NoSuchBucket") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Deletes `bucket`/`key` (absent is not an error, as on S3).
pub async fn delete_object(client: &Client, bucket: &str, key: &str) -> Result<(), AwsError> {
    match client
        .send(&Request::s3(Method::Delete, bucket, Some(key)))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == "NoSuchKey" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Every object of `bucket` whose key starts with `prefix`, in key order
/// (`ListObjectsV2`, following continuation tokens).
pub async fn list_objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ObjectInfo>, AwsError> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = Request::s3(Method::Get, bucket, None)
            .with_query("list-type", "2")
            .with_query("prefix", prefix);
        if let Some(token) = &token {
            request = request.with_query("continuation-token", token);
        }
        let body = client.send(&request).await?.text();
        for contents in xml::elements(&body, "Contents") {
            objects.push(ObjectInfo {
                key: xml::text(contents, "Key").unwrap_or_default(),
                size: xml::text(contents, "Size")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                etag: xml::text(contents, "ETag")
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_owned(),
            });
        }
        let truncated = xml::text(&body, "IsTruncated").as_deref() == Some("true");
        token = xml::text(&body, "NextContinuationToken").filter(|t| !t.is_empty());
        if !truncated || token.is_none() {
            break;
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(objects)
}
