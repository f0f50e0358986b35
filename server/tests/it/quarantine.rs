//! Quarantine over HTTP: put in and taken out with a token, checked field
//! by field, listed for a cell; a quarantined test opens no incident while
//! another failing beside it does, and the commit API marks it; a
//! known-issue rule ties past failures to their issue.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::store::embedded::EmbeddedStore;

use crate::common::{settings_with, spawn_configured, TestApp};
use crate::webhooks::at_commit;

const CELL: [(&str, &str); 4] = [
    ("branch", "master"),
    ("component", "agw"),
    ("arch", "amd64"),
    ("build_type", "bazel-build"),
];

fn test(name: &str) -> Value {
    let mut body: serde_json::Map<String, Value> = CELL
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    body.insert("name".into(), json!(name));
    Value::Object(body)
}

async fn send(app: &TestApp, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = request.bearer_auth(&app.token).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let body = get_json(app, &format!("/api/v1/quarantine?{query}")).await;
    body["tests"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_quarantined_test_opens_no_incident_and_is_marked_on_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.toml");
    std::fs::write(&notify, "failures_to_open = 2\n").unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let config = format!("--notify-config={}", notify.display());
    let app = spawn_configured(store, settings_with(&[&config])).await;
    let url = format!("{}/api/v1/quarantine", app.url);

    let mut paging = test("s1ap::test_paging");
    paging["reason"] = json!("flaky, tracked in #1234");
    paging["arch"] = json!("x86_64");
    let (status, entry) = send(&app, app.client.post(&url).json(&paging)).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    assert_eq!(
        entry["arch"], "amd64",
        "architectures as ingestion names them"
    );
    assert_eq!(entry["by"].as_str().unwrap(), app_token_name(&app));
    let (status, _) = send(&app, app.client.post(&url).json(&paging)).await;
    assert_eq!(status, StatusCode::OK, "the same again");
    let mut bad = paging.clone();
    bad["expires_at"] = json!("yesterday");
    let (status, error) = send(&app, app.client.post(&url).json(&bad)).await;
    assert_eq!(
        (status, &error["field"]),
        (StatusCode::BAD_REQUEST, &json!("expires_at"))
    );
    let anonymous = app.client.post(&url).json(&paging).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        listed(
            &app,
            "branch=master&component=agw&arch=amd64&build_type=bazel-build"
        )
        .await
        .len(),
        1
    );
    assert!(listed(&app, "branch=master&arch=arm64").await.is_empty());

    // Both tests fail twice: only the one not quarantined is an incident.
    for n in [2, 3] {
        // Recent builds: the failures page's window ends now.
        let mut build = at_commit(n, "fail");
        let started = chrono::Utc::now() - chrono::TimeDelta::hours(10 - i64::from(n));
        build["started_at"] = json!(started.to_rfc3339());
        build["finished_at"] = json!((started + chrono::TimeDelta::minutes(20)).to_rfc3339());
        let (_, posted) = app.post(&build).await;
        let id = posted["ids"][0].as_str().unwrap().to_string();
        let upload = app
            .client
            .post(format!("{}/api/v1/builds/{id}/tests", app.url))
            .bearer_auth(&app.token)
            .header("content-type", "application/xml")
            .body(r#"<testsuite name="pytest"><testcase classname="s1ap" name="test_paging"><failure message="timeout"/></testcase><testcase classname="s1ap" name="test_attach"><failure message="assert 1 == 2"/></testcase></testsuite>"#)
            .send()
            .await
            .unwrap();
        assert_eq!(upload.status(), StatusCode::CREATED);
    }
    let incidents: Value = get_json(&app, "/api/v1/incidents").await;
    let incidents = incidents["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let tests: Vec<&str> = incidents[0]["red_tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tests, ["s1ap::test_attach"]);

    let commit: Value = get_json(&app, &format!("/api/v1/commits/{:0>40}", 3)).await;
    let failing = commit["verdicts"][0]["tests"]["failing"]
        .as_array()
        .unwrap()
        .clone();
    let marked = |name: &str| {
        failing
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["quarantined"] == true)
            .unwrap()
    };
    assert!(marked("s1ap::test_paging"), "{failing:?}");
    assert!(!marked("s1ap::test_attach"));

    // The day's failures fall into their two reasons, most first.
    let failures: Value = get_json(&app, "/api/v1/failures?days=7").await;
    let reasons = failures["reasons"].as_array().unwrap();
    let texts: Vec<&str> = reasons
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{failures}");
    assert!(texts.contains(&"timeout") && texts.contains(&"assert <n> == <n>"));
    assert_eq!(reasons[0]["failures"], 2);
    assert_eq!(reasons[0]["arches"][0]["arch"], "amd64");
    let page = app.page("/failures?days=7").await;
    assert!(
        page.contains("assert &lt;n&gt; == &lt;n&gt;"),
        "the failures page lists reasons"
    );

    // On-call acknowledges the incident: who, a note, its issue; the page's
    // timeline says so.
    let id = incidents[0]["id"].as_str().unwrap();
    let ack_url = format!("{}/api/v1/incidents/{id}/ack", app.url);
    let ack = json!({"note": "looking", "assignee": "alice", "issue_url": "https://github.com/magma/magma/issues/1234"});
    let (status, acked) = send(&app, app.client.post(&ack_url).json(&ack)).await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    let read: Value = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(read["ack"]["by"].as_str().unwrap(), app_token_name(&app));
    assert_eq!(read["ack"]["assignee"], "alice");
    let page = app.page(&format!("/incident/{id}")).await;
    assert!(
        page.contains("Acknowledged: looking by ci-"),
        "the timeline says who"
    );
    assert!(page.contains("Assigned to alice"));
    let (status, error) = send(
        &app,
        app.client
            .post(&ack_url)
            .json(&json!({"silence_builds": 0})),
    )
    .await;
    assert_eq!(
        (status, &error["field"]),
        (StatusCode::BAD_REQUEST, &json!("silence_builds"))
    );
    let unknown = format!("{}/api/v1/incidents/{:0>16}/ack", app.url, 0);
    assert_eq!(
        send(&app, app.client.post(&unknown).json(&ack)).await.0,
        StatusCode::NOT_FOUND
    );
    let anonymous = app.client.post(&ack_url).json(&ack).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // A known-issue rule: the commit API and page tie the failure to it,
    // under its reason, past failures included.
    let rules = format!("{}/api/v1/known-issues", app.url);
    let rule =
        json!({"url": "https://github.com/magma/magma/issues/1234", "test": "s1ap::test_attach"});
    let (status, made) = send(&app, app.client.post(&rules).json(&rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(
        send(&app, app.client.post(&rules).json(&rule)).await.0,
        StatusCode::OK
    );
    let (status, error) = send(
        &app,
        app.client
            .post(&rules)
            .json(&json!({"url": "https://x.org/1"})),
    )
    .await;
    assert_eq!(
        (status, &error["field"]),
        (StatusCode::BAD_REQUEST, &json!("reason_id"))
    );
    let commit: Value = get_json(&app, &format!("/api/v1/commits/{:0>40}", 3)).await;
    let attach = commit["verdicts"][0]["tests"]["failing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "s1ap::test_attach")
        .unwrap()
        .clone();
    assert_eq!(attach["known_issue"]["url"], rule["url"]);
    assert_eq!(attach["known_issue"]["rule"], made["id"]);
    assert_eq!(attach["reason"]["text"], "assert <n> == <n>");
    let page = app.page(&format!("/commit/{:0>40}", 3)).await;
    assert!(
        page.contains("known: #1234"),
        "the commit page links the issue"
    );
    assert!(
        page.contains("assert &lt;n&gt; == &lt;n&gt;"),
        "under its reason"
    );
    let rule_url = format!("{rules}/{}", made["id"].as_str().unwrap());
    assert_eq!(
        send(&app, app.client.delete(&rule_url)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, app.client.delete(&rule_url)).await.0,
        StatusCode::NOT_FOUND
    );

    let (status, out) = send(
        &app,
        app.client.delete(&url).json(&test("s1ap::test_paging")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert!(out["released_why"]
        .as_str()
        .unwrap()
        .starts_with("removed by ci-"));
    assert!(listed(&app, "branch=master").await.is_empty());
    let (status, _) = send(
        &app,
        app.client.delete(&url).json(&test("s1ap::test_paging")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// An anonymous GET's JSON answer.
async fn get_json(app: &TestApp, path: &str) -> Value {
    let resp = app
        .client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.unwrap()
}

/// The name `spawn_configured` gave the test's token.
fn app_token_name(app: &TestApp) -> String {
    format!("ci-{}", &app.token[4..12])
}
