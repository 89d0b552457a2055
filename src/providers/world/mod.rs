//! The file-backed test world: provider `test` with type `test_resource`,
//! whose objects live as JSON files in a folder, so that tests and benchmarks
//! that run the real `infra` binary (crash trials: `kill -9` in the middle of
//! an apply) can look at what exists afterwards. Offered only when the
//! environment variable `INFRA_TEST_WORLD` names a folder; see `docs/testing.md`.
//!
//! Terminology: the *world* is that folder. Each object is
//! `<world>/objects/<id>.json` (`{"resource_type", "id", "attributes"}`),
//! written atomically; every create also appends `<id> <name>\n` to
//! `<world>/creates.log`, flushed to disk, before it returns.
//!
//! Like a cloud, ids are random: a create that is repeated makes a duplicate
//! with a new id. `find` looks an object up by its `name`, as a real provider
//! would use a unique name or an idempotency token. `INFRA_TEST_LATENCY_MS`
//! delays every call that reaches the world (all but `plan_change`, which is
//! the provider's own computation) before its effect; `INFRA_TEST_LATENCY_AFTER_MS`
//! (default: the same) delays create, update and delete after their effect,
//! so a kill can land between the effect and the result. `INFRA_TEST_FAIL`
//! scripts failures: `op:name:kind[:times]`, comma-separated.
//!
//! `INFRA_TEST_FAULTS=0.1` injects transient faults into that share of the
//! calls that reach the world, at random but reproducibly
//! (`INFRA_TEST_FAULTS_SEED`, default 0): a timeout, a 429 with a
//! `Retry-After`, a 429 without one, or a 503, in equal parts. Whether a call
//! is hit depends only on the seed, the call, the object and how many times
//! that call was made for it before, never on timing, so a run can be
//! replayed at any parallelism. A fault lands before the call's effect (the
//! remote refused it) and is logged as `<op> <object> <kind>` in
//! `<world>/faults.log`.
//!
//! `INFRA_TEST_DEPLOY=start,health,switch,watch` makes every update a deploy
//! of those steps: before each, a checkpoint `{"step", "name"}` and a phase,
//! then `INFRA_TEST_DEPLOY_STEP_MS` (default: the latency) of waiting that a
//! cancel cuts short; a cancel rolls back (nothing stored) and fails, and
//! `resume` with a checkpoint finishes the deploy. Steps, rollbacks and
//! resumes are appended to `<world>/deploy.log`.
//!
//! With a latency, the most calls that were ever waiting it out at once in
//! this process is written to `<world>/max-in-flight` whenever it grows, so
//! tests of the binary can see the parallelism bound that was kept.
//!
//! Invariant: the same schema as the in-memory `TestProvider`, so a stack
//! written for one runs on the other; never offered without the variable.
//! Invariant: a malformed variable makes every call fail with a permanent
//! error that names it, rather than running a different trial than asked.

use super::operation::Operation;
use super::operation::{DeploySteps, Resumed};
use super::provider::{
    Attributes, ObjectState, PlannedChange, Provider, ProviderError, conform_to_schema,
    plan_from_schema, resume_by_default, validate_against_schema,
};
use super::retry::Rng;
use super::schema::ResourceSchema;
use super::test::{NAME, TEST_RESOURCE, TestProvider};
use crate::host::{Host, HostError};
use crate::lang::Value;
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The variable naming the world folder.
pub const WORLD_VAR: &str = "INFRA_TEST_WORLD";
/// Milliseconds to wait in every call before its effect.
pub const LATENCY_VAR: &str = "INFRA_TEST_LATENCY_MS";
/// Milliseconds to wait in create, update and delete after their effect.
pub const LATENCY_AFTER_VAR: &str = "INFRA_TEST_LATENCY_AFTER_MS";
/// Scripted failures: `op:name:kind[:times]`, comma-separated.
pub const FAIL_VAR: &str = "INFRA_TEST_FAIL";
/// The share of calls (0 to 1) that get an injected transient fault.
pub const FAULTS_VAR: &str = "INFRA_TEST_FAULTS";
/// The seed of the injected faults.
pub const FAULTS_SEED_VAR: &str = "INFRA_TEST_FAULTS_SEED";
/// Updates run as deploys of these steps: `start,health,switch,watch`.
pub const DEPLOY_VAR: &str = "INFRA_TEST_DEPLOY";
/// Milliseconds each deploy step takes (default: `INFRA_TEST_LATENCY_MS`).
pub const DEPLOY_STEP_VAR: &str = "INFRA_TEST_DEPLOY_STEP_MS";

/// Transient faults injected at random into a share of the calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomFaults {
    /// The share of calls hit, from 0 to 1.
    pub share: f64,
    /// The seed.
    pub seed: u64,
}

impl RandomFaults {
    fn from_env(host: &dyn Host) -> Result<Option<RandomFaults>, String> {
        let Some(text) = host
            .env_var(FAULTS_VAR)
            .filter(|text| !text.trim().is_empty())
        else {
            return Ok(None);
        };
        let share = text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|share| (0.0..=1.0).contains(share))
            .ok_or_else(|| format!("{FAULTS_VAR} must be a share of calls from 0 to 1 (0.1)"))?;
        let seed = match host.env_var(FAULTS_SEED_VAR) {
            Some(text) if !text.trim().is_empty() => text
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{FAULTS_SEED_VAR} must be a whole number"))?,
            _ => 0,
        };
        Ok(Some(RandomFaults { share, seed }))
    }

    /// The fault for the `nth` (from 0) call of `op` on `object`, if any.
    fn draw(&self, op: WorldOp, object: &str, nth: u32) -> Option<InjectedFault> {
        // FNV-1a over the call, then splitmix: the same call always draws
        // the same number.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in format!("{op:?}/{object}/{nth}").bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = Rng::new(self.seed ^ hash);
        let roll = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        if roll >= self.share {
            return None;
        }
        Some(match rng.next() % 4 {
            0 => InjectedFault::Timeout,
            1 => InjectedFault::TooManyRequestsRetryAfter,
            2 => InjectedFault::TooManyRequests,
            _ => InjectedFault::Unavailable,
        })
    }
}

/// A kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InjectedFault {
    Timeout,
    TooManyRequestsRetryAfter,
    TooManyRequests,
    Unavailable,
}

impl InjectedFault {
    fn name(self) -> &'static str {
        match self {
            InjectedFault::Timeout => "timeout",
            InjectedFault::TooManyRequestsRetryAfter => "429-retry-after",
            InjectedFault::TooManyRequests => "429",
            InjectedFault::Unavailable => "503",
        }
    }

    fn error(self) -> ProviderError {
        let message = match self {
            InjectedFault::Timeout => "test world: injected fault: the call timed out",
            InjectedFault::TooManyRequestsRetryAfter | InjectedFault::TooManyRequests => {
                "test world: injected fault: 429 Too Many Requests"
            }
            InjectedFault::Unavailable => "test world: injected fault: 503 Service Unavailable",
        };
        let error = ProviderError::transient(message);
        match self {
            InjectedFault::TooManyRequestsRetryAfter => {
                error.retry_after(Duration::from_millis(100))
            }
            _ => error,
        }
    }
}

/// A provider call, for scripted failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorldOp {
    /// `plan_change`.
    Plan,
    /// `create`.
    Create,
    /// `read`.
    Read,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
    /// `import`.
    Import,
    /// `find`.
    Find,
}

impl WorldOp {
    fn parse(text: &str) -> Option<WorldOp> {
        Some(match text {
            "plan" => WorldOp::Plan,
            "create" => WorldOp::Create,
            "read" => WorldOp::Read,
            "update" => WorldOp::Update,
            "delete" => WorldOp::Delete,
            "import" => WorldOp::Import,
            "find" => WorldOp::Find,
            _ => return None,
        })
    }
}

/// One scripted failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldFault {
    /// The call it hits.
    pub op: WorldOp,
    /// The object's name or id it hits; `*` for any.
    pub target: String,
    /// Transient (true) or permanent.
    pub transient: bool,
    /// How many more times it fires in this process; `None` for always.
    pub remaining: Option<u32>,
}

/// Parses `INFRA_TEST_FAIL`: `create:web:transient,update:db:permanent:2`.
pub fn parse_faults(text: &str) -> Result<Vec<WorldFault>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let parts: Vec<&str> = item.split(':').collect();
            let bad = || {
                format!(
                    "{FAIL_VAR}: `{item}` is not `op:name:transient|permanent[:times]` \
                     (op: plan, create, read, update, delete, import, find)"
                )
            };
            let (op, target, kind, times) = match parts.as_slice() {
                [op, target, kind] => (op, target, kind, None),
                [op, target, kind, times] => (op, target, kind, Some(times)),
                _ => return Err(bad()),
            };
            let op = WorldOp::parse(op).ok_or_else(bad)?;
            let transient = match *kind {
                "transient" => true,
                "permanent" => false,
                _ => return Err(bad()),
            };
            let remaining = match times {
                Some(times) => Some(times.parse::<u32>().map_err(|_| bad())?),
                None => None,
            };
            Ok(WorldFault {
                op,
                target: (*target).to_owned(),
                transient,
                remaining,
            })
        })
        .collect()
}

fn parse_millis(host: &dyn Host, name: &str) -> Result<Option<Duration>, String> {
    match host.env_var(name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map(|millis| Some(Duration::from_millis(millis)))
            .map_err(|_| format!("{name} must be a whole number of milliseconds")),
    }
}

/// The `test` provider backed by a folder.
pub struct WorldProvider {
    host: Arc<dyn Host>,
    dir: PathBuf,
    before: Duration,
    after: Duration,
    faults: Mutex<Vec<WorldFault>>,
    random_faults: Option<RandomFaults>,
    /// How many times each call was made per object, for `random_faults`.
    calls_made: Mutex<std::collections::HashMap<(WorldOp, String), u32>>,
    config_error: Option<String>,
    schemas: Vec<ResourceSchema>,
    /// The steps an update deploys through (none: a plain update).
    deploy: Vec<String>,
    /// How long each step takes (a cancel cuts it short).
    step: Duration,
    /// Calls waiting out the latency now, and the most there ever were.
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: Mutex<usize>,
}

impl std::fmt::Debug for WorldProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorldProvider")
            .field("dir", &self.dir)
            .field("before", &self.before)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

/// A fresh id: 8 random bytes as 16 hex digits, prefixed `t-`.
fn random_id(host: &dyn Host) -> String {
    let mut bytes = [0u8; 8];
    host.random_bytes(&mut bytes);
    let mut id = String::from("t-");
    crate::hex::push_lower(&mut id, &bytes);
    id
}

/// Whether an id is safe as a file name (it may come from `infra import`).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn known_name(attributes: &Attributes) -> Result<&str, ProviderError> {
    match attributes.get("name") {
        Some(value) if value.is_unknown() => {
            Err(ProviderError::permanent("`name` is still unknown").at(["name"]))
        }
        Some(value) => value
            .as_str()
            .ok_or_else(|| ProviderError::permanent("`name` must be a string").at(["name"])),
        None => Err(ProviderError::permanent("`name` is required").at(["name"])),
    }
}

fn known_value(attributes: &Attributes) -> Result<(), ProviderError> {
    match attributes.get("value") {
        Some(value) if value.contains_unknown() => {
            Err(ProviderError::permanent("`value` is still unknown").at(["value"]))
        }
        _ => Ok(()),
    }
}

fn world_error(what: &str, error: &HostError) -> ProviderError {
    ProviderError::transient(format!("test world: could not {what}: {error}"))
}

impl WorldProvider {
    /// The schema of `test_resource` here: the in-memory provider's, with random ids.
    pub fn schema() -> ResourceSchema {
        let mut schema = TestProvider::schema();
        schema.description = "An object in the file-backed test world (`INFRA_TEST_WORLD`).";
        for attribute in &mut schema.attributes {
            if attribute.name == "id" {
                attribute.description = "A random id, set at creation.";
            }
        }
        schema
    }

    /// A world in `dir`, with no latency and no failures.
    pub fn new(host: Arc<dyn Host>, dir: PathBuf) -> Self {
        WorldProvider {
            host,
            dir,
            before: Duration::ZERO,
            after: Duration::ZERO,
            faults: Mutex::new(Vec::new()),
            random_faults: None,
            calls_made: Mutex::new(std::collections::HashMap::new()),
            config_error: None,
            schemas: vec![Self::schema()],
            deploy: Vec::new(),
            step: Duration::ZERO,
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            max_in_flight: Mutex::new(0),
        }
    }

    /// The world the environment asks for (`INFRA_TEST_WORLD`, with latency
    /// and failures from the other variables); `None` when it is not set.
    pub fn from_env(host: Arc<dyn Host>) -> Option<Self> {
        let dir = host
            .env_var(WORLD_VAR)
            .filter(|dir| !dir.trim().is_empty())?;
        let world = Self::new(host.clone(), PathBuf::from(dir));
        type Settings = (Duration, Duration, Vec<WorldFault>, Option<RandomFaults>);
        let step = parse_millis(host.as_ref(), DEPLOY_STEP_VAR);
        let settings = (|| -> Result<Settings, String> {
            let before = parse_millis(host.as_ref(), LATENCY_VAR)?.unwrap_or_default();
            let after = parse_millis(host.as_ref(), LATENCY_AFTER_VAR)?.unwrap_or(before);
            let faults = match host.env_var(FAIL_VAR) {
                Some(text) => parse_faults(&text)?,
                None => Vec::new(),
            };
            let random = RandomFaults::from_env(host.as_ref())?;
            Ok((before, after, faults, random))
        })();
        Some(match settings {
            Ok((before, after, faults, random)) => WorldProvider {
                random_faults: random,
                step: step.ok().flatten().unwrap_or(before),
                deploy: host
                    .env_var(DEPLOY_VAR)
                    .map(|steps| {
                        steps
                            .split(',')
                            .map(str::trim)
                            .filter(|step| !step.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                ..world.with_latency(before, after).with_faults(faults)
            },
            Err(message) => WorldProvider {
                config_error: Some(message),
                ..world
            },
        })
    }

    /// Sets the delays before every call's effect and after a mutation's.
    #[must_use]
    pub fn with_latency(mut self, before: Duration, after: Duration) -> Self {
        self.before = before;
        self.after = after;
        self
    }

    /// Makes every update a deploy of `steps`, each taking `wait` (see
    /// [`DEPLOY_VAR`]).
    #[must_use]
    pub fn with_deploy(mut self, steps: &[&str], wait: Duration) -> Self {
        self.deploy = steps.iter().map(|step| (*step).to_owned()).collect();
        self.step = wait;
        self
    }

    /// Sets the scripted failures.
    #[must_use]
    pub fn with_faults(self, faults: Vec<WorldFault>) -> Self {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner) = faults;
        self
    }

    /// Injects transient faults into a share of the calls (see the module
    /// documentation).
    #[must_use]
    pub fn with_random_faults(mut self, faults: RandomFaults) -> Self {
        self.random_faults = Some(faults);
        self
    }

    /// The world folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn objects_dir(&self) -> PathBuf {
        self.dir.join("objects")
    }

    fn object_path(&self, id: &str) -> PathBuf {
        self.objects_dir().join(format!("{id}.json"))
    }

    /// Every object in the world, sorted by id.
    pub fn objects(&self) -> Result<Vec<ObjectState>, ProviderError> {
        let entries = match self.host.list_dir(&self.objects_dir()) {
            Ok(entries) => entries,
            Err(HostError::NotFound) => return Ok(Vec::new()),
            Err(error) => return Err(world_error("list the objects", &error)),
        };
        let mut objects = Vec::new();
        for entry in entries.iter().filter(|entry| entry.is_file) {
            let Some(file_name) = entry.path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(id) = file_name.strip_suffix(".json") else {
                continue;
            };
            if !valid_id(id) {
                continue; // a temp file of an atomic write
            }
            if let Some(object) = self.load(id)? {
                objects.push(object);
            }
        }
        objects.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(objects)
    }

    /// One object, `None` when there is no file for it.
    fn load(&self, id: &str) -> Result<Option<ObjectState>, ProviderError> {
        let bytes = match self.host.read(&self.object_path(id)) {
            Ok(bytes) => bytes,
            Err(HostError::NotFound) => return Ok(None),
            Err(error) => return Err(world_error("read an object", &error)),
        };
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
            ProviderError::permanent(format!("test world: object `{id}` is not JSON: {error}"))
        })?;
        let attributes = json
            .get("attributes")
            .and_then(serde_json::Value::as_object)
            .map(|map| {
                map.iter()
                    .map(|(name, value)| (name.clone(), Value::from_json(value)))
                    .collect::<Attributes>()
            })
            .unwrap_or_default();
        let mut attributes = conform_to_schema(&Self::schema(), &attributes);
        attributes.insert("id".to_owned(), Value::string(id));
        Ok(Some(ObjectState {
            id: id.to_owned(),
            attributes,
        }))
    }

    fn store(&self, object: &ObjectState) -> Result<(), ProviderError> {
        let attributes: serde_json::Map<String, serde_json::Value> = object
            .attributes
            .iter()
            .map(|(name, value)| (name.clone(), value.to_json_revealed()))
            .collect();
        let json = serde_json::json!({
            "resource_type": TEST_RESOURCE,
            "id": object.id,
            "attributes": attributes,
        });
        let bytes = serde_json::to_vec_pretty(&json).map_err(|error| {
            ProviderError::permanent(format!("test world: could not encode an object: {error}"))
        })?;
        self.host
            .create_dir_all(&self.objects_dir())
            .map_err(|error| world_error("create the objects folder", &error))?;
        self.host
            .write_atomic(&self.object_path(&object.id), &bytes)
            .map_err(|error| world_error("write an object", &error))
    }

    /// Waits the latency, then fails when the environment was malformed or a
    /// scripted fault hits this call.
    async fn enter(
        &self,
        resource_type: &str,
        op: WorldOp,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<(), ProviderError> {
        if let Some(message) = &self.config_error {
            return Err(ProviderError::permanent(message.clone()));
        }
        if self.schema(resource_type).is_none() {
            return Err(ProviderError::unknown_resource_type(NAME, resource_type));
        }
        // Planning is the provider's own computation (no call reaches the
        // world, as a real provider's plan makes no API call), so it is not
        // delayed; it can still be scripted to fail.
        if !self.before.is_zero() && op != WorldOp::Plan {
            use std::sync::atomic::Ordering;
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            {
                let mut max = self
                    .max_in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if now > *max {
                    *max = now;
                    // Best effort: the file is for tests to read, not for the call.
                    let _ = self.host.write_atomic(
                        &self.dir.join("max-in-flight"),
                        format!("{now}\n").as_bytes(),
                    );
                }
            }
            tokio::time::sleep(self.before).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let hit = faults.iter_mut().find(|fault| {
            fault.op == op
                && fault.remaining != Some(0)
                && (fault.target == "*"
                    || Some(fault.target.as_str()) == name
                    || Some(fault.target.as_str()) == id)
        });
        match hit {
            None => {
                drop(faults);
                self.random_fault(op, name.or(id))
            }
            Some(fault) => {
                if let Some(remaining) = &mut fault.remaining {
                    *remaining -= 1;
                }
                let message = format!("test world: scripted failure of {op:?}");
                Err(if fault.transient {
                    ProviderError::transient(message)
                } else {
                    ProviderError::permanent(message)
                })
            }
        }
    }

    /// The injected fault of this call, if it draws one (and logs it).
    fn random_fault(&self, op: WorldOp, object: Option<&str>) -> Result<(), ProviderError> {
        let Some(random) = self.random_faults else {
            return Ok(());
        };
        if op == WorldOp::Plan {
            return Ok(());
        }
        let object = object.unwrap_or("-");
        let nth = {
            let mut calls = self
                .calls_made
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = calls.entry((op, object.to_owned())).or_insert(0);
            let nth = *count;
            *count += 1;
            nth
        };
        match random.draw(op, object, nth) {
            None => Ok(()),
            Some(fault) => {
                self.host
                    .create_dir_all(&self.dir)
                    .map_err(|error| world_error("create the world folder", &error))?;
                self.host
                    .append_durable(
                        &self.dir.join("faults.log"),
                        format!("{op:?} {object} {}\n", fault.name()).as_bytes(),
                    )
                    .map_err(|error| world_error("append to faults.log", &error))?;
                Err(fault.error())
            }
        }
    }

    /// Runs an update as a deploy of the steps in `INFRA_TEST_DEPLOY`: before
    /// each step a checkpoint `{"step", "name"}` and a phase, then the latency
    /// (cut short by a cancel). A cancel rolls back (nothing is stored) and
    /// fails; the object changes only once every step is done.
    async fn run_deploy(&self, op: &Operation, name: &str) -> Result<(), ProviderError> {
        for step in &self.deploy {
            op.checkpoint(serde_json::json!({"step": step, "name": name}))
                .await?;
            op.phase(step.clone());
            self.deploy_log(&format!("step {name} {step}"))?;
            if !self.step.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(self.step) => {}
                    () = op.cancelled() => {}
                }
            }
            if op.is_cancelled() {
                self.deploy_log(&format!("rollback {name} {step}"))?;
                return Err(ProviderError::permanent(format!(
                    "test world: the deploy was cancelled at `{step}` and rolled back"
                )));
            }
        }
        Ok(())
    }

    /// Appends a line to `<world>/deploy.log`, durably.
    fn deploy_log(&self, line: &str) -> Result<(), ProviderError> {
        self.host
            .create_dir_all(&self.dir)
            .map_err(|error| world_error("create the world folder", &error))?;
        self.host
            .append_durable(&self.dir.join("deploy.log"), format!("{line}\n").as_bytes())
            .map_err(|error| world_error("append to deploy.log", &error))
    }

    /// Waits the after-effect latency of a mutation.
    async fn leave(&self) {
        if !self.after.is_zero() {
            tokio::time::sleep(self.after).await;
        }
    }

    /// `object` with `value` marked secret when the configured one was.
    fn remark(mut object: ObjectState, like: &Attributes) -> ObjectState {
        let secret = like.get("value").is_some_and(Value::contains_secret);
        if let Some(value) = object.attributes.remove("value") {
            object
                .attributes
                .insert("value".to_owned(), value.mark_secret_if(secret));
        }
        object
    }
}

fn name_of(attributes: &Attributes) -> Option<&str> {
    attributes.get("name").and_then(Value::as_str)
}

impl WorldProvider {
    /// The effect of an update: the object with the planned attributes (its
    /// computed ones kept), stored.
    fn apply_update(
        &self,
        prior: &ObjectState,
        planned: &Attributes,
        name: &str,
    ) -> Result<ObjectState, ProviderError> {
        let current = if valid_id(&prior.id) {
            self.load(&prior.id)?
        } else {
            None
        };
        let Some(current) = current else {
            return Err(ProviderError::not_found("no such object in the test world"));
        };
        if current.attribute("name").as_str() != Some(name) {
            return Err(ProviderError::permanent("`name` cannot change in place").at(["name"]));
        }
        let mut attributes = conform_to_schema(&Self::schema(), planned);
        for computed in ["id", "computed"] {
            attributes.insert(computed.to_owned(), current.attribute(computed).clone());
        }
        let object = ObjectState {
            id: prior.id.clone(),
            attributes,
        };
        self.store(&object)?;
        Ok(object)
    }
}

#[async_trait]
impl Provider for WorldProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    fn validate(&self, resource_type: &str, config: &Attributes) -> Vec<ProviderError> {
        if let Some(message) = &self.config_error {
            return vec![ProviderError::permanent(message.clone())];
        }
        match self.schema(resource_type) {
            Some(schema) => validate_against_schema(schema, config),
            None => vec![ProviderError::unknown_resource_type(NAME, resource_type)],
        }
    }

    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        let id = prior.map(|prior| prior.id.as_str());
        self.enter(resource_type, WorldOp::Plan, name_of(proposed), id)
            .await?;
        Ok(plan_from_schema(&Self::schema(), prior, proposed))
    }

    async fn create(
        &self,
        _op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        self.enter(resource_type, WorldOp::Create, name_of(planned), None)
            .await?;
        let name = known_name(planned)?;
        known_value(planned)?;
        let id = random_id(self.host.as_ref());
        let mut attributes = conform_to_schema(&Self::schema(), planned);
        attributes.insert("id".to_owned(), Value::string(id.clone()));
        attributes.insert(
            "computed".to_owned(),
            Value::string(format!("computed-{id}")),
        );
        let object = ObjectState { id, attributes };
        // The effect: the object, then the log line; no await between them,
        // so a kill lands before both or after both.
        self.store(&object)?;
        self.host
            .append_durable(
                &self.dir.join("creates.log"),
                format!("{} {name}\n", object.id).as_bytes(),
            )
            .map_err(|error| world_error("append to creates.log", &error))?;
        self.leave().await;
        Ok(object)
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let name = name_of(&prior.attributes);
        self.enter(resource_type, WorldOp::Read, name, Some(&prior.id))
            .await?;
        if !valid_id(&prior.id) {
            return Ok(None);
        }
        Ok(self
            .load(&prior.id)?
            .map(|object| Self::remark(object, &prior.attributes)))
    }

    async fn update(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        self.enter(
            resource_type,
            WorldOp::Update,
            name_of(planned),
            Some(&prior.id),
        )
        .await?;
        let name = known_name(planned)?;
        known_value(planned)?;
        if !self.deploy.is_empty() {
            self.run_deploy(op, name).await?;
        }
        let object = self.apply_update(prior, planned, name)?;
        if !self.deploy.is_empty() {
            self.deploy_log(&format!("done {name}"))?;
        }
        self.leave().await;
        Ok(object)
    }

    async fn resume(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: Option<&ObjectState>,
        planned: &Attributes,
        checkpoint: Option<&serde_json::Value>,
    ) -> Result<Resumed, ProviderError> {
        let (Some(prior), Some(checkpoint)) = (prior, checkpoint) else {
            return resume_by_default(self, op, resource_type, prior, planned, checkpoint).await;
        };
        // A deploy interrupted after a checkpoint: finish it.
        let name = known_name(planned)?;
        let step = checkpoint
            .get("step")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        self.deploy_log(&format!("resume {name} {step}"))?;
        let object = self.apply_update(prior, planned, name)?;
        self.deploy_log(&format!("done {name}"))?;
        Ok(Resumed::Settled(Some(object)))
    }

    fn deploy_steps(
        &self,
        _resource_type: &str,
        prior: Option<&ObjectState>,
        _planned: &Attributes,
    ) -> Option<DeploySteps> {
        (prior.is_some() && !self.deploy.is_empty()).then(|| DeploySteps {
            strategy: String::from("blue-green"),
            steps: self.deploy.clone(),
            downtime: String::from("none (blue-green)"),
        })
    }

    async fn delete(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        let name = name_of(&prior.attributes);
        self.enter(resource_type, WorldOp::Delete, name, Some(&prior.id))
            .await?;
        if valid_id(&prior.id) {
            match self.host.remove_file(&self.object_path(&prior.id)) {
                Ok(()) | Err(HostError::NotFound) => {}
                Err(error) => return Err(world_error("remove an object", &error)),
            }
        }
        self.leave().await;
        Ok(())
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        self.enter(resource_type, WorldOp::Import, None, Some(id))
            .await?;
        let found = if valid_id(id) { self.load(id)? } else { None };
        found.ok_or_else(|| ProviderError::not_found(format!("no object `{id}` in the test world")))
    }

    async fn find(
        &self,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let name = name_of(planned);
        self.enter(resource_type, WorldOp::Find, name, None).await?;
        let Some(name) = name else {
            return Ok(None);
        };
        Ok(self
            .objects()?
            .into_iter()
            .find(|object| object.attribute("name").as_str() == Some(name))
            .map(|object| Self::remark(object, planned)))
    }
}

#[cfg(test)]
mod tests;
