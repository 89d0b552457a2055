//! The stdlib modules, embedded in the binary at build time: each is a folder
//! `stdlib/NAME/` of `.infra` files, addressed as `source = "std/NAME"`.
//!
//! Invariant: this table lists every `.infra` file under `stdlib/`; a test
//! walks the folder and fails on a file missing here.

/// Every embedded file: (module name, file name, text).
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "config_dir",
        "main.infra",
        include_str!("../../stdlib/config_dir/main.infra"),
    ),
    (
        "env_file",
        "main.infra",
        include_str!("../../stdlib/env_file/main.infra"),
    ),
    (
        "redis_service",
        "main.infra",
        include_str!("../../stdlib/redis_service/main.infra"),
    ),
    (
        "static_site",
        "main.infra",
        include_str!("../../stdlib/static_site/main.infra"),
    ),
];

/// The names of the stdlib modules, sorted.
pub fn names() -> Vec<&'static str> {
    embedded_names(FILES)
}

/// The files of one module.
pub fn module(name: &str) -> Vec<(&'static str, &'static str)> {
    embedded_files(FILES, name)
}

/// The group names of an embedded table of `(group, file name, text)`
/// sorted by group: stdlib modules here, std policies in `policy::stdlib`.
pub(crate) fn embedded_names(
    files: &[(&'static str, &'static str, &'static str)],
) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = files.iter().map(|(group, _, _)| *group).collect();
    names.dedup();
    names
}

/// The `(file name, text)` of group `name` in such a table.
pub(crate) fn embedded_files(
    files: &[(&'static str, &'static str, &'static str)],
    name: &str,
) -> Vec<(&'static str, &'static str)> {
    files
        .iter()
        .filter(|(group, _, _)| *group == name)
        .map(|(_, file, text)| (*file, *text))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::FILES;

    #[test]
    fn every_stdlib_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib");
        let mut on_disk = Vec::new();
        for module in std::fs::read_dir(&root).unwrap() {
            let module = module.unwrap().path();
            if !module.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&module).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "infra") {
                    let name = module.file_name().unwrap().to_string_lossy().into_owned();
                    on_disk.push((
                        name,
                        file.file_name().unwrap().to_string_lossy().into_owned(),
                    ));
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<(String, String)> = FILES
            .iter()
            .map(|(m, f, _)| ((*m).to_owned(), (*f).to_owned()))
            .collect();
        assert_eq!(
            on_disk, embedded,
            "update src/check/stdlib.rs to match stdlib/"
        );
    }
}
