//! The JSON API: ingestion for CI jobs, health for scripts.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::ingest::{self, Context};
use crate::startup::AppState;
use crate::token;

/// Largest accepted body: 1000 builds of realistic size fit well within it.
pub const MAX_BODY: usize = 1024 * 1024;

#[tracing::instrument(skip_all, fields(token, builds))]
pub async fn post_builds(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let token_name = authorize(&state, &headers).await?;
    tracing::Span::current().record("token", token_name.as_str());
    require_json(&headers)?;
    let bytes = read_body(&headers, body).await?;
    let ctx = Context {
        default_repository: &state.settings.repository,
        now: Utc::now(),
    };
    let builds = ingest::parse_body(&bytes, &ctx, || uuid::Uuid::new_v4().to_string())?;
    tracing::Span::current().record("builds", builds.len());
    let outcome = state.views.store.ingest(builds).await?;
    let status = if outcome.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "ids": outcome.ids }))).into_response())
}

async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let tokens = state.views.store.tokens().await?;
    token::verify(presented, &tokens)
        .map(str::to_string)
        .ok_or(ApiError::Unauthorized)
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY) {
        return Err(ApiError::TooLarge(MAX_BODY));
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::TooLarge(MAX_BODY)
        } else {
            ApiError::Invalid(ingest::FieldError::body(format!(
                "could not read body: {e}"
            )))
        }
    })
}

#[derive(Deserialize)]
pub struct HealthQuery {
    branch: Option<String>,
}

pub async fn get_health(
    State(state): State<AppState>,
    Query(query): Query<HealthQuery>,
) -> Result<Response, ApiError> {
    let matrix = state.views.health(query.branch).await?;
    Ok(Json(matrix).into_response())
}
