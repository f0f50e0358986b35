//! Failure reasons: each upload's failures added to their reasons'
//! records, and a branch's reasons over a window (the failures page and
//! API), each with the known issue a rule ties it to.

use app::model::{Build, Failures, TestFailure};
use chrono::{TimeDelta, Utc};

use super::{Service, ServiceError};
use crate::domain::ids::Branch;
use crate::domain::known_issue;
use crate::domain::reason;

/// Reasons a failures page reads, and shows, at most.
const READ_REASONS: usize = 500;
const SHOWN_REASONS: usize = 100;

impl Service {
    /// Adds an upload's failures to their reasons' records.
    pub(super) async fn record_reasons(
        &self,
        build: &Build,
        failures: &[TestFailure],
    ) -> Result<(), ServiceError> {
        let updates = reason::updates(
            &build.cell.branch,
            &build.cell.key(),
            &build.id,
            build.started_at,
            failures
                .iter()
                .map(|f| (f.name.as_str(), f.message.as_deref())),
        );
        if !updates.is_empty() {
            self.store.record_reasons(&updates).await?;
        }
        Ok(())
    }

    /// A branch's failure reasons over the last `days`, most failures
    /// first, each with the known issue a rule ties it to. Reads the
    /// reasons seen in the window (their records), never builds.
    pub async fn failures(&self, branch: &Branch, days: u32) -> Result<Failures, ServiceError> {
        let now = Utc::now();
        let since = now - TimeDelta::days(i64::from(days));
        let records = self
            .store
            .reasons(branch.as_str(), since, READ_REASONS)
            .await?;
        let rules = self.store.known_issues().await?;
        let mut reasons: Vec<_> = records
            .iter()
            .filter_map(|r| {
                let mut summary = reason::summary(r, since)?;
                summary.known_issue = r
                    .tests
                    .iter()
                    .find_map(|test| known_issue::find(&rules, test, Some(&r.example), &r.reason));
                Some(summary)
            })
            .collect();
        reasons.sort_by(|a, b| {
            b.failures
                .cmp(&a.failures)
                .then_with(|| b.last_seen.cmp(&a.last_seen))
        });
        reasons.truncate(SHOWN_REASONS);
        Ok(Failures {
            branch: branch.as_str().to_string(),
            days,
            generated_at: now,
            reasons,
        })
    }
}
