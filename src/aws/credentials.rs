//! AWS credentials: an access key id, a secret access key and an optional
//! session token, given explicitly or read from the standard environment
//! variables.
//!
//! Invariant: the secret access key and the session token are never in a
//! `Debug` or `Display` output, nor in any error this module returns.

/// A secret string: its `Debug` shows `(secret)`, never the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The plaintext, for signing and redaction only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(secret)")
    }
}

/// The environment variable holding the access key id.
pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// The environment variable holding the secret access key.
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// The environment variable holding the session token (temporary credentials).
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The environment variables naming the region, in the order they are read.
pub const ENV_REGION: &[&str] = &["AWS_REGION", "AWS_DEFAULT_REGION"];

/// Static AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (`AKIA…`, `ASIA…`): public, shown in signatures.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "(secret)"),
            )
            .finish()
    }
}

/// Why no credentials could be had. Names the missing variable or
/// attribute, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MissingCredentials(pub String);

impl Credentials {
    /// Credentials from explicit values.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret_access_key),
            session_token: session_token.filter(|t| !t.is_empty()).map(Secret::new),
        }
    }

    /// Credentials from explicit values where given, else from
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`
    /// through `env` (a library passes `|name| host.env_var(name)`).
    ///
    /// The key id and the secret come as a pair: an explicit key id takes
    /// its secret from the explicit value or, failing that, the environment;
    /// a session token is read from the environment only when the key id
    /// came from there too (a token belongs to its key).
    pub fn resolve(
        access_key_id: Option<&str>,
        secret_access_key: Option<&str>,
        session_token: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Credentials, MissingCredentials> {
        let nonempty = |value: Option<String>| value.filter(|v| !v.is_empty());
        let explicit_key = access_key_id.filter(|v| !v.is_empty()).map(str::to_owned);
        let from_env = explicit_key.is_none();
        let Some(key) = explicit_key.or_else(|| nonempty(env(ENV_ACCESS_KEY_ID))) else {
            return Err(MissingCredentials(format!(
                "no AWS access key id: set {ENV_ACCESS_KEY_ID} and {ENV_SECRET_ACCESS_KEY}, \
                 or give the key and its secret in the configuration"
            )));
        };
        let Some(secret) = secret_access_key
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .or_else(|| nonempty(env(ENV_SECRET_ACCESS_KEY)))
        else {
            return Err(MissingCredentials(format!(
                "an AWS access key id is given but no secret access key: set \
                 {ENV_SECRET_ACCESS_KEY}, or give the secret in the configuration"
            )));
        };
        let token = match session_token.filter(|v| !v.is_empty()) {
            Some(token) => Some(token.to_owned()),
            None if from_env => nonempty(env(ENV_SESSION_TOKEN)),
            None => None,
        };
        Ok(Credentials::new(key, secret, token))
    }

    /// The secret texts (secret key, session token) a message must never
    /// show, for a redactor.
    pub fn secrets(&self) -> Vec<&str> {
        let mut secrets = vec![self.secret_access_key.expose()];
        if let Some(token) = &self.session_token {
            secrets.push(token.expose());
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }

    /// `text` with every secret of these credentials replaced by `(redacted)`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets().iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret, "(redacted)")
        })
    }
}

/// The region from `AWS_REGION` or `AWS_DEFAULT_REGION` through `env`.
pub fn region_from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    ENV_REGION
        .iter()
        .find_map(|name| env(name).filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn debug_output_never_shows_the_secret_key_or_the_token() {
        let credentials =
            Credentials::new("AKIDEXAMPLE", "very-secret-key", Some("tok-123".into()));
        let shown = format!("{credentials:?}");
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(!shown.contains("very-secret-key"), "{shown}");
        assert!(!shown.contains("tok-123"), "{shown}");
        assert_eq!(
            credentials.redact("x very-secret-key tok-123"),
            "x (redacted) (redacted)"
        );
    }

    #[test]
    fn explicit_values_win_over_the_environment() {
        let lookup = env(&[
            ("AWS_ACCESS_KEY_ID", "ENVKEY"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_SESSION_TOKEN", "envtoken"),
        ]);
        let explicit = Credentials::resolve(Some("KEY"), Some("secret"), None, &lookup);
        assert_eq!(explicit, Ok(Credentials::new("KEY", "secret", None)));
        let from_env = Credentials::resolve(None, None, None, &lookup);
        assert_eq!(
            from_env,
            Ok(Credentials::new(
                "ENVKEY",
                "envsecret",
                Some("envtoken".into())
            ))
        );
    }

    #[test]
    fn missing_credentials_name_the_variables_and_no_value() {
        let Err(error) = Credentials::resolve(None, None, None, &env(&[])) else {
            panic!("no credentials must fail");
        };
        assert!(error.0.contains("AWS_ACCESS_KEY_ID"), "{error}");
        let Err(error) = Credentials::resolve(Some("KEY"), None, None, &env(&[])) else {
            panic!("a key without a secret must fail");
        };
        assert!(error.0.contains("AWS_SECRET_ACCESS_KEY"), "{error}");
    }

    #[test]
    fn the_region_comes_from_aws_region_then_aws_default_region() {
        assert_eq!(
            region_from_env(&env(&[("AWS_DEFAULT_REGION", "eu-west-1")])),
            Some("eu-west-1".into())
        );
        assert_eq!(
            region_from_env(&env(&[
                ("AWS_REGION", "us-east-2"),
                ("AWS_DEFAULT_REGION", "x")
            ])),
            Some("us-east-2".into())
        );
        assert_eq!(region_from_env(&env(&[])), None);
    }
}
