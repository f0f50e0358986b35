//! `GET /api/v1/console`: the console's page as JSON.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;

use super::api::only_params;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::service::console::parse_console;
use app::model::{Console, ConsoleParams};

/// `?branch=&component=&arch=&only=failing&before=&limit=`: the branch's
/// latest commits against its builds, older pages by `before`.
#[utoipa::path(get, path = "/api/v1/console", tag = "reads",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given"), ("component" = Option<String>, Query), ("arch" = Option<String>, Query),
        ("only" = Option<String>, Query, description = "failing: only commits with a failure"),
        ("before" = Option<String>, Query, description = "`next_before` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1-100, default 50")),
    responses((status = 200, description = "A page of the branch's commits against its builds", body = Console), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
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
