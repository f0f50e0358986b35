//! What one uploaded JUnit file changes, decided once above the stores:
//! whether it is a replay, the build's totals and files after it, the
//! records of the cell's tests it ran ([`test_stats`]; none for an
//! infrastructure failure), the tests the cell starts tracking, the cell's
//! runs with results, and its counts when the build is its latest.
//! Each store runs [`plan`] inside its own transaction with that
//! transaction's reads ([`UploadReads`]), then writes what it decided, as
//! ingestion does with [`super::plan`].

use std::collections::{HashMap, HashSet};
use std::future::Future;

use app::model::{Cell, TestFailure, TestStats, TestTotals};

use super::{CellId, StoreError, TestMove, TestUpload, UploadOutcome, MAX_TOUCHED_STATS};
use crate::domain::{health, test_stats};

/// A build's results as stored before an upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildTotals {
    pub totals: TestTotals,
    /// The digests of its files, in upload order.
    pub files: Vec<String>,
}

/// Reads an upload's planning needs, inside the store's transaction.
pub(crate) trait UploadReads {
    /// How a store keys a tracked test: by name, or by a digest of it where
    /// names are too long to list (Firestore).
    fn tracking_key(name: &str) -> String;

    fn build_totals(&self, build: &str) -> impl Future<Output = Result<BuildTotals, StoreError>>;

    /// The keys of the tests the cell keeps records of.
    fn tracked(&self, cell: &CellId) -> impl Future<Output = Result<HashSet<String>, StoreError>>;

    /// The cell's records of these tests that exist.
    fn test_stats(
        &self,
        cell: &CellId,
        names: &[&str],
    ) -> impl Future<Output = Result<Vec<TestStats>, StoreError>>;

    fn cell(&self, cell: &CellId) -> impl Future<Output = Result<Option<Cell>, StoreError>>;
}

/// What a new file changes; `None` from [`plan`] for a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadPlan {
    /// The build's results with this file's.
    pub build: BuildTotals,
    /// The records to write, one per test, in the file's order.
    pub stats: Vec<TestStats>,
    /// Keys of the tests the cell tracks from now on.
    pub newly_tracked: Vec<String>,
    /// The cell to write: counting the build's first file as a run with
    /// results, and showing the build's counts when it is the latest.
    pub cell: Option<Cell>,
    /// The file's failures to store, each marked flaky when its test's
    /// record showed it flaky (and its streak is no breakage).
    pub failures: Vec<TestFailure>,
    /// What the upload did, for the incidents it moves.
    pub outcome: UploadOutcome,
}

pub(crate) async fn plan<R: UploadReads + ?Sized>(
    reads: &R,
    upload: &TestUpload,
) -> Result<Option<UploadPlan>, StoreError> {
    let mut build = reads.build_totals(&upload.build).await?;
    if build.files.contains(&upload.hash) {
        return Ok(None);
    }
    let cell = &upload.cell;
    let stored_cell = reads.cell(cell).await?;
    let before = stored_cell.as_ref().and_then(|c| c.results.as_ref());
    let tracked = reads.tracked(cell).await?;
    // An infrastructure failure is no run of the tests it failed.
    let runs = if upload.infrastructure {
        Vec::new()
    } else {
        upload.runs()
    };
    let touched: Vec<_> =
        test_stats::touched(&runs, |name| tracked.contains(&R::tracking_key(name)))
            .into_iter()
            .take(MAX_TOUCHED_STATS)
            .collect();
    let mut order: Vec<&str> = Vec::new();
    for (name, _) in &touched {
        if !order.contains(&name.as_str()) {
            order.push(name);
        }
    }
    let mut records: HashMap<String, TestStats> =
        test_stats::by_name(reads.test_stats(cell, &order).await?);
    let stored = records.clone();
    let mut newly_tracked = Vec::new();
    for (name, run) in touched {
        let Some(stats) = test_stats::record(records.remove(name), cell, name, run, before) else {
            continue;
        };
        let key = R::tracking_key(name);
        if !tracked.contains(&key) && !newly_tracked.contains(&key) {
            newly_tracked.push(key);
        }
        records.insert(name.clone(), stats);
    }
    let stats: Vec<TestStats> = order
        .into_iter()
        .filter_map(|name| records.remove(name))
        .collect();
    let moves = stats
        .iter()
        .map(|after| TestMove {
            before: stored.get(&after.name).cloned(),
            after: after.clone(),
        })
        .collect();
    let rules = &upload.rules;
    let flaky: HashSet<&str> = stats
        .iter()
        .filter(|after| {
            after.last_status.is_failure()
                && stored.get(&after.name).is_some_and(|b| rules.is_flaky(b))
                && rules.breakage(after).is_none()
        })
        .map(|s| s.name.as_str())
        .collect();
    let failures: Vec<TestFailure> = upload
        .failures
        .iter()
        .map(|f| TestFailure {
            flaky: flaky.contains(f.name.as_str()),
            ..f.clone()
        })
        .collect();
    let mut file = upload.totals.clone();
    file.flaky = upload
        .cases
        .iter()
        .filter(|c| c.status.is_failure() && flaky.contains(c.name.as_str()))
        .count();
    let first_file = build.files.is_empty();
    build.totals.add(&file);
    build.files.push(upload.hash.clone());
    let counted = stored_cell.as_ref().and_then(|c| {
        let mut next = health::with_tests(c, &upload.build, &build.totals);
        if first_file && !upload.infrastructure {
            let next = next.get_or_insert_with(|| c.clone());
            next.results = Some(test_stats::count_result_run(c.results.as_ref(), upload.at));
        }
        next
    });
    let became_tested =
        stored_cell.filter(|c| !c.is_tested() && counted.as_ref().is_some_and(Cell::is_tested));
    Ok(Some(UploadPlan {
        build,
        stats,
        newly_tracked,
        cell: counted,
        failures,
        outcome: UploadOutcome {
            moves,
            became_tested,
        },
    }))
}
