//! Prometheus metrics on `/metrics`: requests and their latency per route,
//! ingested builds by result, store errors, refusals, webhook attempts, the
//! process (memory, open files, CPU, start time) and the build. Every family
//! has its `# HELP`, and the counters a dashboard alerts on exist from the
//! start at 0, so `promtool check metrics` passes and a rate is defined
//! before the first event.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::github::Ignored;

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

/// Every label value a counter of [`init`] takes, so each series exists
/// from the start.
const RESULTS: [&str; 5] = ["running", "pass", "fail", "error", "cancelled"];
const REFUSALS: [(&str, &str); 6] = [
    ("connection", "full"),
    ("connection", "client"),
    ("event streams", "full"),
    ("event streams", "client"),
    ("request", "client"),
    ("github_webhook", "signature"),
];

fn process() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

pub fn install() {
    static INIT: OnceLock<()> = OnceLock::new();
    handle();
    INIT.get_or_init(init);
}

/// Describes every family and creates the counters at 0.
fn init() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, route and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method, route and status"
    );
    describe_gauge!("http_open", "Connections and event streams open now");
    describe_counter!(
        "http_refused_total",
        "Connections, event streams and requests refused because clients hold too many"
    );
    describe_counter!("builds_ingested_total", "Builds stored, by result");
    describe_counter!("store_errors_total", "Requests answered with a store error");
    describe_counter!(
        "webhook_attempts_total",
        "Webhook delivery attempts, by the delivery's state after"
    );
    describe_counter!(
        "github_webhook_ignored_total",
        "GitHub webhook events that stored no build, by why (unmapped: no [[job]] entry)"
    );
    describe_gauge!("ci_dashboard_build_info", "The running version (always 1)");
    for result in RESULTS {
        metrics::counter!("builds_ingested_total", "result" => result).absolute(0);
    }
    for (what, reason) in REFUSALS {
        metrics::counter!("http_refused_total", "what" => what, "reason" => reason).absolute(0);
    }
    metrics::counter!("store_errors_total").absolute(0);
    for why in Ignored::ALL {
        metrics::counter!("github_webhook_ignored_total", "reason" => why.as_str()).absolute(0);
    }
    for state in ["pending", "delivered", "failed", "superseded"] {
        metrics::counter!("webhook_attempts_total", "state" => state).absolute(0);
    }
    metrics::gauge!("ci_dashboard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    process().describe();
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

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn render() -> impl IntoResponse {
    process().collect();
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
