//! Unit tests of the `http` provider that need no server: `Retry-After`
//! parsing, redaction, the planned watched fields, URLs, settings; and error
//! kinds against a closed port. The real-server tests are in
//! `tests/provider_http.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::client::{Redactor, parse_http_date, parse_retry_after};
use super::*;
use crate::host::MemoryHost;
use crate::lang::Number;
use std::time::UNIX_EPOCH;

fn provider() -> HttpProvider {
    HttpProvider::new(Arc::new(MemoryHost::new()), PathBuf::from("stack"))
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn config(body: Value) -> Attributes {
    Attributes::from([
        (
            String::from("base_url"),
            Value::string("http://127.0.0.1:9"),
        ),
        (
            String::from("create"),
            map(&[("path", Value::string("/items")), ("body", body)]),
        ),
    ])
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(
        parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777)
    );
    assert_eq!(
        parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
        Some(Duration::from_secs(30))
    );
    // A date in the past: try again at once.
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(
        parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
        Some(1_582_977_600)
    );
    for bad in [
        "soon",
        "-5",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "",
        "Sun, 32 Nov 1994 08:49:37 GMT",
    ] {
        assert_eq!(parse_retry_after(bad, now), None, "{bad}");
    }
}

#[test]
fn the_redactor_hides_whole_values_and_their_words() {
    let mut redactor = Redactor::default();
    redactor.add("Bearer s3cr3t-token-value");
    redactor.add_secrets_in(&map(&[
        (
            "password",
            Value::string("hunter2hunter2").with_secret(true),
        ),
        ("plain", Value::string("visible")),
    ]));
    let text =
        "got Bearer s3cr3t-token-value, then s3cr3t-token-value alone, hunter2hunter2, visible";
    let redacted = redactor.redact(text);
    assert!(!redacted.contains("s3cr3t"), "{redacted}");
    assert!(!redacted.contains("hunter2"), "{redacted}");
    assert!(redacted.contains("visible"), "{redacted}");
    assert!(redactor.reveals(text));
    assert!(!redactor.reveals("nothing here"));
}

#[test]
fn schemas_type_and_protect_the_attributes() {
    let schema = resource_schema();
    assert!(schema.attribute("headers").unwrap().sensitive);
    assert!(!schema.attribute("response").unwrap().settable());
    assert!(!schema.attribute("id").unwrap().settable());
    assert_eq!(
        schema.attribute("create").unwrap().presence,
        crate::providers::Presence::Required
    );
    let data = data_schema();
    assert!(data.attribute("headers").unwrap().sensitive);
    assert!(data.attribute("url").unwrap().settable());
    let registry = crate::providers::Registry::builtin();
    assert!(registry.resource(HTTP_RESOURCE).is_some());
    assert!(registry.data_source(HTTP_DATA).is_some());
    assert!(registry.provider_names().contains(&NAME));
}

#[tokio::test]
async fn a_plan_wants_the_bodys_values_in_response() {
    let provider = provider();
    let body = map(&[
        ("name", Value::string("alpha")),
        ("size", Value::number(Number::Int(1))),
    ]);
    let created = provider
        .plan_change(HTTP_RESOURCE, None, &config(body.clone()))
        .await
        .unwrap();
    assert_eq!(created.planned["response"], body);
    assert!(created.planned["id"].is_unknown());

    // Drift: the API says another name; the plan wants the body's back.
    let prior = ObjectState {
        id: String::from("1"),
        attributes: {
            let mut attributes = created.planned.clone();
            attributes.insert(String::from("id"), Value::string("1"));
            attributes.insert(
                String::from("response"),
                map(&[
                    ("name", Value::string("changed")),
                    ("size", Value::number(Number::Int(1))),
                ]),
            );
            attributes
        },
    };
    let change = provider
        .plan_change(HTTP_RESOURCE, Some(&prior), &config(body.clone()))
        .await
        .unwrap();
    assert_eq!(change.planned["response"], body);
    assert!(!change.replaces());

    // A watched field the body does not set keeps the API's value.
    let mut watched = config(body.clone());
    watched.insert(
        String::from("read_attributes"),
        Value::list(vec![Value::string("name"), Value::string("created_at")]),
    );
    let created = provider
        .plan_change(HTTP_RESOURCE, None, &watched)
        .await
        .unwrap();
    let response = created.planned["response"].as_map().unwrap().clone();
    assert_eq!(response["name"], Value::string("alpha"));
    assert!(response["created_at"].is_unknown());

    // Another base_url replaces the object.
    let mut moved = config(body);
    moved.insert(
        String::from("base_url"),
        Value::string("http://127.0.0.1:10"),
    );
    let change = provider
        .plan_change(HTTP_RESOURCE, Some(&prior), &moved)
        .await
        .unwrap();
    assert_eq!(
        change.requires_replace,
        vec![vec![String::from("base_url")]]
    );
}

#[tokio::test]
async fn bad_settings_are_refused_with_their_attribute() {
    let provider = provider();
    let mut attributes = config(map(&[("name", Value::string("a"))]));
    attributes.insert(String::from("update_method"), Value::string("POST"));
    let error = provider
        .plan_change(HTTP_RESOURCE, None, &attributes)
        .await
        .unwrap_err();
    assert_eq!(
        error.attribute_path,
        Some(vec![String::from("update_method")])
    );

    let mut attributes = config(Value::NULL);
    attributes.insert(String::from("id_path"), Value::string("id"));
    let error = provider
        .plan_change(HTTP_RESOURCE, None, &attributes)
        .await
        .unwrap_err();
    assert_eq!(error.attribute_path, Some(vec![String::from("id_path")]));

    let mut attributes = config(Value::NULL);
    attributes.remove("base_url");
    let error = provider
        .plan_change(HTTP_RESOURCE, None, &attributes)
        .await
        .unwrap_err();
    assert_eq!(error.attribute_path, Some(vec![String::from("base_url")]));

    let error = provider
        .configure(&Attributes::from([(
            String::from("token"),
            Value::string("x"),
        )]))
        .await
        .unwrap_err();
    assert!(
        error.message.contains("no setting `token`"),
        "{}",
        error.message
    );
    let error = provider
        .configure(&Attributes::from([(
            String::from("ca_cert"),
            Value::string("missing.pem"),
        )]))
        .await
        .unwrap_err();
    assert_eq!(error.attribute_path, Some(vec![String::from("ca_cert")]));
}

#[tokio::test]
async fn the_provider_base_url_and_headers_apply_under_it_only() {
    let provider = provider();
    provider
        .configure(&Attributes::from([
            (
                String::from("base_url"),
                Value::string("http://api.test/v1"),
            ),
            (
                String::from("headers"),
                map(&[(
                    "Authorization",
                    Value::string("Bearer abc").with_secret(true),
                )]),
            ),
        ]))
        .await
        .unwrap();
    let settings = provider.settings();
    let under_base = provider
        .headers_for(&settings, "http://api.test/v1/items", &Value::NULL)
        .unwrap();
    assert_eq!(under_base["Authorization"], "Bearer abc");
    let elsewhere = provider
        .headers_for(&settings, "http://api.test/v10", &Value::NULL)
        .unwrap();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    let mut attributes = config(Value::NULL);
    attributes.remove("base_url");
    let resource = provider.resource(&attributes).unwrap();
    assert_eq!(
        resource.url(&resource.read_path, Some("a b/c")),
        "http://api.test/v1/items/a%20b%2Fc"
    );
    assert_eq!(resource.update_method, reqwest::Method::PUT);
    assert_eq!(resource.delete_path, "/items/{id}");
}

#[tokio::test]
async fn a_closed_port_is_transient_and_names_no_secret() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let provider = provider();
    let mut attributes = config(map(&[("name", Value::string("a"))]));
    attributes.insert(
        String::from("base_url"),
        Value::string(format!("http://127.0.0.1:{port}")),
    );
    attributes.insert(
        String::from("headers"),
        map(&[("X-Key", Value::string("k3y-material-123"))]),
    );
    let error = provider
        .create(
            &crate::providers::Operation::detached(),
            HTTP_RESOURCE,
            &attributes,
        )
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(
        error.message.contains("could not connect"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("k3y-material"), "{}", error.message);
}

#[test]
fn ids_and_fields_are_found_by_name_or_pointer() {
    let json =
        serde_json::json!({ "data": { "id": 42, "tags": ["a", "b"] }, "name": "x", "slug": "" });
    assert_eq!(id_at(&json, "/data/id"), Some(String::from("42")));
    assert_eq!(id_at(&json, "/name"), Some(String::from("x")));
    assert_eq!(id_at(&json, "/slug"), None, "an empty id is no id");
    assert_eq!(id_at(&json, "/data/tags"), None);
    assert_eq!(lookup_json(&json, "name"), Some(&serde_json::json!("x")));
    assert_eq!(
        lookup_json(&json, "/data/tags/1"),
        Some(&serde_json::json!("b"))
    );
    let value = Value::from_json(&json);
    assert_eq!(
        lookup_value(&value, "/data/tags/0"),
        Some(&Value::string("a"))
    );
    assert_eq!(lookup_value(&value, "name"), Some(&Value::string("x")));
    assert_eq!(lookup_value(&value, "/missing"), None);
    assert!(under("http://a.test/v1/items", "http://a.test/v1/"));
    assert!(!under("http://a.test/v10", "http://a.test/v1"));
    assert_eq!(
        join_url("http://a.test/v1/", "/items"),
        "http://a.test/v1/items"
    );
    assert_eq!(percent_decode(&percent_encode("a b/ü")), "a b/ü");
}
