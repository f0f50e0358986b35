//! The production store on Cloud Firestore. Document layout and indexes are
//! described in docs/storage.md: build documents, one precomputed document
//! per health cell updated in the ingestion transaction, and small index
//! documents (commits, versions, branches) so no page scans build history.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::domain::incident::Change;
use crate::domain::notification::{self, WebhookRef};
use app::model::{
    BuildResult, BuildSummary, Cell, CommitCandidate, Delivery, DeliveryState, FreezeEvent,
    Incident, IncidentState, TestCase, TestFailure, TestStats, TestTotals,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firestore::errors::{BackoffError, FirestoreError};
use firestore::{
    FirestoreDb, FirestoreDbOptions, FirestoreListenEvent, FirestoreListener,
    FirestoreListenerTarget, FirestoreMemListenStateStorage, FirestoreTransactionOptions,
    FirestoreValue,
};
use futures::{FutureExt, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use super::plan::{self, Plan, PlanReads};
use super::upload::{self, BuildTotals, UploadPlan, UploadReads};
use super::walk::CellHistory;
use super::{
    from_doc, to_doc, BuildFilter, Builds, Candidates, CellId, CellScan, CommitsWithBuilds, Cursor,
    Grants, IngestOutcome, Poster, ScanKind, Store, StoreError, Summaries, TestUpload, TokenRecord,
};
use app::model::Build;

const BUILDS: &str = "builds";
const CELLS: &str = "cells";
const COMMITS: &str = "commits";
const VERSIONS: &str = "versions";
const BRANCHES: &str = "branches";
const TOKENS: &str = "tokens";
const INCIDENTS: &str = "incidents";
const FREEZE_EVENTS: &str = "freeze_events";
const DELIVERIES: &str = "deliveries";
const TEST_FILES: &str = "test_files";
const TEST_TOTALS: &str = "test_totals";
const TEST_FAILURES: &str = "test_failures";
const TEST_STATS: &str = "test_stats";
const TEST_CELLS: &str = "test_cells";

const CELLS_TARGET: FirestoreListenerTarget = FirestoreListenerTarget::new(1);

/// Where and how to reach Firestore.
#[derive(Debug, Clone)]
pub struct FirestoreSettings {
    pub project: String,
    pub database: Option<String>,
    /// Each request, and each ingestion as a whole, gives up after this long
    /// so that an unreachable Firestore becomes a 503, not a hung request.
    pub timeout: Duration,
}

pub struct FirestoreStore {
    db: FirestoreDb,
    timeout: Duration,
    reads: Arc<AtomicU64>,
    events: broadcast::Sender<Cell>,
    // Dropping the listener stops it; it lives as long as the store.
    _listener: FirestoreListener<FirestoreDb, FirestoreMemListenStateStorage>,
}
/// A stored JSON document read back; unreadable means corrupt.
/// A part of a document id: Firestore ids cannot contain `/`, and `|`
/// separates parts, so both are escaped (and `%`, to keep it reversible).
fn key_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '|' => out.push_str("%7C"),
            c => out.push(c),
        }
    }
    out
}

/// Bytes a document id may hold (Firestore's limit).
const MAX_DOC_ID: usize = 1_500;

fn doc_id(parts: &[&str]) -> String {
    let id = parts
        .iter()
        .map(|p| key_part(p))
        .collect::<Vec<_>>()
        .join("|");
    // Firestore reserves `.`, `..` and `__name__`-like ids.
    let id = if id.starts_with('.') || id.starts_with("__") {
        format!("%{:02X}{}", id.as_bytes()[0], &id[1..])
    } else {
        id
    };
    if id.len() <= MAX_DOC_ID {
        return id;
    }
    // Validated parts can add up past the limit (a long branch of escaped
    // characters and a long version): such an id keeps a readable start and
    // ends with the digest of the whole, so it stays unique and fits. Ids
    // that fit are unchanged, so no stored document moves.
    let digest = hex::encode(Sha256::digest(id.as_bytes()));
    let mut keep = MAX_DOC_ID - digest.len() - 1;
    while !id.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}~{digest}", &id[..keep])
}

fn cell_key(cell: &CellId) -> String {
    doc_id(&[&cell.branch, &cell.component, &cell.arch, &cell.build_type])
}

/// One string that sorts like `(started_at, id)`, so ordering, cursors and
/// "since" are all a single range on one indexed field.
fn seq(started_at: DateTime<Utc>, id: &str) -> String {
    format!("{:020}|{id}", started_at.timestamp_micros().max(0))
}

fn seq_floor(started_at: DateTime<Utc>) -> String {
    format!("{:020}|", started_at.timestamp_micros().max(0))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BuildDoc {
    id: String,
    repository: String,
    commit: String,
    parent: Option<String>,
    branch: String,
    pr: Option<i64>,
    component: String,
    arch: String,
    build_type: String,
    result: String,
    started_at: SystemTime,
    finished_at: Option<SystemTime>,
    url: Option<String>,
    runner: Option<String>,
    version: Option<String>,
    commit_title: Option<String>,
    author: Option<String>,
    #[serde(default)]
    posted_by: Option<String>,
    cell: String,
    seq: String,
    finished: bool,
    decisive: bool,
    received_at: SystemTime,
}

impl BuildDoc {
    fn of(b: &Build) -> Self {
        BuildDoc {
            id: b.id.clone(),
            repository: b.repository.clone(),
            commit: b.commit.clone(),
            parent: b.parent.clone(),
            branch: b.branch.clone(),
            pr: b.pr.and_then(|p| i64::try_from(p).ok()),
            component: b.component.clone(),
            arch: b.arch.clone(),
            build_type: b.build_type.clone(),
            result: b.result.as_str().to_string(),
            started_at: b.started_at.into(),
            finished_at: b.finished_at.map(Into::into),
            url: b.url.clone(),
            runner: b.runner.clone(),
            version: b.version.clone(),
            commit_title: b.commit_title.clone(),
            author: b.author.clone(),
            posted_by: b.posted_by.clone(),
            cell: cell_key(&b.cell()),
            seq: seq(b.started_at, &b.id),
            finished: b.result.is_finished(),
            decisive: matches!(b.result, BuildResult::Pass | BuildResult::Fail),
            received_at: SystemTime::now(),
        }
    }

    fn build(self) -> Result<Build, StoreError> {
        let result = BuildResult::parse(&self.result)
            .ok_or_else(|| StoreError::Corrupt(format!("result '{}'", self.result)))?;
        Ok(Build {
            id: self.id,
            repository: self.repository,
            commit: self.commit,
            parent: self.parent,
            branch: self.branch,
            pr: self.pr.and_then(|p| u64::try_from(p).ok()),
            component: self.component,
            arch: self.arch,
            build_type: self.build_type,
            result,
            started_at: self.started_at.into(),
            finished_at: self.finished_at.map(Into::into),
            url: self.url,
            runner: self.runner,
            version: self.version,
            commit_title: self.commit_title,
            author: self.author,
            posted_by: self.posted_by,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CellDoc {
    branch: String,
    component: String,
    arch: String,
    build_type: String,
    /// The whole cell as JSON: pages read it as one value, never query inside.
    state: String,
    updated_at: SystemTime,
}

impl CellDoc {
    fn of(cell: &Cell) -> Result<Self, StoreError> {
        Ok(CellDoc {
            branch: cell.branch.clone(),
            component: cell.component.clone(),
            arch: cell.arch.clone(),
            build_type: cell.build_type.clone(),
            state: to_doc(cell)?,
            updated_at: SystemTime::now(),
        })
    }

    fn cell(&self) -> Result<Cell, StoreError> {
        from_doc(&self.state)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CommitDoc {
    branch: String,
    commit: String,
    pr: Option<i64>,
    title: Option<String>,
    /// Kept with a server-side `maximum` transform, so concurrent posts of
    /// one commit never read this document and never contend on it.
    last_started_micros: i64,
}

impl CommitDoc {
    fn candidate(self) -> CommitCandidate {
        CommitCandidate {
            commit: self.commit,
            branch: self.branch,
            pr: self.pr.and_then(|p| u64::try_from(p).ok()),
            title: self.title,
            started_at: DateTime::from_timestamp_micros(self.last_started_micros)
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionDoc {
    branch: String,
    version: String,
    commit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BranchDoc {
    branch: String,
}

/// An incident: the fields its queries filter and order on, and the
/// incident itself as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IncidentDoc {
    branch: String,
    open: bool,
    opened_at: SystemTime,
    doc: String,
}

impl IncidentDoc {
    fn of(incident: &Incident) -> Result<Self, StoreError> {
        Ok(IncidentDoc {
            branch: incident.branch.clone(),
            open: incident.state == IncidentState::Open,
            opened_at: incident.opened_at.into(),
            doc: to_doc(incident)?,
        })
    }

    fn incident(&self) -> Result<Incident, StoreError> {
        from_doc(&self.doc)
    }
}

/// A queued webhook delivery: the fields claims and listings filter and
/// order on (times in microseconds), its lease, and the delivery as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeliveryDoc {
    incident: String,
    pending: bool,
    next_attempt_micros: i64,
    created_micros: i64,
    leased_by: Option<String>,
    doc: String,
}

impl DeliveryDoc {
    fn of(delivery: &Delivery, leased_by: Option<&str>) -> Result<Self, StoreError> {
        Ok(DeliveryDoc {
            incident: delivery.incident.clone(),
            pending: delivery.state == DeliveryState::Pending,
            next_attempt_micros: delivery.next_attempt_at.timestamp_micros(),
            created_micros: delivery.created_at.timestamp_micros(),
            leased_by: leased_by.map(str::to_string),
            doc: to_doc(delivery)?,
        })
    }

    fn delivery(&self) -> Result<Delivery, StoreError> {
        from_doc(&self.doc)
    }
}

/// Part of one uploaded JUnit file's cases (as JSON), kept under
/// Firestore's document size limit; `order` keeps files and parts in
/// upload order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TestFileDoc {
    build: String,
    order: i64,
    cases: String,
}

/// A build's test totals and the files (by digest) they add up.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TestTotalsDoc {
    build: String,
    files: Vec<String>,
    doc: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TestFailureDoc {
    build: String,
    name: String,
    doc: String,
}

/// The tests of a cell that have a record: the ones an upload must update
/// even when they pass, by [`test_key`] (a name may be 1,000 characters;
/// a key is 32), oldest first and at most [`MAX_TRACKED_TESTS`], so the
/// document stays far below Firestore's 1 MiB whatever the history. A test
/// that left the list is tracked again from its next failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TestCellDoc {
    /// Names, as documents written before keys held them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    names: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
}

/// Tests a cell's [`TestCellDoc`] lists at most: about 360 KB.
const MAX_TRACKED_TESTS: usize = 10_000;

impl TestCellDoc {
    /// Every tracked key, the old names' included.
    fn tracked(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.names.iter().map(|n| test_key(n)).collect();
        keys.extend(self.keys.iter().cloned());
        keys
    }
}

/// A test's record in a cell, with the fields its query filters and
/// orders on.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TestStatsDoc {
    branch: String,
    last_run_micros: i64,
    doc: String,
}

/// A test's name as a short fixed-size key.
fn test_key(name: &str) -> String {
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}

fn test_stats_id(cell: &CellId, name: &str) -> String {
    doc_id(&[&cell_key(cell), &test_key(name)])
}

/// A file's cases as JSON parts of at most about 512 KB each.
fn test_chunks(cases: &[TestCase]) -> Result<Vec<String>, StoreError> {
    const PART: usize = 512 * 1024;
    let mut parts = Vec::new();
    let mut part: Vec<&TestCase> = Vec::new();
    let mut size = 0;
    for case in cases {
        let one = to_doc(case)?;
        if size + one.len() > PART && !part.is_empty() {
            parts.push(to_doc(&part)?);
            part.clear();
            size = 0;
        }
        size += one.len() + 1;
        part.push(case);
    }
    parts.push(to_doc(&part)?);
    Ok(parts)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FreezeEventDoc {
    branch: String,
    at: SystemTime,
    frozen: bool,
    reason: String,
    by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenDoc {
    name: String,
    hash: String,
    created_at: SystemTime,
    #[serde(default)]
    last_used_at: Option<SystemTime>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    freeze: bool,
}

impl From<FirestoreError> for StoreError {
    fn from(e: FirestoreError) -> Self {
        match e {
            // What planning decided inside a transaction comes back as it was.
            FirestoreError::ErrorInTransaction(e) => match e.source.downcast::<StoreError>() {
                Ok(e) => *e,
                Err(other) => StoreError::Unavailable(other.to_string()),
            },
            FirestoreError::DeserializeError(e) => StoreError::Corrupt(e.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// A query over build documents, newest first.
#[derive(Clone, Default)]
struct BuildQuery {
    eq: Vec<(&'static str, FirestoreValue)>,
    /// Only builds strictly older than this `seq`.
    below: Option<String>,
    /// Only builds at or after this `seq`.
    at_least: Option<String>,
    limit: u32,
}

impl BuildQuery {
    fn new(limit: u32) -> Self {
        BuildQuery {
            limit,
            ..Default::default()
        }
    }

    fn eq(mut self, field: &'static str, value: impl Into<FirestoreValue>) -> Self {
        self.eq.push((field, value.into()));
        self
    }

    fn of_cell(cell: &str, limit: u32) -> Self {
        BuildQuery::new(limit).eq("cell", cell.to_string())
    }
}

/// Counts the documents Firestore returns, which is what it bills and what
/// the benchmark reports per page view.
fn counted<T>(reads: &AtomicU64, docs: Vec<T>) -> Vec<T> {
    // A query that matches nothing is still billed one read.
    reads.fetch_add(docs.len().max(1) as u64, Ordering::Relaxed);
    docs
}

async fn query_builds(
    db: &FirestoreDb,
    reads: &AtomicU64,
    q: BuildQuery,
) -> Result<Vec<BuildDoc>, FirestoreError> {
    let BuildQuery {
        eq,
        below,
        at_least,
        limit,
    } = q;
    let docs: Vec<BuildDoc> = db
        .fluent()
        .select()
        .from(BUILDS)
        .filter(move |f| {
            let mut all: Vec<_> = eq
                .iter()
                .map(|(field, value)| f.field(field).eq(value.clone()))
                .collect();
            all.push(below.clone().and_then(|s| f.field("seq").less_than(s)));
            all.push(
                at_least
                    .clone()
                    .and_then(|s| f.field("seq").greater_than_or_equal(s)),
            );
            f.for_all(all)
        })
        .order(|o| o.fields([o.field("seq").desc()]))
        .limit(limit)
        .obj()
        .query()
        .await?;
    Ok(counted(reads, docs))
}

fn summary(doc: &BuildDoc) -> Result<BuildSummary, StoreError> {
    Ok(doc.clone().build()?.summary())
}

/// A page of a cell's builds, newest first.
async fn cell_builds(
    db: &FirestoreDb,
    reads: &AtomicU64,
    cell: &CellId,
    scan: &CellScan,
) -> Summaries {
    let q = BuildQuery::of_cell(&cell_key(cell), scan.limit as u32);
    let mut q = match scan.kind {
        ScanKind::Running => q.eq("result", BuildResult::Running.as_str()),
        ScanKind::Finished => q.eq("finished", true),
        ScanKind::Decisive => q.eq("decisive", true),
    };
    if let Some(commit) = &scan.commit {
        q = q.eq("commit", commit.clone());
    }
    q.below = scan.below.as_ref().map(|c| seq(c.started_at, &c.id));
    query_builds(db, reads, q)
        .await?
        .iter()
        .map(summary)
        .collect()
}

/// Planning reads of the ingestion transaction. Builds and cells are read
/// in the transaction and stay locked until the commit. A cell's history is
/// queried outside it: a query in a transaction locks far more than the
/// builds it returns (on the emulator, other cells' posts time out behind
/// it), and it needs no lock, because it runs after the cell's document is
/// read in the transaction, and any post that adds to the cell's history
/// must write that document too: it commits before the read (its builds
/// are visible to the query) or conflicts with this transaction (which
/// then retries).
struct TxReads<'a> {
    db: &'a FirestoreDb,
    history: &'a FirestoreDb,
    reads: &'a AtomicU64,
}

impl CellHistory for TxReads<'_> {
    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries {
        cell_builds(self.history, self.reads, cell, scan).await
    }
}

impl TxReads<'_> {
    /// The documents of these ids that exist; each id is a billed read.
    async fn get_all<T>(&self, collection: &str, ids: Vec<String>) -> Result<Vec<T>, StoreError>
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
struct UploadTx<'a> {
    db: &'a FirestoreDb,
    tracked: Mutex<Option<TestCellDoc>>,
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
async fn test_stats_by_id(
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
fn write_upload(
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
    for failure in &upload.failures {
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
fn in_transaction(e: StoreError) -> BackoffError<StoreError> {
    match e {
        StoreError::Unavailable(_) => BackoffError::transient(e),
        other => BackoffError::permanent(other),
    }
}

fn queue_writes(
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

impl FirestoreStore {
    pub async fn open(settings: &FirestoreSettings) -> Result<Self, StoreError> {
        let mut options = FirestoreDbOptions::new(settings.project.clone())
            .with_request_timeout(settings.timeout)
            // One retry: a dead connection is replaced, but a page does not
            // wait out many timeouts before saying storage is unavailable.
            .with_max_retries(1);
        if let Some(database) = &settings.database {
            options = options.with_database_id(database.clone());
        }
        let db = FirestoreDb::with_options(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to Firestore: {e}")))?;
        let (events, _) = broadcast::channel(1024);
        let listener = listen_to_cells(&db, events.clone()).await?;
        Ok(FirestoreStore {
            db,
            timeout: settings.timeout,
            reads: Arc::new(AtomicU64::new(0)),
            events,
            _listener: listener,
        })
    }

    /// Documents read from Firestore so far: what a page view costs.
    pub fn document_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn candidates(&self, docs: Vec<CommitDoc>, limit: usize) -> Vec<CommitCandidate> {
        let mut docs = counted(&self.reads, docs);
        docs.sort_by(|a, b| {
            b.last_started_micros
                .cmp(&a.last_started_micros)
                .then_with(|| a.branch.cmp(&b.branch))
        });
        docs.truncate(limit);
        docs.into_iter().map(CommitDoc::candidate).collect()
    }
}

/// Feeds every change of a cell document, from any server, into `events`.
/// Listen resets re-send unchanged documents; those are dropped here.
async fn listen_to_cells(
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

#[async_trait]
impl Store for FirestoreStore {
    async fn ingest_as(
        &self,
        builds: Vec<Build>,
        poster: &Poster,
    ) -> Result<IngestOutcome, StoreError> {
        let builds = Arc::new(builds);
        let poster = Arc::new(poster.clone());
        let reads = self.reads.clone();
        let history = self.db.clone();
        let options = FirestoreTransactionOptions::new()
            .with_max_retries(10)
            .with_retry_max_elapsed_time(self.timeout * 2);
        let transaction = self.db.run_transaction_with_options(
            |db, tx| {
                let (builds, reads, history) = (builds.clone(), reads.clone(), history.clone());
                let poster = poster.clone();
                async move {
                    let reads = TxReads {
                        db: &db,
                        history: &history,
                        reads: &reads,
                    };
                    let plan = plan::plan(&reads, builds.to_vec(), &poster)
                        .await
                        .map_err(in_transaction)?;
                    queue_writes(&db, tx, &plan).map_err(in_transaction)?;
                    Ok::<_, BackoffError<StoreError>>(plan.outcome)
                }
                .boxed()
            },
            options,
        );
        // An ingestion is several round trips; give it a few request
        // timeouts. Cut off after its commit was sent, it may be stored.
        tokio::time::timeout(self.timeout * 3, transaction)
            .await
            .map_err(|_| {
                StoreError::Unconfirmed("Firestore did not confirm the write in time".into())
            })?
            .map_err(StoreError::from)
    }

    async fn cells(&self, branch: &str) -> Result<Vec<Cell>, StoreError> {
        let branch = branch.to_string();
        let docs: Vec<CellDoc> = self
            .db
            .fluent()
            .select()
            .from(CELLS)
            .filter(move |q| q.for_all([q.field("branch").eq(branch.clone())]))
            .obj()
            .query()
            .await?;
        counted(&self.reads, docs)
            .iter()
            .map(CellDoc::cell)
            .collect()
    }

    async fn branches(&self) -> Result<Vec<String>, StoreError> {
        let docs: Vec<BranchDoc> = self
            .db
            .fluent()
            .select()
            .from(BRANCHES)
            .obj()
            .query()
            .await?;
        let mut branches: Vec<String> = counted(&self.reads, docs)
            .into_iter()
            .map(|d| d.branch)
            .collect();
        branches.sort();
        Ok(branches)
    }

    async fn build(&self, id: &str) -> Result<Option<Build>, StoreError> {
        let doc: Option<BuildDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(BUILDS)
            .obj()
            .one(doc_id(&[id]))
            .await?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        doc.map(BuildDoc::build).transpose()
    }

    async fn commits_by_prefix(&self, prefix: &str, limit: usize) -> Candidates {
        // A range on the SHA must be ordered by the SHA first, so the newest
        // are picked here; prefixes are long enough to match few commits.
        let low = prefix.to_ascii_lowercase();
        let high = format!("{low}g");
        let docs: Vec<CommitDoc> = self
            .db
            .fluent()
            .select()
            .from(COMMITS)
            .filter(move |q| {
                q.for_all([
                    q.field("commit").greater_than_or_equal(low.clone()),
                    q.field("commit").less_than(high.clone()),
                ])
            })
            .order(|o| o.fields([o.field("commit").asc()]))
            .limit(2000)
            .obj()
            .query()
            .await?;
        Ok(self.candidates(docs, limit))
    }

    async fn commits_by_pr(&self, pr: u64, limit: usize) -> Candidates {
        let pr = i64::try_from(pr).unwrap_or(i64::MAX);
        let docs: Vec<CommitDoc> = self
            .db
            .fluent()
            .select()
            .from(COMMITS)
            .filter(move |q| q.for_all([q.field("pr").eq(pr)]))
            .order(|o| o.fields([o.field("last_started_micros").desc()]))
            .limit(limit as u32)
            .obj()
            .query()
            .await?;
        Ok(self.candidates(docs, limit))
    }

    async fn builds_of_commit(&self, commit: &str) -> Builds {
        let commit = commit.to_string();
        let docs: Vec<BuildDoc> = self
            .db
            .fluent()
            .select()
            .from(BUILDS)
            .filter(move |q| q.for_all([q.field("commit").eq(commit.clone())]))
            .obj()
            .query()
            .await?;
        let mut builds = counted(&self.reads, docs)
            .into_iter()
            .map(BuildDoc::build)
            .collect::<Result<Vec<_>, _>>()?;
        builds.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        Ok(builds)
    }

    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries {
        cell_builds(&self.db, &self.reads, cell, scan).await
    }

    async fn recent_commits(&self, branch: &str, limit: usize) -> CommitsWithBuilds {
        let owned = branch.to_string();
        let commits: Vec<CommitDoc> = self
            .db
            .fluent()
            .select()
            .from(COMMITS)
            .filter(move |q| q.for_all([q.field("branch").eq(owned.clone())]))
            .order(|o| o.fields([o.field("last_started_micros").desc()]))
            .limit(limit as u32)
            .obj()
            .query()
            .await?;
        let mut out = Vec::new();
        for commit in counted(&self.reads, commits) {
            let q = BuildQuery::new(1000)
                .eq("commit", commit.commit.clone())
                .eq("branch", branch.to_string());
            let builds = query_builds(&self.db, &self.reads, q)
                .await?
                .into_iter()
                .map(BuildDoc::build)
                .collect::<Result<Vec<_>, _>>()?;
            out.push((commit.commit, builds));
        }
        Ok(out)
    }

    async fn versions(&self, branch: &str) -> Result<Vec<(String, String)>, StoreError> {
        let branch = branch.to_string();
        let docs: Vec<VersionDoc> = self
            .db
            .fluent()
            .select()
            .from(VERSIONS)
            .filter(move |q| q.for_all([q.field("branch").eq(branch.clone())]))
            .obj()
            .query()
            .await?;
        let mut versions: Vec<(String, String)> = counted(&self.reads, docs)
            .into_iter()
            .map(|d| (d.version, d.commit))
            .collect();
        versions.sort();
        Ok(versions)
    }

    async fn builds(&self, filter: &BuildFilter, cursor: Option<&Cursor>, limit: usize) -> Builds {
        let mut q = BuildQuery::new(limit as u32);
        for (field, value) in [
            ("branch", &filter.branch),
            ("component", &filter.component),
            ("arch", &filter.arch),
            ("build_type", &filter.build_type),
        ] {
            if let Some(value) = value {
                q = q.eq(field, value.clone());
            }
        }
        if let Some(result) = filter.result {
            q = q.eq("result", result.as_str());
        }
        q.at_least = filter.since.map(seq_floor);
        q.below = cursor.map(|c| seq(c.started_at, &c.id));
        query_builds(&self.db, &self.reads, q)
            .await?
            .into_iter()
            .map(BuildDoc::build)
            .collect()
    }

    async fn create_token(&self, name: &str, hash: &str, grants: Grants) -> Result<(), StoreError> {
        let doc = TokenDoc {
            name: name.to_string(),
            hash: hash.to_string(),
            admin: grants.admin,
            freeze: grants.freeze,
            created_at: SystemTime::now(),
            last_used_at: None,
        };
        let created: Result<TokenDoc, FirestoreError> = self
            .db
            .fluent()
            .insert()
            .into(TOKENS)
            .document_id(doc_id(&[name]))
            .object(&doc)
            .execute()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(FirestoreError::DataConflictError(_)) => {
                Err(StoreError::TokenExists(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let docs: Vec<TokenDoc> = self.db.fluent().select().from(TOKENS).obj().query().await?;
        let mut tokens: Vec<TokenRecord> = counted(&self.reads, docs)
            .into_iter()
            .map(|d| TokenRecord {
                name: d.name,
                hash: d.hash,
                created_at: d.created_at.into(),
                last_used_at: d.last_used_at.map(Into::into),
                grants: Grants {
                    admin: d.admin,
                    freeze: d.freeze,
                },
            })
            .collect();
        tokens.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tokens)
    }

    async fn update_incident(
        &self,
        change: &Change,
        hooks: &[WebhookRef],
    ) -> Result<Option<Incident>, StoreError> {
        let change = Arc::new(change.clone());
        let hooks = Arc::new(hooks.to_vec());
        let next = self
            .db
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

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now_micros = now.timestamp_micros();
        let due: Vec<(String, DeliveryDoc)> = self
            .db
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
        self.reads
            .fetch_add(due.len().max(1) as u64, Ordering::Relaxed);
        let mut claimed = Vec::new();
        // Each lease is its own transaction: a server that read the same
        // candidates finds them leased when it re-reads, and skips them.
        for (id, _) in due {
            let owner = owner.to_string();
            let id = Arc::new(id);
            let leased = self
                .db
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
                            .object(
                                &DeliveryDoc::of(&delivery, Some(&owner))
                                    .map_err(in_transaction)?,
                            )
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

    async fn finish_delivery(&self, delivery: &Delivery, owner: &str) -> Result<bool, StoreError> {
        let delivery = Arc::new(delivery.clone());
        let owner = Arc::new(owner.to_string());
        let stored = self
            .db
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

    async fn deliveries(
        &self,
        incident: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let incident = incident.map(str::to_string);
        let docs: Vec<DeliveryDoc> = self
            .db
            .fluent()
            .select()
            .from(DELIVERIES)
            .filter(move |q| q.for_all([incident.clone().and_then(|i| q.field("incident").eq(i))]))
            .order(|o| o.fields([o.field("created_micros").desc()]))
            .limit(limit as u32)
            .obj()
            .query()
            .await?;
        counted(&self.reads, docs)
            .iter()
            .map(DeliveryDoc::delivery)
            .collect()
    }

    async fn add_tests(&self, upload: &TestUpload) -> Result<bool, StoreError> {
        let chunks = Arc::new(test_chunks(&upload.cases)?);
        let upload = Arc::new(upload.clone());
        let added = self
            .db
            .run_transaction(|db, tx| {
                let (upload, chunks) = (upload.clone(), chunks.clone());
                async move {
                    let reads = UploadTx {
                        db: &db,
                        tracked: Mutex::default(),
                    };
                    let plan = upload::plan(&reads, &upload)
                        .await
                        .map_err(in_transaction)?;
                    let Some(plan) = plan else {
                        return Ok(false);
                    };
                    let tracked = reads
                        .tracked
                        .into_inner()
                        .unwrap_or_else(|p| p.into_inner());
                    write_upload(
                        &db,
                        tx,
                        &upload,
                        &chunks,
                        &plan,
                        tracked.unwrap_or_default(),
                    )
                    .map_err(in_transaction)?;
                    Ok::<_, BackoffError<StoreError>>(true)
                }
                .boxed()
            })
            .await?;
        Ok(added)
    }

    async fn build_tests(&self, build: &str) -> Result<Vec<TestCase>, StoreError> {
        let owned = build.to_string();
        let docs: Vec<TestFileDoc> = self
            .db
            .fluent()
            .select()
            .from(TEST_FILES)
            .filter(move |q| q.for_all([q.field("build").eq(owned.clone())]))
            .order(|o| o.fields([o.field("order").asc()]))
            .obj()
            .query()
            .await?;
        let mut cases = Vec::new();
        for doc in counted(&self.reads, docs) {
            let more: Vec<TestCase> = from_doc(&doc.cases)?;
            cases.extend(more);
        }
        Ok(cases)
    }

    async fn test_totals(
        &self,
        builds: &[String],
    ) -> Result<HashMap<String, TestTotals>, StoreError> {
        if builds.is_empty() {
            return Ok(HashMap::new());
        }
        self.reads.fetch_add(builds.len() as u64, Ordering::Relaxed);
        let docs: Vec<TestTotalsDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(TEST_TOTALS)
            .obj::<TestTotalsDoc>()
            .batch(builds.iter().map(|b| doc_id(&[b])).collect::<Vec<_>>())
            .await?
            .filter_map(|(_, doc)| async move { doc })
            .collect()
            .await;
        docs.into_iter()
            .map(|d| {
                let totals = from_doc(&d.doc)?;
                Ok((d.build, totals))
            })
            .collect()
    }

    async fn test_failures(&self, builds: &[String]) -> Result<Vec<TestFailure>, StoreError> {
        let per_build = futures::stream::iter(builds.to_vec())
            .map(|build| async move {
                let docs: Vec<TestFailureDoc> = self
                    .db
                    .fluent()
                    .select()
                    .from(TEST_FAILURES)
                    .filter(move |q| q.for_all([q.field("build").eq(build.clone())]))
                    .order(|o| o.fields([o.field("name").asc()]))
                    .obj()
                    .query()
                    .await?;
                Ok::<_, StoreError>(counted(&self.reads, docs))
            })
            .buffered(8)
            .try_collect::<Vec<_>>()
            .await?;
        per_build
            .into_iter()
            .flatten()
            .map(|d| from_doc(&d.doc))
            .collect()
    }

    async fn test_stats_since(
        &self,
        branch: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TestStats>, StoreError> {
        let (owned, since) = (branch.to_string(), since.timestamp_micros());
        let docs: Vec<TestStatsDoc> = self
            .db
            .fluent()
            .select()
            .from(TEST_STATS)
            .filter(move |q| {
                q.for_all([
                    q.field("branch").eq(owned.clone()),
                    q.field("last_run_micros").greater_than_or_equal(since),
                ])
            })
            .order(|o| o.fields([o.field("last_run_micros").desc()]))
            .limit(limit as u32)
            .obj()
            .query()
            .await?;
        counted(&self.reads, docs)
            .iter()
            .map(|d| from_doc(&d.doc))
            .collect()
    }

    async fn test_stats(&self, cells: &[CellId], name: &str) -> Result<Vec<TestStats>, StoreError> {
        self.reads.fetch_add(cells.len() as u64, Ordering::Relaxed);
        let ids = cells.iter().map(|c| test_stats_id(c, name)).collect();
        test_stats_by_id(&self.db, ids).await
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let doc: Option<IncidentDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(INCIDENTS)
            .obj()
            .one(id)
            .await?;
        doc.map(|d| d.incident()).transpose()
    }

    async fn incidents(
        &self,
        branch: Option<&str>,
        open_only: bool,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let branch = branch.map(str::to_string);
        let docs: Vec<IncidentDoc> = self
            .db
            .fluent()
            .select()
            .from(INCIDENTS)
            .filter(move |q| {
                q.for_all([
                    branch.clone().and_then(|b| q.field("branch").eq(b)),
                    open_only.then(|| q.field("open").eq(true)).flatten(),
                ])
            })
            .order(|o| o.fields([o.field("opened_at").desc()]))
            .limit(limit as u32)
            .obj()
            .query()
            .await?;
        counted(&self.reads, docs)
            .iter()
            .map(IncidentDoc::incident)
            .collect()
    }

    async fn record_freeze(&self, event: &FreezeEvent) -> Result<(), StoreError> {
        let doc = FreezeEventDoc {
            branch: event.branch.clone(),
            at: event.at.into(),
            frozen: event.frozen,
            reason: event.reason.clone(),
            by: event.by.clone(),
        };
        let id = doc_id(&[
            &event.branch,
            &event.at.timestamp_micros().to_string(),
            &uuid::Uuid::new_v4().to_string(),
        ]);
        let _: FreezeEventDoc = self
            .db
            .fluent()
            .insert()
            .into(FREEZE_EVENTS)
            .document_id(id)
            .object(&doc)
            .execute()
            .await?;
        Ok(())
    }

    async fn freeze_events(
        &self,
        branch: &str,
        limit: usize,
    ) -> Result<Vec<FreezeEvent>, StoreError> {
        let owned = branch.to_string();
        let docs: Vec<FreezeEventDoc> = self
            .db
            .fluent()
            .select()
            .from(FREEZE_EVENTS)
            .filter(move |q| q.for_all([q.field("branch").eq(owned.clone())]))
            .order(|o| o.fields([o.field("at").desc()]))
            .limit(limit as u32)
            .obj()
            .query()
            .await?;
        Ok(counted(&self.reads, docs)
            .into_iter()
            .map(|d| FreezeEvent {
                branch: d.branch,
                at: d.at.into(),
                frozen: d.frozen,
                reason: d.reason,
                by: d.by,
            })
            .collect())
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let id = doc_id(&[name]);
        let existed = self
            .db
            .run_transaction(|db, tx| {
                let id = id.clone();
                async move {
                    let doc: Option<TokenDoc> =
                        db.fluent().select().by_id_in(TOKENS).obj().one(&id).await?;
                    if doc.is_some() {
                        db.fluent()
                            .delete()
                            .from(TOKENS)
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

    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let used = TokenDoc {
            name: name.to_string(),
            hash: String::new(),
            created_at: SystemTime::UNIX_EPOCH,
            last_used_at: Some(at.into()),
            admin: false,
            freeze: false,
        };
        let written: Result<Option<TokenDoc>, FirestoreError> = self
            .db
            .fluent()
            .update()
            .fields(["last_used_at"])
            .in_col(TOKENS)
            // Never recreate a revoked token's document.
            .precondition(firestore::FirestoreWritePrecondition::Exists(true))
            .document_id(doc_id(&[name]))
            .object(&used)
            .execute()
            .await;
        match written {
            Ok(_) | Err(FirestoreError::DataNotFoundError(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Cell> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_are_valid_and_distinct() {
        assert_eq!(doc_id(&["release/v1.8", "agw"]), "release%2Fv1.8|agw");
        assert_eq!(doc_id(&[".."]), "%2E.");
        assert_eq!(doc_id(&["__x__"]), "%5F_x__");
        assert_ne!(doc_id(&["a|b", "c"]), doc_id(&["a", "b|c"]));
        assert_ne!(doc_id(&["a%7Cb"]), doc_id(&["a|b"]));
        // The longest parts validation lets through still make an id that
        // fits, distinct from its neighbours.
        let branch = "%".repeat(255);
        let version = "\u{1D11E}".repeat(256);
        let long = doc_id(&[&branch, &version, &"a".repeat(40)]);
        assert!(long.len() <= MAX_DOC_ID, "{}", long.len());
        assert_ne!(long, doc_id(&[&branch, &version, &"b".repeat(40)]));
        assert_eq!(doc_id(&["a"; 3]), "a|a|a", "short ids are unchanged");
    }

    #[test]
    fn seq_sorts_like_time_then_id() {
        let t = |micros| DateTime::from_timestamp_micros(micros).unwrap();
        assert!(seq(t(9), "z") < seq(t(10), "a"));
        assert!(seq(t(10), "a") < seq(t(10), "b"));
        assert!(seq_floor(t(10)) <= seq(t(10), "a"));
        assert!(seq_floor(t(10)) > seq(t(9), "zzz"));
    }

    crate::store::conformance::conformance_suite!(match crate::store::conformance::emulator() {
        None => None,
        Some(_) => {
            // One project per test keeps parallel tests apart on one emulator.
            let settings = FirestoreSettings {
                project: format!("test-{}", uuid::Uuid::new_v4().simple()),
                database: None,
                timeout: Duration::from_secs(10),
            };
            let store = FirestoreStore::open(&settings).await.unwrap();
            Some((Box::new(store) as Box<dyn Store>, ()))
        }
    });
}
