//! Parity with Terraform, measured: every expression of
//! `tests/parity/exprs.txt` is evaluated by infra, as the value of an output
//! of a generated stack planned on an in-memory host, and compared with the
//! value Terraform 1.15.5 gave for it (`tests/parity/expected.json`, recorded
//! by `tests/parity/regenerate.sh`, so this test needs no Terraform).
//!
//! - Expressions Terraform rejects (`tests/parity/terraform_rejected.txt`)
//!   are not compared; the test prints whether infra accepts them.
//! - Every difference must be listed with its reason in
//!   `tests/parity/known_differences.txt`; an unlisted difference fails, and
//!   so does a listed one that no longer differs (the list stays true).
//! - The figure (matching / compared) is printed; run with `--nocapture`.
//!
//! Numbers compare by value (Terraform writes `2e100` as 101 digits). An
//! expression Terraform accepted but recorded no value for is `null`:
//! `terraform output -json` leaves null outputs out.
//!
//! Invariant: goes through `pipeline::plan` only, as `infra plan` does.

use infra::host::MemoryHost;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn parity_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/parity")
}

fn read(name: &str) -> String {
    let path = parity_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `NAME|EXPR` lines, comments skipped, in file order.
fn expressions() -> Vec<(String, String)> {
    read("exprs.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains('|'))
        .filter_map(|line| line.split_once('|'))
        .map(|(name, expr)| (name.to_owned(), expr.to_owned()))
        .collect()
}

/// `NAME: reason` lines.
fn known_differences() -> BTreeMap<String, String> {
    read("known_differences.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, reason)| (name.trim().to_owned(), reason.trim().to_owned()))
        .collect()
}

/// The files of `tests/parity/files`, under `parity/files` on the host.
fn with_fixture_files(mut host: MemoryHost) -> MemoryHost {
    let root = parity_dir().join("files");
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(&root) {
                let bytes = std::fs::read(&path).unwrap_or_default();
                host = host.with_file(Path::new("parity/files").join(relative), bytes);
            }
        }
    }
    host
}

/// infra's value of `expr`, as JSON, or the codes of its diagnostics.
fn infra_value(expr: &str) -> Result<Json, String> {
    let expr = expr.replace("@FILES@", "files");
    let source = format!(
        "stack \"parity\" {{\n  default_environment = \"dev\"\n}}\n\nenvironment \"dev\" {{}}\n\noutput \"v\" {{\n  value = {expr}\n}}\n"
    );
    let host = with_fixture_files(MemoryHost::new().with_file("parity/main.infra", source));
    let (plan, _, diagnostics) = infra::pipeline::plan(
        Arc::new(host),
        Path::new("parity"),
        infra::pipeline::PlanRequest::default(),
    );
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == infra::diag::Severity::Error)
        .map(|d| {
            let label = d.primary.as_ref().map_or("", |l| l.text.as_str());
            format!("{}: {label}", d.code.as_str())
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    let plan = plan.ok_or_else(|| String::from("no plan"))?;
    let output = plan
        .output_changes
        .iter()
        .find(|o| o.name == "v")
        .and_then(|o| o.after.as_ref())
        .ok_or_else(|| String::from("no output value"))?;
    Ok(output.to_json_revealed())
}

/// JSON equality with numbers compared by value.
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
#[expect(
    clippy::print_stdout,
    reason = "the parity figure is the report of this test (`--nocapture`)"
)]
fn infra_gives_terraforms_values_except_the_listed_differences() {
    let expected: BTreeMap<String, Json> = serde_json::from_str(&read("expected.json"))
        .unwrap_or_else(|e| panic!("tests/parity/expected.json: {e}"));
    let rejected: Vec<String> = read("terraform_rejected.txt")
        .lines()
        .map(str::to_owned)
        .collect();
    let known = known_differences();
    let expressions = expressions();

    let mut matching = 0;
    let mut compared = 0;
    let mut unexpected = Vec::new();
    let mut differing = Vec::new();
    let mut infra_only = Vec::new();
    for (name, expr) in &expressions {
        let ours = infra_value(expr);
        if rejected.contains(name) {
            infra_only.push(format!(
                "{name} ({})",
                if ours.is_ok() {
                    "infra accepts"
                } else {
                    "infra rejects too"
                }
            ));
            continue;
        }
        // `terraform output -json` leaves out outputs whose value is null.
        let theirs = expected.get(name).unwrap_or(&Json::Null);
        compared += 1;
        let agrees = ours.as_ref().is_ok_and(|v| same(v, theirs));
        if agrees {
            matching += 1;
            if known.contains_key(name) {
                unexpected.push(format!(
                    "{name}: listed as a known difference but now matches; take it off the list"
                ));
            }
            continue;
        }
        differing.push(name.clone());
        if !known.contains_key(name) {
            let ours = match &ours {
                Ok(v) => v.to_string(),
                Err(e) => format!("error {e}"),
            };
            unexpected.push(format!(
                "{name}: `{expr}`\n    infra:     {ours}\n    terraform: {theirs}"
            ));
        }
    }
    for name in known.keys() {
        if !expressions.iter().any(|(n, _)| n == name) {
            unexpected.push(format!("{name}: a known difference with no expression"));
        }
    }
    println!(
        "parity with Terraform 1.15.5: {matching}/{compared} expressions give the same value \
         ({} known differences: {}); Terraform rejects {} that infra was asked: {}",
        differing.len(),
        differing.join(", "),
        infra_only.len(),
        infra_only.join(", ")
    );
    assert!(
        unexpected.is_empty(),
        "parity problems (list real differences in tests/parity/known_differences.txt with a reason):\n{}",
        unexpected.join("\n")
    );
}
