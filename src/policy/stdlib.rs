//! The policies shipped in the binary, `std/policy/NAME`: each a folder
//! `stdlib/policy/NAME/` with `NAME.rego` and `NAME_test.rego`.
//!
//! Invariant: this table lists every `.rego` file under `stdlib/policy/`; a
//! test walks the folder and fails on a file missing here.

/// How a stack names a std policy: `std/policy/tagging`.
pub const PREFIX: &str = "std/policy/";

/// Every embedded file: (policy name, file name, text).
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "destroy_guard",
        "destroy_guard.rego",
        include_str!("../../stdlib/policy/destroy_guard/destroy_guard.rego"),
    ),
    (
        "destroy_guard",
        "destroy_guard_test.rego",
        include_str!("../../stdlib/policy/destroy_guard/destroy_guard_test.rego"),
    ),
    (
        "no_plaintext",
        "no_plaintext.rego",
        include_str!("../../stdlib/policy/no_plaintext/no_plaintext.rego"),
    ),
    (
        "no_plaintext",
        "no_plaintext_test.rego",
        include_str!("../../stdlib/policy/no_plaintext/no_plaintext_test.rego"),
    ),
    (
        "postgres",
        "postgres.rego",
        include_str!("../../stdlib/policy/postgres/postgres.rego"),
    ),
    (
        "postgres",
        "postgres_test.rego",
        include_str!("../../stdlib/policy/postgres/postgres_test.rego"),
    ),
    (
        "s3",
        "s3.rego",
        include_str!("../../stdlib/policy/s3/s3.rego"),
    ),
    (
        "s3",
        "s3_test.rego",
        include_str!("../../stdlib/policy/s3/s3_test.rego"),
    ),
    (
        "tagging",
        "tagging.rego",
        include_str!("../../stdlib/policy/tagging/tagging.rego"),
    ),
    (
        "tagging",
        "tagging_test.rego",
        include_str!("../../stdlib/policy/tagging/tagging_test.rego"),
    ),
];

/// The names of the std policies, sorted.
pub fn names() -> Vec<&'static str> {
    crate::check::stdlib::embedded_names(FILES)
}

/// The files of one std policy: (file name, text).
pub fn module(name: &str) -> Vec<(&'static str, &'static str)> {
    crate::check::stdlib::embedded_files(FILES, name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::FILES;

    #[test]
    fn every_std_policy_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib/policy");
        let mut on_disk = Vec::new();
        for policy in std::fs::read_dir(&root).unwrap() {
            let policy = policy.unwrap().path();
            if !policy.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&policy).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "rego") {
                    on_disk.push((
                        policy.file_name().unwrap().to_string_lossy().into_owned(),
                        file.file_name().unwrap().to_string_lossy().into_owned(),
                    ));
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<(String, String)> = FILES
            .iter()
            .map(|(p, f, _)| ((*p).to_owned(), (*f).to_owned()))
            .collect();
        assert_eq!(
            on_disk, embedded,
            "update src/policy/stdlib.rs to match stdlib/policy/"
        );
    }
}
