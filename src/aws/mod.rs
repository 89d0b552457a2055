//! A small AWS wire client: credentials, regions, SigV4 signing, requests
//! in the three wire styles (S3 REST-XML, JSON 1.0/1.1, query), and the
//! errors AWS answers with. A leaf: it uses no other module of this crate,
//! and both `providers::aws` and `state::s3` use it.
//!
//! Terminology: a *service* is the signing name (`s3`, `sqs`,
//! `secretsmanager`, `ssm`, `iam`, `sts`); the *endpoint* is a custom base
//! URL for every service (moto, MinIO, LocalStack), without which each
//! service has its AWS host.
//!
//! # Using it
//!
//! ```no_run
//! # async fn demo() -> Result<(), infra::aws::AwsError> {
//! use infra::aws::{Client, Config, Credentials, Request, s3};
//! // Credentials: explicit values win; else AWS_ACCESS_KEY_ID,
//! // AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN through the lookup (pass
//! // `|name| host.env_var(name)` in library code).
//! let credentials = Credentials::resolve(None, None, None, &|name| std::env::var(name).ok())
//!     .map_err(|e| infra::aws::AwsError::local(infra::aws::error::CODE_CONFIG, e.0))?;
//! let client = Client::new(Config::new(
//!     "us-east-1",
//!     Some("http://127.0.0.1:45000".to_owned()), // None for AWS itself
//!     credentials,
//! ))?;
//!
//! // JSON protocols (Secrets Manager and SSM are 1.1, SQS is 1.0).
//! let created = client
//!     .send(&Request::json(
//!         "ssm",
//!         "AmazonSSM.PutParameter",
//!         "1.1",
//!         &serde_json::json!({"Name": "/app/replicas", "Value": "3", "Type": "String"}),
//!     ))
//!     .await?
//!     .json()?;
//!
//! // The query protocol (IAM, STS): a form body; read the XML answer with `xml`.
//! let who = client
//!     .send(&Request::query_protocol("sts", "GetCallerIdentity", "2011-06-15", &[]))
//!     .await?
//!     .text();
//! let arn = infra::aws::xml::text(&who, "Arn");
//!
//! // S3 (REST-XML): path-style with an endpoint, virtual-hosted on AWS.
//! s3::create_bucket(&client, "my-bucket").await?;
//! s3::put_object(&client, "my-bucket", "a/b.json", b"{}".to_vec(), false).await?;
//! let tagging = client
//!     .send(&Request::s3(infra::aws::Method::Get, "my-bucket", None).with_query("tagging", ""))
//!     .await;
//! # let _ = (created, arn, tagging);
//! # Ok(()) }
//! ```
//!
//! Errors: [`Client::send`] turns every non-2xx answer into an [`AwsError`]
//! (`code`, `message`, `status`, `request_id`, `retry_after`), whatever the
//! wire style; [`AwsError::is_transient`] says whether a retry may help
//! (throttling codes, 429, 5xx, timeouts, connection failures),
//! [`AwsError::is_not_found`] and [`AwsError::is_auth`] classify the rest.
//! [`Client::send_any`] returns the answer whatever its status. A body
//! needs a content type ([`Request::with_body`]); every request is signed,
//! and [`Client::sign`] gives the signed URL and headers for tests that
//! send raw requests.
//!
//! Invariant: the secret access key and the session token are in no
//! `Debug`/`Display` output and no error message ([`Credentials::redact`]).
//! Invariant: no other module of this crate is used here; the environment
//! and the clock come from the caller (the real clock dates signatures
//! unless [`Config::clock`] is set).

pub mod client;
pub mod credentials;
pub mod error;
pub mod region;
pub mod s3;
pub mod sigv4;
pub mod xml;

pub use client::{Client, Config, Method, Request, Response};
pub use credentials::{Credentials, MissingCredentials, Secret, region_from_env};
pub use error::AwsError;
