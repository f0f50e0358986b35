//! A test's record in one cell: runs, failures and flips (its result
//! changing between consecutive runs of the cell), per day for a window,
//! where its current failure began, its current streak and its latest
//! runs. Kept only for tests that failed at least once in the cell: a test
//! that always passed has no flips and needs no row. The runs before its
//! first failure are the cell's runs with results until then (passes,
//! within one run: a test added later counts the runs before it too), so
//! a rare flake's flip rate is not that of a test with two runs.

use std::collections::HashMap;

use app::model::{CellId, ResultDays, TestDay, TestRun, TestStats, TestStatus};
use chrono::{DateTime, Duration, Utc};

/// Days of per-day counts kept: the longest window the flaky ranking takes.
pub const KEPT_DAYS: i64 = 90;
/// Latest runs kept for the test's history page.
pub const KEPT_RUNS: usize = 50;
/// Days of a cell's runs with results kept: what a new test record counts
/// as its runs before its first failure (the flaky ranking's default
/// window; longer windows count a record's days before that only from its
/// first failure on).
pub const RESULT_DAYS: usize = 30;

/// The record after one more run; skipped runs are not runs. A new record
/// starts from `before`, the cell's runs with results before this one.
pub fn record(
    stats: Option<TestStats>,
    cell: &CellId,
    name: &str,
    run: &TestRun,
    before: Option<&ResultDays>,
) -> Option<TestStats> {
    if run.status == TestStatus::Skipped {
        return stats;
    }
    let mut stats = stats.unwrap_or_else(|| {
        let days = passes_before(before, run.at);
        let runs = days.iter().map(|d| d.runs).sum();
        TestStats {
            cell: CellId {
                branch: cell.branch.clone(),
                component: cell.component.clone(),
                arch: cell.arch.clone(),
                build_type: cell.build_type.clone(),
            },
            name: name.to_string(),
            runs,
            failures: 0,
            flips: 0,
            last_status: TestStatus::Passed,
            failing_since: None,
            last_flaky_commit: None,
            last_run_at: run.at,
            recent: Vec::new(),
            days,
            streak: 0,
        }
    });
    let failed = run.status.is_failure();
    // A run that failed and passed on a rerun: a failure and a flip inside
    // it for the test's flakiness, and the end of any streak.
    let flaky = run.status == TestStatus::Flaky;
    let flipped = stats.runs > 0 && stats.last_status.is_failure() != failed;
    stats.streak = if failed { stats.streak + 1 } else { 0 };
    stats.runs += 1;
    stats.failures += u32::from(failed || flaky);
    stats.flips += u32::from(flipped) + u32::from(flaky);
    if failed && (stats.failing_since.is_none() || flipped) {
        stats.failing_since = Some(run.commit.clone());
    }
    if !failed {
        stats.failing_since = None;
    }
    if flaky
        || stats
            .recent
            .iter()
            .any(|r| r.commit == run.commit && r.status.is_failure() != failed)
    {
        stats.last_flaky_commit = Some(run.commit.clone());
    }
    stats.last_status = run.status;
    stats.last_run_at = stats.last_run_at.max(run.at);
    stats.recent.insert(0, run.clone());
    stats.recent.truncate(KEPT_RUNS);

    let day = day_of(run.at);
    match stats.days.iter_mut().find(|d| d.day == day) {
        Some(d) => {
            d.runs += 1;
            d.failures += u32::from(failed || flaky);
            d.flips += u32::from(flipped) + u32::from(flaky);
        }
        None => stats.days.push(TestDay {
            day,
            runs: 1,
            failures: u32::from(failed || flaky),
            flips: u32::from(flipped) + u32::from(flaky),
        }),
    }
    stats.days.sort_by_key(|d| d.day);
    let oldest = day - Duration::days(KEPT_DAYS);
    stats.days.retain(|d| d.day > oldest);
    Some(stats)
}

/// The cell's earlier runs with results as passes of a new record, per
/// day, within the days a record keeps.
fn passes_before(before: Option<&ResultDays>, at: DateTime<Utc>) -> Vec<TestDay> {
    let Some(before) = before else {
        return Vec::new();
    };
    let oldest = day_of(at) - Duration::days(KEPT_DAYS);
    let mut days: Vec<TestDay> = before
        .runs
        .iter()
        .enumerate()
        .filter(|(_, runs)| **runs > 0)
        .map(|(i, runs)| TestDay {
            day: before.last_day - Duration::days(i as i64),
            runs: *runs,
            failures: 0,
            flips: 0,
        })
        .filter(|d| d.day > oldest)
        .collect();
    days.sort_by_key(|d| d.day);
    days
}

/// The cell's runs with results after one more, on the day of `at`:
/// the last [`RESULT_DAYS`] days.
pub fn count_result_run(days: Option<&ResultDays>, at: DateTime<Utc>) -> ResultDays {
    let day = day_of(at);
    let mut next = days.cloned().unwrap_or(ResultDays {
        last_day: day,
        runs: Vec::new(),
    });
    if day > next.last_day {
        let gap = (day - next.last_day).num_days() as usize;
        let mut shifted = vec![0; gap.min(RESULT_DAYS)];
        shifted.extend(next.runs.iter().copied());
        next.runs = shifted;
        next.last_day = day;
    }
    let index = (next.last_day - day).num_days() as usize;
    if index < RESULT_DAYS {
        if next.runs.len() <= index {
            next.runs.resize(index + 1, 0);
        }
        next.runs[index] += 1;
    }
    next.runs.truncate(RESULT_DAYS);
    next
}

fn day_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

/// The names a file's runs update: every failure and flaky run, and every
/// test already tracked in the cell.
pub fn touched(
    runs: &[(String, TestRun)],
    tracked: impl Fn(&str) -> bool,
) -> Vec<&(String, TestRun)> {
    runs.iter()
        .filter(|(name, run)| {
            run.status.is_failure() || run.status == TestStatus::Flaky || tracked(name)
        })
        .collect()
}

/// One test's line of the flaky ranking over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Flaky {
    pub runs: u32,
    pub failures: u32,
    pub flips: u32,
    /// flips ÷ (runs − 1).
    pub flip_rate: f64,
}

/// Runs, failures and flips since the day of `since`.
pub fn in_window(stats: &TestStats, since: DateTime<Utc>) -> (u32, u32, u32) {
    let since = day_of(since);
    stats
        .days
        .iter()
        .filter(|d| d.day >= since)
        .fold((0, 0, 0), |(r, f, x), d| {
            (r + d.runs, f + d.failures, x + d.flips)
        })
}

pub fn flaky(stats: &TestStats, since: DateTime<Utc>) -> Option<Flaky> {
    let (runs, failures, flips) = in_window(stats, since);
    // One flip is a break or a fix, not flakiness.
    (flips > 1 && runs > 1).then(|| Flaky {
        runs,
        failures,
        flips,
        flip_rate: f64::from(flips) / f64::from(runs - 1),
    })
}

/// Records by name, for a cell's upload.
pub fn by_name(stats: Vec<TestStats>) -> HashMap<String, TestStats> {
    stats.into_iter().map(|s| (s.name.clone(), s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn run(commit: &str, day: u32, status: TestStatus) -> TestRun {
        TestRun {
            build: format!("{commit}-{day}-{status:?}"),
            commit: commit.into(),
            status,
            at: Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap(),
        }
    }

    fn cell() -> CellId {
        CellId::new("master", "lte", "arm64", "integ")
    }

    fn replay(runs: &[TestRun]) -> TestStats {
        let mut stats = None;
        for r in runs {
            stats = record(stats, &cell(), "t", r, None);
        }
        stats.unwrap()
    }

    #[test]
    fn flips_failures_and_failing_since() {
        use TestStatus::*;
        let stats = replay(&[
            run("a", 1, Failed),
            run("b", 2, Passed),
            run("c", 3, Skipped),
            run("d", 3, Failed),
            run("e", 4, Error),
        ]);
        assert_eq!(
            (stats.runs, stats.failures, stats.flips),
            (4, 3, 2),
            "skips are no runs"
        );
        assert_eq!(stats.failing_since.as_deref(), Some("d"));
        assert_eq!(stats.recent.len(), 4);
        assert_eq!(stats.recent[0].commit, "e", "newest first");
        assert_eq!(stats.days.len(), 4);
        let green = replay(&[run("a", 1, Failed), run("b", 2, Passed)]);
        assert_eq!(green.failing_since, None);
    }

    #[test]
    fn the_flip_rate_of_a_window_and_the_last_flaky_commit() {
        use TestStatus::*;
        let stats = replay(&[
            run("a", 1, Failed),
            run("a", 1, Passed),
            run("b", 20, Passed),
            run("c", 21, Failed),
            run("d", 22, Passed),
        ]);
        assert_eq!(stats.last_flaky_commit.as_deref(), Some("a"));
        let all = flaky(&stats, Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()).unwrap();
        assert_eq!((all.runs, all.flips, all.failures), (5, 3, 2));
        assert_eq!(all.flip_rate, 3.0 / 4.0);
        let late = flaky(
            &stats,
            Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap(),
        )
        .unwrap();
        assert_eq!((late.runs, late.flips), (3, 2), "whole days");
        assert!(
            flaky(
                &replay(&[run("a", 1, Failed), run("b", 2, Failed)]),
                Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
            )
            .is_none(),
            "no flips"
        );
    }

    #[test]
    fn only_failures_and_tracked_tests_are_touched() {
        use TestStatus::*;
        let runs = vec![
            ("new_failure".to_string(), run("a", 1, Failed)),
            ("tracked".to_string(), run("a", 1, Passed)),
            ("always_green".to_string(), run("a", 1, Passed)),
        ];
        let names: Vec<&str> = touched(&runs, |name| name == "tracked")
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["new_failure", "tracked"]);
    }

    #[test]
    fn a_rare_flakes_runs_before_its_first_failure_count() {
        // The cell ran its tests three times (two on the 1st, one on the
        // 2nd) before this test first failed on the 3rd, then passed.
        let mut days = None;
        for day in [1, 1, 2] {
            days = Some(count_result_run(
                days.as_ref(),
                run("x", day, TestStatus::Passed).at,
            ));
        }
        let failed = record(
            None,
            &cell(),
            "t",
            &run("d", 3, TestStatus::Failed),
            days.as_ref(),
        );
        let stats = record(failed, &cell(), "t", &run("e", 4, TestStatus::Passed), None).unwrap();
        assert_eq!((stats.runs, stats.failures, stats.flips), (5, 1, 2));
        let f = flaky(&stats, Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()).unwrap();
        assert_eq!(f.flip_rate, 0.5, "2 flips in 4 transitions, not 1 in 1");
    }

    #[test]
    fn a_cells_runs_with_results_keep_the_latest_days() {
        let at = |day: u32| Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap();
        let mut days = None;
        for day in [1, 1, 3] {
            days = Some(count_result_run(days.as_ref(), at(day)));
        }
        let days = days.unwrap();
        assert_eq!(days.last_day, day_of(at(3)));
        assert_eq!(days.runs, vec![1, 0, 2]);
        // A late run lands on its own day; one past the kept days is
        // dropped, as is everything a long gap pushes out.
        let late = count_result_run(Some(&days), at(2));
        assert_eq!(late.runs, vec![1, 1, 2]);
        let old = count_result_run(Some(&days), at(3) - Duration::days(40));
        assert_eq!(old.runs, days.runs);
        let gap = count_result_run(Some(&days), at(3) + Duration::days(40));
        assert_eq!(gap.runs.iter().sum::<u32>(), 1);
        assert!(gap.runs.len() <= RESULT_DAYS);
    }

    #[test]
    fn a_streak_counts_consecutive_failures_and_a_pass_ends_it() {
        use TestStatus::*;
        let stats = replay(&[
            run("a", 1, Failed),
            run("b", 2, Failed),
            run("c", 3, Skipped),
            run("d", 4, Error),
        ]);
        assert_eq!(stats.streak, 3, "skips are no runs");
        assert_eq!(
            replay(&[run("a", 1, Failed), run("b", 2, Passed)]).streak,
            0
        );
    }

    #[test]
    fn a_run_that_passed_on_a_rerun_is_flaky_evidence_and_ends_a_streak() {
        use TestStatus::*;
        let stats = replay(&[run("a", 1, Failed), run("b", 2, Failed), run("c", 3, Flaky)]);
        assert_eq!(stats.streak, 0, "it passed on the rerun");
        assert_eq!((stats.runs, stats.failures), (3, 3));
        assert_eq!(stats.last_flaky_commit.as_deref(), Some("c"));
        assert_eq!(stats.failing_since, None);
    }
}
