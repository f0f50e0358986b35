//! Every way a request can fail, mapped to a status and a JSON body in one
//! place: `{"error": "...", "field": "...", "index": N}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::field_error::FieldError;
use crate::http::slots::Refused;
use crate::service::ServiceError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying when the store is down.
const RETRY_AFTER_SECS: &str = "5";

/// Every error's body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong, in words.
    pub error: String,
    /// The field or parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Which element of a posted array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("missing or invalid token: send 'Authorization: Bearer <token>'")]
    Unauthorized,
    #[error("X-Hub-Signature-256 is missing or does not sign this body with the webhook's secret")]
    BadSignature,
    #[error("body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
        index: Option<usize>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("too many posts or builds with this token; retry after {0} s")]
    RateLimited(u64),
    #[error("too many requests from your address; retry after {0} s")]
    ReadsLimited(u64),
    #[error("the server holds its maximum of {0}; retry after {RETRY_AFTER_SECS} s")]
    Full(&'static str),
    #[error("too many {0} from your address; retry after {RETRY_AFTER_SECS} s")]
    ClientFull(&'static str),
    #[error("storage unavailable, retry later")]
    Unavailable(String),
    #[error("{0}")]
    Unconfirmed(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => ApiError::Unavailable(why),
            StoreError::Conflict {
                index,
                field,
                message,
            } => ApiError::Conflict {
                field,
                message,
                index: Some(index),
            },
            StoreError::Unconfirmed(_) => ApiError::Unconfirmed(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    /// No slot for one more of `what` (event streams).
    pub fn refused(what: &'static str, refused: Refused) -> Self {
        let reason = match refused {
            Refused::Full => "full",
            Refused::ClientFull => "client",
        };
        crate::http::metrics::refused(what, reason);
        match refused {
            Refused::Full => ApiError::Full(what),
            Refused::ClientFull => ApiError::ClientFull(what),
        }
    }

    /// Over a rate limit: retry after `wait`, in whole seconds, at least one.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        ApiError::RateLimited(whole_seconds(wait))
    }

    /// An address over its anonymous request budget.
    pub fn reads_limited(wait: std::time::Duration) -> Self {
        ApiError::ReadsLimited(whole_seconds(wait))
    }
}

fn whole_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(e) => ApiError::Invalid(e),
            ServiceError::NotFound(message) => ApiError::NotFound(message),
            ServiceError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field, index) = match &self {
            ApiError::Invalid(e) => (StatusCode::BAD_REQUEST, e.field.clone(), e.index),
            ApiError::Unauthorized | ApiError::BadSignature => {
                (StatusCode::UNAUTHORIZED, None, None)
            }
            ApiError::RateLimited(_) | ApiError::ReadsLimited(_) | ApiError::ClientFull(_) => {
                (StatusCode::TOO_MANY_REQUESTS, None, None)
            }
            ApiError::Full(_) => (StatusCode::SERVICE_UNAVAILABLE, None, None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, None, None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, None, None),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None, None),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None, None),
            ApiError::Conflict { field, index, .. } => {
                (StatusCode::CONFLICT, Some(field.to_string()), *index)
            }
            ApiError::Unavailable(why) | ApiError::Unconfirmed(why) => {
                // Counted where the failure becomes an answer, once per
                // request (pages count theirs in `pages.rs`).
                crate::http::metrics::store_error();
                tracing::warn!(error = %why, "store unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, None, None)
            }
            ApiError::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, None, None)
            }
        };
        let body = ErrorBody {
            error: self.to_string(),
            field,
            index,
        };
        let mut response = (status, Json(body)).into_response();
        match self {
            ApiError::Unavailable(_)
            | ApiError::Unconfirmed(_)
            | ApiError::Full(_)
            | ApiError::ClientFull(_) => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            ApiError::RateLimited(seconds) | ApiError::ReadsLimited(seconds) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
