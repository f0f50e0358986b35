//! Known-issue rules over JSON.

use app::model::KnownIssue;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::api::json_body;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::domain::known_issue;

#[derive(Serialize, ToSchema)]
pub struct KnownIssues {
    /// Oldest first: the first rule a failure matches is the one shown.
    pub rules: Vec<KnownIssue>,
}

/// A rule as posted; every criterion it gives must match. It describes the
/// body in the OpenAPI document only: the handler checks the body field by
/// field (`domain::known_issue`), so that an error names its field.
#[derive(ToSchema)]
#[allow(dead_code)]
struct KnownIssueRequest {
    /// The issue: an http(s) link.
    url: String,
    /// A failure reason's id (from `/api/v1/failures` or the commit API).
    reason_id: Option<String>,
    /// A glob over test names.
    test: Option<String>,
    /// A substring of the failure message.
    message: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/known-issues", tag = "on-call",
    responses((status = 200, description = "Every known-issue rule", body = KnownIssues)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let rules = state.service.known_issues().await?;
    Ok(Json(KnownIssues { rules }).into_response())
}

#[utoipa::path(post, path = "/api/v1/known-issues", tag = "on-call",
    request_body = KnownIssueRequest,
    responses(
        (status = 201, description = "Kept", body = KnownIssue),
        (status = 200, description = "The same rule was there", body = KnownIssue),
        (status = 400, description = "A bad field, named in `field`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = json_body(&headers, body).await?;
    let rule = known_issue::parse(&value, &caller.name, Utc::now())?;
    let status = if state.service.add_known_issue(rule.clone()).await? {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(rule)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/known-issues/{id}", tag = "on-call",
    params(("id" = String, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.service.remove_known_issue(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
