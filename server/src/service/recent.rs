//! Answers kept for a short while: an expensive answer asked for again and
//! again is computed once per period, whoever asks; requests that arrive
//! while it is being computed wait for that computation instead of starting
//! their own, and only a few different answers are computed at once.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Different answers computed at once: the rest wait, so requests for many
/// different answers cannot take every store connection.
const COMPUTED_AT_ONCE: usize = 2;

pub struct Recent<K, V> {
    fresh_for: Duration,
    /// Entries kept at most; the oldest goes first.
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, Arc<V>)>>,
    /// One turn per key being computed: who holds it computes, the others
    /// wait and then read the answer it kept.
    turns: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    computing: Semaphore,
}

impl<K: Eq + Hash + Clone, V> Recent<K, V> {
    pub fn new(fresh_for: Duration, capacity: usize) -> Self {
        Recent {
            fresh_for,
            capacity: capacity.max(1),
            entries: Mutex::default(),
            turns: Mutex::default(),
            computing: Semaphore::new(COMPUTED_AT_ONCE),
        }
    }

    /// The kept answer for `key`, or the one `compute` gives, computed once
    /// however many ask at the same time.
    pub async fn get_or_compute<E, F, Fut>(&self, key: K, compute: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(kept) = self.get(&key) {
            return Ok(kept);
        }
        let turn = self
            .turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let computed = async {
            let _turn = turn.lock().await;
            if let Some(kept) = self.get(&key) {
                return Ok(kept);
            }
            // Never closed: a permit always comes.
            let _permit = self.computing.acquire().await.ok();
            let value = Arc::new(compute().await?);
            self.put(key.clone(), value.clone());
            Ok(value)
        }
        .await;
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        // The map's copy and this one: nobody else waits for the turn.
        if Arc::strong_count(&turn) <= 2 {
            turns.remove(&key);
        }
        computed
    }

    fn get(&self, key: &K) -> Option<Arc<V>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.fresh_for)
            .map(|(_, value)| value.clone())
    }

    fn put(&self, key: K, value: Arc<V>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < self.fresh_for);
        if entries.len() >= self.capacity {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_misses_compute_once() {
        let recent = Arc::new(Recent::new(Duration::from_secs(60), 4));
        let computed = Arc::new(AtomicUsize::new(0));
        let asks = (0..10).map(|_| {
            let (recent, computed) = (recent.clone(), computed.clone());
            tokio::spawn(async move {
                recent
                    .get_or_compute("report", || async {
                        computed.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, ()>(42)
                    })
                    .await
            })
        });
        for ask in futures::future::join_all(asks).await {
            assert_eq!(*ask.unwrap().unwrap(), 42);
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert!(recent.turns.lock().unwrap().is_empty(), "turns are let go");
        let failed = recent
            .get_or_compute("other", || async { Err::<u32, _>("store down") })
            .await;
        assert_eq!(failed, Err("store down"));
        assert_eq!(recent.get(&"other"), None, "errors are not kept");
    }

    #[test]
    fn entries_expire_and_the_oldest_makes_room() {
        let recent = Recent::new(Duration::from_millis(50), 2);
        recent.put(1, Arc::new("a"));
        recent.put(2, Arc::new("b"));
        recent.put(3, Arc::new("c"));
        assert_eq!(recent.get(&1), None, "the oldest went");
        assert_eq!(recent.get(&3).as_deref(), Some(&"c"));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(recent.get(&3), None, "expired");
    }
}
