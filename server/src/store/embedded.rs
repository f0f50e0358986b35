//! The default store: one SQLite file in the data directory, so a fresh
//! checkout runs with no services. WAL mode with `synchronous=FULL`: a
//! committed ingestion survives a killed process and a power cut.

use std::path::Path;
use std::sync::{Arc, Mutex};

use app::model::{BuildResult, BuildSummary, Cell};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{
    params, Connection, ErrorCode, OptionalExtension, Row, Transaction, TransactionBehavior,
};

use super::{identity_conflict, IngestOutcome, Store, StoreError, TokenRecord};
use crate::health::{self, Step};
use crate::ingest::Build;

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
    received_at INTEGER NOT NULL
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
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
";

const BUILD_COLUMNS: &str = "id, repository, commit_sha, parent, branch, pr, component, arch, \
     build_type, result, started_at, finished_at, url, runner, version, commit_title, author";

const SUMMARY_COLUMNS: &str =
    "id, repository, commit_sha, pr, result, started_at, finished_at, url";

/// SQLite allows one writer at a time; readers use their own connection so
/// pages are not queued behind ingestion (WAL lets them run concurrently).
pub struct EmbeddedStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl EmbeddedStore {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(FILE_NAME);
        let writer = connect(&path)?;
        writer.execute_batch(SCHEMA)?;
        let reader = connect(&path)?;
        Ok(EmbeddedStore {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    async fn with<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in another request must not take the store down with it.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

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

fn upsert_build(tx: &Transaction, b: &Build) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO builds ({BUILD_COLUMNS}, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
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
        micros(Utc::now()),
    ])?;
    Ok(())
}

fn get_cell(tx: &Transaction, b: &Build) -> Result<Option<Cell>, StoreError> {
    let state: Option<String> = tx
        .prepare_cached(
            "SELECT state FROM cells
             WHERE branch = ?1 AND component = ?2 AND arch = ?3 AND build_type = ?4",
        )?
        .query_row(
            params![b.branch, b.component, b.arch, b.build_type],
            |row| row.get(0),
        )
        .optional()?;
    state
        .map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

fn put_cell(tx: &Transaction, cell: &Cell) -> Result<(), StoreError> {
    let state = serde_json::to_string(cell).map_err(|e| StoreError::Corrupt(e.to_string()))?;
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

/// Reads the cell's history newest first, only as far as the streak goes.
fn recompute_cell(tx: &Transaction, b: &Build) -> Result<Cell, StoreError> {
    let key = params![b.branch, b.component, b.arch, b.build_type];
    let running = tx
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM builds
             WHERE branch = ?1 AND component = ?2 AND arch = ?3 AND build_type = ?4
               AND result = 'running'
             ORDER BY started_at DESC, id DESC LIMIT 1"
        ))?
        .query_row(key, summary_from_row)
        .optional()?;
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM builds
         WHERE branch = ?1 AND component = ?2 AND arch = ?3 AND build_type = ?4
           AND result != 'running'
         ORDER BY started_at DESC, id DESC"
    ))?;
    let mut rows = stmt.query(key)?;
    let mut failure = None;
    let finished = std::iter::from_fn(|| match rows.next() {
        Ok(Some(row)) => match summary_from_row(row) {
            Ok(summary) => Some(summary),
            Err(e) => {
                failure = Some(e);
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    let empty = Cell::empty(&b.branch, &b.component, &b.arch, &b.build_type);
    let cell = health::recompute(empty, finished, running);
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(cell),
    }
}

fn ingest_all(conn: &mut Connection, builds: Vec<Build>) -> Result<IngestOutcome, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut changed = false;
    for (index, build) in builds.iter().enumerate() {
        let stored = get_build(&tx, &build.id)?;
        if let Some(stored) = &stored {
            if stored == build {
                continue;
            }
            if let Some(field) = identity_conflict(stored, build) {
                return Err(StoreError::Conflict {
                    index,
                    field,
                    message: format!(
                        "build '{}' already exists with a different {field}; \
                         post the new build under a new id",
                        build.id
                    ),
                });
            }
        }
        upsert_build(&tx, build)?;
        changed = true;
        let cell = get_cell(&tx, build)?.unwrap_or_else(|| {
            Cell::empty(
                &build.branch,
                &build.component,
                &build.arch,
                &build.build_type,
            )
        });
        let previous = stored.map(|s| s.summary());
        match health::apply(&cell, previous.as_ref(), &build.summary()) {
            Step::Updated(next) => put_cell(&tx, &next)?,
            Step::Unchanged => {}
            Step::Recompute => put_cell(&tx, &recompute_cell(&tx, build)?)?,
        }
    }
    tx.commit()?;
    Ok(IngestOutcome {
        ids: builds.into_iter().map(|b| b.id).collect(),
        changed,
    })
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn ingest(&self, builds: Vec<Build>) -> Result<IngestOutcome, StoreError> {
        Self::with(&self.writer, move |conn| ingest_all(conn, builds)).await
    }

    async fn cells(&self, branch: &str) -> Result<Vec<Cell>, StoreError> {
        let branch = branch.to_string();
        Self::with(&self.reader, move |conn| {
            let mut stmt = conn.prepare_cached("SELECT state FROM cells WHERE branch = ?1")?;
            let states = stmt
                .query_map([branch], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            states
                .iter()
                .map(|s| serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string())))
                .collect()
        })
        .await
    }

    async fn branches(&self) -> Result<Vec<String>, StoreError> {
        Self::with(&self.reader, |conn| {
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
        Self::with(&self.reader, move |conn| Ok(get_build(conn, &id)?)).await
    }

    async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        let (name, hash) = (name.to_string(), hash.to_string());
        Self::with(&self.writer, move |conn| {
            match conn.execute(
                "INSERT INTO tokens (name, hash, created_at) VALUES (?1, ?2, ?3)",
                params![name, hash, micros(Utc::now())],
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
        Self::with(&self.reader, |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT name, hash, created_at FROM tokens ORDER BY name")?;
            let tokens = stmt
                .query_map([], |row| {
                    Ok(TokenRecord {
                        name: row.get(0)?,
                        hash: row.get(1)?,
                        created_at: from_micros(row.get(2)?)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(tokens)
        })
        .await
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        Self::with(&self.writer, move |conn| {
            Ok(conn.execute("DELETE FROM tokens WHERE name = ?1", [name])? > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store::conformance::conformance_suite!({
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        (Box::new(store) as Box<dyn Store>, dir)
    });
}
