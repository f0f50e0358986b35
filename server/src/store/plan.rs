//! Ingestion planning, written once for both stores: what a post changes
//! (new or rewritten builds, the health cells they move) from what the
//! store holds. Each store runs [`plan`] inside its write transaction over
//! its own [`PlanReads`], then writes the [`Plan`] in that transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;

use app::model::Cell;
use chrono::{DateTime, Utc};

use super::walk::{self, CellHistory};
use super::{identity_conflict, CellId, CellMove, IngestOutcome, Poster, StoreError};
use crate::domain::health::{self, Step};
use crate::domain::stale;
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

/// What a post says about a commit on a branch, for commit search and
/// release heads: one entry per commit, however many builds it posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitEntry {
    pub branch: String,
    pub commit: String,
    /// The last PR number and title the post's builds carried; absent ones
    /// never erase what is stored.
    pub pr: Option<u64>,
    pub title: Option<String>,
    pub last_started_at: DateTime<Utc>,
}

/// The writes of one post.
#[derive(Debug)]
pub struct Plan {
    pub outcome: IngestOutcome,
    /// New builds and changed ones, in post order; identical replays are
    /// left out.
    pub builds: Vec<Build>,
    pub commits: Vec<CommitEntry>,
    /// (branch, version, commit) reported by the builds.
    pub versions: BTreeSet<(String, String, String)>,
    /// Cells whose state changed.
    pub cells: Vec<Cell>,
    /// Cells that did not exist before this post.
    pub new_cells: HashSet<CellId>,
}

pub(crate) async fn plan<R: PlanReads + ?Sized>(
    reads: &R,
    mut builds: Vec<Build>,
    poster: &Poster,
) -> Result<Plan, StoreError> {
    let ids: Vec<&str> = builds.iter().map(|b| b.id.as_str()).collect();
    let stored = reads.stored_builds(&ids).await?;
    let mut changed = Vec::new();
    for (index, build) in builds.iter_mut().enumerate() {
        build.posted_by = match poster {
            Poster::Token { name, .. } => Some(name.clone()),
            Poster::Operator => None,
        };
        if let Some(stored) = stored.get(&build.id) {
            // Whoever posts an identical build again changes nothing.
            let as_stored = Build {
                posted_by: stored.posted_by.clone(),
                ..build.clone()
            };
            if as_stored == *stored {
                continue;
            }
            if let Some(conflict) = identity_conflict(stored, build, index) {
                return Err(conflict);
            }
            if let Some(conflict) = ownership_conflict(stored, poster, index) {
                return Err(conflict);
            }
            if *poster == Poster::Operator {
                build.posted_by.clone_from(&stored.posted_by);
            }
        }
        changed.push(build.clone());
    }
    let mut outcome = IngestOutcome {
        ids: builds.into_iter().map(|b| b.id).collect(),
        changed: !changed.is_empty(),
        moves: Vec::new(),
    };

    let mut keys: Vec<CellId> = changed.iter().map(|b: &Build| b.cell.clone()).collect();
    keys.sort();
    keys.dedup();
    let mut cells = if keys.is_empty() {
        HashMap::new()
    } else {
        reads.stored_cells(&keys).await?
    };
    let before = cells.clone();
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
        let id = build.cell.clone();
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
            .filter(|b| b.cell.clone() == *id)
            .collect();
        let cell = walk::recompute(reads, id, &mine).await?;
        cells.insert(id.clone(), health::carry_over(before.get(id), cell));
    }
    // Any build newer than the cell's newest says it still reports; in
    // start order, so that a post's order does not matter.
    let mut by_start: Vec<&Build> = changed.iter().collect();
    by_start.sort_by_key(|b| b.started_at);
    for build in by_start {
        if let Some(cell) = cells.get_mut(&build.cell) {
            if let Some(cadence) = stale::observe(cell.cadence.as_ref(), build.started_at) {
                cell.cadence = Some(cadence);
                dirty.insert(build.cell.clone());
            }
        }
    }
    let mut cells: Vec<Cell> = cells
        .into_iter()
        .filter_map(|(id, cell)| dirty.contains(&id).then_some(cell))
        .collect();
    cells.sort_by_key(Cell::id);
    outcome.moves = cells
        .iter()
        .map(|after| CellMove {
            before: before.get(&after.id()).cloned(),
            after: after.clone(),
        })
        .collect();
    Ok(Plan {
        outcome,
        commits: commits(&changed),
        versions: changed
            .iter()
            .filter_map(|b| {
                let version = b.version.clone()?;
                Some((b.cell.branch.clone(), version, b.commit.clone()))
            })
            .collect(),
        builds: changed,
        cells,
        new_cells,
    })
}

fn commits(builds: &[Build]) -> Vec<CommitEntry> {
    let mut by_commit: BTreeMap<(&str, &str), CommitEntry> = BTreeMap::new();
    for b in builds {
        let entry = by_commit
            .entry((&b.cell.branch, &b.commit))
            .or_insert_with(|| CommitEntry {
                branch: b.cell.branch.clone(),
                commit: b.commit.clone(),
                pr: None,
                title: None,
                last_started_at: b.started_at,
            });
        entry.pr = b.pr.or(entry.pr);
        entry.title = b.commit_title.clone().or(entry.title.take());
        entry.last_started_at = entry.last_started_at.max(b.started_at);
    }
    by_commit.into_values().collect()
}

/// A build belongs to the token that posted it: another token changing it
/// (by guessing its id) is refused unless that token is an admin. A build
/// no token posted (imported history, demo data, rows older than the
/// owner column) belongs to the operator: only an admin token changes it.
pub fn ownership_conflict(stored: &Build, poster: &Poster, index: usize) -> Option<StoreError> {
    let Poster::Token { name, admin: false } = poster else {
        return None;
    };
    let message = match &stored.posted_by {
        Some(owner) if owner == name => return None,
        Some(_) => format!(
            "build '{}' was posted by another token; only that token or an admin token \
             may change it",
            stored.id
        ),
        None => format!(
            "build '{}' was not posted with a token (imported or demo history); only an \
             admin token may change it",
            stored.id
        ),
    };
    Some(StoreError::Conflict {
        index,
        field: "id",
        message,
    })
}
