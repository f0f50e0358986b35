//! Quarantine entries: one document per test of a cell, changed in a
//! transaction as the domain's rule says.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use app::model::QuarantinedTest;
use firestore::errors::BackoffError;
use firestore::FirestoreDb;
use futures::FutureExt;

use super::docs::QuarantineDoc;
use super::names::{test_stats_id, QUARANTINE};
use super::queries::counted;
use super::transactions::in_transaction;
use crate::domain::quarantine::{self, QuarantineChange};
use crate::store::StoreError;

pub(super) async fn update_quarantine(
    db: &FirestoreDb,
    change: &QuarantineChange,
) -> Result<quarantine::Applied, StoreError> {
    let change = Arc::new(change.clone());
    let applied = db
        .run_transaction(|db, tx| {
            let change = change.clone();
            async move {
                let (cell, name) = change.key();
                let id = test_stats_id(cell, name);
                let stored: Option<QuarantineDoc> = db
                    .fluent()
                    .select()
                    .by_id_in(QUARANTINE)
                    .obj()
                    .one(&id)
                    .await
                    .map_err(|e| in_transaction(e.into()))?;
                let before = stored
                    .map(|d| d.entry())
                    .transpose()
                    .map_err(in_transaction)?;
                let applied = quarantine::apply(before, &change);
                if let Some(after) = applied.after.as_ref().filter(|_| applied.changed) {
                    db.fluent()
                        .update()
                        .in_col(QUARANTINE)
                        .document_id(&id)
                        .object(&QuarantineDoc::of(after).map_err(in_transaction)?)
                        .add_to_transaction(tx)
                        .map_err(|e| in_transaction(e.into()))?;
                }
                Ok::<_, BackoffError<StoreError>>(applied)
            }
            .boxed()
        })
        .await?;
    Ok(applied)
}

pub(super) async fn quarantined(
    db: &FirestoreDb,
    reads: &AtomicU64,
    branch: &str,
) -> Result<Vec<QuarantinedTest>, StoreError> {
    let branch = branch.to_string();
    let docs: Vec<QuarantineDoc> = db
        .fluent()
        .select()
        .from(QUARANTINE)
        .filter(move |q| {
            q.for_all([
                q.field("branch").eq(branch.clone()),
                q.field("released").eq(false),
            ])
        })
        .obj()
        .query()
        .await?;
    let mut entries = counted(reads, docs)
        .iter()
        .map(QuarantineDoc::entry)
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by(|a, b| (&a.cell, &a.name).cmp(&(&b.cell, &b.name)));
    Ok(entries)
}
