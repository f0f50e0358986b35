//! Reads pages make: branches, commit search, baselines, recent commits,
//! versions, build pages and cell scans.

use app::model::BuildResult;
use chrono::{TimeZone, Utc};

use super::fixtures::{build, cell_id, AGW_AMD, AGW_ARM};
use crate::store::{walk, BuildFilter, CellScan, CommitCursor, Cursor, ScanKind, Store};
use app::model::Build;

pub async fn lists_branches(store: &dyn Store) {
    assert!(store.branches().await.unwrap().is_empty());
    let mut release = build("r", AGW_ARM, 1, BuildResult::Pass);
    release.cell.branch = "v1.8".into();
    store
        .ingest(vec![release, build("m", AGW_ARM, 1, BuildResult::Pass)])
        .await
        .unwrap();
    assert_eq!(store.branches().await.unwrap(), ["master", "v1.8"]);
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
    b_release.cell.branch = "v1.8".into();
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
    let recent = store.recent_commits("master", None, 2).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].commit, builds[4].commit);
    assert_eq!(recent[0].builds[0].id, "r4");
    assert_eq!(recent[0].last_started_at, builds[4].started_at);
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

/// The console's pages: every commit once, newest first, whatever ties in
/// start time the page boundaries fall on; reruns are the commit's builds.
pub async fn pages_commits_through_ties(store: &dyn Store) {
    let mut builds = Vec::new();
    for i in 0..7 {
        // Commits 2, 3 and 4 start at the same minute.
        let minute = if (2..=4).contains(&i) { 2 } else { i };
        let mut b = build(&format!("c{i}"), AGW_ARM, minute, BuildResult::Pass);
        b.commit = format!("{i:0>40}");
        builds.push(b);
    }
    let mut rerun = build("c5-again", AGW_AMD, 5, BuildResult::Fail);
    rerun.commit = format!("{:0>40}", 5);
    builds.push(rerun);
    let mut elsewhere = build("other", AGW_ARM, 9, BuildResult::Pass);
    elsewhere.cell.branch = "v1.8".into();
    builds.push(elsewhere);
    store.ingest(builds).await.unwrap();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .recent_commits("master", before.as_ref(), 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        before = page.last().map(CommitCursor::after);
        seen.extend(page);
    }
    let order: Vec<String> = seen.iter().map(|c| c.commit[39..].to_string()).collect();
    assert_eq!(order, ["6", "5", "4", "3", "2", "1", "0"]);
    let five = &seen[1];
    let mut ids: Vec<&str> = five.builds.iter().map(|b| b.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["c5", "c5-again"]);
    assert!(seen
        .iter()
        .all(|c| c.builds.iter().all(|b| b.cell.branch == "master")));
    let cursor = CommitCursor::after(&seen[2]);
    assert_eq!(CommitCursor::decode(&cursor.encode()), Some(cursor));
}
