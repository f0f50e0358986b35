//! Quarantine entries: applied as the domain's rule says, listed per
//! branch while they are in, kept (with why) when they leave.

use app::model::QuarantinedTest;
use chrono::{TimeDelta, Utc};

use crate::domain::quarantine::QuarantineChange;
use crate::store::{CellId, Store};

fn entry(cell: &CellId, name: &str) -> QuarantinedTest {
    QuarantinedTest {
        cell: cell.clone(),
        name: name.into(),
        reason: "flaky, tracked in #1234".into(),
        since: Utc::now(),
        by: "on-call".into(),
        expires_at: None,
        evidence_url: Some("https://github.com/magma/magma/issues/1234".into()),
        clean_runs: 0,
        released_at: None,
        released_why: None,
    }
}

pub async fn keeps_quarantine_entries(store: &dyn Store) {
    let lte = CellId::new("master", "lte", "amd64", "integ-test");
    let paging = entry(&lte, "s1ap::test_paging[uplink-64]");
    let added = store
        .update_quarantine(&QuarantineChange::Add(paging.clone()))
        .await
        .unwrap();
    assert!(added.entered);
    assert_eq!(added.after.as_ref(), Some(&paging));
    let again = store
        .update_quarantine(&QuarantineChange::Add(paging.clone()))
        .await
        .unwrap();
    assert!(
        !again.entered && !again.changed,
        "the same again changes nothing"
    );
    let other_branch = CellId::new("v1.8", "lte", "amd64", "integ-test");
    let arm = CellId::new("master", "lte", "arm64", "integ-test");
    for e in [
        entry(&other_branch, "s1ap::test_paging[uplink-64]"),
        entry(&arm, "test_attach"),
    ] {
        store
            .update_quarantine(&QuarantineChange::Add(e))
            .await
            .unwrap();
    }
    let listed = store.quarantined("master").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], paging, "ordered by cell, then name");

    // A clean run counts; the needed number releases it, kept with why.
    let ran = |clean, needed| QuarantineChange::Ran {
        cell: lte.clone(),
        name: paging.name.clone(),
        clean,
        at: Utc::now() + TimeDelta::seconds(1),
        needed,
    };
    let once = store.update_quarantine(&ran(true, 2)).await.unwrap();
    assert_eq!(once.after.unwrap().clean_runs, 1);
    let out = store.update_quarantine(&ran(true, 2)).await.unwrap();
    assert_eq!(
        out.after.unwrap().released_why.as_deref(),
        Some("2 clean runs in a row")
    );
    let listed = store.quarantined("master").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].cell, arm);

    let removed = store
        .update_quarantine(&QuarantineChange::Remove {
            cell: arm.clone(),
            name: "test_attach".into(),
            by: "on-call".into(),
            at: Utc::now() + TimeDelta::seconds(1),
        })
        .await
        .unwrap();
    assert!(removed.changed);
    assert!(store.quarantined("master").await.unwrap().is_empty());
    assert_eq!(store.quarantined("v1.8").await.unwrap().len(), 1);
    // Back in: a new entry, counting from zero.
    let back = store
        .update_quarantine(&QuarantineChange::Add(entry(&lte, &paging.name)))
        .await
        .unwrap();
    assert!(back.entered);
    assert_eq!(store.quarantined("master").await.unwrap().len(), 1);
}

pub async fn keeps_known_issue_rules(store: &dyn Store) {
    use crate::domain::known_issue::parse;
    let now = Utc::now();
    let first = parse(
        &serde_json::json!({"url": "https://github.com/magma/magma/issues/1234", "test": "s1ap::*"}),
        "on-call",
        now,
    )
    .unwrap();
    let second = parse(
        &serde_json::json!({"url": "https://github.com/magma/magma/issues/77", "message": "SCTP"}),
        "on-call",
        now + TimeDelta::seconds(1),
    )
    .unwrap();
    assert!(store.put_known_issue(&second).await.unwrap());
    assert!(store.put_known_issue(&first).await.unwrap());
    assert!(
        !store.put_known_issue(&first).await.unwrap(),
        "the same rule once"
    );
    assert_eq!(
        store.known_issues().await.unwrap(),
        [first.clone(), second.clone()],
        "oldest first"
    );
    assert!(store.remove_known_issue(&first.id).await.unwrap());
    assert!(!store.remove_known_issue(&first.id).await.unwrap());
    assert_eq!(store.known_issues().await.unwrap(), [second]);
}

pub async fn keeps_failure_reasons(store: &dyn Store) {
    use crate::domain::reason::updates;
    use app::model::CellKey;
    let now = Utc::now();
    let arm = CellKey::new("lte", "arm64", "integ-test");
    let failures = [
        (
            "s1ap::test_attach",
            Some("Timeout after 30s waiting for attach"),
        ),
        (
            "s1ap::test_detach",
            Some("Timeout after 12s waiting for attach"),
        ),
        ("s1ap::test_paging", Some("assert 1 == 2")),
    ];
    let first = updates("master", &arm, "b1", now - TimeDelta::days(2), failures);
    store.record_reasons(&first).await.unwrap();
    // The same build again adds nothing; another build adds its failures.
    store.record_reasons(&first).await.unwrap();
    let amd = CellKey::new("lte", "amd64", "integ-test");
    store
        .record_reasons(&updates("master", &amd, "b2", now, failures))
        .await
        .unwrap();
    store
        .record_reasons(&updates("v1.8", &amd, "b3", now, failures))
        .await
        .unwrap();
    let records = store
        .reasons("master", now - TimeDelta::days(7), 10)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    let timeouts = records
        .iter()
        .find(|r| r.reason.text == "Timeout after <n>s waiting for attach")
        .unwrap();
    let failures: u32 = timeouts.days.iter().map(|d| d.failures).sum();
    assert_eq!(failures, 4, "two tests in each of two builds");
    assert_eq!(timeouts.builds, ["b2", "b1"]);
    assert_eq!(timeouts.cells, [arm, amd]);
    assert!(store
        .reasons("master", now + TimeDelta::hours(1), 10)
        .await
        .unwrap()
        .is_empty());
}
