//! `infra policy test [DIR...] [--timeout D]`: run the `test_*` rules of the
//! `*_test.rego` files in each folder (default: the stack folder;
//! `std/policy` is every policy shipped in the binary), as `opa test` does.
//!
//! Exit: 0 when every test passed, 1 when one failed or errored, when a
//! file does not parse, or when there is no test at all.

use super::args::parse_duration;
use super::{Ctx, Exit};
use crate::policy::TestOutcome;
use std::time::Duration;

/// Work with Rego policies.
#[derive(Debug, clap::Args)]
pub(super) struct PolicyCommand {
    #[command(subcommand)]
    command: PolicySubcommand,
}

#[derive(Debug, clap::Subcommand)]
enum PolicySubcommand {
    /// Run the `test_*` rules of the `*_test.rego` files; exit 1 on a failure.
    Test(TestCommand),
}

/// `infra policy test`.
#[derive(Debug, clap::Args)]
struct TestCommand {
    /// Policy folders (relative to the stack folder) or `std/policy[/NAME]`.
    #[arg(value_name = "DIR", default_value = ".")]
    dirs: Vec<String>,

    /// The bound on each test's evaluation.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
}

impl PolicyCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        match self.command {
            PolicySubcommand::Test(test) => test.run(ctx),
        }
    }
}

/// A duration as `opa test` shows it: `812µs`, `3.4ms`, `1.2s`.
fn shown(elapsed: Duration) -> String {
    let micros = elapsed.as_micros();
    if micros < 1000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{:.1}ms", elapsed.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2}s", elapsed.as_secs_f64())
    }
}

impl TestCommand {
    fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = ctx.dir();
        let (results, sources, diagnostics) =
            crate::pipeline::policy_test(ctx.host, &dir, &self.dirs, self.timeout);
        ctx.report(&diagnostics, &sources);
        if diagnostics.has_errors() {
            return Exit::Failure;
        }
        let mut out = String::new();
        let mut failed = 0;
        for result in &results {
            let (word, detail) = match &result.outcome {
                TestOutcome::Passed => ("PASS", None),
                TestOutcome::Failed => ("FAIL", None),
                TestOutcome::Error(message) => ("ERROR", Some(message)),
            };
            if result.outcome != TestOutcome::Passed {
                failed += 1;
            }
            out.push_str(&format!(
                "{word:<5} {} ({}:{}) {}\n",
                result.name,
                result.file,
                result.line,
                shown(result.elapsed)
            ));
            if let Some(detail) = detail {
                out.push_str(&format!("      {detail}\n"));
            }
        }
        if results.is_empty() {
            ctx.out("No tests: no `test_*` rule in a `*_test.rego` file.\n");
            return Exit::Failure;
        }
        let total = results.len();
        out.push_str(&"-".repeat(40));
        out.push('\n');
        out.push_str(&format!("PASS: {}/{total}\n", total - failed));
        if failed > 0 {
            out.push_str(&format!("FAIL: {failed}/{total}\n"));
        }
        ctx.out(&out);
        if failed > 0 {
            Exit::Failure
        } else {
            Exit::Success
        }
    }
}
