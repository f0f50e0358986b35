//! Who is posting: the bearer token checked against a cached copy of the
//! stored tokens, so a token check never waits behind the store. The copy
//! is re-read every [`REFRESH`], which bounds how long a revoked token
//! still works; an unknown token triggers an early re-read (at most one a
//! second, however many are sent), so a token created a moment ago works
//! at once. A re-read that fails keeps the last good copy for another
//! [`REFRESH`]: a store slowed by load never turns a known token's post
//! into a 503.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use chrono::Utc;

use super::error::ApiError;
use crate::domain::token::{self, Grants, TokenRecord};
use crate::store::{Poster, Store};

pub const REFRESH: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct TokenCache {
    cached: Mutex<Cached>,
    /// One re-read at a time; the others then use its result.
    rereading: tokio::sync::Mutex<()>,
    /// When each token's last use was last written to the store.
    uses: Mutex<HashMap<String, Instant>>,
}

#[derive(Default)]
struct Cached {
    tokens: Arc<Vec<TokenRecord>>,
    read_at: Option<Instant>,
    /// The last re-read an unknown token caused.
    unknown_at: Option<Instant>,
}

impl TokenCache {
    fn cached(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tokens, re-read when the copy is older than `max_age`.
    async fn tokens(
        &self,
        store: &dyn Store,
        max_age: Duration,
    ) -> Result<Arc<Vec<TokenRecord>>, ApiError> {
        let fresh = |c: &Cached| c.read_at.is_some_and(|at| at.elapsed() < max_age);
        {
            let cached = self.cached();
            if fresh(&cached) {
                return Ok(cached.tokens.clone());
            }
        }
        let _rereading = self.rereading.lock().await;
        {
            let cached = self.cached();
            if fresh(&cached) {
                return Ok(cached.tokens.clone());
            }
        }
        let read = store.tokens().await;
        let mut cached = self.cached();
        match read {
            Ok(tokens) => cached.tokens = Arc::new(tokens),
            Err(e) if cached.read_at.is_some() => {
                tracing::warn!(error = %e, "cannot re-read tokens; using the last good copy");
            }
            Err(e) => return Err(e.into()),
        }
        cached.read_at = Some(Instant::now());
        Ok(cached.tokens.clone())
    }

    /// Whether an unknown token may cause a re-read now.
    fn may_reread_for_unknown(&self) -> bool {
        let mut cached = self.cached();
        let now = Instant::now();
        if cached
            .unknown_at
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            return false;
        }
        cached.unknown_at = Some(now);
        true
    }

    pub async fn authorize(
        &self,
        store: &dyn Store,
        headers: &HeaderMap,
    ) -> Result<Caller, ApiError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let caller = |t: &TokenRecord| Caller {
            name: t.name.clone(),
            grants: t.grants,
        };
        let tokens = self.tokens(store, REFRESH).await?;
        if let Some(found) = token::verify(presented, &tokens) {
            return Ok(caller(found));
        }
        if !self.may_reread_for_unknown() {
            return Err(ApiError::Unauthorized);
        }
        let tokens = self.tokens(store, Duration::ZERO).await?;
        token::verify(presented, &tokens)
            .map(caller)
            .ok_or(ApiError::Unauthorized)
    }

    /// Writes a token's last use at most once a minute, off the request
    /// path: `token list` shows it, and a post never waits for it.
    pub fn record_use(&self, store: Arc<dyn Store>, name: &str) {
        let now = Instant::now();
        {
            let mut uses = self.uses.lock().unwrap_or_else(|p| p.into_inner());
            if uses
                .get(name)
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
            {
                return;
            }
            uses.insert(name.to_string(), now);
        }
        let name = name.to_string();
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&name, Utc::now()).await {
                tracing::warn!(error = %e, token = %name, "cannot record the token's last use");
            }
        });
    }
}

/// The token a request carries, as a poster of builds.
pub struct Caller {
    pub name: String,
    pub grants: Grants,
}

impl Caller {
    pub fn poster(&self) -> Poster {
        Poster::Token {
            name: self.name.clone(),
            admin: self.grants.admin,
        }
    }
}
