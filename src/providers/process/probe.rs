//! One try of a health check or a smoke test, from this machine: an HTTP
//! GET, a TCP connect or a command, each bounded by its timeout (a URL that
//! hangs fails when the timeout runs out).
//!
//! Invariant: an error names what was asked and what came back, never a
//! response body beyond a short excerpt.

use super::spec::{Check, SmokeSpec};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The HTTP client every check shares: made once (making one loads the TLS
/// roots, which cost more than a probe on loopback). Each request is bounded
/// by its own timeout. It keeps no idle connection: each check is a new
/// connection, as before, and none outlives the runtime that made it.
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|e| format!("cannot make an HTTP client: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A GET of `url`: its status and body, or why there is none.
pub async fn get(url: &str, timeout: Duration) -> Result<(u16, String), String> {
    let client = client()?;
    let request = async {
        let response = client.get(url).timeout(timeout).send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        Ok::<_, reqwest::Error>((status, body))
    };
    match tokio::time::timeout(timeout, request).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) if e.is_timeout() => Err(format!("GET {url}: no answer within {timeout:?}")),
        Ok(Err(e)) => Err(format!("GET {url}: {}", short_error(&e))),
        Err(_) => Err(format!("GET {url}: no answer within {timeout:?}")),
    }
}

fn short_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// One try of a health check; an `exec` check runs with `env` only (not
/// `infra`'s own environment, which may hold `INFRA_STATE_KEY`).
pub async fn probe(
    check: &Check,
    timeout: Duration,
    env: &[(String, String)],
) -> Result<(), String> {
    match check {
        Check::Http(url) => {
            let (status, _) = get(url, timeout).await?;
            if (200..400).contains(&status) {
                Ok(())
            } else {
                Err(format!("GET {url} answered {status}"))
            }
        }
        Check::Tcp(address) => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address.as_str()))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect {address}: {e}")),
                Err(_) => Err(format!("connect {address}: no answer within {timeout:?}")),
            }
        }
        Check::Exec(argv) => {
            let argv = argv.clone();
            let env = env.to_vec();
            let shown = argv.first().cloned().unwrap_or_default();
            let run = tokio::task::spawn_blocking(move || exec(&argv, &env, timeout));
            match run.await {
                Ok(result) => result.map_err(|e| format!("`{shown}`: {e}")),
                Err(_) => Err(format!("`{shown}`: the check crashed")),
            }
        }
    }
}

/// Runs a command with `env` to its end or the timeout (then kills it).
fn exec(argv: &[String], env: &[(String, String)], timeout: Duration) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else {
        return Err(String::from("empty command"));
    };
    // The program is looked for on the `PATH` the check gets.
    let path_var = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.as_str());
    let program = if program.contains('/') {
        std::path::PathBuf::from(program)
    } else {
        path_var
            .into_iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| String::from("not found on PATH"))?
    };
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The smoke test: the status and the text it expects.
pub async fn smoke(spec: &SmokeSpec, timeout: Duration) -> Result<(), String> {
    let (status, body) = get(&spec.http, timeout).await?;
    smoke_answer(spec, status, &body)
}

/// Whether an answer of the smoke test's URL (from wherever it was asked)
/// is the one it expects.
pub fn smoke_answer(spec: &SmokeSpec, status: u16, body: &str) -> Result<(), String> {
    if status != spec.expect_status {
        return Err(format!(
            "GET {} answered {status}, expected {}",
            spec.http, spec.expect_status
        ));
    }
    if let Some(text) = &spec.expect_body_contains
        && !body.contains(text.as_str())
    {
        return Err(format!(
            "GET {} answered {status} without the expected text {text:?}",
            spec.http
        ));
    }
    Ok(())
}
