//! Injected faults, through the real binary against the file-backed test
//! world: `INFRA_TEST_FAULTS=0.1` answers a tenth of the calls with a
//! timeout, a 429 (with and without `Retry-After`) or a 503, reproducibly
//! from `INFRA_TEST_FAULTS_SEED`. Apply, drift and refresh converge, apply
//! reports its retries, and a permanent error still fails without a retry.
//! `bench/faults.sh` runs the same at 10,000 calls.

#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use common::{TempDir, code, stderr, stdout};
use std::collections::BTreeSet;
use std::path::Path;

/// `count` independent test-world resources.
fn stack(count: usize) -> String {
    let mut text = String::from("stack \"f\" {}\n\n");
    for i in 0..count {
        text.push_str(&format!(
            "resource \"test_resource\" \"r{i}\" {{\n  name  = \"r{i}\"\n  value = \"v{i}\"\n}}\n\n"
        ));
    }
    text
}

fn run(
    dir: &Path,
    world: &Path,
    extra_env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    let mut command = common::world_command(dir, world, args);
    command
        .env("INFRA_TEST_FAULTS", "0.1")
        .env("INFRA_TEST_FAULTS_SEED", "13");
    for (name, value) in extra_env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// The injected faults so far, one `op object kind` line each.
fn faults(world: &Path) -> Vec<String> {
    std::fs::read_to_string(world.join("faults.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The names the world created, each once (a duplicate fails).
fn created_once(world: &Path) -> BTreeSet<String> {
    let log = std::fs::read_to_string(world.join("creates.log")).unwrap_or_default();
    let mut names = BTreeSet::new();
    for line in log.lines() {
        let name = line.split_once(' ').unwrap().1.to_owned();
        assert!(names.insert(name.clone()), "{name} created twice:\n{log}");
    }
    names
}

/// The `N retries` line of an apply's summary.
fn retries_reported(out: &str) -> usize {
    out.lines()
        .find_map(|line| {
            line.strip_suffix(" retries after transient provider errors (timeouts, 429, 5xx).")
        })
        .map_or(0, |count| count.parse().unwrap())
}

#[test]
fn apply_drift_and_refresh_converge_when_a_tenth_of_the_calls_fail() {
    let dir = TempDir::new("faults");
    let world = dir.path.join("world");
    dir.write("main.infra", stack(60));
    let fast = ["--retry-backoff", "1ms"];

    let mut args = vec!["apply", "--auto-approve"];
    args.extend(fast);
    let output = run(&dir.path, &world, &[], &args);
    let out = stdout(&output);
    assert_eq!(code(&output), 0, "{out}\n{}", stderr(&output));
    assert!(out.contains("Apply complete! Resources: 60 added"), "{out}");
    assert_eq!(created_once(&world).len(), 60);
    // Every injected fault was one retry, and the summary counts them.
    let injected = faults(&world).len();
    assert!(injected > 0, "no fault was injected");
    assert_eq!(retries_reported(&out), injected, "{out}");

    // Drift and refresh read every object through the faults too.
    let output = run(&dir.path, &world, &[], &["drift"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let output = run(&dir.path, &world, &[], &["refresh", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert_eq!(stdout(&output), "No drift; state not written.\n");
    let output = run(&dir.path, &world, &[], &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let all = faults(&world);
    assert!(all.len() > injected, "the reads met no fault: {all:?}");
    // All four kinds were injected.
    for kind in ["timeout", "429-retry-after", "429", "503"] {
        assert!(
            all.iter().any(|line| line.ends_with(&format!(" {kind}"))),
            "no {kind}: {all:?}"
        );
    }
    assert_eq!(created_once(&world).len(), 60);
}

#[test]
fn the_same_seed_injects_the_same_faults_at_any_parallelism() {
    let mut seen = Vec::new();
    for parallelism in ["1", "16"] {
        let dir = TempDir::new(&format!("faults-seed-{parallelism}"));
        let world = dir.path.join("world");
        dir.write("main.infra", stack(30));
        let args = [
            "apply",
            "--auto-approve",
            "--retry-backoff",
            "1ms",
            "--parallelism",
            parallelism,
        ];
        let output = run(&dir.path, &world, &[], &args);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        let mut lines = faults(&world);
        lines.sort();
        assert!(!lines.is_empty());
        seen.push(lines);
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn a_permanent_error_fails_at_once_among_transient_faults() {
    let dir = TempDir::new("faults-permanent");
    let world = dir.path.join("world");
    dir.write("main.infra", stack(30));
    let output = run(
        &dir.path,
        &world,
        &[("INFRA_TEST_FAIL", "create:r7:permanent")],
        &["apply", "--auto-approve", "--retry-backoff", "1ms"],
    );
    let out = stdout(&output);
    assert_eq!(code(&output), 1, "{out}\n{}", stderr(&output));
    assert!(out.contains("test_resource.r7: creating failed"), "{out}");
    assert!(!out.contains("test_resource.r7: attempt"), "{out}");
    assert!(out.contains("29 succeeded, 1 failed, 0 skipped"), "{out}");
    assert!(retries_reported(&out) > 0, "{out}");
}
