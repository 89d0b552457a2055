//! TLS for PostgreSQL connections, shared by the `postgres` provider and the
//! `postgres` state backend: libpq's `sslmode` and `sslrootcert`, honoured
//! with rustls (ring, as the `http` provider's client uses).
//!
//! Terminology: the *modes* are libpq's. `disable` never uses TLS; `allow`
//! and `prefer` use it when the server offers it, unverified; `require`
//! insists on it, unverified unless a root certificate is given (then it is
//! `verify-ca`, as in libpq); `verify-ca` checks that an authority of
//! `sslrootcert` signed the server's certificate; `verify-full` checks that
//! too, and that the certificate names the host connected to.
//!
//! Choices: `allow` is treated as `prefer` (the driver cannot try plain text
//! first and fall back to TLS). libpq reads `~/.postgresql/root.crt` when
//! `sslrootcert` is unset; here the verifying modes need `sslrootcert`, a PEM
//! file, or `system` for the public authorities (webpki-roots), so no file
//! outside the stack is read behind the user's back.
//!
//! Invariant: a verifying mode never connects without verifying; no mode
//! quietly downgrades a connection that `require` or stricter asked to be
//! encrypted. Leaf module: uses no other module of the crate.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The URL parameters this module reads (and takes out of a URL before the
/// driver parses it, since the driver knows only some of them).
pub const URL_PARAMETERS: [&str; 2] = ["sslmode", "sslrootcert"];

/// `sslrootcert = "system"`: the public authorities.
pub const SYSTEM_ROOTS: &str = "system";

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// As `prefer` (see the module docs).
    Allow,
    /// TLS when the server offers it, unverified (libpq's default).
    #[default]
    Prefer,
    /// TLS or no connection; unverified unless a root certificate is given.
    Require,
    /// TLS, the certificate signed by an authority of `sslrootcert`.
    VerifyCa,
    /// As `verify-ca`, and the certificate names the host.
    VerifyFull,
}

impl SslMode {
    /// Every mode, as written.
    pub const NAMES: [&'static str; 6] = [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ];

    /// Reads a mode as libpq writes it.
    pub fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(format!(
                    "`sslmode` is one of {}, not `{text}`",
                    Self::NAMES.join(", ")
                ));
            }
        })
    }

    /// The mode as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the certificate's authority is checked.
    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// A connection URL with the TLS parameters taken out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitUrl {
    /// The URL for the driver, without `sslmode` and `sslrootcert`.
    pub url: String,
    /// `sslmode`, when the URL has it.
    pub sslmode: Option<String>,
    /// `sslrootcert`, when the URL has it.
    pub sslrootcert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a connection URL, in either
/// form libpq reads: `postgres://…?sslmode=verify-full&sslrootcert=ca.pem`
/// or `host=… sslmode=verify-full`. Everything else is left as written.
pub fn split_url(url: &str) -> SplitUrl {
    let mut split = SplitUrl::default();
    let trimmed = url.trim_start();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            split.url = url.to_owned();
            return split;
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => split.sslmode = Some(percent_decode(value)),
                "sslrootcert" => split.sslrootcert = Some(percent_decode(value)),
                _ => kept.push(pair),
            }
        }
        split.url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
    } else {
        let mut kept = Vec::new();
        for pair in url.split_whitespace() {
            match pair.split_once('=') {
                Some(("sslmode", value)) => split.sslmode = Some(unquote(value)),
                Some(("sslrootcert", value)) => split.sslrootcert = Some(unquote(value)),
                _ => kept.push(pair),
            }
        }
        split.url = kept.join(" ");
    }
    split
}

fn unquote(value: &str) -> String {
    value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(value)
        .to_owned()
}

/// `%XX` escapes decoded (a path in a URL may need them); a broken escape
/// is kept as written.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = if byte == b'%' {
            bytes
                .get(index + 1..index + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        } else {
            None
        };
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                index += 3;
            }
            None => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where verified certificates must lead.
#[derive(Debug, Clone)]
pub enum RootCerts {
    /// The public authorities (`sslrootcert = "system"`).
    System,
    /// The authorities in a PEM file's text.
    Pem(Vec<u8>),
}

/// A mode and the connector that honours it.
#[derive(Clone)]
pub struct Tls {
    mode: SslMode,
    connector: Connector,
}

/// `disable` connects with the driver's `NoTls`; every other mode with rustls.
#[derive(Clone)]
enum Connector {
    Plain,
    Rustls(MakeRustlsConnect),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("mode", &self.mode).finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Tls {
    /// `sslmode=disable`: never TLS.
    pub fn disabled() -> Tls {
        Tls {
            mode: SslMode::Disable,
            connector: Connector::Plain,
        }
    }

    /// The connector for `mode`; `roots` are `sslrootcert`'s authorities.
    /// A verifying mode without roots, or roots without a certificate, is
    /// an error (a sentence for the caller's diagnostic).
    pub fn new(mode: SslMode, roots: Option<RootCerts>) -> Result<Tls, String> {
        // libpq: `require` with a root certificate verifies the authority.
        let mode = match (mode, &roots) {
            (SslMode::Require, Some(_)) => SslMode::VerifyCa,
            (mode, _) => mode,
        };
        if mode == SslMode::Disable {
            return Ok(Tls::disabled());
        }
        let store = match roots {
            None if mode.verifies() => {
                return Err(format!(
                    "`sslmode={}` verifies the server's certificate, so it needs \
                     `sslrootcert`: the PEM file of the authority that signed it, or \
                     `system` for the public authorities",
                    mode.as_str()
                ));
            }
            None => None,
            Some(RootCerts::System) => Some(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
            Some(RootCerts::Pem(pem)) => {
                let mut store = RootCertStore::empty();
                for certificate in CertificateDer::pem_slice_iter(&pem) {
                    let certificate = certificate.map_err(|error| {
                        format!("`sslrootcert` is not a PEM certificate file: {error}")
                    })?;
                    store.add(certificate).map_err(|error| {
                        format!("`sslrootcert` holds a certificate that cannot be used: {error}")
                    })?;
                }
                if store.is_empty() {
                    return Err(String::from("`sslrootcert` holds no PEM certificate"));
                }
                Some(store)
            }
        };
        let provider = provider();
        let roots = match store {
            Some(store) => Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|error| format!("`sslrootcert` cannot be used: {error}"))?,
            ),
            None => None,
        };
        let verifier = Verifier {
            roots: roots.filter(|_| mode.verifies()),
            check_name: mode == SslMode::VerifyFull,
            provider: provider.clone(),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS cannot be set up: {error}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Tls {
            mode,
            connector: Connector::Rustls(MakeRustlsConnect::new(config)),
        })
    }

    /// The mode in force (`require` with roots reads `verify-ca`).
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Connects with `config` in this mode (whatever `sslmode` the config
    /// says) and spawns the connection's driver on the current runtime; it
    /// ends when the client is dropped or the server goes away.
    pub async fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        use tokio_postgres::config::SslMode as Driver;
        let mut config = config.clone();
        config.ssl_mode(match self.mode {
            SslMode::Disable => Driver::Disable,
            SslMode::Allow | SslMode::Prefer => Driver::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Driver::Require,
        });
        match &self.connector {
            Connector::Plain => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(client)
            }
            Connector::Rustls(connector) => {
                let (client, connection) = config.connect(connector.clone()).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(client)
            }
        }
    }
}

/// How the server's certificate is checked: not at all (`prefer`,
/// `require`), its authority (`verify-ca`), or its authority and name
/// (`verify-full`). The handshake's signatures are always checked, so the
/// server holds the certificate's key.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        match roots.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // The name is checked after the chain, so the authority is good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What to do about a connection that failed in TLS, when it did: a
/// sentence for the diagnostic's help, or `None` for any other failure.
pub fn failure_hint(error: &tokio_postgres::Error, mode: SslMode) -> Option<String> {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if text.contains("server does not support TLS") {
        return Some(format!(
            "the server does not offer TLS, and `sslmode={}` insists on it: turn `ssl = on` \
             in the server's postgresql.conf, or use `sslmode=disable` over a trusted network",
            mode.as_str()
        ));
    }
    if text.contains("NotValidForName") || text.contains("not valid for name") {
        return Some(String::from(
            "the server's certificate does not name the host connected to \
             (`sslmode=verify-full` checks the name): connect by a name the certificate \
             holds, or use `sslmode=verify-ca`",
        ));
    }
    if text.contains("invalid peer certificate") || text.contains("UnknownIssuer") {
        return Some(format!(
            "the server's certificate did not verify against `sslrootcert` \
             (`sslmode={}`): give the PEM file of the authority that signed it",
            mode.as_str()
        ));
    }
    text.contains("TLS handshake").then(|| {
        String::from("the TLS handshake failed: check the server's `ssl` settings and `sslmode`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_both_url_forms() {
        let split = split_url(
            "postgres://u:p@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem",
        );
        assert_eq!(split.url, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(split.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(split.sslrootcert.as_deref(), Some("/tmp/ca.pem"));
        let split = split_url("host=h sslmode=require sslrootcert='ca.pem' dbname=d");
        assert_eq!(split.url, "host=h dbname=d");
        assert_eq!(split.sslmode.as_deref(), Some("require"));
        assert_eq!(split.sslrootcert.as_deref(), Some("ca.pem"));
        let split = split_url("postgres://h/db?sslmode=disable");
        assert_eq!(split.url, "postgres://h/db");
    }

    #[test]
    fn verifying_modes_need_a_root_and_require_with_a_root_verifies_the_authority() {
        let error = Tls::new(SslMode::VerifyFull, None)
            .err()
            .unwrap_or_default();
        assert!(error.contains("needs `sslrootcert`"), "{error}");
        assert!(Tls::new(SslMode::VerifyCa, Some(RootCerts::System)).is_ok());
        let error = Tls::new(SslMode::Require, Some(RootCerts::Pem(b"nope".to_vec())))
            .err()
            .unwrap_or_default();
        assert!(error.contains("no PEM certificate"), "{error}");
        assert_eq!(
            Tls::new(SslMode::Require, Some(RootCerts::System))
                .map(|tls| tls.mode())
                .ok(),
            Some(SslMode::VerifyCa)
        );
        assert!(SslMode::parse("verify-all").is_err());
    }
}
