//! Checking a plan against the stack's policies (`stack { policies }` and
//! `--policy`), for `plan`, `apply`, `destroy` and `rollback`; and their
//! syntax alone, for `validate`.
//!
//! Invariant: an error (a policy that does not parse, fails or runs out of
//! time) leaves `plan.policy` empty and is in `diagnostics`: the plan is not
//! treated as passing.

use super::Checked;
use crate::config::Config;
use crate::diag::{Diagnostics, SourceMap};
use crate::expand::Expanded;
use crate::host::Host;
use crate::plan::Plan;
use crate::policy::{self, Options, PolicyDir};
use std::path::Path;

/// The policy folders: the stack's, then `--policy`.
fn dirs(config: &Config, options: &Options) -> Vec<PolicyDir> {
    config
        .stack
        .policies
        .iter()
        .map(|(path, span)| PolicyDir {
            path: path.clone(),
            span: Some(*span),
        })
        .chain(options.dirs.iter().cloned())
        .collect()
}

/// Evaluates the policies against `plan` and records what they said in
/// `plan.policy`; nothing when no policy is configured.
pub(crate) fn check_plan(
    host: &dyn Host,
    checked: &Checked,
    options: &Options,
    plan: &mut Plan,
    expanded: &Expanded,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
) {
    let dirs = dirs(&checked.config, options);
    if dirs.is_empty() {
        return;
    }
    let (set, load_diagnostics) = policy::load(host, &checked.dir, &dirs, false, sources);
    let failed = load_diagnostics.has_errors();
    diagnostics.extend(load_diagnostics);
    if failed {
        return;
    }
    let input = policy::input::document(plan, expanded, &checked.config, sources);
    let (results, eval_diagnostics) = policy::evaluate(&set, input, options);
    diagnostics.extend(eval_diagnostics);
    plan.policy = results;
}

/// Loads and parses the policies without evaluating them (`validate`).
pub(crate) fn check_syntax(
    host: &dyn Host,
    config: &Config,
    dir: &Path,
    options: &Options,
    sources: &mut SourceMap,
) -> Diagnostics {
    let dirs = dirs(config, options);
    if dirs.is_empty() {
        return Diagnostics::new();
    }
    let (set, mut diagnostics) = policy::load(host, dir, &dirs, false, sources);
    if !diagnostics.has_errors() {
        diagnostics.extend(policy::check_syntax(&set));
    }
    diagnostics
}

/// `infra policy test DIR...`: loads the folders (with their `*_test.rego`
/// files; `std/policy` is every std policy) and runs every `test_*` rule.
pub fn policy_test(
    host: &dyn Host,
    dir: &Path,
    folders: &[String],
    timeout: std::time::Duration,
) -> (Vec<policy::TestResult>, SourceMap, Diagnostics) {
    let mut sources = SourceMap::new();
    let mut dirs = Vec::new();
    for folder in folders {
        let trimmed = folder.trim_end_matches('/');
        if trimmed == "std/policy" {
            dirs.extend(policy::stdlib::names().into_iter().map(|name| PolicyDir {
                path: format!("{}{name}", policy::stdlib::PREFIX),
                span: None,
            }));
        } else {
            dirs.push(PolicyDir {
                path: trimmed.to_owned(),
                span: None,
            });
        }
    }
    let (set, mut diagnostics) = policy::load(host, dir, &dirs, true, &mut sources);
    if diagnostics.has_errors() {
        return (Vec::new(), sources, diagnostics);
    }
    let (results, test_diagnostics) = policy::run_tests(&set, timeout);
    diagnostics.extend(test_diagnostics);
    diagnostics.sort();
    (results, sources, diagnostics)
}
