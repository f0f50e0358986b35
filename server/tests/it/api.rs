//! HTTP tests against the real router and the real embedded store, each on
//! its own port and temporary data directory.

use std::sync::Arc;
use std::time::Duration;

use app::model::Build;
use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::domain::token;
use server::store::embedded::EmbeddedStore;
use server::store::{
    BuildFilter, Builds, Candidates, CellId, CellScan, CommitCursor, CommitsWithBuilds, Cursor,
    Grants, IngestOutcome, Poster, Store, StoreError, Summaries, TokenRecord,
};

use crate::common::*;

#[tokio::test]
async fn posted_build_appears_in_health() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let (status, body) = app.post(&build("aarch64", "failure")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ids"].as_array().unwrap().len(), 1);

    let cell = app
        .cell("master", "agw", "arm64")
        .await
        .expect("arm64 cell");
    assert_eq!(cell["latest"]["result"], "fail");
    assert_eq!(cell["latest"]["commit"], SHA);
    assert_eq!(cell["streak"]["builds"], 1);
    let health = app.health("master").await;
    assert_eq!(
        health["summary"][0],
        json!({"arch": "arm64", "red": 1, "cells": 1})
    );
    assert_eq!(health["branches"], json!(["master"]));
}

#[tokio::test]
async fn identical_replay_is_200_and_update_is_201() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let mut running = build("amd64", "running");
    running["id"] = json!("gha-42-1-agw-amd64");
    assert_eq!(app.post(&running).await.0, StatusCode::CREATED);
    let (status, body) = app.post(&running).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"ids": ["gha-42-1-agw-amd64"]}))
    );
    let cell = app.cell("master", "agw", "amd64").await.unwrap();
    assert_eq!(cell["running"]["id"], "gha-42-1-agw-amd64");

    let mut done = build("amd64", "success");
    done["id"] = json!("gha-42-1-agw-amd64");
    assert_eq!(app.post(&done).await.0, StatusCode::CREATED);
    let cell = app.cell("master", "agw", "amd64").await.unwrap();
    assert_eq!(cell["running"], Value::Null);
    assert_eq!(cell["latest"]["result"], "pass");
}

#[tokio::test]
async fn posts_without_id_are_separate_builds() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let (_, first) = app.post(&build("arm64", "fail")).await;
    let (status, second) = app.post(&build("arm64", "fail")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(first["ids"], second["ids"]);
    let cell = app.cell("master", "agw", "arm64").await.unwrap();
    assert_eq!(cell["streak"]["builds"], 2);
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let mut bad = build("arm64", "pass");
    bad["url"] = json!("javascript:alert(1)");
    let (status, body) = app
        .post(&json!([
            build("amd64", "pass"),
            build("arm64", "fail"),
            bad
        ]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (body["field"].clone(), body["index"].clone()),
        (json!("url"), json!(2))
    );
    assert!(body["error"].as_str().unwrap().contains("http"));
    assert!(app.health("master").await["cells"]
        .as_array()
        .unwrap()
        .is_empty());

    let (status, body) = app
        .post(&json!([build("amd64", "pass"), build("arm64", "fail")]))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["ids"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn changing_identity_of_an_id_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let mut first = build("amd64", "pass");
    first["id"] = json!("run-1");
    app.post(&first).await;
    let mut moved = build("arm64", "fail");
    moved["id"] = json!("run-1");
    let (status, body) = app.post(&json!([build("amd64", "fail"), moved])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        (body["field"].clone(), body["index"].clone()),
        (json!("arch"), json!(1))
    );
    let cell = app.cell("master", "agw", "amd64").await.unwrap();
    assert_eq!(
        cell["latest"]["result"], "pass",
        "the batch left nothing behind"
    );
    assert!(app.cell("master", "agw", "arm64").await.is_none());
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let mut typo = build("amd64", "pass");
    typo["comit"] = json!(SHA);
    let mut no_arch = build("amd64", "pass");
    no_arch.as_object_mut().unwrap().remove("arch");
    for (body, field) in [(typo, "comit"), (no_arch, "arch")] {
        let (status, err) = app.post(&body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(err["field"], field);
        assert_eq!(err.get("index"), None, "a single object has no index");
    }
    let resp = app
        .post_builds()
        .header("content-type", "application/json")
        .body("{\"commit\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("not valid JSON"));

    let resp = app
        .client
        .get(format!("{}/api/v1/health?branch=a..b", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.unwrap()["field"], "branch");
}

#[tokio::test]
async fn writes_need_a_valid_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let url = format!("{}/api/v1/builds", app.url);
    let body = build("amd64", "pass");
    let attempts = [
        app.client.post(&url).json(&body),
        app.client.post(&url).bearer_auth("cid_0000").json(&body),
        app.client
            .post(&url)
            .basic_auth("ci", Some(&app.token))
            .json(&body),
        app.client
            .post(&url)
            .bearer_auth(token::hash(&app.token))
            .json(&body),
    ];
    for attempt in attempts {
        let resp = attempt.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
    }
    assert!(app.health("master").await["cells"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn only_json_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let body = build("amd64", "pass").to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = app.post_builds().body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let resp = app
        .post_builds()
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let mut huge = build("amd64", "pass");
    huge["commit_title"] = json!("x".repeat(1024 * 1024));
    let resp = app.post_builds().json(&huge).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Without a Content-Length the limit still holds while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b' '; 100 * 1024])).collect();
    let resp = app
        .post_builds()
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.health("master").await["cells"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_restart_on_the_same_data_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let mut b = build("arm64", "fail");
    b["id"] = json!("durable-1");
    assert_eq!(app.post(&b).await.0, StatusCode::CREATED);
    let before = app.health("master").await["cells"].clone();
    app.server.abort();
    let _ = app.server.await;

    let app = spawn(dir.path()).await;
    assert_eq!(app.health("master").await["cells"], before);
    assert_eq!(app.post(&b).await.0, StatusCode::OK, "replay after restart");
}

#[tokio::test]
async fn the_overview_is_rendered_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    app.post(&json!([build("arm64", "fail"), build("amd64", "pass")]))
        .await;
    let page = app
        .client
        .get(format!("{}/?branch=master", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("data-cell=\"agw/arm64/bazel-build\""),
        "{html}"
    );
    assert!(html.contains("data-status=\"fail\""));
    assert!(html.contains("failing since"));
    assert!(html.contains(&format!("https://github.com/magma/magma/commit/{SHA}")));
    assert!(html.contains("arm64: 1 of 1 red"));
    assert!(!html.contains("<script>alert(1)"));

    let missing = app
        .client
        .get(format!("{}/no/such/page", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// The real embedded store, except that writes fail as if the disk or
/// database were unreachable, and reading tokens too once the switch is on.
struct WritesDown(EmbeddedStore, std::sync::atomic::AtomicBool);

#[async_trait]
impl Store for WritesDown {
    async fn ingest_as(&self, _: Vec<Build>, _: &Poster) -> Result<IngestOutcome, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn cells(&self, branch: &str) -> Result<Vec<app::model::Cell>, StoreError> {
        self.0.cells(branch).await
    }
    async fn branches(&self) -> Result<Vec<String>, StoreError> {
        self.0.branches().await
    }
    async fn build(&self, id: &str) -> Result<Option<Build>, StoreError> {
        self.0.build(id).await
    }
    async fn commits_by_prefix(&self, p: &str, n: usize) -> Candidates {
        self.0.commits_by_prefix(p, n).await
    }
    async fn commits_by_pr(&self, pr: u64, n: usize) -> Candidates {
        self.0.commits_by_pr(pr, n).await
    }
    async fn builds_of_commit(&self, commit: &str) -> Builds {
        self.0.builds_of_commit(commit).await
    }
    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries {
        self.0.cell_builds(cell, scan).await
    }
    async fn recent_commits(
        &self,
        b: &str,
        before: Option<&CommitCursor>,
        n: usize,
    ) -> CommitsWithBuilds {
        self.0.recent_commits(b, before, n).await
    }
    async fn versions(&self, branch: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.0.versions(branch).await
    }
    async fn builds(&self, f: &BuildFilter, c: Option<&Cursor>, n: usize) -> Builds {
        self.0.builds(f, c, n).await
    }
    async fn create_token(&self, name: &str, hash: &str, grants: Grants) -> Result<(), StoreError> {
        self.0.create_token(name, hash, grants).await
    }
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "the store did not answer within 5 s".into(),
            ));
        }
        self.0.tokens().await
    }
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        self.0.revoke_token(name).await
    }
    async fn touch_token(
        &self,
        name: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.0.touch_token(name, at).await
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<app::model::Cell> {
        self.0.subscribe()
    }
    async fn update_incident(
        &self,
        _: &server::domain::incident::Change,
        _: &[server::domain::notification::WebhookRef],
    ) -> Result<Option<app::model::Incident>, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn queue_deliveries(&self, _: &[app::model::Delivery]) -> Result<usize, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn update_quarantine(
        &self,
        _: &server::domain::quarantine::QuarantineChange,
    ) -> Result<server::domain::quarantine::Applied, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn record_reasons(
        &self,
        _: &[server::domain::reason::ReasonUpdate],
    ) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn reasons(
        &self,
        branch: &str,
        since: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<app::model::ReasonRecord>, StoreError> {
        self.0.reasons(branch, since, limit).await
    }
    async fn put_known_issue(&self, _: &app::model::KnownIssue) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn known_issues(&self) -> Result<Vec<app::model::KnownIssue>, StoreError> {
        self.0.known_issues().await
    }
    async fn remove_known_issue(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn quarantined(
        &self,
        branch: &str,
    ) -> Result<Vec<app::model::QuarantinedTest>, StoreError> {
        self.0.quarantined(branch).await
    }
    async fn claim_deliveries(
        &self,
        _: &str,
        _: chrono::DateTime<chrono::Utc>,
        _: chrono::DateTime<chrono::Utc>,
        _: usize,
    ) -> Result<Vec<app::model::Delivery>, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn finish_delivery(&self, _: &app::model::Delivery, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn deliveries(
        &self,
        incident: Option<&str>,
        limit: usize,
    ) -> Result<Vec<app::model::Delivery>, StoreError> {
        self.0.deliveries(incident, limit).await
    }
    async fn add_tests(
        &self,
        _: &server::store::TestUpload,
    ) -> Result<Option<server::store::UploadOutcome>, StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn build_tests(&self, build: &str) -> Result<Vec<app::model::TestCase>, StoreError> {
        self.0.build_tests(build).await
    }
    async fn test_totals(
        &self,
        builds: &[String],
    ) -> Result<std::collections::HashMap<String, app::model::TestTotals>, StoreError> {
        self.0.test_totals(builds).await
    }
    async fn test_failures(
        &self,
        builds: &[String],
    ) -> Result<Vec<app::model::TestFailure>, StoreError> {
        self.0.test_failures(builds).await
    }
    async fn test_stats_since(
        &self,
        branch: &str,
        since: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<app::model::TestStats>, StoreError> {
        self.0.test_stats_since(branch, since, limit).await
    }
    async fn test_stats(
        &self,
        cells: &[CellId],
        name: &str,
    ) -> Result<Vec<app::model::TestStats>, StoreError> {
        self.0.test_stats(cells, name).await
    }
    async fn record_freeze(&self, _: &app::model::FreezeEvent) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("disk I/O error".into()))
    }
    async fn freeze_events(
        &self,
        branch: &str,
        limit: usize,
    ) -> Result<Vec<app::model::FreezeEvent>, StoreError> {
        self.0.freeze_events(branch, limit).await
    }
    async fn incident(&self, id: &str) -> Result<Option<app::model::Incident>, StoreError> {
        self.0.incident(id).await
    }
    async fn incidents(
        &self,
        branch: Option<&str>,
        open_only: bool,
        limit: usize,
    ) -> Result<Vec<app::model::Incident>, StoreError> {
        self.0.incidents(branch, open_only, limit).await
    }
}

#[tokio::test]
async fn an_unavailable_store_gives_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(Arc::new(WritesDown(
        EmbeddedStore::open(dir.path()).unwrap(),
        Default::default(),
    )))
    .await;
    let resp = app
        .post_builds()
        .json(&build("amd64", "pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: Value = resp.json().await.unwrap();
    assert!(
        !body["error"].as_str().unwrap().contains("disk"),
        "no internals leak"
    );
}

#[tokio::test]
async fn a_token_check_survives_a_store_that_cannot_read_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(WritesDown(
        EmbeddedStore::open(dir.path()).unwrap(),
        Default::default(),
    ));
    let app = spawn_with(store.clone()).await;
    let with_token = |token: &str| {
        app.client
            .get(format!("{}/api/v1/deliveries", app.url))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        with_token(&app.token).await.unwrap().status(),
        StatusCode::OK
    );
    // The store stops answering token reads (readers saturated, an outage):
    // known tokens keep working from the last good copy, unknown ones are
    // refused as unknown, and nothing answers "retry later".
    store.1.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(server::http::auth::REFRESH + Duration::from_millis(200)).await;
    assert_eq!(
        with_token(&app.token).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        with_token("cid_unknown").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with_token(&app.token).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn open_pages_receive_cell_changes_of_their_branch() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let events = app.events("master").await;
    let mut release = build("amd64", "pass");
    release["branch"] = json!("v1.8");
    assert_eq!(app.post(&release).await.0, StatusCode::CREATED);
    let (status, body) = app.post(&build("arm64", "fail")).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["ids"][0].as_str().unwrap();

    let event = await_event(events, "event: cells", std::time::Duration::from_secs(5)).await;
    assert!(event.contains(r#""branch":"master""#), "{event}");
    assert!(event.contains(&format!(r#""id":"{id}""#)), "{event}");
    assert!(event.contains(r#""result":"fail""#), "{event}");

    let bad = app
        .client
        .get(format!("{}/api/v1/events?branch=..%2Fx", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn probes_metrics_and_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.url)).send();
    assert_eq!(get("/healthz").await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
    let (status, _) = app.post(&build("arm64", "fail")).await;
    assert_eq!(status, StatusCode::CREATED);

    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"builds_ingested_total{result="fail"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/api/v1/builds""#), "{metrics}");
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    let api = get("/api/v1/health").await.unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );

    // reqwest may decompress on its own; raw HTTP shows what is sent.
    let raw = raw_headers(&app.url, "/").await;
    assert!(raw.contains("content-encoding: gzip"), "{raw}");
    let page = get("/").await.unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page policy carries a nonce")
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"));
    let html = app
        .client
        .get(&app.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&nonce), "a fresh nonce per response");
    assert!(html.contains("<script"), "{html}");
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap();
        assert!(
            tag.contains("nonce="),
            "a script without nonce: <script{tag}>"
        );
    }

    let events = raw_headers(&app.url, "/api/v1/events?branch=master").await;
    assert!(events.contains("text/event-stream"), "{events}");
    assert!(!events.contains("content-encoding"), "{events}");
}

/// The response head of a GET that accepts gzip, read off the socket.
async fn raw_headers(url: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        socket.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[tokio::test]
async fn each_token_is_rate_limited_and_its_last_use_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let mut limited = settings();
    limited.rate_limit = 1;
    limited.rate_burst = 2;
    let app = spawn_configured(store.clone(), limited).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for arch in ["amd64", "arm64", "riscv64"] {
        let resp = app
            .post_builds()
            .json(&build(arch, "pass"))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status());
        retry_after = resp.headers().get("retry-after").cloned();
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(retry_after.unwrap(), "1");
    // The refused post stored nothing.
    assert!(app.cell("master", "agw", "riscv64").await.is_none());

    let mut last_used = None;
    for _ in 0..50 {
        last_used = store.tokens().await.unwrap()[0].last_used_at;
        if last_used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(last_used.is_some_and(|t| (chrono::Utc::now() - t).num_seconds() < 60));
}

/// The rate limit counts builds as well as posts: a token posting full
/// batches is held to what the store can take, and a refused post stores
/// nothing.
#[tokio::test]
async fn each_token_is_limited_by_builds_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let mut limited = settings();
    limited.rate_limit = 0;
    limited.build_rate_limit = 500;
    let app = spawn_configured(store.clone(), limited).await;
    let batch = |tag: &str| -> Vec<serde_json::Value> {
        (0..1000)
            .map(|i| {
                let mut b = build("arm64", "pass");
                b["id"] = json!(format!("{tag}-{i}"));
                b
            })
            .collect()
    };
    let first = app.post_builds().json(&batch("a")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = app.post_builds().json(&batch("b")).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers().contains_key("retry-after"));
    assert!(store.build("b-0").await.unwrap().is_none());
}

#[tokio::test]
async fn imported_history_belongs_to_the_operator_not_to_any_ci_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let app = spawn_with(store.clone()).await;
    // As the legacy import and the demo store it: no token posted it.
    let mut imported = build("arm64", "fail");
    imported["id"] = json!("legacy:agw:1");
    let ctx = server::domain::validation::Context {
        default_repository: "magma/magma",
        now: chrono::Utc::now(),
    };
    let builds =
        server::domain::validation::parse_value(imported.clone(), &ctx, || unreachable!()).unwrap();
    store.ingest(builds).await.unwrap();

    let mut rewritten = imported.clone();
    rewritten["result"] = json!("pass");
    let (status, body) = app.post(&rewritten).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["field"], "id");
    assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
    let upload = app
        .client
        .post(format!("{}/api/v1/builds/legacy:agw:1/tests", app.url))
        .bearer_auth(&app.token)
        .header("content-type", "application/xml")
        .body(r#"<testsuite><testcase name="t"/></testsuite>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::CONFLICT);
    let cell = app.cell("master", "agw", "arm64").await.unwrap();
    assert_eq!(cell["latest"]["result"], "fail", "{cell}");

    let admin = token::generate();
    store
        .create_token("ops", &token::hash(&admin), Grants::ADMIN)
        .await
        .unwrap();
    let by_admin = app
        .client
        .post(format!("{}/api/v1/builds", app.url))
        .bearer_auth(&admin)
        .json(&rewritten)
        .send()
        .await
        .unwrap();
    assert_eq!(by_admin.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_build_belongs_to_its_token_and_revoked_tokens_stop_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let app = spawn_with(store.clone()).await;
    let mut b = build("arm64", "running");
    b["id"] = json!("gha:1:1:agw");
    assert_eq!(app.post(&b).await.0, StatusCode::CREATED);

    let other = token::generate();
    store
        .create_token("other", &token::hash(&other), Default::default())
        .await
        .unwrap();
    let post_as = |secret: &str, body: &Value| {
        app.client
            .post(format!("{}/api/v1/builds", app.url))
            .bearer_auth(secret)
            .json(body)
            .send()
    };
    // A token created a moment ago works at once; an identical replay is fine.
    assert_eq!(post_as(&other, &b).await.unwrap().status(), StatusCode::OK);
    let mut finished = build("arm64", "pass");
    finished["id"] = json!("gha:1:1:agw");
    let refused = post_as(&other, &finished).await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["field"], "id");
    assert!(
        body["error"].as_str().unwrap().contains("another token"),
        "{body}"
    );
    let cell = app.cell("master", "agw", "arm64").await.unwrap();
    assert_eq!(cell["running"]["id"], "gha:1:1:agw");
    assert_eq!(app.post(&finished).await.0, StatusCode::CREATED);

    store.revoke_token("other").await.unwrap();
    tokio::time::sleep(server::http::auth::REFRESH + Duration::from_millis(200)).await;
    let revoked = post_as(&other, &build("amd64", "pass")).await.unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
}

/// A change that is not a newer build (here the test results of a stale
/// cell's last build) reaches open pages with the cell still stale, as the
/// health API shows it.
#[tokio::test]
async fn cell_events_say_whether_the_cell_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let (status, _) = app
        .post(&json!(crate::common::every_three_hours("arm64", 1, 24)))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // The newest of the five.
    let last = "arm64-5";
    let events = app.events("master").await;
    let upload = app
        .client
        .post(format!("{}/api/v1/builds/{last}/tests", app.url))
        .bearer_auth(&app.token)
        .header("content-type", "application/xml")
        .body(r#"<testsuite name="t"><testcase classname="a" name="b"/></testsuite>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::CREATED);
    let event = await_event(events, "event: cells", std::time::Duration::from_secs(5)).await;
    assert!(event.contains(r#""latest_tests""#), "{event}");
    assert!(event.contains(r#""stale":true"#), "{event}");
}
