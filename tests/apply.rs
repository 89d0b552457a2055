//! End-to-end tests of `infra apply`, `destroy`, `rollback`, `import` and
//! `output` through the real binary: the quickstart as the README runs it,
//! confirmation rules, saved plans, locks, journal recovery, rollback round
//! trips and the secret-leak check over everything they write.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::{TempDir, code, copy_tree, files_under, infra_env, stderr, stdout};
use std::path::Path;

fn infra(dir: &Path, args: &[&str]) -> std::process::Output {
    infra_env(dir, args, &[])
}

fn quickstart() -> TempDir {
    let dir = TempDir::new("quickstart");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    copy_tree(&source, &dir.path);
    dir
}

#[test]
fn the_readme_quickstart_applies_then_has_no_changes_then_destroys() {
    let dir = quickstart();
    let p = dir.path.to_str().unwrap();
    let output = infra(
        &dir.path,
        &["apply", "-C", p, "--env", "dev", "--auto-approve"],
    );
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("Apply complete! Resources: 3 added"), "{out}");
    // Off a TTY, progress is plain lines.
    assert!(
        out.contains("local_file.service_env[\"api\"]: creating…"),
        "{out}"
    );
    assert!(
        out.contains("local_file.service_env[\"api\"]: created ("),
        "{out}"
    );
    let api = std::fs::read_to_string(dir.path.join("out/dev/api.env")).unwrap();
    assert!(api.contains("PORT=8080"), "{api}");
    assert!(dir.path.join("out/dev/session.key").exists());

    let again = infra(
        &dir.path,
        &["apply", "-C", p, "--env", "dev", "--auto-approve"],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(stdout(&again).contains("No changes."), "{}", stdout(&again));

    let plan = infra(
        &dir.path,
        &["plan", "-C", p, "--env", "dev", "--detailed-exitcode"],
    );
    assert_eq!(code(&plan), 0, "{}\n{}", stdout(&plan), stderr(&plan));

    let output = infra(&dir.path, &["output", "-C", p, "--env", "dev", "--json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("out/dev/api.env"),
        "{}",
        stdout(&output)
    );

    let destroy = infra(
        &dir.path,
        &["destroy", "-C", p, "--env", "dev", "--auto-approve"],
    );
    assert_eq!(
        code(&destroy),
        0,
        "{}\n{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    assert!(
        stdout(&destroy).contains("Destroy complete! Resources: 0 added, 0 changed, 3 destroyed."),
        "{}",
        stdout(&destroy)
    );
    // Each delete says why: the user asked, not that the configuration lost it.
    let labelled = stdout(&destroy)
        .lines()
        .filter(|line| line.ends_with("will be destroyed (destroy requested)"))
        .count();
    assert_eq!(labelled, 3, "{}", stdout(&destroy));
    assert!(!stdout(&destroy).contains("no longer in configuration"));
    assert!(!dir.path.join("out/dev/api.env").exists());
    assert!(!dir.path.join("out/dev/session.key").exists());
}

#[test]
fn a_saved_plan_names_the_command_that_applies_it_and_apply_prints_the_outputs() {
    let dir = TempDir::new("saved-plan-outputs");
    dir.write(
        "main.infra",
        r#"stack "o" {}
secret "token" {
  env = "OUTPUTS_TOKEN"
}
resource "null_resource" "a" {
  triggers = { token = secret.token }
}
output "greeting" {
  value = "hello"
}
output "token" {
  value     = secret.token
  sensitive = true
}
"#,
    );
    let env = [("OUTPUTS_TOKEN", "planted-outputs-secret")];
    let plan = infra_env(&dir.path, &["plan", "--out", "saved.plan"], &env);
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    let out = stdout(&plan);
    assert!(out.contains("Saved the plan to: saved.plan"), "{out}");
    let command = out
        .lines()
        .skip_while(|line| !line.starts_with("To apply exactly this plan, run:"))
        .nth(1)
        .map(str::trim)
        .unwrap_or_default();
    assert_eq!(command, "infra apply saved.plan", "{out}");

    // The command as printed (its words after `infra`) applies the plan.
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let applied = infra_env(&dir.path, &words, &env);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let out = stdout(&applied);
    let outputs = out
        .split_once("\nOutputs:\n\n")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no outputs after apply: {out}"));
    assert_eq!(outputs, "greeting = \"hello\"\ntoken    = (sensitive)\n");
    assert!(!out.contains("planted-outputs-secret"), "{out}");
    assert!(!stderr(&applied).contains("planted-outputs-secret"));
}

#[test]
fn without_a_tty_apply_needs_auto_approve_and_changes_nothing() {
    let dir = quickstart();
    let output = infra(&dir.path, &["apply", "--env", "dev"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::cli::confirmation_required"), "{err}");
    assert!(err.contains("--auto-approve"), "{err}");
    assert!(!dir.path.join("out").exists());
    assert!(!dir.path.join(".infra/state/quickstart/dev.json").exists());
}

#[test]
fn a_protected_environment_refuses_destroy_without_allow_destroy() {
    let dir = quickstart();
    let output = infra(&dir.path, &["apply", "--env", "prod", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = infra(&dir.path, &["destroy", "--env", "prod", "--auto-approve"]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(stderr(&output).contains("protected"), "{}", stderr(&output));
    assert!(dir.path.join("out/prod/api.env").exists());
    let output = infra(
        &dir.path,
        &[
            "destroy",
            "--env",
            "prod",
            "--auto-approve",
            "--allow-destroy",
        ],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!dir.path.join("out/prod/api.env").exists());
}

#[test]
fn a_saved_plan_applies_once_and_is_stale_after() {
    let dir = quickstart();
    let output = infra(&dir.path, &["plan", "--env", "dev", "--out", "dev.plan"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = infra(&dir.path, &["apply", "dev.plan", "--env", "dev"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(dir.path.join("out/dev/api.env").exists());
    let output = infra(&dir.path, &["apply", "dev.plan", "--env", "dev"]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("infra::plan::stale_state"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_plan_for_another_environment_is_refused() {
    let dir = quickstart();
    let output = infra(&dir.path, &["plan", "--env", "dev", "--out", "dev.plan"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = infra(&dir.path, &["apply", "dev.plan", "--env", "prod"]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("infra::plan::wrong_environment"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path.join("out").exists());
}

#[test]
fn a_locked_state_fails_at_once_and_names_the_holder() {
    let dir = quickstart();
    let host = infra::host::RealHost;
    let backend = infra::state::LocalBackend::new(&host, &dir.path, "quickstart", "dev");
    let lock = backend
        .lock("apply", std::time::Duration::ZERO, &mut |_| {})
        .unwrap();
    let output = infra(&dir.path, &["apply", "--env", "dev", "--auto-approve"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::state::locked"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(!dir.path.join("out").exists());
    lock.release().unwrap();
}

const ROLLBACK_V1: &str = r#"
resource "local_file" "conf" {
  path    = "out/app.conf"
  content = "version one\n"
}

resource "null_resource" "marker" {
  triggers = { conf = local_file.conf.sha256 }
}
"#;

const ROLLBACK_V2: &str = r#"
resource "local_file" "conf" {
  path    = "out/app.conf"
  content = "version two\n"
}

resource "local_file" "extra" {
  path    = "out/extra.conf"
  content = "added in v2\n"
}

resource "null_resource" "marker" {
  triggers = { conf = local_file.conf.sha256 }
}
"#;

/// `infra rollback` in `dir`, after which the files are ROLLBACK_V1's again.
fn rolls_back_to_v1(dir: &TempDir) {
    let output = infra(&dir.path, &["rollback", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert_eq!(
        std::fs::read_to_string(dir.path.join("out/app.conf")).unwrap(),
        "version one\n"
    );
    assert!(!dir.path.join("out/extra.conf").exists());
}

/// A stack in `dir` applied as ROLLBACK_V1 (version 1), then ROLLBACK_V2 (version 2).
fn applied_v1_then_v2(dir: &TempDir) {
    for source in [ROLLBACK_V1, ROLLBACK_V2] {
        dir.write("main.infra", source);
        let output = infra(&dir.path, &["apply", "--auto-approve"]);
        assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    }
}

#[test]
fn rollback_goes_back_to_the_previous_apply() {
    let dir = TempDir::new("rollback");
    applied_v1_then_v2(&dir);
    assert_eq!(
        std::fs::read_to_string(dir.path.join("out/app.conf")).unwrap(),
        "version two\n"
    );
    assert!(dir.path.join("out/extra.conf").exists());

    rolls_back_to_v1(&dir);

    // The rollback is in the history and the audit like any apply.
    let history = infra(&dir.path, &["state", "history", "--json"]);
    assert_eq!(code(&history), 0, "{}", stderr(&history));
    assert!(
        stdout(&history).contains("rollback"),
        "{}",
        stdout(&history)
    );
}

#[test]
fn rollback_undoes_the_last_apply_even_after_a_refresh_wrote_a_version() {
    let dir = TempDir::new("rollback-refresh");
    applied_v1_then_v2(&dir);
    // Someone edits the file by hand; refresh records it as version 3.
    std::fs::write(dir.path.join("out/app.conf"), "edited by hand\n").unwrap();
    let output = infra(&dir.path, &["refresh", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let history = stdout(&infra(&dir.path, &["state", "history"]));
    assert!(history.contains("refresh"), "{history}");

    // The rollback undoes the last apply (back to version 1), not the refresh.
    rolls_back_to_v1(&dir);
}

#[test]
fn a_half_written_journal_is_recovered_by_the_next_apply() {
    let dir = TempDir::new("journal");
    dir.write(
        "main.infra",
        "stack \"j\" {}\n\nresource \"null_resource\" \"a\" {}\n\nresource \"null_resource\" \"b\" {}\n",
    );
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    // An interrupted apply journalled one complete record (a delete of `a`)
    // and was killed in the middle of the next one.
    let host = infra::host::RealHost;
    let backend = infra::state::LocalBackend::new(&host, &dir.path, "j", "default");
    let mut journal = backend.journal();
    journal
        .append(&infra::state::JournalRecord::Remove {
            instance: "null_resource.a".parse().unwrap(),
        })
        .unwrap();
    let path = backend.journal_path();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"J1 999 deadbeef {\"kind\":\"set\",\"resou");
    std::fs::write(&path, bytes).unwrap();

    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stderr(&output).contains("recovered 1 actions from an interrupted apply"),
        "{}",
        stderr(&output)
    );
    // The recovered state lacks `a`, so the apply creates it again.
    assert!(
        stdout(&output).contains("null_resource.a: created"),
        "{}",
        stdout(&output)
    );
    assert!(
        !stdout(&output).contains("null_resource.b: created"),
        "{}",
        stdout(&output)
    );
    assert!(
        !path.exists(),
        "the journal is cleared once folded into state"
    );
    let history = infra(&dir.path, &["state", "history"]);
    assert!(
        stdout(&history).contains("recovered 1 actions"),
        "{}",
        stdout(&history)
    );
}

#[test]
fn a_lock_left_by_a_killed_process_is_taken_over() {
    let dir = quickstart();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let host_name = {
        use infra::host::Host;
        infra::host::RealHost.hostname()
    };
    let lock = format!(
        "{{\"id\":\"11111111-2222-4333-8444-555555555555\",\"user\":\"ci\",\"host\":\"{host_name}\",\"pid\":{dead},\"operation\":\"apply\",\"created_at\":1}}"
    );
    dir.write(".infra/state/quickstart/dev.lock", lock);
    let output = infra(&dir.path, &["apply", "--env", "dev", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stderr(&output).contains("took over the state lock"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path.join(".infra/state/quickstart/dev.lock").exists());
}

#[test]
fn no_secret_reaches_any_output_or_file_of_apply_output_history_or_destroy() {
    const CANARY: &str = "canary-Zq81-never-print";
    let dir = TempDir::new("leak-apply");
    dir.write(
        "main.infra",
        r#"secret "token" {
  env = "LEAK_CANARY"
}

secret "generated" {
  generate = { length = 32 }
}

resource "null_resource" "uses" {
  triggers = { token = secret.token, generated = secret.generated }
}

output "token" {
  value     = secret.token
  sensitive = true
}

output "generated" {
  value     = secret.generated
  sensitive = true
}
"#,
    );
    let env = [("LEAK_CANARY", CANARY)];
    let mut outputs = Vec::new();
    for args in [
        &["plan", "--out", "p.plan"][..],
        &["apply", "p.plan"],
        &["apply", "--auto-approve"],
        &["output"],
        &["output", "--json"],
        &["output", "token"],
        &["state", "list"],
        &["state", "show", "null_resource.uses"],
        &["state", "pull"],
        &["state", "history"],
        &["state", "history", "--json"],
    ] {
        let output = infra_env(&dir.path, args, &env);
        assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
        outputs.push((args.join(" "), output));
    }
    // The generated secret's value, which only --show-secrets prints.
    let shown = infra_env(&dir.path, &["output", "generated", "--show-secrets"], &env);
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    let generated = stdout(&shown).trim().trim_matches('"').to_owned();
    assert!(generated.len() >= 32, "{generated}");
    let destroy = infra_env(&dir.path, &["destroy", "--auto-approve"], &env);
    assert_eq!(code(&destroy), 0, "{}", stderr(&destroy));
    outputs.push(("destroy".into(), destroy));

    for (what, output) in &outputs {
        for needle in [CANARY, generated.as_str()] {
            assert!(!stdout(output).contains(needle), "{what}: stdout leaks");
            assert!(!stderr(output).contains(needle), "{what}: stderr leaks");
        }
    }
    let mut files = files_under(&dir.path.join(".infra"));
    // An empty list would search nothing: the runs above wrote state,
    // history and an audit log under `.infra`.
    assert!(
        files.len() >= 3,
        "too few files under .infra to search: {files:?}"
    );
    files.push(dir.path.join("p.plan"));
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for needle in [CANARY, generated.as_str()] {
            assert!(!text.contains(needle), "{} leaks a secret", file.display());
        }
    }
}

/// Runs `infra ARGS` on a pseudo-terminal (util-linux `script`), typing
/// `answer` once the prompt is on the terminal; returns everything the
/// terminal showed.
fn on_a_tty(dir: &Path, args: &str, answer: &str, no_color: bool) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let binary = env!("CARGO_BIN_EXE_infra");
    let mut command = Command::new("script");
    command
        .args(["-qefc", &format!("{binary} {args}"), "/dev/null"])
        .current_dir(dir)
        .env_remove("INFRA_STATE_KEY")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped());
    if no_color {
        command.env("NO_COLOR", "1");
    }
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "`script` (util-linux, Debian package bsdutils) is needed for the terminal tests"
    );
    let mut child = common::Watched::spawn(&mut command);
    // Typed only once the question is on the terminal: typed earlier, the
    // terminal would echo it before the prompt and the test would not show
    // that the answer was read after asking.
    child.wait_for_stdout("Enter a value:");
    let mut stdin = child.child.stdin.take().unwrap();
    stdin.write_all(answer.as_bytes()).unwrap();
    drop(stdin);
    let output = child.finish();
    format!("{}{}", stdout(&output), stderr(&output))
}

#[test]
fn on_a_terminal_apply_asks_and_shows_a_live_progress_bar() {
    let dir = quickstart();
    let shown = on_a_tty(&dir.path, "apply --env dev", "no\n", false);
    assert_eq!(
        shown.matches("Only 'yes' will be accepted").count(),
        1,
        "said once: {shown}"
    );
    assert!(
        shown.contains("apply cancelled: nothing was changed."),
        "{shown}"
    );
    assert!(!dir.path.join("out").exists());

    let shown = on_a_tty(&dir.path, "apply --env dev", "yes\n", false);
    assert!(
        shown.contains("Apply complete! Resources: 3 added"),
        "{shown}"
    );
    assert!(shown.contains("3/3 actions"), "the bar: {shown}");
    assert!(
        shown.contains("\u{1b}[32m"),
        "colour on a terminal: {shown}"
    );
    assert!(dir.path.join("out/dev/api.env").exists());

    let shown = on_a_tty(&dir.path, "destroy --env dev", "yes\n", true);
    assert!(shown.contains("Destroy complete!"), "{shown}");
    assert!(
        !shown.contains("\u{1b}[32m"),
        "no colour with NO_COLOR: {shown}"
    );
}

const WORLD_STACK: &str = r#"
resource "test_resource" "a" {
  name = "a"
}

resource "test_resource" "b" {
  name = "b"
}

resource "test_resource" "c" {
  name  = "c"
  value = test_resource.b.id
}
"#;

#[test]
fn a_failure_skips_only_its_dependents_and_the_next_apply_converges() {
    let dir = TempDir::new("partial");
    dir.write("main.infra", WORLD_STACK);
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();
    let world_env = world.to_str().unwrap();
    let output = infra_env(
        &dir.path,
        &["apply", "--auto-approve"],
        &[
            ("INFRA_TEST_WORLD", world_env),
            ("INFRA_TEST_FAIL", "create:b:permanent"),
        ],
    );
    assert_eq!(code(&output), 1, "{}\n{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("apply incomplete: 1 succeeded, 1 failed, 1 skipped."),
        "{out}"
    );
    assert!(
        out.contains("test_resource.c (waits on test_resource.b)"),
        "{out}"
    );
    assert!(
        stderr(&output).contains("infra::apply::provider_error"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("main.infra"),
        "{}",
        stderr(&output)
    );

    let output = infra_env(
        &dir.path,
        &["apply", "--auto-approve"],
        &[("INFRA_TEST_WORLD", world_env)],
    );
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("Resources: 2 added"),
        "a is kept from the first run: {out}"
    );
    let audit = infra_env(
        &dir.path,
        &["state", "history", "--json"],
        &[("INFRA_TEST_WORLD", world_env)],
    );
    assert!(stdout(&audit).contains("\"partial\""), "{}", stdout(&audit));
}

#[test]
fn transient_failures_are_retried_and_each_retry_is_shown() {
    let dir = TempDir::new("retry");
    dir.write("main.infra", WORLD_STACK);
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();
    let output = infra_env(
        &dir.path,
        &["apply", "--auto-approve", "--retry-backoff", "10ms"],
        &[
            ("INFRA_TEST_WORLD", world.to_str().unwrap()),
            ("INFRA_TEST_FAIL", "create:a:transient:2"),
        ],
    );
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("test_resource.a: attempt 1 failed"), "{out}");
    assert!(out.contains("test_resource.a: attempt 2 failed"), "{out}");
    assert!(out.contains("Apply complete! Resources: 3 added"), "{out}");
}

#[test]
fn the_first_interrupt_stops_scheduling_and_saves_what_finished() {
    use std::process::{Command, Stdio};
    let dir = TempDir::new("interrupt");
    // One chain of 30: each waits on the one before, 100 ms per call.
    let mut text = String::new();
    for i in 0..30 {
        let value = if i == 0 {
            String::from("\"start\"")
        } else {
            format!("test_resource.r{}.id", i - 1)
        };
        text.push_str(&format!(
            "resource \"test_resource\" \"r{i}\" {{\n  name  = \"r{i}\"\n  value = {value}\n}}\n\n"
        ));
    }
    dir.write("main.infra", text);
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();
    let child = common::Watched::spawn(
        Command::new(env!("CARGO_BIN_EXE_infra"))
            .args(["apply", "--auto-approve"])
            .current_dir(&dir.path)
            .env("NO_COLOR", "1")
            .env_remove("INFRA_STATE_KEY")
            .env("INFRA_TEST_WORLD", &world)
            .env("INFRA_TEST_LATENCY_MS", "100")
            .stdin(Stdio::null()),
    );
    // Interrupted once the first action has finished, mid-chain.
    child.wait_for_stdout("test_resource.r0: created");
    let status = Command::new("kill")
        .args(["-INT", &child.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.finish();
    assert_eq!(
        code(&output),
        130,
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let out = stdout(&output);
    assert!(
        out.contains("SIGINT: finishing the actions in flight"),
        "{out}"
    );
    assert!(out.contains("apply interrupted:"), "{out}");
    assert!(out.contains("(not started)"), "{out}");
    // What finished is in state: the next apply creates only the rest.
    let world_env = world.to_str().unwrap();
    let output = infra_env(
        &dir.path,
        &["apply", "--auto-approve"],
        &[("INFRA_TEST_WORLD", world_env)],
    );
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(!out.contains("test_resource.r0: created"), "{out}");
    assert!(out.contains("test_resource.r29: created"), "{out}");
}

#[test]
fn import_brings_an_existing_file_under_management() {
    let dir = TempDir::new("import");
    dir.write(
        "main.infra",
        "resource \"local_file\" \"notes\" {\n  path    = \"notes.txt\"\n  content = \"kept\\n\"\n}\n",
    );
    dir.write("notes.txt", "kept\n");
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(
        code(&output),
        1,
        "creating over an existing file is refused"
    );
    assert!(
        stderr(&output).contains("infra import"),
        "{}",
        stderr(&output)
    );

    let output = infra(&dir.path, &["import", "local_file.notes", "notes.txt"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("Import successful!"),
        "{}",
        stdout(&output)
    );
    let plan = infra(&dir.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 0, "{}\n{}", stdout(&plan), stderr(&plan));

    let output = infra(&dir.path, &["import", "local_file.notes", "notes.txt"]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("infra::state::address_exists"),
        "{}",
        stderr(&output)
    );
    let output = infra(&dir.path, &["import", "local_file.note", "notes.txt"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(err.contains("infra::apply::import_target_missing"), "{err}");
    assert!(err.contains("did you mean `local_file.notes`"), "{err}");
}

/// A tmux server on its own socket, with one detached session named `live`
/// of the given size running `command`; gone when dropped, passed or failed.
/// `None` (the test is recorded as skipped) when tmux is missing and
/// `INFRA_SKIP_SERVICES=1`.
struct Pane {
    socket: String,
}

impl Pane {
    fn start(test: &str, width: u16, height: u16, command: &str) -> Option<Pane> {
        use std::process::Command;
        if Command::new("tmux").arg("-V").output().is_err() {
            if std::env::var("INFRA_SKIP_SERVICES").as_deref() == Ok("1") {
                common::skipped(test, "tmux is not on PATH (INFRA_SKIP_SERVICES=1)");
                return None;
            }
            panic!(
                "tmux is needed for the terminal display tests: apt-get install tmux \
                 (tests/run.sh does), or set INFRA_SKIP_SERVICES=1 to skip them"
            );
        }
        let pane = Pane {
            socket: format!("infra-{test}-{}", std::process::id()),
        };
        let started = pane.tmux(&[
            "new-session",
            "-d",
            "-s",
            "live",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(started.status.success(), "{}", stderr(&started));
        Some(pane)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    /// What the pane shows now.
    fn screen(&self) -> String {
        stdout(&self.tmux(&["capture-pane", "-p", "-t", "live"]))
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The live display fits the terminal: one overall bar with the count and
/// the longest-running actions under it, not one line per action in flight.
/// Run in a 12-line tmux pane with 20 slow actions at once.
#[test]
fn on_a_terminal_the_live_display_fits_the_screen_and_shows_the_count() {
    let dir = TempDir::new("live-display");
    let mut stack = String::new();
    for i in 0..40 {
        stack.push_str(&format!(
            "resource \"test_resource\" \"r{i:02}\" {{\n  name = \"r{i:02}\"\n}}\n"
        ));
    }
    dir.write("main.infra", &stack);
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();
    let command = format!(
        "cd '{}' && INFRA_TEST_WORLD='{}' INFRA_TEST_LATENCY_MS=1500 NO_COLOR=1 '{}' apply \
         --auto-approve --refresh=false --parallelism 20; echo EXITED $?; sleep 600",
        dir.path.display(),
        world.display(),
        env!("CARGO_BIN_EXE_infra")
    );
    let Some(pane) = Pane::start("live-count", 100, 12, &command) else {
        return;
    };
    let screen = || pane.screen();
    // Once 20 actions run at once, the display lists what fits and counts
    // the rest.
    common::wait_until(
        "the live display with every slot busy",
        || screen().contains("more running"),
        screen,
    );
    let shown = screen();
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines.len() <= 12, "{shown}");
    let bar = lines
        .iter()
        .find(|line| line.contains("/40 actions"))
        .unwrap_or_else(|| panic!("no overall count on the screen:\n{shown}"));
    assert!(bar.contains("elapsed, ETA"), "{bar}");
    let listed = lines
        .iter()
        .filter(|line| line.contains(": creating…"))
        .count();
    assert!(
        (1..=8).contains(&listed),
        "{listed} running actions listed:\n{shown}"
    );
    common::wait_until(
        "the apply to finish",
        || screen().contains("EXITED"),
        screen,
    );
    let done = screen();
    assert!(done.contains("EXITED 0"), "{done}");
    assert!(
        done.contains("Apply complete! Resources: 40 added"),
        "{done}"
    );
}

/// On a terminal, a running action shows the phase its provider reports
/// (the test world's deploy steps), next to the action in the live area,
/// and the next phase replaces it.
#[test]
fn on_a_terminal_a_running_deploy_shows_its_current_phase() {
    let dir = TempDir::new("live-phase");
    let stack = |value: &str| {
        format!(
            "resource \"test_resource\" \"api\" {{\n  name  = \"api\"\n  value = \"{value}\"\n}}\n"
        )
    };
    dir.write("main.infra", stack("v1"));
    let world = dir.path.join("world");
    std::fs::create_dir_all(&world).unwrap();
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_infra"))
        .current_dir(&dir.path)
        .env("INFRA_TEST_WORLD", &world)
        .args(["apply", "--auto-approve"])
        .output()
        .unwrap();
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    dir.write("main.infra", stack("v2"));
    let command = format!(
        "cd '{}' && INFRA_TEST_WORLD='{}' INFRA_TEST_DEPLOY=start,health,switch \
         INFRA_TEST_DEPLOY_STEP_MS=1500 NO_COLOR=1 '{}' apply --auto-approve; \
         echo EXITED $?; sleep 600",
        dir.path.display(),
        world.display(),
        env!("CARGO_BIN_EXE_infra")
    );
    let Some(pane) = Pane::start("live-phase", 100, 12, &command) else {
        return;
    };
    let screen = || pane.screen();
    let phase_line = |phase: &str| {
        screen()
            .lines()
            .any(|line| line.contains("test_resource.api: updating…") && line.contains(phase))
    };
    common::wait_until(
        "the phase `health` on the screen",
        || phase_line("health"),
        screen,
    );
    common::wait_until(
        "the phase `switch` on the screen",
        || phase_line("switch"),
        screen,
    );
    let shown = screen();
    let line = shown
        .lines()
        .find(|line| line.contains("test_resource.api: updating…"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        !line.contains("health"),
        "the old phase is still shown: {line}"
    );
    common::wait_until(
        "the apply to finish",
        || screen().contains("EXITED"),
        screen,
    );
    let done = screen();
    assert!(done.contains("EXITED 0"), "{done}");
}
