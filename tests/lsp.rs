//! `infra lsp` driven over stdio by a scripted client (`tests/lsp/client.rs`):
//! a whole session over the examples (diagnostics on open and on a change
//! that introduces an error, hover, definition, completion, formatting,
//! the outline, shutdown and exit), definitions across files and into a
//! module, hidden secrets, UTF-16 columns, related spans, bad input, and the
//! replay of typing `examples/shop/main.infra` one character at a time.
//!
//! Every wait is for a message the server must send (a response, or the
//! diagnostics of a given document version); a server that stops answering
//! fails the test after a hang guard of two minutes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "an integration test binary"
)]

#[path = "lsp/client.rs"]
#[allow(dead_code, reason = "shared with bench/lsp.rs, which uses more of it")]
mod client;
use crate::common;

use client::{Client, uri};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_infra"))
}

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
}

/// The LSP position (line, UTF-16 column) of the `nth` occurrence of
/// `needle` in `text`, plus `shift` characters.
fn position(text: &str, needle: &str, nth: usize, shift: usize) -> Value {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no {needle:?} #{nth} in the text"));
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column: usize = text[line_start..offset].chars().map(char::len_utf16).sum();
    json!({ "line": line, "character": column + shift })
}

fn at(uri: &lsp_types::Url, position: Value) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": position })
}

fn hover_text(client: &mut Client, uri: &lsp_types::Url, position: Value) -> String {
    let result = client.result("textDocument/hover", at(uri, position));
    result["contents"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn labels(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a list of completions: {items}"))
        .iter()
        .map(|item| item["label"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn codes(diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_session_over_the_quickstart_example() {
    let path = example("quickstart/main.infra");
    let text = std::fs::read_to_string(&path).unwrap();
    let uri = uri(&path);
    let mut client = Client::initialized(&binary(), Value::Null);

    // Diagnostics on open: the example is clean.
    client.open(&uri, &text);
    assert_eq!(client.diagnostics(&uri, 1), Vec::<Value>::new());

    // A change that introduces an error: the code and the range of the bad name.
    let broken = text.replace("REPLICAS=${var.replicas}", "REPLICAS=${var.replica}");
    client.change(&uri, 2, &broken);
    let diagnostics = client.diagnostics(&uri, 2);
    assert_eq!(codes(&diagnostics), ["infra::check::unknown_reference"]);
    let start = position(&broken, "var.replica}", 0, 0);
    let end = position(&broken, "var.replica}", 0, "var.replica".len());
    assert_eq!(
        diagnostics[0]["range"],
        json!({ "start": start, "end": end })
    );
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `var.replicas`?"),
        "{}",
        diagnostics[0]
    );
    // Fixed again: the diagnostics are cleared.
    client.change(&uri, 3, &text);
    assert_eq!(client.diagnostics(&uri, 3), Vec::<Value>::new());

    // Hover: a variable's type, default and each environment's value.
    let hover = hover_text(&mut client, &uri, position(&text, "var.replicas", 0, 5));
    assert!(
        hover.contains("**variable** `replicas`: `number`"),
        "{hover}"
    );
    assert!(hover.contains("default: `1`"), "{hover}");
    assert!(
        hover.contains("| `dev` | `1` |") && hover.contains("| `prod` | `2` |"),
        "{hover}"
    );
    // A resource type: its schema's attributes.
    let hover = hover_text(&mut client, &uri, position(&text, "\"local_file\"", 0, 2));
    assert!(
        hover.contains("**local_file** (provider `local`)"),
        "{hover}"
    );
    assert!(
        hover.contains("| `path` | `string` | required |"),
        "{hover}"
    );
    // An attribute of a resource: its schema entry.
    let hover = hover_text(&mut client, &uri, position(&text, "content =", 0, 1));
    assert!(
        hover.starts_with("`local_file.content`: `string`"),
        "{hover}"
    );
    // A secret: where it comes from.
    let hover = hover_text(
        &mut client,
        &uri,
        position(&text, "secret.session_key", 0, 8),
    );
    assert!(
        hover.contains("**secret** `session_key` (secret)"),
        "{hover}"
    );
    // A function: its signature.
    let hover = hover_text(&mut client, &uri, position(&text, "length(", 0, 1));
    assert!(hover.contains("length(value)"), "{hover}");

    // Definition: each reference kind in the file.
    let definition = |client: &mut Client, needle: &str, shift: usize| -> Value {
        let result = client.result(
            "textDocument/definition",
            at(&uri, position(&text, needle, 0, shift)),
        );
        result[0]["range"]["start"].clone()
    };
    let line = |needle: &str| position(&text, needle, 0, 0);
    assert_eq!(
        definition(&mut client, "var.greeting", 5),
        line("variable \"greeting\"")
    );
    assert_eq!(
        definition(&mut client, "local.services", 7),
        line("services =")
    );
    assert_eq!(
        definition(&mut client, "secret.session_key", 8),
        line("secret \"session_key\"")
    );
    assert_eq!(
        definition(&mut client, "local_file.service_env :", 12),
        line("resource \"local_file\" \"service_env\"")
    );
    assert_eq!(definition(&mut client, "each.key", 1), line("for_each ="));
    let environments = client.result(
        "textDocument/definition",
        at(&uri, position(&text, "env.name", 0, 5)),
    );
    assert_eq!(
        environments.as_array().map(Vec::len),
        Some(2),
        "{environments}"
    );

    // Completion: attribute names from the schema, required first.
    let typing = text.replace("  path    = \"out/${env.name}/session.key\"\n", "  pa\n");
    client.change(&uri, 4, &typing);
    let items = client.result(
        "textDocument/completion",
        at(&uri, position(&typing, "  pa\n", 0, 4)),
    );
    let mut fields: Vec<(String, String)> = items
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == 5)
        .map(|i| {
            (
                i["sortText"].as_str().unwrap().to_owned(),
                i["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    fields.sort();
    let names: Vec<&str> = fields.iter().map(|(_, label)| label.as_str()).collect();
    assert_eq!(names.first(), Some(&"path"), "{names:?}");
    assert!(
        names.contains(&"content") && names.contains(&"permissions"),
        "{names:?}"
    );
    assert!(
        labels(&items).contains(&String::from("for_each")),
        "meta-arguments too"
    );
    // Reference roots and their members.
    let typing = text.replace("REPLICAS=${var.replicas}", "REPLICAS=${var.}");
    client.change(&uri, 5, &typing);
    let items = client.result(
        "textDocument/completion",
        at(&uri, position(&typing, "${var.}", 0, 6)),
    );
    assert_eq!(labels(&items), ["greeting", "replicas"]);
    let items = client.result(
        "textDocument/completion",
        at(&uri, position(&typing, "for_each = ", 0, 11)),
    );
    let roots = labels(&items);
    for expected in [
        "var",
        "local",
        "secret",
        "env",
        "each",
        "local_file",
        "join",
        "templatefile",
    ] {
        assert!(
            roots.contains(&expected.to_owned()),
            "{expected} in {roots:?}"
        );
    }
    let join = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "join")
        .unwrap();
    assert_eq!(join["detail"], "join(separator, list)");
    // Block kinds at the top level; environment names where one is picked.
    let items = client.result(
        "textDocument/completion",
        at(&uri, json!({ "line": 2, "character": 0 })),
    );
    assert!(
        labels(&items).contains(&String::from("resource")),
        "{items}"
    );
    let items = client.result(
        "textDocument/completion",
        at(&uri, position(&typing, "\"dev\"", 0, 1)),
    );
    assert_eq!(labels(&items), ["dev", "prod"]);

    // Formatting: through the formatter of `infra fmt`.
    let messy = text.replace("  default = 1\n", "  default =    1\n");
    client.change(&uri, 6, &messy);
    let edits = client.result("textDocument/formatting", json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }));
    assert_eq!(edits[0]["newText"], text.as_str());
    client.change(&uri, 7, &text);
    let edits = client.result("textDocument/formatting", json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }));
    assert_eq!(edits, json!([]));

    // The outline.
    let symbols = client.result(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri } }),
    );
    let names = labels_of_symbols(&symbols);
    assert_eq!(
        names,
        [
            "quickstart",
            "greeting",
            "replicas",
            "dev",
            "prod",
            "session_key",
            "locals",
            "local_file.service_env",
            "local_file.session",
            "env_files"
        ]
    );
    assert_eq!(symbols[6]["children"][0]["name"], "services");

    // An unknown method gets MethodNotFound, and the session goes on.
    let response = client.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": uri } }),
    );
    assert_eq!(response["error"]["code"], -32601, "{response}");

    let status = client.shutdown();
    assert!(status.success(), "{status}");
}

fn labels_of_symbols(symbols: &Value) -> Vec<String> {
    symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A stack over three files, and a local module.
fn multi_file_stack() -> common::TempDir {
    let dir = common::TempDir::new("lsp-stack");
    dir.write(
        "main.infra",
        "module \"web\" {\n  source = \"./modules/web\"\n  port   = var.port\n}\n\noutput \"url\" {\n  value = module.web.url\n}\n",
    );
    dir.write(
        "variables.infra",
        "variable \"port\" {\n  type    = number\n  default = 8080\n}\n",
    );
    dir.write(
        "modules/web/main.infra",
        "variable \"port\" {\n  type        = number\n  description = \"The port to listen on.\"\n}\n\noutput \"url\" {\n  value = \"http://localhost:${var.port}\"\n}\n",
    );
    dir
}

#[test]
fn a_module_instance_output_goes_to_the_modules_output() {
    let dir = multi_file_stack();
    let main = dir.path.join("main.infra");
    let text = "module \"web\" {\n  for_each = { a = 8080 }\n  source   = \"./modules/web\"\n  port     = each.value\n}\n\noutput \"url\" {\n  value = module.web[\"a\"].url\n}\n";
    std::fs::write(&main, text).unwrap();
    let main_uri = uri(&main);
    let mut client = Client::initialized(&binary(), Value::Null);
    client.open(&main_uri, text);
    assert_eq!(client.diagnostics(&main_uri, 1), Vec::<Value>::new());
    let found = client.result(
        "textDocument/definition",
        at(&main_uri, position(text, "module.web[\"a\"].url", 0, 17)),
    );
    assert_eq!(
        found[0]["uri"],
        uri(&dir.path.join("modules/web/main.infra")).as_str()
    );
    assert_eq!(
        found[0]["range"]["start"],
        json!({ "line": 5, "character": 0 })
    );
    assert!(client.shutdown().success());
}

#[test]
fn definitions_reach_across_files_and_into_modules() {
    let dir = multi_file_stack();
    let main = dir.path.join("main.infra");
    let text = std::fs::read_to_string(&main).unwrap();
    let main_uri = uri(&main);
    let mut client = Client::initialized(&binary(), Value::Null);
    client.open(&main_uri, &text);
    assert_eq!(client.diagnostics(&main_uri, 1), Vec::<Value>::new());

    let definition = |client: &mut Client, needle: &str, shift: usize| -> Value {
        client.result(
            "textDocument/definition",
            at(&main_uri, position(&text, needle, 0, shift)),
        )
    };
    // `var.port` is in another file of the stack.
    let found = definition(&mut client, "var.port", 5);
    assert_eq!(
        found[0]["uri"],
        uri(&dir.path.join("variables.infra")).as_str()
    );
    assert_eq!(
        found[0]["range"]["start"],
        json!({ "line": 0, "character": 0 })
    );
    // `module.web.url` is the module's output.
    let module_file = uri(&dir.path.join("modules/web/main.infra"));
    let found = definition(&mut client, "module.web.url", 12);
    assert_eq!(found[0]["uri"], module_file.as_str());
    assert_eq!(
        found[0]["range"]["start"],
        json!({ "line": 5, "character": 0 })
    );
    // `module.web` is the module block; an input is the child's variable;
    // `source` is the child's first file.
    let found = definition(&mut client, "module.web.url", 8);
    assert_eq!(
        found[0]["range"]["start"],
        json!({ "line": 0, "character": 0 })
    );
    assert_eq!(found[0]["uri"], main_uri.as_str());
    let found = definition(&mut client, "port   =", 1);
    assert_eq!(found[0]["uri"], module_file.as_str());
    let found = definition(&mut client, "./modules/web", 3);
    assert_eq!(found[0]["uri"], module_file.as_str());
    // Hover on the input shows the child's variable.
    let hover = hover_text(&mut client, &main_uri, position(&text, "port   =", 0, 1));
    assert!(hover.contains("The port to listen on."), "{hover}");
    // Completion after `module.web.`.
    let typing = text.replace("module.web.url", "module.web.");
    client.change(&main_uri, 2, &typing);
    let items = client.result(
        "textDocument/completion",
        at(&main_uri, position(&typing, "module.web.", 0, 11)),
    );
    assert_eq!(labels(&items), ["url"]);
    assert!(client.shutdown().success());
}

#[test]
fn an_error_in_a_file_that_is_not_open_is_published_for_it_with_related_spans() {
    let dir = multi_file_stack();
    let main = dir.path.join("main.infra");
    let variables = dir.path.join("variables.infra");
    let text = std::fs::read_to_string(&main).unwrap();
    let mut client = Client::initialized(&binary(), Value::Null);
    let main_uri = uri(&main);
    client.open(&main_uri, &text);
    client.diagnostics(&main_uri, 1);
    // A second `variable "port"`, typed into main.infra: files are checked
    // in name order, so the duplicate is the one in variables.infra, which is
    // not open; its diagnostics are published without a version, and the
    // first definition, in main.infra, is related information.
    let duplicated = format!("{text}\nvariable \"port\" {{}}\n");
    client.change(&main_uri, 2, &duplicated);
    assert_eq!(client.diagnostics(&main_uri, 2), Vec::<Value>::new());
    let published = client.next_diagnostics(&uri(&variables));
    assert_eq!(published["version"], Value::Null);
    let diagnostics = published["diagnostics"].as_array().unwrap();
    assert_eq!(
        codes(diagnostics),
        ["infra::check::duplicate_block"],
        "{diagnostics:?}"
    );
    let related = &diagnostics[0]["relatedInformation"][0];
    assert_eq!(
        related["location"]["uri"],
        main_uri.as_str(),
        "{diagnostics:?}"
    );
    assert_eq!(
        related["location"]["range"]["start"],
        position(&duplicated, "variable \"port\"", 0, 0)
    );
    assert!(client.shutdown().success());
}

#[test]
fn ranges_count_utf16_columns() {
    let dir = common::TempDir::new("lsp-utf16");
    // "é" is one UTF-16 unit and two bytes; "😀" is two units and four bytes.
    let text = "locals {\n  a = { \"é😀\" = var.nope }\n}\n";
    let main = dir.write("main.infra", text);
    let main_uri = uri(&main);
    let mut client = Client::initialized(&binary(), Value::Null);
    client.open(&main_uri, text);
    let diagnostics = client.diagnostics(&main_uri, 1);
    assert_eq!(codes(&diagnostics), ["infra::check::unknown_reference"]);
    let column = "  a = { \"é😀\" = ".encode_utf16().count();
    assert_eq!(
        diagnostics[0]["range"],
        json!({ "start": { "line": 1, "character": column }, "end": { "line": 1, "character": column + "var.nope".len() } })
    );
    // A hover at a UTF-16 position past the emoji finds the reference.
    let hover = client.request(
        "textDocument/hover",
        at(&main_uri, json!({ "line": 1, "character": column + 2 })),
    );
    assert!(hover.get("result").is_some(), "{hover}");
    assert!(client.shutdown().success());
}

#[test]
fn stack_settings_complete_and_hover_with_what_they_do() {
    let dir = common::TempDir::new("lsp-stack-settings");
    let text = "stack \"s\" {\n  history = { keep = 200 }\n}\n";
    let main = dir.write("main.infra", text);
    let main_uri = uri(&main);
    let mut client = Client::initialized(&binary(), Value::Null);
    client.open(&main_uri, text);
    assert_eq!(client.diagnostics(&main_uri, 1), Vec::<Value>::new());
    let hover = hover_text(&mut client, &main_uri, position(text, "history", 0, 2));
    assert!(hover.contains("**history** (stack setting)"), "{hover}");
    assert!(hover.contains("keep = 200"), "{hover}");
    let typing = "stack \"s\" {\n  hi\n}\n";
    client.change(&main_uri, 2, typing);
    let items = client.result(
        "textDocument/completion",
        at(&main_uri, position(typing, "  hi\n", 0, 4)),
    );
    assert!(labels(&items).contains(&String::from("history")), "{items}");
    assert!(client.shutdown().success());
}

#[test]
fn secret_values_never_show_on_hover() {
    let dir = common::TempDir::new("lsp-secrets");
    let text = "variable \"token\" {\n  type      = string\n  default   = \"hunter2-default\"\n  sensitive = true\n}\n\nenvironment \"prod\" {\n  vars = { token = \"hunter2-prod\" }\n}\n\nsecret \"key\" {\n  env = \"LSP_TEST_SECRET\"\n}\n\nlocals {\n  a = var.token\n  b = secret.key\n}\n";
    let main = dir.write("main.infra", text);
    let main_uri = uri(&main);
    let mut client = Client::start(&binary(), &[("LSP_TEST_SECRET", "hunter2-env")]);
    client.result("initialize", json!({ "capabilities": {} }));
    client.open(&main_uri, text);
    client.diagnostics(&main_uri, 1);
    for (needle, shift) in [
        ("var.token", 5),
        ("secret.key", 8),
        ("\"token\"", 2),
        ("\"key\"", 2),
    ] {
        let hover = hover_text(&mut client, &main_uri, position(text, needle, 0, shift));
        assert!(hover.contains("(secret)"), "{needle}: {hover}");
        assert!(!hover.contains("hunter2"), "{needle}: {hover}");
    }
    assert!(client.shutdown().success());
}

#[test]
fn bad_input_gets_protocol_errors_and_the_server_goes_on() {
    let mut client = Client::start(&binary(), &[]);
    // Before initialize: ServerNotInitialized.
    let response = client.request("textDocument/hover", json!({}));
    assert_eq!(response["error"]["code"], -32002, "{response}");
    client.result("initialize", json!({ "capabilities": {} }));
    // Unknown methods: MethodNotFound.
    let response = client.request("workspace/frobnicate", json!({}));
    assert_eq!(response["error"]["code"], -32601, "{response}");
    // Params of the wrong shape: InvalidParams.
    let response = client.request("textDocument/hover", json!({ "textDocument": 7 }));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    // A body that is not JSON is skipped.
    client.send_raw(b"Content-Length: 9\r\n\r\nnot json!");
    // Documents nobody opened, positions past the end, a change to an
    // unopened document, a non-file URI.
    let nowhere = uri(Path::new("/nonexistent/main.infra"));
    client.change(&nowhere, 2, "x");
    let hover = client.request(
        "textDocument/hover",
        at(&nowhere, json!({ "line": 99, "character": 99 })),
    );
    assert_eq!(hover["result"], Value::Null, "{hover}");
    let dir = common::TempDir::new("lsp-bad");
    let main = dir.write("main.infra", "locals {\n  a = 1\n}\n");
    let main_uri = uri(&main);
    client.open(&main_uri, "locals {\n  a = 1\n}\n");
    client.diagnostics(&main_uri, 1);
    for request in [
        "textDocument/hover",
        "textDocument/definition",
        "textDocument/completion",
    ] {
        let response = client.request(
            request,
            at(&main_uri, json!({ "line": 4000, "character": 4000 })),
        );
        assert!(response.get("result").is_some(), "{request}: {response}");
    }
    let untitled: lsp_types::Url = "untitled:Untitled-1".parse().unwrap();
    client.open(&untitled, "locals {\na=1\n}\n");
    let edits = client.result("textDocument/formatting", json!({ "textDocument": { "uri": untitled }, "options": { "tabSize": 2, "insertSpaces": true } }));
    assert_eq!(edits[0]["newText"], "locals {\n  a = 1\n}\n");
    // A file with syntax errors is not formatted.
    client.change(&main_uri, 2, "locals {\n  a = \n");
    let edits = client.result("textDocument/formatting", json!({ "textDocument": { "uri": main_uri }, "options": { "tabSize": 2, "insertSpaces": true } }));
    assert_eq!(edits, Value::Null);
    // Still answering.
    assert!(client.shutdown().success());
}

#[test]
fn exit_without_shutdown_exits_with_1() {
    let mut client = Client::initialized(&binary(), Value::Null);
    client.notify("exit", Value::Null);
    let status = client.wait();
    assert_eq!(status.code(), Some(1));
}

/// Types `examples/shop/main.infra` into an empty document one character
/// at a time, as ranged `didChange`s, and waits after each for the
/// diagnostics of that version: the whole file (about 1,900 keystrokes).
#[test]
fn typing_the_shop_example_one_character_at_a_time_never_crashes_or_hangs() {
    let path = example("shop/main.infra");
    let text = std::fs::read_to_string(&path).unwrap();
    // A copy, so the stack is this one file whatever lies next to it.
    let dir = common::TempDir::new("lsp-replay");
    let main = dir.write("main.infra", "");
    let main_uri = uri(&main);
    let mut client = Client::initialized(&binary(), json!({ "debounceMs": 0 }));
    client.open(&main_uri, "");
    client.diagnostics(&main_uri, 1);
    let (mut line, mut character) = (0u32, 0u32);
    let mut version = 1;
    for c in text.chars() {
        version += 1;
        client.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": main_uri, "version": version },
                "contentChanges": [{
                    "range": { "start": { "line": line, "character": character }, "end": { "line": line, "character": character } },
                    "text": c.to_string()
                }]
            }),
        );
        client.diagnostics(&main_uri, version);
        if c == '\n' {
            line += 1;
            character = 0;
        } else {
            character += u32::try_from(c.len_utf16()).unwrap();
        }
    }
    // The document is the whole file now: the server reports what the CLI
    // reports for it (the example needs providers not built yet).
    let symbols = client.result(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": main_uri } }),
    );
    assert_eq!(symbols.as_array().map(Vec::len), Some(14), "{symbols}");
    assert!(client.shutdown().success());
}

/// `count`, `self` (in a resource and in a service), an attribute past an
/// index, a data source and a service, over the corpus case of their valid
/// uses.
#[test]
fn every_other_reference_kind_goes_to_its_definition() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/check/each_count_self_valid.infra");
    let text = std::fs::read_to_string(corpus).unwrap()
        + "\ndata \"http\" \"ip\" {\n  url = \"https://example.test/ip\"\n}\n\noutput \"ip\" {\n  value = data.http.ip.body\n}\n\noutput \"web\" {\n  value = service.web.port\n}\n";
    let dir = common::TempDir::new("lsp-kinds");
    let main = dir.write("main.infra", &text);
    let main_uri = uri(&main);
    let mut client = Client::initialized(&binary(), Value::Null);
    client.open(&main_uri, &text);
    assert_eq!(client.diagnostics(&main_uri, 1), Vec::<Value>::new());
    let mut definition = |needle: &str, shift: usize| -> Value {
        let found = client.result(
            "textDocument/definition",
            at(&main_uri, position(&text, needle, 0, shift)),
        );
        assert_eq!(found[0]["uri"], main_uri.as_str(), "{needle}: {found}");
        found[0]["range"]["start"].clone()
    };
    let start = |needle: &str| position(&text, needle, 0, 0);
    assert_eq!(definition("count.index", 7), start("count    = 3"));
    assert_eq!(
        definition("self.path", 6),
        start("path    = \"out/self.txt\"")
    );
    assert_eq!(definition("self.port", 6), start("port = 8080"));
    assert_eq!(
        definition("numbered[1].triggers", 13),
        start("triggers = { index = count.index }")
    );
    assert_eq!(
        definition("data.http.ip.body", 11),
        start("data \"http\" \"ip\"")
    );
    assert_eq!(definition("service.web.port", 9), start("service \"web\""));
    assert!(client.shutdown().success());
}

/// Changes that arrive together are checked once: with a debounce longer
/// than the test, five changes then a hover (which checks a dirty stack
/// first) give one publication, for the last version.
#[test]
fn changes_that_arrive_together_are_checked_once() {
    let dir = common::TempDir::new("lsp-debounce");
    let main = dir.write("main.infra", "locals {\n  a = 1\n}\n");
    let main_uri = uri(&main);
    let mut client = Client::initialized(&binary(), json!({ "debounceMs": 60000 }));
    client.open(&main_uri, "locals {\n  a = 1\n}\n");
    // Opening is a change too: the hover checks it.
    client.result(
        "textDocument/hover",
        at(&main_uri, json!({ "line": 1, "character": 2 })),
    );
    assert_eq!(client.diagnostics(&main_uri, 1), Vec::<Value>::new());
    let mut batch = Vec::new();
    for version in 2..=6 {
        let text = format!("locals {{\n  a = var.v{version}\n}}\n");
        let body = json!({
            "jsonrpc": "2.0",
            "method": "textDocument/didChange",
            "params": { "textDocument": { "uri": main_uri, "version": version }, "contentChanges": [{ "text": text }] }
        })
        .to_string();
        batch.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }
    client.send_raw(&batch);
    client.result(
        "textDocument/hover",
        at(&main_uri, json!({ "line": 1, "character": 2 })),
    );
    let published = client.next_diagnostics(&main_uri);
    assert_eq!(published["version"], 6, "{published}");
    let message = published["diagnostics"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("no variable `v6`"), "{published}");
    assert!(client.shutdown().success());
}
