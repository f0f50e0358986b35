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
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::api::{read_body, Posted};
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::domain::field_error::FieldError;
use crate::domain::github::{self, Ignored};
use crate::domain::validation::{self, Context};
use crate::store::Poster;

/// The poster of builds GitHub's webhook brings: only it (or an admin)
/// changes them later.
pub const POSTER: &str = "github";

/// A ping's answer, or why an event stored nothing.
#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<&'static str>,
}

fn ignored(why: Ignored) -> Response {
    let reason = why.as_str();
    metrics::counter!("github_webhook_ignored_total", "reason" => reason).increment(1);
    let answer = WebhookAnswer {
        ok: None,
        ignored: Some(reason),
    };
    (StatusCode::OK, Json(answer)).into_response()
}

#[utoipa::path(post, path = "/api/v1/github/webhook", tag = "ingestion",
    params(
        ("X-Hub-Signature-256" = String, Header, description = "sha256=<HMAC-SHA256 of the body with the webhook's secret>"),
        ("X-GitHub-Event" = String, Header, description = "ping, workflow_job; others are ignored")),
    request_body(content = Object, description = "GitHub's event payload"),
    responses(
        (status = 201, description = "The job's build stored", body = Posted),
        (status = 200, description = "A replay, a ping, or ignored (`ignored` says why)", body = WebhookAnswer),
        (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody),
        (status = 401, description = "Unsigned or mis-signed: nothing stored", body = ErrorBody),
        (status = 404, description = "No webhook secret is configured", body = ErrorBody),
    ))]
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
        Some("ping") => Ok(Json(WebhookAnswer {
            ok: Some(true),
            ignored: None,
        })
        .into_response()),
        Some("workflow_job") => workflow_job(&state, &bytes).await,
        _ => Ok(ignored(Ignored::OtherEvent)),
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
        Err(why) => return Ok(ignored(why)),
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
            return Ok(ignored(Ignored::OlderState));
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
    Ok((status, Json(Posted { ids: outcome.ids })).into_response())
}
