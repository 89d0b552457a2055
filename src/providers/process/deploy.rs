//! The deploy strategies: how a new version of a service replaces the old
//! one, using a [`Machine`] to start, stop and probe processes. The old
//! version is kept until the new one is proven; a failure at any step puts
//! the old version back and stops the new one.
//!
//! Invariant: a failed deploy leaves no process of the new version running;
//! every error says which step failed and that the old version serves again.
//! Secret values of the service's `env` are replaced by `(secret)` in every
//! message (a log tail may hold what the app printed).

use super::front::{Front, Share};
use super::machine::{Launch, Machine, Running};
use super::record::{Deployed, other_colour};
use super::spec::{Check, ServiceSpec};
use crate::providers::ProviderError;
use crate::providers::operation::Operation;
use std::time::{Duration, Instant};

/// How long a stopping process has before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// One deploy: the machine, the service's settings, the secrets to hide.
pub struct Deploy<'a> {
    /// Where processes run.
    pub machine: &'a dyn Machine,
    /// The new settings.
    pub spec: &'a ServiceSpec,
    /// The new version.
    pub version: &'a str,
    /// Progress, cancellation and checkpoints.
    pub op: &'a Operation,
    /// Whether a cancel stops it: not while it puts the old version back.
    pub cancellable: bool,
}

/// A failed deploy: why, and what runs now when that is not what ran
/// before (`None`: the old processes serve as they did).
#[derive(Debug)]
pub struct Failed {
    /// Why it failed, and what was done about it.
    pub error: ProviderError,
    /// The processes that run now, when the rollback replaced them.
    pub running: Option<Box<Deployed>>,
}

impl From<ProviderError> for Failed {
    fn from(error: ProviderError) -> Self {
        Failed {
            error,
            running: None,
        }
    }
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

    /// [`Deploy::fail`] keeping the diagnostic code of `cause`.
    fn fail_from(&self, cause: &ProviderError, message: String) -> ProviderError {
        let mut error = self.fail(message);
        error.code = cause.code;
        error
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
    pub async fn start_healthy(
        &self,
        slot: String,
        port: Option<u16>,
    ) -> Result<Running, ProviderError> {
        let (running, spec) = self.start_one(&slot, port).await?;
        self.healthy(&running, &spec).await?;
        Ok(running)
    }

    /// Starts one process (not waiting for its health); its settings with
    /// its port.
    async fn start_one(
        &self,
        slot: &str,
        port: Option<u16>,
    ) -> Result<(Running, ServiceSpec), ProviderError> {
        let (launch, spec) = self.launch(slot.to_owned(), port);
        let shown_port = port.map(|p| format!(" on :{p}")).unwrap_or_default();
        self.op.phase(format!("start {slot}{shown_port}"));
        let running = self
            .machine
            .start(&launch)
            .await
            .map_err(|e| ProviderError {
                message: redact(&e.message, self.spec),
                ..e
            })?;
        self.op.phase(format!("{slot} runs as pid {}", running.pid));
        Ok((running, spec))
    }

    /// Waits until a started process is healthy; on failure it is stopped
    /// and the error carries the end of its logs.
    async fn healthy(&self, running: &Running, spec: &ServiceSpec) -> Result<(), ProviderError> {
        match self.wait_healthy(running, spec).await {
            Ok(tries) => {
                self.op.phase(format!(
                    "{} healthy after {tries} {}",
                    running.slot,
                    if tries == 1 { "try" } else { "tries" }
                ));
                Ok(())
            }
            Err(why) => {
                self.machine.stop(running, STOP_GRACE).await;
                let logs = self
                    .machine
                    .log_tail(&spec.run_dir, &running.slot, 10)
                    .await;
                let shown_port = running
                    .port
                    .map(|p| format!(" on :{p}"))
                    .unwrap_or_default();
                Err(self.fail(format!(
                    "{}{shown_port} did not become healthy: {why}; the end of its logs:\n{logs}",
                    running.slot
                )))
            }
        }
    }

    /// Whether the user asked to stop a deploy that can be stopped.
    fn is_cancelled(&self) -> bool {
        self.cancellable && self.op.is_cancelled()
    }

    /// Sleeps for `duration`, or less when the deploy is cancelled first.
    async fn pause(&self, duration: Duration) {
        if !self.cancellable {
            tokio::time::sleep(duration).await;
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            () = self.op.cancelled() => {}
        }
    }

    /// Waits until the process passes its health check: tries fail freely
    /// during `start_period`, then `retries` failures in a row fail it. A
    /// process that exits fails at once. Without a health check, a process
    /// with a port must accept a connection on it; one without must stay up
    /// for a moment. Returns how many tries it took.
    async fn wait_healthy(&self, running: &Running, spec: &ServiceSpec) -> Result<u32, String> {
        let default = spec.port.map(|p| super::spec::HealthSpec {
            check: Check::Tcp(format!("127.0.0.1:{p}")),
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
            retries: 3,
            start_period: Duration::from_secs(30),
        });
        let Some(health) = spec.health.clone().or(default) else {
            self.pause(Duration::from_millis(300)).await;
            return if self.machine.alive(running).await {
                Ok(1)
            } else {
                Err(String::from("it exited"))
            };
        };
        let started = Instant::now();
        let mut failures = 0;
        let mut tries = 0;
        loop {
            if self.is_cancelled() {
                return Err(String::from("the deploy was interrupted"));
            }
            if !self.machine.alive(running).await {
                return Err(String::from("it exited"));
            }
            tries += 1;
            match self.machine.probe(&health.check, health.timeout).await {
                Ok(()) => return Ok(tries),
                Err(why) => {
                    if started.elapsed() >= health.start_period {
                        failures += 1;
                        self.op.phase(format!(
                            "{} health {failures}/{}",
                            running.slot, health.retries
                        ));
                        if failures >= health.retries {
                            return Err(format!("{why} ({tries} tries)"));
                        }
                    }
                }
            }
            self.pause(health.interval).await;
        }
    }

    /// Stops processes, the ones still running.
    pub async fn stop_all(&self, processes: &[Running]) {
        for process in processes {
            self.op.phase(format!("stop {}", process.slot));
            self.machine.stop(process, STOP_GRACE).await;
        }
    }

    /// The ports for `count` new processes: the configured port (plus the
    /// replica number) where free and not in `taken`, else free ones.
    pub async fn ports(
        &self,
        count: u32,
        taken: &[Running],
    ) -> Result<Vec<Option<u16>>, ProviderError> {
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
                Some(port) if !in_use(port) && self.machine.port_free(port).await => port,
                _ => self.machine.free_port().await?,
            };
            ports.push(Some(port));
        }
        Ok(ports)
    }

    /// `recreate`: stop the old processes, start the new ones, check health;
    /// on failure stop the new ones, start the old version again (`old`:
    /// its settings), and fail. The old version's restarted processes are
    /// new ones (new pids): a failure says what runs then, so that state
    /// records them.
    pub async fn recreate(
        &self,
        prior: &Deployed,
        old: Option<(&ServiceSpec, &str)>,
    ) -> Result<Deployed, Failed> {
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
                    return Err(Failed::from(error));
                };
                self.op.phase(format!("roll back to {old_version}"));
                let back = Deploy {
                    spec: old_spec,
                    version: old_version,
                    cancellable: false,
                    ..*self
                };
                match back.start_set(&prior.colour, &[]).await {
                    Ok(processes) => Err(Failed {
                        error: self.fail_from(
                            &error,
                            format!(
                                "{}; rolled back: version {old_version} runs again",
                                error.message
                            ),
                        ),
                        running: Some(Box::new(Deployed {
                            processes,
                            ..prior.clone()
                        })),
                    }),
                    Err(again) => Err(Failed {
                        error: self.fail_from(
                            &error,
                            format!(
                                "{}; the rollback to version {old_version} failed too: {}",
                                error.message, again.message
                            ),
                        ),
                        // Neither version runs.
                        running: Some(Box::new(Deployed {
                            processes: Vec::new(),
                            ..prior.clone()
                        })),
                    }),
                }
            }
        }
    }

    /// Starts `replicas` processes of one colour, each healthy; on failure
    /// the ones started are stopped. They start one after the other and are
    /// then checked for health together, so that a colour of N replicas
    /// takes one start-up time, not N.
    pub async fn start_set(
        &self,
        colour: &str,
        taken: &[Running],
    ) -> Result<Vec<Running>, ProviderError> {
        let ports = self.ports(self.spec.replicas, taken).await?;
        let mut started: Vec<(Running, ServiceSpec)> = Vec::new();
        for (replica, port) in ports.into_iter().enumerate() {
            match self.start_one(&format!("{colour}-{replica}"), port).await {
                Ok(one) => started.push(one),
                Err(error) => {
                    let running: Vec<Running> = started.into_iter().map(|(r, _)| r).collect();
                    self.stop_all(&running).await;
                    return Err(error);
                }
            }
        }
        let checks = started
            .iter()
            .map(
                |(running, spec)| -> Pending<'_, Result<(), ProviderError>> {
                    Box::pin(self.healthy(running, spec))
                },
            )
            .collect();
        let results = join_all(checks).await;
        let running: Vec<Running> = started.into_iter().map(|(r, _)| r).collect();
        if let Some(error) = results.into_iter().find_map(Result::err) {
            // The unhealthy ones are stopped already; stopping is idempotent.
            self.stop_all(&running).await;
            return Err(error);
        }
        Ok(running)
    }
}

/// A boxed future borrowing the deploy.
type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Runs `futures` concurrently on this task; their outputs, in order.
async fn join_all<T>(futures: Vec<Pending<'_, T>>) -> Vec<T> {
    use std::task::Poll;
    let mut futures: Vec<Option<Pending<'_, T>>> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(running) = future {
                match running.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *future = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// What a deploy behind a router writes to the journal before each step, so
/// `resume` can finish it or roll it back after a crash. No secret: slots,
/// pids, start times and ports.
pub fn checkpoint(
    step: &str,
    old: &Deployed,
    new_colour: &str,
    new: &[Running],
) -> serde_json::Value {
    serde_json::json!({
        "step": step,
        "old": { "version": old.version, "colour": old.colour, "processes": old.processes },
        "new": { "colour": new_colour, "processes": new },
    })
}

impl Deploy<'_> {
    async fn checkpoint(
        &self,
        step: &str,
        old: &Deployed,
        colour: &str,
        new: &[Running],
    ) -> Result<(), ProviderError> {
        self.op.checkpoint(checkpoint(step, old, colour, new)).await
    }

    /// Puts the old processes back in front and stops the new ones, after
    /// `why` failed; the error says so.
    async fn roll_back(
        &self,
        front: &Front,
        old: &Deployed,
        new: &[Running],
        why: String,
    ) -> ProviderError {
        self.roll_back_to(front, old, new, why).await.0
    }

    /// [`Deploy::roll_back`], and the old processes it put back in front
    /// (`None` when it could not).
    async fn roll_back_to(
        &self,
        front: &Front,
        old: &Deployed,
        new: &[Running],
        why: String,
    ) -> (ProviderError, Option<Vec<Running>>) {
        self.op.phase(format!("roll back: {why}"));
        let mut alive = Vec::new();
        for process in &old.processes {
            if self.machine.alive(process).await {
                alive.push(process.clone());
            }
        }
        let back = if alive.is_empty() {
            Err(ProviderError::permanent(
                "no process of the old version is alive",
            ))
        } else {
            front
                .route(&[Share {
                    label: &old.colour,
                    processes: &alive,
                    weight: 1,
                }])
                .await
        };
        match back {
            Ok(_) => {
                self.stop_all(new).await;
                (
                    self.fail(format!(
                        "{why}; rolled back: version {} serves again and the new processes are stopped",
                        old.version
                    )),
                    Some(alive),
                )
            }
            Err(error) if old.processes.is_empty() => {
                // A first deploy has nothing to go back to.
                let _ = error;
                self.stop_all(new).await;
                let _ = front.stop().await;
                (
                    self.fail(format!("{why}; the new processes are stopped")),
                    None,
                )
            }
            Err(error) => (
                self.fail(format!(
                    "{why}; the rollback failed too ({}), so the new version stays in front",
                    error.message
                )),
                None,
            ),
        }
    }

    /// The smoke test, when there is one.
    async fn smoke(&self) -> Result<(), String> {
        let Some(smoke) = &self.spec.smoke else {
            return Ok(());
        };
        self.op.phase(String::from("smoke"));
        self.machine.smoke(smoke, Duration::from_secs(10)).await?;
        self.op.phase(String::from("smoke passed"));
        Ok(())
    }

    /// Watches the new processes for `watch`: each must stay alive and
    /// healthy, and the share of failed requests the router sent them since
    /// `offset` must stay at or under `max_error_rate`. Returns the measured
    /// rate, or why the watch failed.
    async fn watch(&self, front: &Front, new: &[Running], offset: u64) -> Result<f64, String> {
        let deadline = Instant::now() + self.spec.deploy.watch;
        let interval = self
            .spec
            .health
            .as_ref()
            .map_or(Duration::from_millis(500), |h| h.interval)
            .max(Duration::from_millis(100));
        loop {
            if self.is_cancelled() {
                return Err(String::from("the deploy was interrupted (Ctrl-C)"));
            }
            let (requests, errors) = front
                .errors_since(offset, new)
                .await
                .map_err(|e| e.message)?;
            let measured = if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            };
            if measured > self.spec.deploy.max_error_rate {
                return Err(format!(
                    "the watch saw {errors} failed of {requests} requests to the new version (error rate {measured:.3}, above max_error_rate {})",
                    self.spec.deploy.max_error_rate
                ));
            }
            for process in new {
                if !self.machine.alive(process).await {
                    return Err(format!("{} exited during the watch", process.slot));
                }
                let spec = self.spec.for_port(process.port);
                if let Some(health) = &spec.health
                    && let Err(why) = self.machine.probe(&health.check, health.timeout).await
                {
                    return Err(format!(
                        "{} failed its health check during the watch: {why}",
                        process.slot
                    ));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.op.phase(format!(
                    "watch done: error rate {measured:.4} ({errors} of {requests} requests)"
                ));
                return Ok(measured);
            }
            self.op.phase(format!(
                "watching, {} left",
                super::spec::show_duration(Duration::from_secs(left.as_secs()))
            ));
            self.pause(interval.min(left)).await;
        }
    }

    /// `blue_green` (and, with `steps`, `canary`): start the new colour on
    /// free ports, check its health, move the traffic (at once, or in the
    /// canary's steps with pause, health and smoke at each), smoke, watch,
    /// then drain and stop the old colour. Any failure puts the old colour
    /// back in front and stops the new one.
    pub async fn switch(
        &self,
        front: &Front,
        old: &Deployed,
        canary: bool,
    ) -> Result<Deployed, ProviderError> {
        let colour = other_colour(&old.colour);
        self.checkpoint("start", old, colour, &[]).await?;
        let new = match self.start_set(colour, &old.processes).await {
            Ok(new) => new,
            Err(error) if old.processes.is_empty() => return Err(error),
            Err(error) => {
                return Err(self.fail_from(
                    &error,
                    format!(
                        "{}; rolled back: version {} kept serving and the new processes are stopped",
                        error.message, old.version
                    ),
                ));
            }
        };
        if self.is_cancelled() {
            self.stop_all(&new).await;
            return Err(self.fail(String::from(
                "the deploy was interrupted (Ctrl-C); the new processes are stopped",
            )));
        }
        let offset = front.log_offset().await;
        let steps: Vec<u32> = if canary && !old.processes.is_empty() {
            self.spec.deploy.steps.clone()
        } else {
            vec![100]
        };
        for step in steps {
            self.checkpoint(&format!("switch {step}"), old, colour, &new)
                .await?;
            self.op.phase(format!("switch router: {step}% to {colour}"));
            let shares = [
                Share {
                    label: &old.colour,
                    processes: &old.processes,
                    weight: 100 - step,
                },
                Share {
                    label: colour,
                    processes: &new,
                    weight: step,
                },
            ];
            match front.route(&shares).await {
                Ok(routed) => self.op.phase(format!(
                    "router switched (reload {}, drain {})",
                    super::spec::show_duration(routed.reload),
                    super::spec::show_duration(routed.drain)
                )),
                Err(error) => {
                    return Err(self
                        .roll_back(
                            front,
                            old,
                            &new,
                            format!("the router switch failed: {}", error.message),
                        )
                        .await);
                }
            }
            if step < 100 {
                self.pause(self.spec.deploy.pause).await;
                for process in &new {
                    let spec = self.spec.for_port(process.port);
                    if let Some(health) = &spec.health
                        && let Err(why) = self.machine.probe(&health.check, health.timeout).await
                    {
                        return Err(self
                            .roll_back(
                                front,
                                old,
                                &new,
                                format!(
                                    "{} failed its health check at {step}%: {why}",
                                    process.slot
                                ),
                            )
                            .await);
                    }
                }
            }
            self.checkpoint("smoke", old, colour, &new).await?;
            if let Err(why) = self.smoke().await {
                return Err(self
                    .roll_back(front, old, &new, format!("the smoke test failed: {why}"))
                    .await);
            }
            if self.is_cancelled() {
                return Err(self
                    .roll_back(
                        front,
                        old,
                        &new,
                        String::from("the deploy was interrupted (Ctrl-C)"),
                    )
                    .await);
            }
        }
        if !self.spec.deploy.watch.is_zero() {
            self.checkpoint("watch", old, colour, &new).await?;
            if let Err(why) = self.watch(front, &new, offset).await {
                return Err(self.roll_back(front, old, &new, why).await);
            }
        }
        self.checkpoint("stop old", old, colour, &new).await?;
        self.stop_all(&old.processes).await;
        if !old.processes.is_empty() {
            self.op.phase(format!("{} stopped", old.colour));
        }
        Ok(Deployed {
            version: self.version.to_owned(),
            colour: colour.to_owned(),
            processes: new,
        })
    }

    /// `rolling`: replace the old processes `max_unavailable` at a time: start
    /// that many new ones (healthy), route to the rest of the old and the new
    /// so far, stop the replaced ones. On failure the old ones that are left
    /// take all the traffic again, with old ones restarted for those already
    /// replaced, and the new ones are stopped.
    pub async fn rolling(
        &self,
        front: &Front,
        old: &Deployed,
        old_spec: Option<&ServiceSpec>,
    ) -> Result<Deployed, Failed> {
        let colour = other_colour(&old.colour);
        let batch = self.spec.deploy.max_unavailable.max(1) as usize;
        let mut remaining: Vec<Running> = old.processes.clone();
        let mut new: Vec<Running> = Vec::new();
        let total = self.spec.replicas as usize;
        while new.len() < total {
            if self.is_cancelled() {
                return Err(self
                    .roll_back_rolling(
                        front,
                        old,
                        old_spec,
                        &remaining,
                        &new,
                        String::from("the deploy was interrupted (Ctrl-C)"),
                    )
                    .await);
            }
            let count = batch.min(total - new.len());
            self.checkpoint(&format!("replace {}", new.len()), old, colour, &new)
                .await?;
            let mut taken = old.processes.clone();
            taken.extend(new.iter().cloned());
            let ports = self
                .ports(u32::try_from(count).unwrap_or(1), &taken)
                .await?;
            for (i, port) in ports.into_iter().enumerate() {
                let slot = format!("{colour}-{}", new.len() + i);
                match self.start_healthy(slot, port).await {
                    Ok(running) => new.push(running),
                    Err(error) => {
                        return Err(self
                            .roll_back_rolling(
                                front,
                                old,
                                old_spec,
                                &remaining,
                                &new,
                                error.message,
                            )
                            .await);
                    }
                }
            }
            let replaced: Vec<Running> = remaining.drain(..count.min(remaining.len())).collect();
            let shares = [
                Share {
                    label: &old.colour,
                    processes: &remaining,
                    weight: 1,
                },
                Share {
                    label: colour,
                    processes: &new,
                    weight: 1,
                },
            ];
            self.op.phase(format!(
                "route to {} new, {} old",
                new.len(),
                remaining.len()
            ));
            if let Err(error) = front.route(&shares).await {
                remaining.splice(0..0, replaced);
                return Err(self
                    .roll_back_rolling(front, old, old_spec, &remaining, &new, error.message)
                    .await);
            }
            self.stop_all(&replaced).await;
        }
        self.stop_all(&remaining).await;
        self.checkpoint("smoke", old, colour, &new).await?;
        if let Err(why) = self.smoke().await {
            return Err(self
                .roll_back_rolling(
                    front,
                    old,
                    old_spec,
                    &[],
                    &new,
                    format!("the smoke test failed: {why}"),
                )
                .await);
        }
        Ok(Deployed {
            version: self.version.to_owned(),
            colour: colour.to_owned(),
            processes: new,
        })
    }

    /// Puts the old version back after a failed rolling deploy, starting
    /// old replicas again for those already replaced; the error says what
    /// runs then (those started again are new processes).
    async fn roll_back_rolling(
        &self,
        front: &Front,
        old: &Deployed,
        old_spec: Option<&ServiceSpec>,
        remaining: &[Running],
        new: &[Running],
        why: String,
    ) -> Failed {
        let mut back: Vec<Running> = remaining.to_vec();
        if let Some(old_spec) = old_spec {
            let restore = Deploy {
                spec: old_spec,
                version: &old.version,
                cancellable: false,
                ..*self
            };
            let mut taken = back.clone();
            taken.extend(new.iter().cloned());
            let missing = old.processes.len().saturating_sub(back.len());
            if let Ok(ports) = restore
                .ports(u32::try_from(missing).unwrap_or(0), &taken)
                .await
            {
                for (i, port) in ports.into_iter().enumerate() {
                    if let Ok(running) = restore
                        .start_healthy(format!("{}-r{i}", old.colour), port)
                        .await
                    {
                        back.push(running);
                    }
                }
            }
        }
        let restarted = back.len() > remaining.len();
        let restored = Deployed {
            processes: back,
            ..old.clone()
        };
        let (error, in_front) = self.roll_back_to(front, &restored, new, why).await;
        Failed {
            error,
            running: in_front.filter(|_| restarted).map(|processes| {
                Box::new(Deployed {
                    processes,
                    ..old.clone()
                })
            }),
        }
    }
}

/// The steps a deploy of `spec` over `old` goes through, for the plan.
pub fn steps(spec: &ServiceSpec, old: &Deployed) -> crate::providers::operation::DeploySteps {
    use super::spec::{Strategy, show_duration};
    let new = other_colour(&old.colour);
    let old_colour = if old.colour.is_empty() {
        "blue"
    } else {
        old.colour.as_str()
    };
    let first = old.processes.is_empty();
    let port = match (spec.router, spec.port) {
        (None, Some(port)) => format!(" on :{port}"),
        (Some(_), Some(_)) => String::from(" on free ports"),
        _ => String::new(),
    };
    let mut steps = Vec::new();
    let watch = (!spec.deploy.watch.is_zero())
        .then(|| format!("watch {}", show_duration(spec.deploy.watch)));
    let smoke = spec.smoke.as_ref().map(|_| String::from("smoke"));
    let (strategy, downtime) = match spec.deploy.strategy {
        Strategy::Recreate => {
            if !first {
                steps.push(format!("stop {old_colour}"));
            }
            steps.push(format!("start {new}{port}"));
            steps.push(String::from("health"));
            if spec.router.is_some() {
                steps.push(String::from("switch router"));
            }
            (
                "recreate",
                "the service is down between stop and healthy (recreate)",
            )
        }
        Strategy::BlueGreen | Strategy::Canary => {
            steps.push(format!("start {new}{port}"));
            steps.push(String::from("health"));
            if spec.deploy.strategy == Strategy::Canary && !first {
                for step in &spec.deploy.steps {
                    steps.push(format!("{step}% to {new}"));
                    if *step < 100 && !spec.deploy.pause.is_zero() {
                        steps.push(format!("pause {}", show_duration(spec.deploy.pause)));
                    }
                }
            } else {
                steps.push(String::from("switch router"));
            }
            steps.extend(smoke);
            steps.extend(watch);
            if !first {
                steps.push(format!("stop {old_colour}"));
            }
            if spec.deploy.strategy == Strategy::Canary {
                ("canary", "none (canary)")
            } else {
                ("blue-green", "none (blue-green)")
            }
        }
        Strategy::Rolling => {
            steps.push(format!(
                "replace {} replicas, {} at a time (start, health, route, stop old)",
                spec.replicas, spec.deploy.max_unavailable
            ));
            steps.extend(smoke);
            (
                "rolling",
                "none (rolling: old replicas serve until new ones are healthy)",
            )
        }
    };
    crate::providers::operation::DeploySteps {
        strategy: strategy.to_owned(),
        steps,
        downtime: downtime.to_owned(),
    }
}
