//! Release readiness: a release branch's blockers at its head, the last
//! fully green commit, version conflicts; the list of release branches.

use std::collections::HashMap;

use app::model::{BuildSummary, Cell, ReleaseReport, ReleaseSummary, StaleCell};
use chrono::Utc;

use super::{group_by_cell, Service, ServiceError};
use crate::domain::ids::Branch;
use crate::domain::release;
use crate::store::CellId;

/// Commits searched for the last fully green one.
const GREEN_SEARCH_DEPTH: usize = 50;

/// The newest commit with builds on a branch, from its cells alone.
fn head_of(cells: &[Cell]) -> Option<String> {
    cells
        .iter()
        .flat_map(|c| c.latest.iter().chain(c.running.iter()))
        .max_by(|a, b| a.order_key().cmp(&b.order_key()))
        .map(|b| b.commit.clone())
}

impl Service {
    pub async fn release(&self, branch: &Branch) -> Result<ReleaseReport, ServiceError> {
        let branch = branch.to_string();
        let cells = self.store.cells(&branch).await?;
        let head = head_of(&cells);
        let by_key: HashMap<CellId, Cell> = cells.iter().map(|c| (c.id(), c.clone())).collect();
        let mut required = self.release.required(&branch);
        if required.is_empty() {
            // Nothing configured for this branch: everything built must pass.
            required = by_key.keys().cloned().collect();
            required.sort();
        }
        let at_head = match &head {
            Some(h) => group_by_cell(&self.store.builds_of_commit(h).await?, &branch),
            None => HashMap::new(),
        };
        let blockers = if head.is_some() {
            release::blockers(&required, &by_key, &at_head)
        } else {
            Vec::new()
        };
        let recent: Vec<(String, HashMap<CellId, Vec<BuildSummary>>)> = self
            .store
            .recent_commits(&branch, None, GREEN_SEARCH_DEPTH)
            .await?
            .into_iter()
            .map(|c| {
                let grouped = group_by_cell(&c.builds, &branch);
                (c.commit, grouped)
            })
            .collect();
        let version_conflicts = release::version_conflicts(&self.store.versions(&branch).await?);
        let now = Utc::now();
        let stale = required
            .iter()
            .filter_map(|id| {
                let cell = by_key.get(id)?;
                Some(StaleCell {
                    cell: id.key(),
                    last_build: cell.cadence.as_ref()?.last_start,
                    stale_since: self.stale.stale_since(cell, now)?,
                })
            })
            .collect();
        let repository = cells
            .iter()
            .find_map(|c| c.latest.as_ref().or(c.running.as_ref()))
            .map_or_else(|| self.repository.clone(), |b| b.repository.clone());
        Ok(ReleaseReport {
            ready: head.is_some() && blockers.is_empty() && version_conflicts.is_empty(),
            required: required.len(),
            last_green_commit: release::last_green(&required, &recent),
            branch,
            repository,
            head,
            blockers,
            version_conflicts,
            stale,
            generated_at: now,
        })
    }

    pub async fn releases(&self) -> Result<Vec<ReleaseSummary>, ServiceError> {
        let mut out = Vec::new();
        let mut branches: Vec<String> = self
            .store
            .branches()
            .await?
            .into_iter()
            .filter(|b| self.release.is_release_branch(b))
            .collect();
        // Newest release line first: v1.10 after v1.9.
        branches.sort_by_key(|b| {
            std::cmp::Reverse(
                b.trim_start_matches('v')
                    .split('.')
                    .map(|p| p.parse::<u64>().unwrap_or(0))
                    .collect::<Vec<_>>(),
            )
        });
        for branch in branches {
            let report = self.release(&Branch::parse(&branch)?).await?;
            out.push(ReleaseSummary {
                branch,
                head: report.head,
                ready: report.ready,
                blockers: report.blockers.len(),
            });
        }
        Ok(out)
    }
}
