//! `infra drift [-C DIR] [--env E] [--format human|json|markdown]
//! [--parallelism N] [--lock-timeout D]`: read every object of the
//! environment's state through its provider and report what changed outside
//! infra. `infra refresh [--env E] [--auto-approve] [--parallelism N]
//! [--lock-timeout D]`: accept that drift into the state as a new version.
//!
//! Exit (`drift`): 0 in sync (or no state yet), 2 drift found, 1 error.
//! Exit (`refresh`): 0 accepted or nothing to accept, 1 error or declined.
//!
//! Waiting: `drift` takes no lock; while a live command holds it, `drift`
//! waits (default 60s) so it never compares against a state an apply is
//! about to replace. `refresh` takes the lock (default: fail at once, as
//! `apply`).

use super::args::{EnvArgs, parse_duration};
use super::{Ctx, Exit};
use crate::diag::Diagnostic;
use crate::pipeline::{self, DriftReport, DriftRequest, DriftUi, RefreshOutcome};
use crate::render;
use crate::state::LockInfo;
use std::time::Duration;

/// Report what changed outside infra.
#[derive(Debug, clap::Args)]
pub(super) struct DriftCommand {
    #[command(flatten)]
    env: EnvArgs,

    /// `human`, `json` (documented in docs/json-drift.md) or `markdown` (an
    /// issue body).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// How many objects are read at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    parallelism: u32,

    /// How long to wait while another command holds the state lock (it is
    /// about to write a new version): `30s`, `2m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    lock_timeout: Duration,
}

/// Accept what changed outside infra into the state.
#[derive(Debug, clap::Args)]
pub(super) struct RefreshCommand {
    #[command(flatten)]
    env: EnvArgs,

    /// Skip the confirmation (required without a TTY, e.g. in CI).
    #[arg(long)]
    auto_approve: bool,

    /// How many objects are read at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    parallelism: u32,

    /// Wait this long for another command's lock (`30s`, `2m`; default: fail at once).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    lock_timeout: Duration,

    /// After SIGINT, SIGTERM or SIGHUP, how long the reads in flight may take
    /// to finish before the command exits without waiting for them.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    grace: Duration,
}

/// The output format of `drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// For a terminal.
    Human,
    /// One JSON document.
    Json,
    /// An issue body.
    Markdown,
}

/// Notes and waiting go to stderr; `refresh` asks on the terminal.
struct Terminal<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    approved: bool,
}

impl DriftUi for Terminal<'_, '_> {
    fn note(&mut self, text: &str) {
        self.ctx.err(&format!("note: {text}\n"));
    }

    fn waiting_for_lock(&mut self, holder: Option<&LockInfo>) {
        let now = self.ctx.host.now_unix_seconds();
        let who = holder.map_or_else(|| String::from("held"), |holder| holder.describe(now));
        self.ctx.err(&format!(
            "waiting for the state lock to be released: {who}\n"
        ));
    }

    fn confirm(&mut self, report: &DriftReport) -> Result<bool, Diagnostic> {
        self.ctx.out_diff(&accepting(report));
        if self.approved {
            return Ok(true);
        }
        super::confirm::confirm(
            self.ctx,
            "Accept these changes into the state?",
            "--auto-approve",
        )
    }
}

/// What `refresh` shows before it writes: the report, without the advice.
fn accepting(report: &DriftReport) -> String {
    let text = render::drift::human(report);
    let text = match text.find("\nTo put them back") {
        Some(at) => &text[..at],
        None => &text,
    };
    format!("{}\n", text.trim_end())
}

impl DriftCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = ctx.dir();
        let request = DriftRequest {
            var_files: self.env.var_files(ctx),
            environment: self.env.environment,
            vars: self.env.vars,
            parallelism: self.parallelism as usize,
            lock_timeout: self.lock_timeout,
        };
        let host = ctx.shared_host.clone();
        let mut ui = Terminal {
            ctx,
            approved: false,
        };
        let (report, sources, diagnostics) = pipeline::drift(host, &dir, &request, &mut ui);
        let ctx = ui.ctx;
        ctx.report(&diagnostics, &sources);
        let report = match report {
            Some(report) if !diagnostics.has_errors() => report,
            _ => return Exit::Failure,
        };
        let text = match self.format {
            Format::Human => render::drift::human(&report),
            Format::Json => render::drift::json(&report),
            Format::Markdown => render::drift::markdown(&report),
        };
        if self.format == Format::Human {
            ctx.out_diff(&text);
        } else {
            ctx.out(&text);
        }
        if !text.ends_with('\n') {
            ctx.out("\n");
        }
        if report.in_sync() {
            Exit::Success
        } else {
            Exit::Changes
        }
    }
}

impl RefreshCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = ctx.dir();
        super::interrupt::install(self.grace);
        let exit = self.refresh(ctx, dir);
        super::apply::stopped_or(exit)
    }

    fn refresh(self, ctx: &mut Ctx<'_>, dir: std::path::PathBuf) -> Exit {
        let request = DriftRequest {
            var_files: self.env.var_files(ctx),
            environment: self.env.environment,
            vars: self.env.vars,
            parallelism: self.parallelism as usize,
            lock_timeout: self.lock_timeout,
        };
        let host = ctx.shared_host.clone();
        let mut ui = Terminal {
            ctx,
            approved: self.auto_approve,
        };
        let (outcome, sources, diagnostics) =
            pipeline::refresh_state(host, &dir, &request, &mut ui);
        let ctx = ui.ctx;
        ctx.report(&diagnostics, &sources);
        let failed = diagnostics.has_errors();
        match outcome {
            None => Exit::Failure,
            Some(RefreshOutcome::NoDrift(report)) => {
                if report.prior.is_none() {
                    ctx.out_diff(&render::drift::human(&report));
                } else {
                    ctx.out("No drift; state not written.\n");
                }
                if failed { Exit::Failure } else { Exit::Success }
            }
            Some(RefreshOutcome::Declined(_)) => {
                ctx.err("refresh cancelled: the state was not changed.\n");
                Exit::Failure
            }
            Some(RefreshOutcome::Accepted {
                report,
                serial,
                pruned,
            }) => {
                ctx.out(&format!(
                    "Refresh complete! Accepted {} changed and {} deleted outside infra into \
                     the state.\n",
                    report.changed(),
                    report.deleted()
                ));
                ctx.err(&format!("State saved as version {serial}.\n"));
                if let Some(pruned) = pruned {
                    ctx.err(&format!("{}\n", pruned.describe()));
                }
                if failed { Exit::Failure } else { Exit::Success }
            }
        }
    }
}
