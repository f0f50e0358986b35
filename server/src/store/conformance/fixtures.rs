//! What the suite's tests are made of: builds in a few known cells.

use app::model::{Build, BuildResult};
use chrono::{TimeDelta, TimeZone, Utc};

use crate::store::CellId;

pub fn build(id: &str, cell: (&str, &str, &str), minute: i64, result: BuildResult) -> Build {
    let started_at =
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minute);
    Build {
        id: id.to_string(),
        repository: "magma/magma".into(),
        commit: format!("{minute:0>40}"),
        parent: None,
        cell: CellId {
            branch: "master".into(),
            component: cell.0.into(),
            arch: cell.1.into(),
            build_type: cell.2.into(),
        },
        pr: Some(7),
        result,
        started_at,
        finished_at: result
            .is_finished()
            .then(|| started_at + TimeDelta::microseconds(61_000_123)),
        url: Some("https://ci.example/run/1".into()),
        runner: Some("graviton <arm>".into()),
        version: Some("1.8.1".into()),
        commit_title: Some("Fix Vec<u8> parsing".into()),
        author: Some("dev".into()),
        posted_by: None,
    }
}

pub(super) const AGW_ARM: (&str, &str, &str) = ("agw", "arm64", "bazel");
pub(super) const AGW_AMD: (&str, &str, &str) = ("agw", "amd64", "bazel");

pub(super) fn cell_id(cell: (&str, &str, &str)) -> CellId {
    CellId {
        branch: "master".into(),
        component: cell.0.into(),
        arch: cell.1.into(),
        build_type: cell.2.into(),
    }
}
