//! `/metrics` in a process of its own, so the counters are exactly what
//! this test did: every family described (`promtool check metrics`, from
//! Debian's `prometheus` package, accepts it), the counters a dashboard
//! alerts on present at 0 before their first event, the process and build
//! gauges; and the files every first visit asks for.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

#[path = "it/common.rs"]
mod common;

fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool: install Debian's prometheus package (./scripts/test does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[tokio::test]
async fn metrics_pass_promtool_and_counters_start_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let app = common::spawn(dir.path()).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    let text = get("/metrics").await.unwrap().text().await.unwrap();
    let (ok, said) = promtool(&text);
    assert!(ok, "promtool: {said}\n{text}");
    for line in [
        "# HELP builds_ingested_total",
        "builds_ingested_total{result=\"fail\"} 0",
        "builds_ingested_total{result=\"pass\"} 0",
        "store_errors_total 0",
        "http_refused_total{what=\"connection\",reason=\"full\"} 0",
        "http_refused_total{what=\"request\",reason=\"client\"} 0",
        "webhook_attempts_total{state=\"failed\"} 0",
        "# HELP http_requests_total",
        "ci_dashboard_build_info{version=\"",
        "# TYPE process_resident_memory_bytes gauge",
        "process_open_fds ",
        "process_cpu_seconds_total ",
        "process_start_time_seconds ",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    // A first event moves a counter that was already there.
    let (status, _) = app.post(&common::build("arm64", "fail")).await;
    assert_eq!(status, StatusCode::CREATED);
    let text = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        text.contains("builds_ingested_total{result=\"fail\"} 1"),
        "{text}"
    );
    assert!(promtool(&text).0);

    let robots = get("/robots.txt").await.unwrap();
    assert_eq!(robots.status(), StatusCode::OK);
    assert!(robots.text().await.unwrap().contains("Disallow: /api/"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let icon = client
        .get(format!("{}/favicon.ico", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(icon.headers()["location"], "/favicon.svg");
}
