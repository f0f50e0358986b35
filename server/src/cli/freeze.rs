//! `ci-dashboard freeze-check`: a required CI check that fails while the
//! branch is frozen (an open incident), so merges wait until it is green,
//! without a third-party service.

use std::time::Duration;

use clap::Args;

use super::client::dashboard_client;

const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Args, Debug, Clone)]
pub struct FreezeCheckArgs {
    /// Dashboard URL, e.g. https://ci.example.org
    #[arg(long, env = "CI_DASHBOARD_URL")]
    pub server: String,
    /// The branch merges go to [default: $GITHUB_BASE_REF, else master]
    #[arg(long)]
    pub branch: Option<String>,
    /// Fail (exit 1) when the dashboard cannot be asked, instead of warning.
    #[arg(long)]
    pub strict: bool,
}

/// What the check found, and what the process exits with.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Open,
    Frozen(String),
    Unknown(String),
}

impl Verdict {
    pub fn exit_code(&self, strict: bool) -> u8 {
        match self {
            Verdict::Open => 0,
            Verdict::Frozen(_) => 1,
            Verdict::Unknown(_) => u8::from(strict),
        }
    }
}

fn freeze_url(server: &str, branch: &str) -> String {
    format!(
        "{}{}",
        server.trim_end_matches('/'),
        app::model::freeze_api_path(branch)
    )
}

pub async fn check(args: &FreezeCheckArgs, branch: &str) -> Verdict {
    let url = freeze_url(&args.server, branch);
    let answer = match dashboard_client(TIMEOUT) {
        Ok(client) => client.get(&url).send().await,
        Err(e) => return Verdict::Unknown(e.to_string()),
    };
    let response = match answer {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return Verdict::Unknown(format!("{url} answered {}", r.status())),
        Err(e) => return Verdict::Unknown(format!("{url}: {e}")),
    };
    match response.json::<app::model::Freeze>().await {
        Ok(freeze) if freeze.frozen => Verdict::Frozen(
            freeze
                .reason
                .unwrap_or_else(|| format!("{branch} is frozen")),
        ),
        Ok(_) => Verdict::Open,
        Err(e) => Verdict::Unknown(format!("{url}: not a freeze answer: {e}")),
    }
}

/// `ci-dashboard freeze|unfreeze`: a manual freeze, recorded with the
/// token's name and the reason.
#[derive(Args, Debug, Clone)]
pub struct SetFreezeArgs {
    /// Dashboard URL, e.g. https://ci.example.org
    #[arg(long, env = "CI_DASHBOARD_URL")]
    pub server: String,
    /// A token (`ci-dashboard token create`); its name is recorded.
    #[arg(long, env = "CI_DASHBOARD_TOKEN", hide_env_values = true)]
    pub token: String,
    #[arg(long)]
    pub branch: String,
    /// Why: shown to everyone whose merge waits.
    #[arg(long)]
    pub reason: String,
}

/// Sets or lifts a manual freeze; the branch's state after, or what went
/// wrong.
pub async fn set(args: &SetFreezeArgs, frozen: bool) -> Result<app::model::Freeze, String> {
    let url = freeze_url(&args.server, &args.branch);
    let client = dashboard_client(TIMEOUT).map_err(|e| e.to_string())?;
    let response = client
        .post(&url)
        .bearer_auth(&args.token)
        .json(&serde_json::json!({ "frozen": frozen, "reason": args.reason }))
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("{url} answered {status} without JSON: {e}"))?;
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("no message");
        return Err(format!("{url} answered {status}: {message}"));
    }
    serde_json::from_value(body).map_err(|e| format!("{url}: not a freeze answer: {e}"))
}
