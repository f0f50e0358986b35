//! Several dashboard servers over one Firestore database (the emulator that
//! ./scripts/test starts) behave as one dashboard.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use server::store::firestore::{FirestoreSettings, FirestoreStore};
use server::store::Store;

use crate::common::*;

pub async fn firestore(project: &str) -> Arc<dyn Store> {
    assert!(
        std::env::var("FIRESTORE_EMULATOR_HOST").is_ok_and(|h| !h.is_empty()),
        "the Firestore tests need the emulator: run ./scripts/test, or start it and set \
         FIRESTORE_EMULATOR_HOST"
    );
    let settings = FirestoreSettings {
        project: project.to_string(),
        database: None,
        timeout: Duration::from_secs(10),
    };
    Arc::new(FirestoreStore::open(&settings).await.unwrap())
}

#[tokio::test]
async fn two_servers_over_one_database_are_one_dashboard() {
    let project = format!("two-{}", uuid::Uuid::new_v4().simple());
    let one = spawn_with(firestore(&project).await).await;
    let other = spawn_with(firestore(&project).await).await;
    let events = other.events("master").await;
    // Give the other server's listener its initial snapshot first.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (status, body) = one.post(&build("arm64", "fail")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["ids"][0].as_str().unwrap().to_string();

    let event = await_event(events, &id, Duration::from_secs(5)).await;
    assert!(event.starts_with("event: cell"), "{event}");
    assert!(event.contains(r#""result":"fail""#), "{event}");

    let cell = other
        .cell("master", "agw", "arm64")
        .await
        .expect("arm64 cell");
    assert_eq!(cell["latest"]["id"], json!(id));
    assert_eq!(cell["streak"]["builds"], 1);

    // A token made through one server authorizes posts to the other.
    let (status, _) = other.post(&build("amd64", "pass")).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut with_ones_token = build("amd64", "fail");
    with_ones_token["id"] = json!("via-one-token");
    let resp = other
        .client
        .post(format!("{}/api/v1/builds", other.url))
        .bearer_auth(&one.token)
        .json(&with_ones_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cell = one.cell("master", "agw", "amd64").await.unwrap();
    assert_eq!(cell["latest"]["id"], "via-one-token");
}

#[tokio::test]
async fn two_servers_on_one_database_send_each_notification_once() {
    use crate::webhooks::{at_commit, notify_config, verify, Receiver};
    let project = format!("hooks-{}", uuid::Uuid::new_v4().simple());
    let receiver = Receiver::start(0, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = notify_config(dir.path(), &receiver.url());
    let one = spawn_configured(firestore(&project).await, settings_with(&[&config])).await;
    let other = spawn_configured(firestore(&project).await, settings_with(&[&config])).await;

    assert_eq!(one.post(&at_commit(2, "fail")).await.0, StatusCode::CREATED);
    assert_eq!(
        other.post(&at_commit(3, "pass")).await.0,
        StatusCode::CREATED
    );
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    // Both servers look at the queue every second: give each a few looks.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got_after = receiver.messages();
    assert_eq!(got_after.len(), 2, "{got:?}");
    let mut events: Vec<String> = got_after
        .iter()
        .map(|m| m.json()["event"].as_str().unwrap().to_string())
        .collect();
    events.sort();
    assert_eq!(events, ["incident.opened", "incident.resolved"]);
    got_after.iter().for_each(verify);
}
