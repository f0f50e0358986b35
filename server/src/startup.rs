//! Builds the application from its configuration, so `main` and the tests
//! run exactly the same router.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use app::ssr::DashboardContext;
use app::{shell, App};
use axum::extract::FromRef;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::{Settings, StoreKind};
use crate::dashboard::Views;
use crate::ratelimit::TokenLimiter;
use crate::release::{ReleaseConfig, MAGMA_DEFAULT};
use crate::store::embedded::EmbeddedStore;
use crate::store::firestore::{FirestoreSettings, FirestoreStore};
use crate::store::Store;
use crate::{api, events, metrics};
use anyhow::Context as _;

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
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub async fn open_store(settings: &Settings, default_dir: &str) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.store {
        StoreKind::Embedded => Arc::new(EmbeddedStore::open(&settings.data_dir_or(default_dir))?),
        StoreKind::Firestore => {
            let project = settings
                .firestore_project
                .clone()
                .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok())
                .filter(|p| !p.is_empty())
                .context(
                    "--store firestore needs --firestore-project \
                     (or CI_DASHBOARD_FIRESTORE_PROJECT or GOOGLE_CLOUD_PROJECT)",
                )?;
            Arc::new(
                FirestoreStore::open(&FirestoreSettings {
                    project,
                    database: settings.firestore_database.clone(),
                    timeout: Duration::from_secs(settings.store_timeout.max(1)),
                })
                .await?,
            )
        }
    })
}

pub fn load_release_config(settings: &Settings) -> anyhow::Result<ReleaseConfig> {
    match &settings.release_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            ReleaseConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        None => ReleaseConfig::parse(MAGMA_DEFAULT)
            .map_err(|e| anyhow::anyhow!("built-in release config: {e}")),
    }
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let dashboard = DashboardContext(Arc::new(state.views.clone()));
    let options = state.leptos_options.clone();
    Router::new()
        .route("/api/v1/builds", post(api::post_builds))
        .route("/api/v1/health", get(api::get_health))
        .route("/api/v1/events", get(events::cell_events))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(metrics::render))
        .route("/api/v1/commits/{sha}", get(api::get_commit))
        .route("/api/v1/builds", get(api::list_builds))
        .route("/api/v1/releases", get(api::list_releases))
        .route("/api/v1/releases/{branch}", get(api::get_release))
        .route("/badge/{branch}/{component}", get(api::badge))
        .route("/badge/{branch}/{component}/{arch}", get(api::arch_badge))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(dashboard.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(cache_static))
        // Pages set their own policy with a per-response nonce; everything
        // else (JSON, SVG badges) may not run or embed anything.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        // Live event streams must reach the browser event by event.
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("text/event-stream")),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `cargo leptos build` with `hash-files` writes hash.txt next to the
/// binary; test binaries have none and use the plain names.
fn asset_hashes_exist() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt").is_file()))
        .unwrap_or(false)
}

/// Hashed site files never change under their name: cache them for a
/// year. Others are revalidated on every use.
async fn cache_static(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    if let Some(file) = path.strip_prefix("/pkg/") {
        if response.status().is_success() {
            let policy = if is_hashed(file) {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        }
    }
    response
}

/// `ci-dashboard.3f9a0c1e2b.js` is hashed; `ci-dashboard.js` is not.
fn is_hashed(file: &str) -> bool {
    let mut parts = file.split('.');
    parts.next();
    let hash = parts.next().unwrap_or_default();
    parts.next().is_some()
        && hash.len() >= 8
        && hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    stopping: watch::Sender<bool>,
}

impl Application {
    /// Binds the listen address (port 0 picks a free port, as tests do).
    pub async fn build(settings: Settings, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        metrics::install();
        let release = Arc::new(load_release_config(&settings)?);
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let leptos_options = LeptosOptions::builder()
            .output_name("ci-dashboard")
            .site_root(settings.site_root.to_string_lossy().as_ref())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .env(leptos::config::Env::PROD)
            .hash_files(asset_hashes_exist())
            .build();
        let views = Views {
            store,
            default_branch: settings.default_branch.clone(),
            release,
        };
        let (stopping, shutdown) = watch::channel(false);
        let state = AppState {
            leptos_options,
            views,
            limiter: TokenLimiter::new(settings.rate_limit, settings.rate_burst).map(Arc::new),
            token_uses: Arc::default(),
            settings: Arc::new(settings),
            shutdown,
        };
        Ok(Application {
            listener,
            router: router(state),
            stopping,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stopping = self.stopping;
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stopping.send_replace(true);
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn only_hashed_asset_names_are_cached_for_good() {
        assert!(is_hashed("ci-dashboard.2b6f1c0d9e8a7f65.wasm"));
        assert!(is_hashed("ci-dashboard.2b6f1c0d9e8a7f65.js.br"));
        assert!(!is_hashed("ci-dashboard.wasm"));
        assert!(!is_hashed("ci-dashboard.css"));
        assert!(!is_hashed("ci-dashboard_bg.wasm.d.ts"));
    }
}
