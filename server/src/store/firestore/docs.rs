//! Document types: what each collection holds, and their conversion to
//! and from the model.

use super::names::{cell_key, seq, test_key};
use std::time::SystemTime;

use app::model::{
    BuildResult, Cell, CommitCandidate, Delivery, DeliveryState, Incident, IncidentState,
    KnownIssue, QuarantinedTest, ReasonRecord, TestCase,
};
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use crate::store::{from_doc, to_doc, StoreError};
use app::model::Build;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BuildDoc {
    pub(super) id: String,
    pub(super) repository: String,
    pub(super) commit: String,
    pub(super) parent: Option<String>,
    pub(super) branch: String,
    pub(super) pr: Option<i64>,
    pub(super) component: String,
    pub(super) arch: String,
    pub(super) build_type: String,
    pub(super) result: String,
    pub(super) started_at: SystemTime,
    pub(super) finished_at: Option<SystemTime>,
    pub(super) url: Option<String>,
    pub(super) runner: Option<String>,
    pub(super) version: Option<String>,
    pub(super) commit_title: Option<String>,
    pub(super) author: Option<String>,
    #[serde(default)]
    pub(super) posted_by: Option<String>,
    pub(super) cell: String,
    pub(super) seq: String,
    pub(super) finished: bool,
    pub(super) decisive: bool,
    pub(super) received_at: SystemTime,
}

impl BuildDoc {
    pub(super) fn of(b: &Build) -> Self {
        BuildDoc {
            id: b.id.clone(),
            repository: b.repository.clone(),
            commit: b.commit.clone(),
            parent: b.parent.clone(),
            branch: b.cell.branch.clone(),
            pr: b.pr.and_then(|p| i64::try_from(p).ok()),
            component: b.cell.component.clone(),
            arch: b.cell.arch.clone(),
            build_type: b.cell.build_type.clone(),
            result: b.result.as_str().to_string(),
            started_at: b.started_at.into(),
            finished_at: b.finished_at.map(Into::into),
            url: b.url.clone(),
            runner: b.runner.clone(),
            version: b.version.clone(),
            commit_title: b.commit_title.clone(),
            author: b.author.clone(),
            posted_by: b.posted_by.clone(),
            cell: cell_key(&b.cell.clone()),
            seq: seq(b.started_at, &b.id),
            finished: b.result.is_finished(),
            decisive: matches!(b.result, BuildResult::Pass | BuildResult::Fail),
            received_at: SystemTime::now(),
        }
    }

    pub(super) fn build(self) -> Result<Build, StoreError> {
        let result = BuildResult::parse(&self.result)
            .ok_or_else(|| StoreError::Corrupt(format!("result '{}'", self.result)))?;
        Ok(Build {
            id: self.id,
            repository: self.repository,
            commit: self.commit,
            parent: self.parent,
            cell: app::model::CellId {
                branch: self.branch,
                component: self.component,
                arch: self.arch,
                build_type: self.build_type,
            },
            pr: self.pr.and_then(|p| u64::try_from(p).ok()),
            result,
            started_at: self.started_at.into(),
            finished_at: self.finished_at.map(Into::into),
            url: self.url,
            runner: self.runner,
            version: self.version,
            commit_title: self.commit_title,
            author: self.author,
            posted_by: self.posted_by,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CellDoc {
    pub(super) branch: String,
    pub(super) component: String,
    pub(super) arch: String,
    pub(super) build_type: String,
    /// The whole cell as JSON: pages read it as one value, never query inside.
    pub(super) state: String,
    pub(super) updated_at: SystemTime,
}

impl CellDoc {
    pub(super) fn of(cell: &Cell) -> Result<Self, StoreError> {
        Ok(CellDoc {
            branch: cell.cell.branch.clone(),
            component: cell.cell.component.clone(),
            arch: cell.cell.arch.clone(),
            build_type: cell.cell.build_type.clone(),
            state: to_doc(cell)?,
            updated_at: SystemTime::now(),
        })
    }

    pub(super) fn cell(&self) -> Result<Cell, StoreError> {
        from_doc(&self.state)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CommitDoc {
    pub(super) branch: String,
    pub(super) commit: String,
    pub(super) pr: Option<i64>,
    pub(super) title: Option<String>,
    /// Kept with a server-side `maximum` transform, so concurrent posts of
    /// one commit never read this document and never contend on it.
    pub(super) last_started_micros: i64,
}

impl CommitDoc {
    pub(super) fn candidate(self) -> CommitCandidate {
        CommitCandidate {
            commit: self.commit,
            branch: self.branch,
            pr: self.pr.and_then(|p| u64::try_from(p).ok()),
            title: self.title,
            started_at: DateTime::from_timestamp_micros(self.last_started_micros)
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct VersionDoc {
    pub(super) branch: String,
    pub(super) version: String,
    pub(super) commit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BranchDoc {
    pub(super) branch: String,
}

/// An incident: the fields its queries filter and order on, and the
/// incident itself as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct IncidentDoc {
    pub(super) branch: String,
    pub(super) open: bool,
    pub(super) opened_at: SystemTime,
    pub(super) doc: String,
}

impl IncidentDoc {
    pub(super) fn of(incident: &Incident) -> Result<Self, StoreError> {
        Ok(IncidentDoc {
            branch: incident.branch.clone(),
            open: incident.state == IncidentState::Open,
            opened_at: incident.opened_at.into(),
            doc: to_doc(incident)?,
        })
    }

    pub(super) fn incident(&self) -> Result<Incident, StoreError> {
        from_doc(&self.doc)
    }
}

/// A test's quarantine entry: the fields listings filter on, and the
/// entry as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct QuarantineDoc {
    pub(super) branch: String,
    pub(super) released: bool,
    pub(super) doc: String,
}

impl QuarantineDoc {
    pub(super) fn of(entry: &QuarantinedTest) -> Result<Self, StoreError> {
        Ok(QuarantineDoc {
            branch: entry.cell.branch.clone(),
            released: entry.released_at.is_some(),
            doc: to_doc(entry)?,
        })
    }

    pub(super) fn entry(&self) -> Result<QuarantinedTest, StoreError> {
        from_doc(&self.doc)
    }
}

/// A reason's record: the fields listings filter and order on, and the
/// record as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ReasonDoc {
    pub(super) branch: String,
    pub(super) last_seen_micros: i64,
    pub(super) doc: String,
}

impl ReasonDoc {
    pub(super) fn of(record: &ReasonRecord) -> Result<Self, StoreError> {
        Ok(ReasonDoc {
            branch: record.branch.clone(),
            last_seen_micros: record.last_seen.timestamp_micros(),
            doc: to_doc(record)?,
        })
    }

    pub(super) fn record(&self) -> Result<ReasonRecord, StoreError> {
        from_doc(&self.doc)
    }
}

/// A known-issue rule: its creation time to list rules in order, and the
/// rule as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct KnownIssueDoc {
    pub(super) created_micros: i64,
    pub(super) doc: String,
}

impl KnownIssueDoc {
    pub(super) fn of(rule: &KnownIssue) -> Result<Self, StoreError> {
        Ok(KnownIssueDoc {
            created_micros: rule.created_at.timestamp_micros(),
            doc: to_doc(rule)?,
        })
    }

    pub(super) fn rule(&self) -> Result<KnownIssue, StoreError> {
        from_doc(&self.doc)
    }
}

/// A queued webhook delivery: the fields claims and listings filter and
/// order on (times in microseconds), its lease, and the delivery as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct DeliveryDoc {
    pub(super) incident: String,
    pub(super) pending: bool,
    pub(super) next_attempt_micros: i64,
    pub(super) created_micros: i64,
    pub(super) leased_by: Option<String>,
    pub(super) doc: String,
}

impl DeliveryDoc {
    pub(super) fn of(delivery: &Delivery, leased_by: Option<&str>) -> Result<Self, StoreError> {
        Ok(DeliveryDoc {
            incident: delivery.incident.clone(),
            pending: delivery.state == DeliveryState::Pending,
            next_attempt_micros: delivery.next_attempt_at.timestamp_micros(),
            created_micros: delivery.created_at.timestamp_micros(),
            leased_by: leased_by.map(str::to_string),
            doc: to_doc(delivery)?,
        })
    }

    pub(super) fn delivery(&self) -> Result<Delivery, StoreError> {
        from_doc(&self.doc)
    }
}

/// Part of one uploaded JUnit file's cases (as JSON), kept under
/// Firestore's document size limit; `order` keeps files and parts in
/// upload order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TestFileDoc {
    pub(super) build: String,
    pub(super) order: i64,
    pub(super) cases: String,
}

/// A build's test totals and the files (by digest) they add up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TestTotalsDoc {
    pub(super) build: String,
    pub(super) files: Vec<String>,
    pub(super) doc: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TestFailureDoc {
    pub(super) build: String,
    pub(super) name: String,
    pub(super) doc: String,
}

/// The tests of a cell that have a record: the ones an upload must update
/// even when they pass, by [`test_key`] (a name may be 1,000 characters;
/// a key is 32), oldest first and at most [`MAX_TRACKED_TESTS`], so the
/// document stays far below Firestore's 1 MiB whatever the history. A test
/// that left the list is tracked again from its next failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct TestCellDoc {
    /// Names, as documents written before keys held them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) names: Vec<String>,
    #[serde(default)]
    pub(super) keys: Vec<String>,
}

/// Tests a cell's [`TestCellDoc`] lists at most: about 360 KB.
pub(super) const MAX_TRACKED_TESTS: usize = 10_000;

impl TestCellDoc {
    /// Every tracked key, the old names' included.
    pub(super) fn tracked(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.names.iter().map(|n| test_key(n)).collect();
        keys.extend(self.keys.iter().cloned());
        keys
    }
}

/// A test's record in a cell, with the fields its query filters and
/// orders on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TestStatsDoc {
    pub(super) branch: String,
    pub(super) last_run_micros: i64,
    pub(super) doc: String,
}

/// A file's cases as JSON parts of at most about 512 KB each.
pub(super) fn test_chunks(cases: &[TestCase]) -> Result<Vec<String>, StoreError> {
    const PART: usize = 512 * 1024;
    let mut parts = Vec::new();
    let mut part: Vec<&TestCase> = Vec::new();
    let mut size = 0;
    for case in cases {
        let one = to_doc(case)?;
        if size + one.len() > PART && !part.is_empty() {
            parts.push(to_doc(&part)?);
            part.clear();
            size = 0;
        }
        size += one.len() + 1;
        part.push(case);
    }
    parts.push(to_doc(&part)?);
    Ok(parts)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FreezeEventDoc {
    pub(super) branch: String,
    pub(super) at: SystemTime,
    pub(super) frozen: bool,
    pub(super) reason: String,
    pub(super) by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TokenDoc {
    pub(super) name: String,
    pub(super) hash: String,
    pub(super) created_at: SystemTime,
    #[serde(default)]
    pub(super) last_used_at: Option<SystemTime>,
    #[serde(default)]
    pub(super) admin: bool,
    #[serde(default)]
    pub(super) freeze: bool,
}
