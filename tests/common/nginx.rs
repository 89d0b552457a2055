//! A throwaway nginx for the tests that need one directly: in the
//! foreground (`daemon off`, a child of the test) under a fresh temp prefix,
//! on free loopback ports, killed and removed when dropped. Its first use is
//! [`NginxServer::answering`]: small upstreams that answer a fixed body (the
//! `blue` and `green` versions behind a router).
//!
//! The binary is Debian's `nginx-light`, which tests/run.sh installs. A
//! missing binary fails the test with how to get it; only
//! `INFRA_SKIP_SERVICES=1` skips (and the skip is counted).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test harness: a broken server set-up fails the test"
)]

use infra::providers::router::{LocalRouter, Nginx};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The nginx binary the tests use, or `None` (recorded as skipped) when
/// `INFRA_SKIP_SERVICES=1`. Panics, saying how to install it, when missing.
pub fn nginx(test: &str) -> Option<Nginx> {
    if std::env::var("INFRA_SKIP_SERVICES").as_deref() == Ok("1") {
        super::skipped(test, "INFRA_SKIP_SERVICES=1 (needs nginx)");
        return None;
    }
    match Nginx::find(std::env::var_os("PATH").as_deref()) {
        Ok(nginx) => Some(nginx),
        Err(error) => panic!(
            "{test} needs nginx: {error} (tests/run.sh installs it); \
             or set INFRA_SKIP_SERVICES=1 to skip"
        ),
    }
}

/// A running throwaway nginx; killed and removed on drop.
pub struct NginxServer {
    child: Child,
    root: PathBuf,
    /// The ports its servers listen on, in the order they were asked for.
    pub ports: Vec<u16>,
}

impl NginxServer {
    /// One nginx with a server per body in `bodies`, each on its own free
    /// loopback port: `GET /fail` answers 500 `BODY failed`, anything else
    /// 200 `BODY`. `None` when skipped.
    pub fn answering(test: &str, bodies: &[&str]) -> Option<NginxServer> {
        let nginx = nginx(test)?;
        let ports: Vec<u16> = bodies
            .iter()
            .map(|_| super::postgres::free_port())
            .collect();
        let servers: String = bodies
            .iter()
            .zip(&ports)
            .map(|(body, port)| {
                format!(
                    "    server {{\n        listen 127.0.0.1:{port};\n        \
                     location = /fail {{ return 500 \"{body} failed\\n\"; }}\n        \
                     location / {{ return 200 \"{body}\\n\"; }}\n    }}\n"
                )
            })
            .collect();
        Some(Self::start(&nginx, test, &servers, ports))
    }

    /// Starts `nginx` with `servers` (the inside of an `http` block) under a
    /// fresh prefix, and waits until each of `ports` accepts connections.
    pub fn start(nginx: &Nginx, test: &str, servers: &str, ports: Vec<u16>) -> NginxServer {
        let root = std::env::temp_dir().join(format!(
            "infra-nginx-{}-{}-{test}",
            std::process::id(),
            super::postgres::free_port()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("temp")).unwrap();
        let r = root.display();
        let config = format!(
            "daemon off;\nworker_processes 1;\npid \"{r}/nginx.pid\";\nerror_log \"{r}/error.log\" warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n    access_log off;\n    default_type text/plain;\n\
             client_body_temp_path \"{r}/temp/body\";\n    proxy_temp_path \"{r}/temp/proxy\";\n\
             fastcgi_temp_path \"{r}/temp/fastcgi\";\n    uwsgi_temp_path \"{r}/temp/uwsgi\";\n\
             scgi_temp_path \"{r}/temp/scgi\";\n{servers}}}\n"
        );
        let config_path = root.join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(&nginx.path)
            .arg("-p")
            .arg(&root)
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(root.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", nginx.path.display()));
        let mut server = NginxServer { child, root, ports };
        let deadline = std::time::Instant::now() + super::READY_WITHIN;
        for port in server.ports.clone() {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    matches!(server.child.try_wait(), Ok(None)),
                    "the test nginx exited: {}",
                    server.error_log()
                );
                assert!(
                    std::time::Instant::now() < deadline,
                    "the test nginx never listened on port {port}: {}",
                    server.error_log()
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        server
    }

    /// The port of the `index`th server.
    pub fn port(&self, index: usize) -> u16 {
        self.ports[index]
    }

    /// Its error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.root.join("error.log")).unwrap_or_default()
    }

    /// Its prefix.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for NginxServer {
    /// SIGTERM (nginx's fast shutdown: the master stops its workers; a
    /// SIGKILL would leave them running), then wait.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A router under test: stopped (forcefully, at once) when dropped, so a
/// failed test leaves no daemon behind.
pub struct RouterGuard {
    /// The router.
    pub router: LocalRouter,
}

impl std::ops::Deref for RouterGuard {
    type Target = LocalRouter;
    fn deref(&self) -> &LocalRouter {
        &self.router
    }
}

impl Drop for RouterGuard {
    /// SIGTERM to the master (fast shutdown), then SIGKILL to it and its
    /// workers if it is still there after a while.
    fn drop(&mut self) {
        let Some(pid) = self.router.running_pid() else {
            return;
        };
        let workers =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.router.running_pid().is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if self.router.running_pid().is_some() {
            let mut kill = Command::new("kill");
            kill.arg("-9").arg(pid.to_string());
            kill.args(workers.split_whitespace());
            let _ = kill.status();
        }
    }
}
