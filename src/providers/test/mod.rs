//! The `test` provider: an in-memory, scriptable world for engine tests and
//! benchmarks. It records every call made to it (what, on which object, when
//! it started and finished, how it ended), tracks the most calls in flight at
//! once, and can be scripted to be slow, to fail (transiently or permanently,
//! with attribute paths) or to panic.
//!
//! It offers one type, `test_resource`: `name` (required, force-new), `value`
//! (optional), `id` and `computed` (computed). Ids are `<name>-<n>`, `n`
//! counting creates of that name, so they do not depend on scheduling.
//!
//! Invariant: never registered by [`super::ProviderSet::builtin`] or
//! [`super::Registry::builtin`]; tests and benchmarks add it themselves
//! (`ProviderSet::insert`, `Registry::add_resource(TestProvider::schema())`).
//! Tests that run the real binary use the file-backed [`super::world`] instead.
//! Invariant: no lock is held across an `await` or a scripted panic, so the
//! provider stays usable after a call panicked.

use super::operation::{DeploySteps, Operation};
use super::provider::{
    Attributes, ObjectState, PlannedChange, Provider, ProviderError, ProviderErrorKind,
    conform_to_schema, plan_from_schema,
};
use super::schema::{ResourceSchema, attribute};
use crate::lang::{Type, Value};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The provider's name.
pub const NAME: &str = "test";

/// The `test_resource` type name.
pub const TEST_RESOURCE: &str = "test_resource";

/// A provider method, for scripts and the call record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// [`Provider::configure`].
    Configure,
    /// [`Provider::validate`] (synchronous: never delayed).
    Validate,
    /// [`Provider::plan_change`].
    PlanChange,
    /// [`Provider::create`].
    Create,
    /// [`Provider::read`].
    Read,
    /// [`Provider::update`].
    Update,
    /// [`Provider::delete`].
    Delete,
    /// [`Provider::import`].
    Import,
}

/// How a recorded call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It returned `Ok`.
    Ok,
    /// It returned an error of this kind.
    Failed(ProviderErrorKind),
    /// It panicked (scripted with [`TestProvider::panic_on`]).
    Panicked,
    /// Its future was dropped before it finished (a timeout or a cancelled apply).
    Cancelled,
}

/// One call made to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Its position in start order, from 0.
    pub seq: u64,
    /// The method.
    pub op: Op,
    /// The resource type (empty for `configure`).
    pub resource_type: String,
    /// The object's id, when the call had or made one.
    pub id: Option<String>,
    /// The object's `name` attribute, when known.
    pub name: Option<String>,
    /// When it started, on the tokio clock, since the provider was made.
    pub started_at: Duration,
    /// When it finished, likewise.
    pub finished_at: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// Which calls a scripted fault hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The n-th call of the op, counting from 1 in start order.
    Nth(u64),
    /// Calls on the object with this `name` attribute or id.
    Matching(String),
}

/// What a scripted fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Return this error.
    Fail(ProviderError),
    /// Panic (the engine must survive it).
    Panic,
}

#[derive(Debug, Clone)]
struct Fault {
    op: Op,
    trigger: Trigger,
    effect: Effect,
    /// How many more times it fires; `None` for always.
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
struct Inner {
    world: BTreeMap<(String, String), Attributes>,
    calls: Vec<Call>,
    next_seq: u64,
    op_counts: BTreeMap<Op, u64>,
    creates_by_name: BTreeMap<String, u64>,
    faults: Vec<Fault>,
    op_latency: BTreeMap<Op, Duration>,
    resource_latency: BTreeMap<(Op, String), Duration>,
    configuration: Option<Attributes>,
    in_flight: usize,
    max_in_flight: usize,
    deploy_steps: Option<DeploySteps>,
}

/// The in-memory, recording, scriptable provider.
#[derive(Debug)]
pub struct TestProvider {
    inner: Mutex<Inner>,
    epoch: Instant,
    schemas: Vec<ResourceSchema>,
    /// Its name: [`NAME`], unless made by [`TestProvider::effect_free_as`].
    name: &'static str,
    /// What [`Provider::effect_free`] says.
    effect_free: bool,
}

impl Default for TestProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl TestProvider {
    /// An empty world with no script; times are measured from now.
    pub fn new() -> Self {
        TestProvider {
            inner: Mutex::new(Inner::default()),
            epoch: Instant::now(),
            schemas: vec![Self::schema()],
            name: NAME,
            effect_free: false,
        }
    }

    /// The same world under the provider name `name`, declaring its calls
    /// effect-free (as `null` does), to test what the engine skips for them.
    pub fn effect_free_as(name: &'static str) -> Self {
        TestProvider {
            name,
            effect_free: true,
            ..Self::new()
        }
    }

    /// The schema of `test_resource`, for tests to add to a `Registry`.
    pub fn schema() -> ResourceSchema {
        ResourceSchema {
            resource_type: TEST_RESOURCE,
            provider: NAME,
            description: "An object in the test provider's memory.",
            attributes: vec![
                attribute("name", Type::String)
                    .required()
                    .force_new()
                    .describe("Its name; a change replaces it."),
                attribute("value", Type::Any).describe("Any value, updated in place."),
                attribute("id", Type::String)
                    .computed_only()
                    .derived_from(&["name"])
                    .describe("`<name>-<n>`, set at creation."),
                attribute("computed", Type::String)
                    .computed_only()
                    .derived_from(&["name"])
                    .describe("Derived from the id at creation."),
            ],
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A scripted panic never holds the lock, but a test's own may; the data
        // stays consistent either way, so poisoning is ignored.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- script -----

    /// Delays every call of `op` by `latency` (on the tokio clock).
    pub fn set_latency(&self, op: Op, latency: Duration) {
        self.lock().op_latency.insert(op, latency);
    }

    /// Delays every call of `op` on the object with this name or id by
    /// `latency`, instead of the op's latency.
    pub fn set_resource_latency(&self, op: Op, name_or_id: &str, latency: Duration) {
        self.lock()
            .resource_latency
            .insert((op, name_or_id.to_owned()), latency);
    }

    /// Makes the n-th call of `op` (from 1) fail with `error`.
    pub fn fail_nth(&self, op: Op, n: u64, error: ProviderError) {
        self.add_fault(op, Trigger::Nth(n), Effect::Fail(error), Some(1));
    }

    /// Makes every call of `op` on the object with this name or id fail.
    pub fn fail_matching(&self, op: Op, name_or_id: &str, error: ProviderError) {
        let trigger = Trigger::Matching(name_or_id.to_owned());
        self.add_fault(op, trigger, Effect::Fail(error), None);
    }

    /// Makes the first `times` calls of `op` on the object with this name or id
    /// fail, and later ones succeed (a transient outage).
    pub fn fail_matching_times(&self, op: Op, name_or_id: &str, error: ProviderError, times: u32) {
        let trigger = Trigger::Matching(name_or_id.to_owned());
        self.add_fault(op, trigger, Effect::Fail(error), Some(times));
    }

    /// Makes calls of `op` hit by `trigger` panic (once for `Nth`, always for `Matching`).
    pub fn panic_on(&self, op: Op, trigger: Trigger) {
        let remaining = matches!(trigger, Trigger::Nth(_)).then_some(1);
        self.add_fault(op, trigger, Effect::Panic, remaining);
    }

    /// Adds any fault; the first matching fault in the order added wins.
    pub fn add_fault(&self, op: Op, trigger: Trigger, effect: Effect, times: Option<u32>) {
        self.lock().faults.push(Fault {
            op,
            trigger,
            effect,
            remaining: times,
        });
    }

    /// Removes every fault and latency.
    pub fn clear_script(&self) {
        let mut inner = self.lock();
        inner.faults.clear();
        inner.op_latency.clear();
        inner.resource_latency.clear();
    }

    // ----- the world -----

    /// Every object, by (resource type, id).
    pub fn world(&self) -> BTreeMap<(String, String), Attributes> {
        self.lock().world.clone()
    }

    /// One object's attributes.
    pub fn object(&self, resource_type: &str, id: &str) -> Option<Attributes> {
        let key = (resource_type.to_owned(), id.to_owned());
        self.lock().world.get(&key).cloned()
    }

    /// Makes every update (a change with a prior object) a deploy of these
    /// steps for the plan ([`Provider::deploy_steps`]); `None`: plain updates.
    pub fn set_deploy_steps(&self, steps: Option<DeploySteps>) {
        self.lock().deploy_steps = steps;
    }

    /// Puts an object into the world as if made outside (for import and drift
    /// tests); `id` is set from the key.
    pub fn put_object(&self, resource_type: &str, id: &str, mut attributes: Attributes) {
        attributes.insert("id".to_owned(), Value::string(id));
        let key = (resource_type.to_owned(), id.to_owned());
        self.lock().world.insert(key, attributes);
    }

    /// Deletes an object as if outside; returns what it was.
    pub fn remove_object(&self, resource_type: &str, id: &str) -> Option<Attributes> {
        let key = (resource_type.to_owned(), id.to_owned());
        self.lock().world.remove(&key)
    }

    // ----- the record -----

    /// Every finished (or panicked, or cancelled) call, in start order.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self.lock().calls.clone();
        calls.sort_by_key(|call| call.seq);
        calls
    }

    /// The recorded calls of one op, in start order.
    pub fn calls_of(&self, op: Op) -> Vec<Call> {
        let mut calls = self.calls();
        calls.retain(|call| call.op == op);
        calls
    }

    /// How many calls panicked.
    pub fn panics(&self) -> usize {
        let inner = self.lock();
        inner
            .calls
            .iter()
            .filter(|call| call.outcome == Outcome::Panicked)
            .count()
    }

    /// The most calls that were in flight at the same time.
    pub fn max_concurrency_observed(&self) -> usize {
        self.lock().max_in_flight
    }

    /// The configuration last given to `configure`.
    pub fn configuration(&self) -> Option<Attributes> {
        self.lock().configuration.clone()
    }

    /// Forgets the recorded calls, counts and concurrency (not the world or script).
    pub fn reset_calls(&self) {
        let mut inner = self.lock();
        inner.calls.clear();
        inner.op_counts.clear();
        inner.max_in_flight = inner.in_flight;
    }

    // ----- calls -----

    fn since_epoch(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }

    /// Starts recording a call: counts it, picks its fault and latency.
    fn begin(
        &self,
        op: Op,
        resource_type: &str,
        id: Option<&str>,
        name: Option<&str>,
    ) -> (InFlight<'_>, Option<Effect>, Duration) {
        let started_at = self.since_epoch();
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let nth = {
            let count = inner.op_counts.entry(op).or_insert(0);
            *count += 1;
            *count
        };
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        let hits = |trigger: &Trigger| match trigger {
            Trigger::Nth(n) => *n == nth,
            Trigger::Matching(target) => {
                id == Some(target.as_str()) || name == Some(target.as_str())
            }
        };
        let effect = inner
            .faults
            .iter_mut()
            .find(|fault| fault.op == op && fault.remaining != Some(0) && hits(&fault.trigger))
            .map(|fault| {
                if let Some(remaining) = &mut fault.remaining {
                    *remaining -= 1;
                }
                fault.effect.clone()
            });
        let latency = [name, id]
            .into_iter()
            .flatten()
            .find_map(|key| inner.resource_latency.get(&(op, key.to_owned())))
            .or_else(|| inner.op_latency.get(&op))
            .copied()
            .unwrap_or_default();
        drop(inner);
        let call = Call {
            seq,
            op,
            resource_type: resource_type.to_owned(),
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
            started_at,
            finished_at: started_at,
            outcome: Outcome::Cancelled,
        };
        let in_flight = InFlight {
            provider: self,
            call: Some(call),
        };
        (in_flight, effect, latency)
    }

    /// Begins a call, waits its latency and applies its fault.
    async fn enter(
        &self,
        op: Op,
        resource_type: &str,
        id: Option<&str>,
        name: Option<&str>,
    ) -> Result<InFlight<'_>, ProviderError> {
        let (mut in_flight, effect, latency) = self.begin(op, resource_type, id, name);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match effect {
            None => Ok(in_flight),
            Some(Effect::Fail(error)) => in_flight.finish(Err(error)),
            Some(Effect::Panic) => {
                in_flight.set_outcome(Outcome::Panicked);
                drop(in_flight);
                panic!("test provider: scripted panic in {op:?}");
            }
        }
    }

    fn check_type(&self, resource_type: &str) -> Result<&ResourceSchema, ProviderError> {
        self.schema(resource_type)
            .ok_or_else(|| ProviderError::unknown_resource_type(NAME, resource_type))
    }

    fn next_id(&self, name: &str) -> String {
        let mut inner = self.lock();
        let count = inner.creates_by_name.entry(name.to_owned()).or_insert(0);
        *count += 1;
        format!("{name}-{count}")
    }
}

/// The object's name in planned attributes: a known string, or an error at `name`.
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

/// The `name` attribute, if it is a known string.
fn name_of(attributes: &Attributes) -> Option<&str> {
    attributes.get("name").and_then(Value::as_str)
}

fn known_value(attributes: &Attributes) -> Result<(), ProviderError> {
    match attributes.get("value") {
        Some(value) if value.contains_unknown() => {
            Err(ProviderError::permanent("`value` is still unknown").at(["value"]))
        }
        _ => Ok(()),
    }
}

/// A call in flight: records itself when dropped, however the call ended.
struct InFlight<'a> {
    provider: &'a TestProvider,
    call: Option<Call>,
}

impl InFlight<'_> {
    fn set_outcome(&mut self, outcome: Outcome) {
        if let Some(call) = &mut self.call {
            call.outcome = outcome;
        }
    }

    fn set_id(&mut self, id: &str) {
        if let Some(call) = &mut self.call {
            call.id = Some(id.to_owned());
        }
    }

    /// Records how the call ended and hands the result through.
    fn finish<T>(mut self, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        self.set_outcome(match &result {
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Failed(error.kind),
        });
        result
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let Some(mut call) = self.call.take() else {
            return;
        };
        call.finished_at = self.provider.since_epoch();
        if std::thread::panicking() && call.outcome == Outcome::Cancelled {
            call.outcome = Outcome::Panicked;
        }
        let mut inner = self.provider.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        inner.calls.push(call);
    }
}

#[async_trait]
impl Provider for TestProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn effect_free(&self, _resource_type: &str) -> bool {
        self.effect_free
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    async fn configure(&self, config: &Attributes) -> Result<(), ProviderError> {
        let in_flight = self.enter(Op::Configure, "", None, None).await?;
        self.lock().configuration = Some(config.clone());
        in_flight.finish(Ok(()))
    }

    fn validate(&self, resource_type: &str, config: &Attributes) -> Vec<ProviderError> {
        let (mut in_flight, effect, _latency) =
            self.begin(Op::Validate, resource_type, None, name_of(config));
        let errors = match effect {
            Some(Effect::Fail(error)) => vec![error],
            Some(Effect::Panic) => {
                in_flight.set_outcome(Outcome::Panicked);
                drop(in_flight);
                panic!("test provider: scripted panic in Validate");
            }
            None => match self.check_type(resource_type) {
                Ok(schema) => super::provider::validate_against_schema(schema, config),
                Err(error) => vec![error],
            },
        };
        in_flight.set_outcome(match errors.first() {
            None => Outcome::Ok,
            Some(error) => Outcome::Failed(error.kind),
        });
        errors
    }

    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        let id = prior.map(|prior| prior.id.as_str());
        let in_flight = self
            .enter(Op::PlanChange, resource_type, id, name_of(proposed))
            .await?;
        let result = self
            .check_type(resource_type)
            .map(|schema| plan_from_schema(schema, prior, proposed));
        in_flight.finish(result)
    }

    async fn create(
        &self,
        _op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let mut in_flight = self
            .enter(Op::Create, resource_type, None, name_of(planned))
            .await?;
        let result = (|| {
            let schema = self.check_type(resource_type)?;
            let name = known_name(planned)?;
            known_value(planned)?;
            let id = self.next_id(name);
            let mut attributes = conform_to_schema(schema, planned);
            attributes.insert("id".to_owned(), Value::string(id.clone()));
            attributes.insert(
                "computed".to_owned(),
                Value::string(format!("computed-{id}")),
            );
            let key = (resource_type.to_owned(), id.clone());
            self.lock().world.insert(key, attributes.clone());
            Ok(ObjectState { id, attributes })
        })();
        if let Ok(object) = &result {
            in_flight.set_id(&object.id);
        }
        in_flight.finish(result)
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let name = name_of(&prior.attributes);
        let in_flight = self
            .enter(Op::Read, resource_type, Some(&prior.id), name)
            .await?;
        let result = self.check_type(resource_type).map(|_| {
            self.object(resource_type, &prior.id)
                .map(|attributes| ObjectState {
                    id: prior.id.clone(),
                    attributes,
                })
        });
        in_flight.finish(result)
    }

    async fn update(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        let in_flight = self
            .enter(Op::Update, resource_type, Some(&prior.id), name_of(planned))
            .await?;
        let result = (|| {
            let schema = self.check_type(resource_type)?;
            let name = known_name(planned)?;
            known_value(planned)?;
            let key = (resource_type.to_owned(), prior.id.clone());
            let mut inner = self.lock();
            let Some(current) = inner.world.get_mut(&key) else {
                return Err(ProviderError::not_found("no such object"));
            };
            if current.get("name").and_then(Value::as_str) != Some(name) {
                // `name` is force-new: an engine that updates it in place has a bug.
                return Err(ProviderError::permanent("`name` cannot change in place").at(["name"]));
            }
            let mut attributes = conform_to_schema(schema, planned);
            for computed in ["id", "computed"] {
                let value = current.get(computed).cloned().unwrap_or(Value::NULL);
                attributes.insert(computed.to_owned(), value);
            }
            *current = attributes.clone();
            Ok(ObjectState {
                id: prior.id.clone(),
                attributes,
            })
        })();
        in_flight.finish(result)
    }

    async fn delete(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        let name = name_of(&prior.attributes);
        let in_flight = self
            .enter(Op::Delete, resource_type, Some(&prior.id), name)
            .await?;
        let result = self.check_type(resource_type).map(|_| {
            self.remove_object(resource_type, &prior.id);
        });
        in_flight.finish(result)
    }

    fn deploy_steps(
        &self,
        _resource_type: &str,
        prior: Option<&ObjectState>,
        _planned: &Attributes,
    ) -> Option<DeploySteps> {
        prior.and(self.lock().deploy_steps.clone())
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        let in_flight = self
            .enter(Op::Import, resource_type, Some(id), None)
            .await?;
        let result = self.check_type(resource_type).and_then(|schema| {
            self.object(resource_type, id)
                .map(|attributes| ObjectState {
                    id: id.to_owned(),
                    attributes: conform_to_schema(schema, &attributes),
                })
                .ok_or_else(|| ProviderError::not_found("no such object"))
        });
        in_flight.finish(result)
    }
}

#[cfg(test)]
mod tests;
