//! The quarantine over JSON: what `ci-dashboard gate` reads, and how a
//! token puts a test in or takes it out.

use std::collections::HashMap;

use app::model::QuarantinedTest;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{branch_param, json_body, name_param, only_params};
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::domain::quarantine;
use crate::service::quarantine::CellFilter;

/// The tests in quarantine.
#[derive(Serialize, ToSchema)]
pub struct Quarantined {
    pub tests: Vec<QuarantinedTest>,
}

/// A test, as `POST` and `DELETE` name it (`POST` adds `reason`, and
/// optionally `expires_at` and `evidence_url`). It describes the body in
/// the OpenAPI document only: the handlers check the body field by field
/// (`domain::quarantine`), so that an error names its field.
#[derive(ToSchema)]
#[allow(dead_code)]
struct QuarantineRequest {
    branch: String,
    component: String,
    arch: String,
    build_type: String,
    name: String,
    /// `POST` only: why (an issue link, say).
    reason: Option<String>,
    /// `POST` only: when it leaves quarantine by itself (RFC 3339).
    expires_at: Option<chrono::DateTime<Utc>>,
    /// `POST` only: an http(s) link to what shows it is flaky.
    evidence_url: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/quarantine", tag = "on-call",
    params(
        ("branch" = Option<String>, Query, description = "A branch; the default branch unless given"),
        ("component" = Option<String>, Query), ("arch" = Option<String>, Query), ("build_type" = Option<String>, Query)),
    responses((status = 200, description = "The tests in quarantine now", body = Quarantined),
        (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only_params(&params, &["branch", "component", "arch", "build_type"])?;
    let branch = branch_param(&state, &params)?;
    let filter = CellFilter {
        component: name_param(&params, "component")?,
        arch: name_param(&params, "arch")?,
        build_type: name_param(&params, "build_type")?,
    };
    let tests = state.service.quarantined(&branch, &filter).await?;
    Ok(Json(Quarantined { tests }).into_response())
}

#[utoipa::path(post, path = "/api/v1/quarantine", tag = "on-call",
    request_body = QuarantineRequest,
    responses(
        (status = 201, description = "Quarantined", body = QuarantinedTest),
        (status = 200, description = "Already in quarantine: its reason, expiry and evidence as sent", body = QuarantinedTest),
        (status = 400, description = "A bad field, named in `field`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, ApiError> {
    let value = json_body(&headers, request).await?;
    let entry = quarantine::parse_entry(&value, &caller.name, Utc::now())?;
    let (entry, entered) = state.service.quarantine(entry).await?;
    let status = if entered {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/quarantine", tag = "on-call",
    request_body = QuarantineRequest,
    responses(
        (status = 200, description = "Out of quarantine: the entry, with who took it out", body = QuarantinedTest),
        (status = 400, description = "A bad field, named in `field`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "The test is not in quarantine", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, ApiError> {
    let value = json_body(&headers, request).await?;
    let (cell, name) = quarantine::parse_identity(&value)?;
    let entry = state.service.unquarantine(cell, name, &caller.name).await?;
    Ok(Json(entry).into_response())
}
