//! Extra grants of one run (`execute_code_with_custom_config`), judged once
//! against the ceiling they may not exceed.
//!
//! A grant is judged when the request arrives and the run receives the
//! judged rules, never the strings to resolve again: a path that an earlier
//! run turns into a symlink while this one waits in the queue cannot widen
//! what was granted. Paths must exist and be reached without a symlink when
//! they are judged; the sandbox's mounts then refuse to bind any path whose
//! components became symlinks since (see `srt-sandbox`'s `mounts.rs`).

use std::path::Path;

use crate::domain::{DomainPattern, HostPattern, PatternList, normalize_host};
use crate::paths::{FsView, PathContext, PathRule, absolutize, is_glob};
use crate::policy::Policy;
use crate::settings::PathEntry;

/// What a request asks for over the server's policy, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Entries to add to `network.allowedDomains`.
    pub allowed_domains: Vec<String>,
    /// Entries to add to `filesystem.allowWrite`.
    pub allowed_write_paths: Vec<String>,
}

impl Grants {
    /// Nothing asked for.
    pub fn is_empty(&self) -> bool {
        self.allowed_domains.is_empty() && self.allowed_write_paths.is_empty()
    }
}

/// Grants that passed [`Policy::judge_grants`]: resolved rules, ready to add
/// to one run's policy with [`Policy::for_run`]. Only that check makes them.
#[derive(Debug, Clone, Default)]
pub struct JudgedGrants {
    domains: Vec<DomainPattern>,
    writes: Vec<PathRule>,
}

/// One grant that was refused, named by the request argument it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `allowed_domains[0]`, `allowed_write_paths[2]`.
    pub argument: String,
    /// The entry as requested.
    pub entry: String,
    /// Why, completing `allowed_domains[1]: "evil.com" ...`.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:?} {}", self.argument, self.entry, self.reason)
    }
}

impl Policy {
    /// Judges `grants` against the ceiling: `mcp.customConfigCeiling` when
    /// the settings set one, else the policy's own allowedDomains and
    /// allowWrite. Returns every refused entry; nothing may run when any is
    /// refused.
    pub fn judge_grants(
        &self,
        grants: &Grants,
        ctx: &PathContext,
        fs: &dyn FsView,
    ) -> Result<JudgedGrants, Vec<Refusal>> {
        let (ceiling_domains, ceiling_writes, what) = match &self.ceiling {
            Some(c) => (&c.allowed_domains, &c.allow_write, "mcp.customConfigCeiling"),
            None => (
                &self.network.allowed,
                &self.filesystem.allow_write,
                "the server's own policy (no mcp.customConfigCeiling is set)",
            ),
        };
        let mut refused = Vec::new();
        let mut judged = JudgedGrants::default();
        for (i, entry) in grants.allowed_domains.iter().enumerate() {
            let refuse =
                |reason: String| Refusal { argument: format!("allowed_domains[{i}]"), entry: entry.clone(), reason };
            match DomainPattern::parse(entry, PatternList::Allowed, false) {
                Err(e) => refused.push(refuse(e.0)),
                Ok(p) if !ceiling_domains.iter().any(|c| domain_within(&p, c)) => {
                    refused.push(refuse(format!("is beyond the ceiling ({what})")))
                }
                Ok(p) => judged.domains.push(p),
            }
        }
        for (i, entry) in grants.allowed_write_paths.iter().enumerate() {
            let refuse = |reason: String| Refusal {
                argument: format!("allowed_write_paths[{i}]"),
                entry: entry.clone(),
                reason,
            };
            match write_grant(entry, ctx, fs) {
                Err(reason) => refused.push(refuse(reason)),
                Ok(rule) if !ceiling_writes.iter().any(|c| c.covers(&rule.path)) => {
                    refused.push(refuse(format!("is beyond the ceiling ({what})")))
                }
                Ok(rule) => judged.writes.push(rule),
            }
        }
        if refused.is_empty() { Ok(judged) } else { Err(refused) }
    }

    /// The policy of one run: this one, plus `workspace` as a writable root,
    /// plus the judged grants, added as they were judged (nothing is
    /// resolved again). `others` hold the workspaces of every other run
    /// (concurrent calls, other servers of the same user): unreadable, but
    /// for this run's own.
    pub fn for_run(&self, workspace: &Path, others: &[&Path], grants: &JudgedGrants, fs: &dyn FsView) -> Policy {
        let mut p = self.clone();
        let ws = PathRule::literal(workspace, fs);
        for o in others {
            p.deny_read(o, fs);
        }
        p.settings.filesystem.allow_read.push(PathEntry::Literal(ws.source.clone()));
        p.filesystem.allow_read.push(ws.clone());
        for rule in std::iter::once(ws).chain(grants.writes.iter().cloned()) {
            p.settings.filesystem.allow_write.push(PathEntry::Literal(rule.source.clone()));
            p.filesystem.allow_write.push(rule);
        }
        for d in &grants.domains {
            p.settings.network.allowed_domains.push(d.source.clone());
            p.network.allowed.push(d.clone());
        }
        p
    }
}

/// A requested writable path: a literal that exists and is reached without
/// a symlink, so that what is judged is what will be bound.
fn write_grant(entry: &str, ctx: &PathContext, fs: &dyn FsView) -> Result<PathRule, String> {
    if entry.is_empty() {
        return Err("is empty".into());
    }
    if entry.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    if is_glob(entry) {
        return Err("is a pattern; a grant names one existing directory or file".into());
    }
    let abs = absolutize(entry, ctx);
    match fs.canonicalize(&abs) {
        None => Err(format!("does not exist ({}); create it first, or grant a directory that exists", abs.display())),
        Some(real) if real != abs => {
            Err(format!("goes through a symlink ({} is {}); grant the real path", abs.display(), real.display()))
        }
        Some(_) => Ok(PathRule::literal(&abs, fs)),
    }
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
    use crate::{RealFs, from_text};

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

    /// A real tree: `data/` with `sub/`, a symlink `data/link -> /`.
    fn tree() -> (tempfile::TempDir, PathContext) {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(base.join("data/sub")).unwrap();
        std::os::unix::fs::symlink("/", base.join("data/link")).unwrap();
        let ctx = PathContext { cwd: base.clone(), home: base };
        (dir, ctx)
    }

    fn policy(text: &str, ctx: &PathContext) -> Policy {
        from_text(Some(text), None, ctx, &RealFs).unwrap()
    }

    #[test]
    fn refusals_name_each_entry() {
        let (_dir, ctx) = tree();
        let text = r#"{"mcp": {"customConfigCeiling": {"allowedDomains": ["*.example.com"], "allowWrite": ["data"]}}}"#;
        let p = policy(text, &ctx);
        let ok =
            Grants { allowed_domains: vec!["api.example.com".into()], allowed_write_paths: vec!["data/sub".into()] };
        let judged = p.judge_grants(&ok, &ctx, &RealFs).unwrap();
        assert_eq!(judged.writes[0].path, ctx.cwd.join("data/sub"));
        let bad = Grants {
            allowed_domains: vec!["api.example.com".into(), "evil.com".into(), "*.com".into()],
            allowed_write_paths: vec!["/etc".into(), "data/link".into(), "data/missing".into(), "data/*".into()],
        };
        let r = p.judge_grants(&bad, &ctx, &RealFs).unwrap_err();
        let args: Vec<_> = r.iter().map(|r| r.argument.as_str()).collect();
        assert_eq!(
            args,
            [
                "allowed_domains[1]",
                "allowed_domains[2]",
                "allowed_write_paths[0]",
                "allowed_write_paths[1]",
                "allowed_write_paths[2]",
                "allowed_write_paths[3]"
            ]
        );
        assert!(r[3].reason.contains("symlink"), "{}", r[3]);
        assert!(r[4].reason.contains("does not exist"), "{}", r[4]);
        assert!(r[5].reason.contains("pattern"), "{}", r[5]);
    }

    #[test]
    fn default_ceiling_is_the_policy() {
        let (_dir, ctx) = tree();
        let p =
            policy(r#"{"network": {"allowedDomains": ["pypi.org"]}, "filesystem": {"allowWrite": ["data"]}}"#, &ctx);
        let ok = Grants { allowed_domains: vec!["pypi.org".into()], allowed_write_paths: vec!["data/sub".into()] };
        assert!(p.judge_grants(&ok, &ctx, &RealFs).is_ok());
        let bad = Grants { allowed_domains: vec!["example.org".into()], allowed_write_paths: vec![] };
        assert_eq!(p.judge_grants(&bad, &ctx, &RealFs).unwrap_err().len(), 1);
        // The permissive preset's "*" allows every domain, so every domain is within it.
        let any = from_text(None, Some(crate::Preset::Permissive), &ctx, &RealFs).unwrap();
        assert!(any.judge_grants(&bad, &ctx, &RealFs).is_ok());
    }

    #[test]
    fn a_run_gets_the_rules_as_judged() {
        let (_dir, ctx) = tree();
        let p = policy(
            r#"{"mcp": {"customConfigCeiling": {"allowedDomains": ["pypi.org"], "allowWrite": ["data"]}}}"#,
            &ctx,
        );
        let g = Grants { allowed_domains: vec!["pypi.org".into()], allowed_write_paths: vec!["data/sub".into()] };
        let judged = p.judge_grants(&g, &ctx, &RealFs).unwrap();
        // The judged directory becomes a symlink to / before the run starts.
        let sub = ctx.cwd.join("data/sub");
        std::fs::remove_dir(&sub).unwrap();
        std::os::unix::fs::symlink("/", &sub).unwrap();
        let run = p.for_run(&ctx.cwd.join("ws/run-1"), &[&ctx.cwd.join("ws")], &judged, &RealFs);
        assert!(run.decide_path(&sub.join("x"), crate::FsOp::Write).is_allowed());
        assert!(!run.decide_path(Path::new("/etc/x"), crate::FsOp::Write).is_allowed(), "not re-resolved to /");
        assert!(run.decide_host("pypi.org", 443).is_allowed());
        assert!(!p.decide_host("pypi.org", 443).is_allowed(), "the server's policy is unchanged");
        let read = |path: &str| run.decide_path(&ctx.cwd.join(path), crate::FsOp::Read).is_allowed();
        assert!(read("ws/run-1/main.py") && !read("ws/run-2/main.py"), "only its own workspace");
        assert!(run.decide_path(&ctx.cwd.join("ws/run-1/out"), crate::FsOp::Write).is_allowed());
    }
}
