//! The command line: clap types, one file per command, TTY and colour handling,
//! exit codes. The only module that prints.
//!
//! Exit codes: 0 success, 1 error (usage errors included: clap's own 2 is
//! mapped to 1, since 2 means "changes pending" in our contract); 128 + the
//! signal's number when SIGINT, SIGTERM or SIGHUP stopped a command that
//! writes state (see `interrupt`).
//!
//! Invariant: commands print only through [`Ctx`]; library stages never print.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "cli is the one module that talks to the terminal"
)]

mod apply;
mod args;
mod colour;
pub mod confirm;
mod drift;
mod envdiff;
mod fmt;
mod graph;
mod init;
mod interrupt;
mod lsp;
mod output;
mod plan;
mod policy;
mod progress;
mod show;
mod state;
mod state_restore;
mod validate;

use crate::diag::{Diagnostics, RenderOptions, SourceMap, render_human, summary_line};
use crate::host::{Host, RealHost};
use clap::Parser;
use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// An infrastructure-as-code compiler and engine: environments, services and secrets.
#[derive(Debug, Parser)]
#[command(name = "infra", version, about, propagate_version = true)]
struct Cli {
    /// Run as if started in DIR (the stack folder).
    #[arg(short = 'C', value_name = "DIR", global = true)]
    chdir: Option<PathBuf>,

    /// No colour, even on a terminal (as `NO_COLOR=1`).
    #[arg(long = "no-color", global = true)]
    no_color: bool,

    /// The state database, `postgres://USER:PASSWORD@HOST:PORT/DB`: overrides
    /// the stack's `state_url` and picks the `postgres` backend (as
    /// `INFRA_STATE_URL` does, which keeps the password out of `ps`).
    #[arg(long = "state-url", value_name = "URL", global = true)]
    state_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Parse and check the stack; report problems with file:line:col.
    Validate(validate::Validate),
    /// Rewrite .infra files in the canonical format.
    Fmt(fmt::Fmt),
    /// Print the dependency graph (DOT or Mermaid).
    Graph(graph::GraphCommand),
    /// Compare two environments' resolved configurations.
    Envdiff(envdiff::EnvDiffCommand),
    /// Refresh, diff against the state and print the plan.
    Plan(plan::PlanCommand),
    /// Plan (or take a saved plan), confirm, and make the changes.
    Apply(apply::ApplyCommand),
    /// Delete everything the environment's state holds.
    Destroy(apply::DestroyCommand),
    /// Go back to an earlier state version (default: before the last apply).
    Rollback(apply::RollbackCommand),
    /// Bring an existing object under a resource block (`infra import ADDR ID`).
    Import(apply::ImportCommand),
    /// Report what changed outside infra (exit 2 when something did).
    Drift(drift::DriftCommand),
    /// Accept what changed outside infra into the state, as a new version.
    Refresh(drift::RefreshCommand),
    /// Inspect and repair the recorded state: list, show, rm, mv, history, pull, push, restore.
    State(state::StateCommand),
    /// Break a stale state lock left by a command that died.
    ForceUnlock(state::ForceUnlockCommand),
    /// Print the outputs recorded by the last apply.
    Output(output::OutputCommand),
    /// Print a saved plan (`plan --out`), or the recorded state.
    Show(show::ShowCommand),
    /// Scaffold a starter stack and a `.gitignore`.
    Init(init::InitCommand),
    /// Run the language server on stdin and stdout (for editors).
    Lsp(lsp::LspCommand),
    /// Work with Rego policies: `infra policy test [DIR]`.
    Policy(policy::PolicyCommand),
}

/// What a command needs from the outside world: the host, the streams and how
/// to render for them.
pub struct Ctx<'a> {
    /// Files, environment, clock.
    pub host: &'a dyn Host,
    /// The same host, shareable with provider tasks that outlive a borrow.
    pub shared_host: Arc<dyn Host>,
    /// Where command output goes.
    pub stdout: &'a mut dyn Write,
    /// Where diagnostics and the count line go.
    pub stderr: &'a mut dyn Write,
    /// Standard input (`infra fmt -`).
    pub stdin: &'a mut dyn Read,
    /// How to render diagnostics on stderr.
    pub render: RenderOptions,
    /// The folder given with `-C`, if any.
    pub chdir: Option<PathBuf>,
    /// Whether standard input is a terminal, so a question can be answered
    /// (see [`confirm::confirm`]).
    pub interactive: bool,
    /// Whether stdout is a terminal that takes colour (not with `NO_COLOR`
    /// or `--no-color`): plan and drift diffs are coloured there.
    pub colour_out: bool,
}

impl Ctx<'_> {
    /// The stack folder: `-C DIR` or the current folder.
    pub fn dir(&self) -> PathBuf {
        self.chdir.clone().unwrap_or_else(|| PathBuf::from("."))
    }

    /// A path given on the command line, taken relative to `-C DIR`.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match &self.chdir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// Writes to stdout, control characters escaped
    /// ([`crate::diag::escape_controls`]): plans, drift, outputs, provider
    /// errors and values read from remote APIs all pass here, and none may
    /// rewrite the terminal. A JSON document stays valid. A closed pipe is
    /// not an error worth a panic.
    pub fn out(&mut self, text: &str) {
        let shown = crate::diag::escape_controls(text);
        let _ = self.stdout.write_all(shown.as_bytes());
    }

    /// Writes a plan or drift diff to stdout as [`Ctx::out`] does, with its
    /// action symbols coloured on a terminal that takes colour.
    pub fn out_diff(&mut self, text: &str) {
        let shown = crate::diag::escape_controls(text);
        let shown = if self.colour_out {
            colour::diff_symbols(&shown)
        } else {
            shown.into_owned()
        };
        let _ = self.stdout.write_all(shown.as_bytes());
    }

    /// Writes `text` to stdout exactly: for data the user asked for byte for
    /// byte (`infra fmt -` output, `infra output --raw`), meant for a pipe.
    pub fn out_exact(&mut self, text: &str) {
        let _ = self.stdout.write_all(text.as_bytes());
    }

    /// Writes to stderr, control characters escaped (as [`Ctx::out`]).
    pub fn err(&mut self, text: &str) {
        let shown = crate::diag::escape_controls(text);
        let _ = self.stderr.write_all(shown.as_bytes());
    }

    /// Renders diagnostics for humans on stderr, followed by the count line.
    pub fn report(&mut self, diagnostics: &Diagnostics, sources: &SourceMap) {
        if diagnostics.is_empty() {
            return;
        }
        // One report at a time, with a blank line between them, so each
        // stands apart in a terminal or a CI log.
        for diagnostic in diagnostics {
            let one: Diagnostics = std::iter::once(diagnostic.clone()).collect();
            // Escaped inside the renderer; the colours it adds are escape
            // sequences that must reach the terminal as they are.
            let rendered = render_human(&one, sources, self.render);
            let _ = self.stderr.write_all(rendered.as_bytes());
            self.err("\n");
        }
        self.err(&format!("{}\n", summary_line(diagnostics)));
    }

    /// Reports one diagnostic that points at no source text, and returns
    /// [`Exit::Failure`] when it is an error.
    pub fn report_one(&mut self, diagnostic: crate::diag::Diagnostic) -> Exit {
        let diagnostics: Diagnostics = std::iter::once(diagnostic).collect();
        self.report(&diagnostics, &SourceMap::new());
        if diagnostics.has_errors() {
            Exit::Failure
        } else {
            Exit::Success
        }
    }
}

/// Exit status of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Success,
    /// 1: an error (user input, the machine, or usage).
    Failure,
    /// 2: changes pending, drift found, environments differ.
    Changes,
    /// 128 + the signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP): a
    /// signal stopped the command, which saved what finished first.
    Stopped(u8),
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::FAILURE,
            Exit::Changes => ExitCode::from(2),
            Exit::Stopped(code) => ExitCode::from(code),
        }
    }
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let shared_host: Arc<dyn Host> = Arc::new(RealHost);
    let host = RealHost;
    let no_color = host
        .env_var("NO_COLOR")
        .is_some_and(|value| !value.is_empty());
    let render = RenderOptions {
        colour: std::io::stderr().is_terminal() && !no_color,
        width: 100,
        unicode: true,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut stdout = stdout.lock();
    // Stderr is not locked for the whole run (stdout is): the signal
    // handler's thread writes to it while a command runs (`interrupt`).
    // Stdin neither: `infra lsp` reads it on a thread of its own.
    let mut stderr = stderr;
    let mut stdin = std::io::stdin();
    let mut ctx = Ctx {
        host: &host,
        shared_host,
        stdout: &mut stdout,
        stderr: &mut stderr,
        stdin: &mut stdin,
        render,
        chdir: None,
        interactive: std::io::stdin().is_terminal(),
        colour_out: std::io::stdout().is_terminal() && !no_color,
    };
    let exit = run(std::env::args_os(), &mut ctx);
    let _ = ctx.stdout.flush();
    let _ = ctx.stderr.flush();
    exit.into()
}

/// Runs the command line `args` (program name first) against `ctx`.
pub fn run(args: impl IntoIterator<Item = OsString>, ctx: &mut Ctx<'_>) -> Exit {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let text = if ctx.render.colour {
                error.render().ansi().to_string()
            } else {
                error.render().to_string()
            };
            // Help and version are asked for: they go to stdout and succeed.
            return if error.use_stderr() {
                ctx.err(&text);
                Exit::Failure
            } else {
                ctx.out(&text);
                Exit::Success
            };
        }
    };
    ctx.chdir = cli.chdir;
    if cli.no_color {
        ctx.colour_out = false;
        ctx.render.colour = false;
    }
    if let Some(url) = cli.state_url {
        let host: Arc<dyn Host> = Arc::new(crate::host::WithEnvVar::new(
            Arc::clone(&ctx.shared_host),
            crate::pipeline::state_url::STATE_URL_ENV,
            url,
        ));
        let mut with_url = Ctx {
            host: host.as_ref(),
            shared_host: Arc::clone(&host),
            stdout: &mut *ctx.stdout,
            stderr: &mut *ctx.stderr,
            stdin: &mut *ctx.stdin,
            render: ctx.render,
            chdir: ctx.chdir.clone(),
            interactive: ctx.interactive,
            colour_out: ctx.colour_out,
        };
        return dispatch(cli.command, &mut with_url);
    }
    dispatch(cli.command, ctx)
}

/// Runs one parsed command.
fn dispatch(command: Command, ctx: &mut Ctx<'_>) -> Exit {
    match command {
        Command::Validate(command) => command.run(ctx),
        Command::Fmt(command) => command.run(ctx),
        Command::Graph(command) => command.run(ctx),
        Command::Envdiff(command) => command.run(ctx),
        Command::Plan(command) => command.run(ctx),
        Command::Apply(command) => command.run(ctx),
        Command::Destroy(command) => command.run(ctx),
        Command::Rollback(command) => command.run(ctx),
        Command::Import(command) => command.run(ctx),
        Command::Drift(command) => command.run(ctx),
        Command::Refresh(command) => command.run(ctx),
        Command::State(command) => command.run(ctx),
        Command::ForceUnlock(command) => command.run(ctx),
        Command::Output(command) => command.run(ctx),
        Command::Show(command) => command.run(ctx),
        Command::Init(command) => command.run(ctx),
        Command::Lsp(command) => command.run(ctx),
        Command::Policy(command) => command.run(ctx),
    }
}
