//! The formatter's tests.
//!
//! - Golden pairs: `tests/fmt/<case>.in.infra` formats to
//!   `tests/fmt/<case>.out.infra`, and the `.out` file is a fixed point.
//!   `INFRA_BLESS_FMT=1 cargo test --test all corpus::fmt` rewrites the `.out`
//!   files; read the diff before committing it.
//! - Every `.infra` file of the repository (`tests/fmt`, `tests/corpus`,
//!   `examples`, `stdlib`) that parses is formatted idempotently, and the
//!   output parses without errors to the same tree (spans, layout flags and
//!   raw string text aside). A file that does not parse is refused.
//!
//! Invariant: goes through `fmt::format_source` and `syntax::parse` only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use infra::diag::FileId;
use infra::syntax::{self, ast};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.infra` file under `dir`, recursively, sorted.
fn infra_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "infra") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A line diff for failure messages.
fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string()
}

/// The tree as text without what formatting may change: spans, blank-line
/// counts, the multi-line and trailing-comma flags, the raw text of strings
/// (whose interpolations are reprinted) and carriage returns.
fn shape(file: &ast::File) -> String {
    let debug = format!("{:?}", file.body).replace("\\r", "");
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    loop {
        let next = [
            "Span {",
            "blank_lines_before: ",
            "multiline: ",
            "trailing_comma: ",
            "raw: \"",
        ]
        .iter()
        .filter_map(|marker| rest.find(marker).map(|at| (at, *marker)))
        .min();
        let Some((at, marker)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        out.push_str(marker);
        let after = &rest[at + marker.len()..];
        let skip = match marker {
            "Span {" => after.find('}').map_or(after.len(), |end| end + 1),
            "raw: \"" => {
                let mut escaped = false;
                let mut end = after.len();
                for (index, c) in after.char_indices() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = index + 1;
                        break;
                    }
                }
                end
            }
            _ => after
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(after.len()),
        };
        rest = &after[skip..];
    }
    out
}

/// Formats `text`, checking the properties every formatted file must have.
/// Returns `None` when `text` does not parse.
fn format_checked(name: &str, text: &str) -> Result<Option<String>, String> {
    let (tree, diagnostics) = syntax::parse(FileId(0), text);
    let result = infra::fmt::format_source(FileId(0), text);
    if diagnostics.has_errors() {
        return match result {
            Err(_) => Ok(None),
            Ok(_) => Err(format!(
                "{name}: does not parse, yet format_source formatted it"
            )),
        };
    }
    let formatted = result.map_err(|d| format!("{name}: format_source failed: {d:?}"))?;
    let (reparsed, rediagnostics) = syntax::parse(FileId(0), &formatted);
    if rediagnostics.has_errors() {
        return Err(format!(
            "{name}: formatted output does not parse: {rediagnostics:?}\n{formatted}"
        ));
    }
    if shape(&reparsed) != shape(&tree) {
        return Err(format!(
            "{name}: formatted output parses to another tree\n{}",
            diff(
                &shape(&tree).replace(", ", ",\n"),
                &shape(&reparsed).replace(", ", ",\n")
            )
        ));
    }
    let again = infra::fmt::format(&reparsed, &formatted);
    if again != formatted {
        return Err(format!(
            "{name}: not idempotent\n{}",
            diff(&formatted, &again)
        ));
    }
    if !formatted.is_empty() && (!formatted.ends_with('\n') || formatted.ends_with("\n\n")) {
        return Err(format!(
            "{name}: output does not end with exactly one newline"
        ));
    }
    if formatted.contains('\r') {
        return Err(format!("{name}: output has a carriage return"));
    }
    Ok(Some(formatted))
}

fn golden_cases() -> Vec<(String, PathBuf, PathBuf)> {
    let mut cases: Vec<(String, PathBuf, PathBuf)> = infra_files_under(&root().join("tests/fmt"))
        .into_iter()
        .filter_map(|path| {
            let file_name = path.file_name()?.to_str()?.to_owned();
            let case = file_name.strip_suffix(".in.infra")?.to_owned();
            let out = path.with_file_name(format!("{case}.out.infra"));
            Some((case, path, out))
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_cases_format_to_their_out_files() {
    let bless = std::env::var_os("INFRA_BLESS_FMT").is_some();
    let cases = golden_cases();
    assert!(cases.len() >= 10, "tests/fmt has too few cases");
    let mut failures = Vec::new();
    for (case, input, output) in cases {
        let text = std::fs::read_to_string(&input).unwrap();
        let formatted = match format_checked(&case, &text) {
            Ok(Some(formatted)) => formatted,
            Ok(None) => {
                failures.push(format!("{case}: input does not parse"));
                continue;
            }
            Err(failure) => {
                failures.push(failure);
                continue;
            }
        };
        if bless {
            std::fs::write(&output, &formatted).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&output).unwrap_or_default();
        if formatted != expected {
            failures.push(format!("{case}:\n{}", diff(&expected, &formatted)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn golden_out_files_are_fixed_points() {
    let mut failures = Vec::new();
    for (case, _, output) in golden_cases() {
        let expected = std::fs::read_to_string(&output).unwrap_or_default();
        match infra::fmt::format_source(FileId(0), &expected) {
            Ok(formatted) if formatted == expected => {}
            Ok(formatted) => failures.push(format!("{case}.out:\n{}", diff(&expected, &formatted))),
            Err(diagnostics) => {
                failures.push(format!("{case}.out does not parse: {diagnostics:?}"))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_infra_file_formats_idempotently_to_the_same_tree() {
    let mut failures = Vec::new();
    let mut formatted_count = 0;
    for folder in ["tests/fmt", "tests/corpus", "examples", "stdlib"] {
        for path in infra_files_under(&root().join(folder)) {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            match format_checked(&relative(&path), &text) {
                Ok(Some(_)) => formatted_count += 1,
                Ok(None) => {}
                Err(failure) => failures.push(failure),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(formatted_count > 0, "no .infra file parsed");
}

#[test]
fn output_has_no_trailing_whitespace_outside_heredocs() {
    for (case, _, output) in golden_cases() {
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            // The heredoc golden case keeps trailing spaces inside its body on purpose.
            if case != "heredoc" && line != line.trim_end() {
                panic!("{case}.out.infra:{}: trailing whitespace", number + 1);
            }
        }
    }
}

#[test]
fn a_file_that_does_not_parse_is_refused() {
    for text in [
        "stack \"s\" {\n",
        "a = \"unterminated\n",
        "x {\n  y = <<EOT\nno end\n}\n",
    ] {
        assert!(
            infra::fmt::format_source(FileId(0), text).is_err(),
            "formatted a broken file: {text:?}"
        );
    }
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(infra::fmt::format_source(FileId(0), "").unwrap(), "");
    assert_eq!(infra::fmt::format_source(FileId(0), "\n\n\n").unwrap(), "");
    assert_eq!(
        infra::fmt::format_source(FileId(0), "# only a comment   \n\n\n").unwrap(),
        "# only a comment\n"
    );
}
