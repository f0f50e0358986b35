//! The listener that feeds every server's event streams from cell
//! documents, whichever server wrote them.

use super::docs::CellDoc;
use super::names::CELLS;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::model::Cell;
use firestore::{
    FirestoreDb, FirestoreListenEvent, FirestoreListener, FirestoreListenerTarget,
    FirestoreMemListenStateStorage,
};
use tokio::sync::broadcast;

use crate::store::StoreError;

pub(super) const CELLS_TARGET: FirestoreListenerTarget = FirestoreListenerTarget::new(1);

/// Feeds every change of a cell document, from any server, into `events`.
/// Listen resets re-send unchanged documents; those are dropped here.
pub(super) async fn listen_to_cells(
    db: &FirestoreDb,
    events: broadcast::Sender<Cell>,
) -> Result<FirestoreListener<FirestoreDb, FirestoreMemListenStateStorage>, StoreError> {
    let mut listener = db
        .create_listener(FirestoreMemListenStateStorage::new())
        .await?;
    db.fluent()
        .select()
        .from(CELLS)
        .listen()
        .add_target(CELLS_TARGET, &mut listener)?;
    let seen: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    listener
        .start(move |event| {
            let (events, seen) = (events.clone(), seen.clone());
            async move {
                if let FirestoreListenEvent::DocumentChange(change) = event {
                    if let Some(doc) = &change.document {
                        let cell_doc = FirestoreDb::deserialize_doc_to::<CellDoc>(doc)?;
                        let fresh = seen
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(doc.name.clone(), cell_doc.state.clone())
                            .is_none_or(|old| old != cell_doc.state);
                        if fresh {
                            if let Ok(cell) = cell_doc.cell() {
                                // No subscriber is not an error.
                                let _ = events.send(cell);
                            }
                        }
                    }
                }
                Ok(())
            }
        })
        .await?;
    Ok(listener)
}
