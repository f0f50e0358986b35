//! Incidents and the merge freeze over JSON: what on-call and a required
//! CI check read.

use std::collections::HashMap;

use app::model::{Delivery, Freeze, Incident};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::api::{branch_param, only_params};
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::domain::field_error::FieldError;
use crate::domain::ids::Branch;
use crate::domain::incident;
use crate::service::incidents::StateFilter;

#[derive(Serialize, ToSchema)]
pub struct Incidents {
    pub incidents: Vec<Incident>,
}

#[derive(Serialize, ToSchema)]
pub struct Deliveries {
    pub deliveries: Vec<Delivery>,
}

/// A manual freeze or unfreeze, checked field by field so that an error
/// names its field.
#[derive(ToSchema)]
pub struct FreezeRequest {
    frozen: bool,
    /// Why: shown on the release page and in the freeze's history.
    reason: String,
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "on-call",
    params(("branch" = Option<String>, Query), ("state" = Option<String>, Query, description = "open, resolved or all (default)")),
    responses((status = 200, description = "Incidents, newest first", body = Incidents), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only_params(&params, &["branch", "state"])?;
    let branch = Branch::parse_optional(params.get("branch").map(String::as_str))?;
    let filter = match params.get("state").map(String::as_str) {
        None | Some("") | Some("all") => StateFilter::All,
        Some("open") => StateFilter::Open,
        Some("resolved") => StateFilter::Resolved,
        Some(_) => {
            return Err(FieldError::field("state", "state must be open, resolved or all").into())
        }
    };
    let incidents = state.service.incidents(branch.as_ref(), filter).await?;
    Ok(Json(Incidents { incidents }).into_response())
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "on-call",
    params(("id" = String, Path)),
    responses((status = 200, description = "The incident", body = Incident), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.service.incident(&id).await?).into_response())
}

/// An acknowledgement as posted. It describes the body in the OpenAPI
/// document only: the handler checks the body field by field
/// (`domain::incident::parse_ack`), so that an error names its field.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AckRequest {
    note: Option<String>,
    assignee: Option<String>,
    /// An http(s) link to the issue tracking it.
    issue_url: Option<String>,
    /// No notification for so many more changes of the incident (a cell or
    /// test joining or clearing), 1-1000.
    silence_builds: Option<u32>,
    /// No notification until then (RFC 3339, within 30 days).
    silence_until: Option<chrono::DateTime<chrono::Utc>>,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/ack", tag = "on-call",
    params(("id" = String, Path)),
    request_body = AckRequest,
    responses(
        (status = 200, description = "The incident, with `ack` and the note on its timeline", body = Incident),
        (status = 400, description = "A bad field, named in `field`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn ack(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = super::api::json_body(&headers, body).await?;
    let change = incident::parse_ack(&id, &value, &caller.name, chrono::Utc::now())?;
    Ok(Json(state.service.acknowledge(change).await?).into_response())
}

/// The latest webhook deliveries (of one incident with `?incident=`):
/// whether on-call was told. Webhook hosts and error texts only for a
/// caller with a token.
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "on-call",
    params(("incident" = Option<String>, Query)),
    responses((status = 200, description = "The latest webhook deliveries and commit statuses; hosts and errors with a token only", body = Deliveries), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    only_params(&params, &["incident"])?;
    // A token that is sent must be valid: a wrong one is 401, not anonymous.
    let with_token = headers.contains_key(header::AUTHORIZATION);
    if with_token {
        state
            .tokens
            .authorize(state.service.store.as_ref(), &headers)
            .await?;
    }
    let incident = params
        .get("incident")
        .map(String::as_str)
        .filter(|i| !i.is_empty());
    let mut deliveries = state.service.deliveries(incident).await?;
    if !with_token {
        deliveries = deliveries.into_iter().map(Delivery::public).collect();
    }
    Ok(Json(Deliveries { deliveries }).into_response())
}

/// `GET /api/v1/freeze?branch=`: whether merges to the branch are frozen
/// (the default branch unless given).
#[utoipa::path(get, path = "/api/v1/freeze", tag = "on-call",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given")),
    responses((status = 200, description = "Whether merges to the branch are frozen", body = Freeze), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn freeze(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only_params(&params, &["branch"])?;
    Ok(Json(
        state
            .service
            .freeze(&branch_param(&state, &params)?)
            .await?,
    )
    .into_response())
}

/// `POST /api/v1/freeze?branch=` with `{"frozen": true|false, "reason":
/// "..."}` and a token: a manual freeze or unfreeze, recorded with the
/// token's name.
#[utoipa::path(post, path = "/api/v1/freeze", tag = "on-call",
    params(("branch" = String, Query)),
    request_body = FreezeRequest,
    responses(
        (status = 200, description = "The freeze as it is now", body = Freeze), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not freeze", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn set_freeze(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !caller.grants.may_freeze() {
        return Err(ApiError::Forbidden(format!(
            "token '{}' may not freeze merges: create one with `ci-dashboard token create NAME \
             --freeze` (or --admin)",
            caller.name
        )));
    }
    // Freezes page people and block merges: even a freeze token is limited.
    if let Some(limiter) = &state.limiter {
        limiter
            .check(&caller.name)
            .map_err(ApiError::rate_limited)?;
    }
    only_params(&params, &["branch"])?;
    // A write names its branch: no default branch is frozen by omission.
    let branch = Branch::parse_optional(params.get("branch").map(String::as_str))?
        .ok_or_else(|| FieldError::field("branch", "branch is required: the branch to freeze"))?;
    let value = super::api::json_body(&headers, body).await?;
    let request = FreezeRequest {
        frozen: value
            .get("frozen")
            .and_then(Value::as_bool)
            .ok_or_else(|| FieldError::field("frozen", "frozen must be true or false"))?,
        reason: value
            .get("reason")
            .and_then(Value::as_str)
            .ok_or_else(|| FieldError::field("reason", "reason is required: say why"))?
            .to_string(),
    };
    if let Some(unknown) = value.as_object().and_then(|o| {
        o.keys()
            .find(|k| !["frozen", "reason"].contains(&k.as_str()))
    }) {
        return Err(FieldError::field(unknown, format!("unknown field '{unknown}'")).into());
    }
    let freeze = state
        .service
        .set_freeze(&branch, request.frozen, &request.reason, &caller.name)
        .await?;
    tracing::info!(branch = %branch.as_str(), frozen = request.frozen, by = %caller.name, "manual freeze");
    Ok(Json(freeze).into_response())
}
