//! `infra state list|show|rm|mv|history|pull|push|restore` (restore in
//! `state_restore.rs`) and `infra force-unlock`:
//! inspecting and repairing the recorded state of one stack environment.
//!
//! Terminology: *state surgery* is a change to the state that no provider
//! call backs (`rm`, `mv`, `push`); the real objects are left as they are.
//!
//! Invariant: read-only commands (`list`, `show`, `history`, `pull`) take no
//! lock and write nothing. Every surgery takes the lock, writes one new
//! version (summary `state rm: …`) and appends an audit record.
//! Invariant: secrets are shown as `(secret)`; `pull` prints the file with its
//! envelopes still sealed.

use super::args::{EnvSelect, LockArgs};
use super::{Ctx, Exit};
use crate::addr::{InstanceAddr, ProviderAddr, ResourceAddr, Target};
use crate::diag::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::host::Host;
use crate::state::backend::Kind as BackendKind;
use crate::state::{
    ActionOutcome, AuditAction, AuditRecord, Backend, CallKind, InstanceState, Key, KeyUse,
    LockInfo, Reading, State, StateError, StateFile, Writing,
};
use std::path::PathBuf;

/// Inspect and repair the recorded state.
#[derive(Debug, clap::Args)]
pub(super) struct StateCommand {
    #[command(subcommand)]
    action: StateAction,
}

#[derive(Debug, clap::Subcommand)]
enum StateAction {
    /// List the instance addresses in the state (optionally only under ADDR...).
    List(ListArgs),
    /// Show one resource or instance: its attributes (secrets as `(secret)`).
    Show(ShowArgs),
    /// Forget instances: the state no longer tracks them; the real objects stay.
    Rm(RmArgs),
    /// Rename an instance, resource or module in the state.
    Mv(MvArgs),
    /// List the state's versions and the audit records of the commands that wrote them.
    History(HistoryArgs),
    /// Print the current state file (or a history version), secrets still sealed.
    Pull(PullArgs),
    /// Replace the state with FILE (same lineage, higher serial, unless --force).
    Push(PushArgs),
    /// Write history version SERIAL back as the current state (also when the
    /// current file is missing or corrupt).
    Restore(super::state_restore::RestoreArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    env: EnvSelect,
    /// Only instances under these addresses (`module.a`, `local_file.x`).
    #[arg(value_name = "ADDR", value_parser = parse_target)]
    filters: Vec<Target>,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    #[command(flatten)]
    env: EnvSelect,
    /// The resource or instance.
    #[arg(value_name = "ADDR", value_parser = parse_target)]
    address: Target,
}

#[derive(Debug, clap::Args)]
struct RmArgs {
    #[command(flatten)]
    env: EnvSelect,
    #[command(flatten)]
    lock: LockArgs,
    /// The instances, resources or modules to forget.
    #[arg(value_name = "ADDR", value_parser = parse_target, required = true)]
    addresses: Vec<Target>,
}

#[derive(Debug, clap::Args)]
struct MvArgs {
    #[command(flatten)]
    env: EnvSelect,
    #[command(flatten)]
    lock: LockArgs,
    /// The address now.
    #[arg(value_name = "FROM", value_parser = parse_target)]
    from: Target,
    /// The new address (must not be in the state yet).
    #[arg(value_name = "TO", value_parser = parse_target)]
    to: Target,
}

#[derive(Debug, clap::Args)]
struct HistoryArgs {
    #[command(flatten)]
    env: EnvSelect,
    /// One JSON document (see docs/state.md).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct PullArgs {
    #[command(flatten)]
    env: EnvSelect,
    /// Print this history version instead of the current one (`infra state
    /// history` lists them), rebuilt and checked against its checksum.
    #[arg(long, value_name = "SERIAL")]
    serial: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct PushArgs {
    #[command(flatten)]
    env: EnvSelect,
    #[command(flatten)]
    lock: LockArgs,
    /// The state file to push (as `infra state pull` prints it).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Push even when FILE has another lineage or a serial not above the current one.
    #[arg(long)]
    force: bool,
}

/// Break a stale state lock left by a command that died.
#[derive(Debug, clap::Args)]
pub(super) struct ForceUnlockCommand {
    #[command(flatten)]
    env: EnvSelect,
    /// The lock's id, as the `infra::state::locked` error shows it.
    #[arg(value_name = "LOCK_ID")]
    lock_id: String,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long)]
    force: bool,
}

fn parse_target(text: &str) -> Result<Target, String> {
    text.parse::<Target>().map_err(|error| error.to_string())
}

/// The stack folder, the stack's name and the chosen environment.
pub(super) struct Located {
    /// The stack folder.
    pub dir: PathBuf,
    /// The `stack` block's name.
    pub stack: String,
    /// The environment.
    pub environment: String,
    /// The state backend the stack names.
    pub backend_kind: BackendKind,
    /// The history's retention setting (`stack { history = { keep = N } }`).
    pub retention: Option<crate::state::Retention>,
}

impl Located {
    /// The state backend of this stack environment.
    pub fn backend<'h>(&'h self, host: &'h dyn Host) -> Box<dyn Backend + 'h> {
        self.backend_kind
            .open(host, &self.dir, &self.stack, &self.environment)
    }
}

/// Loads and checks the stack to learn its name, and picks the environment
/// (`--env`, else `default_environment`). Problems are reported.
pub(super) fn locate(ctx: &mut Ctx<'_>, environment: Option<&str>) -> Result<Located, Exit> {
    let dir = ctx.dir();
    let checked = crate::pipeline::check(ctx.host, &dir);
    if checked.diagnostics.has_errors() {
        ctx.report(&checked.diagnostics, &checked.sources);
        return Err(Exit::Failure);
    }
    let backend_kind =
        match crate::pipeline::state_url::backend_kind(ctx.host, &checked.config.stack) {
            Ok(kind) => kind,
            Err(diagnostic) => {
                let diagnostics: Diagnostics = std::iter::once(diagnostic).collect();
                ctx.report(&diagnostics, &checked.sources);
                return Err(Exit::Failure);
            }
        };
    match crate::expand::select_environment(&checked.config, environment) {
        Ok(selected) => Ok(Located {
            dir,
            stack: checked.config.stack.name.clone(),
            environment: selected.name,
            backend_kind,
            retention: crate::pipeline::retention(&checked),
        }),
        Err(diagnostic) => {
            let diagnostics: Diagnostics = std::iter::once(diagnostic).collect();
            ctx.report(&diagnostics, &checked.sources);
            Err(Exit::Failure)
        }
    }
}

/// The error for a command that needs a state and found none.
pub(super) fn no_state(located: &Located, backend: &dyn Backend) -> Diagnostic {
    Diagnostic::error_at_path(
        Code::StateNoState,
        Some(backend.state_path().display().to_string()),
    )
    .with_help(format!(
        "environment \"{}\" of stack \"{}\" has no state yet; `infra apply --env {}` creates it",
        located.environment, located.stack, located.environment
    ))
}

pub(super) fn state_failure(ctx: &mut Ctx<'_>, error: &StateError) -> Exit {
    ctx.report_one(error.to_diagnostic())
}

impl StateCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        match self.action {
            StateAction::List(args) => list(ctx, args),
            StateAction::Show(args) => show(ctx, args),
            StateAction::Rm(args) => rm(ctx, args),
            StateAction::Mv(args) => mv(ctx, args),
            StateAction::History(args) => history(ctx, args),
            StateAction::Pull(args) => pull(ctx, args),
            StateAction::Push(args) => push(ctx, args),
            StateAction::Restore(args) => super::state_restore::restore(ctx, args),
        }
    }
}

/// Every instance address in the state, in order.
fn addresses(state: &State) -> Vec<InstanceAddr> {
    state
        .resources
        .iter()
        .flat_map(|r| r.instances.iter().map(|i| r.addr.instance(i.key.clone())))
        .collect()
}

/// The error for an address that matches nothing, with a suggestion.
fn no_such_address(target: &Target, state: &State) -> Diagnostic {
    let known: Vec<String> = addresses(state).iter().map(ToString::to_string).collect();
    let wanted = target.to_string();
    let mut help = match did_you_mean(&wanted, known.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{near}`? "),
        None => String::new(),
    };
    help.push_str("`infra state list` shows the addresses in the state");
    Diagnostic::error_at_path(Code::StateNoSuchAddress, Some(wanted)).with_help(help)
}

fn list(ctx: &mut Ctx<'_>, args: ListArgs) -> Exit {
    let Ok(located) = locate(ctx, args.env.environment.as_deref()) else {
        return Exit::Failure;
    };
    let host = ctx.host;
    let stored = located.backend(host);
    let backend = stored.as_ref();
    let reading = match Reading::open(backend) {
        Ok(reading) => reading,
        Err(error) => return state_failure(ctx, &error),
    };
    if let Some(warning) = reading.warning() {
        ctx.report_one(warning);
    }
    let Some(state) = reading.state(host) else {
        ctx.err(&format!(
            "No state yet for environment \"{}\" of stack \"{}\".\n",
            located.environment, located.stack
        ));
        return Exit::Success;
    };
    let wanted = |address: &InstanceAddr| {
        args.filters.is_empty() || args.filters.iter().any(|f| f.contains(address))
    };
    let mut text = String::new();
    for address in addresses(&state) {
        if wanted(&address) {
            text.push_str(&format!("{address}\n"));
        }
    }
    ctx.out(&text);
    // The list stays one address per line for scripts; calls an earlier
    // apply left unfinished (it was stopped, or a create failed) are said on
    // stderr.
    for pending in state.pending.iter().filter(|p| wanted(&p.instance)) {
        ctx.err(&format!(
            "{}: an earlier apply left its {} unfinished; the next `infra apply` resumes it.\n",
            pending.instance,
            pending.call.as_str()
        ));
    }
    Exit::Success
}

/// What `state show` adds for an address where an earlier apply left a call
/// unfinished: it was stopped during the call, or the call was a create that
/// failed (which may have made something all the same).
fn unfinished(call: CallKind, address: &InstanceAddr) -> String {
    // Only a create's call outlives its failure.
    let how = match call {
        CallKind::Create => "failed or was stopped",
        CallKind::Update | CallKind::Delete => "was stopped",
    };
    format!(
        "unfinished {}: an earlier apply {how} during it; the next `infra apply` resumes it \
         (`infra state rm {address}` drops it)\n",
        call.as_str()
    )
}

/// Reads the state and opens it with its key; `Err` was reported.
pub(super) fn read_opened(ctx: &mut Ctx<'_>, located: &Located) -> Result<(State, Key), Exit> {
    let host = ctx.host;
    let stored = located.backend(host);
    let backend = stored.as_ref();
    let reading = Reading::open(backend).map_err(|e| state_failure(ctx, &e))?;
    if !reading.exists() {
        return Err(ctx.report_one(no_state(located, backend)));
    }
    if let Some(warning) = reading.warning() {
        ctx.report_one(warning);
    }
    let key = backend.key().map_err(|e| state_failure(ctx, &e))?;
    match reading.open_with(host, backend, &key) {
        Ok(Some(state)) => Ok((state, key)),
        Ok(None) => Err(ctx.report_one(no_state(located, backend))),
        Err(error) => Err(state_failure(ctx, &error)),
    }
}

fn show(ctx: &mut Ctx<'_>, args: ShowArgs) -> Exit {
    let Ok(located) = locate(ctx, args.env.environment.as_deref()) else {
        return Exit::Failure;
    };
    let Ok((state, key)) = read_opened(ctx, &located) else {
        return Exit::Failure;
    };
    let path = located.backend(ctx.host).state_path();
    let mut text = String::new();
    for resource in &state.resources {
        for instance in &resource.instances {
            let address = resource.addr.instance(instance.key.clone());
            if !args.address.contains(&address) {
                continue;
            }
            let attributes = match key.open(&instance.attributes, Some(&path)) {
                Ok(value) => value,
                Err(error) => return state_failure(ctx, &error),
            };
            if !text.is_empty() {
                text.push('\n');
            }
            let call = state.pending_call(&address).map(|pending| pending.call);
            text.push_str(&crate::render::state::instance_block(
                &crate::render::state::ShownInstance {
                    resource: resource.addr.clone(),
                    address: address.clone(),
                    provider: resource.provider.to_string(),
                    attributes,
                    dependencies: instance.dependencies.clone(),
                },
            ));
            if let Some(call) = call {
                text.push_str(&unfinished(call, &address));
            }
        }
    }
    // An address with no object yet, only a create that never finished.
    for pending in &state.pending {
        if args.address.contains(&pending.instance) && state.instance(&pending.instance).is_none() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "# {}\nprovider = {:?}\n(no object recorded)\n",
                pending.instance,
                pending.provider.to_string()
            ));
            text.push_str(&unfinished(pending.call, &pending.instance));
        }
    }
    if text.is_empty() {
        return ctx.report_one(no_such_address(&args.address, &state));
    }
    ctx.out(&text);
    Exit::Success
}

/// What a surgery did, to write and report.
struct Surgery {
    summary: String,
    actions: Vec<AuditAction>,
    lines: Vec<String>,
}

/// Takes the lock, reads the state (a missing one is an error unless
/// `allow_new`), applies `change`, writes the new version and appends the
/// audit record.
fn surgery(
    ctx: &mut Ctx<'_>,
    located: &Located,
    lock: LockArgs,
    operation: &str,
    allow_new: bool,
    change: impl FnOnce(&mut State, &Key) -> Result<Surgery, Diagnostic>,
) -> Exit {
    let host = ctx.host;
    let stored = located.backend(host);
    let backend = stored.as_ref();
    let started = AuditRecord::start(host, &operation.replace(' ', "-"), &located.environment);
    let timeout = lock.lock_timeout;
    let held = {
        let mut on_wait = |holder: Option<&LockInfo>| {
            ctx.err(&waiting_line(timeout, holder, host.now_unix_seconds()));
        };
        Writing::open(
            host,
            backend,
            operation,
            timeout,
            &mut on_wait,
            KeyUse::Existing,
        )
    };
    let mut writing = match held {
        Ok(writing) => writing.with_retention(located.retention),
        Err(error) => return state_failure(ctx, &error),
    };
    for note in writing.notes() {
        ctx.err(&format!("{note}\n"));
    }
    if writing.state().is_none() && !allow_new {
        return ctx.report_one(no_state(located, backend));
    }
    // A surgery on a state never written (a first push) brings its own
    // sealed values: it needs the key they were sealed with, and must not
    // create a fresh one.
    let key = match writing.key() {
        Ok(key) => key.clone(),
        Err(error) => return state_failure(ctx, &error),
    };
    let mut state = match writing.state() {
        Some(state) => state.clone(),
        None => State::new(host),
    };
    let done = match change(&mut state, &key) {
        Ok(done) => done,
        Err(diagnostic) => return ctx.report_one(diagnostic),
    };
    if let Err(error) = writing.write(&mut state, &done.summary) {
        return state_failure(ctx, &error);
    }
    let mut record = started;
    record.serial = Some(state.serial);
    record.actions = done.actions;
    let finished = writing.finish(Some(record));
    for line in &done.lines {
        ctx.out(&format!("{line}\n"));
    }
    ctx.out(&format!(
        "State written as version {} ({}).\n",
        state.serial, done.summary
    ));
    report_finished(ctx, finished)
}

/// Says what a writing state command's finish did: the history versions
/// pruned (stderr), then any problem as a warning (the state is written).
pub(super) fn report_finished(ctx: &mut Ctx<'_>, finished: crate::state::Finished) -> Exit {
    if let Some(pruned) = finished.pruned {
        ctx.err(&format!("{}\n", pruned.describe()));
    }
    let mut exit = Exit::Success;
    if let Some(error) = &finished.prune_failed {
        ctx.report_one(crate::pipeline::prune_warning(error));
    }
    for error in finished.problems {
        exit = ctx.report_one(error.to_diagnostic().warning());
    }
    exit
}

/// `500ms`, `30s`, `2m`.
pub(super) fn describe_duration(duration: std::time::Duration) -> String {
    let millis = duration.as_millis();
    if millis % 60_000 == 0 && millis > 0 {
        format!("{}m", millis / 60_000)
    } else if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

/// `state rm: a, b, c and 4 more`.
fn summarize(what: &str, addresses: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = format!("{what}: ");
    text.push_str(
        &addresses
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    );
    if addresses.len() > SHOWN {
        text.push_str(&format!(" and {} more", addresses.len() - SHOWN));
    }
    text
}

fn audit_action(address: &str, action: &str) -> AuditAction {
    AuditAction {
        address: address.to_owned(),
        action: action.to_owned(),
        outcome: ActionOutcome::Succeeded,
        duration_ms: 0,
        error: None,
        phases: Vec::new(),
    }
}

fn rm(ctx: &mut Ctx<'_>, args: RmArgs) -> Exit {
    let Ok(located) = locate(ctx, args.env.environment.as_deref()) else {
        return Exit::Failure;
    };
    let targets = args.addresses;
    surgery(
        ctx,
        &located,
        args.lock,
        "state rm",
        false,
        |state, _key| {
            // An address can hold only a call an interrupted apply left
            // pending (a create that never finished): `rm` drops that too.
            let mut all = addresses(state);
            all.extend(state.pending.iter().map(|pending| pending.instance.clone()));
            let mut removed = Vec::new();
            for target in &targets {
                let matched: Vec<&InstanceAddr> =
                    all.iter().filter(|a| target.contains(a)).collect();
                if matched.is_empty() {
                    return Err(no_such_address(target, state));
                }
                removed.extend(matched.into_iter().cloned());
            }
            removed.sort();
            removed.dedup();
            let names: Vec<String> = removed.iter().map(ToString::to_string).collect();
            let mut lines = Vec::new();
            for (address, name) in removed.iter().zip(&names) {
                if state.instance(address).is_some() {
                    lines.push(format!(
                        "Removed {name} from the state (the real object was not touched)."
                    ));
                }
                // The call is forgotten with the instance, so that the next
                // apply does not resume it and record the object again.
                if let Some(call) = state.forget_instance(address) {
                    lines.push(format!(
                        "Dropped the unfinished {} of {name}: an earlier apply failed or was \
                         stopped during it, so the object may or may not have been {}; it will \
                         not be resumed.",
                        call.as_str(),
                        match call {
                            CallKind::Create => "created",
                            CallKind::Update => "updated",
                            CallKind::Delete => "deleted",
                        }
                    ));
                }
            }
            Ok(Surgery {
                summary: summarize("state rm", &names),
                actions: names.iter().map(|n| audit_action(n, "remove")).collect(),
                lines,
            })
        },
    )
}

/// Where `address` goes when `from` moves to `to`; `None` when it is not
/// under `from`.
fn moved(address: &InstanceAddr, from: &Target, to: &Target) -> Option<InstanceAddr> {
    match (from, to) {
        (Target::Instance(from), Target::Instance(to)) => (address == from).then(|| to.clone()),
        (Target::Resource(from), Target::Resource(to)) => {
            (&address.resource == from).then(|| to.instance(address.key.clone()))
        }
        (Target::Module(from), Target::Module(to)) => {
            let mut resource = address.resource.clone();
            resource.module = address.resource.module.moved(from, to)?;
            Some(resource.instance(address.key.clone()))
        }
        _ => None,
    }
}

/// Where a dependency on `resource` points after the move.
fn moved_resource(resource: &ResourceAddr, from: &Target, to: &Target) -> Option<ResourceAddr> {
    match (from, to) {
        (Target::Resource(from), Target::Resource(to)) => (resource == from).then(|| to.clone()),
        (Target::Module(_), Target::Module(_)) => {
            moved(&resource.instance(crate::addr::InstanceKey::None), from, to).map(|a| a.resource)
        }
        _ => None,
    }
}

/// Makes a keyless instance and its resource interchangeable:
/// `mv a.x[0] a.y` means `a.y` as an instance, and `mv a.x a.y[0]` means the
/// keyless instance `a.x`.
fn normalize(from: Target, to: Target) -> (Target, Target) {
    match (from, to) {
        (Target::Instance(from), Target::Resource(to)) => (
            Target::Instance(from),
            Target::Instance(to.instance(crate::addr::InstanceKey::None)),
        ),
        (Target::Resource(from), Target::Instance(to)) => (
            Target::Instance(from.instance(crate::addr::InstanceKey::None)),
            Target::Instance(to),
        ),
        other => other,
    }
}

fn mv(ctx: &mut Ctx<'_>, args: MvArgs) -> Exit {
    let Ok(located) = locate(ctx, args.env.environment.as_deref()) else {
        return Exit::Failure;
    };
    let (from, to) = normalize(args.from, args.to);
    let kinds_differ = matches!(
        (&from, &to),
        (Target::Module(_), Target::Resource(_) | Target::Instance(_))
            | (Target::Resource(_) | Target::Instance(_), Target::Module(_))
    );
    if kinds_differ {
        return ctx.report_one(
            Diagnostic::error_at_path(Code::StateMoveTypeMismatch, Some(format!("{from} → {to}")))
                .with_help(
                    "a module moves to a module, a resource or instance to a resource or instance",
                ),
        );
    }
    let type_of = |target: &Target| match target {
        Target::Resource(r) => Some((r.mode, r.resource_type.clone())),
        Target::Instance(i) => Some((i.resource.mode, i.resource.resource_type.clone())),
        Target::Module(_) => None,
    };
    if type_of(&from) != type_of(&to) {
        return ctx.report_one(
            Diagnostic::error_at_path(Code::StateMoveTypeMismatch, Some(format!("{from} → {to}")))
                .with_help(
                    "a resource keeps its type when it moves; to change the type, remove it \
                     (`infra state rm`) and import it under the new address",
                ),
        );
    }
    surgery(
        ctx,
        &located,
        args.lock,
        "state mv",
        false,
        |state, _key| {
            let mut moving: Vec<(InstanceAddr, InstanceAddr, ProviderAddr, InstanceState)> =
                Vec::new();
            for resource in &state.resources {
                for instance in &resource.instances {
                    let address = resource.addr.instance(instance.key.clone());
                    if let Some(target) = moved(&address, &from, &to) {
                        moving.push((address, target, resource.provider.clone(), instance.clone()));
                    }
                }
            }
            if moving.is_empty() {
                return Err(no_such_address(&from, state));
            }
            let leaving: std::collections::BTreeSet<&InstanceAddr> =
                moving.iter().map(|(old, ..)| old).collect();
            for (_, target, ..) in &moving {
                let whole_resource_taken = matches!(to, Target::Resource(_))
                    && state
                        .resources
                        .iter()
                        .any(|r| r.addr == target.resource && !r.instances.is_empty())
                    && !leaving.iter().any(|old| old.resource == target.resource);
                if (state.instance(target).is_some() && !leaving.contains(target))
                    || whole_resource_taken
                {
                    return Err(Diagnostic::error_at_path(
                        Code::StateAddressExists,
                        Some(target.to_string()),
                    )
                    .with_help(format!(
                        "`{target}` is already in the state; remove it first (`infra state rm \
                     {target}`) or choose another address"
                    )));
                }
            }
            for (old, ..) in &moving {
                state.remove_instance(old);
            }
            let mut lines = Vec::new();
            let mut actions = Vec::new();
            for (old, new, provider, mut instance) in moving {
                // The key travels with the address: `w[0]` may become `first`.
                instance.key = new.key.clone();
                state.set_instance(&new.resource, &provider, instance);
                lines.push(format!("Moved {old} to {new}."));
                actions.push(audit_action(&format!("{old} -> {new}"), "move"));
            }
            // What depended on a moved resource now depends on its new address.
            for resource in &mut state.resources {
                for instance in &mut resource.instances {
                    for dependency in &mut instance.dependencies {
                        if let Some(new) = moved_resource(dependency, &from, &to) {
                            *dependency = new;
                        }
                    }
                }
            }
            // A call an interrupted apply left pending moves with its
            // instance: resumed at the old address, it would record the
            // object there again, beside its new address.
            for pending in &mut state.pending {
                if let Some(new) = moved(&pending.instance, &from, &to) {
                    lines.push(format!(
                        "Moved the interrupted {} of {} to {new}.",
                        pending.call.as_str(),
                        pending.instance
                    ));
                    pending.instance = new;
                }
                for dependency in &mut pending.dependencies {
                    if let Some(new) = moved_resource(dependency, &from, &to) {
                        *dependency = new;
                    }
                }
            }
            Ok(Surgery {
                summary: format!("state mv: {from} -> {to}"),
                actions,
                lines,
            })
        },
    )
}

fn pull(ctx: &mut Ctx<'_>, args: PullArgs) -> Exit {
    let Ok(located) = locate(ctx, args.env.environment.as_deref()) else {
        return Exit::Failure;
    };
    let host = ctx.host;
    let stored = located.backend(host);
    let backend = stored.as_ref();
    if let Some(serial) = args.serial {
        // A version as written: a journal folds into the current one only.
        return match backend.version(serial) {
            Ok(file) => {
                let _ = ctx.stdout.write_all(&file.to_bytes());
                Exit::Success
            }
            Err(error) => state_failure(ctx, &error),
        };
    }
    let reading = match Reading::open(backend) {
        Ok(reading) => reading,
        Err(error) => return state_failure(ctx, &error),
    };
    if let Some(warning) = reading.warning() {
        // An interrupted apply's actions are in what is printed: the stored
        // version with them folded in, at its serial (a first apply's at 0).
        ctx.report_one(warning);
        let key_id = match &reading.file {
            Some(file) => file.key_id.clone(),
            None => match backend.key() {
                Ok(key) => key.id(),
                Err(error) => return state_failure(ctx, &error),
            },
        };
        if let Some(state) = reading.state(host) {
            let summary = reading.file.as_ref().map_or_else(
                || String::from("an interrupted first apply"),
                |file| file.summary.clone(),
            );
            let folded = StateFile::new(
                &state,
                state.serial,
                host.now_unix_seconds(),
                &format!("{summary}, with the journalled actions not yet recorded"),
                &key_id,
            );
            let _ = ctx.stdout.write_all(&folded.to_bytes());
            return Exit::Success;
        }
    }
    let Some(file) = reading.file else {
        return ctx.report_one(no_state(&located, backend));
    };
    // The bytes as stored (they passed every check just now); re-serialized
    // only if the file changed in between.
    let bytes = match host.read(&backend.state_path()) {
        Ok(bytes) if StateFile::parse(&bytes, &backend.state_path()).is_ok_and(|f| f == file) => {
            bytes
        }
        _ => file.to_bytes(),
    };
    let _ = ctx.stdout.write_all(&bytes);
    Exit::Success
}

fn push(ctx: &mut Ctx<'_>, args: PushArgs) -> Exit {
    let Ok(located) = locate(ctx, args.env.environment.as_deref()) else {
        return Exit::Failure;
    };
    let path = ctx.resolve(&args.file);
    let bytes = match ctx.host.read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            return ctx.report_one(
                Diagnostic::error_at_path(
                    Code::CliUnreadableFile,
                    Some(path.display().to_string()),
                )
                .with_help(format!(
                    "{error}; check that the file exists and can be read"
                )),
            );
        }
    };
    let pushed = match StateFile::parse(&bytes, &path) {
        Ok(pushed) => pushed,
        Err(error) => return state_failure(ctx, &error),
    };
    let force = args.force;
    let shown = args.file.display().to_string();
    surgery(
        ctx,
        &located,
        args.lock,
        "state push",
        true,
        |state, key| {
            let error = |code: Code, help: String| {
                Diagnostic::error_at_path(code, Some(path.display().to_string())).with_help(help)
            };
            if pushed.key_id != key.id() {
                return Err(error(
                    Code::StateWrongKey,
                    format!(
                        "the file was sealed with key {}, but this state's key is {}; push a file \
                     written with this state's key",
                        pushed.key_id,
                        key.id()
                    ),
                ));
            }
            for sealed in pushed.sealed_values() {
                if let Err(problem) = key.open(sealed, Some(&path)) {
                    return Err(problem.to_diagnostic());
                }
            }
            let is_new = state.serial == 0;
            if !is_new && pushed.lineage != state.lineage && !force {
                return Err(error(
                    Code::StateForeignLineage,
                    format!(
                        "the file has lineage {}, but this state has lineage {}: it is another \
                     state; pass --force to replace this state's contents with it anyway",
                        pushed.lineage, state.lineage
                    ),
                ));
            }
            if !is_new && pushed.serial <= state.serial && !force {
                return Err(error(
                    Code::StateSerialBackwards,
                    format!(
                        "the file has serial {}, but the state is already at serial {}: it is not \
                     newer; pass --force to push it anyway",
                        pushed.serial, state.serial
                    ),
                ));
            }
            if is_new {
                state.lineage = pushed.lineage.clone();
            }
            state.resources = pushed.resources.clone();
            state.outputs = pushed.outputs.clone();
            // The generated secrets and unfinished creates travel with the
            // file, or a push into another backend would make new secrets
            // and forget objects being created.
            state.secrets = pushed.secrets.clone();
            state.pending = pushed.pending.clone();
            Ok(Surgery {
                summary: format!("state push: {shown} (serial {})", pushed.serial),
                actions: vec![audit_action(&shown, "push")],
                lines: vec![format!(
                    "Pushed {shown}: {} instances, {} outputs.",
                    state.instance_count(),
                    state.outputs.len()
                )],
            })
        },
    )
}

// ---- history ---------------------------------------------------------------

/// One line of the history: a version or an audit record.
enum Entry {
    Version(crate::state::VersionInfo),
    Audit(AuditRecord),
}

/// Versions by serial; each audit record right after the version it wrote,
/// or (when it wrote none) after the last version written before it ended.
/// Version times are whole seconds, so time alone cannot order a version
/// against a record of the same second. A record of a version the retention
/// setting pruned goes before the oldest version kept, by its serial.
fn interleave(
    mut versions: Vec<crate::state::VersionInfo>,
    records: Vec<AuditRecord>,
) -> Vec<Entry> {
    versions.sort_by_key(|v| v.serial);
    let mut keyed: Vec<((usize, u8, u64), Entry)> = Vec::new();
    for record in records {
        let by_serial = record.serial.map(|serial| {
            versions
                .iter()
                .rposition(|v| v.serial <= serial)
                .map_or(0, |i| i + 1)
        });
        let anchor = by_serial.unwrap_or_else(|| {
            versions
                .iter()
                .rposition(|v| v.written_at.saturating_mul(1000) <= record.finished_at)
                .map_or(0, |i| i + 1)
        });
        keyed.push(((anchor, 1, record.finished_at), Entry::Audit(record)));
    }
    for (index, version) in versions.into_iter().enumerate() {
        keyed.push(((index + 1, 0, 0), Entry::Version(version)));
    }
    // Stable: records of one anchor and time keep their log order.
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, entry)| entry).collect()
}

fn history(ctx: &mut Ctx<'_>, args: HistoryArgs) -> Exit {
    let Ok(located) = locate(ctx, args.env.environment.as_deref()) else {
        return Exit::Failure;
    };
    let host = ctx.host;
    let stored = located.backend(host);
    let backend = stored.as_ref();
    let versions = match backend.history() {
        Ok(versions) => versions,
        Err(error) => return state_failure(ctx, &error),
    };
    let log = match backend.audit() {
        Ok(log) => log,
        Err(error) => return state_failure(ctx, &error),
    };
    // The history lists written versions; an interrupted apply's actions
    // are not among them yet, and that is said. A journal that cannot be
    // folded is what the history helps look into, so it does not stop it.
    match Reading::open(backend) {
        Ok(reading) => {
            if let Some(warning) = reading.warning() {
                ctx.report_one(warning);
            }
        }
        Err(error) => {
            ctx.report_one(error.to_diagnostic().warning());
        }
    }
    if !log.skipped_lines.is_empty() {
        let lines: Vec<String> = log.skipped_lines.iter().map(ToString::to_string).collect();
        ctx.report_one(
            Diagnostic::error_at_path(
                Code::StateIo,
                Some(backend.audit_path().display().to_string()),
            )
            .with_help(format!(
                "line {} of the audit log could not be read (a crash while it was written?) \
                 and was skipped",
                lines.join(", ")
            ))
            .warning(),
        );
    }
    let oldest_kept = versions.iter().map(|v| v.serial).min();
    let entries = interleave(versions, log.records);
    if args.json {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|entry| match entry {
                Entry::Version(v) => serde_json::json!({
                    "kind": "version",
                    "serial": v.serial,
                    "written_at": v.written_at,
                    "summary": v.summary,
                    "instance_count": v.instance_count,
                }),
                Entry::Audit(record) => {
                    let mut json = serde_json::to_value(record).unwrap_or_default();
                    if let Some(object) = json.as_object_mut() {
                        object.insert(String::from("kind"), serde_json::json!("audit"));
                    }
                    json
                }
            })
            .collect();
        let document = serde_json::json!({
            "format_version": 1,
            "stack": located.stack,
            "environment": located.environment,
            "entries": items,
        });
        let text = serde_json::to_string_pretty(&document).unwrap_or_default();
        ctx.out(&format!("{text}\n"));
        return Exit::Success;
    }
    if entries.is_empty() {
        ctx.err(&format!(
            "No state yet for environment \"{}\" of stack \"{}\".\n",
            located.environment, located.stack
        ));
        return Exit::Success;
    }
    let mut text = String::new();
    for entry in &entries {
        match entry {
            Entry::Version(v) => text.push_str(&format!(
                "version {:<4} {}  {} ({} instances)\n",
                v.serial,
                format_unix_seconds(v.written_at),
                v.summary,
                v.instance_count
            )),
            Entry::Audit(record) => {
                let written = record.serial.map_or_else(
                    || String::from("nothing written"),
                    |s| match oldest_kept {
                        Some(oldest) if s < oldest => format!("wrote version {s}, since pruned"),
                        _ => format!("wrote version {s}"),
                    },
                );
                text.push_str(&format!(
                    "  audit      {}  {} by {}@{}: {} ({} succeeded, {} failed, {} skipped; {})\n",
                    format_unix_seconds(record.finished_at / 1000),
                    record.command,
                    record.user,
                    record.host,
                    match record.result {
                        crate::state::AuditResult::Succeeded => "succeeded",
                        crate::state::AuditResult::Partial => "partial",
                        crate::state::AuditResult::Failed => "failed",
                    },
                    record.count(ActionOutcome::Succeeded),
                    record.count(ActionOutcome::Failed),
                    record.count(ActionOutcome::Skipped),
                    written
                ));
                if let Some(digest) = &record.plan_digest {
                    text.push_str(&format!("             plan {digest}\n"));
                }
                if let Some(pruned) = &record.pruned {
                    text.push_str(&format!(
                        "             pruned {} (stack.history.keep = {})\n",
                        pruned.range(),
                        pruned.keep
                    ));
                }
                for action in &record.actions {
                    let outcome = match action.outcome {
                        ActionOutcome::Succeeded => "succeeded",
                        ActionOutcome::Failed => "failed",
                        ActionOutcome::Skipped => "skipped",
                    };
                    text.push_str(&format!(
                        "             {} {}: {outcome} ({} ms)",
                        action.action, action.address, action.duration_ms
                    ));
                    if let Some(error) = &action.error {
                        text.push_str(&format!(": {error}"));
                    }
                    text.push('\n');
                }
            }
        }
    }
    ctx.out(&text);
    Exit::Success
}

/// `2026-11-25 18:56:10 UTC` from Unix seconds.
pub(super) fn format_unix_seconds(seconds: u64) -> String {
    crate::host::format_utc(seconds)
}

// ---- force-unlock ------------------------------------------------------------

impl ForceUnlockCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let Ok(located) = locate(ctx, self.env.environment.as_deref()) else {
            return Exit::Failure;
        };
        let host = ctx.host;
        let stored = located.backend(host);
        let backend = stored.as_ref();
        if let Some(holder) = backend.lock_holder()
            && holder.id == self.lock_id
            && !self.force
        {
            let prompt = format!(
                "Break the state lock of environment \"{}\"? It is {}.\n  Only do this when \
                 that process is gone: two commands writing at once can lose changes.",
                located.environment,
                holder.describe(host.now_unix_seconds())
            );
            match super::confirm::confirm(ctx, &prompt, "--force") {
                Ok(true) => {}
                Ok(false) => {
                    ctx.err("Cancelled; the lock was kept.\n");
                    return Exit::Failure;
                }
                Err(diagnostic) => return ctx.report_one(diagnostic),
            }
        }
        let started = AuditRecord::start(host, "force-unlock", &located.environment);
        match backend.force_unlock(&self.lock_id) {
            Ok(holder) => {
                let mut record = started;
                record.actions.push(audit_action(
                    &format!(
                        "lock {} ({})",
                        holder.id,
                        holder.describe(host.now_unix_seconds())
                    ),
                    "unlock",
                ));
                record.finish(host);
                ctx.out(&format!(
                    "The state lock was broken; it was {}.\n",
                    holder.describe(host.now_unix_seconds())
                ));
                let mut exit = match backend.append_audit(&record) {
                    Ok(()) => Exit::Success,
                    Err(error) => ctx.report_one(error.to_diagnostic().warning()),
                };
                // A writing command like the others: what the gone process
                // journalled is folded into a version of its own now.
                let writing = Writing::open(
                    host,
                    backend,
                    "force-unlock",
                    std::time::Duration::ZERO,
                    &mut |_| {},
                    KeyUse::Existing,
                );
                match writing {
                    Ok(writing) => {
                        for note in writing.notes() {
                            ctx.err(&format!("{note}\n"));
                        }
                        for error in writing.finish(None).problems {
                            exit = ctx.report_one(error.to_diagnostic().warning());
                        }
                    }
                    // Another command took the lock at once; it folds the journal.
                    Err(error) if error.code == Code::StateLocked => {}
                    Err(error) => exit = state_failure(ctx, &error),
                }
                exit
            }
            Err(error) => state_failure(ctx, &error),
        }
    }
}

/// The line shown while a state command waits up to `timeout` for the lock.
pub(super) fn waiting_line(
    timeout: std::time::Duration,
    holder: Option<&LockInfo>,
    now: u64,
) -> String {
    let who = holder.map_or_else(
        || String::from("held by another process"),
        |holder| holder.describe(now),
    );
    format!(
        "Waiting up to {} for the state lock ({who})...\n",
        describe_duration(timeout)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{InstanceKey, ModulePath};

    #[test]
    fn dates_print_in_utc() {
        assert_eq!(format_unix_seconds(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix_seconds(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            format_unix_seconds(1_795_631_770),
            "2026-11-25 18:36:10 UTC"
        );
    }

    fn target(text: &str) -> Target {
        text.parse()
            .unwrap_or_else(|_| Target::Module(ModulePath::root()))
    }

    #[test]
    fn moves_map_addresses_like_to_like() {
        let a: InstanceAddr = "module.a.module.b.null_resource.x[1]"
            .parse()
            .unwrap_or_else(|_| ResourceAddr::managed("bad", "bad").instance(InstanceKey::None));
        assert_eq!(
            moved(&a, &target("module.a"), &target("module.c")).map(|m| m.to_string()),
            Some(String::from("module.c.module.b.null_resource.x[1]"))
        );
        assert_eq!(moved(&a, &target("module.z"), &target("module.c")), None);
        let plain: InstanceAddr =
            ResourceAddr::managed("local_file", "x").instance(InstanceKey::Int(0));
        assert_eq!(
            moved(&plain, &target("local_file.x"), &target("local_file.y")).map(|m| m.to_string()),
            Some(String::from("local_file.y[0]"))
        );
        let (from, to) = normalize(target("local_file.x[0]"), target("local_file.y"));
        assert_eq!(
            moved(&plain, &from, &to).map(|m| m.to_string()),
            Some(String::from("local_file.y"))
        );
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;
    use crate::state::{AuditResult, VersionInfo};

    fn version(serial: u64, written_at: u64) -> VersionInfo {
        VersionInfo {
            serial,
            written_at,
            summary: format!("v{serial}"),
            instance_count: 0,
        }
    }

    fn record(command: &str, serial: Option<u64>, finished_at: u64) -> AuditRecord {
        AuditRecord {
            command: command.to_owned(),
            user: String::from("u"),
            host: String::from("h"),
            started_at: finished_at,
            finished_at,
            environment: String::from("dev"),
            plan_digest: None,
            serial,
            actions: Vec::new(),
            result: AuditResult::Succeeded,
            pruned: None,
        }
    }

    fn order(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Version(v) => format!("v{}", v.serial),
                Entry::Audit(a) => a.command.clone(),
            })
            .collect()
    }

    #[test]
    fn records_follow_the_version_they_wrote_even_within_one_second() {
        // Three versions in the same second; the records end in between.
        let versions = vec![version(3, 100), version(1, 99), version(2, 100)];
        let records = vec![
            record("early-unlock", None, 50_000),
            record("rm-1", Some(1), 99_900),
            record("rm-2", Some(2), 100_300),
            record("failed-apply", None, 100_400),
            record("rm-3", Some(3), 100_600),
        ];
        assert_eq!(
            order(&interleave(versions, records)),
            [
                "early-unlock",
                "v1",
                "rm-1",
                "v2",
                "rm-2",
                "v3",
                "failed-apply",
                "rm-3"
            ]
        );
    }

    #[test]
    fn records_of_pruned_versions_come_before_the_oldest_version_kept() {
        // Versions 1 and 2 were pruned; all were written in one second.
        let versions = vec![version(3, 100), version(4, 100)];
        let records = vec![
            record("apply-1", Some(1), 100_100),
            record("apply-2", Some(2), 100_200),
            record("apply-3", Some(3), 100_300),
            record("apply-4", Some(4), 100_400),
        ];
        assert_eq!(
            order(&interleave(versions, records)),
            ["apply-1", "apply-2", "v3", "apply-3", "v4", "apply-4"]
        );
    }
}
