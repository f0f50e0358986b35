//! Cell changes for the event streams, gathered once for all of them: the
//! changes of each [`BATCH`] are grouped by branch, each cell kept as it
//! last was, and serialized once into the `cells` event every stream of
//! that branch sends. A stream then wakes a few times a second, however
//! fast builds arrive and however many streams there are.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use app::model::Cell;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::domain::stale::StaleConfig;
use crate::store::Store;
use chrono::Utc;

/// Changes are gathered this long into one event.
pub const BATCH: Duration = Duration::from_millis(250);

/// What the streams receive.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch {
    /// The changed cells of one branch, as one JSON array.
    Cells { branch: String, json: String },
    /// Changes were lost: streams tell their clients to refetch.
    Resync,
}

/// Starts gathering the store's changes; streams subscribe to the result.
/// Cells go out judged stale or not, as the health API shows them: a change
/// does not always mean the cell reports again (a late build, a test
/// upload).
pub fn fan_out(store: &Arc<dyn Store>, stale: Arc<StaleConfig>) -> broadcast::Sender<Arc<Batch>> {
    let (sender, _) = broadcast::channel(256);
    let mut changes = store.subscribe();
    let out = sender.clone();
    tokio::spawn(async move {
        loop {
            let first = match changes.recv().await {
                Ok(cell) => cell,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = out.send(Arc::new(Batch::Resync));
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut gathered = vec![first];
            let deadline = Instant::now() + BATCH;
            let mut lagged = false;
            while let Ok(next) = tokio::time::timeout_at(deadline, changes.recv()).await {
                match next {
                    Ok(cell) => gathered.push(cell),
                    Err(broadcast::error::RecvError::Lagged(_)) => lagged = true,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            // No open stream is not an error.
            let now = Utc::now();
            let judged = gathered.into_iter().map(|c| stale.judge(c, now)).collect();
            for batch in batches(judged) {
                let _ = out.send(Arc::new(batch));
            }
            if lagged {
                let _ = out.send(Arc::new(Batch::Resync));
            }
        }
    });
    sender
}

/// One batch per branch, each cell once, as it last was, in the order
/// cells last changed.
fn batches(gathered: Vec<Cell>) -> Vec<Batch> {
    let mut seen = HashSet::new();
    let mut latest: Vec<Cell> = gathered
        .into_iter()
        .rev()
        .filter(|cell| seen.insert(cell.id()))
        .collect();
    latest.reverse();
    let mut branches: Vec<&str> = Vec::new();
    for cell in &latest {
        if !branches.contains(&cell.cell.branch.as_str()) {
            branches.push(&cell.cell.branch);
        }
    }
    branches
        .into_iter()
        .filter_map(|branch| {
            let cells: Vec<&Cell> = latest.iter().filter(|c| c.cell.branch == branch).collect();
            let json = serde_json::to_string(&cells).ok()?;
            Some(Batch::Cells {
                branch: branch.to_string(),
                json,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::CellId;

    fn cell(branch: &str, arch: &str, build_type: &str) -> Cell {
        CellId::new(branch, "agw", arch, build_type).empty_cell()
    }

    /// A burst of changes becomes one batch per branch with each cell once.
    #[test]
    fn a_burst_becomes_one_batch_per_branch_with_each_cell_once() {
        let mut twice = cell("master", "arm64", "bazel");
        twice.last_pass = None;
        let gathered = vec![
            cell("master", "arm64", "bazel"),
            cell("v1.8", "amd64", "bazel"),
            cell("master", "amd64", "bazel"),
            twice.clone(),
        ];
        let batches = batches(gathered);
        let sent = |of: &str| -> Vec<Cell> {
            let found = batches.iter().find_map(|b| match b {
                Batch::Cells { branch, json } if branch == of => Some(json),
                _ => None,
            });
            serde_json::from_str(found.expect("a batch per branch")).unwrap()
        };
        assert_eq!(batches.len(), 2);
        assert_eq!(
            sent("master"),
            vec![cell("master", "amd64", "bazel"), twice]
        );
        assert_eq!(sent("v1.8"), vec![cell("v1.8", "amd64", "bazel")]);
    }
}
