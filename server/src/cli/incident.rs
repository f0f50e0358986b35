//! `ci-dashboard incident ack`: on-call says who is on an incident, links
//! its issue, and silences its notifications for a while.

use std::time::Duration;

use app::model::Incident;
use clap::{Args, Subcommand};
use serde_json::json;

use super::client::dashboard_client;
use super::quarantine::answer;

const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// Acknowledge an incident (recorded with the token's name).
    Ack(AckArgs),
}

#[derive(Args, Debug)]
pub struct AckArgs {
    #[arg(long, env = "CI_DASHBOARD_URL")]
    pub server: String,
    #[arg(long, env = "CI_DASHBOARD_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The incident's id (its page's address ends with it).
    pub id: String,
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long)]
    pub assignee: Option<String>,
    /// The issue tracking it.
    #[arg(long)]
    pub issue_url: Option<String>,
    /// No notification for so many more changes of the incident.
    #[arg(long)]
    pub silence_builds: Option<u32>,
    /// No notification until then (RFC 3339).
    #[arg(long)]
    pub silence_until: Option<String>,
}

pub async fn ack(args: &AckArgs) -> Result<Incident, String> {
    let url = format!(
        "{}/api/v1/incidents/{}/ack",
        args.server.trim_end_matches('/'),
        args.id
    );
    let body = json!({
        "note": args.note, "assignee": args.assignee, "issue_url": args.issue_url,
        "silence_builds": args.silence_builds, "silence_until": args.silence_until,
    });
    let client = dashboard_client(TIMEOUT).map_err(|e| e.to_string())?;
    let response = client
        .post(&url)
        .bearer_auth(&args.token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    serde_json::from_value(answer(response, &url).await?)
        .map_err(|e| format!("{url}: not an incident: {e}"))
}
