//! Server functions reach the service through this adapter: the app's
//! [`Dashboard`] port implemented over [`Service`].

use app::error::DashboardError;
use app::model::{
    CommitLookup, Console, ConsoleParams, Delivery, Failures, FlakyTests, HealthMatrix,
    HistoryView, IncidentDetail, ReleaseReport, ReleaseSummary, ReportView, TestHistory,
};
use app::ssr::Dashboard;

use crate::domain::field_error::FieldError;
use crate::domain::ids::{Branch, Name};
use crate::service::console::parse_console;
use crate::service::report::branch_and_days;
use crate::service::{Service, ServiceError};
use crate::store::CellId;

fn bad_request(e: FieldError) -> DashboardError {
    DashboardError::BadRequest(e.message)
}

fn to_dashboard_error(e: ServiceError) -> DashboardError {
    match e {
        ServiceError::Invalid(e) => bad_request(e),
        ServiceError::NotFound(message) => DashboardError::NotFound(message),
        ServiceError::Store(e) => {
            // The page's answer: counted once, as the API counts its own.
            super::metrics::store_error();
            tracing::warn!(error = %e, "a page could not read the store");
            DashboardError::Unavailable
        }
    }
}

#[async_trait::async_trait]
impl Dashboard for Service {
    async fn health(&self, branch: Option<String>) -> Result<HealthMatrix, DashboardError> {
        let branch = Branch::parse_optional(branch.as_deref()).map_err(bad_request)?;
        Service::health(self, branch)
            .await
            .map_err(to_dashboard_error)
    }

    async fn console(&self, params: ConsoleParams) -> Result<Console, DashboardError> {
        let query = parse_console(&params, &self.default_branch).map_err(bad_request)?;
        Service::console(self, query)
            .await
            .map_err(to_dashboard_error)
    }

    async fn commit(&self, query: String) -> Result<CommitLookup, DashboardError> {
        Service::commit(self, &query)
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
            branch: Branch::parse(&branch).map_err(bad_request)?.into_string(),
            component: Name::parse("component", &component)
                .map_err(bad_request)?
                .into_string(),
            arch: Name::arch(&arch).map_err(bad_request)?.into_string(),
            build_type: Name::parse("build_type", &build_type)
                .map_err(bad_request)?
                .into_string(),
        };
        Service::history(self, cell, days, None, cursor.as_deref())
            .await
            .map_err(to_dashboard_error)
    }

    async fn release(&self, branch: String) -> Result<ReleaseReport, DashboardError> {
        let branch = Branch::parse(&branch).map_err(bad_request)?;
        Service::release(self, &branch)
            .await
            .map_err(to_dashboard_error)
    }

    async fn releases(&self) -> Result<Vec<ReleaseSummary>, DashboardError> {
        Service::releases(self).await.map_err(to_dashboard_error)
    }

    async fn incident(&self, id: String) -> Result<IncidentDetail, DashboardError> {
        let mut detail = Service::incident_detail(self, &id)
            .await
            .map_err(to_dashboard_error)?;
        // Pages are public: webhook hosts and error texts are not.
        detail.deliveries = detail
            .deliveries
            .into_iter()
            .map(Delivery::public)
            .collect();
        Ok(detail)
    }

    async fn report(
        &self,
        branch: Option<String>,
        days: Option<String>,
    ) -> Result<ReportView, DashboardError> {
        let (branch, days) =
            branch_and_days(&self.default_branch, branch.as_deref(), days.as_deref())
                .map_err(bad_request)?;
        Service::report_view(self, &branch, days)
            .await
            .map_err(to_dashboard_error)
    }

    async fn failures(
        &self,
        branch: Option<String>,
        days: Option<String>,
    ) -> Result<Failures, DashboardError> {
        let (branch, days) =
            branch_and_days(&self.default_branch, branch.as_deref(), days.as_deref())
                .map_err(bad_request)?;
        Service::failures(self, &branch, days)
            .await
            .map_err(to_dashboard_error)
    }

    async fn flaky_tests(
        &self,
        branch: Option<String>,
        days: Option<String>,
    ) -> Result<FlakyTests, DashboardError> {
        let (branch, days) =
            branch_and_days(&self.default_branch, branch.as_deref(), days.as_deref())
                .map_err(bad_request)?;
        Service::flaky_tests(self, &branch, days)
            .await
            .map_err(to_dashboard_error)
    }

    async fn test_history(
        &self,
        branch: String,
        component: String,
        build_type: String,
        name: String,
    ) -> Result<TestHistory, DashboardError> {
        let branch = Branch::parse(&branch).map_err(bad_request)?;
        let component = Name::parse("component", &component).map_err(bad_request)?;
        let build_type = Name::parse("build_type", &build_type).map_err(bad_request)?;
        Service::test_history(self, &branch, &component, &build_type, &name)
            .await
            .map_err(to_dashboard_error)
    }
}
