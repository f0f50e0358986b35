//! The port through which server functions reach the server's data. The
//! `server` crate implements it over its stores; the app never sees storage.

use std::sync::Arc;

use crate::error::DashboardError;
use crate::model::{
    CommitLookup, Console, ConsoleParams, Failures, FlakyTests, HealthMatrix, HistoryView,
    IncidentDetail, ReleaseReport, ReleaseSummary, ReportView, TestHistory,
};

#[async_trait::async_trait]
pub trait Dashboard: Send + Sync {
    /// The overview of `branch`, or of the default branch when `None`.
    async fn health(&self, branch: Option<String>) -> Result<HealthMatrix, DashboardError>;

    /// A page of the console, as its URL asks for it.
    async fn console(&self, params: ConsoleParams) -> Result<Console, DashboardError>;

    /// A commit by SHA prefix or PR number.
    async fn commit(&self, query: String) -> Result<CommitLookup, DashboardError>;

    async fn history(
        &self,
        branch: String,
        component: String,
        arch: String,
        build_type: String,
        days: u32,
        cursor: Option<String>,
    ) -> Result<HistoryView, DashboardError>;

    async fn release(&self, branch: String) -> Result<ReleaseReport, DashboardError>;

    async fn releases(&self) -> Result<Vec<ReleaseSummary>, DashboardError>;

    async fn incident(&self, id: String) -> Result<IncidentDetail, DashboardError>;

    /// The CI health report of `branch` (default: the default branch) over
    /// `days` (default 30).
    async fn report(
        &self,
        branch: Option<String>,
        days: Option<String>,
    ) -> Result<ReportView, DashboardError>;

    /// The failure reasons of `branch` (default: the default branch) over
    /// `days` (default 30).
    async fn failures(
        &self,
        branch: Option<String>,
        days: Option<String>,
    ) -> Result<Failures, DashboardError>;

    /// The flaky tests of `branch` (default: the default branch) over
    /// `days` (default 30).
    async fn flaky_tests(
        &self,
        branch: Option<String>,
        days: Option<String>,
    ) -> Result<FlakyTests, DashboardError>;

    async fn test_history(
        &self,
        branch: String,
        component: String,
        build_type: String,
        name: String,
    ) -> Result<TestHistory, DashboardError>;
}

/// Provided as Leptos context by the server for every request.
#[derive(Clone)]
pub struct DashboardContext(pub Arc<dyn Dashboard>);
