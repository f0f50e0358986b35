//! Tokens, and builds belonging to the token that posted them.

use app::model::BuildResult;
use chrono::{TimeZone, Utc};

use super::fixtures::{build, AGW_AMD, AGW_ARM};
use crate::store::{Grants, Poster, Store, StoreError};

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
