//! `infra policy test`: every `test_*` rule of the `*_test.rego` files,
//! evaluated alone, as `opa test` does: a test passes when its rule is
//! defined and not `false`.
//!
//! Invariant: a test that errors fails (with the error), never passes.

use super::engine;
use super::load::PolicySet;
use crate::diag::Diagnostics;
use std::time::{Duration, Instant};

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    /// Defined and not `false`.
    Passed,
    /// Undefined or `false`.
    Failed,
    /// Evaluation failed; the message.
    Error(String),
}

/// One `test_*` rule definition and how it went.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// `package.test_name`.
    pub name: String,
    /// The test file, as shown.
    pub file: String,
    /// The line of the rule.
    pub line: u32,
    /// How it ended.
    pub outcome: TestOutcome,
    /// How long it took (wall clock, for the report only).
    pub elapsed: Duration,
}

/// Runs every test of `set` (loaded with its test files); each test is
/// bounded by `timeout`. The results in file and line order, or the syntax
/// errors that stop them.
pub fn run_tests(set: &PolicySet, timeout: Duration) -> (Vec<TestResult>, Diagnostics) {
    let (engine, diagnostics) = engine::compile(set, true);
    let Some(mut engine) = engine else {
        return (Vec::new(), diagnostics);
    };
    if let Some(interval) = std::num::NonZeroU32::new(256) {
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: timeout,
            check_interval: interval,
        });
    }
    let defs = engine::rules(&mut engine, set, &|name, file| {
        file.test && name.starts_with("test_")
    });
    let mut results = Vec::new();
    for def in defs {
        let started = Instant::now();
        let outcome = match engine::eval(&mut engine, &def) {
            Ok(regorus::Value::Undefined | regorus::Value::Bool(false)) => TestOutcome::Failed,
            Ok(_) => TestOutcome::Passed,
            Err(error) => {
                let (location, message) = engine::located(&error);
                TestOutcome::Error(match location {
                    Some(location) => format!("{message} (at {location})"),
                    None => message,
                })
            }
        };
        results.push(TestResult {
            name: def.qualified(),
            file: def.file.clone(),
            line: def.line,
            outcome,
            elapsed: started.elapsed(),
        });
    }
    (results, diagnostics)
}
