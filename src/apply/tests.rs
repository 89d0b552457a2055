//! Apply engine tests on the `test` provider: order, width, partial failure,
//! retries, replacement order, unknowns, pending creates, crashes of the
//! provider and of the process (torn journal), cancellation, group commits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::addr::{InstanceKey, ProviderAddr, ResourceAddr};
use crate::config::Lifecycle;
use crate::diag::{Code, FileId, Span};
use crate::expand::{EnvironmentInfo, Instance};
use crate::host::MemoryHost;
use crate::plan::{self, Action, Change};
use crate::providers::provider::conform_to_schema;
use crate::providers::schema::ResourceSchema;
use crate::providers::test::{Op, TEST_RESOURCE, TestProvider, Trigger};
use crate::providers::{Operation, PlannedChange, Provider, ProviderError};
use crate::state::{CallKind, KeySource, PendingCall};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Mutex;

const CANARY: &str = "canary-apply-s3cr3t";

fn span(start: u32) -> Span {
    Span {
        file: FileId(0),
        start,
        end: start + 1,
    }
}

fn addr(name: &str) -> InstanceAddr {
    ResourceAddr::managed(TEST_RESOURCE, name).instance(InstanceKey::None)
}

/// A `test_resource` named `name` with `value`, depending on `deps`.
fn resource(name: &str, value: Value, deps: &[&str]) -> Instance {
    let mut attributes = crate::lang::Map::new();
    attributes.insert("name".to_owned(), Value::string(name));
    attributes.insert("value".to_owned(), value);
    let mut attribute_spans = BTreeMap::new();
    attribute_spans.insert("name".to_owned(), span(10));
    attribute_spans.insert("value".to_owned(), span(20));
    let dependencies: Vec<ResourceAddr> = deps
        .iter()
        .map(|d| ResourceAddr::managed(TEST_RESOURCE, d))
        .collect();
    Instance {
        addr: addr(name),
        provider: (String::from("test"), None),
        attributes,
        attribute_spans: Arc::new(attribute_spans.into()),
        dependencies: Arc::from(dependencies),
        lifecycle: Lifecycle::default(),
        span: span(1),
    }
}

fn expanded(instances: Vec<Instance>) -> Expanded {
    Expanded {
        environment: EnvironmentInfo {
            name: String::from("default"),
            protected: false,
        },
        variables: Default::default(),
        secrets: BTreeMap::new(),
        instances: instances
            .into_iter()
            .map(|instance| (instance.addr.clone(), instance))
            .collect(),
        outputs: BTreeMap::new(),
        moved: Vec::new(),
        imports: Vec::new(),
        provider_configs: BTreeMap::new(),
        keyed_dependencies: Default::default(),
        module_instances: Default::default(),
    }
}

type ResolveFn = dyn Fn(&BTreeMap<InstanceAddr, ObjectState>) -> Resolved + Send + Sync;

/// Resolves with a function of the applied objects; counts its calls.
struct FnResolver {
    resolve: Box<ResolveFn>,
    calls: Mutex<usize>,
}

impl FnResolver {
    fn new(
        resolve: impl Fn(&BTreeMap<InstanceAddr, ObjectState>) -> Resolved + Send + Sync + 'static,
    ) -> Arc<FnResolver> {
        Arc::new(FnResolver {
            resolve: Box::new(resolve),
            calls: Mutex::new(0),
        })
    }

    /// The configuration as expanded, and no outputs.
    fn fixed(expanded: &Expanded) -> Arc<FnResolver> {
        let instances = configured(expanded);
        FnResolver::new(move |_| Resolved {
            instances: instances.clone(),
            outputs: BTreeMap::new(),
        })
    }
}

/// Every instance of `expanded` with its configured attributes.
fn configured(expanded: &Expanded) -> BTreeMap<InstanceAddr, Attributes> {
    expanded
        .instances
        .iter()
        .map(|(addr, i)| (addr.clone(), i.attributes.clone()))
        .collect()
}

/// The id of the applied object `name`, unknown until it is applied.
fn applied_id(applied: &BTreeMap<InstanceAddr, ObjectState>, name: &str) -> Value {
    applied
        .get(&addr(name))
        .map(|a| Value::string(a.id.clone()))
        .unwrap_or(Value::UNKNOWN)
}

impl Resolver for FnResolver {
    fn resolve(
        &self,
        applied: &Arc<BTreeMap<InstanceAddr, ObjectState>>,
        _: &std::collections::BTreeSet<InstanceAddr>,
    ) -> Result<Resolved, Diagnostics> {
        *self.calls.lock().unwrap() += 1;
        Ok((self.resolve)(applied))
    }
}

/// Records in memory, counting group commits.
#[derive(Default)]
struct MemoryRecorder {
    commits: usize,
    records: Vec<JournalRecord>,
}

impl Recorder for MemoryRecorder {
    fn record(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.commits += 1;
        self.records.extend_from_slice(records);
        Ok(())
    }
}

struct World {
    host: Arc<MemoryHost>,
    provider: Arc<TestProvider>,
    providers: ProviderSet,
    key: Key,
}

impl World {
    fn new() -> World {
        Self::with_provider(Arc::new(TestProvider::new()), None)
    }

    fn with_provider(provider: Arc<TestProvider>, wrapper: Option<Arc<dyn Provider>>) -> World {
        let host = Arc::new(MemoryHost::new());
        let providers = ProviderSet::new().with(wrapper.unwrap_or_else(|| provider.clone()));
        World {
            host,
            provider,
            providers,
            key: Key::from_bytes([9; 32], KeySource::Env),
        }
    }

    async fn plan(&self, expanded: &Expanded, prior: Option<&State>) -> Plan {
        let request = plan::Request {
            stack: String::from("shop"),
            expanded,
            prior,
            key: &self.key,
            providers: &self.providers,
            refresh: false,
            targets: Vec::new(),
            replace: Vec::new(),
            allow_destroy: false,
            parallelism: 8,
            config_digest: String::new(),
        };
        let (plan, diagnostics) = plan::plan(&request).await;
        assert!(!diagnostics.has_errors(), "{diagnostics:?}");
        plan.unwrap()
    }

    fn request<'a>(
        &'a self,
        plan: &'a Plan,
        expanded: &'a Expanded,
        resolver: Arc<dyn Resolver>,
        parallelism: usize,
    ) -> Request<'a> {
        let (_sender, cancel) = tokio::sync::watch::channel(false);
        Request {
            plan,
            expanded,
            providers: &self.providers,
            key: &self.key,
            host: self.host.as_ref(),
            options: Options {
                parallelism,
                retry: RetryPolicy::default(),
            },
            resolver,
            generated_secrets: BTreeMap::new(),
            events: None,
            cancel,
        }
    }

    /// Plans `expanded` against `prior` and applies it.
    async fn converge(
        &self,
        expanded: &Expanded,
        prior: Option<State>,
    ) -> (Report, MemoryRecorder) {
        let mut recorder = MemoryRecorder::default();
        let resolver = FnResolver::fixed(expanded);
        let report = self
            .plan_and_apply(expanded, prior, resolver, &mut recorder)
            .await;
        (report, recorder)
    }

    /// Plans `expanded` against `prior` (none: an empty state) and applies
    /// it with `resolver`, journalling into `recorder`.
    async fn plan_and_apply(
        &self,
        expanded: &Expanded,
        prior: Option<State>,
        resolver: Arc<dyn Resolver>,
        recorder: &mut dyn Recorder,
    ) -> Report {
        let state = prior.unwrap_or_else(|| State::new(self.host.as_ref()));
        let plan = self.plan(expanded, Some(&state)).await;
        apply(self.request(&plan, expanded, resolver, 8), state, recorder).await
    }

    fn opened(&self, state: &State, name: &str) -> Attributes {
        let instance = state.instance(&addr(name)).expect("in state");
        let value = self.key.open(&instance.attributes, None).unwrap();
        value.as_map().cloned().unwrap()
    }
}

fn outcome<'r>(report: &'r Report, name: &str) -> &'r Outcome {
    &report
        .results
        .iter()
        .find(|r| r.addr == addr(name))
        .expect("a result")
        .outcome
}

fn call_named(provider: &TestProvider, op: Op, name: &str) -> crate::providers::test::Call {
    provider
        .calls_of(op)
        .into_iter()
        .find(|c| c.name.as_deref() == Some(name) || c.id.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {op:?} call on {name}"))
}

#[tokio::test(start_paused = true)]
async fn creates_run_after_their_dependencies() {
    let world = World::new();
    world
        .provider
        .set_latency(Op::Create, Duration::from_millis(10));
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::NULL, &["a"]),
        resource("c", Value::NULL, &["b"]),
        resource("d", Value::NULL, &[]),
    ]);
    let (report, _) = world.converge(&config, None).await;
    assert!(!report.failed(), "{:?}", report.results);
    let a = call_named(&world.provider, Op::Create, "a");
    let b = call_named(&world.provider, Op::Create, "b");
    let c = call_named(&world.provider, Op::Create, "c");
    let d = call_named(&world.provider, Op::Create, "d");
    assert!(b.started_at >= a.finished_at);
    assert!(c.started_at >= b.finished_at);
    assert_eq!(d.started_at, a.started_at, "independent ones run at once");
    assert_eq!(report.state.instance_count(), 4);
    // The state records resource-level dependencies and the configuration.
    let b_state = report.state.instance(&addr("b")).unwrap();
    assert_eq!(
        b_state.dependencies,
        vec![ResourceAddr::managed(TEST_RESOURCE, "a")]
    );
    let config = world.key.open(&b_state.config, None).unwrap();
    assert_eq!(config.as_map().unwrap()["name"], Value::string("b"));
    assert_eq!(world.opened(&report.state, "b")["id"], Value::string("b-1"));
}

#[tokio::test(start_paused = true)]
async fn deletes_run_in_reverse_dependency_order() {
    let world = World::new();
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::NULL, &["a"]),
        resource("c", Value::NULL, &["b"]),
    ]);
    let (report, _) = world.converge(&config, None).await;
    world
        .provider
        .set_latency(Op::Delete, Duration::from_millis(10));
    let (report, _) = world.converge(&expanded(vec![]), Some(report.state)).await;
    assert!(!report.failed(), "{:?}", report.results);
    assert_eq!(report.state.instance_count(), 0);
    let a = call_named(&world.provider, Op::Delete, "a-1");
    let b = call_named(&world.provider, Op::Delete, "b-1");
    let c = call_named(&world.provider, Op::Delete, "c-1");
    assert!(b.started_at >= c.finished_at);
    assert!(a.started_at >= b.finished_at);
    assert!(world.provider.world().is_empty());
}

#[tokio::test(start_paused = true)]
async fn parallel_width_is_the_smaller_of_graph_width_and_parallelism() {
    for (width, parallelism) in [(20, 4), (6, 64), (1, 8)] {
        let world = World::new();
        world
            .provider
            .set_latency(Op::Create, Duration::from_millis(100));
        let names: Vec<String> = (0..width).map(|i| format!("r{i:02}")).collect();
        let config = expanded(
            names
                .iter()
                .map(|n| resource(n, Value::NULL, &[]))
                .collect(),
        );
        let state = State::new(world.host.as_ref());
        let plan = world.plan(&config, Some(&state)).await;
        let mut recorder = MemoryRecorder::default();
        let request = world.request(&plan, &config, FnResolver::fixed(&config), parallelism);
        let report = apply(request, state, &mut recorder).await;
        assert!(!report.failed());
        assert_eq!(
            world.provider.max_concurrency_observed(),
            width.min(parallelism),
            "width {width}, parallelism {parallelism}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_only_its_dependents_and_keeps_every_success() {
    let world = World::new();
    world.provider.fail_matching(
        Op::Create,
        "a",
        ProviderError::permanent("quota exceeded").at(["value"]),
    );
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::NULL, &["a"]),
        resource("c", Value::NULL, &["b"]),
        resource("d", Value::NULL, &[]),
    ]);
    let (report, _) = world.converge(&config, None).await;
    assert!(report.failed());
    let Outcome::Failed(diagnostic) = outcome(&report, "a") else {
        panic!("a should fail: {:?}", report.results);
    };
    assert_eq!(diagnostic.code, Code::ApplyProviderError);
    assert_eq!(diagnostic.primary.as_ref().unwrap().span, span(20));
    assert!(diagnostic.help.as_ref().unwrap().contains("quota exceeded"));
    assert_eq!(
        outcome(&report, "b"),
        &Outcome::Skipped { because: addr("a") }
    );
    assert_eq!(
        outcome(&report, "c"),
        &Outcome::Skipped { because: addr("a") }
    );
    assert_eq!(outcome(&report, "d"), &Outcome::Succeeded);
    assert!(report.state.instance(&addr("d")).is_some());
    assert!(report.state.instance(&addr("a")).is_none());
    assert!(!report.outputs_written);
    assert!(
        world.provider.calls_of(Op::Create).len() == 2,
        "a and d only"
    );

    // Re-running converges.
    world.provider.clear_script();
    let (again, _) = world.converge(&config, Some(report.state)).await;
    assert!(!again.failed(), "{:?}", again.results);
    assert_eq!(again.results.len(), 3, "only a, b and c are left");
    assert_eq!(again.state.instance_count(), 4);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_honouring_retry_after() {
    let world = World::new();
    world.provider.fail_matching_times(
        Op::Create,
        "a",
        ProviderError::transient("HTTP 429 too many requests").retry_after(Duration::from_secs(7)),
        2,
    );
    let config = expanded(vec![resource("a", Value::NULL, &[])]);
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut request = world.request(&plan, &config, FnResolver::fixed(&config), 4);
    request.events = Some(sender);
    let started = tokio::time::Instant::now();
    let report = apply(request, state, &mut MemoryRecorder::default()).await;
    assert_eq!(outcome(&report, "a"), &Outcome::Succeeded);
    assert_eq!(report.results[0].attempts, 3);
    assert!(started.elapsed() >= Duration::from_secs(14));
    let mut retries = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        if let Event::Retrying {
            attempt,
            wait,
            message,
            ..
        } = event
        {
            assert!(wait >= Duration::from_secs(7));
            assert!(message.contains("429"));
            retries.push(attempt);
        }
    }
    assert_eq!(retries, vec![1, 2], "every retry is shown");
    let creates = world.provider.calls_of(Op::Create);
    assert_eq!(creates.len(), 3);
    assert!(creates[1].started_at >= creates[0].finished_at + Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn transient_errors_fail_once_the_attempts_run_out() {
    let world = World::new();
    world.provider.fail_matching(
        Op::Create,
        "a",
        ProviderError::transient("HTTP 503 service unavailable"),
    );
    let config = expanded(vec![resource("a", Value::NULL, &[])]);
    let (report, _) = world.converge(&config, None).await;
    let Outcome::Failed(diagnostic) = outcome(&report, "a") else {
        panic!("a should fail");
    };
    assert_eq!(report.results[0].attempts, 5);
    assert!(diagnostic.help.as_ref().unwrap().contains("after 5 tries"));
    assert_eq!(world.provider.calls_of(Op::Create).len(), 5);
    // Permanent errors are not retried.
    let world = World::new();
    world
        .provider
        .fail_matching(Op::Create, "a", ProviderError::permanent("denied"));
    let (report, _) = world.converge(&config, None).await;
    assert_eq!(report.results[0].attempts, 1);
}

#[test]
fn backoff_is_exponential_with_full_jitter_and_capped() {
    let policy = RetryPolicy {
        attempts: 10,
        base: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    let mut rng = retry::Rng::new(42);
    for attempt in 1..10 {
        let ceiling = Duration::from_millis(100 * (1 << (attempt - 1))).min(policy.max);
        for _ in 0..50 {
            assert!(policy.backoff(attempt, None, &mut rng) <= ceiling);
        }
    }
    let hinted = policy.backoff(1, Some(Duration::from_secs(9)), &mut rng);
    assert_eq!(hinted, Duration::from_secs(9));
}

/// A prior state with `a` (and `b` depending on it), then `a` renamed (force-new).
async fn replace_world(create_before_destroy: bool) -> (World, Report) {
    let world = World::new();
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::number(1), &["a"]),
    ]);
    let (first, _) = world.converge(&config, None).await;
    world.provider.reset_calls();
    world
        .provider
        .set_latency(Op::Create, Duration::from_millis(10));
    world
        .provider
        .set_latency(Op::Delete, Duration::from_millis(10));
    world
        .provider
        .set_latency(Op::Update, Duration::from_millis(10));
    let mut a = resource("a", Value::NULL, &[]);
    a.attributes
        .insert("name".to_owned(), Value::string("a-renamed"));
    a.lifecycle.create_before_destroy = create_before_destroy;
    let config = expanded(vec![a, resource("b", Value::number(2), &["a"])]);
    let plan = world.plan(&config, Some(&first.state)).await;
    assert!(matches!(
        plan.changes
            .iter()
            .find(|c| c.addr == addr("a"))
            .unwrap()
            .action,
        Action::Replace { .. }
    ));
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 8);
    let report = apply(request, first.state, &mut MemoryRecorder::default()).await;
    assert!(!report.failed(), "{:?}", report.results);
    (world, report)
}

#[tokio::test(start_paused = true)]
async fn create_before_destroy_creates_updates_dependents_then_deletes() {
    let (world, report) = replace_world(true).await;
    let create = call_named(&world.provider, Op::Create, "a-renamed");
    let update = call_named(&world.provider, Op::Update, "b");
    let delete = call_named(&world.provider, Op::Delete, "a-1");
    assert!(update.started_at >= create.finished_at);
    assert!(delete.started_at >= update.finished_at);
    assert_eq!(
        world.opened(&report.state, "a")["id"],
        Value::string("a-renamed-1")
    );
    assert_eq!(world.provider.world().len(), 2, "the old object is gone");
}

#[tokio::test(start_paused = true)]
async fn replacement_destroys_then_creates_by_default() {
    let (world, report) = replace_world(false).await;
    let delete = call_named(&world.provider, Op::Delete, "a-1");
    let create = call_named(&world.provider, Op::Create, "a-renamed");
    let update = call_named(&world.provider, Op::Update, "b");
    assert!(create.started_at >= delete.finished_at);
    assert!(update.started_at >= create.finished_at);
    assert_eq!(
        world.opened(&report.state, "a")["id"],
        Value::string("a-renamed-1")
    );
    assert_eq!(world.provider.world().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn unknown_values_are_filled_from_what_they_depend_on() {
    let world = World::new();
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::UNKNOWN, &["a"]),
        resource("c", Value::UNKNOWN, &["a"]),
    ]);
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let base = config.clone();
    let resolver = FnResolver::new(move |applied| {
        let mut instances = configured(&base);
        let a_id = applied_id(applied, "a");
        for name in ["b", "c"] {
            instances
                .get_mut(&addr(name))
                .unwrap()
                .insert("value".to_owned(), a_id.clone());
        }
        let mut outputs = BTreeMap::new();
        outputs.insert(String::from("a_id"), (a_id.clone(), false));
        outputs.insert(
            String::from("token"),
            (Value::string(CANARY).with_secret(true), true),
        );
        Resolved { instances, outputs }
    });
    let request = world.request(&plan, &config, resolver.clone(), 8);
    let report = apply(request, state, &mut MemoryRecorder::default()).await;
    assert!(!report.failed(), "{:?}", report.results);
    let b = world.opened(&report.state, "b");
    assert_eq!(b["value"], Value::string("a-1"));
    assert_eq!(
        world.opened(&report.state, "c")["value"],
        Value::string("a-1")
    );
    // b and c became ready together: one resolve for both, one for outputs.
    assert_eq!(*resolver.calls.lock().unwrap(), 2);
    assert!(report.outputs_written);
    let output = &report.state.outputs["a_id"];
    assert_eq!(
        world.key.open(&output.value, None).unwrap(),
        Value::string("a-1")
    );
    // The sensitive output is sealed, never in plaintext.
    let token = &report.state.outputs["token"];
    assert!(token.sensitive);
    assert!(!token.value.json.to_string().contains(CANARY));
}

#[tokio::test]
async fn objects_applied_while_a_resolve_runs_reach_the_next_resolve() {
    // Four chains of four: links finish while a resolve for others runs.
    let world = World::new();
    let name = |chain: usize, link: usize| format!("c{chain}l{link}");
    let mut instances = Vec::new();
    for chain in 0..4 {
        instances.push(resource(&name(chain, 0), Value::NULL, &[]));
        for link in 1..4 {
            let before = name(chain, link - 1);
            instances.push(resource(&name(chain, link), Value::UNKNOWN, &[&before]));
        }
    }
    let config = expanded(instances);
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let base = config.clone();
    let seen: Arc<Mutex<Vec<std::collections::BTreeSet<InstanceAddr>>>> = Arc::default();
    let record = seen.clone();
    let resolver = FnResolver::new(move |applied| {
        record
            .lock()
            .unwrap()
            .push(applied.keys().cloned().collect());
        // Slow enough for other links to finish meanwhile.
        std::thread::sleep(Duration::from_millis(5));
        let mut instances = BTreeMap::new();
        for (addr, instance) in &base.instances {
            let mut attributes = instance.attributes.clone();
            if let Some(upstream) = instance.dependencies.first() {
                let id = applied
                    .get(&upstream.instance(InstanceKey::None))
                    .map_or(Value::UNKNOWN, |object| Value::string(object.id.clone()));
                attributes.insert("value".to_owned(), id);
            }
            instances.insert(addr.clone(), attributes);
        }
        Resolved {
            instances,
            outputs: BTreeMap::new(),
        }
    });
    let request = world.request(&plan, &config, resolver.clone(), 8);
    let report = apply(request, state, &mut MemoryRecorder::default()).await;
    assert!(!report.failed(), "{:?}", report.results);
    for chain in 0..4 {
        for link in 1..4 {
            assert_eq!(
                world.opened(&report.state, &name(chain, link))["value"],
                world.opened(&report.state, &name(chain, link - 1))["id"]
            );
        }
    }
    // Each resolve sees everything the one before it saw; the last one (the
    // outputs) sees every object.
    let seen = seen.lock().unwrap();
    for pair in seen.windows(2) {
        assert!(pair[0].is_subset(&pair[1]), "{pair:?}");
    }
    assert_eq!(seen.last().map(std::collections::BTreeSet::len), Some(16));
}

#[tokio::test(start_paused = true)]
async fn an_update_that_becomes_a_replace_once_resolved_fails() {
    let world = World::new();
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::number(1), &["a"]),
    ]);
    let (first, _) = world.converge(&config, None).await;
    // b's name (force-new) is unknown now, its plan an update (value changes).
    let mut b = resource("b", Value::number(2), &["a"]);
    b.attributes.insert("name".to_owned(), Value::string("b"));
    let config = expanded(vec![resource("a", Value::number(5), &[]), b]);
    let mut plan = world.plan(&config, Some(&first.state)).await;
    let mut config_unknown = config.clone();
    config_unknown
        .instances
        .get_mut(&addr("b"))
        .unwrap()
        .attributes
        .insert("value".to_owned(), Value::UNKNOWN);
    for change in &mut plan.changes {
        if change.addr == addr("b") {
            assert_eq!(change.action, Action::Update);
        }
    }
    let resolver = FnResolver::new(|_| {
        let mut instances = BTreeMap::new();
        let mut b = Attributes::new();
        b.insert("name".to_owned(), Value::string("b-other"));
        b.insert("value".to_owned(), Value::number(2));
        instances.insert(addr("b"), b);
        let mut a = Attributes::new();
        a.insert("name".to_owned(), Value::string("a"));
        a.insert("value".to_owned(), Value::number(5));
        instances.insert(addr("a"), a);
        Resolved {
            instances,
            outputs: BTreeMap::new(),
        }
    });
    let request = world.request(&plan, &config_unknown, resolver, 8);
    let report = apply(request, first.state, &mut MemoryRecorder::default()).await;
    let Outcome::Failed(diagnostic) = outcome(&report, "b") else {
        panic!("b should fail: {:?}", report.results);
    };
    assert_eq!(diagnostic.code, Code::ApplyInconsistentFinalPlan);
    assert_eq!(outcome(&report, "a"), &Outcome::Succeeded);
    assert!(world.provider.calls_of(Op::Update).len() == 1, "only a");
}

/// The test provider, with `find` looking objects up by name.
struct Finding(Arc<TestProvider>);

#[async_trait]
impl Provider for Finding {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn resource_schemas(&self) -> &[ResourceSchema] {
        self.0.resource_schemas()
    }
    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        self.0.plan_change(resource_type, prior, proposed).await
    }
    async fn create(
        &self,
        op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        if planned.get("name").and_then(Value::as_str) == Some("garbage") {
            return Ok(ObjectState {
                id: String::new(),
                attributes: Attributes::new(),
            });
        }
        self.0.create(op, resource_type, planned).await
    }
    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        self.0.read(resource_type, prior).await
    }
    async fn update(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        // `deployed` is updated as a deploy: a checkpoint and a phase first.
        if planned.get("name").and_then(Value::as_str) == Some("deployed") {
            op.checkpoint(serde_json::json!({"step": "switch"})).await?;
            op.phase("switch router");
        }
        self.0.update(op, resource_type, prior, planned).await
    }
    async fn delete(
        &self,
        op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        self.0.delete(op, resource_type, prior).await
    }
    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        self.0.import(resource_type, id).await
    }
    async fn find(
        &self,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<Option<ObjectState>, ProviderError> {
        let name = planned.get("name").and_then(Value::as_str);
        let schema = TestProvider::schema();
        Ok(self
            .0
            .world()
            .into_iter()
            .find(|((ty, _), attributes)| {
                ty == resource_type && attributes.get("name").and_then(Value::as_str) == name
            })
            .map(|((_, id), attributes)| ObjectState {
                id,
                attributes: conform_to_schema(&schema, &attributes),
            }))
    }
}

fn finding_world() -> World {
    let provider = Arc::new(TestProvider::new());
    World::with_provider(provider.clone(), Some(Arc::new(Finding(provider))))
}

fn with_pending(world: &World, name: &str) -> State {
    let mut state = State::new(world.host.as_ref());
    let mut planned = Attributes::new();
    planned.insert("name".to_owned(), Value::string(name));
    state.pending.push(PendingCall::new(
        addr(name),
        TEST_RESOURCE.to_owned(),
        ProviderAddr::named("test"),
        world
            .key
            .seal(world.host.as_ref(), &Value::map(planned))
            .unwrap(),
        CallKind::Create,
    ));
    state
}

#[tokio::test(start_paused = true)]
async fn a_pending_create_whose_object_exists_is_recorded_not_created_again() {
    let world = finding_world();
    // The interrupted run made the object, then died before recording it.
    let mut attributes = Attributes::new();
    attributes.insert("name".to_owned(), Value::string("a"));
    attributes.insert("value".to_owned(), Value::NULL);
    attributes.insert("computed".to_owned(), Value::string("computed-a-1"));
    world.provider.put_object(TEST_RESOURCE, "a-1", attributes);
    let state = with_pending(&world, "a");
    let config = expanded(vec![resource("a", Value::NULL, &[])]);
    let (report, _) = world.converge(&config, Some(state)).await;
    assert!(!report.failed(), "{:?}", report.results);
    assert_eq!(report.results[0].action, ActionKind::Reconciling);
    assert!(
        world.provider.calls_of(Op::Create).is_empty(),
        "no duplicate"
    );
    assert_eq!(world.provider.world().len(), 1);
    assert_eq!(world.opened(&report.state, "a")["id"], Value::string("a-1"));
    assert!(report.state.pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_pending_create_whose_object_is_missing_is_created() {
    let world = finding_world();
    let state = with_pending(&world, "a");
    let config = expanded(vec![resource("a", Value::NULL, &[])]);
    let (report, recorder) = world.converge(&config, Some(state)).await;
    assert!(!report.failed(), "{:?}", report.results);
    assert_eq!(report.results[0].action, ActionKind::Creating);
    assert_eq!(world.provider.calls_of(Op::Create).len(), 1);
    assert!(report.state.pending.is_empty());
    // The pending record was durable before the create, the result after.
    let kinds: Vec<&str> = recorder
        .records
        .iter()
        .map(|r| match r {
            JournalRecord::Pending(_) => "pending",
            JournalRecord::Set { .. } => "set",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["pending", "set"]);
    assert_eq!(recorder.commits, 2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_provider_fails_only_its_action() {
    let world = World::new();
    world
        .provider
        .panic_on(Op::Create, Trigger::Matching(String::from("a")));
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::NULL, &["a"]),
        resource("c", Value::NULL, &[]),
    ]);
    let (report, _) = world.converge(&config, None).await;
    let Outcome::Failed(diagnostic) = outcome(&report, "a") else {
        panic!("a should fail");
    };
    assert_eq!(diagnostic.code, Code::ApplyProviderPanicked);
    assert!(diagnostic.help.as_ref().unwrap().contains("crashed"));
    assert_eq!(
        outcome(&report, "b"),
        &Outcome::Skipped { because: addr("a") }
    );
    assert_eq!(outcome(&report, "c"), &Outcome::Succeeded);
    assert_eq!(world.provider.panics(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_garbage_result_fails_with_invalid_result_and_records_nothing() {
    let world = finding_world();
    let config = expanded(vec![
        resource("garbage", Value::NULL, &[]),
        resource("fine", Value::NULL, &[]),
    ]);
    let (report, _) = world.converge(&config, None).await;
    let Outcome::Failed(diagnostic) = outcome(&report, "garbage") else {
        panic!("garbage should fail: {:?}", report.results);
    };
    assert_eq!(diagnostic.code, Code::ApplyInvalidResult);
    assert!(diagnostic.help.as_ref().unwrap().contains("empty id"));
    assert!(report.state.instance(&addr("garbage")).is_none());
    assert_eq!(outcome(&report, "fine"), &Outcome::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn cancelling_finishes_what_is_in_flight_and_starts_nothing_else() {
    let world = World::new();
    world
        .provider
        .set_latency(Op::Create, Duration::from_secs(1));
    let names: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    let config = expanded(
        names
            .iter()
            .map(|n| resource(n, Value::NULL, &[]))
            .collect(),
    );
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let (sender, cancel) = tokio::sync::watch::channel(false);
    let mut request = world.request(&plan, &config, FnResolver::fixed(&config), 2);
    request.cancel = cancel;
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sender.send(true).unwrap();
        // Keep the sender alive until the apply is over.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let report = apply(request, state, &mut MemoryRecorder::default()).await;
    stopper.abort();
    assert!(report.cancelled);
    assert_eq!(report.count(|o| *o == Outcome::Succeeded), 2);
    assert_eq!(report.count(|o| *o == Outcome::NotStarted), 4);
    assert_eq!(report.state.instance_count(), 2, "in-flight work is saved");
    assert_eq!(world.provider.calls_of(Op::Create).len(), 2);
    assert!(!report.outputs_written);
}

#[tokio::test]
async fn wide_stacks_are_journalled_in_group_commits() {
    let world = World::new();
    let names: Vec<String> = (0..300).map(|i| format!("r{i:03}")).collect();
    let config = expanded(
        names
            .iter()
            .map(|n| resource(n, Value::NULL, &[]))
            .collect(),
    );
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let mut recorder = MemoryRecorder::default();
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 64);
    let report = apply(request, state, &mut recorder).await;
    assert!(!report.failed());
    assert_eq!(recorder.records.len(), 600, "a pending and a set each");
    // One commit for every pending record, then about one per 64 creates.
    assert!(
        recorder.commits <= 12,
        "{} commits for 600 records",
        recorder.commits
    );
}

/// Records in memory and notes, per commit, whether it waited for the disk
/// and how many creates had started before it.
#[derive(Default)]
struct WatchingRecorder {
    /// The providers whose creates are counted.
    providers: Vec<Arc<TestProvider>>,
    /// Per commit: its records, whether it was synced, the creates started before it.
    commits: Vec<(Vec<JournalRecord>, bool, usize)>,
}

impl WatchingRecorder {
    fn note(&mut self, records: &[JournalRecord], synced: bool) {
        let started = self
            .providers
            .iter()
            .map(|provider| provider.calls_of(Op::Create).len())
            .sum();
        self.commits.push((records.to_vec(), synced, started));
    }

    /// The commit holding `name`'s pending create, and whether it was synced.
    fn pending_commit(&self, name: &str) -> (usize, bool) {
        let at = self
            .commits
            .iter()
            .position(|(records, _, _)| {
                records.iter().any(|r| {
                    matches!(r, JournalRecord::Pending(pending) if pending.instance.resource.name == name)
                })
            })
            .unwrap_or_else(|| panic!("no pending create of {name}"));
        (at, self.commits[at].1)
    }
}

impl Recorder for WatchingRecorder {
    fn record(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.note(records, true);
        Ok(())
    }

    fn record_unsynced(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.note(records, false);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_costs_one_group_commit_per_link_and_starts_nothing_early() {
    // Each link's value is the previous link's id, known once it is applied:
    // its result and the next link's pending create share one commit.
    const LINKS: usize = 30;
    let world = World::new();
    let names: Vec<String> = (0..LINKS).map(|i| format!("r{i:03}")).collect();
    let links: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), false)).collect();
    let (config, resolver) = chain_of(&links);
    let mut recorder = WatchingRecorder {
        providers: vec![world.provider.clone()],
        commits: Vec::new(),
    };
    let report = world
        .plan_and_apply(&config, None, resolver, &mut recorder)
        .await;
    assert!(!report.failed(), "{:?}", report.all_diagnostics());
    assert_eq!(report.state.instance_count(), LINKS);
    // One commit per link and one for the last result (two per link before).
    assert!(
        recorder.commits.len() <= LINKS + 1,
        "{} commits for a chain of {LINKS}",
        recorder.commits.len()
    );
    // Nothing started early: link i's create started only after the commit
    // that held its pending create, which also held link i - 1's result.
    for (i, name) in names.iter().enumerate() {
        let (commit, _) = recorder.pending_commit(name);
        let (records, _, started_before) = &recorder.commits[commit];
        assert!(
            *started_before <= i,
            "link {i} started before its pending create was durable"
        );
        if i > 0 {
            let previous_result = recorder.commits[..=commit].iter().any(|(records, _, _)| {
                records.iter().any(|r| {
                    matches!(r, JournalRecord::Set { resource, .. } if *resource == addr(&names[i - 1]).resource)
                })
            });
            assert!(
                previous_result,
                "link {i} was pending before link {} was recorded",
                i - 1
            );
            assert!(!records.is_empty());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_on_a_multi_thread_runtime_with_commits_off_the_worker() {
    let world = World::new();
    let names: Vec<String> = (0..200).map(|i| format!("r{i:03}")).collect();
    let config = expanded(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let previous = (i % 10 != 0).then(|| names[i - 1].as_str());
                resource(n, Value::NULL, previous.as_slice())
            })
            .collect(),
    );
    let (report, recorder) = world.converge(&config, None).await;
    assert!(!report.failed(), "{:?}", report.all_diagnostics());
    assert_eq!(report.state.instance_count(), 200);
    assert_eq!(recorder.records.len(), 400);
    for call in world.provider.calls_of(Op::Create) {
        let name = call.name.unwrap();
        let index: usize = name[1..].parse().unwrap();
        if index % 10 != 0 {
            let previous = call_named(&world.provider, Op::Create, &names[index - 1]);
            assert!(call.started_at >= previous.finished_at);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_half_written_journal_recovers_every_complete_record() {
    let world = World::new();
    let config = expanded(vec![
        resource("a", Value::string(CANARY).with_secret(true), &[]),
        resource("b", Value::NULL, &["a"]),
        resource("c", Value::NULL, &["b"]),
    ]);
    let base = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&base)).await;
    let path = Path::new("/stack/.infra/journal");
    let mut journal = Journal::new(world.host.as_ref(), path);
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 8);
    let report = apply(request, base.clone(), &mut journal).await;
    assert!(!report.failed());

    // Folding the whole journal into the base state gives the reported state.
    let read = journal.read::<JournalRecord>().unwrap();
    assert!(!read.torn_tail);
    let mut recovered = base.clone();
    for record in &read.records {
        recovered.apply_record(record);
    }
    assert_eq!(recovered.resources, report.state.resources);
    assert!(recovered.pending.is_empty());
    let bytes = world.host.read(path).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains(CANARY));

    // Cut in the middle of the last record (c's set): everything before it is kept.
    let cut = bytes.len() - 40;
    world.host.write_atomic(path, &bytes[..cut]).unwrap();
    let torn = journal.read::<JournalRecord>().unwrap();
    assert!(torn.torn_tail);
    assert_eq!(torn.records.len(), read.records.len() - 1);
    let mut recovered = base.clone();
    for record in &torn.records {
        recovered.apply_record(record);
    }
    assert!(recovered.instance(&addr("a")).is_some());
    assert!(recovered.instance(&addr("b")).is_some());
    assert!(recovered.instance(&addr("c")).is_none());
    assert_eq!(recovered.pending.len(), 1, "c's create is pending");

    // The next run reconciles it (find cannot tell here, so it creates) and
    // the journal takes new records after the torn line.
    let mut next = Journal::new(world.host.as_ref(), path);
    let plan = world.plan(&config, Some(&recovered)).await;
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 8);
    let report = apply(request, recovered.clone(), &mut next).await;
    assert!(!report.failed(), "{:?}", report.results);
    assert_eq!(report.state.instance_count(), 3);
    assert!(report.state.pending.is_empty());
    let reread = next.read::<JournalRecord>().unwrap();
    assert!(!reread.torn_tail);
    assert_eq!(reread.records.len(), torn.records.len() + 2);
}

#[tokio::test(start_paused = true)]
async fn moves_rename_the_state_entry_without_provider_calls() {
    let world = World::new();
    let config = expanded(vec![resource("a", Value::NULL, &[])]);
    let (first, _) = world.converge(&config, None).await;
    let base = world.plan(&config, Some(&first.state)).await;
    world.provider.reset_calls();
    let before = world.opened(&first.state, "a");
    let plan = Plan {
        changes: vec![Change {
            addr: addr("renamed"),
            resource_type: TEST_RESOURCE.to_owned(),
            provider: ProviderAddr::named("test"),
            action: Action::NoOp,
            before: Some(before.clone()),
            after: before,
            replace_paths: Vec::new(),
            reason: None,
            import_id: None,
            moved_from: Some(Box::new(addr("a"))),
            deploy: None,
        }],
        ..base
    };
    let config = expanded(vec![]);
    let mut recorder = MemoryRecorder::default();
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 8);
    let report = apply(request, first.state, &mut recorder).await;
    assert!(!report.failed(), "{:?}", report.results);
    assert!(report.state.instance(&addr("a")).is_none());
    assert!(report.state.instance(&addr("renamed")).is_some());
    assert_eq!(report.results.len(), 1);
    assert_eq!(report.results[0].action, ActionKind::Moving);
    assert_eq!(report.results[0].outcome, Outcome::Succeeded);
    assert!(world.provider.calls().is_empty());
    assert!(matches!(recorder.records[0], JournalRecord::Move { .. }));
}

#[tokio::test(start_paused = true)]
async fn imports_bring_an_existing_object_under_management() {
    let world = World::new();
    let mut attributes = Attributes::new();
    attributes.insert("name".to_owned(), Value::string("a"));
    world
        .provider
        .put_object(TEST_RESOURCE, "existing-7", attributes);
    let config = expanded(vec![resource("a", Value::NULL, &[])]);
    let mut plan = world.plan(&config, None).await;
    for change in &mut plan.changes {
        change.action = Action::NoOp;
        change.import_id = Some(String::from("existing-7"));
    }
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 8);
    let state = State::new(world.host.as_ref());
    let report = apply(request, state, &mut MemoryRecorder::default()).await;
    assert!(!report.failed(), "{:?}", report.results);
    assert_eq!(report.results[0].action, ActionKind::Importing);
    assert_eq!(
        world.opened(&report.state, "a")["id"],
        Value::string("existing-7")
    );
    assert!(world.provider.calls_of(Op::Create).is_empty());
}

#[tokio::test(start_paused = true)]
async fn generated_secrets_are_journalled_sealed_first() {
    let world = World::new();
    let config = expanded(vec![resource("a", Value::NULL, &[])]);
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let mut request = world.request(&plan, &config, FnResolver::fixed(&config), 8);
    request
        .generated_secrets
        .insert(String::from("secret.db"), Value::string(CANARY));
    let mut recorder = MemoryRecorder::default();
    let report = apply(request, state, &mut recorder).await;
    assert!(!report.failed());
    assert!(matches!(recorder.records[0], JournalRecord::Secret { .. }));
    let sealed = &report.state.secrets["secret.db"];
    assert!(!sealed.json.to_string().contains(CANARY));
    let opened = world.key.open(sealed, None).unwrap();
    assert!(opened.is_secret());
    assert_eq!(opened.as_str(), Some(CANARY));
}

#[test]
fn the_apply_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let world = World::new();
    let config = expanded(vec![]);
    let plan = Plan {
        stack: String::new(),
        environment: config.environment.clone(),
        prior: None,
        changes: Vec::new(),
        drift: Vec::new(),
        output_changes: Vec::new(),
        config_digest: String::new(),
        impact: Default::default(),
        targets: Vec::new(),
        policy: None,
    };
    let mut recorder = MemoryRecorder::default();
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 1);
    let future = apply(request, State::new(world.host.as_ref()), &mut recorder);
    is_send(&future);
}

#[tokio::test(start_paused = true)]
async fn replacements_that_wait_on_each_other_fail_with_order_cycle() {
    let world = World::new();
    let config = expanded(vec![
        resource("x", Value::NULL, &[]),
        resource("z", Value::NULL, &["x"]),
    ]);
    let (first, _) = world.converge(&config, None).await;
    // x is destroyed then created; z (which depends on it) is created first.
    let mut x = resource("x", Value::NULL, &[]);
    x.attributes.insert("name".to_owned(), Value::string("x2"));
    let mut z = resource("z", Value::NULL, &["x"]);
    z.attributes.insert("name".to_owned(), Value::string("z2"));
    z.lifecycle.create_before_destroy = true;
    let config = expanded(vec![x, z]);
    let mut plan = world.plan(&config, Some(&first.state)).await;
    // The planner passes create_before_destroy on to what z depends on (as
    // Terraform does), which avoids the cycle; a plan that did not (an older
    // plan file, another planner) must still be refused cleanly.
    for change in &mut plan.changes {
        if change.addr == addr("x") {
            change.action = Action::Replace {
                create_before_destroy: false,
            };
        }
    }
    world.provider.reset_calls();
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 8);
    let report = apply(request, first.state.clone(), &mut MemoryRecorder::default()).await;
    let Outcome::Failed(diagnostic) = outcome(&report, "x") else {
        panic!("x should fail: {:?}", report.results);
    };
    assert_eq!(diagnostic.code, Code::ApplyOrderCycle);
    assert_eq!(
        outcome(&report, "z"),
        &Outcome::Skipped { because: addr("x") }
    );
    assert!(world.provider.calls().is_empty(), "nothing was touched");
    assert_eq!(report.state.resources, first.state.resources);
}

/// A journal whose disk is full.
struct FullDisk;

impl Recorder for FullDisk {
    fn record(&mut self, _: &[JournalRecord]) -> Result<(), StateError> {
        Err(StateError::new(
            Code::StateIo,
            Some(Path::new("/stack/.infra/journal")),
            "appending to the journal failed: no space left on device",
        ))
    }
}

#[tokio::test(start_paused = true)]
async fn a_journal_that_cannot_be_written_stops_the_apply() {
    let world = World::new();
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::NULL, &["a"]),
    ]);
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let request = world.request(&plan, &config, FnResolver::fixed(&config), 8);
    let report = apply(request, state, &mut FullDisk).await;
    assert!(report.cancelled);
    assert!(report.failed());
    assert_eq!(
        report.diagnostics.iter().next().unwrap().code,
        Code::StateIo
    );
    // The pending record of a's create was never durable, so nothing started.
    assert!(world.provider.calls_of(Op::Create).is_empty());
    assert_eq!(report.count(|o| *o == Outcome::NotStarted), 2);
}

#[tokio::test(start_paused = true)]
async fn a_resolver_error_fails_the_waiting_changes_with_its_diagnostics() {
    struct Broken;
    impl Resolver for Broken {
        fn resolve(
            &self,
            _: &Arc<BTreeMap<InstanceAddr, ObjectState>>,
            _: &std::collections::BTreeSet<InstanceAddr>,
        ) -> Result<Resolved, Diagnostics> {
            let mut diagnostics = Diagnostics::new();
            diagnostics.push(Diagnostic::error(Code::Internal, span(99), "broken"));
            Err(diagnostics)
        }
    }
    let world = World::new();
    let config = expanded(vec![
        resource("a", Value::NULL, &[]),
        resource("b", Value::UNKNOWN, &["a"]),
    ]);
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let request = world.request(&plan, &config, Arc::new(Broken), 8);
    let report = apply(request, state, &mut MemoryRecorder::default()).await;
    assert_eq!(outcome(&report, "a"), &Outcome::Succeeded);
    let Outcome::Failed(diagnostic) = outcome(&report, "b") else {
        panic!("b should fail");
    };
    assert_eq!(diagnostic.code, Code::ApplyUnresolved);
    assert_eq!(report.diagnostics.len(), 1);
    assert!(report.state.instance(&addr("a")).is_some());
}

#[test]
fn pending_creates_and_secrets_survive_the_state_file() {
    let host = MemoryHost::new();
    let key = Key::from_bytes([1; 32], KeySource::Env);
    let mut state = State::new(&host);
    let file = crate::state::StateFile::new(&state, 1, 0, "apply", "k");
    let json = String::from_utf8(file.to_bytes()).unwrap();
    assert!(!json.contains("pending") && !json.contains("secrets"));
    state.apply_record(&JournalRecord::Pending(PendingCall::new(
        addr("a"),
        TEST_RESOURCE.to_owned(),
        ProviderAddr::named("test"),
        key.seal(&host, &Value::string(CANARY).with_secret(true))
            .unwrap(),
        CallKind::Create,
    )));
    state.apply_record(&JournalRecord::Secret {
        name: String::from("secret.db"),
        value: key
            .seal(&host, &Value::string(CANARY).with_secret(true))
            .unwrap(),
    });
    let file = crate::state::StateFile::new(&state, 2, 0, "apply", "k");
    let bytes = file.to_bytes();
    assert!(!String::from_utf8_lossy(&bytes).contains(CANARY));
    let parsed = crate::state::StateFile::parse(&bytes, Path::new("s.json")).unwrap();
    assert_eq!(parsed.to_state().pending, state.pending);
    assert_eq!(parsed.to_state().secrets, state.secrets);
    assert_eq!(parsed.sealed_values().count(), 2);
    // A set of the same instance clears its pending create.
    state.apply_record(&JournalRecord::Set {
        resource: addr("a").resource,
        provider: ProviderAddr::named("test"),
        instance: crate::state::InstanceState {
            key: InstanceKey::None,
            attributes: Default::default(),
            dependencies: Vec::new(),
            config: Default::default(),
        },
    });
    assert!(state.pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_delete_of_a_replaced_object_names_the_old_object() {
    let world = World::new();
    let config = expanded(vec![resource("a", Value::NULL, &[])]);
    let (first, _) = world.converge(&config, None).await;
    world
        .provider
        .fail_matching(Op::Delete, "a-1", ProviderError::permanent("locked"));
    let mut a = resource("a", Value::NULL, &[]);
    a.attributes.insert("name".to_owned(), Value::string("b"));
    a.lifecycle.create_before_destroy = true;
    let config = expanded(vec![a]);
    let (report, _) = world.converge(&config, Some(first.state)).await;
    let Outcome::Failed(diagnostic) = outcome(&report, "a") else {
        panic!("a should fail: {:?}", report.results);
    };
    let help = diagnostic.help.as_ref().unwrap();
    assert!(help.contains("locked") && help.contains("`a-1`"), "{help}");
    // The new object is recorded.
    assert_eq!(world.opened(&report.state, "a")["id"], Value::string("b-1"));
}

#[tokio::test(start_paused = true)]
async fn updates_and_deletes_are_journalled_as_started_and_checkpoints_before_their_step() {
    let world = finding_world();
    let config = expanded(vec![
        resource("deployed", Value::string("v1"), &[]),
        resource("gone", Value::NULL, &[]),
    ]);
    let (first, _) = world.converge(&config, None).await;
    assert!(!first.failed(), "{:?}", first.results);
    let next = expanded(vec![resource("deployed", Value::string("v2"), &[])]);
    let (report, recorder) = world.converge(&next, Some(first.state)).await;
    assert!(!report.failed(), "{:?}", report.results);
    let of = |name: &str| -> Vec<String> {
        recorder
            .records
            .iter()
            .filter_map(|record| match record {
                JournalRecord::Pending(call) if call.instance == addr(name) => {
                    assert!(call.prior.is_some(), "{call:?}");
                    Some(format!("started {}", call.call.as_str()))
                }
                JournalRecord::Checkpoint {
                    instance,
                    checkpoint,
                } if *instance == addr(name) => Some(format!("checkpoint {}", checkpoint["step"])),
                JournalRecord::Set {
                    resource, instance, ..
                } if resource.instance(instance.key.clone()) == addr(name) => {
                    Some(String::from("set"))
                }
                JournalRecord::Remove { instance } if *instance == addr(name) => {
                    Some(String::from("remove"))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        of("deployed"),
        ["started update", "checkpoint \"switch\"", "set"]
    );
    assert_eq!(of("gone"), ["started delete", "remove"]);
    // The results clear the started records; the phase is reported.
    assert!(
        report.state.pending.is_empty(),
        "{:?}",
        report.state.pending
    );
    let deployed = report
        .results
        .iter()
        .find(|result| result.addr == addr("deployed"))
        .unwrap();
    let phases: Vec<&str> = deployed.phases.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(phases, ["switch router"]);
    assert_eq!(
        world.opened(&report.state, "deployed")["value"],
        Value::string("v2")
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_update_clears_its_started_record_and_a_crashed_one_keeps_it() {
    let world = World::new();
    let config = expanded(vec![resource("a", Value::string("v1"), &[])]);
    let (first, _) = world.converge(&config, None).await;
    let next = expanded(vec![resource("a", Value::string("v2"), &[])]);
    world
        .provider
        .fail_matching(Op::Update, "a", ProviderError::permanent("refused"));
    let (report, recorder) = world.converge(&next, Some(first.state.clone())).await;
    assert!(report.failed());
    assert!(matches!(
        recorder.records.first(),
        Some(JournalRecord::Pending(_))
    ));
    assert!(matches!(
        recorder.records.last(),
        Some(JournalRecord::Settled { .. })
    ));
    assert!(report.state.pending.is_empty());
    // A journal cut after the started record leaves the call pending.
    let mut state = first.state;
    state.apply_record(&recorder.records[0]);
    assert_eq!(state.pending.len(), 1);
    assert_eq!(state.pending[0].call, CallKind::Update);
}

#[test]
fn a_pending_create_is_journalled_as_it_always_was() {
    // Journals written before updates and deletes were journalled hold
    // exactly these fields; they still read, as creates.
    let host = MemoryHost::new();
    let key = Key::from_bytes([1; 32], KeySource::Env);
    let record = JournalRecord::Pending(PendingCall::new(
        addr("a"),
        TEST_RESOURCE.to_owned(),
        ProviderAddr::named("test"),
        key.seal(&host, &Value::string("p")).unwrap(),
        CallKind::Create,
    ));
    let json = serde_json::to_value(&record).unwrap();
    let fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["instance", "kind", "planned", "provider", "resource_type"]
    );
    let read: JournalRecord = serde_json::from_value(json).unwrap();
    assert_eq!(read, record);
}

/// A world with the test provider as `test` and an effect-free one as
/// `free`, which it returns too.
fn mixed_world() -> (World, Arc<TestProvider>) {
    let provider = Arc::new(TestProvider::new());
    let free = Arc::new(TestProvider::effect_free_as("free"));
    let providers = ProviderSet::new().with(provider.clone()).with(free.clone());
    let world = World {
        host: Arc::new(MemoryHost::new()),
        provider,
        providers,
        key: Key::from_bytes([9; 32], KeySource::Env),
    };
    (world, free)
}

/// A chain of `links` (name, effect-free?), each one's value the previous one's id.
fn chain_of(links: &[(&str, bool)]) -> (Expanded, Arc<dyn Resolver>) {
    let config = expanded(
        links
            .iter()
            .enumerate()
            .map(|(i, (name, free))| {
                let mut instance = match i {
                    0 => resource(name, Value::NULL, &[]),
                    _ => resource(name, Value::UNKNOWN, &[links[i - 1].0]),
                };
                if *free {
                    instance.provider = (String::from("free"), None);
                }
                instance
            })
            .collect(),
    );
    let base = config.clone();
    let names: Vec<String> = links.iter().map(|(name, _)| (*name).to_owned()).collect();
    let resolver = FnResolver::new(move |applied| {
        let mut instances = configured(&base);
        for pair in names.windows(2) {
            let previous = applied_id(applied, &pair[0]);
            instances
                .get_mut(&addr(&pair[1]))
                .unwrap()
                .insert("value".to_owned(), previous);
        }
        Resolved {
            instances,
            outputs: BTreeMap::new(),
        }
    });
    (config, resolver)
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_effect_free_calls_never_waits_for_the_disk() {
    let (world, _) = mixed_world();
    let links: Vec<(String, bool)> = (0..20).map(|i| (format!("r{i:03}"), true)).collect();
    let links: Vec<(&str, bool)> = links.iter().map(|(n, f)| (n.as_str(), *f)).collect();
    let (config, resolver) = chain_of(&links);
    let mut recorder = WatchingRecorder::default();
    let report = world
        .plan_and_apply(&config, None, resolver, &mut recorder)
        .await;
    assert!(!report.failed(), "{:?}", report.all_diagnostics());
    assert_eq!(report.state.instance_count(), 20);
    // Every record is journalled, none waited for a sync.
    let records: usize = recorder.commits.iter().map(|(r, _, _)| r.len()).sum();
    assert_eq!(records, 40, "a pending create and a result per link");
    assert!(
        recorder.commits.iter().all(|(_, synced, _)| !synced),
        "an effect-free chain synced: {:?}",
        recorder
            .commits
            .iter()
            .map(|(_, s, _)| *s)
            .collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_with_outside_effects_waits_for_every_record_before_it() {
    // free a → test b → free c → test d: b's and d's pending creates, and
    // b's result, must be durable before what follows them starts.
    let (world, free) = mixed_world();
    let links = [("a", true), ("b", false), ("c", true), ("d", false)];
    let (config, resolver) = chain_of(&links);
    let mut recorder = WatchingRecorder {
        providers: vec![world.provider.clone(), free],
        commits: Vec::new(),
    };
    let report = world
        .plan_and_apply(&config, None, resolver, &mut recorder)
        .await;
    assert!(!report.failed(), "{:?}", report.all_diagnostics());
    assert_eq!(report.state.instance_count(), 4);
    let (a, a_synced) = recorder.pending_commit("a");
    assert!(!a_synced, "a's pending create alone need not wait");
    for (name, started_before) in [("b", 1), ("d", 3)] {
        let (at, synced) = recorder.pending_commit(name);
        assert!(synced, "{name}'s pending create was not synced");
        assert!(at > a);
        // Nothing of b or d started before the sync that held its record.
        assert_eq!(
            recorder.commits[at].2, started_before,
            "{name} started early"
        );
    }
    // c starts after b's result: that commit holds b's result, so it syncs.
    let (c, c_synced) = recorder.pending_commit("c");
    let b_result = recorder.commits[..=c].iter().any(|(records, _, _)| {
        records
            .iter()
            .any(|r| matches!(r, JournalRecord::Set { resource, .. } if resource.name == "b"))
    });
    assert!(
        b_result && c_synced,
        "b's result was not durable before c started"
    );
}

#[tokio::test(start_paused = true)]
async fn an_effect_free_call_that_panics_fails_only_its_action() {
    // Effect-free calls are polled on the engine's thread: a panic there is
    // caught as one on a worker is.
    let (world, free) = mixed_world();
    free.panic_on(Op::Create, Trigger::Matching(String::from("a")));
    let (config, resolver) = chain_of(&[("a", true), ("b", true)]);
    let mut config = config;
    let mut lone = resource("c", Value::NULL, &[]);
    lone.provider = (String::from("free"), None);
    config.instances.insert(addr("c"), lone);
    let report = world
        .plan_and_apply(&config, None, resolver, &mut MemoryRecorder::default())
        .await;
    let Outcome::Failed(diagnostic) = outcome(&report, "a") else {
        panic!("a should fail");
    };
    assert_eq!(diagnostic.code, Code::ApplyProviderPanicked);
    assert_eq!(
        outcome(&report, "b"),
        &Outcome::Skipped { because: addr("a") }
    );
    assert_eq!(outcome(&report, "c"), &Outcome::Succeeded);
    assert_eq!(free.panics(), 1);
}

/// A resolver that asks the apply to stop at its `after`-th resolve.
struct CancellingResolver {
    inner: Arc<dyn Resolver>,
    sender: tokio::sync::watch::Sender<bool>,
    after: usize,
    calls: Mutex<usize>,
}

impl Resolver for CancellingResolver {
    fn resolve(
        &self,
        applied: &Arc<BTreeMap<InstanceAddr, ObjectState>>,
        wanted: &std::collections::BTreeSet<InstanceAddr>,
    ) -> Result<Resolved, Diagnostics> {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls == self.after {
            self.sender.send_replace(true);
        }
        self.inner.resolve(applied, wanted)
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_effect_free_calls_stops_when_cancelled() {
    // Its calls finish on the engine's thread, so the loop never waits on
    // a worker: the cancel must still be seen between links.
    let (world, free) = mixed_world();
    let names: Vec<String> = (0..20).map(|i| format!("r{i:03}")).collect();
    let links: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), true)).collect();
    let (config, inner) = chain_of(&links);
    let (sender, cancel) = tokio::sync::watch::channel(false);
    let resolver = Arc::new(CancellingResolver {
        inner,
        sender,
        after: 5,
        calls: Mutex::new(0),
    });
    let state = State::new(world.host.as_ref());
    let plan = world.plan(&config, Some(&state)).await;
    let mut request = world.request(&plan, &config, resolver, 8);
    request.cancel = cancel;
    let report = apply(request, state, &mut MemoryRecorder::default()).await;
    assert!(report.cancelled);
    let created = free.calls_of(Op::Create).len();
    assert!(
        (5..=6).contains(&created),
        "{created} links were created after the cancel at the fifth resolve"
    );
    assert_eq!(report.state.instance_count(), created, "what ran is saved");
}
