//! Drift reports as text: the terminal view ([`human`]), the documented JSON
//! form ([`json`], see `docs/json-drift.md`) and an issue body ([`markdown`]),
//! for `infra drift` and `infra refresh`.
//!
//! Terminology: as in `pipeline::drift`: an instance *changed outside infra*
//! has attributes that differ from the state; one *deleted outside infra* is
//! gone.
//!
//! Invariant: pure functions, no I/O. Secret values are never written: the
//! human and markdown forms print `(secret)`, the JSON form `null` with `true`
//! in the matching `*_sensitive` mask (the same attribute objects as a plan's
//! `resource_drift`).

use super::plan::{
    MARKDOWN_LIMIT, attribute_lines, code, diff_block, drift_json, drift_lines, html_escape,
    multiline,
};
use crate::lang::Value;
use crate::pipeline::DriftReport;
use crate::plan::DriftKind;
use std::fmt::Write as _;

/// The line a report without drift ends with.
pub const IN_SYNC: &str = "No drift. Every object matches the state.";

/// The version of the JSON form.
pub const FORMAT_VERSION: &str = "1.0";

/// The most characters a value takes in a markdown table cell.
const CELL_LIMIT: usize = 200;

/// `Drift: 1 changed, 2 deleted outside infra (5 objects checked).`, or
/// [`IN_SYNC`] with the count.
pub fn summary_line(report: &DriftReport) -> String {
    let objects = plural(report.checked, "object", "objects");
    if report.in_sync() {
        return format!(
            "{} ({objects} checked{}).",
            IN_SYNC.trim_end_matches('.'),
            version(report)
        );
    }
    format!(
        "Drift: {} changed, {} deleted outside infra ({objects} checked{}).",
        report.changed(),
        report.deleted(),
        version(report)
    )
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn version(report: &DriftReport) -> String {
    report
        .prior
        .as_ref()
        .map_or_else(String::new, |p| format!(", state version {}", p.serial))
}

/// `--env E`, for the commands a report suggests.
fn env_flag(report: &DriftReport) -> String {
    format!("--env {}", report.environment)
}

/// The report as the terminal shows it: each drifted object with its
/// attribute changes (recorded → now), the summary, and how to fix it.
pub fn human(report: &DriftReport) -> String {
    let mut out = String::new();
    if report.prior.is_none() {
        let _ = writeln!(
            out,
            "No state for environment `{}` yet: nothing to compare.",
            report.environment
        );
        return out;
    }
    if !report.in_sync() {
        out.push_str("Objects changed outside infra:\n\n");
        for drift in &report.drift {
            let (head, lines) = drift_lines(drift);
            let _ = writeln!(out, "{head}");
            for line in lines {
                let _ = writeln!(out, "      {line}");
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary_line(report));
    if !report.in_sync() {
        let env = env_flag(report);
        let _ = writeln!(
            out,
            "\nTo put them back as configured: `infra plan {env}`, then `infra apply {env}`.\n\
             To accept them into the state: `infra refresh {env}`."
        );
    }
    out
}

/// The report as the JSON document described in `docs/json-drift.md`.
pub fn json(report: &DriftReport) -> String {
    let document = serde_json::json!({
        "format_version": FORMAT_VERSION,
        "stack": report.stack,
        "environment": report.environment,
        "prior": report.prior.as_ref().map(|p| serde_json::json!({
            "lineage": p.lineage,
            "serial": p.serial,
        })),
        "in_sync": report.in_sync(),
        "summary": {
            "checked": report.checked,
            "changed": report.changed(),
            "deleted": report.deleted(),
            "data_sources_skipped": report.data_sources,
        },
        "resource_drift": report.drift.iter().map(drift_json).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// A value in a table cell: redacted through `Display`, HTML-escaped, pipes
/// and line breaks made safe, cut to [`CELL_LIMIT`] characters.
fn cell(value: &Value) -> String {
    if value.is_null() {
        return String::from("*(none)*");
    }
    let text = value.to_string();
    let mut cut: String = text.chars().take(CELL_LIMIT).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    code(&cut)
        .replace('|', "&#124;")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

/// The report as an issue body (title line first), never longer than
/// [`MARKDOWN_LIMIT`]: one table per changed object, a line per deleted one,
/// and how to fix it. Objects past the limit are counted, not listed.
pub fn markdown(report: &DriftReport) -> String {
    let mut out = format!(
        "## infra drift: {} (stack {})\n\n",
        code(&report.environment),
        code(&report.stack)
    );
    let _ = writeln!(out, "**{}**\n", html_escape(&summary_line(report)));
    if report.in_sync() {
        return out;
    }
    let env = env_flag(report);
    let fix = format!(
        "### How to fix\n\n\
         - To put the objects back as the configuration says: run `infra plan {env}` to see \
         the changes, then `infra apply {env}`.\n\
         - To accept them as they are now: run `infra refresh {env}`; the state records them \
         and later plans compare against them (change the configuration to match, or the next \
         apply reverts them).\n"
    );
    const RESERVE: usize = 200;
    let total = report.drift.len();
    for (index, drift) in report.drift.iter().enumerate() {
        let section = match &drift.kind {
            DriftKind::Deleted => format!(
                "### {} deleted outside infra\n\nThe state records it; the provider no longer \
                 finds it.\n\n",
                code(&drift.addr.to_string())
            ),
            DriftKind::Changed(attributes) => {
                let mut text = format!(
                    "### {} changed outside infra\n\n| Attribute | In state | Now |\n|---|---|---|\n",
                    code(&drift.addr.to_string())
                );
                let mut diffs = Vec::new();
                for attribute in attributes {
                    // Multi-line text reads better as a diff below the table.
                    let (before, after) =
                        match (multiline(&attribute.before), multiline(&attribute.after)) {
                            (Some(_), _) | (_, Some(_)) => {
                                diffs.extend(attribute_lines(
                                    &attribute.name,
                                    Some(&attribute.before),
                                    Some(&attribute.after),
                                    "",
                                ));
                                let note = String::from("*(multi-line: diff below)*");
                                (note.clone(), note)
                            }
                            _ => (cell(&attribute.before), cell(&attribute.after)),
                        };
                    let _ = writeln!(text, "| {} | {before} | {after} |", code(&attribute.name));
                }
                text.push('\n');
                if !diffs.is_empty() {
                    text.push_str(&diff_block(&diffs));
                    text.push('\n');
                }
                text
            }
        };
        if out.len() + section.len() + fix.len() + RESERVE > MARKDOWN_LIMIT {
            let _ = writeln!(
                out,
                "… {} more objects, not listed to fit (see `infra drift {env}`)\n",
                total - index
            );
            break;
        }
        out.push_str(&section);
    }
    out.push_str(&fix);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::addr::{InstanceAddr, InstanceKey, ResourceAddr};
    use crate::plan::{AttributeDrift, Drift, PriorVersion};

    fn addr(name: &str) -> InstanceAddr {
        ResourceAddr::managed("test_resource", name).instance(InstanceKey::None)
    }

    fn report(drift: Vec<Drift>) -> DriftReport {
        DriftReport {
            stack: "shop".to_owned(),
            environment: "dev".to_owned(),
            prior: Some(PriorVersion {
                lineage: "l".to_owned(),
                serial: 3,
            }),
            checked: 4,
            data_sources: 1,
            drift,
        }
    }

    fn drifted() -> DriftReport {
        report(vec![
            Drift {
                addr: addr("a"),
                resource_type: "test_resource".to_owned(),
                kind: DriftKind::Changed(vec![
                    AttributeDrift {
                        name: "note".to_owned(),
                        before: Value::string("1|2"),
                        after: Value::string("3"),
                    },
                    AttributeDrift {
                        name: "size".to_owned(),
                        before: Value::string("one\ntwo\n"),
                        after: Value::string("line\nbreak\n"),
                    },
                    AttributeDrift {
                        name: "token".to_owned(),
                        before: Value::string("hunter2-old").with_secret(true),
                        after: Value::string("hunter2-new").with_secret(true),
                    },
                ]),
            },
            Drift {
                addr: addr("b"),
                resource_type: "test_resource".to_owned(),
                kind: DriftKind::Deleted,
            },
        ])
    }

    #[test]
    fn every_form_hides_secret_values() {
        let report = drifted();
        for text in [human(&report), json(&report), markdown(&report)] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert!(human(&report).contains("(secret)"));
        assert!(markdown(&report).contains("(secret)"));
    }

    #[test]
    fn summary_counts_changed_and_deleted() {
        assert_eq!(
            summary_line(&drifted()),
            "Drift: 1 changed, 1 deleted outside infra (4 objects checked, state version 3)."
        );
        assert_eq!(
            summary_line(&report(Vec::new())),
            "No drift. Every object matches the state (4 objects checked, state version 3)."
        );
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        let text = markdown(&drifted());
        let row = text.lines().find(|l| l.contains("size")).unwrap();
        assert_eq!(row.matches('|').count(), 4, "{row}");
        assert!(row.contains("multi-line: diff below"), "{row}");
        assert!(text.contains("```diff\n! size = <<-DIFF\n"), "{text}");
        assert!(text.contains("    +line\n    +break\n"), "{text}");
        let row = text.lines().find(|l| l.contains("note")).unwrap();
        assert_eq!(row.matches('|').count(), 4, "{row}");
        assert!(row.contains("1&#124;2"), "{row}");
        let row = text.lines().find(|l| l.contains("token")).unwrap();
        assert_eq!(row.matches('|').count(), 4, "{row}");
        assert!(text.contains("infra refresh --env dev"), "{text}");
    }

    #[test]
    fn markdown_stays_under_the_limit() {
        let many = (0..5000)
            .map(|i| Drift {
                addr: addr(&format!("r{i}")),
                resource_type: "test_resource".to_owned(),
                kind: DriftKind::Deleted,
            })
            .collect();
        let text = markdown(&report(many));
        assert!(text.len() <= MARKDOWN_LIMIT, "{}", text.len());
        assert!(text.contains("more objects, not listed"), "{text}");
        assert!(text.contains("### How to fix"));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let doc: serde_json::Value = serde_json::from_str(&json(&drifted())).unwrap();
        assert_eq!(doc["format_version"], "1.0");
        assert_eq!(doc["in_sync"], false);
        assert_eq!(doc["summary"]["changed"], 1);
        assert_eq!(doc["summary"]["deleted"], 1);
        assert_eq!(doc["summary"]["checked"], 4);
        assert_eq!(doc["resource_drift"][1]["actions"][0], "delete");
        assert_eq!(
            doc["resource_drift"][0]["attributes"][2]["after_sensitive"],
            true
        );
        assert!(doc["resource_drift"][0]["attributes"][2]["after"].is_null());
    }

    /// The field names in docs/json-drift.md's table under `heading`.
    fn documented(heading: &str) -> Vec<String> {
        let doc = include_str!("../../docs/json-drift.md");
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
    fn the_json_form_is_exactly_what_the_doc_lists() {
        let doc: serde_json::Value = serde_json::from_str(&json(&drifted())).unwrap();
        for (heading, object) in [
            ("Top-level fields", &doc),
            ("Summary fields", &doc["summary"]),
        ] {
            let mut listed = documented(heading);
            listed.sort();
            let mut emitted: Vec<String> = object.as_object().unwrap().keys().cloned().collect();
            emitted.sort();
            assert_eq!(listed, emitted, "{heading}");
        }
    }
}
