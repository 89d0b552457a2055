//! `service` blocks with `provider = ssh` (or an aliased `ssh.ALIAS`): services deployed to a remote
//! host by the `process` provider's strategies over SSH, against a real
//! sshd each test starts (`common::sshd`, its sessions' `$HOME` in its temp
//! folder) and the server's real nginx. The app is the services tests' own
//! (`examples/shop/services/app.py`), uploaded with `ssh_file`.
//!
//! The "remote" host is this machine, so the tests can look at what a
//! server's operator would: its processes, `/proc/*/cmdline`, the files in
//! the login's home.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use crate::common;

use common::deploy::{
    WATCHES_V2, apply_v2_into_its_watch, assert_interrupted_and_rolled_back,
    assert_resumed_the_rollback, audit_text, interrupt, interrupt_twice, journal_text, said,
    service_logs,
};
use common::sshd::SshServer;
use common::{StackRuns, TempDir, code, infra_env, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Output;

const SECRET: &str = "sk_live_remote_7c1e9a0b";

use common::postgres::free_port;

/// The body of a GET of `url`, when it answers.
fn get(url: &str) -> Option<String> {
    common::load::get(url).ok()
}

/// A stack whose `ssh` provider points at its own sshd; on drop, every
/// process started under the server's home (services, the router's nginx)
/// is killed before the server and its folder go.
struct Stack {
    dir: TempDir,
    server: SshServer,
    header: String,
}

/// The pids of the processes whose working folder or command line is under `root`.
fn processes_under(root: &Path) -> Vec<u32> {
    let root_text = root.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let in_cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| cwd.starts_with(root));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let in_cmdline = String::from_utf8_lossy(&cmdline).contains(root_text.as_str());
            let live = infra::providers::process::machine::proc_stat(*pid)
                .is_some_and(|(state, _)| state != 'Z');
            live && (in_cwd || in_cmdline) && *pid != std::process::id()
        })
        .collect()
}

impl StackRuns for Stack {
    fn run(&self, args: &[&str]) -> Output {
        let envs = self.envs();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        infra_env(&self.dir.path, args, &envs)
    }
}

impl Stack {
    fn new(name: &str, body: &str) -> Option<Stack> {
        // The "server" is this machine: its nginx runs the routers (missing,
        // the helper fails with how to install it).
        common::nginx::nginx(name)?;
        let server = SshServer::start(name)?;
        let header = format!(
            "stack \"vps\" {{\n  default_environment = \"dev\"\n}}\n\nenvironment \"dev\" {{}}\n\n\
             variable \"version\" {{\n  default = \"v1\"\n}}\n\n\
             secret \"deploy_key\" {{\n  env = \"DEPLOY_KEY\"\n}}\n\n\
             secret \"stripe_key\" {{\n  env = \"STRIPE_KEY\"\n}}\n\n\
             provider \"ssh\" {{\n  host = \"127.0.0.1\"\n  port = {port}\n  user = \"{user}\"\n  \
             private_key = secret.deploy_key\n  host_key = \"{key}\"\n  connect_timeout = 20\n}}\n\n\
             resource \"ssh_directory\" \"app\" {{\n  path = \"{home}/app\"\n}}\n\n\
             resource \"ssh_file\" \"app\" {{\n  path   = \"${{ssh_directory.app.path}}/app.py\"\n  \
             source = \"app.py\"\n}}\n\n",
            port = server.port,
            user = server.user,
            key = server.host_key(),
            home = server.home().display(),
        );
        let dir = TempDir::new(name);
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop/services/app.py");
        std::fs::copy(app, dir.path.join("app.py")).unwrap();
        let stack = Stack {
            dir,
            server,
            header,
        };
        stack.write(body);
        Some(stack)
    }

    fn write(&self, body: &str) {
        self.dir
            .write("main.infra", format!("{}{body}", self.header));
    }

    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DEPLOY_KEY", self.server.client_key()),
            ("STRIPE_KEY", SECRET.to_owned()),
        ]
    }

    fn apply(&self, version: &str) -> Output {
        self.run(&[
            "apply",
            "--auto-approve",
            "--var",
            &format!("version={version}"),
        ])
    }

    /// The app's processes on the "server" (not the router).
    fn apps(&self) -> Vec<u32> {
        processes_under(&self.server.home())
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("app.py"))
            })
            .collect()
    }

    /// Every file under the server's home, as text (logs, pidfiles, router).
    fn remote_files(&self) -> String {
        common::files_under(&self.server.home())
            .into_iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Everything infra wrote under the stack's `.infra` (state, journal, history).
    fn local_files(&self) -> String {
        common::files_under(&self.dir.path.join(".infra"))
            .into_iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn journal(&self) -> String {
        journal_text(&self.dir.path)
    }

    /// What the api's remote router logged: the access log's lines of
    /// answers from 500 up (`1|msec|status|time|upstream|upstream status|request`)
    /// and the end of its error log.
    fn router_evidence(&self) -> String {
        let router = self.server.home().join(".infra/run/vps/dev/api/router");
        let access = std::fs::read_to_string(router.join("access.log")).unwrap_or_default();
        let failed: Vec<&str> = access
            .lines()
            .filter(|line| {
                line.split('|')
                    .nth(2)
                    .and_then(|status| status.parse::<u16>().ok())
                    .is_some_and(|status| status >= 500)
            })
            .collect();
        let errors = std::fs::read_to_string(router.join("error.log")).unwrap_or_default();
        let tail: Vec<&str> = errors.lines().rev().take(20).collect();
        format!(
            "5xx in access.log:\n{}\nerror.log ends:\n{}",
            failed.join("\n"),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// Applies v1, then starts the deploy of v2 and waits until it is in
    /// its watch window (`common::deploy::apply_v2_into_its_watch`).
    fn deploy_in_its_watch(&self, listen: u16) -> (common::load::LoadLoop, common::Watched) {
        let output = self.apply("v1");
        assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
        let envs = self.envs();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        apply_v2_into_its_watch(&self.dir.path, &envs, listen)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let home: PathBuf = self.server.home();
        for pid in processes_under(&home) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// The api on the remote host behind its router, deployed by `deploy`,
/// with `extra_env` added to its environment.
fn api(port: u16, listen: u16, deploy: &str, extra_env: &str) -> String {
    format!(
        r#"
service "api" {{
  provider = ssh
  run      = ["python3", ssh_file.app.path, "${{self.port}}"]
  workdir  = "app"
  port     = {port}
  env      = {{ STRIPE_KEY = secret.stripe_key, VERSION = var.version{extra_env} }}
  health   = {{ http = "http://127.0.0.1:${{self.port}}/health", interval = "50ms", timeout = "2s", start_period = "5s", retries = 2 }}
  smoke    = {{ http = "http://127.0.0.1:{listen}/smoke", expect_status = 200 }}
  router   = {{ listen = {listen} }}
  deploy   = {deploy}
}}

output "url" {{
  value = service.api.url
}}
"#
    )
}

fn answers(listen: u16, version: &str) -> bool {
    get(&format!("http://127.0.0.1:{listen}/"))
        .is_some_and(|a| a.contains(&format!("version {version}")))
}

#[test]
fn a_remote_blue_green_deploy_under_load_drops_no_request_and_drift_sees_a_dead_process() {
    let (port, listen) = (free_port(), free_port());
    let deploy = r#"{ strategy = "blue_green", watch = "1s", max_error_rate = 0.01 }"#;
    let Some(stack) = Stack::new("remote_bluegreen", &api(port, listen, deploy, "")) else {
        return;
    };
    let output = stack.apply("v1");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(answers(listen, "v1"), "the remote router serves v1");
    assert_eq!(stack.apps().len(), 1);
    // The run folder is in the remote home: pidfiles and logs.
    let run = stack.server.home().join(".infra/run/vps/dev/api");
    assert!(run.join("blue-0.pid").exists() || run.join("green-0.pid").exists());
    stack.expect(&["plan", "--detailed-exitcode"], 0);

    let load = common::load::LoadLoop::start(&format!("http://127.0.0.1:{listen}/"));
    load.wait_until("answers from v1", |r| r.answered("version v1") > 20);
    let output = stack.apply("v2");
    let report = load.stop();
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
    assert!(report.answered("version v2") > 0, "{report:?}");
    assert!(answers(listen, "v2"));
    assert_eq!(stack.apps().len(), 1, "the old colour is stopped");

    // A process killed on the server is drift, and apply starts it again.
    for pid in stack.apps() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    common::wait_until("the app is gone", || stack.apps().is_empty(), String::new);
    let output = stack.run(&["drift", "--var", "version=v2"]);
    assert_eq!(code(&output), 2, "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("service.api"),
        "{}",
        stdout(&output)
    );
    let output = stack.apply("v2");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(answers(listen, "v2"));
    assert_eq!(stack.apps().len(), 1);

    let output = stack.expect(&["destroy", "--auto-approve", "--var", "version=v2"], 0);
    let _ = output;
    assert!(
        stack.apps().is_empty(),
        "destroy stops the remote processes"
    );
    assert!(
        get(&format!("http://127.0.0.1:{listen}/")).is_none(),
        "and the router"
    );
}

#[test]
fn a_remote_version_that_fails_its_health_check_is_rolled_back_and_the_old_keeps_serving() {
    let (port, listen) = (free_port(), free_port());
    let deploy = r#"{ strategy = "blue_green" }"#;
    let fault = r#", FAIL_HEALTH = var.version == "v2" ? "1" : "0""#;
    let Some(stack) = Stack::new("remote_rollback", &api(port, listen, deploy, fault)) else {
        return;
    };
    let output = stack.apply("v1");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let load = common::load::LoadLoop::start(&format!("http://127.0.0.1:{listen}/"));
    load.wait_until("answers from v1", |r| r.answered("version v1") > 20);
    let output = stack.apply("v2");
    let report = load.stop();
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = said(&output);
    assert!(text.contains("did not become healthy"), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
    assert_eq!(report.answered("version v2"), 0, "{report:?}");
    assert!(answers(listen, "v1"), "the old version serves");
    assert_eq!(stack.apps().len(), 1, "the new process is stopped");
    assert!(
        stack.local_files().contains("rolled back"),
        "the audit says so"
    );
}

// A blue-green deploy killed at each of its checkpoints, under load, two
// checkpoints per test (each test has its own sshd and load loop), so the
// four crashes run side by side rather than one after another.
#[test]
fn a_remote_deploy_killed_at_its_start_or_switch_is_resumed_by_the_next_apply() {
    remote_crashes("remote_crash_a", &[("start", "v2"), ("switch 100", "v3")]);
}

#[test]
fn a_remote_deploy_killed_in_its_watch_or_stopping_the_old_is_resumed_by_the_next_apply() {
    remote_crashes("remote_crash_b", &[("watch", "v2"), ("stop old", "v3")]);
}

/// Applies v1, then for each (checkpoint, version): starts the deploy of that
/// version, kills infra (SIGKILL) as soon as the journal holds the
/// checkpoint, and checks that the next apply finishes the deploy (the
/// version serves, one colour runs); no request of the load loop fails.
fn remote_crashes(name: &str, steps: &[(&str, &str)]) {
    let (port, listen) = (free_port(), free_port());
    let deploy = r#"{ strategy = "blue_green", watch = "2s", max_error_rate = 0.5 }"#;
    let Some(stack) = Stack::new(name, &api(port, listen, deploy, "")) else {
        return;
    };
    let output = stack.apply("v1");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let load = common::load::LoadLoop::start(&format!("http://127.0.0.1:{listen}/"));
    load.wait_until("answers from v1", |r| r.answered("version v1") > 20);
    for &(step, version) in steps {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_infra"));
        command
            .args([
                "apply",
                "--auto-approve",
                "--var",
                &format!("version={version}"),
            ])
            .current_dir(&stack.dir.path)
            .env("NO_COLOR", "1")
            .env_remove("INFRA_STATE_KEY")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (name, value) in stack.envs() {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let needle = format!("\"step\":\"{step}\"");
        common::wait_until(
            &format!("the journal holds the {step} checkpoint"),
            || stack.journal().contains(&needle) || child.try_wait().unwrap().is_some(),
            || stack.journal(),
        );
        let killed = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        assert!(killed, "{step}: infra finished before the checkpoint");
        let output = stack.apply(version);
        assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
        assert!(answers(listen, version), "{step}: {version} serves");
        assert_eq!(stack.apps().len(), 1, "{step}: one colour runs");
    }
    let report = load.stop();
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
}

#[test]
fn secrets_of_a_remote_service_reach_its_environment_only() {
    let port = free_port();
    let body = format!(
        r#"
service "worker" {{
  provider = ssh
  run      = ["python3", ssh_file.app.path, "${{self.port}}"]
  workdir  = "app"
  port     = {port}
  env      = {{ STRIPE_KEY = secret.stripe_key, VERSION = var.version }}
  health   = {{ tcp = "127.0.0.1:${{self.port}}", interval = "50ms" }}
}}
"#
    );
    let Some(stack) = Stack::new("remote_secrets", &body) else {
        return;
    };
    let mut outputs = vec![stack.apply("v1")];
    assert_eq!(code(&outputs[0]), 0, "{}", stderr(&outputs[0]));
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_some_and(|a| a.contains("version v1")));
    let apps = stack.apps();
    assert_eq!(apps.len(), 1);
    let environ = std::fs::read(format!("/proc/{}/environ", apps[0])).unwrap();
    assert!(
        String::from_utf8_lossy(&environ).contains(SECRET),
        "the process got the secret in its environment"
    );
    // A new version: recreate, the secret again on stdin only.
    outputs.push(stack.apply("v2"));
    assert_eq!(code(&outputs[1]), 0, "{}", stderr(&outputs[1]));
    outputs.push(stack.run(&["plan", "--var", "version=v2"]));
    outputs.push(stack.run(&["drift", "--var", "version=v2"]));
    for output in &outputs {
        assert!(!stdout(output).contains(SECRET), "stdout holds the secret");
        assert!(!stderr(output).contains(SECRET), "stderr holds the secret");
    }
    let commands = stack.server.commands();
    assert!(commands.contains("infra-start"), "{commands}");
    assert!(
        !commands.contains(SECRET),
        "a remote command line holds the secret"
    );
    assert!(
        !stack.server.sftp_log().contains(SECRET),
        "a request in the server's SFTP log holds the secret"
    );
    for pid in processes_under(&stack.server.home()) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&cmdline).contains(SECRET));
    }
    assert!(
        !stack.remote_files().contains(SECRET),
        "a remote file holds it"
    );
    assert!(
        !stack.local_files().contains(SECRET),
        "state or journal holds it"
    );
    let key_line = stack.server.client_key().lines().nth(1).unwrap().to_owned();
    assert!(
        !stack.local_files().contains(&key_line),
        "the private key is in state"
    );
    assert!(!commands.contains(&key_line));
}

#[test]
fn a_server_without_nginx_is_a_clear_error_naming_the_package() {
    let (port, listen) = (free_port(), free_port());
    let Some(stack) = Stack::new(
        "remote_no_nginx",
        &api(port, listen, r#"{ strategy = "blue_green" }"#, ""),
    ) else {
        return;
    };
    // The provider's `nginx` names a binary the server lacks.
    let header = stack.header.replace(
        "  connect_timeout = 20\n",
        "  connect_timeout = 20\n  nginx = \"/nonexistent/sbin/nginx\"\n",
    );
    stack.dir.write(
        "main.infra",
        format!(
            "{header}{}",
            api(port, listen, r#"{ strategy = "blue_green" }"#, "")
        ),
    );
    let output = stack.apply("v1");
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = said(&output);
    assert!(text.contains("infra::ssh::nginx_missing"), "{text}");
    assert!(text.contains("nginx is not installed"), "{text}");
    assert!(text.contains("nginx-light"), "{text}");
    assert!(stack.apps().is_empty(), "nothing is left running: {text}");
}

/// `examples/vps` as its README runs it, with a test sshd per environment
/// (two "servers") and free ports: validate, apply staging and production,
/// a blue-green deploy of the API to v2 on staging, then destroy both.
#[test]
fn the_vps_example_applies_both_environments_and_deploys_the_api_blue_green() {
    if common::nginx::nginx("vps_example").is_none() {
        return;
    }
    let Some(staging) = SshServer::start("vps_example_staging") else {
        return;
    };
    let Some(production) = SshServer::start("vps_example_production") else {
        return;
    };
    let dir = TempDir::new("vps-example");
    common::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vps"),
        &dir.path,
    );
    let run = |server: &SshServer, env: &str, extra: &[&str], expected: i32| -> Output {
        let vars = [
            format!("ssh_port={}", server.port),
            format!("ssh_user={}", server.user),
            format!("home={}", server.home().display()),
            format!("host_key={}", server.host_key()),
        ];
        let mut args: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
        if extra[0] != "validate" {
            args.extend(["--env".to_owned(), env.to_owned()]);
            for var in &vars {
                args.extend(["--var".to_owned(), var.clone()]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let key = server.client_key();
        let output = infra_env(&dir.path, &args, &[("VPS_DEPLOY_KEY", key.as_str())]);
        common::exited(output, &args, expected)
    };
    run(&staging, "staging", &["validate"], 0);
    let mut ports = Vec::new();
    for (server, env) in [(&staging, "staging"), (&production, "production")] {
        let (site, api, listen) = (free_port(), free_port(), free_port());
        ports.push((site, listen));
        let port_vars = [
            format!("site_port={site}"),
            format!("api_port={api}"),
            format!("api_listen={listen}"),
        ];
        let mut args = vec!["apply", "--auto-approve"];
        for var in &port_vars {
            args.extend(["--var", var.as_str()]);
        }
        run(server, env, &args, 0);
        let page = get(&format!("http://127.0.0.1:{site}/index.html")).unwrap_or_default();
        assert!(page.contains("Deployed by infra over SSH"), "{env}: {page}");
        let answer = get(&format!("http://127.0.0.1:{listen}/")).unwrap_or_default();
        assert!(answer.contains("\"version\": \"v1\""), "{env}: {answer}");
        assert!(answer.contains("\"token\": true"), "{env}: {answer}");
        // The plan of a new version shows the blue-green steps.
        let mut plan = vec!["plan", "--var", "version=v2"];
        for var in &port_vars {
            plan.extend(["--var", var.as_str()]);
        }
        let output = run(server, env, &plan, 0);
        assert!(
            stdout(&output).contains("blue-green"),
            "{}",
            stdout(&output)
        );
        if env == "staging" {
            let load = common::load::LoadLoop::start(&format!("http://127.0.0.1:{listen}/"));
            load.wait_until("answers from v1", |r| r.requests > 20);
            let mut args = args.clone();
            args.extend(["--var", "version=v2"]);
            run(server, env, &args, 0);
            let report = load.stop();
            assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
            let answer = get(&format!("http://127.0.0.1:{listen}/")).unwrap_or_default();
            assert!(answer.contains("\"version\": \"v2\""), "{answer}");
        }
        let mut destroy = vec!["destroy", "--auto-approve"];
        if env == "production" {
            destroy.push("--allow-destroy");
        }
        for var in &port_vars {
            destroy.extend(["--var", var.as_str()]);
        }
        run(server, env, &destroy, 0);
        assert!(
            get(&format!("http://127.0.0.1:{listen}/")).is_none(),
            "{env}"
        );
        assert!(processes_under(&server.home()).is_empty(), "{env}");
    }
    for server in [&staging, &production] {
        for pid in processes_under(&server.home()) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Applies v1 and then v2 with `deploy` under the load loop: 0 failures,
/// answers from v2, and `processes` app processes left. With `address`, the
/// router listens there.
fn remote_deploy_under_load(
    test: &str,
    deploy: &str,
    replicas: u32,
    processes: usize,
    address: Option<&str>,
) {
    let (port, listen) = (free_port(), free_port());
    let mut body = api(port, listen, deploy, "").replace(
        "  workdir  = \"app\"\n",
        &format!("  workdir  = \"app\"\n  replicas = {replicas}\n"),
    );
    if let Some(address) = address {
        body = body.replace(
            &format!("router   = {{ listen = {listen} }}"),
            &format!("router   = {{ listen = {listen}, address = \"{address}\" }}"),
        );
        assert!(body.contains(address), "{body}");
    }
    let Some(stack) = Stack::new(test, &body) else {
        return;
    };
    let output = stack.apply("v1");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert_eq!(stack.apps().len(), processes);
    let load = common::load::LoadLoop::start(&format!("http://127.0.0.1:{listen}/"));
    load.wait_until("answers from v1", |r| r.answered("version v1") > 20);
    let output = stack.apply("v2");
    let report = load.stop();
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    // A failure says when it happened, what the deploy did, and what the
    // router logged then (its 5xx lines name the upstream that failed).
    assert_eq!(
        report.failures,
        0,
        "{:?}\ninfra apply said:\n{}\nthe router logged:\n{}",
        report.failure_samples,
        stdout(&output),
        stack.router_evidence()
    );
    assert!(report.answered("version v2") > 0, "{report:?}");
    assert!(answers(listen, "v2"));
    assert_eq!(stack.apps().len(), processes, "the old version is stopped");
    if let Some(address) = address {
        let conf = stack
            .server
            .home()
            .join(".infra/run/vps/dev/api/router/nginx.conf");
        let conf = std::fs::read_to_string(conf).unwrap();
        assert!(
            conf.contains(&format!("listen {address}:{listen};")),
            "{conf}"
        );
    }
}

#[test]
fn a_remote_canary_deploy_under_load_drops_no_request() {
    remote_deploy_under_load(
        "remote_canary",
        r#"{ strategy = "canary", steps = [10, 50, 100], pause = "300ms" }"#,
        1,
        1,
        None,
    );
}

#[test]
fn a_remote_rolling_deploy_replaces_two_replicas_without_dropping_a_request() {
    remote_deploy_under_load(
        "remote_rolling",
        r#"{ strategy = "rolling", max_unavailable = 1 }"#,
        2,
        2,
        Some("0.0.0.0"),
    );
}

#[test]
fn a_remote_command_that_is_missing_or_exits_at_once_fails_clearly_and_leaves_nothing() {
    let port = free_port();
    let service = |run: &str, env: &str| {
        format!(
            r#"
service "worker" {{
  provider = ssh
  run      = {run}
  workdir  = "app"
  port     = {port}
  env      = {{ VERSION = var.version{env} }}
  health   = {{ tcp = "127.0.0.1:${{self.port}}", interval = "50ms", start_period = "1s", retries = 2 }}
  depends_on = [ssh_file.app]
}}
"#
        )
    };
    let Some(stack) = Stack::new(
        "remote_bad_command",
        &service(r#"["no-such-program-7f3", "x"]"#, ""),
    ) else {
        return;
    };
    let output = stack.apply("v1");
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = said(&output);
    assert!(text.contains("infra::ssh::command_not_found"), "{text}");
    assert!(
        text.contains("`no-such-program-7f3` was not found on"),
        "{text}"
    );
    assert!(stack.apps().is_empty());
    stack.write(&service(
        r#"["python3", "app.py", "${self.port}"]"#,
        r#", EXIT_AT_ONCE = "1""#,
    ));
    let output = stack.apply("v1");
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = said(&output);
    assert!(text.contains("did not become healthy"), "{text}");
    // The end of the remote log says why.
    assert!(text.contains("told to exit at once"), "{text}");
    assert!(stack.apps().is_empty());
}

#[test]
fn infra_rollback_of_a_remote_service_deploys_the_previous_version() {
    let (port, listen) = (free_port(), free_port());
    let deploy = r#"{ strategy = "blue_green" }"#;
    let Some(stack) = Stack::new("remote_infra_rollback", &api(port, listen, deploy, "")) else {
        return;
    };
    assert_eq!(code(&stack.apply("v1")), 0);
    let output = stack.apply("v2");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(answers(listen, "v2"));
    stack.expect(&["rollback", "--auto-approve"], 0);
    assert!(answers(listen, "v1"), "the previous version serves again");
    assert_eq!(stack.apps().len(), 1);
}

/// The first Ctrl-C reaches a remote blue-green deploy in its watch window:
/// it rolls back cleanly over SSH (v1 behind the remote router again, v2's
/// process stopped on the server, no request failed), the audit records the
/// interrupted deploy, and infra exits 130.
#[test]
fn ctrl_c_during_a_remote_deploy_rolls_it_back_and_exits_130() {
    let (port, listen) = (free_port(), free_port());
    let Some(stack) = Stack::new("remote_ctrl_c", &api(port, listen, WATCHES_V2, "")) else {
        return;
    };
    let (load, child) = stack.deploy_in_its_watch(listen);
    assert_eq!(stack.apps().len(), 2, "both colours run in the watch");
    interrupt(&child);
    let output = child.finish();
    let report = load.stop();
    assert_interrupted_and_rolled_back(&output, &report);
    assert!(answers(listen, "v1"), "v1 serves again");
    assert_eq!(stack.apps().len(), 1, "v2's process is stopped");
    let audit = audit_text(&stack.dir.path);
    assert!(audit.contains("the deploy was interrupted"), "{audit}");
    assert!(stack.journal().is_empty(), "nothing is pending");
    stack.expect(&["drift"], 0);
}

/// A second Ctrl-C while the first one's rollback runs (v2 ignores SIGTERM,
/// so stopping it on the server takes the grace period) abandons the remote
/// deploy: infra exits 130 at once with the checkpoint in the journal, and
/// the next apply resumes from it over SSH, stops v2 and leaves v1 serving;
/// no request fails across it all.
#[test]
fn a_second_ctrl_c_abandons_the_remote_rollback_and_the_next_apply_resumes_it() {
    let (port, listen) = (free_port(), free_port());
    let ignore_term = ", IGNORE_TERM = var.version == \"v2\" ? \"1\" : \"0\"";
    let Some(stack) = Stack::new(
        "remote_ctrl_c_twice",
        &api(port, listen, WATCHES_V2, ignore_term),
    ) else {
        return;
    };
    let (load, child) = stack.deploy_in_its_watch(listen);
    // The rollback moves the traffic back and stops v2 on the server, which
    // says it ignores the SIGTERM: the second Ctrl-C comes then.
    interrupt_twice(child, || {
        service_logs(&stack.server.home().join(".infra/run"))
    });
    assert!(
        stack.journal().contains("\"step\":\"watch\""),
        "the checkpoint is kept"
    );
    assert_eq!(stack.apps().len(), 2, "v2 was left running");
    // The next apply (of v1) resumes: it rolls the deploy back for good.
    assert_resumed_the_rollback(&stack.apply("v1"), &stack.dir.path);
    let report = load.stop();
    assert_eq!(report.failures, 0, "{:?}", report.failure_samples);
    assert!(answers(listen, "v1"), "v1 serves");
    assert_eq!(stack.apps().len(), 1, "v2's process is stopped");
    assert!(stack.journal().is_empty());
    stack.expect(&["drift"], 0);
}

/// A service on an aliased `ssh` block is configured from that block alone:
/// a bad setting there is pointed at, before any connection.
#[test]
fn a_service_on_an_aliased_ssh_block_is_configured_from_that_block() {
    let dir = TempDir::new("ssh-alias");
    dir.write(
        "main.infra",
        r#"stack "alias" {}

provider "ssh" {
  alias       = "vps"
  host        = "127.0.0.1"
  user        = "deploy"
  private_key = "not a key"
  host_key    = "ssh-ed25519 AAAA"
}

service "api" {
  provider = ssh.vps
  run      = ["python3", "-m", "http.server", "${self.port}"]
  port     = 9000
}
"#,
    );
    let output = infra_env(&dir.path, &["plan"], &[]);
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = said(&output);
    assert!(text.contains("infra::plan::provider_error"), "{text}");
    assert!(
        text.contains("provider `ssh.vps` refused its settings"),
        "{text}"
    );
    assert!(text.contains("is not an SSH public key"), "{text}");
    // The label points at the setting (`said` joins the whitespace).
    assert!(text.contains("host_key = \"ssh-ed25519 AAAA\""), "{text}");
}

/// The stack's server as the aliased block `ssh.vps` (no block without
/// alias): the header's folder and file, and the api, all name it.
fn on_alias(stack: &mut Stack, body: &str) -> String {
    stack.header = stack
        .header
        .replace(
            "provider \"ssh\" {\n",
            "provider \"ssh\" {\n  alias = \"vps\"\n",
        )
        .replace(
            "resource \"ssh_directory\" \"app\" {\n",
            "resource \"ssh_directory\" \"app\" {\n  provider = ssh.vps\n",
        )
        .replace(
            "resource \"ssh_file\" \"app\" {\n",
            "resource \"ssh_file\" \"app\" {\n  provider = ssh.vps\n",
        );
    assert_eq!(stack.header.matches("ssh.vps").count(), 2);
    let body = body.replace("  provider = ssh\n", "  provider = ssh.vps\n");
    assert!(body.contains("provider = ssh.vps"), "{body}");
    body
}

#[test]
fn a_remote_service_on_an_aliased_block_deploys_there_and_goes_when_removed() {
    let (port, listen) = (free_port(), free_port());
    let deploy = r#"{ strategy = "blue_green" }"#;
    let Some(mut stack) = Stack::new("remote_alias", &api(port, listen, deploy, "")) else {
        return;
    };
    let body = on_alias(&mut stack, &api(port, listen, deploy, ""));
    stack.write(&body);
    let output = stack.apply("v1");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(answers(listen, "v1"), "the remote router serves v1");
    assert_eq!(stack.apps().len(), 1);
    assert!(
        stack.server.commands().contains("infra-start"),
        "{}",
        stack.server.commands()
    );
    let output = stack.expect(&["plan", "--var", "version=v2"], 0);
    assert!(
        stdout(&output).contains("service.api will be deployed"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("(via ssh.vps)"),
        "{}",
        stdout(&output)
    );
    let output = stack.apply("v2");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(answers(listen, "v2"));
    assert_eq!(stack.apps().len(), 1, "the old colour is stopped");
    stack.expect(&["plan", "--detailed-exitcode", "--var", "version=v2"], 0);

    // The service leaves the configuration: it is stopped on the server
    // through the block recorded in state.
    stack.write("");
    let output = stack.apply("v2");
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("1 destroyed"),
        "{}",
        stdout(&output)
    );
    assert!(stack.apps().is_empty(), "the remote processes are stopped");
    assert!(
        get(&format!("http://127.0.0.1:{listen}/")).is_none(),
        "and the router"
    );
}

#[test]
fn a_router_address_that_is_not_an_ip_address_is_refused_by_validate() {
    let dir = TempDir::new("router-address");
    dir.write(
        "main.infra",
        r#"stack "address" {}

service "api" {
  run    = ["python3", "-m", "http.server", "${self.port}"]
  port   = 9000
  router = { listen = 8000, address = "public" }
}
"#,
    );
    let output = infra_env(&dir.path, &["validate"], &[]);
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = said(&output);
    assert!(
        text.contains("infra::check::invalid_service_setting"),
        "{text}"
    );
    assert!(text.contains("`address` must be an IP address"), "{text}");
}
