//! A commit's page: each cell's verdict against its baseline, search results.

use super::cell::CellKey;
use super::incident::Incident;
use super::links::*;
use super::test_results::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What one commit did to one cell, compared with the cell's baseline: the
/// nearest earlier build of the same cell on the same branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fails here, passed at the baseline: the headline.
    NewFailure,
    /// Fails here and already failed at the baseline: not this commit's fault.
    StillFailing,
    /// Fails here only in tests known to be flaky: no failure of the code.
    FlakyFailure,
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
            Verdict::FlakyFailure => "flaky_failure",
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
            Verdict::FlakyFailure => "flaky failure",
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
            Verdict::FlakyFailure => 4,
            Verdict::Running => 5,
            Verdict::Cancelled => 6,
            Verdict::Fixed => 7,
            Verdict::NoBaseline => 8,
            Verdict::Pass => 9,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CellVerdict {
    /// Its cell within the branch.
    #[serde(flatten)]
    pub cell: CellKey,
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CommitCandidate {
    pub commit: String,
    pub branch: String,
    pub pr: Option<u64>,
    pub title: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// The answer to a commit search: one report, or the candidates to pick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum CommitLookup {
    Report(Box<CommitReport>),
    Candidates(Vec<CommitCandidate>),
}
