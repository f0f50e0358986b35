//! "How healthy was CI?": p017's health table for any window, from the
//! window's builds and incidents. Pure; charts are SVG drawn with plotters.

use std::collections::{BTreeMap, HashMap};

use app::model::{
    code_span, percent, span, streak_text, Build, BuildResult, CellKey, CellReport, HealthReport,
    Incident, IncidentState, ReportTest, TestStats, WeekReport,
};
use chrono::{DateTime, Duration, Utc};
use plotters::prelude::*;

use super::history::drawn;
use super::test_stats;

/// What a report is computed from.
pub struct Window<'a> {
    pub branch: &'a str,
    pub days: u32,
    pub now: DateTime<Utc>,
    /// The branch's builds started in the window, any order.
    pub builds: &'a [Build],
    /// False when the window held more builds than were read.
    pub complete: bool,
    /// The branch's incidents, at least those opened in the window.
    pub incidents: &'a [Incident],
    /// The release config's required cells of the branch; empty: every
    /// cell a commit built.
    pub required: &'a [CellKey],
    /// The branch's test records that ran in the window.
    pub tests: &'a [TestStats],
}

/// Tests listed as failing most.
const MOST_FAILING: usize = 10;

fn most_failing(tests: &[TestStats], since: DateTime<Utc>) -> Vec<ReportTest> {
    let mut out: Vec<ReportTest> = tests
        .iter()
        .filter_map(|s| {
            let (runs, failures, _) = test_stats::in_window(s, since);
            (failures > 0).then(|| ReportTest {
                cell: CellKey {
                    component: s.cell.component.clone(),
                    arch: s.cell.arch.clone(),
                    build_type: s.cell.build_type.clone(),
                },
                name: s.name.clone(),
                failures,
                runs,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| a.name.cmp(&b.name))
    });
    out.truncate(MOST_FAILING);
    out
}

impl Window<'_> {
    pub fn since(&self) -> DateTime<Utc> {
        self.now - Duration::days(i64::from(self.days))
    }
}

/// pass ÷ (pass + fail + error); cancelled and running builds say nothing.
fn success_rate<'a>(builds: impl IntoIterator<Item = &'a Build>) -> Option<f64> {
    let (mut pass, mut counted) = (0usize, 0usize);
    for b in builds {
        match b.result {
            BuildResult::Pass => {
                pass += 1;
                counted += 1;
            }
            BuildResult::Fail | BuildResult::Error => counted += 1,
            BuildResult::Cancelled | BuildResult::Running => {}
        }
    }
    (counted > 0).then(|| pass as f64 / counted as f64)
}

/// When a build's result became known.
fn done_at(build: &Build) -> DateTime<Utc> {
    build.finished_at.unwrap_or(build.started_at)
}

/// Builds of one cell, oldest first: the longest time it stayed red (from
/// a failing build's end to the next passing build's end, or `now`), and
/// its current streak (passes positive, failures negative).
fn breakage_and_streak(builds: &[&Build], now: DateTime<Utc>) -> (Option<i64>, i64) {
    let mut longest: Option<i64> = None;
    let mut red_since: Option<DateTime<Utc>> = None;
    let mut streak: i64 = 0;
    for b in builds {
        match b.result {
            BuildResult::Fail => {
                red_since.get_or_insert(done_at(b));
                streak = if streak < 0 { streak - 1 } else { -1 };
            }
            BuildResult::Pass => {
                if let Some(since) = red_since.take() {
                    let span = (done_at(b) - since).num_seconds().max(0);
                    longest = Some(longest.map_or(span, |l| l.max(span)));
                }
                streak = if streak > 0 { streak + 1 } else { 1 };
            }
            _ => {}
        }
    }
    if let Some(since) = red_since {
        let span = (now - since).num_seconds().max(0);
        longest = Some(longest.map_or(span, |l| l.max(span)));
    }
    (longest, streak)
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

/// Whether every required cell's last decisive result at this commit is a
/// pass (every cell it built, without a required matrix).
fn deployable(builds: &[&Build], required: &[CellKey]) -> bool {
    let mut last: HashMap<CellKey, &Build> = HashMap::new();
    for b in builds
        .iter()
        .filter(|b| matches!(b.result, BuildResult::Pass | BuildResult::Fail))
    {
        let entry = last.entry(b.key()).or_insert(b);
        if done_at(b) > done_at(entry) {
            *entry = b;
        }
    }
    if required.is_empty() {
        !last.is_empty() && last.values().all(|b| b.result == BuildResult::Pass)
    } else {
        required.iter().all(|cell| {
            last.get(cell)
                .is_some_and(|b| b.result == BuildResult::Pass)
        })
    }
}

pub fn report(window: &Window) -> HealthReport {
    let since = window.since();
    let in_window: Vec<&Build> = window
        .builds
        .iter()
        .filter(|b| b.cell.branch == window.branch && b.started_at >= since)
        .collect();

    let mut by_cell: BTreeMap<CellKey, Vec<&Build>> = BTreeMap::new();
    let mut by_commit: HashMap<&str, Vec<&Build>> = HashMap::new();
    for b in &in_window {
        by_cell.entry(b.key()).or_default().push(b);
        by_commit.entry(&b.commit).or_default().push(b);
    }
    let cells = by_cell
        .into_iter()
        .map(|(cell, mut builds)| {
            builds.sort_by_key(|b| (done_at(b), b.id.clone()));
            let (longest_breakage_s, current_streak) = breakage_and_streak(&builds, window.now);
            CellReport {
                cell: CellKey {
                    component: cell.component,
                    arch: cell.arch,
                    build_type: cell.build_type,
                },
                builds: builds.len(),
                success_rate: success_rate(builds.iter().copied()),
                longest_breakage_s,
                current_streak,
            }
        })
        .collect();

    let opened: Vec<&Incident> = window
        .incidents
        .iter()
        .filter(|i| i.branch == window.branch && i.opened_at >= since)
        .collect();
    let resolve_times = opened
        .iter()
        .filter(|i| i.state == IncidentState::Resolved)
        .filter_map(|i| i.resolved_at.map(|r| (r - i.opened_at).num_seconds()))
        .collect();

    // Weeks end now: the last one is the last seven days, the first may be
    // shorter.
    let weeks_count = (window.days as usize).div_ceil(7).max(1);
    let week = |at: DateTime<Utc>| {
        let back = ((window.now - at).num_days().max(0) / 7) as usize;
        weeks_count - 1 - back.min(weeks_count - 1)
    };
    let mut weeks: Vec<(Vec<&Build>, usize)> = vec![(Vec::new(), 0); weeks_count];
    for b in &in_window {
        weeks[week(b.started_at)].0.push(b);
    }
    for i in &opened {
        weeks[week(i.opened_at)].1 += 1;
    }
    let weeks = weeks
        .into_iter()
        .enumerate()
        .map(|(n, (builds, incidents))| WeekReport {
            start: (window.now - Duration::days(7 * (weeks_count - n) as i64)).max(since),
            builds: builds.len(),
            success_rate: success_rate(builds),
            incidents_opened: incidents,
        })
        .collect();

    let mut report = HealthReport {
        branch: window.branch.to_string(),
        days: window.days,
        since,
        generated_at: window.now,
        complete: window.complete,
        commits: by_commit.len(),
        deployable_commits: by_commit
            .values()
            .filter(|builds| deployable(builds, window.required))
            .count(),
        required: window.required.to_vec(),
        incidents_opened: opened.len(),
        median_resolve_s: median(resolve_times),
        cells,
        weeks,
        failing_tests: most_failing(window.tests, since),
        markdown: String::new(),
    };
    report.markdown = markdown(&report);
    report
}

fn markdown(report: &HealthReport) -> String {
    let mut out = format!(
        "## CI health of {}, last {} days\n\n",
        code_span(&report.branch),
        report.days
    );
    let share =
        (report.commits > 0).then(|| report.deployable_commits as f64 / report.commits as f64);
    out.push_str(&format!(
        "- Commits: {}, deployable: {} ({})\n- Incidents opened: {}, median time to resolve: {}\n",
        report.commits,
        report.deployable_commits,
        percent(share),
        report.incidents_opened,
        report.median_resolve_s.map_or("–".into(), span)
    ));
    if !report.complete {
        out.push_str("- Only the newest builds of the window were read: it holds more.\n");
    }
    out.push_str(
        "\n| Cell | Builds | Success rate | Longest breakage | Current streak |\n\
         | --- | ---: | ---: | ---: | --- |\n",
    );
    for c in &report.cells {
        out.push_str(&format!(
            "| {} {} {} | {} | {} | {} | {} |\n",
            c.cell.component,
            c.cell.build_type,
            c.cell.arch,
            c.builds,
            percent(c.success_rate),
            c.longest_breakage_s.map_or("–".into(), span),
            streak_text(c.current_streak)
        ));
    }
    if !report.failing_tests.is_empty() {
        out.push_str("\n### Most failing tests\n\n| Test | Cell | Failures | Runs |\n| --- | --- | ---: | ---: |\n");
        for t in &report.failing_tests {
            out.push_str(&format!(
                "| {} | {} {} {} | {} | {} |\n",
                code_span(&t.name.replace('|', "\\|")),
                t.cell.component,
                t.cell.build_type,
                t.cell.arch,
                t.failures,
                t.runs
            ));
        }
    }
    out
}

/// The branch's success rate per week, in percent.
pub fn success_chart(report: &HealthReport) -> String {
    let points: Vec<(i32, f64)> = report
        .weeks
        .iter()
        .enumerate()
        .filter_map(|(n, w)| w.success_rate.map(|r| (n as i32, r * 100.0)))
        .collect();
    let weeks = report.weeks.clone();
    drawn(|root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(root)
            .caption("Success rate per week (%)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(0..(weeks.len() as i32 - 1).max(1), 0f64..100f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(weeks.len().min(8))
            .y_labels(5)
            .x_label_formatter(&|n| {
                weeks
                    .get(*n as usize)
                    .map(|w| w.start.format("%b %d").to_string())
                    .unwrap_or_default()
            })
            .draw()
            .map_err(|e| e.to_string())?;
        let line = RGBColor(0x11, 0x63, 0x29);
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                line.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, line.filled())),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Incidents opened per week.
pub fn incidents_chart(report: &HealthReport) -> String {
    let weeks = report.weeks.clone();
    let top = weeks
        .iter()
        .map(|w| w.incidents_opened)
        .max()
        .unwrap_or(0)
        .max(1) as u32;
    drawn(|root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(root)
            .caption("Incidents opened per week", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d((0..weeks.len() as u32).into_segmented(), 0u32..top + 1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(weeks.len().min(8))
            .y_labels((top + 1).min(6) as usize)
            .x_label_formatter(&|n| match n {
                SegmentValue::CenterOf(n) | SegmentValue::Exact(n) => weeks
                    .get(*n as usize)
                    .map(|w| w.start.format("%b %d").to_string())
                    .unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(RGBColor(0xb4, 0x23, 0x18).filled())
                    .margin(8)
                    .data(
                        weeks
                            .iter()
                            .enumerate()
                            .map(|(n, w)| (n as u32, w.incidents_opened as u32)),
                    ),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::Suspect;
    use chrono::TimeZone;
    use BuildResult::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
    }

    fn row(commit: &str, arch: &str, hours_ago: i64, result: BuildResult) -> Build {
        let started = now() - Duration::hours(hours_ago);
        Build {
            id: format!("{commit}-{arch}-{hours_ago}"),
            repository: "magma/magma".into(),
            commit: commit.into(),
            parent: None,
            cell: app::model::CellId {
                branch: "master".into(),
                component: "agw".into(),
                arch: arch.into(),
                build_type: "bazel".into(),
            },
            pr: None,
            result,
            started_at: started,
            finished_at: Some(started + Duration::minutes(30)),
            url: None,
            runner: None,
            version: None,
            commit_title: None,
            author: None,
            posted_by: None,
        }
    }

    fn cell(arch: &str) -> CellKey {
        CellKey {
            component: "agw".into(),
            arch: arch.into(),
            build_type: "bazel".into(),
        }
    }

    fn incident(days_ago: i64, resolved_after_h: Option<i64>) -> Incident {
        let opened = now() - Duration::days(days_ago);
        Incident {
            id: format!("{days_ago:0>16}"),
            branch: "master".into(),
            state: if resolved_after_h.is_some() {
                IncidentState::Resolved
            } else {
                IncidentState::Open
            },
            opened_at: opened,
            resolved_at: resolved_after_h.map(|h| opened + Duration::hours(h)),
            cells: vec![cell("arm64")],
            red: vec![],
            first_bad_commit: "c".into(),
            last_good_commit: None,
            suspects: Vec::<Suspect>::new(),
            suspects_complete: false,
            compare_url: None,
            tests: Vec::new(),
            red_tests: Vec::new(),
            triage: Default::default(),
        }
    }

    fn sample() -> Vec<Build> {
        vec![
            row("a", "amd64", 100, Pass),
            row("a", "arm64", 100, Pass),
            row("b", "amd64", 90, Pass),
            row("b", "arm64", 90, Fail),
            row("c", "arm64", 80, Error),
            row("c", "amd64", 80, Cancelled),
            row("d", "arm64", 70, Fail),
            row("e", "arm64", 60, Pass),
            row("e", "amd64", 60, Pass),
            row("f", "arm64", 5, Fail),
            row("old", "arm64", 24 * 40, Fail),
        ]
    }

    fn window<'a>(
        builds: &'a [Build],
        incidents: &'a [Incident],
        required: &'a [CellKey],
    ) -> Window<'a> {
        Window {
            branch: "master",
            days: 30,
            now: now(),
            builds,
            complete: true,
            incidents,
            required,
            tests: &[],
        }
    }

    #[test]
    fn cells_count_success_breakage_and_streak() {
        let builds = sample();
        let report = report(&window(&builds, &[], &[]));
        let arm = report
            .cells
            .iter()
            .find(|c| c.cell.arch == "arm64")
            .unwrap();
        assert_eq!(arm.builds, 6, "the 40-day-old build is outside the window");
        // pass, fail, error, fail, pass, fail: 2 / 6 (cancelled excluded).
        assert_eq!(arm.success_rate, Some(2.0 / 6.0));
        // Red from b's end (90 h ago + 30 min) to e's end (60 h ago + 30 min),
        // then since f's end: 30 h against 4.5 h.
        assert_eq!(arm.longest_breakage_s, Some(30 * 3600));
        assert_eq!(arm.current_streak, -1);
        let amd = report
            .cells
            .iter()
            .find(|c| c.cell.arch == "amd64")
            .unwrap();
        assert_eq!(
            (amd.success_rate, amd.current_streak, amd.longest_breakage_s),
            (Some(1.0), 3, None)
        );
    }

    #[test]
    fn deployable_commits_follow_the_required_matrix() {
        let builds = sample();
        let everything = report(&window(&builds, &[], &[]));
        // a and e passed everything they built; b failed arm64; c had no
        // pass or fail; d and f failed.
        assert_eq!((everything.commits, everything.deployable_commits), (6, 2));
        let amd_only = [cell("amd64")];
        let required = report(&window(&builds, &[], &amd_only));
        assert_eq!(required.deployable_commits, 3, "a, b and e passed amd64");
    }

    #[test]
    fn incidents_opened_and_median_resolve_time() {
        let incidents = [
            incident(1, None),
            incident(3, Some(2)),
            incident(10, Some(6)),
            incident(12, Some(4)),
            incident(45, Some(1)),
        ];
        let builds = sample();
        let report = report(&window(&builds, &incidents, &[]));
        assert_eq!(report.incidents_opened, 4);
        assert_eq!(report.median_resolve_s, Some(4 * 3600));
        assert_eq!(report.weeks.len(), 5);
        assert_eq!(
            report
                .weeks
                .iter()
                .map(|w| w.incidents_opened)
                .sum::<usize>(),
            4
        );
        assert_eq!(report.weeks[4].incidents_opened, 2, "the last two days");
    }

    #[test]
    fn markdown_and_charts() {
        let builds = sample();
        let incidents = [incident(3, Some(2))];
        let report = report(&window(&builds, &incidents, &[]));
        assert!(report
            .markdown
            .contains("## CI health of `master`, last 30 days"));
        assert!(
            report
                .markdown
                .contains("| agw bazel arm64 | 6 | 33.3% | 1d 6h | 1 failing |"),
            "{}",
            report.markdown
        );
        assert!(report.markdown.contains("deployable: 2 (33.3%)"));
        // A branch may hold a backtick: it cannot end the code span.
        let odd = super::report(&Window {
            branch: "v1.8`) **x**",
            ..window(&builds, &incidents, &[])
        });
        assert!(
            odd.markdown
                .contains("## CI health of ``v1.8`) **x**``, last 30 days"),
            "{}",
            odd.markdown
        );
        assert!(success_chart(&report).starts_with("<svg"));
        assert!(incidents_chart(&report).contains("<rect"));
    }

    #[test]
    fn the_tests_that_failed_most_in_the_window() {
        use app::model::{CellId, TestRun, TestStatus};
        let cell = CellId::new("master", "lte", "arm64", "integ");
        let mut records = Vec::new();
        for (name, failing) in [("t_often", 3), ("t_once", 1), ("t_never", 0)] {
            let mut stats = None;
            for n in 0..4 {
                let run = TestRun {
                    build: format!("b{n}"),
                    commit: format!("c{n}"),
                    status: if n < failing {
                        TestStatus::Failed
                    } else {
                        TestStatus::Passed
                    },
                    at: now() - Duration::days(2) + Duration::hours(n as i64),
                };
                stats = test_stats::record(stats, &cell, name, &run, None);
            }
            records.push(stats.unwrap());
        }
        let builds = sample();
        let report = report(&Window {
            tests: &records,
            ..window(&builds, &[], &[])
        });
        let listed: Vec<(&str, u32, u32)> = report
            .failing_tests
            .iter()
            .map(|t| (t.name.as_str(), t.failures, t.runs))
            .collect();
        assert_eq!(listed, [("t_often", 3, 4), ("t_once", 1, 4)]);
        assert!(report.markdown.contains("### Most failing tests"));
        assert!(
            report
                .markdown
                .contains("| `t_often` | lte integ arm64 | 3 | 4 |"),
            "{}",
            report.markdown
        );
    }
}
