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

    /// Read variable values from a file of `name = value` lines (repeatable;
    /// later files win). Precedence, lowest first: `default`, the
    /// environment's `vars`, `*.auto.vars`, `environments/ENV.vars`,
    /// `--var-file`, `INFRA_VAR_<name>`, `--var`.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<std::path::PathBuf>,
}

impl EnvArgs {
    /// The `--var-file` paths, relative ones taken from `-C DIR` like every
    /// path on the command line.
    pub fn var_files(&self, ctx: &super::Ctx<'_>) -> Vec<std::path::PathBuf> {
        self.var_files
            .iter()
            .map(|path| ctx.resolve(path))
            .collect()
    }
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

/// `--env NAME` alone, for the commands that read or change recorded state.
#[derive(Debug, Clone, Default, clap::Args)]
pub(super) struct EnvSelect {
    /// The environment (default: the stack's `default_environment`).
    #[arg(long = "env", value_name = "NAME")]
    pub environment: Option<String>,
}

/// `--lock-timeout DURATION`, for the commands that write state.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(super) struct LockArgs {
    /// How long to wait for another command's state lock: `500ms`, `30s`,
    /// `2m` (default 0: fail at once, naming the holder).
    #[arg(long = "lock-timeout", value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    pub lock_timeout: std::time::Duration,
}

/// Parses a duration: a whole number followed by `ms`, `s`, `m` or `h`
/// (`500ms`, `30s`, `2m`); a bare `0` is zero.
pub(super) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let problem = || {
        format!("`{text}` is not a duration; write a number and a unit: 500ms, 30s, 2m, 1h, 1h 30m")
    };
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    // jiff's friendly format: `500ms`, `30s`, `2m`, `1h`, `1h 30m`, `90 seconds`.
    let duration: jiff::SignedDuration = text.parse().map_err(|_| problem())?;
    std::time::Duration::try_from(duration).map_err(|_| problem())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        // jiff's friendly format reads the forms people write.
        assert_eq!(parse_duration("3.5s"), Ok(Duration::from_millis(3500)));
        assert_eq!(parse_duration("10 s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90 seconds"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn bad_durations_are_refused_with_the_expected_form() {
        for bad in ["", "30", "s", "-1s", "5 parsecs", "99999999999999999999h"] {
            let error = parse_duration(bad).err();
            assert!(
                error.as_deref().is_some_and(|e| e.contains("500ms, 30s")),
                "{bad}: {error:?}"
            );
        }
    }
}

/// `--policy DIR`, `--policy-warn-only` and `--policy-timeout`, for the
/// commands that check policies (`plan`, `apply`, `destroy`, `rollback`,
/// `validate`).
#[derive(Debug, Clone, Default, clap::Args)]
pub(super) struct PolicyArgs {
    /// Also check the Rego policies in DIR (relative to the stack, or
    /// `std/policy/NAME`), besides `stack { policies }` (repeatable).
    #[arg(long = "policy", value_name = "DIR")]
    pub dirs: Vec<String>,

    /// Report policy denials without blocking (to roll a new policy out).
    #[arg(long = "policy-warn-only")]
    pub warn_only: bool,

    /// The bound on policy evaluation: `500ms`, `10s`, `1m`.
    #[arg(long = "policy-timeout", value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub timeout: std::time::Duration,
}

impl PolicyArgs {
    /// The library's policy options.
    pub fn options(&self) -> crate::policy::Options {
        crate::policy::Options {
            dirs: self
                .dirs
                .iter()
                .map(|path| crate::policy::PolicyDir {
                    path: path.clone(),
                    span: None,
                })
                .collect(),
            warn_only: self.warn_only,
            timeout: self.timeout,
        }
    }
}
