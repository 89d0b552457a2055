//! `infra output [NAME] [-C DIR] [--env E] [--json] [--raw] [--show-secrets]`:
//! the outputs recorded by the last apply.
//!
//! Terminology: a *sensitive* output was declared `sensitive = true`; its
//! value is shown as `(sensitive)` unless `--show-secrets` is given.
//!
//! Invariant: reads only (no lock, nothing written). Without
//! `--show-secrets` no plaintext of a secret is printed, in any format.

use super::args::EnvSelect;
use super::state::locate;
use super::{Ctx, Exit};
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::lang::{Kind, Number, Value};
use crate::state::OutputState;

/// Print the outputs recorded by the last apply.
#[derive(Debug, clap::Args)]
pub(super) struct OutputCommand {
    #[command(flatten)]
    env: EnvSelect,

    /// Only this output.
    #[arg(value_name = "NAME")]
    name: Option<String>,

    /// JSON: an object `{NAME: {"sensitive": bool, "value": …}}`, or one such
    /// entry with NAME; `value` is left out of a sensitive output unless
    /// `--show-secrets`.
    #[arg(long, conflicts_with = "raw")]
    json: bool,

    /// With NAME: print a string value as it is, without quotes (for scripts).
    #[arg(long, requires = "name")]
    raw: bool,

    /// Show sensitive values and secrets in plaintext.
    #[arg(long)]
    show_secrets: bool,
}

impl OutputCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let Ok(located) = locate(ctx, self.env.environment.as_deref()) else {
            return Exit::Failure;
        };
        let host = ctx.host;
        let stored = located.backend(host);
        let backend = stored.as_ref();
        let Ok((state, key)) = super::state::read_opened(ctx, &located) else {
            return Exit::Failure;
        };
        let path = backend.state_path();
        let mut opened: Vec<(&String, &OutputState, Value)> = Vec::new();
        for (name, output) in &state.outputs {
            if self.name.as_ref().is_some_and(|wanted| wanted != name) {
                continue;
            }
            match key.open(&output.value, Some(&path)) {
                Ok(value) => opened.push((name, output, value)),
                Err(error) => return ctx.report_one(error.to_diagnostic()),
            }
        }
        if let Some(wanted) = &self.name
            && opened.is_empty()
        {
            let names: Vec<&str> = state.outputs.keys().map(String::as_str).collect();
            let mut help = match did_you_mean(wanted, names.iter().copied()) {
                Some(near) => format!("did you mean `{near}`? "),
                None => String::new(),
            };
            if names.is_empty() {
                help.push_str("the state records no outputs");
            } else {
                help.push_str(&format!("the outputs are {}", names.join(", ")));
            }
            return ctx.report_one(
                Diagnostic::error_at_path(
                    Code::StateNoSuchOutput,
                    Some(format!("output \"{wanted}\"")),
                )
                .with_help(help),
            );
        }
        let show = self.show_secrets;
        let text = if self.json {
            let entry = |output: &OutputState, value: &Value| {
                let mut object = serde_json::Map::new();
                object.insert(
                    String::from("sensitive"),
                    serde_json::Value::Bool(output.sensitive),
                );
                if show || !output.sensitive {
                    object.insert(String::from("value"), to_json(value, show));
                }
                serde_json::Value::Object(object)
            };
            let document = match (&self.name, opened.first()) {
                (Some(_), Some((_, output, value))) => entry(output, value),
                _ => serde_json::Value::Object(
                    opened
                        .iter()
                        .map(|(name, output, value)| ((*name).clone(), entry(output, value)))
                        .collect(),
                ),
            };
            format!(
                "{}\n",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            )
        } else {
            let shown = |output: &OutputState, value: &Value| -> String {
                if output.sensitive && !show {
                    String::from("(sensitive)")
                } else if show {
                    value.reveal().to_string()
                } else {
                    value.to_string()
                }
            };
            match (&self.name, opened.first()) {
                (Some(_), Some((_, output, value))) => {
                    let hidden = (output.sensitive || value.contains_secret()) && !show;
                    match value.kind() {
                        Kind::String(text) if self.raw && !hidden => format!("{text}\n"),
                        _ => format!("{}\n", shown(output, value)),
                    }
                }
                _ => {
                    let width = opened.iter().map(|(n, ..)| n.len()).max().unwrap_or(0);
                    opened
                        .iter()
                        .map(|(name, output, value)| {
                            format!("{name:<width$} = {}\n", shown(output, value))
                        })
                        .collect()
                }
            }
        };
        if self.raw {
            // `--raw` is for scripts: the value exactly as stored.
            ctx.out_exact(&text);
        } else {
            ctx.out(&text);
        }
        Exit::Success
    }
}

/// The value as JSON; a secret part is the string `(secret)` unless `show`.
fn to_json(value: &Value, show: bool) -> serde_json::Value {
    if value.is_secret() && !show {
        return serde_json::Value::String(String::from("(secret)"));
    }
    match value.kind() {
        Kind::Null | Kind::Unknown => serde_json::Value::Null,
        Kind::Bool(b) => serde_json::Value::Bool(*b),
        Kind::Number(Number::Int(i)) => serde_json::Value::from(*i),
        Kind::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Kind::String(s) => serde_json::Value::String(s.clone()),
        Kind::List(items) => {
            serde_json::Value::Array(items.iter().map(|item| to_json(item, show)).collect())
        }
        Kind::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v, show)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn secrets_inside_json_are_hidden_unless_asked() {
        let mut map = BTreeMap::new();
        map.insert(String::from("user"), Value::string("ana"));
        map.insert(
            String::from("password"),
            Value::string("hunter2").with_secret(true),
        );
        let value = Value::map(map.into());
        let hidden = to_json(&value, false).to_string();
        assert!(!hidden.contains("hunter2"), "{hidden}");
        assert!(hidden.contains("(secret)") && hidden.contains("ana"));
        assert!(to_json(&value, true).to_string().contains("hunter2"));
    }
}
