//! JUnit uploads: replays, totals, failures, per-test records, tracked tests.

use app::model::BuildResult;
use chrono::{TimeZone, Utc};

use super::fixtures::{build, AGW_AMD, AGW_ARM};
use crate::store::{CellId, Store};
use app::model::Build;

/// One JUnit file of `build` as the upload query makes it.
fn upload_of(
    build: &Build,
    hash: &str,
    cases: Vec<app::model::TestCase>,
) -> crate::store::TestUpload {
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
            flaky: false,
        })
        .collect();
    crate::store::TestUpload {
        build: build.id.clone(),
        cell: build.cell.clone(),
        commit: build.commit.clone(),
        at: build.started_at,
        hash: hash.into(),
        tests: cases.len(),
        totals: crate::domain::junit::totals(&cases),
        per_test: crate::domain::junit::collapse(&cases),
        cases,
        failures,
        infrastructure: false,
        rules: crate::domain::signal::SignalRules::new(&Default::default(), 3).unwrap(),
    }
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
        let cases = (0..crate::store::MAX_TOUCHED_STATS)
            .map(|i| case(name(n, i), TestStatus::Failed))
            .collect();
        assert!(store
            .add_tests(&upload_of(&b, "f", cases))
            .await
            .unwrap()
            .is_some());
    }
    let b = build("t6", AGW_ARM, 6, BuildResult::Pass);
    store.ingest(vec![b.clone()]).await.unwrap();
    let passed = vec![case(name(0, 0), TestStatus::Passed)];
    assert!(store
        .add_tests(&upload_of(&b, "f", passed))
        .await
        .unwrap()
        .is_some());
    let records = store
        .test_stats(std::slice::from_ref(&b.cell), &name(0, 0))
        .await
        .unwrap();
    assert_eq!(
        (records[0].runs, records[0].last_status),
        (2, TestStatus::Passed)
    );
}

/// A build's JUnit files add up; the same file again is a replay; pages
/// read failures and totals without the passing tests.
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
    assert!(store
        .add_tests(&upload("f1", first.clone()))
        .await
        .unwrap()
        .is_some());
    assert!(store
        .add_tests(&upload("f2", second.clone()))
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .add_tests(&upload("f1", first.clone()))
            .await
            .unwrap()
            .is_none(),
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
            duration_s: 0.5 * 6_003.0,
            flaky: 0,
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
            .find(|c| c.cell.arch == AGW_ARM.1)
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
    assert!(store.add_tests(&passing).await.unwrap().is_some());
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

/// An upload answers what it moved: each test record before and after,
/// and the cell it made one judged by its tests; the cell counts its runs
/// with results; an infrastructure failure moves no record.
pub async fn reports_what_an_upload_moved(store: &dyn Store) {
    use app::model::{TestCase, TestStatus};
    let case = |name: &str, status: TestStatus| TestCase {
        suite: "lte".into(),
        name: name.into(),
        status,
        time_s: None,
        message: None,
    };
    let cases = || {
        vec![
            case("t::broken", TestStatus::Failed),
            case("t::fine", TestStatus::Passed),
        ]
    };
    let runs = |cell: &app::model::Cell| -> u32 {
        cell.results.as_ref().map_or(0, |r| r.runs.iter().sum())
    };
    let b1 = build("m1", AGW_AMD, 0, BuildResult::Fail);
    store.ingest(vec![b1.clone()]).await.unwrap();
    let first = store
        .add_tests(&upload_of(&b1, "f1", cases()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.moves.len(), 1, "only the failure starts a record");
    assert_eq!(first.moves[0].before, None);
    assert_eq!(first.moves[0].after.streak, 1);
    let was = first.became_tested.expect("its first results");
    assert!(!was.is_tested());
    let cell = &store.cells("master").await.unwrap()[0];
    assert!(cell.is_tested());
    assert_eq!(runs(cell), 1);

    let b2 = build("m2", AGW_AMD, 1, BuildResult::Fail);
    store.ingest(vec![b2.clone()]).await.unwrap();
    let second = store
        .add_tests(&upload_of(&b2, "f2", cases()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.moves[0].before.as_ref().unwrap().streak, 1);
    assert_eq!(second.moves[0].after.streak, 2);
    assert_eq!(
        second.moves[0].after.failing_since.as_deref(),
        Some(b1.commit.as_str())
    );
    assert!(second.became_tested.is_none());
    // A second file of the same build is no second run.
    let more = vec![case("t::other", TestStatus::Passed)];
    store
        .add_tests(&upload_of(&b2, "f3", more))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(runs(&store.cells("master").await.unwrap()[0]), 2);

    let b3 = build("m3", AGW_AMD, 2, BuildResult::Error);
    store.ingest(vec![b3.clone()]).await.unwrap();
    let mut infra = upload_of(&b3, "f4", cases());
    infra.infrastructure = true;
    let third = store.add_tests(&infra).await.unwrap().unwrap();
    assert!(third.moves.is_empty());
    assert_eq!(runs(&store.cells("master").await.unwrap()[0]), 2);
    let stats = store
        .test_stats(std::slice::from_ref(&b1.cell), "t::broken")
        .await
        .unwrap();
    assert_eq!(stats[0].streak, 2, "the infrastructure failure is no run");
}
