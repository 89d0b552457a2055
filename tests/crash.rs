//! Kill -9 trials: the real binary applies a 200-resource stack against the
//! file-backed test world (`INFRA_TEST_WORLD`, every call slowed down), is
//! killed once its journal holds a random number of records (polled, not
//! timed), and applies again. Nothing completed may be lost, no object may be
//! created twice, and the state must converge.
//!
//! Each trial records whether the kill interrupted work (the journal held
//! records the state did not); most trials must have, or the trials tested
//! nothing.
//!
//! `INFRA_CRASH_TRIALS=N` sets the number of trials (10 by default, at least
//! 1); `bench/crash_trials.sh` runs 100 and reports the count.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "tests; the trial count and seed are printed for replay"
)]

mod common;

use common::{READY_WITHIN, TempDir, code, files_under, stderr, stdout};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
/// duplicate create. `Err` names the object files that could not be read
/// or parsed, or hold no name: the world writes them atomically, so a torn
/// one is a finding, not something to skip.
fn creates(world: &Path) -> Result<BTreeMap<String, usize>, Vec<String>> {
    let mut counts = BTreeMap::new();
    let mut unreadable = Vec::new();
    let entries = match std::fs::read_dir(world.join("objects")) {
        Ok(entries) => entries,
        Err(error) => return Err(vec![format!("{}/objects: {error}", world.display())]),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                unreadable.push(format!("{}/objects: {error}", world.display()));
                continue;
            }
        };
        // A kill in the middle of an atomic write leaves `.ID.json.tmp.PID`,
        // which is not an object.
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let object = std::fs::read_to_string(entry.path())
            .map_err(|error| error.to_string())
            .and_then(|text| {
                serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| format!("{e}: {text:?}"))
            })
            .and_then(|json| {
                json.pointer("/attributes/name")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("no attributes.name in {json}"))
            });
        match object {
            Ok(object) => *counts.entry(object).or_insert(0) += 1,
            Err(problem) => unreadable.push(format!("{name}: {problem}")),
        }
    }
    if unreadable.is_empty() {
        Ok(counts)
    } else {
        Err(unreadable)
    }
}

/// The apply journal under the stack's `.infra` folder, if one was written.
fn journal(dir: &Path) -> Option<PathBuf> {
    files_under(&dir.join(".infra"))
        .into_iter()
        .find(|path| path.extension().is_some_and(|e| e == "journal"))
}

/// The whole records (lines) in the journal; 0 when there is none.
fn journal_records(dir: &Path) -> usize {
    journal(dir)
        .and_then(|path| std::fs::read(path).ok())
        .map_or(0, |bytes| bytes.iter().filter(|b| **b == b'\n').count())
}

/// How many instances the written state holds (0 before the first version).
fn state_instances(dir: &Path) -> usize {
    files_under(&dir.join(".infra/state"))
        .into_iter()
        .find(|path| path.file_name().is_some_and(|name| name == "default.json"))
        .and_then(|path| {
            let bytes = std::fs::read(&path).ok()?;
            infra::state::StateFile::parse(&bytes, &path).ok()
        })
        .map_or(0, |file| file.info().instance_count)
}

/// Kills `child` (SIGKILL) once the journal holds at least `records` whole
/// records, or when it has exited on its own first. Polls the journal: no
/// fixed sleep decides where the kill lands.
fn kill_after_records(dir: &Path, child: &mut Child, records: usize) {
    let deadline = std::time::Instant::now() + READY_WITHIN;
    loop {
        if journal_records(dir) >= records || matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the apply wrote {} journal records in {READY_WITHIN:?}, waiting for {records}",
            journal_records(dir)
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A killed apply whose output nobody reads.
fn spawn_apply(dir: &Path, world: &Path) -> Child {
    command(dir, world, &["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// One trial; whether its first kill interrupted work (the journal held
/// records that the state had not taken in).
fn trial(seed: u64, number: usize) -> bool {
    let mut rng = Lcg(seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let dir = TempDir::new(&format!("crash-{number}"));
    dir.write("main.infra", stack());
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();

    // A first apply, killed once its journal holds 1 to 300 of the 400
    // records a whole run writes (a pending and a set record per create).
    let wait = 1 + (rng.next() % 300) as usize;
    let mut child = spawn_apply(&dir.path, &world);
    kill_after_records(&dir.path, &mut child, wait);
    // Work was interrupted when the journal outlived the kill with records
    // the state had not taken in: a finished apply writes all 200 instances
    // to the state, then clears the journal.
    let interrupted = journal_records(&dir.path) > 0 && state_instances(&dir.path) < 200;
    let wait = format!("{wait} journal records");

    // Sometimes a second crash, to recover from a recovery: killed once
    // the journal has grown past what the first run left.
    if rng.next() % 3 == 0 {
        let left = journal_records(&dir.path);
        let mut child = spawn_apply(&dir.path, &world);
        kill_after_records(
            &dir.path,
            &mut child,
            left + 1 + (rng.next() % 100) as usize,
        );
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
    let counts = creates(&world).unwrap_or_else(|unreadable| {
        panic!("trial {number} (seed {seed}): unreadable world objects: {unreadable:#?}")
    });
    assert_eq!(
        counts.len(),
        200,
        "trial {number} (seed {seed}): {counts:?}"
    );
    // The reading `interrupted` relies on sees the finished state.
    assert_eq!(
        state_instances(&dir.path),
        200,
        "trial {number} (seed {seed})"
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
    interrupted
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let trials: usize = match std::env::var("INFRA_CRASH_TRIALS") {
        Err(_) => 10,
        Ok(text) => match text.parse() {
            Ok(0) | Err(_) => {
                panic!("INFRA_CRASH_TRIALS={text:?}: give a number of trials, at least 1")
            }
            Ok(n) => n,
        },
    };
    let seed: u64 = std::env::var("INFRA_CRASH_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("crash trials: {trials}, seed {seed}");
    let mut interrupted = 0;
    for number in 0..trials {
        if trial(seed, number) {
            interrupted += 1;
        }
    }
    eprintln!("crash trials: {trials} passed, {interrupted} killed mid-apply");
    // A kill after the apply finished tests nothing; most must land mid-apply.
    assert!(
        interrupted * 2 > trials,
        "only {interrupted} of {trials} trials (seed {seed}) killed the apply while it worked"
    );
}
