//! GitHub's webhook: `workflow_job` events become builds, so a GitHub
//! Actions job needs no step of its own to post. Only a body signed with
//! the configured secret is read.

use app::model::BuildResult;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::api::read_body;
use super::error::ApiError;
use super::state::AppState;
use crate::domain::field_error::FieldError;
use crate::domain::github::{self, Ignored};
use crate::domain::validation::{self, Context};
use crate::store::Poster;

/// The poster of builds GitHub's webhook brings: only it (or an admin)
/// changes them later.
pub const POSTER: &str = "github";

/// Why an event stored nothing, besides [`Ignored`]'s reasons.
pub const OTHER_REASONS: [&str; 2] = ["older_state", "other_event"];

fn ignored(reason: &'static str) -> Response {
    metrics::counter!("github_webhook_ignored_total", "reason" => reason).increment(1);
    (StatusCode::OK, Json(json!({ "ignored": reason }))).into_response()
}

pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(secret) = &state.settings.github_webhook_secret else {
        return Err(ApiError::NotFound(
            "GitHub webhook ingestion is off: set CI_DASHBOARD_GITHUB_WEBHOOK_SECRET".into(),
        ));
    };
    let bytes = read_body(&headers, body).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !github::signature_valid(secret.expose(), &bytes, header("x-hub-signature-256")) {
        crate::http::metrics::refused("github_webhook", "signature");
        return Err(ApiError::BadSignature);
    }
    match header("x-github-event") {
        Some("ping") => Ok(Json(json!({ "ok": true })).into_response()),
        Some("workflow_job") => workflow_job(&state, &bytes).await,
        _ => Ok(ignored("other_event")),
    }
}

async fn workflow_job(state: &AppState, bytes: &[u8]) -> Result<Response, ApiError> {
    let payload: Value = serde_json::from_slice(bytes)
        .map_err(|e| FieldError::body(format!("body is not valid JSON: {e}")))?;
    let jobs = state
        .service
        .github
        .as_ref()
        .map_or(&[][..], |g| g.jobs.as_slice());
    let object = match github::workflow_job_build(&payload, jobs) {
        Ok(object) => object,
        Err(why) => return Ok(ignored(Ignored::as_str(why))),
    };
    let ctx = Context {
        default_repository: &state.settings.repository,
        now: Utc::now(),
    };
    let builds = validation::parse_value(object, &ctx, || uuid::Uuid::new_v4().to_string())?;
    // GitHub does not promise order: a job's `in_progress` may arrive after
    // its `completed`, and must not turn it back into running.
    if let Some(build) = builds.first().filter(|b| b.result == BuildResult::Running) {
        let stored = state.service.store.build(&build.id).await?;
        if stored.is_some_and(|s| s.result.is_finished()) {
            return Ok(ignored("older_state"));
        }
    }
    let poster = Poster::Token {
        name: POSTER.into(),
        admin: false,
    };
    let outcome = state.service.ingest(builds, &poster).await?;
    let status = if outcome.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "ids": outcome.ids }))).into_response())
}
