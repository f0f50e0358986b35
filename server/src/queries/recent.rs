//! Answers kept for a short while: an expensive answer asked for again and
//! again is computed once per period, whoever asks.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Recent<K, V> {
    fresh_for: Duration,
    /// Entries kept at most; the oldest goes first.
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, Arc<V>)>>,
}

impl<K: Eq + Hash + Clone, V> Recent<K, V> {
    pub fn new(fresh_for: Duration, capacity: usize) -> Self {
        Recent {
            fresh_for,
            capacity: capacity.max(1),
            entries: Mutex::default(),
        }
    }

    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.fresh_for)
            .map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: K, value: Arc<V>) {
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
