//! Assembles what pages and the JSON API show, from precomputed cells and
//! indexed store queries: never a scan of the whole history.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use app::model::{
    Build, BuildResult, BuildSummary, Cell, CommitCandidate, CommitLookup, CommitReport,
    HealthMatrix, HealthReport, HistoryView, ReleaseReport, ReleaseSummary,
};
use chrono::{TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};

use crate::domain::field_error::FieldError;
use crate::domain::ids::Branch;
use crate::domain::incident::IncidentRules;
use crate::domain::notification::WebhookRef;
use crate::domain::release::{self, ReleaseConfig};
use crate::domain::{history, test_verdict, verdict};
use crate::store::StoreError;
use crate::store::{walk, BuildFilter, CellId, Cursor, Store};
use recent::Recent;

/// Commits searched for the last fully green one.
const GREEN_SEARCH_DEPTH: usize = 50;
const MAX_CANDIDATES: usize = 20;
/// Baseline lookups of one commit page in flight at once: enough to hide
/// Firestore's round trips, few enough not to flood the store.
pub(super) const BASELINE_LOOKUPS: usize = 16;
/// Builds read for a history window's charts and statistics.
const WINDOW_LIMIT: usize = 5000;
pub const PAGE_SIZE: usize = 50;
/// Incidents one page or answer lists at most.
pub const MAX_SHOWN_INCIDENTS: usize = 50;
/// The longest history window: a year, leap day included.
const MAX_HISTORY_DAYS: u32 = 366;

/// Why a query has no answer. Adapters map it to their own errors (HTTP
/// statuses, server-function variants) in one place each.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub mod incidents;
pub mod ingest;
pub mod recent;
pub mod report;
pub mod test_results;

#[derive(Clone)]
pub struct Views {
    pub store: Arc<dyn Store>,
    pub incident_rules: Arc<IncidentRules>,
    /// The webhooks incidents are told to, and a bell the delivery worker
    /// waits on, rung when a post queued deliveries.
    pub webhooks: Arc<Vec<WebhookRef>>,
    pub outbox: Arc<tokio::sync::Notify>,
    /// CI health reports by branch and days, kept a minute.
    pub reports: Arc<Recent<(String, u32), HealthReport>>,
    pub default_branch: Branch,
    pub release: Arc<ReleaseConfig>,
    /// Commit links of pages without any build name this repository.
    pub repository: String,
}

/// What a search box or `/commit/<sha>` asked for.
#[derive(Debug, PartialEq, Eq)]
enum CommitQuery {
    Sha(String),
    Pr(u64),
    /// Seven or more digits: a SHA prefix first, else a PR number.
    Either(String, u64),
}

fn parse_commit_query(text: &str) -> Result<CommitQuery, FieldError> {
    let q = text.trim();
    let bad = || {
        FieldError::field(
            "sha",
            format!("'{q}' is neither a commit SHA (7-40 hex characters) nor a PR number (#1234)"),
        )
    };
    if let Some(pr) = q.strip_prefix('#') {
        return pr
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .map(CommitQuery::Pr)
            .ok_or_else(bad);
    }
    let hex = q.chars().all(|c| c.is_ascii_hexdigit());
    let digits = q.chars().all(|c| c.is_ascii_digit());
    match q.len() {
        1..=6 if digits => q
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .map(CommitQuery::Pr)
            .ok_or_else(bad),
        7..=40 if digits => Ok(match q.parse() {
            Ok(pr) => CommitQuery::Either(q.to_string(), pr),
            Err(_) => CommitQuery::Sha(q.to_string()),
        }),
        7..=40 if hex => Ok(CommitQuery::Sha(q.to_ascii_lowercase())),
        _ => Err(bad()),
    }
}

fn distinct_commits(candidates: &[CommitCandidate]) -> usize {
    candidates
        .iter()
        .map(|c| &c.commit)
        .collect::<BTreeSet<_>>()
        .len()
}

fn group_by_cell(builds: &[Build], branch: &str) -> HashMap<CellId, Vec<BuildSummary>> {
    let mut out: HashMap<CellId, Vec<BuildSummary>> = HashMap::new();
    for b in builds.iter().filter(|b| b.branch == branch) {
        out.entry(b.cell()).or_default().push(b.summary());
    }
    out
}

/// The newest commit with builds on a branch, from its cells alone.
fn head_of(cells: &[Cell]) -> Option<String> {
    cells
        .iter()
        .flat_map(|c| c.latest.iter().chain(c.running.iter()))
        .max_by(|a, b| a.order_key().cmp(&b.order_key()))
        .map(|b| b.commit.clone())
}

/// State of a badge: passing, failing or unknown.
pub fn badge_state(cells: &[Cell]) -> &'static str {
    let finished: Vec<BuildResult> = cells
        .iter()
        .filter_map(|c| c.latest.as_ref().map(|l| l.result))
        .collect();
    if finished.contains(&BuildResult::Fail) {
        "failing"
    } else if !finished.is_empty() && finished.iter().all(|r| *r == BuildResult::Pass) {
        "passing"
    } else {
        "unknown"
    }
}

impl Views {
    /// Three reads whatever the history size: the branch's cells, the
    /// branch list and its open incidents.
    pub async fn health(&self, branch: Option<Branch>) -> Result<HealthMatrix, QueryError> {
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
        Ok(HealthMatrix {
            incidents,
            ..HealthMatrix::new(branch, branches, cells, Utc::now())
        })
    }

    pub async fn commit(&self, query: &str) -> Result<CommitLookup, QueryError> {
        let candidates = match parse_commit_query(query)? {
            CommitQuery::Sha(prefix) => {
                self.store
                    .commits_by_prefix(&prefix, MAX_CANDIDATES)
                    .await?
            }
            CommitQuery::Pr(pr) => self.store.commits_by_pr(pr, MAX_CANDIDATES).await?,
            CommitQuery::Either(prefix, pr) => {
                let by_sha = self
                    .store
                    .commits_by_prefix(&prefix, MAX_CANDIDATES)
                    .await?;
                if by_sha.is_empty() {
                    self.store.commits_by_pr(pr, MAX_CANDIDATES).await?
                } else {
                    by_sha
                }
            }
        };
        match distinct_commits(&candidates) {
            0 => Err(QueryError::NotFound(format!(
                "no builds found for '{}'",
                query.trim()
            ))),
            1 => {
                let newest = &candidates[0];
                Ok(CommitLookup::Report(Box::new(
                    self.commit_report(&newest.commit, &newest.branch).await?,
                )))
            }
            _ => Ok(CommitLookup::Candidates(candidates)),
        }
    }

    async fn commit_report(&self, commit: &str, branch: &str) -> Result<CommitReport, QueryError> {
        let builds = self.store.builds_of_commit(commit).await?;
        let by_key = group_by_cell(&builds, branch);
        let required: BTreeSet<CellId> = self.release.required(branch).into_iter().collect();
        let keys: BTreeSet<CellId> = by_key
            .keys()
            .cloned()
            .chain(required.iter().cloned())
            .collect();
        let parent = builds.iter().find_map(|b| b.parent.clone());
        // Each cell's baseline is its own query (a few round trips on
        // Firestore): asked concurrently, a page waits for the slowest cell,
        // not for the sum of them.
        let evidence: Vec<verdict::Evidence> = futures::stream::iter(keys)
            .map(|key| {
                let here = by_key.get(&key).cloned().unwrap_or_default();
                let required = required.contains(&key);
                let parent = parent.as_deref();
                async move {
                    let oldest = here.iter().min_by(|a, b| a.order_key().cmp(&b.order_key()));
                    let baseline = match oldest {
                        Some(oldest) => {
                            let before = Cursor::at(oldest);
                            walk::baseline(&*self.store, &key, commit, parent, &before).await?
                        }
                        None => None,
                    };
                    Ok::<_, QueryError>(verdict::Evidence {
                        required,
                        cell: key,
                        here,
                        baseline: baseline.as_ref().map(|b| b.build.clone()),
                        streak_since: baseline.and_then(|b| b.streak_since),
                    })
                }
            })
            .buffered(BASELINE_LOOKUPS)
            .try_collect()
            .await?;
        let (tests, test_divergences) = self.commit_tests(&evidence).await?;
        let mut verdicts: Vec<_> = evidence.iter().filter_map(verdict::judge).collect();
        for v in &mut verdicts {
            v.tests = tests
                .iter()
                .find(|t| {
                    t.cell.component == v.component
                        && t.cell.arch == v.arch
                        && t.cell.build_type == v.build_type
                })
                .and_then(test_verdict::verdict_tests);
        }
        verdicts.sort_by(|a, b| {
            (a.verdict.rank(), &a.component, &a.build_type, &a.arch).cmp(&(
                b.verdict.rank(),
                &b.component,
                &b.build_type,
                &b.arch,
            ))
        });
        let first = builds.iter().find(|b| b.branch == branch);
        let mut suspect_of = self
            .store
            .incidents(Some(branch), true, MAX_SHOWN_INCIDENTS)
            .await?;
        suspect_of.retain(|i| i.suspects.iter().any(|s| s.commit == commit));
        Ok(CommitReport {
            suspect_of,
            repository: first.map_or_else(|| self.repository.clone(), |b| b.repository.clone()),
            commit: commit.to_string(),
            branch: branch.to_string(),
            pr: builds.iter().find_map(|b| b.pr),
            title: builds.iter().find_map(|b| b.commit_title.clone()),
            author: builds.iter().find_map(|b| b.author.clone()),
            headline: verdict::headline(&verdicts),
            divergent: verdict::divergences(&evidence)
                .into_iter()
                .chain(test_divergences)
                .collect(),
            verdicts,
        })
    }

    pub async fn release(&self, branch: &Branch) -> Result<ReleaseReport, QueryError> {
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
            .recent_commits(&branch, GREEN_SEARCH_DEPTH)
            .await?
            .into_iter()
            .map(|(commit, builds)| {
                let grouped = group_by_cell(&builds, &branch);
                (commit, grouped)
            })
            .collect();
        let version_conflicts = release::version_conflicts(&self.store.versions(&branch).await?);
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
            generated_at: Utc::now(),
        })
    }

    pub async fn releases(&self) -> Result<Vec<ReleaseSummary>, QueryError> {
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

    /// A page of builds, newest first, and the cursor of the next page.
    pub async fn builds(
        &self,
        filter: &BuildFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Build>, Option<String>), QueryError> {
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
    ) -> Result<HistoryView, QueryError> {
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
            branch: cell.branch,
            component: cell.component,
            arch: cell.arch,
            build_type: cell.build_type,
            builds,
            next_cursor,
            generated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_queries() {
        assert_eq!(parse_commit_query("#1234"), Ok(CommitQuery::Pr(1234)));
        assert_eq!(parse_commit_query(" 1234 "), Ok(CommitQuery::Pr(1234)));
        assert_eq!(
            parse_commit_query("ABCDEF1"),
            Ok(CommitQuery::Sha("abcdef1".into()))
        );
        assert_eq!(
            parse_commit_query("1234567"),
            Ok(CommitQuery::Either("1234567".into(), 1_234_567))
        );
        for bad in ["", "#", "#x", "abc", "xyz1234", "0", &"a".repeat(41)] {
            assert_eq!(
                parse_commit_query(bad).unwrap_err().field.as_deref(),
                Some("sha"),
                "{bad}"
            );
        }
    }
}
