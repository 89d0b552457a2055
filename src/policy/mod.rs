//! Policy as code: Rego policies checked against every plan, evaluated in
//! process by `regorus` (no OPA install). `stack { policies = [...] }` and
//! `--policy DIR` name folders of `*.rego` files (plus `*.json`/`*.yaml`
//! data); `std/policy/NAME` names a policy shipped in the binary.
//!
//! Terminology: a *policy* is a Rego package; its `deny` rules block a plan,
//! its `warn` rules are reported. A *violation* is one message of them (see
//! [`crate::plan::PolicyResults`]). The *input* is the document of
//! [`input::document`], described in `docs/policy.md`.
//!
//! Invariant: no printing, files only through `host`. An evaluation that
//! errors or runs out of time is an error diagnostic, never a pass.
//! Invariant: no secret value reaches a policy: the input has `"(secret)"`
//! in place of each, and the engine has no builtin that reads the
//! environment, files or the network.

mod engine;
pub mod input;
mod load;
pub mod stdlib;
mod testing;

pub use load::{PolicyFile, PolicySet, load};
pub use testing::{TestOutcome, TestResult, run_tests};

use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use crate::plan::{Enforcement, PolicyChecked, PolicyResults, Violation};
use engine::RuleDef;
use std::collections::BTreeSet;
use std::time::Duration;

/// The default `--policy-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A policy folder: as written (`./policy`, `std/policy/tagging`), and the
/// stack's `policies` element it came from (none for `--policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDir {
    /// The folder (relative to the stack) or `std/policy/NAME`.
    pub path: String,
    /// The list element in `stack { policies = [...] }`.
    pub span: Option<Span>,
}

/// How the policies are checked: `--policy`, `--policy-warn-only`,
/// `--policy-timeout`.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--policy DIR`, in addition to the stack's `policies`.
    pub dirs: Vec<PolicyDir>,
    /// Report denials without blocking.
    pub warn_only: bool,
    /// The bound on the whole evaluation.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dirs: Vec::new(),
            warn_only: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Parses every policy without evaluating it (for `validate`).
pub fn check_syntax(set: &PolicySet) -> Diagnostics {
    engine::compile(set, false).1
}

/// Evaluates every `deny` and `warn` rule definition of `set` against
/// `input`, each alone, on a thread bounded by `options.timeout`: the
/// results, or the errors (syntax, evaluation, time) that keep the plan from
/// being checked.
pub fn evaluate(
    set: &PolicySet,
    input: serde_json::Value,
    options: &Options,
) -> (Option<PolicyResults>, Diagnostics) {
    let (engine, mut diagnostics) = engine::compile(set, false);
    let Some(mut engine) = engine else {
        return (None, diagnostics);
    };
    let timeout = options.timeout;
    if let Some(interval) = std::num::NonZeroU32::new(256) {
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: timeout,
            check_interval: interval,
        });
    }
    let defs = engine::rules(&mut engine, set, &|name, _| {
        name == "deny" || name == "warn"
    });
    let policies = checked_policies(set, &engine);
    // The rule being evaluated, to name it when the time runs out.
    let current = std::sync::Arc::new(std::sync::Mutex::new(None::<RuleDef>));
    let (sender, receiver) = std::sync::mpsc::channel();
    let worker_defs = defs.clone();
    let worker_current = current.clone();
    let spawned = std::thread::Builder::new()
        .name("infra-policy".into())
        .spawn(move || {
            engine.set_input(regorus::Value::from(input));
            let mut results = Vec::new();
            for def in &worker_defs {
                if let Ok(mut slot) = worker_current.lock() {
                    *slot = Some(def.clone());
                }
                let result = engine::eval(&mut engine, def);
                let failed = result.is_err();
                results.push((def.clone(), result));
                if failed {
                    break;
                }
            }
            // The receiver may have given up (time ran out); nothing to do then.
            let _ = sender.send(results);
        });
    if let Err(error) = spawned {
        diagnostics.push(
            Diagnostic::error_at_path(Code::Internal, None)
                .with_help(format!("could not start the policy thread: {error}")),
        );
        return (None, diagnostics);
    }
    // The real bound: a builtin that never checks the engine's timer cannot
    // hold the command; the thread is left behind and ends with the process.
    let results = match receiver.recv_timeout(timeout) {
        Ok(results) => results,
        Err(_) => {
            let running = current.lock().ok().and_then(|slot| slot.clone());
            diagnostics.push(timeout_error(running.as_ref(), timeout));
            return (None, diagnostics);
        }
    };
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for (def, result) in results {
        let value = match result {
            Ok(value) => value,
            Err(error) if engine::is_time_limit(&error) => {
                diagnostics.push(timeout_error(Some(&def), timeout));
                return (None, diagnostics);
            }
            Err(error) => {
                diagnostics.push(engine::eval_error(&def, &error));
                return (None, diagnostics);
            }
        };
        let enforcement = if def.name == "deny" {
            Enforcement::Deny
        } else {
            Enforcement::Warn
        };
        for message in messages(&value, &def) {
            let violation = Violation {
                enforcement,
                policy: def.package.join("."),
                message: message.0,
                address: message.1,
                severity: message.2,
                file: def.file.clone(),
                line: def.line,
            };
            let key = (
                violation.enforcement,
                violation.policy.clone(),
                violation.message.clone(),
                violation.address.clone(),
            );
            if seen.insert(key) {
                violations.push(violation);
            }
        }
    }
    violations.sort_by(|a, b| {
        (
            a.enforcement,
            &a.policy,
            &a.file,
            a.line,
            &a.address,
            &a.message,
        )
            .cmp(&(
                b.enforcement,
                &b.policy,
                &b.file,
                b.line,
                &b.address,
                &b.message,
            ))
    });
    (
        Some(PolicyResults {
            policies,
            violations,
            warn_only: options.warn_only,
        }),
        diagnostics,
    )
}

/// Every package of the set with its files, by name.
fn checked_policies(set: &PolicySet, engine: &regorus::Engine) -> Vec<PolicyChecked> {
    let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for package in engine.get_policy_package_components().unwrap_or_default() {
        if set
            .files
            .iter()
            .any(|f| f.name == package.source_file && !f.test)
        {
            let files = by_name.entry(package.components.join(".")).or_default();
            if !files.contains(&package.source_file) {
                files.push(package.source_file);
            }
        }
    }
    by_name
        .into_iter()
        .map(|(name, files)| PolicyChecked { name, files })
        .collect()
}

/// The messages a rule gave: `(msg, address, severity)` each. A set or an
/// array holds several; a string is the message; an object gives `msg`,
/// `address` and `severity`; `true` (a boolean `deny if …`) says the
/// policy denies without a message.
fn messages(
    value: &regorus::Value,
    def: &RuleDef,
) -> Vec<(String, Option<String>, Option<String>)> {
    use regorus::Value;
    match value {
        Value::Undefined | Value::Null | Value::Bool(false) => Vec::new(),
        Value::Set(items) => items.iter().map(|v| message(v, def)).collect(),
        Value::Array(items) => items.iter().map(|v| message(v, def)).collect(),
        other => vec![message(other, def)],
    }
}

fn message(value: &regorus::Value, def: &RuleDef) -> (String, Option<String>, Option<String>) {
    use regorus::Value;
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.to_string()),
        Value::Undefined | Value::Null => None,
        other => other.to_json_str().ok(),
    };
    match value {
        Value::String(s) => (s.to_string(), None, None),
        Value::Bool(true) => (format!("denied by `{}`", def.qualified()), None, None),
        Value::Object(_) => {
            let msg = text(&value["msg"])
                .or_else(|| text(&value["message"]))
                .unwrap_or_else(|| value.to_json_str().unwrap_or_default());
            (msg, text(&value["address"]), text(&value["severity"]))
        }
        other => (other.to_json_str().unwrap_or_default(), None, None),
    }
}

fn timeout_error(running: Option<&RuleDef>, timeout: Duration) -> Diagnostic {
    let limit = format!("{}s", timeout.as_secs_f64());
    let help = format!(
        "policy evaluation did not finish within {limit} (`--policy-timeout`); \
         the plan is not checked: make the rule cheaper (no nested loops over every resource) \
         or raise `--policy-timeout`"
    );
    match running {
        Some(def) => Diagnostic::error(
            Code::PolicyTimeout,
            def.span,
            format!("`{}` was still running", def.qualified()),
        ),
        None => Diagnostic::error_at_path(Code::PolicyTimeout, None),
    }
    .with_help(help)
}
