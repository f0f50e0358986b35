//! Cells that stopped reporting: a lab runner that went quiet leaves its
//! last result on every page, green or red, as if it were current. A cell
//! is stale once it has been silent for longer than configured for it
//! (`--stale-config`), or else than a multiple of its usual gap between
//! builds, learned at ingestion from the gaps before its newest builds.
//! Pure: pages judge a cell from what it keeps, never from history.

use std::time::Duration;

use app::model::{Cadence, Cell, CellId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use wildmatch::WildMatch;

/// Gaps a cell keeps: enough for a median that reruns and one-off pauses
/// do not move.
pub const KEPT_GAPS: usize = 9;
/// Gaps needed before a cell's own rhythm is trusted.
const MIN_GAPS: usize = 3;
/// Silent for this many usual gaps: stale.
const USUAL_GAPS: u32 = 3;
/// Never stale sooner, however often a cell builds: a quiet hour is no
/// outage.
const MIN_SILENCE: TimeDelta = TimeDelta::hours(1);

/// The cadence after a build that started at `start`; `None` when it says
/// nothing new (a build no newer than the newest one known).
pub fn observe(cadence: Option<&Cadence>, start: DateTime<Utc>) -> Option<Cadence> {
    let Some(known) = cadence else {
        return Some(Cadence {
            last_start: start,
            gaps_s: Vec::new(),
        });
    };
    if start <= known.last_start {
        return None;
    }
    let gap = (start - known.last_start).num_seconds();
    let mut gaps_s = known.gaps_s.clone();
    gaps_s.push(u32::try_from(gap).unwrap_or(u32::MAX));
    if gaps_s.len() > KEPT_GAPS {
        gaps_s.drain(..gaps_s.len() - KEPT_GAPS);
    }
    Some(Cadence {
        last_start: start,
        gaps_s,
    })
}

/// The median gap between a cell's builds, once it has enough of them.
pub fn usual_gap(cadence: &Cadence) -> Option<TimeDelta> {
    if cadence.gaps_s.len() < MIN_GAPS {
        return None;
    }
    let mut gaps = cadence.gaps_s.clone();
    gaps.sort_unstable();
    Some(TimeDelta::seconds(i64::from(gaps[gaps.len() / 2])))
}

/// `--stale-config`: silences after which a cell is stale, the first rule
/// matching a cell deciding.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaleConfig {
    #[serde(default)]
    stale: Vec<StaleRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaleRule {
    build_type: String,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    arch: Option<String>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(with = "humantime_serde")]
    after: Duration,
}

impl StaleRule {
    fn matches(&self, cell: &CellId) -> bool {
        let glob = |pattern: &Option<String>, value: &str| {
            pattern
                .as_ref()
                .is_none_or(|p| WildMatch::new(p).matches(value))
        };
        WildMatch::new(&self.build_type).matches(&cell.build_type)
            && glob(&self.component, &cell.component)
            && glob(&self.arch, &cell.arch)
            && glob(&self.branch, &cell.branch)
    }
}

impl StaleConfig {
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: StaleConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(rule) = config.stale.iter().find(|r| r.after.is_zero()) {
            return Err(format!(
                "stale rule for build_type {:?}: after must be more than 0",
                rule.build_type
            ));
        }
        Ok(config)
    }

    /// How long `cell` may stay silent: as configured for it, else
    /// [`USUAL_GAPS`] of its usual gap (at least [`MIN_SILENCE`]); `None`
    /// when neither is known.
    pub fn allowed_silence(&self, cell: &CellId, cadence: Option<&Cadence>) -> Option<TimeDelta> {
        if let Some(rule) = self.stale.iter().find(|r| r.matches(cell)) {
            return TimeDelta::from_std(rule.after).ok();
        }
        let usual = usual_gap(cadence?)?;
        Some((usual * USUAL_GAPS as i32).max(MIN_SILENCE))
    }

    /// Since when `cell` is stale at `now`, if it is: the end of its
    /// allowed silence after its newest build started.
    pub fn stale_since(&self, cell: &Cell, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cadence = cell.cadence.as_ref()?;
        let since = cadence.last_start + self.allowed_silence(&cell.cell, Some(cadence))?;
        (since <= now).then_some(since)
    }

    /// The cell as pages show it at `now`: stale or not.
    pub fn judge(&self, mut cell: Cell, now: DateTime<Utc>) -> Cell {
        cell.stale_since = self.stale_since(&cell, now);
        cell.stale = cell.stale_since.is_some();
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hours)
    }

    fn cell(build_type: &str, starts: &[i64]) -> Cell {
        let mut cell = CellId::new("master", "lte", "amd64", build_type).empty_cell();
        for &s in starts {
            if let Some(next) = observe(cell.cadence.as_ref(), t(s)) {
                cell.cadence = Some(next);
            }
        }
        cell
    }

    #[test]
    fn learns_the_usual_gap_from_the_median() {
        // Every 3 hours, with a rerun 0 hours apart and one long pause.
        let c = cell("integ", &[0, 3, 6, 6, 9, 30, 33, 36]).cadence.unwrap();
        assert_eq!(usual_gap(&c), Some(TimeDelta::hours(3)));
        // An older build arriving late is no news.
        assert_eq!(observe(Some(&c), t(1)), None);
        assert!(usual_gap(&cell("integ", &[0, 3, 6]).cadence.unwrap()).is_none());
    }

    #[test]
    fn keeps_the_latest_gaps_only() {
        let starts: Vec<i64> = (0..30).collect();
        assert_eq!(
            cell("integ", &starts).cadence.unwrap().gaps_s.len(),
            KEPT_GAPS
        );
    }

    #[test]
    fn stale_after_three_usual_gaps_unless_configured() {
        let config = StaleConfig::default();
        let quiet = cell("integ", &[0, 3, 6, 9]);
        assert_eq!(config.stale_since(&quiet, t(17)), None);
        assert_eq!(config.stale_since(&quiet, t(18)), Some(t(18)));
        // Too little history: never judged stale by its rhythm.
        assert_eq!(config.stale_since(&cell("integ", &[0, 3]), t(100)), None);
        // Builds every minute: stale only after an hour.
        let mut busy = CellId::new("master", "agw", "amd64", "unit").empty_cell();
        for m in 0..5 {
            busy.cadence = observe(busy.cadence.as_ref(), t(0) + TimeDelta::minutes(m));
        }
        let since = config.stale_since(&busy, t(2)).unwrap();
        assert_eq!(since, t(0) + TimeDelta::minutes(4) + MIN_SILENCE);
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let config = StaleConfig::parse(
            r#"
            [[stale]]
            build_type = "lte-integ-test"
            arch = "arm64"
            after = "2d"
            [[stale]]
            build_type = "*integ*"
            branch = "master"
            after = "12h"
            "#,
        )
        .unwrap();
        let integ = cell("lte-integ-test", &[0]);
        assert_eq!(config.stale_since(&integ, t(11)), None);
        assert_eq!(config.stale_since(&integ, t(13)), Some(t(12)));
        let mut arm = integ.clone();
        arm.cell.arch = "arm64".into();
        assert_eq!(config.stale_since(&arm, t(47)), None);
        assert!(config.judge(arm, t(49)).stale);
    }

    #[test]
    fn bad_files_say_why() {
        assert!(
            StaleConfig::parse("[[stale]]\nbuild_type = \"x\"\nafter = \"soon\"")
                .unwrap_err()
                .contains("after")
        );
        assert!(
            StaleConfig::parse("[[stale]]\nbuild_type = \"x\"\nafter = \"0s\"")
                .unwrap_err()
                .contains("more than 0")
        );
        assert!(StaleConfig::parse("[[stale]]\nbuild_typ = \"x\"\nafter = \"1h\"").is_err());
    }
}
