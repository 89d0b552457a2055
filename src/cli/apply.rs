//! `infra apply [PLANFILE]`, `infra destroy` and `infra rollback`: plan (or
//! load the saved plan), show it, ask, apply with progress, summarise.
//!
//! Confirmation: on a TTY the user types `yes`; without a TTY the command
//! needs `--auto-approve` (or a saved plan, which was reviewed when made).
//! Progress: on a TTY one overall bar and the longest-running actions, as
//! many as fit the terminal (see `progress`), finished ones scrolling above;
//! off a TTY, one plain line per start and per end. Colour
//! only on a TTY and never with `NO_COLOR`.
//!
//! Exit: 0 when everything applied (or nothing to do), 1 on any error or a
//! failed action, or when a protected environment refuses the plan's deletes
//! and replaces (the plan is printed, then one error lists them); 130, 143
//! or 129 when SIGINT, SIGTERM or SIGHUP stopped it (see `interrupt`).

use super::args::{EnvArgs, PolicyArgs, parse_duration};
use super::progress::Live;
use super::{Ctx, Exit, interrupt};
use crate::addr::Target;
use crate::apply::{ActionKind, Event, Options, Outcome as ActionOutcome, Report, RetryPolicy};
use crate::diag::{Code, Diagnostic, SourceMap};
use crate::pipeline::{self, ApplyRequest, ApplyUi, Mode, Outcome, PlanRequest};
use crate::plan::Plan;
use crate::render;
use crate::state::LockInfo;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options every applying command shares.
#[derive(Debug, clap::Args)]
pub(super) struct RunArgs {
    #[command(flatten)]
    env: EnvArgs,

    /// Skip the confirmation (required without a TTY, e.g. in CI).
    #[arg(long)]
    auto_approve: bool,

    /// How many actions run at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    parallelism: u32,

    /// Allow deletes and replacements in a protected environment.
    #[arg(long)]
    allow_destroy: bool,

    /// Wait this long for another command's lock (`30s`, `2m`; default: fail at once).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    lock_timeout: Duration,

    /// How many times a call that failed transiently (timeout, 429, 5xx) is tried in all.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    retries: u32,

    /// The first wait before a retry; it doubles each time (with jitter), up to 30s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "200ms")]
    retry_backoff: Duration,

    #[command(flatten)]
    policy: PolicyArgs,

    /// After SIGINT, SIGTERM or SIGHUP, how long the calls in flight may take
    /// to finish before the command exits without waiting for them.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    grace: Duration,
}

impl RunArgs {
    fn options(&self) -> Options {
        Options {
            parallelism: self.parallelism as usize,
            retry: RetryPolicy {
                attempts: self.retries,
                base: self.retry_backoff,
                max: Duration::from_secs(30).max(self.retry_backoff),
            },
        }
    }

    fn plan_request(&self, targets: Vec<Target>, refresh: bool) -> PlanRequest {
        PlanRequest {
            environment: self.env.environment.clone(),
            vars: self.env.vars.clone(),
            var_files: self.env.var_files.clone(),
            targets,
            replace: Vec::new(),
            refresh,
            out: None,
            allow_destroy: self.allow_destroy,
            parallelism: self.parallelism as usize,
            policy: self.policy.options(),
        }
    }
}

/// Make the configuration real.
#[derive(Debug, clap::Args)]
pub(super) struct ApplyCommand {
    /// A plan saved with `infra plan --out FILE`: applied exactly, or refused as stale.
    #[arg(value_name = "PLANFILE")]
    plan_file: Option<PathBuf>,

    #[command(flatten)]
    run: RunArgs,

    /// Apply only this resource, instance or module and what it depends on (repeatable).
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
}

/// Delete everything the environment's state holds.
#[derive(Debug, clap::Args)]
pub(super) struct DestroyCommand {
    #[command(flatten)]
    run: RunArgs,
}

/// Go back to an earlier state version, from the configurations it recorded.
#[derive(Debug, clap::Args)]
pub(super) struct RollbackCommand {
    /// The version to go back to (`infra state history` lists them); default:
    /// the version before the last apply.
    #[arg(long = "to", value_name = "SERIAL")]
    to: Option<u64>,

    #[command(flatten)]
    run: RunArgs,
}

/// Parses `--target ADDR`.
fn parse_target(text: &str) -> Result<Target, String> {
    text.parse::<Target>().map_err(|error| error.to_string())
}

impl ApplyCommand {
    pub(super) fn run(mut self, ctx: &mut Ctx<'_>) -> Exit {
        // Paths on the command line are taken from -C DIR.
        self.run.env.var_files = self.run.env.var_files(ctx);
        let plan_file = self.plan_file.as_ref().map(|path| ctx.resolve(path));
        // A saved plan was reviewed when it was made.
        let approved = self.run.auto_approve || plan_file.is_some();
        let request = ApplyRequest {
            plan: PlanRequest {
                replace: self.replace.clone(),
                ..self.run.plan_request(self.targets.clone(), self.refresh)
            },
            mode: Mode::Apply { plan_file },
            options: self.run.options(),
            lock_timeout: self.run.lock_timeout,
        };
        execute(ctx, request, approved, self.run.grace)
    }
}

impl DestroyCommand {
    pub(super) fn run(mut self, ctx: &mut Ctx<'_>) -> Exit {
        // Paths on the command line are taken from -C DIR.
        self.run.env.var_files = self.run.env.var_files(ctx);
        let request = ApplyRequest {
            plan: self.run.plan_request(Vec::new(), true),
            mode: Mode::Destroy,
            options: self.run.options(),
            lock_timeout: self.run.lock_timeout,
        };
        execute(ctx, request, self.run.auto_approve, self.run.grace)
    }
}

impl RollbackCommand {
    pub(super) fn run(mut self, ctx: &mut Ctx<'_>) -> Exit {
        // Paths on the command line are taken from -C DIR.
        self.run.env.var_files = self.run.env.var_files(ctx);
        let request = ApplyRequest {
            plan: self.run.plan_request(Vec::new(), true),
            mode: Mode::Rollback { to: self.to },
            options: self.run.options(),
            lock_timeout: self.run.lock_timeout,
        };
        execute(ctx, request, self.run.auto_approve, self.run.grace)
    }
}

/// Runs the pipeline with a terminal UI and prints the outcome; a signal
/// stops it gracefully within `grace` (see [`interrupt`]).
fn execute(ctx: &mut Ctx<'_>, request: ApplyRequest, approved: bool, grace: Duration) -> Exit {
    let dir = ctx.dir();
    let command = match request.mode {
        Mode::Apply { .. } => "apply",
        Mode::Destroy => "destroy",
        Mode::Rollback { .. } => "rollback",
    };
    interrupt::install(grace);
    let host = ctx.shared_host.clone();
    let tty = ctx.interactive;
    let mut ui = Terminal {
        ctx,
        approved,
        tty,
        progress: None,
        running: Default::default(),
        phase_lines: Default::default(),
        interrupts_seen: 0,
        retries: 0,
    };
    let (outcome, sources, diagnostics) = pipeline::apply(host, &dir, request, &mut ui);
    ui.finish_progress();
    let retries = ui.retries;
    let ctx = ui.ctx;
    // A refused plan is shown whole before the refusal, so the reader sees
    // what would have changed.
    if let Some(Outcome::Refused(plan)) = &outcome {
        ctx.out_diff(&render::plan::human(plan));
    }
    ctx.report(&diagnostics, &sources);
    let exit = match outcome {
        None | Some(Outcome::Refused(_)) => Exit::Failure,
        Some(Outcome::Declined) => {
            ctx.err(&format!("{command} cancelled: nothing was changed.\n"));
            Exit::Failure
        }
        Some(Outcome::NoChanges(_)) => {
            ctx.out("No changes. Your infrastructure matches the configuration.\n");
            if diagnostics.has_errors() {
                Exit::Failure
            } else {
                Exit::Success
            }
        }
        Some(Outcome::Applied {
            report,
            done,
            any_instance,
            serial,
            pruned,
            outputs,
        }) => {
            let failed = report.failed() || diagnostics.has_errors();
            ctx.out(&applied_summary(command, &report, &done, &any_instance));
            if retries > 0 {
                ctx.out(&format!(
                    "{retries} {} after transient provider errors (timeouts, 429, 5xx).\n",
                    if retries == 1 { "retry" } else { "retries" }
                ));
            }
            ctx.out(&outputs_text(&outputs));
            if let Some(serial) = serial {
                ctx.err(&format!("State saved as version {serial}.\n"));
            }
            if let Some(pruned) = pruned {
                ctx.err(&format!("{}\n", pruned.describe()));
            }
            if failed { Exit::Failure } else { Exit::Success }
        }
    };
    stopped_or(exit)
}

/// The exit code of a command that a signal stopped (it saved what
/// finished), or `exit` when no signal came.
pub(super) fn stopped_or(exit: Exit) -> Exit {
    match interrupt::first() {
        Some(signal) => Exit::Stopped(signal.exit_code()),
        None => exit,
    }
}

/// The outputs after an apply, as `infra output` shows them: a sensitive
/// one as `(sensitive)`, secret parts of others as `(secret)`. Empty when
/// there are none.
fn outputs_text(outputs: &[(String, crate::lang::Value, bool)]) -> String {
    if outputs.is_empty() {
        return String::new();
    }
    let width = outputs
        .iter()
        .map(|(name, ..)| name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from("\nOutputs:\n\n");
    for (name, value, sensitive) in outputs {
        let shown = if *sensitive {
            String::from("(sensitive)")
        } else {
            value.to_string()
        };
        text.push_str(&format!("{name:<width$} = {shown}\n"));
    }
    text
}

/// The closing lines: Terraform's `Apply complete!` line when all went
/// well, counted as the plan counted (`done`: what succeeded); otherwise
/// what succeeded, failed and was skipped, by address, and what each skipped
/// one waits on (`any_instance`: those whose block uses any instance of it).
fn applied_summary(
    command: &str,
    report: &Report,
    done: &crate::plan::Summary,
    any_instance: &std::collections::BTreeSet<crate::addr::InstanceAddr>,
) -> String {
    if !report.failed() {
        let verb = match command {
            "destroy" => "Destroy",
            "rollback" => "Rollback",
            _ => "Apply",
        };
        let import = if done.import > 0 {
            format!("{} imported, ", done.import)
        } else {
            String::new()
        };
        return format!(
            "{verb} complete! Resources: {import}{} added, {} changed, {} destroyed.\n",
            done.add, done.change, done.destroy
        );
    }
    let mut succeeded = Vec::new();
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    for result in &report.results {
        match &result.outcome {
            ActionOutcome::Succeeded => {
                succeeded.push(format!("{} ({})", result.addr, result.action.as_str()))
            }
            ActionOutcome::Failed(_) => {
                failed.push(format!("{} ({})", result.addr, result.action.as_str()))
            }
            ActionOutcome::Skipped { because } if any_instance.contains(&result.addr) => {
                skipped.push(format!(
                    "{} (waits on {because}: it uses any instance of {})",
                    result.addr, because.resource
                ));
            }
            ActionOutcome::Skipped { because } => {
                skipped.push(format!("{} (waits on {because})", result.addr));
            }
            ActionOutcome::NotStarted => skipped.push(format!("{} (not started)", result.addr)),
        }
    }
    let mut text = format!(
        "{command} {}: {} succeeded, {} failed, {} skipped.\n",
        if report.cancelled {
            "interrupted"
        } else {
            "incomplete"
        },
        succeeded.len(),
        failed.len(),
        skipped.len()
    );
    for (title, list) in [
        ("succeeded", &succeeded),
        ("failed", &failed),
        ("skipped", &skipped),
    ] {
        if list.is_empty() {
            continue;
        }
        text.push_str(&format!("  {title}:\n"));
        for line in list.iter().take(50) {
            text.push_str(&format!("    {line}\n"));
        }
        if list.len() > 50 {
            text.push_str(&format!("    … and {} more\n", list.len() - 50));
        }
    }
    text.push_str(
        "Every success is saved in state; fix the errors above and run the command again.\n",
    );
    text
}

/// Off a terminal, the most often one action's phase is printed.
const PHASE_LINE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The terminal side of an apply.
struct Terminal<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    approved: bool,
    tty: bool,
    progress: Option<Live>,
    running: std::collections::BTreeMap<String, Instant>,
    /// Off a terminal: when each running action's last phase line was
    /// printed, and the latest phase not printed since (rate limit).
    phase_lines: std::collections::BTreeMap<String, (Instant, Option<String>)>,
    interrupts_seen: usize,
    /// Provider calls tried again after a transient error.
    retries: usize,
}

impl Terminal<'_, '_> {
    fn finish_progress(&mut self) {
        if let Some(live) = self.progress.take() {
            live.finish();
        }
    }

    fn line(&mut self, text: &str) {
        match &self.progress {
            Some(live) => live.println(text),
            None => {
                self.ctx.out(text);
                self.ctx.out("\n");
            }
        }
    }

    fn start_live(&mut self, total: usize) {
        if !self.tty || self.progress.is_some() {
            return;
        }
        self.progress = Some(Live::start(total, self.ctx.render.colour));
    }
}

impl ApplyUi for Terminal<'_, '_> {
    fn note(&mut self, text: &str) {
        self.ctx.err(&format!("note: {text}\n"));
    }

    fn waiting_for_lock(&mut self, holder: Option<&LockInfo>) {
        if let Some(holder) = holder {
            self.ctx.err(&format!(
                "waiting for the state lock: {}\n",
                holder.describe(self.ctx.host.now_unix_seconds())
            ));
        }
    }

    fn confirm(&mut self, plan: &Plan, _sources: &SourceMap) -> Result<bool, Diagnostic> {
        self.ctx.out_diff(&render::plan::human(plan));
        if self.approved {
            self.start_live(plan.changes.len());
            return Ok(true);
        }
        if !self.ctx.interactive {
            return Err(
                Diagnostic::error_at_path(Code::CliConfirmationRequired, None).with_help(
                    "there is no terminal to ask on; review the plan and pass --auto-approve, or \
                     apply a plan saved with `infra plan --out FILE`",
                ),
            );
        }
        let yes = super::confirm::confirm(
            self.ctx,
            "Do you want to perform these actions?",
            "--auto-approve",
        )?;
        if yes {
            self.start_live(plan.changes.len());
        }
        Ok(yes)
    }

    fn event(&mut self, event: &Event) {
        match event {
            Event::Started { addr, action } => {
                let name = addr.to_string();
                self.running.insert(name.clone(), Instant::now());
                if let Some(live) = &mut self.progress {
                    live.started(name, *action);
                } else {
                    self.line(&format!("{name}: {}…", action.as_str()));
                }
            }
            Event::Retrying {
                addr,
                attempt,
                wait,
                message,
            } => {
                self.retries += 1;
                self.line(&format!(
                    "{addr}: attempt {attempt} failed ({message}); retrying in {:.1}s",
                    wait.as_secs_f64()
                ));
            }
            Event::Finished {
                addr,
                action,
                duration,
                outcome,
            } => {
                let name = addr.to_string();
                self.running.remove(&name);
                if let Some(live) = &mut self.progress {
                    live.finished(&name, matches!(outcome, ActionOutcome::Failed(_)));
                }
                if let Some((_, Some(held))) = self.phase_lines.remove(&name) {
                    self.line(&format!("{name}: {held}"));
                }
                let seconds = duration.as_secs_f64();
                let text = match outcome {
                    ActionOutcome::Failed(_) => {
                        format!("{name}: {} failed ({seconds:.1}s)", action.as_str())
                    }
                    _ => format!("{name}: {} ({seconds:.1}s)", past(*action)),
                };
                self.line(&text);
            }
            Event::Phase { addr, phase } => {
                let name = addr.to_string();
                if let Some(live) = &mut self.progress {
                    live.phase(&name, phase);
                    return;
                }
                // Off a terminal: a line per phase change, at most one a
                // second per action; a phase held back is printed when the
                // next line is due or the action ends.
                let now = Instant::now();
                let due = self
                    .phase_lines
                    .get(&name)
                    .is_none_or(|(last, _)| now.duration_since(*last) >= PHASE_LINE_EVERY);
                if due {
                    self.phase_lines.insert(name.clone(), (now, None));
                    self.line(&format!("{name}: {phase}"));
                } else if let Some((_, held)) = self.phase_lines.get_mut(&name) {
                    *held = Some(phase.clone());
                }
            }
            Event::Skipped { addr, because } => {
                if let Some(live) = &mut self.progress {
                    live.finished(&addr.to_string(), false);
                }
                self.line(&format!("{addr}: skipped, because {because} failed"));
            }
        }
    }

    fn stop_requested(&mut self) -> bool {
        if let Some(live) = &mut self.progress {
            live.tick();
        }
        let interrupts = interrupt::received();
        if interrupts > self.interrupts_seen {
            self.interrupts_seen = interrupts;
            let name = interrupt::first().map_or("interrupt", |signal| signal.name());
            self.line(&format!(
                "{name}: finishing the actions in flight and saving state; a second signal \
                 (Ctrl-C) exits at once"
            ));
        }
        interrupts > 0
    }
}

/// The past form for a finished line (`created`).
fn past(action: ActionKind) -> &'static str {
    match action {
        ActionKind::Creating => "created",
        ActionKind::Updating => "updated",
        ActionKind::Replacing => "replaced",
        ActionKind::Deleting => "deleted",
        ActionKind::Reading => "read",
        ActionKind::Importing => "imported",
        ActionKind::Reconciling => "found already created",
        ActionKind::Moving => "moved",
    }
}

/// Bring an existing object under a resource block of the configuration.
#[derive(Debug, clap::Args)]
pub(super) struct ImportCommand {
    /// The resource instance to manage it as (`local_file.conf`, `local_file.conf["api"]`).
    #[arg(value_name = "ADDR", value_parser = parse_instance)]
    addr: crate::addr::InstanceAddr,

    /// The provider's id of the object (for `local_file`, its path).
    #[arg(value_name = "ID")]
    id: String,

    #[command(flatten)]
    env: EnvArgs,

    /// Wait this long for another command's lock (`30s`, `2m`; default: fail at once).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    lock_timeout: Duration,

    /// After SIGINT, SIGTERM or SIGHUP, how long the import call in flight
    /// may take to finish before the command exits without waiting for it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    grace: Duration,
}

/// Parses an instance address.
fn parse_instance(text: &str) -> Result<crate::addr::InstanceAddr, String> {
    text.parse::<crate::addr::InstanceAddr>()
        .map_err(|error| error.to_string())
}

impl ImportCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = ctx.dir();
        interrupt::install(self.grace);
        let request = pipeline::ImportRequest {
            plan: PlanRequest {
                var_files: self.env.var_files(ctx),
                environment: self.env.environment,
                vars: self.env.vars,
                refresh: true,
                ..PlanRequest::default()
            },
            addr: self.addr,
            id: self.id,
            lock_timeout: self.lock_timeout,
        };
        let mut waits = Vec::new();
        let (imported, sources, diagnostics) =
            pipeline::import(ctx.shared_host.clone(), &dir, &request, &mut |holder| {
                if let Some(holder) = holder {
                    waits.push(holder.describe(ctx.host.now_unix_seconds()));
                }
            });
        if let Some(holder) = waits.first() {
            ctx.err(&format!("waited for the state lock: {holder}\n"));
        }
        ctx.report(&diagnostics, &sources);
        match imported {
            Some(imported) if !diagnostics.has_errors() => {
                for note in &imported.notes {
                    ctx.err(&format!("{note}\n"));
                }
                ctx.out(&format!(
                    "Import successful! {} now manages the object with id {}.\nRun `infra plan` to see how it differs from its configuration.\n",
                    imported.addr, imported.id
                ));
                ctx.err(&format!("State saved as version {}.\n", imported.serial));
                if let Some(pruned) = imported.pruned {
                    ctx.err(&format!("{}\n", pruned.describe()));
                }
                stopped_or(Exit::Success)
            }
            _ => stopped_or(Exit::Failure),
        }
    }
}
