//! Offline tests of the `aws` provider: the rules checked at validate, the
//! plan's defaults and marks, and how a secret's value is read back.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::api::Failure;
use super::*;
use crate::lang::Value;
use crate::providers::provider::Provider;

fn attributes(entries: &[(&str, Value)]) -> Attributes {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn provider() -> AwsProvider {
    AwsProvider::new(std::sync::Arc::new(crate::host::MemoryHost::new()))
}

#[test]
fn bucket_names_that_s3_refuses_are_named_by_their_fault() {
    for good in [
        "my-bucket",
        "a.b.c",
        "abc",
        "logs-2024.example",
        &"a".repeat(63),
    ] {
        assert_eq!(bucket_name_problem(good), None, "{good}");
    }
    for (bad, fault) in [
        ("ab", "2 characters"),
        (&"a".repeat(64) as &str, "64 characters"),
        ("My-Bucket", "upper-case"),
        ("my_bucket", "underscore"),
        ("-bucket", "begin and end"),
        ("bucket.", "begin and end"),
        ("my..bucket", "two dots"),
        ("192.168.5.4", "IP address"),
        ("xn--bucket", "`xn--`"),
        ("bucket-s3alias", "`-s3alias`"),
        ("my site", "the character"),
    ] {
        let problem = bucket_name_problem(bad).unwrap_or_default();
        assert!(problem.contains(fault), "{bad}: {problem}");
        assert!(!problem.contains(bad), "the name is quoted: {problem}");
    }
}

#[test]
fn validate_checks_the_rules_of_every_resource_type_offline() {
    let aws = provider();
    let errors = aws.validate(
        "aws_s3_bucket",
        &attributes(&[("bucket", Value::string("Bad_Name"))]),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].attribute_path.as_deref(),
        Some(&["bucket".to_owned()][..])
    );
    assert!(
        errors[0].message.contains("3 to 63"),
        "{}",
        errors[0].message
    );

    let queue = |name: &str, fifo: Option<bool>| {
        let mut config = attributes(&[("name", Value::string(name))]);
        if let Some(fifo) = fifo {
            config.insert("fifo".into(), Value::bool(fifo));
        }
        aws.validate("aws_sqs_queue", &config)
    };
    assert!(queue("jobs", None).is_empty());
    assert!(queue("jobs.fifo", Some(true)).is_empty());
    assert!(
        queue("jobs", Some(true))[0]
            .message
            .contains("must end in `.fifo`")
    );
    assert!(
        queue("jobs.fifo", None)[0]
            .message
            .contains("`fifo` is not true")
    );
    assert!(
        queue("jobs.fifo", Some(false))[0]
            .message
            .contains("`fifo` is not true")
    );
    // Unknown until apply: checked at plan.
    let mut config = attributes(&[("name", Value::string("jobs.fifo"))]);
    config.insert("fifo".into(), Value::UNKNOWN);
    assert!(aws.validate("aws_sqs_queue", &config).is_empty());

    let parameter = |name: &str, ty: &str| {
        aws.validate(
            "aws_ssm_parameter",
            &attributes(&[
                ("name", Value::string(name)),
                ("type", Value::string(ty)),
                ("value", Value::string("v")),
            ]),
        )
    };
    assert!(parameter("/app/prod/replicas", "StringList").is_empty());
    assert!(
        parameter("/app/x", "Secure")[0]
            .message
            .contains("\"SecureString\"")
    );
    assert!(
        parameter("app/x", "String")[0]
            .message
            .contains("does not start with one")
    );
    assert!(
        parameter("/aws/x", "String")[0]
            .message
            .contains("`aws` or `ssm`")
    );

    let secret = aws.validate(
        "aws_secretsmanager_secret",
        &attributes(&[
            ("name", Value::string("prod/api key")),
            ("recovery_window_days", Value::number(3)),
        ]),
    );
    assert_eq!(secret.len(), 2, "{secret:?}");
}

#[tokio::test]
async fn a_securestring_value_is_planned_secret_and_a_plain_one_is_not() {
    let aws = provider();
    let plan = |ty: &'static str| {
        let aws = &aws;
        async move {
            aws.plan_change(
                "aws_ssm_parameter",
                None,
                &attributes(&[
                    ("name", Value::string("/app/token")),
                    ("type", Value::string(ty)),
                    ("value", Value::string("tok3n-value")),
                ]),
            )
            .await
            .unwrap()
        }
    };
    let secure = plan("SecureString").await;
    assert!(secure.planned.get("value").is_some_and(Value::is_secret));
    assert!(secure.planned.get("version").is_some_and(Value::is_unknown));
    let plain = plan("String").await;
    assert!(!plain.planned.get("value").is_some_and(Value::is_secret));
    assert_eq!(plain.planned.get("overwrite"), Some(&Value::bool(false)));
}

#[tokio::test]
async fn a_changed_secret_value_plans_a_new_sealed_hash_and_an_unchanged_one_keeps_it() {
    let aws = provider();
    let config = |value: &str| {
        attributes(&[
            ("name", Value::string("prod/api")),
            ("value", Value::string(value).with_secret(true)),
        ])
    };
    let created = aws
        .plan_change("aws_secretsmanager_secret", None, &config("first-value"))
        .await
        .unwrap();
    let hash = created.planned.get("value_hash").cloned().unwrap();
    assert!(hash.is_secret());
    assert_ne!(hash.as_str(), Some("first-value"));
    let prior = ObjectState {
        id: "arn".into(),
        attributes: created.planned.clone(),
    };
    let same = aws
        .plan_change(
            "aws_secretsmanager_secret",
            Some(&prior),
            &config("first-value"),
        )
        .await
        .unwrap();
    assert_eq!(same.planned.get("value_hash"), Some(&hash));
    let changed = aws
        .plan_change(
            "aws_secretsmanager_secret",
            Some(&prior),
            &config("second-value"),
        )
        .await
        .unwrap();
    assert_ne!(changed.planned.get("value_hash"), Some(&hash));
    assert!(!changed.replaces());
}

#[test]
fn a_secret_value_reads_as_recorded_when_its_hash_matches_and_as_changed_otherwise() {
    let recorded = secretsmanager_secret::tests_support::hash("s3cret-one");
    let prior = attributes(&[
        ("value", Value::string("s3cret-one").with_secret(true)),
        (
            "value_hash",
            Value::string(recorded.clone()).with_secret(true),
        ),
    ]);
    let (value, hash) = secretsmanager_secret::tests_support::read_value(&prior, Some(recorded));
    assert_eq!(value.as_str(), Some("s3cret-one"));
    assert!(value.is_secret() && hash.is_secret());
    let other = secretsmanager_secret::tests_support::hash("set-by-hand");
    let (value, _) = secretsmanager_secret::tests_support::read_value(&prior, Some(other));
    assert_eq!(value.as_str(), Some(secretsmanager_secret::CHANGED_OUTSIDE));
    assert!(value.is_secret());
    let (value, hash) = secretsmanager_secret::tests_support::read_value(&prior, None);
    assert!(value.is_null() && hash.is_null());
}

#[test]
fn aws_error_codes_are_matched_without_their_namespace_and_keep_the_code_in_the_message() {
    let failure = Failure {
        code: "com.amazonaws.sqs#QueueDoesNotExist".into(),
        message: "The specified queue does not exist.".into(),
        status: Some(400),
        transient: false,
        retry_after: None,
    };
    assert!(failure.is("QueueDoesNotExist"));
    assert!(!failure.is("DoesNotExist"));
    let throttled = Failure {
        code: "ThrottlingException".into(),
        message: "Rate exceeded".into(),
        status: Some(400),
        transient: true,
        retry_after: Some(std::time::Duration::from_secs(1)),
    }
    .error("could not create SSM parameter `/a`");
    assert!(throttled.is_transient());
    assert_eq!(
        throttled.retry_hint(),
        Some(std::time::Duration::from_secs(1))
    );
    assert!(
        throttled.message.contains("ThrottlingException"),
        "{}",
        throttled.message
    );
    assert!(throttled.message.contains("`/a`"), "{}", throttled.message);
}

#[test]
fn an_error_that_quotes_a_value_is_redacted() {
    let error = ProviderError::permanent(
        "ValidationException: Value 'hunter2-canary' at 'value' failed to satisfy constraint",
    );
    let redacted = redacted(
        error,
        &attributes(&[("value", Value::string("hunter2-canary"))]),
    );
    assert!(
        !redacted.message.contains("hunter2-canary"),
        "{}",
        redacted.message
    );
}
