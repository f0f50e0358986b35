//! The router: every route, and the middleware around them.

use std::sync::Arc;

use app::ssr::DashboardContext;
use app::{shell, App};
use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::{delete, get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::error::ApiError;
use super::state::AppState;
use super::{
    api, console, events, github, incidents, known_issues, metrics, moved, openapi, quarantine,
    report, test_results,
};

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let dashboard = DashboardContext(Arc::new(state.service.clone()));
    let options = state.leptos_options.clone();
    let request_timeout = std::time::Duration::from_secs(state.settings.request_timeout);
    Router::new()
        .route("/api/v1/builds", post(api::post_builds))
        .route("/api/v1/github/webhook", post(github::webhook))
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .route(
            "/api/v1/known-issues",
            get(known_issues::list).post(known_issues::add),
        )
        .route("/api/v1/known-issues/{id}", delete(known_issues::remove))
        .route(
            "/api/v1/quarantine",
            get(quarantine::list)
                .post(quarantine::add)
                .delete(quarantine::remove),
        )
        .route("/api/v1/health", get(api::get_health))
        .route("/api/v1/console", get(console::console))
        .route("/api/v1/events", get(events::cell_events))
        .route("/healthz", get(api::healthz))
        .route("/robots.txt", get(api::robots))
        .route("/favicon.ico", get(api::favicon))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(metrics::render))
        .route("/api/v1/commits/{sha}", get(api::get_commit))
        .route("/api/v1/builds", get(api::list_builds))
        .route("/api/v1/releases", get(api::list_releases))
        .route("/api/v1/release", get(api::get_release))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::one))
        .route("/api/v1/incidents/{id}/ack", post(incidents::ack))
        .route("/api/v1/deliveries", get(incidents::deliveries))
        .route("/api/v1/report", get(report::report))
        .route("/api/v1/failures", get(report::failures))
        .route("/api/v1/tests/flaky", get(test_results::flaky))
        .route(
            "/api/v1/builds/{id}/tests",
            get(test_results::list).post(test_results::upload),
        )
        .route(
            "/api/v1/freeze",
            get(incidents::freeze).post(incidents::set_freeze),
        )
        .route("/badge.svg", get(api::badge))
        .route("/api/v1/releases/{branch}", get(moved::release))
        .route(
            "/api/v1/freeze/{branch}",
            get(moved::freeze).post(moved::freeze),
        )
        .route("/badge/{branch}/{component}", get(moved::badge))
        .route("/badge/{branch}/{component}/{arch}", get(moved::arch_badge))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(dashboard.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Until the answer's headers: an event stream's body is not bound by it.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_anonymous,
        ))
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
        // One line per request at `info`: method, path, status, latency.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Anonymous requests count against their address's budget; static files,
/// probes and posts (limited per token) do not, unless their token is
/// refused: a flood of bogus tokens is anonymous traffic, and answered 429
/// once its address's budget is spent.
async fn limit_anonymous(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = request.uri().path();
    let posts = path == "/api/v1/builds"
        || path == "/api/v1/github/webhook"
        || path.starts_with("/api/v1/builds/") && path.ends_with("/tests");
    let exempt = request.method() == axum::http::Method::POST && posts
        || path.starts_with("/pkg/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics" | "/favicon.svg");
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let (Some(limiter), Some(client)) = (&state.readers, client) else {
        return next.run(request).await;
    };
    // Some(answer) when the address has spent its budget.
    let spend = |limiter: &super::ratelimit::AddressLimiter| {
        limiter.check(client).err().map(|wait| {
            crate::http::metrics::refused("request", "client");
            ApiError::reads_limited(wait).into_response()
        })
    };
    if !exempt {
        if let Some(refused) = spend(limiter) {
            return refused;
        }
    }
    let response = next.run(request).await;
    if exempt && response.status() == StatusCode::UNAUTHORIZED {
        if let Some(refused) = spend(limiter) {
            return refused;
        }
    }
    response
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
