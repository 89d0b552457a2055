//! `infra envdiff A B [-C DIR] [--var k=v] [--all] [--format human|json]`: how
//! two environments' resolved configurations differ. Exit 0 when they are the
//! same, 2 when they differ, 1 on error.

use super::{Ctx, Exit};
use crate::pipeline::{self, envdiff};
use crate::render;

/// Compare two environments' resolved configurations.
#[derive(Debug, clap::Args)]
pub(super) struct EnvDiffCommand {
    /// The first environment.
    a: String,
    /// The second environment.
    b: String,

    /// Set a variable in both environments.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = super::args::parse_var)]
    vars: Vec<(String, String)>,

    /// Also list the values that are the same.
    #[arg(long)]
    all: bool,

    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A side-by-side table.
    Human,
    /// A JSON document.
    Json,
}

impl EnvDiffCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = ctx.dir();
        let checked = pipeline::check(ctx.host, &dir);
        if checked.diagnostics.has_errors() {
            ctx.report(&checked.diagnostics, &checked.sources);
            return Exit::Failure;
        }
        let (diff, diagnostics) =
            envdiff::envdiff(ctx.host, &checked, &self.a, &self.b, &self.vars);
        ctx.report(&diagnostics, &checked.sources);
        let Some(diff) = diff else {
            return Exit::Failure;
        };
        let text = match self.format {
            Format::Human => render::envdiff::human(&diff, self.all),
            Format::Json => format!("{}\n", render::envdiff::json(&diff)),
        };
        ctx.out(&text);
        if diff.differs() {
            Exit::Changes
        } else {
            Exit::Success
        }
    }
}
