//! Test results over HTTP: a CI job uploads JUnit XML (plain or gzip) for
//! a build it posted; anyone reads a build's tests.

use std::collections::HashMap;
use std::io::Read;

use app::model::{BuildTests, FlakyTests, TestTotals};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{only_params, read_limited};
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::report::branch_and_days;
use super::state::AppState;
use crate::domain::field_error::FieldError;
use crate::service::test_results::off_workers;
use crate::store::plan::ownership_conflict;

/// An upload as sent (compressed or not).
pub const MAX_UPLOAD: usize = 10 * 1024 * 1024;
/// A file once decompressed, and how much smaller than that it may arrive.
pub const MAX_XML: usize = 32 * 1024 * 1024;
const MAX_RATIO: usize = 200;

fn is_xml(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/xml") || mime.eq_ignore_ascii_case("text/xml")
        })
}

fn content_encoding(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
}

/// The body as XML: gunzipped when it says so, never past [`MAX_XML`] or
/// [`MAX_RATIO`] times its compressed size.
fn decoded(encoding: Option<&str>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    match encoding {
        None | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let bound = MAX_XML.min(body.len().saturating_mul(MAX_RATIO).max(64 * 1024));
            let mut xml = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(bound as u64 + 1)
                .read_to_end(&mut xml)
                .map_err(|e| FieldError::field("body", format!("not valid gzip: {e}")))?;
            if xml.len() > bound {
                return Err(ApiError::TooLarge(bound));
            }
            Ok(xml)
        }
        Some(other) => Err(FieldError::field(
            "content-encoding",
            format!("content-encoding '{other}' is not accepted: send gzip or plain XML"),
        )
        .into()),
    }
}

/// `POST /api/v1/builds/<id>/tests`: one JUnit XML file of a build. 201
/// when added, 200 when the same file was already there.
/// What an upload added to its build.
#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    pub build: String,
    /// Test cases in the file.
    pub tests: usize,
    pub totals: TestTotals,
}

#[utoipa::path(post, path = "/api/v1/builds/{id}/tests", tag = "ingestion",
    params(("id" = String, Path, description = "The build's id")),
    request_body(content = String, content_type = "application/xml", description = "One JUnit XML file, plain or gzip (Content-Encoding)"),
    responses(
        (status = 201, description = "Added", body = Uploaded),
        (status = 200, description = "The same file was already there", body = Uploaded),
        (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such build", body = ErrorBody),
        (status = 413, description = "Over 10 MiB, or over 32 MiB unpacked", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    tracing::Span::current().record("token", caller.name.as_str());
    if let Some(limiter) = &state.limiter {
        limiter
            .check(&caller.name)
            .map_err(ApiError::rate_limited)?;
    }
    if !is_xml(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = read_limited(&headers, body, MAX_UPLOAD).await?;
    let encoding = content_encoding(&headers);
    let xml = off_workers(move || decoded(encoding.as_deref(), &bytes)).await?;
    let build = state
        .service
        .store
        .build(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no build '{id}': post the build first")))?;
    // Tests belong to the build: only its poster or an admin adds them.
    if let Some(conflict) = ownership_conflict(&build, &caller.poster(), 0) {
        return Err(conflict.into());
    }
    let uploaded = state.service.upload_tests(&build, xml).await?;
    let status = if uploaded.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Uploaded {
            build: id,
            tests: uploaded.tests,
            totals: uploaded.totals,
        }),
    )
        .into_response())
}

/// `GET /api/v1/builds/<id>/tests?cursor=&limit=`.
#[utoipa::path(get, path = "/api/v1/builds/{id}/tests", tag = "reads",
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "The build's test results, failures first", body = BuildTests), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only_params(&params, &["cursor", "limit"])?;
    let limit = params
        .get("limit")
        .map(|l| {
            l.parse::<usize>()
                .map_err(|_| FieldError::field("limit", "limit must be a number"))
        })
        .transpose()?;
    let tests = state
        .service
        .build_tests(&id, params.get("cursor").map(String::as_str), limit)
        .await?;
    Ok(Json(tests).into_response())
}

/// `GET /api/v1/tests/flaky?branch=&days=`: the flaky ranking.
#[utoipa::path(get, path = "/api/v1/tests/flaky", tag = "reads",
    params(("branch" = Option<String>, Query, description = "A branch; the default branch unless given"), ("days" = Option<u32>, Query, description = "The window in days (1-365, default 30)")),
    responses((status = 200, description = "Tests by flip rate in the window", body = FlakyTests), (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody)))]
pub async fn flaky(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (branch, days) = branch_and_days(&state, &params)?;
    Ok(Json(state.service.flaky_tests(&branch, days).await?).into_response())
}
