//! The CI health report of a branch over a window, computed from the
//! window's builds (read through the branch-and-time index, so its cost is
//! the window's, not history's) and kept for a minute: a report asked for
//! again and again is computed once a minute.

use std::sync::Arc;

use app::model::{Build, CellKey, HealthReport, ReportView};
use chrono::{TimeDelta, Utc};

use super::{Service, ServiceError};
use crate::domain::field_error::FieldError;
use crate::domain::ids::Branch;
use crate::domain::report::{self, Window};
use crate::store::{BuildFilter, Cursor};

pub const MAX_REPORT_DAYS: u32 = 90;
/// Builds a report reads at most: a window holding more is reported from
/// its newest builds, and says so.
const MAX_REPORT_BUILDS: usize = 20_000;
const PAGE: usize = 1_000;
/// Incidents of the branch read, newest first.
const MAX_REPORT_INCIDENTS: usize = 500;
/// Test records read for "most failing tests", latest run first.
const MAX_REPORT_TESTS: usize = 5_000;

/// The branch and window of a windowed answer (report, flaky tests), as
/// given: the default branch and 30 days unless said otherwise.
pub fn branch_and_days(
    default: &Branch,
    branch: Option<&str>,
    days: Option<&str>,
) -> Result<(Branch, u32), FieldError> {
    Ok((Branch::parse_or(branch, default)?, parse_days(days)?))
}

pub fn parse_days(days: Option<&str>) -> Result<u32, FieldError> {
    let bad = || FieldError::field("days", format!("days must be from 1 to {MAX_REPORT_DAYS}"));
    match days.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(30),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=MAX_REPORT_DAYS).contains(d))
            .ok_or_else(bad),
    }
}

impl Service {
    pub async fn report(
        &self,
        branch: &Branch,
        days: u32,
    ) -> Result<Arc<HealthReport>, ServiceError> {
        if !(1..=MAX_REPORT_DAYS).contains(&days) {
            return Err(FieldError::field(
                "days",
                format!("days must be from 1 to {MAX_REPORT_DAYS}"),
            )
            .into());
        }
        let key = (branch.as_str().to_string(), days);
        self.reports
            .get_or_compute(key, || self.compute_report(branch, days))
            .await
    }

    async fn compute_report(
        &self,
        branch: &Branch,
        days: u32,
    ) -> Result<HealthReport, ServiceError> {
        if self.store.cells(branch.as_str()).await?.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "no builds on branch '{}'",
                branch.as_str()
            )));
        }
        let now = Utc::now();
        let filter = BuildFilter {
            branch: Some(branch.as_str().to_string()),
            since: Some(now - TimeDelta::days(i64::from(days))),
            ..Default::default()
        };
        let mut builds: Vec<Build> = Vec::new();
        let mut cursor: Option<Cursor> = None;
        let complete = loop {
            let page = self.store.builds(&filter, cursor.as_ref(), PAGE).await?;
            let last = page.len() < PAGE;
            cursor = page.last().map(Cursor::of);
            builds.extend(page);
            if last {
                break true;
            }
            if builds.len() >= MAX_REPORT_BUILDS {
                break false;
            }
        };
        let incidents = self
            .store
            .incidents(Some(branch.as_str()), false, MAX_REPORT_INCIDENTS)
            .await?;
        let since = now - TimeDelta::days(i64::from(days));
        let tests = self
            .store
            .test_stats_since(branch.as_str(), since, MAX_REPORT_TESTS)
            .await?;
        let required: Vec<CellKey> = self
            .release
            .required(branch.as_str())
            .into_iter()
            .map(|c| c.key())
            .collect();
        Ok(report::report(&Window {
            branch: branch.as_str(),
            days,
            now,
            builds: &builds,
            complete,
            incidents: &incidents,
            required: &required,
            tests: &tests,
        }))
    }

    pub async fn report_view(
        &self,
        branch: &Branch,
        days: u32,
    ) -> Result<ReportView, ServiceError> {
        let report = self.report(branch, days).await?;
        Ok(ReportView {
            success_chart: report::success_chart(&report),
            incidents_chart: report::incidents_chart(&report),
            report: (*report).clone(),
        })
    }
}
