//! Storage behind one trait, so the embedded store and Firestore are
//! interchangeable and pass the same conformance suite.

#[cfg(test)]
mod conformance;
pub mod embedded;

use app::model::Cell;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub hash: String,
    pub created_at: DateTime<Utc>,
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

    async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError>;

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Returns whether a token of that name existed.
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;
}

/// Identity fields cannot change under an existing id: the build would
/// silently move to another cell.
pub(crate) fn identity_conflict(stored: &Build, posted: &Build) -> Option<&'static str> {
    [
        ("repository", stored.repository == posted.repository),
        ("commit", stored.commit == posted.commit),
        ("branch", stored.branch == posted.branch),
        ("component", stored.component == posted.component),
        ("arch", stored.arch == posted.arch),
        ("build_type", stored.build_type == posted.build_type),
    ]
    .into_iter()
    .find(|(_, same)| !same)
    .map(|(field, _)| field)
}
