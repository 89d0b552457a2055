//! Settling the calls an interrupted apply left pending: before a writing
//! command plans, each create, update or delete whose start was journalled
//! and whose result was not is handed to its provider's
//! [`Provider::resume`](crate::providers::Provider::resume) with its last
//! checkpoint, and what the provider settled is recorded.
//!
//! Invariant: no printing; the caller writes the returned state as a version
//! of its own and appends the returned audit actions. A failed resume
//! changes nothing: the call stays pending for the next command.

use super::run::{Opened, PlanRequest, configure_providers, known_from_prior};
use super::{Checked, expand};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::host::Host;
use crate::lang::Value;
use crate::providers::provider::seal_returned;
use crate::providers::{Attributes, ObjectState, Operation, Resumed};
use crate::state::audit::{ActionOutcome, AuditAction, AuditPhase};
use crate::state::{CallKind, InstanceState, PendingCall, SealedValue, State};
use std::sync::Arc;

/// What the pending calls settled to.
pub(crate) struct Settled {
    /// The state with each settled call recorded and no call pending.
    pub state: State,
    /// One audit action per call (`resume update`).
    pub actions: Vec<AuditAction>,
    /// One line per call for the user.
    pub notes: Vec<String>,
}

/// Resumes every pending call of `opened.prior`; `Some(None)` when there is
/// none, `None` when one failed (the diagnostics say why).
pub(crate) fn resume_pending(
    host: &Arc<dyn Host>,
    checked: &Checked,
    opened: &Opened,
    request: &PlanRequest,
    diagnostics: &mut Diagnostics,
) -> Option<Option<Settled>> {
    let Some(state) = opened
        .prior
        .as_ref()
        .filter(|state| !state.pending.is_empty())
    else {
        return Some(None);
    };
    // The providers need their settings, which the configuration gives.
    let known = Arc::new(known_from_prior(host.as_ref(), opened, diagnostics)?);
    let expand_request = crate::expand::Request {
        environment: request.environment.clone(),
        vars: request.vars.clone(),
        known_objects: known as Arc<dyn crate::expand::KnownObjects>,
        known_secrets: opened.known_secrets.clone(),
        only: None,
    };
    let (expanded, expand_diagnostics) = expand(host.as_ref(), checked, &expand_request);
    let expanded = match expanded {
        Some(expanded) if !expand_diagnostics.has_errors() => expanded,
        _ => {
            diagnostics.extend(expand_diagnostics);
            return None;
        }
    };
    let refused =
        opened
            .runtime
            .block_on(configure_providers(checked, &expanded, &opened.providers));
    if refused.has_errors() {
        diagnostics.extend(refused);
        return None;
    }
    let objects = match crate::plan::prior_objects(state, &opened.key) {
        Ok(objects) => objects,
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            return None;
        }
    };
    let mut settled = Settled {
        state: state.clone(),
        actions: Vec::new(),
        notes: Vec::new(),
    };
    for pending in &state.pending {
        let prior = objects
            .get(&pending.instance)
            .map(|prior| prior.object.clone());
        match resume_one(host.as_ref(), opened, pending, prior, &mut settled) {
            Ok(()) => {}
            Err(help) => {
                diagnostics.push(
                    Diagnostic::error_at_path(
                        Code::ApplyProviderError,
                        Some(pending.instance.to_string()),
                    )
                    .with_help(format!(
                        "{help}. Nothing was planned or changed, and the call stays pending: run \
                         the command again once the provider can answer"
                    )),
                );
                return None;
            }
        }
    }
    settled.state.pending.clear();
    Some(Some(settled))
}

/// Resumes one call and records what it settled to in `settled`; `Err` is
/// the help text of the failure.
fn resume_one(
    host: &dyn Host,
    opened: &Opened,
    pending: &PendingCall,
    recorded: Option<ObjectState>,
    settled: &mut Settled,
) -> Result<(), String> {
    let addr = &pending.instance;
    let call = pending.call.as_str();
    let provider = opened
        .providers
        .lookup(&pending.resource_type, &pending.provider)
        .cloned()
        .ok_or_else(|| match &pending.provider.alias {
            Some(alias) => format!(
                "the interrupted {call} of `{addr}` was made through provider configuration \
                 `{}`, which has no `provider \"{}\" {{ alias = \"{alias}\" ... }}` block: put \
                 the block back so that it can be resumed",
                pending.provider, pending.provider.name
            ),
            None => format!(
                "provider `{}` is not available in this build of infra, so the interrupted \
                 {call} of `{addr}` cannot be resumed",
                pending.provider
            ),
        })?;
    let key = &opened.key;
    let open_map = |sealed: &SealedValue| -> Result<Attributes, String> {
        key.open(sealed, None)
            .map(|value| value.as_map().cloned().unwrap_or_default())
            .map_err(|error| error.to_string())
    };
    let planned = open_map(&pending.planned)?;
    // The object the call started from: the one it journalled (a deposed
    // object is no longer at the address), else the one state records.
    let prior = match (&pending.prior, pending.call) {
        (_, CallKind::Create) => None,
        (Some(sealed), _) => {
            let attributes = open_map(sealed)?;
            Some(ObjectState {
                id: attributes
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                attributes,
            })
        }
        (None, _) => recorded.clone(),
    };
    let op = Operation::detached();
    let started = std::time::Instant::now();
    let rt = pending.resource_type.as_str();
    let result = opened.runtime.block_on(provider.resume(
        &op,
        rt,
        prior.as_ref(),
        &planned,
        pending.checkpoint.as_ref(),
    ));
    let failed = |error: crate::providers::ProviderError| {
        format!(
            "provider `{}` failed to resume the interrupted {call} of `{addr}`: {}",
            pending.provider, error.message
        )
    };
    let Resumed::Settled(object) = result.map_err(failed)?;
    let outcome = match (object, pending.deposed) {
        (None, true) => "the replaced object is gone".to_owned(),
        (Some(object), true) => {
            // The old object of a replacement is still there: finish its delete.
            opened
                .runtime
                .block_on(provider.delete(&op, rt, &object))
                .map_err(failed)?;
            "the replaced object was deleted".to_owned()
        }
        (None, false) => {
            settled.state.remove_instance(addr);
            "nothing exists".to_owned()
        }
        (Some(object), false) => {
            let inputs = if pending.call == CallKind::Delete {
                prior
                    .as_ref()
                    .map(|p| p.attributes.clone())
                    .unwrap_or_default()
            } else {
                planned.clone()
            };
            let attributes = match provider.schema(rt) {
                Some(schema) => seal_returned(schema, &inputs, object.attributes),
                None => object.attributes,
            };
            let shown = shown_id(&object.id, &attributes, &inputs);
            let sealed = key
                .seal(host, &Value::map(attributes))
                .map_err(|error| error.to_string())?;
            let existing = settled.state.instance(addr).cloned();
            let dependencies = if pending.dependencies.is_empty() {
                existing
                    .as_ref()
                    .map(|i| i.dependencies.clone())
                    .unwrap_or_default()
            } else {
                pending.dependencies.clone()
            };
            let config = pending
                .config
                .clone()
                .or_else(|| existing.map(|i| i.config))
                .unwrap_or_default();
            settled.state.set_instance(
                &addr.resource,
                &pending.provider,
                InstanceState {
                    key: addr.key.clone(),
                    attributes: sealed,
                    dependencies,
                    config,
                },
            );
            format!("recorded object {shown}")
        }
    };
    let step = pending
        .checkpoint
        .as_ref()
        .and_then(|checkpoint| checkpoint.get("step"))
        .and_then(serde_json::Value::as_str)
        .map(|step| format!(" from checkpoint `{step}`"))
        .unwrap_or_default();
    settled.notes.push(format!(
        "resumed the interrupted {call} of {addr}{step}: {outcome}"
    ));
    let now = host.now_unix_millis();
    settled.actions.push(AuditAction {
        address: addr.to_string(),
        action: format!("resume {call}"),
        outcome: ActionOutcome::Succeeded,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error: None,
        phases: op
            .phases()
            .into_iter()
            .map(|phase| AuditPhase { at_ms: now, phase })
            .chain(std::iter::once(AuditPhase {
                at_ms: now,
                phase: format!("settled{step}: {outcome}"),
            }))
            .collect(),
    });
    Ok(())
}

/// How a resumed object's id is named in the notes and the audit log: in
/// backticks, or `(secret)` when its `id` attribute is secret, or, without
/// one, when any input is (an id made from a secret, as a file path that
/// holds one, is one).
fn shown_id(id: &str, attributes: &Attributes, inputs: &Attributes) -> String {
    let secret = match attributes.get("id") {
        Some(value) => value.contains_secret(),
        None => inputs.values().any(Value::contains_secret),
    };
    if secret {
        "(secret)".to_owned()
    } else {
        format!("`{id}`")
    }
}

#[cfg(test)]
mod tests {
    use super::shown_id;
    use crate::lang::{Map, Value};

    fn map(entries: &[(&str, Value)]) -> Map {
        let mut map = Map::new();
        for (name, value) in entries {
            map.insert((*name).to_owned(), value.clone());
        }
        map
    }

    #[test]
    fn a_resumed_id_made_from_a_secret_is_never_shown() {
        let secret = Value::string("out/planted.env").with_secret(true);
        let plain = Value::string("out/plain.env");
        // The returned `id`, marked by the schema's rule.
        assert_eq!(
            shown_id(
                "out/planted.env",
                &map(&[("id", secret.clone())]),
                &Map::new()
            ),
            "(secret)"
        );
        assert_eq!(
            shown_id(
                "out/plain.env",
                &map(&[("id", plain.clone())]),
                &map(&[("x", secret.clone())])
            ),
            "`out/plain.env`"
        );
        // No `id` attribute: any secret input hides it.
        assert_eq!(
            shown_id(
                "out/planted.env",
                &Map::new(),
                &map(&[("filename", secret)])
            ),
            "(secret)"
        );
        assert_eq!(
            shown_id("out/plain.env", &Map::new(), &map(&[("filename", plain)])),
            "`out/plain.env`"
        );
    }
}
