//! "How has this build behaved?": statistics, flakiness and charts over a
//! window of a cell's builds. Pure; charts are SVG drawn with plotters.

use std::collections::BTreeMap;

use app::model::{Build, BuildResult, CellStats};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use plotters::prelude::*;

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

pub fn stats(builds: &[Build], days: u32) -> CellStats {
    let count = |r: BuildResult| builds.iter().filter(|b| b.result == r).count();
    let (passes, failures) = (count(BuildResult::Pass), count(BuildResult::Fail));
    let mut by_commit: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for b in builds {
        let seen = by_commit.entry(&b.commit).or_default();
        match b.result {
            BuildResult::Pass => seen.0 = true,
            BuildResult::Fail => seen.1 = true,
            _ => {}
        }
    }
    let tested = by_commit.values().filter(|(p, f)| *p || *f).count();
    let flaky_commits: Vec<String> = by_commit
        .iter()
        .filter(|(_, (p, f))| *p && *f)
        .map(|(c, _)| c.to_string())
        .collect();
    let mut durations: Vec<f64> = builds.iter().filter_map(Build::duration_minutes).collect();
    durations.sort_by(f64::total_cmp);
    CellStats {
        days,
        builds: builds.len(),
        passes,
        failures,
        errors: count(BuildResult::Error),
        cancelled: count(BuildResult::Cancelled),
        pass_rate: ratio(passes, passes + failures),
        flaky_rate: ratio(flaky_commits.len(), tested),
        flaky_commits,
        tested_commits: tested,
        median_minutes: durations.get(durations.len() / 2).copied(),
    }
}

/// Pass rate of each day of the window that had a pass or a fail.
pub fn daily_pass_rate(builds: &[Build]) -> Vec<(NaiveDate, f64)> {
    let mut days: BTreeMap<NaiveDate, (usize, usize)> = BTreeMap::new();
    for b in builds {
        let day = days.entry(b.started_at.date_naive()).or_default();
        match b.result {
            BuildResult::Pass => day.0 += 1,
            BuildResult::Fail => day.1 += 1,
            _ => {}
        }
    }
    days.into_iter()
        .filter_map(|(day, (p, f))| ratio(p, p + f).map(|r| (day, r * 100.0)))
        .collect()
}

const WIDTH: u32 = 720;
const HEIGHT: u32 = 240;

fn colour(result: BuildResult) -> RGBColor {
    match result {
        BuildResult::Pass => RGBColor(0x1a, 0x7f, 0x37),
        BuildResult::Fail => RGBColor(0xb4, 0x23, 0x18),
        BuildResult::Error => RGBColor(0x8a, 0x5a, 0x00),
        BuildResult::Running => RGBColor(0x0b, 0x5c, 0xad),
        BuildResult::Cancelled => RGBColor(0x57, 0x60, 0x6a),
    }
}

/// An SVG chart of the dashboard's size; empty (and logged) if plotters
/// fails.
pub(crate) fn drawn(
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root).and_then(|_| root.present().map_err(|e| e.to_string()))
    };
    match result {
        Ok(()) => svg,
        Err(e) => {
            tracing::warn!(error = %e, "chart could not be drawn");
            String::new()
        }
    }
}

/// Percentage of passing builds per day over the window.
pub fn pass_rate_chart(builds: &[Build], days: u32, now: DateTime<Utc>) -> String {
    let points = daily_pass_rate(builds);
    let end = now.date_naive();
    let start = end - Duration::days(i64::from(days));
    drawn(|root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(root)
            .caption("Pass rate per day (%)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(start..end, 0f64..100f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&|d| d.format("%b %d").to_string())
            .draw()
            .map_err(|e| e.to_string())?;
        let line = colour(BuildResult::Pass);
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                line.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(points.iter().map(|&(d, r)| {
                let c = if r < 100.0 {
                    colour(BuildResult::Fail)
                } else {
                    line
                };
                Circle::new((d, r), 3, c.filled())
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Duration of each finished build, oldest to newest, coloured by result.
pub fn duration_chart(builds: &[Build]) -> String {
    let mut points: Vec<(DateTime<Utc>, f64, BuildResult)> = builds
        .iter()
        .filter_map(|b| b.duration_minutes().map(|m| (b.started_at, m, b.result)))
        .collect();
    points.sort_by_key(|p| p.0);
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return String::new();
    };
    let (x0, x1) = (first.0, last.0.max(first.0 + Duration::hours(1)));
    let top = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    drawn(|root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(root)
            .caption("Duration per build (minutes)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(x0..x1, 0f64..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&|d| d.format("%b %d").to_string())
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                RGBColor(0x9a, 0xa4, 0xae).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.1), 3, colour(p.2).filled())),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use BuildResult::*;

    fn row(commit: &str, hour: i64, result: BuildResult, minutes: i64) -> Build {
        let started = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hour);
        Build {
            id: format!("{commit}-{hour}"),
            repository: "magma/magma".into(),
            commit: commit.into(),
            parent: None,
            cell: app::model::CellId {
                branch: "master".into(),
                component: "agw".into(),
                arch: "arm64".into(),
                build_type: "bazel".into(),
            },
            pr: None,
            result,
            started_at: started,
            finished_at: Some(started + TimeDelta::minutes(minutes)),
            url: None,
            runner: None,
            version: None,
            commit_title: None,
            author: None,
            posted_by: None,
        }
    }

    fn sample() -> Vec<Build> {
        vec![
            row("a", 0, Pass, 10),
            row("b", 1, Fail, 12),
            row("b", 2, Pass, 11), // rerun of b passed: flaky
            row("c", 30, Error, 1),
            row("d", 31, Fail, 20),
            row("e", 32, Cancelled, 2),
        ]
    }

    #[test]
    fn flakiness_and_infra_errors_are_separate() {
        let s = stats(&sample(), 30);
        assert_eq!(
            (s.builds, s.passes, s.failures, s.errors, s.cancelled),
            (6, 2, 2, 1, 1)
        );
        assert_eq!(s.pass_rate, Some(0.5));
        assert_eq!(s.flaky_commits, ["b"]);
        assert_eq!(s.tested_commits, 3);
        assert_eq!(s.flaky_rate, Some(1.0 / 3.0));
        assert_eq!(s.median_minutes, Some(11.0));
        assert_eq!(stats(&[], 30).pass_rate, None);
    }

    #[test]
    fn pass_rate_per_day() {
        let days = daily_pass_rate(&sample());
        assert_eq!(days.len(), 2);
        assert!((days[0].1 - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(days[1].1, 0.0);
    }

    #[test]
    fn charts_are_svg() {
        let now = Utc.with_ymd_and_hms(2026, 11, 3, 0, 0, 0).unwrap();
        let chart = pass_rate_chart(&sample(), 30, now);
        assert!(chart.starts_with("<svg"), "{chart}");
        assert!(chart.contains("Pass rate per day"));
        assert!(duration_chart(&sample()).contains("<circle"));
        assert_eq!(duration_chart(&[]), "");
    }
}
