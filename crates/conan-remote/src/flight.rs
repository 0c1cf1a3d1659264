//! One piece of work per key at a time, its outcome shared by everyone who asked meanwhile.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

type Flight<V> = Shared<BoxFuture<'static, Arc<V>>>;

/// Runs at most one piece of work per key at a time: asks that arrive while one runs wait for
/// its outcome instead of starting another. The work runs on a task of its own, so it finishes
/// (and its outcome is kept by those still waiting) even when the ask that started it is
/// dropped. Once it ends the key is free: the next ask starts new work.
pub struct SingleFlight<K, V> {
    flights: Arc<Mutex<HashMap<K, Flight<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            flights: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K, V> std::fmt::Debug for SingleFlight<K, V> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SingleFlight")
            .finish_non_exhaustive()
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Send + Sync + 'static,
{
    /// An empty set of flights.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The outcome of the work for `key`: the running work's if there is one, otherwise that
    /// of `work`, started now on a task of its own. Must be called within a tokio runtime.
    pub async fn run<F>(&self, key: K, work: F) -> Arc<V>
    where
        F: Future<Output = V> + Send + 'static,
    {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(flight) = flights.get(&key) {
                flight.clone()
            } else {
                let registry = Arc::clone(&self.flights);
                let done_key = key.clone();
                let task = tokio::spawn(async move {
                    let outcome = Arc::new(work.await);
                    registry
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&done_key);
                    outcome
                });
                let flight: Flight<V> = async move {
                    match task.await {
                        Ok(outcome) => outcome,
                        // The work panicked: every waiter sees the panic.
                        Err(error) => std::panic::resume_unwind(error.into_panic()),
                    }
                }
                .boxed()
                .shared();
                flights.insert(key, flight.clone());
                flight
            }
        };
        flight.await
    }

    /// How many keys have work running.
    #[must_use]
    pub fn running(&self) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_asks_share_one_run_and_the_key_frees_after() {
        let flights: Arc<SingleFlight<&'static str, usize>> = Arc::new(SingleFlight::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let asks = (0..16).map(|_| {
            let flights = Arc::clone(&flights);
            let runs = Arc::clone(&runs);
            tokio::spawn(async move {
                *flights
                    .run("zlib", async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 1
                    })
                    .await
            })
        });
        let outcomes = futures::future::join_all(asks).await;
        assert!(outcomes.into_iter().all(|outcome| outcome.unwrap() == 1));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.running(), 0);
        let again = flights.run("zlib", async { 7 }).await;
        assert_eq!(*again, 7);
    }

    #[tokio::test]
    async fn a_dropped_ask_does_not_cancel_the_work() {
        let flights: Arc<SingleFlight<u8, ()>> = Arc::new(SingleFlight::new());
        let done = Arc::new(AtomicUsize::new(0));
        let finished = Arc::clone(&done);
        let first = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                flights
                    .run(1, async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        finished.fetch_add(1, Ordering::SeqCst);
                    })
                    .await;
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.abort();
        // A second ask joins the same work, which completes.
        flights.run(1, async {}).await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }
}
