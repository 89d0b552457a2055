//! Editor support: the TextMate grammar `grammar/infra.tmLanguage.json`,
//! checked with the engine VS Code itself uses, and the VS Code extension in
//! `editors/vscode/`.
//!
//! - Every `.infra` file in `examples/` and `stdlib/`, and every file of the
//!   corpus, the formatter tests and `tests/grammar/` that the parser
//!   accepts, highlights without a token scoped `invalid` and without visible
//!   text that no rule scoped (`tests/grammar/highlight.cjs`, over
//!   vscode-textmate and vscode-oniguruma).
//! - The assertion files `tests/grammar/*.infra` (`# SYNTAX TEST
//!   "source.infra"` with `# ^^^ scope` lines) pass under npm
//!   `vscode-tmgrammar-test`, and are themselves valid `.infra`.
//! - The extension manifest is valid JSON, points at files that exist, and
//!   ships the same grammar; its script, activated with stand-ins for the VS
//!   Code API, starts `infra lsp` over stdio for `infra` files.
//!
//! The grammar tests need Node.js and `vscode-tmgrammar-test` 0.1.3 in
//! `.ci-tools/` (tests/run.sh installs it with `npm install --prefix
//! .ci-tools`; it runs offline from there). Without them they fail with
//! install instructions, unless `INFRA_SKIP_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use crate::common;

use common::TempDir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The version of `vscode-tmgrammar-test` the tests are written against.
const TMGRAMMAR_TEST_VERSION: &str = "0.1.3";

const INSTALL: &str = "install Node.js (https://nodejs.org, or `sudo apt-get install -y nodejs npm`), \
    then the grammar test runner as tests/run.sh does: \
    `npm install --prefix .ci-tools --no-audit --no-fund vscode-tmgrammar-test@0.1.3`; \
    INFRA_SKIP_SERVICES=1 skips this check";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn skipping() -> bool {
    std::env::var("INFRA_SKIP_SERVICES").is_ok_and(|v| v == "1")
}

/// The `vscode-tmgrammar-test` package folder in `.ci-tools/`.
fn tmgrammar_test() -> PathBuf {
    root().join(".ci-tools/node_modules/vscode-tmgrammar-test")
}

/// Whether node and `vscode-tmgrammar-test` (at the pinned version) are
/// here; when they are not, fails with install instructions, or records a
/// skip and returns false under `INFRA_SKIP_SERVICES=1`.
fn tools(test: &str) -> bool {
    let node = Command::new("node").arg("--version").output();
    let problem = if !node.is_ok_and(|o| o.status.success()) {
        Some("node is not installed".to_owned())
    } else {
        match std::fs::read_to_string(tmgrammar_test().join("package.json")) {
            Err(_) => Some("vscode-tmgrammar-test is not installed in .ci-tools/".to_owned()),
            Ok(text) => {
                let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
                let version = manifest["version"].as_str().unwrap_or("?");
                (version != TMGRAMMAR_TEST_VERSION).then(|| {
                    format!(
                        "vscode-tmgrammar-test {version} is installed in .ci-tools/, \
                         not {TMGRAMMAR_TEST_VERSION}"
                    )
                })
            }
        }
    };
    match problem {
        None => true,
        Some(problem) if skipping() => {
            common::skipped(test, &format!("{problem} (INFRA_SKIP_SERVICES=1)"));
            false
        }
        Some(problem) => panic!("{problem}: {INSTALL}"),
    }
}

/// Runs node with `args` from the repository root.
fn node(args: &[&Path]) -> Output {
    Command::new("node")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Highlights `files` with tests/grammar/highlight.cjs: whether every token
/// was clean, and the problems it listed.
fn highlight(files: &[PathBuf]) -> (bool, String) {
    highlight_with(&root().join("grammar/infra.tmLanguage.json"), files)
}

/// [`highlight`] with another grammar.
fn highlight_with(grammar: &Path, files: &[PathBuf]) -> (bool, String) {
    let script = root().join("tests/grammar/highlight.cjs");
    let mut args: Vec<&Path> = vec![&script];
    args.extend(files.iter().map(PathBuf::as_path));
    let output = Command::new("node")
        .args(args)
        .current_dir(root())
        .env("INFRA_TM_GRAMMAR", grammar)
        .output()
        .unwrap();
    let code = output.status.code();
    // Exit 1 is "problems found"; anything else is the checker failing.
    assert!(
        matches!(code, Some(0 | 1)),
        "highlight.cjs itself failed ({code:?}): {}",
        said(&output)
    );
    (code == Some(0), said(&output))
}

/// The `.infra` files under `dir`, sorted.
fn infra_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = common::files_under(&root().join(dir))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "infra"))
        .collect();
    files.sort();
    files
}

/// Whether the parser accepts `path` (valid UTF-8, no syntax error).
fn parses(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let (_, diagnostics) = infra::syntax::parse(infra::diag::FileId(0), &text);
    !diagnostics.has_errors()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_example_and_stdlib_file_highlights_without_an_invalid_or_unscoped_token() {
    if !tools("every_example_and_stdlib_file_highlights_without_an_invalid_or_unscoped_token") {
        return;
    }
    let examples = infra_files("examples");
    let stdlib = infra_files("stdlib");
    assert!(
        examples
            .iter()
            .any(|p| p.ends_with("examples/shop/main.infra")),
        "no examples found: {examples:?}"
    );
    assert!(!stdlib.is_empty(), "no stdlib modules found");
    // Every other file the parser accepts, too: the corpus covers each
    // construct, the formatter tests odd layouts.
    let mut files: Vec<PathBuf> = examples.into_iter().chain(stdlib).collect();
    let mut valid_elsewhere = 0;
    for dir in ["tests/corpus", "tests/fmt", "tests/grammar"] {
        for file in infra_files(dir) {
            if parses(&file) {
                files.push(file);
                valid_elsewhere += 1;
            }
        }
    }
    assert!(
        valid_elsewhere > 50,
        "only {valid_elsewhere} corpus files parse"
    );
    let (clean, problems) = highlight(&files);
    assert!(
        clean,
        "grammar/infra.tmLanguage.json leaves invalid or unscoped tokens in files the parser \
         accepts:\n{problems}"
    );
}

#[test]
fn the_highlight_check_reports_invalid_and_unscoped_tokens() {
    if !tools("the_highlight_check_reports_invalid_and_unscoped_tokens") {
        return;
    }
    let dir = TempDir::new("editors-invalid");
    let file = dir.write(
        "broken.infra",
        "locals {\n  a = 1 @ 2\n  b = \"bad \\q escape\"\n  c = 1e\n  d = \"%{ x }\"\n}\n}\n",
    );
    assert!(!parses(&file), "the sample must be invalid syntax");
    let (clean, problems) = highlight(&[file]);
    assert!(!clean, "the checker passed a broken file:\n{problems}");
    for expected in [
        "broken.infra:2:9: \"@\" is scoped invalid.illegal.character.infra",
        "broken.infra:3:12: \"\\\\q\" is scoped invalid.illegal.escape.infra",
        "broken.infra:4:7: \"1\" is scoped invalid.illegal.character.infra",
        "broken.infra:5:8: \"%{\" is scoped invalid.illegal.directive.infra",
        "broken.infra:7:1: \"}\" is scoped invalid.illegal.character.infra",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not in:\n{problems}"
        );
    }

    // Text that no rule takes is reported too, also inside a region that
    // only marks structure: this grammar knows nothing but braces.
    let bare = dir.write(
        "bare.tmLanguage.json",
        r#"{"scopeName": "source.infra", "patterns": [
            {"name": "meta.block.infra", "begin": "\\{", "end": "\\}"}
        ]}"#,
    );
    let valid = dir.write("valid.infra", "locals {\n  a = 1\n}\n");
    let (clean, problems) = highlight_with(&bare, &[valid]);
    assert!(!clean, "the checker passed unscoped text:\n{problems}");
    for expected in [
        "valid.infra:1:1: \"locals \" has only structural scopes (source.infra)",
        "valid.infra:2:1: \"  a = 1\" has only structural scopes (source.infra meta.block.infra)",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not in:\n{problems}"
        );
    }
}

#[test]
fn the_grammar_assertion_files_pass_vscode_tmgrammar_test() {
    if !tools("the_grammar_assertion_files_pass_vscode_tmgrammar_test") {
        return;
    }
    let cases = infra_files("tests/grammar");
    assert!(cases.len() >= 6, "assertion files: {cases:?}");
    let runner = tmgrammar_test().join("dist/unit.js");
    let grammar = root().join("grammar/infra.tmLanguage.json");
    let mut args: Vec<&Path> = vec![&runner, Path::new("--compact"), Path::new("--grammar")];
    args.push(&grammar);
    // File names rather than a glob, so that each one is certainly run.
    let names: Vec<PathBuf> = cases.iter().map(|p| PathBuf::from(relative(p))).collect();
    args.extend(names.iter().map(PathBuf::as_path));
    let output = node(&args);
    let said = said(&output);
    assert!(
        output.status.success(),
        "vscode-tmgrammar-test found scopes that differ from tests/grammar/:\n{said}"
    );
    for name in &names {
        let passed = format!("{} run successfuly", name.display());
        assert!(said.contains(&passed), "{passed:?} not in:\n{said}");
    }
}

#[test]
fn the_grammar_assertion_files_are_valid_infra() {
    let cases = infra_files("tests/grammar");
    assert!(!cases.is_empty());
    for case in cases {
        let text = std::fs::read_to_string(&case).unwrap();
        assert!(
            text.starts_with("# SYNTAX TEST \"source.infra\""),
            "{}: the first line must be the SYNTAX TEST header",
            relative(&case)
        );
        let (_, diagnostics) = infra::syntax::parse(infra::diag::FileId(0), &text);
        assert!(
            !diagnostics.has_errors(),
            "{} is not valid syntax: {:?}",
            relative(&case),
            diagnostics.iter().collect::<Vec<_>>()
        );
    }
}

/// Reads a JSON file of the extension.
fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", relative(path)));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", relative(path)))
}

/// A path given in the manifest, which must exist inside the extension folder.
fn existing(extension: &Path, field: &str, value: &serde_json::Value) -> PathBuf {
    let name = value
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {value}"));
    let path = extension.join(name);
    assert!(
        path.is_file(),
        "{field} names {name}, which is not a file in editors/vscode/"
    );
    assert!(
        path.canonicalize()
            .unwrap()
            .starts_with(extension.canonicalize().unwrap()),
        "{field} names {name}, outside editors/vscode/ (a packaged extension holds only its folder)"
    );
    path
}

#[test]
fn the_vscode_manifest_is_valid_json_and_points_at_files_that_exist() {
    let extension = root().join("editors/vscode");
    let manifest = json(&extension.join("package.json"));
    existing(&extension, "main", &manifest["main"]);
    assert!(
        manifest["dependencies"]["vscode-languageclient"].is_string(),
        "the extension needs vscode-languageclient"
    );

    let languages = manifest["contributes"]["languages"].as_array().unwrap();
    let language = languages
        .iter()
        .find(|l| l["id"] == "infra")
        .expect("an `infra` language");
    assert_eq!(language["extensions"], serde_json::json!([".infra"]));
    let configuration = json(&existing(
        &extension,
        "languages[].configuration",
        &language["configuration"],
    ));
    assert_eq!(configuration["comments"]["lineComment"], "#");
    assert_eq!(
        configuration["comments"]["blockComment"],
        serde_json::json!(["/*", "*/"])
    );
    for pair in ["{}", "[]", "()"] {
        let (open, close) = pair.split_at(1);
        assert!(
            configuration["brackets"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!([open, close])),
            "brackets lack {pair}"
        );
        assert!(
            configuration["autoClosingPairs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["open"] == open && p["close"] == close),
            "autoClosingPairs lack {pair}"
        );
    }

    let grammars = manifest["contributes"]["grammars"].as_array().unwrap();
    let grammar = grammars
        .iter()
        .find(|g| g["language"] == "infra")
        .expect("a grammar for `infra`");
    assert_eq!(grammar["scopeName"], "source.infra");
    let shipped = existing(&extension, "grammars[].path", &grammar["path"]);
    assert_eq!(json(&shipped)["scopeName"], "source.infra");
    assert!(
        std::fs::read(&shipped).unwrap()
            == std::fs::read(root().join("grammar/infra.tmLanguage.json")).unwrap(),
        "editors/vscode/{} differs from grammar/infra.tmLanguage.json: copy it over with \
         `cp grammar/infra.tmLanguage.json editors/vscode/syntaxes/`",
        grammar["path"].as_str().unwrap()
    );
}

/// Activates editors/vscode/extension.js with stand-ins for the VS Code API
/// (tests/editors/vscode_activate.cjs) under the settings `settings` (JSON),
/// and returns what it did; None (with a recorded skip) when node is missing
/// under `INFRA_SKIP_SERVICES=1`.
fn activate_extension(test: &str, settings: &str) -> Option<serde_json::Value> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        if skipping() {
            common::skipped(test, "node is not installed (INFRA_SKIP_SERVICES=1)");
            return None;
        }
        panic!("node is not installed: {INSTALL}");
    }
    let output = Command::new("node")
        .arg(root().join("tests/editors/vscode_activate.cjs"))
        .env("INFRA_VSCODE_SETTINGS", settings)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "activating editors/vscode/extension.js failed: {}",
        said(&output)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn the_vscode_extension_starts_infra_lsp_over_stdio_for_infra_files() {
    let Some(seen) = activate_extension(
        "the_vscode_extension_starts_infra_lsp_over_stdio_for_infra_files",
        "{}",
    ) else {
        return;
    };
    let clients = seen["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1, "{seen:#}");
    let client = &clients[0];
    let server = serde_json::json!({"command": "infra", "args": ["lsp"], "transport": "stdio"});
    assert_eq!(client["serverOptions"]["run"], server, "{seen:#}");
    assert_eq!(client["serverOptions"]["debug"], server, "{seen:#}");
    assert_eq!(
        client["clientOptions"]["documentSelector"],
        serde_json::json!([{"scheme": "file", "language": "infra"}])
    );
    assert_eq!(client["started"], true, "{seen:#}");
    assert_eq!(
        client["stopped"], true,
        "deactivate stops the server: {seen:#}"
    );
    assert!(seen.get("error").is_none(), "{seen:#}");

    // Every command the extension registers is declared in its manifest.
    let manifest = json(&root().join("editors/vscode/package.json"));
    let declared: Vec<&serde_json::Value> = manifest["contributes"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["command"])
        .collect();
    for command in seen["commands"].as_array().unwrap() {
        assert!(
            declared.contains(&command),
            "{command} is not in package.json"
        );
    }
}

#[test]
fn the_vscode_extension_runs_the_configured_infra_binary() {
    let Some(seen) = activate_extension(
        "the_vscode_extension_runs_the_configured_infra_binary",
        r#"{"infra.server.path": "/opt/infra/bin/infra", "infra.server.extraArgs": ["--verbose"]}"#,
    ) else {
        return;
    };
    let run = &seen["clients"][0]["serverOptions"]["run"];
    assert_eq!(run["command"], "/opt/infra/bin/infra", "{seen:#}");
    assert_eq!(
        run["args"],
        serde_json::json!(["lsp", "--verbose"]),
        "{seen:#}"
    );

    // The settings it reads are the ones its manifest declares.
    let manifest = json(&root().join("editors/vscode/package.json"));
    let properties = &manifest["contributes"]["configuration"]["properties"];
    for setting in ["infra.server.path", "infra.server.extraArgs"] {
        assert!(
            properties.get(setting).is_some(),
            "{setting} is not declared"
        );
    }
}
