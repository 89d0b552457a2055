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
    input: regorus::Value,
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
    let results = match run_rules(engine, &defs, input, timeout) {
        Ok(results) => results,
        Err(Stop::Timeout(running)) => {
            diagnostics.push(timeout_error(running.as_ref(), timeout));
            return (None, diagnostics);
        }
        Err(Stop::NoThread(error)) => {
            diagnostics.push(
                Diagnostic::error_at_path(Code::Internal, None)
                    .with_help(format!("could not start the policy thread: {error}")),
            );
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

/// One rule definition's result, or its evaluation error.
type RuleResult = (RuleDef, Result<regorus::Value, String>);

/// Why the rules were not all evaluated.
enum Stop {
    /// The time ran out; the first definition still running, if known.
    Timeout(Option<RuleDef>),
    /// A thread could not be started.
    NoThread(String),
}

/// Evaluates `defs` against `input` on up to two threads (each with its
/// own copy of the engine, the input shared), bounded by `timeout`: the
/// results in `defs` order, up to and including the first that failed, as
/// one thread evaluating them in order would give. Each thread takes the
/// next definition not yet taken, so one costly rule does not hold the
/// others back. On timeout, the first definition (in order) still running,
/// if known.
fn run_rules(
    engine: regorus::Engine,
    defs: &[RuleDef],
    input: regorus::Value,
    timeout: Duration,
) -> Result<Vec<RuleResult>, Stop> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 2)
        .min(defs.len().max(1));
    let defs_shared: Arc<[RuleDef]> = defs.into();
    // The next definition to take, and whether one failed (then no more is
    // taken: those before it are taken already).
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    // Each worker sends (index, result).
    let (sender, receiver) = std::sync::mpsc::channel::<(usize, RuleResult)>();
    // The index each worker is evaluating, to name it when time runs out.
    let running: Vec<Arc<Mutex<Option<usize>>>> =
        (0..workers).map(|_| Arc::new(Mutex::new(None))).collect();
    let mut engine = Some(engine);
    for (worker, slot) in running.iter().enumerate() {
        // The last worker takes the engine itself; the others a copy.
        let mut engine = if worker + 1 == workers {
            match engine.take() {
                Some(engine) => engine,
                None => break,
            }
        } else {
            match engine.as_ref() {
                Some(engine) => engine.clone(),
                None => break,
            }
        };
        let (sender, slot, input) = (sender.clone(), slot.clone(), input.clone());
        let (defs, next, failed) = (defs_shared.clone(), next.clone(), failed.clone());
        let spawned = std::thread::Builder::new()
            .name("infra-policy".into())
            .spawn(move || {
                engine.set_input(input);
                while !failed.load(Ordering::SeqCst) {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(def) = defs.get(index) else { break };
                    if let Ok(mut slot) = slot.lock() {
                        *slot = Some(index);
                    }
                    let result = engine::eval(&mut engine, def);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    // The receiver may have given up (time ran out).
                    if sender.send((index, (def.clone(), result))).is_err() {
                        break;
                    }
                }
                if let Ok(mut slot) = slot.lock() {
                    *slot = None;
                }
            });
        if let Err(error) = spawned {
            return Err(Stop::NoThread(error.to_string()));
        }
    }
    drop(sender);
    // The real bound: a builtin that never checks the engine's timer cannot
    // hold the command; the threads are left behind and end with the process.
    let deadline = std::time::Instant::now() + timeout;
    let mut slots: Vec<Option<RuleResult>> = vec![None; defs.len()];
    loop {
        // Done when every definition up to the first failure has a result.
        let mut complete = true;
        for slot in &slots {
            match slot {
                Some((_, Err(_))) => break,
                Some(_) => {}
                None => {
                    complete = false;
                    break;
                }
            }
        }
        if complete {
            break;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match receiver.recv_timeout(left) {
            Ok((index, result)) => {
                if let Some(slot) = slots.get_mut(index) {
                    *slot = Some(result);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let first_running = running
                    .iter()
                    .filter_map(|slot| slot.lock().ok().and_then(|index| *index))
                    .min();
                return Err(Stop::Timeout(
                    first_running.and_then(|index| defs.get(index).cloned()),
                ));
            }
        }
    }
    let mut results = Vec::new();
    for slot in slots {
        let Some(result) = slot else { break };
        let failed = result.1.is_err();
        results.push(result);
        if failed {
            break;
        }
    }
    Ok(results)
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
