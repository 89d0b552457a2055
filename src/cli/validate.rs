//! `infra validate [-C DIR] [--format human|json]`: load the stack, run the
//! checks, report. Exit 1 when there is any error.

use super::{Ctx, Exit};
use crate::check;
use crate::diag::render_json;

/// Parse and check the stack; report problems with file:line:col.
#[derive(Debug, clap::Args)]
pub(super) struct Validate {
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
        let (stack, mut diagnostics) = check::load(ctx.host, &dir);
        diagnostics.extend(check::check(&stack));
        diagnostics.sort();
        match self.format {
            Format::Json => {
                let json = render_json(&diagnostics, &stack.sources);
                ctx.out(&format!("{json}\n"));
            }
            Format::Human => {
                ctx.report(&diagnostics, &stack.sources);
                if !diagnostics.has_errors() {
                    ctx.out("Success! The configuration is valid.\n");
                }
            }
        }
        if diagnostics.has_errors() {
            Exit::Failure
        } else {
            Exit::Success
        }
    }
}
