//! Test results from JUnit XML: an upload checked, parsed and stored with
//! each failure's "failing since" found once, when it arrives; a build's
//! tests for the API; and what a commit's failing tests mean.

use std::collections::{HashMap, HashSet};

use app::model::{
    Build, BuildTests, Divergence, FlakyTest, FlakyTests, TestCase, TestFailure, TestHistory,
    TestTotals,
};
use chrono::{TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{Service, ServiceError};
use crate::domain::field_error::FieldError;
use crate::domain::ids::{Branch, Name};
use crate::domain::test_verdict::{self, CellTests};
use crate::domain::verdict::Evidence;
use crate::domain::{junit, test_stats};
use crate::store::{CellId, CellScan, Cursor, ScanKind, TestUpload};

/// Failures stored one by one per upload; the rest are in the totals and
/// the build's full results only.
pub const MAX_FAILURE_ROWS: usize = 200;
pub const MAX_TESTS_PAGE: usize = 5_000;
/// Test results one build may hold over all its files: what reading a
/// build's tests (an anonymous request) costs at most.
pub const MAX_TESTS_PER_BUILD: usize = 100_000;
pub const MAX_FLAKY_DAYS: u32 = 90;
/// Test records the flaky ranking reads at most, latest run first.
const FLAKY_SCAN: usize = 5_000;
const FLAKY_SHOWN: usize = 100;
const DEFAULT_TESTS_PAGE: usize = 500;

/// Uploads decoded and parsed at once. Reading a 10 MiB file holds a core
/// for a fraction of a second: it runs on a blocking thread so that the
/// async workers (probes, pages, posts) never wait behind it, and no more
/// than this many at once so that a burst of uploads queues here instead of
/// taking every core.
static PARSERS: Semaphore = Semaphore::const_new(2);

/// Runs an upload's CPU-bound work (gunzip, parse, digest) off the async
/// workers, a bounded number at a time.
pub async fn off_workers<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    // The semaphore is never closed, so a permit always comes.
    let _permit = PARSERS.acquire().await.ok();
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Build-test listings read at once (each reads a whole build's results).
static LISTINGS: Semaphore = Semaphore::const_new(2);

/// What an upload did.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    /// False when the same file was already stored for the build.
    pub new: bool,
    pub tests: usize,
    pub totals: TestTotals,
}

impl Service {
    /// Adds one JUnit XML file's results to a stored build.
    pub async fn upload_tests(
        &self,
        build: &Build,
        xml: Vec<u8>,
    ) -> Result<Uploaded, ServiceError> {
        let (cases, hash) = off_workers(move || {
            junit::parse(&xml).map(|cases| (cases, hex::encode(&Sha256::digest(&xml)[..16])))
        })
        .await?;
        let held = self
            .store
            .test_totals(std::slice::from_ref(&build.id))
            .await?
            .remove(&build.id)
            .map_or(0, |t| t.results());
        if held + cases.len() > MAX_TESTS_PER_BUILD {
            return Err(FieldError::field(
                "body",
                format!(
                    "build '{}' holds {held} test results already and this file {} more: a build \
                     holds at most {MAX_TESTS_PER_BUILD}",
                    build.id,
                    cases.len()
                ),
            )
            .into());
        }
        // A test the file repeats counts once: flaky when it failed and
        // passed, which is no failure.
        let tests = junit::collapse(&cases);
        let totals = junit::totals(&tests);
        let previous = self.previous_failures(build).await?;
        let failures: Vec<TestFailure> = tests
            .iter()
            .filter(|c| c.status.is_failure())
            .take(MAX_FAILURE_ROWS)
            .map(|c| TestFailure {
                build: build.id.clone(),
                suite: c.suite.clone(),
                name: c.name.clone(),
                status: c.status,
                message: c.message.clone(),
                since_commit: previous
                    .get(&c.name)
                    .cloned()
                    .unwrap_or_else(|| build.commit.clone()),
                flaky: false,
            })
            .collect();
        let upload = TestUpload {
            build: build.id.clone(),
            cell: build.cell.clone(),
            commit: build.commit.clone(),
            at: build.started_at,
            hash,
            tests: cases.len(),
            cases,
            per_test: tests,
            failures,
            infrastructure: self
                .incident_rules
                .signal
                .is_infrastructure(build.result, &totals),
            rules: self.incident_rules.signal.clone(),
            totals: totals.clone(),
        };
        let outcome = self.store.add_tests(&upload).await?;
        let new = outcome.is_some();
        // Tests can turn a failure into a flaky one: its status is told again.
        if new && !upload.infrastructure {
            if let Err(e) = self.record_reasons(build, &upload.failures).await {
                tracing::warn!(error = %e, "cannot record failure reasons");
            }
        }
        if new {
            let cause = format!("tests:{}", upload.hash);
            if let Err(e) = self
                .queue_statuses(std::slice::from_ref(build), &cause)
                .await
            {
                tracing::warn!(error = %e, "cannot queue commit statuses");
            }
        }
        if let Some(outcome) = outcome {
            // Stored: an incident or a quarantine that cannot be updated is
            // logged, as ingestion does; the test's next run applies it.
            let quarantined = self
                .quarantine_after_upload(build, &upload, &outcome)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot update the quarantine");
                    Default::default()
                });
            if let Err(e) = self
                .record_test_incidents(build, &outcome, &quarantined)
                .await
            {
                tracing::warn!(error = %e, "cannot update incidents");
            }
        }
        Ok(Uploaded {
            new,
            tests: upload.tests,
            totals,
        })
    }

    /// Where each test failing in the cell's previous build began failing.
    async fn previous_failures(
        &self,
        build: &Build,
    ) -> Result<HashMap<String, String>, ServiceError> {
        let cell = &build.cell;
        let before = self
            .store
            .cell_builds(
                cell,
                &CellScan {
                    kind: ScanKind::Finished,
                    commit: None,
                    below: Some(Cursor::of(build)),
                    limit: 1,
                },
            )
            .await?;
        let Some(previous) = before.first() else {
            return Ok(HashMap::new());
        };
        Ok(self
            .store
            .test_failures(std::slice::from_ref(&previous.id))
            .await?
            .into_iter()
            .map(|f| (f.name, f.since_commit))
            .collect())
    }

    /// Tests of a branch whose result changed between consecutive runs of
    /// their cell in the window, by flip rate. Reads the records of tests
    /// that ran in the window (only tests that ever failed have one), not
    /// builds.
    pub async fn flaky_tests(
        &self,
        branch: &Branch,
        days: u32,
    ) -> Result<FlakyTests, ServiceError> {
        if !(1..=MAX_FLAKY_DAYS).contains(&days) {
            return Err(FieldError::field(
                "days",
                format!("days must be from 1 to {MAX_FLAKY_DAYS}"),
            )
            .into());
        }
        let since = Utc::now() - TimeDelta::days(i64::from(days));
        let records = self
            .store
            .test_stats_since(branch.as_str(), since, FLAKY_SCAN)
            .await?;
        let mut tests: Vec<FlakyTest> = records
            .into_iter()
            .filter_map(|s| {
                let f = test_stats::flaky(&s, since)?;
                Some(FlakyTest {
                    cell: app::model::CellKey {
                        component: s.cell.component,
                        arch: s.cell.arch,
                        build_type: s.cell.build_type,
                    },
                    name: s.name,
                    flip_rate: f.flip_rate,
                    runs: f.runs,
                    failures: f.failures,
                    flips: f.flips,
                    last_flaky_commit: s.last_flaky_commit,
                })
            })
            .collect();
        tests.sort_by(|a, b| {
            b.flip_rate
                .total_cmp(&a.flip_rate)
                .then(b.flips.cmp(&a.flips))
                .then_with(|| a.name.cmp(&b.name))
        });
        tests.truncate(FLAKY_SHOWN);
        Ok(FlakyTests {
            branch: branch.as_str().to_string(),
            days,
            tests,
        })
    }

    /// One test's record on every architecture of its cell that has one.
    pub async fn test_history(
        &self,
        branch: &Branch,
        component: &Name,
        build_type: &Name,
        name: &str,
    ) -> Result<TestHistory, ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > junit::MAX_NAME {
            return Err(FieldError::field(
                "name",
                format!(
                    "name must be a test name of 1 to {} characters",
                    junit::MAX_NAME
                ),
            )
            .into());
        }
        let cells: Vec<CellId> = self
            .store
            .cells(branch.as_str())
            .await?
            .iter()
            .map(|c| c.id())
            .filter(|c| c.component == component.as_str() && c.build_type == build_type.as_str())
            .collect();
        if cells.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "no {} {} builds on '{}'",
                component.as_str(),
                build_type.as_str(),
                branch.as_str()
            )));
        }
        let mut archs = self.store.test_stats(&cells, name).await?;
        archs.sort_by(|a, b| a.cell.arch.cmp(&b.cell.arch));
        Ok(TestHistory {
            branch: branch.as_str().to_string(),
            component: component.as_str().to_string(),
            build_type: build_type.as_str().to_string(),
            name: name.to_string(),
            archs,
        })
    }

    /// A build's tests, failures first, then by suite and name, a page at
    /// a time.
    pub async fn build_tests(
        &self,
        id: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<BuildTests, ServiceError> {
        let limit = limit.unwrap_or(DEFAULT_TESTS_PAGE);
        if !(1..=MAX_TESTS_PAGE).contains(&limit) {
            return Err(FieldError::field(
                "limit",
                format!("limit must be from 1 to {MAX_TESTS_PAGE}"),
            )
            .into());
        }
        let offset = match cursor {
            None => 0,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| FieldError::field("cursor", "cursor must be one this API returned"))?,
        };
        if self.store.build(id).await?.is_none() {
            return Err(ServiceError::NotFound(format!("no build '{id}'")));
        }
        let ids = [id.to_string()];
        // Up to MAX_TESTS_PER_BUILD results are read and sorted per page:
        // only a few such listings at once, so that anonymous readers cannot
        // take every store connection with them.
        let _listing = LISTINGS.acquire().await.ok();
        let (totals, mut tests) =
            tokio::try_join!(self.store.test_totals(&ids), self.store.build_tests(id))?;
        let totals = totals.get(id).cloned().unwrap_or_default();
        tests.sort_by(|a, b| {
            (!a.status.is_failure(), &a.suite, &a.name).cmp(&(
                !b.status.is_failure(),
                &b.suite,
                &b.name,
            ))
        });
        let next_cursor = (tests.len() > offset + limit).then(|| (offset + limit).to_string());
        let tests: Vec<TestCase> = tests.into_iter().skip(offset).take(limit).collect();
        Ok(BuildTests {
            totals,
            tests,
            next_cursor,
        })
    }

    /// Each verdict's tests and the tests that fail on one architecture and
    /// pass on another, from the commit's builds and their baselines only.
    pub(super) async fn commit_tests(
        &self,
        evidence: &[Evidence],
    ) -> Result<(Vec<CellTests>, Vec<Divergence>), ServiceError> {
        let judged: Vec<(usize, String)> = evidence
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.judged().map(|b| (i, b.id.clone())))
            .collect();
        let ids: Vec<String> = judged.iter().map(|(_, id)| id.clone()).collect();
        let totals = self.store.test_totals(&ids).await?;
        if totals.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let baselines: Vec<String> = evidence
            .iter()
            .filter_map(|e| e.baseline.as_ref().map(|b| b.id.clone()))
            .collect();
        let wanted: Vec<String> = ids.iter().chain(&baselines).cloned().collect();
        let failures = self.store.test_failures(&wanted).await?;
        let mut by_build: HashMap<&str, Vec<&TestFailure>> = HashMap::new();
        for f in &failures {
            by_build.entry(&f.build).or_default().push(f);
        }
        // Full results only where a failure needs them: reruns of a cell
        // with failures (flaky), and the other architectures of a failing
        // (component, build type).
        let failing_pairs: HashSet<(&str, &str)> = judged
            .iter()
            .filter(|(_, id)| by_build.contains_key(id.as_str()))
            .map(|(i, _)| {
                (
                    evidence[*i].cell.component.as_str(),
                    evidence[*i].cell.build_type.as_str(),
                )
            })
            .collect();
        let mut need: Vec<String> = Vec::new();
        for (i, id) in &judged {
            let e = &evidence[*i];
            let pair = (e.cell.component.as_str(), e.cell.build_type.as_str());
            if by_build.contains_key(id.as_str()) {
                need.extend(e.here.iter().filter(|b| &b.id != id).map(|b| b.id.clone()));
            }
            if failing_pairs.contains(&pair) && totals.contains_key(id) {
                need.push(id.clone());
            }
        }
        need.sort();
        need.dedup();
        let passed: HashMap<String, HashSet<String>> = futures::stream::iter(need)
            .map(|id| async move {
                let cases = self.store.build_tests(&id).await?;
                let names = cases
                    .into_iter()
                    .filter(|c| c.status == app::model::TestStatus::Passed)
                    .map(|c| c.name)
                    .collect();
                Ok::<_, ServiceError>((id, names))
            })
            .buffered(super::BASELINE_LOOKUPS)
            .try_collect()
            .await?;
        let empty = HashSet::new();
        let cells: Vec<CellTests> = judged
            .iter()
            .map(|(i, id)| {
                let e = &evidence[*i];
                let reruns_passed: HashSet<String> = e
                    .here
                    .iter()
                    .filter(|b| &b.id != id)
                    .flat_map(|b| passed.get(&b.id).unwrap_or(&empty).iter().cloned())
                    .collect();
                CellTests {
                    cell: e.cell.clone(),
                    totals: totals.get(id).cloned(),
                    failures: by_build
                        .get(id.as_str())
                        .map(|f| f.iter().map(|f| (*f).clone()).collect())
                        .unwrap_or_default(),
                    baseline_failures: e
                        .baseline
                        .as_ref()
                        .and_then(|b| by_build.get(b.id.as_str()))
                        .map(|f| f.iter().map(|f| (*f).clone()).collect())
                        .unwrap_or_default(),
                    passed_on_rerun: reruns_passed,
                    passed: passed.get(id).cloned().unwrap_or_default(),
                }
            })
            .collect();
        let divergent = test_verdict::divergences(&cells);
        Ok((cells, divergent))
    }
}
