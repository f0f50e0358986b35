//! The read pool: connections lent one call at a time.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::store::StoreError;

/// Connections lent one call at a time. Waiting for one is asynchronous,
/// so waiting requests hold no thread.
pub(super) struct Pool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    pub(super) fn new(connections: Vec<Connection>) -> Arc<Pool> {
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(connections.len())),
            idle: Mutex::new(connections),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A list of connections cannot be left half-changed.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self.permits.clone().acquire_owned().await;
        let permit = permit.map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let pool = self.clone();
        // The connection goes back to the pool in the blocking task, so a
        // caller that stopped waiting (timeout) loses nothing.
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .idle()
                .pop()
                .ok_or_else(|| StoreError::Unavailable("no connection for a permit".into()))?;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut conn)));
            pool.idle().push(conn);
            drop(permit);
            result.unwrap_or_else(|_| Err(StoreError::Unavailable("a store call panicked".into())))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}
