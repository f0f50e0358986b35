//! Setting commit statuses through GitHub's REST API
//! (`POST /repos/{owner}/{repo}/statuses/{sha}`), as its answers ask: a
//! rate limit (`403`/`429` with `Retry-After`, or `X-RateLimit-Remaining:
//! 0` until `X-RateLimit-Reset`) holds back every status until it ends, not
//! only the one that met it.

use std::sync::Mutex;

use app::model::Delivery;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::HeaderMap;
use serde_json::json;

use crate::domain::notification::Attempt;
use crate::domain::token::Secret;
use crate::service::github::StatusNow;
use crate::service::Service;

pub struct StatusSender {
    api: url::Url,
    token: Secret,
    /// Until when GitHub asked for no more requests.
    paused_until: Mutex<Option<DateTime<Utc>>>,
}

impl StatusSender {
    pub fn new(api: url::Url, token: Secret) -> Self {
        StatusSender {
            api,
            token,
            paused_until: Mutex::new(None),
        }
    }

    /// Until when GitHub asked for no more requests, if it still does.
    pub fn paused(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.paused_until
            .lock()
            .expect("not poisoned")
            .filter(|until| *until > now)
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        service: &Service,
        dashboard_url: &str,
        delivery: &Delivery,
    ) -> Attempt {
        let Some(notice) = &delivery.status else {
            return Attempt::Abandoned("a commit status without its notice".into());
        };
        let status = match service.commit_status(notice).await {
            Ok(StatusNow::Send(status)) => status,
            Ok(StatusNow::Superseded(why)) => return Attempt::Superseded(why),
            Err(e) => return Attempt::NoAnswer(format!("cannot read the commit: {e}")),
        };
        let url = format!(
            "{}/repos/{}/statuses/{}",
            self.api.as_str().trim_end_matches('/'),
            notice.repository,
            notice.commit
        );
        let body = json!({
            "state": status.state.as_str(),
            "target_url": format!("{}/commit/{}", dashboard_url.trim_end_matches('/'), notice.commit),
            "description": status.description,
            "context": notice.context,
        });
        let answer = client
            .post(url)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .json(&body)
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(e) => return Attempt::NoAnswer(e.without_url().to_string()),
        };
        let code = response.status().as_u16();
        let limit = rate_limit(code, response.headers(), Utc::now());
        if let Some(until) = limit.pause {
            *self.paused_until.lock().expect("not poisoned") = Some(until);
        }
        match limit.refused_until {
            Some(until) => Attempt::RateLimited {
                status: code,
                until,
            },
            None => Attempt::Answered(code),
        }
    }
}

/// What an answer says of GitHub's rate limits.
#[derive(Debug, PartialEq, Eq)]
struct RateLimit {
    /// Until when no request may be sent (the budget is spent).
    pause: Option<DateTime<Utc>>,
    /// This request was refused for the rate limit: retry then.
    refused_until: Option<DateTime<Utc>>,
}

/// GitHub's rules: a `403` or `429` is a rate limit when it says when to
/// come back (`Retry-After` seconds, or a spent budget and its reset);
/// without them, a `429` waits a minute and a `403` is a refusal (a token
/// without the permission). Any answer with no budget left pauses sending.
fn rate_limit(status: u16, headers: &HeaderMap, now: DateTime<Utc>) -> RateLimit {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let retry_after = header("retry-after").map(|s| now + TimeDelta::seconds(s.max(0)));
    let spent = header("x-ratelimit-remaining") == Some(0);
    let reset = header("x-ratelimit-reset")
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .filter(|_| spent);
    let pause = retry_after.or(reset);
    let refused_until = match status {
        403 => pause,
        429 => pause.or(Some(now + TimeDelta::minutes(1))),
        _ => None,
    };
    RateLimit {
        pause: pause.or(refused_until),
        refused_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn rate_limit_answers_are_read_as_github_documents_them() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let later = |s: i64| now + TimeDelta::seconds(s);
        let spent = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000042"),
        ]);
        assert_eq!(
            rate_limit(403, &spent, now),
            RateLimit {
                pause: Some(later(42)),
                refused_until: Some(later(42))
            },
            "primary limit"
        );
        let secondary = headers(&[("retry-after", "60")]);
        assert_eq!(
            rate_limit(403, &secondary, now).refused_until,
            Some(later(60))
        );
        assert_eq!(
            rate_limit(429, &HeaderMap::new(), now).refused_until,
            Some(later(60)),
            "a 429 without headers waits a minute"
        );
        assert_eq!(
            rate_limit(403, &headers(&[("x-ratelimit-remaining", "12")]), now),
            RateLimit {
                pause: None,
                refused_until: None
            },
            "a 403 with budget left is a refusal"
        );
        assert_eq!(
            rate_limit(201, &spent, now),
            RateLimit {
                pause: Some(later(42)),
                refused_until: None
            },
            "the last request of the budget went through; the next ones wait"
        );
    }
}
