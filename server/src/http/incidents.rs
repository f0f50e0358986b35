//! Incidents and the merge freeze over JSON: what on-call and a required
//! CI check read.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::state::AppState;
use crate::domain::field_error::FieldError;
use crate::domain::ids::Branch;
use crate::queries::incidents::StateFilter;

pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !["branch", "state"].contains(&k.as_str()))
    {
        return Err(FieldError::field(unknown, format!("unknown parameter '{unknown}'")).into());
    }
    let branch = Branch::parse_optional(params.get("branch").map(String::as_str))?;
    let filter = match params.get("state").map(String::as_str) {
        None | Some("") | Some("all") => StateFilter::All,
        Some("open") => StateFilter::Open,
        Some("resolved") => StateFilter::Resolved,
        Some(_) => {
            return Err(FieldError::field("state", "state must be open, resolved or all").into())
        }
    };
    let incidents = state.views.incidents(branch.as_ref(), filter).await?;
    Ok(Json(json!({ "incidents": incidents })).into_response())
}

pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.views.incident(&id).await?).into_response())
}

pub async fn freeze(
    State(state): State<AppState>,
    Path(branch): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.views.freeze(&Branch::parse(&branch)?).await?).into_response())
}
