//! `infra plan` end to end on temporary folders: the three output formats,
//! exit codes, the plan file, secrets kept out of every output and file, and
//! a `local_file` planned without touching the disk.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;
use std::path::Path;
use std::process::Output;

use common::{TempDir, code, files_under, stderr, stdout};

/// The value of the planted secret; it must never be seen.
const CANARY: &str = "canary-pl4n-s3cr3t-91c2";

/// Two null resources (one depending on the other), a variable, an
/// environment and a secret used in `triggers`.
const NULL_STACK: &str = r#"stack "demo" {
  default_environment = "dev"
}

variable "greeting" {
  type    = string
  default = "hello"
}

environment "dev" {
  vars = { greeting = "hi" }
}

secret "s" {
  env = "S"
}

resource "null_resource" "a" {
  triggers = { greeting = var.greeting, token = secret.s }
}

resource "null_resource" "b" {
  triggers = { a = null_resource.a.id }
}
"#;

/// Runs `infra ARGS` in `dir` with the secret in the environment, colour off.
fn infra(dir: &Path, args: &[&str]) -> Output {
    common::infra_env(dir, args, &[("S", CANARY)])
}

fn null_stack(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write("main.infra", NULL_STACK);
    dir
}

fn assert_no_canary(output: &Output, what: &str) {
    assert!(
        !stdout(output).contains(CANARY) && !stderr(output).contains(CANARY),
        "the secret leaked in {what}:\n{}\n{}",
        stdout(output),
        stderr(output)
    );
}

#[test]
fn plan_a_null_stack_prints_creates_and_the_summary_and_exits_0() {
    let dir = null_stack("human");
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("+ null_resource.a"), "{text}");
    assert!(text.contains("+ null_resource.b"), "{text}");
    assert!(
        text.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    // Read-only: no state, no lock, no key without a plan file.
    assert!(
        files_under(&dir.path.join(".infra")).is_empty(),
        "plan wrote {:?}",
        files_under(&dir.path.join(".infra"))
    );
}

#[test]
fn detailed_exitcode_is_2_when_there_are_changes() {
    let dir = null_stack("detailed");
    let output = infra(&dir.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let output = infra(
        &dir.path,
        &["plan", "--detailed-exitcode", "--refresh=false"],
    );
    assert_eq!(code(&output), 2, "{}", stderr(&output));
}

#[test]
fn plan_takes_the_folder_env_var_and_target() {
    let dir = null_stack("flags");
    let root = std::env::temp_dir();
    let folder = dir.path.to_str().unwrap();
    let output = infra(
        &root,
        &[
            "plan",
            "-C",
            folder,
            "--env",
            "dev",
            "--var",
            "greeting=yo",
            "--target",
            "null_resource.a",
        ],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("\"yo\""), "{text}");
    assert!(
        text.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    let output = infra(&dir.path, &["plan", "--env", "nope"]);
    assert_eq!(code(&output), 1);
}

#[test]
fn plan_json_has_the_format_version_and_every_resource_change() {
    let dir = null_stack("json");
    let output = infra(&dir.path, &["plan", "--format", "json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(json.get("format_version").is_some(), "{json}");
    let changes = json["resource_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{json}");
}

#[test]
fn plan_markdown_has_the_summary_table() {
    let dir = null_stack("markdown");
    let output = infra(&dir.path, &["plan", "--format", "markdown"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("| Add | Change | Destroy |"), "{text}");
    assert!(text.contains("| 2 | 0 | 0 |"), "{text}");
}

#[test]
fn plan_out_writes_a_plan_file() {
    let dir = null_stack("out");
    let output = infra(&dir.path, &["plan", "--out", "plan.bin"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let bytes = dir.read("plan.bin");
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        json["format_version"],
        infra::plan::FORMAT_VERSION,
        "{json}"
    );
    assert_eq!(json["changes"].as_array().unwrap().len(), 2, "{json}");
    // The key that authenticates it was created; no state was written.
    assert!(dir.path.join(".infra/key").is_file());
    assert!(!dir.path.join(".infra/state/demo/dev.json").exists());
}

#[test]
fn the_secret_never_appears_in_any_output_or_file() {
    let dir = null_stack("secret");
    for format in ["human", "json", "markdown"] {
        let output = infra(&dir.path, &["plan", "--format", format]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        assert_no_canary(&output, format);
        let output = infra(
            &dir.path,
            &["plan", "--format", format, "--out", "plan.bin"],
        );
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        assert_no_canary(&output, &format!("{format} --out"));
        let bytes = dir.read("plan.bin");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "the secret is in the plan file"
        );
    }
    // The secret was really planned: `triggers.token` of the create holds a
    // sealed envelope (ciphertext, not the value), not a dropped or plain one.
    let file: serde_json::Value = serde_json::from_slice(&dir.read("plan.bin")).unwrap();
    let sealed: Vec<&str> = file["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|change| change.pointer("/after/value/json/triggers/token/sealed"))
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert_eq!(
        sealed.len(),
        1,
        "no sealed triggers.token in the plan file: {file}"
    );
    assert!(
        sealed[0].len() > CANARY.len() && !sealed[0].contains(CANARY),
        "{file}"
    );
    for path in files_under(&dir.path.join(".infra")) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "the secret is in {}",
            path.display()
        );
    }
}

#[test]
fn a_local_file_resource_plans_without_writing_it() {
    let dir = TempDir::new("local");
    dir.write(
        "main.infra",
        r#"resource "null_resource" "a" {}

resource "local_file" "f" {
  path    = "out/x.txt"
  content = "x"
}
"#,
    );
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("local_file.f will be created"), "{out}");
    assert!(out.contains("size = 1"), "{out}");
    assert!(out.contains("Plan: 2 to add"), "{out}");
    assert!(!dir.path.join("out").exists());
}

#[test]
fn a_target_that_matches_nothing_is_an_error_with_a_suggestion() {
    let dir = null_stack("unknown-target");
    for command in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let mut args = command.to_vec();
        args.extend(["--target", "null_resource.c"]);
        let output = infra(&dir.path, &args);
        assert_eq!(code(&output), 1, "{args:?}: {}", stdout(&output));
        let text = stderr(&output);
        assert!(text.contains("infra::plan::unknown_target"), "{text}");
        assert!(text.contains("did you mean `null_resource.a`?"), "{text}");
        assert!(
            !stdout(&output).contains("No changes"),
            "{}",
            stdout(&output)
        );
    }
    // A whole module that does not exist, and an instance key the resource
    // does not expand to, match nothing either.
    for target in ["module.net", "null_resource.a[3]"] {
        let output = infra(&dir.path, &["plan", "--target", target]);
        assert_eq!(code(&output), 1, "{target}: {}", stdout(&output));
        assert!(
            stderr(&output).contains("infra::plan::unknown_target"),
            "{}",
            stderr(&output)
        );
    }
    // Nothing was applied.
    assert!(!dir.path.join(".infra/state/demo/dev.json").exists());
}

#[test]
fn a_targeted_plan_says_it_is_partial_in_every_format() {
    let dir = null_stack("partial");
    let output = infra(&dir.path, &["plan", "--target", "null_resource.a"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("Warning: resource targeting is in effect (null_resource.a)"),
        "{text}"
    );
    assert!(text.contains("This plan is partial"), "{text}");

    let output = infra(
        &dir.path,
        &[
            "plan",
            "--target",
            "null_resource.a",
            "--format",
            "markdown",
        ],
    );
    let text = stdout(&output);
    assert!(
        text.contains("> **Warning:** resource targeting is in effect (null_resource.a)"),
        "{text}"
    );

    let output = infra(
        &dir.path,
        &["plan", "--target", "null_resource.a", "--format", "json"],
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(doc["targets"], serde_json::json!(["null_resource.a"]));

    // Without --target: no warning, and an empty list.
    let output = infra(&dir.path, &["plan"]);
    assert!(
        !stdout(&output).contains("targeting"),
        "{}",
        stdout(&output)
    );
    let output = infra(&dir.path, &["plan", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(doc["targets"], serde_json::json!([]));
}

#[test]
fn an_undeclared_var_is_an_error_with_a_suggestion_for_every_command() {
    let dir = null_stack("unknown-var");
    for command in [
        &["validate"][..],
        &["plan"][..],
        &["apply", "--auto-approve"][..],
        &["graph"][..],
    ] {
        let mut args = command.to_vec();
        args.extend(["--var", "greting=yo"]);
        let output = infra(&dir.path, &args);
        assert_eq!(code(&output), 1, "{args:?}: {}", stdout(&output));
        let text = stderr(&output);
        assert!(
            text.contains("infra::check::unknown_variable"),
            "{args:?}: {text}"
        );
        assert!(
            text.contains("did you mean `greeting`?"),
            "{args:?}: {text}"
        );
        // Once, not once per environment.
        assert_eq!(
            text.matches("infra::check::unknown_variable").count(),
            1,
            "{text}"
        );
    }
    assert!(!dir.path.join(".infra/state/demo/dev.json").exists());
}

/// `infra plan ARGS` under `script`, so stdout is a terminal; the screen as
/// written (colour codes kept).
fn plan_on_a_tty(dir: &Path, args: &str, env: &[(&str, &str)]) -> String {
    assert!(
        std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok(),
        "`script` (util-linux, Debian package bsdutils) is needed for the terminal tests"
    );
    let binary = env!("CARGO_BIN_EXE_infra");
    let mut command = std::process::Command::new("script");
    command
        .args(["-qefc", &format!("{binary} plan {args}"), "/dev/null"])
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

#[test]
fn plan_symbols_are_coloured_on_a_terminal_only_and_never_with_no_color() {
    let dir = TempDir::new("plan-colour");
    dir.write("main.infra", NULL_STACK);
    let env = [("S", CANARY)];
    let shown = plan_on_a_tty(&dir.path, "", &env);
    assert!(
        shown.contains("  \u{1b}[32m+\u{1b}[0m null_resource.a will be created"),
        "{shown:?}"
    );
    assert!(shown.contains("\u{1b}[1mPlan: 2 to add"), "{shown:?}");
    for quiet in [
        plan_on_a_tty(&dir.path, "--no-color", &env),
        plan_on_a_tty(&dir.path, "", &[("S", CANARY), ("NO_COLOR", "1")]),
        stdout(&infra(&dir.path, &["plan"])),
    ] {
        assert!(quiet.contains("null_resource.a will be created"), "{quiet}");
        assert!(!quiet.contains('\u{1b}'), "{quiet:?}");
    }
}

/// The `id` of `null_resource.NAME` in the recorded state.
fn null_id(dir: &Path, name: &str) -> String {
    let shown = infra(dir, &["show", "--format", "json"]);
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    let json: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == format!("null_resource.{name}"))
        .and_then(|r| r["values"]["id"].as_str())
        .unwrap()
        .to_owned()
}

#[test]
fn replace_forces_a_replacement_that_nothing_else_would_and_apply_makes_it() {
    let dir = null_stack("replace");
    let applied = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let (a, b) = (null_id(&dir.path, "a"), null_id(&dir.path, "b"));
    let quiet = infra(&dir.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        code(&quiet),
        0,
        "nothing changes without --replace: {}",
        stdout(&quiet)
    );

    let plan = infra(&dir.path, &["plan", "--replace", "null_resource.a"]);
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("null_resource.a must be replaced"), "{text}");
    assert!(
        text.contains("replacement requested with --replace"),
        "{text}"
    );
    // b's trigger is a's id, which a replacement renews: b follows.
    assert!(text.contains("null_resource.b"), "{text}");
    let json = infra(
        &dir.path,
        &["plan", "--replace", "null_resource.a", "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let change = json["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "null_resource.a")
        .unwrap()
        .clone();
    assert_eq!(change["reason"], "replace_requested", "{change}");

    let applied = infra(
        &dir.path,
        &["apply", "--auto-approve", "--replace", "null_resource.a"],
    );
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    assert_ne!(null_id(&dir.path, "a"), a, "a was replaced");
    assert_ne!(null_id(&dir.path, "b"), b, "b follows a's new id");
    assert_no_canary(&applied, "apply --replace");
    let quiet = infra(&dir.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&quiet), 0, "converged: {}", stdout(&quiet));
}

#[test]
fn replace_of_an_address_that_names_nothing_is_refused() {
    let dir = null_stack("replace-unknown");
    let applied = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let runs: [&[&str]; 2] = [
        &["plan", "--replace", "null_resource.c"],
        &["apply", "--auto-approve", "--replace", "null_resource.c"],
    ];
    for args in runs {
        let output = infra(&dir.path, args);
        assert_eq!(code(&output), 1, "{args:?}: {}", stdout(&output));
        let err = stderr(&output);
        assert!(err.contains("infra::plan::unknown_target"), "{err}");
        assert!(err.contains("--replace null_resource.c"), "{err}");
        assert!(err.contains("did you mean `null_resource.a`"), "{err}");
    }
}

const VARS_STACK: &str = r#"stack "vf" {
  default_environment = "dev"
}

variable "greeting" {
  type    = string
  default = "default"
}

variable "replicas" {
  type    = number
  default = 1
}

variable "tags" {
  type    = list(string)
  default = []
}

environment "dev" {
  vars = { greeting = "env-block" }
}

environment "prod" {}

output "greeting" {
  value = var.greeting
}

output "replicas" {
  value = var.replicas
}

output "tags" {
  value = var.tags
}
"#;

/// `infra plan --format json` in `dir` with `args` and the environment
/// `envs`: the planned output values.
fn planned_outputs(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["plan", "--format", "json"];
    all.extend_from_slice(args);
    let output = common::infra_env(dir, &all, envs);
    assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let values = plan["output_changes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, change)| (name.clone(), change["after"].clone()))
        .collect();
    serde_json::Value::Object(values)
}

#[test]
fn variables_come_from_files_and_the_environment_in_the_documented_order() {
    let dir = TempDir::new("var-files");
    dir.write("main.infra", VARS_STACK);
    let outputs = |args: &[&str], envs: &[(&str, &str)]| planned_outputs(&dir.path, args, envs);
    // default < environment block vars
    let seen = outputs(&[], &[]);
    assert_eq!(seen["greeting"], "env-block", "{seen}");
    assert_eq!(seen["replicas"], 1);
    // < *.auto.vars (evaluated: functions, no references)
    dir.write(
        "common.auto.vars",
        "greeting = \"auto\"\ntags = [\"a\", upper(\"b\")]\n",
    );
    let seen = outputs(&[], &[]);
    assert_eq!(seen["greeting"], "auto", "{seen}");
    assert_eq!(seen["tags"], serde_json::json!(["a", "B"]));
    // < environments/ENV.vars (only for that environment)
    dir.write(
        "environments/dev.vars",
        "greeting = \"dev-file\"\nreplicas = 2\n",
    );
    assert_eq!(outputs(&[], &[])["greeting"], "dev-file");
    assert_eq!(outputs(&["--env", "prod"], &[])["greeting"], "auto");
    assert_eq!(outputs(&["--env", "prod"], &[])["replicas"], 1);
    // < --var-file, later files winning
    dir.write("one.vars", "replicas = 3\n");
    dir.write("two.vars", "replicas = 4\n");
    assert_eq!(outputs(&["--var-file", "one.vars"], &[])["replicas"], 3);
    assert_eq!(
        outputs(&["--var-file", "one.vars", "--var-file", "two.vars"], &[])["replicas"],
        4
    );
    // < INFRA_VAR_<name> (read like --var: strings as they are, others as JSON)
    let env = [("INFRA_VAR_replicas", "5"), ("INFRA_VAR_tags", r#"["x"]"#)];
    let seen = outputs(&["--var-file", "two.vars"], &env);
    assert_eq!(seen["replicas"], 5, "{seen}");
    assert_eq!(seen["tags"], serde_json::json!(["x"]));
    // < --var
    let seen = outputs(&["--var-file", "two.vars", "--var", "replicas=6"], &env);
    assert_eq!(seen["replicas"], 6, "{seen}");
    // --var-file paths are taken from -C DIR, as every path.
    let elsewhere = TempDir::new("var-files-cwd");
    let stack = dir.path.to_str().unwrap();
    let output = common::infra_env(
        &elsewhere.path,
        &[
            "-C",
            stack,
            "plan",
            "--format",
            "json",
            "--var-file",
            "one.vars",
        ],
        &[],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

#[test]
fn bad_variable_files_are_refused_with_the_file_and_line() {
    let dir = TempDir::new("var-files-bad");
    dir.write("main.infra", VARS_STACK);
    dir.write(
        "bad.vars",
        "replicas = 2\nbogus = 1\nresource \"null_resource\" \"a\" {}\nreplicas = 3\n",
    );
    let output = infra(&dir.path, &["plan", "--var-file", "bad.vars"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    for expected in [
        "infra::check::unknown_variable",
        "bad.vars:2:1",
        "infra::check::invalid_var_file",
        "bad.vars:3:1",
        "infra::check::duplicate_attribute",
        "bad.vars:4:1",
    ] {
        assert!(err.contains(expected), "{expected}:\n{err}");
    }
    std::fs::remove_file(dir.path.join("bad.vars")).unwrap();

    dir.write("environments/staging.vars", "replicas = 2\n");
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("infra::check::unknown_environment"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("environments/staging.vars"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_file(dir.path.join("environments/staging.vars")).unwrap();

    dir.write("wrong.vars", "replicas = \"many\"\n");
    let output = infra(&dir.path, &["plan", "--var-file", "wrong.vars"]);
    assert_eq!(code(&output), 1);
    let err = stderr(&output);
    assert!(
        err.contains("infra::check::invalid_variable_value"),
        "{err}"
    );
    assert!(
        err.contains("wrong.vars:1:"),
        "the span is in the file: {err}"
    );

    let output = common::infra_env(&dir.path, &["plan"], &[("INFRA_VAR_replicas", "many")]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("the INFRA_VAR_replicas value does not fit"),
        "{}",
        stderr(&output)
    );

    let output = infra(&dir.path, &["plan", "--var-file", "missing.vars"]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("infra::cli::unreadable_file"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("missing.vars"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_saved_plan_is_stale_when_a_variable_file_or_infra_var_changed() {
    let dir = TempDir::new("var-files-stale");
    dir.write("main.infra", VARS_STACK);
    dir.write("environments/dev.vars", "replicas = 2\n");
    let env = [("INFRA_VAR_greeting", "hi")];
    let planned = common::infra_env(&dir.path, &["plan", "--out", "p.plan"], &env);
    assert_eq!(code(&planned), 0, "{}", stderr(&planned));
    let other = common::infra_env(
        &dir.path,
        &["apply", "p.plan"],
        &[("INFRA_VAR_greeting", "hello")],
    );
    assert_eq!(code(&other), 1, "{}", stdout(&other));
    assert!(
        stderr(&other).contains("infra::plan::stale_configuration"),
        "{}",
        stderr(&other)
    );
    dir.write("environments/dev.vars", "replicas = 9\n");
    let edited = common::infra_env(&dir.path, &["apply", "p.plan"], &env);
    assert_eq!(code(&edited), 1);
    assert!(
        stderr(&edited).contains("infra::plan::stale_configuration"),
        "{}",
        stderr(&edited)
    );
    dir.write("environments/dev.vars", "replicas = 2\n");
    let same = common::infra_env(&dir.path, &["apply", "p.plan"], &env);
    assert_eq!(code(&same), 0, "{}", stderr(&same));
}

/// The state is read while the graph is built: a damaged state is reported
/// by a plan of a sound configuration, and left unmentioned when the
/// configuration has a dependency cycle (only what checking found is
/// reported then, as before the state was read beside the graph).
#[test]
fn a_damaged_state_is_reported_unless_the_graph_has_an_error() {
    let dir = null_stack("plan-state-beside-graph");
    let applied = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let state = dir.path.join(".infra/state/demo/dev.json");
    assert!(state.is_file(), "no state at {}", state.display());
    std::fs::write(&state, "{ \"format_version\": 2, \"resources\": [").unwrap();

    let damaged = infra(&dir.path, &["plan"]);
    assert_eq!(code(&damaged), 1, "{}", stderr(&damaged));
    assert!(
        stderr(&damaged).contains("infra::state::invalid_json"),
        "{}",
        stderr(&damaged)
    );

    dir.write(
        "main.infra",
        NULL_STACK.replace(
            "triggers = { greeting = var.greeting, token = secret.s }",
            "triggers = { greeting = var.greeting, token = secret.s, b = null_resource.b.id }",
        ),
    );
    let cycle = infra(&dir.path, &["plan"]);
    assert_eq!(code(&cycle), 1, "{}", stderr(&cycle));
    assert!(
        stderr(&cycle).contains("infra::graph::cycle"),
        "{}",
        stderr(&cycle)
    );
    assert!(
        !stderr(&cycle).contains("infra::state"),
        "a state error beside a graph error:\n{}",
        stderr(&cycle)
    );
    // Nothing was written: the damaged file is as it was left.
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{ \"format_version\": 2, \"resources\": ["
    );
}
