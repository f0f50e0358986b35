//! The application layer: what pages and the JSON API show, assembled from
//! precomputed cells and indexed store queries (never a scan of the whole
//! history), and the use cases that write (ingestion, uploads, incidents,
//! freezes). A file per feature; `Service` is the one entry point.

use std::collections::HashMap;
use std::sync::Arc;

use app::model::{Build, BuildSummary, HealthReport};

use crate::domain::field_error::FieldError;
use crate::domain::github::GithubConfig;
use crate::domain::ids::Branch;
use crate::domain::incident::IncidentRules;
use crate::domain::notification::WebhookRef;
use crate::domain::release::ReleaseConfig;
use crate::domain::stale::StaleConfig;
use crate::store::StoreError;
use crate::store::{CellId, Store};
use recent::Recent;

/// Baseline lookups of one commit page in flight at once: enough to hide
/// Firestore's round trips, few enough not to flood the store.
pub(super) const BASELINE_LOOKUPS: usize = 16;
pub const PAGE_SIZE: usize = 50;
/// Incidents one page or answer lists at most.
pub const MAX_SHOWN_INCIDENTS: usize = 50;

/// Why a query has no answer. Adapters map it to their own errors (HTTP
/// statuses, server-function variants) in one place each.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

mod commit;
pub mod console;
mod failures;
pub mod github;
mod history;
pub mod incidents;
pub mod ingest;
mod known_issues;
pub mod overview;
pub mod quarantine;
pub mod recent;
mod release;
pub mod report;
mod stale;
pub mod test_results;

#[derive(Clone)]
pub struct Service {
    pub store: Arc<dyn Store>,
    pub incident_rules: Arc<IncidentRules>,
    /// The webhooks incidents are told to, and a bell the delivery worker
    /// waits on, rung when a post queued deliveries.
    pub webhooks: Arc<Vec<WebhookRef>>,
    pub outbox: Arc<tokio::sync::Notify>,
    /// CI health reports by branch and days, kept a minute.
    pub reports: Arc<Recent<(String, u32), HealthReport>>,
    pub default_branch: Branch,
    pub release: Arc<ReleaseConfig>,
    /// When cells are stale.
    pub stale: Arc<StaleConfig>,
    /// Commit links of pages without any build name this repository.
    pub repository: String,
    /// `--github-config`: the commit statuses builds set, the jobs GitHub's
    /// webhook maps to cells.
    pub github: Option<Arc<GithubConfig>>,
}

fn group_by_cell(builds: &[Build], branch: &str) -> HashMap<CellId, Vec<BuildSummary>> {
    let mut out: HashMap<CellId, Vec<BuildSummary>> = HashMap::new();
    for b in builds.iter().filter(|b| b.cell.branch == branch) {
        out.entry(b.cell.clone()).or_default().push(b.summary());
    }
    out
}
