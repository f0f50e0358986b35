//! Incident changes with the deliveries they queue, and the delivery
//! leases webhook workers on every server share: each its own transaction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use app::model::{Delivery, Incident};
use chrono::{DateTime, Utc};
use firestore::errors::BackoffError;
use firestore::FirestoreDb;
use futures::FutureExt;

use super::docs::{DeliveryDoc, IncidentDoc};
use super::names::{DELIVERIES, INCIDENTS};
use super::transactions::in_transaction;
use crate::domain::incident::Change;
use crate::domain::notification::{self, WebhookRef};
use crate::store::StoreError;

pub(super) async fn update_incident(
    db: &FirestoreDb,
    change: &Change,
    hooks: &[WebhookRef],
) -> Result<Option<Incident>, StoreError> {
    let change = Arc::new(change.clone());
    let hooks = Arc::new(hooks.to_vec());
    let next = db
        .run_transaction(|db, tx| {
            let (change, hooks) = (change.clone(), hooks.clone());
            async move {
                let stored: Option<IncidentDoc> = db
                    .fluent()
                    .select()
                    .by_id_in(INCIDENTS)
                    .obj()
                    .one(change.id())
                    .await
                    .map_err(|e| in_transaction(e.into()))?;
                let before = stored
                    .map(|d| d.incident())
                    .transpose()
                    .map_err(in_transaction)?;
                let applied = notification::apply(before, &change, &hooks);
                for delivery in &applied.deliveries {
                    db.fluent()
                        .update()
                        .in_col(DELIVERIES)
                        .document_id(&delivery.id)
                        .object(&DeliveryDoc::of(delivery, None).map_err(in_transaction)?)
                        .add_to_transaction(tx)
                        .map_err(|e| in_transaction(e.into()))?;
                }
                if let Some(incident) = &applied.incident {
                    db.fluent()
                        .update()
                        .in_col(INCIDENTS)
                        .document_id(&incident.id)
                        .object(&IncidentDoc::of(incident).map_err(in_transaction)?)
                        .add_to_transaction(tx)
                        .map_err(|e| in_transaction(e.into()))?;
                }
                Ok::<_, BackoffError<StoreError>>(applied.incident)
            }
            .boxed()
        })
        .await?;
    Ok(next)
}

pub(super) async fn claim_deliveries(
    db: &FirestoreDb,
    reads: &AtomicU64,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let now_micros = now.timestamp_micros();
    let due: Vec<(String, DeliveryDoc)> = db
        .fluent()
        .select()
        .from(DELIVERIES)
        .filter(move |q| {
            q.for_all([
                q.field("pending").eq(true),
                q.field("next_attempt_micros")
                    .less_than_or_equal(now_micros),
            ])
        })
        .order(|o| o.fields([o.field("next_attempt_micros").asc()]))
        .limit(limit as u32)
        .obj::<DeliveryDoc>()
        .query()
        .await?
        .into_iter()
        .map(|doc| Ok((doc.delivery()?.id, doc)))
        .collect::<Result<_, StoreError>>()?;
    reads.fetch_add(due.len().max(1) as u64, Ordering::Relaxed);
    let mut claimed = Vec::new();
    // Each lease is its own transaction: a server that read the same
    // candidates finds them leased when it re-reads, and skips them.
    for (id, _) in due {
        let owner = owner.to_string();
        let id = Arc::new(id);
        let leased = db
            .run_transaction(|db, tx| {
                let (id, owner) = (id.clone(), owner.clone());
                async move {
                    let stored: Option<DeliveryDoc> = db
                        .fluent()
                        .select()
                        .by_id_in(DELIVERIES)
                        .obj()
                        .one(id.as_str())
                        .await
                        .map_err(|e| in_transaction(e.into()))?;
                    let Some(stored) =
                        stored.filter(|d| d.pending && d.next_attempt_micros <= now_micros)
                    else {
                        return Ok(None);
                    };
                    let mut delivery = stored.delivery().map_err(in_transaction)?;
                    delivery.next_attempt_at = until;
                    db.fluent()
                        .update()
                        .in_col(DELIVERIES)
                        .document_id(id.as_str())
                        .object(&DeliveryDoc::of(&delivery, Some(&owner)).map_err(in_transaction)?)
                        .add_to_transaction(tx)
                        .map_err(|e| in_transaction(e.into()))?;
                    Ok::<_, BackoffError<StoreError>>(Some(delivery))
                }
                .boxed()
            })
            .await?;
        claimed.extend(leased);
    }
    Ok(claimed)
}

pub(super) async fn finish_delivery(
    db: &FirestoreDb,
    delivery: &Delivery,
    owner: &str,
) -> Result<bool, StoreError> {
    let delivery = Arc::new(delivery.clone());
    let owner = Arc::new(owner.to_string());
    let stored = db
        .run_transaction(|db, tx| {
            let (delivery, owner) = (delivery.clone(), owner.clone());
            async move {
                let stored: Option<DeliveryDoc> = db
                    .fluent()
                    .select()
                    .by_id_in(DELIVERIES)
                    .obj()
                    .one(&delivery.id)
                    .await
                    .map_err(|e| in_transaction(e.into()))?;
                if stored.and_then(|d| d.leased_by).as_deref() != Some(owner.as_str()) {
                    return Ok(false);
                }
                db.fluent()
                    .update()
                    .in_col(DELIVERIES)
                    .document_id(&delivery.id)
                    .object(&DeliveryDoc::of(&delivery, None).map_err(in_transaction)?)
                    .add_to_transaction(tx)
                    .map_err(|e| in_transaction(e.into()))?;
                Ok::<_, BackoffError<StoreError>>(true)
            }
            .boxed()
        })
        .await?;
    Ok(stored)
}
