//! Which state backend a command opens, and at which URL: `stack { state =
//! "postgres", state_url = … }`, overridden by `--state-url` or the
//! `INFRA_STATE_URL` environment variable.
//!
//! Invariant: the state URL may hold a password; it is evaluated here and
//! handed to the backend, never put in a diagnostic.

use super::Checked;
use crate::diag::{Code, Diagnostic, Span};
use crate::host::Host;
use crate::lang::{FunctionContext, Scope, Value};
use crate::state::backend::{Kind, STATE_URL_HELP};

/// The environment variable that gives the state URL for one command (what
/// `--state-url` sets); it overrides the stack's `state_url` and picks the
/// backend by its scheme, so a local state can be pushed to a database.
pub const STATE_URL_ENV: &str = "INFRA_STATE_URL";

/// The backend `checked`'s stack names, with its URL evaluated.
pub fn backend_kind(host: &dyn Host, checked: &Checked) -> Result<Kind, Diagnostic> {
    if let Some(url) = host.env_var(STATE_URL_ENV).filter(|url| !url.is_empty()) {
        return Kind::from_url(&url).map_err(|error| error.to_diagnostic());
    }
    let stack = &checked.config.stack;
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
