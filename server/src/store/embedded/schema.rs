//! The file's tables and indexes, its connection settings, and migrations
//! of data directories made by older versions.

use std::path::Path;

use rusqlite::Connection;

use crate::store::StoreError;

pub(super) const SCHEMA: &str = "
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
CREATE TABLE IF NOT EXISTS quarantine (
    branch TEXT NOT NULL,
    component TEXT NOT NULL,
    arch TEXT NOT NULL,
    build_type TEXT NOT NULL,
    name TEXT NOT NULL,
    released INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (branch, component, arch, build_type, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS quarantine_in ON quarantine (branch, released);
CREATE TABLE IF NOT EXISTS reasons (
    branch TEXT NOT NULL,
    id TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (branch, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reasons_by_time ON reasons (branch, last_seen);
CREATE TABLE IF NOT EXISTS known_issues (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
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

pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Brings a data directory made by an older version up to the schema.
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
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
