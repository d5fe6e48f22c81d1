//! This host's own interface addresses, which the resolved-address guard
//! denies (a name that resolves to the supervisor's host is a way back in).

use std::net::IpAddr;

/// Every address of this host's interfaces (IPv4 and IPv6, deduplicated), as
/// `getifaddrs(3)` reports them now. Empty if the call fails: the guard still
/// denies loopback, link-local and the other fixed classes.
///
/// Read it once when the proxy starts; an address added later (a new VPN
/// interface) is not known to a running proxy.
pub fn host_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let Ok(ifaddrs) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for ifa in ifaddrs {
        let Some(addr) = ifa.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_loopback() {
        let addrs = host_addresses();
        assert!(addrs.iter().any(|a| a.is_loopback()), "{addrs:?}");
    }
}
