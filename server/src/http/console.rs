//! `GET /api/v1/console`: the console's page as JSON.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;

use super::api::only_params;
use super::error::ApiError;
use super::state::AppState;
use crate::service::console::parse_console;
use app::model::{Console, ConsoleParams};

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
    let params = ConsoleParams {
        branch: get("branch"),
        component: get("component"),
        arch: get("arch"),
        only: get("only"),
        before: get("before"),
        limit: get("limit"),
    };
    let query = parse_console(&params, &state.service.default_branch)?;
    Ok(Json(state.service.console(query).await?))
}
