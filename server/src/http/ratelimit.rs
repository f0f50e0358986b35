//! Rate limits. Per token on ingestion: a runaway CI loop with one token
//! cannot starve the other posters or the store. Per client address on
//! everything anonymous: one address scanning listings cannot take the CPU
//! that CI posts and other readers need.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::client::client_of;
use crate::domain::validation::MAX_BATCH;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

pub struct TokenLimiter {
    posts: Option<Keyed<String>>,
    builds: Option<Keyed<String>>,
    clock: DefaultClock,
}

fn keyed<K: Hash + Eq + Clone>(per_second: u32, burst: u32) -> Option<Keyed<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl TokenLimiter {
    /// `posts_per_second` posts per token on average, in bursts of up to
    /// `burst`, and `builds_per_second` builds in bursts of twice that (at
    /// least one full post); `None` when both are 0 (no limit).
    pub fn new(posts_per_second: u32, burst: u32, builds_per_second: u32) -> Option<Self> {
        let builds_burst = builds_per_second.saturating_mul(2).max(MAX_BATCH as u32);
        let limiter = TokenLimiter {
            posts: keyed(posts_per_second, burst),
            builds: keyed(builds_per_second, builds_burst),
            clock: DefaultClock::default(),
        };
        (limiter.posts.is_some() || limiter.builds.is_some()).then_some(limiter)
    }

    /// `Err` with how long to wait when the token is over its post limit.
    pub fn check(&self, token_name: &str) -> Result<(), Duration> {
        self.take(&self.posts, token_name, 1)
    }

    /// `Err` with how long to wait when `builds` more are over the token's
    /// build limit.
    pub fn check_builds(&self, token_name: &str, builds: usize) -> Result<(), Duration> {
        self.take(&self.builds, token_name, builds)
    }

    fn take(
        &self,
        limiter: &Option<Keyed<String>>,
        token_name: &str,
        n: usize,
    ) -> Result<(), Duration> {
        let (Some(limiter), Some(n)) = (limiter, NonZeroU32::new(n as u32)) else {
            return Ok(());
        };
        match limiter.check_key_n(&token_name.to_string(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // More than a whole burst: never fits; the burst is at least
            // one full post, so only an oversized post gets here.
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

pub struct AddressLimiter {
    limiter: Keyed<IpAddr>,
    clock: DefaultClock,
}

impl AddressLimiter {
    /// `per_second` requests per address on average, in bursts of `burst`;
    /// `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        Some(AddressLimiter {
            limiter: keyed(per_second, burst)?,
            clock: DefaultClock::default(),
        })
    }

    /// `Err` with how long to wait when the address is over its limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&client_of(ip))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets addresses whose budget is full again, so the table holds
    /// only recent clients.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_token_has_its_own_budget() {
        let limiter = TokenLimiter::new(1, 2, 0).unwrap();
        assert!(limiter.check("ci").is_ok());
        assert!(limiter.check("ci").is_ok());
        let wait = limiter.check("ci").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(limiter.check("lab").is_ok());
        assert!(TokenLimiter::new(0, 10, 0).is_none());
    }

    #[test]
    fn each_address_has_its_own_budget_and_a_v6_client_is_its_64() {
        let limiter = AddressLimiter::new(1, 2).unwrap();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(limiter.check(a).is_ok() && limiter.check(a).is_ok());
        assert!(limiter.check(a).is_err());
        assert!(limiter.check("10.0.0.2".parse().unwrap()).is_ok());
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(limiter.check(v6("2001:db8::1")).is_ok());
        assert!(limiter.check(v6("2001:db8::ffff:2")).is_ok());
        assert!(limiter.check(v6("2001:db8::3:3")).is_err(), "same /64");
        assert!(limiter.check(v6("2001:db8:0:1::1")).is_ok());
        // On a dual-stack listener IPv4 peers arrive mapped into IPv6: each
        // is still its own client, not one bucket for every IPv4 user.
        assert!(limiter.check(v6("::ffff:10.0.0.3")).is_ok());
        assert!(limiter.check(v6("::ffff:10.0.0.3")).is_ok());
        assert!(limiter.check(v6("::ffff:10.0.0.4")).is_ok());
        assert!(limiter.check(v6("::ffff:10.0.0.1")).is_err(), "10.0.0.1");
        limiter.forget_idle();
        assert!(AddressLimiter::new(0, 10).is_none());
    }

    #[test]
    fn builds_are_counted_too() {
        let limiter = TokenLimiter::new(0, 0, 1000).unwrap();
        assert!(limiter.check("ci").is_ok(), "no post limit");
        // Bursts of twice the rate: two full posts, then wait.
        assert!(limiter.check_builds("ci", 1000).is_ok());
        assert!(limiter.check_builds("ci", 1000).is_ok());
        let wait = limiter.check_builds("ci", 1000).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limiter.check_builds("lab", 1000).is_ok());
    }
}
