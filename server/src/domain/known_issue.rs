//! Known issues: rules that tie failures to an issue (by their reason, a
//! glob over test names, a substring of the message; every criterion a
//! rule gives must match), so that on-call sees "known: #1234" instead of
//! investigating again. Rules are matched when failures are read, so a new
//! rule applies to past failures too.

use app::model::{is_http_url, FailureReason, KnownIssue, KnownIssueMatch, ReasonGroup};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wildmatch::WildMatch;

use super::field_error::{object, text, FieldError};
use super::junit;
use super::reason::reason;

/// Rules a dashboard keeps at most: each failure read is matched against
/// all of them.
pub const MAX_RULES: usize = 1000;
const MAX_URL: usize = 2048;
const MAX_MESSAGE: usize = 500;

/// `POST /api/v1/known-issues`' body, made by `by` at `now`.
pub fn parse(body: &Value, by: &str, now: DateTime<Utc>) -> Result<KnownIssue, FieldError> {
    let body = object(body, &["url", "reason_id", "test", "message"])?;
    let url = text(body, "url")?.ok_or_else(|| FieldError::field("url", "url is required"))?;
    if !is_http_url(url) || url.len() > MAX_URL {
        return Err(FieldError::field("url", "url must be an http(s) URL"));
    }
    let reason_id = text(body, "reason_id")?;
    if reason_id.is_some_and(|r| r.len() != 12 || !r.chars().all(|c| c.is_ascii_hexdigit())) {
        return Err(FieldError::field(
            "reason_id",
            "reason_id must be a reason's id (12 hex digits, from /api/v1/failures)",
        ));
    }
    let test = text(body, "test")?;
    if test.is_some_and(|t| t.chars().count() > junit::MAX_NAME) {
        return Err(FieldError::field("test", "test is too long"));
    }
    let message = text(body, "message")?;
    if message.is_some_and(|m| m.chars().count() > MAX_MESSAGE) {
        return Err(FieldError::field(
            "message",
            format!("message is longer than {MAX_MESSAGE} characters"),
        ));
    }
    if reason_id.is_none() && test.is_none() && message.is_none() {
        return Err(FieldError::field(
            "reason_id",
            "a rule needs reason_id, test or message: what it matches",
        ));
    }
    let own = |v: Option<&str>| v.map(str::to_string);
    let digest = Sha256::digest(
        format!(
            "{url}\n{}\n{}\n{}",
            reason_id.unwrap_or_default(),
            test.unwrap_or_default(),
            message.unwrap_or_default()
        )
        .as_bytes(),
    );
    Ok(KnownIssue {
        id: hex::encode(&digest[..6]),
        url: url.to_string(),
        reason_id: own(reason_id).map(|r| r.to_ascii_lowercase()),
        test: own(test),
        message: own(message),
        by: by.to_string(),
        created_at: now,
    })
}

/// Whether `rule` matches a failure of `test` with `message` and `reason`.
pub fn matches(
    rule: &KnownIssue,
    test: &str,
    message: Option<&str>,
    reason: &FailureReason,
) -> bool {
    rule.reason_id.as_ref().is_none_or(|r| *r == reason.id)
        && rule
            .test
            .as_ref()
            .is_none_or(|t| WildMatch::new(t).matches(test))
        && rule
            .message
            .as_ref()
            .is_none_or(|m| message.is_some_and(|text| text.contains(m.as_str())))
}

/// Failures (test name, message) grouped by their reason, in the order
/// their reasons first appear, each group with the known issue its first
/// matching test is tied to.
pub fn group<'a>(
    failures: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    rules: &[KnownIssue],
) -> Vec<ReasonGroup> {
    let mut groups: Vec<ReasonGroup> = Vec::new();
    for (test, message) in failures {
        let why = reason(message);
        let known = find(rules, test, message, &why);
        match groups.iter_mut().find(|g| g.reason == why) {
            Some(group) => {
                group.tests.push(test.to_string());
                if group.known_issue.is_none() {
                    group.known_issue = known;
                }
            }
            None => groups.push(ReasonGroup {
                reason: why,
                tests: vec![test.to_string()],
                known_issue: known,
            }),
        }
    }
    groups
}

/// The first rule (oldest first) matching a failure.
pub fn find(
    rules: &[KnownIssue],
    test: &str,
    message: Option<&str>,
    reason: &FailureReason,
) -> Option<KnownIssueMatch> {
    rules
        .iter()
        .find(|r| matches(r, test, message, reason))
        .map(|r| KnownIssueMatch {
            url: r.url.clone(),
            rule: r.id.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(message: &str) -> FailureReason {
        reason(Some(message))
    }

    #[test]
    fn rules_match_by_reason_test_glob_or_message() {
        let now = Utc::now();
        let timeout = failure("Timeout after 30s waiting for attach");
        let by_reason = parse(
            &json!({"url": "https://github.com/magma/magma/issues/1234", "reason_id": timeout.id}),
            "on-call",
            now,
        )
        .unwrap();
        assert!(matches(
            &by_reason,
            "s1ap::test_attach",
            None,
            &failure("Timeout after 12s waiting for attach")
        ));
        assert!(!matches(
            &by_reason,
            "s1ap::test_attach",
            None,
            &failure("assert 1 == 2")
        ));
        let by_test = parse(
            &json!({"url": "https://github.com/magma/magma/issues/77", "test": "s1ap::test_paging*", "message": "SCTP"}),
            "on-call",
            now,
        )
        .unwrap();
        let sctp = Some("SCTP association lost");
        assert!(matches(
            &by_test,
            "s1ap::test_paging[uplink]",
            sctp,
            &failure("x")
        ));
        assert!(!matches(
            &by_test,
            "s1ap::test_paging[uplink]",
            Some("timeout"),
            &failure("x")
        ));
        assert!(!matches(&by_test, "s1ap::test_attach", sctp, &failure("x")));
        let found = find(
            &[by_test.clone(), by_reason.clone()],
            "s1ap::test_attach",
            None,
            &timeout,
        );
        assert_eq!(found.unwrap().rule, by_reason.id);
        assert_eq!(
            parse(
                &json!({"url": by_reason.url, "reason_id": timeout.id}),
                "someone",
                now
            )
            .unwrap()
            .id,
            by_reason.id,
            "the same rule has the same id"
        );
    }

    #[test]
    fn rules_are_checked_field_by_field() {
        let now = Utc::now();
        for (body, field) in [
            (json!({"test": "x"}), "url"),
            (json!({"url": "javascript:alert(1)", "test": "x"}), "url"),
            (json!({"url": "https://x.org/1"}), "reason_id"),
            (
                json!({"url": "https://x.org/1", "reason_id": "nothex"}),
                "reason_id",
            ),
            (json!({"url": "https://x.org/1", "test": 3}), "test"),
            (
                json!({"url": "https://x.org/1", "test": "x", "owner": "me"}),
                "owner",
            ),
        ] {
            let e = parse(&body, "on-call", now).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{body}: {}", e.message);
        }
    }

    #[test]
    fn failures_group_by_reason_with_their_known_issue() {
        let rule = parse(
            &json!({"url": "https://github.com/magma/magma/issues/1234", "test": "s1ap::test_paging*"}),
            "on-call",
            Utc::now(),
        )
        .unwrap();
        let groups = group(
            [
                (
                    "s1ap::test_attach",
                    Some("Timeout after 30s waiting for attach"),
                ),
                (
                    "s1ap::test_paging[1]",
                    Some("Timeout after 12s waiting for attach"),
                ),
                ("s1ap::test_detach", Some("assert 1 == 2")),
            ],
            &[rule],
        );
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0].tests,
            ["s1ap::test_attach", "s1ap::test_paging[1]"]
        );
        assert_eq!(
            groups[0].reason.text,
            "Timeout after <n>s waiting for attach"
        );
        assert_eq!(groups[0].known_issue.as_ref().unwrap().label(), "#1234");
        assert_eq!(groups[1].known_issue, None);
    }

    #[test]
    fn an_issue_link_reads_as_its_number() {
        let label = |url: &str| {
            KnownIssueMatch {
                url: url.into(),
                rule: "r".into(),
            }
            .label()
        };
        assert_eq!(label("https://github.com/magma/magma/issues/1234"), "#1234");
        assert_eq!(label("https://github.com/magma/magma/pull/99/"), "#99");
        assert_eq!(
            label("https://jira.example.org/browse/MAG-7"),
            "https://jira.example.org/browse/MAG-7"
        );
    }
}
