//! Routes of earlier versions that took a branch as a path segment, answered
//! with a permanent redirect to the route that replaced them (the branch a
//! query parameter, as on every route), so embedded badges and scripts keep
//! working. `308` keeps the method and body: a freeze `POST` is re-sent.

use axum::extract::{Path, RawQuery};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

fn moved(to: String) -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response()
}

/// The query an old route carried, kept after the new route's own
/// parameters.
fn with_query(path: String, query: Option<String>) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}&{q}"),
        None => path,
    }
}

fn svg_name(file: &str) -> Result<&str, ApiError> {
    file.strip_suffix(".svg")
        .ok_or_else(|| ApiError::NotFound("badges end in .svg".into()))
}

/// `/api/v1/releases/{branch}`
#[utoipa::path(get, path = "/api/v1/releases/{branch}", tag = "moved",
    params(("branch" = String, Path)), responses((status = 308, description = "To /api/v1/release?branch=")))]
pub async fn release(Path(branch): Path<String>) -> Response {
    moved(app::model::release_api_path(&branch))
}

/// `/api/v1/freeze/{branch}`, read or set.
#[utoipa::path(method(get, post), path = "/api/v1/freeze/{branch}", tag = "moved",
    params(("branch" = String, Path)), responses((status = 308, description = "To /api/v1/freeze?branch=")))]
pub async fn freeze(Path(branch): Path<String>, RawQuery(query): RawQuery) -> Response {
    moved(with_query(app::model::freeze_api_path(&branch), query))
}

/// `/badge/{branch}/{component}.svg`
#[utoipa::path(get, path = "/badge/{branch}/{component}", tag = "moved",
    params(("branch" = String, Path), ("component" = String, Path, description = "`<component>.svg`")),
    responses((status = 308, description = "To /badge.svg?branch=&component=")))]
pub async fn badge(Path((branch, file)): Path<(String, String)>) -> Result<Response, ApiError> {
    Ok(moved(app::model::badge_path(
        &branch,
        svg_name(&file)?,
        None,
    )))
}

/// `/badge/{branch}/{component}/{arch}.svg`
#[utoipa::path(get, path = "/badge/{branch}/{component}/{arch}", tag = "moved",
    params(("branch" = String, Path), ("component" = String, Path), ("arch" = String, Path, description = "`<arch>.svg`")),
    responses((status = 308, description = "To /badge.svg?branch=&component=&arch=")))]
pub async fn arch_badge(
    Path((branch, component, file)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    Ok(moved(app::model::badge_path(
        &branch,
        &component,
        Some(svg_name(&file)?),
    )))
}
