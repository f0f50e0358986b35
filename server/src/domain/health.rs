//! How a health cell changes when a build arrives. Pure: stores call
//! [`apply`] inside their write transaction and fall back to [`recompute`]
//! over the cell's own history when the cheap path cannot be exact.

use app::model::{BuildResult, BuildSummary, Cell, FailStreak, TestTotals};

#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Updated(Box<Cell>),
    Unchanged,
    /// The build lands behind the newest result (late arrival) or rewrites a
    /// finished one: only the cell's history can tell the new streak.
    Recompute,
}

/// `previous` is the stored version of the same build id, if any.
pub fn apply(cell: &Cell, previous: Option<&BuildSummary>, build: &BuildSummary) -> Step {
    if previous.is_some_and(|p| p.result.is_finished()) {
        return Step::Recompute;
    }
    let newer_than_latest = cell
        .latest
        .as_ref()
        .is_none_or(|l| build.order_key() > l.order_key());

    if build.result == BuildResult::Running {
        let replaces_slot = cell.running.as_ref().is_some_and(|r| r.id == build.id);
        let newer_than_running = cell
            .running
            .as_ref()
            .is_none_or(|r| build.order_key() > r.order_key());
        if newer_than_latest && (replaces_slot || newer_than_running) {
            let mut next = cell.clone();
            next.running = Some(build.clone());
            return Step::Updated(Box::new(next));
        }
        return Step::Unchanged;
    }

    if !newer_than_latest {
        return late(cell, build);
    }
    let mut next = cell.clone();
    // Test counts belong to the build they came with.
    if next.latest.as_ref().is_none_or(|l| l.id != build.id) {
        next.latest_tests = None;
    }
    next.latest = Some(build.clone());
    // Any running build older than this result is superseded by it.
    if next
        .running
        .as_ref()
        .is_some_and(|r| r.order_key() <= build.order_key())
    {
        next.running = None;
    }
    match build.result {
        BuildResult::Pass => {
            next.streak = None;
            next.last_pass = Some(Some(build.clone()));
        }
        BuildResult::Fail => next.streak = Some(joined(next.streak.take(), build)),
        // Infrastructure errors and cancellations say nothing about the code.
        BuildResult::Error | BuildResult::Cancelled | BuildResult::Running => {}
    }
    Step::Updated(Box::new(next))
}

/// A finished build older than the newest result (a late arrival, or a tie
/// in start time broken by id). It cannot change `latest` or `running`;
/// knowing the newest pass tells what it does to the streak, except for a
/// pass inside the streak, which splits it where only history can tell.
fn late(cell: &Cell, build: &BuildSummary) -> Step {
    let Some(last_pass) = &cell.last_pass else {
        return Step::Recompute;
    };
    let after_last_pass = last_pass
        .as_ref()
        .is_none_or(|p| build.order_key() > p.order_key());
    let mut next = cell.clone();
    match build.result {
        BuildResult::Pass => {
            let inside_streak = next
                .streak
                .as_ref()
                .is_some_and(|s| build.order_key() > s.since.order_key());
            if inside_streak {
                return Step::Recompute;
            }
            if !after_last_pass {
                return Step::Unchanged;
            }
            next.last_pass = Some(Some(build.clone()));
        }
        BuildResult::Fail => {
            if !after_last_pass {
                return Step::Unchanged;
            }
            // Every failure after the newest pass is in the streak.
            next.streak = Some(joined(next.streak.take(), build));
        }
        BuildResult::Error | BuildResult::Cancelled | BuildResult::Running => {
            return Step::Unchanged
        }
    }
    Step::Updated(Box::new(next))
}

/// The red streak with one more failure, which starts it if it is older
/// than the streak's first.
fn joined(streak: Option<FailStreak>, failure: &BuildSummary) -> FailStreak {
    match streak {
        Some(streak) => FailStreak {
            since: if failure.order_key() < streak.since.order_key() {
                failure.clone()
            } else {
                streak.since
            },
            builds: streak.builds + 1,
        },
        None => FailStreak {
            since: failure.clone(),
            builds: 1,
        },
    }
}

/// What several builds of one commit in one cell (reruns) amount to: the
/// newest finished one, else the newest running one.
pub fn decisive(builds: &[BuildSummary]) -> Option<&BuildSummary> {
    let newest = |finished: bool| {
        builds
            .iter()
            .filter(|b| b.result.is_finished() == finished)
            .max_by(|a, b| a.order_key().cmp(&b.order_key()))
    };
    newest(true).or_else(|| newest(false))
}

/// The cell with the test counts of `build`'s uploaded results, when it is
/// the cell's latest build; `None` when the counts belong to no cell.
pub fn with_tests(cell: &Cell, build: &str, totals: &TestTotals) -> Option<Cell> {
    if cell.latest.as_ref()?.id != build {
        return None;
    }
    let mut next = cell.clone();
    next.latest_tests = Some(totals.counts());
    Some(next)
}

/// What a recomputed cell keeps of what ingestion learned, which its
/// history does not say: its runs with results, the latest counts if its
/// latest build is still the same, and its cadence.
pub fn carry_over(before: Option<&Cell>, mut after: Cell) -> Cell {
    let same = |c: &Cell| c.latest.as_ref().map(|l| l.id.clone());
    if let Some(before) = before {
        after.results.clone_from(&before.results);
        after.cadence.clone_from(&before.cadence);
        if same(before) == same(&after) {
            after.latest_tests.clone_from(&before.latest_tests);
        }
    }
    after
}

/// The cell from its history: `finished` yields the cell's finished builds
/// newest first and is only read as far as the red streak goes;
/// `newest_running` is the cell's newest running build.
pub fn recompute(
    empty: Cell,
    mut finished: impl Iterator<Item = BuildSummary>,
    newest_running: Option<BuildSummary>,
) -> Cell {
    let mut cell = empty;
    cell.latest = finished.next();
    cell.running = newest_running.filter(|r| {
        cell.latest
            .as_ref()
            .is_none_or(|l| r.order_key() > l.order_key())
    });
    let mut streak: Option<FailStreak> = None;
    let mut last_pass = None;
    for build in cell.latest.clone().into_iter().chain(finished) {
        match build.result {
            BuildResult::Pass => {
                last_pass = Some(build);
                break;
            }
            BuildResult::Fail => {
                let builds = streak.as_ref().map_or(0, |s| s.builds) + 1;
                streak = Some(FailStreak {
                    since: build,
                    builds,
                });
            }
            _ => {}
        }
    }
    cell.streak = streak;
    cell.last_pass = Some(last_pass);
    cell
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::CellId;
    use chrono::{TimeDelta, TimeZone, Utc};

    fn build(id: &str, minute: i64, result: BuildResult) -> BuildSummary {
        BuildSummary {
            id: id.to_string(),
            repository: "magma/magma".into(),
            commit: format!("{:0>40}", minute),
            pr: None,
            result,
            started_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
                + TimeDelta::minutes(minute),
            finished_at: None,
            url: None,
        }
    }

    fn empty() -> Cell {
        CellId::new("master", "agw", "arm64", "bazel").empty_cell()
    }

    /// Applies builds in order, recomputing from the full history whenever
    /// `apply` asks to, the way a store does.
    fn ingest(builds: &[BuildSummary]) -> Cell {
        let mut history: Vec<BuildSummary> = Vec::new();
        let mut cell = empty();
        for b in builds {
            let previous = history.iter().find(|h| h.id == b.id).cloned();
            history.retain(|h| h.id != b.id);
            history.push(b.clone());
            match apply(&cell, previous.as_ref(), b) {
                Step::Updated(next) => cell = *next,
                Step::Unchanged => {}
                Step::Recompute => cell = from_scratch(&history),
            }
        }
        cell
    }

    fn from_scratch(history: &[BuildSummary]) -> Cell {
        let mut sorted = history.to_vec();
        sorted.sort_by(|a, b| b.order_key().cmp(&a.order_key()));
        let running = sorted
            .iter()
            .find(|b| b.result == BuildResult::Running)
            .cloned();
        recompute(
            empty(),
            sorted.into_iter().filter(|b| b.result.is_finished()),
            running,
        )
    }

    use BuildResult::*;

    #[test]
    fn first_failure_starts_a_streak_and_a_pass_ends_it() {
        let cell = ingest(&[
            build("1", 1, Pass),
            build("2", 2, Fail),
            build("3", 3, Fail),
        ]);
        let streak = cell.streak.clone().unwrap();
        assert_eq!((streak.since.id.as_str(), streak.builds), ("2", 2));
        assert_eq!(cell.latest.unwrap().id, "3");
        let cell = ingest(&[build("1", 1, Fail), build("2", 2, Pass)]);
        assert_eq!(cell.streak, None);
        assert_eq!(cell.status(), Pass);
    }

    #[test]
    fn infra_errors_neither_break_nor_extend_a_streak() {
        let cell = ingest(&[
            build("1", 1, Fail),
            build("2", 2, Error),
            build("3", 3, Cancelled),
        ]);
        assert_eq!(cell.status(), Cancelled);
        let streak = cell.streak.unwrap();
        assert_eq!((streak.since.id.as_str(), streak.builds), ("1", 1));
    }

    #[test]
    fn an_older_build_arriving_late_does_not_overwrite_a_newer_result() {
        let cell = ingest(&[build("new", 10, Pass), build("old", 5, Fail)]);
        assert_eq!(cell.latest.unwrap().id, "new");
        assert_eq!(cell.streak, None);
    }

    #[test]
    fn a_late_failure_inside_a_streak_moves_its_start() {
        let cell = ingest(&[
            build("1", 1, Pass),
            build("3", 3, Fail),
            build("2", 2, Fail),
        ]);
        let streak = cell.streak.unwrap();
        assert_eq!((streak.since.id.as_str(), streak.builds), ("2", 2));
        // ...and a late pass inside it shortens it.
        let cell = ingest(&[
            build("1", 1, Fail),
            build("3", 3, Fail),
            build("2", 2, Pass),
        ]);
        let streak = cell.streak.unwrap();
        assert_eq!((streak.since.id.as_str(), streak.builds), ("3", 1));
    }

    #[test]
    fn running_then_finished() {
        let cell = ingest(&[build("1", 1, Pass), build("2", 2, Running)]);
        assert_eq!(cell.status(), Pass);
        assert_eq!(cell.running.as_ref().unwrap().id, "2");
        let cell = ingest(&[
            build("1", 1, Pass),
            build("2", 2, Running),
            build("2", 2, Fail),
        ]);
        assert_eq!(cell.running, None);
        assert_eq!(cell.status(), Fail);
        assert_eq!(cell.streak.unwrap().builds, 1);
    }

    #[test]
    fn only_a_newer_running_build_is_shown() {
        let cell = ingest(&[build("1", 5, Pass), build("0", 1, Running)]);
        assert_eq!(cell.running, None);
        let cell = ingest(&[build("r2", 3, Running), build("r1", 2, Running)]);
        assert_eq!(cell.running.as_ref().unwrap().id, "r2");
        assert_eq!(cell.status(), Running);
        // The older running build finishing does not hide the newer one.
        let cell = ingest(&[
            build("r1", 2, Running),
            build("r2", 3, Running),
            build("r1", 2, Pass),
        ]);
        assert_eq!(cell.running.unwrap().id, "r2");
    }

    #[test]
    fn rewriting_a_finished_result_recomputes() {
        let cell = ingest(&[build("1", 1, Fail), build("1", 1, Pass)]);
        assert_eq!(cell.streak, None);
        assert_eq!(cell.status(), Pass);
    }

    /// Ties in start time are ordered by id, so half of them arrive "late":
    /// placing them must not read history, except a pass that lands inside
    /// a red streak (only history knows which failures follow it).
    #[test]
    fn late_arrivals_read_history_only_for_a_pass_inside_a_streak() {
        let mut cell = empty();
        for b in [
            build("b", 1, Pass),
            build("d", 3, Fail),
            build("f", 5, Fail),
        ] {
            let Step::Updated(next) = apply(&cell, None, &b) else {
                panic!("in order")
            };
            cell = *next;
        }
        let step = |b: BuildSummary| apply(&cell, None, &b);
        assert_eq!(
            step(build("a", 0, Fail)),
            Step::Unchanged,
            "before the pass"
        );
        assert_eq!(step(build("a", 0, Pass)), Step::Unchanged, "older pass");
        assert_eq!(step(build("c", 2, Error)), Step::Unchanged);
        let Step::Updated(joined) = step(build("c", 2, Fail)) else {
            panic!("a failure after the pass joins the streak")
        };
        let streak = joined.streak.unwrap();
        assert_eq!((streak.since.id.as_str(), streak.builds), ("c", 3));
        let Step::Updated(inside) = step(build("e", 4, Fail)) else {
            panic!("a failure inside the streak counts")
        };
        assert_eq!(inside.streak.unwrap().builds, 3);
        assert_eq!(step(build("e", 4, Pass)), Step::Recompute);
        // A cell stored before the newest pass was kept asks for history.
        let unknown = Cell {
            last_pass: None,
            ..cell.clone()
        };
        assert_eq!(apply(&unknown, None, &build("c", 2, Fail)), Step::Recompute);
    }

    /// Whatever the arrival order, the incremental path agrees with a
    /// recomputation from the full history.
    #[test]
    fn any_arrival_order_gives_the_same_cell() {
        let results = [
            Pass, Fail, Fail, Error, Fail, Pass, Fail, Cancelled, Fail, Running,
        ];
        let mut seed: u64 = 42;
        for round in 0..1000 {
            // Every other round, all builds share one start time: the ids
            // order them, and any arrival order is full of ties.
            let tied = round % 2 == 1;
            let mut builds: Vec<BuildSummary> = results
                .iter()
                .enumerate()
                .map(|(i, r)| build(&i.to_string(), if tied { 0 } else { i as i64 }, *r))
                .collect();
            // Fisher-Yates with a tiny LCG: deterministic, no extra crate.
            for i in (1..builds.len()).rev() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                builds.swap(i, (seed >> 33) as usize % (i + 1));
            }
            let incremental = ingest(&builds);
            assert_eq!(
                incremental,
                from_scratch(&builds),
                "order {:?}",
                builds.iter().map(|b| &b.id).collect::<Vec<_>>()
            );
            let streak = incremental.streak.unwrap();
            assert_eq!((streak.since.id.as_str(), streak.builds), ("6", 2));
            assert_eq!(incremental.running.unwrap().id, "9");
        }
    }

    #[test]
    fn test_counts_follow_the_latest_build() {
        let totals = TestTotals {
            passed: 9,
            failed: 1,
            errors: 1,
            skipped: 2,
            duration_s: 1.0,
            flaky: 0,
        };
        let cell = ingest(&[build("1", 1, BuildResult::Pass)]);
        assert_eq!(
            with_tests(&cell, "0", &totals),
            None,
            "not the latest build"
        );
        let counted = with_tests(&cell, "1", &totals).unwrap();
        let counts = counted.latest_tests.clone().unwrap();
        assert_eq!((counts.passed, counts.failed, counts.skipped), (9, 2, 2));
        let Step::Updated(next) = apply(&counted, None, &build("2", 2, BuildResult::Fail)) else {
            panic!("a newer failure updates the cell")
        };
        assert_eq!(next.latest_tests, None, "a new latest build has none yet");
        assert_eq!(
            carry_over(Some(&counted), counted.clone()).latest_tests,
            counted.latest_tests
        );
        assert_eq!(carry_over(Some(&counted), *next).latest_tests, None);
    }
}
