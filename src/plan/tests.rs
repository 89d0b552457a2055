//! Plan stage tests on the `test` and `null` providers: every action, drift,
//! lifecycle rules, targets, and the saved plan file's checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::addr::{InstanceKey, ProviderAddr, ResourceAddr};
use crate::config::Lifecycle;
use crate::diag::{Code, FileId, Span};
use crate::expand::{Instance, OutputValue};
use crate::host::{Host, MemoryHost};
use crate::providers::ProviderError;
use crate::providers::null::{NULL_RESOURCE, NullProvider};
use crate::providers::test::{Op, TEST_RESOURCE, TestProvider, Trigger};
use crate::state::{InstanceState, KeySource, SealedValue};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const CANARY: &str = "canary-s3cr3t-7d1f0c";

struct World {
    host: Arc<MemoryHost>,
    provider: Arc<TestProvider>,
    providers: ProviderSet,
    key: Key,
}

impl World {
    fn new() -> World {
        let host = Arc::new(MemoryHost::new());
        let provider = Arc::new(TestProvider::new());
        let providers = ProviderSet::new()
            .with(provider.clone())
            .with(Arc::new(NullProvider::new(host.clone())));
        World {
            host,
            provider,
            providers,
            key: Key::from_bytes([7; 32], KeySource::Env),
        }
    }

    fn request<'a>(&'a self, expanded: &'a Expanded, prior: Option<&'a State>) -> Request<'a> {
        Request {
            stack: String::from("shop"),
            expanded,
            prior,
            key: &self.key,
            providers: &self.providers,
            refresh: true,
            targets: Vec::new(),
            replace: Vec::new(),
            allow_destroy: false,
            parallelism: 4,
            config_digest: config_digest(&[("main.infra".into(), "text".into())], &[]),
        }
    }

    async fn plan(&self, expanded: &Expanded, prior: Option<&State>) -> (Plan, Diagnostics) {
        self.plan_with(self.request(expanded, prior)).await
    }

    async fn plan_with(&self, request: Request<'_>) -> (Plan, Diagnostics) {
        let (plan, diagnostics) = plan(&request).await;
        (plan.expect("a plan"), diagnostics)
    }

    /// Creates every instance of `expanded` and records it, as apply would.
    async fn apply_creates(&self, expanded: &Expanded) -> State {
        let mut state = State::new(self.host.as_ref());
        state.serial = 1;
        for (addr, instance) in &expanded.instances {
            let provider = self
                .providers
                .get(&ProviderAddr::from_key(&instance.provider))
                .unwrap()
                .clone();
            let resource_type = &addr.resource.resource_type;
            let planned = provider
                .plan_change(resource_type, None, &instance.attributes)
                .await
                .unwrap();
            let object = provider
                .create(
                    &crate::providers::Operation::detached(),
                    resource_type,
                    &planned.planned,
                )
                .await
                .unwrap();
            let attributes = self
                .key
                .seal(self.host.as_ref(), &Value::map(object.attributes))
                .unwrap();
            state.set_instance(
                &addr.resource,
                &ProviderAddr::from_key(&instance.provider),
                InstanceState {
                    key: addr.key.clone(),
                    attributes,
                    dependencies: instance.dependencies.to_vec(),
                    config: SealedValue::default(),
                },
            );
        }
        for (name, output) in &expanded.outputs {
            let value = self.key.seal(self.host.as_ref(), &output.value).unwrap();
            state.outputs.insert(
                name.clone(),
                crate::state::OutputState {
                    value,
                    sensitive: output.sensitive,
                },
            );
        }
        state
    }
}

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

fn resource(name: &str, value: Value) -> Instance {
    let mut attributes = crate::lang::Map::new();
    attributes.insert("name".to_owned(), Value::string(name));
    attributes.insert("value".to_owned(), value);
    let mut attribute_spans = BTreeMap::new();
    attribute_spans.insert("name".to_owned(), span(10));
    attribute_spans.insert("value".to_owned(), span(20));
    Instance {
        addr: addr(name),
        provider: (String::from("test"), None),
        attributes,
        attribute_spans: Arc::new(attribute_spans.into()),
        dependencies: Arc::from(Vec::new()),
        lifecycle: Lifecycle::default(),
        span: span(1),
    }
}

fn depends_on(mut instance: Instance, names: &[&str]) -> Instance {
    let dependencies: Vec<ResourceAddr> = names
        .iter()
        .map(|name| ResourceAddr::managed(TEST_RESOURCE, name))
        .collect();
    instance.dependencies = Arc::from(dependencies);
    instance
}

fn expanded(instances: Vec<Instance>) -> Expanded {
    Expanded {
        environment: EnvironmentInfo {
            name: String::from("prod"),
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

fn codes(diagnostics: &Diagnostics) -> Vec<Code> {
    diagnostics.iter().map(|d| d.code).collect()
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|change| (change.addr.to_string(), change.action))
        .collect()
}

fn change<'a>(plan: &'a Plan, name: &str) -> &'a Change {
    plan.changes
        .iter()
        .find(|change| change.addr == addr(name))
        .expect("a change for the instance")
}

#[tokio::test]
async fn plans_creates_from_empty_state_in_dependency_order() {
    let world = World::new();
    let config = expanded(vec![
        depends_on(resource("app", Value::string("v1")), &["db"]),
        resource("db", Value::string("v1")),
    ]);
    let (plan, diagnostics) = world.plan(&config, None).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(
        actions(&plan),
        [
            ("test_resource.db".to_owned(), Action::Create),
            ("test_resource.app".to_owned(), Action::Create),
        ]
    );
    let app = change(&plan, "app");
    assert_eq!(app.before, None);
    assert!(app.after["id"].is_unknown(), "ids are known after apply");
    assert_eq!(app.after["value"], Value::string("v1"));
    assert_eq!(plan.prior, None);
    let summary = plan.summary();
    assert_eq!((summary.add, summary.change, summary.destroy), (2, 0, 0));
    assert!(world.provider.calls_of(Op::Read).is_empty());
}

#[tokio::test]
async fn unchanged_configuration_is_a_no_op() {
    let world = World::new();
    let config = expanded(vec![resource("a", Value::string("v1"))]);
    let state = world.apply_creates(&config).await;
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(
        actions(&plan),
        [("test_resource.a".to_owned(), Action::NoOp)]
    );
    assert!(plan.drift.is_empty());
    assert!(!plan.has_changes());
    assert_eq!(
        plan.prior,
        Some(PriorVersion {
            lineage: state.lineage.clone(),
            serial: 1
        })
    );
    assert_eq!(world.provider.calls_of(Op::Read).len(), 1);
}

#[tokio::test]
async fn changed_value_is_an_update_in_place() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![resource("a", Value::string("v1"))]))
        .await;
    let config = expanded(vec![resource("a", Value::string("v2"))]);
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let a = change(&plan, "a");
    assert_eq!(a.action, Action::Update);
    assert_eq!(a.before.as_ref().unwrap()["value"], Value::string("v1"));
    assert_eq!(a.after["value"], Value::string("v2"));
    assert_eq!(
        a.after["id"],
        Value::string("a-1"),
        "computed values are kept"
    );
    assert_eq!(plan.summary().change, 1);
}

#[tokio::test]
async fn force_new_change_is_a_replace_in_either_order() {
    for create_before_destroy in [false, true] {
        let world = World::new();
        let state = world
            .apply_creates(&expanded(vec![resource("a", Value::string("v1"))]))
            .await;
        let mut renamed = resource("a", Value::string("v1"));
        renamed
            .attributes
            .insert("name".to_owned(), Value::string("a2"));
        renamed.lifecycle.create_before_destroy = create_before_destroy;
        let (plan, diagnostics) = world.plan(&expanded(vec![renamed]), Some(&state)).await;
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let a = change(&plan, "a");
        assert_eq!(
            a.action,
            Action::Replace {
                create_before_destroy
            }
        );
        assert_eq!(a.replace_paths, [vec!["name".to_owned()]]);
        assert_eq!(a.reason, Some(Reason::ReplaceForced));
        assert!(a.after["id"].is_unknown(), "a new object gets a new id");
        let summary = plan.summary();
        assert_eq!((summary.add, summary.change, summary.destroy), (1, 0, 1));
    }
}

#[tokio::test]
async fn null_resource_triggers_force_replacement() {
    let world = World::new();
    let null = |trigger: &str| {
        let addr = ResourceAddr::managed(NULL_RESOURCE, "hook").instance(InstanceKey::None);
        let mut triggers = BTreeMap::new();
        triggers.insert("v".to_owned(), Value::string(trigger));
        let mut attributes = crate::lang::Map::new();
        attributes.insert("triggers".to_owned(), Value::map(triggers.into()));
        Instance {
            addr,
            provider: (String::from("null"), None),
            attributes,
            attribute_spans: Default::default(),
            dependencies: Arc::from(Vec::new()),
            lifecycle: Lifecycle::default(),
            span: span(1),
        }
    };
    let state = world.apply_creates(&expanded(vec![null("1")])).await;
    let (same, _) = world.plan(&expanded(vec![null("1")]), Some(&state)).await;
    assert_eq!(same.changes[0].action, Action::NoOp);
    let (plan, diagnostics) = world.plan(&expanded(vec![null("2")]), Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(
        plan.changes[0].action,
        Action::Replace {
            create_before_destroy: false
        }
    );
    assert_eq!(plan.changes[0].replace_paths, [vec!["triggers".to_owned()]]);
}

#[tokio::test]
async fn removed_instances_are_deleted_dependents_first() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![
            resource("db", Value::NULL),
            depends_on(resource("app", Value::NULL), &["db"]),
            resource("keep", Value::NULL),
        ]))
        .await;
    let (plan, diagnostics) = world
        .plan(&expanded(vec![resource("keep", Value::NULL)]), Some(&state))
        .await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(
        actions(&plan),
        [
            ("test_resource.keep".to_owned(), Action::NoOp),
            ("test_resource.app".to_owned(), Action::Delete),
            ("test_resource.db".to_owned(), Action::Delete),
        ]
    );
    let app = change(&plan, "app");
    assert_eq!(app.reason, Some(Reason::NoLongerInConfiguration));
    assert!(app.after.is_empty());
    assert_eq!(plan.summary().destroy, 2);
}

#[tokio::test]
async fn drift_changed_and_deleted_outside_is_detected() {
    let world = World::new();
    let config = expanded(vec![
        resource("changed", Value::string("v1")),
        resource("gone", Value::string("v1")),
    ]);
    let state = world.apply_creates(&config).await;
    let mut outside = world.provider.object(TEST_RESOURCE, "changed-1").unwrap();
    outside.insert("value".to_owned(), Value::string("edited"));
    world
        .provider
        .put_object(TEST_RESOURCE, "changed-1", outside);
    world.provider.remove_object(TEST_RESOURCE, "gone-1");

    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(
        plan.drift,
        [
            Drift {
                addr: addr("changed"),
                resource_type: TEST_RESOURCE.to_owned(),
                kind: DriftKind::Changed(vec![AttributeDrift {
                    name: "value".to_owned(),
                    before: Value::string("v1"),
                    after: Value::string("edited"),
                }]),
            },
            Drift {
                addr: addr("gone"),
                resource_type: TEST_RESOURCE.to_owned(),
                kind: DriftKind::Deleted,
            },
        ]
    );
    let changed = change(&plan, "changed");
    assert_eq!(changed.action, Action::Update, "configuration wins back");
    assert_eq!(
        changed.before.as_ref().unwrap()["value"],
        Value::string("edited")
    );
    let gone = change(&plan, "gone");
    assert_eq!(gone.action, Action::Create);
    assert_eq!(gone.reason, Some(Reason::DeletedOutside));
}

#[tokio::test]
async fn refresh_false_reads_nothing_and_finds_no_drift() {
    let world = World::new();
    let config = expanded(vec![resource("a", Value::string("v1"))]);
    let state = world.apply_creates(&config).await;
    world.provider.remove_object(TEST_RESOURCE, "a-1");
    let mut request = world.request(&config, Some(&state));
    request.refresh = false;
    let (plan, diagnostics) = world.plan_with(request).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert!(plan.drift.is_empty());
    assert_eq!(change(&plan, "a").action, Action::NoOp);
    assert!(world.provider.calls_of(Op::Read).is_empty());
}

/// An effect-free provider keeps nothing outside the state: a refresh does
/// not read its objects, so even an object gone from the test world (which
/// a read would report as deleted) plans as unchanged.
#[tokio::test]
async fn refresh_does_not_read_effect_free_objects_they_cannot_drift() {
    let mut world = World::new();
    let free = Arc::new(TestProvider::effect_free_as(crate::providers::test::NAME));
    world.providers = ProviderSet::new()
        .with(free.clone())
        .with(Arc::new(NullProvider::new(world.host.clone())));
    world.provider = free.clone();
    let config = expanded(vec![resource("a", Value::string("v1"))]);
    let state = world.apply_creates(&config).await;
    free.remove_object(TEST_RESOURCE, "a-1");
    free.reset_calls();
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);
    assert_eq!(change(&plan, "a").action, Action::NoOp);
    assert!(free.calls_of(Op::Read).is_empty());
}

#[tokio::test(start_paused = true)]
async fn refresh_reads_concurrently_within_parallelism() {
    let world = World::new();
    let config = expanded(
        (0..12)
            .map(|i| resource(&format!("r{i}"), Value::NULL))
            .collect(),
    );
    let state = world.apply_creates(&config).await;
    world
        .provider
        .set_latency(Op::Read, Duration::from_millis(50));
    world.provider.reset_calls();
    let mut request = world.request(&config, Some(&state));
    request.parallelism = 3;
    let (_, diagnostics) = world.plan_with(request).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(world.provider.calls_of(Op::Read).len(), 12);
    assert_eq!(world.provider.max_concurrency_observed(), 3);
}

#[tokio::test]
async fn failed_read_is_a_provider_error() {
    let world = World::new();
    let config = expanded(vec![resource("a", Value::NULL)]);
    let state = world.apply_creates(&config).await;
    world
        .provider
        .fail_matching(Op::Read, "a", ProviderError::permanent("access denied"));
    let (_, diagnostics) = world.plan(&config, Some(&state)).await;
    assert_eq!(codes(&diagnostics), [Code::PlanProviderError]);
}

#[tokio::test]
async fn panicking_provider_is_a_provider_error_not_a_crash() {
    let world = World::new();
    let config = expanded(vec![resource("a", Value::NULL), resource("b", Value::NULL)]);
    let state = world.apply_creates(&config).await;
    world
        .provider
        .panic_on(Op::Read, Trigger::Matching("a".to_owned()));
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert_eq!(codes(&diagnostics), [Code::PlanProviderError]);
    assert_eq!(
        change(&plan, "b").action,
        Action::NoOp,
        "the others are planned"
    );
}

#[tokio::test]
async fn ignore_changes_keeps_prior_values() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![resource("a", Value::string("v1"))]))
        .await;
    let mut ignoring = resource("a", Value::string("v2"));
    ignoring.lifecycle.ignore_changes = vec!["value".to_owned()];
    let (plan, diagnostics) = world.plan(&expanded(vec![ignoring]), Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let a = change(&plan, "a");
    assert_eq!(a.action, Action::NoOp);
    assert_eq!(a.after["value"], Value::string("v1"));

    let mut all = resource("a", Value::string("v3"));
    all.lifecycle.ignore_changes = vec!["all".to_owned()];
    let (plan, _) = world.plan(&expanded(vec![all]), Some(&state)).await;
    assert_eq!(change(&plan, "a").action, Action::NoOp);
}

#[tokio::test]
async fn prevent_destroy_refuses_a_replace() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![resource("a", Value::NULL)]))
        .await;
    let mut renamed = resource("a", Value::NULL);
    renamed
        .attributes
        .insert("name".to_owned(), Value::string("b"));
    renamed.lifecycle.prevent_destroy = true;
    let mut request_config = expanded(vec![renamed]);
    let (_, diagnostics) = world.plan(&request_config, Some(&state)).await;
    assert_eq!(codes(&diagnostics), [Code::PlanPreventDestroy]);
    let primary = diagnostics.iter().next().unwrap().primary.clone().unwrap();
    assert_eq!(primary.span, span(1), "points at the block");

    // `--allow-destroy` is for protected environments only.
    request_config.environment.protected = true;
    let mut request = world.request(&request_config, Some(&state));
    request.allow_destroy = true;
    let (_, diagnostics) = world.plan_with(request).await;
    assert_eq!(codes(&diagnostics), [Code::PlanPreventDestroy]);
}

#[tokio::test]
async fn protected_environment_refuses_destroy_unless_allowed() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![
            resource("a", Value::NULL),
            resource("b", Value::NULL),
        ]))
        .await;
    let mut renamed = resource("a", Value::NULL);
    renamed
        .attributes
        .insert("name".to_owned(), Value::string("a2"));
    let mut config = expanded(vec![renamed]);
    config.environment.protected = true;
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    // The plan is made and shown whole; apply refuses it.
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let refused: Vec<String> = plan
        .impact
        .refused
        .iter()
        .map(|item| format!("{} {:?}", item.addr, item.action))
        .collect();
    assert_eq!(
        refused,
        [
            "test_resource.a Replace { create_before_destroy: false }",
            "test_resource.b Delete"
        ],
        "the replace of a and the delete of b"
    );
    assert_eq!(plan.summary().destroy, 2);

    let mut request = world.request(&config, Some(&state));
    request.allow_destroy = true;
    let (plan, diagnostics) = world.plan_with(request).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert!(plan.impact.refused.is_empty());

    // Updates in a protected environment are fine.
    let (_, diagnostics) = world
        .plan(
            &{
                let mut c = expanded(vec![
                    resource("a", Value::string("x")),
                    resource("b", Value::NULL),
                ]);
                c.environment.protected = true;
                c
            },
            Some(&state),
        )
        .await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
}

#[tokio::test]
async fn targets_select_themselves_and_their_dependencies() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![resource("old", Value::NULL)]))
        .await;
    let config = expanded(vec![
        resource("db", Value::NULL),
        depends_on(resource("app", Value::NULL), &["db"]),
        resource("other", Value::NULL),
    ]);
    let mut request = world.request(&config, Some(&state));
    request.targets = vec!["test_resource.app".parse().unwrap()];
    let (plan, diagnostics) = world.plan_with(request).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(
        actions(&plan),
        [
            ("test_resource.db".to_owned(), Action::Create),
            ("test_resource.app".to_owned(), Action::Create),
        ],
        "neither `other` nor the delete of `old`"
    );
    assert!(
        world.provider.calls_of(Op::Read).is_empty(),
        "untargeted objects are not read"
    );

    let mut request = world.request(&config, Some(&state));
    request.targets = vec!["test_resource.old".parse().unwrap()];
    let (plan, _) = world.plan_with(request).await;
    assert_eq!(
        actions(&plan),
        [("test_resource.old".to_owned(), Action::Delete)]
    );
}

/// A plan with every kind of content: secrets, unknowns, drift, outputs.
async fn rich_plan(world: &World) -> (Plan, State) {
    let secret = Value::string(CANARY).with_secret(true);
    let mut config = expanded(vec![
        resource("drifted", Value::string("v1")),
        resource("secretive", secret.clone()),
    ]);
    config.outputs.insert(
        "password".to_owned(),
        OutputValue {
            value: secret.clone(),
            sensitive: true,
        },
    );
    let state = world.apply_creates(&config).await;
    let mut outside = world.provider.object(TEST_RESOURCE, "drifted-1").unwrap();
    outside.insert("value".to_owned(), secret.clone());
    world
        .provider
        .put_object(TEST_RESOURCE, "drifted-1", outside);
    config
        .instances
        .insert(addr("new"), resource("new", secret.clone()));
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert!(!plan.drift.is_empty());
    assert!(change(&plan, "new").after["id"].is_unknown());
    (plan, state)
}

#[tokio::test]
async fn plan_file_round_trips() {
    let world = World::new();
    let (plan, _) = rich_plan(&world).await;
    let file = PlanFile::new(&plan, &world.key, world.host.as_ref()).unwrap();
    let bytes = file.to_bytes();
    let parsed = PlanFile::parse(&bytes, &world.key).unwrap();
    assert_eq!(parsed, file);
    let back = parsed.to_plan(&world.key).unwrap();
    assert_eq!(back, plan);
    assert!(back.changes.iter().any(|c| c.after["value"].is_secret()));
    assert!(change(&back, "new").after["id"].is_unknown());
}

#[tokio::test]
async fn canary_secret_never_appears_in_plan_file_bytes() {
    let world = World::new();
    let (plan, _) = rich_plan(&world).await;
    let bytes = PlanFile::new(&plan, &world.key, world.host.as_ref())
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains(CANARY), "{text}");
    assert!(!text.contains("s3cr3t"));
}

#[tokio::test]
async fn tampered_plan_file_is_refused() {
    let world = World::new();
    let (plan, _) = rich_plan(&world).await;
    let file = PlanFile::new(&plan, &world.key, world.host.as_ref()).unwrap();
    let text = String::from_utf8(file.to_bytes()).unwrap();

    // An edited action.
    let edited = text.replacen("\"no_op\"", "\"delete\"", 1);
    assert_ne!(edited, text);
    let error = PlanFile::parse(edited.as_bytes(), &world.key).unwrap_err();
    assert_eq!(error.code, Code::PlanTampered);

    // An edited digest, so it matches another configuration.
    let mut forged = file.clone();
    forged.config_digest = "0".repeat(64);
    let error = PlanFile::parse(&forged.to_bytes(), &world.key).unwrap_err();
    assert_eq!(error.code, Code::PlanTampered);

    // Another key.
    let other = Key::from_bytes([9; 32], KeySource::Env);
    let error = PlanFile::parse(text.as_bytes(), &other).unwrap_err();
    assert_eq!(error.code, Code::PlanTampered);

    // Forged with another key, claiming the right key's id.
    let mut forged = PlanFile::new(&plan, &other, world.host.as_ref()).unwrap();
    forged.key_id = world.key.id();
    let error = PlanFile::parse(&forged.to_bytes(), &world.key).unwrap_err();
    assert_eq!(error.code, Code::PlanTampered);

    // Not a plan file at all, or a future version.
    let error = PlanFile::parse(b"{\"not\": \"a plan\"", &world.key).unwrap_err();
    assert_eq!(error.code, Code::PlanInvalidFile);
    let future = text.replacen("\"format_version\": 2", "\"format_version\": 99", 1);
    let error = PlanFile::parse(future.as_bytes(), &world.key).unwrap_err();
    assert_eq!(error.code, Code::PlanInvalidFile);
}

#[tokio::test]
async fn stale_plans_are_refused_in_every_case() {
    let world = World::new();
    let (plan, state) = rich_plan(&world).await;
    let file = PlanFile::new(&plan, &world.key, world.host.as_ref()).unwrap();
    let digest = plan.config_digest.clone();
    let current = Some((state.lineage.as_str(), state.serial));
    assert_eq!(file.check_fresh(current, &digest, "shop", "prod"), Ok(()));

    let code = |result: Result<(), crate::diag::Diagnostic>| result.unwrap_err().code;
    // The serial moved.
    assert_eq!(
        code(file.check_fresh(Some((&state.lineage, 2)), &digest, "shop", "prod")),
        Code::PlanStaleState
    );
    // Another lineage.
    assert_eq!(
        code(file.check_fresh(Some(("other-lineage", 1)), &digest, "shop", "prod")),
        Code::PlanStaleState
    );
    // The state vanished.
    assert_eq!(
        code(file.check_fresh(None, &digest, "shop", "prod")),
        Code::PlanStaleState
    );
    // The configuration changed.
    let changed = config_digest(&[("main.infra".into(), "other text".into())], &[]);
    assert_eq!(
        code(file.check_fresh(current, &changed, "shop", "prod")),
        Code::PlanStaleConfiguration
    );
    let with_var = config_digest(
        &[("main.infra".into(), "text".into())],
        &[("region".into(), "eu".into())],
    );
    assert_eq!(
        code(file.check_fresh(current, &with_var, "shop", "prod")),
        Code::PlanStaleConfiguration
    );
    // Another environment or stack.
    assert_eq!(
        code(file.check_fresh(current, &digest, "shop", "staging")),
        Code::PlanWrongEnvironment
    );
    assert_eq!(
        code(file.check_fresh(current, &digest, "blog", "prod")),
        Code::PlanWrongEnvironment
    );

    // Made with no prior state, and a state exists now.
    let config = expanded(vec![resource("a", Value::NULL)]);
    let (fresh_plan, _) = world.plan(&config, None).await;
    let fresh = PlanFile::new(&fresh_plan, &world.key, world.host.as_ref()).unwrap();
    assert_eq!(fresh.check_fresh(None, &digest, "shop", "prod"), Ok(()));
    assert_eq!(
        code(fresh.check_fresh(current, &digest, "shop", "prod")),
        Code::PlanStaleState
    );
    assert!(
        fresh
            .to_bytes()
            .windows(13)
            .any(|w| w == b"\"prior\": null")
    );
}

#[test]
fn config_digest_is_order_independent_for_files_and_unambiguous() {
    let a = config_digest(&[("a".into(), "1".into()), ("b".into(), "2".into())], &[]);
    let b = config_digest(&[("b".into(), "2".into()), ("a".into(), "1".into())], &[]);
    assert_eq!(a, b);
    let joined = config_digest(&[("ab".into(), String::new())], &[]);
    let split = config_digest(&[("a".into(), "b".into())], &[]);
    assert_ne!(joined, split);
    assert_eq!(a.len(), 64);
}

#[tokio::test]
async fn output_changes_are_planned() {
    let world = World::new();
    let mut config = expanded(vec![]);
    let output = |value: &str| OutputValue {
        value: Value::string(value),
        sensitive: false,
    };
    config.outputs.insert("same".into(), output("x"));
    config.outputs.insert("moved".into(), output("1"));
    config.outputs.insert("dropped".into(), output("d"));
    let state = world.apply_creates(&config).await;
    config.outputs.remove("dropped");
    config.outputs.insert("moved".into(), output("2"));
    config.outputs.insert("added".into(), output("n"));
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let outputs: Vec<(&str, Action)> = plan
        .output_changes
        .iter()
        .map(|o| (o.name.as_str(), o.action))
        .collect();
    assert_eq!(
        outputs,
        [
            ("added", Action::Create),
            ("dropped", Action::Delete),
            ("moved", Action::Update),
            ("same", Action::NoOp),
        ]
    );
    assert!(plan.has_changes());
    let _ = world.host.now_unix_seconds();
}

// ----- moved and import blocks -----

/// `instance` placed at another address (same attributes).
fn placed(mut instance: Instance, at: InstanceAddr) -> Instance {
    instance.addr = at;
    instance
}

fn moved(from: &str, to: &str) -> crate::config::Moved {
    crate::config::Moved {
        from: from.parse().unwrap(),
        to: to.parse().unwrap(),
        span: span(90),
    }
}

#[tokio::test]
async fn moves_rename_state_follow_chains_and_call_no_provider() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![
            resource("a", Value::string("v1")),
            resource("keep", Value::NULL),
        ]))
        .await;
    world.provider.reset_calls();
    let mut config = expanded(vec![
        placed(resource("a", Value::string("v2")), addr("c")),
        resource("keep", Value::NULL),
    ]);
    config.moved = vec![
        moved("test_resource.a", "test_resource.b"),
        moved("test_resource.b", "test_resource.c"),
    ];
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let c = change(&plan, "c");
    assert_eq!(c.action, Action::Update, "planned against the moved object");
    assert_eq!(c.moved_from, Some(Box::new(addr("a"))));
    assert_eq!(change(&plan, "keep").moved_from, None);
    assert!(!plan.changes.iter().any(|c| c.addr == addr("a")));
    let summary = plan.summary();
    assert_eq!((summary.moved, summary.add, summary.destroy), (1, 0, 0));
    for op in [Op::Create, Op::Delete, Op::Update, Op::Import] {
        assert!(world.provider.calls_of(op).is_empty(), "{op:?}");
    }
}

#[tokio::test]
async fn module_and_resource_moves_keep_the_rest_of_the_address() {
    let world = World::new();
    let in_module = |module: &[&str], name: &str, key: InstanceKey| {
        let mut resource = ResourceAddr::managed(TEST_RESOURCE, name);
        resource.module = crate::addr::ModulePath::from_names(module);
        resource.instance(key)
    };
    let old = vec![
        placed(
            resource("x", Value::NULL),
            in_module(&["old", "inner"], "x", InstanceKey::None),
        ),
        placed(
            resource("k1", Value::NULL),
            in_module(&[], "site", InstanceKey::Int(0)),
        ),
        placed(
            resource("k2", Value::NULL),
            in_module(&[], "site", InstanceKey::Int(1)),
        ),
    ];
    let state = world.apply_creates(&expanded(old)).await;
    let mut config = expanded(vec![
        placed(
            resource("x", Value::NULL),
            in_module(&["new", "inner"], "x", InstanceKey::None),
        ),
        placed(
            resource("k1", Value::NULL),
            in_module(&[], "web", InstanceKey::Int(0)),
        ),
        placed(
            resource("k2", Value::NULL),
            in_module(&[], "web", InstanceKey::Int(1)),
        ),
    ]);
    config.moved = vec![
        moved("module.old", "module.new"),
        moved("test_resource.site", "test_resource.web"),
    ];
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let moves: Vec<(String, String, Action)> = plan
        .changes
        .iter()
        .map(|c| {
            (
                c.moved_from
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                c.addr.to_string(),
                c.action,
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (
                "test_resource.site[0]".to_owned(),
                "test_resource.web[0]".to_owned(),
                Action::NoOp
            ),
            (
                "test_resource.site[1]".to_owned(),
                "test_resource.web[1]".to_owned(),
                Action::NoOp
            ),
            (
                "module.old.module.inner.test_resource.x".to_owned(),
                "module.new.module.inner.test_resource.x".to_owned(),
                Action::NoOp
            ),
        ]
    );
}

#[tokio::test]
async fn conflicting_moves_are_refused_and_move_nothing() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![
            resource("a", Value::NULL),
            resource("b", Value::NULL),
            resource("taken", Value::NULL),
            resource("old", Value::NULL),
        ]))
        .await;
    let mut config = expanded(vec![
        placed(resource("a", Value::NULL), addr("c")),
        resource("taken", Value::NULL),
    ]);
    config.moved = vec![
        // Two instances onto one address: the first wins, the second is refused.
        moved("test_resource.a", "test_resource.c"),
        moved("test_resource.b", "test_resource.c"),
        // Onto an address already in state.
        moved("test_resource.old", "test_resource.taken"),
    ];
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert_eq!(
        codes(&diagnostics),
        [Code::PlanMovedConflict, Code::PlanMovedConflict]
    );
    assert_eq!(change(&plan, "c").moved_from, Some(Box::new(addr("a"))));
    assert_eq!(change(&plan, "b").action, Action::Delete);
    assert_eq!(change(&plan, "old").action, Action::Delete);
    assert_eq!(change(&plan, "taken").action, Action::NoOp);
    assert_eq!(change(&plan, "taken").moved_from, None);
}

#[tokio::test]
async fn import_reads_the_object_and_plans_against_it() {
    let world = World::new();
    let mut existing = crate::lang::Map::new();
    existing.insert("name".to_owned(), Value::string("db"));
    existing.insert("value".to_owned(), Value::string("v1"));
    world
        .provider
        .put_object(TEST_RESOURCE, "db-9", existing.clone());
    existing.insert("name".to_owned(), Value::string("same"));
    existing.insert("value".to_owned(), Value::string("s"));
    world.provider.put_object(TEST_RESOURCE, "same-4", existing);
    let state = world
        .apply_creates(&expanded(vec![resource("known", Value::NULL)]))
        .await;
    world.provider.reset_calls();
    let mut config = expanded(vec![
        resource("db", Value::string("v2")),
        resource("same", Value::string("s")),
        resource("known", Value::NULL),
    ]);
    let import = |name: &str, id: &str| crate::expand::ImportTarget {
        to: addr(name),
        id: id.to_owned(),
        span: span(80),
    };
    config.imports = vec![
        import("db", "db-9"),
        import("same", "same-4"),
        import("known", "whatever"),
    ];
    let (plan, diagnostics) = world.plan(&config, Some(&state)).await;
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let db = change(&plan, "db");
    assert_eq!(
        (db.action, db.import_id.as_deref()),
        (Action::Update, Some("db-9"))
    );
    assert_eq!(db.before.as_ref().unwrap()["value"], Value::string("v1"));
    let same = change(&plan, "same");
    assert_eq!(
        (same.action, same.import_id.as_deref()),
        (Action::NoOp, Some("same-4"))
    );
    // Already in state: the import is a no-op, with no provider call.
    assert_eq!(change(&plan, "known").import_id, None);
    let imported: Vec<_> = world
        .provider
        .calls_of(Op::Import)
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    assert_eq!(imported.len(), 2, "{imported:?}");
    assert!(!imported.contains(&"whatever".to_owned()));
    assert_eq!(plan.summary().import, 2);
    assert!(plan.has_changes());
}

#[tokio::test]
async fn failed_import_is_a_provider_error() {
    let world = World::new();
    let mut config = expanded(vec![resource("db", Value::NULL)]);
    config.imports = vec![crate::expand::ImportTarget {
        to: addr("db"),
        id: "no-such-id".to_owned(),
        span: span(80),
    }];
    let (plan, diagnostics) = world.plan(&config, None).await;
    assert_eq!(codes(&diagnostics), [Code::PlanProviderError]);
    let help = diagnostics.iter().next().unwrap().help.clone().unwrap();
    assert!(help.contains("no-such-id"), "{help}");
    assert_eq!(change(&plan, "db").import_id, None);
}

// ----- impact -----

#[tokio::test]
async fn impact_counts_a_diamond_once_and_flags_destroy_before_create() {
    let world = World::new();
    // a ← b, a ← c, {b, c} ← d, and e alone.
    let shape = |a_name: &str| {
        expanded(vec![
            placed(resource(a_name, Value::NULL), addr("a")),
            depends_on(resource("b", Value::NULL), &["a"]),
            depends_on(resource("c", Value::NULL), &["a"]),
            depends_on(resource("d", Value::NULL), &["b", "c"]),
            resource("e", Value::NULL),
        ])
    };
    let state = world.apply_creates(&shape("a")).await;
    let (plan, _) = world.plan(&shape("a2"), Some(&state)).await;
    let blast = &plan.impact.blast_radius;
    assert_eq!(blast.len(), 1, "{blast:?}");
    assert_eq!(blast[0].addr, addr("a"));
    assert_eq!(blast[0].downstream, 3, "d is counted once");
    assert_eq!(blast[0].named, [addr("b"), addr("c"), addr("d")]);
    assert_eq!(plan.impact.downtime.len(), 1);
    assert_eq!(
        plan.impact.downtime[0].reason,
        DowntimeReason::DestroyBeforeCreate
    );
    assert_eq!(plan.impact.rollback.supersedes, Some(1));
    assert_eq!(
        plan.impact.rollback.command.as_deref(),
        Some("infra rollback --env prod --to 1")
    );
    assert_eq!(
        plan.impact.rollback.irreversible,
        [Irreversible {
            subject: "test_resource.a".to_owned(),
            reason: IrreversibleReason::Replaced
        }]
    );
    // The saved plan keeps the impact.
    let file = PlanFile::new(&plan, &world.key, world.host.as_ref()).unwrap();
    let reloaded = PlanFile::parse(&file.to_bytes(), &world.key)
        .and_then(|f| f.to_plan(&world.key))
        .unwrap();
    assert_eq!(reloaded.impact, plan.impact);
}

#[tokio::test]
async fn impact_of_a_delete_uses_the_prior_dependencies() {
    let world = World::new();
    let state = world
        .apply_creates(&expanded(vec![
            resource("db", Value::NULL),
            depends_on(resource("app", Value::NULL), &["db"]),
        ]))
        .await;
    let (plan, _) = world.plan(&expanded(Vec::new()), Some(&state)).await;
    let db = plan
        .impact
        .blast_radius
        .iter()
        .find(|b| b.addr == addr("db"))
        .expect("db's blast radius");
    assert_eq!((db.downstream, db.named.clone()), (1, vec![addr("app")]));
    assert_eq!(plan.impact.rollback.irreversible.len(), 2);
}

/// A chain of `n` resources, every one updated, through the impact
/// analysis: the impact and the dependency links it followed.
fn impact_of_an_updated_chain(n: usize) -> (Impact, usize) {
    let instances: Vec<Instance> = (0..n)
        .map(|i| {
            let name = format!("r{i:06}");
            if i == 0 {
                resource(&name, Value::NULL)
            } else {
                depends_on(resource(&name, Value::NULL), &[&format!("r{:06}", i - 1)])
            }
        })
        .collect();
    let config = expanded(instances);
    let changes: Vec<Change> = config
        .instances
        .keys()
        .map(|addr| Change {
            addr: addr.clone(),
            resource_type: TEST_RESOURCE.to_owned(),
            provider: ProviderAddr::named("test"),
            action: Action::Update,
            before: None,
            after: Attributes::new(),
            replace_paths: Vec::new(),
            reason: None,
            import_id: None,
            moved_from: None,
            deploy: None,
        })
        .collect();
    impact::analyze_counting_steps(&config, &BTreeMap::new(), &changes, None, false)
}

#[test]
fn impact_of_a_long_chain_is_linear() {
    // Every resource of a chain updated: a walk per change would be
    // quadratic (N²/2 links); the chain is resolved in one pass. The work is
    // counted, not timed (bench/apply.sh times plans): doubling the chain
    // at most doubles the links followed, and they are a few per resource.
    const N: usize = 20_000;
    let (_, steps_n) = impact_of_an_updated_chain(N);
    let (impact, steps_2n) = impact_of_an_updated_chain(2 * N);
    assert!(
        steps_2n <= 2 * steps_n + 8 && steps_2n <= 4 * 2 * N,
        "links followed: {steps_n} for {N} resources, {steps_2n} for {}",
        2 * N
    );
    assert_eq!(impact.blast_radius.len(), 2 * N - 1);
    assert_eq!(impact.blast_radius[0].downstream, 2 * N - 1);
    assert!(!impact.blast_radius[0].at_least);
    assert_eq!(impact.blast_radius[0].named.len(), impact::NAMED);
    assert_eq!(impact.blast_radius[2 * N - 2].downstream, 1);
}

#[tokio::test]
async fn protected_environment_changes_are_downtime_risks_and_generated_secrets_irreversible() {
    let world = World::new();
    let mut config = expanded(vec![resource("a", Value::NULL)]);
    config.environment.protected = true;
    config.secrets.insert(
        (crate::addr::ModulePath::root(), "password".to_owned()),
        crate::expand::SecretValue {
            value: Value::UNKNOWN.with_secret(true),
            source: crate::config::SecretSource::Generate {
                length: 16,
                special: false,
            },
        },
    );
    let (plan, _) = world.plan(&config, None).await;
    assert_eq!(plan.impact.downtime.len(), 1);
    assert_eq!(
        plan.impact.downtime[0].reason,
        DowntimeReason::ProtectedEnvironment
    );
    assert_eq!(plan.impact.rollback.supersedes, None);
    assert_eq!(plan.impact.rollback.command, None);
    assert_eq!(
        plan.impact.rollback.irreversible,
        [Irreversible {
            subject: "secret.password".to_owned(),
            reason: IrreversibleReason::SecretGenerated
        }]
    );
}

#[tokio::test]
async fn a_prior_object_recorded_in_plaintext_is_shown_secret_where_the_configuration_types_it_so()
{
    // State written when the name was public (or by a version that did not
    // seal computed values): `name` and the `id` derived from it in plaintext.
    let world = World::new();
    let mut public = resource("thing", Value::number(1));
    public
        .attributes
        .insert("name".to_owned(), Value::string(CANARY));
    let created = world.apply_creates(&expanded(vec![public])).await;
    // Now the name comes from a secret, and `value` changes: an update whose
    // `before` must not show the name or the id in plaintext.
    let mut instance = resource("thing", Value::number(2));
    instance
        .attributes
        .insert("name".to_owned(), Value::string(CANARY).with_secret(true));
    let (plan, diagnostics) = world.plan(&expanded(vec![instance]), Some(&created)).await;
    assert!(!diagnostics.has_errors(), "{diagnostics:?}");
    let update = change(&plan, "thing");
    assert_eq!(update.action, Action::Update);
    let before = update.before.as_ref().unwrap();
    assert!(before["name"].is_secret());
    assert!(before["id"].is_secret());
    assert!(update.after["id"].is_secret());
    let bytes = PlanFile::new(&plan, &world.key, world.host.as_ref())
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains(CANARY), "{text}");
}

#[test]
fn known_objects_hold_only_the_computed_attributes_marked_as_in_the_whole_object() {
    let world = World::new();
    let host = world.host.as_ref();
    let registry = crate::providers::Registry::builtin();
    let attributes = |id: Value, inputs: Value| {
        Value::map(
            [
                ("id".to_owned(), id),
                ("inputs".to_owned(), inputs),
                ("triggers".to_owned(), Value::NULL),
            ]
            .into_iter()
            .collect(),
        )
    };
    let mut state = State::new(host);
    let mut record = |resource: ResourceAddr, value: Value| {
        let sealed = world.key.seal(host, &value).unwrap();
        state.set_instance(
            &resource,
            &ProviderAddr::named(resource.resource_type.split('_').next().unwrap()),
            InstanceState {
                key: InstanceKey::None,
                attributes: sealed.clone(),
                dependencies: Vec::new(),
                config: sealed,
            },
        );
    };
    record(
        ResourceAddr::managed(NULL_RESOURCE, "plain"),
        attributes(Value::string("i-1"), Value::string("open")),
    );
    // Sealed parts: the whole value is opened, and the marks kept.
    record(
        ResourceAddr::managed(NULL_RESOURCE, "sealed"),
        attributes(
            Value::string("i-2").with_secret(true),
            Value::string(CANARY).with_secret(true),
        ),
    );
    // A type no provider of this build offers keeps every attribute.
    record(
        ResourceAddr::managed("gone_thing", "old"),
        attributes(Value::string("i-3"), Value::string("open")),
    );
    let known = prior_attributes(&state, &world.key, &registry).unwrap();
    let whole = prior_objects(&state, &world.key).unwrap();
    assert_eq!(known.len(), 3);
    for (addr, attributes) in &known {
        let all = &whole[addr].object.attributes;
        if addr.resource.resource_type == NULL_RESOURCE {
            assert_eq!(attributes.keys().collect::<Vec<_>>(), ["id"], "{addr}");
            assert_eq!(attributes.get("id"), all.get("id"), "{addr}");
        } else {
            assert_eq!(attributes, all, "{addr}");
        }
    }
    let sealed =
        &known[&ResourceAddr::managed(NULL_RESOURCE, "sealed").instance(InstanceKey::None)]["id"];
    assert!(sealed.is_secret());
    assert_eq!(sealed.as_str(), Some("i-2"));
}

#[test]
fn attribute_drift_names_every_attribute_that_differs_in_name_order() {
    let map = |entries: &[(&str, Value)]| -> crate::providers::Attributes {
        entries
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    };
    let before = map(&[
        ("a", Value::number(1)),
        ("b", Value::string("x")),
        ("c", Value::string("s").with_secret(true)),
        ("e", Value::NULL),
    ]);
    let after = map(&[
        ("b", Value::string("y")),
        ("c", Value::string("s")),
        ("d", Value::number(2)),
        ("f", Value::NULL),
    ]);
    let drift = super::refresh::attribute_drift(&before, &after);
    let named: Vec<(&str, &Value, &Value)> = drift
        .iter()
        .map(|drift| (drift.name.as_str(), &drift.before, &drift.after))
        .collect();
    assert_eq!(
        named,
        [
            ("a", &Value::number(1), &Value::NULL),
            ("b", &Value::string("x"), &Value::string("y")),
            ("d", &Value::NULL, &Value::number(2)),
        ]
    );
    assert!(super::refresh::attribute_drift(&before, &before).is_empty());
    assert!(super::refresh::attribute_drift(&map(&[]), &map(&[("e", Value::NULL)])).is_empty());
}

#[tokio::test(start_paused = true)]
async fn bounded_calls_are_made_as_slots_free_up_and_answer_in_order() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let made = AtomicUsize::new(0);
    let done = Arc::new(AtomicUsize::new(0));
    let most_at_once = AtomicUsize::new(0);
    let futures = (0..20u64).map(|n| {
        let at_once = made.fetch_add(1, Ordering::SeqCst) + 1 - done.load(Ordering::SeqCst);
        most_at_once.fetch_max(at_once, Ordering::SeqCst);
        let done = done.clone();
        async move {
            // Later calls finish first.
            tokio::time::sleep(Duration::from_millis(20 - n)).await;
            done.fetch_add(1, Ordering::SeqCst);
            n * 2
        }
    });
    let results = run_bounded(3, futures).await;
    assert_eq!(results, (0..20).map(|n| Some(n * 2)).collect::<Vec<_>>());
    assert_eq!(made.load(Ordering::SeqCst), 20);
    assert!(most_at_once.load(Ordering::SeqCst) <= 3);
}
