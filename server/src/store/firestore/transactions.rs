//! What transactions read and write: ingestion's planning reads and
//! writes, an upload's, and which errors are worth a retry.

use super::docs::{
    BranchDoc, BuildDoc, CellDoc, CommitDoc, TestCellDoc, TestFailureDoc, TestFileDoc,
    TestStatsDoc, TestTotalsDoc, VersionDoc, MAX_TRACKED_TESTS,
};
use super::names::{
    cell_key, doc_id, test_key, test_stats_id, BRANCHES, BUILDS, CELLS, COMMITS, TEST_CELLS,
    TEST_FAILURES, TEST_FILES, TEST_STATS, TEST_TOTALS, VERSIONS,
};
use super::queries::cell_builds;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use app::model::{Cell, TestStats};
use firestore::errors::BackoffError;
use firestore::FirestoreDb;
use futures::StreamExt;
use serde::Deserialize;

use crate::store::plan::{Plan, PlanReads};
use crate::store::upload::{BuildTotals, UploadPlan, UploadReads};
use crate::store::walk::CellHistory;
use crate::store::{from_doc, to_doc, CellId, CellScan, StoreError, Summaries, TestUpload};
use app::model::Build;

/// Planning reads of the ingestion transaction. Builds and cells are read
/// in the transaction and stay locked until the commit. A cell's history is
/// queried outside it: a query in a transaction locks far more than the
/// builds it returns (on the emulator, other cells' posts time out behind
/// it), and it needs no lock, because it runs after the cell's document is
/// read in the transaction, and any post that adds to the cell's history
/// must write that document too: it commits before the read (its builds
/// are visible to the query) or conflicts with this transaction (which
/// then retries).
pub(super) struct TxReads<'a> {
    pub(super) db: &'a FirestoreDb,
    pub(super) history: &'a FirestoreDb,
    pub(super) reads: &'a AtomicU64,
}

impl CellHistory for TxReads<'_> {
    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries {
        cell_builds(self.history, self.reads, cell, scan).await
    }
}

impl TxReads<'_> {
    /// The documents of these ids that exist; each id is a billed read.
    pub(super) async fn get_all<T>(
        &self,
        collection: &str,
        ids: Vec<String>,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'de> Deserialize<'de> + Send,
    {
        self.reads.fetch_add(ids.len() as u64, Ordering::Relaxed);
        Ok(self
            .db
            .fluent()
            .select()
            .by_id_in(collection)
            .obj::<T>()
            .batch(ids)
            .await?
            .filter_map(|(_, doc)| async move { doc })
            .collect()
            .await)
    }
}

impl PlanReads for TxReads<'_> {
    async fn stored_builds(&self, ids: &[&str]) -> Result<HashMap<String, Build>, StoreError> {
        let ids = ids.iter().map(|id| doc_id(&[id])).collect();
        let docs: Vec<BuildDoc> = self.get_all(BUILDS, ids).await?;
        docs.into_iter()
            .map(|doc| Ok((doc.id.clone(), doc.build()?)))
            .collect()
    }

    async fn stored_cells(&self, ids: &[CellId]) -> Result<HashMap<CellId, Cell>, StoreError> {
        let docs: Vec<CellDoc> = self
            .get_all(CELLS, ids.iter().map(cell_key).collect())
            .await?;
        docs.iter()
            .map(|doc| {
                let cell = doc.cell()?;
                Ok((cell.id(), cell))
            })
            .collect()
    }
}

/// An upload's planning reads inside its transaction. It keeps the cell's
/// tracked-tests document it read: the transaction writes it back.
pub(super) struct UploadTx<'a> {
    pub(super) db: &'a FirestoreDb,
    pub(super) tracked: Mutex<Option<TestCellDoc>>,
}

impl UploadReads for UploadTx<'_> {
    fn tracking_key(name: &str) -> String {
        test_key(name)
    }

    async fn build_totals(&self, build: &str) -> Result<BuildTotals, StoreError> {
        let stored: Option<TestTotalsDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(TEST_TOTALS)
            .obj()
            .one(&doc_id(&[build]))
            .await?;
        match stored {
            Some(doc) => Ok(BuildTotals {
                totals: from_doc(&doc.doc)?,
                files: doc.files,
            }),
            None => Ok(BuildTotals::default()),
        }
    }

    async fn tracked(&self, cell: &CellId) -> Result<HashSet<String>, StoreError> {
        let doc: TestCellDoc = self
            .db
            .fluent()
            .select()
            .by_id_in(TEST_CELLS)
            .obj()
            .one(&cell_key(cell))
            .await?
            .unwrap_or_default();
        let keys = doc.tracked().into_iter().collect();
        *self.tracked.lock().unwrap_or_else(|p| p.into_inner()) = Some(doc);
        Ok(keys)
    }

    async fn test_stats(
        &self,
        cell: &CellId,
        names: &[&str],
    ) -> Result<Vec<TestStats>, StoreError> {
        let ids = names.iter().map(|n| test_stats_id(cell, n)).collect();
        test_stats_by_id(self.db, ids).await
    }

    async fn cell(&self, cell: &CellId) -> Result<Option<Cell>, StoreError> {
        let stored: Option<CellDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(CELLS)
            .obj()
            .one(&cell_key(cell))
            .await?;
        stored.map(|doc| doc.cell()).transpose()
    }
}

/// The test records of these document ids that exist (in a transaction
/// when `db` is one's).
pub(super) async fn test_stats_by_id(
    db: &FirestoreDb,
    ids: Vec<String>,
) -> Result<Vec<TestStats>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let docs: Vec<TestStatsDoc> = db
        .fluent()
        .select()
        .by_id_in(TEST_STATS)
        .obj::<TestStatsDoc>()
        .batch(ids)
        .await?
        .filter_map(|(_, doc)| async move { doc })
        .collect()
        .await;
    docs.iter().map(|d| from_doc(&d.doc)).collect()
}

/// Adds what an upload's plan decided to its transaction.
pub(super) fn write_upload(
    db: &FirestoreDb,
    tx: &mut firestore::FirestoreTransaction,
    upload: &TestUpload,
    chunks: &[String],
    plan: &UploadPlan,
    tracked: TestCellDoc,
) -> Result<(), StoreError> {
    let cell_id = cell_key(&upload.cell);
    for stats in &plan.stats {
        db.fluent()
            .update()
            .in_col(TEST_STATS)
            .document_id(test_stats_id(&upload.cell, &stats.name))
            .object(&TestStatsDoc {
                branch: upload.cell.branch.clone(),
                last_run_micros: stats.last_run_at.timestamp_micros(),
                doc: to_doc(stats)?,
            })
            .add_to_transaction(tx)?;
    }
    // Written when it gains tests, or to move names written before keys.
    if !plan.newly_tracked.is_empty() || !tracked.names.is_empty() {
        let mut keys = tracked.tracked();
        keys.extend(plan.newly_tracked.iter().cloned());
        let over = keys.len().saturating_sub(MAX_TRACKED_TESTS);
        keys.drain(..over);
        db.fluent()
            .update()
            .in_col(TEST_CELLS)
            .document_id(&cell_id)
            .object(&TestCellDoc {
                names: Vec::new(),
                keys,
            })
            .add_to_transaction(tx)?;
    }
    let first = (plan.build.files.len() as i64 - 1) * 1_000;
    for (n, cases) in chunks.iter().enumerate() {
        db.fluent()
            .update()
            .in_col(TEST_FILES)
            .document_id(doc_id(&[&upload.build, &upload.hash, &n.to_string()]))
            .object(&TestFileDoc {
                build: upload.build.clone(),
                order: first + n as i64,
                cases: cases.clone(),
            })
            .add_to_transaction(tx)?;
    }
    for failure in &plan.failures {
        db.fluent()
            .update()
            .in_col(TEST_FAILURES)
            .document_id(doc_id(&[&failure.build, &test_key(&failure.name)]))
            .object(&TestFailureDoc {
                build: failure.build.clone(),
                name: failure.name.clone(),
                doc: to_doc(failure)?,
            })
            .add_to_transaction(tx)?;
    }
    if let Some(cell) = &plan.cell {
        db.fluent()
            .update()
            .in_col(CELLS)
            .document_id(&cell_id)
            .object(&CellDoc::of(cell)?)
            .add_to_transaction(tx)?;
    }
    db.fluent()
        .update()
        .in_col(TEST_TOTALS)
        .document_id(doc_id(&[&upload.build]))
        .object(&TestTotalsDoc {
            build: upload.build.clone(),
            files: plan.build.files.clone(),
            doc: to_doc(&plan.build.totals)?,
        })
        .add_to_transaction(tx)?;
    Ok(())
}

/// Inside a transaction, only an unavailable store is worth a retry.
pub(super) fn in_transaction(e: StoreError) -> BackoffError<StoreError> {
    match e {
        StoreError::Unavailable(_) => BackoffError::transient(e),
        other => BackoffError::permanent(other),
    }
}

pub(super) fn queue_writes(
    db: &FirestoreDb,
    tx: &mut firestore::FirestoreTransaction,
    plan: &Plan,
) -> Result<(), StoreError> {
    for build in &plan.builds {
        db.fluent()
            .update()
            .in_col(BUILDS)
            .document_id(doc_id(&[&build.id]))
            .object(&BuildDoc::of(build))
            .add_to_transaction(tx)?;
    }
    for entry in &plan.commits {
        let commit = CommitDoc {
            branch: entry.branch.clone(),
            commit: entry.commit.clone(),
            pr: entry.pr.and_then(|p| i64::try_from(p).ok()),
            title: entry.title.clone(),
            last_started_micros: 0,
        };
        // Only present fields are written, so a later build without a
        // title or PR never erases what an earlier one reported.
        let mut fields = vec!["branch", "commit"];
        if commit.pr.is_some() {
            fields.push("pr");
        }
        if commit.title.is_some() {
            fields.push("title");
        }
        let started = entry.last_started_at.timestamp_micros();
        db.fluent()
            .update()
            .fields(fields)
            .in_col(COMMITS)
            .document_id(doc_id(&[&entry.branch, &entry.commit]))
            .object(&commit)
            .transforms(|t| t.fields([t.field("last_started_micros").maximum(started)]))
            .add_to_transaction(tx)?;
    }
    for (branch, version, commit) in &plan.versions {
        db.fluent()
            .update()
            .in_col(VERSIONS)
            .document_id(doc_id(&[branch, version, commit]))
            .object(&VersionDoc {
                branch: branch.clone(),
                version: version.clone(),
                commit: commit.clone(),
            })
            .add_to_transaction(tx)?;
    }
    let mut branches = HashSet::new();
    for cell in &plan.cells {
        let id = cell.id();
        db.fluent()
            .update()
            .in_col(CELLS)
            .document_id(cell_key(&id))
            .object(&CellDoc::of(cell)?)
            .add_to_transaction(tx)?;
        if plan.new_cells.contains(&id) && branches.insert(id.branch.clone()) {
            db.fluent()
                .update()
                .in_col(BRANCHES)
                .document_id(doc_id(&[&id.branch]))
                .object(&BranchDoc {
                    branch: id.branch.clone(),
                })
                .add_to_transaction(tx)?;
        }
    }
    Ok(())
}
