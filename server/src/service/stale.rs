//! Telling watched branches' webhooks that a cell went quiet, and that it
//! reports again: one message each, whichever servers notice.

use app::model::{Cell, CellNotice, NotifyEvent};
use chrono::{DateTime, TimeDelta, Utc};

use super::{Service, ServiceError};
use crate::domain::notification::cell_deliveries;
use crate::store::CellMove;

/// Silences that began longer ago are old news: a dashboard started on old
/// data pages nobody about runners retired months ago.
const ANNOUNCED_WITHIN: TimeDelta = TimeDelta::days(7);

impl Service {
    /// The notice a cell deserves at `now`: stale on a watched branch, and
    /// recently enough.
    fn stale_notice(&self, cell: &Cell, now: DateTime<Utc>) -> Option<CellNotice> {
        if self.webhooks.is_empty() || !self.incident_rules.watches(&cell.cell.branch) {
            return None;
        }
        let stale_since = self.stale.stale_since(cell, now)?;
        let last_build = cell.cadence.as_ref()?.last_start;
        (now - stale_since < ANNOUNCED_WITHIN).then(|| CellNotice {
            cell: cell.cell.clone(),
            last_build,
            stale_since,
        })
    }

    /// Queues a `cell.stale` message for every cell of a watched branch
    /// that went stale; each server runs it now and then, and the queue
    /// keeps one message per silence. Reads the watched branches' cells,
    /// whatever the history.
    pub async fn announce_stale(&self, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        if self.webhooks.is_empty() {
            return Ok(0);
        }
        let mut queued = 0;
        for branch in self.store.branches().await? {
            if !self.incident_rules.watches(&branch) {
                continue;
            }
            for cell in self.store.cells(&branch).await? {
                if let Some(notice) = self.stale_notice(&cell, now) {
                    let stale = cell_deliveries(
                        NotifyEvent::CellStale,
                        &notice,
                        &self.webhooks,
                        notice.stale_since,
                    );
                    queued += self.store.queue_deliveries(&stale).await?;
                }
            }
        }
        if queued > 0 {
            self.outbox.notify_one();
        }
        Ok(queued)
    }

    /// After a post: a stale cell that got a newer build reports again.
    /// Its stale message is queued too, if no server did yet, and is due
    /// first: the pair always reads in order.
    pub(super) async fn announce_reporting(
        &self,
        moves: &[CellMove],
        now: DateTime<Utc>,
    ) -> Result<usize, ServiceError> {
        let mut queued = 0;
        for change in moves {
            let Some(before) = &change.before else {
                continue;
            };
            let newer = |c: &Cell| c.cadence.as_ref().map(|c| c.last_start);
            if newer(&change.after) <= newer(before) {
                continue;
            }
            let Some(notice) = self.stale_notice(before, now) else {
                continue;
            };
            let mut deliveries = cell_deliveries(
                NotifyEvent::CellStale,
                &notice,
                &self.webhooks,
                notice.stale_since,
            );
            deliveries.extend(cell_deliveries(
                NotifyEvent::CellReporting,
                &notice,
                &self.webhooks,
                now,
            ));
            queued += self.store.queue_deliveries(&deliveries).await?;
        }
        if queued > 0 {
            self.outbox.notify_one();
        }
        Ok(queued)
    }
}
