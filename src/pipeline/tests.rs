//! The pipeline end to end on a [`MemoryHost`]: how often a command reads
//! the state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::apply::{ApplyRequest, ApplyUi, Mode, Outcome};
use crate::diag::{Diagnostic, SourceMap};
use crate::host::{Host, MemoryHost};
use crate::plan::Plan;
use crate::state::LockInfo;
use std::path::Path;
use std::sync::Arc;

/// Says yes to every plan and shows nothing.
struct Quiet;

impl ApplyUi for Quiet {
    fn note(&mut self, _text: &str) {}
    fn waiting_for_lock(&mut self, _holder: Option<&LockInfo>) {}
    fn confirm(&mut self, _plan: &Plan, _sources: &SourceMap) -> Result<bool, Diagnostic> {
        Ok(true)
    }
    fn event(&mut self, _event: &crate::apply::Event) {}
}

const STACK: &str = r#"stack "demo" {}

resource "null_resource" "a" {
  triggers = { n = "1" }
}

resource "null_resource" "b" {
  triggers = { a = null_resource.a.id }
}
"#;

fn apply(host: &Arc<MemoryHost>) -> Outcome {
    let request = ApplyRequest {
        plan: super::PlanRequest::default(),
        mode: Mode::Apply { plan_file: None },
        options: crate::apply::Options::default(),
        lock_timeout: std::time::Duration::ZERO,
    };
    let (outcome, _, diagnostics) = super::apply(host.clone(), Path::new("s"), request, &mut Quiet);
    assert!(!diagnostics.has_errors(), "{diagnostics:?}");
    outcome.expect("an outcome")
}

/// The lock opens the current version (folding any journal in); the apply
/// works on that one instead of reading and checking the file again (at
/// 100,000 instances a read is 0.4 s).
#[test]
fn an_apply_reads_the_state_file_once() {
    let host = Arc::new(MemoryHost::new().with_file("s/main.infra", STACK));
    apply(&host);
    let state = Path::new("s/.infra/state/demo/default.json");
    assert!(
        host.file(state).is_some(),
        "no state at {}",
        state.display()
    );
    let before = host.reads_of(state);
    apply(&host);
    assert_eq!(host.reads_of(state) - before, 1);
}

impl super::DriftUi for Quiet {
    fn note(&mut self, _text: &str) {}
    fn waiting_for_lock(&mut self, _holder: Option<&LockInfo>) {}
    fn confirm(&mut self, _report: &super::DriftReport) -> Result<bool, Diagnostic> {
        Ok(true)
    }
}

/// `refresh` holds the lock too, and works on the version it opened.
#[test]
fn a_refresh_reads_the_state_file_once() {
    let host = Arc::new(MemoryHost::new().with_file("s/main.infra", STACK));
    apply(&host);
    let state = Path::new("s/.infra/state/demo/default.json");
    let before = host.reads_of(state);
    let request = super::DriftRequest {
        environment: None,
        vars: Vec::new(),
        var_files: Vec::new(),
        parallelism: 4,
        lock_timeout: std::time::Duration::ZERO,
    };
    let (outcome, _, diagnostics) =
        super::refresh_state(host.clone(), Path::new("s"), &request, &mut Quiet);
    assert!(!diagnostics.has_errors(), "{diagnostics:?}");
    assert!(
        matches!(outcome, Some(super::RefreshOutcome::NoDrift(_))),
        "{outcome:?}"
    );
    assert_eq!(host.reads_of(state) - before, 1);
}

/// `infra plan` takes the state it read apart into the prior objects, so a
/// second round (a replaced object that another reads) reads it again, and
/// plans the same as a plan that keeps the state (an apply's).
#[test]
fn a_plan_reads_the_state_again_only_for_a_second_round() {
    let host = Arc::new(MemoryHost::new().with_file("s/main.infra", STACK));
    apply(&host);
    let state = Path::new("s/.infra/state/demo/default.json");
    let plan = |host: &Arc<MemoryHost>| {
        let before = host.reads_of(state);
        let (plan, _, diagnostics) =
            super::plan(host.clone(), Path::new("s"), super::PlanRequest::default());
        assert!(!diagnostics.has_errors(), "{diagnostics:?}");
        (plan.expect("a plan"), host.reads_of(state) - before)
    };
    let (unchanged, reads) = plan(&host);
    assert!(!unchanged.has_changes());
    assert_eq!(reads, 1);

    host.write_atomic(
        Path::new("s/main.infra"),
        STACK.replace(r#"n = "1""#, r#"n = "2""#).as_bytes(),
    )
    .unwrap();
    let (replaced, reads) = plan(&host);
    assert_eq!(reads, 2, "one read per round");
    let actions: Vec<_> = replaced
        .changes
        .iter()
        .map(|change| (change.addr.to_string(), change.action))
        .collect();
    let replace = crate::plan::Action::Replace {
        create_before_destroy: false,
    };
    assert_eq!(
        actions,
        [
            (String::from("null_resource.a"), replace),
            (String::from("null_resource.b"), replace),
        ]
    );
    // The second round planned `b` from an unknown id, as an apply does.
    let b = replaced.changes.get(1).expect("b");
    assert!(
        b.after
            .get("triggers")
            .expect("triggers")
            .contains_unknown()
    );
}
