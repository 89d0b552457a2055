//! The `postgres` state backend against a real PostgreSQL server
//! (tests/common/postgres.rs starts a throwaway cluster per test): the
//! commands work as with the local backend, one writer at a time through the
//! advisory lock, a `kill -9` loses nothing completed, state moves between
//! the backends with `state pull` / `state push`, hand-altered rows are
//! refused, and no secret (nor the URL's password) is ever in output or in
//! the tables.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on a broken fixture"
)]

use crate::common;

use common::postgres::PgServer;
use common::{
    StackRuns, TempDir, Watched, code, four_applies_keep_the_newest_two, stderr, stdout,
    version_serials, wait_until,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The secret planted in the environment; it must never be seen.
const CANARY: &str = "canary-pg-st4te-s3cr3t-0b7a";

/// A password in the state URL; it must never be seen either (the test
/// server trusts local connections, so any password is accepted).
const URL_PASSWORD: &str = "pw-canary-9f3e2";

/// A stack on the postgres backend with `count` test-world objects and a
/// secret in a `null_resource`.
fn stack(state: &str, count: usize) -> String {
    let backend = match state {
        "postgres" => "  state     = \"postgres\"\n  state_url = env_var(\"INFRA_STATE_PG\")\n",
        _ => "  state = \"local\"\n",
    };
    let mut text = format!(
        "stack \"shared\" {{\n{backend}  default_environment = \"dev\"\n}}\n\n\
         environment \"dev\" {{}}\n\n\
         variable \"v\" {{\n  type    = string\n  default = \"a\"\n}}\n\n\
         secret \"token\" {{\n  env = \"S\"\n}}\n\n\
         secret \"generated\" {{\n  generate = {{ length = 32 }}\n}}\n\n\
         resource \"null_resource\" \"uses\" {{\n  triggers = {{ token = secret.token, generated = secret.generated, v = var.v }}\n}}\n\n\
         output \"generated\" {{\n  value     = secret.generated\n  sensitive = true\n}}\n\n"
    );
    for n in 0..count {
        text.push_str(&format!(
            "resource \"test_resource\" \"r{n}\" {{\n  name  = \"r{n}\"\n  value = \"${{var.v}}\"\n}}\n\n"
        ));
    }
    text
}

/// A stack folder, a test world and the server's URL (with a password).
struct Setup {
    dir: TempDir,
    world: TempDir,
    url: String,
}

impl Setup {
    fn new(name: &str, server: &PgServer, state: &str, count: usize) -> Setup {
        let dir = TempDir::new(name);
        dir.write("main.infra", stack(state, count));
        let world = TempDir::new(&format!("{name}-world"));
        let url = format!(
            "postgres://postgres:{URL_PASSWORD}@127.0.0.1:{}/postgres",
            server.port()
        );
        Setup { dir, world, url }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = common::world_command(&self.dir.path, &self.world.path, args);
        command
            .env("S", CANARY)
            .env("INFRA_STATE_PG", &self.url)
            .env_remove("INFRA_STATE_URL")
            .env("INFRA_TEST_LATENCY_MS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

impl StackRuns for Setup {
    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().unwrap();
        assert_no_leak(&output, &args.join(" "));
        output
    }
}

fn assert_no_leak(output: &Output, what: &str) {
    for needle in [CANARY, URL_PASSWORD] {
        assert!(
            !stdout(output).contains(needle),
            "{what}: stdout leaks {needle}"
        );
        assert!(
            !stderr(output).contains(needle),
            "{what}: stderr leaks {needle}"
        );
    }
}

/// The addresses and ids the state holds (`state pull`).
fn state_ids(setup: &Setup) -> BTreeMap<String, String> {
    let pulled = setup.expect(&["state", "pull"], 0);
    let json: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    let mut ids = BTreeMap::new();
    for resource in json["resources"].as_array().unwrap() {
        if resource["addr"]["resource_type"] != "test_resource" {
            continue;
        }
        for instance in resource["instances"].as_array().unwrap() {
            if let Some(id) = instance
                .pointer("/attributes/json/id")
                .and_then(serde_json::Value::as_str)
            {
                ids.insert(
                    resource["addr"]["name"].as_str().unwrap().to_owned(),
                    id.to_owned(),
                );
            }
        }
    }
    ids
}

/// The objects of the test world, id → name.
fn world_objects(world: &Path) -> BTreeMap<String, String> {
    let mut objects = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(world.join("objects")) else {
        return objects;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        objects.insert(
            json["id"].as_str().unwrap().to_owned(),
            json["attributes"]["name"].as_str().unwrap().to_owned(),
        );
    }
    objects
}

fn count_rows(server: &PgServer, sql: &str) -> usize {
    let output = server.try_psql("postgres", sql);
    if !output.status.success() {
        return 0;
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn apply_plan_list_history_and_rollback_work_on_the_postgres_backend() {
    let Some(server) = PgServer::start("pg-backend-lifecycle") else {
        return;
    };
    let setup = Setup::new("pg-lifecycle", &server, "postgres", 3);
    let applied = setup.expect(&["apply", "--auto-approve"], 0);
    assert!(
        stderr(&applied).contains(".infra/key"),
        "the key is made beside the stack: {}",
        stderr(&applied)
    );
    assert!(setup.dir.path.join(".infra/key").exists());
    assert!(
        !setup.dir.path.join(".infra/state").exists(),
        "no local state is written"
    );
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT count(*) FROM infra.versions WHERE stack = 'shared' AND environment = 'dev'"
        ),
        "1"
    );
    setup.expect(&["plan", "--detailed-exitcode"], 0);
    let listed = setup.expect(&["state", "list"], 0);
    for address in ["null_resource.uses", "test_resource.r0", "test_resource.r2"] {
        assert!(stdout(&listed).contains(address), "{}", stdout(&listed));
    }
    let first = state_ids(&setup);
    // A second version, then back to the first.
    setup.expect(&["apply", "--auto-approve", "--var", "v=b"], 0);
    let history = setup.expect(&["state", "history"], 0);
    assert!(stdout(&history).contains('2'), "{}", stdout(&history));
    setup.expect(&["rollback", "--to", "1", "--auto-approve"], 0);
    let history = setup.expect(&["state", "history", "--json"], 0);
    let json: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let serials = version_serials(&json);
    assert_eq!(serials, [1, 2, 3], "{json}");
    assert_eq!(
        state_ids(&setup).keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>()
    );
    setup.expect(&["plan", "--detailed-exitcode"], 0);
    // The audit log is in the database too.
    assert!(
        server
            .psql("postgres", "SELECT count(*) FROM infra.audit")
            .parse::<u32>()
            .unwrap()
            >= 3
    );
    // Tables are created once: a second schema version row would mean a
    // migration ran twice.
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT string_agg(version::text, ',') FROM infra.schema_version"
        ),
        "1"
    );
}

#[test]
fn a_second_apply_waits_for_the_lock_showing_its_holder_and_force_unlock_ends_a_live_holder() {
    let Some(server) = PgServer::start("pg-backend-lock") else {
        return;
    };
    let setup = Setup::new("pg-lock", &server, "postgres", 2);
    setup.expect(&["apply", "--auto-approve"], 0);
    // An apply that holds the lock for as long as the test needs: each of
    // its provider calls waits a minute.
    let mut holder_command = setup.command(&["apply", "--auto-approve", "--var", "v=b"]);
    holder_command.env("INFRA_TEST_LATENCY_MS", "60000");
    let holder = Watched::spawn(&mut holder_command);
    let holder_pid = holder.child.id();
    wait_until(
        "the first apply to record itself as the lock holder",
        || count_rows(&server, "SELECT count(*) FROM infra.locks") == 1,
        || holder.stderr_so_far(),
    );
    // Without waiting: refused at once, naming the holder.
    let refused = setup.expect(&["apply", "--auto-approve", "--lock-timeout", "0"], 1);
    let text = stderr(&refused);
    assert!(text.contains("infra::state::locked"), "{text}");
    assert!(
        text.contains(&format!("(pid {holder_pid}) for apply")),
        "{text}"
    );
    // Waiting: it says whom it waits for.
    let mut waiter_command = setup.command(&["apply", "--auto-approve", "--lock-timeout", "10m"]);
    let waiter = Watched::spawn(&mut waiter_command);
    waiter.wait_for_stderr("waiting for the state lock: held by");
    assert!(
        waiter
            .stderr_so_far()
            .contains(&format!("(pid {holder_pid}) for apply")),
        "{}",
        waiter.stderr_so_far()
    );
    // A wrong id is refused; the right one ends the live holder's session.
    let wrong = setup.expect(&["force-unlock", "not-the-id", "--force"], 1);
    assert!(
        stderr(&wrong).contains("infra::state::lock_mismatch"),
        "{}",
        stderr(&wrong)
    );
    let id = server.psql("postgres", "SELECT id FROM infra.locks");
    setup.expect(&["force-unlock", &id, "--force"], 0);
    // The holder is fenced out; stop it as a hung process would be.
    let mut holder = holder;
    let _ = holder.child.kill();
    let waited = waiter.finish();
    assert_eq!(code(&waited), 0, "{}", stderr(&waited));
    assert_no_leak(&waited, "the waiting apply");
    drop(holder);
    setup.expect(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(count_rows(&server, "SELECT count(*) FROM infra.locks"), 0);
}

#[test]
fn kill_9_during_an_apply_on_the_postgres_backend_loses_nothing_completed() {
    let Some(server) = PgServer::start("pg-backend-crash") else {
        return;
    };
    let setup = Setup::new("pg-crash", &server, "postgres", 20);
    let mut apply = setup.command(&["apply", "--auto-approve", "--parallelism", "2"]);
    apply
        .env("INFRA_TEST_LATENCY_MS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = apply.spawn().unwrap();
    wait_until(
        "the apply to journal a few actions",
        || count_rows(&server, "SELECT count(*) FROM infra.journal") >= 4,
        String::new,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let created = world_objects(&setup.world.path);
    assert!(!created.is_empty(), "the killed apply created nothing");
    assert!(
        created.len() < 20,
        "the apply finished before it was killed: nothing was tested"
    );
    // A reading command sees the journalled actions without writing.
    let listed = setup.expect(&["state", "list"], 0);
    assert!(
        stderr(&listed).contains("infra::state::unrecorded_actions"),
        "{}",
        stderr(&listed)
    );
    // The next apply takes over the lock, records the journal and finishes.
    let again = setup.expect(&["apply", "--auto-approve"], 0);
    assert!(stderr(&again).contains("recovered"), "{}", stderr(&again));
    // The killed apply's connection dropped, so the server freed its lock;
    // its holder row is left, and the next command says it took over.
    assert!(
        stderr(&again).contains("took over the state lock left by a process that is gone"),
        "{}",
        stderr(&again)
    );
    let ids = state_ids(&setup);
    let objects = world_objects(&setup.world.path);
    assert_eq!(ids.len(), 20, "{ids:?}");
    // Every object is in the state, once: nothing created before the kill
    // was lost or created again.
    assert_eq!(objects.len(), 20, "{objects:?}");
    for (id, name) in &created {
        assert_eq!(objects.get(id), Some(name), "object {id} ({name}) was lost");
        assert_eq!(
            ids.get(name),
            Some(id),
            "{name} is not in the state as {id}"
        );
    }
    assert_eq!(count_rows(&server, "SELECT count(*) FROM infra.journal"), 0);
    setup.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn state_moves_from_local_to_postgres_and_back_with_pull_and_push() {
    let Some(server) = PgServer::start("pg-backend-migrate") else {
        return;
    };
    let local = Setup::new("pg-migrate", &server, "local", 2);
    local.expect(&["apply", "--auto-approve"], 0);
    let pulled = local.expect(&["state", "pull"], 0);
    local.dir.write("state.json", &pulled.stdout);
    // Pushed into the database with --state-url; the stack still says local.
    local.expect(
        &["state", "push", "state.json", "--state-url", &local.url],
        0,
    );
    local.dir.write("main.infra", stack("postgres", 2));
    local.expect(&["plan", "--detailed-exitcode"], 0);
    let ids = state_ids(&local);
    assert_eq!(ids.len(), 2);
    // And back: from the database into a fresh folder on the local backend
    // (with the same key: the sealed values travel sealed).
    let back = Setup::new("pg-migrate-back", &server, "local", 2);
    std::fs::create_dir_all(back.dir.path.join(".infra")).unwrap();
    std::fs::copy(
        local.dir.path.join(".infra/key"),
        back.dir.path.join(".infra/key"),
    )
    .unwrap();
    let from_pg = local.expect(&["state", "pull"], 0);
    back.dir.write("state.json", &from_pg.stdout);
    back.expect(&["state", "push", "state.json"], 0);
    // The same real objects: the back folder's world is a copy.
    common::copy_tree(&local.world.path, &back.world.path);
    back.expect(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(state_ids(&back), ids);
    assert!(back.dir.path.join(".infra/state/shared/dev.json").exists());
}

#[test]
fn state_rows_altered_by_hand_are_refused_and_restore_goes_on_from_a_good_version() {
    let Some(server) = PgServer::start("pg-backend-tamper") else {
        return;
    };
    let setup = Setup::new("pg-tamper", &server, "postgres", 1);
    setup.expect(&["apply", "--auto-approve"], 0);
    setup.expect(&["apply", "--auto-approve", "--var", "v=b"], 0);
    // The document of the current version edited: its checksum no longer matches.
    server.psql(
        "postgres",
        "UPDATE infra.versions SET document = replace(document, '\"r0\"', '\"r9\"') \
         WHERE serial = 2",
    );
    for args in [
        &["plan"][..],
        &["state", "list"],
        &["apply", "--auto-approve"],
    ] {
        let refused = setup.expect(args, 1);
        let text = stderr(&refused);
        assert!(
            text.contains("infra::state::checksum_mismatch"),
            "{args:?}: {text}"
        );
        assert!(text.contains("infra state restore 1"), "{args:?}: {text}");
    }
    // Only a column edited (the document intact): refused as well.
    server.psql(
        "postgres",
        "UPDATE infra.versions SET document = replace(document, '\"r9\"', '\"r0\"'), \
         lineage = 'not-the-lineage' WHERE serial = 2",
    );
    let refused = setup.expect(&["plan"], 1);
    assert!(
        stderr(&refused).contains("infra::state::checksum_mismatch"),
        "{}",
        stderr(&refused)
    );
    // The way out: the refused row is kept aside, version 1 written back as 3.
    setup.expect(&["state", "restore", "1"], 0);
    assert_eq!(
        server.psql("postgres", "SELECT serial FROM infra.replaced"),
        "2"
    );
    setup.expect(&["state", "list"], 0);
    let history = setup.expect(&["state", "history", "--json"], 0);
    let json: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let serials = version_serials(&json);
    assert_eq!(serials, [1, 3], "{json}");
}

#[test]
fn no_secret_or_password_is_in_any_output_or_in_the_state_tables() {
    let Some(server) = PgServer::start("pg-backend-leak") else {
        return;
    };
    let setup = Setup::new("pg-leak", &server, "postgres", 1);
    for args in [
        &["apply", "--auto-approve"][..],
        &["plan"],
        &["output"],
        &["output", "--json"],
        &["state", "list"],
        &["state", "show", "null_resource.uses"],
        &["state", "pull"],
        &["state", "history"],
        &["apply", "--auto-approve", "--var", "v=b"],
    ] {
        setup.expect(args, 0);
    }
    let shown = setup.expect(&["output", "generated", "--show-secrets"], 0);
    let generated = stdout(&shown).trim().trim_matches('"').to_owned();
    assert!(generated.len() >= 32, "{generated}");
    let dump = server.pg_dump("postgres", &["infra.*"]);
    assert!(
        dump.contains("infra.versions"),
        "pg_dump dumped nothing: {dump}"
    );
    assert!(dump.contains("null_resource"), "the state is in the dump");
    for needle in [CANARY, generated.as_str(), URL_PASSWORD] {
        assert!(
            !dump.contains(needle),
            "the state tables hold {needle} in plaintext"
        );
    }
    // An unreachable server: named by host and port, never by the password.
    let mut unreachable = setup.command(&["plan"]);
    let closed = common::postgres::free_port();
    unreachable.env(
        "INFRA_STATE_PG",
        format!("postgres://postgres:{URL_PASSWORD}@127.0.0.1:{closed}/postgres"),
    );
    let output = unreachable.output().unwrap();
    assert_no_leak(&output, "plan against a closed port");
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(text.contains("infra::state::backend_unreachable"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{closed}")), "{text}");
}

#[test]
fn a_postgres_stack_without_a_state_url_is_refused_with_the_ways_to_give_one() {
    let dir = TempDir::new("pg-no-url");
    dir.write(
        "main.infra",
        "stack \"s\" {\n  state = \"postgres\"\n}\n\nresource \"null_resource\" \"a\" {}\n",
    );
    let output = common::infra_env(&dir.path, &["plan"], &[]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("infra::state::backend_config"), "{text}");
    assert!(text.contains("INFRA_STATE_URL"), "{text}");
    // A URL that is not a postgres one, on the command line.
    let output = common::infra_env(
        &dir.path,
        &[
            "plan",
            "--state-url",
            &format!("mysql://u:{URL_PASSWORD}@h/db"),
        ],
        &[],
    );
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("infra::state::backend_config"));
    assert!(!stderr(&output).contains(URL_PASSWORD));
}

/// `tls_only` comes in only over TLS; `postgres` is trusted; every other
/// user logs in with a SCRAM password.
const TLS_HBA: &str = "local all all trust\n\
                       hostnossl all tls_only 127.0.0.1/32 reject\n\
                       host all postgres 127.0.0.1/32 trust\n\
                       host all all 127.0.0.1/32 scram-sha-256\n";

/// Whether the backend's tables exist (it creates them on first connection).
fn state_tables_exist(server: &PgServer) -> bool {
    server.psql(
        "postgres",
        "SELECT count(*) FROM pg_namespace WHERE nspname = 'infra'",
    ) != "0"
}

#[test]
fn a_state_url_with_tls_verifies_the_server_and_bad_credentials_or_certificates_write_nothing() {
    let Some((server, ca)) = PgServer::start_tls("pg-backend-tls", TLS_HBA) else {
        return;
    };
    server.psql(
        "postgres",
        "CREATE ROLE alice LOGIN SUPERUSER PASSWORD 'alice-right-pw'; \
         CREATE ROLE tls_only LOGIN SUPERUSER PASSWORD 'tls-right-pw'",
    );
    let mut setup = Setup::new("pg-backend-tls", &server, "postgres", 2);
    setup.dir.write("ca.pem", &ca.ca_pem);
    setup.dir.write("other-ca.pem", &ca.other_ca_pem);
    let port = server.port();

    // A wrong password: the login is refused, named by host and port,
    // never by the password, and nothing is written anywhere.
    setup.url = format!("postgres://alice:{URL_PASSWORD}@127.0.0.1:{port}/postgres");
    for args in [
        &["apply", "--auto-approve"][..],
        &["plan"],
        &["state", "list"],
    ] {
        let output = setup.expect(args, 1);
        let text = stderr(&output);
        assert!(text.contains("infra::state::backend_denied"), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("password authentication failed"), "{text}");
    }
    assert!(!state_tables_exist(&server), "the tables were created");
    assert!(world_objects(&setup.world.path).is_empty());

    // A certificate signed by another authority, or not for the host
    // connected to: refused in TLS, nothing written.
    for (host, root, expected) in [
        (
            "localhost",
            "other-ca.pem",
            "did not verify against `sslrootcert`",
        ),
        ("127.0.0.1", "ca.pem", "does not name the host"),
    ] {
        setup.url = format!(
            "postgres://tls_only:tls-right-pw@{host}:{port}/postgres?sslmode=verify-full&sslrootcert={root}"
        );
        let output = setup.expect(&["apply", "--auto-approve"], 1);
        let text = stderr(&output);
        assert!(text.contains("infra::state::backend_tls"), "{text}");
        assert!(words(&text).contains(expected), "{host} {root}: {text}");
        assert!(!text.contains("tls-right-pw"), "{text}");
    }
    assert!(!state_tables_exist(&server), "the tables were created");
    assert!(world_objects(&setup.world.path).is_empty());

    // verify-full with the right authority and name: it works, and the
    // server lets `tls_only` in over TLS alone.
    setup.url = format!(
        "postgres://tls_only:tls-right-pw@localhost:{port}/postgres?sslmode=verify-full&sslrootcert=ca.pem"
    );
    setup.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(state_ids(&setup).len(), 2);
    setup.url =
        format!("postgres://tls_only:tls-right-pw@127.0.0.1:{port}/postgres?sslmode=require");
    setup.expect(&["plan", "--detailed-exitcode"], 0);
    setup.url =
        format!("postgres://tls_only:tls-right-pw@127.0.0.1:{port}/postgres?sslmode=disable");
    let output = setup.expect(&["plan"], 1);
    assert!(
        words(&stderr(&output)).contains("no encryption"),
        "{}",
        stderr(&output)
    );
}

/// Runs of white space (the help line's wrapping) made one space.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn history_keep_deletes_old_version_rows_and_refuses_a_pruned_version() {
    let Some(server) = PgServer::start("pg-backend-retention") else {
        return;
    };
    let setup = Setup::new("pg-retention", &server, "postgres", 1);
    let with_keep = stack("postgres", 1).replace(
        "default_environment = \"dev\"\n",
        "default_environment = \"dev\"\n  history             = { keep = 2 }\n",
    );
    setup.dir.write("main.infra", with_keep);
    let rows = || {
        server.psql(
            "postgres",
            "SELECT string_agg(serial::text, ',' ORDER BY serial) FROM infra.versions \
             WHERE stack = 'shared' AND environment = 'dev'",
        )
    };
    let stored = || -> Vec<u64> {
        rows()
            .split(',')
            .map(|serial| serial.parse().unwrap())
            .collect()
    };
    four_applies_keep_the_newest_two(&setup, &stored);
    // A pruned version is refused as pruned; a kept one reads and verifies.
    let pulled = setup.expect(&["state", "pull", "--serial", "1"], 1);
    assert!(
        stderr(&pulled).contains("infra::state::version_pruned"),
        "{}",
        stderr(&pulled)
    );
    let rolled = setup.expect(&["rollback", "--to", "2", "--auto-approve"], 1);
    assert!(
        stderr(&rolled).contains("infra::state::version_pruned"),
        "{}",
        stderr(&rolled)
    );
    let pulled = setup.expect(&["state", "pull", "--serial", "3"], 0);
    let file: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(file["serial"], 3);
    setup.expect(&["rollback", "--to", "3", "--auto-approve"], 0);
    assert_eq!(rows(), "4,5");
    setup.expect(&["plan", "--detailed-exitcode", "--var", "v=c"], 0);
    // The audit log names what each prune removed.
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT count(*) FROM infra.audit WHERE record LIKE '%\"pruned\"%'"
        ),
        "3"
    );
}
