//! Lowers `stack { history = { keep = N } }`, the retention of the state
//! history, into [`HistorySettings`].
//!
//! The setting is read by every command that writes state, also those that
//! evaluate nothing (`state rm`, `state restore`), so it is written
//! literally: an object with one key, `keep`, whose value is a whole number
//! of at least 1.
//!
//! Invariant: every problem is one `infra::check::invalid_history_setting`
//! diagnostic at the most specific node; nothing is evaluated.

use crate::config::HistorySettings;
use crate::diag::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::ast::{Expr, ExprKind, UnaryOp};

/// The keys `history` takes.
const KEYS: &[&str] = &["keep"];

/// How the setting is written, for help lines.
const EXAMPLE: &str = "`history = { keep = 200 }`";

/// The settings `value` (the `history` attribute's value) gives; `None`,
/// with the problems in `diagnostics`, when it gives none.
pub(crate) fn lower_history(
    value: &Expr,
    diagnostics: &mut Diagnostics,
) -> Option<HistorySettings> {
    let ExprKind::Object(entries) = &value.kind else {
        diagnostics.push(invalid(value, "`history` is an object with `keep`").with_help(format!(
            "write {EXAMPLE}: the number of state versions the history keeps. It is read before \
             anything is evaluated, so it is written literally"
        )));
        return None;
    };
    let mut keep = None;
    let mut valid = true;
    for entry in entries.values() {
        let span = entry.key.span();
        let Some(name) = entry.key.literal() else {
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckInvalidHistorySetting,
                    span,
                    "the key must be written literally",
                )
                .with_help(format!("`history` takes only `keep`: {EXAMPLE}")),
            );
            valid = false;
            continue;
        };
        if !KEYS.contains(&name) {
            let help = match did_you_mean(name, KEYS.iter().copied()) {
                Some(near) => format!("did you mean `{near}`? `history` takes only `keep`"),
                None => format!("`history` takes only `keep`: {EXAMPLE}"),
            };
            diagnostics.push(
                Diagnostic::error(
                    Code::CheckInvalidHistorySetting,
                    span,
                    format!("unknown key `{name}`"),
                )
                .with_help(help),
            );
            valid = false;
            continue;
        }
        if keep.is_some() {
            diagnostics.push(
                Diagnostic::error(Code::CheckInvalidHistorySetting, span, "`keep` given twice")
                    .with_help("give `keep` once"),
            );
            valid = false;
            continue;
        }
        match whole_number(&entry.value) {
            Ok(count) => keep = Some(count),
            Err(problem) => {
                diagnostics.push(problem);
                valid = false;
                keep = Some(0);
            }
        }
    }
    let Some(keep) = keep else {
        diagnostics.push(invalid(value, "`keep` is missing").with_help(format!(
            "say how many versions the history keeps: {EXAMPLE}; leave `history` out to keep \
                 every version"
        )));
        return None;
    };
    valid.then_some(HistorySettings {
        keep,
        span: value.span,
    })
}

/// `keep`'s value: a whole number of at least 1, written as a number.
fn whole_number(value: &Expr) -> Result<u64, Diagnostic> {
    let at_least_one = |expr: &Expr| {
        invalid(expr, "`keep` must be at least 1").with_help(
            "the history always keeps the current version; `keep = 1` keeps it and the version \
             a rollback would go back to. Leave `history` out to keep every version",
        )
    };
    match &value.kind {
        ExprKind::Number(text) => match text.parse::<u64>() {
            Ok(0) => Err(at_least_one(value)),
            Ok(count) => Ok(count),
            Err(_) if text.bytes().all(|b| b.is_ascii_digit()) => {
                Err(invalid(value, "`keep` is too large").with_help(format!(
                    "the largest `keep` is {}; leave `history` out to keep every version",
                    u64::MAX
                )))
            }
            Err(_) => Err(invalid(value, "`keep` must be a whole number")
                .with_help(format!("a count of versions, like {EXAMPLE}"))),
        },
        ExprKind::Unary {
            op: UnaryOp::Negate,
            operand,
            ..
        } if matches!(operand.kind, ExprKind::Number(_)) => Err(at_least_one(value)),
        ExprKind::Paren(inner) => whole_number(inner),
        ExprKind::String(_) => Err(invalid(value, "`keep` must be a whole number")
            .with_help("write the number without quotes: `keep = 200`")),
        _ => Err(
            invalid(value, "`keep` must be a whole number").with_help(format!(
                "write the count literally, like {EXAMPLE}: it is read before anything is evaluated"
            )),
        ),
    }
}

fn invalid(at: &Expr, label: &str) -> Diagnostic {
    Diagnostic::error(Code::CheckInvalidHistorySetting, at.span, label)
}
