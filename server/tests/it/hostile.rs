//! A corpus of malformed and hostile bodies: every one is answered 4xx with
//! a message (naming the field where there is one), and the store is
//! exactly as it was afterwards.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

/// A valid build with `field` replaced (or removed, for `Value::Null`).
fn with(field: &str, value: Value) -> Vec<u8> {
    let mut b = build("arm64", "fail");
    b["id"] = json!("hostile");
    b[field] = value;
    serde_json::to_vec(&b).unwrap()
}

fn raw(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// (body, expected field or None for the body as a whole, label)
fn corpus() -> Vec<(Vec<u8>, Option<&'static str>, &'static str)> {
    let valid = build("amd64", "pass");
    let mut dup = vec![valid.clone(), valid.clone()];
    dup[0]["id"] = json!("same");
    dup[1]["id"] = json!("same");
    let mut bad_second = vec![valid.clone(), valid.clone()];
    bad_second[1]["result"] = json!("exploded");
    let deep_array = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000));
    vec![
        (raw(""), None, "empty body"),
        (raw("null"), None, "null"),
        (raw("42"), None, "a number"),
        (raw("\"build\""), None, "a string"),
        (raw("[]"), None, "empty array"),
        (raw("{"), None, "truncated JSON"),
        (raw("{\"commit\": 'single quotes'}"), None, "not JSON"),
        (
            b"{\"commit\": \"\xff\xfe\xfd\"}".to_vec(),
            None,
            "invalid UTF-8",
        ),
        (deep_array.into_bytes(), None, "5000 nested arrays"),
        (deep_object.into_bytes(), None, "3000 nested objects"),
        (raw("{}"), Some("commit"), "empty object"),
        (
            with("commit", json!(1234567)),
            Some("commit"),
            "commit as a number",
        ),
        (
            with("commit", json!("abc")),
            Some("commit"),
            "commit too short",
        ),
        (
            with("commit", json!("zzzzzzzz")),
            Some("commit"),
            "commit not hex",
        ),
        (
            with("commit", json!("<script>alert(1)</script>")),
            Some("commit"),
            "HTML in commit",
        ),
        (
            with("parent", json!("not-a-sha")),
            Some("parent"),
            "bad parent",
        ),
        (
            with("branch", json!("mas\u{0}ter")),
            Some("branch"),
            "NUL in branch",
        ),
        (
            with("branch", json!("../../etc/passwd")),
            Some("branch"),
            "path in branch",
        ),
        (
            with("branch", json!("my branch")),
            Some("branch"),
            "space in branch",
        ),
        (
            with("branch", json!("x".repeat(300))),
            Some("branch"),
            "huge branch",
        ),
        (
            with("component", json!("<img src=x onerror=alert(1)>")),
            Some("component"),
            "HTML in component",
        ),
        (
            with("component", json!("a".repeat(65))),
            Some("component"),
            "long component",
        ),
        (with("arch", json!("x86 64")), Some("arch"), "space in arch"),
        (
            with("build_type", json!("")),
            Some("build_type"),
            "empty build type",
        ),
        (
            with("build_type", json!(["bazel"])),
            Some("build_type"),
            "array build type",
        ),
        (
            with("result", json!("exploded")),
            Some("result"),
            "unknown result",
        ),
        (
            with("result", json!(true)),
            Some("result"),
            "boolean result",
        ),
        (
            with("started_at", json!("yesterday")),
            Some("started_at"),
            "words as a date",
        ),
        (
            with("started_at", json!("+10000-01-01T00:00:00Z")),
            Some("started_at"),
            "year 10000",
        ),
        (
            with("started_at", json!("10000-01-01T00:00:00Z")),
            Some("started_at"),
            "year 10000 plain",
        ),
        (
            with("started_at", json!("1969-12-31T23:59:59Z")),
            Some("started_at"),
            "before 1970",
        ),
        (
            with("started_at", json!("2999-01-01T00:00:00Z")),
            Some("started_at"),
            "far future",
        ),
        (
            with("finished_at", json!("2026-01-10T09:00:00Z")),
            Some("finished_at"),
            "ends before it starts",
        ),
        (
            with("url", json!("javascript:alert(1)")),
            Some("url"),
            "javascript: URL",
        ),
        (
            with("url", json!("data:text/html,<script>alert(1)</script>")),
            Some("url"),
            "data: URL",
        ),
        (
            with("url", json!("JaVaScRiPt:alert(1)")),
            Some("url"),
            "mixed-case javascript: URL",
        ),
        (
            with("url", json!("ftp://example.org/log")),
            Some("url"),
            "ftp URL",
        ),
        (
            with("url", json!("http://")),
            Some("url"),
            "URL without host",
        ),
        (
            with("url", json!(format!("https://x.org/{}", "a".repeat(3000)))),
            Some("url"),
            "huge URL",
        ),
        (with("pr", json!(-1)), Some("pr"), "negative PR"),
        (with("pr", json!("12")), Some("pr"), "PR as a string"),
        (with("pr", json!(1.5)), Some("pr"), "fractional PR"),
        (with("id", json!("a b")), Some("id"), "space in id"),
        (with("id", json!("<b>x</b>")), Some("id"), "HTML in id"),
        (with("id", json!("x".repeat(129))), Some("id"), "long id"),
        (
            with("repository", json!("<script>")),
            Some("repository"),
            "HTML in repository",
        ),
        (
            with("repository", json!("not a repo")),
            Some("repository"),
            "bad repository",
        ),
        (
            with("commit_title", json!({"text": "x"})),
            Some("commit_title"),
            "object as title",
        ),
        (
            with("commit_title", json!("line\u{1b}[31mred")),
            Some("commit_title"),
            "escape codes in title",
        ),
        (
            with("author", json!("a".repeat(5000))),
            Some("author"),
            "huge author",
        ),
        (with("admin", json!(true)), Some("admin"), "unknown field"),
        (
            serde_json::to_vec(&dup).unwrap(),
            Some("id"),
            "duplicate ids in one batch",
        ),
        (
            serde_json::to_vec(&bad_second).unwrap(),
            Some("result"),
            "second of a batch invalid",
        ),
        (
            serde_json::to_vec(&vec![valid.clone(); 1001]).unwrap(),
            None,
            "1001 builds",
        ),
    ]
}

#[tokio::test]
async fn hostile_bodies_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let (status, _) = app.post(&build("arm64", "pass")).await;
    assert_eq!(status, StatusCode::CREATED);
    let before_health = app.health("master").await;
    let list = || async {
        let resp = app
            .client
            .get(format!("{}/api/v1/builds?limit=500", app.url))
            .send()
            .await
            .unwrap();
        resp.json::<Value>().await.unwrap()
    };
    let before_builds = list().await;

    let corpus = corpus();
    assert!(corpus.len() >= 40);
    for (body, field, label) in corpus {
        let resp = app
            .post_builds()
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_client_error(), "{label}: {status} {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{label}: {answer}"
        );
        assert_eq!(answer["field"].as_str(), field, "{label}: {answer}");
    }

    let mut after_health = app.health("master").await;
    after_health["generated_at"] = before_health["generated_at"].clone();
    assert_eq!(after_health, before_health);
    assert_eq!(list().await, before_builds);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let resp = app
        .post_builds()
        .header("content-type", "application/json")
        .body(with("commit_title", json!("x".repeat(2 * 1024 * 1024))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Made-up HTTP methods are counted, under one label: a client inventing
/// long method names cannot grow `/metrics` (and memory) without bound.
#[tokio::test]
async fn made_up_methods_share_one_metrics_label() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let invented = format!("XINVENTED{}", "Q".repeat(2000));
    for path in ["/api/v1/health", "/nowhere"] {
        let method = reqwest::Method::from_bytes(invented.as_bytes()).unwrap();
        let resp = app
            .client
            .request(method, format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{}", resp.status());
    }
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("XINVENTED"),
        "method names leak into labels"
    );
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
}

/// The history server function with a window of four billion days: a 4xx-
/// like answer naming the parameter, not a panic and a dropped connection.
#[tokio::test]
async fn an_absurd_history_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let resp = app
        .client
        .post(format!("{}/_app/get_history", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("branch=master&component=agw&arch=arm64&build_type=bazel&days=4000000000")
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap();
    assert!(body.contains("days must be from 1 to 366"), "{body}");
}

/// Over-long or malformed query parameters are a 400 naming the parameter,
/// whatever the route.
#[tokio::test]
async fn absurd_query_parameters_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let long = "a".repeat(10_000);
    let cases = [
        (format!("/api/v1/builds?cursor=1:{long}"), "cursor"),
        ("/api/v1/builds?cursor=1:a%20b".to_string(), "cursor"),
        (format!("/api/v1/builds?branch={long}"), "branch"),
        (
            format!("/api/v1/builds?result=pass&component={long}"),
            "component",
        ),
        (
            "/api/v1/builds?limit=99999999999999999999".to_string(),
            "limit",
        ),
        (format!("/api/v1/health?branch={long}"), "branch"),
        (format!("/api/v1/commits/{long}"), "sha"),
        (format!("/api/v1/events?branch={long}"), "branch"),
    ];
    for (path, field) in cases {
        let resp = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "{}",
            &path[..60.min(path.len())]
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["field"], field, "{body}");
    }
}
