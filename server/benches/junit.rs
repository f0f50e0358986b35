//! Test results: the JUnit parser's throughput next to quick-xml's bare
//! reader on the same file, uploading a 5,000-test file through the real
//! HTTP app (p50/p99 per store), and the commit page of a commit with 20
//! failing builds of 2,000 tests each, and the flaky ranking over 1,000
//! and 100,000 stored builds (embedded). Fixtures come from
//! `scripts/junit-fixtures.py`. Run with `cargo bench -p server --bench
//! junit` (with `FIRESTORE_EMULATOR_HOST` for the emulator too); results go
//! to BENCHMARKS.md.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::config::Settings;
use server::domain::{junit, token};
use server::startup::Application;
use server::store::embedded::EmbeddedStore;
use server::store::firestore::{FirestoreSettings, FirestoreStore};
use server::store::Store;

fn fixture(dir: &Path, tests: usize, failures: usize) -> Vec<u8> {
    let status = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/junit-fixtures.py"
        ))
        .arg(dir)
        .args([
            "--tests",
            &tests.to_string(),
            "--failures",
            &failures.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs the fixture script");
    assert!(status.success());
    std::fs::read(dir.join("pytest-large.xml")).unwrap()
}

fn mb_per_s(bytes: usize, runs: usize, elapsed: Duration) -> f64 {
    (bytes * runs) as f64 / elapsed.as_secs_f64() / 1e6
}

fn throughput(xml: &[u8]) {
    const RUNS: usize = 50;
    let started = Instant::now();
    for _ in 0..RUNS {
        std::hint::black_box(junit::parse(xml).unwrap());
    }
    let ours = mb_per_s(xml.len(), RUNS, started.elapsed());
    let text = std::str::from_utf8(xml).unwrap();
    let started = Instant::now();
    for _ in 0..RUNS {
        let mut reader = quick_xml::Reader::from_str(text);
        let mut events = 0usize;
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Eof => break,
                _ => events += 1,
            }
        }
        std::hint::black_box(events);
    }
    let bare = mb_per_s(xml.len(), RUNS, started.elapsed());
    println!("| parser | MB/s |");
    println!("| --- | ---: |");
    println!("| quick-xml's reader alone (events, no work) | {bare:.0} |");
    println!("| junit::parse (cases, names, messages, checks) | {ours:.0} |");
    println!();
}

struct Server {
    url: String,
    token: String,
    client: reqwest::Client,
}

async fn serve(store: Arc<dyn Store>) -> Server {
    serve_with(store, &["--read-rate-limit=0", "--store-timeout=30"]).await
}

/// The app without per-token limits, with `flags` on top.
async fn serve_with(store: Arc<dyn Store>, flags: &[&str]) -> Server {
    let base = [
        "--listen=127.0.0.1:0",
        "--rate-limit=0",
        "--build-rate-limit=0",
    ];
    let settings = Settings::parse_from(base.iter().chain(flags)).unwrap();
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
    Server {
        url,
        token: secret,
        client: reqwest::Client::new(),
    }
}

impl Server {
    async fn post(&self, builds: Value) {
        let resp = self
            .client
            .post(format!("{}/api/v1/builds", self.url))
            .bearer_auth(&self.token)
            .json(&builds)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }

    async fn upload(&self, id: &str, xml: &[u8]) -> Duration {
        let started = Instant::now();
        let resp = self
            .client
            .post(format!("{}/api/v1/builds/{id}/tests", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/xml")
            .body(xml.to_vec())
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        took
    }
}

fn build(id: &str, commit: &str, component: &str, arch: &str, minute: u32, result: &str) -> Value {
    json!({
        "id": id,
        "commit": commit,
        "branch": "master",
        "component": component,
        "arch": arch,
        "build_type": "integ-test",
        "result": result,
        "started_at": format!("2026-11-20T{:02}:{:02}:00Z", 10 + minute / 60, minute % 60),
        "finished_at": format!("2026-11-20T{:02}:{:02}:30Z", 10 + minute / 60, minute % 60),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    ms(sorted[i])
}

struct Row {
    store: &'static str,
    upload_p50: f64,
    upload_p99: f64,
    page_p50: f64,
    page_p99: f64,
    reads: Option<u64>,
}

const UPLOADS: usize = 30;
const FAILING_BUILDS: usize = 20;
const PAGE_VIEWS: usize = 20;

async fn measure(
    name: &'static str,
    store: Arc<dyn Store>,
    reads: &dyn Fn() -> u64,
    large: &[u8],
    two_thousand: &[u8],
    two_thousand_passing: &[u8],
) -> Row {
    let server = serve(store).await;
    // A 5,000-test file, each time for a build of its own.
    let mut uploads = Vec::new();
    for n in 0..UPLOADS {
        let id = format!("up-{n}");
        server
            .post(build(
                &id,
                &format!("{n:0>40x}"),
                "lte",
                "amd64",
                n as u32,
                "fail",
            ))
            .await;
        uploads.push(server.upload(&id, large).await);
    }
    uploads.sort();

    // A commit whose 20 cells all fail, 2,000 tests each, over a baseline
    // commit whose same cells passed.
    let (base, broke) = ("b".repeat(40), "c".repeat(40));
    for n in 0..FAILING_BUILDS {
        let component = format!("comp{}", n / 2);
        let arch = if n % 2 == 0 { "amd64" } else { "arm64" };
        for (commit, result, minute, xml) in [
            (&base, "pass", 100, two_thousand_passing),
            (&broke, "fail", 110, two_thousand),
        ] {
            let id = format!("{}-{n}", &commit[..1]);
            server
                .post(json!([build(
                    &id, commit, &component, arch, minute, result
                )]))
                .await;
            server.upload(&id, xml).await;
        }
    }
    let before = reads();
    let mut views = Vec::new();
    for _ in 0..PAGE_VIEWS {
        let started = Instant::now();
        let resp = server
            .client
            .get(format!("{}/api/v1/commits/{broke}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let report: Value = resp.json().await.unwrap();
        views.push(started.elapsed());
        let failing: usize = report["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["tests"]["failing"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(failing, FAILING_BUILDS * 5, "every failing test is listed");
    }
    let reads = (reads() - before) / PAGE_VIEWS as u64;
    views.sort();
    Row {
        store: name,
        upload_p50: percentile(&uploads, 0.5),
        upload_p99: percentile(&uploads, 0.99),
        page_p50: percentile(&views, 0.5),
        page_p99: percentile(&views, 0.99),
        reads: (reads > 0).then_some(reads),
    }
}

/// Flaky ranking latency over a branch with `size` stored builds, the same
/// 40 uploads (20 of them flipping tests) on top.
async fn flaky_at(size: usize, fixture_dir: &Path) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let started = chrono::Utc::now() - chrono::Duration::days(20);
    let mut batch = Vec::new();
    for n in 0..size {
        let mut b: app::model::Build = serde_json::from_value(json!({
            "id": format!("fill-{n}"),
            "repository": "magma/magma",
            "commit": format!("{:0>40x}", n / 48 + 1_000_000),
            "branch": "master",
            "component": format!("c{}", n % 8),
            "arch": if n % 2 == 0 { "amd64" } else { "arm64" },
            "build_type": format!("t{}", n % 3),
            "result": if n % 5 == 0 { "fail" } else { "pass" },
            "started_at": started + chrono::Duration::seconds(n as i64),
            "finished_at": started + chrono::Duration::seconds(n as i64 + 30),
        }))
        .unwrap();
        b.posted_by = None;
        batch.push(b);
        if batch.len() == 1_000 {
            store.ingest(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    if !batch.is_empty() {
        store.ingest(batch).await.unwrap();
    }
    let server = serve(store).await;
    let flapping = fixture(&fixture_dir.join(format!("flap-{size}")), 200, 20);
    let steady = fixture(&fixture_dir.join(format!("steady-{size}")), 200, 0);
    for n in 0..40u32 {
        let id = format!("flaky-{n}");
        server
            .post(build(
                &id,
                &format!("{n:0>40x}"),
                "lte",
                "arm64",
                200 + n,
                if n % 2 == 0 { "fail" } else { "pass" },
            ))
            .await;
        server
            .upload(&id, if n % 2 == 0 { &flapping } else { &steady })
            .await;
    }
    let mut views = Vec::new();
    // The first requests warm the connection pool and SQLite's page cache.
    for n in 0..250 {
        let t = Instant::now();
        let resp = server
            .client
            .get(format!(
                "{}/api/v1/tests/flaky?branch=master&days=90",
                server.url
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert!(body["tests"].as_array().unwrap().len() >= 15, "{body}");
        if n >= 50 {
            views.push(t.elapsed());
        }
    }
    views.sort();
    (percentile(&views, 0.5), percentile(&views, 0.99))
}

/// A `<testcase>` with `attributes` distinct attributes: the quadratic
/// duplicate check of RUSTSEC-2026-0194.
fn many_attributes(attributes: usize) -> Vec<u8> {
    let mut xml = String::from(r#"<testsuite name="s"><testcase name="t""#);
    for i in 0..attributes {
        xml.push_str(&format!(" a{i}=\"\""));
    }
    xml.push_str("/></testsuite>");
    xml.into_bytes()
}

/// `/healthz` answer times, every 10 ms until `done` is set.
async fn probe_until(url: String, done: Arc<std::sync::atomic::AtomicBool>) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        let started = Instant::now();
        let ok = client.get(format!("{url}/healthz")).send().await;
        assert!(ok.is_ok_and(|r| r.status().is_success()));
        times.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    times.sort();
    times
}

/// Two hostile uploads at once beside `/healthz`, then CI posts beside
/// anonymous readers at their rate limit from 8 addresses, on the
/// embedded store with the default limits.
async fn hostile(fixtures: &Path) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let server =
        Arc::new(serve_with(Arc::new(EmbeddedStore::open(dir.path()).unwrap()), &[]).await);
    let attack = many_attributes(900_000);
    server
        .post(json!([
            build("h1", "a".repeat(40).as_str(), "agw", "amd64", 0, "fail"),
            build("h2", "a".repeat(40).as_str(), "agw", "arm64", 0, "fail")
        ]))
        .await;
    let done = Arc::new(AtomicBool::new(false));
    let probes = tokio::spawn(probe_until(server.url.clone(), done.clone()));
    let uploads = ["h1", "h2"].map(|id| {
        let (server, attack) = (server.clone(), attack.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = server
                .client
                .post(format!("{}/api/v1/builds/{id}/tests", server.url))
                .bearer_auth(&server.token)
                .header("content-type", "application/xml")
                .body(attack)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), started.elapsed())
        })
    });
    let mut answers = Vec::new();
    for upload in uploads {
        answers.push(upload.await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    done.store(true, Ordering::SeqCst);
    let probes = probes.await.unwrap();
    println!(
        "| two uploads at once, each one `<testcase>` with 900,000 attributes ({:.1} MiB) | |",
        attack.len() as f64 / 1048576.0
    );
    println!("| --- | ---: |");
    for (n, (status, took)) in answers.iter().enumerate() {
        println!(
            "| upload {} answer, time | {status}, {:.1} ms |",
            n + 1,
            ms(*took)
        );
    }
    println!(
        "| `/healthz` meanwhile: probes, p50 / max ms | {}, {:.1} / {:.1} |",
        probes.len(),
        percentile(&probes, 0.5),
        ms(*probes.last().unwrap())
    );
    println!();

    // A build with 100,000 results: the most a test listing reads.
    let big = [50_000, 49_999].map(|n| fixture(&fixtures.join(format!("big{n}")), n, 5));
    server
        .post(json!([build(
            "big",
            "b".repeat(40).as_str(),
            "lte",
            "amd64",
            1,
            "fail"
        )]))
        .await;
    for xml in &big {
        server.upload("big", xml).await;
    }
    // Each address sends at its budget (20 a second), not waiting for
    // answers: what a scraper does.
    let done = Arc::new(AtomicBool::new(false));
    let answers: Arc<[std::sync::atomic::AtomicUsize; 4]> = Arc::new(Default::default());
    let readers: Vec<_> = (2..10u8)
        .map(|last| {
            let (url, done, answers) = (server.url.clone(), done.clone(), answers.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .local_address(std::net::IpAddr::from([127, 0, 0, last]))
                    .build()
                    .unwrap();
                let paths = [
                    "/api/v1/builds/big/tests?limit=5000".to_string(),
                    format!("/api/v1/report?branch=master&days={}", last),
                    format!("/api/v1/commits/{}", "b".repeat(40)),
                ];
                let mut sent = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    let request = client.get(format!("{url}{}", paths[sent.len() % 3])).send();
                    let answers = answers.clone();
                    sent.push(tokio::spawn(async move {
                        let slot = match request.await.map(|r| r.status().as_u16()) {
                            Ok(200) => 0,
                            Ok(429) => 1,
                            Ok(503) => 2,
                            _ => 3,
                        };
                        answers[slot].fetch_add(1, Ordering::SeqCst);
                    }));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let count = sent.len();
                for request in sent {
                    let _ = request.await;
                }
                count
            })
        })
        .collect();
    let started = Instant::now();
    let (mut posted, mut unavailable, mut other) = (0, 0, 0);
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(10) {
        n += 1;
        let resp = server
            .client
            .post(format!("{}/api/v1/builds", server.url))
            .bearer_auth(&server.token)
            .json(&build(
                &format!("p{n}"),
                &format!("{n:0>40}"),
                "orc8r",
                "amd64",
                n % 600,
                "pass",
            ))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            201 | 200 => posted += 1,
            503 => unavailable += 1,
            _ => other += 1,
        }
    }
    done.store(true, Ordering::SeqCst);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }
    println!("| CI posts for 10 s beside 8 addresses reading at their rate limit | |");
    println!("| --- | ---: |");
    let answered = |i: usize| answers[i].load(Ordering::SeqCst);
    println!("| anonymous reads sent, 20 a second per address (100,000-result listings, reports, commit pages) | {reads} |");
    println!(
        "| their answers: 200 / 429 / 503 / other | {} / {} / {} / {} |",
        answered(0),
        answered(1),
        answered(2),
        answered(3)
    );
    println!("| posts stored / answered 503 / other | {posted} / {unavailable} / {other} |");
    println!();
}

fn main() {
    // `cargo bench -p server --bench junit -- flaky` measures the flaky
    // ranking only; `-- hostile` hostile uploads and readers only.
    let only_flaky = std::env::args().any(|a| a == "flaky");
    let fixtures = tempfile::tempdir().unwrap();
    let large = fixture(&fixtures.path().join("large"), 5_000, 5);
    let two_thousand = fixture(&fixtures.path().join("two"), 2_000, 5);
    let two_thousand_passing = fixture(&fixtures.path().join("pass"), 2_000, 0);
    println!(
        "5,000-test file: {} bytes, {} cases\n",
        large.len(),
        junit::parse(&large).unwrap().len()
    );
    let only_hostile = std::env::args().any(|a| a == "hostile");
    if !only_flaky && !only_hostile {
        throughput(&large);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if only_hostile {
            return hostile(fixtures.path()).await;
        }
        let mut rows = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        rows.push(
            measure(
                "embedded",
                Arc::new(EmbeddedStore::open(dir.path()).unwrap()),
                &|| 0,
                &large,
                &two_thousand,
                &two_thousand_passing,
            )
            .await,
        );
        if std::env::var("FIRESTORE_EMULATOR_HOST").is_ok() {
            let store = Arc::new(
                FirestoreStore::open(&FirestoreSettings {
                    project: format!("bench-junit-{}", uuid::Uuid::new_v4().simple()),
                    database: None,
                    timeout: Duration::from_secs(30),
                })
                .await
                .unwrap(),
            );
            let counter = store.clone();
            rows.push(
                measure(
                    "firestore (emulator)",
                    store,
                    &move || counter.document_reads(),
                    &large,
                    &two_thousand,
                    &two_thousand_passing,
                )
                .await,
            );
        } else {
            eprintln!("FIRESTORE_EMULATOR_HOST is not set: measuring the embedded store only");
        }
        let small = flaky_at(1_000, fixtures.path()).await;
        let large = flaky_at(100_000, fixtures.path()).await;
        println!("| flaky ranking, embedded | p50 ms | p99 ms |");
        println!("| --- | ---: | ---: |");
        println!("| 1,000 stored builds | {:.2} | {:.2} |", small.0, small.1);
        println!("| 100,000 stored builds | {:.2} | {:.2} |", large.0, large.1);
        println!("| ratio of p50 | {:.2} | |", large.0 / small.0);
        println!();
        if only_flaky {
            return;
        }
        println!("| store | upload 5,000 tests p50 / p99 ms | commit page, 20 failing builds × 2,000 tests, p50 / p99 ms | document reads per page |");
        println!("| --- | ---: | ---: | ---: |");
        for r in rows {
            println!(
                "| {} | {:.1} / {:.1} | {:.1} / {:.1} | {} |",
                r.store,
                r.upload_p50,
                r.upload_p99,
                r.page_p50,
                r.page_p99,
                r.reads.map_or("–".to_string(), |r| r.to_string())
            );
        }
    });
}
