//! What the policies said, in each plan view: lines under a resource and a
//! "Policy" section for the human plan, `policy_results` for the JSON plan,
//! a table for the markdown comment (denials first).
//!
//! Invariant: pure functions; messages come from policies that never saw a
//! secret value.

use crate::plan::{PolicyResults, Violation};
use std::fmt::Write as _;

/// How many violations the markdown table lists before it counts the rest.
const MARKDOWN_ROWS: usize = 50;

/// `file:line`.
fn location(violation: &Violation) -> String {
    format!("{}:{}", violation.file, violation.line)
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The counts line: `Policy: 3 policies checked, 1 denial, 2 warnings.`
fn counts(results: &PolicyResults) -> String {
    format!(
        "{} checked, {}, {}",
        plural(results.policies.len(), "policy", "policies"),
        plural(results.denials().count(), "denial", "denials"),
        plural(results.warnings().count(), "warning", "warnings"),
    )
}

/// The line under a resource of the human plan for one violation.
pub fn under_resource(violation: &Violation) -> String {
    let severity = violation
        .severity
        .as_ref()
        .map_or_else(String::new, |s| format!(", severity {s}"));
    format!(
        "policy {} ({}): {} [{}{severity}]",
        violation.enforcement.as_str(),
        violation.policy,
        violation.message,
        location(violation)
    )
}

/// The "Policy" section of the human plan (after the impact analysis).
pub fn human_section(results: &PolicyResults) -> Vec<String> {
    let mut lines = vec![format!("Policy: {}.", counts(results))];
    for violation in &results.violations {
        let mark = match violation.enforcement {
            crate::plan::Enforcement::Deny => "deny",
            crate::plan::Enforcement::Warn => "warn",
        };
        lines.push(format!(
            "  {mark}  {}: {}",
            violation.policy, violation.message
        ));
        let mut at = Vec::new();
        if let Some(address) = &violation.address {
            at.push(address.clone());
        }
        at.push(location(violation));
        if let Some(severity) = &violation.severity {
            at.push(format!("severity {severity}"));
        }
        lines.push(format!("        {}", at.join(" · ")));
    }
    let denied = results.denials().count();
    if results.blocks() {
        lines.push(format!(
            "Denied by policy: this plan cannot be applied ({}).",
            plural(denied, "denial", "denials")
        ));
    } else if denied > 0 {
        lines.push(String::from(
            "Denials are reported only (--policy-warn-only): apply would go on.",
        ));
    } else {
        lines.push(String::from("No policy denies this plan."));
    }
    lines
}

/// `policy_results` of the JSON plan (see `docs/json-plan.md`).
pub fn json(results: &PolicyResults) -> serde_json::Value {
    serde_json::json!({
        "passed": !results.blocks(),
        "warn_only": results.warn_only,
        "denials": results.denials().count(),
        "warnings": results.warnings().count(),
        "policies": results.policies.iter().map(|p| serde_json::json!({
            "name": p.name,
            "files": p.files,
        })).collect::<Vec<_>>(),
        "violations": results.violations.iter().map(|v| serde_json::json!({
            "enforcement": v.enforcement.as_str(),
            "policy": v.policy,
            "message": v.message,
            "address": v.address,
            "severity": v.severity,
            "file": v.file,
            "line": v.line,
        })).collect::<Vec<_>>(),
    })
}

/// A table cell: escaped, one line, no pipe that would end the cell.
fn cell(text: &str) -> String {
    super::plan::html_escape(text)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// The policy table at the top of the markdown comment, denials first.
pub fn markdown(results: &PolicyResults) -> String {
    let mut out = String::from("### Policy\n\n");
    if results.violations.is_empty() {
        let _ = writeln!(out, "**{}**: all passed.\n", counts(results));
        return out;
    }
    if results.blocks() {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> **Denied by policy**: this plan cannot be applied ({}).\n",
            counts(results)
        );
    } else {
        let _ = writeln!(out, "**{}**\n", counts(results));
    }
    out.push_str("| | Policy | Resource | Message | Rule |\n|---|---|---|---|---|\n");
    for violation in results.violations.iter().take(MARKDOWN_ROWS) {
        let mark = match violation.enforcement {
            crate::plan::Enforcement::Deny => "❌ deny",
            crate::plan::Enforcement::Warn => "⚠️ warn",
        };
        let _ = writeln!(
            out,
            "| {mark} | {} | {} | {}{} | {} |",
            super::plan::code(&violation.policy),
            violation
                .address
                .as_deref()
                .map_or_else(String::new, super::plan::code),
            cell(&violation.message),
            violation
                .severity
                .as_deref()
                .map_or_else(String::new, |s| format!(" (severity {})", cell(s))),
            super::plan::code(&location(violation)),
        );
    }
    if results.violations.len() > MARKDOWN_ROWS {
        let _ = writeln!(
            out,
            "\n… {} more (see `infra plan`)",
            results.violations.len() - MARKDOWN_ROWS
        );
    }
    if results.warn_only && results.denials().next().is_some() {
        out.push_str("\nDenials are reported only (`--policy-warn-only`).\n");
    }
    out.push('\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plan::{Enforcement, PolicyChecked};

    fn results() -> PolicyResults {
        PolicyResults {
            policies: vec![PolicyChecked {
                name: String::from("files"),
                files: vec![String::from("policy/files.rego")],
            }],
            violations: vec![Violation {
                enforcement: Enforcement::Deny,
                policy: String::from("files"),
                message: String::from("a | b\nc <d>"),
                address: Some(String::from("local_file.a")),
                severity: Some(String::from("high")),
                file: String::from("policy/files.rego"),
                line: 5,
            }],
            warn_only: false,
        }
    }

    /// The field names in `docs/json-plan.md`'s table under `heading`.
    fn documented(heading: &str) -> Vec<String> {
        let doc = include_str!("../../docs/json-plan.md");
        let mut fields = Vec::new();
        let mut inside = false;
        for line in doc.lines() {
            if line.starts_with('#') {
                inside = line.trim_start_matches('#').trim() == heading;
                continue;
            }
            if inside && let Some(rest) = line.strip_prefix("| `") {
                fields.push(rest.split('`').next().unwrap_or_default().to_owned());
            }
        }
        assert!(!fields.is_empty(), "no fields documented under {heading}");
        fields
    }

    #[test]
    fn every_documented_policy_field_is_in_the_json() {
        let json = json(&results());
        for field in documented("Policy results fields") {
            assert!(json.get(&field).is_some(), "{field} missing from {json}");
        }
        for field in documented("Violation fields") {
            assert!(
                json["violations"][0].get(&field).is_some(),
                "{field} missing from {json}"
            );
        }
    }

    #[test]
    fn a_markdown_cell_stays_one_cell() {
        let table = markdown(&results());
        assert!(
            table.contains("| a \\| b c &lt;d&gt; (severity high) |"),
            "{table}"
        );
    }
}
