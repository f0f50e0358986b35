//! Ingestion, the one way builds enter the dashboard, whoever brings them
//! (a CI post, the demo data, the legacy import): store them, count them,
//! and move the incidents their cells' streaks decide, and tell watchers
//! when a stale cell reports again. Cell changes reach
//! open pages through the store's change feed.

use app::model::Build;
use chrono::Utc;

use super::{Service, ServiceError};
use crate::store::{IngestOutcome, Poster};

impl Service {
    /// Stores `builds` as `poster` posted them. Once they are stored, an
    /// incident that cannot be updated is logged, not an error: the caller
    /// must not send them again for it (the cells' next move applies it).
    pub async fn ingest(
        &self,
        builds: Vec<Build>,
        poster: &Poster,
    ) -> Result<IngestOutcome, ServiceError> {
        let results: Vec<&'static str> = builds.iter().map(|b| b.result.as_str()).collect();
        let statuses = self.github.is_some().then(|| builds.clone());
        let outcome = self.store.ingest_as(builds, poster).await?;
        for result in results {
            metrics::counter!("builds_ingested_total", "result" => result).increment(1);
        }
        match self.record_incidents(&outcome.moves).await {
            Ok(changed) => {
                for incident in changed {
                    tracing::info!(id = %incident.id, branch = %incident.branch, state = ?incident.state, "incident");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot update incidents"),
        }
        if let Err(e) = self.announce_reporting(&outcome.moves, Utc::now()).await {
            tracing::warn!(error = %e, "cannot queue the messages of cells reporting again");
        }
        if let Some(builds) = statuses.filter(|_| outcome.changed) {
            if let Err(e) = self.queue_statuses(&builds, "build").await {
                tracing::warn!(error = %e, "cannot queue commit statuses");
            }
        }
        Ok(outcome)
    }
}
