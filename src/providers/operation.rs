//! The operation context of one mutating provider call ([`Operation`]): a
//! progress sink for named phases, a cancellation signal and a durable
//! checkpoint; and what a provider says about a change made of several steps
//! ([`DeploySteps`]) or about an interrupted call it resumed ([`Resumed`]).
//!
//! Terminology: a *phase* is a short text naming where a long call is
//! ("health 2/3"); a *checkpoint* is a provider-defined JSON record written
//! durably to the journal before the step it guards, handed back to
//! [`Provider::resume`](super::Provider::resume) when the call was interrupted.
//!
//! Invariant: no phase text and no checkpoint record holds a secret value
//! (both are shown, logged and journalled in the clear).

use super::provider::{ObjectState, ProviderError};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The future [`OperationSink::checkpoint`] returns.
pub type CheckpointFuture = Pin<Box<dyn Future<Output = Result<(), ProviderError>> + Send>>;

/// Where an engine-driven [`Operation`] sends its phases and checkpoints.
pub trait OperationSink: Send + Sync {
    /// A new phase of the call.
    fn phase(&self, text: String);
    /// Writes the record durably; resolves once it is on disk.
    fn checkpoint(&self, record: serde_json::Value) -> CheckpointFuture;
}

/// What the engine hands every mutating provider call: a progress sink, a
/// cancellation signal and a durable checkpoint. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Operation {
    inner: Arc<Inner>,
}

struct Inner {
    sink: Sink,
    cancel: Option<watch::Receiver<bool>>,
}

enum Sink {
    /// Kept in memory (a detached operation).
    Memory {
        phases: Mutex<Vec<String>>,
        checkpoints: Mutex<Vec<serde_json::Value>>,
    },
    /// Sent to the engine.
    Engine(Arc<dyn OperationSink>),
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("detached", &matches!(self.inner.sink, Sink::Memory { .. }))
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Operation {
    /// Reports nowhere, never cancels, keeps checkpoints in memory
    /// ([`checkpoints`](Self::checkpoints) reads them back): for unit tests
    /// and callers outside apply.
    pub fn detached() -> Self {
        Self::memory(None)
    }

    /// A detached operation (phases and checkpoints kept in memory) that is
    /// cancelled once `cancel` holds `true`: for tests of cancellation.
    pub fn detached_with_cancel(cancel: watch::Receiver<bool>) -> Self {
        Self::memory(Some(cancel))
    }

    fn memory(cancel: Option<watch::Receiver<bool>>) -> Self {
        Operation {
            inner: Arc::new(Inner {
                sink: Sink::Memory {
                    phases: Mutex::new(Vec::new()),
                    checkpoints: Mutex::new(Vec::new()),
                },
                cancel,
            }),
        }
    }

    /// An operation whose phases and checkpoints go to `sink`, cancelled once
    /// `cancel` holds `true` (the engine's).
    pub fn new(sink: Arc<dyn OperationSink>, cancel: watch::Receiver<bool>) -> Self {
        Operation {
            inner: Arc::new(Inner {
                sink: Sink::Engine(sink),
                cancel: Some(cancel),
            }),
        }
    }

    /// Names the phase the call is in ("start green on :8101", "health 2/3",
    /// "watching, 3m12s left"). Shown next to the action by the apply display,
    /// recorded in the audit. Never a secret.
    pub fn phase(&self, text: impl Into<String>) {
        let text = text.into();
        match &self.inner.sink {
            Sink::Memory { phases, .. } => lock(phases).push(text),
            Sink::Engine(sink) => sink.phase(text),
        }
    }

    /// Whether the user asked to stop (first Ctrl-C / SIGTERM). A deploy then
    /// rolls back cleanly and returns an error; a short call may ignore it.
    pub fn is_cancelled(&self) -> bool {
        self.inner
            .cancel
            .as_ref()
            .is_some_and(|cancel| *cancel.borrow())
    }

    /// Resolves when the user asks to stop, for `tokio::select!`; never
    /// resolves for an operation that cannot be cancelled.
    pub async fn cancelled(&self) {
        if let Some(cancel) = &self.inner.cancel {
            let mut cancel = cancel.clone();
            if cancel.wait_for(|cancelled| *cancelled).await.is_ok() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }

    /// Writes `record` to the journal, durably (fsync'd), before it returns; the
    /// step it guards runs after. Provider-defined JSON; must hold no secret value.
    /// The last record of an interrupted call is handed to
    /// [`Provider::resume`](super::Provider::resume). Give it a `"step"` field
    /// naming the step it guards: crash trials find it by that name.
    pub async fn checkpoint(&self, record: serde_json::Value) -> Result<(), ProviderError> {
        match &self.inner.sink {
            Sink::Memory { checkpoints, .. } => {
                lock(checkpoints).push(record);
                Ok(())
            }
            Sink::Engine(sink) => sink.checkpoint(record).await,
        }
    }

    /// The checkpoints written so far, in order (a detached operation only;
    /// empty for one driven by the engine, whose checkpoints are in the journal).
    pub fn checkpoints(&self) -> Vec<serde_json::Value> {
        match &self.inner.sink {
            Sink::Memory { checkpoints, .. } => lock(checkpoints).clone(),
            Sink::Engine(_) => Vec::new(),
        }
    }

    /// The phases named so far, in order (a detached operation only).
    pub fn phases(&self) -> Vec<String> {
        match &self.inner.sink {
            Sink::Memory { phases, .. } => lock(phases).clone(),
            Sink::Engine(_) => Vec::new(),
        }
    }
}

/// The data behind a mutex, even when a holder panicked (it is a plain list).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The steps a change will go through, for the plan and the impact analysis.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeploySteps {
    /// "blue-green", "canary", "rolling", "recreate".
    pub strategy: String,
    /// "start green on :8101", "health", "switch router", "smoke", "watch 5m", "stop blue".
    pub steps: Vec<String>,
    /// "none (blue-green)" or "the service is down between stop and healthy (recreate)".
    pub downtime: String,
}

/// What [`Provider::resume`](super::Provider::resume) settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumed {
    /// The interrupted call is finished (or rolled back): the object as it now is
    /// (`None` when nothing exists). The engine records it; planning then works
    /// from it as from any prior object (a rolled-back deploy plans again).
    Settled(Option<ObjectState>),
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_detached_operation_keeps_phases_and_checkpoints_and_never_cancels() {
        let op = Operation::detached();
        op.phase("health 1/3");
        op.checkpoint(serde_json::json!({"step": "health"}))
            .await
            .unwrap();
        assert_eq!(op.phases(), ["health 1/3"]);
        assert_eq!(op.checkpoints(), [serde_json::json!({"step": "health"})]);
        assert!(!op.is_cancelled());
        let never = tokio::time::timeout(std::time::Duration::ZERO, op.cancelled()).await;
        assert!(never.is_err());
    }

    #[tokio::test]
    async fn a_cancel_reaches_every_clone() {
        let (cancel, receiver) = watch::channel(false);
        let op = Operation::detached_with_cancel(receiver);
        let clone = op.clone();
        assert!(!clone.is_cancelled());
        cancel.send_replace(true);
        clone.cancelled().await;
        assert!(op.is_cancelled());
    }
}
