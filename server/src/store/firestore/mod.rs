//! The production store on Cloud Firestore. Document layout and indexes are
//! described in docs/storage.md: build documents, one precomputed document
//! per health cell updated in the ingestion transaction, and small index
//! documents (commits, versions, branches) so no page scans build history.

use self::docs::{
    test_chunks, BranchDoc, BuildDoc, CellDoc, CommitDoc, DeliveryDoc, FreezeEventDoc, IncidentDoc,
    TestFailureDoc, TestFileDoc, TestStatsDoc, TestTotalsDoc, TokenDoc, VersionDoc,
};
use self::listener::listen_to_cells;
use self::names::{
    doc_id, seq, seq_floor, test_stats_id, BRANCHES, BUILDS, CELLS, COMMITS, DELIVERIES,
    FREEZE_EVENTS, INCIDENTS, TEST_FAILURES, TEST_FILES, TEST_STATS, TEST_TOTALS, TOKENS, VERSIONS,
};
use self::queries::{cell_builds, counted, query_builds, BuildQuery};
use self::transactions::{
    in_transaction, queue_writes, test_stats_by_id, write_upload, TxReads, UploadTx,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::domain::incident::Change;
use crate::domain::notification::WebhookRef;
use crate::domain::quarantine::QuarantineChange;
use crate::domain::reason::ReasonUpdate;
use app::model::{
    Cell, CommitCandidate, Delivery, FreezeEvent, Incident, KnownIssue, QuarantinedTest,
    ReasonRecord, TestCase, TestFailure, TestStats, TestTotals,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firestore::errors::{BackoffError, FirestoreError};
use firestore::{
    FirestoreDb, FirestoreDbOptions, FirestoreListener, FirestoreMemListenStateStorage,
    FirestoreTransactionOptions,
};
use futures::{FutureExt, StreamExt, TryStreamExt};
use tokio::sync::broadcast;

use super::plan;
use super::upload;
use super::UploadOutcome;
use super::{
    from_doc, BuildFilter, Builds, Candidates, CellId, CellScan, CommitsWithBuilds, Cursor, Grants,
    IngestOutcome, Poster, Store, StoreError, Summaries, TestUpload, TokenRecord,
};
use super::{CommitBuilds, CommitCursor};
use app::model::Build;

mod docs;
mod incidents;
mod listener;
mod names;
mod quarantine;
mod queries;
#[cfg(test)]
mod tests;
mod transactions;

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

    async fn recent_commits(
        &self,
        branch: &str,
        before: Option<&CommitCursor>,
        limit: usize,
    ) -> CommitsWithBuilds {
        // Firestore has no tuple comparison: the commits tied with the
        // cursor's time (rare), then the older ones.
        let mut commits = match before {
            Some(cursor) => {
                self.commit_index(branch, CommitRange::TiedWith(cursor), limit)
                    .await?
            }
            None => Vec::new(),
        };
        if commits.len() < limit {
            let range = before.map_or(CommitRange::All, CommitRange::Before);
            let older = self
                .commit_index(branch, range, limit - commits.len())
                .await?;
            commits.extend(older);
        }
        let mut out = Vec::with_capacity(commits.len());
        for commit in commits {
            let q = BuildQuery::new(1000)
                .eq("commit", commit.commit.clone())
                .eq("branch", branch.to_string());
            let builds = query_builds(&self.db, &self.reads, q)
                .await?
                .into_iter()
                .map(BuildDoc::build)
                .collect::<Result<Vec<_>, _>>()?;
            let last_started_at = DateTime::from_timestamp_micros(commit.last_started_micros)
                .ok_or_else(|| StoreError::Corrupt(format!("commit {}", commit.commit)))?;
            out.push(CommitBuilds {
                commit: commit.commit,
                last_started_at,
                builds,
            });
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
        incidents::update_incident(&self.db, change, hooks).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        incidents::claim_deliveries(&self.db, &self.reads, owner, now, until, limit).await
    }

    async fn update_quarantine(
        &self,
        change: &QuarantineChange,
    ) -> Result<crate::domain::quarantine::Applied, StoreError> {
        quarantine::update_quarantine(&self.db, change).await
    }

    async fn quarantined(&self, branch: &str) -> Result<Vec<QuarantinedTest>, StoreError> {
        quarantine::quarantined(&self.db, &self.reads, branch).await
    }

    async fn record_reasons(&self, updates: &[ReasonUpdate]) -> Result<(), StoreError> {
        quarantine::record_reasons(&self.db, updates).await
    }

    async fn reasons(
        &self,
        branch: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ReasonRecord>, StoreError> {
        quarantine::reasons(&self.db, &self.reads, branch, since, limit).await
    }

    async fn put_known_issue(&self, rule: &KnownIssue) -> Result<bool, StoreError> {
        quarantine::put_known_issue(&self.db, rule).await
    }

    async fn known_issues(&self) -> Result<Vec<KnownIssue>, StoreError> {
        quarantine::known_issues(&self.db, &self.reads).await
    }

    async fn remove_known_issue(&self, id: &str) -> Result<bool, StoreError> {
        quarantine::remove_known_issue(&self.db, id).await
    }

    async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<usize, StoreError> {
        let mut new = 0;
        for delivery in deliveries {
            // An insert fails on an existing document: the first server's
            // queued message is the message.
            let inserted: Result<DeliveryDoc, FirestoreError> = self
                .db
                .fluent()
                .insert()
                .into(DELIVERIES)
                .document_id(&delivery.id)
                .object(&DeliveryDoc::of(delivery, None)?)
                .execute()
                .await;
            match inserted {
                Ok(_) => new += 1,
                Err(FirestoreError::DataConflictError(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(new)
    }

    async fn finish_delivery(&self, delivery: &Delivery, owner: &str) -> Result<bool, StoreError> {
        incidents::finish_delivery(&self.db, delivery, owner).await
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

    async fn add_tests(&self, upload: &TestUpload) -> Result<Option<UploadOutcome>, StoreError> {
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
                        return Ok(None);
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
                    Ok::<_, BackoffError<StoreError>>(Some(plan.outcome))
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

/// Which part of a branch's commit index one query reads, newest first.
#[derive(Clone, Copy)]
enum CommitRange<'a> {
    All,
    /// Started strictly before the cursor's commit.
    Before(&'a CommitCursor),
    /// Started at the cursor's time, ordered after its commit.
    TiedWith(&'a CommitCursor),
}

impl FirestoreStore {
    async fn commit_index(
        &self,
        branch: &str,
        range: CommitRange<'_>,
        limit: usize,
    ) -> Result<Vec<CommitDoc>, StoreError> {
        let branch = branch.to_string();
        let commits: Vec<CommitDoc> = self
            .db
            .fluent()
            .select()
            .from(COMMITS)
            .filter(move |q| {
                let mut all = vec![q.field("branch").eq(branch.clone())];
                match range {
                    CommitRange::All => {}
                    CommitRange::Before(c) => all.push(
                        q.field("last_started_micros")
                            .less_than(c.at.timestamp_micros()),
                    ),
                    CommitRange::TiedWith(c) => {
                        all.push(q.field("last_started_micros").eq(c.at.timestamp_micros()));
                        all.push(q.field("commit").less_than(c.commit.clone()));
                    }
                }
                q.for_all(all)
            })
            .order(move |o| match range {
                // Its time is fixed by equality: ordered by SHA alone.
                CommitRange::TiedWith(_) => o.fields([o.field("commit").desc()]),
                _ => o.fields([
                    o.field("last_started_micros").desc(),
                    o.field("commit").desc(),
                ]),
            })
            .limit(limit as u32)
            .obj()
            .query()
            .await?;
        Ok(counted(&self.reads, commits))
    }
}
