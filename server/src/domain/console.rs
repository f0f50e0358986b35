//! The console's grid from a page of commits and their builds: columns
//! grouped component → architecture → build type, each commit's builds in
//! its columns, open incidents placed on them. Pure.

use std::collections::{BTreeSet, HashMap, HashSet};

use app::model::{
    Build, BuildResult, CellKey, ConsoleColumn, ConsoleCommit, ConsoleFilter, ConsoleIncident,
    ConsoleResult, Incident,
};
use chrono::{DateTime, Utc};

/// A commit of a branch as the commit index orders it (by the start of its
/// newest build), with its builds on that branch.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitBuilds {
    pub commit: String,
    pub last_started_at: DateTime<Utc>,
    pub builds: Vec<Build>,
}

/// The grid of one page.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub columns: Vec<ConsoleColumn>,
    pub commits: Vec<ConsoleCommit>,
    pub incidents: Vec<ConsoleIncident>,
}

/// Lays out `commits` (newest first). The columns are the cells with a
/// build on the page that `filter` admits; `flaky` names the failed builds
/// whose failing tests are all known to be flaky.
pub fn grid(
    commits: &[CommitBuilds],
    flaky: &HashSet<String>,
    incidents: &[Incident],
    filter: &ConsoleFilter,
) -> Grid {
    let builds = || commits.iter().flat_map(|c| &c.builds);
    let mut keys: BTreeSet<CellKey> = builds()
        .map(Build::key)
        .filter(|k| filter.admits(k))
        .collect();
    if filter.only_failing {
        let failing: HashSet<CellKey> = builds()
            .filter(|b| b.result == BuildResult::Fail)
            .map(Build::key)
            .collect();
        keys.retain(|k| failing.contains(k));
    }
    let columns: Vec<CellKey> = keys.into_iter().collect();
    let index: HashMap<&CellKey, usize> = columns.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let rows = commits
        .iter()
        .map(|c| row(c, &index, flaky, columns.len()))
        .collect();
    let incidents = incidents
        .iter()
        .filter_map(|incident| {
            let on_page: Vec<usize> = incident
                .cells
                .iter()
                .filter_map(|k| index.get(k).copied())
                .collect();
            (!on_page.is_empty()).then(|| ConsoleIncident {
                id: incident.id.clone(),
                columns: on_page,
                first_bad_commit: incident.first_bad_commit.clone(),
                suspects: incident.suspects.iter().map(|s| s.commit.clone()).collect(),
            })
        })
        .collect();
    Grid {
        columns: columns
            .into_iter()
            .map(|cell| ConsoleColumn {
                cell,
                stale_since: None,
                last_build: None,
            })
            .collect(),
        commits: rows,
        incidents,
    }
}

fn row(
    commit: &CommitBuilds,
    index: &HashMap<&CellKey, usize>,
    flaky: &HashSet<String>,
    width: usize,
) -> ConsoleCommit {
    let mut newest_first: Vec<&Build> = commit.builds.iter().collect();
    newest_first.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
    let mut results = vec![Vec::new(); width];
    for b in &newest_first {
        if let Some(&column) = index.get(&b.key()) {
            results[column].push(ConsoleResult {
                id: b.id.clone(),
                result: b.result,
                flaky: b.result == BuildResult::Fail && flaky.contains(&b.id),
                url: b.url.clone(),
            });
        }
    }
    // What the newest build that says it says about the commit.
    let first = |field: fn(&Build) -> Option<String>| newest_first.iter().find_map(|b| field(b));
    ConsoleCommit {
        commit: commit.commit.clone(),
        repository: newest_first
            .first()
            .map(|b| b.repository.clone())
            .unwrap_or_default(),
        pr: newest_first.iter().find_map(|b| b.pr),
        title: first(|b| b.commit_title.clone()),
        author: first(|b| b.author.clone()),
        at: commit.last_started_at,
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{CellId, IncidentState, Suspect};
    use chrono::{TimeDelta, TimeZone};

    fn build(
        id: &str,
        commit: &str,
        cell: (&str, &str, &str),
        minute: i64,
        result: BuildResult,
    ) -> Build {
        Build {
            id: id.into(),
            repository: "magma/magma".into(),
            commit: commit.into(),
            parent: None,
            cell: CellId::new("master", cell.0, cell.1, cell.2),
            pr: (commit == "c2").then_some(42),
            result,
            started_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
                + TimeDelta::minutes(minute),
            finished_at: None,
            url: Some(format!("https://ci.example/{id}")),
            runner: None,
            version: None,
            commit_title: Some(format!("title of {commit}")),
            author: Some("dev".into()),
            posted_by: None,
        }
    }

    const AGW_ARM: (&str, &str, &str) = ("agw", "arm64", "bazel-build");
    const AGW_AMD: (&str, &str, &str) = ("agw", "amd64", "bazel-build");
    const ORC8R: (&str, &str, &str) = ("orc8r", "amd64", "unit");

    fn commit(sha: &str, minute: i64, builds: Vec<Build>) -> CommitBuilds {
        CommitBuilds {
            commit: sha.into(),
            last_started_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
                + TimeDelta::minutes(minute),
            builds,
        }
    }

    fn page() -> Vec<CommitBuilds> {
        use BuildResult::*;
        vec![
            commit(
                "c2",
                20,
                vec![
                    build("a2", "c2", AGW_ARM, 20, Fail),
                    build("a2-rerun", "c2", AGW_ARM, 25, Pass),
                    build("o2", "c2", ORC8R, 20, Fail),
                ],
            ),
            commit(
                "c1",
                10,
                vec![
                    build("a1", "c1", AGW_ARM, 10, Pass),
                    build("m1", "c1", AGW_AMD, 10, Pass),
                    build("o1", "c1", ORC8R, 10, Pass),
                ],
            ),
        ]
    }

    fn labels(grid: &Grid) -> Vec<String> {
        grid.columns.iter().map(|c| c.cell.label()).collect()
    }

    #[test]
    fn columns_group_by_component_then_arch_and_rows_hold_reruns_newest_first() {
        let flaky = HashSet::from(["a2".to_string()]);
        let grid = grid(&page(), &flaky, &[], &ConsoleFilter::default());
        assert_eq!(
            labels(&grid),
            [
                "agw bazel-build amd64",
                "agw bazel-build arm64",
                "orc8r unit amd64"
            ]
        );
        let newest = &grid.commits[0];
        assert_eq!(
            (newest.pr, newest.title.as_deref()),
            (Some(42), Some("title of c2"))
        );
        // Not built at c2.
        assert!(newest.results[0].is_empty());
        let arm: Vec<(&str, &str)> = newest.results[1]
            .iter()
            .map(|r| (r.id.as_str(), r.state()))
            .collect();
        assert_eq!(arm, [("a2-rerun", "pass"), ("a2", "flaky")]);
        assert_eq!(newest.results[2][0].state(), "fail");
        assert_eq!(grid.commits[1].results[0][0].id, "m1");
    }

    #[test]
    fn filters_narrow_the_columns() {
        let by_component = ConsoleFilter {
            component: Some("agw".into()),
            ..Default::default()
        };
        let grid_agw = grid(&page(), &HashSet::new(), &[], &by_component);
        assert_eq!(
            labels(&grid_agw),
            ["agw bazel-build amd64", "agw bazel-build arm64"]
        );
        assert!(grid_agw.commits.iter().all(|c| c.results.len() == 2));
        let failing = ConsoleFilter {
            arch: Some("amd64".into()),
            only_failing: true,
            ..Default::default()
        };
        assert_eq!(
            labels(&grid(&page(), &HashSet::new(), &[], &failing)),
            ["orc8r unit amd64"]
        );
    }

    #[test]
    fn incidents_name_their_columns_on_the_page() {
        let incident = Incident {
            id: "inc-1".into(),
            branch: "master".into(),
            state: IncidentState::Open,
            opened_at: Utc::now(),
            resolved_at: None,
            cells: vec![
                CellKey::new("orc8r", "amd64", "unit"),
                CellKey::new("lte", "amd64", "integ"),
            ],
            red: vec![CellKey::new("orc8r", "amd64", "unit")],
            first_bad_commit: "c2".into(),
            last_good_commit: Some("c1".into()),
            suspects: vec![Suspect {
                commit: "c2".into(),
                pr: None,
                title: None,
                author: None,
            }],
            suspects_complete: true,
            compare_url: None,
            tests: Vec::new(),
            red_tests: Vec::new(),
            triage: Default::default(),
        };
        let grid = grid(
            &page(),
            &HashSet::new(),
            std::slice::from_ref(&incident),
            &ConsoleFilter::default(),
        );
        assert_eq!(grid.incidents.len(), 1);
        assert_eq!(grid.incidents[0].columns, [2]);
        assert_eq!(grid.incidents[0].suspects, ["c2"]);
        // Off the page's columns: not drawn.
        let agw_only = ConsoleFilter {
            component: Some("agw".into()),
            ..Default::default()
        };
        assert!(grid_of(&agw_only, incident).incidents.is_empty());
    }

    fn grid_of(filter: &ConsoleFilter, incident: Incident) -> Grid {
        grid(&page(), &HashSet::new(), &[incident], filter)
    }
}
