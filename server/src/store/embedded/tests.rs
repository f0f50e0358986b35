use super::rows::get_build;
use super::schema::{connect, SCHEMA};
use super::writer::{commit_group, Work};
use super::*;

#[tokio::test]
async fn a_row_that_cannot_be_read_is_corrupt_not_unavailable() {
    use crate::store::conformance::build;
    use app::model::BuildResult;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let b = build("bad-row", ("agw", "arm64", "bazel"), 0, BuildResult::Pass);
    store.ingest(vec![b]).await.unwrap();
    Connection::open(dir.path().join(FILE_NAME))
        .unwrap()
        .execute(
            "UPDATE builds SET started_at = 'yesterday' WHERE id = 'bad-row'",
            [],
        )
        .unwrap();
    // Retrying later cannot fix it: not a 503 "retry later".
    assert!(matches!(
        store.build("bad-row").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn posts_committed_together_stay_independent() {
    use crate::store::conformance::build;
    use app::model::BuildResult;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let cell = ("agw", "arm64", "bazel");
    store
        .ingest(vec![build("taken", cell, 0, BuildResult::Pass)])
        .await
        .unwrap();
    let posts = (1..=40).map(|i| {
        let store = store.clone();
        let mut b = build(&format!("p{i}"), cell, i, BuildResult::Fail);
        if i == 20 {
            // Same id, another component: refused on its own.
            b.id = "taken".into();
            b.cell.component = "feg".into();
        }
        tokio::spawn(async move { store.ingest(vec![b]).await })
    });
    let results = futures::future::join_all(posts).await;
    let refused: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_ref().unwrap().is_err())
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(refused, [20]);
    let cell = store.cells("master").await.unwrap().remove(0);
    let streak = cell.streak.unwrap();
    assert_eq!((streak.since.id.as_str(), streak.builds), ("p1", 39));
    assert_eq!(
        store.build("taken").await.unwrap().unwrap().cell.component,
        "agw"
    );
}

/// A full disk in the middle of a group: whatever is reported stored is
/// stored, and whatever is reported failed is not.
#[test]
fn a_group_hit_by_a_full_disk_reports_only_what_it_kept() {
    use crate::store::conformance::build;
    use app::model::BuildResult;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = connect(&dir.path().join(FILE_NAME)).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "max_page_count", pages + 40)
        .unwrap();
    let cell = ("agw", "arm64", "bazel");
    let huge = (0..500)
        .map(|i| {
            let mut b = build(&format!("huge{i}"), cell, i, BuildResult::Pass);
            b.commit_title = Some("x".repeat(10_000));
            b
        })
        .collect();
    let posts = vec![
        vec![build("before", cell, 0, BuildResult::Pass)],
        huge,
        vec![build("after", cell, 1, BuildResult::Fail)],
    ]
    .into_iter()
    .map(|post| Work::Post(post, Poster::Operator))
    .collect();
    let reported: Vec<bool> = match commit_group(&mut conn, posts) {
        Ok(results) => results.iter().map(|done| !done.failed()).collect(),
        Err(_) => vec![false; 3],
    };
    assert!(!reported[1], "500 builds of 10 KB cannot fit in 40 pages");
    let stored = |id: &str| get_build(&conn, id).unwrap().is_some();
    assert_eq!(reported[0], stored("before"));
    assert_eq!(reported[2], stored("after"));
    assert!(!stored("huge0"));
}

crate::store::conformance::conformance_suite!({
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    Some((Box::new(store) as Box<dyn Store>, dir))
});
