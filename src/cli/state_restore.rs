//! `infra state restore SERIAL`: writes a history version back as the
//! current state.
//!
//! The way out when the current file was deleted (every other command then
//! refuses with `infra::state::missing_current`) or fails its checks (a
//! truncated or hand-edited file). A writing state command like the
//! surgeries: it takes the lock, writes one new version whose content is that
//! history version (summary `state restore: version N`) and appends an audit
//! record.
//!
//! Invariant: a current file that is replaced while it cannot be read is kept
//! in the history folder, never dropped.

use super::args::{EnvSelect, LockArgs};
use super::state::{locate, state_failure};
use super::{Ctx, Exit};
use crate::state::{ActionOutcome, AuditAction, AuditRecord, LockInfo, Writing};

/// The arguments of `infra state restore`.
#[derive(Debug, clap::Args)]
pub(super) struct RestoreArgs {
    #[command(flatten)]
    env: EnvSelect,
    #[command(flatten)]
    lock: LockArgs,
    /// The history version to write back (`infra state history` lists them).
    #[arg(value_name = "SERIAL")]
    serial: u64,
}

/// Runs `infra state restore`.
pub(super) fn restore(ctx: &mut Ctx<'_>, args: RestoreArgs) -> Exit {
    let Ok(located) = locate(ctx, args.env.environment.as_deref()) else {
        return Exit::Failure;
    };
    let host = ctx.host;
    let stored = located.backend(host);
    let backend = stored.as_ref();
    let started = AuditRecord::start(host, "state-restore", &located.environment);
    let timeout = args.lock.lock_timeout;
    let held = {
        let mut on_wait = |holder: Option<&LockInfo>| {
            ctx.err(&super::state::waiting_line(
                timeout,
                holder,
                host.now_unix_seconds(),
            ));
        };
        Writing::open_to_restore(host, backend, timeout, &mut on_wait)
    };
    let mut writing = match held {
        Ok(writing) => writing.with_retention(located.retention),
        Err(error) => return state_failure(ctx, &error),
    };
    for note in writing.notes() {
        ctx.err(&format!("{note}\n"));
    }
    let summary = format!("state restore: version {}", args.serial);
    let (state, replaced) = match writing.restore(args.serial, &summary) {
        Ok(restored) => restored,
        Err(error) => return state_failure(ctx, &error),
    };
    let mut record = started;
    record.serial = Some(state.serial);
    record.actions = vec![AuditAction {
        address: format!("version {}", args.serial),
        action: String::from("restore"),
        outcome: ActionOutcome::Succeeded,
        duration_ms: 0,
        error: None,
        phases: Vec::new(),
    }];
    let finished = writing.finish(Some(record));
    if let Some(kept) = replaced {
        ctx.out(&format!(
            "The current file could not be read; it was kept as {}.\n",
            kept.display()
        ));
    }
    ctx.out(&format!(
        "Restored version {}: {} instances, {} outputs.\nState written as version {} ({summary}).\n",
        args.serial,
        state.instance_count(),
        state.outputs.len(),
        state.serial,
    ));
    super::state::report_finished(ctx, finished)
}
