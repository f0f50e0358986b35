//! The stores side by side through the real HTTP app: ingestion rate
//! (single posts and batches of 100, 16 concurrent clients) against the
//! `/healthz` ceiling, overview, commit page and console API latency at 1,000, 100,000
//! and (embedded) 1,000,000 stored builds, and Firestore document reads per
//! page view. Run with `./scripts/bench` (starts the emulator); results go
//! to BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::Build;
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::{json, Value};
use server::config::Settings;
use server::domain::token;
use server::startup::Application;
use server::store::embedded::EmbeddedStore;
use server::store::firestore::{FirestoreSettings, FirestoreStore};
use server::store::Store;

const CLIENTS: usize = 16;
const COMPONENTS: &[&str] = &["agw", "orc8r", "feg", "cwag", "nms", "dp", "helm", "lte"];
const ARCHES: &[&str] = &["amd64", "arm64"];
const BUILD_TYPES: &[&str] = &["bazel-build", "unit-tests", "integ-test"];

/// `BENCH_INCIDENTS=off` watches no branch, to compare ingestion with and
/// without incident tracking.
fn settings() -> Settings {
    let mut flags = vec![
        "--listen=127.0.0.1:0".to_string(),
        "--store-timeout=30".into(),
        "--rate-limit=0".into(),
        "--build-rate-limit=0".into(),
        // Pages are timed here, not refused.
        "--read-rate-limit=0".into(),
    ];
    if std::env::var("BENCH_INCIDENTS").is_ok_and(|v| v == "off") {
        let path = std::env::temp_dir().join("ci-dashboard-bench-no-incidents.toml");
        std::fs::write(&path, "watch = []\n").unwrap();
        flags.push(format!("--notify-config={}", path.display()));
    }
    Settings::parse_from(flags).unwrap()
}

struct Server {
    url: String,
    token: String,
}

async fn serve(store: Arc<dyn Store>) -> Server {
    let secret = token::generate();
    store
        .create_token(
            &format!("bench-{}", &secret[4..12]),
            &token::hash(&secret),
            Default::default(),
        )
        .await
        .unwrap();
    let app = Application::build(settings(), store).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    Server { url, token: secret }
}

const CELLS: usize = COMPONENTS.len() * ARCHES.len() * BUILD_TYPES.len();

/// The n-th build of a realistic history: every commit builds every cell.
fn nth(n: usize, tag: &str) -> Build {
    build_at(n / CELLS, n % CELLS, &format!("{tag}-{n}"))
}

fn build_at(commit: usize, cell: usize, id: &str) -> Build {
    let component = COMPONENTS[cell / (ARCHES.len() * BUILD_TYPES.len())];
    let arch = ARCHES[(cell / BUILD_TYPES.len()) % ARCHES.len()];
    let build_type = BUILD_TYPES[cell % BUILD_TYPES.len()];
    let started = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
        + TimeDelta::minutes(commit as i64 * 30)
        + TimeDelta::seconds(cell as i64);
    // About one build in seven fails, in streaks, like a real branch.
    let result = if (commit / 3 + cell).is_multiple_of(7) {
        app::model::BuildResult::Fail
    } else {
        app::model::BuildResult::Pass
    };
    Build {
        id: id.to_string(),
        repository: "magma/magma".into(),
        commit: format!("{:040x}", commit * 7919 + 1),
        parent: None,
        cell: app::model::CellId {
            branch: "master".into(),
            component: component.into(),
            arch: arch.into(),
            build_type: build_type.into(),
        },
        pr: Some(10_000 + commit as u64),
        result,
        started_at: started,
        finished_at: Some(started + TimeDelta::minutes(12)),
        url: Some(format!(
            "https://github.com/magma/magma/actions/runs/{commit}"
        )),
        runner: Some("ubuntu-latest".into()),
        version: Some("1.9.0".into()),
        commit_title: Some("fix(agw): Fix Vec<u8> parsing".into()),
        author: Some("alice".into()),
        posted_by: None,
    }
}

fn body(build: &Build) -> Value {
    json!({
        "id": build.id,
        "commit": build.commit,
        "branch": build.cell.branch,
        "pr": build.pr,
        "component": build.cell.component,
        "arch": build.cell.arch,
        "build_type": build.cell.build_type,
        "result": build.result.as_str(),
        "started_at": build.started_at.to_rfc3339(),
        "finished_at": build.finished_at.map(|t| t.to_rfc3339()),
        "url": build.url,
        "commit_title": build.commit_title,
        "author": build.author,
        "runner": build.runner,
        "version": build.version,
    })
}

struct Rate {
    /// Accepted (2xx) posts and builds per second.
    requests_per_s: f64,
    builds_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Posts answered otherwise (a store refusing under contention: 503).
    refused: usize,
    requests: usize,
}

impl Rate {
    /// Accepted builds per second, and how many posts were refused if any.
    fn builds(&self) -> String {
        match self.refused {
            0 => format!("{:.0}", self.builds_per_s),
            n => format!(
                "{:.0} ({n} of {} posts refused)",
                self.builds_per_s, self.requests
            ),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Which cells and start times a load's builds have.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pattern {
    /// Every client on its own three cells (as CI jobs are: a job posts
    /// its own cell; a lab runner posts its backlog).
    OwnCells,
    /// Every post spread over the same 48 cells, as the CI jobs of one
    /// commit post; start times increase.
    SharedCells,
    /// As `SharedCells`, and every build starts at the same time: ties are
    /// ordered by id, so half the builds arrive "late".
    SharedTied,
}

/// The `i`-th build of request `r` of a load.
fn load_build(pattern: Pattern, client: usize, r: usize, per_request: usize, i: usize) -> Value {
    let id = format!("ingest-{r}-{i}");
    let round = r / CLIENTS;
    let mut build = match pattern {
        Pattern::OwnCells => build_at(
            round * per_request + i / 3,
            (client * 3 + i % 3) % CELLS,
            &id,
        ),
        Pattern::SharedCells | Pattern::SharedTied => build_at(r, i % CELLS, &id),
    };
    match pattern {
        Pattern::OwnCells => {}
        Pattern::SharedCells => {
            build.started_at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
                + TimeDelta::seconds((r * per_request + i) as i64);
        }
        Pattern::SharedTied => {
            build.started_at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        }
    }
    build.finished_at = Some(build.started_at + TimeDelta::minutes(12));
    body(&build)
}

/// `CLIENTS` concurrent clients post `requests` bodies of `per_request`
/// builds each, laid out as `pattern` says. Bodies are encoded before the
/// clock starts, as wrk or oha would: the rate is the server's, not the
/// load generator's JSON encoder's.
async fn ingestion(server: &Server, requests: usize, per_request: usize, pattern: Pattern) -> Rate {
    let payloads: Vec<Vec<Vec<u8>>> = (0..CLIENTS)
        .map(|c| {
            (c..requests)
                .step_by(CLIENTS)
                .map(|r| {
                    let builds: Vec<Value> = (0..per_request)
                        .map(|i| load_build(pattern, c, r, per_request, i))
                        .collect();
                    let payload = if per_request == 1 {
                        builds[0].clone()
                    } else {
                        Value::Array(builds)
                    };
                    serde_json::to_vec(&payload).unwrap()
                })
                .collect()
        })
        .collect();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for bodies in payloads {
        let (client, url, token) = (client.clone(), server.url.clone(), server.token.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut refused) = (Vec::new(), 0);
            for payload in bodies {
                let t = Instant::now();
                let resp = client
                    .post(format!("{url}/api/v1/builds"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(payload)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                if status.is_success() {
                    latencies.push(t.elapsed());
                } else {
                    assert_eq!(status, 503, "{}", resp.text().await.unwrap());
                    refused += 1;
                }
            }
            (latencies, refused)
        }));
    }
    let (mut latencies, mut refused) = (Vec::new(), 0);
    for t in tasks {
        let (times, refusals) = t.await.unwrap();
        latencies.extend(times);
        refused += refusals;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let accepted = requests - refused;
    Rate {
        requests_per_s: accepted as f64 / elapsed,
        builds_per_s: (accepted * per_request) as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        refused,
        requests,
    }
}

/// Median and p95 of a page's full server response, timed to the last byte.
async fn page(server: &Server, path: &str, views: usize, must_contain: &str) -> (f64, f64) {
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    for _ in 0..views {
        let t = Instant::now();
        let resp = client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        let html = resp.text().await.unwrap();
        times.push(t.elapsed());
        assert!(html.contains(must_contain), "{path} lacks {must_contain}");
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.95))
}

/// The ceiling: `/healthz` requests per second with the same 16 clients.
async fn healthz_rate(server: &Server, requests: usize) -> f64 {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{}/healthz", server.url));
            tokio::spawn(async move {
                for _ in 0..requests / CLIENTS {
                    let resp = client.get(&url).send().await.unwrap();
                    assert!(resp.status().is_success());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    requests as f64 / started.elapsed().as_secs_f64()
}

fn newest_commit(size: usize) -> String {
    format!("{:040x}", ((size - 1) / CELLS) * 7919 + 1)
}

async fn fill(store: &dyn Store, from: usize, to: usize) {
    let mut n = from;
    while n < to {
        let end = (n + 500).min(to);
        store
            .ingest((n..end).map(|i| nth(i, "history")).collect())
            .await
            .unwrap();
        n = end;
        if n.is_multiple_of(50_000) {
            eprintln!("  {n} builds stored");
        }
    }
}

struct Results {
    name: &'static str,
    single: Rate,
    batched: Rate,
    shared: Rate,
    tied: Rate,
    hot: Option<Hot>,
    healthz: f64,
    overview: Vec<(usize, f64, f64, Option<u64>)>,
    /// The console API's first page of 20 commits.
    console: Vec<(usize, f64, f64, Option<u64>)>,
    commit: Vec<(usize, f64, f64, Option<u64>)>,
}

/// A fresh store, and how to read its Firestore document read count.
struct Opened {
    store: Arc<dyn Store>,
    reads: Box<dyn Fn() -> u64>,
}

type Open = dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Opened>>>;
/// Two stores over one fresh database, as two servers share one Firestore.
type OpenPair =
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = [Arc<dyn Store>; 2]>>>;

/// A hot cell: 16 clients post single builds, all of one cell and one start
/// time, half through each server, while a probe posts to other cells.
struct Hot {
    posts: usize,
    accepted_per_s: f64,
    refused: usize,
    probe_posts: usize,
    probe_refused: usize,
    probe_p50_ms: f64,
    probe_p99_ms: f64,
}

async fn post(client: &reqwest::Client, server: &Server, build: &Build) -> (bool, Duration) {
    let t = Instant::now();
    let resp = client
        .post(format!("{}/api/v1/builds", server.url))
        .bearer_auth(&server.token)
        .json(&body(build))
        .send()
        .await
        .unwrap();
    (resp.status().is_success(), t.elapsed())
}

/// How long the hot cell is measured at most.
const HOT_LIMIT: Duration = Duration::from_secs(60);

async fn hot_cell(servers: &[Server; 2], per_client: usize) -> Hot {
    let client = reqwest::Client::new();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let outcomes = futures::future::join_all((0..CLIENTS).map(|c| {
        let (client, server) = (&client, &servers[c % 2]);
        async move {
            let (mut accepted, mut posted) = (0, 0);
            for k in 0..per_client {
                // Bounded in time: a store that times out on every post
                // would otherwise keep the benchmark for many minutes.
                if started.elapsed() > HOT_LIMIT {
                    break;
                }
                let mut build = build_at(k, 0, &format!("hot-{c}-{k}"));
                build.started_at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
                build.finished_at = Some(build.started_at + TimeDelta::minutes(12));
                accepted += usize::from(post(client, server, &build).await.0);
                posted += 1;
            }
            (accepted, posted)
        }
    }));
    let probe = {
        let (client, server, done) = (client.clone(), &servers[1], done.clone());
        async move {
            let (mut latencies, mut refused) = (Vec::new(), 0);
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let mut build = build_at(n, 1 + n % (CELLS - 1), &format!("probe-{n}"));
                build.cell.branch = "calm".into();
                let (ok, took) = post(&client, server, &build).await;
                refused += usize::from(!ok);
                latencies.push(took);
                n += 1;
            }
            (latencies, refused)
        }
    };
    let hot = async {
        let (accepted, posts) = outcomes
            .await
            .into_iter()
            .fold((0, 0), |(a, p), (accepted, posted)| {
                (a + accepted, p + posted)
            });
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (accepted, posts)
    };
    let ((accepted, posts), (mut latencies, probe_refused)) = tokio::join!(hot, probe);
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    Hot {
        posts,
        accepted_per_s: accepted as f64 / elapsed,
        refused: posts - accepted,
        probe_posts: latencies.len(),
        probe_refused,
        probe_p50_ms: percentile(&latencies, 0.5),
        probe_p99_ms: percentile(&latencies, 0.99),
    }
}

async fn measure(
    name: &'static str,
    open: &Open,
    open_pair: Option<&OpenPair>,
    singles: usize,
    batches: usize,
    sizes: &[usize],
    views: usize,
) -> Results {
    eprintln!("{name}: single posts");
    let server = serve(open().await.store).await;
    let healthz = healthz_rate(&server, 20_000).await;
    let single = ingestion(&server, singles, 1, Pattern::OwnCells).await;
    eprintln!("{name}: batches of 100");
    let batched = ingestion(
        &serve(open().await.store).await,
        batches,
        100,
        Pattern::OwnCells,
    )
    .await;
    eprintln!("{name}: batches of 100 over shared cells");
    let shared = ingestion(
        &serve(open().await.store).await,
        batches,
        100,
        Pattern::SharedCells,
    )
    .await;
    eprintln!("{name}: batches of 100 over shared cells, one start time");
    let tied = ingestion(
        &serve(open().await.store).await,
        batches,
        100,
        Pattern::SharedTied,
    )
    .await;
    let hot = match open_pair {
        Some(open_pair) => {
            eprintln!("{name}: one hot cell through two servers");
            let [a, b] = open_pair().await;
            Some(hot_cell(&[serve(a).await, serve(b).await], 20).await)
        }
        None => None,
    };
    let Opened { store, reads } = open().await;
    let counts = name.starts_with("firestore");
    let server = serve(store.clone()).await;
    let mut overview_rows = Vec::new();
    let mut commit_rows = Vec::new();
    let mut console_rows = Vec::new();
    let mut stored = 0;
    let cell = "data-cell=\"agw/amd64/bazel-build\"";
    for &size in sizes {
        eprintln!("{name}: filling to {size} builds");
        fill(store.as_ref(), stored, size).await;
        stored = size;
        eprintln!("{name}: {views} views of each page at {size} builds");
        page(&server, "/?branch=master", views / 10, cell).await;
        let before = reads();
        let (p50, p95) = page(&server, "/?branch=master", views, cell).await;
        let per_view = counts.then(|| (reads() - before) / views as u64);
        overview_rows.push((size, p50, p95, per_view));
        let sha = newest_commit(size);
        let path = format!("/commit/{sha}");
        page(&server, &path, views / 10, &sha[..7]).await;
        let before = reads();
        let (p50, p95) = page(&server, &path, views, &sha[..7]).await;
        let per_view = counts.then(|| (reads() - before) / views as u64);
        commit_rows.push((size, p50, p95, per_view));
        // 20 commits: every size has them, so the answer is the same size.
        let console = "/api/v1/console?branch=master&limit=20";
        page(&server, console, views / 10, &sha).await;
        let before = reads();
        let (p50, p95) = page(&server, console, views, &sha).await;
        let per_view = counts.then(|| (reads() - before) / views as u64);
        console_rows.push((size, p50, p95, per_view));
    }
    Results {
        name,
        single,
        batched,
        shared,
        tied,
        hot,
        healthz,
        overview: overview_rows,
        commit: commit_rows,
        console: console_rows,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // `cargo bench -p server --bench stores -- ingestion` skips the page
    // rows and their long fills, to iterate on ingestion.
    let pages = !std::env::args().any(|a| a == "ingestion");
    let sizes = |all: &'static [usize]| if pages { all } else { &[] };
    runtime.block_on(async {
        let dirs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let embedded: Box<Open> = Box::new(move || {
            let dir = tempfile::tempdir().unwrap();
            let store = EmbeddedStore::open(dir.path()).unwrap();
            dirs.lock().unwrap().push(dir);
            Box::pin(async move {
                Opened {
                    store: Arc::new(store),
                    reads: Box::new(|| 0),
                }
            })
        });
        // `-- firestore` measures the emulator only.
        let embedded_too = !std::env::args().any(|a| a == "firestore");
        let mut all = Vec::new();
        if embedded_too {
            all.push(
                measure(
                    "embedded",
                    &*embedded,
                    None,
                    4_000,
                    400,
                    sizes(&[1_000, 100_000, 1_000_000]),
                    50,
                )
                .await,
            );
            // Each store's table as soon as it is measured: the emulator's
            // part takes long.
            print_report(&all);
        }
        if std::env::var("FIRESTORE_EMULATOR_HOST").is_ok() {
            let firestore: Box<Open> = Box::new(|| {
                Box::pin(async {
                    let settings = FirestoreSettings {
                        project: format!("bench-{}", uuid::Uuid::new_v4().simple()),
                        database: None,
                        timeout: Duration::from_secs(30),
                    };
                    let store = Arc::new(FirestoreStore::open(&settings).await.unwrap());
                    let counter = store.clone();
                    Opened {
                        store,
                        reads: Box::new(move || counter.document_reads()),
                    }
                })
            });
            let pair: Box<OpenPair> = Box::new(|| {
                Box::pin(async {
                    let settings = FirestoreSettings {
                        project: format!("bench-{}", uuid::Uuid::new_v4().simple()),
                        database: None,
                        timeout: Duration::from_secs(10),
                    };
                    let a: Arc<dyn Store> =
                        Arc::new(FirestoreStore::open(&settings).await.unwrap());
                    let b: Arc<dyn Store> =
                        Arc::new(FirestoreStore::open(&settings).await.unwrap());
                    [a, b]
                })
            });
            all.push(
                measure(
                    "firestore (emulator)",
                    &*firestore,
                    Some(&*pair),
                    1_000,
                    100,
                    sizes(&[1_000, 100_000]),
                    // The emulator answers each commit-page query by
                    // scanning its whole database: seconds per view.
                    10,
                )
                .await,
            );
            print_report(&all);
        } else {
            eprintln!("FIRESTORE_EMULATOR_HOST is not set: measuring the embedded store only");
        }
    });
}

fn print_report(all: &[Results]) {
    println!(
        "| | {} |",
        all.iter().map(|r| r.name).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}", "---|".repeat(all.len()));
    let row = |label: &str, f: &dyn Fn(&Results) -> String| {
        println!(
            "| {label} | {} |",
            all.iter().map(f).collect::<Vec<_>>().join(" | ")
        );
    };
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "–".into());
    row("/healthz requests/s (16 clients): the ceiling", &|r| {
        format!("{:.0}", r.healthz)
    });
    row("single posts/s (16 clients)", &|r| {
        format!("{:.0}", r.single.requests_per_s)
    });
    row("single posts/s ÷ /healthz ceiling", &|r| {
        format!("{:.2}", r.single.requests_per_s / r.healthz)
    });
    row("single post p50 / p99 ms", &|r| {
        format!("{:.1} / {:.1}", r.single.p50_ms, r.single.p99_ms)
    });
    row("batched builds/s (100 per post)", &|r| r.batched.builds());
    row("batch post p50 / p99 ms", &|r| {
        format!("{:.1} / {:.1}", r.batched.p50_ms, r.batched.p99_ms)
    });
    row(
        "batched builds/s, posts spread over the same 48 cells",
        &|r| format!("{:.0}", r.shared.builds_per_s),
    );
    row(
        "batched builds/s, same 48 cells, one start time (ties)",
        &|r| format!("{:.0}", r.tied.builds_per_s),
    );
    row("tied batch post p50 / p99 ms", &|r| {
        format!("{:.1} / {:.1}", r.tied.p50_ms, r.tied.p99_ms)
    });
    let hot =
        |r: &Results, f: &dyn Fn(&Hot) -> String| r.hot.as_ref().map_or_else(|| "–".to_string(), f);
    row(
        "hot cell, 2 servers: accepted posts/s (16 clients, one cell, one start time)",
        &|r| hot(r, &|h| format!("{:.1}", h.accepted_per_s)),
    );
    row("hot cell: posts refused", &|r| {
        hot(r, &|h| format!("{} of {}", h.refused, h.posts))
    });
    row(
        "meanwhile, posts to other cells: p50 / p99 ms, refused",
        &|r| {
            hot(r, &|h| {
                format!(
                    "{:.0} / {:.0}, {} of {}",
                    h.probe_p50_ms, h.probe_p99_ms, h.probe_refused, h.probe_posts
                )
            })
        },
    );
    for i in 0..all[0].overview.len() {
        let size = all[0].overview[i].0;
        row(&format!("overview p50 / p95 ms at {size} builds"), &|r| {
            or_dash(
                r.overview
                    .get(i)
                    .map(|o| format!("{:.1} / {:.1}", o.1, o.2)),
            )
        });
        row(
            &format!("Firestore reads per overview at {size} builds"),
            &|r| or_dash(r.overview.get(i).and_then(|o| o.3).map(|n| n.to_string())),
        );
        row(
            &format!("commit page p50 / p95 ms at {size} builds"),
            &|r| or_dash(r.commit.get(i).map(|c| format!("{:.1} / {:.1}", c.1, c.2))),
        );
        row(
            &format!("Firestore reads per commit page at {size} builds"),
            &|r| or_dash(r.commit.get(i).and_then(|c| c.3).map(|n| n.to_string())),
        );
        row(
            &format!("console API (20 commits × 48 cells) p50 / p95 ms at {size} builds"),
            &|r| or_dash(r.console.get(i).map(|c| format!("{:.1} / {:.1}", c.1, c.2))),
        );
        row(
            &format!("Firestore reads per console page at {size} builds"),
            &|r| or_dash(r.console.get(i).and_then(|c| c.3).map(|n| n.to_string())),
        );
    }
    if all[0].overview.is_empty() {
        return;
    }
    row("overview p50: largest ÷ 1000 builds", &|r| {
        format!("{:.2}", r.overview.last().unwrap().1 / r.overview[0].1)
    });
    row("commit page p50: largest ÷ 1000 builds", &|r| {
        format!("{:.2}", r.commit.last().unwrap().1 / r.commit[0].1)
    });
    row("console API p50: largest ÷ 1000 builds", &|r| {
        format!("{:.2}", r.console.last().unwrap().1 / r.console[0].1)
    });
}
