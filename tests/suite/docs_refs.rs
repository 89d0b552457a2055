//! The documentation says only what the tool does: every file it points to
//! exists, and every `--flag` it shows on an `infra` command line is one that
//! command accepts (as `infra <command> --help` lists it).
//!
//! Read: `README.md`, `docs/**/*.md` and `examples/*/README.md`.

use super::harness;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every markdown page the checks read, relative to the repository root.
fn pages() -> Vec<PathBuf> {
    let root = harness::root();
    let mut pages = vec![PathBuf::from("README.md")];
    let mut folders = vec![PathBuf::from("docs")];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let relative = folder.join(entry.file_name());
            if entry.path().is_dir() {
                folders.push(relative);
            } else if relative.extension().is_some_and(|e| e == "md") {
                pages.push(relative);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("examples")) {
        for entry in entries.flatten() {
            let readme = Path::new("examples")
                .join(entry.file_name())
                .join("README.md");
            if root.join(&readme).exists() {
                pages.push(readme);
            }
        }
    }
    pages.sort();
    pages
}

/// The inline code spans of a page (text between single backticks), and the
/// lines of its fenced code blocks.
fn code_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push(line.to_owned());
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let Some(inside) = parts.next() {
            out.push(inside.to_owned());
            parts.next();
        }
    }
    out
}

/// The relative link targets of a page: `[text](target)`, without anchors.
fn links_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("](") {
        let rest = text.get(at + 2..).unwrap_or_default();
        let Some(end) = rest.find(')') else { continue };
        let target = rest.get(..end).unwrap_or_default();
        let target = target.split('#').next().unwrap_or_default();
        if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        out.push(target.to_owned());
    }
    out
}

#[test]
fn every_file_the_docs_point_to_exists() {
    let root = harness::root();
    let mut missing = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(root.join(&page))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", page.display()));
        let folder = page.parent().unwrap_or(Path::new("")).to_path_buf();
        let exists = |target: &str| {
            let target = target.trim_end_matches('/');
            root.join(&folder).join(target).exists() || root.join(target).exists()
        };
        for target in links_of(&text) {
            if !exists(&target) {
                missing.push(format!("{}: link to {target}", page.display()));
            }
        }
        // Repository files named in code spans: `docs/x.md`, `DESIGN.md`,
        // `src/lib.rs`, `examples/shop/main.infra`.
        for span in code_of(&text) {
            let span = span.trim();
            let is_repo_path = [
                "docs/",
                "src/",
                "tests/",
                "examples/",
                "stdlib/",
                "grammar/",
            ]
            .iter()
            .any(|prefix| span.starts_with(prefix))
                || (span.ends_with(".md") && !span.contains(' '));
            let plain = span
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
            // What running an example writes (its state, its files) is not
            // in the repository.
            let written = span.contains("/.infra") || span.contains("/out/");
            if is_repo_path && plain && !written && !exists(span) {
                missing.push(format!("{}: `{span}`", page.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the docs point to files that do not exist:\n{}",
        missing.join("\n")
    );
}

/// `infra <path> --help`.
fn help(path: &[&str]) -> Option<String> {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(&args)
        .env("NO_COLOR", "1")
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The subcommands a help text lists under `Commands:`.
fn subcommands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn every_flag_the_docs_show_on_an_infra_command_exists() {
    let root = harness::root();
    let mut helps: BTreeMap<Vec<String>, Option<String>> = BTreeMap::new();
    let mut help_of = |path: &[String]| {
        helps
            .entry(path.to_vec())
            .or_insert_with(|| help(&path.iter().map(String::as_str).collect::<Vec<_>>()))
            .clone()
    };
    let mut wrong = Vec::new();
    let mut flags_checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(root.join(&page))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", page.display()));
        for code in code_of(&text) {
            let line = code.trim().trim_start_matches("$ ");
            let Some(rest) = line.strip_prefix("infra ") else {
                continue;
            };
            let tokens: Vec<String> = rest
                .split_whitespace()
                .map(|t| t.trim_matches(|c| c == '[' || c == ']').to_owned())
                .collect();
            // The command path: words that name a subcommand of the one before.
            let mut path: Vec<String> = Vec::new();
            for token in &tokens {
                let Some(current) = help_of(&path) else { break };
                if subcommands(&current).contains(token) {
                    path.push(token.clone());
                } else if !token.starts_with('-') {
                    // A positional argument (or `-C DIR`'s value) before the path ends.
                    if path.is_empty() {
                        continue;
                    }
                    break;
                } else if token == "-C" {
                    continue;
                }
            }
            let Some(current) = help_of(&path) else {
                continue;
            };
            for token in &tokens {
                let Some(flag) = token.strip_prefix("--") else {
                    continue;
                };
                let flag = flag
                    .split(['=', '|', '\\', '`', ',', ')'])
                    .next()
                    .unwrap_or_default();
                if flag.is_empty() {
                    continue;
                }
                flags_checked += 1;
                if !current.contains(&format!("--{flag}")) {
                    wrong.push(format!(
                        "{}: `infra {}` has no --{flag} (in `{line}`)",
                        page.display(),
                        path.join(" ")
                    ));
                }
            }
        }
    }
    assert!(flags_checked > 50, "only {flags_checked} flags found");
    assert!(
        wrong.is_empty(),
        "the docs show flags the commands do not take:\n{}",
        wrong.join("\n")
    );
}
