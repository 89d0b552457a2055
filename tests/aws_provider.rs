//! The `aws` provider end to end: the real `infra` binary against a
//! throwaway moto server (`common::moto`), with what AWS holds checked
//! through the library's own signed client. Covers the life of every
//! resource type and import, drift made outside infra (a tag changed by a
//! raw signed request, a parameter deleted, a secret's value changed), a
//! bucket that holds objects, bad input (a bucket name S3 refuses, an
//! unknown region, an endpoint that is down, refused and missing
//! credentials), a throttling storm from a proxy in front of moto, a leak
//! test for the secret value, the secret key and the session token, two
//! aliased `provider "aws"` blocks in two regions, and `examples/aws` in
//! both of its environments.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;
use common::postgres::free_port;
#[path = "common/throttle.rs"]
mod throttle;

use common::moto::MotoServer;
use common::{StackRuns, TempDir, code, files_under, infra_env, stderr, stdout, words};
use infra::aws::{Client, Config, Credentials, Method, Request};
use serde_json::{Value, json};
use std::process::Output;
use throttle::ThrottleProxy;

const REGION: &str = "eu-west-1";

/// A signed client on moto, outside infra, to look and to meddle.
struct Aws {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl Aws {
    fn new(endpoint: &str) -> Aws {
        Aws::in_region(endpoint, REGION)
    }

    /// A client signing for `region` (moto keeps each region apart).
    fn in_region(endpoint: &str, region: &str) -> Aws {
        let credentials = Credentials::new("testing", "testing", None);
        let client =
            Client::new(Config::new(region, Some(endpoint.to_owned()), credentials)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Aws { client, runtime }
    }

    /// A JSON-protocol call; the answer, or the AWS error code.
    fn call(&self, service: &str, target: &str, body: Value) -> Result<Value, String> {
        let version = if service == "sqs" { "1.0" } else { "1.1" };
        let request = Request::json(service, target, version, &body);
        self.runtime
            .block_on(self.client.send(&request))
            .map(|response| response.json().unwrap())
            .map_err(|error| error.code)
    }

    fn ok(&self, service: &str, target: &str, body: Value) -> Value {
        self.call(service, target, body.clone())
            .unwrap_or_else(|code| panic!("{target} {body}: {code}"))
    }

    /// An S3 request; the body text, or the AWS error code.
    fn s3(&self, request: Request) -> Result<String, String> {
        self.runtime
            .block_on(self.client.send(&request))
            .map(|response| response.text())
            .map_err(|error| error.code)
    }

    fn parameter(&self, name: &str) -> Result<Value, String> {
        self.call(
            "ssm",
            "AmazonSSM.GetParameter",
            json!({ "Name": name, "WithDecryption": true }),
        )
        .map(|answer| answer["Parameter"].clone())
    }

    fn queue_attributes(&self, name: &str) -> Result<Value, String> {
        let url = self.call("sqs", "AmazonSQS.GetQueueUrl", json!({ "QueueName": name }))?;
        self.call(
            "sqs",
            "AmazonSQS.GetQueueAttributes",
            json!({ "QueueUrl": url["QueueUrl"], "AttributeNames": ["All"] }),
        )
        .map(|answer| answer["Attributes"].clone())
    }

    fn secret_value(&self, name: &str) -> Result<String, String> {
        self.call(
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            json!({ "SecretId": name }),
        )
        .map(|answer| {
            answer["SecretString"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
    }

    fn bucket_tags(&self, bucket: &str) -> String {
        self.s3(Request::s3(Method::Get, bucket, None).with_query("tagging", ""))
            .unwrap_or_default()
    }
}

/// A stack folder whose provider points at `endpoint`.
struct Stack {
    dir: TempDir,
    endpoint: String,
    envs: Vec<(String, String)>,
}

impl StackRuns for Stack {
    fn run(&self, args: &[&str]) -> Output {
        let mut envs: Vec<(&str, &str)> = vec![("AWS_TEST_ENDPOINT", self.endpoint.as_str())];
        envs.extend(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        infra_env(&self.dir.path, args, &envs)
    }
}

impl Stack {
    fn new(name: &str, endpoint: &str, body: &str) -> Stack {
        let stack = Stack {
            dir: TempDir::new(name),
            endpoint: endpoint.to_owned(),
            envs: vec![
                ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ],
        };
        stack.write(body);
        stack
    }

    /// Replaces the resources (the stack and the provider stay).
    fn write(&self, body: &str) {
        self.write_provider(
            &format!("  region   = \"{REGION}\"\n  endpoint = env_var(\"AWS_TEST_ENDPOINT\")\n"),
            body,
        );
    }

    fn write_provider(&self, provider: &str, body: &str) {
        let text = format!(
            "stack \"aws\" {{\n  default_environment = \"dev\"\n}}\n\nenvironment \"dev\" {{}}\n\n\
             provider \"aws\" {{\n{provider}}}\n\n{body}"
        );
        self.dir.write("main.infra", text);
    }

    fn set_env(&mut self, name: &str, value: &str) {
        self.envs.retain(|(n, _)| n != name);
        self.envs.push((name.into(), value.into()));
    }
}

const LIFECYCLE: &str = r#"
secret "api" {
  env = "API_SECRET"
}

resource "aws_s3_bucket" "site" {
  bucket     = "infra-test-site"
  versioning = true
  tags       = { team = "web", env = "dev" }
}

resource "aws_sqs_queue" "dead" {
  name = "jobs-dead"
}

resource "aws_sqs_queue" "jobs" {
  name               = "jobs"
  visibility_timeout = 45
  message_retention  = 7200
  redrive_policy = {
    dead_letter_arn   = aws_sqs_queue.dead.arn
    max_receive_count = 4
  }
  tags = { team = "web" }
}

resource "aws_sqs_queue" "events" {
  name = "events.fifo"
  fifo = true
}

resource "aws_secretsmanager_secret" "api" {
  name        = "dev/api/key"
  description = "The API key."
  value       = secret.api
  tags        = { team = "web" }
}

resource "aws_ssm_parameter" "replicas" {
  name  = "/app/dev/replicas"
  value = "3"
  tags  = { team = "web" }
}

resource "aws_ssm_parameter" "hosts" {
  name        = "/app/dev/hosts"
  type        = "StringList"
  value       = "a.example,b.example"
  description = "Upstream hosts."
}

resource "aws_ssm_parameter" "token" {
  name  = "/app/dev/token"
  type  = "SecureString"
  value = secret.api
}
"#;

#[test]
fn every_resource_type_is_created_read_updated_imported_and_deleted() {
    let Some(moto) = MotoServer::start("aws-lifecycle") else {
        return;
    };
    let aws = Aws::new(&moto.endpoint());
    let mut stack = Stack::new("aws-lifecycle", &moto.endpoint(), LIFECYCLE);
    stack.set_env("API_SECRET", "first-Secret-Value");
    stack.apply();
    stack.no_changes();

    let versioning = aws
        .s3(Request::s3(Method::Get, "infra-test-site", None).with_query("versioning", ""))
        .unwrap();
    assert!(
        versioning.contains("<Status>Enabled</Status>"),
        "{versioning}"
    );
    let tags = aws.bucket_tags("infra-test-site");
    assert!(
        tags.contains("<Key>team</Key>") && tags.contains("<Value>web</Value>"),
        "{tags}"
    );
    assert_eq!(
        aws.queue_attributes("events.fifo").unwrap()["FifoQueue"],
        "true"
    );
    let jobs = aws.queue_attributes("jobs").unwrap();
    assert_eq!(jobs["VisibilityTimeout"], "45");
    assert_eq!(jobs["MessageRetentionPeriod"], "7200");
    let dead = aws.queue_attributes("jobs-dead").unwrap();
    let redrive: Value = serde_json::from_str(jobs["RedrivePolicy"].as_str().unwrap()).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], dead["QueueArn"]);
    assert_eq!(
        aws.secret_value("dev/api/key").unwrap(),
        "first-Secret-Value"
    );
    assert_eq!(aws.parameter("/app/dev/replicas").unwrap()["Value"], "3");
    assert_eq!(
        aws.parameter("/app/dev/hosts").unwrap()["Type"],
        "StringList"
    );
    let token = aws.parameter("/app/dev/token").unwrap();
    assert_eq!(token["Type"], "SecureString");
    assert_eq!(token["Value"], "first-Secret-Value");

    // Update in place: tags, timeouts, the redrive count, a description,
    // a parameter's value and the secret's value.
    let changed = LIFECYCLE
        .replace("team = \"web\", env = \"dev\"", "team = \"platform\"")
        .replace("visibility_timeout = 45", "visibility_timeout = 90")
        .replace("max_receive_count = 4", "max_receive_count = 7")
        .replace("The API key.", "The API key, rotated.")
        .replace("value = \"3\"", "value = \"5\"");
    stack.write(&changed);
    stack.set_env("API_SECRET", "second-Secret-Value");
    let plan = stack.expect(&["plan", "--detailed-exitcode"], 2);
    let text = stdout(&plan);
    assert!(
        !text.contains("must be replaced") && !text.contains("-/+"),
        "{text}"
    );
    stack.apply();
    stack.no_changes();
    assert!(
        !aws.bucket_tags("infra-test-site")
            .contains("<Key>env</Key>")
    );
    let jobs = aws.queue_attributes("jobs").unwrap();
    assert_eq!(jobs["VisibilityTimeout"], "90");
    assert!(jobs["RedrivePolicy"].as_str().unwrap().contains('7'));
    assert_eq!(
        aws.secret_value("dev/api/key").unwrap(),
        "second-Secret-Value"
    );
    let parameter = aws.parameter("/app/dev/replicas").unwrap();
    assert_eq!(parameter["Value"], "5");
    assert_eq!(parameter["Version"], 2);

    // A FIFO queue cannot become standard in place: it is replaced.
    let standard = changed
        .replace("name = \"events.fifo\"", "name = \"events\"")
        .replace("fifo = true", "fifo = false");
    stack.write(&standard);
    let plan = stack.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        stdout(&plan).contains("aws_sqs_queue.events"),
        "{}",
        stdout(&plan)
    );
    stack.apply();
    assert!(aws.queue_attributes("events.fifo").is_err());
    assert_eq!(
        aws.queue_attributes("events").unwrap()["FifoQueue"],
        Value::Null
    );

    // Import: objects made outside come under management and plan nothing.
    aws.s3(
        Request::s3(Method::Put, "hand-made-bucket", None).with_body(
            format!(
                "<CreateBucketConfiguration><LocationConstraint>{REGION}</LocationConstraint>\
             </CreateBucketConfiguration>"
            )
            .into_bytes(),
            "application/xml",
        ),
    )
    .unwrap();
    aws.ok(
        "sqs",
        "AmazonSQS.CreateQueue",
        json!({ "QueueName": "hand-queue" }),
    );
    aws.ok(
        "secretsmanager",
        "secretsmanager.CreateSecret",
        json!({ "Name": "hand/secret", "SecretString": "by-hand", "Description": "made by hand" }),
    );
    aws.ok(
        "ssm",
        "AmazonSSM.PutParameter",
        json!({ "Name": "/hand/param", "Value": "x", "Type": "String" }),
    );
    stack.write(&format!(
        "{standard}
resource \"aws_s3_bucket\" \"hand\" {{
  bucket = \"hand-made-bucket\"
}}

resource \"aws_sqs_queue\" \"hand\" {{
  name = \"hand-queue\"
}}

resource \"aws_secretsmanager_secret\" \"hand\" {{
  name        = \"hand/secret\"
  description = \"made by hand\"
}}

resource \"aws_ssm_parameter\" \"hand\" {{
  name  = \"/hand/param\"
  value = \"x\"
}}
"
    ));
    let queue_url = aws.ok(
        "sqs",
        "AmazonSQS.GetQueueUrl",
        json!({ "QueueName": "hand-queue" }),
    )["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    for (addr, id) in [
        ("aws_s3_bucket.hand", "hand-made-bucket"),
        ("aws_sqs_queue.hand", queue_url.as_str()),
        ("aws_secretsmanager_secret.hand", "hand/secret"),
        ("aws_ssm_parameter.hand", "/hand/param"),
    ] {
        stack.expect(&["import", addr, id], 0);
    }
    stack.no_changes();
    let output = stack.expect(&["import", "aws_ssm_parameter.missing", "/no/such"], 1);
    assert!(
        stderr(&output).contains("aws_ssm_parameter"),
        "{}",
        stderr(&output)
    );

    // Delete: everything goes.
    stack.expect(&["destroy", "--auto-approve"], 0);
    assert_eq!(
        aws.s3(Request::s3(Method::Head, "infra-test-site", None))
            .err()
            .as_deref(),
        Some("NotFound")
    );
    assert!(aws.queue_attributes("jobs").is_err());
    assert!(aws.queue_attributes("hand-queue").is_err());
    assert!(aws.secret_value("dev/api/key").is_err());
    assert!(aws.parameter("/app/dev/token").is_err());
    assert!(aws.parameter("/hand/param").is_err());
}

const DRIFT: &str = r#"
secret "api" {
  env = "API_SECRET"
}

resource "aws_s3_bucket" "site" {
  bucket = "drift-site"
  tags   = { team = "web" }
}

resource "aws_ssm_parameter" "mode" {
  name  = "/app/mode"
  value = "fast"
}

resource "aws_secretsmanager_secret" "api" {
  name  = "drift/api"
  value = secret.api
}
"#;

#[test]
fn drift_made_outside_infra_is_named_by_attribute_and_apply_puts_it_back() {
    let Some(moto) = MotoServer::start("aws-drift") else {
        return;
    };
    let aws = Aws::new(&moto.endpoint());
    let mut stack = Stack::new("aws-drift", &moto.endpoint(), DRIFT);
    stack.set_env("API_SECRET", "Drift-Canary-Value");
    stack.apply();
    stack.expect(&["drift"], 0);

    // A tag changed through a raw signed request.
    aws.s3(Request::s3(Method::Put, "drift-site", None)
        .with_query("tagging", "")
        .with_body(
            b"<Tagging><TagSet><Tag><Key>team</Key><Value>ops</Value></Tag></TagSet></Tagging>"
                .to_vec(),
            "application/xml",
        ))
    .unwrap();
    // A parameter deleted outside infra.
    aws.ok(
        "ssm",
        "AmazonSSM.DeleteParameter",
        json!({ "Name": "/app/mode" }),
    );
    // The secret's value changed outside infra.
    aws.ok(
        "secretsmanager",
        "secretsmanager.PutSecretValue",
        json!({ "SecretId": "drift/api", "SecretString": "Changed-By-Hand" }),
    );

    let output = stack.expect(&["drift"], 2);
    let text = stdout(&output);
    assert!(text.contains("aws_s3_bucket.site"), "{text}");
    assert!(text.contains("ops"), "{text}");
    assert!(text.contains("aws_ssm_parameter.mode"), "{text}");
    assert!(text.contains("aws_secretsmanager_secret.api"), "{text}");
    assert!(text.contains("value"), "{text}");
    assert!(!words(&output).contains("Changed-By-Hand"), "{text}");
    assert!(!words(&output).contains("Drift-Canary-Value"), "{text}");

    stack.apply();
    stack.expect(&["drift"], 0);
    assert!(aws.bucket_tags("drift-site").contains("<Value>web</Value>"));
    assert_eq!(aws.parameter("/app/mode").unwrap()["Value"], "fast");
    assert_eq!(aws.secret_value("drift/api").unwrap(), "Drift-Canary-Value");
}

#[test]
fn a_bucket_that_holds_objects_is_deleted_only_with_force_destroy_and_then_with_every_version() {
    let Some(moto) = MotoServer::start("aws-force") else {
        return;
    };
    let aws = Aws::new(&moto.endpoint());
    let body = "resource \"aws_s3_bucket\" \"b\" {\n  bucket     = \"full-bucket\"\n  versioning = true\n}\n";
    let stack = Stack::new("aws-force", &moto.endpoint(), body);
    stack.apply();
    for content in ["one", "two"] {
        aws.s3(
            Request::s3(Method::Put, "full-bucket", Some("dir/a file.txt"))
                .with_body(content.as_bytes().to_vec(), "text/plain"),
        )
        .unwrap();
    }
    aws.s3(Request::s3(
        Method::Delete,
        "full-bucket",
        Some("dir/a file.txt"),
    ))
    .unwrap();

    let output = stack.expect(&["destroy", "--auto-approve"], 1);
    let all = words(&output);
    assert!(all.contains("BucketNotEmpty"), "{all}");
    assert!(all.contains("aws_s3_bucket.b"), "{all}");
    assert!(all.contains("force_destroy"), "{all}");
    assert!(
        aws.s3(Request::s3(Method::Head, "full-bucket", None))
            .is_ok()
    );
    stack.no_changes();

    stack.write(&body.replace(
        "versioning = true",
        "versioning = true\n  force_destroy = true",
    ));
    stack.apply();
    stack.expect(&["destroy", "--auto-approve"], 0);
    assert_eq!(
        aws.s3(Request::s3(Method::Head, "full-bucket", None))
            .err()
            .as_deref(),
        Some("NotFound")
    );
}

#[test]
fn bad_input_gives_clear_errors_and_leaves_state_correct() {
    let Some(moto) = MotoServer::start("aws-bad") else {
        return;
    };
    let aws = Aws::new(&moto.endpoint());

    // A bucket name S3 refuses: caught at validate, with the rule.
    let stack = Stack::new(
        "aws-bad",
        &moto.endpoint(),
        "resource \"aws_s3_bucket\" \"b\" {\n  bucket = \"Bad_Bucket\"\n}\n",
    );
    let output = stack.expect(&["validate"], 1);
    let all = words(&output);
    assert!(all.contains("infra::check::attribute_value"), "{all}");
    assert!(all.contains("upper-case letter"), "{all}");
    assert!(all.contains("3 to 63 lower-case letters"), "{all}");
    assert!(all.contains("main.infra:"), "no span: {all}");

    // An unknown region.
    let body = "resource \"aws_ssm_parameter\" \"p\" {\n  name  = \"/bad/p\"\n  value = \"v\"\n}\n";
    stack.write_provider(
        "  region   = \"eu-wset-1\"\n  endpoint = env_var(\"AWS_TEST_ENDPOINT\")\n",
        body,
    );
    let output = stack.expect(&["plan"], 1);
    let all = words(&output);
    assert!(
        all.contains("eu-wset-1") && all.contains("eu-west-1"),
        "{all}"
    );

    // An endpoint that is down: retried, then a clear error naming it;
    // nothing is recorded.
    let mut down = Stack::new(
        "aws-down",
        &format!("http://127.0.0.1:{}", free_port()),
        body,
    );
    down.set_env("AWS_SECRET_ACCESS_KEY", "Down-Secret-Canary");
    let output = down.expect(&["apply", "--auto-approve", "--retries", "2"], 1);
    let all = words(&output);
    assert!(all.contains(&down.endpoint), "{all}");
    assert!(all.contains("ConnectionError"), "{all}");
    assert!(all.contains("aws_ssm_parameter.p"), "{all}");
    assert!(!all.contains("Down-Secret-Canary"), "{all}");
    let state = down.expect(&["state", "list"], 0);
    assert!(
        !stdout(&state).contains("aws_ssm_parameter.p"),
        "{}",
        stdout(&state)
    );

    // No credentials at all.
    let mut anonymous = Stack::new("aws-anon", &moto.endpoint(), body);
    anonymous.envs.clear();
    let output = anonymous.expect(&["plan"], 1);
    assert!(
        words(&output).contains("AWS_ACCESS_KEY_ID"),
        "{}",
        words(&output)
    );

    // The same stack against the working endpoint applies.
    let good = Stack::new("aws-good", &moto.endpoint(), body);
    good.apply();
    assert_eq!(aws.parameter("/bad/p").unwrap()["Value"], "v");
}

#[test]
fn refused_credentials_give_a_clear_auth_error_without_the_secret() {
    let Some(moto) = MotoServer::start_checking_signatures("aws-auth", 2) else {
        return;
    };
    // The two free calls make a user and its key; then signatures count.
    let aws = Aws::new(&moto.endpoint());
    let call = |action: &str, params: &[(&str, &str)]| {
        aws.runtime
            .block_on(aws.client.send(&Request::query_protocol(
                "iam",
                action,
                "2010-05-08",
                params,
            )))
            .unwrap()
            .text()
    };
    call("CreateUser", &[("UserName", "deployer")]);
    let key = call("CreateAccessKey", &[("UserName", "deployer")]);
    let key_id = infra::aws::xml::text(&key, "AccessKeyId").unwrap();
    let body =
        "resource \"aws_ssm_parameter\" \"p\" {\n  name  = \"/auth/p\"\n  value = \"v\"\n}\n";
    let mut stack = Stack::new("aws-auth", &moto.endpoint(), body);
    stack.set_env("AWS_ACCESS_KEY_ID", &key_id);
    stack.set_env("AWS_SECRET_ACCESS_KEY", "Wrong-Secret-Canary");
    let output = stack.expect(&["apply", "--auto-approve"], 1);
    let all = words(&output);
    assert!(
        all.contains("SignatureDoesNotMatch") || all.contains("InvalidSignature"),
        "{all}"
    );
    assert!(all.contains("credentials were refused"), "{all}");
    assert!(all.contains("aws_ssm_parameter.p"), "{all}");
    assert!(!all.contains("Wrong-Secret-Canary"), "{all}");
    let state = stack.expect(&["state", "list"], 0);
    assert!(!stdout(&state).contains("aws_ssm_parameter.p"));
}

const STORM: &str = r#"
resource "aws_s3_bucket" "site" {
  bucket = "storm-site"
  tags   = { n = "1" }
}

resource "aws_sqs_queue" "jobs" {
  count = 3
  name  = "storm-${count.index}"
}

resource "aws_ssm_parameter" "p" {
  count = 4
  name  = "/storm/p${count.index}"
  value = "v${count.index}"
}
"#;

#[test]
fn a_throttling_storm_is_retried_and_state_stays_correct() {
    let Some(moto) = MotoServer::start("aws-storm") else {
        return;
    };
    let aws = Aws::new(&moto.endpoint());
    let proxy = ThrottleProxy::start(moto.port());
    let stack = Stack::new("aws-storm", &proxy.endpoint(), STORM);

    // Each request is throttled twice, then goes through: five tries suffice.
    proxy.storm(2);
    let output = stack.expect(&["apply", "--auto-approve"], 0);
    assert!(proxy.throttled() > 20, "{}", proxy.throttled());
    assert!(
        words(&output).contains("retries after transient"),
        "{}",
        words(&output)
    );
    proxy.storm(0);
    stack.no_changes();
    assert_eq!(aws.parameter("/storm/p3").unwrap()["Value"], "v3");

    // A storm longer than the retries: the apply fails with the AWS code,
    // and what was done before it is recorded; once it passes, the next
    // apply finishes the change.
    stack.write(
        &STORM
            .replace("count = 4", "count = 6")
            .replace("n = \"1\"", "n = \"2\""),
    );
    proxy.storm(100);
    let output = stack.expect(&["apply", "--auto-approve", "--retries", "2"], 1);
    let all = words(&output);
    assert!(
        all.contains("ThrottlingException") || all.contains("SlowDown"),
        "{all}"
    );
    proxy.storm(0);
    stack.expect(&["plan", "--detailed-exitcode"], 2);
    stack.apply();
    stack.no_changes();
    assert_eq!(aws.parameter("/storm/p5").unwrap()["Value"], "v5");
    assert!(aws.bucket_tags("storm-site").contains("<Value>2</Value>"));
}

#[test]
fn the_secret_value_the_secret_key_and_the_session_token_appear_in_no_output_or_file() {
    let Some(moto) = MotoServer::start("aws-leak") else {
        return;
    };
    let value = "Canary-Value-5f1e9a";
    let secret_key = "Canary-Key-0b7d44";
    let token = "Canary-Token-c39e21";
    let body = r#"
secret "canary" {
  env = "CANARY"
}

resource "aws_secretsmanager_secret" "s" {
  name  = "leak/secret"
  value = secret.canary
}

resource "aws_ssm_parameter" "p" {
  name  = "/leak/p"
  type  = "SecureString"
  value = secret.canary
}

output "value" {
  value     = aws_secretsmanager_secret.s.value
  sensitive = true
}
"#;
    let mut stack = Stack::new("aws-leak", &moto.endpoint(), body);
    stack.set_env("CANARY", value);
    stack.set_env("AWS_SECRET_ACCESS_KEY", secret_key);
    stack.set_env("AWS_SESSION_TOKEN", token);
    let mut outputs = Vec::new();
    for args in [
        &["plan"][..],
        &["plan", "--format", "json"],
        &["plan", "--out", "saved.plan"],
        &["apply", "--auto-approve"],
        &["plan", "--format", "markdown"],
        &["drift", "--format", "json"],
        &["output", "--json"],
        &["state", "show", "aws_secretsmanager_secret.s"],
        &["state", "show", "aws_ssm_parameter.p"],
        &["state", "history"],
    ] {
        let output = stack.run(args);
        assert!(code(&output) != 1, "{args:?}: {}", stderr(&output));
        outputs.push(output);
    }
    // A change outside, seen as drift and put back.
    let aws = Aws::new(&moto.endpoint());
    aws.ok(
        "ssm",
        "AmazonSSM.PutParameter",
        json!({ "Name": "/leak/p", "Value": "other", "Type": "SecureString", "Overwrite": true }),
    );
    outputs.push(stack.expect(&["drift"], 2));
    outputs.push(stack.apply());
    // A failing call: its error must not quote the value either.
    stack.write(&body.replace("leak/secret", "leak/bad name!"));
    outputs.push(stack.run(&["apply", "--auto-approve"]));
    for output in &outputs {
        let all = format!("{}{}", stdout(output), stderr(output));
        for canary in [value, secret_key, token] {
            assert!(!all.contains(canary), "{canary} printed:\n{all}");
        }
    }
    let mut files = files_under(&stack.dir.path.join(".infra"));
    files.push(stack.dir.path.join("saved.plan"));
    assert!(files.len() > 2, "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for canary in [value, secret_key, token] {
            assert!(!text.contains(canary), "{canary} in {}", file.display());
        }
    }
    let log = moto.log();
    assert!(log.contains("POST"), "moto logs nothing:\n{log}");
    for canary in [value, secret_key, token] {
        assert!(!log.contains(canary), "{canary} in moto's log");
    }
}

#[test]
fn the_aws_example_applies_both_environments_against_moto() {
    let Some(moto) = MotoServer::start("aws-example") else {
        return;
    };
    let aws = Aws::new(&moto.endpoint());
    let dir = TempDir::new("aws-example");
    common::copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/aws"),
        &dir.path,
    );
    let endpoint = format!("endpoint={}", moto.endpoint());
    let envs = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let run = |args: &[&str], expected: i32| {
        let mut all: Vec<&str> = args.to_vec();
        if args[0] != "output" {
            all.extend(["--var", endpoint.as_str()]);
        }
        let output = infra_env(&dir.path, &all, &envs);
        assert_eq!(
            code(&output),
            expected,
            "infra {all:?}\nstdout:\n{}\nstderr:\n{}",
            stdout(&output),
            stderr(&output)
        );
        output
    };
    run(&["validate"], 0);
    for env in ["staging", "production"] {
        run(&["apply", "--env", env, "--auto-approve"], 0);
        run(&["plan", "--env", env, "--detailed-exitcode"], 0);
        let key = stdout(&run(
            &["output", "--env", env, "api_key", "--raw", "--show-secrets"],
            0,
        ));
        let key = key.trim();
        assert_eq!(key.len(), 40);
        assert_eq!(
            aws.secret_value(&format!("infra-example/{env}/api-key"))
                .unwrap(),
            key
        );
        assert_eq!(
            aws.parameter(&format!("/infra-example/{env}/worker/api_key"))
                .unwrap()["Value"],
            key
        );
        let queue = aws
            .parameter(&format!("/infra-example/{env}/worker/queue_url"))
            .unwrap();
        assert!(
            queue["Value"]
                .as_str()
                .unwrap()
                .ends_with(&format!("infra-example-jobs-{env}")),
            "{queue}"
        );
        let jobs = aws
            .queue_attributes(&format!("infra-example-jobs-{env}"))
            .unwrap();
        assert!(
            jobs["RedrivePolicy"]
                .as_str()
                .unwrap()
                .contains(&format!("infra-example-jobs-dead-{env}")),
            "{jobs}"
        );
    }
    let replicas = aws
        .parameter("/infra-example/production/worker/replicas")
        .unwrap();
    assert_eq!(replicas["Value"], "3");
    // Drift as the README shows it, put back by apply.
    aws.ok(
        "ssm",
        "AmazonSSM.DeleteParameter",
        json!({ "Name": "/infra-example/staging/worker/replicas" }),
    );
    run(&["drift", "--env", "staging"], 2);
    run(&["apply", "--env", "staging", "--auto-approve"], 0);
    // Staging's bucket goes with what it holds; production is protected.
    aws.s3(Request::s3(
        Method::Put,
        "infra-example-site-staging",
        Some("index.html"),
    )
    .with_body(b"<h1>hi</h1>".to_vec(), "text/html"))
        .unwrap();
    run(&["destroy", "--env", "staging", "--auto-approve"], 0);
    run(&["destroy", "--env", "production", "--auto-approve"], 1);
    assert!(
        aws.s3(Request::s3(
            Method::Head,
            "infra-example-site-staging",
            None
        ))
        .is_err()
    );
    assert!(
        aws.s3(Request::s3(
            Method::Head,
            "infra-example-site-production",
            None
        ))
        .is_ok()
    );
}

/// Two aliased `aws` blocks, one region each, and one parameter of the same
/// name through each (`with_us`: the us-east-1 one too).
fn two_regions(with_us: bool) -> String {
    let us = if with_us {
        r#"
resource "aws_ssm_parameter" "us" {
  provider = aws.us
  name     = "/app/region"
  value    = "served from us-east-1"
}
"#
    } else {
        ""
    };
    format!(
        r#"provider "aws" {{
  alias    = "eu"
  region   = "eu-west-1"
  endpoint = env_var("AWS_TEST_ENDPOINT")
}}

provider "aws" {{
  alias    = "us"
  region   = "us-east-1"
  endpoint = env_var("AWS_TEST_ENDPOINT")
}}

resource "aws_ssm_parameter" "eu" {{
  provider = aws.eu
  name     = "/app/region"
  value    = "served from eu-west-1"
}}
{us}"#
    )
}

#[test]
fn aliased_blocks_keep_each_region_apart_through_apply_drift_and_a_removed_resource() {
    let Some(moto) = MotoServer::start("aws-aliases") else {
        return;
    };
    let (eu, us) = (
        Aws::in_region(&moto.endpoint(), "eu-west-1"),
        Aws::in_region(&moto.endpoint(), "us-east-1"),
    );
    let value = |aws: &Aws| {
        aws.parameter("/app/region")
            .map(|p| p["Value"].as_str().unwrap_or_default().to_owned())
    };
    // The default block is there too, in a third region: nothing may go
    // through it.
    let default_block =
        "  region   = \"ap-south-1\"\n  endpoint = env_var(\"AWS_TEST_ENDPOINT\")\n";
    let stack = Stack::new("aws-aliases", &moto.endpoint(), "");
    stack.write_provider(default_block, &two_regions(true));
    let output = stack.expect(&["plan"], 0);
    assert!(
        stdout(&output).contains("aws_ssm_parameter.us will be created (via aws.us)"),
        "{}",
        stdout(&output)
    );
    stack.apply();
    assert_eq!(value(&eu).as_deref(), Ok("served from eu-west-1"));
    assert_eq!(value(&us).as_deref(), Ok("served from us-east-1"));
    let elsewhere = Aws::in_region(&moto.endpoint(), "ap-south-1");
    assert!(
        value(&elsewhere).is_err(),
        "nothing went to the default block's region"
    );
    stack.no_changes();

    // A change made in one region is drift of that region's parameter only.
    us.ok(
        "ssm",
        "AmazonSSM.PutParameter",
        json!({ "Name": "/app/region", "Value": "changed in us", "Type": "String", "Overwrite": true }),
    );
    let output = stack.expect(&["drift"], 2);
    let text = words(&output);
    assert!(text.contains("aws_ssm_parameter.us"), "{text}");
    assert!(!text.contains("aws_ssm_parameter.eu"), "{text}");
    stack.apply();
    assert_eq!(value(&us).as_deref(), Ok("served from us-east-1"));

    // Removed from the configuration: deleted in its own region only.
    stack.write_provider(default_block, &two_regions(false));
    let output = stack.apply();
    assert!(
        stdout(&output).contains("1 destroyed"),
        "{}",
        stdout(&output)
    );
    assert!(value(&us).is_err(), "the us parameter is gone");
    assert_eq!(value(&eu).as_deref(), Ok("served from eu-west-1"));
    stack.no_changes();
}
