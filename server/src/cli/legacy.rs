//! Migration from the old magma-ci Firebase Realtime Database. Its export
//! (`firebase database:get /`) holds `builds/<sha>` with a `metadata`
//! object and one `{packages, valid}` object per component, and
//! `workers/<worker>/reports/<sha>` with an integration test verdict. Each
//! becomes a build record with a deterministic id, so importing twice
//! changes nothing; malformed entries are reported and skipped.

use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Map, Value};

use app::model::Build;

use crate::domain::validation::{self, Context};
use crate::service::{Service, ServiceError};
use crate::store::{Poster, StoreError};

/// One export entry turned into a build, or why it was skipped.
#[derive(Debug)]
pub enum Entry {
    Build(Box<Build>),
    Skipped { path: String, reason: String },
}

/// Everything the export holds, in a stable order.
pub fn entries(export: &Value, ctx: &Context) -> Vec<Entry> {
    let mut out = Vec::new();
    let builds = export.get("builds").and_then(Value::as_object);
    if let Some(builds) = builds {
        for (sha, record) in builds {
            if sha.len() < 7 {
                out.push(skipped(format!("builds/{sha}"), "is not a commit SHA"));
                continue;
            }
            from_build_record(sha, record, ctx, &mut out);
        }
    }
    if let Some(workers) = export.get("workers").and_then(Value::as_object) {
        for (worker, data) in workers {
            let reports = data.get("reports").and_then(Value::as_object);
            let Some(reports) = reports else {
                out.push(skipped(
                    format!("workers/{worker}"),
                    "has no 'reports' object",
                ));
                continue;
            };
            for (sha, report) in reports {
                let branch = builds
                    .and_then(|b| b.get(sha))
                    .and_then(|r| r.get("metadata"))
                    .and_then(|m| m.get("github:ref"))
                    .and_then(Value::as_str);
                out.push(from_report(worker, sha, report, branch, ctx));
            }
        }
    }
    out
}

fn skipped(path: String, reason: impl Into<String>) -> Entry {
    Entry::Skipped {
        path,
        reason: reason.into(),
    }
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub imported: usize,
    pub unchanged: usize,
    /// Path in the export and why it was not imported.
    pub skipped: Vec<(String, String)>,
}

/// Stores the builds of `entries` through the ingestion every post takes
/// (incidents included), `BATCH` at a time; an entry the store refuses (an
/// id already used by another build) is skipped, not fatal.
pub async fn import(
    service: &Service,
    entries: Vec<Entry>,
    mut progress: impl FnMut(usize),
) -> Result<Summary, ServiceError> {
    const BATCH: usize = 500;
    let mut summary = Summary::default();
    let mut pending = Vec::new();
    for entry in entries {
        match entry {
            Entry::Skipped { path, reason } => summary.skipped.push((path, reason)),
            Entry::Build(build) => pending.push(*build),
        }
    }
    for chunk in pending.chunks(BATCH) {
        // Read first only to count what is already there: the ingestion
        // itself takes an identical build again as a replay.
        let mut fresh = Vec::new();
        for build in chunk {
            match service.store.build(&build.id).await? {
                Some(stored) if stored == *build => summary.unchanged += 1,
                _ => fresh.push(build.clone()),
            }
        }
        match service.ingest(fresh.clone(), &Poster::Operator).await {
            Ok(_) => summary.imported += fresh.len(),
            Err(ServiceError::Store(StoreError::Conflict { .. })) => {
                for build in fresh {
                    let id = build.id.clone();
                    match service.ingest(vec![build], &Poster::Operator).await {
                        Ok(_) => summary.imported += 1,
                        Err(ServiceError::Store(StoreError::Conflict { message, .. })) => {
                            summary.skipped.push((id, message))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        progress(chunk.len());
    }
    Ok(summary)
}

/// `arm_agw` and `agw_arm64` are the arm64 builds of `agw`.
fn component_and_arch(key: &str) -> (String, &'static str) {
    let lower = key.to_ascii_lowercase();
    for prefix in ["arm64_", "arm_", "aarch64_"] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            return (rest.to_string(), "arm64");
        }
    }
    for suffix in ["_arm64", "_arm", "_aarch64"] {
        if let Some(rest) = lower.strip_suffix(suffix) {
            return (rest.to_string(), "arm64");
        }
    }
    (lower, "amd64")
}

fn rfc3339(seconds: &Value) -> Option<String> {
    let secs = seconds
        .as_i64()
        .or_else(|| seconds.as_f64().map(|f| f as i64))
        .or_else(|| seconds.as_str()?.parse().ok())?;
    // Some writers stored milliseconds.
    let secs = if secs > 100_000_000_000 {
        secs / 1000
    } else {
        secs
    };
    DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Validates through the same parser as the API, so imported records obey
/// every rule a posted build does.
fn validated(path: String, body: Value, ctx: &Context) -> Entry {
    // Every imported body carries its own deterministic id.
    let no_new_id = || unreachable!("imported builds carry their id");
    match validation::parse_value(body, ctx, no_new_id) {
        Ok(mut builds) => Entry::Build(Box::new(builds.remove(0))),
        Err(e) => skipped(
            path,
            format!(
                "{} (field: {})",
                e.message,
                e.field.as_deref().unwrap_or("body")
            ),
        ),
    }
}

fn from_build_record(sha: &str, record: &Value, ctx: &Context, out: &mut Vec<Entry>) {
    let path = format!("builds/{sha}");
    let Some(record) = record.as_object() else {
        out.push(skipped(path, "is not an object"));
        return;
    };
    let empty = Map::new();
    let metadata = record
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let commit = metadata
        .get("github:sha")
        .and_then(Value::as_str)
        .unwrap_or(sha);
    let Some(time) = metadata.get("timestamp").and_then(rfc3339) else {
        out.push(skipped(
            path,
            "metadata.timestamp is missing or not unix seconds",
        ));
        return;
    };
    let branch = metadata
        .get("github:ref")
        .and_then(Value::as_str)
        .unwrap_or("master");
    let url = match (
        metadata.get("github:repository").and_then(Value::as_str),
        metadata.get("github:run_id"),
    ) {
        (repo, Some(run)) => {
            let run = run
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| run.to_string());
            Some(format!(
                "https://github.com/{}/actions/runs/{run}",
                repo.unwrap_or(ctx.default_repository)
            ))
        }
        _ => None,
    };
    for (key, value) in record {
        if key == "metadata" {
            continue;
        }
        let path = format!("builds/{sha}/{key}");
        let Some(valid) = value.get("valid") else {
            out.push(skipped(path, "has no 'valid' field"));
            continue;
        };
        let Some(valid) = valid.as_bool() else {
            out.push(skipped(
                path,
                format!("'valid' is {valid}, not true or false"),
            ));
            continue;
        };
        let (component, arch) = component_and_arch(key);
        let mut body = json!({
            "id": format!("legacy:{}:{key}", short(commit)),
            "commit": commit,
            "branch": branch,
            "component": component,
            "arch": arch,
            "build_type": "build",
            "result": if valid { "pass" } else { "fail" },
            "started_at": time,
            "finished_at": time,
        });
        if let Some(url) = &url {
            body["url"] = json!(url);
        }
        if let Some(actor) = metadata.get("github:actor").and_then(Value::as_str) {
            body["author"] = json!(actor);
        }
        if let Some(workflow) = metadata.get("github:workflow").and_then(Value::as_str) {
            body["runner"] = json!(format!("workflow {workflow}"));
        }
        out.push(validated(path, body, ctx));
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The target of the small HTML redirect the old workers uploaded, in the
/// forms they wrote: `<meta ... content="0; url=URL">` (any case, spaces
/// around `=` allowed) and `<script>window.location.href = "URL";</script>`.
/// Only http(s) targets count.
fn redirect_target(report: &str) -> Option<String> {
    let lower = report.to_ascii_lowercase();
    ["url", "location.href", "window.location"]
        .iter()
        .flat_map(|marker| lower.match_indices(marker).map(|(at, m)| at + m.len()))
        .find_map(|after| {
            let rest = report[after..].trim_start();
            let rest = rest.strip_prefix('=')?.trim_start();
            let rest = rest.trim_start_matches(['\'', '"']);
            let end = rest
                .find(|c: char| matches!(c, '"' | '\'' | '>' | ';') || c.is_whitespace())
                .unwrap_or(rest.len());
            url::Url::parse(&rest[..end])
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|u| u.to_string())
        })
}

/// `lte_integ_test` is the agw's LTE integration test; others keep their
/// prefix as the component.
fn integration_component(worker: &str) -> String {
    let prefix = worker.split(['_', '-']).next().unwrap_or(worker);
    match prefix {
        "lte" | "agw" => "agw".into(),
        "cwf" | "cwag" => "cwag".into(),
        "feg" => "feg".into(),
        other => other.to_ascii_lowercase(),
    }
}

fn from_report(
    worker: &str,
    sha: &str,
    report: &Value,
    branch: Option<&str>,
    ctx: &Context,
) -> Entry {
    let path = format!("workers/{worker}/reports/{sha}");
    let verdict = report.get("verdict").and_then(Value::as_str);
    let result = match verdict {
        Some("pass") => "pass",
        Some("fail") => "fail",
        Some("inconclusive") => "error",
        Some(other) => return skipped(path, format!("unknown verdict '{other}'")),
        None => return skipped(path, "has no verdict"),
    };
    let Some(time) = report.get("timestamp").and_then(rfc3339) else {
        return skipped(path, "timestamp is missing or not unix seconds");
    };
    let (name, arch) = component_and_arch(worker);
    let mut body = json!({
        "id": format!("legacy:{}:{}", short(sha), worker.to_ascii_lowercase()),
        "commit": sha,
        "branch": branch.unwrap_or("master"),
        "component": integration_component(&name),
        "arch": arch,
        "build_type": name.replace('_', "-"),
        "result": result,
        "started_at": time,
        "finished_at": time,
        "runner": worker,
    });
    if let Some(url) = report
        .get("report")
        .and_then(Value::as_str)
        .and_then(redirect_target)
    {
        body["url"] = json!(url);
    }
    validated(path, body, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn ctx() -> Context<'static> {
        Context {
            default_repository: "magma/magma",
            now: Utc::now(),
        }
    }

    #[test]
    fn maps_components_workers_and_arches() {
        assert_eq!(component_and_arch("arm_agw"), ("agw".into(), "arm64"));
        assert_eq!(component_and_arch("feg"), ("feg".into(), "amd64"));
        assert_eq!(integration_component("lte_integ_test"), "agw");
        assert_eq!(integration_component("cwf_integ_test"), "cwag");
        assert_eq!(
            redirect_target(
                r#"<html><meta http-equiv="refresh" content="0; URL='https://ci.example/r/1'"></html>"#
            )
            .as_deref(),
            Some("https://ci.example/r/1")
        );
        assert_eq!(
            redirect_target(r#"<meta content="0; url=javascript:alert(1)">"#),
            None
        );
        // The two forms Magma's workers really uploaded.
        assert_eq!(
            redirect_target(
                r#"<meta http-equiv = "refresh" content = "0; url = https://ci.example/r/2" />"#
            )
            .as_deref(),
            Some("https://ci.example/r/2")
        );
        assert_eq!(
            redirect_target(
                r#"<script>  window.location.href = "https://ci.example/r/3";</script>"#
            )
            .as_deref(),
            Some("https://ci.example/r/3")
        );
        assert_eq!(
            redirect_target(r#"<script>window.location.href = "javascript:alert(1)";</script>"#),
            None
        );
    }

    #[test]
    fn reads_builds_and_reports_and_skips_what_is_malformed() {
        let sha = "a".repeat(40);
        let export = json!({
            "builds": {
                &sha: {
                    "metadata": {"github:ref": "v1.8", "github:run_id": 7, "timestamp": 1650000000},
                    "agw": {"packages": ["magma_1.8.0"], "valid": true},
                    "arm_agw": {"packages": [], "valid": false},
                    "nms": {"valid": "yes"}
                }
            },
            "workers": {
                "lte_integ_test": {"reports": {
                    &sha: {"verdict": "inconclusive", "timestamp": 1650000100,
                           "report": "<meta http-equiv=\"refresh\" content=\"0; url=https://logs/1\">"},
                    "bad": {"verdict": "maybe", "timestamp": 1}
                }}
            }
        });
        let entries = entries(&export, &ctx());
        let builds: Vec<&Build> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Build(b) => Some(&**b),
                Entry::Skipped { .. } => None,
            })
            .collect();
        let skipped: Vec<&str> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Skipped { path, .. } => Some(path.as_str()),
                Entry::Build(_) => None,
            })
            .collect();
        assert_eq!(builds.len(), 3);
        assert_eq!(
            skipped,
            [
                format!("builds/{sha}/nms"),
                "workers/lte_integ_test/reports/bad".into()
            ]
        );
        let arm = builds.iter().find(|b| b.cell.arch == "arm64").unwrap();
        assert_eq!(
            (arm.cell.component.as_str(), arm.result.as_str()),
            ("agw", "fail")
        );
        assert_eq!(arm.cell.branch, "v1.8");
        assert_eq!(
            arm.url.as_deref(),
            Some("https://github.com/magma/magma/actions/runs/7")
        );
        let integ = builds
            .iter()
            .find(|b| b.cell.build_type == "lte-integ-test")
            .unwrap();
        assert_eq!(
            (integ.cell.component.as_str(), integ.result.as_str()),
            ("agw", "error")
        );
        assert_eq!(integ.cell.branch, "v1.8");
        assert_eq!(integ.url.as_deref(), Some("https://logs/1"));
    }
}
