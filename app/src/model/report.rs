//! The CI health report of a branch over a window.

use super::cell::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One cell's line of the CI health report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CellReport {
    /// Its cell within the branch.
    #[serde(flatten)]
    pub cell: CellKey,
    pub builds: usize,
    /// pass ÷ (pass + fail + error), cancelled excluded; none without builds
    /// that say so.
    pub success_rate: Option<f64>,
    /// The longest time the cell stayed red in the window, in seconds.
    pub longest_breakage_s: Option<i64>,
    /// Consecutive passes (positive) or failures (negative) up to now.
    pub current_streak: i64,
}

/// One week of the report's window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WeekReport {
    pub start: DateTime<Utc>,
    pub builds: usize,
    pub success_rate: Option<f64>,
    pub incidents_opened: usize,
}

/// p017's CI health table for a branch over a window of days.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HealthReport {
    pub branch: String,
    pub days: u32,
    pub since: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// False when the window held more builds than a report reads.
    pub complete: bool,
    pub commits: usize,
    /// Commits whose every required cell passed.
    pub deployable_commits: usize,
    /// The release config's required cells; empty: every cell counts.
    pub required: Vec<CellKey>,
    pub incidents_opened: usize,
    pub median_resolve_s: Option<i64>,
    pub cells: Vec<CellReport>,
    pub weeks: Vec<WeekReport>,
    /// The tests that failed most in the window (from JUnit uploads).
    #[serde(default)]
    pub failing_tests: Vec<ReportTest>,
    pub markdown: String,
}

/// A test of the report's "most failing tests".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReportTest {
    /// Its cell within the branch.
    #[serde(flatten)]
    pub cell: CellKey,
    pub name: String,
    pub failures: u32,
    pub runs: u32,
}

/// The report with its server-drawn charts, for its page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReportView {
    pub report: HealthReport,
    /// SVG (plotters); they contain no user strings.
    pub success_chart: String,
    pub incidents_chart: String,
}
