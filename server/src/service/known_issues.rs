//! Known-issue rules: made, listed and removed; failures are matched
//! against them when they are read (so a new rule applies to past
//! failures).

use app::model::KnownIssue;

use super::{Service, ServiceError};
use crate::domain::field_error::FieldError;
use crate::domain::known_issue::MAX_RULES;

impl Service {
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
