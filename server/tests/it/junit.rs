//! JUnit XML uploads against the real router: files add up, replays are
//! no-ops, hostile files change nothing, and the commit API judges each
//! failing test.

use std::io::Write;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::domain::token;
use server::store::embedded::EmbeddedStore;
use server::store::Store;

use crate::common::{settings, spawn_configured, TestApp};

const BASE: &str = "aaaaaaa000000000000000000000000000000001";
const BROKE: &str = "bbbbbbb000000000000000000000000000000002";
const NEXT: &str = "ccccccc000000000000000000000000000000003";

fn build(id: &str, commit: &str, arch: &str, minute: u32, result: &str) -> Value {
    json!({
        "id": id,
        "commit": commit,
        "branch": "master",
        "component": "lte",
        "arch": arch,
        "build_type": "integ-test",
        "result": result,
        "started_at": format!("2026-01-10T10:{minute:02}:00Z"),
        "finished_at": format!("2026-01-10T10:{:02}:00Z", minute + 5),
    })
}

/// A pytest-style file: `failing` fail, the others pass.
fn junit(tests: &[&str], failing: &[&str]) -> String {
    let cases: String = tests
        .iter()
        .map(|t| {
            if failing.contains(t) {
                format!(
                    r#"<testcase classname="lte.integ" name="{t}" time="1.5"><failure message="{t} &lt;failed&gt;">trace</failure></testcase>"#
                )
            } else {
                format!(r#"<testcase classname="lte.integ" name="{t}" time="0.5"/>"#)
            }
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?><testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>"#
    )
}

struct Uploads {
    app: TestApp,
    other_token: String,
    _dir: tempfile::TempDir,
}

async fn spawn() -> Uploads {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let other_token = token::generate();
    store
        .create_token("other", &token::hash(&other_token), Default::default())
        .await
        .unwrap();
    Uploads {
        app: spawn_configured(store, settings()).await,
        other_token,
        _dir: dir,
    }
}

impl Uploads {
    async fn post(&self, body: Value) {
        let (status, answer) = self.app.post(&body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }

    fn upload(&self, id: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .post(format!("{}/api/v1/builds/{id}/tests", self.app.url))
            .bearer_auth(&self.app.token)
            .header("content-type", "application/xml")
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = request.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.app.client.get(format!("{}{path}", self.app.url)))
            .await
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn files_add_up_and_replays_change_nothing() {
    let u = spawn().await;
    u.post(build("b1", BASE, "arm64", 0, "fail")).await;
    let first = junit(&["test_a", "test_b", "test_c"], &["test_b"]);
    let (status, body) = u.send(u.upload("b1").body(first.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["tests"], 3);
    assert_eq!(
        (u.send(u.upload("b1").body(first)).await.0),
        StatusCode::OK,
        "the same file again"
    );
    let second = r#"<testsuite name="go"><testcase classname="pkg" name="TestX"><skipped/></testcase></testsuite>"#;
    let (status, _) = u
        .send(
            u.upload("b1")
                .header("content-encoding", "gzip")
                .body(gzip(second.as_bytes())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, tests) = u.get("/api/v1/builds/b1/tests").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tests["totals"],
        json!({"passed": 2, "failed": 1, "errors": 0, "skipped": 1, "duration_s": 2.5})
    );
    let listed = tests["tests"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0]["name"], "lte.integ::test_b", "failures first");
    assert_eq!(listed[0]["status"], "failed");
    assert_eq!(listed[0]["message"], "test_b <failed>");
    assert_eq!(listed[0]["suite"], "pytest");
    assert_eq!(listed[0]["time_s"], 1.5);

    let (_, page) = u.get("/api/v1/builds/b1/tests?limit=3").await;
    assert_eq!(page["tests"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = u
        .get(&format!("/api/v1/builds/b1/tests?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(rest["tests"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_eq!(
        u.get("/api/v1/builds/b1/tests?limit=0").await.1["field"],
        "limit"
    );
    assert_eq!(
        u.get("/api/v1/builds/nope/tests").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_and_store_nothing() {
    let u = spawn().await;
    u.post(build("b1", BASE, "arm64", 0, "pass")).await;
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><testsuite><testcase name="&lol2;"/></testsuite>"#;
    let zeros = gzip(&vec![b' '; 40 * 1024 * 1024]);
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "xml bomb",
            u.upload("b1").body(bomb),
            StatusCode::BAD_REQUEST,
            "DOCTYPE",
        ),
        (
            "truncated",
            u.upload("b1").body(r#"<testsuite><testcase name="a"/>"#),
            StatusCode::BAD_REQUEST,
            "truncated",
        ),
        (
            "invalid UTF-8",
            u.upload("b1").body(b"<testsuite name=\"\xff\"/>".to_vec()),
            StatusCode::BAD_REQUEST,
            "UTF-8",
        ),
        (
            "not gzip",
            u.upload("b1")
                .header("content-encoding", "gzip")
                .body("<testsuite/>"),
            StatusCode::BAD_REQUEST,
            "gzip",
        ),
        (
            "gzip bomb",
            u.upload("b1")
                .header("content-encoding", "gzip")
                .body(zeros),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            "brotli",
            u.upload("b1").header("content-encoding", "br").body("x"),
            StatusCode::BAD_REQUEST,
            "content-encoding",
        ),
        (
            "JSON",
            u.app
                .client
                .post(format!("{}/api/v1/builds/b1/tests", u.app.url))
                .bearer_auth(&u.app.token)
                .json(&json!({})),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "",
        ),
        (
            "unknown build",
            u.upload("nope").body("<testsuite/>"),
            StatusCode::NOT_FOUND,
            "post the build first",
        ),
        (
            "another token's build",
            u.app
                .client
                .post(format!("{}/api/v1/builds/b1/tests", u.app.url))
                .bearer_auth(&u.other_token)
                .header("content-type", "application/xml")
                .body("<testsuite/>"),
            StatusCode::CONFLICT,
            "another token",
        ),
        (
            "no token",
            u.app
                .client
                .post(format!("{}/api/v1/builds/b1/tests", u.app.url))
                .header("content-type", "application/xml")
                .body("<testsuite/>"),
            StatusCode::UNAUTHORIZED,
            "",
        ),
    ];
    for (what, request, status, says) in cases {
        let (got, body) = u.send(request).await;
        assert_eq!(got, status, "{what}: {body}");
        if !says.is_empty() {
            assert!(
                body["error"].as_str().unwrap().contains(says),
                "{what}: {body}"
            );
        }
    }
    let (_, tests) = u.get("/api/v1/builds/b1/tests").await;
    assert_eq!(tests["tests"], json!([]), "nothing stored");
    assert_eq!(tests["totals"]["passed"], 0);
}

#[tokio::test]
async fn the_commit_api_judges_each_failing_test() {
    let u = spawn().await;
    let all = ["test_attach", "test_detach", "test_paging"];
    for (id, commit, arch, minute, result, failing) in [
        ("base-amd", BASE, "amd64", 0, "pass", &[][..]),
        ("base-arm", BASE, "arm64", 0, "fail", &["test_paging"][..]),
        ("broke-amd", BROKE, "amd64", 10, "pass", &[][..]),
        (
            "broke-arm",
            BROKE,
            "arm64",
            10,
            "fail",
            &["test_attach", "test_paging"][..],
        ),
        ("next-arm", NEXT, "arm64", 20, "fail", &["test_attach"][..]),
        (
            "next-arm-rerun",
            NEXT,
            "arm64",
            30,
            "fail",
            &["test_detach"][..],
        ),
    ] {
        u.post(build(id, commit, arch, minute, result)).await;
        let (status, body) = u.send(u.upload(id).body(junit(&all, failing))).await;
        assert_eq!(status, StatusCode::CREATED, "{id}: {body}");
    }

    let (status, report) = u.get(&format!("/api/v1/commits/{BROKE}")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let arm = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["arch"] == "arm64" && v["component"] == "lte")
        .unwrap();
    assert_eq!(
        (
            &arm["tests"]["passed"],
            &arm["tests"]["failed"],
            &arm["tests"]["skipped"]
        ),
        (&json!(1), &json!(2), &json!(0))
    );
    // Each failure with its reason (tested apart: its id is a digest).
    let mut failing = arm["tests"]["failing"].clone();
    for test in failing.as_array_mut().unwrap() {
        let reason = test.as_object_mut().unwrap().remove("reason").unwrap();
        assert_eq!(reason["text"], test["message"], "no number or id to mask");
        assert_eq!(reason["id"].as_str().unwrap().len(), 12);
    }
    assert_eq!(
        failing,
        json!([
            {"name": "lte.integ::test_attach", "verdict": "new_failure", "since_commit": BROKE, "message": "test_attach <failed>"},
            {"name": "lte.integ::test_paging", "verdict": "still_failing", "since_commit": BASE, "message": "test_paging <failed>"},
        ])
    );
    let divergent = report["divergent"].as_array().unwrap();
    assert!(
        divergent.contains(&json!({"component": "lte", "build_type": "integ-test", "failing_arch": "arm64", "passing_arch": "amd64", "test": "lte.integ::test_attach"})),
        "{divergent:?}"
    );
    assert!(divergent.contains(&json!({"component": "lte", "build_type": "integ-test", "failing_arch": "arm64", "passing_arch": "amd64"})), "the build-level entry stays");

    // At NEXT the rerun failed test_detach but passed test_attach: the
    // judged build is the rerun, and its test_detach failure is new.
    let (_, next) = u.get(&format!("/api/v1/commits/{NEXT}")).await;
    let failing = &next["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["component"] == "lte")
        .unwrap()["tests"]["failing"];
    assert_eq!(failing[0]["name"], "lte.integ::test_detach");
    assert_eq!(
        failing[0]["verdict"], "flaky",
        "passed in the other build of NEXT: {next}"
    );
    let (_, base) = u.get(&format!("/api/v1/commits/{BASE}")).await;
    let amd = base["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["arch"] == "amd64" && v["component"] == "lte")
        .unwrap();
    assert_eq!(amd["tests"]["passed"], 3, "{base}");
    assert_eq!(amd["tests"]["failing"], json!([]));
}

#[tokio::test]
async fn flaky_tests_are_ranked_by_flip_rate_and_have_a_history() {
    let u = spawn().await;
    let now = chrono::Utc::now();
    // test_flaky flips on every run, test_recovers fails on the second and
    // third runs and passes after, test_broken fails from the third run on,
    // test_green always passes: 6 runs of the cell on arm64. A test's runs
    // before its first failure are the cell's runs with results.
    for n in 0..6u32 {
        let id = format!("run-{n}");
        let mut b = build(&id, &format!("{n:0>40}"), "arm64", 0, "fail");
        let at = now - chrono::Duration::hours(i64::from(10 - n));
        b["started_at"] = json!(at.to_rfc3339());
        b["finished_at"] = json!((at + chrono::Duration::minutes(5)).to_rfc3339());
        u.post(b).await;
        let mut failing = Vec::new();
        if n % 2 == 0 {
            failing.push("test_flaky");
        }
        if n >= 2 {
            failing.push("test_broken");
        }
        if n == 1 || n == 2 {
            failing.push("test_recovers");
        }
        let all = ["test_flaky", "test_broken", "test_green", "test_recovers"];
        let (status, body) = u.send(u.upload(&id).body(junit(&all, &failing))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, flaky) = u.get("/api/v1/tests/flaky?branch=master&days=7").await;
    assert_eq!(status, StatusCode::OK, "{flaky}");
    let tests = flaky["tests"].as_array().unwrap();
    assert_eq!(tests[0]["name"], "lte.integ::test_flaky");
    assert_eq!(
        (tests[0]["runs"].as_u64(), tests[0]["flips"].as_u64()),
        (Some(6), Some(5))
    );
    assert_eq!(tests[0]["flip_rate"], 1.0);
    assert_eq!(tests[0]["failures"], 3);
    assert_eq!(
        (tests[0]["arch"].as_str(), tests[0]["component"].as_str()),
        (Some("arm64"), Some("lte"))
    );
    assert_eq!(tests[1]["name"], "lte.integ::test_recovers");
    assert_eq!(
        (tests[1]["runs"].as_u64(), tests[1]["flips"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(tests[1]["flip_rate"], 2.0 / 5.0);
    assert_eq!(
        tests.len(),
        2,
        "test_broken flipped once (it broke); test_green never failed"
    );
    for (path, field) in [
        ("/api/v1/tests/flaky?days=0", "days"),
        ("/api/v1/tests/flaky?branch=..", "branch"),
        ("/api/v1/tests/flaky?name=x", "name"),
    ] {
        assert_eq!(u.get(path).await.1["field"], field, "{path}");
    }

    // The report lists the tests that failed most.
    let (_, report) = u.get("/api/v1/report?branch=master&days=7").await;
    assert_eq!(
        report["failing_tests"][0],
        json!({"component": "lte", "arch": "arm64", "build_type": "integ-test", "name": "lte.integ::test_broken", "failures": 4, "runs": 6})
    );
    assert_eq!(report["failing_tests"].as_array().unwrap().len(), 3);

    let page = u
        .app
        .client
        .get(format!(
            "{}/test/lte/integ-test?branch=master&name=lte.integ%3A%3Atest_broken",
            u.app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("On arm64"), "{html}");
    assert!(html.contains("failing since"), "{html}");
    let flaky_page = u
        .app
        .client
        .get(format!("{}/flaky?branch=master&days=7", u.app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(flaky_page.contains("lte.integ::test_flaky"), "{flaky_page}");
    assert!(flaky_page.contains("100%"), "{flaky_page}");
}

#[tokio::test]
async fn a_build_holds_a_bounded_number_of_test_results() {
    let u = spawn().await;
    u.post(build("big", BASE, "arm64", 0, "pass")).await;
    let file = |from: usize| {
        let cases: String = (from..from + 40_000)
            .map(|i| format!(r#"<testcase classname="c" name="t{i}"/>"#))
            .collect();
        format!("<testsuite>{cases}</testsuite>")
    };
    for from in [0, 40_000] {
        let (status, body) = u.send(u.upload("big").body(file(from))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = u.send(u.upload("big").body(file(80_000))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("at most 100000"),
        "{body}"
    );
    let (_, tests) = u.get("/api/v1/builds/big/tests?limit=1").await;
    assert_eq!(
        tests["totals"]["passed"], 80_000,
        "the refused file added nothing"
    );
}

/// A build that fails only in a test its history shows flaky is a flaky
/// failure: its own verdict, its own state on the overview, a passing
/// badge; the same build failing in a stable test is a new failure.
#[tokio::test]
async fn a_failure_only_in_flaky_tests_is_a_flaky_failure() {
    let u = spawn().await;
    let all = ["test_flaky", "test_stable"];
    let sha = |n: u32| format!("{n:0>40}");
    // Twelve runs: test_flaky fails in the 3rd and the 8th.
    for n in 0..14u32 {
        let failing: &[&str] = match n {
            2 | 7 | 12 => &["test_flaky"],
            13 => &["test_stable"],
            _ => &[],
        };
        let result = if failing.is_empty() { "pass" } else { "fail" };
        let id = format!("f{n}");
        u.post(build(&id, &sha(n + 1), "amd64", n, result)).await;
        let (status, body) = u.send(u.upload(&id).body(junit(&all, failing))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        if n == 12 {
            let (_, health) = u.get("/api/v1/health?branch=master").await;
            let cell = &health["cells"][0];
            assert_eq!(cell["latest_tests"]["flaky"], 1, "{health}");
            let resp = u
                .app
                .client
                .get(format!("{}/badge.svg?component=lte", u.app.url))
                .send()
                .await
                .unwrap();
            assert!(resp.text().await.unwrap().contains(">passing</text>"));
            let page = u
                .app
                .client
                .get(format!("{}/?branch=master", u.app.url))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(page.contains("data-status=\"flaky\""), "{page}");
            assert!(page.contains("flaky failure"));
        }
    }
    let lte = |report: &Value| {
        report["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["component"] == "lte")
            .unwrap()
            .clone()
    };
    let verdict = |report: &Value| lte(report)["verdict"].clone();
    let (_, flaky) = u.get(&format!("/api/v1/commits/{}", sha(13))).await;
    assert_eq!(verdict(&flaky), "flaky_failure", "{flaky}");
    assert_eq!(lte(&flaky)["tests"]["failing"][0]["verdict"], "flaky");
    let (_, broken) = u.get(&format!("/api/v1/commits/{}", sha(14))).await;
    assert_eq!(verdict(&broken), "new_failure", "{broken}");
    let (_, tests) = u.get("/api/v1/builds/f13/tests").await;
    assert!(
        tests["totals"]["flaky"].is_null(),
        "a stable test's failure: {tests}"
    );
}
