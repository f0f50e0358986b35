//! Telling people: which webhooks hear of an incident, what each one is
//! sent (Slack or JSON, signed with HMAC-SHA256 when it has a secret), and
//! how a delivery is retried. The queue itself lives in the store, written
//! in the same transaction as the incident change that caused it.

use std::time::Duration;

use app::model::{
    CellKey, CellNotice, CellTestFailures, Delivery, DeliveryState, Incident, IncidentState,
    NotifyEvent,
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use wildmatch::WildMatch;

use super::incident::{Change, IncidentConfig};
use super::quarantine::QuarantineConfig;
use super::signal::SignalConfig;

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: u32 = 10;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// What is kept of a receiver's error.
const MAX_ERROR_CHARS: usize = 300;

/// The notification config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub watch: Option<Vec<String>>,
    pub failures_to_open: Option<u32>,
    #[serde(default)]
    pub signal: SignalConfig,
    #[serde(default)]
    pub quarantine: QuarantineConfig,
    #[serde(default)]
    pub webhook: Vec<WebhookConfig>,
    #[serde(default)]
    pub owner: Vec<OwnerConfig>,
}

/// The owners of components: mentioned in messages about their cells, and
/// told on their own webhook when they give one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerConfig {
    /// A glob over component names.
    pub component: String,
    /// Added to Slack messages, e.g. `<@U024BE7LH>` or `<!subteam^S0123>`.
    pub mention: Option<String>,
    pub webhook: Option<String>,
    #[serde(default = "slack")]
    pub format: Format,
    pub secret: Option<String>,
}

fn slack() -> Format {
    Format::Slack
}

/// A component's owners, as messages mention them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub component: String,
    pub mention: String,
}

impl Owner {
    /// The mentions of the owners of any of `cells`, each once.
    pub fn mentions(owners: &[Owner], cells: &[CellKey]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for owner in owners {
            let theirs = cells
                .iter()
                .any(|c| WildMatch::new(&owner.component).matches(&c.component));
            if theirs && !out.contains(&owner.mention) {
                out.push(owner.mention.clone());
            }
        }
        out
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub format: Format,
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Slack,
    Json,
}

/// A configured webhook, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: url::Url,
    pub format: Format,
    pub secret: Option<String>,
    /// Globs over the components it hears of (an owner's); `None`: all.
    pub components: Option<Vec<String>>,
}

// The URL and secret are credentials (a Slack URL is one): never logged.
impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("target", &self.target())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Stored with its deliveries instead of the URL.
    pub fn key(&self) -> String {
        hex::encode(&Sha256::digest(self.url.as_str().as_bytes())[..6])
    }

    pub fn target(&self) -> String {
        self.url.host_str().unwrap_or_default().to_string()
    }

    pub fn as_ref(&self) -> WebhookRef {
        WebhookRef {
            key: self.key(),
            target: self.target(),
            components: self.components.clone(),
        }
    }
}

/// What a delivery records of its webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRef {
    pub key: String,
    pub target: String,
    /// Globs over the components it hears of; `None`: all.
    pub components: Option<Vec<String>>,
}

impl WebhookRef {
    /// Whether it hears of an incident of these cells.
    fn hears_of(&self, cells: &[CellKey]) -> bool {
        self.components.as_ref().is_none_or(|globs| {
            cells.iter().any(|c| {
                globs
                    .iter()
                    .any(|g| WildMatch::new(g).matches(&c.component))
            })
        })
    }
}

impl NotifyConfig {
    pub fn parse(text: &str) -> Result<NotifyConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The incident rules' part, the webhooks checked one by one (owners'
    /// among them), and the owners' mentions.
    pub fn split(self) -> Result<(IncidentConfig, Vec<Webhook>, Vec<Owner>), String> {
        let checked = |what: String, url: &str, format, secret: Option<String>, components| {
            let url = url::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| format!("{what}: url must be an http(s) URL"))?;
            if secret.as_deref().is_some_and(str::is_empty) {
                return Err(format!(
                    "{what}: secret is empty; leave it out to send unsigned"
                ));
            }
            Ok(Webhook {
                url,
                format,
                secret,
                components,
            })
        };
        let mut hooks = self
            .webhook
            .into_iter()
            .enumerate()
            .map(|(i, hook)| {
                checked(
                    format!("webhook {}", i + 1),
                    &hook.url,
                    hook.format,
                    hook.secret,
                    None,
                )
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut owners = Vec::new();
        for (i, owner) in self.owner.into_iter().enumerate() {
            let what = format!("owner {}", i + 1);
            if owner.mention.is_none() && owner.webhook.is_none() {
                return Err(format!("{what}: give a mention, a webhook, or both"));
            }
            if let Some(url) = &owner.webhook {
                let only = Some(vec![owner.component.clone()]);
                hooks.push(checked(what, url, owner.format, owner.secret, only)?);
            }
            if let Some(mention) = owner.mention {
                owners.push(Owner {
                    component: owner.component,
                    mention,
                });
            }
        }
        let mut keys: Vec<String> = hooks.iter().map(Webhook::key).collect();
        keys.sort();
        keys.dedup();
        if keys.len() != hooks.len() {
            return Err("two webhooks have the same url".into());
        }
        Ok((
            IncidentConfig {
                watch: self.watch,
                failures_to_open: self.failures_to_open,
                signal: self.signal,
                quarantine: self.quarantine,
            },
            hooks,
            owners,
        ))
    }
}

/// The events an incident change causes: it opened (or reopened), or it
/// resolved.
pub fn events(before: Option<&Incident>, after: Option<&Incident>) -> Vec<NotifyEvent> {
    let was_open = before.is_some_and(|i| i.state == IncidentState::Open);
    match after.map(|i| i.state) {
        Some(IncidentState::Open) if !was_open => vec![NotifyEvent::Opened],
        Some(IncidentState::Resolved) if was_open => vec![NotifyEvent::Resolved],
        _ => Vec::new(),
    }
}

/// An incident change applied to the stored incident, with the deliveries
/// it queues: what a store writes in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub incident: Option<Incident>,
    pub deliveries: Vec<Delivery>,
}

pub fn apply(before: Option<Incident>, change: &Change, hooks: &[WebhookRef]) -> Applied {
    let incident = super::incident::apply(before.clone(), change);
    let deliveries = deliveries(before.as_ref(), incident.as_ref(), hooks, change.at());
    Applied {
        incident,
        deliveries,
    }
}

/// The deliveries an incident change queues: one per event per webhook,
/// none while the incident is silenced. Ids come from the incident, event,
/// time and webhook, so a store that retries its transaction writes the
/// same ones.
pub fn deliveries(
    before: Option<&Incident>,
    after: Option<&Incident>,
    hooks: &[WebhookRef],
    at: DateTime<Utc>,
) -> Vec<Delivery> {
    let Some(incident) = after else {
        return Vec::new();
    };
    if before.is_some_and(|b| b.triage.silenced(at)) {
        return Vec::new();
    }
    let cells = &incident.cells;
    events(before, after)
        .into_iter()
        .flat_map(|event| {
            hooks.iter().filter(|h| h.hears_of(cells)).map(move |hook| {
                let digest = Sha256::digest(
                    format!(
                        "{}\n{}\n{}\n{}",
                        incident.id,
                        event.as_str(),
                        at.timestamp_micros(),
                        hook.key
                    )
                    .as_bytes(),
                );
                Delivery {
                    id: hex::encode(&digest[..8]),
                    incident: incident.id.clone(),
                    event,
                    webhook: hook.key.clone(),
                    target: hook.target.clone(),
                    state: DeliveryState::Pending,
                    created_at: at,
                    attempts: 0,
                    next_attempt_at: at,
                    last_status: None,
                    last_error: None,
                    delivered_at: None,
                    cell: None,
                    status: None,
                }
            })
        })
        .collect()
}

/// The deliveries a cell notice queues: one per webhook. Ids come from the
/// cell, the event and the silence (the start of its last build before
/// it), so every server that decides on it queues the same ones, once.
/// Due from `due`: a stale notice from when the cell went stale, so it
/// goes out before the notice that it reports again.
pub fn cell_deliveries(
    event: NotifyEvent,
    notice: &CellNotice,
    hooks: &[WebhookRef],
    due: DateTime<Utc>,
) -> Vec<Delivery> {
    let cell = &notice.cell;
    let subject = format!(
        "cell:{}/{}/{}/{}",
        cell.branch, cell.component, cell.arch, cell.build_type
    );
    let cells = [cell.key()];
    hooks
        .iter()
        .filter(|h| h.hears_of(&cells))
        .map(|hook| {
            let digest = Sha256::digest(
                format!(
                    "{subject}\n{}\n{}\n{}",
                    event.as_str(),
                    notice.last_build.timestamp_micros(),
                    hook.key
                )
                .as_bytes(),
            );
            Delivery {
                id: hex::encode(&digest[..8]),
                incident: subject.clone(),
                event,
                webhook: hook.key.clone(),
                target: hook.target.clone(),
                state: DeliveryState::Pending,
                created_at: due,
                attempts: 0,
                next_attempt_at: due,
                last_status: None,
                last_error: None,
                delivered_at: None,
                cell: Some(notice.clone()),
                status: None,
            }
        })
        .collect()
}

/// The body of a cell notice.
pub fn cell_body(
    format: Format,
    event: NotifyEvent,
    notice: &CellNotice,
    dashboard: &str,
) -> Vec<u8> {
    let value = match format {
        Format::Json => json!({ "event": event.as_str(), "cell": notice }),
        Format::Slack => {
            let cell = &notice.cell;
            let link = format!(
                "<{}{}|history>",
                dashboard.trim_end_matches('/'),
                cell.history_path()
            );
            let name = slack_escape(&cell.key().label());
            let branch = slack_escape(&cell.branch);
            let last = notice.last_build.format("%Y-%m-%d %H:%M UTC");
            let text = if event == NotifyEvent::CellReporting {
                format!(":arrow_forward: *{branch}* {name} reports again after a silence since its build of {last} ({link})")
            } else {
                format!(":hourglass: *{branch}* {name} stopped reporting: no build since {last} ({link})")
            };
            json!({ "text": text })
        }
    };
    serde_json::to_vec(&value).expect("JSON values serialize")
}

/// The body a webhook is sent: the incident, the failing tests of its
/// cells at the first bad commit where builds uploaded them, and the
/// mentions of its cells' owners (Slack markup from the config: not
/// escaped).
pub fn body(
    format: Format,
    event: NotifyEvent,
    incident: &Incident,
    failing_tests: &[CellTestFailures],
    mentions: &[String],
    dashboard: &str,
) -> Vec<u8> {
    let value = match format {
        Format::Json => json!({
            "event": event.as_str(),
            "incident": incident,
            "failing_tests": failing_tests,
            "mentions": mentions,
        }),
        Format::Slack => {
            let mut text = slack_text(event, incident, failing_tests, dashboard);
            if !mentions.is_empty() {
                text.push_str(&format!("\ncc {}", mentions.join(" ")));
            }
            json!({ "text": text })
        }
    };
    serde_json::to_vec(&value).expect("JSON values serialize")
}

/// Tests named in a Slack message at most.
const SLACK_TESTS: usize = 10;

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_text(
    event: NotifyEvent,
    incident: &Incident,
    failing_tests: &[CellTestFailures],
    dashboard: &str,
) -> String {
    let link = format!(
        "<{}/incident/{}|incident {}>",
        dashboard.trim_end_matches('/'),
        incident.id,
        incident.id
    );
    let branch = slack_escape(&incident.branch);
    let short = |sha: &str| sha.chars().take(10).collect::<String>();
    match event {
        NotifyEvent::Opened => {
            let cells: Vec<String> = incident
                .red
                .iter()
                .map(|c| slack_escape(&c.label()))
                .collect();
            let mut text = format!(
                ":red_circle: *{branch}* is broken: {} failing since `{}` ({link})",
                cells.join(", "),
                short(&incident.first_bad_commit)
            );
            if !incident.suspects.is_empty() {
                let suspects: Vec<String> = incident
                    .suspects
                    .iter()
                    .map(|s| {
                        let mut line = format!("`{}`", short(&s.commit));
                        if let Some(pr) = s.pr {
                            line.push_str(&format!(" #{pr}"));
                        }
                        if let Some(title) = &s.title {
                            line.push_str(&format!(" {}", slack_escape(title)));
                        }
                        if let Some(author) = &s.author {
                            line.push_str(&format!(" ({})", slack_escape(author)));
                        }
                        line
                    })
                    .collect();
                text.push_str(&format!("\nSuspects: {}", suspects.join("; ")));
            }
            let tests: Vec<String> = failing_tests
                .iter()
                .flat_map(|c| {
                    c.tests.iter().map(move |t| {
                        format!("`{}` ({})", slack_escape(t), slack_escape(&c.cell.arch))
                    })
                })
                .collect();
            if !tests.is_empty() {
                let more = tests.len().saturating_sub(SLACK_TESTS);
                let mut line = tests[..tests.len().min(SLACK_TESTS)].join(", ");
                if more > 0 {
                    line.push_str(&format!(" and {more} more"));
                }
                text.push_str(&format!("\nFailing tests: {line}"));
            }
            let known: Vec<String> = failing_tests
                .iter()
                .flat_map(|c| &c.reasons)
                .filter_map(|g| {
                    let issue = g.known_issue.as_ref()?;
                    let tests = g.tests.len();
                    Some(format!(
                        "<{}|known: {}> ({tests} test{})",
                        slack_escape(&issue.url),
                        slack_escape(&issue.label()),
                        if tests == 1 { "" } else { "s" }
                    ))
                })
                .collect();
            if !known.is_empty() {
                text.push_str(&format!("\nKnown issues: {}", known.join(", ")));
            }
            if let Some(compare) = incident
                .compare_url
                .as_deref()
                .filter(|u| u.starts_with("https://"))
            {
                text.push_str(&format!("\n<{compare}|Compare on GitHub>"));
            }
            text
        }
        // Cells' own messages have their own body ([`cell_body`]); commit
        // statuses go to GitHub, not to webhooks.
        NotifyEvent::CellStale | NotifyEvent::CellReporting | NotifyEvent::CommitStatus => {
            format!("{} ({link})", event.as_str())
        }
        NotifyEvent::Resolved => {
            let cells: Vec<String> = incident
                .cells
                .iter()
                .map(|c| slack_escape(&c.label()))
                .collect();
            format!(
                ":large_green_circle: *{branch}* is green again: {} pass ({link})",
                cells.join(", ")
            )
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: the signature
/// header's value. The timestamp (unix seconds, sent beside it) is signed
/// with the body so that a captured message cannot be replayed later: a
/// receiver refuses messages whose timestamp is old (Slack's and Stripe's
/// scheme).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer: refused, timed out, or the incident or webhook is gone.
    NoAnswer(String),
    /// Nothing can make it succeed (its webhook left the config).
    Abandoned(String),
    /// The receiver asked to wait (GitHub's rate limits): tried again then,
    /// an hour later at most.
    RateLimited { status: u16, until: DateTime<Utc> },
    /// Not sent: a newer state of the same thing is queued.
    Superseded(String),
}

/// The longest wait a rate-limited receiver can ask for.
const MAX_RATE_LIMIT_WAIT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Waits after the `attempts`th failed attempt: 1 s, 2 s, 4 s, ... up to
/// five minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(16)).min(MAX_BACKOFF)
}

/// The delivery held back, without an attempt, until its receiver's rate
/// limit ends (another delivery met it).
pub fn deferred(mut delivery: Delivery, until: DateTime<Utc>, now: DateTime<Utc>) -> Delivery {
    delivery.next_attempt_at = until.clamp(now, now + MAX_RATE_LIMIT_WAIT);
    delivery
}

/// The delivery after an attempt: delivered on 2xx; retried with backoff on
/// no answer, 408, 429 and 5xx; given up on other answers or after
/// [`MAX_ATTEMPTS`].
pub fn after_attempt(mut delivery: Delivery, attempt: Attempt, now: DateTime<Utc>) -> Delivery {
    delivery.attempts += 1;
    let retry = match &attempt {
        Attempt::Answered(status) => {
            delivery.last_status = Some(*status);
            delivery.last_error = None;
            if (200..300).contains(status) {
                delivery.state = DeliveryState::Delivered;
                delivery.delivered_at = Some(now);
                return delivery;
            }
            delivery.last_error = Some(format!("the receiver answered {status}"));
            matches!(status, 408 | 429 | 500..=599)
        }
        Attempt::NoAnswer(error) => {
            delivery.last_error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
            true
        }
        Attempt::Abandoned(why) => {
            delivery.last_error = Some(why.clone());
            false
        }
        Attempt::RateLimited { status, until } => {
            delivery.last_status = Some(*status);
            delivery.last_error = Some(format!("rate limited ({status}) until {until}"));
            if delivery.attempts < MAX_ATTEMPTS {
                delivery.state = DeliveryState::Pending;
                delivery.next_attempt_at = (*until).clamp(now, now + MAX_RATE_LIMIT_WAIT);
                return delivery;
            }
            false
        }
        Attempt::Superseded(why) => {
            delivery.last_error = Some(why.clone());
            delivery.state = DeliveryState::Superseded;
            return delivery;
        }
    };
    if retry && delivery.attempts < MAX_ATTEMPTS {
        delivery.state = DeliveryState::Pending;
        delivery.next_attempt_at =
            now + chrono::Duration::from_std(backoff(delivery.attempts)).unwrap_or_default();
    } else {
        delivery.state = DeliveryState::Failed;
    }
    delivery
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{CellKey, Suspect};
    use chrono::TimeZone;

    fn incident(state: IncidentState) -> Incident {
        let cell = CellKey {
            component: "lte<integ>".into(),
            arch: "arm64".into(),
            build_type: "bazel".into(),
        };
        Incident {
            id: "0123456789abcdef".into(),
            branch: "master".into(),
            state,
            opened_at: at(0),
            resolved_at: None,
            cells: vec![cell.clone()],
            red: vec![cell],
            first_bad_commit: "b".repeat(40),
            last_good_commit: Some("a".repeat(40)),
            suspects: vec![Suspect {
                commit: "b".repeat(40),
                pr: Some(7),
                title: Some("Fix <everything> & more".into()),
                author: Some("dev".into()),
            }],
            suspects_complete: true,
            compare_url: Some("https://github.com/magma/magma/compare/a...b".into()),
            tests: Vec::new(),
            red_tests: Vec::new(),
            triage: Default::default(),
        }
    }

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, second).unwrap()
    }

    fn hooks() -> Vec<WebhookRef> {
        vec![
            WebhookRef {
                key: "k1".into(),
                target: "hooks.slack.com".into(),
                components: None,
            },
            WebhookRef {
                key: "k2".into(),
                target: "example.org".into(),
                components: None,
            },
        ]
    }

    #[test]
    fn opening_and_resolving_each_queue_one_delivery_per_webhook() {
        let open = incident(IncidentState::Open);
        let resolved = incident(IncidentState::Resolved);
        let opened = deliveries(None, Some(&open), &hooks(), at(1));
        assert_eq!(opened.len(), 2);
        assert!(opened.iter().all(|d| d.event == NotifyEvent::Opened));
        assert_ne!(opened[0].id, opened[1].id);
        assert_eq!(
            opened,
            deliveries(None, Some(&open), &hooks(), at(1)),
            "a retried transaction writes the same ids"
        );
        assert!(
            deliveries(Some(&open), Some(&open), &hooks(), at(2)).is_empty(),
            "a cell joining an open incident is not news"
        );
        let done = deliveries(Some(&open), Some(&resolved), &hooks(), at(3));
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|d| d.event == NotifyEvent::Resolved));
        let reopened = deliveries(Some(&resolved), Some(&open), &hooks(), at(4));
        assert_eq!(reopened[0].event, NotifyEvent::Opened);
        assert_ne!(reopened[0].id, opened[0].id, "a reopening is a new event");
        assert!(deliveries(None, Some(&open), &[], at(1)).is_empty());
    }

    #[test]
    fn bodies_carry_the_incident_and_escape_slack_markup() {
        let open = incident(IncidentState::Open);
        let failing = [CellTestFailures {
            cell: open.cells[0].clone(),
            tests: vec!["s1ap::test_attach<1>".into()],
            reasons: vec![app::model::ReasonGroup {
                reason: crate::domain::reason::reason(Some("timeout")),
                tests: vec!["s1ap::test_attach<1>".into()],
                known_issue: Some(app::model::KnownIssueMatch {
                    url: "https://github.com/magma/magma/issues/1234".into(),
                    rule: "r1".into(),
                }),
            }],
        }];
        let json: serde_json::Value = serde_json::from_slice(&body(
            Format::Json,
            NotifyEvent::Opened,
            &open,
            &failing,
            &[],
            "https://ci.example",
        ))
        .unwrap();
        assert_eq!(json["failing_tests"][0]["tests"][0], "s1ap::test_attach<1>");
        assert_eq!(json["event"], "incident.opened");
        assert_eq!(json["incident"]["id"], "0123456789abcdef");
        assert_eq!(json["incident"]["suspects"][0]["pr"], 7);
        let slack: serde_json::Value = serde_json::from_slice(&body(
            Format::Slack,
            NotifyEvent::Opened,
            &open,
            &failing,
            &["<@U024BE7LH>".to_string()],
            "https://ci.example/",
        ))
        .unwrap();
        let text = slack["text"].as_str().unwrap();
        assert!(text.contains("lte&lt;integ&gt; bazel arm64"), "{text}");
        assert!(text.contains("Fix &lt;everything&gt; &amp; more"), "{text}");
        assert!(
            text.contains("Failing tests: `s1ap::test_attach&lt;1&gt;` (arm64)"),
            "{text}"
        );
        assert!(
            text.contains("<https://ci.example/incident/0123456789abcdef|"),
            "{text}"
        );
        assert!(
            text.contains(
                "Known issues: <https://github.com/magma/magma/issues/1234|known: #1234> (1 test)"
            ),
            "{text}"
        );
        assert!(text.ends_with("\ncc <@U024BE7LH>"), "{text}");
        let resolved = body(
            Format::Slack,
            NotifyEvent::Resolved,
            &incident(IncidentState::Resolved),
            &[],
            &[],
            "https://ci.example",
        );
        assert!(String::from_utf8(resolved).unwrap().contains("green again"));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_the_body() {
        // RFC 4231 test case 2's key, over "<timestamp>.<body>".
        assert_eq!(
            signature("Jefe", 1_700_000_000, b"what do ya want for nothing?"),
            "sha256=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
        );
        assert_ne!(
            signature("Jefe", 1_700_000_000, b"body"),
            signature("Jefe", 1_700_000_301, b"body"),
            "a replay with a fresh timestamp does not verify"
        );
    }

    #[test]
    fn attempts_retry_with_backoff_then_give_up() {
        let open = incident(IncidentState::Open);
        let first = deliveries(None, Some(&open), &hooks(), at(0)).remove(0);
        let failed = after_attempt(first.clone(), Attempt::Answered(500), at(10));
        assert_eq!(
            (failed.state, failed.attempts, failed.next_attempt_at),
            (DeliveryState::Pending, 1, at(11))
        );
        let again = after_attempt(failed, Attempt::NoAnswer("refused".into()), at(20));
        assert_eq!(again.next_attempt_at, at(22), "doubles");
        let delivered = after_attempt(again, Attempt::Answered(204), at(30));
        assert_eq!(
            (delivered.state, delivered.delivered_at, delivered.attempts),
            (DeliveryState::Delivered, Some(at(30)), 3)
        );
        let refused = after_attempt(first.clone(), Attempt::Answered(404), at(10));
        assert_eq!(refused.state, DeliveryState::Failed, "404 will not change");
        let throttled = after_attempt(first.clone(), Attempt::Answered(429), at(10));
        assert_eq!(throttled.state, DeliveryState::Pending);
        let mut tired = first;
        tired.attempts = MAX_ATTEMPTS - 1;
        assert_eq!(
            after_attempt(tired, Attempt::Answered(503), at(10)).state,
            DeliveryState::Failed
        );
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn a_rate_limit_waits_as_asked_and_a_superseded_delivery_stops() {
        let open = incident(IncidentState::Open);
        let first = deliveries(None, Some(&open), &hooks(), at(0)).remove(0);
        let limited = Attempt::RateLimited {
            status: 403,
            until: at(40),
        };
        let waits = after_attempt(first.clone(), limited, at(10));
        assert_eq!(
            (waits.state, waits.next_attempt_at, waits.last_status),
            (DeliveryState::Pending, at(40), Some(403))
        );
        let far = Attempt::RateLimited {
            status: 429,
            until: at(0) + chrono::TimeDelta::days(1),
        };
        let capped = after_attempt(first.clone(), far, at(0));
        assert_eq!(capped.next_attempt_at, at(0) + MAX_RATE_LIMIT_WAIT);
        let deferred = deferred(first.clone(), at(50), at(10));
        assert_eq!(
            (deferred.state, deferred.attempts, deferred.next_attempt_at),
            (DeliveryState::Pending, 0, at(50))
        );
        let done = after_attempt(first, Attempt::Superseded("finished".into()), at(10));
        assert_eq!(
            (done.state, done.delivered_at),
            (DeliveryState::Superseded, None)
        );
    }

    #[test]
    fn webhooks_are_checked_and_never_print_their_url() {
        let config = NotifyConfig::parse(
            r#"
            failures_to_open = 2
            [[webhook]]
            url = "https://hooks.slack.com/services/T/B/SECRET"
            format = "slack"
            [[webhook]]
            url = "http://127.0.0.1:9/hook"
            format = "json"
            secret = "s"
            "#,
        )
        .unwrap();
        let (incidents, hooks, _) = config.split().unwrap();
        assert_eq!(incidents.failures_to_open, Some(2));
        assert_eq!(hooks.len(), 2);
        assert!(!format!("{hooks:?}").contains("SECRET"));
        assert_eq!(hooks[0].target(), "hooks.slack.com");
        let bad = |toml: &str| NotifyConfig::parse(toml).and_then(NotifyConfig::split);
        assert!(bad("[[webhook]]\nurl = \"ftp://x/\"\nformat = \"json\"")
            .unwrap_err()
            .contains("http(s)"));
        assert!(bad("[[webhook]]\nurl = \"https://x/\"\nformat = \"xml\"").is_err());
        assert!(
            bad("[[webhook]]\nurl = \"https://x/\"\nformat = \"json\"\nsecret = \"\"")
                .unwrap_err()
                .contains("secret")
        );
        assert!(bad("colour = 1").is_err());
        assert!(bad("[[owner]]\ncomponent = \"lte\"")
            .unwrap_err()
            .contains("owner 1: give a mention, a webhook, or both"));
    }

    #[test]
    fn owners_hear_of_their_components_and_are_mentioned() {
        let config = NotifyConfig::parse(
            r#"
            [[webhook]]
            url = "https://hooks.example/all"
            format = "json"
            [[owner]]
            component = "lte"
            mention = "<!subteam^S0LTE>"
            webhook = "https://hooks.example/lte"
            [[owner]]
            component = "orc8r"
            mention = "<@U0ORC8R>"
            "#,
        )
        .unwrap();
        let (_, hooks, owners) = config.split().unwrap();
        assert_eq!(hooks.len(), 2);
        assert_eq!(
            hooks[1].format,
            Format::Slack,
            "an owner's webhook is Slack's unless said"
        );
        let refs: Vec<WebhookRef> = hooks.iter().map(Webhook::as_ref).collect();
        let mut open = incident(IncidentState::Open);
        let queued = |i: &Incident| deliveries(None, Some(i), &refs, at(0)).len();
        assert_eq!(
            queued(&open),
            1,
            "another component: the general webhook only"
        );
        open.cells.push(CellKey::new("lte", "amd64", "integ-test"));
        assert_eq!(queued(&open), 2, "lte's owners hear of it too");
        assert_eq!(Owner::mentions(&owners, &open.cells), ["<!subteam^S0LTE>"]);
    }
}
