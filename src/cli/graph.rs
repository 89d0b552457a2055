//! `infra graph [-C DIR] [--env E] [--format dot|mermaid]`: the dependency graph
//! as a DOT or Mermaid document on stdout.

use super::args::EnvArgs;
use super::{Ctx, Exit};
use crate::expand::Request;
use crate::pipeline;
use crate::render;

/// Print the dependency graph.
#[derive(Debug, clap::Args)]
pub(super) struct GraphCommand {
    #[command(flatten)]
    env: EnvArgs,

    /// `dot` (Graphviz) or `mermaid`.
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A Graphviz digraph.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

impl GraphCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = ctx.dir();
        let checked = pipeline::check_with(ctx.host, &dir, &self.env.var_files(ctx));
        let mut diagnostics = checked.diagnostics.clone();
        let mut instances = None;
        if self.env.environment.is_some() || !self.env.vars.is_empty() {
            let request = Request {
                environment: self.env.environment.clone(),
                vars: self.env.vars.clone(),
                known_secrets: Default::default(),
                ..Default::default()
            };
            let (expanded, expand_diagnostics) = pipeline::expand(ctx.host, &checked, &request);
            diagnostics.extend(expand_diagnostics);
            instances = expanded.map(|e| e.module_instances);
        }
        if diagnostics.has_errors() {
            ctx.report(&diagnostics, &checked.sources);
            return Exit::Failure;
        }
        let labels = render::graph::module_labels(&checked.config, instances.as_ref());
        let text = match self.format {
            Format::Dot => render::graph::dot(&checked.graph, &labels),
            Format::Mermaid => render::graph::mermaid(&checked.graph, &labels),
        };
        ctx.out(&text);
        Exit::Success
    }
}
