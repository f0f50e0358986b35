//! The console: a page of a branch's commits × its builds, read through the
//! commit index (one read for the page, one per commit), never a scan.

use std::collections::HashSet;

use app::model::{
    components_and_architectures, BuildResult, Console, ConsoleFilter, ConsoleParams, CONSOLE_PAGE,
    MAX_CONSOLE_PAGE,
};
use chrono::Utc;

use super::{Service, ServiceError, MAX_SHOWN_INCIDENTS};
use crate::domain::console::grid;
use crate::domain::field_error::FieldError;
use crate::domain::ids::{Branch, Name};
use crate::store::CommitCursor;

/// A console request, validated.
#[derive(Debug, Clone)]
pub struct ConsoleQuery {
    pub branch: Branch,
    pub filter: ConsoleFilter,
    pub before: Option<CommitCursor>,
    pub limit: usize,
}

/// A parameter given a value: empty ones are as good as absent, as forms
/// send them.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Validates what a URL asks of the console.
pub fn parse_console(params: &ConsoleParams, default: &Branch) -> Result<ConsoleQuery, FieldError> {
    let only_failing = match given(&params.only) {
        None => false,
        Some("failing") => true,
        Some(_) => return Err(FieldError::field("only", "only may be \"failing\"")),
    };
    let limit = match given(&params.limit) {
        None => CONSOLE_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CONSOLE_PAGE).contains(n))
            .ok_or_else(|| {
                FieldError::field(
                    "limit",
                    format!("limit must be from 1 to {MAX_CONSOLE_PAGE}"),
                )
            })?,
    };
    let before = given(&params.before)
        .map(|text| {
            CommitCursor::decode(text).ok_or_else(|| {
                FieldError::field("before", "before must be a next_before this server gave")
            })
        })
        .transpose()?;
    Ok(ConsoleQuery {
        branch: Branch::parse_or(params.branch.as_deref(), default)?,
        filter: ConsoleFilter {
            component: given(&params.component)
                .map(|c| Name::parse("component", c).map(Name::into_string))
                .transpose()?,
            arch: given(&params.arch)
                .map(|a| Name::arch(a).map(Name::into_string))
                .transpose()?,
            only_failing,
        },
        before,
        limit,
    })
}

impl Service {
    /// Reads, whatever the history: the commit index once, each commit's
    /// builds, the open incidents, the branch's cells, and the test totals
    /// of the page's failed builds.
    pub async fn console(&self, query: ConsoleQuery) -> Result<Console, ServiceError> {
        let branch = query.branch.as_str();
        // One more than shown: whether an older page exists.
        let mut commits = self
            .store
            .recent_commits(branch, query.before.as_ref(), query.limit + 1)
            .await?;
        let more = commits.len() > query.limit;
        commits.truncate(query.limit);
        let failed: Vec<String> = commits
            .iter()
            .flat_map(|c| &c.builds)
            .filter(|b| b.result == BuildResult::Fail)
            .map(|b| b.id.clone())
            .collect();
        let (incidents, totals, cells) = tokio::try_join!(
            self.store
                .incidents(Some(branch), true, MAX_SHOWN_INCIDENTS),
            self.store.test_totals(&failed),
            self.store.cells(branch),
        )?;
        let (components, architectures) = components_and_architectures(&cells);
        let flaky: HashSet<String> = totals
            .into_iter()
            .filter(|(_, t)| t.counts().only_flaky())
            .map(|(id, _)| id)
            .collect();
        let mut grid = grid(&commits, &flaky, &incidents, &query.filter);
        let now = Utc::now();
        for column in &mut grid.columns {
            if let Some(cell) = cells.iter().find(|c| c.cell.key() == column.cell) {
                column.stale_since = self.stale.stale_since(cell, now);
                column.last_build = cell.cadence.as_ref().map(|c| c.last_start);
            }
        }
        Ok(Console {
            branch: branch.to_string(),
            columns: grid.columns,
            commits: grid.commits,
            incidents: grid.incidents,
            next_before: more
                .then(|| commits.last().map(|c| CommitCursor::after(c).encode()))
                .flatten(),
            filter: query.filter,
            older: query.before.is_some(),
            components,
            architectures,
            generated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(params: ConsoleParams) -> Result<ConsoleQuery, FieldError> {
        parse_console(&params, &Branch::parse("master").unwrap())
    }

    #[test]
    fn defaults_and_aliases() {
        let q = parse(ConsoleParams {
            arch: Some("x86_64".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.branch.as_str(), "master");
        assert_eq!(q.limit, CONSOLE_PAGE);
        assert_eq!(q.filter.arch.as_deref(), Some("amd64"));
        assert!(!q.filter.only_failing && q.before.is_none());
    }

    #[test]
    fn bad_parameters_name_their_field() {
        let field = |params: ConsoleParams| parse(params).unwrap_err().field.unwrap();
        let with = |set: fn(&mut ConsoleParams)| {
            let mut p = ConsoleParams::default();
            set(&mut p);
            p
        };
        assert_eq!(field(with(|p| p.limit = Some("0".into()))), "limit");
        assert_eq!(field(with(|p| p.limit = Some("101".into()))), "limit");
        assert_eq!(
            field(with(|p| p.before = Some("yesterday".into()))),
            "before"
        );
        assert_eq!(field(with(|p| p.before = Some("17:XYZ".into()))), "before");
        assert_eq!(field(with(|p| p.only = Some("red".into()))), "only");
        assert_eq!(
            field(with(|p| p.component = Some("a b".into()))),
            "component"
        );
        assert_eq!(field(with(|p| p.branch = Some("a..b".into()))), "branch");
    }
}
