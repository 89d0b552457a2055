//! Environment comparisons, side by side.

use crate::pipeline::envdiff::{EnvDiff, Side};
use std::fmt::Write as _;

fn show(side: &Side) -> String {
    match side {
        Side::Absent => String::from("(absent)"),
        Side::Shown(text) => text.clone(),
        Side::Secret => String::from("(secret)"),
        Side::Unknown => String::from("(known after apply)"),
    }
}

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A table of the rows that differ (all rows with `all`), then a summary line.
pub fn human(diff: &EnvDiff, all: bool) -> String {
    let rows: Vec<_> = diff.rows.iter().filter(|r| all || r.differs).collect();
    let mut out = String::new();
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "Environments {} and {} resolve to the same configuration.",
            diff.a, diff.b
        );
        return out;
    }
    let what_width = rows
        .iter()
        .map(|r| r.what.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 60);
    let a_header = diff.a.clone();
    let a_width = rows
        .iter()
        .map(|r| show(&r.a).chars().count())
        .chain([a_header.chars().count()])
        .max()
        .unwrap_or(0)
        .clamp(4, 40);
    let _ = writeln!(
        out,
        "  {:<what_width$}  {:<a_width$}  {}",
        "", a_header, diff.b
    );
    for row in &rows {
        let marker = if !row.differs {
            ' '
        } else if matches!(row.a, Side::Absent) {
            '+'
        } else if matches!(row.b, Side::Absent) {
            '-'
        } else {
            '~'
        };
        let (a, b) = match (&row.a, &row.b) {
            (Side::Secret, Side::Secret) => (
                String::from("(secret)"),
                format!("(secret, {})", if row.differs { "differs" } else { "same" }),
            ),
            (a, b) => (show(a), show(b)),
        };
        let _ = writeln!(
            out,
            "{marker} {:<what_width$}  {:<a_width$}  {}",
            cut(&row.what, what_width),
            cut(&a, a_width),
            cut(&b, 60)
        );
    }
    let differing = diff.rows.iter().filter(|r| r.differs).count();
    let _ = writeln!(
        out,
        "\n{differing} of {} compared values differ between {} and {}.",
        diff.rows.len(),
        diff.a,
        diff.b
    );
    out
}

/// The comparison as JSON.
pub fn json(diff: &EnvDiff) -> String {
    let side = |s: &Side| match s {
        Side::Absent => serde_json::json!({ "present": false }),
        Side::Shown(text) => serde_json::json!({ "present": true, "value": text }),
        Side::Secret => serde_json::json!({ "present": true, "secret": true }),
        Side::Unknown => serde_json::json!({ "present": true, "known_after_apply": true }),
    };
    let rows: Vec<serde_json::Value> = diff
        .rows
        .iter()
        .map(|r| serde_json::json!({ "what": r.what, "a": side(&r.a), "b": side(&r.b), "differs": r.differs }))
        .collect();
    let document = serde_json::json!({
        "format_version": "1.0",
        "a": diff.a,
        "b": diff.b,
        "differs": diff.differs(),
        "rows": rows,
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}
