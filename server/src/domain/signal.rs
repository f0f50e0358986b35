//! Which failures are signal. In a cell that uploads test results, what
//! breaks is a test: its streak of consecutive failing runs is a breakage
//! once it is longer than the test's own history makes likely by chance:
//! the shortest streak `k` with `p^k` below `chance`, where `p` is the
//! upper end of what its runs before the streak say its failure rate may
//! be (Wilson's 95% bound). A test with a long clean history (about 90 runs
//! in the window) needs `failures_to_open` runs; a short history says
//! little, so it needs more (10 clean runs: 6), as does a flaky test (one
//! failing 14 of 100 runs: 6 in a row), so a flaky test opens nothing
//! unless it really breaks, and a young cell's first flakes page nobody. A
//! test's first record counts the cell's earlier runs with results, so a
//! test new to a mature cell is judged on the cell's history. Uploads from
//! infrastructure failures (an `error` build, or most tests failing at
//! once) are left out of every test's record.

use app::model::{BuildResult, TestStats, TestTotals};
use chrono::Duration;
use serde::Deserialize;

use super::test_stats;

/// The signal part of the notification config; every field optional.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    pub window_days: Option<u32>,
    pub min_runs: Option<u32>,
    pub chance: Option<f64>,
    pub max_streak: Option<u32>,
    pub infra_share: Option<f64>,
}

/// The rules, with the defaults the signal benchmark chose (BENCHMARKS.md,
/// "Signal").
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRules {
    pub failures_to_open: u32,
    /// Days of a test's history its flakiness is judged on.
    pub window_days: u32,
    /// Runs before its current streak a test needs to be called flaky.
    pub min_runs: u32,
    /// How unlikely a streak must be from flakiness alone to be a breakage.
    pub chance: f64,
    /// The longest streak any test is asked for.
    pub max_streak: u32,
    /// Share of an upload's tests failing above which it is an
    /// infrastructure failure.
    pub infra_share: f64,
}

impl SignalRules {
    pub fn new(config: &SignalConfig, failures_to_open: u32) -> Result<Self, String> {
        let rules = SignalRules {
            failures_to_open,
            window_days: config.window_days.unwrap_or(30),
            min_runs: config.min_runs.unwrap_or(10),
            chance: config.chance.unwrap_or(1e-4),
            max_streak: config.max_streak.unwrap_or(12),
            infra_share: config.infra_share.unwrap_or(0.8),
        };
        if !(1..=test_stats::KEPT_DAYS as u32).contains(&rules.window_days) {
            return Err(format!(
                "signal.window_days must be from 1 to {}",
                test_stats::KEPT_DAYS
            ));
        }
        if !(rules.chance > 0.0 && rules.chance < 1.0) {
            return Err("signal.chance must be between 0 and 1".into());
        }
        if !(rules.infra_share > 0.0 && rules.infra_share <= 1.0) {
            return Err("signal.infra_share must be above 0 and at most 1".into());
        }
        if rules.max_streak < failures_to_open {
            return Err("signal.max_streak must be at least failures_to_open".into());
        }
        Ok(rules)
    }

    /// A test's runs and failures before its current streak, over the
    /// window ending at its latest run.
    fn before_streak(&self, stats: &TestStats) -> (u32, u32) {
        let since = stats.last_run_at - Duration::days(i64::from(self.window_days));
        let (runs, failures, _) = test_stats::in_window(stats, since);
        (
            runs.saturating_sub(stats.streak),
            failures.saturating_sub(stats.streak),
        )
    }

    /// Whether the test's history shows it flaky: enough runs before its
    /// current streak, failing in some of them and passing in others.
    pub fn is_flaky(&self, stats: &TestStats) -> bool {
        let (runs, failures) = self.before_streak(stats);
        runs >= self.min_runs && failures > 0 && failures < runs
    }

    /// The streak that makes this test's failure a breakage.
    pub fn required_streak(&self, stats: &TestStats) -> u32 {
        let open = self.failures_to_open.max(1);
        let (runs, failures) = self.before_streak(stats);
        if runs == 0 || failures >= runs {
            return open;
        }
        let p = wilson_upper(failures, runs);
        let k = (self.chance.ln() / p.ln()).ceil();
        (k.max(0.0) as u32).clamp(open, self.max_streak.max(open))
    }

    /// The commit the test's breakage began at, when its streak is one.
    pub fn breakage<'a>(&self, stats: &'a TestStats) -> Option<&'a str> {
        if stats.streak == 0 || stats.streak < self.required_streak(stats) {
            return None;
        }
        stats.failing_since.as_deref()
    }

    /// Whether an upload says more about the machines than about the code.
    pub fn is_infrastructure(&self, result: BuildResult, file: &TestTotals) -> bool {
        let ran = file.passed + file.failed + file.errors;
        let failing = file.failed + file.errors;
        result == BuildResult::Error || (ran >= 5 && failing as f64 > self.infra_share * ran as f64)
    }
}

/// The upper end of a failure rate's 95% interval (Wilson score, one
/// sided) after `failures` in `runs`.
fn wilson_upper(failures: u32, runs: u32) -> f64 {
    const Z: f64 = 1.645;
    let n = f64::from(runs);
    let p = f64::from(failures) / n;
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let margin = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre + margin) / (1.0 + z2 / n)).min(1.0)
}

/// The commit of the test's last pass before its current streak.
pub fn last_pass_before_streak(stats: &TestStats) -> Option<String> {
    stats
        .recent
        .iter()
        .skip(stats.streak as usize)
        .find(|r| !r.status.is_failure())
        .map(|r| r.commit.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{CellId, TestRun, TestStatus};
    use chrono::{TimeZone, Utc};

    fn rules() -> SignalRules {
        SignalRules::new(&SignalConfig::default(), 3).unwrap()
    }

    /// A test's record after these runs (true: failed), one per hour.
    fn after(runs: &[bool]) -> TestStats {
        let cell = CellId::new("master", "lte", "amd64", "integ");
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let mut stats = None;
        for (i, failed) in runs.iter().enumerate() {
            let run = TestRun {
                build: format!("b{i}"),
                commit: format!("c{i}"),
                status: if *failed {
                    TestStatus::Failed
                } else {
                    TestStatus::Passed
                },
                at: start + Duration::hours(i as i64),
            };
            stats = test_stats::record(stats, &cell, "t", &run, None);
        }
        stats.unwrap()
    }

    fn runs(pattern: &str) -> Vec<bool> {
        pattern.chars().map(|c| c == 'F').collect()
    }

    #[test]
    fn a_test_with_a_long_clean_history_breaks_after_failures_to_open_runs() {
        let r = rules();
        let two = after(&runs(&format!("{}FF", "P".repeat(100))));
        assert_eq!(r.required_streak(&two), 3);
        assert_eq!(r.breakage(&two), None);
        let three = after(&runs(&format!("{}FFF", "P".repeat(100))));
        assert_eq!(r.breakage(&three), Some("c100"));
        assert!(!r.is_flaky(&three));
    }

    #[test]
    fn a_short_history_asks_for_a_longer_streak() {
        let r = rules();
        // Ten clean runs allow a failure rate of up to 21%: 0.21^6 < 1e-4.
        let young = after(&runs(&format!("{}FFF", "P".repeat(10))));
        assert_eq!(r.required_streak(&young), 6);
        assert_eq!(
            r.required_streak(&after(&runs(&format!("{}F", "P".repeat(40))))),
            4
        );
        // No run before the streak: nothing to weigh it against.
        assert_eq!(r.required_streak(&after(&runs("FFF"))), 3);
    }

    #[test]
    fn a_flaky_test_needs_a_streak_its_flakiness_makes_unlikely() {
        let r = rules();
        // Failing 14 of 100 runs: up to 21% by Wilson's bound, and
        // 0.21^6 < 1e-4 < 0.21^5.
        let history: String = (0..100)
            .map(|i| if i % 7 == 3 { 'F' } else { 'P' })
            .collect();
        let five = after(&runs(&format!("{history}FFFFF")));
        assert!(r.is_flaky(&five));
        assert_eq!(r.required_streak(&five), 6);
        assert_eq!(r.breakage(&five), None);
        let six = after(&runs(&format!("{history}FFFFFF")));
        assert_eq!(r.breakage(&six), Some("c100"));
    }

    #[test]
    fn a_few_runs_say_little_so_a_failure_among_them_asks_for_more() {
        let r = rules();
        let few = after(&runs("PPFPPPPPPFFF"));
        assert!(!r.is_flaky(&few), "9 runs before the streak");
        assert_eq!(r.required_streak(&few), 10);
    }

    #[test]
    fn very_flaky_tests_are_asked_for_at_most_max_streak() {
        let r = rules();
        let half = after(&runs(&format!("{}FFF", "PF".repeat(10))));
        assert_eq!(r.required_streak(&half), 12);
    }

    #[test]
    fn a_pass_ends_the_streak() {
        let r = rules();
        let passed = after(&runs(&format!("{}FFFP", "P".repeat(20))));
        assert_eq!(passed.streak, 0);
        assert_eq!(r.breakage(&passed), None);
    }

    #[test]
    fn the_last_good_commit_is_the_pass_before_the_streak() {
        let stats = after(&runs("PPFPFFF"));
        assert_eq!(last_pass_before_streak(&stats).as_deref(), Some("c3"));
    }

    #[test]
    fn infrastructure_failures_are_error_builds_and_mass_failures() {
        let r = rules();
        let totals = |passed, failed| TestTotals {
            passed,
            failed,
            ..Default::default()
        };
        assert!(r.is_infrastructure(BuildResult::Error, &totals(10, 0)));
        assert!(r.is_infrastructure(BuildResult::Fail, &totals(1, 9)));
        assert!(!r.is_infrastructure(BuildResult::Fail, &totals(2, 8)));
        // A small file failing whole is a failure, not the machines.
        assert!(!r.is_infrastructure(BuildResult::Fail, &totals(0, 4)));
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = |c: SignalConfig| SignalRules::new(&c, 3).unwrap_err();
        assert!(bad(SignalConfig {
            chance: Some(0.0),
            ..Default::default()
        })
        .contains("chance"));
        assert!(bad(SignalConfig {
            window_days: Some(0),
            ..Default::default()
        })
        .contains("window_days"));
        assert!(bad(SignalConfig {
            max_streak: Some(2),
            ..Default::default()
        })
        .contains("max_streak"));
    }
}
