//! A cell's history: its builds a page at a time, with the window's charts
//! and statistics; the build listing.

use app::model::{Build, BuildResult, HistoryView};
use chrono::{TimeDelta, Utc};

use super::{Service, ServiceError, PAGE_SIZE};
use crate::domain::field_error::FieldError;
use crate::domain::history;
use crate::store::{BuildFilter, CellId, Cursor};

/// Builds read for a history window's charts and statistics.
const WINDOW_LIMIT: usize = 5000;
/// The longest history window: a year, leap day included.
const MAX_HISTORY_DAYS: u32 = 366;

impl Service {
    /// A page of builds, newest first, and the cursor of the next page.
    pub async fn builds(
        &self,
        filter: &BuildFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Build>, Option<String>), ServiceError> {
        let cursor = cursor
            .filter(|c| !c.is_empty())
            .map(|c| {
                Cursor::decode(c).ok_or_else(|| {
                    FieldError::field("cursor", "cursor is not one this server issued")
                })
            })
            .transpose()?;
        filter.check_indexed()?;
        let mut builds = self
            .store
            .builds(filter, cursor.as_ref(), limit + 1)
            .await?;
        let next = (builds.len() > limit).then(|| {
            builds.truncate(limit);
            builds.last().map(|b| Cursor::of(b).encode())
        });
        Ok((builds, next.flatten()))
    }

    pub async fn history(
        &self,
        cell: CellId,
        days: u32,
        result: Option<BuildResult>,
        cursor: Option<&str>,
    ) -> Result<HistoryView, ServiceError> {
        if !(1..=MAX_HISTORY_DAYS).contains(&days) {
            return Err(FieldError::field(
                "days",
                format!("days must be from 1 to {MAX_HISTORY_DAYS}"),
            )
            .into());
        }
        let now = Utc::now();
        let filter = BuildFilter {
            branch: Some(cell.branch.clone()),
            component: Some(cell.component.clone()),
            arch: Some(cell.arch.clone()),
            build_type: Some(cell.build_type.clone()),
            ..Default::default()
        };
        let window = BuildFilter {
            since: Some(now - TimeDelta::days(i64::from(days))),
            ..filter.clone()
        };
        let listing = BuildFilter { result, ..filter };
        let (builds, next_cursor) = self.builds(&listing, cursor, PAGE_SIZE).await?;
        let recent: Vec<Build> = self.store.builds(&window, None, WINDOW_LIMIT).await?;
        Ok(HistoryView {
            stats: history::stats(&recent, days),
            pass_rate_chart: history::pass_rate_chart(&recent, days, now),
            duration_chart: history::duration_chart(&recent),
            cell: CellId {
                branch: cell.branch,
                component: cell.component,
                arch: cell.arch,
                build_type: cell.build_type,
            },
            builds,
            next_cursor,
            generated_at: now,
        })
    }
}
