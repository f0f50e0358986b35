//! Helpers shared by the integration tests: the real app on a random port.
// firestore_fault.rs uses a subset.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::config::Settings;
use server::domain::token;
use server::startup::Application;
use server::store::embedded::EmbeddedStore;
use server::store::Store;

pub const SHA: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

pub struct TestApp {
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub fn settings() -> Settings {
    settings_with(&[])
}

/// The defaults, on a random port, with `flags` on top.
pub fn settings_with(flags: &[&str]) -> Settings {
    let defaults = ["--listen=127.0.0.1:0", "--store-timeout=10"];
    Settings::parse_from(defaults.iter().chain(flags)).unwrap()
}

pub async fn spawn_with(store: Arc<dyn Store>) -> TestApp {
    spawn_configured(store, settings()).await
}

pub async fn spawn_configured(store: Arc<dyn Store>, settings: Settings) -> TestApp {
    let secret = token::generate();
    // The name may exist already when an app restarts on the same data.
    let name = format!("ci-{}", &secret[4..12]);
    store
        .create_token(&name, &token::hash(&secret), Default::default())
        .await
        .unwrap();
    let app = Application::build(settings, store).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    let server = tokio::spawn(app.run(std::future::pending()));
    TestApp {
        url,
        token: secret,
        client: reqwest::Client::new(),
        server,
    }
}

pub async fn spawn(dir: &Path) -> TestApp {
    spawn_with(Arc::new(EmbeddedStore::open(dir).unwrap())).await
}

impl TestApp {
    /// A POST to the ingestion endpoint carrying the test token.
    pub fn post_builds(&self) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/api/v1/builds", self.url))
            .bearer_auth(&self.token)
    }

    pub async fn post(&self, body: &Value) -> (StatusCode, Value) {
        let resp = self.post_builds().json(body).send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    pub async fn health(&self, branch: &str) -> Value {
        let resp = self
            .client
            .get(format!("{}/api/v1/health?branch={branch}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    /// A page's HTML, as anyone gets it.
    pub async fn page(&self, path: &str) -> String {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.text().await.unwrap()
    }

    pub async fn cell(&self, branch: &str, component: &str, arch: &str) -> Option<Value> {
        self.health(branch).await["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["component"] == component && c["arch"] == arch)
            .cloned()
    }
}

pub fn build(arch: &str, result: &str) -> Value {
    let mut b = json!({
        "commit": SHA,
        "branch": "master",
        "component": "agw",
        "arch": arch,
        "build_type": "bazel-build",
        "result": result,
        "started_at": "2026-01-10T10:00:00Z",
        "url": "https://github.com/magma/magma/actions/runs/1",
        "commit_title": "<script>alert(1)</script> Fix Vec<u8> parsing",
    });
    if result != "running" {
        b["finished_at"] = json!("2026-01-10T10:20:00Z");
    }
    b
}

/// Passing builds of master's agw `arch` cell every three hours, the last
/// `hours_ago` hours ago, at commits numbered from `first`: a cell with a
/// rhythm, which goes stale when it stops.
pub fn every_three_hours(arch: &str, first: u32, hours_ago: i64) -> Vec<Value> {
    (0..5u32)
        .map(|i| {
            let start =
                chrono::Utc::now() - chrono::TimeDelta::hours(hours_ago + 3 * (4 - i64::from(i)));
            let mut b = build(arch, "pass");
            b["id"] = json!(format!("{arch}-{}", first + i));
            b["commit"] = json!(format!("{:0>40}", first + i));
            b["started_at"] = json!(start.to_rfc3339());
            b["finished_at"] = json!((start + chrono::TimeDelta::minutes(5)).to_rfc3339());
            b
        })
        .collect()
}

/// The i-th of a run of passing builds, alternating amd64 and arm64.
pub fn alternating(i: usize) -> Value {
    build(
        if i.is_multiple_of(2) {
            "amd64"
        } else {
            "arm64"
        },
        "pass",
    )
}

/// Reads a server-sent event stream until an event containing `needle`
/// arrives; panics after `wait`.
pub async fn await_event(resp: reqwest::Response, needle: &str, wait: Duration) -> String {
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    tokio::time::timeout(wait, async {
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if let Some(event) = text.split("\n\n").find(|e| e.contains(needle)) {
                return event.to_string();
            }
        }
        panic!("the event stream ended before an event with {needle}: {text}");
    })
    .await
    .unwrap_or_else(|_| panic!("no event with {needle} within {wait:?}"))
}

impl TestApp {
    /// Opens the live event stream of a branch and waits for its `ready`.
    pub async fn events(&self, branch: &str) -> reqwest::Response {
        let resp = self
            .client
            .get(format!("{}/api/v1/events?branch={branch}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp
    }
}
