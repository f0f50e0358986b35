//! What every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::FromRef;
use leptos::prelude::*;
use tokio::sync::watch;

use super::ratelimit::TokenLimiter;
use super::slots::Slots;
use crate::config::Settings;
use crate::queries::Views;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub views: Views,
    pub settings: Arc<Settings>,
    /// Turns true when the server begins to shut down.
    pub shutdown: watch::Receiver<bool>,
    pub limiter: Option<Arc<TokenLimiter>>,
    /// When each token's last use was last written to the store.
    pub token_uses: Arc<Mutex<HashMap<String, Instant>>>,
    /// Live event streams held open.
    pub streams: Arc<Slots>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
