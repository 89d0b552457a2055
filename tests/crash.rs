//! Kill -9 trials: the real binary applies a 200-resource stack against the
//! file-backed test world (`INFRA_TEST_WORLD`, every call slowed down), is
//! killed at a random moment, and applies again. Nothing completed may be
//! lost, no object may be created twice, and the state must converge.
//!
//! `INFRA_CRASH_TRIALS=N` sets the number of trials (10 by default);
//! `bench/crash_trials.sh` runs 100 and reports the count.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "tests; the trial count and seed are printed for replay"
)]

mod common;

use common::{TempDir, code, stderr, stdout};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// 20 chains of 10: each resource's value is the id of the one before, so
/// every chain waits on the ids its predecessors get at apply.
fn stack() -> String {
    let mut text = String::new();
    for chain in 0..20 {
        for link in 0..10 {
            let value = if link == 0 {
                format!("\"chain-{chain}\"")
            } else {
                format!("test_resource.c{chain}_{}.id", link - 1)
            };
            text.push_str(&format!(
                "resource \"test_resource\" \"c{chain}_{link}\" {{\n  name  = \"c{chain}-{link}\"\n  value = {value}\n}}\n\n"
            ));
        }
    }
    text
}

fn command(dir: &Path, world: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_infra"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STATE_KEY")
        .env("INFRA_TEST_WORLD", world)
        .env("INFRA_TEST_LATENCY_MS", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A small deterministic generator, seeded per run and printed, so a failing
/// trial can be replayed with `INFRA_CRASH_SEED`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// How many objects of each name the world holds (`objects/<id>.json`,
/// `{"attributes": {"name": …}}`): two objects with one name are a
/// duplicate create.
fn creates(world: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(world.join("objects")) else {
        return counts;
    };
    for entry in entries.flatten() {
        // A kill in the middle of an atomic write leaves `.ID.json.tmp.PID`,
        // which is not an object.
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if let Some(name) = json
            .pointer("/attributes/name")
            .and_then(serde_json::Value::as_str)
        {
            *counts.entry(name.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn trial(seed: u64, number: usize) {
    let mut rng = Lcg(seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let dir = TempDir::new(&format!("crash-{number}"));
    dir.write("main.infra", stack());
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();

    // A first apply, killed somewhere between its start and its end (a full
    // run takes about 10 links × 2 calls × 10 ms plus start-up).
    let mut child = command(&dir.path, &world, &["apply", "--auto-approve"])
        .spawn()
        .unwrap();
    let wait = Duration::from_millis(20 + rng.next() % 600);
    std::thread::sleep(wait);
    let _ = child.kill();
    let _ = child.wait();

    // Sometimes a second crash, to recover from a recovery.
    if rng.next() % 3 == 0 {
        let mut child = command(&dir.path, &world, &["apply", "--auto-approve"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.next() % 300));
        let _ = child.kill();
        let _ = child.wait();
    }

    let output = command(&dir.path, &world, &["apply", "--auto-approve"])
        .output()
        .unwrap();
    assert_eq!(
        code(&output),
        0,
        "trial {number} (seed {seed}, killed after {wait:?}): {}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let counts = creates(&world);
    assert_eq!(
        counts.len(),
        200,
        "trial {number} (seed {seed}): {counts:?}"
    );
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "trial {number} (seed {seed}, killed after {wait:?}): created twice: {duplicates:?}"
    );
    let again = command(&dir.path, &world, &["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(
        code(&again),
        0,
        "trial {number} (seed {seed}): the state did not converge:\n{}\n{}",
        stdout(&again),
        stderr(&again)
    );
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let trials: usize = std::env::var("INFRA_CRASH_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("INFRA_CRASH_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("crash trials: {trials}, seed {seed}");
    for number in 0..trials {
        trial(seed, number);
    }
    eprintln!("crash trials: {trials} passed");
}
