//! Time from the post that opens (or resolves) an incident to its webhook
//! message arriving at a receiver on loopback, through the real HTTP app,
//! on the embedded store and (with `FIRESTORE_EMULATOR_HOST`) Firestore;
//! and the embedded store's ingestion rate while every post opens or
//! resolves an incident, with a slow webhook receiver and without webhooks.
//! Run with `cargo bench -p server --bench webhooks`; results go to
//! BENCHMARKS.md.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};
use server::config::Settings;
use server::domain::token;
use server::startup::Application;
use server::store::embedded::EmbeddedStore;
use server::store::firestore::{FirestoreSettings, FirestoreStore};
use server::store::Store;

/// Incidents opened and resolved per store.
const CYCLES: usize = 200;

type Arrivals = Arc<Mutex<Vec<Instant>>>;

async fn receive(State(arrivals): State<Arrivals>) -> StatusCode {
    arrivals.lock().unwrap().push(Instant::now());
    StatusCode::NO_CONTENT
}

/// A receiver that takes 200 ms to answer.
async fn receive_slowly(State(arrivals): State<Arrivals>) -> StatusCode {
    tokio::time::sleep(Duration::from_millis(200)).await;
    receive(State(arrivals)).await
}

async fn receiver(slow: bool) -> (String, Arrivals) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let arrivals = Arrivals::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            if slow {
                axum::routing::post(receive_slowly)
            } else {
                axum::routing::post(receive)
            },
        )
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

/// Incidents open at the first failure; `hook`, if any, hears of them.
async fn serve(store: Arc<dyn Store>, hook: Option<&str>) -> (String, String) {
    let config = std::env::temp_dir().join(format!(
        "ci-dashboard-bench-{}-{}.toml",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut text = "failures_to_open = 1\n".to_string();
    if let Some(hook) = hook {
        text.push_str(&format!(
            "[[webhook]]\nurl = \"{hook}\"\nformat = \"json\"\nsecret = \"s\"\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    let settings = Settings::parse_from([
        "--listen=127.0.0.1:0".to_string(),
        "--rate-limit=0".into(),
        "--build-rate-limit=0".into(),
        format!("--notify-config={}", config.display()),
    ])
    .unwrap();
    let secret = token::generate();
    store
        .create_token(
            &format!("bench-{}", &secret[4..12]),
            &token::hash(&secret),
            Default::default(),
        )
        .await
        .unwrap();
    let app = Application::build(settings, store).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    (url, secret)
}

fn build(n: usize, result: &str) -> Value {
    build_on("amd64", n, result)
}

fn build_on(arch: &str, n: usize, result: &str) -> Value {
    let started = chrono::Utc::now();
    json!({
        "commit": format!("{n:0>40x}"),
        "branch": "master",
        "component": "agw",
        "arch": arch,
        "build_type": "bazel-build",
        "result": result,
        "started_at": started,
        "finished_at": started,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// Post-to-arrival latencies of `CYCLES` openings and resolutions.
async fn measure(store: Arc<dyn Store>) -> Vec<Duration> {
    let (hook, arrivals) = receiver(false).await;
    let (url, token) = serve(store, Some(&hook)).await;
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(2 * CYCLES);
    for n in 0..2 * CYCLES {
        let result = if n % 2 == 0 { "fail" } else { "pass" };
        let sent = Instant::now();
        let status = client
            .post(format!("{url}/api/v1/builds"))
            .bearer_auth(&token)
            .json(&build(n, result))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
        let deadline = sent + Duration::from_secs(30);
        let arrived = loop {
            if let Some(at) = arrivals.lock().unwrap().get(n).copied() {
                break at;
            }
            assert!(Instant::now() < deadline, "message {n} never arrived");
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        latencies.push(arrived - sent);
    }
    // Nothing sent twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(arrivals.lock().unwrap().len(), 2 * CYCLES);
    latencies.sort();
    latencies
}

const CLIENTS: usize = 16;
const POSTS_PER_CLIENT: usize = 250;

/// Single posts per second, 16 clients each on a cell of its own, every
/// post failing or passing after the other: each one opens or resolves an
/// incident.
async fn ingestion_rate(slow_webhook: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let receiver = if slow_webhook {
        Some(receiver(true).await)
    } else {
        None
    };
    let (url, token) = serve(store, receiver.as_ref().map(|(u, _)| u.as_str())).await;
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for n in 0..POSTS_PER_CLIENT {
                    let result = if n % 2 == 0 { "fail" } else { "pass" };
                    let status = client
                        .post(format!("{url}/api/v1/builds"))
                        .bearer_auth(&token)
                        .json(&build_on(&format!("arch{c}"), n, result))
                        .send()
                        .await
                        .unwrap()
                        .status();
                    assert!(status.is_success(), "{status}");
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    let rate = (CLIENTS * POSTS_PER_CLIENT) as f64 / started.elapsed().as_secs_f64();
    if let Some((_, arrivals)) = receiver {
        eprintln!(
            "slow receiver: {} of {} messages arrived while posting",
            arrivals.lock().unwrap().len(),
            CLIENTS * POSTS_PER_CLIENT
        );
    }
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let without = ingestion_rate(false).await;
        let with = ingestion_rate(true).await;
        println!("| ingestion, every post opens or resolves an incident | posts/s |");
        println!("| --- | ---: |");
        println!("| no webhook | {without:.0} |");
        println!("| a webhook answering in 200 ms | {with:.0} |");
        println!();
        println!("| store | messages | p50 ms | p99 ms | max ms |");
        println!("| --- | ---: | ---: | ---: | ---: |");
        let report = |name: &str, l: &[Duration]| {
            println!(
                "| {name} | {} | {:.1} | {:.1} | {:.1} |",
                l.len(),
                percentile(l, 0.5),
                percentile(l, 0.99),
                percentile(l, 1.0)
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let embedded = measure(Arc::new(EmbeddedStore::open(dir.path()).unwrap())).await;
        report("embedded", &embedded);
        if std::env::var("FIRESTORE_EMULATOR_HOST").is_ok() {
            let settings = FirestoreSettings {
                project: format!("bench-hooks-{}", uuid::Uuid::new_v4().simple()),
                database: None,
                timeout: Duration::from_secs(30),
            };
            let firestore = measure(Arc::new(FirestoreStore::open(&settings).await.unwrap())).await;
            report("firestore (emulator)", &firestore);
        } else {
            eprintln!("FIRESTORE_EMULATOR_HOST is not set: measuring the embedded store only");
        }
    });
}
