//! Server functions reach the queries through this adapter: the app's
//! [`Dashboard`] port implemented over [`Views`].

use app::error::DashboardError;
use app::model::{CommitLookup, HealthMatrix, HistoryView, ReleaseReport, ReleaseSummary};
use app::ssr::Dashboard;

use crate::domain::validation::FieldError;
use crate::queries::{QueryError, Views};
use crate::store::{CellId, StoreError};

fn to_dashboard_error(e: QueryError) -> DashboardError {
    match e {
        QueryError::Invalid(FieldError { message, .. }) | QueryError::NotFound(message) => {
            DashboardError::BadRequest(message)
        }
        QueryError::Store(e) => {
            if matches!(e, StoreError::Unavailable(_)) {
                super::metrics::store_error();
            }
            DashboardError::Unavailable
        }
    }
}

#[async_trait::async_trait]
impl Dashboard for Views {
    async fn health(&self, branch: Option<String>) -> Result<HealthMatrix, DashboardError> {
        Views::health(self, branch)
            .await
            .map_err(to_dashboard_error)
    }

    async fn commit(&self, query: String) -> Result<CommitLookup, DashboardError> {
        Views::commit(self, &query)
            .await
            .map_err(to_dashboard_error)
    }

    async fn history(
        &self,
        branch: String,
        component: String,
        arch: String,
        build_type: String,
        days: u32,
        cursor: Option<String>,
    ) -> Result<HistoryView, DashboardError> {
        let cell = CellId {
            branch,
            component,
            arch,
            build_type,
        };
        Views::history(self, cell, days, None, cursor.as_deref())
            .await
            .map_err(to_dashboard_error)
    }

    async fn release(&self, branch: String) -> Result<ReleaseReport, DashboardError> {
        Views::release(self, &branch)
            .await
            .map_err(to_dashboard_error)
    }

    async fn releases(&self) -> Result<Vec<ReleaseSummary>, DashboardError> {
        Views::releases(self).await.map_err(to_dashboard_error)
    }
}
