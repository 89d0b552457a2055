//! Plans as text: the terminal view ([`human`]), the documented JSON form
//! ([`json`], see `docs/json-plan.md`) and a pull-request comment ([`markdown`]).
//!
//! Invariant: pure functions, no I/O. Secret values are never written: the
//! human and markdown forms print `(secret)`, the JSON form `null` with a
//! `true` in the matching `*_sensitive` mask. Values are only ever shown
//! through `Display` (which redacts) or after checking `contains_secret`.

use crate::addr::Mode;
use crate::lang::{Kind, Number, Value};
use crate::plan::{
    Action, Change, DowntimeReason, Drift, DriftKind, Impact, OutputChange, Plan, Reason, Summary,
};
use crate::providers::Attributes;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The line a plan without changes ends with.
pub const NO_CHANGES: &str = "No changes. Your infrastructure matches the configuration.";

/// The most characters (and bytes) [`markdown`] ever returns.
pub const MARKDOWN_LIMIT: usize = 65_000;

// ---------------------------------------------------------------------------
// Shared pieces

/// `Plan: 3 to add, 1 to change, 0 to destroy.` or [`NO_CHANGES`].
fn summary_line(plan: &Plan) -> String {
    if !plan.has_changes() {
        return NO_CHANGES.to_owned();
    }
    let Summary {
        add,
        change,
        destroy,
        import,
        ..
    } = plan.summary();
    let import = if import > 0 {
        format!("{import} to import, ")
    } else {
        String::new()
    };
    format!("Plan: {import}{add} to add, {change} to change, {destroy} to destroy.")
}

/// Whether a change is shown: it does something, or it imports or moves.
fn is_shown(change: &Change) -> bool {
    change.action != Action::NoOp || change.import_id.is_some() || change.moved_from.is_some()
}

/// The changes a plan lists: those [`is_shown`]; reads only next to real
/// changes (a plan of reads alone has no changes, and says so).
fn shown_changes(plan: &Plan) -> Vec<&Change> {
    let has_changes = plan.has_changes();
    plan.changes
        .iter()
        .filter(|change| is_shown(change) && (has_changes || change.action != Action::Read))
        .collect()
}

/// The symbol of a change as shown: an import that changes nothing is `<-`.
fn change_symbol(change: &Change) -> &'static str {
    if change.action == Action::NoOp && change.import_id.is_some() {
        "<-"
    } else {
        symbol(change.action)
    }
}

/// The address as a header shows it: `OLD has moved to NEW` for a move that
/// changes nothing else.
fn shown_addr(change: &Change) -> String {
    match &change.moved_from {
        Some(from) if change.action == Action::NoOp && change.import_id.is_none() => {
            format!("{from} has moved to {}", change.addr)
        }
        _ => change.addr.to_string(),
    }
}

/// The action's symbol, as in Terraform.
fn symbol(action: Action) -> &'static str {
    match action {
        Action::NoOp => " ",
        Action::Create => "+",
        Action::Update => "~",
        Action::Replace { .. } => "-/+",
        Action::Delete => "-",
        Action::Read => "<=",
    }
}

fn is_destructive(action: Action) -> bool {
    matches!(action, Action::Replace { .. } | Action::Delete)
}

fn join_path(path: &[String]) -> String {
    path.join(".")
}

/// `(forces replacement: a, b.c)`, empty when there are no paths.
fn forces(change: &Change) -> String {
    if change.replace_paths.is_empty() {
        return String::new();
    }
    let paths: Vec<String> = change.replace_paths.iter().map(|p| join_path(p)).collect();
    format!(" (forces replacement: {})", paths.join(", "))
}

/// What happens to the object, in words, with the reason when it adds something.
fn describe(change: &Change) -> String {
    let mut text = action_words(change);
    if let Some(from) = &change.moved_from
        && (change.action != Action::NoOp || change.import_id.is_some())
    {
        let _ = write!(text, " (moved from {from})");
    }
    text
}

fn action_words(change: &Change) -> String {
    if change.moved_from.is_some() && change.action == Action::NoOp && change.import_id.is_none() {
        return String::new();
    }
    let mut text = String::new();
    if let Some(id) = &change.import_id {
        let _ = write!(text, "will be imported (id {id:?})");
        if change.action == Action::NoOp {
            return text;
        }
        text.push_str(", then ");
    }
    if let Some(deploy) = &change.deploy
        && change.action == Action::Update
        && change.import_id.is_none()
    {
        // `will be deployed blue-green: start green → health → …`
        let _ = write!(text, "will be deployed {}", deploy_steps(deploy));
        return text;
    }
    let words = match change.action {
        Action::NoOp => "is unchanged",
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Replace {
            create_before_destroy: false,
        } => "must be replaced",
        Action::Replace {
            create_before_destroy: true,
        } => "must be replaced (create before destroy)",
        Action::Delete => "will be destroyed",
        Action::Read => "will be read during apply",
    };
    if change.import_id.is_some() {
        text.push_str(words.strip_prefix("will be ").unwrap_or(words));
    } else {
        text.push_str(words);
    }
    text.push_str(&forces(change));
    if let Some(reason) = change.reason
        && reason != Reason::ReplaceForced
    {
        let _ = write!(text, " ({})", reason.describe());
    }
    if let Some(deploy) = &change.deploy {
        let _ = write!(text, ", deployed {}", deploy_steps(deploy));
    }
    text
}

/// `blue-green: start green on :8101 → health → switch router`.
fn deploy_steps(deploy: &crate::providers::DeploySteps) -> String {
    if deploy.steps.is_empty() {
        return deploy.strategy.clone();
    }
    format!("{}: {}", deploy.strategy, deploy.steps.join(" → "))
}

/// The change's header line: `-/+ test_resource.db must be replaced (forces replacement: name)`.
/// A change through an aliased provider configuration names it (`via
/// ssh.staging`): with two hosts of one provider, which one is the point.
fn header(change: &Change) -> String {
    let mut text = format!(
        "{:>3} {} {}",
        change_symbol(change),
        shown_addr(change),
        describe(change)
    );
    text.push_str(&via(change));
    text.trim_end().to_owned()
}

/// ` (via ssh.staging)` for a change through an aliased provider
/// configuration, nothing for the default one.
fn via(change: &Change) -> String {
    match change.provider.alias {
        Some(_) => format!(" (via {})", change.provider),
        None => String::new(),
    }
}

/// A multi-line, known, non-secret string.
pub(super) fn multiline(value: &Value) -> Option<&str> {
    if value.contains_secret() {
        return None;
    }
    value.as_str().filter(|s| s.contains('\n'))
}

/// The lines of a unified line diff of two texts (hunk headers and lines).
fn text_diff(old: &str, new: &str) -> Vec<String> {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut lines = Vec::new();
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        lines.push(hunk.header().to_string());
        for change in hunk.iter_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            };
            let text = change.value();
            let text = text.strip_suffix('\n').unwrap_or(text);
            lines.push(format!("{sign}{text}"));
        }
    }
    lines
}

/// The lines for one attribute: the first starts with `+`, `-` or `~`; any
/// further lines (a multi-line diff) are indented continuation lines.
pub(super) fn attribute_lines(
    name: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    note: &str,
) -> Vec<String> {
    let before = before.filter(|v| !v.is_null());
    let after = after.filter(|v| !v.is_null());
    match (before, after) {
        (None, None) => Vec::new(),
        (None, Some(new)) => vec![format!("+ {name} = {new}{note}")],
        (Some(old), None) => vec![format!("- {name} = {old}{note}")],
        (Some(old), Some(new)) => match (multiline(old), multiline(new)) {
            (Some(old_text), Some(new_text)) => {
                let mut lines = vec![format!("~ {name} = <<-DIFF{note}")];
                lines.extend(
                    text_diff(old_text, new_text)
                        .into_iter()
                        .map(|line| format!("    {line}")),
                );
                lines.push(String::from("  DIFF"));
                lines
            }
            _ => vec![format!("~ {name} = {old} -> {new}{note}")],
        },
    }
}

/// A service attribute's value as a plan shows it: the entries of its
/// objects that are not set (`null`, as the attribute's object type fills in
/// the optional fields left out: `health.exec` of a service checked over
/// HTTP) are left out, at any depth.
/// A secret value is shown whole (as `(secret)`).
fn only_set(value: &Value) -> Value {
    if value.is_secret() {
        return value.clone();
    }
    match value.kind() {
        Kind::Map(entries) => Value::map(
            entries
                .iter()
                .filter(|(_, entry)| !entry.is_null())
                .map(|(name, entry)| (name.clone(), only_set(entry)))
                .collect(),
        ),
        Kind::List(items) => Value::list(items.iter().map(only_set).collect()),
        _ => value.clone(),
    }
}

/// The attribute-level diff of one change, unchanged attributes counted in a
/// trailing `# (N unchanged attributes hidden)` line.
fn change_lines(change: &Change) -> Vec<String> {
    if change.action == Action::NoOp && change.import_id.is_none() {
        // A move that changes nothing: the header says it all.
        return Vec::new();
    }
    let empty = Attributes::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = if change.action == Action::Delete {
        &empty
    } else {
        &change.after
    };
    let forcing: BTreeSet<&str> = change
        .replace_paths
        .iter()
        .filter_map(|p| p.first().map(String::as_str))
        .collect();
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut lines = Vec::new();
    let mut hidden = 0usize;
    for name in names {
        let old = before.get(name);
        let new = after.get(name);
        let same = match change.action {
            // Everything goes: show what there was.
            Action::Delete => false,
            _ => old.filter(|v| !v.is_null()) == new.filter(|v| !v.is_null()),
        };
        if same {
            if old.is_some_and(|v| !v.is_null()) {
                hidden += 1;
            }
            continue;
        }
        let note =
            if matches!(change.action, Action::Replace { .. }) && forcing.contains(name.as_str()) {
                " # forces replacement"
            } else {
                ""
            };
        // A service's settings show as written: without the unset fields of
        // its object attributes (`health`, `smoke`, `deploy`, `router`).
        // Elsewhere a `null` in a map may be a value the user wrote.
        let (old, new) = if change.resource_type == crate::addr::SERVICE_TYPE {
            (old.map(only_set), new.map(only_set))
        } else {
            (old.cloned(), new.cloned())
        };
        lines.extend(attribute_lines(name, old.as_ref(), new.as_ref(), note));
    }
    if hidden > 0 {
        let noun = if hidden == 1 {
            "attribute"
        } else {
            "attributes"
        };
        lines.push(format!("# ({hidden} unchanged {noun} hidden)"));
    }
    lines
}

/// The lines of one drifted object: header, then its attribute diffs.
pub(super) fn drift_lines(drift: &Drift) -> (String, Vec<String>) {
    match &drift.kind {
        DriftKind::Deleted => (
            format!("  - {} was deleted outside infra", drift.addr),
            Vec::new(),
        ),
        DriftKind::Changed(attributes) => (
            format!("  ~ {} was changed outside infra", drift.addr),
            attributes
                .iter()
                .flat_map(|a| attribute_lines(&a.name, Some(&a.before), Some(&a.after), ""))
                .collect(),
        ),
    }
}

/// An output's value as shown: `(secret)` when declared sensitive.
fn output_value(change: &OutputChange, value: Option<&Value>) -> Option<Value> {
    value.map(|v| {
        if change.sensitive {
            v.clone().with_secret(true)
        } else {
            v.clone()
        }
    })
}

fn output_line(change: &OutputChange) -> Option<String> {
    if change.action == Action::NoOp {
        return None;
    }
    let before = output_value(change, change.before.as_ref());
    let after = output_value(change, change.after.as_ref());
    let line = match change.action {
        Action::Delete => format!("- {} = {}", change.name, display_or_null(before.as_ref())),
        Action::Create => format!("+ {} = {}", change.name, display_or_null(after.as_ref())),
        _ => format!(
            "~ {} = {} -> {}",
            change.name,
            display_or_null(before.as_ref()),
            display_or_null(after.as_ref())
        ),
    };
    Some(line)
}

fn display_or_null(value: Option<&Value>) -> String {
    value.map_or_else(|| String::from("null"), ToString::to_string)
}

// ---------------------------------------------------------------------------
// Human

/// The plan as the terminal shows it: drift first, then each change with its
/// attribute diffs, output changes, and the summary line.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.drift.is_empty() {
        out.push_str("Objects changed outside infra:\n\n");
        for drift in &plan.drift {
            let (head, lines) = drift_lines(drift);
            let _ = writeln!(out, "{head}");
            for line in lines {
                let _ = writeln!(out, "      {line}");
            }
        }
        out.push('\n');
    }
    let changes = shown_changes(plan);
    if !changes.is_empty() {
        out.push_str("infra will perform the following actions:\n\n");
        for change in changes {
            let _ = writeln!(out, "{}", header(change));
            for line in change_lines(change) {
                let _ = writeln!(out, "      {line}");
            }
            if let Some(results) = &plan.policy {
                let instance = change.addr.to_string();
                let resource = change.addr.resource.to_string();
                for violation in results.about(&instance, &resource) {
                    let _ = writeln!(out, "      {}", super::policy::under_resource(violation));
                }
            }
            out.push('\n');
        }
    }
    let outputs: Vec<String> = plan.output_changes.iter().filter_map(output_line).collect();
    if !outputs.is_empty() {
        out.push_str("Changes to outputs:\n");
        for line in outputs {
            let _ = writeln!(out, "  {line}");
        }
        out.push('\n');
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    if let Some((title, body)) = targeting_warning(plan) {
        let _ = writeln!(out, "\nWarning: {title}");
        for line in body {
            let _ = writeln!(out, "  {line}");
        }
    }
    if plan.has_changes() {
        out.push('\n');
        for line in impact_lines(plan, HUMAN_LIST) {
            let _ = writeln!(out, "{line}");
        }
    }
    if let Some(results) = &plan.policy {
        out.push('\n');
        for line in super::policy::human_section(results) {
            let _ = writeln!(out, "{line}");
        }
    }
    let refusal = refusal_lines(plan, HUMAN_LIST);
    if !refusal.is_empty() {
        out.push('\n');
        for line in refusal {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// The warning every format shows when `--target` limited the plan, as
/// Terraform does: the plan is partial, and "no changes" means none among
/// the targets.
/// Returns the title and the body's lines.
fn targeting_warning(plan: &Plan) -> Option<(String, [&'static str; 2])> {
    if plan.targets.is_empty() {
        return None;
    }
    let names: Vec<String> = plan.targets.iter().map(ToString::to_string).collect();
    Some((
        format!("resource targeting is in effect ({})", names.join(", ")),
        [
            "This plan is partial: only the targeted resources and what they depend on were planned;",
            "other changes and the outputs may be missing. Plan without --target to see everything.",
        ],
    ))
}

/// How many entries of each impact list the human form shows.
const HUMAN_LIST: usize = 10;

/// How many entries of each impact list the markdown form shows.
const MARKDOWN_LIST: usize = 5;

/// `a, b, c and 4 more`.
fn named_list(named: &[String], total: usize, at_least: bool) -> String {
    let mut text = named.join(", ");
    let rest = total.saturating_sub(named.len());
    if rest > 0 || at_least {
        let more = if at_least { "+" } else { "" };
        let _ = write!(text, " and {rest}{more} more");
    }
    text
}

/// The impact section as plain lines (the human form; markdown wraps them):
/// at most `limit` entries of each list, the largest blast radius first.
fn impact_lines(plan: &Plan, limit: usize) -> Vec<String> {
    let Impact {
        blast_radius,
        downtime,
        rollback,
        refused: _,
    } = &plan.impact;
    let mut lines = vec![String::from("Impact:")];
    if blast_radius.is_empty() {
        lines.push(String::from(
            "  Blast radius: no change reaches other instances",
        ));
    } else {
        let mut blasts: Vec<_> = blast_radius.iter().collect();
        blasts.sort_by_key(|blast| std::cmp::Reverse(blast.downstream));
        lines.push(format!(
            "  Blast radius: {} change{} reach{} instances downstream",
            blasts.len(),
            if blasts.len() == 1 { "" } else { "s" },
            if blasts.len() == 1 { "es" } else { "" },
        ));
        for blast in blasts.iter().take(limit) {
            let named: Vec<String> = blast.named.iter().map(ToString::to_string).collect();
            lines.push(format!(
                "    {} {}: {}{} downstream ({})",
                symbol(blast.action),
                blast.addr,
                blast.downstream,
                if blast.at_least { "+" } else { "" },
                named_list(&named, blast.downstream, blast.at_least)
            ));
        }
        if blasts.len() > limit {
            lines.push(format!("    … {} more", blasts.len() - limit));
        }
    }
    let gaps: Vec<_> = downtime
        .iter()
        .filter(|risk| risk.reason == DowntimeReason::DestroyBeforeCreate)
        .collect();
    let protected = downtime
        .iter()
        .filter(|risk| risk.reason == DowntimeReason::ProtectedEnvironment)
        .count();
    let deploys: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|change| change.deploy.is_some())
        .collect();
    if gaps.is_empty() && protected == 0 && deploys.is_empty() {
        lines.push(String::from("  Downtime risk: none found"));
    } else {
        lines.push(String::from("  Downtime risk:"));
        for change in deploys.iter().take(limit) {
            if let Some(deploy) = &change.deploy {
                lines.push(format!(
                    "    {} {} deploys {}: downtime: {}",
                    change_symbol(change),
                    shown_addr(change),
                    deploy.strategy,
                    deploy.downtime
                ));
            }
        }
        if deploys.len() > limit {
            lines.push(format!("    … {} more deploys", deploys.len() - limit));
        }
        for risk in gaps.iter().take(limit) {
            lines.push(format!(
                "    {} {} {}",
                symbol(risk.action),
                risk.addr,
                risk.describe(&plan.environment.name)
            ));
        }
        if gaps.len() > limit {
            lines.push(format!("    … {} more", gaps.len() - limit));
        }
        if protected > 0 {
            lines.push(format!(
                "    ! environment `{}` is protected: {protected} change{} here",
                plan.environment.name,
                if protected == 1 { "" } else { "s" }
            ));
        }
    }
    lines.push(format!("  Rollback: {}", rollback.describe()));
    if !rollback.irreversible.is_empty() {
        lines.push(String::from("    Not undone by a rollback:"));
        for item in rollback.irreversible.iter().take(limit) {
            lines.push(format!("      - {}", item.describe()));
        }
        if rollback.irreversible.len() > limit {
            lines.push(format!(
                "      … {} more",
                rollback.irreversible.len() - limit
            ));
        }
    }
    lines
}

/// The refusal a protected environment's plan ends with (none when apply
/// would go ahead): a headline, each refused delete or replace (at most
/// `limit`, then how many more), and the way to allow them.
struct Refusal {
    headline: String,
    items: Vec<(String, &'static str)>,
    more: usize,
    footer: &'static str,
}

fn refusal(plan: &Plan, limit: usize) -> Option<Refusal> {
    let refused = &plan.impact.refused;
    if refused.is_empty() {
        return None;
    }
    Some(Refusal {
        headline: format!(
            "Apply would be refused: environment `{}` is protected, and this plan would \
             destroy or replace {} object{}:",
            plan.environment.name,
            refused.len(),
            if refused.len() == 1 { "" } else { "s" }
        ),
        items: refused
            .iter()
            .take(limit)
            .map(|item| {
                let what = if item.action == Action::Delete {
                    "delete"
                } else {
                    "replace"
                };
                (item.addr.to_string(), what)
            })
            .collect(),
        more: refused.len().saturating_sub(limit),
        footer: "Review the plan; if this is intended, apply it with `--allow-destroy`.",
    })
}

/// The refusal as plain lines (the human form).
fn refusal_lines(plan: &Plan, limit: usize) -> Vec<String> {
    let Some(refusal) = refusal(plan, limit) else {
        return Vec::new();
    };
    let mut lines = vec![refusal.headline];
    for (addr, what) in refusal.items {
        lines.push(format!("  - {addr} ({what})"));
    }
    if refusal.more > 0 {
        lines.push(format!("  … {} more", refusal.more));
    }
    lines.push(refusal.footer.to_owned());
    lines
}

// ---------------------------------------------------------------------------
// JSON

/// The value as JSON with secrets and unknowns as `null`.
pub(crate) fn redacted(value: &Value) -> serde_json::Value {
    if value.is_secret() {
        return serde_json::Value::Null;
    }
    match value.kind() {
        Kind::Null | Kind::Unknown => serde_json::Value::Null,
        Kind::Bool(b) => serde_json::Value::Bool(*b),
        Kind::Number(Number::Int(i)) => serde_json::Value::from(*i),
        Kind::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Kind::String(s) => serde_json::Value::String(s.clone()),
        Kind::List(items) => serde_json::Value::Array(items.iter().map(redacted).collect()),
        Kind::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), redacted(v)))
                .collect(),
        ),
    }
}

/// A boolean mask mirroring the value's shape: `true` where `leaf` holds.
/// A secret node is a single boolean (its shape is not shown).
fn mask(value: &Value, leaf: fn(&Value) -> bool, whole: fn(&Value) -> bool) -> serde_json::Value {
    if value.is_secret() {
        return serde_json::Value::Bool(whole(value));
    }
    match value.kind() {
        Kind::List(items) => {
            serde_json::Value::Array(items.iter().map(|v| mask(v, leaf, whole)).collect())
        }
        Kind::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), mask(v, leaf, whole)))
                .collect(),
        ),
        _ => serde_json::Value::Bool(leaf(value)),
    }
}

fn unknown_mask(value: &Value) -> serde_json::Value {
    mask(value, Value::is_unknown, Value::contains_unknown)
}

pub(crate) fn sensitive_mask(value: &Value) -> serde_json::Value {
    mask(value, Value::is_secret, |_| true)
}

/// `before`/`after`/masks for an optional object.
fn object_fields(
    object: Option<&Attributes>,
) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    match object {
        None => (
            serde_json::Value::Null,
            serde_json::Value::Bool(false),
            serde_json::Value::Bool(false),
        ),
        Some(attributes) => {
            let value = Value::map(attributes.clone());
            (
                redacted(&value),
                unknown_mask(&value),
                sensitive_mask(&value),
            )
        }
    }
}

/// Terraform-style action list.
fn actions(action: Action) -> serde_json::Value {
    let list: &[&str] = match action {
        Action::NoOp => &["no-op"],
        Action::Create => &["create"],
        Action::Update => &["update"],
        Action::Replace {
            create_before_destroy: false,
        } => &["delete", "create"],
        Action::Replace {
            create_before_destroy: true,
        } => &["create", "delete"],
        Action::Delete => &["delete"],
        Action::Read => &["read"],
    };
    serde_json::json!(list)
}

fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::DeletedOutside => "deleted_outside",
        Reason::NoLongerInConfiguration => "no_longer_in_configuration",
        Reason::DestroyRequested => "destroy_requested",
        Reason::ReplaceForced => "replace_forced",
        Reason::ReplaceTriggered => "replace_triggered",
        Reason::ReplaceRequested => "replace_requested",
    }
}

fn resource_change_json(change: &Change) -> serde_json::Value {
    let (before, _, before_sensitive) = object_fields(change.before.as_ref());
    let after_object = match change.action {
        Action::Delete => None,
        _ => Some(&change.after),
    };
    let (after, after_unknown, after_sensitive) = object_fields(after_object);
    // The object's fields are moved in, in the order of `docs/json-plan.md`:
    // `json!` would copy each nested value through serde (`to_value`).
    let mut object = serde_json::Map::new();
    let mut field = |key: &str, value: serde_json::Value| {
        object.insert(key.to_owned(), value);
    };
    field("address", change.addr.to_string().into());
    field(
        "mode",
        match change.addr.resource.mode {
            Mode::Managed => "managed",
            Mode::Data => "data",
        }
        .into(),
    );
    field("type", serde_json::json!(change.resource_type));
    field("name", serde_json::json!(change.addr.resource.name));
    field("provider", serde_json::json!(change.provider));
    field("actions", actions(change.action));
    field("reason", serde_json::json!(change.reason.map(reason_name)));
    field("before", before);
    field("after", after);
    field("after_unknown", after_unknown);
    field("before_sensitive", before_sensitive);
    field("after_sensitive", after_sensitive);
    field("replace_paths", serde_json::json!(change.replace_paths));
    field(
        "importing",
        serde_json::json!(
            change
                .import_id
                .as_ref()
                .map(|id| serde_json::json!({ "id": id }))
        ),
    );
    field(
        "previous_address",
        serde_json::json!(change.moved_from.as_ref().map(ToString::to_string)),
    );
    field(
        "deploy",
        serde_json::json!(change.deploy.as_ref().map(|deploy| serde_json::json!({
            "strategy": deploy.strategy,
            "steps": deploy.steps,
            "downtime": deploy.downtime,
        }))),
    );
    serde_json::Value::Object(object)
}

fn impact_json(plan: &Plan) -> serde_json::Value {
    let impact = &plan.impact;
    serde_json::json!({
        "blast_radius": impact.blast_radius.iter().map(|blast| serde_json::json!({
            "address": blast.addr.to_string(),
            "actions": actions(blast.action),
            "downstream": blast.downstream,
            "at_least": blast.at_least,
            "named": blast.named.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "downtime": impact.downtime.iter().map(|risk| serde_json::json!({
            "address": risk.addr.to_string(),
            "actions": actions(risk.action),
            "reason": match risk.reason {
                DowntimeReason::DestroyBeforeCreate => "destroy_before_create",
                DowntimeReason::ProtectedEnvironment => "protected_environment",
            },
            "dependents": risk.dependents,
        })).collect::<Vec<_>>(),
        "rollback": {
            "supersedes": impact.rollback.supersedes,
            "command": impact.rollback.command,
            "irreversible": impact.rollback.irreversible.iter().map(|item| serde_json::json!({
                "subject": item.subject,
                "reason": match item.reason {
                    crate::plan::IrreversibleReason::Deleted => "deleted",
                    crate::plan::IrreversibleReason::Replaced => "replaced",
                    crate::plan::IrreversibleReason::SecretGenerated => "secret_generated",
                },
                "description": item.describe(),
            })).collect::<Vec<_>>(),
        },
        "refused": impact.refused.iter().map(|item| serde_json::json!({
            "address": item.addr.to_string(),
            "actions": actions(item.action),
        })).collect::<Vec<_>>(),
    })
}

fn output_change_json(change: &OutputChange) -> serde_json::Value {
    let field =
        |value: Option<&Value>| -> (serde_json::Value, serde_json::Value, serde_json::Value) {
            match value {
                None => (
                    serde_json::Value::Null,
                    serde_json::Value::Bool(false),
                    serde_json::Value::Bool(false),
                ),
                Some(_) if change.sensitive => (
                    serde_json::Value::Null,
                    serde_json::Value::Bool(false),
                    serde_json::Value::Bool(true),
                ),
                Some(v) => (redacted(v), unknown_mask(v), sensitive_mask(v)),
            }
        };
    let (before, _, before_sensitive) = field(change.before.as_ref());
    let (after, mut after_unknown, after_sensitive) = field(change.after.as_ref());
    if change.sensitive {
        after_unknown =
            serde_json::Value::Bool(change.after.as_ref().is_some_and(Value::contains_unknown));
    }
    serde_json::json!({
        "actions": actions(change.action),
        "sensitive": change.sensitive,
        "before": before,
        "after": after,
        "after_unknown": after_unknown,
        "before_sensitive": before_sensitive,
        "after_sensitive": after_sensitive,
    })
}

pub(super) fn drift_json(drift: &Drift) -> serde_json::Value {
    let (actions, attributes): (&[&str], Vec<serde_json::Value>) = match &drift.kind {
        DriftKind::Deleted => (&["delete"], Vec::new()),
        DriftKind::Changed(attributes) => (
            &["update"],
            attributes
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "name": a.name,
                        "before": redacted(&a.before),
                        "after": redacted(&a.after),
                        "before_sensitive": sensitive_mask(&a.before),
                        "after_sensitive": sensitive_mask(&a.after),
                    })
                })
                .collect(),
        ),
    };
    serde_json::json!({
        "address": drift.addr.to_string(),
        "type": drift.resource_type,
        "actions": actions,
        "attributes": attributes,
    })
}

/// The plan as the JSON document described in `docs/json-plan.md`.
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(&json_document(plan)).unwrap_or_default()
}

/// The document [`json`] prints (policies get it as `input.plan`).
pub fn json_document(plan: &Plan) -> serde_json::Value {
    let summary = plan.summary();
    let outputs: serde_json::Map<String, serde_json::Value> = plan
        .output_changes
        .iter()
        .map(|c| (c.name.clone(), output_change_json(c)))
        .collect();
    // Built field by field, in the documented order, so the large parts
    // (changes, drift, impact) are moved in rather than copied through serde
    // as `json!` does with a nested value.
    let mut object = serde_json::Map::new();
    let mut field = |key: &str, value: serde_json::Value| {
        object.insert(key.to_owned(), value);
    };
    field("format_version", "1.0".into());
    field("stack", serde_json::json!(plan.stack));
    field(
        "environment",
        serde_json::json!({
            "name": plan.environment.name,
            "protected": plan.environment.protected,
        }),
    );
    field(
        "prior",
        serde_json::json!(plan.prior.as_ref().map(|p| serde_json::json!({
            "lineage": p.lineage,
            "serial": p.serial,
        }))),
    );
    field("config_digest", serde_json::json!(plan.config_digest));
    field(
        "targets",
        serde_json::json!(
            plan.targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
    );
    field("has_changes", plan.has_changes().into());
    field(
        "summary",
        serde_json::json!({
            "add": summary.add,
            "change": summary.change,
            "destroy": summary.destroy,
            "read": summary.read,
            "import": summary.import,
            "move": summary.moved,
        }),
    );
    field(
        "resource_changes",
        serde_json::Value::Array(plan.changes.iter().map(resource_change_json).collect()),
    );
    field("output_changes", serde_json::Value::Object(outputs));
    field(
        "resource_drift",
        serde_json::Value::Array(plan.drift.iter().map(drift_json).collect()),
    );
    field("impact", impact_json(plan));
    field(
        "policy_results",
        plan.policy
            .as_ref()
            .map_or(serde_json::Value::Null, super::policy::json),
    );
    serde_json::Value::Object(object)
}

// ---------------------------------------------------------------------------
// Markdown

pub(super) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline code that survives backticks in the text.
pub(super) fn code(text: &str) -> String {
    format!("<code>{}</code>", html_escape(text))
}

/// A fenced `diff` block whose fence is longer than any backtick run inside.
pub(super) fn diff_block(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .map(|line| line.split(|c| c != '`').map(str::len).max().unwrap_or(0))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let mut out = format!("{fence}diff\n");
    for line in lines {
        // `~` is not diff syntax; `!` is highlighted as a change.
        match line.strip_prefix("~ ") {
            Some(rest) => {
                let _ = writeln!(out, "! {rest}");
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let _ = writeln!(out, "{fence}");
    out
}

fn details(summary: &str, lines: &[String]) -> String {
    format!(
        "<details><summary>{summary}</summary>\n\n{}\n</details>\n\n",
        diff_block(lines)
    )
}

/// The impact section of the markdown form: a short list under the summary,
/// each list cut to [`MARKDOWN_LIST`] entries so it stays small.
fn markdown_impact(plan: &Plan) -> String {
    let lines = impact_lines(plan, MARKDOWN_LIST);
    let mut out = String::from("### Impact\n\n");
    for line in lines.iter().skip(1) {
        let depth = line.len() - line.trim_start().len();
        let text = line.trim_start();
        let text = text.strip_prefix("- ").unwrap_or(text);
        // Two spaces of the human form are one level of the list.
        let indent = "  ".repeat(depth.saturating_sub(2) / 2);
        let _ = writeln!(out, "{indent}- {}", html_escape(text));
    }
    out.push('\n');
    out
}

/// The plan as a pull-request comment, never longer than [`MARKDOWN_LIMIT`]
/// (bytes, hence characters): detail sections are elided from the end to fit;
/// the title, summary and destructive actions always stay.
pub fn markdown(plan: &Plan) -> String {
    let summary = plan.summary();
    let mut head = format!(
        "## infra plan: {} (stack {})\n\n",
        code(&plan.environment.name),
        code(&plan.stack)
    );
    // Policy comes first: a denial decides whether the rest can be applied.
    if let Some(results) = &plan.policy {
        head.push_str(&super::policy::markdown(results));
    }
    // Drift comes next: what changed outside infra explains the changes below.
    if !plan.drift.is_empty() {
        let mut lines = Vec::new();
        for drift in &plan.drift {
            let (head, attributes) = drift_lines(drift);
            lines.push(head.trim_start().to_owned());
            lines.extend(attributes.into_iter().map(|l| format!("    {l}")));
        }
        let section = details(
            &format!("Objects changed outside infra ({})", plan.drift.len()),
            &lines,
        );
        // At most a third of the comment, so the summary and destructive
        // actions always fit.
        if section.len() <= MARKDOWN_LIMIT / 3 {
            head.push_str(&section);
        } else {
            let _ = writeln!(
                head,
                "**Objects changed outside infra ({})**: too many to list here; see `infra drift`.\n",
                plan.drift.len()
            );
        }
    }
    let _ = writeln!(
        head,
        "| Add | Change | Destroy |\n|----:|-------:|--------:|\n| {} | {} | {} |\n",
        summary.add, summary.change, summary.destroy
    );
    let _ = writeln!(head, "**{}**\n", summary_line(plan));
    if let Some((title, body)) = targeting_warning(plan) {
        let _ = writeln!(
            head,
            "> **Warning:** {}. {}\n",
            html_escape(&title),
            html_escape(&body.join(" "))
        );
    }
    if let Some(refusal) = refusal(plan, MARKDOWN_LIST) {
        let _ = writeln!(
            head,
            "> [!CAUTION]\n> **{}**",
            html_escape(&refusal.headline)
        );
        for (addr, what) in &refusal.items {
            let _ = writeln!(head, "> - {} ({what})", code(addr));
        }
        if refusal.more > 0 {
            let _ = writeln!(head, "> - … {} more", refusal.more);
        }
        let _ = writeln!(head, ">\n> {}\n", html_escape(refusal.footer));
    }
    if plan.has_changes() {
        head.push_str(&markdown_impact(plan));
    }

    let changes = shown_changes(plan);
    let destructive: Vec<&Change> = changes
        .iter()
        .copied()
        .filter(|c| is_destructive(c.action))
        .collect();

    // Sections, in order; each may be elided.
    let mut sections = Vec::new();
    for change in &changes {
        let lines = change_lines(change);
        let summary = format!(
            "{} {}{}",
            code(&format!("{} {}", change_symbol(change), shown_addr(change))),
            html_escape(describe(change).trim_end()),
            html_escape(&via(change))
        );
        let summary = summary.trim_end();
        if lines.is_empty() {
            // A move that changes nothing: one line, no details.
            let line = match &change.moved_from {
                Some(from) => format!(
                    "{} has moved to {}\n\n",
                    code(&from.to_string()),
                    code(&change.addr.to_string())
                ),
                None => format!("{summary}\n\n"),
            };
            sections.push(line);
        } else {
            sections.push(details(summary, &lines));
        }
    }
    let outputs: Vec<String> = plan.output_changes.iter().filter_map(output_line).collect();
    if !outputs.is_empty() {
        sections.push(details("Changes to outputs", &outputs));
    }

    // The room any elision line might need.
    const RESERVE: usize = 200;
    let mut out = head;
    if !destructive.is_empty() {
        let mut list = format!(
            "> [!WARNING]\n> **{} destructive action{}:**\n",
            destructive.len(),
            if destructive.len() == 1 { "" } else { "s" }
        );
        // The list stays whole unless it alone would break the limit; then it
        // is cut with a count, since the bound is absolute.
        for (index, change) in destructive.iter().enumerate() {
            let item = format!(
                "> - {} {}{}\n",
                code(&format!("{} {}", symbol(change.action), change.addr)),
                html_escape(describe(change).trim_end()),
                html_escape(&via(change))
            );
            if out.len() + list.len() + item.len() + 2 * RESERVE > MARKDOWN_LIMIT {
                let _ = writeln!(
                    list,
                    "> - … {} more destructive actions, not listed to fit (see `infra plan`)",
                    destructive.len() - index
                );
                break;
            }
            list.push_str(&item);
        }
        list.push('\n');
        out.push_str(&list);
    }
    let total = sections.len();
    for (index, section) in sections.into_iter().enumerate() {
        if out.len() + section.len() + RESERVE > MARKDOWN_LIMIT {
            let _ = writeln!(
                out,
                "… {} more resources, details elided to fit",
                total - index
            );
            break;
        }
        out.push_str(&section);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::addr::{InstanceAddr, InstanceKey, ProviderAddr, ResourceAddr};
    use crate::expand::EnvironmentInfo;
    use crate::plan::{AttributeDrift, PriorVersion};

    const CANARY: &str = "canary-s3cr3t-7d1f0c";

    fn addr(name: &str) -> InstanceAddr {
        ResourceAddr::managed("test_resource", name).instance(InstanceKey::None)
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn change(name: &str, action: Action, before: Option<Attributes>, after: Attributes) -> Change {
        Change {
            addr: addr(name),
            resource_type: String::from("test_resource"),
            provider: ProviderAddr::named("test"),
            action,
            before,
            after,
            replace_paths: Vec::new(),
            reason: None,
            import_id: None,
            moved_from: None,
            deploy: None,
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            stack: String::from("shop"),
            environment: EnvironmentInfo {
                name: String::from("prod"),
                protected: false,
            },
            prior: Some(PriorVersion {
                lineage: String::from("lin"),
                serial: 3,
            }),
            changes,
            drift: Vec::new(),
            output_changes: Vec::new(),
            config_digest: String::from("abc"),
            impact: crate::plan::Impact::default(),
            targets: Vec::new(),
            policy: None,
        }
    }

    fn secret(text: &str) -> Value {
        Value::string(text).with_secret(true)
    }

    /// One change of every kind, with secrets, unknowns, drift and outputs.
    fn full_plan() -> Plan {
        let create = change(
            "web",
            Action::Create,
            None,
            attrs(&[
                ("name", Value::from("web")),
                ("id", Value::UNKNOWN),
                ("password", secret(CANARY)),
            ]),
        );
        let update = change(
            "api",
            Action::Update,
            Some(attrs(&[
                ("name", Value::from("api")),
                ("size", Value::from(1)),
                ("zone", Value::from("a")),
                ("region", Value::from("eu")),
                ("token", secret(CANARY)),
                (
                    "nested",
                    Value::map(crate::lang::Map::from([("k".to_owned(), secret(CANARY))])),
                ),
            ])),
            attrs(&[
                ("name", Value::from("api")),
                ("size", Value::from(2)),
                ("zone", Value::from("a")),
                ("region", Value::from("eu")),
                ("token", secret("other-secret")),
                (
                    "nested",
                    Value::map(crate::lang::Map::from([("k".to_owned(), Value::UNKNOWN)])),
                ),
            ]),
        );
        let mut replace = change(
            "db",
            Action::Replace {
                create_before_destroy: false,
            },
            Some(attrs(&[
                ("name", Value::from("db1")),
                ("id", Value::from("i-1")),
            ])),
            attrs(&[("name", Value::from("db2")), ("id", Value::UNKNOWN)]),
        );
        replace.replace_paths = vec![vec![String::from("name")]];
        replace.reason = Some(Reason::ReplaceForced);
        let mut delete = change(
            "old",
            Action::Delete,
            Some(attrs(&[
                ("name", Value::from("old")),
                ("key", secret(CANARY)),
            ])),
            Attributes::new(),
        );
        delete.reason = Some(Reason::NoLongerInConfiguration);
        let mut read = change(
            "lookup",
            Action::Read,
            None,
            attrs(&[("name", Value::from("x"))]),
        );
        read.addr.resource.mode = Mode::Data;
        let noop = change(
            "same",
            Action::NoOp,
            Some(attrs(&[("name", Value::from("same"))])),
            attrs(&[("name", Value::from("same"))]),
        );
        let mut plan = plan(vec![create, update, replace, delete, read, noop]);
        plan.drift = vec![
            Drift {
                addr: addr("api"),
                resource_type: String::from("test_resource"),
                kind: DriftKind::Changed(vec![
                    AttributeDrift {
                        name: String::from("size"),
                        before: Value::from(1),
                        after: Value::from(5),
                    },
                    AttributeDrift {
                        name: String::from("token"),
                        before: secret(CANARY),
                        after: secret("x"),
                    },
                ]),
            },
            Drift {
                addr: addr("gone"),
                resource_type: String::from("test_resource"),
                kind: DriftKind::Deleted,
            },
        ];
        plan.output_changes = vec![
            OutputChange {
                name: String::from("url"),
                action: Action::Create,
                before: None,
                after: Some(Value::UNKNOWN),
                sensitive: false,
            },
            OutputChange {
                name: String::from("dsn"),
                action: Action::Update,
                before: Some(Value::from(CANARY)),
                after: Some(Value::from("postgres://x")),
                sensitive: true,
            },
        ];
        plan.impact = sample_impact();
        plan
    }

    fn sample_impact() -> Impact {
        use crate::plan::{Blast, DowntimeRisk, Irreversible, IrreversibleReason, RollbackPlan};
        let replace = Action::Replace {
            create_before_destroy: false,
        };
        Impact {
            blast_radius: vec![Blast {
                addr: addr("db"),
                action: replace,
                downstream: 7,
                at_least: false,
                named: vec![addr("app"), addr("web")],
            }],
            downtime: vec![DowntimeRisk {
                addr: addr("db"),
                action: replace,
                reason: DowntimeReason::DestroyBeforeCreate,
                dependents: 7,
            }],
            rollback: RollbackPlan {
                supersedes: Some(3),
                command: Some(String::from("infra rollback --env prod --to 3")),
                irreversible: vec![Irreversible {
                    subject: String::from("test_resource.db"),
                    reason: IrreversibleReason::Replaced,
                }],
            },
            refused: Vec::new(),
        }
    }

    #[test]
    fn impact_in_every_format() {
        let p = full_plan();
        let text = human(&p);
        let summary = text.find("Plan: ").unwrap();
        let impact = text.find("Impact:").unwrap();
        assert!(summary < impact, "{text}");
        assert!(
            text.contains("-/+ test_resource.db: 7 downstream (test_resource.app, test_resource.web and 5 more)"),
            "{text}"
        );
        assert!(
            text.contains("is destroyed before its replacement exists"),
            "{text}"
        );
        assert!(
            text.contains("Rollback: `infra rollback --env prod --to 3` returns to state serial 3"),
            "{text}"
        );
        let out = markdown(&p);
        let summary = out.find("**Plan: ").unwrap();
        let impact = out.find("### Impact").unwrap();
        let warning = out.find("[!WARNING]").unwrap();
        assert!(summary < impact && impact < warning, "{out}");
        let doc: serde_json::Value = serde_json::from_str(&json(&p)).unwrap();
        assert_eq!(doc["impact"]["blast_radius"][0]["downstream"], 7);
        assert_eq!(
            doc["impact"]["downtime"][0]["reason"],
            "destroy_before_create"
        );
        assert_eq!(doc["impact"]["rollback"]["supersedes"], 3);
        assert_eq!(
            doc["impact"]["rollback"]["irreversible"][0]["reason"],
            "replaced"
        );
    }

    #[test]
    fn markdown_impact_stays_short_for_huge_plans() {
        let mut p = plan(
            (0..10_000)
                .map(|i| {
                    change(
                        &format!("r{i}"),
                        Action::Delete,
                        Some(Attributes::new()),
                        Attributes::new(),
                    )
                })
                .collect(),
        );
        let mut impact = sample_impact();
        impact.blast_radius = (0..10_000)
            .map(|i| crate::plan::Blast {
                addr: addr(&format!("r{i}")),
                action: Action::Delete,
                downstream: i,
                at_least: false,
                named: vec![addr("x"); 5],
            })
            .collect();
        p.impact = impact;
        let out = markdown(&p);
        assert!(out.len() < MARKDOWN_LIMIT, "{} bytes", out.len());
        let section = &out[out.find("### Impact").unwrap()..out.find("[!WARNING]").unwrap()];
        assert!(section.len() < 4_000, "{section}");
        // The largest blast radius comes first.
        assert!(
            section.contains("test_resource.r9999: 9999 downstream"),
            "{section}"
        );
        assert!(section.contains("… 9995 more"), "{section}");
    }

    #[test]
    fn a_change_through_an_aliased_configuration_names_it_in_every_format() {
        let mut staging = change("site", Action::Create, None, attrs(&[]));
        staging.provider = ProviderAddr::new("ssh", Some("staging".to_owned()));
        let plain = change("other", Action::Create, None, attrs(&[]));
        let plan = plan(vec![staging, plain]);
        let out = human(&plan);
        assert!(
            out.contains("  + test_resource.site will be created (via ssh.staging)\n"),
            "{out}"
        );
        assert!(
            out.contains("  + test_resource.other will be created\n"),
            "{out}"
        );
        let doc: serde_json::Value = serde_json::from_str(&json(&plan)).unwrap();
        let mut providers: Vec<&str> = doc["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|change| change["provider"].as_str().unwrap())
            .collect();
        providers.sort_unstable();
        assert_eq!(providers, ["ssh.staging", "test"]);
        let comment = markdown(&plan);
        assert!(
            comment.contains("<code>+ test_resource.site</code> will be created (via ssh.staging)"),
            "{comment}"
        );
        assert!(
            comment.contains("<code>+ test_resource.other</code> will be created\n"),
            "{comment}"
        );
        // Destructive actions are listed on their own, with the configuration too.
        let mut gone = change("site", Action::Delete, Some(attrs(&[])), attrs(&[]));
        gone.provider = ProviderAddr::new("ssh", Some("staging".to_owned()));
        let comment = markdown(&self::plan(vec![gone]));
        assert!(
            comment.contains(
                "<code>- test_resource.site</code> will be destroyed (via ssh.staging)\n"
            ),
            "{comment}"
        );
    }

    #[test]
    fn human_shows_every_action_symbol_and_summary() {
        let out = human(&full_plan());
        assert!(
            out.contains("  + test_resource.web will be created"),
            "{out}"
        );
        assert!(
            out.contains("  ~ test_resource.api will be updated in place"),
            "{out}"
        );
        assert!(
            out.contains("-/+ test_resource.db must be replaced (forces replacement: name)"),
            "{out}"
        );
        assert!(
            out.contains("  - test_resource.old will be destroyed (no longer in configuration)"),
            "{out}"
        );
        assert!(
            out.contains(" <= data.test_resource.lookup will be read"),
            "{out}"
        );
        assert!(!out.contains("test_resource.same"), "{out}");
        assert!(out.contains("~ size = 1 -> 2"), "{out}");
        assert!(out.contains("+ name = \"web\""), "{out}");
        assert!(out.contains("- name = \"old\""), "{out}");
        assert!(
            out.contains("~ name = \"db1\" -> \"db2\" # forces replacement"),
            "{out}"
        );
        assert!(out.contains("# (3 unchanged attributes hidden)"), "{out}");
        assert!(out.contains("~ token = (secret) -> (secret)"), "{out}");
        assert!(
            out.contains("\nPlan: 2 to add, 1 to change, 2 to destroy.\n\nImpact:\n"),
            "{out}"
        );
    }

    #[test]
    fn markdown_drift_comes_first() {
        let out = markdown(&full_plan());
        let drift = out.find("Objects changed outside infra (2)").unwrap();
        let summary = out.find("| Add | Change | Destroy |").unwrap();
        let warning = out.find("destructive action").unwrap();
        assert!(drift < summary && drift < warning, "{out}");
        assert!(out.starts_with("## infra plan:"), "{out}");
    }

    #[test]
    fn human_drift_comes_first() {
        let out = human(&full_plan());
        let drift = out.find("Objects changed outside infra").unwrap();
        let actions = out.find("will be created").unwrap();
        assert!(drift < actions);
        assert!(out.contains("~ test_resource.api was changed outside infra"));
        assert!(out.contains("      ~ size = 1 -> 5"));
        assert!(out.contains("- test_resource.gone was deleted outside infra"));
        let without = plan(vec![change("a", Action::Create, None, Attributes::new())]);
        assert!(!human(&without).contains("outside infra"));
    }

    #[test]
    fn unknowns_are_known_after_apply() {
        let out = human(&full_plan());
        assert!(out.contains("+ id = (known after apply)"), "{out}");
        assert!(
            out.contains("~ id = \"i-1\" -> (known after apply)"),
            "{out}"
        );
        assert!(out.contains("+ url = (known after apply)"), "{out}");
        let doc: serde_json::Value = serde_json::from_str(&json(&full_plan())).unwrap();
        let web = &doc["resource_changes"][0];
        assert_eq!(web["after"]["id"], serde_json::Value::Null);
        assert_eq!(web["after_unknown"]["id"], true);
        assert_eq!(web["after_unknown"]["name"], false);
        let api = &doc["resource_changes"][1];
        assert_eq!(api["after_unknown"]["nested"]["k"], true);
        assert_eq!(doc["output_changes"]["url"]["after_unknown"], true);
    }

    #[test]
    fn multi_line_strings_diff_by_line() {
        let before = "line one\nline two\nline three\n";
        let after = "line one\nline 2\nline three\n";
        let p = plan(vec![change(
            "conf",
            Action::Update,
            Some(attrs(&[("content", Value::from(before))])),
            attrs(&[("content", Value::from(after))]),
        )]);
        let out = human(&p);
        assert!(out.contains("~ content = <<-DIFF"), "{out}");
        assert!(out.contains("@@ -1,3 +1,3 @@"), "{out}");
        assert!(out.contains("    -line two\n"), "{out}");
        assert!(out.contains("    +line 2\n"), "{out}");
        assert!(out.contains("     line one\n"), "{out}");
        // A secret multi-line string is never diffed.
        let p = plan(vec![change(
            "conf",
            Action::Update,
            Some(attrs(&[("content", secret(&format!("a\n{CANARY}\n")))])),
            attrs(&[("content", secret("a\nb\n"))]),
        )]);
        let out = human(&p);
        assert!(out.contains("~ content = (secret) -> (secret)"), "{out}");
        assert!(!out.contains(CANARY));
    }

    #[test]
    fn canary_secret_never_appears() {
        let p = full_plan();
        for (name, out) in [
            ("human", human(&p)),
            ("json", json(&p)),
            ("markdown", markdown(&p)),
        ] {
            assert!(!out.contains(CANARY), "{name} leaked the secret:\n{out}");
            assert!(
                !out.contains("other-secret"),
                "{name} leaked the secret:\n{out}"
            );
            assert!(
                !out.contains("postgres://x"),
                "{name} leaked a sensitive output:\n{out}"
            );
        }
        let doc: serde_json::Value = serde_json::from_str(&json(&p)).unwrap();
        let api = &doc["resource_changes"][1];
        assert_eq!(api["before"]["token"], serde_json::Value::Null);
        assert_eq!(api["before_sensitive"]["token"], true);
        assert_eq!(api["before_sensitive"]["name"], false);
        assert_eq!(api["before_sensitive"]["nested"]["k"], true);
        assert_eq!(api["after_sensitive"]["token"], true);
        assert_eq!(doc["output_changes"]["dsn"]["after_sensitive"], true);
        assert_eq!(
            doc["output_changes"]["dsn"]["after"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn json_shape() {
        let doc: serde_json::Value = serde_json::from_str(&json(&full_plan())).unwrap();
        assert_eq!(doc["format_version"], "1.0");
        assert_eq!(doc["environment"]["name"], "prod");
        let changes = doc["resource_changes"].as_array().unwrap();
        assert_eq!(changes.len(), 6);
        let actions: Vec<serde_json::Value> =
            changes.iter().map(|c| c["actions"].clone()).collect();
        assert_eq!(
            actions,
            vec![
                serde_json::json!(["create"]),
                serde_json::json!(["update"]),
                serde_json::json!(["delete", "create"]),
                serde_json::json!(["delete"]),
                serde_json::json!(["read"]),
                serde_json::json!(["no-op"]),
            ]
        );
        assert_eq!(changes[2]["replace_paths"], serde_json::json!([["name"]]));
        assert_eq!(changes[0]["before"], serde_json::Value::Null);
        assert_eq!(changes[3]["after"], serde_json::Value::Null);
        assert_eq!(changes[4]["address"], "data.test_resource.lookup");
        assert_eq!(changes[4]["mode"], "data");
        assert_eq!(doc["resource_drift"][0]["attributes"][0]["after"], 5);
        assert_eq!(
            doc["resource_drift"][1]["actions"],
            serde_json::json!(["delete"])
        );
        let cbd = plan(vec![change(
            "x",
            Action::Replace {
                create_before_destroy: true,
            },
            Some(Attributes::new()),
            Attributes::new(),
        )]);
        let cbd: serde_json::Value = serde_json::from_str(&json(&cbd)).unwrap();
        assert_eq!(
            cbd["resource_changes"][0]["actions"],
            serde_json::json!(["create", "delete"])
        );
    }

    /// The field names in the doc's tables under a heading starting with `heading`.
    fn documented(heading: &str) -> Vec<String> {
        let doc = include_str!("../../docs/json-plan.md");
        let mut fields = Vec::new();
        let mut inside = false;
        for line in doc.lines() {
            if line.starts_with('#') {
                inside = line.trim_start_matches('#').trim().starts_with(heading);
                continue;
            }
            if inside && let Some(rest) = line.strip_prefix("| `") {
                let name = rest.split('`').next().unwrap_or_default();
                fields.push(name.to_owned());
            }
        }
        assert!(!fields.is_empty(), "no fields documented under {heading}");
        fields
    }

    #[test]
    fn every_documented_field_is_in_the_output() {
        let doc: serde_json::Value = serde_json::from_str(&json(&full_plan())).unwrap();
        let has = |object: &serde_json::Value, field: &str, what: &str| {
            assert!(
                object.as_object().is_some_and(|o| o.contains_key(field)),
                "documented {what} field `{field}` missing from {object}"
            );
        };
        for field in documented("Top-level fields") {
            has(&doc, &field, "top-level");
        }
        for change in doc["resource_changes"].as_array().unwrap() {
            for field in documented("Resource change fields") {
                has(change, &field, "resource change");
            }
        }
        for field in documented("Output change fields") {
            has(&doc["output_changes"]["url"], &field, "output change");
        }
        for field in documented("Drift fields") {
            has(&doc["resource_drift"][0], &field, "drift");
        }
        for field in documented("Impact fields") {
            has(&doc["impact"], &field, "impact");
        }
        for field in documented("Rollback fields") {
            has(&doc["impact"]["rollback"], &field, "rollback");
        }
        for field in documented("Drift attribute fields") {
            has(
                &doc["resource_drift"][0]["attributes"][0],
                &field,
                "drift attribute",
            );
        }
    }

    #[test]
    fn empty_plan_says_no_changes() {
        let p = plan(Vec::new());
        assert_eq!(human(&p), format!("{NO_CHANGES}\n"));
        assert!(markdown(&p).contains(NO_CHANGES));
        assert!(!markdown(&p).contains("WARNING"));
        let doc: serde_json::Value = serde_json::from_str(&json(&p)).unwrap();
        assert_eq!(doc["has_changes"], false);
        assert_eq!(doc["resource_changes"], serde_json::json!([]));
        // No-ops alone are no changes either.
        let p = plan(vec![change(
            "same",
            Action::NoOp,
            Some(attrs(&[("name", Value::from("a"))])),
            attrs(&[("name", Value::from("a"))]),
        )]);
        assert_eq!(human(&p), format!("{NO_CHANGES}\n"));
    }

    #[test]
    fn summary_wording() {
        let p = plan(vec![
            change("a", Action::Create, None, Attributes::new()),
            change("b", Action::Create, None, Attributes::new()),
            change("c", Action::Create, None, Attributes::new()),
            change(
                "d",
                Action::Update,
                Some(Attributes::new()),
                Attributes::new(),
            ),
        ]);
        assert!(human(&p).contains("\nPlan: 3 to add, 1 to change, 0 to destroy.\n"));
        assert!(markdown(&p).contains("Plan: 3 to add, 1 to change, 0 to destroy."));
    }

    #[test]
    fn markdown_comment() {
        let out = markdown(&full_plan());
        assert!(out.starts_with("## infra plan: <code>prod</code>"), "{out}");
        assert!(out.contains("| 2 | 1 | 2 |"), "{out}");
        let warning = out.find("[!WARNING]").unwrap();
        // Drift's details come first; the changes' details after the warning.
        let first_details = out.find("<details><summary><code>").unwrap();
        assert!(warning < first_details, "{out}");
        assert!(out.contains("> **2 destructive actions:**"), "{out}");
        assert!(
            out.contains("> - <code>-/+ test_resource.db</code>"),
            "{out}"
        );
        assert!(
            out.contains("> - <code>- test_resource.old</code>"),
            "{out}"
        );
        assert!(out.contains("```diff\n! nested = { k = (secret) } -> { k = (known after apply) }\n! size = 1 -> 2\n"), "{out}");
        assert_eq!(
            out.matches("<details>").count(),
            out.matches("</details>").count()
        );
        assert!(!out.contains("elided"));
    }

    #[test]
    fn markdown_stays_under_the_limit() {
        let mut changes: Vec<Change> = (0..10_000)
            .map(|i| {
                change(
                    &format!("r{i}"),
                    Action::Update,
                    Some(attrs(&[("value", Value::from(format!("old value {i}")))])),
                    attrs(&[("value", Value::from(format!("new value {i}")))]),
                )
            })
            .collect();
        for i in [10, 5_000, 9_999] {
            changes[i].action = Action::Delete;
        }
        let p = plan(changes);
        let out = markdown(&p);
        assert!(out.len() < MARKDOWN_LIMIT, "{} bytes", out.len());
        assert!(out.chars().count() < MARKDOWN_LIMIT);
        assert!(out.contains("| 0 | 9997 | 3 |"), "summary table");
        assert!(out.contains("**Plan: 0 to add, 9997 to change, 3 to destroy.**"));
        for name in ["r10", "r5000", "r9999"] {
            assert!(
                out.contains(&format!("> - <code>- test_resource.{name}</code>")),
                "{name}"
            );
        }
        let shown = out.matches("<details>").count();
        assert!(shown > 0);
        assert!(
            out.contains(&format!(
                "… {} more resources, details elided to fit",
                10_000 - shown
            )),
            "{}",
            &out[out.len() - 300..]
        );
        assert_eq!(shown, out.matches("</details>").count());

        // Even when every change is destructive the bound holds.
        let all: Vec<Change> = (0..10_000)
            .map(|i| {
                change(
                    &format!("r{i}"),
                    Action::Delete,
                    Some(Attributes::new()),
                    Attributes::new(),
                )
            })
            .collect();
        let out = markdown(&plan(all));
        assert!(out.len() < MARKDOWN_LIMIT, "{} bytes", out.len());
        assert!(out.contains("**Plan: 0 to add, 0 to change, 10000 to destroy.**"));
        assert!(out.contains("more destructive actions, not listed to fit"));
    }
}
