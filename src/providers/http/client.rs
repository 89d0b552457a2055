//! The HTTP side of the `http` provider: one request with a timeout, the
//! response body read under a size cap, and every failure turned into a
//! [`ProviderError`] of the right kind with secrets redacted.
//!
//! Terminology: a *secret* here is any text that must not reach a message: a
//! header value (the whole value and each word of it, so `Bearer TOKEN` also
//! hides `TOKEN`), and every string marked secret in the configuration.
//!
//! Invariant: 429, 408, 5xx, timeouts, refused or dropped connections are
//! transient (with `Retry-After` as the hint, in seconds or as an HTTP date);
//! other failures are permanent; every message passes through [`Redactor`].

use super::super::provider::ProviderError;
use crate::lang::{Kind, Value};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest response body read, in bytes; a larger one is an error.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How many redirects are followed before the request fails.
pub const MAX_REDIRECTS: usize = 10;

/// The longest stretch of a response body quoted in an error message.
const MAX_QUOTED: usize = 300;

/// Hides secret text in messages.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Adds a secret text: the whole of it, and each whitespace-separated
    /// word of at least four characters.
    pub fn add(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.secrets.push(text.to_owned());
        for word in text.split_whitespace() {
            if word.len() >= 4 && word != text {
                self.secrets.push(word.to_owned());
            }
        }
        // Longest first, so a word inside a longer secret does not leave parts.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.secrets.dedup();
    }

    /// Adds every string inside `value` that is secret (marked, or inside a
    /// marked list or map).
    pub fn add_secrets_in(&mut self, value: &Value) {
        self.walk(value, false);
    }

    fn walk(&mut self, value: &Value, inherited: bool) {
        let secret = inherited || value.is_secret();
        match value.kind() {
            Kind::String(text) if secret => self.add(text),
            Kind::Number(number) if secret => self.add(&number.to_string()),
            Kind::List(items) => items.iter().for_each(|item| self.walk(item, secret)),
            Kind::Map(entries) => entries.values().for_each(|item| self.walk(item, secret)),
            _ => {}
        }
    }

    /// The text with every secret replaced by `(redacted)`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "(redacted)")
        })
    }

    /// Whether the text contains a secret.
    pub fn reveals(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|secret| text.contains(secret.as_str()))
    }
}

/// One request to make.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// `GET`, `POST`...
    pub method: reqwest::Method,
    /// The full URL.
    pub url: String,
    /// Headers, values in plaintext (never printed).
    pub headers: &'a BTreeMap<String, String>,
    /// A JSON body to send.
    pub body: Option<serde_json::Value>,
    /// How long the whole call may take.
    pub timeout: Duration,
    /// What the call is, for messages: `create`, `read`...
    pub doing: &'static str,
    /// What to hide in messages.
    pub redactor: &'a Redactor,
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body bytes (at most [`MAX_BODY_BYTES`]).
    pub body: Vec<u8>,
    /// `Retry-After`, parsed.
    pub retry_after: Option<Duration>,
}

impl Reply {
    /// The body parsed as JSON; an empty body is `null`.
    pub fn json(&self, call: &Call<'_>) -> Result<serde_json::Value, ProviderError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|error| {
            ProviderError::permanent(call.redactor.redact(&format!(
                "the {} response ({} {}, status {}) is not JSON ({error}); it starts with: {}",
                call.doing,
                call.method,
                call.url,
                self.status,
                quote(&self.body)
            )))
        })
    }

    /// The error for a status the call did not expect: transient for 408,
    /// 429 and 5xx (with the `Retry-After` hint), permanent otherwise, with
    /// the server's message.
    pub fn status_error(&self, call: &Call<'_>) -> ProviderError {
        let message = call.redactor.redact(&format!(
            "{} {} answered {} {}{}",
            call.method,
            call.url,
            self.status,
            reqwest::StatusCode::from_u16(self.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or(""),
            server_message(&self.body)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
        if self.status == 429 || self.status == 408 || self.status >= 500 {
            let error = ProviderError::transient(message);
            match self.retry_after {
                Some(wait) => error.retry_after(wait),
                None => error,
            }
        } else if self.status == 404 || self.status == 410 {
            ProviderError::not_found(message)
        } else {
            ProviderError::permanent(message)
        }
    }
}

/// The server's own words from an error body: a JSON `message`, `error`,
/// `detail` or `title` string, else the start of the text.
fn server_message(body: &[u8]) -> Option<String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["message", "error", "detail", "title", "error_description"] {
            match json.get(key) {
                Some(serde_json::Value::String(text)) => return Some(clip(text)),
                Some(serde_json::Value::Object(inner)) => {
                    if let Some(serde_json::Value::String(text)) = inner.get("message") {
                        return Some(clip(text));
                    }
                }
                _ => {}
            }
        }
    }
    Some(quote(body))
}

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(MAX_QUOTED).collect();
    clipped.push('…');
    clipped
}

/// The start of a body as text, on one line.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_QUOTED * 4)]);
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("`{}`", clip(flat.trim()))
}

/// An HTTP client with the provider's TLS settings.
pub fn build_client(ca_cert_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64);
    if let Some(pem) = ca_cert_pem {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|error| format!("`ca_cert` is not a PEM certificate bundle: {error}"))?;
        if certificates.is_empty() {
            return Err(String::from("`ca_cert` holds no PEM certificate"));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|error| format!("could not set up the HTTP client: {error}"))
}

/// Sends one request and reads the response under the size cap. Only
/// transport failures are errors here; every status comes back as a [`Reply`].
pub async fn send(client: &reqwest::Client, call: &Call<'_>) -> Result<Reply, ProviderError> {
    let mut request = client
        .request(call.method.clone(), &call.url)
        .timeout(call.timeout)
        .header(reqwest::header::ACCEPT, "application/json");
    for (name, value) in call.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    let mut response = request
        .send()
        .await
        .map_err(|error| transport_error(call, &error))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| parse_retry_after(text, SystemTime::now()));
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(too_large(call));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large(call));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) => return Err(transport_error(call, &error)),
        }
    }
    Ok(Reply {
        status,
        body,
        retry_after,
    })
}

fn too_large(call: &Call<'_>) -> ProviderError {
    ProviderError::permanent(call.redactor.redact(&format!(
        "the {} response ({} {}) is larger than the {} MiB cap on response bodies; \
         nothing was read from it",
        call.doing,
        call.method,
        call.url,
        MAX_BODY_BYTES / (1024 * 1024)
    )))
}

/// A failure before a status arrived (or while reading the body).
fn transport_error(call: &Call<'_>, error: &reqwest::Error) -> ProviderError {
    let cause = root_cause(error);
    // A certificate that does not verify will not verify on a retry either.
    let certificate = cause.to_ascii_lowercase().contains("certificate");
    let what = if certificate {
        format!(
            "failed TLS verification: {cause} (if the server's certificate comes from a private \
             authority, give its PEM file as `ca_cert` in the `provider \"http\"` block)"
        )
    } else if error.is_timeout() {
        format!("timed out after {}", seconds_text(call.timeout))
    } else if error.is_redirect() {
        format!("was redirected more than {MAX_REDIRECTS} times (a redirect loop?)")
    } else if error.is_connect() {
        format!("could not connect: {cause}")
    } else if error.is_builder() {
        format!("is not a valid request: {cause}")
    } else {
        format!("failed: {cause}")
    };
    let message = call
        .redactor
        .redact(&format!("{} {} {what}", call.method, call.url));
    if certificate || error.is_redirect() || error.is_builder() {
        ProviderError::permanent(message)
    } else {
        ProviderError::transient(message)
    }
}

/// The innermost cause's text (the outer ones repeat the URL).
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn seconds_text(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// `Retry-After`: delay seconds, or an HTTP date (IMF-fixdate) from which
/// the wait is measured against `now`. A date in the past is no wait.
pub fn parse_retry_after(text: &str, now: SystemTime) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(text)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an HTTP date (`Sun, 06 Nov 1994 08:49:37
/// GMT`, RFC 9110's IMF-fixdate), read by jiff's RFC 2822 parser.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text.trim())
        .ok()?;
    u64::try_from(at.as_second()).ok()
}
