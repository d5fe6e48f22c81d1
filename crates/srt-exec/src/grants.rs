//! Extra grants of one run (`execute_code_with_custom_config`) and the
//! ceiling they may not exceed.

use srt_policy::domain::{DomainPattern, HostPattern, PatternList, normalize_host};
use srt_policy::paths::PathRule;
use srt_policy::{PathContext, Policy, RealFs};

/// What a request adds over the server's policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Entries added to `network.allowedDomains`.
    pub allowed_domains: Vec<String>,
    /// Entries added to `filesystem.allowWrite`.
    pub allowed_write_paths: Vec<String>,
}

impl Grants {
    pub fn is_empty(&self) -> bool {
        self.allowed_domains.is_empty() && self.allowed_write_paths.is_empty()
    }
}

/// One grant that was refused, named by the request argument it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `allowed_domains[0]`, `allowed_write_paths[2]`.
    pub argument: String,
    pub entry: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:?} {}", self.argument, self.entry, self.reason)
    }
}

/// Checks `grants` against the ceiling: `mcp.customConfigCeiling` when the
/// settings set one, else the policy's own allowedDomains and allowWrite.
/// Returns every refused entry; nothing may run when any is refused.
pub fn check_ceiling(policy: &Policy, grants: &Grants, ctx: &PathContext) -> Result<(), Vec<Refusal>> {
    let (domains, writes, what) = match &policy.ceiling {
        Some(c) => (c.allowed_domains.clone(), c.allow_write.clone(), "mcp.customConfigCeiling"),
        None => {
            let s = &policy.settings;
            let any = policy_allows_any(policy);
            let domains = s
                .network
                .allowed_domains
                .iter()
                .filter_map(|d| DomainPattern::parse(d, PatternList::Allowed, any).ok())
                .collect();
            let writes = s.filesystem.allow_write.iter().filter_map(|p| PathRule::new(p, ctx, &RealFs).ok()).collect();
            (domains, writes, "the server's own policy (no mcp.customConfigCeiling is set)")
        }
    };
    let mut refused = Vec::new();
    for (i, entry) in grants.allowed_domains.iter().enumerate() {
        let argument = format!("allowed_domains[{i}]");
        let refuse = |reason: String| Refusal { argument: argument.clone(), entry: entry.clone(), reason };
        match DomainPattern::parse(entry, PatternList::Allowed, false) {
            Err(e) => refused.push(refuse(e.0)),
            Ok(p) if !domains.iter().any(|c| domain_within(&p, c)) => {
                refused.push(refuse(format!("is beyond the ceiling ({what})")))
            }
            Ok(_) => {}
        }
    }
    for (i, entry) in grants.allowed_write_paths.iter().enumerate() {
        let argument = format!("allowed_write_paths[{i}]");
        let refuse = |reason: String| Refusal { argument: argument.clone(), entry: entry.clone(), reason };
        match PathRule::new(entry, ctx, &RealFs) {
            Err(e) => refused.push(refuse(e)),
            // Every match of a glob lies under its literal base.
            Ok(rule) if !writes.iter().any(|c| c.covers(&rule.base())) => {
                refused.push(refuse(format!("is beyond the ceiling ({what})")))
            }
            Ok(_) => {}
        }
    }
    if refused.is_empty() { Ok(()) } else { Err(refused) }
}

/// Does the policy allow every host (the permissive preset's `*`)?
pub(crate) fn policy_allows_any(policy: &Policy) -> bool {
    policy.settings.network.allowed_domains.iter().any(|d| d.trim() == "*")
}

/// Is every `host:port` that `p` allows also allowed by `c`?
fn domain_within(p: &DomainPattern, c: &DomainPattern) -> bool {
    // A pattern for every port fits only in a ceiling for every port.
    let port_ok = match (p.port, c.port) {
        (_, None) => true,
        (Some(a), Some(b)) => a == b,
        (None, Some(_)) => false,
    };
    if !port_ok {
        return false;
    }
    let port = p.port.or(c.port).unwrap_or(443);
    match (&p.host, &c.host) {
        (_, HostPattern::Any) => true,
        (HostPattern::Exact(h), _) => normalize_host(h).is_some_and(|h| c.matches(&h, port)),
        (HostPattern::Ip(ip), _) => normalize_host(&ip.to_string()).is_some_and(|h| c.matches(&h, port)),
        (HostPattern::Subdomains(s), HostPattern::Subdomains(cs)) => {
            s == cs || (s.len() > cs.len() && s.ends_with(cs.as_str()) && s.as_bytes()[s.len() - cs.len() - 1] == b'.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> DomainPattern {
        DomainPattern::parse(s, PatternList::Allowed, false).unwrap()
    }

    #[test]
    fn domains_within_ceiling() {
        assert!(domain_within(&pat("api.example.com"), &pat("*.example.com")));
        assert!(domain_within(&pat("a.b.example.com"), &pat("*.example.com")));
        assert!(!domain_within(&pat("example.com"), &pat("*.example.com")));
        assert!(domain_within(&pat("*.a.example.com"), &pat("*.example.com")));
        assert!(domain_within(&pat("*.example.com"), &pat("*.example.com")));
        assert!(!domain_within(&pat("*.example.com"), &pat("api.example.com")));
        assert!(domain_within(&pat("example.com:443"), &pat("example.com")));
        assert!(!domain_within(&pat("example.com"), &pat("example.com:443")));
        assert!(!domain_within(&pat("evil.com"), &pat("example.com")));
    }

    #[test]
    fn refusals_name_each_entry() {
        let ctx = PathContext { cwd: "/w".into(), home: "/home/u".into() };
        let text =
            r#"{"mcp": {"customConfigCeiling": {"allowedDomains": ["*.example.com"], "allowWrite": ["/data"]}}}"#;
        let policy = srt_policy::from_text(Some(text), None, &ctx, &RealFs).unwrap();
        let ok =
            Grants { allowed_domains: vec!["api.example.com".into()], allowed_write_paths: vec!["/data/x".into()] };
        assert_eq!(check_ceiling(&policy, &ok, &ctx), Ok(()));
        let bad = Grants {
            allowed_domains: vec!["api.example.com".into(), "evil.com".into(), "*.com".into()],
            allowed_write_paths: vec!["/etc".into()],
        };
        let r = check_ceiling(&policy, &bad, &ctx).unwrap_err();
        let args: Vec<_> = r.iter().map(|r| r.argument.as_str()).collect();
        assert_eq!(args, ["allowed_domains[1]", "allowed_domains[2]", "allowed_write_paths[0]"]);
    }

    #[test]
    fn default_ceiling_is_the_policy() {
        let ctx = PathContext { cwd: "/w".into(), home: "/home/u".into() };
        let text = r#"{"network": {"allowedDomains": ["pypi.org"]}, "filesystem": {"allowWrite": ["/data"]}}"#;
        let policy = srt_policy::from_text(Some(text), None, &ctx, &RealFs).unwrap();
        let ok = Grants { allowed_domains: vec!["pypi.org".into()], allowed_write_paths: vec!["/data/sub".into()] };
        assert_eq!(check_ceiling(&policy, &ok, &ctx), Ok(()));
        let bad = Grants { allowed_domains: vec!["example.org".into()], allowed_write_paths: vec![] };
        assert_eq!(check_ceiling(&policy, &bad, &ctx).unwrap_err().len(), 1);
    }
}
