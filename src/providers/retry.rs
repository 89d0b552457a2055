//! Backoff for transient provider errors, shared by the engine's calls
//! (`apply`) and the reads of a refresh (`plan`): exponential backoff with
//! full jitter, never shorter than the remote's `Retry-After`, and
//! [`retry_transient`] to run a call under it.
//!
//! Terminology: an *attempt* is one provider call; `attempts` counts them all,
//! the first included.
//!
//! Invariant: only [`ProviderErrorKind::Transient`](super::ProviderErrorKind)
//! errors are retried; a permanent error returns at once.

use super::ProviderError;
use std::future::Future;
use std::time::Duration;

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
    #[expect(
        clippy::should_implement_trait,
        reason = "an endless generator, not an iterator; `next` is its one operation"
    )]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Runs `call` until it succeeds, fails for good, or `policy`'s tries run
/// out; returns its result and how many retries it took.
pub async fn retry_transient<T, F, Fut>(
    policy: &RetryPolicy,
    rng: &mut Rng,
    mut call: F,
) -> (Result<T, ProviderError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if error.is_transient() && attempt < policy.attempts.max(1) => {
                let wait = policy.backoff(attempt, error.retry_hint(), rng);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            result => return (result, attempt - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RetryPolicy, Rng, retry_transient};
    use crate::providers::ProviderError;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_and_counted_and_permanent_ones_are_not() {
        let policy = RetryPolicy::default();
        let calls = Cell::new(0);
        let (result, retries) = retry_transient(&policy, &mut Rng::new(1), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(ProviderError::transient("503"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!((result.ok(), retries), (Some(3), 2));

        calls.set(0);
        let (result, retries) = retry_transient(&policy, &mut Rng::new(1), || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(ProviderError::permanent("400")) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!((calls.get(), retries), (1, 0));

        calls.set(0);
        let (result, retries) = retry_transient(&policy, &mut Rng::new(1), || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(ProviderError::transient("429")) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(
            (calls.get(), retries),
            (policy.attempts, policy.attempts - 1)
        );
    }
}
