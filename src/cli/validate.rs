//! `infra validate [-C DIR] [--env E] [--var k=v] [--format human|json]`: load
//! the stack, run every check, evaluate it for the environment (or for every
//! environment), report. Exit 1 when there is any error.

use super::args::{EnvArgs, PolicyArgs};
use super::{Ctx, Exit};
use crate::diag::render_json;
use crate::pipeline::{self, ValidateRequest};

/// Parse and check the stack; report problems with file:line:col.
#[derive(Debug, clap::Args)]
pub(super) struct Validate {
    #[command(flatten)]
    env: EnvArgs,

    #[command(flatten)]
    policy: PolicyArgs,

    /// How to report: `human` (stderr) or `json` (stdout, also when clean).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Reports with a source excerpt and a caret, on stderr.
    Human,
    /// One JSON document on stdout.
    Json,
}

impl Validate {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = ctx.dir();
        let request = ValidateRequest {
            var_files: self.env.var_files(ctx),
            environment: self.env.environment,
            vars: self.env.vars,
            policy: self.policy.options(),
        };
        let validated = pipeline::validate(ctx.host, &dir, &request);
        let diagnostics = &validated.diagnostics;
        match self.format {
            Format::Json => {
                let json = render_json(diagnostics, &validated.sources);
                ctx.out(&format!("{json}\n"));
            }
            Format::Human => {
                ctx.report(diagnostics, &validated.sources);
                if !diagnostics.has_errors() {
                    let checked = match validated.environments.as_slice() {
                        [] => String::new(),
                        [only] if only == "default" => String::new(),
                        names => format!(" (environments: {})", names.join(", ")),
                    };
                    ctx.out(&format!("Success! The configuration is valid{checked}.\n"));
                }
            }
        }
        let exit = if diagnostics.has_errors() {
            Exit::Failure
        } else {
            Exit::Success
        };
        // The process exits right after this command returns: freeing the
        // source map and diagnostics of a large stack (one allocation per
        // file and message) would only delay the exit. CLI only; library code
        // always drops what it builds.
        std::mem::forget(validated);
        exit
    }
}
