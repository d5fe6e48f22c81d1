//! Domain patterns of `network.allowedDomains` / `network.deniedDomains` and
//! the host names they are matched against.
//!
//! Grammar (srt's, made strict):
//! - `example.com`, `*.example.com` (any depth of subdomain, never the apex),
//! - an IPv4 literal `10.0.0.1` or a bracketed IPv6 literal `[::1]`,
//! - each optionally followed by `:PORT`,
//! - in deny lists only: a bare `*` (everything) and `*` inside a label
//!   (`internal-*`), where `*` matches any run of characters, dots included:
//!   a deny that matches more is the safe direction.
//!
//! Rejected everywhere: protocols, paths, empty labels, unbracketed IPv6,
//! ports outside 1–65535, top-level wildcards such as `*.com`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which list a pattern comes from; deny lists accept more wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternList {
    /// `network.allowedDomains`, and the lists read with its grammar
    /// (`mitmProxy.domains`, `tlsTerminate.excludeDomains`, `injectHosts`,
    /// `mcp.customConfigCeiling.allowedDomains`): `*` only as a leading
    /// `*.`, a bare `*` only with `allow_any`.
    Allowed,
    /// `network.deniedDomains`: also a bare `*` and `*` inside labels
    /// (`internal-*`), since a deny that matches more is the safe direction.
    Denied,
}

/// One parsed domain pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPattern {
    /// The entry as written in the settings file.
    pub source: String,
    /// The hosts it covers, lower-cased.
    pub host: HostPattern,
    /// `None`: every port.
    pub port: Option<u16>,
}

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Bare `*`: every host (deny lists, or the permissive preset's allow-all).
    Any,
    /// An exact, lower-case domain name without a trailing dot.
    Exact(String),
    /// `*.suffix`: any name ending in `.suffix`, at any depth; never `suffix` itself.
    Subdomains(String),
    /// A deny pattern with `*` inside labels; `*` matches any characters.
    Wildcard(String),
    /// An IP literal.
    Ip(IpAddr),
}

/// Why a pattern was rejected. The message completes the sentence
/// `network.allowedDomains[2]: "x" ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(msg.into()))
}

impl DomainPattern {
    /// Parses one entry. `allow_any` permits a bare `*` in an allow list (only
    /// the permissive preset sets it; a settings file cannot).
    pub fn parse(entry: &str, list: PatternList, allow_any: bool) -> Result<Self, PatternError> {
        if entry.is_empty() {
            return err("is empty");
        }
        if entry.len() > 260 {
            return err("is longer than a domain name can be (253 characters)");
        }
        if entry.contains("://") {
            return err("must not include a protocol (write the host name only)");
        }
        if entry.contains('/') {
            return err("must not include a path (write the host name only)");
        }
        if let Some(c) =
            entry.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '?' | '#' | '\\'))
        {
            return err(format!("contains the character {c:?}, which no host name has"));
        }
        let (host, port) = split_port(entry)?;
        let host_lc = host.to_ascii_lowercase();
        if host_lc.ends_with('.') && host_lc != "." {
            return err("ends with a dot; write the name without it (as srt requires)");
        }
        let host_lc = host_lc.as_str();
        let host = if host_lc == "*" {
            match (list, allow_any) {
                (PatternList::Denied, _) | (PatternList::Allowed, true) => HostPattern::Any,
                (PatternList::Allowed, false) => {
                    return err("allows every domain; srt refuses a bare \"*\" in allowedDomains \
                         (use --preset permissive for unrestricted network)");
                }
            }
        } else if let Some(ip) = parse_ip_host(host_lc)? {
            HostPattern::Ip(ip)
        } else if let Some(rest) = host_lc.strip_prefix("*.") {
            check_name(rest, list)?;
            if !rest.contains('.') && !rest.contains('*') {
                return err("is a top-level wildcard (it would match a whole top-level domain)");
            }
            if rest.contains('*') {
                HostPattern::Wildcard(host_lc.to_string())
            } else {
                HostPattern::Subdomains(rest.to_string())
            }
        } else {
            check_name(host_lc, list)?;
            if host_lc.contains('*') {
                HostPattern::Wildcard(host_lc.to_string())
            } else if !host_lc.contains('.') && host_lc != "localhost" {
                return err("is a single label; as in srt, a domain needs a dot (localhost excepted)");
            } else {
                HostPattern::Exact(host_lc.to_string())
            }
        };
        Ok(DomainPattern { source: entry.to_string(), host, port })
    }

    /// Does this pattern cover `host:port`? `host` must be normalized with
    /// [`normalize_host`].
    pub fn matches(&self, host: &Host, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Exact(p), Host::Name(h)) => p == h,
            (HostPattern::Subdomains(s), Host::Name(h)) => {
                h.len() > s.len() + 1 && h.ends_with(s.as_str()) && h.as_bytes()[h.len() - s.len() - 1] == b'.'
            }
            (HostPattern::Wildcard(p), Host::Name(h)) => wildcard_match(p.as_bytes(), h.as_bytes()),
            (HostPattern::Ip(p), Host::Ip(h)) => same_ip(*p, *h),
            _ => false,
        }
    }

    /// The IP literal of this pattern, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.host {
            HostPattern::Ip(ip) => Some(ip),
            _ => None,
        }
    }
}

/// Two literals name the same endpoint: equal, or one is the other's
/// IPv4-mapped IPv6 form.
pub fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    canonical_ip(a) == canonical_ip(b)
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Splits an optional `:port` off. Unbracketed IPv6 is refused here.
fn split_port(entry: &str) -> Result<(&str, Option<u16>), PatternError> {
    if let Some(rest) = entry.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return err("opens an IPv6 bracket that is never closed");
        };
        let inside = &rest[..close];
        let after = &rest[close + 1..];
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(parse_port(p)?),
                None => return err("has text after the closing IPv6 bracket"),
            },
        };
        if inside.parse::<Ipv6Addr>().is_err() {
            return err("is not a valid IPv6 address inside brackets");
        }
        // Return the bracketed form so parse_ip_host knows it was bracketed.
        return Ok((&entry[..close + 2], port));
    }
    match entry.matches(':').count() {
        0 => Ok((entry, None)),
        1 => {
            let (h, p) = entry.split_once(':').unwrap_or((entry, ""));
            if h.is_empty() {
                return err("has a port but no host");
            }
            Ok((h, Some(parse_port(p)?)))
        }
        _ => err("looks like an IPv6 address without brackets (write it as [addr] or [addr]:port)"),
    }
}

fn parse_port(p: &str) -> Result<u16, PatternError> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => err(format!("has port {p:?}; a port is a number from 1 to 65535")),
        Ok(n) => Ok(n),
    }
}

fn parse_ip_host(host: &str) -> Result<Option<IpAddr>, PatternError> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(v6) => Ok(Some(IpAddr::V6(v6))),
            Err(_) => err("is not a valid IPv6 address inside brackets"),
        };
    }
    Ok(host.parse::<Ipv4Addr>().ok().map(IpAddr::V4))
}

fn check_name(name: &str, list: PatternList) -> Result<(), PatternError> {
    if name.len() > 253 {
        return err("is longer than a domain name can be (253 characters)");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return err("has an empty label (two dots in a row, or a leading dot)");
        }
        if label.len() > 63 {
            return err("has a label longer than 63 characters");
        }
        for c in label.chars() {
            match c {
                'a'..='z' | '0'..='9' | '-' | '_' => {}
                '*' if list == PatternList::Denied => {}
                '*' => {
                    return err(
                        "uses \"*\" other than as a leading \"*.\"; allowedDomains take only \"*.example.com\"",
                    );
                }
                c => return err(format!("contains {c:?}, which is not allowed in a host name")),
            }
        }
    }
    Ok(())
}

/// `*` matches any run of bytes (possibly empty); everything else literally.
fn wildcard_match(pat: &[u8], text: &[u8]) -> bool {
    // Iterative glob matching with single-star backtracking: linear in practice,
    // never exponential.
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pat.len() && pat[p] != b'*' && pat[p] == text[t] {
            p += 1;
            t += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

/// A host name as a client asked for it, normalized for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A domain name: lower case, trailing dot dropped, each label 1–63
    /// letters, digits, `-` or `_`.
    Name(String),
    /// An IP literal (IPv6 written with or without brackets).
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Normalizes a requested host: lower case, trailing dot dropped, IPv6
/// brackets removed, IP literals parsed. `None` for something that is not a
/// plausible host (empty, spaces, slashes...), which callers deny.
pub fn normalize_host(host: &str) -> Option<Host> {
    let h = host.strip_suffix('.').unwrap_or(host);
    if h.is_empty() || h.len() > 253 {
        return None;
    }
    let inner = h.strip_prefix('[').and_then(|x| x.strip_suffix(']'));
    if let Some(inner) = inner {
        return inner.parse::<Ipv6Addr>().ok().map(|v6| Host::Ip(IpAddr::V6(v6)));
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(Host::Ip(ip));
    }
    let lc = h.to_ascii_lowercase();
    let ok = lc.split('.').all(|l| {
        !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    ok.then_some(Host::Name(lc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(e: &str) -> Result<DomainPattern, PatternError> {
        DomainPattern::parse(e, PatternList::Allowed, false)
    }
    fn deny(e: &str) -> Result<DomainPattern, PatternError> {
        DomainPattern::parse(e, PatternList::Denied, false)
    }
    fn m(p: &DomainPattern, host: &str, port: u16) -> bool {
        p.matches(&normalize_host(host).expect("valid host"), port)
    }

    #[test]
    fn rejects_malformed_allow_entries() {
        let cases = [
            ("", "empty"),
            ("*.com", "top-level wildcard"),
            ("*.", "ends with a dot"),
            ("EXAMPLE.com.", "ends with a dot"),
            ("vm", "single label"),
            ("intranet:8080", "single label"),
            ("http://x.com", "protocol"),
            ("x.com/path", "path"),
            ("a..b", "empty label"),
            (".a.com", "empty label"),
            ("::1", "IPv6 address without brackets"),
            ("2001:db8::1:443", "IPv6 address without brackets"),
            ("[::1", "never closed"),
            ("[nothost]", "not a valid IPv6"),
            ("[::1]x", "after the closing"),
            ("*", "allows every domain"),
            ("a.*.com", "leading"),
            ("foo*.com", "leading"),
            ("x.com:0", "1 to 65535"),
            ("x.com:70000", "1 to 65535"),
            ("x.com:", "1 to 65535"),
            (":443", "no host"),
            ("ex ample.com", "character"),
            ("exa$mple.com", "not allowed in a host name"),
            ("user@x.com", "character"),
        ];
        for (entry, want) in cases {
            let e = allow(entry).expect_err(entry);
            assert!(e.0.contains(want), "{entry:?}: got {:?}, want {want:?}", e.0);
        }
    }

    #[test]
    fn accepts_well_formed_entries() {
        for e in [
            "example.com",
            "EXAMPLE.com",
            "*.example.com",
            "*.co.uk",
            "localhost",
            "127.0.0.1:3000",
            "[::1]:443",
            "[::1]",
            "api.github.com:443",
            "under_score.example.com",
        ] {
            allow(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        }
        for e in ["*", "*:22", "internal-*", "*.internal-*.corp"] {
            deny(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        }
        assert_eq!(deny("*:22").map(|p| p.port), Ok(Some(22)));
    }

    #[test]
    fn subdomain_wildcard_semantics() {
        let p = allow("*.example.com").unwrap();
        assert!(m(&p, "a.example.com", 443));
        assert!(m(&p, "a.b.c.example.com", 443));
        assert!(m(&p, "A.Example.COM.", 80));
        assert!(!m(&p, "example.com", 443));
        assert!(!m(&p, "evil-example.com", 443));
        assert!(!m(&p, "example.com.evil.net", 443));
        assert!(!m(&p, "aexample.com", 443));
    }

    #[test]
    fn exact_and_port_semantics() {
        let p = allow("Example.com:8443").unwrap();
        assert!(m(&p, "example.com", 8443));
        assert!(m(&p, "EXAMPLE.COM.", 8443));
        assert!(!m(&p, "example.com", 443));
        assert!(!m(&p, "www.example.com", 8443));
        let any_port = allow("example.com").unwrap();
        assert!(m(&any_port, "example.com", 1));
        assert!(m(&any_port, "example.com", 65535));
    }

    #[test]
    fn ip_literal_semantics() {
        let v4 = allow("127.0.0.1:3000").unwrap();
        assert!(m(&v4, "127.0.0.1", 3000));
        assert!(m(&v4, "[::ffff:127.0.0.1]", 3000));
        assert!(m(&v4, "::ffff:127.0.0.1", 3000));
        assert!(!m(&v4, "127.0.0.1", 3001));
        assert!(!m(&v4, "127.0.0.2", 3000));
        let v6 = allow("[::1]:443").unwrap();
        assert!(m(&v6, "[::1]", 443));
        assert!(m(&v6, "::1", 443));
        assert!(!m(&v6, "127.0.0.1", 443));
        // A domain pattern never matches an IP literal, and the other way round.
        assert!(!m(&allow("localhost").unwrap(), "127.0.0.1", 80));
    }

    #[test]
    fn deny_wildcards_match_more() {
        let p = deny("internal-*").unwrap();
        assert!(m(&p, "internal-api", 80));
        assert!(m(&p, "internal-api.corp.example", 80));
        assert!(!m(&p, "api-internal", 80));
        let all = deny("*").unwrap();
        assert!(m(&all, "anything.example", 1));
        assert!(m(&all, "10.0.0.1", 1));
        let ssh = deny("*:22").unwrap();
        assert!(m(&ssh, "github.com", 22));
        assert!(!m(&ssh, "github.com", 443));
    }

    #[test]
    fn normalize_rejects_junk() {
        for h in ["", ".", "a..b", "a b", "a/b", "[zz]", "x@y"] {
            assert_eq!(normalize_host(h), None, "{h:?}");
        }
        assert_eq!(normalize_host("[::1]"), Some(Host::Ip("::1".parse().unwrap())));
    }

    #[test]
    fn wildcard_match_is_not_exponential() {
        let pat = "*a*a*a*a*a*a*a*a*a*a*b";
        let text = "a".repeat(200);
        assert!(!wildcard_match(pat.as_bytes(), text.as_bytes()));
        assert!(wildcard_match(b"*", b""));
        assert!(wildcard_match(b"a*c", b"abbbc"));
        assert!(!wildcard_match(b"a*c", b"abbbd"));
    }
}
