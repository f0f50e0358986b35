//! Incidents, Magma's on-call procedure (p017) as rules: on a watched
//! branch, a cell whose red streak reaches `failures_to_open` consecutive
//! failures opens an incident (infrastructure errors and cancellations
//! neither count nor break a streak: the cell's streak already says so).
//! In a cell whose builds upload test results, what breaks is a test: its
//! own streak decides, judged when the results arrive ([`test_changes`],
//! with the rules of [`super::signal`]), never the bare `fail` post.
//! Cells and tests whose streaks began at the same commit are one incident;
//! it resolves when all of them pass again. An incident's id comes from
//! its branch and first bad commit, so the same breakage seen again, by any
//! server, is the same incident.

use app::model::{
    is_http_url, Ack, Cell, CellKey, Incident, IncidentNote, IncidentState, IncidentTest, Suspect,
    TestStats,
};
use serde_json::Value;

use super::field_error::{object, text, FieldError};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use wildmatch::WildMatch;

use super::quarantine::{QuarantineConfig, QuarantineRules};
use super::signal::{self, SignalConfig, SignalRules};

/// Which branches are watched and when a streak opens an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRules {
    watch: Vec<String>,
    pub failures_to_open: u32,
    pub signal: SignalRules,
    pub quarantine: QuarantineRules,
}

/// The incident part of the notification config.
#[derive(Debug, Default)]
pub struct IncidentConfig {
    pub watch: Option<Vec<String>>,
    pub failures_to_open: Option<u32>,
    pub signal: SignalConfig,
    pub quarantine: QuarantineConfig,
}

impl IncidentRules {
    /// Without a `watch` list: the default branch and release branches.
    pub fn new(
        config: IncidentConfig,
        default_branch: &str,
        release_branches: &str,
    ) -> Result<Self, String> {
        let failures_to_open = config.failures_to_open.unwrap_or(3).max(1);
        Ok(IncidentRules {
            watch: config
                .watch
                .unwrap_or_else(|| vec![default_branch.to_string(), release_branches.to_string()]),
            failures_to_open,
            signal: SignalRules::new(&config.signal, failures_to_open)?,
            quarantine: QuarantineRules::new(&config.quarantine)?,
        })
    }

    pub fn watches(&self, branch: &str) -> bool {
        self.watch.iter().any(|w| WildMatch::new(w).matches(branch))
    }
}

pub fn incident_id(branch: &str, first_bad_commit: &str) -> String {
    let digest = Sha256::digest(format!("{branch}\n{first_bad_commit}").as_bytes());
    hex::encode(&digest[..8])
}

/// What one cell's move does to one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The cell, or one of its tests, is red in the incident (opening it
    /// if needed).
    Red {
        id: String,
        branch: String,
        cell: CellKey,
        test: Option<String>,
        first_bad_commit: String,
        last_good_commit: Option<String>,
        at: DateTime<Utc>,
    },
    /// The cell (with every test of it), or one of its tests, is no longer
    /// red in the incident.
    Cleared {
        id: String,
        cell: CellKey,
        test: Option<String>,
        at: DateTime<Utc>,
    },
    /// Someone is on it: acknowledged (assigned, linked to an issue), its
    /// notifications perhaps silenced for a while.
    Ack {
        id: String,
        ack: Ack,
        silence_changes: Option<u32>,
        silence_until: Option<DateTime<Utc>>,
    },
    /// The commits that may have caused it, found when it opened.
    Suspects {
        id: String,
        suspects: Vec<Suspect>,
        complete: bool,
        compare_url: Option<String>,
    },
}

impl Change {
    pub fn id(&self) -> &str {
        match self {
            Change::Red { id, .. }
            | Change::Cleared { id, .. }
            | Change::Ack { id, .. }
            | Change::Suspects { id, .. } => id,
        }
    }

    /// When it happened; finding suspects is no event and has no time.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Change::Red { at, .. } | Change::Cleared { at, .. } => *at,
            Change::Ack { ack, .. } => ack.at,
            Change::Suspects { .. } => DateTime::UNIX_EPOCH,
        }
    }
}

/// Longest silence by changes, and by time.
const MAX_SILENCE_CHANGES: u64 = 1000;
const MAX_SILENCE: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// `POST /api/v1/incidents/<id>/ack`'s body, by `by` at `now`.
pub fn parse_ack(
    id: &str,
    body: &Value,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Change, FieldError> {
    let fields = [
        "note",
        "assignee",
        "issue_url",
        "silence_builds",
        "silence_until",
    ];
    let body = object(body, &fields)?;
    let text = |field: &str, max: usize| -> Result<Option<String>, FieldError> {
        match text(body, field)? {
            Some(s) if s.chars().count() > max => Err(FieldError::field(
                field,
                format!("{field} is longer than {max} characters"),
            )),
            s => Ok(s.map(str::to_string)),
        }
    };
    let issue_url = text("issue_url", 2048)?;
    if issue_url.as_deref().is_some_and(|u| !is_http_url(u)) {
        return Err(FieldError::field(
            "issue_url",
            "issue_url must be an http(s) URL",
        ));
    }
    let silence_changes = match body.get("silence_builds") {
        None | Some(Value::Null) => None,
        Some(n) => Some(
            n.as_u64()
                .filter(|n| (1..=MAX_SILENCE_CHANGES).contains(n))
                .ok_or_else(|| {
                    FieldError::field(
                        "silence_builds",
                        format!(
                            "silence_builds must be an integer from 1 to {MAX_SILENCE_CHANGES}"
                        ),
                    )
                })? as u32,
        ),
    };
    let silence_until = text("silence_until", 64)?
        .map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .filter(|t| *t > now && *t <= now + MAX_SILENCE)
                .ok_or_else(|| {
                    FieldError::field(
                        "silence_until",
                        "silence_until must be an RFC 3339 time within the next 30 days",
                    )
                })
        })
        .transpose()?;
    Ok(Change::Ack {
        id: id.to_string(),
        ack: Ack {
            by: by.to_string(),
            at: now,
            note: text("note", 500)?,
            assignee: text("assignee", 100)?,
            issue_url,
        },
        silence_changes,
        silence_until,
    })
}

/// The first bad commit of a cell in incident, if it is in one.
fn breakage<'a>(rules: &IncidentRules, cell: Option<&'a Cell>) -> Option<&'a str> {
    let streak = cell?.streak.as_ref()?;
    (streak.builds >= rules.failures_to_open).then_some(streak.since.commit.as_str())
}

/// The incident changes of a cell moving from `before` to `after`. A cell
/// judged by its tests opens nothing here (its results decide, when they
/// arrive); one that became such a cell leaves what it was red in.
pub fn changes(
    rules: &IncidentRules,
    before: Option<&Cell>,
    after: &Cell,
    at: DateTime<Utc>,
) -> Vec<Change> {
    let by_build = |c: &&Cell| !c.is_tested();
    let was = breakage(rules, before.filter(by_build));
    let is = breakage(rules, Some(after).filter(by_build));
    let last_good = || after.last_pass.clone().flatten().map(|b| b.commit);
    moved(
        rules,
        &after.cell.branch,
        &after.key(),
        None,
        (was, is),
        last_good,
        at,
    )
}

/// The incident changes of a test's record moving from `before` to
/// `after`, in a cell of `branch` judged by its tests. A quarantined test
/// is in no incident: it leaves the one it was in.
pub fn test_changes(
    rules: &IncidentRules,
    branch: &str,
    before: Option<&TestStats>,
    after: &TestStats,
    quarantined: bool,
    at: DateTime<Utc>,
) -> Vec<Change> {
    let was = before.and_then(|b| rules.signal.breakage(b));
    let is = rules.signal.breakage(after).filter(|_| !quarantined);
    let cell = after.cell.key();
    let last_good = || signal::last_pass_before_streak(after);
    let test = Some(after.name.as_str());
    moved(rules, branch, &cell, test, (was, is), last_good, at)
}

/// Cleared in the incident of the breakage it was in, red in the one it
/// is in, when they differ.
fn moved(
    rules: &IncidentRules,
    branch: &str,
    cell: &CellKey,
    test: Option<&str>,
    (was, is): (Option<&str>, Option<&str>),
    last_good: impl FnOnce() -> Option<String>,
    at: DateTime<Utc>,
) -> Vec<Change> {
    if !rules.watches(branch) || was == is {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(commit) = was {
        out.push(Change::Cleared {
            id: incident_id(branch, commit),
            cell: cell.clone(),
            test: test.map(str::to_string),
            at,
        });
    }
    if let Some(commit) = is {
        out.push(Change::Red {
            id: incident_id(branch, commit),
            branch: branch.to_string(),
            cell: cell.clone(),
            test: test.map(str::to_string),
            first_bad_commit: commit.to_string(),
            last_good_commit: last_good(),
            at,
        });
    }
    out
}

/// A cell that became one judged by its tests leaves the incident its
/// build streak had it in; its tests' streaks take over from there.
pub fn became_tested(rules: &IncidentRules, before: &Cell, at: DateTime<Utc>) -> Vec<Change> {
    let was = breakage(rules, Some(before));
    moved(
        rules,
        &before.cell.branch,
        &before.key(),
        None,
        (was, None),
        || None,
        at,
    )
}

/// The incident after a change: the one read-modify-write step both stores
/// run atomically.
pub fn apply(incident: Option<Incident>, change: &Change) -> Option<Incident> {
    // A silence for some changes counts the cells and tests joining or
    // clearing.
    let incident = incident.map(|mut i| {
        if matches!(change, Change::Red { .. } | Change::Cleared { .. }) {
            let left = i.triage.silenced_changes.map(|n| n.saturating_sub(1));
            i.triage.silenced_changes = left.filter(|n| *n > 0);
        }
        i
    });
    match change {
        Change::Red {
            id,
            branch,
            cell,
            test,
            first_bad_commit,
            last_good_commit,
            at,
        } => {
            let mut incident = incident.unwrap_or_else(|| Incident {
                id: id.clone(),
                branch: branch.clone(),
                state: IncidentState::Open,
                opened_at: *at,
                resolved_at: None,
                cells: Vec::new(),
                red: Vec::new(),
                first_bad_commit: first_bad_commit.clone(),
                last_good_commit: last_good_commit.clone(),
                suspects: Vec::new(),
                suspects_complete: false,
                compare_url: None,
                tests: Vec::new(),
                red_tests: Vec::new(),
                triage: Default::default(),
            });
            if !incident.cells.contains(cell) {
                incident.cells.push(cell.clone());
            }
            if !incident.red.contains(cell) {
                incident.red.push(cell.clone());
            }
            if let Some(name) = test {
                let test = IncidentTest::new(cell, name);
                if !incident.tests.contains(&test) {
                    incident.tests.push(test.clone());
                }
                if !incident.red_tests.contains(&test) {
                    incident.red_tests.push(test);
                }
            }
            // The same breakage red again (a flaky fix) reopens it.
            incident.state = IncidentState::Open;
            incident.resolved_at = None;
            if incident.last_good_commit.is_none() {
                incident.last_good_commit.clone_from(last_good_commit);
            }
            Some(incident)
        }
        Change::Cleared { cell, test, at, .. } => {
            let mut incident = incident?;
            match test {
                Some(name) => incident
                    .red_tests
                    .retain(|t| t != &IncidentTest::new(cell, name)),
                None => incident.red_tests.retain(|t| &t.cell != cell),
            }
            // A cell stays red while a test of it is.
            if !incident.red_tests.iter().any(|t| &t.cell == cell) {
                incident.red.retain(|c| c != cell);
            }
            if incident.red.is_empty() && incident.state == IncidentState::Open {
                incident.state = IncidentState::Resolved;
                incident.resolved_at = Some(*at);
            }
            Some(incident)
        }
        Change::Ack {
            ack,
            silence_changes,
            silence_until,
            ..
        } => {
            let mut incident = incident?;
            let triage = &mut incident.triage;
            let previous = triage.ack.take();
            let kept = |new: &Option<String>, old: Option<&Option<String>>| {
                new.clone().or_else(|| old.cloned().flatten())
            };
            let note = |what: String| IncidentNote {
                at: ack.at,
                by: ack.by.clone(),
                what,
            };
            let said = ack
                .note
                .as_ref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            triage.notes.push(note(format!("acknowledged{said}")));
            if let Some(who) = &ack.assignee {
                triage.notes.push(note(format!("assigned to {who}")));
            }
            if let Some(url) = &ack.issue_url {
                triage.notes.push(note(format!("linked to {url}")));
            }
            if let Some(until) = silence_until {
                triage.silenced_until = Some(*until);
                triage.notes.push(note(format!(
                    "silenced until {}",
                    until.format("%Y-%m-%d %H:%M UTC")
                )));
            }
            if let Some(n) = silence_changes {
                triage.silenced_changes = Some(*n);
                triage.notes.push(note(format!("silenced for {n} changes")));
            }
            triage.ack = Some(Ack {
                by: ack.by.clone(),
                at: ack.at,
                note: ack.note.clone(),
                assignee: kept(&ack.assignee, previous.as_ref().map(|p| &p.assignee)),
                issue_url: kept(&ack.issue_url, previous.as_ref().map(|p| &p.issue_url)),
            });
            Some(incident)
        }
        Change::Suspects {
            suspects,
            complete,
            compare_url,
            ..
        } => {
            let mut incident = incident?;
            incident.suspects.clone_from(suspects);
            incident.suspects_complete = *complete;
            incident.compare_url.clone_from(compare_url);
            Some(incident)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{BuildResult, BuildSummary, CellId, FailStreak};
    use chrono::TimeZone;

    fn rules() -> IncidentRules {
        IncidentRules::new(IncidentConfig::default(), "master", "v*").unwrap()
    }

    fn summary(commit: &str, result: BuildResult) -> BuildSummary {
        BuildSummary {
            id: format!("{commit}-{}", result.as_str()),
            repository: "magma/magma".into(),
            commit: commit.into(),
            pr: None,
            result,
            started_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            finished_at: None,
            url: None,
        }
    }

    fn cell(branch: &str, arch: &str, streak: Option<(&str, u32)>) -> Cell {
        let mut cell = CellId::new(branch, "agw", arch, "bazel").empty_cell();
        cell.last_pass = Some(Some(summary("good", BuildResult::Pass)));
        cell.streak = streak.map(|(commit, builds)| FailStreak {
            since: summary(commit, BuildResult::Fail),
            builds,
        });
        cell
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, minute, 0).unwrap()
    }

    fn run(steps: &[(Option<Cell>, Cell)]) -> Option<Incident> {
        let mut incident = None;
        for (i, (before, after)) in steps.iter().enumerate() {
            for change in changes(&rules(), before.as_ref(), after, at(i as u32)) {
                incident = apply(incident, &change);
            }
        }
        incident
    }

    #[test]
    fn the_third_failure_opens_and_the_pass_resolves() {
        let two = cell("master", "arm64", Some(("bad", 2)));
        let three = cell("master", "arm64", Some(("bad", 3)));
        assert!(changes(&rules(), None, &two, at(0)).is_empty(), "2 < 3");
        let opened = run(&[(Some(two.clone()), three.clone())]).unwrap();
        assert_eq!(opened.id, incident_id("master", "bad"));
        assert_eq!(opened.state, IncidentState::Open);
        assert_eq!(
            (
                opened.first_bad_commit.as_str(),
                opened.last_good_commit.as_deref()
            ),
            ("bad", Some("good"))
        );
        let four = cell("master", "arm64", Some(("bad", 4)));
        assert!(
            changes(&rules(), Some(&three), &four, at(1)).is_empty(),
            "no duplicate"
        );
        let green = cell("master", "arm64", None);
        let resolved = run(&[(Some(two), three.clone()), (Some(four), green)]).unwrap();
        assert_eq!(
            (resolved.state, resolved.resolved_at),
            (IncidentState::Resolved, Some(at(1)))
        );
    }

    #[test]
    fn an_acknowledged_incident_says_who_is_on_it_and_stays_silent_as_asked() {
        use crate::domain::notification::{deliveries, WebhookRef};
        let two = cell("master", "arm64", Some(("bad", 2)));
        let three = cell("master", "arm64", Some(("bad", 3)));
        let opened = run(&[(Some(two.clone()), three.clone())]).unwrap();
        let body = serde_json::json!({
            "note": "looking", "assignee": "alice", "issue_url": "https://github.com/magma/magma/issues/9",
            "silence_builds": 2,
        });
        let ack = parse_ack(&opened.id, &body, "on-call", at(5)).unwrap();
        let acked = apply(Some(opened.clone()), &ack).unwrap();
        let who = acked.triage.ack.clone().unwrap();
        assert_eq!(
            (
                who.by.as_str(),
                who.assignee.as_deref(),
                who.note.as_deref()
            ),
            ("on-call", Some("alice"), Some("looking"))
        );
        let notes: Vec<&str> = acked.triage.notes.iter().map(|n| n.what.as_str()).collect();
        assert_eq!(
            notes,
            [
                "acknowledged: looking",
                "assigned to alice",
                "linked to https://github.com/magma/magma/issues/9",
                "silenced for 2 changes"
            ]
        );
        // A second ack keeps the assignee and the issue it does not change.
        let again = parse_ack(&opened.id, &serde_json::json!({}), "bob", at(6)).unwrap();
        let again = apply(Some(acked.clone()), &again).unwrap();
        assert_eq!(
            again.triage.ack.as_ref().unwrap().assignee.as_deref(),
            Some("alice")
        );
        assert_eq!(again.triage.ack.as_ref().unwrap().by, "bob");

        // Silenced for two changes: resolving (the first) and reopening (the
        // second) queue nothing; the third change is told again.
        let hooks = [WebhookRef {
            key: "k".into(),
            target: "t".into(),
            components: None,
        }];
        let green = cell("master", "arm64", None);
        let mut incident = Some(acked);
        let mut told = Vec::new();
        for (before, after) in [
            (three.clone(), green.clone()),
            (green.clone(), three.clone()),
            (three, green),
        ] {
            for change in changes(&rules(), Some(&before), &after, at(7)) {
                let next = apply(incident.clone(), &change);
                told.extend(deliveries(incident.as_ref(), next.as_ref(), &hooks, at(7)));
                incident = next;
            }
        }
        assert_eq!(told.len(), 1, "{told:?}");

        for (field, value) in [
            ("silence_builds", serde_json::json!(0)),
            ("silence_until", serde_json::json!("2020-01-01T00:00:00Z")),
            ("issue_url", serde_json::json!("ftp://x")),
            ("who", serde_json::json!("x")),
        ] {
            let e =
                parse_ack("x", &serde_json::json!({ field: value }), "on-call", at(1)).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn cells_broken_by_one_commit_share_an_incident_until_all_pass() {
        let (arm, amd) = (
            cell("v1.9", "arm64", Some(("bad", 3))),
            cell("v1.9", "amd64", Some(("bad", 3))),
        );
        let incident = run(&[
            (None, arm.clone()),
            (None, amd.clone()),
            (Some(arm), cell("v1.9", "arm64", None)),
        ])
        .unwrap();
        assert_eq!(incident.cells.len(), 2);
        assert_eq!(incident.state, IncidentState::Open, "amd64 still red");
        assert_eq!(incident.red.len(), 1);
    }

    #[test]
    fn unwatched_branches_and_other_breakages_stay_apart() {
        assert!(changes(
            &rules(),
            None,
            &cell("feature/x", "arm64", Some(("bad", 9))),
            at(0)
        )
        .is_empty());
        let moved = changes(
            &rules(),
            Some(&cell("master", "arm64", Some(("bad", 3)))),
            &cell("master", "arm64", Some(("worse", 3))),
            at(0),
        );
        assert_eq!(
            moved.len(),
            2,
            "cleared in one, red in the other: {moved:?}"
        );
        assert_ne!(moved[0].id(), moved[1].id());
    }

    /// A test's record after these runs (true: failed), one per hour.
    fn test_after(name: &str, runs: &[bool]) -> Vec<TestStats> {
        let cell = CellId::new("master", "lte", "amd64", "integ");
        let mut stats = None;
        let mut out = Vec::new();
        for (i, failed) in runs.iter().enumerate() {
            let run = app::model::TestRun {
                build: format!("b{i}"),
                commit: format!("c{i}"),
                status: if *failed {
                    app::model::TestStatus::Failed
                } else {
                    app::model::TestStatus::Passed
                },
                at: at(0) + chrono::Duration::minutes(i as i64),
            };
            stats = crate::domain::test_stats::record(stats, &cell, name, &run, None);
            out.push(stats.clone().unwrap());
        }
        out
    }

    /// The incident after every move of these records.
    fn run_tests(records: &[Vec<TestStats>]) -> Option<Incident> {
        let mut incident = None;
        for record in records {
            for (i, after) in record.iter().enumerate() {
                let before = i.checked_sub(1).map(|b| &record[b]);
                for change in test_changes(
                    &rules(),
                    "master",
                    before,
                    after,
                    false,
                    at(0) + chrono::Duration::minutes(i as i64),
                ) {
                    incident = apply(incident, &change);
                }
            }
        }
        incident
    }

    #[test]
    fn a_tests_streak_opens_an_incident_naming_it_from_where_it_began() {
        let mut runs = vec![false; 100];
        runs.extend([true, true, true]);
        let broken = test_after("t", &runs);
        let incident = run_tests(&[broken]).unwrap();
        assert_eq!(incident.first_bad_commit, "c100");
        assert_eq!(incident.last_good_commit.as_deref(), Some("c99"));
        assert_eq!(incident.tests.len(), 1);
        assert_eq!(incident.tests[0].name, "t");
        assert_eq!(incident.red, vec![CellKey::new("lte", "amd64", "integ")]);
    }

    #[test]
    fn a_cell_stays_red_while_one_of_its_tests_is() {
        let history = |tail: &[bool]| {
            let mut runs = vec![false; 100];
            runs.extend(tail);
            runs
        };
        let a = test_after("a", &history(&[true, true, true, false]));
        let b = test_after("b", &history(&[true, true, true, true]));
        let incident = run_tests(&[a.clone(), b]).unwrap();
        assert_eq!(
            incident.tests.len(),
            2,
            "broken by one commit: one incident"
        );
        assert_eq!(incident.state, IncidentState::Open, "b still fails");
        assert_eq!(incident.red.len(), 1);
        let b_fixed = test_after("b", &history(&[true, true, true, false]));
        let resolved = run_tests(&[a, b_fixed]).unwrap();
        assert_eq!(resolved.state, IncidentState::Resolved);
        assert!(resolved.red.is_empty() && resolved.red_tests.is_empty());
    }

    #[test]
    fn a_cell_judged_by_its_tests_opens_nothing_on_its_build_streak() {
        let mut tested = cell("master", "arm64", Some(("bad", 5)));
        tested.results = Some(app::model::ResultDays::default());
        assert!(changes(&rules(), None, &tested, at(0)).is_empty());
        // It leaves the incident its build streak had it in.
        let red = cell("master", "arm64", Some(("bad", 3)));
        let left = became_tested(&rules(), &red, at(1));
        assert!(matches!(&left[..], [Change::Cleared { test: None, .. }]));
    }
}
