//! What a server function answers instead of data: a typed error, so pages
//! tell "storage unavailable" from a bad request by its variant.

use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::codec::TextJsonEncoding;

/// Shown instead of an error dump when the store is down.
pub const UNAVAILABLE: &str = "Storage unavailable: the dashboard cannot reach its database right now. Results posted by CI are kept by their retries; try again in a moment.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DashboardError {
    /// The store cannot be reached; pages say so instead of failing.
    Unavailable,
    /// The request names something invalid; the message says what.
    BadRequest(String),
    /// The request names something that does not exist (a commit, an
    /// incident, a branch without builds); the message says what.
    NotFound(String),
    /// The call itself failed on its way (network, encoding).
    Call(String),
}

impl std::fmt::Display for DashboardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DashboardError::Unavailable => f.write_str(UNAVAILABLE),
            DashboardError::BadRequest(message)
            | DashboardError::NotFound(message)
            | DashboardError::Call(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for DashboardError {}

impl FromServerFnError for DashboardError {
    type Encoder = TextJsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        DashboardError::Call(value.to_string())
    }
}
