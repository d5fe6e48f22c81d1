//! Domain pattern entries and requested host names. Never panics; an allow
//! pattern is never allow-all; parsing is deterministic; a deny list accepts
//! everything an allow list does; a pattern matches the host it names.

#![no_main]

use libfuzzer_sys::fuzz_target;
use srt_policy::domain::{DomainPattern, Host, HostPattern, PatternList, normalize_host};

const HOSTS: [&str; 12] = [
    "example.com",
    "a.example.com",
    "A.B.Example.COM.",
    "evil-example.com",
    "localhost",
    "internal-api.corp",
    "127.0.0.1",
    "[::1]",
    "::ffff:127.0.0.1",
    "10.0.0.1",
    "xn--bcher-kva.example",
    "under_score.example.com",
];

const PORTS: [u16; 4] = [1, 22, 443, 65535];

/// A host name the pattern must cover, if one can be built from it.
fn own_host(p: &DomainPattern) -> Option<String> {
    match &p.host {
        HostPattern::Any => Some("anything.example".into()),
        HostPattern::Exact(h) => Some(h.clone()),
        HostPattern::Subdomains(s) => Some(format!("x.{s}")),
        HostPattern::Wildcard(w) => Some(w.replace('*', "x")),
        HostPattern::Ip(std::net::IpAddr::V6(v6)) => Some(format!("[{v6}]")),
        HostPattern::Ip(ip) => Some(ip.to_string()),
    }
}

fn exercise(s: &str, list: PatternList) -> Option<DomainPattern> {
    let p = DomainPattern::parse(s, list, false).ok()?;
    if list == PatternList::Allowed {
        assert_ne!(p.host, HostPattern::Any, "allow list accepted allow-all {s:?}");
    }
    assert_eq!(p.source, s, "source is the entry as written");
    let again = DomainPattern::parse(&p.source, list, false);
    assert_eq!(again.as_ref(), Ok(&p), "re-parsing the source of {s:?} differs");
    for h in HOSTS {
        if let Some(host) = normalize_host(h) {
            for port in PORTS {
                let _ = p.matches(&host, port);
            }
        }
    }
    // A name longer than 253 characters is no host; patterns that could only
    // match such names match nothing, which is harmless.
    if let Some(h) = own_host(&p).filter(|h| h.len() <= 253) {
        let host = normalize_host(&h);
        let host =
            host.unwrap_or_else(|| panic!("{s:?} ({:?}) names host {h:?}, which normalize_host rejects", p.host));
        let port = p.port.unwrap_or(443);
        assert!(p.matches(&host, port), "{s:?} ({:?}) does not match its own host {host:?}:{port}", p.host);
        if let Some(other) = p.port.map(|q| if q == 1 { 2 } else { q - 1 }) {
            assert!(!p.matches(&host, other), "{s:?} matches port {other}");
        }
    }
    if let HostPattern::Subdomains(suffix) = &p.host {
        if let Some(apex) = normalize_host(suffix) {
            assert!(!p.matches(&apex, p.port.unwrap_or(443)), "{s:?} matches its apex {suffix:?}");
        }
    }
    Some(p)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let allowed = exercise(s, PatternList::Allowed);
    let denied = exercise(s, PatternList::Denied);
    if let Some(a) = &allowed {
        assert_eq!(denied.as_ref(), Some(a), "{s:?}: accepted for allowedDomains but not the same for deniedDomains");
    }
    // allow_any only widens the bare "*".
    if let Ok(p) = DomainPattern::parse(s, PatternList::Allowed, true) {
        if p.host != HostPattern::Any {
            assert_eq!(allowed.as_ref(), Some(&p), "{s:?}: allow_any changed a pattern other than \"*\"");
        }
    }
    if let Some(h) = normalize_host(s) {
        // Normalization is idempotent on its own output.
        let shown = h.to_string();
        assert_eq!(normalize_host(&shown), Some(h.clone()), "{s:?} → {shown:?} does not normalize to itself");
        if let Host::Name(n) = &h {
            assert!(!n.bytes().any(|b| b.is_ascii_uppercase()), "{s:?} normalized with upper case: {n:?}");
        }
    }
});
