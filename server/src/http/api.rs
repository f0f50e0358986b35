//! The JSON API: ingestion for CI jobs, health for scripts.

use axum::body::Body;
use std::collections::HashMap;

use app::model::{
    Build, BuildResult, CommitCandidate, CommitLookup, CommitReport, HealthMatrix, ReleaseReport,
    ReleaseSummary,
};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::state::AppState;
use crate::domain::badge;
use crate::domain::field_error::FieldError;
use crate::domain::ids::{Branch, Name};
use crate::domain::validation::{self, Context};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ErrorBody};
use crate::service::overview::badge_state;
use crate::service::PAGE_SIZE;
use crate::store::BuildFilter;

/// What a post stored (or found already stored): the builds' ids, in order.
#[derive(Serialize, ToSchema)]
pub struct Posted {
    pub ids: Vec<String>,
}

/// Several commits match a SHA prefix or PR number.
#[derive(Serialize, ToSchema)]
pub struct Candidates {
    pub error: String,
    pub candidates: Vec<CommitCandidate>,
}

/// A page of builds; `next_cursor` asks for the next one.
#[derive(Serialize, ToSchema)]
pub struct BuildPage {
    pub builds: Vec<Build>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Releases {
    pub releases: Vec<ReleaseSummary>,
}

/// Release readiness with the Markdown a release issue takes.
#[derive(Serialize, ToSchema)]
pub struct ReleaseAnswer {
    #[serde(flatten)]
    pub report: ReleaseReport,
    pub markdown: String,
}

/// Largest accepted body: 1000 builds of realistic size fit well within it.
pub const MAX_BODY: usize = 1024 * 1024;

#[utoipa::path(post, path = "/api/v1/builds", tag = "ingestion",
    request_body(content = Vec<Build>, description = "A build object or an array of 1 to 1,000; `id`, `finished_at`, `url` and the commit's details may be left out"),
    responses(
        (status = 201, description = "Stored", body = Posted),
        (status = 200, description = "Every build an identical replay", body = Posted),
        (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "A build of that id differs in identity, or another token posted it", body = ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 429, description = "Over the token's rate limit", body = ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(skip_all, fields(token, builds))]
pub async fn post_builds(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let token_name = &caller.name;
    tracing::Span::current().record("token", token_name.as_str());
    if let Some(limiter) = &state.limiter {
        limiter.check(token_name).map_err(ApiError::rate_limited)?;
    }
    state
        .tokens
        .record_use(state.service.store.clone(), token_name);
    require_json(&headers)?;
    let bytes = read_body(&headers, body).await?;
    let ctx = Context {
        default_repository: &state.settings.repository,
        now: Utc::now(),
    };
    let builds = validation::parse_body(&bytes, &ctx, || uuid::Uuid::new_v4().to_string())?;
    tracing::Span::current().record("builds", builds.len());
    if let Some(limiter) = &state.limiter {
        limiter
            .check_builds(token_name, builds.len())
            .map_err(ApiError::rate_limited)?;
    }
    let outcome = state.service.ingest(builds, &caller.poster()).await?;
    let status = if outcome.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(Posted { ids: outcome.ids })).into_response())
}

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process serves", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Crawlers may read the pages, not the API (every API answer costs a
/// store read, and none is a page).
#[utoipa::path(get, path = "/robots.txt", tag = "operations",
    responses((status = 200, description = "Crawlers may read pages, not the API", body = String, content_type = "text/plain")))]
pub async fn robots() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "User-agent: *\nDisallow: /api/\nDisallow: /badge\n",
    )
}

/// Browsers and tools that ask for `/favicon.ico` without reading the
/// page's `<link rel="icon">` get the SVG icon.
#[utoipa::path(get, path = "/favicon.ico", tag = "operations",
    responses((status = 308, description = "To /favicon.svg")))]
pub async fn favicon() -> impl IntoResponse {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, "/favicon.svg")],
    )
}

/// The store answers: load balancers send traffic only then.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The store answers", body = String, content_type = "text/plain"),
        (status = 503, description = "The store does not answer", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.service.store.ready().await?;
    Ok("ready")
}

pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
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

/// A JSON body (`Content-Type: application/json`, bounded) as a value,
/// for handlers that check its fields one by one.
pub(super) async fn json_body(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    require_json(headers)?;
    let bytes = read_body(headers, body).await?;
    Ok(serde_json::from_slice(&bytes)
        .map_err(|e| FieldError::body(format!("body is not JSON: {e}")))?)
}

pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, ApiError> {
    read_limited(headers, body, MAX_BODY).await
}

/// The body, refused past `max` bytes whether it says so up front or not.
pub(super) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(ApiError::TooLarge(max));
    }
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::TooLarge(max)
        } else {
            ApiError::Invalid(FieldError::body(format!("could not read body: {e}")))
        }
    })
}

#[derive(Deserialize)]
pub struct HealthQuery {
    branch: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/health", tag = "reads",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given")),
    responses((status = 200, description = "The branch's cells, judged stale or not", body = HealthMatrix), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn get_health(
    State(state): State<AppState>,
    Query(query): Query<HealthQuery>,
) -> Result<Response, ApiError> {
    let branch = Branch::parse_optional(query.branch.as_deref())?;
    let matrix = state.service.health(branch).await?;
    Ok(Json(matrix).into_response())
}

#[utoipa::path(get, path = "/api/v1/commits/{sha}", tag = "reads",
    params(("sha" = String, Path, description = "A SHA or its prefix (7+ hex digits), or a PR number (#1234)")),
    responses(
        (status = 200, description = "Each cell's verdict at the commit", body = CommitReport),
        (status = 300, description = "Several commits match", body = Candidates),
        (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody),
        (status = 404, description = "No build of such a commit", body = ErrorBody),
    ))]
pub async fn get_commit(
    State(state): State<AppState>,
    Path(sha): Path<String>,
) -> Result<Response, ApiError> {
    Ok(match state.service.commit(&sha).await? {
        CommitLookup::Report(report) => Json(report).into_response(),
        CommitLookup::Candidates(candidates) => (
            StatusCode::MULTIPLE_CHOICES,
            Json(Candidates {
                error: format!("'{sha}' matches several commits; use a longer prefix"),
                candidates,
            }),
        )
            .into_response(),
    })
}

fn query_param<T>(
    params: &HashMap<String, String>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    match params.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| {
            ApiError::Invalid(FieldError::field(
                name,
                format!("{name} must be {expected}"),
            ))
        }),
    }
}

/// Refuses, by name, a query parameter the endpoint does not take.
pub(super) fn only_params(
    params: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => {
            Err(FieldError::field(unknown, format!("unknown parameter '{unknown}'")).into())
        }
        None => Ok(()),
    }
}

/// An identity parameter, parsed as the ingestion parses it (architecture
/// aliases included: `x86_64` is `amd64`).
pub(super) fn name_param(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let value = params.get(name).filter(|v| !v.is_empty());
    let parse = |v: &String| match name {
        "arch" => Name::arch(v),
        _ => Name::parse(name, v),
    };
    Ok(value.map(parse).transpose()?.map(Name::into_string))
}

const BUILD_PARAMS: [&str; 7] = [
    "branch",
    "component",
    "arch",
    "build_type",
    "result",
    "limit",
    "cursor",
];

#[utoipa::path(get, path = "/api/v1/builds", tag = "reads",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given"),
        ("component" = Option<String>, Query), ("arch" = Option<String>, Query), ("build_type" = Option<String>, Query),
        ("result" = Option<String>, Query, description = "running, pass, fail, error or cancelled"),
        ("limit" = Option<usize>, Query, description = "1-500, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "Builds, newest first", body = BuildPage), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn list_builds(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only_params(&params, &BUILD_PARAMS)?;
    let filter = BuildFilter {
        branch: Branch::parse_optional(params.get("branch").map(String::as_str))?
            .map(Branch::into_string),
        component: name_param(&params, "component")?,
        arch: name_param(&params, "arch")?,
        build_type: name_param(&params, "build_type")?,
        result: query_param(
            &params,
            "result",
            BuildResult::parse,
            "one of running, pass, fail, error, cancelled",
        )?,
        since: None,
    };
    let limit = query_param(
        &params,
        "limit",
        |v| {
            v.parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
        },
        "an integer from 1 to 500",
    )?
    .unwrap_or(PAGE_SIZE);
    let (builds, next_cursor) = state
        .service
        .builds(&filter, params.get("cursor").map(String::as_str), limit)
        .await?;
    Ok(Json(BuildPage {
        builds,
        next_cursor,
    })
    .into_response())
}

const MAX_LIMIT: usize = 500;

/// `GET /api/v1/release?branch=`: release readiness at the branch's head,
/// with its Markdown (the default branch unless given).
#[utoipa::path(get, path = "/api/v1/release", tag = "reads",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given")),
    responses((status = 200, description = "Release readiness at the branch's head, with its Markdown", body = ReleaseAnswer), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn get_release(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only_params(&params, &["branch"])?;
    let report = state
        .service
        .release(&branch_param(&state, &params)?)
        .await?;
    let markdown = report.markdown();
    Ok(Json(ReleaseAnswer { report, markdown }).into_response())
}

/// `?branch=` as every route of one branch takes it: the default branch
/// unless given.
pub(super) fn branch_param(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Branch, ApiError> {
    let branch = params.get("branch").map(String::as_str);
    Ok(Branch::parse_or(branch, &state.service.default_branch)?)
}

#[utoipa::path(get, path = "/api/v1/releases", tag = "reads",
    responses((status = 200, description = "Release branches and their readiness", body = Releases)))]
pub async fn list_releases(State(state): State<AppState>) -> Result<Response, ApiError> {
    let releases = state.service.releases().await?;
    Ok(Json(Releases { releases }).into_response())
}

/// `GET /badge.svg?branch=&component=[&arch=]`: a component's state on a
/// branch (the default branch unless given), or one architecture's.
#[utoipa::path(get, path = "/badge.svg", tag = "reads",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given"), ("component" = String, Query), ("arch" = Option<String>, Query)),
    responses((status = 200, description = "An SVG badge", body = String, content_type = "image/svg+xml"), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn badge(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only_params(&params, &["branch", "component", "arch"])?;
    let branch = branch_param(&state, &params)?.into_string();
    let component = name_param(&params, "component")?.ok_or_else(|| {
        FieldError::field("component", "component is required: the badge's component")
    })?;
    let arch = name_param(&params, "arch")?;
    let arch = arch.as_deref();
    let cells: Vec<_> = state
        .service
        .store
        .cells(&branch)
        .await?
        .into_iter()
        .filter(|c| c.cell.component == component && arch.is_none_or(|a| c.cell.arch == a))
        .collect();
    let label = match arch {
        Some(a) => format!("{component} {a}"),
        None => component.to_string(),
    };
    let svg = badge::render(&label, badge_state(&cells));
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=60, must-revalidate"),
        ],
        svg,
    )
        .into_response())
}
