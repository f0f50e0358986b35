//! Incidents as the API and pages show them: kept up to date from the
//! cells each post moved, with their suspect commits found once, when the
//! incident opens, and whether a branch is frozen.

use app::model::{
    github, Build, BuildResult, CellKey, CellTestFailures, Delivery, Freeze, FreezeEvent, Incident,
    IncidentDetail, IncidentState, Suspect,
};
use chrono::Utc;
use std::collections::HashSet;

use super::{Service, ServiceError, MAX_SHOWN_INCIDENTS};
use crate::domain::field_error::FieldError;
use crate::domain::ids::Branch;
use crate::domain::incident::{self, Change};
use crate::domain::known_issue;
use crate::store::{CellMove, UploadOutcome};

/// Commits walked back through `parent` looking for the last good one.
const MAX_SUSPECTS: usize = 20;
const MAX_SHOWN_DELIVERIES: usize = 100;
/// Failing tests named per cell of an incident.
const MAX_NAMED_TESTS: usize = 20;

/// Which incidents a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Open,
    Resolved,
    All,
}

impl Service {
    /// Applies what a post did to the incidents; returns the incidents it
    /// changed, as stored after.
    pub async fn record_incidents(
        &self,
        moves: &[CellMove],
    ) -> Result<Vec<Incident>, ServiceError> {
        let now = Utc::now();
        let changes = moves
            .iter()
            .flat_map(|m| incident::changes(&self.incident_rules, m.before.as_ref(), &m.after, now))
            .collect();
        self.apply_changes(changes).await
    }

    /// Applies what a test upload did to the incidents: its tests' streaks
    /// in a cell judged by its tests, but for `quarantined` tests.
    pub async fn record_test_incidents(
        &self,
        build: &Build,
        outcome: &UploadOutcome,
        quarantined: &HashSet<String>,
    ) -> Result<Vec<Incident>, ServiceError> {
        let (rules, now) = (&self.incident_rules, Utc::now());
        let mut changes = Vec::new();
        if let Some(before) = &outcome.became_tested {
            changes.extend(incident::became_tested(rules, before, now));
        }
        for moved in &outcome.moves {
            changes.extend(incident::test_changes(
                rules,
                &build.cell.branch,
                moved.before.as_ref(),
                &moved.after,
                quarantined.contains(&moved.after.name),
                now,
            ));
        }
        self.apply_changes(changes).await
    }

    /// Each change applied in the store's one atomic step; an incident's
    /// suspects found once, when it opens: pages never walk history.
    async fn apply_changes(&self, changes: Vec<Change>) -> Result<Vec<Incident>, ServiceError> {
        let mut changed = Vec::new();
        for change in changes {
            let Some(after) = self.store.update_incident(&change, &self.webhooks).await? else {
                continue;
            };
            let after = if after.cells.len() == 1 && after.suspects.is_empty() {
                let found = self.find_suspects(&after).await?;
                self.store
                    .update_incident(&found, &[])
                    .await?
                    .unwrap_or(after)
            } else {
                after
            };
            changed.push(after);
        }
        // Suspects are stored before the worker wakes, so the opening
        // message names them.
        if !changed.is_empty() && !self.webhooks.is_empty() {
            self.outbox.notify_one();
        }
        Ok(changed)
    }

    async fn find_suspects(&self, incident: &Incident) -> Result<Change, ServiceError> {
        let mut suspects = Vec::new();
        let mut complete = false;
        let mut repository = None;
        let mut commit = incident.first_bad_commit.clone();
        for _ in 0..MAX_SUSPECTS {
            let builds = self.store.builds_of_commit(&commit).await?;
            let of_branch: Vec<&Build> = builds
                .iter()
                .filter(|b| b.cell.branch == incident.branch)
                .collect();
            let said = if of_branch.is_empty() {
                builds.iter().collect()
            } else {
                of_branch
            };
            repository = repository.or_else(|| said.first().map(|b| b.repository.clone()));
            suspects.push(Suspect {
                commit: commit.clone(),
                pr: said.iter().find_map(|b| b.pr),
                title: said.iter().find_map(|b| b.commit_title.clone()),
                author: said.iter().find_map(|b| b.author.clone()),
            });
            match said.iter().find_map(|b| b.parent.clone()) {
                Some(parent) if Some(&parent) == incident.last_good_commit.as_ref() => {
                    complete = true;
                    break;
                }
                // A chain that comes back on itself is broken.
                Some(parent) if !suspects.iter().any(|s| s.commit == parent) => commit = parent,
                _ => break,
            }
        }
        let repository = repository.unwrap_or_else(|| self.repository.clone());
        let compare_url = incident
            .last_good_commit
            .as_ref()
            .map(|good| github::compare(&repository, good, &incident.first_bad_commit));
        Ok(Change::Suspects {
            id: incident.id.clone(),
            suspects,
            complete,
            compare_url,
        })
    }

    pub async fn incidents(
        &self,
        branch: Option<&Branch>,
        state: StateFilter,
    ) -> Result<Vec<Incident>, ServiceError> {
        let branch = branch.map(Branch::as_str);
        let mut found = self
            .store
            .incidents(branch, state == StateFilter::Open, MAX_SHOWN_INCIDENTS)
            .await?;
        if state == StateFilter::Resolved {
            found.retain(|i| i.state == IncidentState::Resolved);
        }
        Ok(found)
    }

    /// An incident and the notifications it caused.
    pub async fn incident_detail(&self, id: &str) -> Result<IncidentDetail, ServiceError> {
        let incident = self.incident(id).await?;
        let deliveries = self
            .store
            .deliveries(Some(&incident.id), MAX_SHOWN_DELIVERIES)
            .await?;
        let failing_tests = self.incident_failing_tests(&incident).await?;
        Ok(IncidentDetail {
            incident,
            deliveries,
            failing_tests,
        })
    }

    /// The failing tests of the incident's cells at its first bad commit:
    /// what on-call reads first.
    pub async fn incident_failing_tests(
        &self,
        incident: &Incident,
    ) -> Result<Vec<CellTestFailures>, ServiceError> {
        let builds = self
            .store
            .builds_of_commit(&incident.first_bad_commit)
            .await?;
        let mut judged: Vec<(CellKey, &Build)> = Vec::new();
        for cell in &incident.cells {
            let newest = builds
                .iter()
                .filter(|b| {
                    b.cell.branch == incident.branch
                        && b.cell.component == cell.component
                        && b.cell.arch == cell.arch
                        && b.cell.build_type == cell.build_type
                        && b.result == BuildResult::Fail
                })
                .max_by_key(|b| b.started_at);
            if let Some(build) = newest {
                judged.push((cell.clone(), build));
            }
        }
        let ids: Vec<String> = judged.iter().map(|(_, b)| b.id.clone()).collect();
        let failures = self.store.test_failures(&ids).await?;
        let rules = if failures.is_empty() {
            Vec::new()
        } else {
            self.store.known_issues().await?
        };
        Ok(judged
            .into_iter()
            .map(|(cell, build)| {
                let named: Vec<_> = failures
                    .iter()
                    .filter(|f| f.build == build.id)
                    .take(MAX_NAMED_TESTS)
                    .collect();
                CellTestFailures {
                    cell,
                    tests: named.iter().map(|f| f.name.clone()).collect(),
                    reasons: known_issue::group(
                        named
                            .iter()
                            .map(|f| (f.name.as_str(), f.message.as_deref())),
                        &rules,
                    ),
                }
            })
            .filter(|c| !c.tests.is_empty())
            .collect())
    }

    /// The latest deliveries, of one incident or all.
    pub async fn deliveries(&self, incident: Option<&str>) -> Result<Vec<Delivery>, ServiceError> {
        if let Some(id) = incident {
            self.incident(id).await?;
        }
        Ok(self
            .store
            .deliveries(incident, MAX_SHOWN_DELIVERIES)
            .await?)
    }

    /// Applies an acknowledgement (`Change::Ack`) to its incident, which
    /// must exist; the incident after.
    pub async fn acknowledge(&self, change: Change) -> Result<Incident, ServiceError> {
        self.incident(change.id()).await?;
        let after = self.store.update_incident(&change, &self.webhooks).await?;
        let after = after.ok_or_else(|| ServiceError::NotFound("the incident is gone".into()))?;
        tracing::info!(id = %after.id, by = ?after.triage.ack.as_ref().map(|a| &a.by), "incident acknowledged");
        Ok(after)
    }

    pub async fn incident(&self, id: &str) -> Result<Incident, ServiceError> {
        let valid = id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit());
        let found = if valid {
            self.store.incident(id).await?
        } else {
            None
        };
        found.ok_or_else(|| ServiceError::NotFound(format!("no incident '{id}'")))
    }

    /// A branch is frozen while it has an open incident, or while someone
    /// froze it by hand and nobody unfroze it since.
    pub async fn freeze(&self, branch: &Branch) -> Result<Freeze, ServiceError> {
        let (open, manual) = tokio::try_join!(
            self.store
                .incidents(Some(branch.as_str()), true, MAX_SHOWN_INCIDENTS),
            self.store.freeze_events(branch.as_str(), 1),
        )?;
        let manual = manual.into_iter().next();
        let mut reasons = Vec::new();
        if let Some(event) = manual.as_ref().filter(|e| e.frozen) {
            reasons.push(format!("frozen by {}: {}", event.by, event.reason));
        }
        if !open.is_empty() {
            let cells: Vec<String> = open
                .iter()
                .flat_map(|i| &i.red)
                .map(CellKey::label)
                .collect();
            reasons.push(format!(
                "{} open incident{} on {}: {} failing",
                open.len(),
                if open.len() == 1 { "" } else { "s" },
                branch.as_str(),
                cells.join(", ")
            ));
        }
        let manual_since = manual.as_ref().filter(|e| e.frozen).map(|e| e.at);
        Ok(Freeze {
            branch: branch.as_str().to_string(),
            frozen: !reasons.is_empty(),
            reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
            since: open.iter().map(|i| i.opened_at).chain(manual_since).min(),
            incidents: open.into_iter().map(|i| i.id).collect(),
            manual,
        })
    }

    /// Freezes or unfreezes a branch by hand; an open incident keeps it
    /// frozen whatever this says.
    pub async fn set_freeze(
        &self,
        branch: &Branch,
        frozen: bool,
        reason: &str,
        by: &str,
    ) -> Result<Freeze, ServiceError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control)
        {
            return Err(FieldError::field(
                "reason",
                "reason must be 1 to 500 characters without control characters",
            )
            .into());
        }
        self.store
            .record_freeze(&FreezeEvent {
                branch: branch.as_str().to_string(),
                frozen,
                reason: reason.to_string(),
                by: by.to_string(),
                at: Utc::now(),
            })
            .await?;
        self.freeze(branch).await
    }
}
