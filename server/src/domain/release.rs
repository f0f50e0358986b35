//! "Is the release ready?": the required matrix from the release config,
//! and readiness of a branch head from its cells. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{
    Blocker, BlockerReason, BuildResult, BuildSummary, Cell, CellId, VersionConflict,
};
use serde::Deserialize;

use crate::domain::health::decisive;
use wildmatch::WildMatch;

/// Magma's required matrix, used when no file is configured.
pub const MAGMA_DEFAULT: &str = include_str!("../../../config/release.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    #[serde(default = "default_release_branches")]
    release_branches: String,
    #[serde(default)]
    required: Vec<Requirement>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Requirement {
    #[serde(default = "everything")]
    branches: String,
    component: String,
    arch: Vec<String>,
    build_types: Vec<String>,
}

fn default_release_branches() -> String {
    "v*".into()
}

fn everything() -> String {
    "*".into()
}

impl ReleaseConfig {
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The glob release branches match.
    pub fn release_branches(&self) -> &str {
        &self.release_branches
    }

    pub fn is_release_branch(&self, branch: &str) -> bool {
        WildMatch::new(&self.release_branches).matches(branch)
    }

    /// Required cells of `branch`, sorted; empty when nothing is configured
    /// for it.
    pub fn required(&self, branch: &str) -> Vec<CellId> {
        let mut cells = BTreeSet::new();
        for r in self
            .required
            .iter()
            .filter(|r| WildMatch::new(&r.branches).matches(branch))
        {
            for arch in &r.arch {
                for build_type in &r.build_types {
                    cells.insert(CellId::new(branch, &r.component, arch, build_type));
                }
            }
        }
        cells.into_iter().collect()
    }
}

/// Blockers of a release at `head`, whose builds are `at_head`.
pub fn blockers(
    required: &[CellId],
    cells: &HashMap<CellId, Cell>,
    at_head: &HashMap<CellId, Vec<BuildSummary>>,
) -> Vec<Blocker> {
    let mut out = Vec::new();
    for key in required {
        let cell = cells.get(key);
        let here = at_head
            .get(key)
            .and_then(|builds| decisive(builds).cloned());
        let streak = cell.and_then(|c| c.streak.as_ref());
        let blocker = |reason, build: Option<&BuildSummary>, failing: bool| Blocker {
            cell: app::model::CellKey {
                component: key.component.clone(),
                arch: key.arch.clone(),
                build_type: key.build_type.clone(),
            },
            reason,
            commit: build.map(|b| b.commit.clone()),
            since_commit: streak.filter(|_| failing).map(|s| s.since.commit.clone()),
            since: streak.filter(|_| failing).map(|s| s.since.started_at),
            url: build.and_then(|b| b.safe_url().map(str::to_string)),
        };
        // A failure only in flaky tests is no failure of the code.
        let flaky = |b: &BuildSummary| {
            cell.is_some_and(|c| {
                c.is_flaky_failure() && c.latest.as_ref().is_some_and(|l| l.id == b.id)
            })
        };
        let found = match (&here, cell.and_then(|c| c.latest.as_ref())) {
            (Some(b), _) if flaky(b) => None,
            (None, Some(older)) if flaky(older) => None,
            (Some(b), _) => match b.result {
                BuildResult::Pass => None,
                BuildResult::Fail => Some(blocker(BlockerReason::Failing, Some(b), true)),
                BuildResult::Running => Some(blocker(BlockerReason::Running, Some(b), false)),
                BuildResult::Error | BuildResult::Cancelled => {
                    Some(blocker(BlockerReason::Inconclusive, Some(b), false))
                }
            },
            (None, Some(older)) if older.result == BuildResult::Pass => {
                Some(blocker(BlockerReason::Stale, Some(older), false))
            }
            (None, Some(older)) if older.result == BuildResult::Fail => {
                Some(blocker(BlockerReason::Failing, Some(older), true))
            }
            (None, Some(older)) => Some(blocker(BlockerReason::Stale, Some(older), false)),
            (None, None) => Some(blocker(BlockerReason::Missing, None, false)),
        };
        out.extend(found);
    }
    out
}

/// The newest commit (of `recent`, newest first) on which every required
/// cell passed.
pub fn last_green(
    required: &[CellId],
    recent: &[(String, HashMap<CellId, Vec<BuildSummary>>)],
) -> Option<String> {
    if required.is_empty() {
        return None;
    }
    recent
        .iter()
        .find(|(_, builds)| {
            required.iter().all(|key| {
                builds
                    .get(key)
                    .and_then(|b| decisive(b))
                    .is_some_and(|b| b.result == BuildResult::Pass)
            })
        })
        .map(|(commit, _)| commit.clone())
}

/// Versions reported by builds of more than one commit.
pub fn version_conflicts(pairs: &[(String, String)]) -> Vec<VersionConflict> {
    let mut by_version: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (version, commit) in pairs {
        by_version.entry(version).or_default().insert(commit);
    }
    by_version
        .into_iter()
        .filter(|(_, commits)| commits.len() > 1)
        .map(|(version, commits)| VersionConflict {
            version: version.to_string(),
            commits: commits.into_iter().map(str::to_string).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::FailStreak;
    use chrono::{TimeDelta, TimeZone, Utc};

    fn key(c: &str, a: &str, b: &str) -> CellId {
        CellId::new("v1.8", c, a, b)
    }

    fn build(commit: &str, minute: i64, result: BuildResult) -> BuildSummary {
        BuildSummary {
            id: format!("{commit}-{minute}"),
            repository: "magma/magma".into(),
            commit: commit.into(),
            pr: None,
            result,
            started_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
                + TimeDelta::minutes(minute),
            finished_at: None,
            url: Some("https://ci.example/1".into()),
        }
    }

    #[test]
    fn the_magma_default_parses() {
        let config = ReleaseConfig::parse(MAGMA_DEFAULT).unwrap();
        assert!(config.is_release_branch("v1.8"));
        assert!(!config.is_release_branch("master"));
        let master = config.required("master");
        let release = config.required("v1.8");
        assert!(master.contains(&CellId::new("master", "agw", "arm64", "bazel-build")));
        assert!(!master.contains(&CellId::new("master", "helm", "amd64", "helm-charts")));
        assert!(release.contains(&key("helm", "amd64", "helm-charts")));
        assert_eq!(release.len(), master.len() + 1);
    }

    #[test]
    fn bad_config_is_explained() {
        let err = ReleaseConfig::parse("[[required]]\ncomponent = 1").unwrap_err();
        assert!(err.contains("component"), "{err}");
        assert!(ReleaseConfig::parse("bogus = true").is_err());
    }

    #[test]
    fn every_blocker_reason() {
        let required = vec![
            key("agw", "amd64", "bazel"),
            key("agw", "arm64", "bazel"),
            key("feg", "amd64", "unit"),
            key("nms", "amd64", "unit"),
            key("dp", "amd64", "unit"),
            key("orc8r", "amd64", "unit"),
        ];
        let mut cells = HashMap::new();
        let mut failing = CellId::new("v1.8", "agw", "arm64", "bazel").empty_cell();
        failing.latest = Some(build("head", 10, BuildResult::Fail));
        failing.streak = Some(FailStreak {
            since: build("old", 2, BuildResult::Fail),
            builds: 3,
        });
        cells.insert(key("agw", "arm64", "bazel"), failing);
        let mut stale = CellId::new("v1.8", "nms", "amd64", "unit").empty_cell();
        stale.latest = Some(build("old", 2, BuildResult::Pass));
        cells.insert(key("nms", "amd64", "unit"), stale);
        let mut at_head = HashMap::new();
        at_head.insert(
            key("agw", "amd64", "bazel"),
            vec![build("head", 9, BuildResult::Pass)],
        );
        at_head.insert(
            key("agw", "arm64", "bazel"),
            vec![build("head", 10, BuildResult::Fail)],
        );
        at_head.insert(
            key("feg", "amd64", "unit"),
            vec![build("head", 10, BuildResult::Running)],
        );
        at_head.insert(
            key("orc8r", "amd64", "unit"),
            vec![build("head", 10, BuildResult::Error)],
        );

        let found = blockers(&required, &cells, &at_head);
        let reasons: Vec<(&str, BlockerReason)> = found
            .iter()
            .map(|b| (b.cell.component.as_str(), b.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("agw", BlockerReason::Failing),
                ("feg", BlockerReason::Running),
                ("nms", BlockerReason::Stale),
                ("dp", BlockerReason::Missing),
                ("orc8r", BlockerReason::Inconclusive),
            ]
        );
        assert_eq!(found[0].since_commit.as_deref(), Some("old"));
        assert_eq!(found[0].url.as_deref(), Some("https://ci.example/1"));
        assert_eq!(found[2].commit.as_deref(), Some("old"));
    }

    #[test]
    fn last_green_is_the_newest_fully_passing_commit() {
        let required = vec![key("agw", "amd64", "bazel"), key("agw", "arm64", "bazel")];
        let commit = |name: &str, results: [BuildResult; 2]| {
            let mut m = HashMap::new();
            m.insert(required[0].clone(), vec![build(name, 1, results[0])]);
            m.insert(required[1].clone(), vec![build(name, 1, results[1])]);
            (name.to_string(), m)
        };
        use BuildResult::*;
        let recent = vec![
            commit("c3", [Pass, Fail]),
            commit("c2", [Pass, Pass]),
            commit("c1", [Pass, Pass]),
        ];
        assert_eq!(last_green(&required, &recent).as_deref(), Some("c2"));
        assert_eq!(last_green(&required, &recent[..1]), None);
        assert_eq!(last_green(&[], &recent), None);
    }

    #[test]
    fn one_version_from_two_commits_conflicts() {
        let pairs = vec![
            ("1.8.0".to_string(), "a".to_string()),
            ("1.8.0".to_string(), "a".to_string()),
            ("1.8.1".to_string(), "b".to_string()),
            ("1.8.1".to_string(), "c".to_string()),
        ];
        assert_eq!(
            version_conflicts(&pairs),
            vec![VersionConflict {
                version: "1.8.1".into(),
                commits: vec!["b".into(), "c".into()]
            }]
        );
    }

    #[test]
    fn a_failure_only_in_flaky_tests_blocks_no_release() {
        let required = vec![key("lte", "amd64", "integ")];
        let mut cell = CellId::new("v1.8", "lte", "amd64", "integ").empty_cell();
        cell.latest = Some(build("head", 10, BuildResult::Fail));
        cell.latest_tests = Some(app::model::TestCounts {
            passed: 40,
            failed: 2,
            skipped: 0,
            flaky: 2,
        });
        let at_head = HashMap::from([(
            key("lte", "amd64", "integ"),
            vec![build("head", 10, BuildResult::Fail)],
        )]);
        let mut cells = HashMap::from([(key("lte", "amd64", "integ"), cell.clone())]);
        assert!(blockers(&required, &cells, &at_head).is_empty());
        cell.latest_tests.as_mut().unwrap().flaky = 1;
        cells.insert(key("lte", "amd64", "integ"), cell);
        assert_eq!(
            blockers(&required, &cells, &at_head)[0].reason,
            BlockerReason::Failing
        );
    }
}
