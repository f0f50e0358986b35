//! The default store: one SQLite file in the data directory, so a fresh
//! checkout runs with no services. WAL mode with `synchronous=FULL`: a
//! committed ingestion survives a killed process and a power cut.

use self::pool::Pool;
use self::rows::{
    build_from_row, candidates, cell_builds, delivery_docs, from_micros, get_build, get_incident,
    get_test_stats, list_builds, micros, put_delivery, BUILD_COLUMNS,
};
use self::schema::{connect, migrate, SCHEMA};
use self::uploads::{write_upload, UploadTx};
use self::writer::{group_commits, Job, Reply, Work};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::incident::Change;
use crate::domain::notification::WebhookRef;
use crate::domain::quarantine::{self, QuarantineChange};
use crate::domain::reason::{self, ReasonUpdate};
use app::model::{
    Cell, Delivery, FreezeEvent, Incident, KnownIssue, QuarantinedTest, ReasonRecord, TestCase,
    TestFailure, TestStats, TestTotals,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use tokio::sync::broadcast;

use super::upload;
use super::UploadOutcome;
use super::{
    from_doc, to_doc, BuildFilter, Builds, Candidates, CellId, CellScan, CommitBuilds,
    CommitCursor, CommitsWithBuilds, Cursor, Grants, IngestOutcome, Poster, Store, StoreError,
    Summaries, TestUpload, TokenRecord,
};
use app::model::Build;

mod pool;
mod rows;
mod schema;
#[cfg(test)]
mod tests;
mod uploads;
mod writer;

pub const FILE_NAME: &str = "ci-dashboard.sqlite3";

/// SQLite allows one writer at a time: ingestion goes through one thread
/// that groups commits, and token changes through one more connection.
/// Reads use a pool of their own (WAL lets them run beside the writer),
/// so pages and token checks are never queued behind ingestion. Every call
/// waits at most the store timeout, then answers 503.
pub struct EmbeddedStore {
    readers: Arc<Pool>,
    writer: Arc<Pool>,
    // One process owns the file, so an in-process broadcast is the whole
    // change feed.
    events: broadcast::Sender<Cell>,
    /// Posts waiting for the writer thread; bounded, so a flood of posts
    /// is refused instead of queued without end.
    ingests: std::sync::mpsc::SyncSender<Job>,
    group_writer: std::thread::JoinHandle<()>,
    timeout: Duration,
}

/// How the embedded store is run; `Default` is what tests and the demo use.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// How long a call may wait for the store before it is answered 503.
    pub timeout: Duration,
    /// Read connections (queries beyond them wait, within the timeout).
    pub readers: usize,
    /// Posts that may wait for the writer at once.
    pub queue: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            timeout: Duration::from_secs(5),
            readers: 4,
            queue: 256,
        }
    }
}

/// A row that cannot be read, or a database file that is not one, is
/// corrupt: retrying cannot help. Anything else (busy, locked, I/O, a full
/// disk) may pass: unavailable.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match &e {
            E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::InvalidColumnType(..)
            | E::Utf8Error(..) => StoreError::Corrupt(e.to_string()),
            E::SqliteFailure(failure, _)
                if matches!(
                    failure.code,
                    ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase
                ) =>
            {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer has stopped".into())
}

impl EmbeddedStore {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, &EmbeddedOptions::default())
    }

    pub fn open_with(data_dir: &Path, options: &EmbeddedOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(FILE_NAME);
        let writer = connect(&path)?;
        writer.execute_batch(SCHEMA)?;
        migrate(&writer)?;
        let readers = (0..options.readers.max(1))
            .map(|_| connect(&path))
            .collect::<Result<Vec<_>, _>>()?;
        let (ingests, jobs) = std::sync::mpsc::sync_channel(options.queue.max(1));
        let group_writer = connect(&path)?;
        let group_writer = std::thread::Builder::new()
            .name("ci-dashboard-writer".into())
            .spawn(move || group_commits(group_writer, jobs))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(EmbeddedStore {
            readers: Pool::new(readers),
            writer: Pool::new(vec![writer]),
            events: broadcast::channel(1024).0,
            ingests,
            group_writer,
            timeout: options.timeout,
        })
    }

    /// Queues work for the writer thread; refused when the queue is full.
    fn submit(&self, job: Job) -> Result<(), StoreError> {
        use std::sync::mpsc::TrySendError;
        self.ingests.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => {
                StoreError::Unavailable("the store's write queue is full".into())
            }
            TrySendError::Disconnected(_) => stopped(),
        })
    }

    /// The writer's answer, within the store timeout; past it, the work may
    /// still be committed.
    async fn answer<T>(&self, answer: tokio::sync::oneshot::Receiver<T>) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, answer)
            .await
            .map_err(|_| StoreError::Unconfirmed(self.too_slow().to_string()))?
            .map_err(|_| stopped())
    }

    fn too_slow(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the embedded store did not answer within {} s",
            self.timeout.as_secs_f64()
        ))
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.within_timeout(&self.readers, f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.within_timeout(&self.writer, f).await
    }

    async fn within_timeout<T, F>(&self, pool: &Arc<Pool>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        tokio::time::timeout(self.timeout, pool.run(f))
            .await
            .map_err(|_| self.too_slow())?
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn ingest_as(
        &self,
        builds: Vec<Build>,
        poster: &Poster,
    ) -> Result<IngestOutcome, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Job {
            work: Work::Post(builds, poster.clone()),
            reply: Reply::Post(reply),
        })?;
        let (outcome, cells) = self.answer(answer).await??;
        for cell in cells {
            // No open page is not an error.
            let _ = self.events.send(cell);
        }
        Ok(outcome)
    }

    fn subscribe(&self) -> broadcast::Receiver<Cell> {
        self.events.subscribe()
    }

    async fn update_incident(
        &self,
        change: &Change,
        hooks: &[WebhookRef],
    ) -> Result<Option<Incident>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Job {
            work: Work::Incident(change.clone(), hooks.to_vec()),
            reply: Reply::Incident(reply),
        })?;
        self.answer(answer).await?
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let owner = owner.to_string();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut due = delivery_docs(
                &tx,
                "SELECT doc FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at LIMIT ?2",
                params![micros(now), limit as i64],
            )?;
            for delivery in &mut due {
                delivery.next_attempt_at = until;
                put_delivery(&tx, delivery, Some(&owner), "INSERT OR REPLACE")?;
            }
            tx.commit()?;
            Ok(due)
        })
        .await
    }

    async fn update_quarantine(
        &self,
        change: &QuarantineChange,
    ) -> Result<quarantine::Applied, StoreError> {
        let change = change.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (cell, name) = change.key();
            let key = params![
                cell.branch,
                cell.component,
                cell.arch,
                cell.build_type,
                name
            ];
            let before: Option<String> = tx
                .prepare_cached(
                    "SELECT doc FROM quarantine WHERE branch = ?1 AND component = ?2
                     AND arch = ?3 AND build_type = ?4 AND name = ?5",
                )?
                .query_row(key, |row| row.get(0))
                .optional()?;
            let before = before.map(|doc| from_doc(&doc)).transpose()?;
            let applied = quarantine::apply(before, &change);
            if let Some(after) = applied.after.as_ref().filter(|_| applied.changed) {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO quarantine
                     (branch, component, arch, build_type, name, released, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    cell.branch,
                    cell.component,
                    cell.arch,
                    cell.build_type,
                    name,
                    after.released_at.is_some(),
                    to_doc(after)?
                ])?;
            }
            tx.commit()?;
            Ok(applied)
        })
        .await
    }

    async fn quarantined(&self, branch: &str) -> Result<Vec<QuarantinedTest>, StoreError> {
        let branch = branch.to_string();
        self.read(move |conn| {
            let docs = conn
                .prepare_cached(
                    "SELECT doc FROM quarantine WHERE branch = ?1 AND released = 0
                     ORDER BY component, arch, build_type, name",
                )?
                .query_map([branch], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|doc| from_doc(doc)).collect()
        })
        .await
    }

    async fn record_reasons(&self, updates: &[ReasonUpdate]) -> Result<(), StoreError> {
        let updates = updates.to_vec();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for update in &updates {
                let key = params![update.branch, update.reason.id];
                let before: Option<String> = tx
                    .prepare_cached("SELECT doc FROM reasons WHERE branch = ?1 AND id = ?2")?
                    .query_row(key, |row| row.get(0))
                    .optional()?;
                let before = before.map(|doc| from_doc(&doc)).transpose()?;
                let after = reason::merge(before, update);
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO reasons (branch, id, last_seen, doc)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    update.branch,
                    update.reason.id,
                    micros(after.last_seen),
                    to_doc(&after)?
                ])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn reasons(
        &self,
        branch: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ReasonRecord>, StoreError> {
        let branch = branch.to_string();
        self.read(move |conn| {
            let docs = conn
                .prepare_cached(
                    "SELECT doc FROM reasons WHERE branch = ?1 AND last_seen >= ?2
                     ORDER BY last_seen DESC LIMIT ?3",
                )?
                .query_map(params![branch, micros(since), limit as i64], |row| {
                    row.get::<_, String>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|doc| from_doc(doc)).collect()
        })
        .await
    }

    async fn put_known_issue(&self, rule: &KnownIssue) -> Result<bool, StoreError> {
        let (id, created, doc) = (rule.id.clone(), micros(rule.created_at), to_doc(rule)?);
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO known_issues (id, created_at, doc) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![id, created, doc])?
                == 1)
        })
        .await
    }

    async fn known_issues(&self) -> Result<Vec<KnownIssue>, StoreError> {
        self.read(move |conn| {
            let docs = conn
                .prepare_cached("SELECT doc FROM known_issues ORDER BY created_at, id")?
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|doc| from_doc(doc)).collect()
        })
        .await
    }

    async fn remove_known_issue(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM known_issues WHERE id = ?1")?
                .execute([id])?
                == 1)
        })
        .await
    }

    async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<usize, StoreError> {
        let deliveries = deliveries.to_vec();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut new = 0;
            for delivery in &deliveries {
                let known = tx
                    .prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1")?
                    .exists([&delivery.id])?;
                if !known {
                    put_delivery(&tx, delivery, None, "INSERT")?;
                    new += 1;
                }
            }
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn finish_delivery(&self, delivery: &Delivery, owner: &str) -> Result<bool, StoreError> {
        let (delivery, owner) = (delivery.clone(), owner.to_string());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let holds = tx
                .prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1 AND leased_by = ?2")?
                .exists(params![delivery.id, owner])?;
            if holds {
                put_delivery(&tx, &delivery, None, "INSERT OR REPLACE")?;
            }
            tx.commit()?;
            Ok(holds)
        })
        .await
    }

    async fn deliveries(
        &self,
        incident: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let incident = incident.map(str::to_string);
        self.read(move |conn| match incident {
            Some(id) => delivery_docs(
                conn,
                "SELECT doc FROM deliveries WHERE incident = ?1
                 ORDER BY created_at DESC, id LIMIT ?2",
                params![id, limit as i64],
            ),
            None => delivery_docs(
                conn,
                "SELECT doc FROM deliveries ORDER BY created_at DESC, id LIMIT ?1",
                params![limit as i64],
            ),
        })
        .await
    }

    async fn add_tests(&self, upload: &TestUpload) -> Result<Option<UploadOutcome>, StoreError> {
        let upload = upload.clone();
        let (outcome, cell) = self
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // SQLite reads are synchronous: the plan's future completes
                // in one poll.
                let plan = futures::executor::block_on(upload::plan(&UploadTx(&tx), &upload))?;
                let Some(plan) = plan else {
                    return Ok((None, None));
                };
                write_upload(&tx, &upload, &plan)?;
                tx.commit()?;
                Ok((Some(plan.outcome), plan.cell))
            })
            .await?;
        if let Some(cell) = cell {
            // No open page is not an error.
            let _ = self.events.send(cell);
        }
        Ok(outcome)
    }

    async fn build_tests(&self, build: &str) -> Result<Vec<TestCase>, StoreError> {
        let build = build.to_string();
        self.read(move |conn| {
            let files = conn
                .prepare_cached("SELECT cases FROM test_files WHERE build = ?1 ORDER BY seq")?
                .query_map(params![build], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut cases = Vec::new();
            for file in files {
                let more: Vec<TestCase> = from_doc(&file)?;
                cases.extend(more);
            }
            Ok(cases)
        })
        .await
    }

    async fn test_totals(
        &self,
        builds: &[String],
    ) -> Result<HashMap<String, TestTotals>, StoreError> {
        let builds = builds.to_vec();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT doc FROM test_totals WHERE build = ?1")?;
            let mut found = HashMap::new();
            for build in builds {
                if let Some(doc) = stmt
                    .query_row(params![build], |row| row.get::<_, String>(0))
                    .optional()?
                {
                    let totals: TestTotals = from_doc(&doc)?;
                    found.insert(build, totals);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn test_failures(&self, builds: &[String]) -> Result<Vec<TestFailure>, StoreError> {
        let builds = builds.to_vec();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT doc FROM test_failures WHERE build = ?1 ORDER BY name")?;
            let mut found = Vec::new();
            for build in builds {
                let docs = stmt
                    .query_map(params![build], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                for doc in docs {
                    found.push(from_doc(&doc)?);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn test_stats_since(
        &self,
        branch: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TestStats>, StoreError> {
        let branch = branch.to_string();
        self.read(move |conn| {
            let docs = conn
                .prepare_cached(
                    "SELECT doc FROM test_stats WHERE branch = ?1 AND last_run_at >= ?2
                     ORDER BY last_run_at DESC LIMIT ?3",
                )?
                .query_map(params![branch, micros(since), limit as i64], |row| {
                    row.get::<_, String>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|d| from_doc(d)).collect()
        })
        .await
    }

    async fn test_stats(&self, cells: &[CellId], name: &str) -> Result<Vec<TestStats>, StoreError> {
        let (cells, name) = (cells.to_vec(), name.to_string());
        self.read(move |conn| {
            let mut found = Vec::new();
            for cell in &cells {
                found.extend(get_test_stats(conn, cell, &name)?);
            }
            Ok(found)
        })
        .await
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| get_incident(conn, &id)).await
    }

    async fn incidents(
        &self,
        branch: Option<&str>,
        open_only: bool,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let branch = branch.map(str::to_string);
        self.read(move |conn| {
            // Each shape of the question has its index.
            let (sql, args): (&str, Vec<rusqlite::types::Value>) = match (&branch, open_only) {
                (Some(b), false) => (
                    "SELECT doc FROM incidents WHERE branch = ?1 ORDER BY opened_at DESC LIMIT ?2",
                    vec![b.clone().into()],
                ),
                (Some(b), true) => (
                    "SELECT doc FROM incidents WHERE branch = ?1 AND open = 1
                     ORDER BY opened_at DESC LIMIT ?2",
                    vec![b.clone().into()],
                ),
                (None, true) => (
                    "SELECT doc FROM incidents WHERE open = 1 ORDER BY opened_at DESC LIMIT ?1",
                    vec![],
                ),
                (None, false) => (
                    "SELECT doc FROM incidents ORDER BY opened_at DESC LIMIT ?1",
                    vec![],
                ),
            };
            let mut args = args;
            args.push((limit as i64).into());
            let mut stmt = conn.prepare_cached(sql)?;
            let docs = stmt
                .query_map(rusqlite::params_from_iter(args), |row| {
                    row.get::<_, String>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|d| from_doc(d)).collect()
        })
        .await
    }

    async fn record_freeze(&self, event: &FreezeEvent) -> Result<(), StoreError> {
        let event = event.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO freeze_events (branch, at, frozen, reason, by) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![event.branch, micros(event.at), event.frozen, event.reason, event.by],
            )?;
            Ok(())
        })
        .await
    }

    async fn freeze_events(
        &self,
        branch: &str,
        limit: usize,
    ) -> Result<Vec<FreezeEvent>, StoreError> {
        let branch = branch.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT branch, at, frozen, reason, by FROM freeze_events WHERE branch = ?1
                 ORDER BY at DESC, rowid DESC LIMIT ?2",
            )?;
            let events = stmt
                .query_map(params![branch, limit as i64], |row| {
                    Ok(FreezeEvent {
                        branch: row.get(0)?,
                        at: from_micros(row.get(1)?)?,
                        frozen: row.get(2)?,
                        reason: row.get(3)?,
                        by: row.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(events)
        })
        .await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        if self.group_writer.is_finished() {
            return Err(StoreError::Unavailable(
                "the store's writer has stopped".into(),
            ));
        }
        self.branches().await.map(|_| ())
    }

    async fn cells(&self, branch: &str) -> Result<Vec<Cell>, StoreError> {
        let branch = branch.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT state FROM cells WHERE branch = ?1")?;
            let states = stmt
                .query_map([branch], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            states.iter().map(|s| from_doc(s)).collect()
        })
        .await
    }

    async fn branches(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT DISTINCT branch FROM cells ORDER BY branch")?;
            let branches = stmt
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(branches)
        })
        .await
    }

    async fn build(&self, id: &str) -> Result<Option<Build>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| Ok(get_build(conn, &id)?)).await
    }

    async fn commits_by_prefix(&self, prefix: &str, limit: usize) -> Candidates {
        // Prefixes are validated hex, so a range scan on the index is exact.
        let prefix = prefix.to_ascii_lowercase();
        self.read(move |conn| {
            candidates(
                conn,
                "SELECT commit_sha, branch, pr, title, last_started_at FROM commits
                 WHERE commit_sha >= ?1 AND commit_sha < ?1 || 'g'
                 ORDER BY last_started_at DESC LIMIT ?2",
                &prefix,
                limit,
            )
        })
        .await
    }

    async fn commits_by_pr(&self, pr: u64, limit: usize) -> Candidates {
        self.read(move |conn| {
            candidates(
                conn,
                "SELECT commit_sha, branch, pr, title, last_started_at FROM commits
                 WHERE pr = ?1 ORDER BY last_started_at DESC LIMIT ?2",
                &(pr as i64),
                limit,
            )
        })
        .await
    }

    async fn builds_of_commit(&self, commit: &str) -> Builds {
        let commit = commit.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {BUILD_COLUMNS} FROM builds WHERE commit_sha = ?1
                 ORDER BY started_at, id"
            ))?;
            let rows = stmt
                .query_map([commit], build_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries {
        let (cell, scan) = (cell.clone(), scan.clone());
        self.read(move |conn| cell_builds(conn, &cell, &scan)).await
    }

    async fn recent_commits(
        &self,
        branch: &str,
        before: Option<&CommitCursor>,
        limit: usize,
    ) -> CommitsWithBuilds {
        let branch = branch.to_string();
        // No cursor: after every commit there could be.
        let (at, below) = match before {
            Some(c) => (c.at.timestamp_micros(), c.commit.clone()),
            None => (i64::MAX, String::new()),
        };
        self.read(move |conn| {
            let mut commits = conn.prepare_cached(
                "SELECT commit_sha, last_started_at FROM commits
                 WHERE branch = ?1
                   AND (last_started_at < ?2 OR (last_started_at = ?2 AND commit_sha < ?3))
                 ORDER BY last_started_at DESC, commit_sha DESC LIMIT ?4",
            )?;
            let shas = commits
                .query_map(params![branch, at, below, limit as i64], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut builds = conn.prepare_cached(&format!(
                "SELECT {BUILD_COLUMNS} FROM builds WHERE commit_sha = ?1 AND branch = ?2"
            ))?;
            let mut out = Vec::with_capacity(shas.len());
            for (sha, micros) in shas {
                let of_commit = builds
                    .query_map(params![sha, branch], build_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(CommitBuilds {
                    commit: sha,
                    last_started_at: from_micros(micros)?,
                    builds: of_commit,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn versions(&self, branch: &str) -> Result<Vec<(String, String)>, StoreError> {
        let branch = branch.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT version, commit_sha FROM versions WHERE branch = ?1 ORDER BY version",
            )?;
            let rows = stmt
                .query_map([branch], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn builds(&self, filter: &BuildFilter, cursor: Option<&Cursor>, limit: usize) -> Builds {
        let (filter, cursor) = (filter.clone(), cursor.cloned());
        self.read(move |conn| list_builds(conn, &filter, cursor.as_ref(), limit))
            .await
    }

    async fn create_token(&self, name: &str, hash: &str, grants: Grants) -> Result<(), StoreError> {
        let (name, hash) = (name.to_string(), hash.to_string());
        self.write(move |conn| {
            match conn.execute(
                "INSERT INTO tokens (name, hash, created_at, admin, freeze) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, hash, micros(Utc::now()), grants.admin, grants.freeze],
            ) {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::TokenExists(name))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        // On the connection token changes use, never the readers anonymous
        // requests share: no read load can make a post's token check wait.
        self.write(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, hash, created_at, last_used_at, admin, freeze FROM tokens \
                 ORDER BY name",
            )?;
            let tokens = stmt
                .query_map([], |row| {
                    Ok(TokenRecord {
                        name: row.get(0)?,
                        hash: row.get(1)?,
                        created_at: from_micros(row.get(2)?)?,
                        last_used_at: row.get::<_, Option<i64>>(3)?.map(from_micros).transpose()?,
                        grants: Grants {
                            admin: row.get(4)?,
                            freeze: row.get(5)?,
                        },
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(tokens)
        })
        .await
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.write(move |conn| Ok(conn.execute("DELETE FROM tokens WHERE name = ?1", [name])? > 0))
            .await
    }

    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let name = name.to_string();
        self.write(move |conn| {
            conn.execute(
                "UPDATE tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?2) WHERE name = ?1",
                params![name, micros(at)],
            )?;
            Ok(())
        })
        .await
    }
}
