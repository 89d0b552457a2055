//! Which state backend a command opens, and at which URL: `stack { state =
//! "postgres", state_url = … }` or `stack { state = "s3", state_bucket = …,
//! state_key_prefix = … }`, overridden by `--state-url` or the
//! `INFRA_STATE_URL` environment variable.
//!
//! Invariant: the state URL may hold a password, and the s3 settings a
//! secret key; they are evaluated here and handed to the backend, never put
//! in a diagnostic.

use crate::config::StackSettings;
use crate::diag::{Code, Diagnostic, Span};
use crate::host::Host;
use crate::lang::{FunctionContext, Scope, Value};
use crate::state::S3Settings;
use crate::state::backend::{Kind, STATE_URL_HELP};

/// The environment variable that gives the state URL for one command (what
/// `--state-url` sets); it overrides the stack's `state_url` and picks the
/// backend by its scheme, so a local state can be pushed to a database.
pub const STATE_URL_ENV: &str = "INFRA_STATE_URL";

/// The backend the stack settings `stack` name, with its URL evaluated.
pub fn backend_kind(host: &dyn Host, stack: &StackSettings) -> Result<Kind, Diagnostic> {
    if let Some(url) = host.env_var(STATE_URL_ENV).filter(|url| !url.is_empty()) {
        return Kind::from_url(&url).map_err(|error| error.to_diagnostic());
    }
    if stack.state == "s3" {
        return s3_settings(host, stack).map(Kind::S3);
    }
    let given = stack
        .backend
        .get("state_url")
        .or_else(|| stack.backend.get("url"));
    let url = match given {
        Some(expr) if stack.state == "postgres" => {
            let value = crate::lang::eval(expr, &NoNames, &EnvOnly { host })?;
            match value.as_str() {
                Some(url) => Some(url.to_owned()),
                None => {
                    return Err(Diagnostic::error(
                        Code::StateBackendConfig,
                        expr.span,
                        format!("`state_url` is a {}, not a string", value.type_name()),
                    )
                    .with_help(STATE_URL_HELP));
                }
            }
        }
        _ => None,
    };
    Kind::from_name(&stack.state, url.as_deref()).map_err(|error| error.to_diagnostic())
}

/// The `s3` backend's settings from the stack's attributes, each a string
/// (a literal or `env_var(…)`); the short names (`bucket`, `prefix`,
/// `region`, `endpoint`) are accepted too.
fn s3_settings(host: &dyn Host, stack: &StackSettings) -> Result<S3Settings, Diagnostic> {
    let text = |names: &[&str]| -> Result<Option<String>, Diagnostic> {
        let Some((name, expr)) = names
            .iter()
            .find_map(|name| stack.backend.get(*name).map(|expr| (*name, expr)))
        else {
            return Ok(None);
        };
        let value = crate::lang::eval(expr, &NoNames, &EnvOnly { host })?;
        if value.is_null() {
            return Ok(None);
        }
        match value.as_str() {
            Some(text) => Ok(Some(text.to_owned())),
            None => Err(Diagnostic::error(
                Code::StateBackendConfig,
                expr.span,
                format!("`{name}` is a {}, not a string", value.type_name()),
            )
            .with_help(S3_HELP)),
        }
    };
    let bucket = text(&["state_bucket", "bucket"])?.unwrap_or_default();
    if bucket.is_empty() {
        return Err(Diagnostic::error_at_path(Code::StateBackendConfig, None)
            .with_help(format!("the `s3` state backend needs a bucket; {S3_HELP}")));
    }
    Ok(S3Settings {
        bucket,
        prefix: text(&["state_key_prefix", "prefix"])?
            .unwrap_or_default()
            .trim_matches('/')
            .to_owned(),
        region: text(&["state_region", "region"])?,
        endpoint: text(&["state_endpoint", "endpoint"])?,
        access_key: text(&["state_access_key"])?,
        secret_key: text(&["state_secret_key"])?,
        session_token: text(&["state_session_token"])?,
    })
}

/// How the `s3` backend is configured, for its errors.
const S3_HELP: &str = "write `stack { state = \"s3\", state_bucket = \"BUCKET\", \
     state_key_prefix = \"infra\" }` (optional: state_region, state_endpoint, \
     state_access_key, state_secret_key, state_session_token; each a string or \
     `env_var(\"NAME\")`), or give --state-url s3://BUCKET/PREFIX";

/// The names `state_url` may use: none (literals and `env_var(…)` only).
struct NoNames;

impl Scope for NoNames {
    fn root(&self, name: &str, span: Span) -> Result<Value, Diagnostic> {
        Err(Diagnostic::error(
            Code::StateBackendConfig,
            span,
            format!("`{name}` is not available in `state_url`"),
        )
        .with_help(
            "the state is opened before anything else is evaluated: write the URL as a string \
             or `env_var(\"INFRA_STATE_PG\")`",
        ))
    }
}

/// Functions with the environment and nothing else.
struct EnvOnly<'h> {
    host: &'h dyn Host,
}

impl FunctionContext for EnvOnly<'_> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.host.env_var(name)
    }

    fn read_file(&self, _path: &str) -> Result<String, String> {
        Err(String::from("files are not read for `state_url`"))
    }

    fn render_template(
        &self,
        _path: &str,
        _text: &str,
        _vars: &Value,
        span: Span,
    ) -> Result<Value, Diagnostic> {
        Err(Diagnostic::error(
            Code::StateBackendConfig,
            span,
            "templates are not available in `state_url`",
        )
        .with_help(STATE_URL_HELP))
    }
}
