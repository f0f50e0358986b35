//! Walks over one cell's history, written once over the
//! [`Store::cell_builds`] primitive so both stores share them: the baseline
//! of a commit (commit pages) and the recompute of a cell (ingestion, when
//! the cheap incremental step cannot be exact).

use std::future::Future;

use app::model::{BuildResult, BuildSummary, Cell};

use super::{CellId, CellScan, Cursor, ScanKind, Store, StoreError, Summaries};
use crate::domain::health;
use app::model::Build;

/// Reads a cell's builds newest first: the store itself for pages, or a
/// store's write transaction during ingestion.
pub(crate) trait CellHistory {
    fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> impl Future<Output = Summaries>;
}

impl CellHistory for dyn Store + '_ {
    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries {
        Store::cell_builds(self, cell, scan).await
    }
}

/// Most walks end after a build or two, and Firestore bills every document
/// a page returns, used or not: pages start at two builds and double up to
/// `largest`.
const FIRST_PAGE: usize = 2;
/// Pages of the walk to a commit's baseline: it usually is the next build.
const BASELINE_PAGE: usize = 20;
/// Pages of the walks through a red streak, which may be long.
const STREAK_PAGE: usize = 200;
/// Pages of the walk to a cell's newest running build.
const RUNNING_PAGE: usize = 50;

/// Visits the cell's builds of `kind` below `below`, newest first, for as
/// long as `more` says the walk is not over.
pub(crate) async fn walk<H: CellHistory + ?Sized>(
    history: &H,
    cell: &CellId,
    kind: ScanKind,
    below: Option<Cursor>,
    largest: usize,
    mut more: impl FnMut(&BuildSummary) -> bool,
) -> Result<(), StoreError> {
    let mut scan = CellScan {
        kind,
        commit: None,
        below,
        limit: largest.min(FIRST_PAGE),
    };
    loop {
        let page = history.cell_builds(cell, &scan).await?;
        let full = page.len() == scan.limit;
        for build in &page {
            if !more(build) {
                return Ok(());
            }
        }
        match page.last() {
            Some(last) if full => scan.below = Some(Cursor::at(last)),
            _ => return Ok(()),
        }
        scan.limit = (scan.limit * 2).min(largest);
    }
}

/// The baseline of a cell for a commit, and where its red streak began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    pub build: BuildSummary,
    pub streak_since: Option<BuildSummary>,
}

/// The cell's pass or fail at `parent` when that commit has one, else the
/// nearest one before `before` on another commit than `commit`; with the
/// first failure of the red streak it belongs to.
pub(crate) async fn baseline<H: CellHistory + ?Sized>(
    history: &H,
    cell: &CellId,
    commit: &str,
    parent: Option<&str>,
    before: &Cursor,
) -> Result<Option<Baseline>, StoreError> {
    let at_parent = match parent {
        Some(parent) => {
            let scan = CellScan {
                kind: ScanKind::Decisive,
                commit: Some(parent.to_string()),
                below: None,
                limit: 1,
            };
            history.cell_builds(cell, &scan).await?.into_iter().next()
        }
        None => None,
    };
    let build = match at_parent {
        Some(build) => build,
        None => {
            let mut found = None;
            walk(
                history,
                cell,
                ScanKind::Decisive,
                Some(before.clone()),
                BASELINE_PAGE,
                |b| {
                    if b.commit == commit {
                        return true;
                    }
                    found = Some(b.clone());
                    false
                },
            )
            .await?;
            match found {
                Some(build) => build,
                None => return Ok(None),
            }
        }
    };
    let mut streak_since = None;
    if build.result == BuildResult::Fail {
        let mut earliest = build.clone();
        walk(
            history,
            cell,
            ScanKind::Decisive,
            Some(Cursor::at(&build)),
            STREAK_PAGE,
            |b| {
                let failed = b.result == BuildResult::Fail;
                if failed {
                    earliest = b.clone();
                }
                failed
            },
        )
        .await?;
        streak_since = Some(earliest);
    }
    Ok(Some(Baseline {
        build,
        streak_since,
    }))
}

/// The cell recomputed from its stored history with `batch` (the builds of
/// this cell being written, not yet visible to reads) laid over it. Reads
/// only as far back as the red streak goes.
pub(crate) async fn recompute<H: CellHistory + ?Sized>(
    history: &H,
    cell: &CellId,
    batch: &[&Build],
) -> Result<Cell, StoreError> {
    let rewritten = |b: &BuildSummary| batch.iter().any(|mine| mine.id == b.id);
    let mut newest_running = None;
    walk(history, cell, ScanKind::Running, None, RUNNING_PAGE, |b| {
        if rewritten(b) {
            return true;
        }
        newest_running = Some(b.clone());
        false
    })
    .await?;
    let mut finished = Vec::new();
    walk(history, cell, ScanKind::Finished, None, STREAK_PAGE, |b| {
        if rewritten(b) {
            return true;
        }
        finished.push(b.clone());
        b.result != BuildResult::Pass
    })
    .await?;
    for mine in batch {
        let summary = mine.summary();
        if summary.result.is_finished() {
            finished.push(summary);
        } else if newest_running
            .as_ref()
            .is_none_or(|r: &BuildSummary| summary.order_key() > r.order_key())
        {
            newest_running = Some(summary);
        }
    }
    finished.sort_by(|a, b| b.order_key().cmp(&a.order_key()));
    Ok(health::recompute(
        cell.empty_cell(),
        finished.into_iter(),
        newest_running,
    ))
}
