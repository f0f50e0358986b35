//! Storage behind one trait, so the embedded store and Firestore are
//! interchangeable and pass the same conformance suite.

#[cfg(test)]
mod conformance;
pub mod embedded;
pub mod firestore;
pub mod plan;
pub mod upload;
pub mod walk;

pub use crate::domain::console::CommitBuilds;
pub use app::model::CellId;
use std::collections::HashMap;

use app::model::{
    BuildResult, BuildSummary, Cell, CommitCandidate, Delivery, FreezeEvent, Incident, KnownIssue,
    QuarantinedTest, ReasonRecord, TestCase, TestFailure, TestRun, TestStats, TestTotals,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::domain::field_error::FieldError;
use crate::domain::incident::Change;
use crate::domain::notification::WebhookRef;
use crate::domain::quarantine::{self, QuarantineChange};
use crate::domain::reason::ReasonUpdate;
use crate::domain::signal::SignalRules;
pub use crate::domain::token::{Grants, TokenRecord};
use app::model::Build;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take reads or writes right now; retrying later is
    /// the right answer.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A posted build contradicts what is stored.
    #[error("{message}")]
    Conflict {
        index: usize,
        field: &'static str,
        message: String,
    },
    /// A write was sent but not confirmed in time: it may be stored.
    #[error("{0}; the write may still be stored: repeating it (same ids) is safe")]
    Unconfirmed(String),
    #[error("a token named '{0}' already exists")]
    TokenExists(String),
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

/// A value stored as JSON text (a row's or a document's `doc` field), read
/// back; what cannot be read is corrupt, not a reason to retry.
pub(crate) fn from_doc<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A value as the JSON text both stores keep.
pub(crate) fn to_doc<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Builds as stored, newest or oldest first as each query says.
pub type Builds = Result<Vec<Build>, StoreError>;
/// Commits and their builds, newest commit first.
pub type CommitsWithBuilds = Result<Vec<CommitBuilds>, StoreError>;

/// Position in a branch's commits, newest first: the last commit of the
/// previous page. Commits started at the same time are ordered by SHA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitCursor {
    pub at: DateTime<Utc>,
    pub commit: String,
}

impl CommitCursor {
    /// Where the page after this commit starts.
    pub fn after(commit: &CommitBuilds) -> Self {
        CommitCursor {
            at: commit.last_started_at,
            commit: commit.commit.clone(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}:{}", self.at.timestamp_micros(), self.commit)
    }

    /// A cursor this server could have issued: a time and a commit SHA.
    pub fn decode(text: &str) -> Option<Self> {
        let (micros, commit) = text.split_once(':')?;
        Some(CommitCursor {
            at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            commit: crate::domain::ids::CommitSha::parse("before", commit)
                .ok()?
                .into_string(),
        })
    }
}

/// Commits found by a search, newest first.
pub type Candidates = Result<Vec<CommitCandidate>, StoreError>;
/// What a health cell keeps of builds, newest first.
pub type Summaries = Result<Vec<BuildSummary>, StoreError>;

/// What an ingestion did, for the 201/200 distinction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub ids: Vec<String>,
    /// False when every build was an identical replay.
    pub changed: bool,
    /// The cells the post moved, as they were before it and are now.
    pub moves: Vec<CellMove>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellMove {
    pub before: Option<Cell>,
    pub after: Cell,
}

/// Test records one upload may change at most: its failures first, then
/// tests already recorded in the cell.
pub const MAX_TOUCHED_STATS: usize = 200;

/// One JUnit file's results for a build, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TestUpload {
    pub build: String,
    /// The build's cell, commit and start: where and when its tests ran.
    pub cell: CellId,
    pub commit: String,
    pub at: DateTime<Utc>,
    /// Digest of the file: the same file again is a replay.
    pub hash: String,
    pub tests: usize,
    pub cases: Vec<TestCase>,
    /// Each test once, a case the file repeats collapsed into one outcome
    /// ([`crate::domain::junit::collapse`]): what the cell's records count.
    pub per_test: Vec<TestCase>,
    /// Its failing tests, each with where it began failing.
    pub failures: Vec<TestFailure>,
    pub totals: TestTotals,
    /// The file says more about the machines than the code: it counts in
    /// the build's results but in no test's record.
    pub infrastructure: bool,
    /// How its failures are judged flaky, from each test's record.
    pub rules: SignalRules,
}

impl TestUpload {
    /// Each test as one run in the cell.
    pub fn runs(&self) -> Vec<(String, TestRun)> {
        self.per_test
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    TestRun {
                        build: self.build.clone(),
                        commit: self.commit.clone(),
                        status: c.status,
                        at: self.at,
                    },
                )
            })
            .collect()
    }
}

/// A test record before and after an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct TestMove {
    pub before: Option<TestStats>,
    pub after: TestStats,
}

/// What an upload changed that incidents follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadOutcome {
    pub moves: Vec<TestMove>,
    /// The cell as it was, when this upload made it a cell judged by its
    /// tests.
    pub became_tested: Option<Cell>,
}

/// Filters of a build listing; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFilter {
    pub branch: Option<String>,
    pub component: Option<String>,
    pub arch: Option<String>,
    pub build_type: Option<String>,
    pub result: Option<BuildResult>,
    /// Only builds started at or after this time.
    pub since: Option<DateTime<Utc>>,
}

impl BuildFilter {
    /// Listings answer from an index, so a page costs what it returns, not
    /// what history holds: everything, one branch, one cell, or one result.
    /// Other shapes are refused, naming the parameter to add or drop.
    pub fn check_indexed(&self) -> Result<(), FieldError> {
        let cell = [
            ("branch", self.branch.is_some()),
            ("component", self.component.is_some()),
            ("arch", self.arch.is_some()),
            ("build_type", self.build_type.is_some()),
        ];
        let names = cell[1..].iter().any(|(_, given)| *given);
        if names {
            if let Some((missing, _)) = cell.iter().find(|(_, given)| !given) {
                return Err(FieldError::field(
                    missing,
                    "component, arch and build_type select one cell: give branch, component, \
                     arch and build_type together",
                ));
            }
        }
        if self.result.is_some() && cell.iter().any(|(_, given)| *given) {
            return Err(FieldError::field(
                "result",
                "result lists builds of every branch and cell: use it alone",
            ));
        }
        Ok(())
    }
}

/// Position in a newest-first listing: the last build of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub started_at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    pub fn at(build: &BuildSummary) -> Self {
        Cursor {
            started_at: build.started_at,
            id: build.id.clone(),
        }
    }

    pub fn of(build: &Build) -> Self {
        Cursor {
            started_at: build.started_at,
            id: build.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}:{}", self.started_at.timestamp_micros(), self.id)
    }

    /// A cursor this server could have issued: a time and a valid build id
    /// (so its length is bounded too).
    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once(':')?;
        crate::domain::ids::check_build_id(id).ok()?;
        Some(Cursor {
            started_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.to_string(),
        })
    }
}

/// Which builds of a cell a [`CellScan`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKind {
    Running,
    /// Any result but running.
    Finished,
    /// Pass or fail: the results that say something about the code.
    Decisive,
}

impl ScanKind {
    pub fn admits(self, result: BuildResult) -> bool {
        match self {
            ScanKind::Running => result == BuildResult::Running,
            ScanKind::Finished => result.is_finished(),
            ScanKind::Decisive => matches!(result, BuildResult::Pass | BuildResult::Fail),
        }
    }
}

/// One page of a cell's builds, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellScan {
    pub kind: ScanKind,
    /// Only builds of this commit.
    pub commit: Option<String>,
    /// Only builds strictly older than this one.
    pub below: Option<Cursor>,
    pub limit: usize,
}

/// Who posts: a token, or the operator at the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poster {
    Token { name: String, admin: bool },
    Operator,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores the builds and updates their health cells atomically: either
    /// all of them are durable when this returns `Ok`, or none is. A build
    /// another token posted is changed only by an admin poster.
    async fn ingest_as(
        &self,
        builds: Vec<Build>,
        poster: &Poster,
    ) -> Result<IngestOutcome, StoreError>;

    /// Ingestion by the server's own operator (imports, demo data).
    async fn ingest(&self, builds: Vec<Build>) -> Result<IngestOutcome, StoreError> {
        self.ingest_as(builds, &Poster::Operator).await
    }

    /// The precomputed cells of one branch; never reads build history.
    async fn cells(&self, branch: &str) -> Result<Vec<Cell>, StoreError>;

    /// Branches that have at least one cell.
    async fn branches(&self) -> Result<Vec<String>, StoreError>;

    async fn build(&self, id: &str) -> Result<Option<Build>, StoreError>;

    /// Commits whose SHA starts with `prefix` (one entry per branch), newest
    /// first, at most `limit`.
    async fn commits_by_prefix(&self, prefix: &str, limit: usize) -> Candidates;

    async fn commits_by_pr(&self, pr: u64, limit: usize) -> Candidates;

    async fn builds_of_commit(&self, commit: &str) -> Builds;

    /// Builds of one cell, newest first: the one history primitive that
    /// baselines and recomputes ([`walk`]) are written over.
    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries;

    /// The builds of the `limit` newest commits of a branch after `before`,
    /// newest first: one read of the commit index and one per commit,
    /// whatever the history.
    async fn recent_commits(
        &self,
        branch: &str,
        before: Option<&CommitCursor>,
        limit: usize,
    ) -> CommitsWithBuilds;

    /// (version, commit) pairs reported by the branch's builds.
    async fn versions(&self, branch: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// Builds newest first, after `cursor`, at most `limit`.
    async fn builds(&self, filter: &BuildFilter, cursor: Option<&Cursor>, limit: usize) -> Builds;

    async fn create_token(&self, name: &str, hash: &str, grants: Grants) -> Result<(), StoreError>;

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Returns whether a token of that name existed.
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;

    /// Records that the token was used at `at`; nothing if it is gone.
    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Every change of a health cell after it is committed, by this server
    /// or, where the store is shared, by any other.
    fn subscribe(&self) -> broadcast::Receiver<Cell>;

    /// Applies `change` to its incident atomically (read, change, write)
    /// and returns the incident as stored after it. In the same
    /// transaction, queues a delivery to each of `hooks` for every event the
    /// change causes ([`crate::domain::notification::deliveries`]), so an
    /// event is queued exactly when it happens.
    async fn update_incident(
        &self,
        change: &Change,
        hooks: &[WebhookRef],
    ) -> Result<Option<Incident>, StoreError>;

    /// Applies `change` to its test's quarantine entry atomically (read,
    /// apply [`crate::domain::quarantine::apply`], write) and returns what
    /// it did.
    async fn update_quarantine(
        &self,
        change: &QuarantineChange,
    ) -> Result<quarantine::Applied, StoreError>;

    /// A branch's tests in quarantine: entries not released (some may have
    /// expired since; [`QuarantinedTest::active`] says).
    async fn quarantined(&self, branch: &str) -> Result<Vec<QuarantinedTest>, StoreError>;

    /// Adds an upload's failures to their reasons' records, each merged as
    /// [`crate::domain::reason::merge`] says in one transaction.
    async fn record_reasons(&self, updates: &[ReasonUpdate]) -> Result<(), StoreError>;

    /// A branch's reason records last seen from `since`, most recent
    /// first, at most `limit`.
    async fn reasons(
        &self,
        branch: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ReasonRecord>, StoreError>;

    /// Stores a known-issue rule unless one of its id is there; true when
    /// it was new.
    async fn put_known_issue(&self, rule: &KnownIssue) -> Result<bool, StoreError>;

    /// Every known-issue rule, oldest first.
    async fn known_issues(&self) -> Result<Vec<KnownIssue>, StoreError>;

    /// Removes a rule; false when there was none of that id.
    async fn remove_known_issue(&self, id: &str) -> Result<bool, StoreError>;

    /// Queues each delivery unless one of its id is already queued (by
    /// this server or another, pending or done): what makes messages that
    /// several servers decide on at once go out once. Returns how many
    /// were new.
    async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<usize, StoreError>;

    /// Leases to `owner`, until `until`, at most `limit` pending deliveries
    /// due at `now`, oldest due first: a lease is taken atomically, so no
    /// other claim (by any server) gets them before it ends. Returned as
    /// leased.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Stores a delivery after an attempt, if `owner` still holds its
    /// lease; returns whether it did.
    async fn finish_delivery(&self, delivery: &Delivery, owner: &str) -> Result<bool, StoreError>;

    /// Deliveries newest first: of one incident or all, at most `limit`.
    async fn deliveries(
        &self,
        incident: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError>;

    /// Incidents newest first: of one branch or all, open ones or all, at
    /// most `limit`.
    async fn incidents(
        &self,
        branch: Option<&str>,
        open_only: bool,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError>;

    /// Records a manual freeze or unfreeze.
    async fn record_freeze(&self, event: &FreezeEvent) -> Result<(), StoreError>;

    /// Manual freezes and unfreezes of a branch, newest first.
    async fn freeze_events(
        &self,
        branch: &str,
        limit: usize,
    ) -> Result<Vec<FreezeEvent>, StoreError>;

    /// Adds one uploaded JUnit file's results to its build atomically: its
    /// cases, its failures, the build's totals, and the records of the
    /// cell's tests it ran ([`crate::domain::test_stats`]: its failures and
    /// tests already recorded, at most [`MAX_TOUCHED_STATS`]). The same file
    /// (by digest) again changes nothing: `None`; a new file answers what
    /// it changed that incidents follow.
    async fn add_tests(&self, upload: &TestUpload) -> Result<Option<UploadOutcome>, StoreError>;

    /// Every test case of a build, file after file as uploaded.
    async fn build_tests(&self, build: &str) -> Result<Vec<TestCase>, StoreError>;

    /// Test totals of those builds that have tests.
    async fn test_totals(
        &self,
        builds: &[String],
    ) -> Result<HashMap<String, TestTotals>, StoreError>;

    /// The failing tests of these builds.
    async fn test_failures(&self, builds: &[String]) -> Result<Vec<TestFailure>, StoreError>;

    /// Test records of a branch that ran at or after `since`, latest run
    /// first, at most `limit`.
    async fn test_stats_since(
        &self,
        branch: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TestStats>, StoreError>;

    /// The records of one test in these cells, where it has one.
    async fn test_stats(&self, cells: &[CellId], name: &str) -> Result<Vec<TestStats>, StoreError>;

    /// Whether the store takes reads and writes: what `/readyz` answers.
    async fn ready(&self) -> Result<(), StoreError> {
        self.branches().await.map(|_| ())
    }
}

/// Identity fields cannot change under an existing id: the build would
/// silently move to another cell. `index` is the build's place in the post.
pub(crate) fn identity_conflict(
    stored: &Build,
    posted: &Build,
    index: usize,
) -> Option<StoreError> {
    let field = [
        ("repository", stored.repository == posted.repository),
        ("commit", stored.commit == posted.commit),
        ("branch", stored.cell.branch == posted.cell.branch),
        ("component", stored.cell.component == posted.cell.component),
        ("arch", stored.cell.arch == posted.cell.arch),
        (
            "build_type",
            stored.cell.build_type == posted.cell.build_type,
        ),
    ]
    .into_iter()
    .find(|(_, same)| !same)
    .map(|(field, _)| field)?;
    Some(StoreError::Conflict {
        index,
        field,
        message: format!(
            "build '{}' already exists with a different {field}; \
             post the new build under a new id",
            posted.id
        ),
    })
}
