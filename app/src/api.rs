//! Server functions: the only way the frontend reads data.

use leptos::prelude::*;

use crate::codec::JsonText;
use crate::error::DashboardError;
#[cfg(feature = "ssr")]
use crate::model::ConsoleParams;
use crate::model::{
    CommitLookup, Console, Failures, FlakyTests, HealthMatrix, HistoryView, IncidentDetail,
    ReleaseReport, ReleaseSummary, ReportView, TestHistory,
};

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_health(branch: Option<String>) -> Result<HealthMatrix, DashboardError> {
    dashboard().health(branch).await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_console(
    branch: Option<String>,
    component: Option<String>,
    arch: Option<String>,
    only: Option<String>,
    before: Option<String>,
) -> Result<Console, DashboardError> {
    dashboard()
        .console(ConsoleParams {
            branch,
            component,
            arch,
            only,
            before,
            limit: None,
        })
        .await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_commit(query: String) -> Result<CommitLookup, DashboardError> {
    dashboard().commit(query).await
}

#[server(prefix = "/_app", endpoint = "get_history", output = JsonText)]
pub async fn get_history(
    branch: String,
    component: String,
    arch: String,
    build_type: String,
    days: u32,
    cursor: Option<String>,
) -> Result<HistoryView, DashboardError> {
    dashboard()
        .history(branch, component, arch, build_type, days, cursor)
        .await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_release(branch: String) -> Result<ReleaseReport, DashboardError> {
    dashboard().release(branch).await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_releases() -> Result<Vec<ReleaseSummary>, DashboardError> {
    dashboard().releases().await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_incident(id: String) -> Result<IncidentDetail, DashboardError> {
    dashboard().incident(id).await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_report(
    branch: Option<String>,
    days: Option<String>,
) -> Result<ReportView, DashboardError> {
    dashboard().report(branch, days).await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_failures(
    branch: Option<String>,
    days: Option<String>,
) -> Result<Failures, DashboardError> {
    dashboard().failures(branch, days).await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_flaky_tests(
    branch: Option<String>,
    days: Option<String>,
) -> Result<FlakyTests, DashboardError> {
    dashboard().flaky_tests(branch, days).await
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_test_history(
    branch: String,
    component: String,
    build_type: String,
    name: String,
) -> Result<TestHistory, DashboardError> {
    dashboard()
        .test_history(branch, component, build_type, name)
        .await
}

#[cfg(feature = "ssr")]
fn dashboard() -> std::sync::Arc<dyn crate::ssr::Dashboard> {
    expect_context::<crate::ssr::DashboardContext>().0
}
