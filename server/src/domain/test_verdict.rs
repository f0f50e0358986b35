//! What a commit's failing tests mean: each against its cell's baseline
//! build (new, still failing since a commit, or flaky when a rerun of the
//! same commit passed it), and the tests that fail on one architecture and
//! pass on another at the same commit.

use std::collections::{HashMap, HashSet};

use app::model::{
    Divergence, FailingTest, TestFailure, TestTotals, TestVerdict, Verdict, VerdictTests,
};

use app::model::CellId;

/// A cell's tests at one commit, as the commit page judges them.
#[derive(Debug, Clone)]
pub struct CellTests {
    pub cell: CellId,
    /// Of the build the cell's verdict is about; none without tests.
    pub totals: Option<TestTotals>,
    /// That build's failing tests.
    pub failures: Vec<TestFailure>,
    /// The failing tests of the cell's baseline build.
    pub baseline_failures: Vec<TestFailure>,
    /// Tests that passed in another build of this commit in the cell.
    pub passed_on_rerun: HashSet<String>,
    /// Tests that passed in the judged build, where a divergence needs them.
    pub passed: HashSet<String>,
}

/// Failing tests listed per verdict at most.
const MAX_LISTED: usize = 100;
/// Per-test divergences listed at most.
const MAX_DIVERGENT: usize = 100;

/// A cell's verdict read with its failing tests, finer than build
/// results: a build failing only in flaky tests (each passed on a rerun of
/// the commit, or is flaky by its history) is a flaky failure; a build
/// "still failing" after a red build whose failures were other tests (a
/// flaky failure before it, say) is newly broken.
pub fn refine(verdict: Verdict, tests: Option<&VerdictTests>) -> Verdict {
    let Some(tests) = tests.filter(|t| !t.failing.is_empty()) else {
        return verdict;
    };
    let all_listed = tests.failing.len() == tests.failed;
    let only = |v: TestVerdict| tests.failing.iter().all(|t| t.verdict == v);
    let failed = matches!(
        verdict,
        Verdict::NewFailure | Verdict::StillFailing | Verdict::NoBaseline
    );
    if failed && all_listed && only(TestVerdict::Flaky) {
        return Verdict::FlakyFailure;
    }
    let none_still = !tests
        .failing
        .iter()
        .any(|t| t.verdict == TestVerdict::StillFailing);
    let some_new = tests
        .failing
        .iter()
        .any(|t| t.verdict == TestVerdict::NewFailure);
    if verdict == Verdict::StillFailing && all_listed && none_still && some_new {
        return Verdict::NewFailure;
    }
    verdict
}

pub fn verdict_tests(cell: &CellTests) -> Option<VerdictTests> {
    let totals = cell.totals.as_ref()?;
    let before: HashMap<&str, &TestFailure> = cell
        .baseline_failures
        .iter()
        .map(|f| (f.name.as_str(), f))
        .collect();
    let mut failing: Vec<FailingTest> = cell
        .failures
        .iter()
        .map(|f| {
            let flaky = f.flaky || cell.passed_on_rerun.contains(&f.name);
            let (verdict, since) = if flaky {
                (TestVerdict::Flaky, f.since_commit.clone())
            } else if let Some(earlier) = before.get(f.name.as_str()) {
                (TestVerdict::StillFailing, earlier.since_commit.clone())
            } else {
                (TestVerdict::NewFailure, f.since_commit.clone())
            };
            FailingTest {
                quarantined: false,
                reason: None,
                known_issue: None,
                name: f.name.clone(),
                verdict,
                since_commit: since,
                message: f.message.clone(),
            }
        })
        .collect();
    // New failures first: they are what this commit did.
    failing.sort_by_key(|t| {
        let rank = match t.verdict {
            TestVerdict::NewFailure => 0,
            TestVerdict::Flaky => 1,
            TestVerdict::StillFailing => 2,
        };
        (rank, t.name.clone())
    });
    failing.truncate(MAX_LISTED);
    Some(VerdictTests {
        passed: totals.passed,
        failed: totals.failed + totals.errors,
        skipped: totals.skipped,
        failing,
    })
}

/// Tests failing on one architecture's build and passing on another's, of
/// the same component and build type at this commit.
pub fn divergences(cells: &[CellTests]) -> Vec<Divergence> {
    let mut out = Vec::new();
    for failing in cells.iter().filter(|c| !c.failures.is_empty()) {
        for passing in cells.iter().filter(|c| {
            c.cell.component == failing.cell.component
                && c.cell.build_type == failing.cell.build_type
                && c.cell.arch != failing.cell.arch
        }) {
            for f in failing
                .failures
                .iter()
                .filter(|f| passing.passed.contains(&f.name))
            {
                out.push(Divergence {
                    component: failing.cell.component.clone(),
                    build_type: failing.cell.build_type.clone(),
                    failing_arch: failing.cell.arch.clone(),
                    passing_arch: passing.cell.arch.clone(),
                    test: Some(f.name.clone()),
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.component, &a.build_type, &a.test, &a.failing_arch).cmp(&(
            &b.component,
            &b.build_type,
            &b.test,
            &b.failing_arch,
        ))
    });
    out.truncate(MAX_DIVERGENT);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::TestStatus;

    fn failure(build: &str, name: &str, since: &str) -> TestFailure {
        TestFailure {
            build: build.into(),
            suite: "s".into(),
            name: name.into(),
            status: TestStatus::Failed,
            message: Some("boom".into()),
            since_commit: since.into(),
            flaky: false,
        }
    }

    fn cell(arch: &str) -> CellTests {
        CellTests {
            cell: CellId::new("master", "lte", arch, "integ"),
            totals: Some(TestTotals {
                passed: 10,
                failed: 2,
                errors: 1,
                skipped: 1,
                duration_s: 3.0,
                flaky: 0,
            }),
            failures: Vec::new(),
            baseline_failures: Vec::new(),
            passed_on_rerun: HashSet::new(),
            passed: HashSet::new(),
        }
    }

    #[test]
    fn failing_tests_are_judged_against_the_baseline_build() {
        let mut arm = cell("arm64");
        arm.failures = vec![
            failure("b2", "t_new", "c2"),
            failure("b2", "t_old", "c2"),
            failure("b2", "t_flaky", "c2"),
        ];
        arm.baseline_failures = vec![failure("b1", "t_old", "c0")];
        arm.passed_on_rerun = ["t_flaky".to_string()].into();
        let tests = verdict_tests(&arm).unwrap();
        assert_eq!((tests.passed, tests.failed, tests.skipped), (10, 3, 1));
        let got: Vec<(&str, TestVerdict, &str)> = tests
            .failing
            .iter()
            .map(|t| (t.name.as_str(), t.verdict, t.since_commit.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("t_new", TestVerdict::NewFailure, "c2"),
                ("t_flaky", TestVerdict::Flaky, "c2"),
                ("t_old", TestVerdict::StillFailing, "c0"),
            ]
        );
        let untested = CellTests {
            totals: None,
            ..cell("amd64")
        };
        assert!(verdict_tests(&untested).is_none(), "no tests, no counts");
    }

    #[test]
    fn a_test_failing_on_arm64_and_passing_on_amd64_diverges() {
        let mut arm = cell("arm64");
        arm.failures = vec![
            failure("b2", "t_attach", "c2"),
            failure("b2", "t_both", "c2"),
        ];
        let mut amd = cell("amd64");
        amd.failures = vec![failure("b3", "t_both", "c2")];
        amd.passed = ["t_attach".to_string()].into();
        let mut other = cell("amd64");
        other.cell = CellId::new("master", "lte", "amd64", "unit");
        other.passed = ["t_both".to_string()].into();
        let found = divergences(&[arm, amd, other]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (
                found[0].test.as_deref(),
                found[0].failing_arch.as_str(),
                found[0].passing_arch.as_str()
            ),
            (Some("t_attach"), "arm64", "amd64")
        );
    }

    fn tests_of(verdicts: &[TestVerdict]) -> VerdictTests {
        VerdictTests {
            passed: 10,
            failed: verdicts.len(),
            skipped: 0,
            failing: verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| FailingTest {
                    quarantined: false,
                    reason: None,
                    known_issue: None,
                    name: format!("t{i}"),
                    verdict: *v,
                    since_commit: "c".into(),
                    message: None,
                })
                .collect(),
        }
    }

    #[test]
    fn failing_tests_refine_a_cells_verdict() {
        use TestVerdict::*;
        let flaky = tests_of(&[Flaky, Flaky]);
        assert_eq!(
            refine(Verdict::NewFailure, Some(&flaky)),
            Verdict::FlakyFailure
        );
        assert_eq!(
            refine(Verdict::StillFailing, Some(&flaky)),
            Verdict::FlakyFailure
        );
        let mixed = tests_of(&[Flaky, NewFailure]);
        assert_eq!(
            refine(Verdict::NewFailure, Some(&mixed)),
            Verdict::NewFailure
        );
        // Red before, but in other tests: this commit broke these.
        assert_eq!(
            refine(Verdict::StillFailing, Some(&mixed)),
            Verdict::NewFailure
        );
        let still = tests_of(&[StillFailing, NewFailure]);
        assert_eq!(
            refine(Verdict::StillFailing, Some(&still)),
            Verdict::StillFailing
        );
        // Failures beyond those listed: the build-level verdict stands.
        let mut unlisted = flaky.clone();
        unlisted.failed = 300;
        assert_eq!(
            refine(Verdict::NewFailure, Some(&unlisted)),
            Verdict::NewFailure
        );
        assert_eq!(refine(Verdict::Pass, None), Verdict::Pass);
    }
}
