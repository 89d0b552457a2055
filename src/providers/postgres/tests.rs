//! Unit tests of the `postgres` provider that need no server: quoting,
//! ids, settings, SQLSTATE classes, password verifiers, normalization and
//! the read batcher. The provider against a real server is tested in
//! `tests/postgres_provider.rs`.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::batch::Batcher;
use super::connection::{Pg, Settings, concurrent_catalog_update, transient_sqlstate};
use super::sql::{ident, join_id, literal, split_id};
use super::{Kind, grant, password, role};
use crate::lang::Value;
use crate::providers::{Attributes, ProviderError, ProviderErrorKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn attributes(entries: &[(&str, Value)]) -> Attributes {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn strings(items: &[&str]) -> Value {
    Value::list(items.iter().map(|s| Value::string(*s)).collect())
}

#[test]
fn names_and_values_are_quoted_so_they_cannot_end_the_statement() {
    assert_eq!(
        ident(r#"we"ird; DROP ROLE x; --"#),
        r#""we""ird; DROP ROLE x; --""#
    );
    assert_eq!(literal("it's; DROP"), "'it''s; DROP'");
    assert_eq!(literal(r"a\'b"), r" E'a\\''b'");
    assert!(super::sql::check_identifier("ok", "name").is_ok());
    let refused = |name: &str| super::sql::check_identifier(name, "name").unwrap_err();
    assert_eq!(refused("").attribute_path, Some(vec!["name".to_owned()]));
    assert!(refused("a\0b").message.contains("NUL"));
    assert!(refused(&"x".repeat(64)).message.contains("63"));
}

#[test]
fn ids_of_objects_in_a_database_round_trip_whatever_the_names_hold() {
    let id = join_id(&["my/db", "a,b%c"]);
    assert_eq!(id, "my%2Fdb/a%2Cb%25c");
    assert_eq!(
        split_id(&id),
        Some(vec!["my/db".to_owned(), "a,b%c".to_owned()])
    );
    assert_eq!(split_id("bad%zz"), None);
}

#[test]
fn sqlstates_of_lost_connections_serialization_failures_and_startup_are_transient() {
    for code in [
        "40001", "40P01", "57P03", "57P01", "08006", "08001", "53300",
    ] {
        assert!(transient_sqlstate(code), "{code}");
    }
    for code in ["42501", "42710", "28P01", "3D000", "0A000", "23505"] {
        assert!(!transient_sqlstate(code), "{code}");
    }
    assert!(concurrent_catalog_update(
        "XX000",
        "tuple concurrently updated"
    ));
    assert!(!concurrent_catalog_update("XX000", "cache lookup failed"));
}

fn no_files(path: &str) -> Result<Vec<u8>, String> {
    Err(format!("{path}: no such file"))
}

#[test]
fn settings_refuse_unknown_names_and_unverifiable_tls_modes_and_never_quote_the_url() {
    let block = attributes(&[("hots", Value::string("db"))]);
    let error = Settings::from_block(&block, &no_files).err().unwrap();
    assert_eq!(error.attribute_path, Some(vec!["hots".to_owned()]));
    let block = attributes(&[(
        "url",
        Value::string("postgres://u:hunter22@db:6543/app?sslmode=require").with_secret(true),
    )]);
    assert!(Settings::from_block(&block, &no_files).is_ok());
    let block = attributes(&[(
        "url",
        Value::string("postgres://u:hunter22@db:6543/app?sslmode=verify-full").with_secret(true),
    )]);
    let error = Settings::from_block(&block, &no_files).err().unwrap();
    assert!(error.message.contains("sslrootcert"), "{}", error.message);
    assert!(!error.message.contains("hunter22"));
    assert_eq!(error.attribute_path, Some(vec!["url".to_owned()]));
    let block = attributes(&[
        ("url", Value::string("postgres://u:hunter22@db:6543/app")),
        ("sslmode", Value::string("verify-ca")),
        ("sslrootcert", Value::string("missing.pem")),
    ]);
    let error = Settings::from_block(&block, &no_files).err().unwrap();
    assert!(error.message.contains("missing.pem"), "{}", error.message);
    assert_eq!(error.attribute_path, Some(vec!["sslrootcert".to_owned()]));
    let block = attributes(&[("sslmode", Value::string("verify-everything"))]);
    let error = Settings::from_block(&block, &no_files).err().unwrap();
    assert_eq!(error.attribute_path, Some(vec!["sslmode".to_owned()]));
    let block = attributes(&[(
        "url",
        Value::string("postgres://u:hunter22@db:6543/app?bogus=1"),
    )]);
    let error = Settings::from_block(&block, &no_files).err().unwrap();
    assert!(!error.message.contains("hunter22"), "{}", error.message);
    let block = attributes(&[
        ("url", Value::string("postgres://u:hunter22@db:6543/app")),
        ("port", Value::number(7000)),
    ]);
    let error = Settings::from_block(&block, &no_files).err().unwrap();
    assert_eq!(error.attribute_path, Some(vec!["port".to_owned()]));
    let block = attributes(&[
        ("url", Value::string("postgres://u:hunter22@db:6543/app")),
        ("dbname", Value::string("other")),
    ]);
    let settings = Settings::from_block(&block, &no_files).unwrap();
    assert_eq!(settings.endpoint, "db:6543");
    assert_eq!(
        (settings.user.as_str(), settings.dbname.as_str()),
        ("u", "other")
    );
    assert!(
        !settings
            .redactor
            .redact("x hunter22 y")
            .contains("hunter22")
    );
    let block = attributes(&[
        ("host", Value::string("db.internal")),
        ("port", Value::number(7000)),
        ("password", Value::string("pw-secret").with_secret(true)),
    ]);
    let settings = Settings::from_block(&block, &no_files).unwrap();
    assert_eq!(settings.endpoint, "db.internal:7000");
    assert!(!settings.redactor.redact("pw-secret").contains("pw-secret"));
    let settings = Settings::from_block(&Attributes::default(), &no_files).unwrap();
    assert_eq!(settings.endpoint, "localhost:5432");
}

#[test]
fn a_password_is_verified_against_scram_and_md5_verifiers_without_reading_it_back() {
    // Made by PostgreSQL 15 for the password "correct horse".
    let server = "SCRAM-SHA-256$4096:qZ/RxFb4WeP7d9vAGE6X8w==$40NNeC9Nwe18ROl/ExTBKCRAbPKqCdctggP3H+pZOTg=:QZDXfD60XXaQUMHvCJzdqHc8Gu/hi870w4+X3yqP8r4=";
    assert!(password::verifies("correct horse", server, "vtest"));
    assert!(!password::verifies("correct horsE", server, "vtest"));
    let md5 = "md5d35e34c1cee782e1a212beb7113a82c2";
    assert!(password::verifies("correct horse", md5, "vmd5"));
    assert!(!password::verifies("correct horse", md5, "other"));
    let ours = password::verifier("s3cret-Pässword");
    assert!(ours.starts_with("SCRAM-SHA-256$4096:"));
    assert!(!ours.contains("s3cret"));
    assert!(password::verifies("s3cret-Pässword", &ours, "any"));
    assert!(!password::verifies("s3cret", &ours, "any"));
    assert!(!password::verifies("x", "SCRAM-SHA-256$junk", "any"));
}

#[test]
fn valid_until_is_put_in_the_catalogs_form() {
    let normalized = |text: &str| role::normalize_valid_until(text).unwrap();
    let expected = Some("2030-01-01T00:00:00Z".to_owned());
    assert_eq!(normalized("2030-01-01"), expected);
    assert_eq!(normalized("2030-01-01T00:00:00Z"), expected);
    assert_eq!(normalized("2030-01-01 02:00:00+02:00"), expected);
    assert_eq!(normalized("infinity"), None);
    let error = role::normalize_valid_until("next tuesday").unwrap_err();
    assert_eq!(error.attribute_path, Some(vec!["valid_until".to_owned()]));
}

fn pg() -> Pg {
    Pg::new(Settings::from_block(&Attributes::default(), &no_files).unwrap())
}

#[test]
fn a_role_plan_fills_defaults_and_sorts_memberships_keeping_marks() {
    let mut proposed = attributes(&[
        ("name", Value::string("app")),
        ("member_of", strings(&["b", "a", "b"])),
        ("password", Value::string("pw").with_secret(true)),
    ]);
    role::Role.normalize(&pg(), &mut proposed).unwrap();
    assert_eq!(proposed.get("member_of"), Some(&strings(&["a", "b"])));
    assert_eq!(proposed.get("login"), Some(&Value::bool(false)));
    assert_eq!(proposed.get("inherit"), Some(&Value::bool(true)));
    assert_eq!(proposed.get("connection_limit"), Some(&Value::number(-1)));
    assert!(proposed.get("password").is_some_and(Value::is_secret));
}

#[test]
fn a_grant_plan_expands_all_and_refuses_privileges_the_object_type_lacks() {
    let mut proposed = attributes(&[
        ("role", Value::string("PUBLIC")),
        ("object_type", Value::string("Sequence")),
        ("schema", Value::string("app")),
        ("privileges", strings(&["all"])),
    ]);
    grant::Grant.normalize(&pg(), &mut proposed).unwrap();
    assert_eq!(proposed.get("role"), Some(&Value::string("public")));
    assert_eq!(
        proposed.get("object_type"),
        Some(&Value::string("sequence"))
    );
    assert_eq!(
        proposed.get("privileges"),
        Some(&strings(&["SELECT", "UPDATE", "USAGE"]))
    );
    assert_eq!(proposed.get("database"), Some(&Value::string("postgres")));
    let mut proposed = attributes(&[
        ("role", Value::string("anon")),
        ("object_type", Value::string("schema")),
        ("schema", Value::string("app")),
        ("privileges", strings(&["usage", "select"])),
    ]);
    let error = grant::Grant.normalize(&pg(), &mut proposed).unwrap_err();
    assert_eq!(error.attribute_path, Some(vec!["privileges".to_owned()]));
    let mut proposed = attributes(&[
        ("role", Value::string("anon")),
        ("object_type", Value::string("table")),
        ("privileges", strings(&["select"])),
    ]);
    let error = grant::Grant.normalize(&pg(), &mut proposed).unwrap_err();
    assert_eq!(error.attribute_path, Some(vec!["schema".to_owned()]));
}

#[test]
fn a_grant_id_names_role_database_type_schema_and_objects_and_imports_back() {
    let identity = grant::Grant
        .import_attributes(&pg(), "reader/app%2Fdb/table/app/orders,it%2Cems")
        .unwrap();
    assert_eq!(identity.get("database"), Some(&Value::string("app/db")));
    assert_eq!(
        identity.get("objects"),
        Some(&strings(&["orders", "it,ems"]))
    );
    assert!(
        grant::Grant
            .import_attributes(&pg(), "just-a-role")
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_are_answered_by_few_queries() {
    let batcher: Arc<Batcher<String, usize>> = Arc::new(Batcher::default());
    let queries = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for n in 0..200usize {
        let batcher = batcher.clone();
        let queries = queries.clone();
        tasks.push(tokio::spawn(async move {
            let fetch = |keys: Vec<String>| {
                queries.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::task::yield_now().await;
                    Ok::<_, ProviderError>(
                        keys.into_iter()
                            .filter(|k| k != "missing")
                            .map(|k| (k.clone(), k.len()))
                            .collect::<HashMap<_, _>>(),
                    )
                }
            };
            let key = if n == 7 {
                "missing".to_owned()
            } else {
                format!("role{n}")
            };
            (n, batcher.load(key, fetch).await)
        }));
    }
    for task in tasks {
        let (n, answer) = task.await.unwrap();
        let answer = answer.unwrap();
        if n == 7 {
            assert_eq!(answer, None);
        } else {
            assert_eq!(answer, Some(format!("role{n}").len()));
        }
    }
    let queries = queries.load(Ordering::SeqCst);
    assert!(queries < 200, "{queries} queries for 200 reads");
}

#[tokio::test]
async fn a_failed_batch_fails_every_read_in_it_with_the_same_kind() {
    let batcher: Batcher<String, u8> = Batcher::default();
    let answer = batcher
        .load("a".to_owned(), |_| async {
            Err::<HashMap<String, u8>, _>(ProviderError::transient("lost"))
        })
        .await;
    assert!(matches!(
        answer.unwrap_err().kind,
        ProviderErrorKind::Transient { .. }
    ));
    // The next read leads again.
    let answer = batcher
        .load("a".to_owned(), |keys| async move {
            Ok::<_, ProviderError>(keys.into_iter().map(|k| (k, 1)).collect())
        })
        .await;
    assert_eq!(answer.unwrap(), Some(1));
}
