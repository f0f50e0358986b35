//! `GET /api/v1/console`: the console's page as JSON.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;

use super::api::only_params;
use super::error::ApiError;
use super::state::AppState;
use crate::service::console::ConsoleParams;
use app::model::Console;

/// `?branch=&component=&arch=&only=failing&before=&limit=`: the branch's
/// latest commits against its builds, older pages by `before`.
pub async fn console(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Console>, ApiError> {
    only_params(
        &params,
        &["branch", "component", "arch", "only", "before", "limit"],
    )?;
    let get = |name: &str| params.get(name).cloned();
    let query = ConsoleParams {
        branch: get("branch"),
        component: get("component"),
        arch: get("arch"),
        only: get("only"),
        before: get("before"),
        limit: get("limit"),
    }
    .parse(&state.service.default_branch)?;
    Ok(Json(state.service.console(query).await?))
}
