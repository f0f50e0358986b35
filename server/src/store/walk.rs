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
/// Builds a commit page's walk back through a red streak reads at most: a
/// commit page is anonymous, so its cost is bounded whatever the history; a
/// longer streak is reported as beginning where the walk stopped.
pub const MAX_STREAK_WALK: usize = 2_000;

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
        let mut read = 0;
        walk(
            history,
            cell,
            ScanKind::Decisive,
            Some(Cursor::at(&build)),
            STREAK_PAGE,
            |b| {
                read += 1;
                let failed = b.result == BuildResult::Fail;
                if failed {
                    earliest = b.clone();
                }
                failed && read < MAX_STREAK_WALK
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};
    use std::cell::Cell as Counter;

    /// A cell's history in memory, newest last, counting what is read.
    struct History {
        builds: Vec<BuildSummary>,
        read: Counter<usize>,
    }

    impl CellHistory for History {
        async fn cell_builds(&self, _: &CellId, scan: &CellScan) -> Summaries {
            let page: Vec<BuildSummary> = self
                .builds
                .iter()
                .rev()
                .filter(|b| scan.kind.admits(b.result))
                .filter(|b| {
                    scan.below
                        .as_ref()
                        .is_none_or(|c| b.order_key() < (c.started_at, c.id.as_str()))
                })
                .take(scan.limit)
                .cloned()
                .collect();
            self.read.set(self.read.get() + page.len());
            Ok(page)
        }
    }

    fn summary(n: usize, result: BuildResult) -> BuildSummary {
        BuildSummary {
            id: format!("b{n:06}"),
            repository: "magma/magma".into(),
            commit: format!("{n:0>40}"),
            pr: None,
            result,
            started_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
                + TimeDelta::minutes(n as i64),
            finished_at: None,
            url: None,
        }
    }

    #[tokio::test]
    async fn a_commit_pages_walk_through_a_red_streak_is_bounded() {
        let cell = CellId::new("master", "agw", "arm64", "bazel-build");
        let below = |n: usize| Cursor::at(&summary(n, BuildResult::Fail));
        // One pass, then a short streak: found exactly.
        let mut builds = vec![summary(0, BuildResult::Pass)];
        builds.extend((1..=5).map(|n| summary(n, BuildResult::Fail)));
        let short = History {
            builds,
            read: Counter::new(0),
        };
        let found = baseline(&short, &cell, "head", None, &below(6))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.streak_since.unwrap().id, "b000001");
        // A streak far longer than the bound: the walk stops there.
        let long = History {
            builds: (0..20_000).map(|n| summary(n, BuildResult::Fail)).collect(),
            read: Counter::new(0),
        };
        let found = baseline(&long, &cell, "head", None, &below(20_000))
            .await
            .unwrap()
            .unwrap();
        assert!(long.read.get() <= MAX_STREAK_WALK + STREAK_PAGE + BASELINE_PAGE);
        assert_eq!(
            found.streak_since.unwrap().id,
            format!("b{:06}", 20_000 - 1 - MAX_STREAK_WALK)
        );
    }
}
