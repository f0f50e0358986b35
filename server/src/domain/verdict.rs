//! "Did my commit break anything?": a verdict per cell from a commit's
//! builds and the cell's baseline. Pure: stores gather the evidence.

use std::collections::BTreeMap;

use app::model::{BuildResult, BuildSummary, CellId, CellVerdict, Divergence, Verdict};

use crate::domain::health::decisive;

/// What is known about one cell for one commit.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub cell: CellId,
    /// Required for a release of this branch.
    pub required: bool,
    /// This commit's builds in the cell (reruns included).
    pub here: Vec<BuildSummary>,
    /// The nearest earlier pass or fail of the cell on the branch.
    pub baseline: Option<BuildSummary>,
    /// When the baseline failed: the first failure of its red streak.
    pub streak_since: Option<BuildSummary>,
}

impl Evidence {
    /// The build of this commit the cell's verdict is about.
    pub fn judged(&self) -> Option<&BuildSummary> {
        decisive(&self.here)
    }

    pub fn result(&self) -> Option<BuildResult> {
        decisive(&self.here).map(|b| b.result)
    }

    fn url(&self) -> Option<String> {
        decisive(&self.here).and_then(|b| b.safe_url().map(str::to_string))
    }
}

/// `None` when the commit has no build in a cell that is not required:
/// there is nothing to say about it.
pub fn judge(e: &Evidence) -> Option<CellVerdict> {
    let baseline = e.baseline.as_ref().map(|b| b.result);
    let verdict = match (e.result(), baseline) {
        (None, _) if e.required => Verdict::Missing,
        (None, _) => return None,
        (Some(BuildResult::Running), _) => Verdict::Running,
        (Some(BuildResult::Error), _) => Verdict::Error,
        (Some(BuildResult::Cancelled), _) => Verdict::Cancelled,
        (Some(_), None) => Verdict::NoBaseline,
        (Some(BuildResult::Fail), Some(BuildResult::Fail)) => Verdict::StillFailing,
        (Some(BuildResult::Fail), Some(_)) => Verdict::NewFailure,
        (Some(_), Some(BuildResult::Fail)) => Verdict::Fixed,
        (Some(_), Some(_)) => Verdict::Pass,
    };
    let failing_since = (verdict == Verdict::StillFailing).then(|| {
        e.streak_since
            .as_ref()
            .or(e.baseline.as_ref())
            .map(|b| b.commit.clone())
            .unwrap_or_default()
    });
    Some(CellVerdict {
        cell: app::model::CellKey {
            component: e.cell.component.clone(),
            arch: e.cell.arch.clone(),
            build_type: e.cell.build_type.clone(),
        },
        verdict,
        baseline_commit: e.baseline.as_ref().map(|b| b.commit.clone()),
        failing_since,
        url: e.url(),
        tests: None,
    })
}

/// (component, build_type) pairs that fail on one architecture and pass on
/// another at this commit: the classic "I broke arm64".
pub fn divergences(evidence: &[Evidence]) -> Vec<Divergence> {
    // (component, build_type) -> (failing arches, passing arches)
    type Arches<'a> = (Vec<&'a str>, Vec<&'a str>);
    let mut by_pair: BTreeMap<(&str, &str), Arches> = BTreeMap::new();
    for e in evidence {
        let entry = by_pair
            .entry((&e.cell.component, &e.cell.build_type))
            .or_default();
        match e.result() {
            Some(BuildResult::Fail) => entry.0.push(&e.cell.arch),
            Some(BuildResult::Pass) => entry.1.push(&e.cell.arch),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for ((component, build_type), (failing, passing)) in by_pair {
        for f in &failing {
            for p in &passing {
                out.push(Divergence {
                    component: component.to_string(),
                    build_type: build_type.to_string(),
                    failing_arch: f.to_string(),
                    passing_arch: p.to_string(),
                    test: None,
                });
            }
        }
    }
    out
}

fn count(verdicts: &[CellVerdict], v: Verdict) -> usize {
    verdicts.iter().filter(|c| c.verdict == v).count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The one line the commit page leads with.
pub fn headline(verdicts: &[CellVerdict]) -> String {
    let broken: Vec<String> = verdicts
        .iter()
        .filter(|c| c.verdict == Verdict::NewFailure)
        .map(|c| {
            format!(
                "{} {} on {}",
                c.cell.component, c.cell.build_type, c.cell.arch
            )
        })
        .collect();
    let missing = count(verdicts, Verdict::Missing);
    let mut line = if !broken.is_empty() {
        let shown = broken
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        match broken.len() {
            n if n > 3 => format!("This commit broke {shown} and {} more", n - 3),
            _ => format!("This commit broke {shown}"),
        }
    } else {
        let already = count(verdicts, Verdict::StillFailing);
        let fixed = count(verdicts, Verdict::Fixed);
        let running = count(verdicts, Verdict::Running);
        let mut parts = vec![if already > 0 {
            format!(
                "Nothing newly broken; {} already there",
                plural(already, "failure was", "failures were")
            )
        } else {
            "Nothing newly broken".to_string()
        }];
        if fixed > 0 {
            parts.push(format!("fixed {}", plural(fixed, "build", "builds")));
        }
        if running > 0 {
            parts.push(format!(
                "{} still running",
                plural(running, "build", "builds")
            ));
        }
        parts.join("; ")
    };
    if missing > 0 {
        line.push_str(&format!(
            "; {} missing",
            plural(missing, "required build", "required builds")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};
    use BuildResult::*;

    fn b(commit: &str, minute: i64, result: BuildResult) -> BuildSummary {
        BuildSummary {
            id: format!("{commit}-{minute}"),
            repository: "magma/magma".into(),
            commit: commit.into(),
            pr: None,
            result,
            started_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
                + TimeDelta::minutes(minute),
            finished_at: None,
            url: Some(format!("https://ci.example/{commit}/{minute}")),
        }
    }

    fn evidence(arch: &str, here: Vec<BuildSummary>, baseline: Option<BuildSummary>) -> Evidence {
        Evidence {
            cell: CellId::new("master", "agw", arch, "bazel"),
            required: false,
            here,
            baseline,
            streak_since: None,
        }
    }

    fn verdict(here: Vec<BuildSummary>, baseline: Option<BuildSummary>) -> Option<Verdict> {
        judge(&evidence("arm64", here, baseline)).map(|v| v.verdict)
    }

    #[test]
    fn every_verdict_rule() {
        let pass = || Some(b("base", 1, Pass));
        let fail = || Some(b("base", 1, Fail));
        assert_eq!(
            verdict(vec![b("c", 5, Fail)], pass()),
            Some(Verdict::NewFailure)
        );
        assert_eq!(
            verdict(vec![b("c", 5, Fail)], fail()),
            Some(Verdict::StillFailing)
        );
        assert_eq!(verdict(vec![b("c", 5, Pass)], fail()), Some(Verdict::Fixed));
        assert_eq!(verdict(vec![b("c", 5, Pass)], pass()), Some(Verdict::Pass));
        assert_eq!(
            verdict(vec![b("c", 5, Running)], pass()),
            Some(Verdict::Running)
        );
        assert_eq!(
            verdict(vec![b("c", 5, Error)], pass()),
            Some(Verdict::Error)
        );
        assert_eq!(
            verdict(vec![b("c", 5, Cancelled)], fail()),
            Some(Verdict::Cancelled)
        );
        assert_eq!(
            verdict(vec![b("c", 5, Fail)], None),
            Some(Verdict::NoBaseline)
        );
        assert_eq!(
            verdict(vec![b("c", 5, Pass)], None),
            Some(Verdict::NoBaseline)
        );
        assert_eq!(verdict(vec![], pass()), None);
        let mut required = evidence("arm64", vec![], pass());
        required.required = true;
        assert_eq!(judge(&required).unwrap().verdict, Verdict::Missing);
    }

    #[test]
    fn a_rerun_counts_its_newest_finished_result() {
        let here = vec![b("c", 5, Fail), b("c", 9, Pass), b("c", 12, Running)];
        assert_eq!(verdict(here, Some(b("base", 1, Pass))), Some(Verdict::Pass));
    }

    #[test]
    fn still_failing_says_since_when() {
        let mut e = evidence("arm64", vec![b("c", 5, Fail)], Some(b("base", 3, Fail)));
        e.streak_since = Some(b("first", 1, Fail));
        let v = judge(&e).unwrap();
        assert_eq!(v.failing_since.as_deref(), Some("first"));
        assert_eq!(v.baseline_commit.as_deref(), Some("base"));
        assert_eq!(v.url.as_deref(), Some("https://ci.example/c/5"));
    }

    #[test]
    fn divergence_between_architectures() {
        let evidence = vec![
            evidence("amd64", vec![b("c", 5, Pass)], None),
            evidence("arm64", vec![b("c", 5, Fail)], None),
        ];
        assert_eq!(
            divergences(&evidence),
            vec![Divergence {
                component: "agw".into(),
                build_type: "bazel".into(),
                failing_arch: "arm64".into(),
                passing_arch: "amd64".into(),
                test: None,
            }]
        );
        assert!(divergences(&evidence[..1]).is_empty());
    }

    fn cv(arch: &str, verdict: Verdict) -> CellVerdict {
        CellVerdict {
            cell: app::model::CellKey {
                component: "agw".into(),
                arch: arch.into(),
                build_type: "bazel".into(),
            },
            verdict,
            baseline_commit: None,
            failing_since: None,
            url: None,
            tests: None,
        }
    }

    #[test]
    fn headlines() {
        assert_eq!(
            headline(&[cv("arm64", Verdict::NewFailure), cv("amd64", Verdict::Pass)]),
            "This commit broke agw bazel on arm64"
        );
        assert_eq!(
            headline(&[
                cv("arm64", Verdict::StillFailing),
                cv("amd64", Verdict::StillFailing)
            ]),
            "Nothing newly broken; 2 failures were already there"
        );
        assert_eq!(
            headline(&[
                cv("arm64", Verdict::Fixed),
                cv("amd64", Verdict::Running),
                cv("x", Verdict::Missing)
            ]),
            "Nothing newly broken; fixed 1 build; 1 build still running; 1 required build missing"
        );
        let many: Vec<CellVerdict> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|a| cv(a, Verdict::NewFailure))
            .collect();
        assert_eq!(
            headline(&many),
            "This commit broke agw bazel on a, agw bazel on b, agw bazel on c and 2 more"
        );
    }
}
