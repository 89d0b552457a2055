//! Signals, through the real binary against the file-backed test world with
//! slow calls (`INFRA_TEST_LATENCY_MS`): SIGTERM, SIGHUP and SIGINT stop an
//! apply gracefully (nothing new starts, the calls in flight finish, state is
//! saved, the lock released, exit 128 + the signal's number); a second signal
//! and a grace period that runs out exit at once with the journal intact.
//! Every wait is for something the child prints or writes, never a sleep.

#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use common::{TempDir, Watched, code, stderr, stdout};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// `count` independent test-world resources in stack `s`.
fn stack(count: usize) -> String {
    let mut text = String::from("stack \"s\" {}\n\n");
    for i in 0..count {
        text.push_str(&format!(
            "resource \"test_resource\" \"r{i}\" {{\n  name  = \"r{i}\"\n  value = \"v{i}\"\n}}\n\n"
        ));
    }
    text
}

fn command(dir: &Path, world: &Path, latency_ms: u32, args: &[&str]) -> Command {
    let mut command = common::world_command(dir, world, args);
    command.env("INFRA_TEST_LATENCY_MS", latency_ms.to_string());
    command
}

fn run(dir: &Path, world: &Path, args: &[&str]) -> std::process::Output {
    command(dir, world, 0, args).output().unwrap()
}

fn send(child: &Watched, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} failed");
}

/// The instances an apply's output says it created.
fn created(out: &str) -> BTreeSet<String> {
    out.lines()
        .filter_map(|line| line.split_once(": created ("))
        .map(|(addr, _)| addr.to_owned())
        .collect()
}

/// The instances the saved state holds (`infra state list`).
fn in_state(dir: &Path, world: &Path) -> BTreeSet<String> {
    let output = run(dir, world, &["state", "list"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    stdout(&output)
        .lines()
        .filter(|line| line.starts_with("test_resource."))
        .map(str::to_owned)
        .collect()
}

/// The instances for which the world holds an object, by name; panics on a
/// name created twice.
fn in_world(world: &Path) -> BTreeSet<String> {
    let log = std::fs::read_to_string(world.join("creates.log")).unwrap_or_default();
    let mut names = BTreeSet::new();
    for line in log.lines() {
        let name = line.split_once(' ').unwrap().1;
        assert!(
            names.insert(format!("test_resource.{name}")),
            "{name} was created twice:\n{log}"
        );
    }
    names
}

fn state_dir(dir: &Path) -> std::path::PathBuf {
    dir.join(".infra/state/s")
}

/// The next apply converges: everything exists once, and a plan then finds
/// nothing to do. Returns the apply's output.
fn converges(dir: &Path, world: &Path, count: usize) -> std::process::Output {
    let output = run(dir, world, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert_eq!(in_world(world).len(), count);
    assert_eq!(in_state(dir, world), in_world(world));
    let plan = run(dir, world, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 0, "{}\n{}", stdout(&plan), stderr(&plan));
    output
}

/// Starts an apply of 12 resources two at a time and waits until the first
/// has finished, so that two more are in flight.
fn apply_in_flight(dir: &TempDir, world: &Path, latency_ms: u32, extra: &[&str]) -> Watched {
    dir.write("main.infra", stack(12));
    let mut args = vec!["apply", "--auto-approve", "--parallelism", "2"];
    args.extend_from_slice(extra);
    let child = Watched::spawn(&mut command(&dir.path, world, latency_ms, &args));
    child.wait_for_stdout(": created (");
    child
}

/// One graceful stop by `signal`: the exit code, the saved state, the
/// released lock, and a next apply that only does the rest.
fn stops_gracefully(signal: &str, exit: i32) {
    let dir = TempDir::new(&format!("signal-{signal}"));
    let world = dir.path.join("world");
    let child = apply_in_flight(&dir, &world, 300, &[]);
    send(&child, signal);
    let output = child.finish();
    let out = stdout(&output);
    assert_eq!(code(&output), exit, "{out}\n{}", stderr(&output));
    assert!(
        out.contains(&format!(
            "SIG{signal}: finishing the actions in flight and saving state"
        )),
        "{out}"
    );
    assert!(out.contains("apply interrupted:"), "{out}");
    assert!(out.contains("(not started)"), "{out}");
    assert!(stderr(&output).contains("State saved as version 1."));
    assert!(
        !state_dir(&dir.path).join("default.lock").exists(),
        "the lock is released"
    );
    assert!(
        !state_dir(&dir.path).join("default.journal").exists(),
        "the journal is folded into the saved state"
    );
    // Every object that exists, and every action reported done, is in state.
    let saved = in_state(&dir.path, &world);
    assert_eq!(saved, in_world(&world));
    assert!(created(&out).is_subset(&saved), "{out}");
    // The next apply creates only the rest.
    let again = converges(&dir.path, &world, 12);
    let again_created = created(&stdout(&again));
    assert!(again_created.is_disjoint(&saved), "{}", stdout(&again));
}

#[test]
fn sigterm_stops_an_apply_gracefully_and_exits_143() {
    stops_gracefully("TERM", 143);
}

#[test]
fn sighup_stops_an_apply_gracefully_and_exits_129() {
    stops_gracefully("HUP", 129);
}

#[test]
fn sigint_stops_an_apply_gracefully_and_exits_130() {
    stops_gracefully("INT", 130);
}

/// A second signal exits without waiting for the calls in flight (3 s
/// each): no state version is written, and the journal holds what finished,
/// which the next apply recovers instead of doing it again.
#[test]
fn a_second_signal_exits_at_once_and_the_journal_keeps_what_finished() {
    let dir = TempDir::new("signal-twice");
    let world = dir.path.join("world");
    let child = apply_in_flight(&dir, &world, 3000, &[]);
    send(&child, "TERM");
    child.wait_for_stderr("SIGTERM: stopping");
    send(&child, "TERM");
    let output = child.finish();
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(code(&output), 143, "{out}\n{err}");
    assert!(err.contains("SIGTERM: exiting now"), "{err}");
    assert!(!err.contains("State saved"), "{err}");
    assert!(!out.contains("apply interrupted:"), "{out}");
    assert!(state_dir(&dir.path).join("default.journal").exists());
    let finished = created(&out);
    assert!(!finished.is_empty(), "{out}");

    let again = converges(&dir.path, &world, 12);
    let err = stderr(&again);
    assert!(err.contains("from an interrupted apply"), "{err}");
    // What finished came from the journal, not from a second call.
    let out = stdout(&again);
    for addr in &finished {
        assert!(!out.contains(&format!("{addr}: ")), "{addr} again:\n{out}");
    }
}

/// A call that outlasts `--grace` does not hold the command: it exits with
/// the signal's code once the grace period is over, and the journal holds
/// every action that finished before.
#[test]
fn a_grace_period_that_runs_out_exits_with_the_journal_intact() {
    let dir = TempDir::new("signal-grace");
    let world = dir.path.join("world");
    let child = apply_in_flight(&dir, &world, 3000, &["--grace", "100ms"]);
    send(&child, "HUP");
    let output = child.finish();
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(code(&output), 129, "{out}\n{err}");
    assert!(
        err.contains("SIGHUP: the grace period (100ms) ran out"),
        "{err}"
    );
    assert!(!err.contains("State saved"), "{err}");
    assert!(state_dir(&dir.path).join("default.journal").exists());
    let finished = created(&out);
    assert!(!finished.is_empty(), "{out}");

    let again = converges(&dir.path, &world, 12);
    let err = stderr(&again);
    assert!(err.contains("from an interrupted apply"), "{err}");
    let out = stdout(&again);
    for addr in &finished {
        assert!(!out.contains(&format!("{addr}: ")), "{addr} again:\n{out}");
    }
}

/// `refresh` finishes the reads in flight, saves and releases the lock.
#[test]
fn sigterm_during_refresh_finishes_saves_and_exits_143() {
    let dir = TempDir::new("signal-refresh");
    let world = dir.path.join("world");
    dir.write("main.infra", stack(4));
    let output = run(&dir.path, &world, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    // The world writes `max-in-flight` when the first slow call starts.
    let marker = world.join("max-in-flight");
    let _ = std::fs::remove_file(&marker);
    let child = Watched::spawn(&mut command(
        &dir.path,
        &world,
        500,
        &["refresh", "--auto-approve", "--parallelism", "1"],
    ));
    common::wait_until(
        "the refresh's first read",
        || marker.exists(),
        || child.stderr_so_far(),
    );
    send(&child, "TERM");
    let output = child.finish();
    assert_eq!(
        code(&output),
        143,
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(stdout(&output), "No drift; state not written.\n");
    assert!(!state_dir(&dir.path).join("default.lock").exists());
}

/// `import` finishes its call in flight, saves and releases the lock.
#[test]
fn sigterm_during_import_finishes_saves_and_exits_143() {
    let dir = TempDir::new("signal-import");
    let world = dir.path.join("world");
    dir.write("main.infra", stack(1));
    std::fs::create_dir_all(world.join("objects")).unwrap();
    std::fs::write(
        world.join("objects/t-0123456789abcdef.json"),
        r#"{"resource_type": "test_resource", "id": "t-0123456789abcdef", "attributes": {"name": "r0", "value": "v0"}}"#,
    )
    .unwrap();
    let marker = world.join("max-in-flight");
    let child = Watched::spawn(&mut command(
        &dir.path,
        &world,
        500,
        &["import", "test_resource.r0", "t-0123456789abcdef"],
    ));
    common::wait_until(
        "the import's call",
        || marker.exists(),
        || child.stderr_so_far(),
    );
    send(&child, "TERM");
    let output = child.finish();
    let out = stdout(&output);
    assert_eq!(code(&output), 143, "{out}\n{}", stderr(&output));
    assert!(out.contains("Import successful!"), "{out}");
    assert!(!state_dir(&dir.path).join("default.lock").exists());
    assert_eq!(
        in_state(&dir.path, &world),
        BTreeSet::from(["test_resource.r0".to_owned()])
    );
}

/// The first signal reaches a running deploy (the test world's update with
/// `INFRA_TEST_DEPLOY`) through its operation's cancellation: it rolls back
/// at once, fails, and the object is unchanged; its started record is
/// cleared, the phases it named are shown off a terminal and audited, and
/// the next apply deploys again.
#[test]
fn the_first_signal_cancels_a_running_deploy_which_rolls_back() {
    let dir = TempDir::new("signal-deploy");
    let world = dir.path.join("world");
    let stack = |value: &str| {
        format!(
            "stack \"s\" {{}}\n\nresource \"test_resource\" \"api\" {{\n  name  = \"api\"\n  value = \"{value}\"\n}}\n"
        )
    };
    dir.write("main.infra", stack("v1"));
    let output = run(&dir.path, &world, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    dir.write("main.infra", stack("v2"));
    // Each step waits 60 s unless cancelled: only the cancel ends it soon.
    let mut deploy = command(&dir.path, &world, 0, &["apply", "--auto-approve"]);
    deploy
        .env("INFRA_TEST_DEPLOY", "start,health,switch,watch")
        .env("INFRA_TEST_DEPLOY_STEP_MS", "60000");
    let child = Watched::spawn(&mut deploy);
    child.wait_for_stdout("test_resource.api: start\n");
    send(&child, "INT");
    let output = child.finish();
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(code(&output), 130, "{out}\n{err}");
    assert!(out.contains("test_resource.api: updating failed"), "{out}");
    let log = std::fs::read_to_string(world.join("deploy.log")).unwrap();
    assert_eq!(log, "step api start\nrollback api start\n");
    let object = std::fs::read_dir(world.join("objects"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect::<Vec<_>>()
        .join("");
    assert!(object.contains("\"value\": \"v1\""), "{object}");
    assert!(!state_dir(&dir.path).join("default.journal").exists());
    let audit =
        std::fs::read_to_string(state_dir(&dir.path).join("default.history/audit.jsonl")).unwrap();
    assert!(audit.contains("\"phase\":\"start\""), "{audit}");
    // Nothing is left pending: the next apply plans the deploy again.
    let again = run(&dir.path, &world, &["apply", "--auto-approve"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(!stderr(&again).contains("resumed"), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("test_resource.api: updated"),
        "{}",
        stdout(&again)
    );
}
