//! Test results from JUnit XML: cases, totals, failures, per-test verdicts,
//! records, the flaky ranking and a test's history.

use super::cell::*;
use super::links::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Passed,
    Failed,
    Error,
    Skipped,
    /// Failed, then passed when run again in the same job (Surefire's
    /// `flakyFailure`, a case repeated by pytest-rerunfailures, Gradle's
    /// test-retry or `go test -count`): never a clean pass, never a
    /// failure of the code.
    Flaky,
}

impl TestStatus {
    pub fn is_failure(self) -> bool {
        matches!(self, TestStatus::Failed | TestStatus::Error)
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One test case of a build, as its JUnit XML reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestCase {
    pub suite: String,
    /// `classname::name` when the file gives a class, else the name.
    pub name: String,
    pub status: TestStatus,
    pub time_s: Option<f64>,
    /// The failure, error or skip message, cut at 2,000 characters.
    pub message: Option<String>,
}

/// Counts of a build's test cases over every file uploaded for it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestTotals {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub duration_s: f64,
    /// Of the failed and errors, tests whose history showed them flaky
    /// when the result arrived.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flaky: usize,
}

impl TestTotals {
    /// Test results of every status.
    pub fn results(&self) -> usize {
        self.passed + self.failed + self.errors + self.skipped
    }

    pub fn counts(&self) -> TestCounts {
        TestCounts {
            passed: self.passed,
            failed: self.failed + self.errors,
            skipped: self.skipped,
            flaky: self.flaky,
        }
    }

    pub fn add(&mut self, other: &TestTotals) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.errors += other.errors;
        self.skipped += other.skipped;
        self.duration_s += other.duration_s;
        self.flaky += other.flaky;
    }
}

/// A failing test of a build, kept apart from the build's full results so
/// pages read failures without reading every passing test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestFailure {
    pub build: String,
    pub suite: String,
    pub name: String,
    pub status: TestStatus,
    pub message: Option<String>,
    /// The commit since which the test fails in its cell, as known when the
    /// result arrived: this one, or where the previous build's failure of
    /// the same test began.
    pub since_commit: String,
    /// Its history showed it flaky when this failure arrived.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
}

/// `GET /api/v1/builds/<id>/tests`: failures first, then by suite and name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BuildTests {
    pub totals: TestTotals,
    pub tests: Vec<TestCase>,
    pub next_cursor: Option<String>,
}

/// What a failing test means against its cell's baseline build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TestVerdict {
    /// It passed (or did not fail) in the baseline build.
    NewFailure,
    /// It failed in the baseline build too.
    StillFailing,
    /// It passed and failed on this very commit, or its history shows it
    /// flaky.
    Flaky,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FailingTest {
    pub name: String,
    pub verdict: TestVerdict,
    pub since_commit: String,
    pub message: Option<String>,
    /// In quarantine in its cell: it opens no incident and fails no gate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quarantined: bool,
    /// Its failure's reason: the message with numbers and ids masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
    /// The known issue a rule ties it to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_issue: Option<KnownIssueMatch>,
}

/// A verdict's test counts and failing tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VerdictTests {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failing: Vec<FailingTest>,
}

/// One run of a test in its cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestRun {
    pub build: String,
    pub commit: String,
    pub status: TestStatus,
    /// The build's start.
    pub at: DateTime<Utc>,
}

/// A test's runs, failures and flips on one day (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestDay {
    pub day: DateTime<Utc>,
    pub runs: u32,
    pub failures: u32,
    pub flips: u32,
}

/// A test's record in one cell, kept from its first failure there on; its
/// runs before that are counted from the cell's runs with results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestStats {
    /// Its cell.
    #[serde(flatten)]
    pub cell: CellId,
    pub name: String,
    pub runs: u32,
    pub failures: u32,
    /// Times its result changed between consecutive runs.
    pub flips: u32,
    pub last_status: TestStatus,
    /// The commit its current failure began at; none while it passes.
    pub failing_since: Option<String>,
    /// The latest commit on which it both passed and failed.
    pub last_flaky_commit: Option<String>,
    pub last_run_at: DateTime<Utc>,
    /// Its latest runs, newest first.
    pub recent: Vec<TestRun>,
    /// Per-day counts of the last 90 days.
    pub days: Vec<TestDay>,
    /// Its consecutive failures up to its latest run, infrastructure
    /// failures left out: the streak an incident opens on.
    #[serde(default)]
    pub streak: u32,
}

/// A test of the flaky ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FlakyTest {
    /// Its cell within the branch.
    #[serde(flatten)]
    pub cell: CellKey,
    pub name: String,
    /// flips ÷ (runs − 1) over the window.
    pub flip_rate: f64,
    pub runs: u32,
    pub failures: u32,
    pub flips: u32,
    pub last_flaky_commit: Option<String>,
}

impl FlakyTest {
    pub fn history_path(&self, branch: &str) -> String {
        test_history_path(
            branch,
            &self.cell.component,
            &self.cell.build_type,
            &self.name,
        )
    }
}

/// The flaky-tests page of a branch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FlakyTests {
    pub branch: String,
    pub days: u32,
    pub tests: Vec<FlakyTest>,
}

/// One test's history page: its record on each architecture that ran it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestHistory {
    pub branch: String,
    pub component: String,
    pub build_type: String,
    pub name: String,
    pub archs: Vec<TestStats>,
}

/// A test quarantined in its cell: it keeps running and being recorded,
/// never opens an incident, and `ci-dashboard gate` passes a job whose
/// only failures are quarantined tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct QuarantinedTest {
    /// Its cell.
    #[serde(flatten)]
    pub cell: CellId,
    pub name: String,
    pub reason: String,
    pub since: DateTime<Utc>,
    /// The token's name that quarantined it, or `auto` (the flaky rule).
    pub by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub evidence_url: Option<String>,
    /// Its clean runs in a row since it was quarantined: it leaves after
    /// the configured number.
    #[serde(default)]
    pub clean_runs: u32,
    /// When it left quarantine, and why; none while it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_why: Option<String>,
}

impl QuarantinedTest {
    /// In quarantine at `now`: not released, not expired.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.released_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// A failure's reason: its message's headline with numbers, ids,
/// addresses, temporary paths and times masked; failures that differ only
/// in those share it, and its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FailureReason {
    pub id: String,
    pub text: String,
}

/// A rule tying failures to an issue: by reason, by a glob over test
/// names, by a substring of the message, or several (all must match).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KnownIssue {
    /// The rule's id: the same rule again is the same rule.
    pub id: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The token's name that made it.
    pub by: String,
    pub created_at: DateTime<Utc>,
}

/// A failure a known-issue rule matched: the issue and the rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KnownIssueMatch {
    pub url: String,
    pub rule: String,
}

impl KnownIssueMatch {
    /// "#1234" for a GitHub issue or pull request, else the link itself.
    pub fn label(&self) -> String {
        let path = self.url.trim_end_matches('/');
        match path.rsplit_once('/') {
            Some((rest, number))
                if number.chars().all(|c| c.is_ascii_digit())
                    && !number.is_empty()
                    && (rest.ends_with("/issues") || rest.ends_with("/pull")) =>
            {
                format!("#{number}")
            }
            _ => self.url.clone(),
        }
    }
}

/// One reason's failures on a branch, kept up to date as results arrive:
/// what the failures page sums over its window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReasonRecord {
    pub branch: String,
    #[serde(flatten)]
    pub reason: FailureReason,
    /// A message that has it, as it was first seen.
    pub example: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Failures per day and architecture, the last 90 days.
    pub days: Vec<ReasonDay>,
    /// Tests that failed with it (the first 50).
    pub tests: Vec<String>,
    /// Cells where it happened (the first 50).
    pub cells: Vec<CellKey>,
    /// Its latest builds, newest first (20).
    pub builds: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReasonDay {
    pub day: DateTime<Utc>,
    pub arch: String,
    pub failures: u32,
}

/// `GET /api/v1/failures`: a branch's failure reasons in a window, most
/// failures first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Failures {
    pub branch: String,
    pub days: u32,
    /// When it was made: pages say "3h ago" from it, the same on the
    /// server and in the browser.
    pub generated_at: DateTime<Utc>,
    pub reasons: Vec<ReasonSummary>,
}

/// One reason over the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReasonSummary {
    pub id: String,
    /// The reason: the message with numbers and ids masked.
    pub text: String,
    pub example: String,
    pub failures: u32,
    /// Failures in the window per architecture, most first.
    pub arches: Vec<ArchFailures>,
    pub tests: Vec<String>,
    pub cells: Vec<CellKey>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub builds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_issue: Option<KnownIssueMatch>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ArchFailures {
    pub arch: String,
    pub failures: u32,
}
