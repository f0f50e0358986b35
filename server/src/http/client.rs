//! Who a client is, for every per-client cap and limit: one rule, so that
//! an address cannot escape one cap by the way another counts it.

use std::net::IpAddr;

/// The client an address belongs to. An IPv6 client usually holds a whole
/// /64, so it counts as its /64; an IPv4 peer on a dual-stack listener
/// arrives as `::ffff:a.b.c.d` and counts as the IPv4 address it is.
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::from(segments)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_clients_are_their_address_even_when_mapped_into_ipv6() {
        assert_eq!(client_of(ip("127.0.0.2")), ip("127.0.0.2"));
        assert_eq!(client_of(ip("::ffff:127.0.0.2")), ip("127.0.0.2"));
        assert_ne!(
            client_of(ip("::ffff:127.0.0.2")),
            client_of(ip("::ffff:127.0.0.3"))
        );
    }

    #[test]
    fn ipv6_clients_are_their_64() {
        assert_eq!(client_of(ip("::1")), ip("::"));
        assert_eq!(
            client_of(ip("2001:db8::1")),
            client_of(ip("2001:db8::ffff:2"))
        );
        assert_ne!(
            client_of(ip("2001:db8::1")),
            client_of(ip("2001:db8:0:1::1"))
        );
    }
}
