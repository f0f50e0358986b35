//! Quarantine: tests known to fail for reasons that are not the change
//! under test (flaky ones, mostly) keep running and being recorded, but
//! open no incident and fail no job that asks `ci-dashboard gate`. A test
//! enters by hand (a token) or by the flaky rule (`[quarantine] auto`), and
//! leaves by hand, at its expiry, or after `clean_runs` clean runs in a
//! row; every way is recorded on its entry. Both stores apply these
//! changes the same way, in one transaction each.

use app::model::{is_http_url, CellId, QuarantinedTest};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::field_error::{object, text, FieldError};
use super::ids::{Branch, Name};
use super::junit;

/// `[quarantine]` of the notification config.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineConfig {
    /// Quarantine tests the flaky rule finds flaky when they fail.
    #[serde(default)]
    pub auto: bool,
    /// Clean runs in a row after which a test leaves quarantine.
    pub clean_runs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRules {
    pub auto: bool,
    pub clean_runs: u32,
}

impl QuarantineRules {
    pub fn new(config: &QuarantineConfig) -> Result<Self, String> {
        let clean_runs = config.clean_runs.unwrap_or(20);
        if clean_runs == 0 {
            return Err("quarantine.clean_runs must be at least 1".into());
        }
        Ok(QuarantineRules {
            auto: config.auto,
            clean_runs,
        })
    }
}

/// Characters a reason may have.
const MAX_REASON: usize = 500;
const MAX_URL: usize = 2048;
const IDENTITY: [&str; 5] = ["branch", "component", "arch", "build_type", "name"];

fn required<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, FieldError> {
    text(body, field)?.ok_or_else(|| FieldError::field(field, format!("{field} is required")))
}

/// A test as requests name it: its cell (names parsed as ingestion parses
/// them, architecture aliases included) and its name.
fn identity(body: &Map<String, Value>) -> Result<(CellId, String), FieldError> {
    let branch = Branch::parse(required(body, "branch")?)?;
    let component = Name::parse("component", required(body, "component")?)?;
    let arch = Name::arch(required(body, "arch")?)?;
    let build_type = Name::parse("build_type", required(body, "build_type")?)?;
    let name = required(body, "name")?;
    if name.chars().count() > junit::MAX_NAME {
        return Err(FieldError::field(
            "name",
            format!("name is longer than {} characters", junit::MAX_NAME),
        ));
    }
    let cell = CellId::new(
        branch.as_str(),
        component.as_str(),
        arch.as_str(),
        build_type.as_str(),
    );
    Ok((cell, name.to_string()))
}

/// `DELETE /api/v1/quarantine`'s body: the test.
pub fn parse_identity(body: &Value) -> Result<(CellId, String), FieldError> {
    identity(object(body, &IDENTITY)?)
}

/// `POST /api/v1/quarantine`'s body, quarantined by `by` at `now`.
pub fn parse_entry(
    body: &Value,
    by: &str,
    now: DateTime<Utc>,
) -> Result<QuarantinedTest, FieldError> {
    let allowed: Vec<&str> = IDENTITY
        .iter()
        .copied()
        .chain(["reason", "expires_at", "evidence_url"])
        .collect();
    let body = object(body, &allowed)?;
    let (cell, name) = identity(body)?;
    let reason = required(body, "reason")?;
    if reason.chars().count() > MAX_REASON {
        return Err(FieldError::field(
            "reason",
            format!("reason is longer than {MAX_REASON} characters"),
        ));
    }
    let expires_at = text(body, "expires_at")?
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| FieldError::field("expires_at", "expires_at must be an RFC 3339 time"))
        })
        .transpose()?;
    if expires_at.is_some_and(|t| t <= now) {
        return Err(FieldError::field("expires_at", "expires_at is in the past"));
    }
    let evidence_url = text(body, "evidence_url")?.map(str::to_string);
    if evidence_url
        .as_deref()
        .is_some_and(|u| !is_http_url(u) || u.len() > MAX_URL)
    {
        return Err(FieldError::field(
            "evidence_url",
            "evidence_url must be an http(s) URL",
        ));
    }
    Ok(QuarantinedTest {
        cell,
        name,
        reason: reason.to_string(),
        since: now,
        by: by.to_string(),
        expires_at,
        evidence_url,
        clean_runs: 0,
        released_at: None,
        released_why: None,
    })
}

/// What happens to one test's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuarantineChange {
    /// Quarantine it (again); while it is in, the same again edits its
    /// reason, expiry and evidence.
    Add(QuarantinedTest),
    Remove {
        cell: CellId,
        name: String,
        by: String,
        at: DateTime<Utc>,
    },
    /// It ran (in an upload that is no infrastructure failure).
    Ran {
        cell: CellId,
        name: String,
        clean: bool,
        at: DateTime<Utc>,
        needed: u32,
    },
}

impl QuarantineChange {
    pub fn key(&self) -> (&CellId, &str) {
        match self {
            QuarantineChange::Add(entry) => (&entry.cell, &entry.name),
            QuarantineChange::Remove { cell, name, .. }
            | QuarantineChange::Ran { cell, name, .. } => (cell, name),
        }
    }

    fn at(&self) -> DateTime<Utc> {
        match self {
            QuarantineChange::Add(entry) => entry.since,
            QuarantineChange::Remove { at, .. } | QuarantineChange::Ran { at, .. } => *at,
        }
    }
}

/// A change applied to the stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub after: Option<QuarantinedTest>,
    /// Something to write.
    pub changed: bool,
    /// It entered quarantine with this change.
    pub entered: bool,
}

pub fn apply(before: Option<QuarantinedTest>, change: &QuarantineChange) -> Applied {
    let at = change.at();
    let active = before.as_ref().filter(|b| b.active(at)).cloned();
    let after = match (active, change) {
        (Some(mut entry), QuarantineChange::Add(new)) => {
            entry.reason.clone_from(&new.reason);
            entry.expires_at = new.expires_at;
            entry.evidence_url.clone_from(&new.evidence_url);
            entry
        }
        (None, QuarantineChange::Add(new)) => {
            return Applied {
                after: Some(new.clone()),
                changed: true,
                entered: true,
            }
        }
        (Some(mut entry), QuarantineChange::Remove { by, at, .. }) => {
            entry.released_at = Some(*at);
            entry.released_why = Some(format!("removed by {by}"));
            entry
        }
        (
            Some(mut entry),
            QuarantineChange::Ran {
                clean, at, needed, ..
            },
        ) => {
            entry.clean_runs = if *clean { entry.clean_runs + 1 } else { 0 };
            if entry.clean_runs >= *needed {
                entry.released_at = Some(*at);
                entry.released_why = Some(format!("{} clean runs in a row", entry.clean_runs));
            }
            entry
        }
        (None, _) => {
            return Applied {
                after: before,
                changed: false,
                entered: false,
            }
        }
    };
    Applied {
        changed: before.as_ref() != Some(&after),
        after: Some(after),
        entered: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0).unwrap()
    }

    fn cell() -> CellId {
        CellId::new("master", "lte", "amd64", "integ-test")
    }

    fn entry(by: &str, since: DateTime<Utc>) -> QuarantinedTest {
        QuarantinedTest {
            cell: cell(),
            name: "s1ap::test_paging".into(),
            reason: "flaky".into(),
            since,
            by: by.into(),
            expires_at: None,
            evidence_url: None,
            clean_runs: 0,
            released_at: None,
            released_why: None,
        }
    }

    fn ran(clean: bool, hour: u32) -> QuarantineChange {
        QuarantineChange::Ran {
            cell: cell(),
            name: "s1ap::test_paging".into(),
            clean,
            at: at(hour),
            needed: 3,
        }
    }

    #[test]
    fn a_test_enters_once_and_the_same_again_edits_it() {
        let first = apply(None, &QuarantineChange::Add(entry("on-call", at(1))));
        assert!(first.entered && first.changed);
        let mut again = entry("someone-else", at(2));
        again.reason = "tracked in #1234".into();
        let edited = apply(first.after.clone(), &QuarantineChange::Add(again));
        let after = edited.after.unwrap();
        assert!(!edited.entered && edited.changed);
        assert_eq!(
            (after.by.as_str(), after.since, after.reason.as_str()),
            ("on-call", at(1), "tracked in #1234")
        );
        let same = apply(
            Some(after.clone()),
            &QuarantineChange::Add(entry("x", at(3))),
        );
        assert!(same.changed, "reason changed back");
        let unchanged = apply(
            same.after.clone(),
            &QuarantineChange::Add(entry("x", at(4))),
        );
        assert!(!unchanged.changed);
    }

    #[test]
    fn it_leaves_after_clean_runs_in_a_row_by_hand_or_at_expiry() {
        let mut e = Some(entry("auto", at(1)));
        for (clean, hour) in [(true, 2), (true, 3), (false, 4), (true, 5), (true, 6)] {
            e = apply(e, &ran(clean, hour)).after;
        }
        assert_eq!(
            e.as_ref().unwrap().clean_runs,
            2,
            "a failure starts the count again"
        );
        let left = apply(e, &ran(true, 7)).after.unwrap();
        assert_eq!(left.released_at, Some(at(7)));
        assert_eq!(left.released_why.as_deref(), Some("3 clean runs in a row"));
        // Out: runs and removals change nothing; adding enters it anew.
        let still = apply(Some(left.clone()), &ran(true, 8));
        assert!(!still.changed);
        let back = apply(Some(left), &QuarantineChange::Add(entry("on-call", at(9))));
        assert!(back.entered);
        assert_eq!(back.after.unwrap().clean_runs, 0);

        let removed = apply(
            Some(entry("auto", at(1))),
            &QuarantineChange::Remove {
                cell: cell(),
                name: "s1ap::test_paging".into(),
                by: "on-call".into(),
                at: at(2),
            },
        );
        assert_eq!(
            removed.after.unwrap().released_why.as_deref(),
            Some("removed by on-call")
        );

        let mut expiring = entry("on-call", at(1));
        expiring.expires_at = Some(at(5));
        assert!(expiring.active(at(4)));
        assert!(!expiring.active(at(5)));
        assert!(apply(Some(expiring), &QuarantineChange::Add(entry("x", at(6)))).entered);
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let now = at(1);
        let body = serde_json::json!({
            "branch": "master", "component": "lte", "arch": "x86_64",
            "build_type": "integ-test", "name": "s1ap::test_paging",
            "reason": "flaky, #1234", "expires_at": "2026-12-31T00:00:00Z",
        });
        let entry = parse_entry(&body, "on-call", now).unwrap();
        assert_eq!(entry.cell, cell(), "x86_64 is amd64");
        assert_eq!((entry.by.as_str(), entry.since), ("on-call", now));
        assert_eq!(
            parse_identity(&serde_json::json!({
                "branch": "master", "component": "lte", "arch": "amd64",
                "build_type": "integ-test", "name": "s1ap::test_paging"
            }))
            .unwrap(),
            (cell(), "s1ap::test_paging".to_string())
        );
        for (field, value, says) in [
            ("reason", serde_json::json!(""), "reason is required"),
            (
                "expires_at",
                serde_json::json!("2020-01-01T00:00:00Z"),
                "in the past",
            ),
            ("expires_at", serde_json::json!("tomorrow"), "RFC 3339"),
            (
                "evidence_url",
                serde_json::json!("javascript:alert(1)"),
                "http(s)",
            ),
            ("arch", serde_json::json!("x 86"), "arch"),
            ("name", serde_json::json!(7), "must be a string"),
            ("owner", serde_json::json!("me"), "unknown field"),
        ] {
            let mut bad = body.clone();
            bad[field] = value;
            let e = parse_entry(&bad, "on-call", now).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field));
            assert!(e.message.contains(says), "{field}: {}", e.message);
        }
        let e = parse_identity(&body).unwrap_err();
        assert!(
            e.message.contains("unknown field"),
            "a removal names the test only"
        );
    }

    #[test]
    fn the_config_is_checked() {
        let rules = QuarantineRules::new(&QuarantineConfig::default()).unwrap();
        assert_eq!((rules.auto, rules.clean_runs), (false, 20));
        let zero = QuarantineConfig {
            auto: true,
            clean_runs: Some(0),
        };
        assert!(QuarantineRules::new(&zero)
            .unwrap_err()
            .contains("clean_runs"));
    }
}
