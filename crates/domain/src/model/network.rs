//! Client addresses and IP allowlists: which address a request comes from (the socket peer,
//! or `X-Forwarded-For` only from a trusted proxy) and whether an allowlist admits it.

use std::net::IpAddr;

use ipnet::IpNet;

pub const ALLOWLIST_MAX: usize = 50;

/// The client address: the socket peer, unless the peer is a trusted proxy, in which case
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(xff) = forwarded_for else {
        return peer;
    };
    let mut hops = xff.split(',').map(str::trim).rev();
    let mut last_trusted = peer;
    for hop in hops.by_ref() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&canonical(ip)) => last_trusted = canonical(ip),
            Ok(ip) => return canonical(ip),
            // A malformed hop: stop believing the chain there.
            Err(_) => return last_trusted,
        }
    }
    last_trusted
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The subject of per-address buckets: the address for IPv4, its /64 network for IPv6 (one
/// customer is typically given a whole /64).
pub fn bucket_subject(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V6(v6) => format!(
            "ip:{}",
            ipnet::Ipv6Net::new(v6, 64).map_or_else(|_| v6.to_string(), |n| n.trunc().to_string())
        ),
        v4 => format!("ip:{v4}"),
    }
}

/// An empty allowlist admits everyone.
pub fn allowed(allowlist: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    allowlist.is_empty() || allowlist.iter().any(|n| n.contains(&ip))
}

/// Parses one allowlist entry: a CIDR, or a bare address meaning just that address.
/// Host bits are cleared, so `10.1.2.3/8` is stored as `10.0.0.0/8`.
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net.trunc());
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| IpNet::from(canonical(ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = vec![parse_cidr("10.0.0.0/8").unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("1.2.3.4"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("6.6.6.6, 1.2.3.4, 10.0.0.7"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("garbage"), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn mapped_peers_and_v6_buckets() {
        let trusted = vec![parse_cidr("10.0.0.0/8").unwrap()];
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), Some("1.2.3.4"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            bucket_subject(ip("2001:db8:1:2:3:4:5:6")),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            bucket_subject(ip("2001:db8:1:2:ffff::1")),
            bucket_subject(ip("2001:db8:1:2::9"))
        );
        assert_eq!(bucket_subject(ip("::ffff:192.0.2.1")), "ip:192.0.2.1");
    }

    #[test]
    fn allowlists() {
        let list = vec![
            parse_cidr("192.0.2.0/24").unwrap(),
            parse_cidr("2001:db8::1").unwrap(),
        ];
        assert!(allowed(&list, ip("192.0.2.77")));
        assert!(allowed(&list, ip("::ffff:192.0.2.77")));
        assert!(allowed(&list, ip("2001:db8::1")));
        assert!(!allowed(&list, ip("192.0.3.1")));
        assert!(allowed(&[], ip("192.0.3.1")));
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("not an ip").is_none());
    }
}
