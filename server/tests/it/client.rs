//! `ci-dashboard post` against the real app, and against a flaky one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use server::cli::client::{self, Outcome, PostArgs};

use crate::common::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    post: PostArgs,
}

fn args(server: &str, token: &str, extra: &[&str]) -> PostArgs {
    let base = [
        "post",
        "--server",
        server,
        "--token",
        token,
        "--component",
        "agw",
        "--build-type",
        "bazel-build",
        "--result",
        "failure",
        "--arch",
        "arm64",
        "--commit",
        SHA,
        "--branch",
        "master",
        "--backoff",
        "0.05",
        "--started-at",
        "2026-11-01T10:00:00Z",
    ];
    Cli::parse_from(base.iter().chain(extra)).post
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[tokio::test]
async fn posts_a_build_that_the_overview_shows() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    // Fixed times: a default of "now" would differ between the two posts
    // whenever they straddle a second, making the replay an update.
    let a = args(
        &app.url,
        &app.token,
        &[
            "--id",
            "gha:1:1:agw",
            "--finished-at",
            "2026-11-01T10:20:00Z",
        ],
    );
    let outcome = client::post(&a, client::body(&a, &no_env).unwrap()).await;
    assert_eq!(
        outcome,
        Outcome::Posted {
            id: "gha:1:1:agw".into(),
            status: 201
        }
    );
    // A retried step posts the same id: a no-op.
    let again = client::post(&a, client::body(&a, &no_env).unwrap()).await;
    assert!(
        matches!(again, Outcome::Posted { status: 200, .. }),
        "{again:?}"
    );
    let cell = app.cell("master", "agw", "arm64").await.unwrap();
    assert_eq!(cell["latest"]["id"], "gha:1:1:agw");
}

#[tokio::test]
async fn a_refused_build_prints_the_servers_message() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let a = args(&app.url, &app.token, &["--url", "javascript:alert(1)"]);
    match client::post(&a, client::body(&a, &no_env).unwrap()).await {
        Outcome::Rejected { status, message } => {
            assert_eq!(status, 400);
            assert!(message.contains("field: url"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let wrong_token = args(&app.url, "cid_nope", &[]);
    let outcome = client::post(&wrong_token, client::body(&wrong_token, &no_env).unwrap()).await;
    assert!(matches!(outcome, Outcome::Rejected { status: 401, .. }));
}

#[tokio::test]
async fn outages_are_retried_honouring_retry_after() {
    let calls = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let router = {
        let (calls, ids) = (calls.clone(), ids.clone());
        Router::new().route(
            "/api/v1/builds",
            post(
                move |headers: HeaderMap, Json(body): Json<Value>| async move {
                    assert_eq!(headers["authorization"], "Bearer secret");
                    ids.lock().unwrap().push(body["id"].clone());
                    if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [("retry-after", "0")],
                            Json(json!({"error": "storage unavailable"})),
                        )
                    } else {
                        (
                            StatusCode::CREATED,
                            [("retry-after", "0")],
                            Json(json!({"ids": [body["id"]]})),
                        )
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let a = args(&url, "secret", &[]);
    let outcome = client::post(&a, client::body(&a, &no_env).unwrap()).await;
    assert!(matches!(outcome, Outcome::Posted { status: 201, .. }));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let ids = ids.lock().unwrap().clone();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one id for every attempt: {ids:?}"
    );

    // Nobody listening: a warning (exit 0), unless --strict.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let a = args(&closed, "secret", &["--attempts", "2"]);
    let outcome = client::post(&a, client::body(&a, &no_env).unwrap()).await;
    assert!(matches!(outcome, Outcome::Unreachable { .. }));
    assert_eq!((outcome.exit_code(false), outcome.exit_code(true)), (0, 1));
}

/// A server that answers every post with `answer` until it has answered
/// `times` times, then accepts the build.
async fn answering(
    answer: fn(&Value) -> axum::response::Response,
    times: usize,
) -> (String, Arc<AtomicUsize>) {
    use axum::response::IntoResponse;
    let calls = Arc::new(AtomicUsize::new(0));
    let router = {
        let calls = calls.clone();
        Router::new().route(
            "/api/v1/builds",
            post(move |Json(body): Json<Value>| async move {
                if calls.fetch_add(1, Ordering::SeqCst) < times {
                    answer(&body)
                } else {
                    (StatusCode::CREATED, Json(json!({"ids": [body["id"]]}))).into_response()
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, calls)
}

#[tokio::test]
async fn a_redirect_is_an_error_naming_where_it_points() {
    use axum::response::IntoResponse;
    let (url, calls) = answering(
        |_| {
            (
                StatusCode::MOVED_PERMANENTLY,
                [("location", "https://dashboard.example/api/v1/builds")],
            )
                .into_response()
        },
        usize::MAX,
    )
    .await;
    let a = args(&url, "secret", &[]);
    match client::post(&a, client::body(&a, &no_env).unwrap()).await {
        Outcome::Rejected { status, message } => {
            assert_eq!(status, 301);
            assert!(
                message.contains("https://dashboard.example/api/v1/builds"),
                "{message}"
            );
        }
        other => panic!("a redirect is not a post: {other:?}"),
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "neither followed nor retried"
    );
}

#[tokio::test]
async fn a_negative_retry_after_waits_a_second_instead_of_panicking() {
    use axum::response::IntoResponse;
    let (url, calls) = answering(
        |_| (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "-1")]).into_response(),
        1,
    )
    .await;
    let a = args(&url, "secret", &[]);
    let started = std::time::Instant::now();
    let outcome = client::post(&a, client::body(&a, &no_env).unwrap()).await;
    assert!(
        matches!(outcome, Outcome::Posted { status: 201, .. }),
        "{outcome:?}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_2xx_without_the_posted_id_is_not_a_post() {
    use axum::response::IntoResponse;
    let (url, _) = answering(
        |_| (StatusCode::OK, "<html>Sign in</html>").into_response(),
        usize::MAX,
    )
    .await;
    let a = args(&url, "secret", &["--attempts", "2"]);
    let outcome = client::post(&a, client::body(&a, &no_env).unwrap()).await;
    assert!(
        matches!(outcome, Outcome::Unreachable { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.exit_code(true), 1);
}

#[tokio::test]
async fn freeze_check_fails_while_the_branch_has_an_open_incident() {
    use server::cli::freeze::{check, FreezeCheckArgs, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let args = FreezeCheckArgs {
        server: app.url.clone(),
        branch: None,
        strict: false,
    };
    assert_eq!(check(&args, "master").await, Verdict::Open);
    for minute in 0..3 {
        let mut b = build("arm64", "fail");
        b["started_at"] = json!(format!("2026-01-10T10:0{minute}:00Z"));
        b["finished_at"] = json!(format!("2026-01-10T10:0{minute}:30Z"));
        b["commit"] = json!(format!("{minute:0>40}"));
        assert_eq!(app.post(&b).await.0, StatusCode::CREATED);
    }
    let frozen = check(&args, "master").await;
    assert!(
        matches!(&frozen, Verdict::Frozen(reason) if reason.contains("agw bazel-build arm64")),
        "{frozen:?}"
    );
    assert_eq!(frozen.exit_code(false), 1);
    assert_eq!(check(&args, "v1.8").await, Verdict::Open);

    let down = FreezeCheckArgs {
        server: "http://127.0.0.1:9".into(),
        ..args
    };
    let unknown = check(&down, "master").await;
    assert!(matches!(unknown, Verdict::Unknown(_)), "{unknown:?}");
    assert_eq!((unknown.exit_code(false), unknown.exit_code(true)), (0, 1));
}

#[tokio::test]
async fn manual_freezes_are_recorded_with_who_and_why() {
    use server::cli::freeze::{check, set, FreezeCheckArgs, SetFreezeArgs, Verdict};
    use server::domain::token::{self, Grants};
    use server::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let store =
        std::sync::Arc::new(server::store::embedded::EmbeddedStore::open(dir.path()).unwrap());
    let app = spawn_with(store.clone()).await;
    // A CI token posts builds; it may not freeze or lift a freeze.
    let by_ci = SetFreezeArgs {
        server: app.url.clone(),
        token: app.token.clone(),
        branch: "release/v1.9".into(),
        reason: "cutting 1.9.0".into(),
    };
    let refused = set(&by_ci, true).await.unwrap_err();
    assert!(
        refused.contains("403") && refused.contains("--freeze"),
        "{refused}"
    );
    let on_call = token::generate();
    let grants = Grants {
        admin: false,
        freeze: true,
    };
    store
        .create_token("ci-on-call", &token::hash(&on_call), grants)
        .await
        .unwrap();
    let args = SetFreezeArgs {
        token: on_call,
        ..by_ci
    };
    let frozen = set(&args, true).await.unwrap();
    assert!(frozen.frozen);
    let manual = frozen.manual.unwrap();
    assert!(manual.by == "ci-on-call" && manual.reason == "cutting 1.9.0");
    let checked = check(
        &FreezeCheckArgs {
            server: app.url.clone(),
            branch: None,
            strict: true,
        },
        "release/v1.9",
    )
    .await;
    assert!(
        matches!(&checked, Verdict::Frozen(r) if r.contains("frozen by ci-") && r.contains("cutting 1.9.0")),
        "{checked:?}"
    );
    let lifted = set(&args, false).await.unwrap();
    assert!(!lifted.frozen && lifted.reason.is_none());

    let refused = set(
        &SetFreezeArgs {
            token: "cid_wrong".into(),
            ..args.clone()
        },
        true,
    )
    .await;
    assert!(refused.unwrap_err().contains("401"));
    let no_reason = set(
        &SetFreezeArgs {
            reason: " ".into(),
            ..args.clone()
        },
        true,
    )
    .await;
    assert!(no_reason.unwrap_err().contains("reason"));

    // An open incident keeps the branch frozen whatever the manual state.
    for minute in 0..3 {
        let mut b = build("arm64", "fail");
        b["started_at"] = json!(format!("2026-01-10T10:0{minute}:00Z"));
        b["finished_at"] = json!(format!("2026-01-10T10:0{minute}:30Z"));
        b["commit"] = json!(format!("{minute:0>40}"));
        app.post(&b).await;
    }
    let master = SetFreezeArgs {
        branch: "master".into(),
        ..args
    };
    let still = set(&master, false).await.unwrap();
    assert!(still.frozen && still.incidents.len() == 1, "{still:?}");
}

#[tokio::test]
async fn junit_files_are_uploaded_after_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path()).await;
    let reports = dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    std::fs::write(
        reports.join("unit.xml"),
        r#"<testsuite name="pytest"><testcase classname="a" name="test_ok"/><testcase classname="a" name="test_bad"><failure message="no"/></testcase></testsuite>"#,
    )
    .unwrap();
    std::fs::write(
        reports.join("integ.xml"),
        r#"<testsuite name="go"><testcase classname="b" name="TestSkip"><skipped/></testcase></testsuite>"#,
    )
    .unwrap();
    std::fs::write(reports.join("notes.txt"), "not a report").unwrap();
    let pattern = format!("{}/*.xml", reports.display());
    let a = args(
        &app.url,
        &app.token,
        &[
            "--id",
            "gha:9:1:agw-arm64",
            "--finished-at",
            "2026-11-01T10:20:00Z",
            "--junit",
            &pattern,
        ],
    );
    let posted = client::post(&a, client::body(&a, &no_env).unwrap()).await;
    let Outcome::Posted { id, .. } = posted else {
        panic!("{posted:?}")
    };
    let uploads = client::upload_junit(&a, &id).await;
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    assert!(uploads
        .iter()
        .all(|(_, o)| matches!(o, Outcome::Posted { status: 201, .. })));
    let again = client::upload_junit(&a, &id).await;
    assert!(
        again
            .iter()
            .all(|(_, o)| matches!(o, Outcome::Posted { status: 200, .. })),
        "a rerun step uploads the same files: replays"
    );
    let totals: Value = app
        .client
        .get(format!("{}/api/v1/builds/gha:9:1:agw-arm64/tests", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            &totals["totals"]["passed"],
            &totals["totals"]["failed"],
            &totals["totals"]["skipped"]
        ),
        (&json!(1), &json!(1), &json!(1)),
        "{totals}"
    );

    std::fs::write(
        reports.join("broken.xml"),
        "<testsuite><testcase name=\"x\">",
    )
    .unwrap();
    let refused = client::upload_junit(&a, &id).await;
    let (file, last) = refused.last().unwrap();
    assert!(file.ends_with("broken.xml"), "{refused:?}");
    assert!(
        matches!(last, Outcome::Rejected { status: 400, message } if message.contains("truncated")),
        "{last:?}"
    );
    assert_eq!(last.exit_code(false), 1);
}
