//! The semantics features end to end, through the real `infra` binary:
//! environments and `--var` in `validate`, local and stdlib modules, `graph`
//! (determinism, a snapshot, DOT through Graphviz, Mermaid structure, cycles),
//! `envdiff` (exit codes, table, JSON, secrets), a planted-secret leak check
//! over every command that exists, and `examples/quickstart`.
//!
//! Graphviz: the DOT test pipes the output through `dot -Tsvg`. Without `dot`
//! on PATH it fails with install instructions, unless `INFRA_SKIP_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{TempDir, code, infra_env, stderr, stdout};

// ---- helpers ------------------------------------------------------------------

fn infra(dir: &Path, args: &[&str]) -> Output {
    infra_env(dir, args, &[])
}

/// Both streams, for assertion messages.
fn streams(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

/// Asserts the command exited with `expected`, showing both streams if not.
#[track_caller]
fn assert_exit(output: &Output, expected: i32) {
    assert_eq!(code(output), expected, "{}", streams(output));
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---- 1. environments and variables ----------------------------------------------

const ENVIRONMENTS: &str = r#"stack "envs" {}

variable "replicas" {
  type    = number
  default = 1
  validate {
    condition = var.replicas <= 2
    message   = "replicas must be at most 2"
  }
}

variable "ports" {
  type    = list(number)
  default = [80]
}

environment "dev" {
  vars = { replicas = 1 }
}

environment "prod" {
  vars = { replicas = 3 }
}

resource "local_file" "conf" {
  path    = "out/${env.name}.env"
  content = "REPLICAS=${var.replicas}\nPORTS=${join(",", var.ports)}\n"
}
"#;

#[test]
fn validate_without_env_checks_every_environment_and_points_at_the_failing_vars_entry() {
    let dir = TempDir::new("envs-all");
    dir.write("main.infra", ENVIRONMENTS);
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::validation_failed"), "{err}");
    // The primary label is prod's `replicas = 3` (line 22, column 23).
    assert!(err.contains("main.infra:22:23"), "{err}");
    assert!(err.contains("replicas must be at most 2"), "{err}");
    assert!(err.contains("`replicas` is 3"), "{err}");
    assert!(err.contains("this condition is false"), "{err}");
    assert!(err.trim_end().ends_with("1 error in 1 file"), "{err}");
    assert!(!stdout(&output).contains("Success"));
}

#[test]
fn validate_with_env_checks_only_that_environment() {
    let dir = TempDir::new("envs-dev");
    dir.write("main.infra", ENVIRONMENTS);
    let output = infra(&dir.path, &["validate", "--env", "dev"]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("valid (environments: dev)"),
        "{}",
        streams(&output)
    );
    assert_eq!(stderr(&output), "");
    let output = infra(&dir.path, &["validate", "--env", "prod"]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("main.infra:22:23"));
}

#[test]
fn var_on_the_command_line_overrides_the_environment() {
    let dir = TempDir::new("envs-var");
    dir.write("main.infra", ENVIRONMENTS);
    let output = infra(
        &dir.path,
        &["validate", "--env", "prod", "--var", "replicas=2"],
    );
    assert_exit(&output, 0);
    // And fails for dev when the command line sets a bad value, saying so.
    let output = infra(
        &dir.path,
        &["validate", "--env", "dev", "--var", "replicas=5"],
    );
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::validation_failed"), "{err}");
    assert!(err.contains("`replicas` is 5 (from --var)"), "{err}");
}

#[test]
fn validate_without_env_or_default_lists_every_environment_it_checked() {
    let dir = TempDir::new("envs-list");
    dir.write(
        "main.infra",
        ENVIRONMENTS.replace("replicas = 3", "replicas = 2"),
    );
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("valid (environments: dev, prod)"),
        "{}",
        streams(&output)
    );
}

#[test]
fn var_beats_environment_vars_which_beat_the_default() {
    let dir = TempDir::new("envs-precedence");
    dir.write(
        "main.infra",
        r#"variable "size" {
  type    = string
  default = "small"
}

environment "dev" {}

environment "prod" {
  vars = { size = "large" }
}
"#,
    );
    let output = infra(&dir.path, &["envdiff", "dev", "prod", "--format", "json"]);
    assert_exit(&output, 2);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let row = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["what"] == "var.size")
        .unwrap();
    assert_eq!(row["a"]["value"], "\"small\"", "{row}");
    assert_eq!(row["b"]["value"], "\"large\"", "{row}");
    assert_eq!(row["differs"], true);
    let output = infra(
        &dir.path,
        &[
            "envdiff",
            "dev",
            "prod",
            "--var",
            "size=huge",
            "--format",
            "json",
        ],
    );
    assert_exit(&output, 0);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["differs"], false);
    assert_eq!(json["rows"][0]["a"]["value"], "\"huge\"");
    assert_eq!(json["rows"][0]["b"]["value"], "\"huge\"");
}

#[test]
fn evaluating_one_environment_without_env_or_default_is_environment_required() {
    let dir = TempDir::new("envs-required");
    dir.write("main.infra", ENVIRONMENTS);
    // `graph --var` evaluates one environment; with neither `--env` nor a
    // `default_environment` there is none to pick.
    let output = infra(&dir.path, &["graph", "--var", "replicas=1"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::environment_required"), "{err}");
    assert!(err.contains("the environments are dev, prod"), "{err}");
    assert!(err.contains("default_environment"), "{err}");
}

#[test]
fn a_stack_with_one_environment_needs_no_env() {
    let dir = TempDir::new("envs-one");
    dir.write(
        "main.infra",
        "stack \"one\" {}\nenvironment \"staging\" {}\nresource \"null_resource\" \"a\" {\n  triggers = { env = env.name }\n}\n",
    );
    let output = infra(&dir.path, &["apply", "--auto-approve"]);
    assert_exit(&output, 0);
    assert!(
        dir.path.join(".infra/state/one/staging.json").exists(),
        "applied to the one environment"
    );
    let output = infra(&dir.path, &["plan", "--detailed-exitcode"]);
    assert_exit(&output, 0);
}

#[test]
fn an_unknown_env_is_unknown_environment_with_did_you_mean() {
    let dir = TempDir::new("envs-unknown");
    dir.write("main.infra", ENVIRONMENTS);
    let output = infra(&dir.path, &["validate", "--env", "prdo"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::unknown_environment"), "{err}");
    assert!(err.contains("did you mean `prod`?"), "{err}");
    assert!(err.contains("the environments are dev, prod"), "{err}");
    let output = infra(
        &dir.path,
        &["validate", "--env", "nope", "--format", "json"],
    );
    assert_exit(&output, 1);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["diagnostics"][0]["code"],
        "infra::check::unknown_environment"
    );
}

#[test]
fn an_unknown_default_environment_is_reported_at_its_span() {
    let dir = TempDir::new("envs-default");
    dir.write(
        "main.infra",
        ENVIRONMENTS.replace(
            "stack \"envs\" {}",
            "stack \"envs\" {\n  default_environment = \"nope\"\n}",
        ),
    );
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::unknown_environment"), "{err}");
    assert!(err.contains("main.infra:2:25"), "{err}");
    assert!(err.contains("no environment \"nope\""), "{err}");
    // `--env` does not hide the mistake in the stack block.
    let output = infra(&dir.path, &["validate", "--env", "dev"]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("main.infra:2:25"));
}

#[test]
fn a_non_number_for_a_number_variable_is_invalid_variable_value() {
    let dir = TempDir::new("envs-bad-number");
    dir.write("main.infra", ENVIRONMENTS);
    let output = infra(
        &dir.path,
        &["validate", "--env", "dev", "--var", "replicas=three"],
    );
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(
        err.contains("infra::check::invalid_variable_value"),
        "{err}"
    );
    assert!(
        err.contains("the --var value does not fit `number`"),
        "{err}"
    );
    assert!(
        err.contains("give `replicas` a value of type number"),
        "{err}"
    );
}

#[test]
fn a_list_of_numbers_is_read_from_json_on_the_command_line() {
    let dir = TempDir::new("envs-list-var");
    dir.write("main.infra", ENVIRONMENTS);
    let output = infra(
        &dir.path,
        &["validate", "--env", "dev", "--var", "ports=[80,443]"],
    );
    assert_exit(&output, 0);
    let output = infra(
        &dir.path,
        &[
            "envdiff",
            "dev",
            "dev",
            "--all",
            "--var",
            "ports=[80,443]",
            "--format",
            "json",
        ],
    );
    assert_exit(&output, 0);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let ports = rows.iter().find(|r| r["what"] == "var.ports").unwrap();
    let shown = ports["a"]["value"].as_str().unwrap();
    assert!(shown.contains("80") && shown.contains("443"), "{ports}");
    let content = rows
        .iter()
        .find(|r| r["what"] == "local_file.conf.content")
        .unwrap();
    assert!(
        content["a"]["value"]
            .as_str()
            .unwrap()
            .contains("PORTS=80,443"),
        "{content}"
    );
    // A list of strings is not a list of numbers.
    let output = infra(
        &dir.path,
        &["validate", "--env", "dev", "--var", "ports=[\"a\"]"],
    );
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("infra::check::invalid_variable_value"));
}

// ---- 2. modules -------------------------------------------------------------------

const WEB_MODULE: &str = r#"variable "name" {
  type = string
}

variable "port" {
  type    = number
  default = 80
}

resource "local_file" "index" {
  path    = "out/${var.name}/index.html"
  content = "port ${var.port}"
}

output "out" {
  value = local_file.index.path
}
"#;

const WEB_STACK: &str = r#"module "web" {
  source = "./modules/web"
  name   = "site"
  port   = 8080
}

output "web_path" {
  value = module.web.out
}
"#;

#[test]
fn a_local_module_with_inputs_and_outputs_validates_and_is_in_the_graph() {
    let dir = TempDir::new("mod-web");
    dir.write("main.infra", WEB_STACK);
    dir.write("modules/web/main.infra", WEB_MODULE);
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 0);
    let output = infra(&dir.path, &["graph"]);
    assert_exit(&output, 0);
    let dot = stdout(&output);
    for wanted in [
        "\"module.web.local_file.index\" [shape = box",
        "\"module.web\" [shape = folder",
        "\"module.web.var.name\" -> \"module.web.local_file.index\";",
        "\"module.web.local_file.index\" -> \"module.web\";",
        "\"module.web.output.out\" -> \"output.web_path\";",
    ] {
        assert!(dot.contains(wanted), "missing {wanted}:\n{dot}");
    }
    // The output's value comes through the module.
    dir.write("env.infra", "environment \"dev\" {}\n");
    let output = infra(
        &dir.path,
        &["envdiff", "dev", "dev", "--all", "--format", "json"],
    );
    assert_exit(&output, 0);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let row = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["what"] == "output.web_path")
        .unwrap();
    assert_eq!(row["a"]["value"], "\"out/site/index.html\"", "{row}");
}

#[test]
fn module_values_reach_the_caller_before_the_whole_call_is_complete() {
    // `output.web_path` depends on `module.web.out` only. The module's other
    // resource waits for a grandchild's output, which the walk reaches after
    // `output.web_path`; the value must already be there.
    let dir = TempDir::new("mod-order");
    dir.write("main.infra", WEB_STACK);
    dir.write(
        "modules/web/main.infra",
        format!(
            "{WEB_MODULE}\nmodule \"inner\" {{\n  source = \"../inner\"\n}}\n\nresource \"local_file\" \"later\" {{\n  path    = \"out/later\"\n  content = module.inner.x\n}}\n"
        ),
    );
    dir.write(
        "modules/inner/main.infra",
        "output \"x\" {\n  value = \"inner\"\n}\n",
    );
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 0);
    // The order the walk may take: what `output.web_path` waits for is
    // everything with a path to it in the graph. That is `module.web.out`
    // and what it reads, never the whole call (`module.web`, complete only
    // after `later` and the grandchild).
    let output = infra(&dir.path, &["graph"]);
    assert_exit(&output, 0);
    let dot = stdout(&output);
    let edges: Vec<(&str, &str)> = dot
        .lines()
        .filter_map(|line| line.trim().strip_suffix(';')?.split_once(" -> "))
        .map(|(from, to)| (from.trim_matches('"'), to.trim_matches('"')))
        .collect();
    let mut waits_for: Vec<&str> = vec!["output.web_path"];
    let mut index = 0;
    while let Some(&node) = waits_for.get(index) {
        for (from, _) in edges.iter().filter(|(_, to)| *to == node) {
            if !waits_for.contains(from) {
                waits_for.push(from);
            }
        }
        index += 1;
    }
    waits_for.sort_unstable();
    assert_eq!(
        waits_for,
        [
            "module.web.local_file.index",
            "module.web.output.out",
            "module.web.var.name",
            "module.web.var.port",
            "output.web_path",
        ],
        "{dot}"
    );
}

/// `examples/module-instances`: a module with `for_each` over each environment's
/// services, applied for real (files written), then state surgery, a
/// `moved` block between module instances, targets and the graph, all with
/// `module.service["KEY"]` addresses.
#[test]
fn module_instances_per_service_apply_move_and_target_by_key() {
    let dir = TempDir::new("mod-for-each");
    common::copy_tree(&repo_root().join("examples/module-instances"), &dir.path);
    let output = infra(&dir.path, &["apply", "--auto-approve", "--env", "prod"]);
    assert_exit(&output, 0);
    for service in ["api", "worker", "jobs"] {
        let env = String::from_utf8(dir.read(&format!("out/prod/{service}/service.env"))).unwrap();
        assert!(env.starts_with(&format!("SERVICE={service}\n")), "{env}");
        let unit =
            String::from_utf8(dir.read(&format!("out/prod/{service}/{service}.service"))).unwrap();
        assert!(
            unit.contains(&format!("EnvironmentFile=out/prod/{service}/service.env")),
            "{unit}"
        );
    }
    let index = String::from_utf8(dir.read("out/prod/services.txt")).unwrap();
    assert_eq!(
        index,
        "api out/prod/api/service.env\njobs out/prod/jobs/service.env\nworker out/prod/worker/service.env"
    );
    let output = infra(&dir.path, &["output", "--env", "prod", "--json"]);
    assert_exit(&output, 0);
    let outputs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        outputs["api_unit"]["value"], "out/prod/api/api.service",
        "{outputs}"
    );

    // State lists, shows and moves instances by their module key.
    let output = infra(&dir.path, &["state", "list", "--env", "prod"]);
    assert_exit(&output, 0);
    let listed = stdout(&output);
    for wanted in [
        "module.service[\"api\"].local_file.env",
        "module.service[\"jobs\"].local_file.unit",
        "module.service[\"worker\"].local_file.env",
        "local_file.index",
    ] {
        assert!(listed.lines().any(|l| l == wanted), "{wanted}:\n{listed}");
    }
    let output = infra(
        &dir.path,
        &["state", "list", "--env", "prod", "module.service[\"jobs\"]"],
    );
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "module.service[\"jobs\"].local_file.env\nmodule.service[\"jobs\"].local_file.unit\n"
    );
    let output = infra(
        &dir.path,
        &[
            "state",
            "show",
            "--env",
            "prod",
            "module.service[\"api\"].local_file.env",
        ],
    );
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("out/prod/api/service.env"),
        "{}",
        streams(&output)
    );
    let output = infra(
        &dir.path,
        &[
            "state",
            "mv",
            "--env",
            "prod",
            "module.service[\"jobs\"]",
            "module.service[\"batch\"]",
        ],
    );
    assert_exit(&output, 0);
    let listed = stdout(&infra(&dir.path, &["state", "list", "--env", "prod"]));
    assert!(
        listed.contains("module.service[\"batch\"].local_file.env"),
        "{listed}"
    );
    assert!(!listed.contains("module.service[\"jobs\"]"), "{listed}");

    // A `moved` block takes the instance back: the plan moves its state and
    // changes nothing else.
    dir.write(
        "moved.infra",
        "moved {\n  from = module.service[\"batch\"]\n  to   = module.service[\"jobs\"]\n}\n",
    );
    let output = infra(&dir.path, &["plan", "--env", "prod"]);
    let plan = stdout(&output);
    assert!(
        plan.contains("module.service[\"batch\"].local_file.env has moved to module.service[\"jobs\"].local_file.env"),
        "{}",
        streams(&output)
    );
    assert!(
        !plan.contains("to add") || plan.contains("0 to add"),
        "{plan}"
    );
    let output = infra(&dir.path, &["apply", "--auto-approve", "--env", "prod"]);
    assert_exit(&output, 0);
    std::fs::remove_file(dir.path.join("moved.infra")).unwrap();

    // Fewer keys remove whole module instances; a target by key plans only
    // that instance.
    let fewer = ["--var", "services={\"api\": 8080, \"worker\": 8081}"];
    let output = infra(
        &dir.path,
        &[
            &[
                "plan",
                "--env",
                "prod",
                "--target",
                "module.service[\"jobs\"]",
            ][..],
            &fewer[..],
        ]
        .concat(),
    );
    assert_exit(&output, 0);
    let plan = stdout(&output);
    assert!(
        plan.contains("module.service[\"jobs\"].local_file.env"),
        "{plan}"
    );
    assert!(
        plan.contains("module.service[\"jobs\"].local_file.unit"),
        "{plan}"
    );
    assert!(!plan.contains("module.service[\"api\"]"), "{plan}");
    assert!(
        plan.contains("0 to add, 0 to change, 2 to destroy"),
        "{plan}"
    );
    let output = infra(
        &dir.path,
        &[
            &["apply", "--auto-approve", "--env", "prod"][..],
            &fewer[..],
        ]
        .concat(),
    );
    assert_exit(&output, 0);
    assert!(!dir.path.join("out/prod/jobs/service.env").exists());
    assert!(dir.path.join("out/prod/worker/service.env").exists());

    // The graph says which calls expand and, for an environment, into what;
    // the keys come before everything in the module, even what does not read
    // them (`local_file.env` reads only the module's own variables).
    let output = infra(&dir.path, &["graph"]);
    assert_exit(&output, 0);
    let dot = stdout(&output);
    for wanted in [
        "\"module.service\" [shape = folder, label = \"module.service (for_each)\"];",
        "\"var.services\" -> \"module.service.local_file.env\";",
        "\"var.services\" -> \"module.service\";",
    ] {
        assert!(dot.contains(wanted), "missing {wanted}:\n{dot}");
    }
    let output = infra(&dir.path, &["graph", "--env", "dev"]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output)
            .contains("label = \"module.service (for_each)\\nmodule.service[\\\"api\\\"]\"];"),
        "{}",
        streams(&output)
    );
}

#[test]
fn a_missing_module_folder_is_module_not_found() {
    let dir = TempDir::new("mod-missing");
    dir.write(
        "main.infra",
        WEB_STACK.replace("./modules/web", "./modules/nope"),
    );
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::module_not_found"), "{err}");
    assert!(err.contains("main.infra:2:12"), "{err}");
    assert!(err.contains("no module at \"./modules/nope\""), "{err}");
}

#[test]
fn local_modules_calling_each_other_are_a_module_cycle() {
    let dir = TempDir::new("mod-cycle");
    dir.write(
        "main.infra",
        "module \"a\" {\n  source = \"./modules/a\"\n}\n",
    );
    dir.write(
        "modules/a/main.infra",
        "module \"b\" {\n  source = \"../b\"\n}\n",
    );
    dir.write(
        "modules/b/main.infra",
        "module \"a\" {\n  source = \"../a\"\n}\n",
    );
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::module_cycle"), "{err}");
    assert!(err.contains("modules/b/main.infra:2:12"), "{err}");
}

#[test]
fn an_unknown_module_input_is_unknown_attribute_with_did_you_mean() {
    let dir = TempDir::new("mod-unknown-input");
    dir.write(
        "main.infra",
        WEB_STACK.replace("  port   = 8080", "  prot   = 8080"),
    );
    dir.write("modules/web/main.infra", WEB_MODULE);
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::unknown_attribute"), "{err}");
    assert!(err.contains("main.infra:4:3"), "{err}");
    assert!(err.contains("did you mean `port`?"), "{err}");
}

#[test]
fn a_missing_required_module_input_is_missing_attribute() {
    let dir = TempDir::new("mod-missing-input");
    dir.write("main.infra", WEB_STACK.replace("  name   = \"site\"\n", ""));
    dir.write("modules/web/main.infra", WEB_MODULE);
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::missing_attribute"), "{err}");
    assert!(err.contains("input `name` is not set"), "{err}");
    assert!(err.contains("declared here without a default"), "{err}");
    assert!(err.contains("modules/web/main.infra"), "{err}");
}

const STDLIB_STACK: &str = r#"secret "db_password" {
  generate = { length = 32 }
}

module "conf" {
  source = "std/config_dir"
  path   = "out/${env.name}/conf"
  files  = { "app.toml" = "port = 8080\n", "log.toml" = "level = 1\n" }
}

module "dotenv" {
  source      = "std/env_file"
  path        = "out/${env.name}/.env"
  vars        = { PORT = "8080" }
  secret_vars = { DB_PASSWORD = secret.db_password }
}

output "conf_files" {
  value = module.conf.files
}

output "env_path" {
  value = module.dotenv.path
}
"#;

#[test]
fn stdlib_modules_validate_and_appear_in_the_graph() {
    let dir = TempDir::new("mod-std");
    dir.write("main.infra", STDLIB_STACK);
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 0);
    let output = infra(&dir.path, &["graph"]);
    assert_exit(&output, 0);
    let dot = stdout(&output);
    for wanted in [
        "\"module.conf\" [shape = folder",
        "\"module.conf.local_file.file\"",
        "\"module.conf.local_directory.this\"",
        "\"module.dotenv\" [shape = folder",
        "\"module.dotenv.local_file.this\"",
        "\"secret.db_password\" -> \"module.dotenv.var.secret_vars\";",
    ] {
        assert!(dot.contains(wanted), "missing {wanted}:\n{dot}");
    }
}

#[test]
fn a_misspelt_stdlib_module_gets_did_you_mean() {
    let dir = TempDir::new("mod-std-typo");
    dir.write(
        "main.infra",
        STDLIB_STACK.replace("std/config_dir", "std/config_dri"),
    );
    let output = infra(&dir.path, &["validate"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::module_not_found"), "{err}");
    assert!(err.contains("did you mean \"std/config_dir\"?"), "{err}");
    assert!(err.contains("main.infra:6:12"), "{err}");
}

/// Sample inputs for every stdlib module: the module is tested like an
/// example, by calling it from a stack. A new module needs an entry here.
const STDLIB_SAMPLES: &[(&str, &str)] = &[
    (
        "config_dir",
        "path  = \"out/${env.name}/conf\"\n  files = { \"a.conf\" = \"a = 1\\n\" }",
    ),
    (
        "env_file",
        "path        = \"out/${env.name}/.env\"\n  vars        = { PORT = \"8080\" }\n  secret_vars = { TOKEN = secret.sample }",
    ),
    (
        "redis_service",
        "name   = \"cache-${env.name}\"\n  port   = 6390\n  config = { maxmemory = \"32mb\" }",
    ),
    (
        "static_site",
        "name = \"site-${env.name}\"\n  root = \"public\"\n  port = 8090",
    ),
];

#[test]
fn every_stdlib_module_validates_with_sample_inputs() {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("stdlib"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // stdlib/policy holds the Rego policies of `std/policy/NAME`, not a
        // module; tests/policy.rs runs their tests.
        .filter(|name| name != "policy")
        .collect();
    names.sort();
    assert!(!names.is_empty(), "stdlib/ has no modules");
    for name in &names {
        let Some((_, inputs)) = STDLIB_SAMPLES.iter().find(|(n, _)| n == name) else {
            panic!(
                "stdlib/{name} has no sample inputs: add it to STDLIB_SAMPLES in tests/semantics.rs"
            );
        };
        let dir = TempDir::new(&format!("std-{name}"));
        dir.write(
            "main.infra",
            format!(
                "environment \"dev\" {{}}\n\nenvironment \"prod\" {{}}\n\nsecret \"sample\" {{\n  generate = {{ length = 16 }}\n}}\n\nmodule \"m\" {{\n  source = \"std/{name}\"\n  {inputs}\n}}\n\noutput \"everything\" {{\n  value     = module.m\n  sensitive = true\n}}\n"
            ),
        );
        let output = infra(&dir.path, &["validate"]);
        assert_eq!(code(&output), 0, "std/{name}: {}", streams(&output));
        let output = infra(&dir.path, &["graph"]);
        assert_eq!(code(&output), 0, "std/{name}: {}", streams(&output));
        assert!(stdout(&output).contains("\"module.m\" [shape = folder"));
    }
    for (name, _) in STDLIB_SAMPLES {
        assert!(
            names.iter().any(|n| n == name),
            "STDLIB_SAMPLES lists std/{name}, which is not in stdlib/"
        );
    }
}

// ---- 3. graph ---------------------------------------------------------------------

const SMALL_STACK: &str = r#"variable "name" {
  type    = string
  default = "app"
}

secret "token" {
  generate = { length = 16 }
}

locals {
  files = { api = 8080, "a \"quoted\" key" = 8081 }
}

resource "local_file" "conf" {
  for_each          = local.files
  path              = "out/${var.name}/${each.key}.env"
  sensitive_content = "PORT=${each.value}\nTOKEN=${secret.token}\n"
}

module "web" {
  source = "./modules/web"
  name   = var.name
}

output "paths" {
  value = [for f in local_file.conf : f.path]
}

output "web" {
  value = module.web.out
}
"#;

fn small_stack() -> TempDir {
    let dir = TempDir::new("graph-small");
    dir.write("main.infra", SMALL_STACK);
    dir.write("modules/web/main.infra", WEB_MODULE);
    dir
}

#[test]
fn graph_is_deterministic_and_matches_the_snapshot() {
    let dir = small_stack();
    for format in ["dot", "mermaid"] {
        let first = infra(&dir.path, &["graph", "--format", format]);
        assert_exit(&first, 0);
        assert_eq!(stderr(&first), "");
        let second = infra(&dir.path, &["graph", "--format", format]);
        assert_eq!(
            first.stdout, second.stdout,
            "{format} output differs between runs"
        );
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("semantics__graph_{format}"), stdout(&first));
        });
    }
}

#[test]
fn graph_dot_is_accepted_by_graphviz() {
    let dir = small_stack();
    let output = infra(&dir.path, &["graph"]);
    assert_exit(&output, 0);
    let dot = stdout(&output);
    assert!(
        dot.starts_with("digraph infra {\n") && dot.ends_with("}\n"),
        "{dot}"
    );
    if Command::new("dot").arg("-V").output().is_err() {
        if std::env::var("INFRA_SKIP_SERVICES").as_deref() == Ok("1") {
            common::skipped(
                "graph_dot_is_accepted_by_graphviz",
                "Graphviz `dot` is not on PATH (INFRA_SKIP_SERVICES=1)",
            );
            return;
        }
        panic!(
            "Graphviz `dot` is not on PATH, so the DOT output cannot be checked. Install it \
             (Debian/Ubuntu: `apt-get install -y graphviz`; macOS: `brew install graphviz`; \
             tests/run.sh does it when run as root) or set INFRA_SKIP_SERVICES=1 to skip this check."
        );
    }
    for text in [
        dot,
        stdout(&infra(&repo_root().join("examples/quickstart"), &["graph"])),
    ] {
        use std::io::Write;
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let result = child.wait_with_output().unwrap();
        assert!(
            result.status.success(),
            "dot -Tsvg rejected the graph:\n{}\n--- input\n{text}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert!(String::from_utf8_lossy(&result.stdout).contains("<svg"));
    }
}

/// Checks a Mermaid flowchart's structure: the header, one declaration per
/// node with a quoted label in a known shape, and edges between declared ids.
fn check_mermaid(text: &str) -> Result<(usize, usize), String> {
    const SHAPES: &[(&str, &str)] = &[
        ("([\"", "\"])"),
        ("{{\"", "\"}}"),
        ("[[\"", "\"]]"),
        ("(\"", "\")"),
        ("[\"", "\"]"),
    ];
    let mut lines = text.lines();
    if lines.next() != Some("flowchart LR") {
        return Err(String::from("the first line is not `flowchart LR`"));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut edges = 0;
    for line in lines {
        let body = line
            .strip_prefix("  ")
            .ok_or_else(|| format!("not indented: {line:?}"))?;
        if let Some((from, to)) = body.split_once(" --> ") {
            for id in [from, to] {
                if !ids.contains(id) {
                    return Err(format!("edge to an undeclared node {id:?}: {line:?}"));
                }
            }
            edges += 1;
            continue;
        }
        let id_end = body
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .ok_or_else(|| format!("a node without a label: {line:?}"))?;
        let (id, shape) = body.split_at(id_end);
        if id.is_empty() || !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("a bad node id: {line:?}"));
        }
        let label = SHAPES
            .iter()
            .find_map(|(open, close)| shape.strip_prefix(open)?.strip_suffix(close))
            .ok_or_else(|| format!("the label is not quoted in a known shape: {line:?}"))?;
        if label.contains('"') {
            return Err(format!("a raw double quote inside a label: {line:?}"));
        }
        if !ids.insert(id.to_owned()) {
            return Err(format!("node {id} declared twice"));
        }
    }
    Ok((ids.len(), edges))
}

#[test]
fn graph_mermaid_is_a_well_formed_flowchart() {
    let dir = small_stack();
    let output = infra(&dir.path, &["graph", "--format", "mermaid"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    let (nodes, edges) = check_mermaid(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(nodes >= 10 && edges >= 10, "{text}");
    assert!(text.contains("[[\"module.web\"]]"), "{text}");
    assert!(text.contains("{{\"secret.token\"}}"), "{text}");
    // And on the example.
    let output = infra(
        &repo_root().join("examples/quickstart"),
        &["graph", "--format", "mermaid"],
    );
    assert_exit(&output, 0);
    check_mermaid(&stdout(&output)).unwrap();
}

#[test]
fn the_mermaid_checker_rejects_broken_charts() {
    assert!(check_mermaid("graph TD\n").is_err());
    assert!(check_mermaid("flowchart LR\n  n0[\"a\"]\n  n0 --> n1\n").is_err());
    assert!(check_mermaid("flowchart LR\n  n0[a]\n").is_err());
    assert!(check_mermaid("flowchart LR\n  n0[\"a\"b\"]\n").is_err());
    assert_eq!(
        check_mermaid("flowchart LR\n  n0[\"a\"]\n  n1([\"b\"])\n  n0 --> n1\n"),
        Ok((2, 1))
    );
}

#[test]
fn a_cycle_is_graph_cycle_naming_both_members() {
    let dir = TempDir::new("graph-cycle");
    dir.write("main.infra", "locals {\n  a = local.b\n  b = local.a\n}\n");
    for args in [
        &["graph"][..],
        &["graph", "--format", "mermaid"],
        &["validate"],
    ] {
        let output = infra(&dir.path, args);
        assert_exit(&output, 1);
        assert_eq!(stdout(&output), "", "{args:?}");
        let err = stderr(&output);
        assert!(err.contains("infra::graph::cycle"), "{args:?}: {err}");
        assert!(
            err.contains("local.a → local.b → local.a"),
            "{args:?}: {err}"
        );
        assert!(err.contains("main.infra:2:3"), "{args:?}: {err}");
        assert!(err.contains("local.b is in the cycle"), "{args:?}: {err}");
    }
}

// ---- 4. envdiff -------------------------------------------------------------------

const ENVDIFF_STACK: &str = r#"variable "replicas" {
  type    = number
  default = 1
}

variable "token" {
  type      = string
  sensitive = true
  default   = "default-token"
}

environment "dev" {
  vars = { replicas = 1, token = "dev-token" }
}

environment "prod" {
  vars = { replicas = 3, token = "prod-token" }
}

environment "prod_copy" {
  vars = { replicas = 3, token = "prod-token" }
}

secret "k" {
  env = "K"
}

resource "local_file" "conf" {
  path              = "out/${var.replicas}.env"
  sensitive_content = "K=${secret.k}\nT=${var.token}\n"
}
"#;

const K: &str = "k-value-never-shown";

fn envdiff_stack() -> TempDir {
    let dir = TempDir::new("envdiff");
    dir.write("main.infra", ENVDIFF_STACK);
    dir
}

#[test]
fn envdiff_exits_0_when_equal_2_when_different_1_on_unknown_environment() {
    let dir = envdiff_stack();
    let same = infra_env(&dir.path, &["envdiff", "prod", "prod_copy"], &[("K", K)]);
    assert_exit(&same, 0);
    assert_eq!(
        stdout(&same),
        "Environments prod and prod_copy resolve to the same configuration.\n"
    );
    assert_eq!(stderr(&same), "");
    let differ = infra_env(&dir.path, &["envdiff", "dev", "prod"], &[("K", K)]);
    assert_exit(&differ, 2);
    assert_eq!(stderr(&differ), "");
    let unknown = infra_env(&dir.path, &["envdiff", "dev", "staging"], &[("K", K)]);
    assert_exit(&unknown, 1);
    assert!(stderr(&unknown).contains("infra::check::unknown_environment"));
    assert_eq!(stdout(&unknown), "");
}

#[test]
fn envdiff_human_table_shows_the_differing_rows() {
    let dir = envdiff_stack();
    let output = infra_env(&dir.path, &["envdiff", "dev", "prod"], &[("K", K)]);
    assert_exit(&output, 2);
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("dev") && lines[0].contains("prod"),
        "{out}"
    );
    let row = |what: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(what))
            .unwrap_or_else(|| panic!("no row {what}:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("var.replicas"), "~ var.replicas 1 3");
    assert_eq!(row("var.token"), "~ var.token (secret) (secret, differs)");
    assert_eq!(
        row("local_file.conf.path"),
        "~ local_file.conf.path \"out/1.env\" \"out/3.env\""
    );
    // Rows that are the same are left out without --all.
    assert!(!out.contains("secret.k"), "{out}");
    assert!(out.contains("differ between dev and prod."), "{out}");
}

#[test]
fn envdiff_json_has_the_documented_fields() {
    let dir = envdiff_stack();
    let output = infra_env(
        &dir.path,
        &["envdiff", "dev", "prod", "--format", "json"],
        &[("K", K)],
    );
    assert_exit(&output, 2);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["format_version"], "1.0");
    assert_eq!(json["a"], "dev");
    assert_eq!(json["b"], "prod");
    assert_eq!(json["differs"], true);
    let rows = json["rows"].as_array().unwrap();
    let row = |what: &str| {
        rows.iter()
            .find(|r| r["what"] == what)
            .unwrap_or_else(|| panic!("no {what}"))
    };
    assert_eq!(
        row("var.replicas"),
        &serde_json::json!({
            "what": "var.replicas",
            "a": { "present": true, "value": "1" },
            "b": { "present": true, "value": "3" },
            "differs": true,
        })
    );
    assert_eq!(
        row("secret.k"),
        &serde_json::json!({
            "what": "secret.k",
            "a": { "present": true, "secret": true },
            "b": { "present": true, "secret": true },
            "differs": false,
        })
    );
    assert_eq!(row("var.token")["differs"], true);
    assert_eq!(
        row("local_file.conf.id")["a"],
        serde_json::json!({ "present": true, "known_after_apply": true })
    );
    // Every row is there in JSON, the same ones too.
    assert!(rows.iter().any(|r| r["differs"] == false));
}

#[test]
fn envdiff_shows_secrets_only_as_same_or_differs() {
    let dir = envdiff_stack();
    let output = infra_env(
        &dir.path,
        &["envdiff", "prod", "prod_copy", "--all"],
        &[("K", K)],
    );
    assert_exit(&output, 0);
    let out = stdout(&output);
    let row = |what: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(what))
            .unwrap_or_else(|| panic!("no row {what}:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("secret.k"), "secret.k (secret) (secret, same)");
    assert_eq!(row("var.token"), "var.token (secret) (secret, same)");
    assert_eq!(
        row("local_file.conf.sensitive_content"),
        "local_file.conf.sensitive_content (secret) (secret, same)"
    );
    for output in [
        &output,
        &infra_env(&dir.path, &["envdiff", "dev", "prod", "--all"], &[("K", K)]),
        &infra_env(
            &dir.path,
            &["envdiff", "dev", "prod", "--all", "--format", "json"],
            &[("K", K)],
        ),
    ] {
        let all = streams(output);
        for plaintext in [K, "dev-token", "prod-token"] {
            assert!(!all.contains(plaintext), "{plaintext} leaked:\n{all}");
        }
    }
}

#[test]
fn envdiff_without_the_secret_env_var_is_secret_source_missing_once() {
    let dir = envdiff_stack();
    let output = infra_env(&dir.path, &["envdiff", "dev", "prod"], &[]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert_eq!(
        err.matches("infra::check::secret_source_missing").count(),
        1,
        "{err}"
    );
    assert!(err.contains("export K before running infra"), "{err}");
}

// ---- 5. planted secrets never leak --------------------------------------------------

const CANARY_SECRET: &str = "canary-secret-5f1d0c9e";
const CANARY_VARIABLE: &str = "canary-variable-7a2b4e61";

const LEAK_STACK: &str = r#"variable "token" {
  type      = string
  sensitive = true
  default   = "placeholder"
  validate {
    condition = length(var.token) > 3
    message   = "the token ${var.token} is too short"
  }
}

environment "dev" {}

environment "prod" {
  vars = { token = "prod-placeholder" }
}

secret "k" {
  env = "LEAK_K"
}

locals {
  x = "k=${secret.k};t=${var.token}"
}

resource "local_file" "conf" {
  for_each          = { api = 1, worker = 2 }
  path              = "out/${env.name}/${each.key}.env"
  sensitive_content = local.x
}

output "y" {
  value     = local.x
  sensitive = true
}
"#;

/// Every output of every command that reads a stack, with the canaries
/// planted: the secret through its environment variable, the sensitive
/// variable through `--var` (`graph` takes it only with `--env`: without one
/// it draws the stack without evaluating it).
fn leak_outputs(dir: &Path) -> Vec<(String, Output)> {
    let var = format!("token={CANARY_VARIABLE}");
    let commands: &[&[&str]] = &[
        &["validate", "--var", &var],
        &["validate", "--format", "json", "--var", &var],
        &["validate", "--env", "prod", "--var", &var],
        &["graph"],
        &["graph", "--format", "mermaid"],
        &["graph", "--env", "prod", "--var", &var],
        &[
            "graph", "--env", "dev", "--format", "mermaid", "--var", &var,
        ],
        &["envdiff", "dev", "prod", "--var", &var],
        &["envdiff", "dev", "prod", "--all", "--var", &var],
        &["envdiff", "dev", "prod", "--format", "json", "--var", &var],
        &[
            "envdiff", "dev", "prod", "--all", "--format", "json", "--var", &var,
        ],
        &["envdiff", "dev", "prod", "--all"],
    ];
    commands
        .iter()
        .map(|args| {
            let output = infra_env(dir, args, &[("LEAK_K", CANARY_SECRET)]);
            (args.join(" "), output)
        })
        .collect()
}

#[track_caller]
fn assert_no_canary(outputs: &[(String, Output)]) {
    for (command, output) in outputs {
        let all = streams(output);
        for canary in [CANARY_SECRET, CANARY_VARIABLE] {
            assert!(
                !all.contains(canary),
                "`infra {command}` leaked {canary}:\n{all}"
            );
            // Not even in part (a label that cuts a value short).
            assert!(
                !all.contains(&canary[..12]),
                "`infra {command}` leaked part of {canary}:\n{all}"
            );
        }
    }
}

#[test]
fn planted_secrets_appear_in_no_output_of_any_command() {
    let dir = TempDir::new("leak");
    dir.write("main.infra", LEAK_STACK);
    let outputs = leak_outputs(&dir.path);
    for (command, output) in &outputs {
        assert!(
            matches!(code(output), 0 | 2),
            "`infra {command}`: {}",
            streams(output)
        );
    }
    assert_no_canary(&outputs);
}

#[test]
fn planted_secrets_appear_in_no_error_either() {
    // Errors that carry a secret: a failed validation whose message interpolates
    // the sensitive variable, a secret reaching an output that is not
    // sensitive, and a secret used as a map key.
    let dir = TempDir::new("leak-errors");
    let stack = LEAK_STACK
        .replace("length(var.token) > 3", "length(var.token) > 300")
        .replace("  sensitive = true\n}", "}")
        + "\nlocals {\n  bad = { a = 1 }[secret.k]\n}\n";
    dir.write("main.infra", &stack);
    let outputs = leak_outputs(&dir.path);
    let validate = &outputs[0].1;
    assert_exit(validate, 1);
    let err = stderr(validate);
    assert!(err.contains("infra::check::validation_failed"), "{err}");
    assert!(err.contains("`token` is (secret) (from --var)"), "{err}");
    assert!(err.contains("infra::check::secret_in_output"), "{err}");
    assert!(err.contains("infra::check::missing_key"), "{err}");
    for (command, output) in &outputs {
        if !command.starts_with("graph") || command.contains("--env") {
            assert_exit(output, 1);
        }
    }
    assert_no_canary(&outputs);
}

#[test]
fn a_secret_in_an_output_that_is_not_sensitive_is_refused_with_its_path() {
    let dir = TempDir::new("secret-output");
    dir.write(
        "main.infra",
        "secret \"k\" {\n  env = \"K\"\n}\n\nlocals {\n  x = \"key=${secret.k}\"\n}\n\noutput \"y\" {\n  value = local.x\n}\n",
    );
    let output = infra_env(&dir.path, &["validate"], &[("K", K)]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("infra::check::secret_in_output"), "{err}");
    assert!(err.contains("main.infra:10:11"), "{err}");
    assert!(err.contains("secret.k → local.x → output.y"), "{err}");
    assert!(err.contains("this output is not marked sensitive"), "{err}");
    assert!(!err.contains(K), "{err}");
    let output = infra_env(&dir.path, &["validate", "--format", "json"], &[("K", K)]);
    assert_exit(&output, 1);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let diagnostic = &json["diagnostics"][0];
    assert_eq!(diagnostic["code"], "infra::check::secret_in_output");
    assert!(
        diagnostic["help"]
            .as_str()
            .unwrap()
            .contains("secret.k → local.x → output.y"),
        "{diagnostic}"
    );
}

// ---- 6. examples/quickstart -----------------------------------------------------

#[test]
fn quickstart_validates_graphs_and_its_environments_differ_in_replicas() {
    let quickstart = repo_root().join("examples/quickstart");
    let output = infra(&quickstart, &["validate"]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("valid (environments: dev, prod)"),
        "{}",
        streams(&output)
    );
    for format in ["dot", "mermaid"] {
        let output = infra(&quickstart, &["graph", "--format", format]);
        assert_exit(&output, 0);
        assert!(stdout(&output).contains("local_file.service_env"));
    }
    let output = infra(&quickstart, &["envdiff", "dev", "prod"]);
    assert_exit(&output, 2);
    let out = stdout(&output);
    let replicas = out
        .lines()
        .find(|l| l.starts_with("~ var.replicas"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        replicas.split_whitespace().collect::<Vec<_>>(),
        ["~", "var.replicas", "1", "2"]
    );
    let output = infra(
        &quickstart,
        &["validate", "-C", ".", "--env", "prod", "--format", "json"],
    );
    assert_exit(&output, 0);
}
