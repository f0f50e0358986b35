//! HTTP tests of the JSON answers to users' questions: commits, history,
//! releases and badges, against the real router and embedded store.

use crate::common;
use std::io::Write;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::config::Settings;
use server::store::embedded::EmbeddedStore;

const BASE: &str = "aaaaaaa000000000000000000000000000000001";
const BROKE: &str = "bbbbbbb000000000000000000000000000000002";
const NEXT: &str = "bbbbbbb000000000000000000000000000000003";

struct App {
    app: common::TestApp,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for App {
    type Target = common::TestApp;

    fn deref(&self) -> &common::TestApp {
        &self.app
    }
}

/// Only agw bazel-build on both architectures is required for releases.
const RELEASE_CONFIG: &str = r#"
release_branches = "v*"
[[required]]
component = "agw"
arch = ["amd64", "arm64"]
build_types = ["bazel-build"]
"#;

async fn spawn() -> App {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("release.toml");
    std::fs::File::create(&config)
        .unwrap()
        .write_all(RELEASE_CONFIG.as_bytes())
        .unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("data")).unwrap());
    let settings = Settings {
        release_config: Some(config),
        ..common::settings()
    };
    App {
        app: common::spawn_configured(store, settings).await,
        _dir: dir,
    }
}

impl App {
    async fn post(&self, body: Value) {
        let resp = self.post_builds().json(&body).send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "{}",
            resp.text().await.unwrap()
        );
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }
}

fn build(commit: &str, branch: &str, arch: &str, minute: u32, result: &str) -> Value {
    json!({
        "commit": commit,
        "branch": branch,
        "component": "agw",
        "arch": arch,
        "build_type": "bazel-build",
        "result": result,
        "started_at": format!("2026-01-10T10:{minute:02}:00Z"),
        "finished_at": format!("2026-01-10T10:{:02}:00Z", minute + 5),
        "url": format!("https://ci.example/{commit}/{arch}"),
        "pr": 77,
        "version": "1.8.1",
    })
}

#[tokio::test]
async fn the_commit_that_broke_arm64() {
    let app = spawn().await;
    app.post(json!([
        build(BASE, "master", "amd64", 0, "pass"),
        build(BASE, "master", "arm64", 0, "pass"),
        build(BROKE, "master", "amd64", 10, "pass"),
        build(BROKE, "master", "arm64", 10, "fail"),
        build(NEXT, "master", "arm64", 20, "fail"),
    ]))
    .await;

    let (status, base) = app.get(&format!("/api/v1/commits/{}", &BASE[..7])).await;
    assert_eq!(
        (status, base["commit"].clone()),
        (StatusCode::OK, json!(BASE))
    );
    let (status, report) = app.get(&format!("/api/v1/commits/{BROKE}")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["commit"], BROKE);
    assert_eq!(
        report["headline"],
        "This commit broke agw bazel-build on arm64"
    );
    assert_eq!(report["verdicts"][0]["verdict"], "new_failure");
    assert_eq!(report["verdicts"][0]["baseline_commit"], BASE);
    assert_eq!(
        report["verdicts"][0]["url"],
        format!("https://ci.example/{BROKE}/arm64")
    );
    assert_eq!(
        report["divergent"],
        json!([{"component": "agw", "build_type": "bazel-build", "failing_arch": "arm64", "passing_arch": "amd64"}])
    );

    let (_, next) = app.get(&format!("/api/v1/commits/{NEXT}")).await;
    let verdicts = next["verdicts"].as_array().unwrap();
    let arm = verdicts.iter().find(|v| v["arch"] == "arm64").unwrap();
    assert_eq!(
        (arm["verdict"].clone(), arm["failing_since"].clone()),
        (json!("still_failing"), json!(BROKE))
    );
    let amd = verdicts.iter().find(|v| v["arch"] == "amd64").unwrap();
    assert_eq!(
        amd["verdict"], "missing",
        "required but not built at this commit"
    );
    assert_eq!(
        next["headline"],
        "Nothing newly broken; 1 failure was already there; 1 required build missing"
    );
}

#[tokio::test]
async fn commit_lookup_errors_and_candidates() {
    let app = spawn().await;
    app.post(json!([
        build(BROKE, "master", "amd64", 0, "pass"),
        build(NEXT, "master", "amd64", 5, "pass")
    ]))
    .await;

    let (status, body) = app.get("/api/v1/commits/bbbbbbb").await;
    assert_eq!(status, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(body["candidates"].as_array().unwrap().len(), 2);
    assert_eq!(body["candidates"][0]["commit"], NEXT, "newest first");

    let (status, body) = app.get("/api/v1/commits/ccccccc").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("ccccccc"));
    for bad in ["xyz", "abc", "%23x"] {
        let (status, body) = app.get(&format!("/api/v1/commits/{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["field"], "sha");
    }
    // A PR with two commits lists both; `#77` is URL-encoded.
    let (status, body) = app.get("/api/v1/commits/%2377").await;
    assert_eq!(status, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(body["candidates"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn builds_are_paged_with_a_cursor() {
    let app = spawn().await;
    let builds: Vec<Value> = (0..7)
        .map(|i| {
            build(
                BASE,
                "master",
                "arm64",
                i * 2,
                if i % 3 == 0 { "fail" } else { "pass" },
            )
        })
        .collect();
    app.post(Value::Array(builds)).await;
    let mut seen = 0;
    let cell = "branch=master&component=agw&arch=arm64&build_type=bazel-build";
    let mut path = format!("/api/v1/builds?{cell}&limit=3");
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen += page["builds"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/builds?{cell}&limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, 7);
    // An architecture by the alias a post may use, as ingestion reads it.
    let (_, aliased) = app
        .get("/api/v1/builds?branch=master&component=agw&arch=aarch64&build_type=bazel-build")
        .await;
    assert_eq!(aliased["builds"].as_array().unwrap().len(), 7, "{aliased}");
    let (_, failures) = app.get("/api/v1/builds?result=failure").await;
    assert_eq!(failures["builds"].as_array().unwrap().len(), 3);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("result=bogus", "result"),
        ("branch=a..b", "branch"),
        ("component=%3Cx%3E", "component"),
        ("cursor=garbage", "cursor"),
        ("colour=red", "colour"),
        // Listings answer from an index or not at all (no full scans).
        ("component=nope", "branch"),
        ("branch=master&arch=arm64", "component"),
        ("branch=master&component=agw&arch=arm64", "build_type"),
        ("branch=master&result=fail", "result"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/builds?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["field"], field, "{query}");
    }
}

#[tokio::test]
async fn release_readiness() {
    let app = spawn().await;
    app.post(json!([
        build(BASE, "v1.8", "amd64", 0, "pass"),
        build(BASE, "v1.8", "arm64", 0, "pass"),
        build(BROKE, "v1.8", "amd64", 10, "pass"),
        build(BROKE, "v1.8", "arm64", 10, "fail"),
    ]))
    .await;
    let (status, report) = app.get("/api/v1/release?branch=v1.8").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ready"], false);
    assert_eq!(report["head"], BROKE);
    assert_eq!(report["last_green_commit"], BASE);
    assert_eq!(report["blockers"].as_array().unwrap().len(), 1);
    assert_eq!(report["blockers"][0]["reason"], "failing");
    assert_eq!(report["blockers"][0]["since_commit"], BROKE);
    assert_eq!(
        report["version_conflicts"],
        json!([{"version": "1.8.1", "commits": [BASE, BROKE]}])
    );
    assert!(report["markdown"].as_str().unwrap().contains("NOT READY"));

    let (_, index) = app.get("/api/v1/releases").await;
    assert_eq!(index["releases"][0]["branch"], "v1.8");
    assert_eq!(index["releases"][0]["ready"], false);

    // A fixed head with its own version is ready.
    let mut fixed = vec![
        build(NEXT, "v1.7", "amd64", 20, "pass"),
        build(NEXT, "v1.7", "arm64", 20, "pass"),
    ];
    for b in &mut fixed {
        b["version"] = json!("1.7.3");
    }
    app.post(Value::Array(fixed)).await;
    let (_, report) = app.get("/api/v1/release?branch=v1.7").await;
    assert_eq!(
        (report["ready"].clone(), report["blockers"].clone()),
        (json!(true), json!([]))
    );
    let (status, _) = app.get("/api/v1/release?branch=a..b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn badges() {
    let app = spawn().await;
    app.post(json!([
        build(BASE, "master", "amd64", 0, "pass"),
        build(BASE, "master", "arm64", 0, "fail")
    ]))
    .await;
    for (path, state) in [
        ("/badge.svg?branch=master&component=agw", "failing"),
        ("/badge.svg?component=agw", "failing"),
        (
            "/badge.svg?branch=master&component=agw&arch=amd64",
            "passing",
        ),
        (
            "/badge.svg?branch=master&component=agw&arch=x86_64",
            "passing",
        ),
        ("/badge.svg?branch=master&component=feg", "unknown"),
    ] {
        let resp = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["content-type"], "image/svg+xml");
        assert!(resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=60"));
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains(&format!(">{state}</text>")),
            "{path}"
        );
    }
    let (status, body) = app.get("/badge.svg?branch=master").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "component", "{body}");
    let (status, body) = app.get("/badge.svg?component=agw&colour=red").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "colour", "{body}");
}

/// Routes that took a branch as a path segment redirect, permanently and
/// keeping the method, to the route with the branch as a query parameter:
/// badges embedded in READMEs and scripts keep working.
#[tokio::test]
async fn routes_with_a_branch_in_the_path_moved_to_a_query_parameter() {
    let app = spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (old, new) in [
        (
            "/badge/master/agw.svg",
            "/badge.svg?branch=master&component=agw",
        ),
        (
            "/badge/release%2Fv1.8/agw/arm64.svg",
            "/badge.svg?branch=release%2Fv1.8&component=agw&arch=arm64",
        ),
        ("/api/v1/releases/v1.8", "/api/v1/release?branch=v1.8"),
        ("/api/v1/freeze/master", "/api/v1/freeze?branch=master"),
    ] {
        let resp = client
            .get(format!("{}{old}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT, "{old}");
        assert_eq!(resp.headers()["location"], new, "{old}");
    }
    let resp = client
        .post(format!("{}/api/v1/freeze/master", app.url))
        .json(&json!({"frozen": true, "reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    let resp = client
        .get(format!("{}/badge/master/agw.png", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Followed, an old badge still shows its state.
    let (status, _) = app.get("/api/v1/releases/v1.8").await;
    assert_eq!(status, StatusCode::OK);
}

/// Branch names may hold `/`, `#`, `%` and `+`: every page and route that
/// takes a branch reaches the right one through the links the app writes.
#[tokio::test]
async fn branches_with_url_characters_are_reachable_everywhere() {
    let app = spawn().await;
    let branch = "v1.9/a+b#1%2F";
    let mut b = common::build("arm64", "fail");
    b["branch"] = json!(branch);
    app.post(json!([b])).await;
    let get = |path: String| {
        let client = app.client.clone();
        let url = format!("{}{path}", app.url);
        async move {
            let resp = client.get(url).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let overview = get(format!("/?branch={}", app::model::encoded(branch))).await;
    assert_eq!(overview.0, StatusCode::OK, "{}", overview.1);
    let cell = app::model::CellId::new(branch, "agw", "arm64", "bazel-build");
    let link = cell.history_path();
    // The overview links to the history page in exactly this form.
    assert!(overview.1.contains(&link), "{link}");
    let history = get(link).await;
    assert_eq!(history.0, StatusCode::OK);
    let main = &history.1[history.1.find("<main").unwrap()..];
    assert!(main.contains("data-result=\"fail\""), "{main}");
    assert!(history.1.contains(branch));

    let release = get(app::model::release_path(branch)).await;
    assert_eq!(release.0, StatusCode::OK);
    assert!(release.1.contains("Not ready"), "{}", release.1);
    let encoded = app::model::encoded(branch);
    let api = get(app::model::release_api_path(branch)).await;
    assert_eq!(api.0, StatusCode::OK, "{}", api.1);
    assert_eq!(
        serde_json::from_str::<Value>(&api.1).unwrap()["branch"],
        branch
    );
    let badge = get(app::model::badge_path(branch, "agw", None)).await;
    assert_eq!(badge.0, StatusCode::OK, "{}", badge.1);
    assert!(badge.1.contains("failing"), "{}", badge.1);
    let health = get(format!("/api/v1/health?branch={encoded}")).await;
    assert_eq!(
        serde_json::from_str::<Value>(&health.1).unwrap()["branch"],
        branch
    );
}

/// Magma's on-call procedure: three failures in a row open an incident on
/// master, freezing it, naming the suspects (through the parent chain, past
/// a commit that only other builds ran), and a pass resolves it.
#[tokio::test]
async fn three_failures_open_an_incident_that_freezes_the_branch_until_it_passes() {
    let app = spawn().await;
    let sha = |n: u32| format!("{n:0>40}");
    let with = |mut b: Value, parent: &str, title: &str| {
        b["parent"] = json!(parent);
        b["commit_title"] = json!(title);
        b["author"] = json!("dev");
        b
    };
    // 1 is good; 2 was only built by another component; 3 broke agw.
    app.post(json!([build(&sha(1), "master", "arm64", 0, "pass")]))
        .await;
    let mut other = with(
        build(&sha(2), "master", "arm64", 1, "pass"),
        &sha(1),
        "Refactor",
    );
    other["component"] = json!("feg");
    app.post(json!([other])).await;
    for (i, commit) in [3, 4, 5].into_iter().enumerate() {
        let parent = sha(commit - 1);
        app.post(json!([with(
            build(&sha(commit), "master", "arm64", 2 + i as u32, "fail"),
            &parent,
            "Break it"
        )]))
        .await;
        let (_, freeze) = app.get("/api/v1/freeze?branch=master").await;
        assert_eq!(
            freeze["frozen"],
            commit == 5,
            "after {} failures: {freeze}",
            i + 1
        );
    }
    let (status, listed) = app.get("/api/v1/incidents?branch=master&state=open").await;
    assert_eq!(status, StatusCode::OK);
    let incident = &listed["incidents"][0];
    assert_eq!(incident["state"], "open");
    assert_eq!(incident["first_bad_commit"], sha(3));
    assert_eq!(incident["last_good_commit"], sha(1));
    assert_eq!(
        incident["cells"],
        json!([{"component": "agw", "arch": "arm64", "build_type": "bazel-build"}])
    );
    let suspects: Vec<&str> = incident["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["commit"].as_str().unwrap())
        .collect();
    assert_eq!(suspects, [sha(3), sha(2)]);
    assert_eq!(incident["suspects"][1]["title"], "Refactor");
    assert_eq!(incident["suspects"][0]["pr"], 77);
    assert_eq!(incident["suspects_complete"], true);
    assert_eq!(
        incident["compare_url"],
        format!(
            "https://github.com/magma/magma/compare/{}...{}",
            sha(1),
            sha(3)
        )
    );
    let (_, freeze) = app.get("/api/v1/freeze?branch=master").await;
    assert_eq!(freeze["incidents"], json!([incident["id"]]));
    assert!(
        freeze["reason"]
            .as_str()
            .unwrap()
            .contains("agw bazel-build arm64"),
        "{freeze}"
    );
    let (_, health) = app.get("/api/v1/health?branch=master").await;
    assert_eq!(health["incidents"][0]["id"], incident["id"]);
    for suspect in [sha(3), sha(2)] {
        let (_, report) = app.get(&format!("/api/v1/commits/{suspect}")).await;
        assert_eq!(report["suspect_of"][0]["id"], incident["id"], "{report}");
    }
    let (_, innocent) = app.get(&format!("/api/v1/commits/{}", sha(1))).await;
    assert_eq!(innocent["suspect_of"], json!([]));

    app.post(json!([build(&sha(6), "master", "arm64", 9, "pass")]))
        .await;
    let id = incident["id"].as_str().unwrap();
    let (_, resolved) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(resolved["state"], "resolved");
    assert!(resolved["resolved_at"].is_string());
    assert_eq!(
        app.get("/api/v1/freeze?branch=master").await.1["frozen"],
        false
    );
    assert_eq!(
        app.get("/api/v1/incidents?state=resolved").await.1["incidents"][0]["id"],
        id
    );
    assert_eq!(
        app.get("/api/v1/incidents/0123456789abcdef").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, bad) = app.get("/api/v1/incidents?state=closed").await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("state"))
    );
}

#[tokio::test]
async fn the_health_report_of_a_window() {
    let app = spawn().await;
    let now = chrono::Utc::now();
    let at = |hours_ago: i64, minutes: i64| {
        (now - chrono::Duration::hours(hours_ago) + chrono::Duration::minutes(minutes)).to_rfc3339()
    };
    let post = |commit: &str, arch: &str, hours_ago: i64, result: &str| {
        let mut b = build(commit, "master", arch, 0, result);
        b["started_at"] = json!(at(hours_ago, 0));
        b["finished_at"] = json!(at(hours_ago, 30));
        b
    };
    for (commit, arch, hours_ago, result) in [
        (BASE, "amd64", 48, "pass"),
        (BASE, "arm64", 48, "pass"),
        (BROKE, "amd64", 40, "pass"),
        (BROKE, "arm64", 40, "fail"),
        (NEXT, "arm64", 30, "fail"),
        (
            "ccccccc000000000000000000000000000000004",
            "arm64",
            20,
            "pass",
        ),
        (
            "ccccccc000000000000000000000000000000004",
            "amd64",
            20,
            "pass",
        ),
        (
            "ddddddd000000000000000000000000000000005",
            "amd64",
            10,
            "cancelled",
        ),
    ] {
        app.post(post(commit, arch, hours_ago, result)).await;
    }
    let (status, report) = app.get("/api/v1/report?branch=master&days=7").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["branch"].as_str(), report["days"].as_u64()),
        (Some("master"), Some(7))
    );
    assert_eq!(report["commits"], 5);
    assert_eq!(
        report["deployable_commits"], 2,
        "BASE and c4 passed both required cells"
    );
    assert_eq!(report["incidents_opened"], 0);
    assert_eq!(report["median_resolve_s"], Value::Null);
    let cell = |arch: &str| {
        report["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["arch"] == arch)
            .unwrap()
            .clone()
    };
    let arm = cell("arm64");
    assert_eq!(
        (arm["builds"].as_u64(), arm["success_rate"].as_f64()),
        (Some(4), Some(0.5))
    );
    assert_eq!(
        arm["longest_breakage_s"],
        20 * 3600,
        "from BROKE's end to c4's end"
    );
    assert_eq!(arm["current_streak"], 1);
    let amd = cell("amd64");
    assert_eq!(
        (
            amd["builds"].as_u64(),
            amd["success_rate"].as_f64(),
            &amd["longest_breakage_s"]
        ),
        (Some(4), Some(1.0), &Value::Null),
        "a cancelled build is counted but says nothing of success"
    );
    let markdown = report["markdown"].as_str().unwrap();
    assert!(
        markdown.contains("| agw bazel-build arm64 | 4 | 50% | 20h 0m | 1 passing |"),
        "{markdown}"
    );

    let (status, default) = app.get("/api/v1/report").await;
    assert_eq!(
        (status, default["days"].as_u64()),
        (StatusCode::OK, Some(30))
    );
    for (path, field) in [
        ("/api/v1/report?days=91", "days"),
        ("/api/v1/report?days=x", "days"),
        ("/api/v1/report?weeks=2", "weeks"),
        ("/api/v1/report?branch=..", "branch"),
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{path}: {body}"
        );
    }
    let (status, _) = app.get("/api/v1/report?branch=nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let page = app
        .client
        .get(format!("{}/report?branch=master&days=7", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("CI health of"), "{html}");
    assert!(html.contains("Success rate per week"));
    assert!(html.contains("20h 0m"));
}

/// Pages tell "no such thing" (404) from "bad request" (400) and from
/// "storage down" (503), by status as well as by their notice.
#[tokio::test]
async fn pages_answer_not_found_and_bad_request_by_status() {
    let app = spawn().await;
    for (path, status, says) in [
        (
            "/incident/0000000000000000",
            StatusCode::NOT_FOUND,
            "Not found",
        ),
        (
            "/report?branch=nowhere&days=7",
            StatusCode::NOT_FOUND,
            "Not found",
        ),
        (
            "/report?branch=..&days=7",
            StatusCode::BAD_REQUEST,
            "Bad request",
        ),
    ] {
        let page = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), status, "{path}");
        let html = page.text().await.unwrap();
        assert!(html.contains(&format!("<title>{says}")), "{path}: {html}");
        assert!(html.contains("role=\"alert\""), "{path}");
    }
}

#[tokio::test]
async fn the_console_pages_commits_against_builds() {
    let app = spawn().await;
    let sha = |n: u32| format!("{n:0>40}");
    // Five commits; arm64 breaks at 3 (an incident at the third failure),
    // amd64 passes, and commit 2's arm64 build failed, then passed a rerun.
    for n in 1..=5u32 {
        let arm = if n >= 2 { "fail" } else { "pass" };
        let mut builds = vec![
            build(&sha(n), "master", "amd64", n * 10, "pass"),
            build(&sha(n), "master", "arm64", n * 10, arm),
        ];
        for b in &mut builds {
            b["parent"] = json!(sha(n - 1));
            b["commit_title"] = json!(format!("Change {n}"));
            b["author"] = json!("dev");
        }
        if n == 2 {
            let mut rerun = build(&sha(n), "master", "arm64", n * 10 + 2, "pass");
            rerun["id"] = json!("rerun-2");
            builds.push(rerun);
        }
        app.post(json!(builds)).await;
    }
    let (status, first) = app.get("/api/v1/console?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["branch"], "master");
    let columns: Vec<(&str, &str)> = first["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["arch"].as_str().unwrap(),
                c["build_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [("amd64", "bazel-build"), ("arm64", "bazel-build")]
    );
    // Builds ten minutes apart, last in January 2026: stale since an hour
    // after the last one started.
    assert_eq!(first["columns"][0]["last_build"], "2026-01-10T10:50:00Z");
    assert_eq!(first["columns"][0]["stale_since"], "2026-01-10T11:50:00Z");
    let commits = first["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 2);
    assert_eq!(commits[0]["commit"], sha(5));
    assert_eq!(commits[0]["title"], "Change 5");
    assert_eq!(commits[0]["pr"], 77);
    assert_eq!(commits[0]["results"][1][0]["result"], "fail");
    assert_eq!(commits[0]["results"][0][0]["result"], "pass");
    let incident = &first["incidents"][0];
    assert_eq!(incident["columns"], json!([1]));
    assert_eq!(incident["first_bad_commit"], sha(3));

    // Older pages through the cursor, to the last one.
    let mut seen: Vec<Value> = commits.clone();
    let mut before = first["next_before"].as_str().unwrap().to_string();
    loop {
        let (status, page) = app
            .get(&format!("/api/v1/console?limit=2&before={before}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(page["commits"].as_array().unwrap().iter().cloned());
        match page["next_before"].as_str() {
            Some(next) => before = next.to_string(),
            None => break,
        }
    }
    let order: Vec<&Value> = seen.iter().map(|c| &c["commit"]).collect();
    let expected: Vec<Value> = (1..=5).rev().map(|n| json!(sha(n))).collect();
    assert_eq!(order, expected.iter().collect::<Vec<_>>());
    // Commit 2's disagreeing runs, newest first.
    let arm: Vec<&str> = seen[3]["results"][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(arm, ["pass", "fail"]);

    let (_, failing) = app.get("/api/v1/console?only=failing&arch=x86_64").await;
    assert_eq!(failing["columns"], json!([]));
    let (_, arm) = app.get("/api/v1/console?only=failing").await;
    assert_eq!(arm["columns"][0]["arch"], "arm64");
    assert_eq!(arm["commits"][0]["results"].as_array().unwrap().len(), 1);

    for (query, field) in [
        ("limit=0", "limit"),
        ("before=nonsense", "before"),
        ("only=red", "only"),
        ("arch=a%20b", "arch"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/console?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn a_cell_that_stops_reporting_is_stale() {
    let app = spawn().await;
    // arm64 went quiet two days ago; amd64 built an hour ago.
    app.post(json!(common::every_three_hours("arm64", 100, 48)))
        .await;
    app.post(json!(common::every_three_hours("amd64", 100, 1)))
        .await;
    let arm = app.cell("master", "agw", "arm64").await.unwrap();
    assert_eq!(arm["stale"], true, "{arm}");
    // Nine hours (three usual gaps) after its last build.
    let last = chrono::DateTime::parse_from_rfc3339(arm["cadence"]["last_start"].as_str().unwrap())
        .unwrap();
    let since = chrono::DateTime::parse_from_rfc3339(arm["stale_since"].as_str().unwrap()).unwrap();
    assert_eq!(since - last, chrono::TimeDelta::hours(9));
    let amd = app.cell("master", "agw", "amd64").await.unwrap();
    assert!(amd.get("stale").is_none(), "{amd}");
    let page = app.page("/?branch=master").await;
    assert!(page.contains("data-stale=\"true\""), "{page}");
    assert!(page.contains("stale: last build 2d ago"));

    // A rule in --stale-config decides instead of the rhythm.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stale.toml");
    std::fs::write(
        &config,
        "[[stale]]\nbuild_type = \"bazel-*\"\narch = \"arm64\"\nafter = \"3d\"\n",
    )
    .unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("data")).unwrap());
    let settings = Settings {
        stale_config: Some(config),
        ..common::settings()
    };
    let configured = common::spawn_configured(store, settings).await;
    configured
        .post(&json!(common::every_three_hours("arm64", 100, 48)))
        .await;
    let arm = configured.cell("master", "agw", "arm64").await.unwrap();
    assert!(arm.get("stale").is_none(), "{arm}");
}
