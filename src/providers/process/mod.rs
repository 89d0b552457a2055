//! The `process` provider: `service` blocks as processes on this machine,
//! with health and smoke checks, deployed by a strategy (recreate, rolling,
//! blue-green, canary; see [`deploy`]).
//!
//! Layout: [`spec`] reads and validates a service's settings; [`machine`]
//! starts, recognises, stops and probes one process (the part another
//! provider replaces to run services elsewhere); [`deploy`] holds the
//! strategies; [`record`] what state keeps of a deployed service.
//!
//! Terminology: a service's *run folder* is `.infra/run/<stack>/<env>/<name>/`
//! beside the stack: pidfiles and logs. A *slot* is one process's name there
//! (`blue-0`), a *colour* the set of processes of one version.
//!
//! Invariant: secrets reach a process only through its environment; no
//! secret is written to argv, a pidfile, a log of infra's, an error or a
//! computed attribute.
//! Invariant: `read` never changes anything; a dead, replaced or unhealthy
//! process is reported as `status` other than `running` (drift), and the
//! next apply deploys again.

pub mod deploy;
pub mod front;
pub mod machine;
pub mod probe;
pub mod record;
pub mod spec;

use super::operation::{DeploySteps, Operation, Resumed};
use super::provider::{
    Attributes, ObjectState, PlannedChange, Provider, ProviderError, conform_to_schema,
    plan_from_schema,
};
use super::schema::{ResourceSchema, attribute};
use crate::host::Host;
use crate::lang::{Type, Value};
use async_trait::async_trait;
use deploy::Deploy;
use front::{Front, Share};
use machine::{LocalMachine, Machine};
use record::Deployed;
use spec::{ServiceSpec, Strategy};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The provider's name.
pub const NAME: &str = "process";

/// The resource type of `service` blocks.
pub const SERVICE: &str = crate::addr::SERVICE_TYPE;

fn optional(ty: Type) -> (Type, bool) {
    (ty, true)
}

fn object(fields: &[(&str, Type)]) -> Type {
    Type::Object(
        fields
            .iter()
            .map(|(name, ty)| ((*name).to_owned(), optional(ty.clone())))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// The schema of `service`.
pub fn schema() -> ResourceSchema {
    let string = || Type::String;
    let number = || Type::Number;
    ResourceSchema {
        resource_type: SERVICE,
        provider: NAME,
        description: "A long-running process (or several), checked for health and deployed by a strategy.",
        attributes: vec![
            attribute("run", Type::List(Box::new(Type::String)))
                .required()
                .describe("The command and its arguments; no secrets (they show in `ps`): use `env`."),
            attribute("port", number())
                .describe("The port it listens on; each colour or replica gets its own, named where `run`, `env` and `health` say this one."),
            attribute("replicas", number()).describe("How many processes (1 by default; more need a router)."),
            attribute("env", Type::Map(Box::new(Type::String)))
                .describe("Environment variables; values may be secrets (passed only through the environment)."),
            attribute("workdir", string()).describe("Where it runs, relative to the stack folder (the stack folder by default)."),
            attribute(
                "health",
                object(&[
                    ("http", string()),
                    ("tcp", string()),
                    ("exec", Type::List(Box::new(Type::String))),
                    ("interval", string()),
                    ("timeout", string()),
                    ("retries", number()),
                    ("start_period", string()),
                ]),
            )
            .describe("`{ http = URL | tcp = \"host:port\" | exec = [argv], interval, timeout, retries, start_period }`."),
            attribute(
                "smoke",
                object(&[
                    ("http", string()),
                    ("expect_status", number()),
                    ("expect_body_contains", string()),
                ]),
            )
            .describe("`{ http = URL, expect_status, expect_body_contains }`, run after traffic moves."),
            attribute(
                "deploy",
                object(&[
                    ("strategy", string()),
                    ("steps", Type::List(Box::new(Type::Number))),
                    ("pause", string()),
                    ("max_unavailable", number()),
                    ("watch", string()),
                    ("max_error_rate", number()),
                ]),
            )
            .describe("`{ strategy = \"recreate\" | \"rolling\" | \"blue_green\" | \"canary\", steps, pause, max_unavailable, watch, max_error_rate }`."),
            attribute("router", object(&[("listen", number()), ("address", string())]))
                .describe("`{ listen = PORT, address = \"127.0.0.1\" }`: a managed nginx in front, listening on `address` (loopback by default; `0.0.0.0` for every interface)."),
            attribute("run_dir", string())
                .computed_only()
                .derived_from(&[])
                .describe("The run folder: pidfiles and logs (`.infra/run/<stack>/<env>/<name>`)."),
            attribute("id", string())
                .computed_only()
                .derived_from(&[])
                .describe("The run folder."),
            attribute("url", string())
                .computed_only()
                .derived_from(&["port", "router"])
                .describe("Where it answers: the router, else its port on 127.0.0.1."),
            attribute("version", string())
                .computed_only()
                .derived_from(&["run", "workdir"])
                .describe("A digest of `run`, `env` and the files `run` names."),
            attribute("colour", string())
                .computed_only()
                .derived_from(&[])
                .describe("`blue` or `green`: the colour in front."),
            attribute("status", string())
                .computed_only()
                .derived_from(&[])
                .describe("`running` when every process is alive, the same process and healthy."),
            attribute("processes", Type::Any)
                .computed_only()
                .derived_from(&[])
                .describe("Each process: slot, pid, start time, port."),
        ],
    }
}

/// The run folder of a service instance, relative to the stack folder: the
/// address without `service.`, made safe for a path.
pub fn run_dir(stack: &str, environment: &str, addr: &crate::addr::InstanceAddr) -> String {
    let text = addr.to_string();
    let name = text
        .strip_prefix("service.")
        .or_else(|| text.split_once(".service.").map(|(_, rest)| rest))
        .unwrap_or(&text);
    let module: Vec<String> = addr
        .resource
        .module
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    let name = if module.is_empty() {
        name.to_owned()
    } else {
        format!("{}.{name}", module.join("."))
    };
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        ".infra/run/{}/{}/{}",
        safe(stack),
        safe(environment),
        safe(&name)
    )
}

/// Offline validation of a `service` configuration (see [`spec::check`]).
pub fn validate_config(config: &Attributes) -> Vec<ProviderError> {
    spec::check(config)
}

/// The `process` provider.
pub struct ProcessProvider {
    base_dir: PathBuf,
    machine: Arc<dyn Machine>,
    schemas: Vec<ResourceSchema>,
}

impl std::fmt::Debug for ProcessProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessProvider")
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

impl ProcessProvider {
    /// Runs services on this machine; run folders and workdirs are relative
    /// to `base_dir`, the stack folder. The environment (`PATH`,
    /// `INFRA_NGINX`, what children inherit) is read through `host`.
    pub fn new(host: Arc<dyn Host>, base_dir: PathBuf) -> Self {
        Self::with_machine(base_dir, Arc::new(LocalMachine::new(host)))
    }

    /// Runs services on `machine`.
    pub fn with_machine(base_dir: PathBuf, machine: Arc<dyn Machine>) -> Self {
        ProcessProvider {
            base_dir,
            machine,
            schemas: vec![schema()],
        }
    }

    fn check_type(&self, resource_type: &str) -> Result<(), ProviderError> {
        if resource_type == SERVICE {
            Ok(())
        } else {
            Err(ProviderError::unknown_resource_type(NAME, resource_type))
        }
    }

    /// The router of a service, on its machine.
    async fn front(&self, spec: &ServiceSpec, listen: u16) -> Result<Front, ProviderError> {
        let router = self.machine.router(&spec.run_dir.join("router")).await?;
        Ok(Front::new(
            router,
            &service_name(spec),
            &spec.router_address,
            listen,
        ))
    }

    /// The folder `run` names files in, for the version digest (none on a
    /// remote machine).
    fn files_dir(&self) -> Option<&std::path::Path> {
        self.machine
            .files_are_local()
            .then_some(self.base_dir.as_path())
    }

    fn spec(&self, attributes: &Attributes) -> Result<(ServiceSpec, String), ProviderError> {
        let spec = ServiceSpec::from_attributes(attributes, &self.base_dir)?;
        let version = spec::version(attributes, self.files_dir()).ok_or_else(|| {
            ProviderError::permanent("the service's version is not known").at(["run"])
        })?;
        Ok((spec, version))
    }

    /// The object for a deployed service.
    fn object(&self, planned: &Attributes, deployed: &Deployed, status: &str) -> ObjectState {
        let mut attributes = planned.clone();
        let run_dir = planned
            .get("run_dir")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        attributes.insert(String::from("id"), Value::string(run_dir.clone()));
        attributes.insert(String::from("url"), url(planned));
        deployed.write_into(&mut attributes, status);
        ObjectState {
            id: run_dir,
            attributes: conform_to_schema(&schema(), &attributes),
        }
    }

    /// Deploys `planned` over `prior` (`None`: nothing runs yet).
    async fn deploy(
        &self,
        op: &Operation,
        prior: Option<&ObjectState>,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        // A change planned from a recorded version keeps the run folder.
        let mut planned = planned.clone();
        if planned.get("run_dir").and_then(Value::as_str).is_none()
            && let Some(prior) = prior
        {
            planned.insert(String::from("run_dir"), prior.attribute("run_dir").clone());
        }
        let planned = &planned;
        let (spec, version) = self.spec(planned)?;
        let deploy = Deploy {
            machine: self.machine.as_ref(),
            spec: &spec,
            version: &version,
            op,
            cancellable: true,
        };
        let mut before = prior.map(Deployed::from_object).unwrap_or_default();
        // Dead processes (drift) are not the old version any more.
        let mut alive = Vec::new();
        for process in before.processes {
            if self.machine.alive(&process).await {
                alive.push(process);
            }
        }
        before.processes = alive;
        let old = match prior {
            Some(prior) => Some(self.spec(&prior.attributes)?),
            None => None,
        };
        let old = old.as_ref().map(|(spec, version)| (spec, version.as_str()));
        // A failure that changed what runs (recreate restarted the old
        // version) leaves the prior object with those processes.
        let leave = |failed: deploy::Failed| -> ProviderError {
            match (failed.running, prior) {
                (Some(running), Some(prior)) => {
                    let status = if running.processes.is_empty() {
                        "stopped"
                    } else {
                        "running"
                    };
                    failed
                        .error
                        .leaving(self.object(&prior.attributes, &running, status))
                }
                _ => failed.error,
            }
        };
        let deployed = match spec.router {
            None => deploy.recreate(&before, old).await.map_err(leave)?,
            Some(listen) => {
                let front = self.front(&spec, listen).await?;
                match spec.deploy.strategy {
                    Strategy::Recreate => match deploy.recreate(&before, old).await {
                        Ok(deployed) => {
                            front
                                .route(&[Share {
                                    label: &deployed.colour,
                                    processes: &deployed.processes,
                                    weight: 1,
                                }])
                                .await?;
                            deployed
                        }
                        Err(failed) => {
                            // The restarted old version may listen elsewhere.
                            if let Some(running) = &failed.running
                                && !running.processes.is_empty()
                            {
                                let _ = front
                                    .route(&[Share {
                                        label: &running.colour,
                                        processes: &running.processes,
                                        weight: 1,
                                    }])
                                    .await;
                            }
                            return Err(leave(failed));
                        }
                    },
                    Strategy::BlueGreen => deploy.switch(&front, &before, false).await?,
                    Strategy::Canary => deploy.switch(&front, &before, true).await?,
                    Strategy::Rolling if before.processes.is_empty() => {
                        deploy.switch(&front, &before, false).await?
                    }
                    Strategy::Rolling => deploy
                        .rolling(&front, &before, old.map(|(s, _)| s))
                        .await
                        .map_err(leave)?,
                }
            }
        };
        Ok(self.object(planned, &deployed, "running"))
    }
}

/// The service's name for its router: the last part of its run folder.
fn service_name(spec: &ServiceSpec) -> String {
    spec.run_dir.file_name().map_or_else(
        || String::from("service"),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Where a service answers: its router, else its port on loopback.
fn url(config: &Attributes) -> Value {
    let port_of = |value: Option<&Value>| value.and_then(Value::as_number).and_then(|n| n.as_i64());
    let router = config
        .get("router")
        .and_then(Value::as_map)
        .and_then(|m| port_of(m.get("listen")));
    let unknown = config.get("port").is_some_and(Value::contains_unknown)
        || config.get("router").is_some_and(Value::contains_unknown);
    // A router on one address answers there; on every address (or on
    // loopback, the default), on loopback.
    let host = match config
        .get("router")
        .and_then(Value::as_map)
        .and_then(|m| m.get("address"))
        .and_then(Value::as_str)
    {
        Some(address) if router.is_some() && !matches!(address, "0.0.0.0" | "::") => {
            match address.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
                _ => address.to_owned(),
            }
        }
        _ => String::from("127.0.0.1"),
    };
    match router.or_else(|| port_of(config.get("port"))) {
        _ if unknown => Value::UNKNOWN,
        Some(port) => Value::string(format!("http://{host}:{port}")),
        None => Value::NULL,
    }
}

#[async_trait]
impl Provider for ProcessProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    fn validate(&self, resource_type: &str, config: &Attributes) -> Vec<ProviderError> {
        let mut errors = match self.schema(resource_type) {
            Some(schema) => super::provider::validate_against_schema(schema, config),
            None => return vec![ProviderError::unknown_resource_type(NAME, resource_type)],
        };
        errors.extend(validate_config(config));
        errors
    }

    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        self.check_type(resource_type)?;
        if let Some(error) = validate_config(proposed).into_iter().next() {
            return Err(error);
        }
        let mut change = plan_from_schema(&schema(), prior, proposed);
        // Expansion sets the run folder; a plan made from a recorded
        // version (`infra rollback`) keeps the prior object's.
        let run_dir = proposed
            .get("run_dir")
            .filter(|v| v.as_str().is_some())
            .or_else(|| prior.map(|p| p.attribute("run_dir")))
            .cloned()
            .unwrap_or(Value::NULL);
        let version =
            spec::version(proposed, self.files_dir()).map_or(Value::UNKNOWN, Value::string);
        change
            .planned
            .insert(String::from("run_dir"), run_dir.clone());
        change.planned.insert(String::from("id"), run_dir);
        change.planned.insert(String::from("url"), url(proposed));
        change
            .planned
            .insert(String::from("status"), Value::string("running"));
        // A deploy changes the processes (and the colour); an unchanged
        // configuration of a running service changes nothing.
        let same_inputs = prior.is_some_and(|prior| {
            schema()
                .attributes
                .iter()
                .filter(|a| a.settable())
                .all(|a| {
                    super::provider::same_ignoring_marks(
                        prior.attribute(a.name),
                        proposed.get(a.name).unwrap_or(&Value::NULL),
                    )
                })
                && prior.attribute("version") == &version
                && prior.attribute("status").as_str() == Some("running")
        });
        change.planned.insert(String::from("version"), version);
        if !same_inputs {
            change
                .planned
                .insert(String::from("colour"), Value::UNKNOWN);
            change
                .planned
                .insert(String::from("processes"), Value::UNKNOWN);
        }
        Ok(change)
    }

    async fn create(
        &self,
        op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        self.check_type(resource_type)?;
        self.deploy(op, None, planned).await
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        self.check_type(resource_type)?;
        let deployed = Deployed::from_object(prior);
        let mut alive = true;
        for process in &deployed.processes {
            alive &= self.machine.alive(process).await;
        }
        let status = if !alive || deployed.processes.is_empty() {
            "stopped"
        } else {
            match self.spec(&prior.attributes) {
                Ok((spec, _)) => {
                    let mut healthy = true;
                    for process in &deployed.processes {
                        let spec = spec.for_port(process.port);
                        if let Some(health) = &spec.health {
                            healthy &= self
                                .machine
                                .probe(&health.check, health.timeout)
                                .await
                                .is_ok();
                        }
                    }
                    if healthy { "running" } else { "unhealthy" }
                }
                Err(_) => "running",
            }
        };
        let mut object = prior.clone();
        object
            .attributes
            .insert(String::from("status"), Value::string(status));
        Ok(Some(object))
    }

    async fn update(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        self.check_type(resource_type)?;
        self.deploy(op, Some(prior), planned).await
    }

    async fn delete(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        self.check_type(resource_type)?;
        let deployed = Deployed::from_object(prior);
        for process in &deployed.processes {
            op.phase(format!("stop {}", process.slot));
            self.machine.stop(process, deploy::STOP_GRACE).await;
        }
        if let Ok((spec, _)) = self.spec(&prior.attributes)
            && let Some(listen) = spec.router
        {
            op.phase(String::from("stop the router"));
            self.front(&spec, listen).await?.stop().await?;
        }
        Ok(())
    }

    async fn resume(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: Option<&ObjectState>,
        planned: &Attributes,
        checkpoint: Option<&serde_json::Value>,
    ) -> Result<Resumed, ProviderError> {
        self.check_type(resource_type)?;
        let Some(checkpoint) = checkpoint else {
            return Ok(Resumed::Settled(prior.cloned()));
        };
        let Ok((spec, version)) = self.spec(planned) else {
            return Ok(Resumed::Settled(prior.cloned()));
        };
        let step = checkpoint["step"].as_str().unwrap_or_default();
        let old: Deployed = Deployed {
            version: checkpoint["old"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            colour: checkpoint["old"]["colour"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            processes: serde_json::from_value(checkpoint["old"]["processes"].clone())
                .unwrap_or_default(),
        };
        let colour = checkpoint["new"]["colour"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // The new colour's processes: those recorded, and any its pidfiles
        // name (a crash during the start step records none), and any whose
        // environment names one of its slots (a crash between a process's
        // start and its pidfile).
        let mut new: Vec<machine::Running> =
            serde_json::from_value(checkpoint["new"]["processes"].clone()).unwrap_or_default();
        let mut found = self.machine.pidfiles(&spec.run_dir).await;
        found.extend(self.machine.started_in(&spec.run_dir).await);
        for running in found {
            if running.slot.starts_with(&format!("{colour}-"))
                && !new.iter().any(|p| p.pid == running.pid)
                && self.machine.alive(&running).await
            {
                new.push(running);
            }
        }
        let mut old_alive = Vec::new();
        for process in &old.processes {
            if self.machine.alive(process).await {
                old_alive.push(process.clone());
            }
        }
        let mut new_alive = Vec::new();
        for process in &new {
            if self.machine.alive(process).await {
                new_alive.push(process.clone());
            }
        }
        let front = match spec.router {
            Some(listen) => Some(self.front(&spec, listen).await?),
            None => None,
        };
        let deploy = Deploy {
            machine: self.machine.as_ref(),
            spec: &spec,
            version: &version,
            op,
            cancellable: true,
        };
        // Past the point of no return (the old colour is being stopped), or
        // nothing old left to go back to: finish with the new colour.
        let finish = step == "stop old" || (old_alive.is_empty() && !new_alive.is_empty());
        if finish && new_alive.len() == new.len() && !new.is_empty() {
            op.phase(format!("resume: finish the deploy ({colour} in front)"));
            if let Some(front) = &front {
                front
                    .route(&[Share {
                        label: &colour,
                        processes: &new_alive,
                        weight: 1,
                    }])
                    .await?;
            }
            deploy.stop_all(&old.processes).await;
            let deployed = Deployed {
                version,
                colour,
                processes: new_alive,
            };
            return Ok(Resumed::Settled(Some(
                self.object(planned, &deployed, "running"),
            )));
        }
        op.phase(format!("resume: roll back to {}", old.colour));
        if let Some(front) = &front
            && !old_alive.is_empty()
        {
            front
                .route(&[Share {
                    label: &old.colour,
                    processes: &old_alive,
                    weight: 1,
                }])
                .await?;
        }
        deploy.stop_all(&new).await;
        Ok(Resumed::Settled(prior.cloned()))
    }

    fn deploy_steps(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        planned: &Attributes,
    ) -> Option<DeploySteps> {
        if resource_type != SERVICE {
            return None;
        }
        let spec = ServiceSpec::from_attributes(planned, &self.base_dir).ok()?;
        let old = prior.map(Deployed::from_object).unwrap_or_default();
        Some(deploy::steps(&spec, &old))
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        self.check_type(resource_type)?;
        Err(ProviderError::not_found(format!(
            "a service cannot be imported (`{id}`); declare it and apply, and infra starts it"
        )))
    }
}
