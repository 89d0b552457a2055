//! `infra state …`, `infra force-unlock`, `infra output` and `infra init` end
//! to end: states are built through the library (`LocalBackend` on the real
//! machine), then the binary is run against them. Covers the lock between
//! real processes, refusals of hand-edited state that leave the file as it
//! was, and a canary secret that must never show up in any output or file.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;
use infra::addr::{InstanceKey, ModulePath, ResourceAddr};
use infra::host::RealHost;
use infra::lang::Value;
use infra::state::{InstanceState, Key, LocalBackend, OutputState, State, StateFile};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{TempDir, code, files_under, stderr, stdout};

/// The secret planted in state and in the environment; it must never be seen.
const CANARY: &str = "canary-st4te-s3cr3t-7d1e";

const STACK: &str = r#"stack "demo" {
  default_environment = "dev"
}

environment "dev" {}

environment "prod" {}

secret "s" {
  env = "S"
}

resource "null_resource" "a" {
  triggers = { token = secret.s }
}
"#;

/// How many instances `null_resource.w[i]` the seeded state has.
const WORKERS: usize = 6;

fn infra(dir: &Path, args: &[&str]) -> Output {
    common::infra_env(dir, args, &[("S", CANARY)])
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn instance(
    key: &Key,
    instance_key: InstanceKey,
    attributes: &Value,
    deps: &[ResourceAddr],
) -> InstanceState {
    let host = RealHost;
    InstanceState {
        key: instance_key,
        attributes: key.seal(&host, attributes).unwrap(),
        dependencies: deps.to_vec(),
        config: key.seal(&host, attributes).unwrap(),
    }
}

/// The state every test starts from: a file with a secret attribute, a
/// resource depending on it, workers, a module-nested resource, a plain and
/// a sensitive output.
fn seeded_state(host: &RealHost, key: &Key) -> State {
    let mut state = State::new(host);
    let config = ResourceAddr::managed("local_file", "config");
    state.set_instance(
        &config,
        &infra::addr::ProviderAddr::named("local"),
        instance(
            key,
            InstanceKey::None,
            &map(&[
                ("path", Value::string("out/app.env")),
                ("content", Value::string("PORT=8080")),
                ("sensitive_content", Value::string(CANARY).with_secret(true)),
            ]),
            &[],
        ),
    );
    state.set_instance(
        &ResourceAddr::managed("null_resource", "dep"),
        &infra::addr::ProviderAddr::named("null"),
        instance(
            key,
            InstanceKey::None,
            &map(&[("id", Value::string("d1"))]),
            &[config],
        ),
    );
    for i in 0..WORKERS {
        state.set_instance(
            &ResourceAddr::managed("null_resource", "w"),
            &infra::addr::ProviderAddr::named("null"),
            instance(
                key,
                InstanceKey::Int(i as i64),
                &map(&[("id", Value::string(format!("w{i}")))]),
                &[],
            ),
        );
    }
    let mut nested = ResourceAddr::managed("null_resource", "x");
    nested.module = ModulePath::from_names(&["net"]);
    state.set_instance(
        &nested,
        &infra::addr::ProviderAddr::named("null"),
        instance(
            key,
            InstanceKey::None,
            &map(&[("id", Value::string("x1"))]),
            &[],
        ),
    );
    state.outputs.insert(
        String::from("url"),
        OutputState {
            value: key
                .seal(host, &Value::string("http://localhost:8080"))
                .unwrap(),
            sensitive: false,
        },
    );
    state.outputs.insert(
        String::from("token"),
        OutputState {
            value: key
                .seal(host, &Value::string(CANARY).with_secret(true))
                .unwrap(),
            sensitive: true,
        },
    );
    state
}

/// Writes `state` as the next version of `environment`.
fn write(dir: &Path, environment: &str, state: &mut State, summary: &str) {
    let host = RealHost;
    let backend = LocalBackend::new(&host, dir, "demo", environment);
    let key = backend.key().unwrap();
    let lock = backend.lock("test", Duration::ZERO, &mut |_| {}).unwrap();
    backend.write(&lock, state, &key, summary).unwrap();
}

/// A stack folder with a seeded `dev` state (version 1).
fn seeded(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write("main.infra", STACK);
    let host = RealHost;
    let backend = LocalBackend::new(&host, &dir.path, "demo", "dev");
    let key = backend.key().unwrap();
    let mut state = seeded_state(&host, &key);
    write(&dir.path, "dev", &mut state, "seed");
    dir
}

fn state_path(dir: &Path, environment: &str) -> PathBuf {
    dir.join(format!(".infra/state/demo/{environment}.json"))
}

fn history_versions(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(".infra/state/demo/dev.history"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count()
}

fn list(dir: &Path) -> Vec<String> {
    let output = infra(dir, &["state", "list"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    stdout(&output).lines().map(str::to_owned).collect()
}

fn history_json(dir: &Path) -> serde_json::Value {
    let output = infra(dir, &["state", "history", "--json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

fn entries<'a>(history: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn assert_fails_with(output: &Output, code_str: &str) {
    assert_eq!(code(output), 1, "{}\n{}", stdout(output), stderr(output));
    let err = stderr(output);
    assert!(err.contains(code_str), "expected {code_str}:\n{err}");
    assert!(err.contains("help:"), "no help line:\n{err}");
}

// ---- list, show ---------------------------------------------------------------

#[test]
fn list_prints_every_instance_and_filters_by_address() {
    let dir = seeded("list");
    let all = list(&dir.path);
    assert_eq!(all.len(), 3 + WORKERS, "{all:?}");
    assert!(all.contains(&String::from("local_file.config")));
    assert!(all.contains(&String::from("null_resource.w[5]")));
    assert!(all.contains(&String::from("module.net.null_resource.x")));
    let output = infra(
        &dir.path,
        &["state", "list", "module.net", "null_resource.w"],
    );
    let text = stdout(&output);
    let filtered: Vec<&str> = text.lines().collect();
    assert_eq!(filtered.len(), 1 + WORKERS, "{filtered:?}");
    assert!(!filtered.contains(&"local_file.config"));
    // An environment without state lists nothing, and says so.
    let output = infra(&dir.path, &["state", "list", "--env", "prod"]);
    assert_eq!(code(&output), 0);
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("No state yet"));
    // An unknown environment is the usual diagnostic.
    assert_fails_with(
        &infra(&dir.path, &["state", "list", "--env", "prdo"]),
        "infra::check::unknown_environment",
    );
}

#[test]
fn show_prints_attributes_with_secrets_hidden() {
    let dir = seeded("show");
    let output = infra(&dir.path, &["state", "show", "local_file.config"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("# local_file.config"), "{text}");
    assert!(text.contains("content           = \"PORT=8080\""), "{text}");
    assert!(text.contains("sensitive_content = (secret)"), "{text}");
    assert!(!text.contains(CANARY));
    let output = infra(&dir.path, &["state", "show", "null_resource.dep"]);
    assert!(stdout(&output).contains("depends on: local_file.config"));
    // A whole resource shows each instance.
    let output = infra(&dir.path, &["state", "show", "null_resource.w"]);
    assert_eq!(
        stdout(&output).matches("# null_resource.w[").count(),
        WORKERS
    );

    let output = infra(&dir.path, &["state", "show", "local_file.confg"]);
    assert_fails_with(&output, "infra::state::no_such_address");
    assert!(stderr(&output).contains("did you mean `local_file.config`?"));
    assert_fails_with(
        &infra(
            &dir.path,
            &["state", "show", "local_file.x", "--env", "prod"],
        ),
        "infra::state::no_state",
    );
}

// ---- rm, mv --------------------------------------------------------------------

#[test]
fn rm_writes_a_new_version_and_an_audit_record() {
    let dir = seeded("rm");
    let output = infra(
        &dir.path,
        &["state", "rm", "local_file.config", "module.net"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("Removed local_file.config"));
    assert!(stdout(&output).contains("Removed module.net.null_resource.x"));
    let all = list(&dir.path);
    assert!(
        !all.iter()
            .any(|a| a == "local_file.config" || a.starts_with("module.net"))
    );
    assert_eq!(all.len(), 1 + WORKERS);
    assert_eq!(history_versions(&dir.path), 2);

    let history = history_json(&dir.path);
    assert_eq!(history["format_version"], 1);
    assert_eq!(history["environment"], "dev");
    let versions = entries(&history, "version");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["serial"], 2);
    assert_eq!(
        versions[1]["summary"],
        "state rm: local_file.config, module.net.null_resource.x"
    );
    let audit = entries(&history, "audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["command"], "state-rm");
    assert_eq!(audit[0]["serial"], 2);
    assert_eq!(audit[0]["result"], "succeeded");
    assert_eq!(audit[0]["environment"], "dev");
    assert_eq!(audit[0]["actions"].as_array().unwrap().len(), 2);
    assert_eq!(audit[0]["actions"][0]["action"], "remove");

    let human = stdout(&infra(&dir.path, &["state", "history"]));
    assert!(human.contains("version 1"), "{human}");
    assert!(human.contains("seed"), "{human}");
    assert!(human.contains("state-rm by "), "{human}");
    assert!(
        human.contains("remove local_file.config: succeeded"),
        "{human}"
    );

    // Nothing matches: refused, nothing written.
    let before = std::fs::read(state_path(&dir.path, "dev")).unwrap();
    let output = infra(&dir.path, &["state", "rm", "local_file.config"]);
    assert_fails_with(&output, "infra::state::no_such_address");
    assert_eq!(std::fs::read(state_path(&dir.path, "dev")).unwrap(), before);
    assert_eq!(history_versions(&dir.path), 2);
    assert!(!dir.path.join(".infra/state/demo/dev.lock").exists());
}

#[test]
fn mv_renames_instances_resources_and_modules() {
    let dir = seeded("mv");
    let output = infra(
        &dir.path,
        &["state", "mv", "local_file.config", "local_file.settings"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("Moved local_file.config to local_file.settings."));
    let shown = stdout(&infra(&dir.path, &["state", "show", "null_resource.dep"]));
    assert!(shown.contains("depends on: local_file.settings"), "{shown}");
    let shown = stdout(&infra(&dir.path, &["state", "show", "local_file.settings"]));
    assert!(shown.contains("sensitive_content = (secret)"), "{shown}");

    let output = infra(
        &dir.path,
        &["state", "mv", "module.net", "module.core.module.net"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = infra(
        &dir.path,
        &["state", "mv", "null_resource.w[0]", "null_resource.first"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let all = list(&dir.path);
    assert!(
        all.contains(&String::from("module.core.module.net.null_resource.x")),
        "{all:?}"
    );
    assert!(
        all.contains(&String::from("null_resource.first")),
        "{all:?}"
    );
    assert!(!all.contains(&String::from("null_resource.w[0]")));
    assert_eq!(history_versions(&dir.path), 4);

    let before = std::fs::read(state_path(&dir.path, "dev")).unwrap();
    assert_fails_with(
        &infra(
            &dir.path,
            &["state", "mv", "null_resource.w[1]", "null_resource.w[2]"],
        ),
        "infra::state::address_exists",
    );
    assert_fails_with(
        &infra(
            &dir.path,
            &["state", "mv", "null_resource.first", "null_resource.dep"],
        ),
        "infra::state::address_exists",
    );
    assert_fails_with(
        &infra(
            &dir.path,
            &[
                "state",
                "mv",
                "local_file.settings",
                "null_resource.settings",
            ],
        ),
        "infra::state::move_type_mismatch",
    );
    assert_fails_with(
        &infra(
            &dir.path,
            &["state", "mv", "module.core", "null_resource.z"],
        ),
        "infra::state::move_type_mismatch",
    );
    assert_fails_with(
        &infra(
            &dir.path,
            &["state", "mv", "null_resource.nope", "null_resource.z"],
        ),
        "infra::state::no_such_address",
    );
    assert_eq!(std::fs::read(state_path(&dir.path, "dev")).unwrap(), before);
    assert_eq!(history_versions(&dir.path), 4);
}

#[test]
fn mv_and_rm_address_module_instances_by_key() {
    let dir = seeded("mv-module-key");
    let mv = |from: &str, to: &str| {
        let output = infra(&dir.path, &["state", "mv", from, to]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    };
    // A module without `count`/`for_each` becomes one instance of a call
    // that has it, then one instance becomes another.
    mv("module.net", "module.net[\"a\"]");
    assert!(list(&dir.path).contains(&String::from("module.net[\"a\"].null_resource.x")));
    mv("module.net[\"a\"]", "module.net[\"b\"]");
    // A whole call renamed keeps every instance's key.
    mv("module.net", "module.edge");
    let all = list(&dir.path);
    assert!(
        all.contains(&String::from("module.edge[\"b\"].null_resource.x")),
        "{all:?}"
    );
    assert!(!all.iter().any(|a| a.starts_with("module.net")), "{all:?}");
    let output = infra(&dir.path, &["state", "list", "module.edge"]);
    assert_eq!(stdout(&output), "module.edge[\"b\"].null_resource.x\n");
    let output = infra(&dir.path, &["state", "list", "module.edge[\"a\"]"]);
    assert_eq!(stdout(&output), "");
    let output = infra(&dir.path, &["state", "rm", "module.edge[\"b\"]"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!list(&dir.path).iter().any(|a| a.starts_with("module.")));
}

// ---- pull, push ----------------------------------------------------------------

#[test]
fn pull_prints_the_exact_sealed_file() {
    let dir = seeded("pull");
    let output = infra(&dir.path, &["state", "pull"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        output.stdout,
        std::fs::read(state_path(&dir.path, "dev")).unwrap()
    );
    assert!(stdout(&output).contains("\"sealed\""));
    assert!(!stdout(&output).contains(CANARY));
    assert_fails_with(
        &infra(&dir.path, &["state", "pull", "--env", "prod"]),
        "infra::state::no_state",
    );
}

#[test]
fn push_checks_lineage_serial_checksum_and_key() {
    let dir = seeded("push");
    let pulled = infra(&dir.path, &["state", "pull"]).stdout;
    dir.write("pulled.json", &pulled);

    // Same serial: not newer.
    let before = std::fs::read(state_path(&dir.path, "dev")).unwrap();
    let output = infra(&dir.path, &["state", "push", "pulled.json"]);
    assert_fails_with(&output, "infra::state::serial_backwards");
    assert!(stderr(&output).contains("--force"));
    assert_eq!(std::fs::read(state_path(&dir.path, "dev")).unwrap(), before);

    // A newer version of the same lineage, with one instance fewer.
    let host = RealHost;
    let backend = LocalBackend::new(&host, &dir.path, "demo", "dev");
    let key = backend.key().unwrap();
    let mut state = backend.read_state(&key).unwrap().unwrap();
    state.remove_instance(
        &ResourceAddr::managed("local_file", "config").instance(InstanceKey::None),
    );
    let newer = StateFile::new(&state, 7, 0, "edited elsewhere", &key.id());
    dir.write("newer.json", newer.to_bytes());
    let output = infra(&dir.path, &["state", "push", "newer.json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!list(&dir.path).contains(&String::from("local_file.config")));
    assert_eq!(history_versions(&dir.path), 2);
    let history = history_json(&dir.path);
    assert_eq!(entries(&history, "audit")[0]["command"], "state-push");

    // The old pull is behind now; --force pushes it anyway, as a new version.
    assert_fails_with(
        &infra(&dir.path, &["state", "push", "pulled.json"]),
        "infra::state::serial_backwards",
    );
    let output = infra(&dir.path, &["state", "push", "pulled.json", "--force"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(list(&dir.path).contains(&String::from("local_file.config")));
    assert_eq!(history_versions(&dir.path), 3);

    // Another lineage (prod's state, same key).
    let mut prod = seeded_state(&host, &key);
    write(&dir.path, "prod", &mut prod, "prod seed");
    let prod_file = infra(&dir.path, &["state", "pull", "--env", "prod"]).stdout;
    dir.write("prod.json", &prod_file);
    let before = std::fs::read(state_path(&dir.path, "dev")).unwrap();
    assert_fails_with(
        &infra(&dir.path, &["state", "push", "prod.json"]),
        "infra::state::foreign_lineage",
    );
    assert_eq!(std::fs::read(state_path(&dir.path, "dev")).unwrap(), before);

    // A hand edit fails the checksum.
    let edited = String::from_utf8(pulled.clone())
        .unwrap()
        .replace("PORT=8080", "PORT=9090");
    dir.write("edited.json", edited);
    assert_fails_with(
        &infra(&dir.path, &["state", "push", "edited.json", "--force"]),
        "infra::state::checksum_mismatch",
    );
    // Sealed with another key.
    let other = Key::generate(&host);
    let foreign_key = StateFile::new(&seeded_state(&host, &other), 9, 0, "x", &other.id());
    dir.write("other-key.json", foreign_key.to_bytes());
    assert_fails_with(
        &infra(&dir.path, &["state", "push", "other-key.json", "--force"]),
        "infra::state::wrong_key",
    );
    // Missing file.
    let output = infra(&dir.path, &["state", "push", "missing.json"]);
    assert_fails_with(&output, "infra::cli::unreadable_file");
    assert_eq!(std::fs::read(state_path(&dir.path, "dev")).unwrap(), before);
}

// ---- locking --------------------------------------------------------------------

#[test]
fn a_held_lock_fails_at_once_naming_the_holder_and_readers_pass() {
    let dir = seeded("locked");
    let host = RealHost;
    let backend = LocalBackend::new(&host, &dir.path, "demo", "dev");
    let lock = backend
        .lock("test-holder", Duration::ZERO, &mut |_| {})
        .unwrap();
    let output = infra(&dir.path, &["state", "rm", "local_file.config"]);
    assert_fails_with(&output, "infra::state::locked");
    let err = stderr(&output);
    // At once: without --lock-timeout it never starts waiting.
    assert!(!err.contains("for the state lock"), "{err}");
    // The help line wraps at spaces only: the lock id stays whole on one
    // line, to be copied into `infra force-unlock`.
    let unwrapped: String = err.split_whitespace().collect();
    assert!(
        unwrapped.contains(&format!("pid{}", std::process::id())),
        "{err}"
    );
    assert!(err.contains("test-holder"), "{err}");
    assert!(err.contains(&lock.info().id), "the lock id is split: {err}");
    // When it was taken, as a date and an age, not a raw Unix time.
    let taken = infra::host::format_utc(lock.info().created_at);
    assert!(unwrapped.contains(&taken.replace(' ', "")), "{err}");
    assert!(unwrapped.contains("ago),lockid"), "{err}");
    assert!(!err.contains("unix time"), "{err}");
    assert!(err.contains(&lock.info().user), "{err}");
    assert!(err.contains("--lock-timeout"), "{err}");

    // A short wait runs out, having said who it waits for.
    let output = infra(
        &dir.path,
        &[
            "state",
            "mv",
            "local_file.config",
            "local_file.b",
            "--lock-timeout",
            "600ms",
        ],
    );
    assert_fails_with(&output, "infra::state::locked");
    assert!(stderr(&output).contains("Waiting up to 600ms for the state lock"));

    // Read-only commands take no lock.
    for args in [
        &["state", "list"][..],
        &["state", "show", "local_file.config"],
        &["state", "history"],
        &["state", "pull"],
        &["output"],
    ] {
        let output = infra(&dir.path, args);
        assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
    }

    // A waiting command gets the lock once it is released.
    // Released only once it says it waits, so the wait really happened.
    let waiting = common::Watched::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_infra"))
            .args(["state", "rm", "local_file.config", "--lock-timeout", "300s"])
            .current_dir(&dir.path)
            .env("NO_COLOR", "1")
            .env_remove("INFRA_STATE_KEY")
            .stdin(std::process::Stdio::null()),
    );
    waiting.wait_for_stderr("for the state lock");
    lock.release().unwrap();
    let output = waiting.finish();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stderr(&output).contains("test-holder"));
    assert!(!list(&dir.path).contains(&String::from("local_file.config")));
}

#[test]
fn concurrent_surgeries_in_real_processes_all_land() {
    let dir = seeded("contention");
    let children: Vec<_> = (0..WORKERS)
        .map(|i| {
            std::process::Command::new(env!("CARGO_BIN_EXE_infra"))
                .args([
                    "state",
                    "rm",
                    &format!("null_resource.w[{i}]"),
                    "--lock-timeout",
                    "30s",
                ])
                .current_dir(&dir.path)
                .env("NO_COLOR", "1")
                .env_remove("INFRA_STATE_KEY")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }
    let all = list(&dir.path);
    assert!(
        !all.iter().any(|a| a.starts_with("null_resource.w")),
        "{all:?}"
    );
    assert_eq!(all.len(), 3);
    assert_eq!(history_versions(&dir.path), 1 + WORKERS);
    let history = history_json(&dir.path);
    let audit = entries(&history, "audit");
    assert_eq!(audit.len(), WORKERS);
    let mut serials: Vec<u64> = audit
        .iter()
        .map(|a| a["serial"].as_u64().unwrap())
        .collect();
    serials.sort_unstable();
    assert_eq!(serials, (2..=(1 + WORKERS as u64)).collect::<Vec<_>>());
    assert!(!dir.path.join(".infra/state/demo/dev.lock").exists());
}

#[test]
fn force_unlock_needs_the_id_and_a_confirmation() {
    let dir = seeded("unlock");
    // A stale lock left by a process that is gone.
    let stale = r#"{
  "id": "11111111-2222-4333-8444-555555555555",
  "user": "ana",
  "host": "ci-3",
  "pid": 999999,
  "operation": "apply",
  "created_at": 1700000000
}"#;
    dir.write(".infra/state/demo/dev.lock", stale);
    let lock_path = dir.path.join(".infra/state/demo/dev.lock");

    let output = infra(
        &dir.path,
        &["force-unlock", "00000000-0000-4000-8000-000000000000"],
    );
    assert_fails_with(&output, "infra::state::lock_mismatch");
    assert!(stderr(&output).contains("ana@ci-3"));
    assert!(lock_path.exists());

    // No terminal: a confirmation cannot be asked for.
    let output = infra(
        &dir.path,
        &["force-unlock", "11111111-2222-4333-8444-555555555555"],
    );
    assert_fails_with(&output, "infra::cli::confirmation_required");
    assert!(stderr(&output).contains("--force"));
    assert!(lock_path.exists());

    let output = infra(
        &dir.path,
        &[
            "force-unlock",
            "11111111-2222-4333-8444-555555555555",
            "--force",
        ],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("ana@ci-3 (pid 999999) for apply"));
    assert!(!lock_path.exists());
    let history = history_json(&dir.path);
    assert_eq!(entries(&history, "audit")[0]["command"], "force-unlock");

    // Nothing left to unlock.
    assert_fails_with(
        &infra(
            &dir.path,
            &[
                "force-unlock",
                "11111111-2222-4333-8444-555555555555",
                "--force",
            ],
        ),
        "infra::state::lock_mismatch",
    );
    // And surgery works again.
    let output = infra(&dir.path, &["state", "rm", "local_file.config"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

// ---- output ----------------------------------------------------------------------

#[test]
fn output_hides_sensitive_values_unless_asked() {
    let dir = seeded("output");
    let output = infra(&dir.path, &["output"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "token = (sensitive)\nurl   = \"http://localhost:8080\"\n"
    );
    assert_eq!(
        stdout(&infra(&dir.path, &["output", "url"])),
        "\"http://localhost:8080\"\n"
    );
    assert_eq!(
        stdout(&infra(&dir.path, &["output", "url", "--raw"])),
        "http://localhost:8080\n"
    );
    assert_eq!(
        stdout(&infra(&dir.path, &["output", "token"])),
        "(sensitive)\n"
    );
    assert_eq!(
        stdout(&infra(&dir.path, &["output", "token", "--raw"])),
        "(sensitive)\n"
    );

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&infra(&dir.path, &["output", "--json"]))).unwrap();
    assert_eq!(json["url"]["value"], "http://localhost:8080");
    assert_eq!(json["url"]["sensitive"], false);
    assert_eq!(json["token"]["sensitive"], true);
    assert!(json["token"].get("value").is_none(), "{json}");

    let shown = infra(&dir.path, &["output", "token", "--show-secrets", "--raw"]);
    assert_eq!(stdout(&shown), format!("{CANARY}\n"));
    let json: serde_json::Value = serde_json::from_str(&stdout(&infra(
        &dir.path,
        &["output", "--json", "--show-secrets"],
    )))
    .unwrap();
    assert_eq!(json["token"]["value"], CANARY);

    let output = infra(&dir.path, &["output", "urll"]);
    assert_fails_with(&output, "infra::state::no_such_output");
    assert!(stderr(&output).contains("did you mean `url`?"));
    assert_fails_with(
        &infra(&dir.path, &["output", "--env", "prod"]),
        "infra::state::no_state",
    );
}

// ---- hand-edited state ---------------------------------------------------------

#[test]
fn hand_edited_state_is_refused_by_every_command_and_left_as_it_was() {
    let original = {
        let dir = seeded("edits-template");
        std::fs::read(state_path(&dir.path, "dev")).unwrap()
    };
    let text = String::from_utf8(original).unwrap();
    let cases: Vec<(&str, String)> = vec![
        (
            "infra::state::invalid_json",
            text[..text.len() / 2].to_owned(),
        ),
        (
            "infra::state::invalid_format",
            text.replacen("\"lineage\"", "\"colour\": \"red\",\n  \"lineage\"", 1),
        ),
        (
            "infra::state::checksum_mismatch",
            text.replace("PORT=8080", "PORT=9090"),
        ),
    ];
    for (expected, contents) in cases {
        let dir = seeded("edits");
        let path = state_path(&dir.path, "dev");
        std::fs::write(&path, &contents).unwrap();
        for args in [
            &["state", "list"][..],
            &["state", "show", "local_file.config"],
            &["state", "rm", "local_file.config"],
            &["state", "mv", "local_file.config", "local_file.x"],
            &["state", "pull"],
            &["output"],
        ] {
            let output = infra(&dir.path, args);
            assert_fails_with(&output, expected);
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                contents,
                "{args:?}"
            );
        }
        assert_eq!(history_versions(&dir.path), 1);
    }

    // A serial going backwards: version 1 put back after version 2 was written.
    let dir = seeded("backwards");
    let path = state_path(&dir.path, "dev");
    let first = std::fs::read(&path).unwrap();
    let output = infra(&dir.path, &["state", "rm", "null_resource.dep"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    std::fs::write(&path, &first).unwrap();
    for args in [
        &["state", "list"][..],
        &["state", "rm", "local_file.config"],
        &["output"],
    ] {
        assert_fails_with(&infra(&dir.path, args), "infra::state::serial_backwards");
        assert_eq!(std::fs::read(&path).unwrap(), first);
    }
}

// ---- init ------------------------------------------------------------------------

#[test]
fn init_scaffolds_a_valid_stack_and_never_overwrites() {
    let dir = TempDir::new("init");
    let output = infra(&dir.path, &["init", "starter"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("infra plan -C starter --env dev"), "{text}");
    assert!(text.contains("infra apply -C starter --env dev"), "{text}");
    let gitignore = String::from_utf8(dir.read("starter/.gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == ".infra/key"));
    assert!(gitignore.lines().any(|l| l == ".infra/state/"));
    let main = String::from_utf8(dir.read("starter/main.infra")).unwrap();
    for part in [
        "stack \"starter\"",
        "environment \"dev\"",
        "protected = true",
        "secret \"",
        "resource \"local_file\"",
        "output \"",
    ] {
        assert!(main.contains(part), "{part}:\n{main}");
    }
    let validated = infra(&dir.path.join("starter"), &["validate"]);
    assert_eq!(code(&validated), 0, "{}", stderr(&validated));
    let formatted = infra(&dir.path.join("starter"), &["fmt", "--check"]);
    assert_eq!(
        code(&formatted),
        0,
        "{}{}",
        stdout(&formatted),
        stderr(&formatted)
    );

    // Again: refused, files untouched.
    std::fs::write(dir.path.join("starter/main.infra"), "# mine\n").unwrap();
    let output = infra(&dir.path, &["-C", "starter", "init"]);
    assert_fails_with(&output, "infra::cli::file_exists");
    assert_eq!(dir.read("starter/main.infra"), b"# mine\n");
    assert_eq!(dir.read("starter/.gitignore"), gitignore.as_bytes());
}

// ---- secrets ---------------------------------------------------------------------

#[test]
fn the_canary_secret_never_leaks_from_any_command_or_file() {
    let dir = seeded("leak");
    dir.write("pushed.json", infra(&dir.path, &["state", "pull"]).stdout);
    let runs: Vec<Vec<&str>> = vec![
        vec!["validate"],
        vec!["plan", "--env", "prod"],
        vec![
            "plan", "--env", "prod", "--format", "json", "--out", "plan.bin",
        ],
        vec!["plan", "--env", "prod", "--format", "markdown"],
        vec!["show", "plan.bin"],
        vec!["show", "plan.bin", "--format", "json"],
        vec!["show", "plan.bin", "--format", "markdown"],
        vec!["show"],
        vec!["show", "--format", "json"],
        vec!["show", "--format", "markdown"],
        vec!["state", "list"],
        vec!["state", "show", "local_file.config"],
        vec!["state", "show", "null_resource.w"],
        vec!["state", "pull"],
        vec!["state", "mv", "local_file.config", "local_file.moved"],
        vec!["state", "show", "local_file.moved"],
        vec!["state", "push", "pushed.json", "--force"],
        vec!["state", "rm", "local_file.config"],
        vec!["state", "history"],
        vec!["state", "history", "--json"],
        vec!["output"],
        vec!["output", "token"],
        vec!["output", "token", "--raw"],
        vec!["output", "--json"],
        vec!["output", "token", "--json"],
        vec!["state", "show", "local_file.nope"],
        vec!["force-unlock", "nope", "--force"],
    ];
    for args in &runs {
        let output = infra(&dir.path, args);
        if args[0] != "force-unlock" && !args.contains(&"local_file.nope") {
            assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
        }
        for (stream, text) in [("stdout", stdout(&output)), ("stderr", stderr(&output))] {
            assert!(
                !text.contains(CANARY),
                "the secret leaked on {stream} of {args:?}:\n{text}"
            );
        }
    }
    // The commands above really ran.
    assert!(history_versions(&dir.path) >= 4);
    let mut files = files_under(&dir.path.join(".infra"));
    files.push(dir.path.join("plan.bin"));
    assert!(files.len() > 5, "{files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "the secret is in plaintext in {}",
            path.display()
        );
    }
}

#[test]
fn show_prints_a_saved_plan_as_plan_did_and_the_state_with_secrets_hidden() {
    let dir = seeded("show");
    // A saved plan: `show` prints what `plan` printed, in every format.
    for format in ["human", "json", "markdown"] {
        let out = format!("plan-{format}.bin");
        let planned = infra(
            &dir.path,
            &["plan", "--env", "prod", "--format", format, "--out", &out],
        );
        assert_eq!(code(&planned), 0, "{}", stderr(&planned));
        let shown = infra(&dir.path, &["show", &out, "--format", format]);
        assert_eq!(code(&shown), 0, "{}", stderr(&shown));
        let printed = stdout(&planned);
        let printed = printed.split("\n\nSaved the plan to").next().unwrap();
        assert_eq!(stdout(&shown).trim_end(), printed.trim_end(), "{format}");
        assert!(
            stdout(&shown).contains("null_resource.a"),
            "{}",
            stdout(&shown)
        );
    }
    // Refusals: another environment, a tampered file, no key, not a plan.
    assert_fails_with(
        &infra(&dir.path, &["show", "plan-human.bin", "--env", "dev"]),
        "infra::plan::wrong_environment",
    );
    let text = String::from_utf8(dir.read("plan-json.bin")).unwrap();
    let tampered = text.replacen("null_resource", "null_resourcX", 1);
    assert_ne!(text, tampered);
    dir.write("tampered.bin", tampered);
    assert_fails_with(
        &infra(&dir.path, &["show", "tampered.bin"]),
        "infra::plan::",
    );
    dir.write("not-a-plan.bin", "{}");
    assert_fails_with(
        &infra(&dir.path, &["show", "not-a-plan.bin"]),
        "infra::plan::invalid_file",
    );
    assert_fails_with(
        &infra(&dir.path, &["show", "missing.bin"]),
        "infra::cli::unreadable_file",
    );

    // The state: every instance and output, secrets hidden in every format.
    let human = infra(&dir.path, &["show"]);
    assert_eq!(code(&human), 0, "{}", stderr(&human));
    let human = stdout(&human);
    assert!(human.contains("# local_file.config"), "{human}");
    assert!(human.contains("(secret)"), "{human}");
    assert!(human.contains("Outputs:"), "{human}");
    assert!(human.contains("(sensitive)"), "{human}");
    let json = infra(&dir.path, &["show", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(json["environment"], "dev");
    assert_eq!(json["serial"], 1);
    let resources = json["resources"].as_array().unwrap();
    assert_eq!(resources.len(), list(&dir.path).len(), "{json}");
    let config = resources
        .iter()
        .find(|r| r["address"] == "local_file.config")
        .unwrap();
    let secret_paths: Vec<&String> = config["sensitive_values"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| **v == serde_json::Value::Bool(true))
        .map(|(k, _)| k)
        .collect();
    assert!(!secret_paths.is_empty(), "{config}");
    for path in secret_paths {
        assert!(config["values"][path].is_null(), "{config}");
    }
    let markdown = stdout(&infra(&dir.path, &["show", "--format", "markdown"]));
    assert!(
        markdown.starts_with("## infra state: <code>dev</code>"),
        "{markdown}"
    );
    for text in [human, json.to_string(), markdown] {
        assert!(!text.contains(CANARY), "{text}");
    }
    // No state yet for prod.
    assert_fails_with(
        &infra(&dir.path, &["show", "--env", "prod"]),
        "infra::state::no_state",
    );
    // Without the key the plan cannot be opened.
    std::fs::remove_file(dir.path.join(".infra/key")).unwrap();
    assert_fails_with(
        &infra(&dir.path, &["show", "plan-human.bin"]),
        "infra::state::missing_key",
    );
}

#[test]
fn a_first_push_needs_the_key_it_was_sealed_with() {
    let dir = seeded("first-push");
    dir.write("dev.json", infra(&dir.path, &["state", "pull"]).stdout);
    // Into an environment never written, with the same key: accepted as version 1.
    let output = infra(&dir.path, &["state", "push", "dev.json", "--env", "prod"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let prod = infra(&dir.path, &["state", "list", "--env", "prod"]);
    assert_eq!(stdout(&prod).lines().count(), 3 + WORKERS);

    // Into a folder without any key: refused, and no key is made up.
    let other = TempDir::new("first-push-nokey");
    other.write("main.infra", STACK);
    other.write("dev.json", dir.read("dev.json"));
    let output = infra(&other.path, &["state", "push", "dev.json"]);
    assert_fails_with(&output, "infra::state::missing_key");
    assert!(!other.path.join(".infra/key").exists());
    assert!(!state_path(&other.path, "dev").exists());
}

/// Runs the command line in-process with a terminal that answers `answer`.
fn run_interactive(dir: &Path, args: &[&str], answer: &str) -> (infra::cli::Exit, String, String) {
    let host = RealHost;
    let shared: std::sync::Arc<dyn infra::host::Host> = std::sync::Arc::new(RealHost);
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut input = answer.as_bytes();
    let mut ctx = infra::cli::Ctx {
        host: &host,
        shared_host: shared,
        stdout: &mut out,
        stderr: &mut err,
        stdin: &mut input,
        render: infra::diag::RenderOptions {
            colour: false,
            width: 100,
            unicode: false,
        },
        chdir: None,
        interactive: true,
        colour_out: false,
    };
    let mut argv = vec![
        std::ffi::OsString::from("infra"),
        std::ffi::OsString::from("-C"),
        dir.as_os_str().to_owned(),
    ];
    argv.extend(args.iter().map(std::ffi::OsString::from));
    let exit = infra::cli::run(argv, &mut ctx);
    (
        exit,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn force_unlock_on_a_terminal_breaks_the_lock_only_after_yes() {
    let dir = seeded("unlock-tty");
    let host = RealHost;
    let backend = LocalBackend::new(&host, &dir.path, "demo", "dev");
    let lock = backend.lock("apply", Duration::ZERO, &mut |_| {}).unwrap();
    let id = lock.info().id.clone();
    let lock_path = dir.path.join(".infra/state/demo/dev.lock");

    let (exit, _, err) = run_interactive(&dir.path, &["force-unlock", &id], "no\n");
    assert_eq!(exit, infra::cli::Exit::Failure);
    assert!(err.contains("Break the state lock"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(err.contains("the lock was kept"), "{err}");
    assert!(lock_path.exists());

    let (exit, out, err) = run_interactive(&dir.path, &["force-unlock", &id], "yes\n");
    assert_eq!(exit, infra::cli::Exit::Success, "{err}");
    assert!(out.contains("The state lock was broken"), "{out}");
    assert!(!lock_path.exists());
    // The old holder's drop must not remove someone else's lock later.
    drop(lock);
}

#[test]
fn a_missing_key_is_not_replaced_while_another_environment_has_state() {
    let dir = seeded("missing-key-other-env");
    let key_file = dir.path.join(".infra/key");
    let real_key = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    // prod has no state of its own, but dev's is sealed with the lost key.
    let output = infra(&dir.path, &["apply", "--env", "prod", "--auto-approve"]);
    assert_fails_with(&output, "infra::state::missing_key");
    let text = stderr(&output);
    assert!(text.contains("INFRA_STATE_KEY"), "{text}");
    assert!(text.contains("restore the key file"), "{text}");
    assert!(!key_file.exists(), "a second key was made");
    assert!(!state_path(&dir.path, "prod").exists());
    // With the real key back, both environments work.
    std::fs::write(&key_file, real_key).unwrap();
    let output = infra(&dir.path, &["apply", "--env", "prod", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(list(&dir.path).len(), WORKERS + 3);

    // A folder without any state still gets a new key.
    let fresh = TempDir::new("missing-key-fresh");
    fresh.write("main.infra", STACK);
    let output = infra(&fresh.path, &["apply", "--auto-approve"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(fresh.path.join(".infra/key").exists());
}

#[test]
fn a_deleted_current_state_is_refused_and_restore_writes_it_back() {
    let dir = seeded("restore-missing");
    let output = infra(&dir.path, &["state", "rm", "null_resource.dep"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let version_2 = list(&dir.path);
    std::fs::remove_file(state_path(&dir.path, "dev")).unwrap();

    // Not an empty state that plans to create everything: a refusal that
    // names the newest version and the command that restores it.
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"][..],
        &["state", "list"][..],
    ] {
        let output = infra(&dir.path, args);
        assert_fails_with(&output, "infra::state::missing_current");
        let text = stderr(&output);
        assert!(text.contains("infra state restore 2 --env dev"), "{text}");
        assert!(!stdout(&output).contains("to add"), "{}", stdout(&output));
    }
    assert!(!state_path(&dir.path, "dev").exists());

    let output = infra(&dir.path, &["state", "restore", "2"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("State written as version 3"),
        "{}",
        stdout(&output)
    );
    assert_eq!(list(&dir.path), version_2);
    assert_eq!(history_versions(&dir.path), 3);
    let history = history_json(&dir.path);
    let audits = entries(&history, "audit");
    let last = audits.last().unwrap();
    assert_eq!(last["command"], "state-restore", "{last}");
    assert_eq!(last["serial"], 3, "{last}");
    // The restored version has the old content, at a new serial.
    let restored = StateFile::parse(
        &std::fs::read(state_path(&dir.path, "dev")).unwrap(),
        &state_path(&dir.path, "dev"),
    )
    .unwrap();
    assert_eq!(restored.serial, 3);
    assert_eq!(restored.summary, "state restore: version 2");

    // An older version can be restored too; a missing one is refused.
    let output = infra(&dir.path, &["state", "restore", "1"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(list(&dir.path).len(), WORKERS + 3);
    let output = infra(&dir.path, &["state", "restore", "9"]);
    assert_fails_with(&output, "infra::state::no_such_version");
}

#[test]
fn restore_is_the_way_out_of_a_corrupt_current_file() {
    let dir = seeded("restore-corrupt");
    let path = state_path(&dir.path, "dev");
    let expected = list(&dir.path);
    std::fs::write(&path, b"{\"format_version\": 1, \"lin").unwrap();

    let output = infra(&dir.path, &["plan"]);
    assert_fails_with(&output, "infra::state::invalid_json");
    assert!(
        stderr(&output).contains("infra state restore 1 --env dev"),
        "{}",
        stderr(&output)
    );
    // push --force cannot replace a file that fails its checks.
    std::fs::write(dir.path.join("good.json"), b"{}").unwrap();
    let output = infra(&dir.path, &["state", "push", "--force", "good.json"]);
    assert_eq!(code(&output), 1);

    let output = infra(&dir.path, &["state", "restore", "1"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(list(&dir.path), expected);
    // The unreadable file is kept, byte for byte, out of the versions.
    let kept = dir
        .path
        .join(".infra/state/demo/dev.history/replaced-00000000000000000002.json");
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        b"{\"format_version\": 1, \"lin".to_vec()
    );
    assert_eq!(
        history_versions(&dir.path),
        3,
        "two versions and the kept file"
    );
    assert_eq!(entries(&history_json(&dir.path), "version").len(), 2);
}

// ---- history retention ---------------------------------------------------------

/// A stack whose history keeps 3 versions, with a secret in its resource.
const RETAINED: &str = r#"stack "demo" {
  default_environment = "dev"
  history             = { keep = 3 }
}

environment "dev" {}

variable "v" {
  type = string
}

secret "s" {
  env = "S"
}

resource "null_resource" "a" {
  triggers = { token = secret.s, v = var.v }
}

output "v" {
  value = var.v
}
"#;

/// The files of the `dev` history folder that are versions, by name.
fn version_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(".infra/state/demo/dev.history"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
}

fn serials_in(history: &serde_json::Value) -> Vec<u64> {
    entries(history, "version")
        .iter()
        .map(|v| v["serial"].as_u64().unwrap())
        .collect()
}

/// Runs `args`, which must succeed and keep the canary out of its output.
fn must(dir: &Path, args: &[&str]) -> Output {
    let output = infra(dir, args);
    assert_eq!(
        code(&output),
        0,
        "infra {}:\n{}{}",
        args.join(" "),
        stdout(&output),
        stderr(&output)
    );
    assert!(!stdout(&output).contains(CANARY) && !stderr(&output).contains(CANARY));
    output
}

#[test]
fn history_keep_prunes_the_oldest_versions_after_each_write_and_says_so() {
    let dir = TempDir::new("retention-prunes");
    dir.write("main.infra", RETAINED);
    for n in 1..=3 {
        let applied = must(
            &dir.path,
            &["apply", "--auto-approve", "--var", &format!("v={n}")],
        );
        assert!(
            !stderr(&applied).contains("Pruned"),
            "nothing to prune yet: {}",
            stderr(&applied)
        );
    }
    let applied = must(&dir.path, &["apply", "--auto-approve", "--var", "v=4"]);
    assert!(
        stderr(&applied).ends_with(
            "State saved as version 4.\nPruned history: version 1 removed (stack.history.keep = 3).\n"
        ),
        "{}",
        stderr(&applied)
    );
    for n in 5..=6 {
        must(
            &dir.path,
            &["apply", "--auto-approve", "--var", &format!("v={n}")],
        );
    }
    // Only the newest three are left: two deltas and the whole newest one.
    assert_eq!(
        version_files(&dir.path),
        [
            "00000000000000000004.delta.json",
            "00000000000000000005.delta.json",
            "00000000000000000006.json",
        ]
    );
    let history = history_json(&dir.path);
    assert_eq!(serials_in(&history), [4, 5, 6]);
    // Each apply's record says what it pruned; the records of pruned
    // versions stay.
    let audits = entries(&history, "audit");
    assert_eq!(audits.len(), 6);
    let pruned: Vec<&serde_json::Value> = audits.iter().map(|a| &a["pruned"]).collect();
    assert!(pruned[..3].iter().all(|p| p.is_null()), "{history}");
    assert_eq!(
        pruned[5],
        &serde_json::json!({ "first": 3, "last": 3, "keep": 3 })
    );
    let human = must(&dir.path, &["state", "history"]);
    assert!(
        stdout(&human).contains("pruned version 3 (stack.history.keep = 3)"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn a_pruned_version_is_refused_as_pruned_and_kept_ones_still_roll_back_and_restore() {
    let dir = TempDir::new("retention-refuses");
    dir.write("main.infra", RETAINED);
    for n in 1..=6 {
        must(
            &dir.path,
            &["apply", "--auto-approve", "--var", &format!("v={n}")],
        );
    }
    // Kept: 4, 5, 6. Each reads, rebuilt from the deltas, and verifies.
    for serial in ["4", "5", "6"] {
        let pulled = must(&dir.path, &["state", "pull", "--serial", serial]);
        let file: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
        assert_eq!(file["serial"].to_string(), serial);
        StateFile::parse(&pulled.stdout, Path::new("pulled")).unwrap();
    }
    for args in [
        &["state", "pull", "--serial", "2"][..],
        &["state", "restore", "3"],
        &["rollback", "--to", "1", "--auto-approve", "--var", "v=6"],
    ] {
        let refused = infra(&dir.path, args);
        assert_fails_with(&refused, "infra::state::version_pruned");
        assert!(
            stderr(&refused).contains("stack.history.keep = 3"),
            "{}",
            stderr(&refused)
        );
    }
    let unknown = infra(&dir.path, &["state", "pull", "--serial", "99"]);
    assert_fails_with(&unknown, "infra::state::no_such_version");
    assert_eq!(serials_in(&history_json(&dir.path)), [4, 5, 6]);

    // Back to 4: version 7. The rollback started from 6, which it keeps.
    let rolled = must(
        &dir.path,
        &["rollback", "--to", "4", "--auto-approve", "--var", "v=6"],
    );
    assert!(
        stderr(&rolled).contains("Pruned history: version 4 removed (stack.history.keep = 3)."),
        "{}",
        stderr(&rolled)
    );
    let output = must(&dir.path, &["output", "v"]);
    assert_eq!(stdout(&output).trim(), "\"4\"");
    // State surgery prunes too, but keeps what undoes the last deploy (6,
    // which the rollback started from) when it leaves the newest three.
    let restored = must(&dir.path, &["state", "restore", "5"]);
    assert!(
        stderr(&restored).contains("Pruned history: version 5 removed (stack.history.keep = 3)."),
        "{}",
        stderr(&restored)
    );
    let removed = must(&dir.path, &["state", "rm", "null_resource.a"]);
    assert!(!stderr(&removed).contains("Pruned"), "{}", stderr(&removed));
    assert_eq!(serials_in(&history_json(&dir.path)), [6, 7, 8, 9]);
    for serial in 6..=9 {
        must(
            &dir.path,
            &["state", "pull", "--serial", &serial.to_string()],
        );
    }
    // Without --to a rollback goes back to the version before the current one.
    must(&dir.path, &["rollback", "--auto-approve", "--var", "v=6"]);
    assert_eq!(list(&dir.path), ["null_resource.a"]);
}
