//! AWS Signature Version 4, written out from the published specification
//! (canonical request, string to sign, derived signing key, signature) and
//! checked against AWS's published test vectors.
//!
//! Terminology: the *canonical request* is the request reduced to a fixed
//! text form; the *scope* is `DATE/REGION/SERVICE/aws4_request`; the
//! *payload hash* is the hex SHA-256 of the body.
//!
//! Invariant: the secret key is used only to derive the signing key; it is
//! in no returned value (the signature is a one-way HMAC of it).

use super::credentials::Credentials;
use sha2::{Digest, Sha256};

/// The algorithm name in the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The hex SHA-256 of the empty body.
pub const EMPTY_PAYLOAD_HASH: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What one signature covers besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The signing region (`us-east-1`).
    pub region: &'a str,
    /// The signing service name (`s3`, `sqs`, `secretsmanager`, `ssm`, `iam`).
    pub service: &'a str,
    /// The request time, `YYYYMMDDTHHMMSSZ` (also sent as `x-amz-date`).
    pub amz_date: &'a str,
}

impl Scope<'_> {
    fn date(&self) -> &str {
        self.amz_date.get(..8).unwrap_or(self.amz_date)
    }

    /// `DATE/REGION/SERVICE/aws4_request`.
    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date(),
            self.region,
            self.service
        )
    }
}

/// A request reduced to what the signature covers.
#[derive(Debug, Clone)]
pub struct Canonical<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The path, already URI-encoded as the specification asks for the service.
    pub canonical_uri: &'a str,
    /// The query, already in canonical form ([`canonical_query`]).
    pub canonical_query: &'a str,
    /// Every header to sign (name, value), in any order and case.
    pub headers: &'a [(String, String)],
    /// The hex SHA-256 of the body (or `UNSIGNED-PAYLOAD`).
    pub payload_hash: &'a str,
}

/// A computed signature and the texts it was computed from (for tests and
/// for debugging a `SignatureDoesNotMatch`; none holds a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The `Authorization` header value.
    pub authorization: String,
    /// The signed header names, `;`-separated.
    pub signed_headers: String,
    /// The signature, hex.
    pub signature: String,
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
}

/// Signs `request` with `credentials` for `scope`.
pub fn sign(credentials: &Credentials, scope: &Scope<'_>, request: &Canonical<'_>) -> Signature {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.trim().to_ascii_lowercase(),
                canonical_header_value(value),
            )
        })
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    // Repeated names are joined with commas, in the order given.
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match merged.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => merged.push((name, value)),
        }
    }
    let signed_headers = merged
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = merged
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        request.canonical_uri,
        request.canonical_query,
        canonical_headers,
        signed_headers,
        request.payload_hash
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        scope.amz_date,
        scope.credential_scope(),
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(
        credentials.secret_access_key.expose(),
        scope.date(),
        scope.region,
        scope.service,
    );
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id,
        scope.credential_scope()
    );
    Signature {
        authorization,
        signed_headers,
        signature,
        canonical_request,
        string_to_sign,
    }
}

/// The derived signing key: HMAC chained over date, region, service and
/// `aws4_request`, starting from `AWS4` + the secret key.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// A header value in canonical form: trimmed, inner runs of spaces as one.
fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` URI-encoded as SigV4 asks: every byte but `A-Z a-z 0-9 - _ . ~`
/// as `%XX` (upper-case hex), and `/` kept when `keep_slash`.
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The canonical query string of `pairs` (unencoded): each name and value
/// URI-encoded, sorted by name then value, joined with `&`.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| (uri_encode(name, false), uri_encode(value, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDDTHHMMSSZ` for a time in seconds since the Unix epoch (UTC).
pub fn amz_date(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let seconds_of_day = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// HMAC-SHA256 (RFC 2104) over `sha2`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    crate::hex::lower(bytes)
}

#[cfg(test)]
mod tests {
    //! The vectors are AWS's published SigV4 test suite (credentials
    //! `AKIDEXAMPLE`, time `20150830T123600Z`, region `us-east-1`, service
    //! `service`) and the IAM `ListUsers` example of the SigV4 documentation.
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";

    fn credentials() -> Credentials {
        Credentials::new("AKIDEXAMPLE", SECRET, None)
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn suite(
        method: &str,
        uri: &str,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Signature {
        let mut all = headers(&[("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)]);
        all.extend(headers(extra));
        let query: Vec<(String, String)> = headers(query);
        let canonical_query = canonical_query(&query);
        let payload_hash = sha256_hex(body);
        let scope = Scope {
            region: "us-east-1",
            service: "service",
            amz_date: DATE,
        };
        sign(
            &credentials(),
            &scope,
            &Canonical {
                method,
                canonical_uri: uri,
                canonical_query: &canonical_query,
                headers: &all,
                payload_hash: &payload_hash,
            },
        )
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn get_vanilla_matches_the_published_signature() {
        let signed = suite("GET", "/", &[], &[], b"");
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(
            signed.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn query_parameters_are_sorted_before_signing() {
        let signed = suite(
            "GET",
            "/",
            &[("Param2", "value2"), ("Param1", "value1")],
            &[],
            b"",
        );
        assert_eq!(
            signed.signature,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn a_utf8_path_is_signed_percent_encoded() {
        let uri = uri_encode("/\u{1234}", true);
        assert_eq!(uri, "/%E1%88%B4");
        let signed = suite("GET", &uri, &[], &[], b"");
        assert_eq!(
            signed.signature,
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
        );
    }

    #[test]
    fn a_form_body_is_signed_with_its_hash_and_content_headers() {
        let body = b"Param1=value1";
        let hash = sha256_hex(body);
        assert_eq!(
            hash,
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
        let signed = suite(
            "POST",
            "/",
            &[],
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Length", "13"),
                ("X-Amz-Content-Sha256", &hash),
            ],
            body,
        );
        assert_eq!(
            signed.signed_headers,
            "content-length;content-type;host;x-amz-content-sha256;x-amz-date"
        );
        assert_eq!(
            signed.signature,
            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        );
    }

    #[test]
    fn the_documented_iam_list_users_example_matches() {
        assert_eq!(
            hex(&signing_key(SECRET, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let query = canonical_query(&headers(&[
            ("Action", "ListUsers"),
            ("Version", "2010-05-08"),
        ]));
        let all = headers(&[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Host", "iam.amazonaws.com"),
            ("X-Amz-Date", DATE),
        ]);
        let scope = Scope {
            region: "us-east-1",
            service: "iam",
            amz_date: DATE,
        };
        let signed = sign(
            &credentials(),
            &scope,
            &Canonical {
                method: "GET",
                canonical_uri: "/",
                canonical_query: &query,
                headers: &all,
                payload_hash: EMPTY_PAYLOAD_HASH,
            },
        );
        assert_eq!(
            signed.signature,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_repeated_names_joined() {
        let signed = suite(
            "GET",
            "/",
            &[],
            &[("My-Header1", "  a   b   c  "), ("X-B", "2"), ("x-b", "3")],
            b"",
        );
        assert!(
            signed.canonical_request.contains("my-header1:a b c\n"),
            "{}",
            signed.canonical_request
        );
        assert!(
            signed.canonical_request.contains("x-b:2,3\n"),
            "{}",
            signed.canonical_request
        );
    }

    #[test]
    fn the_signature_never_contains_the_secret() {
        let signed = suite("GET", "/", &[], &[], b"");
        let all = format!("{signed:?}");
        assert!(!all.contains(SECRET));
    }

    #[test]
    fn amz_dates_are_utc_calendar_times() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    }
}
