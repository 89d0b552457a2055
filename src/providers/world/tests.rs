#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::host::{MemoryHost, RealHost};
use crate::providers::{ProviderErrorKind, ProviderSet, Registry};

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("infra-world-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.0.join("creates.log")).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn world(name: &str) -> (WorldProvider, TempDir) {
    let dir = TempDir::new(name);
    (WorldProvider::new(Arc::new(RealHost), dir.0.clone()), dir)
}

fn config(name: &str, value: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("name".to_owned(), Value::string(name));
    attributes.insert("value".to_owned(), Value::string(value));
    attributes
}

async fn create(world: &WorldProvider, name: &str) -> Result<ObjectState, ProviderError> {
    let change = world
        .plan_change(TEST_RESOURCE, None, &config(name, "v"))
        .await?;
    world
        .create(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &change.planned,
        )
        .await
}

#[tokio::test]
async fn objects_live_in_files_through_the_lifecycle() {
    let (world, dir) = world("lifecycle");
    let web = create(&world, "web").await.unwrap();
    assert!(web.id.starts_with("t-") && web.id.len() == 18, "{}", web.id);
    assert_eq!(web.attribute("name"), &Value::string("web"));
    assert_eq!(
        web.attribute("computed"),
        &Value::string(format!("computed-{}", web.id))
    );
    let file = dir.0.join("objects").join(format!("{}.json", web.id));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(json["attributes"]["value"], "v");
    assert_eq!(dir.log(), format!("{} web\n", web.id));

    // A second provider on the same folder (a second process) sees it.
    let again = WorldProvider::new(Arc::new(RealHost), dir.0.clone());
    assert_eq!(again.read(TEST_RESOURCE, &web).await, Ok(Some(web.clone())));
    assert_eq!(again.import(TEST_RESOURCE, &web.id).await, Ok(web.clone()));

    let updated = world
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
    assert_eq!(
        again.read(TEST_RESOURCE, &web).await.unwrap().unwrap(),
        updated
    );
    let renamed = world
        .update(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &web,
            &config("other", "w"),
        )
        .await
        .unwrap_err();
    assert_eq!(renamed.attribute_path, Some(vec!["name".to_owned()]));

    world
        .delete(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &updated,
        )
        .await
        .unwrap();
    assert!(!file.exists());
    assert_eq!(world.read(TEST_RESOURCE, &updated).await, Ok(None));
    assert_eq!(
        world
            .delete(
                &crate::providers::Operation::detached(),
                TEST_RESOURCE,
                &updated
            )
            .await,
        Ok(())
    );
    let error = world
        .update(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &updated,
            &config("web", "x"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    let error = world.import(TEST_RESOURCE, &web.id).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    let error = world.import(TEST_RESOURCE, "../x").await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    assert_eq!(
        dir.log().lines().count(),
        1,
        "deletes and updates are not logged"
    );
}

#[tokio::test]
async fn a_repeated_create_is_a_duplicate_and_find_looks_up_by_name() {
    let (world, dir) = world("duplicate");
    let planned = world
        .plan_change(TEST_RESOURCE, None, &config("db", "v"))
        .await
        .unwrap()
        .planned;
    assert_eq!(world.find(TEST_RESOURCE, &planned).await, Ok(None));
    let first = world
        .create(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &planned,
        )
        .await
        .unwrap();
    let found = world.find(TEST_RESOURCE, &planned).await.unwrap();
    assert_eq!(found, Some(first.clone()));
    let second = world
        .create(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &planned,
        )
        .await
        .unwrap();
    assert_ne!(first.id, second.id);
    let objects = world.objects().unwrap();
    assert_eq!(objects.len(), 2);
    let log = dir.log();
    let names: Vec<&str> = log.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    assert_eq!(names, ["db", "db"]);
    assert!(
        world
            .find(TEST_RESOURCE, &config("api", "v"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn secret_values_keep_their_mark() {
    let (world, _dir) = world("secret");
    let mut planned = config("s", "x");
    planned.insert(
        "value".to_owned(),
        Value::string("hidden").with_secret(true),
    );
    planned.insert("id".to_owned(), Value::UNKNOWN);
    let created = world
        .create(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            &planned,
        )
        .await
        .unwrap();
    assert!(created.attribute("value").is_secret());
    let read = world.read(TEST_RESOURCE, &created).await.unwrap().unwrap();
    assert!(read.attribute("value").is_secret());
    assert_eq!(read, created);
}

#[test]
fn only_offered_when_the_variable_is_set() {
    let plain: Arc<dyn Host> = Arc::new(MemoryHost::new());
    assert!(WorldProvider::from_env(plain.clone()).is_none());
    assert!(
        Registry::for_host(plain.as_ref())
            .resource(TEST_RESOURCE)
            .is_none()
    );
    let set = ProviderSet::builtin(plain, Path::new("."));
    assert!(set.get(&crate::addr::ProviderAddr::named("test")).is_none());

    let host: Arc<dyn Host> = Arc::new(MemoryHost::new().with_env(WORLD_VAR, "/tmp/w"));
    let registry = Registry::for_host(host.as_ref());
    assert_eq!(
        registry.resource(TEST_RESOURCE),
        Some(&WorldProvider::schema())
    );
    let set = ProviderSet::builtin(host, Path::new("."));
    let found = set.for_resource_type(TEST_RESOURCE).map(|p| p.name());
    assert_eq!(found, Some("test"));
    // Same attributes as the in-memory provider.
    let names = |schema: ResourceSchema| {
        schema
            .attributes
            .iter()
            .map(|a| (a.name, a.presence, a.force_new))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(WorldProvider::schema()),
        names(TestProvider::schema())
    );
}

#[tokio::test(start_paused = true)]
async fn latency_before_and_after_the_effect() {
    let dir = TempDir::new("latency");
    let host: Arc<dyn Host> = Arc::new(RealHost);
    let world = WorldProvider::new(host, dir.0.clone())
        .with_latency(Duration::from_secs(3), Duration::from_secs(7));
    let started = tokio::time::Instant::now();
    let planned = config("slow", "v");
    let op = crate::providers::Operation::detached();
    let mut create = Box::pin(world.create(&op, TEST_RESOURCE, &planned));
    // Mid-way through the first half nothing exists yet.
    tokio::select! {
        _ = &mut create => panic!("finished too early"),
        () = tokio::time::sleep(Duration::from_secs(2)) => {}
    }
    assert!(world.objects().unwrap().is_empty());
    // In the second half the object exists but the call has not returned.
    tokio::select! {
        _ = &mut create => panic!("finished too early"),
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
    assert_eq!(world.objects().unwrap().len(), 1);
    assert_eq!(dir.log().lines().count(), 1);
    create.await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[test]
fn latency_and_faults_come_from_the_environment() {
    let host: Arc<dyn Host> = Arc::new(
        MemoryHost::new()
            .with_env(WORLD_VAR, "w")
            .with_env(LATENCY_VAR, "40")
            .with_env(FAIL_VAR, "create:web:transient:2, delete:*:permanent"),
    );
    let world = WorldProvider::from_env(host).unwrap();
    assert_eq!(world.before, Duration::from_millis(40));
    assert_eq!(
        world.after,
        Duration::from_millis(40),
        "after defaults to before"
    );
    assert!(world.config_error.is_none());
    let faults = world.faults.lock().unwrap().clone();
    assert_eq!(
        faults,
        [
            WorldFault {
                op: WorldOp::Create,
                target: "web".to_owned(),
                transient: true,
                remaining: Some(2),
            },
            WorldFault {
                op: WorldOp::Delete,
                target: "*".to_owned(),
                transient: false,
                remaining: None,
            },
        ]
    );
    let host: Arc<dyn Host> = Arc::new(
        MemoryHost::new()
            .with_env(WORLD_VAR, "w")
            .with_env(LATENCY_AFTER_VAR, "5"),
    );
    let world = WorldProvider::from_env(host).unwrap();
    assert_eq!(
        (world.before, world.after),
        (Duration::ZERO, Duration::from_millis(5))
    );
    assert!(parse_faults("create:web").is_err());
    assert!(parse_faults("remove:web:transient").is_err());
    assert!(parse_faults("create:web:sometimes").is_err());
    assert_eq!(parse_faults(""), Ok(Vec::new()));
}

#[tokio::test]
async fn scripted_failures_and_a_malformed_environment() {
    let dir = TempDir::new("faults");
    let world = WorldProvider::new(Arc::new(RealHost), dir.0.clone())
        .with_faults(parse_faults("create:web:transient:1,create:db:permanent").unwrap());
    let error = create(&world, "web").await.unwrap_err();
    assert!(error.is_transient());
    assert!(
        world.objects().unwrap().is_empty(),
        "a failed call has no effect"
    );
    assert!(create(&world, "web").await.is_ok(), "the fault fired once");
    let error = create(&world, "db").await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Permanent);
    assert!(create(&world, "db").await.is_err(), "always");

    let host: Arc<dyn Host> = Arc::new(
        MemoryHost::new()
            .with_env(WORLD_VAR, "w")
            .with_env(LATENCY_VAR, "soon"),
    );
    let world = WorldProvider::from_env(host).unwrap();
    let error = create(&world, "web").await.unwrap_err();
    assert!(error.message.contains(LATENCY_VAR), "{}", error.message);
    assert!(!error.is_transient());
    assert_eq!(world.validate(TEST_RESOURCE, &config("a", "b")).len(), 1);
}

#[test]
fn random_faults_hit_about_their_share_with_every_kind_and_repeat_from_the_seed() {
    let faults = RandomFaults {
        share: 0.1,
        seed: 7,
    };
    let draws: Vec<Option<InjectedFault>> = (0..10_000)
        .map(|i| faults.draw(WorldOp::Create, &format!("r{i}"), 0))
        .collect();
    let hit = draws.iter().flatten().count();
    assert!((800..1200).contains(&hit), "{hit} of 10000 hit");
    for kind in [
        InjectedFault::Timeout,
        InjectedFault::TooManyRequestsRetryAfter,
        InjectedFault::TooManyRequests,
        InjectedFault::Unavailable,
    ] {
        assert!(draws.contains(&Some(kind)), "no {kind:?}");
        assert!(kind.error().is_transient());
    }
    assert_eq!(
        InjectedFault::TooManyRequestsRetryAfter
            .error()
            .retry_hint(),
        Some(Duration::from_millis(100))
    );
    assert_eq!(InjectedFault::TooManyRequests.error().retry_hint(), None);
    // The same seed, call and try draw the same; the next try draws anew.
    let again: Vec<Option<InjectedFault>> = (0..10_000)
        .map(|i| faults.draw(WorldOp::Create, &format!("r{i}"), 0))
        .collect();
    assert_eq!(draws, again);
    let next_try = (0..10_000)
        .filter(|i| faults.draw(WorldOp::Create, &format!("r{i}"), 1) == draws[*i])
        .count();
    assert!(next_try < 10_000);
    let none = RandomFaults {
        share: 0.0,
        seed: 7,
    };
    assert!((0..1000).all(|i| none.draw(WorldOp::Read, &format!("r{i}"), 0).is_none()));
}

#[tokio::test]
async fn an_injected_fault_lands_before_the_effect_and_is_logged() {
    let (world, dir) = world("random-faults");
    let world = world.with_random_faults(RandomFaults {
        share: 1.0,
        seed: 1,
    });
    let error = create(&world, "web").await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(dir.log(), "", "nothing was created");
    let log = std::fs::read_to_string(dir.0.join("faults.log")).unwrap();
    assert!(log.starts_with("Create web "), "{log}");
}

#[test]
fn a_malformed_fault_share_fails_every_call_naming_the_variable() {
    let host: Arc<dyn Host> = Arc::new(
        MemoryHost::new()
            .with_env(WORLD_VAR, "w")
            .with_env(FAULTS_VAR, "ten percent"),
    );
    let world = WorldProvider::from_env(host).unwrap();
    let problems = world.validate(TEST_RESOURCE, &config("web", "v"));
    assert!(
        problems
            .iter()
            .any(|problem| problem.message.contains(FAULTS_VAR)),
        "{problems:?}"
    );
}

#[tokio::test]
async fn a_deploy_checkpoints_each_step_rolls_back_when_cancelled_and_resumes_from_a_checkpoint() {
    let (world, dir) = world("deploy");
    let web = create(&world, "web").await.unwrap();
    let world = world.with_deploy(&["start", "switch"], Duration::ZERO);
    let op = crate::providers::Operation::detached();
    let updated = world
        .update(&op, TEST_RESOURCE, &web, &config("web", "w"))
        .await
        .unwrap();
    assert_eq!(updated.attribute("value"), &Value::string("w"));
    assert_eq!(op.phases(), ["start", "switch"]);
    let steps: Vec<serde_json::Value> =
        op.checkpoints().iter().map(|c| c["step"].clone()).collect();
    assert_eq!(steps, ["start", "switch"]);
    assert!(
        world
            .deploy_steps(TEST_RESOURCE, Some(&web), &config("web", "x"))
            .is_some()
    );
    assert!(
        world
            .deploy_steps(TEST_RESOURCE, None, &config("web", "x"))
            .is_none()
    );

    // Cancelled: rolled back, the object unchanged, an error.
    let (cancel, receiver) = tokio::sync::watch::channel(true);
    let op = crate::providers::Operation::detached_with_cancel(receiver);
    let error = world
        .update(&op, TEST_RESOURCE, &updated, &config("web", "x"))
        .await
        .unwrap_err();
    drop(cancel);
    assert!(error.message.contains("rolled back"), "{}", error.message);
    let now = world.read(TEST_RESOURCE, &updated).await.unwrap().unwrap();
    assert_eq!(now.attribute("value"), &Value::string("w"));

    // Resumed from a checkpoint: finished.
    let checkpoint = serde_json::json!({"step": "switch", "name": "web"});
    let resumed = world
        .resume(
            &crate::providers::Operation::detached(),
            TEST_RESOURCE,
            Some(&updated),
            &config("web", "y"),
            Some(&checkpoint),
        )
        .await
        .unwrap();
    let crate::providers::Resumed::Settled(Some(object)) = resumed else {
        panic!("{resumed:?}");
    };
    assert_eq!(object.attribute("value"), &Value::string("y"));
    let log = std::fs::read_to_string(dir.0.join("deploy.log")).unwrap();
    assert_eq!(
        log,
        "step web start\nstep web switch\ndone web\nstep web start\nrollback web start\n\
         resume web switch\ndone web\n"
    );
}
