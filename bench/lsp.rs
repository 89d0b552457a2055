//! Language server benchmark: `infra lsp` (the real binary, over stdio) on a
//! generated stack of 2,000 resources split over 20 files.
//!
//! `cargo bench --bench lsp` (release). One file is opened; then 1,000
//! one-character edits (a character typed into a string, then deleted
//! again, alternately), each timed from the `didChange` to the diagnostics
//! of that version; then 200 completions (a value's start, which lists the
//! roots, resource types and functions, and `null_resource.`, which lists
//! every resource of the type); then the server's resident memory (`VmRSS`
//! and its peak `VmHWM`, Linux only).
//!
//! Diagnostics are timed twice: with the default debounce (20 ms, which the
//! latency includes) and with `debounceMs = 0` (the check and the
//! publication alone). `-- --debounce-only` skips the second.
//!
//! Without `--bench` (`cargo test --all-targets`), it runs unoptimised as a
//! smoke test on 200 resources and 20 edits. Timings only; nothing is
//! asserted beyond the server answering.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark binary that reports on stdout"
)]

#[path = "../tests/lsp/client.rs"]
#[allow(dead_code, reason = "shared with tests/lsp.rs, which uses more of it")]
mod client;

use client::{Client, uri};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FILES: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let (resources, edits, completions) = if smoke {
        (200, 20, 20)
    } else {
        (2_000, 1_000, 200)
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("lsp-bench-{resources}"));
    generate(&dir, resources);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_infra"));
    println!(
        "infra lsp: {resources} resources over {FILES} files, {edits} one-character edits, {completions} completions{}",
        if smoke {
            " (smoke run, unoptimised)"
        } else {
            ""
        }
    );
    let debounce_only = args.iter().any(|a| a == "--debounce-only");
    run(&binary, &dir, edits, completions, None);
    if !debounce_only {
        run(&binary, &dir, edits, 0, Some(0));
    }
}

/// One session: open, edit, complete, measure memory.
fn run(binary: &Path, dir: &Path, edits: usize, completions: usize, debounce: Option<u64>) {
    let options = match debounce {
        Some(ms) => json!({ "debounceMs": ms }),
        None => Value::Null,
    };
    let mut client = Client::initialized(binary, options);
    let path = dir.join("file00.infra");
    let text = std::fs::read_to_string(&path).unwrap();
    let file = uri(&path);
    let opened = Instant::now();
    client.open(&file, &text);
    client.diagnostics(&file, 1);
    let first = opened.elapsed();

    // The edit point: inside the first string of the file.
    let (line, character) = string_position(&text);
    let mut latencies = Vec::with_capacity(edits);
    let cpu_before = cpu_time(client.pid());
    for i in 0..edits {
        let version = i64::try_from(i).unwrap() + 2;
        let change = if i % 2 == 0 {
            json!({ "range": range(line, character, line, character), "text": "x" })
        } else {
            json!({ "range": range(line, character, line, character + 1), "text": "" })
        };
        let started = Instant::now();
        client.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": file, "version": version }, "contentChanges": [change] }),
        );
        let diagnostics = client.diagnostics(&file, version);
        latencies.push(started.elapsed());
        assert!(
            diagnostics.is_empty(),
            "the generated stack has errors: {diagnostics:?}"
        );
    }
    let label = match debounce {
        Some(ms) => format!("debounce {ms} ms"),
        None => String::from("default debounce"),
    };
    println!("  [{label}] first check after open: {}", ms(first));
    report(
        &format!("  [{label}] diagnostics after a one-character change"),
        &mut latencies,
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_time(client.pid())) {
        // CPU time is what the server spent, whatever else the machine runs.
        let per_edit = (after - before) / u32::try_from(edits.max(1)).unwrap();
        println!(
            "  [{label}] server CPU time per edit (user + system): {}",
            ms(per_edit)
        );
    }

    if completions > 0 {
        let (value_line, value_character) = value_position(&text);
        let mut roots = Vec::new();
        let mut members = Vec::new();
        for i in 0..completions {
            let (position, into) = if i % 2 == 0 {
                (
                    json!({ "line": value_line, "character": value_character }),
                    &mut roots,
                )
            } else {
                (
                    json!({ "line": value_line, "character": value_character + "null_resource.".len() }),
                    &mut members,
                )
            };
            let started = Instant::now();
            let items = client.result(
                "textDocument/completion",
                json!({ "textDocument": { "uri": file }, "position": position }),
            );
            into.push(started.elapsed());
            assert!(
                items.as_array().is_some_and(|a| !a.is_empty()),
                "no completions"
            );
        }
        report(
            "  completion of a value's start (roots, types, functions)",
            &mut roots,
        );
        report(
            "  completion after `null_resource.` (every resource name)",
            &mut members,
        );
        let mut all: Vec<Duration> = roots.iter().chain(&members).copied().collect();
        report("  completion, all", &mut all);
    }
    if let Some((rss, peak)) = memory(client.pid()) {
        println!("  memory after {edits} edits: VmRSS {rss} MB, peak VmHWM {peak} MB");
    }
    assert!(client.shutdown().success());
}

fn range(l1: usize, c1: usize, l2: usize, c2: usize) -> Value {
    json!({ "start": { "line": l1, "character": c1 }, "end": { "line": l2, "character": c2 } })
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    println!(
        "{what}: p50 {}, p95 {}, max {} ({} samples)",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0)),
        samples.len()
    );
}

/// The user + system CPU time a process has used so far (Linux).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in clock ticks of 1/100 s (USER_HZ).
    Some(Duration::from_millis(ticks * 10))
}

/// `VmRSS` and `VmHWM` of a process, in MB (Linux).
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The position just inside the first `"` of the first resource's `name`.
fn string_position(text: &str) -> (usize, usize) {
    let offset = text.find("name  = \"").unwrap() + "name  = \"".len();
    line_column(text, offset)
}

/// The position right after `after  = ` in the second resource: a value's
/// start, followed by `null_resource.`.
fn value_position(text: &str) -> (usize, usize) {
    let (offset, _) = text.match_indices("after  = ").nth(1).unwrap();
    let offset = offset + "after  = ".len();
    line_column(text, offset)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
    (line, column)
}

/// Writes the stack: `FILES` files, each with a variable, a local and its
/// share of `null_resource`s, each referring to the one before it.
fn generate(dir: &Path, resources: usize) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let per_file = resources / FILES;
    let mut previous: Option<String> = None;
    for f in 0..FILES {
        let mut text = format!(
            "# Generated by bench/lsp.rs.\n\nvariable \"prefix_{f:02}\" {{\n  type    = string\n  default = \"p{f}\"\n}}\n\nlocals {{\n  label_{f:02} = \"${{var.prefix_{f:02}}}-{f}\"\n}}\n"
        );
        for r in 0..per_file {
            let name = format!("r{f:02}_{r:03}");
            let after = previous
                .as_deref()
                .map_or_else(|| String::from("null"), |p| format!("null_resource.{p}.id"));
            text.push_str(&format!(
                "\nresource \"null_resource\" \"{name}\" {{\n  inputs = {{\n    name  = \"{name}-${{local.label_{f:02}}}\"\n    after  = {after}\n  }}\n}}\n"
            ));
            previous = Some(name);
        }
        std::fs::write(dir.join(format!("file{f:02}.infra")), text).unwrap();
    }
}
