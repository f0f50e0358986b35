//! Firestore going away mid-run: its own emulator, frozen with SIGSTOP (as
//! a network partition or an overloaded database looks to the server) and
//! thawed again. Posts get 503 + Retry-After meanwhile, pages say storage
//! is unavailable, and afterwards posting resumes with nothing
//! acknowledged missing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use server::store::firestore::{FirestoreSettings, FirestoreStore};
use server::store::Store;

#[path = "it/common.rs"]
mod common;
use common::*;

const LAUNCHER: &str =
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator";

/// The emulator in its own process group; the launcher does not exec java,
/// so signals go to the whole group.
struct Emulator {
    child: Child,
    host: String,
}

impl Emulator {
    fn start() -> Emulator {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(LAUNCHER)
            .args(["start", "--host=127.0.0.1", &format!("--port={port}")])
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "the Firestore emulator is installed (README, \"Deploying on Cloud Firestore\")",
            );
        let stdout = BufReader::new(child.stdout.take().unwrap());
        for line in stdout.lines() {
            if line.unwrap().contains("Dev App Server is now running") {
                break;
            }
        }
        Emulator {
            child,
            host: format!("127.0.0.1:{port}"),
        }
    }

    fn signal(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let ok = Command::new("kill")
            .args([signal, "--", &group])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal} {group}");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }
}

fn numbered(i: usize) -> serde_json::Value {
    let mut b = alternating(i);
    b["id"] = json!(format!("fault-{i}"));
    b["started_at"] = json!(format!("2026-01-10T10:{:02}:{:02}Z", i / 60, i % 60));
    b["finished_at"] = json!(format!("2026-01-10T11:{:02}:{:02}Z", i / 60, i % 60));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_firestore_gives_503_and_loses_nothing_acknowledged() {
    let emulator = Emulator::start();
    // The only test in this binary, so no other thread reads the variable.
    std::env::set_var("FIRESTORE_EMULATOR_HOST", &emulator.host);
    // A fresh emulator's first answers are slow (its JVM warms up): a
    // patient client makes them before the 2 s store takes over.
    let warm = FirestoreStore::open(&FirestoreSettings {
        project: "fault".into(),
        database: None,
        timeout: Duration::from_secs(60),
    })
    .await
    .unwrap();
    warm.create_token("warm-up", "0", Default::default())
        .await
        .unwrap();
    warm.tokens().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(
        FirestoreStore::open(&FirestoreSettings {
            project: "fault".into(),
            database: None,
            timeout: Duration::from_secs(2),
        })
        .await
        .unwrap(),
    );
    let app = spawn_with(store.clone()).await;

    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let (status, body) = app.post(&numbered(i)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        acknowledged.push(format!("fault-{i}"));
    }

    emulator.signal("-STOP");
    let resp = app.post_builds().json(&numbered(20)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "5");
    let page = app.client.get(&app.url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = page.text().await.unwrap();
    assert!(html.contains("Storage unavailable"), "{html}");

    emulator.signal("-CONT");
    // Posting resumes once Firestore answers again, as a retrying CI job sees it.
    for i in 20..40 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = app.post(&numbered(i)).await;
            if status.is_success() {
                acknowledged.push(format!("fault-{i}"));
                break;
            }
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "posting never resumed"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    for id in &acknowledged {
        assert!(store.build(id).await.unwrap().is_some(), "{id} is missing");
    }
    let cell = app.cell("master", "agw", "arm64").await.unwrap();
    assert_eq!(cell["latest"]["id"], "fault-39");
    let cell = app.cell("master", "agw", "amd64").await.unwrap();
    assert_eq!(cell["latest"]["id"], "fault-38");
}
