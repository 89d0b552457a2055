//! The calls the resource kinds make, over the signed client of
//! [`crate::aws`]: JSON-protocol actions (SQS, Secrets Manager, SSM) and
//! path-style S3 requests, with AWS error answers turned into
//! [`Failure`]s that keep the AWS code and become [`ProviderError`]s.
//!
//! Invariant: no credential reaches a message (the client redacts them);
//! a failure's message is the service's own text behind what was being
//! done and the AWS code, and the provider redacts secret values from it.

use crate::aws::{AwsError, Client, Config, Credentials, Request};
use crate::host::Host;
use crate::providers::{Attributes, ProviderError};
use std::sync::Arc;
use std::time::Duration;

pub use crate::aws::Method;

/// The services the provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Simple Queue Service (JSON 1.0, `AmazonSQS.*`).
    Sqs,
    /// Secrets Manager (JSON 1.1, `secretsmanager.*`).
    SecretsManager,
    /// Systems Manager Parameter Store (JSON 1.1, `AmazonSSM.*`).
    Ssm,
}

impl Service {
    /// The signing name, the target prefix and the JSON protocol version.
    fn wire(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Service::Sqs => ("sqs", "AmazonSQS", "1.0"),
            Service::SecretsManager => ("secretsmanager", "secretsmanager", "1.1"),
            Service::Ssm => ("ssm", "AmazonSSM", "1.1"),
        }
    }
}

/// A successful S3 answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The body as text (S3 answers in XML).
    pub body: String,
}

/// An AWS error answer, or a call that got none.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The AWS error code (`NoSuchBucket`, `ThrottlingException`), or
    /// `ConnectionError` / `Timeout` when no answer came.
    pub code: String,
    /// The service's message (credentials redacted).
    pub message: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Whether trying again may help.
    pub transient: bool,
    /// The service's hint for when to try again.
    pub retry_after: Option<Duration>,
}

impl Failure {
    fn from_aws(error: AwsError, place: &str) -> Failure {
        let transient = error.is_transient();
        let message = if error.status.is_none() {
            // No answer: say where the call went.
            format!("{} ({place})", error.message)
        } else if error.is_auth() {
            format!(
                "{} (the credentials were refused by {place}: check AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or the provider's access_key and secret_key)",
                error.message
            )
        } else {
            error.message
        };
        Failure {
            code: error.code,
            message,
            status: error.status,
            transient,
            retry_after: error.retry_after,
        }
    }

    /// Whether the AWS code is `code` (a JSON `__type` of
    /// `com.amazonaws.sqs#QueueDoesNotExist` is `QueueDoesNotExist`).
    pub fn is(&self, code: &str) -> bool {
        self.code == code || self.code.rsplit(['#', '.']).next() == Some(code)
    }

    /// The provider error: `doing` (which names the object), the AWS code
    /// and the service's message; transient when the failure is.
    pub fn error(self, doing: &str) -> ProviderError {
        let status = self
            .status
            .map(|status| format!(", HTTP {status}"))
            .unwrap_or_default();
        let message = if self.message.is_empty() {
            format!("{doing}: {}{status}", self.code)
        } else {
            format!("{doing}: {}{status}: {}", self.code, self.message)
        };
        if self.transient {
            let error = ProviderError::transient(message);
            match self.retry_after {
                Some(wait) => error.retry_after(wait),
                None => error,
            }
        } else {
            ProviderError::permanent(message)
        }
    }
}

/// Tries in all of one request made in place of a retry by the engine
/// (see [`Api::patient`]).
pub const PATIENT_TRIES: u32 = 6;

/// The configured client.
#[derive(Clone)]
pub struct Api {
    client: Client,
    /// Whether transient failures are retried here rather than returned.
    patient: bool,
    /// Randomness for idempotency tokens.
    host: Arc<dyn Host>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("client", &self.client)
            .field("patient", &self.patient)
            .finish_non_exhaustive()
    }
}

/// A string setting of the provider block; `null` and `""` are unset.
fn setting(block: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match block.get(name) {
        None => Ok(None),
        Some(value) if value.is_null() => Ok(None),
        Some(value) => match value.as_str() {
            Some("") => Ok(None),
            Some(text) => Ok(Some(text.to_owned())),
            None => Err(ProviderError::permanent(format!(
                "`{name}` must be a string, not a {}",
                value.type_name()
            ))
            .at([name])),
        },
    }
}

impl Api {
    /// Reads a `provider "aws"` block; unset settings fall back to the
    /// standard environment variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`).
    pub fn from_block(block: &Attributes, host: Arc<dyn Host>) -> Result<Api, ProviderError> {
        let env = |name: &str| host.env_var(name);
        let host_for_tokens = host.clone();
        let access_key = setting(block, "access_key")?;
        let secret_key = setting(block, "secret_key")?;
        let session_token = setting(block, "session_token")?;
        let region = match setting(block, "region")? {
            Some(region) => region,
            None => crate::aws::credentials::region_from_env(&env)
                .unwrap_or_else(|| "us-east-1".to_owned()),
        };
        if !crate::aws::region::is_known(&region) {
            let hint = crate::aws::region::suggest(&region)
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            return Err(ProviderError::permanent(format!(
                "`{region}` is not an AWS region{hint}; regions look like `us-east-1` or \
                 `eu-west-1`"
            ))
            .at(["region"]));
        }
        let endpoint = match setting(block, "endpoint")? {
            Some(endpoint) => Some(endpoint),
            None => env("AWS_ENDPOINT_URL").filter(|e| !e.is_empty()),
        };
        let credentials = Credentials::resolve(
            access_key.as_deref(),
            secret_key.as_deref(),
            session_token.as_deref(),
            &env,
        )
        .map_err(|missing| {
            let at = if block.contains_key("access_key") {
                "secret_key"
            } else {
                "access_key"
            };
            ProviderError::permanent(missing.0).at([at])
        })?;
        let client = Client::new(Config::new(region, endpoint, credentials)).map_err(|error| {
            let at = if error.message.contains("endpoint") {
                "endpoint"
            } else {
                "region"
            };
            ProviderError::permanent(error.message).at([at])
        })?;
        Ok(Api {
            client,
            patient: false,
            host: host_for_tokens,
        })
    }

    /// A fresh idempotency token (`ClientRequestToken`), a random UUID as
    /// the AWS SDKs make them for each call.
    pub fn request_token(&self) -> String {
        let mut bytes = [0u8; 16];
        self.host.random_bytes(&mut bytes);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex = crate::hex::lower(&bytes);
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// The same client, retrying each request's transient failures in place
    /// (up to [`PATIENT_TRIES`] tries, waiting 100 ms, 200 ms, … or the
    /// service's `Retry-After`). For the requests that follow a create's
    /// first change: a transient failure there must not make the engine
    /// repeat the whole create (the bucket, queue or parameter exists by
    /// then, so a second create would fail). Other requests return
    /// transient failures, and the engine retries the call.
    pub fn patient(&self) -> Api {
        Api {
            patient: true,
            ..self.clone()
        }
    }

    /// Sends `request`, in place again while patient and transient.
    async fn send(&self, request: &Request) -> Result<crate::aws::Response, Failure> {
        let mut tries = 1;
        loop {
            match self.client.send(request).await {
                Ok(response) => return Ok(response),
                Err(error) if self.patient && error.is_transient() && tries < PATIENT_TRIES => {
                    let backoff = Duration::from_millis(100u64 << (tries - 1).min(8));
                    let wait = error
                        .retry_after
                        .map_or(backoff, |hint| hint.clamp(backoff, Duration::from_secs(20)));
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
                Err(error) => return Err(Failure::from_aws(error, &self.place())),
            }
        }
    }

    /// The region.
    pub fn region(&self) -> &str {
        self.client.region()
    }

    /// Where calls go, for messages: `AWS region eu-west-1 at http://…`.
    pub fn place(&self) -> String {
        match self.client.endpoint() {
            None => format!("AWS region {}", self.client.region()),
            Some(endpoint) => format!("AWS region {} at {endpoint}", self.client.region()),
        }
    }

    /// One JSON-protocol action.
    pub async fn json(
        &self,
        service: Service,
        action: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        let (name, prefix, version) = service.wire();
        let request = Request::json(name, &format!("{prefix}.{action}"), version, &body);
        let response = self.send(&request).await?;
        response
            .json()
            .map_err(|error| Failure::from_aws(error, &self.place()))
    }

    /// One path-style S3 request on `bucket` (and `key`, unencoded);
    /// `query` pairs with an empty value are sent as bare keys (`?versioning`).
    pub async fn s3(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<Answer, Failure> {
        let mut request = Request::s3(method, bucket, key);
        for (name, value) in query {
            request = request.with_query(name, value);
        }
        if let Some((bytes, content_type)) = body {
            // S3 asks for a body's MD5 on the configuration calls (tagging).
            use base64::Engine as _;
            use md5::Digest as _;
            let digest = md5::Md5::digest(&bytes);
            let md5 = base64::engine::general_purpose::STANDARD.encode(digest);
            request = request
                .with_header("Content-MD5", &md5)
                .with_body(bytes, content_type);
        }
        let response = self.send(&request).await?;
        Ok(Answer {
            body: response.text(),
        })
    }
}
