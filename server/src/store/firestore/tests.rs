use super::names::{doc_id, seq, seq_floor, MAX_DOC_ID};
use super::*;

#[test]
fn document_ids_are_valid_and_distinct() {
    assert_eq!(doc_id(&["release/v1.8", "agw"]), "release%2Fv1.8|agw");
    assert_eq!(doc_id(&[".."]), "%2E.");
    assert_eq!(doc_id(&["__x__"]), "%5F_x__");
    assert_ne!(doc_id(&["a|b", "c"]), doc_id(&["a", "b|c"]));
    assert_ne!(doc_id(&["a%7Cb"]), doc_id(&["a|b"]));
    // The longest parts validation lets through still make an id that
    // fits, distinct from its neighbours.
    let branch = "%".repeat(255);
    let version = "\u{1D11E}".repeat(256);
    let long = doc_id(&[&branch, &version, &"a".repeat(40)]);
    assert!(long.len() <= MAX_DOC_ID, "{}", long.len());
    assert_ne!(long, doc_id(&[&branch, &version, &"b".repeat(40)]));
    assert_eq!(doc_id(&["a"; 3]), "a|a|a", "short ids are unchanged");
}

#[test]
fn seq_sorts_like_time_then_id() {
    let t = |micros| DateTime::from_timestamp_micros(micros).unwrap();
    assert!(seq(t(9), "z") < seq(t(10), "a"));
    assert!(seq(t(10), "a") < seq(t(10), "b"));
    assert!(seq_floor(t(10)) <= seq(t(10), "a"));
    assert!(seq_floor(t(10)) > seq(t(9), "zzz"));
}

crate::store::conformance::conformance_suite!(match crate::store::conformance::emulator() {
    None => None,
    Some(_) => {
        // One project per test keeps parallel tests apart on one emulator.
        let settings = FirestoreSettings {
            project: format!("test-{}", uuid::Uuid::new_v4().simple()),
            database: None,
            timeout: Duration::from_secs(10),
        };
        let store = FirestoreStore::open(&settings).await.unwrap();
        Some((Box::new(store) as Box<dyn Store>, ()))
    }
});
