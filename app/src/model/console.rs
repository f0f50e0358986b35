//! The console: a branch's latest commits (rows) against its builds
//! (columns), as the dashboard this one replaces showed them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::cell::{BuildResult, CellKey};
use super::links::{encoded, is_http_url};

/// Commits one console page shows unless asked for fewer.
pub const CONSOLE_PAGE: usize = 50;
/// Commits one console page shows at most.
pub const MAX_CONSOLE_PAGE: usize = 100;

/// The console's parameters as a URL gives them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsoleParams {
    pub branch: Option<String>,
    pub component: Option<String>,
    pub arch: Option<String>,
    pub only: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

/// What the grid is narrowed to, from the page's URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsoleFilter {
    pub component: Option<String>,
    pub arch: Option<String>,
    /// Only columns with a failure on the page.
    pub only_failing: bool,
}

impl ConsoleFilter {
    pub fn admits(&self, column: &CellKey) -> bool {
        self.component
            .as_ref()
            .is_none_or(|c| *c == column.component)
            && self.arch.as_ref().is_none_or(|a| *a == column.arch)
    }
}

/// One column: a cell of the branch, and whether it stopped reporting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsoleColumn {
    #[serde(flatten)]
    pub cell: CellKey,
    /// Since when its cell is stale, and when its newest build started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_build: Option<DateTime<Utc>>,
}

/// One build in a grid cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsoleResult {
    pub id: String,
    pub result: BuildResult,
    /// A failure only in tests known to be flaky.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
    /// Its log, when it is an http(s) link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl ConsoleResult {
    /// How the grid shows it: a word for CSS and accessible names.
    pub fn state(&self) -> &'static str {
        match (self.result, self.flaky) {
            (BuildResult::Fail, true) => "flaky",
            (result, _) => result.as_str(),
        }
    }

    pub fn label(&self) -> &'static str {
        match (self.result, self.flaky) {
            (BuildResult::Fail, true) => "flaky failure",
            (BuildResult::Fail, false) => "failed",
            (BuildResult::Pass, _) => "passed",
            (BuildResult::Error, _) => "infra error",
            (BuildResult::Running, _) => "running",
            (BuildResult::Cancelled, _) => "cancelled",
        }
    }

    pub fn icon(&self) -> &'static str {
        match (self.result, self.flaky) {
            (BuildResult::Fail, true) => "≈",
            (result, _) => result.icon(),
        }
    }

    pub fn safe_url(&self) -> Option<&str> {
        self.url.as_deref().filter(|u| is_http_url(u))
    }
}

/// One row: a commit and its builds, one list per column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsoleCommit {
    pub commit: String,
    pub repository: String,
    pub pr: Option<u64>,
    pub title: Option<String>,
    pub author: Option<String>,
    /// When its newest build started: what orders the rows.
    pub at: DateTime<Utc>,
    /// Per column, in column order, its builds newest first.
    pub results: Vec<Vec<ConsoleResult>>,
}

/// Whether a commit's builds in one column disagree: a rerun that passed
/// what another run failed (or the reverse) is how flakiness looks here.
pub fn disagree(results: &[ConsoleResult]) -> bool {
    let finished = |r: &&ConsoleResult| matches!(r.result, BuildResult::Pass | BuildResult::Fail);
    let mut outcomes = results.iter().filter(finished).map(|r| r.result);
    outcomes
        .next()
        .is_some_and(|first| outcomes.any(|other| other != first))
}

/// An open incident on the grid: its columns and commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsoleIncident {
    pub id: String,
    /// Indexes into the console's columns.
    pub columns: Vec<usize>,
    pub first_bad_commit: String,
    /// The commits that may have broken it, newest first.
    pub suspects: Vec<String>,
}

impl ConsoleIncident {
    /// How the incident marks a grid cell, if it does.
    pub fn mark(&self, column: usize, commit: &str) -> Option<&'static str> {
        if !self.columns.contains(&column) {
            return None;
        }
        if self.first_bad_commit == commit {
            Some("first-bad")
        } else if self.suspects.iter().any(|s| s == commit) {
            Some("suspect")
        } else {
            None
        }
    }
}

/// A page of the console.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Console {
    pub branch: String,
    pub columns: Vec<ConsoleColumn>,
    pub commits: Vec<ConsoleCommit>,
    pub incidents: Vec<ConsoleIncident>,
    /// The cursor of the next older page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
    /// The page's own filter, so its links keep it.
    #[serde(default)]
    pub filter: ConsoleFilter,
    /// Whether this is an older page (not following new commits).
    #[serde(default)]
    pub older: bool,
    /// Every component and architecture of the branch, for the filters.
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    pub generated_at: DateTime<Utc>,
}

impl Console {
    /// The mark of the first incident that marks a grid cell.
    pub fn mark(&self, column: usize, commit: &str) -> Option<&'static str> {
        self.incidents.iter().find_map(|i| i.mark(column, commit))
    }
}

/// The console of a branch, narrowed by `filter`, from `before` on.
pub fn console_path(branch: &str, filter: &ConsoleFilter, before: Option<&str>) -> String {
    let mut path = format!("/console?branch={}", encoded(branch));
    if let Some(component) = &filter.component {
        path.push_str(&format!("&component={}", encoded(component)));
    }
    if let Some(arch) = &filter.arch {
        path.push_str(&format!("&arch={}", encoded(arch)));
    }
    if filter.only_failing {
        path.push_str("&only=failing");
    }
    if let Some(before) = before {
        path.push_str(&format!("&before={}", encoded(before)));
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(result: BuildResult, flaky: bool) -> ConsoleResult {
        ConsoleResult {
            id: "b".into(),
            result,
            flaky,
            url: None,
        }
    }

    #[test]
    fn reruns_disagree_when_a_pass_and_a_failure_meet() {
        use BuildResult::*;
        assert!(disagree(&[result(Pass, false), result(Fail, true)]));
        assert!(!disagree(&[result(Fail, false), result(Fail, false)]));
        // Infrastructure errors and runs in progress say nothing.
        assert!(!disagree(&[result(Pass, false), result(Error, false)]));
        assert!(!disagree(&[result(Running, false), result(Pass, false)]));
        assert!(!disagree(&[]));
    }

    #[test]
    fn a_flaky_failure_looks_apart() {
        let flaky = result(BuildResult::Fail, true);
        assert_eq!(
            (flaky.state(), flaky.label(), flaky.icon()),
            ("flaky", "flaky failure", "≈")
        );
        assert_eq!(result(BuildResult::Fail, false).state(), "fail");
    }

    #[test]
    fn links_keep_the_filter() {
        let filter = ConsoleFilter {
            component: Some("agw".into()),
            arch: None,
            only_failing: true,
        };
        assert_eq!(
            console_path("release/v1.8", &filter, Some("17:abc")),
            "/console?branch=release%2Fv1.8&component=agw&only=failing&before=17%3Aabc"
        );
    }

    #[test]
    fn incidents_mark_their_columns_only() {
        let incident = ConsoleIncident {
            id: "i".into(),
            columns: vec![1],
            first_bad_commit: "c3".into(),
            suspects: vec!["c3".into(), "c2".into()],
        };
        assert_eq!(incident.mark(1, "c3"), Some("first-bad"));
        assert_eq!(incident.mark(1, "c2"), Some("suspect"));
        assert_eq!(incident.mark(0, "c3"), None);
        assert_eq!(incident.mark(1, "c1"), None);
    }
}
