//! Commit statuses on GitHub: queued when a build of a covered cell
//! changes (or its tests arrive), each once whoever queues it; told as the
//! context's verdict when the delivery worker sends it.

use app::model::{Build, CellId, StatusNotice};
use chrono::Utc;

use super::{Service, ServiceError};
use crate::domain::github::{self, CommitStatus};

/// What the worker does with a queued status.
#[derive(Debug, PartialEq, Eq)]
pub enum StatusNow {
    Send(CommitStatus),
    /// A newer state of its build, or a newer build of its cell at the
    /// commit, has its own delivery.
    Superseded(String),
}

impl Service {
    /// Queues the commit statuses `builds` set; `cause` tells apart what
    /// else than the build's result changes a status (a JUnit upload).
    /// Ingestion and uploads go on when this fails: logged by the caller.
    pub(super) async fn queue_statuses(
        &self,
        builds: &[Build],
        cause: &str,
    ) -> Result<usize, ServiceError> {
        let Some(github) = &self.github else {
            return Ok(0);
        };
        let Some(statuses) = &github.statuses else {
            return Ok(0);
        };
        let target = github.api.host_str().unwrap_or_default();
        let now = Utc::now();
        let deliveries: Vec<_> = builds
            .iter()
            .filter(|b| statuses.covers(&b.cell, self.incident_rules.watches(&b.cell.branch)))
            .map(|b| {
                let notice = StatusNotice {
                    repository: b.repository.clone(),
                    commit: b.commit.clone(),
                    cell: b.cell.clone(),
                    context: statuses.context(&b.cell),
                    build: b.id.clone(),
                    result: b.result,
                };
                github::status_delivery(notice, cause, target, now)
            })
            .collect();
        if deliveries.is_empty() {
            return Ok(0);
        }
        let queued = self.store.queue_deliveries(&deliveries).await?;
        if queued > 0 {
            self.outbox.notify_one();
        }
        Ok(queued)
    }

    /// The status `notice`'s context has now: the verdicts of its cells at
    /// the commit, unless the notice is out of date.
    pub async fn commit_status(&self, notice: &StatusNotice) -> Result<StatusNow, ServiceError> {
        let builds = self.store.builds_of_commit(&notice.commit).await?;
        let newest = |cell: &CellId| {
            builds
                .iter()
                .filter(|b| b.cell == *cell)
                .max_by_key(|b| (b.started_at, b.id.as_str()))
        };
        match newest(&notice.cell) {
            None => return Ok(StatusNow::Superseded("the build is gone".into())),
            Some(newest) if newest.id != notice.build => {
                return Ok(StatusNow::Superseded(format!(
                    "build {} of the cell is newer",
                    newest.id
                )))
            }
            Some(newest) if newest.result != notice.result => {
                return Ok(StatusNow::Superseded(format!(
                    "the build is {} now",
                    newest.result.as_str()
                )))
            }
            Some(_) => {}
        }
        let Some(statuses) = self.github.as_ref().and_then(|g| g.statuses.as_ref()) else {
            return Ok(StatusNow::Superseded("commit statuses are off".into()));
        };
        let report = self
            .commit_report(&notice.commit, &notice.cell.branch, builds.clone())
            .await?;
        let branch = &notice.cell.branch;
        let watched = self.incident_rules.watches(branch);
        let verdicts: Vec<_> = report
            .verdicts
            .iter()
            .filter_map(|v| {
                let cell = CellId::new(branch, &v.cell.component, &v.cell.arch, &v.cell.build_type);
                let result = newest(&cell)?.result;
                let covered = statuses.covers(&cell, watched);
                (covered && statuses.context(&cell) == notice.context).then_some((v, result))
            })
            .collect();
        Ok(match github::commit_status(&verdicts, &report.divergent) {
            Some(status) => StatusNow::Send(status),
            None => StatusNow::Superseded("no build of the context at the commit".into()),
        })
    }
}
