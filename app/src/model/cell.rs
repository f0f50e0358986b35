//! Builds and the cells they belong to: a cell is one component, architecture
//! and build type on a branch.

use super::display::short_sha;
use super::links::{encoded, github, is_http_url};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Outcome of a build as stored. CI systems use other words for the same
/// outcomes; [`BuildResult::parse`] maps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BuildResult {
    Running,
    Pass,
    Fail,
    /// The infrastructure broke, not the code under test.
    Error,
    Cancelled,
}

impl BuildResult {
    pub const ALL: [BuildResult; 5] = [
        BuildResult::Running,
        BuildResult::Pass,
        BuildResult::Fail,
        BuildResult::Error,
        BuildResult::Cancelled,
    ];

    /// Accepts our own words plus GitHub's `job.status` words and Magma's
    /// old `inconclusive`, so a workflow can post `${{ job.status }}`.
    pub fn parse(word: &str) -> Option<Self> {
        match word.to_ascii_lowercase().as_str() {
            "running" => Some(Self::Running),
            "pass" | "success" => Some(Self::Pass),
            "fail" | "failure" => Some(Self::Fail),
            "error" | "inconclusive" => Some(Self::Error),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        self != Self::Running
    }

    /// Words shown next to the colour, so the state never relies on colour.
    pub fn label(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Pass => "passing",
            Self::Fail => "failing",
            Self::Error => "infra error",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn icon(self) -> &'static str {
        match self {
            Self::Running => "◔",
            Self::Pass => "✓",
            Self::Fail => "✗",
            Self::Error => "⚠",
            Self::Cancelled => "⊘",
        }
    }
}

/// What a health cell needs to know about one build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BuildSummary {
    pub id: String,
    pub repository: String,
    pub commit: String,
    pub pr: Option<u64>,
    pub result: BuildResult,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
}

impl BuildSummary {
    /// Builds of a cell are ordered by start time; the id breaks ties so the
    /// order is total and the same in every store.
    pub fn order_key(&self) -> (DateTime<Utc>, &str) {
        (self.started_at, &self.id)
    }

    pub fn short_commit(&self) -> &str {
        short_sha(&self.commit)
    }

    /// Link to the commit on GitHub. Repository and commit are validated at
    /// ingestion (`owner/name` and 40 hex digits), so the URL is well formed.
    pub fn commit_url(&self) -> String {
        github::commit(&self.repository, &self.commit)
    }

    /// The log link, only when it is http(s): nothing else is ever rendered
    /// as a link, even if a store was filled by other means.
    pub fn safe_url(&self) -> Option<&str> {
        self.url.as_deref().filter(|u| is_http_url(u))
    }
}

/// The current red streak of a cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FailStreak {
    /// The first failing build of the streak: "failing since".
    pub since: BuildSummary,
    /// Number of failing builds in the streak.
    pub builds: u32,
}

/// One health cell's identity: the builds that are compared with each other.
/// Fields are validated at ingestion; order sorts by branch, component,
/// arch, build type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CellId {
    pub branch: String,
    pub component: String,
    pub arch: String,
    pub build_type: String,
}

impl CellId {
    pub fn new(branch: &str, component: &str, arch: &str, build_type: &str) -> Self {
        CellId {
            branch: branch.to_string(),
            component: component.to_string(),
            arch: arch.to_string(),
            build_type: build_type.to_string(),
        }
    }

    /// The cell within its branch.
    pub fn key(&self) -> CellKey {
        CellKey::new(&self.component, &self.arch, &self.build_type)
    }

    /// The cell before any build arrived.
    pub fn empty_cell(&self) -> Cell {
        Cell {
            cell: self.clone(),
            latest: None,
            running: None,
            streak: None,
            last_pass: Some(None),
            latest_tests: None,
            results: None,
            cadence: None,
            stale: false,
            stale_since: None,
        }
    }

    /// The history page of the cell: the one way links to a cell are
    /// written. The branch is a query parameter, since branch names hold
    /// `/` (which routers split on even when encoded), `#`, `%` and `+`.
    pub fn history_path(&self) -> String {
        format!(
            "/history/{}/{}/{}?branch={}",
            encoded(&self.component),
            encoded(&self.arch),
            encoded(&self.build_type),
            encoded(&self.branch)
        )
    }
}

/// Precomputed health of one (branch, component, arch, build_type).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Cell {
    /// Its cell.
    #[serde(flatten)]
    pub cell: CellId,
    /// Newest finished build.
    pub latest: Option<BuildSummary>,
    /// A build in progress that is newer than `latest`.
    pub running: Option<BuildSummary>,
    /// Consecutive failures, ignoring infrastructure errors and cancellations
    /// (they say nothing about the code), up to the newest finished build.
    pub streak: Option<FailStreak>,
    /// The newest passing build (`Some(None)`: none yet), so that a build
    /// arriving late, or tied in start time, is placed without reading
    /// history. `None`: not known, for cells stored before it was kept;
    /// their next recompute fills it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "known")]
    pub last_pass: Option<Option<BuildSummary>>,
    /// Test counts of `latest`, once its JUnit results are uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_tests: Option<TestCounts>,
    /// Its builds that uploaded test results, per day. Present once one
    /// has: such a cell is judged by its tests, not by its build results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultDays>,
    /// When its builds arrive, kept at ingestion: what tells that it
    /// stopped reporting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cadence: Option<Cadence>,
    /// Judged when read, never stored: whether it stopped reporting, and
    /// since when.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_since: Option<DateTime<Utc>>,
}

/// When a cell's builds start: the newest start, and the gaps (seconds)
/// between the starts before it, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Cadence {
    pub last_start: DateTime<Utc>,
    pub gaps_s: Vec<u32>,
}

impl Cell {
    /// Whether its builds upload test results.
    pub fn is_tested(&self) -> bool {
        self.results.is_some()
    }
}

/// Builds that uploaded test results on each of a cell's latest days
/// (UTC): `runs[0]` on `last_day`, `runs[i]` `i` days before it. What a
/// test's record counts as its runs before its first failure.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ResultDays {
    pub last_day: DateTime<Utc>,
    pub runs: Vec<u32>,
}

/// How many of a build's tests passed, failed (errors included) and were
/// skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestCounts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Of the failed, tests whose history showed them flaky.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flaky: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl TestCounts {
    /// Every failing test is one known to be flaky: the build's failure is
    /// a flaky failure, not a breakage.
    pub fn only_flaky(&self) -> bool {
        self.failed > 0 && self.flaky >= self.failed
    }
}

/// A field that may be absent (unknown), `null` (known: nothing) or a value.
mod known {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        // Absent values are skipped by the field's attribute.
        value
            .as_ref()
            .and_then(Option::as_ref)
            .serialize(serializer)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

impl Cell {
    pub fn id(&self) -> CellId {
        self.cell.clone()
    }

    /// The cell within its branch.
    pub fn key(&self) -> CellKey {
        self.cell.key()
    }

    /// The state the overview shows: the newest finished result, or running
    /// when nothing has finished yet.
    pub fn status(&self) -> BuildResult {
        match (&self.latest, &self.running) {
            (Some(latest), _) => latest.result,
            (None, _) => BuildResult::Running,
        }
    }

    pub fn is_red(&self) -> bool {
        self.status() == BuildResult::Fail
    }

    /// Its newest build failed, and not only in flaky tests.
    pub fn is_broken(&self) -> bool {
        self.is_red() && !self.is_flaky_failure()
    }

    /// Its newest build failed only in tests known to be flaky: a flaky
    /// failure, shown apart and blocking no release.
    pub fn is_flaky_failure(&self) -> bool {
        self.is_red()
            && self
                .latest_tests
                .as_ref()
                .is_some_and(TestCounts::only_flaky)
    }
}

/// One cell of a branch: component, architecture and build type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CellKey {
    pub component: String,
    pub arch: String,
    pub build_type: String,
}

impl CellKey {
    pub fn new(component: &str, arch: &str, build_type: &str) -> Self {
        CellKey {
            component: component.to_string(),
            arch: arch.to_string(),
            build_type: build_type.to_string(),
        }
    }

    /// How people name a cell: "agw bazel-build arm64".
    pub fn label(&self) -> String {
        format!("{} {} {}", self.component, self.build_type, self.arch)
    }
}

/// One build as validated at ingestion, stored, and listed on history
/// pages and by `GET /api/v1/builds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Build {
    pub id: String,
    pub repository: String,
    pub commit: String,
    pub parent: Option<String>,
    /// Its cell.
    #[serde(flatten)]
    pub cell: CellId,
    pub pr: Option<u64>,
    pub result: BuildResult,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    pub runner: Option<String>,
    pub version: Option<String>,
    pub commit_title: Option<String>,
    pub author: Option<String>,
    /// The name of the token that posted it, set by the server: only that
    /// token (or an admin token) may change the build later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_by: Option<String>,
}

impl Build {
    /// Its cell within its branch.
    pub fn key(&self) -> CellKey {
        self.cell.key()
    }

    pub fn summary(&self) -> BuildSummary {
        BuildSummary {
            id: self.id.clone(),
            repository: self.repository.clone(),
            commit: self.commit.clone(),
            pr: self.pr,
            result: self.result,
            started_at: self.started_at,
            finished_at: self.finished_at,
            url: self.url.clone(),
        }
    }

    pub fn duration_minutes(&self) -> Option<f64> {
        self.finished_at
            .map(|f| (f - self.started_at).num_milliseconds() as f64 / 60_000.0)
    }
}
