//! Cell changes for the event streams: each change of the store is
//! serialized once and handed to every stream.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::Store;

/// One changed cell, serialized once for every stream.
pub struct CellChange {
    pub branch: String,
    /// (component, arch, build type)
    pub key: (String, String, String),
    pub json: String,
}

/// Serializes each change of the store once and hands it to every stream.
pub fn fan_out(store: &Arc<dyn Store>) -> broadcast::Sender<Arc<CellChange>> {
    let (sender, _) = broadcast::channel(4096);
    let mut changes = store.subscribe();
    let out = sender.clone();
    tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(cell) => {
                    let Ok(json) = serde_json::to_string(&cell) else {
                        continue;
                    };
                    let change = CellChange {
                        key: (cell.component, cell.arch, cell.build_type),
                        branch: cell.branch,
                        json,
                    };
                    // No open stream is not an error.
                    let _ = out.send(Arc::new(change));
                }
                // Streams see the gap through their own receivers' lag.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    sender
}
