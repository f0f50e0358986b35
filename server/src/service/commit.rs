//! A commit's page: what a search finds, and each cell's verdict at the
//! commit against its baseline, with failing tests and divergences.

use std::collections::BTreeSet;

use app::model::{Build, CellVerdict, CommitCandidate, CommitLookup, CommitReport, Verdict};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};

use super::{group_by_cell, Service, ServiceError, BASELINE_LOOKUPS, MAX_SHOWN_INCIDENTS};
use crate::domain::field_error::FieldError;
use crate::domain::known_issue;
use crate::domain::reason::reason;
use crate::domain::{test_verdict, verdict};
use crate::store::{walk, CellId, Cursor};

const MAX_CANDIDATES: usize = 20;

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

impl Service {
    /// Each failing test's reason, its known issue, and whether it is in
    /// quarantine now: one read of the rules and one of the branch's
    /// quarantine, only when a verdict names failing tests.
    async fn annotate_failures(
        &self,
        branch: &str,
        verdicts: &mut [CellVerdict],
    ) -> Result<(), ServiceError> {
        let failing = |v: &CellVerdict| v.tests.as_ref().is_some_and(|t| !t.failing.is_empty());
        if !verdicts.iter().any(failing) {
            return Ok(());
        }
        let now = Utc::now();
        let quarantined = self.store.quarantined(branch).await?;
        let rules = self.store.known_issues().await?;
        for v in verdicts.iter_mut() {
            for test in v.tests.iter_mut().flat_map(|t| t.failing.iter_mut()) {
                test.quarantined = quarantined
                    .iter()
                    .any(|q| q.active(now) && q.cell.key() == v.cell && q.name == test.name);
                let why = reason(test.message.as_deref());
                test.known_issue =
                    known_issue::find(&rules, &test.name, test.message.as_deref(), &why);
                test.reason = Some(why);
            }
        }
        Ok(())
    }

    pub async fn commit(&self, query: &str) -> Result<CommitLookup, ServiceError> {
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
            0 => Err(ServiceError::NotFound(format!(
                "no builds found for '{}'",
                query.trim()
            ))),
            1 => {
                let newest = &candidates[0];
                let builds = self.store.builds_of_commit(&newest.commit).await?;
                let report = self
                    .commit_report(&newest.commit, &newest.branch, builds)
                    .await?;
                Ok(CommitLookup::Report(Box::new(report)))
            }
            _ => Ok(CommitLookup::Candidates(candidates)),
        }
    }

    /// The report of `commit` on `branch` from its `builds` (as
    /// `builds_of_commit` gives them: the caller may have read them already).
    pub(super) async fn commit_report(
        &self,
        commit: &str,
        branch: &str,
        builds: Vec<Build>,
    ) -> Result<CommitReport, ServiceError> {
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
                    Ok::<_, ServiceError>(verdict::Evidence {
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
                    t.cell.component == v.cell.component
                        && t.cell.arch == v.cell.arch
                        && t.cell.build_type == v.cell.build_type
                })
                .and_then(test_verdict::verdict_tests);
            let refined = test_verdict::refine(v.verdict, v.tests.as_ref());
            if refined != v.verdict && refined != Verdict::StillFailing {
                v.failing_since = None;
            }
            v.verdict = refined;
        }
        verdicts.sort_by(|a, b| {
            (
                a.verdict.rank(),
                &a.cell.component,
                &a.cell.build_type,
                &a.cell.arch,
            )
                .cmp(&(
                    b.verdict.rank(),
                    &b.cell.component,
                    &b.cell.build_type,
                    &b.cell.arch,
                ))
        });
        self.annotate_failures(branch, &mut verdicts).await?;
        let first = builds.iter().find(|b| b.cell.branch == branch);
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
