//! A cell's history: statistics of a window and a page of builds.

use super::cell::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a cell behaved over a window of days.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CellStats {
    pub days: u32,
    pub builds: usize,
    pub passes: usize,
    pub failures: usize,
    /// Infrastructure errors, counted apart from real failures.
    pub errors: usize,
    pub cancelled: usize,
    /// passes / (passes + failures); `None` without any.
    pub pass_rate: Option<f64>,
    /// Commits with both a pass and a fail: flaky evidence.
    pub flaky_commits: Vec<String>,
    /// Commits with at least one pass or fail.
    pub tested_commits: usize,
    pub flaky_rate: Option<f64>,
    pub median_minutes: Option<f64>,
}

/// The history page of one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HistoryView {
    /// Its cell.
    #[serde(flatten)]
    pub cell: CellId,
    pub builds: Vec<Build>,
    pub next_cursor: Option<String>,
    pub stats: CellStats,
    /// Server-drawn SVG charts (plotters); they contain no user strings.
    pub pass_rate_chart: String,
    pub duration_chart: String,
    pub generated_at: DateTime<Utc>,
}
