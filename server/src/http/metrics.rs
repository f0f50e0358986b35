//! Prometheus metrics on `/metrics`: requests and their latency per route,
//! ingested builds by result, store errors.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder; several apps in one process (tests) share it.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed; this one is then unused.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn install() {
    handle();
}

pub async fn track(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    // Route templates, never raw paths: label cardinality stays bounded.
    let route = matched.map_or_else(|| "static".to_string(), |m| m.as_str().to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Anyone may send any method name: the standard ones are labels of their
/// own, every other one is "other".
fn method_label(method: &axum::http::Method) -> String {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ];
    if known.contains(method) {
        method.to_string()
    } else {
        "other".to_string()
    }
}

pub async fn render() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}

pub fn store_error() {
    metrics::counter!("store_errors_total").increment(1);
}

/// A connection or event stream refused because clients hold too many.
pub fn refused(what: &'static str, reason: &'static str) {
    metrics::counter!("http_refused_total", "what" => what, "reason" => reason).increment(1);
}

pub fn open(what: &'static str, count: usize) {
    metrics::gauge!("http_open", "what" => what).set(count as f64);
}
