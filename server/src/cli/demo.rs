//! A realistic demo data set shaped like Magma's CI: a month of master
//! (240 commits, three hours apart) and of the release branches, every
//! component on both architectures, integration tests uploading JUnit
//! results with flaky tests among them, a breakage and its fix, a breakage
//! still open, infrastructure errors. Posted through the same validation
//! and ingestion as real builds, so the report, the charts, the flaky
//! ranking and the incidents look as they would in production.

use app::model::{Build, BuildResult};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::validation::{self, Context};
use crate::service::Service;
use crate::store::Poster;

const MATRIX: &[(&str, &[&str], &[&str])] = &[
    (
        "agw",
        &["amd64", "arm64"],
        &[
            "bazel-build",
            "unit-tests",
            "debian-package",
            "lte-integ-test",
            "lab-hil-test",
        ],
    ),
    (
        "orc8r",
        &["amd64", "arm64"],
        &["docker-images", "unit-tests"],
    ),
    (
        "feg",
        &["amd64", "arm64"],
        &["docker-images", "feg-integ-test"],
    ),
    (
        "cwag",
        &["amd64", "arm64"],
        &["docker-images", "cwf-integ-test"],
    ),
    ("nms", &["amd64"], &["unit-tests", "docker-images"]),
    ("dp", &["amd64"], &["unit-tests"]),
    ("helm", &["amd64"], &["helm-charts"]),
];

const TITLES: &[&str] = &[
    "chore(agw): Bump sctpd dependencies",
    "fix(orc8r): Handle empty gateway config",
    "feat(feg): Add S6a retry policy",
    "fix(agw): Fix Vec<u8> parsing in MME",
    "ci: Run arm64 builds on Graviton",
    "refactor(nms): Split network dashboard",
    "fix(cwag): Correct RADIUS timeout",
    "docs: Update release process",
];

const AUTHORS: &[&str] = &["alice", "bob", "chen", "dana", "emeka", "farah"];

/// Branch, number of commits, hours between commits: about a month each.
const BRANCHES: &[(&str, usize, i64)] = &[
    ("master", 240, 3),
    ("v1.8", 48, 15),
    ("v1.7", 24, 30),
    ("v1.6", 12, 60),
];

/// A deterministic draw in [0, 1) for one build of the story.
fn draw(seed: &str) -> f64 {
    let digest = Sha256::digest(seed.as_bytes());
    f64::from(u32::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ])) / 4_294_967_296.0
}

fn sha(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))[..40].to_string()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The result of one build in the demo story.
fn outcome(
    branch: &str,
    commit: usize,
    last: usize,
    component: &str,
    arch: &str,
    build_type: &str,
) -> &'static str {
    let seed = format!("{branch}/{commit}/{component}/{arch}/{build_type}");
    match (branch, component, arch, build_type) {
        // arm64 broken by a commit five builds ago, still red.
        ("master", "agw", "arm64", "bazel-build") if commit + 5 > last => "fail",
        // Broken for a day two weeks ago, then fixed: a resolved incident.
        ("master", "orc8r", "amd64", "unit-tests") if (120..128).contains(&commit) => "fail",
        // Infrastructure trouble on the Graviton runner, not the code.
        ("master", "cwag", "arm64", "docker-images") if commit == last => "error",
        ("master", "nms", "amd64", "unit-tests") if commit + 2 > last => "fail",
        ("master", "agw", _, "lte-integ-test") if commit == last => "running",
        // An integration test that fails on arm64 only, once.
        ("master", "agw", "arm64", "lte-integ-test") if commit + 14 == last => "fail",
        ("v1.8", "agw", "arm64", "debian-package") if commit + 2 > last => "fail",
        // The latest integration runs pass, so the overview's story is
        // about the open breakage.
        (_, _, _, t) if t.ends_with("integ-test") && commit + 3 > last => "pass",
        // Integration tests flake about one run in ten (a flaky paging
        // test); 2% of every build type's runs hit an infrastructure error.
        (_, _, _, t) if t.ends_with("integ-test") && draw(&seed) < 0.1 => "fail",
        _ if commit + 3 < last && draw(&format!("{seed}/infra")) < 0.02 => "error",
        _ => "pass",
    }
}

/// Whether the story has a build of that cell at that commit: the lab's
/// hardware-in-the-loop runner tests master on amd64 only, and went quiet
/// two days ago (a stale cell).
fn built(branch: &str, commit: usize, last: usize, arch: &str, build_type: &str) -> bool {
    build_type != "lab-hil-test" || branch == "master" && arch == "amd64" && commit + 16 < last
}

fn builds(repository: &str, now: DateTime<Utc>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut run_id: u64 = 7_000_000_000;
    for &(branch, commits, spacing) in BRANCHES {
        let last = commits - 1;
        let mut parent: Option<String> = None;
        for i in 0..commits {
            let commit = sha(&format!("{repository}/{branch}/{i}"));
            let committed =
                now - TimeDelta::hours(spacing * (commits - i) as i64) + TimeDelta::minutes(30);
            let version = branch.strip_prefix('v').map(|v| format!("{v}.{}", i / 3));
            let mut cell = 0i64;
            for &(component, arches, build_types) in MATRIX {
                for &arch in arches {
                    for &build_type in build_types {
                        cell += 1;
                        if !built(branch, i, last, arch, build_type) {
                            continue;
                        }
                        run_id += 1;
                        let result = outcome(branch, i, last, component, arch, build_type);
                        let started = committed + TimeDelta::minutes(cell % 7);
                        let mut build = json!({
                            "id": format!("demo-{branch}-{i}-{component}-{arch}-{build_type}"),
                            "repository": repository,
                            "commit": commit,
                            "branch": branch,
                            "component": component,
                            "arch": arch,
                            "build_type": build_type,
                            "result": result,
                            "started_at": rfc3339(started),
                            "url": format!("https://github.com/{repository}/actions/runs/{run_id}"),
                            "runner": if arch == "arm64" { "aws-graviton" } else { "ubuntu-latest" },
                            "commit_title": TITLES[i % TITLES.len()],
                            "author": AUTHORS[i % AUTHORS.len()],
                        });
                        if result != "running" {
                            let minutes = 4 + (cell * 7 + i as i64 * 3) % 40;
                            build["finished_at"] =
                                json!(rfc3339(started + TimeDelta::minutes(minutes)));
                        }
                        if let Some(parent) = &parent {
                            build["parent"] = json!(parent);
                        }
                        if i % 4 == 1 {
                            build["pr"] = json!(14_000 + i);
                        }
                        if let Some(version) = &version {
                            build["version"] = json!(version);
                        }
                        out.push(build);
                    }
                }
            }
            parent = Some(commit);
        }
    }
    out
}

/// A JUnit file for a demo test build: 40 tests; a failing build fails a
/// flaky paging test, and arm64 also an attach test (so the commit page
/// shows "fails on arm64, passes on amd64").
fn junit(build: &Build) -> String {
    let failed = build.result == BuildResult::Fail;
    let cases: String = (0..40)
        .map(|i| {
            let (class, name) = match i {
                0 => ("s1aptests.test_paging", "test_paging_with_flaky_enb".to_string()),
                1 => ("s1aptests.test_attach", "test_attach_detach_multi_ue".to_string()),
                n => ("s1aptests.test_suite", format!("test_case_{n:02}")),
            };
            let failure = match i {
                0 if failed => r#"<failure message="paging timed out after 30 s">Traceback: TimeoutError</failure>"#,
                1 if failed && build.cell.arch == "arm64" => {
                    r#"<failure message="AssertionError: UE state IDLE, expected CONNECTED">assert ue.state == CONNECTED</failure>"#
                }
                _ => "",
            };
            format!(r#"<testcase classname="{class}" name="{name}" time="1.5">{failure}</testcase>"#)
        })
        .collect();
    format!(r#"<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>"#)
}

/// Loads the demo data set; returns how many builds it posted.
/// Incidents follow as they would from real posts: a post per commit,
/// oldest first, each test build's JUnit results right after it.
pub async fn seed(service: &Service, repository: &str) -> anyhow::Result<usize> {
    let now = Utc::now();
    let all = builds(repository, now);
    let ctx = Context {
        default_repository: repository,
        now,
    };
    // A post per commit, as CI jobs post, and then the test builds'
    // results: a post moves each cell once, so one spanning a breakage and
    // its fix would hide the incident between.
    for chunk in all.chunk_by(|a, b| a["commit"] == b["commit"]) {
        let body = serde_json::to_vec(chunk)?;
        let parsed = validation::parse_body(&body, &ctx, || unreachable!("demo builds have ids"))
            .map_err(|e| {
            anyhow::anyhow!("demo data is invalid at {:?}: {}", e.field, e.message)
        })?;
        let tested: Vec<Build> = parsed
            .iter()
            .filter(|b| {
                b.cell.build_type.ends_with("integ-test")
                    && matches!(b.result, BuildResult::Pass | BuildResult::Fail)
            })
            .cloned()
            .collect();
        service.ingest(parsed, &Poster::Operator).await?;
        for build in &tested {
            service
                .upload_tests(build, junit(build).into_bytes())
                .await?;
        }
    }
    Ok(all.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use crate::store::Store;
    use app::model::BuildResult;

    #[tokio::test]
    async fn demo_tells_a_clear_story() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let settings = crate::config::Settings::parse_from(Vec::<String>::new()).unwrap();
        let service = crate::startup::service(&settings, store.clone()).unwrap();
        let count = seed(&service, "magma/magma").await.unwrap();
        assert!(count > 500, "{count}");
        assert_eq!(
            store.branches().await.unwrap(),
            ["master", "v1.6", "v1.7", "v1.8"]
        );
        let cells = store.cells("master").await.unwrap();
        let cell = |c: &str, a: &str, b: &str| {
            cells
                .iter()
                .find(|x| x.cell.component == c && x.cell.arch == a && x.cell.build_type == b)
                .unwrap()
                .clone()
        };
        let broken = cell("agw", "arm64", "bazel-build");
        assert_eq!(broken.status(), BuildResult::Fail);
        assert_eq!(broken.streak.unwrap().builds, 5);
        assert_eq!(
            cell("agw", "amd64", "bazel-build").status(),
            BuildResult::Pass
        );
        assert_eq!(
            cell("feg", "amd64", "feg-integ-test").status(),
            BuildResult::Pass
        );
        assert_eq!(
            cell("cwag", "arm64", "docker-images").status(),
            BuildResult::Error
        );
        assert!(cell("agw", "amd64", "lte-integ-test").running.is_some());
        // The lab's runner went quiet two days ago; the rest report.
        let health = service.health(None).await.unwrap();
        let stale: Vec<String> = health
            .cells
            .iter()
            .filter(|c| c.stale)
            .map(|c| c.cell.key().label())
            .collect();
        assert_eq!(stale, ["agw lab-hil-test amd64"]);
        // Integration tests uploaded their results: a flaky test, and one
        // failing on arm64 only.
        let flaky = service
            .flaky_tests(&crate::domain::ids::Branch::parse("master").unwrap(), 30)
            .await
            .unwrap();
        assert!(
            flaky
                .tests
                .iter()
                .any(|t| t.name.ends_with("test_paging_with_flaky_enb")),
            "{flaky:?}"
        );
        // Five failures in a row on master: an incident with its suspect.
        let open = store.incidents(None, true, 10).await.unwrap();
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].branch, "master");
        assert_eq!(open[0].red[0].build_type, "bazel-build");
        assert!(open[0].suspects_complete && !open[0].suspects.is_empty());
        // A month of it: the breakage two weeks ago was found and fixed,
        // and the flaky tests opened nothing.
        let all = store.incidents(None, false, 10).await.unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        let fixed = all.iter().find(|i| i.id != open[0].id).unwrap();
        assert_eq!(fixed.state, app::model::IncidentState::Resolved);
        assert_eq!(fixed.cells[0].component, "orc8r");
        let master = crate::domain::ids::Branch::parse("master").unwrap();
        let report = service.report(&master, 30).await.unwrap();
        assert!(report.commits >= 200, "{}", report.commits);
        assert!(flaky.tests.iter().all(|t| t.runs >= 100), "{flaky:?}");
    }
}
