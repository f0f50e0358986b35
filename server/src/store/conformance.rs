//! Behaviour every store must have. Each store instantiates the whole suite
//! with [`conformance_suite!`], giving it a fresh, empty store per test.

use app::model::BuildResult;
use chrono::{TimeDelta, TimeZone, Utc};

use super::{
    walk, BuildFilter, CellId, CellScan, Cursor, Grants, Poster, ScanKind, Store, StoreError,
};
use app::model::Build;

pub fn build(id: &str, cell: (&str, &str, &str), minute: i64, result: BuildResult) -> Build {
    let started_at =
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minute);
    Build {
        id: id.to_string(),
        repository: "magma/magma".into(),
        commit: format!("{minute:0>40}"),
        parent: None,
        branch: "master".into(),
        pr: Some(7),
        component: cell.0.into(),
        arch: cell.1.into(),
        build_type: cell.2.into(),
        result,
        started_at,
        finished_at: result
            .is_finished()
            .then(|| started_at + TimeDelta::microseconds(61_000_123)),
        url: Some("https://ci.example/run/1".into()),
        runner: Some("graviton <arm>".into()),
        version: Some("1.8.1".into()),
        commit_title: Some("Fix Vec<u8> parsing".into()),
        author: Some("dev".into()),
        posted_by: None,
    }
}

const AGW_ARM: (&str, &str, &str) = ("agw", "arm64", "bazel");
const AGW_AMD: (&str, &str, &str) = ("agw", "amd64", "bazel");

pub async fn stores_every_field(store: &dyn Store) {
    let mut b = build("b1", AGW_ARM, 1, BuildResult::Fail);
    b.parent = Some("f".repeat(40));
    let out = store.ingest(vec![b.clone()]).await.unwrap();
    assert_eq!(out.ids, ["b1"]);
    assert!(out.changed);
    assert_eq!(store.build("b1").await.unwrap(), Some(b));
    assert_eq!(store.build("nope").await.unwrap(), None);
}

pub async fn cells_follow_ingestion(store: &dyn Store) {
    store
        .ingest(vec![
            build("1", AGW_ARM, 1, BuildResult::Pass),
            build("2", AGW_ARM, 2, BuildResult::Fail),
            build("3", AGW_ARM, 3, BuildResult::Fail),
            build("4", AGW_AMD, 3, BuildResult::Pass),
        ])
        .await
        .unwrap();
    let mut cells = store.cells("master").await.unwrap();
    cells.sort_by(|a, b| a.arch.cmp(&b.arch));
    assert_eq!(cells.len(), 2);
    assert_eq!(cells[0].status(), BuildResult::Pass);
    assert_eq!(cells[1].status(), BuildResult::Fail);
    let streak = cells[1].streak.clone().unwrap();
    assert_eq!((streak.since.id.as_str(), streak.builds), ("2", 2));
    assert_eq!(cells[1].latest.as_ref().unwrap().id, "3");
    assert!(store.cells("v1.8").await.unwrap().is_empty());
}

pub async fn late_arrivals_do_not_overwrite(store: &dyn Store) {
    store
        .ingest(vec![build("new", AGW_ARM, 10, BuildResult::Pass)])
        .await
        .unwrap();
    store
        .ingest(vec![build("old", AGW_ARM, 5, BuildResult::Fail)])
        .await
        .unwrap();
    let cell = store.cells("master").await.unwrap().remove(0);
    assert_eq!(cell.latest.unwrap().id, "new");
    assert_eq!(cell.streak, None);
    // A late failure inside a red streak moves its start back.
    store
        .ingest(vec![build("f12", AGW_ARM, 12, BuildResult::Fail)])
        .await
        .unwrap();
    store
        .ingest(vec![build("f14", AGW_ARM, 14, BuildResult::Fail)])
        .await
        .unwrap();
    store
        .ingest(vec![build("f11", AGW_ARM, 11, BuildResult::Fail)])
        .await
        .unwrap();
    let streak = store
        .cells("master")
        .await
        .unwrap()
        .remove(0)
        .streak
        .unwrap();
    assert_eq!((streak.since.id.as_str(), streak.builds), ("f11", 3));
}

pub async fn replays_are_no_ops_and_updates_apply(store: &dyn Store) {
    let running = build("run", AGW_ARM, 1, BuildResult::Running);
    assert!(store.ingest(vec![running.clone()]).await.unwrap().changed);
    assert!(!store.ingest(vec![running.clone()]).await.unwrap().changed);
    let cell = store.cells("master").await.unwrap().remove(0);
    assert_eq!(cell.running.unwrap().id, "run");
    assert_eq!(cell.latest, None);

    let done = build("run", AGW_ARM, 1, BuildResult::Fail);
    assert!(store.ingest(vec![done.clone()]).await.unwrap().changed);
    let cell = store.cells("master").await.unwrap().remove(0);
    assert_eq!(cell.running, None);
    assert_eq!(cell.status(), BuildResult::Fail);
    assert_eq!(store.build("run").await.unwrap(), Some(done.clone()));

    // A finished result corrected under the same id recomputes the streak.
    let corrected = build("run", AGW_ARM, 1, BuildResult::Pass);
    store.ingest(vec![corrected]).await.unwrap();
    let cell = store.cells("master").await.unwrap().remove(0);
    assert_eq!((cell.status(), cell.streak), (BuildResult::Pass, None));
}

pub async fn builds_belong_to_the_token_that_posted_them(store: &dyn Store) {
    let token = |name: &str, admin: bool| Poster::Token {
        name: name.into(),
        admin,
    };
    let running = build("run", AGW_ARM, 1, BuildResult::Running);
    store
        .ingest_as(vec![running.clone()], &token("ci", false))
        .await
        .unwrap();
    assert_eq!(
        store
            .build("run")
            .await
            .unwrap()
            .unwrap()
            .posted_by
            .as_deref(),
        Some("ci")
    );
    // Another token: an identical replay changes nothing and is fine...
    let replay = store
        .ingest_as(vec![running], &token("lab", false))
        .await
        .unwrap();
    assert!(!replay.changed);
    // ...a change is refused, and nothing of that post is stored.
    let failed = build("run", AGW_ARM, 1, BuildResult::Fail);
    let other = build("other", AGW_AMD, 1, BuildResult::Pass);
    let refused = store
        .ingest_as(vec![other, failed.clone()], &token("lab", false))
        .await;
    assert!(
        matches!(
            &refused,
            Err(StoreError::Conflict {
                index: 1,
                field: "id",
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(store.build("other").await.unwrap(), None);
    assert_eq!(
        store.cells("master").await.unwrap()[0].status(),
        BuildResult::Running
    );
    // The owner and admin tokens may change it; the operator keeps the owner.
    store
        .ingest_as(vec![failed.clone()], &token("ci", false))
        .await
        .unwrap();
    let passed = build("run", AGW_ARM, 1, BuildResult::Pass);
    store
        .ingest_as(vec![passed], &token("import", true))
        .await
        .unwrap();
    store.ingest(vec![failed]).await.unwrap();
    let stored = store.build("run").await.unwrap().unwrap();
    assert_eq!(
        (stored.result, stored.posted_by.as_deref()),
        (BuildResult::Fail, Some("import"))
    );
}

/// Posts report the cells they moved; incidents follow them through the
/// store's atomic update and its queries.
pub async fn keeps_incidents(store: &dyn Store) {
    use crate::domain::incident::{changes, IncidentConfig, IncidentRules};
    use app::model::IncidentState;
    let rules = IncidentRules::new(IncidentConfig::default(), "master", "v*");
    let at = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    let post = |builds| async {
        let outcome = store.ingest(builds).await.unwrap();
        let mut last = None;
        for moved in &outcome.moves {
            for change in changes(&rules, moved.before.as_ref(), &moved.after, at) {
                last = store.update_incident(&change, &[]).await.unwrap();
            }
        }
        last
    };
    post(vec![build("ok", AGW_ARM, 0, BuildResult::Pass)]).await;
    assert_eq!(
        post(vec![build("f1", AGW_ARM, 1, BuildResult::Fail)]).await,
        None
    );
    post(vec![build("f2", AGW_ARM, 2, BuildResult::Fail)]).await;
    let opened = post(vec![build("f3", AGW_ARM, 3, BuildResult::Fail)])
        .await
        .unwrap();
    assert_eq!(opened.state, IncidentState::Open);
    assert_eq!(opened.first_bad_commit, format!("{:0>40}", 1));
    assert_eq!(opened.last_good_commit, Some(format!("{:0>40}", 0)));
    assert_eq!(
        store.incident(&opened.id).await.unwrap(),
        Some(opened.clone())
    );
    assert_eq!(
        store.incidents(Some("master"), true, 10).await.unwrap(),
        std::slice::from_ref(&opened)
    );
    assert_eq!(
        store.incidents(None, true, 10).await.unwrap(),
        std::slice::from_ref(&opened)
    );
    assert!(store
        .incidents(Some("v1.9"), false, 10)
        .await
        .unwrap()
        .is_empty());

    let resolved = post(vec![build("p", AGW_ARM, 4, BuildResult::Pass)])
        .await
        .unwrap();
    assert_eq!(
        (resolved.state, resolved.resolved_at),
        (IncidentState::Resolved, Some(at))
    );
    assert!(store
        .incidents(Some("master"), true, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.incidents(None, false, 10).await.unwrap(), [resolved]);
}

/// An incident change queues its deliveries in its own transaction; claims
/// lease them to one owner at a time, and only the lease holder records an
/// attempt.
pub async fn queues_and_leases_deliveries(store: &dyn Store) {
    use crate::domain::incident::Change;
    use crate::domain::notification::{after_attempt, Attempt, WebhookRef};
    use app::model::{CellKey, DeliveryState, NotifyEvent};
    let t = |second: i64| {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + TimeDelta::seconds(second)
    };
    let hooks = [
        WebhookRef {
            key: "k1".into(),
            target: "one.example".into(),
        },
        WebhookRef {
            key: "k2".into(),
            target: "two.example".into(),
        },
    ];
    let cell = |arch: &str| CellKey {
        component: "agw".into(),
        arch: arch.into(),
        build_type: "bazel".into(),
    };
    let red = |arch: &str, at| Change::Red {
        id: "00000000000000aa".into(),
        branch: "master".into(),
        cell: cell(arch),
        first_bad_commit: "b".repeat(40),
        last_good_commit: None,
        at,
    };
    store
        .update_incident(&red("arm64", t(0)), &hooks)
        .await
        .unwrap();
    store
        .update_incident(&red("amd64", t(1)), &hooks)
        .await
        .unwrap();
    let queued = store
        .deliveries(Some("00000000000000aa"), 10)
        .await
        .unwrap();
    assert_eq!(
        queued.len(),
        2,
        "one per webhook, none for a joining cell: {queued:?}"
    );
    assert!(queued
        .iter()
        .all(|d| d.event == NotifyEvent::Opened && d.state == DeliveryState::Pending));
    assert!(store
        .deliveries(Some("00000000000000bb"), 10)
        .await
        .unwrap()
        .is_empty());

    assert!(
        store
            .claim_deliveries("a", t(-1), t(60), 10)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let mut claimed = store.claim_deliveries("a", t(2), t(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        store
            .claim_deliveries("b", t(3), t(63), 10)
            .await
            .unwrap()
            .is_empty(),
        "leased to a"
    );
    claimed.sort_by(|x, y| x.webhook.cmp(&y.webhook));
    let delivered = after_attempt(claimed[0].clone(), Attempt::Answered(200), t(4));
    assert!(
        !store.finish_delivery(&delivered, "b").await.unwrap(),
        "b holds no lease"
    );
    assert!(store.finish_delivery(&delivered, "a").await.unwrap());
    let retry = after_attempt(claimed[1].clone(), Attempt::Answered(500), t(4));
    assert!(store.finish_delivery(&retry, "a").await.unwrap());
    assert!(
        store
            .claim_deliveries("b", t(4), t(64), 10)
            .await
            .unwrap()
            .is_empty(),
        "backing off"
    );
    let again = store.claim_deliveries("b", t(6), t(66), 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    // b dies holding the lease: once it ends, a takes the delivery over.
    assert!(store
        .claim_deliveries("a", t(65), t(125), 10)
        .await
        .unwrap()
        .is_empty());
    let taken = store
        .claim_deliveries("a", t(66), t(126), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert!(!store
        .finish_delivery(
            &after_attempt(again[0].clone(), Attempt::Answered(200), t(67)),
            "b"
        )
        .await
        .unwrap());

    let clear = |arch: &str, at| Change::Cleared {
        id: "00000000000000aa".into(),
        cell: cell(arch),
        at,
    };
    store
        .update_incident(&clear("arm64", t(70)), &hooks)
        .await
        .unwrap();
    store
        .update_incident(&clear("amd64", t(71)), &hooks)
        .await
        .unwrap();
    let all = store.deliveries(None, 10).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(
        all[..2].iter().all(|d| d.event == NotifyEvent::Resolved),
        "newest first: {all:?}"
    );
    let stored = all.iter().find(|d| d.id == delivered.id).unwrap();
    assert_eq!(
        (stored.state, stored.delivered_at),
        (DeliveryState::Delivered, Some(t(4)))
    );
    assert_eq!(store.deliveries(None, 1).await.unwrap().len(), 1);
}

/// A build's JUnit files add up; the same file again is a replay; pages
/// read failures and totals without the passing tests.
/// One JUnit file of `build` as the upload query makes it.
fn upload_of(build: &Build, hash: &str, cases: Vec<app::model::TestCase>) -> super::TestUpload {
    let failures = cases
        .iter()
        .filter(|c| c.status.is_failure())
        .map(|c| app::model::TestFailure {
            build: build.id.clone(),
            suite: c.suite.clone(),
            name: c.name.clone(),
            status: c.status,
            message: c.message.clone(),
            since_commit: "c0".into(),
        })
        .collect();
    super::TestUpload {
        build: build.id.clone(),
        cell: build.cell(),
        commit: build.commit.clone(),
        at: build.started_at,
        hash: hash.into(),
        tests: cases.len(),
        totals: crate::domain::junit::totals(&cases),
        cases,
        failures,
    }
}

/// The longest values validation lets through: a branch of 255 characters
/// a document id must escape, a version of 256 four-byte characters.
pub async fn stores_builds_at_the_validation_limits(store: &dyn Store) {
    let mut b = build("limits", AGW_ARM, 1, BuildResult::Pass);
    b.branch = "%".repeat(255);
    b.version = Some("\u{1D11E}".repeat(256));
    store.ingest(vec![b.clone()]).await.unwrap();
    assert_eq!(store.build("limits").await.unwrap(), Some(b.clone()));
    assert_eq!(store.cells(&b.branch).await.unwrap().len(), 1);
    assert_eq!(
        store.versions(&b.branch).await.unwrap(),
        [(b.version.clone().unwrap(), b.commit.clone())]
    );
}

/// A cell where hundreds of long-named tests failed: later uploads still
/// succeed, and a tracked test's pass is still recorded.
pub async fn tracks_many_long_test_names(store: &dyn Store) {
    use app::model::{TestCase, TestStatus};
    let name = |n: usize, i: usize| format!("{n}-{i}-{}", "x".repeat(990));
    let case = |name: String, status: TestStatus| TestCase {
        suite: "lte".into(),
        name,
        status,
        time_s: None,
        message: None,
    };
    // 1,200 names of 1,000 characters: more than a 1 MiB document holds.
    for n in 0..6 {
        let b = build(&format!("t{n}"), AGW_ARM, n as i64, BuildResult::Fail);
        store.ingest(vec![b.clone()]).await.unwrap();
        let cases = (0..super::MAX_TOUCHED_STATS)
            .map(|i| case(name(n, i), TestStatus::Failed))
            .collect();
        assert!(store.add_tests(&upload_of(&b, "f", cases)).await.unwrap());
    }
    let b = build("t6", AGW_ARM, 6, BuildResult::Pass);
    store.ingest(vec![b.clone()]).await.unwrap();
    let passed = vec![case(name(0, 0), TestStatus::Passed)];
    assert!(store.add_tests(&upload_of(&b, "f", passed)).await.unwrap());
    let records = store.test_stats(&[b.cell()], &name(0, 0)).await.unwrap();
    assert_eq!(
        (records[0].runs, records[0].last_status),
        (2, TestStatus::Passed)
    );
}

pub async fn keeps_test_results(store: &dyn Store) {
    use app::model::{TestCase, TestStatus, TestTotals};
    let t1 = build("t1", AGW_ARM, 1, BuildResult::Fail);
    store.ingest(vec![t1.clone()]).await.unwrap();
    let case = |name: &str, status: TestStatus| TestCase {
        suite: "lte".into(),
        name: name.into(),
        status,
        time_s: Some(0.5),
        message: status.is_failure().then(|| format!("{name} broke")),
    };
    let upload = |hash: &str, cases: Vec<TestCase>| upload_of(&t1, hash, cases);
    // Big enough for Firestore to store it in several parts.
    let mut first: Vec<TestCase> = (0..6_000)
        .map(|i| {
            case(
                &format!("lte.test_attach::test_{i:05}_{}", "x".repeat(80)),
                TestStatus::Passed,
            )
        })
        .collect();
    first.push(case("lte.test_attach::test_s1ap", TestStatus::Failed));
    let second = vec![
        case("go::TestSync", TestStatus::Error),
        case("go::TestSkip", TestStatus::Skipped),
    ];
    assert!(store.add_tests(&upload("f1", first.clone())).await.unwrap());
    assert!(store
        .add_tests(&upload("f2", second.clone()))
        .await
        .unwrap());
    assert!(
        !store.add_tests(&upload("f1", first.clone())).await.unwrap(),
        "a replay"
    );
    let all = store.build_tests("t1").await.unwrap();
    assert_eq!(all.len(), 6_003);
    assert_eq!(all[..6_001], first[..], "file order, then case order");
    assert_eq!(all[6_001..], second[..]);
    let totals = store
        .test_totals(&["t1".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(
        totals["t1"],
        TestTotals {
            passed: 6_000,
            failed: 1,
            errors: 1,
            skipped: 1,
            duration_s: 0.5 * 6_003.0
        }
    );
    let failures = store
        .test_failures(&["t1".into(), "nope".into()])
        .await
        .unwrap();
    let names: Vec<&str> = failures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["go::TestSync", "lte.test_attach::test_s1ap"]);
    assert_eq!(failures[0].status, TestStatus::Error);
    assert!(store.build_tests("nope").await.unwrap().is_empty());
    let counts = |store_cells: Vec<app::model::Cell>| {
        store_cells
            .into_iter()
            .find(|c| c.arch == AGW_ARM.1)
            .and_then(|c| c.latest_tests)
            .map(|t| (t.passed, t.failed, t.skipped))
    };
    assert_eq!(
        counts(store.cells("master").await.unwrap()),
        Some((6_000, 2, 1)),
        "the cell shows its latest build's counts"
    );

    // Records only for the failures, none for the 6,000 passing tests.
    let since = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let records = store.test_stats_since("master", since, 100).await.unwrap();
    let mut names: Vec<&str> = records.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["go::TestSync", "lte.test_attach::test_s1ap"]);
    assert!(store
        .test_stats_since(
            "master",
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            100
        )
        .await
        .unwrap()
        .is_empty());
    // A later build of the cell where the test passes: a flip.
    let t2 = build("t2", AGW_ARM, 2, BuildResult::Pass);
    store.ingest(vec![t2.clone()]).await.unwrap();
    assert_eq!(
        counts(store.cells("master").await.unwrap()),
        None,
        "a new latest build has no counts until its tests arrive"
    );
    let passing = upload_of(
        &t2,
        "f3",
        vec![
            case("lte.test_attach::test_s1ap", TestStatus::Passed),
            case("always", TestStatus::Passed),
        ],
    );
    assert!(store.add_tests(&passing).await.unwrap());
    assert_eq!(
        counts(store.cells("master").await.unwrap()),
        Some((2, 0, 0))
    );
    let cells = [
        CellId::new("master", AGW_ARM.0, AGW_ARM.1, AGW_ARM.2),
        CellId::new("master", AGW_AMD.0, AGW_AMD.1, AGW_AMD.2),
    ];
    let history = store
        .test_stats(&cells, "lte.test_attach::test_s1ap")
        .await
        .unwrap();
    assert_eq!(history.len(), 1, "only arm64 ran it");
    let s1ap = &history[0];
    assert_eq!((s1ap.runs, s1ap.failures, s1ap.flips), (2, 1, 1));
    assert_eq!(s1ap.failing_since, None);
    assert_eq!(s1ap.recent[0].build, "t2");
    assert!(
        store.test_stats(&cells, "always").await.unwrap().is_empty(),
        "never failed"
    );
}

pub async fn records_manual_freezes(store: &dyn Store) {
    use app::model::FreezeEvent;
    let event = |frozen: bool, minute: u32, reason: &str| FreezeEvent {
        branch: "release/v1.9".into(),
        frozen,
        reason: reason.into(),
        by: "alice".into(),
        at: Utc.with_ymd_and_hms(2026, 11, 2, 0, minute, 0).unwrap(),
    };
    assert!(store
        .freeze_events("release/v1.9", 5)
        .await
        .unwrap()
        .is_empty());
    store
        .record_freeze(&event(true, 1, "release cut"))
        .await
        .unwrap();
    store
        .record_freeze(&event(false, 2, "cut done"))
        .await
        .unwrap();
    assert_eq!(
        store.freeze_events("release/v1.9", 5).await.unwrap(),
        [event(false, 2, "cut done"), event(true, 1, "release cut")]
    );
    assert_eq!(
        store.freeze_events("release/v1.9", 1).await.unwrap().len(),
        1
    );
    assert!(store.freeze_events("master", 5).await.unwrap().is_empty());
}

pub async fn batches_are_all_or_nothing(store: &dyn Store) {
    store
        .ingest(vec![build("a", AGW_ARM, 1, BuildResult::Pass)])
        .await
        .unwrap();
    let mut moved = build("a", AGW_AMD, 1, BuildResult::Pass);
    moved.component = "feg".into();
    let err = store
        .ingest(vec![build("b", AGW_ARM, 2, BuildResult::Fail), moved])
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict { index, field, .. } => assert_eq!((index, field), (1, "component")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.build("b").await.unwrap(), None);
    let cell = store.cells("master").await.unwrap().remove(0);
    assert_eq!(cell.status(), BuildResult::Pass);
    assert_eq!(store.build("a").await.unwrap().unwrap().component, "agw");
}

pub async fn lists_branches(store: &dyn Store) {
    assert!(store.branches().await.unwrap().is_empty());
    let mut release = build("r", AGW_ARM, 1, BuildResult::Pass);
    release.branch = "v1.8".into();
    store
        .ingest(vec![release, build("m", AGW_ARM, 1, BuildResult::Pass)])
        .await
        .unwrap();
    assert_eq!(store.branches().await.unwrap(), ["master", "v1.8"]);
}

pub async fn many_builds_in_one_cell(store: &dyn Store) {
    let builds: Vec<Build> = (0..300)
        .map(|i| {
            let result = if i < 100 {
                BuildResult::Pass
            } else {
                BuildResult::Fail
            };
            build(&format!("b{i}"), AGW_ARM, i, result)
        })
        .collect();
    for chunk in builds.chunks(100) {
        store.ingest(chunk.to_vec()).await.unwrap();
    }
    let cell = store.cells("master").await.unwrap().remove(0);
    let streak = cell.streak.unwrap();
    assert_eq!((streak.since.id.as_str(), streak.builds), ("b100", 200));
}

/// A batch holding a cell's history in any order ends where posting the
/// same builds one at a time, oldest first, ends.
pub async fn batch_order_does_not_matter(store: &dyn Store) {
    let results = [
        BuildResult::Pass,
        BuildResult::Fail,
        BuildResult::Fail,
        BuildResult::Error,
        BuildResult::Fail,
        BuildResult::Running,
    ];
    let history: Vec<Build> = (0..60)
        .map(|i| {
            let cell = if i % 4 == 0 { AGW_AMD } else { AGW_ARM };
            build(&format!("h{i}"), cell, i, results[i as usize % 6])
        })
        .collect();
    for b in &history {
        let mut one = b.clone();
        one.id = format!("ref-{}", b.id);
        one.branch = "ref".into();
        store.ingest(vec![one]).await.unwrap();
    }
    // 37 is coprime with 60: a fixed permutation, far from sorted.
    let shuffled: Vec<Build> = (0..60).map(|i| history[i * 37 % 60].clone()).collect();
    store.ingest(shuffled).await.unwrap();
    let cells = |branch: &'static str| async move {
        let mut cells = store.cells(branch).await.unwrap();
        cells.sort_by(|a, b| a.arch.cmp(&b.arch));
        serde_json::to_string(&cells)
            .unwrap()
            .replace("ref-", "")
            .replace("\"ref\"", "\"master\"")
    };
    assert_eq!(cells("master").await, cells("ref").await);
}

pub async fn manages_tokens(store: &dyn Store) {
    store
        .create_token("ci", &"a".repeat(64), Grants::default())
        .await
        .unwrap();
    store
        .create_token("lab", &"b".repeat(64), Grants::ADMIN)
        .await
        .unwrap();
    assert!(matches!(
        store.create_token("ci", &"c".repeat(64), Grants::default()).await,
        Err(StoreError::TokenExists(name)) if name == "ci"
    ));
    let tokens = store.tokens().await.unwrap();
    assert_eq!(
        tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["ci", "lab"]
    );
    assert_eq!(tokens[0].hash, "a".repeat(64));
    assert_eq!(
        (tokens[0].grants, tokens[1].grants),
        (Grants::default(), Grants::ADMIN)
    );
    let on_call = Grants {
        admin: false,
        freeze: true,
    };
    store
        .create_token("on-call", &"d".repeat(64), on_call)
        .await
        .unwrap();
    assert_eq!(store.tokens().await.unwrap()[2].grants, on_call);
    assert!(store.revoke_token("on-call").await.unwrap());
    assert_eq!(tokens[0].last_used_at, None);
    let used = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    store.touch_token("ci", used).await.unwrap();
    assert_eq!(store.tokens().await.unwrap()[0].last_used_at, Some(used));
    assert!(store.revoke_token("ci").await.unwrap());
    assert!(!store.revoke_token("ci").await.unwrap());
    // Using a revoked token's name does not bring it back.
    store.touch_token("ci", used).await.unwrap();
    assert_eq!(store.tokens().await.unwrap().len(), 1);
}

fn cell_id(cell: (&str, &str, &str)) -> CellId {
    CellId {
        branch: "master".into(),
        component: cell.0.into(),
        arch: cell.1.into(),
        build_type: cell.2.into(),
    }
}

pub async fn finds_commits_by_prefix_and_pr(store: &dyn Store) {
    let mut a = build("a", AGW_ARM, 1, BuildResult::Pass);
    a.commit = format!("abc{}", "1".repeat(37));
    a.pr = Some(42);
    let mut b = build("b", AGW_ARM, 2, BuildResult::Pass);
    b.commit = format!("abd{}", "2".repeat(37));
    b.pr = None;
    let mut b_release = b.clone();
    b_release.id = "b2".into();
    b_release.branch = "v1.8".into();
    store
        .ingest(vec![a.clone(), b.clone(), b_release])
        .await
        .unwrap();

    let found = store.commits_by_prefix("ab", 10).await.unwrap();
    assert_eq!(found.len(), 3, "one entry per branch of each commit");
    assert_eq!(found[0].commit, b.commit, "newest first");
    let found = store.commits_by_prefix("ABC", 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].pr, found[0].title.as_deref()),
        (Some(42), Some("Fix Vec<u8> parsing"))
    );
    assert!(store.commits_by_prefix("abe", 10).await.unwrap().is_empty());
    assert_eq!(
        store.commits_by_pr(42, 10).await.unwrap()[0].commit,
        a.commit
    );
    assert!(store.commits_by_pr(43, 10).await.unwrap().is_empty());
    assert_eq!(store.builds_of_commit(&b.commit).await.unwrap().len(), 2);
}

pub async fn finds_baselines(store: &dyn Store) {
    let mut builds = vec![
        build("p1", AGW_ARM, 1, BuildResult::Pass),
        build("f2", AGW_ARM, 2, BuildResult::Fail),
        build("e3", AGW_ARM, 3, BuildResult::Error),
        build("f4", AGW_ARM, 4, BuildResult::Fail),
        build("x5", AGW_ARM, 5, BuildResult::Fail),
    ];
    builds[3].commit = "c".repeat(40);
    store.ingest(builds.clone()).await.unwrap();
    let at = |b: &Build| Cursor::of(b);
    let baseline = walk::baseline(
        store,
        &cell_id(AGW_ARM),
        &builds[4].commit,
        None,
        &at(&builds[4]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(baseline.build.id, "f4");
    assert_eq!(baseline.streak_since.unwrap().id, "f2");
    // With a parent, the parent's build is the baseline.
    let baseline = walk::baseline(
        store,
        &cell_id(AGW_ARM),
        &builds[4].commit,
        Some(&builds[0].commit),
        &at(&builds[4]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (baseline.build.id.as_str(), baseline.streak_since),
        ("p1", None)
    );
    assert_eq!(
        walk::baseline(
            store,
            &cell_id(AGW_ARM),
            &builds[0].commit,
            None,
            &at(&builds[0])
        )
        .await
        .unwrap(),
        None
    );
}

pub async fn recent_commits_and_versions(store: &dyn Store) {
    let mut builds = Vec::new();
    for i in 0..5 {
        let mut b = build(&format!("r{i}"), AGW_ARM, i, BuildResult::Pass);
        b.version = Some(if i < 4 {
            "1.8.0".into()
        } else {
            "1.8.1".into()
        });
        builds.push(b);
    }
    store.ingest(builds.clone()).await.unwrap();
    let recent = store.recent_commits("master", 2).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].0, builds[4].commit);
    assert_eq!(recent[0].1[0].id, "r4");
    let versions = store.versions("master").await.unwrap();
    assert_eq!(versions.len(), 5);
    assert!(store.versions("v1.8").await.unwrap().is_empty());
}

pub async fn pages_builds_newest_first(store: &dyn Store) {
    let builds: Vec<Build> = (0..25)
        .map(|i| {
            let cell = if i % 2 == 0 { AGW_ARM } else { AGW_AMD };
            let result = if i % 5 == 0 {
                BuildResult::Fail
            } else {
                BuildResult::Pass
            };
            build(&format!("h{i:02}"), cell, i, result)
        })
        .collect();
    store.ingest(builds).await.unwrap();
    let filter = BuildFilter {
        arch: Some("arm64".into()),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.builds(&filter, cursor.as_ref(), 5).await.unwrap();
        if page.is_empty() {
            break;
        }
        cursor = page.last().map(Cursor::of);
        seen.extend(page.into_iter().map(|b| b.id));
    }
    let expected: Vec<String> = (0..25)
        .rev()
        .filter(|i| i % 2 == 0)
        .map(|i| format!("h{i:02}"))
        .collect();
    assert_eq!(seen, expected);
    let failures = BuildFilter {
        result: Some(BuildResult::Fail),
        since: Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 10, 0).unwrap()),
        ..Default::default()
    };
    let ids: Vec<String> = store
        .builds(&failures, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, ["h20", "h15", "h10"]);
}

pub async fn scans_a_cells_builds_newest_first(store: &dyn Store) {
    use BuildResult::*;
    let mut builds: Vec<Build> = [Pass, Running, Fail, Error, Pass, Fail]
        .into_iter()
        .enumerate()
        .map(|(i, r)| build(&format!("s{i}"), AGW_ARM, i as i64, r))
        .collect();
    builds[4].commit = builds[2].commit.clone();
    builds.push(build("other-cell", AGW_AMD, 9, Fail));
    store.ingest(builds.clone()).await.unwrap();
    let scan = |kind, commit: Option<&Build>, below: Option<&Build>, limit| CellScan {
        kind,
        commit: commit.map(|b| b.commit.clone()),
        below: below.map(Cursor::of),
        limit,
    };
    let ids = |scan: CellScan| async move {
        store
            .cell_builds(&cell_id(AGW_ARM), &scan)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(scan(ScanKind::Decisive, None, None, 10)).await,
        ["s5", "s4", "s2", "s0"]
    );
    assert_eq!(
        ids(scan(ScanKind::Finished, None, None, 2)).await,
        ["s5", "s4"]
    );
    assert_eq!(ids(scan(ScanKind::Running, None, None, 10)).await, ["s1"]);
    assert_eq!(
        ids(scan(ScanKind::Finished, None, Some(&builds[4]), 10)).await,
        ["s3", "s2", "s0"],
        "strictly below the cursor"
    );
    assert_eq!(
        ids(scan(ScanKind::Decisive, Some(&builds[2]), None, 10)).await,
        ["s4", "s2"],
        "one commit's"
    );
    assert_eq!(
        ids(scan(
            ScanKind::Decisive,
            Some(&builds[2]),
            Some(&builds[4]),
            10
        ))
        .await,
        ["s2"]
    );
}

/// Builds of one start time are ordered by id, whatever order they arrive
/// in; the cell comes out the same as when they arrive in order.
pub async fn ties_in_start_time_are_ordered_by_id(store: &dyn Store) {
    use BuildResult::*;
    let results = [Pass, Fail, Fail, Pass, Fail, Error, Fail];
    let tied = |i: usize, r| {
        let mut b = build(&format!("t{i}"), AGW_ARM, 0, r);
        b.commit = format!("{i:0>40}");
        b
    };
    // Reversed, one post each: every build after the first arrives "late".
    for (i, r) in results.iter().enumerate().rev() {
        store.ingest(vec![tied(i, *r)]).await.unwrap();
    }
    let cell = store.cells("master").await.unwrap().remove(0);
    assert_eq!(cell.latest.as_ref().unwrap().id, "t6");
    let streak = cell.streak.clone().unwrap();
    assert_eq!((streak.since.id.as_str(), streak.builds), ("t4", 2));
    assert_eq!(cell.last_pass.clone().flatten().unwrap().id, "t3");
}

pub async fn announces_cell_changes(store: &dyn Store) {
    let mut events = store.subscribe();
    store
        .ingest(vec![build("live", AGW_ARM, 1, BuildResult::Fail)])
        .await
        .unwrap();
    let cell = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let cell = events.recv().await.unwrap();
            if cell.latest.as_ref().is_some_and(|l| l.id == "live") {
                return cell;
            }
        }
    })
    .await
    .expect("the change is announced");
    assert_eq!(
        (cell.arch.as_str(), cell.status()),
        ("arm64", BuildResult::Fail)
    );
}

/// Instantiates every conformance test for one store. `$make` is an async
/// expression giving `(store, guard)`; the guard keeps test resources alive.
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::store::conformance::conformance_suite!(@tests $make;
            stores_every_field,
            cells_follow_ingestion,
            late_arrivals_do_not_overwrite,
            replays_are_no_ops_and_updates_apply,
            builds_belong_to_the_token_that_posted_them,
            keeps_incidents,
            queues_and_leases_deliveries,
            keeps_test_results,
            stores_builds_at_the_validation_limits,
            tracks_many_long_test_names,
            records_manual_freezes,
            batches_are_all_or_nothing,
            lists_branches,
            many_builds_in_one_cell,
            batch_order_does_not_matter,
            manages_tokens,
            finds_commits_by_prefix_and_pr,
            finds_baselines,
            recent_commits_and_versions,
            pages_builds_newest_first,
            scans_a_cells_builds_newest_first,
            ties_in_start_time_are_ordered_by_id,
            announces_cell_changes,
        );
    };
    (@tests $make:expr; $($name:ident,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                // None: a store that is not there to test (see `emulator`).
                let made = $make;
                let Some((store, _guard)) = made else {
                    return;
                };
                $crate::store::conformance::$name(&*store).await;
            }
        )*
    };
}
pub(crate) use conformance_suite;

/// The Firestore emulator's address, when there is one to test against. A
/// plain `cargo test` without it says once how to run the Firestore suite
/// and skips it; `./scripts/test` sets `CI_DASHBOARD_REQUIRE_EMULATOR`, so
/// there a missing emulator fails every Firestore test instead.
pub fn emulator() -> Option<String> {
    static SAID: std::sync::Once = std::sync::Once::new();
    let host = std::env::var("FIRESTORE_EMULATOR_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    if host.is_none() {
        assert!(
            std::env::var_os("CI_DASHBOARD_REQUIRE_EMULATOR").is_none(),
            "FIRESTORE_EMULATOR_HOST is unset, and this run requires the Firestore emulator"
        );
        // Straight to stderr: the test harness would capture eprintln!.
        SAID.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "Firestore suite skipped: it needs the emulator. Run ./scripts/test, or start \
                 the emulator and set FIRESTORE_EMULATOR_HOST (README, \"Deploying on Cloud \
                 Firestore\")."
            );
        });
    }
    host
}
