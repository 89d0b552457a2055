//! Rego policies end to end: `plan`, `apply`, `validate` and `infra policy
//! test` on temporary stacks: pass, warn, deny (plan exits 1 after the whole
//! plan, apply refuses before any change), `--policy-warn-only`, the JSON
//! `policy_results` and the markdown table, syntax, evaluation and time
//! errors, the std policies, the example, and a planted secret that a policy
//! tries to print.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;
use std::path::Path;
use std::process::Output;

use common::{TempDir, code, files_under, stderr, stdout};

/// The value of the planted secret; it must never be seen.
const CANARY: &str = "canary-p0l1cy-s3cr3t-4e7a";

/// A file under out/ and a null resource carrying a secret; policies come
/// from `./policy`.
const STACK: &str = r#"stack "guarded" {
  policies = ["./policy"]
}

secret "token" {
  env = "TOKEN"
}

resource "local_file" "motd" {
  path    = "out/motd.txt"
  content = "hello\n"
}

resource "null_resource" "deploy" {
  triggers = { token = secret.token, owner = "web" }
}
"#;

/// Denies a `local_file` whose content says hello; warns about every null
/// resource.
const DENY_HELLO: &str = r#"package content

import rego.v1

deny contains {"msg": "motd says hello", "address": change.address, "severity": "high"} if {
	some change in input.plan.resource_changes
	change.type == "local_file"
	contains(change.after.content, "hello")
}

warn contains sprintf("%s has triggers", [change.address]) if {
	some change in input.plan.resource_changes
	change.type == "null_resource"
}
"#;

/// Only warns.
const WARN_ONLY: &str = r#"package gentle

import rego.v1

warn contains {"msg": "a null resource", "address": change.address} if {
	some change in input.plan.resource_changes
	change.type == "null_resource"
}
"#;

fn infra(dir: &Path, args: &[&str]) -> Output {
    common::infra_env(dir, args, &[("TOKEN", CANARY)])
}

/// The stack with `policy/NAME.rego` holding `rego`.
fn stack(name: &str, rego: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write("main.infra", STACK);
    dir.write(&format!("policy/{name}.rego"), rego);
    dir
}

fn both(output: &Output) -> String {
    format!("{}\n{}", stdout(output), stderr(output))
}

fn assert_no_canary(output: &Output, what: &str) {
    assert!(
        !both(output).contains(CANARY),
        "the secret leaked in {what}:\n{}",
        both(output)
    );
}

#[test]
fn a_plan_that_passes_shows_the_policy_section_and_exits_0() {
    let dir = stack("passes", WARN_ONLY);
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 0, "{}", both(&output));
    let out = stdout(&output);
    assert!(
        out.contains("Policy: 1 policy checked, 0 denials, 1 warning."),
        "{out}"
    );
    assert!(out.contains("No policy denies this plan."), "{out}");
    // The section comes after the impact analysis.
    assert!(
        out.find("Impact:").unwrap() < out.find("Policy:").unwrap(),
        "{out}"
    );
}

#[test]
fn a_warning_is_shown_under_its_resource_with_the_policy_file_and_line() {
    let dir = stack("warns", WARN_ONLY);
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 0, "{}", both(&output));
    let out = stdout(&output);
    let deploy = out.find("+ null_resource.deploy will be created").unwrap();
    let under = &out[deploy..out.find("Plan: ").unwrap()];
    assert!(
        under.contains("policy warn (gentle): a null resource [policy/warns.rego:5]"),
        "{out}"
    );
}

#[test]
fn a_denial_fails_the_plan_after_printing_it_whole() {
    let dir = stack("denies", DENY_HELLO);
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    let out = stdout(&output);
    for wanted in [
        "+ local_file.motd will be created",
        "policy deny (content): motd says hello [policy/denies.rego:5, severity high]",
        // A string message names no resource: it is in the section only.
        "  warn  content: null_resource.deploy has triggers\n        policy/denies.rego:11\n",
        "Plan: 2 to add, 0 to change, 0 to destroy.",
        "Policy: 1 policy checked, 1 denial, 1 warning.",
        "Denied by policy: this plan cannot be applied (1 denial).",
    ] {
        assert!(out.contains(wanted), "missing {wanted:?} in:\n{out}");
    }
    // Denials come before warnings in the section.
    let section = &out[out.find("Policy:").unwrap()..];
    assert!(section.find("deny  content").unwrap() < section.find("warn  content").unwrap());
}

#[test]
fn apply_refuses_a_denied_plan_before_any_change() {
    let dir = stack("refused", DENY_HELLO);
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    assert!(
        stderr(&output).contains("infra::policy::denied"),
        "{}",
        both(&output)
    );
    // The plan is shown with its policy section before the refusal.
    assert!(
        stdout(&output).contains("Denied by policy"),
        "{}",
        both(&output)
    );
    assert!(
        files_under(&dir.path.join("out")).is_empty(),
        "a file was written"
    );
    let state = infra(&dir.path, &["state", "list"]);
    assert!(
        !stdout(&state).contains("local_file.motd"),
        "{}",
        both(&state)
    );
}

#[test]
fn destroy_is_checked_too() {
    let dir = stack("destroy", WARN_ONLY);
    let applied = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&applied), 0, "{}", both(&applied));
    dir.write(
        "policy/guard.rego",
        "package guard\n\nimport rego.v1\n\ndeny contains \"no destroys\" if {\n\tsome change in input.plan.resource_changes\n\t\"delete\" in change.actions\n}\n",
    );
    let destroyed = infra(&dir.path, &["destroy", "--auto-approve"]);
    assert_eq!(code(&destroyed), 1, "{}", both(&destroyed));
    assert!(stderr(&destroyed).contains("infra::policy::denied"));
    assert!(dir.path.join("out/motd.txt").exists());
}

#[test]
fn warn_only_reports_denials_without_blocking() {
    let dir = stack("warn-only", DENY_HELLO);
    let plan = infra(&dir.path, &["plan", "--policy-warn-only"]);
    assert_eq!(code(&plan), 0, "{}", both(&plan));
    assert!(
        stdout(&plan).contains("Denials are reported only (--policy-warn-only)"),
        "{}",
        both(&plan)
    );
    let apply = infra(
        &dir.path,
        &["apply", "--auto-approve", "--policy-warn-only"],
    );
    assert_eq!(code(&apply), 0, "{}", both(&apply));
    assert!(dir.path.join("out/motd.txt").exists());
}

#[test]
fn the_policy_flag_adds_a_folder() {
    let dir = stack("flag", WARN_ONLY);
    dir.write("strict/strict.rego", DENY_HELLO);
    let output = infra(&dir.path, &["plan", "--policy", "strict"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    assert!(stdout(&output).contains("[strict/strict.rego:5, severity high]"));
    assert!(stdout(&output).contains("Policy: 2 policies checked"));
}

#[test]
fn the_json_plan_carries_policy_results() {
    let dir = stack("json", DENY_HELLO);
    let output = infra(&dir.path, &["plan", "--format", "json"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let results = &document["policy_results"];
    assert_eq!(results["passed"], false);
    assert_eq!(results["denials"], 1);
    assert_eq!(results["warnings"], 1);
    assert_eq!(results["policies"][0]["name"], "content");
    let first = &results["violations"][0];
    assert_eq!(first["enforcement"], "deny");
    assert_eq!(first["address"], "local_file.motd");
    assert_eq!(first["severity"], "high");
    assert_eq!(first["file"], "policy/json.rego");
    assert_eq!(first["line"], 5);

    let plain = TempDir::new("json-none");
    plain.write("main.infra", "resource \"null_resource\" \"a\" {}\n");
    let output = infra(&plain.path, &["plan", "--format", "json"]);
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(document["policy_results"].is_null(), "{document}");
}

#[test]
fn the_markdown_comment_opens_with_the_policy_table_denials_first() {
    let dir = stack("markdown", DENY_HELLO);
    let output = infra(&dir.path, &["plan", "--format", "markdown"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    let out = stdout(&output);
    let table = out
        .find("| | Policy | Resource | Message | Rule |")
        .unwrap();
    assert!(
        table < out.find("| Add | Change | Destroy |").unwrap(),
        "{out}"
    );
    let deny = out.find("| ❌ deny | <code>content</code> | <code>local_file.motd</code> | motd says hello (severity high) | <code>policy/markdown.rego:5</code> |");
    let warn = out.find("| ⚠️ warn |");
    assert!(deny.unwrap() < warn.unwrap(), "{out}");
    assert!(out.contains("**Denied by policy**"), "{out}");
}

#[test]
fn a_syntax_error_is_reported_with_file_line_and_column() {
    let dir = stack(
        "syntax",
        "package broken\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := \n}\n",
    );
    for args in [
        &["plan"][..],
        &["validate"][..],
        &["apply", "--auto-approve"][..],
    ] {
        let output = infra(&dir.path, args);
        assert_eq!(code(&output), 1, "{args:?}: {}", both(&output));
        let err = stderr(&output);
        assert!(err.contains("infra::policy::parse"), "{args:?}: {err}");
        assert!(err.contains("policy/syntax.rego:6:9"), "{args:?}: {err}");
        assert!(err.contains("expecting `}`"), "{args:?}: {err}");
    }
}

#[test]
fn an_evaluation_error_names_the_rule_and_is_not_a_pass() {
    // Two complete rules that disagree: an error when `deny` reads them.
    let dir = stack(
        "conflict",
        "package conflict\n\nimport rego.v1\n\nlimit := 1 if true\n\nlimit := 2 if true\n\ndeny contains \"too many\" if {\n\tlimit > 5\n}\n",
    );
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    let err = stderr(&output);
    assert!(err.contains("infra::policy::eval"), "{err}");
    assert!(err.contains("`conflict.deny` failed"), "{err}");
    assert!(err.contains("policy/conflict.rego:9"), "{err}");
    // Not a pass: no plan is printed as if it were checked.
    assert!(
        !stdout(&output).contains("No policy denies"),
        "{}",
        both(&output)
    );
}

#[test]
fn a_policy_that_runs_too_long_is_stopped_by_the_timeout() {
    // About 10^12 steps: far past any timeout, and no memory to speak of.
    let dir = stack(
        "slow",
        "package slow\n\nimport rego.v1\n\ndeny contains \"never\" if {\n\tsome i in numbers.range(1, 1000000)\n\tsome j in numbers.range(1, 1000000)\n\ti * j < 0\n}\n",
    );
    let output = infra(&dir.path, &["plan", "--policy-timeout", "1s"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    let err = stderr(&output);
    assert!(err.contains("infra::policy::timeout"), "{err}");
    assert!(err.contains("within 1s"), "{err}");
}

#[test]
fn a_missing_policy_folder_is_an_error() {
    let dir = stack("missing", WARN_ONLY);
    let output = infra(&dir.path, &["plan", "--policy", "nowhere"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    assert!(stderr(&output).contains("infra::policy::not_found"));
    let output = infra(&dir.path, &["plan", "--policy", "std/policy/nothing"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    assert!(stderr(&output).contains("tagging"), "{}", both(&output));
}

/// A policy that tries every way to get at the secret and print it.
const SNOOP: &str = r#"package snoop

import rego.v1

deny contains json.marshal(input) if true

warn contains sprintf("%v", [change]) if {
	some change in input.plan.resource_changes
}

warn contains msg if {
	some resource in input.config.resources
	msg := sprintf("%v", [resource.attributes])
	print("snoop-print", msg)
}
"#;

#[test]
fn no_secret_value_reaches_a_policy_or_its_output() {
    let dir = stack("snoop", SNOOP);
    for args in [
        &["plan"][..],
        &["plan", "--format", "json"][..],
        &["plan", "--format", "markdown"][..],
        &["validate"][..],
        &["apply", "--auto-approve", "--policy-warn-only"][..],
    ] {
        let output = infra(&dir.path, args);
        assert_no_canary(&output, &format!("{args:?}"));
    }
    let output = infra(&dir.path, &["plan"]);
    // `print` never reaches the terminal.
    assert!(
        !stderr(&output).contains("snoop-print"),
        "{}",
        both(&output)
    );
    // The policy saw the secret's place, not its value.
    assert!(stdout(&output).contains("(secret)"), "{}", both(&output));
    for file in files_under(&dir.path) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "the secret leaked into {}",
            file.display()
        );
    }
}

#[test]
fn policy_test_reports_each_test_and_fails_on_a_failure() {
    let dir = TempDir::new("policy-test");
    dir.write("policy/content.rego", DENY_HELLO);
    dir.write(
        "policy/content_test.rego",
        r#"package content_test

import rego.v1

import data.content

test_hello_is_denied if {
	count(content.deny) == 1 with input as {"plan": {"resource_changes": [{"type": "local_file", "address": "local_file.a", "after": {"content": "hello"}}]}}
}

test_this_one_fails if {
	count(content.deny) == 5 with input as {"plan": {"resource_changes": []}}
}
"#,
    );
    let output = infra(&dir.path, &["policy", "test", "policy"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    let out = stdout(&output);
    assert!(
        out.contains("PASS  content_test.test_hello_is_denied (policy/content_test.rego:7)"),
        "{out}"
    );
    assert!(
        out.contains("FAIL  content_test.test_this_one_fails (policy/content_test.rego:11)"),
        "{out}"
    );
    assert!(out.contains("PASS: 1/2\nFAIL: 1/2"), "{out}");

    std::fs::remove_file(dir.path.join("policy/content_test.rego")).unwrap();
    dir.write(
        "policy/content_test.rego",
        "package content_test\n\nimport rego.v1\n\ntest_ok if true\n",
    );
    let output = infra(&dir.path, &["policy", "test", "policy"]);
    assert_eq!(code(&output), 0, "{}", both(&output));
    assert!(stdout(&output).contains("PASS: 1/1"));
}

#[test]
fn every_std_policy_passes_its_own_tests() {
    let dir = TempDir::new("std-tests");
    let output = infra(&dir.path, &["policy", "test", "std/policy"]);
    assert_eq!(code(&output), 0, "{}", both(&output));
    for name in ["tagging", "destroy_guard", "no_plaintext", "postgres", "s3"] {
        assert!(
            stdout(&output).contains(&format!("PASS  std.policy.{name}_test.")),
            "{name}: {}",
            stdout(&output)
        );
    }
    assert!(!stdout(&output).contains("FAIL"));
}

#[test]
fn std_policies_are_used_by_name() {
    let dir = TempDir::new("std-use");
    dir.write(
        "main.infra",
        r#"stack "s" {
  policies = ["std/policy/no_plaintext"]
}

resource "null_resource" "a" {
  triggers = { password = "hunter2" }
}
"#,
    );
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    let out = stdout(&output);
    assert!(out.contains("policy deny (std.policy.no_plaintext): null_resource.a sets `triggers.password` to a plaintext literal"), "{out}");
    assert!(
        out.contains("std/policy/no_plaintext/no_plaintext.rego:"),
        "{out}"
    );
    assert!(
        !out[out.find("Policy:").unwrap()..].contains("hunter2"),
        "{out}"
    );
}

/// The README's output blocks, as printed now, from a copy of the example.
#[test]
fn the_policy_example_runs_as_its_readme_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let copy = TempDir::new("example");
    common::copy_tree(&root, &copy.path);

    let passing = infra(&copy.path, &["plan"]);
    assert_eq!(code(&passing), 0, "{}", both(&passing));
    let failing = infra(&copy.path.join("failing"), &["plan"]);
    assert_eq!(code(&failing), 1, "{}", both(&failing));
    let tests = infra(&copy.path, &["policy", "test", "policy"]);
    assert_eq!(code(&tests), 0, "{}", both(&tests));
    for (what, output) in [("passing", &passing), ("failing", &failing)] {
        assert!(
            readme.contains(&stdout(output)),
            "examples/policy/README.md does not show the {what} plan as printed now:\n{}",
            stdout(output)
        );
    }
}

#[test]
fn data_files_in_a_policy_folder_are_data() {
    let dir = stack(
        "data",
        "package limits\n\nimport rego.v1\n\ndeny contains sprintf(\"more than %d resources\", [data.limits.max]) if {\n\tcount(input.plan.resource_changes) > data.limits.max\n}\n",
    );
    dir.write("policy/limits.yaml", "limits:\n  max: 1\n");
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    assert!(
        stdout(&output).contains("limits: more than 1 resources"),
        "{}",
        both(&output)
    );

    dir.write("policy/limits.yaml", "limits: [unclosed\n");
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    assert!(
        stderr(&output).contains("infra::policy::parse"),
        "{}",
        both(&output)
    );
    assert!(
        stderr(&output).contains("policy/limits.yaml"),
        "{}",
        both(&output)
    );
}

/// `regex.match` (compiled once per pattern and engine, not per call) gives
/// each resource its own answer with two patterns in turn, and a pattern
/// that does not compile is an evaluation error, as regorus's builtin is.
#[test]
fn regex_match_answers_for_every_resource_and_a_bad_pattern_is_an_error() {
    let dir = TempDir::new("regex");
    let mut main = String::from("stack \"names\" {\n  policies = [\"./policy\"]\n}\n");
    let names = ["good_one", "Bad", "x_good", "also bad", "xok", "ok"];
    for (i, name) in names.iter().enumerate() {
        main.push_str(&format!(
            "resource \"null_resource\" \"r{i}\" {{\n  triggers = {{ label = \"{name}\" }}\n}}\n"
        ));
    }
    dir.write("main.infra", &main);
    dir.write(
        "policy/names.rego",
        "package names\n\nimport rego.v1\n\n\
         deny contains sprintf(\"bad label %s\", [c.after.triggers.label]) if {\n\
         \tsome c in input.plan.resource_changes\n\
         \tnot regex.match(`^[a-z_]+$`, c.after.triggers.label)\n}\n\n\
         warn contains sprintf(\"x label %s\", [c.after.triggers.label]) if {\n\
         \tsome c in input.plan.resource_changes\n\
         \tregex.match(`^x`, c.after.triggers.label)\n}\n",
    );
    let output = infra(&dir.path, &["plan", "--policy-warn-only"]);
    assert_eq!(code(&output), 0, "{}", both(&output));
    let out = stdout(&output);
    assert!(
        out.contains("Policy: 1 policy checked, 2 denials, 2 warnings."),
        "{out}"
    );
    for wanted in [
        "bad label Bad",
        "bad label also bad",
        "x label x_good",
        "x label xok",
    ] {
        assert!(out.contains(wanted), "{wanted}: {out}");
    }
    for unwanted in [
        "bad label good_one",
        "bad label ok",
        "x label ok",
        "x label good_one",
    ] {
        assert!(!out.contains(unwanted), "{unwanted}: {out}");
    }

    dir.write(
        "policy/names.rego",
        "package names\n\nimport rego.v1\n\ndeny contains \"never\" if regex.match(`[`, \"a\")\n",
    );
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 1, "{}", both(&output));
    let err = stderr(&output);
    assert!(err.contains("infra::policy::eval"), "{err}");
    assert!(err.contains("invalid regex"), "{err}");
}

/// The input document keeps the values' types: negative, large and float
/// numbers compare and add as numbers, secrets are "(secret)", in
/// `input.config` and in `input.plan` alike.
#[test]
fn the_input_keeps_numbers_and_hides_secrets() {
    let dir = TempDir::new("types");
    dir.write(
        "main.infra",
        r#"stack "types" {
  policies = ["./policy"]
}

variable "n" {
  type    = number
  default = -3
}

secret "token" {
  env = "TOKEN"
}

resource "null_resource" "typed" {
  triggers = { neg = var.n, f = 1.5, big = 12345678901, token = secret.token }
}
"#,
    );
    dir.write(
        "policy/types.rego",
        r#"package types

import rego.v1

warn contains sprintf("config neg=%v f=%v big=%v sum=%v token=%v var=%v", [t.neg, t.f, t.big, t.neg + t.big, t.token, v]) if {
	some r in input.config.resources
	t := r.attributes.triggers
	t.neg == -3
	t.f > 1
	is_number(t.big)
	v := input.config.variables.n
	v < 0
}

warn contains sprintf("plan neg=%v f=%v big=%v token=%v", [a.neg, a.f, a.big, a.token]) if {
	some c in input.plan.resource_changes
	a := c.after.triggers
}
"#,
    );
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 0, "{}", both(&output));
    assert_no_canary(&output, "the plan");
    let out = stdout(&output);
    assert!(
        out.contains("config neg=-3 f=1.5 big=12345678901 sum=12345678898 token=(secret) var=-3"),
        "{out}"
    );
    assert!(out.contains("plan neg="), "{out}");
    assert!(out.contains("token=(secret)"), "{out}");
}

/// A resource on an aliased provider block names that block (`local.other`)
/// in `input.config` and in `input.plan` alike, so a policy can tell two
/// hosts or accounts of one provider apart.
#[test]
fn the_input_names_the_aliased_provider_block_of_each_resource() {
    let dir = TempDir::new("aliases");
    dir.write(
        "main.infra",
        r#"stack "aliases" {
  policies = ["./policy"]
}

provider "local" {
  alias = "other"
}

resource "local_file" "moved_over" {
  provider = local.other
  path     = "out/a.txt"
  content  = "a"
}

resource "local_file" "plain" {
  path    = "out/b.txt"
  content = "b"
}
"#,
    );
    dir.write(
        "policy/aliases.rego",
        r#"package aliases

import rego.v1

warn contains sprintf("config %v via %v", [r.address, r.provider]) if {
	some r in input.config.resources
}

warn contains sprintf("plan %v via %v", [c.address, c.provider]) if {
	some c in input.plan.resource_changes
}
"#,
    );
    let output = infra(&dir.path, &["plan"]);
    assert_eq!(code(&output), 0, "{}", both(&output));
    let out = stdout(&output);
    for line in [
        "config local_file.moved_over via local.other",
        "config local_file.plain via local",
        "plan local_file.moved_over via local.other",
        "plan local_file.plain via local",
    ] {
        assert!(out.contains(line), "no `{line}` in:\n{out}");
    }
}
