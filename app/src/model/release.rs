//! Release readiness: what blocks a release branch, and its Markdown report.

use super::cell::CellKey;
use super::display::*;
use super::links::*;
use super::markdown::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a required cell blocks a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Blocker {
    /// Its cell within the branch.
    #[serde(flatten)]
    pub cell: CellKey,
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VersionConflict {
    pub version: String,
    pub commits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// Required cells that stopped reporting: their results may be old.
    #[serde(default)]
    pub stale: Vec<StaleCell>,
    pub generated_at: DateTime<Utc>,
}

/// A cell that stopped reporting, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StaleCell {
    #[serde(flatten)]
    pub cell: CellKey,
    pub last_build: DateTime<Utc>,
    pub stale_since: DateTime<Utc>,
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
                    b.cell.component,
                    b.cell.arch,
                    b.cell.build_type,
                    b.reason.as_str()
                ));
            }
        }
        for c in &self.stale {
            out.push_str(&format!(
                "\nStale: {} has not reported since {}: {}.\n",
                c.cell.label(),
                c.last_build.date_naive(),
                stale_text(Some(c.last_build), self.generated_at)
            ));
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

/// A release branch in the `/releases` index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReleaseSummary {
    pub branch: String,
    pub head: Option<String>,
    pub ready: bool,
    pub blockers: usize,
}
