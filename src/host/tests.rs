#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;

#[test]
fn memory_folders_exist_explicitly_or_as_prefixes() {
    let host = MemoryHost::new().with_file("a/b/file.txt", "x");
    assert!(host.is_dir(Path::new("a/b")));
    assert_eq!(host.list_dir(Path::new("empty")), Err(HostError::NotFound));

    host.create_dir_all(Path::new("empty/inner")).unwrap();
    assert!(host.is_dir(Path::new("empty")) && host.is_dir(Path::new("empty/inner")));
    assert_eq!(host.list_dir(Path::new("empty/inner")), Ok(Vec::new()));
    let listed = host.list_dir(Path::new("empty")).unwrap();
    assert_eq!(
        listed,
        [DirEntry {
            path: PathBuf::from("empty/inner"),
            is_file: false,
        }]
    );
    assert_eq!(
        host.create_dir_all(Path::new("a/b/file.txt/sub")),
        Err(HostError::NotADirectory)
    );

    assert!(host.remove_dir(Path::new("empty")).is_err(), "not empty");
    host.remove_dir(Path::new("empty/inner")).unwrap();
    host.remove_dir(Path::new("empty")).unwrap();
    assert!(!host.is_dir(Path::new("empty")));
    assert_eq!(
        host.remove_dir(Path::new("empty")),
        Err(HostError::NotFound)
    );
    assert!(host.remove_dir(Path::new("a/b")).is_err(), "holds a file");
}

#[test]
fn memory_modes_default_and_follow_the_file() {
    let host = MemoryHost::new().with_file("f", "x");
    host.create_dir_all(Path::new("d")).unwrap();
    assert_eq!(host.permissions(Path::new("f")), Ok(Some(0o644)));
    assert_eq!(host.permissions(Path::new("d")), Ok(Some(0o755)));
    assert_eq!(
        host.permissions(Path::new("nope")),
        Err(HostError::NotFound)
    );
    host.set_permissions(Path::new("f"), 0o600).unwrap();
    host.rename(Path::new("f"), Path::new("g")).unwrap();
    assert_eq!(host.permissions(Path::new("g")), Ok(Some(0o600)));
    host.write_atomic_with_mode(Path::new("h"), b"y", 0o640)
        .unwrap();
    assert_eq!(host.permissions(Path::new("h")), Ok(Some(0o640)));
    host.remove_file(Path::new("h")).unwrap();
    host.write_atomic(Path::new("h"), b"z").unwrap();
    assert_eq!(
        host.permissions(Path::new("h")),
        Ok(Some(0o644)),
        "a new file"
    );
}

#[cfg(unix)]
#[test]
fn real_write_with_mode_and_folders() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("infra-host-{}-{nanos}", std::process::id()));
    let host = RealHost;
    host.create_dir_all(&dir.join("sub")).unwrap();
    let file = dir.join("sub/secret");
    host.write_atomic_with_mode(&file, b"s", 0o600).unwrap();
    assert_eq!(host.permissions(&file), Ok(Some(0o600)));
    // A plain rewrite keeps the mode.
    host.write_atomic(&file, b"t").unwrap();
    assert_eq!(host.permissions(&file), Ok(Some(0o600)));
    assert_eq!(host.read(&file).unwrap(), b"t");
    host.set_permissions(&file, 0o644).unwrap();
    assert_eq!(host.permissions(&file), Ok(Some(0o644)));
    assert!(host.remove_dir(&dir.join("sub")).is_err(), "not empty");
    host.remove_file(&file).unwrap();
    host.remove_dir(&dir.join("sub")).unwrap();
    assert!(!host.is_dir(&dir.join("sub")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn real_same_contents_compares_files_bigger_than_a_piece_byte_for_byte() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("infra-same-{}-{nanos}", std::process::id()));
    let host = RealHost;
    host.create_dir_all(&dir).unwrap();
    let file = dir.join("big");
    // Over two pieces of the comparison, so the last byte is in a third.
    let contents: Vec<u8> = (0..(2 << 20) + 5).map(|i| (i % 251) as u8).collect();
    host.write_atomic(&file, &contents).unwrap();
    assert_eq!(host.same_contents(&file, &contents), Ok(true));
    let mut last_differs = contents.clone();
    if let Some(last) = last_differs.last_mut() {
        *last ^= 1;
    }
    assert_eq!(host.same_contents(&file, &last_differs), Ok(false));
    assert_eq!(
        host.same_contents(&file, &contents[..contents.len() - 1]),
        Ok(false)
    );
    assert_eq!(host.same_contents(&file, b""), Ok(false));
    assert_eq!(
        host.same_contents(&dir.join("missing"), &contents),
        Err(HostError::NotFound)
    );
    assert!(
        host.same_contents(&dir, b"").is_err(),
        "a folder is not read"
    );
    // The default, as in-memory hosts have it, agrees.
    let memory = MemoryHost::new();
    memory.write_atomic(&file, &contents).unwrap();
    assert_eq!(memory.same_contents(&file, &contents), Ok(true));
    assert_eq!(memory.same_contents(&file, &last_differs), Ok(false));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn times_are_shown_as_utc_dates_and_ages_in_the_largest_units() {
    use super::{format_age, format_utc};
    assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
    assert_eq!(format_utc(1_796_534_691), "2026-12-06 05:24:51 UTC");
    assert_eq!(format_age(12), "12 s");
    assert_eq!(format_age(125), "2 min");
    assert_eq!(format_age(3 * 3600 + 5 * 60), "3 h 5 min");
    assert_eq!(format_age(2 * 86_400 + 4 * 3600), "2 d 4 h");
}
