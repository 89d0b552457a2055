//! `infra plan [-C DIR] [--env E] [--var k=v] [--out FILE] [--format
//! human|json|markdown] [--detailed-exitcode] [--target ADDR]...
//! [--refresh=false] [--allow-destroy] [--policy DIR] [--policy-warn-only]
//! [--policy-timeout D]`: refresh, diff and print the plan on stdout.
//!
//! Exit: 1 on error; with `--detailed-exitcode`, 0 when nothing changes (reads
//! of data sources are not changes) and 2 when something does; otherwise 0. A
//! protected environment's plan that apply would refuse is still a plan: it
//! is shown whole, ends with the refusal, and exits by these rules. A policy
//! denial (without `--policy-warn-only`) exits 1 after the whole plan.

use super::args::{EnvArgs, PolicyArgs};
use super::{Ctx, Exit};
use crate::addr::Target;
use crate::pipeline::{self, PlanRequest};
use crate::render;
use std::path::PathBuf;

/// Refresh, diff and print the plan.
#[derive(Debug, clap::Args)]
pub(super) struct PlanCommand {
    #[command(flatten)]
    env: EnvArgs,

    /// Also save the plan to FILE (for `infra apply FILE`); secrets are sealed.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// `human`, `json` (documented, with `format_version`) or `markdown`
    /// (a pull-request comment).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// Exit 2 when the plan changes something, 0 when it does not (data reads alone are no change).
    #[arg(long)]
    detailed_exitcode: bool,

    /// Plan only this resource, instance or module and what it depends on (repeatable).
    #[arg(long = "target", value_name = "ADDR", value_parser = parse_target)]
    targets: Vec<Target>,

    /// Replace this instance (or every instance of this resource or module)
    /// even when nothing forces it, e.g. to recover a broken object (repeatable).
    #[arg(long = "replace", value_name = "ADDR", value_parser = parse_target)]
    replace: Vec<Target>,

    /// Read every object from its provider before diffing (`--refresh=false` to skip).
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    refresh: bool,

    /// Allow deletes and replacements in a protected environment.
    #[arg(long)]
    allow_destroy: bool,

    #[command(flatten)]
    policy: PolicyArgs,

    /// How many provider calls (refresh reads, plan checks) run at once, as in `apply`.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    parallelism: u32,
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// For a terminal: one line per action, attribute diffs, the summary line.
    Human,
    /// One JSON document.
    Json,
    /// A pull-request comment.
    Markdown,
}

/// Where `--out` put the plan, and the command that applies exactly it.
fn saved_note(chdir: Option<&std::path::Path>, out: &std::path::Path) -> String {
    let mut command = String::from("infra apply");
    if let Some(dir) = chdir {
        command.push_str(" -C ");
        command.push_str(&shell_word(&dir.display().to_string()));
    }
    command.push(' ');
    command.push_str(&shell_word(&out.display().to_string()));
    format!(
        "\nSaved the plan to: {}\n\nTo apply exactly this plan, run:\n    {command}\n",
        out.display()
    )
}

/// `text` as one word for a POSIX shell: as it is when that is safe, else
/// single-quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '+' | '=')
        });
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Parses `--target ADDR`.
fn parse_target(text: &str) -> Result<Target, String> {
    text.parse::<Target>().map_err(|error| error.to_string())
}

impl PlanCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = ctx.dir();
        let saved_as = self.out.clone();
        let request = PlanRequest {
            var_files: self.env.var_files(ctx),
            environment: self.env.environment,
            vars: self.env.vars,
            targets: self.targets,
            replace: self.replace,
            refresh: self.refresh,
            out: self.out.map(|out| ctx.resolve(&out)),
            allow_destroy: self.allow_destroy,
            parallelism: self.parallelism as usize,
            policy: self.policy.options(),
        };
        let (plan, sources, diagnostics) = pipeline::plan(ctx.shared_host.clone(), &dir, request);
        ctx.report(&diagnostics, &sources);
        let plan = match plan {
            Some(plan) if !diagnostics.has_errors() => plan,
            _ => return Exit::Failure,
        };
        let text = match self.format {
            Format::Human => render::plan::human(&plan),
            Format::Json => render::plan::json(&plan),
            Format::Markdown => render::plan::markdown(&plan),
        };
        if self.format == Format::Human {
            ctx.out_diff(&text);
        } else {
            ctx.out(&text);
        }
        if !text.ends_with('\n') {
            ctx.out("\n");
        }
        if let Some(out) = saved_as {
            let note = saved_note(ctx.chdir.as_deref(), &out);
            // JSON and markdown stay one document on stdout.
            match self.format {
                Format::Human => ctx.out(&note),
                Format::Json | Format::Markdown => ctx.err(&note),
            }
        }
        // A denial fails the plan, after the whole plan was printed.
        if plan
            .policy
            .as_ref()
            .is_some_and(crate::plan::PolicyResults::blocks)
        {
            return Exit::Failure;
        }
        if self.detailed_exitcode && plan.has_changes() {
            Exit::Changes
        } else {
            Exit::Success
        }
    }
}
