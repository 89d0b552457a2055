//! State tests: round trips, refusals that leave files untouched, sealing,
//! locking and the journal, on the in-memory host and on real temp folders.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

use super::crypto::KEY_ENV;
use super::*;
use crate::addr::{InstanceKey, ProviderAddr, ResourceAddr};
use crate::diag::Code;
use crate::host::{Host, MemoryHost, RealHost};
use crate::lang::Value;
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CANARY: &str = "CANARY-s3cr3t-9f2c";

fn secret_attributes() -> Value {
    let mut tags = BTreeMap::new();
    tags.insert("team".to_owned(), Value::string("core"));
    let mut attributes = BTreeMap::new();
    attributes.insert("id".to_owned(), Value::string("db-1"));
    attributes.insert(
        "password".to_owned(),
        Value::string(CANARY).with_secret(true),
    );
    attributes.insert(
        "list".to_owned(),
        Value::list(vec![
            Value::from(1),
            Value::string(CANARY).with_secret(true),
        ]),
    );
    attributes.insert("tags".to_owned(), Value::map(tags.into()));
    // A plain map that looks like an envelope must come back as it was.
    let mut lookalike = BTreeMap::new();
    lookalike.insert("sealed".to_owned(), Value::string("not a secret"));
    attributes.insert("lookalike".to_owned(), Value::map(lookalike.into()));
    Value::map(attributes.into())
}

fn sample_state(host: &dyn Host, key: &Key) -> State {
    let mut state = State::new(host);
    let attributes = key.seal(host, &secret_attributes()).unwrap();
    let config = key.seal(host, &secret_attributes()).unwrap();
    state.set_instance(
        &ResourceAddr::managed("test_db", "main"),
        &ProviderAddr::named("test"),
        InstanceState {
            key: InstanceKey::None,
            attributes,
            dependencies: vec![ResourceAddr::managed("test_net", "vpc")],
            config,
        },
    );
    let output = key
        .seal(host, &Value::string(CANARY).with_secret(true))
        .unwrap();
    state.outputs.insert(
        "password".to_owned(),
        OutputState {
            value: output,
            sensitive: true,
        },
    );
    state
}

fn no_wait() -> impl FnMut(Option<&LockInfo>) {
    |_| {}
}

/// Writes `count` versions and returns the state after the last.
fn write_versions(backend: &LocalBackend<'_>, key: &Key, host: &dyn Host, count: u64) -> State {
    let mut state = sample_state(host, key);
    for n in 1..=count {
        let lock = backend
            .lock("apply", Duration::ZERO, &mut no_wait())
            .unwrap();
        state.outputs.insert(
            "n".to_owned(),
            OutputState {
                value: key.seal(host, &Value::from(n as i64)).unwrap(),
                sensitive: false,
            },
        );
        backend
            .write(&lock, &mut state, key, &format!("apply {n}"))
            .unwrap();
    }
    state
}

/// Writes `next` as the next version, under a lock, expecting it to fail.
fn failed_write(backend: &LocalBackend<'_>, next: &mut State, key: &Key) -> StateError {
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    backend.write_version(&lock, next, key, "two").unwrap_err()
}

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("infra-state-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

// ---- model and file --------------------------------------------------------

#[test]
fn lineage_is_a_uuid_v4() {
    let host = MemoryHost::new();
    let lineage = State::new(&host).lineage;
    let parts: Vec<&str> = lineage.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('4'));
    assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
    assert_ne!(lineage, State::new(&host).lineage);
}

#[test]
fn round_trip_keeps_everything_and_reopens_secrets() {
    let host = MemoryHost::new().with_now(1_700_000_000);
    let dir = Path::new("/stack");
    let backend = LocalBackend::new(&host, dir, "shop", "prod");
    let key = backend.key().unwrap();
    assert!(matches!(key.source(), KeySource::Created(_)));
    let state = write_versions(&backend, &key, &host, 1);
    let read = backend.read_state(&key).unwrap().unwrap();
    assert_eq!(read, state);
    assert_eq!(read.serial, 1);
    let instance = read
        .instance(&ResourceAddr::managed("test_db", "main").instance(InstanceKey::None))
        .unwrap();
    let opened = key.open(&instance.attributes, None).unwrap();
    assert_eq!(opened, secret_attributes());
    let password = opened.as_map().unwrap().get("password").unwrap();
    assert!(password.is_secret());
    assert_eq!(password.as_str(), Some(CANARY));
    let lookalike = opened.as_map().unwrap().get("lookalike").unwrap();
    assert!(!lookalike.contains_secret());
    let file = backend.read().unwrap().unwrap();
    assert_eq!(file.written_at, 1_700_000_000);
    assert_eq!(file.format_version, FORMAT_VERSION);
}

#[test]
fn checksum_ignores_layout_but_not_content() {
    let host = MemoryHost::new();
    let key = Key::generate(&host);
    let file = StateFile::new(&sample_state(&host, &key), 1, 5, "apply", &key.id());
    let compact = serde_json::to_vec(&file).unwrap();
    assert_eq!(
        StateFile::parse(&compact, Path::new("s.json")).unwrap(),
        file
    );
    let mut changed = file.clone();
    changed.summary = "apply!".to_owned();
    let bytes = serde_json::to_vec(&changed).unwrap();
    let error = StateFile::parse(&bytes, Path::new("s.json")).unwrap_err();
    assert_eq!(error.code, Code::StateChecksumMismatch);
}

#[test]
fn a_value_without_secrets_is_stored_as_its_json() {
    let host = MemoryHost::new();
    let key = Key::generate(&host);
    let mut inner = BTreeMap::new();
    inner.insert("quote\"d".to_owned(), Value::string("tab\tand é"));
    inner.insert("n".to_owned(), Value::NULL);
    let mut attributes = BTreeMap::new();
    attributes.insert("null".to_owned(), Value::NULL);
    attributes.insert("unknown".to_owned(), Value::UNKNOWN);
    attributes.insert("flag".to_owned(), Value::bool(true));
    attributes.insert("int".to_owned(), Value::number(-3));
    attributes.insert(
        "float".to_owned(),
        Value::number(crate::lang::Number::Float(0.25)),
    );
    attributes.insert("text".to_owned(), Value::string("plain"));
    attributes.insert(
        "list".to_owned(),
        Value::list(vec![Value::from(1), Value::string("x"), Value::NULL]),
    );
    attributes.insert("map".to_owned(), Value::map(inner.into()));
    let value = Value::map(attributes.into());
    let sealed = key.seal(&host, &value).unwrap();
    assert!(sealed.sensitive_paths.is_empty());
    assert_eq!(sealed.json, Json::from(&value.to_json_revealed()));
}

#[test]
fn a_version_read_from_a_file_is_taken_apart_into_the_same_state_with_no_spare_room() {
    let host = MemoryHost::new();
    let key = Key::generate(&host);
    let mut state = sample_state(&host, &key);
    let instance = state.resources[0].instances[0].clone();
    for name in ["a", "b", "c"] {
        state.set_instance(
            &ResourceAddr::managed("test_db", name),
            &ProviderAddr::named("test"),
            instance.clone(),
        );
    }
    let file = StateFile::new(&state, 1, 5, "apply", &key.id());
    let read = StateFile::parse(&file.to_bytes(), Path::new("s.json")).unwrap();
    assert_eq!(read, file);
    // serde grows a list as it reads it; what a state holds is exact.
    assert_eq!(read.resources.capacity(), read.resources.len());
    for resource in &read.resources {
        assert_eq!(resource.instances.capacity(), resource.instances.len());
        for instance in &resource.instances {
            assert_eq!(
                instance.dependencies.capacity(),
                instance.dependencies.len()
            );
        }
    }
    assert_eq!(read.clone().into_state(), read.to_state());
    let mut expected = state.clone();
    expected.serial = 1;
    assert_eq!(read.into_state(), expected);
}

#[test]
fn a_version_is_written_as_pretty_json_in_a_buffer_of_exactly_its_size() {
    let host = MemoryHost::new();
    let key = Key::generate(&host);
    let file = StateFile::new(&sample_state(&host, &key), 2, 5, "apply", &key.id());
    let bytes = file.to_bytes();
    let mut expected = serde_json::to_vec_pretty(&file).unwrap();
    expected.push(b'\n');
    assert_eq!(bytes, expected);
    assert_eq!(bytes.capacity(), bytes.len());
}

#[test]
fn a_version_serialized_beside_its_checksum_is_the_same_bytes_as_one_made_in_turn() {
    let host = MemoryHost::new();
    let key = Key::generate(&host);
    // Big enough for several parts, with a summary that mentions the field.
    let mut state = big_state(&host, &key, 3_000);
    let before = state.clone();
    let summary =
        "apply: \"checksum\": \"0000000000000000000000000000000000000000000000000000000000000000\"";
    let (file, bytes) = StateFile::lent_with_bytes(&mut state, 7, 5, summary, &key.id());
    let expected = StateFile::new(&before, 7, 5, summary, &key.id());
    assert_eq!(file, expected);
    let bytes = bytes.to_vec();
    assert!(bytes.len() > 2 << 20, "only {} bytes", bytes.len());
    assert_eq!(bytes, expected.to_bytes());
    file.give_back(&mut state);
    assert_eq!(state.resources, before.resources);
}

#[test]
fn a_failed_write_of_the_current_file_or_its_history_copy_leaves_the_previous_version() {
    for failing in ["current", "history"] {
        let host = MemoryHost::new().with_now(100);
        let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
        let key = backend.key().unwrap();
        let mut state = big_state(&host, &key, 4);
        let first = write_once(&backend, &key, &mut state, "one");
        let files_before: Vec<(PathBuf, Vec<u8>)> = host
            .paths()
            .into_iter()
            .map(|path| (path.clone(), host.file(&path).unwrap()))
            .collect();
        let failing_path = match failing {
            "current" => backend.state_path(),
            _ => backend.history_dir().join("00000000000000000002.json"),
        };
        host.fail_writes_to(&failing_path);
        let mut next = state.clone();
        next.resources[0].instances[0].dependencies = vec![ResourceAddr::managed("x", "y")];
        let error = failed_write(&backend, &mut next, &key);
        assert_eq!(
            error.path.as_deref(),
            Some(failing_path.as_path()),
            "{failing}"
        );
        assert!(error.help.contains("injected"), "{failing}: {}", error.help);
        // The state is given back unchanged, at the serial it was read at.
        assert_eq!(next.serial, 1, "{failing}");
        // Nothing of the new version is in place: the current file and the
        // whole version 1 are as they were (a delta of version 1 may have
        // been written; the whole copy is read before it).
        for (path, bytes) in &files_before {
            assert_eq!(host.file(path).as_ref(), Some(bytes), "{failing}: {path:?}");
        }
        assert_eq!(backend.read().unwrap().unwrap(), first, "{failing}");
        assert_eq!(backend.version(1).unwrap(), first, "{failing}");
        let serials = serials(&backend);
        assert_eq!(serials, vec![1], "{failing}");
    }
}

#[test]
fn a_failed_write_on_a_real_disk_leaves_the_previous_version_and_no_temp_file() {
    let temp = TempDir::new("failed-write");
    let host = RealHost;
    let backend = LocalBackend::new(&host, &temp.0, "shop", "prod");
    let key = backend.key().unwrap();
    let state = write_versions(&backend, &key, &host, 1);
    let current = std::fs::read(backend.state_path()).unwrap();
    // A folder where the new history copy's temp file goes: that write
    // fails while the current file's succeeds, and neither is put in place.
    let version = backend.history_dir().join("00000000000000000002.json");
    let blocked = backend.history_dir().join(format!(
        ".00000000000000000002.json.tmp.{}",
        std::process::id()
    ));
    std::fs::create_dir_all(blocked.join("inside")).unwrap();
    let mut next = state.clone();
    next.outputs.clear();
    let error = failed_write(&backend, &mut next, &key);
    assert_eq!(error.path.as_deref(), Some(version.as_path()));
    std::fs::remove_dir_all(&blocked).unwrap();
    assert_eq!(std::fs::read(backend.state_path()).unwrap(), current);
    assert!(!version.exists());
    let names: Vec<String> = all_files(&temp.0)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|name| name.contains(".tmp.")),
        "{names:?}"
    );
    assert_eq!(backend.read_state(&key).unwrap().unwrap().serial, 1);
}

#[test]
fn a_state_written_is_lent_to_its_file_and_given_back_whole() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    let mut state = sample_state(&host, &key);
    let before = state.clone();
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    let serial = backend
        .write_version(&lock, &mut state, &key, "apply")
        .unwrap();
    assert_eq!(serial, 1);
    let mut expected = before.clone();
    expected.serial = 1;
    assert_eq!(state, expected);
    let written = backend.read().unwrap().unwrap();
    assert_eq!(
        written,
        StateFile::new(&before, 1, written.written_at, "apply", &key.id())
    );
    // A write refused before anything is written leaves the state as it was.
    let mut stale = before.clone();
    let error = backend
        .write_version(&lock, &mut stale, &key, "again")
        .unwrap_err();
    assert_eq!(error.code, Code::StateSerialBackwards);
    assert_eq!(stale, before);
}

#[test]
fn a_version_1_state_reads_with_default_configurations_and_the_next_version_is_2() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    let mut state = write_versions(&backend, &key, &host, 1);
    // The current file as an infra before provider aliases wrote it.
    let path = backend.state_path();
    let mut old = StateFile::parse(&host.file(&path).unwrap(), &path).unwrap();
    old.format_version = 1;
    old.checksum = old.compute_checksum();
    let old_text = String::from_utf8(old.to_bytes()).unwrap();
    assert!(old_text.contains("\"provider\": \"test\""), "{old_text}");
    host.set_file(&path, old.to_bytes());
    let read = backend.read().unwrap().unwrap();
    assert_eq!(read.format_version, 1);
    assert_eq!(read.resources[0].provider, ProviderAddr::named("test"));

    let staging = ProviderAddr::new("ssh", Some("staging".to_owned()));
    let instance = read.resources[0].instances[0].clone();
    state.set_instance(
        &ResourceAddr::managed("ssh_file", "site"),
        &staging,
        instance,
    );
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    backend.write(&lock, &mut state, &key, "apply 2").unwrap();
    drop(lock);
    let written = backend.read().unwrap().unwrap();
    assert_eq!(written.format_version, FORMAT_VERSION);
    assert_eq!(FORMAT_VERSION, 2);
    let text = String::from_utf8(host.file(&path).unwrap()).unwrap();
    assert!(text.contains("\"provider\": \"ssh.staging\""), "{text}");
    let site = written
        .resources
        .iter()
        .find(|r| r.addr.resource_type == "ssh_file")
        .unwrap();
    assert_eq!(site.provider, staging);
}

#[test]
fn journal_records_fold_into_state() {
    let host = MemoryHost::new();
    let key = Key::generate(&host);
    let mut state = State::new(&host);
    let resource = ResourceAddr::managed("test_db", "main");
    let instance = InstanceState {
        key: InstanceKey::Int(0),
        attributes: key.seal(&host, &secret_attributes()).unwrap(),
        dependencies: Vec::new(),
        config: SealedValue::default(),
    };
    state.apply_record(&JournalRecord::Set {
        resource: resource.clone(),
        provider: ProviderAddr::named("test"),
        instance: instance.clone(),
    });
    assert_eq!(state.instance_count(), 1);
    assert_eq!(
        state.instance(&resource.instance(InstanceKey::Int(0))),
        Some(&instance)
    );
    state.apply_record(&JournalRecord::Remove {
        instance: resource.instance(InstanceKey::Int(0)),
    });
    assert_eq!(state.instance_count(), 0);
    assert!(state.resources.is_empty());
}

// ---- writing and history ---------------------------------------------------

#[test]
fn atomic_writes_leave_no_temp_files_on_disk() {
    let temp = TempDir::new("atomic");
    let host = RealHost;
    let backend = LocalBackend::new(&host, &temp.0, "shop", "prod");
    let key = backend.key().unwrap();
    write_versions(&backend, &key, &host, 3);
    let names: Vec<String> = all_files(&temp.0)
        .iter()
        .map(|p| {
            p.strip_prefix(&temp.0)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            ".infra/key",
            ".infra/state/shop/prod.history/00000000000000000001.delta.json",
            ".infra/state/shop/prod.history/00000000000000000002.delta.json",
            ".infra/state/shop/prod.history/00000000000000000003.json",
            ".infra/state/shop/prod.json",
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(temp.0.join(".infra/key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let read = backend.read_state(&key).unwrap().unwrap();
    assert_eq!(read.serial, 3);
}

#[test]
fn history_keeps_every_version() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    let key = backend.key().unwrap();
    write_versions(&backend, &key, &host, 3);
    let history = backend.history().unwrap();
    assert_eq!(
        history
            .iter()
            .map(|v| (v.serial, v.summary.as_str(), v.instance_count))
            .collect::<Vec<_>>(),
        [(1, "apply 1", 1), (2, "apply 2", 1), (3, "apply 3", 1)]
    );
    let second = backend.version(2).unwrap().to_state();
    let n = key.open(&second.outputs["n"].value, None).unwrap();
    assert_eq!(n, Value::from(2));
    let missing = backend.version(9).unwrap_err();
    assert_eq!(missing.code, Code::StateNoSuchVersion);
}

/// A state of `count` instances of one resource and `count` of another,
/// with the sample's sealed attributes.
fn big_state(host: &dyn Host, key: &Key, count: usize) -> State {
    let mut state = State::new(host);
    for (resource, n) in ["a", "b"]
        .into_iter()
        .flat_map(|resource| (0..count).map(move |n| (resource, n)))
    {
        let attributes = key.seal(host, &secret_attributes()).unwrap();
        state.set_instance(
            &ResourceAddr::managed("test_db", resource),
            &ProviderAddr::named("test"),
            InstanceState {
                key: InstanceKey::Int(n as i64),
                attributes: attributes.clone(),
                dependencies: Vec::new(),
                config: attributes,
            },
        );
    }
    state
}

/// The files in `backend`'s history folder, by name, with their sizes.
fn history_files(host: &MemoryHost, backend: &LocalBackend<'_>) -> Vec<(String, usize)> {
    let dir = backend.history_dir();
    let mut files: Vec<(String, usize)> = host
        .paths()
        .into_iter()
        .filter(|path| path.parent() == Some(dir.as_path()))
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let size = host.file(&path).unwrap().len();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                size,
            )
        })
        .collect();
    files.sort();
    files
}

/// Writes `state` as the next version under a fresh lock.
fn write_once(
    backend: &LocalBackend<'_>,
    key: &Key,
    state: &mut State,
    summary: &str,
) -> StateFile {
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    backend.write(&lock, state, key, summary).unwrap()
}

#[test]
fn a_small_change_to_a_big_state_adds_a_small_delta_to_the_history() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    let key = backend.key().unwrap();
    let mut state = big_state(&host, &key, 500);
    let mut written = vec![write_once(&backend, &key, &mut state, "create")];
    // One instance changed, one removed, one added, an output set, one
    // resource removed: each version differs from the one before a little.
    let changed = key.seal(&host, &Value::string("changed")).unwrap();
    let one = |n: i64| InstanceAddr {
        resource: ResourceAddr::managed("test_db", "a"),
        key: InstanceKey::Int(n),
    };
    state.resources[0].instances[7].attributes = changed.clone();
    written.push(write_once(&backend, &key, &mut state, "change one"));
    assert!(state.remove_instance(&one(3)));
    state.set_instance(
        &ResourceAddr::managed("test_db", "c"),
        &ProviderAddr::named("test"),
        state.resources[0].instances[0].clone(),
    );
    written.push(write_once(
        &backend,
        &key,
        &mut state,
        "remove one, add one",
    ));
    state.outputs.insert(
        "n".to_owned(),
        OutputState {
            value: changed,
            sensitive: false,
        },
    );
    state
        .resources
        .retain(|r| r.addr != ResourceAddr::managed("test_db", "b"));
    written.push(write_once(
        &backend,
        &key,
        &mut state,
        "output, resource gone",
    ));

    let files = history_files(&host, &backend);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "00000000000000000001.delta.json",
            "00000000000000000002.delta.json",
            "00000000000000000003.delta.json",
            "00000000000000000004.json",
        ]
    );
    // A delta holds what its version has and the next one lacks: version 1
    // one instance (changed in 2), version 2 one instance and the absence of
    // another (3 added and removed them), version 3 the whole of resource
    // `b` (removed in 4). The whole state is written once, as version 4.
    let whole = host.file(&backend.state_path()).unwrap().len();
    for (name, size) in &files[..2] {
        assert!(size * 100 < whole, "{name}: {size} bytes of {whole}");
    }
    assert!(files[2].1 * 3 < whole * 2, "{files:?}");
    // Every version comes back exactly as written, and the history lists
    // them from the deltas' headers.
    for file in &written {
        assert_eq!(&backend.version(file.serial).unwrap(), file);
    }
    let history = backend.history().unwrap();
    let lines: Vec<(u64, &str, usize)> = history
        .iter()
        .map(|v| (v.serial, v.summary.as_str(), v.instance_count))
        .collect();
    assert_eq!(
        lines,
        [
            (1, "create", 1000),
            (2, "change one", 1000),
            (3, "remove one, add one", 1000),
            (4, "output, resource gone", 500),
        ]
    );
    // A version rebuilt from deltas restores like a whole one.
    let lock = backend
        .lock("restore", Duration::ZERO, &mut no_wait())
        .unwrap();
    let (restored, _) = backend.restore(&lock, 1, &key, "restore 1").unwrap();
    assert_eq!(restored.resources, written[0].resources);
    assert_eq!(backend.version(1).unwrap(), written[0]);
}

#[test]
fn a_damaged_delta_is_refused_and_the_other_versions_still_read() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    let key = backend.key().unwrap();
    let mut state = big_state(&host, &key, 3);
    let first = write_once(&backend, &key, &mut state, "one");
    state.resources[0].instances[1].dependencies = vec![ResourceAddr::managed("x", "y")];
    let second = write_once(&backend, &key, &mut state, "two");
    state.resources[0].instances[2].dependencies = vec![ResourceAddr::managed("x", "z")];
    let third = write_once(&backend, &key, &mut state, "three");

    let delta = backend
        .history_dir()
        .join("00000000000000000002.delta.json");
    let original = host.file(&delta).unwrap();
    let edited = String::from_utf8(original.clone())
        .unwrap()
        .replace("\"summary\":\"two\"", "\"summary\":\"twx\"");
    assert_ne!(edited.as_bytes(), original.as_slice());
    host.set_file(&delta, edited);
    assert_eq!(
        backend.version(2).unwrap_err().code,
        Code::StateChecksumMismatch
    );
    assert_eq!(backend.version(3).unwrap(), third);

    // A delta whose base is not the version after it (replaced by hand):
    // the history says so, the versions it needs fail, the newest reads.
    host.set_file(&delta, original);
    assert_eq!(backend.version(2).unwrap(), second);
    assert_eq!(backend.version(1).unwrap(), first);
    let newest = backend.history_dir().join("00000000000000000003.json");
    let mut other = third.clone();
    other.summary = "replaced".to_owned();
    other.checksum = other.compute_checksum();
    host.set_file(&newest, other.to_bytes());
    host.set_file(backend.state_path(), other.to_bytes());
    assert_eq!(
        backend.history().unwrap_err().code,
        Code::StateNoSuchVersion
    );
    assert_eq!(
        backend.version(1).unwrap_err().code,
        Code::StateChecksumMismatch
    );
    assert_eq!(backend.version(3).unwrap(), other);
}

#[test]
fn a_write_cut_short_at_any_step_leaves_every_version_readable() {
    // The steps of a write: the older version's delta, the current file, the
    // new whole copy in the history, the older whole copy removed. A crash
    // after each of the first three leaves these files; each must read, and
    // the next write must go on from there.
    for cut in 1..=3 {
        let host = MemoryHost::new().with_now(100);
        let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
        let key = backend.key().unwrap();
        let mut state = big_state(&host, &key, 4);
        let first = write_once(&backend, &key, &mut state, "one");
        let before_current = host.file(&backend.state_path()).unwrap();
        let before_whole = host.file(&backend.history_dir().join("00000000000000000001.json"));
        let mut next = state.clone();
        next.resources[0].instances[0].dependencies = vec![ResourceAddr::managed("x", "y")];
        let second = write_once(&backend, &key, &mut next, "two");
        // Undo what came after the cut.
        let whole_1 = backend.history_dir().join("00000000000000000001.json");
        host.set_file(&whole_1, before_whole.clone().unwrap());
        if cut < 3 {
            host.remove_file(&backend.history_dir().join("00000000000000000002.json"))
                .unwrap();
        }
        if cut < 2 {
            host.set_file(backend.state_path(), before_current.clone());
        }
        let current = backend.read().unwrap().unwrap();
        assert_eq!(
            current,
            if cut < 2 {
                first.clone()
            } else {
                second.clone()
            }
        );
        assert_eq!(backend.version(1).unwrap(), first, "cut {cut}");
        let serials = serials(&backend);
        assert_eq!(
            serials,
            if cut < 3 { vec![1] } else { vec![1, 2] },
            "cut {cut}"
        );

        // The next write: after the first cut another version 2 is written
        // (the delta of 1 is made again from it).
        let mut again = if cut < 2 { state.clone() } else { next.clone() };
        again.resources[1].instances[0].dependencies = vec![ResourceAddr::managed("x", "w")];
        let third = write_once(&backend, &key, &mut again, "again");
        for file in [&first, &third] {
            assert_eq!(&backend.version(file.serial).unwrap(), file, "cut {cut}");
        }
        if cut >= 2 {
            assert_eq!(backend.version(2).unwrap(), second, "cut {cut}");
        }
        assert!(backend.history().is_ok(), "cut {cut}");
    }
}

#[test]
fn a_stale_state_is_not_written_over_a_newer_one() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    let key = backend.key().unwrap();
    let mut stale = write_versions(&backend, &key, &host, 1);
    let mut fresh = backend.read_state(&key).unwrap().unwrap();
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    backend.write(&lock, &mut fresh, &key, "fresh").unwrap();
    let before = host.file(&backend.state_path()).unwrap();
    let error = backend.write(&lock, &mut stale, &key, "stale").unwrap_err();
    assert_eq!(error.code, Code::StateSerialBackwards);
    assert_eq!(host.file(&backend.state_path()).unwrap(), before);
}

// ---- refusals --------------------------------------------------------------

/// Replaces the state file with `edit(bytes)` and checks that reading and
/// writing are refused with `code` and leave the file as it was.
fn assert_refused(edit: impl Fn(&[u8], &MemoryHost, &LocalBackend<'_>) -> Vec<u8>, code: Code) {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    let mut state = write_versions(&backend, &key, &host, 2);
    let path = backend.state_path();
    let original = host.file(&path).unwrap();
    let edited = edit(&original, &host, &backend);
    host.set_file(&path, edited.clone());
    let error = backend.read().unwrap_err();
    assert_eq!(error.code, code, "{}", error.help);
    assert!(!error.help.is_empty());
    assert_eq!(error.path.as_deref(), Some(path.as_path()));
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    let error = backend.write(&lock, &mut state, &key, "again").unwrap_err();
    assert_eq!(error.code, code);
    assert_eq!(
        host.file(&path).unwrap(),
        edited,
        "refused file was changed"
    );
    assert_eq!(backend.history().unwrap().len(), 2);
}

#[test]
fn truncated_state_is_refused_and_kept() {
    assert_refused(
        |bytes, _, _| bytes[..bytes.len() / 2].to_vec(),
        Code::StateInvalidJson,
    );
}

#[test]
fn state_with_a_flipped_byte_is_refused_and_kept() {
    assert_refused(
        |bytes, _, _| {
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            text.replacen("\"apply 2\"", "\"apply 3\"", 1).into_bytes()
        },
        Code::StateChecksumMismatch,
    );
    // Any single flipped byte is refused, whatever the code.
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    write_versions(&backend, &key, &host, 1);
    let original = host.file(&backend.state_path()).unwrap();
    for at in (0..original.len()).step_by(97) {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        host.set_file(backend.state_path(), bytes);
        assert!(backend.read().is_err(), "flip at {at} was accepted");
    }
}

#[test]
fn bad_json_is_refused_and_kept() {
    assert_refused(|_, _, _| b"{ not json".to_vec(), Code::StateInvalidJson);
}

#[test]
fn unknown_field_is_refused_and_kept() {
    assert_refused(
        |bytes, _, _| {
            let mut json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            json.as_object_mut()
                .unwrap()
                .insert("extra".to_owned(), serde_json::Value::from(1));
            serde_json::to_vec_pretty(&json).unwrap()
        },
        Code::StateInvalidFormat,
    );
}

#[test]
fn newer_format_version_is_refused_and_kept() {
    assert_refused(
        |bytes, _, _| {
            let mut json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            json["format_version"] = serde_json::Value::from(99);
            serde_json::to_vec_pretty(&json).unwrap()
        },
        Code::StateUnsupportedVersion,
    );
}

#[test]
fn serial_going_backwards_is_refused_and_kept() {
    assert_refused(
        // Version 1 as it was written (the history keeps it as a delta).
        |_, _, backend| backend.version(1).unwrap().to_bytes(),
        Code::StateSerialBackwards,
    );
}

#[test]
fn foreign_lineage_is_refused_and_kept() {
    assert_refused(
        |_, _, _| {
            let other = MemoryHost::new().with_now(7);
            let other_backend = LocalBackend::new(&other, Path::new("/o"), "shop", "prod");
            let key = other_backend.key().unwrap();
            // Different randomness draws give a different lineage.
            let mut burn = [0u8; 64];
            other.random_bytes(&mut burn);
            write_versions(&other_backend, &key, &other, 3);
            other.file(&other_backend.state_path()).unwrap()
        },
        Code::StateForeignLineage,
    );
}

#[test]
fn a_new_state_is_not_written_over_another_lineage_history() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    write_versions(&backend, &key, &host, 1);
    host.remove_file(&backend.state_path()).unwrap();
    let mut fresh = State::new(&host);
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    let error = backend.write(&lock, &mut fresh, &key, "x").unwrap_err();
    // Refused before the lineage is even compared: a deleted current file
    // with history is the missing-current refusal, whose way out is restore.
    assert_eq!(error.code, Code::StateMissingCurrent);
    assert!(
        error.help.contains("infra state restore 1 --env prod"),
        "{}",
        error.help
    );
    assert!(host.file(&backend.state_path()).is_none());
}

// ---- keys and sealing ------------------------------------------------------

#[test]
fn the_canary_secret_never_reaches_a_file() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    let state = write_versions(&backend, &key, &host, 2);
    let mut journal = backend.journal();
    for instance in &state.resources[0].instances {
        journal
            .append(&JournalRecord::Set {
                resource: state.resources[0].addr.clone(),
                provider: ProviderAddr::named("test"),
                instance: instance.clone(),
            })
            .unwrap();
    }
    let paths = host.paths();
    assert!(paths.contains(&backend.journal_path()));
    assert!(paths.len() >= 5, "{paths:?}");
    for path in paths {
        let bytes = host.file(&path).unwrap();
        assert!(
            !contains(&bytes, CANARY),
            "{} holds the secret",
            path.display()
        );
    }
    let text = format!("{key:?} {state:?}");
    assert!(!contains(text.as_bytes(), CANARY));
    let key_text = String::from_utf8(host.file(&backend.key_path()).unwrap()).unwrap();
    assert!(!format!("{key:?}").contains(key_text.trim()));
}

#[test]
fn the_canary_secret_never_reaches_a_real_file() {
    let temp = TempDir::new("canary");
    let host = RealHost;
    let backend = LocalBackend::new(&host, &temp.0, "shop", "prod");
    let key = backend.key().unwrap();
    let state = write_versions(&backend, &key, &host, 2);
    let mut journal = backend.journal();
    journal
        .append(&JournalRecord::Set {
            resource: state.resources[0].addr.clone(),
            provider: ProviderAddr::named("test"),
            instance: state.resources[0].instances[0].clone(),
        })
        .unwrap();
    for path in all_files(&temp.0) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !contains(&bytes, CANARY),
            "{} holds the secret",
            path.display()
        );
    }
}

#[test]
fn a_wrong_key_is_refused_and_nothing_is_overwritten() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    let mut state = write_versions(&backend, &key, &host, 1);
    let before = host.file(&backend.state_path()).unwrap();
    let wrong = Key::from_bytes([7; 32], KeySource::Env);
    let error = backend.read_state(&wrong).unwrap_err();
    assert_eq!(error.code, Code::StateWrongKey);
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    let error = backend.write(&lock, &mut state, &wrong, "x").unwrap_err();
    assert_eq!(error.code, Code::StateWrongKey);
    assert_eq!(host.file(&backend.state_path()).unwrap(), before);
    // Opening an envelope with the wrong key fails too, without the plaintext.
    let attributes = &state.resources[0].instances[0].attributes;
    let error = wrong.open(attributes, None).unwrap_err();
    assert_eq!(error.code, Code::StateWrongKey);
    assert!(!error.help.contains(CANARY));
    assert!(!error.to_string().contains(CANARY));
}

#[test]
fn a_missing_key_is_refused_when_state_exists() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    write_versions(&backend, &key, &host, 1);
    host.remove_file(&backend.key_path()).unwrap();
    let error = backend.key().unwrap_err();
    assert_eq!(error.code, Code::StateMissingKey);
    assert!(host.file(&backend.key_path()).is_none(), "no new key made");
}

#[test]
fn key_comes_from_env_else_a_new_owner_only_file() {
    let encoded = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
    let host = MemoryHost::new().with_env(KEY_ENV, &encoded);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let key = backend.key().unwrap();
    assert_eq!(key.source(), &KeySource::Env);
    assert_eq!(key.id(), Key::from_bytes([3; 32], KeySource::Env).id());
    assert!(host.file(&backend.key_path()).is_none());

    let bad = MemoryHost::new().with_env(KEY_ENV, "c2hvcnQ=");
    let backend = LocalBackend::new(&bad, Path::new("/s"), "shop", "prod");
    assert_eq!(backend.key().unwrap_err().code, Code::StateInvalidKey);

    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let created = backend.key().unwrap();
    assert!(host.is_owner_only(&backend.key_path()));
    let again = backend.key().unwrap();
    assert_eq!(again.id(), created.id());
    assert!(matches!(again.source(), KeySource::File(_)));
}

#[test]
fn a_tampered_envelope_is_refused() {
    let host = MemoryHost::new();
    let key = Key::generate(&host);
    let mut sealed = key
        .seal(&host, &Value::string(CANARY).with_secret(true))
        .unwrap();
    assert_eq!(sealed.sensitive_paths, vec![Vec::<PathStep>::new()]);
    let envelope = sealed
        .json
        .get("sealed")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(envelope)
        .unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    sealed.json = crate::state::Json::from(&serde_json::json!({
        "sealed": base64::engine::general_purpose::STANDARD.encode(raw)
    }));
    assert_eq!(
        key.open(&sealed, None).unwrap_err().code,
        Code::StateWrongKey
    );
    sealed.json = crate::state::Json::String("plain".into());
    assert_eq!(
        key.open(&sealed, None).unwrap_err().code,
        Code::StateInvalidFormat
    );
}

// ---- locking ---------------------------------------------------------------

#[test]
fn a_held_lock_fails_at_once_and_names_the_holder() {
    let host = MemoryHost::new().with_now(50);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let held = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    let mut waited = false;
    let error = backend
        .lock("destroy", Duration::ZERO, &mut |_| waited = true)
        .unwrap_err();
    assert!(!waited);
    assert_eq!(error.code, Code::StateLocked);
    let holder = error.holder.as_deref().unwrap();
    assert_eq!(holder, held.info());
    assert_eq!(
        (holder.user.as_str(), holder.host.as_str(), holder.pid),
        ("tester", "memory-host", 4242)
    );
    assert_eq!(holder.operation, "apply");
    assert!(error.help.contains(&held.info().id));
    assert_eq!(host.now_unix_seconds(), 50, "no waiting without a timeout");
}

#[test]
fn a_waiter_sees_the_holder_and_gives_up_after_the_timeout() {
    let host = MemoryHost::new().with_now(1000);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let held = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    let mut seen = Vec::new();
    let error = backend
        .lock("apply", Duration::from_secs(30), &mut |holder| {
            seen.push(holder.cloned());
        })
        .unwrap_err();
    assert_eq!(error.code, Code::StateLocked);
    assert_eq!(seen, vec![Some(held.info().clone())]);
    assert_eq!(host.now_unix_seconds(), 1030);
}

#[test]
fn dropping_the_lock_releases_it() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    {
        let _lock = backend
            .lock("apply", Duration::ZERO, &mut no_wait())
            .unwrap();
        assert!(backend.lock_holder().is_some());
    }
    assert!(backend.lock_holder().is_none());
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    lock.release().unwrap();
    assert!(backend.lock_holder().is_none());
}

#[test]
fn a_waiter_gets_the_lock_once_it_is_released() {
    let temp = TempDir::new("lockwait");
    let host = RealHost;
    let backend = LocalBackend::new(&host, &temp.0, "shop", "prod");
    let held = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    let holder_id = held.info().id.clone();
    // The holder lets go only once the waiter has said it is waiting, so the
    // lock really was waited for; nothing is timed.
    let (waiting, waiting_seen) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(move || {
            let mut seen = None;
            let lock = backend.lock("apply", Duration::from_secs(120), &mut |holder| {
                seen = holder.map(|h| h.id.clone());
                let _ = waiting.send(());
            });
            (lock.map(|l| l.info().id.clone()), seen)
        });
        if let Err(error) = waiting_seen.recv_timeout(Duration::from_secs(60)) {
            panic!("the waiter never reported waiting for the held lock: {error}");
        }
        drop(held);
        let (lock, seen) = waiter.join().unwrap();
        let new_id = lock.unwrap();
        assert_ne!(new_id, holder_id);
        assert_eq!(seen.as_deref(), Some(holder_id.as_str()));
    });
}

#[test]
fn a_stale_lock_is_broken_by_its_id_only() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let stale = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    let id = stale.info().id.clone();
    // The holder was killed: its lock is never released.
    std::mem::forget(stale);
    let error = backend.force_unlock("not-the-id").unwrap_err();
    assert_eq!(error.code, Code::StateLockMismatch);
    assert!(error.help.contains(&id));
    assert!(backend.lock_holder().is_some());
    let removed = backend.force_unlock(&id).unwrap();
    assert_eq!(removed.id, id);
    assert!(backend.lock_holder().is_none());
    assert_eq!(
        backend.force_unlock(&id).unwrap_err().code,
        Code::StateLockMismatch
    );
    backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
}

#[test]
fn a_force_unlocked_holder_does_not_remove_the_next_lock() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "prod");
    let first = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    backend.force_unlock(&first.info().id.clone()).unwrap();
    let second = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    drop(first);
    assert_eq!(backend.lock_holder().as_ref(), Some(second.info()));
}

// ---- journal ---------------------------------------------------------------

fn sample_record(n: i64) -> JournalRecord {
    JournalRecord::Remove {
        instance: ResourceAddr::managed("test_db", "main").instance(InstanceKey::Int(n)),
    }
}

#[test]
fn a_half_written_last_record_is_ignored() {
    let host = MemoryHost::new();
    let path = Path::new("/s/.infra/state/shop/prod.journal");
    let mut journal = Journal::new(&host, path);
    for n in 0..3 {
        journal.append(&sample_record(n)).unwrap();
    }
    let complete = host.file(path).unwrap();
    // A crash in the middle of the fourth append.
    let mut torn = complete.clone();
    let fourth = format!("J1 40 {}", "ab".repeat(10));
    torn.extend_from_slice(fourth.as_bytes());
    host.set_file(path, torn);
    let read: JournalRead<JournalRecord> = Journal::new(&host, path).read().unwrap();
    assert_eq!(read.records, (0..3).map(sample_record).collect::<Vec<_>>());
    assert!(read.torn_tail);

    // The next command appends after the complete records only.
    let mut journal = Journal::new(&host, path);
    journal.append(&sample_record(3)).unwrap();
    let read: JournalRead<JournalRecord> = journal.read().unwrap();
    assert_eq!(read.records, (0..4).map(sample_record).collect::<Vec<_>>());
    assert!(!read.torn_tail);

    journal.clear().unwrap();
    let read: JournalRead<JournalRecord> = journal.read().unwrap();
    assert!(read.records.is_empty());
}

/// A journal at `path` of two records whose last one's checksum no longer
/// matches (a bit flipped near its end).
fn journal_with_a_bad_last_checksum(host: &MemoryHost, path: &Path) {
    let mut journal = Journal::new(host, path);
    journal.append(&sample_record(0)).unwrap();
    journal.append(&sample_record(1)).unwrap();
    let mut bytes = host.file(path).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x01;
    host.set_file(path, bytes);
}

#[test]
fn a_last_record_with_a_bad_checksum_is_a_torn_tail() {
    let host = MemoryHost::new();
    let path = Path::new("/j");
    journal_with_a_bad_last_checksum(&host, path);
    let journal = Journal::new(&host, path);
    let read: JournalRead<JournalRecord> = journal.read().unwrap();
    assert_eq!(read.records, vec![sample_record(0)]);
    assert!(read.torn_tail);
}

#[test]
fn a_last_record_with_a_bad_checksum_is_dropped_before_the_next_append() {
    let host = MemoryHost::new();
    let path = Path::new("/j");
    journal_with_a_bad_last_checksum(&host, path);
    let mut journal = Journal::new(&host, path);
    journal.append(&sample_record(2)).unwrap();
    let read: JournalRead<JournalRecord> = journal.read().unwrap();
    assert_eq!(read.records, vec![sample_record(0), sample_record(2)]);
    assert!(!read.torn_tail);
}

#[test]
fn a_damaged_record_before_the_last_is_refused() {
    let host = MemoryHost::new();
    let path = Path::new("/j");
    let mut journal = Journal::new(&host, path);
    for n in 0..3 {
        journal.append(&sample_record(n)).unwrap();
    }
    let mut bytes = host.file(path).unwrap();
    bytes[10] ^= 0x01;
    host.set_file(path, bytes.clone());
    let error = journal.read::<JournalRecord>().unwrap_err();
    assert_eq!(error.code, Code::StateCorruptedJournal);
    assert_eq!(host.file(path).unwrap(), bytes);
}

#[test]
fn the_journal_survives_on_a_real_disk() {
    let temp = TempDir::new("journal");
    let host = RealHost;
    let path = temp.0.join("deep/prod.journal");
    let mut journal = Journal::new(&host, &path);
    for n in 0..3 {
        journal.append(&sample_record(n)).unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&path, &bytes).unwrap();
    let read: JournalRead<JournalRecord> = Journal::new(&host, &path).read().unwrap();
    assert_eq!(read.records, (0..2).map(sample_record).collect::<Vec<_>>());
    assert!(read.torn_tail);
}

// ---- the one path: Reading and Writing ------------------------------------

fn open_writing<'h>(host: &'h MemoryHost, backend: &'h LocalBackend<'h>) -> Writing<'h> {
    Writing::open(
        host,
        backend,
        "apply",
        Duration::ZERO,
        &mut no_wait(),
        KeyUse::Create,
    )
    .unwrap()
}

/// An apply's journal that removed `test_db.main` from version `serial`.
fn interrupted_apply<'h>(host: &'h MemoryHost, backend: &'h LocalBackend<'h>) -> State {
    let mut writing = open_writing(host, backend);
    let state = writing.state().unwrap().clone();
    let mut journal = writing.journal(&state).unwrap();
    journal
        .append(&[JournalRecord::Remove {
            instance: ResourceAddr::managed("test_db", "main").instance(InstanceKey::None),
        }])
        .unwrap();
    // The process dies: the lock is left, and taken over by pid liveness in
    // real runs; here it is released so the next command can run.
    drop(writing);
    state
}

#[test]
fn an_apply_journal_starts_with_the_version_it_was_written_against() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    let key = backend.key().unwrap();
    let written = write_versions(&backend, &key, &host, 2);
    interrupted_apply(&host, &backend);
    let records = backend.journal().read::<JournalRecord>().unwrap().records;
    assert_eq!(
        records.first(),
        Some(&JournalRecord::Base {
            lineage: written.lineage.clone(),
            serial: 2
        })
    );
    // A reading folds it in memory, writes nothing and says so.
    let before = all_memory_files(&host);
    let reading = Reading::open(&backend).unwrap();
    assert_eq!(reading.state(&host).unwrap().instance_count(), 0);
    let warning = reading.warning().unwrap();
    assert_eq!(warning.code, Code::StateUnrecordedActions);
    assert_eq!(all_memory_files(&host), before);
    // A writing command folds it durably first: version 3, journal gone.
    let writing = open_writing(&host, &backend);
    assert_eq!(writing.state().unwrap().serial, 3);
    assert_eq!(writing.state().unwrap().instance_count(), 0);
    assert!(host.file(&backend.journal_path()).is_none());
    assert!(
        writing
            .notes()
            .iter()
            .any(|note| note.contains("recovered 1 actions"))
    );
    let audit = backend.audit().unwrap();
    assert_eq!(audit.records.last().unwrap().command, "recover");
    assert_eq!(audit.records.last().unwrap().serial, Some(3));
}

#[test]
fn a_journal_is_not_folded_once_the_state_moved_on() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    let key = backend.key().unwrap();
    write_versions(&backend, &key, &host, 1);
    interrupted_apply(&host, &backend);
    let journal = host.file(&backend.journal_path()).unwrap();
    // Another version is written behind the journal's back (a file copied
    // back, an older infra).
    let mut state = backend.read_state(&key).unwrap().unwrap();
    let lock = backend
        .lock("other", Duration::ZERO, &mut no_wait())
        .unwrap();
    backend.write(&lock, &mut state, &key, "other").unwrap();
    drop(lock);
    let state_file = host.file(&backend.state_path()).unwrap();
    let error = Reading::open(&backend).unwrap_err();
    assert_eq!(error.code, Code::StateJournalStale);
    let error = Writing::open(
        &host,
        &backend,
        "apply",
        Duration::ZERO,
        &mut no_wait(),
        KeyUse::Create,
    )
    .unwrap_err();
    assert_eq!(error.code, Code::StateJournalStale);
    assert!(error.help.contains("version 1"), "{}", error.help);
    assert!(error.help.contains("version 2"), "{}", error.help);
    assert_eq!(host.file(&backend.journal_path()).unwrap(), journal);
    assert_eq!(host.file(&backend.state_path()).unwrap(), state_file);
    assert!(host.file(&backend.lock_path()).is_none(), "lock released");
}

fn all_memory_files(host: &MemoryHost) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let root = Path::new("/s/.infra");
    let mut pending = vec![root.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in host.list_dir(&dir).unwrap_or_default() {
            if entry.is_file {
                files.push((entry.path.clone(), host.file(&entry.path)));
            } else {
                pending.push(entry.path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_journal_already_written_into_the_current_version_is_not_folded_again() {
    let host = MemoryHost::new();
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    let key = backend.key().unwrap();
    write_versions(&backend, &key, &host, 1);
    // An apply journals a removal, writes version 2 and is killed before it
    // removes the journal: the journal ends with its commit mark.
    let mut writing = open_writing(&host, &backend);
    let mut state = writing.state().unwrap().clone();
    let remove = JournalRecord::Remove {
        instance: ResourceAddr::managed("test_db", "main").instance(InstanceKey::None),
    };
    writing
        .journal(&state)
        .unwrap()
        .append(std::slice::from_ref(&remove))
        .unwrap();
    let journal = host.file(&backend.journal_path()).unwrap();
    state.apply_record(&remove);
    assert_eq!(writing.write(&mut state, "apply").unwrap(), 2);
    drop(writing);
    host.write_atomic(&backend.journal_path(), &journal)
        .unwrap();
    Journal::new(&host, &backend.journal_path())
        .append(&JournalRecord::Committed {
            lineage: state.lineage.clone(),
            serial: 2,
        })
        .unwrap();
    let reading = Reading::open(&backend).unwrap();
    assert!(reading.warning().is_none());
    assert_eq!(reading.state(&host).unwrap().serial, 2);
    let writing = open_writing(&host, &backend);
    assert_eq!(writing.state().unwrap().serial, 2, "no version of its own");
    assert!(host.file(&backend.journal_path()).is_none());
}

// ---- history retention -------------------------------------------------------

/// One writing command through the one path: `command` writes the next
/// version (output `n` set to its serial) under `keep`, and finishes with
/// its audit record.
fn retained_write(
    host: &MemoryHost,
    backend: &LocalBackend<'_>,
    keep: Option<u64>,
    command: &str,
) -> Finished {
    let mut writing =
        open_writing(host, backend).with_retention(keep.map(|keep| Retention { keep }));
    let key = writing.key().unwrap().clone();
    let mut state = match writing.state() {
        Some(state) => state.clone(),
        None => sample_state(host, &key),
    };
    let n = state.serial + 1;
    state.outputs.insert(
        "n".to_owned(),
        OutputState {
            value: key.seal(host, &Value::from(n as i64)).unwrap(),
            sensitive: false,
        },
    );
    let serial = writing
        .write(&mut state, &format!("{command} {n}"))
        .unwrap();
    let mut audit = AuditRecord::start(host, command, "dev");
    audit.serial = Some(serial);
    writing.finish(Some(audit))
}

fn serials(backend: &LocalBackend<'_>) -> Vec<u64> {
    backend
        .history()
        .unwrap()
        .iter()
        .map(|v| v.serial)
        .collect()
}

/// Each kept version rebuilds, passes its checksum and holds its serial as `n`.
fn assert_every_version_reads(backend: &LocalBackend<'_>, key: &Key) {
    for serial in serials(backend) {
        let state = backend.version(serial).unwrap().to_state();
        let n = key.open(&state.outputs["n"].value, None).unwrap();
        assert_eq!(n, Value::from(serial as i64), "version {serial}");
    }
}

#[test]
fn keep_prunes_the_oldest_deltas_after_each_write_and_says_which() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    let mut pruned = Vec::new();
    for _ in 0..10 {
        pruned.push(retained_write(&host, &backend, Some(3), "apply").pruned);
    }
    let key = backend.key().unwrap();
    assert_eq!(serials(&backend), [8, 9, 10]);
    assert_every_version_reads(&backend, &key);
    // Nothing until the fourth write; then one version each time.
    assert_eq!(pruned[..3], [None, None, None]);
    assert_eq!(
        pruned[3],
        Some(PrunedVersions {
            first: 1,
            last: 1,
            keep: 3
        })
    );
    assert_eq!(pruned[9].unwrap().range(), "version 7");
    // Only the deltas of 8 and 9 and the whole 10 are left.
    let names: Vec<String> = history_files(&host, &backend)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        [
            "00000000000000000008.delta.json",
            "00000000000000000009.delta.json",
            "00000000000000000010.json"
        ]
    );
    // The audit records say what each write pruned.
    let audit = backend.audit().unwrap();
    assert_eq!(audit.records.len(), 10);
    assert_eq!(audit.records[9].pruned, pruned[9]);
    assert_eq!(
        pruned[9].unwrap().describe(),
        "Pruned history: version 7 removed (stack.history.keep = 3)."
    );
}

#[test]
fn a_pruned_version_is_refused_as_pruned_and_an_unknown_one_as_missing() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    for _ in 0..6 {
        retained_write(&host, &backend, Some(2), "apply");
    }
    let dynamic: &dyn Backend = &backend;
    let error = dynamic.version(2).unwrap_err();
    assert_eq!(error.code, Code::StateVersionPruned);
    assert!(
        error.help.contains("stack.history.keep = 2"),
        "{}",
        error.help
    );
    assert!(
        error.help.contains("version 2 was pruned"),
        "{}",
        error.help
    );
    let error = dynamic.version(40).unwrap_err();
    assert_eq!(error.code, Code::StateNoSuchVersion);
    // A restore of a pruned version is refused the same way, and writes nothing.
    let before = all_memory_files(&host);
    let mut writing = open_writing(&host, &backend);
    let error = writing.restore(3, "state restore: version 3").unwrap_err();
    assert_eq!(error.code, Code::StateVersionPruned);
    drop(writing);
    assert_eq!(all_memory_files(&host), before);
    assert!(dynamic.version(5).is_ok());
}

#[test]
fn the_version_the_last_apply_started_from_outlives_the_window() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    for _ in 0..5 {
        retained_write(&host, &backend, Some(2), "apply");
    }
    // Surgery after the last apply (which wrote 5, from 4).
    for _ in 0..5 {
        retained_write(&host, &backend, Some(2), "state-rm");
    }
    assert_eq!(serials(&backend), [4, 5, 6, 7, 8, 9, 10]);
    // The next apply moves the pin: only the newest two and the one before.
    retained_write(&host, &backend, Some(2), "apply");
    assert_eq!(serials(&backend), [10, 11]);
    assert_every_version_reads(&backend, &backend.key().unwrap());
}

#[test]
fn keep_one_still_keeps_the_version_a_rollback_goes_back_to() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    for _ in 0..4 {
        retained_write(&host, &backend, Some(1), "refresh");
    }
    assert_eq!(serials(&backend), [3, 4]);
}

#[test]
fn without_the_setting_or_an_audit_record_nothing_is_pruned() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    for _ in 0..5 {
        assert_eq!(retained_write(&host, &backend, None, "apply").pruned, None);
    }
    assert_eq!(serials(&backend), [1, 2, 3, 4, 5]);
    // A command that records nothing (force-unlock) prunes nothing.
    let mut writing = open_writing(&host, &backend).with_retention(Some(Retention { keep: 1 }));
    let mut state = writing.state().unwrap().clone();
    writing.write(&mut state, "no record").unwrap();
    let finished = writing.finish(None);
    assert_eq!(finished.pruned, None);
    assert_eq!(serials(&backend).len(), 6);
}

#[test]
fn a_prune_cut_short_leaves_a_shorter_history_that_reads() {
    // Pruning removes the oldest version first, each removal durable before
    // the next: a crash leaves some prefix of the old versions removed.
    for cut in 0..=4 {
        let host = MemoryHost::new().with_now(100);
        let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
        for _ in 0..6 {
            retained_write(&host, &backend, None, "apply");
        }
        for serial in 1..=cut {
            host.remove_file(
                &backend
                    .history_dir()
                    .join(format!("{serial:020}.delta.json")),
            )
            .unwrap();
        }
        assert_eq!(serials(&backend), ((cut + 1)..=6).collect::<Vec<_>>());
        assert_every_version_reads(&backend, &backend.key().unwrap());
        // The next write with the setting goes on from there.
        retained_write(&host, &backend, Some(3), "apply");
        assert_eq!(serials(&backend), [5, 6, 7], "cut {cut}");
    }
}

#[test]
fn the_current_version_is_never_pruned() {
    let host = MemoryHost::new().with_now(100);
    let backend = LocalBackend::new(&host, Path::new("/s"), "shop", "dev");
    for _ in 0..3 {
        retained_write(&host, &backend, None, "apply");
    }
    let lock = backend
        .lock("apply", Duration::ZERO, &mut no_wait())
        .unwrap();
    assert_eq!(backend.prune(&lock, 99).unwrap(), [1, 2]);
    assert_eq!(serials(&backend), [3]);
    assert!(backend.read().unwrap().is_some());
}
