//! What every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::*;
use tokio::sync::watch;

use super::auth::{Caller, TokenCache};
use super::error::ApiError;
use super::fanout::Batch;
use super::ratelimit::{AddressLimiter, TokenLimiter};
use super::slots::Slots;
use crate::config::Settings;
use crate::service::Service;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub service: Service,
    pub settings: Arc<Settings>,
    /// Turns true when the server begins to shut down.
    pub shutdown: watch::Receiver<bool>,
    pub limiter: Option<Arc<TokenLimiter>>,
    /// Anonymous requests per client address.
    pub readers: Option<Arc<AddressLimiter>>,
    /// The stored tokens, as posts check them.
    pub tokens: Arc<TokenCache>,
    /// Cell changes, gathered and serialized once, for the event streams.
    pub cell_changes: tokio::sync::broadcast::Sender<Arc<Batch>>,
    /// Live event streams held open.
    pub streams: Arc<Slots>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Handlers that write take the token's caller as an argument: a request
/// without a valid token never reaches them.
impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        state
            .tokens
            .authorize(state.service.store.as_ref(), &parts.headers)
            .await
    }
}
