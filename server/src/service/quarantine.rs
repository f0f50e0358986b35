//! Quarantine as the API, the gate and uploads use it: the tests of a cell
//! in quarantine now; a test put in or taken out; and after each upload,
//! the runs that count toward a test's release and the flaky failures the
//! rule quarantines (`[quarantine] auto`).

use std::collections::HashSet;

use app::model::{is_http_url, Build, CellId, QuarantinedTest, TestStatus};
use chrono::Utc;

use super::{Service, ServiceError};
use crate::domain::ids::Branch;
use crate::domain::quarantine::QuarantineChange;
use crate::store::{TestUpload, UploadOutcome};

/// Which cells a listing wants: any of the three may be left out.
#[derive(Debug, Default, Clone)]
pub struct CellFilter {
    pub component: Option<String>,
    pub arch: Option<String>,
    pub build_type: Option<String>,
}

impl CellFilter {
    fn matches(&self, cell: &CellId) -> bool {
        let is = |want: &Option<String>, value: &str| want.as_deref().is_none_or(|w| w == value);
        is(&self.component, &cell.component)
            && is(&self.arch, &cell.arch)
            && is(&self.build_type, &cell.build_type)
    }
}

impl Service {
    /// A branch's tests in quarantine now, of the cells `filter` keeps.
    pub async fn quarantined(
        &self,
        branch: &Branch,
        filter: &CellFilter,
    ) -> Result<Vec<QuarantinedTest>, ServiceError> {
        let now = Utc::now();
        let mut tests = self.store.quarantined(branch.as_str()).await?;
        tests.retain(|t| t.active(now) && filter.matches(&t.cell));
        Ok(tests)
    }

    /// Puts a test in quarantine (or edits its entry while it is in);
    /// true when it entered.
    pub async fn quarantine(
        &self,
        entry: QuarantinedTest,
    ) -> Result<(QuarantinedTest, bool), ServiceError> {
        let applied = self
            .store
            .update_quarantine(&QuarantineChange::Add(entry))
            .await?;
        let after = applied
            .after
            .ok_or_else(|| ServiceError::NotFound("the entry vanished".into()))?;
        tracing::info!(test = %after.name, cell = %after.cell.key().label(), by = %after.by, entered = applied.entered, "quarantine");
        Ok((after, applied.entered))
    }

    /// Takes a test out of quarantine, as `by` asks.
    pub async fn unquarantine(
        &self,
        cell: CellId,
        name: String,
        by: &str,
    ) -> Result<QuarantinedTest, ServiceError> {
        let change = QuarantineChange::Remove {
            cell,
            name: name.clone(),
            by: by.to_string(),
            at: Utc::now(),
        };
        let applied = self.store.update_quarantine(&change).await?;
        match applied.after.filter(|_| applied.changed) {
            Some(after) => Ok(after),
            None => Err(ServiceError::NotFound(format!(
                "'{name}' is not in quarantine in that cell"
            ))),
        }
    }

    /// After an upload: each quarantined test of the cell that ran counts
    /// toward its release (a clean run, or a failure that starts the count
    /// again), and a failure the flaky rule calls flaky is quarantined
    /// when `[quarantine] auto` says so. Returns the tests of the cell in
    /// quarantine now, which open no incident.
    pub(super) async fn quarantine_after_upload(
        &self,
        build: &Build,
        upload: &TestUpload,
        outcome: &UploadOutcome,
    ) -> Result<HashSet<String>, ServiceError> {
        let rules = &self.incident_rules;
        let now = Utc::now();
        let mut names = HashSet::new();
        for entry in self.store.quarantined(&build.cell.branch).await? {
            if entry.cell != build.cell || !entry.active(now) {
                continue;
            }
            let ran = upload
                .per_test
                .iter()
                .find(|t| t.name == entry.name && t.status != TestStatus::Skipped);
            let after = match ran.filter(|_| !upload.infrastructure) {
                Some(test) => {
                    let change = QuarantineChange::Ran {
                        cell: entry.cell.clone(),
                        name: entry.name.clone(),
                        clean: test.status == TestStatus::Passed,
                        at: now,
                        needed: rules.quarantine.clean_runs,
                    };
                    self.store.update_quarantine(&change).await?.after
                }
                None => Some(entry),
            };
            if let Some(after) = after.filter(|a| a.active(now)) {
                names.insert(after.name);
            }
        }
        if !rules.quarantine.auto {
            return Ok(names);
        }
        for moved in &outcome.moves {
            let stats = &moved.after;
            let failed = stats.last_status.is_failure() && stats.last_run_at == build.started_at;
            if !failed || names.contains(&stats.name) || !rules.signal.is_flaky(stats) {
                continue;
            }
            let entry = QuarantinedTest {
                cell: build.cell.clone(),
                name: stats.name.clone(),
                reason: format!(
                    "flaky: failed {} of {} runs, {} flips",
                    stats.failures, stats.runs, stats.flips
                ),
                since: now,
                by: "auto".into(),
                expires_at: None,
                evidence_url: build.url.clone().filter(|u| is_http_url(u)),
                clean_runs: 0,
                released_at: None,
                released_why: None,
            };
            let (after, _) = self.quarantine(entry).await?;
            names.insert(after.name);
        }
        Ok(names)
    }
}
