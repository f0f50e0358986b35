//! A JUnit upload's planning reads and its writes, inside its transaction.

use super::rows::{get_cell, get_test_stats, micros, put_cell};
use std::collections::HashSet;

use app::model::{Cell, TestStats};
use rusqlite::{params, Connection, OptionalExtension};

use crate::store::upload::{BuildTotals, UploadPlan, UploadReads};
use crate::store::{from_doc, to_doc, CellId, StoreError, TestUpload};

/// An upload's planning reads inside its transaction.
pub(super) struct UploadTx<'a>(pub(super) &'a Connection);

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
pub(super) fn write_upload(
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
            stats.cell.branch,
            stats.cell.component,
            stats.cell.arch,
            stats.cell.build_type,
            stats.name,
            micros(stats.last_run_at),
            to_doc(stats)?
        ])?;
    }
    if let Some(cell) = &plan.cell {
        put_cell(conn, cell)?;
    }
    for failure in &plan.failures {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO test_failures (build, name, doc) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![failure.build, failure.name, to_doc(failure)?])?;
    }
    Ok(())
}
