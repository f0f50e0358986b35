//! The real binary, killed with SIGKILL while 16 clients post: after a
//! restart on the same data every acknowledged build is there, once.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_ci-dashboard");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(data: &std::path::Path, port: u16) -> Child {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let up = client
            .get(format!("http://127.0.0.1:{port}/api/v1/health"))
            .send()
            .await;
        if up.is_ok_and(|r| r.status() == StatusCode::OK) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_builds_survive_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["token", "create", "durability", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = free_port();
    let mut server = start(data.path(), port).await;
    let url = format!("http://127.0.0.1:{port}");

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut posters = Vec::new();
    for client_no in 0..16 {
        let (url, token, acknowledged) = (url.clone(), token.clone(), acknowledged.clone());
        posters.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0usize.. {
                let id = format!("kill-{client_no}-{i}");
                let mut b = alternating(i);
                b["id"] = json!(id);
                b["component"] = json!(format!("c{client_no}"));
                let sent = client
                    .post(format!("{url}/api/v1/builds"))
                    .bearer_auth(&token)
                    .json(&b)
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status() == StatusCode::CREATED => {
                        acknowledged.lock().unwrap().push(id)
                    }
                    _ => break,
                }
            }
        }));
    }
    // Killed mid-stream once enough posts are acknowledged, however slow
    // the machine: a fixed delay would make the count depend on the load.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 200 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap(); // SIGKILL: no shutdown handler runs
    server.wait().unwrap();
    for p in posters {
        p.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 50,
        "only {} posts before the kill",
        acknowledged.len()
    );

    let mut server = start(data.path(), port).await;
    let client = reqwest::Client::new();
    let mut stored = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page = format!("{url}/api/v1/builds?limit=500");
        if let Some(c) = &cursor {
            page.push_str(&format!("&cursor={c}"));
        }
        let body: Value = client.get(page).send().await.unwrap().json().await.unwrap();
        for b in body["builds"].as_array().unwrap() {
            stored.push(b["id"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "duplicates after the restart");
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !unique.contains(id))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    server.kill().unwrap();
    server.wait().unwrap();
}
