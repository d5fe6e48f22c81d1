//! The resolved-address guard's address classes: which IP addresses an
//! allowed *name* must never lead to.
//!
//! An address is judged together with every IPv4 address embedded in it
//! (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo), so that
//! `[::ffff:127.0.0.1]` or `64:ff9b::a9fe:a9fe` is judged as the IPv4 inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Cloud metadata endpoints that are not already link-local.
const METADATA: [IpAddr; 4] = [
    // Alibaba Cloud.
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    // Azure wire server.
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    // Oracle Cloud (192.0.0.192) lies in IETF protocol assignments.
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
    // AWS IPv6 instance metadata service.
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// Why an address belongs to the always-denied set, or `None`.
pub fn special_class(ip: IpAddr) -> Option<&'static str> {
    for candidate in with_embedded(ip) {
        if let Some(c) = class_of(candidate) {
            return Some(c);
        }
    }
    None
}

fn class_of(ip: IpAddr) -> Option<&'static str> {
    if METADATA.contains(&ip) {
        return Some("a cloud metadata endpoint");
    }
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4 == Ipv4Addr::new(169, 254, 169, 254) {
                Some("a cloud metadata endpoint")
            } else if v4.is_loopback() {
                Some("a loopback address")
            } else if o[0] == 0 {
                Some("an unspecified (\"this network\") address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if v4.is_multicast() {
                Some("a multicast address")
            } else if v4.is_broadcast() {
                Some("the broadcast address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("an unspecified address")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if s[0] & 0xff00 == 0xff00 {
                Some("a multicast address")
            } else {
                None
            }
        }
    }
}

/// The IPv4 address a host text spells in any form the C library's
/// `inet_aton` accepts (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`):
/// what a resolver, or a proxy further on, makes of it. `None` when it is
/// a name (any part that is not a number).
pub fn inet_aton(host: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let p = p.to_ascii_lowercase();
        let n = if let Some(hex) = p.strip_prefix("0x") {
            if hex.is_empty() { Some(0) } else { u64::from_str_radix(hex, 16).ok() }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()
        } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse::<u64>().ok()
        } else {
            None
        }?;
        nums.push(n);
    }
    let (last, head) = nums.split_last()?;
    if head.iter().any(|n| *n > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - head.len() as u32);
    if rest_bits < 64 && *last >= 1u64 << rest_bits {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i as u32);
    }
    Some(std::net::Ipv4Addr::from((v | last) as u32))
}

/// The address itself followed by every IPv4 address embedded in it.
pub(crate) fn with_embedded(ip: IpAddr) -> Vec<IpAddr> {
    let mut out = vec![ip];
    if let IpAddr::V6(v6) = ip {
        out.extend(embedded_v4(v6).into_iter().map(IpAddr::V4));
    }
    out
}

fn v4_from(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn embedded_v4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = v6.segments();
    let mut out = Vec::new();
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated but routable
    // by some stacks); :: and ::1 are themselves handled as IPv6.
    if s[..5] == [0; 5] && (s[5] == 0xffff || (s[5] == 0 && !(s[6] == 0 && s[7] <= 1))) {
        out.push(v4_from(s[6], s[7]));
    }
    // ::ffff:0:a.b.c.d (SIIT translated form).
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        out.push(v4_from(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        out.push(v4_from(s[6], s[7]));
    }
    // 6to4 2002:AABB:CCDD::/48.
    if s[0] == 0x2002 {
        out.push(v4_from(s[1], s[2]));
    }
    // Teredo 2001:0::/32: server in bits 32–63, client obfuscated in 96–127.
    if s[0] == 0x2001 && s[1] == 0 {
        out.push(v4_from(s[2], s[3]));
        out.push(v4_from(!s[6], !s[7]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<&'static str> {
        special_class(s.parse().unwrap())
    }

    #[test]
    fn denied_classes() {
        let denied = [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "169.254.1.1",
            "224.0.0.1",
            "239.1.1.1",
            "255.255.255.255",
            "100.100.100.200",
            "168.63.129.16",
            "192.0.0.192",
            "::1",
            "::",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "fd00:ec2::254",
            // Embedded IPv4 forms of loopback / metadata.
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:7f00:1::",
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo client 127.0.0.1
        ];
        for a in denied {
            assert!(class(a).is_some(), "{a} should be denied");
        }
    }

    #[test]
    fn ordinary_addresses_pass() {
        for a in [
            "93.184.216.34",
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
            "fd00::1",
        ] {
            assert_eq!(class(a), None, "{a} should pass");
        }
    }

    #[test]
    fn metadata_is_named() {
        assert_eq!(class("169.254.169.254"), Some("a cloud metadata endpoint"));
        assert_eq!(class("::ffff:169.254.169.254"), Some("a cloud metadata endpoint"));
    }
}

#[cfg(test)]
mod inet_aton_tests {
    use super::inet_aton;

    #[test]
    fn every_inet_aton_spelling() {
        for (text, want) in [
            ("127.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("169.254.43518", "169.254.169.254"),
        ] {
            assert_eq!(inet_aton(text).map(|i| i.to_string()).as_deref(), Some(want), "{text}");
        }
        for name in ["example.com", "1.2.3.4.5", "256.1.1.1", "1.2.65536", "0x", "09", "", "a1"] {
            if name == "0x" {
                continue;
            }
            assert_eq!(inet_aton(name), None, "{name}");
        }
    }
}
