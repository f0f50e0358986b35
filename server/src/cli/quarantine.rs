//! `ci-dashboard gate`: a CI job's verdict that a quarantined test cannot
//! fail (its own JUnit files against the dashboard's quarantine, falling
//! back to the job's own verdict when the dashboard cannot be asked), and
//! `ci-dashboard quarantine add|remove|list` for people.

use std::collections::BTreeSet;
use std::time::Duration;

use app::model::QuarantinedTest;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::{dashboard_client, junit_files, this_arch};
use crate::domain::junit;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A cell, as the command line names it.
#[derive(Args, Debug, Clone)]
pub struct CellArgs {
    /// The branch [default: $GITHUB_BASE_REF for pull requests, else $GITHUB_REF_NAME]
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(long)]
    pub component: String,
    /// [default: this machine's, amd64 or arm64]
    #[arg(long)]
    pub arch: Option<String>,
    #[arg(long)]
    pub build_type: String,
}

impl CellArgs {
    /// Flags, else GitHub Actions' variables: quarantine is the target
    /// branch's, so a pull request's job reads its base branch's.
    fn resolved(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, String), String> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let branch = self
            .branch
            .clone()
            .or_else(|| env("GITHUB_BASE_REF"))
            .or_else(|| env("GITHUB_REF_NAME"))
            .ok_or("--branch is required outside GitHub Actions")?;
        let arch = self.arch.clone().unwrap_or_else(|| this_arch().to_string());
        Ok((branch, arch))
    }
}

#[derive(Args, Debug, Clone)]
pub struct GateArgs {
    /// Dashboard URL, e.g. https://ci.example.org
    #[arg(long, env = "CI_DASHBOARD_URL")]
    pub server: String,
    /// The job's JUnit XML files (a glob, e.g. 'reports/*.xml'; repeatable).
    #[arg(long, required = true)]
    pub junit: Vec<String>,
    #[command(flatten)]
    pub cell: CellArgs,
}

#[derive(Subcommand, Debug)]
pub enum QuarantineCommand {
    /// Quarantine a test: it keeps running, opens no incident and fails no
    /// `ci-dashboard gate`.
    Add {
        #[command(flatten)]
        target: Target,
        /// Why (an issue link, say).
        #[arg(long)]
        reason: String,
        /// When it leaves quarantine by itself (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
        /// An http(s) link to what shows it is flaky.
        #[arg(long)]
        evidence_url: Option<String>,
    },
    /// Take a test out of quarantine.
    Remove {
        #[command(flatten)]
        target: Target,
    },
    /// The tests in quarantine on a branch.
    List {
        #[arg(long, env = "CI_DASHBOARD_URL")]
        server: String,
        #[arg(long, default_value = "master")]
        branch: String,
    },
}

/// A test of a cell on a dashboard, with the token that changes it.
#[derive(Args, Debug, Clone)]
pub struct Target {
    #[arg(long, env = "CI_DASHBOARD_URL")]
    pub server: String,
    /// A token (`ci-dashboard token create`); its name is recorded.
    #[arg(long, env = "CI_DASHBOARD_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(flatten)]
    pub cell: CellArgs,
    /// The test's name as its JUnit file gives it (`classname::name`).
    #[arg(long)]
    pub test: String,
}

/// The job's failing tests: failed or errored in its files, each once.
pub fn failing_tests(patterns: &[String]) -> Result<BTreeSet<String>, String> {
    let files = junit_files(patterns)?;
    if files.is_empty() {
        return Err(format!("no file matches --junit {}", patterns.join(" ")));
    }
    let mut failing = BTreeSet::new();
    for file in files {
        let xml = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let cases = junit::parse(&xml).map_err(|e| format!("{}: {}", file.display(), e.message))?;
        failing.extend(
            junit::collapse(&cases)
                .into_iter()
                .filter(|c| c.status.is_failure())
                .map(|c| c.name),
        );
    }
    Ok(failing)
}

/// The gate's verdict: pass when every failing test is quarantined; when
/// the quarantine is unknown (`None`), the job's own verdict.
pub fn decide(failing: &BTreeSet<String>, quarantined: Option<&BTreeSet<String>>) -> (u8, String) {
    if failing.is_empty() {
        return (0, "no test failed".into());
    }
    let Some(quarantined) = quarantined else {
        let names: Vec<&str> = failing.iter().map(String::as_str).collect();
        return (
            1,
            format!(
                "the quarantine is unknown, so these failures count: {}",
                names.join(", ")
            ),
        );
    };
    let real: Vec<&str> = failing
        .iter()
        .filter(|t| !quarantined.contains(*t))
        .map(String::as_str)
        .collect();
    if real.is_empty() {
        let names: Vec<&str> = failing.iter().map(String::as_str).collect();
        (
            0,
            format!("every failing test is quarantined: {}", names.join(", ")),
        )
    } else {
        (1, format!("failing, not quarantined: {}", real.join(", ")))
    }
}

fn quarantine_url(server: &str) -> String {
    format!("{}/api/v1/quarantine", server.trim_end_matches('/'))
}

/// A JSON answer, or the error it carries.
pub(super) async fn answer(response: reqwest::Response, url: &str) -> Result<Value, String> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("{url} answered {status} without JSON: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        let message = body["error"].as_str().unwrap_or("no message");
        Err(format!("{url} answered {status}: {message}"))
    }
}

/// The tests in quarantine for a cell (or a branch's, without a cell).
pub async fn list(server: &str, query: &[(&str, &str)]) -> Result<Vec<QuarantinedTest>, String> {
    let url = quarantine_url(server);
    let client = dashboard_client(TIMEOUT).map_err(|e| e.to_string())?;
    let response = client
        .get(&url)
        .query(query)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let body = answer(response, &url).await?;
    serde_json::from_value(body["tests"].clone())
        .map_err(|e| format!("{url}: not a quarantine: {e}"))
}

pub async fn gate(args: &GateArgs) -> Result<(u8, String), String> {
    let failing = failing_tests(&args.junit)?;
    if failing.is_empty() {
        return Ok(decide(&failing, None));
    }
    let (branch, arch) = args.cell.resolved(&|name| std::env::var(name).ok())?;
    let query = [
        ("branch", branch.as_str()),
        ("component", args.cell.component.as_str()),
        ("arch", arch.as_str()),
        ("build_type", args.cell.build_type.as_str()),
    ];
    let quarantined = match list(&args.server, &query).await {
        Ok(tests) => Some(tests.into_iter().map(|t| t.name).collect::<BTreeSet<_>>()),
        Err(e) => {
            eprintln!(
                "ci-dashboard: cannot read the quarantine ({e}); the job's own verdict stands"
            );
            None
        }
    };
    Ok(decide(&failing, quarantined.as_ref()))
}

/// Adds (`Some(fields)`) or removes a test; the entry after.
pub async fn change(target: &Target, add: Option<Value>) -> Result<QuarantinedTest, String> {
    let (branch, arch) = target.cell.resolved(&|name| std::env::var(name).ok())?;
    let mut body = json!({
        "branch": branch,
        "component": target.cell.component,
        "arch": arch,
        "build_type": target.cell.build_type,
        "name": target.test,
    });
    let adding = add.is_some();
    if let (Some(Value::Object(extra)), Some(object)) = (add, body.as_object_mut()) {
        object.extend(extra.into_iter().filter(|(_, v)| !v.is_null()));
    }
    let url = quarantine_url(&target.server);
    let client = dashboard_client(TIMEOUT).map_err(|e| e.to_string())?;
    let request = if adding {
        client.post(&url)
    } else {
        client.delete(&url)
    };
    let response = request
        .bearer_auth(&target.token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let body = answer(response, &url).await?;
    serde_json::from_value(body).map_err(|e| format!("{url}: not a quarantine entry: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn only_quarantined_failures_pass_the_gate() {
        let quarantined = set(&["s1ap::test_paging"]);
        assert_eq!(
            decide(&set(&["s1ap::test_paging"]), Some(&quarantined)).0,
            0
        );
        let (code, why) = decide(
            &set(&["s1ap::test_paging", "test_attach"]),
            Some(&quarantined),
        );
        assert_eq!(code, 1);
        assert_eq!(why, "failing, not quarantined: test_attach");
        assert_eq!(decide(&set(&[]), None).0, 0, "nothing failed");
        let (code, why) = decide(&set(&["s1ap::test_paging"]), None);
        assert_eq!(code, 1, "an unknown quarantine never passes a failure");
        assert!(why.contains("unknown"), "{why}");
    }

    #[test]
    fn a_pull_request_reads_its_base_branchs_quarantine() {
        let cell = CellArgs {
            branch: None,
            component: "lte".into(),
            arch: Some("amd64".into()),
            build_type: "integ-test".into(),
        };
        let env = |name: &str| match name {
            "GITHUB_BASE_REF" => Some("master".to_string()),
            "GITHUB_REF_NAME" => Some("123/merge".to_string()),
            _ => None,
        };
        assert_eq!(cell.resolved(&env).unwrap().0, "master");
        assert!(cell.resolved(&|_| None).is_err());
    }

    #[test]
    fn the_jobs_failures_are_read_from_its_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pytest.xml"),
            r#"<testsuites><testsuite name="s1ap" tests="3">
                <testcase classname="s1ap" name="test_paging"><failure message="assert 1 == 2"/></testcase>
                <testcase classname="s1ap" name="test_attach"/>
                <testcase classname="s1ap" name="test_detach"><error message="timeout"/></testcase>
            </testsuite></testsuites>"#,
        )
        .unwrap();
        let pattern = format!("{}/*.xml", dir.path().display());
        let failing = failing_tests(&[pattern]).unwrap();
        assert_eq!(failing, set(&["s1ap::test_detach", "s1ap::test_paging"]));
        let none = format!("{}/*.json", dir.path().display());
        assert!(failing_tests(&[none])
            .unwrap_err()
            .contains("no file matches"));
    }
}
