//! The CI health report over JSON.

use std::collections::HashMap;

use app::model::{Failures, HealthReport};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::api::only_params;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::domain::ids::Branch;
use crate::service::report;

/// `?branch=&days=` of a windowed answer: the default branch and 30 days
/// unless given; any other parameter is refused.
pub(super) fn branch_and_days(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<(Branch, u32), ApiError> {
    only_params(params, &["branch", "days"])?;
    Ok(report::branch_and_days(
        &state.service.default_branch,
        params.get("branch").map(String::as_str),
        params.get("days").map(String::as_str),
    )?)
}

#[utoipa::path(get, path = "/api/v1/failures", tag = "reads",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given"),
        ("days" = Option<u32>, Query, description = "The window in days (1-90, default 30)")),
    responses((status = 200, description = "The branch's failure reasons in the window, most failures first", body = Failures),
        (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn failures(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (branch, days) = branch_and_days(&state, &params)?;
    Ok(Json(state.service.failures(&branch, days).await?).into_response())
}

/// `GET /api/v1/report?branch=&days=`: the CI health report, with its
/// Markdown.
#[utoipa::path(get, path = "/api/v1/report", tag = "reads",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given"), ("days" = Option<u32>, Query, description = "The window in days (1-365, default 30)")),
    responses((status = 200, description = "The CI health report of the window", body = HealthReport), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (branch, days) = branch_and_days(&state, &params)?;
    let report = state.service.report(&branch, days).await?;
    Ok(Json(&*report).into_response())
}
