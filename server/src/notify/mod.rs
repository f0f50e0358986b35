//! The delivery worker: now and then queues the messages of cells that went
//! stale, and takes due webhook deliveries and GitHub commit statuses from
//! the store's queue
//! under a lease, sends them, and stores how each attempt went. Posts only
//! queue deliveries (in their incident transaction) and ring a bell, so a
//! slow or dead receiver never slows ingestion; the lease makes one server
//! of several send each delivery; the queue being in the store makes a
//! restart lose none. A server killed mid-send leaves its lease to expire
//! and the delivery is sent again: receivers can drop repeats by the
//! `X-CI-Dashboard-Delivery` header.

use std::sync::Arc;
use std::time::Duration;

use app::model::Delivery;
use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{watch, Notify};

use crate::domain::github::STATUS_WEBHOOK;
use crate::domain::notification::{self, Attempt, Owner, Webhook};
use crate::service::Service;
use crate::store::Store;

pub mod github;

use github::StatusSender;

/// How long a claimed delivery is this server's: longer than an attempt.
const LEASE: Duration = Duration::from_secs(60);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the queue is looked at without a bell: retries come due and
/// other servers' posts queue deliveries.
const POLL: Duration = Duration::from_secs(1);
const CLAIM_BATCH: usize = 16;
const PARALLEL_SENDS: usize = 4;

pub struct Deliverer {
    store: Arc<dyn Store>,
    /// Reads the failing tests a message names.
    service: Service,
    webhooks: Arc<Vec<Webhook>>,
    /// Whom incident messages mention, by component.
    owners: Arc<Vec<Owner>>,
    /// Where incident links in messages point.
    dashboard_url: String,
    outbox: Arc<Notify>,
    /// This process, as the holder of leases.
    owner: String,
    /// How often stale cells are looked for.
    stale_check: Duration,
    client: reqwest::Client,
    /// Sets commit statuses, when they are configured.
    statuses: Option<StatusSender>,
}

impl Deliverer {
    pub fn new(
        service: Service,
        webhooks: Arc<Vec<Webhook>>,
        owners: Arc<Vec<Owner>>,
        dashboard_url: String,
        stale_check: Duration,
        statuses: Option<StatusSender>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // A redirect would send the signed body somewhere not configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ci-dashboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer {
            store: service.store.clone(),
            outbox: service.outbox.clone(),
            service,
            webhooks,
            owners,
            dashboard_url,
            owner: uuid::Uuid::new_v4().to_string(),
            stale_check,
            client,
            statuses,
        })
    }

    /// Delivers until `stopping` turns true; attempts under way finish and
    /// are recorded first.
    pub async fn run(self, mut stopping: watch::Receiver<bool>) {
        let mut next_stale_check = tokio::time::Instant::now();
        while !*stopping.borrow() {
            if tokio::time::Instant::now() >= next_stale_check {
                next_stale_check += self.stale_check;
                if let Err(e) = self.service.announce_stale(Utc::now()).await {
                    tracing::warn!(error = %e, "cannot look for stale cells");
                }
            }
            match self.deliver_due().await {
                Ok(0) => {}
                // A full batch may mean more are due.
                Ok(_) => continue,
                Err(e) => tracing::warn!(error = %e, "cannot read the delivery queue"),
            }
            tokio::select! {
                _ = self.outbox.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                changed = stopping.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
    }

    async fn deliver_due(&self) -> Result<usize, crate::store::StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let claimed = self
            .store
            .claim_deliveries(&self.owner, now, until, CLAIM_BATCH)
            .await?;
        let count = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(PARALLEL_SENDS, |delivery| self.deliver(delivery))
            .await;
        Ok(count)
    }

    async fn deliver(&self, delivery: Delivery) {
        let now = Utc::now();
        let paused = match &self.statuses {
            Some(sender) if delivery.webhook == STATUS_WEBHOOK => sender.paused(now),
            _ => None,
        };
        let after = match paused {
            Some(until) => notification::deferred(delivery, until, now),
            None => {
                let attempt = self.attempt(&delivery).await;
                notification::after_attempt(delivery, attempt, Utc::now())
            }
        };
        metrics::counter!("webhook_attempts_total", "state" => format!("{:?}", after.state).to_lowercase())
            .increment(1);
        match self.store.finish_delivery(&after, &self.owner).await {
            Ok(true) => tracing::info!(
                delivery = %after.id, incident = %after.incident, event = after.event.as_str(),
                target = %after.target, state = ?after.state, status = ?after.last_status,
                error = ?after.last_error, "webhook delivery"
            ),
            Ok(false) => {
                tracing::warn!(delivery = %after.id, "the delivery's lease ran out before its attempt was recorded")
            }
            Err(e) => {
                tracing::warn!(delivery = %after.id, error = %e, "cannot record a delivery attempt; it is retried when its lease ends")
            }
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> Attempt {
        if delivery.webhook == STATUS_WEBHOOK {
            return match &self.statuses {
                Some(sender) => {
                    sender
                        .send(&self.client, &self.service, &self.dashboard_url, delivery)
                        .await
                }
                None => Attempt::Abandoned("commit statuses are no longer configured".into()),
            };
        }
        let Some(hook) = self.webhooks.iter().find(|h| h.key() == delivery.webhook) else {
            return Attempt::Abandoned("the webhook is no longer configured".into());
        };
        let body = match &delivery.cell {
            Some(notice) => {
                notification::cell_body(hook.format, delivery.event, notice, &self.dashboard_url)
            }
            None => match self.incident_body(hook, delivery).await {
                Ok(body) => body,
                Err(attempt) => return attempt,
            },
        };
        let mut request = self
            .client
            .post(hook.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-CI-Dashboard-Event", delivery.event.as_str())
            .header("X-CI-Dashboard-Delivery", &delivery.id);
        if let Some(secret) = &hook.secret {
            let timestamp = chrono::Utc::now().timestamp();
            request = request
                .header("X-CI-Dashboard-Timestamp", timestamp)
                .header(
                    "X-CI-Dashboard-Signature",
                    notification::signature(secret, timestamp, &body),
                );
        }
        match request.body(body).send().await {
            Ok(response) => Attempt::Answered(response.status().as_u16()),
            // The URL may hold a credential (Slack's do): never stored.
            Err(e) => Attempt::NoAnswer(e.without_url().to_string()),
        }
    }

    /// An incident's message, sent as the incident is now: its suspects are
    /// found after it opens.
    async fn incident_body(&self, hook: &Webhook, delivery: &Delivery) -> Result<Vec<u8>, Attempt> {
        let incident = match self.store.incident(&delivery.incident).await {
            Ok(Some(incident)) => incident,
            Ok(None) => return Err(Attempt::Abandoned("the incident is gone".into())),
            Err(e) => return Err(Attempt::NoAnswer(format!("cannot read the incident: {e}"))),
        };
        // Tests are a bonus: a message without them beats no message.
        let failing_tests = match self.service.incident_failing_tests(&incident).await {
            Ok(tests) => tests,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an incident's failing tests");
                Vec::new()
            }
        };
        Ok(notification::body(
            hook.format,
            delivery.event,
            &incident,
            &failing_tests,
            &Owner::mentions(&self.owners, &incident.cells),
            &self.dashboard_url,
        ))
    }
}
