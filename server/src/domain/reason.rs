//! Failure reasons: a test failure's message reduced to what stays the same
//! when the same thing breaks again (numbers, ids, addresses, temporary
//! paths and times masked), with a stable id, so that the day's forty
//! failures fall into the few reasons behind them.

use std::sync::LazyLock;

use app::model::{ArchFailures, CellKey, FailureReason, ReasonDay, ReasonRecord, ReasonSummary};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use regex::Regex;
use sha2::{Digest, Sha256};

/// Characters kept of a reason.
const MAX_REASON: usize = 240;

/// Masks, in order: the more specific before the more general (a UUID
/// before its hex runs, an address before its numbers).
static MASKS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // ISO 8601 and log timestamps, durations with units.
        (
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?",
            "<time>",
        ),
        (r"\b\d{1,2}:\d{2}:\d{2}(\.\d+)?\b", "<time>"),
        (
            r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
            "<uuid>",
        ),
        // Temporary files and directories: pytest's, Go's, macOS's, Windows'.
        (
            r#"(?i)(/private)?(/tmp|/var/tmp|/var/folders|/dev/shm)(/[^\s'":,)\]]*)?"#,
            "<tmp>",
        ),
        (r#"(?i)[a-z]:\\[^\s'"]*\\temp\\[^\s'":,)\]]*"#, "<tmp>"),
        // Addresses: IPv4 with its port, bracketed or bare IPv6, hosts:ports.
        (r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b", "<addr>"),
        (r"\[[0-9a-fA-F:]*:[0-9a-fA-F:]*\](:\d+)?", "<addr>"),
        (r"\b(localhost|[\w-]+(\.[\w-]+)+):\d{2,5}\b", "<addr>"),
        // Pointers and hex ids (a commit, an object id): hex runs of 7 or
        // more holding a digit, and 0x numbers.
        (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
        (r"\b[0-9a-fA-F]*\d[0-9a-fA-F]*\b", "<hex?>"),
        (r"\d+(\.\d+)?", "<n>"),
    ]
    .into_iter()
    .map(|(pattern, mask)| (Regex::new(pattern).expect("a valid pattern"), mask))
    .collect()
});

static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").expect("a valid pattern"));

/// The line of a message that says what broke: the exception of a Python
/// traceback (its last unindented line), the first line of a Java stack
/// trace or of anything else.
fn headline(message: &str) -> &str {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let traceback = lines
        .iter()
        .any(|l| l.starts_with("Traceback (most recent call last)"));
    let picked = if traceback {
        lines
            .iter()
            .rev()
            .find(|l| !l.starts_with(char::is_whitespace) && !l.starts_with("Traceback"))
    } else {
        lines.first()
    };
    picked.map_or("", |l| l.trim())
}

/// A failure message's reason: its normalized headline, and 12 hex digits
/// of its SHA-256 as its id. An empty message is the reason "no message".
pub fn reason(message: Option<&str>) -> FailureReason {
    let line = headline(message.unwrap_or_default());
    let mut text = line.to_string();
    for (pattern, mask) in MASKS.iter() {
        text = if *mask == "<hex?>" {
            // A run of hex is an id when long (7+) or mixed with letters;
            // a short plain number is a number.
            pattern
                .replace_all(&text, |c: &regex::Captures| {
                    let run = &c[0];
                    let letters = run.chars().any(|ch| ch.is_ascii_alphabetic());
                    if run.len() >= 7 && letters || run.len() >= 16 {
                        "<hex>".to_string()
                    } else {
                        run.to_string()
                    }
                })
                .into_owned()
        } else {
            pattern.replace_all(&text, *mask).into_owned()
        };
    }
    let mut text = SPACES.replace_all(text.trim(), " ").into_owned();
    if text.is_empty() {
        text = "no message".into();
    }
    if text.chars().count() > MAX_REASON {
        text = text.chars().take(MAX_REASON).collect();
    }
    let digest = Sha256::digest(text.as_bytes());
    FailureReason {
        id: hex::encode(&digest[..6]),
        text,
    }
}

/// Days of a reason's failures kept.
pub const KEPT_DAYS: i64 = 90;
const KEPT_TESTS: usize = 50;
const KEPT_BUILDS: usize = 20;
const MAX_EXAMPLE: usize = 500;
/// Reasons one upload adds to at most: more at once is an infrastructure
/// failure's noise, and each is a read and a write in its transaction.
const MAX_REASONS_PER_UPLOAD: usize = 50;

/// What one upload adds to a reason of its branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonUpdate {
    pub branch: String,
    pub reason: FailureReason,
    pub example: String,
    pub at: DateTime<Utc>,
    pub cell: CellKey,
    pub build: String,
    pub tests: Vec<String>,
}

/// An upload's failures (name, message) as updates of their reasons.
pub fn updates<'a>(
    branch: &str,
    cell: &CellKey,
    build: &str,
    at: DateTime<Utc>,
    failures: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<ReasonUpdate> {
    let mut out: Vec<ReasonUpdate> = Vec::new();
    for (test, message) in failures {
        let why = reason(message);
        let full = out.len() == MAX_REASONS_PER_UPLOAD;
        match out.iter_mut().find(|u| u.reason == why) {
            Some(update) => update.tests.push(test.to_string()),
            None if full => {}
            None => out.push(ReasonUpdate {
                branch: branch.to_string(),
                example: message
                    .unwrap_or("no message")
                    .chars()
                    .take(MAX_EXAMPLE)
                    .collect(),
                reason: why,
                at,
                cell: cell.clone(),
                build: build.to_string(),
                tests: vec![test.to_string()],
            }),
        }
    }
    out
}

fn day_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::days(1)).unwrap_or(at)
}

/// A reason's record after an update: one failure per test, on the
/// update's day and architecture; days older than [`KEPT_DAYS`] before its
/// newest dropped; tests, cells and builds bounded.
pub fn merge(record: Option<ReasonRecord>, update: &ReasonUpdate) -> ReasonRecord {
    let mut record = record.unwrap_or_else(|| ReasonRecord {
        branch: update.branch.clone(),
        reason: update.reason.clone(),
        example: update.example.clone(),
        first_seen: update.at,
        last_seen: update.at,
        days: Vec::new(),
        tests: Vec::new(),
        cells: Vec::new(),
        builds: Vec::new(),
    });
    if record.builds.contains(&update.build) {
        return record;
    }
    record.first_seen = record.first_seen.min(update.at);
    record.last_seen = record.last_seen.max(update.at);
    let day = day_of(update.at);
    let failures = update.tests.len() as u32;
    match record
        .days
        .iter_mut()
        .find(|d| d.day == day && d.arch == update.cell.arch)
    {
        Some(d) => d.failures += failures,
        None => record.days.push(ReasonDay {
            day,
            arch: update.cell.arch.clone(),
            failures,
        }),
    }
    let oldest = day_of(record.last_seen) - TimeDelta::days(KEPT_DAYS);
    record.days.retain(|d| d.day > oldest);
    record
        .days
        .sort_by(|a, b| (a.day, &a.arch).cmp(&(b.day, &b.arch)));
    for test in &update.tests {
        if record.tests.len() < KEPT_TESTS && !record.tests.contains(test) {
            record.tests.push(test.clone());
        }
    }
    if record.cells.len() < KEPT_TESTS && !record.cells.contains(&update.cell) {
        record.cells.push(update.cell.clone());
    }
    record.builds.insert(0, update.build.clone());
    record.builds.truncate(KEPT_BUILDS);
    record
}

/// A reason over the window from `since`: `None` when it did not fail in
/// it.
pub fn summary(record: &ReasonRecord, since: DateTime<Utc>) -> Option<ReasonSummary> {
    let from = day_of(since);
    let mut arches: Vec<ArchFailures> = Vec::new();
    for d in record.days.iter().filter(|d| d.day >= from) {
        match arches.iter_mut().find(|a| a.arch == d.arch) {
            Some(a) => a.failures += d.failures,
            None => arches.push(ArchFailures {
                arch: d.arch.clone(),
                failures: d.failures,
            }),
        }
    }
    arches.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| a.arch.cmp(&b.arch))
    });
    let failures: u32 = arches.iter().map(|a| a.failures).sum();
    (failures > 0).then(|| ReasonSummary {
        id: record.reason.id.clone(),
        text: record.reason.text.clone(),
        example: record.example.clone(),
        failures,
        arches,
        tests: record.tests.clone(),
        cells: record.cells.clone(),
        first_seen: record.first_seen,
        last_seen: record.last_seen,
        builds: record.builds.clone(),
        known_issue: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) {
        let (ra, rb) = (reason(Some(a)), reason(Some(b)));
        assert_eq!(ra, rb, "\n{a}\n{b}");
    }

    fn apart(a: &str, b: &str) {
        let (ra, rb) = (reason(Some(a)), reason(Some(b)));
        assert_ne!(ra.id, rb.id, "\n{a}\n{b}\nboth: {}", ra.text);
    }

    #[test]
    fn python_tracebacks_group_by_their_exception() {
        let one = "Traceback (most recent call last):\n  File \"/tmp/pytest-of-ci/pytest-17/test_s1ap0/test_attach.py\", line 42, in test_attach\n    assert ue.state == 3\nAssertionError: assert 2 == 3\n +  where 2 = <UE imsi=001010000000001>.state";
        let two = "Traceback (most recent call last):\n  File \"/tmp/pytest-of-ci/pytest-18/test_s1ap0/test_attach.py\", line 42, in test_attach\n    assert ue.state == 3\nAssertionError: assert 1 == 3\n +  where 1 = <UE imsi=001010000000002>.state";
        same(one, two);
        assert_eq!(reason(Some(one)).text, "AssertionError: assert <n> == <n>");
        let refused = "Traceback (most recent call last):\n  File \"s1ap.py\", line 7, in connect\nConnectionRefusedError: [Errno 111] Connection refused: ('10.0.2.15', 36412)";
        same(
            refused,
            "Traceback (most recent call last):\n  File \"s1ap.py\", line 7, in connect\nConnectionRefusedError: [Errno 111] Connection refused: ('192.168.60.142', 36412)",
        );
        apart(one, refused);
        // pytest's message attribute alone.
        same("assert 2 == 3", "assert 5 == 7");
        apart("assert 2 == 3", "assert x is None");
    }

    #[test]
    fn go_failures_group_by_their_text() {
        same(
            "mme_test.go:118: expected 3 sessions, got 2",
            "mme_test.go:121: expected 4 sessions, got 1",
        );
        same(
            "panic: runtime error: invalid memory address or nil pointer dereference [signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x4a2f3c]",
            "panic: runtime error: invalid memory address or nil pointer dereference [signal SIGSEGV: segmentation violation code=0x1 addr=0x30 pc=0x4a3e11]",
        );
        apart(
            "mme_test.go:118: expected 3 sessions, got 2",
            "store_test.go:40: unexpected error: context deadline exceeded",
        );
        same(
            "dial tcp 127.0.0.1:9090: connect: connection refused",
            "dial tcp 10.22.0.4:9190: connect: connection refused",
        );
        same(
            "open /tmp/TestStore1234567/001/db.sqlite: no such file or directory",
            "open /tmp/TestStore98765/001/db.sqlite: no such file or directory",
        );
    }

    #[test]
    fn java_stack_traces_group_by_their_first_line() {
        same(
            "java.lang.AssertionError: expected:<200> but was:<503>\n\tat org.junit.Assert.fail(Assert.java:89)\n\tat org.magma.ApiTest.health(ApiTest.java:51)",
            "java.lang.AssertionError: expected:<200> but was:<500>\n\tat org.junit.Assert.fail(Assert.java:89)\n\tat org.magma.ApiTest.health(ApiTest.java:53)",
        );
        same(
            "java.lang.NullPointerException: Cannot invoke \"Session.id()\" because \"s\" is null\n\tat org.magma.Sessions.find(Sessions.java:12)",
            "java.lang.NullPointerException: Cannot invoke \"Session.id()\" because \"s\" is null\n\tat org.magma.Sessions.find(Sessions.java:14)",
        );
        apart(
            "java.lang.AssertionError: expected:<200> but was:<503>",
            "java.lang.NullPointerException: Cannot invoke \"Session.id()\" because \"s\" is null",
        );
        same(
            "org.opentest4j.AssertionFailedError: session 3f2c9a1e-7b4d-4c2a-9e1f-0a2b3c4d5e6f not found",
            "org.opentest4j.AssertionFailedError: session 9d8c7b6a-5e4f-4a3b-8c2d-1e0f9a8b7c6d not found",
        );
    }

    #[test]
    fn records_sum_a_window_by_architecture_and_count_a_build_once() {
        use chrono::TimeZone;
        let at = |day: u32| Utc.with_ymd_and_hms(2026, 12, day, 10, 0, 0).unwrap();
        let arm = CellKey::new("lte", "arm64", "integ-test");
        let amd = CellKey::new("lte", "amd64", "integ-test");
        let timeouts = |cell: &CellKey, build: &str, day| {
            updates(
                "master",
                cell,
                build,
                at(day),
                [
                    ("test_attach", Some("Timeout after 30s")),
                    ("test_detach", Some("Timeout after 12s")),
                    ("test_paging", Some("assert 1 == 2")),
                ],
            )
        };
        let first = timeouts(&arm, "b1", 1);
        assert_eq!(first.len(), 2, "two reasons");
        assert_eq!(first[0].tests, ["test_attach", "test_detach"]);
        let mut record = merge(None, &first[0]);
        record = merge(Some(record), &first[0]);
        assert_eq!(record.days[0].failures, 2, "a build counts once");
        record = merge(Some(record), &timeouts(&amd, "b2", 5)[0]);
        record = merge(Some(record), &timeouts(&arm, "b3", 6)[0]);
        assert_eq!((record.first_seen, record.last_seen), (at(1), at(6)));
        assert_eq!(record.builds, ["b3", "b2", "b1"]);
        let all = summary(&record, at(1)).unwrap();
        assert_eq!(all.failures, 6);
        assert_eq!(
            all.arches,
            [
                ArchFailures {
                    arch: "arm64".into(),
                    failures: 4
                },
                ArchFailures {
                    arch: "amd64".into(),
                    failures: 2
                }
            ]
        );
        assert_eq!(summary(&record, at(5)).unwrap().failures, 4);
        assert_eq!(summary(&record, at(7)), None);
        let many = (0..80).map(|i| format!("failure kind {}", "x".repeat(i)));
        let many: Vec<String> = many.collect();
        let bounded = updates(
            "master",
            &arm,
            "b9",
            at(6),
            many.iter().map(|m| ("t", Some(m.as_str()))),
        );
        assert_eq!(bounded.len(), MAX_REASONS_PER_UPLOAD);
    }

    #[test]
    fn timeouts_ids_and_times_are_masked() {
        same(
            "Timeout after 30.5s waiting for attach of IMSI001010000000001",
            "Timeout after 12.0s waiting for attach of IMSI001010000000042",
        );
        same(
            "2026-12-07T10:15:02.123Z ERROR subscriber db timed out (request 7f3a9c2e1b)",
            "2026-12-08 04:00:59 ERROR subscriber db timed out (request a1b2c3d4e5)",
        );
        same(
            "Exceeded timeout of 5000 ms for a test.",
            "Exceeded timeout of 10000 ms for a test.",
        );
        apart(
            "Exceeded timeout of 5000 ms for a test.",
            "test timed out after 10m0s",
        );
        same(
            "commit 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b not found",
            "commit ffeeddccbbaa99887766554433221100ffeeddcc not found",
        );
        assert_eq!(reason(None).text, "no message");
        assert_eq!(reason(Some("  \n ")).id, reason(None).id);
        let long = "x".repeat(1000);
        assert_eq!(reason(Some(&long)).text.chars().count(), MAX_REASON);
        assert_eq!(reason(Some("a")).id.len(), 12);
    }
}
