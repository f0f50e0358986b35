//! The overview: a branch's cells, its branches and open incidents; badges.

use app::model::{BuildResult, Cell, HealthMatrix};
use chrono::Utc;

use super::{Service, ServiceError, MAX_SHOWN_INCIDENTS};
use crate::domain::ids::Branch;

/// State of a badge: passing, failing or unknown. A failure only in flaky
/// tests is no failure of the code.
pub fn badge_state(cells: &[Cell]) -> &'static str {
    let finished: Vec<&Cell> = cells.iter().filter(|c| c.latest.is_some()).collect();
    if finished.iter().any(|c| c.is_broken()) {
        "failing"
    } else if !finished.is_empty()
        && finished
            .iter()
            .all(|c| c.status() == BuildResult::Pass || c.is_flaky_failure())
    {
        "passing"
    } else {
        "unknown"
    }
}

impl Service {
    /// Three reads whatever the history size: the branch's cells, the
    /// branch list and its open incidents.
    pub async fn health(&self, branch: Option<Branch>) -> Result<HealthMatrix, ServiceError> {
        let branch = branch
            .unwrap_or_else(|| self.default_branch.clone())
            .into_string();
        let default = self.default_branch.as_str();
        let (cells, mut branches, incidents) = tokio::try_join!(
            self.store.cells(&branch),
            self.store.branches(),
            self.store
                .incidents(Some(&branch), true, MAX_SHOWN_INCIDENTS),
        )?;
        for known in [default, &branch] {
            if !branches.iter().any(|b| b == known) {
                branches.push(known.to_string());
            }
        }
        branches.sort_by(|a, b| (a != default, a.as_str()).cmp(&(b != default, b.as_str())));
        let now = Utc::now();
        let cells = cells
            .into_iter()
            .map(|cell| self.stale.judge(cell, now))
            .collect();
        Ok(HealthMatrix {
            incidents,
            ..HealthMatrix::new(branch, branches, cells, now)
        })
    }
}
