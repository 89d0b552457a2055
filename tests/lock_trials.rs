//! Lock trials: 2 to 4 `infra apply` processes of the real binary start at
//! once on one environment of one stack (the file-backed test world,
//! `INFRA_TEST_WORLD`, every call slowed down), mixed with `infra state rm`,
//! `infra refresh` and `infra import`, all with a `--lock-timeout` long
//! enough to wait. Every process must complete, or (only `import`, whose
//! address an apply may have created first) refuse with a clean diagnostic;
//! none may crash. After each trial the state passes its checksum and keeps
//! its lineage, its serials only grow, and after one converging apply a
//! `plan --detailed-exitcode` shows no changes.
//!
//! `INFRA_LOCK_TRIALS=N` sets the number of trials (10 by default, at least
//! 1); `bench/lock_trials.sh` runs 100 and reports the counts.
//! `INFRA_LOCK_SEED` replays a run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "tests; the trial counts and seed are printed for replay"
)]

use crate::common;

use common::{TempDir, code, stderr, stdout, version_serials};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Resources in the stack besides `test_resource.imp`, which each trial
/// removes from the state and then imports back while applies run.
const RESOURCES: usize = 12;

fn stack() -> String {
    let mut text = String::from("variable \"v\" {\n  type    = string\n  default = \"a\"\n}\n\n");
    for index in 0..RESOURCES {
        text.push_str(&format!(
            "resource \"test_resource\" \"r{index}\" {{\n  name  = \"r{index}\"\n  value = \"${{var.v}}-{index}\"\n}}\n\n"
        ));
    }
    text.push_str("resource \"test_resource\" \"imp\" {\n  name  = \"imp\"\n  value = var.v\n}\n");
    text
}

fn command(dir: &Path, world: &Path, args: &[&str]) -> Command {
    let mut command = common::world_command(dir, world, args);
    command
        .env("INFRA_TEST_LATENCY_MS", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run(dir: &Path, world: &Path, args: &[&str]) -> Output {
    command(dir, world, args).output().unwrap()
}

/// A small deterministic generator, seeded per run and printed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The id of a world object named `name` (`objects/<id>.json`).
fn world_id(world: &Path, name: &str) -> String {
    for entry in std::fs::read_dir(world.join("objects")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json")
            || path
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if json.pointer("/attributes/name").and_then(|n| n.as_str()) == Some(name) {
            return json["id"].as_str().unwrap().to_owned();
        }
    }
    panic!("the world holds no object named {name}");
}

/// What `state pull` prints, parsed and checked (checksum, format): its
/// lineage and serial.
fn pulled(dir: &Path, world: &Path, context: &str) -> (String, u64) {
    let output = run(dir, world, &["state", "pull"]);
    assert_eq!(
        code(&output),
        0,
        "{context}: state pull:\n{}",
        stderr(&output)
    );
    let file = infra::state::StateFile::parse(&output.stdout, Path::new("pulled.json"))
        .unwrap_or_else(|error| panic!("{context}: the pulled state does not verify: {error:?}"));
    (file.lineage, file.serial)
}

/// The version serials `state history --json` lists, in its order.
fn history_serials(dir: &Path, world: &Path, context: &str) -> Vec<u64> {
    let output = run(dir, world, &["state", "history", "--json"]);
    assert_eq!(
        code(&output),
        0,
        "{context}: state history:\n{}",
        stderr(&output)
    );
    let history: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    version_serials(&history)
}

/// One process of a trial: what it is, and the running child.
struct Racer {
    what: String,
    child: Child,
}

/// What a run of the trials saw.
#[derive(Default)]
struct Counts {
    trials: usize,
    processes: usize,
    waits: usize,
    refused_imports: usize,
}

/// Runs trial `number` on the shared stack; `last_serial` is the highest
/// serial seen so far.
fn trial(
    dir: &Path,
    world: &Path,
    seed: u64,
    number: usize,
    lineage: &str,
    last_serial: &mut u64,
    counts: &mut Counts,
) {
    let mut rng = Lcg(seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let context = format!("trial {number} (seed {seed})");

    // `imp` leaves the state (its object stays in the world) so that an
    // import in this trial has something to bring back.
    let output = run(dir, world, &["state", "rm", "test_resource.imp"]);
    assert_eq!(code(&output), 0, "{context}: {}", stderr(&output));
    let imp_id = world_id(world, "imp");

    let mut commands: Vec<Vec<String>> = Vec::new();
    let applies = 2 + rng.below(3);
    for _ in 0..applies {
        let value = ["a", "b", "c"][rng.below(3) as usize];
        commands.push(vec![
            "apply".into(),
            "--auto-approve".into(),
            "--var".into(),
            format!("v={value}"),
        ]);
    }
    if rng.below(2) == 0 {
        commands.push(vec![
            "state".into(),
            "rm".into(),
            format!("test_resource.r{}", rng.below(RESOURCES as u64)),
        ]);
    }
    if rng.below(2) == 0 {
        commands.push(vec!["refresh".into(), "--auto-approve".into()]);
    }
    if rng.below(2) == 0 {
        commands.push(vec!["import".into(), "test_resource.imp".into(), imp_id]);
    }
    // Shuffle, so no kind of command always starts first.
    for index in (1..commands.len()).rev() {
        commands.swap(index, rng.below(index as u64 + 1) as usize);
    }

    let racers: Vec<Racer> = commands
        .into_iter()
        .map(|mut args| {
            args.extend(["--lock-timeout".into(), "300s".into()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Racer {
                what: args.join(" "),
                child: command(dir, world, &args).spawn().unwrap(),
            }
        })
        .collect();
    for racer in racers {
        let output = racer.child.wait_with_output().unwrap();
        let (out, err) = (stdout(&output), stderr(&output));
        let what = &racer.what;
        counts.processes += 1;
        assert!(
            !err.contains("panicked") && output.status.code().is_some(),
            "{context}: `infra {what}` crashed ({:?}):\n{out}\n{err}",
            output.status
        );
        let waited = err.contains("for the state lock") || err.contains("the state lock to be");
        if waited {
            counts.waits += 1;
            assert!(
                err.contains("held"),
                "{context}: `infra {what}` waited without showing the holder:\n{err}"
            );
        }
        if code(&output) == 0 {
            continue;
        }
        // An apply that took the lock first may have created `imp` again:
        // the import then refuses, cleanly.
        assert!(
            what.starts_with("import")
                && code(&output) == 1
                && err.contains("infra::state::address_exists")
                && err.contains("help:"),
            "{context}: `infra {what}` failed ({:?}):\n{out}\n{err}",
            output.status
        );
        counts.refused_imports += 1;
    }

    // The state verifies, keeps its lineage, and its serials only grow.
    let (pulled_lineage, serial) = pulled(dir, world, &context);
    assert_eq!(pulled_lineage, lineage, "{context}: the lineage changed");
    let serials = history_serials(dir, world, &context);
    assert!(
        serials.windows(2).all(|pair| pair[0] < pair[1]),
        "{context}: history serials do not grow: {serials:?}"
    );
    assert_eq!(serials.last(), Some(&serial), "{context}: {serials:?}");
    assert!(
        serial >= *last_serial,
        "{context}: the serial went back from {last_serial} to {serial}"
    );
    *last_serial = serial;

    // One converging apply, then nothing left to do.
    let output = run(dir, world, &["apply", "--auto-approve"]);
    assert_eq!(
        code(&output),
        0,
        "{context}: converging apply:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let output = run(dir, world, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        code(&output),
        0,
        "{context}: the state did not converge:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let (_, serial) = pulled(dir, world, &context);
    assert!(serial >= *last_serial, "{context}: the serial went back");
    *last_serial = serial;
    counts.trials += 1;
}

#[test]
fn concurrent_commands_on_one_environment_wait_for_the_lock_and_keep_the_state_whole() {
    let trials = common::trial_count("INFRA_LOCK_TRIALS", 10);
    let seed = common::trial_seed("INFRA_LOCK_SEED");
    eprintln!("lock trials: {trials}, seed {seed}");

    let dir = TempDir::new("lock-trials");
    dir.write("main.infra", stack());
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();
    let output = run(&dir.path, &world, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "first apply:\n{}", stderr(&output));
    let (lineage, mut last_serial) = pulled(&dir.path, &world, "first apply");

    let mut counts = Counts::default();
    for number in 0..trials {
        trial(
            &dir.path,
            &world,
            seed,
            number,
            &lineage,
            &mut last_serial,
            &mut counts,
        );
    }
    eprintln!(
        "lock trials: {} trials, {} processes, {} waits seen, {} imports refused \
         (an apply created the object first), final serial {last_serial}, failures=0",
        counts.trials, counts.processes, counts.waits, counts.refused_imports
    );
    // Processes started at once on one environment must have met the lock.
    assert!(
        counts.waits > 0,
        "no process waited for the lock in {trials} trials (seed {seed}): the trials tested nothing"
    );
}
