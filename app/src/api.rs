//! Server functions: the only way the frontend reads data.

use leptos::prelude::*;

use crate::model::{CommitLookup, HealthMatrix, HistoryView, ReleaseReport, ReleaseSummary};

/// Shown instead of an error dump when the store is down.
pub const UNAVAILABLE: &str = "Storage unavailable: the dashboard cannot reach its database right now. Results posted by CI are kept by their retries; try again in a moment.";

#[server(prefix = "/_app")]
pub async fn get_health(branch: Option<String>) -> Result<HealthMatrix, ServerFnError> {
    dashboard()
        .health(branch)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[server(prefix = "/_app")]
pub async fn get_commit(query: String) -> Result<CommitLookup, ServerFnError> {
    dashboard()
        .commit(query)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[server(prefix = "/_app")]
pub async fn get_history(
    branch: String,
    component: String,
    arch: String,
    build_type: String,
    days: u32,
    cursor: Option<String>,
) -> Result<HistoryView, ServerFnError> {
    dashboard()
        .history(branch, component, arch, build_type, days, cursor)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[server(prefix = "/_app")]
pub async fn get_release(branch: String) -> Result<ReleaseReport, ServerFnError> {
    dashboard()
        .release(branch)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[server(prefix = "/_app")]
pub async fn get_releases() -> Result<Vec<ReleaseSummary>, ServerFnError> {
    dashboard()
        .releases()
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[cfg(feature = "ssr")]
fn dashboard() -> std::sync::Arc<dyn crate::ssr::Dashboard> {
    expect_context::<crate::ssr::DashboardContext>().0
}
