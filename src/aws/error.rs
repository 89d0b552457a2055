//! [`AwsError`]: one error for every way an AWS call can fail, parsed from
//! the three wire styles (S3's REST-XML `<Error><Code>`, the JSON 1.0/1.1
//! protocols' `__type`, the query protocol's `<ErrorResponse><Error>`) or
//! made by the client for timeouts and connection failures.
//!
//! Invariant: a message never holds a credential; the client passes every
//! message through [`super::Credentials::redact`] before it is stored here.

use super::xml;
use std::time::Duration;

/// The code of a request that timed out (no HTTP status).
pub const CODE_TIMEOUT: &str = "Timeout";
/// The code of a request that could not connect or whose connection broke.
pub const CODE_CONNECTION: &str = "ConnectionError";
/// The code of a client that could not be built (bad endpoint, TLS set-up).
pub const CODE_CONFIG: &str = "InvalidClientConfig";
/// The code of a success response whose body could not be read or parsed.
pub const CODE_BAD_RESPONSE: &str = "InvalidResponse";

/// Error codes AWS uses for throttling (all retried).
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Other codes that mean "try again" whatever the status.
const TRANSIENT_CODES: &[&str] = &[
    CODE_TIMEOUT,
    CODE_CONNECTION,
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "InternalServerError",
];

/// A failed AWS call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct AwsError {
    /// The AWS error code (`NoSuchBucket`, `ThrottlingException`,
    /// `SignatureDoesNotMatch`), or one of this module's `CODE_*` for
    /// failures with no AWS answer; for an error response without a body
    /// (a `HEAD`), a code from the status: `NotFound`, `Forbidden`,
    /// `PreconditionFailed`, `NotModified`, `Http<status>`.
    pub code: String,
    /// The message, credentials redacted.
    pub message: String,
    /// The HTTP status; `None` when no response came.
    pub status: Option<u16>,
    /// The request id AWS gave (`x-amz-request-id`, `x-amzn-RequestId` or
    /// the body's `RequestId`).
    pub request_id: Option<String>,
    /// The server's `Retry-After` hint, when it sent one.
    pub retry_after: Option<Duration>,
}

impl AwsError {
    /// An error with no HTTP response (`CODE_*`).
    pub fn local(code: &str, message: impl Into<String>) -> Self {
        AwsError {
            code: code.to_owned(),
            message: message.into(),
            status: None,
            request_id: None,
            retry_after: None,
        }
    }

    /// Whether retrying the same call may succeed: throttling, 5xx,
    /// timeouts and connection failures.
    pub fn is_transient(&self) -> bool {
        THROTTLING_CODES.contains(&self.code.as_str())
            || TRANSIENT_CODES.contains(&self.code.as_str())
            || matches!(self.status, Some(429 | 500..=599))
    }

    /// Whether this is a throttling error.
    pub fn is_throttling(&self) -> bool {
        THROTTLING_CODES.contains(&self.code.as_str()) || self.status == Some(429)
    }

    /// Whether the credentials were refused (bad key id, bad signature,
    /// expired token, no permission).
    pub fn is_auth(&self) -> bool {
        matches!(
            self.code.as_str(),
            "SignatureDoesNotMatch"
                | "InvalidSignatureException"
                | "InvalidAccessKeyId"
                | "InvalidClientTokenId"
                | "UnrecognizedClientException"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "InvalidToken"
                | "AccessDenied"
                | "AccessDeniedException"
                | "AuthFailure"
                | "Forbidden"
        )
    }

    /// Whether the thing asked for does not exist (`NoSuchKey`,
    /// `NoSuchBucket`, `ResourceNotFoundException`, `ParameterNotFound`,
    /// `AWS.SimpleQueueService.NonExistentQueue`, a bodiless 404 …).
    pub fn is_not_found(&self) -> bool {
        let code = self.code.as_str();
        code == "NotFound"
            || code.starts_with("NoSuch")
            || code.ends_with("NotFound")
            || code.ends_with("NotFoundException")
            || code.ends_with("NonExistentQueue")
            || code == "QueueDoesNotExist"
    }

    /// `CODE (HTTP STATUS): MESSAGE [request id ID]`.
    fn describe(&self) -> String {
        let mut text = self.code.clone();
        if let Some(status) = self.status {
            text.push_str(&format!(" (HTTP {status})"));
        }
        if !self.message.is_empty() {
            text.push_str(": ");
            text.push_str(&self.message);
        }
        if let Some(id) = &self.request_id {
            text.push_str(&format!(" [request id {id}]"));
        }
        text
    }

    /// The error an AWS error response stands for, whatever its wire style.
    /// `headers` are lower-case names.
    pub fn from_response(status: u16, headers: &[(String, String)], body: &[u8]) -> AwsError {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let text = String::from_utf8_lossy(body);
        let trimmed = text.trim();
        let (mut code, mut message, mut request_id) = (None, None, None);
        if trimmed.starts_with('{') {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(trimmed) {
                let field = |names: &[&str]| {
                    names
                        .iter()
                        .find_map(|n| map.get(*n).and_then(|v| v.as_str()).map(str::to_owned))
                };
                code = field(&["__type", "code", "Code"]);
                message = field(&["message", "Message", "errorMessage"]);
            }
        } else if trimmed.starts_with('<') {
            // S3: <Error><Code>…; query: <ErrorResponse><Error><Code>….
            let error = xml::elements(trimmed, "Error")
                .into_iter()
                .next()
                .unwrap_or(trimmed);
            code = xml::text(error, "Code");
            message = xml::text(error, "Message");
            request_id =
                xml::text(trimmed, "RequestId").or_else(|| xml::text(trimmed, "RequestID"));
        }
        // JSON protocols may also name the type in a header.
        let code = code
            .or_else(|| header("x-amzn-errortype"))
            .map(|c| clean_code(&c))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| status_code_name(status));
        let message = message.unwrap_or_else(|| {
            if trimmed.is_empty() || trimmed.len() > 300 {
                String::new()
            } else {
                trimmed.to_owned()
            }
        });
        let request_id = header("x-amz-request-id")
            .or_else(|| header("x-amzn-requestid"))
            .or(request_id);
        let retry_after = header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        AwsError {
            code,
            message,
            status: Some(status),
            request_id,
            retry_after,
        }
    }
}

/// `com.amazonaws.ssm#ParameterNotFound` and `ParameterNotFound:http://…`
/// are both `ParameterNotFound`.
fn clean_code(code: &str) -> String {
    let code = code.rsplit('#').next().unwrap_or(code);
    let code = code.split(':').next().unwrap_or(code);
    code.trim().to_owned()
}

/// A code for an error response without one (a bodiless `HEAD`).
fn status_code_name(status: u16) -> String {
    match status {
        304 => "NotModified".to_owned(),
        400 => "BadRequest".to_owned(),
        403 => "Forbidden".to_owned(),
        404 => "NotFound".to_owned(),
        409 => "Conflict".to_owned(),
        412 => "PreconditionFailed".to_owned(),
        429 => "TooManyRequests".to_owned(),
        503 => "ServiceUnavailable".to_owned(),
        other => format!("Http{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn s3_xml_errors_give_code_message_and_request_id() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a</Key><RequestId>R1</RequestId></Error>"#;
        let error = AwsError::from_response(404, &[], body);
        assert_eq!(error.code, "NoSuchKey");
        assert_eq!(error.message, "The specified key does not exist.");
        assert_eq!(error.request_id.as_deref(), Some("R1"));
        assert!(error.is_not_found() && !error.is_transient());
        assert_eq!(
            error.to_string(),
            "NoSuchKey (HTTP 404): The specified key does not exist. [request id R1]"
        );
    }

    #[test]
    fn json_errors_take_the_type_after_the_namespace() {
        let body = br#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#;
        let error = AwsError::from_response(400, &headers(&[("x-amzn-requestid", "abc")]), body);
        assert_eq!(error.code, "ResourceNotFoundException");
        assert_eq!(error.request_id.as_deref(), Some("abc"));
        assert!(error.is_not_found());
        let throttled = AwsError::from_response(
            400,
            &[],
            br#"{"__type":"ThrottlingException","Message":"Rate exceeded"}"#,
        );
        assert!(throttled.is_transient() && throttled.is_throttling());
        assert_eq!(throttled.message, "Rate exceeded");
    }

    #[test]
    fn query_xml_errors_are_read_inside_error_response() {
        let body = br#"<ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist.</Message></Error><RequestId>q-1</RequestId></ErrorResponse>"#;
        let error = AwsError::from_response(400, &[], body);
        assert_eq!(error.code, "AWS.SimpleQueueService.NonExistentQueue");
        assert_eq!(error.request_id.as_deref(), Some("q-1"));
        assert!(error.is_not_found());
        let limit = AwsError::from_response(
            503,
            &[],
            b"<ErrorResponse><Error><Code>RequestLimitExceeded</Code></Error></ErrorResponse>",
        );
        assert!(limit.is_transient());
    }

    #[test]
    fn bodiless_errors_take_a_code_from_the_status() {
        assert_eq!(AwsError::from_response(404, &[], b"").code, "NotFound");
        assert_eq!(
            AwsError::from_response(412, &[], b"").code,
            "PreconditionFailed"
        );
        let slow = AwsError::from_response(503, &headers(&[("retry-after", "2")]), b"");
        assert!(slow.is_transient());
        assert_eq!(slow.retry_after, Some(Duration::from_secs(2)));
        assert!(AwsError::from_response(500, &[], b"oops").is_transient());
        assert!(!AwsError::from_response(400, &[], b"").is_transient());
        assert!(AwsError::local(CODE_TIMEOUT, "timed out").is_transient());
        assert!(AwsError::local(CODE_CONNECTION, "refused").is_transient());
        assert!(
            AwsError::from_response(503, &[], b"<Error><Code>SlowDown</Code></Error>")
                .is_throttling()
        );
    }

    #[test]
    fn signature_errors_are_auth_errors() {
        let body = br#"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>"#;
        let error = AwsError::from_response(403, &[], body);
        assert!(error.is_auth() && !error.is_transient());
    }
}
