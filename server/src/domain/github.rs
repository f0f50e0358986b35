//! GitHub, both ways: which builds set a commit status there and what the
//! status says (a developer's verdict, not a bare pass or fail), and how a
//! signed `workflow_job` webhook becomes a build. Pure: the HTTP calls live
//! in the delivery worker and the webhook handler.

use app::model::{
    short_sha, BuildResult, CellId, CellVerdict, Delivery, DeliveryState, Divergence, NotifyEvent,
    StatusNotice, Verdict,
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use wildmatch::WildMatch;

/// What deliveries of commit statuses record as their webhook.
pub const STATUS_WEBHOOK: &str = "github";
/// GitHub cuts descriptions longer than this.
const MAX_DESCRIPTION: usize = 140;
const DEFAULT_API: &str = "https://api.github.com";

/// `--github-config`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GithubFile {
    api: Option<String>,
    statuses: Option<StatusesFile>,
    #[serde(default)]
    job: Vec<JobRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusesFile {
    branches: Option<Vec<String>>,
    cells: Option<Vec<String>>,
    #[serde(default)]
    group: Group,
}

/// How many cells share a status context: fewer contexts keep a commit
/// well under GitHub's limit of statuses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// `ci-dashboard/<component>/<arch>/<build_type>`.
    #[default]
    Cell,
    /// `ci-dashboard/<component>/<arch>`.
    Arch,
    /// `ci-dashboard/<component>`.
    Component,
}

/// A `[[job]]` entry: GitHub Actions jobs it maps to a cell.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRule {
    /// A glob over the workflow's name.
    #[serde(default = "any")]
    pub workflow: String,
    /// A glob over the job's name.
    #[serde(default = "any")]
    pub job: String,
    pub component: String,
    /// Default: from the runner labels (`ARM64`, `X64`).
    pub arch: Option<String>,
    pub build_type: String,
}

fn any() -> String {
    "*".into()
}

/// `--github-config`, checked.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    pub api: url::Url,
    pub statuses: Option<Statuses>,
    pub jobs: Vec<JobRule>,
}

/// Which builds set commit statuses, and their contexts.
#[derive(Debug, Clone)]
pub struct Statuses {
    /// Globs; `None`: the branches incidents watch.
    pub branches: Option<Vec<String>>,
    /// Globs over `<component>/<arch>/<build_type>`; `None`: every cell.
    pub cells: Option<Vec<String>>,
    pub group: Group,
}

impl GithubConfig {
    pub fn parse(text: &str) -> Result<GithubConfig, String> {
        let file: GithubFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let api = url::Url::parse(file.api.as_deref().unwrap_or(DEFAULT_API))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or("api must be an http(s) URL, such as https://api.github.com")?;
        for (i, rule) in file.job.iter().enumerate() {
            let names = [
                ("component", Some(&rule.component)),
                ("arch", rule.arch.as_ref()),
                ("build_type", Some(&rule.build_type)),
            ];
            for (field, value) in names {
                if let Some(value) = value {
                    super::ids::Name::parse(field, value)
                        .map_err(|e| format!("job {}: {}", i + 1, e.message))?;
                }
            }
        }
        Ok(GithubConfig {
            api,
            statuses: file.statuses.map(|s| Statuses {
                branches: s.branches,
                cells: s.cells,
                group: s.group,
            }),
            jobs: file.job,
        })
    }
}

impl Statuses {
    /// Whether a build of `cell` sets a status; `watched` says whether
    /// incidents watch its branch.
    pub fn covers(&self, cell: &CellId, watched: bool) -> bool {
        let branch = match &self.branches {
            Some(globs) => globs
                .iter()
                .any(|g| WildMatch::new(g).matches(&cell.branch)),
            None => watched,
        };
        let name = format!("{}/{}/{}", cell.component, cell.arch, cell.build_type);
        branch
            && self
                .cells
                .as_ref()
                .is_none_or(|globs| globs.iter().any(|g| WildMatch::new(g).matches(&name)))
    }

    pub fn context(&self, cell: &CellId) -> String {
        match self.group {
            Group::Cell => format!(
                "ci-dashboard/{}/{}/{}",
                cell.component, cell.arch, cell.build_type
            ),
            Group::Arch => format!("ci-dashboard/{}/{}", cell.component, cell.arch),
            Group::Component => format!("ci-dashboard/{}", cell.component),
        }
    }
}

/// The delivery that sets the status of `build`'s context at its commit.
/// Its id comes from the build and its state (and what else changed it,
/// `cause`: an upload), so a replay, or another server, queues none again.
pub fn status_delivery(
    notice: StatusNotice,
    cause: &str,
    target: &str,
    at: DateTime<Utc>,
) -> Delivery {
    let digest = Sha256::digest(
        format!(
            "status\n{}\n{}\n{}\n{}\n{}\n{cause}",
            notice.repository,
            notice.commit,
            notice.context,
            notice.build,
            notice.result.as_str()
        )
        .as_bytes(),
    );
    Delivery {
        id: hex::encode(&digest[..8]),
        incident: format!(
            "status:{}@{}:{}",
            notice.repository,
            short_sha(&notice.commit),
            notice.context
        ),
        event: NotifyEvent::CommitStatus,
        webhook: STATUS_WEBHOOK.into(),
        target: target.into(),
        state: DeliveryState::Pending,
        created_at: at,
        attempts: 0,
        next_attempt_at: at,
        last_status: None,
        last_error: None,
        delivered_at: None,
        cell: None,
        status: Some(notice),
    }
}

/// A commit status's state, as GitHub names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusState {
    Success,
    Pending,
    Error,
    Failure,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Success => "success",
            StatusState::Pending => "pending",
            StatusState::Error => "error",
            StatusState::Failure => "failure",
        }
    }
}

/// What a status says: its state and the verdict a developer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub state: StatusState,
    pub description: String,
}

/// A cell's part of a status: its verdict at the commit, given the result
/// of its newest build there (a first build has no baseline to judge by).
fn judged(verdict: &CellVerdict, result: BuildResult) -> Option<(StatusState, String)> {
    Some(match verdict.verdict {
        Verdict::Running => (StatusState::Pending, "running".into()),
        Verdict::NewFailure => (StatusState::Failure, "new failure".into()),
        Verdict::StillFailing => (
            StatusState::Failure,
            match &verdict.failing_since {
                Some(since) => format!("already failing since {}", short_sha(since)),
                None => "already failing".into(),
            },
        ),
        // A failure of known-flaky tests only: no reason to block a merge.
        Verdict::FlakyFailure => {
            let names: Vec<&str> = verdict
                .tests
                .iter()
                .flat_map(|t| &t.failing)
                .map(|t| t.name.as_str())
                .collect();
            let description = match names.as_slice() {
                [one] => format!("flaky test only: {one}"),
                _ => "flaky tests only".into(),
            };
            (StatusState::Success, description)
        }
        Verdict::Error => (StatusState::Error, "infrastructure error".into()),
        Verdict::Cancelled => (StatusState::Error, "cancelled".into()),
        Verdict::Fixed => (StatusState::Success, "fixed".into()),
        Verdict::NoBaseline if result == BuildResult::Fail => (
            StatusState::Failure,
            "failing (the cell's first build)".into(),
        ),
        Verdict::Pass | Verdict::NoBaseline => (StatusState::Success, "passed".into()),
        Verdict::Missing => return None,
    })
}

/// The status of a context from its cells' verdicts at the commit (each
/// with its newest build's result there): the worst of them (failure,
/// error, pending, success) with its reason, naming the cell when several
/// share the context, and the architecture when the failure is on one
/// only. `None`: no cell of it has a build.
pub fn commit_status(
    verdicts: &[(&CellVerdict, BuildResult)],
    divergent: &[Divergence],
) -> Option<CommitStatus> {
    let (worst, (state, reason)) = verdicts
        .iter()
        .filter_map(|(v, result)| judged(v, *result).map(|j| (*v, j)))
        .max_by(|(a, (sa, _)), (b, (sb, _))| {
            sa.cmp(sb)
                .then_with(|| b.verdict.rank().cmp(&a.verdict.rank()))
        })?;
    let mut description = reason;
    if state == StatusState::Failure {
        if let Some(d) = divergent.iter().find(|d| {
            d.component == worst.cell.component
                && d.build_type == worst.cell.build_type
                && d.failing_arch == worst.cell.arch
        }) {
            description = format!(
                "{description}, fails on {} only (passes on {})",
                d.failing_arch, d.passing_arch
            );
        }
    }
    if verdicts.len() > 1 {
        description = format!(
            "{} {}: {description}",
            worst.cell.arch, worst.cell.build_type
        );
    }
    Some(CommitStatus {
        state,
        description: truncate(&description, MAX_DESCRIPTION),
    })
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Whether `header` (`X-Hub-Signature-256`: `sha256=<hex>`) is the
/// HMAC-SHA256 of `body` with `secret`, compared in constant time.
pub fn signature_valid(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_mac) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Why a `workflow_job` event stores no build. Bounded: a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// No `[[job]]` entry maps its workflow and job.
    Unmapped,
    /// Skipped, or waiting for an approval: nothing ran.
    NotRun,
    /// The runner's labels name no architecture and its entry none either.
    NoArch,
    /// Not a branch's job (a tag's), or the payload lacks a field.
    Unusable,
    /// An earlier state of a job whose later one is stored (GitHub does
    /// not promise order).
    OlderState,
    /// Another event than `workflow_job`.
    OtherEvent,
}

impl Ignored {
    pub const ALL: [Ignored; 6] = [
        Ignored::Unmapped,
        Ignored::NotRun,
        Ignored::NoArch,
        Ignored::Unusable,
        Ignored::OlderState,
        Ignored::OtherEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::Unmapped => "unmapped",
            Ignored::NotRun => "not_run",
            Ignored::NoArch => "no_arch",
            Ignored::Unusable => "unusable",
            Ignored::OlderState => "older_state",
            Ignored::OtherEvent => "other_event",
        }
    }
}

/// A `workflow_job` event as a build object for ingestion's validation
/// (which checks every field as it checks a CI job's post). The build is
/// `gh:<job id>:<run attempt>`, running until the job completes.
pub fn workflow_job_build(payload: &Value, jobs: &[JobRule]) -> Result<Value, Ignored> {
    let job = &payload["workflow_job"];
    let text = |v: &Value| v.as_str().map(str::to_string);
    let (Some(id), Some(workflow), Some(name), Some(sha)) = (
        job["id"].as_u64(),
        text(&job["workflow_name"]),
        text(&job["name"]),
        text(&job["head_sha"]),
    ) else {
        return Err(Ignored::Unusable);
    };
    let rule = jobs
        .iter()
        .find(|r| {
            WildMatch::new(&r.workflow).matches(&workflow) && WildMatch::new(&r.job).matches(&name)
        })
        .ok_or(Ignored::Unmapped)?;
    let result = match (job["status"].as_str(), job["conclusion"].as_str()) {
        (Some("completed"), Some("success" | "neutral")) => BuildResult::Pass,
        (Some("completed"), Some("failure")) => BuildResult::Fail,
        // Killed by its time limit: a hung runner as often as hung code.
        (Some("completed"), Some("timed_out")) => BuildResult::Error,
        (Some("completed"), Some("cancelled" | "stale")) => BuildResult::Cancelled,
        (Some("completed"), Some("skipped" | "action_required")) => return Err(Ignored::NotRun),
        (Some("queued" | "in_progress" | "waiting"), _) => BuildResult::Running,
        _ => return Err(Ignored::Unusable),
    };
    let arch = match &rule.arch {
        Some(arch) => arch.clone(),
        None => runner_arch(&job["labels"]).ok_or(Ignored::NoArch)?.into(),
    };
    let branch = text(&job["head_branch"]).ok_or(Ignored::Unusable)?;
    let repository = text(&payload["repository"]["full_name"]).ok_or(Ignored::Unusable)?;
    let attempt = job["run_attempt"].as_u64().unwrap_or(1);
    let started = text(&job["started_at"]).or_else(|| text(&job["created_at"]));
    let mut build = Map::new();
    build.insert("id".into(), json!(format!("gh:{id}:{attempt}")));
    build.insert("repository".into(), json!(repository));
    build.insert("commit".into(), json!(sha));
    build.insert("branch".into(), json!(branch));
    build.insert("component".into(), json!(rule.component));
    build.insert("arch".into(), json!(arch));
    build.insert("build_type".into(), json!(rule.build_type));
    build.insert("result".into(), json!(result.as_str()));
    build.insert(
        "started_at".into(),
        json!(started.ok_or(Ignored::Unusable)?),
    );
    if result.is_finished() {
        if let Some(done) = text(&job["completed_at"]) {
            build.insert("finished_at".into(), json!(done));
        }
    }
    if let Some(url) = text(&job["html_url"]) {
        build.insert("url".into(), json!(url));
    }
    if let Some(runner) = text(&job["runner_name"]).filter(|r| !r.is_empty()) {
        build.insert("runner".into(), json!(runner));
    }
    Ok(Value::Object(build))
}

/// GitHub-hosted and self-hosted runners carry `ARM64` or `X64` labels.
fn runner_arch(labels: &Value) -> Option<&'static str> {
    labels
        .as_array()?
        .iter()
        .find_map(|l| match l.as_str()?.to_ascii_lowercase().as_str() {
            "arm64" | "aarch64" => Some("arm64"),
            "x64" | "amd64" | "x86_64" => Some("amd64"),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{CellKey, FailingTest, TestVerdict, VerdictTests};

    fn verdict(arch: &str, verdict: Verdict) -> CellVerdict {
        CellVerdict {
            cell: CellKey::new("agw", arch, "bazel-build"),
            verdict,
            baseline_commit: None,
            failing_since: None,
            url: None,
            tests: None,
        }
    }

    #[test]
    fn a_status_tells_the_verdict_a_developer_needs() {
        let new = verdict("arm64", Verdict::NewFailure);
        let status = commit_status(&[(&new, BuildResult::Fail)], &[]).unwrap();
        assert_eq!(
            (status.state, status.description.as_str()),
            (StatusState::Failure, "new failure")
        );

        let mut still = verdict("arm64", Verdict::StillFailing);
        still.failing_since = Some("1a2b3c4d5e6f".repeat(3) + "1a2b");
        let status = commit_status(&[(&still, BuildResult::Fail)], &[]).unwrap();
        assert_eq!(status.description, "already failing since 1a2b3c4");

        let diverges = Divergence {
            component: "agw".into(),
            build_type: "bazel-build".into(),
            failing_arch: "arm64".into(),
            passing_arch: "amd64".into(),
            test: None,
        };
        let status = commit_status(
            &[(&new, BuildResult::Fail)],
            std::slice::from_ref(&diverges),
        )
        .unwrap();
        assert_eq!(
            status.description,
            "new failure, fails on arm64 only (passes on amd64)"
        );

        let mut flaky = verdict("amd64", Verdict::FlakyFailure);
        flaky.tests = Some(VerdictTests {
            passed: 9,
            failed: 1,
            skipped: 0,
            failing: vec![FailingTest {
                quarantined: false,
                reason: None,
                known_issue: None,
                name: "test_paging".into(),
                verdict: TestVerdict::Flaky,
                since_commit: "0".repeat(40),
                message: None,
            }],
        });
        let status = commit_status(&[(&flaky, BuildResult::Fail)], &[]).unwrap();
        assert_eq!(
            (status.state, status.description.as_str()),
            (StatusState::Success, "flaky test only: test_paging")
        );
        let running = verdict("amd64", Verdict::Running);
        assert_eq!(
            commit_status(&[(&running, BuildResult::Running)], &[])
                .unwrap()
                .state,
            StatusState::Pending
        );
        assert_eq!(
            commit_status(
                &[(&verdict("amd64", Verdict::Error), BuildResult::Error)],
                &[]
            )
            .unwrap()
            .state,
            StatusState::Error
        );
        let missing = verdict("amd64", Verdict::Missing);
        assert_eq!(commit_status(&[(&missing, BuildResult::Pass)], &[]), None);
        let first = verdict("amd64", Verdict::NoBaseline);
        let judged = |result| commit_status(&[(&first, result)], &[]).unwrap().state;
        assert_eq!(judged(BuildResult::Fail), StatusState::Failure);
        assert_eq!(judged(BuildResult::Pass), StatusState::Success);
    }

    #[test]
    fn a_grouped_context_shows_its_worst_cell_by_name() {
        let pass = verdict("amd64", Verdict::Pass);
        let running = verdict("amd64", Verdict::Running);
        let failing = verdict("arm64", Verdict::NewFailure);
        let status = commit_status(
            &[
                (&pass, BuildResult::Pass),
                (&failing, BuildResult::Fail),
                (&running, BuildResult::Running),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(status.state, StatusState::Failure);
        assert_eq!(status.description, "arm64 bazel-build: new failure");
        let status = commit_status(
            &[(&pass, BuildResult::Pass), (&running, BuildResult::Running)],
            &[],
        )
        .unwrap();
        assert_eq!(status.state, StatusState::Pending);
        let long = format!("{} {}", "x".repeat(100), "y".repeat(100));
        assert_eq!(truncate(&long, MAX_DESCRIPTION).chars().count(), 140);
    }

    #[test]
    fn the_config_chooses_branches_cells_and_contexts() {
        let config = GithubConfig::parse(
            r#"
            [statuses]
            branches = ["master", "v1.*"]
            cells = ["*/arm64/*", "lte/*/integ-test"]
            group = "arch"
            [[job]]
            workflow = "build*"
            job = "lte-integ*"
            component = "lte"
            build_type = "integ-test"
            "#,
        )
        .unwrap();
        assert_eq!(config.api.as_str(), "https://api.github.com/");
        let statuses = config.statuses.unwrap();
        let cell = CellId::new("v1.8", "agw", "arm64", "bazel-build");
        assert!(statuses.covers(&cell, false));
        assert!(!statuses.covers(&CellId::new("v1.8", "agw", "amd64", "bazel-build"), true));
        assert!(!statuses.covers(&CellId::new("feature", "agw", "arm64", "bazel-build"), true));
        assert_eq!(statuses.context(&cell), "ci-dashboard/agw/arm64");

        let defaults = GithubConfig::parse("[statuses]\n")
            .unwrap()
            .statuses
            .unwrap();
        assert!(defaults.covers(&cell, true), "watched branches, every cell");
        assert!(!defaults.covers(&cell, false));
        assert_eq!(
            defaults.context(&cell),
            "ci-dashboard/agw/arm64/bazel-build"
        );

        for (bad, says) in [
            ("api = \"ftp://x\"", "api must be an http(s) URL"),
            ("[statuses]\ngroup = \"repo\"", "unknown variant"),
            (
                "[[job]]\ncomponent = \"a b\"\nbuild_type = \"x\"",
                "job 1: component",
            ),
            ("[[job]]\ncomponent = \"agw\"", "missing field `build_type`"),
            ("token = \"ghp_x\"", "unknown field"),
        ] {
            let e = GithubConfig::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn only_the_right_secret_signs_a_webhook() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"It's a Secret to Everybody").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_valid(
            "It's a Secret to Everybody",
            body,
            Some(&good)
        ));
        assert!(!signature_valid("another secret", body, Some(&good)));
        assert!(!signature_valid(
            "It's a Secret to Everybody",
            b"{}",
            Some(&good)
        ));
        for bad in [
            None,
            Some(""),
            Some("sha256="),
            Some("sha1=abc"),
            Some("sha256=zz"),
        ] {
            assert!(!signature_valid("It's a Secret to Everybody", body, bad));
        }
    }

    /// A `workflow_job` payload shaped as GitHub's documentation gives it.
    pub fn workflow_job(status: &str, conclusion: Option<&str>, labels: &[&str]) -> Value {
        json!({
            "action": if status == "completed" { "completed" } else { status },
            "workflow_job": {
                "id": 29679449u64,
                "run_id": 10402187906u64,
                "workflow_name": "build-all",
                "head_branch": "master",
                "run_url": "https://api.github.com/repos/magma/magma/actions/runs/10402187906",
                "run_attempt": 2,
                "head_sha": "f83a356fb2ba5e3c2b4f6e7d8a9b0c1d2e3f4a5b",
                "html_url": "https://github.com/magma/magma/actions/runs/10402187906/job/29679449",
                "status": status,
                "conclusion": conclusion,
                "created_at": "2026-12-01T10:00:00Z",
                "started_at": "2026-12-01T10:00:05Z",
                "completed_at": conclusion.map(|_| "2026-12-01T10:20:00Z"),
                "name": "lte-integ-test (ubuntu)",
                "labels": labels,
                "runner_name": "GitHub Actions 2",
                "steps": []
            },
            "repository": { "full_name": "magma/magma" },
            "sender": { "login": "octocat" }
        })
    }

    fn rules() -> Vec<JobRule> {
        GithubConfig::parse(
            "[[job]]\nworkflow = \"build-all\"\njob = \"lte-integ-test*\"\ncomponent = \"lte\"\nbuild_type = \"integ-test\"\n",
        )
        .unwrap()
        .jobs
    }

    #[test]
    fn a_workflow_job_becomes_a_build_of_its_mapped_cell() {
        let done = workflow_job_build(
            &workflow_job("completed", Some("failure"), &["ubuntu-latest", "X64"]),
            &rules(),
        )
        .unwrap();
        assert_eq!(done["id"], "gh:29679449:2");
        assert_eq!(done["component"], "lte");
        assert_eq!(done["arch"], "amd64");
        assert_eq!(done["build_type"], "integ-test");
        assert_eq!(done["result"], "fail");
        assert_eq!(done["repository"], "magma/magma");
        assert_eq!(done["finished_at"], "2026-12-01T10:20:00Z");
        assert!(done["url"]
            .as_str()
            .unwrap()
            .starts_with("https://github.com/"));

        let queued = workflow_job_build(
            &workflow_job("queued", None, &["self-hosted", "ARM64"]),
            &rules(),
        )
        .unwrap();
        assert_eq!(
            (&queued["result"], &queued["arch"]),
            (&json!("running"), &json!("arm64"))
        );
        assert!(queued.get("finished_at").is_none());

        for (conclusion, result) in [
            ("success", "pass"),
            ("timed_out", "error"),
            ("cancelled", "cancelled"),
        ] {
            let b = workflow_job_build(
                &workflow_job("completed", Some(conclusion), &["X64"]),
                &rules(),
            )
            .unwrap();
            assert_eq!(b["result"], result, "{conclusion}");
        }
    }

    #[test]
    fn jobs_that_map_to_nothing_are_ignored_with_a_reason() {
        let skipped = workflow_job("completed", Some("skipped"), &["X64"]);
        assert_eq!(workflow_job_build(&skipped, &rules()), Err(Ignored::NotRun));
        let no_arch = workflow_job("completed", Some("success"), &["self-hosted", "lab"]);
        assert_eq!(workflow_job_build(&no_arch, &rules()), Err(Ignored::NoArch));
        let mut other = workflow_job("completed", Some("success"), &["X64"]);
        other["workflow_job"]["name"] = json!("docs");
        assert_eq!(workflow_job_build(&other, &rules()), Err(Ignored::Unmapped));
        let mut tag = workflow_job("completed", Some("success"), &["X64"]);
        tag["workflow_job"]["head_branch"] = Value::Null;
        assert_eq!(workflow_job_build(&tag, &rules()), Err(Ignored::Unusable));
        assert_eq!(
            workflow_job_build(&json!({"zen": "x"}), &rules()),
            Err(Ignored::Unusable)
        );
    }
}
