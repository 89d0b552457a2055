//! The signed HTTP client: a [`Request`] in one of the three wire styles,
//! addressed to a service, signed with SigV4 and sent over reqwest
//! (rustls), its answer a [`Response`] or an [`AwsError`].
//!
//! Terminology: the *endpoint* is the base URL every service is sent to
//! when one is configured (moto, MinIO, LocalStack); without one, each
//! service has its AWS host (`https://SERVICE.REGION.amazonaws.com`). S3
//! uses path-style URLs (`ENDPOINT/BUCKET/KEY`) with a custom endpoint and
//! virtual-hosted ones (`https://BUCKET.s3.REGION.amazonaws.com/KEY`) on AWS.
//!
//! Invariant: every request carries a SigV4 `Authorization` header and, with
//! a body, an explicit `Content-Type` (moto routes unsigned requests to S3
//! and swallows a body without a content type).
//! Invariant: no error message holds the secret key or the session token.

use super::credentials::Credentials;
use super::error::{AwsError, CODE_BAD_RESPONSE, CODE_CONFIG, CODE_CONNECTION, CODE_TIMEOUT};
use super::sigv4::{self, Canonical, Scope};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a whole request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response body read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// The content type of an S3 object body when none is given.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Where and how to call AWS.
#[derive(Clone)]
pub struct Config {
    /// The region requests are signed for and sent to (`us-east-1`).
    pub region: String,
    /// A custom endpoint (`http://127.0.0.1:45000`) for every service, or
    /// `None` for AWS's own hosts.
    pub endpoint: Option<String>,
    /// The credentials requests are signed with.
    pub credentials: Credentials,
    /// The limit on one whole request.
    pub timeout: Duration,
    /// The limit on connecting.
    pub connect_timeout: Duration,
    /// The clock signatures are dated by, in seconds since the Unix epoch
    /// (the real clock when `None`; a signature carries the real time, so
    /// this exists for tests only).
    pub clock: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A configuration with the default timeouts and the real clock.
    pub fn new(
        region: impl Into<String>,
        endpoint: Option<String>,
        credentials: Credentials,
    ) -> Self {
        Config {
            region: region.into(),
            endpoint,
            credentials,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            clock: None,
        }
    }
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `PUT`.
    Put,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }

    fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Put => reqwest::Method::PUT,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

/// One AWS call before signing.
#[derive(Debug, Clone)]
pub struct Request {
    /// The signing service name (`s3`, `sqs`, `secretsmanager`, `ssm`, `iam`, `sts`).
    pub service: String,
    /// The method.
    pub method: Method,
    /// The S3 bucket the request is about (addressed path-style or
    /// virtual-hosted by the client); `None` for other services.
    pub bucket: Option<String>,
    /// The path after the bucket (or after the host), unencoded, starting
    /// with `/` (`/prefix/state.json`).
    pub path: String,
    /// Query parameters, unencoded, in any order.
    pub query: Vec<(String, String)>,
    /// Extra headers (`If-None-Match`, `x-amz-meta-…`); all are signed.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The body's content type; required with a non-empty body.
    pub content_type: Option<String>,
}

impl Request {
    /// A request to `service` with no body.
    pub fn new(service: &str, method: Method, path: &str) -> Self {
        Request {
            service: service.to_owned(),
            method,
            bucket: None,
            path: if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            },
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            content_type: None,
        }
    }

    /// An S3 request on `bucket` (and object `key` when given; `None` for
    /// bucket operations such as `CreateBucket` or `ListObjectsV2`).
    pub fn s3(method: Method, bucket: &str, key: Option<&str>) -> Self {
        let mut request = Request::new("s3", method, &format!("/{}", key.unwrap_or("")));
        request.bucket = Some(bucket.to_owned());
        request
    }

    /// A JSON-protocol call: `POST /` with `X-Amz-Target: TARGET` and
    /// `Content-Type: application/x-amz-json-VERSION`. `target` is
    /// `PREFIX.Action` (`secretsmanager.CreateSecret`, `AmazonSSM.PutParameter`,
    /// `AmazonSQS.CreateQueue`); `json_version` is `"1.0"` (SQS) or `"1.1"`
    /// (Secrets Manager, SSM).
    pub fn json(service: &str, target: &str, json_version: &str, body: &serde_json::Value) -> Self {
        let mut request = Request::new(service, Method::Post, "/");
        request
            .headers
            .push(("X-Amz-Target".to_owned(), target.to_owned()));
        request.body = body.to_string().into_bytes();
        request.content_type = Some(format!("application/x-amz-json-{json_version}"));
        request
    }

    /// A query-protocol call: `POST /` with a form body
    /// `Action=ACTION&Version=VERSION&…params` (IAM, STS, SQS's old protocol).
    pub fn query_protocol(
        service: &str,
        action: &str,
        version: &str,
        params: &[(&str, &str)],
    ) -> Self {
        let mut pairs = vec![("Action", action), ("Version", version)];
        pairs.extend_from_slice(params);
        let body = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    sigv4::uri_encode(k, false),
                    sigv4::uri_encode(v, false)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut request = Request::new(service, Method::Post, "/");
        request.body = body.into_bytes();
        request.content_type = Some("application/x-www-form-urlencoded; charset=utf-8".to_owned());
        request
    }

    /// Adds a query parameter.
    pub fn with_query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header (signed).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body and its content type.
    pub fn with_body(mut self, body: Vec<u8>, content_type: &str) -> Self {
        self.body = body;
        self.content_type = Some(content_type.to_owned());
        self
    }
}

/// A response with a 2xx status (or any status, from [`Client::send_any`]).
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (an empty body is `{}`).
    pub fn json(&self) -> Result<serde_json::Value, AwsError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Object(serde_json::Map::new()));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            AwsError::local(CODE_BAD_RESPONSE, format!("the response is not JSON: {e}"))
        })
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The signing client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    config: Arc<Config>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`; a malformed endpoint or region is refused.
    pub fn new(config: Config) -> Result<Client, AwsError> {
        if !super::region::is_well_formed(&config.region) {
            return Err(AwsError::local(
                CODE_CONFIG,
                format!(
                    "`{}` is not an AWS region name (regions look like `us-east-1`)",
                    config.region
                ),
            ));
        }
        if let Some(endpoint) = &config.endpoint {
            let parsed = reqwest::Url::parse(endpoint).map_err(|e| {
                AwsError::local(
                    CODE_CONFIG,
                    format!("the endpoint `{endpoint}` is not a URL: {e}"),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(AwsError::local(
                    CODE_CONFIG,
                    format!(
                        "the endpoint `{endpoint}` must be an http:// or https:// URL with a host"
                    ),
                ));
            }
        }
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                AwsError::local(
                    CODE_CONFIG,
                    format!("the HTTP client could not be built: {e}"),
                )
            })?;
        Ok(Client {
            config: Arc::new(config),
            http,
        })
    }

    /// The region requests go to.
    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// The custom endpoint, if any.
    pub fn endpoint(&self) -> Option<&str> {
        self.config.endpoint.as_deref()
    }

    /// The credentials' access key id (public).
    pub fn access_key_id(&self) -> &str {
        &self.config.credentials.access_key_id
    }

    /// `text` with the secret key and session token replaced by `(redacted)`.
    pub fn redact(&self, text: &str) -> String {
        self.config.credentials.redact(text)
    }

    /// The base URL of `service` (no trailing `/`), and for S3 whether
    /// buckets go in the path.
    pub fn service_url(&self, service: &str) -> String {
        match &self.config.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => {
                let region = &self.config.region;
                match service {
                    "iam" => "https://iam.amazonaws.com".to_owned(),
                    "s3" => format!("https://s3.{region}.amazonaws.com"),
                    other => format!("https://{other}.{region}.amazonaws.com"),
                }
            }
        }
    }

    /// The full URL (encoded) and the canonical URI of `request`.
    fn url_of(&self, request: &Request) -> (String, String) {
        let encoded_path = sigv4::uri_encode(&request.path, true);
        let (base, path) = match &request.bucket {
            Some(bucket) if self.config.endpoint.is_none() && virtual_hostable(bucket) => (
                format!("https://{bucket}.s3.{}.amazonaws.com", self.config.region),
                encoded_path,
            ),
            Some(bucket) => (
                self.service_url(&request.service),
                format!("/{}{}", sigv4::uri_encode(bucket, false), encoded_path),
            ),
            None => (self.service_url(&request.service), encoded_path),
        };
        // S3 signs the path as sent; the other services sign it encoded twice.
        let canonical_uri = if request.service == "s3" {
            path.clone()
        } else {
            sigv4::uri_encode(&path, true)
        };
        let query = sigv4::canonical_query(&request.query);
        let url = if query.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{query}")
        };
        (url, canonical_uri)
    }

    fn now(&self) -> u64 {
        match &self.config.clock {
            Some(clock) => clock(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// Signs `request`: the URL and every header to send, `Authorization`
    /// included. Exposed for tests that send raw signed requests.
    pub fn sign(&self, request: &Request) -> Result<(String, Vec<(String, String)>), AwsError> {
        if !request.body.is_empty() && request.content_type.is_none() {
            return Err(AwsError::local(
                CODE_CONFIG,
                "a request with a body needs a content type (this is a bug in its caller)",
            ));
        }
        let (url, canonical_uri) = self.url_of(request);
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| AwsError::local(CODE_CONFIG, format!("bad request URL: {e}")))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(AwsError::local(CODE_CONFIG, "the request URL has no host")),
        };
        let amz_date = sigv4::amz_date(self.now());
        let payload_hash = sigv4::sha256_hex(&request.body);
        let mut headers: Vec<(String, String)> = vec![
            ("host".to_owned(), host),
            ("x-amz-date".to_owned(), amz_date.clone()),
        ];
        if request.service == "s3" {
            headers.push(("x-amz-content-sha256".to_owned(), payload_hash.clone()));
        }
        if let Some(content_type) = &request.content_type {
            headers.push(("content-type".to_owned(), content_type.clone()));
        }
        if let Some(token) = &self.config.credentials.session_token {
            headers.push(("x-amz-security-token".to_owned(), token.expose().to_owned()));
        }
        headers.extend(request.headers.iter().cloned());
        let canonical_query = sigv4::canonical_query(&request.query);
        let scope = Scope {
            region: &self.config.region,
            service: &request.service,
            amz_date: &amz_date,
        };
        let signature = sigv4::sign(
            &self.config.credentials,
            &scope,
            &Canonical {
                method: request.method.as_str(),
                canonical_uri: &canonical_uri,
                canonical_query: &canonical_query,
                headers: &headers,
                payload_hash: &payload_hash,
            },
        );
        headers.push(("authorization".to_owned(), signature.authorization));
        Ok((url, headers))
    }

    /// Signs and sends `request`; a non-2xx answer is an [`AwsError`]
    /// parsed from its body.
    pub async fn send(&self, request: &Request) -> Result<Response, AwsError> {
        let response = self.send_any(request).await?;
        if response.is_success() {
            Ok(response)
        } else {
            let mut error =
                AwsError::from_response(response.status, &response.headers, &response.body);
            error.message = self.redact(&error.message);
            Err(error)
        }
    }

    /// Signs and sends `request` and returns the answer whatever its
    /// status; only a transport failure is an error.
    pub async fn send_any(&self, request: &Request) -> Result<Response, AwsError> {
        let (url, headers) = self.sign(request)?;
        let mut builder = self.http.request(request.method.to_reqwest(), &url);
        for (name, value) in &headers {
            if name != "host" {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        if !request.body.is_empty() || matches!(request.method, Method::Put | Method::Post) {
            builder = builder.body(request.body.clone());
        }
        let response = builder.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut response = response;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Err(AwsError::local(
                            CODE_BAD_RESPONSE,
                            format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport_error(&e)),
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn transport_error(&self, error: &reqwest::Error) -> AwsError {
        let mut cause = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            cause = inner.to_string();
            source = inner.source();
        }
        let where_to = self
            .config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("AWS ({})", self.config.region));
        if error.is_timeout() {
            AwsError::local(
                CODE_TIMEOUT,
                self.redact(&format!(
                    "no answer from {where_to} within {} s",
                    self.config.timeout.as_secs_f64()
                )),
            )
        } else {
            AwsError::local(
                CODE_CONNECTION,
                self.redact(&format!("could not reach {where_to}: {cause}")),
            )
        }
    }
}

/// Whether `bucket` can be a DNS label under `s3.REGION.amazonaws.com`
/// (no dots, so the TLS wildcard certificate matches).
fn virtual_hostable(bucket: &str) -> bool {
    !bucket.is_empty()
        && !bucket.contains('.')
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: Option<&str>, token: Option<&str>) -> Client {
        let mut config = Config::new(
            "eu-west-1",
            endpoint.map(str::to_owned),
            Credentials::new("AKIDEXAMPLE", "s3cr3t-key", token.map(str::to_owned)),
        );
        config.clock = Some(Arc::new(|| 1_440_938_160));
        match Client::new(config) {
            Ok(client) => client,
            Err(e) => panic!("{e}"),
        }
    }

    fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn s3_is_path_style_with_a_custom_endpoint_and_virtual_hosted_on_aws() {
        let request = Request::s3(Method::Get, "my-bucket", Some("env/prod state.json"));
        let (url, _) = client(Some("http://127.0.0.1:45000/"), None).url_of(&request);
        assert_eq!(
            url,
            "http://127.0.0.1:45000/my-bucket/env/prod%20state.json"
        );
        let (url, _) = client(None, None).url_of(&request);
        assert_eq!(
            url,
            "https://my-bucket.s3.eu-west-1.amazonaws.com/env/prod%20state.json"
        );
        let dotted = Request::s3(Method::Get, "my.bucket", None).with_query("list-type", "2");
        let (url, _) = client(None, None).url_of(&dotted);
        assert_eq!(
            url,
            "https://s3.eu-west-1.amazonaws.com/my.bucket/?list-type=2"
        );
    }

    #[test]
    fn services_go_to_their_regional_hosts_or_the_endpoint() {
        let aws = client(None, None);
        assert_eq!(
            aws.service_url("ssm"),
            "https://ssm.eu-west-1.amazonaws.com"
        );
        assert_eq!(aws.service_url("iam"), "https://iam.amazonaws.com");
        assert_eq!(
            client(Some("http://localhost:4566"), None).service_url("sqs"),
            "http://localhost:4566"
        );
    }

    #[test]
    fn a_signed_request_carries_scope_token_and_content_type() {
        let request = Request::json(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            "1.1",
            &serde_json::json!({"Name": "x"}),
        );
        let (url, headers) =
            match client(Some("http://127.0.0.1:1"), Some("the-token")).sign(&request) {
                Ok(signed) => signed,
                Err(e) => panic!("{e}"),
            };
        assert_eq!(url, "http://127.0.0.1:1/");
        let authorization = header(&headers, "authorization").unwrap_or_default();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/secretsmanager/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
            ),
            "{authorization}"
        );
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/x-amz-json-1.1")
        );
        assert_eq!(header(&headers, "x-amz-security-token"), Some("the-token"));
        assert_eq!(header(&headers, "host"), Some("127.0.0.1:1"));
    }

    #[test]
    fn a_body_without_a_content_type_is_refused() {
        let mut request = Request::s3(Method::Put, "b", Some("k"));
        request.body = b"data".to_vec();
        assert!(
            client(Some("http://127.0.0.1:1"), None)
                .sign(&request)
                .is_err()
        );
    }

    #[test]
    fn bad_regions_and_endpoints_are_refused_without_the_secret() {
        let credentials = Credentials::new("AKID", "s3cr3t-key", None);
        for (region, endpoint) in [
            ("not a region", None),
            ("us-east-1", Some("ftp://x")),
            ("us-east-1", Some("::nonsense")),
        ] {
            let config = Config::new(region, endpoint.map(str::to_owned), credentials.clone());
            let Err(error) = Client::new(config) else {
                panic!("{region} {endpoint:?} must be refused");
            };
            assert_eq!(error.code, CODE_CONFIG);
            assert!(!format!("{error} {error:?}").contains("s3cr3t-key"));
        }
    }

    #[tokio::test]
    async fn an_endpoint_that_is_down_is_a_transient_connection_error() {
        // Port 9 on loopback (discard) is closed on these machines: the
        // connection is refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string());
        let port = match listener {
            Ok(l) => l.local_addr().map(|a| a.port()).unwrap_or(9),
            Err(e) => panic!("{e}"),
        };
        // The listener is dropped here, so the port is closed.
        let down = client(
            Some(&format!("http://127.0.0.1:{port}")),
            Some("tok-secret"),
        );
        let Err(error) = down.send(&Request::s3(Method::Get, "b", Some("k"))).await else {
            panic!("a closed port must fail");
        };
        assert_eq!(error.code, CODE_CONNECTION, "{error}");
        assert!(error.is_transient());
        let shown = format!("{error} {error:?}");
        assert!(
            !shown.contains("s3cr3t-key") && !shown.contains("tok-secret"),
            "{shown}"
        );
    }
}
