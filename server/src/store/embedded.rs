//! The default store: one SQLite file in the data directory, so a fresh
//! checkout runs with no services. WAL mode with `synchronous=FULL`: a
//! committed ingestion survives a killed process and a power cut.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::incident::Change;
use crate::domain::notification::{self, WebhookRef};
use app::model::{
    BuildResult, BuildSummary, Cell, Delivery, DeliveryState, FreezeEvent, Incident, IncidentState,
    TestCase, TestFailure, TestStats, TestTotals,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};
use tokio::sync::{broadcast, Semaphore};

use super::plan::{self, Plan, PlanReads};
use super::upload::{self, BuildTotals, UploadPlan, UploadReads};
use super::walk::CellHistory;
use super::{
    from_doc, to_doc, BuildFilter, Builds, Candidates, CellId, CellScan, CommitsWithBuilds, Cursor,
    Grants, IngestOutcome, Poster, ScanKind, Store, StoreError, Summaries, TestUpload, TokenRecord,
};
use app::model::Build;
use app::model::CommitCandidate;

pub const FILE_NAME: &str = "ci-dashboard.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS builds (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    parent TEXT,
    branch TEXT NOT NULL,
    pr INTEGER,
    component TEXT NOT NULL,
    arch TEXT NOT NULL,
    build_type TEXT NOT NULL,
    result TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    url TEXT,
    runner TEXT,
    version TEXT,
    commit_title TEXT,
    author TEXT,
    received_at INTEGER NOT NULL,
    posted_by TEXT
);
CREATE INDEX IF NOT EXISTS builds_by_cell
    ON builds (branch, component, arch, build_type, started_at, id);
CREATE INDEX IF NOT EXISTS running_by_cell
    ON builds (branch, component, arch, build_type, started_at, id)
    WHERE result = 'running';
CREATE TABLE IF NOT EXISTS cells (
    branch TEXT NOT NULL,
    component TEXT NOT NULL,
    arch TEXT NOT NULL,
    build_type TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (branch, component, arch, build_type)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS builds_by_commit ON builds (commit_sha);
CREATE INDEX IF NOT EXISTS builds_by_time ON builds (started_at, id);
CREATE INDEX IF NOT EXISTS builds_by_branch ON builds (branch, started_at, id);
CREATE INDEX IF NOT EXISTS builds_by_result ON builds (result, started_at, id);
CREATE TABLE IF NOT EXISTS commits (
    branch TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    pr INTEGER,
    title TEXT,
    last_started_at INTEGER NOT NULL,
    PRIMARY KEY (branch, commit_sha)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS commits_by_sha ON commits (commit_sha);
CREATE INDEX IF NOT EXISTS commits_by_pr ON commits (pr) WHERE pr IS NOT NULL;
CREATE INDEX IF NOT EXISTS commits_by_branch ON commits (branch, last_started_at);
CREATE TABLE IF NOT EXISTS versions (
    branch TEXT NOT NULL,
    version TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    PRIMARY KEY (branch, version, commit_sha)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    branch TEXT NOT NULL,
    open INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_by_branch ON incidents (branch, opened_at);
CREATE INDEX IF NOT EXISTS open_incidents ON incidents (open, opened_at);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    incident TEXT NOT NULL,
    state TEXT NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    leased_by TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_by_incident ON deliveries (incident, created_at);
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries (created_at);
CREATE TABLE IF NOT EXISTS test_files (
    build TEXT NOT NULL,
    hash TEXT NOT NULL,
    seq INTEGER NOT NULL,
    cases TEXT NOT NULL,
    PRIMARY KEY (build, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS test_totals (
    build TEXT PRIMARY KEY,
    doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS test_failures (
    build TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (build, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS test_stats (
    branch TEXT NOT NULL,
    component TEXT NOT NULL,
    arch TEXT NOT NULL,
    build_type TEXT NOT NULL,
    name TEXT NOT NULL,
    last_run_at INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (branch, component, arch, build_type, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS test_stats_by_branch ON test_stats (branch, last_run_at);
CREATE TABLE IF NOT EXISTS freeze_events (
    branch TEXT NOT NULL,
    at INTEGER NOT NULL,
    frozen INTEGER NOT NULL,
    reason TEXT NOT NULL,
    by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS freeze_events_by_branch ON freeze_events (branch, at);
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    admin INTEGER NOT NULL DEFAULT 0,
    freeze INTEGER NOT NULL DEFAULT 0
);
";

const BUILD_COLUMNS: &str = "id, repository, commit_sha, parent, branch, pr, component, arch, \
     build_type, result, started_at, finished_at, url, runner, version, commit_title, author, \
     posted_by";

const SUMMARY_COLUMNS: &str =
    "id, repository, commit_sha, pr, result, started_at, finished_at, url";

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

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Connections lent one call at a time. Waiting for one is asynchronous,
/// so waiting requests hold no thread.
struct Pool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    fn new(connections: Vec<Connection>) -> Arc<Pool> {
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(connections.len())),
            idle: Mutex::new(connections),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A list of connections cannot be left half-changed.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
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

/// Brings a data directory made by an older version up to the schema.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let added = [
        ("tokens", "last_used_at", "INTEGER"),
        ("tokens", "admin", "INTEGER NOT NULL DEFAULT 0"),
        ("tokens", "freeze", "INTEGER NOT NULL DEFAULT 0"),
        ("builds", "posted_by", "TEXT"),
    ];
    for (table, column, kind) in added {
        let exists = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
            ))?
            .exists([])?;
        if !exists {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}
/// A stored JSON document read back; unreadable means corrupt.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> Result<DateTime<Utc>, rusqlite::Error> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(format!("timestamp {v}")))
}

fn corrupt(what: String) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(format!("invalid stored {what}").into())
}

fn result_of(word: String) -> Result<BuildResult, rusqlite::Error> {
    BuildResult::parse(&word).ok_or_else(|| corrupt(format!("result '{word}'")))
}

fn pr_of(v: Option<i64>) -> Option<u64> {
    v.and_then(|p| u64::try_from(p).ok())
}

fn build_from_row(row: &Row) -> Result<Build, rusqlite::Error> {
    Ok(Build {
        id: row.get(0)?,
        repository: row.get(1)?,
        commit: row.get(2)?,
        parent: row.get(3)?,
        branch: row.get(4)?,
        pr: pr_of(row.get(5)?),
        component: row.get(6)?,
        arch: row.get(7)?,
        build_type: row.get(8)?,
        result: result_of(row.get(9)?)?,
        started_at: from_micros(row.get(10)?)?,
        finished_at: row
            .get::<_, Option<i64>>(11)?
            .map(from_micros)
            .transpose()?,
        url: row.get(12)?,
        runner: row.get(13)?,
        version: row.get(14)?,
        commit_title: row.get(15)?,
        author: row.get(16)?,
        posted_by: row.get(17)?,
    })
}

fn summary_from_row(row: &Row) -> Result<BuildSummary, rusqlite::Error> {
    Ok(BuildSummary {
        id: row.get(0)?,
        repository: row.get(1)?,
        commit: row.get(2)?,
        pr: pr_of(row.get(3)?),
        result: result_of(row.get(4)?)?,
        started_at: from_micros(row.get(5)?)?,
        finished_at: row.get::<_, Option<i64>>(6)?.map(from_micros).transpose()?,
        url: row.get(7)?,
    })
}

fn get_build(conn: &Connection, id: &str) -> Result<Option<Build>, rusqlite::Error> {
    conn.prepare_cached(&format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = ?1"))?
        .query_row([id], build_from_row)
        .optional()
}

fn upsert_build(tx: &Connection, b: &Build) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO builds ({BUILD_COLUMNS}, received_at) VALUES
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
    ))?
    .execute(params![
        b.id,
        b.repository,
        b.commit,
        b.parent,
        b.branch,
        b.pr.map(|p| p as i64),
        b.component,
        b.arch,
        b.build_type,
        b.result.as_str(),
        micros(b.started_at),
        b.finished_at.map(micros),
        b.url,
        b.runner,
        b.version,
        b.commit_title,
        b.author,
        b.posted_by,
        micros(Utc::now()),
    ])?;
    Ok(())
}

/// Keeps the per-commit and per-version tables that commit search, release
/// heads and version checks read instead of scanning builds.
fn index_commits(tx: &Connection, plan: &Plan) -> Result<(), rusqlite::Error> {
    let mut commit = tx.prepare_cached(
        "INSERT INTO commits (branch, commit_sha, pr, title, last_started_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (branch, commit_sha) DO UPDATE SET
             pr = COALESCE(excluded.pr, pr),
             title = COALESCE(excluded.title, title),
             last_started_at = MAX(last_started_at, excluded.last_started_at)",
    )?;
    for c in &plan.commits {
        commit.execute(params![
            c.branch,
            c.commit,
            c.pr.map(|p| p as i64),
            c.title,
            micros(c.last_started_at)
        ])?;
    }
    let mut version = tx.prepare_cached(
        "INSERT OR IGNORE INTO versions (branch, version, commit_sha) VALUES (?1, ?2, ?3)",
    )?;
    for (branch, v, sha) in &plan.versions {
        version.execute(params![branch, v, sha])?;
    }
    Ok(())
}

fn candidates(
    conn: &Connection,
    sql: &str,
    param: &dyn rusqlite::ToSql,
    limit: usize,
) -> Candidates {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params![param, limit as i64], |row| {
            Ok(CommitCandidate {
                commit: row.get(0)?,
                branch: row.get(1)?,
                pr: pr_of(row.get(2)?),
                title: row.get(3)?,
                started_at: from_micros(row.get(4)?)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn list_builds(
    conn: &Connection,
    filter: &BuildFilter,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Builds {
    let mut clauses = Vec::new();
    let mut values: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    let mut eq = |column: &str, value: &Option<String>| {
        if let Some(v) = value {
            values.push(Box::new(v.clone()));
            clauses.push(format!("{column} = ?{}", values.len()));
        }
    };
    eq("branch", &filter.branch);
    eq("component", &filter.component);
    eq("arch", &filter.arch);
    eq("build_type", &filter.build_type);
    eq("result", &filter.result.map(|r| r.as_str().to_string()));
    if let Some(since) = filter.since {
        values.push(Box::new(micros(since)));
        clauses.push(format!("started_at >= ?{}", values.len()));
    }
    if let Some(c) = cursor {
        values.push(Box::new(micros(c.started_at)));
        let t = values.len();
        values.push(Box::new(c.id.clone()));
        clauses.push(format!(
            "(started_at < ?{t} OR (started_at = ?{t} AND id < ?{}))",
            values.len()
        ));
    }
    values.push(Box::new(limit as i64));
    let where_clause = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {BUILD_COLUMNS} FROM builds {where_clause}
         ORDER BY started_at DESC, id DESC LIMIT ?{}",
        values.len()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(values.iter()), build_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn get_incident(conn: &Connection, id: &str) -> Result<Option<Incident>, StoreError> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM incidents WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    doc.map(|d| from_doc(&d)).transpose()
}

fn get_cell(conn: &Connection, id: &CellId) -> Result<Option<Cell>, StoreError> {
    let state: Option<String> = conn
        .prepare_cached(
            "SELECT state FROM cells
             WHERE branch = ?1 AND component = ?2 AND arch = ?3 AND build_type = ?4",
        )?
        .query_row(
            params![id.branch, id.component, id.arch, id.build_type],
            |row| row.get(0),
        )
        .optional()?;
    state.map(|s| from_doc(&s)).transpose()
}

/// A page of a cell's builds, newest first, on the `builds_by_cell` index
/// (or the partial `running_by_cell` one).
fn cell_builds(conn: &Connection, cell: &CellId, scan: &CellScan) -> Summaries {
    let kind = match scan.kind {
        ScanKind::Running => "result = 'running'",
        ScanKind::Finished => "result != 'running'",
        ScanKind::Decisive => "result IN ('pass', 'fail')",
    };
    let mut sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM builds
         WHERE branch = ?1 AND component = ?2 AND arch = ?3 AND build_type = ?4 AND {kind}"
    );
    let mut values: Vec<Box<dyn rusqlite::ToSql>> = vec![
        Box::new(cell.branch.clone()),
        Box::new(cell.component.clone()),
        Box::new(cell.arch.clone()),
        Box::new(cell.build_type.clone()),
    ];
    if let Some(commit) = &scan.commit {
        values.push(Box::new(commit.clone()));
        sql += &format!(" AND commit_sha = ?{}", values.len());
    }
    if let Some(below) = &scan.below {
        values.push(Box::new(micros(below.started_at)));
        let t = values.len();
        values.push(Box::new(below.id.clone()));
        sql += &format!(
            " AND (started_at < ?{t} OR (started_at = ?{t} AND id < ?{}))",
            values.len()
        );
    }
    values.push(Box::new(scan.limit as i64));
    sql += &format!(" ORDER BY started_at DESC, id DESC LIMIT ?{}", values.len());
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(values.iter()), summary_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn put_cell(tx: &Connection, cell: &Cell) -> Result<(), StoreError> {
    let state = to_doc(cell)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO cells (branch, component, arch, build_type, state)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        cell.branch,
        cell.component,
        cell.arch,
        cell.build_type,
        state
    ])?;
    Ok(())
}

/// The outcome of one post and the cells it changed.
type Ingested = Result<(IngestOutcome, Vec<Cell>), StoreError>;

type IncidentDone = Result<Option<Incident>, StoreError>;

/// What the writer thread is asked to do: a post, or an incident change
/// (written in the same group, so it shares the group's one fsync).
enum Work {
    Post(Vec<Build>, Poster),
    Incident(Change, Vec<WebhookRef>),
}

/// What it did, one per [`Work`].
enum Done {
    Post(Ingested),
    Incident(IncidentDone),
}

impl Done {
    fn failed(&self) -> bool {
        matches!(self, Done::Post(Err(_)) | Done::Incident(Err(_)))
    }

    fn into_error(self) -> Option<StoreError> {
        match self {
            Done::Post(Err(e)) | Done::Incident(Err(e)) => Some(e),
            _ => None,
        }
    }
}

enum Reply {
    Post(tokio::sync::oneshot::Sender<Ingested>),
    Incident(tokio::sync::oneshot::Sender<IncidentDone>),
}

impl Reply {
    // A caller that gave up is not the writer's concern: sends may fail.
    fn send(self, done: Done) {
        match (self, done) {
            (Reply::Post(reply), Done::Post(done)) => {
                let _ = reply.send(done);
            }
            (Reply::Incident(reply), Done::Incident(done)) => {
                let _ = reply.send(done);
            }
            (reply, _) => reply.fail("the writer mixed up its replies"),
        }
    }

    fn fail(self, why: &str) {
        let error = || StoreError::Unavailable(why.to_string());
        match self {
            Reply::Post(reply) => {
                let _ = reply.send(Err(error()));
            }
            Reply::Incident(reply) => {
                let _ = reply.send(Err(error()));
            }
        }
    }
}

/// One piece of work waiting for the writer.
struct Job {
    work: Work,
    reply: Reply,
}

/// Work that arrives together is committed together: one transaction and
/// one fsync for all of it. Each piece runs in its own savepoint, so a
/// refused post leaves the others untouched, and every reply is sent only
/// after the commit.
fn group_commits(mut conn: Connection, jobs: std::sync::mpsc::Receiver<Job>) {
    const MAX_GROUP: usize = 256;
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (works, replies): (Vec<_>, Vec<_>) =
            group.into_iter().map(|j| (j.work, j.reply)).unzip();
        // A bug that panics fails its group (rolled back as the transaction
        // unwinds), not every later post.
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit_group(&mut conn, works)
        }))
        .unwrap_or_else(|_| Err(StoreError::Unavailable("the writer panicked".into())));
        match committed {
            Ok(results) => {
                for (reply, done) in replies.into_iter().zip(results) {
                    reply.send(done);
                }
            }
            Err(e) => {
                for reply in replies {
                    reply.fail(&e.to_string());
                }
            }
        }
    }
}

fn commit_group(conn: &mut Connection, works: Vec<Work>) -> Result<Vec<Done>, StoreError> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(works.len());
    // Cells as the group's committed posts left them: posts of one commit
    // move the same cells, which are then read and written once per group.
    let mut cells: HashMap<CellId, Cell> = HashMap::new();
    for work in works {
        // Dropping a savepoint without commit rolls it back.
        let savepoint = tx.savepoint()?;
        let done = match work {
            Work::Post(builds, poster) => {
                Done::Post(ingest_into(&savepoint, &cells, builds, &poster))
            }
            Work::Incident(change, hooks) => {
                Done::Incident(incident_into(&savepoint, &change, &hooks))
            }
        };
        if done.failed() {
            // Some errors (I/O, disk full) make SQLite roll back the whole
            // transaction, not just the savepoint: the work before this one
            // is then gone too, and so the whole group fails.
            let whole_group_lost = savepoint.is_autocommit();
            drop(savepoint);
            if whole_group_lost {
                return Err(done
                    .into_error()
                    .unwrap_or_else(|| StoreError::Unavailable("the group was lost".into())));
            }
        } else {
            savepoint.commit()?;
            if let Done::Post(Ok((_, changed))) = &done {
                for cell in changed {
                    cells.insert(cell.id(), cell.clone());
                }
            }
        }
        results.push(done);
    }
    for cell in cells.values() {
        put_cell(&tx, cell)?;
    }
    tx.commit()?;
    Ok(results)
}

/// One incident change, read-modify-write, and the deliveries it queues,
/// inside the writer's transaction.
fn incident_into(conn: &Connection, change: &Change, hooks: &[WebhookRef]) -> IncidentDone {
    let applied = notification::apply(get_incident(conn, change.id())?, change, hooks);
    for delivery in &applied.deliveries {
        put_delivery(conn, delivery, None, "INSERT OR IGNORE")?;
    }
    let next = applied.incident;
    if let Some(incident) = &next {
        let doc = to_doc(incident)?;
        conn.execute(
            "INSERT OR REPLACE INTO incidents (id, branch, open, opened_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                incident.id,
                incident.branch,
                incident.state == IncidentState::Open,
                micros(incident.opened_at),
                doc
            ],
        )?;
    }
    Ok(next)
}

/// One test's record in a cell, if it has one.
fn get_test_stats(
    conn: &Connection,
    cell: &CellId,
    name: &str,
) -> Result<Option<TestStats>, StoreError> {
    conn.prepare_cached(
        "SELECT doc FROM test_stats WHERE branch = ?1 AND component = ?2 AND arch = ?3
         AND build_type = ?4 AND name = ?5",
    )?
    .query_row(
        params![
            cell.branch,
            cell.component,
            cell.arch,
            cell.build_type,
            name
        ],
        |row| row.get::<_, String>(0),
    )
    .optional()?
    .map(|doc| from_doc(&doc))
    .transpose()
}

/// An upload's planning reads inside its transaction.
struct UploadTx<'a>(&'a Connection);

impl UploadReads for UploadTx<'_> {
    fn tracking_key(name: &str) -> String {
        name.to_string()
    }

    async fn build_totals(&self, build: &str) -> Result<BuildTotals, StoreError> {
        let totals = self
            .0
            .prepare_cached("SELECT doc FROM test_totals WHERE build = ?1")?
            .query_row(params![build], |row| row.get::<_, String>(0))
            .optional()?
            .map(|doc| from_doc(&doc))
            .transpose()?
            .unwrap_or_default();
        let files = self
            .0
            .prepare_cached("SELECT hash FROM test_files WHERE build = ?1 ORDER BY seq")?
            .query_map(params![build], |row| row.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        Ok(BuildTotals { totals, files })
    }

    async fn tracked(&self, cell: &CellId) -> Result<HashSet<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT name FROM test_stats
                 WHERE branch = ?1 AND component = ?2 AND arch = ?3 AND build_type = ?4",
            )?
            .query_map(
                params![cell.branch, cell.component, cell.arch, cell.build_type],
                |row| row.get::<_, String>(0),
            )?
            .collect::<Result<_, _>>()?)
    }

    async fn test_stats(
        &self,
        cell: &CellId,
        names: &[&str],
    ) -> Result<Vec<TestStats>, StoreError> {
        let mut found = Vec::new();
        for name in names {
            found.extend(get_test_stats(self.0, cell, name)?);
        }
        Ok(found)
    }

    async fn cell(&self, cell: &CellId) -> Result<Option<Cell>, StoreError> {
        get_cell(self.0, cell)
    }
}

/// Writes what an upload's plan decided, in its transaction.
fn write_upload(
    conn: &Connection,
    upload: &TestUpload,
    plan: &UploadPlan,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO test_files (build, hash, seq, cases) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        upload.build,
        upload.hash,
        plan.build.files.len() as i64 - 1,
        to_doc(&upload.cases)?
    ])?;
    conn.prepare_cached("INSERT OR REPLACE INTO test_totals (build, doc) VALUES (?1, ?2)")?
        .execute(params![upload.build, to_doc(&plan.build.totals)?])?;
    for stats in &plan.stats {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO test_stats
             (branch, component, arch, build_type, name, last_run_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            stats.branch,
            stats.component,
            stats.arch,
            stats.build_type,
            stats.name,
            micros(stats.last_run_at),
            to_doc(stats)?
        ])?;
    }
    if let Some(cell) = &plan.cell {
        put_cell(conn, cell)?;
    }
    for failure in &upload.failures {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO test_failures (build, name, doc) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![failure.build, failure.name, to_doc(failure)?])?;
    }
    Ok(())
}

fn state_word(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "pending",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Failed => "failed",
    }
}

fn put_delivery(
    conn: &Connection,
    delivery: &Delivery,
    leased_by: Option<&str>,
    verb: &str,
) -> Result<(), StoreError> {
    let doc = to_doc(delivery)?;
    conn.prepare_cached(&format!(
        "{verb} INTO deliveries (id, incident, state, next_attempt_at, created_at, leased_by, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        delivery.id,
        delivery.incident,
        state_word(delivery.state),
        micros(delivery.next_attempt_at),
        micros(delivery.created_at),
        leased_by,
        doc
    ])?;
    Ok(())
}

fn delivery_docs(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Delivery>, StoreError> {
    let docs = conn
        .prepare_cached(sql)?
        .query_map(args, |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    docs.iter().map(|d| from_doc(d)).collect()
}

/// Planning reads inside the writer's transaction; cells this group already
/// changed come from `cells`.
struct TxReads<'a> {
    conn: &'a Connection,
    cells: &'a HashMap<CellId, Cell>,
}

impl CellHistory for TxReads<'_> {
    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries {
        cell_builds(self.conn, cell, scan)
    }
}

impl PlanReads for TxReads<'_> {
    async fn stored_builds(&self, ids: &[&str]) -> Result<HashMap<String, Build>, StoreError> {
        let mut found = HashMap::new();
        for id in ids {
            if let Some(build) = get_build(self.conn, id)? {
                found.insert(build.id.clone(), build);
            }
        }
        Ok(found)
    }

    async fn stored_cells(&self, ids: &[CellId]) -> Result<HashMap<CellId, Cell>, StoreError> {
        let mut found = HashMap::new();
        for id in ids {
            let cell = match self.cells.get(id) {
                Some(cell) => Some(cell.clone()),
                None => get_cell(self.conn, id)?,
            };
            if let Some(cell) = cell {
                found.insert(id.clone(), cell);
            }
        }
        Ok(found)
    }
}

/// Writes one post's builds and indexes; its cells are written with the
/// group's.
fn ingest_into(
    conn: &Connection,
    cells: &HashMap<CellId, Cell>,
    builds: Vec<Build>,
    poster: &Poster,
) -> Ingested {
    let reads = TxReads { conn, cells };
    // SQLite reads are synchronous: the plan's future completes in one poll.
    let plan = futures::executor::block_on(plan::plan(&reads, builds, poster))?;
    for build in &plan.builds {
        upsert_build(conn, build)?;
    }
    index_commits(conn, &plan)?;
    Ok((plan.outcome, plan.cells))
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

    async fn add_tests(&self, upload: &TestUpload) -> Result<bool, StoreError> {
        let upload = upload.clone();
        let (added, cell) = self
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // SQLite reads are synchronous: the plan's future completes
                // in one poll.
                let plan = futures::executor::block_on(upload::plan(&UploadTx(&tx), &upload))?;
                let Some(plan) = plan else {
                    return Ok((false, None));
                };
                write_upload(&tx, &upload, &plan)?;
                tx.commit()?;
                Ok((true, plan.cell))
            })
            .await?;
        if let Some(cell) = cell {
            // No open page is not an error.
            let _ = self.events.send(cell);
        }
        Ok(added)
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

    async fn recent_commits(&self, branch: &str, limit: usize) -> CommitsWithBuilds {
        let branch = branch.to_string();
        self.read(move |conn| {
            let mut commits = conn.prepare_cached(
                "SELECT commit_sha FROM commits WHERE branch = ?1
                 ORDER BY last_started_at DESC LIMIT ?2",
            )?;
            let shas = commits
                .query_map(params![branch, limit as i64], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut builds = conn.prepare_cached(&format!(
                "SELECT {BUILD_COLUMNS} FROM builds WHERE commit_sha = ?1 AND branch = ?2"
            ))?;
            let mut out = Vec::with_capacity(shas.len());
            for sha in shas {
                let of_commit = builds
                    .query_map(params![sha, branch], build_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                out.push((sha, of_commit));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_row_that_cannot_be_read_is_corrupt_not_unavailable() {
        use crate::store::conformance::build;
        use app::model::BuildResult;
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let b = build("bad-row", ("agw", "arm64", "bazel"), 0, BuildResult::Pass);
        store.ingest(vec![b]).await.unwrap();
        Connection::open(dir.path().join(FILE_NAME))
            .unwrap()
            .execute(
                "UPDATE builds SET started_at = 'yesterday' WHERE id = 'bad-row'",
                [],
            )
            .unwrap();
        // Retrying later cannot fix it: not a 503 "retry later".
        assert!(matches!(
            store.build("bad-row").await,
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn posts_committed_together_stay_independent() {
        use crate::store::conformance::build;
        use app::model::BuildResult;
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let cell = ("agw", "arm64", "bazel");
        store
            .ingest(vec![build("taken", cell, 0, BuildResult::Pass)])
            .await
            .unwrap();
        let posts = (1..=40).map(|i| {
            let store = store.clone();
            let mut b = build(&format!("p{i}"), cell, i, BuildResult::Fail);
            if i == 20 {
                // Same id, another component: refused on its own.
                b.id = "taken".into();
                b.component = "feg".into();
            }
            tokio::spawn(async move { store.ingest(vec![b]).await })
        });
        let results = futures::future::join_all(posts).await;
        let refused: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().unwrap().is_err())
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(refused, [20]);
        let cell = store.cells("master").await.unwrap().remove(0);
        let streak = cell.streak.unwrap();
        assert_eq!((streak.since.id.as_str(), streak.builds), ("p1", 39));
        assert_eq!(
            store.build("taken").await.unwrap().unwrap().component,
            "agw"
        );
    }

    /// A full disk in the middle of a group: whatever is reported stored is
    /// stored, and whatever is reported failed is not.
    #[test]
    fn a_group_hit_by_a_full_disk_reports_only_what_it_kept() {
        use crate::store::conformance::build;
        use app::model::BuildResult;
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir.path().join(FILE_NAME)).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", pages + 40)
            .unwrap();
        let cell = ("agw", "arm64", "bazel");
        let huge = (0..500)
            .map(|i| {
                let mut b = build(&format!("huge{i}"), cell, i, BuildResult::Pass);
                b.commit_title = Some("x".repeat(10_000));
                b
            })
            .collect();
        let posts = vec![
            vec![build("before", cell, 0, BuildResult::Pass)],
            huge,
            vec![build("after", cell, 1, BuildResult::Fail)],
        ]
        .into_iter()
        .map(|post| Work::Post(post, Poster::Operator))
        .collect();
        let reported: Vec<bool> = match commit_group(&mut conn, posts) {
            Ok(results) => results.iter().map(|done| !done.failed()).collect(),
            Err(_) => vec![false; 3],
        };
        assert!(!reported[1], "500 builds of 10 KB cannot fit in 40 pages");
        let stored = |id: &str| get_build(&conn, id).unwrap().is_some();
        assert_eq!(reported[0], stored("before"));
        assert_eq!(reported[2], stored("after"));
        assert!(!stored("huge0"));
    }

    crate::store::conformance::conformance_suite!({
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        Some((Box::new(store) as Box<dyn Store>, dir))
    });
}
