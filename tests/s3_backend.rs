//! The AWS wire client and the `s3` state backend against moto server
//! (tests/common/moto.rs starts one per test): SigV4 signatures checked for
//! real (a correct key works, a wrong secret is refused with AWS's code),
//! and the state commands on an S3 bucket as on the local backend — one
//! writer at a time through a conditionally written lock object, history,
//! a `kill -9` that loses nothing completed, `force-unlock`, objects edited
//! by hand refused, and no secret (nor the AWS secret key or session token)
//! in any output, object or plan file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on a broken fixture"
)]

use crate::common;

use common::moto::MotoServer;
use common::{
    StackRuns, TempDir, Watched, code, four_applies_keep_the_newest_two, stderr, stdout,
    version_serials, wait_until,
};
use infra::aws::{self, AwsError, Client, Config, Credentials, Request};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The secret planted in the environment; it must never be seen.
const CANARY: &str = "canary-s3-st4te-s3cr3t-5d1c";

/// The AWS secret access key the commands use (moto without signature
/// checking accepts any); it must never be seen.
const AWS_SECRET: &str = "aws-secret-canary-wJalrXUtnFEMI-7c2e";

/// The AWS session token the commands send; it must never be seen.
const AWS_TOKEN: &str = "aws-token-canary-FQoGZXIvYXdzE-41aa";

/// The state bucket.
const BUCKET: &str = "infra-state-test";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client for `moto` with these credentials, in us-east-1.
fn client(moto: &MotoServer, key: &str, secret: &str, token: Option<&str>) -> Client {
    Client::new(Config::new(
        "us-east-1",
        Some(moto.endpoint()),
        Credentials::new(key, secret, token.map(str::to_owned)),
    ))
    .unwrap()
}

/// A client with the test credentials.
fn test_client(moto: &MotoServer) -> Client {
    client(moto, "AKIATESTSTATE", AWS_SECRET, Some(AWS_TOKEN))
}

/// The keys in the state bucket under `prefix`.
fn keys(moto: &MotoServer, prefix: &str) -> Vec<String> {
    let client = test_client(moto);
    runtime()
        .block_on(aws::s3::list_objects(&client, BUCKET, prefix))
        .unwrap()
        .into_iter()
        .map(|object| object.key)
        .collect()
}

fn get(moto: &MotoServer, key: &str) -> Option<Vec<u8>> {
    let client = test_client(moto);
    runtime()
        .block_on(aws::s3::get_object(&client, BUCKET, key))
        .unwrap()
}

fn put(moto: &MotoServer, key: &str, body: Vec<u8>) {
    let client = test_client(moto);
    runtime()
        .block_on(aws::s3::put_object(&client, BUCKET, key, body, false))
        .unwrap();
}

/// A stack on the s3 backend with `count` test-world objects and a secret
/// in a `null_resource`.
fn stack(state: &str, count: usize) -> String {
    let backend = match state {
        "s3" => "  state            = \"s3\"\n  state_bucket     = \"infra-state-test\"\n  \
                 state_key_prefix = \"teams/web\"\n  state_endpoint   = env_var(\"MOTO_URL\")\n  \
                 state_region     = \"us-east-1\"\n"
            .to_owned(),
        _ => "  state = \"local\"\n".to_owned(),
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

/// Where this stack environment's objects are.
const BASE: &str = "teams/web/shared/dev/";

/// A stack folder, a test world and a moto server with the state bucket.
struct Setup<'m> {
    dir: TempDir,
    world: TempDir,
    moto: &'m MotoServer,
}

impl<'m> Setup<'m> {
    fn new(name: &str, moto: &'m MotoServer, state: &str, count: usize) -> Setup<'m> {
        let dir = TempDir::new(name);
        dir.write("main.infra", stack(state, count));
        let world = TempDir::new(&format!("{name}-world"));
        runtime()
            .block_on(aws::s3::create_bucket(&test_client(moto), BUCKET))
            .unwrap();
        Setup { dir, world, moto }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = common::world_command(&self.dir.path, &self.world.path, args);
        command
            .env("S", CANARY)
            .env("MOTO_URL", self.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "AKIATESTSTATE")
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("AWS_SESSION_TOKEN", AWS_TOKEN)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env_remove("INFRA_STATE_URL")
            .env("INFRA_TEST_LATENCY_MS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

impl StackRuns for Setup<'_> {
    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().unwrap();
        assert_no_leak(&output, &args.join(" "));
        output
    }
}

fn assert_no_leak(output: &Output, what: &str) {
    for needle in [CANARY, AWS_SECRET, AWS_TOKEN] {
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
fn state_ids(setup: &Setup<'_>) -> BTreeMap<String, String> {
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

/// IAM's answer to a query call, as text.
fn iam(client: &Client, action: &str, params: &[(&str, &str)]) -> String {
    runtime()
        .block_on(client.send(&Request::query_protocol(
            "iam",
            action,
            "2010-05-08",
            params,
        )))
        .unwrap_or_else(|e| panic!("iam {action}: {e}"))
        .text()
}

/// Creates an IAM user allowed everything and its access key, with the
/// unauthenticated calls moto lets through first; returns (key id, secret).
fn create_user_and_key(moto: &MotoServer) -> (String, String) {
    // Signed with made-up credentials: these calls are the free ones.
    let bootstrap = client(moto, "AKIABOOTSTRAP", "bootstrap-secret", None);
    iam(&bootstrap, "CreateUser", &[("UserName", "infra-ci")]);
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    iam(
        &bootstrap,
        "PutUserPolicy",
        &[
            ("UserName", "infra-ci"),
            ("PolicyName", "all"),
            ("PolicyDocument", policy),
        ],
    );
    let created = iam(&bootstrap, "CreateAccessKey", &[("UserName", "infra-ci")]);
    let key = aws::xml::text(&created, "AccessKeyId").expect("an access key id");
    let secret = aws::xml::text(&created, "SecretAccessKey").expect("a secret access key");
    (key, secret)
}

#[test]
fn signatures_are_checked_a_correct_key_works_and_a_wrong_secret_is_refused_with_the_aws_code() {
    let Some(moto) = MotoServer::start_checking_signatures("aws-signatures", 3) else {
        return;
    };
    let (key, secret) = create_user_and_key(&moto);
    let good = client(&moto, &key, &secret, None);
    let rt = runtime();
    // S3 (REST-XML, path-style), STS (query) and SSM (JSON 1.1), all signed.
    rt.block_on(aws::s3::create_bucket(&good, "signed-bucket"))
        .unwrap();
    rt.block_on(aws::s3::put_object(
        &good,
        "signed-bucket",
        "dir/a b+c.json",
        b"{\"v\":1}".to_vec(),
        false,
    ))
    .unwrap();
    assert_eq!(
        rt.block_on(aws::s3::get_object(
            &good,
            "signed-bucket",
            "dir/a b+c.json"
        ))
        .unwrap()
        .as_deref(),
        Some(&b"{\"v\":1}"[..]),
        "the body arrives whole (with its content type)"
    );
    let who = rt
        .block_on(good.send(&Request::query_protocol(
            "sts",
            "GetCallerIdentity",
            "2011-06-15",
            &[],
        )))
        .unwrap()
        .text();
    assert!(who.contains("user/infra-ci"), "{who}");
    let put = rt
        .block_on(good.send(&Request::json(
            "ssm",
            "AmazonSSM.PutParameter",
            "1.1",
            &serde_json::json!({"Name": "/infra/replicas", "Value": "3", "Type": "String"}),
        )))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(put["Version"], 1, "{put}");

    // The same key with a wrong secret: refused, AWS's code kept, the secret nowhere.
    let wrong_secret = "wrong-secret-canary-3e9d";
    let bad = client(&moto, &key, wrong_secret, None);
    let refusals: Vec<AwsError> = vec![
        rt.block_on(aws::s3::get_object(&bad, "signed-bucket", "dir/a b+c.json"))
            .unwrap_err(),
        rt.block_on(bad.send(&Request::json(
            "ssm",
            "AmazonSSM.GetParameter",
            "1.1",
            &serde_json::json!({"Name": "/infra/replicas"}),
        )))
        .unwrap_err(),
    ];
    for error in &refusals {
        assert_eq!(error.code, "SignatureDoesNotMatch", "{error:?}");
        assert!(error.is_auth() && !error.is_transient(), "{error:?}");
        assert_eq!(error.status, Some(403), "{error:?}");
        let shown = format!("{error} {error:?}");
        assert!(shown.contains("SignatureDoesNotMatch"), "{shown}");
        assert!(!shown.contains(wrong_secret), "{shown}");
    }
    // An unknown key id is refused too.
    let stranger = client(&moto, "AKIANOSUCHKEY0000000", &secret, None);
    let error = rt
        .block_on(aws::s3::get_object(&stranger, "signed-bucket", "x"))
        .unwrap_err();
    assert!(error.is_auth(), "{error:?}");
    assert!(!format!("{error} {error:?}").contains(&secret));

    // The s3 state backend with a wrong secret: a clear diagnostic with the
    // AWS code, and neither secret in the output.
    let dir = TempDir::new("s3-signature-denied");
    dir.write(
        "main.infra",
        stack("s3", 0).replace(BUCKET, "signed-bucket"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["plan"])
        .current_dir(&dir.path)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STATE_KEY")
        .env("S", CANARY)
        .env("MOTO_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", wrong_secret)
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("infra::state::backend_denied"), "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(
        text.contains("s3://signed-bucket/teams/web/shared/dev/"),
        "{text}"
    );
    for needle in [wrong_secret, secret.as_str(), CANARY] {
        assert!(
            !text.contains(needle) && !stdout(&output).contains(needle),
            "{text}"
        );
    }
    // The right secret: the plan goes through.
    let output = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["plan"])
        .current_dir(&dir.path)
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STATE_KEY")
        .env("S", CANARY)
        .env("MOTO_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

#[test]
fn apply_plan_list_history_and_rollback_work_on_the_s3_backend() {
    let Some(moto) = MotoServer::start("s3-backend-lifecycle") else {
        return;
    };
    let setup = Setup::new("s3-lifecycle", &moto, "s3", 3);
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
        keys(&moto, &format!("{BASE}versions/")),
        [format!("{BASE}versions/00000000000000000001.json")]
    );
    assert!(get(&moto, &format!("{BASE}head.json")).is_some());
    assert!(
        get(&moto, &format!("{BASE}lock.json")).is_none(),
        "the lock is released"
    );
    setup.expect(&["plan", "--detailed-exitcode"], 0);
    let listed = setup.expect(&["state", "list"], 0);
    for address in ["null_resource.uses", "test_resource.r0", "test_resource.r2"] {
        assert!(stdout(&listed).contains(address), "{}", stdout(&listed));
    }
    let first = state_ids(&setup);
    setup.expect(&["apply", "--auto-approve", "--var", "v=b"], 0);
    setup.expect(&["rollback", "--to", "1", "--auto-approve"], 0);
    let history = setup.expect(&["state", "history", "--json"], 0);
    let json: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(version_serials(&json), [1, 2, 3], "{json}");
    assert_eq!(
        state_ids(&setup).keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>()
    );
    setup.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(keys(&moto, &format!("{BASE}audit/")).len() >= 3);
    assert!(keys(&moto, &format!("{BASE}journal/")).is_empty());

    // The same state through --state-url s3://BUCKET/PREFIX (region and
    // endpoint from the AWS variables), from a stack that says local.
    let local = Setup::new("s3-lifecycle-url", &moto, "local", 3);
    std::fs::create_dir_all(local.dir.path.join(".infra")).unwrap();
    std::fs::copy(
        setup.dir.path.join(".infra/key"),
        local.dir.path.join(".infra/key"),
    )
    .unwrap();
    let url = format!("s3://{BUCKET}/teams/web");
    let mut pulled = local.command(&["state", "pull", "--state-url", &url]);
    pulled.env("AWS_ENDPOINT_URL", moto.endpoint());
    let pulled = pulled.output().unwrap();
    assert_eq!(code(&pulled), 0, "{}", stderr(&pulled));
    assert_no_leak(&pulled, "state pull --state-url");
    let json: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(json["serial"], 3, "{json}");
}

#[test]
fn a_second_apply_waits_for_the_lock_object_showing_its_holder_and_force_unlock_breaks_it() {
    let Some(moto) = MotoServer::start("s3-backend-lock") else {
        return;
    };
    let setup = Setup::new("s3-lock", &moto, "s3", 2);
    setup.expect(&["apply", "--auto-approve"], 0);
    // An apply that holds the lock for as long as the test needs: each of
    // its provider calls waits a minute.
    let mut holder_command = setup.command(&["apply", "--auto-approve", "--var", "v=b"]);
    holder_command.env("INFRA_TEST_LATENCY_MS", "60000");
    let holder = Watched::spawn(&mut holder_command);
    let holder_pid = holder.child.id();
    let lock_key = format!("{BASE}lock.json");
    wait_until(
        "the first apply to write the lock object",
        || get(&moto, &lock_key).is_some(),
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
    assert!(
        text.contains(&format!("s3://{BUCKET}/{lock_key}")),
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
    // A wrong id is refused; the right one breaks the lock.
    let wrong = setup.expect(&["force-unlock", "not-the-id", "--force"], 1);
    assert!(
        stderr(&wrong).contains("infra::state::lock_mismatch"),
        "{}",
        stderr(&wrong)
    );
    let holder_info: serde_json::Value =
        serde_json::from_slice(&get(&moto, &lock_key).unwrap()).unwrap();
    assert_eq!(holder_info["pid"], holder_pid, "{holder_info}");
    let id = holder_info["id"].as_str().unwrap().to_owned();
    setup.expect(&["force-unlock", &id, "--force"], 0);
    // The waiter takes the lock and finishes; the old holder is stopped as a
    // hung process would be.
    let waited = waiter.finish();
    assert_eq!(code(&waited), 0, "{}", stderr(&waited));
    assert_no_leak(&waited, "the waiting apply");
    let mut holder = holder;
    let _ = holder.child.kill();
    drop(holder);
    setup.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(get(&moto, &lock_key).is_none(), "the lock object is gone");
}

#[test]
fn a_holder_whose_lock_was_broken_writes_nothing_more() {
    let Some(moto) = MotoServer::start("s3-backend-fence") else {
        return;
    };
    let setup = Setup::new("s3-fence", &moto, "s3", 2);
    setup.expect(&["apply", "--auto-approve"], 0);
    let mut holder_command = setup.command(&["apply", "--auto-approve", "--var", "v=b"]);
    holder_command.env("INFRA_TEST_LATENCY_MS", "3000");
    let holder = Watched::spawn(&mut holder_command);
    let lock_key = format!("{BASE}lock.json");
    wait_until(
        "the apply to write the lock object",
        || get(&moto, &lock_key).is_some(),
        || holder.stderr_so_far(),
    );
    let info: serde_json::Value = serde_json::from_slice(&get(&moto, &lock_key).unwrap()).unwrap();
    setup.expect(
        &["force-unlock", info["id"].as_str().unwrap(), "--force"],
        0,
    );
    let fenced = holder.finish();
    assert_no_leak(&fenced, "the fenced apply");
    assert_eq!(code(&fenced), 1, "{}", stderr(&fenced));
    assert!(
        stderr(&fenced).contains("infra::state::lock_mismatch"),
        "{}",
        stderr(&fenced)
    );
    assert_eq!(
        keys(&moto, &format!("{BASE}versions/")).len(),
        1,
        "the fenced apply wrote no version"
    );
}

#[test]
fn kill_9_during_an_apply_on_the_s3_backend_loses_nothing_completed() {
    let Some(moto) = MotoServer::start("s3-backend-crash") else {
        return;
    };
    let setup = Setup::new("s3-crash", &moto, "s3", 20);
    let mut apply = setup.command(&["apply", "--auto-approve", "--parallelism", "2"]);
    apply
        .env("INFRA_TEST_LATENCY_MS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = apply.spawn().unwrap();
    let journal = format!("{BASE}journal/");
    wait_until(
        "the apply to journal a few actions",
        || keys(&moto, &journal).len() >= 4,
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
    assert!(
        get(&moto, &format!("{BASE}lock.json")).is_some(),
        "the lock is left behind"
    );
    // A reading command sees the journalled actions without writing.
    let listed = setup.expect(&["state", "list"], 0);
    assert!(
        stderr(&listed).contains("infra::state::unrecorded_actions"),
        "{}",
        stderr(&listed)
    );
    // The next apply takes over the dead process's lock, records the
    // journal and finishes.
    let again = setup.expect(&["apply", "--auto-approve"], 0);
    assert!(stderr(&again).contains("recovered"), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("took over the state lock left by a process that is gone"),
        "{}",
        stderr(&again)
    );
    let ids = state_ids(&setup);
    let objects = world_objects(&setup.world.path);
    assert_eq!(ids.len(), 20, "{ids:?}");
    assert_eq!(objects.len(), 20, "{objects:?}");
    for (id, name) in &created {
        assert_eq!(objects.get(id), Some(name), "object {id} ({name}) was lost");
        assert_eq!(
            ids.get(name),
            Some(id),
            "{name} is not in the state as {id}"
        );
    }
    assert!(keys(&moto, &journal).is_empty(), "the journal is cleared");
    setup.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn state_objects_edited_by_hand_are_refused_and_restore_goes_on_from_a_good_version() {
    let Some(moto) = MotoServer::start("s3-backend-tamper") else {
        return;
    };
    let setup = Setup::new("s3-tamper", &moto, "s3", 1);
    setup.expect(&["apply", "--auto-approve"], 0);
    setup.expect(&["apply", "--auto-approve", "--var", "v=b"], 0);
    let second = format!("{BASE}versions/00000000000000000002.json");
    let text = String::from_utf8(get(&moto, &second).unwrap()).unwrap();
    put(
        &moto,
        &second,
        text.replace("\"r0\"", "\"r9\"").into_bytes(),
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
    // The way out: the refused object is kept aside, version 1 written back as 3.
    setup.expect(&["state", "restore", "1"], 0);
    let replaced = keys(&moto, &format!("{BASE}replaced/"));
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert!(replaced[0].contains("00000000000000000002"), "{replaced:?}");
    setup.expect(&["state", "list"], 0);
    let history = setup.expect(&["state", "history", "--json"], 0);
    let json: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(version_serials(&json), [1, 3], "{json}");
    // The newest version deleted by hand: noticed through the head.
    let third = format!("{BASE}versions/00000000000000000003.json");
    runtime()
        .block_on(aws::s3::delete_object(&test_client(&moto), BUCKET, &third))
        .unwrap();
    let refused = setup.expect(&["plan"], 1);
    assert!(
        stderr(&refused).contains("infra::state::missing_current"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn no_secret_nor_aws_credential_is_in_any_output_object_or_plan_file() {
    let Some(moto) = MotoServer::start("s3-backend-leak") else {
        return;
    };
    let setup = Setup::new("s3-leak", &moto, "s3", 1);
    for args in [
        &["apply", "--auto-approve"][..],
        &["plan", "--out", "saved.plan"],
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
    let needles = [CANARY, generated.as_str(), AWS_SECRET, AWS_TOKEN];
    let all = keys(&moto, "");
    assert!(all.iter().any(|k| k.contains("/versions/")), "{all:?}");
    assert!(all.iter().any(|k| k.contains("/audit/")), "{all:?}");
    for key in &all {
        let body = String::from_utf8_lossy(&get(&moto, key).unwrap()).into_owned();
        for needle in needles {
            assert!(!body.contains(needle), "{key} holds {needle} in plaintext");
        }
    }
    let plan = std::fs::read(setup.dir.path.join("saved.plan")).unwrap();
    let plan = String::from_utf8_lossy(&plan);
    assert!(plan.contains("null_resource"), "the plan file is there");
    for needle in needles {
        assert!(!plan.contains(needle), "the plan file holds {needle}");
    }
    for file in common::files_under(&setup.dir.path) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for needle in [CANARY, AWS_SECRET, AWS_TOKEN] {
            assert!(!text.contains(needle), "{} holds {needle}", file.display());
        }
    }
    // An endpoint that is down: named, transient, and no credential shown.
    let mut down = setup.command(&["plan"]);
    let closed = common::postgres::free_port();
    down.env("MOTO_URL", format!("http://127.0.0.1:{closed}"));
    let output = down.output().unwrap();
    assert_no_leak(&output, "plan against a closed port");
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(text.contains("infra::state::backend_unreachable"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{closed}")), "{text}");
}

#[test]
fn a_missing_bucket_or_no_bucket_at_all_is_refused_with_how_to_fix_it() {
    let Some(moto) = MotoServer::start("s3-backend-config") else {
        return;
    };
    let setup = Setup::new("s3-config", &moto, "s3", 1);
    setup.dir.write(
        "main.infra",
        stack("s3", 1).replace(BUCKET, "no-such-bucket"),
    );
    let refused = setup.expect(&["plan"], 1);
    let text = stderr(&refused);
    assert!(text.contains("infra::state::backend_config"), "{text}");
    assert!(text.contains("`no-such-bucket` does not exist"), "{text}");
    assert!(text.contains("NoSuchBucket"), "{text}");
    setup.dir.write(
        "main.infra",
        "stack \"s\" {\n  state = \"s3\"\n}\n\nresource \"null_resource\" \"a\" {}\n",
    );
    let refused = setup.expect(&["plan"], 1);
    let text = stderr(&refused);
    assert!(text.contains("infra::state::backend_config"), "{text}");
    assert!(text.contains("state_bucket"), "{text}");
    // No credentials anywhere: said, with the variables to set.
    setup.dir.write("main.infra", stack("s3", 1));
    let mut bare = setup.command(&["plan"]);
    bare.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let output = bare.output().unwrap();
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("AWS_ACCESS_KEY_ID"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn history_keep_deletes_old_version_objects_and_refuses_a_pruned_version() {
    let Some(moto) = MotoServer::start("s3-backend-retention") else {
        return;
    };
    let setup = Setup::new("s3-retention", &moto, "s3", 1);
    let with_keep = stack("s3", 1).replace(
        "default_environment = \"dev\"\n",
        "default_environment = \"dev\"\n  history             = { keep = 2 }\n",
    );
    setup.dir.write("main.infra", with_keep);
    let versions = || {
        keys(&moto, &format!("{BASE}versions/"))
            .iter()
            .map(|key| {
                key.trim_start_matches(&format!("{BASE}versions/"))
                    .trim_end_matches(".json")
                    .parse::<u64>()
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    four_applies_keep_the_newest_two(&setup, &versions);
    let pulled = setup.expect(&["state", "pull", "--serial", "2"], 1);
    assert!(
        stderr(&pulled).contains("infra::state::version_pruned"),
        "{}",
        stderr(&pulled)
    );
    let restored = setup.expect(&["state", "restore", "1"], 1);
    assert!(
        stderr(&restored).contains("infra::state::version_pruned"),
        "{}",
        stderr(&restored)
    );
    let pulled = setup.expect(&["state", "pull", "--serial", "3"], 0);
    let file: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(file["serial"], 3);
    // A restore of a kept version writes 5; the last apply (4) started from 3.
    let restored = setup.expect(&["state", "restore", "3"], 0);
    assert!(
        !stderr(&restored).contains("Pruned history"),
        "{}",
        stderr(&restored)
    );
    assert_eq!(versions(), [3, 4, 5]);
    setup.expect(&["rollback", "--auto-approve"], 0);
    assert_eq!(versions(), [5, 6]);
    assert!(keys(&moto, &format!("{BASE}audit/")).len() >= 6);
}
