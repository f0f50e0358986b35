//! Queries over build documents, and the reads they are billed.

use super::docs::BuildDoc;
use super::names::{cell_key, seq, BUILDS};
use std::sync::atomic::{AtomicU64, Ordering};

use app::model::{BuildResult, BuildSummary};
use firestore::errors::FirestoreError;
use firestore::{FirestoreDb, FirestoreValue};

use crate::store::{CellId, CellScan, ScanKind, StoreError, Summaries};

/// A query over build documents, newest first.
#[derive(Clone, Default)]
pub(super) struct BuildQuery {
    pub(super) eq: Vec<(&'static str, FirestoreValue)>,
    /// Only builds strictly older than this `seq`.
    pub(super) below: Option<String>,
    /// Only builds at or after this `seq`.
    pub(super) at_least: Option<String>,
    pub(super) limit: u32,
}

impl BuildQuery {
    pub(super) fn new(limit: u32) -> Self {
        BuildQuery {
            limit,
            ..Default::default()
        }
    }

    pub(super) fn eq(mut self, field: &'static str, value: impl Into<FirestoreValue>) -> Self {
        self.eq.push((field, value.into()));
        self
    }

    pub(super) fn of_cell(cell: &str, limit: u32) -> Self {
        BuildQuery::new(limit).eq("cell", cell.to_string())
    }
}

/// Counts the documents Firestore returns, which is what it bills and what
/// the benchmark reports per page view.
pub(super) fn counted<T>(reads: &AtomicU64, docs: Vec<T>) -> Vec<T> {
    // A query that matches nothing is still billed one read.
    reads.fetch_add(docs.len().max(1) as u64, Ordering::Relaxed);
    docs
}

pub(super) async fn query_builds(
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

pub(super) fn summary(doc: &BuildDoc) -> Result<BuildSummary, StoreError> {
    Ok(doc.clone().build()?.summary())
}

/// A page of a cell's builds, newest first.
pub(super) async fn cell_builds(
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
