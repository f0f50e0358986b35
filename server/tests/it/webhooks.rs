//! Webhook notifications against a real local receiver: signed bodies,
//! one message per incident event, retries after 500s, and a restart that
//! neither loses nor repeats a delivery.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use server::startup::Application;
use server::store::embedded::EmbeddedStore;
use server::store::Store;
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::common::{build, every_three_hours, settings_with, spawn_configured, TestApp};

pub const SECRET: &str = "s3cret";

#[derive(Clone, Debug)]
pub struct Message {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Message {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
}

#[derive(Clone, Default)]
struct Inbox {
    got: Arc<Mutex<Vec<Message>>>,
    /// Answers 500 to this many requests first.
    failures: Arc<Mutex<usize>>,
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    // No kept-alive connection outlives a stopped receiver.
    let close = [("connection", "close")];
    {
        let mut failures = inbox.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, close);
        }
    }
    inbox.got.lock().unwrap().push(Message { headers, body });
    (StatusCode::NO_CONTENT, close)
}

/// A webhook receiver on loopback that records what it is sent.
pub struct Receiver {
    pub port: u16,
    inbox: Inbox,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(port: u16, failures: usize) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let inbox = Inbox {
            failures: Arc::new(Mutex::new(failures)),
            ..Inbox::default()
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        Receiver {
            port: listener.local_addr().unwrap().port(),
            inbox,
            task: tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn messages(&self) -> Vec<Message> {
        self.inbox.got.lock().unwrap().clone()
    }

    /// Waits until `count` messages arrived; panics after `wait`.
    pub async fn wait_for(&self, count: usize, wait: Duration) -> Vec<Message> {
        let deadline = Instant::now() + wait;
        loop {
            let got = self.messages();
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages after {wait:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// A notify config opening incidents at the first failure, with one JSON
/// webhook signed with [`SECRET`].
pub fn notify_config(dir: &Path, url: &str) -> String {
    let path = dir.join("notify.toml");
    std::fs::write(
        &path,
        format!(
            "failures_to_open = 1\n[[webhook]]\nurl = \"{url}\"\nformat = \"json\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    format!("--notify-config={}", path.display())
}

/// Checks a message as the README tells receivers to: the signature over
/// "<timestamp>.<body>", and a timestamp of the last five minutes.
pub fn verify(message: &Message) {
    let timestamp = message.header("x-ci-dashboard-timestamp");
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "sent {age} s ago");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&message.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(message.header("x-ci-dashboard-signature"), expected);
}

/// A failing or passing build of one commit on master's agw/amd64 cell.
pub fn at_commit(n: u32, result: &str) -> Value {
    let mut b = build("amd64", result);
    b["commit"] = json!(format!("{n:0>40}"));
    b["started_at"] = json!(format!("2026-01-10T1{n}:00:00Z"));
    b["finished_at"] = json!(format!("2026-01-10T1{n}:20:00Z"));
    b
}

async fn deliveries(app: &TestApp) -> Vec<Value> {
    let resp = app
        .client
        .get(format!("{}/api/v1/deliveries", app.url))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["deliveries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn incidents_reach_the_webhook_signed_once_per_event() {
    let receiver = Receiver::start(0, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = notify_config(dir.path(), &receiver.url());
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let app = spawn_configured(store, settings_with(&[&config])).await;

    assert_eq!(app.post(&at_commit(1, "pass")).await.0, StatusCode::CREATED);
    assert_eq!(app.post(&at_commit(2, "fail")).await.0, StatusCode::CREATED);
    let opened = receiver.wait_for(1, Duration::from_secs(5)).await;
    verify(&opened[0]);
    assert_eq!(opened[0].header("x-ci-dashboard-event"), "incident.opened");
    let body = opened[0].json();
    assert_eq!(body["event"], "incident.opened");
    assert_eq!(body["incident"]["state"], "open");
    assert_eq!(body["incident"]["first_bad_commit"], format!("{:0>40}", 2));
    assert_eq!(
        body["incident"]["suspects"][0]["commit"],
        format!("{:0>40}", 2),
        "suspects are found before the message leaves"
    );
    let id = body["incident"]["id"].as_str().unwrap().to_string();

    // A second failure is the same incident: no news.
    assert_eq!(app.post(&at_commit(3, "fail")).await.0, StatusCode::CREATED);
    assert_eq!(app.post(&at_commit(4, "pass")).await.0, StatusCode::CREATED);
    let both = receiver.wait_for(2, Duration::from_secs(5)).await;
    verify(&both[1]);
    assert_eq!(both[1].json()["event"], "incident.resolved");
    assert_eq!(both[1].json()["incident"]["id"], id.as_str());
    assert_ne!(
        both[0].header("x-ci-dashboard-delivery"),
        both[1].header("x-ci-dashboard-delivery")
    );

    // Two poll intervals later, still exactly one message per event.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.messages().len(), 2);
    let listed = deliveries(&app).await;
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|d| d["state"] == "delivered" && d["attempts"] == 1 && d["last_status"] == 204));
    assert_eq!(listed[0]["event"], "incident.resolved", "newest first");
    assert_eq!(listed[0]["target"], "127.0.0.1");
    // Anyone else sees which webhook, not where it points.
    let anonymous = app
        .client
        .get(format!("{}/api/v1/deliveries", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!anonymous.contains("127.0.0.1"), "{anonymous}");
    let anonymous: Value = serde_json::from_str(&anonymous).unwrap();
    assert!(anonymous["deliveries"][0]["target"]
        .as_str()
        .unwrap()
        .starts_with("webhook "));
    let bad_token = app
        .client
        .get(format!("{}/api/v1/deliveries", app.url))
        .bearer_auth("cid_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), StatusCode::UNAUTHORIZED);
    let of_incident = app
        .client
        .get(format!("{}/api/v1/deliveries?incident={id}", app.url))
        .send()
        .await
        .unwrap();
    let of_incident: Value = of_incident.json().await.unwrap();
    assert_eq!(of_incident["deliveries"].as_array().unwrap().len(), 2);
    let unknown = app
        .client
        .get(format!(
            "{}/api/v1/deliveries?incident=0000000000000000",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let bad = app
        .client
        .get(format!("{}/api/v1/deliveries?colour=red", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_receiver_answering_500_is_retried_with_backoff() {
    let receiver = Receiver::start(0, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = notify_config(dir.path(), &receiver.url());
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let app = spawn_configured(store, settings_with(&[&config])).await;
    let posted = Instant::now();
    app.post(&at_commit(2, "fail")).await;
    // Backoff of 1 s, then 2 s.
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(posted.elapsed() >= Duration::from_secs(3), "backed off");
    verify(&got[0]);
    let listed = deliveries(&app).await;
    assert_eq!(
        (
            &listed[0]["state"],
            &listed[0]["attempts"],
            &listed[0]["last_status"]
        ),
        (&json!("delivered"), &json!(3), &json!(204))
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.messages().len(), 1, "delivered once");
}

/// Serves until the returned sender is dropped or sent to.
async fn serve(
    dir: &Path,
    config: &str,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir).unwrap());
    let secret = server::domain::token::generate();
    store
        .create_token(
            &format!("ci-{}", &secret[4..12]),
            &server::domain::token::hash(&secret),
            Default::default(),
        )
        .await
        .unwrap();
    let app = Application::build(settings_with(&[config]), store)
        .await
        .unwrap();
    let url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    (format!("{url}|{secret}"), stop, task)
}

async fn post_to(target: &str, body: &Value) -> StatusCode {
    let (url, token) = target.split_once('|').unwrap();
    reqwest::Client::new()
        .post(format!("{url}/api/v1/builds"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_restart_neither_loses_nor_repeats_a_delivery() {
    let receiver = Receiver::start(0, 0).await;
    let port = receiver.port;
    let dir = tempfile::tempdir().unwrap();
    let config = notify_config(dir.path(), &receiver.url());
    let data = dir.path().join("data");

    let (first, stop, task) = serve(&data, &config).await;
    assert_eq!(
        post_to(&first, &at_commit(2, "fail")).await,
        StatusCode::CREATED
    );
    receiver.wait_for(1, Duration::from_secs(5)).await;
    // The receiver goes away; the resolution waits in the queue.
    receiver.stop();
    assert_eq!(
        post_to(&first, &at_commit(3, "pass")).await,
        StatusCode::CREATED
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let receiver = Receiver::start(port, 0).await;
    let (_second, _stop, _task) = serve(&data, &config).await;
    let got = receiver.wait_for(1, Duration::from_secs(8)).await;
    assert_eq!(got[0].json()["event"], "incident.resolved");
    verify(&got[0]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = receiver.messages();
    assert_eq!(got.len(), 1, "the opening was not sent again: {got:?}");
}

#[tokio::test]
async fn a_webhook_config_that_cannot_work_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.toml");
    std::fs::write(
        &path,
        "[[webhook]]\nurl = \"file:///etc/passwd\"\nformat = \"json\"\n",
    )
    .unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let refused = Application::build(
        settings_with(&[&format!("--notify-config={}", path.display())]),
        store,
    )
    .await
    .err()
    .expect("refused");
    assert!(refused.to_string().contains("http(s)"), "{refused}");
}

#[tokio::test]
async fn messages_and_the_incident_page_name_the_failing_tests() {
    let receiver = Receiver::start(0, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.toml");
    std::fs::write(
        &path,
        format!(
            "failures_to_open = 2\n[[webhook]]\nurl = \"{}\"\nformat = \"slack\"\n",
            receiver.url()
        ),
    )
    .unwrap();
    let config = format!("--notify-config={}", path.display());
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let app = spawn_configured(store, settings_with(&[&config])).await;
    // The cell uploads results: its tests decide, when they arrive.
    for commit in [2, 3] {
        let (_, posted) = app.post(&at_commit(commit, "fail")).await;
        let id = posted["ids"][0].as_str().unwrap();
        assert!(
            receiver.messages().is_empty(),
            "a bare fail post opens nothing"
        );
        let upload = app
            .client
            .post(format!("{}/api/v1/builds/{id}/tests", app.url))
            .bearer_auth(&app.token)
            .header("content-type", "application/xml")
            .body(r#"<testsuite name="pytest"><testcase classname="s1ap" name="test_attach"><failure message="timeout"/></testcase><testcase classname="s1ap" name="test_ok"/></testsuite>"#)
            .send()
            .await
            .unwrap();
        assert_eq!(upload.status(), StatusCode::CREATED);
    }
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    let text = got[0].json()["text"].as_str().unwrap().to_string();
    assert!(
        text.contains("Failing tests: `s1ap::test_attach` (amd64)"),
        "{text}"
    );
    assert!(
        got[0].headers.get("x-ci-dashboard-signature").is_none(),
        "no secret, no signature"
    );

    let incidents: Value = app
        .client
        .get(format!("{}/api/v1/incidents", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = incidents["incidents"][0]["id"].as_str().unwrap();
    let page = app
        .client
        .get(format!("{}/incident/{id}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Failing tests at the first bad commit"),
        "{page}"
    );
    assert!(page.contains("s1ap::test_attach"));
}

#[tokio::test]
async fn a_stale_cell_is_told_once_across_servers_and_once_when_it_reports_again() {
    let receiver = Receiver::start(0, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = notify_config(dir.path(), &receiver.url());
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let flags = [config.as_str(), "--stale-check-interval=1"];
    // Two servers on one store, both looking for stale cells every second.
    let first = spawn_configured(store.clone(), settings_with(&flags)).await;
    let _second = spawn_configured(store.clone(), settings_with(&flags)).await;

    // Silent for a day after a build every three hours: stale.
    let (status, _) = first.post(&json!(every_three_hours("arm64", 1, 24))).await;
    assert_eq!(status, StatusCode::CREATED);
    let stale = receiver.wait_for(1, Duration::from_secs(10)).await;
    verify(&stale[0]);
    assert_eq!(stale[0].header("x-ci-dashboard-event"), "cell.stale");
    let body = stale[0].json();
    assert_eq!(body["cell"]["arch"], "arm64");
    assert_eq!(body["cell"]["build_type"], "bazel-build");
    assert!(body["cell"]["stale_since"].is_string());
    // Both servers looked again and again: still one message.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.messages().len(), 1);

    // A build now: the cell reports again, told once.
    let mut now = build("arm64", "pass");
    now["commit"] = json!(format!("{:0>40}", 9));
    now["started_at"] = json!(chrono::Utc::now().to_rfc3339());
    now["finished_at"] = json!(chrono::Utc::now().to_rfc3339());
    assert_eq!(first.post(&now).await.0, StatusCode::CREATED);
    let both = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(both[1].header("x-ci-dashboard-event"), "cell.reporting");
    assert_eq!(
        both[1].json()["cell"]["last_build"],
        body["cell"]["last_build"]
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.messages().len(), 2);
    // An unwatched branch's silence is nobody's business.
    let mut elsewhere = every_three_hours("arm64", 20, 24);
    for b in &mut elsewhere {
        b["branch"] = json!("feature/x");
    }
    assert_eq!(first.post(&json!(elsewhere)).await.0, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.messages().len(), 2);
}
