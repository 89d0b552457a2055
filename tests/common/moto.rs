//! A throwaway moto server (AWS APIs over HTTP, from PyPI's `moto[server]`)
//! for the tests of the AWS client, the `aws` provider and the `s3` state
//! backend: started on a free loopback port in a fresh temp dir, reset
//! between tests with `POST /moto-api/reset`, stopped when dropped.
//!
//! `moto_server` comes from the venv tests/run.sh makes (`.venv-moto/`,
//! pinned `moto[server]==5.2.5`), or from `INFRA_MOTO_SERVER`. A missing
//! server fails the test with how to get it; only `INFRA_SKIP_SERVICES=1`
//! skips (and the skip is counted).
//!
//! moto's gotchas (../shared/SERVICES.md §2): a request without a SigV4
//! `Authorization` header is routed to S3, and a body without a content type
//! is swallowed; the AWS client always signs and always sets one.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test harness: a broken server set-up fails the test"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The moto version tests/run.sh installs.
pub const MOTO_VERSION: &str = "5.2.5";

/// A running moto server; killed and its folder removed on drop.
pub struct MotoServer {
    child: Child,
    root: PathBuf,
    port: u16,
}

/// The `moto_server` program: `INFRA_MOTO_SERVER`, else the venv
/// tests/run.sh makes in the repository (`.venv-moto/bin/moto_server`).
fn moto_program() -> Option<PathBuf> {
    let program = match std::env::var_os("INFRA_MOTO_SERVER") {
        Some(program) => PathBuf::from(program),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-moto/bin/moto_server"),
    };
    program.exists().then_some(program)
}

impl MotoServer {
    /// Starts moto for the test `name`, or returns `None` (recorded as
    /// skipped) when `INFRA_SKIP_SERVICES=1`. Panics, saying how to install
    /// moto, when it is missing.
    pub fn start(name: &str) -> Option<MotoServer> {
        MotoServer::start_with(name, &[])
    }

    /// Starts moto with signature checking on: the first `free_actions`
    /// requests are let through unauthenticated (to create an IAM user, its
    /// policy and its access key), every later one must carry a valid
    /// signature by a known key (`INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_checking_signatures(name: &str, free_actions: u32) -> Option<MotoServer> {
        MotoServer::start_with(
            name,
            &[("INITIAL_NO_AUTH_ACTION_COUNT", &free_actions.to_string())],
        )
    }

    fn start_with(name: &str, envs: &[(&str, &str)]) -> Option<MotoServer> {
        if std::env::var("INFRA_SKIP_SERVICES").as_deref() == Ok("1") {
            super::skipped(name, "INFRA_SKIP_SERVICES=1 (needs a moto server)");
            return None;
        }
        let program = moto_program().unwrap_or_else(|| {
            panic!(
                "{name} needs moto server (AWS APIs on a local port): run tests/run.sh, which \
                 makes the venv, or make it by hand with `python3 -m venv .venv-moto && \
                 .venv-moto/bin/pip install 'moto[server]=={MOTO_VERSION}'` in the repository, \
                 or set INFRA_MOTO_SERVER to a moto_server program; or set \
                 INFRA_SKIP_SERVICES=1 to skip"
            )
        });
        let root = std::env::temp_dir().join(format!(
            "infra-moto-{}-{}-{name}",
            std::process::id(),
            super::postgres::free_port()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        // A free port can be taken between the probe and the start: retry.
        let mut last = String::new();
        for attempt in 0..5 {
            let port = super::postgres::free_port();
            let log_path = root.join(format!("moto-{attempt}.log"));
            let log = std::fs::File::create(&log_path).unwrap();
            let mut command = Command::new(&program);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(&root)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                // No credentials or region of the caller's reach moto.
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env_remove("AWS_SESSION_TOKEN")
                .env_remove("INITIAL_NO_AUTH_ACTION_COUNT");
            for (key, value) in envs {
                command.env(key, value);
            }
            let mut child = command
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
            // Readiness: moto answers GET /moto-api/ once Flask listens, and
            // this child's own request log shows it answered. A port probed
            // as free can be taken by another test's moto before this one
            // binds it: that one would answer too (and its buckets are not
            // this test's), while this child fails to bind and exits.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    last = std::fs::read_to_string(&log_path).unwrap_or_default();
                    break;
                }
                if http(port, "GET", "/moto-api/").is_some_and(|(status, _)| status == 200)
                    && std::fs::read_to_string(&log_path)
                        .unwrap_or_default()
                        .contains("\"GET /moto-api/ HTTP/1.1\" 200")
                {
                    return Some(MotoServer { child, root, port });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto did not answer within 60 s: {}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto did not start: {last}");
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The folder holding its logs.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Everything moto logged so far (for failure messages and leak checks).
    pub fn log(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        text
    }

    /// Wipes every account, region and service back to empty.
    pub fn reset(&self) {
        let answer = http(self.port, "POST", "/moto-api/reset");
        assert!(
            answer.as_ref().is_some_and(|(status, _)| *status == 200),
            "moto reset failed: {answer:?}"
        );
    }
}

/// One plain HTTP/1.1 request to moto's own API (never an AWS call: those
/// must be signed), returning the status and body.
fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
