//! Incidents, their webhook deliveries and leases, and manual freezes.

use app::model::BuildResult;
use chrono::{TimeDelta, TimeZone, Utc};

use super::fixtures::{build, AGW_ARM};
use crate::store::Store;

/// Posts report the cells they moved; incidents follow them through the
/// store's atomic update and its queries.
pub async fn keeps_incidents(store: &dyn Store) {
    use crate::domain::incident::{changes, IncidentConfig, IncidentRules};
    use app::model::IncidentState;
    let rules = IncidentRules::new(IncidentConfig::default(), "master", "v*").unwrap();
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
            components: None,
        },
        WebhookRef {
            key: "k2".into(),
            target: "two.example".into(),
            components: None,
        },
    ];
    let cell = |arch: &str| CellKey {
        component: "agw".into(),
        arch: arch.into(),
        build_type: "bazel".into(),
    };
    let red = |arch: &str, at| Change::Red {
        test: None,
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
        test: None,
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

/// A message several servers decide on at once is queued once.
pub async fn queues_a_delivery_once(store: &dyn Store) {
    use app::model::{CellNotice, NotifyEvent};
    let notice = CellNotice {
        cell: crate::store::CellId::new("master", "agw", "arm64", "bazel"),
        last_build: Utc::now() - TimeDelta::days(1),
        stale_since: Utc::now() - TimeDelta::hours(12),
    };
    let hooks = [crate::domain::notification::WebhookRef {
        key: "k1".into(),
        target: "hooks.example".into(),
        components: None,
    }];
    let deliveries = crate::domain::notification::cell_deliveries(
        NotifyEvent::CellStale,
        &notice,
        &hooks,
        notice.stale_since,
    );
    assert_eq!(store.queue_deliveries(&deliveries).await.unwrap(), 1);
    assert_eq!(store.queue_deliveries(&deliveries).await.unwrap(), 0);
    let claimed = store
        .claim_deliveries("me", Utc::now(), Utc::now() + TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].cell.as_ref(), Some(&notice));
    // Queued again while leased, or after it went out: still the one.
    assert_eq!(store.queue_deliveries(&deliveries).await.unwrap(), 0);
    assert_eq!(store.deliveries(None, 10).await.unwrap().len(), 1);
}

/// An acknowledgement is kept on its incident, and silences it: the
/// resolution it covers queues no delivery.
pub async fn keeps_acknowledgements(store: &dyn Store) {
    use crate::domain::incident::Change;
    use crate::domain::notification::WebhookRef;
    use app::model::{CellKey, IncidentState, NotifyEvent};
    let t = |second: i64| {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + TimeDelta::seconds(second)
    };
    let hooks = [WebhookRef {
        key: "k1".into(),
        target: "one.example".into(),
        components: None,
    }];
    let cell = CellKey {
        component: "lte".into(),
        arch: "amd64".into(),
        build_type: "integ-test".into(),
    };
    let id = "00000000000000bb";
    let red = Change::Red {
        test: None,
        id: id.into(),
        branch: "master".into(),
        cell: cell.clone(),
        first_bad_commit: "c".repeat(40),
        last_good_commit: None,
        at: t(0),
    };
    store.update_incident(&red, &hooks).await.unwrap();
    let ack = crate::domain::incident::parse_ack(
        id,
        &serde_json::json!({"note": "on it", "assignee": "alice", "silence_builds": 1}),
        "on-call",
        t(1),
    )
    .unwrap();
    let acked = store.update_incident(&ack, &hooks).await.unwrap().unwrap();
    assert_eq!(
        acked.triage.ack.as_ref().unwrap().assignee.as_deref(),
        Some("alice")
    );
    let read = store.incident(id).await.unwrap().unwrap();
    assert_eq!(read.triage, acked.triage);
    assert_eq!(read.triage.notes.len(), 3);
    let clear = Change::Cleared {
        id: id.into(),
        cell,
        test: None,
        at: t(2),
    };
    let resolved = store
        .update_incident(&clear, &hooks)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.state, IncidentState::Resolved);
    let queued = store.deliveries(Some(id), 10).await.unwrap();
    assert_eq!(
        queued.len(),
        1,
        "the opening only: the resolution was silenced"
    );
    assert_eq!(queued[0].event, NotifyEvent::Opened);
}
