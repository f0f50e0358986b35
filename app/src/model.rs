//! Types shared by the server, the JSON API and the WASM frontend.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Outcome of a build as stored. CI systems use other words for the same
/// outcomes; [`BuildResult::parse`] maps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

pub fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The current red streak of a cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailStreak {
    /// The first failing build of the streak: "failing since".
    pub since: BuildSummary,
    /// Number of failing builds in the streak.
    pub builds: u32,
}

/// One health cell's identity: the builds that are compared with each other.
/// Fields are validated at ingestion; order sorts by branch, component,
/// arch, build type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// The cell before any build arrived.
    pub fn empty_cell(&self) -> Cell {
        Cell {
            branch: self.branch.clone(),
            component: self.component.clone(),
            arch: self.arch.clone(),
            build_type: self.build_type.clone(),
            latest: None,
            running: None,
            streak: None,
            last_pass: Some(None),
            latest_tests: None,
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

/// The release page of a branch (the branch as a query parameter, as in
/// [`CellId::history_path`]).
pub fn release_path(branch: &str) -> String {
    format!("/release?branch={}", encoded(branch))
}

/// Links to GitHub, each written one way. Repositories (`owner/name`),
/// commits (hex) and PR numbers are validated at ingestion, so the URLs are
/// well formed.
pub mod github {
    pub fn commit(repository: &str, commit: &str) -> String {
        format!("https://github.com/{repository}/commit/{commit}")
    }

    pub fn compare(repository: &str, from: &str, to: &str) -> String {
        format!("https://github.com/{repository}/compare/{from}...{to}")
    }

    pub fn pull(repository: &str, pr: u64) -> String {
        format!("https://github.com/{repository}/pull/{pr}")
    }
}

/// The overview of a branch (the branch as a query parameter, like every
/// page of one branch).
pub fn overview_path(branch: &str) -> String {
    format!("/?branch={}", encoded(branch))
}

/// A path segment or query value: everything but unreserved characters
/// (RFC 3986) percent-encoded.
pub fn encoded(text: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// Precomputed health of one (branch, component, arch, build_type).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub branch: String,
    pub component: String,
    pub arch: String,
    pub build_type: String,
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
}

/// How many of a build's tests passed, failed (errors included) and were
/// skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
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
        CellId::new(&self.branch, &self.component, &self.arch, &self.build_type)
    }

    /// The cell within its branch.
    pub fn key(&self) -> CellKey {
        CellKey::new(&self.component, &self.arch, &self.build_type)
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
}

/// Per-architecture count of red cells, for the summary line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchSummary {
    pub arch: String,
    pub red: usize,
    pub cells: usize,
}

/// The overview of one branch: components × architectures, each broken
/// down by build type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthMatrix {
    pub branch: String,
    pub branches: Vec<String>,
    pub generated_at: DateTime<Utc>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub summary: Vec<ArchSummary>,
    pub cells: Vec<Cell>,
    /// Open incidents of the branch: while there is one, it is frozen.
    #[serde(default)]
    pub incidents: Vec<Incident>,
}

/// The two architectures Magma ships come first; others follow by name.
fn arch_rank(arch: &str) -> (u8, &str) {
    match arch {
        "amd64" => (0, arch),
        "arm64" => (1, arch),
        other => (2, other),
    }
}

impl HealthMatrix {
    pub fn new(
        branch: String,
        branches: Vec<String>,
        mut cells: Vec<Cell>,
        generated_at: DateTime<Utc>,
    ) -> Self {
        cells.sort_by(|a, b| {
            (
                a.component.as_str(),
                arch_rank(&a.arch),
                a.build_type.as_str(),
            )
                .cmp(&(
                    b.component.as_str(),
                    arch_rank(&b.arch),
                    b.build_type.as_str(),
                ))
        });
        let mut components: Vec<String> = cells.iter().map(|c| c.component.clone()).collect();
        components.dedup();
        let mut architectures: Vec<String> = cells.iter().map(|c| c.arch.clone()).collect();
        architectures.sort_by(|a, b| arch_rank(a).cmp(&arch_rank(b)));
        architectures.dedup();
        let summary = architectures
            .iter()
            .map(|arch| {
                let of_arch = cells.iter().filter(|c| &c.arch == arch);
                ArchSummary {
                    arch: arch.clone(),
                    red: of_arch.clone().filter(|c| c.is_red()).count(),
                    cells: of_arch.count(),
                }
            })
            .collect();
        HealthMatrix {
            branch,
            branches,
            generated_at,
            architectures,
            components,
            summary,
            cells,
            incidents: Vec::new(),
        }
    }

    /// The matrix after a live change of one cell; cells of other branches
    /// are ignored.
    pub fn with_cell(&self, cell: Cell) -> HealthMatrix {
        if cell.branch != self.branch {
            return self.clone();
        }
        let mut cells = self.cells.clone();
        match cells.iter_mut().find(|c| {
            (&c.component, &c.arch, &c.build_type)
                == (&cell.component, &cell.arch, &cell.build_type)
        }) {
            Some(slot) => *slot = cell,
            None => cells.push(cell),
        }
        HealthMatrix {
            incidents: self.incidents.clone(),
            ..HealthMatrix::new(
                self.branch.clone(),
                self.branches.clone(),
                cells,
                self.generated_at,
            )
        }
    }

    /// Cells of one component on one architecture, ordered by build type.
    pub fn cells_of(&self, component: &str, arch: &str) -> Vec<Cell> {
        self.cells
            .iter()
            .filter(|c| c.component == component && c.arch == arch)
            .cloned()
            .collect()
    }
}

/// "3h ago", relative to when the page data was made, so the server render
/// and the hydrated render produce the same text.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        0..=59 => "just now".to_string(),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_the_same_on_pages_and_in_reports() {
        assert_eq!(percent(None), "–");
        assert_eq!(percent(Some(0.0)), "0%");
        assert_eq!(percent(Some(0.5)), "50%");
        assert_eq!(percent(Some(1.0 / 3.0)), "33.3%");
        assert_eq!(percent(Some(0.9996)), "100%");
    }

    #[test]
    fn links_carry_any_legal_branch_name() {
        let cell = CellId::new("feature/a+b#1%2F", "agw", "arm64", "bazel-build");
        assert_eq!(
            cell.history_path(),
            "/history/agw/arm64/bazel-build?branch=feature%2Fa%2Bb%231%252F"
        );
        assert_eq!(release_path("v1.9/rc+1"), "/release?branch=v1.9%2Frc%2B1");
        assert_eq!(overview_path("a&b=c#d%+e"), "/?branch=a%26b%3Dc%23d%25%2Be");
    }

    /// Text from posts (branch names, versions, log URLs) cannot end the
    /// report's code spans, links or table cells.
    #[test]
    fn release_markdown_escapes_what_posts_contain() {
        let report = ReleaseReport {
            branch: "v1.8`) **x**".into(),
            repository: "magma/magma".into(),
            head: Some("a".repeat(40)),
            ready: false,
            required: 1,
            blockers: vec![Blocker {
                component: "agw".into(),
                arch: "arm64".into(),
                build_type: "bazel".into(),
                reason: BlockerReason::Failing,
                commit: None,
                since_commit: None,
                since: None,
                url: Some("https://ci.example/run(1)|x [y]".into()),
            }],
            last_green_commit: None,
            version_conflicts: vec![VersionConflict {
                version: "``1.8".into(),
                commits: vec!["b".repeat(40), "c".repeat(40)],
            }],
            generated_at: Utc::now(),
        };
        let md = report.markdown();
        assert!(md.contains("``v1.8`) **x**``: NOT READY"), "{md}");
        assert!(
            md.contains("[logs](https://ci.example/run%281%29%7Cx%20%5By%5D)"),
            "{md}"
        );
        assert!(md.contains("Version ``` ``1.8 ``` was built"), "{md}");
    }
    use chrono::TimeZone;

    fn summary(id: &str, result: BuildResult) -> BuildSummary {
        BuildSummary {
            id: id.into(),
            repository: "magma/magma".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            pr: None,
            result,
            started_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            finished_at: None,
            url: Some("javascript:alert(1)".into()),
        }
    }

    #[test]
    fn live_cells_replace_their_slot() {
        let mut pass = CellId::new("master", "agw", "arm64", "bazel").empty_cell();
        pass.latest = Some(summary("1", BuildResult::Pass));
        let matrix = HealthMatrix::new(
            "master".into(),
            vec!["master".into()],
            vec![pass.clone()],
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        );
        let mut fail = pass.clone();
        fail.latest = Some(summary("2", BuildResult::Fail));
        let live = matrix.with_cell(fail);
        assert_eq!(live.cells.len(), 1);
        assert_eq!(live.cells[0].status(), BuildResult::Fail);
        assert_eq!(live.summary[0].red, 1);

        let mut other = pass.clone();
        other.component = "feg".into();
        assert_eq!(live.with_cell(other).components, ["agw", "feg"]);
        let mut elsewhere = pass;
        elsewhere.branch = "v1.8".into();
        assert_eq!(live.with_cell(elsewhere), live);
    }

    #[test]
    fn result_aliases() {
        assert_eq!(BuildResult::parse("success"), Some(BuildResult::Pass));
        assert_eq!(BuildResult::parse("FAILURE"), Some(BuildResult::Fail));
        assert_eq!(BuildResult::parse("inconclusive"), Some(BuildResult::Error));
        assert_eq!(
            BuildResult::parse("cancelled"),
            Some(BuildResult::Cancelled)
        );
        assert_eq!(BuildResult::parse("skipped"), None);
        for r in BuildResult::ALL {
            assert_eq!(BuildResult::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn only_http_links_are_rendered() {
        assert!(summary("a", BuildResult::Pass).safe_url().is_none());
        assert!(is_http_url("HTTPS://ci.example/1"));
        assert!(is_http_url("http://ci.example/1"));
        assert!(!is_http_url("data:text/html,x"));
        assert!(!is_http_url("http"));
    }

    #[test]
    fn matrix_orders_and_counts_red_cells() {
        let mut red = CellId::new("master", "agw", "arm64", "bazel").empty_cell();
        red.latest = Some(summary("1", BuildResult::Fail));
        let mut green = CellId::new("master", "agw", "amd64", "bazel").empty_cell();
        green.latest = Some(summary("2", BuildResult::Pass));
        let mut other = CellId::new("master", "feg", "riscv64", "unit").empty_cell();
        other.latest = Some(summary("3", BuildResult::Error));
        let m = HealthMatrix::new(
            "master".into(),
            vec!["master".into()],
            vec![other, red, green],
            Utc::now(),
        );
        assert_eq!(m.architectures, ["amd64", "arm64", "riscv64"]);
        assert_eq!(m.components, ["agw", "feg"]);
        assert_eq!(
            m.summary
                .iter()
                .map(|s| (s.red, s.cells))
                .collect::<Vec<_>>(),
            [(0, 1), (1, 1), (0, 1)]
        );
        assert_eq!(m.cells_of("agw", "arm64").len(), 1);
    }

    #[test]
    fn spans_and_streaks_read_as_people_say_them() {
        assert_eq!(span(59), "59s");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(3 * 3600 + 120), "3h 2m");
        assert_eq!(span(2 * 86_400 + 3 * 3600 + 59), "2d 3h");
        assert_eq!(
            (streak_text(3), streak_text(-2), streak_text(0)),
            ("3 passing".into(), "2 failing".into(), "–".into())
        );
    }

    #[test]
    fn ago_is_relative_to_generation_time() {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now - chrono::Duration::minutes(5), now), "5m ago");
        assert_eq!(ago(now - chrono::Duration::hours(3), now), "3h ago");
        assert_eq!(ago(now - chrono::Duration::days(2), now), "2d ago");
    }
}

/// What one commit did to one cell, compared with the cell's baseline: the
/// nearest earlier build of the same cell on the same branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fails here, passed at the baseline: the headline.
    NewFailure,
    /// Fails here and already failed at the baseline: not this commit's fault.
    StillFailing,
    Fixed,
    Pass,
    Running,
    Error,
    Cancelled,
    /// A required cell with no build for this commit: not fully tested.
    Missing,
    /// The first build of the cell on the branch.
    NoBaseline,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::NewFailure => "new_failure",
            Verdict::StillFailing => "still_failing",
            Verdict::Fixed => "fixed",
            Verdict::Pass => "pass",
            Verdict::Running => "running",
            Verdict::Error => "error",
            Verdict::Cancelled => "cancelled",
            Verdict::Missing => "missing",
            Verdict::NoBaseline => "no_baseline",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::NewFailure => "newly broken",
            Verdict::StillFailing => "already failing",
            Verdict::Fixed => "fixed",
            Verdict::Pass => "passing",
            Verdict::Running => "running",
            Verdict::Error => "infra error",
            Verdict::Cancelled => "cancelled",
            Verdict::Missing => "missing",
            Verdict::NoBaseline => "first build",
        }
    }

    /// Most alarming first, for sorting the table.
    pub fn rank(self) -> u8 {
        match self {
            Verdict::NewFailure => 0,
            Verdict::StillFailing => 1,
            Verdict::Missing => 2,
            Verdict::Error => 3,
            Verdict::Running => 4,
            Verdict::Cancelled => 5,
            Verdict::Fixed => 6,
            Verdict::NoBaseline => 7,
            Verdict::Pass => 8,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellVerdict {
    pub component: String,
    pub arch: String,
    pub build_type: String,
    pub verdict: Verdict,
    pub baseline_commit: Option<String>,
    /// For `still_failing`: the commit whose build started the red streak.
    pub failing_since: Option<String>,
    /// Logs of this commit's build in the cell.
    pub url: Option<String>,
    /// Its test counts and failing tests, when JUnit results were uploaded.
    #[serde(default)]
    pub tests: Option<VerdictTests>,
}

/// Fails on one architecture and passes on another at the same commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    pub component: String,
    pub build_type: String,
    pub failing_arch: String,
    pub passing_arch: String,
    /// A test failing on one and passing on the other; none: the builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitReport {
    pub repository: String,
    pub commit: String,
    pub branch: String,
    pub pr: Option<u64>,
    pub title: Option<String>,
    pub author: Option<String>,
    pub headline: String,
    pub verdicts: Vec<CellVerdict>,
    pub divergent: Vec<Divergence>,
    /// Open incidents of the branch that name this commit a suspect.
    #[serde(default)]
    pub suspect_of: Vec<Incident>,
}

impl CommitReport {
    pub fn compare_url(&self, baseline: &str) -> String {
        github::compare(&self.repository, baseline, &self.commit)
    }
}

/// A commit matching a search, for choosing among several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCandidate {
    pub commit: String,
    pub branch: String,
    pub pr: Option<u64>,
    pub title: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// The answer to a commit search: one report, or the candidates to pick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommitLookup {
    Report(Box<CommitReport>),
    Candidates(Vec<CommitCandidate>),
}

/// Why a required cell blocks a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockerReason {
    Failing,
    Running,
    /// An infrastructure error or a cancellation: rerun it.
    Inconclusive,
    /// No build at all in this cell on the branch.
    Missing,
    /// Green only on an older commit than the head.
    Stale,
}

impl BlockerReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockerReason::Failing => "failing",
            BlockerReason::Running => "running",
            BlockerReason::Inconclusive => "inconclusive",
            BlockerReason::Missing => "missing",
            BlockerReason::Stale => "stale",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    pub component: String,
    pub arch: String,
    pub build_type: String,
    pub reason: BlockerReason,
    /// The commit of the build that decides the reason (the head's build,
    /// or the older green one when stale).
    pub commit: Option<String>,
    /// For failures: the first failing build of the streak.
    pub since_commit: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub url: Option<String>,
}

/// One package version reported by builds of several commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionConflict {
    pub version: String,
    pub commits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseReport {
    pub branch: String,
    pub repository: String,
    /// Newest commit with builds on the branch.
    pub head: Option<String>,
    pub ready: bool,
    pub required: usize,
    pub blockers: Vec<Blocker>,
    pub last_green_commit: Option<String>,
    pub version_conflicts: Vec<VersionConflict>,
    pub generated_at: DateTime<Utc>,
}

impl ReleaseReport {
    /// The readiness report for a release note or an issue comment.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "## Release readiness of {}: {}\n\n",
            code_span(&self.branch),
            if self.ready { "READY" } else { "NOT READY" }
        );
        match &self.head {
            Some(head) => out.push_str(&format!(
                "Head: [`{}`]({}); {} required builds.\n",
                short_sha(head),
                github::commit(&self.repository, head),
                self.required
            )),
            None => out.push_str("No builds on this branch yet.\n"),
        }
        if let Some(green) = &self.last_green_commit {
            out.push_str(&format!(
                "Last fully green commit: [`{}`]({}).\n",
                short_sha(green),
                github::commit(&self.repository, green)
            ));
        }
        if !self.blockers.is_empty() {
            out.push_str("\n| component | arch | build type | blocker | since | logs |\n");
            out.push_str("| --- | --- | --- | --- | --- | --- |\n");
            for b in &self.blockers {
                let since = b.since_commit.as_deref().map(short_sha).unwrap_or("");
                let logs = b
                    .url
                    .as_deref()
                    .filter(|u| is_http_url(u))
                    .map(|u| format!("[logs]({})", link_destination(u)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {since} | {logs} |\n",
                    b.component,
                    b.arch,
                    b.build_type,
                    b.reason.as_str()
                ));
            }
        }
        for c in &self.version_conflicts {
            out.push_str(&format!(
                "\nVersion {} was built from {} different commits ({}): bump the version.\n",
                code_span(&c.version),
                c.commits.len(),
                c.commits
                    .iter()
                    .map(|s| short_sha(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }
}

/// `text` as a Markdown code span that nothing in it can end: the fence is
/// one backtick longer than the longest run of backticks inside.
pub fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A URL as a Markdown link destination inside a table row: characters that
/// would end the link, the row or the cell are percent-encoded.
fn link_destination(url: &str) -> String {
    const ENDS: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'(')
        .add(b')')
        .add(b'<')
        .add(b'>')
        .add(b'[')
        .add(b']')
        .add(b'`')
        .add(b'|');
    percent_encoding::utf8_percent_encode(url, ENDS).to_string()
}

/// A release branch in the `/releases` index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSummary {
    pub branch: String,
    pub head: Option<String>,
    pub ready: bool,
    pub blockers: usize,
}

/// One cell of a branch: component, architecture and build type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Resolved,
}

/// A breakage on a watched branch: cells whose red streaks began at the
/// same commit and reached the opening threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub branch: String,
    pub state: IncidentState,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Every cell that joined, in the order they did.
    pub cells: Vec<CellKey>,
    /// The cells still red; the incident resolves when none is.
    pub red: Vec<CellKey>,
    pub first_bad_commit: String,
    /// The commit of the last pass before the streak, of the first cell.
    pub last_good_commit: Option<String>,
    /// The commits after the last good one up to and including the first
    /// bad one, newest first, through the posted `parent` chain.
    #[serde(default)]
    pub suspects: Vec<Suspect>,
    /// False when the parent chain broke (or was too long) before reaching
    /// the last good commit: the suspects are then what is known.
    #[serde(default)]
    pub suspects_complete: bool,
    /// `https://github.com/<repo>/compare/<last good>...<first bad>`.
    #[serde(default)]
    pub compare_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Passed,
    Failed,
    Error,
    Skipped,
}

impl TestStatus {
    pub fn is_failure(self) -> bool {
        matches!(self, TestStatus::Failed | TestStatus::Error)
    }
}

/// One test case of a build, as its JUnit XML reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
pub struct TestTotals {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub duration_s: f64,
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
        }
    }

    pub fn add(&mut self, other: &TestTotals) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.errors += other.errors;
        self.skipped += other.skipped;
        self.duration_s += other.duration_s;
    }
}

/// A failing test of a build, kept apart from the build's full results so
/// pages read failures without reading every passing test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// `GET /api/v1/builds/<id>/tests`: failures first, then by suite and name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildTests {
    pub totals: TestTotals,
    pub tests: Vec<TestCase>,
    pub next_cursor: Option<String>,
}

/// What a failing test means against its cell's baseline build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestVerdict {
    /// It passed (or did not fail) in the baseline build.
    NewFailure,
    /// It failed in the baseline build too.
    StillFailing,
    /// It passed and failed on this very commit.
    Flaky,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingTest {
    pub name: String,
    pub verdict: TestVerdict,
    pub since_commit: String,
    pub message: Option<String>,
}

/// A verdict's test counts and failing tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictTests {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failing: Vec<FailingTest>,
}

/// One run of a test in its cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    pub build: String,
    pub commit: String,
    pub status: TestStatus,
    /// The build's start.
    pub at: DateTime<Utc>,
}

/// A test's runs, failures and flips on one day (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestDay {
    pub day: DateTime<Utc>,
    pub runs: u32,
    pub failures: u32,
    pub flips: u32,
}

/// A test's record in one cell, kept from its first failure there on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestStats {
    pub branch: String,
    pub component: String,
    pub arch: String,
    pub build_type: String,
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
}

/// A test of the flaky ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlakyTest {
    pub component: String,
    pub arch: String,
    pub build_type: String,
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
        test_history_path(branch, &self.component, &self.build_type, &self.name)
    }
}

/// `/test/<branch>/<component>/<build_type>?name=<test>`.
pub fn test_history_path(branch: &str, component: &str, build_type: &str, name: &str) -> String {
    format!(
        "/test/{}/{}/{}?name={}",
        encoded(branch),
        encoded(component),
        encoded(build_type),
        encoded(name)
    )
}

/// The flaky-tests page of a branch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlakyTests {
    pub branch: String,
    pub days: u32,
    pub tests: Vec<FlakyTest>,
}

/// One test's history page: its record on each architecture that ran it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestHistory {
    pub branch: String,
    pub component: String,
    pub build_type: String,
    pub name: String,
    pub archs: Vec<TestStats>,
}

/// One cell's line of the CI health report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellReport {
    pub component: String,
    pub arch: String,
    pub build_type: String,
    pub builds: usize,
    /// pass ÷ (pass + fail + error), cancelled excluded; none without builds
    /// that say so.
    pub success_rate: Option<f64>,
    /// The longest time the cell stayed red in the window, in seconds.
    pub longest_breakage_s: Option<i64>,
    /// Consecutive passes (positive) or failures (negative) up to now.
    pub current_streak: i64,
}

/// A length of time as people say it: "2d 3h", "5h 10m", "12m", "40s".
/// A rate as pages and reports write it: "50%", "33.3%", "–" for none.
/// Integer formatting on purpose: `{:.1}` on a float would pull Rust's float
/// printing (about 20 KB) into the WASM bundle.
pub fn percent(ratio: Option<f64>) -> String {
    let Some(ratio) = ratio else {
        return "–".to_string();
    };
    let tenths = (ratio * 1000.0).round() as i64;
    match tenths % 10 {
        0 => format!("{}%", tenths / 10),
        tenth => format!("{}.{tenth}%", tenths / 10),
    }
}

pub fn span(seconds: i64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A report's current streak: "3 passing", "2 failing".
pub fn streak_text(streak: i64) -> String {
    match streak {
        0 => "–".into(),
        n if n > 0 => format!("{n} passing"),
        n => format!("{} failing", -n),
    }
}

/// One week of the report's window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeekReport {
    pub start: DateTime<Utc>,
    pub builds: usize,
    pub success_rate: Option<f64>,
    pub incidents_opened: usize,
}

/// p017's CI health table for a branch over a window of days.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub branch: String,
    pub days: u32,
    pub since: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// False when the window held more builds than a report reads.
    pub complete: bool,
    pub commits: usize,
    /// Commits whose every required cell passed.
    pub deployable_commits: usize,
    /// The release config's required cells; empty: every cell counts.
    pub required: Vec<CellKey>,
    pub incidents_opened: usize,
    pub median_resolve_s: Option<i64>,
    pub cells: Vec<CellReport>,
    pub weeks: Vec<WeekReport>,
    /// The tests that failed most in the window (from JUnit uploads).
    #[serde(default)]
    pub failing_tests: Vec<ReportTest>,
    pub markdown: String,
}

/// A test of the report's "most failing tests".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTest {
    pub component: String,
    pub arch: String,
    pub build_type: String,
    pub name: String,
    pub failures: u32,
    pub runs: u32,
}

/// The report with its server-drawn charts, for its page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportView {
    pub report: HealthReport,
    /// SVG (plotters); they contain no user strings.
    pub success_chart: String,
    pub incidents_chart: String,
}

/// What a webhook is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotifyEvent {
    #[serde(rename = "incident.opened")]
    Opened,
    #[serde(rename = "incident.resolved")]
    Resolved,
}

impl NotifyEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Opened => "incident.opened",
            NotifyEvent::Resolved => "incident.resolved",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Given up: the receiver refused it or never answered in every attempt.
    Failed,
}

/// One event for one webhook, queued in the store with the incident change
/// that caused it, and its attempts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub incident: String,
    pub event: NotifyEvent,
    /// Which configured webhook: a digest of its URL, which may hold a secret.
    pub webhook: String,
    /// The webhook's host, to show.
    pub target: String,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    /// When it is tried next, while pending.
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// The delivery as anyone may see it: which webhook by a short digest,
    /// not its host, and no error text (it can name internal hosts and
    /// addresses). Token holders read the rest through the API.
    pub fn public(self) -> Delivery {
        Delivery {
            target: format!(
                "webhook {}",
                self.webhook.chars().take(8).collect::<String>()
            ),
            last_error: None,
            ..self
        }
    }
}

/// An incident with the notifications it caused, for its page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub deliveries: Vec<Delivery>,
    /// The failing tests of each cell's build at the first bad commit, where
    /// it uploaded JUnit results.
    #[serde(default)]
    pub failing_tests: Vec<CellTestFailures>,
}

/// A cell's failing tests at one commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellTestFailures {
    pub cell: CellKey,
    pub tests: Vec<String>,
}

/// A commit that may have caused an incident, with what builds said of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspect {
    pub commit: String,
    pub pr: Option<u64>,
    pub title: Option<String>,
    pub author: Option<String>,
}

/// Whether merges to a branch should wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub branch: String,
    pub frozen: bool,
    pub reason: Option<String>,
    /// Open incidents that freeze it.
    pub incidents: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    /// The latest manual freeze or unfreeze, if any: who, why, when.
    #[serde(default)]
    pub manual: Option<FreezeEvent>,
}

/// A person (through a token) freezing or unfreezing a branch by hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeEvent {
    pub branch: String,
    pub frozen: bool,
    pub reason: String,
    /// The token's name.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// One build as validated at ingestion, stored, and listed on history
/// pages and by `GET /api/v1/builds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub id: String,
    pub repository: String,
    pub commit: String,
    pub parent: Option<String>,
    pub branch: String,
    pub pr: Option<u64>,
    pub component: String,
    pub arch: String,
    pub build_type: String,
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
    pub fn cell(&self) -> CellId {
        CellId::new(&self.branch, &self.component, &self.arch, &self.build_type)
    }

    /// Its cell within its branch.
    pub fn key(&self) -> CellKey {
        CellKey::new(&self.component, &self.arch, &self.build_type)
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

/// How a cell behaved over a window of days.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CellStats {
    pub days: u32,
    pub builds: usize,
    pub passes: usize,
    pub failures: usize,
    /// Infrastructure errors, counted apart from real failures.
    pub errors: usize,
    pub cancelled: usize,
    /// passes / (passes + failures); `None` without any.
    pub pass_rate: Option<f64>,
    /// Commits with both a pass and a fail: flaky evidence.
    pub flaky_commits: Vec<String>,
    /// Commits with at least one pass or fail.
    pub tested_commits: usize,
    pub flaky_rate: Option<f64>,
    pub median_minutes: Option<f64>,
}

/// The history page of one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryView {
    pub branch: String,
    pub component: String,
    pub arch: String,
    pub build_type: String,
    pub builds: Vec<Build>,
    pub next_cursor: Option<String>,
    pub stats: CellStats,
    /// Server-drawn SVG charts (plotters); they contain no user strings.
    pub pass_rate_chart: String,
    pub duration_chart: String,
    pub generated_at: DateTime<Utc>,
}

impl HistoryView {
    pub fn cell(&self) -> CellId {
        CellId::new(&self.branch, &self.component, &self.arch, &self.build_type)
    }
}
