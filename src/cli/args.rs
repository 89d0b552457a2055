//! Arguments shared by the commands that evaluate a stack: `--env` and `--var`.

/// `--env NAME` and `--var NAME=VALUE`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(super) struct EnvArgs {
    /// The environment to use (default: the stack's `default_environment`).
    #[arg(long = "env", value_name = "NAME")]
    pub environment: Option<String>,

    /// Set a variable, overriding the environment's `vars` and the default.
    /// Values of non-string variables are read as JSON: `--var 'ports=[80,443]'`.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

/// Parses `NAME=VALUE` for `--var`.
pub(super) fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(String::from(
            "write it as NAME=VALUE, e.g. --var replicas=3",
        )),
    }
}
