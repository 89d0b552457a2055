//! Apply: runs a [`Plan`]'s changes against the providers, concurrently and in
//! dependency order, journalling every completed action before anything that
//! depends on it starts, and returns the new [`State`] with a [`Report`].
//!
//! Terminology: an *action* is one provider-side step of a change (a replace
//! has two: a delete and a create); a *group commit* is one durable journal
//! append (one sync) holding every record that became ready since the last
//! one; a *pending call* is a create, update or delete whose start was
//! journalled but whose result was not, settled through
//! [`Provider::resume`](crate::providers::Provider::resume) by the next
//! command that takes the lock (a create left pending in a state the engine
//! is given is resumed here, before it is created again). A call's
//! *checkpoints* ([`crate::providers::Operation::checkpoint`]) are journalled
//! through the same group commits, and the call waits until they are durable.
//!
//! Invariant: the only caller of the mutating provider methods (`create`,
//! `update`, `delete`). `import` only reads an object by its id, and has two
//! more callers: the plan stage (for `import` blocks) and `infra import`
//! (`pipeline::import`). Never prints (progress goes out as
//! [`Event`]s) and writes nothing but journal records through the
//! [`Recorder`]. A secret value is sealed before it is recorded and never put
//! into an event, a message or a diagnostic.
//! Invariant: a record is durable before any action that depends on it
//! starts; a create's, update's or delete's started record is durable before
//! the call, and a checkpoint before `checkpoint` returns.
//! Invariant: a provider that fails, panics or returns garbage fails only its
//! own action; its dependents are skipped and everything else goes on.

mod engine;
mod graph;
mod retry;

#[cfg(test)]
mod tests;

pub use retry::RetryPolicy;

use crate::addr::InstanceAddr;
use crate::diag::{Diagnostic, Diagnostics};
use crate::expand::Expanded;
use crate::host::Host;
use crate::lang::Value;
use crate::plan::Plan;
use crate::providers::{Attributes, ObjectState, ProviderSet};
use crate::state::{Journal, JournalRecord, Key, State, StateError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How an apply runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How many provider calls run at once (`--parallelism`, at least 1; default 64).
    pub parallelism: usize,
    /// How transient provider errors are retried.
    pub retry: RetryPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallelism: 64,
            retry: RetryPolicy::default(),
        }
    }
}

/// The configuration evaluated again with the objects applied so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Every configured instance's attributes (the proposed configuration).
    pub instances: BTreeMap<InstanceAddr, Attributes>,
    /// The root module's outputs: value and whether declared sensitive.
    pub outputs: BTreeMap<String, (Value, bool)>,
}

/// Re-evaluates the configuration with the objects applied so far (their
/// computed values now known).
///
/// Called from a blocking thread (`spawn_blocking`), so it may be slow; the
/// engine keeps at most one call in flight and batches every object that
/// finished meanwhile into the next one.
pub trait Resolver: Send + Sync {
    /// The configuration with `applied` (every object known now, by address)
    /// filled in. Only the instances in `wanted` need to be in the result
    /// (others may be left out, so a resolver can skip evaluating them). The
    /// outputs are needed only from the last call, made once every action is
    /// done, with `wanted` empty; the calls before it may leave them out, so
    /// that each call costs what its instances need, not the whole stack.
    fn resolve(
        &self,
        applied: &Arc<BTreeMap<InstanceAddr, ObjectState>>,
        wanted: &std::collections::BTreeSet<InstanceAddr>,
    ) -> Result<Resolved, Diagnostics>;
}

/// What is being done to an instance, for progress lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    /// A create.
    Creating,
    /// An in-place update.
    Updating,
    /// A replacement (delete and create, in either order).
    Replacing,
    /// A delete.
    Deleting,
    /// A data source read.
    Reading,
    /// An import of an existing object.
    Importing,
    /// An interrupted create found already made ([`Provider::find`](crate::providers::Provider::find)).
    Reconciling,
    /// A move to a new address only (no provider call).
    Moving,
}

impl ActionKind {
    /// The word progress lines use (`creating`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Creating => "creating",
            ActionKind::Updating => "updating",
            ActionKind::Replacing => "replacing",
            ActionKind::Deleting => "deleting",
            ActionKind::Reading => "reading",
            ActionKind::Importing => "importing",
            ActionKind::Reconciling => "reconciling",
            ActionKind::Moving => "moving",
        }
    }
}

/// How a change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done, and recorded in state.
    Succeeded,
    /// The provider failed, panicked or returned garbage; the diagnostic
    /// (`infra::apply::*`) points at the instance or the attribute at fault.
    Failed(Box<Diagnostic>),
    /// Not attempted because something it depends on failed.
    Skipped {
        /// The failed instance it waited on.
        because: InstanceAddr,
    },
    /// Not attempted because the apply was cancelled or could not go on.
    NotStarted,
}

/// Progress, sent as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A change's first provider call is starting.
    Started {
        /// The instance.
        addr: InstanceAddr,
        /// What is done.
        action: ActionKind,
    },
    /// A provider call failed transiently and is tried again after `wait`.
    Retrying {
        /// The instance.
        addr: InstanceAddr,
        /// The try that failed, from 1.
        attempt: u32,
        /// How long the engine waits before the next try.
        wait: Duration,
        /// The provider's message (never a secret value).
        message: String,
    },
    /// A change finished (succeeded or failed).
    Finished {
        /// The instance.
        addr: InstanceAddr,
        /// What was done.
        action: ActionKind,
        /// From its first call to its last.
        duration: Duration,
        /// How it ended.
        outcome: Outcome,
    },
    /// A running call named the phase it is in ([`crate::providers::Operation::phase`]).
    Phase {
        /// The instance.
        addr: InstanceAddr,
        /// The provider's text ("health 2/3"), never a secret.
        phase: String,
    },
    /// A change was skipped because something it depends on failed.
    Skipped {
        /// The instance.
        addr: InstanceAddr,
        /// The failed instance it waited on.
        because: InstanceAddr,
    },
}

/// What to apply.
pub struct Request<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The configuration it was made from: the dependencies, spans and
    /// configurations of the configured instances.
    pub expanded: &'a Expanded,
    /// The live providers.
    pub providers: &'a ProviderSet,
    /// The state key, to seal what is recorded (and open the prior state).
    pub key: &'a Key,
    /// Randomness for sealing and retry jitter.
    pub host: &'a dyn Host,
    /// Parallelism and retries.
    pub options: Options,
    /// Evaluates the configuration again as values become known.
    pub resolver: Arc<dyn Resolver>,
    /// Generated secret values to record (sealed) before anything else, keyed
    /// `"<module path>secret.NAME"`.
    pub generated_secrets: BTreeMap<String, Value>,
    /// Where progress goes, if anywhere.
    pub events: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
    /// `true` = stop scheduling (first Ctrl-C): the running calls see their
    /// [`Operation`](crate::providers::Operation) cancelled (a deploy rolls
    /// back and fails, a short call finishes), are recorded, and the rest are
    /// reported not started.
    pub cancel: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("changes", &self.plan.changes.len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How one change went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    /// The instance.
    pub addr: InstanceAddr,
    /// What was (or would have been) done.
    pub action: ActionKind,
    /// How it ended.
    pub outcome: Outcome,
    /// From its first provider call to its last (zero when not started).
    pub duration: Duration,
    /// Provider calls tried, retries included.
    pub attempts: u32,
    /// The phases its calls named, in order: Unix milliseconds and text.
    pub phases: Vec<(u64, String)>,
}

/// What an apply did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The state with every success (and nothing else) folded in; the caller
    /// writes it and then clears the journal.
    pub state: State,
    /// One result per change that was not a no-op (moves included), in plan order.
    pub results: Vec<ActionResult>,
    /// The apply was cancelled (or the journal failed) before everything ran.
    pub cancelled: bool,
    /// The outputs were evaluated and put into `state` (only when no action
    /// failed and nothing was cancelled).
    pub outputs_written: bool,
    /// Problems that belong to no single change: a journal that could not be
    /// written, a prior state that did not open, the resolver's own errors.
    pub diagnostics: Diagnostics,
}

impl Report {
    /// The results that ended like `matches` says.
    pub fn count(&self, matches: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| matches(&r.outcome)).count()
    }

    /// Whether anything failed (an action, the journal, the outputs).
    pub fn failed(&self) -> bool {
        self.diagnostics.has_errors()
            || self
                .results
                .iter()
                .any(|r| !matches!(r.outcome, Outcome::Succeeded))
    }

    /// The diagnostics of every failed change, then the others.
    pub fn all_diagnostics(&self) -> Diagnostics {
        let mut all = Diagnostics::new();
        for result in &self.results {
            if let Outcome::Failed(diagnostic) = &result.outcome {
                all.push((**diagnostic).clone());
            }
        }
        all.extend(self.diagnostics.clone());
        all
    }
}

/// Where journal records go: one call is one durable write (a group commit).
pub trait Recorder: Send {
    /// Appends the records durably, all or none, and returns once they are on disk.
    fn record(&mut self, records: &[JournalRecord]) -> Result<(), StateError>;

    /// Appends the records, all or none, without waiting for the disk: they
    /// survive the process at once and the machine from the next
    /// [`Recorder::record`] on. The engine sends here only commits whose
    /// records and calls are all effect-free (`Provider::effect_free`).
    /// The default waits, as `record` does.
    fn record_unsynced(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.record(records)
    }
}

impl Recorder for Journal<'_> {
    fn record(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.append_all(records)
    }

    fn record_unsynced(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.append_all_unsynced(records)
    }
}

impl Recorder for Box<dyn crate::state::JournalWriter + '_> {
    fn record(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.append(records)
    }

    fn record_unsynced(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.append_unsynced(records)
    }
}

/// Applies the plan to `state`: see the module documentation.
pub async fn apply(request: Request<'_>, state: State, journal: &mut dyn Recorder) -> Report {
    engine::run(request, state, journal).await
}
