//! The coordinator: one loop owns the order, the working state and the
//! journal. Provider calls run as tokio tasks (at most `parallelism`); their
//! results come back to the loop, which drains everything finished, appends
//! the records in one group commit, and only then releases what waited on them.
//!
//! Terminology: a *job* is one task's worth of provider calls for a node:
//! planning it again once its unknown values are resolved, or executing it.
//!
//! Invariant: only this loop touches the state and the recorder; tasks get
//! owned copies of what they need and hand back plain results, so a task that
//! panics loses nothing but its own action.

use super::graph::{Order, Phase};
use super::retry::{Retrier, Rng};
use super::{
    ActionKind, ActionResult, Event, Outcome, Recorder, Report, Request, Resolved, Resolver,
};
use crate::addr::{InstanceAddr, Mode, ProviderAddr, ResourceAddr};
use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use crate::expand::Expanded;
use crate::host::Host;
use crate::lang::Value;
use crate::plan::{Action, Change};
use crate::providers::provider::seal_returned;
use crate::providers::{
    Attributes, ObjectState, Operation, PlannedChange, Provider, ProviderError, ResourceSchema,
};
use crate::providers::{OperationSink, Resumed};
use crate::state::{
    CallKind, InstanceState, JournalRecord, Key, OutputState, PendingCall, ResourceState, State,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// How one change is going.
#[derive(Debug)]
struct ChangeRun {
    kind: ActionKind,
    outcome: Option<Outcome>,
    nodes_left: usize,
    started: Option<Instant>,
    duration: Duration,
    attempts: u32,
    /// The attributes the forward action is made with, once known.
    planned: Option<Attributes>,
    /// The configuration recorded with the object, once resolved.
    proposed: Option<Attributes>,
    /// A pending create from an earlier run: resume it first (look for its object).
    reconcile: bool,
    /// The phases its calls named: Unix milliseconds and text.
    phases: Vec<(u64, String)>,
    /// The configuration has values known only after its dependencies apply.
    needs_resolve: bool,
    /// A no-op: done at once, no provider call, not reported.
    immediate: bool,
    /// Its calls change nothing outside (`Provider::effect_free`): its
    /// records need not be durable before its calls start.
    effect_free: bool,
}

#[derive(Debug, Clone, Copy)]
enum Job {
    Plan(usize),
    Exec(usize),
}

enum Done {
    Planned(PlannedChange),
    Object { object: ObjectState, found: bool },
    Deleted,
}

struct TaskDone {
    node: usize,
    attempts: u32,
    result: Result<Done, (&'static str, ProviderError)>,
}

enum AfterCommit {
    Release(usize),
    Start(usize),
    /// A checkpoint's writer waits for it to be durable.
    Reply(tokio::sync::oneshot::Sender<Result<(), ProviderError>>),
}

/// What a running call's [`Operation`] sends the loop.
enum OpMessage {
    Phase {
        node: usize,
        text: String,
    },
    Checkpoint {
        node: usize,
        record: serde_json::Value,
        reply: tokio::sync::oneshot::Sender<Result<(), ProviderError>>,
    },
}

/// The sink of one call's [`Operation`]: everything goes to the loop, which
/// owns the journal.
struct CallSink {
    node: usize,
    loop_tx: UnboundedSender<OpMessage>,
}

impl OperationSink for CallSink {
    fn phase(&self, text: String) {
        // A closed loop only means the apply is over.
        let _ = self.loop_tx.send(OpMessage::Phase {
            node: self.node,
            text,
        });
    }

    fn checkpoint(
        &self,
        record: serde_json::Value,
    ) -> crate::providers::operation::CheckpointFuture {
        let (reply, written) = tokio::sync::oneshot::channel();
        let sent = self.loop_tx.send(OpMessage::Checkpoint {
            node: self.node,
            record,
            reply,
        });
        Box::pin(async move {
            let lost = || {
                ProviderError::permanent(
                    "the checkpoint could not be journalled: the apply is stopping",
                )
            };
            if sent.is_err() {
                return Err(lost());
            }
            written.await.unwrap_or_else(|_| Err(lost()))
        })
    }
}

/// The state being built, kept in a map so that each record folds in
/// logarithmic time; the same folding as [`State::apply_record`].
struct Working {
    state: State,
    resources: BTreeMap<ResourceAddr, ResourceState>,
    pending: BTreeMap<InstanceAddr, PendingCall>,
}

impl Working {
    fn new(mut state: State) -> Working {
        let resources = std::mem::take(&mut state.resources)
            .into_iter()
            .map(|resource| (resource.addr.clone(), resource))
            .collect();
        let pending = std::mem::take(&mut state.pending)
            .into_iter()
            .map(|pending| (pending.instance.clone(), pending))
            .collect();
        Working {
            state,
            resources,
            pending,
        }
    }

    fn set(&mut self, resource: ResourceAddr, provider: ProviderAddr, instance: InstanceState) {
        use std::collections::btree_map::Entry;
        let entry = match self.resources.entry(resource) {
            Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                entry.provider = provider;
                entry
            }
            Entry::Vacant(vacant) => {
                let addr = vacant.key().clone();
                vacant.insert(ResourceState {
                    addr,
                    provider,
                    instances: Vec::new(),
                })
            }
        };
        match entry
            .instances
            .binary_search_by(|i| i.key.cmp(&instance.key))
        {
            Ok(at) => {
                if let Some(slot) = entry.instances.get_mut(at) {
                    *slot = instance;
                }
            }
            Err(at) => entry.instances.insert(at, instance),
        }
    }

    fn remove(&mut self, addr: &InstanceAddr) -> Option<(ProviderAddr, InstanceState)> {
        let entry = self.resources.get_mut(&addr.resource)?;
        let at = entry.instances.iter().position(|i| i.key == addr.key)?;
        let instance = entry.instances.remove(at);
        let provider = entry.provider.clone();
        if entry.instances.is_empty() {
            self.resources.remove(&addr.resource);
        }
        Some((provider, instance))
    }

    /// Folds a record that was journalled (or was to be): taken by value,
    /// so what it holds moves into the state rather than being copied.
    fn fold(&mut self, record: JournalRecord) {
        match record {
            JournalRecord::Set {
                resource,
                provider,
                instance,
            } => {
                // The address is made of the record's own parts (moved in and
                // out, not copied) to find the call it settles.
                let addr = InstanceAddr {
                    resource,
                    key: instance.key.clone(),
                };
                self.pending.remove(&addr);
                self.set(addr.resource, provider, instance);
            }
            JournalRecord::Remove { instance } => {
                self.pending.remove(&instance);
                self.remove(&instance);
            }
            JournalRecord::Pending(call) => {
                self.pending.insert(call.instance.clone(), call);
            }
            JournalRecord::Checkpoint {
                instance,
                checkpoint,
            } => {
                if let Some(pending) = self.pending.get_mut(&instance) {
                    pending.checkpoint = Some(checkpoint);
                }
            }
            JournalRecord::Settled { instance } => {
                self.pending.remove(&instance);
            }
            JournalRecord::Move { from, to } => {
                if let Some((provider, mut instance)) = self.remove(&from) {
                    instance.key = to.key;
                    self.set(to.resource, provider, instance);
                }
            }
            JournalRecord::Secret { .. }
            | JournalRecord::Base { .. }
            | JournalRecord::Committed { .. } => {
                self.state.apply_record(&record);
            }
        }
    }

    fn into_state(mut self) -> State {
        self.state.resources = self.resources.into_values().collect();
        self.state.pending = self.pending.into_values().collect();
        self.state
    }
}

struct Engine<'a> {
    changes: &'a [Change],
    expanded: &'a Expanded,
    /// Each change's configured instance, looked up once (by change index).
    instances: Vec<Option<&'a crate::expand::Instance>>,
    providers: &'a crate::providers::ProviderSet,
    key: &'a Key,
    host: &'a dyn Host,
    parallelism: usize,
    retry: super::RetryPolicy,
    resolver: Arc<dyn Resolver>,
    events: Option<UnboundedSender<Event>>,
    cancel: tokio::sync::watch::Receiver<bool>,
    watch_cancel: bool,
    /// Phases and checkpoints of the running calls.
    ops_tx: UnboundedSender<OpMessage>,
    ops_rx: tokio::sync::mpsc::UnboundedReceiver<OpMessage>,

    order: Order,
    runs: Vec<ChangeRun>,
    finished: Vec<bool>,
    working: Working,
    /// Shared with the resolve in flight; changed only while none holds it
    /// (see [`Engine::set_applied`]).
    applied: Arc<BTreeMap<InstanceAddr, ObjectState>>,
    /// Changes to `applied` (an object, or `None` for a removal) made while a
    /// resolve held it, in order, for the next resolve.
    applied_later: Vec<(InstanceAddr, Option<ObjectState>)>,

    jobs: VecDeque<Job>,
    /// How many of `jobs` are `Job::Exec` (provider calls that change something).
    queued_execs: usize,
    tasks: JoinSet<TaskDone>,
    task_nodes: HashMap<tokio::task::Id, (usize, &'static str)>,
    batch: Vec<JournalRecord>,
    /// Whether `batch` holds a record that must be durable before what it
    /// lets start (any record but those of effect-free changes).
    batch_needs_sync: bool,
    after: Vec<AfterCommit>,
    waiting_resolve: Vec<usize>,
    /// The nodes waiting on the resolver call in flight, and the call.
    resolving: Option<(Vec<usize>, ResolveCall)>,

    stopping: bool,
    diagnostics: Diagnostics,
    seed: u64,
}

/// A resolver call running on a blocking thread.
type ResolveCall = JoinHandle<Result<Resolved, Diagnostics>>;

enum Wake {
    Task(Option<Result<(tokio::task::Id, TaskDone), tokio::task::JoinError>>),
    Resolved(Result<Result<Resolved, Diagnostics>, tokio::task::JoinError>),
    Cancel(bool),
    Op(Option<OpMessage>),
}

pub(super) async fn run(request: Request<'_>, state: State, recorder: &mut dyn Recorder) -> Report {
    let prior = match crate::plan::prior_objects(&state, request.key) {
        Ok(prior) => prior,
        Err(error) => {
            let mut diagnostics = Diagnostics::new();
            diagnostics.push(error.to_diagnostic());
            let results = request
                .plan
                .changes
                .iter()
                .filter(|change| change.action != Action::NoOp)
                .map(|change| ActionResult {
                    addr: change.addr.clone(),
                    action: kind_of(change),
                    outcome: Outcome::NotStarted,
                    duration: Duration::ZERO,
                    attempts: 0,
                    phases: Vec::new(),
                })
                .collect();
            return Report {
                state,
                results,
                cancelled: true,
                outputs_written: false,
                diagnostics,
            };
        }
    };
    let mut engine = Engine::new(request, state, prior);
    engine.drive(recorder).await;
    engine.finish().await
}

/// What a change does, as progress shows it.
fn kind_of(change: &Change) -> ActionKind {
    if change.import_id.is_some() {
        return ActionKind::Importing;
    }
    match change.action {
        Action::Create => ActionKind::Creating,
        Action::Update => ActionKind::Updating,
        Action::Replace { .. } => ActionKind::Replacing,
        Action::Delete => ActionKind::Deleting,
        Action::Read => ActionKind::Reading,
        Action::NoOp if change.moved_from.is_some() => ActionKind::Moving,
        Action::NoOp => ActionKind::Updating,
    }
}

/// The object a change's `before` describes.
fn object_of(attributes: &Attributes) -> ObjectState {
    ObjectState {
        id: attributes
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        attributes: attributes.clone(),
    }
}

impl<'a> Engine<'a> {
    fn new(
        request: Request<'a>,
        state: State,
        prior: BTreeMap<InstanceAddr, crate::plan::PriorObject>,
    ) -> Engine<'a> {
        let changes = request.plan.changes.as_slice();
        let recorded: BTreeMap<InstanceAddr, Vec<ResourceAddr>> = prior
            .iter()
            .map(|(addr, object)| (addr.clone(), object.dependencies.clone()))
            .collect();
        let instances: Vec<Option<&'a crate::expand::Instance>> = changes
            .iter()
            .map(|change| request.expanded.instances.get(&change.addr))
            .collect();
        let order = Order::build(changes, request.expanded, &instances, &recorded);
        let pending: HashSet<&InstanceAddr> = state.pending.iter().map(|p| &p.instance).collect();
        let runs = changes
            .iter()
            .enumerate()
            .map(|(index, change)| {
                let nodes = usize::from(order.forward.get(index).copied().flatten().is_some())
                    + usize::from(order.delete.get(index).copied().flatten().is_some());
                let resolves = matches!(
                    change.action,
                    Action::Create | Action::Update | Action::Replace { .. } | Action::Read
                );
                let needs_resolve = resolves
                    && instances
                        .get(index)
                        .copied()
                        .flatten()
                        .is_some_and(crate::expand::Instance::configured_unknown);
                ChangeRun {
                    kind: kind_of(change),
                    outcome: None,
                    nodes_left: nodes,
                    started: None,
                    duration: Duration::ZERO,
                    attempts: 0,
                    planned: None,
                    proposed: None,
                    reconcile: pending.contains(&change.addr),
                    phases: Vec::new(),
                    needs_resolve,
                    immediate: change.action == Action::NoOp && change.import_id.is_none(),
                    effect_free: request
                        .providers
                        .get(&change.provider)
                        .is_some_and(|provider| provider.effect_free(&change.resource_type)),
                }
            })
            .collect();
        let mut applied: BTreeMap<InstanceAddr, ObjectState> = prior
            .into_iter()
            .map(|(addr, object)| (addr, object.object))
            .collect();
        let mut seed_bytes = [0u8; 8];
        request.host.random_bytes(&mut seed_bytes);
        let watch_cancel = true;
        let node_count = order.nodes.len();
        let (ops_tx, ops_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut engine = Engine {
            changes,
            expanded: request.expanded,
            instances,
            providers: request.providers,
            key: request.key,
            host: request.host,
            parallelism: request.options.parallelism.max(1),
            retry: request.options.retry.clone(),
            resolver: request.resolver.clone(),
            events: request.events.clone(),
            cancel: request.cancel.clone(),
            watch_cancel,
            ops_tx,
            ops_rx,
            order,
            runs,
            finished: vec![false; node_count],
            working: Working::new(state),
            applied: Arc::new(BTreeMap::new()),
            applied_later: Vec::new(),
            jobs: VecDeque::new(),
            queued_execs: 0,
            tasks: JoinSet::new(),
            task_nodes: HashMap::new(),
            batch: Vec::new(),
            batch_needs_sync: false,
            after: Vec::new(),
            waiting_resolve: Vec::new(),
            resolving: None,
            stopping: *request.cancel.borrow(),
            diagnostics: Diagnostics::new(),
            seed: u64::from_le_bytes(seed_bytes),
        };
        // Secrets and moves first, in the first group commit, before any provider call.
        for (name, value) in &request.generated_secrets {
            match engine
                .key
                .seal(engine.host, &value.clone().with_secret(true))
            {
                Ok(sealed) => engine.journal(
                    None,
                    JournalRecord::Secret {
                        name: name.clone(),
                        value: sealed,
                    },
                ),
                Err(error) => {
                    engine.diagnostics.push(error.to_diagnostic());
                    engine.stopping = true;
                }
            }
        }
        for change in changes {
            if let Some(from) = &change.moved_from {
                engine.journal(
                    None,
                    JournalRecord::Move {
                        from: (**from).clone(),
                        to: change.addr.clone(),
                    },
                );
                if let Some(object) = applied.remove(from) {
                    applied.insert(change.addr.clone(), object);
                }
            }
            if change.action == Action::NoOp
                && let Some(before) = &change.before
            {
                applied.insert(change.addr.clone(), object_of(before));
            }
        }
        engine.applied = Arc::new(applied);
        let ready: Vec<usize> = engine
            .order
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.waiting == 0)
            .map(|(index, _)| index)
            .collect();
        for node in ready {
            if engine.is_immediate(node) {
                engine.after.push(AfterCommit::Release(node));
            } else {
                engine.ready(node);
            }
        }
        engine
    }

    fn emit(&self, event: Event) {
        if let Some(events) = &self.events {
            // A closed receiver only means nobody is watching.
            let _ = events.send(event);
        }
    }

    fn change_of(&self, node: usize) -> Option<(usize, Phase)> {
        self.order.nodes.get(node).map(|n| (n.change, n.phase))
    }

    fn is_immediate(&self, node: usize) -> bool {
        self.change_of(node)
            .and_then(|(change, _)| self.runs.get(change))
            .is_some_and(|run| run.immediate)
    }

    /// A node whose prerequisites are all durable.
    fn ready(&mut self, node: usize) {
        if self.stopping {
            return;
        }
        let Some((index, phase)) = self.change_of(node) else {
            return;
        };
        let Some(run) = self.runs.get(index) else {
            return;
        };
        match phase {
            Phase::Delete => self.start_delete(node),
            Phase::Forward if run.needs_resolve && run.proposed.is_none() => {
                self.waiting_resolve.push(node);
            }
            Phase::Forward => self.planned_ready(node),
        }
    }

    /// A forward node whose planned attributes are known (or are the plan's).
    fn planned_ready(&mut self, node: usize) {
        let Some((index, _)) = self.change_of(node) else {
            return;
        };
        let (Some(change), Some(run)) = (self.changes.get(index), self.runs.get_mut(index)) else {
            return;
        };
        if run.planned.is_none() {
            run.planned = Some(change.after.clone());
        }
        let call = match change.action {
            _ if change.import_id.is_some() => None,
            Action::Create | Action::Replace { .. } => Some(CallKind::Create),
            Action::Update => Some(CallKind::Update),
            _ => None,
        };
        let Some(call) = call else {
            self.queue_exec(node);
            return;
        };
        let prior = match call {
            CallKind::Update => change.before.as_ref(),
            _ => None,
        };
        let planned = self
            .runs
            .get(index)
            .and_then(|run| run.planned.as_ref())
            .unwrap_or(&change.after);
        let started = self.started_record(index, call, planned, prior, false);
        match started {
            Ok(record) => {
                self.journal(Some(index), record);
                self.after.push(AfterCommit::Start(node));
            }
            Err(diagnostic) => self.fail(node, diagnostic),
        }
    }

    /// A delete node is ready: its started record first, then the call.
    fn start_delete(&mut self, node: usize) {
        let Some((index, _)) = self.change_of(node) else {
            return;
        };
        let Some(change) = self.changes.get(index) else {
            return;
        };
        // The old object of a create-before-destroy replacement is no longer
        // at the address: its delete is journalled as deposed.
        let deposed = matches!(
            change.action,
            Action::Replace {
                create_before_destroy: true
            }
        );
        let before = change.before.clone().unwrap_or_default();
        match self.started_record(
            index,
            CallKind::Delete,
            &Attributes::new(),
            Some(&before),
            deposed,
        ) {
            Ok(record) => {
                self.journal(Some(index), record);
                self.after.push(AfterCommit::Start(node));
            }
            Err(diagnostic) => self.fail(node, diagnostic),
        }
    }

    /// The started record of a create, update or delete of change `index`.
    fn started_record(
        &self,
        index: usize,
        call: CallKind,
        planned: &Attributes,
        prior: Option<&Attributes>,
        deposed: bool,
    ) -> Result<JournalRecord, Diagnostic> {
        let Some(change) = self.changes.get(index) else {
            return Err(Diagnostic::error_at_path(Code::Internal, None));
        };
        let seal = |entries: &Attributes| {
            self.key
                .seal_map(self.host, entries)
                .map_err(|error| error.to_diagnostic())
        };
        let mut pending = PendingCall::new(
            change.addr.clone(),
            change.resource_type.clone(),
            change.provider.clone(),
            seal(planned)?,
            call,
        );
        pending.deposed = deposed;
        if let Some(prior) = prior {
            pending.prior = Some(seal(prior)?);
        }
        // A create keeps the record it always had: the planned attributes
        // (`find` needs no more), so its cost is what it was.
        if call == CallKind::Update {
            let instance = self.instance_of(index);
            let proposed = self.runs.get(index).and_then(|run| run.proposed.as_ref());
            let config = match (proposed, instance) {
                (Some(proposed), _) => Some(seal(proposed)?),
                (None, Some(instance)) => Some(seal(&instance.configured())?),
                (None, None) => None,
            };
            if config.is_some() {
                pending.config = config;
            }
            if let Some(instance) = instance {
                pending.dependencies = instance.dependencies.to_vec();
            }
        }
        Ok(JournalRecord::Pending(pending))
    }

    /// A node finished well (its records are durable): release what waited on it.
    fn complete(&mut self, first: usize) {
        let mut stack = vec![first];
        while let Some(node) = stack.pop() {
            if self.finished.get(node).copied().unwrap_or(true) {
                continue;
            }
            if let Some(slot) = self.finished.get_mut(node) {
                *slot = true;
            }
            let Some((index, _)) = self.change_of(node) else {
                continue;
            };
            if let Some(run) = self.runs.get_mut(index) {
                run.nodes_left = run.nodes_left.saturating_sub(1);
                if run.nodes_left == 0 && run.outcome.is_none() {
                    run.outcome = Some(Outcome::Succeeded);
                    if !run.immediate
                        && let Some(change) = self.changes.get(index)
                    {
                        run.duration = run.started.map(|s| s.elapsed()).unwrap_or_default();
                        let event = Event::Finished {
                            addr: change.addr.clone(),
                            action: run.kind,
                            duration: run.duration,
                            outcome: Outcome::Succeeded,
                        };
                        self.emit(event);
                    }
                }
            }
            if self.stopping {
                continue;
            }
            let dependents = self
                .order
                .nodes
                .get_mut(node)
                .map(|n| std::mem::take(&mut n.dependents))
                .unwrap_or_default();
            for dependent in dependents {
                let Some(entry) = self.order.nodes.get_mut(dependent) else {
                    continue;
                };
                entry.waiting = entry.waiting.saturating_sub(1);
                if entry.waiting == 0 {
                    if self.is_immediate(dependent) {
                        stack.push(dependent);
                    } else {
                        self.ready(dependent);
                    }
                }
            }
        }
    }

    /// A node failed: its change fails and everything that waits on it is skipped.
    fn fail(&mut self, node: usize, diagnostic: Diagnostic) {
        let Some((index, _)) = self.change_of(node) else {
            return;
        };
        let Some(addr) = self.changes.get(index).map(|c| c.addr.clone()) else {
            return;
        };
        if let Some(run) = self.runs.get_mut(index)
            && run.outcome.is_none()
        {
            run.duration = run.started.map(|s| s.elapsed()).unwrap_or_default();
            let outcome = Outcome::Failed(Box::new(diagnostic));
            run.outcome = Some(outcome.clone());
            let event = Event::Finished {
                addr: addr.clone(),
                action: run.kind,
                duration: run.duration,
                outcome,
            };
            self.emit(event);
        }
        if let Some(slot) = self.finished.get_mut(node) {
            *slot = true;
        }
        let mut stack: Vec<usize> = self
            .order
            .nodes
            .get(node)
            .map(|n| n.dependents.clone())
            .unwrap_or_default();
        while let Some(dependent) = stack.pop() {
            if self.finished.get(dependent).copied().unwrap_or(true) {
                continue;
            }
            if let Some(slot) = self.finished.get_mut(dependent) {
                *slot = true;
            }
            let Some((skipped, _)) = self.change_of(dependent) else {
                continue;
            };
            if let Some(run) = self.runs.get_mut(skipped)
                && run.outcome.is_none()
            {
                run.outcome = Some(Outcome::Skipped {
                    because: addr.clone(),
                });
                if let Some(change) = self.changes.get(skipped) {
                    let event = Event::Skipped {
                        addr: change.addr.clone(),
                        because: addr.clone(),
                    };
                    self.emit(event);
                }
            }
            if let Some(n) = self.order.nodes.get(dependent) {
                stack.extend(n.dependents.iter().copied());
            }
        }
    }

    /// Adds a record of change `index` (`None`: of the apply as a whole) to
    /// the next commit. Only records of effect-free changes let that commit
    /// skip waiting for the disk.
    fn journal(&mut self, index: Option<usize>, record: JournalRecord) {
        self.batch_needs_sync |= !index.is_some_and(|index| self.effect_free(index));
        self.batch.push(record);
    }

    /// Whether change `index`'s calls are effect-free (`Provider::effect_free`).
    fn effect_free(&self, index: usize) -> bool {
        self.runs.get(index).is_some_and(|run| run.effect_free)
    }

    /// Whether the next commit must wait for the disk: it holds a record, or
    /// lets a call start or a checkpoint's writer go on, of something that
    /// is not effect-free.
    fn commit_needs_sync(&self) -> bool {
        self.batch_needs_sync
            || self.after.iter().any(|step| match step {
                AfterCommit::Release(_) => false,
                AfterCommit::Start(node) => !self
                    .change_of(*node)
                    .is_some_and(|(index, _)| self.effect_free(index)),
                AfterCommit::Reply(_) => true,
            })
    }

    /// Appends the batch (one group commit: durably, unless everything in
    /// it and everything it lets start is effect-free), folds it into the
    /// state, then releases and starts what waited on it.
    fn commit(&mut self, recorder: &mut dyn Recorder) {
        if self.batch.is_empty() && self.after.is_empty() {
            return;
        }
        let sync = self.commit_needs_sync();
        self.batch_needs_sync = false;
        let batch = std::mem::take(&mut self.batch);
        let journalled = batch.is_empty() || {
            // A sync may take a while: on a multi-thread runtime, let this
            // worker's other tasks move elsewhere meanwhile.
            let multi_thread = tokio::runtime::Handle::try_current().is_ok_and(|handle| {
                handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
            });
            let recorded = if !sync {
                recorder.record_unsynced(&batch)
            } else if multi_thread {
                tokio::task::block_in_place(|| recorder.record(&batch))
            } else {
                recorder.record(&batch)
            };
            match recorded {
                Ok(()) => true,
                Err(error) => {
                    self.diagnostics.push(error.to_diagnostic());
                    self.stopping = true;
                    false
                }
            }
        };
        for record in batch {
            // Every success is in the returned state even when the journal
            // failed; a create that never started is not.
            if journalled
                || !matches!(
                    record,
                    JournalRecord::Pending(_) | JournalRecord::Checkpoint { .. }
                )
            {
                self.working.fold(record);
            }
        }
        for step in std::mem::take(&mut self.after) {
            match step {
                AfterCommit::Release(node) => self.complete(node),
                AfterCommit::Start(node) if journalled && !self.stopping => self.queue_exec(node),
                AfterCommit::Start(_) => {}
                AfterCommit::Reply(reply) => {
                    let written = if journalled {
                        Ok(())
                    } else {
                        Err(ProviderError::permanent(
                            "the checkpoint could not be journalled (see the journal error)",
                        ))
                    };
                    // A call that stopped waiting only means it is gone.
                    let _ = reply.send(written);
                }
            }
        }
    }

    /// Releases what waited on the nodes that finished well, before their
    /// records are durable: that only plans (and resolves) their dependents,
    /// which is computation; a provider call they lead to starts only after
    /// the commit that holds those records (see [`Engine::drive`]).
    fn release_finished(&mut self) {
        while self
            .after
            .iter()
            .any(|step| matches!(step, AfterCommit::Release(_)))
        {
            let steps = std::mem::take(&mut self.after);
            let mut released = Vec::new();
            for step in steps {
                match step {
                    AfterCommit::Release(node) => released.push(node),
                    // Calls start, and checkpoints are answered, only once durable.
                    AfterCommit::Start(_) | AfterCommit::Reply(_) => self.after.push(step),
                }
            }
            for node in released {
                self.complete(node);
            }
        }
    }

    /// Queues an action's provider call (one that changes something).
    fn queue_exec(&mut self, node: usize) {
        self.jobs.push_back(Job::Exec(node));
        self.queued_execs += 1;
    }

    /// Whether the engine is only computing: the resolver, or providers
    /// planning (`plan_change`, which changes nothing anywhere), with no
    /// action's provider call running, queued or about to be queued. Only
    /// then may records wait for the next commit.
    fn only_computing(&self) -> bool {
        let planning = self.jobs.front().is_some()
            || self.task_nodes.values().any(|(_, doing)| *doing == "plan");
        !self.stopping
            && self.queued_execs == 0
            && (self.resolving.is_some() || planning)
            && !self.task_nodes.values().any(|(_, doing)| *doing != "plan")
            && !self
                .after
                .iter()
                .any(|step| matches!(step, AfterCommit::Start(_) | AfterCommit::Reply(_)))
    }

    /// The loop. Records are made durable (one group commit) before any
    /// action's provider call starts and before the loop waits on one; while
    /// the engine is only computing what a dependent will be given (the
    /// resolver, then the provider planning it), they wait for it, so that
    /// in a chain one sync carries both a link's result and the next link's
    /// pending create (one sync per link, not two).
    async fn drive(&mut self, recorder: &mut dyn Recorder) {
        loop {
            // Effect-free calls done on this thread (see `spawn_jobs`) may
            // keep the loop from waiting below for a long while: the cancel
            // is read at every turn too.
            if !self.stopping && *self.cancel.borrow() {
                self.stopping = true;
            }
            self.release_finished();
            self.start_resolve();
            let mut deferred = false;
            if self.only_computing() {
                // No `Job::Exec` is queued: this starts planning calls only.
                self.spawn_jobs();
                deferred = self.only_computing();
            }
            if !deferred {
                self.commit(recorder);
                if !self.batch.is_empty() || !self.after.is_empty() {
                    continue;
                }
                if self.stopping {
                    self.jobs.clear();
                    self.queued_execs = 0;
                    self.waiting_resolve.clear();
                    self.resolving = None;
                }
                self.spawn_jobs();
                self.start_resolve();
                if !self.batch.is_empty() || !self.after.is_empty() {
                    continue;
                }
                if self.tasks.is_empty() && self.resolving.is_none() {
                    break;
                }
            }
            let wake = {
                let resolving = async {
                    match self.resolving.as_mut() {
                        Some((_, handle)) => handle.await,
                        None => std::future::pending().await,
                    }
                };
                let watch = self.watch_cancel && !self.stopping;
                tokio::select! {
                    joined = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => Wake::Task(joined),
                    resolved = resolving => Wake::Resolved(resolved),
                    changed = self.cancel.changed(), if watch => Wake::Cancel(changed.is_ok()),
                    message = self.ops_rx.recv() => Wake::Op(message),
                }
            };
            match wake {
                Wake::Task(Some(joined)) => self.joined(joined),
                Wake::Task(None) => {}
                Wake::Resolved(result) => self.resolved(result),
                Wake::Op(Some(message)) => self.operation_message(message),
                Wake::Op(None) => {}
                Wake::Cancel(open) => {
                    if !open {
                        self.watch_cancel = false;
                    } else if *self.cancel.borrow() {
                        self.stopping = true;
                    }
                }
            }
            while let Some(joined) = self.tasks.try_join_next_with_id() {
                self.joined(joined);
            }
        }
    }

    /// A running call named a phase or wrote a checkpoint.
    fn operation_message(&mut self, message: OpMessage) {
        match message {
            OpMessage::Phase { node, text } => {
                let Some((index, _)) = self.change_of(node) else {
                    return;
                };
                let Some(addr) = self.changes.get(index).map(|c| c.addr.clone()) else {
                    return;
                };
                let at = self.host.now_unix_millis();
                if let Some(run) = self.runs.get_mut(index) {
                    run.phases.push((at, text.clone()));
                }
                self.emit(Event::Phase { addr, phase: text });
            }
            OpMessage::Checkpoint {
                node,
                record,
                reply,
            } => {
                let Some(addr) = self.addr_of(node) else {
                    let _ = reply.send(Err(ProviderError::permanent(
                        "the checkpoint's action is unknown; this is a bug",
                    )));
                    return;
                };
                self.journal(
                    None,
                    JournalRecord::Checkpoint {
                        instance: addr.clone(),
                        checkpoint: record,
                    },
                );
                self.after.push(AfterCommit::Reply(reply));
            }
        }
    }

    fn start_resolve(&mut self) {
        if self.stopping || self.resolving.is_some() || self.waiting_resolve.is_empty() {
            return;
        }
        let nodes = std::mem::take(&mut self.waiting_resolve);
        self.catch_up_applied();
        let wanted: std::collections::BTreeSet<InstanceAddr> = nodes
            .iter()
            .filter_map(|node| self.change_of(*node))
            .filter_map(|(index, _)| self.changes.get(index))
            .map(|change| change.addr.clone())
            .collect();
        let applied = Arc::clone(&self.applied);
        let resolver = self.resolver.clone();
        if self.tasks.is_empty() {
            // Nothing else is running, so nothing can finish while this
            // evaluates: it runs here rather than on a blocking thread,
            // which saves two thread hand-offs per resolve (a chain
            // resolves once per link). A panic is caught as a crashed
            // blocking task would be.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                resolver.resolve(&applied, &wanted)
            }));
            self.take_resolved(nodes, result.ok());
            return;
        }
        let handle = tokio::task::spawn_blocking(move || resolver.resolve(&applied, &wanted));
        self.resolving = Some((nodes, handle));
    }

    fn resolved(&mut self, result: Result<Result<Resolved, Diagnostics>, tokio::task::JoinError>) {
        let Some((nodes, _)) = self.resolving.take() else {
            return;
        };
        self.take_resolved(nodes, result.ok());
    }

    /// What the resolve for `nodes` gave (`None`: it crashed).
    fn take_resolved(&mut self, nodes: Vec<usize>, result: Option<Result<Resolved, Diagnostics>>) {
        let mut resolved = match result {
            Some(Ok(resolved)) => resolved,
            Some(Err(diagnostics)) => {
                self.diagnostics.extend(diagnostics);
                for node in nodes {
                    let diagnostic =
                        self.unresolved(node, "evaluating it failed (see the other errors)");
                    self.fail(node, diagnostic);
                }
                return;
            }
            None => {
                for node in nodes {
                    let diagnostic = self.unresolved(node, "the evaluation crashed; this is a bug");
                    self.fail(node, diagnostic);
                }
                return;
            }
        };
        for node in nodes {
            let Some((index, _)) = self.change_of(node) else {
                continue;
            };
            let Some(change) = self.changes.get(index) else {
                continue;
            };
            // Each node's configuration is taken out of the result (a node
            // is resolved once), not copied.
            match resolved.instances.remove(&change.addr) {
                None => {
                    let diagnostic = self.unresolved(node, "it is no longer in the configuration");
                    self.fail(node, diagnostic);
                }
                Some(proposed) if proposed.values().any(Value::contains_unknown) => {
                    let diagnostic = self.inconsistent(
                        node,
                        "some of its values are still unknown after everything it depends on was applied",
                    );
                    self.fail(node, diagnostic);
                }
                Some(proposed) => {
                    let data = change.addr.resource.mode == Mode::Data;
                    if let Some(run) = self.runs.get_mut(index) {
                        if data {
                            run.planned = Some(proposed.clone());
                        }
                        run.proposed = Some(proposed);
                    }
                    if data {
                        self.planned_ready(node);
                    } else {
                        self.jobs.push_back(Job::Plan(node));
                    }
                }
            }
        }
    }

    fn span_of(&self, addr: &InstanceAddr, error: Option<&ProviderError>) -> Option<Span> {
        let instance = self.expanded.instances.get(addr)?;
        error
            .and_then(|e| e.attribute_path.as_ref())
            .and_then(|path| path.first())
            .and_then(|name| instance.attribute_spans.get(name))
            .copied()
            .or(Some(instance.span))
    }

    fn diagnostic(
        &self,
        code: Code,
        addr: &InstanceAddr,
        error: Option<&ProviderError>,
        label: &str,
        help: String,
    ) -> Diagnostic {
        match self.span_of(addr, error) {
            Some(span) => Diagnostic::error(code, span, label),
            None => Diagnostic::error_at_path(code, Some(addr.to_string())),
        }
        .with_help(help)
    }

    /// Change `index`'s configured instance (`None` for one gone from the
    /// configuration).
    fn instance_of(&self, index: usize) -> Option<&'a crate::expand::Instance> {
        self.instances.get(index).copied().flatten()
    }

    fn addr_of(&self, node: usize) -> Option<&'a InstanceAddr> {
        let (index, _) = self.change_of(node)?;
        self.changes.get(index).map(|c| &c.addr)
    }

    fn unresolved(&self, node: usize, why: &str) -> Diagnostic {
        let Some(addr) = self.addr_of(node) else {
            return Diagnostic::error_at_path(Code::Internal, None);
        };
        self.diagnostic(
            Code::ApplyUnresolved,
            addr,
            None,
            "its configuration could not be resolved",
            format!(
                "the configuration of `{addr}` could not be evaluated with the values of its \
                 applied dependencies: {why}"
            ),
        )
    }

    fn inconsistent(&self, node: usize, why: &str) -> Diagnostic {
        let Some(addr) = self.addr_of(node) else {
            return Diagnostic::error_at_path(Code::Internal, None);
        };
        self.diagnostic(
            Code::ApplyInconsistentFinalPlan,
            addr,
            None,
            "this change is not what was planned",
            format!("`{addr}`: {why}; run `infra plan` and apply again"),
        )
    }

    fn spawn_jobs(&mut self) {
        let mut done_here = Vec::new();
        let mut crashed_here = Vec::new();
        while !self.stopping && self.tasks.len() < self.parallelism {
            let Some(job) = self.jobs.pop_front() else {
                break;
            };
            if let Job::Exec(_) = job {
                self.queued_execs = self.queued_execs.saturating_sub(1);
            }
            let node = match job {
                Job::Plan(node) | Job::Exec(node) => node,
            };
            let Some((index, phase)) = self.change_of(node) else {
                continue;
            };
            let Some(change) = self.changes.get(index) else {
                continue;
            };
            let Some(provider) = self
                .providers
                .lookup(&change.resource_type, &change.provider)
                .cloned()
            else {
                let diagnostic = self.diagnostic(
                    Code::ApplyProviderError,
                    &change.addr,
                    None,
                    "no provider for this",
                    crate::plan::missing_provider_help(&change.addr, &change.provider, "applied"),
                );
                self.fail(node, diagnostic);
                continue;
            };
            let Some(run) = self.runs.get_mut(index) else {
                continue;
            };
            if run.started.is_none() {
                run.started = Some(Instant::now());
                let event = Event::Started {
                    addr: change.addr.clone(),
                    action: run.kind,
                };
                self.emit(event);
            }
            let Some(run) = self.runs.get(index) else {
                continue;
            };
            let retrier = Retrier {
                policy: self.retry.clone(),
                rng: Rng::new(self.seed ^ (node as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                addr: change.addr.clone(),
                events: self.events.clone(),
                attempts: 0,
            };
            let resource_type = change.resource_type.clone();
            let (doing, task): (&'static str, Task) = match (job, phase) {
                (Job::Plan(_), _) => (
                    "plan",
                    Task::Plan {
                        prior: match change.action {
                            Action::Update => change.before.as_ref().map(object_of),
                            _ => None,
                        },
                        proposed: run.proposed.clone().unwrap_or_default(),
                    },
                ),
                (Job::Exec(_), Phase::Delete) => (
                    "delete",
                    Task::Delete {
                        prior: object_of(change.before.as_ref().unwrap_or(&Attributes::new())),
                    },
                ),
                (Job::Exec(_), Phase::Forward) => {
                    let planned = run.planned.clone().unwrap_or_else(|| change.after.clone());
                    match (&change.import_id, change.action) {
                        (Some(id), action) => (
                            "import",
                            Task::Import {
                                id: id.clone(),
                                update: action == Action::Update,
                                planned,
                            },
                        ),
                        (None, Action::Create | Action::Replace { .. }) => (
                            "create",
                            Task::Create {
                                planned,
                                reconcile: run.reconcile,
                            },
                        ),
                        (None, Action::Update) => (
                            "update",
                            Task::Update {
                                prior: object_of(
                                    change.before.as_ref().unwrap_or(&Attributes::new()),
                                ),
                                planned,
                            },
                        ),
                        (None, _) => ("read", Task::Read { planned }),
                    }
                }
            };
            // Each call gets its own operation context: its phases and
            // checkpoints come to this loop, the engine's cancel reaches it.
            let sink = CallSink {
                node,
                loop_tx: self.ops_tx.clone(),
            };
            let op = Operation::new(Arc::new(sink), self.cancel.clone());
            let mut call = Box::pin(task.run(node, provider, resource_type, retrier, op));
            if run.effect_free {
                // An effect-free call (`null_resource`) is usually done at
                // its first poll: polled here, it costs no hand-off to a
                // worker thread and back (four per link of a chain). One
                // that waits is spawned as any other; the runtime polls it
                // again, with a real waker, at once.
                let mut context = std::task::Context::from_waker(std::task::Waker::noop());
                let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    call.as_mut().poll(&mut context)
                }));
                match polled {
                    Ok(std::task::Poll::Ready(done)) => {
                        done_here.push(done);
                        continue;
                    }
                    Ok(std::task::Poll::Pending) => {}
                    Err(_) => {
                        crashed_here.push((node, doing));
                        continue;
                    }
                }
            }
            let handle = self.tasks.spawn(call);
            self.task_nodes.insert(handle.id(), (node, doing));
        }
        for (node, doing) in crashed_here {
            self.crashed(node, doing);
        }
        for done in done_here {
            self.task_done(done);
        }
    }

    fn joined(&mut self, joined: Result<(tokio::task::Id, TaskDone), tokio::task::JoinError>) {
        match joined {
            Ok((id, done)) => {
                self.task_nodes.remove(&id);
                self.task_done(done);
            }
            Err(error) => {
                if let Some((node, doing)) = self.task_nodes.remove(&error.id()) {
                    self.crashed(node, doing);
                }
            }
        }
    }

    /// A call panicked (on a worker, or polled here): its change fails.
    fn crashed(&mut self, node: usize, doing: &'static str) {
        while let Ok(message) = self.ops_rx.try_recv() {
            self.operation_message(message);
        }
        let Some((index, _)) = self.change_of(node) else {
            return;
        };
        if let Some(run) = self.runs.get_mut(index) {
            run.attempts += 1;
        }
        let Some(change) = self.changes.get(index) else {
            return;
        };
        let diagnostic = self.diagnostic(
            Code::ApplyProviderPanicked,
            &change.addr,
            None,
            "the provider crashed on this",
            format!(
                "provider `{}` crashed while asked to {doing} `{}`; report this to the \
                 provider's authors. Whether the object was changed is unknown: run \
                 `infra plan` to see",
                change.provider, change.addr
            ),
        );
        self.fail(node, diagnostic);
    }

    /// A call returned.
    fn task_done(&mut self, done: TaskDone) {
        // What a call named or wrote before it returned is handled before its
        // result: its phases precede its end, and none is left unread.
        while let Ok(message) = self.ops_rx.try_recv() {
            self.operation_message(message);
        }
        let node = done.node;
        let Some((index, phase)) = self.change_of(node) else {
            return;
        };
        let Some(change) = self.changes.get(index) else {
            return;
        };
        if let Some(run) = self.runs.get_mut(index) {
            run.attempts += done.attempts;
        }
        match done.result {
            Err((doing, error)) => {
                // An update or delete that returned an error is over (the
                // provider rolled back what it could): its started record
                // goes. A create's stays, so the next run looks for what it
                // may have made.
                let started_kept = phase == Phase::Forward
                    && (change.import_id.is_some()
                        || matches!(
                            change.action,
                            Action::Create | Action::Replace { .. } | Action::Read
                        ));
                // An update that failed but changed the object on its way
                // (a deploy that restarted the old version: new processes)
                // says what it left; that is recorded, with the prior
                // configuration, in place of the prior object.
                let left = match &error.left {
                    Some(left) if doing == "update" && phase == Phase::Forward => {
                        Some(left.as_ref().clone())
                    }
                    _ => None,
                };
                let recorded_left = match left {
                    Some(left) => match self.record_object(index, left, true) {
                        Ok(()) => true,
                        Err(diagnostic) => {
                            self.diagnostics.push(diagnostic);
                            false
                        }
                    },
                    None => false,
                };
                let Some(change) = self.changes.get(index) else {
                    return;
                };
                if !started_kept && doing != "plan" && !recorded_left {
                    self.journal(
                        Some(index),
                        JournalRecord::Settled {
                            instance: change.addr.clone(),
                        },
                    );
                }
                let tries = if done.attempts > 1 {
                    format!(" (after {} tries)", done.attempts)
                } else {
                    String::new()
                };
                let mut help = format!(
                    "provider `{}` failed to {doing} `{}`{tries}: {}",
                    change.provider, change.addr, error.message
                );
                let old_replaced = phase == Phase::Delete
                    && matches!(
                        change.action,
                        Action::Replace {
                            create_before_destroy: true
                        }
                    );
                if old_replaced && let Some(before) = &change.before {
                    help.push_str(&format!(
                        ". The old object `{}` was replaced by the new one and is no longer in \
                         state: delete it with the provider's own tools",
                        object_of(before).id
                    ));
                }
                let diagnostic = self.diagnostic(
                    error.code.unwrap_or(Code::ApplyProviderError),
                    &change.addr,
                    Some(&error),
                    "the provider refused this",
                    help,
                );
                self.fail(node, diagnostic);
            }
            Ok(Done::Planned(planned)) => {
                if change.action == Action::Update && planned.replaces() {
                    let diagnostic = self.inconsistent(
                        node,
                        "it was planned as an update, but with the values known now it must be \
                         replaced",
                    );
                    self.fail(node, diagnostic);
                    return;
                }
                if let Some(run) = self.runs.get_mut(index) {
                    run.planned = Some(planned.planned);
                }
                self.planned_ready(node);
            }
            Ok(Done::Deleted) => {
                let replaces_later = matches!(
                    change.action,
                    Action::Replace {
                        create_before_destroy: true
                    }
                );
                if phase == Phase::Delete && !replaces_later {
                    self.journal(
                        Some(index),
                        JournalRecord::Remove {
                            instance: change.addr.clone(),
                        },
                    );
                    let addr = change.addr.clone();
                    self.set_applied(addr, None);
                } else if phase == Phase::Delete {
                    self.journal(
                        Some(index),
                        JournalRecord::Settled {
                            instance: change.addr.clone(),
                        },
                    );
                }
                self.after.push(AfterCommit::Release(node));
            }
            Ok(Done::Object { object, found }) => {
                if let Err(problem) = self.check_object(change, &object) {
                    let diagnostic = self.diagnostic(
                        Code::ApplyInvalidResult,
                        &change.addr,
                        None,
                        "the provider returned an invalid object for this",
                        format!(
                            "provider `{}` applied `{}` but returned {problem}; nothing was \
                             recorded. Report this to the provider's authors",
                            change.provider, change.addr
                        ),
                    );
                    self.fail(node, diagnostic);
                    return;
                }
                if found && let Some(run) = self.runs.get_mut(index) {
                    run.kind = ActionKind::Reconciling;
                }
                match self.record_object(index, object, false) {
                    Ok(()) => self.after.push(AfterCommit::Release(node)),
                    Err(diagnostic) => self.fail(node, diagnostic),
                }
            }
        }
    }

    /// Why a returned object cannot be recorded, if it cannot.
    fn check_object(&self, change: &Change, object: &ObjectState) -> Result<(), String> {
        if change.addr.resource.mode == Mode::Managed && object.id.trim().is_empty() {
            return Err(String::from("an object with an empty id"));
        }
        if let Some(provider) = self.providers.get(&change.provider)
            && let Some(schema) = provider.schema(&change.resource_type)
        {
            let missing: Vec<String> = schema
                .attributes
                .iter()
                .filter(|attribute| !object.attributes.contains_key(attribute.name))
                .map(|attribute| format!("`{}`", attribute.name))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "an object without the attributes {} of its schema",
                    missing.join(", ")
                ));
            }
        }
        let unknown: Vec<String> = object
            .attributes
            .iter()
            .filter(|(_, value)| value.contains_unknown())
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "an object whose {} is still unknown",
                unknown.join(", ")
            ));
        }
        Ok(())
    }

    /// Seals an object and its configuration into a Set record: a successful
    /// call's object with the configuration it applied, or (`prior_config`)
    /// what a failed call left with the configuration recorded before it.
    fn record_object(
        &mut self,
        index: usize,
        object: ObjectState,
        prior_config: bool,
    ) -> Result<(), Diagnostic> {
        let Some(change) = self.changes.get(index) else {
            return Ok(());
        };
        let instance = self.instance_of(index);
        // The instance as the working state holds it, looked up only when
        // needed (a failed call's, or one gone from the configuration).
        let recorded = || {
            self.working
                .resources
                .get(&change.addr.resource)
                .and_then(|r| r.instances.iter().find(|i| i.key == change.addr.key))
        };
        let seal = |entries: &Attributes| {
            self.key
                .seal_map(self.host, entries)
                .map_err(|e| e.to_diagnostic())
        };
        let kept = if prior_config { recorded() } else { None };
        let config = match kept {
            Some(recorded) => recorded.config.clone(),
            None => match self.runs.get(index).and_then(|run| run.proposed.as_ref()) {
                Some(proposed) => seal(proposed)?,
                None => match instance {
                    Some(instance) => seal(&instance.configured())?,
                    None => Default::default(),
                },
            },
        };
        let attributes = seal(&object.attributes)?;
        let dependencies = match instance {
            Some(instance) => instance.dependencies.to_vec(),
            None => recorded()
                .map(|i| i.dependencies.clone())
                .unwrap_or_default(),
        };
        self.journal(
            Some(index),
            JournalRecord::Set {
                resource: change.addr.resource.clone(),
                provider: change.provider.clone(),
                instance: InstanceState {
                    key: change.addr.key.clone(),
                    attributes,
                    dependencies,
                    config,
                },
            },
        );
        let addr = change.addr.clone();
        self.set_applied(addr, Some(object));
        Ok(())
    }

    /// Records `object` at `addr` among the applied objects (`None`: removes
    /// it). While a resolve holds the map the change waits for the next one:
    /// changing the map then would copy all of it (at 100,000 instances, once
    /// per resolve, most of an apply's CPU time), and the resolve in flight
    /// reads the map as it was when it started either way.
    fn set_applied(&mut self, addr: InstanceAddr, object: Option<ObjectState>) {
        self.applied_later.push((addr, object));
        if Arc::get_mut(&mut self.applied).is_some() {
            self.catch_up_applied();
        }
    }

    /// Makes the changes that waited for the resolve in flight to let go of
    /// the applied objects (they are copied only if one still holds them).
    fn catch_up_applied(&mut self) {
        if self.applied_later.is_empty() {
            return;
        }
        let applied = Arc::make_mut(&mut self.applied);
        for (addr, object) in self.applied_later.drain(..) {
            match object {
                Some(object) => {
                    applied.insert(addr, object);
                }
                None => {
                    applied.remove(&addr);
                }
            }
        }
    }

    async fn finish(mut self) -> Report {
        // Anything left unfinished without a stop waits on a circle.
        if !self.stopping {
            let stuck: Vec<usize> = (0..self.finished.len())
                .filter(|node| !self.finished.get(*node).copied().unwrap_or(true))
                .collect();
            for node in stuck {
                if self.finished.get(node).copied().unwrap_or(true) {
                    continue;
                }
                let Some(addr) = self.addr_of(node) else {
                    continue;
                };
                let diagnostic = self.diagnostic(
                    Code::ApplyOrderCycle,
                    addr,
                    None,
                    "this change waits on itself",
                    format!(
                        "`{addr}` waits on changes that wait on it; set `create_before_destroy` \
                         alike on the resources involved, or apply in two steps with `--target`"
                    ),
                );
                self.fail(node, diagnostic);
            }
        }
        let cancelled = self.stopping;
        let failed = self
            .runs
            .iter()
            .any(|run| !matches!(run.outcome, Some(Outcome::Succeeded)));
        let mut outputs_written = false;
        if !cancelled && !failed && !self.diagnostics.has_errors() {
            let resolver = self.resolver.clone();
            self.catch_up_applied();
            let applied = std::mem::take(&mut self.applied);
            let wanted = std::collections::BTreeSet::new();
            match tokio::task::spawn_blocking(move || resolver.resolve(&applied, &wanted)).await {
                Ok(Ok(resolved)) => outputs_written = self.write_outputs(resolved.outputs),
                Ok(Err(diagnostics)) => self.diagnostics.extend(diagnostics),
                Err(_) => self.diagnostics.push(
                    Diagnostic::error_at_path(Code::Internal, None)
                        .with_help("evaluating the outputs crashed; this is a bug"),
                ),
            }
        }
        let results = self
            .changes
            .iter()
            .zip(self.runs)
            .filter(|(change, run)| !run.immediate || change.moved_from.is_some())
            .map(|(change, run)| ActionResult {
                addr: change.addr.clone(),
                action: run.kind,
                outcome: run.outcome.unwrap_or(Outcome::NotStarted),
                duration: run.duration,
                attempts: run.attempts,
                phases: run.phases,
            })
            .collect();
        Report {
            state: self.working.into_state(),
            results,
            cancelled,
            outputs_written,
            diagnostics: self.diagnostics,
        }
    }

    /// Puts the evaluated outputs into state, sealed; one still unknown keeps
    /// its prior value. Returns whether they were written.
    fn write_outputs(&mut self, outputs: BTreeMap<String, (Value, bool)>) -> bool {
        let mut written = BTreeMap::new();
        for (name, (value, sensitive)) in outputs {
            if value.contains_unknown() {
                if let Some(prior) = self.working.state.outputs.get(&name) {
                    written.insert(name, prior.clone());
                }
                continue;
            }
            match self.key.seal(self.host, &value) {
                Ok(sealed) => {
                    written.insert(
                        name,
                        OutputState {
                            value: sealed,
                            sensitive,
                        },
                    );
                }
                Err(error) => {
                    self.diagnostics.push(error.to_diagnostic());
                    return false;
                }
            }
        }
        self.working.state.outputs = written;
        true
    }
}

/// The provider calls one job makes, with owned inputs.
enum Task {
    Plan {
        prior: Option<ObjectState>,
        proposed: Attributes,
    },
    Create {
        planned: Attributes,
        reconcile: bool,
    },
    Update {
        prior: ObjectState,
        planned: Attributes,
    },
    Delete {
        prior: ObjectState,
    },
    Read {
        planned: Attributes,
    },
    Import {
        id: String,
        /// Whether the imported object is then updated to `planned`.
        update: bool,
        /// The configuration (it also decides what of the result is secret).
        planned: Attributes,
    },
}

impl Task {
    async fn run(
        self,
        node: usize,
        provider: Arc<dyn Provider>,
        resource_type: String,
        mut retrier: Retrier,
        op: Operation,
    ) -> TaskDone {
        let provider = provider.as_ref();
        let rt = resource_type.as_str();
        let inputs = self.inputs().cloned();
        let result = match self {
            Task::Plan { prior, proposed } => retrier
                .run(|| provider.plan_change(rt, prior.as_ref(), &proposed))
                .await
                .map(Done::Planned)
                .map_err(|e| ("plan", e)),
            Task::Create { planned, reconcile } => {
                let found = if reconcile {
                    match retrier
                        .run(|| provider.resume(&op, rt, None, &planned, None))
                        .await
                    {
                        Ok(Resumed::Settled(found)) => Ok(found),
                        Err(error) => Err(("look for", error)),
                    }
                } else {
                    Ok(None)
                };
                match found {
                    Ok(Some(object)) => Ok(Done::Object {
                        object,
                        found: true,
                    }),
                    Ok(None) => retrier
                        .run(|| provider.create(&op, rt, &planned))
                        .await
                        .map(|object| Done::Object {
                            object,
                            found: false,
                        })
                        .map_err(|e| ("create", e)),
                    Err(error) => Err(error),
                }
            }
            Task::Update { prior, planned } => retrier
                .run(|| provider.update(&op, rt, &prior, &planned))
                .await
                .map(|object| Done::Object {
                    object,
                    found: false,
                })
                .map_err(|e| ("update", e)),
            Task::Delete { prior } => retrier
                .run(|| provider.delete(&op, rt, &prior))
                .await
                .map(|()| Done::Deleted)
                .map_err(|e| ("delete", e)),
            Task::Read { planned } => {
                let prior = object_of(&planned);
                match retrier.run(|| provider.read(rt, &prior)).await {
                    Ok(Some(object)) => Ok(Done::Object {
                        object,
                        found: false,
                    }),
                    Ok(None) => Err((
                        "read",
                        ProviderError::not_found("the data source found nothing"),
                    )),
                    Err(error) => Err(("read", error)),
                }
            }
            Task::Import {
                id,
                update,
                planned,
            } => match retrier.run(|| provider.import(rt, &id)).await {
                Err(error) => Err(("import", error)),
                Ok(object) => match update {
                    false => Ok(Done::Object {
                        object,
                        found: false,
                    }),
                    true => retrier
                        .run(|| provider.update(&op, rt, &object, &planned))
                        .await
                        .map(|object| Done::Object {
                            object,
                            found: false,
                        })
                        .map_err(|e| ("update", e)),
                },
            },
        };
        // What the provider returned is sealed by the schema's rule, whatever
        // the provider marked: the rule `check` typed the values with.
        let result = match (result, provider.schema(rt), inputs) {
            (Ok(done), Some(schema), Some(inputs)) => Ok(done.sealed(schema, &inputs)),
            (result, ..) => result,
        };
        TaskDone {
            node,
            attempts: retrier.attempts,
            result,
        }
    }

    /// The configuration the call is made from, whose secrets decide what of
    /// the result is secret (`None` for a delete, which returns nothing).
    fn inputs(&self) -> Option<&Attributes> {
        match self {
            Task::Plan { proposed, .. } => Some(proposed),
            Task::Create { planned, .. }
            | Task::Update { planned, .. }
            | Task::Read { planned }
            | Task::Import { planned, .. } => Some(planned),
            Task::Delete { .. } => None,
        }
    }
}

impl Done {
    /// The result with secret marks put back by `schema`'s rule (see
    /// [`seal_returned`]).
    fn sealed(self, schema: &ResourceSchema, inputs: &Attributes) -> Done {
        match self {
            Done::Planned(mut change) => {
                change.planned = seal_returned(schema, inputs, change.planned);
                Done::Planned(change)
            }
            Done::Object { mut object, found } => {
                object.attributes = seal_returned(schema, inputs, object.attributes);
                Done::Object { object, found }
            }
            Done::Deleted => Done::Deleted,
        }
    }
}
