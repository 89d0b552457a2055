//! Batched reads (PostgreSQL catalogs, remote file hashes over SSH): reads of one kind that arrive while a query runs
//! are answered together by the next query (`WHERE name = ANY($1)`), so a
//! refresh of 500 roles costs a handful of queries, not 500.
//!
//! Terminology: the *leader* is the read that found no query running; it
//! runs queries for whatever is waiting until nothing is, then leaves.
//!
//! Invariant: every answer comes from a query that started after the read
//! was asked for (nothing is cached between reads), and no lock is held
//! across an `.await`. A leader dropped mid-query hands the waiting reads a
//! transient error rather than leaving them hanging.

use crate::providers::ProviderError;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use tokio::sync::oneshot;

type Answer<V> = Result<Option<V>, ProviderError>;

/// Reads waiting for the next query, and whether a leader is running.
struct Queue<K, V> {
    waiting: Vec<(K, oneshot::Sender<Answer<V>>)>,
    leading: bool,
}

/// Gathers concurrent reads by key into one query.
pub struct Batcher<K, V> {
    queue: Mutex<Queue<K, V>>,
}

impl<K, V> Default for Batcher<K, V> {
    fn default() -> Self {
        Batcher {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                leading: false,
            }),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Batcher<K, V> {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue<K, V>> {
        match self.queue.lock() {
            Ok(queue) => queue,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The row for `key` (`None` when the catalog has none), fetched with
    /// the keys of every read waiting at the same time: `fetch` gets them
    /// (distinct) and returns the rows it found by key.
    pub async fn load<F, Fut>(&self, key: K, fetch: F) -> Answer<V>
    where
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>, ProviderError>>,
    {
        let (sender, receiver) = oneshot::channel();
        let lead = {
            let mut queue = self.queue();
            queue.waiting.push((key, sender));
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead {
            let mut guard = LeaderGuard {
                batcher: self,
                armed: true,
            };
            // Let the reads started at the same time join the first query.
            tokio::task::yield_now().await;
            loop {
                let batch = {
                    let mut queue = self.queue();
                    let batch = std::mem::take(&mut queue.waiting);
                    // Under the same lock, so a read that comes next leads.
                    if batch.is_empty() {
                        queue.leading = false;
                    }
                    batch
                };
                if batch.is_empty() {
                    guard.armed = false;
                    break;
                }
                let mut keys: Vec<K> = Vec::with_capacity(batch.len());
                for (key, _) in &batch {
                    if !keys.contains(key) {
                        keys.push(key.clone());
                    }
                }
                let answer = fetch(keys).await;
                for (key, sender) in batch {
                    let one = match &answer {
                        Ok(rows) => Ok(rows.get(&key).cloned()),
                        Err(error) => Err(error.clone()),
                    };
                    let _ = sender.send(one);
                }
            }
        }
        receiver.await.unwrap_or_else(|_| {
            Err(ProviderError::transient(
                "a batched catalog read was interrupted",
            ))
        })
    }
}

/// Ends a leader's turn, also when its future is dropped: the next read
/// leads, and reads still waiting get an error (their senders dropped).
struct LeaderGuard<'a, K, V> {
    batcher: &'a Batcher<K, V>,
    /// Still leading: the turn did not end normally.
    armed: bool,
}

impl<K, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut queue = match self.batcher.queue.lock() {
            Ok(queue) => queue,
            Err(poisoned) => poisoned.into_inner(),
        };
        queue.leading = false;
        queue.waiting.clear();
    }
}
