//! Decisions about one plain-HTTP request the proxy forwards (srt 0.0.83's
//! request-level keys): whether its Host header names the host it is sent
//! to (`requireHostMatch`), which form of its target goes upstream
//! (`ambiguousRequestTarget`), and which response headers never reach the
//! client (`stripResponseHeaders`). Pure: the proxy hands in what it parsed.

use serde::{Deserialize, Serialize};

/// `network.ambiguousRequestTarget`: what becomes of a request whose target
/// names another path once normalised than as the client spelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AmbiguousTarget {
    /// Answer 400 (`X-Proxy-Error: ambiguous-request-target`); nothing is sent.
    Refuse,
    /// Forward the target exactly as the client spelled it.
    AsSpelled,
    /// Forward the normalised target.
    Normalize,
}

/// The request-level rules of a policy. The default changes nothing: the
/// target is forwarded as spelled, any Host header is replaced by the
/// target's, every response header is relayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestRules {
    /// `network.requireHostMatch`.
    pub require_host_match: bool,
    /// `network.ambiguousRequestTarget`; `None` when the settings do not set
    /// it (the target is forwarded as spelled, as srt does without a request
    /// filter).
    pub ambiguous_target: Option<AmbiguousTarget>,
    /// `network.stripResponseHeaders`, folded (see [`fold_header_name`]).
    pub strip_response_headers: Vec<String>,
}

/// What to do with a request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetDecision {
    /// Send this origin-form target (`/path?query`) upstream.
    Forward(String),
    /// Answer 400 with this reason; `ambiguous` selects the
    /// `ambiguous-request-target` mark.
    Refuse {
        /// The target and what it normalises to, in words, for the reply
        /// body and the violation event.
        reason: String,
        /// Always true today: the one refusal is `ambiguousRequestTarget:
        /// refuse`. The proxy does not read it; it reports every refused
        /// target as [`DenyCode::AmbiguousTarget`](crate::DenyCode::AmbiguousTarget).
        ambiguous: bool,
    },
}

/// Why a request's Host header does not name its target.
pub const NO_HOST: &str = "HTTP/1.1 request without a Host header";

impl RequestRules {
    /// Judges the origin-form target `spelled` (path and query, as the client
    /// wrote them).
    pub fn judge_target(&self, spelled: &str) -> TargetDecision {
        let Some(mode) = self.ambiguous_target else {
            return TargetDecision::Forward(spelled.to_string());
        };
        let normalized = normalize_target(spelled);
        // Spellings that some reader decodes once more (a `%25` escape, an
        // encoded NUL, overlong UTF-8 for `.` or `/`) are ambiguous even when
        // normalising changes nothing.
        let lower = spelled.to_ascii_lowercase();
        let doubly = ["%25", "%00", "%c0", "%c1", "%e0%80"].iter().any(|e| lower.contains(e));
        if normalized == spelled && !doubly {
            return TargetDecision::Forward(normalized);
        }
        match mode {
            AmbiguousTarget::AsSpelled => TargetDecision::Forward(spelled.to_string()),
            AmbiguousTarget::Normalize => TargetDecision::Forward(normalized),
            AmbiguousTarget::Refuse => TargetDecision::Refuse {
                reason: format!(
                    "ambiguous request-target: {spelled:?} names {normalized:?} once normalised (a dot segment, \
                     leading slashes or \"\\\"); nothing was forwarded (network.ambiguousRequestTarget is \"refuse\")"
                ),
                ambiguous: true,
            },
        }
    }

    /// With `requireHostMatch`: why the Host headers of a request sent to
    /// `host:port` (whose scheme's default port is `default_port`) do not
    /// name that target, or `None` when they do. Without it: `None`.
    ///
    /// A Host header names the target when it is the target's host in any
    /// case, with the target's port after one colon, or with no port when
    /// the target's port is the default; brackets only around an IPv6
    /// address. More than one Host header is a mismatch; none is one for
    /// HTTP/1.1 (`http11`).
    pub fn host_mismatch(
        &self,
        host_headers: &[&[u8]],
        http11: bool,
        host: &str,
        port: u16,
        default_port: u16,
    ) -> Option<&'static str> {
        if !self.require_host_match {
            return None;
        }
        match host_headers {
            [] if http11 => Some(NO_HOST),
            [] => None,
            [one] => {
                let names = std::str::from_utf8(one).ok().and_then(host_and_port).is_some_and(|(h, p)| {
                    h.eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']'))
                        && match p {
                            None => port == default_port,
                            Some(p) => p == port.to_string(),
                        }
                });
                (!names).then_some("Host header does not match the request target")
            }
            _ => Some("more than one Host header"),
        }
    }

    /// Whether a response header called `name` is kept from the client.
    pub fn strips(&self, name: &str) -> bool {
        if self.strip_response_headers.is_empty() {
            return false;
        }
        let folded = fold_header_name(name);
        self.strip_response_headers.contains(&folded)
    }
}

/// A header name folded for comparison: lower case, `_` and `.` read as
/// `-` (servers differ in which separators they take as the same).
pub fn fold_header_name(name: &str) -> String {
    name.chars().map(|c| if c == '_' || c == '.' { '-' } else { c.to_ascii_lowercase() }).collect()
}

/// A Host value's host and port (the port as written), or `None` for any
/// other shape: an empty value, an empty or non-numeric port, brackets
/// around something that is not an IPv6 address.
fn host_and_port(v: &str) -> Option<(&str, Option<&str>)> {
    let (host, rest) = if let Some(inner) = v.strip_prefix('[') {
        let end = inner.find(']')?;
        let h = &inner[..end];
        h.parse::<std::net::Ipv6Addr>().ok()?;
        (h, &inner[end + 1..])
    } else {
        match v.find(':') {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, ""),
        }
    };
    if host.is_empty() || host.contains(['[', ']']) {
        return None;
    }
    if rest.is_empty() {
        return Some((host, None));
    }
    let port = rest.strip_prefix(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, Some(port)))
}

/// The target as a reader that resolves it would take it: `\` read as `/`,
/// `%2e` as `.`, a run of leading slashes as one, dot segments removed
/// (RFC 3986 section 5.2.4). The query is left as it is.
pub fn normalize_target(spelled: &str) -> String {
    let (path, query) = match spelled.find('?') {
        Some(i) => (&spelled[..i], &spelled[i..]),
        None => (spelled, ""),
    };
    // Encoded separators are separators to some servers.
    let path = path.replace('\\', "/").replace("%2f", "/").replace("%2F", "/").replace("%5c", "/").replace("%5C", "/");
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let last = segments.len() - 1;
    let mut out: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match decoded_dots(seg) {
            Some(1) => {}
            Some(_) => {
                out.pop();
            }
            None => out.push(seg),
        }
        // A path that ends in a dot segment names a directory.
        trailing_slash = i == last && decoded_dots(seg).is_some();
    }
    let mut normalized = String::from("/");
    normalized.push_str(&out.join("/"));
    if trailing_slash && !normalized.ends_with('/') {
        normalized.push('/');
    }
    normalized.push_str(query);
    normalized
}

/// `Some(1)` for a `.` segment, `Some(2)` for `..`, in any mix of `.` and
/// `%2e`/`%2E`; `None` for any other segment.
fn decoded_dots(seg: &str) -> Option<usize> {
    // `..;x=1` is `..` to servers that cut path parameters.
    let seg = seg.split(';').next().unwrap_or(seg);
    let lower = seg.to_ascii_lowercase();
    let decoded = lower.replace("%2e", ".");
    match decoded.as_str() {
        "." => Some(1),
        ".." => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_reads_dots_backslashes_and_leading_slashes() {
        for (spelled, want) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/%2e%2E/b", "/b"),
            ("/a/.%2e/b?x=/../", "/b?x=/../"),
            ("/../../etc", "/etc"),
            ("//evil/x", "/evil/x"),
            ("/a\\..\\b", "/b"),
            ("/a/..", "/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/a.b/c..d/%2e%2e%2e", "/a.b/c..d/%2e%2e%2e"),
            ("/?q", "/?q"),
            ("/a/..;/b", "/b"),
            ("/a/%2e%2e;x=1/b", "/b"),
            ("/a%2f..%2fb", "/b"),
            ("/a/%5c..%5cb", "/a/b"),
        ] {
            assert_eq!(normalize_target(spelled), want, "{spelled}");
        }
    }

    #[test]
    fn targets_are_judged_by_the_mode() {
        let rules = |m| RequestRules { ambiguous_target: m, ..Default::default() };
        let fwd = |s: &str| TargetDecision::Forward(s.into());
        assert_eq!(rules(None).judge_target("/a/../b"), fwd("/a/../b"));
        assert_eq!(rules(Some(AmbiguousTarget::AsSpelled)).judge_target("/a/../b"), fwd("/a/../b"));
        assert_eq!(rules(Some(AmbiguousTarget::Normalize)).judge_target("/a/../b"), fwd("/b"));
        assert_eq!(rules(Some(AmbiguousTarget::Refuse)).judge_target("/a/b?c"), fwd("/a/b?c"));
        for t in ["//x", "/a/..;/b", "/a%2f..%2fb", "/a/%252e%252e/b", "/a/%c0%ae%c0%ae/b", "/a/..%00/b"] {
            assert!(
                matches!(
                    rules(Some(AmbiguousTarget::Refuse)).judge_target(t),
                    TargetDecision::Refuse { ambiguous: true, .. }
                ),
                "{t}"
            );
        }
    }

    #[test]
    fn host_headers_must_name_the_target() {
        let on = RequestRules { require_host_match: true, ..Default::default() };
        let m = |hosts: &[&str], host, port| {
            let hs: Vec<&[u8]> = hosts.iter().map(|h| h.as_bytes()).collect();
            on.host_mismatch(&hs, true, host, port, 80)
        };
        assert_eq!(m(&["example.com"], "example.com", 80), None);
        assert_eq!(m(&["EXAMPLE.com:80"], "example.com", 80), None);
        assert_eq!(m(&["example.com:8080"], "example.com", 8080), None);
        assert_eq!(m(&["[::1]:8080"], "[::1]", 8080), None);
        assert_eq!(m(&["[::1]"], "::1", 80), None);
        assert!(m(&["example.com"], "example.com", 8080).is_some(), "default port only when the target's");
        assert!(m(&["other.com"], "example.com", 80).is_some());
        assert!(m(&["example.com:"], "example.com", 80).is_some());
        assert!(m(&["example.com:08o"], "example.com", 80).is_some());
        assert!(m(&["[example.com]"], "example.com", 80).is_some());
        assert!(m(&["a", "a"], "a", 80).is_some());
        assert_eq!(m(&[], "a", 80), Some(NO_HOST));
        assert_eq!(on.host_mismatch(&[], false, "a", 80, 80), None, "HTTP/1.0 needs no Host");
        let off = RequestRules::default();
        assert_eq!(off.host_mismatch(&[b"other"], true, "a", 80, 80), None);
    }

    #[test]
    fn stripped_headers_fold_separators_and_case() {
        let r = RequestRules { strip_response_headers: vec![fold_header_name("Set_Cookie")], ..Default::default() };
        assert!(r.strips("set-cookie"));
        assert!(r.strips("SET.COOKIE"));
        assert!(!r.strips("cookie"));
    }
}
