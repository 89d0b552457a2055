//! Plan scenarios: each folder of `tests/corpus/plan/` is a stack
//! (`main.infra`), an optional prior state (`state.json`) and an optional
//! world of the `test` provider (`world.json`). Each runs through check →
//! graph → expand → plan with the `test` and `null` providers, and the plan is
//! snapshotted in all three formats (`tests/snapshots/plan_scenarios/`).
//! Every scenario also checks that the plan survives a plan file unchanged
//! and that the planted secret appears nowhere.
//!
//! `state.json` (a fixture format, not the state file format):
//! `{ "serial": 4, "instances": [ { "address": "test_resource.a",
//! "provider": "test", "attributes": { "name": "a", "id": "a-1" },
//! "secret": ["value"], "dependencies": ["test_resource.b"] } ],
//! "outputs": { "name": "value" } }`. The harness builds a real `State` with
//! the library and seals it with a fixed test key.
//!
//! `world.json`: `{ "test_resource": { "ID": { attributes } } }`, the
//! provider's objects as they are now. Without it, the world holds exactly
//! the prior state's `test_resource` objects (no drift).
//!
//! Secrets: `secret` blocks may read the environment variable
//! `SCENARIO_SECRET`, whose value must never be seen.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use infra::addr::InstanceAddr;
use infra::diag::Diagnostics;
use infra::expand::Expanded;
use infra::host::{Host, MemoryHost};
use infra::lang::Value;
use infra::plan::{Plan, PlanFile, Request};
use infra::providers::null::NullProvider;
use infra::providers::test::{Op, TEST_RESOURCE, TestProvider};
use infra::providers::{Attributes, ProviderSet, Registry};
use infra::render::plan::{human, json, markdown};
use infra::state::{InstanceState, Key, KeySource, OutputState, SealedValue, State};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The value of the planted secret; it must never be seen.
const CANARY: &str = "canary-sc3n4r10-s3cr3t";

/// The scenarios whose plan carries the planted secret (in memory, marked
/// secret). The others must not: a scenario meant to use it that silently
/// stopped would make its leak check vacuous.
const USES_CANARY: &[&str] = &["secret_attribute"];

/// Whether the plan, in memory, holds the planted secret in a change.
fn plan_carries_the_canary(plan: &Plan) -> bool {
    plan.changes.iter().any(|change| {
        change
            .after
            .iter()
            .chain(change.before.iter().flat_map(|before| before.iter()))
            .any(|(_, value)| value.reveal().to_string().contains(CANARY))
    })
}

/// What one scenario produced.
struct Outcome {
    plan: Plan,
    diagnostics: Diagnostics,
    provider: Arc<TestProvider>,
    plan_file: Vec<u8>,
    key: Key,
}

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/plan")
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// A value from fixture JSON, with the named top-level attributes marked secret.
fn attributes(json: &serde_json::Value, secret: &[String]) -> Attributes {
    let mut attributes: Attributes = Value::from_json(json)
        .as_map()
        .cloned()
        .expect("attributes are an object");
    for name in secret {
        if let Some(value) = attributes.get_mut(name) {
            *value = value.clone().with_secret(true);
        }
    }
    attributes
}

/// Builds the prior state from `state.json`; returns it and the `test_resource` objects in it.
fn prior_state(
    fixture: &serde_json::Value,
    host: &dyn Host,
    key: &Key,
) -> (State, BTreeMap<String, Attributes>) {
    let mut state = State::new(host);
    state.lineage = String::from("scenario-lineage");
    state.serial = fixture["serial"].as_u64().unwrap_or(1);
    let mut objects = BTreeMap::new();
    for instance in fixture["instances"].as_array().into_iter().flatten() {
        let addr: InstanceAddr = instance["address"].as_str().unwrap().parse().unwrap();
        let secret: Vec<String> = instance["secret"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        let attrs = attributes(&instance["attributes"], &secret);
        let dependencies = instance["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let target: InstanceAddr = d.as_str().unwrap().parse().unwrap();
                target.resource
            })
            .collect();
        let provider: infra::addr::ProviderAddr = instance["provider"]
            .as_str()
            .unwrap_or("test")
            .parse()
            .unwrap();
        if addr.resource.resource_type == TEST_RESOURCE {
            let id = attrs["id"].as_str().expect("an id").to_owned();
            objects.insert(id, attrs.clone());
        }
        let sealed = key.seal(host, &Value::map(attrs)).unwrap();
        state.set_instance(
            &addr.resource,
            &provider,
            InstanceState {
                key: addr.key.clone(),
                attributes: sealed,
                dependencies,
                config: SealedValue::default(),
            },
        );
    }
    if let Some(outputs) = fixture["outputs"].as_object() {
        for (name, value) in outputs {
            let value = key.seal(host, &Value::from_json(value)).unwrap();
            state.outputs.insert(
                name.clone(),
                OutputState {
                    value,
                    sensitive: false,
                },
            );
        }
    }
    (state, objects)
}

fn render_diagnostics(diagnostics: &Diagnostics) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics.iter() {
        out.push_str(&format!(
            "{:?} {}: {}\n  help: {}\n",
            diagnostic.severity,
            diagnostic.code.as_str(),
            diagnostic
                .primary
                .as_ref()
                .map(|label| label.text.clone())
                .or_else(|| diagnostic.path.clone())
                .unwrap_or_default(),
            diagnostic.help.clone().unwrap_or_default()
        ));
    }
    out
}

/// Every `.infra` file under `dir`, recursively (child modules live in subfolders).
fn infra_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(infra_files(&path));
        } else if path.extension().is_some_and(|e| e == "infra") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Runs the scenario in `dir`.
fn run(dir: &Path) -> Outcome {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let stack_dir = PathBuf::from("/scenarios").join(&name);
    let mut host = MemoryHost::new()
        .with_env("SCENARIO_SECRET", CANARY)
        .with_now(1_700_000_000);
    for path in infra_files(dir) {
        let relative = path.strip_prefix(dir).unwrap();
        host = host.with_file(stack_dir.join(relative), std::fs::read(&path).unwrap());
    }
    let host = Arc::new(host);
    let key = Key::from_bytes([42; 32], KeySource::Env);

    let mut registry = Registry::builtin();
    registry.add_resource(TestProvider::schema());
    let (mut stack, mut diagnostics) = infra::check::load(host.as_ref(), &stack_dir);
    let (config, check_diagnostics) =
        infra::check::check_with_registry(host.as_ref(), &mut stack, &registry);
    diagnostics.extend(check_diagnostics);
    assert!(
        !diagnostics.has_errors(),
        "{name}: check failed:\n{}",
        render_diagnostics(&diagnostics)
    );
    let (graph, graph_diagnostics) = infra::graph::build(&config);
    assert!(!graph_diagnostics.has_errors(), "{name}: graph failed");
    let (expanded, expand_diagnostics) = infra::expand::expand(
        &config,
        &graph,
        &infra::expand::Request::default(),
        host.as_ref(),
        &stack_dir,
        &registry,
    );
    assert!(
        !expand_diagnostics.has_errors(),
        "{name}: expand failed:\n{}",
        render_diagnostics(&expand_diagnostics)
    );
    let expanded: Expanded = expanded.expect("expanded");

    let provider = Arc::new(TestProvider::new());
    let prior = read_json(&dir.join("state.json")).map(|fixture| {
        let (state, objects) = prior_state(&fixture, host.as_ref(), &key);
        for (id, attrs) in objects {
            provider.put_object(TEST_RESOURCE, &id, attrs);
        }
        state
    });
    // A provider that plans each update as a deploy of these steps.
    if let Some(deploy) = read_json(&dir.join("deploy.json")) {
        provider.set_deploy_steps(Some(serde_json::from_value(deploy).expect("deploy.json")));
    }
    if let Some(world) = read_json(&dir.join("world.json")) {
        for (id, _) in provider.world().into_keys().map(|(_, id)| (id, ())) {
            provider.remove_object(TEST_RESOURCE, &id);
        }
        for (id, attrs) in world[TEST_RESOURCE].as_object().into_iter().flatten() {
            provider.put_object(TEST_RESOURCE, id, attributes(attrs, &[]));
        }
    }
    let providers = ProviderSet::new()
        .with(provider.clone())
        .with(Arc::new(NullProvider::new(host.clone())));
    let request = Request {
        stack: config.stack.name.clone(),
        expanded: &expanded,
        prior: prior.as_ref(),
        key: &key,
        providers: &providers,
        refresh: true,
        targets: Vec::new(),
        replace: Vec::new(),
        allow_destroy: false,
        parallelism: 4,
        config_digest: infra::plan::config_digest(&[("main.infra".into(), name.clone())], &[]),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (plan, plan_diagnostics) = runtime.block_on(infra::plan::plan(&request));
    let plan = plan.unwrap_or_else(|| {
        panic!(
            "{name}: no plan:\n{}",
            render_diagnostics(&plan_diagnostics)
        )
    });
    let plan_file = PlanFile::new(&plan, &key, host.as_ref())
        .expect("a plan file")
        .to_bytes();
    Outcome {
        plan,
        diagnostics: plan_diagnostics,
        provider,
        plan_file,
        key,
    }
}

fn scenario(name: &str) -> Outcome {
    let dir = scenarios_dir().join(name);
    assert!(dir.is_dir(), "no scenario {name}");
    let outcome = run(&dir);
    let plan = &outcome.plan;
    let mut text = human(plan);
    if !outcome.diagnostics.is_empty() {
        text.push_str("\n--- diagnostics ---\n");
        text.push_str(&render_diagnostics(&outcome.diagnostics));
    }
    let json_text = json(plan);
    let markdown_text = markdown(plan);
    for (format, output) in [
        ("human", &text),
        ("json", &json_text),
        ("markdown", &markdown_text),
    ] {
        assert!(
            !output.contains(CANARY),
            "{name}: the secret leaked in {format}"
        );
    }
    assert!(
        !String::from_utf8_lossy(&outcome.plan_file).contains(CANARY),
        "{name}: the secret leaked in the plan file"
    );
    assert_eq!(
        plan_carries_the_canary(plan),
        USES_CANARY.contains(&name),
        "{name}: whether the plan carries the planted secret (USES_CANARY lists the \
         scenarios that must)"
    );
    // A saved plan renders the same as the plan it was made from.
    let reloaded = PlanFile::parse(&outcome.plan_file, &outcome.key)
        .and_then(|file| file.to_plan(&outcome.key))
        .expect("the plan file opens");
    assert_eq!(human(&reloaded), human(plan), "{name}: saved plan differs");
    assert_eq!(json(&reloaded), json_text, "{name}: saved plan differs");
    assert_eq!(
        markdown(&reloaded),
        markdown_text,
        "{name}: saved plan differs"
    );
    insta::with_settings!({
        snapshot_path => "snapshots/plan_scenarios",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(format!("{name}__human"), text);
        insta::assert_snapshot!(format!("{name}__json"), json_text);
        insta::assert_snapshot!(format!("{name}__markdown"), markdown_text);
    });
    outcome
}

/// Every folder has a test below, so none is forgotten.
#[test]
fn every_scenario_folder_is_tested() {
    let source = std::fs::read_to_string(file!()).unwrap();
    for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            source.contains(&format!("scenario(\"{name}\")")),
            "scenario folder {name} has no test in {}",
            file!()
        );
    }
}

#[test]
fn create_only() {
    let outcome = scenario("create_only");
    let summary = outcome.plan.summary();
    assert_eq!((summary.add, summary.change, summary.destroy), (3, 0, 0));
    assert_eq!(outcome.plan.impact.rollback.supersedes, None);
    assert!(outcome.plan.impact.blast_radius.is_empty());
}

#[test]
fn no_op() {
    let outcome = scenario("no_op");
    assert!(!outcome.plan.has_changes());
}

#[test]
fn update_in_place() {
    let outcome = scenario("update_in_place");
    let blast = &outcome.plan.impact.blast_radius;
    assert_eq!(blast.len(), 1, "{blast:?}");
    assert_eq!(blast[0].addr.to_string(), "test_resource.db");
    assert_eq!(blast[0].downstream, 1);
    assert_eq!(
        outcome.plan.impact.rollback.command.as_deref(),
        Some("infra rollback --env default --to 7")
    );
}

#[test]
fn deploy_steps() {
    let outcome = scenario("deploy_steps");
    let db = outcome
        .plan
        .changes
        .iter()
        .find(|change| change.addr.to_string() == "test_resource.db")
        .unwrap();
    let deploy = db.deploy.as_ref().expect("the update is a deploy");
    assert_eq!(deploy.strategy, "blue-green");
    assert_eq!(deploy.steps.len(), 6);
    let text = human(&outcome.plan);
    assert!(
        text.contains(
            "~ test_resource.db will be deployed blue-green: start green on :8101 → health → \
             switch router → smoke → watch 5m → stop blue"
        ),
        "{text}"
    );
    assert!(
        text.contains("deploys blue-green: downtime: none (blue-green)"),
        "{text}"
    );
}

#[test]
fn replace_forced() {
    let outcome = scenario("replace_forced");
    assert_eq!(outcome.plan.impact.downtime.len(), 1);
}

#[test]
fn create_before_destroy() {
    let outcome = scenario("create_before_destroy");
    assert!(outcome.plan.impact.downtime.is_empty());
}

#[test]
fn delete_removed() {
    scenario("delete_removed");
}

#[test]
fn drift_changed() {
    let outcome = scenario("drift_changed");
    assert_eq!(outcome.plan.drift.len(), 1);
}

#[test]
fn deleted_outside() {
    scenario("deleted_outside");
}

#[test]
fn ignore_changes() {
    let outcome = scenario("ignore_changes");
    assert!(!outcome.plan.has_changes());
}

#[test]
fn prevent_destroy() {
    let outcome = scenario("prevent_destroy");
    assert!(outcome.diagnostics.has_errors());
}

#[test]
fn protected_env() {
    let outcome = scenario("protected_env");
    // The plan is whole and without error; it names what apply refuses.
    assert!(!outcome.diagnostics.has_errors());
    assert_eq!(outcome.plan.impact.downtime.len(), 2);
    let refused: Vec<String> = outcome
        .plan
        .impact
        .refused
        .iter()
        .map(|item| item.addr.to_string())
        .collect();
    assert_eq!(refused, ["test_resource.old"]);
}

#[test]
fn import_block() {
    let outcome = scenario("import_block");
    let imports = outcome.provider.calls_of(Op::Import);
    let ids: Vec<_> = imports.iter().filter_map(|c| c.id.clone()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"db-7".to_owned()) && ids.contains(&"cache-3".to_owned()));
    assert_eq!(outcome.plan.summary().import, 2);
    // Planning imports nothing into the world or the state: it only reads.
    assert!(outcome.provider.calls_of(Op::Create).is_empty());
}

#[test]
fn moved_block() {
    let outcome = scenario("moved_block");
    assert_eq!(outcome.plan.summary().moved, 4);
    assert_eq!(outcome.plan.summary().destroy, 0);
    assert_eq!(outcome.plan.summary().add, 0);
}

#[test]
fn module_for_each() {
    let outcome = scenario("module_for_each");
    let summary = outcome.plan.summary();
    // New: `index`, `first_worker`; imported: `site["docs"]`; gone:
    // `site["gone"]` and `worker[2]`; moved: `legacy` and `site["old"]`.
    assert_eq!(
        (
            summary.add,
            summary.change,
            summary.destroy,
            summary.moved,
            summary.import
        ),
        (2, 0, 2, 2, 1)
    );
    let moves: Vec<(String, String)> = outcome
        .plan
        .changes
        .iter()
        .filter_map(|c| Some((c.moved_from.as_ref()?.to_string(), c.addr.to_string())))
        .collect();
    assert_eq!(
        moves,
        [
            (
                "module.legacy.test_resource.this".to_owned(),
                "module.site[\"blog\"].test_resource.this".to_owned()
            ),
            (
                "module.site[\"old\"].test_resource.this".to_owned(),
                "module.site[\"shop\"].test_resource.this".to_owned()
            ),
        ]
    );
}

#[test]
fn moved_conflict() {
    let outcome = scenario("moved_conflict");
    let codes: Vec<_> = outcome
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, ["infra::plan::moved_conflict"]);
}

#[test]
fn for_each() {
    scenario("for_each");
}

#[test]
fn secret_attribute() {
    let outcome = scenario("secret_attribute");
    assert!(
        outcome
            .plan
            .impact
            .rollback
            .irreversible
            .iter()
            .any(|item| item.subject == "secret.password")
    );
}

#[test]
fn blast_chain() {
    let outcome = scenario("blast_chain");
    let network = outcome
        .plan
        .impact
        .blast_radius
        .iter()
        .find(|b| b.addr.to_string() == "test_resource.network")
        .expect("the network's blast radius");
    assert_eq!(network.downstream, 6);
    assert_eq!(network.named.len(), 5);
    assert_eq!(network.named[0].to_string(), "test_resource.subnet");
}

#[test]
fn blast_keyed() {
    let outcome = scenario("blast_keyed");
    let blast = |addr: &str| {
        outcome
            .plan
            .impact
            .blast_radius
            .iter()
            .find(|b| b.addr.to_string() == addr)
            .map(|b| {
                let named: Vec<String> = b.named.iter().map(ToString::to_string).collect();
                (b.downstream, named)
            })
    };
    // `billing` names only the payments team: the platform team does not reach it.
    assert_eq!(
        blast("test_resource.team[\"platform\"]"),
        Some((1, vec!["test_resource.report".to_owned()]))
    );
    assert_eq!(
        blast("test_resource.team[\"payments\"]"),
        Some((
            3,
            vec![
                "test_resource.billing".to_owned(),
                "test_resource.report".to_owned(),
                "test_resource.page".to_owned()
            ]
        ))
    );
}

#[test]
fn create_before_destroy_inherited() {
    let outcome = scenario("create_before_destroy_inherited");
    let db = outcome
        .plan
        .changes
        .iter()
        .find(|c| c.addr.to_string() == "test_resource.db")
        .unwrap();
    assert_eq!(
        db.action,
        infra::plan::Action::Replace {
            create_before_destroy: true
        }
    );
    assert!(outcome.plan.impact.downtime.is_empty());
}

#[test]
fn replace_triggered_by() {
    let outcome = scenario("replace_triggered_by");
    let action = |name: &str| {
        outcome
            .plan
            .changes
            .iter()
            .find(|c| c.addr.to_string() == name)
            .map(|c| (c.action, c.reason))
            .unwrap()
    };
    assert_eq!(
        action("test_resource.server"),
        (
            infra::plan::Action::Replace {
                create_before_destroy: false
            },
            Some(infra::plan::Reason::ReplaceTriggered)
        )
    );
    assert_eq!(action("test_resource.other").0, infra::plan::Action::NoOp);
}
