//! Triage's documents: quarantine entries (one per test of a cell, changed
//! in a transaction as the domain's rule says), failure reasons' records
//! (one per reason of a branch, merged likewise) and known-issue rules
//! (one each, by id).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use app::model::{KnownIssue, QuarantinedTest, ReasonRecord};
use chrono::{DateTime, Utc};
use firestore::errors::{BackoffError, FirestoreError};
use firestore::FirestoreDb;
use futures::FutureExt;

use super::docs::{KnownIssueDoc, QuarantineDoc, ReasonDoc};
use super::names::{doc_id, test_stats_id, KNOWN_ISSUES, QUARANTINE, REASONS};
use super::queries::counted;
use super::transactions::in_transaction;
use crate::domain::known_issue::MAX_RULES;
use crate::domain::quarantine::{self, QuarantineChange};
use crate::domain::reason::{self, ReasonUpdate};
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

pub(super) async fn put_known_issue(
    db: &FirestoreDb,
    rule: &KnownIssue,
) -> Result<bool, StoreError> {
    // An insert fails on an existing document: the same rule is kept once.
    let inserted: Result<KnownIssueDoc, FirestoreError> = db
        .fluent()
        .insert()
        .into(KNOWN_ISSUES)
        .document_id(doc_id(&[&rule.id]))
        .object(&KnownIssueDoc::of(rule)?)
        .execute()
        .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(FirestoreError::DataConflictError(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn known_issues(
    db: &FirestoreDb,
    reads: &AtomicU64,
) -> Result<Vec<KnownIssue>, StoreError> {
    let docs: Vec<KnownIssueDoc> = db
        .fluent()
        .select()
        .from(KNOWN_ISSUES)
        .order(|o| o.fields([o.field("created_micros").asc()]))
        .limit(MAX_RULES as u32 + 1)
        .obj()
        .query()
        .await?;
    counted(reads, docs)
        .iter()
        .map(KnownIssueDoc::rule)
        .collect()
}

pub(super) async fn remove_known_issue(db: &FirestoreDb, id: &str) -> Result<bool, StoreError> {
    let id = doc_id(&[id]);
    let existed = db
        .run_transaction(|db, tx| {
            let id = id.clone();
            async move {
                let doc: Option<KnownIssueDoc> = db
                    .fluent()
                    .select()
                    .by_id_in(KNOWN_ISSUES)
                    .obj()
                    .one(&id)
                    .await?;
                if doc.is_some() {
                    db.fluent()
                        .delete()
                        .from(KNOWN_ISSUES)
                        .document_id(&id)
                        .add_to_transaction(tx)?;
                }
                Ok(doc.is_some())
            }
            .boxed()
        })
        .await?;
    Ok(existed)
}

pub(super) async fn record_reasons(
    db: &FirestoreDb,
    updates: &[ReasonUpdate],
) -> Result<(), StoreError> {
    let updates = Arc::new(updates.to_vec());
    db.run_transaction(|db, tx| {
        let updates = updates.clone();
        async move {
            let ids: Vec<String> = updates
                .iter()
                .map(|u| doc_id(&[&u.branch, &u.reason.id]))
                .collect();
            let mut records = std::collections::HashMap::new();
            for id in &ids {
                let stored: Option<ReasonDoc> = db
                    .fluent()
                    .select()
                    .by_id_in(REASONS)
                    .obj()
                    .one(id)
                    .await
                    .map_err(|e| in_transaction(e.into()))?;
                if let Some(doc) = stored {
                    records.insert(id.clone(), doc.record().map_err(in_transaction)?);
                }
            }
            for (id, update) in ids.iter().zip(updates.iter()) {
                let after = reason::merge(records.remove(id), update);
                db.fluent()
                    .update()
                    .in_col(REASONS)
                    .document_id(id)
                    .object(&ReasonDoc::of(&after).map_err(in_transaction)?)
                    .add_to_transaction(tx)
                    .map_err(|e| in_transaction(e.into()))?;
            }
            Ok::<_, BackoffError<StoreError>>(())
        }
        .boxed()
    })
    .await?;
    Ok(())
}

pub(super) async fn reasons(
    db: &FirestoreDb,
    reads: &AtomicU64,
    branch: &str,
    since: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<ReasonRecord>, StoreError> {
    let (branch, since) = (branch.to_string(), since.timestamp_micros());
    let docs: Vec<ReasonDoc> = db
        .fluent()
        .select()
        .from(REASONS)
        .filter(move |q| {
            q.for_all([
                q.field("branch").eq(branch.clone()),
                q.field("last_seen_micros").greater_than_or_equal(since),
            ])
        })
        .order(|o| o.fields([o.field("last_seen_micros").desc()]))
        .limit(limit as u32)
        .obj()
        .query()
        .await?;
    counted(reads, docs).iter().map(ReasonDoc::record).collect()
}
