//! Incidents, their suspects, the notifications they send, the merge freeze.

use super::cell::*;
use super::test_results::{FailureReason, KnownIssueMatch};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Resolved,
}

/// A breakage on a watched branch: cells (or, in cells that upload test
/// results, tests) whose red streaks began at the same commit and reached
/// the opening threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// Every test that joined, in cells judged by their tests.
    #[serde(default)]
    pub tests: Vec<IncidentTest>,
    /// The tests still failing; a cell stays red while one of its tests is.
    #[serde(default)]
    pub red_tests: Vec<IncidentTest>,
    /// Who is on it, and whether its notifications are held back.
    #[serde(flatten)]
    pub triage: Triage,
}

/// What people did about an incident.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Triage {
    /// The latest acknowledgement, with who it is assigned to and its issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
    /// No notification until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_until: Option<DateTime<Utc>>,
    /// No notification for so many more changes of the incident (a cell
    /// or test joining or clearing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_changes: Option<u32>,
    /// Every acknowledgement, assignment, link and silence, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<IncidentNote>,
}

impl Triage {
    /// Whether a notification at `at` is held back.
    pub fn silenced(&self, at: DateTime<Utc>) -> bool {
        self.silenced_until.is_some_and(|until| at < until)
            || self.silenced_changes.is_some_and(|n| n > 0)
    }
}

/// An incident acknowledged: by whom, when, and what they said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Ack {
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
    pub assignee: Option<String>,
    pub issue_url: Option<String>,
}

/// One line of an incident's timeline that a person wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IncidentNote {
    pub at: DateTime<Utc>,
    pub by: String,
    /// "acknowledged: <note>", "assigned to <who>", "linked to <url>",
    /// "silenced until <time>", "silenced for <n> changes".
    pub what: String,
}

/// A test of an incident, in its cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IncidentTest {
    /// Its cell within the branch.
    #[serde(flatten)]
    pub cell: CellKey,
    pub name: String,
}

impl IncidentTest {
    pub fn new(cell: &CellKey, name: &str) -> Self {
        IncidentTest {
            cell: cell.clone(),
            name: name.to_string(),
        }
    }
}

/// What a webhook is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum NotifyEvent {
    #[serde(rename = "incident.opened")]
    Opened,
    #[serde(rename = "incident.resolved")]
    Resolved,
    /// A cell of a watched branch stopped reporting.
    #[serde(rename = "cell.stale")]
    CellStale,
    /// A stale cell reports again.
    #[serde(rename = "cell.reporting")]
    CellReporting,
    /// A build's state set as a commit status on GitHub.
    #[serde(rename = "commit.status")]
    CommitStatus,
}

impl NotifyEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Opened => "incident.opened",
            NotifyEvent::Resolved => "incident.resolved",
            NotifyEvent::CellStale => "cell.stale",
            NotifyEvent::CellReporting => "cell.reporting",
            NotifyEvent::CommitStatus => "commit.status",
        }
    }
}

/// What a message about a cell that went quiet (or reports again) says:
/// the cell, when its last build before the silence started, and since
/// when it is stale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CellNotice {
    #[serde(flatten)]
    pub cell: CellId,
    pub last_build: DateTime<Utc>,
    pub stale_since: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Given up: the receiver refused it or never answered in every attempt.
    Failed,
    /// Not sent: a newer state of the same thing was queued after it
    /// (a commit status whose build has finished since).
    Superseded,
}

/// A commit status to set on GitHub: the build whose change queued it, as
/// it was then. What is sent is the status of its context when it is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StatusNotice {
    pub repository: String,
    pub commit: String,
    /// The build's cell, with its branch (whose verdicts the status tells).
    #[serde(flatten)]
    pub cell: CellId,
    /// `ci-dashboard/<component>/<arch>/<build_type>`, or a grouping of it.
    pub context: String,
    pub build: String,
    pub result: BuildResult,
}

/// One event for one webhook, queued in the store with the incident change
/// that caused it, and its attempts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// The cell a `cell.*` event is about (its `incident` then names the
    /// cell, not an incident).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<CellNotice>,
    /// The commit status a `commit.status` event sets (its `incident`
    /// then names the commit and context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusNotice>,
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CellTestFailures {
    pub cell: CellKey,
    pub tests: Vec<String>,
    /// The same tests grouped by their failure's reason.
    #[serde(default)]
    pub reasons: Vec<ReasonGroup>,
}

/// Failing tests that share a reason, and the known issue tied to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReasonGroup {
    pub reason: FailureReason,
    pub tests: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_issue: Option<KnownIssueMatch>,
}

/// A commit that may have caused an incident, with what builds said of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Suspect {
    pub commit: String,
    pub pr: Option<u64>,
    pub title: Option<String>,
    pub author: Option<String>,
}

/// Whether merges to a branch should wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FreezeEvent {
    pub branch: String,
    pub frozen: bool,
    pub reason: String,
    /// The token's name.
    pub by: String,
    pub at: DateTime<Utc>,
}
