//! Server functions: the only way the frontend reads data.

use leptos::prelude::*;

use crate::model::HealthMatrix;

/// Shown instead of an error dump when the store is down.
pub const UNAVAILABLE: &str = "Storage unavailable: the dashboard cannot reach its database right now. Results posted by CI are kept by their retries; try again in a moment.";

#[server(prefix = "/_app")]
pub async fn get_health(branch: Option<String>) -> Result<HealthMatrix, ServerFnError> {
    let dashboard = expect_context::<crate::ssr::DashboardContext>();
    dashboard
        .0
        .health(branch)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}
