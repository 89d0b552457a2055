//! The one path every command takes to state, after an interrupted apply:
//! reading commands (`plan`, `drift`, `state list|show|pull`, `output`) see
//! the journalled actions in memory and say so; writing commands (`apply`,
//! `state rm`, …) fold them into a version of their own first; a journal is
//! never folded onto a version other than the one it was written against.
//!
//! An interrupted apply is made exactly: a real apply runs, its state's
//! instances become the journal's records, and the state folder is put back
//! as it was before that apply (the process "died" after its last journal
//! record, before writing state).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::{TempDir, code, copy_tree, infra_env, stderr, stdout};
use infra::state::{JournalRecord, LocalBackend};
use std::path::{Path, PathBuf};

fn infra(dir: &Path, args: &[&str]) -> std::process::Output {
    infra_env(dir, args, &[])
}

const STACK: &str = "core";

fn two_nulls(dir: &TempDir) {
    dir.write(
        "main.infra",
        "stack \"core\" {}\n\nresource \"null_resource\" \"a\" {}\n\nresource \"null_resource\" \"b\" {}\n",
    );
}

fn files(dir: &TempDir, content: &str) {
    dir.write(
        "main.infra",
        format!(
            "stack \"core\" {{}}\n\nresource \"local_file\" \"f\" {{\n  for_each = {{ one = 1, two = 2, three = 3 }}\n  path     = \"out/${{each.key}}.txt\"\n  content  = \"{content} ${{each.value}}\"\n}}\n"
        ),
    );
}

fn apply_ok(dir: &Path) {
    let output = infra(dir, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
}

fn journal_path(dir: &Path) -> PathBuf {
    let host = infra::host::RealHost;
    LocalBackend::new(&host, dir, STACK, "default").journal_path()
}

/// The current state's instances as the journal records an apply writes.
fn records_of_current_state(dir: &Path) -> Vec<JournalRecord> {
    let host = infra::host::RealHost;
    let backend = LocalBackend::new(&host, dir, STACK, "default");
    let state = backend.read().unwrap().unwrap().to_state();
    let mut records = Vec::new();
    for resource in &state.resources {
        for instance in &resource.instances {
            records.push(JournalRecord::Set {
                resource: resource.addr.clone(),
                provider: resource.provider.clone(),
                instance: instance.clone(),
            });
        }
    }
    records
}

/// Appends `records` (any serializable form, so that tests can write records
/// this build may not know) to the environment's journal.
fn journal<T: serde::Serialize>(dir: &Path, records: &[T]) {
    let host = infra::host::RealHost;
    let backend = LocalBackend::new(&host, dir, STACK, "default");
    let mut journal = backend.journal();
    for record in records {
        journal.append(record).unwrap();
    }
}

/// The state folder (not the key) as it is now.
fn save_state(dir: &Path) -> TempDir {
    let saved = TempDir::new("saved-state");
    copy_tree(&dir.join(".infra/state"), &saved.path);
    saved
}

fn put_back_state(dir: &Path, saved: Option<&TempDir>) {
    let state = dir.join(".infra/state");
    std::fs::remove_dir_all(&state).unwrap();
    if let Some(saved) = saved {
        copy_tree(&saved.path, &state);
    }
}

/// A first apply of `a` and `b` killed after journalling both creates,
/// before writing any state.
fn killed_first_apply() -> TempDir {
    let dir = TempDir::new("killed-first");
    two_nulls(&dir);
    apply_ok(&dir.path);
    let records = records_of_current_state(&dir.path);
    put_back_state(&dir.path, None);
    journal(&dir.path, &records);
    dir
}

#[test]
fn state_list_after_a_killed_first_apply_shows_the_created_objects() {
    let dir = killed_first_apply();
    let output = infra(&dir.path, &["state", "list"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), "null_resource.a\nnull_resource.b\n");
    assert!(
        stderr(&output).contains("infra::state::unrecorded_actions")
            && stderr(&output).contains("an interrupted apply left 2 actions not yet recorded"),
        "{}",
        stderr(&output)
    );
    // Reading wrote nothing: the journal is still there, no state file.
    assert!(journal_path(&dir.path).exists());
    assert!(!dir.path.join(".infra/state/core/default.json").exists());
}

#[test]
fn state_rm_after_a_killed_first_apply_folds_the_journal_first() {
    let dir = killed_first_apply();
    let output = infra(&dir.path, &["state", "rm", "null_resource.b"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(!journal_path(&dir.path).exists(), "the journal was folded");
    let list = infra(&dir.path, &["state", "list"]);
    assert_eq!(stdout(&list), "null_resource.a\n", "{}", stderr(&list));
    // The fold is a version of its own, before the removal.
    let history = stdout(&infra(&dir.path, &["state", "history"]));
    let recovered = history.find("recovered 2 actions").expect(&history);
    let removed = history.find("state rm: null_resource.b").expect(&history);
    assert!(recovered < removed, "{history}");
    // The next apply has no journal to fold and only creates `b` again.
    let again = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(!stderr(&again).contains("recovered"), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("null_resource.b: created"),
        "{}",
        stdout(&again)
    );
    assert!(
        !stdout(&again).contains("null_resource.a: created"),
        "{}",
        stdout(&again)
    );
}

/// An update apply (content "one" to "two") killed after journalling every
/// update, before writing state: the files on disk are already updated.
fn killed_update_apply() -> TempDir {
    let dir = TempDir::new("killed-update");
    files(&dir, "one");
    apply_ok(&dir.path);
    let before = save_state(&dir.path);
    files(&dir, "two");
    apply_ok(&dir.path);
    let records = records_of_current_state(&dir.path);
    put_back_state(&dir.path, Some(&before));
    journal(&dir.path, &records);
    dir
}

#[test]
fn an_interrupted_update_is_not_reported_as_drift_by_plan() {
    let dir = killed_update_apply();
    let output = infra(&dir.path, &["plan", "--format", "markdown"]);
    let out = stdout(&output);
    assert_eq!(code(&output), 0, "{out}\n{}", stderr(&output));
    assert!(!out.contains("changed outside infra"), "{out}");
    assert!(
        stderr(&output).contains("an interrupted apply left 3 actions not yet recorded"),
        "{}",
        stderr(&output)
    );
    let human = infra(&dir.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        code(&human),
        0,
        "no changes: {}\n{}",
        stdout(&human),
        stderr(&human)
    );
    assert!(journal_path(&dir.path).exists(), "plan writes nothing");
}

#[test]
fn an_interrupted_update_is_not_reported_as_drift_by_drift() {
    let dir = killed_update_apply();
    let output = infra(&dir.path, &["drift"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        !stdout(&output).contains("changed outside infra"),
        "{}",
        stdout(&output)
    );
    assert!(journal_path(&dir.path).exists(), "drift writes nothing");
}

fn base(lineage: &str, serial: u64) -> serde_json::Value {
    serde_json::json!({ "kind": "base", "lineage": lineage, "serial": serial })
}

fn lineage(dir: &Path) -> String {
    let host = infra::host::RealHost;
    let backend = LocalBackend::new(&host, dir, STACK, "default");
    backend.read().unwrap().unwrap().lineage
}

/// A state at serial 1 holding `a` and `b`, and a journal that removes `b`,
/// started against `serial` of `lineage`.
fn journal_against(lineage_of: impl FnOnce(&Path) -> String, serial: u64) -> TempDir {
    let dir = TempDir::new("journal-base");
    two_nulls(&dir);
    apply_ok(&dir.path);
    let lineage = lineage_of(&dir.path);
    let remove = serde_json::to_value(JournalRecord::Remove {
        instance: "null_resource.b".parse().unwrap(),
    })
    .unwrap();
    journal(&dir.path, &[base(&lineage, serial), remove]);
    dir
}

fn assert_refused_and_kept(dir: &Path, args: &[&str], expected_code: &str) {
    let journal = std::fs::read(journal_path(dir)).unwrap();
    let state = std::fs::read(dir.join(".infra/state/core/default.json")).unwrap();
    let output = infra(dir, args);
    assert_eq!(code(&output), 1, "{args:?}: {}", stdout(&output));
    assert!(
        stderr(&output).contains(expected_code),
        "{args:?}: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("the journal was kept"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(journal_path(dir)).unwrap(), journal, "kept");
    assert_eq!(
        std::fs::read(dir.join(".infra/state/core/default.json")).unwrap(),
        state,
        "the state is unchanged"
    );
}

#[test]
fn a_journal_written_against_another_serial_is_refused_and_kept() {
    let dir = journal_against(lineage, 7);
    for args in [
        &["apply", "--auto-approve"][..],
        &["state", "rm", "null_resource.a"],
        &["refresh", "--auto-approve"],
        &["plan"],
        &["state", "list"],
    ] {
        assert_refused_and_kept(&dir.path, args, "infra::state::journal_stale");
    }
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    let err = stderr(&output);
    assert!(err.contains("started from version 7"), "{err}");
    assert!(err.contains("now at version 1"), "{err}");
    assert!(err.contains("infra refresh"), "the way out: {err}");
}

#[test]
fn a_journal_of_another_lineage_is_refused_and_kept() {
    let dir = journal_against(|_| String::from("00000000-0000-4000-8000-000000000000"), 1);
    for args in [
        &["apply", "--auto-approve"][..],
        &["state", "rm", "null_resource.a"],
        &["plan"],
    ] {
        assert_refused_and_kept(&dir.path, args, "infra::state::journal_foreign_lineage");
    }
}

#[test]
fn a_journal_written_against_the_current_version_is_folded() {
    let dir = journal_against(lineage, 1);
    let list = infra(&dir.path, &["state", "list"]);
    assert_eq!(stdout(&list), "null_resource.a\n", "{}", stderr(&list));
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("recovered 1 actions from an interrupted apply"),
        "{}",
        stderr(&output)
    );
    assert!(!journal_path(&dir.path).exists());
}

#[test]
fn a_torn_last_record_is_reported_and_the_complete_ones_used() {
    let dir = killed_first_apply();
    let path = journal_path(&dir.path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"J1 999 deadbeef {\"kind\":\"set\",\"resou");
    std::fs::write(&path, bytes).unwrap();
    let output = infra(&dir.path, &["state", "list"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), "null_resource.a\nnull_resource.b\n");
    assert!(
        stderr(&output).contains("last record was cut off mid-write"),
        "{}",
        stderr(&output)
    );
    let apply = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    assert!(
        stderr(&apply).contains("recovered 2 actions")
            && stderr(&apply).contains("cut off mid-write"),
        "{}",
        stderr(&apply)
    );
    assert!(stdout(&apply).contains("No changes."), "{}", stdout(&apply));
}

#[test]
fn a_backend_this_build_lacks_is_refused_with_the_list() {
    // The language refuses names it does not know (`expected_literal`), and
    // this build has every backend the language knows: a name the build
    // lacks reaches the backends only from a newer language.
    let Err(error) = infra::state::backend::Kind::from_name("etcd", None) else {
        panic!("a backend this build lacks must be refused");
    };
    assert_eq!(error.code, infra::diag::Code::StateUnknownBackend);
    assert!(
        error.help.contains("the backends are: local, postgres, s3"),
        "{}",
        error.help
    );
}

#[test]
fn an_s3_stack_without_a_bucket_is_refused_by_every_command_and_nothing_is_stored() {
    let dir = TempDir::new("backend");
    dir.write(
        "main.infra",
        "stack \"core\" {\n  state = \"s3\"\n}\n\nresource \"null_resource\" \"a\" {}\n",
    );
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["state", "list"],
        &["drift"],
        &["refresh", "--auto-approve"],
    ] {
        let output = infra(&dir.path, args);
        assert_eq!(code(&output), 1, "{args:?}: {}", stdout(&output));
        let err = stderr(&output);
        assert!(
            err.contains("infra::state::backend_config"),
            "{args:?}: {err}"
        );
        assert!(err.contains("state_bucket"), "{args:?}: {err}");
    }
    assert!(
        !dir.path.join(".infra/state").exists(),
        "nothing was stored in a backend the stack did not ask for"
    );
}

#[test]
fn force_unlock_folds_what_the_gone_process_journalled() {
    let dir = killed_first_apply();
    let lock = dir.path.join(".infra/state/core/default.lock");
    std::fs::write(
        &lock,
        r#"{"id":"gone-1","user":"ana","host":"ci","pid":4000000,"operation":"apply","created_at":1}"#,
    )
    .unwrap();
    let output = infra(&dir.path, &["force-unlock", "gone-1", "--force"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stderr(&output).contains("recovered 2 actions"),
        "{}",
        stderr(&output)
    );
    assert!(!lock.exists());
    assert!(!journal_path(&dir.path).exists());
    let history = stdout(&infra(&dir.path, &["state", "history"]));
    assert!(history.contains("recovered 2 actions"), "{history}");
}

#[test]
fn state_history_says_what_is_not_recorded_yet_and_still_lists_a_stale_journal() {
    let dir = journal_against(lineage, 1);
    let output = infra(&dir.path, &["state", "history"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("left 1 action not yet recorded"),
        "{}",
        stderr(&output)
    );
    let stale = journal_against(lineage, 7);
    let output = infra(&stale.path, &["state", "history"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("apply"), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("infra::state::journal_stale"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn state_show_after_a_killed_first_apply_shows_the_created_object() {
    let dir = killed_first_apply();
    let output = infra(&dir.path, &["state", "show", "null_resource.b"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("# null_resource.b\nprovider = \"null\"\n"),
        "{}",
        stdout(&output)
    );
    assert!(journal_path(&dir.path).exists(), "show writes nothing");
}

#[test]
fn restore_over_an_unreadable_state_keeps_the_journal_and_says_so() {
    let dir = journal_against(lineage, 1);
    let current = dir.path.join(".infra/state/core/default.json");
    let bytes = std::fs::read(&current).unwrap();
    std::fs::write(&current, &bytes[..bytes.len() / 2]).unwrap();
    let journal = std::fs::read(journal_path(&dir.path)).unwrap();
    let output = infra(&dir.path, &["state", "restore", "1"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stderr(&output).contains("journal of an interrupted apply was kept"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(journal_path(&dir.path)).unwrap(), journal);
    // It was started from version 1; the state is now version 2.
    assert_refused_and_kept(&dir.path, &["state", "list"], "infra::state::journal_stale");
}

#[test]
fn state_pull_after_a_killed_first_apply_prints_the_state_with_the_journal_folded_in() {
    let dir = killed_first_apply();
    let output = infra(&dir.path, &["state", "pull"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("infra::state::unrecorded_actions"),
        "{}",
        stderr(&output)
    );
    let file = infra::state::StateFile::parse(&output.stdout, Path::new("pulled.json")).unwrap();
    assert_eq!(file.to_state().instance_count(), 2);
    assert_eq!(file.serial, 0, "at the serial it was folded onto");
    assert!(journal_path(&dir.path).exists(), "pull writes nothing");
}

#[test]
fn plan_refuses_a_state_sealed_with_another_key_and_plans_nothing() {
    // The key is checked on the plan's path too, not only on apply's.
    let dir = TempDir::new("plan-other-key");
    two_nulls(&dir);
    apply_ok(&dir.path);
    let other_key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let output = infra_env(&dir.path, &["plan"], &[("INFRA_STATE_KEY", other_key)]);
    assert_ne!(code(&output), 0, "{}", stdout(&output));
    assert!(
        stderr(&output).contains("infra::state::wrong_key"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stdout(&output).contains("No changes"),
        "{}",
        stdout(&output)
    );
    // With its own key, the same state plans no change.
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}
