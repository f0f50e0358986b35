//! Storage behind one trait, so the embedded store and Firestore are
//! interchangeable and pass the same conformance suite.

#[cfg(test)]
mod conformance;
pub mod embedded;
pub mod firestore;

use app::model::{BuildResult, Cell, CommitCandidate};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::ingest::Build;

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
    #[error("a token named '{0}' already exists")]
    TokenExists(String),
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

/// What an ingestion did, for the 201/200 distinction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub ids: Vec<String>,
    /// False when every build was an identical replay.
    pub changed: bool,
}

/// One health cell's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CellId {
    pub branch: String,
    pub component: String,
    pub arch: String,
    pub build_type: String,
}

impl CellId {
    pub fn of(build: &Build) -> Self {
        CellId {
            branch: build.branch.clone(),
            component: build.component.clone(),
            arch: build.arch.clone(),
            build_type: build.build_type.clone(),
        }
    }
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

/// Position in a newest-first listing: the last build of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub started_at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    pub fn of(build: &Build) -> Self {
        Cursor {
            started_at: build.started_at,
            id: build.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}:{}", self.started_at.timestamp_micros(), self.id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once(':')?;
        Some(Cursor {
            started_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.to_string(),
        })
    }
}

/// The baseline of a cell for a commit, and where its red streak began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    pub build: app::model::BuildSummary,
    pub streak_since: Option<app::model::BuildSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores the builds and updates their health cells atomically: either
    /// all of them are durable when this returns `Ok`, or none is.
    async fn ingest(&self, builds: Vec<Build>) -> Result<IngestOutcome, StoreError>;

    /// The precomputed cells of one branch; never reads build history.
    async fn cells(&self, branch: &str) -> Result<Vec<Cell>, StoreError>;

    /// Branches that have at least one cell.
    async fn branches(&self) -> Result<Vec<String>, StoreError>;

    async fn build(&self, id: &str) -> Result<Option<Build>, StoreError>;

    /// Commits whose SHA starts with `prefix` (one entry per branch), newest
    /// first, at most `limit`.
    async fn commits_by_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<CommitCandidate>, StoreError>;

    async fn commits_by_pr(
        &self,
        pr: u64,
        limit: usize,
    ) -> Result<Vec<CommitCandidate>, StoreError>;

    async fn builds_of_commit(&self, commit: &str) -> Result<Vec<Build>, StoreError>;

    /// The nearest pass or fail of `cell` before `before` on another commit
    /// than `commit`; at `parent` when that commit has one.
    async fn baseline(
        &self,
        cell: &CellId,
        commit: &str,
        parent: Option<&str>,
        before: &Cursor,
    ) -> Result<Option<Baseline>, StoreError>;

    /// The builds of the `limit` newest commits of a branch, newest first.
    async fn recent_commits(
        &self,
        branch: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<Build>)>, StoreError>;

    /// (version, commit) pairs reported by the branch's builds.
    async fn versions(&self, branch: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// Builds newest first, after `cursor`, at most `limit`.
    async fn builds(
        &self,
        filter: &BuildFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Build>, StoreError>;

    async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError>;

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Returns whether a token of that name existed.
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;

    /// Records that the token was used at `at`; nothing if it is gone.
    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Every change of a health cell after it is committed, by this server
    /// or, where the store is shared, by any other.
    fn subscribe(&self) -> broadcast::Receiver<Cell>;
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
        ("branch", stored.branch == posted.branch),
        ("component", stored.component == posted.component),
        ("arch", stored.arch == posted.arch),
        ("build_type", stored.build_type == posted.build_type),
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
