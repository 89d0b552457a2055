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
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// How transient errors are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1; default 5).
    pub attempts: u32,
    /// The backoff before the second try (default 200 ms); it doubles each try.
    pub base: Duration,
    /// The longest backoff (default 30 s); a `Retry-After` may be longer.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after try `attempt` (from 1) failed: uniform in
    /// `[0, min(max, base·2^(attempt-1))]` (full jitter), at least `hint`.
    pub fn backoff(&self, attempt: u32, hint: Option<Duration>, rng: &mut Rng) -> Duration {
        let shift = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max)
            .min(self.max);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let jittered = if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.next() % (nanos + 1))
        };
        jittered.max(hint.unwrap_or_default())
    }
}

/// A small seeded generator (splitmix64) for jitter; seeded from the host's
/// randomness per apply, so tests on a memory host are repeatable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

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
