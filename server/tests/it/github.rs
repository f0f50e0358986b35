//! GitHub both ways, on loopback only: commit statuses set through a local
//! server that follows GitHub's REST contract for statuses (201, rate-limit
//! answers), and `workflow_job` webhooks shaped as GitHub's documentation
//! gives them, signed or not.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::common::*;
use crate::webhooks::at_commit;

const WEBHOOK_SECRET: &str = "It's a Secret to Everybody";
const TOKEN: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

/// One status as GitHub received it.
#[derive(Clone, Debug)]
struct Status {
    repository: String,
    sha: String,
    body: Value,
}

#[derive(Clone, Default)]
struct Statuses {
    got: Arc<Mutex<Vec<Status>>>,
    /// Answers as a spent rate limit to this many requests first.
    limited: Arc<Mutex<usize>>,
}

async fn create_status(
    State(statuses): State<Statuses>,
    UrlPath((owner, repo, sha)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    let close = ("connection", "close");
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
        || headers.get("user-agent").is_none()
    {
        // GitHub refuses requests without a User-Agent, and bad tokens.
        return (StatusCode::UNAUTHORIZED, [close]).into_response();
    }
    {
        let mut limited = statuses.limited.lock().unwrap();
        if *limited > 0 {
            *limited -= 1;
            let reset = (chrono::Utc::now().timestamp() + 2).to_string();
            return (
                StatusCode::FORBIDDEN,
                [
                    close,
                    ("x-ratelimit-limit", "5000"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                ],
                Json(json!({"message": "API rate limit exceeded"})),
            )
                .into_response();
        }
    }
    let state = body["state"].as_str().unwrap_or_default();
    let context_ok = body["context"].as_str().is_some_and(|c| !c.is_empty());
    if !["error", "failure", "pending", "success"].contains(&state) || !context_ok {
        return (StatusCode::UNPROCESSABLE_ENTITY, [close]).into_response();
    }
    statuses.got.lock().unwrap().push(Status {
        repository: format!("{owner}/{repo}"),
        sha,
        body: body.clone(),
    });
    (
        StatusCode::CREATED,
        [close, ("x-ratelimit-remaining", "4999")],
        Json(body),
    )
        .into_response()
}

/// GitHub's statuses endpoint on loopback.
struct FakeGithub {
    port: u16,
    statuses: Statuses,
}

impl FakeGithub {
    async fn start(limited: usize) -> FakeGithub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let statuses = Statuses {
            limited: Arc::new(Mutex::new(limited)),
            ..Statuses::default()
        };
        let app = axum::Router::new()
            .route(
                "/api/v3/repos/{owner}/{repo}/statuses/{sha}",
                axum::routing::post(create_status),
            )
            .with_state(statuses.clone());
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGithub { port, statuses }
    }

    fn got(&self) -> Vec<Status> {
        self.statuses.got.lock().unwrap().clone()
    }

    /// Waits until a status with `state` reached `sha`; panics after `wait`.
    async fn wait_for(&self, sha: &str, state: &str, wait: Duration) -> Status {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(s) = self
                .got()
                .into_iter()
                .find(|s| s.sha == sha && s.body["state"] == state)
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no {state} status for {sha} after {wait:?}: {:?}",
                self.got()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A GitHub config (GitHub Enterprise's API at the fake) and the flags
/// that pass it with the token and the webhook's secret.
fn github_flags(dir: &Path, api: &str, extra: &str) -> Vec<String> {
    let path = dir.join("github.toml");
    std::fs::write(&path, format!("api = \"{api}\"\n{extra}")).unwrap();
    vec![
        format!("--github-config={}", path.display()),
        format!("--github-token={TOKEN}"),
        format!("--github-webhook-secret={WEBHOOK_SECRET}"),
    ]
}

fn flag_refs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// A failing arm64 build sets `failure` with its verdict, its fix
/// `success`, each once, with two servers on one Firestore database and a
/// GitHub that first answers rate-limited.
#[tokio::test]
async fn commit_statuses_reach_github_once_across_servers() {
    let github = FakeGithub::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let api = format!("http://127.0.0.1:{}/api/v3", github.port);
    let flags = github_flags(dir.path(), &api, "[statuses]\nbranches = [\"master\"]\n");
    let project = format!("statuses-{}", uuid::Uuid::new_v4().simple());
    let settings = || settings_with(&flag_refs(&flags));
    let store = || crate::firestore::firestore(&project);
    let one = spawn_configured(store().await, settings()).await;
    let other = spawn_configured(store().await, settings()).await;

    let arm = |n: u32, result: &str| {
        let mut b = at_commit(n, result);
        b["arch"] = json!("arm64");
        b
    };
    // Both architectures pass at commit 1; arm64 breaks at commit 2 (amd64
    // passes there), and is fixed at commit 3. Posts go to either server.
    let posts = [
        (&one, json!([at_commit(1, "pass"), arm(1, "pass")])),
        (&other, json!([at_commit(2, "pass"), arm(2, "fail")])),
        (&one, json!(arm(3, "pass"))),
    ];
    for (server, body) in posts {
        let (status, answer) = server.post(&body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let sha = |n: u32| format!("{n:0>40}");
    let wait = Duration::from_secs(20);
    let broken = github.wait_for(&sha(2), "failure", wait).await;
    assert_eq!(broken.repository, "magma/magma");
    assert_eq!(broken.body["context"], "ci-dashboard/agw/arm64/bazel-build");
    assert_eq!(
        broken.body["description"],
        "new failure, fails on arm64 only (passes on amd64)"
    );
    assert!(broken.body["target_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/commit/{}", sha(2))));
    let fixed = github.wait_for(&sha(3), "success", wait).await;
    assert_eq!(fixed.body["description"], "fixed");
    github.wait_for(&sha(1), "success", wait).await;

    // Both servers kept polling the queue: still one status per build.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = github.got();
    let mut seen: Vec<(String, String, String)> = got
        .iter()
        .map(|s| {
            (
                s.sha.clone(),
                s.body["context"].as_str().unwrap().to_string(),
                s.body["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let total = seen.len();
    seen.dedup();
    assert_eq!(total, seen.len(), "a status sent twice: {got:?}");
    assert_eq!(total, 5, "one per build: {got:?}");

    // The rate-limited status went out on its second attempt; the token is
    // never on record.
    let resp = one
        .client
        .get(format!("{}/api/v1/deliveries", one.url))
        .bearer_auth(&one.token)
        .send()
        .await
        .unwrap();
    let listed = resp.text().await.unwrap();
    assert!(!listed.contains(TOKEN));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let retried: Vec<&Value> = listed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["event"] == "commit.status" && d["attempts"] == 2)
        .collect();
    assert_eq!(retried.len(), 1, "{listed}");
    assert_eq!(retried[0]["state"], "delivered");
}

#[tokio::test]
async fn a_status_follows_its_build_and_only_the_cells_chosen() {
    let github = FakeGithub::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let api = format!("http://127.0.0.1:{}/api/v3", github.port);
    let flags = github_flags(
        dir.path(),
        &api,
        "[statuses]\nbranches = [\"release/*\"]\ncells = [\"*/arm64/*\"]\ngroup = \"component\"\n",
    );
    let app = spawn_configured(
        Arc::new(server::store::embedded::EmbeddedStore::open(dir.path()).unwrap()),
        settings_with(&flag_refs(&flags)),
    )
    .await;
    let on = |n: u32, arch: &str, result: &str| {
        let mut b = at_commit(n, result);
        b["arch"] = json!(arch);
        b["branch"] = json!("release/v1.9");
        b
    };
    // Master and amd64 are not covered; only release/* arm64 is.
    let mut master = at_commit(1, "fail");
    master["arch"] = json!("arm64");
    assert_eq!(
        app.post(&json!([master, on(1, "amd64", "fail")])).await.0,
        StatusCode::CREATED
    );
    let mut running = on(1, "arm64", "running");
    running.as_object_mut().unwrap().remove("finished_at");
    running["id"] = json!("lab-1");
    assert_eq!(app.post(&running).await.0, StatusCode::CREATED);
    let pending = github
        .wait_for(&format!("{:0>40}", 1), "pending", Duration::from_secs(10))
        .await;
    assert_eq!(pending.body["context"], "ci-dashboard/agw");
    assert_eq!(pending.body["description"], "running");
    let mut finished = on(1, "arm64", "pass");
    finished["id"] = json!("lab-1");
    assert_eq!(app.post(&finished).await.0, StatusCode::CREATED);
    let passed = github
        .wait_for(&format!("{:0>40}", 1), "success", Duration::from_secs(10))
        .await;
    assert_eq!(passed.body["description"], "passed");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(github.got().len(), 2, "{:?}", github.got());
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A `workflow_job` event as GitHub's documentation shows it.
fn workflow_job(action: &str, conclusion: Option<&str>) -> Value {
    let status = if action == "completed" {
        "completed"
    } else {
        action
    };
    json!({
        "action": action,
        "workflow_job": {
            "id": 29679449u64,
            "run_id": 10402187906u64,
            "workflow_name": "build-all",
            "head_branch": "master",
            "run_url": "https://api.github.com/repos/magma/magma/actions/runs/10402187906",
            "run_attempt": 1,
            "node_id": "CR_kwDOABCD",
            "head_sha": SHA,
            "url": "https://api.github.com/repos/magma/magma/actions/jobs/29679449",
            "html_url": "https://github.com/magma/magma/actions/runs/10402187906/job/29679449",
            "status": status,
            "conclusion": conclusion,
            "created_at": "2026-01-10T10:00:00Z",
            "started_at": "2026-01-10T10:00:05Z",
            "completed_at": conclusion.map(|_| "2026-01-10T10:20:00Z"),
            "name": "lte-integ-test",
            "steps": [],
            "check_run_url": "https://api.github.com/repos/magma/magma/check-runs/29679449",
            "labels": ["ubuntu-latest", "X64"],
            "runner_id": 2,
            "runner_name": "GitHub Actions 2",
            "runner_group_id": 2,
            "runner_group_name": "GitHub Actions"
        },
        "repository": { "id": 1, "name": "magma", "full_name": "magma/magma" },
        "sender": { "login": "octocat" }
    })
}

async fn deliver(
    app: &TestApp,
    event: &str,
    body: &Value,
    signature: Option<&str>,
) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut request = app
        .client
        .post(format!("{}/api/v1/github/webhook", app.url))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    let resp = request.body(bytes).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn deliver_signed(app: &TestApp, event: &str, body: &Value) -> (StatusCode, Value) {
    let signature = sign(&serde_json::to_vec(body).unwrap());
    deliver(app, event, body, Some(&signature)).await
}

#[tokio::test]
async fn a_signed_workflow_job_becomes_a_build_and_a_mis_signed_one_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = "[[job]]\nworkflow = \"build-all\"\njob = \"lte-integ-test\"\ncomponent = \"lte\"\nbuild_type = \"integ-test\"\n";
    let flags = github_flags(dir.path(), "https://api.github.com", jobs);
    let app = spawn_configured(
        Arc::new(server::store::embedded::EmbeddedStore::open(dir.path()).unwrap()),
        settings_with(&flag_refs(&flags)),
    )
    .await;

    let (status, body) = deliver_signed(&app, "ping", &json!({"zen": "Design for failure."})).await;
    assert_eq!((status, &body["ok"]), (StatusCode::OK, &json!(true)));

    // Mis-signed, unsigned, signed with another secret: 401, nothing stored.
    let done = workflow_job("completed", Some("failure"));
    let forged = sign(b"another body");
    for signature in [Some(forged.as_str()), None, Some("sha256=00")] {
        let (status, body) = deliver(&app, "workflow_job", &done, signature).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("X-Hub-Signature-256"));
    }
    assert!(app.cell("master", "lte", "amd64").await.is_none());

    let (status, body) = deliver_signed(&app, "workflow_job", &workflow_job("queued", None)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ids"], json!(["gh:29679449:1"]));
    let cell = app.cell("master", "lte", "amd64").await.unwrap();
    assert_eq!(cell["running"]["id"], "gh:29679449:1");

    assert_eq!(
        deliver_signed(&app, "workflow_job", &done).await.0,
        StatusCode::CREATED
    );
    // A redelivery is an identical replay; a late `in_progress` changes nothing.
    assert_eq!(
        deliver_signed(&app, "workflow_job", &done).await.0,
        StatusCode::OK
    );
    let (status, body) =
        deliver_signed(&app, "workflow_job", &workflow_job("in_progress", None)).await;
    assert_eq!(
        (status, &body["ignored"]),
        (StatusCode::OK, &json!("older_state"))
    );
    let cell = app.cell("master", "lte", "amd64").await.unwrap();
    assert_eq!(cell["latest"]["result"], "fail");
    assert_eq!(
        cell["latest"]["url"],
        "https://github.com/magma/magma/actions/runs/10402187906/job/29679449"
    );
    let overview = app.page("/?branch=master").await;
    assert!(
        overview.contains("lte"),
        "the overview shows the job's cell"
    );

    // Unmapped jobs and other events are ignored, and counted.
    let mut docs = workflow_job("completed", Some("success"));
    docs["workflow_job"]["name"] = json!("docs");
    let (status, body) = deliver_signed(&app, "workflow_job", &docs).await;
    assert_eq!(
        (status, &body["ignored"]),
        (StatusCode::OK, &json!("unmapped"))
    );
    let (status, body) = deliver_signed(&app, "push", &json!({"ref": "refs/heads/master"})).await;
    assert_eq!(
        (status, &body["ignored"]),
        (StatusCode::OK, &json!("other_event"))
    );
    let metrics = app.page("/metrics").await;
    assert!(
        metrics.contains("github_webhook_ignored_total{reason=\"unmapped\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_a_secret_the_webhook_is_off_and_statuses_need_a_token() {
    let empty = tempfile::tempdir().unwrap();
    let app = spawn(empty.path()).await;
    let (status, body) = deliver_signed(&app, "ping", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("CI_DASHBOARD_GITHUB_WEBHOOK_SECRET"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("github.toml");
    std::fs::write(&path, "[statuses]\n").unwrap();
    let config = format!("--github-config={}", path.display());
    let store: Arc<dyn server::store::Store> =
        Arc::new(server::store::embedded::EmbeddedStore::open(dir.path()).unwrap());
    let refused = server::startup::Application::build(settings_with(&[&config]), store)
        .await
        .err()
        .expect("refused");
    assert!(
        refused.to_string().contains("CI_DASHBOARD_GITHUB_TOKEN"),
        "{refused}"
    );
}

/// A build failing only in a test its history shows flaky: once its
/// results arrive, its commit's status is `success`, saying why.
#[tokio::test]
async fn a_failure_only_in_a_flaky_test_sets_success_saying_so() {
    let github = FakeGithub::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let api = format!("http://127.0.0.1:{}/api/v3", github.port);
    let flags = github_flags(dir.path(), &api, "[statuses]\nbranches = [\"master\"]\n");
    let app = spawn_configured(
        Arc::new(server::store::embedded::EmbeddedStore::open(dir.path()).unwrap()),
        settings_with(&flag_refs(&flags)),
    )
    .await;
    let start = chrono::Utc::now() - chrono::TimeDelta::days(2);
    // test_paging fails every other run for twelve runs, then alone.
    for n in 0..13u32 {
        let fails = n % 2 == 1 || n == 12;
        let mut b = build("amd64", if fails { "fail" } else { "pass" });
        let started = start + chrono::TimeDelta::hours(i64::from(n));
        b["commit"] = json!(format!("{:0>40}", n + 100));
        b["started_at"] = json!(started.to_rfc3339());
        b["finished_at"] = json!((started + chrono::TimeDelta::minutes(20)).to_rfc3339());
        let (status, posted) = app.post(&b).await;
        assert_eq!(status, StatusCode::CREATED, "{posted}");
        let id = posted["ids"][0].as_str().unwrap();
        let paging = if fails {
            r#"<testcase classname="s1ap" name="test_paging"><failure message="timeout"/></testcase>"#
        } else {
            r#"<testcase classname="s1ap" name="test_paging"/>"#
        };
        let xml = format!(
            r#"<testsuite name="pytest">{paging}<testcase classname="s1ap" name="test_attach"/></testsuite>"#
        );
        let upload = app
            .client
            .post(format!("{}/api/v1/builds/{id}/tests", app.url))
            .bearer_auth(&app.token)
            .header("content-type", "application/xml")
            .body(xml)
            .send()
            .await
            .unwrap();
        assert_eq!(upload.status(), StatusCode::CREATED);
    }
    let last = github
        .wait_for(&format!("{:0>40}", 112), "success", Duration::from_secs(20))
        .await;
    assert_eq!(
        last.body["description"],
        "flaky test only: s1ap::test_paging"
    );
}
