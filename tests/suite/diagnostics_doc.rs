//! `docs/diagnostics.md` documents every code in the registry and nothing else.
//!
//! Each code has a `## <code>` section holding `### Cause`, `### Fix` and
//! `### Example` sub-sections.

use super::harness;
use infra::diag::Code;
use std::collections::BTreeMap;

/// The sections of the document: code heading → the text under it.
fn sections() -> BTreeMap<String, String> {
    let path = harness::root().join("docs/diagnostics.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            if let Some((code, body)) = current.take() {
                sections.insert(code, body);
            }
            let heading = heading.trim().trim_matches('`').to_owned();
            current = heading
                .starts_with("infra::")
                .then(|| (heading, String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((code, body)) = current.take() {
        sections.insert(code, body);
    }
    sections
}

#[test]
fn every_code_is_documented() {
    let sections = sections();
    let mut problems = Vec::new();
    for code in Code::ALL {
        match sections.get(code.as_str()) {
            None => problems.push(format!("{code}: no `## {code}` section")),
            Some(body) => {
                for part in ["### Cause", "### Fix", "### Example"] {
                    if !body.lines().any(|l| l.trim_end() == part) {
                        problems.push(format!("{code}: no `{part}` sub-section"));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/diagnostics.md is incomplete:\n{}",
        problems.join("\n")
    );
}

#[test]
fn documented_codes_exist() {
    let unknown: Vec<String> = sections()
        .into_keys()
        .filter(|code| Code::from_str_code(code).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/diagnostics.md documents codes that are not in src/diag/code.rs: {unknown:#?}"
    );
}
