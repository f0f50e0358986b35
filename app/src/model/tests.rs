//! Tests of the shared types, their display and their links.

use super::*;
use chrono::Utc;

#[test]
fn rates_read_the_same_on_pages_and_in_reports() {
    assert_eq!(percent(None), "–");
    assert_eq!(percent(Some(0.0)), "0%");
    assert_eq!(percent(Some(0.5)), "50%");
    assert_eq!(percent(Some(1.0 / 3.0)), "33.3%");
    assert_eq!(percent(Some(0.9996)), "100%");
}

#[test]
fn links_carry_any_legal_branch_name() {
    let cell = CellId::new("feature/a+b#1%2F", "agw", "arm64", "bazel-build");
    assert_eq!(
        cell.history_path(),
        "/history/agw/arm64/bazel-build?branch=feature%2Fa%2Bb%231%252F"
    );
    assert_eq!(release_path("v1.9/rc+1"), "/release?branch=v1.9%2Frc%2B1");
    assert_eq!(overview_path("a&b=c#d%+e"), "/?branch=a%26b%3Dc%23d%25%2Be");
    assert_eq!(
        test_history_path("feature/x&y", "lte", "integ", "a::b c"),
        "/test/lte/integ?branch=feature%2Fx%26y&name=a%3A%3Ab%20c"
    );
}

/// Text from posts (branch names, versions, log URLs) cannot end the
/// report's code spans, links or table cells.
#[test]
fn release_markdown_escapes_what_posts_contain() {
    let report = ReleaseReport {
        branch: "v1.8`) **x**".into(),
        repository: "magma/magma".into(),
        head: Some("a".repeat(40)),
        ready: false,
        required: 1,
        blockers: vec![Blocker {
            cell: CellKey {
                component: "agw".into(),
                arch: "arm64".into(),
                build_type: "bazel".into(),
            },
            reason: BlockerReason::Failing,
            commit: None,
            since_commit: None,
            since: None,
            url: Some("https://ci.example/run(1)|x [y]".into()),
        }],
        last_green_commit: None,
        version_conflicts: vec![VersionConflict {
            version: "``1.8".into(),
            commits: vec!["b".repeat(40), "c".repeat(40)],
        }],
        stale: vec![StaleCell {
            cell: CellKey::new("agw", "amd64", "lab-hil-test"),
            last_build: Utc::now() - chrono::TimeDelta::hours(50),
            stale_since: Utc::now() - chrono::TimeDelta::hours(20),
        }],
        generated_at: Utc::now(),
    };
    let md = report.markdown();
    assert!(
        md.contains("Stale: agw lab-hil-test amd64 has not reported since")
            && md.contains("stale: last build 2d ago."),
        "{md}"
    );
    assert!(md.contains("``v1.8`) **x**``: NOT READY"), "{md}");
    assert!(
        md.contains("[logs](https://ci.example/run%281%29%7Cx%20%5By%5D)"),
        "{md}"
    );
    assert!(md.contains("Version ``` ``1.8 ``` was built"), "{md}");
}
use chrono::TimeZone;

fn summary(id: &str, result: BuildResult) -> BuildSummary {
    BuildSummary {
        id: id.into(),
        repository: "magma/magma".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        pr: None,
        result,
        started_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        finished_at: None,
        url: Some("javascript:alert(1)".into()),
    }
}

#[test]
fn live_cells_replace_their_slot() {
    let mut pass = CellId::new("master", "agw", "arm64", "bazel").empty_cell();
    pass.latest = Some(summary("1", BuildResult::Pass));
    let matrix = HealthMatrix::new(
        "master".into(),
        vec!["master".into()],
        vec![pass.clone()],
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    );
    let mut fail = pass.clone();
    fail.latest = Some(summary("2", BuildResult::Fail));
    let live = matrix.with_cell(fail);
    assert_eq!(live.cells.len(), 1);
    assert_eq!(live.cells[0].status(), BuildResult::Fail);
    assert_eq!(live.summary[0].red, 1);

    let mut other = pass.clone();
    other.cell.component = "feg".into();
    assert_eq!(live.with_cell(other).components, ["agw", "feg"]);
    let mut elsewhere = pass;
    elsewhere.cell.branch = "v1.8".into();
    assert_eq!(live.with_cell(elsewhere), live);
}

#[test]
fn result_aliases() {
    assert_eq!(BuildResult::parse("success"), Some(BuildResult::Pass));
    assert_eq!(BuildResult::parse("FAILURE"), Some(BuildResult::Fail));
    assert_eq!(BuildResult::parse("inconclusive"), Some(BuildResult::Error));
    assert_eq!(
        BuildResult::parse("cancelled"),
        Some(BuildResult::Cancelled)
    );
    assert_eq!(BuildResult::parse("skipped"), None);
    for r in BuildResult::ALL {
        assert_eq!(BuildResult::parse(r.as_str()), Some(r));
    }
}

#[test]
fn only_http_links_are_rendered() {
    assert!(summary("a", BuildResult::Pass).safe_url().is_none());
    assert!(is_http_url("HTTPS://ci.example/1"));
    assert!(is_http_url("http://ci.example/1"));
    assert!(!is_http_url("data:text/html,x"));
    assert!(!is_http_url("http"));
}

#[test]
fn matrix_orders_and_counts_red_cells() {
    let mut red = CellId::new("master", "agw", "arm64", "bazel").empty_cell();
    red.latest = Some(summary("1", BuildResult::Fail));
    let mut green = CellId::new("master", "agw", "amd64", "bazel").empty_cell();
    green.latest = Some(summary("2", BuildResult::Pass));
    let mut other = CellId::new("master", "feg", "riscv64", "unit").empty_cell();
    other.latest = Some(summary("3", BuildResult::Error));
    let m = HealthMatrix::new(
        "master".into(),
        vec!["master".into()],
        vec![other, red, green],
        Utc::now(),
    );
    assert_eq!(m.architectures, ["amd64", "arm64", "riscv64"]);
    assert_eq!(m.components, ["agw", "feg"]);
    assert_eq!(
        m.summary
            .iter()
            .map(|s| (s.red, s.cells))
            .collect::<Vec<_>>(),
        [(0, 1), (1, 1), (0, 1)]
    );
    assert_eq!(m.cells_of("agw", "arm64").len(), 1);
}

#[test]
fn spans_and_streaks_read_as_people_say_them() {
    assert_eq!(span(59), "59s");
    assert_eq!(span(12 * 60 + 5), "12m");
    assert_eq!(span(3 * 3600 + 120), "3h 2m");
    assert_eq!(span(2 * 86_400 + 3 * 3600 + 59), "2d 3h");
    assert_eq!(
        (streak_text(3), streak_text(-2), streak_text(0)),
        ("3 passing".into(), "2 failing".into(), "–".into())
    );
}

#[test]
fn ago_is_relative_to_generation_time() {
    let now = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    assert_eq!(ago(now, now), "just now");
    assert_eq!(ago(now - chrono::Duration::minutes(5), now), "5m ago");
    assert_eq!(ago(now - chrono::Duration::hours(3), now), "3h ago");
    assert_eq!(ago(now - chrono::Duration::days(2), now), "2d ago");
}
