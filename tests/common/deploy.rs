//! Helpers for the tests of service deploys, local (`tests/services.rs`)
//! and remote (`tests/ssh_services.rs`): the crash journal and audit log of
//! a stack, Ctrl-C sent to a running `infra`, and an `infra apply` caught in
//! the watch window of a blue-green deploy under the load loop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test harness: a broken set-up fails the test"
)]

use super::Watched;
use super::load::LoadLoop;
use std::path::Path;

/// Blue-green; v2 is watched for 10 minutes (v1, deployed first, is not):
/// long enough for a test to interrupt the deploy in its watch window.
pub const WATCHES_V2: &str = r#"{ strategy = "blue_green", watch = var.version == "v2" ? "10m" : "0s", max_error_rate = 0.5 }"#;

/// Standard error with its lines joined (miette wraps long help lines).
pub fn said(output: &std::process::Output) -> String {
    super::stderr(output)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The crash journals under the stack folder `dir`, as text (empty when
/// nothing is pending).
pub fn journal_text(dir: &Path) -> String {
    super::files_under(&dir.join(".infra/state"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "journal"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// The audit records of every environment of the stack folder `dir`, as text.
pub fn audit_text(dir: &Path) -> String {
    super::files_under(&dir.join(".infra/state"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "audit.jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// The services' stdout logs under `run_dir` (a run folder, local or in a
/// remote login's home), as text.
pub fn service_logs(run_dir: &Path) -> String {
    super::files_under(run_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".stdout.log"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// Sends SIGINT (Ctrl-C) to the watched `infra`.
pub fn interrupt(child: &Watched) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// With v1 already serving through the router on `listen`: starts the load
/// loop, then `infra apply --auto-approve --var version=v2` in the stack
/// folder `dir` with `envs`, and waits until the deploy is in its watch
/// window (see [`WATCHES_V2`]): the journal holds its `watch` checkpoint and
/// v2 has answered through the router.
pub fn apply_v2_into_its_watch(
    dir: &Path,
    envs: &[(&str, &str)],
    listen: u16,
) -> (LoadLoop, Watched) {
    let load = LoadLoop::start(&format!("http://127.0.0.1:{listen}/"));
    load.wait_until("answers from v1", |r| r.answered("version v1") > 20);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_infra"));
    command
        .args(["apply", "--auto-approve", "--var", "version=v2"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STATE_KEY")
        .stdin(std::process::Stdio::null());
    for (name, value) in envs {
        command.env(name, value);
    }
    let child = Watched::spawn(&mut command);
    super::wait_until(
        "the deploy's watch checkpoint",
        || journal_text(dir).contains("\"step\":\"watch\""),
        || format!("{}{}", child.stdout_so_far(), child.stderr_so_far()),
    );
    load.wait_until("answers from v2", |r| r.answered("version v2") > 0);
    (load, child)
}

/// What the first Ctrl-C in a deploy's watch window leaves: infra exits 130
/// after saying it finishes the actions in flight, the deploy says it was
/// interrupted and rolled back, and no request of the load loop failed.
pub fn assert_interrupted_and_rolled_back(
    output: &std::process::Output,
    report: &super::load::LoadReport,
) {
    let (out, err) = (super::stdout(output), said(output));
    assert_eq!(super::code(output), 130, "{out}\n{err}");
    assert!(
        out.contains("SIGINT: finishing the actions in flight"),
        "{out}"
    );
    assert!(err.contains("the deploy was interrupted"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
}

/// Ctrl-C twice in a deploy's watch window: the first starts the rollback;
/// once v2 says (in `logs`, its service logs) that it ignores the SIGTERM
/// the rollback sent, the second makes infra exit at once. Checks it exits
/// 130 saying so, and returns what it printed.
pub fn interrupt_twice(child: Watched, logs: impl Fn() -> String) -> std::process::Output {
    interrupt(&child);
    super::wait_until(
        "v2 ignoring its SIGTERM",
        || logs().contains("ignoring SIGTERM"),
        || format!("{}{}", child.stdout_so_far(), logs()),
    );
    interrupt(&child);
    let output = child.finish();
    let (out, err) = (super::stdout(&output), super::stderr(&output));
    assert_eq!(super::code(&output), 130, "{out}\n{err}");
    assert!(err.contains("SIGINT: exiting now"), "{err}");
    output
}

/// What the apply after [`interrupt_twice`] did: it succeeded, said it
/// resumed the interrupted update of `service.api` from its `watch`
/// checkpoint, and the audit in `dir` records the rollback to blue.
pub fn assert_resumed_the_rollback(output: &std::process::Output, dir: &Path) {
    assert_eq!(
        super::code(output),
        0,
        "{}{}",
        super::stdout(output),
        super::stderr(output)
    );
    let said_now = format!("{}{}", super::stdout(output), said(output));
    assert!(
        said_now.contains("resumed the interrupted update of service.api from checkpoint `watch`"),
        "{said_now}"
    );
    let audit = audit_text(dir);
    assert!(audit.contains("resume: roll back to blue"), "{audit}");
}
