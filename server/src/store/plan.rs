//! Ingestion planning, written once for both stores: what a post changes
//! (new or rewritten builds, the health cells they move) from what the
//! store holds. Each store runs [`plan`] inside its write transaction over
//! its own [`PlanReads`], then writes the [`Plan`] in that transaction.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use app::model::Cell;

use super::walk::{self, CellHistory};
use super::{identity_conflict, CellId, IngestOutcome, StoreError};
use crate::domain::health::{self, Step};
use app::model::Build;

/// What planning reads, inside the store's write transaction.
pub(crate) trait PlanReads: CellHistory {
    /// The stored builds of these ids, by id.
    fn stored_builds(
        &self,
        ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, Build>, StoreError>>;

    /// The stored cells among these, by id.
    fn stored_cells(
        &self,
        cells: &[CellId],
    ) -> impl Future<Output = Result<HashMap<CellId, Cell>, StoreError>>;
}

/// The writes of one post.
#[derive(Debug)]
pub struct Plan {
    pub outcome: IngestOutcome,
    /// New builds and changed ones, in post order; identical replays are
    /// left out.
    pub builds: Vec<Build>,
    /// Cells whose state changed.
    pub cells: Vec<Cell>,
    /// Cells that did not exist before this post.
    pub new_cells: HashSet<CellId>,
}

pub(crate) async fn plan<R: PlanReads + ?Sized>(
    reads: &R,
    builds: Vec<Build>,
) -> Result<Plan, StoreError> {
    let ids: Vec<&str> = builds.iter().map(|b| b.id.as_str()).collect();
    let stored = reads.stored_builds(&ids).await?;
    let mut changed = Vec::new();
    for (index, build) in builds.iter().enumerate() {
        if let Some(stored) = stored.get(&build.id) {
            if stored == build {
                continue;
            }
            if let Some(conflict) = identity_conflict(stored, build, index) {
                return Err(conflict);
            }
        }
        changed.push(build.clone());
    }
    let outcome = IngestOutcome {
        ids: builds.into_iter().map(|b| b.id).collect(),
        changed: !changed.is_empty(),
    };

    let mut keys: Vec<CellId> = changed.iter().map(Build::cell).collect();
    keys.sort();
    keys.dedup();
    let mut cells = if keys.is_empty() {
        HashMap::new()
    } else {
        reads.stored_cells(&keys).await?
    };
    let new_cells: HashSet<CellId> = keys
        .iter()
        .filter(|k| !cells.contains_key(*k))
        .cloned()
        .collect();

    // A post usually holds many builds of few cells: each cell is read and
    // written once per post. Within a post, an earlier build of the same id
    // is the previous version of a later one.
    let mut latest: HashMap<&str, &Build> = HashMap::new();
    let mut dirty: HashSet<CellId> = HashSet::new();
    let mut recompute: HashSet<CellId> = HashSet::new();
    for build in &changed {
        let id = build.cell();
        let previous = latest
            .insert(&build.id, build)
            .or_else(|| stored.get(&build.id))
            .map(Build::summary);
        if recompute.contains(&id) {
            continue;
        }
        let cell = cells.entry(id.clone()).or_insert_with(|| id.empty_cell());
        match health::apply(cell, previous.as_ref(), &build.summary()) {
            Step::Updated(next) => *cell = *next,
            Step::Unchanged => continue,
            // Recomputed once, after the fold, from history and every build
            // of this post: the same cell as applying them one by one.
            Step::Recompute => {
                recompute.insert(id.clone());
            }
        }
        dirty.insert(id);
    }
    for id in &recompute {
        let mine: Vec<&Build> = latest
            .values()
            .copied()
            .filter(|b| b.cell() == *id)
            .collect();
        let cell = walk::recompute(reads, id, &mine).await?;
        cells.insert(id.clone(), cell);
    }
    let mut cells: Vec<Cell> = cells
        .into_iter()
        .filter_map(|(id, cell)| dirty.contains(&id).then_some(cell))
        .collect();
    cells.sort_by_key(Cell::id);
    Ok(Plan {
        outcome,
        builds: changed,
        cells,
        new_cells,
    })
}
