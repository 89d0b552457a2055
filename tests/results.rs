//! End-to-end tests of results a new user reads and trusts (issue 12,
//! "Wrong results" and the protected-environment refusals), through the real
//! binary on the starter stack of `infra init` and on the quickstart:
//! rollback keeps the outputs of the version it returns to, `envdiff`
//! compares generated secrets, apply counts what it did as the plan counted,
//! and a protected environment's plan is shown whole with one refusal.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::{TempDir, code, copy_tree, infra_env, stderr, stdout};
use std::path::Path;

fn infra(dir: &Path, args: &[&str]) -> std::process::Output {
    infra_env(dir, args, &[])
}

/// Runs `args` and expects exit 0; returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let output = infra(dir, args);
    assert_eq!(
        code(&output),
        0,
        "infra {args:?}\nstdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// A folder with the stack `infra init` writes.
fn starter() -> TempDir {
    let dir = TempDir::new("starter");
    ok(&dir.path, &["init"]);
    dir
}

fn quickstart() -> TempDir {
    let dir = TempDir::new("quickstart");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    copy_tree(&source, &dir.path);
    dir
}

/// Replaces `from` by `to` in the folder's `main.infra`.
fn edit(dir: &TempDir, from: &str, to: &str) {
    let text = String::from_utf8(dir.read("main.infra")).unwrap();
    assert!(text.contains(from), "{from} is not in main.infra");
    dir.write("main.infra", text.replace(from, to));
}

#[test]
fn rollback_keeps_the_outputs_of_the_version_it_returns_to() {
    let dir = starter();
    ok(&dir.path, &["apply", "--env", "dev", "--auto-approve"]);
    let before = ok(&dir.path, &["output", "--env", "dev", "--json"]);
    assert!(before.contains("out/dev/app.env"), "{before}");
    edit(&dir, "hello from dev", "hi from dev");
    ok(&dir.path, &["apply", "--env", "dev", "--auto-approve"]);

    let rollback = ok(&dir.path, &["rollback", "--env", "dev", "--auto-approve"]);
    // The plan updates the file back and keeps both outputs.
    assert!(rollback.contains("hello from dev"), "{rollback}");
    assert!(!rollback.contains("- config_path"), "{rollback}");
    assert!(!rollback.contains("- token"), "{rollback}");
    assert!(
        rollback.contains("Rollback complete! Resources: 0 added, 1 changed, 0 destroyed."),
        "{rollback}"
    );
    let after = ok(&dir.path, &["output", "--env", "dev", "--json"]);
    assert_eq!(after, before);
    let raw = ok(
        &dir.path,
        &["output", "config_path", "--env", "dev", "--raw"],
    );
    assert_eq!(raw.trim(), "out/dev/app.env");
}

#[test]
fn envdiff_compares_generated_secrets_and_what_derives_from_them() {
    let dir = starter();
    // Before any apply, the generated secrets do not exist yet: nothing says "same".
    let text = stdout(&infra(&dir.path, &["envdiff", "dev", "prod", "--all"]));
    let line = text
        .lines()
        .find(|line| line.contains("secret.app_token"))
        .unwrap();
    assert!(line.contains("(known after apply)"), "{text}");

    ok(&dir.path, &["apply", "--env", "dev", "--auto-approve"]);
    ok(&dir.path, &["apply", "--env", "prod", "--auto-approve"]);
    let output = infra(&dir.path, &["envdiff", "dev", "prod", "--all"]);
    let text = stdout(&output);
    assert_eq!(code(&output), 2, "{text}{}", stderr(&output));
    for row in [
        "secret.app_token",
        "local_file.token.sensitive_content",
        "output.token",
    ] {
        let line = text
            .lines()
            .find(|line| line.contains(row))
            .unwrap_or_else(|| panic!("no row {row}:\n{text}"));
        assert!(line.contains("(secret, differs)"), "{line}\n{text}");
        assert!(line.starts_with('~'), "{line}");
    }

    // The same environment twice: the same values, by the same keyed hash.
    let text = ok(&dir.path, &["envdiff", "dev", "dev", "--all"]);
    let line = text
        .lines()
        .find(|line| line.contains("secret.app_token"))
        .unwrap();
    assert!(line.contains("(secret, same)"), "{text}");

    // No plaintext and no hash reach the output.
    let json = stdout(&infra(
        &dir.path,
        &["envdiff", "dev", "prod", "--format", "json"],
    ));
    let token = std::fs::read_to_string(dir.path.join("out/dev/token")).unwrap();
    for text in [&json, &text] {
        assert!(!text.contains(token.trim()), "{text}");
    }
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    let secret = document["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["what"] == "secret.app_token")
        .unwrap();
    assert_eq!(secret["differs"], true, "{secret}");
    assert_eq!(
        secret["a"],
        serde_json::json!({ "present": true, "secret": true })
    );
}

#[test]
fn apply_counts_an_import_as_the_plan_did() {
    let dir = TempDir::new("import");
    dir.write("existing.txt", "old\n");
    dir.write(
        "main.infra",
        r#"stack "imports" {}

resource "local_file" "kept" {
  path    = "existing.txt"
  content = "new\n"
}

import {
  to = local_file.kept
  id = "existing.txt"
}
"#,
    );
    let plan = ok(&dir.path, &["plan"]);
    assert!(
        plan.contains("Plan: 1 to import, 0 to add, 1 to change, 0 to destroy."),
        "{plan}"
    );
    let apply = ok(&dir.path, &["apply", "--auto-approve"]);
    assert!(
        apply.contains("Apply complete! Resources: 1 imported, 0 added, 1 changed, 0 destroyed."),
        "{apply}"
    );
    assert_eq!(dir.read("existing.txt"), b"new\n");
}

#[test]
fn a_protected_plan_with_a_replace_is_shown_whole_then_refused_only_by_apply() {
    let dir = starter();
    ok(&dir.path, &["apply", "--env", "prod", "--auto-approve"]);
    // A new path replaces the file; a new greeting updates the other in place.
    edit(&dir, "out/${env.name}/token", "out/${env.name}/token2");
    edit(&dir, "hello from prod", "hi from prod");

    let plan = infra(&dir.path, &["plan", "--env", "prod"]);
    let text = stdout(&plan);
    assert_eq!(code(&plan), 0, "{text}{}", stderr(&plan));
    assert!(
        text.contains("local_file.config will be updated in place"),
        "{text}"
    );
    assert!(text.contains("must be replaced"), "{text}");
    assert!(
        text.contains("Plan: 1 to add, 1 to change, 1 to destroy."),
        "{text}"
    );
    let refusal = text.find("Apply would be refused").expect(&text);
    assert!(refusal > text.find("Plan: ").unwrap(), "{text}");
    assert!(text.contains("  - local_file.token (replace)"), "{text}");
    assert!(text.contains("--allow-destroy"), "{text}");

    let detailed = infra(&dir.path, &["plan", "--env", "prod", "--detailed-exitcode"]);
    assert_eq!(code(&detailed), 2, "{}", stderr(&detailed));

    let json = ok(&dir.path, &["plan", "--env", "prod", "--format", "json"]);
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        document["impact"]["refused"],
        serde_json::json!([
            { "address": "local_file.token", "actions": ["delete", "create"] }
        ]),
        "{json}"
    );
    let markdown = ok(
        &dir.path,
        &["plan", "--env", "prod", "--format", "markdown"],
    );
    assert!(markdown.contains("> [!CAUTION]"), "{markdown}");
    assert!(
        markdown.contains("> - <code>local_file.token</code> (replace)"),
        "{markdown}"
    );
    assert!(markdown.contains("local_file.config"), "{markdown}");

    // Apply shows the same plan, refuses once, and changes nothing.
    let apply = infra(&dir.path, &["apply", "--env", "prod", "--auto-approve"]);
    assert_eq!(code(&apply), 1, "{}", stdout(&apply));
    assert!(
        stdout(&apply).contains("Plan: 1 to add, 1 to change, 1 to destroy."),
        "{}",
        stdout(&apply)
    );
    let err = stderr(&apply);
    assert_eq!(
        err.matches("infra::plan::protected_environment").count(),
        1,
        "{err}"
    );
    assert!(err.contains("`local_file.token` (replace)"), "{err}");
    assert!(dir.path.join("out/prod/token").exists());
    assert!(!dir.path.join("out/prod/token2").exists());

    // A plan saved without `--allow-destroy` is refused too.
    ok(&dir.path, &["plan", "--env", "prod", "--out", "prod.plan"]);
    let saved = infra(&dir.path, &["apply", "prod.plan", "--env", "prod"]);
    assert_eq!(code(&saved), 1, "{}", stdout(&saved));
    assert!(
        stderr(&saved).contains("infra::plan::protected_environment"),
        "{}",
        stderr(&saved)
    );

    ok(
        &dir.path,
        &[
            "apply",
            "--env",
            "prod",
            "--auto-approve",
            "--allow-destroy",
        ],
    );
    assert!(dir.path.join("out/prod/token2").exists());
}

#[test]
fn destroying_a_protected_environment_gives_one_error_that_lists_everything() {
    let dir = quickstart();
    ok(&dir.path, &["apply", "--env", "prod", "--auto-approve"]);
    let output = infra(&dir.path, &["destroy", "--env", "prod", "--auto-approve"]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let err = stderr(&output);
    assert_eq!(
        err.matches("infra::plan::protected_environment").count(),
        1,
        "{err}"
    );
    for addr in [
        "`local_file.service_env[\"api\"]` (delete)",
        "`local_file.service_env[\"worker\"]` (delete)",
        "`local_file.session` (delete)",
    ] {
        assert!(err.contains(addr), "{addr}\n{err}");
    }
    assert!(err.contains("3 objects"), "{err}");
    // The plan is shown before the refusal.
    assert!(
        stdout(&output).contains("Plan: 0 to add, 0 to change, 3 to destroy."),
        "{}",
        stdout(&output)
    );
    assert!(dir.path.join("out/prod/api.env").exists());
}

#[test]
fn a_failed_instance_holds_back_only_the_blocks_that_use_it() {
    let dir = TempDir::new("keys");
    // `blocked` is a file, so `blocked/platform.txt` cannot be written.
    dir.write("blocked", "x");
    dir.write(
        "main.infra",
        r#"stack "keys" {}

resource "local_file" "team" {
  for_each = { platform = "blocked/platform.txt", payments = "payments.txt" }
  path     = each.value
  content  = each.key
}

# Names the payments team by key: it does not wait on the platform team.
resource "local_file" "billing" {
  path    = "billing.txt"
  content = local_file.team["payments"].sha256
}

# Uses every team.
resource "local_file" "report" {
  path    = "report.txt"
  content = join(",", [for team in local_file.team : team.sha256])
}
"#,
    );
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    let out = stdout(&output);
    assert_eq!(code(&output), 1, "{out}{}", stderr(&output));
    assert!(
        out.contains("apply incomplete: 2 succeeded, 1 failed, 1 skipped."),
        "{out}"
    );
    assert!(out.contains("    local_file.billing (creating)"), "{out}");
    assert!(
        out.contains(
            "    local_file.report (waits on local_file.team[\"platform\"]: it uses any instance \
             of local_file.team)"
        ),
        "{out}"
    );
    assert!(dir.path.join("billing.txt").exists());
    assert!(!dir.path.join("report.txt").exists());
}
