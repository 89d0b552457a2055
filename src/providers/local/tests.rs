#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::host::{MemoryHost, RealHost};
use crate::providers::ProviderErrorKind;
use crate::providers::provider::same_ignoring_marks;

/// A string that must never appear in an error message.
const CANARY: &str = "canary-l0cal-c0ntent-5e3d";

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("infra-local-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A provider on an in-memory host rooted at `stack`, and the host.
fn memory() -> (LocalProvider, Arc<MemoryHost>) {
    let host = Arc::new(MemoryHost::new());
    let provider = LocalProvider::new(host.clone(), PathBuf::from("stack"));
    (provider, host)
}

/// A provider on the real host rooted at a fresh temp dir, and the dir.
fn real(name: &str) -> (LocalProvider, TempDir) {
    let dir = TempDir::new(name);
    (LocalProvider::new(Arc::new(RealHost), dir.0.clone()), dir)
}

fn attrs(pairs: &[(&str, Value)]) -> Attributes {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn file(path: &str, content: &str) -> Attributes {
    attrs(&[
        ("path", Value::string(path)),
        ("content", Value::string(content)),
    ])
}

/// The configuration as expansion hands it over: every schema attribute
/// present, unset computed ones (including optional-computed ones) unknown.
fn as_expanded(resource_type: &str, config: &Attributes) -> Attributes {
    let schema = match resource_type {
        LOCAL_FILE => file_schema(),
        _ => directory_schema(),
    };
    let mut full = config.clone();
    for attribute in &schema.attributes {
        full.entry(attribute.name.to_owned()).or_insert_with(|| {
            if attribute.computed() {
                Value::UNKNOWN
            } else {
                Value::NULL
            }
        });
    }
    full
}

/// Plans a create and makes it, as the engine does.
async fn plan_and_create(
    provider: &LocalProvider,
    resource_type: &str,
    config: &Attributes,
) -> Result<ObjectState, ProviderError> {
    let change = provider.plan_change(resource_type, None, config).await?;
    provider
        .create(
            &crate::providers::Operation::detached(),
            resource_type,
            &change.planned,
        )
        .await
}

/// Whether planning `config` against `prior` changes nothing.
async fn is_noop(provider: &LocalProvider, prior: &ObjectState, config: &Attributes) -> bool {
    let change = provider
        .plan_change(LOCAL_FILE, Some(prior), config)
        .await
        .unwrap();
    !change.replaces()
        && change
            .planned
            .iter()
            .all(|(name, value)| same_ignoring_marks(prior.attribute(name), value))
}

fn path_attr(error: &ProviderError) -> Option<Vec<&str>> {
    error
        .attribute_path
        .as_ref()
        .map(|path| path.iter().map(String::as_str).collect())
}

// ----- local_file -----

async fn file_lifecycle(provider: &LocalProvider, host: &dyn Host, base: &Path) {
    let config = file("out/a.txt", "hello\n");
    let change = provider
        .plan_change(LOCAL_FILE, None, &config)
        .await
        .unwrap();
    assert_eq!(change.planned["id"], Value::string("out/a.txt"));
    assert_eq!(change.planned["size"], Value::number(6));
    assert_eq!(
        change.planned["sha256"],
        Value::string(sha256_hex(b"hello\n"))
    );
    // A new file's mode is known at plan time: 0644 when unset.
    assert_eq!(change.planned["permissions"], Value::string("0644"));

    let created = provider
        .create(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &change.planned,
        )
        .await
        .unwrap();
    assert_eq!(created.id, "out/a.txt");
    assert_eq!(host.read(&base.join("out/a.txt")).unwrap(), b"hello\n");
    assert_eq!(created.attribute("sha256"), &change.planned["sha256"]);
    assert_eq!(created.attribute("size"), &Value::number(6));
    assert_eq!(created.attribute("permissions"), &Value::string("0644"));
    assert_eq!(created.attribute("content_base64"), &Value::NULL);

    let read = provider.read(LOCAL_FILE, &created).await.unwrap();
    assert_eq!(read.as_ref(), Some(&created));
    assert!(
        is_noop(provider, &created, &config).await,
        "nothing changed"
    );
    let expanded = as_expanded(LOCAL_FILE, &config);
    assert!(
        is_noop(provider, &created, &expanded).await,
        "unset permissions"
    );

    // A content change is an in-place rewrite with a new hash.
    let changed = file("out/a.txt", "bye\n");
    let change = provider
        .plan_change(LOCAL_FILE, Some(&created), &changed)
        .await
        .unwrap();
    assert!(!change.replaces());
    assert_eq!(
        change.planned["sha256"],
        Value::string(sha256_hex(b"bye\n"))
    );
    assert_eq!(
        change.planned["permissions"],
        *created.attribute("permissions")
    );
    let updated = provider
        .update(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &created,
            &change.planned,
        )
        .await
        .unwrap();
    assert_eq!(host.read(&base.join("out/a.txt")).unwrap(), b"bye\n");
    assert_eq!(updated.attribute("size"), &Value::number(4));
    assert!(is_noop(provider, &updated, &changed).await);

    // A path change replaces.
    let moved = file("out/b.txt", "bye\n");
    let change = provider
        .plan_change(LOCAL_FILE, Some(&updated), &moved)
        .await
        .unwrap();
    assert_eq!(change.requires_replace, vec![vec!["path".to_owned()]]);
    assert_eq!(change.planned["id"], Value::string("out/b.txt"));

    provider
        .delete(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &updated,
        )
        .await
        .unwrap();
    assert_eq!(host.read(&base.join("out/a.txt")), Err(HostError::NotFound));
    assert_eq!(provider.read(LOCAL_FILE, &updated).await, Ok(None));
    assert_eq!(
        provider
            .delete(
                &crate::providers::Operation::detached(),
                LOCAL_FILE,
                &updated
            )
            .await,
        Ok(()),
        "already gone"
    );
}

#[tokio::test]
async fn file_lifecycle_in_memory() {
    let (provider, host) = memory();
    file_lifecycle(&provider, host.as_ref(), Path::new("stack")).await;
}

#[tokio::test]
async fn file_lifecycle_on_disk() {
    let (provider, dir) = real("lifecycle");
    file_lifecycle(&provider, &RealHost, &dir.0).await;
}

async fn drift(provider: &LocalProvider, host: &dyn Host, base: &Path) {
    let config = file("a.txt", "mine");
    let created = plan_and_create(provider, LOCAL_FILE, &config)
        .await
        .unwrap();

    // Edited outside: read shows the edit, and the plan rewrites it.
    host.write_atomic(&base.join("a.txt"), b"theirs").unwrap();
    let read = provider.read(LOCAL_FILE, &created).await.unwrap().unwrap();
    assert_eq!(read.attribute("content"), &Value::string("theirs"));
    assert_eq!(
        read.attribute("sha256"),
        &Value::string(sha256_hex(b"theirs"))
    );
    assert!(!is_noop(provider, &read, &config).await);
    let change = provider
        .plan_change(LOCAL_FILE, Some(&read), &config)
        .await
        .unwrap();
    assert!(!change.replaces());
    provider
        .update(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &read,
            &change.planned,
        )
        .await
        .unwrap();
    assert_eq!(host.read(&base.join("a.txt")).unwrap(), b"mine");

    // Deleted outside: read says gone, update says not found.
    host.remove_file(&base.join("a.txt")).unwrap();
    assert_eq!(provider.read(LOCAL_FILE, &read).await, Ok(None));
    let error = provider
        .update(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &read,
            &change.planned,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
}

#[tokio::test]
async fn drift_in_memory() {
    let (provider, host) = memory();
    drift(&provider, host.as_ref(), Path::new("stack")).await;
}

#[tokio::test]
async fn drift_on_disk() {
    let (provider, dir) = real("drift");
    drift(&provider, &RealHost, &dir.0).await;
}

async fn refuses_to_overwrite(provider: &LocalProvider, host: &dyn Host, base: &Path) {
    host.create_dir_all(base).unwrap();
    host.write_atomic(&base.join("notes.txt"), b"precious")
        .unwrap();
    let error = plan_and_create(provider, LOCAL_FILE, &file("notes.txt", CANARY))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Permanent);
    assert_eq!(path_attr(&error), Some(vec!["path"]));
    assert!(error.message.contains("infra import"), "{}", error.message);
    assert!(!error.message.contains(CANARY));
    assert_eq!(host.read(&base.join("notes.txt")).unwrap(), b"precious");
}

#[tokio::test]
async fn create_refuses_an_existing_file_in_memory() {
    let (provider, host) = memory();
    refuses_to_overwrite(&provider, host.as_ref(), Path::new("stack")).await;
}

#[tokio::test]
async fn create_refuses_an_existing_file_on_disk() {
    let (provider, dir) = real("overwrite");
    refuses_to_overwrite(&provider, &RealHost, &dir.0).await;
}

#[tokio::test]
async fn import_by_path() {
    let (provider, host) = memory();
    host.set_file("stack/conf/app.ini", "x = 1\n");
    host.set_file("stack/blob.bin", vec![0xff_u8, 0x00, 0xfe]);
    let imported = provider.import(LOCAL_FILE, "conf/app.ini").await.unwrap();
    assert_eq!(imported.id, "conf/app.ini");
    assert_eq!(imported.attribute("path"), &Value::string("conf/app.ini"));
    assert_eq!(imported.attribute("content"), &Value::string("x = 1\n"));
    assert_eq!(imported.attribute("permissions"), &Value::string("0644"));
    assert!(is_noop(&provider, &imported, &file("conf/app.ini", "x = 1\n")).await);

    let binary = provider.import(LOCAL_FILE, "blob.bin").await.unwrap();
    assert_eq!(binary.attribute("content"), &Value::NULL);
    assert_eq!(binary.attribute("content_base64"), &Value::string("/wD+"));

    let error = provider.import(LOCAL_FILE, "nope.txt").await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    let error = provider.import(LOCAL_DIRECTORY, "nope").await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
}

#[tokio::test]
async fn find_reconciles_an_interrupted_create() {
    let (provider, host) = memory();
    let config = file("out/a.txt", "hello");
    let change = provider
        .plan_change(LOCAL_FILE, None, &config)
        .await
        .unwrap();
    assert_eq!(provider.find(LOCAL_FILE, &change.planned).await, Ok(None));
    let created = provider
        .create(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &change.planned,
        )
        .await
        .unwrap();
    // The result of the create was lost; find gives the same object back.
    let found = provider.find(LOCAL_FILE, &change.planned).await.unwrap();
    assert_eq!(found, Some(created));
    // Someone else's file at the path, with other content, is not ours.
    host.set_file("stack/out/a.txt", "other");
    assert_eq!(provider.find(LOCAL_FILE, &change.planned).await, Ok(None));
    // Unknown content cannot be matched.
    let unknown = attrs(&[
        ("path", Value::string("out/a.txt")),
        ("content", Value::UNKNOWN),
    ]);
    assert_eq!(provider.find(LOCAL_FILE, &unknown).await, Ok(None));
}

#[tokio::test]
async fn content_base64_writes_bytes() {
    let (provider, host) = memory();
    let config = attrs(&[
        ("path", Value::string("b.bin")),
        ("content_base64", Value::string("AAEC/w==")),
    ]);
    let created = plan_and_create(&provider, LOCAL_FILE, &config)
        .await
        .unwrap();
    assert_eq!(host.file(Path::new("stack/b.bin")).unwrap(), [0, 1, 2, 255]);
    assert_eq!(
        created.attribute("content_base64"),
        &Value::string("AAEC/w==")
    );
    assert_eq!(created.attribute("content"), &Value::NULL);
    assert_eq!(created.attribute("size"), &Value::number(4));
    assert!(is_noop(&provider, &created, &config).await);
}

#[tokio::test]
async fn content_errors_name_the_attribute_and_never_the_content() {
    let (provider, _host) = memory();
    let cases: Vec<(Attributes, &str)> = vec![
        (attrs(&[("path", Value::string("a"))]), "content"),
        (
            attrs(&[
                ("path", Value::string("a")),
                ("content", Value::string(CANARY)),
                ("content_base64", Value::string(CANARY)),
            ]),
            "content_base64",
        ),
        (
            attrs(&[
                ("path", Value::string("a")),
                ("content_base64", Value::string(format!("!{CANARY}!"))),
            ]),
            "content_base64",
        ),
        (
            attrs(&[
                ("path", Value::string("a")),
                ("content", Value::string(CANARY)),
                ("permissions", Value::string("644")),
            ]),
            "permissions",
        ),
        (
            attrs(&[
                ("path", Value::string("a")),
                ("content", Value::string(CANARY)),
                ("permissions", Value::string("0x44")),
            ]),
            "permissions",
        ),
        (
            attrs(&[
                ("path", Value::string("")),
                ("content", Value::string(CANARY)),
            ]),
            "path",
        ),
    ];
    for (config, attribute) in cases {
        let errors = provider.validate(LOCAL_FILE, &config);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(path_attr(&errors[0]), Some(vec![attribute]));
        let error = provider
            .plan_change(LOCAL_FILE, None, &config)
            .await
            .unwrap_err();
        assert_eq!(path_attr(&error), Some(vec![attribute]));
        assert!(!error.is_transient());
        assert!(!error.message.contains(CANARY), "{}", error.message);
        assert!(!format!("{error:?}").contains(CANARY));
    }
    assert!(provider.validate(LOCAL_FILE, &file("a", "x")).is_empty());
}

#[tokio::test]
async fn unknown_content_is_unknown_hash_and_an_error_at_create() {
    let (provider, _host) = memory();
    let config = attrs(&[("path", Value::string("a")), ("content", Value::UNKNOWN)]);
    assert!(provider.validate(LOCAL_FILE, &config).is_empty());
    let change = provider
        .plan_change(LOCAL_FILE, None, &config)
        .await
        .unwrap();
    assert!(change.planned["sha256"].is_unknown());
    assert!(change.planned["size"].is_unknown());
    let error = provider
        .create(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &change.planned,
        )
        .await
        .unwrap_err();
    assert_eq!(path_attr(&error), Some(vec!["content"]));
}

#[tokio::test]
async fn secret_content_stays_secret() {
    let (provider, host) = memory();
    let config = attrs(&[
        ("path", Value::string("key")),
        ("sensitive_content", Value::string(CANARY)),
    ]);
    let change = provider
        .plan_change(LOCAL_FILE, None, &config)
        .await
        .unwrap();
    for name in ["sensitive_content", "sha256", "size"] {
        assert!(change.planned[name].is_secret(), "{name} planned");
    }
    assert_eq!(change.planned["permissions"], Value::string("0600"));
    let created = provider
        .create(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &change.planned,
        )
        .await
        .unwrap();
    for name in ["sensitive_content", "sha256", "size"] {
        assert!(created.attribute(name).is_secret(), "{name} created");
    }
    assert!(!format!("{created:?}").contains(CANARY));
    assert_eq!(host.permissions(Path::new("stack/key")), Ok(Some(0o600)));
    let read = provider.read(LOCAL_FILE, &created).await.unwrap().unwrap();
    assert_eq!(read, created);
    assert!(read.attribute("sensitive_content").is_secret());

    // A plain `content` that came in secret (from a secret block) is kept secret.
    let config = attrs(&[
        ("path", Value::string("token")),
        ("content", Value::string(CANARY).with_secret(true)),
    ]);
    let created = plan_and_create(&provider, LOCAL_FILE, &config)
        .await
        .unwrap();
    assert!(created.attribute("content").is_secret());
    assert!(created.attribute("sha256").is_secret());
    let read = provider.read(LOCAL_FILE, &created).await.unwrap().unwrap();
    assert!(read.attribute("content").is_secret());
    assert!(is_noop(&provider, &read, &config).await);
    assert!(is_noop(&provider, &read, &as_expanded(LOCAL_FILE, &config)).await);

    // Content still unknown but already secret (a generated secret): the
    // file will be owner-only and its hash secret.
    let config = attrs(&[
        ("path", Value::string("generated")),
        ("content", Value::UNKNOWN.with_secret(true)),
    ]);
    let change = provider
        .plan_change(LOCAL_FILE, None, &config)
        .await
        .unwrap();
    assert_eq!(change.planned["permissions"], Value::string("0600"));
    assert!(change.planned["sha256"].is_unknown() && change.planned["sha256"].is_secret());

    // Errors about a secret file do not carry the secret.
    let error = plan_and_create(&provider, LOCAL_FILE, &config)
        .await
        .unwrap_err();
    assert!(!error.message.contains(CANARY));
}

#[cfg(unix)]
#[tokio::test]
async fn permissions_on_disk() {
    use std::os::unix::fs::PermissionsExt;
    let (provider, dir) = real("permissions");
    let mode = |path: &str| {
        std::fs::metadata(dir.0.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    let config = attrs(&[
        ("path", Value::string("run.sh")),
        ("content", Value::string("#!/bin/sh\n")),
        ("permissions", Value::string("0750")),
    ]);
    let created = plan_and_create(&provider, LOCAL_FILE, &config)
        .await
        .unwrap();
    assert_eq!(mode("run.sh"), 0o750);
    assert_eq!(created.attribute("permissions"), &Value::string("0750"));

    // Changed outside: read reports it, the plan puts it back in place.
    std::fs::set_permissions(dir.0.join("run.sh"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let read = provider.read(LOCAL_FILE, &created).await.unwrap().unwrap();
    assert_eq!(read.attribute("permissions"), &Value::string("0700"));
    let change = provider
        .plan_change(LOCAL_FILE, Some(&read), &config)
        .await
        .unwrap();
    assert!(!change.replaces());
    assert_eq!(change.planned["permissions"], Value::string("0750"));
    provider
        .update(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &read,
            &change.planned,
        )
        .await
        .unwrap();
    assert_eq!(mode("run.sh"), 0o750);

    // Without `permissions`, a rewrite keeps the file's mode.
    let loose = file("run.sh", "#!/bin/sh\nexit 0\n");
    let current = provider.read(LOCAL_FILE, &read).await.unwrap().unwrap();
    let change = provider
        .plan_change(LOCAL_FILE, Some(&current), &loose)
        .await
        .unwrap();
    provider
        .update(
            &crate::providers::Operation::detached(),
            LOCAL_FILE,
            &current,
            &change.planned,
        )
        .await
        .unwrap();
    assert_eq!(mode("run.sh"), 0o750);

    // Sensitive content is written owner-only.
    let secret = attrs(&[
        ("path", Value::string("secret")),
        ("sensitive_content", Value::string(CANARY)),
    ]);
    plan_and_create(&provider, LOCAL_FILE, &secret)
        .await
        .unwrap();
    assert_eq!(mode("secret"), 0o600);

    let folder = attrs(&[
        ("path", Value::string("private")),
        ("permissions", Value::string("0700")),
    ]);
    plan_and_create(&provider, LOCAL_DIRECTORY, &folder)
        .await
        .unwrap();
    assert_eq!(mode("private"), 0o700);
}

// ----- local_directory -----

async fn directory_lifecycle(provider: &LocalProvider, host: &dyn Host, base: &Path) {
    let config = attrs(&[("path", Value::string("data/cache"))]);
    let change = provider
        .plan_change(LOCAL_DIRECTORY, None, &config)
        .await
        .unwrap();
    assert_eq!(change.planned["id"], Value::string("data/cache"));
    assert_eq!(
        provider.find(LOCAL_DIRECTORY, &change.planned).await,
        Ok(None)
    );
    let created = provider
        .create(
            &crate::providers::Operation::detached(),
            LOCAL_DIRECTORY,
            &change.planned,
        )
        .await
        .unwrap();
    assert!(host.is_dir(&base.join("data/cache")));
    assert_eq!(created.id, "data/cache");
    assert_eq!(
        provider.read(LOCAL_DIRECTORY, &created).await,
        Ok(Some(created.clone()))
    );
    assert_eq!(
        provider.find(LOCAL_DIRECTORY, &change.planned).await,
        Ok(Some(created.clone()))
    );
    assert_eq!(
        provider.import(LOCAL_DIRECTORY, "data/cache").await,
        Ok(created.clone())
    );

    // Not empty: refused, and the user's file is kept.
    host.write_atomic(&base.join("data/cache/user.txt"), b"mine")
        .unwrap();
    let error = provider
        .delete(
            &crate::providers::Operation::detached(),
            LOCAL_DIRECTORY,
            &created,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Permanent);
    assert_eq!(path_attr(&error), Some(vec!["path"]));
    assert!(error.message.contains("not empty"), "{}", error.message);
    assert_eq!(
        host.read(&base.join("data/cache/user.txt")).unwrap(),
        b"mine"
    );

    host.remove_file(&base.join("data/cache/user.txt")).unwrap();
    provider
        .delete(
            &crate::providers::Operation::detached(),
            LOCAL_DIRECTORY,
            &created,
        )
        .await
        .unwrap();
    assert!(!host.is_dir(&base.join("data/cache")));
    assert_eq!(provider.read(LOCAL_DIRECTORY, &created).await, Ok(None));
    assert_eq!(
        provider
            .delete(
                &crate::providers::Operation::detached(),
                LOCAL_DIRECTORY,
                &created
            )
            .await,
        Ok(())
    );

    // A file in the way is an error; an existing folder is adopted.
    host.write_atomic(&base.join("data/file"), b"x").unwrap();
    let error = plan_and_create(
        provider,
        LOCAL_DIRECTORY,
        &attrs(&[("path", Value::string("data/file"))]),
    )
    .await
    .unwrap_err();
    assert_eq!(path_attr(&error), Some(vec!["path"]));
    let adopted = plan_and_create(
        provider,
        LOCAL_DIRECTORY,
        &attrs(&[("path", Value::string("data"))]),
    )
    .await
    .unwrap();
    assert_eq!(adopted.id, "data");
}

#[tokio::test]
async fn directory_lifecycle_in_memory() {
    let (provider, host) = memory();
    directory_lifecycle(&provider, host.as_ref(), Path::new("stack")).await;
}

#[tokio::test]
async fn directory_lifecycle_on_disk() {
    let (provider, dir) = real("directory");
    directory_lifecycle(&provider, &RealHost, &dir.0).await;
}

#[tokio::test]
async fn unknown_types_are_errors() {
    let (provider, _host) = memory();
    let error = provider
        .create(
            &crate::providers::Operation::detached(),
            "local_thing",
            &file("a", "b"),
        )
        .await
        .unwrap_err();
    assert!(!error.is_transient());
    assert_eq!(provider.validate("local_thing", &file("a", "b")).len(), 1);
    let errors = provider.validate(LOCAL_FILE, &{
        let mut config = file("a", "b");
        config.insert("sha256".to_owned(), Value::string("x"));
        config
    });
    assert_eq!(path_attr(&errors[0]), Some(vec!["sha256"]));
}
