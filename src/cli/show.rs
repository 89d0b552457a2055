//! `infra show [PLANFILE] [-C DIR] [--env E] [--format human|json|markdown]`:
//! a saved plan (`plan --out`), opened with the state key and printed as
//! `plan` prints it; without PLANFILE, the recorded state of the environment.
//!
//! Invariant: reads only (no lock, nothing written, no provider called). No
//! plaintext of a secret is printed in any format.

use super::args::EnvSelect;
use super::state::{locate, read_opened, state_failure};
use super::{Ctx, Exit};
use crate::diag::{Code, Diagnostic};
use crate::plan::PlanFile;
use crate::render;
use crate::render::state::{ShownInstance, ShownOutput, ShownState};
use std::path::PathBuf;

/// Print a saved plan, or the recorded state.
#[derive(Debug, clap::Args)]
pub(super) struct ShowCommand {
    #[command(flatten)]
    env: EnvSelect,

    /// A plan saved with `infra plan --out FILE`; without it, the state.
    #[arg(value_name = "PLANFILE")]
    plan_file: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// The output format of `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// For a terminal.
    Human,
    /// One JSON document (docs/json-plan.md, docs/json-state.md).
    Json,
    /// A pull-request comment or issue body.
    Markdown,
}

impl ShowCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        match self.plan_file.clone() {
            Some(path) => self.show_plan(ctx, &path),
            None => self.show_state(ctx),
        }
    }

    fn show_plan(&self, ctx: &mut Ctx<'_>, path: &std::path::Path) -> Exit {
        let resolved = ctx.resolve(path);
        let shown = path.display().to_string();
        let bytes = match ctx.host.read(&resolved) {
            Ok(bytes) => bytes,
            Err(error) => {
                return ctx.report_one(
                    Diagnostic::error_at_path(Code::CliUnreadableFile, Some(shown))
                        .with_help(format!("could not read the plan file: {error}")),
                );
            }
        };
        // The plan names its stack and environment in the clear; the key of
        // that environment's state opens it.
        let header: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let planned_env = header.get("environment").and_then(|v| v.as_str());
        let planned_stack = header.get("stack").and_then(|v| v.as_str());
        let (Some(planned_env), Some(planned_stack)) = (planned_env, planned_stack) else {
            return ctx.report_one(not_a_plan(&shown));
        };
        if let Some(asked) = &self.env.environment
            && asked != planned_env
        {
            return ctx.report_one(
                Diagnostic::error_at_path(Code::PlanWrongEnvironment, Some(shown)).with_help(
                    format!(
                        "the plan was made for environment \"{planned_env}\", not \"{asked}\"; \
                     drop --env or pass --env {planned_env}"
                    ),
                ),
            );
        }
        let Ok(located) = locate(ctx, Some(planned_env)) else {
            return Exit::Failure;
        };
        if located.stack != planned_stack {
            return ctx.report_one(
                Diagnostic::error_at_path(Code::PlanWrongEnvironment, Some(shown)).with_help(
                    format!(
                        "the plan was made for stack \"{planned_stack}\", and this folder holds \
                     stack \"{}\"; run show in the plan's stack folder (-C DIR)",
                        located.stack
                    ),
                ),
            );
        }
        let backend = located.backend(ctx.host);
        let key = match backend.load_key() {
            Ok(Some(key)) => key,
            Ok(None) => {
                return ctx.report_one(
                    Diagnostic::error_at_path(
                        Code::StateMissingKey,
                        Some(backend.key_path().display().to_string()),
                    )
                    .with_help(format!(
                        "the plan is sealed with the state key of environment \"{planned_env}\", \
                         and there is none here: set INFRA_STATE_KEY or restore the key file"
                    )),
                );
            }
            Err(error) => return state_failure(ctx, &error),
        };
        let plan = match PlanFile::parse(&bytes, &key).and_then(|file| file.to_plan(&key)) {
            Ok(plan) => plan,
            Err(diagnostic) => return ctx.report_one(diagnostic),
        };
        let text = match self.format {
            Format::Human => render::plan::human(&plan),
            Format::Json => render::plan::json(&plan),
            Format::Markdown => render::plan::markdown(&plan),
        };
        self.print(ctx, &text);
        Exit::Success
    }

    fn show_state(&self, ctx: &mut Ctx<'_>) -> Exit {
        let Ok(located) = locate(ctx, self.env.environment.as_deref()) else {
            return Exit::Failure;
        };
        let Ok((state, key)) = read_opened(ctx, &located) else {
            return Exit::Failure;
        };
        let path = located.backend(ctx.host).state_path();
        let mut instances = Vec::new();
        for resource in &state.resources {
            for instance in &resource.instances {
                let attributes = match key.open(&instance.attributes, Some(&path)) {
                    Ok(value) => value,
                    Err(error) => return state_failure(ctx, &error),
                };
                instances.push(ShownInstance {
                    resource: resource.addr.clone(),
                    address: resource.addr.instance(instance.key.clone()),
                    provider: resource.provider.to_string(),
                    attributes,
                    dependencies: instance.dependencies.clone(),
                });
            }
        }
        let mut outputs = Vec::new();
        for (name, output) in &state.outputs {
            match key.open(&output.value, Some(&path)) {
                Ok(value) => outputs.push(ShownOutput {
                    name: name.clone(),
                    sensitive: output.sensitive,
                    value,
                }),
                Err(error) => return state_failure(ctx, &error),
            }
        }
        let shown = ShownState {
            stack: located.stack.clone(),
            environment: located.environment.clone(),
            serial: state.serial,
            lineage: state.lineage.clone(),
            instances,
            outputs,
        };
        let text = match self.format {
            Format::Human => render::state::human(&shown),
            Format::Json => render::state::json(&shown),
            Format::Markdown => render::state::markdown(&shown),
        };
        self.print(ctx, &text);
        Exit::Success
    }

    fn print(&self, ctx: &mut Ctx<'_>, text: &str) {
        if self.format == Format::Human {
            ctx.out_diff(text);
        } else {
            ctx.out(text);
        }
        if !text.ends_with('\n') {
            ctx.out("\n");
        }
    }
}

fn not_a_plan(shown: &str) -> Diagnostic {
    Diagnostic::error_at_path(Code::PlanInvalidFile, Some(shown.to_owned())).with_help(
        "this is not a plan file written by `infra plan --out FILE`; make the plan again",
    )
}
