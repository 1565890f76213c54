//! Readiness off the event loops. Server and model readiness ask every instance's
//! `TRITONBACKEND_ModelInstanceReady`, which may block (a hung python stub): the questions run
//! on the blocking pool, so a slow answer never holds up `/v2/health/live` or the inference
//! requests served by the same event loop.
//!
//! Probes that arrive while the same question is being asked wait for that answer instead of
//! asking again (one call in flight per question), so a hook that hangs holds one blocking
//! thread, not one per probe, and cannot exhaust the pool that large requests use.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::core::{Core, CoreError, Readiness};

/// The readiness questions of the HTTP endpoints.
pub struct Probes {
    core: Arc<Core>,
    server: Arc<Flights<(), Result<Readiness, CoreError>>>,
    models: Arc<Flights<(String, i64), Result<bool, CoreError>>>,
}

impl Probes {
    pub fn new(core: Arc<Core>) -> Self {
        Probes {
            core,
            server: Arc::new(Flights::new()),
            models: Arc::new(Flights::new()),
        }
    }

    /// Server readiness and its reasons (`Core::readiness`). `None`: the call did not finish
    /// (it panicked, or the runtime is shutting down).
    pub async fn server(&self) -> Option<Arc<Result<Readiness, CoreError>>> {
        let core = self.core.clone();
        self.server.ask((), move || core.readiness()).await
    }

    /// Readiness of a model version (-1: the latest). `None` as for [`Probes::server`].
    pub async fn model(&self, name: &str, version: i64) -> Option<Arc<Result<bool, CoreError>>> {
        let core = self.core.clone();
        let owned = name.to_string();
        self.models
            .ask((name.to_string(), version), move || {
                core.model_is_ready(&owned, version)
            })
            .await
    }
}

type Answer<V> = watch::Receiver<Option<Arc<V>>>;

/// Calls in flight, by question.
struct Flights<K, V> {
    in_flight: Mutex<HashMap<K, Answer<V>>>,
}

impl<K, V> Flights<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Send + Sync + 'static,
{
    fn new() -> Self {
        Flights {
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The answer of the call in flight for `key`, or of `call` run now on the blocking pool.
    async fn ask(
        self: &Arc<Self>,
        key: K,
        call: impl FnOnce() -> V + Send + 'static,
    ) -> Option<Arc<V>> {
        let mut answer = {
            let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(key.clone(), rx.clone());
                    drop(map);
                    let flight = Flight {
                        flights: self.clone(),
                        key,
                        tx,
                        left: false,
                    };
                    // Not awaited: the answer comes through the channel. A call that never
                    // runs (runtime shutting down) drops `flight`, which closes the channel.
                    drop(tokio::task::spawn_blocking(move || {
                        let v = call();
                        flight.land(v);
                    }));
                    rx
                }
            }
        };
        let v = answer.wait_for(Option::is_some).await.ok()?.clone();
        v
    }
}

/// One call in flight. It leaves the table before publishing its answer, so a probe gets the
/// answer of a call that was running when it arrived or of a new one, never one finished
/// before it came; or it leaves when dropped without an answer (the call panicked or never
/// ran), which closes the channel.
struct Flight<K: Eq + Hash, V> {
    flights: Arc<Flights<K, V>>,
    key: K,
    tx: watch::Sender<Option<Arc<V>>>,
    left: bool,
}

impl<K: Eq + Hash, V> Flight<K, V> {
    fn land(mut self, v: V) {
        self.leave();
        self.tx.send_replace(Some(Arc::new(v)));
    }

    fn leave(&mut self) {
        if !self.left {
            self.left = true;
            let mut map = self
                .flights
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            map.remove(&self.key);
        }
    }
}

impl<K: Eq + Hash, V> Drop for Flight<K, V> {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_probes_share_one_call_and_the_next_asks_again() {
        let flights = Arc::new(Flights::<(), usize>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let ask = |flights: &Arc<Flights<(), usize>>| {
            let flights = flights.clone();
            let calls = calls.clone();
            let release = release_rx.clone();
            tokio::spawn(async move {
                flights
                    .ask((), move || {
                        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        let _ = release.lock().unwrap().recv();
                        n
                    })
                    .await
            })
        };
        let first = ask(&flights);
        let second = ask(&flights);
        // Both are waiting on the one blocked call; the event loop is free meanwhile.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!first.is_finished() && !second.is_finished());
        release_tx.send(()).unwrap();
        assert_eq!(*first.await.unwrap().unwrap(), 1);
        assert_eq!(*second.await.unwrap().unwrap(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Landed: the next probe makes a new call.
        let third = ask(&flights);
        release_tx.send(()).unwrap();
        assert_eq!(*third.await.unwrap().unwrap(), 2);
        assert!(flights.in_flight.lock().unwrap().is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_that_panics_answers_none_and_leaves_the_table() {
        let flights = Arc::new(Flights::<u8, u8>::new());
        assert!(flights.ask(1, || panic!("hook")).await.is_none());
        assert!(flights.in_flight.lock().unwrap().is_empty());
        assert_eq!(*flights.ask(1, || 7).await.unwrap(), 7);
    }
}
