//! Failure reasons and known-issue rules: each upload's failures added
//! to their reasons' records; a branch's reasons over a window (the
//! failures page); rules made, listed and removed, matched against
//! failures when they are read (so a new rule applies to past failures).

use app::model::{Build, Failures, KnownIssue, TestFailure};
use chrono::{TimeDelta, Utc};

use super::{Service, ServiceError};
use crate::domain::field_error::FieldError;
use crate::domain::ids::Branch;
use crate::domain::known_issue::{self, MAX_RULES};
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

    pub async fn known_issues(&self) -> Result<Vec<KnownIssue>, ServiceError> {
        Ok(self.store.known_issues().await?)
    }

    /// Keeps a rule; true when it is new (the same rule again is kept once).
    pub async fn add_known_issue(&self, rule: KnownIssue) -> Result<bool, ServiceError> {
        let rules = self.store.known_issues().await?;
        if rules.iter().any(|r| r.id == rule.id) {
            return Ok(false);
        }
        if rules.len() >= MAX_RULES {
            return Err(FieldError::field(
                "url",
                format!("the dashboard keeps at most {MAX_RULES} known-issue rules: remove one"),
            )
            .into());
        }
        tracing::info!(rule = %rule.id, url = %rule.url, by = %rule.by, "known issue");
        Ok(self.store.put_known_issue(&rule).await?)
    }

    pub async fn remove_known_issue(&self, id: &str) -> Result<(), ServiceError> {
        if self.store.remove_known_issue(id).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "no known-issue rule '{id}'"
            )))
        }
    }
}
