//! End-to-end tests of `infra drift` and `infra refresh` through the real
//! binary: the quickstart's `local_file`s edited and deleted by hand (and the
//! file-backed test world's objects), exit codes 0/2/1, every format as a
//! snapshot, refresh writing a version and an audit record after which drift
//! is clean, drift waiting for a writer's lock without taking one or
//! changing a byte of state, and no secret value in any output.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::{TempDir, code, copy_tree, infra_env, stderr, stdout};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn infra(dir: &Path, args: &[&str]) -> std::process::Output {
    infra_env(dir, args, &[])
}

/// Every file under `dir` with its bytes.
fn snapshot_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(snapshot_files(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

/// The quickstart, applied for `dev`.
fn applied_quickstart() -> TempDir {
    let dir = TempDir::new("drift");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    copy_tree(&source, &dir.path);
    let output = infra(&dir.path, &["apply", "--env", "dev", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    dir
}

fn state_dir(dir: &Path) -> PathBuf {
    dir.join(".infra/state/quickstart")
}

fn lock_path(dir: &Path) -> PathBuf {
    state_dir(dir).join("dev.lock")
}

/// Output with the run-dependent parts replaced: the state lineage.
fn redact(text: &str, dir: &Path) -> String {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir(dir).join("dev.json")).unwrap()).unwrap();
    let lineage = state["lineage"].as_str().unwrap();
    text.replace(lineage, "[lineage]")
        .replace(&dir.display().to_string(), "[dir]")
}

fn drift(dir: &Path, format: &str) -> std::process::Output {
    infra(dir, &["drift", "--env", "dev", "--format", format])
}

/// The three formats of `infra drift`, each checked against its snapshot;
/// every run exits `expected`.
fn snapshot_formats(dir: &Path, name: &str, expected: i32) -> Vec<String> {
    let mut texts = Vec::new();
    for format in ["human", "json", "markdown"] {
        let output = drift(dir, format);
        assert_eq!(
            code(&output),
            expected,
            "{format}: {}\n{}",
            stdout(&output),
            stderr(&output)
        );
        let text = redact(&stdout(&output), dir);
        insta::with_settings!({ snapshot_path => "snapshots/drift", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("{name}__{format}"), text);
        });
        texts.push(stdout(&output));
        texts.push(stderr(&output));
    }
    texts
}

#[test]
fn drift_in_sync_then_changed_and_deleted_outside_in_every_format() {
    let dir = applied_quickstart();
    let before = snapshot_files(&dir.path.join(".infra"));

    snapshot_formats(&dir.path, "in_sync", 0);

    // Outside infra: one file edited, one deleted, the secret one overwritten.
    let secret = std::fs::read_to_string(dir.path.join("out/dev/session.key")).unwrap();
    assert!(secret.len() >= 24);
    std::fs::write(
        dir.path.join("out/dev/api.env"),
        "GREETING=hello\nPORT=9090\nREPLICAS=1\n",
    )
    .unwrap();
    std::fs::remove_file(dir.path.join("out/dev/worker.env")).unwrap();
    std::fs::write(
        dir.path.join("out/dev/session.key"),
        "typed-by-hand-0123456789",
    )
    .unwrap();

    let texts = snapshot_formats(&dir.path, "changed_and_deleted", 2);
    for text in &texts {
        assert!(!text.contains(&secret), "the old secret leaks: {text}");
        assert!(
            !text.contains("typed-by-hand"),
            "the new secret value leaks: {text}"
        );
    }
    let human = &texts[0];
    assert!(
        human.contains("~ local_file.service_env[\"api\"] was changed outside infra"),
        "{human}"
    );
    assert!(
        human.contains("- local_file.service_env[\"worker\"] was deleted outside infra"),
        "{human}"
    );
    assert!(
        human.contains("~ content = (secret) -> (secret)"),
        "{human}"
    );
    assert!(human.contains("infra refresh --env dev"), "{human}");

    // Drift never writes: not the state, the history, the key, a lock or a journal.
    assert_eq!(before, snapshot_files(&dir.path.join(".infra")));
    assert!(!lock_path(&dir.path).exists());
}

#[test]
fn drift_exits_1_on_errors_and_reports_no_state_as_in_sync() {
    let fresh = TempDir::new("drift-fresh");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart"),
        &fresh.path,
    );
    // No state yet: nothing to compare, nothing written (not even a key).
    let output = drift(&fresh.path, "human");
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("No state for environment `dev`"));
    assert!(!fresh.path.join(".infra").exists());

    let output = infra(&fresh.path, &["drift", "--env", "nope"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));

    // A read that fails (a folder where the file was) is an error, not drift.
    let dir = applied_quickstart();
    std::fs::remove_file(dir.path.join("out/dev/api.env")).unwrap();
    std::fs::create_dir(dir.path.join("out/dev/api.env")).unwrap();
    let output = drift(&dir.path, "json");
    assert_eq!(code(&output), 1, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stderr(&output).contains("infra::plan::provider_error"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "", "no partial report on stdout");

    // A state whose key is gone cannot be compared.
    let dir = applied_quickstart();
    std::fs::remove_file(dir.path.join(".infra/key")).unwrap();
    let output = drift(&dir.path, "human");
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("infra::state::missing_key"),
        "{}",
        stderr(&output)
    );
}

fn history(dir: &Path) -> Vec<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(state_dir(dir).join("dev.history"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    versions.sort();
    versions
}

#[test]
fn refresh_accepts_drift_as_a_new_version_with_an_audit_record() {
    let dir = applied_quickstart();
    let secret = std::fs::read_to_string(dir.path.join("out/dev/session.key")).unwrap();
    std::fs::write(dir.path.join("out/dev/api.env"), "PORT=1\n").unwrap();
    std::fs::remove_file(dir.path.join("out/dev/worker.env")).unwrap();
    std::fs::write(dir.path.join("out/dev/session.key"), "new-secret-by-hand").unwrap();
    let versions = history(&dir.path).len();

    // Without a terminal it needs --auto-approve, and writes nothing.
    let before = snapshot_files(&dir.path.join(".infra"));
    let output = infra(&dir.path, &["refresh", "--env", "dev"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--auto-approve"),
        "{}",
        stderr(&output)
    );
    assert_eq!(before, snapshot_files(&dir.path.join(".infra")));

    let output = infra(&dir.path, &["refresh", "--env", "dev", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("Accepted 2 changed and 1 deleted outside infra"),
        "{out}"
    );
    assert!(out.contains("was deleted outside infra"), "{out}");
    assert!(!lock_path(&dir.path).exists(), "the lock is released");
    let all = format!("{out}{}", stderr(&output));
    assert!(
        !all.contains(&secret) && !all.contains("new-secret-by-hand"),
        "{all}"
    );

    // A new version, summarised, and no plaintext secret in it.
    let after = history(&dir.path);
    assert_eq!(after.len(), versions + 1);
    let newest = std::fs::read_to_string(after.last().unwrap()).unwrap();
    assert!(
        newest.contains("refresh: 2 changed, 1 deleted outside"),
        "{newest}"
    );
    assert!(!newest.contains("new-secret-by-hand") && !newest.contains(&secret));
    assert!(!newest.contains("service_env[\\\"worker\\\"]") || !newest.contains("worker.env"));

    // The audit record: command refresh, one action per drifted instance.
    let audit =
        std::fs::read_to_string(state_dir(&dir.path).join("dev.history/audit.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(record["command"], "refresh");
    assert_eq!(record["environment"], "dev");
    assert_eq!(record["result"], "succeeded");
    let actions: Vec<(String, String)> = record["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap().to_owned(),
                a["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            (
                "local_file.service_env[\"api\"]".to_owned(),
                "read".to_owned()
            ),
            (
                "local_file.service_env[\"worker\"]".to_owned(),
                "remove".to_owned()
            ),
            ("local_file.session".to_owned(), "read".to_owned()),
        ]
    );

    // Reality and state agree now.
    let output = drift(&dir.path, "human");
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("No drift."), "{}", stdout(&output));

    // Nothing more to accept: nothing written.
    let output = infra(&dir.path, &["refresh", "--env", "dev", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), "No drift; state not written.\n");
    assert_eq!(history(&dir.path).len(), versions + 1);

    // The plan now shows what the configuration puts back, with no drift.
    let output = infra(&dir.path, &["plan", "--env", "dev", "--detailed-exitcode"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let plan = stdout(&output);
    assert!(!plan.contains("outside infra"), "{plan}");
    assert!(
        plan.contains("+ local_file.service_env[\"worker\"] will be created"),
        "{plan}"
    );
}

/// A lock held by a live process elsewhere (another machine's name).
fn hold_lock(dir: &Path) {
    let lock = serde_json::json!({
        "id": "00000000-0000-4000-8000-000000000001",
        "user": "ci",
        "host": "another-machine",
        "pid": 1,
        "operation": "apply",
        "created_at": 1_700_000_000u64,
    });
    std::fs::write(lock_path(dir), serde_json::to_vec(&lock).unwrap()).unwrap();
}

#[test]
fn drift_waits_for_a_writer_and_gives_up_after_the_lock_timeout() {
    let dir = applied_quickstart();
    hold_lock(&dir.path);
    let lock_bytes = std::fs::read(lock_path(&dir.path)).unwrap();

    let started = Instant::now();
    let output = infra(
        &dir.path,
        &["drift", "--env", "dev", "--lock-timeout", "1s"],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(started.elapsed() >= Duration::from_millis(900));
    let err = stderr(&output);
    assert!(err.contains("waiting for the state lock"), "{err}");
    assert!(err.contains("infra::state::locked"), "{err}");
    assert!(err.contains("drift waited 1s"), "{err}");
    assert_eq!(std::fs::read(lock_path(&dir.path)).unwrap(), lock_bytes);

    // Released while drift waits: drift then compares and succeeds.
    // Removed only once drift says it waits, so the wait really happened.
    let child = common::Watched::spawn(
        Command::new(env!("CARGO_BIN_EXE_infra"))
            .args(["drift", "--env", "dev", "--lock-timeout", "300s"])
            .current_dir(&dir.path)
            .env("NO_COLOR", "1")
            .env_remove("INFRA_STATE_KEY")
            .stdin(Stdio::null()),
    );
    child.wait_for_stderr("waiting for the state lock");
    std::fs::remove_file(lock_path(&dir.path)).unwrap();
    let output = child.finish();
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("No drift."), "{}", stdout(&output));
    assert!(!lock_path(&dir.path).exists(), "drift takes no lock");
}

#[test]
fn drift_does_not_wait_for_a_lock_whose_process_is_gone() {
    let dir = applied_quickstart();
    // The name infra gives this machine (never empty: it falls back to
    // `unknown`), so the lock below names this machine.
    let hostname = infra::host::Host::hostname(&infra::host::RealHost);
    assert!(!hostname.is_empty());
    // A process that has exited: its pid is not running.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let lock = serde_json::json!({
        "id": "00000000-0000-4000-8000-000000000002",
        "user": "ci",
        "host": hostname,
        "pid": pid,
        "operation": "apply",
        "created_at": 1_700_000_000u64,
    });
    std::fs::write(lock_path(&dir.path), serde_json::to_vec(&lock).unwrap()).unwrap();
    let output = infra(
        &dir.path,
        &["drift", "--env", "dev", "--lock-timeout", "20s"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    // It did not wait: no waiting line, only the note about the dead holder.
    assert!(
        !stderr(&output).contains("waiting for the state lock"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("left by a process that is gone"),
        "{}",
        stderr(&output)
    );
    // Not drift's to remove: the next writer takes it over.
    assert!(lock_path(&dir.path).exists());
}

/// A stack of three `test_resource`s in the file-backed test world.
fn world_stack() -> (TempDir, TempDir) {
    let dir = TempDir::new("drift-world");
    let world = TempDir::new("drift-world-objects");
    dir.write(
        "main.infra",
        r#"stack "w" {}

resource "test_resource" "a" {
  name  = "a"
  value = "one"
}

resource "test_resource" "b" {
  name  = "b"
  value = "two"
}

resource "test_resource" "c" {
  name  = "c"
  value = "three"
}
"#,
    );
    (dir, world)
}

fn world_infra(dir: &Path, world: &Path, args: &[&str]) -> std::process::Output {
    infra_env(dir, args, &[("INFRA_TEST_WORLD", world.to_str().unwrap())])
}

/// The world's object file for the object named `name`.
fn world_object(world: &Path, name: &str) -> PathBuf {
    for entry in std::fs::read_dir(world.join("objects")).unwrap() {
        let path = entry.unwrap().path();
        let object: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if object["attributes"]["name"] == name {
            return path;
        }
    }
    panic!("no object named {name}");
}

#[test]
fn drift_in_the_test_world_finds_changed_and_deleted_objects_with_low_parallelism() {
    let (dir, world) = world_stack();
    let output = world_infra(&dir.path, &world.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = world_infra(&dir.path, &world.path, &["drift"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));

    let a = world_object(&world.path, "a");
    let mut object: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    object["attributes"]["value"] = serde_json::json!("edited");
    std::fs::write(&a, serde_json::to_vec(&object).unwrap()).unwrap();
    std::fs::remove_file(world_object(&world.path, "c")).unwrap();

    let output = world_infra(
        &dir.path,
        &world.path,
        &["drift", "--format", "json", "--parallelism", "1"],
    );
    assert_eq!(code(&output), 2, "{}\n{}", stdout(&output), stderr(&output));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(doc["in_sync"], false);
    assert_eq!(doc["summary"]["checked"], 3);
    assert_eq!(doc["summary"]["changed"], 1);
    assert_eq!(doc["summary"]["deleted"], 1);
    assert_eq!(doc["resource_drift"][0]["address"], "test_resource.a");
    assert_eq!(doc["resource_drift"][0]["attributes"][0]["name"], "value");
    assert_eq!(doc["resource_drift"][0]["attributes"][0]["before"], "one");
    assert_eq!(doc["resource_drift"][0]["attributes"][0]["after"], "edited");
    assert_eq!(doc["resource_drift"][1]["address"], "test_resource.c");
    assert_eq!(doc["resource_drift"][1]["actions"][0], "delete");

    // The plan puts drift at its top, then recreates and reverts.
    let output = world_infra(&dir.path, &world.path, &["plan"]);
    let plan = stdout(&output);
    let drift_at = plan.find("Objects changed outside infra").unwrap();
    let actions_at = plan.find("infra will perform").unwrap();
    assert!(drift_at < actions_at, "{plan}");

    let output = world_infra(&dir.path, &world.path, &["refresh", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = world_infra(&dir.path, &world.path, &["drift"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
}

/// An apply killed part way leaves a journal and a lock of a dead process:
/// drift does not wait for that lock and includes the journal in memory;
/// refresh takes the lock over, folds the journal into a version first (as
/// apply does), then compares.
#[test]
fn refresh_recovers_an_interrupted_apply_first() {
    let dir = TempDir::new("drift-journal");
    let world = TempDir::new("drift-journal-world");
    let mut text = String::from("stack \"j\" {}\n\n");
    for i in 0..6 {
        text.push_str(&format!(
            "resource \"test_resource\" \"r{i}\" {{\n  name  = \"r{i}\"\n  value = \"v{i}\"\n}}\n\n"
        ));
    }
    dir.write("main.infra", text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["apply", "--auto-approve", "--parallelism", "1"])
        .current_dir(&dir.path)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STATE_KEY")
        .env("INFRA_TEST_WORLD", &world.path)
        .env("INFRA_TEST_LATENCY_MS", "150")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = dir.path.join(".infra/state/j/default.journal");
    // At least one whole record (a line) is on disk.
    common::wait_until(
        "the apply's first journal record",
        || std::fs::read(&journal).is_ok_and(|bytes| bytes.ends_with(b"\n")),
        || {
            format!(
                "{:?}",
                std::fs::read(&journal).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            )
        },
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(journal.exists(), "the apply never journalled an action");
    assert!(
        !dir.path.join(".infra/state/j/default.json").exists(),
        "killed before it wrote a version"
    );

    let output = world_infra(&dir.path, &world.path, &["drift", "--lock-timeout", "30s"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("left by a process that is gone"), "{err}");
    assert!(
        err.contains("not yet recorded; they are included here"),
        "{err}"
    );
    assert!(journal.exists(), "drift leaves the journal alone");

    let output = world_infra(&dir.path, &world.path, &["refresh", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("took over the state lock"), "{err}");
    assert!(err.contains("from an interrupted apply"), "{err}");
    assert!(!journal.exists(), "the journal is folded into the state");
    assert_eq!(stdout(&output), "No drift; state not written.\n");
    assert!(dir.path.join(".infra/state/j/default.json").exists());

    // The rest is created by the next apply, nothing twice.
    let output = world_infra(&dir.path, &world.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = world_infra(&dir.path, &world.path, &["drift"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("(6 objects checked"),
        "{}",
        stdout(&output)
    );
}

/// The fenced ````markdown blocks of docs/ci.md: exactly what infra prints
/// (the marker line is the workflow's, and the page shows it apart).
fn ci_doc_examples() -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in doc.lines() {
        match (&mut current, line) {
            (None, "````markdown") => current = Some(Vec::new()),
            (Some(lines), "````") => {
                let text = lines.iter().map(|l| format!("{l}\n")).collect();
                blocks.push(text);
                current = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_examples_in_docs_ci_md_are_real_output() {
    let dir = applied_quickstart();
    std::fs::write(dir.path.join("out/dev/api.env"), "PORT=9999\n").unwrap();
    std::fs::remove_file(dir.path.join("out/dev/worker.env")).unwrap();
    let main = dir.path.join("main.infra");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        text.replace("default = \"hello\"", "default = \"hello, world\""),
    )
    .unwrap();
    let plan = infra(
        &dir.path,
        &[
            "plan",
            "--env",
            "dev",
            "--format",
            "markdown",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let drift = drift(&dir.path, "markdown");
    assert_eq!(code(&drift), 2, "{}", stderr(&drift));
    let examples = ci_doc_examples();
    assert_eq!(examples.len(), 2, "{examples:?}");
    assert_eq!(
        examples[0],
        stdout(&plan),
        "docs/ci.md's plan comment is stale"
    );
    assert_eq!(
        examples[1],
        stdout(&drift),
        "docs/ci.md's drift issue is stale"
    );
}
