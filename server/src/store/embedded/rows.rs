//! Rows to records and back: builds, cells, commits, incidents, tests,
//! deliveries.

use app::model::{BuildResult, BuildSummary, Cell, Delivery, DeliveryState, Incident, TestStats};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::store::plan::Plan;
use crate::store::{
    from_doc, to_doc, BuildFilter, Builds, Candidates, CellId, CellScan, Cursor, ScanKind,
    StoreError, Summaries,
};
use app::model::Build;
use app::model::CommitCandidate;

pub(super) const BUILD_COLUMNS: &str =
    "id, repository, commit_sha, parent, branch, pr, component, arch, \
     build_type, result, started_at, finished_at, url, runner, version, commit_title, author, \
     posted_by";

pub(super) const SUMMARY_COLUMNS: &str =
    "id, repository, commit_sha, pr, result, started_at, finished_at, url";

/// A stored JSON document read back; unreadable means corrupt.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(v: i64) -> Result<DateTime<Utc>, rusqlite::Error> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(format!("timestamp {v}")))
}

pub(super) fn corrupt(what: String) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(format!("invalid stored {what}").into())
}

pub(super) fn result_of(word: String) -> Result<BuildResult, rusqlite::Error> {
    BuildResult::parse(&word).ok_or_else(|| corrupt(format!("result '{word}'")))
}

pub(super) fn pr_of(v: Option<i64>) -> Option<u64> {
    v.and_then(|p| u64::try_from(p).ok())
}

pub(super) fn build_from_row(row: &Row) -> Result<Build, rusqlite::Error> {
    Ok(Build {
        id: row.get(0)?,
        repository: row.get(1)?,
        commit: row.get(2)?,
        parent: row.get(3)?,
        cell: CellId {
            branch: row.get(4)?,
            component: row.get(6)?,
            arch: row.get(7)?,
            build_type: row.get(8)?,
        },
        pr: pr_of(row.get(5)?),
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

pub(super) fn summary_from_row(row: &Row) -> Result<BuildSummary, rusqlite::Error> {
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

pub(super) fn get_build(conn: &Connection, id: &str) -> Result<Option<Build>, rusqlite::Error> {
    conn.prepare_cached(&format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = ?1"))?
        .query_row([id], build_from_row)
        .optional()
}

pub(super) fn upsert_build(tx: &Connection, b: &Build) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO builds ({BUILD_COLUMNS}, received_at) VALUES
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
    ))?
    .execute(params![
        b.id,
        b.repository,
        b.commit,
        b.parent,
        b.cell.branch,
        b.pr.map(|p| p as i64),
        b.cell.component,
        b.cell.arch,
        b.cell.build_type,
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
pub(super) fn index_commits(tx: &Connection, plan: &Plan) -> Result<(), rusqlite::Error> {
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

pub(super) fn candidates(
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

pub(super) fn list_builds(
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

pub(super) fn get_incident(conn: &Connection, id: &str) -> Result<Option<Incident>, StoreError> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM incidents WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    doc.map(|d| from_doc(&d)).transpose()
}

pub(super) fn get_cell(conn: &Connection, id: &CellId) -> Result<Option<Cell>, StoreError> {
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
pub(super) fn cell_builds(conn: &Connection, cell: &CellId, scan: &CellScan) -> Summaries {
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

pub(super) fn put_cell(tx: &Connection, cell: &Cell) -> Result<(), StoreError> {
    let state = to_doc(cell)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO cells (branch, component, arch, build_type, state)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        cell.cell.branch,
        cell.cell.component,
        cell.cell.arch,
        cell.cell.build_type,
        state
    ])?;
    Ok(())
}

/// One test's record in a cell, if it has one.
pub(super) fn get_test_stats(
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

pub(super) fn state_word(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "pending",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Failed => "failed",
        DeliveryState::Superseded => "superseded",
    }
}

pub(super) fn put_delivery(
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

pub(super) fn delivery_docs(
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
