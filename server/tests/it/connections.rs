//! Connection hygiene: what clients hold open is bounded in time and in
//! number, per address and in total, and the server keeps answering others.
//! The "others" connect from 127.0.0.1, the hostile client from 127.0.0.2
//! (both loopback), so per-address caps are tested as on the internet.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::*;

async fn spawn_flags(flags: &[&str]) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        std::sync::Arc::new(server::store::embedded::EmbeddedStore::open(dir.path()).unwrap());
    (spawn_configured(store, settings_with(flags)).await, dir)
}

fn addr(app: &TestApp) -> SocketAddr {
    app.url.trim_start_matches("http://").parse().unwrap()
}

/// A connection from the hostile address.
async fn hostile(app: &TestApp) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    socket.connect(addr(app)).await.unwrap()
}

/// Everything the server sends until it closes, or what came within `wait`.
async fn read_all(tcp: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut text = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&text).into_owned(), closed)
}

async fn healthz_latency(app: &TestApp) -> Duration {
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    started.elapsed()
}

#[tokio::test]
async fn half_sent_headers_are_cut_off_and_others_are_still_served() {
    let (app, _dir) = spawn_flags(&["--header-timeout=3", "--max-connections-per-client=50"]).await;
    let mut held = Vec::new();
    let attack = Instant::now();
    for _ in 0..200 {
        let mut tcp = hostile(&app).await;
        // Half a request, never finished (the slowloris attack).
        let _ = tcp
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await;
        held.push(tcp);
    }
    // Served while the half-sent requests are still held: not after the
    // header timeout freed their slots (an order, not a latency: latency
    // is measured by ./scripts/hostile).
    healthz_latency(&app).await;
    assert!(
        attack.elapsed() < Duration::from_secs(3),
        "/healthz waited for the header timeout"
    );
    let mut refused = 0;
    let mut cut_off = 0;
    for tcp in &mut held {
        let (answer, closed) = read_all(tcp, Duration::from_secs(5)).await;
        assert!(
            closed,
            "a half-sent request was held past the header timeout"
        );
        if answer.starts_with("HTTP/1.1 429") {
            assert!(answer.contains("retry-after: 1"), "{answer}");
            refused += 1;
        } else {
            cut_off += 1;
        }
    }
    assert_eq!((cut_off, refused), (50, 150));
    healthz_latency(&app).await;
}

#[tokio::test]
async fn connections_over_the_total_are_refused_with_503() {
    let (app, _dir) =
        spawn_flags(&["--max-connections=3", "--max-connections-per-client=10"]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(hostile(&app).await);
    }
    let mut extra = hostile(&app).await;
    let (answer, closed) = read_all(&mut extra, Duration::from_secs(3)).await;
    assert!(closed);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("maximum of connections"), "{answer}");
    drop(held);
    // Freed slots are available again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(healthz_latency(&app).await < Duration::from_secs(1));
}

#[tokio::test]
async fn idle_kept_alive_connections_are_closed() {
    let (app, _dir) = spawn_flags(&["--header-timeout=1"]).await;
    let mut tcp = hostile(&app).await;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_all(&mut tcp, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        closed,
        "an idle connection was kept past the header timeout"
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_times_out_with_408() {
    let (app, _dir) = spawn_flags(&["--request-timeout=1"]).await;
    let mut tcp = hostile(&app).await;
    let head = format!(
        "POST /api/v1/builds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{",
        app.token
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_all(&mut tcp, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Opens an event stream from `client`; the status it was answered.
async fn stream(app: &TestApp, client: &reqwest::Client) -> reqwest::Response {
    client
        .get(format!("{}/api/v1/events?branch=master", app.url))
        .send()
        .await
        .unwrap()
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(ip.parse().unwrap()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn event_streams_are_capped_per_address_and_in_total() {
    let (app, _dir) = spawn_flags(&["--max-streams=3", "--max-streams-per-client=2"]).await;
    let (hostile, other) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    let first = stream(&app, &hostile).await;
    let _second = stream(&app, &hostile).await;
    assert_eq!(first.status(), StatusCode::OK);
    let over = stream(&app, &hostile).await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.headers()["retry-after"], "5");
    let body: serde_json::Value = over.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("event streams"),
        "{body}"
    );

    let _third = stream(&app, &other).await;
    let full = stream(&app, &other).await;
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(full.headers().contains_key("retry-after"));

    // A closed stream frees its slot.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stream(&app, &hostile).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn event_streams_end_after_their_lifetime_and_tell_the_browser_when_to_return() {
    let (app, _dir) = spawn_flags(&["--stream-lifetime=1"]).await;
    let resp = stream(&app, &client_from("127.0.0.2")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = tokio::time::timeout(Duration::from_secs(5), resp.text())
        .await
        .expect("the stream outlived its lifetime")
        .unwrap();
    assert!(body.contains("event: ready"), "{body}");
    assert!(body.contains("retry: 2000"), "{body}");
}

#[tokio::test]
async fn anonymous_requests_are_limited_per_address_but_probes_and_posts_are_not() {
    let (app, _dir) = spawn_flags(&["--read-rate-limit=1", "--read-burst=2"]).await;
    let scanner = client_from("127.0.0.2");
    let get =
        |client: &reqwest::Client, path: &str| client.get(format!("{}{path}", app.url)).send();
    for _ in 0..2 {
        assert_eq!(
            get(&scanner, "/api/v1/health").await.unwrap().status(),
            StatusCode::OK
        );
    }
    let limited = get(&scanner, "/api/v1/builds").await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "1");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("your address"),
        "{body}"
    );
    assert_eq!(
        get(&scanner, "/healthz").await.unwrap().status(),
        StatusCode::OK
    );
    // Others, and CI posts from the same address, are not affected.
    let other = client_from("127.0.0.3");
    assert_eq!(
        get(&other, "/api/v1/health").await.unwrap().status(),
        StatusCode::OK
    );
    let post = scanner
        .post(format!("{}/api/v1/builds", app.url))
        .bearer_auth(&app.token)
        .json(&build("arm64", "pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn refused_tokens_count_against_their_address() {
    let (app, _dir) = spawn_flags(&["--read-rate-limit=1", "--read-burst=3"]).await;
    let guesser = client_from("127.0.0.4");
    let post = |client: &reqwest::Client, token: &str| {
        client
            .post(format!("{}/api/v1/builds", app.url))
            .bearer_auth(token)
            .json(&build("arm64", "pass"))
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(post(&guesser, "cid_guess").await.unwrap().status());
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert!(
        statuses[3..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "bogus tokens past the budget are throttled: {statuses:?}"
    );
    // The address's budget is spent, yet a real token still posts, and
    // other addresses are untouched.
    assert_eq!(
        post(&guesser, &app.token).await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post(&client_from("127.0.0.5"), "cid_guess")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
