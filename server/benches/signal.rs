//! The signal benchmark: is an incident a real breakage? A month of master
//! shaped like Magma's (p017): flaky integration tests, six real breakages
//! with their breaking and fixing commits, infrastructure errors, skipped
//! commits, retries, JUnit XML for every build that runs tests. Each month
//! is generated from a seed with its ground truth, replayed in commit order
//! through the real HTTP app (posts, then their JUnit uploads, as
//! `ci-dashboard post --junit` sends them), and the incidents it opened are
//! scored against the truth. Run with `./scripts/signal`; results go to
//! BENCHMARKS.md.
//!
//! `SIGNAL_SEEDS=1,2,3` picks the months; `SIGNAL_FLAKE_SCALE=1.0,1.4`
//! multiplies every flaky test's failure rate, so the rules are checked on
//! months they were not tuned to.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use server::config::Settings;
use server::domain::token;
use server::startup::Application;
use server::store::embedded::EmbeddedStore;
use server::store::Store;

const COMMITS: usize = 325;
const REPOSITORY: &str = "magma/magma";
/// Commits are two hours apart: 325 of them span 27 days.
const COMMIT_GAP_MINUTES: i64 = 120;
/// A breakage counts as active this many commits past its fix, the time
/// the fixing run needs to arrive in a cell that skips commits.
const CLEAR_SLACK: usize = 2;

/// A column of the matrix and how it runs.
#[derive(Clone)]
struct CellSpec {
    component: &'static str,
    arch: &'static str,
    build_type: &'static str,
    /// Test names of a JUnit file; none for a build without tests.
    tests: Vec<String>,
    /// Share of commits it skips.
    skips: f64,
    /// Flaky tests with their failure rate per run.
    flaky: Vec<(String, f64)>,
}

impl CellSpec {
    fn key(&self) -> (String, String, String) {
        (
            self.component.into(),
            self.arch.into(),
            self.build_type.into(),
        )
    }
}

/// A real breakage: the test (or, for a cell without tests, the build)
/// fails in every run of these cells from `start` until `fix`.
struct Breakage {
    what: &'static str,
    cells: Vec<usize>,
    test: Option<String>,
    start: usize,
    fix: usize,
}

impl Breakage {
    fn active(&self, commit: usize) -> bool {
        self.start <= commit && commit < self.fix
    }

    /// Active, or just fixed with the fixing run perhaps not arrived yet.
    fn maybe_red(&self, commit: usize) -> bool {
        self.start <= commit && commit < self.fix + CLEAR_SLACK
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}::test_{i:03}")).collect()
}

struct Month {
    cells: Vec<CellSpec>,
    breakages: Vec<Breakage>,
}

fn month(flake_scale: f64) -> Month {
    let flaky = |prefix: &str, rates: &[f64]| -> Vec<(String, f64)> {
        rates
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("{prefix}::flaky_{i}"), (r * flake_scale).min(0.9)))
            .collect()
    };
    let lte_flaky = flaky("lte.integ", &[0.17, 0.15, 0.14, 0.13, 0.12, 0.11, 0.10]);
    let cwf_flaky = flaky("cwf.integ", &[0.17, 0.16, 0.14, 0.12, 0.10]);
    let with_flaky = |mut tests: Vec<String>, flaky: &[(String, f64)]| {
        tests.extend(flaky.iter().map(|(n, _)| n.clone()));
        tests
    };
    let cells = vec![
        CellSpec {
            component: "agw",
            arch: "amd64",
            build_type: "bazel-build",
            tests: Vec::new(),
            skips: 0.0,
            flaky: Vec::new(),
        },
        CellSpec {
            component: "agw",
            arch: "amd64",
            build_type: "unit-tests",
            tests: names("agw.unit", 80),
            skips: 0.0,
            flaky: Vec::new(),
        },
        CellSpec {
            component: "agw",
            arch: "arm64",
            build_type: "unit-tests",
            tests: names("agw.unit", 80),
            skips: 0.0,
            flaky: Vec::new(),
        },
        CellSpec {
            component: "orc8r",
            arch: "amd64",
            build_type: "unit-tests",
            tests: names("orc8r.unit", 60),
            skips: 0.0,
            flaky: Vec::new(),
        },
        CellSpec {
            component: "lte",
            arch: "amd64",
            build_type: "lte-integ-test",
            tests: with_flaky(names("lte.integ", 30), &lte_flaky),
            skips: 0.10,
            flaky: lte_flaky,
        },
        CellSpec {
            component: "cwf",
            arch: "amd64",
            build_type: "cwf-integ-test",
            tests: with_flaky(names("cwf.integ", 20), &cwf_flaky),
            skips: 0.10,
            flaky: cwf_flaky,
        },
    ];
    let breakages = vec![
        Breakage {
            what: "agw unit test",
            cells: vec![1],
            test: Some("agw.unit::test_007".into()),
            start: 40,
            fix: 52,
        },
        Breakage {
            what: "arm64 only",
            cells: vec![2],
            test: Some("agw.unit::test_042".into()),
            start: 90,
            fix: 98,
        },
        Breakage {
            what: "two cells (build and tests)",
            cells: vec![0, 3],
            test: Some("orc8r.unit::test_011".into()),
            start: 130,
            fix: 137,
        },
        Breakage {
            what: "inside a flaky cell",
            cells: vec![4],
            test: Some("lte.integ::test_005".into()),
            start: 180,
            fix: 188,
        },
        Breakage {
            what: "integration test",
            cells: vec![5],
            test: Some("cwf.integ::test_012".into()),
            start: 220,
            fix: 230,
        },
        Breakage {
            what: "short unit breakage",
            cells: vec![1],
            test: Some("agw.unit::test_063".into()),
            start: 270,
            fix: 275,
        },
    ];
    Month { cells, breakages }
}

fn sha(seed: u64, commit: usize) -> String {
    format!(
        "{seed:08x}{commit:08x}{:024x}",
        0xc0ffee_u64 + commit as u64
    )
}

/// One run of a cell at a commit: its result and its JUnit file.
struct Run {
    id: String,
    result: &'static str,
    junit: Option<String>,
    /// Each test that ran and whether it failed.
    tests: Vec<(String, bool)>,
}

fn junit_xml(suite: &str, tests: &[(String, bool)], infra: bool) -> String {
    let failures = tests.iter().filter(|(_, f)| *f).count();
    let mut xml = format!(
        "<?xml version=\"1.0\"?>\n<testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\">\n",
        tests.len()
    );
    for (name, failed) in tests {
        let (class, case) = name.split_once("::").unwrap_or(("", name));
        if *failed && infra {
            xml.push_str(&format!(
                "<testcase classname=\"{class}\" name=\"{case}\"><error message=\"connection refused: 10.0.2.15:8443\"/></testcase>\n"
            ));
        } else if *failed {
            xml.push_str(&format!(
                "<testcase classname=\"{class}\" name=\"{case}\"><failure message=\"assert 1 == 2\">AssertionError</failure></testcase>\n"
            ));
        } else {
            xml.push_str(&format!(
                "<testcase classname=\"{class}\" name=\"{case}\" time=\"0.01\"/>\n"
            ));
        }
    }
    xml.push_str("</testsuite>\n");
    xml
}

fn run(
    rng: &mut StdRng,
    month: &Month,
    cell: usize,
    commit: usize,
    attempt: usize,
    seed: u64,
) -> Run {
    let spec = &month.cells[cell];
    let id = format!(
        "sig-{seed}-{commit}-{}-{}-{}-{attempt}",
        spec.component, spec.arch, spec.build_type
    );
    let broken: Vec<&Breakage> = month
        .breakages
        .iter()
        .filter(|b| b.cells.contains(&cell) && b.active(commit))
        .collect();
    // 3% infrastructure errors: half upload nothing, half a file of
    // connection errors.
    if rng.random_bool(0.03) {
        if spec.tests.is_empty() || rng.random_bool(0.5) {
            return Run {
                id,
                result: "error",
                junit: None,
                tests: Vec::new(),
            };
        }
        let tests: Vec<(String, bool)> = spec
            .tests
            .iter()
            .map(|t| (t.clone(), rng.random_bool(0.9)))
            .collect();
        let junit = junit_xml(spec.build_type, &tests, true);
        return Run {
            id,
            result: "error",
            junit: Some(junit),
            tests,
        };
    }
    if spec.tests.is_empty() {
        let result = if broken.is_empty() { "pass" } else { "fail" };
        return Run {
            id,
            result,
            junit: None,
            tests: Vec::new(),
        };
    }
    let tests: Vec<(String, bool)> = spec
        .tests
        .iter()
        .map(|t| {
            let flake = spec
                .flaky
                .iter()
                .find(|(n, _)| n == t)
                .is_some_and(|(_, p)| rng.random_bool(*p));
            let really = broken.iter().any(|b| b.test.as_deref() == Some(t));
            (t.clone(), flake || really)
        })
        .collect();
    let failed = tests.iter().any(|(_, f)| *f);
    let junit = junit_xml(spec.build_type, &tests, false);
    Run {
        id,
        result: if failed { "fail" } else { "pass" },
        junit: Some(junit),
        tests,
    }
}

struct Server {
    url: String,
    token: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(dir: &std::path::Path) -> Server {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir).unwrap());
        let secret = token::generate();
        store
            .create_token("signal", &token::hash(&secret), Default::default())
            .await
            .unwrap();
        let mut flags = vec![
            "--listen=127.0.0.1:0".to_string(),
            "--rate-limit=0".into(),
            "--build-rate-limit=0".into(),
            "--read-rate-limit=0".into(),
        ];
        if let Ok(config) = std::env::var("SIGNAL_NOTIFY_CONFIG") {
            flags.push(format!("--notify-config={config}"));
        }
        let settings = Settings::parse_from(flags).unwrap();
        let app = Application::build(settings, store).await.unwrap();
        let url = format!("http://{}", app.local_addr());
        tokio::spawn(app.run(std::future::pending()));
        Server {
            url,
            token: secret,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, build: Value) {
        let resp = self
            .client
            .post(format!("{}/api/v1/builds", self.url))
            .bearer_auth(&self.token)
            .json(&build)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }

    async fn upload(&self, id: &str, xml: String) {
        let resp = self
            .client
            .post(format!("{}/api/v1/builds/{id}/tests", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/xml")
            .body(xml)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }

    async fn get(&self, path: &str) -> Value {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap()
    }
}

/// An incident as the benchmark saw it.
struct Seen {
    opened_after: usize,
    first_bad_commit: String,
    cells: HashSet<(String, String, String)>,
    suspects: Vec<String>,
}

/// The figures of one month.
struct Score {
    seed: u64,
    flake_scale: f64,
    incidents: usize,
    true_incidents: usize,
    detected: usize,
    breaking_in_suspects: usize,
    first_bad_exact: usize,
    delays: Vec<usize>,
    frozen_needlessly: usize,
    quiet_commits: usize,
    flip_runs_error: u32,
    flip_flips_error: u32,
    lte_pass_rate: f64,
    seconds: f64,
    /// Breakages without an incident, or whose incidents name another
    /// first bad commit.
    notes: Vec<String>,
}

fn cell_key(v: &Value) -> (String, String, String) {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (s("component"), s("arch"), s("build_type"))
}

async fn replay(seed: u64, flake_scale: f64) -> Score {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let month = month(flake_scale);
    let mut rng = StdRng::seed_from_u64(seed);
    let t0: DateTime<Utc> = Utc::now() - TimeDelta::days(28);
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut frozen_needlessly = 0;
    let mut quiet_commits = 0;
    // Per cell and test: the truth of every run that uploaded results.
    let mut truth: HashMap<(usize, String), Vec<bool>> = HashMap::new();
    let (mut lte_runs, mut lte_passes) = (0, 0);
    // The commits each cell ran (and did not fail to run).
    let mut ran: HashSet<(usize, usize)> = HashSet::new();
    for commit in 0..COMMITS {
        let at = t0 + TimeDelta::minutes(COMMIT_GAP_MINUTES * commit as i64);
        for cell in 0..month.cells.len() {
            let spec = &month.cells[cell];
            if spec.skips > 0.0 && rng.random_bool(spec.skips) {
                continue;
            }
            // A failed integration run is retried at the same commit a
            // third of the time.
            for attempt in 0..2 {
                let run = run(&mut rng, &month, cell, commit, attempt, seed);
                let start = at + TimeDelta::minutes(cell as i64 * 3 + attempt as i64 * 40);
                server
                    .post(json!({
                        "id": run.id,
                        "repository": REPOSITORY,
                        "commit": sha(seed, commit),
                        "parent": (commit > 0).then(|| sha(seed, commit - 1)),
                        "branch": "master",
                        "component": spec.component,
                        "arch": spec.arch,
                        "build_type": spec.build_type,
                        "result": run.result,
                        "started_at": start.to_rfc3339(),
                        "finished_at": (start + TimeDelta::minutes(20)).to_rfc3339(),
                        "commit_title": format!("Commit {commit}"),
                        "author": "dev",
                    }))
                    .await;
                if let Some(xml) = &run.junit {
                    server.upload(&run.id, xml.clone()).await;
                    // A file of connection errors is no run of its tests.
                    if run.result != "error" {
                        ran.insert((cell, commit));
                        for (name, failed) in &run.tests {
                            truth.entry((cell, name.clone())).or_default().push(*failed);
                        }
                    }
                } else if run.result != "error" {
                    ran.insert((cell, commit));
                }
                if spec.build_type == "lte-integ-test" && run.result != "error" {
                    lte_runs += 1;
                    lte_passes += usize::from(run.result == "pass");
                }
                let retry = run.result == "fail" && spec.skips > 0.0 && rng.random_bool(0.33);
                if !retry {
                    break;
                }
            }
        }
        let open = server
            .get("/api/v1/incidents?branch=master&state=open")
            .await;
        let open = open["incidents"].as_array().unwrap();
        for incident in open {
            let id = incident["id"].as_str().unwrap().to_string();
            let entry = seen.entry(id).or_insert_with(|| Seen {
                opened_after: commit,
                first_bad_commit: incident["first_bad_commit"].as_str().unwrap().to_string(),
                cells: HashSet::new(),
                suspects: Vec::new(),
            });
            entry
                .cells
                .extend(incident["cells"].as_array().unwrap().iter().map(cell_key));
        }
        let broken = month.breakages.iter().any(|b| b.maybe_red(commit));
        if !broken {
            quiet_commits += 1;
            if !open.is_empty() {
                frozen_needlessly += 1;
            }
        }
    }
    for (id, s) in &mut seen {
        let detail = server.get(&format!("/api/v1/incidents/{id}")).await;
        s.suspects = detail["suspects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["commit"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
    }

    // An incident is true when it names a cell of a breakage and opened
    // while that breakage was red.
    let matches = |s: &Seen, b: &Breakage| {
        b.cells
            .iter()
            .any(|c| s.cells.contains(&month.cells[*c].key()))
            && b.maybe_red(s.opened_after)
    };
    let true_incidents = seen
        .values()
        .filter(|s| month.breakages.iter().any(|b| matches(s, b)))
        .count();
    let (mut detected, mut in_suspects, mut exact, mut delays) = (0, 0, 0, Vec::new());
    let mut notes = Vec::new();
    for s in seen.values() {
        if !month.breakages.iter().any(|b| matches(s, b)) {
            let first_bad = (0..COMMITS).find(|c| sha(seed, *c) == s.first_bad_commit);
            notes.push(format!(
                "seed {seed}: false incident opened after commit {}, first bad commit {:?}, cells {:?}",
                s.opened_after, first_bad, s.cells
            ));
        }
    }
    for b in &month.breakages {
        let found: Vec<&Seen> = seen.values().filter(|s| matches(s, b)).collect();
        let Some(first) = found.iter().min_by_key(|s| s.opened_after) else {
            notes.push(format!("seed {seed}: no incident for \"{}\"", b.what));
            continue;
        };
        detected += 1;
        delays.push(first.opened_after - b.start);
        let breaking = sha(seed, b.start);
        in_suspects += usize::from(found.iter().any(|s| s.suspects.contains(&breaking)));
        let is_exact = found.iter().any(|s| s.first_bad_commit == breaking);
        exact += usize::from(is_exact);
        if !is_exact {
            let skipped = b.cells.iter().all(|c| !ran.contains(&(*c, b.start)));
            notes.push(format!(
                "seed {seed}: \"{}\" has no incident with its first bad commit{}",
                b.what,
                if skipped {
                    " (its cell did not run the breaking commit: the first run after it is \
                     the first bad commit, the breaking one among the suspects)"
                } else {
                    ""
                }
            ));
        }
    }

    // Flip rates: the ranking's runs and flips of each flaky test against
    // the runs that really happened.
    let flaky = server
        .get("/api/v1/tests/flaky?branch=master&days=30")
        .await;
    let (mut runs_error, mut flips_error) = (0, 0);
    for (cell, spec) in month.cells.iter().enumerate() {
        for (name, _) in &spec.flaky {
            let runs = &truth[&(cell, name.clone())];
            let flips = runs.windows(2).filter(|w| w[0] != w[1]).count() as u32;
            let listed = flaky["tests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name.as_str() && t["build_type"] == spec.build_type);
            let (r, f) = listed.map_or((0, 0), |t| {
                (
                    t["runs"].as_u64().unwrap() as u32,
                    t["flips"].as_u64().unwrap() as u32,
                )
            });
            runs_error = runs_error.max((runs.len() as u32).abs_diff(r));
            flips_error = flips_error.max(flips.abs_diff(f));
        }
    }
    Score {
        seed,
        flake_scale,
        incidents: seen.len(),
        true_incidents,
        detected,
        breaking_in_suspects: in_suspects,
        first_bad_exact: exact,
        delays,
        frozen_needlessly,
        quiet_commits,
        flip_runs_error: runs_error,
        flip_flips_error: flips_error,
        lte_pass_rate: lte_passes as f64 / lte_runs.max(1) as f64,
        seconds: started.elapsed().as_secs_f64(),
        notes,
    }
}

fn list<T: std::str::FromStr>(var: &str, default: &str) -> Vec<T> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

#[tokio::main]
async fn main() {
    let seeds: Vec<u64> = list("SIGNAL_SEEDS", "1,2,3");
    let scales: Vec<f64> = list("SIGNAL_FLAKE_SCALE", "1.0");
    let breakages = month(1.0).breakages.len();
    println!(
        "| seed | flake × | lte-integ pass | incidents | precision | breakages found | breaking commit in suspects | first bad exact | delay (commits) | frozen, nothing broken | flip rate error (runs, flips) | s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all_precise = true;
    let mut notes = Vec::new();
    for &scale in &scales {
        for &seed in &seeds {
            let s = replay(seed, scale).await;
            let precision = s.true_incidents as f64 / s.incidents.max(1) as f64;
            all_precise &= precision >= 0.9;
            println!(
                "| {} | {:.1} | {:.0}% | {} | **{:.0}%** ({} true) | {}/{breakages} | {}/{breakages} | {}/{breakages} | {:?} | **{:.1}%** ({} of {} quiet commits) | {}, {} | {:.0} |",
                s.seed,
                s.flake_scale,
                s.lte_pass_rate * 100.0,
                s.incidents,
                precision * 100.0,
                s.true_incidents,
                s.detected,
                s.breaking_in_suspects,
                s.first_bad_exact,
                s.delays,
                s.frozen_needlessly as f64 * 100.0 / COMMITS as f64,
                s.frozen_needlessly,
                s.quiet_commits,
                s.flip_runs_error,
                s.flip_flips_error,
                s.seconds,
            );
            notes.extend(s.notes);
        }
    }
    for note in notes {
        println!("\n- {note}");
    }
    if !all_precise {
        println!("\nSome month's incident precision is below 90%.");
    }
}
