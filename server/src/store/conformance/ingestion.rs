//! Posts: fields kept, cells moved, replays, late arrivals, batches, limits,
//! and the change feed.

use app::model::BuildResult;

use super::fixtures::{build, AGW_AMD, AGW_ARM};
use crate::store::{Store, StoreError};
use app::model::Build;

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
    cells.sort_by(|a, b| a.cell.arch.cmp(&b.cell.arch));
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

/// The longest values validation lets through: a branch of 255 characters
/// a document id must escape, a version of 256 four-byte characters.
pub async fn stores_builds_at_the_validation_limits(store: &dyn Store) {
    let mut b = build("limits", AGW_ARM, 1, BuildResult::Pass);
    b.cell.branch = "%".repeat(255);
    b.version = Some("\u{1D11E}".repeat(256));
    store.ingest(vec![b.clone()]).await.unwrap();
    assert_eq!(store.build("limits").await.unwrap(), Some(b.clone()));
    assert_eq!(store.cells(&b.cell.branch).await.unwrap().len(), 1);
    assert_eq!(
        store.versions(&b.cell.branch).await.unwrap(),
        [(b.version.clone().unwrap(), b.commit.clone())]
    );
}

pub async fn batches_are_all_or_nothing(store: &dyn Store) {
    store
        .ingest(vec![build("a", AGW_ARM, 1, BuildResult::Pass)])
        .await
        .unwrap();
    let mut moved = build("a", AGW_AMD, 1, BuildResult::Pass);
    moved.cell.component = "feg".into();
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
    assert_eq!(
        store.build("a").await.unwrap().unwrap().cell.component,
        "agw"
    );
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
        one.cell.branch = "ref".into();
        store.ingest(vec![one]).await.unwrap();
    }
    // 37 is coprime with 60: a fixed permutation, far from sorted.
    let shuffled: Vec<Build> = (0..60).map(|i| history[i * 37 % 60].clone()).collect();
    store.ingest(shuffled).await.unwrap();
    let cells = |branch: &'static str| async move {
        let mut cells = store.cells(branch).await.unwrap();
        cells.sort_by(|a, b| a.cell.arch.cmp(&b.cell.arch));
        serde_json::to_string(&cells)
            .unwrap()
            .replace("ref-", "")
            .replace("\"ref\"", "\"master\"")
    };
    assert_eq!(cells("master").await, cells("ref").await);
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
        (cell.cell.arch.as_str(), cell.status()),
        ("arm64", BuildResult::Fail)
    );
}
