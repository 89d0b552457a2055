#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use std::sync::Arc;

fn config(name: &str, value: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("name".to_owned(), Value::string(name));
    attributes.insert("value".to_owned(), Value::string(value));
    attributes
}

/// Plans a create and makes it, as the engine will.
async fn create(provider: &TestProvider, name: &str) -> Result<ObjectState, ProviderError> {
    let plan = provider
        .plan_change(TEST_RESOURCE, None, &config(name, "v"))
        .await?;
    provider
        .create(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &plan.planned,
        )
        .await
}

#[test]
fn is_a_shareable_trait_object() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Arc<dyn Provider>>();
    let provider: Arc<dyn Provider> = Arc::new(TestProvider::new());
    assert_eq!(provider.name(), "test");
    assert!(provider.schema(TEST_RESOURCE).is_some());
}

#[tokio::test]
async fn records_every_call_in_order() {
    let provider = TestProvider::new();
    provider.configure(&Attributes::new()).await.unwrap();
    let web = create(&provider, "web").await.unwrap();
    assert_eq!(web.id, "web-1");
    assert_eq!(web.attribute("computed"), &Value::string("computed-web-1"));
    assert_eq!(
        provider.read(TEST_RESOURCE, &web).await,
        Ok(Some(web.clone()))
    );
    let updated = provider
        .update(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &web,
            &config("web", "w"),
        )
        .await
        .unwrap();
    assert_eq!(updated.attribute("value"), &Value::string("w"));
    assert_eq!(updated.attribute("computed"), web.attribute("computed"));
    provider
        .delete(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &updated,
        )
        .await
        .unwrap();
    assert!(provider.world().is_empty());

    let calls = provider.calls();
    let summary: Vec<_> = calls
        .iter()
        .map(|c| (c.seq, c.op, c.id.as_deref(), c.name.as_deref(), c.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            (0, Op::Configure, None, None, Outcome::Ok),
            (1, Op::PlanChange, None, Some("web"), Outcome::Ok),
            (2, Op::Create, Some("web-1"), Some("web"), Outcome::Ok),
            (3, Op::Read, Some("web-1"), Some("web"), Outcome::Ok),
            (4, Op::Update, Some("web-1"), Some("web"), Outcome::Ok),
            (5, Op::Delete, Some("web-1"), Some("web"), Outcome::Ok),
        ]
    );
    assert!(
        calls
            .iter()
            .all(|c| c.resource_type == TEST_RESOURCE || c.op == Op::Configure)
    );
    assert_eq!(provider.max_concurrency_observed(), 1);
}

#[tokio::test(start_paused = true)]
async fn latency_is_on_the_tokio_clock() {
    let provider = TestProvider::new();
    provider.set_latency(Op::Create, Duration::from_secs(5));
    provider.set_resource_latency(Op::Create, "slow", Duration::from_secs(60));
    let started = Instant::now();
    create(&provider, "web").await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    create(&provider, "slow").await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(65));

    let creates = provider.calls_of(Op::Create);
    let times: Vec<_> = creates
        .iter()
        .map(|c| (c.started_at.as_secs(), c.finished_at.as_secs()))
        .collect();
    assert_eq!(times, [(0, 5), (5, 65)]);
    // Plans were not delayed.
    assert!(
        provider
            .calls_of(Op::PlanChange)
            .iter()
            .all(|c| c.started_at == c.finished_at)
    );
}

#[tokio::test]
async fn nth_call_fails_transiently_with_a_retry_hint() {
    let provider = TestProvider::new();
    let error = ProviderError::transient("throttled")
        .retry_after(Duration::from_secs(3))
        .at(["value"]);
    provider.fail_nth(Op::Create, 2, error.clone());
    assert!(create(&provider, "a").await.is_ok());
    let failed = create(&provider, "b").await.unwrap_err();
    assert_eq!(failed, error);
    assert!(failed.is_transient());
    assert_eq!(failed.retry_hint(), Some(Duration::from_secs(3)));
    assert_eq!(failed.attribute_path, Some(vec!["value".to_owned()]));
    // A retry is a later call, so it succeeds, and nothing was made by the failure.
    assert_eq!(
        create(&provider, "b").await.map(|o| o.id),
        Ok("b-1".to_owned())
    );
    let outcomes: Vec<_> = provider
        .calls_of(Op::Create)
        .iter()
        .map(|c| c.outcome)
        .collect();
    let transient = ProviderErrorKind::Transient {
        retry_after: Some(Duration::from_secs(3)),
    };
    assert_eq!(
        outcomes,
        [Outcome::Ok, Outcome::Failed(transient), Outcome::Ok]
    );
    assert_eq!(provider.world().len(), 2);
}

#[tokio::test]
async fn matching_calls_fail_permanently_or_for_a_while() {
    let provider = TestProvider::new();
    let web = create(&provider, "web").await.unwrap();
    let db = create(&provider, "db").await.unwrap();
    let denied = ProviderError::permanent("permission denied").at(["value"]);
    provider.fail_matching(Op::Update, "web", denied.clone());
    for _ in 0..3 {
        let result = provider
            .update(
                &crate::providers::Operation::detached(),
                TEST_RESOURCE,
                &web,
                &config("web", "x"),
            )
            .await;
        assert_eq!(result.unwrap_err(), denied);
    }
    assert!(
        provider
            .update(
                &crate::providers::Operation::detached(),
                TEST_RESOURCE,
                &db,
                &config("db", "x")
            )
            .await
            .is_ok()
    );
    // Matching by id works too.
    provider.fail_matching_times(Op::Read, "db-1", ProviderError::transient("timeout"), 2);
    assert!(provider.read(TEST_RESOURCE, &db).await.is_err());
    assert!(provider.read(TEST_RESOURCE, &db).await.is_err());
    assert!(provider.read(TEST_RESOURCE, &db).await.is_ok());
    assert_eq!(
        provider
            .object(TEST_RESOURCE, "web-1")
            .map(|a| a["value"].clone()),
        Some(Value::string("v")),
        "a failed update changes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn observes_concurrency() {
    let provider = Arc::new(TestProvider::new());
    provider.set_latency(Op::Create, Duration::from_secs(1));
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let provider = Arc::clone(&provider);
            tokio::spawn(async move { create(&provider, &format!("r{i}")).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "they ran side by side"
    );
    assert_eq!(provider.max_concurrency_observed(), 8);
    assert_eq!(provider.world().len(), 8);

    // Through a limit of 3, never more than 3 at once.
    provider.reset_calls();
    let limit = Arc::new(tokio::sync::Semaphore::new(3));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let provider = Arc::clone(&provider);
            let limit = Arc::clone(&limit);
            tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                create(&provider, &format!("s{i}")).await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(provider.max_concurrency_observed(), 3);
}

#[tokio::test]
async fn scripted_panics_are_flagged_and_survivable() {
    let provider = Arc::new(TestProvider::new());
    provider.panic_on(Op::Create, Trigger::Matching("boom".to_owned()));
    let task = {
        let provider = Arc::clone(&provider);
        tokio::spawn(async move { create(&provider, "boom").await })
    };
    let joined = task.await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    assert_eq!(provider.panics(), 1);
    let call = provider.calls_of(Op::Create).pop().unwrap();
    assert_eq!(
        (call.name.as_deref(), call.outcome),
        (Some("boom"), Outcome::Panicked)
    );
    // Still usable, with nothing left in flight.
    assert!(create(&provider, "fine").await.is_ok());
    assert_eq!(provider.max_concurrency_observed(), 1);
    assert!(provider.world().keys().all(|(_, id)| id == "fine-1"));
}

#[tokio::test(start_paused = true)]
async fn dropped_calls_are_recorded_as_cancelled() {
    let provider = TestProvider::new();
    provider.set_latency(Op::Create, Duration::from_secs(10));
    let timed_out = tokio::time::timeout(Duration::from_secs(1), create(&provider, "web")).await;
    assert!(timed_out.is_err());
    let call = provider.calls_of(Op::Create).pop().unwrap();
    assert_eq!(call.outcome, Outcome::Cancelled);
    assert_eq!(call.finished_at, Duration::from_secs(1));
    assert!(provider.world().is_empty());
}

#[tokio::test]
async fn drift_import_and_missing_objects() {
    let provider = TestProvider::new();
    let web = create(&provider, "web").await.unwrap();
    provider.remove_object(TEST_RESOURCE, "web-1");
    assert_eq!(provider.read(TEST_RESOURCE, &web).await, Ok(None));
    assert_eq!(
        provider
            .delete(
                &crate::providers::Operation::detached(),
                TEST_RESOURCE,
                &web
            )
            .await,
        Ok(())
    );
    let update = provider
        .update(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &web,
            &config("web", "x"),
        )
        .await;
    assert_eq!(update.unwrap_err().kind, ProviderErrorKind::NotFound);

    provider.put_object(TEST_RESOURCE, "outside", config("legacy", "old"));
    let imported = provider.import(TEST_RESOURCE, "outside").await.unwrap();
    assert_eq!(imported.attribute("name"), &Value::string("legacy"));
    assert_eq!(imported.attribute("computed"), &Value::NULL);
    let missing = provider.import(TEST_RESOURCE, "nope").await.unwrap_err();
    assert_eq!(missing.kind, ProviderErrorKind::NotFound);
}

#[tokio::test]
async fn input_errors_carry_attribute_paths() {
    let provider = TestProvider::new();
    let mut unknown_name = config("x", "v");
    unknown_name.insert("name".to_owned(), Value::UNKNOWN);
    let error = provider
        .create(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &unknown_name,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind, error.attribute_path),
        (ProviderErrorKind::Permanent, Some(vec!["name".to_owned()]))
    );
    let web = create(&provider, "web").await.unwrap();
    let renamed = provider
        .update(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &web,
            &config("www", "v"),
        )
        .await;
    assert_eq!(
        renamed.unwrap_err().attribute_path,
        Some(vec!["name".to_owned()])
    );

    let mut bad = config("web", "v");
    bad.remove("name");
    bad.insert("computed".to_owned(), Value::string("x"));
    let paths: Vec<_> = provider
        .validate(TEST_RESOURCE, &bad)
        .into_iter()
        .filter_map(|e| e.attribute_path)
        .collect();
    assert_eq!(
        paths,
        [vec!["computed".to_owned()], vec!["name".to_owned()]]
    );
    assert_eq!(provider.calls_of(Op::Validate).len(), 1);
}

#[tokio::test]
async fn plans_replace_on_name_change_and_keep_computed_on_update() {
    let provider = TestProvider::new();
    let created = provider
        .plan_change(TEST_RESOURCE, None, &config("web", "v"))
        .await
        .unwrap();
    assert!(created.planned["id"].is_unknown());
    assert!(created.planned["computed"].is_unknown());
    let web = provider
        .create(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &created.planned,
        )
        .await
        .unwrap();

    let update = provider
        .plan_change(TEST_RESOURCE, Some(&web), &config("web", "w"))
        .await
        .unwrap();
    assert!(!update.replaces());
    assert_eq!(update.planned["computed"], Value::string("computed-web-1"));

    let replace = provider
        .plan_change(TEST_RESOURCE, Some(&web), &config("www", "v"))
        .await
        .unwrap();
    assert_eq!(replace.requires_replace, [vec!["name".to_owned()]]);
    assert!(replace.planned["computed"].is_unknown());
}

#[test]
fn schema_is_the_documented_one() {
    let schema = TestProvider::schema();
    let name = schema.attribute("name").unwrap();
    assert!(name.force_new && name.presence == super::super::Presence::Required);
    for computed in ["id", "computed"] {
        assert!(!schema.attribute(computed).unwrap().settable());
    }
    let mut registry = crate::providers::Registry::builtin();
    assert!(registry.resource(TEST_RESOURCE).is_none());
    registry.add_resource(schema);
    assert!(registry.resource(TEST_RESOURCE).is_some());
}
