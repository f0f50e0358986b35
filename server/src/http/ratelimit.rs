//! Per-token ingestion rate limit: a runaway CI loop with one token cannot
//! starve the other posters or the store.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

pub struct TokenLimiter {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl TokenLimiter {
    /// `per_second` posts per token on average, in bursts of up to
    /// `burst`; `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
        Some(TokenLimiter {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        })
    }

    /// `Err` with how long to wait when the token is over its limit.
    pub fn check(&self, token_name: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&token_name.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_token_has_its_own_budget() {
        let limiter = TokenLimiter::new(1, 2).unwrap();
        assert!(limiter.check("ci").is_ok());
        assert!(limiter.check("ci").is_ok());
        let wait = limiter.check("ci").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(limiter.check("lab").is_ok());
        assert!(TokenLimiter::new(0, 10).is_none());
    }
}
