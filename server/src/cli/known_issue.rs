//! `ci-dashboard known-issue add|list|remove`: rules that tie failures to
//! an issue, made and removed with a token.

use std::time::Duration;

use app::model::KnownIssue;
use clap::Subcommand;
use serde_json::json;

use super::client::dashboard_client;
use super::quarantine::answer;

const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Subcommand, Debug)]
pub enum KnownIssueCommand {
    /// Tie failures to an issue: by reason id, test name glob, message
    /// substring (every one given must match).
    Add {
        #[arg(long, env = "CI_DASHBOARD_URL")]
        server: String,
        #[arg(long, env = "CI_DASHBOARD_TOKEN", hide_env_values = true)]
        token: String,
        /// The issue's link.
        #[arg(long)]
        url: String,
        #[arg(long)]
        reason_id: Option<String>,
        /// A glob over test names, e.g. 's1ap::test_paging*'.
        #[arg(long)]
        test: Option<String>,
        /// A substring of the failure message.
        #[arg(long)]
        message: Option<String>,
    },
    /// Every rule, oldest first.
    List {
        #[arg(long, env = "CI_DASHBOARD_URL")]
        server: String,
    },
    /// Remove a rule by its id.
    Remove {
        #[arg(long, env = "CI_DASHBOARD_URL")]
        server: String,
        #[arg(long, env = "CI_DASHBOARD_TOKEN", hide_env_values = true)]
        token: String,
        id: String,
    },
}

fn url(server: &str) -> String {
    format!("{}/api/v1/known-issues", server.trim_end_matches('/'))
}

/// Runs the command; what it prints.
pub async fn run(command: KnownIssueCommand) -> Result<Vec<String>, String> {
    let client = dashboard_client(TIMEOUT).map_err(|e| e.to_string())?;
    let line = |r: &KnownIssue| {
        let mut what = Vec::new();
        if let Some(reason) = &r.reason_id {
            what.push(format!("reason {reason}"));
        }
        if let Some(test) = &r.test {
            what.push(format!("test {test}"));
        }
        if let Some(message) = &r.message {
            what.push(format!("message containing {message:?}"));
        }
        format!("{} {}: {}", r.id, r.url, what.join(", "))
    };
    match command {
        KnownIssueCommand::Add {
            server,
            token,
            url: issue,
            reason_id,
            test,
            message,
        } => {
            let endpoint = url(&server);
            let body =
                json!({ "url": issue, "reason_id": reason_id, "test": test, "message": message });
            let response = client
                .post(&endpoint)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("{endpoint}: {e}"))?;
            let rule: KnownIssue = serde_json::from_value(answer(response, &endpoint).await?)
                .map_err(|e| format!("{endpoint}: not a rule: {e}"))?;
            Ok(vec![line(&rule)])
        }
        KnownIssueCommand::List { server } => {
            let endpoint = url(&server);
            let response = client
                .get(&endpoint)
                .send()
                .await
                .map_err(|e| format!("{endpoint}: {e}"))?;
            let body = answer(response, &endpoint).await?;
            let rules: Vec<KnownIssue> = serde_json::from_value(body["rules"].clone())
                .map_err(|e| format!("{endpoint}: not rules: {e}"))?;
            Ok(rules.iter().map(line).collect())
        }
        KnownIssueCommand::Remove { server, token, id } => {
            let endpoint = format!("{}/{id}", url(&server));
            let response = client
                .delete(&endpoint)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| format!("{endpoint}: {e}"))?;
            if response.status().is_success() {
                Ok(vec![format!("removed {id}")])
            } else {
                answer(response, &endpoint).await.map(|_| Vec::new())
            }
        }
    }
}
