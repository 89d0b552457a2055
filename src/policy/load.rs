//! Finding and reading policies: each policy folder's `*.rego` files (the
//! `*_test.rego` ones only for `infra policy test`) and its `*.json`,
//! `*.yaml` and `*.yml` data files; `std/policy/NAME` from the binary.
//!
//! Invariant: files only through `host`; every file read is added to the
//! command's `SourceMap`, so diagnostics about it show its text.

use super::{PolicyDir, stdlib};
use crate::diag::{Code, Diagnostic, Diagnostics, FileId, SourceMap};
use crate::host::Host;
use std::path::Path;

/// One policy or test file.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    /// The name shown (`policy/tags.rego`, `std/policy/s3/s3.rego`).
    pub name: String,
    /// The text.
    pub text: String,
    /// Its id in the command's `SourceMap`.
    pub file: FileId,
    /// A `*_test.rego` file.
    pub test: bool,
}

/// One data file, parsed.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// The name shown.
    pub name: String,
    /// Its contents, as a document merged into `data`.
    pub value: regorus::Value,
}

/// Every policy of a command: the stack's `policies` and `--policy` folders.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// The `.rego` files, in folder order then name order.
    pub files: Vec<PolicyFile>,
    /// The data files.
    pub data: Vec<DataFile>,
}

impl PolicySet {
    /// Whether there is no policy at all.
    pub fn is_empty(&self) -> bool {
        self.files.iter().all(|file| file.test)
    }
}

/// Reads the policy folders; `tests` also reads the `*_test.rego` files.
/// Relative folders are taken from `stack_dir`.
pub fn load(
    host: &dyn Host,
    stack_dir: &Path,
    dirs: &[PolicyDir],
    tests: bool,
    sources: &mut SourceMap,
) -> (PolicySet, Diagnostics) {
    let mut set = PolicySet::default();
    let mut diagnostics = Diagnostics::new();
    let mut seen = std::collections::BTreeSet::new();
    for dir in dirs {
        if !seen.insert(dir.path.clone()) {
            continue;
        }
        if let Some(name) = dir.path.strip_prefix(stdlib::PREFIX) {
            let files = stdlib::module(name);
            if files.is_empty() {
                diagnostics.push(not_found(
                    dir,
                    format!(
                        "there is no `{}` in the binary; the std policies are {}",
                        dir.path,
                        stdlib::names()
                            .iter()
                            .map(|n| format!("`{}{n}`", stdlib::PREFIX))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            for (file_name, text) in files {
                let shown = format!("{}/{file_name}", dir.path);
                add_rego(&mut set, sources, shown, text.to_owned(), tests);
            }
            continue;
        }
        let path = normalized(&stack_dir.join(&dir.path));
        let shown_dir = crate::check::display_path(&path);
        if !host.is_dir(&path) {
            // A single file is a policy of one file.
            if dir.path.ends_with(".rego")
                && let Ok(bytes) = host.read(&path)
            {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                add_rego(&mut set, sources, shown_dir, text, tests);
                continue;
            }
            diagnostics.push(not_found(
                dir,
                format!("`{shown_dir}` is not a folder; a policy folder holds `*.rego` files (or name a std policy: `std/policy/tagging`)"),
            ));
            continue;
        }
        let entries = match host.list_dir(&path) {
            Ok(entries) => entries,
            Err(error) => {
                diagnostics.push(not_found(
                    dir,
                    format!("`{shown_dir}` could not be listed: {error}"),
                ));
                continue;
            }
        };
        let mut found = 0;
        for entry in entries.iter().filter(|entry| entry.is_file) {
            let Some(file_name) = entry
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
            else {
                continue;
            };
            let shown = crate::check::display_path(&entry.path);
            let is_rego = file_name.ends_with(".rego");
            let is_data = [".json", ".yaml", ".yml"]
                .iter()
                .any(|ext| file_name.ends_with(ext));
            if !is_rego && !is_data {
                continue;
            }
            let text = match host.read(&entry.path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(error) => {
                    diagnostics.push(
                        Diagnostic::error_at_path(Code::CliUnreadableFile, Some(shown))
                            .with_help(format!("could not read the policy file: {error}")),
                    );
                    continue;
                }
            };
            if is_rego {
                if !file_name.ends_with("_test.rego") {
                    found += 1;
                }
                add_rego(&mut set, sources, shown, text, tests);
            } else {
                found += 1;
                match parse_data(&file_name, &text) {
                    Ok(value) => set.data.push(DataFile { name: shown, value }),
                    Err(message) => {
                        let file = sources.add(shown.clone(), text);
                        diagnostics.push(
                            Diagnostic::error(
                                Code::PolicyParse,
                                crate::diag::Span::new(file, 0, 0),
                                "this data file does not parse",
                            )
                            .with_help(format!(
                                "policy data files are JSON or YAML documents: {message}"
                            )),
                        );
                    }
                }
            }
        }
        if found == 0 && !tests {
            diagnostics.push(not_found(
                dir,
                format!("`{shown_dir}` holds no `*.rego` policy file"),
            ));
        }
    }
    (set, diagnostics)
}

/// `a/b/../c` as `a/c`, without reading the disk (`..` after a plain name
/// only; a leading `..` stays).
fn normalized(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return std::path::PathBuf::from(".");
    }
    parts.iter().collect()
}

fn add_rego(
    set: &mut PolicySet,
    sources: &mut SourceMap,
    shown: String,
    text: String,
    tests: bool,
) {
    let test = shown.ends_with("_test.rego");
    if test && !tests {
        return;
    }
    let file = sources.add(shown.clone(), text.clone());
    set.files.push(PolicyFile {
        name: shown,
        text,
        file,
        test,
    });
}

fn parse_data(file_name: &str, text: &str) -> Result<regorus::Value, String> {
    let parsed = if file_name.ends_with(".json") {
        regorus::Value::from_json_str(text)
    } else {
        regorus::Value::from_yaml_str(text)
    };
    parsed.map_err(|error| first_line(&error.to_string()))
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
        .to_owned()
}

fn not_found(dir: &PolicyDir, help: String) -> Diagnostic {
    match dir.span {
        Some(span) => Diagnostic::error(Code::PolicyNotFound, span, "no policy here"),
        None => {
            Diagnostic::error_at_path(Code::PolicyNotFound, Some(format!("--policy {}", dir.path)))
        }
    }
    .with_help(help)
}
