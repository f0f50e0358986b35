//! Caps on what clients hold open at once (connections, event streams):
//! one client address may take only so many, and all clients together
//! only so many, so nobody can exhaust memory or file descriptors by
//! opening and never closing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::client::client_of;

pub struct Slots {
    /// What is held, for the `http_open` gauge.
    what: &'static str,
    total: usize,
    per_client: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// Why a slot was refused: all are taken (answer 503), or this client
/// holds its share (answer 429).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Full,
    ClientFull,
}

/// A held slot; dropping it frees it.
pub struct Slot {
    slots: Arc<Slots>,
    client: IpAddr,
}

impl Slots {
    pub fn new(what: &'static str, total: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Slots {
            what,
            total,
            per_client,
            held: Mutex::default(),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // Counting cannot leave the map half-updated: a poisoned lock is fine.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn take(self: &Arc<Self>, address: IpAddr) -> Result<Slot, Refused> {
        let client = client_of(address);
        let mut held = self.held();
        if held.total >= self.total {
            return Err(Refused::Full);
        }
        let mine = held.by_client.entry(client).or_default();
        if *mine >= self.per_client {
            return Err(Refused::ClientFull);
        }
        *mine += 1;
        held.total += 1;
        super::metrics::open(self.what, held.total);
        Ok(Slot {
            slots: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held();
        held.total -= 1;
        super::metrics::open(self.slots.what, held.total);
        if let Some(mine) = held.by_client.get_mut(&self.client) {
            *mine -= 1;
            // Addresses that left must not accumulate.
            if *mine == 0 {
                held.by_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_client_gets_its_share_and_no_more() {
        let slots = Slots::new("test", 10, 2);
        let _a = slots.take(ip(1)).unwrap();
        let _b = slots.take(ip(1)).unwrap();
        assert_eq!(slots.take(ip(1)).err(), Some(Refused::ClientFull));
        assert!(slots.take(ip(2)).is_ok());
    }

    #[test]
    fn all_clients_together_get_the_total() {
        let slots = Slots::new("test", 3, 2);
        let held: Vec<_> = (1..=3).map(|i| slots.take(ip(i)).unwrap()).collect();
        assert_eq!(slots.take(ip(4)).err(), Some(Refused::Full));
        drop(held);
        assert_eq!(slots.held().total, 0);
        assert!(slots.take(ip(4)).is_ok());
    }

    #[test]
    fn a_client_is_counted_the_way_the_rate_limit_counts_it() {
        let slots = Slots::new("test", 10, 2);
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let _a = slots.take(v6("2001:db8::1")).unwrap();
        let _b = slots.take(v6("2001:db8::2")).unwrap();
        assert_eq!(
            slots.take(v6("2001:db8::3")).err(),
            Some(Refused::ClientFull),
            "rotating addresses inside one /64 is one client"
        );
        assert!(slots.take(v6("2001:db8:0:1::1")).is_ok());
        let _c = slots.take(v6("::ffff:127.0.0.2")).unwrap();
        let _d = slots.take(IpAddr::from([127, 0, 0, 2])).unwrap();
        assert_eq!(
            slots.take(v6("::ffff:127.0.0.2")).err(),
            Some(Refused::ClientFull),
            "a mapped IPv4 address is that IPv4 client"
        );
        assert!(slots.take(v6("::ffff:127.0.0.3")).is_ok());
    }

    #[test]
    fn freed_slots_forget_the_client() {
        let slots = Slots::new("test", 10, 1);
        drop(slots.take(ip(1)).unwrap());
        assert!(slots.held().by_client.is_empty());
        assert!(slots.take(ip(1)).is_ok());
    }
}
