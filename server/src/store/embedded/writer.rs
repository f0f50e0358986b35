//! The writer thread: posts and incident changes committed in groups, one
//! fsync per group.

use super::rows::{
    cell_builds, get_build, get_cell, get_incident, index_commits, micros, put_cell, put_delivery,
    upsert_build,
};
use std::collections::HashMap;

use crate::domain::incident::Change;
use crate::domain::notification::{self, WebhookRef};
use app::model::{Cell, Incident, IncidentState};
use rusqlite::{params, Connection, TransactionBehavior};

use crate::store::plan::{self, PlanReads};
use crate::store::walk::CellHistory;
use crate::store::{to_doc, CellId, CellScan, IngestOutcome, Poster, StoreError, Summaries};
use app::model::Build;

/// The outcome of one post and the cells it changed.
pub(super) type Ingested = Result<(IngestOutcome, Vec<Cell>), StoreError>;

pub(super) type IncidentDone = Result<Option<Incident>, StoreError>;

/// What the writer thread is asked to do: a post, or an incident change
/// (written in the same group, so it shares the group's one fsync).
pub(super) enum Work {
    Post(Vec<Build>, Poster),
    Incident(Change, Vec<WebhookRef>),
}

/// What it did, one per [`Work`]. An incident (with its triage) is much
/// larger than a post's outcome: boxed.
pub(super) enum Done {
    Post(Ingested),
    Incident(Box<IncidentDone>),
}

impl Done {
    pub(super) fn failed(&self) -> bool {
        match self {
            Done::Post(done) => done.is_err(),
            Done::Incident(done) => done.is_err(),
        }
    }

    fn into_error(self) -> Option<StoreError> {
        match self {
            Done::Post(done) => done.err(),
            Done::Incident(done) => done.err(),
        }
    }
}

pub(super) enum Reply {
    Post(tokio::sync::oneshot::Sender<Ingested>),
    Incident(tokio::sync::oneshot::Sender<IncidentDone>),
}

impl Reply {
    // A caller that gave up is not the writer's concern: sends may fail.
    fn send(self, done: Done) {
        match (self, done) {
            (Reply::Post(reply), Done::Post(done)) => {
                let _ = reply.send(done);
            }
            (Reply::Incident(reply), Done::Incident(done)) => {
                let _ = reply.send(*done);
            }
            (reply, _) => reply.fail("the writer mixed up its replies"),
        }
    }

    fn fail(self, why: &str) {
        let error = || StoreError::Unavailable(why.to_string());
        match self {
            Reply::Post(reply) => {
                let _ = reply.send(Err(error()));
            }
            Reply::Incident(reply) => {
                let _ = reply.send(Err(error()));
            }
        }
    }
}

/// One piece of work waiting for the writer.
pub(super) struct Job {
    pub(super) work: Work,
    pub(super) reply: Reply,
}

/// Work that arrives together is committed together: one transaction and
/// one fsync for all of it. Each piece runs in its own savepoint, so a
/// refused post leaves the others untouched, and every reply is sent only
/// after the commit.
pub(super) fn group_commits(mut conn: Connection, jobs: std::sync::mpsc::Receiver<Job>) {
    const MAX_GROUP: usize = 256;
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (works, replies): (Vec<_>, Vec<_>) =
            group.into_iter().map(|j| (j.work, j.reply)).unzip();
        // A bug that panics fails its group (rolled back as the transaction
        // unwinds), not every later post.
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit_group(&mut conn, works)
        }))
        .unwrap_or_else(|_| Err(StoreError::Unavailable("the writer panicked".into())));
        match committed {
            Ok(results) => {
                for (reply, done) in replies.into_iter().zip(results) {
                    reply.send(done);
                }
            }
            Err(e) => {
                for reply in replies {
                    reply.fail(&e.to_string());
                }
            }
        }
    }
}

pub(super) fn commit_group(
    conn: &mut Connection,
    works: Vec<Work>,
) -> Result<Vec<Done>, StoreError> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(works.len());
    // Cells as the group's committed posts left them: posts of one commit
    // move the same cells, which are then read and written once per group.
    let mut cells: HashMap<CellId, Cell> = HashMap::new();
    for work in works {
        // Dropping a savepoint without commit rolls it back.
        let savepoint = tx.savepoint()?;
        let done = match work {
            Work::Post(builds, poster) => {
                Done::Post(ingest_into(&savepoint, &cells, builds, &poster))
            }
            Work::Incident(change, hooks) => {
                Done::Incident(Box::new(incident_into(&savepoint, &change, &hooks)))
            }
        };
        if done.failed() {
            // Some errors (I/O, disk full) make SQLite roll back the whole
            // transaction, not just the savepoint: the work before this one
            // is then gone too, and so the whole group fails.
            let whole_group_lost = savepoint.is_autocommit();
            drop(savepoint);
            if whole_group_lost {
                return Err(done
                    .into_error()
                    .unwrap_or_else(|| StoreError::Unavailable("the group was lost".into())));
            }
        } else {
            savepoint.commit()?;
            if let Done::Post(Ok((_, changed))) = &done {
                for cell in changed {
                    cells.insert(cell.id(), cell.clone());
                }
            }
        }
        results.push(done);
    }
    for cell in cells.values() {
        put_cell(&tx, cell)?;
    }
    tx.commit()?;
    Ok(results)
}

/// One incident change, read-modify-write, and the deliveries it queues,
/// inside the writer's transaction.
pub(super) fn incident_into(
    conn: &Connection,
    change: &Change,
    hooks: &[WebhookRef],
) -> IncidentDone {
    let applied = notification::apply(get_incident(conn, change.id())?, change, hooks);
    for delivery in &applied.deliveries {
        put_delivery(conn, delivery, None, "INSERT OR IGNORE")?;
    }
    let next = applied.incident;
    if let Some(incident) = &next {
        let doc = to_doc(incident)?;
        conn.execute(
            "INSERT OR REPLACE INTO incidents (id, branch, open, opened_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                incident.id,
                incident.branch,
                incident.state == IncidentState::Open,
                micros(incident.opened_at),
                doc
            ],
        )?;
    }
    Ok(next)
}

/// Planning reads inside the writer's transaction; cells this group already
/// changed come from `cells`.
pub(super) struct TxReads<'a> {
    conn: &'a Connection,
    cells: &'a HashMap<CellId, Cell>,
}

impl CellHistory for TxReads<'_> {
    async fn cell_builds(&self, cell: &CellId, scan: &CellScan) -> Summaries {
        cell_builds(self.conn, cell, scan)
    }
}

impl PlanReads for TxReads<'_> {
    async fn stored_builds(&self, ids: &[&str]) -> Result<HashMap<String, Build>, StoreError> {
        let mut found = HashMap::new();
        for id in ids {
            if let Some(build) = get_build(self.conn, id)? {
                found.insert(build.id.clone(), build);
            }
        }
        Ok(found)
    }

    async fn stored_cells(&self, ids: &[CellId]) -> Result<HashMap<CellId, Cell>, StoreError> {
        let mut found = HashMap::new();
        for id in ids {
            let cell = match self.cells.get(id) {
                Some(cell) => Some(cell.clone()),
                None => get_cell(self.conn, id)?,
            };
            if let Some(cell) = cell {
                found.insert(id.clone(), cell);
            }
        }
        Ok(found)
    }
}

/// Writes one post's builds and indexes; its cells are written with the
/// group's.
pub(super) fn ingest_into(
    conn: &Connection,
    cells: &HashMap<CellId, Cell>,
    builds: Vec<Build>,
    poster: &Poster,
) -> Ingested {
    let reads = TxReads { conn, cells };
    // SQLite reads are synchronous: the plan's future completes in one poll.
    let plan = futures::executor::block_on(plan::plan(&reads, builds, poster))?;
    for build in &plan.builds {
        upsert_build(conn, build)?;
    }
    index_commits(conn, &plan)?;
    Ok((plan.outcome, plan.cells))
}
