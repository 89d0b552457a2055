//! `infra import ADDR ID`: bring an existing object under a resource block of
//! the configuration. The provider reads it by id; the state records it with
//! the block's configuration, as a new version with an audit record.
//!
//! Invariant: nothing is created, changed or deleted outside: `import` is the
//! only provider call. The next plan shows how the object differs from its
//! configuration.

use super::run::{PlanRequest, opened_from_lock};
use super::{Checked, expand};
use crate::addr::InstanceAddr;
use crate::diag::{Code, Diagnostic, Diagnostics, SourceMap};
use crate::expand::Request;
use crate::host::Host;
use crate::lang::Value;
use crate::state::audit::{ActionOutcome, AuditAction, AuditRecord};
use crate::state::{InstanceState, KeyUse, LockInfo, PrunedVersions, State, Writing};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What `infra import` asks for.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The environment and variables.
    pub plan: PlanRequest,
    /// Where the object goes.
    pub addr: InstanceAddr,
    /// The provider's id for it (a path for `local_file`).
    pub id: String,
    /// How long to wait for another command's lock.
    pub lock_timeout: Duration,
}

/// What the import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The address it is managed at now.
    pub addr: InstanceAddr,
    /// The provider's id.
    pub id: String,
    /// The state version written.
    pub serial: u64,
    /// The history versions the retention setting pruned after it.
    pub pruned: Option<PrunedVersions>,
    /// What the user should be told first (a recovered journal, a new key).
    pub notes: Vec<String>,
}

/// Imports one object; `on_wait` is told who holds the lock while waiting.
pub fn import(
    host: Arc<dyn Host>,
    dir: &Path,
    request: &ImportRequest,
    on_wait: &mut dyn FnMut(Option<&LockInfo>),
) -> (Option<Imported>, SourceMap, Diagnostics) {
    super::checked_run(
        host,
        dir,
        &request.plan.var_files,
        |host, checked, diagnostics| run(host, checked, request, on_wait, diagnostics),
    )
}

fn run(
    host: &Arc<dyn Host>,
    checked: &Checked,
    request: &ImportRequest,
    on_wait: &mut dyn FnMut(Option<&LockInfo>),
    diagnostics: &mut Diagnostics,
) -> Option<Imported> {
    let environment = match crate::expand::select_environment(
        &checked.config,
        request.plan.environment.as_deref(),
    ) {
        Ok(environment) => environment.name,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    };
    let backend = super::checked_backend(host.as_ref(), checked, &environment, diagnostics)?;
    let writing = Writing::open(
        host.as_ref(),
        backend.as_ref(),
        "import",
        request.lock_timeout,
        on_wait,
        KeyUse::Create,
    );
    let mut writing = match writing {
        Ok(writing) => writing.with_retention(super::retention(checked)),
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            return None;
        }
    };
    let mut notes = writing.notes().to_vec();
    let mut audit = AuditRecord::start(host.as_ref(), "import", &environment);
    let opened = opened_from_lock(host, checked, &environment, &mut writing, diagnostics)?;
    let expand_request = Request {
        environment: request.plan.environment.clone(),
        vars: request.plan.vars.clone(),
        known_secrets: opened.known_secrets.clone(),
        ..Default::default()
    };
    let (expanded, expand_diagnostics) = expand(host.as_ref(), checked, &expand_request);
    let failed = expand_diagnostics.has_errors();
    diagnostics.extend(expand_diagnostics);
    let expanded = expanded.filter(|_| !failed)?;
    let Some(instance) = expanded.instances.get(&request.addr) else {
        let names: Vec<String> = expanded.instances.keys().map(ToString::to_string).collect();
        let wanted = request.addr.to_string();
        let help = match crate::diag::did_you_mean(&wanted, names.iter().map(String::as_str)) {
            Some(near) => {
                format!("did you mean `{near}`? Write the resource block before importing into it")
            }
            None => String::from(
                "write the resource block first (its settings need not match yet: the next plan \
                 shows the differences), then import into its address",
            ),
        };
        diagnostics.push(
            Diagnostic::error_at_path(Code::ApplyImportTargetMissing, Some(wanted)).with_help(help),
        );
        return None;
    };
    let mut state = opened
        .prior
        .clone()
        .unwrap_or_else(|| State::new(host.as_ref()));
    if state.instance(&request.addr).is_some() {
        diagnostics.push(
            Diagnostic::error_at_path(Code::StateAddressExists, Some(request.addr.to_string()))
                .with_help(
                    "this address already manages an object; `infra state rm ADDR` forgets it \
                     first if you mean to manage another one",
                ),
        );
        return None;
    }
    let resource_type = request.addr.resource.resource_type.as_str();
    let configured = crate::addr::ProviderAddr::from_key(&instance.provider);
    let provider = opened
        .providers
        .resolve(resource_type, &configured)
        .map(|(at, provider)| (at, provider.clone()));
    let Some((provider_addr, provider)) = provider else {
        diagnostics.push(
            Diagnostic::error(
                Code::ApplyProviderError,
                instance.span,
                format!("no provider here can import `{resource_type}`"),
            )
            .with_help("this build of infra has no live provider for the type"),
        );
        return None;
    };
    let runtime = &opened.runtime;
    let refused = runtime.block_on(super::run::configure_providers(
        checked,
        &expanded,
        &opened.providers,
    ));
    if refused.has_errors() {
        diagnostics.extend(refused);
        return None;
    }
    let started = std::time::Instant::now();
    let object = match runtime.block_on(provider.import(resource_type, &request.id)) {
        Ok(object) => object,
        Err(error) => {
            diagnostics.push(
                Diagnostic::error(
                    Code::ApplyProviderError,
                    instance.span,
                    format!("importing `{}` failed", request.addr),
                )
                .with_help(error.message.clone()),
            );
            return None;
        }
    };
    // Sealed by the schema's rule from the configuration, as an apply would.
    let attributes = match provider.schema(resource_type) {
        Some(schema) => crate::providers::provider::seal_returned(
            schema,
            &instance.attributes,
            object.attributes.clone(),
        ),
        None => object.attributes.clone(),
    };
    let seal = |value: Value| opened.key.seal(host.as_ref(), &value);
    let record = (|| {
        Ok::<_, crate::state::StateError>(InstanceState {
            key: request.addr.key.clone(),
            attributes: seal(Value::map(attributes.clone()))?,
            dependencies: instance.dependencies.to_vec(),
            config: seal(Value::map(instance.configured()))?,
        })
    })();
    let instance_state = match record {
        Ok(record) => record,
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            return None;
        }
    };
    // A create left unfinished at this address (it failed, often because
    // the object exists, which is why it is being imported; or an apply was
    // stopped during it) would be resumed by the next apply, which would
    // look for the object it was making and record that over this one: the
    // import replaces it.
    if let Some(pending) = state.pending_call(&request.addr) {
        notes.push(format!(
            "Dropped the unfinished {} of {}: an earlier apply failed or was stopped during it; \
             the imported object takes its place (if that {} made an object, infra does not \
             manage it).",
            pending.call.as_str(),
            request.addr,
            pending.call.as_str()
        ));
        state.forget_instance(&request.addr);
    }
    state.set_instance(&request.addr.resource, &provider_addr, instance_state);
    let summary = format!("import: {} from {}", request.addr, request.id);
    let serial = match writing.write(&mut state, &summary) {
        Ok(serial) => serial,
        Err(error) => {
            diagnostics.push(error.to_diagnostic());
            return None;
        }
    };
    audit.serial = Some(serial);
    audit.actions.push(AuditAction {
        address: request.addr.to_string(),
        action: String::from("import"),
        outcome: ActionOutcome::Succeeded,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error: None,
        phases: Vec::new(),
    });
    let finished = writing.finish(Some(audit));
    if let Some(error) = &finished.prune_failed {
        diagnostics.push(super::prune_warning(error));
    }
    for error in finished.problems {
        diagnostics.push(error.to_diagnostic());
    }
    Some(Imported {
        addr: request.addr.clone(),
        id: object.id,
        serial,
        pruned: finished.pruned,
        notes,
    })
}
