//! The calls the resource kinds make, over the signed client of
//! [`crate::aws`]: JSON-protocol actions (SQS, Secrets Manager, SSM) and
//! path-style S3 requests, with AWS error answers turned into
//! [`Failure`]s that keep the AWS code and become [`ProviderError`]s.
//!
//! Invariant: no credential reaches a message; a failure's message is the
//! service's own text (which never echoes a secret request field) behind
//! what was being done and the AWS code.

use crate::host::Host;
use crate::providers::{Attributes, ProviderError};
use std::time::Duration;

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

/// An HTTP method of an S3 request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// PUT.
    Put,
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

/// A successful S3 answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text (S3 answers in XML).
    pub body: String,
}

/// An AWS error answer, or a call that got none.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The AWS error code (`NoSuchBucket`, `ThrottlingException`), or
    /// `ConnectionError` / `Timeout` when no answer came.
    pub code: String,
    /// The service's message.
    pub message: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Whether trying again may help.
    pub transient: bool,
    /// The service's hint for when to try again.
    pub retry_after: Option<Duration>,
}

impl Failure {
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

/// The configured client.
#[derive(Debug)]
pub struct Api {
    region: String,
    endpoint: String,
}

impl Api {
    /// Reads a `provider "aws"` block; unset settings fall back to the
    /// standard environment variables.
    pub fn from_block(block: &Attributes, host: &dyn Host) -> Result<Api, ProviderError> {
        let setting = |name: &str, var: &str| {
            block
                .get(name)
                .and_then(|value| value.as_str().map(str::to_owned))
                .or_else(|| host.env_var(var))
        };
        Ok(Api {
            region: setting("region", "AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
            endpoint: setting("endpoint", "AWS_ENDPOINT_URL").unwrap_or_default(),
        })
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Where calls go, for messages: `region eu-west-1 at http://…`.
    pub fn place(&self) -> String {
        if self.endpoint.is_empty() {
            format!("AWS region {}", self.region)
        } else {
            format!("AWS region {} at {}", self.region, self.endpoint)
        }
    }

    /// One JSON-protocol action.
    pub async fn json(
        &self,
        service: Service,
        action: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        let _ = (service, action, body);
        Err(self.not_ready())
    }

    /// One path-style S3 request; `query` pairs with an empty value are
    /// sent as bare keys (`?versioning`).
    pub async fn s3(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<Answer, Failure> {
        let _ = (method, bucket, key, query, body);
        Err(self.not_ready())
    }

    fn not_ready(&self) -> Failure {
        Failure {
            code: "NotImplemented".into(),
            message: "the signed client is not built in yet".into(),
            status: None,
            transient: false,
            retry_after: None,
        }
    }
}
