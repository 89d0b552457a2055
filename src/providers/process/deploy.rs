//! The deploy strategies: how a new version of a service replaces the old
//! one, using a [`Machine`] to start, stop and probe processes. The old
//! version is kept until the new one is proven; a failure at any step puts
//! the old version back and stops the new one.
//!
//! Invariant: a failed deploy leaves no process of the new version running;
//! every error says which step failed and that the old version serves again.
//! Secret values of the service's `env` are replaced by `(secret)` in every
//! message (a log tail may hold what the app printed).

use super::machine::{Launch, Machine, Running};
use super::record::{Deployed, other_colour};
use super::spec::{Check, ServiceSpec};
use crate::providers::ProviderError;
use std::time::{Duration, Instant};

/// How long a stopping process has before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What a deploy reports as it goes: named phases, and whether the user
/// asked it to stop.
pub trait Progress: Send + Sync {
    /// The step the deploy is in ("start green on :8101", "health 2/3").
    fn phase(&self, text: String);
    /// Whether the user asked to stop (the deploy then rolls back).
    fn is_cancelled(&self) -> bool;
}

/// A [`Progress`] that reports nowhere and never cancels.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _text: String) {}
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// One deploy: the machine, the service's settings, the secrets to hide.
pub struct Deploy<'a> {
    /// Where processes run.
    pub machine: &'a dyn Machine,
    /// The new settings.
    pub spec: &'a ServiceSpec,
    /// The new version.
    pub version: &'a str,
    /// Progress and cancellation.
    pub progress: &'a dyn Progress,
}

/// Replaces every secret value in `text` with `(secret)`.
pub fn redact(text: &str, spec: &ServiceSpec) -> String {
    let mut text = text.to_owned();
    for (_, value) in &spec.env {
        if value.len() >= 4 {
            text = text.replace(value.as_str(), "(secret)");
        }
    }
    text
}

impl Deploy<'_> {
    fn fail(&self, message: String) -> ProviderError {
        ProviderError::permanent(redact(&message, self.spec))
    }

    /// The launch of slot `slot` on `port`.
    fn launch(&self, slot: String, port: Option<u16>) -> (Launch, ServiceSpec) {
        let spec = self.spec.for_port(port);
        let launch = Launch {
            slot,
            argv: spec.run.clone(),
            env: spec.env.clone(),
            workdir: spec.workdir.clone(),
            run_dir: spec.run_dir.clone(),
            port,
        };
        (launch, spec)
    }

    /// Starts one process and waits until it is healthy; on failure it is
    /// stopped and the error carries the end of its logs.
    pub async fn start_healthy(&self, slot: String, port: Option<u16>) -> Result<Running, ProviderError> {
        let (launch, spec) = self.launch(slot.clone(), port);
        let shown_port = port.map(|p| format!(" on :{p}")).unwrap_or_default();
        self.progress.phase(format!("start {slot}{shown_port}"));
        let running = self.machine.start(&launch).await.map_err(|e| ProviderError {
            message: redact(&e.message, self.spec),
            ..e
        })?;
        match self.wait_healthy(&running, &spec).await {
            Ok(()) => Ok(running),
            Err(why) => {
                self.machine.stop(&running, STOP_GRACE).await;
                let logs = self.machine.log_tail(&spec.run_dir, &slot, 10);
                Err(self.fail(format!(
                    "{slot}{shown_port} did not become healthy: {why}; the end of its logs:\n{logs}"
                )))
            }
        }
    }

    /// Waits until the process passes its health check: tries fail freely
    /// during `start_period`, then `retries` failures in a row fail it. A
    /// process that exits fails at once. Without a health check, a process
    /// with a port must accept a connection on it; one without must stay up
    /// for a moment.
    async fn wait_healthy(&self, running: &Running, spec: &ServiceSpec) -> Result<(), String> {
        let default = spec.port.map(|p| super::spec::HealthSpec {
            check: Check::Tcp(format!("127.0.0.1:{p}")),
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
            retries: 3,
            start_period: Duration::from_secs(30),
        });
        let Some(health) = spec.health.clone().or(default) else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return if self.machine.alive(running).await {
                Ok(())
            } else {
                Err(String::from("it exited"))
            };
        };
        let started = Instant::now();
        let mut failures = 0;
        let mut tries = 0;
        loop {
            if self.progress.is_cancelled() {
                return Err(String::from("the deploy was interrupted"));
            }
            if !self.machine.alive(running).await {
                return Err(String::from("it exited"));
            }
            tries += 1;
            match self.machine.probe(&health.check, health.timeout).await {
                Ok(()) => return Ok(()),
                Err(why) => {
                    if started.elapsed() >= health.start_period {
                        failures += 1;
                        self.progress
                            .phase(format!("{} health {failures}/{}", running.slot, health.retries));
                        if failures >= health.retries {
                            return Err(format!("{why} ({tries} tries)"));
                        }
                    }
                }
            }
            tokio::time::sleep(health.interval).await;
        }
    }

    /// Stops processes, the ones still running.
    pub async fn stop_all(&self, processes: &[Running]) {
        for process in processes {
            self.progress.phase(format!("stop {}", process.slot));
            self.machine.stop(process, STOP_GRACE).await;
        }
    }

    /// The ports for `count` new processes: the configured port (plus the
    /// replica number) where free and not in `taken`, else free ones.
    pub fn ports(&self, count: u32, taken: &[Running]) -> Result<Vec<Option<u16>>, ProviderError> {
        let Some(configured) = self.spec.port else {
            return Ok(vec![None; count as usize]);
        };
        let in_use = |port: u16| taken.iter().any(|p| p.port == Some(port));
        let mut ports = Vec::new();
        for replica in 0..count {
            let wanted = u16::try_from(u32::from(configured) + replica).ok();
            let port = match wanted {
                // Without a router the process must be on the configured port.
                Some(port) if self.spec.router.is_none() => port,
                Some(port)
                    if !in_use(port)
                        && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() =>
                {
                    port
                }
                _ => self.machine.free_port()?,
            };
            ports.push(Some(port));
        }
        Ok(ports)
    }

    /// `recreate`: stop the old processes, start the new ones, check health;
    /// on failure stop the new ones, start the old version again (`old`:
    /// its settings), and fail.
    pub async fn recreate(
        &self,
        prior: &Deployed,
        old: Option<(&ServiceSpec, &str)>,
    ) -> Result<Deployed, ProviderError> {
        self.stop_all(&prior.processes).await;
        let colour = other_colour(&prior.colour);
        match self.start_set(colour, &[]).await {
            Ok(processes) => Ok(Deployed {
                version: self.version.to_owned(),
                colour: colour.to_owned(),
                processes,
            }),
            Err(error) => {
                let Some((old_spec, old_version)) = old else {
                    return Err(error);
                };
                self.progress.phase(format!("roll back to {old_version}"));
                let back = Deploy {
                    spec: old_spec,
                    version: old_version,
                    ..*self
                };
                match back.start_set(&prior.colour, &[]).await {
                    Ok(_) => Err(self.fail(format!(
                        "{}; rolled back: version {old_version} runs again",
                        error.message
                    ))),
                    Err(again) => Err(self.fail(format!(
                        "{}; the rollback to version {old_version} failed too: {}",
                        error.message, again.message
                    ))),
                }
            }
        }
    }

    /// Starts `replicas` processes of one colour, each healthy; on failure
    /// the ones started are stopped.
    pub async fn start_set(&self, colour: &str, taken: &[Running]) -> Result<Vec<Running>, ProviderError> {
        let ports = self.ports(self.spec.replicas, taken)?;
        let mut started: Vec<Running> = Vec::new();
        for (replica, port) in ports.into_iter().enumerate() {
            match self.start_healthy(format!("{colour}-{replica}"), port).await {
                Ok(running) => started.push(running),
                Err(error) => {
                    self.stop_all(&started).await;
                    return Err(error);
                }
            }
        }
        Ok(started)
    }
}
