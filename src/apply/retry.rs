//! Retries of transient provider errors: exponential backoff with full jitter,
//! never shorter than the remote's `Retry-After`.
//!
//! Terminology: an *attempt* is one provider call; `attempts` counts them all,
//! the first included.
//!
//! Invariant: only [`ProviderErrorKind::Transient`](crate::providers::ProviderErrorKind)
//! errors are retried, and every retry is announced as an [`Event::Retrying`].

use super::Event;
use crate::addr::InstanceAddr;
use crate::providers::ProviderError;
pub use crate::providers::retry::{RetryPolicy, Rng};
use std::future::Future;
use tokio::sync::mpsc::UnboundedSender;

/// Where a task reports its retries.
#[derive(Debug, Clone)]
pub(super) struct Retrier {
    pub policy: RetryPolicy,
    pub rng: Rng,
    pub addr: InstanceAddr,
    pub events: Option<UnboundedSender<Event>>,
    /// Tries made so far by this task (all its calls).
    pub attempts: u32,
}

impl Retrier {
    /// Runs `call` until it succeeds, fails for good, or the tries run out.
    pub async fn run<T, F, Fut>(&mut self, mut call: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 1;
        loop {
            self.attempts += 1;
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() && attempt < self.policy.attempts.max(1) => {
                    let wait = self
                        .policy
                        .backoff(attempt, error.retry_hint(), &mut self.rng);
                    if let Some(events) = &self.events {
                        // A closed receiver only means nobody is watching.
                        let _ = events.send(Event::Retrying {
                            addr: self.addr.clone(),
                            attempt,
                            wait,
                            message: error.message.clone(),
                        });
                    }
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}
