//! `service` blocks run by the `process` provider, end to end through the
//! `infra` binary, with real processes: the small app in
//! `examples/shop/services/app.py` (python3), which answers its version and
//! can be told to fail its health check, its smoke test or a share of requests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use crate::common;
use common::postgres::free_port;

use common::deploy::{
    WATCHES_V2, apply_v2_into_its_watch, assert_interrupted_and_rolled_back,
    assert_resumed_the_rollback, audit_text, interrupt, interrupt_twice, journal_text, said,
    service_logs,
};
use common::{TempDir, code, infra_env, stderr, stdout};
use std::path::{Path, PathBuf};

const SECRET: &str = "sk_live_s3cr3t_9f8e7d6c";

/// A stack folder with the app, whose processes are killed when dropped.
struct Stack {
    dir: TempDir,
}

impl Stack {
    fn new(name: &str, main: &str) -> Stack {
        let dir = TempDir::new(name);
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop/services/app.py");
        std::fs::copy(app, dir.path.join("app.py")).unwrap();
        dir.write("main.infra", main);
        Stack { dir }
    }

    fn infra(&self, args: &[&str]) -> std::process::Output {
        infra_env(&self.dir.path, args, &[("STRIPE_KEY", SECRET)])
    }

    fn apply(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["apply", "--auto-approve"];
        args.extend_from_slice(extra);
        self.infra(&args)
    }

    /// Every pidfile under the run folders: (slot file, pid, start time).
    fn pidfiles(&self) -> Vec<(PathBuf, u32, u64)> {
        common::files_under(&self.dir.path.join(".infra/run"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pid"))
            .filter_map(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                let mut parts = text.split_whitespace();
                let pid = parts.next()?.parse().ok()?;
                let start = parts.next()?.parse().ok()?;
                Some((p, pid, start))
            })
            .collect()
    }

    /// The pids of the processes that are alive now.
    fn alive(&self) -> Vec<u32> {
        self.pidfiles()
            .into_iter()
            .filter(|(_, pid, start)| infra::providers::process::machine::is_alive(*pid, *start))
            .map(|(_, pid, _)| pid)
            .collect()
    }

    /// Every process of the app (`app.py`, working in the stack folder),
    /// including any a pidfile no longer names.
    fn running_here(&self) -> Vec<u32> {
        let dir = std::fs::canonicalize(&self.dir.path).unwrap();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
                    && std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("app.py"))
                    && infra::providers::process::machine::proc_stat(*pid)
                        .is_some_and(|(state, _)| state != 'Z')
            })
            .collect()
    }

    /// Everything infra wrote under `.infra` (state, history, logs), as text.
    fn written(&self) -> String {
        common::files_under(&self.dir.path.join(".infra"))
            .into_iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // The router: the nginx master whose prefix is in this stack's run folder.
        let run = self
            .dir
            .path
            .join(".infra/run")
            .to_string_lossy()
            .into_owned();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.contains("nginx") && cmdline.contains(run.as_str()) {
                let _ = std::process::Command::new("kill")
                    .args(["-QUIT", &pid.to_string()])
                    .status();
            }
        }
        for pid in self.running_here() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        for (_, pid, start) in self.pidfiles() {
            if infra::providers::process::machine::is_alive(pid, start) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

fn get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let (host, path) = address.split_once('/').unwrap_or((address, ""));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// One service on `port`, recreated, with the settings in `extra`.
fn service(port: u16, extra: &str) -> String {
    format!(
        r#"
stack "svc" {{}}

variable "version" {{
  default = "v1"
}}

secret "stripe_key" {{
  env = "STRIPE_KEY"
}}

service "api" {{
  run    = ["python3", "app.py", "${{self.port}}"]
  port   = {port}
  env    = {{ STRIPE_KEY = secret.stripe_key, VERSION = var.version }}
  health = {{ http = "http://127.0.0.1:${{self.port}}/health", interval = "50ms", timeout = "2s", start_period = "5s", retries = 2 }}
{extra}
}}

output "url" {{
  value = service.api.url
}}

output "version" {{
  value = service.api.version
}}
"#
    )
}

#[test]
fn a_service_starts_detached_answers_and_is_stopped_by_destroy() {
    let port = free_port();
    let stack = Stack::new("start", &service(port, ""));
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains(&format!("url = \"http://127.0.0.1:{port}\"")));
    // It outlives infra.
    let answer = get(&format!("http://127.0.0.1:{port}/")).unwrap_or_default();
    assert!(answer.contains("version v1"), "{answer}");
    assert_eq!(stack.alive().len(), 1);
    // Logs and the pidfile are in the run folder.
    let run = stack.dir.path.join(".infra/run/svc/default/api");
    assert!(run.join("blue-0.pid").is_file() || run.join("green-0.pid").is_file());
    let output = stack.infra(&["destroy", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stack.alive().is_empty());
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_none());
}

#[test]
fn a_killed_process_is_drift_and_the_next_apply_starts_it_again() {
    let port = free_port();
    let stack = Stack::new("killed", &service(port, ""));
    assert_eq!(code(&stack.apply(&[])), 0);
    let output = stack.infra(&["drift"]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    for pid in stack.alive() {
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
    }
    common::wait_until(
        "the process is gone",
        || stack.alive().is_empty(),
        String::new,
    );
    let output = stack.infra(&["drift"]);
    assert_eq!(code(&output), 2, "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("status = \"running\" -> \"stopped\""),
        "{}",
        stdout(&output)
    );
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert_eq!(stack.alive().len(), 1);
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_some_and(|a| a.contains("version v1")));
    assert_eq!(code(&stack.infra(&["drift"])), 0);
}

#[test]
fn a_pid_that_belongs_to_another_process_now_is_not_the_service() {
    // This test process stands for a process that got a recorded pid: the
    // pid matches, the start time does not.
    let pid = std::process::id();
    let (_, start) = infra::providers::process::machine::proc_stat(pid).unwrap();
    assert!(infra::providers::process::machine::is_alive(pid, start));
    assert!(!infra::providers::process::machine::is_alive(
        pid,
        start + 1
    ));
    assert!(!infra::providers::process::machine::is_alive(
        pid,
        start.saturating_sub(1)
    ));
}

#[test]
fn secrets_reach_the_process_environment_only() {
    let port = free_port();
    let stack = Stack::new("secrets", &service(port, ""));
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let plan = stack.infra(&["plan", "--var", "version=v2"]);
    let pids = stack.alive();
    assert_eq!(pids.len(), 1);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
    let environ = std::fs::read(format!("/proc/{}/environ", pids[0])).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(SECRET));
    assert!(
        String::from_utf8_lossy(&environ).contains(SECRET),
        "the app gets it"
    );
    // Nor does infra's own environment leak into the child.
    assert!(!String::from_utf8_lossy(&environ).contains("NO_COLOR"));
    for text in [
        stdout(&output),
        stderr(&output),
        stdout(&plan),
        stderr(&plan),
        stack.written(),
    ] {
        assert!(!text.contains(SECRET));
    }
    let outputs = stack.infra(&["output", "--json"]);
    assert!(!stdout(&outputs).contains(SECRET));
}

#[test]
fn a_new_version_is_deployed_and_a_failed_one_rolls_back_to_the_old() {
    let port = free_port();
    let stack = Stack::new("recreate", &service(port, ""));
    assert_eq!(code(&stack.apply(&[])), 0);
    let output = stack.apply(&["--var", "version=v2"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_some_and(|a| a.contains("version v2")));
    // v3 fails its health check: v2 is started again and apply fails.
    std::fs::write(
        stack.dir.path.join("main.infra"),
        service(port, "").replace(
            "VERSION = var.version }",
            "VERSION = var.version, FAIL_HEALTH = var.version == \"v3\" ? \"1\" : \"0\" }",
        ),
    )
    .unwrap();
    let output = stack.apply(&["--var", "version=v2"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = stack.apply(&["--var", "version=v3"]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let text = said(&output);
    assert!(text.contains("did not become healthy"), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_some_and(|a| a.contains("version v2")));
    assert_eq!(stack.alive().len(), 1);
    // State records the restarted v2's processes: no drift.
    let output = stack.infra(&["drift"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    // And the next apply deploys v3 again (and fails again): the prior
    // object is v2's, as it runs.
    let output = stack.infra(&["plan", "--var", "version=v3"]);
    assert!(
        stdout(&output).contains("service.api will be"),
        "{}",
        stdout(&output)
    );
}

/// `service()` with `health` as its health check.
fn with_health(port: u16, health: &str) -> String {
    service(port, "")
        .lines()
        .map(|line| {
            if line.starts_with("  health = ") {
                format!("  health = {health}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Deploys v1 with the `healthy` check, then v2 with the `unhealthy` one:
/// v1 comes up and answers; v2 fails with `why`, v1 is started again and
/// answers, and `infra drift` finds it as state records it.
fn health_check_kind(name: &str, healthy: &str, unhealthy: &str, why: &str) {
    let port = free_port();
    let stack = Stack::new(name, &with_health(port, healthy));
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_some_and(|a| a.contains("version v1")));
    let output = stack.infra(&["drift"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    stack.dir.write("main.infra", with_health(port, unhealthy));
    let output = stack.apply(&["--var", "version=v2"]);
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = said(&output);
    assert!(text.contains("did not become healthy"), "{text}");
    assert!(text.contains(why), "{text}");
    assert!(text.contains("rolled back: version"), "{text}");
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_some_and(|a| a.contains("version v1")));
    assert_eq!(stack.alive().len(), 1);
    assert_eq!(stack.running_here().len(), 1, "v2's process is gone");
    let output = stack.infra(&["drift"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
}

#[test]
fn a_tcp_health_check_passes_on_a_listening_port_and_fails_on_a_dead_one() {
    // Nothing listens on `dead` (bound once, then released).
    let dead = free_port();
    health_check_kind(
        "tcp_health",
        r#"{ tcp = "127.0.0.1:${self.port}", interval = "50ms", timeout = "1s", start_period = "5s", retries = 2 }"#,
        &format!(
            r#"{{ tcp = "127.0.0.1:{dead}", interval = "50ms", timeout = "1s", start_period = "300ms", retries = 2 }}"#
        ),
        &format!("connect 127.0.0.1:{dead}"),
    );
}

#[test]
fn an_exec_health_check_passes_when_it_exits_0_and_fails_when_it_exits_1() {
    health_check_kind(
        "exec_health",
        r#"{ exec = ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', ${self.port}))"], interval = "50ms", timeout = "5s", start_period = "5s", retries = 2 }"#,
        r#"{ exec = ["sh", "-c", "exit 1"], interval = "50ms", timeout = "5s", start_period = "300ms", retries = 2 }"#,
        "`sh`: exited with exit status: 1",
    );
}

#[test]
fn a_missing_command_fails_clearly_and_leaves_nothing_running() {
    let port = free_port();
    let main = service(port, "").replace(
        "\"python3\", \"app.py\"",
        "\"no-such-command-x\", \"app.py\"",
    );
    let stack = Stack::new("missing", &main);
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 1);
    assert!(
        said(&output).contains("`no-such-command-x` was not found"),
        "{}",
        said(&output)
    );
    assert!(stack.alive().is_empty());
}

#[test]
fn a_command_that_exits_at_once_fails_with_the_end_of_its_log() {
    let port = free_port();
    let main = service(port, "").replace(
        "VERSION = var.version",
        "VERSION = var.version, EXIT_AT_ONCE = \"1\"",
    );
    let stack = Stack::new("exits", &main);
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 1);
    let text = said(&output);
    assert!(text.contains("told to exit at once"), "{text}");
    assert!(stack.alive().is_empty());
}

#[test]
fn a_port_in_use_is_refused_naming_its_holder() {
    let holder = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    let stack = Stack::new("port", &service(port, ""));
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 1);
    let text = said(&output);
    assert!(text.contains(&format!("port {port} is in use")), "{text}");
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    assert!(stack.alive().is_empty());
}

#[test]
fn a_health_url_that_hangs_fails_when_the_timeout_runs_out() {
    let port = free_port();
    let main = service(port, "")
        .replace("/health\", interval", "/hang\", interval")
        .replace(
            "timeout = \"2s\", start_period = \"5s\", retries = 2",
            "timeout = \"300ms\", start_period = \"2s\", retries = 1",
        );
    let stack = Stack::new("hang", &main);
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 1);
    let text = said(&output);
    assert!(text.contains("no answer within"), "{text}");
    assert!(stack.alive().is_empty());
}

#[test]
fn bad_settings_are_refused_by_validate_at_the_setting() {
    let stack = Stack::new(
        "validate",
        &service(
            8080,
            "  router = { listen = 8000 }\n  deploy = { strategy = \"blue-green\", max_error_rate = 2, watch = \"5\" }",
        ),
    );
    let output = stack.infra(&["validate"]);
    assert_eq!(code(&output), 1);
    let text = said(&output);
    assert_eq!(
        text.matches("infra::check::invalid_service_setting")
            .count(),
        3,
        "{text}"
    );
    assert!(
        text.contains("strategy       = ") || text.contains("\"blue-green\""),
        "{text}"
    );
}

/// A service behind a router on `listen`, with `deploy` settings; the app's
/// settings in `env` (a map's entries). Smoke goes to `/smoke` through the
/// router, so a failing smoke test is not seen by the load loop on `/`.
fn routed(port: u16, listen: u16, deploy: &str, env: &str, replicas: u32) -> String {
    format!(
        r#"
stack "svc" {{}}

variable "version" {{
  default = "v1"
}}

secret "stripe_key" {{
  env = "STRIPE_KEY"
}}

service "api" {{
  run      = ["python3", "app.py", "${{self.port}}"]
  port     = {port}
  replicas = {replicas}
  env      = {{ STRIPE_KEY = secret.stripe_key, VERSION = var.version{env} }}
  health   = {{ http = "http://127.0.0.1:${{self.port}}/health", interval = "50ms", timeout = "2s", start_period = "5s", retries = 2 }}
  smoke    = {{ http = "http://127.0.0.1:{listen}/smoke", expect_status = 200 }}
  router   = {{ listen = {listen} }}
  deploy   = {deploy}
}}
"#
    )
}

/// The router's state: `INFRA_SKIP_SERVICES=1` skips (recorded).
fn with_nginx(test: &str) -> bool {
    common::nginx::nginx(test).is_some()
}

/// Applies v1, then runs `v2` (a `--var version=...` apply, with `main` as
/// the configuration) under the load loop; returns the loop's report, the
/// apply's output and its report after the apply.
fn deploy_under_load(
    stack: &Stack,
    listen: u16,
    main: &str,
    version: &str,
) -> (common::load::LoadReport, std::process::Output) {
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let url = format!("http://127.0.0.1:{listen}/");
    let load = common::load::LoadLoop::start(&url);
    let before = load.wait_until("answers from v1", |r| r.answered("version v1") > 20);
    std::fs::write(stack.dir.path.join("main.infra"), main).unwrap();
    let output = stack.apply(&["--var", &format!("version={version}")]);
    let after = load.so_far();
    let _ = before;
    let report = load.stop();
    let _ = after;
    (report, output)
}

#[test]
fn a_blue_green_deploy_under_load_drops_no_request() {
    if !with_nginx("a_blue_green_deploy_under_load_drops_no_request") {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let main = routed(
        port,
        listen,
        r#"{ strategy = "blue_green", watch = "1s", max_error_rate = 0.01 }"#,
        "",
        1,
    );
    let stack = Stack::new("bluegreen", &main);
    let (report, output) = deploy_under_load(&stack, listen, &main, "v2");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
    assert!(report.answered("version v2") > 0, "{report:?}");
    assert_eq!(stack.alive().len(), 1, "the old colour is stopped");
}

#[test]
fn a_canary_deploy_under_load_drops_no_request() {
    if !with_nginx("a_canary_deploy_under_load_drops_no_request") {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let main = routed(
        port,
        listen,
        r#"{ strategy = "canary", steps = [10, 50, 100], pause = "300ms" }"#,
        "",
        1,
    );
    let stack = Stack::new("canary", &main);
    let (report, output) = deploy_under_load(&stack, listen, &main, "v2");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
    assert!(report.answered("version v2") > 0, "{report:?}");
    assert_eq!(stack.alive().len(), 1);
}

/// A deploy of v2 whose app is told `fault` rolls back: the load loop sees
/// no failure, v1 still answers, v2's processes are gone, the audit says why.
fn rolls_back(test: &str, fault: &str, deploy: &str, why: &str, traffic_moved: bool) {
    if !with_nginx(test) {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let fault_env = format!(", {fault} = var.version == \"v2\" ? \"1\" : \"0\"");
    let main = routed(port, listen, deploy, &fault_env, 1);
    let stack = Stack::new(test, &main);
    let (report, output) = deploy_under_load(&stack, listen, &main, "v2");
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = said(&output);
    assert!(text.contains(why), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
    // A smoke test runs after the traffic moved; a health check before.
    assert_eq!(
        report.answered("version v2") > 0,
        traffic_moved,
        "{report:?}"
    );
    assert_eq!(stack.alive().len(), 1, "only v1 runs");
    assert!(get(&format!("http://127.0.0.1:{listen}/")).is_some_and(|a| a.contains("version v1")));
    let written = stack.written();
    assert!(
        written.contains("rolled back"),
        "the audit records the rollback"
    );
}

#[test]
fn a_version_that_fails_its_health_check_is_rolled_back() {
    rolls_back(
        "fails_health",
        "FAIL_HEALTH",
        r#"{ strategy = "blue_green" }"#,
        "did not become healthy",
        false,
    );
}

#[test]
fn a_version_that_fails_its_smoke_test_is_rolled_back() {
    rolls_back(
        "fails_smoke",
        "FAIL_SMOKE",
        r#"{ strategy = "blue_green" }"#,
        "the smoke test failed",
        true,
    );
}

#[test]
fn a_version_that_fails_the_watch_is_rolled_back_with_its_error_rate() {
    if !with_nginx("fails_watch") {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let fault_env = ", ERROR_RATE = var.version == \"v2\" ? \"0.2\" : \"0\"";
    let main = routed(
        port,
        listen,
        r#"{ strategy = "blue_green", watch = "3s", max_error_rate = 0.05 }"#,
        fault_env,
        1,
    );
    let stack = Stack::new("fails_watch", &main);
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let load = common::load::LoadLoop::start(&format!("http://127.0.0.1:{listen}/"));
    load.wait_until("answers from v1", |r| r.answered("version v1") > 20);
    let output = stack.apply(&["--var", "version=v2"]);
    let report = load.stop();
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let text = said(&output);
    assert!(text.contains("error rate"), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    // The 5xx answers v2 gave during the watch reached the load loop; v1
    // answers again after.
    assert!(report.answered("version v2") > 0);
    assert_eq!(stack.alive().len(), 1);
    assert!(get(&format!("http://127.0.0.1:{listen}/")).is_some_and(|a| a.contains("version v1")));
    assert!(
        stack.written().contains("error rate"),
        "the measured rate is in the audit"
    );
}

#[test]
fn a_rolling_deploy_replaces_three_replicas_without_dropping_a_request() {
    if !with_nginx("rolling") {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let main = routed(
        port,
        listen,
        r#"{ strategy = "rolling", max_unavailable = 1 }"#,
        "",
        3,
    );
    let stack = Stack::new("rolling", &main);
    let (report, output) = deploy_under_load(&stack, listen, &main, "v2");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
    assert!(report.answered("version v2") > 0);
    assert_eq!(stack.alive().len(), 3);
}

/// The shop's services part, as its README runs it: validate, plan, and an
/// apply that works on the first run, although the generated secret in the
/// service's `env` is unknown at plan (apply re-resolves the configuration,
/// and the service's run folder must survive that).
#[test]
fn the_shop_services_part_validates_plans_and_applies_on_the_first_run() {
    let dir = TempDir::new("shop");
    common::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop/services"),
        &dir.path,
    );
    let env = [("STRIPE_KEY", SECRET)];
    let output = infra_env(&dir.path, &["validate"], &env);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = infra_env(&dir.path, &["plan", "--env", "staging"], &env);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("+ service.api will be created"), "{text}");
    assert!(text.contains("STRIPE_KEY = (secret)"), "{text}");
    assert!(!text.contains(SECRET));
    // Only the settings written show: not `exec = null` in an HTTP health check.
    assert!(text.contains("health"), "{text}");
    assert!(!text.contains("null"), "{text}");
    // On a free port rather than the example's 8080.
    let port = free_port();
    let main = std::fs::read_to_string(dir.path.join("main.infra")).unwrap();
    assert!(main.contains("port   = 8080"), "{main}");
    dir.write(
        "main.infra",
        main.replace("port   = 8080", &format!("port   = {port}")),
    );
    let output = infra_env(
        &dir.path,
        &["apply", "--env", "staging", "--auto-approve"],
        &env,
    );
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let answer = get(&format!("http://127.0.0.1:{port}/")).unwrap_or_default();
    assert!(answer.contains("version v1"), "{answer}");
    let output = infra_env(
        &dir.path,
        &["destroy", "--env", "staging", "--auto-approve"],
        &env,
    );
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_none());
}

/// The journal's text, when there is one.
/// Kills `infra apply` (kill -9) once the journal holds the checkpoint of
/// `step` of a blue-green deploy of v2, then applies again: the deploy is
/// finished or rolled back, the load loop saw no failure across the trial,
/// and exactly one colour runs.
fn crash_at(step: &str, bystander: &Stack) {
    let test = format!("crash at {step}");
    if !with_nginx(&test) {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let main = routed(
        port,
        listen,
        r#"{ strategy = "blue_green", watch = "2s", max_error_rate = 0.5 }"#,
        "",
        1,
    );
    let stack = Stack::new(&step.replace(' ', "_"), &main);
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let load = common::load::LoadLoop::start(&format!("http://127.0.0.1:{listen}/"));
    load.wait_until("answers from v1", |r| r.answered("version v1") > 20);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["apply", "--auto-approve", "--var", "version=v2"])
        .current_dir(&stack.dir.path)
        .env("NO_COLOR", "1")
        .env("STRIPE_KEY", SECRET)
        .env_remove("INFRA_STATE_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let needle = format!("\"step\":\"{step}\"");
    common::wait_until(
        &format!("the journal holds the {step} checkpoint"),
        || journal_text(&stack.dir.path).contains(&needle) || child.try_wait().unwrap().is_some(),
        || journal_text(&stack.dir.path),
    );
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        killed,
        "{step}: infra finished before the checkpoint was seen"
    );
    let output = stack.apply(&["--var", "version=v2"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let report = load.stop();
    assert_eq!(report.failures, 0, "{step}: {:?}", report.failure_samples);
    assert!(get(&format!("http://127.0.0.1:{listen}/")).is_some_and(|a| a.contains("version v2")));
    assert_eq!(
        stack.running_here().len(),
        1,
        "{step}: one process of one colour runs"
    );
    assert_eq!(
        bystander.alive().len(),
        1,
        "{step}: the resume left the other stack's green process alone"
    );
}

#[test]
fn a_blue_green_deploy_killed_at_any_step_is_resumed_by_the_next_apply() {
    if !with_nginx("crash at any step") {
        return;
    }
    // Another folder's stack of the same name whose green colour runs: its
    // run folder has the same relative path as each crashed stack's, and a
    // resume must not take its processes for the crashed deploy's.
    let main = routed(
        free_port(),
        free_port(),
        r#"{ strategy = "blue_green" }"#,
        "",
        1,
    );
    let bystander = Stack::new("bystander", &main);
    assert_eq!(code(&bystander.apply(&[])), 0);
    let output = bystander.apply(&["--var", "version=v2"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(bystander.alive().len(), 1);
    for step in ["start", "switch 100", "smoke", "watch", "stop old"] {
        crash_at(step, &bystander);
    }
}

#[test]
fn infra_rollback_of_a_service_deploys_the_previous_version_with_its_strategy() {
    if !with_nginx("rollback") {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let main = routed(port, listen, r#"{ strategy = "blue_green" }"#, "", 1);
    let stack = Stack::new("rollback", &main);
    assert_eq!(code(&stack.apply(&[])), 0);
    let output = stack.apply(&["--var", "version=v2"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(get(&format!("http://127.0.0.1:{listen}/")).is_some_and(|a| a.contains("version v2")));
    let output = stack.infra(&["rollback", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(get(&format!("http://127.0.0.1:{listen}/")).is_some_and(|a| a.contains("version v1")));
    assert_eq!(stack.running_here().len(), 1);
}

/// Applies v1, then starts the deploy of v2 and waits until it is in its
/// watch window (`common::deploy::apply_v2_into_its_watch`).
fn deploy_in_its_watch(stack: &Stack, listen: u16) -> (common::load::LoadLoop, common::Watched) {
    let output = stack.apply(&[]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    apply_v2_into_its_watch(&stack.dir.path, &[("STRIPE_KEY", SECRET)], listen)
}

/// The first Ctrl-C reaches a running blue-green deploy in its watch window:
/// it rolls back cleanly (v1 in front again, v2's process stopped, no request
/// failed), the audit records the interrupted deploy, and infra exits 130.
#[test]
fn ctrl_c_during_a_deploy_rolls_it_back_and_exits_130() {
    if !with_nginx("ctrl_c_deploy") {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let main = routed(port, listen, WATCHES_V2, "", 1);
    let stack = Stack::new("ctrl_c_deploy", &main);
    let (load, child) = deploy_in_its_watch(&stack, listen);
    interrupt(&child);
    let output = child.finish();
    let report = load.stop();
    assert_interrupted_and_rolled_back(&output, &report);
    assert!(get(&format!("http://127.0.0.1:{listen}/")).is_some_and(|a| a.contains("version v1")));
    assert_eq!(stack.running_here().len(), 1, "v2's process is stopped");
    let audit = audit_text(&stack.dir.path);
    assert!(audit.contains("the deploy was interrupted"), "{audit}");
    assert!(
        journal_text(&stack.dir.path).is_empty(),
        "nothing is pending"
    );
    let output = stack.infra(&["drift"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
}

/// A second Ctrl-C while the first one's rollback runs (v2 ignores SIGTERM,
/// so stopping it takes the grace period) abandons the deploy: infra exits
/// 130 at once with the checkpoint in the journal, and the next apply resumes
/// from it, stops v2 and leaves v1 serving; no request fails across it all.
#[test]
fn a_second_ctrl_c_abandons_the_rollback_and_the_next_apply_resumes_it() {
    if !with_nginx("ctrl_c_twice") {
        return;
    }
    let (port, listen) = (free_port(), free_port());
    let main = routed(
        port,
        listen,
        WATCHES_V2,
        ", IGNORE_TERM = var.version == \"v2\" ? \"1\" : \"0\"",
        1,
    );
    let stack = Stack::new("ctrl_c_twice", &main);
    let (load, child) = deploy_in_its_watch(&stack, listen);
    // The rollback moves the traffic back and stops v2, which says it
    // ignores the SIGTERM: the second Ctrl-C comes then.
    interrupt_twice(child, || service_logs(&stack.dir.path.join(".infra/run")));
    assert!(
        journal_text(&stack.dir.path).contains("\"step\":\"watch\""),
        "the checkpoint is kept"
    );
    assert_eq!(stack.running_here().len(), 2, "v2 was left running");
    // The next apply (of v1) resumes: it rolls the deploy back for good.
    assert_resumed_the_rollback(&stack.apply(&[]), &stack.dir.path);
    let report = load.stop();
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
    assert!(get(&format!("http://127.0.0.1:{listen}/")).is_some_and(|a| a.contains("version v1")));
    assert_eq!(stack.running_here().len(), 1, "v2's process is stopped");
    assert!(journal_text(&stack.dir.path).is_empty());
    let output = stack.infra(&["drift"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
}
