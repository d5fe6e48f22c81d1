//! srt 0.0.83's `credentials`: secrets that never enter the sandbox.
//!
//! A variable in `envVars` with mode `deny` is absent inside; with mode
//! `mask` the program sees a sentinel (`fake_value_…`, made per run) and
//! the proxy puts the real value back only in requests to the credential's
//! `injectHosts` (default: `network.allowedDomains`), over terminated TLS
//! (or plain HTTP with `allowPlaintextInject`). A file in `files` with mode
//! `deny` is unreadable. This module holds the validated settings and the
//! substitution itself, a pure function of the text, the destination and
//! the run's sentinels.

use std::borrow::Cow;

use crate::domain::{DomainPattern, HostPattern, normalize_host};

/// Every sentinel starts with this, so text without it is passed over fast.
pub const SENTINEL_PREFIX: &str = "fake_value_";

/// `deny` or `mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialMode {
    /// The variable is absent inside; the file is unreadable (a denyRead
    /// rule).
    Deny,
    /// The program sees a sentinel in place of the variable's value or the
    /// file's content; the proxy puts the real value back only in requests
    /// to the credential's `injectHosts`.
    Mask,
}

/// One validated `credentials.envVars` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvCredential {
    /// The variable, a POSIX name; taken out of the program's environment
    /// in both modes.
    pub name: String,
    /// `deny`: absent inside; `mask`: a sentinel in its place.
    pub mode: CredentialMode,
    /// Where the real value may be sent (mask only).
    pub inject: Vec<DomainPattern>,
}

/// One masked `credentials.files` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCredential {
    /// Absolute, symlinks resolved where it exists.
    pub path: std::path::PathBuf,
    /// Where its content may be sent: `injectHosts`, or every
    /// `network.allowedDomains` pattern when that is unset.
    pub inject: Vec<DomainPattern>,
}

/// The validated `credentials`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Every `credentials.envVars` entry, `deny` and `mask` alike, in file
    /// order.
    pub env: Vec<EnvCredential>,
    /// Masked files (denied ones are denyRead rules of the filesystem policy).
    pub files: Vec<FileCredential>,
    /// `allowPlaintextInject`: substitute in plain-HTTP requests too.
    pub allow_plaintext_inject: bool,
}

/// A masked credential of one run: its sentinel and real value.
#[derive(Clone, PartialEq, Eq)]
pub struct Sentinel {
    /// What reports call the credential: the variable's name, or the masked
    /// file's path. Named in [`Substituted::refused`].
    pub name: String,
    /// The stand-in the program sees, made for the run by the caller; it
    /// starts with [`SENTINEL_PREFIX`].
    pub sentinel: String,
    /// The real value: the variable's value or the file's content. Never
    /// shown: the `Debug` form leaves it out.
    pub real: String,
    /// The hosts `real` may be sent to (the credential's `inject`).
    pub inject: Vec<DomainPattern>,
}

impl std::fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the real value, not even in a debug print.
        f.debug_struct("Sentinel").field("name", &self.name).field("sentinel", &self.sentinel).finish_non_exhaustive()
    }
}

/// What substitution made of a text.
#[derive(Debug, PartialEq, Eq)]
pub struct Substituted<'a> {
    /// The text with every permitted sentinel replaced; still borrowed when
    /// nothing was replaced.
    pub text: Cow<'a, str>,
    /// Credentials whose sentinel was present but may not be sent to this
    /// host: left as they were, to be reported.
    pub refused: Vec<String>,
}

/// Puts back the real value of every sentinel in `text` whose credential
/// may be sent to `host:port`; the others stay sentinels and are named in
/// `refused`.
pub fn substitute<'a>(text: &'a str, host: &str, port: u16, sentinels: &[Sentinel]) -> Substituted<'a> {
    if sentinels.is_empty() || !text.contains(SENTINEL_PREFIX) {
        return Substituted { text: Cow::Borrowed(text), refused: Vec::new() };
    }
    let target = normalize_host(host);
    let mut out = Cow::Borrowed(text);
    let mut refused = Vec::new();
    for s in sentinels {
        if !out.contains(s.sentinel.as_str()) {
            continue;
        }
        let allowed = target.as_ref().is_some_and(|h| s.inject.iter().any(|p| p.matches(h, port)));
        if allowed {
            out = Cow::Owned(out.replace(s.sentinel.as_str(), &s.real));
        } else {
            refused.push(s.name.clone());
        }
    }
    Substituted { text: out, refused }
}

/// Whether `pattern` (an `injectHosts` entry) names only hosts that some
/// `allowed` pattern reaches (ports aside: injection is per host).
pub fn reachable(pattern: &DomainPattern, allowed: &[DomainPattern]) -> bool {
    allowed.iter().any(|a| match (&a.host, &pattern.host) {
        (HostPattern::Any, _) => true,
        (HostPattern::Exact(x), HostPattern::Exact(y)) => x == y,
        (HostPattern::Ip(x), HostPattern::Ip(y)) => crate::domain::same_ip(*x, *y),
        (HostPattern::Subdomains(s), HostPattern::Exact(h)) => h.len() > s.len() + 1 && h.ends_with(&format!(".{s}")),
        (HostPattern::Subdomains(s), HostPattern::Subdomains(t)) => t == s || t.ends_with(&format!(".{s}")),
        _ => false,
    })
}

/// Whether a real value may be put in the header `name` (lower case): not
/// in headers that name a place rather than carry a credential, since a
/// value there comes straight back in redirects and absolute links.
pub fn may_carry(header: &str) -> bool {
    !matches!(header, "host" | "x-forwarded-host" | "forwarded" | "origin" | "referer")
}

/// Whether a request method echoes the request back (TRACE, and IIS's
/// TRACK), in any case: a request that would carry credentials the proxy
/// adds is refused.
pub fn echoes_request(method: &str) -> bool {
    method.eq_ignore_ascii_case("TRACE") || method.eq_ignore_ascii_case("TRACK")
}

/// Whether `name` is a POSIX variable name.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PatternList;

    fn pat(s: &str) -> DomainPattern {
        DomainPattern::parse(s, PatternList::Allowed, false).unwrap()
    }

    fn sentinel(name: &str, inject: &[&str]) -> Sentinel {
        Sentinel {
            name: name.into(),
            sentinel: format!("{SENTINEL_PREFIX}{name}"),
            real: format!("real-{name}"),
            inject: inject.iter().map(|p| pat(p)).collect(),
        }
    }

    #[test]
    fn sentinels_become_real_only_for_their_hosts() {
        let s = [sentinel("GH", &["api.github.com"]), sentinel("NPM", &["*.npmjs.org"])];
        let both = "Bearer fake_value_GH and fake_value_NPM";
        let r = substitute(both, "api.github.com", 443, &s);
        assert_eq!(r.text, "Bearer real-GH and fake_value_NPM");
        assert_eq!(r.refused, ["NPM"]);
        let r = substitute(both, "registry.npmjs.org", 443, &s);
        assert_eq!(r.text, "Bearer fake_value_GH and real-NPM");
        assert_eq!(r.refused, ["GH"]);
        let r = substitute("no sentinel here", "evil.example", 443, &s);
        assert!(matches!(r.text, Cow::Borrowed(_)) && r.refused.is_empty());
        assert_eq!(substitute(both, "not a host!", 443, &s).refused, ["GH", "NPM"]);
        assert!(!format!("{:?}", s[0]).contains("real-GH"), "Debug never shows the value");
    }

    #[test]
    fn inject_hosts_must_be_reachable() {
        let allowed = [pat("*.github.com"), pat("example.com:443"), pat("10.0.0.1")];
        for ok in ["api.github.com", "*.api.github.com", "*.github.com", "example.com", "10.0.0.1"] {
            assert!(reachable(&pat(ok), &allowed), "{ok}");
        }
        for no in ["github.com", "evil.com", "*.com.evil", "10.0.0.2"] {
            let p = DomainPattern::parse(no, PatternList::Allowed, false);
            assert!(p.is_err() || !reachable(&p.unwrap(), &allowed), "{no}");
        }
    }

    #[test]
    fn place_headers_and_echoing_methods() {
        assert!(may_carry("authorization") && may_carry("x-api-key") && may_carry("cookie"));
        assert!(!may_carry("host") && !may_carry("referer") && !may_carry("x-forwarded-host"));
        assert!(echoes_request("TRACE") && echoes_request("trace") && echoes_request("Track"));
        assert!(!echoes_request("GET"));
    }

    #[test]
    fn variable_names_are_posix_identifiers() {
        assert!(is_variable_name("GITHUB_TOKEN") && is_variable_name("_x1"));
        assert!(
            !is_variable_name("1X") && !is_variable_name("A-B") && !is_variable_name("") && !is_variable_name("-u")
        );
    }
}

/// Sentinel→real substitution over a request body that arrives in pieces:
/// memory is one piece plus the longest sentinel, and a sentinel split
/// between two pieces is still found. Built only with the sentinels whose
/// credential may go to the request's host.
#[derive(Debug)]
pub struct BodySubstitution {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    longest: usize,
    carry: Vec<u8>,
    /// What is searched for may start with any byte (real values), not
    /// only the sentinels' first byte.
    any_start: bool,
}

impl BodySubstitution {
    /// For a request to `host:port`; `None` when no credential may go there.
    pub fn for_host(host: &str, port: u16, sentinels: &[Sentinel]) -> Option<BodySubstitution> {
        let target = normalize_host(host)?;
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = sentinels
            .iter()
            .filter(|s| s.inject.iter().any(|p| p.matches(&target, port)))
            .map(|s| (s.sentinel.clone().into_bytes(), s.real.clone().into_bytes()))
            .collect();
        let longest = pairs.iter().map(|(s, _)| s.len()).max()?;
        Some(BodySubstitution { pairs, longest, carry: Vec::new(), any_start: false })
    }

    /// The reverse, for responses: real values back to their sentinels.
    /// Values shorter than 8 bytes are left (too likely to be ordinary text).
    pub fn reverse_for_host(host: &str, port: u16, sentinels: &[Sentinel]) -> Option<BodySubstitution> {
        let forward = Self::for_host(host, port, sentinels)?;
        let pairs: Vec<(Vec<u8>, Vec<u8>)> =
            forward.pairs.into_iter().filter(|(_, r)| r.len() >= 8).map(|(s, r)| (r, s)).collect();
        let longest = pairs.iter().map(|(s, _)| s.len()).max()?;
        Some(BodySubstitution { pairs, longest, carry: Vec::new(), any_start: true })
    }

    /// The whole of a short text at once (a header value).
    pub fn whole(&self, text: &[u8]) -> Vec<u8> {
        self.replace(text, true).0
    }

    /// Whether substitution can change the body's length (then the request
    /// must not keep its Content-Length).
    pub fn changes_length(&self) -> bool {
        self.pairs.iter().any(|(s, r)| s.len() != r.len())
    }

    /// The next piece of the body; returns what can be sent now.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(piece);
        let (out, rest) = self.replace(&buf, false);
        self.carry = buf[rest..].to_vec();
        out
    }

    /// The end of the body: what is still held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let buf = std::mem::take(&mut self.carry);
        self.replace(&buf, true).0
    }

    /// Replaces the sentinels in `buf`; unless `last`, stops where a
    /// sentinel could still begin and end in the next piece. Returns the
    /// output and how much of `buf` it covers.
    fn replace(&self, buf: &[u8], last: bool) -> (Vec<u8>, usize) {
        let first = SENTINEL_PREFIX.as_bytes()[0];
        let hold_from = if last { buf.len() } else { buf.len().saturating_sub(self.longest - 1) };
        let mut out = Vec::with_capacity(buf.len());
        let mut i = 0;
        while i < buf.len() {
            if (self.any_start || buf[i] == first)
                && let Some((s, r)) = self.pairs.iter().find(|(s, _)| buf[i..].starts_with(s))
            {
                out.extend_from_slice(r);
                i += s.len();
                continue;
            }
            if i >= hold_from {
                break;
            }
            out.push(buf[i]);
            i += 1;
        }
        (out, i)
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;
    use crate::domain::PatternList;

    #[test]
    fn sentinels_split_across_pieces_are_replaced() {
        let inject = vec![DomainPattern::parse("api.example.com", PatternList::Allowed, false).unwrap()];
        let s =
            [Sentinel { name: "T".into(), sentinel: "fake_value_abcdef".into(), real: "REAL-SECRET".into(), inject }];
        assert!(BodySubstitution::for_host("other.example.com", 443, &s).is_none());
        let body = br#"{"token": "fake_value_abcdef", "again": "fake_value_abcdef", "x": "fake_value_abc"}"#;
        for split in 1..body.len() {
            let mut sub = BodySubstitution::for_host("api.example.com", 443, &s).unwrap();
            let mut out = sub.push(&body[..split]);
            out.extend(sub.push(&body[split..]));
            out.extend(sub.finish());
            assert_eq!(
                String::from_utf8(out).unwrap(),
                r#"{"token": "REAL-SECRET", "again": "REAL-SECRET", "x": "fake_value_abc"}"#,
                "split at {split}"
            );
        }
        assert!(BodySubstitution::for_host("api.example.com", 443, &s).unwrap().changes_length());
        // The reverse, for what comes back: the real value turns into the sentinel.
        let mut back = BodySubstitution::reverse_for_host("api.example.com", 443, &s).unwrap();
        let mut out = back.push(b"Location: /x?t=REAL-SEC");
        out.extend(back.push(b"RET&y=1"));
        out.extend(back.finish());
        assert_eq!(String::from_utf8(out).unwrap(), "Location: /x?t=fake_value_abcdef&y=1");
        assert_eq!(back.whole(b"REAL-SECRET"), b"fake_value_abcdef");
    }
}
