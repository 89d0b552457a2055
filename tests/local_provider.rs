//! The `local` provider and the file-backed test world end to end: through
//! the binary (quickstart plans, applies, replans clean and destroys; a stack
//! of `test_resource`s validates, plans and applies only with
//! `INFRA_TEST_WORLD`), and through the library (state round trip and drift,
//! the apply engine driving the local provider).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::{TempDir, code, copy_tree, infra_env, stderr, stdout};
use std::path::PathBuf;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn quickstart_plans_its_files_without_writing_them() {
    // A copy, not the example in place: the README's first command applies
    // the example in the checkout, and its state must not change this plan.
    let dir = TempDir::new("quickstart-plan");
    copy_tree(&repo_root().join("examples/quickstart"), &dir.path);
    let out = dir.path.join("out");
    let output = infra_env(&dir.path, &["plan", "--env", "dev"], &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    for wanted in [
        "local_file.service_env[\"api\"] will be created",
        "local_file.service_env[\"worker\"] will be created",
        "local_file.session will be created",
        "path = \"out/dev/api.env\"",
        "Plan: 3 to add, 0 to change, 0 to destroy.",
    ] {
        assert!(text.contains(wanted), "missing {wanted}:\n{text}");
    }
    assert!(!out.exists(), "plan wrote files");
}

const WORLD_STACK: &str = r#"resource "test_resource" "a" {
  name  = "alpha"
  value = "one"
}

resource "test_resource" "b" {
  name  = "beta"
  value = test_resource.a.id
}
"#;

#[test]
fn the_test_world_is_offered_only_with_the_variable() {
    let stack = TempDir::new("world-stack");
    stack.write("main.infra", WORLD_STACK);
    let world = TempDir::new("world");
    let world_dir = world.path.to_str().unwrap();

    let output = infra_env(&stack.path, &["validate"], &[("INFRA_TEST_WORLD", "")]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(
        stderr(&output).contains("test_resource"),
        "{}",
        stderr(&output)
    );

    let output = infra_env(
        &stack.path,
        &["validate"],
        &[("INFRA_TEST_WORLD", world_dir)],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let output = infra_env(&stack.path, &["plan"], &[("INFRA_TEST_WORLD", world_dir)]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("test_resource.a will be created"), "{text}");
    assert!(text.contains("test_resource.b will be created"), "{text}");
    assert!(text.contains("Plan: 2 to add"), "{text}");
    // Planning creates nothing in the world.
    assert!(!world.path.join("objects").exists());
    assert!(!world.path.join("creates.log").exists());

    // A malformed hook is an error, not a different trial.
    let output = infra_env(
        &stack.path,
        &["plan"],
        &[
            ("INFRA_TEST_WORLD", world_dir),
            ("INFRA_TEST_LATENCY_MS", "soon"),
        ],
    );
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(
        stderr(&output).contains("INFRA_TEST_LATENCY_MS"),
        "{}",
        stderr(&output)
    );
}

/// Plans a stack of local files and folders through the library, creates
/// them as apply would, records them in state, and plans again: nothing to
/// do; then a file edited outside is an update and one deleted outside is a
/// create again.
#[test]
fn local_objects_round_trip_through_state_and_detect_drift() {
    use infra::host::{Host, RealHost};
    use infra::lang::Value;
    use infra::plan::{Action, Reason};
    use infra::providers::ProviderSet;
    use infra::state::{InstanceState, Key, KeySource, SealedValue, State};
    use std::sync::Arc;

    let stack = TempDir::new("local-roundtrip");
    stack.write(
        "main.infra",
        r#"resource "local_directory" "conf" {
  path = "conf"
}

resource "local_file" "app" {
  path        = "${local_directory.conf.path}/app.ini"
  content     = "port = 8080\n"
  permissions = "0640"
}

resource "local_file" "blob" {
  path           = "blob.bin"
  content_base64 = "AAEC"
}
"#,
    );
    let host: Arc<dyn Host> = Arc::new(RealHost);
    let checked = infra::pipeline::check(host.as_ref(), &stack.path);
    assert!(
        !checked.diagnostics.has_errors(),
        "{:?}",
        checked.diagnostics
    );
    let (expanded, diagnostics) =
        infra::pipeline::expand(host.as_ref(), &checked, &Default::default());
    assert!(!diagnostics.has_errors(), "{diagnostics:?}");
    let expanded = expanded.unwrap();
    let providers = ProviderSet::builtin(host.clone(), &stack.path);
    let key = Key::from_bytes([7; 32], KeySource::Env);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let plan = |prior: Option<&State>| {
        let request = infra::plan::Request {
            stack: String::from("roundtrip"),
            expanded: &expanded,
            prior,
            key: &key,
            providers: &providers,
            refresh: true,
            targets: Vec::new(),
            replace: Vec::new(),
            allow_destroy: false,
            parallelism: 2,
            config_digest: String::new(),
        };
        let (plan, diagnostics) = runtime.block_on(infra::plan::plan(&request));
        assert!(!diagnostics.has_errors(), "{diagnostics:?}");
        plan.unwrap()
    };
    let actions = |plan: &infra::plan::Plan| {
        plan.changes
            .iter()
            .map(|change| (change.addr.to_string(), change.action, change.reason))
            .collect::<Vec<_>>()
    };

    let first = plan(None);
    assert!(first.changes.iter().all(|c| c.action == Action::Create));
    assert_eq!(first.changes.len(), 3);

    // Apply the creates in plan order (the folder first) and record them.
    let mut state = State::new(host.as_ref());
    state.serial = 1;
    for change in &first.changes {
        let provider = providers.get(&change.provider).unwrap();
        // The file's path is unknown until the folder exists, as in apply.
        let instance = &expanded.instances[&change.addr];
        let mut proposed = instance.attributes.clone();
        if change.resource_type == "local_file" && proposed["path"].is_unknown() {
            proposed.insert("path".to_owned(), Value::string("conf/app.ini"));
        }
        let planned = runtime
            .block_on(provider.plan_change(&change.resource_type, None, &proposed))
            .unwrap();
        let object = runtime
            .block_on(provider.create(
                &infra::providers::Operation::detached(),
                &change.resource_type,
                &planned.planned,
            ))
            .unwrap();
        let attributes = key
            .seal(host.as_ref(), &Value::map(object.attributes))
            .unwrap();
        state.set_instance(
            &change.addr.resource,
            &change.provider,
            InstanceState {
                key: change.addr.key.clone(),
                attributes,
                dependencies: instance.dependencies.to_vec(),
                config: SealedValue::default(),
            },
        );
    }
    assert_eq!(stack.read("conf/app.ini"), b"port = 8080\n");
    assert_eq!(stack.read("blob.bin"), [0, 1, 2]);

    let second = plan(Some(&state));
    assert!(
        second.changes.iter().all(|c| c.action == Action::NoOp),
        "{:?}",
        actions(&second)
    );
    assert!(second.drift.is_empty(), "{:?}", second.drift);

    stack.write("conf/app.ini", "port = 9090\n");
    std::fs::remove_file(stack.path.join("blob.bin")).unwrap();
    let third = plan(Some(&state));
    let got = actions(&third);
    assert!(
        got.contains(&("local_file.app".to_owned(), Action::Update, None)),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "local_file.blob".to_owned(),
            Action::Create,
            Some(Reason::DeletedOutside)
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&("local_directory.conf".to_owned(), Action::NoOp, None)),
        "{got:?}"
    );
}

/// The apply engine drives the local provider: a folder, a file with a mode
/// and a sensitive file are made; planning again against the new state finds
/// nothing to do.
#[test]
fn the_apply_engine_creates_local_files_and_a_second_plan_is_empty() {
    use infra::apply::{Options, Recorder, Resolved, Resolver};
    use infra::diag::Diagnostics;
    use infra::host::{Host, RealHost};
    use infra::plan::Action;
    use infra::providers::{Attributes, ObjectState, ProviderSet};
    use infra::state::{JournalRecord, Key, KeySource, State, StateError};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    struct Fixed(Resolved);
    impl Resolver for Fixed {
        fn resolve(
            &self,
            _applied: &Arc<BTreeMap<infra::addr::InstanceAddr, ObjectState>>,
            _wanted: &std::collections::BTreeSet<infra::addr::InstanceAddr>,
        ) -> Result<Resolved, Diagnostics> {
            Ok(self.0.clone())
        }
    }
    struct Records(usize);
    impl Recorder for Records {
        fn record(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
            self.0 += records.len();
            Ok(())
        }
    }

    let stack = TempDir::new("local-apply");
    stack.write(
        "main.infra",
        r#"resource "local_directory" "out" {
  path = "out"
}

resource "local_file" "conf" {
  path        = "out/app.conf"
  content     = "mode = fast\n"
  permissions = "0640"
  depends_on  = [local_directory.out]
}

resource "local_file" "token" {
  path              = "out/token"
  sensitive_content = "t0ken-never-shown"
  depends_on        = [local_directory.out]
}
"#,
    );
    let host: Arc<dyn Host> = Arc::new(RealHost);
    let checked = infra::pipeline::check(host.as_ref(), &stack.path);
    assert!(
        !checked.diagnostics.has_errors(),
        "{:?}",
        checked.diagnostics
    );
    let (expanded, diagnostics) =
        infra::pipeline::expand(host.as_ref(), &checked, &Default::default());
    assert!(!diagnostics.has_errors(), "{diagnostics:?}");
    let expanded = expanded.unwrap();
    let providers = ProviderSet::builtin(host.clone(), &stack.path);
    let key = Key::from_bytes([9; 32], KeySource::Env);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let plan = |prior: Option<&State>| {
        let request = infra::plan::Request {
            stack: String::from("apply"),
            expanded: &expanded,
            prior,
            key: &key,
            providers: &providers,
            refresh: true,
            targets: Vec::new(),
            replace: Vec::new(),
            allow_destroy: false,
            parallelism: 2,
            config_digest: String::new(),
        };
        let (plan, diagnostics) = runtime.block_on(infra::plan::plan(&request));
        assert!(!diagnostics.has_errors(), "{diagnostics:?}");
        plan.unwrap()
    };

    let first = plan(None);
    // The configuration as a resolver hands it over once everything is
    // known: without the placeholders expansion puts for computed attributes
    // (`id`, and `permissions` when unset).
    let instances: BTreeMap<_, Attributes> = expanded
        .instances
        .iter()
        .map(|(addr, instance)| {
            let mut attributes = instance.attributes.clone();
            attributes.retain(|_, value| !value.is_unknown());
            (addr.clone(), attributes)
        })
        .collect();
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let request = infra::apply::Request {
        plan: &first,
        expanded: &expanded,
        providers: &providers,
        key: &key,
        host: host.as_ref(),
        options: Options::default(),
        resolver: Arc::new(Fixed(Resolved {
            instances,
            outputs: BTreeMap::new(),
        })),
        generated_secrets: BTreeMap::new(),
        events: None,
        cancel,
    };
    let mut records = Records(0);
    let report = runtime.block_on(infra::apply::apply(
        request,
        State::new(host.as_ref()),
        &mut records,
    ));
    assert!(!report.failed(), "{:?}", report.all_diagnostics());
    assert_eq!(report.results.len(), 3);
    assert!(records.0 > 0);
    assert_eq!(stack.read("out/app.conf"), b"mode = fast\n");
    assert_eq!(stack.read("out/token"), b"t0ken-never-shown");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            std::fs::metadata(stack.path.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("out/app.conf"), 0o640);
        assert_eq!(mode("out/token"), 0o600);
    }

    let second = plan(Some(&report.state));
    let actions: Vec<_> = second
        .changes
        .iter()
        .map(|c| (c.addr.to_string(), c.action))
        .collect();
    assert!(
        second.changes.iter().all(|c| c.action == Action::NoOp),
        "{actions:?}"
    );
}

/// A copy of `examples/quickstart` applied by the binary: the files appear
/// (the secret one owner-only), a second plan is empty, an edit outside is
/// planned as an update, and destroy removes them.
#[test]
fn quickstart_applies_replans_clean_and_destroys() {
    let stack = TempDir::new("quickstart-apply");
    let source = repo_root().join("examples/quickstart/main.infra");
    stack.write("main.infra", std::fs::read(source).unwrap());
    let run = |args: &[&str]| infra_env(&stack.path, args, &[]);

    let output = run(&["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let api = String::from_utf8(stack.read("out/dev/api.env")).unwrap();
    assert_eq!(api, "GREETING=hello\nPORT=8080\nREPLICAS=1\n");
    let key = stack.read("out/dev/session.key");
    assert_eq!(key.len(), 24);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(stack.path.join("out/dev/session.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let secret = String::from_utf8(key).unwrap();
    assert!(!stdout(&output).contains(&secret) && !stderr(&output).contains(&secret));

    let output = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));

    stack.write("out/dev/worker.env", "edited\n");
    let output = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("local_file.service_env[\"worker\"] will be updated in place"),
        "{text}"
    );
    assert!(!text.contains(&secret));

    let output = run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    for name in ["api.env", "worker.env", "session.key"] {
        assert!(!stack.path.join("out/dev").join(name).exists(), "{name}");
    }
}

/// The binary applies `test_resource`s into the world folder: one JSON file
/// and one `creates.log` line per object, and a second apply creates nothing.
#[test]
fn the_binary_applies_into_the_test_world() {
    let stack = TempDir::new("world-apply");
    stack.write("main.infra", WORLD_STACK);
    let world = TempDir::new("world-apply-dir");
    let envs = [("INFRA_TEST_WORLD", world.path.to_str().unwrap())];
    let output = infra_env(&stack.path, &["apply", "--auto-approve"], &envs);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let log = String::from_utf8(world.read("creates.log")).unwrap();
    let mut names: Vec<&str> = log.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    names.sort_unstable();
    assert_eq!(names, ["alpha", "beta"]);
    let objects = std::fs::read_dir(world.path.join("objects"))
        .unwrap()
        .count();
    assert_eq!(objects, 2);

    let output = infra_env(&stack.path, &["apply", "--auto-approve"], &envs);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(String::from_utf8(world.read("creates.log")).unwrap(), log);
}

#[test]
fn plan_takes_the_same_parallelism_bound_as_apply() {
    // Six objects, every world call slowed down, so the calls that may run
    // together do; the world writes the most it saw at once to
    // `max-in-flight`.
    let stack = TempDir::new("world-parallelism");
    let mut text = String::new();
    for i in 0..6 {
        text.push_str(&format!(
            "resource \"test_resource\" \"r{i}\" {{\n  name  = \"r{i}\"\n  value = \"v\"\n}}\n\n"
        ));
    }
    stack.write("main.infra", text);
    let world = TempDir::new("world-parallelism-world");
    let world_dir = world.path.to_str().unwrap();
    let env = [
        ("INFRA_TEST_WORLD", world_dir),
        ("INFRA_TEST_LATENCY_MS", "300"),
        ("INFRA_TEST_LATENCY_AFTER_MS", "0"),
    ];
    let max_in_flight = |args: &[&str]| {
        let _ = std::fs::remove_file(world.path.join("max-in-flight"));
        let output = infra_env(&stack.path, args, &env);
        assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
        String::from_utf8(world.read("max-in-flight")).unwrap()
    };
    // Apply creates the six, at most two at once.
    let apply = max_in_flight(&["apply", "--auto-approve", "--parallelism", "2"]);
    assert_eq!(apply, "2\n", "apply --parallelism 2");
    // Plan refreshes the six (one read each), at most as many at once as
    // apply: two, then three.
    assert_eq!(max_in_flight(&["plan", "--parallelism", "2"]), apply);
    assert_eq!(max_in_flight(&["plan", "--parallelism", "3"]), "3\n");

    // Zero is refused before anything runs, as for `apply`.
    for command in ["plan", "apply"] {
        let output = infra_env(&stack.path, &[command, "--parallelism", "0"], &env);
        assert_eq!(code(&output), 1, "{command}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("--parallelism"),
            "{}",
            stderr(&output)
        );
    }
}
